//! Fleets: the relays of one event holding one teaser board between them.
//! proto-spec/relay.md#fleets
//!
//! A join URI lists up to 8 relays and nodes post to each, but a node that reaches only some
//! of them would be missing from the boards of the others. The relays of a **fleet** (each
//! started with the others' addresses, `--peer` or `[fleet] peers`) copy every board entry a
//! client writes to each other:
//!
//! - **Replication** ([`Net::gossip`], libp2p gossipsub): one topic per event namespace
//!   ([`wire::topic_of`]). A relay subscribes when it first stores an entry of a namespace, or
//!   when a fleet peer subscribes to one (so that every relay of the fleet is on every topic
//!   any of them serves), up to `max_topics`. Each accepted client write is published as a
//!   [`wire::Replica`]; a relay that receives one checks it as it would a client's write and
//!   stores it if it is newer ([`crate::board::Board::apply`]), and only then lets gossipsub
//!   forward it. Each client's Remove is published on the same topic as a [`wire::Removal`],
//!   which drops the entry wherever the version held is not newer
//!   ([`crate::board::Board::apply_removal`]) and keeps older copies out for a while.
//! - **Catch-up** ([`Net::pull`], `/meishi/fleet/1`): gossipsub remembers seconds, so when a
//!   fleet peer subscribes to a topic (which it does for all its topics when the connection
//!   comes up, and for a namespace it has just started serving) the relay reads that peer's
//!   board of the namespace in pages from the last cursor it got from it.
//! - **Membership**: only the listed peer ids take part. [`only::Only`] gives gossipsub and
//!   the catch-up protocol to their connections alone, and a message whose author or
//!   forwarder is not a member is rejected anyway. The relay dials its peers at start and
//!   again, with backoff, whenever the last connection to one closes.
//!
//! What does not replicate: reservations, rendezvous registrations, slot records and drop
//! messages stay on the relay they were written to. The departure of a peer that held a
//! reservation on a relay (its last connection closed for the grace period) is published as a
//! removal of each of its entries, as its own Remove would be.

pub mod only;
pub mod wire;

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use libp2p::gossipsub::{
    self, IdentTopic, MaxCountSubscriptionFilter, MessageAcceptance, PublishError, TopicHash,
    TopicSubscriptionFilter,
};
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::NetworkBehaviour;
use libp2p::{request_response, Multiaddr, PeerId, StreamProtocol};
use prometheus_client::metrics::counter::Counter;

use crate::board::{Applied, Board, RemovalApplied};
use crate::metrics::{FleetEntry, FleetMetrics, FleetPeer};
use wire::{Entry, Gossiped, PullRequest, PullResponse, Removal, Replica, MAX_PULL_PAGE};

/// The catch-up protocol id. proto-spec/relay.md#catch-up
pub const PROTOCOL: StreamProtocol = StreamProtocol::new(wire::PULL_PROTOCOL);
/// Most fleet peers one relay lists (a join URI names at most 8 relays; a fleet may be
/// larger, but every relay is in every mesh, so it stays small).
pub const MAX_FLEET_PEERS: usize = 16;
/// Default cap on the namespaces a relay replicates (gossipsub topics it subscribes to).
pub const DEFAULT_MAX_TOPICS: usize = 1_024;
/// Largest gossipsub frame read or written: a replica is at most 1,213 bytes
/// ([`wire::MAX_REPLICA`]); control messages (IHAVE, IWANT, IDONTWANT lists) fit as well.
pub const MAX_TRANSMIT: usize = 16 * 1024;
/// Gossipsub messages queued for one fleet peer at most (publishes and forwards); past it they
/// are dropped (`meishi_relay_fleet_dropped_total`). rust-libp2p's default of 5,000 dropped
/// about 4,850 messages per relay while 10,000 attendees joined a fleet of four within two
/// minutes on a loaded machine, this 190 on one relay of four (docs/relay.md#a-fleet-of-four):
/// it holds a whole event of the default `max_per_namespace` posting at once. Each message is
/// at most 1,213 bytes, so a full queue holds at most ~25 MB per fleet peer.
pub const SEND_QUEUE: usize = 20_480;
/// How often each connected fleet peer's board is read again from the last cursor it
/// answered: gossip drops messages under overload (a full send queue), and only a pull brings
/// them back. proto-spec/relay.md#catch-up
pub const DEFAULT_REPAIR: Duration = Duration::from_secs(60);
/// Pull requests in flight to one peer at once.
const PULLS_IN_FLIGHT: usize = 2;
/// Pages one pull of one namespace follows before it stops, per page a full namespace of the
/// relay's board takes (`max_per_namespace` in pull pages of 256: 80 for the default of
/// 20,480):
/// twice that, so that a namespace that keeps growing while it is read is still read to its
/// end, yet does not keep the pull going for ever.
const PULL_PAGES_PER_FULL_READ: usize = 2;
/// First and longest wait before dialing a fleet peer again.
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// How long a topic whose namespace holds no entry here stays subscribed.
const TOPIC_IDLE: Duration = Duration::from_secs(60);

/// The codec of the catch-up protocol, both sides.
pub type Codec = crate::frame::FramedCodec<PullRequest, PullResponse>;

/// Gossipsub with only board topics, at most as many per peer as a relay serves.
pub type Gossip =
    gossipsub::Behaviour<gossipsub::IdentityTransform, MaxCountSubscriptionFilter<BoardTopics>>;

/// The fleet's two protocols; [`only::Only`] keeps them to fleet connections.
#[derive(NetworkBehaviour)]
pub struct Net {
    pub gossip: Gossip,
    pub pull: request_response::Behaviour<Codec>,
}

/// Accepts the board topics and [`wire::FLEET_TOPIC`], nothing else.
#[derive(Debug, Default, Clone, Copy)]
pub struct BoardTopics;

impl TopicSubscriptionFilter for BoardTopics {
    fn can_subscribe(&mut self, topic: &TopicHash) -> bool {
        topic.as_str() == wire::FLEET_TOPIC || wire::namespace_of(topic.as_str()).is_some()
    }
}

/// Why the fleet's behaviour could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    #[error("gossipsub configuration: {0}")]
    Config(#[from] gossipsub::ConfigBuilderError),
    #[error("gossipsub: {0}")]
    Gossip(&'static str),
}

impl Net {
    /// Gossipsub signing with the relay's key (every message names and is signed by its
    /// author), validated by the relay before it is forwarded, with mesh parameters for a fleet
    /// of a few relays: every subscribed peer is in the mesh.
    pub fn new(
        key: &libp2p::identity::Keypair,
        max_topics: usize,
        malformed: Counter,
        rr: request_response::Config,
    ) -> Result<Self, BuildError> {
        let config = gossipsub::ConfigBuilder::default()
            .validation_mode(gossipsub::ValidationMode::Strict)
            .validate_messages()
            .mesh_outbound_min(0)
            .mesh_n_low(1)
            .mesh_n(MAX_FLEET_PEERS)
            .mesh_n_high(MAX_FLEET_PEERS)
            .gossip_lazy(MAX_FLEET_PEERS)
            .heartbeat_initial_delay(Duration::from_millis(100))
            .max_transmit_size(MAX_TRANSMIT)
            .connection_handler_queue_len(SEND_QUEUE)
            .build()?;
        // One subscription per namespace served, and the fleet topic.
        let filter = MaxCountSubscriptionFilter {
            filter: BoardTopics,
            max_subscribed_topics: max_topics + 1,
            max_subscriptions_per_request: max_topics + 1,
        };
        let gossip = Gossip::new_with_subscription_filter(
            gossipsub::MessageAuthenticity::Signed(key.clone()),
            config,
            filter,
        )
        .map_err(BuildError::Gossip)?;
        let pull = request_response::Behaviour::with_codec(
            Codec::with_counter(malformed),
            [(PROTOCOL, request_response::ProtocolSupport::Full)],
            rr,
        );
        Ok(Self { gossip, pull })
    }
}

/// The link to one fleet peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    Up,
    Dialing,
    Down { retry_at: Instant },
}

#[derive(Debug)]
struct Member {
    addr: Multiaddr,
    label: FleetPeer,
    link: Link,
    backoff: Duration,
    /// The last cursor this peer's board answered, per namespace, since the link came up.
    cursors: HashMap<String, u64>,
    /// Namespaces to pull, each once.
    queue: VecDeque<String>,
    queued: HashSet<String>,
    in_flight: usize,
    /// Entries the pulls since the link came up stored here.
    behind: i64,
}

/// One pull in flight: whose board, which namespace, how many pages so far.
#[derive(Debug)]
struct Pull {
    peer: PeerId,
    namespace: String,
    pages: usize,
}

/// How an entry reached this relay, the `via` label of the entry counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    Gossip,
    Pull,
}

impl Via {
    fn label(self) -> &'static str {
        match self {
            Via::Gossip => "gossip",
            Via::Pull => "pull",
        }
    }
}

/// The fleet's state, owned by the relay's event loop next to the board.
pub struct Fleet {
    members: HashMap<PeerId, Member>,
    /// Namespaces subscribed to, and when each last held an entry or was announced.
    topics: HashMap<String, Instant>,
    max_topics: usize,
    /// Pages one pull follows at most ([`PULL_PAGES_PER_FULL_READ`]).
    max_pull_pages: usize,
    /// Between repair pulls, and when the next is due.
    repair_every: Duration,
    next_repair: Instant,
    pulls: HashMap<request_response::OutboundRequestId, Pull>,
    metrics: FleetMetrics,
}

impl Fleet {
    /// A fleet of `peers` (the local peer, if listed, is left out: every relay of a fleet may
    /// use the same list), to dial at once; `namespace_cap` is the board's `max_per_namespace`,
    /// which bounds how many pages a pull follows.
    pub fn new(
        local: PeerId,
        peers: Vec<(PeerId, Multiaddr)>,
        max_topics: usize,
        namespace_cap: usize,
        repair_every: Duration,
        metrics: FleetMetrics,
        now: Instant,
    ) -> Self {
        let mut members = HashMap::new();
        for (peer, addr) in peers {
            if peer == local {
                continue;
            }
            let label = FleetPeer {
                peer: peer.to_string(),
            };
            metrics.connected.get_or_create(&label).set(0);
            metrics.behind.get_or_create(&label).set(0);
            // Present from the start, so that an alert on it sees 0 rather than nothing.
            let _ = metrics.dropped.get_or_create(&label);
            members.insert(
                peer,
                Member {
                    addr,
                    label,
                    link: Link::Down { retry_at: now },
                    backoff: BACKOFF_MIN,
                    cursors: HashMap::new(),
                    queue: VecDeque::new(),
                    queued: HashSet::new(),
                    in_flight: 0,
                    behind: 0,
                },
            );
        }
        Self {
            members,
            topics: HashMap::new(),
            max_topics,
            max_pull_pages: namespace_cap
                .div_ceil(usize::from(MAX_PULL_PAGE))
                .max(1)
                .saturating_mul(PULL_PAGES_PER_FULL_READ),
            repair_every,
            next_repair: now + repair_every,
            pulls: HashMap::new(),
            metrics,
        }
    }

    /// The peer ids that take part (not the local one).
    pub fn members(&self) -> HashSet<PeerId> {
        self.members.keys().copied().collect()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Subscribes to the fleet topic, which keeps the fleet's connections in a mesh. Once,
    /// before the event loop runs.
    pub fn start(&mut self, net: &mut Net) {
        if self.members.is_empty() {
            return;
        }
        if let Err(e) = net.gossip.subscribe(&IdentTopic::new(wire::FLEET_TOPIC)) {
            tracing::warn!(error = %e, "cannot subscribe to the fleet topic");
        }
    }

    /// When the next dial is due, if one is.
    pub fn next_dial(&self) -> Option<Instant> {
        self.members
            .values()
            .filter_map(|m| match m.link {
                Link::Down { retry_at } => Some(retry_at),
                _ => None,
            })
            .min()
    }

    /// The dials due now; each peer is marked as being dialed.
    pub fn dials(&mut self, now: Instant) -> Vec<(PeerId, DialOpts)> {
        let mut out = Vec::new();
        for (peer, m) in &mut self.members {
            if matches!(m.link, Link::Down { retry_at } if retry_at <= now) {
                m.link = Link::Dialing;
                let opts = DialOpts::peer_id(*peer)
                    .addresses(vec![m.addr.clone()])
                    .condition(PeerCondition::DisconnectedAndNotDialing)
                    .build();
                out.push((*peer, opts));
            }
        }
        out
    }

    /// A connection to `peer` is up (either side dialed). The cursors start again from 0: the
    /// peer may have restarted.
    pub fn connected(&mut self, peer: &PeerId) {
        let Some(m) = self.members.get_mut(peer) else {
            return;
        };
        if m.link == Link::Up {
            return;
        }
        m.link = Link::Up;
        m.backoff = BACKOFF_MIN;
        m.cursors.clear();
        m.behind = 0;
        self.metrics.connected.get_or_create(&m.label).set(1);
        self.metrics.behind.get_or_create(&m.label).set(0);
        tracing::info!(%peer, "fleet peer connected");
    }

    /// The last connection to `peer` closed: dial it again after the backoff.
    pub fn disconnected(&mut self, peer: &PeerId, now: Instant) {
        let Some(m) = self.members.get_mut(peer) else {
            return;
        };
        m.queue.clear();
        m.queued.clear();
        m.in_flight = 0;
        self.pulls.retain(|_, p| p.peer != *peer);
        self.metrics.connected.get_or_create(&m.label).set(0);
        tracing::info!(%peer, "fleet peer disconnected");
        Self::retry_later(m, now);
    }

    /// A dial to `peer` failed; unless another connection is up, try again after the backoff.
    pub fn dial_failed(&mut self, peer: &PeerId, still_connected: bool, now: Instant) {
        let Some(m) = self.members.get_mut(peer) else {
            return;
        };
        if still_connected || m.link == Link::Up {
            return;
        }
        tracing::debug!(%peer, backoff = ?m.backoff, "cannot reach fleet peer");
        Self::retry_later(m, now);
    }

    fn retry_later(m: &mut Member, now: Instant) {
        m.link = Link::Down {
            retry_at: now + m.backoff,
        };
        m.backoff = (m.backoff * 2).clamp(BACKOFF_MIN, BACKOFF_MAX);
    }

    /// Subscribes to `namespace`'s topic unless already subscribed or at the cap; whether the
    /// relay is subscribed now.
    fn follow(&mut self, net: &mut Net, namespace: &str, now: Instant) -> bool {
        if let Some(seen) = self.topics.get_mut(namespace) {
            *seen = now;
            return true;
        }
        if self.topics.len() >= self.max_topics {
            self.metrics.topics_refused.inc();
            tracing::debug!(
                topics = self.topics.len(),
                "topic cap reached: not replicated"
            );
            return false;
        }
        match net
            .gossip
            .subscribe(&IdentTopic::new(wire::topic_of(namespace)))
        {
            Ok(_) => {
                self.topics.insert(namespace.to_owned(), now);
                self.metrics.topics.set(self.topics.len() as i64);
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot subscribe to a board topic");
                false
            }
        }
    }

    /// A client's write of `peer`'s entry in `namespace` was stored: publish it to the fleet.
    /// Never fails the write: without a fleet peer on the topic yet (rust-libp2p reports
    /// `NoPeersSubscribedToTopic`, formerly `InsufficientPeers`), the peers get the entry by
    /// catch-up when they come.
    pub fn stored(
        &mut self,
        net: &mut Net,
        board: &Board,
        namespace: &str,
        peer: &PeerId,
        now: Instant,
    ) {
        if self.members.is_empty() || !self.follow(net, namespace, now) {
            return;
        }
        let Some(entry) = board.entry(namespace, peer, now) else {
            return;
        };
        let replica = Replica {
            namespace: namespace.to_owned(),
            entry,
        };
        self.publish(net, namespace, Gossiped::Entry(replica));
    }

    /// A client removed `peer`'s entry in `namespace`: publish the removal to the fleet, so
    /// that the copies elsewhere go too. Like [`Fleet::stored`], never fails the request; a
    /// fleet peer that is not connected now keeps its copy until its TTL ends.
    pub fn removed(
        &mut self,
        net: &mut Net,
        board: &Board,
        namespace: &str,
        peer: &PeerId,
        now: Instant,
    ) {
        if self.members.is_empty() || !self.follow(net, namespace, now) {
            return;
        }
        let Some(removal) = board.removal(namespace, peer, now) else {
            return;
        };
        self.publish(net, namespace, Gossiped::Removal(removal));
    }

    fn publish(&mut self, net: &mut Net, namespace: &str, message: Gossiped) {
        let topic = IdentTopic::new(wire::topic_of(namespace));
        let outcome = match net.gossip.publish(topic, message.encode()) {
            Ok(_) => "sent",
            Err(PublishError::NoPeersSubscribedToTopic) => "no_peers",
            Err(PublishError::Duplicate) => "duplicate",
            Err(e) => {
                tracing::warn!(error = %e, "cannot publish a board change to the fleet");
                "failed"
            }
        };
        self.metrics.published(outcome);
    }

    /// Handles an event of the fleet's protocols; true when the board changed.
    pub fn on_net(
        &mut self,
        net: &mut Net,
        board: &mut Board,
        event: NetEvent,
        now: Instant,
        clock: u64,
    ) -> bool {
        match event {
            NetEvent::Gossip(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            }) => {
                let verdict = self.receive(board, &propagation_source, &message, now, clock);
                let stored = matches!(verdict, MessageAcceptance::Accept);
                net.gossip.report_message_validation_result(
                    &message_id,
                    &propagation_source,
                    verdict,
                );
                stored
            }
            NetEvent::Gossip(gossipsub::Event::Subscribed { peer_id, topic }) => {
                let Some(ns) = wire::namespace_of(topic.as_str()) else {
                    return false;
                };
                if self.members.contains_key(&peer_id) && self.follow(net, ns, now) {
                    let ns = ns.to_owned();
                    self.enqueue(net, &peer_id, ns);
                }
                false
            }
            NetEvent::Gossip(gossipsub::Event::GossipsubNotSupported { peer_id }) => {
                tracing::warn!(peer = %peer_id, "fleet peer does not speak gossipsub");
                false
            }
            NetEvent::Gossip(gossipsub::Event::SlowPeer {
                peer_id,
                failed_messages,
            }) => {
                let dropped = failed_messages.priority + failed_messages.non_priority;
                if let Some(m) = self.members.get(&peer_id) {
                    self.metrics
                        .dropped
                        .get_or_create(&m.label)
                        .inc_by(dropped as u64);
                }
                tracing::debug!(peer = %peer_id, dropped, "fleet peer is slow");
                false
            }
            NetEvent::Gossip(_) => false,
            NetEvent::Pull(e) => self.on_pull(net, board, e, now),
        }
    }

    /// Judges one gossipsub message: stored (or, for a removal, applied) and forwarded
    /// (`Accept`) only if it comes from the fleet, decodes, is on its namespace's topic, and
    /// the board takes it as newer; `Ignore` when it is not newer or a cap refuses it;
    /// `Reject` otherwise.
    fn receive(
        &mut self,
        board: &mut Board,
        source: &PeerId,
        message: &gossipsub::Message,
        now: Instant,
        clock: u64,
    ) -> MessageAcceptance {
        let Some(label) = self.members.get(source).map(|m| m.label.clone()) else {
            // Only fleet connections speak gossipsub (`Only`); kept as a second wall.
            self.metrics.strangers.inc();
            return MessageAcceptance::Reject;
        };
        let count = |outcome| self.metrics.entry(&label, Via::Gossip.label(), outcome);
        count("received");
        let from_fleet = message
            .source
            .is_some_and(|author| self.members.contains_key(&author));
        let decoded = wire::namespace_of(message.topic.as_str()).and_then(|ns| {
            Gossiped::decode(&message.data)
                .ok()
                .filter(|g| g.namespace() == ns)
        });
        let replica = match decoded.filter(|_| from_fleet) {
            Some(Gossiped::Entry(replica)) => replica,
            Some(Gossiped::Removal(removal)) => {
                return self.apply_removal(board, &label, &removal, now);
            }
            None => {
                count("rejected");
                return MessageAcceptance::Reject;
            }
        };
        let stamp = replica.entry.stamp;
        match self.apply(
            board,
            &label,
            Via::Gossip,
            &replica.namespace,
            replica.entry,
            now,
        ) {
            Judged::Stored => {
                // From the origin's store to this one; clocks of a fleet are assumed in sync
                // (NTP): a copy stamped ahead of this clock counts as no delay.
                let lag = clock.saturating_sub(stamp) as f64 / 1e6;
                self.metrics.lag.get_or_create(&label).observe(lag);
                MessageAcceptance::Accept
            }
            Judged::Ignored => MessageAcceptance::Ignore,
            Judged::Invalid => MessageAcceptance::Reject,
        }
    }

    /// Applies a removal from a fleet peer (by gossip) and counts what came of it: `removed`
    /// when it dropped an entry or is remembered for one still on its way (forwarded), `stale`
    /// when the entry held is newer or the removal known (not forwarded).
    fn apply_removal(
        &mut self,
        board: &mut Board,
        label: &FleetPeer,
        removal: &Removal,
        now: Instant,
    ) -> MessageAcceptance {
        let (outcome, verdict) = match board.apply_removal(removal, now) {
            RemovalApplied::Removed | RemovalApplied::Remembered => {
                ("removed", MessageAcceptance::Accept)
            }
            RemovalApplied::Stale => ("stale", MessageAcceptance::Ignore),
        };
        self.metrics.entry(label, Via::Gossip.label(), outcome);
        verdict
    }

    /// Stores one entry from a fleet peer and counts what came of it.
    fn apply(
        &mut self,
        board: &mut Board,
        label: &FleetPeer,
        via: Via,
        namespace: &str,
        entry: Entry,
        now: Instant,
    ) -> Judged {
        let (outcome, judged) = match board.apply(namespace, entry, now) {
            Applied::Stored | Applied::Restamped => {
                if let Some(seen) = self.topics.get_mut(namespace) {
                    *seen = now;
                }
                ("applied", Judged::Stored)
            }
            Applied::Stale => ("stale", Judged::Ignored),
            Applied::Full(r) => {
                tracing::debug!(cap = r.cap(), "fleet entry refused by a board cap");
                ("refused", Judged::Ignored)
            }
            Applied::BadTtl => ("rejected", Judged::Invalid),
        };
        self.metrics.entry(label, via.label(), outcome);
        judged
    }

    /// Queues a pull of `namespace` from `peer` (once) and sends what may be sent.
    fn enqueue(&mut self, net: &mut Net, peer: &PeerId, namespace: String) {
        let Some(m) = self.members.get_mut(peer) else {
            return;
        };
        if m.queued.insert(namespace.clone()) {
            m.queue.push_back(namespace);
        }
        self.pump(net, peer);
    }

    /// Sends queued pulls to `peer`, up to [`PULLS_IN_FLIGHT`] at once.
    fn pump(&mut self, net: &mut Net, peer: &PeerId) {
        let Some(m) = self.members.get_mut(peer) else {
            return;
        };
        while m.in_flight < PULLS_IN_FLIGHT {
            let Some(namespace) = m.queue.pop_front() else {
                break;
            };
            m.queued.remove(&namespace);
            let cursor = m.cursors.get(&namespace).copied().unwrap_or(0);
            let id = net.pull.send_request(
                peer,
                PullRequest {
                    namespace: namespace.clone(),
                    cursor,
                    limit: MAX_PULL_PAGE,
                },
            );
            m.in_flight += 1;
            self.pulls.insert(
                id,
                Pull {
                    peer: *peer,
                    namespace,
                    pages: 1,
                },
            );
        }
    }

    fn on_pull(
        &mut self,
        net: &mut Net,
        board: &mut Board,
        event: request_response::Event<PullRequest, PullResponse>,
        now: Instant,
    ) -> bool {
        match event {
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            } => {
                // `Only` lets fleet peers alone open this protocol.
                let resp = board.pull(&request, now);
                if let PullResponse::Entries { entries, .. } = &resp {
                    tracing::debug!(%peer, entries = entries.len(), "fleet pull answered");
                }
                let _ = net.pull.send_response(channel, resp);
                false
            }
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                let Some(pull) = self.pulls.remove(&request_id) else {
                    return false;
                };
                self.pulled(net, board, &peer, pull, response, now)
            }
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                if self.pulls.remove(&request_id).is_some() {
                    tracing::debug!(%peer, %error, "fleet pull failed");
                    self.done(net, &peer);
                }
                false
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, %error, "fleet pull not answered");
                false
            }
            request_response::Event::ResponseSent { .. } => false,
        }
    }

    /// One page of a pull came back: store it, and ask for the next page while there is one.
    fn pulled(
        &mut self,
        net: &mut Net,
        board: &mut Board,
        peer: &PeerId,
        pull: Pull,
        response: PullResponse,
        now: Instant,
    ) -> bool {
        let Some(label) = self.members.get(peer).map(|m| m.label.clone()) else {
            return false;
        };
        let PullResponse::Entries {
            entries,
            cursor,
            more,
        } = response
        else {
            tracing::debug!(%peer, ?response, "fleet pull refused");
            self.done(net, peer);
            return false;
        };
        let mut stored = 0;
        for entry in entries {
            self.metrics.entry(&label, Via::Pull.label(), "received");
            if self.apply(board, &label, Via::Pull, &pull.namespace, entry, now) == Judged::Stored {
                stored += 1;
            }
        }
        if let Some(m) = self.members.get_mut(peer) {
            let c = m.cursors.entry(pull.namespace.clone()).or_insert(0);
            *c = (*c).max(cursor);
            m.behind += stored;
            self.metrics.behind.get_or_create(&label).set(m.behind);
        }
        if stored > 0 {
            tracing::debug!(%peer, stored, "fleet pull caught up");
        }
        if more && pull.pages < self.max_pull_pages {
            let id = net.pull.send_request(
                peer,
                PullRequest {
                    namespace: pull.namespace.clone(),
                    cursor,
                    limit: MAX_PULL_PAGE,
                },
            );
            self.pulls.insert(
                id,
                Pull {
                    pages: pull.pages + 1,
                    ..pull
                },
            );
        } else {
            self.done(net, peer);
        }
        stored > 0
    }

    /// A pull to `peer` ended: send the next queued one.
    fn done(&mut self, net: &mut Net, peer: &PeerId) {
        if let Some(m) = self.members.get_mut(peer) {
            m.in_flight = m.in_flight.saturating_sub(1);
        }
        self.pump(net, peer);
    }

    /// Leaves the topics of namespaces that have held no entry here for a while; when a
    /// repair is due, pulls every namespace each connected peer has answered for, from its
    /// last cursor: what gossip lost since comes back (usually nothing, and one short page).
    pub fn sweep(&mut self, net: &mut Net, board: &Board, now: Instant) {
        if now >= self.next_repair {
            self.next_repair = now + self.repair_every;
            let due: Vec<(PeerId, String)> = self
                .members
                .iter()
                .filter(|(_, m)| m.link == Link::Up)
                .flat_map(|(p, m)| m.cursors.keys().map(|ns| (*p, ns.clone())))
                .collect();
            for (peer, ns) in due {
                self.enqueue(net, &peer, ns);
            }
        }
        let idle: Vec<String> = self
            .topics
            .iter()
            .filter(|(ns, seen)| {
                !board.registry().has_namespace(ns) && now.duration_since(**seen) >= TOPIC_IDLE
            })
            .map(|(ns, _)| ns.clone())
            .collect();
        for ns in idle {
            self.topics.remove(&ns);
            net.gossip
                .unsubscribe(&IdentTopic::new(wire::topic_of(&ns)));
        }
        for (ns, seen) in &mut self.topics {
            if board.registry().has_namespace(ns) {
                *seen = now;
            }
        }
        self.metrics.topics.set(self.topics.len() as i64);
    }
}

/// What a relay makes of an entry from the fleet, for gossipsub's validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Judged {
    Stored,
    Ignored,
    Invalid,
}

impl FleetMetrics {
    fn entry(&self, label: &FleetPeer, via: &'static str, outcome: &'static str) {
        self.entries
            .get_or_create(&FleetEntry {
                peer: label.peer.clone(),
                via,
                outcome,
            })
            .inc();
    }
}
