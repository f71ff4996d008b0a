-- Sotto client profile, schema 4: a conversation's messages in the order they were sent.
--
-- The order is the server's time (when it took the message), or for a message it has not taken
-- yet, the time it was written here; ties by local row id. Rows are no longer in that order
-- when older messages arrive late (a group's history read after a key backup restore, a message
-- sent again on request), so pages follow this index rather than the row id.
DROP INDEX messages_conversation;
CREATE INDEX messages_order ON messages (conversation_id, coalesce(server_ts, ts), id);
