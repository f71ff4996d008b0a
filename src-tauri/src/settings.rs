//! What the app remembers between runs, in `settings.json` (tauri-plugin-store): the person's
//! preferences, which profile to open, and whether this computer runs a server. No secret is
//! ever written here: keys live in the keychain and the profile's encrypted database.

use std::path::PathBuf;

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use tauri::{AppHandle, Runtime};
use tauri_plugin_store::StoreExt;
use ts_rs::TS;

use crate::error::{CommandError, CommandResult};

const FILE: &str = "settings.json";
const PREFERENCES: &str = "preferences";
const PROFILE: &str = "profile";
const LOCAL_SERVER: &str = "local_server";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Theme {
    #[default]
    System,
    Light,
    Dark,
}

/// The person's preferences.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(default)]
pub struct Settings {
    pub theme: Theme,
    /// Native notifications for new messages while the window is not focused.
    pub notifications: bool,
    /// Show the message text in notifications (off: "New message" only).
    pub previews: bool,
    /// Suggest a backup once there are messages and none was made (off: the person said "Not now").
    pub backup_reminder: bool,
    /// Closing the window hides it: Sotto stays in the tray, connected and notifying
    /// ([`crate::background::close_action`]). Off: closing quits.
    pub keep_running: bool,
    /// Sotto starts when the person logs in. The truth is the system's autostart entry, not this
    /// file: `get_settings` reads it and `set_settings` writes it (tauri-plugin-autostart).
    pub start_at_login: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            theme: Theme::System,
            notifications: true,
            previews: true,
            backup_reminder: true,
            keep_running: true,
            start_at_login: false,
        }
    }
}

/// The profile the app opens at start, and what to show while it is locked.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RememberedProfile {
    pub dir: PathBuf,
    pub user_id: String,
    pub server: String,
}

/// The server this computer runs for itself (and its network), when the person chose that.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct LocalServerChoice {
    pub enabled: bool,
    /// The port it listened on last time; others have this address, so keep it when free.
    pub port: u16,
    /// Other computers may connect (over HTTPS, on `network_port`).
    #[serde(default)]
    pub network: bool,
    /// The HTTPS port it listened on last time, as `port`.
    #[serde(default)]
    pub network_port: Option<u16>,
}

fn get<R: Runtime, T: DeserializeOwned>(app: &AppHandle<R>, key: &str) -> CommandResult<Option<T>> {
    let store = app.store(FILE).map_err(CommandError::settings)?;
    match store.get(key) {
        None => Ok(None),
        // A value this version cannot read (edited by hand, or from a newer version) is ignored
        // rather than fatal: the defaults apply and the file is rewritten on the next change.
        Some(value) => Ok(serde_json::from_value(value)
            .inspect_err(|e| tracing::warn!(key, error = %e, "ignoring an unreadable setting"))
            .ok()),
    }
}

fn put<R: Runtime, T: Serialize>(app: &AppHandle<R>, key: &str, value: Option<&T>) -> CommandResult<()> {
    let store = app.store(FILE).map_err(CommandError::settings)?;
    match value {
        Some(v) => store.set(key, serde_json::to_value(v).map_err(CommandError::settings)?),
        None => {
            store.delete(key);
        }
    }
    store.save().map_err(CommandError::settings)
}

pub fn settings<R: Runtime>(app: &AppHandle<R>) -> CommandResult<Settings> {
    Ok(get(app, PREFERENCES)?.unwrap_or_default())
}

pub fn save_settings<R: Runtime>(app: &AppHandle<R>, settings: &Settings) -> CommandResult<()> {
    put(app, PREFERENCES, Some(settings))
}

pub fn profile<R: Runtime>(app: &AppHandle<R>) -> CommandResult<Option<RememberedProfile>> {
    get(app, PROFILE)
}

pub fn save_profile<R: Runtime>(app: &AppHandle<R>, profile: Option<&RememberedProfile>) -> CommandResult<()> {
    put(app, PROFILE, profile)
}

pub fn local_server<R: Runtime>(app: &AppHandle<R>) -> CommandResult<Option<LocalServerChoice>> {
    get(app, LOCAL_SERVER)
}

pub fn save_local_server<R: Runtime>(app: &AppHandle<R>, choice: &LocalServerChoice) -> CommandResult<()> {
    put(app, LOCAL_SERVER, Some(choice))
}
