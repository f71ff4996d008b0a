//! Groups and their members. Every change is one write job that also delivers the change's
//! event, so members see an event exactly when the change is stored.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension};
use sotto_proto::{DeviceAddress, GroupId, GroupInfo, GroupMember, Role, UserId};

use super::{BadValue, SqliteStore, bad_column, id_col, inbox, sql_u64, u64_col};
use crate::store::{Delivery, GroupStore, StoreError, StoreResult};

#[async_trait]
impl GroupStore for SqliteStore {
    async fn create_group(&self, group: &GroupInfo, event: Delivery) -> StoreResult<()> {
        let group = group.clone();
        self.write(move |c| {
            let inserted = c
                .prepare_cached(
                    "INSERT INTO groups (group_id, name, version, created_ts) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (group_id) DO NOTHING",
                )?
                .execute((
                    group.group_id.as_str(),
                    group.name.as_str(),
                    sql_u64(group.version)?,
                    sql_u64(group.created_ts)?,
                ))?;
            if inserted == 0 {
                return Err(StoreError::AlreadyExists);
            }
            insert_members(c, &group)?;
            inbox::deliver(c, &event)?;
            Ok(())
        })
        .await
    }

    async fn group(&self, group: &GroupId) -> StoreResult<Option<GroupInfo>> {
        let group = group.clone();
        self.read(move |c| {
            let tx = c.unchecked_transaction()?;
            load_group(&tx, &group)
        })
        .await
    }

    async fn groups_of(&self, user: &UserId) -> StoreResult<Vec<GroupInfo>> {
        let user = user.clone();
        self.read(move |c| {
            let tx = c.unchecked_transaction()?;
            let ids: Vec<GroupId> = tx
                .prepare_cached("SELECT group_id FROM group_members WHERE user_id = ?1 ORDER BY group_id")?
                .query_map([user.as_str()], |r| id_col(r, 0))?
                .collect::<Result<_, _>>()?;
            let mut groups = Vec::with_capacity(ids.len());
            for id in ids {
                // Cannot be missing: the membership row references it, in the same snapshot.
                if let Some(group) = load_group(&tx, &id)? {
                    groups.push(group);
                }
            }
            Ok(groups)
        })
        .await
    }

    async fn role(&self, group: &GroupId, user: &UserId) -> StoreResult<Option<Role>> {
        let (group, user) = (group.clone(), user.clone());
        self.read(move |c| {
            Ok(c.prepare_cached("SELECT role FROM group_members WHERE group_id = ?1 AND user_id = ?2")?
                .query_row((group.as_str(), user.as_str()), |r| role_col(r, 0))
                .optional()?)
        })
        .await
    }

    async fn member_devices(&self, group: &GroupId) -> StoreResult<Vec<DeviceAddress>> {
        let group = group.clone();
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT d.user_id, d.device_id FROM group_members m JOIN devices d ON d.user_id = m.user_id
                 WHERE m.group_id = ?1 ORDER BY d.user_id, d.device_id",
            )?
            .query_map([group.as_str()], |r| Ok(DeviceAddress { user_id: id_col(r, 0)?, device_id: id_col(r, 1)? }))?
            .collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn update_group(&self, expected_version: u64, new: &GroupInfo, event: Delivery) -> StoreResult<()> {
        let new = new.clone();
        self.write(move |c| {
            check_version(c, &new.group_id, expected_version)?;
            c.prepare_cached("UPDATE groups SET name = ?2, version = ?3 WHERE group_id = ?1")?.execute((
                new.group_id.as_str(),
                new.name.as_str(),
                sql_u64(new.version)?,
            ))?;
            c.prepare_cached("DELETE FROM group_members WHERE group_id = ?1")?.execute([new.group_id.as_str()])?;
            insert_members(c, &new)?;
            inbox::deliver(c, &event)?;
            Ok(())
        })
        .await
    }

    async fn dismiss_group(&self, group: &GroupId, expected_version: u64, event: Delivery) -> StoreResult<()> {
        let group = group.clone();
        self.write(move |c| {
            check_version(c, &group, expected_version)?;
            // Members cascade.
            c.prepare_cached("DELETE FROM groups WHERE group_id = ?1")?.execute([group.as_str()])?;
            inbox::deliver(c, &event)?;
            Ok(())
        })
        .await
    }
}

/// [`StoreError::NotFound`] if the group is gone, [`StoreError::VersionConflict`] if it changed.
fn check_version(c: &Connection, group: &GroupId, expected: u64) -> StoreResult<()> {
    let current = c
        .prepare_cached("SELECT version FROM groups WHERE group_id = ?1")?
        .query_row([group.as_str()], |r| u64_col(r, 0))
        .optional()?
        .ok_or(StoreError::NotFound)?;
    if current == expected { Ok(()) } else { Err(StoreError::VersionConflict { current }) }
}

fn insert_members(c: &Connection, group: &GroupInfo) -> StoreResult<()> {
    let mut insert = c.prepare_cached("INSERT INTO group_members (group_id, user_id, role) VALUES (?1, ?2, ?3)")?;
    for member in &group.members {
        insert.execute((group.group_id.as_str(), member.user_id.as_str(), member.role.as_str()))?;
    }
    Ok(())
}

/// The group with its members sorted by user id. Call inside a transaction.
fn load_group(c: &Connection, group: &GroupId) -> StoreResult<Option<GroupInfo>> {
    let Some((name, version, created_ts)) = c
        .prepare_cached("SELECT name, version, created_ts FROM groups WHERE group_id = ?1")?
        .query_row([group.as_str()], |r| Ok((r.get::<_, String>(0)?, u64_col(r, 1)?, u64_col(r, 2)?)))
        .optional()?
    else {
        return Ok(None);
    };
    let members = c
        .prepare_cached("SELECT user_id, role FROM group_members WHERE group_id = ?1 ORDER BY user_id")?
        .query_map([group.as_str()], |r| Ok(GroupMember { user_id: id_col(r, 0)?, role: role_col(r, 1)? }))?
        .collect::<Result<_, _>>()?;
    Ok(Some(GroupInfo { group_id: group.clone(), name, version, created_ts, members }))
}

fn role_col(r: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<Role> {
    let s: String = r.get(idx)?;
    Role::parse(&s).ok_or_else(|| bad_column(idx, BadValue("unknown group role")))
}
