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
