//! Groups as the server last described them (from API answers and membership events).

use rusqlite::{OptionalExtension, params};
use sotto_proto::{GroupId, GroupInfo, GroupMember, UserId};

use super::{Db, StoreError};
use crate::{Error, Result};

/// A group known to this device.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct LocalGroup {
    pub group_id: GroupId,
    pub name: String,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub version: u64,
    pub members: Vec<GroupMember>,
    /// False once this user left, was removed, or the group was dismissed.
    pub joined: bool,
}

impl LocalGroup {
    pub fn member_ids(&self) -> Vec<UserId> {
        self.members.iter().map(|m| m.user_id.clone()).collect()
    }
}

impl Db<'_> {
    /// Store `info` unless a newer version is already known. Returns whether it was stored.
    pub fn save_group(&self, info: &GroupInfo, me: &UserId) -> Result<bool> {
        let members = serde_json::to_string(&info.members).map_err(Error::encode("a group member list"))?;
        let joined = info.members.iter().any(|m| &m.user_id == me);
        let n = self.conn().execute(
            "INSERT INTO groups (group_id, name, version, members, joined) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (group_id) DO UPDATE SET name = excluded.name, version = excluded.version,
                members = excluded.members, joined = excluded.joined
             WHERE excluded.version >= groups.version",
            params![info.group_id.as_str(), info.name, info.version as i64, members, i64::from(joined)],
        )?;
        Ok(n > 0)
    }

    /// The groups this user is in that `user` is a member of too.
    pub fn joined_groups_with(&self, user: &UserId) -> Result<Vec<GroupId>> {
        let mut stmt = self.conn().prepare_cached("SELECT group_id, members FROM groups WHERE joined = 1")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut shared = Vec::new();
        for row in rows {
            let (group_id, members) = row?;
            let members: Vec<GroupMember> =
                serde_json::from_str(&members).map_err(StoreError::json("groups", "members"))?;
            if members.iter().any(|m| &m.user_id == user) {
                shared.push(GroupId::parse(group_id).map_err(StoreError::id("groups", "group_id"))?);
            }
        }
        Ok(shared)
    }

    pub fn group(&self, group_id: &GroupId) -> Result<Option<LocalGroup>> {
        let row = self
            .conn()
            .prepare_cached("SELECT name, version, members, joined FROM groups WHERE group_id = ?1")?
            .query_row([group_id.as_str()], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?, r.get::<_, i64>(3)?))
            })
            .optional()?;
        row.map(|(name, version, members, joined)| {
            Ok(LocalGroup {
                group_id: group_id.clone(),
                name,
                version: u64::try_from(version).unwrap_or(0),
                members: serde_json::from_str(&members).map_err(StoreError::json("groups", "members"))?,
                joined: joined != 0,
            })
        })
        .transpose()
    }
}
