-- 0001: the initial schema.
--
-- Every table is STRICT, so a value of the wrong type is refused rather than stored. Integers that
-- are u64 in Rust (timestamps, versions, seq) are stored as INTEGER and are always >= 0.
-- Everything that belongs to a device cascades from `devices`. Shared payloads are collected once
-- no inbox row references them.

CREATE TABLE accounts (
    user_id       TEXT    NOT NULL PRIMARY KEY,
    password_hash TEXT    NOT NULL,
    created_ts    INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE devices (
    user_id        TEXT    NOT NULL REFERENCES accounts (user_id) ON DELETE CASCADE,
    device_id      TEXT    NOT NULL,
    name           TEXT,
    created_ts     INTEGER NOT NULL,
    -- The seq the device's next inbox entry gets. It only ever grows, so a seq is never reused,
    -- even after acknowledged entries are deleted.
    next_seq       INTEGER NOT NULL DEFAULT 1 CHECK (next_seq >= 1),
    -- Identity keys: all three set or all three NULL (not published yet).
    curve25519     TEXT,
    ed25519        TEXT,
    keys_signature TEXT,
    PRIMARY KEY (user_id, device_id),
    CHECK ((curve25519 IS NULL) = (ed25519 IS NULL) AND (ed25519 IS NULL) = (keys_signature IS NULL))
) STRICT, WITHOUT ROWID;

-- Refresh tokens, as hashes. Spent ones are kept until the device is deleted: presenting a spent
-- one again is a replay, which revokes every token of the device.
CREATE TABLE refresh_tokens (
    hash       BLOB    NOT NULL PRIMARY KEY,
    user_id    TEXT    NOT NULL,
    device_id  TEXT    NOT NULL,
    created_ts INTEGER NOT NULL,
    spent      INTEGER NOT NULL DEFAULT 0 CHECK (spent IN (0, 1)),
    FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;
CREATE INDEX refresh_tokens_by_device ON refresh_tokens (user_id, device_id);

CREATE TABLE one_time_keys (
    user_id   TEXT NOT NULL,
    device_id TEXT NOT NULL,
    key_id    TEXT NOT NULL,
    key       TEXT NOT NULL,
    signature TEXT NOT NULL,
    PRIMARY KEY (user_id, device_id, key_id),
    FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

-- At most one fallback key per device; an upload replaces it.
CREATE TABLE fallback_keys (
    user_id   TEXT NOT NULL,
    device_id TEXT NOT NULL,
    key_id    TEXT NOT NULL,
    key       TEXT NOT NULL,
    signature TEXT NOT NULL,
    PRIMARY KEY (user_id, device_id),
    FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

-- Idempotency records: (sender, message id) -> when it was first stored.
CREATE TABLE sent_ids (
    sender_user TEXT    NOT NULL,
    message_id  TEXT    NOT NULL,
    server_ts   INTEGER NOT NULL,
    PRIMARY KEY (sender_user, message_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX sent_ids_by_ts ON sent_ids (server_ts);

-- A body delivered to many devices (group message, membership event), stored once as the JSON of
-- an EntryBody. Acks only delete inbox rows; payloads no row references any more are collected
-- in batches by `collect_garbage` (per-ack reference counting cost one update per recipient).
CREATE TABLE shared_payloads (
    id   INTEGER PRIMARY KEY,
    body TEXT    NOT NULL
) STRICT;

-- Inbox entries. Exactly one of `ciphertext` (a direct message: EntryBody::Direct) and
-- `payload_id` (a shared body) is set.
CREATE TABLE inbox (
    user_id       TEXT    NOT NULL,
    device_id     TEXT    NOT NULL,
    seq           INTEGER NOT NULL,
    message_id    TEXT    NOT NULL,
    sender_user   TEXT    NOT NULL,
    sender_device TEXT,
    server_ts     INTEGER NOT NULL,
    ciphertext    TEXT,
    payload_id    INTEGER REFERENCES shared_payloads (id),
    PRIMARY KEY (user_id, device_id, seq),
    FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE,
    CHECK ((ciphertext IS NULL) <> (payload_id IS NULL))
) STRICT;
-- Needed by the foreign key check when a shared payload is deleted.
CREATE INDEX inbox_by_payload ON inbox (payload_id) WHERE payload_id IS NOT NULL;

CREATE TABLE groups (
    group_id   TEXT    NOT NULL PRIMARY KEY,
    name       TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    created_ts INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE group_members (
    group_id TEXT NOT NULL REFERENCES groups (group_id) ON DELETE CASCADE,
    user_id  TEXT NOT NULL REFERENCES accounts (user_id) ON DELETE CASCADE,
    role     TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    PRIMARY KEY (group_id, user_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX group_members_by_user ON group_members (user_id);

-- One client-encrypted blob per user; `version` starts at 1 and grows with every write.
CREATE TABLE backups (
    user_id TEXT    NOT NULL PRIMARY KEY REFERENCES accounts (user_id) ON DELETE CASCADE,
    version INTEGER NOT NULL CHECK (version >= 1),
    blob    BLOB    NOT NULL
) STRICT;
