-- Access tokens of a device issued before `tokens_since` (Unix seconds) are refused: the device
-- was signed in again, or one of its refresh tokens was replayed. Stored, so a restart does not
-- bring revoked tokens back.
ALTER TABLE devices ADD COLUMN tokens_since INTEGER NOT NULL DEFAULT 0;

-- A spent refresh token remembers when it was spent and which token replaced it, so a client
-- whose answer was lost may present it once more within a short grace window (`regranted`).
ALTER TABLE refresh_tokens ADD COLUMN spent_ts INTEGER;
ALTER TABLE refresh_tokens ADD COLUMN successor BLOB;
ALTER TABLE refresh_tokens ADD COLUMN regranted INTEGER NOT NULL DEFAULT 0 CHECK (regranted IN (0, 1));
