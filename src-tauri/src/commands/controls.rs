//! What a person does with a conversation as a whole, on this device (mute, archive, pin, mark
//! unread, the draft, delete), and its disappearing-messages timer, which is sent to everyone.

use sotto_app_macros::command;
use sotto_core::ConversationId;
use tauri::State;

use crate::error::CommandResult;
use crate::parsed::Parsed;
use crate::state::AppState;

/// Mute until `until` (ms since the epoch), or for good with `forever` (a JS number cannot hold
/// the engine's `i64::MAX`); neither unmutes.
#[command]
pub async fn set_muted(
    state: State<'_, AppState>,
    conversation_id: Parsed<ConversationId>,
    until: Option<i64>,
    forever: bool,
) -> CommandResult<()> {
    let until = if forever { Some(i64::MAX) } else { until };
    Ok(state.client()?.set_muted(&conversation_id, until)?)
}

#[command]
pub async fn set_archived(
    state: State<'_, AppState>,
    conversation_id: Parsed<ConversationId>,
    archived: bool,
) -> CommandResult<()> {
    Ok(state.client()?.set_archived(&conversation_id, archived)?)
}

#[command]
pub async fn set_pinned(
    state: State<'_, AppState>,
    conversation_id: Parsed<ConversationId>,
    pinned: bool,
) -> CommandResult<()> {
    Ok(state.client()?.set_pinned(&conversation_id, pinned)?)
}

#[command]
pub async fn mark_unread(state: State<'_, AppState>, conversation_id: Parsed<ConversationId>) -> CommandResult<()> {
    Ok(state.client()?.mark_unread(&conversation_id)?)
}

/// Keep the composer's text (empty: no draft).
#[command]
pub async fn set_draft(
    state: State<'_, AppState>,
    conversation_id: Parsed<ConversationId>,
    draft: String,
) -> CommandResult<()> {
    Ok(state.client()?.set_draft(&conversation_id, &draft)?)
}

/// Delete the conversation from this device; `conversation_removed` follows.
#[command]
pub async fn delete_conversation(
    state: State<'_, AppState>,
    conversation_id: Parsed<ConversationId>,
) -> CommandResult<()> {
    Ok(state.client()?.delete_conversation(&conversation_id)?)
}

/// Set the disappearing-messages timer for everyone in the conversation (`None`: off).
#[command]
pub async fn set_disappearing(
    state: State<'_, AppState>,
    conversation_id: Parsed<ConversationId>,
    seconds: Option<u64>,
) -> CommandResult<()> {
    Ok(state.client()?.set_disappearing(&conversation_id, seconds).await?)
}
