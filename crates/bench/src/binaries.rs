//! Finding the other programs a benchmark runs (the CLI, the app): next to the bench itself
//! unless a path was given (`sotto_testkit::locate`).

use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// `explicit`, or the executable `name` in the bench's own directory; it must exist.
pub fn sibling(name: &str, explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    sotto_testkit::locate(name, explicit).context("build it first (see --help) or pass its path")
}
