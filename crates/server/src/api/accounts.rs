//! Accounts, device sign-in, token refresh, sign-out and device removal.

use axum::extract::State;
use axum::http::StatusCode;
use sotto_proto::limits::{MAX_DEVICE_NAME_CHARS, MAX_PASSWORD_BYTES, MIN_PASSWORD_BYTES};
use sotto_proto::routes::{self, Endpoint as _};
use sotto_proto::{
    ChangePasswordRequest, DeleteDeviceRequest, DeviceAddress, DeviceId, DeviceInfo, DeviceList, ErrorBody, ErrorCode,
    ExternalLoginRequest, Jwks, LoginRequest, RefreshRequest, RegisterRequest, Session,
};
use tracing::instrument;

use crate::auth::{self, Authenticated};
use crate::error::{AppError, AppResult};
use crate::extract::{ClientAddr, Json, Path};
use crate::state::AppState;
use crate::store::{RefreshOutcome, StoreError};

fn check_password_shape(password: &str) -> AppResult<()> {
    if password.len() < MIN_PASSWORD_BYTES || password.len() > MAX_PASSWORD_BYTES {
        return Err(AppError::invalid_input(format!(
            "The password must be {MIN_PASSWORD_BYTES} to {MAX_PASSWORD_BYTES} bytes long."
        )));
    }
    Ok(())
}

/// Checks the password of a signed-in caller's account (for changes that need it again: a new
/// password, removing a device, a key reset). Limited per device, apart from sign-in attempts at
/// the account, so guessing from elsewhere never locks the owner's devices out. Returns the
/// stored hash it matched.
pub(crate) async fn check_account_password(
    state: &AppState,
    device: &DeviceAddress,
    password: String,
) -> AppResult<String> {
    state.limits.check_recheck(device).await?;
    let stored = state.accounts.password_hash(&device.user_id).await?;
    if stored.as_deref() == Some(auth::NO_PASSWORD) {
        return Err(AppError::new(
            StatusCode::CONFLICT,
            ErrorCode::NoPassword,
            "This account signs in through an external service and has no password here.",
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES || !state.passwords.verify(password, stored.clone()).await? {
        state.metrics.failed_logins.inc();
        return Err(AppError::new(StatusCode::UNAUTHORIZED, ErrorCode::InvalidCredentials, "The password is wrong."));
    }
    stored.ok_or_else(|| AppError::internal("a signed-in device's account has no row"))
}

fn check_device_name(name: Option<&str>) -> AppResult<Option<String>> {
    match name.map(str::trim) {
        None | Some("") => Ok(None),
        Some(n) if n.chars().count() > MAX_DEVICE_NAME_CHARS || n.chars().any(char::is_control) => {
            Err(AppError::invalid_input(format!(
                "The device name must be at most {MAX_DEVICE_NAME_CHARS} characters, without control characters."
            )))
        }
        Some(n) => Ok(Some(n.to_owned())),
    }
}

/// Creates a device with a fresh refresh token and returns its session.
async fn start_session(state: &AppState, device: DeviceAddress, name: Option<&str>) -> AppResult<Session> {
    let (refresh_token, hash) = auth::new_refresh_token()?;
    state.devices.create_device(&device, name, &hash, state.clock.unix_millis()).await?;
    let access_token = state.tokens.issue(&device)?;
    Ok(Session {
        user_id: device.user_id,
        device_id: device.device_id,
        access_token,
        expires_in: state.tokens.ttl().as_secs(),
        refresh_token,
    })
}

fn new_device_id() -> AppResult<DeviceId> {
    DeviceId::parse(auth::random_id(12)?).map_err(|e| AppError::internal(e.to_string()))
}

#[utoipa::path(post, path = routes::Register::PATH, tag = "accounts", request_body = RegisterRequest,
    responses((status = 201, body = Session), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody, description = "user_exists"), (status = 429, body = ErrorBody),
        (status = 503, body = ErrorBody, description = "server_busy: every password hasher is taken; see Retry-After")))]
#[instrument(skip_all, fields(user = %req.user_id))]
pub async fn register(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Json(req): Json<RegisterRequest>,
) -> AppResult<(StatusCode, Json<Session>)> {
    state.limits.check_address(client).await?;
    check_password_shape(&req.password)?;
    let name = check_device_name(req.device_name.as_deref())?;
    let hash = state.passwords.hash(req.password).await?;
    match state.accounts.create_account(&req.user_id, &hash, state.clock.unix_millis()).await {
        Ok(()) => {}
        Err(StoreError::AlreadyExists) => {
            return Err(AppError::new(StatusCode::CONFLICT, ErrorCode::UserExists, "That user id is taken."));
        }
        Err(e) => return Err(e.into()),
    }
    let device = DeviceAddress { user_id: req.user_id, device_id: new_device_id()? };
    let session = start_session(&state, device, name.as_deref()).await?;
    tracing::info!(device = %session.device_id, "account registered");
    Ok((StatusCode::CREATED, Json(session)))
}

#[utoipa::path(post, path = routes::Login::PATH, tag = "accounts", request_body = LoginRequest,
    responses((status = 200, body = Session), (status = 401, body = ErrorBody, description = "invalid_credentials"),
        (status = 404, body = ErrorBody, description = "not_found: `device_id` names no device of this account"),
        (status = 429, body = ErrorBody),
        (status = 503, body = ErrorBody, description = "server_busy: every password hasher is taken; see Retry-After")))]
#[instrument(skip_all, fields(user = %req.user_id))]
pub async fn login(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Json(req): Json<LoginRequest>,
) -> AppResult<Json<Session>> {
    state.limits.check_address(client).await?;
    state.limits.check_login(&req.user_id, client).await?;
    let name = check_device_name(req.device_name.as_deref())?;
    let stored = state.accounts.password_hash(&req.user_id).await?;
    if req.password.len() > MAX_PASSWORD_BYTES || !state.passwords.verify(req.password, stored).await? {
        state.metrics.failed_logins.inc();
        return Err(AppError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::InvalidCredentials,
            "The user id or password is wrong.",
        ));
    }
    if let Some(device_id) = req.device_id {
        let device = DeviceAddress { user_id: req.user_id, device_id };
        return resume_session(&state, device).await.map(Json);
    }
    let device = DeviceAddress { user_id: req.user_id, device_id: new_device_id()? };
    let session = start_session(&state, device, name.as_deref()).await?;
    tracing::info!(device = %session.device_id, "device signed in");
    Ok(Json(session))
}

/// Signs an existing device in again (restored from a backup file): a new refresh token
/// replaces every earlier one, its earlier access tokens are refused, a connection it still has
/// is closed, and its unclaimed one-time keys are deleted (the restored account may not hold
/// their private keys; it uploads new ones).
async fn resume_session(state: &AppState, device: DeviceAddress) -> AppResult<Session> {
    let (refresh_token, hash) = auth::new_refresh_token()?;
    let since = state.tokens.revocation_point();
    match state.devices.reauthenticate_device(&device, &hash, state.clock.unix_millis(), since).await {
        Ok(()) => {}
        Err(StoreError::NotFound) => {
            return Err(AppError::not_found("This account has no device with that id; sign in as a new device."));
        }
        Err(e) => return Err(e.into()),
    }
    state.tokens.revoke_before(&device, since);
    state.hub.disconnect(&device);
    let access_token = state.tokens.issue(&device)?;
    tracing::info!(device = %device.device_id, "device signed in again");
    Ok(Session {
        user_id: device.user_id,
        device_id: device.device_id,
        access_token,
        expires_in: state.tokens.ttl().as_secs(),
        refresh_token,
    })
}

#[utoipa::path(post, path = routes::LoginExternal::PATH, tag = "accounts", request_body = ExternalLoginRequest,
    responses((status = 200, body = Session), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "the account signs in with a password"),
        (status = 404, body = ErrorBody, description = "no external issuer is configured")))]
#[instrument(skip_all)]
pub async fn login_external(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Json(req): Json<ExternalLoginRequest>,
) -> AppResult<Json<Session>> {
    let issuer = state
        .external_issuer
        .as_ref()
        .ok_or_else(|| AppError::not_found("This server does not accept tokens from an external issuer."))?;
    state.limits.check_address(client).await?;
    let token = issuer.verify(&req.token, &state.clock)?;
    let name = check_device_name(req.device_name.as_deref())?;
    if issuer.single_use
        && let Some(jti) = &token.jti
        && !state.accounts.spend_external_token_id(jti, token.exp, state.clock.unix_secs()).await?
    {
        tracing::warn!(user = %token.user_id, "an external token was used a second time");
        return Err(AppError::unauthorized("This external token was already used; get a new one from its issuer."));
    }
    let user_id = token.user_id;
    match state.accounts.create_account(&user_id, auth::NO_PASSWORD, state.clock.unix_millis()).await {
        Ok(()) => tracing::info!(user = %user_id, "account created for an external identity"),
        // Only an account the external issuer made is the issuer's to sign in to: a token for the
        // name of an account with a password must not open it.
        Err(StoreError::AlreadyExists) => {
            if state.accounts.password_hash(&user_id).await?.as_deref() != Some(auth::NO_PASSWORD) {
                tracing::warn!(user = %user_id, "an external token named an account that signs in with a password");
                return Err(AppError::forbidden(
                    "This account signs in with a password; a token of the external issuer cannot sign in to it.",
                ));
            }
        }
        Err(e) => return Err(e.into()),
    }
    let device = DeviceAddress { user_id, device_id: new_device_id()? };
    let session = start_session(&state, device, name.as_deref()).await?;
    tracing::info!(user = %session.user_id, device = %session.device_id, "device signed in with an external token");
    Ok(Json(session))
}

#[utoipa::path(post, path = routes::Refresh::PATH, tag = "accounts", request_body = RefreshRequest,
    responses((status = 200, body = Session), (status = 401, body = ErrorBody),
        (status = 429, body = ErrorBody, description = "rate_limited (per client address); the token is not spent")))]
#[instrument(skip_all)]
pub async fn refresh(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Json(req): Json<RefreshRequest>,
) -> AppResult<Json<Session>> {
    // Before the token is looked at: a refusal here leaves it unspent.
    state.limits.check_refresh(client)?;
    let old = auth::hash_refresh_token(&req.refresh_token);
    let (refresh_token, new) = auth::new_refresh_token()?;
    match state.devices.rotate_refresh_token(&old, &new, state.clock.unix_millis()).await? {
        RefreshOutcome::Rotated(device) => {
            let access_token = state.tokens.issue(&device)?;
            Ok(Json(Session {
                user_id: device.user_id,
                device_id: device.device_id,
                access_token,
                expires_in: state.tokens.ttl().as_secs(),
                refresh_token,
            }))
        }
        RefreshOutcome::Replayed { device, tokens_since } => {
            // Someone holds a copy of this device's tokens: every one of them stops working now
            // (the store revoked them). The device, its keys and its inbox stay: its owner signs
            // it in again with the password, and nothing sent to it is lost.
            tracing::warn!(user = %device.user_id, device = %device.device_id, "a spent refresh token was replayed; the device is signed out");
            state.tokens.revoke_before(&device, tokens_since);
            state.hub.disconnect(&device);
            Err(AppError::unauthorized(
                "This refresh token was already used, so the device was signed out for safety; sign in again.",
            ))
        }
        RefreshOutcome::Unknown => Err(AppError::unauthorized("The refresh token is not valid; sign in again.")),
    }
}

#[utoipa::path(delete, path = routes::Logout::PATH, tag = "accounts", security(("bearer" = [])),
    responses((status = 204, description = "The device is signed out and removed"), (status = 401, body = ErrorBody)))]
#[instrument(skip_all, fields(user = %device.user_id, device = %device.device_id))]
pub async fn logout(State(state): State<AppState>, Authenticated(device): Authenticated) -> AppResult<StatusCode> {
    // Signing out removes the device: its keys die with the local profile, and a device that
    // stayed listed would make every sender encrypt for it forever.
    state.devices.delete_device(&device).await?;
    state.hub.disconnect(&device);
    tracing::info!("device signed out");
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(put, path = routes::ChangePassword::PATH, tag = "accounts", security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses((status = 204, description = "Changed; every device stays signed in"),
        (status = 400, body = ErrorBody, description = "invalid_input: the new password is too short or too long"),
        (status = 401, body = ErrorBody, description = "invalid_credentials: the current password is wrong"),
        (status = 409, body = ErrorBody, description = "no_password: the account signs in through an external issuer; conflict: changed concurrently"),
        (status = 429, body = ErrorBody)))]
#[instrument(skip_all, fields(user = %device.user_id, device = %device.device_id))]
pub async fn change_password(
    State(state): State<AppState>,
    Authenticated(device): Authenticated,
    Json(req): Json<ChangePasswordRequest>,
) -> AppResult<StatusCode> {
    check_password_shape(&req.new_password)?;
    let verified = check_account_password(&state, &device, req.current_password).await?;
    let hash = state.passwords.hash(req.new_password).await?;
    // Other devices keep their sessions: each holds its own keys and history, and a device whose
    // refresh token died could only be brought back by restoring a backup. A device that should
    // not be signed in is removed on purpose (`DELETE /v1/devices/{id}`, with the new password).
    if !state.accounts.replace_password_hash(&device.user_id, &verified, &hash).await? {
        return Err(AppError::conflict("The password was changed at the same moment; sign in again and retry."));
    }
    tracing::info!("password changed");
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = routes::ListDevices::PATH, tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = DeviceList), (status = 401, body = ErrorBody)))]
#[instrument(skip_all, fields(user = %device.user_id))]
pub async fn list_devices(
    State(state): State<AppState>,
    Authenticated(device): Authenticated,
) -> AppResult<Json<DeviceList>> {
    let devices = state
        .devices
        .list_devices(&device.user_id)
        .await?
        .into_iter()
        .map(|d| DeviceInfo { device_id: d.device_id, name: d.name, created_ts: d.created_ts, has_keys: d.has_keys })
        .collect();
    Ok(Json(DeviceList { devices }))
}

#[utoipa::path(delete, path = routes::DeleteDevice::PATH, tag = "accounts", security(("bearer" = [])),
    params(("device_id" = String, Path)), request_body = DeleteDeviceRequest,
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[instrument(skip_all, fields(user = %caller.user_id, target = %device_id))]
pub async fn delete_device(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(device_id): Path<DeviceId>,
    Json(req): Json<DeleteDeviceRequest>,
) -> AppResult<StatusCode> {
    check_account_password(&state, &caller, req.password).await?;
    let target = DeviceAddress { user_id: caller.user_id, device_id };
    if !state.devices.delete_device(&target).await? {
        return Err(AppError::not_found("You have no device with that id."));
    }
    state.hub.disconnect(&target);
    tracing::info!("device removed");
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = routes::GetJwks::PATH, tag = "accounts", responses((status = 200, body = Jwks)))]
pub async fn jwks(State(state): State<AppState>) -> Json<Jwks> {
    Json(state.tokens.jwks())
}
