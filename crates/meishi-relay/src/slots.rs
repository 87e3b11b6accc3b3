//! The slot store: card slot records kept for their owners' contacts, served over
//! `/meishi/slot/1`. proto-spec/slot.md#relay-protocol
//!
//! An owner puts a [`SlotRecord`] (its card sealed under a key the relay never sees, signed by
//! a random slot key); its contacts get it by slot id, typically while the owner is offline.
//! So, unlike board entries, records are **not** tied to the connection that wrote them: they
//! live until they expire (at most `max_lifetime` ahead, 90 days by default) or a higher `seq`
//! replaces them.
//!
//! **What the store holds.** Per record: the slot id, `seq`, `expires_at`, the record's exact
//! bytes, and an opaque charge (two 64-bit tags, keyed hashes of the writer's host and site
//! under a random key drawn when the relay starts) so that the host's count can be released
//! when the record goes. No peer id, no IP address, no identity: a slot id is a random key.
//! After a record expires the relay remembers its slot id and `seq` (a tombstone) for
//! `max_lifetime`, so a replayed older record cannot take the slot back.
//!
//! **Across restarts.** A store opened with [`Slots::load`] writes every record and tombstone
//! it keeps or lets go through to the relay's [`Disk`] (the charges are not written: see
//! [`crate::disk`]) and starts from what the file still holds that is valid.
//!
//! **Caps.** Records are charged to the host that wrote them (an IPv4 address, an IPv6 /64),
//! at most `per_host` each; a site (an IPv4 address, an IPv6 /48) holds more than
//! `site_share` only while the store is under half full; `total` records in all. A slot id
//! costs nothing to make, so nothing counts per slot or per peer. A republish from the same host
//! is never refused for a cap.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;

use libp2p::StreamProtocol;
use meishi_event::{
    SlotError, SlotId, SlotRecord, SlotRefusal, SlotRequest, SlotResponse, MAX_SLOT_GET,
};

use crate::disk::{Disk, OpenError, SlotState};
use crate::prefix;
use crate::registry::{count_down, count_up, within_share};

/// The slot protocol id. proto-spec/slot.md#relay-protocol
pub const PROTOCOL: StreamProtocol = StreamProtocol::new(meishi_event::SLOT_PROTOCOL);

/// Caps of the slot store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Records in all.
    pub total: usize,
    /// Records charged to one host (an IPv4 address or an IPv6 /64), all its peers together.
    pub per_host: usize,
    /// Records one site (an IPv4 address or an IPv6 /48) always gets; more only while the
    /// store holds fewer than half of `total`.
    pub site_share: usize,
    /// How far ahead of the relay's clock a record may expire, in seconds.
    pub max_lifetime: u64,
}

/// Why a put was refused. Cap refusals carry the count that was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    #[error("the record does not verify: {0}")]
    Malformed(#[source] SlotError),
    #[error("this slot's record has seq {kept}; {seq} is older")]
    Older { kept: u64, seq: u64 },
    #[error("this slot already holds another record with seq {0}; the first is kept")]
    Equivocation(u64),
    #[error("the record expired at {expires_at} (Unix seconds)")]
    Expired { expires_at: u64 },
    #[error("the record expires at {expires_at}, after {max}, the furthest this relay keeps")]
    TooFarAhead { expires_at: u64, max: u64 },
    #[error("this host (IPv4 address or IPv6 /64) already holds {0} records")]
    HostFull(usize),
    #[error("this site already holds {0} records, its share of the relay")]
    SiteShare(usize),
    #[error("the relay already holds {0} records")]
    TotalFull(usize),
}

impl Refusal {
    /// The cap that refused, as the `cap` label of the refusal metrics; none for a record
    /// refused for what it is.
    pub fn cap(&self) -> Option<&'static str> {
        match self {
            Refusal::HostFull(_) => Some("per_host"),
            Refusal::SiteShare(_) => Some("site_share"),
            Refusal::TotalFull(_) => Some("total"),
            _ => None,
        }
    }

    /// The refusal as the wire says it.
    pub fn code(&self) -> SlotRefusal {
        match self {
            Refusal::Malformed(_) => SlotRefusal::Malformed,
            Refusal::Older { .. } => SlotRefusal::Older,
            Refusal::Equivocation(_) => SlotRefusal::Equivocation,
            Refusal::Expired { .. } => SlotRefusal::Expired,
            Refusal::TooFarAhead { .. } => SlotRefusal::TooFarAhead,
            Refusal::HostFull(_) | Refusal::SiteShare(_) | Refusal::TotalFull(_) => {
                SlotRefusal::Full
            }
        }
    }
}

/// What a put did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// The slot had no record.
    New,
    /// A record of higher `seq` replaced the kept one.
    Replaced,
    /// The relay already kept these exact bytes.
    Same,
}

/// Outcome of one request, for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Stored(Stored),
    /// A Get answered with this many records.
    Listed(usize),
    Refused(Refusal),
}

/// Whom a record is charged to: keyed hashes of the writer's host and site prefixes. The key
/// is random per process and never stored, so the store does not hold writers' addresses; nor
/// does the disk hold the tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Charge {
    host: u64,
    site: u64,
}

/// One kept record.
#[derive(Debug)]
struct Kept {
    seq: u64,
    expires_at: u64,
    /// The exact bytes the owner put: the record, sealed card and signature included.
    bytes: Box<[u8]>,
    /// None for a writer without an IP address, or for a record loaded from disk (charged to
    /// nothing but the total).
    charge: Option<Charge>,
}

/// The store. Not thread-safe: owned by the relay's event loop. Times are Unix seconds.
#[derive(Debug)]
pub struct Slots {
    caps: Caps,
    records: HashMap<SlotId, Kept>,
    /// (expires_at, slot) of every kept record, for the sweep.
    expiry: BTreeSet<(u64, SlotId)>,
    /// Slot id -> (highest seq, when to forget it) of records that expired; at most `total`.
    tombstones: HashMap<SlotId, (u64, u64)>,
    forget: BTreeSet<(u64, SlotId)>,
    /// Records charged to each host tag and each site tag.
    hosts: HashMap<u64, usize>,
    sites: HashMap<u64, usize>,
    tags: RandomState,
    /// The durable copy, if the relay keeps one.
    disk: Option<Disk>,
}

impl Slots {
    /// A store in memory only.
    pub fn new(caps: Caps) -> Self {
        Self {
            caps,
            records: HashMap::new(),
            expiry: BTreeSet::new(),
            tombstones: HashMap::new(),
            forget: BTreeSet::new(),
            hosts: HashMap::new(),
            sites: HashMap::new(),
            tags: RandomState::new(),
            disk: None,
        }
    }

    /// A store that keeps its durable copy in `disk`, starting from what it holds: records and
    /// tombstones still valid at `now` are loaded (charged to no host), the rest is deleted.
    /// When the file holds more than `total` records (a lower cap than when they were put),
    /// those that expire last are kept and the others are let go as if expired.
    pub fn load(caps: Caps, disk: Disk, now: u64) -> Result<Self, OpenError> {
        let mut s = Slots::new(caps);
        let (mut records, mut tombstones) = (Vec::new(), Vec::new());
        disk.load_slots(|r| records.push(r), |t| tombstones.push(t))?;
        let mut touched = Vec::new();
        // Soonest due first: past `total`, burying forgets the soonest due.
        tombstones.sort_unstable_by_key(|t| t.forget_at);
        for t in tombstones {
            if t.forget_at <= now {
                touched.push(t.id);
            } else {
                s.bury(t.id, t.seq, t.forget_at, &mut touched);
            }
        }
        records.sort_unstable_by_key(|r| Reverse(r.expires_at));
        for (i, r) in records.into_iter().enumerate() {
            if i >= caps.total {
                let until = r.expires_at.saturating_add(caps.max_lifetime);
                s.bury(r.id, r.seq, until, &mut touched);
                touched.push(r.id);
                continue;
            }
            // The relay never writes both for one slot; the record wins.
            if let Some((_, at)) = s.tombstones.remove(&r.id) {
                s.forget.remove(&(at, r.id));
                touched.push(r.id);
            }
            s.expiry.insert((r.expires_at, r.id));
            s.records.insert(
                r.id,
                Kept {
                    seq: r.seq,
                    expires_at: r.expires_at,
                    bytes: r.record.into(),
                    charge: None,
                },
            );
        }
        s.expire_into(now, &mut touched);
        s.disk = Some(disk);
        // Only what changed is written: a record loaded as it was is not written again.
        s.sync(touched);
        Ok(s)
    }

    /// Writes the state of the slots in `touched` to the disk, in one transaction.
    fn sync(&self, mut touched: Vec<SlotId>) {
        let Some(disk) = &self.disk else {
            return;
        };
        touched.sort_unstable();
        touched.dedup();
        let states: Vec<SlotState<'_>> = touched
            .into_iter()
            .map(|id| SlotState {
                id,
                record: self
                    .records
                    .get(&id)
                    .map(|k| (k.seq, k.expires_at, &k.bytes[..])),
                tombstone: self.tombstones.get(&id).copied(),
            })
            .collect();
        disk.write_slots(&states);
    }

    pub fn caps(&self) -> Caps {
        self.caps
    }

    /// Records held now (some may have expired since the last [`Slots::expire`]).
    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    fn charge_of(&self, ip: IpAddr) -> Charge {
        Charge {
            host: self.tags.hash_one(prefix::host(ip)),
            site: self.tags.hash_one(prefix::site(ip)),
        }
    }

    /// Verifies `bytes` as a slot record and keeps it if it is the highest `seq` of its slot
    /// (proto-spec/slot.md#what-a-relay-keeps), charged to the host of `ip`. Returns what it
    /// did and the record's `seq`.
    pub fn put(
        &mut self,
        bytes: &[u8],
        ip: Option<IpAddr>,
        now: u64,
    ) -> Result<(Stored, u64), Refusal> {
        let record = SlotRecord::decode(bytes).map_err(Refusal::Malformed)?;
        let (id, seq, expires_at) = (record.slot(), record.seq(), record.expires_at());
        if record.is_expired(now) {
            return Err(Refusal::Expired { expires_at });
        }
        let max = now.saturating_add(self.caps.max_lifetime);
        if expires_at > max {
            return Err(Refusal::TooFarAhead { expires_at, max });
        }
        let old = self.records.get(&id);
        match old {
            Some(k) if seq < k.seq => return Err(Refusal::Older { kept: k.seq, seq }),
            Some(k) if seq == k.seq && *k.bytes == *bytes => return Ok((Stored::Same, seq)),
            Some(k) if seq == k.seq => return Err(Refusal::Equivocation(seq)),
            Some(_) => {}
            None => {
                if let Some(&(kept, _)) = self.tombstones.get(&id) {
                    if seq <= kept {
                        return Err(Refusal::Older { kept, seq });
                    }
                }
            }
        }
        let c = self.caps;
        let charge = ip.map(|ip| self.charge_of(ip));
        let old_charge = old.and_then(|k| k.charge);
        // The caps of where it comes from, unless it is a republish from the same host.
        let moved = old.is_none() || old_charge.map(|o| o.host) != charge.map(|o| o.host);
        if let Some(ch) = charge.filter(|_| moved) {
            let from_host = self.hosts.get(&ch.host).copied().unwrap_or(0);
            if from_host >= c.per_host {
                return Err(Refusal::HostFull(from_host));
            }
            // A replacement does not grow the store, nor a move within one site that site.
            let others = self.records.len() - usize::from(old.is_some());
            let same_site = usize::from(old_charge.map(|o| o.site) == Some(ch.site));
            let site = self.sites.get(&ch.site).copied().unwrap_or(0);
            if !within_share(site - same_site, c.site_share, others, c.total) {
                return Err(Refusal::SiteShare(site));
            }
        }
        let stored = if old.is_some() {
            self.remove(&id);
            Stored::Replaced
        } else {
            if self.records.len() >= c.total {
                return Err(Refusal::TotalFull(self.records.len()));
            }
            Stored::New
        };
        if let Some((_, at)) = self.tombstones.remove(&id) {
            self.forget.remove(&(at, id));
        }
        if let Some(ch) = charge {
            count_up(&mut self.hosts, ch.host);
            count_up(&mut self.sites, ch.site);
        }
        self.expiry.insert((expires_at, id));
        self.records.insert(
            id,
            Kept {
                seq,
                expires_at,
                bytes: bytes.into(),
                charge,
            },
        );
        self.sync(vec![id]);
        Ok((stored, seq))
    }

    /// The unexpired records of `slots` (at most [`MAX_SLOT_GET`] are looked at), in the
    /// order asked; slots without one are left out.
    pub fn get(&self, slots: &[SlotId], now: u64) -> Vec<Vec<u8>> {
        slots
            .iter()
            .take(MAX_SLOT_GET)
            .filter_map(|id| self.records.get(id))
            .filter(|k| now < k.expires_at)
            .map(|k| k.bytes.to_vec())
            .collect()
    }

    /// Removes a kept record and releases its charge.
    fn remove(&mut self, id: &SlotId) -> Option<Kept> {
        let k = self.records.remove(id)?;
        self.expiry.remove(&(k.expires_at, *id));
        if let Some(ch) = k.charge {
            count_down(&mut self.hosts, &ch.host);
            count_down(&mut self.sites, &ch.site);
        }
        Some(k)
    }

    /// Drops every record that has expired at `now`, remembering its slot and `seq` for
    /// `max_lifetime`, and forgets tombstones whose time is up. Returns how many records went.
    pub fn expire(&mut self, now: u64) -> usize {
        let mut touched = Vec::new();
        let gone = self.expire_into(now, &mut touched);
        self.sync(touched);
        gone
    }

    /// [`Slots::expire`], adding the slots it changed to `touched`.
    fn expire_into(&mut self, now: u64, touched: &mut Vec<SlotId>) -> usize {
        let due: Vec<SlotId> = self
            .expiry
            .range(..=(now, SlotId([0xff; 32])))
            .map(|(_, id)| *id)
            .collect();
        for id in &due {
            if let Some(k) = self.remove(id) {
                self.bury(
                    *id,
                    k.seq,
                    k.expires_at.saturating_add(self.caps.max_lifetime),
                    touched,
                );
            }
        }
        touched.extend_from_slice(&due);
        while let Some(&(at, id)) = self.forget.first() {
            if at > now {
                break;
            }
            self.forget.remove(&(at, id));
            self.tombstones.remove(&id);
            touched.push(id);
        }
        due.len()
    }

    /// Remembers that `id` held `seq`, until `until`. At most `total` tombstones: past that,
    /// the one due soonest is forgotten first (added to `touched`).
    fn bury(&mut self, id: SlotId, seq: u64, until: u64, touched: &mut Vec<SlotId>) {
        if let Some((_, at)) = self.tombstones.remove(&id) {
            self.forget.remove(&(at, id));
        }
        while self.tombstones.len() >= self.caps.total {
            let Some((_, old)) = self.forget.pop_first() else {
                break;
            };
            self.tombstones.remove(&old);
            touched.push(old);
        }
        self.tombstones.insert(id, (seq, until));
        self.forget.insert((until, id));
    }

    /// Handles a request written from `ip` at `now` (Unix seconds). The writer's peer id is not
    /// an argument: the store never learns it.
    pub fn handle(
        &mut self,
        ip: Option<IpAddr>,
        req: SlotRequest,
        now: u64,
    ) -> (Outcome, SlotResponse) {
        match req {
            SlotRequest::Put { record } => match self.put(&record, ip, now) {
                Ok((stored, seq)) => (Outcome::Stored(stored), SlotResponse::PutOk { seq }),
                Err(r) => (Outcome::Refused(r), SlotResponse::Refused(r.code())),
            },
            SlotRequest::Get { slots } => {
                let records = self.get(&slots, now);
                (
                    Outcome::Listed(records.len()),
                    SlotResponse::Records { records },
                )
            }
        }
    }
}

/// The codec of this service, both sides.
pub type Codec = crate::frame::FramedCodec<SlotRequest, SlotResponse>;

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test fails by panicking")]
mod tests {
    use super::*;
    use meishi_event::{SlotKey, SlotSealKey};

    const NOW: u64 = 1_700_000_000;
    const DAY: u64 = 24 * 60 * 60;

    fn caps() -> Caps {
        Caps {
            total: 100,
            per_host: 100,
            site_share: 100,
            max_lifetime: 90 * DAY,
        }
    }

    /// The slot of seed `n`.
    fn key(n: u8) -> SlotKey {
        SlotKey::from_seed(&[n; 32])
    }

    /// A record of slot `n` with `seq`, expiring at `expires_at`, sealing `card`.
    fn record_of(n: u8, seq: u64, expires_at: u64, card: &[u8]) -> Vec<u8> {
        SlotRecord::seal(
            &key(n),
            &SlotSealKey::from_bytes([0xc2; 32]),
            seq,
            expires_at,
            card,
            [seq as u8; 24],
        )
        .unwrap()
        .as_bytes()
        .to_vec()
    }

    fn record(n: u8, seq: u64) -> Vec<u8> {
        record_of(n, seq, NOW + DAY, b"card")
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn highest_seq_wins_and_older_is_refused() {
        let mut s = Slots::new(caps());
        let a = ip("192.0.2.1");
        assert_eq!(s.put(&record(1, 5), a, NOW), Ok((Stored::New, 5)));
        assert_eq!(s.put(&record(1, 5), a, NOW), Ok((Stored::Same, 5)));
        assert_eq!(
            s.put(&record(1, 4), a, NOW),
            Err(Refusal::Older { kept: 5, seq: 4 })
        );
        assert_eq!(s.put(&record(1, 9), a, NOW), Ok((Stored::Replaced, 9)));
        assert_eq!(
            s.put(&record(1, 5), a, NOW),
            Err(Refusal::Older { kept: 9, seq: 5 })
        );
        assert_eq!(s.len(), 1);
        assert_eq!(s.get(&[key(1).id()], NOW), vec![record(1, 9)]);
        // Another slot is never compared.
        assert_eq!(s.put(&record(2, 1), a, NOW), Ok((Stored::New, 1)));
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn equivocation_keeps_the_first() {
        let mut s = Slots::new(caps());
        let first = record_of(1, 3, NOW + DAY, b"first card");
        let second = record_of(1, 3, NOW + DAY, b"second card");
        assert_eq!(s.put(&first, None, NOW), Ok((Stored::New, 3)));
        assert_eq!(s.put(&second, None, NOW), Err(Refusal::Equivocation(3)));
        assert_eq!(s.get(&[key(1).id()], NOW), vec![first]);
    }

    #[test]
    fn malformed_expired_and_too_far_ahead_are_refused() {
        let mut s = Slots::new(caps());
        let mut bad = record(1, 1);
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(
            s.put(&bad, None, NOW),
            Err(Refusal::Malformed(SlotError::BadSignature))
        );
        assert_eq!(
            s.put(&[], None, NOW),
            Err(Refusal::Malformed(SlotError::Empty))
        );
        let big = vec![1u8; meishi_event::MAX_SLOT_RECORD + 1];
        assert!(matches!(
            s.put(&big, None, NOW),
            Err(Refusal::Malformed(SlotError::TooLarge { .. }))
        ));
        // Expired from `expires_at` on.
        assert_eq!(
            s.put(&record_of(1, 1, NOW, b"c"), None, NOW),
            Err(Refusal::Expired { expires_at: NOW })
        );
        // 90 days ahead is kept; one second more is not.
        let max = NOW + 90 * DAY;
        assert_eq!(
            s.put(&record_of(1, 1, max + 1, b"c"), None, NOW),
            Err(Refusal::TooFarAhead {
                expires_at: max + 1,
                max
            })
        );
        assert_eq!(
            s.put(&record_of(1, 1, max, b"c"), None, NOW),
            Ok((Stored::New, 1))
        );
        for r in [
            Refusal::Malformed(SlotError::Empty),
            Refusal::Expired { expires_at: 0 },
        ] {
            assert_eq!(r.cap(), None);
        }
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn records_expire_and_a_replay_of_an_expired_slot_is_refused() {
        let mut s = Slots::new(caps());
        let a = ip("192.0.2.1");
        s.put(&record_of(1, 7, NOW + 10, b"c"), a, NOW).unwrap();
        s.put(&record_of(2, 1, NOW + 100, b"c"), a, NOW).unwrap();
        // Not served once expired, even before the sweep.
        let ids = [key(1).id(), key(2).id()];
        assert_eq!(s.get(&ids, NOW + 10).len(), 1);
        assert_eq!(s.expire(NOW + 9), 0);
        assert_eq!(s.expire(NOW + 10), 1);
        assert_eq!(s.len(), 1);
        assert_eq!(s.hosts.values().sum::<usize>(), 1);
        // The slot's seq is remembered: an older record that expires later is a replay.
        assert_eq!(
            s.put(&record_of(1, 6, NOW + 50, b"c"), a, NOW + 11),
            Err(Refusal::Older { kept: 7, seq: 6 })
        );
        assert_eq!(
            s.put(&record_of(1, 8, NOW + 50, b"c"), a, NOW + 11),
            Ok((Stored::New, 8))
        );
        assert!(s.tombstones.is_empty() && s.forget.is_empty());
        // Everything goes, and tombstones are forgotten after max_lifetime.
        assert_eq!(s.expire(NOW + 100), 2);
        assert!(s.is_empty() && s.hosts.is_empty() && s.sites.is_empty());
        assert_eq!(s.tombstones.len(), 2);
        s.expire(NOW + 100 + 90 * DAY);
        assert!(s.tombstones.is_empty() && s.forget.is_empty());
    }

    #[test]
    fn tombstones_are_bounded_by_the_total() {
        let mut s = Slots::new(Caps { total: 3, ..caps() });
        for n in 0..3u8 {
            s.put(&record_of(n, 1, NOW + 10 + u64::from(n), b"c"), None, NOW)
                .unwrap();
        }
        s.expire(NOW + 100);
        s.put(&record_of(9, 1, NOW + 200, b"c"), None, NOW + 100)
            .unwrap();
        s.expire(NOW + 300);
        assert_eq!(s.tombstones.len(), 3);
        // The first buried (due soonest) made room.
        assert!(!s.tombstones.contains_key(&key(0).id()));
    }

    #[test]
    fn a_flood_from_one_host_is_capped_while_another_host_still_writes() {
        let mut s = Slots::new(Caps {
            per_host: 3,
            ..caps()
        });
        let flood = ip("2001:db8:1:1::1");
        for n in 0..3u8 {
            s.put(&record(n, 1), flood, NOW).unwrap();
        }
        // Another address of the same /64 is the same host.
        assert_eq!(
            s.put(&record(3, 1), ip("2001:db8:1:1::ffff"), NOW),
            Err(Refusal::HostFull(3))
        );
        assert_eq!(Refusal::HostFull(3).cap(), Some("per_host"));
        assert_eq!(Refusal::HostFull(3).code(), SlotRefusal::Full);
        // A republish from the same host is never refused for a cap.
        assert_eq!(s.put(&record(0, 2), flood, NOW), Ok((Stored::Replaced, 2)));
        // Another host writes.
        assert_eq!(
            s.put(&record(3, 1), ip("2001:db8:1:2::1"), NOW),
            Ok((Stored::New, 1))
        );
        assert_eq!(s.len(), 4);
    }

    #[test]
    fn a_republish_from_another_host_moves_the_charge() {
        // The owner republishes from another network: the charge moves with the record.
        let mut s = Slots::new(Caps {
            per_host: 1,
            ..caps()
        });
        let (home, venue) = (ip("198.51.100.1"), ip("203.0.113.9"));
        s.put(&record(1, 1), home, NOW).unwrap();
        s.put(&record(1, 2), venue, NOW).unwrap();
        // Home's charge was released, venue's is used.
        s.put(&record(2, 1), home, NOW).unwrap();
        assert_eq!(s.put(&record(3, 1), venue, NOW), Err(Refusal::HostFull(1)));
    }

    #[test]
    fn site_share_and_total() {
        let c = Caps {
            total: 10,
            per_host: 100,
            site_share: 2,
            max_lifetime: 90 * DAY,
        };
        let mut s = Slots::new(c);
        // Under half full a site writes past its share ...
        for n in 0..5u8 {
            s.put(&record(n, 1), ip("2001:db8:7:1::1"), NOW).unwrap();
        }
        // ... then neither it, nor another /64 of its /48, may.
        assert_eq!(
            s.put(&record(5, 1), ip("2001:db8:7:2::1"), NOW),
            Err(Refusal::SiteShare(5))
        );
        // Other sites get their share, then the total binds.
        for (n, a) in [
            (5u8, "192.0.2.1"),
            (6, "192.0.2.1"),
            (7, "192.0.2.2"),
            (8, "192.0.2.2"),
            (9, "192.0.2.3"),
        ] {
            s.put(&record(n, 1), ip(a), NOW).unwrap();
        }
        assert_eq!(
            s.put(&record(10, 1), ip("192.0.2.4"), NOW),
            Err(Refusal::TotalFull(10))
        );
        assert_eq!(Refusal::TotalFull(10).cap(), Some("total"));
        assert_eq!(Refusal::SiteShare(5).cap(), Some("site_share"));
    }

    #[test]
    fn get_returns_only_present_unexpired_records_in_the_order_asked() {
        let mut s = Slots::new(caps());
        s.put(&record_of(1, 1, NOW + 10, b"c"), None, NOW).unwrap();
        s.put(&record_of(2, 1, NOW + 100, b"c"), None, NOW).unwrap();
        s.put(&record_of(3, 1, NOW + 100, b"c"), None, NOW).unwrap();
        let ids = [key(3).id(), key(9).id(), key(1).id(), key(2).id()];
        assert_eq!(
            s.get(&ids, NOW),
            vec![
                record_of(3, 1, NOW + 100, b"c"),
                record_of(1, 1, NOW + 10, b"c"),
                record_of(2, 1, NOW + 100, b"c"),
            ]
        );
        assert_eq!(s.get(&ids, NOW + 10).len(), 2);
        // At most 64 ids are looked at, whatever the caller passes.
        let mut many: Vec<SlotId> = (100..=163u8).map(|n| key(n).id()).collect();
        many.push(key(2).id());
        assert_eq!(many.len(), MAX_SLOT_GET + 1);
        assert!(s.get(&many, NOW).is_empty());
        let (outcome, resp) = s.handle(
            None,
            SlotRequest::Get {
                slots: vec![key(2).id()],
            },
            NOW,
        );
        assert_eq!(outcome, Outcome::Listed(1));
        assert_eq!(
            resp,
            SlotResponse::Records {
                records: vec![record_of(2, 1, NOW + 100, b"c")]
            }
        );
    }

    /// A store written through to a file in `dir`.
    fn on_disk(dir: &tempfile::TempDir, caps: Caps, now: u64) -> Slots {
        let disk = Disk::open(&dir.path().join(crate::disk::FILE_NAME)).unwrap();
        Slots::load(caps, disk, now).unwrap()
    }

    fn dump(dir: &tempfile::TempDir) -> crate::disk::Dump {
        Disk::open_read_only(&dir.path().join(crate::disk::FILE_NAME))
            .unwrap()
            .dump()
            .unwrap()
    }

    #[test]
    fn a_restart_keeps_the_highest_seq_and_the_tombstones() {
        let dir = tempfile::tempdir().unwrap();
        let a = ip("192.0.2.1");
        let mut s = on_disk(&dir, caps(), NOW);
        s.put(&record(1, 5), a, NOW).unwrap();
        assert_eq!(s.put(&record(1, 9), a, NOW), Ok((Stored::Replaced, 9)));
        s.put(&record_of(2, 4, NOW + 10, b"c"), a, NOW).unwrap();
        // Slot 2 expires: its seq is remembered, on disk too.
        assert_eq!(s.expire(NOW + 10), 1);
        drop(s);
        let d = dump(&dir);
        assert_eq!(
            d.slots.len(),
            1,
            "the replaced and the expired record are gone"
        );
        assert_eq!((d.slots[0].slot, d.slots[0].seq), (key(1).id(), 9));
        assert_eq!(d.tombstones.len(), 1);
        assert_eq!(
            (d.tombstones[0].slot, d.tombstones[0].seq),
            (key(2).id(), 4)
        );

        let mut s = on_disk(&dir, caps(), NOW + 11);
        assert_eq!(s.len(), 1);
        assert_eq!(s.get(&[key(1).id()], NOW + 11), vec![record(1, 9)]);
        // Older seqs are refused after the restart, of the kept record and of the expired one.
        assert_eq!(
            s.put(&record(1, 5), a, NOW + 11),
            Err(Refusal::Older { kept: 9, seq: 5 })
        );
        assert_eq!(
            s.put(&record_of(2, 4, NOW + 50, b"c"), a, NOW + 11),
            Err(Refusal::Older { kept: 4, seq: 4 })
        );
        assert_eq!(s.put(&record(1, 9), a, NOW + 11), Ok((Stored::Same, 9)));
        // A newer record of the expired slot takes it, and its tombstone goes from disk too.
        assert_eq!(
            s.put(&record_of(2, 5, NOW + 50, b"c"), a, NOW + 11),
            Ok((Stored::New, 5))
        );
        let d = dump(&dir);
        assert_eq!(d.slots.len(), 2);
        assert!(d.tombstones.is_empty());
    }

    #[test]
    fn what_expired_while_the_relay_was_down_is_not_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = on_disk(&dir, caps(), NOW);
        s.put(&record_of(1, 3, NOW + 10, b"c"), None, NOW).unwrap();
        s.put(&record_of(2, 1, NOW + 100, b"c"), None, NOW).unwrap();
        drop(s);
        // Slot 1 expired at NOW + 10: not served, remembered as a tombstone, gone from disk.
        let s = on_disk(&dir, caps(), NOW + 50);
        assert_eq!(s.len(), 1);
        assert_eq!(s.get(&[key(1).id(), key(2).id()], NOW + 50).len(), 1);
        assert_eq!(
            s.tombstones.get(&key(1).id()),
            Some(&(3, NOW + 10 + 90 * DAY))
        );
        drop(s);
        let d = dump(&dir);
        assert_eq!(d.slots.len(), 1);
        assert_eq!(d.tombstones.len(), 1);
        // Long after: nothing is loaded, and the file is empty again.
        let s = on_disk(&dir, caps(), NOW + 200 + 90 * DAY);
        assert!(s.is_empty() && s.tombstones.is_empty());
        drop(s);
        let d = dump(&dir);
        assert!(d.slots.is_empty() && d.tombstones.is_empty(), "{d:?}");
    }

    #[test]
    fn caps_hold_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let c = Caps {
            total: 4,
            per_host: 2,
            ..caps()
        };
        let (a, b) = (ip("192.0.2.1"), ip("198.51.100.1"));
        let mut s = on_disk(&dir, c, NOW);
        s.put(&record(1, 1), a, NOW).unwrap();
        s.put(&record(2, 1), a, NOW).unwrap();
        assert_eq!(s.put(&record(3, 1), a, NOW), Err(Refusal::HostFull(2)));
        s.put(&record(3, 1), b, NOW).unwrap();
        drop(s);

        let mut s = on_disk(&dir, c, NOW + 1);
        assert_eq!(s.len(), 3);
        // Loaded records count toward the total ...
        s.put(&record(4, 1), b, NOW + 1).unwrap();
        assert_eq!(
            s.put(&record(5, 1), ip("203.0.113.1"), NOW + 1),
            Err(Refusal::TotalFull(4))
        );
        // ... a republish replaces, and is charged to its host again ...
        assert_eq!(s.put(&record(1, 2), a, NOW + 1), Ok((Stored::Replaced, 2)));
        // ... but per-host counts start from zero: the tags are not stored (crate::disk).
        assert_eq!(s.hosts.values().sum::<usize>(), 2);
        drop(s);

        // A lower total than the file holds: the records that expire last are kept, the others
        // are let go (and remembered) as if expired.
        let mut s = on_disk(&dir, c, NOW + 2);
        for n in 1..=4u8 {
            s.put(
                &record_of(n, 7, NOW + 1000 + u64::from(n), b"c"),
                None,
                NOW + 2,
            )
            .unwrap();
        }
        drop(s);
        let s = on_disk(&dir, Caps { total: 2, ..c }, NOW + 3);
        assert_eq!(s.len(), 2);
        assert_eq!(s.get(&[key(3).id(), key(4).id()], NOW + 3).len(), 2);
        assert_eq!(s.tombstones.len(), 2);
        drop(s);
        let d = dump(&dir);
        assert_eq!((d.slots.len(), d.tombstones.len()), (2, 2));
    }

    /// The file holds what [`crate::disk`] says and nothing that names the writer: not its
    /// address, not the tags its host is counted by.
    #[test]
    fn the_file_holds_no_identity() {
        let dir = tempfile::tempdir().unwrap();
        let writer = "203.0.113.77".parse::<IpAddr>().unwrap();
        let mut s = on_disk(&dir, caps(), NOW);
        s.put(&record(1, 1), Some(writer), NOW).unwrap();
        s.put(&record_of(2, 1, NOW + 10, b"c"), Some(writer), NOW)
            .unwrap();
        s.expire(NOW + 10);
        let tags: Vec<u64> = s.hosts.keys().chain(s.sites.keys()).copied().collect();
        assert_eq!(tags.len(), 2);
        drop(s);
        let path = dir.path().join(crate::disk::FILE_NAME);
        let file = std::fs::read(&path).unwrap();
        let has = |needle: &[u8]| file.windows(needle.len()).any(|w| w == needle);
        assert!(has(&record(1, 1)), "the record is kept as it was put");
        assert!(!has(b"203.0.113.77"));
        for t in tags {
            assert!(
                !has(&t.to_le_bytes()) && !has(&t.to_be_bytes()),
                "tag {t:x}"
            );
        }
        let conn = rusqlite::Connection::open(&path).unwrap();
        let columns = |table: &str| -> Vec<String> {
            let mut st = conn
                .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))
                .unwrap();
            st.query_map([], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        };
        assert_eq!(columns("slots"), ["slot", "seq", "expires_at", "record"]);
        assert_eq!(columns("slot_tombstones"), ["slot", "seq", "forget_at"]);
    }

    /// What the store keeps, field by field: slot ids, seqs, expiries, the sealed records and
    /// opaque per-host charges. The destructuring is exhaustive, so a field added to the store
    /// fails this test until it is looked at here.
    #[test]
    fn the_store_holds_no_identity() {
        let mut s = Slots::new(caps());
        let writer = "203.0.113.77".parse::<IpAddr>().unwrap();
        let bytes = record(1, 1);
        s.put(&bytes, Some(writer), NOW).unwrap();
        let Slots {
            caps: _,
            records,
            expiry,
            tombstones,
            forget,
            hosts,
            sites,
            tags: _,
            disk: _,
        } = &s;
        assert_eq!(records.len(), 1);
        let (id, kept) = records.iter().next().unwrap();
        assert_eq!(*id, key(1).id());
        let Kept {
            seq,
            expires_at,
            bytes: kept_bytes,
            charge,
        } = kept;
        assert_eq!((*seq, *expires_at), (1, NOW + DAY));
        assert_eq!(&kept_bytes[..], &bytes[..]);
        // The charge is two tags, not the address: no byte string of the address in them.
        let Charge { host, site } = charge.unwrap();
        assert_ne!(host, u64::from(u32::from_be_bytes([203, 0, 113, 77])));
        assert_eq!(hosts.keys().copied().collect::<Vec<_>>(), vec![host]);
        assert_eq!(sites.keys().copied().collect::<Vec<_>>(), vec![site]);
        assert_eq!(
            expiry.iter().copied().collect::<Vec<_>>(),
            [(NOW + DAY, *id)]
        );
        assert!(tombstones.is_empty() && forget.is_empty());
        // The Debug dump of the whole store does not show the address either.
        let dump = format!("{s:?}");
        assert!(!dump.contains("203.0.113.77"), "{dump}");
        // And `handle` takes no peer id: the store cannot learn one.
        let (o, _) = s.handle(Some(writer), SlotRequest::Put { record: bytes }, NOW);
        assert_eq!(o, Outcome::Stored(Stored::Same));
    }
}
