-- Each group's signed changes (sotto_proto::SignedGroupChange), in order: `seq` is the group's
-- version after the change, `hash` the entry's hash (the next entry's `prev`). A group made before
-- changes were signed has none until a member signs its member list (`adopt`). The log goes with
-- the group when it is dismissed.
CREATE TABLE group_log (
    group_id  TEXT    NOT NULL REFERENCES groups (group_id) ON DELETE CASCADE,
    seq       INTEGER NOT NULL CHECK (seq >= 1),
    hash      TEXT    NOT NULL,
    change    TEXT    NOT NULL,
    signature TEXT    NOT NULL,
    PRIMARY KEY (group_id, seq)
) STRICT, WITHOUT ROWID;
