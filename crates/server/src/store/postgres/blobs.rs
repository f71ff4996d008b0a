//! Blob metadata: one row per blob, and its readers.
//!
//! The quota check locks the uploader's row in `blob_uploaders` first, so two uploads of one user
//! are checked one after the other: the second sees the first one's blob.

use async_trait::async_trait;
use sotto_proto::{BlobId, UserId};
use tokio_postgres::Row;

use super::{
    PostgresStore, at, dedup, execute, id_at, opt_u64_at, query, query_one, query_opt, sql_bound, sql_u64, u64_at,
};
use crate::store::{BlobIndex, BlobRecord, CreateBlobOutcome, StoreResult};

const COLUMNS: &str = "blob_id, uploader, size, committed, complete, created_ts, completed_ts, expires_ts";

fn record(r: &Row) -> StoreResult<BlobRecord> {
    Ok(BlobRecord {
        blob_id: id_at(r, 0)?,
        uploader: id_at(r, 1)?,
        size: u64_at(r, 2)?,
        committed: u64_at(r, 3)?,
        complete: at(r, 4)?,
        created_ms: u64_at(r, 5)?,
        completed_ms: opt_u64_at(r, 6)?,
        expires_ms: u64_at(r, 7)?,
    })
}

#[async_trait]
impl BlobIndex for PostgresStore {
    async fn create_blob(&self, new: &BlobRecord, readers: &[UserId], quota: u64) -> StoreResult<CreateBlobOutcome> {
        let readers = dedup(readers);
        let readers: Vec<&str> = readers.iter().filter(|r| **r != new.uploader).map(UserId::as_str).collect();
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let uploader = new.uploader.as_str();
        // Creates or locks the uploader's row: held until the commit.
        execute(
            &tx,
            "INSERT INTO blob_uploaders (uploader) VALUES ($1)
             ON CONFLICT (uploader) DO UPDATE SET uploader = excluded.uploader",
            &[&uploader],
        )
        .await?;
        let used: i64 = at(
            &query_one(&tx, "SELECT coalesce(sum(size), 0)::BIGINT FROM blobs WHERE uploader = $1", &[&uploader])
                .await?,
            0,
        )?;
        let used = u64::try_from(used).unwrap_or(0);
        if used.saturating_add(new.size) > quota {
            return Ok(CreateBlobOutcome::QuotaExceeded { used });
        }
        execute(
            &tx,
            "INSERT INTO blobs (blob_id, uploader, size, committed, complete, created_ts, expires_ts)
             VALUES ($1, $2, $3, 0, FALSE, $4, $5)",
            &[
                &new.blob_id.as_str(),
                &uploader,
                &sql_u64(new.size)?,
                &sql_u64(new.created_ms)?,
                &sql_u64(new.expires_ms)?,
            ],
        )
        .await?;
        execute(
            &tx,
            "INSERT INTO blob_readers (blob_id, user_id) SELECT $1, unnest($2::TEXT[])",
            &[&new.blob_id.as_str(), &readers],
        )
        .await?;
        tx.commit().await?;
        Ok(CreateBlobOutcome::Created)
    }

    async fn blob_for(&self, blob: &BlobId, reader: &UserId) -> StoreResult<Option<BlobRecord>> {
        let client = self.client().await?;
        let row = query_opt(
            &client,
            &format!(
                "SELECT {COLUMNS} FROM blobs b WHERE blob_id = $1 AND (uploader = $2 OR EXISTS
                    (SELECT 1 FROM blob_readers r WHERE r.blob_id = b.blob_id AND r.user_id = $2))"
            ),
            &[&blob.as_str(), &reader.as_str()],
        )
        .await?;
        row.as_ref().map(record).transpose()
    }

    async fn blob(&self, blob: &BlobId) -> StoreResult<Option<BlobRecord>> {
        let client = self.client().await?;
        let row =
            query_opt(&client, &format!("SELECT {COLUMNS} FROM blobs WHERE blob_id = $1"), &[&blob.as_str()]).await?;
        row.as_ref().map(record).transpose()
    }

    async fn advance_blob(&self, blob: &BlobId, from: u64, to: u64) -> StoreResult<bool> {
        let client = self.client().await?;
        let changed = execute(
            &client,
            "UPDATE blobs SET committed = $3
             WHERE blob_id = $1 AND committed = $2 AND NOT complete AND $3 >= $2 AND $3 <= size",
            &[&blob.as_str(), &sql_u64(from)?, &sql_u64(to)?],
        )
        .await?;
        Ok(changed == 1)
    }

    async fn complete_blob(&self, blob: &BlobId, now_ms: u64, expires_ms: u64) -> StoreResult<bool> {
        let client = self.client().await?;
        let changed = execute(
            &client,
            "UPDATE blobs SET complete = TRUE, completed_ts = $2, expires_ts = $3
             WHERE blob_id = $1 AND NOT complete AND committed = size",
            &[&blob.as_str(), &sql_u64(now_ms)?, &sql_u64(expires_ms)?],
        )
        .await?;
        if changed == 1 {
            return Ok(true);
        }
        // Complete already (a retry: true, nothing changes), or gone or not fully committed.
        let complete = query_opt(&client, "SELECT complete FROM blobs WHERE blob_id = $1", &[&blob.as_str()]).await?;
        Ok(match complete {
            Some(row) => at(&row, 0)?,
            None => false,
        })
    }

    async fn delete_blob(&self, blob: &BlobId) -> StoreResult<bool> {
        let client = self.client().await?;
        Ok(execute(&client, "DELETE FROM blobs WHERE blob_id = $1", &[&blob.as_str()]).await? > 0)
    }

    async fn expired_blobs(&self, now_ms: u64, limit: u32) -> StoreResult<Vec<BlobId>> {
        let client = self.client().await?;
        let rows = query(
            &client,
            "SELECT blob_id FROM blobs WHERE expires_ts <= $1 ORDER BY expires_ts LIMIT $2",
            &[&sql_bound(now_ms), &i64::from(limit)],
        )
        .await?;
        rows.iter().map(|r| id_at(r, 0)).collect()
    }
}
