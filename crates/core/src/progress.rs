//! Progress of long operations (backup export and import, readable export).
//!
//! A long operation takes a [`watch::Sender<Progress>`] it updates as it goes (at most a few times
//! per percent, never per record) and a [`CancellationToken`] it checks between records. A
//! cancelled operation returns [`crate::Error::Cancelled`] and leaves nothing half-written: a
//! partial output file or profile is removed, and existing data is never touched.

use serde::Serialize;
pub use tokio::sync::watch;
pub use tokio_util::sync::CancellationToken;

/// How far a long operation has come: `done` of `total` units (records or messages). `total` is
/// known before the first unit is written; it is 0 only for an operation with nothing to do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Progress {
    pub done: u64,
    pub total: u64,
}

impl Progress {
    /// A channel for an operation that nobody watches.
    pub fn unobserved() -> watch::Sender<Progress> {
        watch::Sender::new(Progress::default())
    }

    /// Publish `done` when it moved by at least 1/200 of `total` since the last publication, or
    /// reached the end; receivers are not woken for every record.
    pub fn publish(sender: &watch::Sender<Progress>, done: u64, total: u64) {
        sender.send_if_modified(|p| {
            let step = (total / 200).max(1);
            let moved = p.total != total || done >= total || done.saturating_sub(p.done) >= step;
            if moved {
                *p = Progress { done, total };
            }
            moved
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publishes_in_steps_and_at_the_end() {
        let tx = Progress::unobserved();
        let mut rx = tx.subscribe();
        Progress::publish(&tx, 0, 1000);
        assert!(rx.has_changed().unwrap_or(false));
        rx.mark_unchanged();
        Progress::publish(&tx, 3, 1000);
        assert!(!rx.has_changed().unwrap_or(true), "3 of 1000 is below a step of 5");
        Progress::publish(&tx, 5, 1000);
        assert_eq!(*rx.borrow_and_update(), Progress { done: 5, total: 1000 });
        Progress::publish(&tx, 1000, 1000);
        assert_eq!(*rx.borrow_and_update(), Progress { done: 1000, total: 1000 });
    }
}
