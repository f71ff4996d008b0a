//! Profiles: each user's display name and picture, sealed on the client under a profile key the
//! server never sees (the key travels to contacts end-to-end encrypted, as Signal does). The
//! server keeps one opaque ciphertext per user and gives it to the people who share a
//! conversation with them.

use serde::{Deserialize, Serialize};

/// `GET /v1/users/{user_id}/profile`.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SealedProfile {
    /// Opaque to the server (at most [`crate::limits::MAX_PROFILE_BYTES`]).
    pub ciphertext: String,
}

impl std::fmt::Debug for SealedProfile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedProfile").field("bytes", &self.ciphertext.len()).finish()
    }
}

/// `PUT /v1/profile`: replaces the caller's sealed profile.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PutProfileRequest {
    pub ciphertext: String,
}

impl std::fmt::Debug for PutProfileRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PutProfileRequest").field("bytes", &self.ciphertext.len()).finish()
    }
}
