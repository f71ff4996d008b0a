//! Profiles: one sealed blob per user.

use async_trait::async_trait;
use rusqlite::OptionalExtension;
use sotto_proto::UserId;

use super::{SqliteStore, sql_u64};
use crate::store::{ProfileStore, StoreResult};

#[async_trait]
impl ProfileStore for SqliteStore {
    async fn get_profile(&self, user: &UserId) -> StoreResult<Option<Vec<u8>>> {
        let user = user.clone();
        self.read(move |c| {
            Ok(c.prepare_cached("SELECT ciphertext FROM profiles WHERE user_id = ?1")?
                .query_row([user.as_str()], |r| r.get(0))
                .optional()?)
        })
        .await
    }

    async fn put_profile(&self, user: &UserId, ciphertext: &[u8], now_ms: u64) -> StoreResult<()> {
        let (user, ciphertext) = (user.clone(), ciphertext.to_vec());
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO profiles (user_id, ciphertext, updated_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (user_id) DO UPDATE SET ciphertext = excluded.ciphertext, updated_ms = excluded.updated_ms",
            )?
            .execute((user.as_str(), ciphertext.as_slice(), sql_u64(now_ms)?))?;
            Ok(())
        })
        .await
    }
}
