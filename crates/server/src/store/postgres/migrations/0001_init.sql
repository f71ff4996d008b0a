-- 0001: the schema of SQLite's migrations 0001 to 0010, in one step and in PostgreSQL's types.
--
-- Integers that are u64 in Rust (timestamps, versions, seqs, sizes) are BIGINT and never
-- negative; flags are BOOLEAN; opaque bytes are BYTEA; everything else is TEXT. Everything that
-- belongs to a device cascades from `devices`, everything of a group from `groups`. The comments
-- of sqlite/migrations/ explain each table; what differs here is said where it differs. Text
-- compares byte by byte (COLLATE "C"), as in SQLite, whatever the database's locale: lists
-- ordered by id (devices, one-time keys, groups) come in the same order from both stores.

CREATE TABLE accounts (
    user_id       TEXT COLLATE "C"   NOT NULL PRIMARY KEY,
    password_hash TEXT COLLATE "C"   NOT NULL,
    created_ts    BIGINT NOT NULL
);

CREATE TABLE devices (
    user_id        TEXT COLLATE "C"    NOT NULL REFERENCES accounts (user_id) ON DELETE CASCADE,
    device_id      TEXT COLLATE "C"    NOT NULL,
    name           TEXT,
    created_ts     BIGINT  NOT NULL,
    -- The seq the device's next inbox entry gets. Only ever incremented, under the row's lock, so
    -- a seq is never reused and seqs become visible in order.
    next_seq       BIGINT  NOT NULL DEFAULT 1 CHECK (next_seq >= 1),
    curve25519     TEXT,
    ed25519        TEXT,
    keys_signature TEXT,
    confirmation   TEXT,
    -- Access tokens issued before this (Unix seconds) are refused.
    tokens_since   BIGINT  NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, device_id),
    CHECK ((curve25519 IS NULL) = (ed25519 IS NULL) AND (ed25519 IS NULL) = (keys_signature IS NULL))
);
CREATE INDEX devices_revoked ON devices (tokens_since) WHERE tokens_since > 0;

CREATE TABLE refresh_tokens (
    hash       BYTEA   NOT NULL PRIMARY KEY,
    user_id    TEXT COLLATE "C"    NOT NULL,
    device_id  TEXT COLLATE "C"    NOT NULL,
    created_ts BIGINT  NOT NULL,
    spent      BOOLEAN NOT NULL DEFAULT FALSE,
    spent_ts   BIGINT,
    successor  BYTEA,
    regranted  BOOLEAN NOT NULL DEFAULT FALSE,
    FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
);
CREATE INDEX refresh_tokens_by_device ON refresh_tokens (user_id, device_id);

CREATE TABLE one_time_keys (
    user_id   TEXT COLLATE "C" NOT NULL,
    device_id TEXT COLLATE "C" NOT NULL,
    key_id    TEXT COLLATE "C" NOT NULL,
    key       TEXT COLLATE "C" NOT NULL,
    signature TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (user_id, device_id, key_id),
    FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
);

CREATE TABLE fallback_keys (
    user_id   TEXT COLLATE "C" NOT NULL,
    device_id TEXT COLLATE "C" NOT NULL,
    key_id    TEXT COLLATE "C" NOT NULL,
    key       TEXT COLLATE "C" NOT NULL,
    signature TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (user_id, device_id),
    FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
);

CREATE TABLE identities (
    user_id          TEXT COLLATE "C" NOT NULL PRIMARY KEY REFERENCES accounts (user_id) ON DELETE CASCADE,
    master_key       TEXT COLLATE "C" NOT NULL,
    self_signing_key TEXT COLLATE "C" NOT NULL,
    user_signing_key TEXT COLLATE "C" NOT NULL,
    signature        TEXT COLLATE "C" NOT NULL
);

CREATE TABLE user_signatures (
    signer     TEXT COLLATE "C" NOT NULL REFERENCES accounts (user_id) ON DELETE CASCADE,
    target     TEXT COLLATE "C" NOT NULL REFERENCES accounts (user_id) ON DELETE CASCADE,
    master_key TEXT COLLATE "C" NOT NULL,
    signature  TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (signer, target)
);
CREATE INDEX user_signatures_by_target ON user_signatures (target);

CREATE TABLE external_token_ids (
    jti TEXT COLLATE "C"   NOT NULL PRIMARY KEY,
    exp BIGINT NOT NULL
);
CREATE INDEX external_token_ids_exp ON external_token_ids (exp);

-- Idempotency records: (sender, message id) -> when it was first stored. The primary key is
-- what makes a delivery idempotent: a second insert of the same pair waits for the first
-- transaction and then finds the row.
CREATE TABLE sent_ids (
    sender_user TEXT COLLATE "C"   NOT NULL,
    message_id  TEXT COLLATE "C"   NOT NULL,
    server_ts   BIGINT NOT NULL,
    PRIMARY KEY (sender_user, message_id)
);
CREATE INDEX sent_ids_by_ts ON sent_ids (server_ts);

CREATE TABLE contacts (
    user_id  TEXT COLLATE "C"   NOT NULL,
    peer_id  TEXT COLLATE "C"   NOT NULL,
    first_ts BIGINT NOT NULL,
    PRIMARY KEY (user_id, peer_id)
);
CREATE INDEX contacts_by_peer ON contacts (peer_id);

-- A body delivered to many devices, stored once as the JSON of an EntryBody (TEXT, not JSONB:
-- the server never looks inside). `retained` while a group history row references it.
CREATE TABLE shared_payloads (
    id       BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    body     TEXT COLLATE "C"    NOT NULL,
    retained BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX shared_payloads_unretained ON shared_payloads (id) WHERE NOT retained;

CREATE TABLE inbox (
    user_id       TEXT COLLATE "C"   NOT NULL,
    device_id     TEXT COLLATE "C"   NOT NULL,
    seq           BIGINT NOT NULL,
    message_id    TEXT COLLATE "C"   NOT NULL,
    sender_user   TEXT COLLATE "C"   NOT NULL,
    sender_device TEXT,
    server_ts     BIGINT NOT NULL,
    ciphertext    TEXT,
    payload_id    BIGINT REFERENCES shared_payloads (id),
    PRIMARY KEY (user_id, device_id, seq),
    FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE,
    CHECK ((ciphertext IS NULL) <> (payload_id IS NULL))
);
CREATE INDEX inbox_by_payload ON inbox (payload_id) WHERE payload_id IS NOT NULL;

CREATE TABLE groups (
    group_id   TEXT COLLATE "C"   NOT NULL PRIMARY KEY,
    name       TEXT COLLATE "C"   NOT NULL,
    version    BIGINT NOT NULL,
    created_ts BIGINT NOT NULL,
    -- The seq the group's next history message gets (taken under the group row's lock, like
    -- every membership change, so each message falls before or after a change, never between).
    next_seq   BIGINT NOT NULL DEFAULT 1 CHECK (next_seq >= 1)
);

CREATE TABLE group_members (
    group_id TEXT COLLATE "C" NOT NULL REFERENCES groups (group_id) ON DELETE CASCADE,
    user_id  TEXT COLLATE "C" NOT NULL REFERENCES accounts (user_id) ON DELETE CASCADE,
    role     TEXT COLLATE "C" NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_by_user ON group_members (user_id);

CREATE TABLE group_invites (
    group_id TEXT COLLATE "C" NOT NULL REFERENCES groups (group_id) ON DELETE CASCADE,
    user_id  TEXT COLLATE "C" NOT NULL REFERENCES accounts (user_id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_invites_by_user ON group_invites (user_id);

CREATE TABLE group_log (
    group_id  TEXT COLLATE "C"   NOT NULL REFERENCES groups (group_id) ON DELETE CASCADE,
    seq       BIGINT NOT NULL CHECK (seq >= 1),
    hash      TEXT COLLATE "C"   NOT NULL,
    change    TEXT COLLATE "C"   NOT NULL,
    signature TEXT COLLATE "C"   NOT NULL,
    PRIMARY KEY (group_id, seq)
);

CREATE TABLE group_history (
    group_id      TEXT COLLATE "C"   NOT NULL REFERENCES groups (group_id) ON DELETE CASCADE,
    seq           BIGINT NOT NULL,
    payload_id    BIGINT NOT NULL REFERENCES shared_payloads (id),
    message_id    TEXT COLLATE "C"   NOT NULL,
    sender_user   TEXT COLLATE "C"   NOT NULL,
    sender_device TEXT,
    server_ts     BIGINT NOT NULL,
    PRIMARY KEY (group_id, seq)
);
CREATE INDEX group_history_by_payload ON group_history (payload_id);
CREATE INDEX group_history_by_ts ON group_history (server_ts);

-- A history row that goes (retention, or its group dismissed: the cascade fires this too) hands
-- its payload back to garbage collection.
CREATE FUNCTION group_history_released() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE shared_payloads SET retained = FALSE WHERE id = OLD.payload_id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER group_history_released AFTER DELETE ON group_history
    FOR EACH ROW EXECUTE FUNCTION group_history_released();

-- to_seq is exclusive; NULL while the user is a member.
CREATE TABLE group_membership_periods (
    group_id TEXT COLLATE "C"   NOT NULL REFERENCES groups (group_id) ON DELETE CASCADE,
    user_id  TEXT COLLATE "C"   NOT NULL REFERENCES accounts (user_id) ON DELETE CASCADE,
    from_seq BIGINT NOT NULL,
    to_seq   BIGINT,
    PRIMARY KEY (group_id, user_id, from_seq),
    CHECK (to_seq IS NULL OR to_seq >= from_seq)
);
CREATE INDEX group_membership_periods_by_user ON group_membership_periods (user_id);

CREATE TABLE backups (
    user_id TEXT COLLATE "C"   NOT NULL PRIMARY KEY REFERENCES accounts (user_id) ON DELETE CASCADE,
    version BIGINT NOT NULL CHECK (version >= 1),
    blob    BYTEA  NOT NULL
);

CREATE TABLE profiles (
    user_id    TEXT COLLATE "C"   NOT NULL PRIMARY KEY,
    ciphertext BYTEA  NOT NULL,
    updated_ms BIGINT NOT NULL
);

CREATE TABLE blobs (
    blob_id      TEXT COLLATE "C"    NOT NULL PRIMARY KEY,
    uploader     TEXT COLLATE "C"    NOT NULL,
    size         BIGINT  NOT NULL CHECK (size >= 0),
    committed    BIGINT  NOT NULL DEFAULT 0 CHECK (committed >= 0 AND committed <= size),
    complete     BOOLEAN NOT NULL DEFAULT FALSE,
    created_ts   BIGINT  NOT NULL,
    completed_ts BIGINT,
    expires_ts   BIGINT  NOT NULL,
    CHECK (NOT complete OR committed = size),
    CHECK (complete = (completed_ts IS NOT NULL))
);
CREATE INDEX blobs_by_uploader ON blobs (uploader);
CREATE INDEX blobs_by_expiry ON blobs (expires_ts);

CREATE TABLE blob_readers (
    blob_id TEXT COLLATE "C" NOT NULL REFERENCES blobs (blob_id) ON DELETE CASCADE,
    user_id TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (blob_id, user_id)
);

-- One row per uploader whose blobs exist: the row a new blob's quota check locks, so two uploads
-- of one user are checked one after the other (the sum over `blobs` alone could be read by both
-- before either inserts).
CREATE TABLE blob_uploaders (
    uploader TEXT COLLATE "C" NOT NULL PRIMARY KEY
);
