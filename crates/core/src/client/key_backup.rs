//! The server key backup from the client's side (the blob itself is in [`crate::key_backup`]):
//! turning it on (with a recovery key shown once, or a passphrase), keeping it up to date as group
//! keys arrive, and restoring it on a new device, which then reads the groups' history from the
//! server.
//!
//! Every write is read → decrypt → merge → write with the version that was read; when another
//! device of the same user wrote in between, the server refuses (`stale_version`) and the device
//! reads again, so keys another device added are never dropped. Uploads are batched: the
//! background service waits [`UPLOAD_DELAY`] after new keys arrive, so a burst of them is one
//! upload.
//!
//! Invariants: the recovery key is returned once and never stored; what is stored (in the
//! SQLCipher database only) is the 32-byte key it stands for; a wrong key or a damaged backup is
//! found before anything is written.

use std::time::Duration;

use serde::Serialize;
use sotto_proto::routes::{self, HistoryQuery};
use sotto_proto::{Backup, EntryBody, ErrorCode, GroupId, InboxEntry, PutBackupRequest};
use zeroize::Zeroizing;

use super::Client;
use super::receive::retry_sessions;
use crate::crypto::CryptoError;
use crate::key_backup::blob::{self, BackupKey, Contents, Kdf};
use crate::key_backup::recovery::{Argon2Params, MIN_PASSPHRASE_CHARS, RecoveryKey};
use crate::progress::{CancellationToken, Progress, watch};
use crate::store::{BackupScope, Db, StoreError};
use crate::{Error, Result};

/// The recovery key's 32 bytes (unpadded base64), inside the encrypted database.
const META_KEY: &str = "key_backup_key";
/// How the key is obtained ([`Kdf`] as JSON): not secret, written into every upload.
const META_KDF: &str = "key_backup_kdf";
/// The backup's version this device last read or wrote.
const META_VERSION: &str = "key_backup_version";
/// The code of the error that stopped uploads (until the next success or restore).
const META_ERROR: &str = "key_backup_error";
/// Set once the backup holds this user's cross-signing keys.
const META_IDENTITY: &str = "key_backup_identity";

/// How long the background service waits after new group keys before uploading.
pub const UPLOAD_DELAY: Duration = Duration::from_secs(2);
/// Read–merge–write attempts when other devices keep writing in between.
const MAX_ATTEMPTS: usize = 8;
/// Group history messages fetched per page, and at most per group on a restore.
const HISTORY_PAGE: u32 = 500;
const MAX_HISTORY_MESSAGES: usize = 50_000;
/// History entries decrypted and stored per transaction.
const HISTORY_BATCH: usize = 200;

/// What unlocks the key backup on a restore.
pub enum RecoverySecret<'a> {
    /// The recovery key text shown when backup was turned on (spaces do not matter).
    RecoveryKey(&'a str),
    /// The passphrase backup was turned on with.
    Passphrase(&'a str),
}

/// How this device's key backup stands.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct KeyBackupStatus {
    /// This device uploads new group keys.
    pub enabled: bool,
    /// What opens the backup, when enabled.
    pub kind: Option<KeyBackupKind>,
    /// The backup's version this device last read or wrote.
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub version: Option<u64>,
    /// Group keys this device holds.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub sessions: u64,
    /// Of those, how many are in the backup.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub backed_up: u64,
    /// The error that stopped uploads (e.g. `key_backup_replaced`), if one did.
    pub error: Option<ErrorCode>,
}

/// What the key backup opens with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum KeyBackupKind {
    /// The recovery key shown when backup was turned on.
    RecoveryKey,
    /// A passphrase the person chose (argon2id).
    Passphrase,
}

/// What a restore did.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct KeyBackupRestore {
    /// Group keys in the backup.
    pub sessions: usize,
    /// Of those, new to this device (or reaching further back than what it had).
    pub imported: usize,
    /// Groups whose history was read from the server.
    pub groups: usize,
    /// History messages stored (new to this device), readable or not.
    pub messages: usize,
    /// Of those, how many stay undecryptable (their key is not in the backup).
    pub undecryptable: usize,
    /// Messages that were waiting for a key and are readable now.
    pub decrypted_pending: usize,
    /// The backup held the user's identity keys, and this device is now confirmed with them.
    pub confirmed: bool,
}

/// The stored settings of an enabled backup.
struct Settings {
    key: BackupKey,
    kdf: Kdf,
}

fn settings(db: &Db<'_>) -> Result<Option<Settings>> {
    let (Some(key), Some(kdf)) = (db.meta(META_KEY)?, db.meta(META_KDF)?) else { return Ok(None) };
    let key = Zeroizing::new(key);
    let bytes = Zeroizing::new(
        // The decoder's error names the offending byte of the key: not kept.
        vodozemac::base64_decode(key.as_str()).map_err(|_| StoreError::malformed("meta", META_KEY))?,
    );
    let recovery = RecoveryKey::from_bytes(&bytes)?;
    let kdf = serde_json::from_str(&kdf).map_err(StoreError::json("meta", META_KDF))?;
    Ok(Some(Settings { key: BackupKey::derive(&recovery)?, kdf }))
}

fn save_settings(db: &Db<'_>, recovery: &RecoveryKey, kdf: &Kdf, version: u64) -> Result<()> {
    let key = Zeroizing::new(vodozemac::base64_encode(recovery.as_bytes()));
    db.set_meta(META_KEY, &key)?;
    db.set_meta(META_KDF, &serde_json::to_string(kdf).map_err(Error::encode("the key backup settings"))?)?;
    db.set_meta(META_VERSION, &version.to_string())?;
    db.delete_meta(META_ERROR)
}

impl Client {
    /// Turn on the server key backup with a new random recovery key, and upload every group key
    /// this device holds. Returns the recovery key text: show it to the user once (it is not
    /// stored and cannot be shown again). With `replace`, a backup made with another key is
    /// overwritten (keys only in it are lost); without, that is [`Error::KeyBackupExists`].
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn enable_key_backup(&self, replace: bool) -> Result<Zeroizing<String>> {
        let recovery = RecoveryKey::generate()?;
        self.enable_with(&recovery, Kdf::RecoveryKey, replace).await?;
        Ok(recovery.to_text())
    }

    /// Turn on the server key backup with a key derived from `passphrase` (argon2id; at least
    /// [`MIN_PASSPHRASE_CHARS`] characters), and upload every group key this device holds.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn enable_key_backup_with_passphrase(&self, passphrase: &str, replace: bool) -> Result<()> {
        if passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
            return Err(Error::InvalidInput(format!(
                "The backup passphrase must have at least {MIN_PASSPHRASE_CHARS} characters."
            )));
        }
        let params = Argon2Params::generate()?;
        let recovery = derive_from_passphrase(passphrase, &params).await?;
        self.enable_with(&recovery, Kdf::Argon2id(params), replace).await
    }

    async fn enable_with(&self, recovery: &RecoveryKey, kdf: Kdf, replace: bool) -> Result<()> {
        let key = BackupKey::derive(recovery)?;
        let user = self.inner.own.user_id.clone();
        let _one = self.inner.key_backup_lock.lock().await;
        self.transact(|m, db| m.keep_own_outbound_keys(db))?;
        for _ in 0..MAX_ATTEMPTS {
            let expected = match self.get_key_backup().await? {
                None => 0,
                Some(_) if !replace => return Err(Error::KeyBackupExists),
                Some(existing) => existing.version,
            };
            let sessions = self.transact(|m, db| m.export_group_sessions(db, BackupScope::All))?;
            let marks = marks(&sessions);
            let mut contents = Contents::default();
            contents.merge(sessions.into_iter().map(|(r, _)| r));
            if let Some(record) = self.read(cross_signing_record)? {
                contents.set_cross_signing(record);
            }
            contents.set_name_keys(self.read(crate::backup::name_key_records)?);
            let blob = blob::seal(&key, &kdf, &user, &contents)?;
            match self.put_key_backup(expected, blob).await? {
                Some(version) => {
                    self.transact(|_, db| {
                        save_settings(db, recovery, &kdf, version)?;
                        if contents.cross_signing().is_some() {
                            db.set_meta(META_IDENTITY, "1")?;
                        }
                        db.mark_backed_up(&marks)
                    })?;
                    tracing::info!(sessions = contents.len(), version, "key backup turned on");
                    return Ok(());
                }
                None => continue,
            }
        }
        Err(Error::Server {
            status: 409,
            code: ErrorCode::StaleVersion,
            message: "The key backup keeps changing on the server; try again.".into(),
            devices: None,
            users: None,
        })
    }

    /// How this device's key backup stands (local state only; no network).
    pub fn key_backup_status(&self) -> Result<KeyBackupStatus> {
        self.read(|db| {
            let kdf: Option<Kdf> = db.meta(META_KDF)?.and_then(|k| serde_json::from_str(&k).ok());
            let enabled = db.meta(META_KEY)?.is_some() && kdf.is_some();
            let (sessions, backed_up) = db.key_backup_counts()?;
            Ok(KeyBackupStatus {
                enabled,
                kind: kdf.map(|k| match k {
                    Kdf::RecoveryKey => KeyBackupKind::RecoveryKey,
                    Kdf::Argon2id(_) => KeyBackupKind::Passphrase,
                }),
                version: db.meta(META_VERSION)?.and_then(|v| v.parse().ok()),
                sessions,
                backed_up,
                error: db.meta(META_ERROR)?.as_deref().map(ErrorCode::parse),
            })
        })
    }

    /// Upload the group keys that are not in the backup yet, merged with what the backup holds.
    /// Returns the backup's new version, or `None` when backup is off or nothing was new.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn upload_key_backup(&self) -> Result<Option<u64>> {
        let _one = self.inner.key_backup_lock.lock().await;
        let Some(Settings { key, kdf }) = self.read(settings)? else { return Ok(None) };
        let user = self.inner.own.user_id.clone();
        self.transact(|m, db| m.keep_own_outbound_keys(db))?;
        let identity = self.read(cross_signing_record)?;
        let identity_backed_up = self.read(|db| db.meta(META_IDENTITY))?.is_some();
        if !self.read(|db| db.has_sessions_to_back_up())? && (identity.is_none() || identity_backed_up) {
            return Ok(None);
        }
        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(retry_delay(attempt)).await;
            }
            let (expected, mut contents, scope) = match self.get_key_backup().await? {
                // Gone from the server (deleted by hand, a new server): write everything again.
                None => (0, Contents::default(), BackupScope::All),
                Some(existing) => match blob::open(&key, &user, &existing.blob) {
                    Ok(contents) => (existing.version, contents, BackupScope::NotBackedUp),
                    Err(Error::WrongRecoveryKey) => return Err(self.stop_uploads(Error::KeyBackupReplaced)),
                    Err(e) => return Err(e),
                },
            };
            let uploading = self.transact(|m, db| m.export_group_sessions(db, scope))?;
            let marks = marks(&uploading);
            let mut added = contents.merge(uploading.into_iter().map(|(r, _)| r));
            if let Some(record) = self.read(cross_signing_record)? {
                added += usize::from(contents.set_cross_signing(record));
            }
            added += contents.set_name_keys(self.read(crate::backup::name_key_records)?);
            let blob = match blob::seal(&key, &kdf, &user, &contents) {
                Ok(blob) => blob,
                Err(e @ Error::KeyBackupTooLarge { .. }) => return Err(self.stop_uploads(e)),
                Err(e) => return Err(e),
            };
            if let Some(version) = self.put_key_backup(expected, blob).await? {
                self.transact(|_, db| {
                    db.mark_backed_up(&marks)?;
                    db.set_meta(META_VERSION, &version.to_string())?;
                    if contents.cross_signing().is_some() {
                        db.set_meta(META_IDENTITY, "1")?;
                    }
                    db.delete_meta(META_ERROR)
                })?;
                tracing::debug!(added, total = contents.len(), version, "key backup updated");
                return Ok(Some(version));
            }
            tracing::debug!(attempt, "the key backup changed meanwhile; merging again");
        }
        Err(Error::Server {
            status: 409,
            code: ErrorCode::StaleVersion,
            message: "The key backup keeps changing on the server; it will be retried.".into(),
            devices: None,
            users: None,
        })
    }

    /// Record why uploads stopped (shown by [`Client::key_backup_status`]) and return the error.
    fn stop_uploads(&self, e: Error) -> Error {
        tracing::warn!(code = %e.code(), "key backup uploads stopped");
        if let Err(store) = self.read(|db| db.set_meta(META_ERROR, e.code().as_str())) {
            tracing::warn!(error = %store, "could not record the key backup error");
        }
        e
    }

    /// Restore group keys from the server's key backup onto this device, then read the history
    /// of every group this user is in from the server and decrypt what the keys open. Messages
    /// whose key is not in the backup are kept as undecryptable with their reason (and decrypted
    /// if the key arrives later). This device then keeps the backup up to date too.
    ///
    /// A wrong key ([`Error::WrongRecoveryKey`], or [`Error::RecoveryKeyInvalid`] for a typo)
    /// changes nothing.
    pub async fn restore_key_backup(&self, secret: RecoverySecret<'_>) -> Result<KeyBackupRestore> {
        self.restore_key_backup_with(secret, &Progress::unobserved(), &CancellationToken::new()).await
    }

    /// [`Client::restore_key_backup`] reporting its progress — one unit for the keys, then one
    /// per group whose history is read — and stopping with [`Error::Cancelled`] when `cancel`
    /// fires. A cancel before the keys are in changes nothing; after that, the restored keys and
    /// the history read so far stay (both are complete records), and restoring again reads the
    /// rest.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn restore_key_backup_with(
        &self,
        secret: RecoverySecret<'_>,
        progress: &watch::Sender<Progress>,
        cancel: &CancellationToken,
    ) -> Result<KeyBackupRestore> {
        let backup = self.get_key_backup().await?.ok_or(Error::NoKeyBackup)?;
        let kdf = blob::read_kdf(&backup.blob)?;
        let recovery = match (secret, &kdf) {
            (RecoverySecret::RecoveryKey(text), _) => RecoveryKey::parse(text)?,
            (RecoverySecret::Passphrase(passphrase), Kdf::Argon2id(params)) => {
                derive_from_passphrase(passphrase, params).await?
            }
            // This backup has a random recovery key: no passphrase opens it.
            (RecoverySecret::Passphrase(_), Kdf::RecoveryKey) => return Err(Error::WrongRecoveryKey),
        };
        let key = BackupKey::derive(&recovery)?;
        let contents = blob::open(&key, &self.inner.own.user_id, &backup.blob)?;
        if cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        let mut summary = KeyBackupRestore { sessions: contents.len(), ..KeyBackupRestore::default() };
        // The user's identity keys confirm this device, if they are still the user's identity.
        if let Some(record) = contents.cross_signing() {
            summary.confirmed = self.adopt_backed_up_identity(record).await?;
        }

        let retried = {
            let _one = self.inner.key_backup_lock.lock().await;
            self.transact(|m, db| {
                for record in contents.name_keys() {
                    if let crate::backup::Record::GroupNameKey { group_id, key } = record
                        && let Ok(group) = sotto_proto::GroupId::parse(group_id.as_str())
                    {
                        super::group_log::learn_name_key(db, &group, key)?;
                    }
                }
                let mut imported = Vec::new();
                for record in contents.into_records() {
                    if let Some(session_id) = m.import_group_session(db, &record)? {
                        imported.push(session_id);
                    }
                }
                save_settings(db, &recovery, &kdf, backup.version)?;
                summary.imported = imported.len();
                retry_sessions(m, db, &imported)
            })?
        };
        summary.decrypted_pending =
            retried.events.iter().filter(|e| matches!(e, crate::ClientEvent::StatusChanged { .. })).count();
        self.emit_all(retried.events);
        tracing::info!(sessions = summary.sessions, imported = summary.imported, "key backup restored");

        let groups = self.fetch_groups().await?;
        let total = groups.len() as u64 + 1;
        Progress::publish(progress, 1, total);
        for group in groups {
            let (messages, undecryptable) = self.read_group_history(&group.group_id, cancel).await?;
            summary.groups += 1;
            summary.messages += messages;
            summary.undecryptable += undecryptable;
            Progress::publish(progress, summary.groups as u64 + 1, total);
        }
        // This device's own keys (if it already had some) go into the backup too.
        self.back_up_new_keys().await;
        Ok(summary)
    }

    /// Read the history of every group this user is in (after keys arrived from another device);
    /// a failure is logged: the history can be read again later.
    pub(crate) async fn read_all_group_history(&self) {
        let groups = match self.fetch_groups().await {
            Ok(groups) => groups,
            Err(e) => return tracing::warn!(error = %e, "could not list the groups to read their history"),
        };
        for group in groups {
            if let Err(e) = self.read_group_history(&group.group_id, &CancellationToken::new()).await {
                tracing::warn!(error = %e, "could not read a group's history");
            }
        }
    }

    /// Read a group's history from the server (what was sent while this user was a member, as far
    /// back as the server keeps it) and store what this device does not have yet, oldest first.
    /// Returns (messages stored, of which undecryptable).
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn fetch_group_history(&self, group: &GroupId) -> Result<(usize, usize)> {
        self.read_group_history(group, &CancellationToken::new()).await
    }

    /// [`Client::fetch_group_history`], stopping between pages and batches when `cancel` fires
    /// (what was stored by then stays: each batch is one transaction).
    async fn read_group_history(&self, group: &GroupId, cancel: &CancellationToken) -> Result<(usize, usize)> {
        let mut fetched = Vec::new();
        let mut before: Option<u64> = None;
        loop {
            if cancel.is_cancelled() {
                return Err(Error::Cancelled);
            }
            let query = HistoryQuery { before, limit: Some(HISTORY_PAGE) };
            let page = self.call_with_query::<routes::GroupHistory>(group, &query, &()).await?;
            let Some(oldest) = page.messages.last().map(|m| m.seq) else { break };
            fetched.extend(page.messages);
            if !page.more || fetched.len() >= MAX_HISTORY_MESSAGES || before.is_some_and(|b| oldest >= b) {
                break;
            }
            before = Some(oldest);
        }
        fetched.reverse();
        let entries: Vec<InboxEntry> = fetched
            .into_iter()
            .map(|m| InboxEntry {
                seq: m.seq,
                message_id: m.message_id,
                sender_user: m.sender_user,
                sender_device: m.sender_device,
                server_ts: m.server_ts,
                body: EntryBody::Group { group_id: group.clone(), ciphertext: m.ciphertext },
            })
            .collect();
        let (mut messages, mut undecryptable) = (0, 0);
        for batch in entries.chunks(HISTORY_BATCH) {
            if cancel.is_cancelled() {
                return Err(Error::Cancelled);
            }
            let processed = self.process_history(batch).await?;
            messages += processed.messages;
            undecryptable += processed.undecryptable;
            self.emit_all(processed.events);
        }
        tracing::info!(group = %group, messages, undecryptable, "group history read");
        Ok((messages, undecryptable))
    }

    /// New group keys may have been stored: back them up — soon, in one batch, when the background
    /// service runs; right away otherwise (the CLI). Failures are logged, never raised: the keys
    /// stay marked for the next attempt.
    pub(crate) async fn back_up_new_keys(&self) {
        let due = self.read(|db| Ok(db.meta(META_KEY)?.is_some() && db.has_sessions_to_back_up()?));
        match due {
            Ok(false) => {}
            Ok(true) if self.inner.started.load(std::sync::atomic::Ordering::Relaxed) => {
                self.inner.key_backup_wake.notify_one();
            }
            Ok(true) => {
                if let Err(e) = self.upload_key_backup().await {
                    tracing::warn!(code = %e.code(), error = %e, "could not update the key backup");
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the key backup state"),
        }
    }

    /// The background uploader: after new keys, wait [`UPLOAD_DELAY`] (so a burst of keys is one
    /// upload), then upload; transient failures are retried with backoff.
    pub(crate) async fn run_key_backup(&self) {
        let mut failures: u32 = 0;
        // Keys stored while no service ran.
        self.inner.key_backup_wake.notify_one();
        loop {
            tokio::select! {
                () = self.inner.key_backup_wake.notified() => {}
                () = self.inner.cancel.cancelled() => return,
            }
            tokio::select! {
                () = tokio::time::sleep(UPLOAD_DELAY) => {}
                () = self.inner.cancel.cancelled() => return,
            }
            match self.upload_key_backup().await {
                Ok(_) => failures = 0,
                Err(e) if e.is_transient() || e.server_code() == Some(ErrorCode::StaleVersion) => {
                    failures = failures.saturating_add(1);
                    tracing::info!(code = %e.code(), "key backup upload failed; retrying");
                    let delay = retry_delay(failures as usize).saturating_mul(10).min(Duration::from_secs(300));
                    tokio::select! {
                        () = tokio::time::sleep(delay) => self.inner.key_backup_wake.notify_one(),
                        () = self.inner.cancel.cancelled() => return,
                    }
                }
                Err(e) => tracing::warn!(code = %e.code(), error = %e, "key backup upload failed"),
            }
        }
    }

    /// `GET /v1/backup`; `None` when there is none.
    async fn get_key_backup(&self) -> Result<Option<Backup>> {
        match self.call::<routes::GetBackup>(&(), &()).await {
            Ok(backup) => Ok(Some(backup)),
            Err(e) if e.server_code() == Some(ErrorCode::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `PUT /v1/backup`; `None` when the backup is no longer at `expected` (read and merge again).
    async fn put_key_backup(&self, expected: u64, blob: String) -> Result<Option<u64>> {
        let body = PutBackupRequest { expected_version: expected, blob };
        match self.call::<routes::PutBackup>(&(), &body).await {
            Ok(v) => Ok(Some(v.version)),
            Err(e) if e.server_code() == Some(ErrorCode::StaleVersion) => Ok(None),
            Err(e) if e.server_code() == Some(ErrorCode::PayloadTooLarge) => {
                Err(Error::KeyBackupTooLarge { bytes: body.blob.len() as u64, sessions: 0 })
            }
            Err(e) => Err(e),
        }
    }
}

/// argon2id off the async threads (64 MiB, a fraction of a second).
async fn derive_from_passphrase(passphrase: &str, params: &Argon2Params) -> Result<RecoveryKey> {
    let passphrase = Zeroizing::new(passphrase.to_owned());
    let params = params.clone();
    tokio::task::spawn_blocking(move || RecoveryKey::from_passphrase(&passphrase, &params))
        .await
        .map_err(CryptoError::KeyDerivationStopped)?
}

/// (session id, sender key, first index) of each exported session: what to mark as backed up.
/// This user's private cross-signing keys as a backup record, when this device holds them.
fn cross_signing_record(db: &Db<'_>) -> Result<Option<crate::backup::Record>> {
    Ok(db.cross_signing()?.map(|s| crate::backup::Record::CrossSigning {
        master: s.master.to_string(),
        self_signing: s.self_signing.to_string(),
        user_signing: s.user_signing.to_string(),
    }))
}

fn marks(sessions: &[(crate::backup::Record, u32)]) -> Vec<(String, String, u32)> {
    sessions
        .iter()
        .filter_map(|(r, first)| match r {
            crate::backup::Record::InboundGroupSession { session_id, sender_curve, .. } => {
                Some((session_id.clone(), sender_curve.clone(), *first))
            }
            _ => None,
        })
        .collect()
}

/// 100 ms, 200 ms, 400 ms ... up to 3.2 s, with jitter so two devices do not retry in step.
fn retry_delay(attempt: usize) -> Duration {
    let base = 100u64.saturating_mul(1 << attempt.min(5));
    let mut byte = [0u8; 1];
    let jitter = if getrandom::fill(&mut byte).is_ok() { base * u64::from(byte[0]) / 256 } else { 0 };
    Duration::from_millis(base + jitter)
}
