//! The backup slot: one opaque blob per user, written with optimistic concurrency.

use axum::extract::State;
use axum::http::StatusCode;
use sotto_proto::limits::MAX_BACKUP_BYTES;
use sotto_proto::routes::{self, Endpoint as _};
use sotto_proto::{Backup, BackupVersion, ErrorBody, ErrorCode, PutBackupRequest};
use tracing::instrument;

use crate::auth::Authenticated;
use crate::error::{AppError, AppResult};
use crate::extract::Json;
use crate::state::AppState;
use crate::store::StoreError;

#[utoipa::path(get, path = routes::GetBackup::PATH, tag = "backup", security(("bearer" = [])),
    responses((status = 200, body = Backup), (status = 404, body = ErrorBody, description = "no backup yet")))]
#[instrument(skip_all, fields(user = %device.user_id))]
pub async fn get_backup(
    State(state): State<AppState>,
    Authenticated(device): Authenticated,
) -> AppResult<Json<Backup>> {
    let (version, blob) = state
        .backups
        .get_backup(&device.user_id)
        .await?
        .ok_or_else(|| AppError::not_found("There is no backup yet."))?;
    let blob = String::from_utf8(blob).map_err(|_| AppError::internal("stored backup is not UTF-8"))?;
    Ok(Json(Backup { version, blob }))
}

#[utoipa::path(put, path = routes::PutBackup::PATH, tag = "backup", security(("bearer" = [])), request_body = PutBackupRequest,
    responses((status = 200, body = BackupVersion), (status = 409, body = ErrorBody, description = "stale_version"), (status = 413, body = ErrorBody)))]
#[instrument(skip_all, fields(user = %device.user_id, expected = req.expected_version, bytes = req.blob.len()))]
pub async fn put_backup(
    State(state): State<AppState>,
    Authenticated(device): Authenticated,
    Json(req): Json<PutBackupRequest>,
) -> AppResult<Json<BackupVersion>> {
    if req.blob.len() > MAX_BACKUP_BYTES {
        return Err(crate::error::too_large());
    }
    match state.backups.put_backup(&device.user_id, req.expected_version, req.blob.as_bytes()).await {
        Ok(version) => Ok(Json(BackupVersion { version })),
        Err(StoreError::VersionConflict { current }) => Err(AppError::new(
            StatusCode::CONFLICT,
            ErrorCode::StaleVersion,
            format!("The backup changed since you read it: it is at version {current}. Read it again and merge."),
        )),
        Err(e) => Err(e.into()),
    }
}
