//! The server key backup: group keys encrypted with a recovery key only the person holds, so a
//! new device can read the history of their groups (engine: `sotto_core::key_backup`).

use serde::Serialize;
use sotto_app_macros::command;
use sotto_core::{KeyBackupRestore, KeyBackupStatus, Progress, RecoverySecret};
use tauri::State;
use tauri::ipc::Channel;
use ts_rs::TS;

use crate::error::{CommandError, CommandResult, ErrorCode};
use crate::state::AppState;
use crate::tasks::ProgressForwarder;

/// What turning key backup on returns.
#[derive(Serialize, TS)]
pub struct KeyBackupEnabled {
    /// The recovery key, to show once (none when a passphrase was chosen).
    pub recovery_key: Option<String>,
    pub status: KeyBackupStatus,
}

impl std::fmt::Debug for KeyBackupEnabled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyBackupEnabled").field("status", &self.status).finish_non_exhaustive()
    }
}

#[command]
pub async fn key_backup_status(state: State<'_, AppState>) -> CommandResult<KeyBackupStatus> {
    Ok(state.client()?.key_backup_status()?)
}

/// Turn key backup on: with a new recovery key (returned once), or with `passphrase`. With
/// `replace`, a backup made with another key is overwritten.
#[command]
pub async fn enable_key_backup(
    state: State<'_, AppState>,
    passphrase: Option<String>,
    replace: bool,
) -> CommandResult<KeyBackupEnabled> {
    let client = state.client()?;
    let recovery_key = match passphrase.filter(|p| !p.is_empty()) {
        Some(passphrase) => {
            client.enable_key_backup_with_passphrase(&passphrase, replace).await?;
            None
        }
        None => Some(client.enable_key_backup(replace).await?.to_string()),
    };
    Ok(KeyBackupEnabled { recovery_key, status: client.key_backup_status()? })
}

/// Restore group keys from the key backup with its recovery key or passphrase (exactly one),
/// then read the history of this person's groups.
/// A long task: progress counts the keys, then each group whose history is read; `cancel_task`
/// with `task` stops it (keys restored by then stay).
#[command]
pub async fn restore_key_backup(
    state: State<'_, AppState>,
    task: String,
    recovery_key: Option<String>,
    passphrase: Option<String>,
    on_progress: Channel<Progress>,
) -> CommandResult<KeyBackupRestore> {
    let client = state.client()?;
    let secret = match (recovery_key.as_deref(), passphrase.as_deref()) {
        (Some(key), None) => RecoverySecret::RecoveryKey(key),
        (None, Some(passphrase)) => RecoverySecret::Passphrase(passphrase),
        _ => return Err(CommandError::new(ErrorCode::InvalidInput, "Give the recovery key or the passphrase.")),
    };
    let task = state.tasks.start(&task)?;
    let progress = ProgressForwarder::new(on_progress);
    let result = client.restore_key_backup_with(secret, &progress.sender, &task.cancel).await;
    progress.finish().await;
    Ok(result?)
}
