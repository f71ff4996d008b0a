//! The sidebar, the message list, sending, search and typing notices.

use sotto_app_macros::command;
use sotto_core::{Conversation, Message, SearchHit};
use sotto_proto::{GroupId, UserId};
use tauri::State;

use crate::error::{CommandError, CommandResult, ErrorCode};
use crate::state::AppState;

/// Who a conversation id (`u:<user>` or `g:<group>`) sends to.
enum Target {
    User(UserId),
    Group(GroupId),
}

fn target(conversation_id: &str) -> CommandResult<Target> {
    match conversation_id.split_once(':') {
        Some(("u", user)) => Ok(Target::User(UserId::parse(user)?)),
        Some(("g", group)) => Ok(Target::Group(GroupId::parse(group)?)),
        _ => Err(CommandError::new(ErrorCode::InvalidInput, format!("'{conversation_id}' is not a conversation."))),
    }
}

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
    conversation_id: String,
    before: Option<i64>,
    limit: u32,
) -> CommandResult<Vec<Message>> {
    Ok(state.client()?.messages(&conversation_id, before, limit)?)
}

#[command]
pub async fn load_messages_after(
    state: State<'_, AppState>,
    conversation_id: String,
    after: i64,
    limit: u32,
) -> CommandResult<Vec<Message>> {
    Ok(state.client()?.messages_after(&conversation_id, after, limit)?)
}

#[command]
pub async fn mark_read(state: State<'_, AppState>, conversation_id: String) -> CommandResult<()> {
    Ok(state.client()?.mark_read(&conversation_id)?)
}

#[command]
pub async fn search_messages(state: State<'_, AppState>, query: String, limit: u32) -> CommandResult<Vec<SearchHit>> {
    Ok(state.client()?.search(&query, limit)?)
}

/// Queue a text; it returns at once (`queued`) and its outcome follows as `status_changed`.
#[command]
pub async fn send_message(state: State<'_, AppState>, conversation_id: String, body: String) -> CommandResult<Message> {
    let client = state.client()?;
    Ok(match target(&conversation_id)? {
        Target::User(user) => client.send_text(&user, &body).await?,
        Target::Group(group) => client.send_group_text(&group, &body).await?,
    })
}

#[command]
pub async fn retry_message(state: State<'_, AppState>, id: i64) -> CommandResult<Message> {
    Ok(state.client()?.retry(id).await?)
}

#[command]
pub async fn set_typing(state: State<'_, AppState>, conversation_id: String, typing: bool) -> CommandResult<()> {
    // Typing notices are best effort: offline, they are simply not sent.
    state.client()?.send_typing(&conversation_id, typing)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn conversation_ids_name_their_target() {
        assert!(matches!(target("u:bob").unwrap(), Target::User(u) if u.as_str() == "bob"));
        assert!(matches!(target("g:G1abc").unwrap(), Target::Group(g) if g.as_str() == "G1abc"));
        for bad in ["bob", "x:bob", "u:", "u:Bob Smith", "g:", ""] {
            assert_eq!(target(bad).err().unwrap().code, ErrorCode::InvalidInput, "{bad}");
        }
    }
}
