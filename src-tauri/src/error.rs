//! The one error shape the UI sees: `{code, message}`. The UI branches on `code` (stable, from
//! the engine or from this crate) and words it for people; `message` is for the details line.

use serde::Serialize;
pub use sotto_core::ErrorCode;
use ts_rs::TS;

#[derive(Debug, Clone, Serialize, TS)]
pub struct CommandError {
    pub code: ErrorCode,
    pub message: String,
    /// With `untrusted_certificate` and `certificate_changed`: the SHA-256 fingerprint of the
    /// certificate the server presented, for the person to compare with its owner's.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub fingerprint: Option<String>,
    /// With `certificate_changed`: the fingerprint trusted before.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub trusted_fingerprint: Option<String>,
}

impl CommandError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        CommandError { code, message: message.into(), fingerprint: None, trusted_fingerprint: None }
    }

    /// No profile is open (the UI asked for something that needs one).
    pub fn not_signed_in() -> Self {
        Self::new(ErrorCode::NotSignedIn, "No account is open on this computer.")
    }

    pub fn settings(e: impl std::fmt::Display) -> Self {
        Self::new(ErrorCode::Settings, format!("The app's settings could not be saved or read: {e}"))
    }
}

/// `[code] sentence`, for logs (the message never holds a secret).
impl std::fmt::Display for CommandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}] {}", self.code, self.message)
    }
}

impl From<sotto_core::Error> for CommandError {
    fn from(e: sotto_core::Error) -> Self {
        let (fingerprint, trusted_fingerprint) = match &e {
            sotto_core::Error::UntrustedCertificate { fingerprint, .. } => (Some(fingerprint.to_string()), None),
            sotto_core::Error::CertificateChanged { expected, presented, .. } => {
                (Some(presented.to_string()), Some(expected.to_string()))
            }
            _ => (None, None),
        };
        CommandError { code: e.code(), message: e.to_string(), fingerprint, trusted_fingerprint }
    }
}

impl From<sotto_proto::InvalidId> for CommandError {
    fn from(e: sotto_proto::InvalidId) -> Self {
        Self::new(ErrorCode::InvalidInput, e.to_string())
    }
}

pub type CommandResult<T> = Result<T, CommandError>;
