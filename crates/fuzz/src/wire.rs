//! Every wire type of `sotto-proto`: arbitrary bytes decode or are refused, never a panic; what
//! decodes encodes again, and that encoding decodes to the same value (the same JSON, for types
//! without `PartialEq`).
//!
//! [`TYPES`] is the list the wire snapshot test pins (`crates/proto/tests/wire.rs`, `COVERED`);
//! a test in `tests/wire.rs` fails when the two differ, and that file's own guard fails when a
//! type declared in `crates/proto/src` is in neither.

use serde::Serialize;
use serde::de::DeserializeOwned;
use sotto_proto::routes::{HistoryQuery, InboxQuery};
use sotto_proto::*;

use crate::Violation;

/// Decode `bytes` as `T`; if it decodes, check that it encodes and reads back the same
/// (`same`: [`same_json`], or [`same_value`] for types with `PartialEq`).
/// `Ok(true)`: it decoded and round-tripped; `Ok(false)`: refused.
pub fn round_trip<T, F>(name: &str, bytes: &[u8], same: F) -> Result<bool, Violation>
where
    T: Serialize + DeserializeOwned,
    F: Fn(&T, &T) -> bool,
{
    let Ok(value) = serde_json::from_slice::<T>(bytes) else { return Ok(false) };
    let json = serde_json::to_vec(&value).map_err(|e| Violation(format!("{name} decoded but does not encode: {e}")))?;
    let back: T = serde_json::from_slice(&json)
        .map_err(|e| Violation(format!("{name} does not decode its own encoding: {e}")))?;
    if !same(&value, &back) {
        return Err(Violation(format!(
            "{name} reads back as another value: {} became {}",
            String::from_utf8_lossy(&json),
            serde_json::to_string(&back).unwrap_or_default()
        )));
    }
    Ok(true)
}

/// The same JSON.
pub fn same_json<T: Serialize>(a: &T, b: &T) -> bool {
    matches!((serde_json::to_value(a), serde_json::to_value(b)), (Ok(a), Ok(b)) if a == b)
}

/// Equal, and the same JSON.
pub fn same_value<T: PartialEq + Serialize>(a: &T, b: &T) -> bool {
    a == b && same_json(a, b)
}

macro_rules! wire_types {
    ($($how:ident $name:ident),* $(,)?) => {
        /// Every wire type, by name (as in the snapshot file names).
        pub const TYPES: &[&str] = &[$(stringify!($name)),*];

        /// Check the round trip of `bytes` as the wire type `name`. `Ok(true)`: it decoded;
        /// `Ok(false)`: refused. `None` for a name that is not a wire type.
        pub fn check(name: &str, bytes: &[u8]) -> Option<Result<bool, Violation>> {
            match name {
                $(stringify!($name) => Some(round_trip::<$name, _>(name, bytes, $how::<$name>)),)*
                _ => None,
            }
        }
    };
}

wire_types!(
    // auth.rs
    same_json RegisterRequest,
    same_json LoginRequest,
    same_json RefreshRequest,
    same_json ExternalLoginRequest,
    same_json DeleteDeviceRequest,
    same_json ChangePasswordRequest,
    same_json Session,
    same_value DeviceInfo,
    same_json DeviceList,
    same_value AccessClaims,
    same_value Jwk,
    same_value Jwks,
    // backup.rs
    same_json Backup,
    same_json PutBackupRequest,
    same_value BackupVersion,
    // profile.rs
    same_json SealedProfile,
    same_json PutProfileRequest,
    // blobs.rs
    same_value CreateBlobRequest,
    same_value CreatedBlob,
    same_value BlobUpload,
    // error.rs
    same_value ErrorCode,
    same_value ErrorBody,
    same_value DeviceMismatch,
    // groups.rs
    same_value Role,
    same_value GroupMember,
    same_value GroupInfo,
    same_json GroupList,
    same_value GroupAction,
    same_value GroupChange,
    same_value SignedGroupChange,
    same_value GroupLogQuery,
    same_json GroupLogPage,
    same_value MembershipChange,
    same_value MembershipEvent,
    // history.rs
    same_value GroupHistoryMessage,
    same_json GroupHistoryPage,
    // ids.rs
    same_value UserId,
    same_value DeviceId,
    same_value BlobId,
    same_value GroupId,
    same_value MessageId,
    same_value KeyId,
    same_value DeviceAddress,
    // identity.rs
    same_value UserIdentity,
    same_value DeviceConfirmation,
    same_json ConfirmDevicesRequest,
    same_json ResetIdentityRequest,
    same_value UserSignature,
    // inbox.rs
    same_value DevicePayload,
    same_json SendDirectRequest,
    same_json SendGroupRequest,
    same_value SendReceipt,
    same_value EntryBody,
    same_value InboxEntry,
    same_json InboxPage,
    same_json AckRequest,
    // keys.rs
    same_value DeviceKeys,
    same_json ResetDeviceKeysRequest,
    same_value SignedKey,
    same_json UploadKeysRequest,
    same_value KeyCounts,
    same_json QueryKeysRequest,
    same_value UserDevices,
    same_json QueryKeysResponse,
    same_json ClaimKeysRequest,
    same_value ClaimedKey,
    same_json ClaimKeysResponse,
    // routes.rs
    same_value InboxQuery,
    same_value HistoryQuery,
    // ws.rs
    same_value EphemeralTarget,
    same_value SocketSend,
    same_value ClientFrame,
    same_value ServerFrame,
);

/// The libFuzzer form: the first byte picks the type, the rest is the JSON.
pub fn check_tagged(input: &[u8]) -> Result<bool, Violation> {
    let Some((&tag, bytes)) = input.split_first() else { return Ok(false) };
    let Some(name) = TYPES.get(usize::from(tag) % TYPES.len()) else { return Ok(false) };
    check(name, bytes).unwrap_or(Ok(false))
}

/// The tag byte [`check_tagged`] reads for `name`.
pub fn tag_of(name: &str) -> Option<u8> {
    TYPES.iter().position(|t| *t == name).and_then(|i| u8::try_from(i).ok())
}
