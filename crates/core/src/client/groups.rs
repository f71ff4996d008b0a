//! Group management: the server is the authority on membership; each change comes back as a
//! membership entry in every member's inbox, which rotates the Megolm session where needed.

use sotto_proto::routes;
use sotto_proto::{AddMembersRequest, CreateGroupRequest, GroupId, GroupInfo, UserId};

use super::Client;
use crate::ConversationId;
use crate::store::{ConversationKind, LocalGroup, StoreError};
use crate::{Error, Result};

impl Client {
    /// Create a group with this user as owner and `members` added.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn create_group(&self, name: &str, members: &[UserId]) -> Result<GroupInfo> {
        let body = CreateGroupRequest { name: name.to_owned(), members: members.to_vec() };
        let info = self.call::<routes::CreateGroup>(&(), &body).await?;
        self.remember_group(&info)?;
        Ok(info)
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn add_members(&self, group: &GroupId, users: &[UserId]) -> Result<GroupInfo> {
        let body = AddMembersRequest { user_ids: users.to_vec() };
        let info: GroupInfo = self.call::<routes::AddMembers>(group, &body).await?;
        self.remember_group(&info)?;
        Ok(info)
    }

    /// Remove a member. The next message this device sends to the group uses a new key the
    /// removed member never gets.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn remove_member(&self, group: &GroupId, user: &UserId) -> Result<GroupInfo> {
        let info: GroupInfo = self.call::<routes::RemoveMember>(&(group.clone(), user.clone()), &()).await?;
        self.transact(|_, db| db.discard_outbound_group(group))?;
        self.remember_group(&info)?;
        Ok(info)
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn leave_group(&self, group: &GroupId) -> Result<()> {
        let info: GroupInfo = self.call::<routes::LeaveGroup>(group, &()).await?;
        self.transact(|_, db| db.discard_outbound_group(group))?;
        self.remember_group(&info)?;
        Ok(())
    }

    /// Groups this user is in, from the server.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn fetch_groups(&self) -> Result<Vec<GroupInfo>> {
        let list = self.call::<routes::ListGroups>(&(), &()).await?;
        for info in &list.groups {
            self.remember_group(info)?;
        }
        Ok(list.groups)
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

    fn remember_group(&self, info: &GroupInfo) -> Result<()> {
        let own_user = self.inner.own.user_id.clone();
        self.transact(|_, db| {
            db.save_group(info, &own_user)?;
            db.ensure_conversation(&ConversationId::Group(info.group_id.clone()), &info.name)
        })
    }
}
