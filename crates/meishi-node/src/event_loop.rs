//! The private event loop: owns the swarm and the node's state, and routes. It answers
//! commands from the [`crate::Node`] handle, hands each swarm event to the module of its job
//! (`exchange` for the exchange protocol, `lan` for mDNS, `attend` for relays and event boards),
//! emits [`Event`]s, and keeps the addresses it learns of peers. The jobs live in their own
//! files so that this one stays a switchboard: the swarm is built in `swarm`, a give is
//! answered in `exchange`, a nearby peer is found in `lan`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use libp2p::request_response::{self, OutboundRequestId};
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::swarm::{ConnectionId, SwarmEvent};
use libp2p::{dcutr, identify, mdns, ping, relay, Multiaddr, PeerId, Swarm};
use meishi_card::envelope::{Envelope, SignError, SignedTeaser, NONCE_LEN};
use meishi_card::{Identity, PublicKey, SignedCard};
use meishi_event::{DropRequest, SlotRequest};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

use crate::attend::{Attend, EventSlot, JoinError};
use crate::behaviour::{Behaviour, BehaviourEvent};
use crate::config::{Config, Limits, Policy};
use crate::consent::Scope;
use crate::drops::{self, DropClient};
use crate::event::Event;
use crate::exchange::{CardFetch, Deferred, PendingGive, TeaserFetch};
use crate::guard::{RateLimiter, ReplayCache};
use crate::lan::Nearby;
use crate::node::{Command, DialError, PingError, Reply, SetCardError, SpawnError};
use crate::slots::{Pending, SlotClient};

/// Addresses remembered per peer.
pub(crate) const MAX_ADDRS_PER_PEER: usize = 8;
/// Addresses dialled for one request of the user's (a give, give-back, fetch or teaser):
/// addresses peers report about themselves are theirs to choose, and a node must not become a
/// reflector that connects wherever a stranger points it. proto-spec/exchange.md#bounds
pub(crate) const MAX_DIAL_ADDRS: usize = 8;
/// Any give (a contact's too) is refused as busy once this many times `Limits::event_buffer`
/// events wait for the application; unsolicited ones already at one time.
const BACKLOG_HARD: usize = 4;
/// Ping measurements waited for at once, per peer.
const MAX_PING_WAITERS: usize = 16;
/// How long shutting down waits for answers already decided to be written.
const FLUSH_FOR: Duration = Duration::from_secs(2);
/// How often timers (the tie-break fallback, deferred gives, event boards) are checked.
const TICK: Duration = Duration::from_millis(500);

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The node's clock: the system clock moved by `Limits::clock_offset_secs`.
pub(crate) fn clock(limits: &crate::config::Limits) -> u64 {
    unix_now().saturating_add_signed(limits.clock_offset_secs)
}

/// Checks that `label` can name the event in an envelope, by signing a throwaway envelope to
/// myself.
fn check_label(identity: &Identity, card: &SignedCard, label: &str) -> Result<(), SignError> {
    Envelope::sign(
        identity,
        card,
        identity.public(),
        0,
        Some(label),
        [0; NONCE_LEN],
    )
    .map(|_| ())
}

/// The node's one task. Its fields are shared with the `exchange` and `lan` modules, which
/// add `impl EventLoop` blocks for their jobs.
pub(crate) struct EventLoop {
    pub(crate) swarm: Swarm<Behaviour>,
    /// The relay client for card slots and drop boxes, under a random identity of its own.
    anon: Swarm<crate::behaviour::Anon>,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<Event>,
    /// Events the channel had no room for, oldest first: the loop never waits for the
    /// application (its SQLite writes must not stall the swarm). Bounded by refusing gives
    /// and dropping notices, see [`EventLoop::emit`].
    outbox: VecDeque<Event>,
    pub(crate) identity: Arc<Identity>,
    pub(crate) me: PublicKey,
    pub(crate) local: PeerId,
    pub(crate) card: SignedCard,
    pub(crate) policy: Policy,
    pub(crate) scope: Scope,
    /// My signed teaser, if I chose to publish one; never sent under `never`.
    pub(crate) teaser: Option<SignedTeaser>,
    pub(crate) label: Option<String>,
    pub(crate) holders: HashSet<PublicKey>,
    pub(crate) contacts: HashSet<PublicKey>,
    pub(crate) revoked: HashSet<PublicKey>,
    /// Givers whose give waits in the application's inbox: one slot each.
    pub(crate) pending: HashSet<PublicKey>,
    /// Peers I gave my card to first in this run.
    pub(crate) dialled: HashSet<PeerId>,
    /// Gives from unseen peers waiting for a board read (event scope only).
    pub(crate) deferred: Vec<Deferred>,
    /// Responses handed to the swarm and not yet written: shutting down waits for them.
    pub(crate) unsent: usize,
    pub(crate) limits: Limits,
    pub(crate) rate: RateLimiter<PeerId>,
    /// The budget of unsolicited cards kept, for the whole node (one key).
    pub(crate) unsolicited: RateLimiter<()>,
    /// The budget of cards from attendees seen on a joined event's board (one key).
    pub(crate) attendee_gives: RateLimiter<()>,
    pub(crate) replays: ReplayCache<(PublicKey, [u8; NONCE_LEN])>,
    pub(crate) gives: HashMap<OutboundRequestId, PendingGive>,
    pub(crate) fetches: HashMap<OutboundRequestId, CardFetch>,
    /// Teasers asked of nearby peers on my own, to announce them.
    pub(crate) teaser_requests: HashMap<OutboundRequestId, PeerId>,
    pub(crate) teaser_fetches: HashMap<OutboundRequestId, TeaserFetch>,
    dials: HashMap<ConnectionId, Reply<Result<PeerId, DialError>>>,
    pings: HashMap<PeerId, Vec<Reply<Result<Duration, PingError>>>>,
    pub(crate) nearby: HashMap<PeerId, Nearby>,
    /// Listen addresses peers reported through identify, to give back to them later.
    peer_addrs: HashMap<PeerId, Vec<Multiaddr>>,
    /// Relays and events joined on them.
    pub(crate) attend: Attend,
    /// Slot requests to relays waiting for their answers.
    slots: SlotClient,
    /// Drop requests to relays waiting for their answers.
    drops: DropClient,
    /// What my gives carry besides the card.
    pub(crate) links: Option<crate::config::GiveLinks>,
}

impl EventLoop {
    pub(crate) fn new(
        config: Config,
        commands: mpsc::Receiver<Command>,
        events: mpsc::Sender<Event>,
    ) -> Result<(Self, PeerId), SpawnError> {
        let Config {
            identity,
            card,
            listen,
            policy,
            mdns,
            teaser,
            label,
            relays,
            event_codes: codes,
            scope,
            peers,
            links,
            limits,
        } = config;
        let me = identity.public();
        if card.key() != me {
            return Err(SpawnError::NotOwnCard);
        }
        if let Some(e) = &label {
            check_label(&identity, &card, e).map_err(SpawnError::Event)?;
        }
        let teaser = teaser
            .map(|t| SignedTeaser::sign(&identity, clock(&limits), &t.name, t.headline.as_deref()))
            .transpose()
            .map_err(SpawnError::Teaser)?;
        let swarm = crate::swarm::build(&identity, mdns, listen, &limits)?;
        let anon = crate::swarm::build_anon(&limits)?;
        let local = *swarm.local_peer_id();
        // Under `never` nothing leaves, the teaser included: nothing is posted to a board.
        let published = teaser.as_ref().filter(|_| policy != Policy::Never);
        let identity = Arc::new(identity);
        let attend = Attend::new(
            local,
            identity.clone(),
            relays,
            codes,
            label.as_deref(),
            published,
            &limits,
        )?;
        let rate = RateLimiter::new(
            limits.request_burst,
            limits.request_refill,
            limits.max_tracked_peers,
        );
        let unsolicited = RateLimiter::new(limits.unsolicited_burst, limits.unsolicited_refill, 1);
        let attendee_gives = RateLimiter::new(limits.attendee_burst, limits.attendee_refill, 1);
        let replays = ReplayCache::new(limits.max_replay_cache, limits.max_skew * 2);
        let mut this = Self {
            swarm,
            anon,
            commands,
            events,
            outbox: VecDeque::new(),
            identity,
            me,
            local,
            card,
            policy,
            scope,
            teaser,
            label,
            links,
            holders: HashSet::new(),
            contacts: HashSet::new(),
            revoked: HashSet::new(),
            pending: HashSet::new(),
            dialled: HashSet::new(),
            deferred: Vec::new(),
            unsent: 0,
            limits,
            rate,
            unsolicited,
            attendee_gives,
            replays,
            gives: HashMap::new(),
            fetches: HashMap::new(),
            teaser_requests: HashMap::new(),
            teaser_fetches: HashMap::new(),
            dials: HashMap::new(),
            pings: HashMap::new(),
            nearby: HashMap::new(),
            peer_addrs: HashMap::new(),
            attend,
            slots: SlotClient::default(),
            drops: DropClient::default(),
        };
        this.set_peers(peers);
        Ok((this, local))
    }

    pub(crate) async fn run(mut self) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                event = self.anon.select_next_some() => self.on_anon_event(event),
                command = self.commands.recv() => match command {
                    Some(Command::Shutdown { reply }) => {
                        self.flush().await;
                        let _ = reply.send(());
                        break;
                    }
                    Some(command) => self.on_command(command),
                    // Every handle is gone: nobody can use the node any more.
                    None => break,
                },
                // Hands held-back events to the application as it catches up.
                // An owned permit (of a clone of the sender) borrows nothing the handlers use.
                permit = self.events.clone().reserve_owned(), if !self.outbox.is_empty() => match permit {
                    Ok(permit) => {
                        if let Some(event) = self.outbox.pop_front() {
                            permit.send(event);
                        }
                    }
                    Err(_) => self.outbox.clear(),
                },
                _ = tick.tick() => {
                    self.on_tick();
                    if !self.deferred.is_empty() {
                        self.settle_deferred(false);
                    }
                }
            }
        }
        // What the application has room for still reaches it.
        while let Some(event) = self.outbox.pop_front() {
            if self.events.try_send(event).is_err() {
                break;
            }
        }
        tracing::debug!("node event loop stopped");
    }

    /// Lets the swarm write the answers already decided (a KEPT for a give-back that made the
    /// application stop at once), for at most [`FLUSH_FOR`]. Events of that time are dropped.
    async fn flush(&mut self) {
        let deadline = tokio::time::Instant::now() + FLUSH_FOR;
        while self.unsent > 0 {
            match tokio::time::timeout_at(deadline, self.swarm.select_next_some()).await {
                Ok(SwarmEvent::Behaviour(BehaviourEvent::Exchange(
                    request_response::Event::ResponseSent { .. }
                    | request_response::Event::InboundFailure { .. },
                ))) => self.unsent = self.unsent.saturating_sub(1),
                Ok(_) => {}
                Err(_) => break,
            }
        }
    }

    /// Hands `event` to the application without waiting: the swarm keeps running while the
    /// application writes to its database. When the channel is full the event waits in the
    /// outbox; a card (received, given, held) is never dropped, other notices are once the
    /// outbox holds `Limits::event_buffer` events. Cards are kept bounded by refusing gives
    /// while the application is behind ([`EventLoop::backlogged`]). A closed receiver means the
    /// application stopped listening; the node keeps answering commands.
    pub(crate) fn emit(&mut self, event: Event) {
        let event = if self.outbox.is_empty() {
            match self.events.try_send(event) {
                Ok(()) | Err(TrySendError::Closed(_)) => return,
                Err(TrySendError::Full(event)) => event,
            }
        } else {
            event
        };
        let card = matches!(
            event,
            Event::CardReceived { .. } | Event::CardGiven { .. } | Event::InboxItem { .. }
        );
        if card || self.outbox.len() < self.limits.event_buffer.max(1) {
            self.outbox.push_back(event);
        } else {
            tracing::debug!(?event, "the application is behind: a notice was dropped");
        }
    }

    /// Whether the application is too far behind to take one more card: for an unsolicited
    /// give once `Limits::event_buffer` events wait in the outbox, for any give at
    /// [`BACKLOG_HARD`] times that.
    pub(crate) fn backlogged(&self, unsolicited: bool) -> bool {
        let cap = self.limits.event_buffer.max(1);
        let cap = if unsolicited { cap } else { cap * BACKLOG_HARD };
        self.outbox.len() >= cap
    }

    /// Remembers an address of `peer` (reported by identify, or seen on its inbound
    /// connection), bounded per peer and in the number of peers.
    fn remember_addr(&mut self, peer: PeerId, addr: Multiaddr) {
        if self.peer_addrs.len() >= self.limits.max_tracked_peers
            && !self.peer_addrs.contains_key(&peer)
        {
            // Forget the addresses of a peer no longer connected.
            let stale = self
                .peer_addrs
                .keys()
                .find(|p| !self.swarm.is_connected(p))
                .copied();
            match stale {
                Some(p) => {
                    self.peer_addrs.remove(&p);
                }
                None => return,
            }
        }
        let list = self.peer_addrs.entry(peer).or_default();
        if !list.contains(&addr) && list.len() < MAX_ADDRS_PER_PEER {
            list.push(addr);
        }
    }

    /// The addresses to reach `peer` at, for a request of the user's or to pass on with a
    /// card: `addrs` (the caller's) first, then those found by mDNS, the circuit addresses on
    /// the event relays, and those the peer reported through identify or connected from; at
    /// most [`MAX_DIAL_ADDRS`] in all.
    pub(crate) fn known_addrs(&self, peer: &PeerId, addrs: Vec<Multiaddr>) -> Vec<Multiaddr> {
        let known = self
            .nearby
            .get(peer)
            .map(|n| n.addrs.iter())
            .into_iter()
            .flatten();
        let attending = self.attend.addrs_of(peer);
        let reported = self
            .peer_addrs
            .get(peer)
            .map(|a| a.iter())
            .into_iter()
            .flatten();
        let mut out: Vec<Multiaddr> = Vec::with_capacity(MAX_DIAL_ADDRS);
        for a in addrs
            .iter()
            .chain(known)
            .chain(attending.iter())
            .chain(reported)
        {
            if out.len() >= MAX_DIAL_ADDRS {
                break;
            }
            if !out.contains(a) {
                out.push(a.clone());
            }
        }
        out
    }

    // ---- commands ----

    fn on_command(&mut self, command: Command) {
        match command {
            Command::ListenAddrs { reply } => {
                let _ = reply.send(self.swarm.listeners().cloned().collect());
            }
            Command::Dial { addr, reply } => {
                let opts = DialOpts::from(addr);
                let id = opts.connection_id();
                match self.swarm.dial(opts) {
                    Ok(()) => {
                        self.dials.insert(id, reply);
                    }
                    Err(e) => {
                        let _ = reply.send(Err(DialError::Failed(e)));
                    }
                }
            }
            Command::Give {
                peer,
                addrs,
                back,
                reply,
            } => self.start_give(peer, addrs, back, reply),
            Command::Fetch { peer, addrs, reply } => self.start_fetch(peer, addrs, reply),
            Command::Teaser { peer, addrs, reply } => self.start_teaser_fetch(peer, addrs, reply),
            Command::Nearby { reply } => {
                let _ = reply.send(self.nearby_list());
            }
            Command::Attendees { reply } => {
                let _ = reply.send(self.attend.attendees());
            }
            Command::SetCard { card, reply } => {
                if card.key() != self.me {
                    let _ = reply.send(Err(SetCardError::NotOwnCard));
                    return;
                }
                self.card = card;
                let _ = reply.send(Ok(()));
            }
            Command::SetPeers { peers, reply } => {
                self.set_peers(peers);
                let _ = reply.send(());
            }
            Command::SignGive { recipient, reply } => {
                let _ = reply.send(self.sign_for_key(recipient));
            }
            Command::SetLinks { links, reply } => {
                self.links = links;
                let _ = reply.send(());
            }
            Command::SetPolicy { policy, reply } => {
                self.policy = policy;
                let published = self.teaser.as_ref().filter(|_| policy != Policy::Never);
                self.attend.set_teaser(published);
                let _ = reply.send(());
            }
            Command::Ping { peer, reply } => {
                if !self.swarm.is_connected(&peer) {
                    let _ = reply.send(Err(PingError::NotConnected));
                    return;
                }
                let waiters = self.pings.entry(peer).or_default();
                if waiters.len() >= MAX_PING_WAITERS {
                    let _ = reply.send(Err(PingError::Busy));
                    return;
                }
                waiters.push(reply);
            }
            Command::Join {
                event,
                relays,
                reply,
            } => {
                let _ = reply.send(self.join(event, relays));
            }
            Command::Events { reply } => {
                let _ = reply.send(self.attend.events());
            }
            Command::PutSlot {
                relay,
                record,
                reply,
            } => self.slots.send(
                &mut self.anon,
                relay,
                SlotRequest::Put { record },
                Pending::Put(reply),
            ),
            Command::GetSlots {
                relay,
                slots,
                reply,
            } => self.slots.send(
                &mut self.anon,
                relay,
                SlotRequest::Get {
                    slots: slots.clone(),
                },
                Pending::Get {
                    asked: slots,
                    reply,
                },
            ),
            Command::PutDrop {
                relay,
                id,
                sealed,
                reply,
            } => self.drops.send(
                &mut self.anon,
                relay,
                DropRequest::Put { id, sealed },
                drops::Pending::Put(reply),
            ),
            Command::GetDrops { relay, ids, reply } => self.drops.send(
                &mut self.anon,
                relay,
                DropRequest::Get { ids: ids.clone() },
                drops::Pending::Get { asked: ids, reply },
            ),
            Command::AckDrops {
                relay,
                id,
                digests,
                reply,
            } => self.drops.send(
                &mut self.anon,
                relay,
                DropRequest::Ack { id, digests },
                drops::Pending::Ack(reply),
            ),
            Command::Shutdown { reply } => {
                // Handled in `run`, which stops the loop.
                let _ = reply.send(());
            }
        }
    }

    /// Joins `event` on every relay (after adding `relays`): what [`crate::Node::join_event`]
    /// asks once the key is derived.
    fn join(&mut self, event: EventSlot, relays: Vec<Multiaddr>) -> Result<(), JoinError> {
        let label = event.label().map(str::to_owned);
        if let Some(l) = &label {
            check_label(&self.identity, &self.card, l).map_err(JoinError::Label)?;
        }
        self.attend.join(&mut self.swarm, event, relays)?;
        if self.label.is_none() {
            self.label = label;
        }
        // As at start (`meishi up --event`): at an event, strangers reach the node through
        // the relay, so `auto` answers only the people it knows. A narrower scope stays.
        // proto-spec/exchange.md#consent
        if self.scope == Scope::Anyone {
            self.scope = Scope::Known;
        }
        Ok(())
    }

    fn on_tick(&mut self) {
        let now = Instant::now();
        self.dial_late_nearby(now);
        self.attend.tick(&mut self.swarm, now);
    }

    // ---- swarm events ----

    /// Events of the slot and drop client's swarm: only the answers matter.
    fn on_anon_event(&mut self, event: SwarmEvent<crate::behaviour::AnonEvent>) {
        match event {
            SwarmEvent::Behaviour(crate::behaviour::AnonEvent::Slots(e)) => self.slots.on_event(e),
            SwarmEvent::Behaviour(crate::behaviour::AnonEvent::Drops(e)) => self.drops.on_event(e),
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                tracing::debug!(?peer_id, %error, "cannot reach a relay for slots or boxes");
            }
            _ => {}
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                self.emit(Event::Listening { addr: address })
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                ..
            } => {
                if let libp2p::core::ConnectedPoint::Listener { send_back_addr, .. } = &endpoint {
                    // A peer that dialled me directly: its source address is its listen address
                    // (TCP and QUIC reuse the listen port), the way to reach it again later.
                    self.remember_addr(peer_id, send_back_addr.clone());
                }
                if let libp2p::core::ConnectedPoint::Dialer { address, .. } = &endpoint {
                    // Where I reached it: where to reach it again.
                    self.remember_addr(peer_id, address.clone());
                }
                if let Some(reply) = self.dials.remove(&connection_id) {
                    let _ = reply.send(Ok(peer_id));
                }
                self.attend.on_connected(&mut self.swarm, &peer_id);
                self.request_teaser_if_nearby(peer_id);
            }
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                peer_id,
                error,
            } => {
                let reason = error.to_string();
                let definite = definite_dial_error(&error);
                if let Some(reply) = self.dials.remove(&connection_id) {
                    let _ = reply.send(Err(DialError::Failed(error)));
                }
                if let Some(peer) = peer_id {
                    if self.attend.on_dial_failed(&mut self.swarm, &peer) {
                        self.emit(Event::RelayUnreachable {
                            relay: peer,
                            error: reason,
                            definite,
                        });
                    }
                    self.on_nearby_unreachable(peer);
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                for reply in self.pings.remove(&peer_id).unwrap_or_default() {
                    let _ = reply.send(Err(PingError::NotConnected));
                }
                if self.attend.on_disconnected(&mut self.swarm, &peer_id) {
                    self.emit(Event::RelayDisconnected { relay: peer_id });
                }
            }
            SwarmEvent::ListenerClosed { listener_id, .. } => {
                self.attend.on_listener_closed(listener_id);
            }
            SwarmEvent::Behaviour(event) => self.on_behaviour_event(event),
            _ => {}
        }
    }

    fn on_behaviour_event(&mut self, event: BehaviourEvent) {
        match event {
            BehaviourEvent::Exchange(event) => self.on_exchange_event(event),
            BehaviourEvent::Mdns(mdns::Event::Discovered(list)) => self.on_mdns_discovered(list),
            BehaviourEvent::Mdns(mdns::Event::Expired(list)) => self.on_mdns_expired(list),
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                for addr in info.listen_addrs.into_iter().take(MAX_ADDRS_PER_PEER) {
                    self.remember_addr(peer_id, addr);
                }
            }
            BehaviourEvent::RelayClient(relay::client::Event::ReservationReqAccepted {
                relay_peer_id,
                renewal,
                ..
            }) => {
                if let Some(addr) = self.attend.on_reserved(&relay_peer_id) {
                    if !renewal {
                        self.emit(Event::Reserved {
                            relay: relay_peer_id,
                            addr,
                        });
                    }
                }
            }
            BehaviourEvent::Rendezvous(event) => {
                tracing::debug!(?event, "rendezvous");
            }
            BehaviourEvent::Board(event) => {
                let (id, response) = match event {
                    request_response::Event::Message {
                        message:
                            request_response::Message::Response {
                                request_id,
                                response,
                            },
                        ..
                    } => (request_id, Some(response)),
                    request_response::Event::OutboundFailure {
                        request_id, error, ..
                    } => {
                        tracing::debug!(%error, "teaser board request failed");
                        (request_id, None)
                    }
                    _ => return,
                };
                for event in self.attend.on_board(&mut self.swarm, id, response) {
                    self.emit(event);
                }
                self.after_board_read();
            }
            BehaviourEvent::Dcutr(dcutr::Event {
                remote_peer_id,
                result,
            }) => {
                let event = match result {
                    Ok(_) => Event::DirectConnection {
                        peer: remote_peer_id,
                    },
                    Err(e) => {
                        tracing::debug!(peer = %remote_peer_id, error = %e, "hole punch failed");
                        Event::HolePunchFailed {
                            peer: remote_peer_id,
                        }
                    }
                };
                self.emit(event);
            }
            BehaviourEvent::Ping(ping::Event { peer, result, .. }) => {
                let result = result.map_err(|_| PingError::Failed);
                for reply in self.pings.remove(&peer).unwrap_or_default() {
                    let _ = reply.send(result.clone());
                }
            }
            _ => {}
        }
    }
}

/// Whether a failed dial says the address is wrong (refused, another peer answered, nothing
/// there to dial) rather than that the network lost it (a timeout, a handshake cut short),
/// which is worth trying again.
fn definite_dial_error(error: &libp2p::swarm::DialError) -> bool {
    use libp2p::swarm::DialError;
    use libp2p::TransportError;
    fn refused(e: &(dyn std::error::Error + 'static)) -> bool {
        let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(err) = cur {
            if let Some(io) = err.downcast_ref::<std::io::Error>() {
                if matches!(
                    io.kind(),
                    std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::AddrNotAvailable
                ) {
                    return true;
                }
                // An io::Error's `source` skips the error it wraps: look at that one too.
                if let Some(inner) = io.get_ref() {
                    cur = Some(inner as &(dyn std::error::Error + 'static));
                    continue;
                }
            }
            cur = err.source();
        }
        false
    }
    match error {
        DialError::WrongPeerId { .. } => true,
        DialError::Transport(errors) => {
            !errors.is_empty()
                && errors.iter().all(|(_, e)| match e {
                    TransportError::MultiaddrNotSupported(_) => true,
                    // The transport wraps the socket's error in types that hide it from
                    // `source`; its message keeps it ("Connection refused (os error 111)",
                    // in the C locale, which a Rust program runs in).
                    TransportError::Other(io) => {
                        refused(io) || io.to_string().contains("Connection refused")
                    }
                })
        }
        _ => false,
    }
}
