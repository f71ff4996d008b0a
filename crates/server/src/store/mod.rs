//! Storage, as one small async trait per role: accounts, devices and their keys, inboxes, groups,
//! backups, profiles, blob metadata. Handlers only see these traits; [`sqlite`] (the embedded
//! default) and [`postgres`] (a shared database) implement them, and one test suite
//! ([`tests`]) holds both to the same contract.
//!
//! Invariants every implementation keeps:
//! - a one-time key is handed out by [`DeviceStore::claim_keys`] at most once, even when claims
//!   run concurrently;
//! - [`InboxStore::deliver`] is idempotent on `(sender user, message id)` and stores the message
//!   and every inbox reference in one transaction, so a message is either delivered to all the
//!   given devices or to none;
//! - inbox sequence numbers of one device strictly increase and are never reused;
//! - only acknowledged entries are deleted;
//! - a shared body outlives every inbox entry that references it (it is collected only after);
//! - a group message is recorded in its group's history in the same transaction as its delivery,
//!   and [`GroupStore::group_history`] returns to a user only the messages stored while that user
//!   was a member (membership periods are written in the same transaction as the change);
//! - a blob's committed offset only grows, and [`BlobIndex::create_blob`] checks the uploader's
//!   quota in the same write that reserves the new blob, so concurrent creates cannot pass it.

use async_trait::async_trait;
use sotto_proto::{
    BlobId, ClaimedKey, DeviceAddress, DeviceId, DeviceKeys, EntryBody, GroupHistoryMessage, GroupId, GroupInfo,
    InboxEntry, KeyCounts, MessageId, Role, SignedGroupChange, SignedKey, UserDevices, UserId, UserIdentity,
    UserSignature,
};

pub mod cache;
pub mod postgres;
pub mod sqlite;
#[cfg(test)]
pub(crate) mod tests;

/// A storage failure. Messages here are for logs; they never contain secrets or bodies.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database failed (I/O, corruption, full disk).
    #[error("database error: {0}")]
    Database(String),
    /// A unique constraint the caller should have checked (e.g. the user id is taken).
    #[error("already exists")]
    AlreadyExists,
    /// The row the operation needs does not exist.
    #[error("not found")]
    NotFound,
    /// An optimistic-concurrency check failed: the stored version is not the expected one.
    #[error("version conflict: stored version is {current}")]
    VersionConflict { current: u64 },
    /// Stored data could not be decoded (a bug or a corrupted row).
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A device's record, as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    pub device_id: DeviceId,
    pub name: Option<String>,
    pub created_ts: u64,
    pub has_keys: bool,
}

/// How long after a refresh its old token is taken once more, for a client whose answer was lost
/// (a dropped connection) and who retries.
pub const REFRESH_GRACE_MS: u64 = 60_000;

/// What [`DeviceStore::rotate_refresh_token`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The old token was current; it is now spent and the new one is current.
    Rotated(DeviceAddress),
    /// The old token had already been spent (and is past its grace): it was replayed. Every
    /// refresh token of the device has been revoked, and its access tokens issued before
    /// `tokens_since` (Unix seconds); the device must sign in again. The device, its keys and
    /// its inbox stay.
    Replayed { device: DeviceAddress, tokens_since: u64 },
    /// No such token (never issued, or its device was deleted).
    Unknown,
}

/// What [`DeviceStore::set_device_keys`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetKeysOutcome {
    Stored,
    /// The same keys were already stored (a retried upload).
    Unchanged,
    /// Different identity keys are already stored; identity keys never change for a device.
    Conflict,
}

/// What [`DeviceStore::replace_device_keys`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplaceKeysOutcome {
    /// The new keys are stored; the old identity's one-time and fallback keys are gone.
    Replaced,
    /// These exact keys were already stored (a retried reset); nothing was touched.
    Unchanged,
}

/// What [`DeviceStore::add_one_time_keys`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddKeysOutcome {
    Stored(KeyCounts),
    /// A key id was uploaded before with a different key.
    Conflict,
    /// The device would hold more than [`MAX_UNCLAIMED_ONE_TIME_KEYS`] unclaimed one-time keys;
    /// `held` is how many it holds now.
    ///
    /// [`MAX_UNCLAIMED_ONE_TIME_KEYS`]: sotto_proto::limits::MAX_UNCLAIMED_ONE_TIME_KEYS
    TooMany {
        held: u64,
    },
}

#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Creates an account; [`StoreError::AlreadyExists`] if the id is taken.
    async fn create_account(&self, user: &UserId, password_hash: &str, now_ms: u64) -> StoreResult<()>;
    /// The stored argon2 PHC string, or `None` for an unknown user.
    async fn password_hash(&self, user: &UserId) -> StoreResult<Option<String>>;
    /// Which of `users` exist, in no particular order.
    async fn existing_users(&self, users: &[UserId]) -> StoreResult<Vec<UserId>>;
    /// Replaces the password hash if it is still `expected` (the hash the caller verified the
    /// current password against); returns false when it changed meanwhile (a concurrent change),
    /// in which case nothing was written. [`StoreError::NotFound`] for an unknown user.
    async fn replace_password_hash(&self, user: &UserId, expected: &str, new_hash: &str) -> StoreResult<bool>;
    /// Runs a trivial query the way writes run: succeeds while the database can serve requests
    /// (the readiness check).
    async fn ping(&self) -> StoreResult<()>;
    /// Records the external token id `jti` (valid until `exp`, Unix seconds) as used; false if
    /// it was already, in which case nothing changes. Ids whose `exp` is before `now_secs` are
    /// forgotten on the way.
    async fn spend_external_token_id(&self, jti: &str, exp: u64, now_secs: u64) -> StoreResult<bool>;
}

#[async_trait]
pub trait DeviceStore: Send + Sync {
    /// Creates a device with its first refresh token (stored as a hash, never the token).
    async fn create_device(
        &self,
        device: &DeviceAddress,
        name: Option<&str>,
        refresh_token_hash: &[u8],
        now_ms: u64,
    ) -> StoreResult<()>;
    async fn device_exists(&self, device: &DeviceAddress) -> StoreResult<bool>;
    /// Every device (with or without keys) of each given user.
    async fn devices_of(&self, users: &[UserId]) -> StoreResult<Vec<DeviceAddress>>;
    /// The devices with published identity keys of each given user (for a send's coverage check).
    async fn keyed_devices_of(&self, users: &[UserId]) -> StoreResult<Vec<DeviceAddress>>;
    async fn list_devices(&self, user: &UserId) -> StoreResult<Vec<DeviceRecord>>;
    /// Deletes a device with its keys, tokens and inbox. Returns false if it did not exist.
    async fn delete_device(&self, device: &DeviceAddress) -> StoreResult<bool>;
    /// Signs an existing device in again (a restore from a backup), in one write: every refresh
    /// token of the device is deleted and `refresh_token_hash` becomes its only one, its access
    /// tokens issued before `tokens_since` (Unix seconds) are revoked, and its unclaimed one-time
    /// keys are deleted. Identity keys, the fallback key and the inbox stay.
    /// [`StoreError::NotFound`] if the device does not exist.
    async fn reauthenticate_device(
        &self,
        device: &DeviceAddress,
        refresh_token_hash: &[u8],
        now_ms: u64,
        tokens_since: u64,
    ) -> StoreResult<()>;
    /// Spends `old_hash` and makes `new_hash` the device's current refresh token, atomically. A
    /// spent token presented again within [`REFRESH_GRACE_MS`] of being spent, while the token
    /// that replaced it is still unused, is taken once more (the answer to the first refresh was
    /// lost): the unused successor is dropped and `new_hash` replaces it.
    async fn rotate_refresh_token(&self, old_hash: &[u8], new_hash: &[u8], now_ms: u64) -> StoreResult<RefreshOutcome>;
    /// Devices whose access tokens issued before a time are refused, with that time (Unix
    /// seconds), for the times after `after_secs`.
    async fn token_revocations(&self, after_secs: u64) -> StoreResult<Vec<(DeviceAddress, u64)>>;

    /// Stores a device's identity keys (already verified by the caller).
    async fn set_device_keys(&self, keys: &DeviceKeys) -> StoreResult<SetKeysOutcome>;
    async fn device_keys(&self, device: &DeviceAddress) -> StoreResult<Option<DeviceKeys>>;
    /// Gives a device new identity keys (already verified by the caller): in one write the keys are
    /// replaced and the device's one-time keys and fallback key, signed by the old identity, are
    /// deleted, and so is its confirmation (it covered the old keys). Returns what it did;
    /// [`StoreError::NotFound`] if the device does not exist.
    async fn replace_device_keys(&self, keys: &DeviceKeys) -> StoreResult<ReplaceKeysOutcome>;
    /// Adds one-time keys (ignoring exact re-uploads) and replaces the fallback key if given;
    /// stores nothing when a key conflicts or the new keys would take the device past
    /// [`sotto_proto::limits::MAX_UNCLAIMED_ONE_TIME_KEYS`] (checked in the same write, so
    /// concurrent uploads cannot pass the limit together).
    async fn add_one_time_keys(
        &self,
        device: &DeviceAddress,
        one_time_keys: &[SignedKey],
        fallback: Option<&SignedKey>,
    ) -> StoreResult<AddKeysOutcome>;
    async fn key_counts(&self, device: &DeviceAddress) -> StoreResult<KeyCounts>;
    /// Stores a user's cross-signing identity (already verified by the caller) if they have
    /// none; an identity never changes through this call ([`SetKeysOutcome::Conflict`]).
    async fn set_identity(&self, identity: &UserIdentity) -> StoreResult<SetKeysOutcome>;
    async fn identity(&self, user: &UserId) -> StoreResult<Option<UserIdentity>>;
    /// Replaces the user's identity (already verified, password checked by the caller) and drops
    /// every confirmation of their devices, in one write. Returns false when it was already this
    /// identity (a retried reset: nothing changed).
    async fn replace_identity(&self, identity: &UserIdentity) -> StoreResult<bool>;
    /// Stores a device's confirmation (already verified by the caller against the identity and
    /// the device keys it read), only while the device still has the Ed25519 key `ed25519`.
    /// Returns false (nothing stored) when the device is gone or its keys changed meanwhile.
    async fn confirm_device(&self, device: &DeviceAddress, ed25519: &str, signature: &str) -> StoreResult<bool>;
    /// Stores (or replaces) `signer`'s signature of another user (already verified by the
    /// caller). [`StoreError::NotFound`] if the target is not an account.
    async fn set_user_signature(&self, signer: &UserId, signature: &UserSignature) -> StoreResult<()>;
    /// Deletes `signer`'s signature of `target`; returns whether there was one.
    async fn delete_user_signature(&self, signer: &UserId, target: &UserId) -> StoreResult<bool>;
    /// The devices with published identity keys of each given user that exists, in the order
    /// given, with the user's identity, the stored confirmations of those devices, and `asker`'s
    /// own signature of the user, if any.
    async fn query_devices(&self, asker: &UserId, users: &[UserId]) -> StoreResult<Vec<UserDevices>>;
    /// Claims one key per device: a one-time key (removed as it is handed out) or else the
    /// fallback key; devices also in `fallback_only` get their fallback key (their one-time
    /// keys stay). Devices with neither are left out of the result.
    async fn claim_keys(
        &self,
        devices: &[DeviceAddress],
        fallback_only: &[DeviceAddress],
    ) -> StoreResult<Vec<ClaimedKey>>;
}

/// One entry of a group's log, with its hash (the next entry's `prev`).
#[derive(Debug, Clone)]
pub struct LogEntry {
    pub seq: u64,
    pub hash: String,
    pub signed: SignedGroupChange,
}

/// A message to store in inboxes.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub sender_user: UserId,
    pub sender_device: Option<DeviceId>,
    pub message_id: MessageId,
    pub server_ts: u64,
    /// Shared, so that the caller can keep it to push the stored entries without copying the
    /// ciphertexts.
    pub content: std::sync::Arc<DeliveryContent>,
}

#[derive(Debug, Clone)]
pub enum DeliveryContent {
    /// A different ciphertext per device; each is stored in its device's inbox row.
    PerDevice(Vec<(DeviceAddress, String)>),
    /// The same body for every device: stored once, referenced from each inbox row. (Boxed: a
    /// membership event, which carries its signed change, is several times larger than the other
    /// variant.)
    Shared { body: Box<EntryBody>, recipients: Vec<DeviceAddress> },
}

/// What [`InboxStore::deliver`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// Stored; these devices got an entry, at these sequence numbers (push or wake them).
    Stored { recipients: Vec<(DeviceAddress, u64)> },
    /// `(sender, message id)` was delivered before, at `server_ts`; nothing was stored now.
    Duplicate { server_ts: u64 },
}

#[async_trait]
pub trait InboxStore: Send + Sync {
    /// Stores a delivery. A per-device one also records that its sender wrote to each
    /// recipient user (see [`InboxStore::share_conversation`]).
    async fn deliver(&self, delivery: Delivery) -> StoreResult<DeliveryOutcome>;
    /// Whether `a` and `b` share a conversation: one has sent the other a direct message, or
    /// both are members of a group.
    async fn share_conversation(&self, a: &UserId, b: &UserId) -> StoreResult<bool>;
    /// Those of `users` who have sent `to` a direct message.
    async fn have_written_to(&self, users: &[UserId], to: &UserId) -> StoreResult<Vec<UserId>>;
    /// Entries with `seq > after`, in order, at most `limit`.
    async fn fetch(&self, device: &DeviceAddress, after: u64, limit: u32) -> StoreResult<Vec<InboxEntry>>;
    /// Deletes every entry with `seq <= up_to`; returns how many were deleted.
    async fn ack(&self, device: &DeviceAddress, up_to: u64) -> StoreResult<u64>;
    /// `ack` for several devices in one transaction; returns how many entries were deleted.
    async fn ack_many(&self, acks: &[(DeviceAddress, u64)]) -> StoreResult<u64>;
    /// Deletes shared bodies that no inbox entry references any more (after acks or a deleted
    /// device); returns how many. Cheap when nothing was acked since the last call.
    async fn collect_garbage(&self) -> StoreResult<u64>;
    /// When `(sender, message_id)` was first stored, if it was (within the idempotency window).
    async fn sent_at(&self, sender: &UserId, message_id: &MessageId) -> StoreResult<Option<u64>>;
    /// Forgets idempotency records older than `before_ms` (a resend after that is a new message).
    async fn prune_sent_ids(&self, before_ms: u64) -> StoreResult<u64>;
}

#[async_trait]
pub trait GroupStore: Send + Sync {
    /// Stores a new group with its members and the first entry of its log, and delivers `event`,
    /// in one transaction. [`StoreError::AlreadyExists`] if the group id is taken.
    async fn create_group(&self, group: &GroupInfo, entry: &LogEntry, event: Delivery) -> StoreResult<()>;
    async fn group(&self, group: &GroupId) -> StoreResult<Option<GroupInfo>>;
    /// The groups `user` is a member of.
    async fn groups_of(&self, user: &UserId) -> StoreResult<Vec<GroupInfo>>;
    /// Role of `user` in `group`, or `None` if not a member (or no such group).
    async fn role(&self, group: &GroupId, user: &UserId) -> StoreResult<Option<Role>>;
    /// Every device of every current member.
    async fn member_devices(&self, group: &GroupId) -> StoreResult<Vec<DeviceAddress>>;
    /// Replaces name and members with `new` and appends `entry` to the log if the stored version
    /// is still `expected_version` (else [`StoreError::VersionConflict`]; [`StoreError::NotFound`]
    /// if the group is gone), and delivers `event`, in one transaction. `new.version` and
    /// `entry.seq` must be `expected_version + 1`.
    async fn update_group(
        &self,
        expected_version: u64,
        new: &GroupInfo,
        entry: &LogEntry,
        event: Delivery,
    ) -> StoreResult<()>;
    /// The group's last log entry: its seq and hash (`None`: no signed change yet).
    async fn log_head(&self, group: &GroupId) -> StoreResult<Option<(u64, String)>>;
    /// The group's log entries with `seq > after`, oldest first, at most `limit`.
    async fn group_log(&self, group: &GroupId, after: u64, limit: u32) -> StoreResult<Vec<SignedGroupChange>>;
    /// The group and its log entries with `seq > after` (at most `limit`), read together.
    async fn group_with_log(
        &self,
        group: &GroupId,
        after: u64,
        limit: u32,
    ) -> StoreResult<Option<(GroupInfo, Vec<SignedGroupChange>)>>;
    /// Deletes the group (and its history) if still at `expected_version`, delivering `event` in
    /// the same transaction.
    async fn dismiss_group(&self, group: &GroupId, expected_version: u64, event: Delivery) -> StoreResult<()>;
    /// The group's stored messages with `seq < before` that were sent while `user` was a member,
    /// newest first, at most `limit`.
    async fn group_history(
        &self,
        group: &GroupId,
        user: &UserId,
        before: u64,
        limit: u32,
    ) -> StoreResult<Vec<GroupHistoryMessage>>;
    /// Forgets history stored before `before_ms` (at most a batch per call); returns how many
    /// messages. Their bodies are then collected like acknowledged ones.
    async fn prune_group_history(&self, before_ms: u64) -> StoreResult<u64>;
}

#[async_trait]
pub trait BackupStore: Send + Sync {
    /// `(version, blob)` or `None`.
    async fn get_backup(&self, user: &UserId) -> StoreResult<Option<(u64, Vec<u8>)>>;
    /// Writes if the stored version is `expected` (0 = none stored); returns the new version, or
    /// [`StoreError::VersionConflict`].
    async fn put_backup(&self, user: &UserId, expected: u64, blob: &[u8]) -> StoreResult<u64>;
}

#[async_trait]
pub trait ProfileStore: Send + Sync {
    /// The user's sealed profile, if they published one.
    async fn get_profile(&self, user: &UserId) -> StoreResult<Option<Vec<u8>>>;
    /// Replace the user's sealed profile.
    async fn put_profile(&self, user: &UserId, ciphertext: &[u8], now_ms: u64) -> StoreResult<()>;
}

/// A blob's metadata (its bytes are kept by a [`crate::blobs::BlobStore`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobRecord {
    pub blob_id: BlobId,
    pub uploader: UserId,
    pub size: u64,
    /// Bytes committed: written and synced by the byte store before this was raised.
    pub committed: u64,
    pub complete: bool,
    pub created_ms: u64,
    pub completed_ms: Option<u64>,
    /// When housekeeping deletes it.
    pub expires_ms: u64,
}

/// What [`BlobIndex::create_blob`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateBlobOutcome {
    Created,
    /// The uploader's blobs already take `used` bytes; with the new one they would pass the quota.
    QuotaExceeded {
        used: u64,
    },
}

/// The metadata of blobs: who uploaded each, how far its upload is, who may read it, when it
/// expires. The bytes themselves are not here (see [`crate::blobs`]).
#[async_trait]
pub trait BlobIndex: Send + Sync {
    /// Stores a new, empty blob with its readers, if the uploader's blobs (complete or not) plus
    /// this one stay within `quota` bytes; checked and written in one transaction.
    async fn create_blob(&self, record: &BlobRecord, readers: &[UserId], quota: u64) -> StoreResult<CreateBlobOutcome>;
    /// The blob, if `reader` is its uploader or one of its readers; `None` otherwise (also for
    /// a blob that does not exist: the two are not told apart).
    async fn blob_for(&self, blob: &BlobId, reader: &UserId) -> StoreResult<Option<BlobRecord>>;
    /// The blob, whoever asks (the byte store's own checks).
    async fn blob(&self, blob: &BlobId) -> StoreResult<Option<BlobRecord>>;
    /// Raises the committed offset from `from` to `to` while the blob is incomplete and still at
    /// `from`; returns false (nothing changed) otherwise.
    async fn advance_blob(&self, blob: &BlobId, from: u64, to: u64) -> StoreResult<bool>;
    /// Marks a blob whose every byte is committed complete, and sets when it expires; returns
    /// false if it is gone or not fully committed. Completing a complete blob changes nothing
    /// and returns true.
    async fn complete_blob(&self, blob: &BlobId, now_ms: u64, expires_ms: u64) -> StoreResult<bool>;
    /// Deletes the blob's metadata; returns whether it existed.
    async fn delete_blob(&self, blob: &BlobId) -> StoreResult<bool>;
    /// Blobs whose `expires_ms` is at or before `now_ms`, at most `limit`.
    async fn expired_blobs(&self, now_ms: u64, limit: u32) -> StoreResult<Vec<BlobId>>;
}
