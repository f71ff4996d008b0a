//! Accounts, device sessions and tokens.

use serde::{Deserialize, Serialize};

use crate::{DeviceId, UserId};

/// `POST /v1/accounts`: create an account and sign its first device in.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    pub user_id: UserId,
    pub password: String,
    /// A name the user sees in their device list ("Laptop").
    #[serde(default)]
    pub device_name: Option<String>,
}

/// `POST /v1/sessions`: sign a new device in, or with `device_id` sign an existing device of the
/// account in again (a device restored from a backup file).
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub user_id: UserId,
    pub password: String,
    #[serde(default)]
    pub device_name: Option<String>,
    /// Sign this existing device in again instead of creating one: it gets a new refresh token,
    /// every earlier token of the device stops working, and its unclaimed one-time keys are
    /// deleted (the restored device may not hold their private keys); its identity keys,
    /// fallback key and inbox stay. `404 not_found` when the account has no such device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<DeviceId>,
}

/// `POST /v1/sessions/refresh`: trade a refresh token for a new pair. The old refresh token stops
/// working; presenting it again revokes the device's tokens (it was stolen or replayed).
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// `POST /v1/sessions/external`: sign a new device in with a JWT from the integrator's own
/// backend (configured on the server). The account is created on first use and has no password.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ExternalLoginRequest {
    /// An EdDSA JWT with `iss` = the configured issuer, `sub` = the user id, and `exp`.
    pub token: String,
    #[serde(default)]
    pub device_name: Option<String>,
}

/// `DELETE /v1/devices/{device_id}`: remove one of the caller's other devices; needs the password.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeleteDeviceRequest {
    pub password: String,
}

/// `PUT /v1/account/password`: change the account's password. The caller proves it knows the
/// current one; the new one follows the rules of registration. Every device stays signed in.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    pub new_password: String,
}

/// Tokens for one signed-in device.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Session {
    pub user_id: UserId,
    pub device_id: DeviceId,
    /// A JWT (EdDSA) to send as `Authorization: Bearer ...`.
    pub access_token: String,
    /// Seconds until `access_token` expires.
    pub expires_in: u64,
    /// Opaque, single use: trade it at `/v1/sessions/refresh`.
    pub refresh_token: String,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("user_id", &self.user_id)
            .field("device_id", &self.device_id)
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ChangePasswordRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangePasswordRequest").finish_non_exhaustive()
    }
}

/// One of a user's devices, as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceInfo {
    pub device_id: DeviceId,
    #[serde(default)]
    pub name: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub created_ts: u64,
    /// Whether the device has published its identity keys.
    pub has_keys: bool,
}

/// `GET /v1/devices`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceList {
    pub devices: Vec<DeviceInfo>,
}

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer.
    pub iss: String,
    /// The user id.
    pub sub: String,
    /// The device id.
    pub dev: String,
    /// Issued at, seconds since the Unix epoch.
    pub iat: u64,
    /// Expires at, seconds since the Unix epoch.
    pub exp: u64,
}

/// One public key of a JWKS (RFC 7517, OKP keys of RFC 8037).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Jwk {
    pub kty: String,
    pub crv: String,
    /// The public key, base64url without padding.
    pub x: String,
    pub kid: String,
    pub alg: String,
    #[serde(rename = "use")]
    pub use_: String,
}

/// `GET /v1/jwks.json`: the keys that sign access tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_password_wire_snapshot() {
        let req = ChangePasswordRequest { current_password: "old".into(), new_password: "new".into() };
        assert_eq!(serde_json::to_string(&req).unwrap(), r#"{"current_password":"old","new_password":"new"}"#);
        assert!(format!("{req:?}").find("old").is_none(), "passwords never show in Debug");
        let unknown = r#"{"current_password":"a","new_password":"b","sign_out":true}"#;
        assert!(serde_json::from_str::<ChangePasswordRequest>(unknown).is_err());
    }
}
