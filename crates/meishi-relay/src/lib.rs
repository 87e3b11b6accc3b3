//! The meishi relay: a small public server that lets attendees of an event find each other
//! and swap cards when they are on different networks.
//!
//! It runs a circuit relay v2 server (so peers behind NATs can be reached, and upgrade to a
//! direct connection with DCUtR), a rendezvous server (attendees register under a namespace
//! derived from the event code), the teaser board (sealed teasers, one request per page of
//! attendees), the slot store (sealed card slot records that contacts fetch while their owner
//! is offline), the drop store (sealed messages contacts leave for a person who is offline),
//! identify, ping and an AutoNAT server, over TCP and QUIC. Every store and rate
//! is bounded ([`config::Limits`]); metrics are served as Prometheus text. Slot records and drop
//! messages outlive a restart in a SQLite file when the configuration names one ([`disk`]).
//! Relays listed as one fleet ([`fleet`]) replicate the teaser board among themselves.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use meishi_relay::{Config, Relay};
//!
//! let mut config = Config::default();
//! config.listen = vec!["/ip4/0.0.0.0/tcp/4001".into()];
//! config.external_addresses = vec!["/ip4/203.0.113.7/tcp/4001".into()];
//! config.key_file = Some("/var/lib/meishi-relay/relay.key".into());
//! config.store.path = Some("/var/lib/meishi-relay/relay.db".into());
//! let relay = Relay::spawn(config).await?;
//! for a in relay.listen_addrs() {
//!     println!("{a}/p2p/{}", relay.peer_id());
//! }
//! relay.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! How nodes use it is specified in `proto-spec/relay.md`; operating it in `docs/relay.md`.

pub mod board;
pub mod config;
pub mod disk;
pub mod drops;
pub mod fleet;
mod frame;
pub mod iplimit;
pub mod key;
pub mod metrics;
mod nudge;
pub mod prefix;
pub mod registry;
pub mod rendezvous;
pub mod reservations;
pub mod slots;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::metrics::Recorder;
use libp2p::swarm::{ConnectionId, ListenError, NetworkBehaviour, SwarmEvent};
use libp2p::{
    autonat, connection_limits, identify, noise, ping, relay, request_response, tcp, yamux,
    Multiaddr, PeerId, Swarm, SwarmBuilder,
};
use meishi_limits::RateLimiter;
use prefix::Prefix;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry as PromRegistry;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::{Config, ConfigError, DropLimits, Limits, SlotLimits, StoreConfig};
pub use disk::OpenError;
pub use key::KeyError;

/// Identify protocol version the relay announces.
pub const AGENT: &str = concat!("meishi-relay/", env!("CARGO_PKG_VERSION"));
pub const IDENTIFY_PROTOCOL: &str = "/meishi/relay/1";
/// How often expired registrations, board entries, slot records and drops are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(5);
/// How long [`Relay::spawn`] waits for its listeners to come up.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the relay could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpawnError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Store(#[from] OpenError),
    #[error("cannot build the transport: {0}")]
    Transport(String),
    #[error("cannot listen on {addr}: {reason}")]
    Listen { addr: Multiaddr, reason: String },
    #[error("cannot bind the metrics endpoint {addr}: {source}")]
    Metrics {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot set up fleet replication: {0}")]
    Fleet(#[from] fleet::BuildError),
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    limits: connection_limits::Behaviour,
    relay: reservations::Behaviour,
    rendezvous: request_response::Behaviour<rendezvous::Codec>,
    board: request_response::Behaviour<board::Codec>,
    slots: request_response::Behaviour<slots::Codec>,
    drops: request_response::Behaviour<drops::Codec>,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    autonat: autonat::v2::server::Behaviour,
    /// Board replication, on connections to fleet peers only.
    fleet: fleet::only::Only<fleet::Net>,
    /// Wakes each connection now and then, so that an idle one is closed (see the module).
    nudge: nudge::Behaviour,
    // Last: counts only connections every other behaviour accepted.
    per_ip: iplimit::Behaviour,
}

/// A reservation or circuit rate limiter: a token bucket per `key` (none: not limited) that
/// counts its refusals on `refused`.
fn limiter<K: Hash + Eq + Clone + Send + 'static>(
    rate: config::Rate,
    max_keys: usize,
    key: impl Fn(PeerId, &Multiaddr) -> Option<K> + Send + 'static,
    refused: Counter,
) -> Box<dyn relay::RateLimiter> {
    let (burst, interval) = rate.parts();
    let mut buckets = RateLimiter::new(burst.get(), interval, max_keys);
    Box::new(move |peer, addr: &Multiaddr, now: Instant| {
        let Some(k) = key(peer, addr) else {
            return true;
        };
        let allowed = buckets.allow(&k, now);
        if !allowed {
            refused.inc();
        }
        allowed
    })
}

/// The host of a connection's remote address. proto-spec/relay.md#limits
fn host_of(addr: &Multiaddr) -> Option<Prefix> {
    iplimit::ip_of(addr).map(prefix::host)
}

fn relay_config(l: &Limits, m: &metrics::RelayMetrics) -> relay::Config {
    let refused = |service, cap| m.refusal(service, cap);
    // Buckets are kept for at most as many keys as there are connections: each key has one.
    let keys = l.max_connections as usize;
    let by_peer = |p: PeerId, _: &Multiaddr| Some(p);
    let by_host = |_: PeerId, a: &Multiaddr| host_of(a);
    // libp2p-relay 0.22 denies a peer's new reservation (circuit) only when it already holds
    // MORE than the configured number, so it allows one more than configured. Our limits mean
    // "at most N": pass N - 1 (validation keeps N >= 1). Its own rate limiters count exact
    // IP addresses, so the relay brings its own, keyed by host (an IPv6 /64 is one host).
    relay::Config {
        max_reservations: l.max_reservations,
        max_reservations_per_peer: l.max_reservations_per_peer.saturating_sub(1),
        reservation_duration: Duration::from_secs(l.reservation_duration_secs),
        reservation_rate_limiters: vec![
            limiter(
                l.reservation_rate_per_peer,
                keys,
                by_peer,
                refused("reservations", "rate_per_peer"),
            ),
            limiter(
                l.reservation_rate_per_ip,
                keys,
                by_host,
                refused("reservations", "rate_per_ip"),
            ),
        ],
        max_circuits: l.max_circuits,
        max_circuits_per_peer: l.max_circuits_per_peer.saturating_sub(1),
        max_circuit_duration: Duration::from_secs(l.max_circuit_duration_secs),
        max_circuit_bytes: l.max_circuit_bytes,
        circuit_src_rate_limiters: vec![
            limiter(
                l.circuit_rate_per_peer,
                keys,
                by_peer,
                refused("circuits", "rate_per_peer"),
            ),
            limiter(
                l.circuit_rate_per_ip,
                keys,
                by_host,
                refused("circuits", "rate_per_ip"),
            ),
        ],
    }
}

fn build_swarm(
    keypair: libp2p::identity::Keypair,
    l: &Limits,
    m: &metrics::RelayMetrics,
    fleet_members: HashSet<PeerId>,
    max_topics: usize,
) -> Result<Swarm<Behaviour>, SpawnError> {
    let malformed = |service| {
        m.requests
            .get_or_create(&metrics::Outcome {
                service,
                outcome: "malformed",
            })
            .clone()
    };
    let refused = |service, cap| m.refusal(service, cap);
    let t = |e: &dyn std::fmt::Display| SpawnError::Transport(e.to_string());
    let rr = request_response::Config::default()
        .with_request_timeout(Duration::from_secs(10))
        .with_max_concurrent_streams(l.max_streams_per_connection);
    let fleet_net = fleet::Net::new(&keypair, max_topics, malformed("fleet"), rr.clone())?;
    let swarm = SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| t(&e))?
        .with_quic()
        .with_behaviour(|key| {
            let id = key.public().to_peer_id();
            Behaviour {
                limits: connection_limits::Behaviour::new(
                    connection_limits::ConnectionLimits::default()
                        .with_max_established(Some(l.max_connections))
                        .with_max_established_per_peer(Some(l.max_connections_per_peer))
                        .with_max_pending_incoming(Some(l.max_pending_incoming)),
                ),
                relay: reservations::Behaviour::new(
                    id,
                    relay_config(l, m),
                    reservations::Caps {
                        per_host: l.max_reservations_per_host,
                        site_share: l.reservation_site_share,
                        total: l.max_reservations,
                    },
                    reservations::Refusals {
                        per_host: refused("reservations", "reservations_per_host"),
                        site_share: refused("reservations", "reservation_site_share"),
                    },
                ),
                rendezvous: request_response::Behaviour::with_codec(
                    rendezvous::Codec::with_counter(malformed("rendezvous")),
                    [(
                        rendezvous::PROTOCOL,
                        request_response::ProtocolSupport::Inbound,
                    )],
                    rr.clone(),
                ),
                board: request_response::Behaviour::with_codec(
                    board::Codec::with_counter(malformed("board")),
                    [(board::PROTOCOL, request_response::ProtocolSupport::Inbound)],
                    rr.clone(),
                ),
                slots: request_response::Behaviour::with_codec(
                    slots::Codec::with_counter(malformed("slots")),
                    [(slots::PROTOCOL, request_response::ProtocolSupport::Inbound)],
                    rr.clone(),
                ),
                drops: request_response::Behaviour::with_codec(
                    drops::Codec::with_counter(malformed("drops")),
                    [(drops::PROTOCOL, request_response::ProtocolSupport::Inbound)],
                    rr,
                ),
                identify: identify::Behaviour::new(
                    identify::Config::new(IDENTIFY_PROTOCOL.into(), key.public())
                        .with_agent_version(AGENT.into()),
                ),
                ping: ping::Behaviour::new(
                    ping::Config::new().with_interval(Duration::from_secs(l.ping_interval_secs)),
                ),
                autonat: autonat::v2::server::Behaviour::default(),
                nudge: nudge::Behaviour::new(fleet_members.clone()),
                fleet: fleet::only::Only::new(fleet_members, fleet_net),
                per_ip: iplimit::Behaviour::new(
                    l.max_connections_per_ip,
                    l.max_connections_per_site,
                ),
            }
        })
        .map_err(|e| t(&e))?
        .with_swarm_config(|c| {
            c.with_idle_connection_timeout(Duration::from_secs(l.idle_timeout_secs))
        })
        .build();
    Ok(swarm)
}

/// Starts relays.
pub struct Relay;

impl Relay {
    /// Validates `config`, loads (or creates) the key, opens the store and loads what it keeps
    /// (refusing a damaged one), listens, and runs the relay on the current tokio runtime until
    /// [`RelayHandle::shutdown`] or the handle is dropped.
    /// Returns once every listen address is bound, so [`RelayHandle::listen_addrs`] holds the
    /// actual ports.
    pub async fn spawn(config: Config) -> Result<RelayHandle, SpawnError> {
        config.validate()?;
        let keypair = match &config.key_file {
            Some(p) => key::load_or_create(p)?,
            None => libp2p::identity::Keypair::generate_ed25519(),
        };
        let peer_id = keypair.public().to_peer_id();
        let l = config.limits.clone();

        let mut registry = PromRegistry::default();
        let p2p_metrics = libp2p::metrics::Metrics::new(&mut registry);
        let relay_metrics = metrics::RelayMetrics::register(&mut registry);
        let registry = Arc::new(Mutex::new(registry));

        // Before listening: a store that cannot be read stops the start, with its path.
        // Loading reads the whole file (up to ~1.3 GB with the default caps) on this thread.
        let (slots, drops) = match config.store_path() {
            Some(path) => {
                let disk =
                    disk::Disk::open(path)?.count_failures_on(relay_metrics.store_errors.clone());
                let now = unix_now();
                let slots = slots::Slots::load(l.slots.caps(), disk.clone(), now)?;
                let drops = drops::Drops::load(l.drops.caps(), disk, now)?;
                tracing::info!(
                    path = %path.display(),
                    slots = slots.len(),
                    drops = drops.len(),
                    "store loaded"
                );
                (slots, drops)
            }
            None => (
                slots::Slots::new(l.slots.caps()),
                drops::Drops::new(l.drops.caps()),
            ),
        };
        let fleet_peers = config.fleet_peers()?;
        let mut fleet = fleet::Fleet::new(
            peer_id,
            fleet_peers,
            config.fleet.max_topics,
            l.board.max_per_namespace,
            Duration::from_secs(config.fleet.repair_secs),
            relay_metrics.fleet.clone(),
            Instant::now(),
        );
        let mut swarm = build_swarm(
            keypair,
            &l,
            &relay_metrics,
            fleet.members(),
            config.fleet.max_topics,
        )?;
        fleet.start(swarm.behaviour_mut().fleet.inner_mut());

        let mut pending = Vec::new();
        for addr in config.listen_addrs()? {
            let id = swarm
                .listen_on(addr.clone())
                .map_err(|e| SpawnError::Listen {
                    addr: addr.clone(),
                    reason: e.to_string(),
                })?;
            pending.push((id, addr));
        }
        // The relay serves reservations only with a confirmed external address.
        for addr in config.external_addrs()? {
            swarm.add_external_address(addr);
        }
        let mut listen_addrs = Vec::new();
        let deadline = tokio::time::Instant::now() + LISTEN_TIMEOUT;
        while !pending.is_empty() {
            let ev = tokio::time::timeout_at(deadline, swarm.select_next_some()).await;
            match ev {
                Ok(SwarmEvent::NewListenAddr {
                    listener_id,
                    address,
                }) => {
                    pending.retain(|(id, _)| *id != listener_id);
                    listen_addrs.push(address);
                }
                Ok(SwarmEvent::ListenerClosed {
                    listener_id,
                    reason,
                    ..
                }) => {
                    if let Some((_, addr)) = pending.iter().find(|(id, _)| *id == listener_id) {
                        return Err(SpawnError::Listen {
                            addr: addr.clone(),
                            reason: match reason {
                                Ok(()) => "closed".into(),
                                Err(e) => e.to_string(),
                            },
                        });
                    }
                }
                Ok(SwarmEvent::ListenerError { listener_id, error }) => {
                    if let Some((_, addr)) = pending.iter().find(|(id, _)| *id == listener_id) {
                        return Err(SpawnError::Listen {
                            addr: addr.clone(),
                            reason: error.to_string(),
                        });
                    }
                }
                Ok(_) => {}
                Err(_) => {
                    let addr = pending
                        .first()
                        .map(|(_, a)| a.clone())
                        .unwrap_or_else(Multiaddr::empty);
                    return Err(SpawnError::Listen {
                        addr,
                        reason: "timed out waiting for the listener".into(),
                    });
                }
            }
        }

        let (metrics_stop, metrics_addr) = match config.metrics {
            Some(addr) => {
                let listener = metrics::bind(addr)
                    .await
                    .map_err(|source| SpawnError::Metrics { addr, source })?;
                let bound = listener
                    .local_addr()
                    .map_err(|source| SpawnError::Metrics { addr, source })?;
                let (tx, rx) = oneshot::channel();
                tokio::spawn(metrics::serve(listener, registry.clone(), rx));
                (Some(tx), Some(bound))
            }
            None => (None, None),
        };

        // Sequence numbers (board cursors, rendezvous cookies) start from the clock so that
        // they keep increasing across restarts. proto-spec/relay.md#teaser-board
        let first_seq = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX / 2));
        let (stop_tx, stop_rx) = oneshot::channel();
        let event_loop = EventLoop {
            swarm,
            rendezvous: rendezvous::Server::new(
                registry::Registry::with_first_seq(l.rendezvous.caps(), first_seq),
                rendezvous::Limits {
                    max_discover: l.max_discover,
                },
            ),
            board: board::Board::new(registry::Registry::with_first_seq(
                l.board.caps(),
                first_seq,
            )),
            slots,
            drops,
            fleet,
            // A bucket outlives connections (reconnecting does not refill it); it is forgotten
            // once it is full again, so each key needs a live connection.
            requests_by_peer: RateLimiter::new(
                l.request_rate_per_peer.burst,
                Duration::from_millis(l.request_rate_per_peer.interval_ms),
                l.max_connections as usize,
            ),
            requests_by_host: RateLimiter::new(
                l.request_rate_per_host.burst,
                Duration::from_millis(l.request_rate_per_host.interval_ms),
                l.max_connections as usize,
            ),
            p2p_metrics,
            metrics: relay_metrics,
            circuits: 0,
            circuits_of: HashMap::new(),
            max_reservations: l.max_reservations,
            max_reservations_per_peer: l.max_reservations_per_peer,
            max_circuits: l.max_circuits,
            max_circuits_per_peer: l.max_circuits_per_peer,
            conn_ip: HashMap::new(),
            grace: Duration::from_millis(l.disconnect_grace_ms),
            departing: HashMap::new(),
            reserving: HashSet::new(),
            departures: BTreeSet::new(),
        };
        let task = tokio::spawn(event_loop.run(stop_rx, metrics_stop));
        Ok(RelayHandle {
            peer_id,
            listen_addrs,
            metrics_addr,
            registry,
            stop: Some(stop_tx),
            task: Some(task),
        })
    }
}

/// A running relay. Dropping it stops the relay too (without waiting).
pub struct RelayHandle {
    peer_id: PeerId,
    listen_addrs: Vec<Multiaddr>,
    metrics_addr: Option<SocketAddr>,
    registry: Arc<Mutex<PromRegistry>>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl RelayHandle {
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// The bound listen addresses (ports resolved), without `/p2p/<peer id>`.
    pub fn listen_addrs(&self) -> &[Multiaddr] {
        &self.listen_addrs
    }

    /// Where the metrics endpoint listens, if enabled.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The Prometheus registry holding every metric of this relay.
    pub fn metrics_registry(&self) -> Arc<Mutex<PromRegistry>> {
        self.registry.clone()
    }

    /// The metrics as Prometheus text, as `GET /metrics` serves them.
    pub fn metrics_text(&self) -> String {
        metrics::render(&self.registry)
    }

    /// The value of one metric line of [`RelayHandle::metrics_text`], named with its labels
    /// (`meishi_relay_requests_total{service="board",outcome="stored"}`), if the relay has it.
    pub fn metric(&self, line: &str) -> Option<f64> {
        self.metrics_text()
            .lines()
            .find_map(|l| l.strip_prefix(line).and_then(|v| v.strip_prefix(' ')))
            .and_then(|v| v.trim().parse().ok())
    }

    /// Stops the relay and waits for its event loop to end. Cancel-safe: dropping the future
    /// still stops the relay.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Resolves when the relay's event loop has ended (it only ends on shutdown).
    pub async fn wait(&mut self) {
        if let Some(task) = self.task.as_mut() {
            let _ = task.await;
            self.task = None;
        }
    }
}

impl Drop for RelayHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

struct EventLoop {
    swarm: Swarm<Behaviour>,
    rendezvous: rendezvous::Server,
    board: board::Board,
    /// Slot records: not tied to connections (contacts read them while the owner is offline).
    slots: slots::Slots,
    /// Sealed messages waiting for their recipients: not tied to connections either.
    drops: drops::Drops,
    /// The other relays of the fleet, which hold the board with this one.
    fleet: fleet::Fleet,
    /// Rendezvous, board, slot and drop requests per peer and per host: a full board page is
    /// ~280 KB for a ~90-byte request, so an unthrottled peer could use the relay to flood, and
    /// per peer alone fresh peer ids would buy more.
    requests_by_peer: RateLimiter<PeerId>,
    requests_by_host: RateLimiter<Prefix>,
    p2p_metrics: libp2p::metrics::Metrics,
    metrics: metrics::RelayMetrics,
    circuits: i64,
    /// Circuits each peer is an end of, to tell which of libp2p's caps denied a request;
    /// at most `2 * max_circuits` peers. (Reservations are counted by `reservations`.)
    circuits_of: HashMap<PeerId, usize>,
    max_reservations: usize,
    max_reservations_per_peer: usize,
    max_circuits: usize,
    max_circuits_per_peer: usize,
    /// Remote IP address of each open connection, for the per-host store caps.
    conn_ip: HashMap<ConnectionId, IpAddr>,
    /// How long a peer's entries outlive its last connection.
    grace: Duration,
    /// Peers without a connection that still hold entries, and when those go; a peer is here
    /// only while it holds an entry, so this is bounded by the stores' caps.
    departing: HashMap<PeerId, Instant>,
    /// Peers that held a reservation here since they connected: when their last connection
    /// closes, their circuit address here is dead. A node of a sharded fleet posts its teaser
    /// to relays it holds no reservation on and lets those connections close when idle; its
    /// entries there stay until their TTL (proto-spec/relay.md#sharding).
    reserving: HashSet<PeerId>,
    departures: BTreeSet<(Instant, PeerId)>,
}

/// The relay's clock in Unix seconds, which slot records' `expires_at` is compared with.
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The relay's clock in Unix microseconds, which stamps board entries (proto-spec/relay.md#fleets).
fn unix_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

fn count(m: &metrics::RelayMetrics, service: &'static str, outcome: &'static str) {
    m.requests
        .get_or_create(&metrics::Outcome { service, outcome })
        .inc();
}

impl EventLoop {
    async fn run(
        mut self,
        mut stop: oneshot::Receiver<()>,
        metrics_stop: Option<oneshot::Sender<()>>,
    ) {
        let mut sweep = tokio::time::interval(SWEEP_EVERY);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let next = self.departures.first().map(|(at, _)| *at);
            let departure = tokio::time::sleep_until(tokio::time::Instant::from_std(
                next.unwrap_or_else(Instant::now),
            ));
            let dial = self.fleet.next_dial();
            let redial = tokio::time::sleep_until(tokio::time::Instant::from_std(
                dial.unwrap_or_else(Instant::now),
            ));
            tokio::select! {
                _ = &mut stop => break,
                _ = sweep.tick() => self.sweep(),
                _ = departure, if next.is_some() => self.depart(Instant::now()),
                _ = redial, if dial.is_some() => self.dial_fleet(Instant::now()),
                ev = self.swarm.select_next_some() => self.on_event(ev),
            }
        }
        if let Some(tx) = metrics_stop {
            let _ = tx.send(());
        }
        tracing::info!("relay stopped");
    }

    /// Dials the fleet peers that are due.
    fn dial_fleet(&mut self, now: Instant) {
        for (peer, opts) in self.fleet.dials(now) {
            if let Err(e) = self.swarm.dial(opts) {
                tracing::debug!(%peer, error = %e, "cannot dial fleet peer");
                let up = self.swarm.is_connected(&peer);
                self.fleet.dial_failed(&peer, up, now);
            }
        }
    }

    /// Schedules the removal of `peer`'s entries: its last connection closed.
    fn departed(&mut self, peer: PeerId, now: Instant) {
        if !self.board.registry().holds(&peer) && !self.rendezvous.registry().holds(&peer) {
            return;
        }
        let at = now + self.grace;
        if let Some(old) = self.departing.insert(peer, at) {
            self.departures.remove(&(old, peer));
        }
        self.departures.insert((at, peer));
    }

    /// `peer` connected again: it keeps its entries.
    fn returned(&mut self, peer: &PeerId) {
        if let Some(at) = self.departing.remove(peer) {
            self.departures.remove(&(at, *peer));
        }
    }

    /// Drops the entries of every peer whose grace period is over: its circuit address is dead,
    /// so listing it would only send others to a peer that is gone.
    fn depart(&mut self, now: Instant) {
        while let Some(&(at, peer)) = self.departures.first() {
            if at > now {
                break;
            }
            self.departures.remove(&(at, peer));
            self.departing.remove(&peer);
            // Its entries go from the whole fleet: the other relays list it too (it posted to
            // all of them), and none of them can tell it left. A node still alive elsewhere
            // posts again when it is back on a home relay, and every 150 s.
            let gone = self.board.depart(&peer, now, unix_micros());
            let net = self.swarm.behaviour_mut().fleet.inner_mut();
            for ns in &gone {
                self.fleet.removed(net, &self.board, ns, &peer, now);
            }
            let b = gone.len() + self.board.forget(&peer);
            let r = self.rendezvous.forget(&peer);
            tracing::debug!(%peer, registrations = r, board_entries = b, "gone");
        }
        self.update_gauges();
    }

    fn sweep(&mut self) {
        let now = Instant::now();
        self.depart(now);
        let r = self.rendezvous.expire(now);
        let b = self.board.expire(now);
        let s = self.slots.expire(unix_now());
        let d = self.drops.expire(unix_now());
        self.fleet.sweep(
            self.swarm.behaviour_mut().fleet.inner_mut(),
            &self.board,
            now,
        );
        if r + b + s + d > 0 {
            tracing::debug!(
                registrations = r,
                board_entries = b,
                slots = s,
                drops = d,
                "expired"
            );
        }
        self.update_gauges();
    }

    fn update_gauges(&self) {
        let reg = self.rendezvous.registry();
        self.metrics.registrations.set(reg.len() as i64);
        self.metrics.namespaces.set(reg.namespace_count() as i64);
        self.metrics
            .board_entries
            .set(self.board.registry().len() as i64);
        self.metrics
            .slots
            .set(i64::try_from(self.slots.len()).unwrap_or(i64::MAX));
        self.metrics
            .drops
            .set(i64::try_from(self.drops.len()).unwrap_or(i64::MAX));
        let reservations = self.swarm.behaviour().relay.held();
        self.metrics
            .reservations
            .set(i64::try_from(reservations).unwrap_or(i64::MAX));
        self.metrics.circuits.set(self.circuits.max(0));
    }

    fn on_event(&mut self, ev: SwarmEvent<BehaviourEvent>) {
        self.p2p_metrics.record(&ev);
        match ev {
            SwarmEvent::Behaviour(BehaviourEvent::Relay(e)) => self.on_relay(e),
            SwarmEvent::Behaviour(BehaviourEvent::Rendezvous(e)) => self.on_rendezvous(e),
            SwarmEvent::Behaviour(BehaviourEvent::Board(e)) => self.on_board(e),
            SwarmEvent::Behaviour(BehaviourEvent::Slots(e)) => self.on_slots(e),
            SwarmEvent::Behaviour(BehaviourEvent::Drops(e)) => self.on_drops(e),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(e)) => self.p2p_metrics.record(&e),
            SwarmEvent::Behaviour(BehaviourEvent::Ping(e)) => self.p2p_metrics.record(&e),
            SwarmEvent::Behaviour(BehaviourEvent::Autonat(e)) => {
                tracing::debug!(client = %e.client, addr = %e.tested_addr, ok = e.result.is_ok(), "autonat test");
            }
            SwarmEvent::Behaviour(BehaviourEvent::Fleet(e)) => {
                if let fleet::NetEvent::Gossip(g) = &e {
                    self.p2p_metrics.record(g);
                }
                let changed = self.fleet.on_net(
                    self.swarm.behaviour_mut().fleet.inner_mut(),
                    &mut self.board,
                    e,
                    Instant::now(),
                    unix_micros(),
                );
                if changed {
                    self.update_gauges();
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::PerIp(never)) => match never {},
            SwarmEvent::Behaviour(BehaviourEvent::Limits(never)) => match never {},
            SwarmEvent::IncomingConnectionError {
                send_back_addr,
                error,
                ..
            } => {
                self.metrics.connections_denied.inc();
                if let ListenError::Denied { cause } = &error {
                    if let Some(e) = cause.downcast_ref::<iplimit::PerIpExceeded>() {
                        self.metrics.refused("connections", e.cap());
                    } else if cause
                        .downcast_ref::<connection_limits::Exceeded>()
                        .is_some()
                    {
                        self.metrics.refused("connections", "connection_limits");
                    }
                }
                tracing::debug!(%send_back_addr, %error, "inbound connection refused");
            }
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "listening");
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                ..
            } => {
                self.returned(&peer_id);
                self.fleet.connected(&peer_id);
                if let Some(ip) = iplimit::ip_of(endpoint.get_remote_address()) {
                    self.conn_ip.insert(connection_id, ip);
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                num_established,
                ..
            } => {
                self.conn_ip.remove(&connection_id);
                if num_established == 0 {
                    // A node that went away is no longer listed once the grace is over; one
                    // that only lost its connection comes back within it and keeps its place.
                    // Its request buckets stay: reconnecting does not refill them.
                    if self.reserving.remove(&peer_id) {
                        self.departed(peer_id, Instant::now());
                    }
                    self.fleet.disconnected(&peer_id, Instant::now());
                }
            }
            SwarmEvent::OutgoingConnectionError {
                peer_id: Some(peer),
                error,
                ..
            } => {
                let up = self.swarm.is_connected(&peer);
                tracing::debug!(%peer, %error, "dial failed");
                self.fleet.dial_failed(&peer, up, Instant::now());
            }
            _ => {}
        }
    }

    #[allow(
        deprecated,
        reason = "the relay still emits the deprecated failure variants"
    )]
    fn on_relay(&mut self, e: relay::Event) {
        self.p2p_metrics.record(&e);
        match &e {
            relay::Event::ReservationReqAccepted {
                src_peer_id,
                renewed,
            } => {
                tracing::debug!(peer = %src_peer_id, renewed, "reservation accepted");
                self.reserving.insert(*src_peer_id);
            }
            relay::Event::ReservationReqDenied {
                src_peer_id,
                status,
            } => {
                // libp2p checks the peer's cap, then the total, then the rate limiters and the
                // per-host and per-site caps (which count their own refusals).
                let relay = &self.swarm.behaviour().relay;
                if relay.held_by(src_peer_id) >= self.max_reservations_per_peer {
                    self.metrics.refused("reservations", "per_peer");
                } else if relay.held() >= self.max_reservations {
                    self.metrics.refused("reservations", "total");
                }
                tracing::info!(peer = %src_peer_id, ?status, "reservation denied");
            }
            // Counted by `reservations` per connection: libp2p reports `ReservationClosed`
            // for every closed connection, reserved or not.
            relay::Event::ReservationClosed { .. } | relay::Event::ReservationTimedOut { .. } => {}
            relay::Event::CircuitReqAccepted {
                src_peer_id,
                dst_peer_id,
            } => {
                self.circuits += 1;
                for p in [src_peer_id, dst_peer_id] {
                    *self.circuits_of.entry(*p).or_default() += 1;
                }
                tracing::debug!(src = %src_peer_id, dst = %dst_peer_id, "circuit opened");
            }
            relay::Event::CircuitReqDenied {
                src_peer_id,
                dst_peer_id,
                status,
            } => {
                if matches!(status, relay::StatusCode::ResourceLimitExceeded) {
                    let held = self.circuits_of.get(src_peer_id).copied().unwrap_or(0);
                    if held >= self.max_circuits_per_peer {
                        self.metrics.refused("circuits", "per_peer");
                    } else if usize::try_from(self.circuits).unwrap_or(0) >= self.max_circuits {
                        self.metrics.refused("circuits", "total");
                    }
                }
                tracing::info!(src = %src_peer_id, dst = %dst_peer_id, ?status, "circuit denied");
            }
            relay::Event::CircuitClosed {
                src_peer_id,
                dst_peer_id,
                ..
            } => {
                self.circuits -= 1;
                for p in [src_peer_id, dst_peer_id] {
                    if let Some(n) = self.circuits_of.get_mut(p) {
                        *n = n.saturating_sub(1);
                        if *n == 0 {
                            self.circuits_of.remove(p);
                        }
                    }
                }
            }
            _ => {}
        }
        self.update_gauges();
    }

    /// Takes a token from the request buckets of `peer` and of the host behind `connection`;
    /// the cap that refused, if one did.
    /// Whether a request of `service` from `peer` on `connection` is within the request
    /// rates (per peer, then per host); a refusal is counted as `rate_limited` and by its cap.
    fn allow_request(
        &mut self,
        service: &'static str,
        peer: PeerId,
        connection: ConnectionId,
        now: Instant,
    ) -> bool {
        let cap = if !self.requests_by_peer.allow(&peer, now) {
            "request_rate_per_peer"
        } else {
            let host = self.conn_ip.get(&connection).map(|ip| prefix::host(*ip));
            match host {
                Some(h) if !self.requests_by_host.allow(&h, now) => "request_rate_per_host",
                _ => return true,
            }
        };
        count(&self.metrics, service, "rate_limited");
        self.metrics.refused(service, cap);
        false
    }

    fn on_rendezvous(&mut self, e: request_response::Event<rendezvous::Request, Vec<u8>>) {
        match e {
            request_response::Event::Message {
                peer,
                connection_id,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
            } => {
                let ip = self.conn_ip.get(&connection_id).copied();
                let now = Instant::now();
                if !self.allow_request("rendezvous", peer, connection_id, now) {
                    let resp = match request {
                        rendezvous::Request::Register { .. } => Some(
                            rendezvous::register_response(rendezvous::Status::Unavailable, None),
                        ),
                        rendezvous::Request::Discover { .. } => {
                            Some(rendezvous::discover_response(
                                rendezvous::Status::Unavailable,
                                &[],
                                None,
                            ))
                        }
                        rendezvous::Request::Unregister { .. } => None,
                    };
                    if let Some(resp) = resp {
                        let _ = self
                            .swarm
                            .behaviour_mut()
                            .rendezvous
                            .send_response(channel, resp);
                    }
                    return;
                }
                let (outcome, resp) = self.rendezvous.handle(peer, ip, request, now);
                let label = match outcome {
                    rendezvous::Outcome::Registered => "registered",
                    rendezvous::Outcome::Unregistered => "unregistered",
                    rendezvous::Outcome::Discovered(_) => "discovered",
                    rendezvous::Outcome::Refused(_) => "refused",
                    rendezvous::Outcome::Full(r) => {
                        self.metrics.refused("rendezvous", r.cap());
                        "refused"
                    }
                };
                count(&self.metrics, "rendezvous", label);
                tracing::debug!(%peer, ?outcome, "rendezvous");
                if let Some(resp) = resp {
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .rendezvous
                        .send_response(channel, resp);
                }
                self.update_gauges();
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                count(&self.metrics, "rendezvous", "failed");
                tracing::debug!(%peer, %error, "rendezvous request failed");
            }
            _ => {}
        }
    }

    fn on_board(
        &mut self,
        e: request_response::Event<meishi_event::BoardRequest, meishi_event::BoardResponse>,
    ) {
        match e {
            request_response::Event::Message {
                peer,
                connection_id,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
            } => {
                let ip = self.conn_ip.get(&connection_id).copied();
                let now = Instant::now();
                if !self.allow_request("board", peer, connection_id, now) {
                    let resp = meishi_event::BoardResponse::Error(
                        meishi_event::BoardErrorCode::RateLimited,
                    );
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .board
                        .send_response(channel, resp);
                    return;
                }
                let written = match &request {
                    meishi_event::BoardRequest::Put { namespace, .. }
                    | meishi_event::BoardRequest::Remove { namespace } => Some(namespace.clone()),
                    meishi_event::BoardRequest::Get { .. } => None,
                };
                let (outcome, resp) = self.board.handle(peer, ip, request, now, unix_micros());
                let home = outcome == board::Outcome::Refreshed
                    && self.swarm.behaviour().relay.held_by(&peer) > 0;
                // Both kinds of write go to the fleet (proto-spec/relay.md#replication).
                let net = self.swarm.behaviour_mut().fleet.inner_mut();
                match (outcome, written) {
                    (board::Outcome::Stored, Some(ns)) => {
                        self.fleet.stored(net, &self.board, &ns, &peer, now);
                    }
                    // A refresh reaches every relay from the node itself; only its home
                    // relays (those holding its reservation) copy it too, for one the node
                    // could not reach (proto-spec/relay.md#replication).
                    (board::Outcome::Refreshed, Some(ns)) if home => {
                        self.fleet.stored(net, &self.board, &ns, &peer, now);
                    }
                    (board::Outcome::Removed, Some(ns)) => {
                        self.fleet.removed(net, &self.board, &ns, &peer, now);
                    }
                    _ => {}
                }
                let label = match outcome {
                    board::Outcome::Stored => "stored",
                    board::Outcome::Refreshed => "refreshed",
                    board::Outcome::Removed => "removed",
                    board::Outcome::Listed(_) => "listed",
                    board::Outcome::Refused(_) => "refused",
                    board::Outcome::Full(r) => {
                        self.metrics.refused("board", r.cap());
                        "refused"
                    }
                };
                count(&self.metrics, "board", label);
                tracing::debug!(%peer, ?outcome, "teaser board");
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .board
                    .send_response(channel, resp);
                self.update_gauges();
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                count(&self.metrics, "board", "failed");
                tracing::debug!(%peer, %error, "board request failed");
            }
            _ => {}
        }
    }

    fn on_slots(
        &mut self,
        e: request_response::Event<meishi_event::SlotRequest, meishi_event::SlotResponse>,
    ) {
        match e {
            request_response::Event::Message {
                peer,
                connection_id,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
            } => {
                let resp = if !self.allow_request("slots", peer, connection_id, Instant::now()) {
                    meishi_event::SlotResponse::Refused(meishi_event::SlotRefusal::RateLimited)
                } else {
                    // The store is given the writer's address (to charge its host), never its
                    // peer id.
                    let ip = self.conn_ip.get(&connection_id).copied();
                    let (outcome, resp) = self.slots.handle(ip, request, unix_now());
                    let label = match outcome {
                        slots::Outcome::Stored(slots::Stored::New) => "stored",
                        slots::Outcome::Stored(slots::Stored::Replaced) => "replaced",
                        slots::Outcome::Stored(slots::Stored::Same) => "same",
                        slots::Outcome::Listed(_) => "listed",
                        slots::Outcome::Refused(r) => {
                            if let Some(cap) = r.cap() {
                                self.metrics.refused("slots", cap);
                            }
                            "refused"
                        }
                    };
                    count(&self.metrics, "slots", label);
                    tracing::debug!(?outcome, "slots");
                    self.update_gauges();
                    resp
                };
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .slots
                    .send_response(channel, resp);
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                count(&self.metrics, "slots", "failed");
                tracing::debug!(%peer, %error, "slot request failed");
            }
            _ => {}
        }
    }

    fn on_drops(
        &mut self,
        e: request_response::Event<meishi_event::DropRequest, meishi_event::DropResponse>,
    ) {
        match e {
            request_response::Event::Message {
                peer,
                connection_id,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
            } => {
                let resp = if !self.allow_request("drops", peer, connection_id, Instant::now()) {
                    meishi_event::DropResponse::Refused(meishi_event::DropRefusal::RateLimited)
                } else {
                    // The store is given the sender's address (to charge its host), never its
                    // peer id.
                    let ip = self.conn_ip.get(&connection_id).copied();
                    let (outcome, resp) = self.drops.handle(ip, request, unix_now());
                    let label = match outcome {
                        drops::Outcome::Stored(drops::Stored::New) => "stored",
                        drops::Outcome::Stored(drops::Stored::Same) => "same",
                        drops::Outcome::Listed { .. } => "listed",
                        drops::Outcome::Acked(_) => "acked",
                        drops::Outcome::Refused(r) => {
                            if let Some(cap) = r.cap() {
                                self.metrics.refused("drops", cap);
                            }
                            "refused"
                        }
                    };
                    count(&self.metrics, "drops", label);
                    tracing::debug!(?outcome, "drops");
                    self.update_gauges();
                    resp
                };
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .drops
                    .send_response(channel, resp);
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                count(&self.metrics, "drops", "failed");
                tracing::debug!(%peer, %error, "drop request failed");
            }
            _ => {}
        }
    }
}
