//! The app as a desktop program: quitting from the window (menu entry, Ctrl+Q / Cmd+Q), since
//! closing the window may only hide it.

use sotto_app_macros::command;
use tauri::AppHandle;

use crate::error::CommandResult;

/// Quit Sotto: the engine and the local server shut down, the process ends.
#[command]
pub async fn quit(app: AppHandle) -> CommandResult<()> {
    crate::background::quit(&app);
    Ok(())
}
