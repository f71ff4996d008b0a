//! `sotto`: a headless Sotto client over the same engine as the desktop app.
//!
//! Commands that print data print JSON (one document, or JSON lines for `listen`) on stdout;
//! progress and errors go to stderr as sentences. Exit status 0 on success, 1 on failure.

use std::io::BufRead as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use clap::{Parser, Subcommand};
use serde::Serialize;
use sotto_core::progress::{CancellationToken, watch};
use sotto_core::{
    Client, ExportFormat, ExportScope, KeyOptions, Progress, RecoverySecret, Restore, SignIn, direct_conversation_id,
    group_conversation_id,
};
use sotto_proto::{DeviceId, UserId};

mod hints;
use hints::hint;

#[derive(Parser)]
#[command(name = "sotto", version, about = "A headless Sotto client: end-to-end encrypted messaging from the shell")]
struct Cli {
    /// The profile directory (one per account and device).
    #[arg(long, global = true, env = "SOTTO_PROFILE")]
    profile: Option<PathBuf>,
    /// The server, for `register` and `login` (e.g. http://127.0.0.1:8448).
    #[arg(long, global = true, env = "SOTTO_SERVER")]
    server: Option<String>,
    /// Read the profile's passphrase from stdin (after the password and the backup passphrase, when
    /// those are read too; before the backup passphrase of `backup export`).
    #[arg(long, global = true)]
    passphrase_stdin: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create an account and a profile for this device.
    Register(Account),
    /// Sign in to an existing account as a new device.
    Login(Account),
    /// Sign this device out and delete its profile.
    Logout,
    /// Send a text message to a user, or to a group with --group.
    Send {
        /// The user id (or, with --group, the group id or name).
        to: String,
        text: String,
        #[arg(long)]
        group: bool,
    },
    /// Groups: create, add, remove, leave, list.
    #[command(subcommand)]
    Group(GroupCommand),
    /// Fetch and decrypt what is waiting, send what is queued, then exit.
    Sync,
    /// Stay connected and print every event as a JSON line until stopped.
    Listen,
    /// Print a conversation's messages (oldest first).
    History {
        /// The user id of a one-to-one conversation.
        user: Option<String>,
        #[arg(long)]
        group: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Only messages older than this message `id`.
        #[arg(long)]
        before: Option<i64>,
    },
    /// List conversations, most recent first.
    Conversations,
    /// Search all decrypted messages.
    Search {
        text: String,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// The safety number to compare with a contact, and whether it is marked verified.
    SafetyNumber { user: String },
    /// Mark a contact verified at the safety number you compared (as `safety-number` prints it;
    /// refused if it is not the current one), or with --clear, not verified.
    Verify {
        user: String,
        #[arg(required_unless_present = "clear")]
        safety_number: Option<String>,
        #[arg(long, conflicts_with = "safety_number")]
        clear: bool,
    },
    /// A user's devices and their keys (this account's own devices with no argument).
    Devices { user: Option<String> },
    /// Remove another device of this account (needs the password on stdin).
    DeleteDevice {
        device_id: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Add or replace a passphrase that unlocks this profile without the system keychain.
    SetPassphrase,
    /// The account: change its password.
    #[command(subcommand)]
    Account(AccountCommand),
    /// Keys: reset this device's identity, or the server key backup of group keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Write conversations as readable files (HTML pages or JSON) into a new or empty folder.
    Export {
        /// The folder to write; it must not exist yet, or be empty.
        dir: PathBuf,
        #[arg(long, value_enum)]
        format: Format,
        /// Only the one-to-one conversation with this user.
        #[arg(long, conflicts_with = "group")]
        conversation: Option<String>,
        /// Only this group (its id or name).
        #[arg(long)]
        group: Option<String>,
    },
    /// Back this profile up to one passphrase-encrypted file (age format), or restore one.
    #[command(subcommand)]
    Backup(BackupCommand),
}

#[derive(Subcommand)]
enum KeyBackupCommand {
    /// Turn on key backup and upload this device's group keys. Prints the recovery key ONCE
    /// (keep it safe), or, with --backup-passphrase-stdin, derives the key from a passphrase.
    Enable {
        /// Read a backup passphrase from stdin instead of creating a recovery key.
        #[arg(long)]
        backup_passphrase_stdin: bool,
        /// Overwrite a key backup made with another recovery key (keys only in it are lost).
        #[arg(long)]
        replace: bool,
    },
    /// Restore group keys from the server's key backup onto this device, then read the history
    /// of your groups from the server. Give the recovery key or the passphrase on stdin.
    Restore {
        #[arg(long, conflicts_with = "backup_passphrase_stdin", required_unless_present = "backup_passphrase_stdin")]
        recovery_key_stdin: bool,
        #[arg(long)]
        backup_passphrase_stdin: bool,
    },
    /// Whether key backup is on for this device and how many group keys are in it.
    Status,
}

#[derive(Subcommand)]
enum BackupCommand {
    /// Write everything this device holds (keys, sessions, contacts, history) to FILE, encrypted
    /// with a backup passphrase. FILE must not exist. Stdin: the profile's passphrase first (with
    /// --passphrase-stdin), then the backup passphrase.
    Export {
        file: PathBuf,
        /// Read the backup passphrase from stdin.
        #[arg(long)]
        backup_passphrase_stdin: bool,
    },
    /// Restore FILE into a new profile (--profile must not hold one) and sign in to USER's
    /// account on --server. Stdin, one per line: the account password, the backup passphrase,
    /// then the new profile's passphrase (with --passphrase-stdin).
    Import {
        file: PathBuf,
        user: String,
        /// Read the account password from stdin.
        #[arg(long)]
        password_stdin: bool,
        /// Read the backup passphrase from stdin.
        #[arg(long)]
        backup_passphrase_stdin: bool,
        /// Do not use the system keychain; protect the new profile with a passphrase alone.
        #[arg(long)]
        no_keychain: bool,
    },
}

#[derive(Subcommand)]
enum AccountCommand {
    /// Change the account password; every device stays signed in. Stdin, one per line: the
    /// current password, then the new one (after the profile's passphrase, with
    /// --passphrase-stdin).
    Password {
        /// Read the current and the new password from stdin.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// The server key backup that lets a new device read group history: group keys encrypted
    /// with a recovery key only you hold.
    #[command(subcommand)]
    Backup(KeyBackupCommand),
    /// Give this device a new identity (new encryption keys, same device): contacts see that its
    /// keys changed; history stays. Needs the account password on stdin (after the profile's
    /// passphrase, with --passphrase-stdin). Prints the new keys.
    Reset {
        /// Read the account password from stdin.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Html,
    Json,
}

#[derive(clap::Args)]
struct Account {
    user: String,
    /// Read the password from the first line of stdin.
    #[arg(long)]
    password_stdin: bool,
    /// A name for this device in the account's device list.
    #[arg(long)]
    device_name: Option<String>,
    /// Do not use the system keychain; protect the profile with a passphrase alone.
    #[arg(long)]
    no_keychain: bool,
}

#[derive(Subcommand)]
enum GroupCommand {
    /// Create a group with members.
    Create { name: String, members: Vec<String> },
    /// Add members (admins only).
    Add { group: String, users: Vec<String> },
    /// Remove a member (admins only).
    Remove { group: String, user: String },
    /// Leave a group.
    Leave { group: String },
    /// The groups this user is in.
    List,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("SOTTO_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            match e.downcast_ref::<sotto_core::Error>() {
                Some(core) => {
                    eprintln!("error [{}]: {core}", core.code());
                    if let Some(hint) = hint(core.code()) {
                        eprintln!("hint: {hint}");
                    }
                }
                None => eprintln!("error: {e:#}"),
            }
            ExitCode::FAILURE
        }
    }
}

/// Lines read from stdin, in order: the password first, then the passphrase.
struct Stdin {
    lines: std::io::Lines<std::io::StdinLock<'static>>,
}

impl Stdin {
    fn new() -> Self {
        Self { lines: std::io::stdin().lock().lines() }
    }
    fn line(&mut self, what: &str) -> Result<String> {
        match self.lines.next() {
            Some(line) => Ok(line.context("reading stdin")?.trim_end_matches('\r').to_owned()),
            None => bail!("expected the {what} on stdin"),
        }
    }
}

fn profile_dir(cli: &Cli) -> Result<PathBuf> {
    if let Some(p) = &cli.profile {
        return Ok(p.clone());
    }
    let base = dirs::data_dir().context("no data directory on this system; pass --profile")?;
    Ok(base.join("sotto").join("cli"))
}

fn print<T: Serialize>(value: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn user(s: &str) -> Result<UserId> {
    Ok(UserId::parse(s)?)
}

async fn run(cli: Cli) -> Result<()> {
    let dir = profile_dir(&cli)?;
    let mut stdin = Stdin::new();
    let open = |stdin: &mut Stdin| -> Result<Client> {
        let passphrase = if cli.passphrase_stdin { Some(stdin.line("passphrase")?) } else { None };
        Ok(Client::open(&dir, passphrase.as_deref())?)
    };
    match &cli.command {
        Command::Register(a) | Command::Login(a) => {
            let server = cli.server.as_deref().context("pass --server URL (or set SOTTO_SERVER)")?;
            let password = if a.password_stdin { stdin.line("password")? } else { rpassword_fallback()? };
            let passphrase = if cli.passphrase_stdin { Some(stdin.line("passphrase")?) } else { None };
            if a.no_keychain && passphrase.is_none() {
                bail!("--no-keychain needs a passphrase: add --passphrase-stdin");
            }
            let keys = KeyOptions { no_keychain: a.no_keychain, passphrase };
            let sign_in =
                SignIn { server, user_id: &a.user, password: &password, device_name: a.device_name.as_deref() };
            let client = if matches!(cli.command, Command::Register(_)) {
                Client::register(&dir, sign_in, keys).await?
            } else {
                Client::login(&dir, sign_in, keys).await?
            };
            print(&serde_json::json!({
                "user_id": client.user_id(),
                "device_id": client.device_id(),
                "server": client.server(),
                "profile": client.profile_dir(),
            }))
        }
        Command::Logout => {
            let client = open(&mut stdin)?;
            client.logout().await?;
            eprintln!("Signed out; the profile was deleted.");
            Ok(())
        }
        Command::Send { to, text, group } => {
            let client = open(&mut stdin)?;
            let message = if *group {
                let g = resolve_group(&client, to).await?;
                client.send_group_text(&g, text).await?
            } else {
                client.send_text(&user(to)?, text).await?
            };
            print(&message)
        }
        Command::Group(cmd) => {
            let client = open(&mut stdin)?;
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
                GroupCommand::List => print(&client.fetch_groups().await?),
            }
        }
        Command::Sync => {
            let client = open(&mut stdin)?;
            print(&client.sync().await?)
        }
        Command::Listen => {
            let client = open(&mut stdin)?;
            let mut events = client.subscribe();
            client.start();
            let stop = shutdown_signal();
            tokio::pin!(stop);
            loop {
                tokio::select! {
                    event = events.recv() => match event {
                        Ok(event) => print_line(&event)?,
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                            eprintln!("warning: {n} events were dropped; run `sotto history` to see everything");
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                    },
                    () = &mut stop => break,
                }
            }
            client.shutdown();
            Ok(())
        }
        Command::History { user: u, group, limit, before } => {
            let client = open(&mut stdin)?;
            let conversation = match (u, group) {
                (Some(u), None) => direct_conversation_id(&user(u)?),
                (None, Some(g)) => group_conversation_id(&client.find_group(g)?.group_id),
                _ => bail!("name a user, or a group with --group"),
            };
            print(&client.messages(&conversation, *before, *limit)?)
        }
        Command::Conversations => print(&open(&mut stdin)?.conversations()?),
        Command::Search { text, limit } => print(&open(&mut stdin)?.search(text, *limit)?),
        Command::SafetyNumber { user: u } => {
            let client = open(&mut stdin)?;
            let v = client.verification(&user(u)?).await?;
            print(&serde_json::json!({
                "user_id": u,
                "safety_number": v.safety_number,
                "verified": v.verified,
                "changed_since_verified": v.changed_since_verified,
            }))
        }
        Command::Verify { user: u, safety_number, clear: _ } => {
            let client = open(&mut stdin)?;
            let v = client.set_verified(&user(u)?, safety_number.as_deref()).await?;
            print(&serde_json::json!({ "user_id": u, "safety_number": v.safety_number, "verified": v.verified }))
        }
        Command::Devices { user: u } => {
            let client = open(&mut stdin)?;
            match u {
                Some(u) => print(&client.lookup_users(&[user(u)?]).await?),
                None => print(&client.own_devices().await?.devices),
            }
        }
        Command::DeleteDevice { device_id, password_stdin } => {
            let client = open(&mut stdin)?;
            let password = if *password_stdin { stdin.line("password")? } else { rpassword_fallback()? };
            client.delete_device(&DeviceId::parse(device_id.as_str())?, &password).await?;
            eprintln!("Device {device_id} was removed.");
            Ok(())
        }
        Command::Export { dir: target, format, conversation, group } => {
            let client = open(&mut stdin)?;
            let scope = match (conversation, group) {
                (Some(u), None) => ExportScope::Conversation(direct_conversation_id(&user(u)?)),
                (None, Some(g)) => ExportScope::Conversation(group_conversation_id(&client.find_group(g)?.group_id)),
                (None, None) => ExportScope::All,
                (Some(_), Some(_)) => bail!("name one conversation: --conversation USER or --group GROUP"),
            };
            let format = match format {
                Format::Html => ExportFormat::Html,
                Format::Json => ExportFormat::Json,
            };
            let target = target.clone();
            let summary = with_progress("Exporting", "messages", |progress, cancel| async move {
                tokio::task::spawn_blocking(move || client.export_readable(&target, format, scope, &progress, &cancel))
                    .await
                    .map_err(|e| sotto_core::Error::Io(std::io::Error::other(e.to_string())))?
            })
            .await?;
            print(&summary)
        }
        Command::Backup(BackupCommand::Export { file, backup_passphrase_stdin }) => {
            let client = open(&mut stdin)?;
            let passphrase = backup_passphrase(&mut stdin, *backup_passphrase_stdin)?;
            let summary = with_progress("Backing up", "records", |progress, cancel| async move {
                client.export_backup(file, &passphrase, &progress, &cancel).await
            })
            .await?;
            eprintln!("Wrote {} records ({} messages) to {}.", summary.records, summary.messages, file.display());
            print(&summary)
        }
        Command::Backup(BackupCommand::Import { file, user, password_stdin, backup_passphrase_stdin, no_keychain }) => {
            let server = cli.server.as_deref().context("pass --server URL (or set SOTTO_SERVER)")?;
            let password = if *password_stdin { stdin.line("password")? } else { rpassword_fallback()? };
            let backup = backup_passphrase(&mut stdin, *backup_passphrase_stdin)?;
            let passphrase = if cli.passphrase_stdin { Some(stdin.line("passphrase")?) } else { None };
            if *no_keychain && passphrase.is_none() {
                bail!("--no-keychain needs a passphrase: add --passphrase-stdin");
            }
            let keys = KeyOptions { no_keychain: *no_keychain, passphrase };
            let restore = Restore { file, backup_passphrase: &backup, server, user_id: user, password: &password };
            let dir = &dir;
            let client = with_progress("Restoring", "records", |progress, cancel| async move {
                Client::restore_backup(dir, restore, keys, &progress, &cancel).await
            })
            .await?;
            eprintln!("Restored into {}.", dir.display());
            print(&serde_json::json!({
                "user_id": client.user_id(),
                "device_id": client.device_id(),
                "server": client.server(),
                "profile": client.profile_dir(),
            }))
        }
        Command::Account(AccountCommand::Password { password_stdin }) => {
            let client = open(&mut stdin)?;
            if !*password_stdin {
                rpassword_fallback()?;
            }
            let current = stdin.line("current password")?;
            let new = stdin.line("new password")?;
            client.change_password(&current, &new).await?;
            eprintln!("The password was changed; every device stays signed in.");
            Ok(())
        }
        Command::Keys(KeysCommand::Reset { password_stdin }) => {
            let client = open(&mut stdin)?;
            let password = if *password_stdin { stdin.line("password")? } else { rpassword_fallback()? };
            let reset = client.reset_keys(&password).await?;
            eprintln!("This device has new keys; your contacts are told that they changed.");
            print(&reset)
        }
        Command::Keys(KeysCommand::Backup(cmd)) => {
            let client = open(&mut stdin)?;
            match cmd {
                KeyBackupCommand::Enable { backup_passphrase_stdin, replace } => {
                    // One document: the recovery key (null with a passphrase) and the status.
                    let recovery_key = if *backup_passphrase_stdin {
                        let passphrase = stdin.line("backup passphrase")?;
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
                KeyBackupCommand::Restore { recovery_key_stdin, backup_passphrase_stdin: _ } => {
                    let secret = if *recovery_key_stdin {
                        stdin.line("recovery key")?
                    } else {
                        stdin.line("backup passphrase")?
                    };
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
                KeyBackupCommand::Status => print(&client.key_backup_status()?),
            }
        }
        Command::SetPassphrase => {
            let client = open(&mut stdin)?;
            let passphrase = stdin.line("new passphrase")?;
            client.set_passphrase(&passphrase)?;
            eprintln!("The profile can now be unlocked with this passphrase.");
            Ok(())
        }
    }
}

/// Groups are named by id or, when unambiguous, by name; sync once if this device does not know it.
async fn resolve_group(client: &Client, name: &str) -> Result<sotto_proto::GroupId> {
    match client.find_group(name) {
        Ok(g) => Ok(g.group_id),
        Err(_) => {
            client.fetch_groups().await?;
            Ok(client.find_group(name)?.group_id)
        }
    }
}

fn backup_passphrase(stdin: &mut Stdin, from_stdin: bool) -> Result<String> {
    if !from_stdin {
        bail!("pass the backup passphrase on stdin with --backup-passphrase-stdin");
    }
    stdin.line("backup passphrase")
}

/// Run a long operation, printing its progress to stderr in steps of 10% and cancelling it
/// (which removes what it was writing) on Ctrl-C or SIGTERM.
async fn with_progress<T, F, Fut>(what: &str, unit: &str, run: F) -> Result<T>
where
    F: FnOnce(watch::Sender<Progress>, CancellationToken) -> Fut,
    Fut: std::future::Future<Output = sotto_core::Result<T>>,
{
    let progress = Progress::unobserved();
    let mut updates = progress.subscribe();
    let cancel = CancellationToken::new();
    let work = run(progress, cancel.clone());
    tokio::pin!(work);
    let stop = shutdown_signal();
    tokio::pin!(stop);
    let mut shown = None;
    let mut show = |p: Progress| {
        let percent = p.done.saturating_mul(100).checked_div(p.total).unwrap_or(100);
        if shown.is_none_or(|s: u64| percent / 10 > s / 10) {
            eprintln!("{what}: {percent}% ({} of {} {unit})", p.done, p.total);
            shown = Some(percent);
        }
    };
    loop {
        tokio::select! {
            result = &mut work => {
                let result = result?;
                // The last step may have come with the result.
                show(*updates.borrow());
                return Ok(result);
            }
            changed = updates.changed(), if updates.has_changed().is_ok() => {
                if changed.is_ok() {
                    show(*updates.borrow_and_update());
                }
            }
            () = &mut stop, if !cancel.is_cancelled() => cancel.cancel(),
        }
    }
}

fn print_line<T: Serialize>(value: &T) -> Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, value)?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

fn rpassword_fallback() -> Result<String> {
    bail!("pass the password on stdin with --password-stdin")
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
