//! History: conversations, messages with their status, the full-text index, undecryptable
//! ciphertexts waiting for keys, and the outbox; one file per concern, each a set of queries on
//! [`Db`](super::Db).
//!
//! Invariant: nothing here opens a transaction of its own: every write is a statement on the
//! caller's `Db`, so a batch (decrypt → store → index → inbox position) commits or fails as one.

mod actions;
mod attachments;
mod conversations;
mod messages;
mod outbox;
mod pending;
mod receipts;
mod search;

pub use actions::{Quote, Reaction, WaitingAction};
pub use attachments::{FileInfo, FileState, ImageInfo, NewFile};
pub use conversations::{Conversation, ConversationKind};
#[cfg(feature = "bench")]
pub use messages::MESSAGE_COLUMN_COUNT;
#[cfg(test)]
pub use messages::ORDER_KEY;
pub use messages::{Decrypted, Message, MessageKind, MessageReason, MessageStatus, NewMessage};
pub(crate) use outbox::OUTBOX_ORDER;
pub use outbox::OutboxItem;
pub use receipts::{META_READ_RECEIPTS, ReceiptStep, Receipts};
pub use search::SearchHit;
#[cfg(feature = "bench")]
pub use search::{SEARCH_SQL, fts_query};
