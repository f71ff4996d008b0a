-- 0009: the metadata of blobs (encrypted attachments). Their bytes live in files under the data
-- directory's `blobs/` folder (see crates/server/src/blobs/); the database says who uploaded each,
-- how much of it is committed, who may read it and when it goes.

CREATE TABLE blobs (
    blob_id      TEXT    NOT NULL PRIMARY KEY,
    uploader     TEXT    NOT NULL,
    size         INTEGER NOT NULL CHECK (size >= 0),
    -- Bytes committed (written and synced); only ever grows, up to `size`.
    committed    INTEGER NOT NULL DEFAULT 0 CHECK (committed >= 0 AND committed <= size),
    complete     INTEGER NOT NULL DEFAULT 0 CHECK (complete IN (0, 1)),
    created_ts   INTEGER NOT NULL,
    completed_ts INTEGER,
    -- When housekeeping deletes it: the end of the upload window while incomplete, the end of
    -- the retention period once complete.
    expires_ts   INTEGER NOT NULL,
    CHECK (complete = 0 OR committed = size),
    CHECK ((complete = 1) = (completed_ts IS NOT NULL))
) STRICT, WITHOUT ROWID;
CREATE INDEX blobs_by_uploader ON blobs (uploader);
CREATE INDEX blobs_by_expiry ON blobs (expires_ts);

-- Who may read a blob besides its uploader.
CREATE TABLE blob_readers (
    blob_id TEXT NOT NULL REFERENCES blobs (blob_id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    PRIMARY KEY (blob_id, user_id)
) STRICT, WITHOUT ROWID;
