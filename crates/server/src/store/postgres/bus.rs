//! The bus between nodes on PostgreSQL (see [`crate::bus`]): `NOTIFY` on one channel to send,
//! `LISTEN` on a connection of its own to receive. A notification is delivered to every session
//! listening when its transaction commits; one that cannot be sent is retried, and a listener
//! that lost its connection resyncs when it is back.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};
use sotto_proto::DeviceAddress;
use tokio::sync::mpsc;
use tokio_postgres::AsyncMessage;
use tokio_util::sync::CancellationToken;

use super::{PostgresConfig, PostgresStore, execute};
use crate::bus::{Bus, BusEvent, Remote};
use crate::store::{StoreError, StoreResult};

const CHANNEL: &str = "sotto_bus";
/// A notification's payload is below 8000 bytes; the envelope takes the rest.
const MAX_EVENT_BYTES: usize = 7800;
/// Attempts to send one notification before it is given up (then the other nodes' sockets
/// catch up at their next wake-up or resync).
const SEND_ATTEMPTS: u32 = 5;

#[derive(Serialize)]
struct Envelope {
    /// The sending node (its own notifications come back to it, and are skipped).
    node: u64,
    /// When it was published (ms since the epoch, the sender's clock): the receiver's lag.
    sent_ms: u64,
    event: BusEvent,
}

/// An [`Envelope`] as received: the event is only decoded when it comes from another node
/// (a node's own notifications, entries included, come back to it too).
#[derive(Deserialize)]
struct Received<'a> {
    node: u64,
    #[serde(default)]
    sent_ms: u64,
    #[serde(borrow)]
    event: &'a serde_json::value::RawValue,
}

/// What a node does with the other nodes' events.
pub type Apply = Arc<dyn Fn(Remote) + Send + Sync>;

impl PostgresStore {
    /// Start this node's bus: one task sends what is published, one listens and hands what the
    /// other nodes send to `apply`. Both stop with `shutdown`.
    pub fn start_bus(self: &Arc<Self>, config: &PostgresConfig, apply: Apply, shutdown: CancellationToken) -> Bus {
        // A random id tells this node's own notifications apart (they come back to it too).
        let mut id = [0u8; 8];
        let node = match getrandom::fill(&mut id) {
            Ok(()) => u64::from_le_bytes(id),
            Err(_) => {
                u64::from(std::process::id()) << 32
                    | u64::from(std::time::UNIX_EPOCH.elapsed().map_or(0, |d| d.subsec_nanos()))
            }
        };
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(send(self.clone(), node, rx, shutdown.clone()));
        tokio::spawn(listen(config.clone(), node, apply, shutdown));
        Bus::new(tx)
    }
}

/// Events sent in one statement at most (the rest wait for the next one).
const BATCH: usize = 256;

async fn send(
    store: Arc<PostgresStore>,
    node: u64,
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
        let sent_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let mut payloads = Vec::new();
        for event in merge_wakes(std::mem::take(&mut queued)) {
            for part in event.split(MAX_EVENT_BYTES) {
                let Some(event) = part else {
                    tracing::warn!("an event too large for the bus was left out");
                    continue;
                };
                match serde_json::to_string(&Envelope { node, sent_ms, event }) {
                    Ok(payload) => payloads.push(payload),
                    Err(e) => tracing::error!(error = %e, "an event for the bus could not be encoded"),
                }
            }
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

async fn listen(config: PostgresConfig, node: u64, apply: Apply, stop: CancellationToken) {
    let mut delay = Duration::from_millis(200);
    loop {
        match listen_once(&config, node, &apply, &stop).await {
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

/// Listens until `stop` (`Ok`) or the connection fails.
async fn listen_once(config: &PostgresConfig, node: u64, apply: &Apply, stop: &CancellationToken) -> StoreResult<()> {
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
                Some(payload) => match decode(&payload, node) {
                    Ok(Some((event, node, sent_ms))) => apply(Remote::Event { event: Box::new(event), node, sent_ms }),
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, "a bus event this version does not read was skipped"),
                },
                None => break Err(StoreError::Database("the bus connection closed".into())),
            },
        }
    };
    driver.abort();
    drop(client);
    result
}

/// The event of a notification from another node, with that node and when it was sent;
/// `None` for this node's own.
fn decode(payload: &str, node: u64) -> serde_json::Result<Option<(BusEvent, u64, u64)>> {
    let received: Received<'_> = serde_json::from_str(payload)?;
    if received.node == node {
        return Ok(None);
    }
    Ok(Some((serde_json::from_str(received.event.get())?, received.node, received.sent_ms)))
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

    #[test]
    fn a_notification_is_decoded_only_on_the_other_nodes() {
        let event = BusEvent::Wake { devices: vec![device("alice")] };
        let payload = serde_json::to_string(&Envelope { node: 7, sent_ms: 1234, event: event.clone() }).unwrap();
        assert_eq!(decode(&payload, 8).unwrap(), Some((event, 7, 1234)));
        assert_eq!(decode(&payload, 7).unwrap(), None);
        // An event this version does not know is an error (logged and skipped), on other nodes.
        let unknown = r#"{"node":7,"sent_ms":1,"event":{"t":"from_the_future"}}"#;
        assert!(decode(unknown, 8).is_err());
        assert_eq!(decode(unknown, 7).unwrap(), None);
        assert!(decode("not json", 8).is_err());
    }
}
