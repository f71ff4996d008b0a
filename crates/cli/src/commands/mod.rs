//! Runs the parsed command line: one module per command family, each a few lines over the
//! engine's API.

use anyhow::Result;

use crate::args::{Cli, Command, VerifyCommand};
use crate::shell::Invocation;

mod account;
mod backup;
mod groups;
mod link;
mod messages;
mod profile;
mod trust;

pub async fn run(cli: &Cli) -> Result<()> {
    let mut run = Invocation::new(cli)?;
    // A profile follows its installation to the address given (creating commands aside).
    let creates = matches!(
        &cli.command,
        Command::Register(_) | Command::Login(_) | Command::Backup(crate::args::BackupCommand::Import { .. })
    );
    if !creates {
        run.follow_server().await?;
    }
    match &cli.command {
        Command::Register(a) => account::sign_in(&mut run, a, account::SignInKind::Register).await,
        Command::Login(a) => account::sign_in(&mut run, a, account::SignInKind::Login).await,
        Command::Logout => account::logout(&mut run).await,
        Command::TrustServer { fingerprint } => account::trust_server(&mut run, fingerprint).await,
        Command::DeleteDevice { device_id, password_stdin } => {
            account::delete_device(&mut run, device_id, *password_stdin).await
        }
        Command::SetPassphrase => account::set_passphrase(&mut run),
        Command::Account(cmd) => account::account(&mut run, cmd).await,
        Command::Send { to, text, group, file, caption } => {
            let what = match (text, file) {
                (_, Some(path)) => messages::Sending::File { path, caption: caption.as_deref().unwrap_or_default() },
                (Some(text), None) => messages::Sending::Text(text),
                (None, None) => anyhow::bail!("give the text to send, or --file"),
            };
            messages::send(&mut run, to, what, *group).await
        }
        Command::Download { message_id, to } => messages::download(&mut run, message_id, to).await,
        Command::Reply { message_id, text } => messages::reply(&mut run, message_id, text).await,
        Command::React { message_id, emoji, remove } => messages::react(&mut run, message_id, emoji, *remove).await,
        Command::Edit { message_id, text } => messages::edit(&mut run, message_id, text).await,
        Command::Delete { message_id } => messages::delete(&mut run, message_id).await,
        Command::Read { user, group } => messages::read(&mut run, user.as_deref(), group.as_deref()).await,
        Command::Conversation { action, user, group, for_secs } => {
            messages::conversation(&mut run, action, user.as_deref(), group.as_deref(), *for_secs)
        }
        Command::Disappear { args, group } => {
            let (user, after) = match (args.as_slice(), group) {
                ([user, after], None) => (Some(user.as_str()), after.as_str()),
                ([after], Some(_)) => (None, after.as_str()),
                _ => anyhow::bail!("name a user and the seconds, or a group with --group and the seconds"),
            };
            messages::disappear(&mut run, user, group.as_deref(), after).await
        }
        Command::ReadReceipts { state } => messages::read_receipts(&mut run, state == "on"),
        Command::Sync => messages::sync(&mut run).await,
        Command::Listen => messages::listen(&mut run).await,
        Command::History { user, group, limit, before } => {
            messages::history(&mut run, user.as_deref(), group.as_deref(), *limit, *before)
        }
        Command::Conversations => messages::conversations(&mut run),
        Command::Search { text, limit } => messages::search(&mut run, text, *limit),
        Command::Profile(cmd) => profile::profile(&mut run, cmd).await,
        Command::Group(cmd) => groups::group(&mut run, cmd).await,
        Command::SafetyNumber { user } => trust::safety_number(&mut run, user).await,
        Command::Verify(VerifyCommand::Number { user, safety_number }) => {
            trust::verify(&mut run, user, Some(safety_number)).await
        }
        Command::Verify(VerifyCommand::Clear { user }) => trust::verify(&mut run, user, None).await,
        Command::Verify(cmd) => link::contact(&mut run, cmd).await,
        Command::Devices { user } => trust::devices(&mut run, user.as_deref()).await,
        Command::Device(cmd) => link::device(&mut run, cmd).await,
        Command::Trust(cmd) => trust::trust(&mut run, cmd).await,
        Command::Keys(cmd) => backup::keys(&mut run, cmd).await,
        Command::Export { dir, format, conversation, group } => {
            backup::export_readable(&mut run, dir, *format, conversation.as_deref(), group.as_deref()).await
        }
        Command::Backup(cmd) => backup::backup(&mut run, cmd).await,
    }
}
