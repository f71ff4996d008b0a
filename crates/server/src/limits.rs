//! Rate limits: per signed-in account; for password guessing per (user id, client address) and,
//! more slowly, per user id from anywhere; per client address for the unauthenticated routes
//! that create work (registering, signing in, refreshing); and for one-time key claims per
//! claimer and per target device.
//!
//! Limits that count attempts on a password never stand in the way of a device that is already
//! signed in: it rechecks the password (to change it, remove a device, reset keys) under its own
//! per-device budget, so an attacker guessing the owner's password from elsewhere cannot lock the
//! owner's devices out. The client address is the TCP peer, or, when the peer is a configured
//! trusted proxy, what the proxy says ([`crate::extract::ClientAddr`]).
//!
//! With several nodes on one PostgreSQL database the limits that bound an attacker — password
//! attempts, rechecks, accounts and sign-ins per address, one-time key claims — are counted in
//! the database ([`LimitStore`]), so N nodes allow what one node allows, however a proxy spreads
//! the requests. Each check is one transaction that locks its buckets' rows (GCRA: a bucket is
//! the time it is full again), on the database's clock. The limits that protect a node's own
//! CPU — requests per account, refreshes per address — stay in each node's memory: behind N
//! nodes a client may make N times as many, which the N nodes have the capacity for. On SQLite
//! (one node) every limit is in memory.
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::http::StatusCode;
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, NotUntil, Quota};
use sha2::{Digest as _, Sha256};
use sotto_proto::{DeviceAddress, ErrorCode, UserId};

use crate::error::{AppError, AppResult};
use crate::store::StoreResult;

/// Requests per second and burst for each signed-in account; `None` turns the limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub per_second: NonZeroU32,
    pub burst: NonZeroU32,
}

/// Password attempts at one user id from one client address: 10, then one every 6 s.
const LOGIN_PER_ADDRESS: (u32, u32) = (10, 10);
/// Password attempts at one user id from every address together: 100, then 2 a minute. It
/// bounds a guesser with many addresses; the owner's signed-in devices are never under it.
const LOGIN_PER_USER: (u32, u32) = (100, 2);
/// Password rechecks by one signed-in device: 10, then one every 6 s.
const RECHECK_PER_DEVICE: (u32, u32) = (10, 10);
/// Accounts created and sign-ins per client address: 30, then one a second.
const SIGN_IN_PER_ADDRESS: (u32, u32) = (30, 60);
/// Refreshes per client address: 120, then 10 a second (many devices may share a NAT).
const REFRESH_PER_ADDRESS: (u32, u32) = (120, 600);
/// One-time keys one account may claim: 2,000 (a large group's devices at once), then 10 a
/// second. Past it, claims are answered with fallback keys.
const CLAIMS_BY_USER: (u32, u32) = (2_000, 600);
/// One-time keys claimed from one device by everyone: 20, then one every 6 s. Past it, claims
/// get the device's fallback key: draining a device's one-time keys is not possible.
const CLAIMS_OF_DEVICE: (u32, u32) = (20, 10);

/// Buckets in a database several nodes share: each check locks its buckets' rows for one
/// transaction, so two nodes counting the same bucket count one after the other.
#[async_trait]
pub trait LimitStore: Send + Sync {
    /// In one transaction: locks `buckets` (distinct), calls `decide` with the database's time
    /// (ms since the epoch) and, for each bucket in order, when it is full again (0 for one never
    /// used), and stores the times `decide` leaves.
    async fn update_buckets(
        &self,
        buckets: &[Bucket],
        decide: &mut (dyn for<'a> FnMut(u64, &'a mut [u64]) + Send),
    ) -> StoreResult<()>;

    /// Deletes the buckets that are full again (a row that says so is the same as none).
    async fn forget_full_buckets(&self) -> StoreResult<u64>;
}

/// A bucket's key in the database: the SHA-256 of the limit's name and what it counts, so the
/// table holds no user id or address in the clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bucket(pub [u8; 32]);

impl Bucket {
    fn new(limit: &str, parts: &[&[u8]]) -> Bucket {
        let mut hash = Sha256::new();
        hash.update(b"sotto rate limit\0");
        hash.update(limit.as_bytes());
        for part in parts {
            // Length-prefixed: ("ab", "c") and ("a", "bc") are different buckets.
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part);
        }
        Bucket(hash.finalize().into())
    }

    fn user(limit: &str, user: &UserId) -> Bucket {
        Bucket::new(limit, &[user.as_str().as_bytes()])
    }

    fn address(limit: &str, client: IpAddr) -> Bucket {
        // An IPv4 address and its IPv6-mapped form are one client.
        Bucket::new(limit, &[client.to_canonical().to_string().as_bytes()])
    }

    fn device(limit: &str, device: &DeviceAddress) -> Bucket {
        Bucket::new(limit, &[device.user_id.as_str().as_bytes(), device.device_id.as_str().as_bytes()])
    }
}

/// A generic cell rate: `burst` at once, then one every `interval_ms` (the quota's `(burst, per
/// minute)`). A bucket is the time it is full again; taking a cell moves it one interval on,
/// allowed while that stays within `burst` intervals of now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Gcra {
    interval_ms: u64,
    tolerance_ms: u64,
}

impl Gcra {
    fn of((burst, per_minute): (u32, u32)) -> Gcra {
        let interval_ms = (60_000 / u64::from(per_minute.max(1))).max(1);
        Gcra { interval_ms, tolerance_ms: interval_ms * u64::from(burst.max(1)) }
    }

    /// Takes one cell from the bucket `full_ms` at `now_ms`, or says how long until one is free.
    fn take(self, now_ms: u64, full_ms: &mut u64) -> Result<(), Duration> {
        let next = (*full_ms).max(now_ms) + self.interval_ms;
        if next - now_ms > self.tolerance_ms {
            return Err(Duration::from_millis(next - self.tolerance_ms - now_ms));
        }
        *full_ms = next;
        Ok(())
    }

    /// Whether a cell is free, without taking it.
    fn has_cell(self, now_ms: u64, full_ms: u64) -> bool {
        full_ms.max(now_ms) + self.interval_ms - now_ms <= self.tolerance_ms
    }
}

#[derive(Clone)]
pub struct RateLimits {
    limiters: Option<Arc<Limiters>>,
    /// Where the limits against attackers are counted when several nodes share a database.
    shared: Option<Arc<dyn LimitStore>>,
    /// Whether loopback peers skip the per-address limits: only when no trusted proxy is
    /// configured (a proxy on the same host would carry every client on a loopback address).
    loopback_exempt: bool,
}

struct Limiters {
    account: DefaultKeyedRateLimiter<UserId>,
    login: DefaultKeyedRateLimiter<(UserId, IpAddr)>,
    login_user: DefaultKeyedRateLimiter<UserId>,
    recheck: DefaultKeyedRateLimiter<DeviceAddress>,
    address: DefaultKeyedRateLimiter<IpAddr>,
    refresh: DefaultKeyedRateLimiter<IpAddr>,
    claims_by: DefaultKeyedRateLimiter<UserId>,
    claims_of: DefaultKeyedRateLimiter<DeviceAddress>,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits")
            .field("enabled", &self.limiters.is_some())
            .field("shared", &self.shared.is_some())
            .field("loopback_exempt", &self.loopback_exempt)
            .finish()
    }
}

/// `(burst, per minute)` as a keyed limiter.
fn keyed<K: std::hash::Hash + Eq + Clone>((burst, per_minute): (u32, u32)) -> DefaultKeyedRateLimiter<K> {
    DefaultKeyedRateLimiter::keyed(Quota::per_minute(nz(per_minute)).allow_burst(nz(burst)))
}

fn limited(after: Duration) -> AppError {
    AppError::retry_later(
        StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::RateLimited,
        "Too many requests; slow down and try again shortly.",
        after.max(Duration::from_secs(1)),
    )
}

impl RateLimits {
    /// `limit` is the per-account request limit; `None` turns every limit off (load tests).
    /// `behind_proxy`: a trusted proxy is configured, so loopback peers are not exempt.
    pub fn new(limit: Option<RateLimit>, behind_proxy: bool) -> Self {
        let limiters = limit.map(|limit| {
            Arc::new(Limiters {
                account: DefaultKeyedRateLimiter::keyed(Quota::per_second(limit.per_second).allow_burst(limit.burst)),
                login: keyed(LOGIN_PER_ADDRESS),
                login_user: keyed(LOGIN_PER_USER),
                recheck: keyed(RECHECK_PER_DEVICE),
                address: keyed(SIGN_IN_PER_ADDRESS),
                refresh: keyed(REFRESH_PER_ADDRESS),
                claims_by: keyed(CLAIMS_BY_USER),
                claims_of: keyed(CLAIMS_OF_DEVICE),
            })
        });
        RateLimits { limiters, shared: None, loopback_exempt: !behind_proxy }
    }

    /// Counts the limits against attackers in `store`, which every node shares (when limits are
    /// on at all).
    pub fn shared_in(mut self, store: Arc<dyn LimitStore>) -> Self {
        if self.limiters.is_some() {
            self.shared = Some(store);
        }
        self
    }

    pub fn check_account(&self, user: &UserId) -> AppResult<()> {
        self.check(|l| l.account.check_key(user))
    }

    /// A password attempt at `user` from `client` (sign-in): limited per (user, address) and,
    /// more slowly, per user from anywhere.
    pub async fn check_login(&self, user: &UserId, client: IpAddr) -> AppResult<()> {
        if let Some(shared) = &self.shared {
            let per_address =
                Bucket::new("login", &[user.as_str().as_bytes(), client.to_canonical().to_string().as_bytes()]);
            return take_shared(
                shared.as_ref(),
                &[
                    (per_address, Gcra::of(LOGIN_PER_ADDRESS)),
                    (Bucket::user("login-user", user), Gcra::of(LOGIN_PER_USER)),
                ],
            )
            .await;
        }
        self.check(|l| l.login.check_key(&(user.clone(), client)))?;
        self.check(|l| l.login_user.check_key(user))
    }

    /// A signed-in device checking its account's password again.
    pub async fn check_recheck(&self, device: &DeviceAddress) -> AppResult<()> {
        if let Some(shared) = &self.shared {
            return take_shared(shared.as_ref(), &[(Bucket::device("recheck", device), Gcra::of(RECHECK_PER_DEVICE))])
                .await;
        }
        self.check(|l| l.recheck.check_key(device))
    }

    /// Account creation and sign-ins per client address.
    pub async fn check_address(&self, client: IpAddr) -> AppResult<()> {
        if self.exempt(client) {
            return Ok(());
        }
        if let Some(shared) = &self.shared {
            return take_shared(
                shared.as_ref(),
                &[(Bucket::address("address", client), Gcra::of(SIGN_IN_PER_ADDRESS))],
            )
            .await;
        }
        self.check(|l| l.address.check_key(&client))
    }

    /// Refreshes per client address (checked before the token is spent, so a refusal never
    /// costs the device its session).
    pub fn check_refresh(&self, client: IpAddr) -> AppResult<()> {
        if self.exempt(client) {
            return Ok(());
        }
        self.check(|l| l.refresh.check_key(&client))
    }

    /// Which of `targets` (distinct) `claimer` may take a one-time key of now: the others are
    /// answered with their fallback key. A target past its own limit costs the claimer nothing.
    pub async fn one_time_key_claims(&self, claimer: &UserId, targets: &[DeviceAddress]) -> AppResult<Vec<bool>> {
        let Some(limiters) = &self.limiters else { return Ok(vec![true; targets.len()]) };
        let Some(shared) = &self.shared else {
            return Ok(targets
                .iter()
                .map(|target| {
                    limiters.claims_by.check_key(claimer).is_ok() && limiters.claims_of.check_key(target).is_ok()
                })
                .collect());
        };
        let (by, of) = (Gcra::of(CLAIMS_BY_USER), Gcra::of(CLAIMS_OF_DEVICE));
        let mut buckets = Vec::with_capacity(targets.len() + 1);
        buckets.push(Bucket::user("claims-by", claimer));
        buckets.extend(targets.iter().map(|t| Bucket::device("claims-of", t)));
        let mut allowed = vec![false; targets.len()];
        shared
            .update_buckets(&buckets, &mut |now, full| {
                let Some((claimer, of_targets)) = full.split_first_mut() else { return };
                for (target, allowed) in of_targets.iter_mut().zip(allowed.iter_mut()) {
                    *allowed =
                        of.has_cell(now, *target) && by.take(now, claimer).is_ok() && of.take(now, target).is_ok();
                }
            })
            .await?;
        Ok(allowed)
    }

    fn exempt(&self, client: IpAddr) -> bool {
        self.loopback_exempt && client.is_loopback()
    }

    fn check(
        &self,
        check: impl FnOnce(&Limiters) -> Result<(), NotUntil<governor::clock::QuantaInstant>>,
    ) -> AppResult<()> {
        let Some(limiters) = &self.limiters else { return Ok(()) };
        check(limiters).map_err(|not_until| limited(not_until.wait_time_from(DefaultClock::default().now())))
    }

    /// Forgets idle keys so the limiters' memory does not grow with every account ever seen.
    pub fn shrink(&self) {
        if let Some(l) = &self.limiters {
            l.account.retain_recent();
            l.login.retain_recent();
            l.login_user.retain_recent();
            l.recheck.retain_recent();
            l.address.retain_recent();
            l.refresh.retain_recent();
            l.claims_by.retain_recent();
            l.claims_of.retain_recent();
        }
    }

    /// The shared buckets that are full again, deleted (one node does it: the housekeeping
    /// leader).
    pub async fn forget_full_buckets(&self) -> StoreResult<u64> {
        match &self.shared {
            Some(shared) => shared.forget_full_buckets().await,
            None => Ok(0),
        }
    }
}

/// Takes a cell from each bucket, in one transaction; refused (with the longest wait) if any
/// bucket has none. Like the in-memory checks, a bucket before the refusing one keeps its cell
/// taken: guessing costs the guesser, whichever limit stops it.
async fn take_shared(store: &dyn LimitStore, limits: &[(Bucket, Gcra)]) -> AppResult<()> {
    let buckets: Vec<Bucket> = limits.iter().map(|(b, _)| *b).collect();
    let mut refused = None;
    store
        .update_buckets(&buckets, &mut |now, full| {
            for ((_, gcra), full) in limits.iter().zip(full.iter_mut()) {
                if let Err(wait) = gcra.take(now, full) {
                    refused = Some(wait);
                    return;
                }
            }
        })
        .await?;
    match refused {
        Some(wait) => Err(limited(wait)),
        None => Ok(()),
    }
}

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_gives_its_burst_then_one_cell_per_interval() {
        // 10 at once, then 10 a minute: one every 6 s.
        let gcra = Gcra::of((10, 10));
        let mut full = 0;
        let now = 1_000_000;
        for _ in 0..10 {
            gcra.take(now, &mut full).unwrap();
        }
        assert_eq!(gcra.take(now, &mut full), Err(Duration::from_secs(6)));
        assert!(!gcra.has_cell(now + 5_999, full));
        // A refusal takes nothing: the next cell is free 6 s on, and only one.
        gcra.take(now + 6_000, &mut full).unwrap();
        assert!(gcra.take(now + 6_000, &mut full).is_err());
        // Idle for a minute: the whole burst again, never more.
        let later = now + 6_000 + 60_000;
        for _ in 0..10 {
            gcra.take(later, &mut full).unwrap();
        }
        assert!(gcra.take(later, &mut full).is_err());
    }

    #[test]
    fn buckets_differ_by_limit_and_key_and_keep_no_key_in_the_clear() {
        let alice = UserId::try_from("alice".to_owned()).unwrap();
        let bob = UserId::try_from("bob".to_owned()).unwrap();
        assert_ne!(Bucket::user("login-user", &alice), Bucket::user("login-user", &bob));
        assert_ne!(Bucket::user("login-user", &alice), Bucket::user("claims-by", &alice));
        assert_ne!(Bucket::new("x", &[b"ab", b"c"]), Bucket::new("x", &[b"a", b"bc"]));
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(Bucket::address("address", v4), Bucket::address("address", mapped));
        assert!(!Bucket::user("login-user", &alice).0.windows(5).any(|w| w == b"alice"));
    }
}
