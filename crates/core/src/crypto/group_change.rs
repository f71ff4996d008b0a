//! Signed group changes (see `sotto_proto::groups`): this device signs the changes its user makes
//! to a group, and every change received is checked back to its author's pinned master key —
//! the master key signed the self-signing key, which confirmed the author's device, whose key
//! signed the change. The server can order, withhold or drop changes, but not make one.

use sha2::{Digest, Sha256};
use sotto_proto::{DeviceKeys, GroupChange, SignedGroupChange, UserIdentity};

use super::cross_signing::{verify_confirmation, verify_identity};
use super::{CryptoError, Machine, verify_signature};

/// The hash of a log entry, which the next entry names as `prev`: unpadded base64 of the SHA-256
/// of its signed bytes.
pub fn entry_hash(signed: &SignedGroupChange) -> String {
    vodozemac::base64_encode(Sha256::digest(signed.hash_input()))
}

impl Machine {
    /// Sign `change` with this device's Ed25519 key.
    pub fn sign_group_change(&self, change: &GroupChange) -> Result<SignedGroupChange, CryptoError> {
        let json =
            serde_json::to_string(change).map_err(|source| CryptoError::Encode { what: "a group change", source })?;
        Ok(self.sign_group_change_json(json))
    }

    /// Sign the text of a change as it goes on the wire.
    pub(crate) fn sign_group_change_json(&self, json: String) -> SignedGroupChange {
        let signature = self.account.sign(SignedGroupChange::signing_bytes(&json)).to_base64();
        SignedGroupChange { change: json, signature }
    }
}

/// Whether `signed` (which parsed as `change`) was signed by a device that `author` — whose
/// identity the caller pinned — confirmed.
pub fn verify_change(signed: &SignedGroupChange, change: &GroupChange, author: &UserIdentity) -> bool {
    let device = DeviceKeys {
        user_id: change.author.clone(),
        device_id: change.device_id.clone(),
        curve25519: change.curve25519.clone(),
        ed25519: change.ed25519.clone(),
        signature: String::new(),
    };
    author.user_id == change.author
        && verify_identity(author)
        && verify_confirmation(author, &device, &change.confirmation)
        && verify_signature(&change.ed25519, &SignedGroupChange::signing_bytes(&signed.change), &signed.signature)
}
