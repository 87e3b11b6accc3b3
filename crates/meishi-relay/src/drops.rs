//! The drop store: sealed messages that contacts leave for a person who is offline, kept until
//! that person collects them, served over `/meishi/drop/1`. proto-spec/drop.md#relay-protocol
//!
//! A sender puts a sealed message (readable only by its recipient) under a box id; the
//! recipient, later, gets what waits in its boxes, oldest first, and acknowledges what it
//! stored, which deletes it. So, like slot records and unlike board entries, messages are
//! **not** tied to the connection that wrote them: they live until they are acknowledged or
//! their lifetime (30 days by default, from when they were put) is over.
//!
//! **What the store holds.** Per message: the box id, the SHA-256 of the sealed bytes (what an
//! acknowledgement names), when it goes, an arrival number (for the order), the sealed bytes,
//! and an opaque charge (two 64-bit tags, keyed hashes of the sender's host and site under a
//! random key drawn when the relay starts) so that the host's count can be released when the
//! message goes. No peer id, no IP address, no identity: a box id is a hash the relay cannot
//! trace to anybody.
//!
//! **Caps.** At most `per_box` messages wait in one box (a flood into one box cannot grow past
//! it, and the recipient's get stays small); messages are charged to the host that sent them
//! (an IPv4 address, an IPv6 /64), at most `per_host` each; a site (an IPv4 address, an IPv6
//! /48) holds more than `site_share` only while the store is under half full; `total` in all.
//! A box id costs nothing to make, so nothing else counts per box or per peer. The same
//! message put twice into one box is kept once.
//!
//! **Across restarts.** A store opened with [`Drops::load`] writes every message it keeps or
//! lets go through to the relay's [`Disk`] (the charges are not written: see [`crate::disk`])
//! and starts from what the file still holds that is valid.

use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;

use libp2p::StreamProtocol;
use meishi_event::{
    check_drop, drop_digest, DropError, DropId, DropRefusal, DropRequest, DropResponse,
    DROP_MESSAGES_HEAD, DROP_MESSAGE_OVERHEAD, MAX_DROP_GET, MAX_DROP_PAGE, MAX_DROP_RESPONSE,
};

use crate::disk::{Disk, DropState, OpenError};
use crate::prefix;
use crate::registry::{count_down, count_up, within_share};

/// The drop protocol id. proto-spec/drop.md#relay-protocol
pub const PROTOCOL: StreamProtocol = StreamProtocol::new(meishi_event::DROP_PROTOCOL);

/// Caps of the drop store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Messages in all.
    pub total: usize,
    /// Messages waiting in one box.
    pub per_box: usize,
    /// Messages charged to one host (an IPv4 address or an IPv6 /64), all its peers together.
    pub per_host: usize,
    /// Messages one site (an IPv4 address or an IPv6 /48) always gets; more only while the
    /// store holds fewer than half of `total`.
    pub site_share: usize,
    /// How long a message is kept after it was put, in seconds.
    pub lifetime: u64,
}

/// Why a put was refused. Cap refusals carry the count that was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    #[error("the sealed message is malformed: {0}")]
    Malformed(#[source] DropError),
    #[error("the sealed message is {0} bytes long; at most {max} are kept", max = meishi_event::MAX_DROP_SEALED)]
    TooLarge(usize),
    #[error("this box already holds {0} messages")]
    BoxFull(usize),
    #[error("this host (IPv4 address or IPv6 /64) already has {0} messages waiting")]
    HostFull(usize),
    #[error("this site already has {0} messages waiting, its share of the relay")]
    SiteShare(usize),
    #[error("the relay already holds {0} messages")]
    TotalFull(usize),
}

impl Refusal {
    /// The cap that refused, as the `cap` label of the refusal metrics; none for a message
    /// refused for what it is.
    pub fn cap(&self) -> Option<&'static str> {
        match self {
            Refusal::BoxFull(_) => Some("per_box"),
            Refusal::HostFull(_) => Some("per_host"),
            Refusal::SiteShare(_) => Some("site_share"),
            Refusal::TotalFull(_) => Some("total"),
            Refusal::Malformed(_) | Refusal::TooLarge(_) => None,
        }
    }

    /// The refusal as the wire says it.
    pub fn code(&self) -> DropRefusal {
        match self {
            Refusal::Malformed(_) => DropRefusal::Malformed,
            Refusal::TooLarge(_) => DropRefusal::TooLarge,
            Refusal::BoxFull(_) => DropRefusal::BoxFull,
            Refusal::HostFull(_) => DropRefusal::HostFull,
            Refusal::SiteShare(_) | Refusal::TotalFull(_) => DropRefusal::Full,
        }
    }
}

/// What a put did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// The message is new in its box.
    New,
    /// The box already held these exact bytes.
    Same,
}

/// Outcome of one request, for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Stored(Stored),
    /// A Get answered with this many messages; `more` wait.
    Listed {
        count: usize,
        more: bool,
    },
    /// An Ack deleted this many messages.
    Acked(u32),
    Refused(Refusal),
}

/// Whom a message is charged to: keyed hashes of the sender's host and site prefixes. The key
/// is random per process and never stored, so the store does not hold senders' addresses; nor
/// does the disk hold the tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Charge {
    host: u64,
    site: u64,
}

/// One kept message.
#[derive(Debug)]
struct Kept {
    /// Arrival number: messages are served in this order.
    seq: u64,
    /// SHA-256 of `bytes`: what an Ack names it by, and what tells a duplicate.
    digest: [u8; 32],
    expires_at: u64,
    /// The exact bytes the sender put.
    bytes: Box<[u8]>,
    /// None for a sender without an IP address, or for a message loaded from disk (charged to
    /// nothing but the total).
    charge: Option<Charge>,
}

/// The store. Not thread-safe: owned by the relay's event loop. Times are Unix seconds.
#[derive(Debug)]
pub struct Drops {
    caps: Caps,
    /// Each box's messages, in arrival order; at most `per_box` each, no box empty.
    boxes: HashMap<DropId, Vec<Kept>>,
    /// (expires_at, seq, box) of every kept message, for the sweep.
    expiry: BTreeSet<(u64, u64, DropId)>,
    /// Messages in all boxes.
    len: usize,
    next_seq: u64,
    /// Messages charged to each host tag and each site tag.
    hosts: HashMap<u64, usize>,
    sites: HashMap<u64, usize>,
    tags: RandomState,
    /// The durable copy, if the relay keeps one.
    disk: Option<Disk>,
}

impl Drops {
    /// A store in memory only.
    pub fn new(caps: Caps) -> Self {
        Self {
            caps,
            boxes: HashMap::new(),
            expiry: BTreeSet::new(),
            len: 0,
            next_seq: 0,
            hosts: HashMap::new(),
            sites: HashMap::new(),
            tags: RandomState::new(),
            disk: None,
        }
    }

    /// A store that keeps its durable copy in `disk`, starting from what it holds: messages
    /// whose lifetime (counted from when they were put) is not over at `now` are loaded in
    /// their order of arrival, charged to no host; the rest is deleted. Past `per_box` in a box
    /// or `total` in all (lower caps than when they were put), the newest are let go, as the
    /// store would have refused them.
    pub fn load(caps: Caps, disk: Disk, now: u64) -> Result<Self, OpenError> {
        let mut s = Drops::new(caps);
        let mut touched = Vec::new();
        disk.load_drops(|r| {
            let expires_at = r.stored_at.saturating_add(caps.lifetime);
            let in_box = s.boxes.get(&r.id).map_or(0, Vec::len);
            if expires_at <= now || in_box >= caps.per_box || s.len >= caps.total {
                touched.push((r.id, r.digest));
            } else {
                s.keep(r.id, r.digest, expires_at, r.sealed.into(), None);
            }
        })?;
        s.disk = Some(disk);
        s.sync(&touched);
        Ok(s)
    }

    /// Writes the state of the messages in `touched` to the disk, in one transaction.
    fn sync(&self, touched: &[(DropId, [u8; 32])]) {
        let Some(disk) = &self.disk else {
            return;
        };
        let states: Vec<DropState<'_>> = touched
            .iter()
            .map(|&(id, digest)| DropState {
                id,
                digest,
                kept: self
                    .boxes
                    .get(&id)
                    .and_then(|b| b.iter().find(|k| k.digest == digest))
                    .map(|k| {
                        let stored_at = k.expires_at.saturating_sub(self.caps.lifetime);
                        (stored_at, &k.bytes[..])
                    }),
            })
            .collect();
        disk.write_drops(&states);
    }

    /// Files a message as the newest of box `id`.
    fn keep(
        &mut self,
        id: DropId,
        digest: [u8; 32],
        expires_at: u64,
        bytes: Box<[u8]>,
        charge: Option<Charge>,
    ) {
        if let Some(ch) = charge {
            count_up(&mut self.hosts, ch.host);
            count_up(&mut self.sites, ch.site);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.expiry.insert((expires_at, seq, id));
        self.boxes.entry(id).or_default().push(Kept {
            seq,
            digest,
            expires_at,
            bytes,
            charge,
        });
        self.len += 1;
    }

    pub fn caps(&self) -> Caps {
        self.caps
    }

    /// Messages held now (some may have expired since the last [`Drops::expire`]).
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn charge_of(&self, ip: IpAddr) -> Charge {
        Charge {
            host: self.tags.hash_one(prefix::host(ip)),
            site: self.tags.hash_one(prefix::site(ip)),
        }
    }

    /// Checks `sealed` (proto-spec/drop.md#opening, the steps a relay can run) and keeps it in
    /// box `id` until `now + lifetime`, charged to the host of `ip`. The same bytes already in
    /// the box are not kept twice.
    pub fn put(
        &mut self,
        id: DropId,
        sealed: &[u8],
        ip: Option<IpAddr>,
        now: u64,
    ) -> Result<Stored, Refusal> {
        check_drop(sealed).map_err(|e| match e {
            DropError::TooLarge { len, .. } => Refusal::TooLarge(len),
            e => Refusal::Malformed(e),
        })?;
        let digest = drop_digest(sealed);
        let c = self.caps;
        let in_box = self.boxes.get(&id).map_or(&[][..], Vec::as_slice);
        if in_box.iter().any(|k| k.digest == digest) {
            return Ok(Stored::Same);
        }
        if in_box.len() >= c.per_box {
            return Err(Refusal::BoxFull(in_box.len()));
        }
        let charge = ip.map(|ip| self.charge_of(ip));
        if let Some(ch) = charge {
            let from_host = self.hosts.get(&ch.host).copied().unwrap_or(0);
            if from_host >= c.per_host {
                return Err(Refusal::HostFull(from_host));
            }
            let site = self.sites.get(&ch.site).copied().unwrap_or(0);
            if !within_share(site, c.site_share, self.len, c.total) {
                return Err(Refusal::SiteShare(site));
            }
        }
        if self.len >= c.total {
            return Err(Refusal::TotalFull(self.len));
        }
        let expires_at = now.saturating_add(c.lifetime);
        self.keep(id, digest, expires_at, sealed.into(), charge);
        self.sync(&[(id, digest)]);
        Ok(Stored::New)
    }

    /// The unexpired messages of boxes `ids` (at most [`MAX_DROP_GET`] are looked at), oldest
    /// first: at most [`MAX_DROP_PAGE`], as many as fit in one response of
    /// [`MAX_DROP_RESPONSE`] bytes. The flag says whether more wait.
    pub fn get(&self, ids: &[DropId], now: u64) -> (Vec<(DropId, Vec<u8>)>, bool) {
        let mut waiting: Vec<(u64, DropId, &Kept)> = Vec::new();
        for id in ids.iter().take(MAX_DROP_GET) {
            for k in self.boxes.get(id).into_iter().flatten() {
                if now < k.expires_at {
                    waiting.push((k.seq, *id, k));
                }
            }
        }
        // A box asked twice is listed once.
        waiting.sort_unstable_by_key(|(seq, _, _)| *seq);
        waiting.dedup_by_key(|(seq, _, _)| *seq);
        let mut size = DROP_MESSAGES_HEAD;
        let mut page = Vec::new();
        for (_, id, k) in &waiting {
            let next = DROP_MESSAGE_OVERHEAD + k.bytes.len();
            if page.len() == MAX_DROP_PAGE || size + next > MAX_DROP_RESPONSE {
                break;
            }
            size += next;
            page.push((*id, k.bytes.to_vec()));
        }
        let more = page.len() < waiting.len();
        (page, more)
    }

    /// Deletes the messages of box `id` whose digests are in `digests` (at most
    /// [`MAX_DROP_GET`] are looked at). Returns how many went; digests of nothing are ignored.
    pub fn ack(&mut self, id: DropId, digests: &[[u8; 32]]) -> u32 {
        let digests = &digests[..digests.len().min(MAX_DROP_GET)];
        let Some(in_box) = self.boxes.get_mut(&id) else {
            return 0;
        };
        let mut gone = Vec::new();
        in_box.retain_mut(|k| {
            let acked = digests.contains(&k.digest);
            if acked {
                gone.push((k.seq, k.expires_at, k.charge, k.digest));
            }
            !acked
        });
        if in_box.is_empty() {
            self.boxes.remove(&id);
        }
        for &(seq, expires_at, charge, _) in &gone {
            self.release(id, seq, expires_at, charge);
        }
        let touched: Vec<_> = gone.iter().map(|&(.., digest)| (id, digest)).collect();
        self.sync(&touched);
        // At most 64 digests, each naming at most one message of the box.
        u32::try_from(gone.len()).unwrap_or(u32::MAX)
    }

    /// Forgets a message already taken out of its box: its expiry entry and its charge.
    fn release(&mut self, id: DropId, seq: u64, expires_at: u64, charge: Option<Charge>) {
        self.expiry.remove(&(expires_at, seq, id));
        if let Some(ch) = charge {
            count_down(&mut self.hosts, &ch.host);
            count_down(&mut self.sites, &ch.site);
        }
        self.len -= 1;
    }

    /// Drops every message whose lifetime is over at `now`. Returns how many went.
    pub fn expire(&mut self, now: u64) -> usize {
        let due: Vec<(u64, u64, DropId)> = self
            .expiry
            .range(..=(now, u64::MAX, DropId([0xff; 32])))
            .copied()
            .collect();
        let mut touched = Vec::with_capacity(due.len());
        for &(expires_at, seq, id) in &due {
            let Some(in_box) = self.boxes.get_mut(&id) else {
                continue;
            };
            let Some(at) = in_box.iter().position(|k| k.seq == seq) else {
                continue;
            };
            let k = in_box.remove(at);
            if in_box.is_empty() {
                self.boxes.remove(&id);
            }
            self.release(id, seq, expires_at, k.charge);
            touched.push((id, k.digest));
        }
        self.sync(&touched);
        due.len()
    }

    /// Handles a request sent from `ip` at `now` (Unix seconds). The sender's peer id is not an
    /// argument: the store never learns it.
    pub fn handle(
        &mut self,
        ip: Option<IpAddr>,
        req: DropRequest,
        now: u64,
    ) -> (Outcome, DropResponse) {
        match req {
            DropRequest::Put { id, sealed } => match self.put(id, &sealed, ip, now) {
                Ok(stored) => (Outcome::Stored(stored), DropResponse::PutOk),
                Err(r) => (Outcome::Refused(r), DropResponse::Refused(r.code())),
            },
            DropRequest::Get { ids } => {
                let (messages, more) = self.get(&ids, now);
                (
                    Outcome::Listed {
                        count: messages.len(),
                        more,
                    },
                    DropResponse::Messages { messages, more },
                )
            }
            DropRequest::Ack { id, digests } => {
                let deleted = self.ack(id, &digests);
                (Outcome::Acked(deleted), DropResponse::AckOk { deleted })
            }
        }
    }
}

/// The codec of this service, both sides.
pub type Codec = crate::frame::FramedCodec<DropRequest, DropResponse>;

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test fails by panicking")]
mod tests {
    use super::*;
    use meishi_event::{seal_drop_with, DropSecret, MAX_DROP_PLAINTEXT, MAX_DROP_SEALED};

    const NOW: u64 = 1_700_000_000;
    const DAY: u64 = 24 * 60 * 60;

    fn caps() -> Caps {
        Caps {
            total: 1_000,
            per_box: 64,
            per_host: 1_000,
            site_share: 1_000,
            lifetime: 30 * DAY,
        }
    }

    /// Box `n`: Ada's box for the contact whose key is `[n; 32]`.
    fn id(n: u8) -> DropId {
        DropSecret::from_bytes([0xa1; 32]).id_for(&[n; 32])
    }

    /// Message `m` to box `n`, `len` bytes of plaintext.
    fn sealed_of(n: u8, m: u8, len: usize) -> Vec<u8> {
        let address = DropSecret::from_bytes([0xa1; 32]).address_for(&[n; 32]);
        seal_drop_with(&address, &vec![m; len], &[m; 32], [m; 24]).unwrap()
    }

    fn sealed(n: u8, m: u8) -> Vec<u8> {
        sealed_of(n, m, 20)
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    fn sum(m: &HashMap<u64, usize>) -> usize {
        m.values().sum()
    }

    #[test]
    fn put_get_ack() {
        let mut s = Drops::new(caps());
        let a = ip("192.0.2.1");
        assert_eq!(s.put(id(1), &sealed(1, 1), a, NOW), Ok(Stored::New));
        assert_eq!(s.put(id(1), &sealed(1, 2), a, NOW), Ok(Stored::New));
        assert_eq!(s.put(id(2), &sealed(2, 3), a, NOW), Ok(Stored::New));
        assert_eq!(s.len(), 3);
        // Oldest first, across the boxes asked; a box asked for nothing is left out.
        assert_eq!(
            s.get(&[id(2), id(9), id(1)], NOW),
            (
                vec![
                    (id(1), sealed(1, 1)),
                    (id(1), sealed(1, 2)),
                    (id(2), sealed(2, 3)),
                ],
                false
            )
        );
        // Ack deletes by digest, in its box only; unknown digests are ignored.
        let d = |n, m| drop_digest(&sealed(n, m));
        assert_eq!(s.ack(id(2), &[d(1, 1)]), 0);
        assert_eq!(s.ack(id(1), &[d(1, 1), d(2, 3), [0; 32]]), 1);
        assert_eq!(s.get(&[id(1)], NOW), (vec![(id(1), sealed(1, 2))], false));
        assert_eq!(s.ack(id(1), &[d(1, 2)]), 1);
        assert_eq!(s.get(&[id(1)], NOW), (vec![], false));
        assert!(!s.boxes.contains_key(&id(1)), "an empty box is forgotten");
        assert_eq!((s.len(), sum(&s.hosts), s.expiry.len()), (1, 1, 1));
        assert_eq!(s.ack(id(2), &[d(2, 3)]), 1);
        assert!(s.is_empty() && s.hosts.is_empty() && s.sites.is_empty());
        assert!(s.expiry.is_empty() && s.boxes.is_empty());
    }

    #[test]
    fn a_duplicate_is_stored_once() {
        let mut s = Drops::new(caps());
        let m = sealed(1, 1);
        assert_eq!(s.put(id(1), &m, ip("192.0.2.1"), NOW), Ok(Stored::New));
        // From another host too, and even when the box is full: nothing to add.
        assert_eq!(s.put(id(1), &m, ip("198.51.100.1"), NOW), Ok(Stored::Same));
        assert_eq!(s.len(), 1);
        assert_eq!(sum(&s.hosts), 1);
        // The same bytes in another box are another message (and will not open there).
        assert_eq!(s.put(id(2), &m, None, NOW), Ok(Stored::New));
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn a_box_holds_at_most_per_box() {
        let mut s = Drops::new(caps());
        for m in 0..64u8 {
            s.put(id(1), &sealed(1, m), ip("192.0.2.1"), NOW).unwrap();
        }
        let refused = s.put(id(1), &sealed(1, 64), ip("198.51.100.1"), NOW);
        assert_eq!(refused, Err(Refusal::BoxFull(64)));
        assert_eq!(Refusal::BoxFull(64).code(), DropRefusal::BoxFull);
        assert_eq!(Refusal::BoxFull(64).cap(), Some("per_box"));
        // A duplicate of what is there is still answered as kept.
        assert_eq!(s.put(id(1), &sealed(1, 3), None, NOW), Ok(Stored::Same));
        // Other boxes are not affected, and an ack makes room.
        assert_eq!(s.put(id(2), &sealed(2, 1), None, NOW), Ok(Stored::New));
        assert_eq!(s.ack(id(1), &[drop_digest(&sealed(1, 0))]), 1);
        assert_eq!(s.put(id(1), &sealed(1, 64), None, NOW), Ok(Stored::New));
    }

    #[test]
    fn a_flood_from_one_host_is_capped_while_another_host_still_sends() {
        let mut s = Drops::new(Caps {
            per_host: 3,
            ..caps()
        });
        let flood = ip("2001:db8:1:1::1");
        for n in 0..3u8 {
            s.put(id(n), &sealed(n, 1), flood, NOW).unwrap();
        }
        // Another address of the same /64 is the same host.
        assert_eq!(
            s.put(id(3), &sealed(3, 1), ip("2001:db8:1:1::ffff"), NOW),
            Err(Refusal::HostFull(3))
        );
        assert_eq!(Refusal::HostFull(3).cap(), Some("per_host"));
        assert_eq!(Refusal::HostFull(3).code(), DropRefusal::HostFull);
        assert_eq!(
            s.put(id(3), &sealed(3, 1), ip("2001:db8:1:2::1"), NOW),
            Ok(Stored::New)
        );
        // Collecting a message releases its sender's charge.
        s.ack(id(0), &[drop_digest(&sealed(0, 1))]);
        assert_eq!(s.put(id(4), &sealed(4, 1), flood, NOW), Ok(Stored::New));
    }

    #[test]
    fn site_share_and_total() {
        let mut s = Drops::new(Caps {
            total: 10,
            per_box: 64,
            per_host: 100,
            site_share: 2,
            lifetime: 30 * DAY,
        });
        // Under half full a site sends past its share ...
        for m in 0..5u8 {
            s.put(id(1), &sealed(1, m), ip("2001:db8:7:1::1"), NOW)
                .unwrap();
        }
        // ... then neither it, nor another /64 of its /48, may.
        assert_eq!(
            s.put(id(1), &sealed(1, 5), ip("2001:db8:7:2::1"), NOW),
            Err(Refusal::SiteShare(5))
        );
        assert_eq!(Refusal::SiteShare(5).code(), DropRefusal::Full);
        // Other sites get their share, then the total binds.
        for (m, a) in [
            (5u8, "192.0.2.1"),
            (6, "192.0.2.1"),
            (7, "192.0.2.2"),
            (8, "192.0.2.2"),
            (9, "192.0.2.3"),
        ] {
            s.put(id(1), &sealed(1, m), ip(a), NOW).unwrap();
        }
        assert_eq!(
            s.put(id(2), &sealed(2, 10), ip("192.0.2.4"), NOW),
            Err(Refusal::TotalFull(10))
        );
        assert_eq!(
            s.put(id(2), &sealed(2, 10), None, NOW),
            Err(Refusal::TotalFull(10))
        );
        assert_eq!(Refusal::TotalFull(10).cap(), Some("total"));
        assert_eq!(Refusal::TotalFull(10).code(), DropRefusal::Full);
    }

    #[test]
    fn malformed_and_too_large_are_refused() {
        let mut s = Drops::new(caps());
        let mut v2 = sealed(1, 1);
        v2[0] = 2;
        assert_eq!(
            s.put(id(1), &v2, None, NOW),
            Err(Refusal::Malformed(DropError::UnsupportedVersion(2)))
        );
        assert_eq!(
            s.put(id(1), &sealed(1, 1)[..60], None, NOW),
            Err(Refusal::Malformed(DropError::Truncated(60)))
        );
        assert_eq!(
            s.put(id(1), &[], None, NOW),
            Err(Refusal::Malformed(DropError::Empty))
        );
        let big = vec![1u8; MAX_DROP_SEALED + 1];
        assert_eq!(
            s.put(id(1), &big, None, NOW),
            Err(Refusal::TooLarge(MAX_DROP_SEALED + 1))
        );
        assert_eq!(
            Refusal::TooLarge(MAX_DROP_SEALED + 1).code(),
            DropRefusal::TooLarge
        );
        for r in [
            Refusal::Malformed(DropError::Empty),
            Refusal::TooLarge(MAX_DROP_SEALED + 1),
        ] {
            assert_eq!(r.cap(), None);
        }
        // The largest message is kept.
        let largest = sealed_of(1, 1, MAX_DROP_PLAINTEXT);
        assert_eq!(largest.len(), MAX_DROP_SEALED);
        assert_eq!(s.put(id(1), &largest, None, NOW), Ok(Stored::New));
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn messages_expire_after_their_lifetime() {
        let mut s = Drops::new(caps());
        let a = ip("192.0.2.1");
        s.put(id(1), &sealed(1, 1), a, NOW).unwrap();
        s.put(id(1), &sealed(1, 2), a, NOW + 10).unwrap();
        s.put(id(2), &sealed(2, 3), a, NOW + 20).unwrap();
        let end = NOW + 30 * DAY;
        // Not served once expired, even before the sweep.
        assert_eq!(s.get(&[id(1), id(2)], end).0.len(), 2);
        assert_eq!(s.expire(end - 1), 0);
        assert_eq!(s.expire(end), 1);
        assert_eq!((s.len(), sum(&s.hosts)), (2, 2));
        assert_eq!(
            s.get(&[id(1), id(2)], end),
            (vec![(id(1), sealed(1, 2)), (id(2), sealed(2, 3))], false)
        );
        assert_eq!(s.expire(end + 20), 2);
        assert!(s.is_empty() && s.boxes.is_empty() && s.expiry.is_empty());
        assert!(s.hosts.is_empty() && s.sites.is_empty());
        // An acked message is not swept again.
        s.put(id(1), &sealed(1, 1), a, NOW).unwrap();
        s.ack(id(1), &[drop_digest(&sealed(1, 1))]);
        assert_eq!(s.expire(end), 0);
    }

    #[test]
    fn a_get_answers_what_fits_and_says_more_wait() {
        let mut s = Drops::new(Caps {
            per_box: 100,
            ..caps()
        });
        // 40 of the largest messages: 31 fit in one response.
        for m in 0..40u8 {
            s.put(id(1), &sealed_of(1, m, MAX_DROP_PLAINTEXT), None, NOW)
                .unwrap();
        }
        let (page, more) = s.get(&[id(1)], NOW);
        assert_eq!(page.len(), 31);
        assert!(more);
        assert_eq!(page[0].1, sealed_of(1, 0, MAX_DROP_PLAINTEXT));
        let resp = DropResponse::Messages {
            messages: page.clone(),
            more,
        };
        assert!(resp.encode().len() <= MAX_DROP_RESPONSE);
        // Acknowledged, the rest come next.
        let digests: Vec<[u8; 32]> = page.iter().map(|(_, b)| drop_digest(b)).collect();
        assert_eq!(s.ack(id(1), &digests), 31);
        let (page, more) = s.get(&[id(1)], NOW);
        assert_eq!((page.len(), more), (9, false));
        // Small messages: at most 64 in a response.
        let mut s = Drops::new(Caps {
            per_box: 100,
            ..caps()
        });
        for m in 0..70u8 {
            s.put(id(1), &sealed(1, m), None, NOW).unwrap();
        }
        let (page, more) = s.get(&[id(1)], NOW);
        assert_eq!((page.len(), more), (MAX_DROP_PAGE, true));
        // At most 64 ids are looked at, and a box asked twice is listed once.
        let mut many: Vec<DropId> = (100..=163u8).map(id).collect();
        many.push(id(1));
        assert_eq!(s.get(&many, NOW), (vec![], false));
        assert_eq!(s.get(&[id(1), id(1)], NOW).0.len(), MAX_DROP_PAGE);
    }

    #[test]
    fn handle_answers_each_request() {
        let mut s = Drops::new(caps());
        let m = sealed(1, 1);
        let put = DropRequest::Put {
            id: id(1),
            sealed: m.clone(),
        };
        assert_eq!(
            s.handle(None, put.clone(), NOW),
            (Outcome::Stored(Stored::New), DropResponse::PutOk)
        );
        assert_eq!(
            s.handle(None, put, NOW),
            (Outcome::Stored(Stored::Same), DropResponse::PutOk)
        );
        assert_eq!(
            s.handle(None, DropRequest::Get { ids: vec![id(1)] }, NOW),
            (
                Outcome::Listed {
                    count: 1,
                    more: false
                },
                DropResponse::Messages {
                    messages: vec![(id(1), m.clone())],
                    more: false
                }
            )
        );
        let ack = DropRequest::Ack {
            id: id(1),
            digests: vec![drop_digest(&m)],
        };
        assert_eq!(
            s.handle(None, ack.clone(), NOW),
            (Outcome::Acked(1), DropResponse::AckOk { deleted: 1 })
        );
        assert_eq!(
            s.handle(None, ack, NOW),
            (Outcome::Acked(0), DropResponse::AckOk { deleted: 0 })
        );
        let bad = DropRequest::Put {
            id: id(1),
            sealed: vec![2; 80],
        };
        let (o, r) = s.handle(None, bad, NOW);
        assert_eq!(
            o,
            Outcome::Refused(Refusal::Malformed(DropError::UnsupportedVersion(2)))
        );
        assert_eq!(r, DropResponse::Refused(DropRefusal::Malformed));
    }

    /// A store written through to a file in `dir`.
    fn on_disk(dir: &tempfile::TempDir, caps: Caps, now: u64) -> Drops {
        let disk = Disk::open(&dir.path().join(crate::disk::FILE_NAME)).unwrap();
        Drops::load(caps, disk, now).unwrap()
    }

    fn dump(dir: &tempfile::TempDir) -> crate::disk::Dump {
        Disk::open_read_only(&dir.path().join(crate::disk::FILE_NAME))
            .unwrap()
            .dump()
            .unwrap()
    }

    #[test]
    fn a_restart_keeps_messages_in_order_and_an_ack_deletes_durably() {
        let dir = tempfile::tempdir().unwrap();
        let a = ip("192.0.2.1");
        let mut s = on_disk(&dir, caps(), NOW);
        s.put(id(1), &sealed(1, 1), a, NOW).unwrap();
        s.put(id(2), &sealed(2, 2), a, NOW + 1).unwrap();
        s.put(id(1), &sealed(1, 3), a, NOW + 2).unwrap();
        assert_eq!(s.put(id(1), &sealed(1, 1), a, NOW + 3), Ok(Stored::Same));
        drop(s);

        let mut s = on_disk(&dir, caps(), NOW + 10);
        let all = [id(1), id(2)];
        let first = (
            vec![
                (id(1), sealed(1, 1)),
                (id(2), sealed(2, 2)),
                (id(1), sealed(1, 3)),
            ],
            false,
        );
        assert_eq!(s.get(&all, NOW + 10), first);
        // Their lifetime still counts from the put.
        assert_eq!(s.expiry.first().map(|e| e.0), Some(NOW + 30 * DAY));
        assert_eq!(s.put(id(1), &sealed(1, 1), a, NOW + 10), Ok(Stored::Same));
        assert_eq!(s.ack(id(1), &[drop_digest(&sealed(1, 1))]), 1);
        // Arrivals after the restart come after those before it.
        s.put(id(2), &sealed(2, 4), a, NOW + 11).unwrap();
        drop(s);

        let s = on_disk(&dir, caps(), NOW + 20);
        assert_eq!(
            s.get(&all, NOW + 20),
            (
                vec![
                    (id(2), sealed(2, 2)),
                    (id(1), sealed(1, 3)),
                    (id(2), sealed(2, 4)),
                ],
                false
            )
        );
        drop(s);
        let d = dump(&dir);
        let listed: Vec<_> = d.drops.iter().map(|m| (m.box_id, m.stored_at)).collect();
        assert_eq!(
            listed,
            [(id(2), NOW + 1), (id(1), NOW + 2), (id(2), NOW + 11)]
        );
        assert_eq!(d.drops[0].size, sealed(2, 2).len());
    }

    #[test]
    fn what_expired_while_the_relay_was_down_is_not_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = on_disk(&dir, caps(), NOW);
        s.put(id(1), &sealed(1, 1), None, NOW).unwrap();
        s.put(id(1), &sealed(1, 2), None, NOW + 100).unwrap();
        drop(s);
        let s = on_disk(&dir, caps(), NOW + 30 * DAY);
        assert_eq!(
            s.get(&[id(1)], NOW + 30 * DAY),
            (vec![(id(1), sealed(1, 2))], false)
        );
        drop(s);
        assert_eq!(dump(&dir).drops.len(), 1);
        // A shorter lifetime in the configuration applies to what was kept.
        let s = on_disk(
            &dir,
            Caps {
                lifetime: 50,
                ..caps()
            },
            NOW + 200,
        );
        assert!(s.is_empty());
        drop(s);
        assert!(dump(&dir).drops.is_empty());
    }

    #[test]
    fn caps_hold_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let c = Caps {
            per_box: 3,
            per_host: 4,
            total: 5,
            ..caps()
        };
        let a = ip("192.0.2.1");
        let mut s = on_disk(&dir, c, NOW);
        for m in 0..3u8 {
            s.put(id(1), &sealed(1, m), a, NOW).unwrap();
        }
        s.put(id(2), &sealed(2, 0), a, NOW).unwrap();
        drop(s);

        let mut s = on_disk(&dir, c, NOW);
        assert_eq!(s.len(), 4);
        assert_eq!(
            s.put(id(1), &sealed(1, 9), a, NOW),
            Err(Refusal::BoxFull(3))
        );
        s.put(id(2), &sealed(2, 1), a, NOW).unwrap();
        assert_eq!(
            s.put(id(3), &sealed(3, 0), ip("198.51.100.1"), NOW),
            Err(Refusal::TotalFull(5))
        );
        // Per-host counts start from zero: the tags are not stored (crate::disk).
        assert_eq!(sum(&s.hosts), 1);
        drop(s);

        // Lower caps than the file holds: the oldest are kept, as the store would have refused
        // the newer ones, and the file follows.
        let s = on_disk(
            &dir,
            Caps {
                per_box: 2,
                total: 3,
                ..c
            },
            NOW,
        );
        assert_eq!(
            s.get(&[id(1), id(2)], NOW),
            (
                vec![
                    (id(1), sealed(1, 0)),
                    (id(1), sealed(1, 1)),
                    (id(2), sealed(2, 0)),
                ],
                false
            )
        );
        drop(s);
        assert_eq!(dump(&dir).drops.len(), 3);
    }

    /// The file holds what [`crate::disk`] says and nothing that names the sender: not its
    /// address, not the tags its host is counted by.
    #[test]
    fn the_file_holds_no_identity() {
        let dir = tempfile::tempdir().unwrap();
        let sender = "203.0.113.77".parse::<IpAddr>().unwrap();
        let mut s = on_disk(&dir, caps(), NOW);
        s.put(id(1), &sealed(1, 1), Some(sender), NOW).unwrap();
        let tags: Vec<u64> = s.hosts.keys().chain(s.sites.keys()).copied().collect();
        assert_eq!(tags.len(), 2);
        drop(s);
        let path = dir.path().join(crate::disk::FILE_NAME);
        let file = std::fs::read(&path).unwrap();
        let has = |needle: &[u8]| file.windows(needle.len()).any(|w| w == needle);
        assert!(has(&sealed(1, 1)), "the message is kept as it was put");
        assert!(!has(b"203.0.113.77"));
        for t in tags {
            assert!(
                !has(&t.to_le_bytes()) && !has(&t.to_be_bytes()),
                "tag {t:x}"
            );
        }
        let conn = rusqlite::Connection::open(&path).unwrap();
        let mut st = conn
            .prepare("SELECT name FROM pragma_table_info('drops')")
            .unwrap();
        let columns: Vec<String> = st
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(columns, ["arrival", "box", "digest", "stored_at", "sealed"]);
    }

    /// What the store keeps, field by field: box ids, digests, expiries, arrival numbers, the
    /// sealed messages and opaque per-host charges. The destructuring is exhaustive, so a field
    /// added to the store fails this test until it is looked at here.
    #[test]
    fn the_store_holds_no_identity() {
        let mut s = Drops::new(caps());
        let sender = "203.0.113.77".parse::<IpAddr>().unwrap();
        let bytes = sealed(1, 1);
        s.put(id(1), &bytes, Some(sender), NOW).unwrap();
        let Drops {
            caps: _,
            boxes,
            expiry,
            len,
            next_seq,
            hosts,
            sites,
            tags: _,
            disk: _,
        } = &s;
        assert_eq!((*len, *next_seq), (1, 1));
        let (box_id, kept) = boxes.iter().next().unwrap();
        assert_eq!(*box_id, id(1));
        let [Kept {
            seq,
            digest,
            expires_at,
            bytes: kept_bytes,
            charge,
        }] = &kept[..]
        else {
            panic!("one message");
        };
        assert_eq!((*seq, *expires_at), (0, NOW + 30 * DAY));
        assert_eq!(*digest, drop_digest(&bytes));
        assert_eq!(&kept_bytes[..], &bytes[..]);
        // The charge is two tags, not the address.
        let Charge { host, site } = charge.unwrap();
        assert_ne!(host, u64::from(u32::from_be_bytes([203, 0, 113, 77])));
        assert_eq!(hosts.keys().copied().collect::<Vec<_>>(), vec![host]);
        assert_eq!(sites.keys().copied().collect::<Vec<_>>(), vec![site]);
        assert_eq!(
            expiry.iter().copied().collect::<Vec<_>>(),
            [(NOW + 30 * DAY, 0, id(1))]
        );
        // The Debug dump of the whole store does not show the address either.
        let dump = format!("{s:?}");
        assert!(!dump.contains("203.0.113.77"), "{dump}");
        // And `handle` takes no peer id: the store cannot learn one.
        let (o, _) = s.handle(
            Some(sender),
            DropRequest::Put {
                id: id(1),
                sealed: bytes,
            },
            NOW,
        );
        assert_eq!(o, Outcome::Stored(Stored::Same));
    }
}
