//! Profiles: this user's display name and picture (set here, sealed by the engine and shared
//! with the people they talk with), and everyone's as far as they are known. Pictures reach
//! the page as `data:` URLs (the CSP allows `data:` images and nothing else from outside).

use std::path::PathBuf;

use base64::Engine as _;
use sotto_app_macros::command;
use sotto_core::{AvatarChange, ContactProfile, ProfileChange};
use sotto_proto::UserId;
use tauri::State;

use crate::error::{CommandError, CommandResult, ErrorCode};
use crate::parsed::Parsed;
use crate::state::AppState;

/// The largest picture file read for a profile picture (the engine keeps a 256×256 JPEG of it).
const MAX_PICTURE_FILE_BYTES: u64 = 32 * 1024 * 1024;

/// Every profile known here with a name or a picture (this user's own included).
#[command]
pub async fn get_profiles(state: State<'_, AppState>) -> CommandResult<Vec<ContactProfile>> {
    Ok(state.client()?.profiles()?)
}

/// What is known of `user_id`'s profile (None until their first message brings it).
#[command]
pub async fn get_profile(state: State<'_, AppState>, user_id: Parsed<UserId>) -> CommandResult<Option<ContactProfile>> {
    Ok(state.client()?.profile(&user_id)?)
}

/// Change this user's profile: `name` (None keeps it, "" clears it), a new picture from the
/// file at `avatar_path` (picked in the file chooser), or with `remove_avatar` no picture.
/// Needs the server; everyone this user talks with reads it again.
#[command]
pub async fn set_profile(
    state: State<'_, AppState>,
    name: Option<String>,
    avatar_path: Option<String>,
    remove_avatar: bool,
) -> CommandResult<ContactProfile> {
    let client = state.client()?;
    let avatar = match (avatar_path, remove_avatar) {
        (Some(_), true) => {
            return Err(CommandError::new(ErrorCode::InvalidInput, "Choose a new picture or remove it, not both."));
        }
        (Some(path), false) => Some(AvatarChange::Image(read_picture(&path).await?)),
        (None, true) => Some(AvatarChange::Remove),
        (None, false) => None,
    };
    Ok(client.set_profile(ProfileChange { name, avatar }).await?)
}

/// `user_id`'s picture as a `data:image/jpeg;base64,…` URL, or None when they have none.
#[command]
pub async fn get_avatar(state: State<'_, AppState>, user_id: Parsed<UserId>) -> CommandResult<Option<String>> {
    Ok(state.client()?.avatar(&user_id)?.map(|jpeg| data_url(&jpeg)))
}

fn data_url(jpeg: &[u8]) -> String {
    format!("data:image/jpeg;base64,{}", base64::engine::general_purpose::STANDARD.encode(jpeg))
}

/// The bytes of the picture file at `path`, refused when it is not a full path, too large, or
/// unreadable (in words that say which).
async fn read_picture(path: &str) -> CommandResult<Vec<u8>> {
    let path = PathBuf::from(path);
    if !path.is_absolute() {
        return Err(CommandError::new(ErrorCode::InvalidPath, "Choose the picture with Choose picture…"));
    }
    let unreadable = |e: std::io::Error| {
        let what = match e.kind() {
            std::io::ErrorKind::NotFound => "isn't there any more",
            std::io::ErrorKind::PermissionDenied => "can't be read (permission denied)",
            _ => "can't be read",
        };
        CommandError::new(ErrorCode::InvalidInput, format!("The picture {} {what}.", path.display()))
    };
    let size = tokio::fs::metadata(&path).await.map_err(unreadable)?.len();
    if size > MAX_PICTURE_FILE_BYTES {
        return Err(CommandError::new(
            ErrorCode::BlobTooLarge,
            format!(
                "That picture is too large ({} MB); choose one of at most {} MB.",
                size.div_ceil(1024 * 1024),
                MAX_PICTURE_FILE_BYTES / 1024 / 1024
            ),
        ));
    }
    tokio::fs::read(&path).await.map_err(unreadable)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

    use super::*;

    #[tokio::test]
    async fn a_picture_file_is_read_or_refused_in_words() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("me.png");
        std::fs::write(&file, b"not really a png").unwrap();
        assert_eq!(read_picture(file.to_str().unwrap()).await.unwrap(), b"not really a png");
        let relative = read_picture("me.png").await.unwrap_err();
        assert_eq!(relative.code, ErrorCode::InvalidPath);
        let missing = read_picture(dir.path().join("gone.png").to_str().unwrap()).await.unwrap_err();
        assert_eq!(missing.code, ErrorCode::InvalidInput);
        assert!(missing.message.contains("isn't there any more"), "{}", missing.message);
        let big = dir.path().join("big.png");
        std::fs::File::create(&big).unwrap().set_len(MAX_PICTURE_FILE_BYTES + 1).unwrap();
        let refused = read_picture(big.to_str().unwrap()).await.unwrap_err();
        assert_eq!(refused.code, ErrorCode::BlobTooLarge);
        assert!(refused.message.contains("too large (33 MB)"), "{}", refused.message);
    }

    #[test]
    fn a_picture_is_a_jpeg_data_url() {
        assert_eq!(data_url(&[0xff, 0xd8, 0xff]), "data:image/jpeg;base64,/9j/");
    }
}
