-- Sotto client profile, schema 7: signed group changes.
--
-- Each group's changes as this device verified them (sotto_proto::SignedGroupChange), in order:
-- `seq` as signed, `hash` the entry's hash (the next entry's `prev`).
CREATE TABLE group_log (
    group_id  TEXT    NOT NULL,
    seq       INTEGER NOT NULL,
    hash      TEXT    NOT NULL,
    change    TEXT    NOT NULL,
    signature TEXT    NOT NULL,
    PRIMARY KEY (group_id, seq)
) STRICT;

-- The hash of the last verified change; NULL while the group's members are only as the server
-- described them (a group from before changes were signed, until a member signs its list).
-- `name`, `version`, `members` and `joined` follow the verified changes once it is set.
ALTER TABLE groups ADD COLUMN head TEXT;
-- The last warning shown in the group's conversation, so the same one is not repeated.
ALTER TABLE groups ADD COLUMN warning TEXT;
-- The group's name as its creator sealed it (sotto_proto::SEALED_NAME_PREFIX); `name` holds it
-- opened, once this device has the key, and a stand-in until then.
ALTER TABLE groups ADD COLUMN sealed_name TEXT;

-- The key each group's name is sealed with (unpadded base64), from its creator, another member
-- (with the group's Megolm keys), another device of this user, or a backup.
CREATE TABLE group_name_keys (
    group_id TEXT PRIMARY KEY,
    key      TEXT NOT NULL
) STRICT;
