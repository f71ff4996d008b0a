//! Groups: create, look at, add (or invite) and remove members, answer invitations, leave; rename,
//! give roles (and hand ownership over), dismiss.

use sotto_app_macros::command;
use sotto_core::LocalGroup;
use sotto_proto::{GroupId, Role, UserId};
use tauri::State;

use crate::error::{CommandError, CommandResult, ErrorCode};
use crate::parsed::Parsed;
use crate::state::AppState;

fn users(ids: &[String]) -> CommandResult<Vec<UserId>> {
    ids.iter().map(|id| Ok(UserId::parse(id.trim())?)).collect()
}

/// The group as this device knows it after a change (the engine stored the server's answer).
fn local(state: &AppState, group: &GroupId) -> CommandResult<LocalGroup> {
    state
        .client()?
        .group(group)?
        .ok_or_else(|| CommandError::new(ErrorCode::NotFound, "This group is not known on this device."))
}

#[command]
pub async fn create_group(state: State<'_, AppState>, name: String, members: Vec<String>) -> CommandResult<LocalGroup> {
    let name = name.trim();
    if name.is_empty() {
        return Err(CommandError::new(ErrorCode::InvalidInput, "A group needs a name."));
    }
    let info = state.client()?.create_group(name, &users(&members)?).await?;
    local(&state, &info.group_id)
}

/// The group's members, refreshed from the server when it answers.
#[command]
pub async fn group_details(state: State<'_, AppState>, group_id: String) -> CommandResult<LocalGroup> {
    let group = GroupId::parse(group_id)?;
    if let Err(e) = state.client()?.fetch_groups().await {
        tracing::debug!(code = %e.code(), "group list not refreshed; showing what is stored");
    }
    local(&state, &group)
}

#[command]
pub async fn add_members(
    state: State<'_, AppState>,
    group_id: String,
    user_ids: Vec<String>,
) -> CommandResult<LocalGroup> {
    let group = GroupId::parse(group_id)?;
    state.client()?.add_members(&group, &users(&user_ids)?).await?;
    local(&state, &group)
}

#[command]
pub async fn remove_member(state: State<'_, AppState>, group_id: String, user_id: String) -> CommandResult<LocalGroup> {
    let group = GroupId::parse(group_id)?;
    state.client()?.remove_member(&group, &UserId::parse(user_id.trim())?).await?;
    local(&state, &group)
}

#[command]
pub async fn leave_group(state: State<'_, AppState>, group_id: String) -> CommandResult<()> {
    Ok(state.client()?.leave_group(&GroupId::parse(group_id)?).await?)
}

/// Join a group this user is invited to.
#[command]
pub async fn accept_invitation(state: State<'_, AppState>, group_id: String) -> CommandResult<LocalGroup> {
    let group = GroupId::parse(group_id)?;
    state.client()?.accept_invitation(&group).await?;
    local(&state, &group)
}

/// Decline an invitation; the group stays listed as one this user is not in.
#[command]
pub async fn decline_invitation(state: State<'_, AppState>, group_id: String) -> CommandResult<LocalGroup> {
    let group = GroupId::parse(group_id)?;
    state.client()?.decline_invitation(&group).await?;
    local(&state, &group)
}

/// Give the group a new name (admins); members see it and a line saying who changed it.
#[command]
pub async fn rename_group(state: State<'_, AppState>, group_id: String, name: String) -> CommandResult<LocalGroup> {
    let group = GroupId::parse(group_id)?;
    Ok(state.client()?.rename_group(&group, &name).await?)
}

/// Give a member a role (the owner): `admin` or `member`, or `owner` to hand ownership over
/// (this user stays an admin).
#[command]
pub async fn set_member_role(
    state: State<'_, AppState>,
    group_id: String,
    user_id: String,
    role: Parsed<Role>,
) -> CommandResult<LocalGroup> {
    let group = GroupId::parse(group_id)?;
    Ok(state.client()?.set_role(&group, &UserId::parse(user_id.trim())?, *role).await?)
}

/// End the group for everyone (the owner); it stays listed as one this user is not in.
#[command]
pub async fn dismiss_group(state: State<'_, AppState>, group_id: String) -> CommandResult<LocalGroup> {
    let group = GroupId::parse(group_id)?;
    state.client()?.dismiss_group(&group).await?;
    local(&state, &group)
}
