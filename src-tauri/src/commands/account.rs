//! The account's password, this device's keys, and starting over with a new identity.

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

/// Start over with a new identity for this user (the account password is checked again), when
/// no confirmed device and no recovery key is left: this device is confirmed at once; every
/// other device of the account must be confirmed again, and contacts see the new identity.
#[command]
pub async fn reset_identity(state: State<'_, AppState>, password: String) -> CommandResult<()> {
    Ok(state.client()?.reset_identity(&password).await?)
}
