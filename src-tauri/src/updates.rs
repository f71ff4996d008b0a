//! Updates through tauri-plugin-updater: a JSON manifest names the new version and, per
//! platform, the package's address and its minisign signature. Nothing is installed unless the
//! signature verifies with Sotto's release key, and the signature's trusted comment names the
//! version the manifest announces (`requireSignedVersion`): the manifest itself is not signed,
//! so this is what stops a tampered manifest from pairing a new version number with an older,
//! genuinely signed package, or any package with a forged signature.
//!
//! The release key and the manifest's address are fixed when a release is built
//! (`SOTTO_UPDATE_PUBKEY`, the base64 minisign public key `tauri signer generate` prints, and
//! `SOTTO_UPDATE_ENDPOINT`, read by `option_env!`). A build without them does not look for
//! updates, and says so: packages from a distribution's repository are updated by its package
//! manager. Debug builds (never released) also read both from the environment at run time, so
//! the app-window tests exercise the real plugin against a key and a manifest of their own;
//! `SOTTO_UPDATE_TARGET` there names the file an update replaces instead of the running binary.

use std::sync::Mutex;

use serde::Serialize;
use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_updater::{Update, UpdaterExt};
use ts_rs::TS;

use crate::error::{CommandError, CommandResult, ErrorCode};

/// Where updates come from and the key their packages are signed with.
#[derive(Debug, Clone)]
struct Source {
    endpoint: tauri::Url,
    pubkey: String,
    /// Debug builds only: the file an update replaces (tests).
    target: Option<std::path::PathBuf>,
}

fn setting(name: &str, built_in: Option<&'static str>) -> Option<String> {
    #[cfg(debug_assertions)]
    if let Ok(value) = std::env::var(name) {
        return Some(value);
    }
    let _ = name;
    built_in.map(str::to_owned)
}

fn source() -> CommandResult<Option<Source>> {
    let endpoint = setting("SOTTO_UPDATE_ENDPOINT", option_env!("SOTTO_UPDATE_ENDPOINT")).filter(|s| !s.is_empty());
    let pubkey = setting("SOTTO_UPDATE_PUBKEY", option_env!("SOTTO_UPDATE_PUBKEY")).filter(|s| !s.is_empty());
    let (Some(endpoint), Some(pubkey)) = (endpoint, pubkey) else {
        return Ok(None);
    };
    let endpoint = endpoint.parse().map_err(|e| {
        CommandError::new(ErrorCode::UpdateFailed, format!("This build's update address is not valid: {e}"))
    })?;
    #[cfg(debug_assertions)]
    let target = std::env::var_os("SOTTO_UPDATE_TARGET").map(std::path::PathBuf::from);
    #[cfg(not(debug_assertions))]
    let target = None;
    Ok(Some(Source { endpoint, pubkey, target }))
}

/// What a check for updates found.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum UpdateCheck {
    /// This build has no update source (see the module docs).
    NotConfigured {
        current: String,
    },
    UpToDate {
        current: String,
    },
    Available {
        current: String,
        version: String,
        notes: Option<String>,
    },
}

/// The update found by the last check, kept for [`install`].
#[derive(Default)]
pub struct Pending(Mutex<Option<Update>>);

pub async fn check<R: Runtime>(app: &AppHandle<R>) -> CommandResult<UpdateCheck> {
    let current = app.package_info().version.to_string();
    let Some(source) = source()? else {
        return Ok(UpdateCheck::NotConfigured { current });
    };
    let mut builder = app.updater_builder().pubkey(source.pubkey).endpoints(vec![source.endpoint]).map_err(failed)?;
    if let Some(target) = &source.target {
        builder = builder.executable_path(target);
    }
    let found = builder.build().map_err(failed)?.check().await.map_err(failed)?;
    let answer = match &found {
        None => UpdateCheck::UpToDate { current },
        Some(update) => UpdateCheck::Available { current, version: update.version.clone(), notes: update.body.clone() },
    };
    if let Some(pending) = app.try_state::<Pending>()
        && let Ok(mut slot) = pending.0.lock()
    {
        *slot = found;
    }
    Ok(answer)
}

/// Download the update the last check found, verify its signature, and install it; it runs
/// from the next start. `progress` gets the bytes downloaded and the total when known.
pub async fn install<R: Runtime>(app: &AppHandle<R>, mut progress: impl FnMut(u64, Option<u64>)) -> CommandResult<()> {
    let update = app
        .try_state::<Pending>()
        .and_then(|p| p.0.lock().ok().and_then(|mut slot| slot.take()))
        .ok_or_else(|| CommandError::new(ErrorCode::UpdateFailed, "Check for updates first."))?;
    let mut received = 0u64;
    let bytes = update
        .download(
            |chunk, total| {
                received += chunk as u64;
                progress(received, total);
            },
            || {},
        )
        .await
        .map_err(failed)?;
    tracing::info!(version = %update.version, bytes = bytes.len(), "update downloaded and its signature verified");
    // Replacing the installed files is blocking work (and on Windows starts the installer).
    tokio::task::spawn_blocking(move || update.install(bytes))
        .await
        .map_err(|e| CommandError::new(ErrorCode::UpdateFailed, e.to_string()))?
        .map_err(failed)?;
    tracing::info!("update installed; it runs from the next start");
    Ok(())
}

/// The updater's error in the app's shape: a signature that does not verify (or a manifest
/// that does not match what was signed) is `update_refused`; anything else `update_failed`.
fn failed(e: tauri_plugin_updater::Error) -> CommandError {
    use tauri_plugin_updater::Error as E;
    match e {
        E::Minisign(_)
        | E::SignatureUtf8(_)
        | E::Base64(_)
        | E::SignedVersionMismatch { .. }
        | E::MissingSignedVersion => {
            tracing::warn!(error = %e, "an update was refused");
            CommandError::new(
                ErrorCode::UpdateRefused,
                format!("The update does not carry a valid signature from Sotto's release key: {e}"),
            )
        }
        other => CommandError::new(ErrorCode::UpdateFailed, other.to_string()),
    }
}
