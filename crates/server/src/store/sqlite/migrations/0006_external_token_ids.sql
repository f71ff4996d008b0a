-- With `--external-jwt-single-use`, each token of the external issuer signs in once: its `jti`
-- is kept here until the token expires (`exp`, Unix seconds), so a copy is refused, also after
-- a restart.
CREATE TABLE external_token_ids (
    jti TEXT PRIMARY KEY,
    exp INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX external_token_ids_exp ON external_token_ids (exp);
