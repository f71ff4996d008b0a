//! The HTTP API: one module per domain, and [`router`] that wires them with the layers every
//! route shares (body limit, metrics, JSON errors for unknown routes and methods).

pub mod accounts;
pub mod backup;
pub mod blobs;
pub mod groups;
pub mod keys;
pub mod messages;
pub mod profiles;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::handler::Handler;
use axum::http::StatusCode;
use axum::routing::{MethodFilter, get, on};
use sotto_proto::ErrorCode;
use sotto_proto::limits::{MAX_BACKUP_BYTES, MAX_BODY_BYTES};
use sotto_proto::routes::{self, Endpoint, Method};

use crate::error::AppError;
use crate::state::AppState;
use crate::store::AccountStore;

/// Routes an [`Endpoint`] of the shared table: its method and path come from `sotto_proto`, so
/// the server cannot serve a route at another place than the client calls it.
trait EndpointRouter {
    fn endpoint<E: Endpoint, H: Handler<T, AppState>, T: 'static>(self, endpoint: E, handler: H) -> Self;
}

impl EndpointRouter for Router<AppState> {
    fn endpoint<E: Endpoint, H: Handler<T, AppState>, T: 'static>(self, _: E, handler: H) -> Self {
        let filter = match E::METHOD {
            Method::Get => MethodFilter::GET,
            Method::Post => MethodFilter::POST,
            Method::Put => MethodFilter::PUT,
            Method::Delete => MethodFilter::DELETE,
        };
        self.route(E::PATH, on(filter, handler))
    }
}

pub fn router(state: AppState) -> Router {
    // The backup blob may be larger than any other body (JSON string escaping included).
    let backup_routes = Router::new()
        .endpoint(routes::GetBackup, backup::get_backup)
        .endpoint(routes::PutBackup, backup::put_backup)
        .layer(DefaultBodyLimit::max(MAX_BACKUP_BYTES + 64 * 1024));
    // A part's body is streamed to disk; its extractor bounds it by its declared length.
    let blob_routes = Router::new()
        .endpoint(routes::CreateBlob, blobs::create_blob)
        .endpoint(routes::PutBlobPart, blobs::put_blob_part)
        .endpoint(routes::BlobUploadState, blobs::blob_upload_state)
        .endpoint(routes::CompleteBlob, blobs::complete_blob)
        .endpoint(routes::GetBlob, blobs::get_blob)
        .endpoint(routes::DeleteBlob, blobs::delete_blob)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES));
    let api = Router::new()
        .endpoint(routes::Register, accounts::register)
        .endpoint(routes::Login, accounts::login)
        .endpoint(routes::LoginExternal, accounts::login_external)
        .endpoint(routes::Refresh, accounts::refresh)
        .endpoint(routes::Logout, accounts::logout)
        .endpoint(routes::ChangePassword, accounts::change_password)
        .endpoint(routes::ListDevices, accounts::list_devices)
        .endpoint(routes::DeleteDevice, accounts::delete_device)
        .endpoint(routes::GetJwks, accounts::jwks)
        .endpoint(routes::PutDeviceKeys, keys::put_device_keys)
        .endpoint(routes::ResetDeviceKeys, keys::reset_device_keys)
        .endpoint(routes::UploadOneTimeKeys, keys::upload_one_time_keys)
        .endpoint(routes::CountKeys, keys::key_counts)
        .endpoint(routes::PutIdentity, keys::put_identity)
        .endpoint(routes::ResetIdentity, keys::reset_identity)
        .endpoint(routes::ConfirmDevices, keys::confirm_devices)
        .endpoint(routes::PutUserSignature, keys::put_user_signature)
        .endpoint(routes::DeleteUserSignature, keys::delete_user_signature)
        .endpoint(routes::QueryKeys, keys::query_keys)
        .endpoint(routes::ClaimKeys, keys::claim_keys)
        .endpoint(routes::SendDirect, messages::send_direct)
        .endpoint(routes::SendToDevice, messages::send_to_device)
        .endpoint(routes::FetchInbox, messages::fetch_inbox)
        .endpoint(routes::AckInbox, messages::ack_inbox)
        .endpoint(routes::Connect, crate::ws::connect)
        .endpoint(routes::CreateGroup, groups::create_group)
        .endpoint(routes::ListGroups, groups::list_groups)
        .endpoint(routes::GetGroup, groups::get_group)
        .endpoint(routes::ChangeGroup, groups::change_group)
        .endpoint(routes::GroupLog, groups::group_log)
        .endpoint(routes::SendGroup, groups::send_group)
        .endpoint(routes::GroupHistory, groups::group_history)
        .endpoint(routes::PutProfile, profiles::put_profile)
        .endpoint(routes::GetProfile, profiles::get_profile)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .merge(backup_routes)
        .merge(blob_routes);
    Router::new()
        .merge(api)
        .route(routes::HEALTH_PATH, get(healthz))
        .route(routes::READY_PATH, get(readyz))
        .route(routes::METRICS_PATH, get(crate::metrics::render))
        .route(routes::OPENAPI_PATH, get(crate::openapi::serve))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::metrics::track))
        .with_state(state)
}

#[utoipa::path(get, path = routes::HEALTH_PATH, tag = "operations", responses((status = 200, body = String, description = "`ok` while the server runs")))]
pub async fn healthz() -> &'static str {
    "ok"
}

#[utoipa::path(get, path = routes::READY_PATH, tag = "operations", responses(
    (status = 200, body = String, description = "`ready`: the database answers a query"),
    (status = 503, body = String, description = "`not ready`: the database does not answer (the cause is logged); `shutting down`: the server is stopping and still serves for its grace period")))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    if state.draining.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    }
    ready(state.accounts.as_ref()).await
}

/// What [`readyz`] answers for `store`.
async fn ready(store: &dyn AccountStore) -> (StatusCode, &'static str) {
    match store.ping().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check: the database does not answer");
            (StatusCode::SERVICE_UNAVAILABLE, "not ready")
        }
    }
}

async fn not_found() -> AppError {
    AppError::not_found("No such route.")
}

async fn method_not_allowed() -> AppError {
    AppError::new(StatusCode::METHOD_NOT_ALLOWED, ErrorCode::MethodNotAllowed, "This route does not take that method.")
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;
    use axum::http::StatusCode;
    use sotto_proto::UserId;

    use super::ready;
    use crate::store::{AccountStore, StoreError, StoreResult};

    /// A database that fails every query.
    struct Down;

    fn down<T>() -> StoreResult<T> {
        Err(StoreError::Database("the database writer has stopped".into()))
    }

    #[async_trait]
    impl AccountStore for Down {
        async fn create_account(&self, _: &UserId, _: &str, _: u64) -> StoreResult<()> {
            down()
        }
        async fn password_hash(&self, _: &UserId) -> StoreResult<Option<String>> {
            down()
        }
        async fn existing_users(&self, _: &[UserId]) -> StoreResult<Vec<UserId>> {
            down()
        }
        async fn replace_password_hash(&self, _: &UserId, _: &str, _: &str) -> StoreResult<bool> {
            down()
        }
        async fn ping(&self) -> StoreResult<()> {
            down()
        }
        async fn spend_external_token_id(&self, _: &str, _: u64, _: u64) -> StoreResult<bool> {
            down()
        }
    }

    #[tokio::test]
    async fn not_ready_while_the_database_fails() {
        assert_eq!(ready(&Down).await, (StatusCode::SERVICE_UNAVAILABLE, "not ready"));
    }
}
