//! Several server nodes on one database: what one node tells the others.
//!
//! The database stays the only source of truth; the bus only carries wake-ups and
//! invalidations. A node publishes an event for what its own process keeps for the others
//! (who is connected where, cached device lists, revoked tokens, ephemeral frames); every other
//! node applies it to its own. A lost event costs latency, never a message or a check: after the
//! bus reconnects, each node re-reads what it keeps ([`Remote::Resync`]: every local socket reads
//! its inbox again, cached device lists go, revocations are read back from the store).
//!
//! With one node (SQLite) there is no bus and nothing is published. On PostgreSQL the bus is
//! LISTEN/NOTIFY (`store::postgres::bus`).

use serde::{Deserialize, Serialize};
use sotto_proto::{DeviceAddress, ServerFrame, UserId};
use tokio::sync::mpsc;

/// An event one node sends the others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum BusEvent {
    /// Entries were stored for these devices: wherever they are connected, they read the store.
    Wake { devices: Vec<DeviceAddress> },
    /// The device connected to the sending node: its older socket on any other node closes
    /// (the newest connection of a device replaces the older one, as on one node).
    Connected { device: DeviceAddress },
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
    /// payload is bounded): device and user lists are split; an event that cannot be split
    /// and is still too large is left out (`None` in the list; the caller logs it).
    pub fn split(self, limit: usize) -> Vec<Option<BusEvent>> {
        let size = |e: &BusEvent| serde_json::to_string(e).map_or(usize::MAX, |s| s.len());
        if size(&self) <= limit {
            return vec![Some(self)];
        }
        let halves: Option<(BusEvent, BusEvent)> = match self {
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
    /// An event, and when it was published (ms since the epoch, the sender's clock).
    Event(Box<BusEvent>, u64),
    /// The bus (re)connected: events may have been missed; re-read everything kept.
    Resync,
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
}
