//! The account's password and this device's identity keys.

use sotto_app_macros::command;
use sotto_core::KeyReset;
use tauri::State;

use crate::error::CommandResult;
use crate::state::AppState;

/// Change the account password (the current one is checked again). This device and the
/// account's other devices stay signed in.
#[command]
pub async fn change_password(state: State<'_, AppState>, current: String, new_password: String) -> CommandResult<()> {
    Ok(state.client()?.change_password(&current, &new_password).await?)
}

/// Give this device a new identity (the account password is checked again): contacts see that
/// its safety number changed; every message already stored stays.
#[command]
pub async fn reset_keys(state: State<'_, AppState>, password: String) -> CommandResult<KeyReset> {
    Ok(state.client()?.reset_keys(&password).await?)
}
