//! Several server nodes on one database: what one node tells the others.
//!
//! The database stays the only source of truth; the bus carries wake-ups, invalidations, and
//! copies of entries already committed. A node publishes an event for what its own process
//! keeps for the others (who is connected where, cached device lists, revoked tokens, ephemeral
//! frames, entries to push to sockets); every other node applies it to its own. A lost event
//! costs latency, never a message or a check: after the bus reconnects, each node re-reads what
//! it keeps ([`Remote::Resync`]: every local socket reads its inbox again, cached device lists
//! go, revocations are read back from the store).
//!
//! An entry stored by one node for a device connected to another crosses as
//! [`BusEvent::Pushed`]: the entry itself, published after its commit, so that the other node's
//! socket sends it without reading the store — as a socket does with an entry its own node
//! stored. The socket takes it only if its seq follows the last one it sent, and otherwise
//! reads the store, so a lost, late or reordered copy costs a read, never a message. Which
//! devices are connected to which other node, each node learns from their `Connected` and
//! `Left` events; that is only a hint: an entry for a device not known to be connected
//! elsewhere (offline, or its node's events missed) crosses as a wake-up, as does one too large
//! for a notification, and a stale hint costs a read or a few bytes, never a message.
//!
//! Only the nodes speak on the bus. Whoever can connect to the database can send and read
//! notifications, so each is sealed with keys derived from the token signing keys, which the
//! nodes share and the database does not hold; a node applies only what carries a seal of one of
//! its keys, from a node it has not already heard that message from, sent in the last minutes.
//! Anything else is refused and counted.
//!
//! With one node (SQLite) there is no bus and nothing is published. On PostgreSQL the bus is
//! LISTEN/NOTIFY (`store::postgres::bus`).

use serde::{Deserialize, Serialize};
use sotto_proto::{DeviceAddress, InboxEntry, ServerFrame, UserId};
use tokio::sync::mpsc;

/// An event one node sends the others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum BusEvent {
    /// Entries were stored for these devices: wherever they are connected, they read the store.
    Wake { devices: Vec<DeviceAddress> },
    /// `entry` (its seq ignored) was committed for each of `to` with the seq beside it: wherever
    /// one of them is connected, its socket takes it as a pushed entry (see the module's doc).
    Pushed { entry: InboxEntry, to: Vec<(DeviceAddress, u64)> },
    /// The device connected to the sending node: its older socket on any other node closes
    /// (the newest connection of a device replaces the older one, as on one node), and the
    /// other nodes send its entries there whole ([`BusEvent::Pushed`]).
    Connected { device: DeviceAddress },
    /// The device's socket on the sending node closed (no newer one of it is there).
    Left { device: DeviceAddress },
    /// The device was signed out or deleted: its socket closes wherever it is.
    Disconnect { device: DeviceAddress },
    /// An ephemeral frame (typing) for the connected devices of `users`, but `skip`.
    Ephemeral { users: Vec<UserId>, skip: DeviceAddress, frame: ServerFrame },
    /// These users' devices changed: cached device lists of them go.
    DevicesChanged { users: Vec<UserId> },
    /// The device's access tokens issued before `since` (seconds) are refused from now on.
    Revoked { device: DeviceAddress, since: u64 },
}

impl BusEvent {
    /// The same event in parts whose JSON stays under `limit` bytes each (a notification's
    /// payload is bounded): device and user lists are split, and an entry too large for one
    /// recipient becomes a wake-up (the socket reads it from the store); an event that cannot
    /// be split and is still too large is left out (`None` in the list; the caller logs it).
    pub fn split(self, limit: usize) -> Vec<Option<BusEvent>> {
        let size = |e: &BusEvent| serde_json::to_string(e).map_or(usize::MAX, |s| s.len());
        if size(&self) <= limit {
            return vec![Some(self)];
        }
        let halves: Option<(BusEvent, BusEvent)> = match self {
            BusEvent::Pushed { entry, mut to } => {
                // Halved while a part for one recipient would fit; an entry too large even for
                // one goes as a wake-up for all of them.
                let splittable = to.len() > 1
                    && size(&BusEvent::Pushed { entry: entry.clone(), to: to.iter().take(1).cloned().collect() })
                        <= limit;
                if !splittable {
                    return BusEvent::Wake { devices: to.into_iter().map(|(d, _)| d).collect() }.split(limit);
                }
                let rest = to.split_off(to.len() / 2);
                Some((BusEvent::Pushed { entry: entry.clone(), to }, BusEvent::Pushed { entry, to: rest }))
            }
            BusEvent::Wake { mut devices } if devices.len() > 1 => {
                let rest = devices.split_off(devices.len() / 2);
                Some((BusEvent::Wake { devices }, BusEvent::Wake { devices: rest }))
            }
            BusEvent::DevicesChanged { mut users } if users.len() > 1 => {
                let rest = users.split_off(users.len() / 2);
                Some((BusEvent::DevicesChanged { users }, BusEvent::DevicesChanged { users: rest }))
            }
            BusEvent::Ephemeral { mut users, skip, frame } if users.len() > 1 => {
                let rest = users.split_off(users.len() / 2);
                Some((
                    BusEvent::Ephemeral { users, skip: skip.clone(), frame: frame.clone() },
                    BusEvent::Ephemeral { users: rest, skip, frame },
                ))
            }
            _ => None,
        };
        match halves {
            Some((a, b)) => {
                let mut parts = a.split(limit);
                parts.extend(b.split(limit));
                parts
            }
            None => vec![None],
        }
    }
}

/// What a node applies from the bus.
#[derive(Debug)]
pub enum Remote {
    /// An event, the node that published it, and when (ms since the epoch, its clock).
    Event { event: Box<BusEvent>, node: u64, sent_ms: u64 },
    /// The bus (re)connected: events may have been missed; re-read everything kept.
    Resync,
    /// A notification was refused, and why (`unsigned`, `replayed`, `stale`, `malformed`): it
    /// was not sealed by a node of this installation, or was one already applied.
    Refused { reason: &'static str },
}

/// This node's way to publish. Cheap to share; publishing never waits (events queue for the
/// task that sends them).
#[derive(Debug)]
pub struct Bus {
    tx: mpsc::UnboundedSender<BusEvent>,
}

impl Bus {
    /// A bus whose events go to `tx` (the transport's sending task reads the other end).
    pub fn new(tx: mpsc::UnboundedSender<BusEvent>) -> Bus {
        Bus { tx }
    }

    pub fn publish(&self, event: BusEvent) {
        if self.tx.send(event).is_err() {
            tracing::warn!("the bus to the other nodes is closed; an event was not sent");
        }
    }
}

/// A slot for the bus, filled once the node's state exists (the bus's listener needs it).
pub type BusSlot = std::sync::OnceLock<std::sync::Arc<Bus>>;

/// Publish `event` if this node has a bus.
pub fn publish(slot: &BusSlot, event: BusEvent) {
    if let Some(bus) = slot.get() {
        bus.publish(event);
    }
}

/// Publish a hint (`Left`) if this node has a bus whose sending task still runs: when the
/// node shuts down, its sockets close after the bus has stopped, and that is not worth a
/// warning each.
pub fn publish_hint(slot: &BusSlot, event: BusEvent) {
    if let Some(bus) = slot.get() {
        let _ = bus.tx.send(event);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn device(i: usize) -> DeviceAddress {
        DeviceAddress {
            user_id: UserId::parse(format!("user{i}")).unwrap(),
            device_id: sotto_proto::DeviceId::parse(format!("DEVICE{i}")).unwrap(),
        }
    }

    #[test]
    fn a_large_event_is_split_under_the_limit_and_keeps_everything() {
        let devices: Vec<DeviceAddress> = (0..1000).map(device).collect();
        let parts = BusEvent::Wake { devices: devices.clone() }.split(7900);
        assert!(parts.len() > 1);
        let mut back = Vec::new();
        for part in parts {
            let part = part.unwrap();
            assert!(serde_json::to_string(&part).unwrap().len() <= 7900);
            let BusEvent::Wake { devices } = part else { panic!("a wake") };
            back.extend(devices);
        }
        assert_eq!(back, devices);
        // Small events stay whole; one that cannot be split and is too large is left out.
        assert_eq!(BusEvent::Wake { devices: vec![device(1)] }.split(7900).len(), 1);
        assert_eq!(BusEvent::Disconnect { device: device(1) }.split(10), vec![None]);
    }

    fn entry(ciphertext: String) -> InboxEntry {
        InboxEntry {
            seq: 0,
            message_id: sotto_proto::MessageId::parse("message-0001").unwrap(),
            sender_user: UserId::parse("alice").unwrap(),
            sender_device: None,
            server_ts: 1,
            body: sotto_proto::EntryBody::Direct { ciphertext },
        }
    }

    #[test]
    fn a_large_group_entry_crosses_in_parts_and_one_too_large_as_a_wake() {
        let to: Vec<(DeviceAddress, u64)> = (0..1000).map(|i| (device(i), i as u64 + 1)).collect();
        let parts = BusEvent::Pushed { entry: entry("c".repeat(1000)), to: to.clone() }.split(7900);
        assert!(parts.len() > 1);
        let mut back = Vec::new();
        for part in parts {
            let part = part.unwrap();
            assert!(serde_json::to_string(&part).unwrap().len() <= 7900);
            let BusEvent::Pushed { entry: e, to } = part else { panic!("an entry") };
            assert_eq!(e, entry("c".repeat(1000)));
            back.extend(to);
        }
        assert_eq!(back, to);
        // Too large for one recipient: the devices are woken and read it from the store.
        let big = BusEvent::Pushed { entry: entry("c".repeat(8000)), to: to[..3].to_vec() };
        assert_eq!(
            big.split(7900),
            [Some(BusEvent::Wake { devices: to[..3].iter().map(|(d, _)| d.clone()).collect() })]
        );
    }
}
