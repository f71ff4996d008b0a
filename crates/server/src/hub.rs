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

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sotto_proto::{DeviceAddress, InboxEntry, ServerFrame, UserId};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

const EPHEMERAL_QUEUE: usize = 64;
const ENTRY_QUEUE: usize = 1024;

struct Entry {
    conn: u64,
    wake: Arc<Notify>,
    entries: mpsc::Sender<InboxEntry>,
    ephemeral: mpsc::Sender<ServerFrame>,
    close: CancellationToken,
}

#[derive(Default)]
pub struct Hub {
    online: Mutex<HashMap<UserId, HashMap<sotto_proto::DeviceId, Entry>>>,
    next_conn: std::sync::atomic::AtomicU64,
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
    pub entries: mpsc::Receiver<InboxEntry>,
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
        let mut online = self.lock();
        if let Some(old) = online.entry(device.user_id.clone()).or_default().insert(device.device_id.clone(), entry) {
            old.close.cancel();
        }
        Subscription { hub: self.clone(), device: device.clone(), conn, wake, entries, ephemeral: rx, close }
    }

    /// Wakes the sockets of these devices (those that are online).
    pub fn wake(&self, devices: &[DeviceAddress]) {
        let online = self.lock();
        for d in devices {
            if let Some(e) = online.get(&d.user_id).and_then(|m| m.get(&d.device_id)) {
                e.wake.notify_one();
            }
        }
    }

    /// Pushes freshly committed entries to the devices that are online; `make` builds a device's
    /// entry from its seq. A device whose queue is full is woken instead (it reads the store).
    pub fn push(&self, recipients: &[(DeviceAddress, u64)], make: impl Fn(&DeviceAddress, u64) -> Option<InboxEntry>) {
        let online = self.lock();
        for (d, seq) in recipients {
            let Some(e) = online.get(&d.user_id).and_then(|m| m.get(&d.device_id)) else { continue };
            let queued = make(d, *seq).is_some_and(|entry| e.entries.try_send(entry).is_ok());
            if !queued {
                e.wake.notify_one();
            }
        }
    }

    /// Queues an ephemeral frame to every online device of `users`, except `skip`.
    /// Returns how many devices it reached.
    pub fn send_ephemeral(&self, users: &[UserId], skip: &DeviceAddress, frame: &ServerFrame) -> usize {
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

    /// Closes the socket of a device that was signed out or deleted.
    pub fn disconnect(&self, device: &DeviceAddress) {
        if let Some(e) = self.lock().get(&device.user_id).and_then(|m| m.get(&device.device_id)) {
            e.close.cancel();
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
