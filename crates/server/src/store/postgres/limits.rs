//! The rate limits the nodes share ([`crate::limits::LimitStore`]), in the `rate_limits` table.

use async_trait::async_trait;

use super::{PostgresStore, execute, query, sql_u64, u64_at};
use crate::limits::{Bucket, LimitStore};
use crate::store::{StoreError, StoreResult};

/// Buckets deleted per statement when forgetting full ones.
const FORGET_BATCH: i64 = 10_000;

#[async_trait]
impl LimitStore for PostgresStore {
    async fn update_buckets(
        &self,
        buckets: &[Bucket],
        decide: &mut (dyn for<'a> FnMut(u64, &'a mut [u64]) + Send),
    ) -> StoreResult<()> {
        if buckets.is_empty() {
            return Ok(());
        }
        // Rows are locked in key order: two checks that share buckets wait for each other but
        // never deadlock.
        let mut keys: Vec<&[u8]> = buckets.iter().map(|b| &b.0[..]).collect();
        keys.sort_unstable();
        keys.dedup();
        if keys.len() != buckets.len() {
            return Err(StoreError::Database("a rate limit check named one bucket twice".into()));
        }
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // Creates the missing rows and locks every one (the no-op update takes the row's lock,
        // held to the commit), returning when each is full again and the database's time.
        let rows = query(
            &tx,
            "INSERT INTO rate_limits (bucket, full_ms)
             SELECT b, 0 FROM unnest($1::bytea[]) WITH ORDINALITY AS u(b, n) ORDER BY n
             ON CONFLICT (bucket) DO UPDATE SET full_ms = rate_limits.full_ms
             RETURNING bucket, full_ms, (extract(epoch FROM clock_timestamp()) * 1000)::bigint",
            &[&keys],
        )
        .await?;
        let mut now = 0;
        let mut full = vec![0u64; buckets.len()];
        for row in &rows {
            let key: &[u8] = row.try_get(0)?;
            let at = buckets
                .iter()
                .position(|b| b.0[..] == *key)
                .ok_or_else(|| StoreError::Corrupt("rate_limits returned a bucket not asked for".into()))?;
            if let Some(slot) = full.get_mut(at) {
                *slot = u64_at(row, 1)?;
            }
            now = now.max(u64_at(row, 2)?);
        }
        if rows.len() != buckets.len() {
            return Err(StoreError::Corrupt("rate_limits did not return every bucket".into()));
        }
        let before = full.clone();
        decide(now, &mut full);
        let mut changed: Vec<&[u8]> = Vec::new();
        let mut times: Vec<i64> = Vec::new();
        for ((bucket, old), new) in buckets.iter().zip(&before).zip(&full) {
            if old != new {
                changed.push(&bucket.0[..]);
                times.push(sql_u64(*new)?);
            }
        }
        if !changed.is_empty() {
            execute(
                &tx,
                "UPDATE rate_limits SET full_ms = u.f FROM unnest($1::bytea[], $2::bigint[]) AS u(b, f)
                 WHERE bucket = u.b",
                &[&changed, &times],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn forget_full_buckets(&self) -> StoreResult<u64> {
        let client = self.client().await?;
        let mut forgotten = 0;
        loop {
            // SKIP LOCKED: a bucket being counted right now is left for next time.
            let n = execute(
                &client,
                "DELETE FROM rate_limits WHERE bucket IN (
                     SELECT bucket FROM rate_limits
                     WHERE full_ms < (extract(epoch FROM clock_timestamp()) * 1000)::bigint
                     LIMIT $1 FOR UPDATE SKIP LOCKED)",
                &[&FORGET_BATCH],
            )
            .await?;
            forgotten += n;
            if n < FORGET_BATCH.unsigned_abs() {
                return Ok(forgotten);
            }
        }
    }
}
