//! Bounded defences against one peer flooding the node: a token bucket per peer for inbound
//! requests, and a replay cache of recent envelopes. proto-spec/exchange.md#rate-limits

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::time::{Duration, Instant};

/// A token bucket per key, for at most `max_keys` keys at once.
#[derive(Debug)]
pub(crate) struct RateLimiter<K> {
    burst: f64,
    refill: Duration,
    max_keys: usize,
    buckets: HashMap<K, Bucket>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    pub(crate) fn new(burst: u32, refill: Duration, max_keys: usize) -> Self {
        Self {
            burst: f64::from(burst.max(1)),
            refill,
            max_keys: max_keys.max(1),
            buckets: HashMap::new(),
        }
    }

    fn refilled(&self, b: Bucket, now: Instant) -> f64 {
        if self.refill.is_zero() {
            return self.burst;
        }
        let gained =
            now.saturating_duration_since(b.last).as_secs_f64() / self.refill.as_secs_f64();
        (b.tokens + gained).min(self.burst)
    }

    /// Takes one token for `key`; false when the key has none left or too many keys are
    /// tracked and none of them is idle enough to forget.
    pub(crate) fn allow(&mut self, key: &K, now: Instant) -> bool {
        if !self.buckets.contains_key(key) && self.buckets.len() >= self.max_keys {
            // Forget every peer whose bucket is full again: they lose nothing.
            let burst = self.burst;
            let snapshot: Vec<(K, Bucket)> =
                self.buckets.iter().map(|(k, b)| (k.clone(), *b)).collect();
            for (k, b) in snapshot {
                if self.refilled(b, now) >= burst {
                    self.buckets.remove(&k);
                }
            }
            if self.buckets.len() >= self.max_keys {
                return false;
            }
        }
        let b = self.buckets.get(key).copied().unwrap_or(Bucket {
            tokens: self.burst,
            last: now,
        });
        let tokens = self.refilled(b, now);
        if tokens < 1.0 {
            self.buckets
                .insert(key.clone(), Bucket { tokens, last: now });
            return false;
        }
        self.buckets.insert(
            key.clone(),
            Bucket {
                tokens: tokens - 1.0,
                last: now,
            },
        );
        true
    }
}

/// Remembers up to `cap` recent keys for `ttl`; the oldest is forgotten first.
#[derive(Debug)]
pub(crate) struct ReplayCache<K> {
    cap: usize,
    ttl: Duration,
    order: VecDeque<(Instant, K)>,
    set: HashSet<K>,
}

impl<K: Hash + Eq + Clone> ReplayCache<K> {
    pub(crate) fn new(cap: usize, ttl: Duration) -> Self {
        Self {
            cap: cap.max(1),
            ttl,
            order: VecDeque::new(),
            set: HashSet::new(),
        }
    }

    /// Records `key`; false if it was already there (a replay).
    pub(crate) fn insert(&mut self, key: K, now: Instant) -> bool {
        while let Some((t, k)) = self.order.front() {
            if now.saturating_duration_since(*t) > self.ttl || self.order.len() >= self.cap {
                self.set.remove(k);
                self.order.pop_front();
            } else {
                break;
            }
        }
        if !self.set.insert(key.clone()) {
            return false;
        }
        self.order.push_back((now, key));
        true
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test fails by panicking")]
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
        assert!(r.allow(&"a", t0 + Duration::from_millis(1600)));
        assert!(!r.allow(&"a", t0 + Duration::from_millis(1600)));
    }

    #[test]
    fn bucket_tracks_a_bounded_number_of_peers() {
        let t0 = Instant::now();
        let mut r = RateLimiter::new(1, Duration::from_secs(10), 2);
        assert!(r.allow(&1, t0));
        assert!(r.allow(&2, t0));
        assert!(!r.allow(&3, t0), "both tracked peers are busy");
        assert!(
            r.allow(&3, t0 + Duration::from_secs(11)),
            "idle peers are forgotten"
        );
        assert!(r.buckets.len() <= 2);
    }

    #[test]
    fn replay_cache_is_bounded_and_expires() {
        let t0 = Instant::now();
        let mut c = ReplayCache::new(2, Duration::from_secs(5));
        assert!(c.insert(1, t0));
        assert!(!c.insert(1, t0));
        assert!(c.insert(2, t0));
        assert!(c.insert(3, t0));
        assert!(c.set.len() <= 2 && c.order.len() <= 2);
        assert!(
            c.insert(1, t0),
            "the oldest was forgotten to stay within the cap"
        );
        assert!(c.insert(3, t0 + Duration::from_secs(6)), "expired");
    }
}
