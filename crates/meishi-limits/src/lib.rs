//! A token bucket per key (a peer id), for a bounded number of keys: how the node limits
//! inbound exchange requests (proto-spec/exchange.md#rate-limits) and the relay limits
//! rendezvous and board requests. Pure bookkeeping over the `Instant` the caller passes, so it
//! is tested without sleeping.
//!
//! Every check is O(1): the buckets sit in a hash map and on a least-recently-used list, and
//! a key not tracked yet takes the slot of the least recently used key when the table is full.
//! Nothing is ever scanned or copied, so a full table costs a new peer what an empty one does.
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

/// No slot: the end of the least-recently-used list.
const NIL: usize = usize::MAX;

/// `burst` requests at once, then one more per `refill`, per key, for at most `max_keys` keys.
#[derive(Debug)]
pub struct RateLimiter<K> {
    burst: u32,
    refill: Duration,
    max_keys: usize,
    /// Where each tracked key's slot is.
    index: HashMap<K, usize>,
    /// The slots, linked from the most (`head`) to the least (`tail`) recently used.
    slots: Vec<Slot<K>>,
    /// Slots of forgotten keys, to reuse.
    free: Vec<usize>,
    head: usize,
    tail: usize,
    /// Buckets brought up to date since creation: a test counts them to show no check scans.
    #[cfg(test)]
    touched: usize,
}

#[derive(Debug)]
struct Slot<K> {
    key: K,
    bucket: Bucket,
    prev: usize,
    next: usize,
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
            index: HashMap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
            #[cfg(test)]
            touched: 0,
        }
    }

    /// Takes one token for `key`; false when the key has none left. A key not tracked yet
    /// starts with a full bucket; when `max_keys` keys are tracked it takes the place of the
    /// least recently used one, which starts again with a full bucket if it comes back. That
    /// costs nothing a peer could not get anyway by using a fresh peer id, and it means a full
    /// table never turns every newcomer away. O(1).
    pub fn allow(&mut self, key: &K, now: Instant) -> bool {
        let (burst, refill) = (self.burst, self.refill);
        let i = match self.index.get(key) {
            Some(&i) => {
                self.unlink(i);
                i
            }
            None => self.claim(key.clone(), now),
        };
        self.push_front(i);
        #[cfg(test)]
        {
            self.touched += 1;
        }
        let slot = &mut self.slots[i];
        let mut bucket = slot.bucket.at(now, burst, refill);
        let allowed = bucket.tokens > 0;
        if allowed {
            bucket.tokens -= 1;
        }
        slot.bucket = bucket;
        allowed
    }

    /// A slot for a key not tracked yet, unlinked: a free one, a new one, or the least recently
    /// used key's when the table is full.
    fn claim(&mut self, key: K, now: Instant) -> usize {
        let fresh = Bucket {
            tokens: self.burst,
            last: now,
        };
        let i = if let Some(i) = self.free.pop() {
            self.slots[i].key = key.clone();
            self.slots[i].bucket = fresh;
            i
        } else if self.index.len() < self.max_keys || self.tail == NIL {
            self.slots.push(Slot {
                key: key.clone(),
                bucket: fresh,
                prev: NIL,
                next: NIL,
            });
            self.slots.len() - 1
        } else {
            let i = self.tail;
            self.unlink(i);
            let old = std::mem::replace(&mut self.slots[i].key, key.clone());
            self.index.remove(&old);
            self.slots[i].bucket = fresh;
            i
        };
        self.index.insert(key, i);
        i
    }

    fn unlink(&mut self, i: usize) {
        let (prev, next) = (self.slots[i].prev, self.slots[i].next);
        match prev {
            NIL => self.head = next,
            p => self.slots[p].next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.slots[n].prev = prev,
        }
        self.slots[i].prev = NIL;
        self.slots[i].next = NIL;
    }

    fn push_front(&mut self, i: usize) {
        self.slots[i].prev = NIL;
        self.slots[i].next = self.head;
        match self.head {
            NIL => self.tail = i,
            h => self.slots[h].prev = i,
        }
        self.head = i;
    }

    /// Forgets `key` (say, its last connection closed); it starts again with a full bucket.
    pub fn forget(&mut self, key: &K) {
        if let Some(i) = self.index.remove(key) {
            self.unlink(i);
            self.free.push(i);
        }
    }

    /// How many keys are tracked.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
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
        assert!(
            r.allow(&3, t0),
            "a newcomer takes the least recently used slot"
        );
        assert_eq!(r.len(), 2);
        assert!(!r.allow(&3, t0), "and has its own budget");
        assert!(!r.allow(&2, t0), "2 is still tracked and busy");
        // 1 was forgotten: it comes back with a full bucket, in 3's place (3 was used before 2).
        assert!(r.allow(&1, t0));
        assert_eq!(r.len(), 2);
        assert!(!r.allow(&2, t0), "2 was used last: it stayed");
    }

    /// A table full of busy keys (an attacker with many peer ids) neither turns a newcomer away
    /// nor makes a check look at more than one bucket: each check touches exactly one, however
    /// many keys are tracked.
    #[test]
    fn a_full_table_of_busy_keys_still_serves_a_newcomer_in_constant_work() {
        let t0 = Instant::now();
        for max in [16usize, 4096] {
            let mut r = RateLimiter::new(1, Duration::from_secs(3600), max);
            for k in 0..max {
                assert!(r.allow(&k, t0));
                assert!(!r.allow(&k, t0), "busy");
            }
            assert_eq!(r.len(), max);
            let before = r.touched;
            for newcomer in max..max + 100 {
                assert!(r.allow(&newcomer, t0), "newcomer {newcomer} is served");
                assert!(!r.allow(&newcomer, t0), "within its own budget");
            }
            assert_eq!(
                r.touched - before,
                200,
                "one bucket per check, at {max} keys"
            );
            assert_eq!(r.len(), max);
            if max > 100 {
                // Only the least recently used keys made room: the rest are still busy.
                assert!(!r.allow(&(max - 1), t0));
            }
        }
    }

    #[test]
    fn forgotten_slots_are_reused() {
        let t0 = Instant::now();
        let mut r = RateLimiter::new(1, Duration::from_secs(3600), 3);
        for k in 0..3 {
            assert!(r.allow(&k, t0));
        }
        r.forget(&1);
        assert_eq!(r.len(), 2);
        assert!(r.allow(&9, t0), "takes the freed slot");
        assert_eq!(r.len(), 3);
        assert!(
            !r.allow(&0, t0) && !r.allow(&2, t0),
            "nobody else was evicted"
        );
        assert_eq!(r.slots.len(), 3);
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
