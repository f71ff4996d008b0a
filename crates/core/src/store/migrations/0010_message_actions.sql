-- Sotto client profile, schema 10: replies, reactions, edits and deletions.
--
-- A reply names the message it answers by its sender and message id (the quote is read from
-- that message when shown, so it follows the message's edits and deletion, and appears once a
-- late message arrives).
ALTER TABLE messages ADD COLUMN reply_sender TEXT;
ALTER TABLE messages ADD COLUMN reply_id TEXT;
-- The sender's time (ms) of the edit whose text the body now holds; NULL if never edited.
ALTER TABLE messages ADD COLUMN edited_ts INTEGER;
-- When its sender deleted it for everyone (ms, their clock): the body is then empty, its
-- earlier versions, reactions and file gone, and it is out of the search index.
ALTER TABLE messages ADD COLUMN deleted_ts INTEGER;

-- Reactions, by the message they are on (which may not have arrived yet). One row per person
-- and emoji; a reaction taken back keeps its row with `present` 0 and the time, so an older
-- "add" arriving late does not bring it back.
CREATE TABLE reactions (
    conversation_id TEXT NOT NULL,
    target_sender   TEXT NOT NULL,
    target_id       TEXT NOT NULL,
    reactor         TEXT NOT NULL,
    emoji           TEXT NOT NULL,
    -- the reactor's time of the latest change (ms)
    ts              INTEGER NOT NULL,
    present         INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, target_sender, target_id, reactor, emoji)
) STRICT, WITHOUT ROWID;

-- The earlier texts of edited messages, kept on this device only.
CREATE TABLE message_versions (
    message_row INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    body        TEXT NOT NULL,
    -- when this text was written (ms, the sender's clock): the message's own time, or an edit's
    ts          INTEGER NOT NULL
) STRICT;
CREATE INDEX message_versions_row ON message_versions (message_row, ts);

-- Edits and deletions that arrived before their message, applied when it arrives (and only if
-- it is the actor's own message).
CREATE TABLE waiting_actions (
    conversation_id TEXT NOT NULL,
    target_sender   TEXT NOT NULL,
    target_id       TEXT NOT NULL,
    actor           TEXT NOT NULL,
    -- JSON of the action (an `Action` of the payload)
    action          TEXT NOT NULL,
    ts              INTEGER NOT NULL,
    received_ts     INTEGER NOT NULL
) STRICT;
CREATE INDEX waiting_actions_target ON waiting_actions (conversation_id, target_sender, target_id);

-- Actions this device sends wait in the outbox like messages, with what they carry.
ALTER TABLE outbox ADD COLUMN action TEXT;
