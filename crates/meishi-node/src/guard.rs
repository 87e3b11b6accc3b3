//! Bounded defences against one peer flooding the node: a token bucket per peer for inbound
//! requests (`meishi-limits`, shared with the relay), and a replay cache of recent envelopes.
//! proto-spec/exchange.md#rate-limits

use std::collections::{HashSet, VecDeque};
use std::hash::Hash;
use std::time::{Duration, Instant};

pub(crate) use meishi_limits::RateLimiter;

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
