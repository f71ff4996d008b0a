//! Conversations: send, sync, listen, read history, list and search.

use std::path::Path;

use anyhow::{Result, bail};
use sotto_core::ConversationId;

use super::groups::resolve_group;
use crate::shell::{Invocation, print, print_line, shutdown_signal, user};

/// What `send` sends.
pub enum Sending<'a> {
    Text(&'a str),
    File { path: &'a Path, caption: &'a str },
}

pub async fn send(run: &mut Invocation<'_>, to: &str, what: Sending<'_>, group: bool) -> Result<()> {
    let client = run.open()?;
    let message = match (group, what) {
        (true, Sending::Text(text)) => client.send_group_text(&resolve_group(&client, to).await?, text).await?,
        (true, Sending::File { path, caption }) => {
            client.send_group_file(&resolve_group(&client, to).await?, path, caption).await?
        }
        (false, Sending::Text(text)) => client.send_text(&user(to)?, text).await?,
        (false, Sending::File { path, caption }) => client.send_file(&user(to)?, path, caption).await?,
    };
    print(&message)
}

/// Save a message's file to `to`; prints `{message_id, path, size}`.
pub async fn download(run: &mut Invocation<'_>, message_id: &str, to: &Path) -> Result<()> {
    let client = run.open()?;
    let Some(message) = client.message_by_id(message_id)? else {
        bail!("there is no message {message_id} in this profile (run `sotto sync` first?)");
    };
    if message.file.is_none() {
        bail!("message {message_id} has no file");
    }
    let size = client.save_file(message.id, to).await?;
    print(&serde_json::json!({ "message_id": message_id, "path": to, "size": size }))
}

/// The conversation a command names: a user's, or with `--group` a group's (by id or name).
fn conversation_of(
    client: &sotto_core::Client,
    with_user: Option<&str>,
    group: Option<&str>,
) -> Result<ConversationId> {
    Ok(match (with_user, group) {
        (Some(u), None) => ConversationId::Direct(user(u)?),
        (None, Some(g)) => ConversationId::Group(client.find_group(g)?.group_id),
        _ => bail!("name a user, or a group with --group"),
    })
}

/// The stored row of the message `message_id`, or a clear error.
fn row_of(client: &sotto_core::Client, message_id: &str) -> Result<i64> {
    match client.message_by_id(message_id)? {
        Some(message) => Ok(message.id),
        None => bail!("there is no message {message_id} in this profile (run `sotto sync` first?)"),
    }
}

pub async fn reply(run: &mut Invocation<'_>, message_id: &str, text: &str) -> Result<()> {
    let client = run.open()?;
    let row = row_of(&client, message_id)?;
    print(&client.reply(row, text).await?)
}

pub async fn react(run: &mut Invocation<'_>, message_id: &str, emoji: &str, remove: bool) -> Result<()> {
    let client = run.open()?;
    let row = row_of(&client, message_id)?;
    print(&client.react(row, emoji, remove).await?)
}

pub async fn edit(run: &mut Invocation<'_>, message_id: &str, text: &str) -> Result<()> {
    let client = run.open()?;
    let row = row_of(&client, message_id)?;
    print(&client.edit(row, text).await?)
}

pub async fn delete(run: &mut Invocation<'_>, message_id: &str) -> Result<()> {
    let client = run.open()?;
    let row = row_of(&client, message_id)?;
    print(&client.delete_for_everyone(row).await?)
}

pub async fn read(run: &mut Invocation<'_>, with_user: Option<&str>, group: Option<&str>) -> Result<()> {
    let client = run.open()?;
    let conversation = conversation_of(&client, with_user, group)?;
    client.read_conversation(&conversation).await?;
    let listed = client.conversations()?.into_iter().find(|c| c.id == conversation);
    print(&serde_json::json!({ "conversation_id": conversation, "unread": listed.map_or(0, |c| c.unread) }))
}

pub fn conversation(
    run: &mut Invocation<'_>,
    action: &str,
    with_user: Option<&str>,
    group: Option<&str>,
    for_secs: Option<u64>,
) -> Result<()> {
    let client = run.open()?;
    let conversation = conversation_of(&client, with_user, group)?;
    if for_secs.is_some() && action != "mute" {
        bail!("--for goes with mute");
    }
    match action {
        "mute" => {
            let until = match for_secs {
                Some(secs) => {
                    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis();
                    i64::try_from(now.saturating_add(u128::from(secs) * 1000)).unwrap_or(i64::MAX)
                }
                None => i64::MAX,
            };
            client.set_muted(&conversation, Some(until))?;
        }
        "unmute" => client.set_muted(&conversation, None)?,
        "archive" | "unarchive" => client.set_archived(&conversation, action == "archive")?,
        "pin" | "unpin" => client.set_pinned(&conversation, action == "pin")?,
        "unread" => client.mark_unread(&conversation)?,
        "delete" => {
            client.delete_conversation(&conversation)?;
            return print(&serde_json::json!({ "conversation_id": conversation, "deleted": true }));
        }
        other => bail!("unknown action {other}"),
    }
    match client.conversations()?.into_iter().find(|c| c.id == conversation) {
        Some(c) => print(&c),
        None => bail!("there is no such conversation"),
    }
}

pub async fn disappear(
    run: &mut Invocation<'_>,
    with_user: Option<&str>,
    group: Option<&str>,
    after: &str,
) -> Result<()> {
    let client = run.open()?;
    let conversation = conversation_of(&client, with_user, group)?;
    let seconds = match after {
        "off" => None,
        n => Some(n.parse::<u64>().map_err(|_| anyhow::anyhow!("give a number of seconds, or off"))?),
    };
    client.set_disappearing(&conversation, seconds).await?;
    match client.conversations()?.into_iter().find(|c| c.id == conversation) {
        Some(c) => print(&c),
        None => bail!("there is no such conversation"),
    }
}

pub fn read_receipts(run: &mut Invocation<'_>, on: bool) -> Result<()> {
    let client = run.open()?;
    client.set_read_receipts(on)?;
    print(&serde_json::json!({ "read_receipts": client.read_receipts()? }))
}

pub async fn sync(run: &mut Invocation<'_>) -> Result<()> {
    print(&run.open()?.sync().await?)
}

/// Every event as a JSON line until Ctrl-C or SIGTERM.
pub async fn listen(run: &mut Invocation<'_>) -> Result<()> {
    let client = run.open()?;
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

pub fn history(
    run: &mut Invocation<'_>,
    with_user: Option<&str>,
    group: Option<&str>,
    limit: u32,
    before: Option<i64>,
) -> Result<()> {
    let client = run.open()?;
    let conversation = conversation_of(&client, with_user, group)?;
    print(&client.messages(&conversation, before, limit)?)
}

pub fn conversations(run: &mut Invocation<'_>) -> Result<()> {
    print(&run.open()?.conversations()?)
}

pub fn search(run: &mut Invocation<'_>, text: &str, limit: u32) -> Result<()> {
    print(&run.open()?.search(text, limit)?)
}
