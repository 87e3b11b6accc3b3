//! A per-peer token bucket for rendezvous and board requests: a full page of the board is
//! ~280 KB for a ~90-byte request, so an unthrottled peer could use the relay to flood.
//! Buckets are dropped when the peer's last connection closes, so the map is bounded by the
//! connection limits.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use libp2p::PeerId;

#[derive(Debug)]
struct Bucket {
    tokens: u32,
    last: Instant,
}

/// `burst` requests at once, then one per `interval`.
#[derive(Debug)]
pub struct PerPeer {
    burst: u32,
    interval: Duration,
    buckets: HashMap<PeerId, Bucket>,
}

impl PerPeer {
    pub fn new(burst: u32, interval: Duration) -> Self {
        Self {
            burst: burst.max(1),
            interval: interval.max(Duration::from_millis(1)),
            buckets: HashMap::new(),
        }
    }

    /// Takes a token for `peer`; false if it has none left.
    pub fn try_take(&mut self, peer: PeerId, now: Instant) -> bool {
        let b = self.buckets.entry(peer).or_insert(Bucket {
            tokens: self.burst,
            last: now,
        });
        let elapsed = now.saturating_duration_since(b.last);
        let refill = elapsed.as_nanos() / self.interval.as_nanos();
        if refill > 0 {
            let refill = u32::try_from(refill).unwrap_or(u32::MAX);
            b.tokens = b.tokens.saturating_add(refill).min(self.burst);
            b.last = if b.tokens == self.burst {
                now
            } else {
                b.last + self.interval * refill
            };
        }
        if b.tokens == 0 {
            return false;
        }
        b.tokens -= 1;
        true
    }

    /// Forgets `peer` (its last connection closed).
    pub fn forget(&mut self, peer: &PeerId) {
        self.buckets.remove(peer);
    }

    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test fails by panicking")]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refill() {
        let t0 = Instant::now();
        let mut r = PerPeer::new(3, Duration::from_secs(1));
        let (a, b) = (PeerId::random(), PeerId::random());
        assert!((0..3).all(|_| r.try_take(a, t0)));
        assert!(!r.try_take(a, t0));
        // Others are unaffected.
        assert!(r.try_take(b, t0));
        assert!(!r.try_take(a, t0 + Duration::from_millis(999)));
        assert!(r.try_take(a, t0 + Duration::from_millis(1000)));
        assert!(!r.try_take(a, t0 + Duration::from_millis(1500)));
        // Never more than the burst after a long pause.
        let later = t0 + Duration::from_secs(3600);
        assert!((0..3).all(|_| r.try_take(a, later)));
        assert!(!r.try_take(a, later));
        r.forget(&a);
        assert_eq!(r.len(), 1);
    }
}
