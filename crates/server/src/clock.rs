//! The server's wall clock. Every decision that depends on the time of day reads it through a
//! [`Clock`]: issuing and verifying access tokens (`iat`, `exp`, the skew allowed), the horizon of
//! revoked tokens, the timestamps stored with accounts, devices and messages, and the cutoffs of
//! housekeeping (idempotency records, group history). Tests give the server a [`ManualClock`] and
//! move it, instead of sleeping until the real clock gets there.
//!
//! Intervals (how often housekeeping runs, rate limits, timeouts) are not the wall clock and stay
//! on tokio's timers.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where the server reads the time: the system clock unless a test supplied a [`ManualClock`].
/// Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Clock(Source);

#[derive(Clone, Debug, Default)]
enum Source {
    #[default]
    System,
    Manual(Arc<AtomicU64>),
}

impl Clock {
    /// The system's clock.
    pub fn system() -> Clock {
        Clock(Source::System)
    }

    /// Milliseconds since the Unix epoch (0 if the system clock is before it).
    pub fn unix_millis(&self) -> u64 {
        match &self.0 {
            Source::System => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            Source::Manual(millis) => millis.load(Ordering::Acquire),
        }
    }

    /// Whole seconds since the Unix epoch.
    pub fn unix_secs(&self) -> u64 {
        self.unix_millis() / 1000
    }
}

/// A clock that stands still until moved; its [`ManualClock::clock`] goes to the server's
/// configuration and the test keeps this handle.
#[derive(Clone, Debug)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// A clock reading `start`.
    pub fn new(start: SystemTime) -> ManualClock {
        let millis = start.duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        ManualClock(Arc::new(AtomicU64::new(millis)))
    }

    /// A clock reading the system's time now.
    pub fn starting_now() -> ManualClock {
        ManualClock::new(SystemTime::now())
    }

    /// The [`Clock`] that reads this one.
    pub fn clock(&self) -> Clock {
        Clock(Source::Manual(self.0.clone()))
    }

    /// Moves the time forward by `by`.
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.0.fetch_add(by, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let manual = ManualClock::new(UNIX_EPOCH + Duration::from_millis(1_500));
        let clock = manual.clock();
        assert_eq!((clock.unix_millis(), clock.unix_secs()), (1_500, 1));
        manual.advance(Duration::from_millis(600));
        assert_eq!((clock.unix_millis(), clock.unix_secs()), (2_100, 2));
        assert_eq!(manual.clock().unix_millis(), 2_100, "every clock of the handle reads the same time");
    }

    #[test]
    fn the_system_clock_reads_the_system_time() {
        let before = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
        let read = Clock::system().unix_millis();
        let after = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
        assert!((before..=after).contains(&read), "{before} <= {read} <= {after}");
    }
}
