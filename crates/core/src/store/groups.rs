//! Groups as this device verified them from their signed changes (see `client::group_log`).

use rusqlite::{OptionalExtension, params};
use sotto_proto::{GroupId, GroupInfo, GroupMember, SignedGroupChange, UserId};

use zeroize::Zeroizing;

use super::{Db, StoreError};
use crate::{Error, Result};

/// A group known to this device.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct LocalGroup {
    pub group_id: GroupId,
    pub name: String,
    /// The number of the last change applied.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub version: u64,
    pub members: Vec<GroupMember>,
    /// Users invited and not yet joined or declined (this user, for an invitation to answer).
    pub invited: Vec<UserId>,
    /// False once this user left, was removed, or the group was dismissed; false too while this
    /// user is only invited.
    pub joined: bool,
    /// The members follow changes that members signed and this device checked. False only for
    /// a group from before changes were signed, until one of its members signs its member list.
    pub signed: bool,
}

impl LocalGroup {
    pub fn member_ids(&self) -> Vec<UserId> {
        self.members.iter().map(|m| m.user_id.clone()).collect()
    }

    /// Whether `user` is invited (and not a member yet).
    pub fn is_invited(&self, user: &UserId) -> bool {
        self.invited.contains(user)
    }
}

/// A verified change to store with the group after it.
pub struct VerifiedChange<'a> {
    pub group_id: &'a GroupId,
    pub seq: u64,
    pub hash: &'a str,
    pub signed: &'a SignedGroupChange,
    pub name: &'a str,
    /// The name as sealed in the change, when the change sets it.
    pub sealed_name: Option<&'a str>,
    pub members: &'a [GroupMember],
    pub invited: &'a [UserId],
}

impl Db<'_> {
    /// Store the server's description of a group this device has no verified changes for (a
    /// group from before changes were signed), unless a newer version is known. Never touches a
    /// group with verified changes. Returns whether it was stored.
    pub fn save_unsigned_group(&self, info: &GroupInfo, me: &UserId) -> Result<bool> {
        let members = serde_json::to_string(&info.members).map_err(Error::encode("a group member list"))?;
        let joined = info.members.iter().any(|m| &m.user_id == me);
        let n = self.conn().execute(
            "INSERT INTO groups (group_id, name, version, members, joined) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (group_id) DO UPDATE SET name = excluded.name, version = excluded.version,
                members = excluded.members, joined = excluded.joined
             WHERE excluded.version >= groups.version AND groups.head IS NULL",
            params![info.group_id.as_str(), info.name, info.version as i64, members, i64::from(joined)],
        )?;
        Ok(n > 0)
    }

    /// Append a verified change to the group's log and set the group to the state after it.
    pub fn apply_group_change(&self, change: &VerifiedChange<'_>, me: &UserId) -> Result<()> {
        let members = serde_json::to_string(change.members).map_err(Error::encode("a group member list"))?;
        let invited = serde_json::to_string(change.invited).map_err(Error::encode("a list of invited users"))?;
        let joined = change.members.iter().any(|m| &m.user_id == me);
        // (The caller refuses numbers beyond this.)
        let seq = i64::try_from(change.seq).unwrap_or(i64::MAX);
        self.conn()
            .prepare_cached(
                "INSERT INTO group_log (group_id, seq, hash, change, signature) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                change.group_id.as_str(),
                seq,
                change.hash,
                change.signed.change,
                change.signed.signature
            ])?;
        self.conn()
            .prepare_cached(
                "INSERT INTO groups (group_id, name, version, members, joined, head, sealed_name, invited)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (group_id) DO UPDATE SET name = excluded.name, version = excluded.version,
                    members = excluded.members, joined = excluded.joined, head = excluded.head,
                    sealed_name = coalesce(excluded.sealed_name, groups.sealed_name), invited = excluded.invited",
            )?
            .execute(params![
                change.group_id.as_str(),
                change.name,
                seq,
                members,
                i64::from(joined),
                change.hash,
                change.sealed_name,
                invited
            ])?;
        Ok(())
    }

    /// The group's name as sealed by its creator, if it is sealed.
    pub fn group_sealed_name(&self, group: &GroupId) -> Result<Option<String>> {
        Ok(self
            .conn()
            .prepare_cached("SELECT sealed_name FROM groups WHERE group_id = ?1")?
            .query_row([group.as_str()], |r| r.get::<_, Option<String>>(0))
            .optional()?
            .flatten())
    }

    /// Set the group's shown name (its sealed name, opened).
    pub fn set_group_name(&self, group: &GroupId, name: &str) -> Result<()> {
        self.conn().execute("UPDATE groups SET name = ?2 WHERE group_id = ?1", params![group.as_str(), name])?;
        Ok(())
    }

    /// The key the group's name is sealed with, if this device has it.
    pub fn group_name_key(&self, group: &GroupId) -> Result<Option<Zeroizing<String>>> {
        Ok(self
            .conn()
            .prepare_cached("SELECT key FROM group_name_keys WHERE group_id = ?1")?
            .query_row([group.as_str()], |r| r.get::<_, String>(0))
            .optional()?
            .map(Zeroizing::new))
    }

    pub fn save_group_name_key(&self, group: &GroupId, key: &str) -> Result<()> {
        self.conn().execute(
            "INSERT INTO group_name_keys (group_id, key) VALUES (?1, ?2)
             ON CONFLICT (group_id) DO UPDATE SET key = excluded.key",
            params![group.as_str(), key],
        )?;
        Ok(())
    }

    /// Every group name key this device has (for another device of this user, and backups).
    pub fn group_name_keys(&self) -> Result<Vec<(String, Zeroizing<String>)>> {
        let mut stmt = self.conn().prepare_cached("SELECT group_id, key FROM group_name_keys ORDER BY group_id")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, Zeroizing::new(r.get::<_, String>(1)?))))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The hash of the group's verified change number `seq`, if this device has it.
    pub fn group_change_hash(&self, group: &GroupId, seq: u64) -> Result<Option<String>> {
        let Ok(seq) = i64::try_from(seq) else { return Ok(None) };
        Ok(self
            .conn()
            .prepare_cached("SELECT hash FROM group_log WHERE group_id = ?1 AND seq = ?2")?
            .query_row(params![group.as_str(), seq], |r| r.get(0))
            .optional()?)
    }

    /// The group's last verified change: its number and hash.
    pub fn group_head(&self, group: &GroupId) -> Result<Option<(u64, String)>> {
        let row: Option<(i64, Option<String>)> = self
            .conn()
            .prepare_cached("SELECT version, head FROM groups WHERE group_id = ?1")?
            .query_row([group.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        Ok(row.and_then(|(seq, head)| Some((u64::try_from(seq).unwrap_or(0), head?))))
    }

    /// The last warning shown in the group, and replace it with `warning`. Returns whether it
    /// differs (then it is to be shown).
    pub fn replace_group_warning(&self, group: &GroupId, warning: &str) -> Result<bool> {
        let n = self.conn().execute(
            "UPDATE groups SET warning = ?2 WHERE group_id = ?1 AND warning IS NOT ?2",
            params![group.as_str(), warning],
        )?;
        Ok(n > 0)
    }

    /// Forget the last warning (the group is as it should be again).
    pub fn clear_group_warning(&self, group: &GroupId) -> Result<()> {
        self.conn().execute("UPDATE groups SET warning = NULL WHERE group_id = ?1", [group.as_str()])?;
        Ok(())
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

    /// Every group this device knows.
    pub fn groups(&self) -> Result<Vec<LocalGroup>> {
        let ids: Vec<String> = self
            .conn()
            .prepare_cached("SELECT group_id FROM groups ORDER BY group_id")?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let mut groups = Vec::with_capacity(ids.len());
        for id in ids {
            let id = GroupId::parse(id).map_err(StoreError::id("groups", "group_id"))?;
            groups.extend(self.group(&id)?);
        }
        Ok(groups)
    }

    pub fn group(&self, group_id: &GroupId) -> Result<Option<LocalGroup>> {
        let row = self
            .conn()
            .prepare_cached(
                "SELECT name, version, members, joined, head IS NOT NULL, invited FROM groups WHERE group_id = ?1",
            )?
            .query_row([group_id.as_str()], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, bool>(4)?,
                    r.get::<_, String>(5)?,
                ))
            })
            .optional()?;
        row.map(|(name, version, members, joined, signed, invited)| {
            Ok(LocalGroup {
                group_id: group_id.clone(),
                name,
                version: u64::try_from(version).unwrap_or(0),
                members: serde_json::from_str(&members).map_err(StoreError::json("groups", "members"))?,
                invited: serde_json::from_str(&invited).map_err(StoreError::json("groups", "invited"))?,
                joined: joined != 0,
                signed,
            })
        })
        .transpose()
    }
}
