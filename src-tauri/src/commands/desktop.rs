//! The app as a desktop program: quitting from the window (menu entry, Ctrl+Q / Cmd+Q), since
//! closing the window may only hide it.

use sotto_app_macros::command;
use tauri::AppHandle;
use tauri::ipc::Channel;

use crate::error::CommandResult;

/// Quit Sotto: the engine and the local server shut down, the process ends.
#[command]
pub async fn quit(app: AppHandle) -> CommandResult<()> {
    crate::background::quit(&app);
    Ok(())
}

/// Look for a newer version (when this build has an update source).
#[command]
pub async fn check_for_update(app: AppHandle) -> CommandResult<crate::updates::UpdateCheck> {
    crate::updates::check(&app).await
}

/// Download, verify and install the update the last check found; `on_progress` gets the bytes
/// received and the total when known. It runs from the next start ([`restart`]).
#[command]
pub async fn install_update(app: AppHandle, on_progress: Channel<DownloadProgress>) -> CommandResult<()> {
    crate::updates::install(&app, |received, total| {
        let _ = on_progress.send(DownloadProgress { received, total });
    })
    .await
}

/// Start Sotto again (after an update was installed).
#[command]
pub async fn restart(app: AppHandle) -> CommandResult<()> {
    tracing::info!("restarting");
    app.restart();
}

/// How much of an update has arrived.
#[derive(Debug, Clone, serde::Serialize, ts_rs::TS)]
pub struct DownloadProgress {
    pub received: u64,
    pub total: Option<u64>,
}
