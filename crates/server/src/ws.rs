//! `GET /v1/ws`: one WebSocket per device.
//!
//! Order on connect: subscribe to wake-ups first, then replay every unacknowledged entry, then
//! send `synced`; so an entry stored while the replay runs is either in the replay or wakes the
//! socket afterwards — never lost. An entry the hub pushes (committed by this node or, through
//! the bus, by another) is sent only if its seq follows the last one sent; otherwise the socket
//! reads the store, which is the only source of truth. Acks are clamped to what this socket has actually sent, so a confused
//! client cannot delete entries it never saw, and are committed in batches (see `acks.rs`).
//!
//! Liveness: the server pings every socket, and a socket that showed no sign of life for the
//! ping interval plus the pong timeout is closed like any other, its device's registration in
//! the hub dropped — so a peer that vanished without a FIN, or stopped reading, does not hold
//! its socket (and its file descriptor) forever. A sign of life is any frame received (a Pong
//! too), or a batch of entries flushed: a long replay to a slow but reading client, during which
//! its Pongs wait unread, is progress, whereas a dead peer soon fills its send buffer.
//!
//! Sends: a `send` frame's messages go through the same checks, rate limit and store as their
//! HTTP routes (`send_direct_from`, `send_group_from`), one after the other in the frame's order,
//! while the socket goes on pushing and reading; each is answered by its own `sent` or
//! `send_failed` frame when the frame's last send is stored. Several frames are handled at once.
//! A socket with [`MAX_SENDS_IN_FLIGHT`] sends unanswered is not read until some are answered,
//! so a client that pipelines without bound slows itself down (TCP pushes back), not the server.
//! A send cut short by the socket's end is either stored or not; the client sends it again with
//! the same message id, and the server answers a duplicate.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::response::Response;
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use futures_util::{SinkExt, StreamExt};
use sotto_proto::limits::{MAX_CLIENT_FRAME_BYTES, MAX_EPHEMERAL_BYTES, MAX_SOCKET_SENDS};
use sotto_proto::routes::{self, Endpoint as _};
use sotto_proto::{ClientFrame, DeviceAddress, EphemeralTarget, ErrorCode, ServerFrame, SocketSend};
use tracing::instrument;

use crate::auth::Authenticated;
use crate::error::{AppError, AppResult};
use crate::hub::{Delivery, Subscription};
use crate::pushed::PushedEntry;
use crate::state::AppState;

/// Entries read from the store per round while pushing.
const PUSH_BATCH: u32 = 256;
/// Client frames are acks and typing notices (tens of bytes); tungstenite allocates this much
/// per socket up front and zero-fills it on every read. A larger frame grows it for itself.
const READ_BUFFER_BYTES: usize = 1024;
/// Frames fed are written to the peer once this many bytes are buffered (and on flush). The
/// buffer keeps the largest size it reached, for as long as the socket lives: tungstenite's
/// 128 KiB default let one long replay pin ~128 KiB to a socket that then idles.
const WRITE_BUFFER_BYTES: usize = 8 * 1024;
pub const DEFAULT_PING_INTERVAL_SECS: u64 = 30;
pub const DEFAULT_PONG_TIMEOUT_SECS: u64 = 30;
/// Sends a socket may have accepted and not yet answered; past this it is not read.
pub const MAX_SENDS_IN_FLIGHT: usize = 256;
/// How long the close frame to a socket that stopped answering may take to leave.
const SILENT_CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Close codes (4000-4999 are for applications).
const CLOSE_GOING_AWAY: u16 = 1001;
const CLOSE_POLICY: u16 = 1008;
const CLOSE_REPLACED: u16 = 4000;
const CLOSE_NO_PONG: u16 = 4001;

/// How often sockets are pinged, and how long one may leave a ping unanswered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Liveness {
    pub ping_interval: Duration,
    pub pong_timeout: Duration,
}

impl Default for Liveness {
    fn default() -> Self {
        Liveness {
            ping_interval: Duration::from_secs(DEFAULT_PING_INTERVAL_SECS),
            pong_timeout: Duration::from_secs(DEFAULT_PONG_TIMEOUT_SECS),
        }
    }
}

/// When a socket last showed a sign of life, readable by the watchdog while the session runs.
struct Heard {
    start: tokio::time::Instant,
    /// Milliseconds after `start`.
    last_ms: AtomicU64,
}

impl Heard {
    fn new() -> Self {
        Heard { start: tokio::time::Instant::now(), last_ms: AtomicU64::new(0) }
    }

    fn now(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// Resolves once nothing was heard for `limit`.
    async fn silent_for(&self, limit: Duration) {
        loop {
            let deadline = self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed)) + limit;
            if tokio::time::Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}

#[utoipa::path(get, path = routes::Connect::PATH, tag = "messages", security(("bearer" = [])),
    responses((status = 101, description = "WebSocket of JSON frames: see `ServerFrame` and `ClientFrame`"), (status = 401, body = sotto_proto::ErrorBody)))]
pub async fn connect(
    State(state): State<AppState>,
    Authenticated(device): Authenticated,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> AppResult<Response> {
    let upgrade = upgrade.map_err(|_| AppError::invalid_input("This route only accepts a WebSocket upgrade."))?;
    if state.shutdown.is_cancelled() {
        return Err(AppError::internal("connection attempt during shutdown"));
    }
    // Held by the socket task until it ends, so shutdown can wait for the close frame.
    let tracked = state.sockets.token();
    Ok(upgrade
        // Client frames are small (acks, typing). tungstenite zero-fills its read buffer up to
        // this size on every read; its 128 KiB default made zeroing the top cost of fan-out.
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_message_size(MAX_CLIENT_FRAME_BYTES)
        .max_frame_size(MAX_CLIENT_FRAME_BYTES)
        .on_upgrade(move |socket| async move {
            serve(state, device, socket).await;
            drop(tracked);
        }))
}

#[instrument(skip_all, fields(user = %device.user_id, device = %device.device_id))]
async fn serve(state: AppState, device: DeviceAddress, mut socket: WebSocket) {
    let sub = state.hub.subscribe(&device);
    state.metrics.websocket_connections.inc();
    tracing::debug!("socket open");
    // Entries acked but not yet committed are not sent again.
    let last_sent = state.acks.floor(&device);
    let liveness = state.liveness;
    let heard = Heard::new();
    let mut session = SocketSession { state: &state, device: &device, last_sent, heard: &heard };
    // The watchdog runs beside the session, not in its loop: a session stuck sending to a peer
    // that stopped reading is cut off too.
    let ended = tokio::select! {
        ended = session.run(&mut socket, &sub, liveness.ping_interval) => Some(ended),
        () = heard.silent_for(liveness.ping_interval + liveness.pong_timeout) => None,
    };
    match ended {
        Some(Ok(())) => tracing::debug!("socket closed"),
        Some(Err(e)) => tracing::debug!(error = %e, "socket ended"),
        None => {
            tracing::debug!("no answer to pings: closing the socket");
            state.metrics.connections_timed_out.get_or_create(&crate::metrics::KindLabels { kind: "websocket" }).inc();
            let goodbye = close(&mut socket, CLOSE_NO_PONG, "No answer to pings in time.");
            let _ = tokio::time::timeout(SILENT_CLOSE_GRACE, goodbye).await;
        }
    }
    state.metrics.websocket_connections.dec();
}

#[derive(Debug, thiserror::Error)]
enum SocketEnd {
    #[error("websocket: {0}")]
    Socket(#[from] axum::Error),
    #[error(transparent)]
    App(#[from] AppError),
    #[error("encoding a frame: {0}")]
    Encode(#[from] serde_json::Error),
}

struct SocketSession<'a> {
    state: &'a AppState,
    device: &'a DeviceAddress,
    /// The highest seq sent on this socket.
    last_sent: u64,
    heard: &'a Heard,
}

impl SocketSession<'_> {
    async fn run(
        &mut self,
        socket: &mut WebSocket,
        sub: &Subscription,
        ping_interval: Duration,
    ) -> Result<(), SocketEnd> {
        self.push_pending(socket).await?;
        send(socket, &ServerFrame::Synced { up_to: self.last_sent }).await?;
        // The first ping at a random point of the first interval: sockets that connected
        // together (clients reconnecting after a restart) are not all pinged together.
        let first_ping = tokio::time::Instant::now() + ping_offset(ping_interval, sub.conn());
        let mut ping = tokio::time::interval_at(first_ping, ping_interval);
        let mut sending = Sending::default();
        loop {
            tokio::select! {
                biased;
                _ = self.state.shutdown.cancelled() => {
                    return close(socket, CLOSE_GOING_AWAY, "The server is restarting; reconnect shortly.").await;
                }
                _ = sub.close.cancelled() => {
                    return close(socket, CLOSE_REPLACED, "Another connection of this device replaced this one, or the device was signed out.").await;
                }
                answers = sending.next() => {
                    // With the answers of every other frame already stored: one write for all.
                    let mut answers = answers;
                    loop {
                        for answer in answers {
                            socket.feed(Message::Text(serde_json::to_string(&answer)?.into())).await?;
                        }
                        match futures_util::FutureExt::now_or_never(sending.next()) {
                            Some(more) => answers = more,
                            None => break,
                        }
                    }
                    socket.flush().await?;
                }
                incoming = socket.recv(), if sending.has_room() => match incoming {
                    None | Some(Ok(Message::Close(_))) => return Ok(()),
                    Some(Err(e)) => return Err(e.into()),
                    Some(Ok(Message::Text(text))) => {
                        self.heard.now();
                        self.handle_frame(socket, text.as_str(), &mut sending).await?;
                    }
                    Some(Ok(Message::Binary(_))) => {
                        return close(socket, CLOSE_POLICY, "Frames must be JSON text.").await;
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => self.heard.now(),
                },
                () = sub.mailbox.changed() => self.deliver(socket, sub.mailbox.take()).await?,
                _ = ping.tick() => socket.send(Message::Ping(Default::default())).await?,
            }
        }
    }

    /// Sends what the hub put in the socket's mailbox: pushed entries, then the store's if it
    /// asked for a read, then ephemeral frames.
    async fn deliver(&mut self, socket: &mut WebSocket, delivery: Delivery) -> Result<(), SocketEnd> {
        let Delivery { entries, read_store, ephemeral } = delivery;
        if !entries.is_empty() {
            self.push_fresh(socket, entries).await?;
        }
        if read_store {
            self.push_pending(socket).await?;
        }
        if !ephemeral.is_empty() {
            let n = ephemeral.len() as u64;
            for frame in ephemeral {
                socket.feed(Message::Text(serde_json::to_string(&frame)?.into())).await?;
            }
            socket.flush().await?;
            self.state.metrics.ephemeral_relayed.inc_by(n);
        }
        Ok(())
    }

    /// Sends entries pushed by the hub, in seq order; on a gap it reads the missing entries from
    /// the store instead (and skips the queued ones that read covered).
    async fn push_fresh(&mut self, socket: &mut WebSocket, entries: VecDeque<PushedEntry>) -> Result<(), SocketEnd> {
        let mut sent = 0u64;
        let mut unflushed = 0u32;
        for entry in entries {
            if entry.seq == self.last_sent + 1 {
                socket.feed(Message::Text(entry.text().into())).await?;
                self.last_sent = entry.seq;
                sent += 1;
                unflushed += 1;
                if unflushed == PUSH_BATCH {
                    socket.flush().await?;
                    self.heard.now();
                    unflushed = 0;
                }
            } else if entry.seq > self.last_sent {
                // Something is missing (pushed out of order, or dropped): the store has it.
                socket.flush().await?;
                self.push_pending(socket).await?;
            }
        }
        socket.flush().await?;
        if sent > 0 {
            self.heard.now();
        }
        self.state.metrics.entries_pushed.inc_by(sent);
        Ok(())
    }

    /// Sends every stored entry after `last_sent`, in order.
    async fn push_pending(&mut self, socket: &mut WebSocket) -> Result<(), SocketEnd> {
        loop {
            let entries =
                self.state.inbox.fetch(self.device, self.last_sent, PUSH_BATCH).await.map_err(AppError::from)?;
            let n = entries.len();
            for entry in entries {
                let seq = entry.seq;
                let text = serde_json::to_string(&ServerFrame::Entry { entry })?;
                socket.feed(Message::Text(text.into())).await?;
                self.last_sent = seq;
            }
            if n > 0 {
                socket.flush().await?;
                self.heard.now();
                self.state.metrics.entries_pushed.inc_by(n as u64);
            }
            if n < PUSH_BATCH as usize {
                return Ok(());
            }
        }
    }

    async fn handle_frame(
        &mut self,
        socket: &mut WebSocket,
        text: &str,
        sending: &mut Sending,
    ) -> Result<(), SocketEnd> {
        let frame = match parse_frame(text) {
            Ok(frame) => frame,
            Err(message) => {
                return send(socket, &ServerFrame::Error { code: ErrorCode::InvalidJson, message }).await;
            }
        };
        let outcome = match frame {
            ClientFrame::Ack { up_to } => {
                self.state.acks.ack(self.device, up_to.min(self.last_sent));
                Ok(())
            }
            ClientFrame::Ephemeral { to, body } => self.relay_ephemeral(to, body).await,
            ClientFrame::Send { sends } => self.accept_sends(sends, sending),
        };
        match outcome {
            Ok(()) => Ok(()),
            Err(AppError::Client { code, message, .. } | AppError::RetryLater { code, message, .. }) => {
                send(socket, &ServerFrame::Error { code, message }).await
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Starts storing a frame's sends (see the module's documentation).
    fn accept_sends(&self, sends: Vec<SocketSend>, sending: &mut Sending) -> AppResult<()> {
        if sends.is_empty() || sends.len() > MAX_SOCKET_SENDS {
            return Err(AppError::invalid_input(format!("A send frame carries 1 to {MAX_SOCKET_SENDS} sends.")));
        }
        let (state, sender) = (self.state.clone(), self.device.clone());
        let count = sends.len();
        state.metrics.socket_sends.inc_by(count as u64);
        sending.start(
            count,
            Box::pin(async move {
                let mut answers = Vec::with_capacity(sends.len());
                for send in sends {
                    answers.push(store_send(&state, &sender, send).await);
                }
                answers
            }),
        );
        Ok(())
    }

    async fn relay_ephemeral(&self, to: EphemeralTarget, body: String) -> AppResult<()> {
        if body.len() > MAX_EPHEMERAL_BYTES {
            return Err(AppError::invalid_input(format!("An ephemeral body is at most {MAX_EPHEMERAL_BYTES} bytes.")));
        }
        self.state.limits.check_account(&self.device.user_id)?;
        let (users, group_id) = match to {
            EphemeralTarget::User { user_id } => {
                // Only to someone who shares a conversation with the sender: typing notices are
                // not a way to reach strangers (nor to learn who has an account).
                if user_id != self.device.user_id
                    && !self.state.inbox.share_conversation(&self.device.user_id, &user_id).await?
                {
                    return Err(AppError::forbidden(
                        "Events like typing go only to people you share a conversation with.",
                    ));
                }
                (vec![user_id], None)
            }
            EphemeralTarget::Group { group_id } => {
                let group =
                    self.state.groups.group(&group_id).await?.ok_or_else(|| AppError::not_found("No such group."))?;
                if !group.members.iter().any(|m| m.user_id == self.device.user_id) {
                    return Err(AppError::not_member());
                }
                (group.members.into_iter().map(|m| m.user_id).collect(), Some(group_id))
            }
        };
        let frame = ServerFrame::Ephemeral {
            from_user: self.device.user_id.clone(),
            from_device: self.device.device_id.clone(),
            group_id,
            body,
        };
        self.state.hub.send_ephemeral(&users, self.device, &frame);
        Ok(())
    }
}

/// A client frame, or why it is not one (in words that never quote a value it held: a send's
/// ciphertext stays out of error frames and logs).
fn parse_frame(text: &str) -> Result<ClientFrame, String> {
    // A frame is a JSON object, as a request body is (serde would also read a tagged frame from
    // an array such as `["ack", 5]`).
    if !text.trim_start().starts_with('{') {
        return Err("A frame must be a JSON object (`{...}`).".to_owned());
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let frame = serde_path_to_error::deserialize::<_, ClientFrame>(&mut de).map_err(|e| {
        let described = crate::error::describe_shape_error(&format!("frame: {}: {}", e.path(), e.inner()));
        format!("The frame is not a valid client frame: {described}")
    })?;
    de.end().map_err(|_| "The frame has something after its JSON object.".to_owned())?;
    Ok(frame)
}

/// One send over the socket, stored (or refused) as its HTTP route would; its answer frame.
async fn store_send(state: &AppState, sender: &DeviceAddress, send: SocketSend) -> ServerFrame {
    let message_id = send.message_id().clone();
    let stored = async {
        // Each send counts against the account's request budget as its HTTP request would.
        state.limits.check_account(&sender.user_id)?;
        match send {
            SocketSend::Direct { request } => {
                crate::api::messages::send_direct_from(state, sender.clone(), request).await
            }
            SocketSend::Group { group_id, request } => {
                crate::api::groups::send_group_from(state, sender.clone(), group_id, request).await
            }
        }
    };
    match stored.await {
        Ok(receipt) => ServerFrame::Sent { receipt },
        Err(e) => {
            let (status, error, after) = e.into_body();
            let retry_after_secs = after.map(crate::error::retry_after_secs);
            ServerFrame::SendFailed { message_id, status: status.as_u16(), error, retry_after_secs }
        }
    }
}

/// A socket's sends in flight: one future per frame, answering each of its sends.
#[derive(Default)]
struct Sending {
    /// Made on the first send frame: a socket that never sends (most are idle) holds none.
    frames: Option<FuturesUnordered<BoxFuture<'static, Vec<ServerFrame>>>>,
    sends: usize,
}

impl Sending {
    fn has_room(&self) -> bool {
        self.sends < MAX_SENDS_IN_FLIGHT
    }

    fn start(&mut self, count: usize, frame: BoxFuture<'static, Vec<ServerFrame>>) {
        self.sends += count;
        self.frames.get_or_insert_with(FuturesUnordered::new).push(frame);
    }

    /// The answers of the next frame whose sends are all stored; pending while there is none.
    async fn next(&mut self) -> Vec<ServerFrame> {
        let Some(frames) = self.frames.as_mut().filter(|f| !f.is_empty()) else {
            return std::future::pending().await;
        };
        match frames.next().await {
            Some(answers) => {
                self.sends = self.sends.saturating_sub(answers.len());
                answers
            }
            None => std::future::pending().await,
        }
    }
}

/// Where in `[0, interval)` a socket's first ping goes: a hash of its connection number with the
/// process's random hash keys, so it differs between sockets and between runs.
fn ping_offset(interval: Duration, conn: u64) -> Duration {
    use std::hash::BuildHasher;
    let spread = u64::try_from(interval.as_nanos()).unwrap_or(u64::MAX);
    let hash = std::collections::hash_map::RandomState::new().hash_one(conn);
    Duration::from_nanos(hash.checked_rem(spread).unwrap_or(0))
}

async fn send(socket: &mut WebSocket, frame: &ServerFrame) -> Result<(), SocketEnd> {
    let text = serde_json::to_string(frame)?;
    socket.send(Message::Text(text.into())).await?;
    Ok(())
}

async fn close(socket: &mut WebSocket, code: u16, reason: &'static str) -> Result<(), SocketEnd> {
    socket.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await?;
    Ok(())
}
