-- Sotto client profile, schema 2: what a restore from a backup file needs.

-- An Olm session restored from a backup may be behind the copy the device kept using after the
-- backup was taken: sending with it would reuse message keys the peer has already seen. Such
-- sessions still decrypt what peers send with them, but are never chosen to send with; a new
-- outbound session replaces them.
ALTER TABLE olm_sessions ADD COLUMN receive_only INTEGER NOT NULL DEFAULT 0;

-- When this device last started new Olm sessions with a device (after a restore, or because a
-- message from it did not decrypt): renewals are rate-limited per device.
CREATE TABLE olm_renewals (
    curve25519 TEXT PRIMARY KEY,
    renewed_ts INTEGER NOT NULL
) STRICT;
