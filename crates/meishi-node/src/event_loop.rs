//! The private event loop: owns the swarm, answers commands, turns swarm events into
//! [`Event`]s, and maps outbound request ids to the `oneshot` replies waiting for them.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use libp2p::request_response::{self, OutboundFailure, OutboundRequestId, ResponseChannel};
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{ConnectionId, SwarmEvent};
use libp2p::{
    dcutr, identify, mdns, noise, ping, relay, rendezvous, tcp, yamux, Multiaddr, PeerId, Swarm,
    SwarmBuilder,
};
use meishi_card::envelope::{Envelope, SignedTeaser, NONCE_LEN};
use meishi_card::{Identity, PublicKey, SignedCard};
use tokio::sync::mpsc;

use crate::attend::Attend;
use crate::behaviour::{Behaviour, BehaviourEvent};
use crate::config::{Config, Limits, Peers, Policy};
use crate::consent::{self, Ask, Decision, Scope, Standing};
use crate::event::{Discovered, Event, Refusal};
use crate::guard::{RateLimiter, ReplayCache};
use crate::node::{
    key_of, Command, DialError, FetchError, GiveError, GiveOutcome, PingError, Reply, RequestError,
    SetCardError, SpawnError,
};
use crate::protocol::{Request, Response};

/// Addresses remembered per peer.
const MAX_ADDRS_PER_PEER: usize = 8;
/// Keys of card holders, contacts or revoked peers kept in memory (32 bytes each, per set).
const MAX_HOLDERS: usize = 100_000;
/// Peers this node gave its card to first in this run, remembered for the consent scope.
const MAX_DIALLED: usize = 4096;
/// Ping measurements waited for at once, per peer.
const MAX_PING_WAITERS: usize = 16;
/// How long the higher peer id waits for the lower one to dial after both found each other by
/// mDNS, before dialing itself. proto-spec/exchange.md#discovery
const TIE_BREAK_GRACE: Duration = Duration::from_secs(3);
/// How long a give from a peer not seen yet waits for a fresh read of the event boards before
/// it is held for the user (the giver's request times out after 10 s).
const DEFER_FOR: Duration = Duration::from_secs(4);
/// Gives waiting for a board read at once; beyond that they are held at once.
const MAX_DEFERRED: usize = 64;
/// How long shutting down waits for answers already decided to be written.
const FLUSH_FOR: Duration = Duration::from_secs(2);
/// How often timers (the tie-break fallback) are checked.
const TICK: Duration = Duration::from_millis(500);

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A give (or give-back) from a peer not seen yet, waiting for the boards to be read again.
struct Deferred {
    until: Instant,
    peer: PeerId,
    ask: Ask,
    envelope: Envelope,
    channel: ResponseChannel<Response>,
    /// The boards were read a second time for it (a read under way when it came may have
    /// missed it).
    repolled: bool,
}

struct PendingGive {
    peer: PeerId,
    mine: Envelope,
    reply: Reply<Result<GiveOutcome, GiveError>>,
}

/// Where fetching a nearby peer's teaser stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TeaserState {
    /// Found; waiting for a connection (we dialed, or the lower peer id will).
    Waiting { since: Instant, dialed: bool },
    /// Requested on a connection.
    Requested,
    /// Fetched (or failed) and announced with `PeerDiscovered`.
    Done,
}

/// A caller waiting for a peer's teaser.
type TeaserFetch = (PeerId, Reply<Result<Option<SignedTeaser>, FetchError>>);

struct Nearby {
    addrs: Vec<Multiaddr>,
    teaser: Option<SignedTeaser>,
    state: TeaserState,
}

/// The answer to an inbound request: now, or after the event boards were read again.
enum Answer {
    Now(Response),
    Later(Ask, Box<Envelope>),
}

fn refuse(peer: PeerId, reason: Refusal, events: &mut Vec<Event>) -> Response {
    let code = reason.code();
    events.push(Event::Refused { from: peer, reason });
    Response::Refused(code)
}

pub(crate) struct EventLoop {
    swarm: Swarm<Behaviour>,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<Event>,
    identity: Identity,
    me: PublicKey,
    local: PeerId,
    card: SignedCard,
    policy: Policy,
    scope: Scope,
    /// My signed teaser, if I chose to publish one; never sent under `never`.
    teaser: Option<SignedTeaser>,
    label: Option<String>,
    holders: HashSet<PublicKey>,
    contacts: HashSet<PublicKey>,
    revoked: HashSet<PublicKey>,
    /// Givers whose give waits in the application's inbox: one slot each.
    pending: HashSet<PublicKey>,
    /// Peers I gave my card to first in this run.
    dialled: HashSet<PeerId>,
    /// Gives from unseen peers waiting for a board read (event scope only).
    deferred: Vec<Deferred>,
    /// Responses handed to the swarm and not yet written: shutting down waits for them.
    unsent: usize,
    limits: Limits,
    rate: RateLimiter<PeerId>,
    replays: ReplayCache<(PublicKey, [u8; NONCE_LEN])>,
    gives: HashMap<OutboundRequestId, PendingGive>,
    fetches: HashMap<OutboundRequestId, (PeerId, Reply<Result<SignedCard, FetchError>>)>,
    teaser_requests: HashMap<OutboundRequestId, PeerId>,
    teaser_fetches: HashMap<OutboundRequestId, TeaserFetch>,
    dials: HashMap<ConnectionId, Reply<Result<PeerId, DialError>>>,
    pings: HashMap<PeerId, Vec<Reply<Result<Duration, PingError>>>>,
    nearby: HashMap<PeerId, Nearby>,
    /// Listen addresses peers reported through identify, to give back to them later.
    peer_addrs: HashMap<PeerId, Vec<Multiaddr>>,
    /// Relays and events joined on them.
    attend: Attend,
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
            limits,
        } = config;
        let me = identity.public();
        if card.key() != me {
            return Err(SpawnError::NotOwnCard);
        }
        if let Some(e) = &label {
            // Check the event name once by signing a throwaway envelope to myself.
            Envelope::sign(&identity, &card, me, 0, Some(e), [0; NONCE_LEN])
                .map_err(SpawnError::Event)?;
        }
        let teaser = teaser
            .map(|t| SignedTeaser::sign(&identity, unix_now(), &t.name, t.headline.as_deref()))
            .transpose()
            .map_err(SpawnError::Teaser)?;
        // libp2p zeroizes the bytes it is given: hand it a copy of the seed.
        let mut seed: [u8; 32] = *identity.seed();
        let keypair =
            libp2p::identity::Keypair::ed25519_from_bytes(&mut seed).map_err(SpawnError::Key)?;
        let mdns = if mdns {
            let peer_id = keypair.public().to_peer_id();
            Some(
                mdns::tokio::Behaviour::new(mdns::Config::default(), peer_id)
                    .map_err(SpawnError::Mdns)?,
            )
        } else {
            None
        };
        let transport = |e: Box<dyn std::error::Error + Send + Sync>| SpawnError::Transport(e);
        let behaviour_limits = limits.clone();
        let mut swarm = SwarmBuilder::with_existing_identity(keypair)
            .with_tokio()
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )
            .map_err(|e| transport(e.into()))?
            .with_quic()
            .with_relay_client(noise::Config::new, yamux::Config::default)
            .map_err(|e| transport(e.into()))?
            .with_behaviour(|key, relay_client| {
                Behaviour::new(key, relay_client, &behaviour_limits, mdns)
            })
            .map_err(|e| transport(e.into()))?
            .with_swarm_config(|c| {
                // Every meishi peer speaks every protocol of this swarm, so an outbound stream
                // sends its first message with the protocol proposal instead of waiting a round
                // trip for the confirmation (multistream-select V1Lazy).
                c.with_idle_connection_timeout(limits.idle_timeout)
                    .with_substream_upgrade_protocol_override(
                        libp2p::core::upgrade::Version::V1Lazy,
                    )
            })
            .build();
        for addr in listen {
            swarm
                .listen_on(addr.clone())
                .map_err(|source| SpawnError::Listen { addr, source })?;
        }
        let local = *swarm.local_peer_id();
        // Under `never` nothing leaves, the teaser included: nothing is posted to a board.
        let published = teaser.as_ref().filter(|_| policy != Policy::Never);
        let attend = Attend::new(
            local,
            relays,
            codes,
            published,
            limits.event_poll,
            limits.relay_backoff,
        )?;
        let rate = RateLimiter::new(
            limits.request_burst,
            limits.request_refill,
            limits.max_tracked_peers,
        );
        let replays = ReplayCache::new(limits.max_replay_cache, limits.max_skew * 2);
        let mut this = Self {
            swarm,
            commands,
            events,
            identity,
            me,
            local,
            card,
            policy,
            scope,
            teaser,
            label,
            holders: HashSet::new(),
            contacts: HashSet::new(),
            revoked: HashSet::new(),
            pending: HashSet::new(),
            dialled: HashSet::new(),
            deferred: Vec::new(),
            unsent: 0,
            limits,
            rate,
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
        };
        this.set_peers(peers);
        Ok((this, local))
    }

    pub(crate) async fn run(mut self) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm_event(event).await,
                command = self.commands.recv() => match command {
                    Some(Command::Shutdown { reply }) => {
                        self.flush().await;
                        let _ = reply.send(());
                        break;
                    }
                    Some(command) => self.on_command(command).await,
                    // Every handle is gone: nobody can use the node any more.
                    None => break,
                },
                _ = tick.tick() => {
                    self.on_tick();
                    if !self.deferred.is_empty() {
                        self.settle_deferred(false).await;
                    }
                }
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

    async fn emit(&mut self, event: Event) {
        // Waiting here is the back-pressure: a card is never dropped. A closed receiver means
        // the application stopped listening; the node keeps answering commands.
        let _ = self.events.send(event).await;
    }

    fn sign_for(&self, peer: &PeerId) -> Result<Envelope, GiveError> {
        let recipient = key_of(peer).ok_or(GiveError::NotMeishiPeer(*peer))?;
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| GiveError::Random)?;
        Ok(Envelope::sign(
            &self.identity,
            &self.card,
            recipient,
            unix_now(),
            self.label.as_deref(),
            nonce,
        )?)
    }

    fn set_peers(&mut self, peers: Peers) {
        let bounded = |v: Vec<PublicKey>| v.into_iter().take(MAX_HOLDERS).collect();
        self.holders = bounded(peers.holders);
        self.contacts = bounded(peers.contacts);
        self.revoked = bounded(peers.revoked);
        self.pending = peers
            .pending
            .into_iter()
            .take(self.limits.max_inbox)
            .collect();
    }

    /// What the node knows of `peer`, for the consent rule.
    fn standing(&self, peer: &PeerId) -> Standing {
        let key = key_of(peer);
        let has = |set: &HashSet<PublicKey>| key.is_some_and(|k| set.contains(&k));
        Standing {
            contact: has(&self.contacts),
            attendee: self.attend.is_attendee(peer),
            nearby: self.nearby.contains_key(peer),
            dialled: self.dialled.contains(peer),
            holder: has(&self.holders),
            revoked: has(&self.revoked),
        }
    }

    fn decide(&self, peer: &PeerId, ask: Ask) -> Decision {
        consent::decide(
            self.policy,
            self.scope,
            ask,
            self.standing(peer),
            self.teaser.is_some(),
        )
    }

    /// Remembers that `key` holds my card, up to [`MAX_HOLDERS`] keys learned while running
    /// (beyond that a peer must give again before it may fetch).
    fn add_holder(&mut self, key: PublicKey) {
        if self.holders.len() < MAX_HOLDERS {
            self.holders.insert(key);
        }
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

    fn known_addrs(&self, peer: &PeerId, mut addrs: Vec<Multiaddr>) -> Vec<Multiaddr> {
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
        for a in known.chain(attending.iter()).chain(reported) {
            if !addrs.contains(a) {
                addrs.push(a.clone());
            }
        }
        addrs
    }

    // ---- commands ----

    async fn on_command(&mut self, command: Command) {
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
            Command::Fetch { peer, addrs, reply } => {
                let addrs = self.known_addrs(&peer, addrs);
                let id = self
                    .swarm
                    .behaviour_mut()
                    .exchange
                    .send_request_with_addresses(&peer, Request::Fetch, addrs);
                self.fetches.insert(id, (peer, reply));
            }
            Command::Teaser { peer, addrs, reply } => {
                let addrs = self.known_addrs(&peer, addrs);
                let id = self
                    .swarm
                    .behaviour_mut()
                    .exchange
                    .send_request_with_addresses(&peer, Request::Teaser, addrs);
                self.teaser_fetches.insert(id, (peer, reply));
            }
            Command::Nearby { reply } => {
                let list = self
                    .nearby
                    .iter()
                    .map(|(peer, n)| Discovered {
                        peer: *peer,
                        addrs: n.addrs.clone(),
                        teaser: n.teaser.clone(),
                    })
                    .collect();
                let _ = reply.send(list);
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
            Command::Shutdown { reply } => {
                // Handled in `run`, which stops the loop.
                let _ = reply.send(());
            }
        }
    }

    /// Gives my card: the application asked for it (`meishi swap`, an attendee swapped with,
    /// an inbox item the user accepted), which is the owner's consent. The peer is within the
    /// `dialled` scope from now on and no longer revoked.
    fn start_give(
        &mut self,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        back: bool,
        reply: Reply<Result<GiveOutcome, GiveError>>,
    ) {
        if peer == self.local {
            let _ = reply.send(Err(GiveError::Myself));
            return;
        }
        let mine = match self.sign_for(&peer) {
            Ok(e) => e,
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        };
        if self.dialled.len() < MAX_DIALLED {
            self.dialled.insert(peer);
        }
        if let Some(k) = key_of(&peer) {
            self.revoked.remove(&k);
            self.pending.remove(&k);
        }
        let bytes = mine.as_bytes().to_vec();
        let request = if back {
            Request::Return(bytes)
        } else {
            Request::Give(bytes)
        };
        let addrs = self.known_addrs(&peer, addrs);
        let id = self
            .swarm
            .behaviour_mut()
            .exchange
            .send_request_with_addresses(&peer, request, addrs);
        self.gives.insert(id, PendingGive { peer, mine, reply });
    }

    fn on_tick(&mut self) {
        // Tie-break fallback: the lower peer id should have dialed by now; if not, dial.
        let now = Instant::now();
        let mut late = Vec::new();
        for (peer, n) in &mut self.nearby {
            if let TeaserState::Waiting {
                since,
                dialed: false,
            } = n.state
            {
                if now.saturating_duration_since(since) >= TIE_BREAK_GRACE {
                    n.state = TeaserState::Waiting {
                        since,
                        dialed: true,
                    };
                    late.push((*peer, n.addrs.clone()));
                }
            }
        }
        for (peer, addrs) in late {
            self.dial_nearby(peer, addrs);
        }
        self.attend.tick(&mut self.swarm, now);
    }

    fn dial_nearby(&mut self, peer: PeerId, addrs: Vec<Multiaddr>) {
        let opts = DialOpts::peer_id(peer)
            .addresses(addrs)
            .condition(PeerCondition::DisconnectedAndNotDialing)
            .build();
        if let Err(e) = self.swarm.dial(opts) {
            tracing::debug!(%peer, error = %e, "dialing a nearby peer failed");
        }
    }

    // ---- swarm events ----

    async fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                self.emit(Event::Listening { addr: address }).await
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
                if let Some(reply) = self.dials.remove(&connection_id) {
                    let _ = reply.send(Err(DialError::Failed(error)));
                }
                if let Some(peer) = peer_id {
                    self.attend.on_dial_failed(&self.swarm, &peer);
                    // A nearby peer we could not reach is still listed, without a teaser.
                    if let Some(n) = self.nearby.get_mut(&peer) {
                        if matches!(n.state, TeaserState::Waiting { dialed: true, .. })
                            && !self.swarm.is_connected(&peer)
                        {
                            n.state = TeaserState::Done;
                            let addrs = n.addrs.clone();
                            self.emit(Event::PeerDiscovered {
                                peer,
                                addrs,
                                teaser: None,
                            })
                            .await;
                        }
                    }
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
                    self.emit(Event::RelayDisconnected { relay: peer_id }).await;
                }
            }
            SwarmEvent::ListenerClosed { listener_id, .. } => {
                self.attend.on_listener_closed(listener_id);
            }
            SwarmEvent::Behaviour(event) => self.on_behaviour_event(event).await,
            _ => {}
        }
    }

    async fn on_behaviour_event(&mut self, event: BehaviourEvent) {
        match event {
            BehaviourEvent::Exchange(event) => self.on_exchange_event(event).await,
            BehaviourEvent::Mdns(mdns::Event::Discovered(list)) => self.on_mdns_discovered(list),
            BehaviourEvent::Mdns(mdns::Event::Expired(list)) => self.on_mdns_expired(list).await,
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
                        })
                        .await;
                    }
                }
            }
            BehaviourEvent::Rendezvous(rendezvous::client::Event::Discovered {
                rendezvous_node,
                registrations,
                cookie,
            }) => self
                .attend
                .on_discovered(&rendezvous_node, registrations, cookie),
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
                    self.emit(event).await;
                }
                if !self.deferred.is_empty() {
                    self.settle_deferred(false).await;
                    if self.deferred.iter().any(|d| !d.repolled) {
                        // Maybe the read was already under way when they joined: once more.
                        for d in &mut self.deferred {
                            d.repolled = true;
                        }
                        self.attend.poll_now(&mut self.swarm);
                    }
                }
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
                self.emit(event).await;
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

    fn on_mdns_discovered(&mut self, list: Vec<(PeerId, Multiaddr)>) {
        let now = Instant::now();
        let mut to_dial = Vec::new();
        for (peer, addr) in list {
            if peer == self.local {
                continue;
            }
            if !self.nearby.contains_key(&peer) {
                if self.nearby.len() >= self.limits.max_nearby {
                    continue;
                }
                // Tie-break: only the lower peer id dials, so two nodes that find each other at
                // once open one connection, not two.
                let dial = self.local.to_bytes() < peer.to_bytes();
                self.nearby.insert(
                    peer,
                    Nearby {
                        addrs: Vec::new(),
                        teaser: None,
                        state: TeaserState::Waiting {
                            since: now,
                            dialed: dial,
                        },
                    },
                );
                if dial {
                    to_dial.push(peer);
                }
            }
            if let Some(n) = self.nearby.get_mut(&peer) {
                if !n.addrs.contains(&addr) && n.addrs.len() < MAX_ADDRS_PER_PEER {
                    n.addrs.push(addr);
                }
            }
        }
        for peer in to_dial {
            if self.swarm.is_connected(&peer) {
                self.request_teaser_if_nearby(peer);
            } else {
                let addrs = self
                    .nearby
                    .get(&peer)
                    .map(|n| n.addrs.clone())
                    .unwrap_or_default();
                self.dial_nearby(peer, addrs);
            }
        }
    }

    async fn on_mdns_expired(&mut self, list: Vec<(PeerId, Multiaddr)>) {
        let mut gone = Vec::new();
        for (peer, addr) in list {
            if let Some(n) = self.nearby.get_mut(&peer) {
                n.addrs.retain(|a| *a != addr);
                if n.addrs.is_empty() {
                    gone.push(peer);
                }
            }
        }
        for peer in gone {
            self.nearby.remove(&peer);
            self.emit(Event::PeerExpired { peer }).await;
        }
    }

    fn request_teaser_if_nearby(&mut self, peer: PeerId) {
        let Some(n) = self.nearby.get_mut(&peer) else {
            return;
        };
        if matches!(n.state, TeaserState::Waiting { .. }) {
            n.state = TeaserState::Requested;
            let id = self
                .swarm
                .behaviour_mut()
                .exchange
                .send_request(&peer, Request::Teaser);
            self.teaser_requests.insert(id, peer);
        }
    }

    async fn on_exchange_event(&mut self, event: request_response::Event<Request, Response>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => self.on_request(peer, request, channel).await,
                request_response::Message::Response {
                    request_id,
                    response,
                } => self.on_response(request_id, Ok(response)).await,
            },
            request_response::Event::OutboundFailure {
                request_id, error, ..
            } => {
                let error = match error {
                    OutboundFailure::DialFailure => RequestError::Unreachable,
                    OutboundFailure::Timeout => RequestError::Timeout,
                    OutboundFailure::ConnectionClosed => RequestError::ConnectionClosed,
                    OutboundFailure::UnsupportedProtocols => RequestError::UnsupportedProtocol,
                    OutboundFailure::Io(e) => RequestError::Io(e.kind()),
                };
                self.on_response(request_id, Err(error)).await
            }
            request_response::Event::ResponseSent { .. } => {
                self.unsent = self.unsent.saturating_sub(1);
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                self.unsent = self.unsent.saturating_sub(1);
                // A stream that broke after its request was read (unreadable requests are
                // answered as refusals): nothing to pass on.
                tracing::debug!(%peer, %error, "inbound exchange stream failed");
            }
        }
    }

    // ---- inbound requests ----

    async fn on_request(
        &mut self,
        peer: PeerId,
        request: Request,
        channel: ResponseChannel<Response>,
    ) {
        let mut events = Vec::new();
        let answer = self.answer(peer, request, &mut events);
        let response = match answer {
            Ok(Answer::Now(r)) => r,
            Ok(Answer::Later(ask, envelope)) => {
                // A peer not seen yet, at an event: read the boards again and decide when the
                // answer comes (or after DEFER_FOR), so an attendee who just joined is answered.
                self.deferred.push(Deferred {
                    until: Instant::now() + DEFER_FOR,
                    peer,
                    ask,
                    envelope: *envelope,
                    channel,
                    repolled: false,
                });
                self.attend.poll_now(&mut self.swarm);
                return;
            }
            Err(reason) => refuse(peer, reason, &mut events),
        };
        self.respond(channel, response, events).await;
    }

    /// Answers first, then tells the application: the peer's round trip does not wait for the
    /// application to read its events. The peer may have gone away; then nobody is answered.
    async fn respond(
        &mut self,
        channel: ResponseChannel<Response>,
        response: Response,
        events: Vec<Event>,
    ) {
        if self
            .swarm
            .behaviour_mut()
            .exchange
            .send_response(channel, response)
            .is_ok()
        {
            self.unsent += 1;
        }
        for event in events {
            self.emit(event).await;
        }
    }

    /// Decides the deferred gives whose peer is now seen on a board, or whose wait is over
    /// (`all`: every one, as the node stops waiting).
    async fn settle_deferred(&mut self, all: bool) {
        let now = Instant::now();
        let mut i = 0;
        while i < self.deferred.len() {
            let d = &self.deferred[i];
            let ready = all || now >= d.until || self.attend.is_attendee(&d.peer);
            if !ready {
                i += 1;
                continue;
            }
            let d = self.deferred.swap_remove(i);
            let mut events = Vec::new();
            let response = match self.settle(d.peer, d.ask, d.envelope, &mut events) {
                Ok(r) => r,
                Err(reason) => refuse(d.peer, reason, &mut events),
            };
            self.respond(d.channel, response, events).await;
        }
    }

    /// Verifies an inbound envelope from `peer`.
    fn receive(&mut self, peer: &PeerId, bytes: &[u8]) -> Result<Envelope, Refusal> {
        let envelope = Envelope::decode(bytes)?;
        // A peer id that is not ed25519 can never match a card key.
        let sender = key_of(peer).unwrap_or(PublicKey([0; 32]));
        envelope.check(
            &sender,
            &self.me,
            unix_now(),
            self.limits.max_skew.as_secs(),
        )?;
        if !self
            .replays
            .insert((envelope.giver(), envelope.nonce()), Instant::now())
        {
            return Err(Refusal::Replay);
        }
        Ok(envelope)
    }

    /// Decides the answer to one inbound request; the events to emit once it is sent are
    /// pushed to `events`.
    fn answer(
        &mut self,
        peer: PeerId,
        request: Request,
        events: &mut Vec<Event>,
    ) -> Result<Answer, Refusal> {
        if !self.rate.allow(&peer, Instant::now()) {
            return Err(Refusal::RateLimited);
        }
        let (ask, bytes) = match request {
            Request::Give(bytes) => (Ask::Give, bytes),
            Request::Return(bytes) => (Ask::Return, bytes),
            other => return self.answer_query(peer, other).map(Answer::Now),
        };
        let envelope = self.receive(&peer, &bytes)?;
        let who = self.standing(&peer);
        if self.scope == Scope::Known
            && self.decide(&peer, ask) == Decision::Hold
            && self.policy != Policy::Ask
            && !who.revoked
            && self.attend.can_poll()
            && self.deferred.len() < MAX_DEFERRED
            && !self.deferred.iter().any(|d| d.peer == peer)
        {
            return Ok(Answer::Later(ask, Box::new(envelope)));
        }
        self.settle(peer, ask, envelope, events).map(Answer::Now)
    }

    /// Answers a fetch or teaser request (and unreadable requests).
    fn answer_query(&mut self, peer: PeerId, request: Request) -> Result<Response, Refusal> {
        match request {
            Request::Unreadable(e) => Err(Refusal::Unreadable(e)),
            Request::Teaser => Ok(match (self.decide(&peer, Ask::Teaser), &self.teaser) {
                (Decision::SendTeaser, Some(t)) => Response::Teaser(t.as_bytes().to_vec()),
                _ => Response::NoTeaser,
            }),
            Request::Fetch => match self.decide(&peer, Ask::Fetch) {
                Decision::SendCard => Ok(Response::Card(self.card.as_bytes().to_vec())),
                // Not a holder, revoked, or `never`: the same answer, so nobody learns which.
                _ => Err(Refusal::NotAHolder),
            },
            Request::Give(_) | Request::Return(_) => {
                Err(Refusal::Unreadable(crate::protocol::FrameError::Invalid))
            }
        }
    }

    /// Applies the consent rule to a verified give or give-back.
    fn settle(
        &mut self,
        peer: PeerId,
        ask: Ask,
        envelope: Envelope,
        events: &mut Vec<Event>,
    ) -> Result<Response, Refusal> {
        match self.decide(&peer, ask) {
            Decision::GiveBack => match self.sign_for(&peer) {
                Ok(mine) => {
                    let response = Response::GiveBack(mine.as_bytes().to_vec());
                    self.add_holder(envelope.giver());
                    events.push(Event::CardReceived {
                        from: peer,
                        envelope,
                    });
                    events.push(Event::CardGiven {
                        to: peer,
                        envelope: mine,
                    });
                    Ok(response)
                }
                Err(e) => {
                    // Only a failing random source gets here: keep theirs anyway.
                    tracing::warn!(error = %e, "could not sign a give-back");
                    events.push(Event::CardReceived {
                        from: peer,
                        envelope,
                    });
                    Ok(Response::Kept)
                }
            },
            Decision::Hold => self.hold(peer, envelope, events),
            _ => {
                events.push(Event::CardReceived {
                    from: peer,
                    envelope,
                });
                Ok(Response::Kept)
            }
        }
    }

    fn hold(
        &mut self,
        peer: PeerId,
        envelope: Envelope,
        events: &mut Vec<Event>,
    ) -> Result<Response, Refusal> {
        // One slot per giver: a second give from the same person replaces the first in the
        // application's inbox, so repeating a give cannot crowd out anyone else.
        let giver = envelope.giver();
        if !self.pending.contains(&giver) {
            if self.pending.len() >= self.limits.max_inbox {
                return Err(Refusal::InboxFull);
            }
            self.pending.insert(giver);
        }
        let addrs = self.known_addrs(&peer, Vec::new());
        events.push(Event::InboxItem {
            from: peer,
            envelope,
            addrs,
        });
        Ok(Response::Pending)
    }

    // ---- responses to my requests ----

    async fn on_response(
        &mut self,
        id: OutboundRequestId,
        response: Result<Response, RequestError>,
    ) {
        if let Some(pending) = self.gives.remove(&id) {
            let result = self.finish_give(&pending, response).await;
            let _ = pending.reply.send(result);
        } else if let Some((peer, reply)) = self.fetches.remove(&id) {
            let result = match response {
                Ok(Response::Card(bytes)) => match SignedCard::decode(&bytes) {
                    Ok(card) if Some(card.key()) == key_of(&peer) => Ok(card),
                    Ok(_) => Err(FetchError::WrongKey),
                    Err(e) => Err(FetchError::BadCard(e)),
                },
                Ok(Response::Refused(code)) => Err(FetchError::Refused(code)),
                Ok(_) => Err(FetchError::UnexpectedResponse),
                Err(e) => Err(FetchError::Request(e)),
            };
            let _ = reply.send(result);
        } else if let Some((peer, reply)) = self.teaser_fetches.remove(&id) {
            let result = match response {
                Ok(Response::Teaser(bytes)) => match SignedTeaser::decode(&bytes) {
                    Ok(t) if Some(t.key()) == key_of(&peer) => Ok(Some(t)),
                    Ok(_) => Err(FetchError::WrongKey),
                    Err(e) => Err(FetchError::BadTeaser(e)),
                },
                Ok(Response::NoTeaser) => Ok(None),
                Ok(Response::Refused(code)) => Err(FetchError::Refused(code)),
                Ok(_) => Err(FetchError::UnexpectedResponse),
                Err(e) => Err(FetchError::Request(e)),
            };
            let _ = reply.send(result);
        } else if let Some(peer) = self.teaser_requests.remove(&id) {
            let teaser = match response {
                Ok(Response::Teaser(bytes)) => match SignedTeaser::decode(&bytes) {
                    Ok(t) if Some(t.key()) == key_of(&peer) => Some(t),
                    _ => None,
                },
                _ => None,
            };
            if let Some(n) = self.nearby.get_mut(&peer) {
                n.teaser = teaser.clone();
                n.state = TeaserState::Done;
                let addrs = n.addrs.clone();
                self.emit(Event::PeerDiscovered {
                    peer,
                    addrs,
                    teaser,
                })
                .await;
            }
        }
    }

    async fn finish_give(
        &mut self,
        pending: &PendingGive,
        response: Result<Response, RequestError>,
    ) -> Result<GiveOutcome, GiveError> {
        let peer = pending.peer;
        let outcome = match response? {
            Response::GiveBack(bytes) => {
                let theirs = Envelope::decode(&bytes)?;
                let sender = key_of(&peer).ok_or(GiveError::NotMeishiPeer(peer))?;
                theirs.check(
                    &sender,
                    &self.me,
                    unix_now(),
                    self.limits.max_skew.as_secs(),
                )?;
                GiveOutcome::Mutual { envelope: theirs }
            }
            Response::Kept => GiveOutcome::ReceivedOnly,
            Response::Pending => GiveOutcome::Pending,
            Response::Refused(code) => return Err(GiveError::Refused(code)),
            _ => return Err(GiveError::UnexpectedResponse),
        };
        if let Some(k) = key_of(&peer) {
            self.add_holder(k);
        }
        self.emit(Event::CardGiven {
            to: peer,
            envelope: pending.mine.clone(),
        })
        .await;
        if let GiveOutcome::Mutual { envelope } = &outcome {
            self.emit(Event::CardReceived {
                from: peer,
                envelope: envelope.clone(),
            })
            .await;
        }
        Ok(outcome)
    }
}
