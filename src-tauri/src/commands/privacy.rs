//! Privacy settings of the open profile: whether read receipts are sent. The engine keeps the
//! setting (`sotto_core::Client::read_receipts`); off, none are sent and nobody's are shown.

use sotto_app_macros::command;
use tauri::State;

use crate::error::CommandResult;
use crate::state::AppState;

/// Whether this person sends read receipts (and sees others').
#[command]
pub async fn read_receipts(state: State<'_, AppState>) -> CommandResult<bool> {
    Ok(state.client()?.read_receipts()?)
}

/// Turn read receipts on or off.
#[command]
pub async fn set_read_receipts(state: State<'_, AppState>, on: bool) -> CommandResult<()> {
    Ok(state.client()?.set_read_receipts(on)?)
}
