-- Rate limits the nodes share (see `crate::limits`): one row per bucket, keyed by the SHA-256 of
-- the limit's name and what it counts (a user id, a client address, a device), so the table holds
-- no address in the clear. `full_ms` is when the bucket is full again (GCRA's theoretical arrival
-- time, ms since the epoch on the database's clock); a row whose time has passed is the same as no
-- row, and housekeeping deletes it.
--
-- UNLOGGED: counts are not written to the WAL nor replicated, and a database crash empties the
-- table. They are the nodes' working state, not data: `sotto-server migrate` does not copy them,
-- and a crash forgets at most a few minutes of counting.
CREATE UNLOGGED TABLE rate_limits (
    bucket  BYTEA  NOT NULL PRIMARY KEY CHECK (length(bucket) = 32),
    full_ms BIGINT NOT NULL
);
CREATE INDEX rate_limits_by_time ON rate_limits (full_ms);
