//! Which devices are online right now, and how to wake them.
//!
//! A connected device has one [`Subscription`], whose [`Mailbox`] holds:
//! - a bounded queue of entries pushed right after they were committed, so the common case needs
//!   no read from the store. Each entry carries its seq; the socket sends it only if it follows
//!   the last seq it sent, and otherwise (a gap, or entries reordered between two senders) reads
//!   the missing ones from the store, which stays the source of truth;
//! - a "read the store" flag, set when the queue is full or for entries not pushed (membership
//!   events): the socket then reads from the store;
//! - a bounded queue of ephemeral frames (dropped when full: best effort by definition);
//!
//! and a [`Notify`] poked after each of these changes. `Notify` keeps a permit when nobody waits,
//! and everything is put in the mailbox before the poke, so a wake-up between "take" and "wait"
//! is never lost. A subscription also has a token that closes the socket when a newer connection
//! of the same device replaces it or the device is deleted.
//!
//! An idle mailbox costs a few hundred bytes: empty `VecDeque`s allocate nothing, and the socket
//! takes a queue's whole buffer with it when it empties it. (Per-socket tokio channels, which
//! allocate their first 32-slot block up front, cost ~17 KiB per idle socket; measured.)
//!
//! With several nodes (see [`crate::bus`]), what the hub does for devices connected elsewhere
//! goes to the other nodes as a [`BusEvent`], and their events are applied here
//! ([`Hub::apply`]).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use sotto_proto::{DeviceAddress, InboxEntry, ServerFrame, UserId};

use crate::bus::{BusEvent, BusSlot};
use crate::pushed::{EntryFrame, PushedEntry};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

const EPHEMERAL_QUEUE: usize = 64;
const ENTRY_QUEUE: usize = 1024;

/// Devices and the seq each got.
type Recipients = Vec<(DeviceAddress, u64)>;

struct Entry {
    conn: u64,
    mailbox: Arc<Mailbox>,
    close: CancellationToken,
}

#[derive(Default)]
pub struct Hub {
    online: Mutex<HashMap<UserId, HashMap<sotto_proto::DeviceId, Entry>>>,
    next_conn: std::sync::atomic::AtomicU64,
    /// The other nodes, when there are any.
    pub bus: BusSlot,
    /// Devices connected to another node (which one), from its `Connected` and `Left` events:
    /// their entries cross whole; other devices not here get a wake-up. A hint only (see
    /// [`crate::bus`]); a node that died leaves its devices here until they connect again.
    elsewhere: Mutex<HashMap<DeviceAddress, u64>>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").finish_non_exhaustive()
    }
}

/// What the hub has for one connected socket, shared by the hub (which fills it) and the socket
/// (which empties it).
#[derive(Default)]
pub struct Mailbox {
    queued: Mutex<Delivery>,
    /// Poked after anything was put in `queued`.
    signal: Notify,
}

/// What a socket takes out of its [`Mailbox`] at once.
#[derive(Debug, Default)]
pub struct Delivery {
    /// Entries pushed right after their commit, in push order (not always seq order).
    pub entries: VecDeque<PushedEntry>,
    /// Entries were committed that are not in `entries`: read the store.
    pub read_store: bool,
    pub ephemeral: VecDeque<ServerFrame>,
}

impl Delivery {
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && !self.read_store && self.ephemeral.is_empty()
    }
}

impl Mailbox {
    /// Queues `entry`, or when the queue is full, asks for a read of the store instead.
    fn push(&self, entry: Option<PushedEntry>) {
        {
            let mut q = self.lock();
            match entry {
                Some(entry) if q.entries.len() < ENTRY_QUEUE => q.entries.push_back(entry),
                _ => q.read_store = true,
            }
        }
        self.signal.notify_one();
    }

    /// Asks the socket to read its inbox from the store.
    fn wake(&self) {
        self.lock().read_store = true;
        self.signal.notify_one();
    }

    /// Queues an ephemeral frame; false (the frame dropped) when the queue is full.
    fn push_ephemeral(&self, frame: &ServerFrame) -> bool {
        {
            let mut q = self.lock();
            if q.ephemeral.len() >= EPHEMERAL_QUEUE {
                return false;
            }
            q.ephemeral.push_back(frame.clone());
        }
        self.signal.notify_one();
        true
    }

    /// Everything queued, leaving the mailbox empty (and its buffers with the caller).
    pub fn take(&self) -> Delivery {
        std::mem::take(&mut *self.lock())
    }

    /// Resolves once something was put in the mailbox since the last time this resolved (at
    /// once if that was while nobody waited). Cancel-safe: a poke is never lost.
    pub async fn changed(&self) {
        self.signal.notified().await;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Delivery> {
        // Each mutation is a single push or flag: a panic cannot leave the queues half-updated.
        self.queued.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A connected socket's registration; unregisters itself when dropped.
pub struct Subscription {
    hub: Arc<Hub>,
    device: DeviceAddress,
    conn: u64,
    pub mailbox: Arc<Mailbox>,
    pub close: CancellationToken,
}

impl Subscription {
    /// This connection's number, unique in this process.
    pub fn conn(&self) -> u64 {
        self.conn
    }
}

impl Hub {
    /// Registers `device`; an older connection of the same device is told to close.
    pub fn subscribe(self: &Arc<Self>, device: &DeviceAddress) -> Subscription {
        let conn = self.next_conn.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mailbox = Arc::new(Mailbox::default());
        let close = CancellationToken::new();
        let entry = Entry { conn, mailbox: mailbox.clone(), close: close.clone() };
        {
            let mut online = self.lock();
            if let Some(old) = online.entry(device.user_id.clone()).or_default().insert(device.device_id.clone(), entry)
            {
                old.close.cancel();
            }
        }
        crate::bus::publish(&self.bus, BusEvent::Connected { device: device.clone() });
        Subscription { hub: self.clone(), device: device.clone(), conn, mailbox, close }
    }

    /// Wakes the sockets of these devices (those that are online, here or on another node).
    pub fn wake(&self, devices: &[DeviceAddress]) {
        let elsewhere = self.wake_here(devices);
        if !elsewhere.is_empty() {
            crate::bus::publish(&self.bus, BusEvent::Wake { devices: elsewhere });
        }
    }

    /// Wakes the sockets here of these devices; returns the devices not connected here.
    fn wake_here(&self, devices: &[DeviceAddress]) -> Vec<DeviceAddress> {
        let online = self.lock();
        let mut elsewhere = Vec::new();
        for d in devices {
            match online.get(&d.user_id).and_then(|m| m.get(&d.device_id)) {
                Some(e) => e.mailbox.wake(),
                None => elsewhere.push(d.clone()),
            }
        }
        elsewhere
    }

    /// Pushes freshly committed entries to the devices that are online; `frame` gives a
    /// device's entry frame (its seq aside; devices given the same `Arc` share one frame). A
    /// device whose queue is full is woken instead (it reads the store). With other nodes, the
    /// devices not connected here get their entries through the bus.
    pub fn push(&self, recipients: &[(DeviceAddress, u64)], frame: impl Fn(&DeviceAddress) -> Option<Arc<EntryFrame>>) {
        let multi_node = self.bus.get().is_some();
        let mut here = Vec::new();
        let mut elsewhere = Vec::new();
        {
            let online = self.lock();
            for (d, seq) in recipients {
                match online.get(&d.user_id).and_then(|m| m.get(&d.device_id)) {
                    Some(e) => here.push((e.mailbox.clone(), d, *seq)),
                    None if multi_node => elsewhere.push((d, *seq)),
                    None => {}
                }
            }
        }
        // Frames are made outside the lock, and only for devices that are online somewhere.
        for (mailbox, d, seq) in here {
            mailbox.push(frame(d).and_then(|f| f.with_seq(seq)));
        }
        if elsewhere.is_empty() {
            return;
        }
        // Runs of devices sharing a frame (a group's members) cross as one event; devices not
        // known to be connected to another node are only woken, wherever they may be.
        let connected_elsewhere: Vec<bool> = {
            let known = self.lock_elsewhere();
            elsewhere.iter().map(|(d, _)| known.contains_key(*d)).collect()
        };
        let mut woken = Vec::new();
        let mut runs: Vec<(Arc<EntryFrame>, Recipients)> = Vec::new();
        for ((d, seq), connected) in elsewhere.into_iter().zip(connected_elsewhere) {
            if !connected {
                woken.push(d.clone());
                continue;
            }
            match (frame(d), runs.last_mut()) {
                (None, _) => woken.push(d.clone()),
                (Some(f), Some((shared, to))) if Arc::ptr_eq(shared, &f) => to.push((d.clone(), seq)),
                (Some(f), _) => runs.push((f, vec![(d.clone(), seq)])),
            }
        }
        for (f, to) in runs {
            // A direct message's frame is this run's alone: its entry moves to the event.
            let entry = Arc::try_unwrap(f).map_or_else(|shared| shared.entry().clone(), EntryFrame::into_entry);
            crate::bus::publish(&self.bus, BusEvent::Pushed { entry, to });
        }
        if !woken.is_empty() {
            crate::bus::publish(&self.bus, BusEvent::Wake { devices: woken });
        }
    }

    /// Queues an ephemeral frame to every online device of `users`, except `skip`.
    /// Returns how many devices it reached.
    pub fn send_ephemeral(&self, users: &[UserId], skip: &DeviceAddress, frame: &ServerFrame) -> usize {
        if self.bus.get().is_some() {
            let event = BusEvent::Ephemeral { users: users.to_vec(), skip: skip.clone(), frame: frame.clone() };
            crate::bus::publish(&self.bus, event);
        }
        self.send_ephemeral_here(users, skip, frame)
    }

    fn send_ephemeral_here(&self, users: &[UserId], skip: &DeviceAddress, frame: &ServerFrame) -> usize {
        let online = self.lock();
        let mut sent = 0;
        for user in users {
            let Some(devices) = online.get(user) else { continue };
            for (device_id, e) in devices {
                if *user == skip.user_id && *device_id == skip.device_id {
                    continue;
                }
                if e.mailbox.push_ephemeral(frame) {
                    sent += 1;
                }
            }
        }
        sent
    }

    /// Closes the socket of a device that was signed out or deleted, wherever it is.
    pub fn disconnect(&self, device: &DeviceAddress) {
        self.disconnect_here(device);
        crate::bus::publish(&self.bus, BusEvent::Disconnect { device: device.clone() });
    }

    fn disconnect_here(&self, device: &DeviceAddress) {
        if let Some(e) = self.lock().get(&device.user_id).and_then(|m| m.get(&device.device_id)) {
            e.close.cancel();
        }
    }

    /// An event from the other node `node`, applied to the sockets here (never published
    /// again); how many of its entries were pushed to sockets here.
    pub fn apply(&self, event: BusEvent, node: u64) -> u64 {
        match event {
            BusEvent::Wake { devices } => {
                self.wake_here(&devices);
            }
            BusEvent::Pushed { entry, to } => return self.push_here(entry, &to),
            // The device's newest socket is on the other node: the one here closes.
            BusEvent::Connected { device } => {
                self.disconnect_here(&device);
                self.lock_elsewhere().insert(device, node);
            }
            // Unless it has connected to yet another node since.
            BusEvent::Left { device } => {
                let mut elsewhere = self.lock_elsewhere();
                if elsewhere.get(&device) == Some(&node) {
                    elsewhere.remove(&device);
                }
            }
            BusEvent::Disconnect { device } => self.disconnect_here(&device),
            BusEvent::Ephemeral { users, skip, frame } => {
                self.send_ephemeral_here(&users, &skip, &frame);
            }
            BusEvent::DevicesChanged { .. } | BusEvent::Revoked { .. } => {}
        }
        0
    }

    /// Another node's committed entry, pushed to those of `to` connected here; how many.
    fn push_here(&self, entry: InboxEntry, to: &[(DeviceAddress, u64)]) -> u64 {
        let here: Vec<(Arc<Mailbox>, u64)> = {
            let online = self.lock();
            to.iter()
                .filter_map(|(d, seq)| Some((online.get(&d.user_id)?.get(&d.device_id)?.mailbox.clone(), *seq)))
                .collect()
        };
        if here.is_empty() {
            return 0;
        }
        let frame = EntryFrame::new(entry);
        for (mailbox, seq) in &here {
            mailbox.push(frame.with_seq(*seq));
        }
        here.len() as u64
    }

    /// Every socket here reads its inbox again (events from other nodes may have been missed).
    pub fn wake_all(&self) {
        for devices in self.lock().values() {
            for e in devices.values() {
                e.mailbox.wake();
            }
        }
    }

    fn lock_elsewhere(&self) -> std::sync::MutexGuard<'_, HashMap<DeviceAddress, u64>> {
        // Single inserts and removes, as `online`'s.
        self.elsewhere.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, HashMap<sotto_proto::DeviceId, Entry>>> {
        // A panic while holding this lock cannot leave the map half-updated (every mutation is a
        // single insert or remove), so a poisoned lock is safe to keep using.
        self.online.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut left = false;
        {
            let mut online = self.hub.lock();
            if let Some(devices) = online.get_mut(&self.device.user_id) {
                if devices.get(&self.device.device_id).is_some_and(|e| e.conn == self.conn) {
                    devices.remove(&self.device.device_id);
                    left = true;
                }
                if devices.is_empty() {
                    online.remove(&self.device.user_id);
                }
            }
        }
        if left {
            crate::bus::publish_hint(&self.hub.bus, BusEvent::Left { device: self.device.clone() });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;
    use sotto_proto::{DeviceId, EntryBody, MessageId};

    fn device(user: &str, id: &str) -> DeviceAddress {
        DeviceAddress { user_id: UserId::parse(user).unwrap(), device_id: DeviceId::parse(id).unwrap() }
    }

    fn inbox_entry(ciphertext: &str) -> InboxEntry {
        InboxEntry {
            seq: 0,
            message_id: MessageId::parse("message-0001").unwrap(),
            sender_user: UserId::parse("bob").unwrap(),
            sender_device: None,
            server_ts: 0,
            body: EntryBody::Direct { ciphertext: ciphertext.into() },
        }
    }

    /// Every device's frame (the hub gives the seq).
    fn frame(_: &DeviceAddress) -> Option<Arc<EntryFrame>> {
        Some(Arc::new(EntryFrame::new(inbox_entry("c"))))
    }

    fn typing() -> ServerFrame {
        ServerFrame::Ephemeral {
            from_user: UserId::parse("bob").unwrap(),
            from_device: DeviceId::parse("B1").unwrap(),
            group_id: None,
            body: "typing".into(),
        }
    }

    /// A hub with other nodes, and what it publishes to them.
    fn hub_with_bus() -> (Arc<Hub>, tokio::sync::mpsc::UnboundedReceiver<BusEvent>) {
        let hub = Arc::new(Hub::default());
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        hub.bus.set(Arc::new(crate::bus::Bus::new(tx))).unwrap();
        (hub, rx)
    }

    /// Whether the mailbox's `changed` resolves without waiting.
    fn poked(sub: &Subscription) -> bool {
        sub.mailbox.changed().now_or_never().is_some()
    }

    #[test]
    fn pushed_entries_wait_in_the_mailbox_in_push_order() {
        let hub = Arc::new(Hub::default());
        let alice = device("alice", "A1");
        let sub = hub.subscribe(&alice);
        hub.push(&[(alice.clone(), 2)], frame);
        hub.push(&[(alice.clone(), 1)], frame);
        assert!(poked(&sub));
        let got = sub.mailbox.take();
        assert_eq!(got.entries.iter().map(|e| e.seq).collect::<Vec<_>>(), [2, 1]);
        assert!(!got.read_store);
        assert!(sub.mailbox.take().is_empty());
    }

    #[test]
    fn a_full_entry_queue_asks_for_a_read_of_the_store_instead() {
        let hub = Arc::new(Hub::default());
        let alice = device("alice", "A1");
        let sub = hub.subscribe(&alice);
        for seq in 1..=ENTRY_QUEUE as u64 + 5 {
            hub.push(&[(alice.clone(), seq)], frame);
        }
        let got = sub.mailbox.take();
        assert_eq!(got.entries.len(), ENTRY_QUEUE);
        assert_eq!(got.entries.back().map(|e| e.seq), Some(ENTRY_QUEUE as u64));
        assert!(got.read_store);
        // Emptied, it queues again.
        hub.push(&[(alice.clone(), 2000)], frame);
        let got = sub.mailbox.take();
        assert_eq!(got.entries.len(), 1);
        assert!(!got.read_store);
    }

    #[test]
    fn an_entry_not_made_and_a_wake_ask_for_a_read_of_the_store() {
        let hub = Arc::new(Hub::default());
        let alice = device("alice", "A1");
        let sub = hub.subscribe(&alice);
        hub.push(&[(alice.clone(), 1)], |_| None);
        let got = sub.mailbox.take();
        assert!(got.entries.is_empty() && got.read_store);
        assert!(poked(&sub));
        assert!(!poked(&sub), "one poke, one permit");
        hub.wake(std::slice::from_ref(&alice));
        assert!(poked(&sub));
        assert!(sub.mailbox.take().read_store);
        hub.wake_all();
        assert!(sub.mailbox.take().read_store);
    }

    #[test]
    fn with_other_nodes_entries_for_devices_elsewhere_cross_the_bus() {
        let (hub, mut rx) = hub_with_bus();
        let (alice, bob, carol, dave) =
            (device("alice", "A1"), device("bob", "B1"), device("carol", "C1"), device("dave", "D1"));
        let sub = hub.subscribe(&alice);
        assert!(matches!(rx.try_recv(), Ok(BusEvent::Connected { .. })));
        // bob and carol are connected to other nodes; where dave is, no node said.
        hub.apply(BusEvent::Connected { device: bob.clone() }, 2);
        hub.apply(BusEvent::Connected { device: carol.clone() }, 3);
        // A direct message: a frame of its own per device; alice's is here, bob's and carol's cross.
        let texts: HashMap<DeviceAddress, &str> =
            [(alice.clone(), "a"), (bob.clone(), "b"), (carol.clone(), "c")].into();
        let made = std::sync::Mutex::new(Vec::new());
        hub.push(&[(alice.clone(), 1), (bob.clone(), 5), (carol.clone(), 7), (dave.clone(), 2)], |d| {
            let frame = Arc::new(EntryFrame::new(inbox_entry(texts.get(d)?)));
            made.lock().unwrap().push((d.clone(), frame.clone()));
            Some(frame)
        });
        assert_eq!(sub.mailbox.take().entries.iter().map(|e| e.seq).collect::<Vec<_>>(), [1]);
        // Only the frame for the socket here was serialized; the others' entries only crossed.
        let serialized: Vec<(DeviceAddress, bool)> =
            made.into_inner().unwrap().into_iter().map(|(d, f)| (d, f.serialized())).collect();
        assert_eq!(serialized, [(alice.clone(), true), (bob.clone(), false), (carol.clone(), false)]);
        assert_eq!(rx.try_recv().unwrap(), BusEvent::Pushed { entry: inbox_entry("b"), to: vec![(bob.clone(), 5)] });
        assert_eq!(rx.try_recv().unwrap(), BusEvent::Pushed { entry: inbox_entry("c"), to: vec![(carol.clone(), 7)] });
        // dave, offline or anywhere: his socket, if he has one, reads the store.
        assert_eq!(rx.try_recv().unwrap(), BusEvent::Wake { devices: vec![dave.clone()] });
        assert!(rx.try_recv().is_err());
        // A group message: one frame shared by the members, one event for those elsewhere.
        let shared = frame(&alice);
        hub.push(&[(bob.clone(), 6), (alice.clone(), 2), (carol.clone(), 8)], |_| shared.clone());
        assert_eq!(
            rx.try_recv().unwrap(),
            BusEvent::Pushed { entry: inbox_entry("c"), to: vec![(bob.clone(), 6), (carol.clone(), 8)] }
        );
        assert!(rx.try_recv().is_err());
        assert_eq!(sub.mailbox.take().entries.iter().map(|e| e.seq).collect::<Vec<_>>(), [2]);
        // No frame made: a wake-up.
        hub.push(&[(bob.clone(), 7)], |_| None);
        assert_eq!(rx.try_recv().unwrap(), BusEvent::Wake { devices: vec![bob.clone()] });
        // bob left node 2; carol's "left node 2" is stale (she is on node 3): only bob is woken.
        hub.apply(BusEvent::Left { device: bob.clone() }, 2);
        hub.apply(BusEvent::Left { device: carol.clone() }, 2);
        hub.push(&[(bob.clone(), 8), (carol.clone(), 9)], |_| shared.clone());
        assert_eq!(rx.try_recv().unwrap(), BusEvent::Pushed { entry: inbox_entry("c"), to: vec![(carol.clone(), 9)] });
        assert_eq!(rx.try_recv().unwrap(), BusEvent::Wake { devices: vec![bob.clone()] });
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn with_other_nodes_a_socket_that_goes_tells_them_unless_a_newer_one_replaced_it() {
        let (hub, mut rx) = hub_with_bus();
        let alice = device("alice", "A1");
        let old = hub.subscribe(&alice);
        let new = hub.subscribe(&alice);
        assert_eq!(rx.try_recv().unwrap(), BusEvent::Connected { device: alice.clone() });
        assert_eq!(rx.try_recv().unwrap(), BusEvent::Connected { device: alice.clone() });
        drop(old);
        assert!(rx.try_recv().is_err(), "the newer socket is still here");
        drop(new);
        assert_eq!(rx.try_recv().unwrap(), BusEvent::Left { device: alice.clone() });
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn another_nodes_entry_is_pushed_to_the_socket_here_and_to_nobody_else() {
        let (hub, mut rx) = hub_with_bus();
        let (alice, bob) = (device("alice", "A1"), device("bob", "B1"));
        let sub = hub.subscribe(&alice);
        while rx.try_recv().is_ok() {}
        assert_eq!(
            hub.apply(BusEvent::Pushed { entry: inbox_entry("hello"), to: vec![(bob, 4), (alice.clone(), 9)] }, 2),
            1
        );
        assert!(poked(&sub));
        let got = sub.mailbox.take();
        assert!(!got.read_store);
        let texts: Vec<String> = got.entries.iter().map(PushedEntry::text).collect();
        let expected = ServerFrame::Entry { entry: InboxEntry { seq: 9, ..inbox_entry("hello") } };
        assert_eq!(texts, [serde_json::to_string(&expected).unwrap()]);
        // Applied, never published again.
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn ephemeral_frames_past_the_queue_are_dropped() {
        let hub = Arc::new(Hub::default());
        let (alice, bob) = (device("alice", "A1"), device("bob", "B1"));
        let sub = hub.subscribe(&alice);
        let bob_sub = hub.subscribe(&bob);
        let users = [alice.user_id.clone(), bob.user_id.clone()];
        for _ in 0..EPHEMERAL_QUEUE {
            // The sender's own device is skipped.
            assert_eq!(hub.send_ephemeral(&users, &bob, &typing()), 1);
        }
        assert_eq!(hub.send_ephemeral(&users, &bob, &typing()), 0);
        let got = sub.mailbox.take();
        assert_eq!(got.ephemeral.len(), EPHEMERAL_QUEUE);
        assert!(got.entries.is_empty() && !got.read_store);
        assert_eq!(hub.send_ephemeral(&users, &bob, &typing()), 1);
        assert!(bob_sub.mailbox.take().is_empty());
    }

    #[test]
    fn a_newer_connection_of_the_device_closes_the_older_one() {
        let hub = Arc::new(Hub::default());
        let alice = device("alice", "A1");
        let old = hub.subscribe(&alice);
        let new = hub.subscribe(&alice);
        assert!(old.close.is_cancelled());
        assert!(!new.close.is_cancelled());
        // The old one's unregistering leaves the new one registered.
        drop(old);
        hub.push(&[(alice.clone(), 1)], frame);
        assert_eq!(new.mailbox.take().entries.len(), 1);
        hub.disconnect(&alice);
        assert!(new.close.is_cancelled());
        drop(new);
        assert!(hub.lock().is_empty());
    }

    #[tokio::test]
    async fn no_wake_is_lost_between_take_and_wait() {
        let hub = Arc::new(Hub::default());
        let alice = device("alice", "A1");
        let sub = Arc::new(hub.subscribe(&alice));
        // Taken (empty), then pushed before the socket waits: the wait returns at once.
        assert!(sub.mailbox.take().is_empty());
        hub.push(&[(alice.clone(), 1)], frame);
        tokio::time::timeout(std::time::Duration::from_secs(5), sub.mailbox.changed()).await.unwrap();
        assert_eq!(sub.mailbox.take().entries.len(), 1);
        // Pushed while the socket waits: it wakes.
        let waiter = tokio::spawn({
            let sub = sub.clone();
            async move {
                sub.mailbox.changed().await;
                sub.mailbox.take()
            }
        });
        tokio::task::yield_now().await;
        hub.wake(std::slice::from_ref(&alice));
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), waiter).await.unwrap().unwrap();
        assert!(got.read_store);
    }
}
