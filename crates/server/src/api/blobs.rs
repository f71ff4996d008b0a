//! The blob routes: encrypted attachments uploaded in parts and downloaded by range. The rules
//! are in [`crate::blobs`]; here, who may call what:
//! - anyone signed in creates a blob, naming its recipients (existing accounts);
//! - only the uploader uploads parts, completes and deletes; a recipient who tries is
//!   `forbidden` (they know the blob exists);
//! - the uploader and the recipients read the upload state and download; anyone else gets
//!   `not_found`, as for a blob that does not exist.
//!
//! A part must start at the committed offset. A part that lies entirely below it (a retry of a
//! committed part whose answer was lost) is answered 200 with the current state and nothing is
//! written; any other offset is `conflict` (409), its message naming the committed offset, which
//! `GET /v1/blobs/{blob_id}/upload` also gives.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{StreamExt as _, TryStreamExt as _};
use sotto_proto::limits::{MAX_BLOB_PART_BYTES, MAX_BLOB_RECIPIENTS};
use sotto_proto::routes::{self, Endpoint as _};
use sotto_proto::{BlobId, BlobUpload, CreateBlobRequest, CreatedBlob, ErrorBody, ErrorCode};
use tracing::instrument;

use crate::auth::Authenticated;
use crate::blobs::{BlobError, upload_state};
use crate::error::{AppError, AppResult};
use crate::extract::{Json, OctetStream, Path};
use crate::state::AppState;
use crate::store::BlobRecord;

/// Raw bytes in the OpenAPI document (`type: string, format: binary`).
struct RawBytes;

impl utoipa::PartialSchema for RawBytes {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .into()
    }
}

impl utoipa::ToSchema for RawBytes {}

/// The most of a blob held in memory per download: it is read from disk and sent a chunk at a time.
const DOWNLOAD_CHUNK_BYTES: usize = 256 * 1024;

impl From<BlobError> for AppError {
    fn from(e: BlobError) -> Self {
        match e {
            BlobError::NotFound => AppError::not_found("There is no such blob."),
            BlobError::TooLarge { size, max } => AppError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::BlobTooLarge,
                format!("A file of {size} bytes is larger than this server takes ({max} bytes)."),
            ),
            BlobError::QuotaExceeded { used, size, quota } => AppError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                ErrorCode::QuotaExceeded,
                format!(
                    "Your files take {used} of your {quota} bytes; {size} more do not fit. Delete some, or wait until they expire."
                ),
            ),
            BlobError::Incomplete { committed, size } => AppError::new(
                StatusCode::CONFLICT,
                ErrorCode::UploadIncomplete,
                format!("The upload is not complete: {committed} of {size} bytes."),
            ),
            BlobError::WrongOffset { offset, committed } => AppError::conflict(format!(
                "The part starts at {offset}, but the upload's committed offset is {committed}: send from there."
            )),
            BlobError::PastEnd { offset, len, size } => AppError::invalid_input(format!(
                "A part of {len} bytes at {offset} ends past the blob's declared size of {size} bytes."
            )),
            BlobError::BodyLength { expected, got } => AppError::invalid_input(format!(
                "The part's body did not have the {expected} bytes its Content-Length declared (got {got} or more); nothing was kept."
            )),
            BlobError::Busy => AppError::conflict("Another request is writing this blob; retry when it is done."),
            BlobError::StorageFull => AppError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                ErrorCode::InsufficientStorage,
                "The server's disk is full; the part was not kept. Retry later.",
            ),
            BlobError::Io(message) => AppError::internal(message),
            BlobError::Store(e) => AppError::Store(e),
        }
    }
}

/// The blob, if the caller uploaded it; `forbidden` for a recipient, `not_found` for anyone else.
async fn own_blob(state: &AppState, blob: &BlobId, caller: &sotto_proto::UserId) -> AppResult<BlobRecord> {
    let record = state.blobs.info(blob, caller).await?;
    if record.uploader != *caller {
        return Err(AppError::forbidden("Only the blob's uploader can change or delete it."));
    }
    Ok(record)
}

#[utoipa::path(post, path = routes::CreateBlob::PATH, tag = "blobs", security(("bearer" = [])), request_body = CreateBlobRequest,
    responses((status = 201, body = CreatedBlob), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody, description = "unknown_user: a recipient has no account"),
        (status = 413, body = ErrorBody, description = "blob_too_large"), (status = 507, body = ErrorBody, description = "quota_exceeded")))]
#[instrument(skip_all, fields(user = %device.user_id, size = req.size, recipients = req.recipients.len()))]
pub async fn create_blob(
    State(state): State<AppState>,
    Authenticated(device): Authenticated,
    Json(req): Json<CreateBlobRequest>,
) -> AppResult<(StatusCode, Json<CreatedBlob>)> {
    if req.recipients.len() > MAX_BLOB_RECIPIENTS {
        return Err(AppError::invalid_input(format!("A blob has at most {MAX_BLOB_RECIPIENTS} recipients.")));
    }
    let existing = state.accounts.existing_users(&req.recipients).await?;
    let unknown: Vec<_> = req.recipients.iter().filter(|u| !existing.contains(u)).collect();
    if !unknown.is_empty() {
        return Err(AppError::unknown_users(&unknown));
    }
    let record = state.blobs.create(&device.user_id, req.size, &req.recipients, state.clock.unix_millis()).await?;
    tracing::debug!(blob = %record.blob_id, "blob created");
    Ok((StatusCode::CREATED, Json(CreatedBlob { blob_id: record.blob_id, part_size: MAX_BLOB_PART_BYTES })))
}

#[utoipa::path(put, path = routes::PutBlobPart::PATH, tag = "blobs", security(("bearer" = [])),
    params(("blob_id" = String, Path), ("offset" = u64, Path, description = "where the part starts: the committed offset")),
    request_body(content = inline(RawBytes), content_type = "application/octet-stream", description = "the part's bytes (at most `part_size`), with a Content-Length"),
    responses((status = 200, body = BlobUpload, description = "the part is committed (or was already)"), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "a recipient, not the uploader"), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "conflict: not the committed offset, or another part is being written"),
        (status = 411, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 507, body = ErrorBody, description = "insufficient_storage: the server's disk is full; the committed offset is unchanged")))]
#[instrument(skip_all, fields(user = %device.user_id, blob = %blob_id, offset, bytes = part.len))]
pub async fn put_blob_part(
    State(state): State<AppState>,
    Authenticated(device): Authenticated,
    Path((blob_id, offset)): Path<(BlobId, u64)>,
    part: OctetStream<MAX_BLOB_PART_BYTES>,
) -> AppResult<Json<BlobUpload>> {
    let mut body = part.body.into_data_stream().map_err(std::io::Error::other).boxed();
    let appended = match own_blob(&state, &blob_id, &device.user_id).await {
        Ok(_) => state.blobs.append(&blob_id, offset, part.len, &mut body).await.map_err(AppError::from),
        Err(e) => Err(e),
    };
    // Read what the store did not (a retried part, a refusal), at most the declared length of
    // one part, so the client gets this answer rather than a connection reset mid-upload.
    let mut drained: u64 = 0;
    while drained <= part.len {
        match body.next().await {
            Some(Ok(chunk)) => drained = drained.saturating_add(chunk.len() as u64),
            _ => break,
        }
    }
    Ok(Json(upload_state(&appended?)))
}

#[utoipa::path(get, path = routes::BlobUploadState::PATH, tag = "blobs", security(("bearer" = [])), params(("blob_id" = String, Path)),
    responses((status = 200, body = BlobUpload), (status = 404, body = ErrorBody)))]
#[instrument(skip_all, fields(user = %device.user_id, blob = %blob_id))]
pub async fn blob_upload_state(
    State(state): State<AppState>,
    Authenticated(device): Authenticated,
    Path(blob_id): Path<BlobId>,
) -> AppResult<Json<BlobUpload>> {
    Ok(Json(upload_state(&state.blobs.info(&blob_id, &device.user_id).await?)))
}

#[utoipa::path(post, path = routes::CompleteBlob::PATH, tag = "blobs", security(("bearer" = [])), params(("blob_id" = String, Path)),
    responses((status = 200, body = BlobUpload), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "upload_incomplete: bytes are missing")))]
#[instrument(skip_all, fields(user = %device.user_id, blob = %blob_id))]
pub async fn complete_blob(
    State(state): State<AppState>,
    Authenticated(device): Authenticated,
    Path(blob_id): Path<BlobId>,
) -> AppResult<Json<BlobUpload>> {
    own_blob(&state, &blob_id, &device.user_id).await?;
    let record = state.blobs.complete(&blob_id, state.clock.unix_millis()).await?;
    Ok(Json(upload_state(&record)))
}

#[utoipa::path(delete, path = routes::DeleteBlob::PATH, tag = "blobs", security(("bearer" = [])), params(("blob_id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[instrument(skip_all, fields(user = %device.user_id, blob = %blob_id))]
pub async fn delete_blob(
    State(state): State<AppState>,
    Authenticated(device): Authenticated,
    Path(blob_id): Path<BlobId>,
) -> AppResult<StatusCode> {
    own_blob(&state, &blob_id, &device.user_id).await?;
    if !state.blobs.delete(&blob_id).await? {
        return Err(BlobError::NotFound.into());
    }
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = routes::GetBlob::PATH, tag = "blobs", security(("bearer" = [])),
    params(("blob_id" = String, Path), ("Range" = Option<String>, Header, description = "one range: `bytes=a-b`, `bytes=a-` or `bytes=-n`")),
    responses((status = 200, content_type = "application/octet-stream", body = inline(RawBytes), description = "the whole blob"),
        (status = 206, content_type = "application/octet-stream", body = inline(RawBytes), description = "the range, with Content-Range"),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "upload_incomplete"),
        (status = 416, body = ErrorBody, description = "the range is outside the blob; Content-Range: bytes */size")))]
#[instrument(skip_all, fields(user = %device.user_id, blob = %blob_id))]
pub async fn get_blob(
    State(state): State<AppState>,
    Authenticated(device): Authenticated,
    Path(blob_id): Path<BlobId>,
    headers: HeaderMap,
) -> AppResult<Response> {
    let record = state.blobs.info(&blob_id, &device.user_id).await?;
    if !record.complete {
        return Err(BlobError::Incomplete { committed: record.committed, size: record.size }.into());
    }
    let size = record.size;
    let (status, start, len) =
        match headers.get(header::RANGE).and_then(|v| v.to_str().ok()).map(|v| parse_range(v, size)) {
            None | Some(RangeAnswer::Whole) => (StatusCode::OK, 0, size),
            Some(RangeAnswer::Part { start, end }) => (StatusCode::PARTIAL_CONTENT, start, end - start + 1),
            Some(RangeAnswer::Unsatisfiable) => {
                let body = ErrorBody {
                    code: ErrorCode::InvalidInput,
                    message: format!("The range is outside the blob of {size} bytes."),
                    devices: None,
                    users: None,
                };
                let range = [(header::CONTENT_RANGE, format!("bytes */{size}"))];
                return Ok((StatusCode::RANGE_NOT_SATISFIABLE, range, axum::Json(body)).into_response());
            }
        };
    let reader = state.blobs.open_range(&blob_id, start, len).await?;
    let stream = tokio_util::io::ReaderStream::with_capacity(reader, DOWNLOAD_CHUNK_BYTES);
    let mut response = Response::new(Body::from_stream(stream));
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if status == StatusCode::PARTIAL_CONTENT {
        let range = format!("bytes {start}-{}/{size}", start + len - 1);
        h.insert(header::CONTENT_RANGE, HeaderValue::try_from(range).map_err(|e| AppError::internal(e.to_string()))?);
    }
    Ok(response)
}

/// What a `Range` header asks of a blob of `size` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RangeAnswer {
    /// No usable single range (another unit, several ranges, garbage): RFC 9110 lets the server
    /// ignore it and send the whole blob.
    Whole,
    /// Bytes `start..=end`, inside the blob.
    Part { start: u64, end: u64 },
    /// A well-formed range that no byte of the blob satisfies (416).
    Unsatisfiable,
}

/// Reads `bytes=a-b`, `bytes=a-` and `bytes=-n` (the last `n` bytes); `b` past the end is cut to
/// the end.
fn parse_range(value: &str, size: u64) -> RangeAnswer {
    let Some(spec) = value.trim().strip_prefix("bytes=") else { return RangeAnswer::Whole };
    if spec.contains(',') {
        return RangeAnswer::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else { return RangeAnswer::Whole };
    let (first, last) = (first.trim(), last.trim());
    let number = |s: &str| s.parse::<u64>().ok().filter(|_| s.bytes().all(|b| b.is_ascii_digit()));
    match (first.is_empty(), last.is_empty()) {
        (true, true) => RangeAnswer::Whole,
        (true, false) => match number(last) {
            None => RangeAnswer::Whole,
            Some(0) => RangeAnswer::Unsatisfiable,
            Some(_) if size == 0 => RangeAnswer::Unsatisfiable,
            Some(n) => RangeAnswer::Part { start: size.saturating_sub(n), end: size - 1 },
        },
        (false, _) => {
            let Some(start) = number(first) else { return RangeAnswer::Whole };
            let end = if last.is_empty() {
                None
            } else {
                match number(last) {
                    Some(end) if end >= start => Some(end),
                    _ => return RangeAnswer::Whole,
                }
            };
            if start >= size {
                return RangeAnswer::Unsatisfiable;
            }
            RangeAnswer::Part { start, end: end.map_or(size - 1, |e| e.min(size - 1)) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{RangeAnswer, parse_range};

    #[test]
    fn ranges() {
        use RangeAnswer::*;
        assert_eq!(parse_range("bytes=0-0", 10), Part { start: 0, end: 0 });
        assert_eq!(parse_range("bytes=9-9", 10), Part { start: 9, end: 9 });
        assert_eq!(parse_range("bytes=3-", 10), Part { start: 3, end: 9 });
        assert_eq!(parse_range("bytes=3-100", 10), Part { start: 3, end: 9 });
        assert_eq!(parse_range("bytes=-4", 10), Part { start: 6, end: 9 });
        assert_eq!(parse_range("bytes=-40", 10), Part { start: 0, end: 9 });
        assert_eq!(parse_range("bytes=10-", 10), Unsatisfiable);
        assert_eq!(parse_range("bytes=10-20", 10), Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 10), Unsatisfiable);
        assert_eq!(parse_range("bytes=0-", 0), Unsatisfiable);
        assert_eq!(parse_range("bytes=-1", 0), Unsatisfiable);
        assert_eq!(parse_range("bytes=5-3", 10), Whole, "an invalid range is ignored");
        assert_eq!(parse_range("bytes=0-1,4-5", 10), Whole, "several ranges: the whole blob");
        assert_eq!(parse_range("items=0-1", 10), Whole);
        assert_eq!(parse_range("bytes=+1-2", 10), Whole);
        assert_eq!(parse_range("bytes=a-b", 10), Whole);
    }
}
