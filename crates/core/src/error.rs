//! The engine's one error type. Every variant has a stable [`Error::code`] that the app and the
//! CLI branch on; the `Display` text is a sentence for people and never holds a secret, a message
//! body or a token.

use sotto_proto::{DeviceMismatch, ErrorCode};

use crate::backup::BackupError;
use crate::crypto::CryptoError;
use crate::network::{NetworkError, ProtocolError};
use crate::profile::ProfileError;
use crate::store::StoreError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The OS keychain cannot be reached (no Secret Service, no session bus, unsupported platform).
    /// The profile is untouched; unlock it with its passphrase if it has one.
    #[error("The system keychain is not available ({0}). Nothing was changed; unlock with the profile's passphrase.")]
    KeychainUnavailable(String),
    /// The keychain answered but refused access (locked collection, denied prompt).
    #[error("The system keychain is locked or refused access. Unlock it and try again; nothing was changed.")]
    KeychainLocked,
    /// The keychain has no key for this profile, and the profile has no passphrase fallback.
    #[error("The system keychain has no key for this profile. Nothing was changed or deleted.")]
    KeyMissing,
    /// The profile is protected by a passphrase and none (or a wrong one) was given.
    #[error("The passphrase does not unlock this profile.")]
    WrongPassphrase,
    #[error("This profile is locked with a passphrase; give it to unlock.")]
    PassphraseRequired,
    /// The profile key does not open the database (wrong key, or not a Sotto database).
    #[error("The profile's database does not open with its key; it was left untouched.")]
    DatabaseKey,
    /// Another process (another `sotto` command, or the app) has the profile open.
    #[error("The profile in {0} is open in another Sotto process; close it first.")]
    ProfileInUse(String),
    #[error("There is no Sotto profile in {0}.")]
    NoProfile(String),
    #[error("A profile already exists in {0}; it was left untouched.")]
    ProfileExists(String),
    #[error("This profile was written by a newer version of Sotto (schema {found}, this version knows {known}).")]
    ProfileTooNew { found: i64, known: i64 },
    /// A value in the profile's database does not read back (which table and column, and why).
    #[error("The profile's data is damaged: {0}")]
    Store(#[from] StoreError),
    /// The profile's own files, key or recorded identity are damaged.
    #[error("The profile's data is damaged: {0}")]
    Profile(#[from] ProfileError),
    /// A value could not be written as JSON (a map with keys that are not text, say): a bug,
    /// never expected. `what` says what was being written.
    #[error("The profile's data is damaged: {what} could not be encoded")]
    Encode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// A thread panicked while it held the engine's state: the state may be half-changed.
    #[error("The profile's data is damaged: an earlier operation failed midway; restart the app")]
    Poisoned,
    #[error("Local storage failed: {0}")]
    Storage(#[from] rusqlite::Error),
    #[error("File access failed: {0}")]
    Io(#[from] std::io::Error),
    /// The server could not be reached or the connection broke; sends stay queued.
    #[error("The server cannot be reached: {0}")]
    Offline(#[source] NetworkError),
    /// What was given as a server address is not one (see [`crate::ServerUrl::parse`]).
    #[error("'{0}' is not a server address.")]
    InvalidUrl(String),
    /// The address answers, but not as a Sotto server.
    #[error("{0} answers, but it is not a Sotto server.")]
    NotSotto(String),
    /// The profile was to move to another address of its installation, but that address is
    /// another installation: it does not know this device.
    #[error("{0} is another Sotto installation: it does not know this device. The profile still uses its old address.")]
    OtherInstallation(String),
    /// The server's certificate is not signed by an authority this computer trusts (a server
    /// run on someone's own computer, with a self-signed one). Nothing was sent. The person may
    /// trust it after comparing `fingerprint` with the one its owner sees ([`crate::tls`]).
    #[error(
        "{server} presents a certificate that no authority this computer trusts has signed. If someone runs this server on their own computer, compare its fingerprint with the one their Sotto shows before you trust it: {fingerprint}"
    )]
    UntrustedCertificate { server: String, fingerprint: crate::Fingerprint },
    /// The server presents another certificate than the one trusted when this profile first
    /// connected. Nothing was sent. It may have been replaced, or someone is in between.
    #[error(
        "{server} presents another certificate than the one you trusted, so Sotto did not connect. If its owner replaced it, compare the new fingerprint with theirs before you trust it; otherwise someone may be intercepting the connection. Trusted: {expected}. Presented: {presented}"
    )]
    CertificateChanged { server: String, expected: crate::Fingerprint, presented: crate::Fingerprint },
    /// An authority signed the server's certificate, but it is not valid for this connection.
    #[error("Sotto did not connect to {server}: {reason}.")]
    InvalidCertificate { server: String, reason: &'static str },
    /// A file received does not decrypt or check out (changed, cut short, or not the size or
    /// checksum its message gives). Nothing was written in its place.
    #[error("The file could not be opened: {0}. Nothing was saved.")]
    FileDamaged(crate::attachment::AttachmentError),
    /// The server answered with an error.
    #[error("{message}")]
    Server {
        status: u16,
        code: ErrorCode,
        message: String,
        devices: Option<DeviceMismatch>,
        /// With `invitation_required`: who must be invited instead.
        users: Option<Vec<sotto_proto::UserId>>,
    },
    /// The server's answer was not what the protocol says.
    #[error("The server sent an answer this client does not understand: {0}")]
    Protocol(#[source] ProtocolError),
    #[error("{0}")]
    InvalidInput(String),
    #[error("No user {0} on this server.")]
    UnknownUser(String),
    #[error("{0} has no device that can receive encrypted messages yet.")]
    NoDevices(String),
    #[error("You are not a member of this group.")]
    NotMember,
    #[error("You have no invitation to this group (it was withdrawn, or answered already).")]
    NotInvited,
    /// A group change this user's role does not allow (the words say which role it takes).
    #[error("{0}")]
    NotAdmin(String),
    #[error("Encryption failed: {0}")]
    Crypto(#[from] CryptoError),
    /// A send was retried against the server's current devices or members several times, and
    /// they changed each time. Nothing was sent; sending again later works.
    #[error("{0} kept changing while sending; nothing was sent, try again.")]
    KeptChanging(&'static str),
    #[error("The profile is signed out; sign in again.")]
    SignedOut,
    /// An export's target exists and is not an empty folder; nothing was written to it.
    #[error("{0} already exists and is not an empty folder; nothing was written. Choose a new or empty folder.")]
    TargetExists(String),
    #[error("There is no conversation {0} on this device.")]
    UnknownConversation(String),
    /// The backup passphrase does not open the backup file.
    #[error("The passphrase does not open this backup file.")]
    BackupPassphrase,
    /// The file is not a Sotto backup (not an age file with a passphrase, or another age file).
    #[error("This file is not a Sotto backup.")]
    NotABackup,
    /// The backup file is damaged or incomplete (cut short, altered, or not valid inside).
    #[error("The backup file is damaged or incomplete: {0}. Nothing was restored.")]
    Backup(#[from] BackupError),
    #[error(
        "This backup was written by a newer version of Sotto (format {found}, this version reads {known}); update Sotto to restore it."
    )]
    BackupTooNew { found: u32, known: u32 },
    /// An export refuses to overwrite a file.
    #[error("{0} already exists; choose another file name. Nothing was written.")]
    FileExists(String),
    /// The text given as a recovery key is not one (a typo, missing characters, or another
    /// kind of key): its built-in check failed. Nothing was tried or changed.
    #[error("That is not a valid recovery key: check it for typos (spaces do not matter). Nothing was changed.")]
    RecoveryKeyInvalid,
    /// The recovery key or passphrase is well-formed but does not open the key backup.
    #[error("The recovery key or passphrase does not open this account's key backup. Nothing was changed.")]
    WrongRecoveryKey,
    /// The server holds no key backup for this account.
    #[error("This account has no key backup on the server.")]
    NoKeyBackup,
    /// Enabling key backup would replace a backup made with another recovery key.
    #[error(
        "This account already has a key backup made with another recovery key. Restore from it with that key, or replace it (keys only in the old backup are then lost)."
    )]
    KeyBackupExists,
    /// The key backup on the server was replaced with another recovery key since this device
    /// last wrote it: this device stopped backing up keys.
    #[error(
        "The key backup was replaced using another recovery key; this device stopped backing up keys. Restore with the new recovery key to resume."
    )]
    KeyBackupReplaced,
    #[error("Key backup is not turned on for this device.")]
    KeyBackupNotEnabled,
    /// The key backup does not decrypt with the right key, or is not a key backup.
    #[error("The key backup on the server is damaged: {0}. Nothing was changed.")]
    KeyBackupDamaged(String),
    #[error(
        "The key backup was written by a newer version of Sotto (format {found}, this version reads {known}); update Sotto to restore it."
    )]
    KeyBackupTooNew { found: u32, known: u32 },
    /// The backup would not fit in the server's backup slot.
    #[error("The key backup ({sessions} group keys, {bytes} bytes) is larger than the server's backup slot allows.")]
    KeyBackupTooLarge { bytes: u64, sessions: u64 },
    /// A long operation was stopped by its caller; whatever it was writing was removed and nothing
    /// that existed before was changed.
    #[error("Stopped before it finished; nothing was changed.")]
    Cancelled,
    /// The user has devices, but none they confirmed: nothing could be given to any of them.
    #[error(
        "{0} has not confirmed any of their devices yet, so none of them can read messages. Nothing was sent; try again once they have."
    )]
    NoConfirmedDevice(String),
    /// The contact's identity changed after this person verified them: sending is held until
    /// they accept the new identity (or verify it again).
    #[error(
        "{0}'s identity key changed since you verified them. Nothing was sent: compare safety numbers again, or accept the new key."
    )]
    IdentityChangedHeld(String),
    /// This device does not hold the user's identity keys (it is not confirmed yet), so it
    /// cannot confirm other devices.
    #[error(
        "This device is not confirmed yet, so it cannot confirm others. Confirm it from one of your other devices, or with your recovery key."
    )]
    NotConfirmed,
    /// No running verification with that id (it ended, timed out, or never existed here).
    #[error("That verification is not running any more; start it again.")]
    NoVerification,
    /// The user has no identity (master key) this device could pin yet.
    #[error("{0} has no identity key yet (their app may need an update), so there is nothing to compare or confirm.")]
    NoIdentity(String),
    /// The safety number someone compared is not the current one (keys changed meanwhile).
    #[error("The safety number with {0} changed while you compared it; compare the new one.")]
    SafetyNumberChanged(String),
}

impl Error {
    /// A stable machine-readable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::KeychainUnavailable(_) => ErrorCode::KeychainUnavailable,
            Error::KeychainLocked => ErrorCode::KeychainLocked,
            Error::KeyMissing => ErrorCode::KeyMissing,
            Error::WrongPassphrase => ErrorCode::WrongPassphrase,
            Error::PassphraseRequired => ErrorCode::PassphraseRequired,
            Error::DatabaseKey => ErrorCode::DatabaseKey,
            Error::ProfileInUse(_) => ErrorCode::ProfileInUse,
            Error::NoProfile(_) => ErrorCode::NoProfile,
            Error::ProfileExists(_) => ErrorCode::ProfileExists,
            Error::ProfileTooNew { .. } => ErrorCode::ProfileTooNew,
            Error::Store(e) => e.code(),
            Error::Profile(e) => e.code(),
            Error::Encode { .. } | Error::Poisoned => ErrorCode::Corrupt,
            Error::Storage(_) => ErrorCode::Storage,
            Error::Io(_) => ErrorCode::Io,
            Error::Offline(_) => ErrorCode::Offline,
            Error::InvalidUrl(_) => ErrorCode::InvalidUrl,
            Error::NotSotto(_) => ErrorCode::NotSotto,
            Error::OtherInstallation(_) => ErrorCode::OtherInstallation,
            Error::UntrustedCertificate { .. } => ErrorCode::UntrustedCertificate,
            Error::CertificateChanged { .. } => ErrorCode::CertificateChanged,
            Error::InvalidCertificate { .. } => ErrorCode::InvalidCertificate,
            Error::FileDamaged(_) => ErrorCode::FileDamaged,
            Error::Server { code, .. } => *code,
            Error::Protocol(_) => ErrorCode::Protocol,
            Error::InvalidInput(_) => ErrorCode::InvalidInput,
            Error::UnknownUser(_) => ErrorCode::UnknownUser,
            Error::NoDevices(_) => ErrorCode::NoDevices,
            Error::NoIdentity(_) => ErrorCode::NoIdentity,
            Error::NotConfirmed => ErrorCode::NotConfirmed,
            Error::IdentityChangedHeld(_) => ErrorCode::IdentityChangedHeld,
            Error::NoVerification => ErrorCode::NoVerification,
            Error::NoConfirmedDevice(_) => ErrorCode::NoConfirmedDevice,
            Error::NotMember => ErrorCode::NotMember,
            Error::NotInvited => ErrorCode::NotInvited,
            Error::NotAdmin(_) => ErrorCode::NotAdmin,
            Error::Crypto(_) => ErrorCode::Crypto,
            Error::KeptChanging(_) => ErrorCode::Conflict,
            Error::SignedOut => ErrorCode::SignedOut,
            Error::TargetExists(_) => ErrorCode::TargetExists,
            Error::UnknownConversation(_) => ErrorCode::UnknownConversation,
            Error::Cancelled => ErrorCode::Cancelled,
            Error::SafetyNumberChanged(_) => ErrorCode::SafetyNumberChanged,
            Error::BackupPassphrase => ErrorCode::BackupPassphrase,
            Error::NotABackup => ErrorCode::NotABackup,
            Error::Backup(e) => e.code(),
            Error::BackupTooNew { .. } => ErrorCode::BackupTooNew,
            Error::FileExists(_) => ErrorCode::FileExists,
            Error::RecoveryKeyInvalid => ErrorCode::RecoveryKeyInvalid,
            Error::WrongRecoveryKey => ErrorCode::WrongRecoveryKey,
            Error::NoKeyBackup => ErrorCode::NoKeyBackup,
            Error::KeyBackupExists => ErrorCode::KeyBackupExists,
            Error::KeyBackupReplaced => ErrorCode::KeyBackupReplaced,
            Error::KeyBackupNotEnabled => ErrorCode::KeyBackupNotEnabled,
            Error::KeyBackupDamaged(_) => ErrorCode::KeyBackupDamaged,
            Error::KeyBackupTooNew { .. } => ErrorCode::KeyBackupTooNew,
            Error::KeyBackupTooLarge { .. } => ErrorCode::KeyBackupTooLarge,
        }
    }

    /// Whether retrying the same request later may succeed (network trouble, server overload).
    /// A certificate the person has not trusted counts: what was being sent stays queued, never
    /// failed, until they trust it or the trusted one is back.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Offline(_)
            | Error::UntrustedCertificate { .. }
            | Error::CertificateChanged { .. }
            | Error::InvalidCertificate { .. } => true,
            // A full quota (507) stays full until this account's files expire or are deleted:
            // not worth retrying on its own.
            Error::Server { code: ErrorCode::QuotaExceeded, .. } => false,
            Error::Server { status, code, .. } => {
                *status >= 500 || matches!(code, ErrorCode::RateLimited | ErrorCode::ServerBusy)
            }
            _ => false,
        }
    }

    /// A value written as JSON failed to encode.
    pub(crate) fn encode(what: &'static str) -> impl FnOnce(serde_json::Error) -> Self {
        move |source| Error::Encode { what, source }
    }

    pub(crate) fn server_code(&self) -> Option<ErrorCode> {
        match self {
            Error::Server { code, .. } => Some(*code),
            _ => None,
        }
    }
}
