//! The one error shape the UI sees: `{code, message}`. The UI branches on `code` (stable, from
//! the engine or from this crate) and words it for people; `message` is for the details line.

use serde::Serialize;
use ts_rs::TS;

#[derive(Debug, Clone, Serialize, TS)]
pub struct CommandError {
    pub code: String,
    pub message: String,
}

impl CommandError {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        CommandError { code: code.to_owned(), message: message.into() }
    }

    /// No profile is open (the UI asked for something that needs one).
    pub fn not_signed_in() -> Self {
        Self::new("not_signed_in", "No account is open on this computer.")
    }

    pub fn settings(e: impl std::fmt::Display) -> Self {
        Self::new("settings", format!("The app's settings could not be saved or read: {e}"))
    }
}

impl From<sotto_core::Error> for CommandError {
    fn from(e: sotto_core::Error) -> Self {
        CommandError { code: e.code().to_owned(), message: e.to_string() }
    }
}

impl From<sotto_proto::InvalidId> for CommandError {
    fn from(e: sotto_proto::InvalidId) -> Self {
        Self::new("invalid_input", e.to_string())
    }
}

pub type CommandResult<T> = Result<T, CommandError>;
