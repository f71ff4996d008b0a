//! The backup slot: one opaque, client-encrypted blob per user, written with optimistic
//! concurrency so two devices cannot silently overwrite each other.

use serde::{Deserialize, Serialize};

/// `GET /v1/backup`.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Backup {
    /// Starts at 1 with the first write; every write increments it.
    pub version: u64,
    /// Opaque to the server (the client encrypts it before upload).
    pub blob: String,
}

impl std::fmt::Debug for Backup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backup").field("version", &self.version).field("bytes", &self.blob.len()).finish()
    }
}

/// `PUT /v1/backup`: succeeds only if the stored version is still `expected_version`
/// (0 when there is no backup yet); otherwise `stale_version`.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PutBackupRequest {
    pub expected_version: u64,
    pub blob: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BackupVersion {
    pub version: u64,
}
