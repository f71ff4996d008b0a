//! Profile keys. Each user has one random key (32 bytes) that their devices share and send,
//! end-to-end encrypted, to the people they talk with. It seals two things under
//! XChaCha20-Poly1305, each bound by its associated data to what it is and whose:
//! - the user's profile (display name and picture), which the server keeps as ciphertext
//!   (see [`seal_profile`]);
//! - their typing notices, which the server relays without storing (see [`seal_notice`]).
//!
//! Whoever holds the key can read both, as the contacts it was given to should; the server,
//! which never sees it, reads neither, and cannot move a sealed profile or notice to another
//! user or conversation (the associated data would not match).

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use sotto_proto::UserId;
use zeroize::Zeroizing;

use super::CryptoError;

const NONCE_BYTES: usize = 24;

/// What a sealed profile holds.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileCard {
    /// Grows with every change; a card older than one already seen is refused (a server that
    /// serves an old one does not roll a profile back).
    pub version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A JPEG picture (unpadded base64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar: Option<String>,
}

impl std::fmt::Debug for ProfileCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProfileCard")
            .field("version", &self.version)
            .field("name", &self.name.is_some())
            .field("avatar", &self.avatar.is_some())
            .finish()
    }
}

/// A new profile key (unpadded base64 of 32 random bytes).
pub fn new_profile_key() -> Result<Zeroizing<String>, CryptoError> {
    let mut key = Zeroizing::new([0u8; 32]);
    getrandom::fill(key.as_mut())?;
    Ok(Zeroizing::new(vodozemac::base64_encode(*key)))
}

/// Whether `key` is a profile key (32 bytes of base64).
pub fn is_profile_key(key: &str) -> bool {
    cipher(key).is_some()
}

fn cipher(key: &str) -> Option<XChaCha20Poly1305> {
    let bytes = Zeroizing::new(vodozemac::base64_decode(key).ok()?);
    if bytes.len() != 32 {
        return None;
    }
    XChaCha20Poly1305::new_from_slice(&bytes).ok()
}

fn seal(key: &str, aad: &[u8], plain: &[u8], what: &'static str) -> Result<String, CryptoError> {
    let cipher = cipher(key).ok_or(CryptoError::Seal(what))?;
    let mut nonce = [0u8; NONCE_BYTES];
    getrandom::fill(&mut nonce)?;
    let ciphertext =
        cipher.encrypt(&XNonce::from(nonce), Payload { msg: plain, aad }).map_err(|_| CryptoError::Seal(what))?;
    let mut sealed = nonce.to_vec();
    sealed.extend_from_slice(&ciphertext);
    Ok(vodozemac::base64_encode(sealed))
}

fn open(key: &str, aad: &[u8], sealed: &str) -> Option<Zeroizing<Vec<u8>>> {
    let data = vodozemac::base64_decode(sealed).ok()?;
    let (nonce, ciphertext) = data.split_at_checked(NONCE_BYTES)?;
    let nonce: [u8; NONCE_BYTES] = nonce.try_into().ok()?;
    cipher(key)?.decrypt(&XNonce::from(nonce), Payload { msg: ciphertext, aad }).ok().map(Zeroizing::new)
}

fn profile_aad(user: &UserId) -> Vec<u8> {
    format!("sotto-profile-v1\n{user}").into_bytes()
}

fn notice_aad(from: &UserId, conversation: &str) -> Vec<u8> {
    format!("sotto-notice-v1\n{from}\n{conversation}").into_bytes()
}

/// Seal `user`'s profile card with their profile key.
pub fn seal_profile(key: &str, user: &UserId, card: &ProfileCard) -> Result<String, CryptoError> {
    let plain = Zeroizing::new(serde_json::to_vec(card).map_err(|_| CryptoError::Seal("a profile"))?);
    seal(key, &profile_aad(user), &plain, "a profile")
}

/// `user`'s profile card, if `key` opens `sealed` as theirs.
pub fn open_profile(key: &str, user: &UserId, sealed: &str) -> Option<ProfileCard> {
    let plain = open(key, &profile_aad(user), sealed)?;
    serde_json::from_slice(&plain).ok()
}

/// Seal a short-lived notice (typing) from `from` in `conversation` (the conversation as the
/// recipients name it: the group's id, or for one to one the recipient's user id).
pub fn seal_notice(key: &str, from: &UserId, conversation: &str, body: &[u8]) -> Result<String, CryptoError> {
    seal(key, &notice_aad(from, conversation), body, "a notice")
}

/// A notice's body, if `key` (the sender's profile key) opens it for this sender and conversation.
pub fn open_notice(key: &str, from: &UserId, conversation: &str, sealed: &str) -> Option<Zeroizing<Vec<u8>>> {
    open(key, &notice_aad(from, conversation), sealed)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_profile_opens_only_with_its_key_and_user() {
        let alice = UserId::parse("alice").unwrap();
        let key = new_profile_key().unwrap();
        let card = ProfileCard { version: 7, name: Some("Alice 🌿".into()), avatar: Some("AAAA".into()) };
        let sealed = seal_profile(&key, &alice, &card).unwrap();
        assert!(!sealed.contains("Alice"));
        assert_eq!(open_profile(&key, &alice, &sealed), Some(card.clone()));
        assert_eq!(open_profile(&new_profile_key().unwrap(), &alice, &sealed), None);
        assert_eq!(open_profile(&key, &UserId::parse("bob").unwrap(), &sealed), None, "moved to another user");
        let mut tampered = vodozemac::base64_decode(&sealed).unwrap();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert_eq!(open_profile(&key, &alice, &vodozemac::base64_encode(tampered)), None);
        assert_eq!(open_profile(&key, &alice, "not base64!"), None);
        assert_eq!(open_profile(&key, &alice, "AAAA"), None);
        assert_ne!(seal_profile(&key, &alice, &card).unwrap(), sealed, "a fresh nonce each time");
        assert!(!is_profile_key("AAAA") && is_profile_key(&key));
    }

    #[test]
    fn a_notice_is_bound_to_its_sender_and_conversation() {
        let (alice, bob) = (UserId::parse("alice").unwrap(), UserId::parse("bob").unwrap());
        let key = new_profile_key().unwrap();
        let sealed = seal_notice(&key, &alice, "g1", b"{\"typing\":true}").unwrap();
        assert_eq!(open_notice(&key, &alice, "g1", &sealed).unwrap().as_slice(), b"{\"typing\":true}");
        assert!(open_notice(&key, &alice, "g2", &sealed).is_none());
        assert!(open_notice(&key, &bob, "g1", &sealed).is_none());
        // A profile's key does not open a notice as a profile, nor the reverse.
        assert!(open_profile(&key, &alice, &sealed).is_none());
        let card = seal_profile(&key, &alice, &ProfileCard::default()).unwrap();
        assert!(open_notice(&key, &alice, "g1", &card).is_none());
    }
}
