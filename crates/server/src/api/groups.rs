//! Groups, transport side: membership, roles, and fan-out of group messages. Every membership
//! change is stored together with its event, delivered to every device of every member before and
//! after the change. Changes use optimistic concurrency on the group's version, so two admins
//! acting at once never lose each other's change.

use std::collections::BTreeSet;

use axum::extract::State;
use axum::http::StatusCode;
use sotto_proto::limits::{MAX_GROUP_MEMBERS, MAX_GROUP_NAME_CHARS, MAX_HISTORY_PAGE};
use sotto_proto::routes::{self, Endpoint as _, HistoryQuery};
use sotto_proto::{
    AddMembersRequest, CreateGroupRequest, DeviceAddress, DeviceMismatch, EntryBody, ErrorBody, ErrorCode,
    GroupHistoryPage, GroupId, GroupInfo, GroupList, GroupMember, MembershipChange, MembershipEvent, MessageId, Role,
    SendGroupRequest, SendReceipt, SetRoleRequest, UserId,
};
use tracing::instrument;

use super::messages::{check_ciphertext, deliver};
use crate::auth::{self, Authenticated};
use crate::error::{AppError, AppResult};
use crate::extract::{Json, Path, Query};
use crate::metrics::KindLabels;
use crate::state::AppState;
use crate::store::{Delivery, DeliveryContent, StoreError};

/// How often a change is retried when another change raced it.
const MAX_ATTEMPTS: usize = 8;

fn check_name(name: &str) -> AppResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_GROUP_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(AppError::invalid_input(format!(
            "A group name must be 1 to {MAX_GROUP_NAME_CHARS} characters, without control characters."
        )));
    }
    Ok(name.to_owned())
}

fn not_admin() -> AppError {
    AppError::new(StatusCode::FORBIDDEN, ErrorCode::NotAdmin, "Only an admin of the group may do this.")
}

fn not_owner() -> AppError {
    AppError::new(StatusCode::FORBIDDEN, ErrorCode::NotAdmin, "Only the owner of the group may do this.")
}

fn role_of(group: &GroupInfo, user: &UserId) -> Option<Role> {
    group.members.iter().find(|m| m.user_id == *user).map(|m| m.role)
}

/// Loads a group the caller is a member of.
async fn load_for_member(state: &AppState, group_id: &GroupId, caller: &UserId) -> AppResult<(GroupInfo, Role)> {
    let group = state.groups.group(group_id).await?.ok_or_else(|| AppError::not_found("No such group."))?;
    let role = role_of(&group, caller).ok_or_else(AppError::not_member)?;
    Ok((group, role))
}

async fn ensure_users_exist(state: &AppState, users: &[UserId]) -> AppResult<()> {
    let existing = state.accounts.existing_users(users).await?;
    let unknown: Vec<&UserId> = users.iter().filter(|u| !existing.contains(u)).collect();
    if unknown.is_empty() { Ok(()) } else { Err(AppError::unknown_users(&unknown)) }
}

/// The event for a change, addressed to every device of everyone in `before` or `after`.
async fn membership_event(
    state: &AppState,
    actor: &DeviceAddress,
    change: MembershipChange,
    users: Vec<UserId>,
    before: &GroupInfo,
    after: GroupInfo,
) -> AppResult<Delivery> {
    let mut everyone: Vec<UserId> =
        before.members.iter().chain(after.members.iter()).map(|m| m.user_id.clone()).collect();
    everyone.sort();
    everyone.dedup();
    let recipients = state.devices.devices_of(&everyone).await?;
    let message_id = MessageId::parse(auth::random_id(24)?).map_err(|e| AppError::internal(e.to_string()))?;
    Ok(Delivery {
        sender_user: actor.user_id.clone(),
        sender_device: Some(actor.device_id.clone()),
        message_id,
        server_ts: state.clock.unix_millis(),
        content: DeliveryContent::Shared {
            body: EntryBody::Membership(MembershipEvent {
                group_id: after.group_id.clone(),
                change,
                actor: actor.user_id.clone(),
                users,
                group: after,
            }),
            recipients,
        },
    })
}

/// Runs `plan` against the current group and applies its result, retrying when the group changed
/// in between. `plan` returns the change kind, whom it concerns, and the new state (or `None` for
/// a dismissal).
async fn change_group<F>(state: &AppState, group_id: &GroupId, actor: &DeviceAddress, plan: F) -> AppResult<GroupInfo>
where
    F: Fn(&GroupInfo, Role) -> AppResult<(MembershipChange, Vec<UserId>, Option<GroupInfo>)>,
{
    for _ in 0..MAX_ATTEMPTS {
        let (group, role) = load_for_member(state, group_id, &actor.user_id).await?;
        let (change, users, after) = plan(&group, role)?;
        let result = match after {
            Some(mut after) => {
                after.version = group.version + 1;
                let event = membership_event(state, actor, change, users, &group, after.clone()).await?;
                state.groups.update_group(group.version, &after, event).await.map(|()| after)
            }
            None => {
                let mut gone = group.clone();
                gone.version = group.version + 1;
                gone.members.clear();
                let event = membership_event(state, actor, change, users, &group, gone.clone()).await?;
                state.groups.dismiss_group(group_id, group.version, event).await.map(|()| gone)
            }
        };
        match result {
            Ok(after) => {
                state.metrics.messages_stored.get_or_create(&KindLabels { kind: "membership" }).inc();
                wake_group_event(state, &group, &after).await;
                return Ok(after);
            }
            Err(StoreError::VersionConflict { .. }) => continue,
            Err(StoreError::NotFound) => return Err(AppError::not_found("No such group.")),
            Err(e) => return Err(e.into()),
        }
    }
    Err(AppError::conflict("The group is changing too quickly; try again."))
}

async fn wake_group_event(state: &AppState, before: &GroupInfo, after: &GroupInfo) {
    let mut everyone: Vec<UserId> =
        before.members.iter().chain(after.members.iter()).map(|m| m.user_id.clone()).collect();
    everyone.sort();
    everyone.dedup();
    match state.devices.devices_of(&everyone).await {
        Ok(devices) => state.hub.wake(&devices),
        Err(e) => tracing::warn!(error = %e, "could not wake members after a group change"),
    }
}

#[utoipa::path(post, path = routes::CreateGroup::PATH, tag = "groups", security(("bearer" = [])), request_body = CreateGroupRequest,
    responses((status = 201, body = GroupInfo), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody, description = "unknown_user")))]
#[instrument(skip_all, fields(user = %caller.user_id, members = req.members.len()))]
pub async fn create_group(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Json(req): Json<CreateGroupRequest>,
) -> AppResult<(StatusCode, Json<GroupInfo>)> {
    let name = check_name(&req.name)?;
    let mut members = req.members;
    members.retain(|m| *m != caller.user_id);
    members.sort();
    members.dedup();
    if members.len() + 1 > MAX_GROUP_MEMBERS {
        return Err(AppError::invalid_input(format!("A group has at most {MAX_GROUP_MEMBERS} members.")));
    }
    ensure_users_exist(&state, &members).await?;
    let mut all: Vec<GroupMember> =
        members.iter().map(|u| GroupMember { user_id: u.clone(), role: Role::Member }).collect();
    all.push(GroupMember { user_id: caller.user_id.clone(), role: Role::Owner });
    all.sort_by(|a, b| a.user_id.cmp(&b.user_id));
    let group_id = GroupId::parse(auth::random_id(16)?).map_err(|e| AppError::internal(e.to_string()))?;
    let group = GroupInfo { group_id, name, version: 1, created_ts: state.clock.unix_millis(), members: all };
    let empty = GroupInfo { members: Vec::new(), ..group.clone() };
    let event = membership_event(&state, &caller, MembershipChange::Created, members, &empty, group.clone()).await?;
    state.groups.create_group(&group, event).await?;
    state.metrics.messages_stored.get_or_create(&KindLabels { kind: "membership" }).inc();
    wake_group_event(&state, &empty, &group).await;
    tracing::info!(group = %group.group_id, "group created");
    Ok((StatusCode::CREATED, Json(group)))
}

#[utoipa::path(get, path = routes::ListGroups::PATH, tag = "groups", security(("bearer" = [])), responses((status = 200, body = GroupList)))]
pub async fn list_groups(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> AppResult<Json<GroupList>> {
    Ok(Json(GroupList { groups: state.groups.groups_of(&caller.user_id).await? }))
}

#[utoipa::path(get, path = routes::GetGroup::PATH, tag = "groups", security(("bearer" = [])), params(("group_id" = String, Path)),
    responses((status = 200, body = GroupInfo), (status = 403, body = ErrorBody, description = "not_member"), (status = 404, body = ErrorBody)))]
pub async fn get_group(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(group_id): Path<GroupId>,
) -> AppResult<Json<GroupInfo>> {
    Ok(Json(load_for_member(&state, &group_id, &caller.user_id).await?.0))
}

#[utoipa::path(post, path = routes::AddMembers::PATH, tag = "groups", security(("bearer" = [])), params(("group_id" = String, Path)),
    request_body = AddMembersRequest,
    responses((status = 200, body = GroupInfo), (status = 403, body = ErrorBody, description = "not_member or not_admin"), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[instrument(skip_all, fields(user = %caller.user_id, group = %group_id))]
pub async fn add_members(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(group_id): Path<GroupId>,
    Json(req): Json<AddMembersRequest>,
) -> AppResult<Json<GroupInfo>> {
    let mut users = req.user_ids;
    users.sort();
    users.dedup();
    if users.is_empty() {
        return Err(AppError::invalid_input("Name at least one user to add."));
    }
    ensure_users_exist(&state, &users).await?;
    let group = change_group(&state, &group_id, &caller, |group, role| {
        if !role.is_admin() {
            return Err(not_admin());
        }
        let new: Vec<UserId> = users.iter().filter(|u| role_of(group, u).is_none()).cloned().collect();
        if new.is_empty() {
            return Err(AppError::conflict("Everyone named is already a member."));
        }
        if group.members.len() + new.len() > MAX_GROUP_MEMBERS {
            return Err(AppError::invalid_input(format!("A group has at most {MAX_GROUP_MEMBERS} members.")));
        }
        let mut after = group.clone();
        after.members.extend(new.iter().map(|u| GroupMember { user_id: u.clone(), role: Role::Member }));
        after.members.sort_by(|a, b| a.user_id.cmp(&b.user_id));
        Ok((MembershipChange::Added, new, Some(after)))
    })
    .await?;
    Ok(Json(group))
}

#[utoipa::path(delete, path = routes::RemoveMember::PATH, tag = "groups", security(("bearer" = [])),
    params(("group_id" = String, Path), ("user_id" = String, Path)),
    responses((status = 200, body = GroupInfo), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[instrument(skip_all, fields(user = %caller.user_id, group = %group_id, target = %target))]
pub async fn remove_member(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path((group_id, target)): Path<(GroupId, UserId)>,
) -> AppResult<Json<GroupInfo>> {
    if target == caller.user_id {
        return leave_group(State(state), Authenticated(caller), Path(group_id)).await.map(|(_, g)| g);
    }
    let group = change_group(&state, &group_id, &caller, |group, role| {
        let target_role = role_of(group, &target).ok_or_else(|| AppError::not_found("That user is not a member."))?;
        let allowed = match target_role {
            Role::Owner => false,
            Role::Admin => role == Role::Owner,
            Role::Member => role.is_admin(),
        };
        if !allowed {
            return Err(if role.is_admin() { not_owner() } else { not_admin() });
        }
        let mut after = group.clone();
        after.members.retain(|m| m.user_id != target);
        Ok((MembershipChange::Removed, vec![target.clone()], Some(after)))
    })
    .await?;
    Ok(Json(group))
}

#[utoipa::path(post, path = routes::LeaveGroup::PATH, tag = "groups", security(("bearer" = [])), params(("group_id" = String, Path)),
    responses((status = 200, body = GroupInfo, description = "The group as the remaining members see it"), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody, description = "the owner must hand over ownership first")))]
#[instrument(skip_all, fields(user = %caller.user_id, group = %group_id))]
pub async fn leave_group(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(group_id): Path<GroupId>,
) -> AppResult<(StatusCode, Json<GroupInfo>)> {
    let me = caller.user_id.clone();
    let group = change_group(&state, &group_id, &caller, |group, role| {
        if role == Role::Owner && group.members.len() > 1 {
            return Err(AppError::conflict(
                "The owner cannot leave while others remain: make someone else the owner, or dismiss the group.",
            ));
        }
        if group.members.len() == 1 {
            return Ok((MembershipChange::Dismissed, vec![me.clone()], None));
        }
        let mut after = group.clone();
        after.members.retain(|m| m.user_id != me);
        Ok((MembershipChange::Left, vec![me.clone()], Some(after)))
    })
    .await?;
    Ok((StatusCode::OK, Json(group)))
}

#[utoipa::path(put, path = routes::SetRole::PATH, tag = "groups", security(("bearer" = [])),
    params(("group_id" = String, Path), ("user_id" = String, Path)), request_body = SetRoleRequest,
    responses((status = 200, body = GroupInfo), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[instrument(skip_all, fields(user = %caller.user_id, group = %group_id, target = %target))]
pub async fn set_role(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path((group_id, target)): Path<(GroupId, UserId)>,
    Json(req): Json<SetRoleRequest>,
) -> AppResult<Json<GroupInfo>> {
    let me = caller.user_id.clone();
    let group = change_group(&state, &group_id, &caller, |group, role| {
        if role != Role::Owner {
            return Err(not_owner());
        }
        if target == me {
            return Err(AppError::conflict("The owner's role changes only by making someone else the owner."));
        }
        if role_of(group, &target).is_none() {
            return Err(AppError::not_found("That user is not a member."));
        }
        let mut after = group.clone();
        for m in &mut after.members {
            if m.user_id == target {
                m.role = req.role;
            } else if m.user_id == me && req.role == Role::Owner {
                // Handing over ownership: the old owner stays an admin.
                m.role = Role::Admin;
            }
        }
        Ok((MembershipChange::RoleChanged, vec![target.clone()], Some(after)))
    })
    .await?;
    Ok(Json(group))
}

#[utoipa::path(delete, path = routes::DismissGroup::PATH, tag = "groups", security(("bearer" = [])), params(("group_id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[instrument(skip_all, fields(user = %caller.user_id, group = %group_id))]
pub async fn dismiss_group(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(group_id): Path<GroupId>,
) -> AppResult<StatusCode> {
    change_group(&state, &group_id, &caller, |group, role| {
        if role != Role::Owner {
            return Err(not_owner());
        }
        let everyone = group.members.iter().map(|m| m.user_id.clone()).collect();
        Ok((MembershipChange::Dismissed, everyone, None))
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = routes::SendGroup::PATH, tag = "groups", security(("bearer" = [])), params(("group_id" = String, Path)),
    request_body = SendGroupRequest,
    responses((status = 200, body = SendReceipt), (status = 403, body = ErrorBody, description = "not_member"), (status = 404, body = ErrorBody)))]
#[instrument(skip_all, fields(user = %sender.user_id, device = %sender.device_id, group = %group_id))]
pub async fn send_group(
    State(state): State<AppState>,
    Authenticated(sender): Authenticated,
    Path(group_id): Path<GroupId>,
    Json(req): Json<SendGroupRequest>,
) -> AppResult<Json<SendReceipt>> {
    check_ciphertext(&req.ciphertext)?;
    match state.groups.role(&group_id, &sender.user_id).await? {
        Some(_) => {}
        None if state.groups.group(&group_id).await?.is_some() => return Err(AppError::not_member()),
        None => return Err(AppError::not_found("No such group.")),
    }
    let recipients: Vec<DeviceAddress> =
        state.groups.member_devices(&group_id).await?.into_iter().filter(|d| *d != sender).collect();
    // (The list's length is bounded by the body limit.)
    if let Some(known) = &req.member_devices {
        // Devices that have no keys yet cannot hold a group key; the directory does not list them.
        let mut users: Vec<UserId> = recipients.iter().map(|d| d.user_id.clone()).collect();
        users.push(sender.user_id.clone());
        users.sort();
        users.dedup();
        let keyed = state.devices.keyed_devices_of(&users).await?;
        let known: BTreeSet<&DeviceAddress> = known.iter().collect();
        let current: BTreeSet<&DeviceAddress> =
            keyed.iter().filter(|d| **d != sender && recipients.contains(d)).collect();
        if known != current {
            // A retry of a send that was stored before the devices changed is a duplicate.
            if let Some(server_ts) = state.inbox.sent_at(&sender.user_id, &req.message_id).await? {
                state.metrics.duplicate_sends.inc();
                return Ok(Json(SendReceipt { message_id: req.message_id, server_ts, duplicate: true }));
            }
            let mismatch = DeviceMismatch {
                missing: current.difference(&known).map(|d| (*d).clone()).collect(),
                unknown: known.difference(&current).map(|d| (*d).clone()).collect(),
            };
            return Err(AppError::DevicesChanged(mismatch));
        }
    }
    let delivery = Delivery {
        sender_user: sender.user_id,
        sender_device: Some(sender.device_id),
        message_id: req.message_id,
        server_ts: state.clock.unix_millis(),
        content: DeliveryContent::Shared {
            body: EntryBody::Group { group_id, ciphertext: req.ciphertext },
            recipients,
        },
    };
    Ok(Json(deliver(&state, delivery, "group").await?))
}

/// The group's stored messages that were sent while the caller was a member, newest first. Only
/// current members may read it; what was sent while they were not members is never returned.
#[utoipa::path(get, path = routes::GroupHistory::PATH, tag = "groups", security(("bearer" = [])),
    params(("group_id" = String, Path), HistoryQuery),
    responses((status = 200, body = GroupHistoryPage), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "not_member"), (status = 404, body = ErrorBody)))]
#[instrument(skip_all, fields(user = %caller.user_id, group = %group_id))]
pub async fn group_history(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(group_id): Path<GroupId>,
    Query(q): Query<HistoryQuery>,
) -> AppResult<Json<GroupHistoryPage>> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=MAX_HISTORY_PAGE).contains(&limit) {
        return Err(AppError::invalid_input(format!("`limit` must be 1 to {MAX_HISTORY_PAGE}.")));
    }
    match state.groups.role(&group_id, &caller.user_id).await? {
        Some(_) => {}
        None if state.groups.group(&group_id).await?.is_some() => return Err(AppError::not_member()),
        None => return Err(AppError::not_found("No such group.")),
    }
    let before = q.before.unwrap_or(u64::MAX);
    let mut messages = state.groups.group_history(&group_id, &caller.user_id, before, limit + 1).await?;
    let more = messages.len() > limit as usize;
    messages.truncate(limit as usize);
    tracing::debug!(messages = messages.len(), more, "group history read");
    Ok(Json(GroupHistoryPage { messages, more }))
}
