//! Per-account rate limits (and per-address limits for the unauthenticated routes that create
//! work: registering and signing in).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::http::StatusCode;
use governor::{DefaultKeyedRateLimiter, Quota};
use sotto_proto::{ErrorCode, UserId};

use crate::error::{AppError, AppResult};

/// Requests per second and burst for each signed-in account; `None` turns the limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub per_second: NonZeroU32,
    pub burst: NonZeroU32,
}

#[derive(Clone)]
pub struct RateLimits {
    account: Option<Arc<DefaultKeyedRateLimiter<UserId>>>,
    login: Option<Arc<DefaultKeyedRateLimiter<UserId>>>,
    address: Option<Arc<DefaultKeyedRateLimiter<IpAddr>>>,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits").field("enabled", &self.account.is_some()).finish()
    }
}

impl RateLimits {
    pub fn new(limit: Option<RateLimit>) -> Self {
        let Some(limit) = limit else {
            return RateLimits { account: None, login: None, address: None };
        };
        let account = Quota::per_second(limit.per_second).allow_burst(limit.burst);
        // Password guessing: 10 attempts per user id, then one every 6 seconds.
        let login = Quota::per_minute(nz(10)).allow_burst(nz(10));
        // Account creation and sign-ins per client address.
        let address = Quota::per_minute(nz(60)).allow_burst(nz(30));
        RateLimits {
            account: Some(Arc::new(DefaultKeyedRateLimiter::keyed(account))),
            login: Some(Arc::new(DefaultKeyedRateLimiter::keyed(login))),
            address: Some(Arc::new(DefaultKeyedRateLimiter::keyed(address))),
        }
    }

    pub fn check_account(&self, user: &UserId) -> AppResult<()> {
        check(self.account.as_deref(), user)
    }

    pub fn check_login(&self, user: &UserId) -> AppResult<()> {
        check(self.login.as_deref(), user)
    }

    /// Limits account creation and sign-ins per client address. Loopback peers are exempt: they
    /// are local tools, or a reverse proxy on the same machine through which every client would
    /// share one address (per-user sign-in limits still apply to them).
    pub fn check_address(&self, ip: IpAddr) -> AppResult<()> {
        if ip.is_loopback() {
            return Ok(());
        }
        check(self.address.as_deref(), &ip)
    }

    /// Forgets idle keys so the limiter's memory does not grow with every account ever seen.
    pub fn shrink(&self) {
        if let Some(l) = &self.account {
            l.retain_recent();
        }
        if let Some(l) = &self.login {
            l.retain_recent();
        }
        if let Some(l) = &self.address {
            l.retain_recent();
        }
    }
}

fn check<K: std::hash::Hash + Eq + Clone>(limiter: Option<&DefaultKeyedRateLimiter<K>>, key: &K) -> AppResult<()> {
    match limiter {
        Some(l) if l.check_key(key).is_err() => Err(AppError::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::RateLimited,
            "Too many requests; slow down and try again shortly.",
        )),
        _ => Ok(()),
    }
}

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}
