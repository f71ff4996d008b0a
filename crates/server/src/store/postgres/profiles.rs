//! Profiles: one sealed blob per user.

use async_trait::async_trait;
use sotto_proto::UserId;

use super::{PostgresStore, at, execute, query_opt, sql_u64};
use crate::store::{ProfileStore, StoreResult};

#[async_trait]
impl ProfileStore for PostgresStore {
    async fn get_profile(&self, user: &UserId) -> StoreResult<Option<Vec<u8>>> {
        let client = self.client().await?;
        let row = query_opt(&client, "SELECT ciphertext FROM profiles WHERE user_id = $1", &[&user.as_str()]).await?;
        row.map(|r| at(&r, 0)).transpose()
    }

    async fn put_profile(&self, user: &UserId, ciphertext: &[u8], now_ms: u64) -> StoreResult<()> {
        let client = self.client().await?;
        execute(
            &client,
            "INSERT INTO profiles (user_id, ciphertext, updated_ms) VALUES ($1, $2, $3)
             ON CONFLICT (user_id) DO UPDATE SET ciphertext = excluded.ciphertext, updated_ms = excluded.updated_ms",
            &[&user.as_str(), &ciphertext, &sql_u64(now_ms)?],
        )
        .await?;
        Ok(())
    }
}
