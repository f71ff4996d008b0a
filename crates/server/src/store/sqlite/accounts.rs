//! Accounts: a user id and its password hash.

use async_trait::async_trait;
use rusqlite::OptionalExtension;
use sotto_proto::UserId;

use super::{SqliteStore, dedup, sql_u64};
use crate::store::{AccountStore, StoreError, StoreResult};

#[async_trait]
impl AccountStore for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        // Through the writer: a stopped writer thread (or a database it cannot use) fails every
        // change, while reads on the pool could still answer.
        self.write(|c| Ok(c.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))?)).await
    }

    async fn create_account(&self, user: &UserId, password_hash: &str, now_ms: u64) -> StoreResult<()> {
        let (user, hash, now) = (user.clone(), password_hash.to_owned(), sql_u64(now_ms)?);
        self.write(move |c| {
            let inserted = c
                .prepare_cached(
                    "INSERT INTO accounts (user_id, password_hash, created_ts) VALUES (?1, ?2, ?3)
                     ON CONFLICT (user_id) DO NOTHING",
                )?
                .execute((user.as_str(), hash.as_str(), now))?;
            if inserted == 0 { Err(StoreError::AlreadyExists) } else { Ok(()) }
        })
        .await
    }

    async fn password_hash(&self, user: &UserId) -> StoreResult<Option<String>> {
        let user = user.clone();
        self.read(move |c| {
            Ok(c.prepare_cached("SELECT password_hash FROM accounts WHERE user_id = ?1")?
                .query_row([user.as_str()], |r| r.get(0))
                .optional()?)
        })
        .await
    }

    async fn replace_password_hash(&self, user: &UserId, expected: &str, new_hash: &str) -> StoreResult<bool> {
        let (user, expected, new) = (user.clone(), expected.to_owned(), new_hash.to_owned());
        self.write(move |c| {
            let stored: Option<String> = c
                .prepare_cached("SELECT password_hash FROM accounts WHERE user_id = ?1")?
                .query_row([user.as_str()], |r| r.get(0))
                .optional()?;
            match stored {
                None => Err(StoreError::NotFound),
                Some(current) if current != expected => Ok(false),
                Some(_) => {
                    c.prepare_cached("UPDATE accounts SET password_hash = ?2 WHERE user_id = ?1")?
                        .execute((user.as_str(), new.as_str()))?;
                    Ok(true)
                }
            }
        })
        .await
    }

    async fn spend_external_token_id(&self, jti: &str, exp: u64, now_secs: u64) -> StoreResult<bool> {
        let (jti, exp, now) = (jti.to_owned(), sql_u64(exp)?, sql_u64(now_secs)?);
        self.write(move |c| {
            c.prepare_cached("DELETE FROM external_token_ids WHERE exp < ?1")?.execute([now])?;
            let inserted = c
                .prepare_cached(
                    "INSERT INTO external_token_ids (jti, exp) VALUES (?1, ?2) ON CONFLICT (jti) DO NOTHING",
                )?
                .execute((jti.as_str(), exp))?;
            Ok(inserted == 1)
        })
        .await
    }

    async fn existing_users(&self, users: &[UserId]) -> StoreResult<Vec<UserId>> {
        let users = dedup(users);
        self.read(move |c| {
            let mut stmt = c.prepare_cached("SELECT 1 FROM accounts WHERE user_id = ?1")?;
            let mut found = Vec::with_capacity(users.len());
            for user in users {
                if stmt.exists([user.as_str()])? {
                    found.push(user);
                }
            }
            Ok(found)
        })
        .await
    }
}
