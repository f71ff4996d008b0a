-- Who has written to whom: `user_id` sent `peer_id` a message of its own (a direct or to-device
-- send), first at `first_ts`. Ephemeral events (typing) go only to people who share a
-- conversation: a row either way, or a group. (No foreign keys, like the inbox's sender: a
-- sender is whoever the token named; accounts are never deleted.)
CREATE TABLE contacts (
    user_id  TEXT    NOT NULL,
    peer_id  TEXT    NOT NULL,
    first_ts INTEGER NOT NULL,
    PRIMARY KEY (user_id, peer_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX contacts_by_peer ON contacts (peer_id);
