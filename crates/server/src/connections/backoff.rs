//! Pauses between failed `accept` calls.
//!
//! When the process runs out of descriptors (`EMFILE`, `ENFILE`) or memory, `accept` fails at
//! once for as long as that lasts; retrying at once would spin a core. The pause starts at
//! 10 ms and doubles up to 1 s; a burst of failures is logged once when it starts and once when
//! accepting works again.

use std::time::Duration;

const FIRST_PAUSE: Duration = Duration::from_millis(10);
const LONGEST_PAUSE: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
pub struct AcceptBackoff {
    failures: u32,
}

impl AcceptBackoff {
    /// `accept` failed with `error`: how long to wait before the next call.
    pub fn failed(&mut self, error: &std::io::Error) -> Duration {
        if self.failures == 0 {
            tracing::warn!(%error, "accepting connections fails; retrying with pauses of up to a second");
        }
        let pause = FIRST_PAUSE.saturating_mul(1 << self.failures.min(16)).min(LONGEST_PAUSE);
        self.failures = self.failures.saturating_add(1);
        pause
    }

    /// `accept` succeeded.
    pub fn succeeded(&mut self) {
        if self.failures > 0 {
            tracing::info!(failures = self.failures, "accepting connections again");
            self.failures = 0;
        }
    }
}

/// Errors of one connection that went away before it was accepted: the next call may succeed
/// at once.
pub fn is_connection_error(error: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(error.kind(), ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::ConnectionRefused)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_up_to_a_second_and_start_over_after_a_success() {
        let emfile = std::io::Error::from_raw_os_error(24);
        let mut backoff = AcceptBackoff::default();
        let pauses: Vec<u64> = (0..10).map(|_| backoff.failed(&emfile).as_millis() as u64).collect();
        assert_eq!(pauses, [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000]);
        for _ in 0..100 {
            assert_eq!(backoff.failed(&emfile), LONGEST_PAUSE);
        }
        backoff.succeeded();
        assert_eq!(backoff.failed(&emfile), FIRST_PAUSE);
    }
}
