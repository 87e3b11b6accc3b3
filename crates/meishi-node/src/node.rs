//! The `Node` handle: typed async commands to the event loop that owns the swarm.
//!
//! Every command is a message with a `oneshot` reply over a bounded channel. All async methods
//! are cancel-safe: dropping the future drops the reply; the loop notices and moves on (a give
//! already on the wire still completes and still yields its events).

use std::time::Duration;

use libp2p::{Multiaddr, PeerId};
use meishi_card::envelope::{CheckError, Envelope, EnvelopeError, SignError, SignedTeaser};
use meishi_card::{DecodeError, PublicKey, SignedCard};
use tokio::sync::{mpsc, oneshot};

use meishi_event::{DropId, SlotId, MAX_DROP_SEALED, MAX_SLOT_RECORD};

use crate::attend::{CodeParts, EventSlot, JoinError, JoinedEvent};
use crate::config::{Config, Peers, Policy};
use crate::drops::{distinct, DropClientError, Listed};
use crate::event::{Attendee, Discovered, Event};
use crate::event_loop;
use crate::protocol::RefuseCode;
use crate::slots::{check_get, SlotClientError, SlotPutOutcome};

/// The event loop has stopped (after [`Node::shutdown`] or a fatal error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the node has shut down")]
pub struct Shutdown;

/// Why the node could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpawnError {
    #[error("the card belongs to another key than the identity")]
    NotOwnCard,
    #[error("the identity key is not usable by libp2p: {0}")]
    Key(#[source] libp2p::identity::DecodingError),
    #[error("could not set up the transports: {0}")]
    Transport(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("could not start mDNS: {0}")]
    Mdns(#[source] std::io::Error),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: Multiaddr,
        #[source]
        source: libp2p::TransportError<std::io::Error>,
    },
    #[error("the teaser is invalid: {0}")]
    Teaser(#[source] SignError),
    #[error("the event name is invalid: {0}")]
    Event(#[source] SignError),
    #[error("must be called inside a tokio runtime")]
    NoRuntime,
    #[error(transparent)]
    Join(#[from] JoinError),
}

/// Why a dial failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DialError {
    #[error(transparent)]
    Shutdown(#[from] Shutdown),
    #[error("could not connect: {0}")]
    Failed(#[source] libp2p::swarm::DialError),
}

/// Why a request to a peer did not get an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    #[error("could not connect to the peer (no address known, or nobody answers there)")]
    Unreachable,
    #[error("the peer did not answer in time")]
    Timeout,
    #[error("the connection closed before the peer answered")]
    ConnectionClosed,
    #[error("the peer does not speak the meishi exchange protocol")]
    UnsupportedProtocol,
    #[error("the exchange failed: {0}")]
    Io(std::io::ErrorKind),
}

/// The result of giving my card.
#[allow(
    clippy::large_enum_variant,
    reason = "one outcome per give, moved once; boxing the envelope buys nothing"
)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GiveOutcome {
    /// Both cards were exchanged: here is theirs, in their envelope addressed to me.
    Mutual { envelope: Envelope },
    /// They kept my card and give none back (policy `never`, or an answer to a give-back).
    ReceivedOnly,
    /// My card waits in their inbox; theirs arrives later as [`Event::CardReceived`] if they
    /// accept.
    Pending,
}

/// Why giving my card failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GiveError {
    #[error(transparent)]
    Shutdown(#[from] Shutdown),
    #[error("peer id {0} is not a meishi (ed25519) peer id")]
    NotMeishiPeer(PeerId),
    #[error("cannot give to myself")]
    Myself,
    #[error("could not sign the envelope: {0}")]
    Sign(#[from] SignError),
    #[error("the operating system's random source failed")]
    Random,
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error("the peer refused: {0}")]
    Refused(RefuseCode),
    #[error("the peer's card is invalid: {0}")]
    BadEnvelope(#[from] EnvelopeError),
    #[error("the peer's envelope is not acceptable: {0}")]
    BadCheck(#[from] CheckError),
    #[error("the peer answered with an unexpected message")]
    UnexpectedResponse,
}

/// Why fetching a contact's current card failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    #[error(transparent)]
    Shutdown(#[from] Shutdown),
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error("the peer refused: {0}")]
    Refused(RefuseCode),
    #[error("the peer's card is invalid: {0}")]
    BadCard(#[from] DecodeError),
    #[error("the peer's teaser is invalid: {0}")]
    BadTeaser(EnvelopeError),
    #[error("the peer sent a card or teaser of another key")]
    WrongKey,
    #[error("the peer answered with an unexpected message")]
    UnexpectedResponse,
}

/// Why the card could not be replaced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SetCardError {
    #[error(transparent)]
    Shutdown(#[from] Shutdown),
    #[error("the card belongs to another key than the node's identity")]
    NotOwnCard,
}

/// Why a ping measurement failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PingError {
    #[error(transparent)]
    Shutdown(#[from] Shutdown),
    #[error("not connected to the peer")]
    NotConnected,
    #[error("the ping failed")]
    Failed,
    #[error("too many ping requests waiting")]
    Busy,
}

pub(crate) type Reply<T> = oneshot::Sender<T>;

/// One message per command; the loop answers on `reply`.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "commands are rare and short-lived in a bounded channel"
)]
pub(crate) enum Command {
    /// The addresses the node listens on now.
    ListenAddrs { reply: Reply<Vec<Multiaddr>> },
    /// Connect to `addr`; answers with the peer id once connected.
    Dial {
        addr: Multiaddr,
        reply: Reply<Result<PeerId, DialError>>,
    },
    /// Give my card (`back`: as a give-back that asks for nothing in return).
    Give {
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        back: bool,
        reply: Reply<Result<GiveOutcome, GiveError>>,
    },
    /// Ask a peer for their current card.
    Fetch {
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        reply: Reply<Result<SignedCard, FetchError>>,
    },
    /// Ask a peer for their teaser.
    Teaser {
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        reply: Reply<Result<Option<SignedTeaser>, FetchError>>,
    },
    /// The peers found on the local network.
    Nearby { reply: Reply<Vec<Discovered>> },
    /// The attendees found on relays' teaser boards.
    Attendees { reply: Reply<Vec<Attendee>> },
    /// Replace my card (a new seq after an edit).
    SetCard {
        card: SignedCard,
        reply: Reply<Result<(), SetCardError>>,
    },
    /// Replace what the application's records say about other people.
    SetPeers { peers: Peers, reply: Reply<()> },
    /// Sign an envelope of my card for `recipient`, to hand over some other way.
    SignGive {
        recipient: PublicKey,
        reply: Reply<Result<Envelope, GiveError>>,
    },
    /// Replace what my gives carry besides the card.
    SetLinks {
        links: Option<crate::config::GiveLinks>,
        reply: Reply<()>,
    },
    /// Change the give-back policy.
    SetPolicy { policy: Policy, reply: Reply<()> },
    /// The next ping round trip measured on the connection to `peer`.
    Ping {
        peer: PeerId,
        reply: Reply<Result<Duration, PingError>>,
    },
    /// Join an event (its key already derived) on every relay, after adding `relays`.
    Join {
        event: EventSlot,
        relays: Vec<Multiaddr>,
        reply: Reply<Result<(), JoinError>>,
    },
    /// The events joined.
    Events { reply: Reply<Vec<JoinedEvent>> },
    /// Put a slot record on the relay at `relay` (ending in `/p2p/<id>`).
    PutSlot {
        relay: Multiaddr,
        record: Vec<u8>,
        reply: Reply<Result<SlotPutOutcome, SlotClientError>>,
    },
    /// Get the records of `slots` (1 to 64 distinct ids) from the relay at `relay`.
    GetSlots {
        relay: Multiaddr,
        slots: Vec<SlotId>,
        reply: Reply<Result<Vec<Vec<u8>>, SlotClientError>>,
    },
    /// Leave a sealed message in box `id` on the relay at `relay` (ending in `/p2p/<id>`).
    PutDrop {
        relay: Multiaddr,
        id: DropId,
        sealed: Vec<u8>,
        reply: Reply<Result<(), DropClientError>>,
    },
    /// Get the messages waiting in boxes `ids` (1 to 64 distinct) on the relay at `relay`.
    GetDrops {
        relay: Multiaddr,
        ids: Vec<DropId>,
        reply: Reply<Result<Listed, DropClientError>>,
    },
    /// Delete the messages of box `id` with these digests (1 to 64 distinct) from the relay.
    AckDrops {
        relay: Multiaddr,
        id: DropId,
        digests: Vec<[u8; 32]>,
        reply: Reply<Result<u32, DropClientError>>,
    },
    /// Stop the event loop and close every connection.
    Shutdown { reply: Reply<()> },
}

/// A cloneable handle to a running node. The node stops when [`Node::shutdown`] is called or
/// every handle is dropped.
#[derive(Debug, Clone)]
pub struct Node {
    peer_id: PeerId,
    commands: mpsc::Sender<Command>,
}

impl Node {
    /// Starts the node on the current tokio runtime: builds the swarm, starts listening, and
    /// spawns the event loop. Returns the handle and the node's events.
    pub fn spawn(config: Config) -> Result<(Node, mpsc::Receiver<Event>), SpawnError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| SpawnError::NoRuntime)?;
        let (command_tx, command_rx) = mpsc::channel(config.limits.command_buffer.max(1));
        let (event_tx, event_rx) = mpsc::channel(config.limits.event_buffer.max(1));
        let (event_loop, peer_id) = event_loop::EventLoop::new(config, command_rx, event_tx)?;
        runtime.spawn(event_loop.run());
        Ok((
            Node {
                peer_id,
                commands: command_tx,
            },
            event_rx,
        ))
    }

    /// This node's peer id: the card key's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    async fn call<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, Shutdown> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(make(tx)).await.map_err(|_| Shutdown)?;
        rx.await.map_err(|_| Shutdown)
    }

    /// The addresses the node listens on now (without `/p2p`). Empty until the first
    /// [`Event::Listening`].
    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>, Shutdown> {
        self.call(|reply| Command::ListenAddrs { reply }).await
    }

    /// Connects to `addr` (with or without `/p2p/<id>`) and returns the peer id.
    pub async fn dial(&self, addr: Multiaddr) -> Result<PeerId, DialError> {
        self.call(|reply| Command::Dial { addr, reply }).await?
    }

    /// Gives my card to `peer` in an envelope addressed to them, dialing `addrs` if not
    /// connected (addresses learned by mDNS or identify are tried too). Their answer says
    /// whether their card came back. Bound it with a timeout: dialing a dead address can take
    /// as long as the operating system's connect timeout.
    pub async fn give(
        &self,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
    ) -> Result<GiveOutcome, GiveError> {
        self.give_envelope(peer, addrs, false).await
    }

    /// Gives my card back to `peer` without asking for theirs: for a card the user accepted
    /// from the inbox (the application's; the node keeps none), also after a restart.
    pub async fn give_back(
        &self,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
    ) -> Result<GiveOutcome, GiveError> {
        self.give_envelope(peer, addrs, true).await
    }

    /// `back`: the envelope says "my card back", so the recipient does not reciprocate.
    async fn give_envelope(
        &self,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        back: bool,
    ) -> Result<GiveOutcome, GiveError> {
        self.call(|reply| Command::Give {
            peer,
            addrs,
            back,
            reply,
        })
        .await?
    }

    /// Asks `peer` for their current card (answered only if they gave it to me before). Compare
    /// it with the stored card with [`SignedCard::compare`]: only a newer seq replaces it.
    pub async fn fetch(
        &self,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
    ) -> Result<SignedCard, FetchError> {
        self.call(|reply| Command::Fetch { peer, addrs, reply })
            .await?
    }

    /// Asks `peer` for their signed teaser (`None`: they publish none). The teaser's key is
    /// checked against the peer id. Anyone may ask; the teaser is public by the peer's choice.
    pub async fn teaser(
        &self,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
    ) -> Result<Option<SignedTeaser>, FetchError> {
        self.call(|reply| Command::Teaser { peer, addrs, reply })
            .await?
    }

    /// Peers found on the local network, with the teasers fetched so far.
    pub async fn nearby(&self) -> Result<Vec<Discovered>, Shutdown> {
        self.call(|reply| Command::Nearby { reply }).await
    }

    /// Attendees of the joined events found so far, with their verified teasers.
    pub async fn attendees(&self) -> Result<Vec<Attendee>, Shutdown> {
        self.call(|reply| Command::Attendees { reply }).await
    }

    /// Joins an event while the node runs, as if it had been in [`Config::event_codes`]: the
    /// node registers, posts its teaser (if it publishes one) and reads the event's board on
    /// every relay it keeps, and announces attendees with [`Event::AttendeeDiscovered`] (under
    /// `code`) and [`Event::BoardRead`].
    ///
    /// `code` is an event code or a join URI (`meishi:event?code=…&relay=…`,
    /// proto-spec/relay.md#join-uri), whose relays are added and whose name is the label when
    /// `label` is `None`. `relay` (ending in `/p2p/<relay id>`) is added too if the node does
    /// not keep it yet; at most [`crate::MAX_RELAYS`] relays and [`crate::MAX_EVENTS`] events in
    /// all. `label` names the event: it becomes the event named in the envelopes this node
    /// gives ([`Config::label`]) if the node has none yet.
    ///
    /// Joining an event already joined is not an error (its new relays are still added). A
    /// node running with [`crate::Scope::Anyone`] runs with [`crate::Scope::Known`] once it has joined,
    /// as a node started with an event does: strangers who reach it through the relay wait in
    /// the inbox, attendees seen on the board are answered.
    ///
    /// Deriving the event key takes about a quarter of a second of one core and 64 MiB
    /// (Argon2id); it runs on tokio's blocking pool, not on the node's event loop. Cancel-safe:
    /// dropped while the key is being derived, nothing is joined; dropped later, the join may
    /// still take effect.
    pub async fn join_event(
        &self,
        code: String,
        relay: Option<Multiaddr>,
        label: Option<String>,
    ) -> Result<(), JoinError> {
        self.join_event_on(code, relay.into_iter().collect(), label)
            .await
    }

    /// [`Node::join_event`] with any number of relays (those of a checked join URI, say).
    pub async fn join_event_on(
        &self,
        code: String,
        relays: Vec<Multiaddr>,
        label: Option<String>,
    ) -> Result<(), JoinError> {
        let given = relays;
        // Only the URI's relays are said to be one fleet, not those given besides.
        let CodeParts {
            code,
            mut relays,
            name,
            fleet,
        } = CodeParts::read(code)?;
        let label = label.or(name);
        for r in given {
            if !relays.contains(&r) {
                relays.push(r);
            }
        }
        // Refuse a bad relay before paying for the key.
        if let Some(bad) = relays.iter().find(|r| split_p2p(r).is_none()) {
            return Err(JoinError::RelayWithoutPeerId(bad.clone()));
        }
        meishi_event::normalize(&code)?;
        let mut event = tokio::task::spawn_blocking(move || EventSlot::derive(code, label))
            .await
            // The blocking pool is gone only when the runtime shuts down, and the node with it.
            .map_err(|_| Shutdown)??;
        event.fleet = fleet;
        self.call(|reply| Command::Join {
            event,
            relays,
            reply,
        })
        .await?
    }

    /// The events joined, at start and with [`Node::join_event`], in the order they were joined.
    pub async fn events(&self) -> Result<Vec<JoinedEvent>, Shutdown> {
        self.call(|reply| Command::Events { reply }).await
    }

    /// Replaces the card given from now on.
    pub async fn set_card(&self, card: SignedCard) -> Result<(), SetCardError> {
        self.call(|reply| Command::SetCard { card, reply }).await?
    }

    /// A give envelope of my current card (with the links for `recipient`), signed now, for
    /// the application to hand over another way than an exchange stream: in a contact's drop
    /// box, or to a person I was introduced to. The caller applies the consent rule: only
    /// people who hold my card, or whom I accepted, get one.
    pub async fn sign_give(&self, recipient: PublicKey) -> Result<Envelope, GiveError> {
        self.call(|reply| Command::SignGive { recipient, reply })
            .await?
    }

    /// Replaces what my gives carry besides the card (a new slot after a revoke), from the next
    /// give on.
    pub async fn set_links(&self, links: Option<crate::config::GiveLinks>) -> Result<(), Shutdown> {
        self.call(|reply| Command::SetLinks { links, reply }).await
    }

    /// Replaces what the application's records say about other people: holders, contacts,
    /// revoked keys and pending inbox items (proto-spec/exchange.md#consent). Call it whenever
    /// the records change; a revocation takes effect for the next request.
    pub async fn set_peers(&self, peers: Peers) -> Result<(), Shutdown> {
        self.call(|reply| Command::SetPeers { peers, reply }).await
    }

    /// Changes the give-back policy for cards arriving from now on.
    pub async fn set_policy(&self, policy: Policy) -> Result<(), Shutdown> {
        self.call(|reply| Command::SetPolicy { policy, reply })
            .await
    }

    /// Waits for the next libp2p ping on the connection to `peer` and returns its round-trip
    /// time (pings run every `Limits::ping_interval`).
    pub async fn ping(&self, peer: PeerId) -> Result<Duration, PingError> {
        self.call(|reply| Command::Ping { peer, reply }).await?
    }

    /// Puts a card slot record (its bytes, sealed and signed with
    /// [`meishi_event::SlotRecord::seal`]) on the relay at `relay`, which must end in
    /// `/p2p/<relay id>`; dials the relay if not connected. Returns the relay's answer: the
    /// record's `seq` once kept, or why it was refused (a replayed older `seq` is
    /// [`meishi_event::SlotRefusal::Older`]). proto-spec/slot.md#relay-protocol
    ///
    /// At most [`crate::MAX_SLOT_REQUESTS`] slot requests wait at once, each for at most
    /// `Limits::request_timeout` once its stream is open.
    pub async fn put_slot(
        &self,
        relay: Multiaddr,
        record: Vec<u8>,
    ) -> Result<SlotPutOutcome, SlotClientError> {
        if split_p2p(&relay).is_none() {
            return Err(SlotClientError::RelayWithoutPeerId(relay));
        }
        if record.is_empty() || record.len() > MAX_SLOT_RECORD {
            return Err(SlotClientError::RecordSize(record.len()));
        }
        self.call(|reply| Command::PutSlot {
            relay,
            record,
            reply,
        })
        .await?
    }

    /// Gets the records the relay at `relay` (ending in `/p2p/<relay id>`) keeps for the slots
    /// `ids` (at most [`meishi_event::MAX_SLOT_GET`] distinct ids; more is an error before
    /// anything is sent), dialing it if not connected. Returns the records' bytes, in the order
    /// asked, leaving out slots the relay keeps nothing for; records that do not verify or are
    /// of slots not asked for are dropped. Open them with [`meishi_event::SlotRecord`] and the
    /// slot's seal key, and keep only a `seq` higher than the one stored.
    pub async fn get_slots(
        &self,
        relay: Multiaddr,
        ids: Vec<[u8; 32]>,
    ) -> Result<Vec<Vec<u8>>, SlotClientError> {
        let slots = check_get(ids)?;
        if split_p2p(&relay).is_none() {
            return Err(SlotClientError::RelayWithoutPeerId(relay));
        }
        if slots.is_empty() {
            return Ok(Vec::new());
        }
        self.call(|reply| Command::GetSlots {
            relay,
            slots,
            reply,
        })
        .await?
    }

    /// Leaves a sealed message (its bytes, sealed with [`meishi_event::seal_drop`] to the
    /// recipient's drop address) in box `id` on the relay at `relay`, which must end in
    /// `/p2p/<relay id>`; dials the relay if not connected. `Ok` once the relay keeps it (or
    /// already kept these exact bytes in that box); a refusal, such as a full box
    /// ([`meishi_event::DropRefusal::BoxFull`]), is [`DropClientError::Refused`].
    /// proto-spec/drop.md#relay-protocol
    ///
    /// At most [`crate::MAX_DROP_REQUESTS`] drop requests wait at once, each for at most
    /// `Limits::request_timeout` once its stream is open.
    pub async fn put_drop(
        &self,
        relay: Multiaddr,
        id: DropId,
        sealed: Vec<u8>,
    ) -> Result<(), DropClientError> {
        if split_p2p(&relay).is_none() {
            return Err(DropClientError::RelayWithoutPeerId(relay));
        }
        if sealed.is_empty() || sealed.len() > MAX_DROP_SEALED {
            return Err(DropClientError::SealedSize(sealed.len()));
        }
        self.call(|reply| Command::PutDrop {
            relay,
            id,
            sealed,
            reply,
        })
        .await?
    }

    /// Gets the messages waiting in my boxes `ids` (at most [`meishi_event::MAX_DROP_GET`]
    /// distinct ids; more is an error before anything is sent) on the relay at `relay` (ending
    /// in `/p2p/<relay id>`), dialing it if not connected. Returns them oldest first, each with
    /// its box id, and whether more wait: a response holds at most
    /// [`meishi_event::MAX_DROP_PAGE`] messages and [`meishi_event::MAX_DROP_RESPONSE`] bytes,
    /// so store these, [acknowledge](Node::ack_drops) them, and get again. Messages that fail
    /// [`meishi_event::check_drop`] or are of boxes not asked for are dropped. Open each with
    /// [`meishi_event::open_drop`] and the box it came from.
    pub async fn get_drops(
        &self,
        relay: Multiaddr,
        ids: Vec<DropId>,
    ) -> Result<(Vec<(DropId, Vec<u8>)>, bool), DropClientError> {
        let ids = distinct(&ids, DropClientError::TooManyIds)?;
        if split_p2p(&relay).is_none() {
            return Err(DropClientError::RelayWithoutPeerId(relay));
        }
        if ids.is_empty() {
            return Ok((Vec::new(), false));
        }
        self.call(|reply| Command::GetDrops { relay, ids, reply })
            .await?
    }

    /// Deletes the messages of box `id` named by `digests` ([`meishi_event::drop_digest`] of
    /// each message's bytes; at most [`meishi_event::MAX_DROP_GET`] distinct) from the relay at
    /// `relay` (ending in `/p2p/<relay id>`), once they are stored: until then the relay keeps
    /// them. Returns how many the relay deleted; digests it does not hold are not an error.
    pub async fn ack_drops(
        &self,
        relay: Multiaddr,
        id: DropId,
        digests: Vec<[u8; 32]>,
    ) -> Result<u32, DropClientError> {
        let digests = distinct(&digests, DropClientError::TooManyDigests)?;
        if split_p2p(&relay).is_none() {
            return Err(DropClientError::RelayWithoutPeerId(relay));
        }
        if digests.is_empty() {
            return Ok(0);
        }
        self.call(|reply| Command::AckDrops {
            relay,
            id,
            digests,
            reply,
        })
        .await?
    }

    /// Stops the node: closes every connection and ends the event stream.
    pub async fn shutdown(&self) -> Result<(), Shutdown> {
        self.call(|reply| Command::Shutdown { reply }).await
    }
}

/// The peer id of a meishi key (the same as [`PublicKey::peer_id`], as a libp2p type). The
/// bytes are an identity multihash by construction, so this is `None` only if libp2p changed.
pub fn peer_id_of(key: &PublicKey) -> Option<PeerId> {
    PeerId::from_bytes(&key.peer_id_bytes()).ok()
}

/// The meishi key behind a peer id, if it is an ed25519 peer id.
pub fn key_of(peer: &PeerId) -> Option<PublicKey> {
    PublicKey::from_peer_id_bytes(&peer.to_bytes()).ok()
}

/// Splits `/…/p2p/<id>` into the peer id and the address without it.
pub fn split_p2p(addr: &Multiaddr) -> Option<(PeerId, Multiaddr)> {
    let mut base = addr.clone();
    match base.pop() {
        Some(libp2p::multiaddr::Protocol::P2p(peer)) => Some((peer, base)),
        _ => None,
    }
}
