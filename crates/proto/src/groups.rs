//! Groups: who is a member, with which role, as a log of changes that members sign.
//!
//! Every change to a group (creating it, adding, removing, leaving, a role, dismissing it) is a
//! [`GroupChange`] signed by the device of the member who made it ([`SignedGroupChange`]). The
//! changes form a hash chain (`prev`), numbered from 1 (`seq`, which is also the group's
//! `version` after the change). The server checks the signature and the rules, stores the log,
//! keeps its own copy of the member list for routing, and orders concurrent changes; clients
//! verify every change back to its author's master key and compute the members themselves, so a
//! member the server adds on its own gets no key. The group's encryption (Megolm session keys)
//! is entirely the clients' business.

use serde::{Deserialize, Serialize};

use crate::{DeviceId, GroupId, UserId};

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
    /// Users invited and not yet joined (or declined), sorted. They are not members: they get no
    /// messages and no keys, only the group's changes, until they join.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub invited: Vec<UserId>,
}

/// `GET /v1/groups`: the groups the caller is a member of, and those it is invited to (its user
/// id in `invited`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupList {
    pub groups: Vec<GroupInfo>,
}

/// What a change does. Who may make it, checked by the server and by every client against the
/// group as the log had it just before:
/// - `create`: anyone, as the first entry of a new group; the author becomes the owner,
///   `members` are added as members and `invited` are invited. `name` is sealed ([`SEALED_NAME_PREFIX`]: encrypted with a
///   key only members' devices get), so the server stores and serves ciphertext; a plain name
///   is allowed too, for clients that do not seal.
/// - `adopt`: any member, as the first signed entry of a group made before changes were signed;
///   `members` must be the list the server holds, and include the author.
/// - `add`: an admin; none of `users` may be a member already (an invited user is added and no
///   longer invited). The server adds only users who have written to the author, unless it is
///   configured to let anyone be added; everyone else is invited instead.
/// - `invite`: an admin; none of `users` may be a member or invited already.
/// - `join`: an invited user, who becomes a member.
/// - `decline`: an invited user, who is no longer invited.
/// - `remove`: the owner removes an admin or a member, an admin removes a member or withdraws an
///   invitation.
/// - `leave`: a member other than the owner (the owner hands ownership over first), or the last
///   member (which dismisses the group).
/// - `set_role`: the owner, for another member; giving `owner` hands ownership over and makes the
///   author an admin.
/// - `dismiss`: the owner.
/// - `rename`: an admin; the new name sealed like the first one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum GroupAction {
    Create {
        name: String,
        members: Vec<UserId>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        invited: Vec<UserId>,
    },
    Adopt {
        name: String,
        members: Vec<GroupMember>,
    },
    Add {
        users: Vec<UserId>,
    },
    Invite {
        users: Vec<UserId>,
    },
    Join,
    Decline,
    Remove {
        user: UserId,
    },
    Leave,
    SetRole {
        user: UserId,
        role: Role,
    },
    Dismiss,
    Rename {
        name: String,
    },
}

/// One change to a group, as its author's device signs it (as JSON, in
/// [`SignedGroupChange::change`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GroupChange {
    pub group_id: GroupId,
    /// Position in the group's log, one more than the entry before (1 for `create`); the group's
    /// version after this change.
    pub seq: u64,
    /// The hash ([`SignedGroupChange::hash_input`]) of the entry before; absent only for the
    /// first entry of a log (`create`, or `adopt` for an older group).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev: Option<String>,
    /// Who made the change, and with which device and keys.
    pub author: UserId,
    pub device_id: DeviceId,
    pub curve25519: String,
    pub ed25519: String,
    /// The author's self-signing key's confirmation of that device (see
    /// [`crate::DeviceConfirmation`]), so the change stays checkable after the device is gone.
    pub confirmation: String,
    /// The author's clock when signing, milliseconds since the Unix epoch.
    pub ts: u64,
    pub action: GroupAction,
}

/// A [`GroupChange`] and its author device's signature. Body of `POST /v1/groups` (a `create`)
/// and `POST /v1/groups/{group_id}/changes` (any other change), and an entry of the group's log.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SignedGroupChange {
    /// The [`GroupChange`] as JSON, exactly as signed.
    pub change: String,
    /// Ed25519 signature by the change's `ed25519` key over [`SignedGroupChange::signing_bytes`]
    /// (unpadded base64).
    pub signature: String,
}

impl SignedGroupChange {
    /// The exact bytes the author's device signs.
    pub fn signing_bytes(change: &str) -> Vec<u8> {
        format!("sotto-group-change-v1\n{change}").into_bytes()
    }

    /// What an entry's hash is taken over: its signed bytes. The hash (the next entry's `prev`)
    /// is the unpadded base64 of their SHA-256.
    pub fn hash_input(&self) -> Vec<u8> {
        Self::signing_bytes(&self.change)
    }
}

/// The query of `GET /v1/groups/{group_id}/changes`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
pub struct GroupLogQuery {
    /// Entries with a larger `seq` than this (default 0: from the first).
    #[serde(default)]
    pub after: u64,
    /// At most this many entries (1 to 500, default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// `GET /v1/groups/{group_id}/changes`: the group's signed changes in order, with the member list
/// the server holds now (which clients compare with the one they computed).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupLogPage {
    pub changes: Vec<SignedGroupChange>,
    /// More entries follow the last one returned.
    pub more: bool,
    pub group: GroupInfo,
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
    /// `users` were invited.
    Invited,
    /// An invited user joined (`users`: them).
    Joined,
    /// An invited user declined (`users`: them).
    Declined,
    /// An admin withdrew the invitation of `users`.
    InvitationWithdrawn,
    /// An admin gave the group a new (sealed) name.
    Renamed,
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
    /// The signed change itself, which clients verify; everything above is the server's
    /// description of it. Absent only in events from before changes were signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed: Option<SignedGroupChange>,
}

/// Why a change is not allowed, as the rules in [`GroupAction`] say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleViolation {
    /// The author is not a member.
    NotMember,
    /// Only an admin (or the owner) may do this.
    NotAdmin,
    /// Only the owner may do this.
    NotOwner,
    /// `create`/`adopt` where the group already has changes, or another change where it has none.
    NotFirst,
    /// Someone to add is a member already, or someone named is not a member.
    AlreadyMember(UserId),
    NotAMember(UserId),
    /// Someone to invite is invited already; the author of a `join` or `decline` is not invited.
    AlreadyInvited(UserId),
    NotInvited,
    /// The owner tried to leave while others remain.
    OwnerMustHandOver,
    /// Nobody to add, the author listed among those added, a name twice, or a list that does
    /// not make a valid group.
    BadList(&'static str),
    TooManyMembers,
    BadName,
}

impl std::fmt::Display for RuleViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RuleViolation::NotMember => write!(f, "its author is not a member of the group"),
            RuleViolation::NotAdmin => write!(f, "only an admin of the group may do this"),
            RuleViolation::NotOwner => write!(f, "only the owner of the group may do this"),
            RuleViolation::NotFirst => write!(f, "it does not fit where it stands in the group's changes"),
            RuleViolation::AlreadyMember(user) => write!(f, "{user} is already a member"),
            RuleViolation::NotAMember(user) => write!(f, "{user} is not a member"),
            RuleViolation::AlreadyInvited(user) => write!(f, "{user} is already invited"),
            RuleViolation::NotInvited => write!(f, "its author is not invited to the group"),
            RuleViolation::OwnerMustHandOver => write!(
                f,
                "the owner cannot leave while others remain: make someone else the owner, or dismiss the group"
            ),
            RuleViolation::BadList(why) => write!(f, "{why}"),
            RuleViolation::TooManyMembers => {
                write!(f, "a group has at most {} members", crate::limits::MAX_GROUP_MEMBERS)
            }
            RuleViolation::BadName => write!(
                f,
                "a group name must be 1 to {} characters, without control characters or spaces around it",
                crate::limits::MAX_GROUP_NAME_CHARS
            ),
        }
    }
}

impl RuleViolation {
    /// The reason as a sentence of its own, for an error message ("Only the owner … may do this.").
    /// `Display` gives it as a clause, to go inside another sentence.
    pub fn sentence(&self) -> String {
        let text = self.to_string();
        let mut chars = text.chars();
        chars.next().map(|c| c.to_uppercase().chain(chars).collect::<String>() + ".").unwrap_or_default()
    }
}

/// A change applied to a group's members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub change: MembershipChange,
    /// Whom it concerns (added, removed, the one who left, the one whose role changed; for a
    /// dismissal, everyone).
    pub users: Vec<UserId>,
    /// The members after it, sorted by user id; empty once the group is dismissed.
    pub members: Vec<GroupMember>,
    /// Who is invited after it, sorted.
    pub invited: Vec<UserId>,
    /// The group's name, when the change sets it.
    pub name: Option<String>,
}

/// How a sealed group name begins; what follows is unpadded base64 of the nonce and the
/// ciphertext (the clients' business).
pub const SEALED_NAME_PREFIX: &str = "sealed:v1:";

/// Whether `name` is a sealed group name: the prefix, then base64, at most
/// [`crate::limits::MAX_SEALED_GROUP_NAME_CHARS`] characters in all.
pub fn is_sealed_name(name: &str) -> bool {
    name.len() <= crate::limits::MAX_SEALED_GROUP_NAME_CHARS
        && name.strip_prefix(SEALED_NAME_PREFIX).is_some_and(|b64| {
            !b64.is_empty() && b64.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
        })
}

/// Whether `name` is a group name as the server stores it (trimmed, 1 to 128 characters).
pub fn valid_group_name(name: &str) -> bool {
    name == name.trim()
        && !name.is_empty()
        && name.chars().count() <= crate::limits::MAX_GROUP_NAME_CHARS
        && !name.chars().any(char::is_control)
}

fn sorted(mut members: Vec<GroupMember>) -> Vec<GroupMember> {
    members.sort_by(|a, b| a.user_id.cmp(&b.user_id));
    members
}

fn sorted_ids(mut users: Vec<UserId>) -> Vec<UserId> {
    users.sort();
    users
}

fn distinct<'a>(users: impl Iterator<Item = &'a UserId>) -> bool {
    let mut seen = std::collections::BTreeSet::new();
    users.into_iter().all(|u| seen.insert(u))
}

/// What the rules read of a group: its members and who is invited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roster<'a> {
    pub members: &'a [GroupMember],
    pub invited: &'a [UserId],
}

impl<'a> Roster<'a> {
    /// Members only, nobody invited.
    pub fn members(members: &'a [GroupMember]) -> Self {
        Roster { members, invited: &[] }
    }
}

/// The rules of [`GroupAction`], shared by the server and every client: applies `action` by
/// `author` to a group as `current` has it (`None`: the group has no signed change yet).
/// `adopt` is checked here as a first entry only; the server also checks its list against the
/// one it holds.
pub fn apply_action(
    current: Option<Roster<'_>>,
    author: &UserId,
    action: &GroupAction,
) -> Result<Applied, RuleViolation> {
    use crate::limits::MAX_GROUP_MEMBERS;
    let Roster { members, invited } = match (current, action) {
        (None, GroupAction::Create { .. } | GroupAction::Adopt { .. }) => Roster { members: &[], invited: &[] },
        (Some(_), GroupAction::Create { .. } | GroupAction::Adopt { .. }) | (None, _) => {
            return Err(RuleViolation::NotFirst);
        }
        (Some(roster), _) => roster,
    };
    let role = members.iter().find(|m| m.user_id == *author).map(|m| m.role);
    let role_of = |user: &UserId| members.iter().find(|m| m.user_id == *user).map(|m| m.role);
    let is_invited = |user: &UserId| invited.contains(user);
    let applied = |change, users, members, invited: Vec<UserId>, name| {
        Ok(Applied { change, users, members: sorted(members), invited: sorted_ids(invited), name })
    };
    let invited_but = |gone: &[UserId]| invited.iter().filter(|u| !gone.contains(u)).cloned().collect::<Vec<_>>();
    match action {
        GroupAction::Create { name, members: added, invited: asked } => {
            if !valid_group_name(name) && !is_sealed_name(name) {
                return Err(RuleViolation::BadName);
            }
            if added.contains(author) || asked.contains(author) || !distinct(added.iter().chain(asked.iter())) {
                return Err(RuleViolation::BadList(
                    "the members and invited of a new group are named once each, without its creator",
                ));
            }
            if added.len() + asked.len() + 1 > MAX_GROUP_MEMBERS {
                return Err(RuleViolation::TooManyMembers);
            }
            let mut all: Vec<GroupMember> =
                added.iter().map(|u| GroupMember { user_id: u.clone(), role: Role::Member }).collect();
            all.push(GroupMember { user_id: author.clone(), role: Role::Owner });
            applied(MembershipChange::Created, added.clone(), all, asked.clone(), Some(name.clone()))
        }
        GroupAction::Adopt { name, members: listed } => {
            if !valid_group_name(name) {
                return Err(RuleViolation::BadName);
            }
            if !distinct(listed.iter().map(|m| &m.user_id))
                || listed.iter().filter(|m| m.role == Role::Owner).count() > 1
            {
                return Err(RuleViolation::BadList("a member list names everyone once and at most one owner"));
            }
            if !listed.iter().any(|m| m.user_id == *author) {
                return Err(RuleViolation::NotMember);
            }
            if listed.len() > MAX_GROUP_MEMBERS {
                return Err(RuleViolation::TooManyMembers);
            }
            let users = listed.iter().map(|m| m.user_id.clone()).collect();
            applied(MembershipChange::Created, users, listed.clone(), Vec::new(), Some(name.clone()))
        }
        // An invited user's own answers: they are not members yet.
        GroupAction::Join | GroupAction::Decline if role.is_some() => Err(RuleViolation::NotInvited),
        GroupAction::Join | GroupAction::Decline if !is_invited(author) => Err(RuleViolation::NotInvited),
        GroupAction::Join => {
            let mut after = members.to_vec();
            after.push(GroupMember { user_id: author.clone(), role: Role::Member });
            let still = invited_but(std::slice::from_ref(author));
            applied(MembershipChange::Joined, vec![author.clone()], after, still, None)
        }
        GroupAction::Decline => {
            let still = invited_but(std::slice::from_ref(author));
            applied(MembershipChange::Declined, vec![author.clone()], members.to_vec(), still, None)
        }
        _ if role.is_none() => Err(RuleViolation::NotMember),
        GroupAction::Add { users } => {
            if !role.is_some_and(Role::is_admin) {
                return Err(RuleViolation::NotAdmin);
            }
            if users.is_empty() || !distinct(users.iter()) {
                return Err(RuleViolation::BadList("name everyone to add once"));
            }
            if let Some(user) = users.iter().find(|u| role_of(u).is_some()) {
                return Err(RuleViolation::AlreadyMember(user.clone()));
            }
            let still = invited_but(users);
            if members.len() + users.len() + still.len() > MAX_GROUP_MEMBERS {
                return Err(RuleViolation::TooManyMembers);
            }
            let mut after = members.to_vec();
            after.extend(users.iter().map(|u| GroupMember { user_id: u.clone(), role: Role::Member }));
            applied(MembershipChange::Added, users.clone(), after, still, None)
        }
        GroupAction::Invite { users } => {
            if !role.is_some_and(Role::is_admin) {
                return Err(RuleViolation::NotAdmin);
            }
            if users.is_empty() || !distinct(users.iter()) {
                return Err(RuleViolation::BadList("name everyone to invite once"));
            }
            if let Some(user) = users.iter().find(|u| role_of(u).is_some()) {
                return Err(RuleViolation::AlreadyMember(user.clone()));
            }
            if let Some(user) = users.iter().find(|u| is_invited(u)) {
                return Err(RuleViolation::AlreadyInvited(user.clone()));
            }
            if members.len() + invited.len() + users.len() > MAX_GROUP_MEMBERS {
                return Err(RuleViolation::TooManyMembers);
            }
            let mut after = invited.to_vec();
            after.extend(users.iter().cloned());
            applied(MembershipChange::Invited, users.clone(), members.to_vec(), after, None)
        }
        GroupAction::Remove { user } if is_invited(user) => {
            if !role.is_some_and(Role::is_admin) {
                return Err(RuleViolation::NotAdmin);
            }
            let still = invited_but(std::slice::from_ref(user));
            applied(MembershipChange::InvitationWithdrawn, vec![user.clone()], members.to_vec(), still, None)
        }
        GroupAction::Remove { user } => {
            let target = role_of(user).ok_or_else(|| RuleViolation::NotAMember(user.clone()))?;
            if user == author {
                return Err(RuleViolation::BadList("to leave a group, leave it"));
            }
            match (role, target) {
                (Some(Role::Owner), Role::Admin | Role::Member) | (Some(Role::Admin), Role::Member) => {}
                (Some(Role::Admin), _) | (_, Role::Owner) => return Err(RuleViolation::NotOwner),
                _ => return Err(RuleViolation::NotAdmin),
            }
            let after = members.iter().filter(|m| m.user_id != *user).cloned().collect();
            applied(MembershipChange::Removed, vec![user.clone()], after, invited.to_vec(), None)
        }
        GroupAction::Leave => {
            if members.len() == 1 {
                return applied(MembershipChange::Dismissed, vec![author.clone()], Vec::new(), Vec::new(), None);
            }
            if role == Some(Role::Owner) {
                return Err(RuleViolation::OwnerMustHandOver);
            }
            let after = members.iter().filter(|m| m.user_id != *author).cloned().collect();
            applied(MembershipChange::Left, vec![author.clone()], after, invited.to_vec(), None)
        }
        GroupAction::SetRole { user, role: new_role } => {
            if role != Some(Role::Owner) {
                return Err(RuleViolation::NotOwner);
            }
            if user == author {
                return Err(RuleViolation::BadList("the owner's role changes only by making someone else the owner"));
            }
            role_of(user).ok_or_else(|| RuleViolation::NotAMember(user.clone()))?;
            let after = members
                .iter()
                .map(|m| match () {
                    () if m.user_id == *user => GroupMember { user_id: m.user_id.clone(), role: *new_role },
                    // Handing over ownership: the old owner stays an admin.
                    () if m.user_id == *author && *new_role == Role::Owner => {
                        GroupMember { user_id: m.user_id.clone(), role: Role::Admin }
                    }
                    () => m.clone(),
                })
                .collect();
            applied(MembershipChange::RoleChanged, vec![user.clone()], after, invited.to_vec(), None)
        }
        GroupAction::Rename { name } => {
            if !role.is_some_and(Role::is_admin) {
                return Err(RuleViolation::NotAdmin);
            }
            if !is_sealed_name(name) {
                return Err(RuleViolation::BadList("a group's new name is sealed"));
            }
            applied(MembershipChange::Renamed, Vec::new(), members.to_vec(), invited.to_vec(), Some(name.clone()))
        }
        GroupAction::Dismiss => {
            if role != Some(Role::Owner) {
                return Err(RuleViolation::NotOwner);
            }
            let everyone = members.iter().map(|m| m.user_id.clone()).collect();
            applied(MembershipChange::Dismissed, everyone, Vec::new(), Vec::new(), None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(name: &str) -> UserId {
        UserId::parse(name).unwrap()
    }

    fn group() -> Vec<GroupMember> {
        vec![
            GroupMember { user_id: u("alice"), role: Role::Owner },
            GroupMember { user_id: u("bob"), role: Role::Admin },
            GroupMember { user_id: u("carol"), role: Role::Member },
        ]
    }

    fn roles(applied: &Applied) -> Vec<(String, Role)> {
        applied.members.iter().map(|m| (m.user_id.to_string(), m.role)).collect()
    }

    #[test]
    fn create_makes_the_author_owner_and_only_comes_first() {
        let create = GroupAction::Create { name: "team".into(), members: vec![u("carol"), u("bob")], invited: vec![] };
        let done = apply_action(None, &u("alice"), &create).unwrap();
        assert_eq!(
            roles(&done),
            [("alice".into(), Role::Owner), ("bob".into(), Role::Member), ("carol".into(), Role::Member)]
        );
        assert_eq!(done.name.as_deref(), Some("team"));
        assert_eq!(apply_action(Some(Roster::members(&group())), &u("alice"), &create), Err(RuleViolation::NotFirst));
        assert_eq!(apply_action(None, &u("alice"), &GroupAction::Leave), Err(RuleViolation::NotFirst));
        let twice = GroupAction::Create { name: "team".into(), members: vec![u("bob"), u("bob")], invited: vec![] };
        assert!(matches!(apply_action(None, &u("alice"), &twice), Err(RuleViolation::BadList(_))));
        let untrimmed = GroupAction::Create { name: " team".into(), members: vec![], invited: vec![] };
        assert_eq!(apply_action(None, &u("alice"), &untrimmed), Err(RuleViolation::BadName));
        // Sealed names are longer than plain ones may be.
        let sealed =
            GroupAction::Create { name: format!("sealed:v1:{}", "A".repeat(500)), members: vec![], invited: vec![] };
        assert!(apply_action(None, &u("alice"), &sealed).is_ok());
        assert!(
            is_sealed_name("sealed:v1:q83v+EjRW/eJA")
                && !is_sealed_name("sealed:v1:")
                && !is_sealed_name("sealed:v1:a b")
        );
        let not_base64 =
            GroupAction::Create { name: format!("sealed:v1:{}!", "A".repeat(500)), members: vec![], invited: vec![] };
        assert_eq!(apply_action(None, &u("alice"), &not_base64), Err(RuleViolation::BadName));
        let long = format!("sealed:v1:{}", "A".repeat(1024));
        let action = GroupAction::Create { name: long, members: vec![], invited: vec![] };
        assert_eq!(apply_action(None, &u("alice"), &action), Err(RuleViolation::BadName));
    }

    #[test]
    fn adopt_needs_the_author_in_the_list() {
        let adopt = GroupAction::Adopt { name: "old".into(), members: group() };
        assert!(apply_action(None, &u("carol"), &adopt).is_ok());
        assert_eq!(apply_action(None, &u("mallory"), &adopt), Err(RuleViolation::NotMember));
        let two_owners = GroupAction::Adopt {
            name: "old".into(),
            members: vec![
                GroupMember { user_id: u("alice"), role: Role::Owner },
                GroupMember { user_id: u("bob"), role: Role::Owner },
            ],
        };
        assert!(matches!(apply_action(None, &u("alice"), &two_owners), Err(RuleViolation::BadList(_))));
    }

    #[test]
    fn roles_decide_who_may_add_and_remove() {
        let g = group();
        let add = GroupAction::Add { users: vec![u("dave")] };
        assert_eq!(apply_action(Some(Roster::members(&g)), &u("carol"), &add), Err(RuleViolation::NotAdmin));
        assert_eq!(apply_action(Some(Roster::members(&g)), &u("mallory"), &add), Err(RuleViolation::NotMember));
        assert_eq!(apply_action(Some(Roster::members(&g)), &u("bob"), &add).unwrap().members.len(), 4);
        let again = GroupAction::Add { users: vec![u("carol")] };
        assert_eq!(
            apply_action(Some(Roster::members(&g)), &u("alice"), &again),
            Err(RuleViolation::AlreadyMember(u("carol")))
        );

        let remove = |who: &str| GroupAction::Remove { user: u(who) };
        assert_eq!(apply_action(Some(Roster::members(&g)), &u("bob"), &remove("carol")).unwrap().members.len(), 2);
        assert_eq!(apply_action(Some(Roster::members(&g)), &u("bob"), &remove("alice")), Err(RuleViolation::NotOwner));
        assert_eq!(apply_action(Some(Roster::members(&g)), &u("carol"), &remove("bob")), Err(RuleViolation::NotAdmin));
        assert_eq!(apply_action(Some(Roster::members(&g)), &u("alice"), &remove("bob")).unwrap().users, [u("bob")]);
        assert_eq!(
            apply_action(Some(Roster::members(&g)), &u("alice"), &remove("dave")),
            Err(RuleViolation::NotAMember(u("dave")))
        );
    }

    #[test]
    fn the_owner_hands_over_before_leaving_and_alone_dismisses() {
        let g = group();
        assert_eq!(
            apply_action(Some(Roster::members(&g)), &u("alice"), &GroupAction::Leave),
            Err(RuleViolation::OwnerMustHandOver)
        );
        assert_eq!(
            apply_action(Some(Roster::members(&g)), &u("carol"), &GroupAction::Leave).unwrap().change,
            MembershipChange::Left
        );
        let hand_over = GroupAction::SetRole { user: u("carol"), role: Role::Owner };
        let done = apply_action(Some(Roster::members(&g)), &u("alice"), &hand_over).unwrap();
        assert_eq!(
            roles(&done),
            [("alice".into(), Role::Admin), ("bob".into(), Role::Admin), ("carol".into(), Role::Owner)]
        );
        assert_eq!(apply_action(Some(Roster::members(&g)), &u("bob"), &hand_over), Err(RuleViolation::NotOwner));
        let alone = [GroupMember { user_id: u("alice"), role: Role::Owner }];
        let gone = apply_action(Some(Roster::members(&alone)), &u("alice"), &GroupAction::Leave).unwrap();
        assert_eq!((gone.change, gone.members.len()), (MembershipChange::Dismissed, 0));
        assert_eq!(
            apply_action(Some(Roster::members(&g)), &u("bob"), &GroupAction::Dismiss),
            Err(RuleViolation::NotOwner)
        );
    }

    #[test]
    fn invitations_are_answered_by_the_invited_only() {
        let g = group();
        let invite = GroupAction::Invite { users: vec![u("dave"), u("erin")] };
        assert_eq!(apply_action(Some(Roster::members(&g)), &u("carol"), &invite), Err(RuleViolation::NotAdmin));
        let done = apply_action(Some(Roster::members(&g)), &u("bob"), &invite).unwrap();
        assert_eq!(
            (done.change, done.invited.clone(), done.members.len()),
            (MembershipChange::Invited, vec![u("dave"), u("erin")], 3)
        );
        let invited = done.invited;
        let roster = Roster { members: &g, invited: &invited };
        assert_eq!(
            apply_action(Some(roster), &u("alice"), &GroupAction::Invite { users: vec![u("dave")] }),
            Err(RuleViolation::AlreadyInvited(u("dave")))
        );
        assert_eq!(
            apply_action(Some(roster), &u("alice"), &GroupAction::Invite { users: vec![u("carol")] }),
            Err(RuleViolation::AlreadyMember(u("carol")))
        );
        // Only the invited answer, and only for themselves.
        assert_eq!(apply_action(Some(roster), &u("mallory"), &GroupAction::Join), Err(RuleViolation::NotInvited));
        assert_eq!(apply_action(Some(roster), &u("carol"), &GroupAction::Join), Err(RuleViolation::NotInvited));
        let joined = apply_action(Some(roster), &u("dave"), &GroupAction::Join).unwrap();
        assert_eq!(
            (joined.change, joined.users.clone(), joined.invited.clone()),
            (MembershipChange::Joined, vec![u("dave")], vec![u("erin")])
        );
        assert!(joined.members.iter().any(|m| m.user_id == u("dave") && m.role == Role::Member));
        let declined = apply_action(Some(roster), &u("erin"), &GroupAction::Decline).unwrap();
        assert_eq!(
            (declined.change, declined.invited, declined.members.len()),
            (MembershipChange::Declined, vec![u("dave")], 3)
        );
        // An invited user is not a member: it cannot act in the group.
        assert_eq!(apply_action(Some(roster), &u("dave"), &GroupAction::Leave), Err(RuleViolation::NotMember));
        // An admin withdraws an invitation, or adds the invited user directly.
        let withdrawn = apply_action(Some(roster), &u("bob"), &GroupAction::Remove { user: u("erin") }).unwrap();
        assert_eq!((withdrawn.change, withdrawn.invited), (MembershipChange::InvitationWithdrawn, vec![u("dave")]));
        assert_eq!(
            apply_action(Some(roster), &u("carol"), &GroupAction::Remove { user: u("erin") }),
            Err(RuleViolation::NotAdmin)
        );
        let added = apply_action(Some(roster), &u("alice"), &GroupAction::Add { users: vec![u("erin")] }).unwrap();
        assert_eq!((added.members.len(), added.invited), (4, vec![u("dave")]));
        // An admin renames the group, with a sealed name only; members stay as they are.
        let sealed = format!("{SEALED_NAME_PREFIX}AAAA");
        let renamed = apply_action(Some(roster), &u("bob"), &GroupAction::Rename { name: sealed.clone() }).unwrap();
        assert_eq!(
            (renamed.change, renamed.name, renamed.members.len()),
            (MembershipChange::Renamed, Some(sealed.clone()), 3)
        );
        assert_eq!(
            apply_action(Some(roster), &u("carol"), &GroupAction::Rename { name: sealed }),
            Err(RuleViolation::NotAdmin)
        );
        assert!(matches!(
            apply_action(Some(roster), &u("bob"), &GroupAction::Rename { name: "plain".into() }),
            Err(RuleViolation::BadList(_))
        ));
        // Dismissing the group ends every invitation.
        let gone = apply_action(Some(roster), &u("alice"), &GroupAction::Dismiss).unwrap();
        assert!(gone.members.is_empty() && gone.invited.is_empty());
    }

    #[test]
    fn a_new_group_may_invite_some_and_add_others() {
        let create = GroupAction::Create { name: "team".into(), members: vec![u("bob")], invited: vec![u("carol")] };
        let done = apply_action(None, &u("alice"), &create).unwrap();
        assert_eq!((done.members.len(), done.invited.clone()), (2, vec![u("carol")]));
        let both = GroupAction::Create { name: "team".into(), members: vec![u("bob")], invited: vec![u("bob")] };
        assert!(matches!(apply_action(None, &u("alice"), &both), Err(RuleViolation::BadList(_))));
        let me = GroupAction::Create { name: "team".into(), members: vec![], invited: vec![u("alice")] };
        assert!(matches!(apply_action(None, &u("alice"), &me), Err(RuleViolation::BadList(_))));
    }
}
