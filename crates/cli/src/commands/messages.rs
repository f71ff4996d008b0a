//! Conversations: send, sync, listen, read history, list and search.

use anyhow::{Result, bail};
use sotto_core::ConversationId;

use super::groups::resolve_group;
use crate::shell::{Invocation, print, print_line, shutdown_signal, user};

pub async fn send(run: &mut Invocation<'_>, to: &str, text: &str, group: bool) -> Result<()> {
    let client = run.open()?;
    let message = if group {
        let g = resolve_group(&client, to).await?;
        client.send_group_text(&g, text).await?
    } else {
        client.send_text(&user(to)?, text).await?
    };
    print(&message)
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
    let conversation = match (with_user, group) {
        (Some(u), None) => ConversationId::Direct(user(u)?),
        (None, Some(g)) => ConversationId::Group(client.find_group(g)?.group_id),
        _ => bail!("name a user, or a group with --group"),
    };
    print(&client.messages(&conversation, before, limit)?)
}

pub fn conversations(run: &mut Invocation<'_>) -> Result<()> {
    print(&run.open()?.conversations()?)
}

pub fn search(run: &mut Invocation<'_>, text: &str, limit: u32) -> Result<()> {
    print(&run.open()?.search(text, limit)?)
}
