//! The key directory: publish identity and one-time keys, query devices, claim one-time keys.
//! Every uploaded key must carry a valid signature by the device's Ed25519 identity key.

use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use ed25519_dalek::{Signature, VerifyingKey};
use sotto_proto::limits::{
    MAX_CLAIM_DEVICES, MAX_CONFIRMATIONS, MAX_ONE_TIME_KEYS_PER_UPLOAD, MAX_QUERY_USERS, MAX_UNCLAIMED_ONE_TIME_KEYS,
};
use sotto_proto::routes::{self, Endpoint as _};
use sotto_proto::{
    ClaimKeysRequest, ClaimKeysResponse, ConfirmDevicesRequest, DeviceAddress, DeviceConfirmation, DeviceKeys,
    ErrorBody, ErrorCode, KeyCounts, QueryKeysRequest, QueryKeysResponse, ResetDeviceKeysRequest, ResetIdentityRequest,
    SignedKey, UploadKeysRequest, UserId, UserIdentity, UserSignature,
};
use tracing::instrument;

use crate::auth::Authenticated;
use crate::error::{AppError, AppResult};
use crate::extract::{Json, Path};
use crate::state::AppState;
use crate::store::{AddKeysOutcome, ReplaceKeysOutcome, SetKeysOutcome, StoreError};

/// Decodes unpadded base64 of exactly `N` bytes.
fn decode_fixed<const N: usize>(value: &str, what: &str) -> AppResult<[u8; N]> {
    let bytes = STANDARD_NO_PAD
        .decode(value)
        .map_err(|_| AppError::invalid_input(format!("The {what} is not unpadded base64.")))?;
    <[u8; N]>::try_from(bytes.as_slice())
        .map_err(|_| AppError::invalid_input(format!("The {what} must be {N} bytes, got {}.", bytes.len())))
}

pub(crate) fn verify(key: &VerifyingKey, message: &[u8], signature: &str, what: &str) -> AppResult<()> {
    let sig = Signature::from_bytes(&decode_fixed::<64>(signature, "signature")?);
    key.verify_strict(message, &sig).map_err(|_| {
        AppError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidSignature,
            format!("The signature over the {what} does not verify."),
        )
    })
}

fn verifying_key(keys: &DeviceKeys) -> AppResult<VerifyingKey> {
    ed25519_key(&keys.ed25519, "Ed25519 key")
}

pub(crate) fn ed25519_key(value: &str, what: &str) -> AppResult<VerifyingKey> {
    VerifyingKey::from_bytes(&decode_fixed::<32>(value, what)?)
        .map_err(|_| AppError::invalid_input(format!("The {what} is not a valid curve point.")))
}

#[utoipa::path(put, path = routes::PutIdentity::PATH, tag = "keys", security(("bearer" = [])), request_body = UserIdentity,
    responses((status = 204), (status = 400, body = ErrorBody, description = "invalid_input or invalid_signature"),
        (status = 403, body = ErrorBody, description = "the identity names another user"),
        (status = 409, body = ErrorBody, description = "the user already has another identity")))]
#[instrument(skip_all, fields(user = %device.user_id, device = %device.device_id))]
pub async fn put_identity(
    State(state): State<AppState>,
    Authenticated(device): Authenticated,
    Json(identity): Json<UserIdentity>,
) -> AppResult<StatusCode> {
    check_identity(&device, &identity)?;
    match state.devices.set_identity(&identity).await? {
        SetKeysOutcome::Stored => tracing::info!("user identity published"),
        SetKeysOutcome::Unchanged => {}
        SetKeysOutcome::Conflict => {
            return Err(AppError::conflict(
                "This account already has another identity; confirm this device from one of its devices or with the recovery key.",
            ));
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = routes::ResetIdentity::PATH, tag = "keys", security(("bearer" = [])),
    request_body = ResetIdentityRequest,
    responses((status = 204, description = "The user has the new identity; no device is confirmed any more"),
        (status = 400, body = ErrorBody, description = "invalid_input or invalid_signature"),
        (status = 401, body = ErrorBody, description = "invalid_credentials: the password is wrong"),
        (status = 403, body = ErrorBody, description = "the identity names another user"),
        (status = 409, body = ErrorBody, description = "no_password: the account signs in through an external issuer"),
        (status = 429, body = ErrorBody)))]
#[instrument(skip_all, fields(user = %device.user_id, device = %device.device_id))]
pub async fn reset_identity(
    State(state): State<AppState>,
    Authenticated(device): Authenticated,
    Json(req): Json<ResetIdentityRequest>,
) -> AppResult<StatusCode> {
    check_identity(&device, &req.identity)?;
    // Whoever holds a stolen token must not be able to make every contact trust a new identity.
    crate::api::accounts::check_account_password(&state, &device, req.password).await?;
    if state.devices.replace_identity(&req.identity).await? {
        tracing::info!("user identity replaced; every device must be confirmed again");
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Checks that `identity` is the caller's user's, well-formed, and signed by its master key.
fn check_identity(device: &DeviceAddress, identity: &UserIdentity) -> AppResult<()> {
    if identity.user_id != device.user_id {
        return Err(AppError::forbidden("A device may only publish its own user's identity."));
    }
    let master = ed25519_key(&identity.master_key, "master key")?;
    ed25519_key(&identity.self_signing_key, "self-signing key")?;
    ed25519_key(&identity.user_signing_key, "user-signing key")?;
    verify(&master, &identity.signing_bytes(), &identity.signature, "identity")
}

#[utoipa::path(put, path = routes::PutUserSignature::PATH, tag = "keys", security(("bearer" = [])),
    request_body = UserSignature,
    responses((status = 204), (status = 400, body = ErrorBody, description = "invalid_input or invalid_signature"),
        (status = 404, body = ErrorBody, description = "no such user"),
        (status = 409, body = ErrorBody, description = "the signer has no identity yet")))]
#[instrument(skip_all, fields(user = %device.user_id, device = %device.device_id))]
pub async fn put_user_signature(
    State(state): State<AppState>,
    Authenticated(device): Authenticated,
    Json(signature): Json<UserSignature>,
) -> AppResult<StatusCode> {
    if signature.target == device.user_id {
        return Err(AppError::invalid_input("A user does not sign their own master key this way."));
    }
    let identity = state
        .devices
        .identity(&device.user_id)
        .await?
        .ok_or_else(|| AppError::conflict("Publish the user's identity before signing others."))?;
    let user_signing = ed25519_key(&identity.user_signing_key, "user-signing key")?;
    ed25519_key(&signature.master_key, "master key")?;
    let bytes = UserSignature::signing_bytes(&device.user_id, &signature.target, &signature.master_key);
    verify(&user_signing, &bytes, &signature.signature, "user signature")?;
    match state.devices.set_user_signature(&device.user_id, &signature).await {
        Err(StoreError::NotFound) => Err(AppError::not_found(format!("There is no user {}.", signature.target))),
        other => Ok(other.map(|()| StatusCode::NO_CONTENT)?),
    }
}

#[utoipa::path(delete, path = routes::DeleteUserSignature::PATH, tag = "keys", security(("bearer" = [])),
    params(("user_id" = String, Path, description = "the user no longer verified")),
    responses((status = 204), (status = 404, body = ErrorBody, description = "no such signature")))]
#[instrument(skip_all, fields(user = %device.user_id, device = %device.device_id))]
pub async fn delete_user_signature(
    State(state): State<AppState>,
    Authenticated(device): Authenticated,
    Path(target): Path<UserId>,
) -> AppResult<StatusCode> {
    if state.devices.delete_user_signature(&device.user_id, &target).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::not_found("This user is not signed."))
    }
}

#[utoipa::path(post, path = routes::ConfirmDevices::PATH, tag = "keys", security(("bearer" = [])),
    request_body = ConfirmDevicesRequest,
    responses((status = 204, description = "Every confirmation is stored"),
        (status = 400, body = ErrorBody, description = "invalid_input or invalid_signature"),
        (status = 404, body = ErrorBody, description = "no such device with published keys"),
        (status = 409, body = ErrorBody, description = "the user has no identity yet, or the device's keys changed meanwhile")))]
#[instrument(skip_all, fields(user = %device.user_id, device = %device.device_id, count = req.confirmations.len()))]
pub async fn confirm_devices(
    State(state): State<AppState>,
    Authenticated(device): Authenticated,
    Json(req): Json<ConfirmDevicesRequest>,
) -> AppResult<StatusCode> {
    if req.confirmations.is_empty() || req.confirmations.len() > MAX_CONFIRMATIONS {
        return Err(AppError::invalid_input(format!("Send 1 to {MAX_CONFIRMATIONS} confirmations at a time.")));
    }
    let identity = state
        .devices
        .identity(&device.user_id)
        .await?
        .ok_or_else(|| AppError::conflict("Publish the user's identity before confirming devices."))?;
    let self_signing = ed25519_key(&identity.self_signing_key, "self-signing key")?;
    // Check all before storing any, so a bad one in the batch stores nothing.
    let mut checked = Vec::with_capacity(req.confirmations.len());
    for confirmation in &req.confirmations {
        let target = DeviceAddress { user_id: device.user_id.clone(), device_id: confirmation.device_id.clone() };
        let keys = state
            .devices
            .device_keys(&target)
            .await?
            .ok_or_else(|| AppError::not_found(format!("There is no device {} with keys.", target.device_id)))?;
        verify(
            &self_signing,
            &DeviceConfirmation::signing_bytes(&keys),
            &confirmation.signature,
            "device confirmation",
        )?;
        checked.push((target, keys.ed25519, confirmation.signature.clone()));
    }
    for (target, ed25519, signature) in checked {
        if !state.devices.confirm_device(&target, &ed25519, &signature).await? {
            return Err(AppError::conflict(format!("The keys of device {} changed meanwhile.", target.device_id)));
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(put, path = routes::PutDeviceKeys::PATH, tag = "keys", security(("bearer" = [])), request_body = DeviceKeys,
    responses((status = 204), (status = 400, body = ErrorBody, description = "invalid_input or invalid_signature"),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody, description = "other identity keys are already published")))]
#[instrument(skip_all, fields(user = %device.user_id, device = %device.device_id))]
pub async fn put_device_keys(
    State(state): State<AppState>,
    Authenticated(device): Authenticated,
    Json(keys): Json<DeviceKeys>,
) -> AppResult<StatusCode> {
    check_own_keys(&device, &keys)?;
    match state.devices.set_device_keys(&keys).await? {
        SetKeysOutcome::Stored | SetKeysOutcome::Unchanged => Ok(StatusCode::NO_CONTENT),
        SetKeysOutcome::Conflict => Err(AppError::conflict(
            "This device already published other identity keys; a new identity needs a key reset (with the password).",
        )),
    }
}

/// Checks that `keys` are the calling device's and carry a valid self-signature.
fn check_own_keys(device: &DeviceAddress, keys: &DeviceKeys) -> AppResult<()> {
    if keys.user_id != device.user_id || keys.device_id != device.device_id {
        return Err(AppError::forbidden("A device may only publish its own keys."));
    }
    decode_fixed::<32>(&keys.curve25519, "Curve25519 key")?;
    let signer = verifying_key(keys)?;
    verify(&signer, &keys.signing_bytes(), &keys.signature, "device keys")
}

#[utoipa::path(post, path = routes::ResetDeviceKeys::PATH, tag = "keys", security(("bearer" = [])),
    request_body = ResetDeviceKeysRequest,
    responses((status = 204, description = "The device has the new identity; its old one-time and fallback keys are deleted"),
        (status = 400, body = ErrorBody, description = "invalid_input or invalid_signature"),
        (status = 401, body = ErrorBody, description = "invalid_credentials: the password is wrong"),
        (status = 403, body = ErrorBody, description = "the keys name another device"),
        (status = 409, body = ErrorBody, description = "no_password: the account signs in through an external issuer"),
        (status = 429, body = ErrorBody)))]
#[instrument(skip_all, fields(user = %device.user_id, device = %device.device_id))]
pub async fn reset_device_keys(
    State(state): State<AppState>,
    Authenticated(device): Authenticated,
    Json(req): Json<ResetDeviceKeysRequest>,
) -> AppResult<StatusCode> {
    check_own_keys(&device, &req.keys)?;
    // A new identity is what an attacker holding a stolen access token would want most: it needs
    // the password as well.
    crate::api::accounts::check_account_password(&state, &device, req.password).await?;
    match state.devices.replace_device_keys(&req.keys).await? {
        ReplaceKeysOutcome::Replaced => tracing::info!("device identity keys reset"),
        ReplaceKeysOutcome::Unchanged => tracing::info!("device identity reset repeated; nothing changed"),
    }
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = routes::UploadOneTimeKeys::PATH, tag = "keys", security(("bearer" = [])), request_body = UploadKeysRequest,
    responses((status = 200, body = KeyCounts), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[instrument(skip_all, fields(user = %device.user_id, device = %device.device_id, count = req.one_time_keys.len()))]
pub async fn upload_one_time_keys(
    State(state): State<AppState>,
    Authenticated(device): Authenticated,
    Json(req): Json<UploadKeysRequest>,
) -> AppResult<Json<KeyCounts>> {
    if req.one_time_keys.len() > MAX_ONE_TIME_KEYS_PER_UPLOAD {
        return Err(AppError::invalid_input(format!(
            "At most {MAX_ONE_TIME_KEYS_PER_UPLOAD} one-time keys per upload."
        )));
    }
    let identity = state
        .devices
        .device_keys(&device)
        .await?
        .ok_or_else(|| AppError::conflict("Publish the device's identity keys before its one-time keys."))?;
    let signer = verifying_key(&identity)?;
    let check = |k: &SignedKey| -> AppResult<()> {
        decode_fixed::<32>(&k.key, "one-time key")?;
        verify(&signer, &k.signing_bytes(&device), &k.signature, "one-time key")
    };
    req.one_time_keys.iter().try_for_each(check)?;
    if let Some(k) = &req.fallback_key {
        check(k)?;
    }
    match state.devices.add_one_time_keys(&device, &req.one_time_keys, req.fallback_key.as_ref()).await? {
        AddKeysOutcome::Stored(counts) => Ok(Json(counts)),
        AddKeysOutcome::Conflict => Err(AppError::conflict("A key id was uploaded before with a different key.")),
        AddKeysOutcome::TooMany { held } => Err(AppError::invalid_input(format!(
            "The server holds {held} unclaimed one-time keys for this device and at most \
             {MAX_UNCLAIMED_ONE_TIME_KEYS}; upload at most {} new ones until some are claimed.",
            (MAX_UNCLAIMED_ONE_TIME_KEYS as u64).saturating_sub(held)
        ))),
    }
}

#[utoipa::path(get, path = routes::CountKeys::PATH, tag = "keys", security(("bearer" = [])),
    responses((status = 200, body = KeyCounts), (status = 401, body = ErrorBody)))]
pub async fn key_counts(
    State(state): State<AppState>,
    Authenticated(device): Authenticated,
) -> AppResult<Json<KeyCounts>> {
    Ok(Json(state.devices.key_counts(&device).await?))
}

#[utoipa::path(post, path = routes::QueryKeys::PATH, tag = "keys", security(("bearer" = [])), request_body = QueryKeysRequest,
    responses((status = 200, body = QueryKeysResponse), (status = 400, body = ErrorBody)))]
#[instrument(skip_all, fields(user = %device.user_id, users = req.user_ids.len()))]
pub async fn query_keys(
    State(state): State<AppState>,
    Authenticated(device): Authenticated,
    Json(req): Json<QueryKeysRequest>,
) -> AppResult<Json<QueryKeysResponse>> {
    if req.user_ids.is_empty() || req.user_ids.len() > MAX_QUERY_USERS {
        return Err(AppError::invalid_input(format!("Query 1 to {MAX_QUERY_USERS} users at a time.")));
    }
    let mut users = req.user_ids;
    users.sort();
    users.dedup();
    let found = state.devices.query_devices(&device.user_id, &users).await?;
    let unknown_users = users.into_iter().filter(|u| !found.iter().any(|f| f.user_id == *u)).collect();
    Ok(Json(QueryKeysResponse { users: found, unknown_users }))
}

#[utoipa::path(post, path = routes::ClaimKeys::PATH, tag = "keys", security(("bearer" = [])), request_body = ClaimKeysRequest,
    responses((status = 200, body = ClaimKeysResponse), (status = 400, body = ErrorBody)))]
#[instrument(skip_all, fields(user = %device.user_id, devices = req.devices.len()))]
pub async fn claim_keys(
    State(state): State<AppState>,
    Authenticated(device): Authenticated,
    Json(req): Json<ClaimKeysRequest>,
) -> AppResult<Json<ClaimKeysResponse>> {
    if req.devices.is_empty() || req.devices.len() > MAX_CLAIM_DEVICES {
        return Err(AppError::invalid_input(format!("Claim keys of 1 to {MAX_CLAIM_DEVICES} devices at a time.")));
    }
    let mut wanted: Vec<DeviceAddress> = req.devices;
    wanted.sort();
    wanted.dedup();
    // Each account's claims, and the claims on each device, are limited; past a limit the claim
    // gets the device's fallback key, so draining a device's one-time keys is not possible and
    // a client over its budget still sets up its sessions.
    let may_claim = state.limits.one_time_key_claims(&device.user_id, &wanted).await?;
    let fallback_only: Vec<DeviceAddress> =
        wanted.iter().zip(may_claim).filter(|(_, may)| !may).map(|(target, _)| target.clone()).collect();
    if !fallback_only.is_empty() {
        tracing::debug!(devices = fallback_only.len(), "claims past their limit get fallback keys");
    }
    let keys = state.devices.claim_keys(&wanted, &fallback_only).await?;
    let missing = wanted
        .into_iter()
        .filter(|d| !keys.iter().any(|k| k.user_id == d.user_id && k.device_id == d.device_id))
        .collect();
    Ok(Json(ClaimKeysResponse { keys, missing }))
}
