//! What is wrong with the profile's database when a value in it does not read back: which table
//! and column, and the parser's error as the `source`. The engine's
//! [`Error::Store`](crate::Error::Store) carries it (code `corrupt`).
//!
//! Invariant: nothing here holds a stored value. Only causes whose text names no value are kept
//! as sources (an id's or a JSON document's parse error over data that is not secret); a pickle
//! that does not open keeps none, because vodozemac's error for a pickle that decrypts but does
//! not deserialize quotes the decrypted pickle, which holds keys.

use std::fmt;

use sotto_proto::{ErrorCode, InvalidId};

/// Where a damaged value was found: a table and a column of the profile's database (for the
/// `meta` table, the key of the row).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DbColumn {
    pub table: &'static str,
    pub column: &'static str,
}

impl DbColumn {
    pub const fn new(table: &'static str, column: &'static str) -> Self {
        Self { table, column }
    }
}

impl fmt::Display for DbColumn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.table, self.column)
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A stored JSON document (a member list, a queued request, settings) does not parse as its
    /// type.
    #[error("a value in {at} is not valid")]
    Json {
        at: DbColumn,
        #[source]
        source: serde_json::Error,
    },
    /// A stored id (user, device, group, conversation, message) is not a valid id.
    #[error("an id in {at} is not valid")]
    Id {
        at: DbColumn,
        #[source]
        source: InvalidId,
    },
    /// A stored key (a pinned device's identity key) is not a valid key.
    #[error("a key in {at} is not valid")]
    Key {
        at: DbColumn,
        #[source]
        source: vodozemac::KeyError,
    },
    /// A stored name of a kind or a status is none this version knows.
    #[error("a value in {at} is not one this version knows")]
    Unknown { at: DbColumn },
    /// A stored value is encoded (base64) or sized wrongly. Used for key material, so the
    /// decoder's error (which names the offending byte) is not kept.
    #[error("a value in {at} is malformed")]
    Malformed { at: DbColumn },
    /// An encrypted pickle (an account, an Olm or a Megolm session) does not open with the
    /// profile's pickle key. vodozemac's error is not kept (see the module's invariant).
    #[error("a stored {what} does not decrypt")]
    Pickle { what: &'static str },
    /// A row that must exist is missing (the device account; a row written in the same
    /// transaction).
    #[error("the {0} is missing")]
    Missing(&'static str),
    /// A freshly generated message id is already stored.
    #[error("a new message id collided with a stored one")]
    IdCollision,
    /// A read-only connection found a schema older than this version's; only the engine's own
    /// connection migrates.
    #[error("the profile's database was not brought up to date")]
    NotMigrated,
    /// The rows counted before a long read and the rows read differ: something wrote meanwhile.
    #[error("the profile changed while it was being read")]
    ChangedWhileRead,
}

impl StoreError {
    /// Every store error is damage to the profile's data.
    pub fn code(&self) -> ErrorCode {
        ErrorCode::Corrupt
    }

    pub(crate) fn json(table: &'static str, column: &'static str) -> impl FnOnce(serde_json::Error) -> Self {
        move |source| StoreError::Json { at: DbColumn::new(table, column), source }
    }

    pub(crate) fn id(table: &'static str, column: &'static str) -> impl FnOnce(InvalidId) -> Self {
        move |source| StoreError::Id { at: DbColumn::new(table, column), source }
    }

    pub(crate) fn unknown(table: &'static str, column: &'static str) -> Self {
        StoreError::Unknown { at: DbColumn::new(table, column) }
    }

    pub(crate) fn malformed(table: &'static str, column: &'static str) -> Self {
        StoreError::Malformed { at: DbColumn::new(table, column) }
    }
}
