//! Blob metadata: one row per blob, and its readers.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Row};
use sotto_proto::{BlobId, UserId};

use super::{SqliteStore, dedup, id_col, sql_bound, sql_u64, u64_col};
use crate::store::{BlobIndex, BlobRecord, CreateBlobOutcome, StoreResult};

const COLUMNS: &str = "blob_id, uploader, size, committed, complete, created_ts, completed_ts, expires_ts";

fn record(r: &Row<'_>) -> rusqlite::Result<BlobRecord> {
    let completed: Option<i64> = r.get(6)?;
    Ok(BlobRecord {
        blob_id: id_col(r, 0)?,
        uploader: id_col(r, 1)?,
        size: u64_col(r, 2)?,
        committed: u64_col(r, 3)?,
        complete: r.get::<_, i64>(4)? == 1,
        created_ms: u64_col(r, 5)?,
        completed_ms: completed
            .map(|v| u64::try_from(v).map_err(|_| rusqlite::Error::IntegralValueOutOfRange(6, v)))
            .transpose()?,
        expires_ms: u64_col(r, 7)?,
    })
}

#[async_trait]
impl BlobIndex for SqliteStore {
    async fn create_blob(&self, new: &BlobRecord, readers: &[UserId], quota: u64) -> StoreResult<CreateBlobOutcome> {
        let (new, readers) = (new.clone(), dedup(readers));
        self.write(move |c| {
            let used: i64 = c
                .prepare_cached("SELECT coalesce(sum(size), 0) FROM blobs WHERE uploader = ?1")?
                .query_row([new.uploader.as_str()], |r| r.get(0))?;
            let used = u64::try_from(used).unwrap_or(0);
            if used.saturating_add(new.size) > quota {
                return Ok(CreateBlobOutcome::QuotaExceeded { used });
            }
            c.prepare_cached(
                "INSERT INTO blobs (blob_id, uploader, size, committed, complete, created_ts, expires_ts)
                 VALUES (?1, ?2, ?3, 0, 0, ?4, ?5)",
            )?
            .execute((
                new.blob_id.as_str(),
                new.uploader.as_str(),
                sql_u64(new.size)?,
                sql_u64(new.created_ms)?,
                sql_u64(new.expires_ms)?,
            ))?;
            let mut add = c.prepare_cached("INSERT INTO blob_readers (blob_id, user_id) VALUES (?1, ?2)")?;
            for reader in readers.iter().filter(|r| **r != new.uploader) {
                add.execute((new.blob_id.as_str(), reader.as_str()))?;
            }
            Ok(CreateBlobOutcome::Created)
        })
        .await
    }

    async fn blob_for(&self, blob: &BlobId, reader: &UserId) -> StoreResult<Option<BlobRecord>> {
        let (blob, reader) = (blob.clone(), reader.clone());
        self.read(move |c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM blobs b WHERE blob_id = ?1 AND (uploader = ?2 OR EXISTS
                    (SELECT 1 FROM blob_readers r WHERE r.blob_id = b.blob_id AND r.user_id = ?2))"
            ))?
            .query_row([blob.as_str(), reader.as_str()], record)
            .optional()?)
        })
        .await
    }

    async fn blob(&self, blob: &BlobId) -> StoreResult<Option<BlobRecord>> {
        let blob = blob.clone();
        self.read(move |c| {
            Ok(c.prepare_cached(&format!("SELECT {COLUMNS} FROM blobs WHERE blob_id = ?1"))?
                .query_row([blob.as_str()], record)
                .optional()?)
        })
        .await
    }

    async fn advance_blob(&self, blob: &BlobId, from: u64, to: u64) -> StoreResult<bool> {
        let blob = blob.clone();
        self.write(move |c| {
            let changed = c
                .prepare_cached(
                    "UPDATE blobs SET committed = ?3
                     WHERE blob_id = ?1 AND committed = ?2 AND complete = 0 AND ?3 >= ?2 AND ?3 <= size",
                )?
                .execute((blob.as_str(), sql_u64(from)?, sql_u64(to)?))?;
            Ok(changed == 1)
        })
        .await
    }

    async fn complete_blob(&self, blob: &BlobId, now_ms: u64, expires_ms: u64) -> StoreResult<bool> {
        let blob = blob.clone();
        self.write(move |c| {
            let state: Option<(i64, bool)> = c
                .prepare_cached("SELECT committed = size, complete FROM blobs WHERE blob_id = ?1")?
                .query_row([blob.as_str()], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? == 1)))
                .optional()?;
            match state {
                None | Some((0, false)) => Ok(false),
                Some((_, true)) => Ok(true),
                Some((_, false)) => {
                    c.prepare_cached(
                        "UPDATE blobs SET complete = 1, completed_ts = ?2, expires_ts = ?3 WHERE blob_id = ?1",
                    )?
                    .execute((blob.as_str(), sql_u64(now_ms)?, sql_u64(expires_ms)?))?;
                    Ok(true)
                }
            }
        })
        .await
    }

    async fn delete_blob(&self, blob: &BlobId) -> StoreResult<bool> {
        let blob = blob.clone();
        self.write(move |c| Ok(c.prepare_cached("DELETE FROM blobs WHERE blob_id = ?1")?.execute([blob.as_str()])? > 0))
            .await
    }

    async fn expired_blobs(&self, now_ms: u64, limit: u32) -> StoreResult<Vec<BlobId>> {
        self.read(move |c| {
            let mut stmt =
                c.prepare_cached("SELECT blob_id FROM blobs WHERE expires_ts <= ?1 ORDER BY expires_ts LIMIT ?2")?;
            let ids = stmt.query_map((sql_bound(now_ms), i64::from(limit)), |r| id_col(r, 0))?;
            Ok(ids.collect::<rusqlite::Result<Vec<BlobId>>>()?)
        })
        .await
    }
}
