//! Attachments: opaque, client-encrypted blobs. Clients encrypt each file themselves (a streaming
//! AEAD under a fresh key that travels inside the end-to-end message) and upload only the
//! ciphertext, in parts, resumably; the server sees blob ids, sizes and who may fetch them.
//!
//! The part upload (`PUT /v1/blobs/{blob_id}/parts/{offset}`) and the download
//! (`GET /v1/blobs/{blob_id}`) carry raw bytes (`application/octet-stream`), not JSON: they are the
//! only routes that do. Every other blob route speaks the JSON types below.

use serde::{Deserialize, Serialize};

use crate::{BlobId, UserId};

/// `POST /v1/blobs`: reserve a blob of `size` bytes. `recipients` are the accounts allowed to
/// fetch it (the peer of a one-to-one message, the members of a group); the uploader always is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateBlobRequest {
    /// The exact size of the ciphertext, in bytes.
    pub size: u64,
    pub recipients: Vec<UserId>,
}

/// The answer to `POST /v1/blobs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedBlob {
    /// Random (128 bits or more), never derived from the content.
    pub blob_id: BlobId,
    /// The largest part the server takes in one `PUT`; parts may be smaller.
    pub part_size: u64,
}

/// Where an upload stands: the answer of the offset query, of a part and of `complete`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BlobUpload {
    /// Bytes committed (on disk, synced): the next part starts here.
    pub offset: u64,
    /// The size declared at creation.
    pub size: u64,
    /// Whether `complete` succeeded; only then can the blob be downloaded.
    pub complete: bool,
}
