//! The durable relay under test: the real `sotto-server` binary in a child process, driven over
//! its public HTTP API and WebSockets exactly as a client would.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use ed25519_dalek::{Signer, SigningKey};
use futures_util::{SinkExt, StreamExt};
use rand_core::{OsRng, RngCore};
use serde::Serialize;
use sotto_proto::{
    ClientFrame, ConfirmDevicesRequest, DeviceAddress, DeviceConfirmation, DeviceKeys, DevicePayload, EntryBody,
    ExternalLoginRequest, GroupAction, GroupChange, GroupId, GroupInfo, MessageId, RegisterRequest, SendDirectRequest,
    SendGroupRequest, ServerFrame, Session, SignedGroupChange, SocketSend, UserId, UserIdentity,
};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::http::header::AUTHORIZATION;
use tokio_tungstenite::tungstenite::protocol::{Message, WebSocketConfig};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

use crate::drive::{self, PairPlan, PairResult, Transport};
use crate::measure::{Clock, CpuSnap, CpuUse, FanStats, PairStats, Summary, Watched, new_histogram};
use crate::server_process::ServerProcess;
use crate::socket_sends::SocketTransport;

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const PASSWORD: &str = "bench-password-0123";
/// Concurrent registrations (argon2 hashing on the server dominates).
const REGISTER_CONCURRENCY: usize = 4;
const CONNECT_CONCURRENCY: usize = 32;

/// One signed-in device.
#[derive(Debug, Clone)]
pub struct Device {
    pub addr: DeviceAddress,
    pub token: String,
    /// Its published identity keys and the Ed25519 key that signs for it, once uploaded.
    pub keys: Option<(DeviceKeys, Arc<SigningKey>)>,
}

/// A thin client of the HTTP API.
#[derive(Debug, Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    ws_url: String,
}

async fn check(resp: reqwest::Response, what: &str) -> anyhow::Result<reqwest::Response> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let body = resp.text().await.unwrap_or_default();
    bail!("{what}: HTTP {status}: {body}")
}

impl Api {
    pub fn new(server: &ServerProcess) -> anyhow::Result<Api> {
        let http = reqwest::Client::builder()
            .tcp_nodelay(true)
            .no_proxy()
            .pool_idle_timeout(Duration::from_secs(300))
            .timeout(Duration::from_secs(60))
            .build()
            .context("building the HTTP client")?;
        Ok(Api { http, base: server.url().to_owned(), ws_url: server.ws_url() })
    }

    pub async fn register(&self, user: &str) -> anyhow::Result<Device> {
        let req = RegisterRequest {
            user_id: UserId::parse(user)?,
            password: PASSWORD.into(),
            device_name: Some("bench".into()),
        };
        let resp = self
            .http
            .post(format!("{}/v1/accounts", self.base))
            .json(&req)
            .send()
            .await
            .context("POST /v1/accounts")?;
        let session: Session = check(resp, "register").await?.json().await.context("reading the session")?;
        Ok(Device {
            addr: DeviceAddress { user_id: session.user_id, device_id: session.device_id },
            token: session.access_token,
            keys: None,
        })
    }

    /// Publishes real, self-signed identity keys for the device.
    pub async fn upload_keys(&self, d: &mut Device) -> anyhow::Result<()> {
        let signing = SigningKey::generate(&mut OsRng);
        let mut curve = [0u8; 32];
        OsRng.fill_bytes(&mut curve);
        let mut keys = DeviceKeys {
            user_id: d.addr.user_id.clone(),
            device_id: d.addr.device_id.clone(),
            curve25519: STANDARD_NO_PAD.encode(curve),
            ed25519: STANDARD_NO_PAD.encode(signing.verifying_key().to_bytes()),
            signature: String::new(),
        };
        keys.signature = STANDARD_NO_PAD.encode(signing.sign(&keys.signing_bytes()).to_bytes());
        let resp = self
            .http
            .put(format!("{}/v1/keys/device", self.base))
            .bearer_auth(&d.token)
            .json(&keys)
            .send()
            .await
            .context("PUT /v1/keys/device")?;
        check(resp, "upload keys").await?;
        d.keys = Some((keys, Arc::new(signing)));
        Ok(())
    }

    /// Gives the device's user a cross-signing identity (master and self-signing keys) that
    /// confirms the device, as the first device of a real user does; returns the confirmation.
    async fn publish_identity(&self, d: &Device, keys: &DeviceKeys) -> anyhow::Result<String> {
        let master = SigningKey::generate(&mut OsRng);
        let self_signing = SigningKey::generate(&mut OsRng);
        let user_signing = SigningKey::generate(&mut OsRng);
        let b64 = |k: &SigningKey| STANDARD_NO_PAD.encode(k.verifying_key().to_bytes());
        let mut identity = UserIdentity {
            user_id: d.addr.user_id.clone(),
            master_key: b64(&master),
            self_signing_key: b64(&self_signing),
            user_signing_key: b64(&user_signing),
            signature: String::new(),
        };
        identity.signature = STANDARD_NO_PAD.encode(master.sign(&identity.signing_bytes()).to_bytes());
        let resp = self
            .http
            .put(format!("{}/v1/keys/identity", self.base))
            .bearer_auth(&d.token)
            .json(&identity)
            .send()
            .await?;
        check(resp, "PUT /v1/keys/identity").await?;
        let signature = STANDARD_NO_PAD.encode(self_signing.sign(&DeviceConfirmation::signing_bytes(keys)).to_bytes());
        let confirm = ConfirmDevicesRequest {
            confirmations: vec![DeviceConfirmation {
                device_id: d.addr.device_id.clone(),
                signature: signature.clone(),
            }],
        };
        let resp = self
            .http
            .post(format!("{}/v1/keys/confirmations", self.base))
            .bearer_auth(&d.token)
            .json(&confirm)
            .send()
            .await?;
        check(resp, "POST /v1/keys/confirmations").await?;
        Ok(signature)
    }

    pub async fn send_direct(
        &self,
        from: &Device,
        to: &DeviceAddress,
        message_id: String,
        ciphertext: String,
    ) -> anyhow::Result<()> {
        let req = SendDirectRequest {
            message_id: MessageId::parse(message_id)?,
            payloads: vec![DevicePayload { user_id: to.user_id.clone(), device_id: to.device_id.clone(), ciphertext }],
        };
        let resp =
            self.http.post(format!("{}/v1/messages", self.base)).bearer_auth(&from.token).json(&req).send().await?;
        check(resp, "POST /v1/messages").await?;
        Ok(())
    }

    /// Creates a group owned by `owner` (whose keys are uploaded), signing its `create` change.
    pub async fn create_group(&self, owner: &Device, members: Vec<UserId>) -> anyhow::Result<GroupId> {
        let (keys, signing) = owner.keys.clone().context("the owner's keys are not uploaded")?;
        let confirmation = self.publish_identity(owner, &keys).await?;
        let mut id = [0u8; 12];
        OsRng.fill_bytes(&mut id);
        let group_id = GroupId::parse(id.iter().map(|b| format!("{b:02x}")).collect::<String>())?;
        let change = GroupChange {
            group_id,
            seq: 1,
            prev: None,
            author: owner.addr.user_id.clone(),
            device_id: owner.addr.device_id.clone(),
            curve25519: keys.curve25519.clone(),
            ed25519: keys.ed25519.clone(),
            confirmation,
            ts: 0,
            action: GroupAction::Create { name: "bench fan-out".into(), members, invited: vec![] },
        };
        let change = serde_json::to_string(&change)?;
        let signature = STANDARD_NO_PAD.encode(signing.sign(&SignedGroupChange::signing_bytes(&change)).to_bytes());
        let req = SignedGroupChange { change, signature };
        let resp =
            self.http.post(format!("{}/v1/groups", self.base)).bearer_auth(&owner.token).json(&req).send().await?;
        let group: GroupInfo = check(resp, "POST /v1/groups").await?.json().await.context("reading the group")?;
        Ok(group.group_id)
    }

    pub async fn send_group(
        &self,
        from: &Device,
        group: &GroupId,
        message_id: String,
        ciphertext: String,
    ) -> anyhow::Result<()> {
        let req = SendGroupRequest {
            message_id: MessageId::parse(message_id)?,
            ciphertext,
            member_devices: None,
            members: None,
        };
        let resp = self
            .http
            .post(format!("{}/v1/groups/{}/messages", self.base, group))
            .bearer_auth(&from.token)
            .json(&req)
            .send()
            .await?;
        check(resp, "POST /v1/groups/{id}/messages").await?;
        Ok(())
    }

    /// Signs a new device in with an external issuer's token (`POST /v1/sessions/external`):
    /// no password, so no argon2 hash on the server.
    pub async fn sign_in_external(&self, token: String) -> anyhow::Result<Device> {
        let req = ExternalLoginRequest { token, device_name: Some("bench".into()) };
        let resp = self
            .http
            .post(format!("{}/v1/sessions/external", self.base))
            .json(&req)
            .send()
            .await
            .context("POST /v1/sessions/external")?;
        let session: Session = check(resp, "external sign-in").await?.json().await.context("reading the session")?;
        Ok(Device {
            addr: DeviceAddress { user_id: session.user_id, device_id: session.device_id },
            token: session.access_token,
            keys: None,
        })
    }

    /// Opens the device's WebSocket and reads until `synced`.
    pub async fn connect(&self, d: &Device) -> anyhow::Result<Ws> {
        self.connect_with(d, None).await
    }

    /// [`Api::connect`] with the client's own WebSocket settings.
    pub async fn connect_with(&self, d: &Device, config: Option<WebSocketConfig>) -> anyhow::Result<Ws> {
        let mut req = self.ws_url.as_str().into_client_request()?;
        req.headers_mut().insert(AUTHORIZATION, HeaderValue::from_str(&format!("Bearer {}", d.token))?);
        let (mut ws, _) = tokio_tungstenite::connect_async_with_config(req, config, true)
            .await
            .with_context(|| format!("WebSocket of {}", d.addr.user_id))?;
        let synced = async {
            while let Some(msg) = ws.next().await {
                if let Message::Text(text) = msg?
                    && let ServerFrame::Synced { .. } = serde_json::from_str::<ServerFrame>(text.as_str())?
                {
                    return Ok(());
                }
            }
            bail!("the socket closed before `synced`")
        };
        tokio::time::timeout(Duration::from_secs(30), synced).await.context("no `synced` within 30 s")??;
        Ok(ws)
    }

    /// Registers `users` and publishes their keys, a few at a time, printing progress.
    pub async fn register_many(&self, label: &str, users: Vec<String>) -> anyhow::Result<Vec<Device>> {
        let total = users.len();
        let done = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let step = (total / 10).clamp(1, 100);
        let results: Vec<anyhow::Result<Device>> = futures_util::stream::iter(users)
            .map(|u| {
                let (api, done) = (self.clone(), done.clone());
                async move {
                    let mut d = api.register(&u).await.with_context(|| format!("registering {u}"))?;
                    api.upload_keys(&mut d).await.with_context(|| format!("keys of {u}"))?;
                    let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                    if n % step == 0 || n == total {
                        eprintln!(
                            "[{label}] registered {n}/{total} users with keys ({:.1}s)",
                            started.elapsed().as_secs_f64()
                        );
                    }
                    Ok(d)
                }
            })
            .buffered(REGISTER_CONCURRENCY)
            .collect()
            .await;
        results.into_iter().collect()
    }

    pub async fn connect_many(&self, devices: &[Device]) -> anyhow::Result<Vec<Ws>> {
        let results: Vec<anyhow::Result<Ws>> = futures_util::stream::iter(devices.iter().cloned())
            .map(|d| {
                let api = self.clone();
                async move { api.connect(&d).await }
            })
            .buffered(CONNECT_CONCURRENCY)
            .collect()
            .await;
        results.into_iter().collect()
    }
}

/// What a receiving device does with its entries.
#[derive(Clone)]
enum Sink {
    Pair { stats: Arc<PairStats>, pair: usize },
    Fan { stats: Arc<FanStats> },
}

impl Sink {
    fn error(&self, what: String) {
        match self {
            Sink::Pair { stats, .. } => stats.errors.note(what),
            Sink::Fan { stats } => stats.errors.note(what),
        }
    }
}

/// Reads a device's socket until `stop`, acking cumulatively every `ack_every` entries.
async fn receive(mut ws: Ws, sink: Sink, ack_every: u64, stop: CancellationToken) {
    let mut unacked = 0u64;
    loop {
        let msg = tokio::select! {
            _ = stop.cancelled() => return,
            m = ws.next() => m,
        };
        let text = match msg {
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(Message::Close(c))) => {
                if !stop.is_cancelled() {
                    sink.error(format!("the server closed a socket: {c:?}"));
                }
                return;
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => {
                if !stop.is_cancelled() {
                    sink.error(format!("socket error: {e}"));
                }
                return;
            }
            None => {
                if !stop.is_cancelled() {
                    sink.error("a socket ended".into());
                }
                return;
            }
        };
        let frame = match serde_json::from_str::<ServerFrame>(text.as_str()) {
            Ok(f) => f,
            Err(e) => {
                sink.error(format!("undecodable frame: {e}"));
                continue;
            }
        };
        match frame {
            ServerFrame::Entry { entry } => {
                match (&sink, &entry.body) {
                    (Sink::Pair { stats, pair }, EntryBody::Direct { ciphertext }) => {
                        stats.on_receive(*pair, ciphertext)
                    }
                    (Sink::Fan { stats }, EntryBody::Group { ciphertext, .. }) => stats.on_receive(ciphertext),
                    (Sink::Fan { stats }, _) => {
                        stats.other_entries.fetch_add(1, Ordering::Relaxed);
                    }
                    (Sink::Pair { .. }, _) => {}
                }
                unacked += 1;
                if unacked >= ack_every {
                    unacked = 0;
                    let ack = ClientFrame::Ack { up_to: entry.seq };
                    let sent = match serde_json::to_string(&ack) {
                        Ok(text) => ws.send(Message::text(text)).await.map_err(anyhow::Error::from),
                        Err(e) => Err(e.into()),
                    };
                    if let Err(e) = sent {
                        sink.error(format!("sending an ack: {e}"));
                        return;
                    }
                }
            }
            ServerFrame::Error { code, message } => sink.error(format!("server error frame: {code:?}: {message}")),
            ServerFrame::Synced { .. }
            | ServerFrame::Ephemeral { .. }
            | ServerFrame::Sent { .. }
            | ServerFrame::SendFailed { .. } => {}
        }
    }
}

/// 1:1 sends over `POST /v1/messages`, each through its sender's node.
struct RelayTransport {
    apis: Vec<Api>,
    /// Per pair: the sender's node (an index into `apis`) and device.
    senders: Vec<(usize, Device)>,
    recipients: Vec<DeviceAddress>,
}

impl Transport for RelayTransport {
    const SPAWN: bool = true;

    async fn send(&self, pair: usize, seq: u64, payload: String) -> anyhow::Result<()> {
        let (Some((node, from)), Some(to)) = (self.senders.get(pair), self.recipients.get(pair)) else {
            bail!("no pair {pair}");
        };
        let api = self.apis.get(*node).context("no such node")?;
        api.send_direct(from, to, format!("m{pair:04}-{seq:014}"), payload).await
    }
}

/// Where the two devices of each 1:1 pair are connected when the relay has several nodes (with
/// one node, both layouts put everything on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Pair `i`: sender and recipient on node `i mod nodes`.
    SameNode,
    /// Pair `i`: sender on node `i mod nodes`, recipient on the next one: every message is
    /// stored by one node and pushed to its recipient by another, and each node takes the same
    /// share of sends and of sockets.
    CrossNode,
}

impl Layout {
    /// (sender's node, recipient's node) of pair `pair`.
    fn place(self, pair: usize, nodes: usize) -> (usize, usize) {
        let nodes = nodes.max(1);
        let sender = pair % nodes;
        match self {
            Layout::SameNode => (sender, sender),
            Layout::CrossNode => (sender, (sender + 1) % nodes),
        }
    }
}

/// Settings shared by the relay runs.
#[derive(Debug, Clone)]
pub struct RelayPlan {
    pub pairs: PairPlan,
    pub ack_every: u64,
    pub layout: Layout,
    /// Names the run in progress lines.
    pub label: &'static str,
    /// Starts the run's user names: runs on one database need names of their own.
    pub user_prefix: &'static str,
    /// How senders send.
    pub sends: SendPath,
}

/// How the relay's senders hand it a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SendPath {
    /// A `send` frame on the sender's WebSocket (as the engine sends while online).
    Socket,
    /// `POST /v1/messages` (keep-alive), as the engine sends while its socket is down.
    Http,
}

/// Registers `users`, each through the node (an index into `apis`) it names, with their keys;
/// the devices in the same order.
async fn register_on(apis: &[Api], label: &str, users: &[(usize, String)]) -> anyhow::Result<Vec<Device>> {
    let mut devices: Vec<Option<Device>> = vec![None; users.len()];
    for (node, api) in apis.iter().enumerate() {
        let (slots, names): (Vec<usize>, Vec<String>) =
            users.iter().enumerate().filter(|(_, (n, _))| *n == node).map(|(i, (_, u))| (i, u.clone())).unzip();
        if names.is_empty() {
            continue;
        }
        let label = if apis.len() > 1 { format!("{label}, node {}", node + 1) } else { label.to_owned() };
        for (slot, d) in slots.into_iter().zip(api.register_many(&label, names).await?) {
            if let Some(s) = devices.get_mut(slot) {
                *s = Some(d);
            }
        }
    }
    devices.into_iter().collect::<Option<Vec<_>>>().context("a user names no node")
}

/// 1:1 pairs on a relay of one or more nodes (one database): each device signs up and then
/// sends or receives through its node, as [`Layout`] places it.
pub async fn run_pairs(nodes: &[&ServerProcess], clock: Clock, plan: RelayPlan) -> anyhow::Result<PairResult> {
    let apis = nodes.iter().map(|s| Api::new(s)).collect::<anyhow::Result<Vec<Api>>>()?;
    let n = plan.pairs.pairs;
    let placed: Vec<(usize, usize)> = (0..n).map(|i| plan.layout.place(i, apis.len())).collect();
    let prefix = plan.user_prefix;
    let mut users: Vec<(usize, String)> =
        placed.iter().enumerate().map(|(i, (s, _))| (*s, format!("{prefix}sender-{i:04}"))).collect();
    users.extend(placed.iter().enumerate().map(|(i, (_, r))| (*r, format!("{prefix}recipient-{i:04}"))));
    let mut devices = register_on(&apis, plan.label, &users).await?;
    let recipients = devices.split_off(n);
    let connected: Vec<anyhow::Result<Ws>> = futures_util::stream::iter(recipients.iter().zip(&placed))
        .map(|(d, (_, node))| {
            let api = apis.get(*node).cloned();
            async move { api.context("no such node")?.connect(d).await }
        })
        .buffered(CONNECT_CONCURRENCY)
        .collect()
        .await;
    let sockets = connected.into_iter().collect::<anyhow::Result<Vec<Ws>>>()?;
    let stats = Arc::new(PairStats::new(clock, n)?);
    let stop = CancellationToken::new();
    let mut tasks = Vec::new();
    for (pair, ws) in sockets.into_iter().enumerate() {
        let sink = Sink::Pair { stats: stats.clone(), pair };
        tasks.push(tokio::spawn(receive(ws, sink, plan.ack_every, stop.clone())));
    }
    let senders: Vec<(usize, Device)> = placed.iter().map(|(s, _)| *s).zip(devices).collect();
    let recipients: Vec<DeviceAddress> = recipients.iter().map(|d| d.addr.clone()).collect();
    let result = match plan.sends {
        SendPath::Http => {
            let transport = Arc::new(RelayTransport { apis, senders, recipients });
            drive::run_pairs(plan.label, transport, stats, plan.pairs).await
        }
        SendPath::Socket => {
            let transport = Arc::new(SocketTransport::connect(&apis, &senders, recipients, CONNECT_CONCURRENCY).await?);
            let result = drive::run_pairs(plan.label, transport.clone(), stats, plan.pairs).await;
            if let Ok(transport) = Arc::try_unwrap(transport) {
                transport.close().await;
            }
            result
        }
    };
    stop.cancel();
    for t in tasks {
        let _ = t.await;
    }
    Ok(result)
}

/// Settings of a fan-out run.
#[derive(Debug, Clone, Copy)]
pub struct FanPlan {
    pub members: usize,
    pub messages: usize,
    pub rate: f64,
    pub ack_every: u64,
    /// How the relay's group sender sends (the forwarder has one path).
    pub sends: SendPath,
}

/// Results of a fan-out run (relay or forwarder).
#[derive(Debug, Clone, Default, Serialize)]
pub struct FanResult {
    pub members: usize,
    pub messages: usize,
    pub rate: f64,
    /// Messages that reached every member.
    pub complete: u64,
    pub deliveries: u64,
    pub expected_deliveries: u64,
    /// Time from the send to the last member's receipt, per message.
    pub last_member: Summary,
    /// Time from the send to each member's receipt.
    pub per_member: Summary,
    /// Relay only: time until the HTTP send was answered (stored).
    pub send_response: Option<Summary>,
    /// Deliveries per second from the first send to the last delivery.
    pub deliveries_per_s: f64,
    pub errors: u64,
    pub first_errors: Vec<String>,
    pub setup_secs: f64,
    pub cpu: CpuUse,
}

impl FanResult {
    /// The figures of a finished fan-out run; notes an error if not every message reached every
    /// member (`all_complete`).
    pub fn collect(
        plan: FanPlan,
        stats: &FanStats,
        all_complete: bool,
        start_ns: u64,
        send_response: Option<Summary>,
        setup_secs: f64,
        cpu: CpuUse,
    ) -> anyhow::Result<FanResult> {
        let complete = stats.complete.load(Ordering::Relaxed);
        if !all_complete {
            stats
                .errors
                .note(format!("only {complete} of {} group messages reached every member within 30 s", plan.messages));
        }
        let (last_member, per_member) = stats.summaries()?;
        Ok(FanResult {
            members: plan.members,
            messages: plan.messages,
            rate: plan.rate,
            complete,
            deliveries: stats.deliveries.load(Ordering::Relaxed),
            expected_deliveries: (plan.members * plan.messages) as u64,
            last_member,
            per_member,
            send_response,
            deliveries_per_s: stats.delivery_rate(start_ns),
            errors: stats.errors.count(),
            first_errors: stats.errors.first(),
            setup_secs,
            cpu,
        })
    }
}

pub async fn run_fanout(server: &ServerProcess, clock: Clock, plan: FanPlan) -> anyhow::Result<FanResult> {
    let setup = Instant::now();
    let api = Api::new(server)?;
    let mut users = vec!["fan-sender".to_owned()];
    users.extend((0..plan.members).map(|i| format!("member-{i:05}")));
    let mut members = api.register_many("relay fan-out", users).await?;
    let owner = members.remove(0);
    eprintln!("[relay fan-out] opening {} WebSockets", members.len());
    let sockets = api.connect_many(&members).await?;
    let stats = Arc::new(FanStats::new(clock, plan.members, plan.messages)?);
    let stop = CancellationToken::new();
    let mut tasks = Vec::new();
    for ws in sockets {
        tasks.push(tokio::spawn(receive(ws, Sink::Fan { stats: stats.clone() }, plan.ack_every, stop.clone())));
    }
    let group = api.create_group(&owner, members.iter().map(|d| d.addr.user_id.clone()).collect()).await?;
    // Every member first gets the group-created event: wait for it, so the run starts idle.
    let deadline = Instant::now() + Duration::from_secs(60);
    while stats.other_entries.load(Ordering::Relaxed) < plan.members as u64 {
        if Instant::now() > deadline {
            bail!(
                "only {} of {} members got the group-created event within 60 s",
                stats.other_entries.load(Ordering::Relaxed),
                plan.members
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let setup_secs = setup.elapsed().as_secs_f64();
    eprintln!(
        "[relay fan-out] group of {} members ready after {setup_secs:.1}s; sending {} messages at {}/s",
        plan.members, plan.messages, plan.rate
    );
    let responses = Arc::new(std::sync::Mutex::new(new_histogram()?));
    let watched = Watched { servers: server.pid().into_iter().collect(), postmaster: None };
    let c0 = CpuSnap::take(&watched);
    // Over the sender's own socket, as the engine sends while online; or over HTTP.
    let socket = match plan.sends {
        SendPath::Socket => Some(Arc::new(crate::socket_sends::SenderSocket::new(api.connect(&owner).await?))),
        SendPath::Http => None,
    };
    let (owner, group) = (Arc::new(owner), Arc::new(group));
    let start_ns = clock.now_ns();
    drive::paced(plan.messages, plan.rate, clock, |i, stamp| {
        let (api, owner, group, stats, responses, socket) =
            (api.clone(), owner.clone(), group.clone(), stats.clone(), responses.clone(), socket.clone());
        async move {
            let (message_id, ciphertext) = (format!("g{i:014}"), stats.payload(i, stamp));
            let result = match socket {
                Some(socket) => match MessageId::parse(&message_id) {
                    Ok(id) => {
                        let request =
                            SendGroupRequest { message_id: id, ciphertext, member_devices: None, members: None };
                        socket.send(message_id, SocketSend::Group { group_id: (*group).clone(), request }).await
                    }
                    Err(e) => Err(e.into()),
                },
                None => api.send_group(&owner, &group, message_id, ciphertext).await,
            };
            let micros = clock.now_ns().saturating_sub(stamp) / 1000;
            match result {
                Ok(()) => {
                    if let Ok(mut h) = responses.lock() {
                        h.saturating_record(micros.max(1));
                    }
                }
                Err(e) => stats.errors.note(format!("group send {i}: {e:#}")),
            }
        }
    })
    .await;
    let all = stats.wait_complete(plan.messages as u64, Duration::from_secs(30)).await;
    let cpu = CpuSnap::take(&watched).since(&c0);
    stop.cancel();
    if let Some(socket) = socket.and_then(|s| Arc::try_unwrap(s).ok()) {
        socket.close().await;
    }
    for t in tasks {
        let _ = t.await;
    }
    let send_response = responses.lock().ok().map(|h| Summary::of(&h));
    FanResult::collect(plan, &stats, all, start_ns, send_response, setup_secs, cpu)
}
