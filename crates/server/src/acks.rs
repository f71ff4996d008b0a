//! Acks that arrive over WebSockets, committed together.
//!
//! A socket's ack needs no reply, so it does not wait for its own commit: it is recorded here and
//! a flusher task writes every ack recorded meanwhile in one store job (a 1,000-member group
//! message draws ~60 acks a second per 1,000 members at ack-every-16; one job each was a large
//! part of the writer's load). Until an ack is committed it stays in `pending`, and every read
//! of an inbox (a socket's replay, the HTTP inbox) starts after it, so what a device acked is
//! never shown to it again — also when it reconnects at once. An ack lost in a crash only means
//! the entries are delivered again, which clients already handle (at-least-once delivery).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use sotto_proto::DeviceAddress;
use tokio::sync::Notify;

use crate::store::{InboxStore, StoreResult};

#[derive(Default)]
pub struct AckQueue {
    /// Per device, the highest seq acked and not yet known to be committed.
    pending: Mutex<HashMap<DeviceAddress, u64>>,
    wake: Notify,
}

impl std::fmt::Debug for AckQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AckQueue").finish_non_exhaustive()
    }
}

impl AckQueue {
    fn lock(&self) -> MutexGuard<'_, HashMap<DeviceAddress, u64>> {
        // Single inserts and removes only: a poisoned map is still consistent.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records that `device` is done with every entry up to `up_to`.
    pub fn ack(&self, device: &DeviceAddress, up_to: u64) {
        let mut pending = self.lock();
        let seq = pending.entry(device.clone()).or_insert(0);
        if up_to > *seq {
            *seq = up_to;
            drop(pending);
            self.wake.notify_one();
        }
    }

    /// The seq a read of `device`'s inbox must start after (0: the store alone decides).
    pub fn floor(&self, device: &DeviceAddress) -> u64 {
        self.lock().get(device).copied().unwrap_or(0)
    }

    /// Commits every pending ack in one store job; an ack is forgotten only once committed, and
    /// only if no newer one arrived meanwhile.
    pub async fn flush(&self, inbox: &dyn InboxStore) -> StoreResult<()> {
        let batch: Vec<(DeviceAddress, u64)> = self.lock().iter().map(|(d, s)| (d.clone(), *s)).collect();
        if batch.is_empty() {
            return Ok(());
        }
        inbox.ack_many(&batch).await?;
        let mut pending = self.lock();
        for (device, seq) in batch {
            if pending.get(&device) == Some(&seq) {
                pending.remove(&device);
            }
        }
        Ok(())
    }

    /// Makes the flusher run again although no new ack arrived (after a failed flush).
    pub fn retry_later(&self) {
        self.wake.notify_one();
    }

    /// Waits until an ack was recorded.
    pub async fn recorded(&self) {
        self.wake.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sotto_proto::{DeviceId, UserId};

    #[test]
    fn keeps_the_highest_ack_per_device() {
        let q = AckQueue::default();
        let d = DeviceAddress { user_id: UserId::parse("alice").unwrap(), device_id: DeviceId::parse("D1").unwrap() };
        assert_eq!(q.floor(&d), 0);
        q.ack(&d, 5);
        q.ack(&d, 3);
        assert_eq!(q.floor(&d), 5);
    }
}
