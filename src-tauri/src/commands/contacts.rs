//! People: starting a chat, their devices, and the safety number to compare.

use sotto_app_macros::command;
use sotto_core::{Conversation, DeviceSummary};
use sotto_proto::UserId;
use tauri::State;

use crate::error::CommandResult;
use crate::state::AppState;

/// The one-to-one conversation with `user_id` (created empty when the server knows them).
#[command]
pub async fn start_direct(state: State<'_, AppState>, user_id: String) -> CommandResult<Conversation> {
    let user = UserId::parse(user_id.trim())?;
    Ok(state.client()?.start_direct(&user).await?)
}

/// A user's devices, fresh from the directory (so a new device shows at once).
#[command]
pub async fn user_devices(state: State<'_, AppState>, user_id: String) -> CommandResult<Vec<DeviceSummary>> {
    let user = UserId::parse(user_id.trim())?;
    Ok(state.client()?.lookup_users(std::slice::from_ref(&user)).await?)
}

#[command]
pub async fn safety_number(state: State<'_, AppState>, user_id: String) -> CommandResult<String> {
    let user = UserId::parse(user_id.trim())?;
    Ok(state.client()?.safety_number(&user).await?)
}
