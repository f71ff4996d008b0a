//! The one error shape of the HTTP API: `{code, message}` for every 4xx and 5xx.
//!
//! Clients branch on `code`, never on `message`; `message` is a sentence for people and never
//! contains a secret, a message body or a token.

use serde::{Deserialize, Serialize};

use crate::DeviceAddress;

/// What went wrong, as a stable machine-readable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The body is not valid JSON, has an unknown or missing field, or a field has the wrong
    /// type or a value its type never allows (such as a malformed id).
    InvalidJson,
    /// The body or frame is larger than the route allows.
    PayloadTooLarge,
    /// A path segment, query parameter or well-formed field holds a value that is not allowed
    /// here (a name too long, a key of the wrong length, too many items).
    InvalidInput,
    /// No token, or a token that is malformed, forged or revoked.
    Unauthorized,
    /// The access token has expired; refresh it.
    TokenExpired,
    /// The user id or password is wrong.
    InvalidCredentials,
    /// The caller is authenticated but may not do this.
    Forbidden,
    /// The caller is not a member of the group.
    NotMember,
    /// The caller is a member but not an admin (or not the owner) of the group.
    NotAdmin,
    /// No such route, device, group or backup.
    NotFound,
    /// One or more user ids do not exist on this server.
    UnknownUser,
    /// The user id is taken.
    UserExists,
    /// A signature over uploaded keys does not verify.
    InvalidSignature,
    /// The account has no password (it signs in through an external issuer), so nothing that
    /// needs the password (changing it, a key reset, removing a device) can be done with one.
    NoPassword,
    /// The resource is not in a state that allows this (keys already uploaded, already a member, ...).
    Conflict,
    /// A direct send does not cover exactly the current devices of its recipients; `devices` says
    /// which are missing and which are unknown. Re-query the keys and send again.
    DevicesChanged,
    /// An optimistic-concurrency write was based on an old version.
    StaleVersion,
    /// Too many requests; wait and retry.
    RateLimited,
    /// The method is not allowed on this route.
    MethodNotAllowed,
    /// The request needs `Content-Type: application/json`.
    UnsupportedMediaType,
    /// The server failed; the request may be retried.
    Internal,
    /// A code this client does not know yet (sent by a newer server).
    #[serde(other)]
    Unknown,
}

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
    /// With `devices_changed`: which devices a direct send must add or drop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devices: Option<DeviceMismatch>,
}

/// The difference between the devices a send covered and the recipients' current devices.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceMismatch {
    /// Current devices that got no ciphertext.
    pub missing: Vec<DeviceAddress>,
    /// Ciphertexts addressed to devices that do not exist (any more) or to the sending device.
    pub unknown: Vec<DeviceAddress>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_snapshot() {
        let body = ErrorBody {
            code: ErrorCode::DevicesChanged,
            message: "m".into(),
            devices: Some(DeviceMismatch::default()),
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"code":"devices_changed","message":"m","devices":{"missing":[],"unknown":[]}}"#
        );
        let newer: ErrorBody = serde_json::from_str(r#"{"code":"something_new","message":"x","extra":1}"#).unwrap();
        assert_eq!(newer.code, ErrorCode::Unknown);
    }
}
