-- Sotto client profile, schema 1. Everything here is inside SQLCipher; pickles are additionally
-- encrypted with the pickle key.

-- Small settings and secrets: server url, user and device id, tokens, inbox position.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

-- This device's vodozemac Account (one row).
CREATE TABLE account (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    pickle TEXT NOT NULL,
    -- one-time keys generated but not yet accepted by the server
    unpublished INTEGER NOT NULL DEFAULT 0
) STRICT;

-- Devices of other users (and our own other devices), pinned on first use.
CREATE TABLE devices (
    user_id     TEXT NOT NULL,
    device_id   TEXT NOT NULL,
    curve25519  TEXT NOT NULL,
    ed25519     TEXT NOT NULL,
    first_seen  INTEGER NOT NULL,
    -- 1 while the directory lists the device
    active      INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (user_id, device_id)
) STRICT;
CREATE INDEX devices_curve ON devices (curve25519);

-- Users whose device list we have fetched, and when.
CREATE TABLE known_users (
    user_id    TEXT PRIMARY KEY,
    fetched_ts INTEGER NOT NULL
) STRICT;

-- Olm sessions, several per remote identity key possible; the newest used first.
CREATE TABLE olm_sessions (
    session_id   TEXT PRIMARY KEY,
    curve25519   TEXT NOT NULL,
    pickle       TEXT NOT NULL,
    created_ts   INTEGER NOT NULL,
    last_used_ts INTEGER NOT NULL
) STRICT;
CREATE INDEX olm_sessions_curve ON olm_sessions (curve25519, last_used_ts);

-- One-to-one entries already processed (text and keys alike): the server delivers at least once,
-- and a redelivered or replayed entry must not be decrypted (or shown) again.
CREATE TABLE received_direct (
    sender_user TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    PRIMARY KEY (sender_user, message_id)
) STRICT, WITHOUT ROWID;

-- Megolm sessions this device sends with, one live per group.
CREATE TABLE outbound_group_sessions (
    group_id      TEXT PRIMARY KEY,
    session_id    TEXT NOT NULL,
    pickle        TEXT NOT NULL,
    created_ts    INTEGER NOT NULL,
    message_count INTEGER NOT NULL DEFAULT 0,
    -- JSON array of "user/device" the session key was shared with
    shared_with   TEXT NOT NULL DEFAULT '[]'
) STRICT;

-- Megolm sessions received from other devices (and our own), under the identity key of the
-- device that owns them: a session id forwarded by someone else is a different row.
CREATE TABLE inbound_group_sessions (
    session_id    TEXT NOT NULL,
    group_id      TEXT NOT NULL,
    sender_user   TEXT NOT NULL,
    sender_device TEXT NOT NULL,
    sender_curve  TEXT NOT NULL,
    first_index   INTEGER NOT NULL,
    pickle        TEXT NOT NULL,
    received_ts   INTEGER NOT NULL,
    PRIMARY KEY (session_id, sender_curve)
) STRICT;

-- Replay check: each (session, index) decrypts once.
CREATE TABLE megolm_indices (
    session_id    TEXT NOT NULL,
    message_index INTEGER NOT NULL,
    message_id    TEXT NOT NULL,
    PRIMARY KEY (session_id, message_index)
) STRICT, WITHOUT ROWID;

-- Groups as the server last described them.
CREATE TABLE groups (
    group_id TEXT PRIMARY KEY,
    name     TEXT NOT NULL,
    version  INTEGER NOT NULL,
    -- JSON array of {user_id, role}
    members  TEXT NOT NULL,
    -- 0 once we left, were removed, or the group was dismissed
    joined   INTEGER NOT NULL DEFAULT 1
) STRICT;

-- Conversations: 'u:<user>' for one-to-one, 'g:<group>' for groups.
CREATE TABLE conversations (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL CHECK (kind IN ('direct', 'group')),
    peer         TEXT NOT NULL,
    title        TEXT NOT NULL,
    last_ts      INTEGER NOT NULL DEFAULT 0,
    last_preview TEXT NOT NULL DEFAULT '',
    unread       INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX conversations_activity ON conversations (last_ts DESC);

CREATE TABLE messages (
    id              INTEGER PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    message_id      TEXT NOT NULL,
    sender_user     TEXT NOT NULL,
    sender_device   TEXT,
    -- 'text', 'system' (membership, key changes), 'undecryptable'
    kind            TEXT NOT NULL,
    body            TEXT NOT NULL DEFAULT '',
    -- queued, sent, failed (outgoing); received, undecryptable (incoming); system
    status          TEXT NOT NULL,
    -- why a message failed or cannot be decrypted (a stable code)
    reason          TEXT,
    outgoing        INTEGER NOT NULL,
    -- sender's clock for outgoing, server's clock for incoming (ms)
    ts              INTEGER NOT NULL,
    server_ts       INTEGER,
    UNIQUE (conversation_id, sender_user, message_id)
) STRICT;
CREATE INDEX messages_conversation ON messages (conversation_id, id);

-- Full-text index over message bodies (external content: the text is stored once). Rows are
-- indexed in batches by the engine (every text message with an id above the `fts_indexed_up_to`
-- meta value), not by a trigger per row: FTS5 writes a segment per flush, and a flush per
-- message costs more than the rest of storing it.
CREATE VIRTUAL TABLE messages_fts USING fts5 (
    body, content = 'messages', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 2'
);

-- Ciphertexts that could not be decrypted yet, kept to retry when keys arrive.
CREATE TABLE pending_decryption (
    message_row   INTEGER PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
    -- the Megolm session it waits for, if any
    session_id    TEXT,
    entry         TEXT NOT NULL
) STRICT;
CREATE INDEX pending_decryption_session ON pending_decryption (session_id);

-- Sends not yet accepted by the server.
CREATE TABLE outbox (
    message_id      TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    body            TEXT NOT NULL,
    -- the encrypted request once built; re-sent unchanged so a retry is idempotent
    request         TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_ts INTEGER NOT NULL,
    created_ts      INTEGER NOT NULL
) STRICT;
