-- Sotto client profile, schema 14: people's profiles (display name and picture).
--
-- One row per user whose profile key this device holds, this user included: the key and the
-- profile version it was given with (`key_version`), and the profile last read from the server
-- (`card_version`; below `key_version`: to be read again). A key is replaced only by one given
-- with a higher version (the larger key on a tie), so every device settles on the same one.
CREATE TABLE profiles (
    user_id      TEXT    NOT NULL PRIMARY KEY,
    key          TEXT    NOT NULL,
    key_version  INTEGER NOT NULL,
    card_version INTEGER NOT NULL DEFAULT 0,
    name         TEXT,
    avatar       BLOB,
    -- Failed reads in a row (a server that keeps failing is asked less often).
    attempts     INTEGER NOT NULL DEFAULT 0
) STRICT;
-- Conversations this user's profile key went to, and at which version: a send to a
-- conversation below the current version gives the key first.
CREATE TABLE profile_shares (
    conversation_id TEXT    NOT NULL PRIMARY KEY,
    version         INTEGER NOT NULL
) STRICT;
