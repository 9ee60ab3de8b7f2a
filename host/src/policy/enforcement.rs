//! Enforcing a procedure's [`Policy`] on HTTP calls: a response cache (moka, with the
//! procedure's TTL) and a rate limiter (governor). Both live in the deployment, so a
//! redeploy starts with an empty cache and a fresh limit.

use std::time::Duration;

use bytes::Bytes;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota};
use serde_json::Value;

use super::{Policy, RateLimit};

/// Bytes of cached answers one procedure may hold; the least used go first past it.
pub(crate) const MAX_CACHE_BYTES_PER_PROCEDURE: u64 = 32 << 20;

/// A cache of successful answers, keyed by the canonical JSON of the arguments.
pub struct ResponseCache {
    ttl: Duration,
    answers: moka::sync::Cache<String, Bytes>,
}

impl ResponseCache {
    pub fn new(ttl: Duration) -> ResponseCache {
        ResponseCache {
            ttl,
            answers: moka::sync::Cache::builder()
                .time_to_live(ttl)
                .max_capacity(MAX_CACHE_BYTES_PER_PROCEDURE)
                .weigher(|key: &String, body: &Bytes| {
                    u32::try_from(key.len() + body.len()).unwrap_or(u32::MAX)
                })
                .build(),
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The key of a call's arguments: compute it once, then [`Self::get`] and [`Self::put`].
    pub fn key(&self, args: &Value) -> String {
        cache_key(args)
    }

    pub fn get(&self, key: &str) -> Option<Bytes> {
        self.answers.get(key)
    }

    pub fn put(&self, key: String, body: Bytes) {
        self.answers.insert(key, body);
    }
}

/// The same arguments give the same key whatever the order of object members.
fn cache_key(args: &Value) -> String {
    fn canonical(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                Value::Object(
                    entries
                        .into_iter()
                        .map(|(k, v)| (k.clone(), canonical(v)))
                        .collect(),
                )
            }
            Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
            other => other.clone(),
        }
    }
    canonical(args).to_string()
}

/// A limit on calls per period, shared by every caller of the procedure on this host.
pub struct RateLimiter {
    limit: RateLimit,
    limiter: DefaultDirectRateLimiter,
}

impl RateLimiter {
    pub fn new(limit: RateLimit) -> RateLimiter {
        // `requests` per `per`, all of which may come at once (a burst of `requests`).
        let period = limit.per / limit.requests.get();
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(limit.requests))
            .allow_burst(limit.requests);
        RateLimiter {
            limit,
            limiter: DefaultDirectRateLimiter::direct(quota),
        }
    }

    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    /// Take one call; `Err(wait)` when over the limit, with how long until one is free.
    pub fn check(&self) -> Result<(), Duration> {
        self.limiter
            .check()
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

/// A procedure's policy and the state enforcing it.
pub struct Enforcement {
    pub policy: Policy,
    pub cache: Option<ResponseCache>,
    pub rate_limiter: Option<RateLimiter>,
}

impl Enforcement {
    pub fn new(policy: Policy) -> Enforcement {
        Enforcement {
            cache: policy.cache_ttl.map(ResponseCache::new),
            rate_limiter: policy.rate_limit.map(RateLimiter::new),
            policy,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use serde_json::json;

    use super::*;

    #[test]
    fn cache_keys_ignore_member_order() {
        assert_eq!(
            cache_key(&json!({"a": 1, "b": {"y": 2, "x": [1, {"q": 1, "p": 2}]}})),
            cache_key(&json!({"b": {"x": [1, {"p": 2, "q": 1}], "y": 2}, "a": 1}))
        );
        assert_ne!(cache_key(&json!({"a": 1})), cache_key(&json!({"a": 2})));
    }

    #[test]
    fn the_rate_limiter_allows_a_burst_then_says_how_long_to_wait() {
        let limiter = RateLimiter::new(RateLimit {
            requests: NonZeroU32::new(3).expect("non-zero"),
            per: Duration::from_secs(60),
        });
        for _ in 0..3 {
            assert!(limiter.check().is_ok());
        }
        let wait = limiter
            .check()
            .expect_err("the fourth call is over the limit");
        assert!(
            wait > Duration::from_secs(10) && wait <= Duration::from_secs(20),
            "one call frees up every 20 s: {wait:?}"
        );
    }
}
