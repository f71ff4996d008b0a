//! How many connections may be open: in all, and from one address.
//!
//! Every accepted socket takes a [`Slot`] that it holds until it closes (an upgraded WebSocket
//! too), so the counts are exactly the sockets open. Over a cap, a connection is still accepted
//! into a small refusing pool that answers `503` to everything but health checks and then
//! closes. When the pool is full, its oldest connection is evicted for the newcomer: a health
//! check sends its request at once and is answered within milliseconds, so a flood of silent
//! connections cannot keep it out the way a first-come pool would. At most twice the pool's size
//! is open while evicted sockets close; past that, the accept loop waits a moment for them
//! ([`ConnectionCaps::refusing_slot_freed`]) and then closes new sockets at once. The caps sit
//! below the open-file limit, with a reserve for the database, the refusing pool and whatever
//! else the process opens, so `accept` keeps working and nothing stalls.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ipnet::IpNet;
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Whether connections from `ip` are left out of the per-address cap, as a reverse proxy carries
/// every client on its one address: the trusted proxies (`--trusted-proxy`) or, when there are
/// none, loopback peers (a proxy on this host, local tools) — as for the rate limits.
pub fn exempt_from_address_cap(ip: IpAddr, trusted_proxies: &[IpNet]) -> bool {
    let ip = ip.to_canonical();
    if trusted_proxies.is_empty() { ip.is_loopback() } else { trusted_proxies.iter().any(|proxy| proxy.contains(&ip)) }
}

/// The key a peer is counted under: an IPv4 address, or the /64 an IPv6 address belongs to
/// (one host or one customer usually has a whole /64).
fn address_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(v6.to_bits() & !u128::from(u64::MAX))),
    }
}

/// Which cap a connection was over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cap {
    /// All connections of the server.
    Total,
    /// The connections of the peer's address.
    Address,
}

impl Cap {
    pub fn label(self) -> &'static str {
        match self {
            Cap::Total => "total",
            Cap::Address => "per_address",
        }
    }
}

/// What to do with a socket just accepted.
#[derive(Debug)]
pub enum Admission {
    /// Serve it.
    Serve(Slot),
    /// Answer `503` (health checks excepted) and close.
    Refuse(Slot, Cap),
    /// Close it now: even the refusing pool is full (of sockets still closing).
    Close(Cap),
}

#[derive(Debug, Default)]
struct Counts {
    served: usize,
    by_address: HashMap<IpAddr, usize>,
    /// Refusing sockets open, evicted ones included.
    refusing: usize,
    /// Refusing connections not evicted, oldest first: their ids and eviction tokens.
    pool: VecDeque<(u64, CancellationToken)>,
    next_id: u64,
}

#[derive(Debug)]
pub struct ConnectionCaps {
    total: usize,
    per_address: Option<usize>,
    trusted_proxies: Vec<IpNet>,
    refusing: usize,
    counts: Mutex<Counts>,
    open: Gauge,
    /// Poked when a refusing socket closes.
    refusing_closed: Notify,
}

impl ConnectionCaps {
    /// At most `total` connections served, `per_address` from one address (`None`: no such
    /// cap; [`exempt_from_address_cap`] with `trusted_proxies`), and a pool of `refusing` more
    /// answering `503`. `open` counts every socket open.
    pub fn new(
        total: usize,
        per_address: Option<usize>,
        trusted_proxies: Vec<IpNet>,
        refusing: usize,
        open: Gauge,
    ) -> Arc<Self> {
        Arc::new(ConnectionCaps {
            total,
            per_address,
            trusted_proxies,
            refusing,
            counts: Mutex::default(),
            open,
            refusing_closed: Notify::new(),
        })
    }

    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Admission {
        let mut counts = self.lock();
        let over = if counts.served >= self.total {
            Some(Cap::Total)
        } else {
            let key = (!exempt_from_address_cap(ip, &self.trusted_proxies)).then(|| address_key(ip));
            match (key, self.per_address) {
                (Some(key), Some(cap)) if counts.by_address.get(&key).is_some_and(|n| *n >= cap) => Some(Cap::Address),
                (key, _) => {
                    counts.served += 1;
                    if let Some(key) = key {
                        *counts.by_address.entry(key).or_default() += 1;
                    }
                    self.open.inc();
                    return Admission::Serve(Slot { caps: self.clone(), kind: SlotKind::Served(key) });
                }
            }
        };
        let cap = over.unwrap_or(Cap::Total);
        if counts.refusing >= 2 * self.refusing {
            return Admission::Close(cap);
        }
        if counts.pool.len() >= self.refusing
            && let Some((_, oldest)) = counts.pool.pop_front()
        {
            oldest.cancel();
        }
        let id = counts.next_id;
        counts.next_id += 1;
        let evict = CancellationToken::new();
        counts.pool.push_back((id, evict.clone()));
        counts.refusing += 1;
        self.open.inc();
        Admission::Refuse(Slot { caps: self.clone(), kind: SlotKind::Refusing { id, evict } }, cap)
    }

    /// Waits until a refusing socket closes, or `limit`. Evicted sockets close as soon as their
    /// tasks run, which on a busy machine can be after the accept loop took many more sockets.
    pub async fn refusing_slot_freed(&self, limit: std::time::Duration) {
        let _ = tokio::time::timeout(limit, self.refusing_closed.notified()).await;
    }

    fn lock(&self) -> MutexGuard<'_, Counts> {
        // Every update is a few integer changes done under the lock, never interrupted halfway
        // by anything that can panic, so a poisoned lock holds consistent counts.
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Debug)]
enum SlotKind {
    /// Served; counted under this address unless exempt.
    Served(Option<IpAddr>),
    Refusing {
        id: u64,
        evict: CancellationToken,
    },
}

/// A socket's place under the caps, given back when the socket closes.
#[derive(Debug)]
pub struct Slot {
    caps: Arc<ConnectionCaps>,
    kind: SlotKind,
}

impl Slot {
    /// For a refusing connection: cancelled when a newer one evicts it from the pool.
    pub fn eviction(&self) -> Option<CancellationToken> {
        match &self.kind {
            SlotKind::Refusing { evict, .. } => Some(evict.clone()),
            SlotKind::Served(_) => None,
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.caps.lock();
        match &self.kind {
            SlotKind::Refusing { id, .. } => {
                counts.refusing = counts.refusing.saturating_sub(1);
                counts.pool.retain(|(queued, _)| queued != id);
                self.caps.refusing_closed.notify_one();
            }
            SlotKind::Served(key) => {
                counts.served = counts.served.saturating_sub(1);
                if let Some(key) = key
                    && let Some(n) = counts.by_address.get_mut(key)
                {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        counts.by_address.remove(key);
                    }
                }
            }
        }
        self.caps.open.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn caps(total: usize, per_address: Option<usize>, refusing: usize) -> Arc<ConnectionCaps> {
        ConnectionCaps::new(total, per_address, Vec::new(), refusing, Gauge::default())
    }

    fn served(a: Admission) -> Slot {
        match a {
            Admission::Serve(slot) => slot,
            other => panic!("expected to be served: {other:?}"),
        }
    }

    fn refused(a: Admission) -> Slot {
        match a {
            Admission::Refuse(slot, Cap::Total) => slot,
            other => panic!("expected to be refused over the total cap: {other:?}"),
        }
    }

    #[test]
    fn over_the_total_cap_refuses_and_a_closed_socket_frees_its_slot() {
        let caps = caps(2, None, 1);
        let a = served(caps.admit(ip("192.0.2.1")));
        let _b = served(caps.admit(ip("192.0.2.2")));
        assert_eq!(caps.open.get(), 2);
        let first = refused(caps.admit(ip("192.0.2.3")));
        assert_eq!(caps.open.get(), 3);
        drop(first);
        drop(a);
        assert_eq!(caps.open.get(), 1);
        served(caps.admit(ip("192.0.2.3")));
    }

    #[test]
    fn a_full_refusing_pool_evicts_its_oldest_and_closes_past_twice_its_size() {
        let caps = caps(0, None, 2);
        let first = refused(caps.admit(ip("192.0.2.1")));
        let second = refused(caps.admit(ip("192.0.2.2")));
        let (first_evicted, second_evicted) = (first.eviction().unwrap(), second.eviction().unwrap());
        let third = refused(caps.admit(ip("192.0.2.3")));
        assert!(first_evicted.is_cancelled());
        assert!(!second_evicted.is_cancelled());
        let _fourth = refused(caps.admit(ip("192.0.2.4")));
        assert!(second_evicted.is_cancelled());
        // Four open, two of them evicted but not closed yet: no more.
        assert!(matches!(caps.admit(ip("192.0.2.5")), Admission::Close(Cap::Total)));
        drop(first);
        drop(second);
        let third_evicted = third.eviction().unwrap();
        let _fifth = refused(caps.admit(ip("192.0.2.5")));
        assert!(third_evicted.is_cancelled());
        assert_eq!(caps.open.get(), 3);
    }

    #[test]
    fn the_address_cap_counts_each_address_and_skips_loopback() {
        let caps = caps(100, Some(2), 10);
        let first = served(caps.admit(ip("192.0.2.1")));
        let _second = served(caps.admit(ip("::ffff:192.0.2.1")));
        assert!(matches!(caps.admit(ip("192.0.2.1")), Admission::Refuse(_, Cap::Address)));
        served(caps.admit(ip("192.0.2.2")));
        let _loopback: Vec<Slot> = (0..5).map(|_| served(caps.admit(ip("127.0.0.1")))).collect();
        served(caps.admit(ip("::1")));
        drop(first);
        served(caps.admit(ip("192.0.2.1")));
    }

    #[test]
    fn with_trusted_proxies_they_are_exempt_and_loopback_is_not() {
        let proxies = vec!["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()];
        let caps = ConnectionCaps::new(100, Some(1), proxies, 10, Gauge::default());
        let _proxied: Vec<Slot> = (0..5).map(|_| served(caps.admit(ip("10.1.2.3")))).collect();
        let _v6: Vec<Slot> = (0..5).map(|_| served(caps.admit(ip("::1")))).collect();
        let _local = served(caps.admit(ip("127.0.0.1")));
        assert!(matches!(caps.admit(ip("127.0.0.1")), Admission::Refuse(_, Cap::Address)));
        let _other = served(caps.admit(ip("192.0.2.1")));
        assert!(matches!(caps.admit(ip("192.0.2.1")), Admission::Refuse(_, Cap::Address)));
    }

    #[test]
    fn an_ipv6_peer_is_counted_by_its_64() {
        let caps = caps(100, Some(1), 10);
        let _one = served(caps.admit(ip("2001:db8:1:2::1")));
        assert!(matches!(caps.admit(ip("2001:db8:1:2:ffff::9")), Admission::Refuse(_, Cap::Address)));
        served(caps.admit(ip("2001:db8:1:3::1")));
    }

    #[test]
    fn slots_given_back_leave_no_address_behind() {
        let caps = caps(9, Some(3), 1);
        let slots: Vec<Slot> = (1..=9).map(|i| served(caps.admit(ip(&format!("192.0.2.{i}"))))).collect();
        let refusing = refused(caps.admit(ip("192.0.2.1")));
        drop(slots);
        drop(refusing);
        let counts = caps.lock();
        assert!(counts.by_address.is_empty() && counts.pool.is_empty(), "{counts:?}");
        assert_eq!((counts.served, counts.refusing), (0, 0));
        drop(counts);
        assert_eq!(caps.open.get(), 0);
    }
}
