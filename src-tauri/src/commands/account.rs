//! The account's password, this device's keys, starting over with a new identity, and the
//! server's certificate when it changed.

use serde::Serialize;
use sotto_app_macros::command;
use sotto_core::{Fingerprint, KeyReset};
use tauri::{AppHandle, State};
use ts_rs::TS;

use crate::error::CommandResult;
use crate::state::AppState;

/// The server presents another certificate than the trusted one (the connection stopped).
#[derive(Debug, Clone, Serialize, TS)]
pub struct CertificateProblem {
    /// The fingerprint trusted before; `None` when the system's authorities were trusted.
    pub trusted: Option<String>,
    /// The fingerprint of the certificate the server presents now.
    pub presented: String,
}

/// What the server's certificate problem is, while the connection is stopped by one.
#[command]
pub fn certificate_problem(state: State<'_, AppState>) -> CommandResult<Option<CertificateProblem>> {
    Ok(state
        .client()?
        .certificate_problem()
        .map(|p| CertificateProblem { trusted: p.trusted.map(|f| f.to_string()), presented: p.presented.to_string() }))
}

/// Trust the server's new certificate (the person compared `fingerprint` with its owner's):
/// the connection starts again and queued messages go out.
#[command]
pub async fn trust_server_certificate(
    app: AppHandle,
    state: State<'_, AppState>,
    fingerprint: String,
) -> CommandResult<()> {
    state.client()?.trust_server_certificate(Fingerprint::parse(&fingerprint)?).await?;
    state.announce(&app);
    Ok(())
}

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
