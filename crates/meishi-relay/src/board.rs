//! The teaser board: sealed teasers posted under an event namespace, listed in pages.
//! proto-spec/relay.md#teaser-board
//!
//! An attendee posts its teaser sealed with a key derived from the event code
//! ([`meishi_event::EventKey::seal`]) and reads everyone else's in one request per page
//! of up to 1,024, instead of opening a relayed circuit to each attendee. The relay stores
//! opaque blobs: it cannot read them, and it lists a namespace only to someone who names it.
//!
//! Each entry keeps a **stamp**: when it was stored by the relay its client wrote to (its
//! origin), in Unix microseconds. The relays of a fleet ([`crate::fleet`]) copy entries to
//! each other with their stamps, and a copy replaces what a relay holds for the same
//! (namespace, peer) only if its stamp is higher; a client's own write always replaces (its
//! stamp is made higher than the one held).
//!
//! A client's Remove is stamped the same way, and remembered for as long as the version it
//! removed could still arrive from the fleet (a **removal**): copies stamped at or before it
//! are not stored again, and the relays of a fleet replicate it
//! (proto-spec/relay.md#removals).

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use libp2p::{PeerId, StreamProtocol};
use meishi_event::{BoardEntry, BoardErrorCode, BoardRequest, BoardResponse, MAX_BOARD_PAGE};

use crate::fleet::wire::{Entry, PullErrorCode, PullRequest, PullResponse, Removal, MAX_PULL_PAGE};
use crate::registry::{Refusal, Registry};

/// How long a removal is remembered at least (when the removed version had less time left, or
/// none was held): the TTL meishi nodes post with, so that a copy of their last version still
/// on its way from another relay is not stored again. proto-spec/relay.md#removals
pub const REMOVAL_KEPT_MIN: Duration = Duration::from_secs(300);

/// The teaser board protocol id. proto-spec/relay.md#teaser-board
pub const PROTOCOL: StreamProtocol = StreamProtocol::new(meishi_event::BOARD_PROTOCOL);

/// Outcome of one request, for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Stored,
    /// A Put of the bytes held again (a refresh): extended in place.
    Refreshed,
    Removed,
    Listed(usize),
    Refused(BoardErrorCode),
    /// Refused with [`BoardErrorCode::Full`] by this cap.
    Full(Refusal),
}

/// What the board keeps per entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Teaser {
    /// The writer's peer id and the sealed teaser (opaque to the relay), encoded once as a Get
    /// lists them and shared with every Get answer that lists it.
    pub entry: BoardEntry,
    /// When the origin relay stored this version, in Unix microseconds.
    pub stamp: u64,
}

/// What came of a copy of an entry from another relay of the fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Stored: it was new here, or newer than what was held.
    Stored,
    /// Newer than what was held but with the same sealed teaser and TTL (the same Put, as a
    /// node posting to every relay of a fleet makes it, stamped by another relay): the stamp
    /// and expiry were updated in place, and readers are not given the entry again.
    Restamped,
    /// Not newer than what is held (its stamp is equal or lower): nothing changed.
    Stale,
    /// Its TTL is outside this relay's bounds, as a client's write would be.
    BadTtl,
    /// A cap of this board refused it, as it would a client's write.
    Full(Refusal),
}

/// What came of a removal from another relay of the fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemovalApplied {
    /// The entry held was not newer than the removal: it is gone.
    Removed,
    /// No entry was held: the removal is remembered, so an older copy on its way is not stored.
    Remembered,
    /// The entry held is newer than the removal (written again since), or the removal is
    /// already known: nothing changed.
    Stale,
}

/// Removals remembered: per (namespace, peer), the removal's stamp and until when. Bounded by
/// the board's `total` cap; when full, the removal that would be forgotten first goes.
#[derive(Debug, Default)]
struct Removals {
    by_key: HashMap<(String, PeerId), (u64, Instant)>,
    by_expiry: BTreeSet<(Instant, String, PeerId)>,
}

impl Removals {
    /// The stamp of the removal of `peer`'s entry in `namespace`, if one is remembered.
    fn stamp(&self, namespace: &str, peer: &PeerId, now: Instant) -> Option<u64> {
        // Every copy and every Put asks: without removals, without building a key.
        if self.by_key.is_empty() {
            return None;
        }
        self.by_key
            .get(&(namespace.to_owned(), *peer))
            .filter(|(_, until)| *until > now)
            .map(|(stamp, _)| *stamp)
    }

    fn get(&self, namespace: &str, peer: &PeerId) -> Option<(u64, Instant)> {
        self.by_key.get(&(namespace.to_owned(), *peer)).copied()
    }

    /// Remembers a removal stamped `stamp` until `until` (the later of two removals of one
    /// entry wins, kept for the longer of the two).
    fn insert(&mut self, namespace: &str, peer: PeerId, stamp: u64, until: Instant, cap: usize) {
        let key = (namespace.to_owned(), peer);
        let (stamp, until) = match self.by_key.get(&key) {
            Some(&(s, u)) => {
                self.by_expiry.remove(&(u, key.0.clone(), peer));
                (s.max(stamp), u.max(until))
            }
            None => {
                while self.by_key.len() >= cap.max(1) {
                    let Some((_, ns, p)) = self.by_expiry.pop_first() else {
                        break;
                    };
                    self.by_key.remove(&(ns, p));
                }
                (stamp, until)
            }
        };
        self.by_expiry.insert((until, key.0.clone(), peer));
        self.by_key.insert(key, (stamp, until));
    }

    fn forget(&mut self, namespace: &str, peer: &PeerId) {
        if let Some((_, until)) = self.by_key.remove(&(namespace.to_owned(), *peer)) {
            self.by_expiry.remove(&(until, namespace.to_owned(), *peer));
        }
    }

    fn expire(&mut self, now: Instant) {
        while let Some((until, _, _)) = self.by_expiry.first() {
            if *until > now {
                break;
            }
            if let Some((_, ns, p)) = self.by_expiry.pop_first() {
                self.by_key.remove(&(ns, p));
            }
        }
    }

    fn len(&self) -> usize {
        self.by_key.len()
    }
}

/// The most bytes of entries [`Pages`] keeps gathered (a page of 1,024 teasers of 320 bytes
/// is about 370 KB; the board of an event of 10,000 read from the start is ten of them).
pub const PAGES_MAX_BYTES: usize = 8 << 20;

/// The most pages [`Pages`] keeps track of, gathered or seen once.
pub const PAGES_MAX: usize = 4_096;

/// Pages of the board answered lately. When every attendee of an event reads the whole board
/// from the start, each relay answers the same pages thousands of times: the second reader of
/// a page while it is unchanged gets it gathered into one buffer ([`BoardEntry::gathered`]),
/// and every later reader from there, without walking the registry or touching each entry's
/// own buffer. A page is dropped once it may differ from what [`Registry::page`] would
/// answer: an entry of its namespace was removed, an entry was added while it was the last
/// page, or one of its entries has expired.
#[derive(Default)]
struct Pages {
    by_ns: HashMap<String, HashMap<(u64, u16), Kept>>,
    /// Pages tracked, and the bytes of the gathered ones.
    count: usize,
    bytes: usize,
    /// Counts lookups, to find the least recently used.
    tick: u64,
}

struct Kept {
    /// `None` while seen once only.
    entries: Option<Vec<BoardEntry>>,
    next: u64,
    more: bool,
    /// [`Registry::changes`] of the namespace when it was read.
    changes: (u64, u64),
    /// When its first entry expires.
    until: Instant,
    used: u64,
}

impl Kept {
    fn bytes(&self) -> usize {
        self.entries
            .as_ref()
            .map_or(0, |e| e.iter().map(|e| e.wire().len()).sum())
    }

    fn valid(&self, changes: (u64, u64), now: Instant) -> bool {
        self.changes.0 == changes.0
            && (self.more || self.changes.1 == changes.1)
            && now < self.until
    }
}

impl Pages {
    /// The page of `namespace` from `cursor`, if one is kept that is still what the registry
    /// (whose namespace is at `changes`) answers; drops it if it is not.
    fn get(
        &mut self,
        namespace: &str,
        key: (u64, u16),
        changes: (u64, u64),
        now: Instant,
    ) -> Option<(Vec<BoardEntry>, u64, bool)> {
        self.tick += 1;
        let pages = self.by_ns.get_mut(namespace)?;
        let kept = pages.get_mut(&key)?;
        if !kept.valid(changes, now) {
            let bytes = kept.bytes();
            pages.remove(&key);
            if pages.is_empty() {
                self.by_ns.remove(namespace);
            }
            self.count -= 1;
            self.bytes -= bytes;
            return None;
        }
        kept.used = self.tick;
        let entries = kept.entries.clone()?;
        Some((entries, kept.next, kept.more))
    }

    /// A page just read from the registry: noted the first time, gathered (and returned so,
    /// for this reader too) the second.
    #[allow(
        clippy::too_many_arguments,
        reason = "the page and what it was read from"
    )]
    fn offer(
        &mut self,
        namespace: &str,
        key: (u64, u16),
        changes: (u64, u64),
        until: Instant,
        entries: Vec<BoardEntry>,
        next: u64,
        more: bool,
    ) -> Vec<BoardEntry> {
        let tick = self.tick;
        let seen = self
            .by_ns
            .get(namespace)
            .and_then(|p| p.get(&key))
            .is_some_and(|k| k.entries.is_none());
        if seen {
            // Seen once, and still valid (`get` drops it otherwise): gather it.
            let bytes: usize = entries.iter().map(|e| e.wire().len()).sum();
            if self.bytes + bytes > PAGES_MAX_BYTES {
                self.evict();
            }
            if self.bytes + bytes > PAGES_MAX_BYTES {
                return entries;
            }
            if let Some(kept) = self.by_ns.get_mut(namespace).and_then(|p| p.get_mut(&key)) {
                let gathered = BoardEntry::gathered(&entries);
                kept.entries = Some(gathered.clone());
                kept.used = tick;
                self.bytes += bytes;
                return gathered;
            }
            // Evicted just now: noted again below.
        }
        if self.count >= PAGES_MAX {
            self.evict();
        }
        let old = self.by_ns.entry(namespace.to_owned()).or_default().insert(
            key,
            Kept {
                entries: None,
                next,
                more,
                changes,
                until,
                used: tick,
            },
        );
        match old {
            Some(old) => self.bytes -= old.bytes(),
            None => self.count += 1,
        }
        entries
    }

    /// Drops the least recently used half.
    fn evict(&mut self) {
        let mut used: Vec<u64> = self
            .by_ns
            .values()
            .flat_map(|p| p.values().map(|k| k.used))
            .collect();
        used.sort_unstable();
        let Some(&median) = used.get(used.len() / 2) else {
            return;
        };
        let (mut count, mut bytes) = (0, 0);
        self.by_ns.retain(|_, pages| {
            pages.retain(|_, k| k.used > median);
            count += pages.len();
            bytes += pages.values().map(Kept::bytes).sum::<usize>();
            !pages.is_empty()
        });
        (self.count, self.bytes) = (count, bytes);
    }
}

/// The board's state.
pub struct Board {
    registry: Registry<Teaser>,
    removals: Removals,
    pages: Pages,
}

impl Board {
    pub fn new(registry: Registry<Teaser>) -> Self {
        Self {
            registry,
            removals: Removals::default(),
            pages: Pages::default(),
        }
    }

    /// A reader's page: from the pages kept when one is, else from the registry.
    fn page(
        &mut self,
        namespace: &str,
        cursor: u64,
        limit: u16,
        now: Instant,
    ) -> (Vec<BoardEntry>, u64, bool) {
        let key = (cursor, limit);
        let changes = self.registry.changes(namespace);
        if let Some(changes) = changes {
            if let Some(kept) = self.pages.get(namespace, key, changes, now) {
                return kept;
            }
        }
        let (page, next, more) = self
            .registry
            .page(namespace, cursor, usize::from(limit), now);
        let until = page.iter().map(|l| l.expires).min();
        let entries: Vec<BoardEntry> = page.iter().map(|l| l.value.entry.clone()).collect();
        match (changes, until) {
            (Some(changes), Some(until)) => {
                let entries = self
                    .pages
                    .offer(namespace, key, changes, until, entries, next, more);
                (entries, next, more)
            }
            _ => (entries, next, more),
        }
    }

    /// Removals remembered now (some may have run out since the last [`Board::expire`]).
    pub fn removals(&self) -> usize {
        self.removals.len()
    }

    /// The removal of `peer`'s entry in `namespace` as the fleet replicates it, if one is
    /// remembered: after a client's Remove, what the relay publishes.
    pub fn removal(&self, namespace: &str, peer: &PeerId, now: Instant) -> Option<Removal> {
        let (stamp, until) = self.removals.get(namespace, peer)?;
        let left = until.saturating_duration_since(now).as_secs();
        (left > 0).then(|| Removal {
            namespace: namespace.to_owned(),
            peer: *peer,
            stamp,
            left: u32::try_from(left).unwrap_or(u32::MAX),
        })
    }

    /// How long a removal of a version with `left` seconds to live is remembered: that long,
    /// at least [`REMOVAL_KEPT_MIN`], at most the board's longest TTL.
    fn kept_for(&self, left: u64) -> Duration {
        let max = self.registry.caps().max_ttl;
        Duration::from_secs(left.max(REMOVAL_KEPT_MIN.as_secs()).min(max).max(1))
    }

    /// Applies a removal from another relay of the fleet: drops `peer`'s entry unless the one
    /// held is newer, and remembers the removal so that older copies are not stored again.
    pub fn apply_removal(&mut self, removal: &Removal, now: Instant) -> RemovalApplied {
        let (ns, peer) = (removal.namespace.as_str(), &removal.peer);
        let held = self.registry.get(ns, peer, now).map(|l| l.value.stamp);
        if held.is_some_and(|h| h > removal.stamp) {
            return RemovalApplied::Stale;
        }
        if held.is_none()
            && self
                .removals
                .stamp(ns, peer, now)
                .is_some_and(|s| s >= removal.stamp)
        {
            return RemovalApplied::Stale;
        }
        let until = now + self.kept_for(u64::from(removal.left));
        let cap = self.registry.caps().total;
        self.removals
            .insert(ns, removal.peer, removal.stamp, until, cap);
        if held.is_some() && self.registry.remove(ns, peer) {
            RemovalApplied::Removed
        } else {
            RemovalApplied::Remembered
        }
    }

    pub fn registry(&self) -> &Registry<Teaser> {
        &self.registry
    }

    /// `peer`'s entry in `namespace` as the fleet copies it, if the board holds a live one.
    pub fn entry(&self, namespace: &str, peer: &PeerId, now: Instant) -> Option<Entry> {
        self.registry
            .get(namespace, peer, now)
            .map(|l| entry_of(&l))
    }

    /// Stores a copy of an entry another relay of the fleet holds, under the rules a client's
    /// write meets (the TTL bounds and every cap but the per-host ones: the origin charged the
    /// writer's host), if it is newer than what is held. The copy expires when the original
    /// does (`entry.left` seconds from now).
    pub fn apply(&mut self, namespace: &str, entry: Entry, now: Instant) -> Applied {
        let held = self.registry.get(namespace, &entry.peer, now).map(|l| {
            let same = l.value.entry.sealed() == entry.sealed && l.ttl == u64::from(entry.ttl);
            (l.value.stamp, same)
        });
        if held.is_some_and(|(h, _)| h >= entry.stamp) {
            return Applied::Stale;
        }
        // Removed since: not stored again (proto-spec/relay.md#removals).
        let removed = self.removals.stamp(namespace, &entry.peer, now);
        if removed.is_some_and(|r| r >= entry.stamp) {
            return Applied::Stale;
        }
        let peer = entry.peer;
        if held.is_some_and(|(_, same)| same) {
            let stamp = entry.stamp;
            self.registry
                .update_in_place(namespace, &peer, u64::from(entry.left), now, |t| {
                    t.stamp = stamp;
                });
            return Applied::Restamped;
        }
        let teaser = Teaser {
            entry: BoardEntry::new(&peer.to_bytes(), &entry.sealed),
            stamp: entry.stamp,
        };
        match self.registry.put_for(
            namespace,
            entry.peer,
            None,
            teaser,
            u64::from(entry.ttl),
            u64::from(entry.left),
            now,
        ) {
            Ok(_) => {
                self.removals.forget(namespace, &peer);
                Applied::Stored
            }
            Err(Refusal::Ttl { .. }) => Applied::BadTtl,
            Err(r) => Applied::Full(r),
        }
    }

    /// Answers a fleet peer's catch-up request: a page of `namespace`, as a board Get.
    pub fn pull(&self, req: &PullRequest, now: Instant) -> PullResponse {
        if req.limit == 0 || req.limit > MAX_PULL_PAGE {
            return PullResponse::Error(PullErrorCode::BadRequest);
        }
        let (page, cursor, more) =
            self.registry
                .page(&req.namespace, req.cursor, usize::from(req.limit), now);
        PullResponse::Entries {
            entries: page.iter().map(entry_of).collect(),
            cursor,
            more,
        }
    }

    pub fn expire(&mut self, now: Instant) -> usize {
        self.removals.expire(now);
        self.registry.expire(now)
    }

    /// Drops every entry of `peer`, which has had no connection for the grace period.
    pub fn forget(&mut self, peer: &PeerId) -> usize {
        self.registry.remove_peer(peer)
    }

    /// `peer` held a reservation here and has had no connection for the grace period: removes
    /// each of its entries as its own Remove would (stamped, remembered), and returns their
    /// namespaces, for the fleet. proto-spec/relay.md#removals
    pub fn depart(&mut self, peer: &PeerId, now: Instant, clock: u64) -> Vec<String> {
        let namespaces = self.registry.namespaces_of(peer);
        for namespace in &namespaces {
            let remove = BoardRequest::Remove {
                namespace: namespace.clone(),
            };
            self.handle(*peer, None, remove, now, clock);
        }
        namespaces
    }

    /// Handles a request from `peer` (the authenticated remote of the connection); `clock` is
    /// the relay's clock in Unix microseconds, which stamps a stored entry.
    pub fn handle(
        &mut self,
        peer: PeerId,
        ip: Option<IpAddr>,
        req: BoardRequest,
        now: Instant,
        clock: u64,
    ) -> (Outcome, BoardResponse) {
        match req {
            BoardRequest::Put {
                namespace,
                ttl,
                sealed,
            } => {
                // Newer than what is held, even a copy stamped by a relay whose clock is ahead,
                // and than a removal of it.
                let stamp = self.next_stamp(&namespace, &peer, now, clock);
                // The same sealed bytes again (a refresh): kept in place, not listed again to
                // every reader (proto-spec/relay.md#teaser-board).
                if self.registry.refresh_in_place(
                    &namespace,
                    &peer,
                    ip,
                    u64::from(ttl),
                    now,
                    |t| t.entry.sealed() == sealed.as_slice(),
                    |t| t.stamp = stamp,
                ) {
                    return (Outcome::Refreshed, BoardResponse::Stored { ttl });
                }
                let teaser = Teaser {
                    entry: BoardEntry::new(&peer.to_bytes(), &sealed),
                    stamp,
                };
                let done = self.put(namespace.clone(), peer, ip, teaser, ttl, now);
                if done.0 == Outcome::Stored {
                    self.removals.forget(&namespace, &peer);
                }
                done
            }
            BoardRequest::Remove { namespace } => {
                // A removal is stamped like a write, and remembered while the version it
                // removes could still come back from the fleet.
                let stamp = self.next_stamp(&namespace, &peer, now, clock);
                let left = self
                    .registry
                    .get(&namespace, &peer, now)
                    .map_or(0, |l| l.ttl_left);
                self.registry.remove(&namespace, &peer);
                let until = now + self.kept_for(left);
                let cap = self.registry.caps().total;
                self.removals.insert(&namespace, peer, stamp, until, cap);
                (Outcome::Removed, BoardResponse::Removed)
            }
            BoardRequest::Get {
                namespace,
                cursor,
                limit,
            } => {
                let (entries, cursor, more) =
                    self.page(&namespace, cursor, limit.min(MAX_BOARD_PAGE), now);
                (
                    Outcome::Listed(entries.len()),
                    BoardResponse::Entries {
                        entries,
                        cursor,
                        more,
                    },
                )
            }
        }
    }

    /// The stamp of a client's write (or removal) of `peer`'s entry: the clock, or above what
    /// is held and what was removed if either is stamped later.
    fn next_stamp(&self, namespace: &str, peer: &PeerId, now: Instant, clock: u64) -> u64 {
        let held = self
            .registry
            .get(namespace, peer, now)
            .map(|l| l.value.stamp);
        let removed = self.removals.stamp(namespace, peer, now);
        [held, removed]
            .into_iter()
            .flatten()
            .fold(clock, |s, h| s.max(h.saturating_add(1)))
    }

    fn put(
        &mut self,
        namespace: String,
        peer: PeerId,
        ip: Option<IpAddr>,
        teaser: Teaser,
        ttl: u32,
        now: Instant,
    ) -> (Outcome, BoardResponse) {
        match self
            .registry
            .put_from(&namespace, peer, ip, teaser, u64::from(ttl), now)
        {
            Ok(_) => (Outcome::Stored, BoardResponse::Stored { ttl }),
            Err(Refusal::Ttl { .. }) => (
                Outcome::Refused(BoardErrorCode::BadTtl),
                BoardResponse::Error(BoardErrorCode::BadTtl),
            ),
            Err(r) => (Outcome::Full(r), BoardResponse::Error(BoardErrorCode::Full)),
        }
    }
}

fn entry_of(l: &crate::registry::Listed<'_, Teaser>) -> Entry {
    Entry {
        peer: l.peer,
        stamp: l.value.stamp,
        ttl: u32::try_from(l.ttl).unwrap_or(u32::MAX),
        left: u32::try_from(l.ttl_left).unwrap_or(u32::MAX),
        sealed: l.value.entry.sealed().to_vec(),
    }
}

/// The codec of this service, both sides.
pub type Codec = crate::frame::FramedCodec<BoardRequest, BoardResponse>;

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test fails by panicking")]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::StoreLimits;
    use crate::registry::Caps;

    const NS: &str = "meishi-ev2-815816ad7b39e73b408b1ae9d44faa332cd650ca1b8ac12ef7a5d09468b8f0dd";

    fn board_with(caps: Caps) -> Board {
        Board::new(Registry::new(caps))
    }

    fn board() -> Board {
        board_with(StoreLimits::default().caps())
    }

    fn copy(peer: PeerId, stamp: u64, sealed: &[u8]) -> Entry {
        Entry {
            peer,
            stamp,
            ttl: 300,
            left: 300,
            sealed: sealed.to_vec(),
        }
    }

    /// A client's Put of `sealed` under [`NS`] for 300 s.
    fn client_put(sealed: &[u8]) -> BoardRequest {
        BoardRequest::Put {
            namespace: NS.into(),
            ttl: 300,
            sealed: sealed.to_vec(),
        }
    }

    fn sealed(b: &Board, peer: &PeerId, now: Instant) -> Option<Vec<u8>> {
        b.entry(NS, peer, now).map(|e| e.sealed)
    }

    #[test]
    fn a_copy_replaces_only_a_lower_stamp() {
        let now = Instant::now();
        let mut b = board();
        let p = PeerId::random();
        assert_eq!(b.apply(NS, copy(p, 100, b"v1"), now), Applied::Stored);
        // The same version again, or an older one: nothing changes.
        assert_eq!(b.apply(NS, copy(p, 100, b"v1 again"), now), Applied::Stale);
        assert_eq!(b.apply(NS, copy(p, 99, b"v0"), now), Applied::Stale);
        assert_eq!(sealed(&b, &p, now).unwrap(), b"v1");
        assert_eq!(b.apply(NS, copy(p, 101, b"v2"), now), Applied::Stored);
        let e = b.entry(NS, &p, now).unwrap();
        assert_eq!((e.stamp, e.sealed.as_slice()), (101, &b"v2"[..]));
        assert_eq!(b.registry().len(), 1);
    }

    /// Readers are answered from bytes held, never encoded per reader: the first from the
    /// entry's own buffer, the second gathers the page into one, and every later one shares it.
    #[test]
    fn every_reader_is_answered_from_the_bytes_held_not_a_copy() {
        let now = Instant::now();
        let mut b = board();
        let p = PeerId::random();
        let put = client_put(&[7; 300]);
        b.handle(p, None, put, now, 1_000);
        let get = || BoardRequest::Get {
            namespace: NS.into(),
            cursor: 0,
            limit: 10,
        };
        let mut answers = Vec::new();
        for _ in 0..3 {
            let (_, resp) = b.handle(PeerId::random(), None, get(), now, 1_001);
            let BoardResponse::Entries { mut entries, .. } = resp else {
                panic!("{resp:?}")
            };
            let e = entries.remove(0);
            assert_eq!((e.peer(), e.sealed().len()), (&p.to_bytes()[..], 300));
            answers.push(e);
        }
        let held = b
            .registry()
            .get(NS, &p, now)
            .unwrap()
            .value
            .entry
            .wire()
            .as_ptr();
        assert_eq!(answers[0].wire().as_ptr(), held);
        assert_ne!(answers[1].wire().as_ptr(), held);
        assert_eq!(answers[1].wire().as_ptr(), answers[2].wire().as_ptr());
    }

    /// A node of a sharded fleet posts the same sealed teaser to every relay, each stamps it,
    /// and each copies it to the others: a copy of the same teaser with a higher stamp takes
    /// the stamp and the time left, but is not listed to readers again.
    #[test]
    fn a_newer_copy_of_the_same_teaser_is_restamped_not_listed_again() {
        let now = Instant::now();
        let mut b = board();
        let p = PeerId::random();
        let put = client_put(b"same");
        b.handle(p, None, put, now, 1_000);
        let (page, cursor, _) = b.registry().page(NS, 0, 10, now);
        assert_eq!(page.len(), 1);
        let later = Entry {
            left: 250,
            ..copy(p, 2_000, b"same")
        };
        assert_eq!(b.apply(NS, later, now), Applied::Restamped);
        let e = b.entry(NS, &p, now).unwrap();
        assert_eq!((e.stamp, e.left), (2_000, 250));
        assert!(
            b.registry().page(NS, cursor, 10, now).0.is_empty(),
            "not listed again"
        );
        // It expires when the copy says, and an older copy is still stale.
        assert_eq!(b.apply(NS, copy(p, 1_500, b"same"), now), Applied::Stale);
        assert_eq!(b.expire(now + Duration::from_secs(250)), 1);
        // Another teaser, or another TTL, is a new version: listed again.
        b.apply(NS, copy(p, 3_000, b"same"), now);
        let (_, cursor, _) = b.registry().page(NS, 0, 10, now);
        let other_ttl = Entry {
            ttl: 600,
            left: 600,
            ..copy(p, 4_000, b"same")
        };
        assert_eq!(b.apply(NS, other_ttl, now), Applied::Stored);
        assert_eq!(b.registry().page(NS, cursor, 10, now).0.len(), 1);
    }

    fn get(b: &mut Board, cursor: u64, limit: u16, now: Instant) -> (Vec<BoardEntry>, u64, bool) {
        let req = BoardRequest::Get {
            namespace: NS.into(),
            cursor,
            limit,
        };
        match b.handle(PeerId::random(), None, req, now, 1).1 {
            BoardResponse::Entries {
                entries,
                cursor,
                more,
            } => (entries, cursor, more),
            other => panic!("{other:?}"),
        }
    }

    /// Whether `entries` lie one after the other in one buffer (a gathered page).
    fn adjacent(entries: &[BoardEntry]) -> bool {
        entries.windows(2).all(|w| {
            w[0].wire().as_ptr() as usize + w[0].wire().len() == w[1].wire().as_ptr() as usize
        })
    }

    #[test]
    fn the_second_reader_of_a_page_gathers_it_for_every_later_one() {
        let now = Instant::now();
        let mut b = board();
        for n in 0..20u8 {
            b.handle(PeerId::random(), None, client_put(&[n; 100]), now, 1_000);
        }
        let first = get(&mut b, 0, 8, now);
        assert!(
            !adjacent(&first.0),
            "the first reader gets the entries held"
        );
        let second = get(&mut b, 0, 8, now);
        let third = get(&mut b, 0, 8, now);
        assert_eq!(first, second);
        assert_eq!(second, third);
        assert!(adjacent(&second.0));
        assert_eq!(second.0[0].wire().as_ptr(), third.0[0].wire().as_ptr());
        // A page further on is its own.
        let (rest, _, more) = get(&mut b, first.1, 1_024, now);
        assert_eq!((rest.len(), more), (12, false));
    }

    /// Whatever happens to the board (writes, refreshes, removals, time passing with and
    /// without a sweep), a Get answers what the registry holds at that moment, pages kept or
    /// not; and pages are kept and gathered along the way.
    #[test]
    fn pages_kept_always_answer_what_the_registry_holds() {
        let t0 = Instant::now();
        let mut now = t0;
        let mut b = board();
        let peers: Vec<PeerId> = (0..24).map(|_| PeerId::random()).collect();
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut rand = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        // Busy stretches of writes, and quiet ones of reads while time passes (pages are kept
        // long enough for their entries to expire, swept or not).
        let quiet = |step: u64| (step / 500) % 2 == 1;
        let mut cursors = vec![0u64];
        let (mut reads, mut gathered) = (0, 0);
        for step in 0..20_000u64 {
            let r = rand();
            let p = peers[(r % 24) as usize];
            let clock = 1_000 + step;
            let op = match (r >> 8) % 16 {
                0..=3 if quiet(step) => 4,
                op => op,
            };
            match op {
                0..=2 => {
                    // One of three teasers, with one of two TTLs: often the same bytes.
                    let put = BoardRequest::Put {
                        namespace: NS.into(),
                        ttl: if (r >> 16) % 4 == 0 { 60 } else { 300 },
                        sealed: vec![((r >> 20) % 3) as u8; 50 + (r >> 24) as usize % 50],
                    };
                    b.handle(p, None, put, now, clock);
                }
                3 => {
                    let remove = BoardRequest::Remove {
                        namespace: NS.into(),
                    };
                    b.handle(p, None, remove, now, clock);
                }
                4 => {
                    now += Duration::from_secs((r >> 16) % 30);
                    if (r >> 24) % 4 == 0 {
                        b.expire(now);
                    }
                }
                _ => {
                    let cursor = cursors[(r >> 16) as usize % cursors.len()];
                    let limit = [1, 3, 8, 1_024][(r >> 32) as usize % 4];
                    let (want, want_next, want_more) = b.registry().page(NS, cursor, limit, now);
                    let want: Vec<&[u8]> = want.iter().map(|l| &l.value.entry.wire()[..]).collect();
                    let want = (want.concat(), want.len(), want_next, want_more);
                    let (got, next, more) = get(&mut b, cursor, limit as u16, now);
                    let wires: Vec<&[u8]> = got.iter().map(|e| &e.wire()[..]).collect();
                    assert_eq!(
                        (wires.concat(), got.len(), next, more),
                        want,
                        "step {step}: a Get from {cursor} for {limit}"
                    );
                    reads += 1;
                    if got.len() > 1 && adjacent(&got) {
                        gathered += 1;
                    }
                    if cursors.len() < 32 {
                        cursors.push(next);
                    } else {
                        cursors[(r >> 40) as usize % 32] = next;
                    }
                }
            }
        }
        // The board changes every few steps here, so most pages are not read twice while
        // they hold; enough are to check the pages kept against the registry.
        assert!(
            gathered > reads / 50,
            "{gathered} of {reads} reads answered from a gathered page"
        );
    }

    /// A node posts the same sealed bytes every half TTL: the relay extends the entry where it
    /// is, so a reader past it does not read it again, and the fleet still gets a newer stamp.
    #[test]
    fn a_clients_refresh_of_the_same_bytes_keeps_its_place() {
        let now = Instant::now();
        let mut b = board();
        let p = PeerId::random();
        let ip: Option<IpAddr> = Some("198.51.100.7".parse().unwrap());
        let read = |b: &Board, cursor| b.registry().page(NS, cursor, 10, now).0.len();
        b.handle(p, ip, client_put(b"mine"), now, 1_000);
        let (page, cursor, _) = b.registry().page(NS, 0, 10, now);
        assert_eq!(page.len(), 1);
        let later = now + Duration::from_secs(150);
        let (outcome, resp) = b.handle(p, ip, client_put(b"mine"), later, 2_000);
        assert_eq!(
            (outcome, resp),
            (Outcome::Refreshed, BoardResponse::Stored { ttl: 300 })
        );
        assert_eq!(read(&b, cursor), 0, "not listed again");
        let e = b.entry(NS, &p, later).unwrap();
        assert_eq!(
            (e.stamp, e.left),
            (2_000, 300),
            "newer stamp, full TTL again"
        );
        assert_eq!(b.registry().len(), 1);
        // It lives 300 s from the refresh, not from the first write.
        assert_eq!(b.expire(now + Duration::from_secs(300)), 0);
        assert!(b.entry(NS, &p, now + Duration::from_secs(449)).is_some());
        // Other bytes, another TTL, or the same bytes from another host: a new version.
        let cases = [
            (client_put(b"changed"), ip),
            (
                BoardRequest::Put {
                    namespace: NS.into(),
                    ttl: 600,
                    sealed: b"changed".to_vec(),
                },
                ip,
            ),
            (
                BoardRequest::Put {
                    namespace: NS.into(),
                    ttl: 600,
                    sealed: b"changed".to_vec(),
                },
                Some("203.0.113.9".parse().unwrap()),
            ),
        ];
        let mut cursor = cursor;
        for (n, (put, from)) in cases.into_iter().enumerate() {
            let (outcome, _) = b.handle(p, from, put, later, 3_000 + n as u64);
            assert_eq!(outcome, Outcome::Stored);
            assert_eq!(read(&b, cursor), 1, "case {n} is listed again");
            cursor = b.registry().page(NS, cursor, 10, now).1;
        }
    }

    #[test]
    fn a_clients_write_is_newer_than_any_copy_held() {
        let now = Instant::now();
        let mut b = board();
        let p = PeerId::random();
        // A copy stamped by a relay whose clock runs ahead of this one.
        b.apply(NS, copy(p, 5_000, b"copy"), now);
        let put = client_put(b"mine");
        let (outcome, _) = b.handle(p, None, put.clone(), now, 1_000);
        assert_eq!(outcome, Outcome::Stored);
        let e = b.entry(NS, &p, now).unwrap();
        assert_eq!((e.stamp, e.sealed.as_slice()), (5_001, &b"mine"[..]));
        // With nothing held, the write takes the clock.
        let q = PeerId::random();
        b.handle(q, None, put, now, 1_000);
        assert_eq!(b.entry(NS, &q, now).unwrap().stamp, 1_000);
    }

    #[test]
    fn copies_meet_the_ttl_bounds_and_the_caps_and_end_with_the_original() {
        let now = Instant::now();
        let mut b = board_with(Caps {
            per_namespace: 2,
            ..StoreLimits::default().caps()
        });
        let short = Entry {
            ttl: 59,
            left: 59,
            ..copy(PeerId::random(), 1, b"x")
        };
        assert_eq!(b.apply(NS, short, now), Applied::BadTtl);
        // Asked for 300 s, of which 5 are left: gone when the original is.
        let p = PeerId::random();
        let late = Entry {
            left: 5,
            ..copy(p, 1, b"x")
        };
        assert_eq!(b.apply(NS, late, now), Applied::Stored);
        let e = b.entry(NS, &p, now).unwrap();
        assert_eq!((e.ttl, e.left), (300, 5));
        b.apply(NS, copy(PeerId::random(), 1, b"y"), now);
        assert!(matches!(
            b.apply(NS, copy(PeerId::random(), 1, b"z"), now),
            Applied::Full(Refusal::NamespaceFull(2))
        ));
        assert_eq!(b.expire(now + Duration::from_secs(6)), 1);
        assert_eq!(b.entry(NS, &p, now + Duration::from_secs(6)), None);
    }

    fn remove(b: &mut Board, p: PeerId, now: Instant, clock: u64) -> Removal {
        let (outcome, resp) = b.handle(
            p,
            None,
            BoardRequest::Remove {
                namespace: NS.into(),
            },
            now,
            clock,
        );
        assert_eq!((outcome, resp), (Outcome::Removed, BoardResponse::Removed));
        b.removal(NS, &p, now).unwrap()
    }

    #[test]
    fn a_clients_remove_is_stamped_like_a_write_and_keeps_older_copies_out() {
        let now = Instant::now();
        let mut b = board();
        let p = PeerId::random();
        // Held: a copy stamped ahead of this relay's clock, with 200 s left.
        let held = Entry {
            left: 200,
            ..copy(p, 5_000, b"v1")
        };
        b.apply(NS, held, now);
        let r = remove(&mut b, p, now, 1_000);
        assert_eq!(
            (r.stamp, r.left),
            (5_001, 300),
            "above the held stamp, kept 300 s"
        );
        assert_eq!(sealed(&b, &p, now), None);
        // The version removed, or an older one, arriving later (gossip, catch-up): not stored.
        assert_eq!(b.apply(NS, copy(p, 5_000, b"v1"), now), Applied::Stale);
        assert_eq!(b.apply(NS, copy(p, 5_001, b"v1"), now), Applied::Stale);
        assert_eq!(sealed(&b, &p, now), None);
        // A version written after the removal is.
        assert_eq!(b.apply(NS, copy(p, 5_002, b"v2"), now), Applied::Stored);
        assert_eq!(b.removals(), 0, "a newer version ends the removal");
        // The client writing again replaces a removal stamped ahead of the clock.
        remove(&mut b, p, now, 1_000);
        let put = client_put(b"v3");
        assert_eq!(b.handle(p, None, put, now, 1_000).0, Outcome::Stored);
        assert_eq!(b.entry(NS, &p, now).unwrap().stamp, 5_004);
        // Remembered for as long as the removed version had left, at least 300 s.
        let long = Entry {
            ttl: 3_600,
            left: 3_000,
            ..copy(p, 9_000, b"v4")
        };
        b.apply(NS, long, now);
        assert_eq!(remove(&mut b, p, now, 1_000).left, 3_000);
        b.expire(now + Duration::from_secs(2_999));
        assert_eq!(b.removals(), 1);
        b.expire(now + Duration::from_secs(3_000));
        assert_eq!(b.removals(), 0);
    }

    #[test]
    fn a_removal_from_the_fleet_drops_only_versions_not_newer_and_is_idempotent() {
        let now = Instant::now();
        let mut b = board();
        let p = PeerId::random();
        b.apply(NS, copy(p, 100, b"v1"), now);
        let removal = |stamp| Removal {
            namespace: NS.into(),
            peer: p,
            stamp,
            left: 300,
        };
        // Older than what is held (written again since): nothing changes.
        assert_eq!(b.apply_removal(&removal(99), now), RemovalApplied::Stale);
        assert_eq!(sealed(&b, &p, now).unwrap(), b"v1");
        // Not older: gone, and again is a no-op.
        assert_eq!(b.apply_removal(&removal(100), now), RemovalApplied::Removed);
        assert_eq!(sealed(&b, &p, now), None);
        assert_eq!(b.apply_removal(&removal(100), now), RemovalApplied::Stale);
        assert_eq!(b.registry().len(), 0);
        // A removal that arrives before the version it removes keeps that version out.
        let q = PeerId::random();
        let early = Removal {
            peer: q,
            ..removal(200)
        };
        assert_eq!(b.apply_removal(&early, now), RemovalApplied::Remembered);
        assert_eq!(b.apply(NS, copy(q, 150, b"late"), now), Applied::Stale);
        assert_eq!(sealed(&b, &q, now), None);
        // Forgotten once its time is up.
        b.expire(now + Duration::from_secs(300));
        assert_eq!(b.removals(), 0);
    }

    #[test]
    fn removals_remembered_are_bounded_by_the_total_cap() {
        let now = Instant::now();
        let mut b = board_with(Caps {
            total: 3,
            ..StoreLimits::default().caps()
        });
        let peers: Vec<PeerId> = (0..5).map(|_| PeerId::random()).collect();
        for (i, p) in peers.iter().enumerate() {
            let r = Removal {
                namespace: NS.into(),
                peer: *p,
                stamp: 1,
                left: 300 + i as u32,
            };
            b.apply_removal(&r, now);
        }
        assert_eq!(b.removals(), 3);
        // The ones that would have been forgotten first went.
        assert!(b.removal(NS, &peers[0], now).is_none());
        assert!(b.removal(NS, &peers[4], now).is_some());
    }

    #[test]
    fn pulls_page_like_gets() {
        let now = Instant::now();
        let mut b = board();
        for i in 0..3u8 {
            b.apply(NS, copy(PeerId::random(), 1, &[i]), now);
        }
        let req = |cursor, limit| PullRequest {
            namespace: NS.into(),
            cursor,
            limit,
        };
        let PullResponse::Entries {
            entries,
            cursor,
            more,
        } = b.pull(&req(0, 2), now)
        else {
            panic!()
        };
        assert_eq!((entries.len(), more), (2, true));
        let PullResponse::Entries { entries, more, .. } = b.pull(&req(cursor, 2), now) else {
            panic!()
        };
        assert_eq!((entries.len(), more), (1, false));
        assert_eq!(entries[0].sealed, [2]);
        assert_eq!(
            b.pull(&req(0, 0), now),
            PullResponse::Error(PullErrorCode::BadRequest)
        );
    }
}
