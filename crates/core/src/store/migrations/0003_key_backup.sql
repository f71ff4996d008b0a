-- Sotto client profile, schema 3: the server key backup.

-- 1 once this session (at its current first index) is in the server's key backup. A copy that
-- reaches further back replaces the row and resets it, so it is uploaded again.
ALTER TABLE inbound_group_sessions ADD COLUMN backed_up INTEGER NOT NULL DEFAULT 0;
CREATE INDEX inbound_group_sessions_to_back_up ON inbound_group_sessions (session_id) WHERE backed_up = 0;
