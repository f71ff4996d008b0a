//! User identities (cross-signing), the shape of Matrix's: every user has a master key (Ed25519),
//! made with the account on their first device. It signs a self-signing key, which signs each of
//! the user's devices (a [`DeviceConfirmation`]), and a user-signing key, which signs the master
//! keys of contacts the user verified.
//!
//! The server stores and serves these keys and signatures but holds none of the private keys, so
//! it cannot make a device count as the user's: clients check every confirmation back to the
//! master key they pinned for that user. Like [`crate::keys`], each signature covers the exact
//! bytes the functions below build.

use serde::{Deserialize, Serialize};

use crate::{DeviceId, DeviceKeys, UserId};

/// A user's public cross-signing keys, the self-signing and user-signing keys signed by the
/// master key. Body of `PUT /v1/keys/identity`, and part of what a key query returns.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UserIdentity {
    pub user_id: UserId,
    /// Ed25519 master key (unpadded base64 of 32 bytes): the user's identity.
    pub master_key: String,
    /// Ed25519 key that signs the user's devices.
    pub self_signing_key: String,
    /// Ed25519 key that signs the master keys of contacts the user verified.
    pub user_signing_key: String,
    /// Ed25519 signature by `master_key` over [`UserIdentity::signing_bytes`].
    pub signature: String,
}

impl UserIdentity {
    /// The exact bytes the master key signs.
    pub fn signing_bytes(&self) -> Vec<u8> {
        format!(
            "sotto-user-identity-v1\n{}\n{}\n{}\n{}",
            self.user_id, self.master_key, self.self_signing_key, self.user_signing_key
        )
        .into_bytes()
    }
}

/// A device confirmed by its user: the self-signing key's signature over the device's identity
/// keys ([`DeviceConfirmation::signing_bytes`]). It binds the keys, so a device whose keys were
/// replaced is no longer confirmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeviceConfirmation {
    pub device_id: DeviceId,
    /// Ed25519 signature by the user's self-signing key (unpadded base64).
    pub signature: String,
}

impl DeviceConfirmation {
    /// The exact bytes the self-signing key signs to confirm `keys`.
    pub fn signing_bytes(keys: &DeviceKeys) -> Vec<u8> {
        format!(
            "sotto-device-confirmation-v1\n{}\n{}\n{}\n{}",
            keys.user_id, keys.device_id, keys.curve25519, keys.ed25519
        )
        .into_bytes()
    }
}

/// `POST /v1/keys/confirmations`: confirmations of the caller's user's devices, made with the
/// user's self-signing key. The server checks each against the identity and the device keys it
/// holds before storing it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ConfirmDevicesRequest {
    pub confirmations: Vec<DeviceConfirmation>,
}

/// A user's statement that they verified another user: their user-signing key's signature over
/// the other user's master key. Published so the signer's other devices learn of the
/// verification; only the signer's own devices are given it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UserSignature {
    /// The verified user.
    pub target: UserId,
    /// Their master key that was verified.
    pub master_key: String,
    /// Ed25519 signature by the signer's user-signing key over
    /// [`UserSignature::signing_bytes`].
    pub signature: String,
}

impl UserSignature {
    /// The exact bytes `signer`'s user-signing key signs.
    pub fn signing_bytes(signer: &UserId, target: &UserId, master_key: &str) -> Vec<u8> {
        format!("sotto-user-signature-v1\n{signer}\n{target}\n{master_key}").into_bytes()
    }
}

/// `POST /v1/keys/identity/reset`: start over with a new identity (every device of the user
/// lost, and no recovery key). The account password is checked again; the new identity replaces
/// the old one and every device confirmation (made with the old self-signing key) is dropped in
/// the same write. Contacts see the master key change.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ResetIdentityRequest {
    pub password: String,
    pub identity: UserIdentity,
}

impl std::fmt::Debug for ResetIdentityRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResetIdentityRequest").field("identity", &self.identity).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signing_bytes_are_stable() {
        let identity = UserIdentity {
            user_id: UserId::parse("alice").unwrap(),
            master_key: "M".into(),
            self_signing_key: "S".into(),
            user_signing_key: "U".into(),
            signature: "X".into(),
        };
        assert_eq!(identity.signing_bytes(), b"sotto-user-identity-v1\nalice\nM\nS\nU");
        let keys = DeviceKeys {
            user_id: identity.user_id.clone(),
            device_id: DeviceId::parse("DEV1").unwrap(),
            curve25519: "C".into(),
            ed25519: "E".into(),
            signature: "Z".into(),
        };
        assert_eq!(DeviceConfirmation::signing_bytes(&keys), b"sotto-device-confirmation-v1\nalice\nDEV1\nC\nE");
        let bob = UserId::parse("bob").unwrap();
        assert_eq!(
            UserSignature::signing_bytes(&identity.user_id, &bob, "M"),
            b"sotto-user-signature-v1\nalice\nbob\nM"
        );
    }
}
