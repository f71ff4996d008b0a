//! Accounts: a user id and its password hash.

use async_trait::async_trait;
use sotto_proto::UserId;

use super::{PostgresStore, at, dedup, execute, id_at, query, query_opt, sql_u64};
use crate::store::{AccountStore, StoreError, StoreResult};

#[async_trait]
impl AccountStore for PostgresStore {
    async fn ping(&self) -> StoreResult<()> {
        let client = self.client().await?;
        query_opt(&client, "SELECT 1 FROM sotto_schema LIMIT 1", &[]).await?;
        Ok(())
    }

    async fn create_account(&self, user: &UserId, password_hash: &str, now_ms: u64) -> StoreResult<()> {
        let client = self.client().await?;
        let inserted = execute(
            &client,
            "INSERT INTO accounts (user_id, password_hash, created_ts) VALUES ($1, $2, $3)
             ON CONFLICT (user_id) DO NOTHING",
            &[&user.as_str(), &password_hash, &sql_u64(now_ms)?],
        )
        .await?;
        if inserted == 0 { Err(StoreError::AlreadyExists) } else { Ok(()) }
    }

    async fn password_hash(&self, user: &UserId) -> StoreResult<Option<String>> {
        let client = self.client().await?;
        let row =
            query_opt(&client, "SELECT password_hash FROM accounts WHERE user_id = $1", &[&user.as_str()]).await?;
        row.map(|r| at(&r, 0)).transpose()
    }

    async fn replace_password_hash(&self, user: &UserId, expected: &str, new_hash: &str) -> StoreResult<bool> {
        // A compare-and-set in one statement: a concurrent change waits for the row's lock and
        // then compares with the hash the other one stored.
        let client = self.client().await?;
        let changed = execute(
            &client,
            "UPDATE accounts SET password_hash = $3 WHERE user_id = $1 AND password_hash = $2",
            &[&user.as_str(), &expected, &new_hash],
        )
        .await?;
        if changed == 1 {
            return Ok(true);
        }
        // Accounts are never deleted: one that is missing now never existed.
        match query_opt(&client, "SELECT 1 FROM accounts WHERE user_id = $1", &[&user.as_str()]).await? {
            Some(_) => Ok(false),
            None => Err(StoreError::NotFound),
        }
    }

    async fn spend_external_token_id(&self, jti: &str, exp: u64, now_secs: u64) -> StoreResult<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        execute(&tx, "DELETE FROM external_token_ids WHERE exp < $1", &[&sql_u64(now_secs)?]).await?;
        let inserted = execute(
            &tx,
            "INSERT INTO external_token_ids (jti, exp) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING",
            &[&jti, &sql_u64(exp)?],
        )
        .await?;
        tx.commit().await?;
        Ok(inserted == 1)
    }

    async fn existing_users(&self, users: &[UserId]) -> StoreResult<Vec<UserId>> {
        let users = dedup(users);
        let users: Vec<&str> = users.iter().map(UserId::as_str).collect();
        let client = self.client().await?;
        let rows = query(&client, "SELECT user_id FROM accounts WHERE user_id = ANY($1)", &[&users]).await?;
        rows.iter().map(|r| id_at(r, 0)).collect()
    }
}
