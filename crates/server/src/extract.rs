//! Extractors that turn every bad input into an [`AppError`] of the one JSON shape.

use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, MissingJsonContentType};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;
use sotto_proto::ErrorCode;

use crate::error::AppError;

/// `axum::Json`, but a rejection becomes `{code: "invalid_json", ...}` (or 413/415), and the
/// body must be a JSON object: serde reads a struct from an array too (`["alice", "password"]`
/// as a login), so without this check every route would also take its fields by position, a
/// second request shape nobody documents, tests or validates with the field names in mind.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        // What `axum::Json` does, with the top level checked between reading and parsing.
        if !json_content_type(req.headers()) {
            return Err(JsonRejection::from(MissingJsonContentType::default()).into());
        }
        let bytes = Bytes::from_request(req, state).await.map_err(JsonRejection::from)?;
        if let Some(kind) = top_level_not_object(&bytes) {
            return Err(AppError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidJson,
                format!("The body must be a JSON object (`{{...}}`), not {kind}."),
            ));
        }
        let axum::Json(value) = axum::Json::<T>::from_bytes(&bytes)?;
        Ok(Json(value))
    }
}

/// `application/json` or `application/<anything>+json`, parameters allowed: what `axum::Json`
/// accepts.
fn json_content_type(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<mime::Mime>().ok())
        .is_some_and(|mime| {
            mime.type_() == "application" && (mime.subtype() == "json" || mime.suffix().is_some_and(|s| s == "json"))
        })
}

/// What the top level of a valid JSON `body` is when it is not an object (JSON's first
/// non-whitespace byte says it); `None` for an object, and for a body that is not valid JSON,
/// which the parser then refuses with its own words.
fn top_level_not_object(body: &[u8]) -> Option<&'static str> {
    let first = body.iter().find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))?;
    if *first == b'{' || serde_json::from_slice::<serde::de::IgnoredAny>(body).is_err() {
        return None;
    }
    Some(match first {
        b'[' => "an array",
        b'"' => "a string",
        b't' | b'f' => "a boolean",
        b'n' => "null",
        _ => "a number",
    })
}

impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}

/// `axum::extract::Path` with the same error shape.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(AppError))]
pub struct Path<T>(pub T);

/// `axum::extract::Query` with the same error shape.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(AppError))]
pub struct Query<T>(pub T);
