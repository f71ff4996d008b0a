//! Keeping up with the server: a one-shot HTTP sync (`sync`), and the background service
//! (`start`) that holds the device's WebSocket, replays the inbox after every reconnect,
//! commits entries before acknowledging them, and drives the outbox with backoff.

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde::Serialize;
use sotto_proto::limits::MAX_CLIENT_FRAME_BYTES;
use sotto_proto::routes::{self, InboxQuery};
use sotto_proto::{
    AckRequest, ClientFrame, EphemeralTarget, GroupId, InboxEntry, MessageId, SendReceipt, ServerFrame, SocketSend,
    UserId,
};
use tokio_tungstenite::tungstenite::{self, Message as WsMessage, client::IntoClientRequest as _};

use super::Client;
use super::receive::Processed;
use crate::ConversationId;
use crate::events::{ClientEvent, ConnectionState};
use crate::network::{NetworkError, ProtocolError};
use crate::store::now_ms;
use crate::{Error, Result};

/// How long a send over the socket may wait for its answer before it goes over HTTP instead
/// (as long as an HTTP request may take).
const SOCKET_SEND_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the answer to a send over the socket goes.
pub(crate) type SocketAnswer = tokio::sync::oneshot::Sender<Result<SendReceipt>>;

tokio::task_local! {
    /// Set in the task that reads the socket: a send made from there (a follow-up of received
    /// entries) must not wait for an answer only that task can read.
    static READING_SOCKET: ();
}

/// Entries fetched or processed per batch.
const BATCH: u32 = 200;
/// The largest frame accepted from the server: an entry carries one ciphertext (at most
/// 256 KiB) and some metadata.
const MAX_FRAME_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct SyncSummary {
    /// New messages stored (including undecryptable ones).
    pub messages: usize,
    /// Inbox entries processed.
    pub entries: usize,
}

/// What a sealed typing notice holds.
#[derive(serde::Serialize, serde::Deserialize)]
struct TypingNotice {
    typing: bool,
    /// When it was sent (ms, the sender's clock).
    ts: i64,
}

/// A typing notice further than this from the receiver's clock is not shown (a replay, or
/// clocks far apart).
const TYPING_NOTICE_MAX_AGE_MS: i64 = 60_000;

impl Client {
    /// Fetch everything waiting in the inbox over HTTP, store it, acknowledge it, and send what
    /// is queued. For scripts and the CLI; the app uses [`Client::start`].
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn sync(&self) -> Result<SyncSummary> {
        self.publish_keys().await?;
        let summary = self.fetch_inbox().await?;
        self.top_up_keys().await?;
        self.upload_waiting().await;
        self.flush_outbox().await;
        self.back_up_new_keys().await;
        // Messages whose time ran out go (the background service sweeps on its own).
        self.sweep_expired()?;
        Ok(summary)
    }

    /// Fetch, store and acknowledge everything waiting in the inbox, over HTTP.
    pub(crate) async fn fetch_inbox(&self) -> Result<SyncSummary> {
        let mut summary = SyncSummary::default();
        loop {
            let after: u64 = self.read(|db| db.meta(super::META_INBOX_SEQ))?.and_then(|s| s.parse().ok()).unwrap_or(0);
            let query = InboxQuery { after, limit: Some(BATCH) };
            let page: RawInboxPage = self.call_as::<routes::FetchInbox, _>(&(), &query, &()).await?;
            if page.entries.is_empty() {
                break;
            }
            summary.entries += page.entries.len();
            let (entries, unreadable_up_to) = parse_entries(page.entries);
            let processed = self.process_entries(&entries, unreadable_up_to).await?;
            summary.messages += processed.messages;
            self.after_batch(processed).await?;
            if !page.more {
                break;
            }
        }
        Ok(summary)
    }

    /// Acknowledge over HTTP, emit events, refresh device lists that membership changes asked for.
    async fn after_batch(&self, mut processed: Processed) -> Result<()> {
        let up_to = processed.last_seq;
        self.emit_all(std::mem::take(&mut processed.events));
        self.call::<routes::AckInbox>(&(), &AckRequest { up_to }).await?;
        self.follow_up(processed).await;
        Ok(())
    }

    /// What a committed and acknowledged batch asked for (over HTTP or the socket alike): top up
    /// or replace keys, refresh device lists, repair sessions, run verification steps, read group
    /// history after a key hand-over.
    async fn follow_up(&self, processed: Processed) {
        self.refresh_after(processed.refresh, processed.spent_keys).await;
        for local in processed.removed_files {
            self.remove_local_file(Some(local));
        }
        if processed.receipts_queued {
            self.inner.outbox_wake.notify_one();
        }
        if processed.profiles_changed {
            self.read_profiles().await;
        }
        // New messages may run out (a conversation with a timer).
        self.inner.expiry_wake.notify_one();
        self.auto_download(processed.files).await;
        // Recorded in the batch's transaction when an incoming session used it.
        self.replace_used_fallback().await;
        self.repair(processed.repairs).await;
        for (sender, content) in processed.verification {
            self.on_verification(sender, content).await;
        }
        if processed.keys_handed_over {
            self.read_all_group_history().await;
        }
        let mut forced: std::collections::BTreeSet<&GroupId> = processed.stale_groups.iter().collect();
        forced.extend(processed.expected_heads.keys());
        for group in &forced {
            self.recheck_group(group, true).await;
        }
        for group in processed.groups_seen.iter().filter(|g| !forced.contains(g)) {
            self.recheck_group(group, false).await;
        }
        for (group, (seq, sender)) in &processed.expected_heads {
            self.expect_change(group, *seq, sender);
        }
    }

    /// Follow-up work a batch asked for: top up spent one-time keys, refresh new members' devices.
    async fn refresh_after(&self, users: std::collections::BTreeSet<UserId>, spent_keys: bool) {
        if spent_keys && let Err(e) = self.top_up_keys().await {
            tracing::warn!(error = %e, "could not top up one-time keys");
        }
        if users.is_empty() {
            return;
        }
        let users: Vec<UserId> = users.into_iter().collect();
        if let Err(e) = self.refresh_devices(&users).await {
            tracing::warn!(error = %e, "could not refresh group members' devices");
        }
    }

    /// Start the background service: the WebSocket (receive), and the outbox (send). Runs until
    /// [`Client::shutdown`]. Connection changes are reported as events.
    pub fn start(&self) {
        if self.inner.started.swap(true, std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let client = self.clone();
        self.inner.tasks.spawn(async move { client.run_socket().await });
        let client = self.clone();
        self.inner.tasks.spawn(async move { client.run_outbox().await });
        let client = self.clone();
        self.inner.tasks.spawn(async move { client.run_key_backup().await });
        let client = self.clone();
        self.inner.tasks.spawn(async move { client.run_transfers().await });
        let client = self.clone();
        self.inner.tasks.spawn(async move { client.run_expiry().await });
    }

    fn set_connection(&self, state: ConnectionState) {
        let changed = self.inner.connection.send_if_modified(|s| {
            let changed = *s != state;
            *s = state;
            changed
        });
        if changed {
            self.emit(ClientEvent::ConnectionChanged { state });
        }
    }

    /// The server's certificate is not the trusted one. Not a network hiccup: the person decides
    /// (compare the fingerprints and trust the new certificate, or not). Until then nothing is
    /// sent or received.
    fn halt_on_certificate(&self, problem: super::CertificateProblem) {
        tracing::warn!(trusted = ?problem.trusted, presented = %problem.presented, "the server's certificate is not the trusted one; sync stopped");
        if let Ok(mut slot) = self.inner.certificate_problem.lock() {
            *slot = Some(problem);
        }
        self.set_connection(ConnectionState::CertificateChanged);
    }

    pub(crate) async fn run_socket(&self) {
        let mut failures: u32 = 0;
        while !self.inner.cancel.is_cancelled() {
            self.set_connection(ConnectionState::Connecting);
            let result = tokio::select! {
                r = READING_SOCKET.scope((), self.socket_session(&mut failures)) => r,
                () = self.inner.cancel.cancelled() => break,
            };
            if let Ok(mut slot) = self.inner.socket_out.lock() {
                *slot = None;
            }
            // Sends still waiting for an answer go over HTTP (the same message id: a send the
            // server did store is answered as a duplicate).
            if let Ok(mut waiting) = self.inner.socket_sends.lock() {
                waiting.clear();
            }
            self.set_connection(ConnectionState::Offline);
            match result {
                Err(Error::SignedOut) => {
                    tracing::warn!("this device was signed out; sync stopped");
                    break;
                }
                Err(Error::CertificateChanged { expected, presented, .. }) => {
                    // Not `break`: the loop's end would say "offline" over the reason.
                    return self.halt_on_certificate(super::CertificateProblem { trusted: Some(expected), presented });
                }
                Err(Error::UntrustedCertificate { fingerprint, .. }) => {
                    return self
                        .halt_on_certificate(super::CertificateProblem { trusted: None, presented: fingerprint });
                }
                Err(e) => tracing::info!(error = %e, "connection lost"),
                Ok(()) => tracing::info!("the server closed the connection"),
            }
            failures = failures.saturating_add(1);
            let delay = reconnect_delay(failures);
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = self.inner.cancel.cancelled() => break,
            }
        }
        self.set_connection(ConnectionState::Offline);
    }

    /// One connection: replay, then live pushes, until it breaks.
    async fn socket_session(&self, failures: &mut u32) -> Result<()> {
        let mut token = self.access_token().await;
        let (socket, _) = loop {
            let mut request = self
                .inner
                .api
                .ws_url()
                .into_client_request()
                .map_err(|e| Error::InvalidInput(format!("bad server address: {e}")))?;
            let value = format!("Bearer {}", token.as_str())
                .parse()
                .map_err(|_| Error::Protocol(ProtocolError::TokenHeader))?;
            request.headers_mut().insert("Authorization", value);
            // Frames are entries of at most one ciphertext plus metadata: bound what is buffered.
            let config = tungstenite::protocol::WebSocketConfig::default()
                .max_message_size(Some(MAX_FRAME_BYTES))
                .max_frame_size(Some(MAX_FRAME_BYTES));
            let connector = tokio_tungstenite::Connector::Rustls(self.inner.api.tls().socket_config());
            match tokio_tungstenite::connect_async_tls_with_config(request, Some(config), false, Some(connector)).await
            {
                Ok(ok) => break ok,
                Err(tungstenite::Error::Http(resp)) if resp.status() == 401 => {
                    let body: Option<sotto_proto::ErrorBody> =
                        resp.body().as_ref().and_then(|b| serde_json::from_slice(b).ok());
                    if body.is_some_and(|b| b.code == sotto_proto::ErrorCode::TokenExpired) {
                        token = self.refresh_tokens(&token).await?;
                        continue;
                    }
                    return Err(Error::SignedOut);
                }
                Err(e) => return Err(self.inner.api.offline(NetworkError::socket(e))),
            }
        };
        self.set_connection(ConnectionState::Syncing);
        let (mut tx, mut rx) = socket.split();
        let (out_tx, mut out_rx) = tokio::sync::mpsc::channel::<String>(32);
        if let Ok(mut slot) = self.inner.socket_out.lock() {
            *slot = Some(out_tx);
        }
        let mut batch: Vec<InboxEntry> = Vec::new();
        // The highest sequence number of entries this version cannot read (acked all the same).
        let mut unreadable_up_to = 0u64;
        loop {
            let frame = tokio::select! {
                frame = rx.next() => match frame {
                    Some(Ok(frame)) => frame,
                    Some(Err(e)) => return Err(Error::Offline(NetworkError::socket(e))),
                    None => return Ok(()),
                },
                Some(text) = out_rx.recv() => {
                    tx.send(WsMessage::text(text)).await.map_err(|e| Error::Offline(NetworkError::socket(e)))?;
                    continue;
                }
            };
            let mut synced = false;
            self.collect(frame, &mut batch, &mut unreadable_up_to, &mut synced);
            // Take whatever else already arrived, to commit it in one transaction.
            while batch.len() < BATCH as usize {
                match futures_util::FutureExt::now_or_never(rx.next()) {
                    Some(Some(Ok(frame))) => self.collect(frame, &mut batch, &mut unreadable_up_to, &mut synced),
                    Some(Some(Err(e))) => return Err(Error::Offline(NetworkError::socket(e))),
                    Some(None) => return Ok(()),
                    None => break,
                }
            }
            if !batch.is_empty() || unreadable_up_to > 0 {
                let mut processed = self.process_entries(&batch, unreadable_up_to).await?;
                batch.clear();
                unreadable_up_to = 0;
                let up_to = processed.last_seq;
                let new_sessions = processed.new_sessions;
                self.emit_all(std::mem::take(&mut processed.events));
                if new_sessions {
                    self.back_up_new_keys().await;
                }
                let ack = serde_json::to_string(&ClientFrame::Ack { up_to })
                    .map_err(|e| Error::Protocol(ProtocolError::Encode(e)))?;
                tx.send(WsMessage::text(ack)).await.map_err(|e| Error::Offline(NetworkError::socket(e)))?;
                self.follow_up(processed).await;
            }
            if synced {
                *failures = 0;
                self.set_connection(ConnectionState::Online);
                // Back online: settle a key reset a crash interrupted, top up keys and send
                // what waited.
                if let Err(e) = self.finish_interrupted_reset().await {
                    tracing::warn!(error = %e, "could not settle an interrupted key reset");
                }
                if let Err(e) = self.top_up_keys().await {
                    tracing::warn!(error = %e, "could not top up one-time keys");
                }
                if let Err(e) = self.read(|db| db.outbox_wake(now_ms())) {
                    tracing::error!(error = %e, "cannot read the outbox");
                }
                self.inner.outbox_wake.notify_one();
                self.inner.transfers.wake.notify_one();
            }
        }
    }

    /// Sort one frame into the batch. A frame this version does not understand (a newer server)
    /// is skipped; if it was an inbox entry, its sequence number is still acknowledged, so one
    /// unreadable entry cannot stall sync forever.
    fn collect(&self, frame: WsMessage, batch: &mut Vec<InboxEntry>, unreadable_up_to: &mut u64, synced: &mut bool) {
        let WsMessage::Text(text) = frame else { return };
        match serde_json::from_str::<ServerFrame>(&text) {
            Ok(ServerFrame::Entry { entry }) => batch.push(entry),
            Ok(ServerFrame::Synced { .. }) => *synced = true,
            Ok(ServerFrame::Ephemeral { from_user, group_id, body, .. }) => self.ephemeral(from_user, group_id, &body),
            Ok(ServerFrame::Error { code, message }) => {
                tracing::warn!(?code, %message, "the server refused a frame");
            }
            Ok(ServerFrame::Sent { receipt }) => self.answer_send(&receipt.message_id.clone(), Ok(receipt)),
            Ok(ServerFrame::SendFailed { message_id, status, error, .. }) => {
                let refused = Error::Server {
                    status,
                    code: error.code,
                    message: error.message,
                    devices: error.devices,
                    users: error.users,
                };
                self.answer_send(&message_id, Err(refused));
            }
            Err(_) => {
                let value: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                if value.get("type").and_then(|t| t.as_str()) == Some("entry")
                    && let Some(seq) = value.get("entry").and_then(|e| e.get("seq")).and_then(|s| s.as_u64())
                {
                    tracing::warn!(seq, "skipping an inbox entry this version cannot read");
                    *unreadable_up_to = (*unreadable_up_to).max(seq);
                } else {
                    tracing::warn!("skipping a frame this version does not understand");
                }
            }
        }
    }

    /// Tell the other side of a conversation that this user is (or stopped) typing. Best
    /// effort and online only: `Ok(false)` when not connected, or before this user's profile
    /// key went to the conversation (nobody there could open the notice). The notice is sealed
    /// under the profile key (see [`crate::crypto::profile_key`]): the server sees only that
    /// something went from this user to the conversation, never what.
    pub fn send_typing(&self, conversation_id: &ConversationId, typing: bool) -> Result<bool> {
        let own = &self.inner.own.user_id;
        let (to, aad_conversation) = match conversation_id {
            ConversationId::Direct(user) if user == own => return Ok(false),
            ConversationId::Direct(user) => (EphemeralTarget::User { user_id: user.clone() }, user.to_string()),
            ConversationId::Group(group) => (EphemeralTarget::Group { group_id: group.clone() }, group.to_string()),
        };
        let key = self.read(|db| {
            if db.profile_shared(conversation_id)?.is_none() {
                return Ok(None);
            }
            db.profile_key(own.as_str())
        })?;
        let Some(held) = key else { return Ok(false) };
        let notice = TypingNotice { typing, ts: now_ms() };
        let plain = serde_json::to_vec(&notice).map_err(|e| Error::Protocol(ProtocolError::Encode(e)))?;
        let sealed = crate::crypto::profile_key::seal_notice(&held.key, own, &aad_conversation, &plain)?;
        let body = serde_json::json!({ "v": 2, "sealed": sealed }).to_string();
        let frame = ClientFrame::Ephemeral { to, body };
        let text = serde_json::to_string(&frame).map_err(|e| Error::Protocol(ProtocolError::Encode(e)))?;
        let slot = self.inner.socket_out.lock().map_err(|_| Error::Poisoned)?;
        Ok(slot.as_ref().is_some_and(|out| out.try_send(text).is_ok()))
    }

    /// Sends a message over the connected socket and waits for the server's answer: the same
    /// answer as over HTTP, without an HTTP request per message. `None` when it must go over HTTP
    /// instead: not online, a frame larger than the server reads, or the socket ended (or stayed
    /// silent) before the answer came. Retrying over HTTP is safe: the message id makes a send
    /// the server already stored a duplicate.
    pub(crate) async fn send_over_socket(&self, send: &SocketSend) -> Option<Result<SendReceipt>> {
        if READING_SOCKET.try_with(|()| ()).is_ok() || *self.inner.connection.borrow() != ConnectionState::Online {
            return None;
        }
        let out = self.inner.socket_out.lock().ok()?.clone()?;
        let text = serde_json::to_string(&ClientFrame::Send { sends: vec![send.clone()] }).ok()?;
        if text.len() > MAX_CLIENT_FRAME_BYTES {
            return None;
        }
        let message_id = send.message_id().clone();
        let (answer, answered) = tokio::sync::oneshot::channel();
        self.inner.socket_sends.lock().ok()?.insert(message_id.clone(), answer);
        let outcome = match out.send(text).await {
            Ok(()) => tokio::time::timeout(SOCKET_SEND_TIMEOUT, answered).await.ok().and_then(Result::ok),
            Err(_) => None,
        };
        if outcome.is_none() {
            tracing::debug!("the socket did not answer a send; sending it over HTTP");
            if let Ok(mut waiting) = self.inner.socket_sends.lock() {
                waiting.remove(&message_id);
            }
        }
        outcome
    }

    /// The server's answer to a send over the socket (one nobody waits for any more is dropped).
    fn answer_send(&self, message_id: &MessageId, answer: Result<SendReceipt>) {
        let waiting = self.inner.socket_sends.lock().ok().and_then(|mut w| w.remove(message_id));
        if let Some(waiting) = waiting {
            let _ = waiting.send(answer);
        }
    }

    /// An ephemeral event: a typing notice, shown only if the sender's profile key opens it for
    /// this conversation and it is recent (a replay a minute later shows nothing).
    fn ephemeral(&self, from_user: UserId, group_id: Option<GroupId>, body: &str) {
        #[derive(serde::Deserialize)]
        struct Sealed {
            v: u32,
            sealed: String,
        }
        let own = &self.inner.own.user_id;
        if &from_user == own {
            return;
        }
        let Ok(notice) = serde_json::from_str::<Sealed>(body) else { return };
        if notice.v != 2 {
            return;
        }
        let (conversation_id, aad_conversation) = match group_id {
            Some(g) => {
                let aad = g.to_string();
                (ConversationId::Group(g), aad)
            }
            None => (ConversationId::Direct(from_user.clone()), own.to_string()),
        };
        let Ok(Some(held)) = self.read(|db| db.profile_key(from_user.as_str())) else { return };
        let Some(plain) =
            crate::crypto::profile_key::open_notice(&held.key, &from_user, &aad_conversation, &notice.sealed)
        else {
            tracing::debug!(sender = %from_user, "a typing notice that does not open was dropped");
            return;
        };
        let Ok(typing) = serde_json::from_slice::<TypingNotice>(&plain) else { return };
        if (now_ms() - typing.ts).abs() > TYPING_NOTICE_MAX_AGE_MS {
            return;
        }
        self.emit(ClientEvent::Typing { conversation_id, user_id: from_user.to_string(), typing: typing.typing });
    }

    async fn run_outbox(&self) {
        loop {
            let next = match self.read(|db| db.next_outbox_due()) {
                Ok(next) => next,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the outbox");
                    None
                }
            };
            let wait = match next {
                Some(due) => Duration::from_millis(u64::try_from(due.saturating_sub(now_ms())).unwrap_or(0)),
                None => Duration::from_secs(3600),
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.inner.outbox_wake.notified() => {}
                () = self.inner.cancel.cancelled() => return,
            }
            if *self.inner.connection.borrow() == ConnectionState::Online || next.is_some() {
                self.flush_outbox().await;
            }
        }
    }
}

/// `GET /v1/inbox` with entries left unparsed, so one entry of an unknown kind does not make the
/// whole page unreadable.
#[derive(serde::Deserialize)]
struct RawInboxPage {
    entries: Vec<serde_json::Value>,
    #[serde(default)]
    more: bool,
}

/// The entries this version can read, and the highest sequence number of those it cannot.
fn parse_entries(raw: Vec<serde_json::Value>) -> (Vec<InboxEntry>, u64) {
    let mut entries = Vec::with_capacity(raw.len());
    let mut unreadable_up_to = 0;
    for value in raw {
        let seq = value.get("seq").and_then(|s| s.as_u64());
        match serde_json::from_value::<InboxEntry>(value) {
            Ok(entry) => entries.push(entry),
            Err(_) => {
                tracing::warn!(?seq, "skipping an inbox entry this version cannot read");
                unreadable_up_to = unreadable_up_to.max(seq.unwrap_or(0));
            }
        }
    }
    (entries, unreadable_up_to)
}

/// 1 s, 2 s, 4 s ... up to 60 s, with up to 25 % jitter so clients do not reconnect in step.
fn reconnect_delay(failures: u32) -> Duration {
    let base = 1000u64.saturating_mul(1 << failures.min(6)).min(60_000);
    let mut byte = [0u8; 1];
    let jitter = if getrandom::fill(&mut byte).is_ok() { base * u64::from(byte[0]) / 1024 } else { 0 };
    Duration::from_millis(base / 2 + jitter + base / 4)
}

#[cfg(test)]
mod tests {
    use super::parse_entries;

    #[test]
    fn entries_of_unknown_kinds_are_skipped_but_acknowledged() {
        let raw: Vec<serde_json::Value> = serde_json::from_str(
            r#"[
                {"seq":5,"message_id":"msg-00000005","sender_user":"bob","sender_device":"B1","server_ts":1,
                 "body":{"type":"direct","ciphertext":"c"}},
                {"seq":6,"message_id":"msg-00000006","sender_user":"bob","server_ts":1,
                 "body":{"type":"reaction","emoji":"x"}},
                {"seq":7,"message_id":"msg-00000007","sender_user":"bob","sender_device":"B1","server_ts":1,
                 "body":{"type":"direct","ciphertext":"d"},"new_field":true}
            ]"#,
        )
        .unwrap();
        let (entries, unreadable_up_to) = parse_entries(raw);
        assert_eq!(entries.iter().map(|e| e.seq).collect::<Vec<_>>(), [5, 7]);
        assert_eq!(unreadable_up_to, 6);
    }
}
