//! Prometheus metrics: libp2p's own (relay, identify, ping, swarm) and the relay's
//! (registrations, board entries, refusals), served as text on `GET /metrics`.
//!
//! The HTTP responder is deliberately tiny: it reads at most [`MAX_REQUEST_HEAD`] bytes of
//! request head within [`REQUEST_TIMEOUT`], answers `GET /metrics` and nothing else, serves at
//! most [`MAX_CONCURRENT`] clients at once, and closes every connection after one response.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, Semaphore};

pub const MAX_REQUEST_HEAD: usize = 4096;
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
pub const MAX_CONCURRENT: usize = 16;

/// Label set of the request counters: which service and what came of it.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Outcome {
    pub service: &'static str,
    pub outcome: &'static str,
}

/// Label set of the refusal counters: which service and which cap refused.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Cap {
    /// `rendezvous`, `board`, `slots`, `drops`, `requests`, `connections`, `reservations` or `circuits`.
    pub service: &'static str,
    /// The cap, named as in `Limits` (`per_host`, `site_share_namespace`, `rate_per_ip`, ...).
    pub cap: &'static str,
}

/// Label set of the per fleet peer metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FleetPeer {
    /// The fleet peer's id, as configured.
    pub peer: String,
}

/// Label set of the fleet's entry counters: from which fleet peer, how, and what came of it.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FleetEntry {
    pub peer: String,
    /// `gossip` (replicated as it was written) or `pull` (caught up).
    pub via: &'static str,
    /// `received`, then one of `applied` (stored), `stale` (not newer than what was held),
    /// `refused` (a board cap) or `rejected` (invalid).
    pub outcome: &'static str,
}

/// Label set of the publish counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Published {
    /// `sent`, `no_peers` (no fleet peer on the topic yet: catch-up brings it to them),
    /// `duplicate` or `failed`.
    pub outcome: &'static str,
}

/// Metrics of board replication among the relays of a fleet (`meishi_relay_fleet_*`).
#[derive(Clone)]
pub struct FleetMetrics {
    /// 1 while a connection to the fleet peer is up.
    pub connected: Family<FleetPeer, Gauge>,
    /// Entries from fleet peers, by peer, way and outcome.
    pub entries: Family<FleetEntry, Counter>,
    /// From an entry's store on its origin to its store here, for entries replicated by
    /// gossip (relays' clocks are assumed in sync).
    pub lag: Family<FleetPeer, Histogram>,
    /// Entries the catch-up pulls from the peer stored here since the connection came up:
    /// how far behind this relay was.
    pub behind: Family<FleetPeer, Gauge>,
    /// Client writes published to the fleet, by outcome.
    pub publishes: Family<Published, Counter>,
    /// Namespaces replicated (gossipsub topics subscribed to).
    pub topics: Gauge,
    /// Namespaces not replicated because the topic cap was reached.
    pub topics_refused: Counter,
    /// Gossipsub messages forwarded by a peer outside the fleet (rejected).
    pub strangers: Counter,
    /// Gossipsub messages to the fleet peer dropped because its send queue was full, or a
    /// publish waited in it too long (gossipsub's `SlowPeer` counts).
    pub dropped: Family<FleetPeer, Counter>,
}

impl FleetMetrics {
    fn new() -> Self {
        Self {
            connected: Family::default(),
            entries: Family::default(),
            // 1 ms to ~65 s.
            lag: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.001, 2.0, 17))
            }),
            behind: Family::default(),
            publishes: Family::default(),
            topics: Gauge::default(),
            topics_refused: Counter::default(),
            strangers: Counter::default(),
            dropped: Family::default(),
        }
    }

    /// Counts one publish by its outcome.
    pub fn published(&self, outcome: &'static str) {
        self.publishes.get_or_create(&Published { outcome }).inc();
    }

    fn register(&self, r: &mut Registry) {
        r.register(
            "fleet_connected",
            "1 while a connection to the fleet peer is up",
            self.connected.clone(),
        );
        r.register(
            "fleet_entries",
            "Board entries from fleet peers by way (gossip, pull) and outcome (received, applied, stale, refused, rejected)",
            self.entries.clone(),
        );
        r.register(
            "fleet_lag_seconds",
            "Time from an entry's store on its origin relay to its store here (gossip)",
            self.lag.clone(),
        );
        r.register(
            "fleet_behind",
            "Entries the catch-up pulls from the peer stored here since the connection came up",
            self.behind.clone(),
        );
        r.register(
            "fleet_publishes",
            "Client writes published to the fleet, by outcome (sent, no_peers, duplicate, failed)",
            self.publishes.clone(),
        );
        r.register(
            "fleet_topics",
            "Event namespaces replicated (gossipsub topics subscribed to)",
            self.topics.clone(),
        );
        r.register(
            "fleet_topics_refused",
            "Namespaces not replicated because the topic cap was reached",
            self.topics_refused.clone(),
        );
        r.register(
            "fleet_strangers",
            "Gossipsub messages forwarded by a peer outside the fleet (rejected)",
            self.strangers.clone(),
        );
        r.register(
            "fleet_dropped",
            "Gossipsub messages to the fleet peer dropped: its send queue was full, or a publish waited too long",
            self.dropped.clone(),
        );
    }
}

/// The relay's own metrics, registered under the `meishi_relay` prefix.
#[derive(Clone)]
pub struct RelayMetrics {
    /// Rendezvous, board, slot and drop requests by outcome.
    pub requests: Family<Outcome, Counter>,
    /// Live rendezvous registrations.
    pub registrations: Gauge,
    /// Live teaser board entries.
    pub board_entries: Gauge,
    /// Slot records kept.
    pub slots: Gauge,
    /// Drop box messages kept.
    pub drops: Gauge,
    /// Namespaces with at least one registration or board entry.
    pub namespaces: Gauge,
    /// Active circuit relay reservations.
    pub reservations: Gauge,
    /// Open relayed circuits.
    pub circuits: Gauge,
    /// Connections refused by the per-IP cap and other connection limits.
    pub connections_denied: Counter,
    /// Writes to the relay store (`relay.db`) that failed; the relay carried on from memory.
    pub store_errors: Counter,
    /// Refusals by the cap that refused: stores, request rates, connections, reservations
    /// and circuits.
    pub refusals: Family<Cap, Counter>,
    /// Board replication among the relays of a fleet.
    pub fleet: FleetMetrics,
}

impl RelayMetrics {
    /// Counts one refusal of `service` by `cap`.
    pub fn refused(&self, service: &'static str, cap: &'static str) {
        self.refusals.get_or_create(&Cap { service, cap }).inc();
    }

    /// The counter of refusals of `service` by `cap`, for a limiter to count its own.
    pub fn refusal(&self, service: &'static str, cap: &'static str) -> Counter {
        self.refusals.get_or_create(&Cap { service, cap }).clone()
    }
}

impl RelayMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self {
            requests: Family::default(),
            registrations: Gauge::default(),
            board_entries: Gauge::default(),
            slots: Gauge::default(),
            drops: Gauge::default(),
            namespaces: Gauge::default(),
            reservations: Gauge::default(),
            circuits: Gauge::default(),
            connections_denied: Counter::default(),
            store_errors: Counter::default(),
            refusals: Family::default(),
            fleet: FleetMetrics::new(),
        };
        let r = registry.sub_registry_with_prefix("meishi_relay");
        r.register(
            "requests",
            "Rendezvous, teaser board, slot and drop requests by outcome",
            m.requests.clone(),
        );
        r.register(
            "registrations",
            "Live rendezvous registrations",
            m.registrations.clone(),
        );
        r.register(
            "board_entries",
            "Live sealed teasers on the board",
            m.board_entries.clone(),
        );
        r.register("slots", "Card slot records kept", m.slots.clone());
        r.register("drops", "Drop box messages kept", m.drops.clone());
        r.register(
            "namespaces",
            "Event namespaces in use (rendezvous)",
            m.namespaces.clone(),
        );
        r.register(
            "reservations",
            "Active circuit relay reservations",
            m.reservations.clone(),
        );
        r.register("circuits", "Open relayed circuits", m.circuits.clone());
        r.register(
            "connections_denied",
            "Inbound connections refused by connection limits",
            m.connections_denied.clone(),
        );
        r.register(
            "store_errors",
            "Writes to the relay store that failed (slot records and drop messages kept in memory only)",
            m.store_errors.clone(),
        );
        r.register(
            "refusals",
            "Requests, connections, reservations and circuits refused, by the cap that refused",
            m.refusals.clone(),
        );
        m.fleet.register(r);
        m
    }
}

/// Renders the registry as Prometheus text.
pub fn render(registry: &Mutex<Registry>) -> String {
    let mut out = String::new();
    if let Ok(r) = registry.lock() {
        if prometheus_client::encoding::text::encode(&mut out, &r).is_err() {
            out.clear();
        }
    }
    out
}

/// Serves `GET /metrics` on `listener` until `stop` fires.
pub async fn serve(
    listener: TcpListener,
    registry: Arc<Mutex<Registry>>,
    mut stop: oneshot::Receiver<()>,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONCURRENT));
    loop {
        tokio::select! {
            _ = &mut stop => return,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                // Over the concurrency cap the connection is dropped at once.
                let Ok(permit) = slots.clone().try_acquire_owned() else { continue };
                let registry = registry.clone();
                tokio::spawn(async move {
                    let _permit = permit;
                    let _ = tokio::time::timeout(REQUEST_TIMEOUT, answer(stream, &registry)).await;
                });
            }
        }
    }
}

async fn answer(mut stream: TcpStream, registry: &Mutex<Registry>) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 512];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() >= MAX_REQUEST_HEAD {
            return respond(
                &mut stream,
                "431 Request Header Fields Too Large",
                "text/plain",
                "",
            )
            .await;
        }
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let mut parts = line.split(|b| *b == b' ');
    let (method, path) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    match (method, path) {
        (b"GET", b"/metrics") => {
            let body = render(registry);
            respond(
                &mut stream,
                "200 OK",
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                &body,
            )
            .await
        }
        (b"GET", _) => respond(&mut stream, "404 Not Found", "text/plain", "not found\n").await,
        _ => {
            respond(
                &mut stream,
                "405 Method Not Allowed",
                "text/plain",
                "GET only\n",
            )
            .await
        }
    }
}

async fn respond(
    stream: &mut TcpStream,
    status: &str,
    ctype: &str,
    body: &str,
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

/// Binds the metrics listener.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}
