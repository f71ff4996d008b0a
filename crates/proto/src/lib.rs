//! Wire types shared by the Sotto client engine and `sotto-server`.
//!
//! This crate is serde only: no I/O, no crypto. Every request body rejects unknown fields (a typo
//! in a client is an error, not silently ignored data); every response tolerates fields it does
//! not know, so a newer server does not break an older client. Binary values (keys, signatures)
//! are unpadded standard base64, the encoding vodozemac uses; ciphertexts are opaque strings the
//! server never interprets.

pub mod auth;
pub mod backup;
pub mod blobs;
pub mod error;
pub mod groups;
pub mod history;
pub mod identity;
pub mod ids;
pub mod inbox;
pub mod keys;
pub mod limits;
pub mod profile;
pub mod routes;
pub mod ws;

pub use auth::*;
pub use backup::*;
pub use blobs::*;
pub use error::*;
pub use groups::*;
pub use history::*;
pub use identity::*;
pub use ids::*;
pub use inbox::*;
pub use keys::*;
pub use profile::*;
pub use ws::*;

/// The version of the HTTP/WebSocket protocol; every route lives under `/v{PROTOCOL_VERSION}`.
pub const PROTOCOL_VERSION: u32 = 1;
