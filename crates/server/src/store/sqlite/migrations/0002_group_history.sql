-- 0002: group history, so a member's new device can read what was said before it existed.
--
-- A group message's body is still stored once (in `shared_payloads`); `group_history` references
-- it for as long as the retention period keeps it, so garbage collection leaves it alone even
-- after every recipient acknowledged it. Each group numbers its messages with its own counter
-- (`groups.next_seq`), and each membership is a period [from_seq, to_seq) of that numbering: a
-- member sees a message only if its seq falls in one of their periods. Everything cascades from
-- `groups`, so dismissing a group deletes its history.

ALTER TABLE groups ADD COLUMN next_seq INTEGER NOT NULL DEFAULT 1 CHECK (next_seq >= 1);

-- 1 while a group history row references the payload. Garbage collection looks only at payloads
-- with 0 (through the partial index), so months of retained history never slow it down.
ALTER TABLE shared_payloads ADD COLUMN retained INTEGER NOT NULL DEFAULT 0 CHECK (retained IN (0, 1));
CREATE INDEX shared_payloads_unretained ON shared_payloads (id) WHERE retained = 0;

CREATE TABLE group_history (
    group_id      TEXT    NOT NULL REFERENCES groups (group_id) ON DELETE CASCADE,
    seq           INTEGER NOT NULL,
    payload_id    INTEGER NOT NULL REFERENCES shared_payloads (id),
    message_id    TEXT    NOT NULL,
    sender_user   TEXT    NOT NULL,
    sender_device TEXT,
    server_ts     INTEGER NOT NULL,
    PRIMARY KEY (group_id, seq)
) STRICT, WITHOUT ROWID;
-- Needed by garbage collection (is a payload still referenced?) and the foreign key check.
CREATE INDEX group_history_by_payload ON group_history (payload_id);
-- Retention: the oldest rows go first.
CREATE INDEX group_history_by_ts ON group_history (server_ts);
-- A history row that goes (retention, or its group dismissed: the cascade fires this too) hands
-- its payload back to garbage collection.
CREATE TRIGGER group_history_released AFTER DELETE ON group_history
BEGIN
    UPDATE shared_payloads SET retained = 0 WHERE id = OLD.payload_id;
END;

-- to_seq is exclusive; NULL while the user is a member.
CREATE TABLE group_membership_periods (
    group_id TEXT    NOT NULL REFERENCES groups (group_id) ON DELETE CASCADE,
    user_id  TEXT    NOT NULL REFERENCES accounts (user_id) ON DELETE CASCADE,
    from_seq INTEGER NOT NULL,
    to_seq   INTEGER,
    PRIMARY KEY (group_id, user_id, from_seq),
    CHECK (to_seq IS NULL OR to_seq >= from_seq)
) STRICT, WITHOUT ROWID;

-- Members of groups that exist already: there is no history before this migration, so their
-- periods may start at the beginning.
INSERT INTO group_membership_periods (group_id, user_id, from_seq, to_seq)
    SELECT group_id, user_id, 1, NULL FROM group_members;
