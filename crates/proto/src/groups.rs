//! Groups on the transport side: who is a member, with which role. The group's encryption
//! (Megolm session keys) is entirely the clients' business.

use serde::{Deserialize, Serialize};

use crate::{GroupId, UserId};

/// A member's role. The owner is an admin who also may dismiss the group and change roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Member,
    Admin,
    Owner,
}

impl Role {
    pub fn is_admin(self) -> bool {
        matches!(self, Role::Admin | Role::Owner)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "member" => Some(Role::Member),
            "admin" => Some(Role::Admin),
            "owner" => Some(Role::Owner),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct GroupMember {
    pub user_id: UserId,
    pub role: Role,
}

/// A group as its members see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupInfo {
    pub group_id: GroupId,
    pub name: String,
    /// Incremented by every membership or role change.
    pub version: u64,
    pub created_ts: u64,
    pub members: Vec<GroupMember>,
}

/// `GET /v1/groups`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupList {
    pub groups: Vec<GroupInfo>,
}

/// `POST /v1/groups`: the caller becomes the owner; `members` are added with it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateGroupRequest {
    pub name: String,
    #[serde(default)]
    pub members: Vec<UserId>,
}

/// `POST /v1/groups/{group_id}/members` (admins only).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AddMembersRequest {
    pub user_ids: Vec<UserId>,
}

/// `PUT /v1/groups/{group_id}/members/{user_id}/role` (owner only; `owner` is not grantable).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SetRoleRequest {
    pub role: Role,
}

/// What changed in a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum MembershipChange {
    Created,
    Added,
    Removed,
    Left,
    Dismissed,
    RoleChanged,
}

/// A membership change, delivered as a sequenced inbox entry to every device of every member
/// before and after the change (so a removed member learns it was removed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MembershipEvent {
    pub group_id: GroupId,
    pub change: MembershipChange,
    /// Who made the change.
    pub actor: UserId,
    /// Whom it concerns (added, removed, the one who left, the one whose role changed).
    pub users: Vec<UserId>,
    /// The group after the change (for `dismissed`: its last state, with no members).
    pub group: GroupInfo,
}
