//! What can go wrong finding, starting, watching or signalling the server process. Every
//! variant that concerns a running process carries that run's log (its start and end when it is
//! long), so a failure is readable without opening the temporary directory (gone by then).

use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LaunchError {
    /// The binary is not where it was looked for (the caller's path, the override variable, or
    /// the target directory of the running executable).
    #[error("{name} not found at {}: build it first, or give its path in {var}", path.display())]
    Missing { name: String, path: PathBuf, var: String },
    /// A file, directory, socket or process operation failed (`what` says which).
    #[error("{what}: {error}")]
    Io { what: String, error: std::io::Error },
    /// The HTTP client for the health check could not be built.
    #[error("cannot build the health-check HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    /// The process ended: at start (a bad flag, a port taken, a database it refuses), or while it
    /// should have been serving.
    #[error("sotto-server exited ({status}); its log:\n{log}")]
    Exited { status: ExitStatus, log: String },
    /// The process kept running but did not answer `GET /healthz` with 200 in time.
    #[error("sotto-server did not answer /healthz within {} s; its log:\n{log}", waited.as_secs())]
    Unhealthy { waited: Duration, log: String },
    /// No process: it was killed or it exited, and was not started again.
    #[error("sotto-server is not running")]
    NotRunning,
    /// A signal could not be delivered.
    #[cfg(unix)]
    #[error("cannot signal sotto-server: {0}")]
    Signal(#[from] nix::errno::Errno),
}

impl LaunchError {
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> LaunchError {
        let what = what.into();
        move |error| LaunchError::Io { what, error }
    }
}
