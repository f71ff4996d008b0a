-- Sotto client profile, schema 12: what a person does with a conversation as a whole.
--
-- Muted until this time (ms; NULL: not muted; the largest integer: until unmuted).
ALTER TABLE conversations ADD COLUMN muted_until INTEGER;
-- Archived: listed apart; a new message brings it back unless it is muted.
ALTER TABLE conversations ADD COLUMN archived INTEGER NOT NULL DEFAULT 0;
-- When it was pinned (ms; NULL: not pinned): pinned conversations come first, in that order.
ALTER TABLE conversations ADD COLUMN pinned_ts INTEGER;
-- Marked unread by hand (cleared when it is read).
ALTER TABLE conversations ADD COLUMN marked_unread INTEGER NOT NULL DEFAULT 0;
-- The text being written and not sent yet.
ALTER TABLE conversations ADD COLUMN draft TEXT NOT NULL DEFAULT '';
