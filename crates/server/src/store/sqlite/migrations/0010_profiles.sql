-- 0010: profiles. One sealed (client-encrypted) profile per user: a display name and a small
-- picture the server cannot read, replaced whole by its owner.

CREATE TABLE profiles (
    user_id    TEXT    NOT NULL PRIMARY KEY,
    ciphertext BLOB    NOT NULL,
    updated_ms INTEGER NOT NULL
) STRICT;
