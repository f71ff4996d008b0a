//! Groups and their members. Every change is one write job that also delivers the change's
//! event, so members see an event exactly when the change is stored, and records the membership
//! periods that decide which part of the group's history each user may read.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension};
use sotto_proto::{
    DeviceAddress, EntryBody, GroupHistoryMessage, GroupId, GroupInfo, GroupMember, Role, SignedGroupChange, UserId,
};

use super::{BadValue, SqliteStore, bad_column, id_col, inbox, opt_id_col, sql_bound, sql_u64, u64_col};
use crate::store::{Delivery, GroupStore, LogEntry, StoreError, StoreResult};

#[async_trait]
impl GroupStore for SqliteStore {
    async fn create_group(&self, group: &GroupInfo, entry: &LogEntry, event: Delivery) -> StoreResult<()> {
        let (group, entry) = (group.clone(), entry.clone());
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
            append_log(c, &group.group_id, &entry)?;
            let users: Vec<&UserId> = group.members.iter().map(|m| &m.user_id).collect();
            open_periods(c, &group.group_id, &users)?;
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
                .prepare_cached(
                    "SELECT group_id FROM group_members WHERE user_id = ?1
                     UNION SELECT group_id FROM group_invites WHERE user_id = ?1 ORDER BY group_id",
                )?
                .query_map([user.as_str()], |r| id_col(r, 0))?
                .collect::<Result<_, _>>()?;
            let mut groups = Vec::with_capacity(ids.len());
            for id in ids {
                // Cannot be missing: the membership or invitation row references it, in the same
                // snapshot.
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

    async fn update_group(
        &self,
        expected_version: u64,
        new: &GroupInfo,
        entry: &LogEntry,
        event: Delivery,
    ) -> StoreResult<()> {
        let (new, entry) = (new.clone(), entry.clone());
        self.write(move |c| {
            check_version(c, &new.group_id, expected_version)?;
            let before: Vec<UserId> = c
                .prepare_cached("SELECT user_id FROM group_members WHERE group_id = ?1")?
                .query_map([new.group_id.as_str()], |r| id_col(r, 0))?
                .collect::<Result<_, _>>()?;
            let joined: Vec<&UserId> = new.members.iter().map(|m| &m.user_id).filter(|u| !before.contains(u)).collect();
            let gone: Vec<&UserId> = before.iter().filter(|u| !new.members.iter().any(|m| m.user_id == **u)).collect();
            open_periods(c, &new.group_id, &joined)?;
            close_periods(c, &new.group_id, &gone)?;
            c.prepare_cached("UPDATE groups SET name = ?2, version = ?3 WHERE group_id = ?1")?.execute((
                new.group_id.as_str(),
                new.name.as_str(),
                sql_u64(new.version)?,
            ))?;
            c.prepare_cached("DELETE FROM group_members WHERE group_id = ?1")?.execute([new.group_id.as_str()])?;
            c.prepare_cached("DELETE FROM group_invites WHERE group_id = ?1")?.execute([new.group_id.as_str()])?;
            insert_members(c, &new)?;
            append_log(c, &new.group_id, &entry)?;
            inbox::deliver(c, &event)?;
            Ok(())
        })
        .await
    }

    async fn log_head(&self, group: &GroupId) -> StoreResult<Option<(u64, String)>> {
        let group = group.clone();
        self.read(move |c| {
            Ok(c.prepare_cached("SELECT seq, hash FROM group_log WHERE group_id = ?1 ORDER BY seq DESC LIMIT 1")?
                .query_row([group.as_str()], |r| Ok((u64_col(r, 0)?, r.get::<_, String>(1)?)))
                .optional()?)
        })
        .await
    }

    async fn group_log(&self, group: &GroupId, after: u64, limit: u32) -> StoreResult<Vec<SignedGroupChange>> {
        let group = group.clone();
        self.read(move |c| read_log(c, &group, after, limit)).await
    }

    async fn group_with_log(
        &self,
        group: &GroupId,
        after: u64,
        limit: u32,
    ) -> StoreResult<Option<(GroupInfo, Vec<SignedGroupChange>)>> {
        let group = group.clone();
        self.read(move |c| {
            let tx = c.unchecked_transaction()?;
            let Some(info) = load_group(&tx, &group)? else { return Ok(None) };
            Ok(Some((info, read_log(&tx, &group, after, limit)?)))
        })
        .await
    }

    async fn dismiss_group(&self, group: &GroupId, expected_version: u64, event: Delivery) -> StoreResult<()> {
        let group = group.clone();
        self.write(move |c| {
            check_version(c, &group, expected_version)?;
            // Members, membership periods and history cascade.
            c.prepare_cached("DELETE FROM groups WHERE group_id = ?1")?.execute([group.as_str()])?;
            inbox::deliver(c, &event)?;
            Ok(())
        })
        .await?;
        // The history's bodies are now unreferenced.
        self.garbage.store(true, std::sync::atomic::Ordering::Release);
        Ok(())
    }

    async fn group_history(
        &self,
        group: &GroupId,
        user: &UserId,
        before: u64,
        limit: u32,
    ) -> StoreResult<Vec<GroupHistoryMessage>> {
        let (group, user) = (group.clone(), user.clone());
        self.read(move |c| {
            let tx = c.unchecked_transaction()?;
            // Periods never overlap, so reading them newest first, each from its end backwards,
            // yields messages newest first; a user's few periods bound the work (a late joiner's
            // query never scans the history from before they joined).
            let periods: Vec<(i64, Option<i64>)> = tx
                .prepare_cached(
                    "SELECT from_seq, to_seq FROM group_membership_periods
                     WHERE group_id = ?1 AND user_id = ?2 ORDER BY from_seq DESC",
                )?
                .query_map((group.as_str(), user.as_str()), |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            let mut page = tx.prepare_cached(
                "SELECT h.seq, h.message_id, h.sender_user, h.sender_device, h.server_ts, p.body
                 FROM group_history h JOIN shared_payloads p ON p.id = h.payload_id
                 WHERE h.group_id = ?1 AND h.seq >= ?2 AND h.seq < ?3
                 ORDER BY h.seq DESC LIMIT ?4",
            )?;
            let mut out = Vec::new();
            for (from, to) in periods {
                let remaining = (limit as usize).saturating_sub(out.len());
                let upper = to.unwrap_or(i64::MAX).min(sql_bound(before));
                if remaining == 0 {
                    break;
                }
                if upper <= from {
                    continue;
                }
                let rows = page.query_map((group.as_str(), from, upper, remaining as i64), |r| {
                    let json: String = r.get(5)?;
                    let ciphertext = match serde_json::from_str::<EntryBody>(&json).map_err(|e| bad_column(5, e))? {
                        EntryBody::Group { ciphertext, .. } => ciphertext,
                        _ => return Err(bad_column(5, BadValue("a group history row is not a group message"))),
                    };
                    Ok(GroupHistoryMessage {
                        seq: u64_col(r, 0)?,
                        message_id: id_col(r, 1)?,
                        sender_user: id_col(r, 2)?,
                        sender_device: opt_id_col(r, 3)?,
                        server_ts: u64_col(r, 4)?,
                        ciphertext,
                    })
                })?;
                for row in rows {
                    out.push(row?);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn prune_group_history(&self, before_ms: u64) -> StoreResult<u64> {
        let deleted = self
            .write(move |c| {
                let deleted = c
                    .prepare_cached(
                        "DELETE FROM group_history WHERE (group_id, seq) IN (
                             SELECT group_id, seq FROM group_history WHERE server_ts < ?1 LIMIT ?2)",
                    )?
                    .execute((sql_bound(before_ms), inbox::COLLECT_BATCH))?;
                Ok(deleted as u64)
            })
            .await?;
        if deleted > 0 {
            self.garbage.store(true, std::sync::atomic::Ordering::Release);
        }
        Ok(deleted)
    }
}

/// The group's next history seq: a member who joins now sees messages from it on.
fn next_history_seq(c: &Connection, group: &GroupId) -> StoreResult<i64> {
    c.prepare_cached("SELECT next_seq FROM groups WHERE group_id = ?1")?
        .query_row([group.as_str()], |r| r.get(0))
        .optional()?
        .ok_or(StoreError::NotFound)
}

/// Starts a membership period for each of `users` at the group's next history seq. A period that
/// ended at that very seq (removed and added back with nothing sent in between) simply goes on.
fn open_periods(c: &Connection, group: &GroupId, users: &[&UserId]) -> StoreResult<()> {
    if users.is_empty() {
        return Ok(());
    }
    let from = next_history_seq(c, group)?;
    let mut extend = c.prepare_cached(
        "UPDATE group_membership_periods SET to_seq = NULL WHERE group_id = ?1 AND user_id = ?2 AND to_seq = ?3",
    )?;
    let mut insert = c.prepare_cached(
        "INSERT INTO group_membership_periods (group_id, user_id, from_seq, to_seq) VALUES (?1, ?2, ?3, NULL)
         ON CONFLICT (group_id, user_id, from_seq) DO UPDATE SET to_seq = NULL",
    )?;
    for user in users {
        if extend.execute((group.as_str(), user.as_str(), from))? == 0 {
            insert.execute((group.as_str(), user.as_str(), from))?;
        }
    }
    Ok(())
}

/// Ends the open membership period of each of `users` before the group's next history seq.
fn close_periods(c: &Connection, group: &GroupId, users: &[&UserId]) -> StoreResult<()> {
    if users.is_empty() {
        return Ok(());
    }
    let to = next_history_seq(c, group)?;
    let mut close = c.prepare_cached(
        "UPDATE group_membership_periods SET to_seq = ?3 WHERE group_id = ?1 AND user_id = ?2 AND to_seq IS NULL",
    )?;
    for user in users {
        close.execute((group.as_str(), user.as_str(), to))?;
    }
    Ok(())
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

fn read_log(c: &Connection, group: &GroupId, after: u64, limit: u32) -> StoreResult<Vec<SignedGroupChange>> {
    Ok(c.prepare_cached(
        "SELECT change, signature FROM group_log WHERE group_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
    )?
    .query_map((group.as_str(), sql_bound(after), i64::from(limit)), |r| {
        Ok(SignedGroupChange { change: r.get(0)?, signature: r.get(1)? })
    })?
    .collect::<Result<_, _>>()?)
}

fn append_log(c: &Connection, group: &GroupId, entry: &LogEntry) -> StoreResult<()> {
    c.prepare_cached("INSERT INTO group_log (group_id, seq, hash, change, signature) VALUES (?1, ?2, ?3, ?4, ?5)")?
        .execute((
            group.as_str(),
            sql_u64(entry.seq)?,
            entry.hash.as_str(),
            entry.signed.change.as_str(),
            entry.signed.signature.as_str(),
        ))?;
    Ok(())
}

fn insert_members(c: &Connection, group: &GroupInfo) -> StoreResult<()> {
    let mut insert = c.prepare_cached("INSERT INTO group_members (group_id, user_id, role) VALUES (?1, ?2, ?3)")?;
    for member in &group.members {
        insert.execute((group.group_id.as_str(), member.user_id.as_str(), member.role.as_str()))?;
    }
    let mut invite = c.prepare_cached("INSERT INTO group_invites (group_id, user_id) VALUES (?1, ?2)")?;
    for user in &group.invited {
        invite.execute((group.group_id.as_str(), user.as_str()))?;
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
    let invited = c
        .prepare_cached("SELECT user_id FROM group_invites WHERE group_id = ?1 ORDER BY user_id")?
        .query_map([group.as_str()], |r| id_col(r, 0))?
        .collect::<Result<_, _>>()?;
    Ok(Some(GroupInfo { group_id: group.clone(), name, version, created_ts, members, invited }))
}

fn role_col(r: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<Role> {
    let s: String = r.get(idx)?;
    Role::parse(&s).ok_or_else(|| bad_column(idx, BadValue("unknown group role")))
}
