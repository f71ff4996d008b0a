//! `AppError`: every failure a handler can return, and its one JSON shape on the wire.
//!
//! 4xx bodies say what was wrong with the request in words a developer can act on; 5xx bodies are
//! generic and the cause goes to the log. Neither ever contains a secret, a token or a message body.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sotto_proto::{DeviceMismatch, ErrorBody, ErrorCode};

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// A client error: status, code and a sentence.
    #[error("{code:?}: {message}")]
    Client { status: StatusCode, code: ErrorCode, message: String },
    /// A refusal for now (rate limited, busy): like `Client`, with the time after which a retry
    /// may succeed, sent as `Retry-After` (whole seconds, at least 1).
    #[error("{code:?}: {message} (retry after {after:?})")]
    RetryLater { status: StatusCode, code: ErrorCode, message: String, after: std::time::Duration },
    /// A direct send whose payloads do not match the recipients' devices.
    #[error("devices changed")]
    DevicesChanged(DeviceMismatch),
    /// A group change adds users who never wrote to its author: they must be invited.
    #[error("invitation required")]
    InvitationRequired(Vec<sotto_proto::UserId>),
    /// A store failure.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Any other server-side failure (the text goes to the log only).
    #[error("internal error: {0}")]
    Internal(String),
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        AppError::Client { status, code, message: message.into() }
    }
    pub fn retry_later(
        status: StatusCode,
        code: ErrorCode,
        message: impl Into<String>,
        after: std::time::Duration,
    ) -> Self {
        AppError::RetryLater { status, code, message: message.into(), after }
    }
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidInput, message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, ErrorCode::Conflict, message)
    }
    pub fn not_member() -> Self {
        Self::new(StatusCode::FORBIDDEN, ErrorCode::NotMember, "You are not a member of this group.")
    }
    pub fn unknown_users(users: &[impl std::fmt::Display]) -> Self {
        let list: Vec<String> = users.iter().map(ToString::to_string).collect();
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorCode::UnknownUser,
            format!("No account on this server for: {}.", list.join(", ")),
        )
    }
    pub fn internal(message: impl Into<String>) -> Self {
        AppError::Internal(message.into())
    }

    /// The status, the body, and for a refusal for now the time after which a retry may succeed:
    /// what HTTP answers, and what a send over the WebSocket is answered with. A server-side
    /// failure's cause goes to the log here; its body is generic.
    pub fn into_body(self) -> (StatusCode, ErrorBody, Option<std::time::Duration>) {
        match self {
            AppError::Client { status, code, message } => {
                (status, ErrorBody { code, message, devices: None, users: None }, None)
            }
            AppError::RetryLater { status, code, message, after } => {
                (status, ErrorBody { code, message, devices: None, users: None }, Some(after))
            }
            AppError::DevicesChanged(mismatch) => (
                StatusCode::CONFLICT,
                ErrorBody {
                    code: ErrorCode::DevicesChanged,
                    message: "The recipients' devices have changed: query their keys and send again.".into(),
                    devices: Some(mismatch),
                    users: None,
                },
                None,
            ),
            AppError::InvitationRequired(users) => (
                StatusCode::FORBIDDEN,
                ErrorBody {
                    code: ErrorCode::InvitationRequired,
                    message: format!(
                        "These people have not written to you, so they can only be invited: {}.",
                        users.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
                    ),
                    devices: None,
                    users: Some(users),
                },
                None,
            ),
            AppError::Store(err) => {
                tracing::error!(error = %err, "store failure");
                (StatusCode::INTERNAL_SERVER_ERROR, internal_body(), None)
            }
            AppError::Internal(err) => {
                tracing::error!(error = %err, "internal failure");
                (StatusCode::INTERNAL_SERVER_ERROR, internal_body(), None)
            }
        }
    }
}

/// Whole seconds, at least 1, as `Retry-After` says them.
pub fn retry_after_secs(after: std::time::Duration) -> u64 {
    (after.as_secs() + u64::from(after.subsec_nanos() > 0)).max(1)
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, body, after) = self.into_body();
        match after {
            Some(after) => {
                let retry_after = [(axum::http::header::RETRY_AFTER, retry_after_secs(after).to_string())];
                (status, retry_after, Json(body)).into_response()
            }
            None => (status, Json(body)).into_response(),
        }
    }
}

fn internal_body() -> ErrorBody {
    ErrorBody {
        code: ErrorCode::Internal,
        message: "The server could not complete the request. Try again later.".into(),
        devices: None,
        users: None,
    }
}

impl From<JsonRejection> for AppError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::MissingJsonContentType(_) => AppError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::UnsupportedMediaType,
                "Send the body as JSON with `Content-Type: application/json`.",
            ),
            JsonRejection::BytesRejection(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => too_large(),
            JsonRejection::JsonDataError(r) => AppError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidJson,
                format!("The JSON body does not match the expected shape: {}", describe_shape_error(&r.body_text())),
            ),
            JsonRejection::JsonSyntaxError(_) => {
                AppError::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidJson, "The body is not valid JSON.")
            }
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => too_large(),
            _ => AppError::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidJson, "The body could not be read."),
        }
    }
}

/// Keeps serde's words when they name a field (unknown, missing, or one of our invalid ids) and
/// drops them when they may quote a value the client sent (`invalid type: string "..."`), so an
/// error body never echoes a password or a ciphertext.
pub(crate) fn describe_shape_error(text: &str) -> String {
    let detail = text.split_once(": ").map_or(text, |(_, rest)| rest);
    let (path, what) = detail.split_once(": ").unwrap_or(("", detail));
    let what = what.split(" at line ").next().unwrap_or(what);
    let safe = what.starts_with("unknown field")
        || what.starts_with("missing field")
        || sotto_proto::ids::ID_KINDS.iter().any(|kind| what.starts_with(&format!("invalid {kind}:")));
    let what = if safe { what } else { "a value has the wrong type or is out of range" };
    if path.is_empty() || path == "." { what.to_owned() } else { format!("{path}: {what}") }
}

pub fn too_large() -> AppError {
    AppError::new(StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::PayloadTooLarge, "The request body is too large.")
}

impl From<PathRejection> for AppError {
    fn from(rejection: PathRejection) -> Self {
        AppError::invalid_input(format!("Invalid path: {}", rejection.body_text()))
    }
}

impl From<QueryRejection> for AppError {
    fn from(rejection: QueryRejection) -> Self {
        AppError::invalid_input(format!("Invalid query string: {}", rejection.body_text()))
    }
}

#[cfg(test)]
mod tests {
    use super::describe_shape_error;

    #[test]
    fn shape_errors_never_quote_values() {
        let t = "Failed to deserialize the JSON body into the target type: up_to: invalid type: string \"hunter2-secret\", expected u64 at line 1 column 20";
        let d = describe_shape_error(t);
        assert!(!d.contains("hunter2"), "{d}");
        assert!(d.starts_with("up_to: "), "{d}");
        let t = "Failed to deserialize the JSON body into the target type: zz: unknown field `zz`, expected one of `a` at line 1 column 5";
        assert_eq!(describe_shape_error(t), "zz: unknown field `zz`, expected one of `a`");
        let t = "Failed to deserialize the JSON body into the target type: user_id: invalid user id: expected 3 to 64 at line 1 column 5";
        assert_eq!(describe_shape_error(t), "user_id: invalid user id: expected 3 to 64");
    }
}
