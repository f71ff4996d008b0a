//! The person's preferences (theme, notifications).

use tauri::{AppHandle, Runtime};

use crate::error::CommandResult;
use crate::settings::{self, Settings};

#[tauri::command(rename_all = "snake_case")]
pub async fn get_settings<R: Runtime>(app: AppHandle<R>) -> CommandResult<Settings> {
    settings::settings(&app)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn set_settings<R: Runtime>(app: AppHandle<R>, settings: Settings) -> CommandResult<Settings> {
    settings::save_settings(&app, &settings)?;
    Ok(settings)
}
