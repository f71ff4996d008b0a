//! Choosing a server, registering, signing in, unlocking and signing out.

use sotto_app_macros::command;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sotto_core::{Client, Fingerprint, KeyOptions, ServerTrust, ServerUrl, SignIn};
use tauri::{AppHandle, Runtime, State};
use ts_rs::TS;

use crate::error::{CommandError, CommandResult, ErrorCode};
use crate::local_server::LocalServerInfo;
use crate::settings;
use crate::state::{AppState, AppStatus, LockedProfile};

/// What the sign-in form sends (register or login).
#[derive(Deserialize, TS)]
pub struct SignInRequest {
    pub server: String,
    pub user_id: String,
    pub password: String,
    pub device_name: Option<String>,
    /// Also protect the profile with this passphrase (required when there is no keychain).
    pub passphrase: Option<String>,
    /// The fingerprint of the server's certificate the person accepted after comparing it
    /// (`untrusted_certificate`); absent: the system's authorities must vouch for it.
    #[serde(default)]
    #[ts(optional)]
    pub trusted_certificate: Option<String>,
}

impl std::fmt::Debug for SignInRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignInRequest")
            .field("server", &self.server)
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

#[command]
pub async fn app_status(state: State<'_, AppState>) -> CommandResult<AppStatus> {
    state.wait_restored().await;
    Ok(state.status())
}

/// Normalize `url` and check that a Sotto server answers there, with its certificate trusted by
/// the system or, after the person compared it, `trusted_certificate`.
#[command]
pub async fn check_server(url: String, trusted_certificate: Option<String>) -> CommandResult<String> {
    let url = ServerUrl::parse(&url)?;
    url.check(trust(trusted_certificate.as_deref())?).await?;
    Ok(url.to_string())
}

/// How a new profile trusts its server's certificate.
pub(crate) fn trust(trusted_certificate: Option<&str>) -> CommandResult<ServerTrust> {
    Ok(match trusted_certificate {
        Some(fingerprint) => ServerTrust::Pinned(Fingerprint::parse(fingerprint)?),
        None => ServerTrust::System,
    })
}

#[command]
pub async fn start_local_server(app: AppHandle, state: State<'_, AppState>) -> CommandResult<LocalServerInfo> {
    let info = state.start_local_server(&app).await?;
    state.announce(&app);
    Ok(info)
}

/// Let other computers connect to the local server (over HTTPS), or stop letting them.
#[command]
pub async fn set_local_server_network(
    app: AppHandle,
    state: State<'_, AppState>,
    enabled: bool,
) -> CommandResult<LocalServerInfo> {
    let info = state.set_local_server_network(&app, enabled).await?;
    state.announce(&app);
    Ok(info)
}

#[command]
pub async fn register(app: AppHandle, state: State<'_, AppState>, request: SignInRequest) -> CommandResult<AppStatus> {
    sign_in(&app, &state, request, true).await
}

#[command]
pub async fn login(app: AppHandle, state: State<'_, AppState>, request: SignInRequest) -> CommandResult<AppStatus> {
    sign_in(&app, &state, request, false).await
}

#[tracing::instrument(skip_all, fields(register))]
async fn sign_in<R: Runtime>(
    app: &AppHandle<R>,
    state: &AppState,
    request: SignInRequest,
    register: bool,
) -> CommandResult<AppStatus> {
    let _transition = state.transition.lock().await;
    if state.client().is_ok() {
        return Err(CommandError::new(ErrorCode::AlreadySignedIn, "An account is already open; sign out first."));
    }
    let server = ServerUrl::parse(&request.server)?;
    let user_id = request.user_id.trim().to_owned();
    sotto_proto::UserId::parse(&user_id)?;
    let dir = new_profile_dir(state.data_dir(), &user_id);
    let passphrase = request.passphrase.filter(|p| !p.is_empty());
    let device_name = request.device_name.filter(|n| !n.trim().is_empty()).unwrap_or_else(default_device_name);
    let sign_in = SignIn {
        server: server.as_str(),
        trust: trust(request.trusted_certificate.as_deref())?,
        user_id: &user_id,
        password: &request.password,
        device_name: Some(&device_name),
    };
    let keys = KeyOptions { no_keychain: false, passphrase };
    let result =
        if register { Client::register(&dir, sign_in, keys).await } else { Client::login(&dir, sign_in, keys).await };
    let client = match result {
        Ok(client) => client,
        Err(e) => {
            // The engine removed what it created; the folder itself goes too when empty.
            let _ = std::fs::remove_dir(&dir);
            return Err(e.into());
        }
    };
    state.activate(app, client)?;
    Ok(state.announce(app))
}

fn default_device_name() -> String {
    let os = match std::env::consts::OS {
        "macos" => "macOS",
        "windows" => "Windows",
        "linux" => "Linux",
        other => other,
    };
    format!("Sotto on {os}")
}

/// A fresh folder per profile: signing in again never touches an older profile's files.
pub(crate) fn new_profile_dir(data_dir: &Path, user_id: &str) -> PathBuf {
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    data_dir.join("profiles").join(format!("{user_id}-{stamp}"))
}

/// At start, beside the window's first load: open the profile remembered from the last run (or
/// find why it cannot be opened), then tell the window. Phase changes wait for it, and so does
/// the status the UI asks for first.
pub async fn restore_at_start<R: Runtime>(app: &AppHandle<R>, state: &AppState) {
    let started = std::time::Instant::now();
    {
        let _transition = state.transition.lock().await;
        restore(app, state).await;
        state.set_restored();
    }
    tracing::info!(ms = started.elapsed().as_millis() as u64, "remembered profile restored");
    state.announce(app);
}

/// Open the profile remembered from the last run, or say why it cannot be opened. Also
/// restarts the local server first when this computer runs one.
async fn restore<R: Runtime>(app: &AppHandle<R>, state: &AppState) {
    if let Ok(Some(choice)) = settings::local_server(app)
        && choice.enabled
        && let Err(e) = state.start_local_server(app).await
    {
        tracing::error!(code = %e.code, message = %e.message, "the local server did not start");
    }
    let remembered = match settings::profile(app) {
        Ok(Some(p)) => p,
        Ok(None) => return,
        Err(e) => {
            tracing::error!(message = %e.message, "settings unreadable");
            return;
        }
    };
    if !sotto_core::profile::exists(&remembered.dir) {
        tracing::warn!("the remembered profile is gone; starting from the welcome screen");
        let _ = settings::save_profile(app, None);
        return;
    }
    let dir = remembered.dir.clone();
    let opened = tauri::async_runtime::spawn_blocking(move || Client::open(&dir, None)).await;
    match opened {
        Ok(Ok(client)) => {
            if let Err(e) = state.activate(app, client) {
                tracing::error!(message = %e.message, "could not start the profile");
            }
        }
        Ok(Err(e)) => {
            tracing::warn!(code = %e.code(), "the profile is locked");
            state.set_locked(remembered.dir.clone(), locked_info(&remembered, &e));
        }
        Err(e) => tracing::error!(error = %e, "opening the profile failed"),
    }
}

fn locked_info(remembered: &settings::RememberedProfile, e: &sotto_core::Error) -> LockedProfile {
    LockedProfile {
        user_id: remembered.user_id.clone(),
        server: remembered.server.clone(),
        code: e.code(),
        message: e.to_string(),
        has_passphrase: sotto_core::profile::has_passphrase(&remembered.dir),
    }
}

/// Open the locked profile with its passphrase (or, without one, try the keychain again).
#[command]
pub async fn unlock(
    app: AppHandle,
    state: State<'_, AppState>,
    passphrase: Option<String>,
) -> CommandResult<AppStatus> {
    let _transition = state.transition.lock().await;
    let dir = state.locked_dir().ok_or_else(|| CommandError::new(ErrorCode::NotLocked, "Sotto is not locked."))?;
    let passphrase = passphrase.filter(|p| !p.is_empty());
    let client = tauri::async_runtime::spawn_blocking(move || Client::open(&dir, passphrase.as_deref()))
        .await
        .map_err(|e| CommandError::new(ErrorCode::Internal, e.to_string()))??;
    state.activate(&app, client)?;
    Ok(state.announce(&app))
}

/// Leave the locked profile where it is and start over (sign in again, or another account).
#[command]
pub async fn use_another_account(app: AppHandle, state: State<'_, AppState>) -> CommandResult<AppStatus> {
    let _transition = state.transition.lock().await;
    if state.client().is_ok() {
        return Err(CommandError::new(ErrorCode::AlreadySignedIn, "An account is open; sign out first."));
    }
    settings::save_profile(&app, None)?;
    state.close();
    Ok(state.announce(&app))
}

/// The server moved (a new address for the same installation): the profile follows it, if
/// that address is its installation (else `other_installation`, nothing changed). With
/// `fingerprint`, the new address's certificate is trusted by it (a self-signed one). The
/// profile is opened again at the new address.
#[command]
pub async fn move_server(
    app: AppHandle,
    state: State<'_, AppState>,
    server: String,
    fingerprint: Option<String>,
) -> CommandResult<AppStatus> {
    let _transition = state.transition.lock().await;
    let url = ServerUrl::parse(server.trim())?;
    let trust = match fingerprint {
        Some(f) => ServerTrust::Pinned(Fingerprint::parse(&f)?),
        None => ServerTrust::System,
    };
    let client = state.client()?;
    let dir = client.profile_dir().to_path_buf();
    // Checked first; the open profile keeps working if the address is refused.
    client.move_server(&url, trust).await?;
    drop(state.close());
    let reopened = tauri::async_runtime::spawn_blocking(move || Client::open(&dir, None))
        .await
        .map_err(|e| CommandError::new(ErrorCode::Internal, e.to_string()))?;
    match reopened {
        Ok(client) => state.activate(&app, client)?,
        Err(open_error) => {
            if let Ok(Some(remembered)) = settings::profile(&app) {
                state.set_locked(remembered.dir.clone(), locked_info(&remembered, &open_error));
            }
        }
    }
    Ok(state.announce(&app))
}

/// Sign this device out on the server and delete its profile from this computer.
#[command]
pub async fn sign_out(app: AppHandle, state: State<'_, AppState>) -> CommandResult<AppStatus> {
    let _transition = state.transition.lock().await;
    let client = state.close().ok_or_else(CommandError::not_signed_in)?;
    let dir = client.profile_dir().to_path_buf();
    if let Err(e) = client.logout().await {
        // Nothing was deleted: open the profile again so the person keeps working.
        tracing::warn!(code = %e.code(), "sign-out failed");
        let reopened = tauri::async_runtime::spawn_blocking(move || Client::open(&dir, None))
            .await
            .map_err(|e| CommandError::new(ErrorCode::Internal, e.to_string()))?;
        match reopened {
            Ok(client) => state.activate(&app, client)?,
            Err(open_error) => {
                if let Ok(Some(remembered)) = settings::profile(&app) {
                    state.set_locked(remembered.dir.clone(), locked_info(&remembered, &open_error));
                }
            }
        }
        state.announce(&app);
        return Err(e.into());
    }
    settings::save_profile(&app, None)?;
    Ok(state.announce(&app))
}
