//! The person's preferences (theme, notifications).

use sotto_app_macros::command;
use tauri::AppHandle;

use crate::error::CommandResult;
use crate::settings::{self, Settings};

#[command]
pub async fn get_settings(app: AppHandle) -> CommandResult<Settings> {
    settings::settings(&app)
}

#[command]
pub async fn set_settings(app: AppHandle, settings: Settings) -> CommandResult<Settings> {
    settings::save_settings(&app, &settings)?;
    Ok(settings)
}
