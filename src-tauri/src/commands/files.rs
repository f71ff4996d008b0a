//! File messages: sending a file (picked, dropped or pasted), fetching and saving one, its
//! pictures for the window, and stopping a transfer. The engine does the work
//! (`sotto_core::Client::send_file` and the rest); these wire it to the window.
//!
//! Invariant: plaintext leaves the profile only where the person asked (Save as…). A pasted
//! image, which has no file of its own, is written to a private temporary folder only for as
//! long as `send_file` reads it (the engine keeps its own encrypted copy), and the folder is
//! emptied at start in case Sotto stopped in between. Pictures reach the page as data URLs
//! (the CSP allows `data:` images and nothing else from outside the app).

use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Serialize;
use sotto_app_macros::command;
use sotto_core::{Client, ConversationId, Message};
use tauri::{AppHandle, DragDropEvent, Emitter, Manager, Runtime, State};
use ts_rs::TS;

use crate::error::{CommandError, CommandResult, ErrorCode};
use crate::parsed::Parsed;
use crate::state::AppState;

/// The largest file shown whole in the image viewer (decrypted in memory, sent as a data URL).
const MAX_VIEWED_BYTES: u64 = 64 * 1024 * 1024;
/// The largest pasted image accepted (its base64 crosses the IPC bridge).
const MAX_PASTED_BYTES: usize = 64 * 1024 * 1024;
/// Where pasted images wait while they are encrypted into the profile (under the app's cache).
const OUTGOING_DIR: &str = "outgoing";

/// A file about to be sent, as the preview sheet shows it (no `Debug`: the name and picture are
/// the person's content).
#[derive(Clone, Serialize, TS)]
pub struct FilePreview {
    /// The file's name (its last path component).
    pub name: String,
    #[ts(type = "number")]
    pub size: u64,
    /// For an image Sotto shows inline: its size in pixels and a small picture of it.
    pub image: Option<PreviewImage>,
}

#[derive(Clone, Serialize, TS)]
pub struct PreviewImage {
    pub width: u32,
    pub height: u32,
    /// A JPEG thumbnail as a `data:` URL.
    pub url: String,
}

/// Send the file at `path` (picked in the file chooser or dropped on the window) with
/// `caption`. It returns at once (`queued`, the file `uploading`); progress follows as
/// `file_progress` events and the outcome as `status_changed`.
#[command]
pub async fn send_file(
    state: State<'_, AppState>,
    conversation_id: Parsed<ConversationId>,
    path: String,
    caption: String,
) -> CommandResult<Message> {
    let client = state.client()?;
    send(&client, &conversation_id, &absolute(&path)?, &caption).await
}

/// Send an image pasted from the clipboard (`data`: its bytes in base64). It is written to a
/// private temporary folder under a name that says what it is, sent from there, and removed as
/// soon as the engine has its encrypted copy.
#[command]
pub async fn send_pasted_image(
    app: AppHandle,
    state: State<'_, AppState>,
    conversation_id: Parsed<ConversationId>,
    data: String,
    caption: String,
) -> CommandResult<Message> {
    let client = state.client()?;
    if data.len() / 4 * 3 > MAX_PASTED_BYTES {
        return Err(CommandError::new(ErrorCode::BlobTooLarge, "The pasted image is too large to send."));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|_| CommandError::new(ErrorCode::InvalidInput, "The pasted image could not be read."))?;
    let Some(ext) = image_type(&bytes).map(|(_, ext)| ext) else {
        return Err(CommandError::new(ErrorCode::InvalidInput, "Only pictures can be pasted as files."));
    };
    let folder = tempfile::Builder::new()
        .prefix("paste-")
        .tempdir_in(outgoing_dir(&app)?)
        .map_err(|e| CommandError::new(ErrorCode::Internal, format!("No room to prepare the image: {e}")))?;
    let name = format!("Pasted image {}.{ext}", jiff::ZonedDateTime::now().strftime("%Y-%m-%d %H.%M.%S"));
    let path = folder.path().join(name);
    std::fs::write(&path, &bytes)
        .map_err(|e| CommandError::new(ErrorCode::Internal, format!("No room to prepare the image: {e}")))?;
    let sent = send(&client, &conversation_id, &path, &caption).await;
    // The engine encrypted it into the profile before returning; the plaintext goes now.
    if let Err(e) = folder.close() {
        tracing::warn!(error = %e, "a pasted image's temporary copy could not be removed");
    }
    sent
}

/// A picture read from the system's clipboard.
#[derive(Debug, Clone, Serialize, TS)]
pub struct ClipboardImage {
    /// PNG bytes in base64 (for `send_pasted_image` and a `data:` URL).
    pub base64: String,
    #[ts(type = "number")]
    pub size: u64,
}

/// The picture on the system's clipboard, as PNG; None when it holds none. For a paste whose
/// event carried no picture: WebKitGTK gives the page's paste event no image data at all.
#[command]
pub async fn clipboard_image(app: AppHandle) -> CommandResult<Option<ClipboardImage>> {
    let png = clipboard_png(&app).await?;
    Ok(png.map(|png| ClipboardImage {
        size: png.len() as u64,
        base64: base64::engine::general_purpose::STANDARD.encode(&png),
    }))
}

/// GTK's clipboard, asked on the main thread (GTK's rule) without blocking it.
#[cfg(target_os = "linux")]
async fn clipboard_png<R: Runtime>(app: &AppHandle<R>) -> CommandResult<Option<Vec<u8>>> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    app.run_on_main_thread(move || {
        let clipboard = gtk::Clipboard::get(&gtk::gdk::SELECTION_CLIPBOARD);
        clipboard.request_image(move |_, pixbuf| {
            let _ = tx.send(pixbuf.map(|p| p.save_to_bufferv("png", &[])));
        });
    })
    .map_err(|e| CommandError::new(ErrorCode::Internal, format!("The clipboard could not be read: {e}")))?;
    match rx.await {
        Ok(Some(Ok(png))) => Ok(Some(png)),
        Ok(Some(Err(e))) => Err(CommandError::new(
            ErrorCode::InvalidInput,
            format!("The picture on the clipboard could not be read: {e}"),
        )),
        Ok(None) | Err(_) => Ok(None),
    }
}

/// Elsewhere the web view's paste event carries the picture itself.
#[cfg(not(target_os = "linux"))]
async fn clipboard_png<R: Runtime>(_app: &AppHandle<R>) -> CommandResult<Option<Vec<u8>>> {
    Ok(None)
}

/// What the preview sheet shows of the file at `path` before it is sent.
#[command]
pub async fn file_preview(path: String) -> CommandResult<FilePreview> {
    let path = absolute(&path)?;
    tauri::async_runtime::spawn_blocking(move || {
        let meta = std::fs::metadata(&path).map_err(|e| unreadable(&path, &e))?;
        if !meta.is_file() {
            return Err(CommandError::new(ErrorCode::InvalidInput, "That's a folder; only files can be sent."));
        }
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        // A file that claims to be an image but does not decode is sent as a plain file.
        let image = match sotto_core::preview::of_file(&path) {
            Ok(Some(p)) => {
                Some(PreviewImage { width: p.width, height: p.height, url: data_url("image/jpeg", &p.thumbnail) })
            }
            Ok(None) | Err(_) => None,
        };
        Ok(FilePreview { name, size: meta.len(), image })
    })
    .await
    .map_err(|e| CommandError::new(ErrorCode::Internal, e.to_string()))?
}

/// Fetch a message's file into the profile (kept encrypted). Progress follows as `file_progress`
/// events; the message, its file now `local`, is the answer (and a `status_changed`).
#[command]
pub async fn download_file(state: State<'_, AppState>, id: i64) -> CommandResult<Message> {
    Ok(state.client()?.download(id).await?)
}

/// Save a message's file, decrypted, as the new file `path` (never over an existing one).
#[command]
pub async fn save_file(state: State<'_, AppState>, id: i64, path: String) -> CommandResult<u64> {
    Ok(state.client()?.save_file(id, &absolute(&path)?).await?)
}

/// An image message's thumbnail as a `data:` URL; None when it has none.
#[command]
pub async fn file_thumbnail(state: State<'_, AppState>, id: i64) -> CommandResult<Option<String>> {
    Ok(state.client()?.thumbnail(id)?.map(|jpeg| data_url("image/jpeg", &jpeg)))
}

/// An image message's picture at full size, as a `data:` URL (for the viewer). Decrypted in
/// memory, never written out; fetched first if needed. Only pictures in a format the window
/// shows are answered, whatever type the sender declared.
#[command]
pub async fn file_image(state: State<'_, AppState>, id: i64) -> CommandResult<String> {
    let bytes = state.client()?.file_bytes(id, MAX_VIEWED_BYTES).await?;
    match image_type(&bytes) {
        Some((mime, _)) => Ok(data_url(mime, &bytes)),
        None => Err(CommandError::new(
            ErrorCode::InvalidInput,
            "This file isn't a picture Sotto can show; save it instead.",
        )),
    }
}

/// Stop a running upload (the message then fails with `cancelled`; Try again resumes it) or
/// download. False when none was running.
#[command]
pub async fn cancel_transfer(state: State<'_, AppState>, id: i64) -> CommandResult<bool> {
    Ok(state.client()?.cancel_transfer(id))
}

/// Incoming files up to this many bytes are downloaded as they arrive; 0: never.
#[command]
pub async fn auto_download_limit(state: State<'_, AppState>) -> CommandResult<u64> {
    Ok(state.client()?.auto_download_limit()?)
}

#[command]
pub async fn set_auto_download_limit(state: State<'_, AppState>, bytes: u64) -> CommandResult<()> {
    Ok(state.client()?.set_auto_download_limit(bytes)?)
}

async fn send(client: &Client, to: &ConversationId, path: &Path, caption: &str) -> CommandResult<Message> {
    Ok(match to {
        ConversationId::Direct(user) => client.send_file(user, path, caption).await?,
        ConversationId::Group(group) => client.send_group_file(group, path, caption).await?,
    })
}

/// The event that tells the window files are dragged over it or dropped on it.
pub const FILE_DROP_EVENT: &str = "sotto://file-drop";

/// Files dragged over the window (the system's drag and drop, which gives their paths; the page's
/// own drop events never see them).
#[derive(Debug, Clone, Serialize, TS)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FileDrop {
    /// Something is dragged over the window: show where it can go.
    Enter,
    /// It left, or the drag was given up.
    Leave,
    /// Files were dropped: send them to the open conversation (after the preview sheet).
    Drop { paths: Vec<String> },
}

/// Forward the window's drag and drop to the page (`on_window_event`).
pub fn forward_drop<R: Runtime>(app: &AppHandle<R>, event: &DragDropEvent) {
    let payload = match event {
        DragDropEvent::Enter { .. } => FileDrop::Enter,
        DragDropEvent::Leave => FileDrop::Leave,
        DragDropEvent::Drop { paths, .. } => {
            FileDrop::Drop { paths: paths.iter().map(|p| p.to_string_lossy().into_owned()).collect() }
        }
        _ => return,
    };
    if let Err(e) = app.emit(FILE_DROP_EVENT, &payload) {
        tracing::warn!(error = %e, "could not tell the window about a drop");
    }
}

/// Remove pasted images left behind by a run that stopped while sending one.
pub fn clear_outgoing<R: Runtime>(app: &AppHandle<R>) {
    if let Ok(cache) = app.path().app_cache_dir() {
        let dir = cache.join(OUTGOING_DIR);
        if dir.exists()
            && let Err(e) = std::fs::remove_dir_all(&dir)
        {
            tracing::warn!(error = %e, "could not remove pasted images left from an earlier run");
        }
    }
}

/// The private folder pasted images wait in (0700).
fn outgoing_dir<R: Runtime>(app: &AppHandle<R>) -> CommandResult<PathBuf> {
    let dir = app
        .path()
        .app_cache_dir()
        .map_err(|e| CommandError::new(ErrorCode::Internal, format!("This computer has no cache folder: {e}")))?
        .join(OUTGOING_DIR);
    std::fs::create_dir_all(&dir)
        .map_err(|e| CommandError::new(ErrorCode::Internal, format!("No room to prepare the image: {e}")))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
    }
    Ok(dir)
}

fn absolute(path: &str) -> CommandResult<PathBuf> {
    let path = PathBuf::from(path);
    if path.is_absolute() {
        Ok(path)
    } else {
        Err(CommandError::new(ErrorCode::InvalidPath, "Choose the file with Attach, or drop it on the conversation."))
    }
}

fn unreadable(path: &Path, e: &std::io::Error) -> CommandError {
    let what = match e.kind() {
        std::io::ErrorKind::NotFound => "isn't there any more",
        std::io::ErrorKind::PermissionDenied => "can't be read (permission denied)",
        _ => "can't be read",
    };
    CommandError::new(ErrorCode::InvalidInput, format!("{} {what}.", path.display()))
}

fn data_url(mime: &str, bytes: &[u8]) -> String {
    format!("data:{mime};base64,{}", base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// The picture format of `bytes` by their first bytes (never by a declared type): its media
/// type and usual extension, for the formats the window shows.
fn image_type(bytes: &[u8]) -> Option<(&'static str, &'static str)> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(("image/jpeg", "jpg"))
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(("image/png", "png"))
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some(("image/gif", "gif"))
    } else if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WEBP") {
        Some(("image/webp", "webp"))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn pictures_are_known_by_their_bytes() {
        assert_eq!(image_type(b"\x89PNG\r\n\x1a\nrest"), Some(("image/png", "png")));
        assert_eq!(image_type(&[0xFF, 0xD8, 0xFF, 0xE0]), Some(("image/jpeg", "jpg")));
        assert_eq!(image_type(b"GIF89a..."), Some(("image/gif", "gif")));
        assert_eq!(image_type(b"RIFF\0\0\0\0WEBPVP8 "), Some(("image/webp", "webp")));
        assert_eq!(image_type(b"RIFF\0\0\0\0WAVE"), None);
        assert_eq!(image_type(b"<svg xmlns=...>"), None, "no scripts' formats");
        assert_eq!(image_type(b""), None);
    }

    #[test]
    fn only_full_paths_are_taken() {
        assert!(absolute("/tmp/a.png").is_ok());
        assert_eq!(absolute("a.png").unwrap_err().code, ErrorCode::InvalidPath);
    }
}
