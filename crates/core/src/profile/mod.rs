//! A profile: one directory per (server, user, device) holding `profile.json` (no secrets: the
//! profile's id and how its key is protected), the SQLCipher database `sotto.db`, and optionally
//! `key.wrapped` (the key under a passphrase).
//!
//! Invariant: nothing here ever deletes, overwrites or re-creates an existing profile's key or
//! database. Creating refuses a directory that already holds one; opening with an unavailable
//! keychain or a wrong passphrase is an error that leaves every file as it was.

mod error;
mod key;

use std::io::Write as _;
use std::path::{Path, PathBuf};

pub use error::ProfileError;
pub use key::ProfileKey;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

const PROFILE_FILE: &str = "profile.json";
const DATABASE_FILE: &str = "sotto.db";
const WRAPPED_KEY_FILE: &str = "key.wrapped";
const LOCK_FILE: &str = "lock";

/// How the profile key is kept, as written in `profile.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProfileInfo {
    pub version: u32,
    /// Random id; names the keychain entry.
    pub id: String,
    /// The key is in the OS keychain.
    pub keychain: bool,
    /// The key is also wrapped with a passphrase in `key.wrapped`.
    pub passphrase: bool,
}

/// How to protect a new profile's key.
#[derive(Default)]
pub struct KeyOptions {
    /// Keep the key in the OS keychain (the default). When the keychain does not work and a
    /// passphrase is given, the passphrase alone protects the key.
    pub no_keychain: bool,
    /// Also wrap the key with this passphrase, so the profile opens without the keychain.
    pub passphrase: Option<String>,
}

impl std::fmt::Debug for KeyOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyOptions").field("no_keychain", &self.no_keychain).finish_non_exhaustive()
    }
}

pub(crate) struct ProfilePaths {
    pub dir: PathBuf,
}

impl ProfilePaths {
    pub fn new(dir: &Path) -> Self {
        Self { dir: dir.to_path_buf() }
    }
    pub fn info(&self) -> PathBuf {
        self.dir.join(PROFILE_FILE)
    }
    pub fn database(&self) -> PathBuf {
        self.dir.join(DATABASE_FILE)
    }
    /// Files of messages, each kept encrypted under its own key (which is in the database).
    pub fn files(&self) -> PathBuf {
        self.dir.join("files")
    }
    pub fn wrapped_key(&self) -> PathBuf {
        self.dir.join(WRAPPED_KEY_FILE)
    }
}

/// Exclusive use of a profile directory by one process: a second process would hold its own copy
/// of the account and tokens, and two copies diverge (a refresh token spent twice makes the server
/// sign the device out). Released when dropped.
pub(crate) struct ProfileLock {
    _file: std::fs::File,
}

/// Take the profile's lock, creating the directory if needed.
pub(crate) fn lock(dir: &Path) -> Result<ProfileLock> {
    std::fs::create_dir_all(dir)?;
    let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(dir.join(LOCK_FILE))?;
    match file.try_lock() {
        Ok(()) => Ok(ProfileLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::ProfileInUse(dir.display().to_string())),
        Err(std::fs::TryLockError::Error(e)) => Err(e.into()),
    }
}

/// Whether the profile in `dir` also opens with a passphrase (without the keychain).
pub fn has_passphrase(dir: &Path) -> bool {
    ProfilePaths::new(dir).wrapped_key().exists()
}

/// Whether `dir` holds a profile.
pub fn exists(dir: &Path) -> bool {
    let paths = ProfilePaths::new(dir);
    paths.info().exists() || paths.database().exists()
}

/// Create the key of a new profile in `dir` (whose lock the caller holds). The database is
/// created by the caller.
pub(crate) fn create(dir: &Path, _lock: &ProfileLock, options: &KeyOptions) -> Result<(ProfileInfo, ProfileKey)> {
    let paths = ProfilePaths::new(dir);
    if exists(dir) {
        return Err(Error::ProfileExists(dir.display().to_string()));
    }
    restrict_dir(dir)?;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let key = ProfileKey::generate()?;
    let keychain = if options.no_keychain {
        false
    } else {
        match key.save_to_keychain(&id) {
            Ok(()) => true,
            Err(e) if options.passphrase.is_some() => {
                tracing::warn!(error = %e, "keychain unavailable; the profile key is protected by the passphrase alone");
                false
            }
            Err(e) => return Err(e),
        }
    };
    if !keychain && options.passphrase.is_none() {
        return Err(Error::PassphraseRequired);
    }
    if let Some(passphrase) = &options.passphrase {
        key.save_wrapped(&paths.wrapped_key(), &id, passphrase)?;
    }
    let info = ProfileInfo { version: 1, id, keychain, passphrase: options.passphrase.is_some() };
    Ok((info, key))
}

/// Record the profile as complete (after its database exists).
pub(crate) fn commit(dir: &Path, info: &ProfileInfo) -> Result<()> {
    let json = serde_json::to_vec_pretty(info).map_err(Error::encode("profile.json"))?;
    write_atomic(&ProfilePaths::new(dir).info(), &json)
}

/// Read `profile.json` and get the key: from the keychain, else with the passphrase.
pub(crate) fn unlock(dir: &Path, _lock: &ProfileLock, passphrase: Option<&str>) -> Result<(ProfileInfo, ProfileKey)> {
    let paths = ProfilePaths::new(dir);
    let raw = match std::fs::read(paths.info()) {
        Ok(raw) => raw,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Error::NoProfile(dir.display().to_string())),
        Err(e) => return Err(e.into()),
    };
    let info: ProfileInfo = serde_json::from_slice(&raw).map_err(ProfileError::Info)?;
    if info.version != 1 {
        return Err(Error::ProfileTooNew { found: i64::from(info.version), known: 1 });
    }
    // A passphrase the user typed wins: it also works when the keychain is fine.
    if let (true, Some(passphrase)) = (info.passphrase, passphrase) {
        let key = ProfileKey::load_wrapped(&paths.wrapped_key(), &info.id, passphrase)?;
        return Ok((info, key));
    }
    if info.keychain {
        match ProfileKey::load_from_keychain(&info.id) {
            Ok(key) => return Ok((info, key)),
            Err(e) if info.passphrase => {
                tracing::info!(error = %e, "keychain unavailable; the profile needs its passphrase");
                return Err(Error::PassphraseRequired);
            }
            Err(e) => return Err(e),
        }
    }
    Err(Error::PassphraseRequired)
}

/// Add or replace the passphrase that wraps the key of an unlocked profile.
pub(crate) fn set_passphrase(dir: &Path, info: &mut ProfileInfo, key: &ProfileKey, passphrase: &str) -> Result<()> {
    key.save_wrapped(&ProfilePaths::new(dir).wrapped_key(), &info.id, passphrase)?;
    if !info.passphrase {
        info.passphrase = true;
        commit(dir, info)?;
    }
    Ok(())
}

/// Remove a profile (whose lock the caller holds): its files, then its keychain entry.
pub(crate) fn remove(dir: &Path, _lock: &ProfileLock, info: &ProfileInfo) -> Result<()> {
    let paths = ProfilePaths::new(dir);
    for path in [
        paths.database(),
        paths.dir.join("sotto.db-wal"),
        paths.dir.join("sotto.db-shm"),
        paths.wrapped_key(),
        paths.info(),
    ] {
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
    }
    match std::fs::remove_dir_all(paths.files()) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e.into()),
    }
    if info.keychain {
        ProfileKey::delete_from_keychain(&info.id)?;
    }
    Ok(())
}

/// Undo a profile creation that did not finish (a failed or cancelled restore): its files and
/// keychain entry, the lock file, and the directory itself when this call's caller created it
/// (`dir_existed` false) and nothing else is in it.
pub(crate) fn discard_new(dir: &Path, lock: ProfileLock, info: Option<&ProfileInfo>, dir_existed: bool) {
    let result = match info {
        Some(info) => remove(dir, &lock, info),
        None => Ok(()),
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, "could not remove a half-created profile");
    }
    drop(lock);
    if let Err(e) = std::fs::remove_file(dir.join(LOCK_FILE))
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(error = %e, "could not remove the lock file of a half-created profile");
    }
    if !dir_existed {
        // Fails (and keeps the directory) if anything else is in it.
        let _ = std::fs::remove_dir(dir);
    }
}

/// Write a file via a temporary file and a rename, readable by the owner only.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    Ok(())
}

fn restrict_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    let _ = dir;
    Ok(())
}
