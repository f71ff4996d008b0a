//! Sealed group names: the creator encrypts the group's name with a fresh key (XChaCha20-Poly1305,
//! the group id as associated data) and puts the sealed name in the signed `create`, so the server
//! stores and serves only ciphertext. The key travels to members' devices with the group's Megolm
//! keys (over Olm), to this user's other devices with their hand-over, and in backups. A key is
//! taken only when it opens the group's sealed name, so a wrong one changes nothing.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sotto_proto::{GroupId, SEALED_NAME_PREFIX};
use zeroize::Zeroizing;

use super::CryptoError;

const NONCE_BYTES: usize = 24;

fn associated_data(group: &GroupId) -> Vec<u8> {
    format!("sotto-group-name-v1\n{group}").into_bytes()
}

/// A new name key (unpadded base64 of 32 random bytes).
pub fn new_name_key() -> Result<Zeroizing<String>, CryptoError> {
    let mut key = Zeroizing::new([0u8; 32]);
    getrandom::fill(key.as_mut())?;
    Ok(Zeroizing::new(vodozemac::base64_encode(*key)))
}

fn cipher(key: &str) -> Option<XChaCha20Poly1305> {
    let bytes = Zeroizing::new(vodozemac::base64_decode(key).ok()?);
    XChaCha20Poly1305::new_from_slice(&bytes).ok()
}

/// Seal `name` for `group` with `key`.
pub fn seal_name(key: &str, group: &GroupId, name: &str) -> Result<String, CryptoError> {
    let cipher = cipher(key).ok_or(CryptoError::Seal("a group name (the key is not 32 bytes)"))?;
    let mut nonce = [0u8; NONCE_BYTES];
    getrandom::fill(&mut nonce)?;
    let aad = associated_data(group);
    let ciphertext = cipher
        .encrypt(&XNonce::from(nonce), Payload { msg: name.as_bytes(), aad: &aad })
        .map_err(|_| CryptoError::Seal("a group name"))?;
    let mut sealed = nonce.to_vec();
    sealed.extend_from_slice(&ciphertext);
    Ok(format!("{SEALED_NAME_PREFIX}{}", vodozemac::base64_encode(sealed)))
}

/// The name sealed in `sealed`, if `key` opens it (for `group`).
pub fn open_name(key: &str, group: &GroupId, sealed: &str) -> Option<String> {
    let data = vodozemac::base64_decode(sealed.strip_prefix(SEALED_NAME_PREFIX)?).ok()?;
    let (nonce, ciphertext) = data.split_at_checked(NONCE_BYTES)?;
    let nonce: [u8; NONCE_BYTES] = nonce.try_into().ok()?;
    let aad = associated_data(group);
    let plain = cipher(key)?.decrypt(&XNonce::from(nonce), Payload { msg: ciphertext, aad: &aad }).ok()?;
    String::from_utf8(plain).ok()
}

#[cfg(test)]
mod tests {
    use sotto_proto::is_sealed_name as is_sealed;

    use super::*;

    #[test]
    fn a_sealed_name_opens_only_with_its_key_and_group() {
        let group = GroupId::parse("g1").unwrap();
        let key = new_name_key().unwrap();
        let sealed = seal_name(&key, &group, "Climbing 🧗").unwrap();
        assert!(is_sealed(&sealed) && !sealed.contains("Climbing"));
        assert_eq!(open_name(&key, &group, &sealed).as_deref(), Some("Climbing 🧗"));
        assert_eq!(open_name(&new_name_key().unwrap(), &group, &sealed), None);
        assert_eq!(open_name(&key, &GroupId::parse("g2").unwrap(), &sealed), None);
        let mut chars: Vec<char> = sealed.chars().collect();
        let i = chars.len() / 2 + 5;
        chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
        assert_eq!(open_name(&key, &group, &chars.into_iter().collect::<String>()), None);
        assert_eq!(open_name(&key, &group, "sealed:v1:AAAA"), None);
        assert_eq!(open_name("not a key", &group, &sealed), None);
        // Two seals of the same name differ (a fresh nonce each).
        assert_ne!(seal_name(&key, &group, "Climbing 🧗").unwrap(), sealed);
        // The longest name fits the wire limit.
        let longest = seal_name(&key, &group, &"𝄞".repeat(sotto_proto::limits::MAX_GROUP_NAME_CHARS)).unwrap();
        assert!(is_sealed(&longest), "{}", longest.len());
    }
}
