//! Request rate limits per caller: one user's or one integration's burst
//! cannot slow the API for the others. The admin token and each user have
//! a bucket of their own (GCRA, the `governor` crate): a steady rate, and
//! bursts of twice as many requests. A caller over its rate is answered 429
//! `rate_limited` with `Retry-After`, before its request costs the store
//! anything. The console's pages are not counted: a person clicking cannot
//! flood the API, and its own polling is slow.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::auth::Caller;

/// Requests per second allowed to each user token and to the admin token;
/// `None`: not limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Each user's requests per second.
    pub users: Option<NonZeroU32>,
    /// The admin token's requests per second (integrations use it).
    pub admin: Option<NonZeroU32>,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            users: NonZeroU32::new(50),
            // Only the admin token starts runs: integrations that start
            // thousands a second use it, and are limited only if asked.
            admin: None,
        }
    }
}

/// The buckets.
pub struct RateLimits {
    users: Option<DefaultKeyedRateLimiter<String>>,
    admin: Option<DefaultDirectRateLimiter>,
}

/// A steady `rate` per second, with bursts of twice as many.
fn quota(rate: NonZeroU32) -> Quota {
    Quota::per_second(rate).allow_burst(rate.saturating_mul(NonZeroU32::MIN.saturating_add(1)))
}

impl RateLimits {
    /// Buckets for `limit`.
    pub fn new(limit: RateLimit) -> Self {
        Self {
            users: limit.users.map(|rate| RateLimiter::keyed(quota(rate))),
            admin: limit.admin.map(|rate| RateLimiter::direct(quota(rate))),
        }
    }

    /// How long `caller` must wait before its next request is taken, if it
    /// must; otherwise the request is counted.
    pub fn check(&self, caller: &Caller) -> Option<Duration> {
        let refused = match caller {
            Caller::Admin => self.admin.as_ref()?.check().err(),
            Caller::User(user) => self.users.as_ref()?.check_key(user).err(),
        }?;
        Some(refused.wait_time_from(DefaultClock::default().now()))
    }

    /// Forgets the buckets of users idle long enough to be full again, so
    /// that the table stays as small as the set of recent callers.
    pub fn forget_idle(&self) {
        if let Some(users) = &self.users {
            users.retain_recent();
            users.shrink_to_fit();
        }
    }
}
