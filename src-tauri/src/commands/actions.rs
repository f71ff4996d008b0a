//! What can be done to a message already in a conversation: answer it, react to it, and — for
//! one's own — change its text or delete it for everyone; and the earlier texts of an edited
//! one. The engine checks who may do what (`sotto_core::Client::edit` refuses someone else's
//! message with `invalid_input`) and sends each change end-to-end encrypted; the change is
//! applied here at once and announced as `message_changed`.

use serde::Serialize;
use sotto_app_macros::command;
use sotto_core::Message;
use tauri::State;
use ts_rs::TS;

use crate::error::CommandResult;
use crate::state::AppState;

/// Answer the message `id` with `body`: a new text, quoting it. It returns at once (`queued`)
/// and its outcome follows as `status_changed`, like `send_message`.
#[command]
pub async fn reply_to_message(state: State<'_, AppState>, id: i64, body: String) -> CommandResult<Message> {
    Ok(state.client()?.reply(id, &body).await?)
}

/// Add the reaction `emoji` to the message `id`, or with `remove` take it back. Returns the
/// message with its reactions as they now are.
#[command]
pub async fn react_to_message(
    state: State<'_, AppState>,
    id: i64,
    emoji: String,
    remove: bool,
) -> CommandResult<Message> {
    Ok(state.client()?.react(id, &emoji, remove).await?)
}

/// Replace the text (a file's caption) of this user's own message `id` for everyone. Returns
/// the message as it now is.
#[command]
pub async fn edit_message(state: State<'_, AppState>, id: i64, body: String) -> CommandResult<Message> {
    Ok(state.client()?.edit(id, &body).await?)
}

/// Delete this user's own message `id` for everyone; it becomes a tombstone, returned.
#[command]
pub async fn delete_message(state: State<'_, AppState>, id: i64) -> CommandResult<Message> {
    Ok(state.client()?.delete_for_everyone(id).await?)
}

/// One text an edited message had.
// No `Debug`: it is the person's content.
#[derive(Clone, Serialize, TS)]
pub struct MessageVersion {
    pub body: String,
    /// When it was written, by its sender's clock, ms.
    pub ts: i64,
}

/// Every text the message `id` had, oldest first (the one shown now among them); empty if it
/// was never edited.
#[command]
pub async fn message_versions(state: State<'_, AppState>, id: i64) -> CommandResult<Vec<MessageVersion>> {
    let versions = state.client()?.message_versions(id)?;
    Ok(versions.into_iter().map(|(body, ts)| MessageVersion { body, ts }).collect())
}
