//! People's profiles as this device knows them: each user's profile key with the version it
//! came with, and the name and picture last read from the server (see
//! [`crate::client::profiles`]).
//!
//! Invariants: a key is replaced only by one given with a higher version, or the same version
//! and a larger key, so every device that sees the same keys settles on the same one; a card is
//! stored only if it is not older than the one held (no rollback).

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::Db;
use crate::{ConversationId, Result};

/// Reads of a profile that may fail in a row before it is left until its user gives a new key.
pub(crate) const MAX_PROFILE_ATTEMPTS: i64 = 5;

/// What is known of someone's profile (this user's own included).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ContactProfile {
    pub user_id: String,
    /// The name they chose, if they set one (show the user id otherwise).
    pub name: Option<String>,
    /// Whether they have a picture (read it with `avatar`).
    pub avatar: bool,
    /// Changes whenever the name or picture does (a picture shown may be cached by it).
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub version: u64,
}

// Debug without the name (something a person wrote): never in logs.
impl std::fmt::Debug for ContactProfile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContactProfile")
            .field("user_id", &self.user_id)
            .field("name", &self.name.is_some())
            .field("avatar", &self.avatar)
            .field("version", &self.version)
            .finish()
    }
}

/// A profile key held for a user, and the version it came with.
pub struct HeldKey {
    pub key: zeroize::Zeroizing<String>,
    pub version: u64,
}

impl Db<'_> {
    /// The profile key held for `user`.
    pub fn profile_key(&self, user: &str) -> Result<Option<HeldKey>> {
        Ok(self
            .conn()
            .prepare_cached("SELECT key, key_version FROM profiles WHERE user_id = ?1")?
            .query_row([user], |r| Ok(HeldKey { key: zeroize::Zeroizing::new(r.get(0)?), version: u64_col(r, 1)? }))
            .optional()?)
    }

    /// Take `key` for `user` if it is newer than the one held (see the module's invariants).
    /// Returns whether it was taken.
    pub fn offer_profile_key(&self, user: &str, key: &str, version: u64) -> Result<bool> {
        if let Some(held) = self.profile_key(user)?
            && (held.version, held.key.as_str()) >= (version, key)
        {
            return Ok(false);
        }
        self.conn()
            .prepare_cached(
                "INSERT INTO profiles (user_id, key, key_version) VALUES (?1, ?2, ?3)
                 ON CONFLICT (user_id) DO UPDATE SET key = excluded.key, key_version = excluded.key_version,
                    attempts = 0",
            )?
            .execute(params![user, key, sql_u64(version)])?;
        Ok(true)
    }

    /// Store `user`'s card read from the server (or written here), unless an equal or newer one
    /// is held. Returns whether it was stored.
    pub fn store_profile_card(
        &self,
        user: &str,
        version: u64,
        name: Option<&str>,
        avatar: Option<&[u8]>,
    ) -> Result<bool> {
        let held: Option<u64> = self
            .conn()
            .prepare_cached("SELECT card_version FROM profiles WHERE user_id = ?1")?
            .query_row([user], |r| u64_col(r, 0))
            .optional()?;
        match held {
            None => return Ok(false),
            Some(held) if held >= version && held > 0 => {
                self.settle_profile_read(user)?;
                return Ok(false);
            }
            Some(_) => {}
        }
        self.conn()
            .prepare_cached(
                "UPDATE profiles SET card_version = ?2, name = ?3, avatar = ?4, attempts = 0 WHERE user_id = ?1",
            )?
            .execute(params![user, sql_u64(version), name, avatar])?;
        self.settle_profile_read(user)?;
        Ok(true)
    }

    /// A read of `user`'s profile is done for their current key (a card older than the key's
    /// version counts as a failed read: the server may not have the new one yet).
    fn settle_profile_read(&self, user: &str) -> Result<()> {
        self.conn()
            .prepare_cached(
                "UPDATE profiles SET attempts = CASE WHEN card_version >= key_version THEN 0 ELSE attempts + 1 END
                 WHERE user_id = ?1",
            )?
            .execute([user])?;
        Ok(())
    }

    /// The server has no profile of `user` for us: nothing to read until a newer key.
    pub fn no_profile_card(&self, user: &str) -> Result<()> {
        self.conn()
            .prepare_cached("UPDATE profiles SET card_version = key_version, attempts = 0 WHERE user_id = ?1")?
            .execute([user])?;
        Ok(())
    }

    /// A read of `user`'s profile failed (the network, or a card that does not open).
    pub fn failed_profile_read(&self, user: &str) -> Result<()> {
        self.conn()
            .prepare_cached("UPDATE profiles SET attempts = attempts + 1 WHERE user_id = ?1")?
            .execute([user])?;
        Ok(())
    }

    /// Every profile key held, by user.
    pub fn profile_keys(&self) -> Result<Vec<(String, HeldKey)>> {
        let mut stmt = self.conn().prepare_cached("SELECT user_id, key, key_version FROM profiles ORDER BY user_id")?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get(0)?, HeldKey { key: zeroize::Zeroizing::new(r.get(1)?), version: u64_col(r, 2)? }))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Users whose profile is to be read again (a key newer than the card), with their key.
    pub fn profiles_to_read(&self) -> Result<Vec<(String, HeldKey)>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT user_id, key, key_version FROM profiles WHERE card_version < key_version AND attempts < ?1",
        )?;
        let rows = stmt.query_map([MAX_PROFILE_ATTEMPTS], |r| {
            Ok((r.get(0)?, HeldKey { key: zeroize::Zeroizing::new(r.get(1)?), version: u64_col(r, 2)? }))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// What is known of `user`'s profile.
    pub fn contact_profile(&self, user: &str) -> Result<Option<ContactProfile>> {
        Ok(self
            .conn()
            .prepare_cached("SELECT user_id, name, avatar IS NOT NULL, card_version FROM profiles WHERE user_id = ?1")?
            .query_row([user], to_profile)
            .optional()?)
    }

    /// Every profile with a name or a picture.
    pub fn contact_profiles(&self) -> Result<Vec<ContactProfile>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT user_id, name, avatar IS NOT NULL, card_version FROM profiles
             WHERE name IS NOT NULL OR avatar IS NOT NULL ORDER BY user_id",
        )?;
        let rows = stmt.query_map([], to_profile)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// `user`'s picture (a JPEG).
    pub fn avatar(&self, user: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .conn()
            .prepare_cached("SELECT avatar FROM profiles WHERE user_id = ?1")?
            .query_row([user], |r| r.get(0))
            .optional()?
            .flatten())
    }

    /// The version of this user's profile key last given in `conversation_id`.
    pub fn profile_shared(&self, conversation_id: &ConversationId) -> Result<Option<u64>> {
        Ok(self
            .conn()
            .prepare_cached("SELECT version FROM profile_shares WHERE conversation_id = ?1")?
            .query_row([conversation_id.to_string()], |r| u64_col(r, 0))
            .optional()?)
    }

    pub fn set_profile_shared(&self, conversation_id: &ConversationId, version: u64) -> Result<()> {
        self.conn()
            .prepare_cached(
                "INSERT INTO profile_shares (conversation_id, version) VALUES (?1, ?2)
                 ON CONFLICT (conversation_id) DO UPDATE SET version = excluded.version",
            )?
            .execute(params![conversation_id.to_string(), sql_u64(version)])?;
        Ok(())
    }

    /// The key is to be given again in `conversation_id` (someone new is in it).
    pub fn forget_profile_shared(&self, conversation_id: &ConversationId) -> Result<()> {
        self.conn()
            .prepare_cached("DELETE FROM profile_shares WHERE conversation_id = ?1")?
            .execute([conversation_id.to_string()])?;
        Ok(())
    }
}

fn to_profile(r: &rusqlite::Row<'_>) -> rusqlite::Result<ContactProfile> {
    Ok(ContactProfile { user_id: r.get(0)?, name: r.get(1)?, avatar: r.get(2)?, version: u64_col(r, 3)? })
}

/// Versions are milliseconds since the epoch; stored as SQLite integers.
fn sql_u64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn u64_col(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<u64> {
    Ok(u64::try_from(r.get::<_, i64>(i)?).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profiles_debug_shows_no_name() {
        let p =
            ContactProfile { user_id: "alice".into(), name: Some("Alice Liddell".into()), avatar: true, version: 3 };
        let shown = format!("{p:?}");
        assert!(!shown.contains("Liddell") && shown.contains("alice"), "{shown}");
    }
}
