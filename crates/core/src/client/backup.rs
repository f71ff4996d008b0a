//! Backup files from the client's side: exporting this profile, and restoring one into a new
//! profile directory (the file format itself is in [`crate::backup`]).
//!
//! A restore never reuses a token from the file: refresh tokens rotate, and presenting a stale
//! one makes the server sign the device out. It signs in with the account password instead: as
//! the same device when the server still has it (the server revokes that device's earlier
//! tokens and unclaimed one-time keys), else as a new device, which keeps the history, contacts,
//! groups and group keys but not the old device's account and Olm sessions. Restored Olm
//! sessions only decrypt; new ones are started with every peer device right away (see
//! [`super::renew`]).
//!
//! Invariants: an export never overwrites a file and leaves no partial file behind; a restore
//! only ever creates a new profile and removes everything it created if it fails or is
//! cancelled before the server knows about it.

use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use sotto_proto::routes;
use sotto_proto::{DeviceAddress, ErrorCode, LoginRequest, Session, UserId};
use zeroize::Zeroizing;

use super::renew::Renew;
use super::{Client, Fallback, META_ACCESS, META_DEVICE, META_INBOX_SEQ, META_KEYS_PUBLISHED, META_REFRESH, META_USER};
use crate::api::Api;
use crate::backup::{self, BackupError, BackupSummary, Header, Imported, Owner};
use crate::crypto::Machine;
use crate::profile::{self, KeyOptions, ProfileInfo, ProfileKey, ProfileLock, ProfilePaths};
use crate::progress::{CancellationToken, Progress, watch};
use crate::store::{Db, OpenMode, Store};
use crate::{Error, Result};

/// What to restore, and the account to sign in to.
pub struct Restore<'a> {
    pub file: &'a Path,
    pub backup_passphrase: &'a str,
    /// The server's address (it may have changed since the backup was made).
    pub server: &'a str,
    /// How the server's certificate is trusted (see [`crate::SignIn::trust`]).
    pub trust: crate::ServerTrust,
    /// Must be the account the backup belongs to.
    pub user_id: &'a str,
    /// The account password: a restore signs in afresh and never uses tokens from the file.
    pub password: &'a str,
}

impl std::fmt::Debug for Restore<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Restore")
            .field("file", &self.file)
            .field("server", &self.server)
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

/// A restored profile the server does not know about yet.
struct Staged {
    dir: PathBuf,
    dir_existed: bool,
    lock: ProfileLock,
    info: ProfileInfo,
    key: ProfileKey,
    store: Store,
    header: Header,
    imported: Imported,
}

impl Staged {
    fn discard(self) {
        let Staged { dir, dir_existed, lock, info, store, .. } = self;
        drop(store);
        profile::discard_new(&dir, lock, Some(&info), dir_existed);
    }
}

/// When this profile last wrote a backup file (ms since the epoch); kept in the profile only.
const META_LAST_BACKUP: &str = "last_backup_at";

impl Client {
    /// When this profile last wrote a complete backup file (ms since the epoch), if ever.
    pub fn last_backup_at(&self) -> Result<Option<i64>> {
        Ok(self.read(|db| db.meta(META_LAST_BACKUP))?.and_then(|v| v.parse().ok()))
    }

    /// Write this profile's backup to `path`, encrypted with `passphrase` (age, scrypt). Never
    /// overwrites a file: `path` must not exist. Progress counts records; on an error or when
    /// `cancel` fires, the partial file is removed.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn export_backup(
        &self,
        path: &Path,
        passphrase: &str,
        progress: &watch::Sender<Progress>,
        cancel: &CancellationToken,
    ) -> Result<BackupSummary> {
        if passphrase.is_empty() {
            return Err(Error::InvalidInput("The backup passphrase must not be empty.".into()));
        }
        if path.exists() {
            return Err(Error::FileExists(path.display().to_string()));
        }
        let (client, path, passphrase) = (self.clone(), path.to_owned(), Zeroizing::new(passphrase.to_owned()));
        let (progress, cancel) = (progress.clone(), cancel.clone());
        tokio::task::spawn_blocking(move || client.export_blocking(&path, &passphrase, &progress, &cancel))
            .await
            .map_err(|e| Error::Io(std::io::Error::other(e.to_string())))?
    }

    fn export_blocking(
        &self,
        path: &Path,
        passphrase: &str,
        progress: &watch::Sender<Progress>,
        cancel: &CancellationToken,
    ) -> Result<BackupSummary> {
        let name = path
            .file_name()
            .ok_or_else(|| Error::InvalidInput(format!("{} is not a file name", path.display())))?
            .to_string_lossy()
            .into_owned();
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let tmp = parent.join(format!(".{name}.{}.partial", uuid::Uuid::new_v4().simple()));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&tmp)?;
        let result = (|| {
            let mut conn = Store::open_reader(&ProfilePaths::new(&self.inner.dir).database(), &self.inner.key)?;
            let pickle_key = self.inner.key.pickle_key()?;
            let owner = Owner {
                user_id: self.inner.own.user_id.as_str(),
                device_id: self.inner.own.device_id.as_str(),
                server: self.inner.api.base(),
            };
            let (summary, out) = backup::write_backup(
                &mut conn,
                &pickle_key,
                &ProfilePaths::new(&self.inner.dir).files(),
                &owner,
                BufWriter::new(file),
                passphrase,
                progress,
                cancel,
            )?;
            let file = out.into_inner().map_err(|e| Error::Io(e.into_error()))?;
            file.sync_all()?;
            let bytes = file.metadata()?.len();
            drop(file);
            publish_new(&tmp, path)?;
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
            // The file is complete; failing to remember when is not worth failing the export.
            if let Err(e) = self.read(|db| db.set_meta(META_LAST_BACKUP, &now.to_string())) {
                tracing::warn!(error = %e, "could not record the time of the backup");
            }
            Ok(BackupSummary { bytes, ..summary })
        })();
        if result.is_err()
            && let Err(e) = std::fs::remove_file(&tmp)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(error = %e, "could not remove a partial backup file");
        }
        result
    }

    /// Restore a backup file into a new profile in `dir` and sign in (see the module docs).
    /// `dir` must not hold a profile; on an error or when `cancel` fires before the server was
    /// asked, everything created is removed again.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn restore_backup(
        dir: &Path,
        restore: Restore<'_>,
        keys: KeyOptions,
        progress: &watch::Sender<Progress>,
        cancel: &CancellationToken,
    ) -> Result<Client> {
        let api = Api::new(restore.server, restore.trust)?;
        let user_id = UserId::parse(restore.user_id).map_err(|e| Error::InvalidInput(e.to_string()))?;
        if profile::exists(dir) {
            return Err(Error::ProfileExists(dir.display().to_string()));
        }
        let staged = {
            let (dir, file) = (dir.to_owned(), restore.file.to_owned());
            let passphrase = Zeroizing::new(restore.backup_passphrase.to_owned());
            let (progress, cancel, user) = (progress.clone(), cancel.clone(), user_id.clone());
            tokio::task::spawn_blocking(move || stage(&dir, &file, &passphrase, &user, &keys, &progress, &cancel))
                .await
                .map_err(|e| Error::Io(std::io::Error::other(e.to_string())))??
        };
        if cancel.is_cancelled() {
            staged.discard();
            return Err(Error::Cancelled);
        }
        // Sign the same device in again when the file holds its account; else a new device.
        let same_device = match staged.imported.has_account {
            true => Some(
                sotto_proto::DeviceId::parse(staged.header.device_id.as_str())
                    .map_err(|e| Error::from(BackupError::DeviceId(e))),
            )
            .transpose(),
            false => Ok(None),
        };
        let device_id = match same_device {
            Ok(d) => d,
            Err(e) => {
                staged.discard();
                return Err(e);
            }
        };
        let login = |device_id| LoginRequest {
            user_id: user_id.clone(),
            password: restore.password.to_owned(),
            device_name: None,
            device_id,
        };
        let mut resumed = device_id.is_some();
        let mut session: Result<Session> = api.call::<routes::Login>(&(), &(), None, &login(device_id)).await;
        if resumed && matches!(&session, Err(e) if e.server_code() == Some(ErrorCode::NotFound)) {
            tracing::info!("the backed-up device no longer exists; restoring as a new device");
            resumed = false;
            session = api.call::<routes::Login>(&(), &(), None, &login(None)).await;
        }
        let session = match session {
            Ok(s) => s,
            Err(e) => {
                staged.discard();
                return Err(e);
            }
        };
        // From here on the server knows this device: keep the profile whatever happens next.
        let client = finish(dir, staged, api, session, resumed)?;
        if resumed {
            if let Err(e) = client.upload_keys(Fallback::Replace).await {
                tracing::warn!(error = %e, "could not replace the one-time and fallback keys after a restore");
            }
            let devices = client.read(|db| db.active_devices())?;
            match client.renew_sessions(&devices, Renew::All).await {
                Ok(n) => tracing::info!(devices = n, "started new sessions after a restore"),
                Err(e) => tracing::warn!(error = %e, "could not start new sessions after a restore"),
            }
        } else if let Err(e) = client.publish_keys().await {
            tracing::warn!(error = %e, "could not publish the new device's keys; the next sync retries");
        }
        Ok(client)
    }
}

/// Make the new profile from the file: check the header first (nothing is created for a wrong
/// passphrase, a newer format, or another file), then load every record in one transaction.
fn stage(
    dir: &Path,
    file: &Path,
    passphrase: &str,
    user: &UserId,
    keys: &KeyOptions,
    progress: &watch::Sender<Progress>,
    cancel: &CancellationToken,
) -> Result<Staged> {
    let input = std::fs::File::open(file)?;
    let (header, mut reader) = backup::open_backup(BufReader::new(input), passphrase)?;
    if header.user_id != user.as_str() {
        return Err(Error::InvalidInput(format!(
            "This backup belongs to {}, not {user}; sign in as {} to restore it.",
            header.user_id, header.user_id
        )));
    }
    let dir_existed = dir.exists();
    let lock = profile::lock(dir)?;
    let (info, key) = match profile::create(dir, &lock, keys) {
        Ok(created) => created,
        Err(e) => {
            // An existing profile is left exactly as it was (only our lock file goes, if new).
            let existing = matches!(e, Error::ProfileExists(_));
            if existing {
                drop(lock);
            } else {
                profile::discard_new(dir, lock, None, dir_existed);
            }
            return Err(e);
        }
    };
    let loaded = (|| {
        let mut store = Store::open(&ProfilePaths::new(dir).database(), &key, OpenMode::Create)?;
        let pickle_key = key.pickle_key()?;
        let imported = store.transaction(|db| {
            let files = ProfilePaths::new(dir).files();
            backup::load_records(&mut reader, &header, db, &pickle_key, &files, progress, cancel)
        })?;
        Ok::<_, Error>((store, imported))
    })();
    match loaded {
        Ok((store, imported)) => {
            Ok(Staged { dir: dir.to_owned(), dir_existed, lock, info, key, store, header, imported })
        }
        Err(e) => {
            profile::discard_new(dir, lock, Some(&info), dir_existed);
            Err(e)
        }
    }
}

/// Record the session in the restored profile and open it as a client.
fn finish(dir: &Path, staged: Staged, api: Api, session: Session, resumed: bool) -> Result<Client> {
    let Staged { lock, info, key, mut store, .. } = staged;
    let own = DeviceAddress { user_id: session.user_id.clone(), device_id: session.device_id.clone() };
    let pickle_key = key.pickle_key()?;
    let fresh = (!resumed).then(|| Machine::create(own.clone(), pickle_key.clone()));
    store.transaction(|db: &Db<'_>| {
        super::save_server(db, &api)?;
        db.set_meta(META_USER, own.user_id.as_str())?;
        db.set_meta(META_DEVICE, own.device_id.as_str())?;
        db.set_meta(META_ACCESS, &session.access_token)?;
        db.set_meta(META_REFRESH, &session.refresh_token)?;
        match &fresh {
            // The server has this device's identity keys already.
            None => db.set_meta(META_KEYS_PUBLISHED, "1")?,
            Some(machine) => {
                db.forget_device_identity()?;
                db.delete_meta(META_INBOX_SEQ)?;
                db.delete_meta(META_KEYS_PUBLISHED)?;
                machine.save_account(db)?;
            }
        }
        db.index_pending()?;
        Ok(())
    })?;
    let machine = match fresh {
        Some(machine) => machine,
        None => Machine::load(&store.db(), own.clone(), pickle_key)?,
    };
    profile::commit(dir, &info)?;
    Client::assemble(dir, lock, key, info, api, own, store, machine)
}

/// Move the finished file to `path` without ever replacing a file there: a hard link fails if
/// `path` exists. Where links are not supported, check and rename.
fn publish_new(tmp: &Path, path: &Path) -> Result<()> {
    match std::fs::hard_link(tmp, path) {
        Ok(()) => {
            std::fs::remove_file(tmp)?;
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(Error::FileExists(path.display().to_string())),
        Err(_) if path.exists() => Err(Error::FileExists(path.display().to_string())),
        Err(_) => Ok(std::fs::rename(tmp, path)?),
    }
}
