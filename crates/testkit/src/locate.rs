//! Finding a workspace binary and a free loopback port.
//!
//! A binary is the path the caller gives, else the one named by `SOTTO_<NAME>_BIN`, else the one
//! cargo built beside the running executable: benchmarks live in `target/<profile>/`, test
//! executables one level down in `target/<profile>/deps/`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};

use crate::LaunchError;

/// The variable that overrides where `name` is found: `sotto-server` → `SOTTO_SOTTO_SERVER_BIN`
/// (the name the end-to-end harness has always read).
pub fn override_var(name: &str) -> String {
    format!("SOTTO_{}_BIN", name.to_uppercase().replace('-', "_"))
}

/// `explicit`, or `$SOTTO_<NAME>_BIN`, or `name` in the running executable's target directory.
/// The file must exist.
pub fn locate(name: &str, explicit: Option<&Path>) -> Result<PathBuf, LaunchError> {
    let var = override_var(name);
    let path = match (explicit, std::env::var_os(&var)) {
        (Some(path), _) => path.to_path_buf(),
        (None, Some(path)) => PathBuf::from(path),
        (None, None) => target_dir()?.join(format!("{name}{}", std::env::consts::EXE_SUFFIX)),
    };
    if path.is_file() { Ok(path) } else { Err(LaunchError::Missing { name: name.to_owned(), path, var }) }
}

/// Where cargo put the binaries of the build the running executable belongs to.
fn target_dir() -> Result<PathBuf, LaunchError> {
    let exe = std::env::current_exe().map_err(LaunchError::io("locating the running executable"))?;
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.pop();
    }
    Ok(dir)
}

/// A loopback port nobody listened on a moment ago. Another process can take it before the
/// caller binds it; [`crate::Launch`] retries with another port when that happens.
pub fn free_port() -> Result<u16, LaunchError> {
    let probe = TcpListener::bind("127.0.0.1:0").map_err(LaunchError::io("binding a probe socket"))?;
    Ok(probe.local_addr().map_err(LaunchError::io("reading the probe socket's address"))?.port())
}

#[cfg(test)]
mod tests {
    use super::override_var;

    #[test]
    fn override_variables_keep_the_names_the_e2e_harness_read() {
        assert_eq!(override_var("sotto-server"), "SOTTO_SOTTO_SERVER_BIN");
        assert_eq!(override_var("sotto"), "SOTTO_SOTTO_BIN");
        assert_eq!(override_var("sotto-app"), "SOTTO_SOTTO_APP_BIN");
    }
}
