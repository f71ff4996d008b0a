//! Group management: every change is signed by this device and checked by every member (see
//! [`super::group_log`]); a removal or departure starts a new Megolm session the removed member
//! never gets.

use sotto_proto::routes;
use sotto_proto::{GroupAction, GroupId, GroupMember, Role, UserId};

use super::Client;
use crate::crypto::group_name::{new_name_key, seal_name};
use crate::crypto::payload::OlmContent;
use crate::store::{ConversationKind, LocalGroup, StoreError};
use crate::{Error, Result};

impl Client {
    /// Create a group with this user as owner and `members` added — those who have written to
    /// this user; the server has the others invited instead (unless it lets anyone be added),
    /// and they join when they accept.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn create_group(&self, name: &str, members: &[UserId]) -> Result<LocalGroup> {
        let name = name.trim();
        if !sotto_proto::valid_group_name(name) {
            return Err(Error::InvalidInput(format!(
                "A group name must be 1 to {} characters, without control characters.",
                sotto_proto::limits::MAX_GROUP_NAME_CHARS
            )));
        }
        let me = self.inner.own.user_id.clone();
        let mut members: Vec<UserId> = members.iter().filter(|u| **u != me).cloned().collect();
        members.sort();
        members.dedup();
        // Random (122 bits): the creator picks it, as it is part of what the creator signs.
        let group_id = GroupId::parse(uuid::Uuid::new_v4().simple().to_string())
            .map_err(crate::crypto::CryptoError::GeneratedId)?;
        // The name is sealed: the server stores ciphertext, members get the key with the
        // group's Megolm key.
        let name_key = new_name_key()?;
        let sealed = seal_name(&name_key, &group_id, name)?;
        self.transact(|_, db| db.save_group_name_key(&group_id, &name_key))?;
        let create = |members: Vec<UserId>, invited: Vec<UserId>| {
            self.sign_change(&group_id, 1, None, GroupAction::Create { name: sealed.clone(), members, invited })
        };
        let mut signed = create(members.clone(), Vec::new())?;
        if let Err(e) = self.call::<routes::CreateGroup>(&(), &signed).await {
            let strangers = invitation_required(&e, &members).ok_or(e)?;
            let added = members.iter().filter(|u| !strangers.contains(u)).cloned().collect();
            signed = create(added, strangers.clone())?;
            self.call::<routes::CreateGroup>(&(), &signed).await?;
            self.apply_own(&group_id, &signed)?;
            self.tell_invitees_the_name(&group_id, &strangers).await;
        } else {
            self.apply_own(&group_id, &signed)?;
        }
        self.share_now(&group_id).await;
        self.read(|db| db.group(&group_id))?.ok_or(Error::NotMember)
    }

    /// Give the devices of people just invited the key to the group's name, so the invitation
    /// says what they are invited to (they get the group's messages only once they join). Their
    /// devices they have not confirmed get nothing of it. A failure is only logged: the
    /// invitation stands, shown with a stand-in name.
    async fn tell_invitees_the_name(&self, group: &GroupId, invitees: &[UserId]) {
        let key = match self.read(|db| db.group_name_key(group)) {
            Ok(Some(key)) => key,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the group's name key");
                return;
            }
        };
        let content = OlmContent::GroupNameKey { group_id: group.clone(), name_key: key.to_string() };
        for user in invitees {
            let told = async {
                self.ensure_devices(std::slice::from_ref(user), i64::MAX).await?;
                self.send_olm(user, &content).await
            };
            if let Err(e) = told.await {
                tracing::warn!(error = %e, "could not tell an invitee the group's name; they see a stand-in");
            }
        }
    }

    /// Give the members' devices the group's key (and so its name) now rather than with the
    /// first message. A failure is only logged: the next send shares it.
    async fn share_now(&self, group: &GroupId) {
        if let Err(e) = self.share_group_session(group).await {
            tracing::warn!(error = %e, group = %group, "could not share the group's key yet; the next message will");
        }
    }

    /// Add `users` to a group: those who have written to this user are added, the others are
    /// invited (unless the server lets anyone be added) and join when they accept.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn add_members(&self, group: &GroupId, users: &[UserId]) -> Result<LocalGroup> {
        let mut users = users.to_vec();
        users.sort();
        users.dedup();
        let not_in = |local: &LocalGroup, invited_too: bool| -> Vec<UserId> {
            users
                .iter()
                .filter(|u| !(local.member_ids().contains(u) || (invited_too && local.is_invited(u))))
                .cloned()
                .collect()
        };
        let added = self
            .change_group(group, |local| {
                let new = not_in(local, false);
                if new.is_empty() {
                    return Err(Error::InvalidInput("Everyone named is already a member.".into()));
                }
                Ok(GroupAction::Add { users: new })
            })
            .await;
        let strangers = match added {
            Ok(_) => Vec::new(),
            Err(e) => invitation_required(&e, &users).ok_or(e)?,
        };
        if !strangers.is_empty() {
            let known: Vec<UserId> = users.iter().filter(|u| !strangers.contains(u)).cloned().collect();
            let add_known = self
                .change_group(group, |local| {
                    let new: Vec<UserId> = not_in(local, false).into_iter().filter(|u| known.contains(u)).collect();
                    if new.is_empty() {
                        return Err(Error::InvalidInput("nobody left to add".into()));
                    }
                    Ok(GroupAction::Add { users: new })
                })
                .await;
            match add_known {
                Ok(_) | Err(Error::InvalidInput(_)) => {}
                Err(e) => return Err(e),
            }
            self.change_group(group, |local| {
                let new: Vec<UserId> = not_in(local, true).into_iter().filter(|u| strangers.contains(u)).collect();
                if new.is_empty() {
                    return Err(Error::InvalidInput("Everyone named is already a member or invited.".into()));
                }
                Ok(GroupAction::Invite { users: new })
            })
            .await?;
            self.tell_invitees_the_name(group, &strangers).await;
        }
        self.share_now(group).await;
        self.read(|db| db.group(group))?.ok_or(Error::NotMember)
    }

    /// Join a group this user is invited to. Messages sent from now on are readable here (each
    /// member's device shares its key with the new member's devices as it next sends).
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn accept_invitation(&self, group: &GroupId) -> Result<LocalGroup> {
        self.change_group(group, |_| Ok(GroupAction::Join)).await.map_err(no_invitation)
    }

    /// Decline an invitation to a group.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn decline_invitation(&self, group: &GroupId) -> Result<()> {
        self.change_group(group, |_| Ok(GroupAction::Decline)).await.map_err(no_invitation)?;
        Ok(())
    }

    /// Groups this user is invited to and has not answered, as this device knows them.
    pub fn invitations(&self) -> Result<Vec<LocalGroup>> {
        let me = &self.inner.own.user_id;
        Ok(self.read(|db| db.groups())?.into_iter().filter(|g| !g.joined && g.is_invited(me)).collect())
    }

    /// Remove a member. The next message this device sends to the group uses a new key the
    /// removed member never gets.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn remove_member(&self, group: &GroupId, user: &UserId) -> Result<LocalGroup> {
        let local = self.change_group(group, |_| Ok(GroupAction::Remove { user: user.clone() })).await?;
        self.transact(|_, db| db.discard_outbound_group(group))?;
        Ok(local)
    }

    /// Leave a group; its last member dismisses it by leaving. The owner first hands ownership
    /// to an admin (the first listed), or if there is none to the first other member: the group
    /// goes on without them, as it would after a `set_role` and a `leave`.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn leave_group(&self, group: &GroupId) -> Result<()> {
        let local = self.sync_group_log(group).await?;
        let own = self.user_id().clone();
        let is_owner = local.members.iter().any(|m| m.user_id == own && m.role == Role::Owner);
        let others = local.members.iter().filter(|m| m.user_id != own);
        let successor =
            others.clone().find(|m| m.role == Role::Admin).or_else(|| others.clone().next()).map(|m| m.user_id.clone());
        if is_owner && let Some(successor) = successor {
            tracing::info!(group = %group, "the owner leaves: ownership goes to another member first");
            self.set_role(group, &successor, Role::Owner).await?;
        }
        self.change_group(group, |_| Ok(GroupAction::Leave)).await?;
        self.transact(|_, db| db.discard_outbound_group(group))?;
        Ok(())
    }

    /// Give the group a new name (admins only), sealed with the group's name key like the
    /// first: the server stores ciphertext, members see the name and a line saying who changed it.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn rename_group(&self, group: &GroupId, name: &str) -> Result<LocalGroup> {
        let name = name.trim();
        if !sotto_proto::valid_group_name(name) {
            return Err(Error::InvalidInput(format!(
                "A group name must be 1 to {} characters, without control characters.",
                sotto_proto::limits::MAX_GROUP_NAME_CHARS
            )));
        }
        let key = self
            .read(|db| db.group_name_key(group))?
            .ok_or_else(|| Error::InvalidInput("This device does not have the group's name key yet.".into()))?;
        let sealed = seal_name(&key, group, name)?;
        self.change_group(group, |_| Ok(GroupAction::Rename { name: sealed.clone() })).await
    }

    /// Give a member a role (owner only); making someone the owner hands ownership over and
    /// leaves this user an admin.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn set_role(&self, group: &GroupId, user: &UserId, role: Role) -> Result<LocalGroup> {
        self.change_group(group, |_| Ok(GroupAction::SetRole { user: user.clone(), role })).await
    }

    /// Dismiss a group (owner only): it ends for everyone.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn dismiss_group(&self, group: &GroupId) -> Result<()> {
        self.change_group(group, |_| Ok(GroupAction::Dismiss)).await?;
        self.transact(|_, db| db.discard_outbound_group(group))?;
        Ok(())
    }

    /// Groups this user is in, each brought up to date from its signed changes (invitations are
    /// brought up to date too; [`Client::invitations`] lists them).
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn fetch_groups(&self) -> Result<Vec<LocalGroup>> {
        let list = self.call::<routes::ListGroups>(&(), &()).await?;
        let mut groups = Vec::with_capacity(list.groups.len());
        for info in &list.groups {
            let known = self.read(|db| db.group_head(&info.group_id))?;
            let local = match known {
                // Up to date: only compare the member lists.
                Some((seq, _)) if seq == info.version => {
                    let local = self.read(|db| db.group(&info.group_id))?.ok_or(Error::NotMember)?;
                    self.compare_members(&local, info)?;
                    local
                }
                _ => match self.sync_group_log(&info.group_id).await {
                    Ok(local) => local,
                    Err(Error::NotMember) => continue,
                    Err(e) => return Err(e),
                },
            };
            if local.joined {
                groups.push(local);
            }
        }
        Ok(groups)
    }

    /// The group as this device last saw it.
    pub fn group(&self, group: &GroupId) -> Result<Option<LocalGroup>> {
        self.read(|db| db.group(group))
    }

    /// Find a group this device knows by id or by exact name.
    pub fn find_group(&self, id_or_name: &str) -> Result<LocalGroup> {
        if let Ok(id) = GroupId::parse(id_or_name)
            && let Some(g) = self.group(&id)?
        {
            return Ok(g);
        }
        let conversations = self.conversations()?;
        let matches: Vec<&crate::Conversation> =
            conversations.iter().filter(|c| c.kind == ConversationKind::Group && c.title == id_or_name).collect();
        match matches.as_slice() {
            [one] => {
                let id = GroupId::parse(one.peer.as_str()).map_err(StoreError::id("conversations", "peer"))?;
                self.group(&id)?.ok_or(Error::NotMember)
            }
            [] => Err(Error::InvalidInput(format!("No group called {id_or_name:?}; sync first, or use its id."))),
            _ => Err(Error::InvalidInput(format!("Several groups are called {id_or_name:?}; use the group id."))),
        }
    }

    /// The members of a group as this device verified them.
    pub fn group_members(&self, group: &GroupId) -> Result<Vec<GroupMember>> {
        Ok(self.group(group)?.map(|g| g.members).unwrap_or_default())
    }
}

/// Who the server says must be invited rather than added, out of `asked`; `None` for any other
/// error.
fn invitation_required(e: &Error, asked: &[UserId]) -> Option<Vec<UserId>> {
    match e {
        Error::Server { code: sotto_proto::ErrorCode::InvitationRequired, users: Some(users), .. } => {
            let strangers: Vec<UserId> = users.iter().filter(|u| asked.contains(u)).cloned().collect();
            (!strangers.is_empty()).then_some(strangers)
        }
        _ => None,
    }
}

/// An answer to an invitation for a group this user cannot read (any more): there is no
/// invitation to answer.
fn no_invitation(e: Error) -> Error {
    match e {
        Error::NotMember => Error::NotInvited,
        e => e,
    }
}
