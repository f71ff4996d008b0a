//! Groups and their members. Every change is one transaction that first locks the group's row
//! (`SELECT … FOR UPDATE`, or the insert of a new one), checks the version under that lock
//! (optimistic concurrency: a change made from a stale version is refused), records the
//! membership periods that decide which part of the history each user may read, and delivers the
//! change's event. A group message takes its history seq under the same row lock, so it is
//! ordered before or after each membership change, never in between.

use std::collections::HashMap;

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use sotto_proto::{
    DeviceAddress, EntryBody, GroupHistoryMessage, GroupId, GroupInfo, GroupMember, Role, SignedGroupChange, UserId,
};
use tokio_postgres::{IsolationLevel, Row};

use super::{PostgresStore, at, execute, id_at, inbox, opt_id_at, query, query_opt, sql_bound, sql_u64, u64_at};
use crate::store::{Delivery, GroupStore, LogEntry, StoreError, StoreResult};

#[async_trait]
impl GroupStore for PostgresStore {
    async fn create_group(&self, group: &GroupInfo, entry: &LogEntry, event: Delivery) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // A concurrent creation of the same id holds the key: this waits, then inserts nothing.
        let inserted = execute(
            &tx,
            "INSERT INTO groups (group_id, name, version, created_ts) VALUES ($1, $2, $3, $4)
             ON CONFLICT (group_id) DO NOTHING",
            &[&group.group_id.as_str(), &group.name, &sql_u64(group.version)?, &sql_u64(group.created_ts)?],
        )
        .await?;
        if inserted == 0 {
            return Err(StoreError::AlreadyExists);
        }
        insert_members(&tx, group).await?;
        append_log(&tx, &group.group_id, entry).await?;
        let users: Vec<&UserId> = group.members.iter().map(|m| &m.user_id).collect();
        open_periods(&tx, &group.group_id, &users).await?;
        inbox::deliver(&tx, &event).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn group(&self, group: &GroupId) -> StoreResult<Option<GroupInfo>> {
        let mut client = self.client().await?;
        let tx =
            client.build_transaction().isolation_level(IsolationLevel::RepeatableRead).read_only(true).start().await?;
        let found = load_groups(&tx, &[group.as_str()]).await?.pop();
        tx.commit().await?;
        Ok(found)
    }

    async fn groups_of(&self, user: &UserId) -> StoreResult<Vec<GroupInfo>> {
        let mut client = self.client().await?;
        let tx =
            client.build_transaction().isolation_level(IsolationLevel::RepeatableRead).read_only(true).start().await?;
        let ids: Vec<String> = query(
            &tx,
            "SELECT group_id FROM group_members WHERE user_id = $1
             UNION SELECT group_id FROM group_invites WHERE user_id = $1",
            &[&user.as_str()],
        )
        .await?
        .iter()
        .map(|r| at(r, 0))
        .collect::<StoreResult<_>>()?;
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        let groups = load_groups(&tx, &ids).await?;
        tx.commit().await?;
        Ok(groups)
    }

    async fn role(&self, group: &GroupId, user: &UserId) -> StoreResult<Option<Role>> {
        let client = self.client().await?;
        query_opt(
            &client,
            "SELECT role FROM group_members WHERE group_id = $1 AND user_id = $2",
            &[&group.as_str(), &user.as_str()],
        )
        .await?
        .map(|r| role_at(&r, 0))
        .transpose()
    }

    async fn member_devices(&self, group: &GroupId) -> StoreResult<Vec<DeviceAddress>> {
        let client = self.client().await?;
        let rows = query(
            &client,
            "SELECT d.user_id, d.device_id FROM group_members m JOIN devices d ON d.user_id = m.user_id
             WHERE m.group_id = $1 ORDER BY d.user_id, d.device_id",
            &[&group.as_str()],
        )
        .await?;
        rows.iter().map(|r| Ok(DeviceAddress { user_id: id_at(r, 0)?, device_id: id_at(r, 1)? })).collect()
    }

    async fn update_group(
        &self,
        expected_version: u64,
        new: &GroupInfo,
        entry: &LogEntry,
        event: Delivery,
    ) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        lock_at_version(&tx, &new.group_id, expected_version).await?;
        let before: Vec<UserId> =
            query(&tx, "SELECT user_id FROM group_members WHERE group_id = $1", &[&new.group_id.as_str()])
                .await?
                .iter()
                .map(|r| id_at(r, 0))
                .collect::<StoreResult<_>>()?;
        let joined: Vec<&UserId> = new.members.iter().map(|m| &m.user_id).filter(|u| !before.contains(u)).collect();
        let gone: Vec<&UserId> = before.iter().filter(|u| !new.members.iter().any(|m| m.user_id == **u)).collect();
        open_periods(&tx, &new.group_id, &joined).await?;
        close_periods(&tx, &new.group_id, &gone).await?;
        execute(
            &tx,
            "UPDATE groups SET name = $2, version = $3 WHERE group_id = $1",
            &[&new.group_id.as_str(), &new.name, &sql_u64(new.version)?],
        )
        .await?;
        execute(&tx, "DELETE FROM group_members WHERE group_id = $1", &[&new.group_id.as_str()]).await?;
        execute(&tx, "DELETE FROM group_invites WHERE group_id = $1", &[&new.group_id.as_str()]).await?;
        insert_members(&tx, new).await?;
        append_log(&tx, &new.group_id, entry).await?;
        inbox::deliver(&tx, &event).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn log_head(&self, group: &GroupId) -> StoreResult<Option<(u64, String)>> {
        let client = self.client().await?;
        query_opt(
            &client,
            "SELECT seq, hash FROM group_log WHERE group_id = $1 ORDER BY seq DESC LIMIT 1",
            &[&group.as_str()],
        )
        .await?
        .map(|r| Ok((u64_at(&r, 0)?, at(&r, 1)?)))
        .transpose()
    }

    async fn group_log(&self, group: &GroupId, after: u64, limit: u32) -> StoreResult<Vec<SignedGroupChange>> {
        let client = self.client().await?;
        read_log(&client, group, after, limit).await
    }

    async fn group_with_log(
        &self,
        group: &GroupId,
        after: u64,
        limit: u32,
    ) -> StoreResult<Option<(GroupInfo, Vec<SignedGroupChange>)>> {
        let mut client = self.client().await?;
        let tx =
            client.build_transaction().isolation_level(IsolationLevel::RepeatableRead).read_only(true).start().await?;
        let Some(info) = load_groups(&tx, &[group.as_str()]).await?.pop() else { return Ok(None) };
        let log = read_log(&tx, group, after, limit).await?;
        tx.commit().await?;
        Ok(Some((info, log)))
    }

    async fn dismiss_group(&self, group: &GroupId, expected_version: u64, event: Delivery) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        lock_at_version(&tx, group, expected_version).await?;
        // Members, invitations, the log, membership periods and history cascade; each history
        // row hands its body back to garbage collection (a trigger).
        execute(&tx, "DELETE FROM groups WHERE group_id = $1", &[&group.as_str()]).await?;
        inbox::deliver(&tx, &event).await?;
        tx.commit().await?;
        self.mark_garbage();
        Ok(())
    }

    async fn group_history(
        &self,
        group: &GroupId,
        user: &UserId,
        before: u64,
        limit: u32,
    ) -> StoreResult<Vec<GroupHistoryMessage>> {
        let mut client = self.client().await?;
        let tx =
            client.build_transaction().isolation_level(IsolationLevel::RepeatableRead).read_only(true).start().await?;
        // Periods never overlap, so reading them newest first, each from its end backwards,
        // yields messages newest first; a user's few periods bound the work (a late joiner's
        // query never scans the history from before they joined).
        let periods: Vec<(i64, Option<i64>)> = query(
            &tx,
            "SELECT from_seq, to_seq FROM group_membership_periods
             WHERE group_id = $1 AND user_id = $2 ORDER BY from_seq DESC",
            &[&group.as_str(), &user.as_str()],
        )
        .await?
        .iter()
        .map(|r| Ok((at(r, 0)?, at(r, 1)?)))
        .collect::<StoreResult<_>>()?;
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
            let rows = query(
                &tx,
                "SELECT h.seq, h.message_id, h.sender_user, h.sender_device, h.server_ts, p.body
                 FROM group_history h JOIN shared_payloads p ON p.id = h.payload_id
                 WHERE h.group_id = $1 AND h.seq >= $2 AND h.seq < $3
                 ORDER BY h.seq DESC LIMIT $4",
                &[&group.as_str(), &from, &upper, &(remaining as i64)],
            )
            .await?;
            for r in &rows {
                let json: &str = at(r, 5)?;
                let ciphertext = match serde_json::from_str::<EntryBody>(json)
                    .map_err(|e| StoreError::Corrupt(format!("group history body: {e}")))?
                {
                    EntryBody::Group { ciphertext, .. } => ciphertext,
                    _ => return Err(StoreError::Corrupt("a group history row is not a group message".into())),
                };
                out.push(GroupHistoryMessage {
                    seq: u64_at(r, 0)?,
                    message_id: id_at(r, 1)?,
                    sender_user: id_at(r, 2)?,
                    sender_device: opt_id_at(r, 3)?,
                    server_ts: u64_at(r, 4)?,
                    ciphertext,
                });
            }
        }
        tx.commit().await?;
        Ok(out)
    }

    async fn prune_group_history(&self, before_ms: u64) -> StoreResult<u64> {
        let client = self.client().await?;
        // SKIP LOCKED: rows a dismissal is deleting, or another node's pruning, are theirs.
        let deleted = execute(
            &client,
            "DELETE FROM group_history WHERE (group_id, seq) IN (
                 SELECT group_id, seq FROM group_history WHERE server_ts < $1
                 LIMIT $2 FOR UPDATE SKIP LOCKED)",
            &[&sql_bound(before_ms), &inbox::COLLECT_BATCH],
        )
        .await?;
        if deleted > 0 {
            self.mark_garbage();
        }
        Ok(deleted)
    }
}

/// Locks the group's row if it is at `expected` ([`StoreError::NotFound`] if it is gone,
/// [`StoreError::VersionConflict`] if another change came first). A change made concurrently
/// waits here until this transaction ends, then sees the version it wrote.
async fn lock_at_version<C: GenericClient>(c: &C, group: &GroupId, expected: u64) -> StoreResult<()> {
    let row = query_opt(c, "SELECT version FROM groups WHERE group_id = $1 FOR UPDATE", &[&group.as_str()])
        .await?
        .ok_or(StoreError::NotFound)?;
    let current = u64_at(&row, 0)?;
    if current == expected { Ok(()) } else { Err(StoreError::VersionConflict { current }) }
}

/// The group's next history seq: a member who joins now sees messages from it on. (Read under
/// the group row's lock, which the caller holds.)
async fn next_history_seq<C: GenericClient>(c: &C, group: &GroupId) -> StoreResult<i64> {
    let row = query_opt(c, "SELECT next_seq FROM groups WHERE group_id = $1", &[&group.as_str()])
        .await?
        .ok_or(StoreError::NotFound)?;
    at(&row, 0)
}

/// Starts a membership period for each of `users` at the group's next history seq. A period that
/// ended at that very seq (removed and added back with nothing sent in between) simply goes on.
async fn open_periods<C: GenericClient>(c: &C, group: &GroupId, users: &[&UserId]) -> StoreResult<()> {
    if users.is_empty() {
        return Ok(());
    }
    let from = next_history_seq(c, group).await?;
    for user in users {
        let extended = execute(
            c,
            "UPDATE group_membership_periods SET to_seq = NULL WHERE group_id = $1 AND user_id = $2 AND to_seq = $3",
            &[&group.as_str(), &user.as_str(), &from],
        )
        .await?;
        if extended == 0 {
            execute(
                c,
                "INSERT INTO group_membership_periods (group_id, user_id, from_seq, to_seq) VALUES ($1, $2, $3, NULL)
                 ON CONFLICT (group_id, user_id, from_seq) DO UPDATE SET to_seq = NULL",
                &[&group.as_str(), &user.as_str(), &from],
            )
            .await?;
        }
    }
    Ok(())
}

/// Ends the open membership period of each of `users` before the group's next history seq.
async fn close_periods<C: GenericClient>(c: &C, group: &GroupId, users: &[&UserId]) -> StoreResult<()> {
    if users.is_empty() {
        return Ok(());
    }
    let to = next_history_seq(c, group).await?;
    let names: Vec<&str> = users.iter().map(|u| u.as_str()).collect();
    execute(
        c,
        "UPDATE group_membership_periods SET to_seq = $3
         WHERE group_id = $1 AND user_id = ANY($2) AND to_seq IS NULL",
        &[&group.as_str(), &names, &to],
    )
    .await?;
    Ok(())
}

async fn read_log<C: GenericClient>(
    c: &C,
    group: &GroupId,
    after: u64,
    limit: u32,
) -> StoreResult<Vec<SignedGroupChange>> {
    query(
        c,
        "SELECT change, signature FROM group_log WHERE group_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        &[&group.as_str(), &sql_bound(after), &i64::from(limit)],
    )
    .await?
    .iter()
    .map(|r| Ok(SignedGroupChange { change: at(r, 0)?, signature: at(r, 1)? }))
    .collect()
}

async fn append_log<C: GenericClient>(c: &C, group: &GroupId, entry: &LogEntry) -> StoreResult<()> {
    execute(
        c,
        "INSERT INTO group_log (group_id, seq, hash, change, signature) VALUES ($1, $2, $3, $4, $5)",
        &[&group.as_str(), &sql_u64(entry.seq)?, &entry.hash, &entry.signed.change, &entry.signed.signature],
    )
    .await?;
    Ok(())
}

async fn insert_members<C: GenericClient>(c: &C, group: &GroupInfo) -> StoreResult<()> {
    let users: Vec<&str> = group.members.iter().map(|m| m.user_id.as_str()).collect();
    let roles: Vec<&str> = group.members.iter().map(|m| m.role.as_str()).collect();
    execute(
        c,
        "INSERT INTO group_members (group_id, user_id, role) SELECT $1, * FROM unnest($2::TEXT[], $3::TEXT[])",
        &[&group.group_id.as_str(), &users, &roles],
    )
    .await?;
    let invited: Vec<&str> = group.invited.iter().map(UserId::as_str).collect();
    execute(
        c,
        "INSERT INTO group_invites (group_id, user_id) SELECT $1, unnest($2::TEXT[])",
        &[&group.group_id.as_str(), &invited],
    )
    .await?;
    Ok(())
}

/// The groups of `ids` that exist, by id, with their members and invitations sorted by user id.
/// Call inside a read transaction (one snapshot for the three statements).
async fn load_groups<C: GenericClient>(c: &C, ids: &[&str]) -> StoreResult<Vec<GroupInfo>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let groups = query(
        c,
        "SELECT group_id, name, version, created_ts FROM groups WHERE group_id = ANY($1) ORDER BY group_id",
        &[&ids],
    )
    .await?;
    let mut members: HashMap<String, Vec<GroupMember>> = HashMap::new();
    for r in query(
        c,
        "SELECT group_id, user_id, role FROM group_members WHERE group_id = ANY($1) ORDER BY group_id, user_id",
        &[&ids],
    )
    .await?
    {
        members.entry(at(&r, 0)?).or_default().push(GroupMember { user_id: id_at(&r, 1)?, role: role_at(&r, 2)? });
    }
    let mut invited: HashMap<String, Vec<UserId>> = HashMap::new();
    for r in query(
        c,
        "SELECT group_id, user_id FROM group_invites WHERE group_id = ANY($1) ORDER BY group_id, user_id",
        &[&ids],
    )
    .await?
    {
        invited.entry(at(&r, 0)?).or_default().push(id_at(&r, 1)?);
    }
    groups.iter().map(|r| group_from(r, &mut members, &mut invited)).collect()
}

fn group_from(
    r: &Row,
    members: &mut HashMap<String, Vec<GroupMember>>,
    invited: &mut HashMap<String, Vec<UserId>>,
) -> StoreResult<GroupInfo> {
    let group_id: GroupId = id_at(r, 0)?;
    Ok(GroupInfo {
        name: at(r, 1)?,
        version: u64_at(r, 2)?,
        created_ts: u64_at(r, 3)?,
        members: members.remove(group_id.as_str()).unwrap_or_default(),
        invited: invited.remove(group_id.as_str()).unwrap_or_default(),
        group_id,
    })
}

fn role_at(r: &Row, idx: usize) -> StoreResult<Role> {
    let s: &str = at(r, idx)?;
    Role::parse(s).ok_or_else(|| StoreError::Corrupt("unknown group role".into()))
}
