//! A token bucket per key (a peer id), for a bounded number of keys: how the node limits
//! inbound exchange requests (proto-spec/exchange.md#rate-limits) and the relay limits
//! rendezvous and board requests. Pure bookkeeping over the `Instant` the caller passes, so it
//! is tested without sleeping.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use meishi_limits::RateLimiter;
//!
//! // Two requests at once, then one more every second; at most 100 peers tracked.
//! let mut limit = RateLimiter::new(2, Duration::from_secs(1), 100);
//! let t0 = Instant::now();
//! assert!(limit.allow(&"peer", t0));
//! assert!(limit.allow(&"peer", t0));
//! assert!(!limit.allow(&"peer", t0));
//! assert!(limit.allow(&"peer", t0 + Duration::from_secs(1)));
//! ```

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// `burst` requests at once, then one more per `refill`, per key, for at most `max_keys` keys.
#[derive(Debug)]
pub struct RateLimiter<K> {
    burst: u32,
    refill: Duration,
    max_keys: usize,
    buckets: HashMap<K, Bucket>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Whole tokens left.
    tokens: u32,
    /// When `tokens` was last brought up to date: time since then counts towards the next token.
    last: Instant,
}

impl Bucket {
    /// The bucket at `now`: one token more per whole `refill` since `last`, never over `burst`.
    /// A zero `refill` means no limit: the bucket is always full.
    fn at(self, now: Instant, burst: u32, refill: Duration) -> Bucket {
        if refill.is_zero() {
            return Bucket {
                tokens: burst,
                last: now,
            };
        }
        let gained = now.saturating_duration_since(self.last).as_nanos() / refill.as_nanos();
        let gained = u32::try_from(gained).unwrap_or(u32::MAX);
        let tokens = self.tokens.saturating_add(gained).min(burst);
        let last = if tokens == burst {
            now
        } else {
            // Fewer than `burst` tokens were gained, so this cannot overflow; the remainder of
            // the elapsed time is kept towards the next token.
            self.last + refill * gained
        };
        Bucket { tokens, last }
    }
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// A limiter allowing `burst` (at least 1) requests at once and one more per `refill`, for
    /// at most `max_keys` (at least 1) keys at a time.
    pub fn new(burst: u32, refill: Duration, max_keys: usize) -> Self {
        Self {
            burst: burst.max(1),
            refill,
            max_keys: max_keys.max(1),
            buckets: HashMap::new(),
        }
    }

    /// Takes one token for `key`; false when the key has none left, or when `max_keys` keys are
    /// tracked and none of them is idle enough to forget.
    pub fn allow(&mut self, key: &K, now: Instant) -> bool {
        let (burst, refill) = (self.burst, self.refill);
        if !self.buckets.contains_key(key) && self.buckets.len() >= self.max_keys {
            // Forget every key whose bucket is full again: it loses nothing.
            self.buckets
                .retain(|_, b| b.at(now, burst, refill).tokens < burst);
            if self.buckets.len() >= self.max_keys {
                return false;
            }
        }
        let bucket = self.buckets.get(key).copied().unwrap_or(Bucket {
            tokens: burst,
            last: now,
        });
        let mut bucket = bucket.at(now, burst, refill);
        let allowed = bucket.tokens > 0;
        if allowed {
            bucket.tokens -= 1;
        }
        self.buckets.insert(key.clone(), bucket);
        allowed
    }

    /// Forgets `key` (say, its last connection closed); it starts again with a full bucket.
    pub fn forget(&mut self, key: &K) {
        self.buckets.remove(key);
    }

    /// How many keys are tracked.
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_burst_then_refills() {
        let t0 = Instant::now();
        let mut r = RateLimiter::new(3, Duration::from_secs(1), 10);
        assert!((0..3).all(|_| r.allow(&"a", t0)));
        assert!(!r.allow(&"a", t0));
        assert!(r.allow(&"b", t0), "another peer has its own bucket");
        assert!(!r.allow(&"a", t0 + Duration::from_millis(500)));
        assert!(!r.allow(&"a", t0 + Duration::from_millis(999)));
        assert!(r.allow(&"a", t0 + Duration::from_millis(1000)));
        assert!(!r.allow(&"a", t0 + Duration::from_millis(1500)));
        assert!(r.allow(&"a", t0 + Duration::from_millis(2000)));
        // Never more than the burst after a long pause.
        let later = t0 + Duration::from_secs(3600);
        assert!((0..3).all(|_| r.allow(&"a", later)));
        assert!(!r.allow(&"a", later));
    }

    #[test]
    fn denied_requests_do_not_delay_the_next_token() {
        let t0 = Instant::now();
        let mut r = RateLimiter::new(1, Duration::from_secs(1), 10);
        assert!(r.allow(&"a", t0));
        for ms in [100, 400, 700, 900] {
            assert!(!r.allow(&"a", t0 + Duration::from_millis(ms)));
        }
        assert!(r.allow(&"a", t0 + Duration::from_millis(1000)));
    }

    #[test]
    fn bucket_tracks_a_bounded_number_of_peers() {
        let t0 = Instant::now();
        let mut r = RateLimiter::new(1, Duration::from_secs(10), 2);
        assert!(r.allow(&1, t0));
        assert!(r.allow(&2, t0));
        assert!(!r.allow(&3, t0), "both tracked peers are busy");
        assert_eq!(r.len(), 2);
        assert!(
            r.allow(&3, t0 + Duration::from_secs(11)),
            "idle peers are forgotten"
        );
        assert!(r.len() <= 2);
    }

    #[test]
    fn a_forgotten_peer_starts_with_a_full_bucket() {
        let t0 = Instant::now();
        let mut r = RateLimiter::new(2, Duration::from_secs(60), 10);
        assert!(r.allow(&"a", t0) && r.allow(&"a", t0));
        assert!(!r.allow(&"a", t0));
        r.forget(&"a");
        assert!(r.is_empty());
        assert!(r.allow(&"a", t0));
    }

    #[test]
    fn zero_refill_is_no_limit() {
        let t0 = Instant::now();
        let mut r = RateLimiter::new(1, Duration::ZERO, 10);
        assert!((0..100).all(|_| r.allow(&"a", t0)));
    }
}
