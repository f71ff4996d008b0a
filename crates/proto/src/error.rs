//! The one error shape of the HTTP API: `{code, message}` for every 4xx and 5xx.
//!
//! Clients branch on `code`, never on `message`; `message` is a sentence for people and never
//! contains a secret, a message body or a token.

use serde::{Deserialize, Serialize};

use crate::DeviceAddress;

/// What went wrong, as a stable machine-readable code: the one list of codes for every layer.
///
/// The server sends the first group in `{code, message}` bodies; the client engine and the desktop
/// app add the codes of what can fail on the device (keychain, profile, backups, ...). The same
/// enum reaches the UI (as a TypeScript string union) and the CLI, and each of them words every
/// code exhaustively: adding a variant does not compile until the CLI has a hint for it, and the
/// UI's type check fails until it has a sentence. So this enum is deliberately not
/// `#[non_exhaustive]`; codes from a newer peer arrive as [`ErrorCode::Unknown`].
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, strum::IntoStaticStr, strum::VariantArray,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ErrorCode {
    // What the server answers (and the engine passes through).
    /// The body is not valid JSON, has an unknown or missing field, or a field has the wrong
    /// type or a value its type never allows (such as a malformed id).
    InvalidJson,
    /// The body or frame is larger than the route allows.
    PayloadTooLarge,
    /// A path segment, query parameter or well-formed field holds a value that is not allowed
    /// here (a name too long, a key of the wrong length, too many items). Also the engine's and
    /// the app's code for input they refuse before sending anything.
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
    /// The caller answered an invitation to a group it is not invited to.
    NotInvited,
    /// No such route, device, group, backup or blob (a blob the caller may not read is answered
    /// the same way).
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
    /// A group change adds users who never wrote to its author; `users` lists them. Invite them
    /// instead (they join when they accept).
    InvitationRequired,
    /// Too many requests; wait and retry.
    RateLimited,
    /// The server is too busy to take this request now (its password hashers are all taken, or
    /// it holds as many connections as it may); retry after the time given in `Retry-After`.
    ServerBusy,
    /// The method is not allowed on this route.
    MethodNotAllowed,
    /// The request needs `Content-Type: application/json` (a blob part:
    /// `application/octet-stream`).
    UnsupportedMediaType,
    /// A blob is larger than the server takes for one file (`--max-blob-bytes`).
    BlobTooLarge,
    /// The account's blobs (uploaded and in progress) would pass its storage quota; delete some
    /// or wait until they expire.
    QuotaExceeded,
    /// The blob's upload is not finished: it cannot be downloaded, or completed before every
    /// byte is uploaded.
    UploadIncomplete,
    /// The server's disk is full; nothing of the request was kept. Retry later.
    InsufficientStorage,
    /// The server (or the app itself) failed; the request may be retried. Earlier clients stored
    /// this as `server_error`.
    #[serde(alias = "server_error")]
    Internal,

    // What fails on the device (the client engine).
    /// The OS keychain cannot be reached (no Secret Service, no session bus).
    KeychainUnavailable,
    /// The keychain answered but refused access (locked collection, denied prompt).
    KeychainLocked,
    /// The keychain has no key for this profile, and the profile has no passphrase.
    KeyMissing,
    /// The passphrase does not unlock the profile.
    WrongPassphrase,
    /// The profile is locked with a passphrase and none was given.
    PassphraseRequired,
    /// The profile key does not open the database.
    DatabaseKey,
    /// Another process has the profile open.
    ProfileInUse,
    /// There is no profile where one was expected.
    NoProfile,
    /// A profile already exists where a new one was to be made.
    ProfileExists,
    /// The profile was written by a newer version.
    ProfileTooNew,
    /// The profile's data is damaged.
    Corrupt,
    /// The local database failed (full disk, I/O error).
    Storage,
    /// A local file could not be read or written.
    Io,
    /// The server cannot be reached; sends stay queued.
    Offline,
    /// The server's answer was not what the protocol says.
    Protocol,
    /// The recipient has no device that can receive encrypted messages.
    NoDevices,
    /// The user has no identity (master key) yet.
    NoIdentity,
    /// The recipient has devices, but none they confirmed.
    NoConfirmedDevice,
    /// This device is not confirmed by the user's identity yet.
    NotConfirmed,
    /// A verified contact's identity changed; sending to them is held until accepted.
    IdentityChangedHeld,
    /// No such running verification.
    NoVerification,
    /// Encrypting or decrypting failed.
    Crypto,
    /// A received file does not decrypt or does not match its message (changed or cut short).
    FileDamaged,
    /// This device was signed out (its tokens were revoked).
    SignedOut,
    /// An export's target folder exists and is not empty.
    TargetExists,
    /// No such conversation on this device.
    UnknownConversation,
    /// A long operation was stopped by its caller; nothing was changed.
    Cancelled,
    /// The safety number compared is not the current one.
    SafetyNumberChanged,
    /// The passphrase does not open the backup file.
    BackupPassphrase,
    /// The file is not a Sotto backup.
    NotABackup,
    /// The backup file is damaged or incomplete.
    BackupDamaged,
    /// The backup file was written by a newer version.
    BackupTooNew,
    /// An export refuses to overwrite a file.
    FileExists,
    /// The text given as a recovery key is not one (its check failed).
    RecoveryKeyInvalid,
    /// The recovery key or passphrase does not open the key backup.
    WrongRecoveryKey,
    /// The server holds no key backup for this account.
    NoKeyBackup,
    /// A key backup made with another recovery key exists.
    KeyBackupExists,
    /// The key backup was replaced with another recovery key; this device stopped backing up.
    KeyBackupReplaced,
    /// Key backup is not turned on for this device.
    KeyBackupNotEnabled,
    /// The key backup on the server is damaged.
    KeyBackupDamaged,
    /// The key backup was written by a newer version.
    KeyBackupTooNew,
    /// The key backup would not fit in the server's backup slot.
    KeyBackupTooLarge,
    /// What was given as a server address is not a web address.
    InvalidUrl,
    /// The address answers, but not as a Sotto server.
    NotSotto,
    /// The address is another Sotto installation than the profile's (it does not know this
    /// device), so the profile was not moved there.
    OtherInstallation,
    /// The server's TLS certificate is not vouched for by an authority this computer trusts;
    /// the person may trust it after comparing its fingerprint.
    UntrustedCertificate,
    /// The server presents another certificate than the one trusted on first connect.
    CertificateChanged,
    /// The server's certificate is signed, but not valid here (expired, another name).
    InvalidCertificate,

    // What only the desktop app reports.
    /// An account is already open in the app.
    AlreadySignedIn,
    /// No account is open in the app.
    NotSignedIn,
    /// An unlock was asked for while no profile is locked.
    NotLocked,
    /// A path the app was given cannot be used.
    InvalidPath,
    /// The server inside the app could not start.
    LocalServer,
    /// The app's settings could not be read or saved.
    Settings,
    /// An update's signature does not verify with the release key (or does not match the
    /// version announced): it was not installed.
    UpdateRefused,
    /// Checking for, downloading or installing an update failed.
    UpdateFailed,

    /// A code this client does not know yet (sent by a newer server, or stored by a newer
    /// version).
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// The code as it is on the wire (`"devices_changed"`).
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The code a string names, as the wire reads it: an unknown string is [`ErrorCode::Unknown`].
    /// For codes stored as text (a failed message's reason).
    pub fn parse(code: &str) -> ErrorCode {
        use serde::de::IntoDeserializer;
        let text: serde::de::value::StrDeserializer<'_, serde::de::value::Error> = code.into_deserializer();
        ErrorCode::deserialize(text).unwrap_or(ErrorCode::Unknown)
    }

    /// Every code, in declaration order.
    pub const ALL: &[ErrorCode] = <ErrorCode as strum::VariantArray>::VARIANTS;
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
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
    /// With `invitation_required`: the users who must be invited instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<Vec<crate::UserId>>,
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
            users: None,
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"code":"devices_changed","message":"m","devices":{"missing":[],"unknown":[]}}"#
        );
        let newer: ErrorBody = serde_json::from_str(r#"{"code":"something_new","message":"x","extra":1}"#).unwrap();
        assert_eq!(newer.code, ErrorCode::Unknown);
    }

    #[test]
    fn every_code_reads_back_and_prints_as_on_the_wire() {
        for &code in ErrorCode::ALL {
            let wire = serde_json::to_string(&code).unwrap();
            assert_eq!(wire, format!("\"{code}\""), "Display and serde agree on {code:?}");
            assert_eq!(ErrorCode::parse(code.as_str()), code);
            assert_eq!(serde_json::from_str::<ErrorCode>(&wire).unwrap(), code);
        }
        assert_eq!(ErrorCode::parse("server_error"), ErrorCode::Internal, "what earlier clients stored");
        assert_eq!(ErrorCode::parse("from_the_future"), ErrorCode::Unknown);
    }
}
