//! The one error shape the UI sees: `{code, message}`. The UI branches on `code` (stable, from
//! the engine or from this crate) and words it for people; `message` is for the details line.

use serde::Serialize;
pub use sotto_core::ErrorCode;
use ts_rs::TS;

#[derive(Debug, Clone, Serialize, TS)]
pub struct CommandError {
    pub code: ErrorCode,
    pub message: String,
}

impl CommandError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        CommandError { code, message: message.into() }
    }

    /// No profile is open (the UI asked for something that needs one).
    pub fn not_signed_in() -> Self {
        Self::new(ErrorCode::NotSignedIn, "No account is open on this computer.")
    }

    pub fn settings(e: impl std::fmt::Display) -> Self {
        Self::new(ErrorCode::Settings, format!("The app's settings could not be saved or read: {e}"))
    }
}

impl From<sotto_core::Error> for CommandError {
    fn from(e: sotto_core::Error) -> Self {
        CommandError { code: e.code(), message: e.to_string() }
    }
}

impl From<sotto_proto::InvalidId> for CommandError {
    fn from(e: sotto_proto::InvalidId) -> Self {
        Self::new(ErrorCode::InvalidInput, e.to_string())
    }
}

pub type CommandResult<T> = Result<T, CommandError>;
