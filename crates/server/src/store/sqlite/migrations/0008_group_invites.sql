-- Users invited to a group who have not joined or declined yet (they are not members: no
-- messages, no history; they read the group's changes). Follows the signed log like members.
CREATE TABLE group_invites (
    group_id TEXT NOT NULL REFERENCES groups (group_id) ON DELETE CASCADE,
    user_id  TEXT NOT NULL REFERENCES accounts (user_id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX group_invites_by_user ON group_invites (user_id);
