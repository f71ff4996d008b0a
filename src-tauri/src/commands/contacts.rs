//! People: starting a chat, their devices, the safety number to compare and mark verified, and
//! accepting a verified contact's new identity (sending to them is held until then).

use sotto_app_macros::command;
use sotto_core::{Conversation, DeviceSummary, Verification};
use sotto_proto::UserId;
use tauri::State;

use crate::error::CommandResult;
use crate::parsed::Parsed;
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

/// The safety number with `user_id` (from the directory's current keys) and whether this person
/// marked it verified.
#[command]
pub async fn verification(state: State<'_, AppState>, user_id: String) -> CommandResult<Verification> {
    let user = UserId::parse(user_id.trim())?;
    Ok(state.client()?.verification(&user).await?)
}

/// Mark `user_id` verified at the safety number the person compared (refused with
/// `safety_number_changed` when it is not the current one), or with `None`, not verified.
#[command]
pub async fn set_verified(
    state: State<'_, AppState>,
    user_id: String,
    safety_number: Option<String>,
) -> CommandResult<Verification> {
    let user = UserId::parse(user_id.trim())?;
    Ok(state.client()?.set_verified(&user, safety_number.as_deref()).await?)
}

/// Whether `user_id` is verified with the keys this device holds now (no network).
#[command]
pub async fn contact_verified(state: State<'_, AppState>, user_id: String) -> CommandResult<bool> {
    let user = UserId::parse(user_id.trim())?;
    Ok(state.client()?.is_verified(&user)?)
}

/// Whether sending to `user_id` is held: their identity changed after this person verified
/// them (no network).
#[command]
pub async fn is_held(state: State<'_, AppState>, user_id: Parsed<UserId>) -> CommandResult<bool> {
    Ok(state.client()?.is_held(&user_id)?)
}

/// Accept `user_id`'s new identity: sending to them resumes, and they are no longer marked
/// verified (compare the new safety number to verify them again).
#[command]
pub async fn accept_identity(state: State<'_, AppState>, user_id: Parsed<UserId>) -> CommandResult<Verification> {
    Ok(state.client()?.accept_identity(&user_id).await?)
}
