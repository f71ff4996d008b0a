//! Profiles: each user's sealed name and picture. The server stores ciphertext only, and gives
//! a user's to the people who share a conversation with them (a message either way, or a
//! group), so strangers learn nothing, not even whether there is one.

use axum::extract::State;
use axum::http::StatusCode;
use sotto_proto::limits::MAX_PROFILE_BYTES;
use sotto_proto::routes::{self, Endpoint as _};
use sotto_proto::{ErrorBody, PutProfileRequest, SealedProfile, UserId};
use tracing::instrument;

use crate::auth::Authenticated;
use crate::error::{AppError, AppResult};
use crate::extract::{Json, Path};
use crate::state::AppState;

#[utoipa::path(put, path = routes::PutProfile::PATH, tag = "profiles", security(("bearer" = [])), request_body = PutProfileRequest,
    responses((status = 204, description = "stored"), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody)))]
#[instrument(skip_all, fields(user = %device.user_id, bytes = req.ciphertext.len()))]
pub async fn put_profile(
    State(state): State<AppState>,
    Authenticated(device): Authenticated,
    Json(req): Json<PutProfileRequest>,
) -> AppResult<StatusCode> {
    if req.ciphertext.len() > MAX_PROFILE_BYTES {
        return Err(crate::error::too_large());
    }
    if req.ciphertext.is_empty() {
        return Err(AppError::invalid_input("A profile's ciphertext is empty."));
    }
    state.profiles.put_profile(&device.user_id, req.ciphertext.as_bytes(), state.clock.unix_millis()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = routes::GetProfile::PATH, tag = "profiles", security(("bearer" = [])),
    params(("user_id" = String, Path)),
    responses((status = 200, body = SealedProfile),
        (status = 404, body = ErrorBody, description = "no profile, or none the caller may read")))]
#[instrument(skip_all, fields(user = %device.user_id, of = %user_id))]
pub async fn get_profile(
    State(state): State<AppState>,
    Authenticated(device): Authenticated,
    Path(user_id): Path<UserId>,
) -> AppResult<Json<SealedProfile>> {
    let none = || AppError::not_found("There is no profile of this user for you.");
    if user_id != device.user_id && !state.inbox.share_conversation(&device.user_id, &user_id).await? {
        return Err(none());
    }
    let ciphertext = state.profiles.get_profile(&user_id).await?.ok_or_else(none)?;
    let ciphertext = String::from_utf8(ciphertext).map_err(|_| AppError::internal("stored profile is not UTF-8"))?;
    Ok(Json(SealedProfile { ciphertext }))
}
