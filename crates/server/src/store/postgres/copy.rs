//! Moving an installation from SQLite to PostgreSQL (`sotto-server migrate`): every table of the
//! PostgreSQL schema is copied from the SQLite database, in one transaction, with binary COPY,
//! then checked — on both sides, each table's row count and an order-independent checksum of
//! its rows (the sum of each row's SHA-256, mod 2^64, over the values as PostgreSQL types them)
//! must agree, or nothing is committed. A target that holds anything is refused untouched.
//!
//! The source is read in one read transaction (one snapshot); stop the server first, or what it
//! writes afterwards is not copied. Blob bytes stay where they are (the data directory's
//! `blobs/`, or the S3 bucket): only their index moves.

use std::path::Path;

use futures_util::{StreamExt as _, pin_mut};
use rusqlite::types::ValueRef;
use sha2::{Digest as _, Sha256};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

use super::{PostgresStore, execute, query};
use crate::store::{StoreError, StoreResult};

/// Tables that exist only on PostgreSQL, filled from the copied ones afterwards.
const DERIVED: &[(&str, &str)] =
    &[("blob_uploaders", "INSERT INTO blob_uploaders (uploader) SELECT DISTINCT uploader FROM blobs")];

/// What one table's copy found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CopiedTable {
    pub table: String,
    pub rows: u64,
    /// The rows' checksum, the same on both sides (hex).
    pub checksum: String,
}

static NULL_INT8: Option<i64> = None;
static NULL_INT4: Option<i32> = None;
static NULL_BOOL: Option<bool> = None;
static NULL_TEXT: Option<String> = None;
static NULL_BYTES: Option<Vec<u8>> = None;

/// A column's value as PostgreSQL types it.
#[derive(Debug)]
enum Value {
    /// NULL, of the column's type (binary COPY checks it).
    Null(Type),
    Int8(i64),
    Int4(i32),
    Bool(bool),
    Text(String),
    Bytes(Vec<u8>),
}

impl Value {
    fn as_sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Value::Null(t) if *t == Type::INT8 => &NULL_INT8,
            Value::Null(t) if *t == Type::INT4 => &NULL_INT4,
            Value::Null(t) if *t == Type::BOOL => &NULL_BOOL,
            Value::Null(t) if *t == Type::BYTEA => &NULL_BYTES,
            Value::Null(_) => &NULL_TEXT,
            Value::Int8(v) => v,
            Value::Int4(v) => v,
            Value::Bool(v) => v,
            Value::Text(v) => v,
            Value::Bytes(v) => v,
        }
    }

    /// Fed to a row's hash: a tag, then the value (lengths first, so no two rows collide by
    /// shifting bytes between columns).
    fn hash_into(&self, h: &mut Sha256) {
        match self {
            Value::Null(_) => h.update([0u8]),
            Value::Int8(v) => {
                h.update([1u8]);
                h.update(v.to_be_bytes());
            }
            Value::Int4(v) => {
                h.update([1u8]);
                h.update(i64::from(*v).to_be_bytes());
            }
            Value::Bool(v) => h.update([2u8, u8::from(*v)]),
            Value::Text(v) => {
                h.update([3u8]);
                h.update((v.len() as u64).to_be_bytes());
                h.update(v.as_bytes());
            }
            Value::Bytes(v) => {
                h.update([4u8]);
                h.update((v.len() as u64).to_be_bytes());
                h.update(v);
            }
        }
    }
}

/// A table's count and checksum, summed row by row.
#[derive(Default)]
struct Tally {
    rows: u64,
    sum: u64,
}

impl Tally {
    fn add(&mut self, row: &[Value]) {
        let mut h = Sha256::new();
        for value in row {
            value.hash_into(&mut h);
        }
        let digest: [u8; 32] = h.finalize().into();
        let [a, b, c, d, e, f, g, i, ..] = digest;
        self.rows += 1;
        self.sum = self.sum.wrapping_add(u64::from_be_bytes([a, b, c, d, e, f, g, i]));
    }
}

/// A column of the target table: its name and PostgreSQL type.
struct Column {
    name: String,
    ty: Type,
}

impl PostgresStore {
    /// Copy everything from the SQLite database at `sqlite` into this (empty) database, check it
    /// and commit; or change nothing. Returns each table's rows and checksum.
    pub async fn copy_from_sqlite(&self, sqlite: &Path) -> StoreResult<Vec<CopiedTable>> {
        // Bring the source to this binary's schema first (as the server would at start).
        drop(crate::store::sqlite::SqliteStore::open(sqlite)?);
        let source = rusqlite::Connection::open_with_flags(sqlite, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        source.execute_batch("BEGIN")?;
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let tables = target_tables(&tx).await?;
        for table in &tables {
            let rows: i64 = super::query_one(&tx, &format!("SELECT count(*) FROM {table}"), &[]).await?.try_get(0)?;
            if rows > 0 {
                return Err(StoreError::Database(format!(
                    "the target database is not empty ({table} has {rows} rows); migrate into a new, empty one"
                )));
            }
        }
        let mut copied = Vec::new();
        for table in tables.iter().filter(|t| !DERIVED.iter().any(|(d, _)| d == t)) {
            let columns = columns_of(&tx, table).await?;
            let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
            let types: Vec<Type> = columns.iter().map(|c| c.ty.clone()).collect();
            // Read from SQLite, convert, write with binary COPY.
            let mut tally = Tally::default();
            let sink = tx.copy_in(&format!("COPY {table} ({}) FROM STDIN BINARY", names.join(", "))).await?;
            let writer = BinaryCopyInWriter::new(sink, &types);
            pin_mut!(writer);
            {
                let mut stmt = source.prepare(&format!("SELECT {} FROM {table}", names.join(", "))).map_err(|e| {
                    StoreError::Database(format!("the SQLite database has no {table} as expected: {e}"))
                })?;
                let mut rows = stmt.query([])?;
                while let Some(row) = rows.next()? {
                    let values = columns
                        .iter()
                        .enumerate()
                        .map(|(i, c)| from_sqlite(row.get_ref(i)?, c, table))
                        .collect::<StoreResult<Vec<Value>>>()?;
                    tally.add(&values);
                    let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(Value::as_sql).collect();
                    writer.as_mut().write(&params).await?;
                }
            }
            writer.finish().await?;
            // Read back from PostgreSQL and compare.
            let back = tally_postgres(&tx, table, &columns).await?;
            if (back.rows, back.sum) != (tally.rows, tally.sum) {
                return Err(StoreError::Database(format!(
                    "{table}: {} rows read from SQLite, {} in PostgreSQL, checksums {:016x} and {:016x}; nothing was \
                     committed",
                    tally.rows, back.rows, tally.sum, back.sum
                )));
            }
            copied.push(CopiedTable {
                table: table.clone(),
                rows: tally.rows,
                checksum: format!("{:016x}", tally.sum),
            });
        }
        for (_, fill) in DERIVED {
            execute(&tx, fill, &[]).await?;
        }
        // Identity columns go on after the highest id copied.
        for (table, column) in identity_columns(&tx).await? {
            execute(
                &tx,
                &format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', '{column}'), coalesce(max({column}), 0) + 1, false) \
                     FROM {table}"
                ),
                &[],
            )
            .await?;
        }
        tx.commit().await?;
        source.execute_batch("COMMIT")?;
        Ok(copied)
    }
}

/// The tables of the Sotto schema, in an order that satisfies foreign keys (referenced first).
/// Unlogged tables (the rate limits) are the running nodes' working state, not data: not copied.
async fn target_tables(tx: &deadpool_postgres::Transaction<'_>) -> StoreResult<Vec<String>> {
    let rows = query(
        tx,
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.relpersistence = 'p'
           AND c.relname <> 'sotto_schema'
         ORDER BY c.oid",
        &[],
    )
    .await?;
    // Creation order: the migrations create a table after those it references.
    Ok(rows.iter().map(|r| r.try_get(0)).collect::<Result<_, _>>()?)
}

async fn columns_of(tx: &deadpool_postgres::Transaction<'_>, table: &str) -> StoreResult<Vec<Column>> {
    let rows = query(
        tx,
        "SELECT a.attname::text, a.atttypid FROM pg_attribute a
         WHERE a.attrelid = $1::text::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        &[&table],
    )
    .await?;
    rows.iter()
        .map(|r| {
            let name: String = r.try_get(0)?;
            let oid: u32 = r.try_get(1)?;
            let ty = Type::from_oid(oid)
                .ok_or_else(|| StoreError::Corrupt(format!("{table}.{name} has a type the copy does not know")))?;
            Ok(Column { name, ty })
        })
        .collect()
}

async fn identity_columns(tx: &deadpool_postgres::Transaction<'_>) -> StoreResult<Vec<(String, String)>> {
    let rows = query(
        tx,
        "SELECT table_name::text, column_name::text FROM information_schema.columns
         WHERE table_schema = current_schema() AND is_identity = 'YES'",
        &[],
    )
    .await?;
    rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
}

/// A SQLite value as `column`'s PostgreSQL type.
fn from_sqlite(value: ValueRef<'_>, column: &Column, table: &str) -> StoreResult<Value> {
    let wrong = || {
        StoreError::Corrupt(format!(
            "{table}.{} holds a {} where {} was expected",
            column.name,
            value.data_type(),
            column.ty
        ))
    };
    Ok(match (value, &column.ty) {
        (ValueRef::Null, t) => Value::Null(t.clone()),
        (ValueRef::Integer(v), t) if *t == Type::INT8 => Value::Int8(v),
        (ValueRef::Integer(v), t) if *t == Type::INT4 => Value::Int4(i32::try_from(v).map_err(|_| wrong())?),
        (ValueRef::Integer(v), t) if *t == Type::BOOL => Value::Bool(v != 0),
        (ValueRef::Text(v), t) if *t == Type::TEXT || *t == Type::VARCHAR => {
            Value::Text(String::from_utf8(v.to_vec()).map_err(|_| wrong())?)
        }
        (ValueRef::Blob(v), t) if *t == Type::BYTEA => Value::Bytes(v.to_vec()),
        _ => return Err(wrong()),
    })
}

/// The count and checksum of `table` as PostgreSQL holds it now (in this transaction).
async fn tally_postgres(
    tx: &deadpool_postgres::Transaction<'_>,
    table: &str,
    columns: &[Column],
) -> StoreResult<Tally> {
    let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    let statement = tx.prepare(&format!("SELECT {} FROM {table}", names.join(", "))).await?;
    let rows = tx.query_raw(&statement, std::iter::empty::<i64>()).await?;
    pin_mut!(rows);
    let mut tally = Tally::default();
    while let Some(row) = rows.next().await {
        let row = row?;
        let values = columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let null = || Value::Null(c.ty.clone());
                Ok(match c.ty.clone() {
                    t if t == Type::INT8 => row.try_get::<_, Option<i64>>(i)?.map_or_else(null, Value::Int8),
                    t if t == Type::INT4 => row.try_get::<_, Option<i32>>(i)?.map_or_else(null, Value::Int4),
                    t if t == Type::BOOL => row.try_get::<_, Option<bool>>(i)?.map_or_else(null, Value::Bool),
                    t if t == Type::BYTEA => row.try_get::<_, Option<Vec<u8>>>(i)?.map_or_else(null, Value::Bytes),
                    _ => row.try_get::<_, Option<String>>(i)?.map_or_else(null, Value::Text),
                })
            })
            .collect::<StoreResult<Vec<Value>>>()?;
        tally.add(&values);
    }
    Ok(tally)
}
