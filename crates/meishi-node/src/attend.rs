//! Joining events through relays. proto-spec/relay.md#node-behaviour
//!
//! The node ranks its relays by rendezvous hashing of its peer id
//! ([`meishi_event::shard`], proto-spec/relay.md#sharding) and keeps one connection and one
//! reservation on each of its first [`HOME_RELAYS`] that have not failed, its *home* relays: it
//! dials the relay, listens on `<relay>/p2p-circuit` (the reservation), and when the connection
//! drops it dials again with exponential backoff and reserves again (rust-libp2p's relay client
//! does not). A home relay that cannot be dialled has *failed*: the next relay in the node's
//! order takes its place, and the failed one is dialled with backoff until it answers, when it
//! becomes home again. For every event it registers under the event's namespace on its home
//! relays (TTL [`REGISTER_TTL`], refreshed every half TTL and after every reservation: the
//! rendezvous client never refreshes on its own), posts its sealed teaser to the teaser board of
//! *every* relay with the same TTL (a relay that is not home is dialled for the post and the
//! connection left to close when idle; when the join URI says that the relays are one fleet,
//! to its home relays only, which copy it to the rest of the fleet), and reads the board, with
//! cursors, from its *primary* relay only: the first home relay that is up. It does not
//! DISCOVER the registrations: the board names every attendee and where to reach it, and a
//! DISCOVER every poll would double the requests each relay answers (proto-spec/relay.md#node-side-what-the-node-implements-meishi_node).
//! Relays of a fleet hold every entry; relays that are not a fleet hold every entry too, because
//! everyone posts everywhere. With more relays than [`HOME_RELAYS`], the teaser names the home
//! relays (a format-2 teaser), so others dial the node through them. Teasers read from the
//! board are opened with the event key, verified, and checked against the peer that posted them
//! before the application sees them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use libp2p::core::transport::ListenerId;
use libp2p::multiaddr::Protocol;
use libp2p::request_response::OutboundRequestId;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::{rendezvous, Multiaddr, PeerId, StreamProtocol, Swarm};
use meishi_card::envelope::{SignError, SignedTeaser};
use meishi_card::Identity;
use meishi_event::shard::{self, HOME_RELAYS};
use meishi_event::{
    BoardRequest, BoardResponse, CodeError, EventKey, SealError, TicketError, MAX_BOARD_PAGE,
};

use crate::behaviour::Behaviour;
use crate::config::Limits;
use crate::event::{Attendee, Event};
use crate::node::{key_of, Shutdown};

/// The relay's teaser board. proto-spec/relay.md#teaser-board
pub const BOARD_PROTOCOL: StreamProtocol = StreamProtocol::new(meishi_event::BOARD_PROTOCOL);
/// TTL of registrations and board entries, in seconds. proto-spec/relay.md#rendezvous
pub const REGISTER_TTL: u64 = 300;
/// Registrations and board entries are refreshed after half their TTL.
const REFRESH: Duration = Duration::from_secs(REGISTER_TTL / 2);
/// Relays a node keeps reservations on.
pub const MAX_RELAYS: usize = 8;
/// Events a node joins at once (a relay accepts 8 namespaces per peer).
pub const MAX_EVENTS: usize = 8;
/// Attendees remembered across all events.
const MAX_ATTENDEES: usize = 16_384;
/// Addresses remembered per attendee.
const MAX_ADDRS: usize = 8;

/// The client codec of this service.
pub(crate) type BoardCodec = crate::client_codec::ClientCodec<BoardRequest, BoardResponse>;

// ---- state ----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    /// Not connected; dial at `retry_at`.
    Down { retry_at: Instant },
    /// A dial is under way.
    Dialing,
    /// Connected.
    Up,
}

/// One event on one relay.
#[derive(Debug)]
struct Joined {
    cursor: u64,
    next_refresh: Instant,
    next_poll: Instant,
    get_in_flight: bool,
    /// When the last read was sent: the next waits at least `Limits::event_min_poll`.
    last_read: Option<Instant>,
    /// The board was read to its end once (announced with `Event::BoardRead`).
    caught_up: bool,
}

impl Joined {
    fn new(now: Instant) -> Self {
        Joined {
            cursor: 0,
            next_refresh: now,
            next_poll: now,
            get_in_flight: false,
            last_read: None,
            caught_up: false,
        }
    }

    /// Asks for the next read as soon as the minimum interval `min` allows: whatever the relay
    /// answers ("more" forever) or however often a give asks for a fresh read, reads of one
    /// board are at least `min` apart.
    fn read_soon(&mut self, now: Instant, min: Duration) {
        self.next_poll = match self.last_read {
            Some(t) => (t + min).max(now),
            None => now,
        };
    }

    /// Whether a read is due at `now`; if so it is recorded as sent, and the next one is
    /// scheduled after `poll` (at least `min`).
    fn start_read(&mut self, now: Instant, poll: Duration, min: Duration) -> bool {
        if self.get_in_flight || now < self.next_poll {
            return false;
        }
        if let Some(t) = self.last_read {
            if now < t + min {
                self.next_poll = t + min;
                return false;
            }
        }
        self.get_in_flight = true;
        self.last_read = Some(now);
        self.next_poll = now + poll.max(min);
        true
    }
}

#[derive(Debug)]
struct RelaySlot {
    /// The relay's address without `/p2p`.
    base: Multiaddr,
    peer: PeerId,
    link: Link,
    backoff: Duration,
    listener: Option<ListenerId>,
    reserved: bool,
    /// One of my home relays: I keep a reservation here.
    home: bool,
    /// The last dial failed; cleared by a connection.
    failed: bool,
    /// The largest board page this relay is asked for: [`MAX_BOARD_PAGE`], or
    /// [`OLD_BOARD_PAGE`] once a Get for a larger one failed (see [`page_after`]).
    page: u16,
    joined: Vec<Joined>,
}

/// The board page of relays from before 2026-11-30, which read a Get for more as malformed
/// and end its stream without an answer. proto-spec/relay.md#teaser-board
const OLD_BOARD_PAGE: u16 = 256;

/// The page to ask a relay for after its answer to a Get for `asked` entries (`None`: no
/// answer). A relay from before 2026-11-30 reads a Get for more than 256 as malformed and ends
/// the stream without an answer, so a Get for more that fails (or is refused as a bad request)
/// is asked again with the old page; a failure for another reason (a dropped connection) only
/// makes that relay's pages smaller.
fn page_after(asked: u16, response: Option<&BoardResponse>) -> u16 {
    match response {
        None | Some(BoardResponse::Error(meishi_event::BoardErrorCode::BadRequest))
            if asked > OLD_BOARD_PAGE =>
        {
            OLD_BOARD_PAGE
        }
        _ => asked,
    }
}

/// A relay address split into its peer id and the address without `/p2p`.
fn relay_parts(addr: Multiaddr) -> Result<(PeerId, Multiaddr), JoinError> {
    crate::node::split_p2p(&addr).ok_or(JoinError::RelayWithoutPeerId(addr))
}

impl RelaySlot {
    /// A relay not connected yet, to dial at the next tick.
    fn new(peer: PeerId, base: Multiaddr, now: Instant, backoff: Duration) -> Self {
        RelaySlot {
            base,
            peer,
            link: Link::Down { retry_at: now },
            backoff,
            listener: None,
            reserved: false,
            home: false,
            failed: false,
            page: MAX_BOARD_PAGE,
            joined: Vec::new(),
        }
    }

    fn circuit(&self) -> Multiaddr {
        self.base
            .clone()
            .with(Protocol::P2p(self.peer))
            .with(Protocol::P2pCircuit)
    }
}

/// What a code given to join an event holds: the code itself, or a join URI's code, relays,
/// name, and (when it says `fleet=1`) those relays again as one fleet.
pub(crate) struct CodeParts {
    pub(crate) code: String,
    pub(crate) relays: Vec<Multiaddr>,
    pub(crate) name: Option<String>,
    pub(crate) fleet: Vec<Multiaddr>,
}

impl CodeParts {
    /// Reads `code`: a join URI when it starts with `meishi:`, else an event code as given.
    pub(crate) fn read(code: String) -> Result<Self, JoinError> {
        if !code.trim_start().starts_with("meishi:") {
            return Ok(Self {
                code,
                relays: Vec::new(),
                name: None,
                fleet: Vec::new(),
            });
        }
        let ticket: meishi_event::JoinTicket = code.trim().parse()?;
        let name = ticket.name().map(str::to_owned);
        let fleet = ticket.fleet();
        let (code, relays) = ticket.into_parts();
        let fleet = if fleet { relays.clone() } else { Vec::new() };
        Ok(Self {
            code,
            relays,
            name,
            fleet,
        })
    }
}

/// One joined event: its code, the key derived from it, and the label it was joined under.
pub(crate) struct EventSlot {
    /// The code as the application gave it (kept in memory only, never sent).
    code: String,
    key: EventKey,
    namespace: rendezvous::Namespace,
    /// What the event is called (the label it was joined under), to show; never the code.
    label: Option<String>,
    /// The teaser last sealed for this event and its sealed bytes, posted again unchanged.
    sealed: Option<(Vec<u8>, Vec<u8>)>,
    /// The relays of its join URI when that says they are one fleet (`fleet=1`).
    pub(crate) fleet: Vec<Multiaddr>,
}

impl std::fmt::Debug for EventSlot {
    /// Without the code: it is a secret of the event's attendees.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventSlot")
            .field("namespace", &self.namespace)
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

impl EventSlot {
    /// The label the event was joined under.
    pub(crate) fn label(&self) -> Option<&str> {
        self.label.as_deref()
    }

    /// Derives the event key from `code`: one Argon2id of 64 MiB, about a quarter of a second
    /// of one core. Call it off the event loop (it is `spawn_blocking`ed by
    /// [`crate::Node::join_event`]) or once at start.
    pub(crate) fn derive(code: String, label: Option<String>) -> Result<Self, JoinError> {
        let key = EventKey::derive(&code)?;
        // A derived namespace is 75 bytes, within rendezvous' 255.
        let namespace = rendezvous::Namespace::new(key.namespace().to_owned())
            .map_err(|_| JoinError::Code(CodeError::Empty))?;
        Ok(EventSlot {
            code,
            key,
            namespace,
            label,
            sealed: None,
            fleet: Vec::new(),
        })
    }

    /// `teaser` sealed for this event: the same bytes as last time while the teaser is the
    /// same. Sealing draws a new nonce, and a relay lists an entry whose bytes changed to every
    /// reader again; the same bytes it only extends (proto-spec/relay.md#teaser-board).
    pub(crate) fn seal(&mut self, teaser: &[u8]) -> Result<Vec<u8>, SealError> {
        if let Some((t, sealed)) = &self.sealed {
            if t.as_slice() == teaser {
                return Ok(sealed.clone());
            }
        }
        let sealed = self.key.seal(teaser)?;
        self.sealed = Some((teaser.to_vec(), sealed.clone()));
        Ok(sealed)
    }
}

#[derive(Debug, Clone, Copy)]
enum BoardOp {
    Put,
    Get { relay: usize, event: usize },
}

/// Why a relay address or event code was refused, at start or by [`crate::Node::join_event`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JoinError {
    #[error("the relay address {0} does not end in /p2p/<relay peer id>")]
    RelayWithoutPeerId(Multiaddr),
    #[error("at most {max} relays")]
    TooManyRelays { max: usize },
    #[error("at most {max} events")]
    TooManyEvents { max: usize },
    #[error("the event code is invalid: {0}")]
    Code(#[from] CodeError),
    /// The join URI given as the code is malformed.
    #[error("the join URI is invalid: {0}")]
    Ticket(#[from] TicketError),
    /// Neither the call nor the join URI names a relay, and the node keeps none: the event
    /// could never be reached.
    #[error("an event needs a relay, and none is given or known")]
    NoRelay,
    /// The label cannot name an event in an envelope.
    #[error("the event name is invalid: {0}")]
    Label(#[source] SignError),
    #[error(transparent)]
    Shutdown(#[from] Shutdown),
}

/// An event the node has joined, as a front end shows it. The code is not in it: it stays
/// with whoever joined.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct JoinedEvent {
    /// What the event is called: the label it was joined under, if any.
    pub label: Option<String>,
    /// The relays it is joined on (every relay the node keeps).
    pub relays: Vec<PeerId>,
    /// Attendees seen on its boards so far.
    pub attendees: usize,
}

/// Relays, events, and the attendees found so far.
pub(crate) struct Attend {
    relays: Vec<RelaySlot>,
    /// Indexes of `relays` in my order (proto-spec/relay.md#sharding).
    rank: Vec<usize>,
    events: Vec<EventSlot>,
    /// My teaser as the node signed it; nothing is posted without one.
    teaser: Option<SignedTeaser>,
    /// The teaser as posted: the home relays it names and its bytes, signed again when they
    /// change.
    posted: Option<(Vec<PeerId>, Vec<u8>)>,
    /// Relays known to be one fleet each (from join URIs with `fleet=1`): a relay of a fleet
    /// that is not home gets my teaser from my home relays in the same fleet, not from me
    /// (proto-spec/relay.md#sharding).
    fleets: Vec<Vec<PeerId>>,
    /// Signs the teaser again when my home relays change.
    identity: Arc<Identity>,
    clock_offset_secs: i64,
    board_ops: HashMap<OutboundRequestId, BoardOp>,
    attendees: HashMap<PeerId, Attendee>,
    poll: Duration,
    min_poll: Duration,
    backoff_min: Duration,
    backoff_max: Duration,
    local: PeerId,
}

impl Attend {
    pub(crate) fn new(
        local: PeerId,
        identity: Arc<Identity>,
        relays: Vec<Multiaddr>,
        codes: Vec<String>,
        label: Option<&str>,
        teaser: Option<&SignedTeaser>,
        limits: &Limits,
    ) -> Result<Self, JoinError> {
        let (poll, min_poll, backoff) = (
            limits.event_poll,
            limits.event_min_poll,
            limits.relay_backoff,
        );
        if codes.len() > MAX_EVENTS {
            return Err(JoinError::TooManyEvents { max: MAX_EVENTS });
        }
        let mut events = Vec::new();
        let mut relays = relays;
        for code in codes {
            // A join URI in place of a code: its relays are kept too, and whether they are a
            // fleet.
            let parts = CodeParts::read(code)?;
            for r in parts.relays {
                if !relays.contains(&r) {
                    relays.push(r);
                }
            }
            let mut ev = EventSlot::derive(parts.code, label.map(str::to_owned))?;
            ev.fleet = parts.fleet;
            if events
                .iter()
                .any(|e: &EventSlot| e.namespace == ev.namespace)
            {
                continue;
            }
            events.push(ev);
        }
        if relays.len() > MAX_RELAYS {
            return Err(JoinError::TooManyRelays { max: MAX_RELAYS });
        }
        let now = Instant::now();
        let mut slots: Vec<RelaySlot> = Vec::new();
        for addr in relays {
            let (peer, base) = relay_parts(addr)?;
            if slots.iter().any(|s| s.peer == peer) {
                continue;
            }
            slots.push(RelaySlot::new(peer, base, now, backoff.0));
        }
        let mut this = Self {
            relays: slots,
            rank: Vec::new(),
            events,
            teaser: teaser.cloned(),
            posted: None,
            fleets: Vec::new(),
            identity,
            clock_offset_secs: limits.clock_offset_secs,
            board_ops: HashMap::new(),
            attendees: HashMap::new(),
            poll,
            min_poll,
            backoff_min: backoff.0,
            backoff_max: backoff.1.max(backoff.0),
            local,
        };
        for i in 0..this.relays.len() {
            this.reset_joined(i, now);
        }
        for e in 0..this.events.len() {
            let fleet = std::mem::take(&mut this.events[e].fleet);
            this.add_fleet(&fleet);
        }
        this.rerank();
        this.choose_homes(None, now);
        Ok(this)
    }

    /// Joins `event` on every relay, after adding the `relays` not kept yet (each ending in
    /// `/p2p/<relay id>`): from the next tick the node dials the new relays, and registers,
    /// posts its teaser and reads the board on each, as for the events it started with. An
    /// event already joined is not joined again; its new relays are still added. Nothing
    /// changes when the call is refused.
    pub(crate) fn join(
        &mut self,
        swarm: &mut Swarm<Behaviour>,
        event: EventSlot,
        relays: Vec<Multiaddr>,
    ) -> Result<(), JoinError> {
        let mut fresh: Vec<(PeerId, Multiaddr)> = Vec::new();
        for addr in relays {
            let (peer, base) = relay_parts(addr)?;
            if self.relay_index(&peer).is_none() && !fresh.iter().any(|(p, _)| *p == peer) {
                fresh.push((peer, base));
            }
        }
        if self.relays.len() + fresh.len() > MAX_RELAYS {
            return Err(JoinError::TooManyRelays { max: MAX_RELAYS });
        }
        if self.relays.is_empty() && fresh.is_empty() {
            return Err(JoinError::NoRelay);
        }
        let known = self
            .events
            .iter()
            .position(|e| e.namespace == event.namespace);
        if known.is_none() && self.events.len() >= MAX_EVENTS {
            return Err(JoinError::TooManyEvents { max: MAX_EVENTS });
        }
        let now = Instant::now();
        let mut event = event;
        let fleet = std::mem::take(&mut event.fleet);
        self.add_fleet(&fleet);
        match known {
            Some(e) => {
                // Joined before: keep the code it was joined with (attendees are announced
                // under it), and name it if it had no name.
                if let Some(ev) = self.events.get_mut(e) {
                    if ev.label.is_none() {
                        ev.label = event.label;
                    }
                }
            }
            None => {
                self.events.push(event);
                // Relays that are up start on the new event at once; the others reset their
                // events when they connect.
                for slot in &mut self.relays {
                    slot.joined.push(Joined::new(now));
                }
            }
        }
        for (peer, base) in fresh {
            self.relays
                .push(RelaySlot::new(peer, base, now, self.backoff_min));
            let i = self.relays.len() - 1;
            self.reset_joined(i, now);
        }
        self.rerank();
        self.choose_homes(Some(swarm), now);
        self.tick(swarm, now);
        Ok(())
    }

    /// The events joined, for a front end to show.
    pub(crate) fn events(&self) -> Vec<JoinedEvent> {
        let relays: Vec<PeerId> = self.relays.iter().map(|r| r.peer).collect();
        self.events
            .iter()
            .map(|ev| JoinedEvent {
                label: ev.label.clone(),
                relays: relays.clone(),
                attendees: self
                    .attendees
                    .values()
                    .filter(|a| a.events.contains(&ev.code))
                    .count(),
            })
            .collect()
    }

    fn reset_joined(&mut self, relay: usize, now: Instant) {
        let n = self.events.len();
        if let Some(slot) = self.relays.get_mut(relay) {
            // A relay that restarted numbers its board from zero again: read it from the start.
            slot.joined = (0..n).map(|_| Joined::new(now)).collect();
        }
    }

    fn relay_index(&self, peer: &PeerId) -> Option<usize> {
        self.relays.iter().position(|s| s.peer == *peer)
    }

    /// Addresses to reach an attendee: its circuit addresses on the relays its teaser names, or
    /// on the relay its board entry was read from. Never the addresses of its peer record:
    /// those are the peer's to choose, and the node dials only what it can vouch for
    /// (proto-spec/exchange.md#bounds).
    pub(crate) fn addrs_of(&self, peer: &PeerId) -> Vec<Multiaddr> {
        self.attendees
            .get(peer)
            .map(|a| a.addrs.clone())
            .unwrap_or_default()
    }

    /// Whether `peer` was seen on a joined event's board (its teaser opened with the event key).
    pub(crate) fn is_attendee(&self, peer: &PeerId) -> bool {
        self.attendees.contains_key(peer)
    }

    /// Replaces the teaser posted from now on; `None` posts nothing and registers nowhere.
    pub(crate) fn set_teaser(&mut self, teaser: Option<&SignedTeaser>) {
        self.teaser = teaser.cloned();
        self.posted = None;
    }

    /// Notes that `relays` are one fleet (a join URI said `fleet=1`). At most [`MAX_EVENTS`]
    /// fleets are kept; a set already known is not added again.
    fn add_fleet(&mut self, relays: &[Multiaddr]) {
        let mut peers: Vec<PeerId> = relays
            .iter()
            .filter_map(|r| relay_parts(r.clone()).ok().map(|(p, _)| p))
            .collect();
        peers.sort_unstable();
        peers.dedup();
        if peers.len() < 2 || self.fleets.contains(&peers) || self.fleets.len() >= MAX_EVENTS {
            return;
        }
        self.fleets.push(peers);
    }

    /// Whether relay `i` gets my teaser from the fleet rather than from me: it is not home,
    /// and a home relay holding my reservation is in a fleet with it. That relay copies each
    /// post, first or refresh, to the fleet (proto-spec/relay.md#replication).
    fn copied_by_fleet(&self, i: usize) -> bool {
        let slot = &self.relays[i];
        !slot.home
            && self.fleets.iter().any(|f| {
                f.contains(&slot.peer)
                    && self
                        .relays
                        .iter()
                        .any(|h| h.home && h.reserved && f.contains(&h.peer))
            })
    }

    // ---- sharding: proto-spec/relay.md#sharding ----

    /// Ranks the relays in my order; called whenever relays are added.
    fn rerank(&mut self) {
        let ids: Vec<Vec<u8>> = self.relays.iter().map(|s| s.peer.to_bytes()).collect();
        self.rank = shard::rank(&self.local.to_bytes(), &ids);
    }

    /// My home relays: the first [`HOME_RELAYS`] in my order that have not failed (when all
    /// have failed, the first ones: they are dialled again with backoff).
    fn homes(&self) -> Vec<usize> {
        let alive: Vec<usize> = self
            .rank
            .iter()
            .copied()
            .filter(|&i| !self.relays[i].failed)
            .take(HOME_RELAYS)
            .collect();
        if alive.is_empty() {
            self.rank.iter().copied().take(HOME_RELAYS).collect()
        } else {
            alive
        }
    }

    /// The relay I read boards and registrations from: the first home relay that is up.
    fn primary(&self) -> Option<usize> {
        self.rank
            .iter()
            .copied()
            .find(|&i| self.relays[i].home && self.relays[i].link == Link::Up)
    }

    /// Marks the relays of [`Self::homes`] home: a new home relay is reserved on (now if it is
    /// connected, else dialled at the next tick), and one that is no longer home gives up its
    /// reservation (its connection closes when idle). When the homes change, my teaser names
    /// new relays, so it is signed again and posted everywhere.
    fn choose_homes(&mut self, mut swarm: Option<&mut Swarm<Behaviour>>, now: Instant) {
        let homes = self.homes();
        let mut changed = false;
        for i in 0..self.relays.len() {
            let home = homes.contains(&i);
            if self.relays[i].home == home {
                continue;
            }
            changed = true;
            self.relays[i].home = home;
            if home {
                match self.relays[i].link {
                    Link::Up => {
                        if let Some(swarm) = swarm.as_deref_mut() {
                            self.reserve(swarm, i);
                        }
                    }
                    Link::Down { .. } => self.relays[i].link = Link::Down { retry_at: now },
                    Link::Dialing => {}
                }
            } else {
                let slot = &mut self.relays[i];
                if let Some(old) = slot.listener.take() {
                    if let Some(swarm) = swarm.as_deref_mut() {
                        swarm.remove_listener(old);
                    }
                }
                slot.reserved = false;
            }
        }
        if changed && self.posted.is_some() {
            self.posted = None;
            self.post_everywhere(now);
        }
    }

    /// Makes my teaser due on every relay now.
    fn post_everywhere(&mut self, now: Instant) {
        for slot in &mut self.relays {
            for j in &mut slot.joined {
                j.next_refresh = now;
            }
        }
    }

    /// The relays my teaser names: my home relays, in my order, when I keep more relays than
    /// home ones (with fewer, every attendee reserves on every relay, and the relay a teaser
    /// was read from reaches its owner).
    fn hints(&self) -> Vec<PeerId> {
        if self.relays.len() <= HOME_RELAYS {
            return Vec::new();
        }
        self.rank
            .iter()
            .copied()
            .filter(|&i| self.relays[i].home)
            .map(|i| self.relays[i].peer)
            .collect()
    }

    /// Whether my teaser can be posted: I have one, and a home relay holds my reservation (so
    /// the relays it names reach me).
    fn can_post(&self) -> bool {
        self.teaser.is_some() && self.relays.iter().any(|s| s.home && s.reserved)
    }

    /// My teaser's bytes as posted now, signed again if my home relays changed.
    fn teaser_to_post(&mut self) -> Option<Vec<u8>> {
        if !self.can_post() {
            return None;
        }
        let hints = self.hints();
        if let Some((h, bytes)) = &self.posted {
            if *h == hints {
                return Some(bytes.clone());
            }
        }
        let base = self.teaser.as_ref()?;
        let bytes = if hints.is_empty() {
            base.as_bytes().to_vec()
        } else {
            let ids: Vec<Vec<u8>> = hints.iter().map(|p| p.to_bytes()).collect();
            let now = crate::event_loop::unix_now().saturating_add_signed(self.clock_offset_secs);
            match SignedTeaser::sign_with_relays(
                &self.identity,
                now.max(base.issued_at()),
                base.name(),
                base.headline(),
                &ids,
            ) {
                Ok(t) => t.as_bytes().to_vec(),
                Err(err) => {
                    tracing::warn!(error = %err, "cannot sign my teaser with its relays");
                    base.as_bytes().to_vec()
                }
            }
        };
        self.posted = Some((hints, bytes.clone()));
        Some(bytes)
    }

    /// Whether a post to relay `i` is due.
    fn post_due(&self, i: usize, now: Instant) -> bool {
        self.can_post()
            && !self.copied_by_fleet(i)
            && self.relays[i].joined.iter().any(|j| now >= j.next_refresh)
    }

    /// Listens on relay `i`'s circuit address: asks it for a reservation.
    fn reserve(&mut self, swarm: &mut Swarm<Behaviour>, i: usize) {
        let slot = &mut self.relays[i];
        slot.reserved = false;
        if let Some(old) = slot.listener.take() {
            swarm.remove_listener(old);
        }
        let circuit = slot.circuit();
        match swarm.listen_on(circuit.clone()) {
            Ok(id) => slot.listener = Some(id),
            Err(e) => tracing::warn!(%circuit, error = %e, "cannot reserve on the relay"),
        }
    }

    pub(crate) fn attendees(&self) -> Vec<Attendee> {
        self.attendees.values().cloned().collect()
    }

    /// Dials relays that are down and due; refreshes and polls events on relays that are up.
    pub(crate) fn tick(&mut self, swarm: &mut Swarm<Behaviour>, now: Instant) {
        for i in 0..self.relays.len() {
            // Home relays are kept connected, failed ones probed; the others are dialled only
            // to post my teaser.
            let wanted = self.relays[i].home || self.relays[i].failed || self.post_due(i, now);
            let slot = &mut self.relays[i];
            match slot.link {
                Link::Down { retry_at } if now >= retry_at && wanted => {
                    if swarm.is_connected(&slot.peer) {
                        let peer = slot.peer;
                        slot.link = Link::Dialing;
                        self.on_connected(swarm, &peer);
                        continue;
                    }
                    let opts = DialOpts::peer_id(slot.peer)
                        .addresses(vec![slot.base.clone()])
                        .condition(PeerCondition::DisconnectedAndNotDialing)
                        .build();
                    slot.link = Link::Dialing;
                    if let Err(e) = swarm.dial(opts) {
                        tracing::debug!(relay = %slot.peer, error = %e, "dialing the relay failed");
                        self.schedule_retry(i, now);
                    }
                }
                Link::Up => self.service(swarm, i, now),
                _ => {}
            }
        }
    }

    /// Whether any event is joined on a relay that is up: a board read can tell who attends.
    pub(crate) fn can_poll(&self) -> bool {
        !self.events.is_empty() && self.relays.iter().any(|r| matches!(r.link, Link::Up))
    }

    /// Reads every joined board now (a request already in flight is not repeated): a give from
    /// a peer not seen yet may come from an attendee who just joined.
    pub(crate) fn poll_now(&mut self, swarm: &mut Swarm<Behaviour>) {
        let now = Instant::now();
        let min = self.min_poll;
        for i in 0..self.relays.len() {
            if !matches!(self.relays[i].link, Link::Up) {
                continue;
            }
            for j in &mut self.relays[i].joined {
                j.read_soon(now, min);
            }
            self.service(swarm, i, now);
        }
    }

    fn schedule_retry(&mut self, i: usize, now: Instant) {
        let (min, max) = (self.backoff_min, self.backoff_max);
        if let Some(slot) = self.relays.get_mut(i) {
            slot.link = Link::Down {
                retry_at: now + slot.backoff,
            };
            slot.backoff = (slot.backoff * 2).clamp(min, max);
        }
    }

    /// Refreshes and polls every event on relay `i`, as due.
    fn service(&mut self, swarm: &mut Swarm<Behaviour>, i: usize, now: Instant) {
        if i >= self.relays.len() {
            return;
        }
        let reads = self.primary() == Some(i);
        // Without a teaser the node only looks: it neither registers nor posts, so other
        // attendees do not learn it is there (proto-spec/exchange.md#consent).
        let teaser = if self.post_due(i, now) {
            self.teaser_to_post()
        } else {
            None
        };
        let copied = self.copied_by_fleet(i);
        let slot = &mut self.relays[i];
        let (peer, page) = (slot.peer, slot.page);
        // A home relay is posted to once it holds my reservation (registrations need it); the
        // others whenever due, unless my home relays copy my posts to them.
        let posts = (slot.reserved || !slot.home) && !copied;
        let reserved = slot.reserved;
        for (e, joined) in slot.joined.iter_mut().enumerate() {
            let Some(ev) = self.events.get_mut(e) else {
                continue;
            };
            if let (true, true, Some(teaser)) = (now >= joined.next_refresh, posts, &teaser) {
                joined.next_refresh = now + REFRESH;
                if reserved {
                    if let Err(err) = swarm.behaviour_mut().rendezvous.register(
                        ev.namespace.clone(),
                        peer,
                        Some(REGISTER_TTL),
                    ) {
                        tracing::debug!(relay = %peer, error = %err, "cannot register yet");
                        // No external address yet: try again at the next poll.
                        joined.next_refresh = now + self.poll;
                    }
                }
                match ev.seal(teaser) {
                    Ok(sealed) => {
                        let id = swarm.behaviour_mut().board.send_request(
                            &peer,
                            BoardRequest::Put {
                                namespace: ev.key.namespace().to_owned(),
                                ttl: REGISTER_TTL as u32,
                                sealed,
                            },
                        );
                        self.board_ops.insert(id, BoardOp::Put);
                    }
                    Err(err) => tracing::warn!(error = %err, "cannot seal my teaser"),
                }
            }
            if reads && joined.start_read(now, self.poll, self.min_poll) {
                let id = swarm.behaviour_mut().board.send_request(
                    &peer,
                    BoardRequest::Get {
                        namespace: ev.key.namespace().to_owned(),
                        cursor: joined.cursor,
                        limit: page,
                    },
                );
                self.board_ops
                    .insert(id, BoardOp::Get { relay: i, event: e });
            }
        }
    }

    pub(crate) fn on_connected(&mut self, swarm: &mut Swarm<Behaviour>, peer: &PeerId) {
        let Some(i) = self.relay_index(peer) else {
            return;
        };
        let now = Instant::now();
        let fresh = self.relays[i].link != Link::Up;
        if !fresh {
            return;
        }
        self.reset_joined(i, now);
        let slot = &mut self.relays[i];
        slot.link = Link::Up;
        // The backoff is reset by a reservation the relay accepts, not by a connection: a
        // relay that keeps refusing is asked less and less often (found by the soak campaign).
        slot.reserved = false;
        let was_failed = std::mem::replace(&mut slot.failed, false);
        if was_failed {
            // Back: it may be home again, in place of the relay that stood in for it.
            self.choose_homes(Some(swarm), now);
        }
        if self.relays[i].home {
            self.reserve(swarm, i);
            if self.posted.is_some() && self.relays.len() > 1 {
                // Back on a home relay after losing it: if I was gone from it past its grace
                // period, it removed my entry from the whole fleet
                // (proto-spec/relay.md#removals), so my teaser goes to every relay again.
                self.post_everywhere(now);
            }
        }
    }

    /// The last connection to `peer` closed (or a dial to it failed): if it is a relay, reserve
    /// again after the backoff. Returns whether it was a relay.
    pub(crate) fn on_disconnected(&mut self, swarm: &mut Swarm<Behaviour>, peer: &PeerId) -> bool {
        let Some(i) = self.relay_index(peer) else {
            return false;
        };
        let now = Instant::now();
        let slot = &mut self.relays[i];
        if let Some(old) = slot.listener.take() {
            swarm.remove_listener(old);
        }
        slot.reserved = false;
        if slot.home || slot.failed {
            self.schedule_retry(i, now);
            true
        } else {
            // A relay dialled only to post, closed when idle: dialled again when a post is due.
            slot.link = Link::Down { retry_at: now };
            false
        }
    }

    /// A dial to `peer` failed; a relay is retried after the backoff.
    /// A dial failed; `true` when it was a relay's (the node tries again with backoff).
    pub(crate) fn on_dial_failed(&mut self, swarm: &mut Swarm<Behaviour>, peer: &PeerId) -> bool {
        if let Some(i) = self.relay_index(peer) {
            if !swarm.is_connected(peer) && self.relays[i].link == Link::Dialing {
                let now = Instant::now();
                self.schedule_retry(i, now);
                if !self.relays[i].failed {
                    // The next relay in my order stands in for it until it answers again.
                    self.relays[i].failed = true;
                    self.choose_homes(Some(swarm), now);
                }
                return true;
            }
        }
        false
    }

    /// A listener closed: if it was a reservation, reserve again (now if still connected).
    pub(crate) fn on_listener_closed(&mut self, id: ListenerId) {
        let Some(i) = self.relays.iter().position(|s| s.listener == Some(id)) else {
            return;
        };
        let slot = &mut self.relays[i];
        slot.listener = None;
        slot.reserved = false;
        // Reserve again after the backoff (through the connection if it is still open), so a
        // relay that keeps refusing is not asked in a tight loop.
        self.schedule_retry(i, Instant::now());
    }

    /// The relay accepted a reservation: registrations are due now.
    pub(crate) fn on_reserved(&mut self, relay: &PeerId) -> Option<Multiaddr> {
        let i = self.relay_index(relay)?;
        let now = Instant::now();
        let min = self.backoff_min;
        let slot = &mut self.relays[i];
        slot.reserved = true;
        slot.backoff = min;
        for j in &mut slot.joined {
            j.next_refresh = now;
        }
        Some(slot.circuit())
    }

    /// A board response (or failure). Returns the attendees to announce.
    pub(crate) fn on_board(
        &mut self,
        swarm: &mut Swarm<Behaviour>,
        id: OutboundRequestId,
        response: Option<BoardResponse>,
    ) -> Vec<Event> {
        let Some(op) = self.board_ops.remove(&id) else {
            return Vec::new();
        };
        let (i, e) = match op {
            BoardOp::Put => {
                match response {
                    Some(BoardResponse::Stored { .. }) => {}
                    other => tracing::debug!(?other, "posting my teaser failed"),
                }
                return Vec::new();
            }
            BoardOp::Get { relay, event } => (relay, event),
        };
        let Some(slot) = self.relays.get_mut(i) else {
            return Vec::new();
        };
        let page = page_after(slot.page, response.as_ref());
        let smaller = page < slot.page;
        slot.page = page;
        let Some(joined) = slot.joined.get_mut(e) else {
            return Vec::new();
        };
        joined.get_in_flight = false;
        if smaller {
            // Ask again at once with the page an older relay serves.
            let now = Instant::now();
            joined.read_soon(now, self.min_poll);
            tracing::debug!(relay = %self.relays[i].peer, page, "the relay serves smaller board pages");
            self.service(swarm, i, now);
            return Vec::new();
        }
        let Some(BoardResponse::Entries {
            entries,
            cursor,
            more,
        }) = response
        else {
            tracing::debug!(?response, "reading the board failed");
            return Vec::new();
        };
        if cursor < joined.cursor {
            // A stale answer from before a relay restart: read again from the start.
            return Vec::new();
        }
        joined.cursor = cursor;
        let Some(ev) = self.events.get(e) else {
            return Vec::new();
        };
        let relay = &self.relays[i];
        let mut out = Vec::new();
        for entry in entries {
            let Ok(peer) = PeerId::from_bytes(entry.peer()) else {
                continue;
            };
            if peer == self.local {
                continue;
            }
            let Ok(plain) = ev.key.open(entry.sealed()) else {
                continue;
            };
            let Ok(teaser) = SignedTeaser::decode(&plain) else {
                continue;
            };
            if Some(teaser.key()) != key_of(&peer) {
                continue;
            }
            let circuit = relay.circuit().with(Protocol::P2p(peer));
            // The relays its teaser names, of those I know: where it keeps its reservations.
            let named: Vec<Multiaddr> = teaser
                .relays()
                .iter()
                .filter_map(|id| PeerId::from_bytes(id).ok())
                .filter_map(|r| self.relays.iter().find(|s| s.peer == r))
                .map(|s| s.circuit().with(Protocol::P2p(peer)))
                .take(MAX_ADDRS)
                .collect();
            if !self.attendees.contains_key(&peer) && self.attendees.len() >= MAX_ATTENDEES {
                continue;
            }
            let a = self.attendees.entry(peer).or_insert_with(|| Attendee {
                peer,
                teaser: teaser.clone(),
                addrs: Vec::new(),
                events: Vec::new(),
            });
            let mut changed = false;
            let newer = a.teaser.as_bytes() != teaser.as_bytes()
                && teaser.issued_at() >= a.teaser.issued_at();
            if newer {
                a.teaser = teaser;
                changed = true;
            }
            if named.is_empty() {
                if !a.addrs.contains(&circuit) && a.addrs.len() < MAX_ADDRS {
                    a.addrs.push(circuit);
                }
            } else if (newer || a.addrs.is_empty()) && a.addrs != named {
                // Its newest teaser names where it is now: the relays it moved away from do
                // not reach it any more.
                a.addrs = named;
                changed = true;
            }
            if !a.events.contains(&ev.code) {
                a.events.push(ev.code.clone());
                changed = true;
            }
            if changed {
                out.push(Event::AttendeeDiscovered {
                    peer,
                    teaser: a.teaser.clone(),
                    addrs: a.addrs.clone(),
                    event: ev.code.clone(),
                });
            }
        }
        if more {
            // The rest of the board, one page per read, no faster than the minimum interval
            // (the tick sends a read that is not due yet).
            let (now, min) = (Instant::now(), self.min_poll);
            if let Some(j) = self.relays.get_mut(i).and_then(|s| s.joined.get_mut(e)) {
                j.read_soon(now, min);
            }
            self.service(swarm, i, now);
        } else if let Some(j) = self.relays.get_mut(i).and_then(|s| s.joined.get_mut(e)) {
            if !j.caught_up {
                j.caught_up = true;
                out.push(Event::BoardRead {
                    relay: self.relays[i].peer,
                });
            }
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test fails by panicking")]
mod tests {
    use super::*;

    #[test]
    fn the_same_teaser_is_posted_as_the_same_sealed_bytes() {
        let mut ev = EventSlot::derive("a refresh keeps its bytes".into(), None).unwrap();
        let first = ev.seal(b"teaser one").unwrap();
        assert_eq!(ev.seal(b"teaser one").unwrap(), first, "a refresh");
        assert_eq!(ev.key.open(&first).unwrap(), b"teaser one");
        // A changed teaser is sealed anew (a fresh nonce), and then kept in turn.
        let second = ev.seal(b"teaser two").unwrap();
        assert_ne!(second, first);
        assert_eq!(ev.key.open(&second).unwrap(), b"teaser two");
        assert_eq!(ev.seal(b"teaser two").unwrap(), second);
        // Two sealings of one teaser differ (the nonce), which is why the node keeps them.
        assert_ne!(ev.key.seal(b"teaser two").unwrap(), second);
    }

    /// An attendee of four relays, joined on `uri` with `RELAYS` replaced by the four, whose
    /// home relays hold its reservation.
    fn attendee_of_four(uri: &str) -> Attend {
        let identity = Identity::from_seed(&[9; 32]);
        let local = crate::node::peer_id_of(&identity.public()).unwrap();
        let relays: Vec<String> = (0..4u8)
            .map(|i| {
                let id =
                    crate::node::peer_id_of(&Identity::from_seed(&[i + 1; 32]).public()).unwrap();
                let addr = format!("/ip4/192.0.2.1/tcp/{}/p2p/{id}", 4001 + u16::from(i));
                format!("relay={}", addr.replace('/', "%2F"))
            })
            .collect();
        let teaser = SignedTeaser::sign(&identity, 1, "Ada", None).unwrap();
        let mut a = Attend::new(
            local,
            Arc::new(identity),
            Vec::new(),
            vec![uri.replace("RELAYS", &relays.join("&"))],
            None,
            Some(&teaser),
            &Limits::default(),
        )
        .unwrap();
        for slot in &mut a.relays {
            slot.reserved = slot.home;
        }
        a
    }

    #[test]
    fn in_a_fleet_only_home_relays_are_posted_to() {
        // After the attendees below joined: every post is due.
        let now = Instant::now() + Duration::from_secs(1);
        let uri = "meishi:event?code=fl33-t0nl-yh0m-e5ok&RELAYS";
        let plain = attendee_of_four(uri);
        assert_eq!(plain.relays.len(), 4, "the URI's relays are kept");
        assert!(
            (0..4).all(|i| plain.post_due(i, now)),
            "relays not said to be a fleet all get my teaser"
        );

        let mut a = attendee_of_four(&format!("{uri}&fleet=1"));
        let homes: Vec<bool> = a.relays.iter().map(|s| s.home).collect();
        assert_eq!(homes.iter().filter(|&&h| h).count(), HOME_RELAYS);
        let due: Vec<bool> = (0..4).map(|i| a.post_due(i, now)).collect();
        assert_eq!(due, homes, "in a fleet, my home relays only");
        // Without a home relay holding my reservation, nobody copies my teaser, and it is
        // posted nowhere (it names relays that cannot reach me yet).
        for slot in &mut a.relays {
            slot.reserved = false;
        }
        assert!((0..4).all(|i| !a.post_due(i, now)));
        // A fleet that is not that of my home relays gets my teaser from me.
        a.relays.iter_mut().for_each(|s| s.reserved = s.home);
        let other = homes.iter().position(|&h| !h).unwrap();
        let other_peer = a.relays[other].peer;
        let stranger = crate::node::peer_id_of(&Identity::from_seed(&[7; 32]).public()).unwrap();
        a.fleets = vec![vec![other_peer, stranger]];
        assert!(
            a.post_due(other, now),
            "its fleet holds none of my home relays"
        );
    }

    #[test]
    fn a_relay_that_refuses_a_large_page_is_asked_for_the_old_one() {
        use meishi_event::BoardErrorCode;
        let refused = BoardResponse::Error(BoardErrorCode::BadRequest);
        assert_eq!(page_after(MAX_BOARD_PAGE, Some(&refused)), OLD_BOARD_PAGE);
        // Not again below the old page, and not for other answers or failures.
        assert_eq!(page_after(OLD_BOARD_PAGE, Some(&refused)), OLD_BOARD_PAGE);
        let limited = BoardResponse::Error(BoardErrorCode::RateLimited);
        assert_eq!(page_after(MAX_BOARD_PAGE, Some(&limited)), MAX_BOARD_PAGE);
        assert_eq!(page_after(OLD_BOARD_PAGE, None), OLD_BOARD_PAGE);
        // A Get for more than the old page that gets no answer (the stream ended).
        assert_eq!(page_after(MAX_BOARD_PAGE, None), OLD_BOARD_PAGE);
        let page = BoardResponse::Entries {
            entries: Vec::new(),
            cursor: 0,
            more: false,
        };
        assert_eq!(page_after(MAX_BOARD_PAGE, Some(&page)), MAX_BOARD_PAGE);
    }

    /// A relay that answers every read at once with "more": the reads the node sends over ten
    /// seconds, stepping the clock by a millisecond.
    fn reads_against_endless_more(min: Duration) -> usize {
        let t0 = Instant::now();
        let mut j = Joined::new(t0);
        let mut reads = 0;
        for ms in 0..10_000 {
            let now = t0 + Duration::from_millis(ms);
            if j.start_read(now, Duration::from_secs(15), min) {
                reads += 1;
                // The answer, at once: "more". What `on_board` does with it.
                j.get_in_flight = false;
                j.read_soon(now, min);
            }
        }
        reads
    }

    #[test]
    fn a_relay_saying_more_forever_is_read_no_faster_than_the_minimum_interval() {
        assert_eq!(reads_against_endless_more(Duration::from_millis(500)), 20);
        assert_eq!(reads_against_endless_more(Duration::from_secs(2)), 5);
    }

    #[test]
    fn asking_for_a_read_again_and_again_does_not_bypass_the_minimum_interval() {
        let t0 = Instant::now();
        let min = Duration::from_millis(500);
        let mut j = Joined::new(t0);
        assert!(j.start_read(t0, Duration::from_secs(15), min));
        j.get_in_flight = false;
        // Gives from strangers each ask for a fresh read (`poll_now`).
        let mut reads = 0;
        for ms in 0..1000 {
            let now = t0 + Duration::from_millis(ms);
            j.next_poll = now; // even a caller that sets it directly
            if j.start_read(now, Duration::from_secs(15), min) {
                reads += 1;
                j.get_in_flight = false;
            }
        }
        assert_eq!(reads, 1, "one more read, at 500 ms");
        // Without "more", the regular interval applies.
        let mut k = Joined::new(t0);
        assert!(k.start_read(t0, Duration::from_secs(15), min));
        k.get_in_flight = false;
        assert!(!k.start_read(t0 + Duration::from_secs(14), Duration::from_secs(15), min));
        assert!(k.start_read(t0 + Duration::from_secs(15), Duration::from_secs(15), min));
    }
}
