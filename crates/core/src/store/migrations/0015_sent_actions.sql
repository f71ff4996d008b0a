-- Sotto client profile, schema 15: actions sent one to one, kept a day.
--
-- A reaction, edit or deletion that went to a person (Olm), by the id it went
-- with: a device of theirs that could not decrypt it asks for it again (a resend request), and
-- it is sent again as it was (same content, same time), as a text would be.
CREATE TABLE sent_actions (
    message_id      TEXT    NOT NULL PRIMARY KEY,
    conversation_id TEXT    NOT NULL,
    action          TEXT    NOT NULL,
    created_ts      INTEGER NOT NULL,
    sent_ts         INTEGER NOT NULL
) STRICT;
CREATE INDEX sent_actions_by_time ON sent_actions (sent_ts);
