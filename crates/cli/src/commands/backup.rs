//! Keeping and moving what a device holds: readable exports, the backup file, this device's keys
//! and the server key backup.

use std::path::Path;

use anyhow::{Result, bail};
use sotto_core::{Client, ConversationId, ExportFormat, ExportScope, RecoverySecret, Restore};

use crate::args::{BackupCommand, Format, KeyBackupCommand, KeysCommand};
use crate::shell::{Invocation, print, print_account, user, with_progress};

pub async fn export_readable(
    run: &mut Invocation<'_>,
    target: &Path,
    format: Format,
    conversation: Option<&str>,
    group: Option<&str>,
) -> Result<()> {
    let client = run.open()?;
    let scope = match (conversation, group) {
        (Some(u), None) => ExportScope::Conversation(ConversationId::Direct(user(u)?)),
        (None, Some(g)) => ExportScope::Conversation(ConversationId::Group(client.find_group(g)?.group_id)),
        (None, None) => ExportScope::All,
        (Some(_), Some(_)) => bail!("name one conversation: --conversation USER or --group GROUP"),
    };
    let format = match format {
        Format::Html => ExportFormat::Html,
        Format::Json => ExportFormat::Json,
    };
    let target = target.to_path_buf();
    let summary = with_progress("Exporting", "messages", |progress, cancel| async move {
        tokio::task::spawn_blocking(move || client.export_readable(&target, format, scope, &progress, &cancel))
            .await
            .map_err(|e| sotto_core::Error::Io(std::io::Error::other(e.to_string())))?
    })
    .await?;
    print(&summary)
}

pub async fn backup(run: &mut Invocation<'_>, cmd: &BackupCommand) -> Result<()> {
    match cmd {
        // Stdin: the profile's passphrase (with --passphrase-stdin), then the backup passphrase.
        BackupCommand::Export { file, backup_passphrase_stdin } => {
            let client = run.open()?;
            let passphrase = run.backup_passphrase(*backup_passphrase_stdin)?;
            let summary = with_progress("Backing up", "records", |progress, cancel| async move {
                client.export_backup(file, &passphrase, &progress, &cancel).await
            })
            .await?;
            eprintln!("Wrote {} records ({} messages) to {}.", summary.records, summary.messages, file.display());
            print(&summary)
        }
        // Stdin: the password, the backup passphrase, then the new profile's passphrase.
        BackupCommand::Import { file, user, password_stdin, backup_passphrase_stdin, no_keychain } => {
            let server = run.server()?;
            let password = run.password(*password_stdin)?;
            let backup = run.backup_passphrase(*backup_passphrase_stdin)?;
            let keys = run.key_options(*no_keychain)?;
            let restore = Restore {
                file,
                backup_passphrase: &backup,
                server: server.as_str(),
                trust: run.trust()?,
                user_id: user,
                password: &password,
            };
            let dir = &run.dir;
            let client = with_progress("Restoring", "records", |progress, cancel| async move {
                Client::restore_backup(dir, restore, keys, &progress, &cancel).await
            })
            .await?;
            eprintln!("Restored into {}.", dir.display());
            print_account(&client)
        }
    }
}

pub async fn keys(run: &mut Invocation<'_>, cmd: &KeysCommand) -> Result<()> {
    let client = run.open()?;
    match cmd {
        KeysCommand::Reset { password_stdin } => {
            let password = run.password(*password_stdin)?;
            let reset = client.reset_keys(&password).await?;
            eprintln!("This device has new keys; your contacts are told that they changed.");
            print(&reset)
        }
        KeysCommand::StartOver { password_stdin } => {
            let password = run.password(*password_stdin)?;
            client.reset_identity(&password).await?;
            eprintln!(
                "You have a new identity. Your contacts are told that your identity key changed; confirm your other devices again from this one."
            );
            print(&serde_json::json!({ "confirmed": client.this_device_confirmed()? }))
        }
        KeysCommand::Backup(KeyBackupCommand::Enable { backup_passphrase_stdin, replace }) => {
            // One document: the recovery key (null with a passphrase) and the status.
            let recovery_key = if *backup_passphrase_stdin {
                let passphrase = run.line("backup passphrase")?;
                client.enable_key_backup_with_passphrase(&passphrase, *replace).await?;
                eprintln!("Key backup is on; restore it on a new device with this passphrase.");
                None
            } else {
                let key = client.enable_key_backup(*replace).await?;
                eprintln!("Key backup is on. Keep the recovery key safe: it is shown only this once.");
                Some(key)
            };
            print(&serde_json::json!({
                "recovery_key": recovery_key.as_ref().map(|k| k.as_str()),
                "status": client.key_backup_status()?,
            }))
        }
        KeysCommand::Backup(KeyBackupCommand::Restore { recovery_key_stdin, backup_passphrase_stdin: _ }) => {
            let secret = if *recovery_key_stdin { run.line("recovery key")? } else { run.line("backup passphrase")? };
            let secret = if *recovery_key_stdin {
                RecoverySecret::RecoveryKey(&secret)
            } else {
                RecoverySecret::Passphrase(&secret)
            };
            let summary = client.restore_key_backup(secret).await?;
            eprintln!(
                "Restored {} group keys; read {} messages of {} groups ({} still undecryptable).",
                summary.sessions, summary.messages, summary.groups, summary.undecryptable
            );
            print(&summary)
        }
        KeysCommand::Backup(KeyBackupCommand::Status) => print(&client.key_backup_status()?),
    }
}
