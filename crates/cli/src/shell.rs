//! What every command shares: this invocation's profile directory, stdin read line by line in
//! the documented order, JSON on stdout, progress on stderr, and Ctrl-C / SIGTERM.

use std::io::BufRead as _;
use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use serde::Serialize;
use sotto_core::progress::{CancellationToken, watch};
use sotto_core::{Client, Fingerprint, KeyOptions, Progress, ServerTrust, ServerUrl};
use sotto_proto::UserId;

use crate::args::Cli;

/// One run of `sotto`: its flags, its profile directory and its stdin.
pub struct Invocation<'a> {
    pub cli: &'a Cli,
    pub dir: PathBuf,
    stdin: Stdin,
    /// The profile's passphrase once read (a profile may be opened twice in one run).
    unlock: Option<Option<String>>,
}

impl<'a> Invocation<'a> {
    pub fn new(cli: &'a Cli) -> Result<Self> {
        let dir = match &cli.profile {
            Some(p) => p.clone(),
            None => {
                dirs::data_dir().context("no data directory on this system; pass --profile")?.join("sotto").join("cli")
            }
        };
        Ok(Self { cli, dir, stdin: Stdin::new(), unlock: None })
    }

    /// The next line of stdin, named for the error when it is missing.
    pub fn line(&mut self, what: &str) -> Result<String> {
        self.stdin.line(what)
    }

    /// The profile's passphrase, when `--passphrase-stdin` says it comes next on stdin.
    pub fn passphrase(&mut self) -> Result<Option<String>> {
        if self.cli.passphrase_stdin { Ok(Some(self.line("passphrase")?)) } else { Ok(None) }
    }

    /// The account password: only ever from stdin, never from an argument.
    pub fn password(&mut self, from_stdin: bool) -> Result<String> {
        if !from_stdin {
            bail!("pass the password on stdin with --password-stdin");
        }
        self.line("password")
    }

    /// A backup passphrase: only ever from stdin.
    pub fn backup_passphrase(&mut self, from_stdin: bool) -> Result<String> {
        if !from_stdin {
            bail!("pass the backup passphrase on stdin with --backup-passphrase-stdin");
        }
        self.line("backup passphrase")
    }

    /// How a new profile keeps its key, reading the passphrase when there is one.
    pub fn key_options(&mut self, no_keychain: bool) -> Result<KeyOptions> {
        let passphrase = self.passphrase()?;
        if no_keychain && passphrase.is_none() {
            bail!("--no-keychain needs a passphrase: add --passphrase-stdin");
        }
        Ok(KeyOptions { no_keychain, passphrase })
    }

    /// `--server`, normalized and checked as the app's sign-in form does ([`ServerUrl::parse`]).
    pub fn server(&self) -> Result<ServerUrl> {
        Ok(ServerUrl::parse(self.cli.server.as_deref().context("pass --server URL (or set SOTTO_SERVER)")?)?)
    }

    /// How the server's certificate is trusted: `--trust-certificate`, or the system's authorities.
    pub fn trust(&self) -> Result<ServerTrust> {
        Ok(match self.cli.trust_certificate.as_deref() {
            Some(fingerprint) => ServerTrust::Pinned(Fingerprint::parse(fingerprint)?),
            None => ServerTrust::System,
        })
    }

    /// Open the existing profile (its passphrase first on stdin, with `--passphrase-stdin`).
    pub fn open(&mut self) -> Result<Client> {
        let passphrase = match &self.unlock {
            Some(passphrase) => passphrase.clone(),
            None => {
                let passphrase = self.passphrase()?;
                self.unlock = Some(passphrase.clone());
                passphrase
            }
        };
        Ok(Client::open(&self.dir, passphrase.as_deref())?)
    }

    /// `--server` given for an existing profile that uses another address: the profile moves
    /// there, if that address is its installation (else nothing changes, with an error).
    pub async fn follow_server(&mut self) -> Result<()> {
        if self.cli.server.is_none() || !sotto_core::profile::exists(&self.dir) {
            return Ok(());
        }
        let server = self.server()?;
        let client = self.open()?;
        if ServerUrl::parse(client.server()).is_ok_and(|current| current == server) {
            return Ok(());
        }
        let from = client.server().to_owned();
        client.move_server(&server, self.trust()?).await?;
        eprintln!("This profile now uses {server} (it used {from}).");
        Ok(())
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

pub fn user(s: &str) -> Result<UserId> {
    Ok(UserId::parse(s)?)
}

/// One JSON document on stdout.
pub fn print<T: Serialize>(value: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// One JSON line on stdout, flushed at once (for `listen`).
pub fn print_line<T: Serialize>(value: &T) -> Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, value)?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

/// The account a profile belongs to, as `register`, `login` and `backup import` print it.
pub fn print_account(client: &Client) -> Result<()> {
    print(&serde_json::json!({
        "user_id": client.user_id(),
        "device_id": client.device_id(),
        "server": client.server(),
        "profile": client.profile_dir(),
    }))
}

/// Run a long operation, printing its progress to stderr in steps of 10% and cancelling it
/// (which removes what it was writing) on Ctrl-C or SIGTERM.
pub async fn with_progress<T, F, Fut>(what: &str, unit: &str, run: F) -> Result<T>
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

pub async fn shutdown_signal() {
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
