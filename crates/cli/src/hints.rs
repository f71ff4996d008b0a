//! What to do next after an error, as a line under it on stderr. The match is exhaustive: a new
//! [`ErrorCode`] does not compile until it is decided here whether a person at a shell can act on
//! it, so no code falls through to silence by accident.

use sotto_core::ErrorCode;

/// The next step for an error a person can fix from the command line; `None` where the error's
/// own sentence already says everything (or nothing on the command line helps).
pub fn hint(code: ErrorCode) -> Option<&'static str> {
    use ErrorCode as C;
    Some(match code {
        C::KeychainUnavailable | C::KeychainLocked => {
            "without a usable keychain, create the profile with --no-keychain --passphrase-stdin (passphrase on the \
             second line of stdin), or open an existing one with --passphrase-stdin"
        }
        C::PassphraseRequired | C::WrongPassphrase => "give the profile's passphrase on stdin with --passphrase-stdin",
        C::KeyMissing | C::DatabaseKey => {
            "if the profile has a passphrase, give it with --passphrase-stdin; the profile was not changed"
        }
        C::ProfileInUse => "another sotto command (such as `listen`) or the app has this profile open; stop it first",
        C::NoProfile => "create one with `sotto --server URL --profile DIR register USER --password-stdin`",
        C::ProfileExists => "choose another --profile directory, or use the profile that is there",
        C::ProfileTooNew | C::BackupTooNew => "install a newer version of sotto to open it",
        C::SignedOut | C::Unauthorized | C::TokenExpired => {
            "this device was signed out; sign in again with `login` into a new profile directory"
        }
        C::Offline => "check the server address and that it is running; queued messages go out with the next `sync`",
        C::InvalidUrl | C::NotSotto => "pass the server's address, such as --server https://chat.example.org",
        C::OtherInstallation => {
            "that address serves another installation; give the address your server runs at now, or leave --server \
             out to keep the old one"
        }
        C::UntrustedCertificate => {
            "compare the fingerprint with the one the server's owner sees; if they match, sign in again with \
             --trust-certificate FINGERPRINT"
        }
        C::CertificateChanged => {
            "do not go on unless the server's owner confirms they replaced the certificate; then trust the new one with \
             `sotto trust-server FINGERPRINT`"
        }
        C::InvalidCertificate => {
            "the server's operator must renew or fix its certificate; check this computer's clock too"
        }
        C::BackupPassphrase => "give the passphrase the backup was made with on stdin (--backup-passphrase-stdin)",
        C::FileExists => "choose a new file name; sotto never overwrites a file",
        C::TargetExists => "choose a new or empty folder; sotto never writes over files",
        C::InvalidCredentials => {
            "the user id or password is wrong; nothing was changed (`account password` reads the current password \
             first, then the new one)"
        }
        C::NoPassword => {
            "this account signs in through an external service and has no password here; it cannot change one or \
             confirm a key reset with one"
        }
        C::UserExists => "pick another user id, or `login` if the account is yours",
        C::UnknownUser => "check the user id; `sotto devices USER` shows whether someone is on this server",
        C::NoDevices => "they have not signed in on any device yet; the message can be sent once they have",
        C::NoConfirmedDevice => {
            "none of their devices is confirmed yet; ask them to confirm their new device from an old one (or restore with their recovery key)"
        }
        C::NotConfirmed => {
            "confirm this device first: run `sotto device link` here and `sotto device confirm` on a confirmed device, or restore with the recovery key"
        }
        C::IdentityChangedHeld => {
            "verify them again (`sotto verify start USER`), or accept the new key with `sotto trust accept USER`"
        }
        C::NoVerification => "start the verification again",
        C::NoIdentity => {
            "their app has not made an identity key yet; ask them to open Sotto once (an update may be needed)"
        }
        C::UnknownConversation => "`sotto conversations` lists the conversations on this device",
        C::NotMember | C::NotAdmin => "`sotto group list` shows your groups and roles",
        C::NotInvited => "`sotto group invitations` lists the invitations you can answer",
        C::InvitationRequired => "invite them instead (`sotto group add` does when needed); they join when they accept",
        C::BlobTooLarge => "the server takes files up to a size its operator sets; send a smaller file",
        C::QuotaExceeded => {
            "your files on the server use up your quota; they expire after a while, or ask the operator"
        }
        C::UploadIncomplete => "the file's upload did not finish; send it again",
        C::InsufficientStorage => "the server's disk is full; try again later or tell its operator",
        C::FileDamaged => "the file was changed or cut short on its way; ask the sender to send it again",
        C::RateLimited => "wait a minute, then try again",
        C::ServerBusy => "the server is busy; try again in a few seconds",
        C::RecoveryKeyInvalid => "check the recovery key for typos (spaces do not matter) and give it on stdin",
        C::WrongRecoveryKey => {
            "give the recovery key shown when key backup was turned on (--recovery-key-stdin), or the passphrase it \
             was turned on with (--backup-passphrase-stdin)"
        }
        C::NoKeyBackup => "turn key backup on from a device that has the keys: `sotto keys backup enable`",
        C::KeyBackupExists => {
            "restore from it with `sotto keys backup restore --recovery-key-stdin`, or start a new one with \
             `sotto keys backup enable --replace` (keys only in the old one are lost)"
        }
        C::KeyBackupReplaced => "restore with the new recovery key: `sotto keys backup restore --recovery-key-stdin`",
        C::KeyBackupNotEnabled => "turn it on with `sotto keys backup enable`",
        C::KeyBackupTooNew => "install a newer version of sotto to restore this key backup",
        C::SafetyNumberChanged => {
            "the keys changed: run `sotto safety-number USER`, compare the new number, verify again"
        }
        C::Storage | C::Io => "check that the disk is not full and the profile directory is writable",
        // The sentence says it all, or the cause is not something to fix from a shell (a server
        // fault, a damaged file, a protocol mismatch, or codes only the desktop app reports).
        C::InvalidJson
        | C::PayloadTooLarge
        | C::InvalidInput
        | C::Forbidden
        | C::NotFound
        | C::InvalidSignature
        | C::Conflict
        | C::DevicesChanged
        | C::StaleVersion
        | C::MethodNotAllowed
        | C::UnsupportedMediaType
        | C::Internal
        | C::Corrupt
        | C::Protocol
        | C::Crypto
        | C::Cancelled
        | C::NotABackup
        | C::BackupDamaged
        | C::KeyBackupDamaged
        | C::KeyBackupTooLarge
        | C::AlreadySignedIn
        | C::NotSignedIn
        | C::NotLocked
        | C::InvalidPath
        | C::LocalServer
        | C::Settings
        | C::UpdateRefused
        | C::UpdateFailed
        | C::Unknown => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_codes_people_meet_most_have_a_next_step() {
        for code in [ErrorCode::Offline, ErrorCode::PassphraseRequired, ErrorCode::ProfileInUse, ErrorCode::FileExists]
        {
            assert!(hint(code).is_some(), "{code}");
        }
        assert_eq!(hint(ErrorCode::Internal), None);
    }
}
