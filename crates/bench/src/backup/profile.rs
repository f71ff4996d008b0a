//! The profile that is backed up: a real account on the server with a group conversation (a
//! real sender, the engine's encrypt and receive paths) and a few one-to-one conversations sent
//! over the server, grown in steps to each measured size. And a digest of a profile's whole
//! history, to prove a restore brought every message back unchanged.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use anyhow::{Context, ensure};
use sotto_core::{Client, KeyOptions, SignIn};
use sotto_proto::{GroupId, UserId};

use super::group_history;

pub const PASSWORD: &str = "bench-password-0123";
pub const PASSPHRASE: &str = "bench profile passphrase";
pub const OWN_USER: &str = "bench-me";
/// The account of the empty profile, measured for the fixed costs. Not [`OWN_USER`]: a restore
/// signs the backed-up device in again, which signs the original profile out.
pub const EMPTY_USER: &str = "bench-empty";
const FRIENDS: usize = 3;
const DIRECT_MESSAGES: usize = 20;
/// Messages of the history that are not in the group: each friend's messages and one reply.
pub const DIRECT_TOTAL: usize = FRIENDS * (DIRECT_MESSAGES + 1);
/// Server time of group message 0 (ms); one message a second after it.
const FIRST_TS_MS: u64 = 1_600_000_000_000;

pub fn keys() -> KeyOptions {
    KeyOptions { no_keychain: true, passphrase: Some(PASSPHRASE.to_owned()) }
}

async fn register(dir: &Path, server: &str, user: &str) -> anyhow::Result<Client> {
    let sign_in = SignIn {
        server,
        trust: sotto_core::ServerTrust::System,
        user_id: user,
        password: PASSWORD,
        device_name: Some("backup bench"),
    };
    Client::register(dir, sign_in, keys()).await.with_context(|| format!("registering {user}"))
}

/// What the bench holds between steps. The profile itself is closed while the CLI uses it.
pub struct History {
    pub dir: PathBuf,
    sender: Option<(Client, GroupId)>,
    /// Group messages so far (the next one is `group_history::body(group_messages)`).
    group_messages: usize,
    work: PathBuf,
    server: String,
}

impl History {
    /// A registered profile with no history yet (closed again); the history is added by
    /// [`History::grow_to`].
    pub async fn new(server: &str, work: &Path) -> anyhow::Result<History> {
        let dir = work.join("me");
        let me = register(&dir, server, OWN_USER).await?;
        me.shutdown();
        drop(me);
        Ok(History { dir, sender: None, group_messages: 0, work: work.to_owned(), server: server.to_owned() })
    }

    fn open(&self) -> anyhow::Result<Client> {
        Client::open(&self.dir, Some(PASSPHRASE)).context("opening the profile")
    }

    /// Grow the history to exactly `total` messages (at least [`DIRECT_TOTAL`] + 1).
    pub async fn grow_to(&mut self, total: usize) -> anyhow::Result<()> {
        let me = self.open()?;
        if self.sender.is_none() {
            self.sender = Some(self.start(&me).await?);
        }
        let have = digest(&me)?.messages;
        ensure!(have <= total, "the profile already has {have} messages, more than {total}");
        let (sender, group) = self.sender.as_ref().context("no sender")?;
        let (from, to) = (self.group_messages, self.group_messages + (total - have));
        group_history::fill(sender, &me, group, from..to, |i| FIRST_TS_MS + i as u64 * 1000).await?;
        self.group_messages = to;
        let now = digest(&me)?.messages;
        ensure!(now == total, "the profile has {now} messages, not {total}");
        me.shutdown();
        drop(me);
        Ok(())
    }

    /// The group (its key shared by one real send) and the one-to-one conversations.
    async fn start(&mut self, me: &Client) -> anyhow::Result<(Client, GroupId)> {
        let server = self.server.clone();
        let sender = register(&self.work.join("sender"), &server, "bench-sender").await?;
        let group = sender.create_group("Bench group", std::slice::from_ref(me.user_id())).await?;
        sender.send_group_text(&group.group_id, &group_history::body(0)).await.context("the first group message")?;
        self.group_messages = 1;
        let own = UserId::parse(OWN_USER)?;
        for f in 0..FRIENDS {
            let user = format!("bench-friend-{f}");
            let friend = register(&self.work.join(&user), &server, &user).await?;
            for i in 0..DIRECT_MESSAGES {
                friend.send_text(&own, &format!("hello from friend {f}, message {i}")).await?;
            }
            friend.shutdown();
        }
        me.sync().await.context("receiving the first messages")?;
        for f in 0..FRIENDS {
            me.send_text(&UserId::parse(format!("bench-friend-{f}"))?, &format!("a reply to friend {f}")).await?;
        }
        Ok((sender, group.group_id))
    }

    pub fn shutdown(self) {
        if let Some((sender, _)) = self.sender {
            sender.shutdown();
        }
    }
}

/// A profile's history, summed up: how many conversations and messages, and a hash over every
/// message's fields (order-independent), so two profiles with equal digests hold the same
/// messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Digest {
    pub conversations: usize,
    pub messages: usize,
    pub hash: u64,
}

pub fn digest(client: &Client) -> anyhow::Result<Digest> {
    let conversations = client.conversations()?;
    let (mut messages, mut hash) = (0usize, 0u64);
    for c in &conversations {
        let mut before = None;
        loop {
            let page = client.messages(&c.id, before, 1000)?;
            // Pages come oldest first in the conversation's order: the first is the cursor.
            let Some(oldest) = page.first().map(|m| m.id) else { break };
            for m in &page {
                let mut h = DefaultHasher::new();
                serde_json::to_string(m)?.hash(&mut h);
                hash = hash.wrapping_add(h.finish());
            }
            messages += page.len();
            before = Some(oldest);
        }
    }
    Ok(Digest { conversations: conversations.len(), messages, hash })
}

/// A registered profile of [`EMPTY_USER`] with no history (closed again).
pub async fn empty(server: &str, work: &Path) -> anyhow::Result<PathBuf> {
    let dir = work.join("empty");
    let client = register(&dir, server, EMPTY_USER).await?;
    client.shutdown();
    drop(client);
    Ok(dir)
}

/// The digest of the profile in `dir` (opened with the bench passphrase, then closed).
pub fn digest_of(dir: &Path) -> anyhow::Result<Digest> {
    let client = Client::open(dir, Some(PASSPHRASE)).with_context(|| format!("opening {}", dir.display()))?;
    let d = digest(&client);
    client.shutdown();
    drop(client);
    d
}
