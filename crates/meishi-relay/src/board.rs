//! The teaser board: sealed teasers posted under an event namespace, listed in pages.
//! proto-spec/relay.md#teaser-board
//!
//! An attendee posts its teaser sealed with a key derived from the event code
//! ([`meishi_event::EventKey::seal`]) and reads everyone else's in one request per page
//! of up to 256, instead of opening a relayed circuit to each attendee. The relay stores
//! opaque blobs: it cannot read them, and it lists a namespace only to someone who names it.

use std::net::IpAddr;
use std::time::Instant;

use libp2p::{PeerId, StreamProtocol};
use meishi_event::{BoardEntry, BoardErrorCode, BoardRequest, BoardResponse, MAX_BOARD_PAGE};

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

/// The board's state.
pub struct Board {
    registry: Registry<Vec<u8>>,
}

impl Board {
    pub fn new(registry: Registry<Vec<u8>>) -> Self {
        Self { registry }
    }

    pub fn registry(&self) -> &Registry<Vec<u8>> {
        &self.registry
    }

    pub fn expire(&mut self, now: Instant) -> usize {
        self.registry.expire(now)
    }

    /// Drops every entry of `peer`, which has had no connection for the grace period.
    pub fn forget(&mut self, peer: &PeerId) -> usize {
        self.registry.remove_peer(peer)
    }

    /// Handles a request from `peer` (the authenticated remote of the connection).
    pub fn handle(
        &mut self,
        peer: PeerId,
        ip: Option<IpAddr>,
        req: BoardRequest,
        now: Instant,
    ) -> (Outcome, BoardResponse) {
        match req {
            BoardRequest::Put {
                namespace,
                ttl,
                sealed,
            } => match self
                .registry
                .put_from(&namespace, peer, ip, sealed, u64::from(ttl), now)
            {
                Ok(_) => (Outcome::Stored, BoardResponse::Stored { ttl }),
                Err(Refusal::Ttl { .. }) => (
                    Outcome::Refused(BoardErrorCode::BadTtl),
                    BoardResponse::Error(BoardErrorCode::BadTtl),
                ),
                Err(r) => (Outcome::Full(r), BoardResponse::Error(BoardErrorCode::Full)),
            },
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
                        sealed: l.value.clone(),
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
}

/// The codec of this service, both sides.
pub type Codec = crate::frame::FramedCodec<BoardRequest, BoardResponse>;
