-- Sotto client profile, schema 9: files.
--
-- The file of a message whose kind is 'file' (its caption is the message's body). The bytes
-- themselves are kept, still encrypted under the file's key, in the profile's `files`
-- directory, under `local`; the key is only here, inside SQLCipher.
CREATE TABLE attachments (
    message_row INTEGER PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    mime        TEXT NOT NULL,
    -- the plaintext's size in bytes
    size        INTEGER NOT NULL,
    -- JSON of attachment::FileKey: key, nonce prefix, sizes, SHA-256 of the ciphertext
    file_key    TEXT NOT NULL,
    -- the server's blob; NULL for an outgoing file until its upload is reserved
    blob_id     TEXT,
    -- 'uploading' (outgoing, the server does not have all of it yet), 'remote' (incoming, not
    -- downloaded), 'local' (the ciphertext is in the profile and checked)
    state       TEXT NOT NULL CHECK (state IN ('uploading', 'remote', 'local')),
    -- the ciphertext's file name in the profile's `files` directory
    local       TEXT,
    -- an image's size in pixels, its blurhash and JPEG thumbnail (checked when received)
    width       INTEGER,
    height      INTEGER,
    blurhash    TEXT,
    thumbnail   BLOB
) STRICT;
CREATE INDEX attachments_uploading ON attachments (state) WHERE state = 'uploading';
