//! Groups, transport side: membership, roles, and fan-out of group messages. Every change is a
//! change signed by a member's device (see `sotto_proto::groups`): the server checks the signature
//! and the rules against the member list it holds, appends the change to the group's log, and
//! stores its event, delivered to every device of every member before and after the change, in
//! the same transaction. Changes name the version they follow, so of two admins acting at once one
//! is told the group changed and signs again; neither is lost. Clients verify the log themselves;
//! the member list here only routes messages.

use std::collections::BTreeSet;

use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use sha2::{Digest, Sha256};
use sotto_proto::limits::MAX_HISTORY_PAGE;
use sotto_proto::routes::{self, Endpoint as _, HistoryQuery};
use sotto_proto::{
    DeviceAddress, DeviceConfirmation, DeviceMismatch, EntryBody, ErrorBody, ErrorCode, GroupAction, GroupChange,
    GroupHistoryPage, GroupId, GroupInfo, GroupList, GroupLogPage, GroupLogQuery, MembershipChange, MembershipEvent,
    MessageId, Roster, RuleViolation, SendGroupRequest, SendReceipt, SignedGroupChange, UserId, apply_action,
};
use tracing::instrument;

use super::keys::{ed25519_key, verify};
use super::messages::{check_ciphertext, deliver};
use crate::auth::{self, Authenticated};
use crate::error::{AppError, AppResult};
use crate::extract::{Json, Path, Query};
use crate::metrics::KindLabels;
use crate::state::AppState;
use crate::store::{Delivery, DeliveryContent, LogEntry, StoreError};

/// The hash of a log entry: unpadded base64 of the SHA-256 of its signed bytes.
pub(crate) fn entry_hash(signed: &SignedGroupChange) -> String {
    STANDARD_NO_PAD.encode(Sha256::digest(signed.hash_input()))
}

fn refused(violation: &RuleViolation) -> AppError {
    let message = violation.sentence();
    match violation {
        RuleViolation::NotMember => AppError::not_member(),
        RuleViolation::NotAdmin | RuleViolation::NotOwner => {
            AppError::new(StatusCode::FORBIDDEN, ErrorCode::NotAdmin, message)
        }
        RuleViolation::AlreadyMember(_) | RuleViolation::OwnerMustHandOver | RuleViolation::NotFirst => {
            AppError::conflict(message)
        }
        RuleViolation::NotAMember(_) => AppError::not_found(message),
        RuleViolation::AlreadyInvited(_) => AppError::conflict(message),
        RuleViolation::NotInvited => AppError::new(StatusCode::FORBIDDEN, ErrorCode::NotInvited, message),
        RuleViolation::BadList(_) | RuleViolation::TooManyMembers | RuleViolation::BadName => {
            AppError::invalid_input(message)
        }
    }
}

fn stale(current: u64) -> AppError {
    AppError::new(
        StatusCode::CONFLICT,
        ErrorCode::StaleVersion,
        format!("The group changed meanwhile (it is at version {current}); read its changes and sign again."),
    )
}

/// Loads a group the caller is a member of.
async fn load_for_member(state: &AppState, group_id: &GroupId, caller: &UserId) -> AppResult<GroupInfo> {
    let group = state.groups.group(group_id).await?.ok_or_else(|| AppError::not_found("No such group."))?;
    if group.members.iter().any(|m| m.user_id == *caller) { Ok(group) } else { Err(AppError::not_member()) }
}

/// Loads a group the caller is a member of or invited to (what it may read of the group: its
/// description and changes, never its messages).
async fn load_for_reader(state: &AppState, group_id: &GroupId, caller: &UserId) -> AppResult<GroupInfo> {
    let group = state.groups.group(group_id).await?.ok_or_else(|| AppError::not_found("No such group."))?;
    if reads(&group, caller) { Ok(group) } else { Err(AppError::not_member()) }
}

fn reads(group: &GroupInfo, user: &UserId) -> bool {
    group.members.iter().any(|m| m.user_id == *user) || group.invited.contains(user)
}

/// Refuses adding people who never wrote to `author` (unless the server lets anyone be added):
/// they must be invited, and join by accepting.
async fn ensure_added_by_consent(state: &AppState, author: &UserId, users: &[UserId]) -> AppResult<()> {
    if state.group_adds == crate::config::GroupAdds::Direct || users.is_empty() {
        return Ok(());
    }
    let wrote = state.inbox.have_written_to(users, author).await?;
    let strangers: Vec<UserId> = users.iter().filter(|u| !wrote.contains(u)).cloned().collect();
    if strangers.is_empty() { Ok(()) } else { Err(AppError::InvitationRequired(strangers)) }
}

async fn ensure_users_exist(state: &AppState, users: &[UserId]) -> AppResult<()> {
    let existing = state.accounts.existing_users(users).await?;
    let unknown: Vec<&UserId> = users.iter().filter(|u| !existing.contains(u)).collect();
    if unknown.is_empty() { Ok(()) } else { Err(AppError::unknown_users(&unknown)) }
}

/// Parses a signed change and checks that the calling device made it: with its current keys,
/// confirmed by its user's self-signing key, and a valid signature. What clients would refuse is
/// refused here first, with a clear error.
async fn checked_change(
    state: &AppState,
    caller: &DeviceAddress,
    signed: &SignedGroupChange,
) -> AppResult<GroupChange> {
    let change: GroupChange = serde_json::from_str(&signed.change)
        .map_err(|e| AppError::invalid_input(format!("`change` is not a group change: {e}")))?;
    if change.author != caller.user_id || change.device_id != caller.device_id {
        return Err(AppError::forbidden("A change must be signed by the device that sends it."));
    }
    let keys = state
        .devices
        .device_keys(caller)
        .await?
        .ok_or_else(|| AppError::conflict("Upload this device's keys before changing a group."))?;
    if keys.ed25519 != change.ed25519 || keys.curve25519 != change.curve25519 {
        return Err(AppError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidSignature,
            "The change names keys other than this device's.",
        ));
    }
    let identity = state.devices.identity(&caller.user_id).await?.ok_or_else(|| {
        AppError::new(
            StatusCode::CONFLICT,
            ErrorCode::NoIdentity,
            "Publish the user's identity before changing a group.",
        )
    })?;
    let self_signing = ed25519_key(&identity.self_signing_key, "self-signing key")?;
    verify(&self_signing, &DeviceConfirmation::signing_bytes(&keys), &change.confirmation, "device confirmation")
        .map_err(|_| {
            AppError::new(
                StatusCode::FORBIDDEN,
                ErrorCode::NotConfirmed,
                "This device is not confirmed by its user; confirm it from another device first.",
            )
        })?;
    let device_key = ed25519_key(&keys.ed25519, "Ed25519 key")?;
    verify(&device_key, &SignedGroupChange::signing_bytes(&signed.change), &signed.signature, "group change")?;
    Ok(change)
}

/// The event for a change, addressed to every device of everyone in `before` or `after`.
async fn membership_event(
    state: &AppState,
    actor: &DeviceAddress,
    (change, users): (MembershipChange, Vec<UserId>),
    before: &GroupInfo,
    after: GroupInfo,
    signed: &SignedGroupChange,
) -> AppResult<Delivery> {
    let recipients = state.devices.devices_of(&everyone(before, &after)).await?;
    let message_id = MessageId::parse(auth::random_id(24)?).map_err(|e| AppError::internal(e.to_string()))?;
    Ok(Delivery {
        sender_user: actor.user_id.clone(),
        sender_device: Some(actor.device_id.clone()),
        message_id,
        server_ts: state.clock.unix_millis(),
        content: DeliveryContent::Shared {
            body: Box::new(EntryBody::Membership(Box::new(MembershipEvent {
                group_id: after.group_id.clone(),
                change,
                actor: actor.user_id.clone(),
                users,
                group: after,
                signed: Some(signed.clone()),
            }))),
            recipients,
        }
        .into(),
    })
}

/// Members and invited users before and after a change: whom its event goes to (so the invited
/// learn of their invitation, and of what happens to the group until they answer).
fn everyone(before: &GroupInfo, after: &GroupInfo) -> Vec<UserId> {
    let all: BTreeSet<UserId> = before
        .members
        .iter()
        .chain(after.members.iter())
        .map(|m| m.user_id.clone())
        .chain(before.invited.iter().chain(after.invited.iter()).cloned())
        .collect();
    all.into_iter().collect()
}

async fn wake_group_event(state: &AppState, before: &GroupInfo, after: &GroupInfo) {
    match state.devices.devices_of(&everyone(before, after)).await {
        Ok(devices) => state.hub.wake(&devices),
        Err(e) => tracing::warn!(error = %e, "could not wake members after a group change"),
    }
}

#[utoipa::path(post, path = routes::CreateGroup::PATH, tag = "groups", security(("bearer" = [])), request_body = SignedGroupChange,
    responses((status = 201, body = GroupInfo), (status = 400, body = ErrorBody, description = "invalid_input or invalid_signature"),
        (status = 403, body = ErrorBody, description = "not_confirmed: the device is not confirmed by its user"),
        (status = 404, body = ErrorBody, description = "unknown_user"), (status = 409, body = ErrorBody, description = "the group id is taken")))]
#[instrument(skip_all, fields(user = %caller.user_id))]
pub async fn create_group(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Json(signed): Json<SignedGroupChange>,
) -> AppResult<(StatusCode, Json<GroupInfo>)> {
    let change = checked_change(&state, &caller, &signed).await?;
    let GroupAction::Create { members: named, invited, .. } = &change.action else {
        return Err(AppError::invalid_input(format!(
            "{} takes a `create` change; other changes go to {}.",
            routes::CreateGroup::PATH,
            routes::ChangeGroup::PATH
        )));
    };
    if change.seq != 1 || change.prev.is_some() {
        return Err(AppError::invalid_input("A new group's first change has `seq` 1 and no `prev`."));
    }
    let applied = apply_action(None, &caller.user_id, &change.action).map_err(|v| refused(&v))?;
    let all: Vec<UserId> = named.iter().chain(invited.iter()).cloned().collect();
    ensure_users_exist(&state, &all).await?;
    ensure_added_by_consent(&state, &caller.user_id, named).await?;
    let group = GroupInfo {
        group_id: change.group_id.clone(),
        name: applied.name.clone().unwrap_or_default(),
        version: 1,
        created_ts: state.clock.unix_millis(),
        members: applied.members,
        invited: applied.invited,
    };
    let empty = GroupInfo { members: Vec::new(), invited: Vec::new(), ..group.clone() };
    let event =
        membership_event(&state, &caller, (applied.change, applied.users), &empty, group.clone(), &signed).await?;
    let entry = LogEntry { seq: 1, hash: entry_hash(&signed), signed };
    match state.groups.create_group(&group, &entry, event).await {
        Err(StoreError::AlreadyExists) => return Err(AppError::conflict("A group with this id exists; pick another.")),
        other => other?,
    }
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
    Ok(Json(load_for_reader(&state, &group_id, &caller.user_id).await?))
}

#[utoipa::path(post, path = routes::ChangeGroup::PATH, tag = "groups", security(("bearer" = [])), params(("group_id" = String, Path)),
    request_body = SignedGroupChange,
    responses((status = 200, body = GroupInfo, description = "The group after the change (no members once dismissed)"),
        (status = 400, body = ErrorBody, description = "invalid_input or invalid_signature"),
        (status = 403, body = ErrorBody, description = "not_member, not_admin or not_confirmed"), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "stale_version: the group changed meanwhile; or the change is not allowed now")))]
#[instrument(skip_all, fields(user = %caller.user_id, group = %group_id))]
pub async fn change_group(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(group_id): Path<GroupId>,
    Json(signed): Json<SignedGroupChange>,
) -> AppResult<Json<GroupInfo>> {
    let change = checked_change(&state, &caller, &signed).await?;
    if change.group_id != group_id {
        return Err(AppError::invalid_input("The change names another group."));
    }
    // The same answer as `create_group` gives for the converse mistake: the wrong route, not a
    // change that does not fit the group.
    if matches!(change.action, GroupAction::Create { .. }) {
        return Err(AppError::invalid_input(format!(
            "A `create` goes to {}; {} takes the changes after it.",
            routes::CreateGroup::PATH,
            routes::ChangeGroup::PATH
        )));
    }
    // The invited answer an invitation; everything else is for members.
    let group = match change.action {
        GroupAction::Join | GroupAction::Decline => load_for_reader(&state, &group_id, &caller.user_id).await?,
        _ => load_for_member(&state, &group_id, &caller.user_id).await?,
    };
    if change.seq != group.version + 1 {
        return Err(stale(group.version));
    }
    let head = state.groups.log_head(&group_id).await?;
    let applied = match (&head, &change.action) {
        (Some((seq, hash)), _) if *seq == group.version && change.prev.as_ref() == Some(hash) => {
            let roster = Roster { members: &group.members, invited: &group.invited };
            apply_action(Some(roster), &caller.user_id, &change.action).map_err(|v| refused(&v))?
        }
        (Some(_), _) => return Err(stale(group.version)),
        // A group from before changes were signed: its first signed change states its members
        // exactly as they are.
        (None, GroupAction::Adopt { name, members }) if change.prev.is_none() => {
            if *members != group.members || *name != group.name {
                return Err(AppError::conflict("The member list to sign is not the group's; read the group again."));
            }
            apply_action(None, &caller.user_id, &change.action).map_err(|v| refused(&v))?
        }
        (None, _) => {
            return Err(AppError::conflict(
                "This group's member list is not signed yet: sign it (`adopt`) before changing it.",
            ));
        }
    };
    match &change.action {
        GroupAction::Add { users } => {
            ensure_users_exist(&state, users).await?;
            ensure_added_by_consent(&state, &caller.user_id, users).await?;
        }
        GroupAction::Invite { users } => ensure_users_exist(&state, users).await?,
        _ => {}
    }
    let after = GroupInfo {
        name: applied.name.clone().unwrap_or_else(|| group.name.clone()),
        version: change.seq,
        members: applied.members,
        invited: applied.invited,
        ..group.clone()
    };
    let event =
        membership_event(&state, &caller, (applied.change, applied.users), &group, after.clone(), &signed).await?;
    let result = if after.members.is_empty() {
        state.groups.dismiss_group(&group_id, group.version, event).await
    } else {
        let entry = LogEntry { seq: change.seq, hash: entry_hash(&signed), signed };
        state.groups.update_group(group.version, &after, &entry, event).await
    };
    match result {
        Ok(()) => {}
        Err(StoreError::VersionConflict { current }) => return Err(stale(current)),
        Err(StoreError::NotFound) => return Err(AppError::not_found("No such group.")),
        Err(e) => return Err(e.into()),
    }
    state.metrics.messages_stored.get_or_create(&KindLabels { kind: "membership" }).inc();
    wake_group_event(&state, &group, &after).await;
    Ok(Json(after))
}

/// The group's signed changes for a current member, oldest first, with the member list the
/// server holds now.
#[utoipa::path(get, path = routes::GroupLog::PATH, tag = "groups", security(("bearer" = [])),
    params(("group_id" = String, Path), GroupLogQuery),
    responses((status = 200, body = GroupLogPage), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "not_member"), (status = 404, body = ErrorBody)))]
#[instrument(skip_all, fields(user = %caller.user_id, group = %group_id))]
pub async fn group_log(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(group_id): Path<GroupId>,
    Query(q): Query<GroupLogQuery>,
) -> AppResult<Json<GroupLogPage>> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=MAX_HISTORY_PAGE).contains(&limit) {
        return Err(AppError::invalid_input(format!("`limit` must be 1 to {MAX_HISTORY_PAGE}.")));
    }
    // The member list and the changes from one snapshot, so they describe the same version.
    let (group, mut changes) = state
        .groups
        .group_with_log(&group_id, q.after, limit + 1)
        .await?
        .ok_or_else(|| AppError::not_found("No such group."))?;
    if !reads(&group, &caller.user_id) {
        return Err(AppError::not_member());
    }
    let more = changes.len() > limit as usize;
    changes.truncate(limit as usize);
    Ok(Json(GroupLogPage { changes, more, group }))
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
    Ok(Json(send_group_from(&state, sender, group_id, req).await?))
}

/// A group send from `sender`, over HTTP or the WebSocket alike.
pub async fn send_group_from(
    state: &AppState,
    sender: DeviceAddress,
    group_id: GroupId,
    req: SendGroupRequest,
) -> AppResult<SendReceipt> {
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
        let counted = |d: &DeviceAddress| req.members.as_ref().is_none_or(|members| members.contains(&d.user_id));
        let current: BTreeSet<&DeviceAddress> =
            keyed.iter().filter(|d| **d != sender && recipients.contains(d) && counted(d)).collect();
        if known != current {
            // A retry of a send that was stored before the devices changed is a duplicate.
            if let Some(server_ts) = state.inbox.sent_at(&sender.user_id, &req.message_id).await? {
                state.metrics.duplicate_sends.inc();
                return Ok(SendReceipt { message_id: req.message_id, server_ts, duplicate: true });
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
            body: Box::new(EntryBody::Group { group_id, ciphertext: req.ciphertext }),
            recipients,
        }
        .into(),
    };
    deliver(state, delivery, "group").await
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
