//! A bounded, expiring store of one value per (namespace, peer), read in pages by cursor.
//!
//! Both the rendezvous server (values: signed peer records) and the teaser board (values:
//! sealed teasers) keep their data here, so both get the same caps: per peer, per host, per
//! site's share of a namespace and of the store, per namespace and in total
//! (proto-spec/relay.md#limits). Every write gets a fresh sequence number; a page lists the
//! entries of one namespace with a sequence number above the cursor, so a client that keeps
//! its cursor sees only what is new. Nothing lists namespaces.
//!
//! **Shares.** A site ([`prefix::site`]: an IPv4 address, an IPv6 /48) is guaranteed
//! `site_share_namespace` entries in each namespace and `site_share` in the store, and may
//! grow past them only while that namespace (the store) is less than half full. A venue NAT
//! with a thousand attendees therefore fits in an event nobody is attacking, yet the entries
//! written past a share can never hold more than half of a namespace, and what a few sites
//! hold within their shares leaves the rest: eight sites hold at most
//! `cap / 2 + 8 * share`, less than the cap for the defaults, and a ninth site gets its share.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use libp2p::PeerId;

use crate::prefix::{self, Prefix};

/// Caps of one registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Entries in all namespaces together.
    pub total: usize,
    /// Entries in one namespace (attendees of one event).
    pub per_namespace: usize,
    /// Namespaces one peer may be in at once.
    pub per_peer: usize,
    /// Entries written from one host (an IPv4 address or an IPv6 /64), all peers behind it
    /// together, in all namespaces.
    pub per_host: usize,
    /// Entries one site (an IPv4 address or an IPv6 /48) may always hold in one namespace;
    /// it holds more only while the namespace is less than half full.
    pub site_share_namespace: usize,
    /// Entries one site may always hold in the whole registry; more only while the registry
    /// is less than half full.
    pub site_share: usize,
    /// Shortest and longest TTL accepted, in seconds.
    pub min_ttl: u64,
    pub max_ttl: u64,
}

/// Why a write was refused: one variant per cap, so that refusals are counted per cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("TTL {ttl} s is outside {min}..={max} s")]
    Ttl { ttl: u64, min: u64, max: u64 },
    #[error("this peer is already in {0} namespaces")]
    PeerFull(usize),
    #[error("this host (IPv4 address or IPv6 /64) already holds {0} entries")]
    HostFull(usize),
    #[error("this site already holds {0} entries in this namespace, its share")]
    NamespaceShare(usize),
    #[error("this namespace already holds {0} entries")]
    NamespaceFull(usize),
    #[error("this site already holds {0} entries, its share of the relay")]
    SiteShare(usize),
    #[error("the relay already holds {0} entries")]
    TotalFull(usize),
}

impl Refusal {
    /// The cap that refused, as the `cap` label of the refusal metrics.
    pub fn cap(&self) -> &'static str {
        match self {
            Refusal::Ttl { .. } => "ttl",
            Refusal::PeerFull(_) => "per_peer",
            Refusal::HostFull(_) => "per_host",
            Refusal::NamespaceShare(_) => "site_share_namespace",
            Refusal::NamespaceFull(_) => "per_namespace",
            Refusal::SiteShare(_) => "site_share",
            Refusal::TotalFull(_) => "total",
        }
    }
}

/// Where an entry was written from: its host and its site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Origin {
    host: Prefix,
    site: Prefix,
}

impl Origin {
    fn of(ip: IpAddr) -> Self {
        Self {
            host: prefix::host(ip),
            site: prefix::site(ip),
        }
    }
}

#[derive(Debug)]
struct Entry<V> {
    namespace: String,
    peer: PeerId,
    origin: Option<Origin>,
    value: V,
    expires: Instant,
    ttl: u64,
}

#[derive(Debug, Default)]
struct Namespace {
    by_seq: BTreeSet<u64>,
    by_peer: HashMap<PeerId, u64>,
    /// Entries of each site in this namespace.
    by_site: HashMap<Prefix, usize>,
    /// The registry's change count at the last removal from this namespace (or its creation),
    /// and at the last entry added: what a page read earlier is checked against.
    removed_at: u64,
    appended_at: u64,
}

/// A site may hold more than its `share` of a store of `cap` entries only while the store
/// holds fewer than half of `cap`.
pub(crate) fn within_share(held: usize, share: usize, in_store: usize, cap: usize) -> bool {
    held < share || in_store.saturating_mul(2) < cap
}

pub(crate) fn count_up<K: std::hash::Hash + Eq>(m: &mut HashMap<K, usize>, k: K) {
    *m.entry(k).or_insert(0) += 1;
}

pub(crate) fn count_down<K: std::hash::Hash + Eq>(m: &mut HashMap<K, usize>, k: &K) {
    if let Some(n) = m.get_mut(k) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            m.remove(k);
        }
    }
}

/// The store. Not thread-safe: owned by the relay's event loop.
#[derive(Debug)]
pub struct Registry<V> {
    caps: Caps,
    next_seq: u64,
    entries: HashMap<u64, Entry<V>, BuildHasherDefault<SeqHasher>>,
    namespaces: HashMap<String, Namespace>,
    /// The entries of each peer (at most `per_peer`), to drop them all when it goes away.
    peers: HashMap<PeerId, Vec<u64>>,
    hosts: HashMap<Prefix, usize>,
    sites: HashMap<Prefix, usize>,
    expiry: BTreeMap<(Instant, u64), ()>,
    /// Counts every entry added and removed, over all namespaces.
    changes: u64,
}

/// Hashes the registry's own sequence numbers, which no peer chooses: one multiplication
/// (Fibonacci hashing) instead of SipHash, whose resistance to chosen keys buys nothing here.
/// Every entry of every board page read is looked up by its sequence number.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct SeqHasher(u64);

impl Hasher for SeqHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed; anything else is folded in, still correct.
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// One listed entry.
#[derive(Debug)]
pub struct Listed<'a, V> {
    pub peer: PeerId,
    pub value: &'a V,
    /// Seconds left before it expires (at least 1).
    pub ttl_left: u64,
    /// The TTL it was written with.
    pub ttl: u64,
    /// When it expires (as of now: a refresh moves it later).
    pub expires: Instant,
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
            entries: HashMap::default(),
            namespaces: HashMap::new(),
            peers: HashMap::new(),
            hosts: HashMap::new(),
            sites: HashMap::new(),
            expiry: BTreeMap::new(),
            changes: 0,
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

    /// Whether `peer` holds an entry in any namespace.
    pub fn holds(&self, peer: &PeerId) -> bool {
        self.peers.contains_key(peer)
    }

    /// Stores or replaces `peer`'s value in `namespace`, written from `ip`. A replacement (a
    /// refresh) from the same host is never refused for being over a cap, only for its TTL; a
    /// replacement from another host is checked against that host's and site's caps.
    pub fn put_from(
        &mut self,
        namespace: &str,
        peer: PeerId,
        ip: Option<IpAddr>,
        value: V,
        ttl: u64,
        now: Instant,
    ) -> Result<u64, Refusal> {
        self.put_for(namespace, peer, ip, value, ttl, ttl, now)
    }

    /// As [`Registry::put_from`], for an entry asked for `ttl` seconds of which only `left`
    /// remain (a copy from another relay of the fleet): the TTL is checked as the writer asked
    /// it, and the entry expires `left` seconds from now (at least 1, at most `ttl`).
    #[allow(
        clippy::too_many_arguments,
        reason = "put_from's arguments and the time left; called twice"
    )]
    pub fn put_for(
        &mut self,
        namespace: &str,
        peer: PeerId,
        ip: Option<IpAddr>,
        value: V,
        ttl: u64,
        left: u64,
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
        let origin = ip.map(Origin::of);
        let ns = self.namespaces.get(namespace);
        let old = ns.and_then(|ns| ns.by_peer.get(&peer).copied());
        let old_origin = old.and_then(|seq| self.entries.get(&seq)).map(|e| e.origin);
        let in_ns = ns.map_or(0, |n| n.by_seq.len());
        if old.is_none() {
            let in_peer = self.peers.get(&peer).map_or(0, Vec::len);
            if in_peer >= c.per_peer {
                return Err(Refusal::PeerFull(in_peer));
            }
        }
        // The caps of where it comes from, unless it is a refresh from the same host.
        let moved = old_origin.is_none_or(|o| o.map(|o| o.host) != origin.map(|o| o.host));
        if let Some(o) = origin.filter(|_| moved) {
            let from_host = self.hosts.get(&o.host).copied().unwrap_or(0);
            if from_host >= c.per_host {
                return Err(Refusal::HostFull(from_host));
            }
            // A replacement does not grow the namespace or the registry.
            let others_ns = in_ns - usize::from(old.is_some());
            let others = self.entries.len() - usize::from(old.is_some());
            // Nor does a move between two hosts of one site grow that site.
            let same_site = usize::from(old_origin.flatten().map(|o| o.site) == Some(o.site));
            let site_ns = ns
                .and_then(|n| n.by_site.get(&o.site).copied())
                .unwrap_or(0);
            if !within_share(
                site_ns - same_site,
                c.site_share_namespace,
                others_ns,
                c.per_namespace,
            ) {
                return Err(Refusal::NamespaceShare(site_ns));
            }
            let site = self.sites.get(&o.site).copied().unwrap_or(0);
            if !within_share(site - same_site, c.site_share, others, c.total) {
                return Err(Refusal::SiteShare(site));
            }
        }
        match old {
            Some(seq) => {
                self.remove_seq(seq);
            }
            None => {
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
        let expires = now + Duration::from_secs(left.min(ttl).max(1));
        self.changes += 1;
        let changes = self.changes;
        let ns = self
            .namespaces
            .entry(namespace.to_owned())
            .or_insert_with(|| Namespace {
                removed_at: changes,
                ..Namespace::default()
            });
        ns.appended_at = changes;
        ns.by_seq.insert(seq);
        ns.by_peer.insert(peer, seq);
        if let Some(o) = origin {
            count_up(&mut ns.by_site, o.site);
            count_up(&mut self.hosts, o.host);
            count_up(&mut self.sites, o.site);
        }
        self.peers.entry(peer).or_default().push(seq);
        self.expiry.insert((expires, seq), ());
        self.entries.insert(
            seq,
            Entry {
                namespace: namespace.to_owned(),
                peer,
                origin,
                value,
                expires,
                ttl,
            },
        );
        Ok(seq)
    }

    /// `peer`'s live entry in `namespace`, if it holds one.
    pub fn get(&self, namespace: &str, peer: &PeerId, now: Instant) -> Option<Listed<'_, V>> {
        let seq = self.namespaces.get(namespace)?.by_peer.get(peer)?;
        let e = self.entries.get(seq)?;
        if e.expires <= now {
            return None;
        }
        Some(Listed {
            peer: e.peer,
            value: &e.value,
            ttl_left: e
                .expires
                .saturating_duration_since(now)
                .as_secs()
                .min(e.ttl)
                .max(1),
            ttl: e.ttl,
            expires: e.expires,
        })
    }

    /// Changes `peer`'s live entry in `namespace` in place with `f`, and makes it expire `left`
    /// seconds from now (at least 1, at most its TTL), keeping its sequence number: a page read
    /// from a cursor past it does not list it again. False when no live entry is held.
    pub fn update_in_place(
        &mut self,
        namespace: &str,
        peer: &PeerId,
        left: u64,
        now: Instant,
        f: impl FnOnce(&mut V),
    ) -> bool {
        self.in_place(namespace, peer, left, now, |_| true, f)
    }

    /// A writer's refresh of what it already holds: when `peer`'s live entry in `namespace`
    /// was written from the host of `ip` with this `ttl` and `same` says the value is the
    /// one written again, changes it with `f` and makes it expire `ttl` seconds from now,
    /// keeping its sequence number (readers past it do not read it again) and its place in
    /// every cap. False, and nothing changed, otherwise: the caller stores it as a new write.
    #[allow(
        clippy::too_many_arguments,
        reason = "put_from's arguments and the two closures"
    )]
    pub fn refresh_in_place(
        &mut self,
        namespace: &str,
        peer: &PeerId,
        ip: Option<IpAddr>,
        ttl: u64,
        now: Instant,
        same: impl FnOnce(&V) -> bool,
        f: impl FnOnce(&mut V),
    ) -> bool {
        let host = ip.map(|ip| Origin::of(ip).host);
        let check =
            |e: &Entry<V>| e.ttl == ttl && e.origin.map(|o| o.host) == host && same(&e.value);
        self.in_place(namespace, peer, ttl, now, check, f)
    }

    /// [`Registry::update_in_place`], only if `check` holds for the live entry.
    fn in_place(
        &mut self,
        namespace: &str,
        peer: &PeerId,
        left: u64,
        now: Instant,
        check: impl FnOnce(&Entry<V>) -> bool,
        f: impl FnOnce(&mut V),
    ) -> bool {
        let Some(&seq) = self
            .namespaces
            .get(namespace)
            .and_then(|ns| ns.by_peer.get(peer))
        else {
            return false;
        };
        let Some(e) = self.entries.get_mut(&seq) else {
            return false;
        };
        if e.expires <= now || !check(e) {
            return false;
        }
        f(&mut e.value);
        let expires = now + Duration::from_secs(left.min(e.ttl).max(1));
        self.expiry.remove(&(e.expires, seq));
        e.expires = expires;
        self.expiry.insert((expires, seq), ());
        true
    }

    /// Whether any live or not yet swept entry is held under `namespace`.
    pub fn has_namespace(&self, namespace: &str) -> bool {
        self.namespaces.contains_key(namespace)
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

    /// Removes every entry of `peer` (it has been gone for the grace period: its circuit address
    /// is dead, so listing it would only send others to a peer that is gone); returns how many.
    /// The namespaces `peer` holds an entry in.
    pub fn namespaces_of(&self, peer: &PeerId) -> Vec<String> {
        let mut out: Vec<String> = self
            .peers
            .get(peer)
            .into_iter()
            .flatten()
            .filter_map(|seq| self.entries.get(seq))
            .map(|e| e.namespace.clone())
            .collect();
        out.sort();
        out.dedup();
        out
    }

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
        self.changes += 1;
        if let Some(ns) = self.namespaces.get_mut(&e.namespace) {
            ns.removed_at = self.changes;
            ns.by_seq.remove(&seq);
            ns.by_peer.remove(&e.peer);
            if let Some(o) = e.origin {
                count_down(&mut ns.by_site, &o.site);
            }
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
        if let Some(o) = e.origin {
            count_down(&mut self.hosts, &o.host);
            count_down(&mut self.sites, &o.site);
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

    /// When `namespace` last lost an entry (or was created) and last gained one, as counts of
    /// the registry's changes; `None` when it holds nothing. A page read from it is still what
    /// [`Registry::page`] returns while both are unchanged, and, when more entries followed
    /// it, while the first is (entries are only ever added after every other: they can only
    /// change the last page), as long as none of its entries has expired.
    pub fn changes(&self, namespace: &str) -> Option<(u64, u64)> {
        self.namespaces
            .get(namespace)
            .map(|ns| (ns.removed_at, ns.appended_at))
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
        let mut out = Vec::with_capacity(limit.min(ns.by_seq.len()));
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
                ttl: e.ttl,
                expires: e.expires,
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
            per_host: 100,
            site_share_namespace: 100,
            site_share: 100,
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
            per_host: 100,
            site_share_namespace: 100,
            site_share: 100,
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
            per_host: 3,
            site_share_namespace: 100,
            site_share: 100,
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
            Err(Refusal::HostFull(3))
        );
        // A refresh from the same address is still allowed; someone elsewhere gets in.
        r.put_from("ns", crowd[0], Some(venue), 2, 120, now)
            .unwrap();
        r.put_from("ns", crowd[3], Some(other), 1, 60, now).unwrap();
        // Freed slots count again.
        assert!(r.remove("ns", &crowd[1]));
        r.put_from("x", crowd[1], Some(venue), 1, 60, now).unwrap();
        assert_eq!(r.expire(now + Duration::from_secs(1_000)), 4);
        assert!(r.hosts.is_empty() && r.sites.is_empty());
    }

    #[test]
    fn a_copy_is_checked_on_its_ttl_and_expires_when_its_time_left_is_up() {
        let now = Instant::now();
        let mut r = Registry::new(caps());
        let p = PeerId::random();
        // The TTL as the writer asked it is checked, not the time left.
        assert!(matches!(
            r.put_for("ns", p, None, 1, 30, 30, now),
            Err(Refusal::Ttl { ttl: 30, .. })
        ));
        r.put_for("ns", p, None, 1, 120, 10, now).unwrap();
        let l = r.get("ns", &p, now).unwrap();
        assert_eq!((l.ttl, l.ttl_left, *l.value), (120, 10, 1));
        // Time left beyond the TTL is cut to it.
        let q = PeerId::random();
        r.put_for("ns", q, None, 2, 60, 1_000, now).unwrap();
        assert_eq!(r.get("ns", &q, now).unwrap().ttl_left, 60);
        assert!(r.get("ns", &p, now + Duration::from_secs(10)).is_none());
        assert_eq!(r.expire(now + Duration::from_secs(10)), 1);
        assert!(r.has_namespace("ns"));
        assert_eq!(r.expire(now + Duration::from_secs(60)), 1);
        assert!(!r.has_namespace("ns"));
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

    /// The defaults of the relay (proto-spec/relay.md#limits).
    fn default_caps() -> Caps {
        crate::config::StoreLimits::default().caps()
    }

    fn v4(site: u8) -> IpAddr {
        [198, 51, 100, site].into()
    }

    /// An address in the `host`-th /64 of the `site`-th /48; `n` picks one of its addresses.
    fn v6(site: u16, host: u16, n: u16) -> IpAddr {
        std::net::Ipv6Addr::new(0x2001, 0xdb8, site, host, n, 0, 0, 1).into()
    }

    /// Fresh peers from `ip(i)` write into `namespace(i)` until the registry refuses one;
    /// returns how many were stored and the refusal.
    fn fill(
        r: &mut Registry<()>,
        ip: impl Fn(usize) -> IpAddr,
        namespace: impl Fn(usize) -> String,
        now: Instant,
    ) -> (usize, Refusal) {
        for i in 0..100_000 {
            if let Err(e) = r.put_from(&namespace(i), PeerId::random(), Some(ip(i)), (), 60, now) {
                return (i, e);
            }
        }
        panic!("never refused");
    }

    #[test]
    fn eight_hosts_cannot_lock_an_event() {
        let now = Instant::now();
        let c = default_caps();
        let mut r = Registry::new(c);
        let ev = |_| "event".to_owned();
        let mut held = 0;
        for site in 0..8 {
            let (n, e) = fill(&mut r, |_| v4(site), ev, now);
            held += n;
            assert!(
                matches!(e, Refusal::NamespaceShare(_) | Refusal::HostFull(_)),
                "{e:?}"
            );
        }
        // Any number past the shares while the event was under half full (the first host up
        // to its cap), one share each after that.
        assert!(
            held <= c.per_namespace / 2 + 8 * c.site_share_namespace,
            "{held}"
        );
        assert!(held < c.per_namespace);
        // A ninth host still gets its whole share.
        for _ in 0..c.site_share_namespace {
            r.put_from("event", PeerId::random(), Some(v4(9)), (), 60, now)
                .unwrap();
        }
        // And the attackers cannot take the slots it leaves: their shares are spent (the last
        // came after the half, and holds exactly its share).
        let (n, e) = fill(&mut r, |_| v4(7), ev, now);
        assert_eq!((n, e), (0, Refusal::NamespaceShare(c.site_share_namespace)));
        for site in 0..7 {
            assert_eq!(fill(&mut r, |_| v4(site), ev, now).0, 0);
        }
    }

    #[test]
    fn eight_ipv6_sites_rotating_through_their_64s_cannot_lock_an_event() {
        let now = Instant::now();
        let c = default_caps();
        let mut r = Registry::new(c);
        let mut held = 0;
        for site in 0..8u16 {
            // Every write from another /64 of the site, and another address in it.
            let (n, e) = fill(
                &mut r,
                |i| v6(site, i as u16, i as u16),
                |_| "event".to_owned(),
                now,
            );
            assert!(matches!(e, Refusal::NamespaceShare(_)), "{e:?}");
            held += n;
        }
        assert!(held <= c.per_namespace / 2 + 8 * c.site_share_namespace);
        r.put_from("event", PeerId::random(), Some(v6(99, 0, 0)), (), 60, now)
            .unwrap();
    }

    #[test]
    fn eight_hosts_cannot_lock_the_relay() {
        let now = Instant::now();
        let c = default_caps();
        let mut r = Registry::new(c);
        // Each host spreads over namespaces of 1,000 so that no event share binds first.
        let mut held = 0;
        for site in 0..8u8 {
            let (n, e) = fill(
                &mut r,
                |_| v4(site),
                |i| format!("{site}-{}", i / 1000),
                now,
            );
            assert!(
                matches!(e, Refusal::SiteShare(_) | Refusal::HostFull(_)),
                "{e:?}"
            );
            held += n;
        }
        assert!(held <= c.total / 2 + 8 * c.site_share, "{held}");
        // A ninth host gets its whole share of the relay.
        for i in 0..c.site_share {
            r.put_from(
                &format!("new-{}", i / 100),
                PeerId::random(),
                Some(v4(9)),
                (),
                60,
                now,
            )
            .unwrap();
        }
    }

    #[test]
    fn eight_ipv6_sites_rotating_through_their_64s_cannot_lock_the_relay() {
        let now = Instant::now();
        let c = default_caps();
        let mut r = Registry::new(c);
        for site in 0..8u16 {
            let (_, e) = fill(
                &mut r,
                |i| v6(site, i as u16, 0),
                |i| format!("{site}-{}", i / 1000),
                now,
            );
            assert!(matches!(e, Refusal::SiteShare(_)), "{e:?}");
        }
        assert!(r.len() <= c.total / 2 + 8 * c.site_share, "{}", r.len());
        r.put_from("new", PeerId::random(), Some(v6(99, 0, 0)), (), 60, now)
            .unwrap();
    }

    #[test]
    fn one_host_rotating_through_its_64_is_one_host() {
        let now = Instant::now();
        let mut r = Registry::new(Caps {
            per_host: 3,
            ..default_caps()
        });
        let (n, e) = fill(&mut r, |i| v6(1, 1, i as u16), |i| format!("ns-{i}"), now);
        assert_eq!((n, e), (3, Refusal::HostFull(3)));
        // The next /64 is another host.
        r.put_from("ns", PeerId::random(), Some(v6(1, 2, 0)), (), 60, now)
            .unwrap();
    }

    /// The event the defaults are sized for: 10,000 attendees, half of them behind one venue
    /// NAT and half on carriers' addresses (CGNAT pools of 50 each), arriving in any order.
    /// The shares never bind it: it stays under half of the namespace cap.
    #[test]
    fn an_event_of_10000_with_a_venue_nat_of_5000_fits_in_any_order() {
        let now = Instant::now();
        let venue = v4(1);
        let carrier = |i: usize| IpAddr::from([203, 0, 113, (i / 50) as u8]);
        // Venue first, carriers first, and interleaved.
        let orders: [Vec<bool>; 3] = [
            (0..10_000).map(|i| i < 5_000).collect(),
            (0..10_000).map(|i| i >= 5_000).collect(),
            (0..10_000).map(|i| i % 2 == 0).collect(),
        ];
        for order in orders {
            let mut r = Registry::new(default_caps());
            let (mut from_venue, mut from_carriers) = (0, 0);
            for at_venue in order {
                let ip = if at_venue {
                    from_venue += 1;
                    venue
                } else {
                    from_carriers += 1;
                    carrier(from_carriers - 1)
                };
                r.put_from("event", PeerId::random(), Some(ip), (), 300, now)
                    .unwrap();
            }
            assert_eq!((from_venue, r.len()), (5_000, 10_000));
        }
    }

    #[test]
    fn a_venue_fills_an_event_nobody_else_wants() {
        // One IPv4 NAT, thousands of attendees: it gets up to its host cap (half the event)
        // while the event is under half full; its refresh is never refused.
        let now = Instant::now();
        let c = default_caps();
        let mut r = Registry::new(c);
        let venue = v4(1);
        let first = PeerId::random();
        r.put_from("event", first, Some(venue), (), 60, now)
            .unwrap();
        let (n, e) = fill(&mut r, |_| venue, |_| "event".to_owned(), now);
        assert_eq!(n + 1, c.per_host);
        assert_eq!(e, Refusal::HostFull(c.per_host));
        r.put_from("event", first, Some(venue), (), 120, now)
            .unwrap();
        // Moving the entry to another host of a full site is checked like a new one.
        let moved = r.put_from("event", first, Some(v4(2)), (), 60, now);
        assert_eq!(moved.map(|_| ()), Ok(()));
    }
}
