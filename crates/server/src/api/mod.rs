//! The HTTP API: one module per domain, and [`router`] that wires them with the layers every
//! route shares (body limit, metrics, JSON errors for unknown routes and methods).

pub mod accounts;
pub mod backup;
pub mod groups;
pub mod keys;
pub mod messages;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};
use sotto_proto::ErrorCode;
use sotto_proto::limits::{MAX_BACKUP_BYTES, MAX_BODY_BYTES};

use crate::error::AppError;
use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    // The backup blob may be larger than any other body (JSON string escaping included).
    let backup_routes = Router::new()
        .route("/v1/backup", get(backup::get_backup).put(backup::put_backup))
        .layer(DefaultBodyLimit::max(MAX_BACKUP_BYTES + 64 * 1024));
    let api = Router::new()
        .route("/v1/accounts", post(accounts::register))
        .route("/v1/sessions", post(accounts::login))
        .route("/v1/sessions/refresh", post(accounts::refresh))
        .route("/v1/sessions/external", post(accounts::login_external))
        .route("/v1/sessions/current", delete(accounts::logout))
        .route("/v1/account/password", put(accounts::change_password))
        .route("/v1/devices", get(accounts::list_devices))
        .route("/v1/devices/{device_id}", delete(accounts::delete_device))
        .route("/v1/jwks.json", get(accounts::jwks))
        .route("/v1/keys/device", put(keys::put_device_keys))
        .route("/v1/keys/device/reset", post(keys::reset_device_keys))
        .route("/v1/keys/one-time", post(keys::upload_one_time_keys))
        .route("/v1/keys/count", get(keys::key_counts))
        .route("/v1/keys/query", post(keys::query_keys))
        .route("/v1/keys/claim", post(keys::claim_keys))
        .route("/v1/messages", post(messages::send_direct))
        .route("/v1/inbox", get(messages::fetch_inbox))
        .route("/v1/inbox/ack", post(messages::ack_inbox))
        .route("/v1/ws", get(crate::ws::connect))
        .route("/v1/groups", post(groups::create_group).get(groups::list_groups))
        .route("/v1/groups/{group_id}", get(groups::get_group).delete(groups::dismiss_group))
        .route("/v1/groups/{group_id}/members", post(groups::add_members))
        .route("/v1/groups/{group_id}/members/{user_id}", delete(groups::remove_member))
        .route("/v1/groups/{group_id}/members/{user_id}/role", put(groups::set_role))
        .route("/v1/groups/{group_id}/leave", post(groups::leave_group))
        .route("/v1/groups/{group_id}/messages", post(groups::send_group))
        .route("/v1/groups/{group_id}/history", get(groups::group_history))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .merge(backup_routes);
    Router::new()
        .merge(api)
        .route("/healthz", get(healthz))
        .route("/metrics", get(crate::metrics::render))
        .route("/openapi.json", get(crate::openapi::serve))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::metrics::track))
        .with_state(state)
}

#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = String, description = "`ok` while the server runs")))]
pub async fn healthz() -> &'static str {
    "ok"
}

async fn not_found() -> AppError {
    AppError::not_found("No such route.")
}

async fn method_not_allowed() -> AppError {
    AppError::new(StatusCode::METHOD_NOT_ALLOWED, ErrorCode::MethodNotAllowed, "This route does not take that method.")
}
