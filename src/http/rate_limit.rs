//! Request rate limits: per API token, and per client IP for requests without
//! a valid token. GCRA (governor) with a burst of the whole quota, so a client
//! may spend its minute's quota at once and then gets one request back every
//! `60 s / quota`.
//!
//! Every limited response carries the IETF httpapi rate-limit header fields
//! (draft-ietf-httpapi-ratelimit-headers): `RateLimit-Policy: "token";q=600;w=60`
//! and `RateLimit: "token";r=599;t=1`, where `r` is what remains and `t` the
//! seconds until the full quota is back. Over the limit: 429 with
//! `Retry-After` (RFC 9110 §10.2.3).

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponseParts, ResponseParts};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use super::error::whole_seconds;
use crate::service::Error;

type Keyed<K> = RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock, StateInformationMiddleware>;

/// Both limiters; `None` when limits are off (`--rate-limit-per-minute 0`).
pub struct RateLimits(Option<Limiters>);

struct Limiters {
    per_minute: NonZeroU32,
    tokens: Keyed<i32>,
    addresses: Keyed<IpAddr>,
    clock: DefaultClock,
}

/// Whose quota a request spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Token(i32),
    Address(IpAddr),
}

/// Where a request stands against its quota: becomes the `RateLimit-Policy`
/// and `RateLimit` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    policy: &'static str,
    quota: u32,
    remaining: u32,
    /// Whole seconds until the quota is full again.
    reset: u64,
}

impl RateLimits {
    /// `per_minute` requests per minute for each token and each address; 0: off.
    pub fn new(per_minute: u32) -> Self {
        Self(NonZeroU32::new(per_minute).map(|per_minute| {
            let quota = Quota::per_minute(per_minute);
            Limiters {
                per_minute,
                tokens: RateLimiter::keyed(quota).with_middleware(),
                addresses: RateLimiter::keyed(quota).with_middleware(),
                clock: DefaultClock::default(),
            }
        }))
    }

    /// Spends one request of `key`'s quota: its standing, or RATE_LIMITED
    /// (with the standing, for the headers of the 429).
    pub fn check(&self, key: Key) -> Result<Option<Standing>, (Error, Option<Standing>)> {
        let Some(limiters) = &self.0 else {
            return Ok(None);
        };
        let (policy, outcome) = match key {
            Key::Token(id) => ("token", limiters.tokens.check_key(&id)),
            Key::Address(ip) => ("address", limiters.addresses.check_key(&ip)),
        };
        let quota = limiters.per_minute.get();
        let interval = Quota::per_minute(limiters.per_minute).replenish_interval();
        match outcome {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let reset = whole_seconds(interval * (quota - remaining));
                Ok(Some(Standing {
                    policy,
                    quota,
                    remaining,
                    reset,
                }))
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(limiters.clock.now());
                let standing = Standing {
                    policy,
                    quota,
                    remaining: 0,
                    reset: whole_seconds(interval * quota),
                };
                let err = Error::RateLimited {
                    message: format!(
                        "more than {quota} requests per minute from this {policy}; try again in {} s",
                        whole_seconds(wait)
                    ),
                    retry_after: wait.max(Duration::from_millis(1)),
                };
                Err((err, Some(standing)))
            }
        }
    }

    /// Forgets keys whose quota is full again, so a flood from many addresses
    /// does not grow the limiter without bound.
    pub fn prune(&self) {
        if let Some(limiters) = &self.0 {
            prune(&limiters.tokens);
            prune(&limiters.addresses);
        }
    }
}

fn prune<K: Hash + Eq + Clone>(limiter: &Keyed<K>) {
    limiter.retain_recent();
    limiter.shrink_to_fit();
}

impl IntoResponseParts for Standing {
    type Error = std::convert::Infallible;

    fn into_response_parts(self, mut parts: ResponseParts) -> Result<ResponseParts, Self::Error> {
        let policy = format!("\"{}\";q={};w=60", self.policy, self.quota);
        let now = format!("\"{}\";r={};t={}", self.policy, self.remaining, self.reset);
        let headers = parts.headers_mut();
        for (name, value) in [("ratelimit-policy", policy), ("ratelimit", now)] {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(HeaderName::from_static(name), value);
            }
        }
        Ok(parts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spends_the_quota_then_refuses_with_a_wait() {
        let limits = RateLimits::new(3);
        let key = Key::Token(7);
        let remaining: Vec<u32> = (0..3)
            .map(|_| limits.check(key).unwrap().unwrap().remaining)
            .collect();
        assert_eq!(remaining, [2, 1, 0]);
        let (err, standing) = limits.check(key).unwrap_err();
        let Error::RateLimited { retry_after, .. } = err else {
            panic!("not RATE_LIMITED: {err:?}");
        };
        assert!(retry_after <= Duration::from_secs(20), "{retry_after:?}");
        assert_eq!(standing.unwrap().remaining, 0);
        assert!(
            limits.check(Key::Token(8)).is_ok(),
            "another token has its own quota"
        );
    }

    #[test]
    fn zero_turns_limits_off() {
        let limits = RateLimits::new(0);
        for _ in 0..1000 {
            assert_eq!(limits.check(Key::Token(1)).unwrap(), None);
        }
    }
}
