//! This account's devices and confirming them: the list the server keeps, removing one, whether
//! this device is confirmed by the user's identity, and the emoji comparison (SAS) that confirms
//! a new device from one that already is. Progress of a comparison reaches the UI as the
//! engine's `verification` events; these commands only start, answer or stop it.

use serde::Serialize;
use sotto_app_macros::command;
use sotto_core::VerificationView;
use sotto_proto::DeviceId;
use tauri::State;
use ts_rs::TS;

use crate::error::CommandResult;
use crate::parsed::Parsed;
use crate::state::AppState;

/// One device of this account as the server lists it (names and dates; whether the user
/// confirmed it comes from the directory, `user_devices`).
#[derive(Debug, Clone, Serialize, TS)]
pub struct AccountDevice {
    pub device_id: DeviceId,
    /// The name it signed in with ("Sotto on Linux").
    pub name: Option<String>,
    /// When it signed in, ms since the Unix epoch.
    pub created_ts: u64,
    /// It finished signing in (published its keys).
    pub has_keys: bool,
}

/// This account's devices, as the server lists them.
#[command]
pub async fn own_devices(state: State<'_, AppState>) -> CommandResult<Vec<AccountDevice>> {
    let list = state.client()?.own_devices().await?;
    Ok(list
        .devices
        .into_iter()
        .map(|d| AccountDevice { device_id: d.device_id, name: d.name, created_ts: d.created_ts, has_keys: d.has_keys })
        .collect())
}

/// Sign another device of this account out (the password is checked again).
#[command]
pub async fn delete_device(
    state: State<'_, AppState>,
    device_id: Parsed<DeviceId>,
    password: String,
) -> CommandResult<()> {
    Ok(state.client()?.delete_device(&device_id, &password).await?)
}

/// Whether this device is confirmed by the user's identity (no network). Until it is, it is
/// given no messages and no group keys.
#[command]
pub async fn this_device_confirmed(state: State<'_, AppState>) -> CommandResult<bool> {
    Ok(state.client()?.this_device_confirmed()?)
}

/// Start confirming `device_id`, another device of this account, by comparing emoji (this
/// device must be confirmed: `not_confirmed` otherwise). With `history`, once confirmed it also
/// gets this device's one-to-one conversations.
#[command]
pub async fn start_device_confirmation(
    state: State<'_, AppState>,
    device_id: Parsed<DeviceId>,
    history: bool,
) -> CommandResult<VerificationView> {
    Ok(state.client()?.start_device_confirmation(&device_id, history).await?)
}

/// Start verifying `user_id`, a contact, by comparing emoji with them (a request goes to each
/// of their confirmed devices; they accept on one).
#[command]
pub async fn start_contact_verification(
    state: State<'_, AppState>,
    user_id: Parsed<sotto_proto::UserId>,
) -> CommandResult<VerificationView> {
    Ok(state.client()?.start_contact_verification(&user_id).await?)
}

/// Accept a contact's request to compare emoji.
#[command]
pub async fn accept_verification(state: State<'_, AppState>, id: String) -> CommandResult<VerificationView> {
    Ok(state.client()?.accept_verification(&id).await?)
}

/// The comparisons of this session, running and finished (oldest first).
#[command]
pub async fn verification_list(state: State<'_, AppState>) -> CommandResult<Vec<VerificationView>> {
    Ok(state.client()?.verification_list()?)
}

/// The person saw the same emoji on both devices and confirms it here.
#[command]
pub async fn confirm_verification(state: State<'_, AppState>, id: String) -> CommandResult<VerificationView> {
    Ok(state.client()?.confirm_verification(&id).await?)
}

/// Stop a comparison: the emoji differ (`mismatch`), or the person gave up.
#[command]
pub async fn cancel_verification(
    state: State<'_, AppState>,
    id: String,
    mismatch: bool,
) -> CommandResult<VerificationView> {
    Ok(state.client()?.cancel_verification(&id, mismatch).await?)
}
