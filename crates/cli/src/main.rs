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
    Client, ExportFormat, ExportScope, ExportSummary, KeyOptions, Progress, SignIn, direct_conversation_id,
    group_conversation_id,
};
use sotto_proto::{DeviceId, UserId};

#[derive(Parser)]
#[command(name = "sotto", version, about = "A headless Sotto client: end-to-end encrypted messaging from the shell")]
struct Cli {
    /// The profile directory (one per account and device).
    #[arg(long, global = true, env = "SOTTO_PROFILE")]
    profile: Option<PathBuf>,
    /// The server, for `register` and `login` (e.g. http://127.0.0.1:8448).
    #[arg(long, global = true, env = "SOTTO_SERVER")]
    server: Option<String>,
    /// Read the profile's passphrase from stdin (after the password, when both are read).
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
    /// The safety number to compare with a contact.
    SafetyNumber { user: String },
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

/// What to do next, for errors a person can fix from the command line.
fn hint(code: &str) -> Option<&'static str> {
    Some(match code {
        "keychain_unavailable" | "keychain_locked" => {
            "without a usable keychain, create the profile with --no-keychain --passphrase-stdin (passphrase on the \
             second line of stdin), or open an existing one with --passphrase-stdin"
        }
        "passphrase_required" | "wrong_passphrase" => "give the profile's passphrase on stdin with --passphrase-stdin",
        "profile_in_use" => "another sotto command (such as `listen`) or the app has this profile open; stop it first",
        "no_profile" => "create one with `sotto --server URL --profile DIR register USER --password-stdin`",
        "signed_out" => "this device was signed out; sign in again with `login` into a new profile directory",
        "offline" => "check the server address and that it is running; queued messages go out with the next `sync`",
        _ => return None,
    })
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
            print(&serde_json::json!({ "user_id": u, "safety_number": client.safety_number(&user(u)?).await? }))
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
            print(&export(&client, target.clone(), format, scope).await?)
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

/// Run an export on a blocking thread, report its progress on stderr every 10 %, and cancel it
/// on Ctrl-C or SIGTERM (it then removes what it wrote).
async fn export(client: &Client, target: PathBuf, format: ExportFormat, scope: ExportScope) -> Result<ExportSummary> {
    let (progress, mut updates) = watch::channel(Progress::default());
    let cancel = CancellationToken::new();
    let task = tokio::task::spawn_blocking({
        let (client, cancel) = (client.clone(), cancel.clone());
        move || client.export_readable(&target, format, scope, &progress, &cancel)
    });
    tokio::pin!(task);
    let stop = shutdown_signal();
    tokio::pin!(stop);
    let (mut watching, mut shown) = (true, None);
    loop {
        tokio::select! {
            result = &mut task => return Ok(result.context("the export stopped unexpectedly")??),
            changed = updates.changed(), if watching => match changed {
                Ok(()) => {
                    let p = *updates.borrow_and_update();
                    let tenth = (p.done * 10).checked_div(p.total).unwrap_or(10);
                    if p.total > 0 && shown != Some(tenth) {
                        eprintln!("Exporting: {}% ({} of {} messages)", tenth * 10, p.done, p.total);
                        shown = Some(tenth);
                    }
                }
                Err(_) => watching = false,
            },
            () = &mut stop, if !cancel.is_cancelled() => {
                eprintln!("Stopping the export…");
                cancel.cancel();
            }
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
