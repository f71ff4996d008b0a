-- Cross-signing (sotto_proto::identity): each user's public master, self-signing and
-- user-signing keys, and per device the self-signing key's confirmation of its identity keys.
-- The server holds no private key: it stores what clients signed and serves it back.
CREATE TABLE identities (
    user_id          TEXT NOT NULL PRIMARY KEY REFERENCES accounts (user_id) ON DELETE CASCADE,
    master_key       TEXT NOT NULL,
    self_signing_key TEXT NOT NULL,
    user_signing_key TEXT NOT NULL,
    signature        TEXT NOT NULL
) STRICT, WITHOUT ROWID;

-- The self-signing key's signature over the device's current identity keys; cleared when the
-- keys are reset (it would no longer verify).
ALTER TABLE devices ADD COLUMN confirmation TEXT;

-- A user's user-signing signature of another user's master key: "I verified them". Given back
-- only to the signer's own devices, so they all know whom their user verified.
CREATE TABLE user_signatures (
    signer     TEXT NOT NULL REFERENCES accounts (user_id) ON DELETE CASCADE,
    target     TEXT NOT NULL REFERENCES accounts (user_id) ON DELETE CASCADE,
    master_key TEXT NOT NULL,
    signature  TEXT NOT NULL,
    PRIMARY KEY (signer, target)
) STRICT, WITHOUT ROWID;
