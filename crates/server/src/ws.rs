//! `GET /v1/ws`: one WebSocket per device.
//!
//! Order on connect: subscribe to wake-ups first, then replay every unacknowledged entry, then
//! send `synced`; so an entry stored while the replay runs is either in the replay or wakes the
//! socket afterwards — never lost. Pushed entries are always read back from the store, which is
//! the only source of truth. Acks are clamped to what this socket has actually sent, so a confused
//! client cannot delete entries it never saw, and are committed in batches (see `acks.rs`).
//!
//! Liveness: the server pings every socket, and a socket that showed no sign of life for the
//! ping interval plus the pong timeout is closed like any other, its device's registration in
//! the hub dropped — so a peer that vanished without a FIN, or stopped reading, does not hold
//! its socket (and its file descriptor) forever. A sign of life is any frame received (a Pong
//! too), or a batch of entries flushed: a long replay to a slow but reading client, during which
//! its Pongs wait unread, is progress, whereas a dead peer soon fills its send buffer.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::response::Response;
use futures_util::SinkExt;
use sotto_proto::limits::{MAX_CLIENT_FRAME_BYTES, MAX_EPHEMERAL_BYTES};
use sotto_proto::routes::{self, Endpoint as _};
use sotto_proto::{ClientFrame, DeviceAddress, EphemeralTarget, ErrorCode, InboxEntry, ServerFrame};
use tracing::instrument;

use crate::auth::Authenticated;
use crate::error::{AppError, AppResult};
use crate::hub::{Delivery, Subscription};
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
        loop {
            tokio::select! {
                biased;
                _ = self.state.shutdown.cancelled() => {
                    return close(socket, CLOSE_GOING_AWAY, "The server is restarting; reconnect shortly.").await;
                }
                _ = sub.close.cancelled() => {
                    return close(socket, CLOSE_REPLACED, "Another connection of this device replaced this one, or the device was signed out.").await;
                }
                incoming = socket.recv() => match incoming {
                    None | Some(Ok(Message::Close(_))) => return Ok(()),
                    Some(Err(e)) => return Err(e.into()),
                    Some(Ok(Message::Text(text))) => {
                        self.heard.now();
                        self.handle_frame(socket, text.as_str()).await?;
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
    async fn push_fresh(&mut self, socket: &mut WebSocket, entries: VecDeque<InboxEntry>) -> Result<(), SocketEnd> {
        let mut sent = 0u64;
        let mut unflushed = 0u32;
        for entry in entries {
            if entry.seq == self.last_sent + 1 {
                let seq = entry.seq;
                socket.feed(Message::Text(serde_json::to_string(&ServerFrame::Entry { entry })?.into())).await?;
                self.last_sent = seq;
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

    async fn handle_frame(&mut self, socket: &mut WebSocket, text: &str) -> Result<(), SocketEnd> {
        // A frame is a JSON object, as a request body is (serde would also read a tagged frame
        // from an array such as `["ack", 5]`).
        if !text.trim_start().starts_with('{') {
            let message = "A frame must be a JSON object (`{...}`).".to_owned();
            return send(socket, &ServerFrame::Error { code: ErrorCode::InvalidJson, message }).await;
        }
        let frame = match serde_json::from_str::<ClientFrame>(text) {
            Ok(frame) => frame,
            Err(e) => {
                let message = format!("The frame is not a valid client frame: {e}");
                return send(socket, &ServerFrame::Error { code: ErrorCode::InvalidJson, message }).await;
            }
        };
        let outcome = match frame {
            ClientFrame::Ack { up_to } => {
                self.state.acks.ack(self.device, up_to.min(self.last_sent));
                Ok(())
            }
            ClientFrame::Ephemeral { to, body } => self.relay_ephemeral(to, body).await,
        };
        match outcome {
            Ok(()) => Ok(()),
            Err(AppError::Client { code, message, .. } | AppError::RetryLater { code, message, .. }) => {
                send(socket, &ServerFrame::Error { code, message }).await
            }
            Err(e) => Err(e.into()),
        }
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
