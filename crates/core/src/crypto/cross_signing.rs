//! Cross-signing: the user's master key, the self-signing key it signs (which confirms the user's
//! devices) and the user-signing key (which will sign verified contacts' master keys). The
//! private keys live only in the profile's encrypted database (and, encrypted, in backups); the
//! server gets the public [`UserIdentity`] and [`DeviceConfirmation`]s. Every check here goes back
//! to a master key the caller pinned: a server that swaps keys produces signatures that do not
//! verify, or an identity with another master key (which the caller shows as a key change).

use sotto_proto::{DeviceConfirmation, DeviceKeys, UserId, UserIdentity, UserSignature};
use vodozemac::{Ed25519SecretKey, Ed25519Signature};
use zeroize::Zeroizing;

use super::{CryptoError, ed25519_public_key};
use crate::store::StoredSecrets;

/// This user's private cross-signing keys. Neither `Debug` nor `Clone`: they leave the
/// database only encrypted.
pub struct CrossSigningSecrets {
    master: Ed25519SecretKey,
    self_signing: Ed25519SecretKey,
    user_signing: Ed25519SecretKey,
}

impl CrossSigningSecrets {
    /// A new identity for a user.
    pub fn generate() -> Self {
        Self {
            master: Ed25519SecretKey::new(),
            self_signing: Ed25519SecretKey::new(),
            user_signing: Ed25519SecretKey::new(),
        }
    }

    pub fn from_stored(stored: &StoredSecrets) -> Result<Self, CryptoError> {
        Ok(Self {
            master: secret_key(&stored.master)?,
            self_signing: secret_key(&stored.self_signing)?,
            user_signing: secret_key(&stored.user_signing)?,
        })
    }

    pub fn to_stored(&self) -> StoredSecrets {
        StoredSecrets {
            master: Zeroizing::new(self.master.to_base64()),
            self_signing: Zeroizing::new(self.self_signing.to_base64()),
            user_signing: Zeroizing::new(self.user_signing.to_base64()),
        }
    }

    pub fn master_key(&self) -> String {
        self.master.public_key().to_base64()
    }

    /// The public identity, signed by the master key.
    pub fn identity(&self, user_id: &UserId) -> UserIdentity {
        let mut identity = UserIdentity {
            user_id: user_id.clone(),
            master_key: self.master_key(),
            self_signing_key: self.self_signing.public_key().to_base64(),
            user_signing_key: self.user_signing.public_key().to_base64(),
            signature: String::new(),
        };
        identity.signature = self.master.sign(&identity.signing_bytes()).to_base64();
        identity
    }

    /// Whether these secrets are the private half of `identity`.
    pub fn matches(&self, identity: &UserIdentity) -> bool {
        identity.master_key == self.master_key()
            && identity.self_signing_key == self.self_signing.public_key().to_base64()
            && identity.user_signing_key == self.user_signing.public_key().to_base64()
    }

    /// Confirm a device of this user: the self-signing key's signature over its keys.
    pub fn confirm(&self, keys: &DeviceKeys) -> DeviceConfirmation {
        DeviceConfirmation {
            device_id: keys.device_id.clone(),
            signature: self.self_signing.sign(&DeviceConfirmation::signing_bytes(keys)).to_base64(),
        }
    }
}

impl CrossSigningSecrets {
    /// State that `signer` (this user) verified `target` at `master_key`: the user-signing key's
    /// signature.
    pub fn sign_user(&self, signer: &UserId, target: &UserId, master_key: &str) -> UserSignature {
        let bytes = UserSignature::signing_bytes(signer, target, master_key);
        UserSignature {
            target: target.clone(),
            master_key: master_key.to_owned(),
            signature: self.user_signing.sign(&bytes).to_base64(),
        }
    }
}

/// Whether `signature` is `signer`'s (by the user-signing key of `signer_identity`, as pinned)
/// statement that they verified its target at its master key.
pub fn verify_user_signature(signer_identity: &UserIdentity, signature: &UserSignature) -> bool {
    let bytes = UserSignature::signing_bytes(&signer_identity.user_id, &signature.target, &signature.master_key);
    verify(&signer_identity.user_signing_key, &bytes, &signature.signature)
}

/// A private key from its unpadded base64, as [`CrossSigningSecrets::to_stored`] writes it.
/// Never vodozemac's `Ed25519SecretKey::from_base64`, which in 0.11 panics on 44 base64
/// characters without padding; these come from backups, key backups and other devices.
fn secret_key(base64: &str) -> Result<Ed25519SecretKey, CryptoError> {
    let bytes = Zeroizing::new(vodozemac::base64_decode(base64).map_err(|e| CryptoError::CrossSigningKey(e.into()))?);
    let length = bytes.len();
    let key: Zeroizing<[u8; 32]> = Zeroizing::new(bytes.as_slice().try_into().map_err(|_| {
        CryptoError::CrossSigningKey(vodozemac::KeyError::InvalidKeyLength {
            key_type: "Ed25519",
            expected_length: 32,
            length,
        })
    })?);
    Ok(Ed25519SecretKey::from_slice(&key))
}

fn verify(key: &str, message: &[u8], signature: &str) -> bool {
    let (Some(key), Ok(signature)) = (ed25519_public_key(key), Ed25519Signature::from_base64(signature)) else {
        return false;
    };
    key.verify(message, &signature).is_ok()
}

/// Whether `identity` is well-formed and its master key signed its other keys.
pub fn verify_identity(identity: &UserIdentity) -> bool {
    ed25519_public_key(&identity.self_signing_key).is_some()
        && ed25519_public_key(&identity.user_signing_key).is_some()
        && verify(&identity.master_key, &identity.signing_bytes(), &identity.signature)
}

/// Whether `signature` is the self-signing key of `identity` confirming exactly `keys` (the
/// caller has checked `identity` with [`verify_identity`] and against the pinned master key).
pub fn verify_confirmation(identity: &UserIdentity, keys: &DeviceKeys, signature: &str) -> bool {
    keys.user_id == identity.user_id
        && verify(&identity.self_signing_key, &DeviceConfirmation::signing_bytes(keys), signature)
}

#[cfg(test)]
mod tests {
    use sotto_proto::DeviceId;

    use super::*;

    fn device(user: &UserId, id: &str) -> DeviceKeys {
        DeviceKeys {
            user_id: user.clone(),
            device_id: DeviceId::parse(id).unwrap(),
            curve25519: vodozemac::base64_encode([1u8; 32]),
            ed25519: vodozemac::base64_encode([2u8; 32]),
            signature: String::new(),
        }
    }

    #[test]
    fn identities_and_confirmations_verify_back_to_the_master_key() {
        let alice = UserId::parse("alice").unwrap();
        let secrets = CrossSigningSecrets::generate();
        let identity = secrets.identity(&alice);
        assert!(verify_identity(&identity));
        assert!(secrets.matches(&identity));

        let laptop = device(&alice, "LAPTOP");
        let confirmation = secrets.confirm(&laptop);
        assert!(verify_confirmation(&identity, &laptop, &confirmation.signature));

        // Stored and read back, the keys are the same keys.
        let again = CrossSigningSecrets::from_stored(&secrets.to_stored()).unwrap();
        assert_eq!(again.identity(&alice), identity);

        // Another key for the device, another device, another user: no longer confirmed.
        let swapped = DeviceKeys { curve25519: vodozemac::base64_encode([9u8; 32]), ..laptop.clone() };
        assert!(!verify_confirmation(&identity, &swapped, &confirmation.signature));
        assert!(!verify_confirmation(&identity, &device(&alice, "OTHER"), &confirmation.signature));
        let bob = UserId::parse("bob").unwrap();
        assert!(!verify_confirmation(&identity, &device(&bob, "LAPTOP"), &confirmation.signature));

        // A server that swaps in its own self-signing key breaks the master key's signature.
        let forged = CrossSigningSecrets::generate();
        let tampered = UserIdentity { self_signing_key: forged.identity(&alice).self_signing_key, ..identity.clone() };
        assert!(!verify_identity(&tampered));
        assert!(!secrets.matches(&forged.identity(&alice)));
        // A user signature checks out with the signer's user-signing key only, for that target
        // and master key.
        let bob = UserId::parse("bob").unwrap();
        let signed = secrets.sign_user(&alice, &bob, "bob's master");
        assert!(verify_user_signature(&identity, &signed));
        assert!(!verify_user_signature(&identity, &UserSignature { master_key: "another".into(), ..signed.clone() }));
        assert!(!verify_user_signature(&forged.identity(&alice), &signed));
        // Garbage is refused, not a panic.
        assert!(!verify_identity(&UserIdentity { master_key: "not base64!".into(), ..identity.clone() }));
        assert!(!verify_confirmation(&identity, &laptop, "not a signature"));
    }

    /// 44 base64 characters without padding are 33 bytes, which vodozemac 0.11's
    /// `Ed25519PublicKey::from_base64` and `Ed25519SecretKey::from_base64` copy into 32 and
    /// panic on. Found by the `backup` fuzz target, in a backup's `identity` record; the same
    /// value could come from the directory or in a group change.
    #[test]
    fn a_key_of_33_bytes_is_refused_not_a_panic() {
        let alice = UserId::parse("alice").unwrap();
        let secrets = CrossSigningSecrets::generate();
        let identity = secrets.identity(&alice);
        let long = vodozemac::base64_encode([7u8; 33]);
        assert_eq!(long.len(), 44);
        let short = vodozemac::base64_encode([7u8; 31]);
        let padded_short = format!("{short}==");
        for key in [&long, &short, &padded_short] {
            assert!(!verify_identity(&UserIdentity { master_key: key.clone(), ..identity.clone() }));
            assert!(!verify_identity(&UserIdentity { self_signing_key: key.clone(), ..identity.clone() }));
            assert!(!verify_identity(&UserIdentity { user_signing_key: key.clone(), ..identity.clone() }));
            let stored = secrets.to_stored();
            let bad = StoredSecrets { self_signing: Zeroizing::new(key.clone()), ..stored };
            assert!(matches!(CrossSigningSecrets::from_stored(&bad), Err(CryptoError::CrossSigningKey(_))));
        }
        let keys = device(&alice, "LAPTOP");
        let confirmation = secrets.confirm(&keys);
        assert!(!verify_confirmation(
            &UserIdentity { self_signing_key: long, ..identity },
            &keys,
            &confirmation.signature
        ));
    }
}
