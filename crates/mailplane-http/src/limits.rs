//! Per-principal rate limits: a token bucket for each authenticated caller.
//!
//! A principal is its organisation and subject, as the verified token names them, so one
//! noisy partner integration cannot starve the provider's own tools or another partner.
//! Each replica keeps its own buckets: behind a load balancer spreading requests over N
//! replicas, a principal gets up to N times the rate. A refused request answers 429 with
//! `Retry-After`, and nothing is done.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use mailplane::Actor;
use mailplane::types::Error;

/// How many requests a principal may send: a sustained rate and a burst.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Requests per second, sustained.
    pub per_second: f64,
    /// Requests that may arrive at once after a quiet spell.
    pub burst: u32,
}

impl RateLimit {
    /// The default of `mailplane serve`: 100 requests a second, bursts of 200.
    pub const DEFAULT: RateLimit = RateLimit {
        per_second: 100.0,
        burst: 200,
    };
}

/// Above this many buckets, full ones are forgotten (a full bucket is the state of a
/// principal never seen), so memory stays bounded by the principals active lately.
const PRUNE_ABOVE: usize = 10_000;

struct Bucket {
    tokens: f64,
    refreshed: Instant,
}

/// The buckets of one process.
pub struct RateLimiter {
    limit: RateLimit,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// A limiter applying `limit` to every principal.
    pub fn new(limit: RateLimit) -> RateLimiter {
        RateLimiter {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request from the actor's bucket, or says when to retry.
    pub fn admit(&self, actor: &Actor) -> Result<(), Error> {
        self.admit_at(
            &format!("{}|{}", actor.org(), actor.subject()),
            Instant::now(),
        )
    }

    fn admit_at(&self, principal: &str, now: Instant) -> Result<(), Error> {
        let burst = f64::from(self.limit.burst.max(1));
        let rate = self.limit.per_second;
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() > PRUNE_ABOVE {
            buckets.retain(|_, b| {
                b.tokens + now.duration_since(b.refreshed).as_secs_f64() * rate < burst
            });
        }
        let bucket = buckets.entry(principal.to_string()).or_insert(Bucket {
            tokens: burst,
            refreshed: now,
        });
        let elapsed = now.duration_since(bucket.refreshed).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.refreshed = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / rate;
            Err(Error::TooManyRequests {
                retry_after: wait.ceil().max(1.0) as u64,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_burst_is_admitted_then_refused_with_a_retry_time_then_admitted_again() {
        let limiter = RateLimiter::new(RateLimit {
            per_second: 2.0,
            burst: 3,
        });
        let start = Instant::now();
        for _ in 0..3 {
            limiter.admit_at("p", start).expect("within the burst");
        }
        match limiter.admit_at("p", start) {
            Err(Error::TooManyRequests { retry_after }) => assert_eq!(retry_after, 1),
            other => panic!("expected 429, got {other:?}"),
        }
        // Another principal has its own bucket.
        limiter.admit_at("q", start).expect("another principal");
        // Half a second refills one token at 2 per second.
        limiter
            .admit_at("p", start + Duration::from_millis(500))
            .expect("refilled");
        assert!(
            limiter
                .admit_at("p", start + Duration::from_millis(500))
                .is_err()
        );
    }

    #[test]
    fn a_slow_rate_asks_for_a_longer_wait() {
        let limiter = RateLimiter::new(RateLimit {
            per_second: 0.1,
            burst: 1,
        });
        let start = Instant::now();
        limiter.admit_at("p", start).expect("the burst");
        match limiter.admit_at("p", start) {
            Err(Error::TooManyRequests { retry_after }) => assert_eq!(retry_after, 10),
            other => panic!("expected 429, got {other:?}"),
        }
    }
}
