//! `sotto profile`: this user's name and picture, and others'.

use anyhow::{Context as _, Result, bail};
use sotto_core::{AvatarChange, ProfileChange};

use crate::args::ProfileCommand;
use crate::shell::{Invocation, print, user};

pub async fn profile(run: &mut Invocation<'_>, cmd: &ProfileCommand) -> Result<()> {
    let client = run.open()?;
    match cmd {
        ProfileCommand::Set { name, avatar, no_avatar } => {
            if name.is_none() && avatar.is_none() && !no_avatar {
                bail!("give --name, --avatar or --no-avatar");
            }
            let avatar = match (avatar, no_avatar) {
                (Some(path), _) => Some(AvatarChange::Image(
                    std::fs::read(path).with_context(|| format!("cannot read the picture {}", path.display()))?,
                )),
                (None, true) => Some(AvatarChange::Remove),
                (None, false) => None,
            };
            let profile = client.set_profile(ProfileChange { name: name.clone(), avatar }).await?;
            print(&profile)
        }
        ProfileCommand::Show { user: of, save_avatar } => {
            let of = match of {
                Some(of) => user(of)?,
                None => client.user_id().clone(),
            };
            // Anything announced since the last sync is read first (best effort: offline, what
            // is known here is shown).
            client.read_profiles().await;
            let Some(profile) = client.profile(&of)? else {
                bail!("no profile of {of} is known here yet (it arrives with their first message)");
            };
            if let Some(path) = save_avatar {
                let Some(jpeg) = client.avatar(&of)? else { bail!("{of} has no picture") };
                std::fs::write(path, jpeg).with_context(|| format!("cannot write {}", path.display()))?;
            }
            print(&profile)
        }
    }
}
