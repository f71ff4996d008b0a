//! Finding the other programs a benchmark runs (the CLI, the app): next to the bench itself
//! unless a path was given.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, ensure};

/// `explicit`, or the executable `name` in the bench's own directory; it must exist.
pub fn sibling(name: &str, explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => std::env::current_exe()?
            .parent()
            .context("this executable has no directory")?
            .join(format!("{name}{}", std::env::consts::EXE_SUFFIX)),
    };
    ensure!(path.is_file(), "{} not found; build it first (see --help) or pass its path", path.display());
    Ok(path)
}
