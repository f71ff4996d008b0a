//! Which devices are online right now, and how to wake them.
//!
//! A connected device has one [`Subscription`]:
//! - a bounded queue of entries pushed right after they were committed, so the common case needs
//!   no read from the store. Each entry carries its seq; the socket sends it only if it follows
//!   the last seq it sent, and otherwise (a gap, or entries reordered between two senders) reads
//!   the missing ones from the store, which stays the source of truth;
//! - a [`Notify`] poked when the queue is full or for entries not pushed (membership events): the
//!   socket then reads from the store. `Notify` keeps a permit when nobody waits, so a wake-up
//!   between "read" and "wait" is never lost;
//! - a bounded queue of ephemeral frames (dropped when full: best effort by definition);
//! - a token that closes the socket when a newer connection of the same device replaces it or
//!   the device is deleted.
//!
//! With several nodes (see [`crate::bus`]), what the hub does for devices connected elsewhere
//! goes to the other nodes as a [`BusEvent`], and their events are applied here
//! ([`Hub::apply`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sotto_proto::{DeviceAddress, ServerFrame, UserId};

use crate::bus::{BusEvent, BusSlot};
use crate::pushed::PushedEntry;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

const EPHEMERAL_QUEUE: usize = 64;
const ENTRY_QUEUE: usize = 1024;

struct Entry {
    conn: u64,
    wake: Arc<Notify>,
    entries: mpsc::Sender<PushedEntry>,
    ephemeral: mpsc::Sender<ServerFrame>,
    close: CancellationToken,
}

#[derive(Default)]
pub struct Hub {
    online: Mutex<HashMap<UserId, HashMap<sotto_proto::DeviceId, Entry>>>,
    next_conn: std::sync::atomic::AtomicU64,
    /// The other nodes, when there are any.
    pub bus: BusSlot,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").finish_non_exhaustive()
    }
}

/// A connected socket's registration; unregisters itself when dropped.
pub struct Subscription {
    hub: Arc<Hub>,
    device: DeviceAddress,
    conn: u64,
    pub wake: Arc<Notify>,
    pub entries: mpsc::Receiver<PushedEntry>,
    pub ephemeral: mpsc::Receiver<ServerFrame>,
    pub close: CancellationToken,
}

impl Hub {
    /// Registers `device`; an older connection of the same device is told to close.
    pub fn subscribe(self: &Arc<Self>, device: &DeviceAddress) -> Subscription {
        let conn = self.next_conn.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let wake = Arc::new(Notify::new());
        let (tx, rx) = mpsc::channel(EPHEMERAL_QUEUE);
        let (entries_tx, entries) = mpsc::channel(ENTRY_QUEUE);
        let close = CancellationToken::new();
        let entry = Entry { conn, wake: wake.clone(), entries: entries_tx, ephemeral: tx, close: close.clone() };
        {
            let mut online = self.lock();
            if let Some(old) = online.entry(device.user_id.clone()).or_default().insert(device.device_id.clone(), entry)
            {
                old.close.cancel();
            }
        }
        crate::bus::publish(&self.bus, BusEvent::Connected { device: device.clone() });
        Subscription { hub: self.clone(), device: device.clone(), conn, wake, entries, ephemeral: rx, close }
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
                Some(e) => e.wake.notify_one(),
                None => elsewhere.push(d.clone()),
            }
        }
        elsewhere
    }

    /// Pushes freshly committed entries to the devices that are online; `make` builds a device's
    /// entry from its seq. A device whose queue is full is woken instead (it reads the store).
    pub fn push(&self, recipients: &[(DeviceAddress, u64)], make: impl Fn(&DeviceAddress, u64) -> Option<PushedEntry>) {
        let mut elsewhere = Vec::new();
        {
            let online = self.lock();
            for (d, seq) in recipients {
                let Some(e) = online.get(&d.user_id).and_then(|m| m.get(&d.device_id)) else {
                    elsewhere.push(d.clone());
                    continue;
                };
                let queued = make(d, *seq).is_some_and(|entry| e.entries.try_send(entry).is_ok());
                if !queued {
                    e.wake.notify_one();
                }
            }
        }
        // Devices connected to another node read their entries from the store when woken.
        if !elsewhere.is_empty() && self.bus.get().is_some() {
            crate::bus::publish(&self.bus, BusEvent::Wake { devices: elsewhere });
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
                if e.ephemeral.try_send(frame.clone()).is_ok() {
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

    /// Another node's event, applied to the sockets here (never published again).
    pub fn apply(&self, event: &BusEvent) {
        match event {
            BusEvent::Wake { devices } => {
                self.wake_here(devices);
            }
            // The device's newest socket is on the other node: the one here closes.
            BusEvent::Connected { device } | BusEvent::Disconnect { device } => self.disconnect_here(device),
            BusEvent::Ephemeral { users, skip, frame } => {
                self.send_ephemeral_here(users, skip, frame);
            }
            BusEvent::DevicesChanged { .. } | BusEvent::Revoked { .. } => {}
        }
    }

    /// Every socket here reads its inbox again (events from other nodes may have been missed).
    pub fn wake_all(&self) {
        for devices in self.lock().values() {
            for e in devices.values() {
                e.wake.notify_one();
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, HashMap<sotto_proto::DeviceId, Entry>>> {
        // A panic while holding this lock cannot leave the map half-updated (every mutation is a
        // single insert or remove), so a poisoned lock is safe to keep using.
        self.online.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut online = self.hub.lock();
        if let Some(devices) = online.get_mut(&self.device.user_id) {
            if devices.get(&self.device.device_id).is_some_and(|e| e.conn == self.conn) {
                devices.remove(&self.device.device_id);
            }
            if devices.is_empty() {
                online.remove(&self.device.user_id);
            }
        }
    }
}
