//! Backups and readable exports: the long commands. Each takes a task id (for `cancel_task`) and
//! a channel that receives its progress; the engine does the work (see `sotto_core::backup` and
//! `sotto_core::export`), these only wire it to the window.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sotto_app_macros::command;
use sotto_core::{
    BackupSummary, Client, ExportFormat, ExportScope, ExportSummary, KeyOptions, Progress, Restore, ServerUrl,
};
use tauri::ipc::Channel;
use tauri::{AppHandle, Manager, State, WebviewWindow};
use tauri_plugin_dialog::{DialogExt, FilePath};
use ts_rs::TS;

use crate::commands::session::new_profile_dir;
use crate::error::{CommandError, CommandResult, ErrorCode};
use crate::parsed::Parsed;
use crate::state::{AppState, AppStatus};
use crate::tasks::ProgressForwarder;

/// Where the backup dialogs suggest writing, before the person picks something else.
#[derive(Debug, Clone, Serialize, TS)]
pub struct BackupDefaults {
    /// A backup file name that does not exist yet, in the documents folder.
    pub backup_file: String,
    /// A folder name for a readable export that does not exist yet, beside it.
    pub export_folder: String,
}

/// Whether this profile has been backed up (the UI's backup reminder).
#[derive(Debug, Clone, Serialize, TS)]
pub struct BackupStatus {
    /// When this profile last wrote a complete backup file (ms since the epoch).
    #[ts(type = "number | null")]
    pub last_backup_ms: Option<i64>,
}

/// What the restore form sends.
#[derive(Deserialize, TS)]
pub struct RestoreRequest {
    pub server: String,
    pub user_id: String,
    /// The account password: a restore signs in afresh.
    pub password: String,
    pub file: String,
    pub backup_passphrase: String,
    /// Also protect the restored profile with this passphrase (required without a keychain).
    pub passphrase: Option<String>,
    /// As [`super::session::SignInRequest::trusted_certificate`].
    #[serde(default)]
    #[ts(optional)]
    pub trusted_certificate: Option<String>,
}

impl std::fmt::Debug for RestoreRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestoreRequest")
            .field("server", &self.server)
            .field("user_id", &self.user_id)
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

/// Suggested places for a backup file and a readable export (the person can change them).
#[command]
pub async fn backup_defaults(app: AppHandle, state: State<'_, AppState>) -> CommandResult<BackupDefaults> {
    let folder = app
        .path()
        .document_dir()
        .ok()
        .filter(|d| d.is_dir())
        .or_else(|| app.path().home_dir().ok())
        .ok_or_else(|| CommandError::new(ErrorCode::Internal, "This computer has no home folder to suggest."))?;
    let who = state.client().map(|c| c.user_id().to_string()).unwrap_or_default();
    let date = today();
    let stem = if who.is_empty() { format!("Sotto {date}") } else { format!("Sotto {who} {date}") };
    Ok(BackupDefaults {
        backup_file: display(&unused(&folder, &stem, ".sotto")),
        export_folder: display(&unused(&folder, &format!("{stem} export"), "")),
    })
}

#[command]
pub async fn backup_status(state: State<'_, AppState>) -> CommandResult<BackupStatus> {
    let client = state.client()?;
    Ok(BackupStatus { last_backup_ms: client.last_backup_at()? })
}

/// Write this profile's encrypted backup to `path` (which must not exist).
#[command]
pub async fn export_backup(
    state: State<'_, AppState>,
    task: String,
    path: String,
    passphrase: String,
    on_progress: Channel<Progress>,
) -> CommandResult<BackupSummary> {
    let client = state.client()?;
    let task = state.tasks.start(&task)?;
    let path = chosen_path(&path)?;
    let progress = ProgressForwarder::new(on_progress);
    let result = client.export_backup(&path, &passphrase, &progress.sender, &task.cancel).await;
    progress.finish().await;
    Ok(result?)
}

/// Write the conversations in `scope` as readable HTML or JSON files into the folder `dir`
/// (new or empty).
#[command]
pub async fn export_readable(
    state: State<'_, AppState>,
    task: String,
    dir: String,
    format: ExportFormat,
    scope: Parsed<ExportScope>,
    on_progress: Channel<Progress>,
) -> CommandResult<ExportSummary> {
    let scope = scope.into_inner();
    let client = state.client()?;
    let task = state.tasks.start(&task)?;
    let dir = chosen_path(&dir)?;
    let progress = ProgressForwarder::new(on_progress);
    let sender = progress.sender.clone();
    let cancel = task.cancel.clone();
    let result =
        tauri::async_runtime::spawn_blocking(move || client.export_readable(&dir, format, scope, &sender, &cancel))
            .await
            .map_err(|e| CommandError::new(ErrorCode::Internal, e.to_string()));
    progress.finish().await;
    Ok(result??)
}

/// First run: restore a backup file into a new profile on this computer and open it.
#[command]
pub async fn restore_backup(
    app: AppHandle,
    state: State<'_, AppState>,
    task: String,
    request: RestoreRequest,
    on_progress: Channel<Progress>,
) -> CommandResult<AppStatus> {
    let _transition = state.transition.lock().await;
    if state.client().is_ok() {
        return Err(CommandError::new(ErrorCode::AlreadySignedIn, "An account is already open; sign out first."));
    }
    let task = state.tasks.start(&task)?;
    let server = ServerUrl::parse(&request.server)?;
    let user_id = request.user_id.trim().to_owned();
    sotto_proto::UserId::parse(&user_id)?;
    let file = chosen_path(&request.file)?;
    let dir = new_profile_dir(state.data_dir(), &user_id);
    let keys = KeyOptions { no_keychain: false, passphrase: request.passphrase.filter(|p| !p.is_empty()) };
    let restore = Restore {
        file: &file,
        backup_passphrase: &request.backup_passphrase,
        server: server.as_str(),
        trust: super::session::trust(request.trusted_certificate.as_deref())?,
        user_id: &user_id,
        password: &request.password,
    };
    let progress = ProgressForwarder::new(on_progress);
    let result = Client::restore_backup(&dir, restore, keys, &progress.sender, &task.cancel).await;
    progress.finish().await;
    let client = match result {
        Ok(client) => client,
        Err(e) => {
            // The engine removed what it created; the folder itself goes too when empty.
            let _ = std::fs::remove_dir(&dir);
            return Err(e.into());
        }
    };
    state.activate(&app, client)?;
    Ok(state.announce(&app))
}

/// What a native file chooser is for.
#[derive(Debug, Clone, Copy, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum PathPurpose {
    /// Where to write a backup file (a save dialog).
    BackupFile,
    /// A backup file to restore (an open dialog).
    RestoreFile,
    /// Where to put a readable export (a folder).
    ExportFolder,
    /// A file to send (an open dialog).
    AttachFile,
    /// Where to save a received file (a save dialog; `current` may be just its name).
    SaveFile,
    /// A picture for this user's profile (an open dialog, pictures only).
    ProfilePicture,
}

/// The system's file chooser, opened at `current` (what the field holds). None when the person
/// closed it without choosing. For an export, a chosen folder that already holds files gets the
/// suggested folder name inside it, since an export only writes into a new or empty folder.
#[command]
pub async fn choose_path(
    window: WebviewWindow,
    purpose: PathPurpose,
    current: String,
) -> CommandResult<Option<String>> {
    let typed = chosen_path(&current).ok();
    let folder = typed.as_deref().and_then(Path::parent).filter(|d| d.is_dir());
    let name = match (&typed, purpose) {
        (Some(path), _) => path.file_name().map(|n| n.to_string_lossy().into_owned()),
        // A file to save is suggested by its name alone, in the downloads folder.
        (None, PathPurpose::SaveFile) => Some(current.trim().to_owned()).filter(|n| !n.is_empty()),
        (None, _) => None,
    };
    let folder = match (folder, purpose) {
        (None, PathPurpose::SaveFile) => window.path().download_dir().ok().filter(|d| d.is_dir()),
        (folder, _) => folder.map(Path::to_path_buf),
    };
    let mut dialog = window.dialog().file().set_parent(&window);
    if let Some(folder) = folder {
        dialog = dialog.set_directory(folder);
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    let answer = move |picked: Option<FilePath>| {
        let _ = tx.send(picked);
    };
    match purpose {
        PathPurpose::BackupFile => {
            let dialog = dialog.set_title("Save the backup as").add_filter("Sotto backup", &["sotto"]);
            match &name {
                Some(name) => dialog.set_file_name(name),
                None => dialog,
            }
            .save_file(answer);
        }
        PathPurpose::RestoreFile => {
            dialog.set_title("Choose a backup file").add_filter("Sotto backup", &["sotto"]).pick_file(answer);
        }
        PathPurpose::ExportFolder => {
            dialog
                .set_title("Choose where to put the readable copy")
                .set_can_create_directories(true)
                .pick_folder(answer);
        }
        PathPurpose::AttachFile => dialog.set_title("Choose a file to send").pick_file(answer),
        PathPurpose::ProfilePicture => dialog
            .set_title("Choose a profile picture")
            .add_filter("Pictures", &["jpg", "jpeg", "png", "gif", "webp"])
            .pick_file(answer),
        PathPurpose::SaveFile => {
            let dialog = dialog.set_title("Save the file as").set_can_create_directories(true);
            match &name {
                Some(name) => dialog.set_file_name(name),
                None => dialog,
            }
            .save_file(answer);
        }
    }
    let Some(picked) = rx.await.ok().flatten() else { return Ok(None) };
    let path = picked
        .into_path()
        .map_err(|e| CommandError::new(ErrorCode::InvalidPath, format!("That place can't be used: {e}")))?;
    let path = match (purpose, name) {
        (PathPurpose::ExportFolder, Some(name)) if !is_empty_dir(&path) => path.join(name),
        _ => path,
    };
    Ok(Some(display(&path)))
}

fn is_empty_dir(path: &Path) -> bool {
    std::fs::read_dir(path).map(|mut entries| entries.next().is_none()).unwrap_or(false)
}

/// Stop the long task `task`. False when it is not running (it may have just finished).
#[command]
pub async fn cancel_task(state: State<'_, AppState>, task: String) -> CommandResult<bool> {
    Ok(state.tasks.cancel(&task))
}

/// A path the person typed or picked: absolute, after `~/` is expanded.
fn chosen_path(input: &str) -> CommandResult<PathBuf> {
    let trimmed = input.trim();
    let path = match trimmed.strip_prefix("~/") {
        Some(rest) => std::env::home_dir().map(|home| home.join(rest)),
        None => Some(PathBuf::from(trimmed)),
    };
    match path {
        Some(path) if path.is_absolute() => Ok(path),
        _ => Err(CommandError::new(
            ErrorCode::InvalidPath,
            format!("'{trimmed}' is not a full path; choose a place such as ~/Documents/backup.sotto."),
        )),
    }
}

/// `folder/stem suffix`, or with " 2", " 3"... before the suffix when that exists.
fn unused(folder: &Path, stem: &str, suffix: &str) -> PathBuf {
    (1..1000)
        .map(|n| match n {
            1 => folder.join(format!("{stem}{suffix}")),
            n => folder.join(format!("{stem} {n}{suffix}")),
        })
        .find(|p| !p.exists())
        .unwrap_or_else(|| folder.join(format!("{stem} {}{suffix}", jiff::Timestamp::now().as_millisecond())))
}

fn display(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// Today's date in this computer's time zone, as YYYY-MM-DD (for file names).
fn today() -> String {
    jiff::ZonedDateTime::now().date().to_string()
}
