//! Undecryptable messages' ciphertexts (`pending_decryption`), kept so they can be decrypted in
//! place when the key they wait for arrives.
//!
//! Invariant: at most one entry per message row (a later failure replaces it), with the Megolm
//! session it waits for when known; the caller removes it once the row is decrypted.

use rusqlite::params;

use crate::Result;
use crate::store::Db;

impl Db<'_> {
    pub fn add_pending(&self, row_id: i64, session_id: Option<&str>, entry_json: &str) -> Result<()> {
        self.conn()
            .prepare_cached(
                "INSERT INTO pending_decryption (message_row, session_id, entry) VALUES (?1, ?2, ?3)
                 ON CONFLICT (message_row) DO UPDATE SET session_id = excluded.session_id, entry = excluded.entry",
            )?
            .execute(params![row_id, session_id, entry_json])?;
        Ok(())
    }

    /// Undecryptable entries waiting for `session_id` (all of them with `None`).
    pub fn pending(&self, session_id: Option<&str>) -> Result<Vec<(i64, String)>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT message_row, entry FROM pending_decryption WHERE ?1 IS NULL OR session_id = ?1 ORDER BY message_row",
        )?;
        let rows = stmt.query_map([session_id], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    pub fn remove_pending(&self, row_id: i64) -> Result<()> {
        self.conn().execute("DELETE FROM pending_decryption WHERE message_row = ?1", [row_id])?;
        Ok(())
    }
}
