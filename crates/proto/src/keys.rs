//! The key directory: device identity keys, one-time keys and fallback keys.
//!
//! Every uploaded key is signed by the device's Ed25519 identity key over the exact bytes the
//! functions below build, so a server cannot substitute keys without the client noticing, and the
//! server itself refuses uploads whose signature does not verify.

use serde::{Deserialize, Serialize};

use crate::{DeviceAddress, DeviceConfirmation, DeviceId, KeyId, UserId, UserIdentity, UserSignature};

/// A device's long-term public keys, self-signed. Body of `PUT /v1/keys/device`, and what a key
/// query returns per device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeviceKeys {
    pub user_id: UserId,
    pub device_id: DeviceId,
    /// Curve25519 identity key (unpadded base64 of 32 bytes).
    pub curve25519: String,
    /// Ed25519 signing key (unpadded base64 of 32 bytes).
    pub ed25519: String,
    /// Ed25519 signature by `ed25519` over [`DeviceKeys::signing_bytes`] (unpadded base64).
    pub signature: String,
}

impl DeviceKeys {
    /// The exact bytes the device signs.
    pub fn signing_bytes(&self) -> Vec<u8> {
        format!("sotto-device-keys-v1\n{}\n{}\n{}\n{}", self.user_id, self.device_id, self.curve25519, self.ed25519)
            .into_bytes()
    }
}

/// `POST /v1/keys/device/reset`: give the calling device a new identity (its key reset). The
/// account password is checked again; the new keys replace the old ones, and the device's unclaimed
/// one-time keys and its fallback key (signed by the old identity) are deleted in the same write.
/// The device id, its tokens and its inbox stay. Sending the keys already on file again is a
/// success that changes nothing (a retry after a lost answer).
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ResetDeviceKeysRequest {
    pub password: String,
    pub keys: DeviceKeys,
}

impl std::fmt::Debug for ResetDeviceKeysRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResetDeviceKeysRequest").field("keys", &self.keys).finish_non_exhaustive()
    }
}

/// A signed Curve25519 one-time or fallback key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SignedKey {
    pub key_id: KeyId,
    /// Curve25519 public key (unpadded base64 of 32 bytes).
    pub key: String,
    /// Ed25519 signature by the device over [`SignedKey::signing_bytes`].
    pub signature: String,
}

impl SignedKey {
    /// The exact bytes the owning device signs; binding the owner stops a key of one device
    /// being replayed as another's.
    pub fn signing_bytes(&self, owner: &DeviceAddress) -> Vec<u8> {
        format!("sotto-one-time-key-v1\n{}\n{}\n{}\n{}", owner.user_id, owner.device_id, self.key_id, self.key)
            .into_bytes()
    }
}

/// `POST /v1/keys/one-time`: add one-time keys and optionally replace the fallback key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UploadKeysRequest {
    #[serde(default)]
    pub one_time_keys: Vec<SignedKey>,
    #[serde(default)]
    pub fallback_key: Option<SignedKey>,
}

/// How many unclaimed keys the server holds for the calling device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyCounts {
    pub one_time_keys: u64,
    pub has_fallback: bool,
}

/// `POST /v1/keys/query`: the devices of up to 100 users.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct QueryKeysRequest {
    pub user_ids: Vec<UserId>,
}

/// The devices (with published identity keys) of one user, with the user's cross-signing
/// identity and the confirmations of their devices as the server holds them. Clients check both
/// against the master key they pinned; the server cannot make either.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserDevices {
    pub user_id: UserId,
    pub devices: Vec<DeviceKeys>,
    /// `None` until one of the user's devices published it.
    #[serde(default)]
    pub identity: Option<UserIdentity>,
    #[serde(default)]
    pub confirmations: Vec<DeviceConfirmation>,
    /// The asking user's own signature of this user's master key (they verified this user), as
    /// the server holds it.
    #[serde(default)]
    pub verified_by_you: Option<UserSignature>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QueryKeysResponse {
    pub users: Vec<UserDevices>,
    /// Requested ids that are not accounts on this server.
    #[serde(default)]
    pub unknown_users: Vec<UserId>,
}

/// `POST /v1/keys/claim`: one key per device, to start Olm sessions.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ClaimKeysRequest {
    pub devices: Vec<DeviceAddress>,
}

/// A key handed out by a claim. A one-time key is never handed out twice; when a device has none
/// left its fallback key is returned (`fallback: true`), which may be handed out many times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClaimedKey {
    pub user_id: UserId,
    pub device_id: DeviceId,
    pub key: SignedKey,
    pub fallback: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClaimKeysResponse {
    pub keys: Vec<ClaimedKey>,
    /// Devices that do not exist or have neither a one-time nor a fallback key.
    #[serde(default)]
    pub missing: Vec<DeviceAddress>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice_keys() -> DeviceKeys {
        DeviceKeys {
            user_id: UserId::parse("alice").unwrap(),
            device_id: DeviceId::parse("DEV1").unwrap(),
            curve25519: "C".into(),
            ed25519: "E".into(),
            signature: "S".into(),
        }
    }

    #[test]
    fn signing_bytes_are_stable() {
        let keys = alice_keys();
        assert_eq!(keys.signing_bytes(), b"sotto-device-keys-v1\nalice\nDEV1\nC\nE");
        let otk = SignedKey { key_id: KeyId::parse("AAAA").unwrap(), key: "K".into(), signature: "S".into() };
        let owner = DeviceAddress { user_id: keys.user_id.clone(), device_id: keys.device_id.clone() };
        assert_eq!(otk.signing_bytes(&owner), b"sotto-one-time-key-v1\nalice\nDEV1\nAAAA\nK");
    }

    #[test]
    fn reset_request_wire_snapshot() {
        let keys = alice_keys();
        let req = ResetDeviceKeysRequest { password: "secret pw".into(), keys };
        assert_eq!(
            serde_json::to_string(&req).unwrap(),
            r#"{"password":"secret pw","keys":{"user_id":"alice","device_id":"DEV1","curve25519":"C","ed25519":"E","signature":"S"}}"#
        );
        assert!(!format!("{req:?}").contains("secret"), "the password never shows in Debug");
    }
}
