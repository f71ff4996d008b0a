//! [`Client`]: the engine's public handle. Cheap to clone; every clone drives the same profile.
//!
//! Local state (the database and the Olm account) sits behind one std mutex that is never held
//! across an `.await`: network calls happen outside it, and everything a network answer changes
//! is committed in one transaction afterwards.

mod actions;
mod backup;
mod blobs;
mod conversations;
pub use blobs::UploadedFile;
mod directory;
mod disappearing;
mod files;
pub use files::{DEFAULT_AUTO_DOWNLOAD_BYTES, Transfer};
mod group_log;
mod groups;
mod identity;
mod key_backup;
mod link;
mod profiles;
mod receipts;
mod receive;
mod renew;
mod resend;
mod reset;
mod send;
mod sync;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;
use sotto_proto::routes::{self, Endpoint};
use sotto_proto::{
    ChangePasswordRequest, DeleteDeviceRequest, DeviceAddress, DeviceId, DeviceList, ErrorCode, LoginRequest,
    RefreshRequest, RegisterRequest, Session, UserId,
};
use tokio::sync::{Notify, broadcast, watch};
use tokio_util::sync::CancellationToken;
use zeroize::Zeroizing;

pub use self::backup::Restore;
pub use self::directory::{DeviceSummary, Verification};
pub use self::key_backup::{KeyBackupKind, KeyBackupRestore, KeyBackupStatus, RecoverySecret};
pub use self::link::{VerificationState, VerificationView};
pub use self::profiles::{AvatarChange, ProfileChange};
pub use self::reset::KeyReset;
#[cfg(feature = "bench")]
pub use self::send::BenchGroupChange;
pub use self::sync::SyncSummary;
/// What the fuzz targets drive (`crate::fuzzing`).
#[cfg(feature = "fuzzing")]
pub(crate) use self::{
    directory::reconcile,
    group_log::learn_name_key,
    receive::{Source, process_batch, retry_sessions},
};
use crate::api::Api;
use crate::crypto::Machine;
use crate::events::{ClientEvent, ConnectionState};
use crate::profile::{self, KeyOptions, ProfileError, ProfileInfo, ProfileKey, ProfileLock, ProfilePaths};
use crate::store::{Conversation, Db, Message, OpenMode, Reader, SearchHit, Store, StoreError};
use crate::{ConversationId, Error, Result};

const META_SERVER: &str = "server";
/// The server certificate's fingerprint the person trusted on first connect; absent when the
/// system's authorities vouch for the server (or it is plain `http` on this computer).
const META_SERVER_CERTIFICATE: &str = "server_certificate";
const META_USER: &str = "user_id";
const META_DEVICE: &str = "device_id";
const META_ACCESS: &str = "access_token";
const META_REFRESH: &str = "refresh_token";
const META_KEYS_PUBLISHED: &str = "device_keys_published";
/// A new identity (encrypted account pickle) offered to the server by a key reset whose outcome
/// is not known yet; see `reset.rs`.
const META_PENDING_IDENTITY: &str = "pending_identity";
/// The highest inbox sequence number committed locally.
const META_INBOX_SEQ: &str = "inbox_seq";

#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("own", &self.inner.own).finish_non_exhaustive()
    }
}

struct Inner {
    dir: PathBuf,
    /// Held for the client's lifetime: one process per profile.
    lock: ProfileLock,
    /// Kept to add a passphrase later even when the profile was opened without the keychain.
    key: ProfileKey,
    info: Mutex<ProfileInfo>,
    api: Api,
    own: DeviceAddress,
    state: Mutex<State>,
    tokens: tokio::sync::Mutex<Tokens>,
    events: broadcast::Sender<ClientEvent>,
    connection: watch::Sender<ConnectionState>,
    /// Wakes the outbox task (a send was queued, or the connection came back).
    outbox_wake: Notify,
    /// Wakes the sweep of disappearing messages (a timer was set, or messages arrived).
    expiry_wake: Notify,
    /// One outbox flush at a time, so a message is never sent twice concurrently.
    send_lock: tokio::sync::Mutex<()>,
    /// One key reset (or the completion of an interrupted one) at a time.
    reset_lock: tokio::sync::Mutex<()>,
    /// Wakes the key backup task (new group keys were stored).
    key_backup_wake: Notify,
    /// One key backup read–merge–write at a time from this device.
    key_backup_lock: tokio::sync::Mutex<()>,
    /// The background service runs ([`Client::start`]): sends are left to its outbox task.
    started: std::sync::atomic::AtomicBool,
    /// The background tasks ([`Client::start`]), so a shutdown can wait for them.
    tasks: tokio_util::task::TaskTracker,
    /// Set while the live connection is stopped because the server's certificate is not the
    /// trusted one ([`Client::trust_server_certificate`] clears it and reconnects).
    certificate_problem: Mutex<Option<CertificateProblem>>,
    /// Frames (JSON text) for the connected socket: typing notices and sends; `None` while
    /// offline.
    socket_out: Mutex<Option<tokio::sync::mpsc::Sender<String>>>,
    /// Sends waiting for their answer on the socket, by message id (see [`sync`]); emptied when
    /// the socket ends, which sends them over HTTP instead.
    socket_sends: Mutex<std::collections::HashMap<sotto_proto::MessageId, sync::SocketAnswer>>,
    /// Device verifications of this session, by id (see [`link`]).
    verifications: Mutex<std::collections::HashMap<String, link::Verification>>,
    /// When each group was last compared with the server (see [`group_log`]).
    groups_checked: Mutex<std::collections::HashMap<sotto_proto::GroupId, std::time::Instant>>,
    /// File uploads and downloads running or waiting (see [`files`]).
    transfers: files::Transfers,
    cancel: CancellationToken,
}

struct State {
    store: Store,
    machine: Machine,
    /// The in-memory account could not be brought back in line with the database after a
    /// failed transaction: refuse further work rather than persist a diverged account.
    broken: bool,
}

struct Tokens {
    access: Zeroizing<String>,
    refresh: Zeroizing<String>,
}

/// What a new profile is for.
pub struct SignIn<'a> {
    pub server: &'a str,
    /// How the server's certificate is trusted (`https` only): by the system, or the
    /// fingerprint the person accepted after an [`Error::UntrustedCertificate`].
    pub trust: crate::ServerTrust,
    pub user_id: &'a str,
    pub password: &'a str,
    pub device_name: Option<&'a str>,
}

impl std::fmt::Debug for SignIn<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignIn").field("server", &self.server).field("user_id", &self.user_id).finish_non_exhaustive()
    }
}

/// The server presents a certificate that is not the trusted one: what the person compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateProblem {
    /// The certificate trusted before (`None`: the system's authorities were trusted).
    pub trusted: Option<crate::Fingerprint>,
    /// What the server presents now.
    pub presented: crate::Fingerprint,
}

/// Records the server's address and how its certificate is trusted.
fn save_server(db: &Db, api: &Api) -> Result<()> {
    db.set_meta(META_SERVER, api.base())?;
    match api.trust().pinned() {
        Some(fingerprint) => db.set_meta(META_SERVER_CERTIFICATE, &fingerprint.to_string())?,
        None => db.delete_meta(META_SERVER_CERTIFICATE)?,
    }
    Ok(())
}

/// Whether a new profile's account is created on the server or signed in to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Account {
    /// Register a new account (`POST /v1/accounts`).
    New,
    /// Sign in to an existing account as a new device (`POST /v1/sessions`).
    Existing,
}

/// What a key upload does with the fallback key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fallback {
    /// Upload one only if the server has none.
    Keep,
    /// Make and upload a new one whatever the server has (after a restore).
    Replace,
}

impl Client {
    /// Create an account on the server and a new profile for it in `dir`.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn register(dir: &Path, sign_in: SignIn<'_>, keys: KeyOptions) -> Result<Client> {
        Self::create(dir, sign_in, keys, Account::New).await
    }

    /// Sign in to an existing account as a new device, with a new profile in `dir`.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn login(dir: &Path, sign_in: SignIn<'_>, keys: KeyOptions) -> Result<Client> {
        Self::create(dir, sign_in, keys, Account::Existing).await
    }

    async fn create(dir: &Path, sign_in: SignIn<'_>, keys: KeyOptions, account: Account) -> Result<Client> {
        let api = Api::new(sign_in.server, sign_in.trust)?;
        let user_id = UserId::parse(sign_in.user_id).map_err(|e| Error::InvalidInput(e.to_string()))?;
        let lock = profile::lock(dir)?;
        let (info, key) = profile::create(dir, &lock, &keys)?;
        let paths = ProfilePaths::new(dir);
        let cleanup = |e: Error| {
            // Only what this call created is removed: the directory held no profile before.
            if let Err(cleanup) = profile::remove(dir, &lock, &info) {
                tracing::warn!(error = %cleanup, "could not remove a half-created profile");
            }
            e
        };
        let mut store = Store::open(&paths.database(), &key, OpenMode::Create).map_err(cleanup)?;
        let session: Session = {
            let result = if account == Account::New {
                let body = RegisterRequest {
                    user_id,
                    password: sign_in.password.to_owned(),
                    device_name: sign_in.device_name.map(str::to_owned),
                };
                api.call::<routes::Register>(&(), &(), None, &body).await
            } else {
                let body = LoginRequest {
                    user_id,
                    password: sign_in.password.to_owned(),
                    device_name: sign_in.device_name.map(str::to_owned),
                    device_id: None,
                };
                api.call::<routes::Login>(&(), &(), None, &body).await
            };
            match result {
                Ok(s) => s,
                Err(e) => {
                    drop(store);
                    return Err(cleanup(e));
                }
            }
        };
        let own = DeviceAddress { user_id: session.user_id.clone(), device_id: session.device_id.clone() };
        let machine = Machine::create(own.clone(), key.pickle_key()?);
        store.transaction(|db| {
            save_server(db, &api)?;
            db.set_meta(META_USER, own.user_id.as_str())?;
            db.set_meta(META_DEVICE, own.device_id.as_str())?;
            db.set_meta(META_ACCESS, &session.access_token)?;
            db.set_meta(META_REFRESH, &session.refresh_token)?;
            machine.save_account(db)
        })?;
        // From here on the server knows this device: keep the profile whatever happens next.
        profile::commit(dir, &info)?;
        let client = Self::assemble(dir, lock, key, info, api, own, store, machine)?;
        client.publish_keys().await?;
        Ok(client)
    }

    /// Open the profile in `dir`. The key comes from the OS keychain, or from `passphrase` when
    /// the profile has one (and the keychain is unavailable, or the caller prefers it).
    pub fn open(dir: &Path, passphrase: Option<&str>) -> Result<Client> {
        let lock = profile::lock(dir)?;
        let (info, key) = profile::unlock(dir, &lock, passphrase)?;
        let store = Store::open(&ProfilePaths::new(dir).database(), &key, OpenMode::Existing)?;
        let db = store.db();
        let get = |k: &'static str| db.meta(k)?.ok_or(Error::Profile(ProfileError::MissingMeta(k)));
        let server = get(META_SERVER)?;
        let trust = match db.meta(META_SERVER_CERTIFICATE)? {
            Some(pin) => crate::ServerTrust::Pinned(
                crate::Fingerprint::parse(&pin).map_err(|_| ProfileError::ServerCertificate)?,
            ),
            None => crate::ServerTrust::System,
        };
        let own = DeviceAddress {
            user_id: UserId::parse(get(META_USER)?)
                .map_err(|source| ProfileError::Identity { what: "user id", source })?,
            device_id: DeviceId::parse(get(META_DEVICE)?)
                .map_err(|source| ProfileError::Identity { what: "device id", source })?,
        };
        let machine = Machine::load(&db, own.clone(), key.pickle_key()?)?;
        let api = Api::new(&server, trust)?;
        let client = Self::assemble(dir, lock, key, info, api, own, store, machine)?;
        // Messages whose time ran out while it was closed go before anyone reads them.
        client.sweep_expired()?;
        Ok(client)
    }

    #[allow(clippy::too_many_arguments)]
    fn assemble(
        dir: &Path,
        lock: ProfileLock,
        key: ProfileKey,
        info: ProfileInfo,
        api: Api,
        own: DeviceAddress,
        store: Store,
        machine: Machine,
    ) -> Result<Client> {
        let db = store.db();
        let tokens = Tokens {
            access: Zeroizing::new(db.meta(META_ACCESS)?.unwrap_or_default()),
            refresh: Zeroizing::new(db.meta(META_REFRESH)?.unwrap_or_default()),
        };
        let (events, _) = broadcast::channel(1024);
        let (connection, _) = watch::channel(ConnectionState::Offline);
        Ok(Client {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                lock,
                key,
                info: Mutex::new(info),
                api,
                own,
                state: Mutex::new(State { store, machine, broken: false }),
                tokens: tokio::sync::Mutex::new(tokens),
                events,
                connection,
                outbox_wake: Notify::new(),
                expiry_wake: Notify::new(),
                send_lock: tokio::sync::Mutex::new(()),
                reset_lock: tokio::sync::Mutex::new(()),
                key_backup_wake: Notify::new(),
                key_backup_lock: tokio::sync::Mutex::new(()),
                socket_out: Mutex::new(None),
                socket_sends: Mutex::new(std::collections::HashMap::new()),
                verifications: Mutex::new(std::collections::HashMap::new()),
                groups_checked: Mutex::new(std::collections::HashMap::new()),
                started: std::sync::atomic::AtomicBool::new(false),
                certificate_problem: Mutex::new(None),
                tasks: tokio_util::task::TaskTracker::new(),
                transfers: files::Transfers::default(),
                cancel: CancellationToken::new(),
            }),
        })
    }

    /// A profile that never talked to a server (no keychain, no passphrase), for tests of what
    /// the engine does with its local data.
    #[cfg(test)]
    pub(crate) fn offline_for_tests(dir: &Path, user: &str) -> Result<Client> {
        let lock = profile::lock(dir)?;
        let key = ProfileKey::generate()?;
        let info = ProfileInfo {
            version: 1,
            id: uuid::Uuid::new_v4().simple().to_string(),
            keychain: false,
            passphrase: false,
        };
        let api = Api::new("http://127.0.0.1:9", crate::ServerTrust::System)?;
        let own = DeviceAddress {
            user_id: UserId::parse(user).map_err(|e| Error::InvalidInput(e.to_string()))?,
            device_id: DeviceId::parse("TESTDEVICE").map_err(|e| Error::InvalidInput(e.to_string()))?,
        };
        let mut store = Store::open(&ProfilePaths::new(dir).database(), &key, OpenMode::Create)?;
        let machine = Machine::create(own.clone(), key.pickle_key()?);
        store.transaction(|db| machine.save_account(db))?;
        Self::assemble(dir, lock, key, info, api, own, store, machine)
    }

    pub fn user_id(&self) -> &UserId {
        &self.inner.own.user_id
    }

    pub fn device_id(&self) -> &DeviceId {
        &self.inner.own.device_id
    }

    pub fn server(&self) -> &str {
        self.inner.api.base()
    }

    /// How this profile trusts its server's certificate.
    pub fn server_trust(&self) -> crate::ServerTrust {
        self.inner.api.trust()
    }

    /// Trust the server certificate with `fingerprint` from now on, in place of the one trusted
    /// before (after [`Error::CertificateChanged`], once the person compared the new fingerprint
    /// with the server owner's). It applies to the next connection; a live connection stopped
    /// by the certificate starts again, and queued sends go out.
    pub async fn trust_server_certificate(&self, fingerprint: crate::Fingerprint) -> Result<()> {
        // Queued sends were postponed with a backoff; they are due now.
        self.transact(|_, db| {
            db.set_meta(META_SERVER_CERTIFICATE, &fingerprint.to_string())?;
            db.outbox_wake(crate::store::now_ms())
        })?;
        self.inner.api.tls().set_trust(crate::ServerTrust::Pinned(fingerprint));
        tracing::info!(%fingerprint, "a new server certificate is trusted");
        if let Ok(mut problem) = self.inner.certificate_problem.lock()
            && problem.take().is_some()
            && self.inner.started.load(std::sync::atomic::Ordering::Relaxed)
        {
            let client = self.clone();
            self.inner.tasks.spawn(async move { client.run_socket().await });
        }
        self.inner.outbox_wake.notify_one();
        Ok(())
    }

    /// Move this profile to another address of the same installation (a new domain, another
    /// proxy, a server that moved): the address must prove it is the installation this device
    /// belongs to — it accepts this device's refresh token, and lists this device with its own
    /// identity key — or nothing changes ([`Error::OtherInstallation`]). The profile then uses the
    /// new address; this `Client` stops and the profile is to be opened again.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn move_server(self, server: &crate::ServerUrl, trust: crate::ServerTrust) -> Result<()> {
        if server.as_str() == self.server() {
            return Ok(());
        }
        let api = Api::new(server.as_str(), trust)?;
        let mut tokens = self.inner.tokens.lock().await;
        let body = RefreshRequest { refresh_token: tokens.refresh.to_string() };
        let session: Session = match api.call::<routes::Refresh>(&(), &(), None, &body).await {
            Ok(session) => session,
            Err(e) if matches!(e.server_code(), Some(ErrorCode::Unauthorized | ErrorCode::InvalidCredentials)) => {
                return Err(Error::OtherInstallation(server.to_string()));
            }
            Err(e) => return Err(e),
        };
        // The old refresh token is spent (the installation is the same): keep the new pair.
        tokens.access = Zeroizing::new(session.access_token);
        tokens.refresh = Zeroizing::new(session.refresh_token);
        let (access, refresh) = (tokens.access.clone(), tokens.refresh.clone());
        self.transact(|_, db| {
            db.set_meta(META_ACCESS, &access)?;
            db.set_meta(META_REFRESH, &refresh)
        })?;
        drop(tokens);
        // And it lists this device with this device's own key.
        let own = self.inner.own.clone();
        let query = sotto_proto::QueryKeysRequest { user_ids: vec![own.user_id.clone()] };
        let listed = api.call::<routes::QueryKeys>(&(), &(), Some(&access), &query).await?;
        let ed25519 = self.transact(|m, _| Ok(m.ed25519()))?;
        let known = listed
            .users
            .iter()
            .filter(|u| u.user_id == own.user_id)
            .flat_map(|u| &u.devices)
            .any(|d| d.device_id == own.device_id && d.ed25519 == ed25519);
        if !known {
            tracing::warn!(server = %server, "an address that took this device's token lists other keys for it");
            return Err(Error::OtherInstallation(server.to_string()));
        }
        self.transact(|_, db| save_server(db, &api))?;
        tracing::info!(server = %server, "the profile moved to another address of its installation");
        self.shutdown_and_wait(std::time::Duration::from_secs(5)).await;
        Ok(())
    }

    /// Why the live connection stopped on the server's certificate, while it is stopped.
    pub fn certificate_problem(&self) -> Option<CertificateProblem> {
        self.inner.certificate_problem.lock().ok().and_then(|p| p.clone())
    }

    pub fn profile_dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Events from now on. A receiver that falls behind by more than 1024 events misses some
    /// (it gets `Lagged`) and should reload what it shows.
    pub fn subscribe(&self) -> broadcast::Receiver<ClientEvent> {
        self.inner.events.subscribe()
    }

    pub fn connection_state(&self) -> watch::Receiver<ConnectionState> {
        self.inner.connection.subscribe()
    }

    /// Protect the profile key with a passphrase too (so the profile opens without a keychain).
    pub fn set_passphrase(&self, passphrase: &str) -> Result<()> {
        let mut info = self.inner.info.lock().map_err(|_| poisoned())?;
        profile::set_passphrase(&self.inner.dir, &mut info, &self.inner.key, passphrase)
    }

    // ---- local state ----

    /// A read-only connection of its own to the profile's database, for long reads (an export)
    /// that must not keep the engine waiting.
    pub(crate) fn reader(&self) -> Result<Reader> {
        Reader::open(&ProfilePaths::new(&self.inner.dir).database(), &self.inner.key)
    }

    /// Run `f` on the database outside a transaction.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Db<'_>) -> Result<T>) -> Result<T> {
        let state = self.inner.state.lock().map_err(|_| poisoned())?;
        f(&state.store.db())
    }

    /// Run `f` with the crypto machine in one transaction. If it fails, nothing is stored and
    /// the in-memory account is reloaded so it matches the database again.
    fn transact<T>(&self, f: impl FnOnce(&mut Machine, &Db<'_>) -> Result<T>) -> Result<T> {
        let mut guard = self.inner.state.lock().map_err(|_| poisoned())?;
        let state = &mut *guard;
        if state.broken {
            return Err(poisoned());
        }
        let result = state.store.transaction(|db| f(&mut state.machine, db));
        if result.is_err() {
            let State { store, machine, broken } = state;
            if let Err(e) = machine.reload(&store.db()) {
                tracing::error!(error = %e, "could not reload the account after a failed transaction");
                *broken = true;
            }
        }
        result
    }

    fn emit(&self, event: ClientEvent) {
        // No receivers is fine: nobody is listening.
        let _ = self.inner.events.send(event);
    }

    fn emit_all(&self, events: Vec<ClientEvent>) {
        for event in events {
            self.emit(event);
        }
    }

    // ---- authenticated requests ----

    /// Call the authenticated route `E` (no query string), refreshing the access token once if it
    /// expired; a revoked device is [`Error::SignedOut`].
    pub(crate) async fn call<E: Endpoint<Query = ()>>(
        &self,
        params: &E::Params,
        body: &E::Request,
    ) -> Result<E::Response> {
        self.call_with_query::<E>(params, &(), body).await
    }

    pub(crate) async fn call_with_query<E: Endpoint>(
        &self,
        params: &E::Params,
        query: &E::Query,
        body: &E::Request,
    ) -> Result<E::Response> {
        self.call_as::<E, E::Response>(params, query, body).await
    }

    /// [`Client::call_with_query`], reading the answer as `T` (see [`Api::call_as`]).
    pub(crate) async fn call_as<E: Endpoint, T: DeserializeOwned>(
        &self,
        params: &E::Params,
        query: &E::Query,
        body: &E::Request,
    ) -> Result<T> {
        let token = self.access_token().await;
        match self.inner.api.call_as::<E, T>(params, query, Some(&token), body).await {
            Err(e) if e.server_code() == Some(ErrorCode::TokenExpired) => {
                let token = self.refresh_tokens(&token).await?;
                self.inner.api.call_as::<E, T>(params, query, Some(&token), body).await
            }
            Err(e) if e.server_code() == Some(ErrorCode::Unauthorized) => Err(Error::SignedOut),
            other => other,
        }
    }

    async fn access_token(&self) -> Zeroizing<String> {
        self.inner.tokens.lock().await.access.clone()
    }

    /// Trade the refresh token for a new pair, unless another task already did since `failed`
    /// was handed out. Refresh tokens are single use, so this is serialized.
    async fn refresh_tokens(&self, failed: &str) -> Result<Zeroizing<String>> {
        let mut tokens = self.inner.tokens.lock().await;
        if tokens.access.as_str() != failed {
            return Ok(tokens.access.clone());
        }
        let body = RefreshRequest { refresh_token: tokens.refresh.to_string() };
        let session: Session = match self.inner.api.call::<routes::Refresh>(&(), &(), None, &body).await {
            Ok(s) => s,
            Err(e) if matches!(e.server_code(), Some(ErrorCode::Unauthorized | ErrorCode::InvalidCredentials)) => {
                return Err(Error::SignedOut);
            }
            Err(e) => return Err(e),
        };
        // The old refresh token is spent now: keep the new pair in memory first (so this process
        // never presents the spent one again), then store both in one transaction.
        tokens.access = Zeroizing::new(session.access_token);
        tokens.refresh = Zeroizing::new(session.refresh_token);
        let (access, refresh) = (tokens.access.clone(), tokens.refresh.clone());
        self.transact(|_, db| {
            db.set_meta(META_ACCESS, &access)?;
            db.set_meta(META_REFRESH, &refresh)
        })?;
        Ok(access)
    }

    // ---- account ----

    /// Publish the identity keys (once), the user's identity (when this device holds it) and
    /// this device's confirmation, and top up one-time keys.
    async fn publish_keys(&self) -> Result<()> {
        // One-time keys must be signed by the identity the server lists.
        self.finish_interrupted_reset().await?;
        if self.read(|db| db.meta(META_KEYS_PUBLISHED))?.is_none() {
            let keys = self.transact(|m, _| Ok(m.device_keys()))?;
            match self.call::<routes::PutDeviceKeys>(&(), &keys).await {
                Ok(_) => {}
                // Already published (an earlier answer was lost): the same keys are on file.
                Err(e) if e.server_code() == Some(ErrorCode::Conflict) => {}
                Err(e) => return Err(e),
            }
            self.read(|db| db.set_meta(META_KEYS_PUBLISHED, "1"))?;
        }
        self.ensure_identity().await?;
        self.replace_used_fallback().await;
        self.top_up_keys().await
    }

    /// Replace the fallback key once an incoming session used it (it stays usable until then;
    /// a failure is retried at the next sync or connection).
    pub(crate) async fn replace_used_fallback(&self) {
        match self.read(|db| db.meta(crate::crypto::META_FALLBACK_USED)) {
            Ok(Some(_)) => {}
            Ok(None) => return,
            Err(e) => return tracing::warn!(error = %e, "could not read whether the fallback key was used"),
        }
        match self.upload_keys(Fallback::Replace).await {
            Ok(()) => {
                if let Err(e) = self.read(|db| db.delete_meta(crate::crypto::META_FALLBACK_USED)) {
                    tracing::warn!(error = %e, "could not record the new fallback key");
                }
                tracing::info!("the used fallback key was replaced");
            }
            Err(e) => tracing::warn!(error = %e, "could not replace the used fallback key; retried at the next sync"),
        }
    }

    /// Keep the server stocked with one-time keys (and a fallback key).
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn top_up_keys(&self) -> Result<()> {
        self.upload_keys(Fallback::Keep).await
    }

    /// Top up one-time keys; with [`Fallback::Replace`], also replace the fallback key.
    async fn upload_keys(&self, fallback: Fallback) -> Result<()> {
        let counts = self.call::<routes::CountKeys>(&(), &()).await?;
        let upload = self.transact(|m, db| {
            let new_fallback = fallback == Fallback::Replace;
            if new_fallback {
                m.new_fallback_key();
            }
            let upload = m.keys_to_upload(counts.one_time_keys, counts.has_fallback && !new_fallback)?;
            m.save_account(db)?;
            Ok(upload)
        })?;
        if let Some(upload) = upload {
            let result = self.call::<routes::UploadOneTimeKeys>(&(), &upload).await;
            if result.is_ok()
                && let Some(fallback) = &upload.fallback_key
            {
                self.read(|db| db.set_meta(crate::crypto::META_FALLBACK_KEY, &fallback.key))?;
            }
            // Whether or not the answer arrived, these keys are never offered again: if the
            // server stored them and handed one out meanwhile, uploading them a second time could
            // let two senders start sessions from one key. Unused ones cost nothing.
            self.transact(|m, db| {
                m.mark_published();
                m.save_account(db)
            })?;
            result?;
        }
        Ok(())
    }

    /// This account's devices, as the server lists them.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn own_devices(&self) -> Result<DeviceList> {
        self.call::<routes::ListDevices>(&(), &()).await
    }

    /// Remove another device of this account (needs the password).
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn delete_device(&self, device_id: &DeviceId, password: &str) -> Result<()> {
        let body = DeleteDeviceRequest { password: password.to_owned() };
        self.call::<routes::DeleteDevice>(device_id, &body).await?;
        Ok(())
    }

    /// Change the account's password (what signs devices in; the profile's own key and
    /// passphrase are separate). `current` must be the password in use; `new` follows the rules of
    /// registration. Every device of the account stays signed in; a wrong `current` is
    /// `invalid_credentials` and changes nothing, an account without a password (external sign-in)
    /// is `no_password`.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn change_password(&self, current: &str, new: &str) -> Result<()> {
        let body = ChangePasswordRequest { current_password: current.to_owned(), new_password: new.to_owned() };
        self.call::<routes::ChangePassword>(&(), &body).await?;
        tracing::info!("account password changed");
        Ok(())
    }

    /// Sign this device out: the server forgets it, and the profile (database, keychain entry)
    /// is deleted, since its keys are of no use any more.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn logout(self) -> Result<()> {
        self.inner.cancel.cancel();
        match self.call::<routes::Logout>(&(), &()).await {
            Ok(_) | Err(Error::SignedOut) => {}
            Err(e) => return Err(e),
        }
        let info = self.inner.info.lock().map_err(|_| poisoned())?.clone();
        let dir = self.inner.dir.clone();
        // Background tasks end soon after cancellation; wait for them so that the database is
        // closed before its files are removed (Windows refuses to delete open files).
        let mut inner = self.inner;
        for _ in 0..100 {
            match Arc::try_unwrap(inner) {
                Ok(only) => {
                    let Inner { lock, state, .. } = only;
                    drop(state);
                    return profile::remove(&dir, &lock, &info);
                }
                Err(shared) => {
                    inner = shared;
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
        profile::remove(&dir, &inner.lock, &info)
    }

    /// Stop background tasks (sync, outbox, key backup); they end at their next await.
    pub fn shutdown(&self) {
        self.inner.cancel.cancel();
    }

    /// [`Client::shutdown`], then wait until the background tasks have ended, at most `limit`
    /// (a request in flight finishes or times out first). Before a process exits: a task still
    /// reading the database while the C libraries' exit handlers run (OpenSSL's, under
    /// SQLCipher) fails, and could keep the process from ending. Returns whether they all ended.
    pub async fn shutdown_and_wait(&self, limit: std::time::Duration) -> bool {
        self.shutdown();
        self.inner.tasks.close();
        tokio::time::timeout(limit, self.inner.tasks.wait()).await.is_ok()
    }

    // ---- history ----

    pub fn conversations(&self) -> Result<Vec<Conversation>> {
        self.read(|db| db.conversations())
    }

    /// A page of messages before `before` (a message's `id`), oldest first.
    pub fn messages(&self, conversation_id: &ConversationId, before: Option<i64>, limit: u32) -> Result<Vec<Message>> {
        self.read(|db| db.messages(conversation_id, before, limit.clamp(1, 1000)))
    }

    /// A page of messages after `after` (a message's `id`), oldest first: with [`Client::messages`]
    /// this loads the window around a search hit.
    pub fn messages_after(&self, conversation_id: &ConversationId, after: i64, limit: u32) -> Result<Vec<Message>> {
        self.read(|db| db.messages_after(conversation_id, after, limit.clamp(1, 1000)))
    }

    /// The one-to-one conversation with `user`, created (empty) when the directory knows them.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn start_direct(&self, user: &UserId) -> Result<Conversation> {
        let conversation_id = ConversationId::Direct(user.clone());
        if let Some(existing) = self.read(|db| db.conversation(&conversation_id))? {
            return Ok(existing);
        }
        // A note to self needs no look-up: this user exists.
        if user != self.user_id() {
            self.lookup_users(std::slice::from_ref(user)).await?;
        }
        let conversation = self.transact(|_, db| {
            db.ensure_conversation(&conversation_id, user.as_str())?;
            db.conversation(&conversation_id)?.ok_or(Error::Store(StoreError::Missing("conversation just written")))
        })?;
        self.emit(ClientEvent::ConversationUpdated { conversation: conversation.clone() });
        Ok(conversation)
    }

    /// Search every decrypted message; newest first.
    pub fn search(&self, query: &str, limit: u32) -> Result<Vec<SearchHit>> {
        // Messages this device wrote since the last batch are indexed first.
        self.transact(|_, db| db.index_pending())?;
        self.read(|db| db.search(query, limit.clamp(1, 500)))
    }
}

fn poisoned() -> Error {
    Error::Poisoned
}
