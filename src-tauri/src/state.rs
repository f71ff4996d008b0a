//! The app's one piece of shared state: which phase it is in (welcome, locked, ready), the
//! open engine client, and the local server. Phase changes are serialized by `transition` so
//! two sign-ins (or a sign-in and a sign-out) can never interleave.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;
use sotto_core::{Client, ConnectionState};
use tauri::async_runtime::JoinHandle;
use tauri::{AppHandle, Emitter, Runtime};
use ts_rs::TS;

use crate::error::{CommandError, CommandResult, ErrorCode};
use crate::local_server::{LocalServer, LocalServerInfo};
use crate::settings::{self, RememberedProfile};
use crate::tasks::Tasks;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// No profile: choose a server, register or sign in.
    Welcome,
    /// A profile exists but its key is not available (keychain locked or missing): unlock.
    Locked,
    Ready,
}

#[derive(Debug, Clone, Serialize, TS)]
pub struct Account {
    pub user_id: String,
    pub device_id: String,
    pub server: String,
    /// The fingerprint of the server certificate this profile trusts, when the person accepted
    /// one (no authority vouches for it); `None`: the system's authorities, or plain `http`.
    pub server_certificate: Option<String>,
}

/// Why the remembered profile did not open, and what the unlock screen can offer.
#[derive(Debug, Clone, Serialize, TS)]
pub struct LockedProfile {
    pub user_id: String,
    pub server: String,
    pub code: ErrorCode,
    pub message: String,
    /// The profile also opens with a passphrase.
    pub has_passphrase: bool,
}

#[derive(Debug, Clone, Serialize, TS)]
pub struct AppStatus {
    pub phase: Phase,
    pub account: Option<Account>,
    pub locked: Option<LockedProfile>,
    pub local_server: Option<LocalServerInfo>,
    pub connection: ConnectionState,
}

/// The event that carries a new [`AppStatus`] to the UI.
pub const STATUS_EVENT: &str = "sotto://status";

enum Session {
    Welcome,
    Locked { dir: PathBuf, info: LockedProfile },
    Ready { client: Client, forwarder: JoinHandle<()> },
}

pub struct AppState {
    data_dir: PathBuf,
    session: Mutex<Session>,
    /// The server this computer runs, once started; `starting` keeps two starts from racing.
    local_server: Mutex<Option<LocalServer>>,
    starting: tokio::sync::Mutex<()>,
    pub transition: tokio::sync::Mutex<()>,
    /// Long work the UI can cancel (backups, exports).
    pub tasks: Tasks,
    focused: AtomicBool,
    /// False while the profile remembered from the last run is still opening (it opens beside
    /// the window's first load, not before it); the status waits for it.
    restored: tokio::sync::watch::Sender<bool>,
}

impl AppState {
    pub fn new(data_dir: PathBuf) -> Self {
        AppState {
            data_dir,
            session: Mutex::new(Session::Welcome),
            local_server: Mutex::new(None),
            starting: tokio::sync::Mutex::new(()),
            transition: tokio::sync::Mutex::new(()),
            tasks: Tasks::default(),
            focused: AtomicBool::new(true),
            restored: tokio::sync::watch::Sender::new(false),
        }
    }

    /// The remembered profile has been opened (or found locked, or absent).
    pub fn set_restored(&self) {
        self.restored.send_replace(true);
    }

    /// Waits until the remembered profile has been opened (or found locked, or absent), so the
    /// first status the UI reads is the real phase, never a passing "welcome".
    pub async fn wait_restored(&self) {
        let mut restored = self.restored.subscribe();
        // The sender lives as long as the state, so this only ends once `set_restored` ran.
        let _ = restored.wait_for(|done| *done).await;
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn set_focused(&self, focused: bool) {
        self.focused.store(focused, Ordering::Relaxed);
    }

    pub fn is_focused(&self) -> bool {
        self.focused.load(Ordering::Relaxed)
    }

    /// The open client, for commands that need one.
    pub fn client(&self) -> CommandResult<Client> {
        match &*self.session.lock().map_err(|_| poisoned())? {
            Session::Ready { client, .. } => Ok(client.clone()),
            _ => Err(CommandError::not_signed_in()),
        }
    }

    pub fn status(&self) -> AppStatus {
        let local_server = self.local_server.lock().ok().and_then(|s| s.as_ref().map(|s| s.info.clone()));
        let Ok(session) = self.session.lock() else {
            return AppStatus {
                phase: Phase::Welcome,
                account: None,
                locked: None,
                local_server,
                connection: ConnectionState::Offline,
            };
        };
        match &*session {
            Session::Welcome => AppStatus {
                phase: Phase::Welcome,
                account: None,
                locked: None,
                local_server,
                connection: ConnectionState::Offline,
            },
            Session::Locked { info, .. } => AppStatus {
                phase: Phase::Locked,
                account: None,
                locked: Some(info.clone()),
                local_server,
                connection: ConnectionState::Offline,
            },
            Session::Ready { client, .. } => AppStatus {
                phase: Phase::Ready,
                account: Some(Account {
                    user_id: client.user_id().to_string(),
                    device_id: client.device_id().to_string(),
                    server: client.server().to_owned(),
                    server_certificate: client.server_trust().pinned().map(|f| f.to_string()),
                }),
                locked: None,
                local_server,
                connection: *client.connection_state().borrow(),
            },
        }
    }

    /// Tell the UI the phase (or the local server) changed.
    pub fn announce<R: Runtime>(&self, app: &AppHandle<R>) -> AppStatus {
        let status = self.status();
        if let Err(e) = app.emit(STATUS_EVENT, &status) {
            tracing::warn!(error = %e, "could not send the status to the window");
        }
        status
    }

    /// Make `client` the open profile: start its sync, forward its events, remember it.
    pub fn activate<R: Runtime>(&self, app: &AppHandle<R>, client: Client) -> CommandResult<()> {
        let remembered = RememberedProfile {
            dir: client.profile_dir().to_path_buf(),
            user_id: client.user_id().to_string(),
            server: client.server().to_owned(),
        };
        settings::save_profile(app, Some(&remembered))?;
        client.start();
        let forwarder = crate::events::spawn_forwarder(app.clone(), client.clone());
        let previous =
            std::mem::replace(&mut *self.session.lock().map_err(|_| poisoned())?, Session::Ready { client, forwarder });
        if let Session::Ready { client, forwarder } = previous {
            forwarder.abort();
            client.shutdown();
        }
        Ok(())
    }

    /// The remembered profile could not be opened for a reason the person can fix.
    pub fn set_locked(&self, dir: PathBuf, info: LockedProfile) {
        if let Ok(mut session) = self.session.lock() {
            *session = Session::Locked { dir, info };
        }
    }

    /// The directory of the locked profile, when the app is locked.
    pub fn locked_dir(&self) -> Option<PathBuf> {
        match &*self.session.lock().ok()? {
            Session::Locked { dir, .. } => Some(dir.clone()),
            _ => None,
        }
    }

    /// Back to the welcome screen. Returns the client that was open (to sign out or shut down).
    pub fn close(&self) -> Option<Client> {
        // Exports read the profile that is closing; a restore never runs while one is open.
        self.tasks.cancel_all();
        let previous = std::mem::replace(&mut *self.session.lock().ok()?, Session::Welcome);
        match previous {
            Session::Ready { client, forwarder } => {
                forwarder.abort();
                Some(client)
            }
            _ => None,
        }
    }

    /// Start the local server (once), remembering the choice and its port.
    pub async fn start_local_server<R: Runtime>(&self, app: &AppHandle<R>) -> CommandResult<LocalServerInfo> {
        let _starting = self.starting.lock().await;
        if let Some(server) = &*self.local_server.lock().map_err(|_| poisoned())? {
            return Ok(server.info.clone());
        }
        let choice = settings::local_server(app)?;
        let port = choice.map_or(crate::local_server::DEFAULT_PORT, |c| c.port);
        let network = choice.filter(|c| c.network).map(network_port);
        self.run_local_server(app, port, network).await
    }

    /// Open the local server to other computers (HTTPS), or close it to them again: it restarts
    /// with or without its network listener. Apps on this computer reconnect by themselves.
    pub async fn set_local_server_network<R: Runtime>(
        &self,
        app: &AppHandle<R>,
        enabled: bool,
    ) -> CommandResult<LocalServerInfo> {
        let _starting = self.starting.lock().await;
        let running = self.local_server.lock().map_err(|_| poisoned())?.take();
        let Some(running) = running else {
            return Err(CommandError::new(ErrorCode::LocalServer, "No server runs on this computer."));
        };
        let port = running.info.port;
        running.stop().await;
        let choice = settings::local_server(app)?;
        let network = enabled.then(|| choice.map_or(crate::local_server::DEFAULT_NETWORK_PORT, network_port));
        self.run_local_server(app, port, network).await
    }

    async fn run_local_server<R: Runtime>(
        &self,
        app: &AppHandle<R>,
        port: u16,
        network: Option<u16>,
    ) -> CommandResult<LocalServerInfo> {
        let server = LocalServer::start(&self.data_dir, port, network).await?;
        let info = server.info.clone();
        // Held from here on, so exit stops it even if remembering the choice fails.
        *self.local_server.lock().map_err(|_| poisoned())? = Some(server);
        let choice = settings::LocalServerChoice {
            enabled: true,
            port: info.port,
            network: info.network.is_some(),
            network_port: info.network.as_ref().map(|n| n.port),
        };
        settings::save_local_server(app, &choice)?;
        Ok(info)
    }

    /// On exit: stop sync and the local server gracefully.
    pub async fn shut_down(&self) {
        if let Some(client) = self.close()
            && !client.shutdown_and_wait(std::time::Duration::from_secs(5)).await
        {
            tracing::warn!("the engine's background tasks did not end in time");
        }
        let _starting = self.starting.lock().await;
        let server = self.local_server.lock().ok().and_then(|mut s| s.take());
        if let Some(server) = server {
            server.stop().await;
        }
    }
}

/// The HTTPS port to try: the one used last time, or the default.
fn network_port(choice: settings::LocalServerChoice) -> u16 {
    choice.network_port.unwrap_or(crate::local_server::DEFAULT_NETWORK_PORT)
}

fn poisoned() -> CommandError {
    CommandError::new(ErrorCode::Internal, "The app hit an internal error; restart it.")
}
