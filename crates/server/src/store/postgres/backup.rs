//! The backup slot: one versioned blob per user.

use async_trait::async_trait;
use sotto_proto::UserId;

use super::{PostgresStore, at, execute, query_opt, sql_u64, u64_at};
use crate::store::{BackupStore, StoreError, StoreResult};

#[async_trait]
impl BackupStore for PostgresStore {
    async fn get_backup(&self, user: &UserId) -> StoreResult<Option<(u64, Vec<u8>)>> {
        let client = self.client().await?;
        let row = query_opt(&client, "SELECT version, blob FROM backups WHERE user_id = $1", &[&user.as_str()]).await?;
        row.map(|r| Ok((u64_at(&r, 0)?, at(&r, 1)?))).transpose()
    }

    async fn put_backup(&self, user: &UserId, expected: u64, blob: &[u8]) -> StoreResult<u64> {
        let client = self.client().await?;
        let next = sql_u64(expected.saturating_add(1))?;
        // Each outcome is one statement: the version is compared under the row's lock (an
        // update), or the row is created if none exists (a concurrent creation makes this one
        // insert nothing, and the conflict reads the version it stored).
        let written = if expected == 0 {
            execute(
                &client,
                "INSERT INTO backups (user_id, version, blob) VALUES ($1, 1, $2) ON CONFLICT (user_id) DO NOTHING",
                &[&user.as_str(), &blob],
            )
            .await?
        } else {
            execute(
                &client,
                "UPDATE backups SET version = $3, blob = $2 WHERE user_id = $1 AND version = $4",
                &[&user.as_str(), &blob, &next, &sql_u64(expected)?],
            )
            .await?
        };
        if written == 1 {
            return Ok(expected + 1);
        }
        let current = query_opt(&client, "SELECT version FROM backups WHERE user_id = $1", &[&user.as_str()])
            .await?
            .map(|r| u64_at(&r, 0))
            .transpose()?
            .unwrap_or(0);
        Err(StoreError::VersionConflict { current })
    }
}
