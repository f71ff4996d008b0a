//! [`Parsed`]: a command argument whose type checks its value (a [`ConversationId`](sotto_core::ConversationId)).
//!
//! Invariant: an argument the UI sends that its type refuses never reaches the command; the
//! call is rejected as a [`CommandError`] with `invalid_input`, the same shape as every other
//! refusal (Tauri's own rejection for a bad argument is bare text, which the UI cannot branch on).

use serde::Deserialize;
use tauri::Runtime;
use tauri::ipc::{CommandArg, CommandItem, InvokeError};

use crate::error::{CommandError, ErrorCode};

/// A command argument read as `T` at the IPC boundary. The `#[command]` macro renders it as `T`
/// in the UI's `Commands` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed<T>(pub T);

impl<T> Parsed<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Parsed<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// `value` as a `T`, or `invalid_input` saying why not.
pub fn parse<'de, T: Deserialize<'de>, D: serde::Deserializer<'de>>(value: D) -> Result<T, CommandError> {
    T::deserialize(value).map_err(|e| CommandError::new(ErrorCode::InvalidInput, e.to_string()))
}

impl<'de, T: Deserialize<'de>, R: Runtime> CommandArg<'de, R> for Parsed<T> {
    fn from_command(command: CommandItem<'de, R>) -> Result<Self, InvokeError> {
        parse(command).map(Parsed).map_err(InvokeError::from)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

    use serde_json::json;
    use sotto_core::ConversationId;
    use sotto_proto::{GroupId, UserId};

    use super::*;

    #[test]
    fn conversation_ids_are_checked_at_the_boundary() {
        let direct: ConversationId = parse(json!("u:bob")).unwrap();
        assert_eq!(direct, ConversationId::Direct(UserId::parse("bob").unwrap()));
        let group: ConversationId = parse(json!("g:G1abc")).unwrap();
        assert_eq!(group, ConversationId::Group(GroupId::parse("G1abc").unwrap()));
        for bad in [json!("bob"), json!("x:bob"), json!("u:"), json!("u:Bob Smith"), json!("g:"), json!(""), json!(7)] {
            let err = parse::<ConversationId, _>(bad.clone()).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidInput, "{bad}");
        }
        // What the UI reads from the rejection: the error shape, not Tauri's bare text.
        let rejected = InvokeError::from(parse::<ConversationId, _>(json!("x:bob")).unwrap_err());
        assert_eq!(rejected.0["code"], "invalid_input");
    }
}
