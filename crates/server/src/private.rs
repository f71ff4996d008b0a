//! Owner-only permissions for everything the server keeps in its data directory: the directory is
//! 0700 and its files (the database, its WAL and shared-memory files, the token signing key) 0600,
//! whatever the umask. The database holds password hashes and refresh-token hashes, the key signs
//! every access token: no other local user may read them.
//!
//! Modes are set explicitly rather than left to the umask, and a directory or file found looser
//! at start (made by an older server, restored from a backup, copied by hand) is tightened, with a
//! warning in the log. On other platforms than Unix these are plain creates.

use std::io;
use std::path::Path;

/// The data directory's mode.
const DIR_MODE: u32 = 0o700;
/// The mode of every file in the data directory.
const FILE_MODE: u32 = 0o600;

/// Creates `dir` (with any missing parents, also owner-only) or, if it exists, takes every
/// permission away from group and others.
pub fn create_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, DIR_MODE);
    builder.create(dir)?;
    tighten(dir, DIR_MODE)
}

/// Takes every permission away from group and others on `path` if it exists (a file SQLite or an
/// older server created); a missing file is not an error.
pub fn tighten_file(path: &Path) -> io::Result<()> {
    match tighten(path, FILE_MODE) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Creates `path` empty with an owner-only mode unless it exists, then tightens it. SQLite gives
/// the WAL and shared-memory files it creates the mode of the database file, so creating that
/// file first is what keeps them private too.
pub fn create_file(path: &Path) -> io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, FILE_MODE);
    options.open(path)?;
    tighten(path, FILE_MODE)
}

/// Writes `bytes` to `path` (replacing what was there) with an owner-only mode, and flushes it
/// to disk.
pub fn write_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, FILE_MODE);
    let mut file = options.open(path)?;
    tighten(path, FILE_MODE)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Sets `path` to `mode` if group or others have any permission on it, and says so in the log.
#[cfg(unix)]
fn tighten(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let found = std::fs::metadata(path)?.permissions().mode() & 0o7777;
    if found & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
        tracing::warn!(
            path = %path.display(),
            from = format!("{found:04o}"),
            to = format!("{mode:04o}"),
            "tightened permissions: other local users could read the server's data"
        );
    }
    Ok(())
}

#[cfg(not(unix))]
fn tighten(_path: &Path, _mode: u32) -> io::Result<()> {
    Ok(())
}
