//! The sidebar, the message list, sending, search and typing notices.

use sotto_app_macros::command;
use sotto_core::{Conversation, ConversationId, Message, SearchHit};
use tauri::State;

use crate::error::CommandResult;
use crate::parsed::Parsed;
use crate::state::AppState;

/// At start the UI asks for the list beside the status, so this too waits for the remembered
/// profile to open (and answers `not_signed_in` if it did not).
#[command]
pub async fn list_conversations(state: State<'_, AppState>) -> CommandResult<Vec<Conversation>> {
    state.wait_restored().await;
    Ok(state.client()?.conversations()?)
}

#[command]
pub async fn load_messages(
    state: State<'_, AppState>,
    conversation_id: Parsed<ConversationId>,
    before: Option<i64>,
    limit: u32,
) -> CommandResult<Vec<Message>> {
    Ok(state.client()?.messages(&conversation_id, before, limit)?)
}

#[command]
pub async fn load_messages_after(
    state: State<'_, AppState>,
    conversation_id: Parsed<ConversationId>,
    after: i64,
    limit: u32,
) -> CommandResult<Vec<Message>> {
    Ok(state.client()?.messages_after(&conversation_id, after, limit)?)
}

#[command]
pub async fn mark_read(state: State<'_, AppState>, conversation_id: Parsed<ConversationId>) -> CommandResult<()> {
    Ok(state.client()?.mark_read(&conversation_id)?)
}

#[command]
pub async fn search_messages(state: State<'_, AppState>, query: String, limit: u32) -> CommandResult<Vec<SearchHit>> {
    Ok(state.client()?.search(&query, limit)?)
}

/// Queue a text; it returns at once (`queued`) and its outcome follows as `status_changed`.
#[command]
pub async fn send_message(
    state: State<'_, AppState>,
    conversation_id: Parsed<ConversationId>,
    body: String,
) -> CommandResult<Message> {
    let client = state.client()?;
    Ok(match &*conversation_id {
        ConversationId::Direct(user) => client.send_text(user, &body).await?,
        ConversationId::Group(group) => client.send_group_text(group, &body).await?,
    })
}

#[command]
pub async fn retry_message(state: State<'_, AppState>, id: i64) -> CommandResult<Message> {
    Ok(state.client()?.retry(id).await?)
}

#[command]
pub async fn set_typing(
    state: State<'_, AppState>,
    conversation_id: Parsed<ConversationId>,
    typing: bool,
) -> CommandResult<()> {
    // Typing notices are best effort: offline, they are simply not sent.
    state.client()?.send_typing(&conversation_id, typing)?;
    Ok(())
}
