//! The backup slot: one versioned blob per user.

use async_trait::async_trait;
use rusqlite::OptionalExtension;
use sotto_proto::UserId;

use super::{SqliteStore, sql_u64, u64_col};
use crate::store::{BackupStore, StoreError, StoreResult};

#[async_trait]
impl BackupStore for SqliteStore {
    async fn get_backup(&self, user: &UserId) -> StoreResult<Option<(u64, Vec<u8>)>> {
        let user = user.clone();
        self.read(move |c| {
            Ok(c.prepare_cached("SELECT version, blob FROM backups WHERE user_id = ?1")?
                .query_row([user.as_str()], |r| Ok((u64_col(r, 0)?, r.get(1)?)))
                .optional()?)
        })
        .await
    }

    async fn put_backup(&self, user: &UserId, expected: u64, blob: &[u8]) -> StoreResult<u64> {
        let (user, blob) = (user.clone(), blob.to_vec());
        self.write(move |c| {
            let current = c
                .prepare_cached("SELECT version FROM backups WHERE user_id = ?1")?
                .query_row([user.as_str()], |r| u64_col(r, 0))
                .optional()?
                .unwrap_or(0);
            if current != expected {
                return Err(StoreError::VersionConflict { current });
            }
            let next = current + 1;
            c.prepare_cached(
                "INSERT INTO backups (user_id, version, blob) VALUES (?1, ?2, ?3)
                 ON CONFLICT (user_id) DO UPDATE SET version = excluded.version, blob = excluded.blob",
            )?
            .execute((user.as_str(), sql_u64(next)?, blob.as_slice()))?;
            Ok(next)
        })
        .await
    }
}
