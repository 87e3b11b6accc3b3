//! The teaser board: sealed teasers posted under an event namespace, listed in pages.
//! proto-spec/relay.md#teaser-board
//!
//! An attendee posts its teaser sealed with a key derived from the event code
//! ([`meishi_event::EventKey::seal`]) and reads everyone else's in one request per page
//! of up to 256, instead of opening a relayed circuit to each attendee. The relay stores
//! opaque blobs: it cannot read them, and it lists a namespace only to someone who names it.
//!
//! Each entry keeps a **stamp**: when it was stored by the relay its client wrote to (its
//! origin), in Unix microseconds. The relays of a fleet ([`crate::fleet`]) copy entries to
//! each other with their stamps, and a copy replaces what a relay holds for the same
//! (namespace, peer) only if its stamp is higher; a client's own write always replaces (its
//! stamp is made higher than the one held).

use std::net::IpAddr;
use std::time::Instant;

use libp2p::{PeerId, StreamProtocol};
use meishi_event::{BoardEntry, BoardErrorCode, BoardRequest, BoardResponse, MAX_BOARD_PAGE};

use crate::fleet::wire::{Entry, PullErrorCode, PullRequest, PullResponse, MAX_PULL_PAGE};
use crate::registry::{Refusal, Registry};

/// The teaser board protocol id. proto-spec/relay.md#teaser-board
pub const PROTOCOL: StreamProtocol = StreamProtocol::new(meishi_event::BOARD_PROTOCOL);

/// Outcome of one request, for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Stored,
    Removed,
    Listed(usize),
    Refused(BoardErrorCode),
    /// Refused with [`BoardErrorCode::Full`] by this cap.
    Full(Refusal),
}

/// What the board keeps per entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Teaser {
    /// The sealed teaser, opaque to the relay.
    pub sealed: Vec<u8>,
    /// When the origin relay stored this version, in Unix microseconds.
    pub stamp: u64,
}

/// What came of a copy of an entry from another relay of the fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Stored: it was new here, or newer than what was held.
    Stored,
    /// Not newer than what is held (its stamp is equal or lower): nothing changed.
    Stale,
    /// Its TTL is outside this relay's bounds, as a client's write would be.
    BadTtl,
    /// A cap of this board refused it, as it would a client's write.
    Full(Refusal),
}

/// The board's state.
pub struct Board {
    registry: Registry<Teaser>,
}

impl Board {
    pub fn new(registry: Registry<Teaser>) -> Self {
        Self { registry }
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
        let held = self
            .registry
            .get(namespace, &entry.peer, now)
            .map(|l| l.value.stamp);
        if held.is_some_and(|h| h >= entry.stamp) {
            return Applied::Stale;
        }
        let teaser = Teaser {
            sealed: entry.sealed,
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
            Ok(_) => Applied::Stored,
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
        self.registry.expire(now)
    }

    /// Drops every entry of `peer`, which has had no connection for the grace period.
    pub fn forget(&mut self, peer: &PeerId) -> usize {
        self.registry.remove_peer(peer)
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
                // Newer than what is held, even a copy stamped by a relay whose clock is ahead.
                let held = self
                    .registry
                    .get(&namespace, &peer, now)
                    .map(|l| l.value.stamp);
                let stamp = held.map_or(clock, |h| clock.max(h.saturating_add(1)));
                let teaser = Teaser { sealed, stamp };
                self.put(namespace, peer, ip, teaser, ttl, now)
            }
            BoardRequest::Remove { namespace } => {
                self.registry.remove(&namespace, &peer);
                (Outcome::Removed, BoardResponse::Removed)
            }
            BoardRequest::Get {
                namespace,
                cursor,
                limit,
            } => {
                let limit = usize::from(limit.min(MAX_BOARD_PAGE));
                let (page, cursor, more) = self.registry.page(&namespace, cursor, limit, now);
                let entries: Vec<BoardEntry> = page
                    .into_iter()
                    .map(|l| BoardEntry {
                        peer: l.peer.to_bytes(),
                        sealed: l.value.sealed.clone(),
                    })
                    .collect();
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
        sealed: l.value.sealed.clone(),
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

    #[test]
    fn a_clients_write_is_newer_than_any_copy_held() {
        let now = Instant::now();
        let mut b = board();
        let p = PeerId::random();
        // A copy stamped by a relay whose clock runs ahead of this one.
        b.apply(NS, copy(p, 5_000, b"copy"), now);
        let put = BoardRequest::Put {
            namespace: NS.into(),
            ttl: 300,
            sealed: b"mine".to_vec(),
        };
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
