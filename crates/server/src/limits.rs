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

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, NotUntil, Quota};
use sotto_proto::{DeviceAddress, ErrorCode, UserId};

use crate::error::{AppError, AppResult};

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

#[derive(Clone)]
pub struct RateLimits {
    limiters: Option<Arc<Limiters>>,
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
            .field("loopback_exempt", &self.loopback_exempt)
            .finish()
    }
}

/// `(burst, per minute)` as a keyed limiter.
fn keyed<K: std::hash::Hash + Eq + Clone>((burst, per_minute): (u32, u32)) -> DefaultKeyedRateLimiter<K> {
    DefaultKeyedRateLimiter::keyed(Quota::per_minute(nz(per_minute)).allow_burst(nz(burst)))
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
        RateLimits { limiters, loopback_exempt: !behind_proxy }
    }

    pub fn check_account(&self, user: &UserId) -> AppResult<()> {
        self.check(|l| l.account.check_key(user))
    }

    /// A password attempt at `user` from `client` (sign-in): limited per (user, address) and,
    /// more slowly, per user from anywhere.
    pub fn check_login(&self, user: &UserId, client: IpAddr) -> AppResult<()> {
        self.check(|l| l.login.check_key(&(user.clone(), client)))?;
        self.check(|l| l.login_user.check_key(user))
    }

    /// A signed-in device checking its account's password again.
    pub fn check_recheck(&self, device: &DeviceAddress) -> AppResult<()> {
        self.check(|l| l.recheck.check_key(device))
    }

    /// Account creation and sign-ins per client address.
    pub fn check_address(&self, client: IpAddr) -> AppResult<()> {
        if self.exempt(client) {
            return Ok(());
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

    /// Whether `claimer` may take a one-time key of `target` now; when not, the claim is
    /// answered with the target's fallback key.
    pub fn may_claim_one_time_key(&self, claimer: &UserId, target: &DeviceAddress) -> bool {
        let Some(l) = &self.limiters else { return true };
        l.claims_by.check_key(claimer).is_ok() && l.claims_of.check_key(target).is_ok()
    }

    fn exempt(&self, client: IpAddr) -> bool {
        self.loopback_exempt && client.is_loopback()
    }

    fn check(
        &self,
        check: impl FnOnce(&Limiters) -> Result<(), NotUntil<governor::clock::QuantaInstant>>,
    ) -> AppResult<()> {
        let Some(limiters) = &self.limiters else { return Ok(()) };
        check(limiters).map_err(|not_until| {
            AppError::retry_later(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::RateLimited,
                "Too many requests; slow down and try again shortly.",
                not_until.wait_time_from(DefaultClock::default().now()).max(Duration::from_secs(1)),
            )
        })
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
}

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}
