//! Groups: create, add (or invite), answer invitations, remove, leave, roles, dismiss, list.

use anyhow::Result;
use sotto_core::Client;
use sotto_proto::{GroupId, Role};

use crate::args::GroupCommand;
use crate::shell::{Invocation, print, user};

pub async fn group(run: &mut Invocation<'_>, cmd: &GroupCommand) -> Result<()> {
    let client = run.open()?;
    match cmd {
        GroupCommand::Create { name, members } => {
            let members = members.iter().map(|m| user(m)).collect::<Result<Vec<_>>>()?;
            print(&client.create_group(name, &members).await?)
        }
        GroupCommand::Add { group, users } => {
            let g = resolve_group(&client, group).await?;
            let users = users.iter().map(|m| user(m)).collect::<Result<Vec<_>>>()?;
            print(&client.add_members(&g, &users).await?)
        }
        GroupCommand::Invitations => {
            client.sync().await?;
            client.fetch_groups().await?;
            print(&client.invitations()?)
        }
        GroupCommand::Accept { group } => {
            let g = resolve_group(&client, group).await?;
            print(&client.accept_invitation(&g).await?)
        }
        GroupCommand::Decline { group } => {
            let g = resolve_group(&client, group).await?;
            client.decline_invitation(&g).await?;
            eprintln!("You declined the invitation.");
            Ok(())
        }
        GroupCommand::Remove { group, user: u } => {
            let g = resolve_group(&client, group).await?;
            print(&client.remove_member(&g, &user(u)?).await?)
        }
        GroupCommand::Leave { group } => {
            let g = resolve_group(&client, group).await?;
            client.leave_group(&g).await?;
            eprintln!("You left the group.");
            Ok(())
        }
        GroupCommand::Role { group, user: u, role } => {
            let g = resolve_group(&client, group).await?;
            let role = Role::parse(role).ok_or_else(|| anyhow::anyhow!("A role is member, admin or owner."))?;
            print(&client.set_role(&g, &user(u)?, role).await?)
        }
        GroupCommand::Rename { group, name } => {
            let g = resolve_group(&client, group).await?;
            print(&client.rename_group(&g, name).await?)
        }
        GroupCommand::Promote { group, user: u } => {
            let g = resolve_group(&client, group).await?;
            print(&client.set_role(&g, &user(u)?, Role::Admin).await?)
        }
        GroupCommand::Demote { group, user: u } => {
            let g = resolve_group(&client, group).await?;
            print(&client.set_role(&g, &user(u)?, Role::Member).await?)
        }
        GroupCommand::Transfer { group, user: u } => {
            let g = resolve_group(&client, group).await?;
            print(&client.set_role(&g, &user(u)?, Role::Owner).await?)
        }
        GroupCommand::Dismiss { group } => {
            let g = resolve_group(&client, group).await?;
            client.dismiss_group(&g).await?;
            eprintln!("The group is dismissed.");
            Ok(())
        }
        GroupCommand::List => print(&client.fetch_groups().await?),
    }
}

/// Groups are named by id or, when unambiguous, by name; sync once if this device does not know
/// it (a new group's name opens with the key that waits in the inbox).
pub async fn resolve_group(client: &Client, name: &str) -> Result<GroupId> {
    match client.find_group(name) {
        Ok(g) => Ok(g.group_id),
        Err(_) => {
            client.sync().await?;
            client.fetch_groups().await?;
            Ok(client.find_group(name)?.group_id)
        }
    }
}
