//! What the node tells the application.

use libp2p::{Multiaddr, PeerId};
use meishi_card::envelope::{CheckError, Envelope, EnvelopeError, SignedTeaser};

use crate::protocol::{FrameError, RefuseCode};

/// An event from the node. The node never waits for the application: while it is behind, cards
/// wait in a bounded queue (never dropped), further unsolicited gives are refused as busy, and
/// notices without a card are dropped. Keep reading them. proto-spec/exchange.md#bounds
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// The node listens on `addr` (append `/p2p/<peer id>` to share it).
    Listening { addr: Multiaddr },
    /// A peer on the local network was found by mDNS; its teaser, if it publishes one, was
    /// fetched and verified.
    PeerDiscovered {
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        teaser: Option<SignedTeaser>,
    },
    /// A peer found by mDNS is no longer announced.
    PeerExpired { peer: PeerId },
    /// A card was received and verified: store `envelope.card()` with the envelope, the record
    /// of where and when the two met. Emitted for every card, including the one a
    /// [`crate::Node::give`] returns. `addrs` are the addresses the node knows for `from` now
    /// (the one it dialled or was dialled from, mDNS, the event board): where to reach it later.
    /// `unsolicited`: the giver is neither a contact nor someone I gave my card to, and the node
    /// kept the card without giving mine back (under `never`, or a return nobody asked for); the
    /// application bounds how many such cards it keeps until the user touches them. A stranger's
    /// card answered with mine is a swap, not unsolicited. proto-spec/exchange.md#bounds
    CardReceived {
        from: PeerId,
        envelope: Envelope,
        addrs: Vec<Multiaddr>,
        unsolicited: bool,
    },
    /// This node's card was given to `to`, in `envelope`.
    CardGiven { to: PeerId, envelope: Envelope },
    /// A give was held for the user's decision (policy `ask`, or a peer outside the node's
    /// scope; proto-spec/exchange.md#consent) and the giver was told "pending". The node keeps
    /// nothing of it: the application keeps it in its inbox, one item per giver, and if the
    /// user accepts, gives the card back with [`crate::Node::give_back`]. `addrs` are the
    /// giver's addresses known now, to reach them later (also from another process).
    InboxItem {
        from: PeerId,
        envelope: Envelope,
        addrs: Vec<Multiaddr>,
    },
    /// A peer's request was refused: nothing it sent was passed on.
    Refused { from: PeerId, reason: Refusal },
    /// An attendee of a joined event was found on a relay's teaser board: its sealed teaser
    /// opened with the event key, verified, and is signed by `peer`. `addrs` reach it (its
    /// circuit address on the relay first); give to it with [`crate::Node::give`]. Emitted again
    /// when its teaser changes or it is seen under another event. `event` is the code as given
    /// in [`crate::Config::event_codes`] or [`crate::Node::join_event`]: keep it in memory,
    /// never store or send it.
    AttendeeDiscovered {
        peer: PeerId,
        teaser: SignedTeaser,
        addrs: Vec<Multiaddr>,
        event: String,
    },
    /// A joined event's board on `relay` was read to its end for the first time (after a
    /// relay restart, again): every attendee posted so far has been announced.
    BoardRead { relay: PeerId },
    /// A relay could not be reached (nobody answers, or another peer answers at its address):
    /// the node tries again with backoff. `error` says why, in libp2p's words. `definite`:
    /// the address is wrong rather than the network bad (the connection was refused, another
    /// peer answered, the address cannot be dialled); a lost or timed-out dial is not.
    RelayUnreachable {
        relay: PeerId,
        error: String,
        definite: bool,
    },
    /// A relay accepted a reservation: the node is reachable at `addr` (`<relay>/p2p-circuit`).
    Reserved { relay: PeerId, addr: Multiaddr },
    /// The connection to a relay closed; the node dials it again and reserves again.
    RelayDisconnected { relay: PeerId },
    /// DCUtR upgraded the relayed connection to `peer` to a direct one (hole punching worked).
    DirectConnection { peer: PeerId },
    /// DCUtR could not make the connection to `peer` direct: it stays relayed.
    HolePunchFailed { peer: PeerId },
}

/// An attendee of a joined event, as found on a relay's teaser board.
#[derive(Debug, Clone)]
pub struct Attendee {
    pub peer: PeerId,
    /// Verified and signed by `peer`.
    pub teaser: SignedTeaser,
    /// Circuit addresses on the relays it was seen on.
    pub addrs: Vec<Multiaddr>,
    /// The codes (as configured or joined) of the events it was seen under.
    pub events: Vec<String>,
}

/// A peer found on the local network.
#[derive(Debug, Clone)]
pub struct Discovered {
    pub peer: PeerId,
    pub addrs: Vec<Multiaddr>,
    /// `None` until fetched, or when the peer publishes none.
    pub teaser: Option<SignedTeaser>,
}

/// Why an inbound request was refused. proto-spec/exchange.md#refusals
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    #[error("the request is unreadable: {0}")]
    Unreadable(FrameError),
    #[error("the envelope is invalid: {0}")]
    Envelope(#[from] EnvelopeError),
    #[error("{0}")]
    Check(#[from] CheckError),
    #[error("the envelope was already received (a replay)")]
    Replay,
    #[error("too many requests from this peer")]
    RateLimited,
    #[error("the inbox is full")]
    InboxFull,
    /// More unsolicited cards than `Limits::unsolicited_burst` in a short time.
    #[error("too many cards from strangers at once")]
    TooManyUnsolicited,
    /// The application is behind reading events: the node takes no more cards for now.
    #[error("the application is behind; no more cards for now")]
    Backlog,
    #[error("the peer asked for the card but does not hold it")]
    NotAHolder,
}

impl Refusal {
    /// The code sent to the peer.
    pub fn code(&self) -> RefuseCode {
        match self {
            Self::Unreadable(_) => RefuseCode::Malformed,
            Self::Envelope(_) => RefuseCode::BadEnvelope,
            Self::Check(CheckError::WrongSender { .. }) => RefuseCode::WrongSender,
            Self::Check(CheckError::WrongRecipient { .. }) => RefuseCode::WrongRecipient,
            Self::Check(_) => RefuseCode::BadTime,
            Self::Replay => RefuseCode::Replay,
            Self::RateLimited => RefuseCode::RateLimited,
            Self::InboxFull | Self::TooManyUnsolicited | Self::Backlog => RefuseCode::Busy,
            Self::NotAHolder => RefuseCode::NotAHolder,
        }
    }
}
