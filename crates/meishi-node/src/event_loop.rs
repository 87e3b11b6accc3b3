//! The private event loop: owns the swarm, answers commands, turns swarm events into
//! [`Event`]s, and maps outbound request ids to the `oneshot` replies waiting for them.

use std::collections::{BTreeMap, HashMap, HashSet};
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
use crate::config::{Config, Limits, Policy};
use crate::event::{Discovered, Event, InboxEntry, InboxId, Refusal};
use crate::guard::{RateLimiter, ReplayCache};
use crate::node::{
    key_of, Command, DialError, FetchError, GiveError, GiveOutcome, InboxError, PingError, Reply,
    RequestError, SetCardError, SpawnError,
};
use crate::protocol::{Request, Response};

/// Addresses remembered per peer.
const MAX_ADDRS_PER_PEER: usize = 8;
/// Keys of card holders kept in memory (32 bytes each).
const MAX_HOLDERS: usize = 100_000;
/// Ping measurements waited for at once, per peer.
const MAX_PING_WAITERS: usize = 16;
/// How long the higher peer id waits for the lower one to dial after both found each other by
/// mDNS, before dialing itself. proto-spec/exchange.md#discovery
const TIE_BREAK_GRACE: Duration = Duration::from_secs(3);
/// How often timers (the tie-break fallback) are checked.
const TICK: Duration = Duration::from_millis(500);

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Who waits for a give's answer.
enum GiveReply {
    /// `Node::give` / `Node::give_back`.
    Caller(Reply<Result<GiveOutcome, GiveError>>),
    /// `Node::respond_inbox` accepting an item.
    Inbox(Reply<Result<(), InboxError>>),
}

struct PendingGive {
    peer: PeerId,
    mine: Envelope,
    reply: GiveReply,
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

pub(crate) struct EventLoop {
    swarm: Swarm<Behaviour>,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<Event>,
    identity: Identity,
    me: PublicKey,
    local: PeerId,
    card: SignedCard,
    policy: Policy,
    teaser: Option<SignedTeaser>,
    event_name: Option<String>,
    holders: HashSet<PublicKey>,
    limits: Limits,
    rate: RateLimiter<PeerId>,
    replays: ReplayCache<(PublicKey, [u8; NONCE_LEN])>,
    gives: HashMap<OutboundRequestId, PendingGive>,
    fetches: HashMap<OutboundRequestId, (PeerId, Reply<Result<SignedCard, FetchError>>)>,
    teaser_requests: HashMap<OutboundRequestId, PeerId>,
    teaser_fetches: HashMap<OutboundRequestId, TeaserFetch>,
    dials: HashMap<ConnectionId, Reply<Result<PeerId, DialError>>>,
    pings: HashMap<PeerId, Vec<Reply<Result<Duration, PingError>>>>,
    inbox: BTreeMap<InboxId, InboxEntry>,
    next_inbox: u64,
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
            event,
            relays,
            events: codes,
            holders,
            limits,
        } = config;
        let me = identity.public();
        if card.key() != me {
            return Err(SpawnError::NotOwnCard);
        }
        if let Some(e) = &event {
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
        let attend = Attend::new(
            local,
            relays,
            codes,
            teaser.as_ref(),
            limits.event_poll,
            limits.relay_backoff,
        )?;
        let rate = RateLimiter::new(
            limits.request_burst,
            limits.request_refill,
            limits.max_tracked_peers,
        );
        let replays = ReplayCache::new(limits.max_replay_cache, limits.max_skew * 2);
        let this = Self {
            swarm,
            commands,
            events,
            identity,
            me,
            local,
            card,
            policy,
            teaser,
            event_name: event,
            holders: holders.into_iter().collect(),
            limits,
            rate,
            replays,
            gives: HashMap::new(),
            fetches: HashMap::new(),
            teaser_requests: HashMap::new(),
            teaser_fetches: HashMap::new(),
            dials: HashMap::new(),
            pings: HashMap::new(),
            inbox: BTreeMap::new(),
            next_inbox: 1,
            nearby: HashMap::new(),
            peer_addrs: HashMap::new(),
            attend,
        };
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
                        let _ = reply.send(());
                        break;
                    }
                    Some(command) => self.on_command(command).await,
                    // Every handle is gone: nobody can use the node any more.
                    None => break,
                },
                _ = tick.tick() => self.on_tick(),
            }
        }
        tracing::debug!("node event loop stopped");
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
            self.event_name.as_deref(),
            nonce,
        )?)
    }

    /// Remembers that `key` holds my card, up to [`MAX_HOLDERS`] keys learned while running
    /// (beyond that a peer must give again before it may fetch).
    fn add_holder(&mut self, key: PublicKey) {
        if self.holders.len() < MAX_HOLDERS {
            self.holders.insert(key);
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
            } => self.start_give(peer, addrs, back, GiveReply::Caller(reply)),
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
            Command::Inbox { reply } => {
                let _ = reply.send(self.inbox.values().cloned().collect());
            }
            Command::RespondInbox { id, accept, reply } => {
                let Some(entry) = self.inbox.remove(&id) else {
                    let _ = reply.send(Err(InboxError::NotFound(id)));
                    return;
                };
                if !accept {
                    let _ = reply.send(Ok(()));
                    return;
                }
                let InboxEntry {
                    from,
                    envelope,
                    addrs,
                    ..
                } = entry;
                self.emit(Event::CardReceived { from, envelope }).await;
                self.start_give(from, addrs, true, GiveReply::Inbox(reply));
            }
            Command::SetCard { card, reply } => {
                if card.key() != self.me {
                    let _ = reply.send(Err(SetCardError::NotOwnCard));
                    return;
                }
                self.card = card;
                let _ = reply.send(Ok(()));
            }
            Command::SetHolders { holders, reply } => {
                self.holders = holders.into_iter().collect();
                let _ = reply.send(());
            }
            Command::SetPolicy { policy, reply } => {
                self.policy = policy;
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

    fn start_give(&mut self, peer: PeerId, addrs: Vec<Multiaddr>, back: bool, reply: GiveReply) {
        let fail = |reply: GiveReply, e: GiveError| match reply {
            GiveReply::Caller(r) => {
                let _ = r.send(Err(e));
            }
            GiveReply::Inbox(r) => {
                let _ = r.send(Err(InboxError::GiveBack(e)));
            }
        };
        if peer == self.local {
            return fail(reply, GiveError::Myself);
        }
        let mine = match self.sign_for(&peer) {
            Ok(e) => e,
            Err(e) => return fail(reply, e),
        };
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
                ..
            } => {
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
                if self.peer_addrs.len() >= self.limits.max_tracked_peers
                    && !self.peer_addrs.contains_key(&peer_id)
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
                let mut addrs = info.listen_addrs;
                addrs.truncate(MAX_ADDRS_PER_PEER);
                self.peer_addrs.insert(peer_id, addrs);
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
            request_response::Event::InboundFailure { peer, error, .. } => {
                // A stream that broke after its request was read (unreadable requests are
                // answered as refusals): nothing to pass on.
                tracing::debug!(%peer, %error, "inbound exchange stream failed");
            }
            _ => {}
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
        let response = match self.answer(peer, request, &mut events) {
            Ok(r) => r,
            Err(reason) => {
                let code = reason.code();
                events.push(Event::Refused { from: peer, reason });
                Response::Refused(code)
            }
        };
        // Answer first, then tell the application: the peer's round trip does not wait for the
        // application to read its events. The peer may have gone away; then nobody is answered.
        let _ = self
            .swarm
            .behaviour_mut()
            .exchange
            .send_response(channel, response);
        for event in events {
            self.emit(event).await;
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
    ) -> Result<Response, Refusal> {
        if !self.rate.allow(&peer, Instant::now()) {
            return Err(Refusal::RateLimited);
        }
        match request {
            Request::Unreadable(e) => Err(Refusal::Unreadable(e)),
            Request::Teaser => Ok(match &self.teaser {
                Some(t) => Response::Teaser(t.as_bytes().to_vec()),
                None => Response::NoTeaser,
            }),
            Request::Fetch => {
                let holder = key_of(&peer).is_some_and(|k| self.holders.contains(&k));
                if holder {
                    Ok(Response::Card(self.card.as_bytes().to_vec()))
                } else {
                    Err(Refusal::NotAHolder)
                }
            }
            Request::Give(bytes) => {
                let envelope = self.receive(&peer, &bytes)?;
                match self.policy {
                    Policy::Auto => match self.sign_for(&peer) {
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
                    Policy::Never => {
                        events.push(Event::CardReceived {
                            from: peer,
                            envelope,
                        });
                        Ok(Response::Kept)
                    }
                    Policy::Ask => self.hold(peer, envelope, events),
                }
            }
            Request::Return(bytes) => {
                let envelope = self.receive(&peer, &bytes)?;
                // A give-back answers a card I gave; from anyone else under `ask`, the user
                // decides as for any other card.
                if self.policy == Policy::Ask && !self.holders.contains(&envelope.giver()) {
                    return self.hold(peer, envelope, events);
                }
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
        if self.inbox.len() >= self.limits.max_inbox {
            return Err(Refusal::InboxFull);
        }
        let id = InboxId(self.next_inbox);
        self.next_inbox += 1;
        let addrs = self.known_addrs(&peer, Vec::new());
        let entry = InboxEntry {
            id,
            from: peer,
            envelope: envelope.clone(),
            addrs: addrs.clone(),
        };
        self.inbox.insert(id, entry);
        events.push(Event::InboxItem {
            id,
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
            match pending.reply {
                GiveReply::Caller(r) => {
                    let _ = r.send(result);
                }
                GiveReply::Inbox(r) => {
                    let _ = r.send(result.map(|_| ()).map_err(InboxError::GiveBack));
                }
            }
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
