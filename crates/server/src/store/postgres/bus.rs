//! The bus between nodes on PostgreSQL (see [`crate::bus`]): `NOTIFY` on one channel to send,
//! `LISTEN` on a connection of its own to receive. A notification is delivered to every session
//! listening when its transaction commits; one that cannot be sent is retried, and a listener
//! that lost its connection resyncs when it is back.
//!
//! Any role that can connect to the database can `NOTIFY` on the channel and `LISTEN` to it, so
//! every notification is sealed (`Seal`) and numbered by its node, and a node applies only
//! notifications sealed with one of its keys, sent in the last five minutes, each once
//! (`Gate`). Who can only reach the database can then neither make a node close a socket,
//! refuse a token, or push an entry (which would make a client skip the real one), nor replay
//! what a node sent.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::StreamExt as _;
use hmac::Mac as _;
use serde::{Deserialize, Serialize};
use sotto_proto::DeviceAddress;
use tokio::sync::mpsc;
use tokio_postgres::AsyncMessage;
use tokio_util::sync::CancellationToken;

use super::{PostgresConfig, PostgresStore, execute};
use crate::bus::{Bus, BusEvent, Remote};
use crate::clock::Clock;
use crate::store::{StoreError, StoreResult};

const CHANNEL: &str = "sotto_bus";
/// A notification's payload must be shorter than 8000 bytes.
const MAX_PAYLOAD_BYTES: usize = 7999;
/// An event over this is split (its envelope and seals take the rest of a payload).
const MAX_EVENT_BYTES: usize = 7800;
/// Attempts to send one notification before it is given up (then the other nodes' sockets
/// catch up at their next wake-up or resync).
const SEND_ATTEMPTS: u32 = 5;
/// A notification sent longer ago than this, or as far ahead (by the sending node's clock), is
/// refused: the nodes' clocks must agree within it. A notification reaches the listeners in
/// milliseconds; one this old is a replay, or from a node whose clock is off.
const MAX_AGE_MS: u64 = 5 * 60 * 1000;
/// Bytes of HMAC-SHA256 kept in a seal.
const TAG_BYTES: usize = 16;
/// At most this many seals on a notification (a node has two keys during a rotation).
const MAX_SEALS: usize = 2;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

#[derive(Serialize)]
struct Envelope<'a> {
    /// The sending node (its own notifications come back to it, and are skipped).
    node: u64,
    /// When it was published (ms since the epoch, the sender's clock): the receiver's lag.
    sent_ms: u64,
    /// The sending node's count of its notifications, from 1: each is applied once.
    n: u64,
    event: &'a BusEvent,
}

/// An [`Envelope`] as received: the event is only decoded when it comes from another node
/// (a node's own notifications, entries included, come back to it too).
#[derive(Deserialize)]
struct Received<'a> {
    node: u64,
    sent_ms: u64,
    n: u64,
    #[serde(borrow)]
    event: &'a serde_json::value::RawValue,
}

/// Seals notifications and checks their seals. A payload is `SEALS.ENVELOPE`: the envelope's
/// JSON, and before it, comma-separated, its HMAC-SHA256 (the first 128 bits, base64url) under
/// each of the node's bus keys ([`crate::auth::TokenIssuer::bus_keys`]). A notification is
/// accepted when one of its seals is right under one of the receiving node's keys.
#[derive(Clone)]
struct Seal {
    /// HMAC keyed with each key, ready to take a body (cloned for each).
    keys: Arc<[HmacSha256]>,
}

impl Seal {
    fn new(keys: &[[u8; 32]]) -> Seal {
        // HMAC takes a key of any length: none is left out.
        Seal { keys: keys.iter().filter_map(|key| HmacSha256::new_from_slice(key).ok()).collect() }
    }

    fn mac(key: &HmacSha256, body: &str) -> HmacSha256 {
        let mut mac = key.clone();
        mac.update(body.as_bytes());
        mac
    }

    /// `body` with its seals before it.
    fn seal(&self, body: &str) -> String {
        let mut payload = String::with_capacity(body.len() + self.keys.len() * (TAG_BYTES * 4 / 3 + 2) + 1);
        for (i, key) in self.keys.iter().enumerate() {
            if i > 0 {
                payload.push(',');
            }
            let tag = Self::mac(key, body).finalize().into_bytes();
            URL_SAFE_NO_PAD.encode_string(tag.get(..TAG_BYTES).unwrap_or_default(), &mut payload);
        }
        payload.push('.');
        payload.push_str(body);
        payload
    }

    /// Whether one of `seals` is right for `body` under one of the keys (each compared in
    /// constant time).
    fn verify(&self, seals: &str, body: &str) -> bool {
        let mut right = false;
        for seal in seals.split(',').take(MAX_SEALS) {
            let Ok(tag) = URL_SAFE_NO_PAD.decode(seal) else { continue };
            if tag.len() != TAG_BYTES {
                continue;
            }
            for key in self.keys.iter() {
                right |= Self::mac(key, body).verify_truncated_left(&tag).is_ok();
            }
        }
        right
    }
}

/// Why a notification was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// Not a sealed envelope at all.
    Malformed,
    /// No seal of this node's keys: another key, or not a node.
    Unsigned,
    /// A notification of that node already applied (or an earlier one).
    Replayed,
    /// Sent too long ago (or too far ahead), by its own clock.
    Stale,
}

impl Refusal {
    fn reason(self) -> &'static str {
        match self {
            Refusal::Malformed => "malformed",
            Refusal::Unsigned => "unsigned",
            Refusal::Replayed => "replayed",
            Refusal::Stale => "stale",
        }
    }

    /// What likely sent it, for the operator.
    fn likely_cause(self) -> &'static str {
        match self {
            Refusal::Malformed => {
                "not a sealed notification: a node of an older version, or someone else on the database"
            }
            Refusal::Unsigned => {
                "not sealed with this node's keys: a node with another token signing key (compare the nodes' \
                 jwks.json), or someone else on the database"
            }
            Refusal::Replayed => "already applied: a replay, or a notification whose sending was retried",
            Refusal::Stale => {
                "sent more than five minutes away from this node's clock: a replay, or a node whose clock is off"
            }
        }
    }
}

/// What a node accepts from the bus: sealed notifications from the other nodes, each once,
/// recent ones only.
struct Gate {
    node: u64,
    seal: Seal,
    /// Each other node heard from lately: the last notification of it applied, and when (this
    /// node's clock, ms). A node not heard from for [`MAX_AGE_MS`] is forgotten: a replay of
    /// its notifications would be stale.
    heard: std::collections::HashMap<u64, (u64, u64)>,
}

impl Gate {
    fn new(node: u64, seal: Seal) -> Gate {
        Gate { node, seal, heard: std::collections::HashMap::new() }
    }

    /// The event of a notification from another node, with that node and when it was sent;
    /// `None` for this node's own (skipped before its seal is checked: it is applied already).
    /// An event this version does not read is an error once the notification is accepted.
    fn open(
        &mut self,
        payload: &str,
        now_ms: u64,
    ) -> Result<Option<(serde_json::Result<BusEvent>, u64, u64)>, Refusal> {
        let (seals, body) = payload.split_once('.').ok_or(Refusal::Malformed)?;
        let received: Received<'_> = serde_json::from_str(body).map_err(|_| Refusal::Malformed)?;
        if received.node == self.node {
            return Ok(None);
        }
        if !self.seal.verify(seals, body) {
            return Err(Refusal::Unsigned);
        }
        if received.sent_ms.abs_diff(now_ms) > MAX_AGE_MS {
            return Err(Refusal::Stale);
        }
        if let Some((last, _)) = self.heard.get(&received.node) {
            if received.n <= *last {
                return Err(Refusal::Replayed);
            }
        } else {
            self.heard.retain(|_, (_, at)| now_ms.saturating_sub(*at) <= MAX_AGE_MS);
        }
        self.heard.insert(received.node, (received.n, now_ms));
        Ok(Some((serde_json::from_str(received.event.get()), received.node, received.sent_ms)))
    }
}

/// What a node does with the other nodes' events.
pub type Apply = Arc<dyn Fn(Remote) + Send + Sync>;

impl PostgresStore {
    /// Start this node's bus: one task sends what is published, sealed with `keys` and dated by
    /// `clock`, one listens and hands what the other nodes send (sealed with one of `keys`,
    /// recent by `clock`) to `apply`. Both stop with `shutdown`.
    pub fn start_bus(
        self: &Arc<Self>,
        config: &PostgresConfig,
        keys: Vec<[u8; 32]>,
        clock: Clock,
        apply: Apply,
        shutdown: CancellationToken,
    ) -> Bus {
        // A random id tells this node's own notifications apart (they come back to it too).
        let mut id = [0u8; 8];
        let node = match getrandom::fill(&mut id) {
            Ok(()) => u64::from_le_bytes(id),
            Err(_) => {
                u64::from(std::process::id()) << 32
                    | u64::from(std::time::UNIX_EPOCH.elapsed().map_or(0, |d| d.subsec_nanos()))
            }
        };
        let seal = Seal::new(&keys);
        let (tx, rx) = mpsc::unbounded_channel();
        let sealer = Sealer { node, seal: seal.clone(), sent: 0 };
        tokio::spawn(send(self.clone(), sealer, clock.clone(), rx, shutdown.clone()));
        tokio::spawn(listen(config.clone(), Gate::new(node, seal), clock, apply, shutdown));
        Bus::new(tx)
    }
}

/// Makes a node's notifications: each event in its envelope, numbered, sealed.
struct Sealer {
    node: u64,
    seal: Seal,
    /// Notifications made so far.
    sent: u64,
}

impl Sealer {
    /// The payloads for `event`: one, or (too large for one) its parts, each under the limit.
    fn payloads(&mut self, event: &BusEvent, sent_ms: u64, out: &mut Vec<String>) {
        match self.payload(event, sent_ms) {
            Some(payload) if payload.len() <= MAX_PAYLOAD_BYTES => out.push(payload),
            Some(_) => {
                for part in event.clone().split(MAX_EVENT_BYTES) {
                    match part.and_then(|part| self.payload(&part, sent_ms)) {
                        Some(payload) if payload.len() <= MAX_PAYLOAD_BYTES => out.push(payload),
                        _ => tracing::warn!("an event too large for the bus was left out"),
                    }
                }
            }
            None => {}
        }
    }

    fn payload(&mut self, event: &BusEvent, sent_ms: u64) -> Option<String> {
        self.sent += 1;
        match serde_json::to_string(&Envelope { node: self.node, sent_ms, n: self.sent, event }) {
            Ok(body) => Some(self.seal.seal(&body)),
            Err(e) => {
                tracing::error!(error = %e, "an event for the bus could not be encoded");
                None
            }
        }
    }
}

/// Events sent in one statement at most (the rest wait for the next one).
const BATCH: usize = 256;

async fn send(
    store: Arc<PostgresStore>,
    mut sealer: Sealer,
    clock: Clock,
    mut rx: mpsc::UnboundedReceiver<BusEvent>,
    stop: CancellationToken,
) {
    let mut queued = Vec::with_capacity(BATCH);
    loop {
        let event = tokio::select! {
            () = stop.cancelled() => return,
            event = rx.recv() => match event { Some(event) => event, None => return },
        };
        // What queued up meanwhile goes along: one statement, one round trip, for all of it.
        queued.push(event);
        while queued.len() < BATCH {
            match rx.try_recv() {
                Ok(event) => queued.push(event),
                Err(_) => break,
            }
        }
        let sent_ms = clock.unix_millis();
        let mut payloads = Vec::new();
        for event in merge_wakes(std::mem::take(&mut queued)) {
            sealer.payloads(&event, sent_ms, &mut payloads);
        }
        let mut delay = Duration::from_millis(50);
        for attempt in 1..=SEND_ATTEMPTS {
            match notify(&store, &payloads).await {
                Ok(()) => break,
                Err(e) if attempt == SEND_ATTEMPTS => {
                    tracing::warn!(error = %e, events = payloads.len(), "events could not be sent to the other nodes");
                }
                Err(_) => {
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
            }
        }
    }
}

/// The wake-ups among `events` as one (each device once, first), then the other events in
/// their order. A wake-up only makes a socket read its inbox, so when it comes among the others
/// does not matter.
fn merge_wakes(events: Vec<BusEvent>) -> Vec<BusEvent> {
    let mut woken: Vec<DeviceAddress> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut others = Vec::new();
    for event in events {
        match event {
            BusEvent::Wake { devices } => woken.extend(devices.into_iter().filter(|d| seen.insert(d.clone()))),
            other => others.push(other),
        }
    }
    let mut merged = Vec::with_capacity(others.len() + 1);
    if !woken.is_empty() {
        merged.push(BusEvent::Wake { devices: woken });
    }
    merged.extend(others);
    merged
}

/// Sends `payloads` as notifications in one statement; they are delivered in order, together,
/// when it commits. Its commit does not wait for the WAL to reach the disk
/// (`synchronous_commit` off for this statement's transaction only): a notification is not
/// kept anywhere a crash would matter, and the listeners get it at commit all the same. With
/// `fsync` on, that is one disk flush less per batch of events.
pub(super) async fn notify(store: &PostgresStore, payloads: &[String]) -> StoreResult<()> {
    if payloads.is_empty() {
        return Ok(());
    }
    let client = store.client().await?;
    execute(
        &client,
        "SELECT pg_notify($1, p), set_config('synchronous_commit', 'off', true)
         FROM unnest($2::TEXT[]) WITH ORDINALITY AS u(p, n) ORDER BY n",
        &[&CHANNEL, &payloads],
    )
    .await?;
    Ok(())
}

async fn listen(config: PostgresConfig, mut gate: Gate, clock: Clock, apply: Apply, stop: CancellationToken) {
    let mut delay = Duration::from_millis(200);
    let mut refusals = Refusals::default();
    loop {
        match listen_once(&config, &mut gate, &clock, &mut refusals, &apply, &stop).await {
            Ok(()) => return,
            Err(e) => tracing::warn!(error = %e, "the bus from the other nodes stopped; connecting again"),
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}

/// Refused notifications, told to the operator at most once a minute.
#[derive(Default)]
struct Refusals {
    since_told: u64,
    told: Option<std::time::Instant>,
}

impl Refusals {
    fn count(&mut self, refusal: Refusal) {
        self.since_told += 1;
        if self.told.is_some_and(|at| at.elapsed() < Duration::from_secs(60)) {
            return;
        }
        tracing::warn!(
            reason = refusal.reason(),
            "a notification on the bus was refused, {} ({} refused since the last such warning, counted in \
             sotto_bus_events_refused_total)",
            refusal.likely_cause(),
            self.since_told
        );
        self.since_told = 0;
        self.told = Some(std::time::Instant::now());
    }
}

/// Listens until `stop` (`Ok`) or the connection fails.
async fn listen_once(
    config: &PostgresConfig,
    gate: &mut Gate,
    clock: &Clock,
    refusals: &mut Refusals,
    apply: &Apply,
    stop: &CancellationToken,
) -> StoreResult<()> {
    let (client, mut connection) = config.connect().await?;
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    // The connection yields the notifications; it runs on its own task.
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(n)) => {
                    if tx.send(n.payload().to_owned()).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "the bus connection failed");
                    return;
                }
            }
        }
    });
    let listening = client.batch_execute(&format!("LISTEN {CHANNEL}")).await;
    if let Err(e) = listening {
        driver.abort();
        return Err(e.into());
    }
    // Whatever was sent while this node was not listening is read from the store again.
    apply(Remote::Resync);
    let result = loop {
        tokio::select! {
            () = stop.cancelled() => break Ok(()),
            payload = rx.recv() => match payload {
                Some(payload) => match gate.open(&payload, clock.unix_millis()) {
                    Ok(Some((Ok(event), node, sent_ms))) => apply(Remote::Event { event: Box::new(event), node, sent_ms }),
                    Ok(Some((Err(e), _, _))) => tracing::warn!(error = %e, "a bus event this version does not read was skipped"),
                    Ok(None) => {}
                    Err(refusal) => {
                        refusals.count(refusal);
                        apply(Remote::Refused { reason: refusal.reason() });
                    }
                },
                None => break Err(StoreError::Database("the bus connection closed".into())),
            },
        }
    };
    driver.abort();
    drop(client);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(user: &str) -> DeviceAddress {
        DeviceAddress {
            user_id: sotto_proto::UserId::parse(user).unwrap(),
            device_id: sotto_proto::DeviceId::parse("D1").unwrap(),
        }
    }

    #[test]
    fn queued_wakes_go_as_one_and_the_rest_keep_their_order() {
        let (a, b, c) = (device("alice"), device("bob"), device("carol"));
        let merged = merge_wakes(vec![
            BusEvent::Wake { devices: vec![a.clone(), b.clone()] },
            BusEvent::Connected { device: c.clone() },
            BusEvent::Wake { devices: vec![b.clone(), c.clone()] },
            BusEvent::Disconnect { device: a.clone() },
        ]);
        assert_eq!(
            merged,
            [
                BusEvent::Wake { devices: vec![a.clone(), b, c.clone()] },
                BusEvent::Connected { device: c },
                BusEvent::Disconnect { device: a },
            ]
        );
        assert_eq!(merge_wakes(vec![]), []);
    }

    const NOW: u64 = 1_800_000_000_000;

    fn sealer(node: u64, keys: &[[u8; 32]]) -> Sealer {
        Sealer { node, seal: Seal::new(keys), sent: 0 }
    }

    fn sealed(sealer: &mut Sealer, event: &BusEvent, sent_ms: u64) -> String {
        let mut out = Vec::new();
        sealer.payloads(event, sent_ms, &mut out);
        assert_eq!(out.len(), 1);
        out.pop().unwrap()
    }

    fn accepted(gate: &mut Gate, payload: &str) -> Option<(BusEvent, u64, u64)> {
        gate.open(payload, NOW).unwrap().map(|(event, node, sent_ms)| (event.unwrap(), node, sent_ms))
    }

    #[test]
    fn a_notification_is_opened_only_on_the_other_nodes_and_once() {
        let key = [7u8; 32];
        let event = BusEvent::Disconnect { device: device("alice") };
        let mut a = sealer(7, &[key]);
        let payload = sealed(&mut a, &event, NOW - 10);
        let mut gate = Gate::new(8, Seal::new(&[key]));
        assert_eq!(accepted(&mut gate, &payload), Some((event.clone(), 7, NOW - 10)));
        // The same notification again (as a listener on the database could send it): refused.
        assert_eq!(gate.open(&payload, NOW).err(), Some(Refusal::Replayed));
        // The node's next one is taken, and after it, not the one before.
        let next = sealed(&mut a, &event, NOW - 5);
        let later = sealed(&mut a, &event, NOW - 4);
        assert!(accepted(&mut gate, &later).is_some());
        assert_eq!(gate.open(&next, NOW).err(), Some(Refusal::Replayed));
        // Its own node skips it before anything else.
        let mut own = Gate::new(7, Seal::new(&[[1u8; 32]]));
        assert!(own.open(&payload, NOW).unwrap().is_none());
        // An event this version does not know is an error, once the seal is checked.
        let unknown = a.seal.seal(r#"{"node":7,"sent_ms":1800000000000,"n":99,"event":{"t":"from_the_future"}}"#);
        assert!(gate.open(&unknown, NOW).unwrap().unwrap().0.is_err());
    }

    #[test]
    fn a_notification_without_a_seal_of_this_nodes_keys_is_refused() {
        let key = [7u8; 32];
        let event = BusEvent::Revoked { device: device("bob"), since: u64::MAX };
        let mut gate = Gate::new(8, Seal::new(&[key]));
        let body = serde_json::to_string(&Envelope { node: 9, sent_ms: NOW, n: 1, event: &event }).unwrap();
        // No seal, a seal of another key, a seal of another body, or something else altogether.
        let other = Seal::new(&[[9u8; 32]]).seal(&body);
        let sealed = Seal::new(&[key]).seal(&body);
        let (seals, _) = sealed.split_once('.').unwrap();
        let moved = serde_json::to_string(&Envelope { node: 9, sent_ms: NOW, n: 2, event: &event }).unwrap();
        for payload in [
            format!(".{body}"),
            body.clone(),
            other,
            format!("{seals}.{moved}"),
            format!("{},{seals}.{moved}", &seals[..4]),
        ] {
            let refusal = gate.open(&payload, NOW).err();
            assert!(matches!(refusal, Some(Refusal::Unsigned | Refusal::Malformed)), "{payload}: {refusal:?}");
        }
        assert_eq!(gate.open("not a notification", NOW).err(), Some(Refusal::Malformed));
        // The right seal is taken.
        assert!(gate.open(&format!("{seals}.{body}"), NOW).unwrap().is_some());
    }

    #[test]
    fn nodes_sharing_one_of_their_keys_hear_each_other_during_a_rotation() {
        let (old, new) = ([1u8; 32], [2u8; 32]);
        let event = BusEvent::Wake { devices: vec![device("carol")] };
        // Node 1 has the new key and the old one as its previous; node 2 only the old one.
        let mut rotated = sealer(1, &[new, old]);
        let mut behind = sealer(2, &[old]);
        let mut gate_rotated = Gate::new(1, Seal::new(&[new, old]));
        let mut gate_behind = Gate::new(2, Seal::new(&[old]));
        assert!(accepted(&mut gate_behind, &sealed(&mut rotated, &event, NOW)).is_some());
        assert!(accepted(&mut gate_rotated, &sealed(&mut behind, &event, NOW)).is_some());
        // Once node 1 has dropped the old key, node 2 (still the old only) is not heard.
        let mut dropped = Gate::new(1, Seal::new(&[new]));
        assert_eq!(dropped.open(&sealed(&mut behind, &event, NOW), NOW).err(), Some(Refusal::Unsigned));
        // Three seals where two at most are read: the right one in third place is not looked for.
        let body = serde_json::to_string(&Envelope { node: 3, sent_ms: NOW, n: 1, event: &event }).unwrap();
        let third = Seal::new(&[[5u8; 32], [6u8; 32], new]).seal(&body);
        assert_eq!(dropped.open(&third, NOW).err(), Some(Refusal::Unsigned));
    }

    #[test]
    fn a_notification_from_too_long_ago_or_too_far_ahead_is_refused() {
        let key = [7u8; 32];
        let event = BusEvent::Wake { devices: vec![device("dave")] };
        let mut a = sealer(7, &[key]);
        let mut gate = Gate::new(8, Seal::new(&[key]));
        let old = sealed(&mut a, &event, NOW - MAX_AGE_MS - 1);
        let ahead = sealed(&mut a, &event, NOW + MAX_AGE_MS + 1);
        assert_eq!(gate.open(&old, NOW).err(), Some(Refusal::Stale));
        assert_eq!(gate.open(&ahead, NOW).err(), Some(Refusal::Stale));
        assert!(accepted(&mut gate, &sealed(&mut a, &event, NOW - MAX_AGE_MS)).is_some());
        // A node not heard from for longer is forgotten when another one speaks.
        let mut b = sealer(9, &[key]);
        assert!(gate.open(&sealed(&mut b, &event, NOW + MAX_AGE_MS + 1), NOW + MAX_AGE_MS + 1).unwrap().is_some());
        assert_eq!(gate.heard.keys().copied().collect::<Vec<_>>(), [9]);
    }

    #[test]
    fn a_large_event_goes_in_sealed_parts_each_under_the_limit() {
        let key = [7u8; 32];
        let to: Vec<(DeviceAddress, u64)> = (0..400).map(|i| (device(&format!("user{i}")), i + 1)).collect();
        let entry = sotto_proto::InboxEntry {
            seq: 0,
            message_id: sotto_proto::MessageId::parse("message-0001").unwrap(),
            sender_user: sotto_proto::UserId::parse("alice").unwrap(),
            sender_device: None,
            server_ts: 1,
            body: sotto_proto::EntryBody::Direct { ciphertext: "c".repeat(3000) },
        };
        let event = BusEvent::Pushed { entry, to: to.clone() };
        let mut a = sealer(7, &[key, [8u8; 32]]);
        let mut payloads = Vec::new();
        a.payloads(&event, NOW, &mut payloads);
        assert!(payloads.len() > 1);
        let mut gate = Gate::new(8, Seal::new(&[key]));
        let mut back = Vec::new();
        for payload in &payloads {
            assert!(payload.len() <= MAX_PAYLOAD_BYTES);
            let Some((BusEvent::Pushed { to, .. }, 7, NOW)) = accepted(&mut gate, payload) else { panic!("a part") };
            back.extend(to);
        }
        assert_eq!(back, to);
    }
}
