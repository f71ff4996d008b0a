//! The person's preferences (theme, notifications, running in the background, starting at
//! login). Starting at login is the system's autostart entry (tauri-plugin-autostart, driven from
//! here so the page needs no permission for it): it is read from the system every time, so the
//! dialog shows what will really happen, also after the entry was removed by hand.

use sotto_app_macros::command;
use tauri::{AppHandle, Runtime};
use tauri_plugin_autostart::ManagerExt;

use crate::error::{CommandError, CommandResult, ErrorCode};
use crate::settings::{self, Settings};

#[command]
pub async fn get_settings(app: AppHandle) -> CommandResult<Settings> {
    let mut settings = settings::settings(&app)?;
    settings.start_at_login = starts_at_login(&app);
    Ok(settings)
}

/// Saves `settings`; a change of `start_at_login` is made first, so when the system refuses it
/// nothing is saved and the UI puts every switch back.
#[command]
pub async fn set_settings(app: AppHandle, settings: Settings) -> CommandResult<Settings> {
    if settings.start_at_login != starts_at_login(&app) {
        let autostart = app.autolaunch();
        let changed = if settings.start_at_login { autostart.enable() } else { autostart.disable() };
        changed.map_err(|e| {
            CommandError::new(ErrorCode::Settings, format!("Sotto couldn't change whether it starts at login: {e}"))
        })?;
    }
    settings::save_settings(&app, &settings)?;
    Ok(Settings { start_at_login: starts_at_login(&app), ..settings })
}

/// Whether the system will start Sotto at login; `false` when that cannot be read.
fn starts_at_login<R: Runtime>(app: &AppHandle<R>) -> bool {
    app.autolaunch().is_enabled().unwrap_or_else(|e| {
        tracing::warn!(error = %e, "could not read whether Sotto starts at login");
        false
    })
}
