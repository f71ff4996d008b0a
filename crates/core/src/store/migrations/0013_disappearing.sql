-- Sotto client profile, schema 13: disappearing messages.
--
-- A conversation's timer (seconds; NULL: off), as its members last set it.
ALTER TABLE conversations ADD COLUMN disappear_secs INTEGER;
-- When a message is deleted from this device (ms): set when it is stored while the timer is on.
ALTER TABLE messages ADD COLUMN expires_ts INTEGER;
CREATE INDEX messages_expiry ON messages (expires_ts) WHERE expires_ts IS NOT NULL;
