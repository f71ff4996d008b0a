//! The open-file limit, and the connection cap that stays below it.
//!
//! Every connection is a file descriptor. At the limit, `accept` fails (`EMFILE`) and so does
//! opening anything else — logins, WebSockets and health checks all stall. So the soft limit is
//! raised to the hard one at start, and connections are capped below it with a reserve for the
//! database's files, the pool of connections that answer `503`, and the rest of the process.

/// Descriptors kept back from connections whatever the limit: the database (a writer, 8
/// readers and a checkpointer, each with its WAL and shared-memory files), logs, the listener,
/// the runtime's own, and the refusing pool.
const RESERVE_BASE: u64 = 128;
/// And one more in 64 of the limit.
const RESERVE_SHARE: u64 = 64;
/// The cap where the process has no open-file limit to read (not Unix).
const CAP_WITHOUT_LIMIT: usize = 16_384;
/// Sockets that may wait for their `503` at once; up to twice as many are open while evicted
/// ones close (`caps.rs`), which is half the reserve's floor.
pub const REFUSING_POOL: usize = (RESERVE_BASE / 4) as usize;

/// The soft open-file limit before and after [`raise_open_file_limit`], and the hard one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFileLimit {
    pub before: u64,
    pub now: u64,
    pub hard: u64,
}

/// Raises the soft open-file limit of this process to its hard limit, and logs both.
#[cfg(unix)]
pub fn raise_open_file_limit() -> Option<OpenFileLimit> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (before, hard) = match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok(limits) => limits,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the open-file limit");
            return None;
        }
    };
    let mut now = before;
    if before < hard {
        // macOS refuses more than OPEN_MAX (10240) for the soft limit, even under a higher or
        // infinite hard limit.
        for target in [hard, hard.min(10_240)] {
            if target > now && setrlimit(Resource::RLIMIT_NOFILE, target, hard).is_ok() {
                now = target;
                break;
            }
        }
    }
    let limit = OpenFileLimit { before, now, hard };
    if now == before && before < hard {
        tracing::warn!(soft = before, hard, "cannot raise the soft open-file limit to the hard limit");
    } else {
        tracing::info!(soft_before = before, soft = now, hard, "open-file limit");
    }
    Some(limit)
}

#[cfg(not(unix))]
pub fn raise_open_file_limit() -> Option<OpenFileLimit> {
    None
}

/// The soft open-file limit of this process now, if it has one.
#[cfg(unix)]
pub fn current_open_file_limit() -> Option<u64> {
    use nix::sys::resource::{RLIM_INFINITY, Resource, getrlimit};
    getrlimit(Resource::RLIMIT_NOFILE).ok().map(|(soft, _)| soft).filter(|soft| *soft != RLIM_INFINITY)
}

#[cfg(not(unix))]
pub fn current_open_file_limit() -> Option<u64> {
    None
}

/// The most connections served under an open-file limit of `limit` (`None`: no limit known).
pub fn cap_below(limit: Option<u64>) -> usize {
    let Some(limit) = limit else { return CAP_WITHOUT_LIMIT };
    let reserve = RESERVE_BASE + limit / RESERVE_SHARE;
    // A limit below the reserve (a misconfigured system): half of it still serves someone.
    let cap = if limit > 2 * reserve { limit - reserve } else { limit / 2 };
    usize::try_from(cap).unwrap_or(usize::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_a_reserve_below_the_limit() {
        assert_eq!(cap_below(Some(1024)), 1024 - 128 - 16);
        assert_eq!(cap_below(Some(1 << 20)), (1 << 20) - 128 - (1 << 14));
        assert_eq!(cap_below(Some(256)), 128);
        assert_eq!(cap_below(Some(0)), 1);
        assert_eq!(cap_below(None), CAP_WITHOUT_LIMIT);
        for limit in [300, 1024, 4096, 65_536, 1 << 20] {
            let left = limit - cap_below(Some(limit)) as u64;
            assert!(left >= 2 * REFUSING_POOL as u64 + 64, "limit {limit}: only {left} descriptors left");
        }
    }

    #[cfg(unix)]
    #[test]
    fn the_current_limit_is_read() {
        let limit = current_open_file_limit();
        assert!(limit.is_none_or(|l| l >= 16), "{limit:?}");
    }
}
