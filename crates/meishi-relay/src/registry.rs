//! A bounded, expiring store of one value per (namespace, peer), read in pages by cursor.
//!
//! Both the rendezvous server (values: signed peer records) and the teaser board (values:
//! sealed teasers) keep their data here, so both get the same caps: per peer, per namespace
//! and in total. Every write gets a fresh sequence number; a page lists the entries of one
//! namespace with a sequence number above the cursor, so a client that keeps its cursor sees
//! only what is new. Nothing lists namespaces.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use libp2p::PeerId;

/// Caps of one registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Entries in all namespaces together.
    pub total: usize,
    /// Entries in one namespace (attendees of one event).
    pub per_namespace: usize,
    /// Namespaces one peer may be in at once.
    pub per_peer: usize,
    /// Entries written from one IP address (all peers behind it together).
    pub per_ip: usize,
    /// Shortest and longest TTL accepted, in seconds.
    pub min_ttl: u64,
    pub max_ttl: u64,
}

/// Why a write was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("TTL {ttl} s is outside {min}..={max} s")]
    Ttl { ttl: u64, min: u64, max: u64 },
    #[error("this peer is already in {0} namespaces")]
    PeerFull(usize),
    #[error("this IP address already holds {0} entries")]
    IpFull(usize),
    #[error("this namespace already holds {0} entries")]
    NamespaceFull(usize),
    #[error("the relay already holds {0} entries")]
    TotalFull(usize),
}

#[derive(Debug)]
struct Entry<V> {
    namespace: String,
    peer: PeerId,
    ip: Option<IpAddr>,
    value: V,
    expires: Instant,
    ttl: u64,
}

#[derive(Debug, Default)]
struct Namespace {
    by_seq: BTreeSet<u64>,
    by_peer: HashMap<PeerId, u64>,
}

/// The store. Not thread-safe: owned by the relay's event loop.
#[derive(Debug)]
pub struct Registry<V> {
    caps: Caps,
    next_seq: u64,
    entries: HashMap<u64, Entry<V>>,
    namespaces: HashMap<String, Namespace>,
    /// The entries of each peer (at most `per_peer`), to drop them all when it goes away.
    peers: HashMap<PeerId, Vec<u64>>,
    ips: HashMap<IpAddr, usize>,
    expiry: BTreeMap<(Instant, u64), ()>,
}

/// One listed entry.
#[derive(Debug)]
pub struct Listed<'a, V> {
    pub peer: PeerId,
    pub value: &'a V,
    /// Seconds left before it expires (at least 1).
    pub ttl_left: u64,
}

impl<V> Registry<V> {
    pub fn new(caps: Caps) -> Self {
        Self::with_first_seq(caps, 1)
    }

    /// A registry whose first write gets sequence number `first` (at least 1). The relay starts
    /// from its clock in microseconds, so sequence numbers keep growing across restarts and a
    /// cursor a client kept from before a restart still sees every new entry.
    pub fn with_first_seq(caps: Caps, first: u64) -> Self {
        Self {
            caps,
            next_seq: first.max(1),
            entries: HashMap::new(),
            namespaces: HashMap::new(),
            peers: HashMap::new(),
            ips: HashMap::new(),
            expiry: BTreeMap::new(),
        }
    }

    pub fn caps(&self) -> Caps {
        self.caps
    }

    /// Entries held now (some may have expired since the last [`Registry::expire`]).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Namespaces holding at least one entry.
    pub fn namespace_count(&self) -> usize {
        self.namespaces.len()
    }

    /// Stores or replaces `peer`'s value in `namespace`, not counted against any IP address.
    pub fn put(
        &mut self,
        namespace: &str,
        peer: PeerId,
        value: V,
        ttl: u64,
        now: Instant,
    ) -> Result<u64, Refusal> {
        self.put_from(namespace, peer, None, value, ttl, now)
    }

    /// Stores or replaces `peer`'s value in `namespace`, written from `ip`. A replacement (a
    /// refresh) from the same address is never refused for being over a cap, only for its TTL.
    pub fn put_from(
        &mut self,
        namespace: &str,
        peer: PeerId,
        ip: Option<IpAddr>,
        value: V,
        ttl: u64,
        now: Instant,
    ) -> Result<u64, Refusal> {
        let c = self.caps;
        if ttl < c.min_ttl || ttl > c.max_ttl {
            return Err(Refusal::Ttl {
                ttl,
                min: c.min_ttl,
                max: c.max_ttl,
            });
        }
        let old = self
            .namespaces
            .get(namespace)
            .and_then(|ns| ns.by_peer.get(&peer).copied());
        let same_ip = old
            .and_then(|seq| self.entries.get(&seq))
            .is_some_and(|e| e.ip == ip);
        if let Some(ip) = ip.filter(|_| !same_ip) {
            let from_ip = self.ips.get(&ip).copied().unwrap_or(0);
            if from_ip >= c.per_ip {
                return Err(Refusal::IpFull(from_ip));
            }
        }
        match old {
            Some(seq) => {
                self.remove_seq(seq);
            }
            None => {
                let in_peer = self.peers.get(&peer).map_or(0, Vec::len);
                if in_peer >= c.per_peer {
                    return Err(Refusal::PeerFull(in_peer));
                }
                let in_ns = self.namespaces.get(namespace).map_or(0, |n| n.by_seq.len());
                if in_ns >= c.per_namespace {
                    return Err(Refusal::NamespaceFull(in_ns));
                }
                if self.entries.len() >= c.total {
                    return Err(Refusal::TotalFull(self.entries.len()));
                }
            }
        }
        let seq = self.next_seq;
        self.next_seq = self.next_seq.saturating_add(1);
        let expires = now + Duration::from_secs(ttl);
        let ns = self.namespaces.entry(namespace.to_owned()).or_default();
        ns.by_seq.insert(seq);
        ns.by_peer.insert(peer, seq);
        self.peers.entry(peer).or_default().push(seq);
        if let Some(ip) = ip {
            *self.ips.entry(ip).or_insert(0) += 1;
        }
        self.expiry.insert((expires, seq), ());
        self.entries.insert(
            seq,
            Entry {
                namespace: namespace.to_owned(),
                peer,
                ip,
                value,
                expires,
                ttl,
            },
        );
        Ok(seq)
    }

    /// Removes `peer`'s entry from `namespace`; true if there was one.
    pub fn remove(&mut self, namespace: &str, peer: &PeerId) -> bool {
        let seq = self
            .namespaces
            .get(namespace)
            .and_then(|ns| ns.by_peer.get(peer).copied());
        match seq {
            Some(seq) => self.remove_seq(seq),
            None => false,
        }
    }

    /// Removes every entry of `peer` (it disconnected: its circuit address is dead, so listing
    /// it would only send others to a peer that is gone); returns how many.
    pub fn remove_peer(&mut self, peer: &PeerId) -> usize {
        let seqs = self.peers.remove(peer).unwrap_or_default();
        for seq in &seqs {
            self.remove_seq(*seq);
        }
        seqs.len()
    }

    fn remove_seq(&mut self, seq: u64) -> bool {
        let Some(e) = self.entries.remove(&seq) else {
            return false;
        };
        self.expiry.remove(&(e.expires, seq));
        if let Some(ns) = self.namespaces.get_mut(&e.namespace) {
            ns.by_seq.remove(&seq);
            ns.by_peer.remove(&e.peer);
            if ns.by_seq.is_empty() {
                self.namespaces.remove(&e.namespace);
            }
        }
        if let Some(seqs) = self.peers.get_mut(&e.peer) {
            seqs.retain(|s| *s != seq);
            if seqs.is_empty() {
                self.peers.remove(&e.peer);
            }
        }
        if let Some(ip) = e.ip {
            if let Some(n) = self.ips.get_mut(&ip) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.ips.remove(&ip);
                }
            }
        }
        true
    }

    /// Drops every entry whose time is up; returns how many.
    pub fn expire(&mut self, now: Instant) -> usize {
        let due: Vec<u64> = self
            .expiry
            .range(..=(now, u64::MAX))
            .map(|((_, seq), ())| *seq)
            .collect();
        for seq in &due {
            self.remove_seq(*seq);
        }
        due.len()
    }

    /// Up to `limit` live entries of `namespace` written after `cursor`, in write order.
    /// Returns them, the cursor to ask from next, and whether more remain.
    pub fn page(
        &self,
        namespace: &str,
        cursor: u64,
        limit: usize,
        now: Instant,
    ) -> (Vec<Listed<'_, V>>, u64, bool) {
        let Some(ns) = self.namespaces.get(namespace) else {
            return (Vec::new(), cursor, false);
        };
        let mut out = Vec::new();
        let mut next = cursor;
        let mut more = false;
        for seq in ns.by_seq.range(cursor.saturating_add(1)..) {
            let Some(e) = self.entries.get(seq) else {
                continue;
            };
            if e.expires <= now {
                continue;
            }
            if out.len() == limit {
                more = true;
                break;
            }
            let left = e.expires.saturating_duration_since(now).as_secs().max(1);
            out.push(Listed {
                peer: e.peer,
                value: &e.value,
                ttl_left: left.min(e.ttl),
            });
            next = *seq;
        }
        (out, next, more)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test fails by panicking")]
mod tests {
    use super::*;

    fn caps() -> Caps {
        Caps {
            total: 5,
            per_namespace: 3,
            per_peer: 2,
            per_ip: 100,
            min_ttl: 60,
            max_ttl: 600,
        }
    }

    #[test]
    fn caps_hold_and_refresh_is_always_allowed() {
        let now = Instant::now();
        let mut r = Registry::new(caps());
        let p: Vec<PeerId> = (0..6).map(|_| PeerId::random()).collect();
        assert_eq!(
            r.put("a", p[0], 1, 59, now),
            Err(Refusal::Ttl {
                ttl: 59,
                min: 60,
                max: 600
            })
        );
        assert!(r.put("a", p[0], 1, 601, now).is_err());
        r.put("a", p[0], 1, 60, now).unwrap();
        r.put("b", p[0], 1, 60, now).unwrap();
        assert_eq!(r.put("c", p[0], 1, 60, now), Err(Refusal::PeerFull(2)));
        // A refresh at the per-peer cap is fine and replaces the value.
        r.put("a", p[0], 2, 120, now).unwrap();
        assert_eq!(r.len(), 2);
        r.put("a", p[1], 1, 60, now).unwrap();
        r.put("a", p[2], 1, 60, now).unwrap();
        assert_eq!(r.put("a", p[3], 1, 60, now), Err(Refusal::NamespaceFull(3)));
        r.put("c", p[3], 1, 60, now).unwrap();
        assert_eq!(r.put("d", p[4], 1, 60, now), Err(Refusal::TotalFull(5)));
        assert!(r.remove("c", &p[3]));
        assert!(!r.remove("c", &p[3]));
        r.put("d", p[4], 1, 60, now).unwrap();
        // A peer that goes away takes all its entries, and frees its caps.
        assert_eq!(r.remove_peer(&p[0]), 2);
        assert_eq!(r.remove_peer(&p[0]), 0);
        assert_eq!(r.len(), 3);
        r.put("c", p[0], 1, 60, now).unwrap();
        r.put("e", p[0], 1, 60, now).unwrap();
    }

    #[test]
    fn pages_follow_write_order_and_skip_what_was_seen() {
        let now = Instant::now();
        let mut r = Registry::new(Caps {
            total: 100,
            per_namespace: 100,
            per_peer: 1,
            per_ip: 100,
            min_ttl: 1,
            max_ttl: 600,
        });
        let p: Vec<PeerId> = (0..5).map(|_| PeerId::random()).collect();
        for (i, peer) in p.iter().enumerate() {
            r.put("ns", *peer, i, 60, now).unwrap();
        }
        r.put("other", PeerId::random(), 99, 60, now).unwrap();
        let (page, c, more) = r.page("ns", 0, 2, now);
        assert_eq!(page.iter().map(|l| *l.value).collect::<Vec<_>>(), [0, 1]);
        assert!(more);
        let (page, c, more) = r.page("ns", c, 10, now);
        assert_eq!(page.iter().map(|l| *l.value).collect::<Vec<_>>(), [2, 3, 4]);
        assert!(!more);
        let (page, c2, _) = r.page("ns", c, 10, now);
        assert!(page.is_empty());
        assert_eq!(c2, c);
        // A refresh shows up again after the cursor.
        r.put("ns", p[1], 11, 60, now).unwrap();
        let (page, _, _) = r.page("ns", c, 10, now);
        assert_eq!(page.iter().map(|l| *l.value).collect::<Vec<_>>(), [11]);
        assert_eq!(r.page("nope", 0, 10, now).0.len(), 0);
    }

    #[test]
    fn a_cursor_from_before_a_restart_sees_new_entries() {
        let now = Instant::now();
        let mut before = Registry::with_first_seq(caps(), 1_000);
        before.put("ns", PeerId::random(), 1, 60, now).unwrap();
        let (_, cursor, _) = before.page("ns", 0, 10, now);
        assert_eq!(cursor, 1_000);
        let mut after = Registry::with_first_seq(caps(), 2_000);
        after.put("ns", PeerId::random(), 2, 60, now).unwrap();
        assert_eq!(after.page("ns", cursor, 10, now).0.len(), 1);
    }

    #[test]
    fn many_peers_behind_one_ip_are_capped_and_others_still_fit() {
        let now = Instant::now();
        let mut r = Registry::new(Caps {
            total: 100,
            per_namespace: 100,
            per_peer: 8,
            per_ip: 3,
            min_ttl: 60,
            max_ttl: 600,
        });
        let venue: IpAddr = [198, 51, 100, 1].into();
        let other: IpAddr = [203, 0, 113, 9].into();
        let crowd: Vec<PeerId> = (0..4).map(|_| PeerId::random()).collect();
        for p in &crowd[..3] {
            r.put_from("ns", *p, Some(venue), 1, 60, now).unwrap();
        }
        assert_eq!(
            r.put_from("ns", crowd[3], Some(venue), 1, 60, now),
            Err(Refusal::IpFull(3))
        );
        // A refresh from the same address is still allowed; someone elsewhere gets in.
        r.put_from("ns", crowd[0], Some(venue), 2, 120, now)
            .unwrap();
        r.put_from("ns", crowd[3], Some(other), 1, 60, now).unwrap();
        // Freed slots count again.
        assert!(r.remove("ns", &crowd[1]));
        r.put_from("x", crowd[1], Some(venue), 1, 60, now).unwrap();
        assert_eq!(r.expire(now + Duration::from_secs(1_000)), 4);
        assert!(r.ips.is_empty());
    }

    #[test]
    fn entries_expire() {
        let now = Instant::now();
        let mut r = Registry::new(caps());
        let a = PeerId::random();
        r.put("ns", a, 1, 60, now).unwrap();
        r.put("ns", PeerId::random(), 2, 120, now).unwrap();
        let later = now + Duration::from_secs(61);
        // Hidden from pages before the sweep, gone after it.
        assert_eq!(r.page("ns", 0, 10, later).0.len(), 1);
        assert_eq!(r.expire(later), 1);
        assert_eq!(r.len(), 1);
        // The slot it held is free again.
        r.put("x", a, 1, 60, later).unwrap();
        r.put("y", a, 1, 60, later).unwrap();
        assert_eq!(r.expire(now + Duration::from_secs(10_000)), 3);
        assert!(r.is_empty());
        assert_eq!(r.namespace_count(), 0);
    }
}
