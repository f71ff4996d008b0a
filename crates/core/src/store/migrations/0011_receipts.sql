-- Sotto client profile, schema 11: delivery and read receipts.
--
-- For this user's own messages: who (each recipient user) had a device decrypt it, and who saw
-- it, with the times (ms, the reader's clock). A read implies delivered.
CREATE TABLE receipts (
    message_row  INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    reader       TEXT NOT NULL,
    delivered_ts INTEGER,
    read_ts      INTEGER,
    PRIMARY KEY (message_row, reader)
) STRICT, WITHOUT ROWID;

-- For each conversation, the newest message row whose read receipt was sent (or that was
-- seen while read receipts were off): receipts go once per message.
CREATE TABLE read_marks (
    conversation_id TEXT PRIMARY KEY,
    up_to_row       INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
-- Messages already here when receipts came are not announced as read.
INSERT INTO read_marks (conversation_id, up_to_row) SELECT conversation_id, max(id) FROM messages GROUP BY conversation_id;
