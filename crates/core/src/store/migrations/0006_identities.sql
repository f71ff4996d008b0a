-- Sotto client profile, schema 6: cross-signing.
--
-- This user's private cross-signing keys (unpadded base64), once this device made them or was
-- given them by a confirming device or the recovery key. At most one row.
CREATE TABLE cross_signing (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    master       TEXT NOT NULL,
    self_signing TEXT NOT NULL,
    user_signing TEXT NOT NULL
) STRICT;

-- The identity pinned for each user (this user included): the first master key seen, replaced
-- only by a key change that is shown in the user's conversations.
CREATE TABLE identities (
    user_id          TEXT PRIMARY KEY,
    master_key       TEXT NOT NULL,
    self_signing_key TEXT NOT NULL,
    user_signing_key TEXT NOT NULL,
    signature        TEXT NOT NULL,
    first_seen       INTEGER NOT NULL
) STRICT;

-- 1 when the device's keys carry a confirmation that leads to its user's pinned master key.
-- Only confirmed devices are given keys.
ALTER TABLE devices ADD COLUMN confirmed INTEGER NOT NULL DEFAULT 0;

-- 1 while sending to the user is held: their identity changed after this person verified them,
-- and they have not accepted the new one yet.
ALTER TABLE known_users ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
