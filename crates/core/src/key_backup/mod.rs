//! The server key backup: this user's Megolm group session keys, encrypted on the device with a
//! key only the user holds (a recovery key shown once, or one derived from a passphrase) and kept
//! in the server's backup slot, so that a new device of the user can read the history of the
//! groups the user is in. `docs/key-backup.md` describes the blob and the threat model.
//!
//! This module does no I/O: [`recovery`] turns the user's secret into the 32-byte key, [`blob`]
//! seals and opens the slot's contents and merges key sets. [`crate::Client`] does the network
//! part (read, merge, write with optimistic concurrency, retried when another device of the same
//! user wrote in between).
//!
//! Invariants: the recovery key and the keys derived from it never leave the device in plain text,
//! never appear in logs or `Debug` output, and are stored only inside the SQLCipher database; a
//! merge never drops a session key the slot held; a wrong key is told apart from a damaged blob
//! before anything is decrypted or stored.

pub(crate) mod blob;
pub(crate) mod recovery;

pub use recovery::MIN_PASSPHRASE_CHARS;

#[cfg(test)]
mod tests;
