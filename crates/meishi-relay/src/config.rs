//! Relay configuration: read from a TOML file, overridden by command-line flags.
//!
//! Every limit has a default sized for an event of 10,000 attendees on a fleet of four relays
//! (or one relay of its own for a few thousand); `docs/relay.md` explains each number.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use serde::Deserialize;

/// Longest `disconnect_grace_ms` accepted: two minutes.
pub const MAX_DISCONNECT_GRACE_MS: u64 = 120_000;
/// Longest `slots.max_lifetime_secs` accepted: a year. Records outlive their owners'
/// connections by design; past a year a slot held by nobody would still cost memory.
pub const MAX_SLOT_LIFETIME_SECS: u64 = 366 * 24 * 60 * 60;
/// Longest `drops.lifetime_days` accepted: a year, for the same reason.
pub const MAX_DROP_LIFETIME_DAYS: u64 = 366;

/// Everything the relay needs to start.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Addresses to listen on, e.g. `/ip4/0.0.0.0/tcp/4001`, `/ip4/0.0.0.0/udp/4001/quic-v1`.
    pub listen: Vec<String>,
    /// Public addresses attendees dial. The relay refuses every reservation without one.
    pub external_addresses: Vec<String>,
    /// Where `GET /metrics` is served; none turns the endpoint off.
    pub metrics: Option<SocketAddr>,
    /// The identity key file; none means a fresh key on every start (tests only).
    pub key_file: Option<PathBuf>,
    /// Where slot records and drop box messages are kept across restarts (`[store]`).
    pub store: StoreConfig,
    /// The other relays of this relay's fleet, which hold the teaser board with it (`[fleet]`).
    pub fleet: FleetConfig,
    /// Threads that run the relay's connections and its event loop (the async runtime's
    /// workers). One by default: a relay's work is many small tasks, and with one thread they
    /// never wait for each other across cores (docs/relay.md#where-a-relays-cpu-and-memory-go).
    pub threads: usize,
    pub limits: Limits,
}

/// Largest `limits.max_discover` accepted.
pub const MAX_DISCOVER: u64 = 4_096;

/// Most `threads` accepted.
pub const MAX_THREADS: usize = 256;

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: vec![
                "/ip4/0.0.0.0/tcp/4001".into(),
                "/ip4/0.0.0.0/udp/4001/quic-v1".into(),
            ],
            external_addresses: Vec::new(),
            metrics: Some(SocketAddr::from(([127, 0, 0, 1], 9464))),
            key_file: None,
            store: StoreConfig::default(),
            fleet: FleetConfig::default(),
            threads: 1,
            limits: Limits::default(),
        }
    }
}

/// The relays that replicate the teaser board with this one ([`crate::fleet`]).
/// docs/relay.md#running-a-fleet
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FleetConfig {
    /// Each fleet peer's address, ending in `/p2p/<peer id>` (at most
    /// [`MAX_FLEET_PEERS`](crate::fleet::MAX_FLEET_PEERS)). The relay's own entry, if listed,
    /// is skipped, so every relay of a fleet may use the same list.
    pub peers: Vec<String>,
    /// Most event namespaces replicated at once (gossipsub topics); entries of further
    /// namespaces are kept by the relay they were written to.
    pub max_topics: usize,
    /// Seconds between repair pulls: each connected fleet peer's board is read again from the
    /// last cursor it answered, for what gossip lost (proto-spec/relay.md#catch-up).
    pub repair_secs: u64,
}

impl Default for FleetConfig {
    fn default() -> Self {
        Self {
            peers: Vec::new(),
            max_topics: crate::fleet::DEFAULT_MAX_TOPICS,
            repair_secs: crate::fleet::DEFAULT_REPAIR.as_secs(),
        }
    }
}

/// The durable copy of the slot and drop stores ([`crate::disk`]). docs/relay.md#configuration-file
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// The SQLite file. None or an empty path: records and messages are kept in memory only,
    /// and a restart loses them. (`meishi relay` fills in `relay.db` next to the key file when
    /// the configuration names none.)
    pub path: Option<PathBuf>,
}

impl Config {
    /// The store file the relay keeps, if it keeps one.
    pub fn store_path(&self) -> Option<&Path> {
        self.store
            .path
            .as_deref()
            .filter(|p| !p.as_os_str().is_empty())
    }
}

/// A token bucket: `burst` at once, then one more every `interval_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    pub burst: u32,
    pub interval_ms: u64,
}

/// Caps of one namespaced store (rendezvous or the teaser board).
/// proto-spec/relay.md#limits
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreLimits {
    pub max_total: usize,
    pub max_per_namespace: usize,
    /// Namespaces one peer may be in at once.
    pub max_per_peer: usize,
    /// Entries from one host: an IPv4 address or an IPv6 /64.
    pub max_per_ip: usize,
    /// Entries one site (an IPv4 address or an IPv6 /48) always gets in one namespace; more
    /// only while the namespace is less than half full.
    pub site_share_per_namespace: usize,
    /// Entries one site always gets in the store; more only while it is less than half full.
    pub site_share: usize,
    pub min_ttl_secs: u64,
    pub max_ttl_secs: u64,
}

impl Default for StoreLimits {
    fn default() -> Self {
        Self {
            // Memory when full: an entry costs its value plus ~0.7 KB of index (the namespace
            // string, the peer id in four maps, the expiry and sequence indexes) and up to
            // twice that while a hash table has just grown. A board entry is at most 1,053
            // bytes of teaser: 32,768 entries stay under ~66 MB. A registration is a signed
            // peer record, typically ~0.5 KB (~36 MB in all) and at most the 8 KiB request:
            // under ~300 MB if every one were that large.
            max_total: 32_768,
            // An event of 10,000 attendees stays under half of this, where the site shares
            // below start to bind: it fits whatever order its venue NAT and everyone else
            // arrive in (proto-spec/relay.md#shares-a-few-hosts-cannot-lock-an-event-or-the-relay).
            max_per_namespace: 20_480,
            max_per_peer: 8,
            // A venue NAT of 5,000 attendees (some with two devices) is one host.
            max_per_ip: 6_144,
            // Eight sites hold at most 20,480 / 2 + 8 * 640 = 15,360 of an event, and
            // 32,768 / 2 + 8 * 1,024 = 24,576 of the relay: a ninth site always gets its share.
            site_share_per_namespace: 640,
            site_share: 1_024,
            min_ttl_secs: 60,
            max_ttl_secs: 24 * 60 * 60,
        }
    }
}

impl StoreLimits {
    /// The registry caps these limits set.
    pub fn caps(&self) -> crate::registry::Caps {
        crate::registry::Caps {
            total: self.max_total,
            per_namespace: self.max_per_namespace,
            per_peer: self.max_per_peer,
            per_host: self.max_per_ip,
            site_share_namespace: self.site_share_per_namespace,
            site_share: self.site_share,
            min_ttl: self.min_ttl_secs,
            max_ttl: self.max_ttl_secs,
        }
    }
}

/// Caps of the slot store. proto-spec/slot.md#relay-protocol
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlotLimits {
    /// Records in all; each is at most 4,254 bytes (`MAX_SLOT_RECORD`).
    pub max_total: usize,
    /// Records charged to one host (an IPv4 address or an IPv6 /64).
    pub max_per_ip: usize,
    /// Records one site (an IPv4 address or an IPv6 /48) always gets; more only while the
    /// store is less than half full.
    pub site_share: usize,
    /// How far ahead of the relay's clock a record may expire.
    pub max_lifetime_secs: u64,
}

impl Default for SlotLimits {
    fn default() -> Self {
        Self {
            // At most 100,000 x 4,254 B = 425 MB of records (plus ~150 B of index each);
            // typical records (a card of a few hundred bytes) are under 1 KB.
            max_total: 100_000,
            // A venue or carrier NAT is one host: 4,096 people publishing through it fit.
            max_per_ip: 4_096,
            // Eight sites hold at most 100,000 / 2 + 8 * 2,048 = 66,384 records.
            site_share: 2_048,
            max_lifetime_secs: 90 * 24 * 60 * 60,
        }
    }
}

impl SlotLimits {
    /// The store caps these limits set.
    pub fn caps(&self) -> crate::slots::Caps {
        crate::slots::Caps {
            total: self.max_total,
            per_host: self.max_per_ip,
            site_share: self.site_share,
            max_lifetime: self.max_lifetime_secs,
        }
    }
}

/// Caps of the drop store. proto-spec/drop.md#relay-protocol
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DropLimits {
    /// Messages waiting in one box.
    pub per_box: usize,
    /// Messages charged to the host that sent them (an IPv4 address or an IPv6 /64).
    pub per_host: usize,
    /// Messages one site (an IPv4 address or an IPv6 /48) always gets; more only while the
    /// store is less than half full.
    pub site_share: usize,
    /// Messages in all; each is at most 8,265 bytes (`MAX_DROP_SEALED`).
    pub total: usize,
    /// How long a message is kept after it was put, unless collected sooner.
    pub lifetime_days: u64,
}

impl Default for DropLimits {
    fn default() -> Self {
        Self {
            // A box is one contact's to one person: 64 messages wait before the person collects.
            per_box: 64,
            // A venue or carrier NAT is one host: a thousand people each leaving a message fit.
            per_host: 1_024,
            // Eight sites hold at most 100,000 / 2 + 8 * 2,048 = 66,384 messages.
            site_share: 2_048,
            // At most 100,000 x 8,265 B = 827 MB of messages (plus ~150 B of index each);
            // typical messages (a few hundred bytes) are under 1 KB.
            total: 100_000,
            lifetime_days: 30,
        }
    }
}

impl DropLimits {
    /// The store caps these limits set.
    pub fn caps(&self) -> crate::drops::Caps {
        crate::drops::Caps {
            total: self.total,
            per_box: self.per_box,
            per_host: self.per_host,
            site_share: self.site_share,
            lifetime: self.lifetime_days.saturating_mul(24 * 60 * 60),
        }
    }
}

/// All limits. Field names match the TOML keys under `[limits]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    pub max_connections: u32,
    pub max_connections_per_peer: u32,
    /// Connections from one host: an IPv4 address or an IPv6 /64.
    pub max_connections_per_ip: usize,
    /// Connections from one site: an IPv4 address or an IPv6 /48.
    pub max_connections_per_site: usize,
    pub max_pending_incoming: u32,
    /// How long a connection without an open stream stays up once nothing keeps it: a
    /// reservation or a circuit does. Mostly the connections of nodes that only posted their
    /// teaser here (docs/relay.md#where-a-relays-cpu-and-memory-go).
    pub idle_timeout_secs: u64,
    /// How often the relay pings each connection (libp2p ping): round-trip times for
    /// `libp2p_ping_rtt_seconds`, sampled (a failed ping closes nothing). Nodes ping their
    /// relays themselves every 60 s, which keeps their NAT mappings alive; the relay's own
    /// pings cost it CPU on each of its thousands of connections (docs/relay.md#what-full-nodes-add-pings).
    pub ping_interval_secs: u64,
    /// How long a peer's registrations and board entries outlive its last connection, so
    /// that a node that reconnects at once keeps its place. proto-spec/relay.md#rendezvous
    pub disconnect_grace_ms: u64,

    pub max_reservations: usize,
    pub max_reservations_per_peer: usize,
    /// Reservations one host (an IPv4 address or an IPv6 /64) holds at once.
    pub max_reservations_per_host: usize,
    /// Reservations one site (an IPv4 address or an IPv6 /48) always gets; more only while
    /// the relay holds fewer than half of `max_reservations`.
    pub reservation_site_share: usize,
    pub reservation_duration_secs: u64,
    pub reservation_rate_per_peer: Rate,
    pub reservation_rate_per_ip: Rate,

    pub max_circuits: usize,
    pub max_circuits_per_peer: usize,
    pub max_circuit_duration_secs: u64,
    pub max_circuit_bytes: u64,
    pub circuit_rate_per_peer: Rate,
    pub circuit_rate_per_ip: Rate,

    pub rendezvous: StoreLimits,
    /// Most registrations in one DISCOVER response.
    pub max_discover: u64,
    pub board: StoreLimits,
    /// The slot store (`[limits.slots]`).
    pub slots: SlotLimits,
    /// The drop store (`[limits.drops]`).
    pub drops: DropLimits,
    /// Concurrent rendezvous, board, slot or drop streams on one connection.
    pub max_streams_per_connection: usize,
    /// Rendezvous and board requests of one peer, over all its connections; reconnecting
    /// does not refill it.
    pub request_rate_per_peer: Rate,
    /// Rendezvous and board requests of one host (an IPv4 address or an IPv6 /64), all its
    /// peers together: fresh peer ids do not buy more. Sized for a venue NAT: 5,000
    /// attendees polling every 15 s make about 750 requests per second.
    pub request_rate_per_host: Rate,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            // Sized for an event of 10,000 attendees on a fleet of four relays
            // (proto-spec/relay.md#fleet-limits): each attendee keeps a connection to its two
            // home relays and connects to the two others to post its teaser, so a relay holds
            // 5,000-10,000 connections, and a venue NAT of 5,000 attendees one to each relay
            // from one host. Measured at 55-120 KiB per attendee with its connection
            // (docs/relay.md#measured-load): 0.9-1.9 GB when full.
            max_connections: 16_384,
            max_connections_per_peer: 8,
            max_connections_per_ip: 6_144,
            max_connections_per_site: 8_192,
            max_pending_incoming: 2_048,
            idle_timeout_secs: 10,
            ping_interval_secs: 300,
            disconnect_grace_ms: 20_000,

            // Each attendee reserves on its two home relays of four: 5,000 per relay for
            // 10,000 attendees, 6,667 once one relay of the four is down.
            max_reservations: 16_384,
            max_reservations_per_peer: 4,
            // A peer id costs nothing, so these count by address. A venue NAT puts thousands
            // of attendees behind one address, so a hard cap small enough to matter would
            // shut out a venue; instead a site holds more than its share (512) only while
            // the relay is under half full (8,192, above the 6,667 of a degraded fleet, so the
            // shares never bind an event of 10,000). Eight sites then hold at most
            // 8,192 + 8 * 512 = 12,288 of the 16,384 slots, and 4,096 stay for everyone else;
            // it takes 16 sites past the half to fill the relay. One host never holds more
            // than 6,144, whatever the order: a venue of 5,000 fits.
            max_reservations_per_host: 6_144,
            reservation_site_share: 512,
            reservation_duration_secs: 60 * 60,
            reservation_rate_per_peer: Rate {
                burst: 8,
                interval_ms: 30_000,
            },
            // A venue's share of a fleet relay (2,500 of 5,000) reserves at once; then ten a
            // second, for phones that switch networks and reconnect.
            reservation_rate_per_ip: Rate {
                burst: 4_096,
                interval_ms: 100,
            },

            max_circuits: 512,
            max_circuits_per_peer: 16,
            max_circuit_duration_secs: 2 * 60,
            max_circuit_bytes: 1 << 20,
            circuit_rate_per_peer: Rate {
                burst: 128,
                interval_ms: 1_000,
            },
            circuit_rate_per_ip: Rate {
                burst: 2_048,
                interval_ms: 50,
            },

            rendezvous: StoreLimits::default(),
            max_discover: 256,
            board: StoreLimits::default(),
            slots: SlotLimits::default(),
            drops: DropLimits::default(),
            max_streams_per_connection: 8,
            request_rate_per_peer: Rate {
                burst: 64,
                interval_ms: 250,
            },
            // A venue NAT of 5,000 attendees polling every 15 s from one relay (a board read
            // and a DISCOVER each) makes ~750 requests a second; on a fleet of four, ~220.
            request_rate_per_host: Rate {
                burst: 4_096,
                interval_ms: 1,
            },
        }
    }
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("cannot parse the configuration: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("`{addr}` is not a multiaddr: {source}")]
    Multiaddr {
        addr: String,
        #[source]
        source: libp2p::multiaddr::Error,
    },
    #[error("no listen address: give at least one with --listen")]
    NoListen,
    #[error("limit `{0}` must be greater than zero")]
    Zero(&'static str),
    #[error("limit `{0}` is too large")]
    TooLarge(&'static str),
    #[error("fleet peer `{0}` does not end in /p2p/<peer id>")]
    PeerWithoutId(Multiaddr),
    #[error("fleet peer {0} is listed twice")]
    DuplicatePeer(PeerId),
    #[error("{0} fleet peers listed; at most {max} are allowed", max = crate::fleet::MAX_FLEET_PEERS)]
    TooManyPeers(usize),
}

fn parse_all(v: &[String]) -> Result<Vec<Multiaddr>, ConfigError> {
    v.iter()
        .map(|a| {
            a.parse().map_err(|source| ConfigError::Multiaddr {
                addr: a.clone(),
                source,
            })
        })
        .collect()
}

impl Config {
    /// Parses a TOML configuration; absent keys keep their defaults.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let c: Self = toml::from_str(text)?;
        Ok(c)
    }

    /// Listen addresses, parsed.
    pub fn listen_addrs(&self) -> Result<Vec<Multiaddr>, ConfigError> {
        let v = parse_all(&self.listen)?;
        if v.is_empty() {
            return Err(ConfigError::NoListen);
        }
        Ok(v)
    }

    /// External addresses, parsed.
    pub fn external_addrs(&self) -> Result<Vec<Multiaddr>, ConfigError> {
        parse_all(&self.external_addresses)
    }

    /// The fleet's peers, parsed: each peer id and the address to dial it at.
    pub fn fleet_peers(&self) -> Result<Vec<(PeerId, Multiaddr)>, ConfigError> {
        let addrs = parse_all(&self.fleet.peers)?;
        if addrs.len() > crate::fleet::MAX_FLEET_PEERS {
            return Err(ConfigError::TooManyPeers(addrs.len()));
        }
        let mut out: Vec<(PeerId, Multiaddr)> = Vec::with_capacity(addrs.len());
        for a in addrs {
            let Some(Protocol::P2p(peer)) = a.iter().last() else {
                return Err(ConfigError::PeerWithoutId(a));
            };
            if out.iter().any(|(p, _)| *p == peer) {
                return Err(ConfigError::DuplicatePeer(peer));
            }
            out.push((peer, a));
        }
        Ok(out)
    }

    /// Checks every limit; the relay calls this before it starts.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.listen_addrs()?;
        self.external_addrs()?;
        self.fleet_peers()?;
        if self.fleet.repair_secs == 0 {
            return Err(ConfigError::Zero("fleet.repair_secs"));
        }
        if self.fleet.repair_secs > 86_400 {
            return Err(ConfigError::TooLarge("fleet.repair_secs"));
        }
        if self.fleet.max_topics == 0 {
            return Err(ConfigError::Zero("fleet.max_topics"));
        }
        // Each topic is a subscription gossipsub announces to every fleet peer in one message.
        if self.fleet.max_topics > 65_536 {
            return Err(ConfigError::TooLarge("fleet.max_topics"));
        }
        if self.threads == 0 {
            return Err(ConfigError::Zero("threads"));
        }
        if self.threads > MAX_THREADS {
            return Err(ConfigError::TooLarge("threads"));
        }
        let l = &self.limits;
        let nonzero: [(&'static str, u64); 20] = [
            ("max_connections", l.max_connections.into()),
            (
                "max_connections_per_peer",
                l.max_connections_per_peer.into(),
            ),
            ("max_connections_per_ip", l.max_connections_per_ip as u64),
            (
                "max_connections_per_site",
                l.max_connections_per_site as u64,
            ),
            ("max_pending_incoming", l.max_pending_incoming.into()),
            ("idle_timeout_secs", l.idle_timeout_secs),
            ("ping_interval_secs", l.ping_interval_secs),
            ("max_reservations", l.max_reservations as u64),
            (
                "max_reservations_per_peer",
                l.max_reservations_per_peer as u64,
            ),
            (
                "max_reservations_per_host",
                l.max_reservations_per_host as u64,
            ),
            ("reservation_site_share", l.reservation_site_share as u64),
            ("reservation_duration_secs", l.reservation_duration_secs),
            ("max_circuits", l.max_circuits as u64),
            ("max_circuits_per_peer", l.max_circuits_per_peer as u64),
            ("max_circuit_duration_secs", l.max_circuit_duration_secs),
            ("max_circuit_bytes", l.max_circuit_bytes),
            ("max_discover", l.max_discover),
            (
                "max_streams_per_connection",
                l.max_streams_per_connection as u64,
            ),
            ("rendezvous.max_total", l.rendezvous.max_total as u64),
            ("board.max_total", l.board.max_total as u64),
        ];
        for (name, v) in nonzero {
            if v == 0 {
                return Err(ConfigError::Zero(name));
            }
        }
        for (name, r) in [
            ("reservation_rate_per_peer", l.reservation_rate_per_peer),
            ("reservation_rate_per_ip", l.reservation_rate_per_ip),
            ("circuit_rate_per_peer", l.circuit_rate_per_peer),
            ("circuit_rate_per_ip", l.circuit_rate_per_ip),
            ("request_rate_per_peer", l.request_rate_per_peer),
            ("request_rate_per_host", l.request_rate_per_host),
        ] {
            if r.burst == 0 || r.interval_ms == 0 {
                return Err(ConfigError::Zero(name));
            }
        }
        for (name, s) in [("rendezvous", l.rendezvous), ("board", l.board)] {
            if s.max_per_namespace == 0
                || s.max_per_peer == 0
                || s.max_per_ip == 0
                || s.site_share_per_namespace == 0
                || s.site_share == 0
                || s.min_ttl_secs == 0
            {
                return Err(ConfigError::Zero(name));
            }
            if s.min_ttl_secs > s.max_ttl_secs || s.max_ttl_secs > u64::from(u32::MAX) {
                return Err(ConfigError::TooLarge(name));
            }
        }
        let s = l.slots;
        for (name, v) in [
            ("slots.max_total", s.max_total as u64),
            ("slots.max_per_ip", s.max_per_ip as u64),
            ("slots.site_share", s.site_share as u64),
            ("slots.max_lifetime_secs", s.max_lifetime_secs),
        ] {
            if v == 0 {
                return Err(ConfigError::Zero(name));
            }
        }
        if s.max_lifetime_secs > MAX_SLOT_LIFETIME_SECS {
            return Err(ConfigError::TooLarge("slots.max_lifetime_secs"));
        }
        let d = l.drops;
        for (name, v) in [
            ("drops.per_box", d.per_box as u64),
            ("drops.per_host", d.per_host as u64),
            ("drops.site_share", d.site_share as u64),
            ("drops.total", d.total as u64),
            ("drops.lifetime_days", d.lifetime_days),
        ] {
            if v == 0 {
                return Err(ConfigError::Zero(name));
            }
        }
        if d.lifetime_days > MAX_DROP_LIFETIME_DAYS {
            return Err(ConfigError::TooLarge("drops.lifetime_days"));
        }
        // A long grace would let state outlive its owner again (proto-spec/relay.md#rendezvous).
        if l.disconnect_grace_ms > MAX_DISCONNECT_GRACE_MS {
            return Err(ConfigError::TooLarge("disconnect_grace_ms"));
        }
        // libp2p's relay panics on circuit durations above u32::MAX seconds.
        if l.max_circuit_duration_secs > u64::from(u32::MAX)
            || l.reservation_duration_secs > u64::from(u32::MAX)
        {
            return Err(ConfigError::TooLarge("max_circuit_duration_secs"));
        }
        // A DISCOVER page is one response of signed peer records: 4,096 keeps it in the
        // hundreds of kilobytes.
        if l.max_discover > MAX_DISCOVER {
            return Err(ConfigError::TooLarge("max_discover"));
        }
        Ok(())
    }
}

impl Rate {
    pub(crate) fn parts(self) -> (NonZeroU32, Duration) {
        (
            NonZeroU32::new(self.burst).unwrap_or(NonZeroU32::MIN),
            Duration::from_millis(self.interval_ms.max(1)),
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test fails by panicking")]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_toml_overrides_some_keys() {
        Config::default().validate().unwrap();
        let c = Config::from_toml(
            r#"
            listen = ["/ip4/127.0.0.1/tcp/0"]
            external_addresses = ["/ip4/203.0.113.5/tcp/4001"]
            metrics = "127.0.0.1:9999"
            [store]
            path = "/var/lib/meishi-relay/other.db"
            [limits]
            max_reservations = 10
            max_reservations_per_host = 5
            reservation_rate_per_ip = { burst = 3, interval_ms = 60000 }
            [limits.rendezvous]
            min_ttl_secs = 30
            [limits.slots]
            max_total = 5000
            [limits.drops]
            per_box = 16
            lifetime_days = 7
            "#,
        )
        .unwrap();
        c.validate().unwrap();
        assert_eq!(c.limits.max_reservations, 10);
        assert_eq!(c.limits.max_reservations_per_host, 5);
        assert_eq!(c.limits.reservation_site_share, 512);
        assert_eq!(c.limits.reservation_rate_per_ip.burst, 3);
        assert_eq!(c.limits.rendezvous.min_ttl_secs, 30);
        assert_eq!(c.limits.rendezvous.max_total, 32_768);
        assert_eq!(c.limits.rendezvous.max_per_namespace, 20_480);
        assert_eq!(c.limits.max_circuits, 512);
        assert_eq!(c.limits.slots.max_total, 5_000);
        assert_eq!(c.limits.slots.max_per_ip, 4_096);
        assert_eq!(c.limits.slots.max_lifetime_secs, 90 * 24 * 60 * 60);
        assert_eq!(c.limits.drops.per_box, 16);
        assert_eq!(c.limits.drops.per_host, 1_024);
        assert_eq!(c.limits.drops.total, 100_000);
        assert_eq!(c.limits.drops.caps().lifetime, 7 * 24 * 60 * 60);
        assert_eq!(c.metrics, Some(SocketAddr::from(([127, 0, 0, 1], 9999))));
        assert_eq!(
            c.store_path(),
            Some(Path::new("/var/lib/meishi-relay/other.db"))
        );
        // An empty path keeps everything in memory, as no path does.
        let c = Config::from_toml("[store]\npath = \"\"").unwrap();
        assert_eq!(c.store.path, Some(PathBuf::new()));
        assert_eq!(c.store_path(), None);
        assert_eq!(Config::default().store_path(), None);
        assert!(matches!(
            Config::from_toml("[store]\nfile = \"x\""),
            Err(ConfigError::Toml(_))
        ));
    }

    #[test]
    fn bad_configs_are_refused() {
        assert!(matches!(
            Config::from_toml("lisen = []"),
            Err(ConfigError::Toml(_))
        ));
        assert!(matches!(
            Config::from_toml("[limits]\nmax_circuits = -1"),
            Err(ConfigError::Toml(_))
        ));
        let mut c = Config {
            listen: vec!["not an addr".into()],
            ..Config::default()
        };
        assert!(matches!(c.validate(), Err(ConfigError::Multiaddr { .. })));
        c.listen.clear();
        assert!(matches!(c.validate(), Err(ConfigError::NoListen)));
        let mut c = Config::default();
        c.limits.max_circuits = 0;
        assert!(matches!(
            c.validate(),
            Err(ConfigError::Zero("max_circuits"))
        ));
        assert_eq!(Config::default().threads, 1);
        for (threads, refused) in [
            (0, true),
            (1, false),
            (MAX_THREADS, false),
            (MAX_THREADS + 1, true),
        ] {
            let c = Config::from_toml(&format!("threads = {threads}")).unwrap();
            assert_eq!(c.validate().is_err(), refused, "threads = {threads}");
        }
        let mut c = Config::default();
        c.limits.max_circuit_duration_secs = u64::MAX;
        assert!(matches!(c.validate(), Err(ConfigError::TooLarge(_))));
        let mut c = Config::default();
        c.limits.board.min_ttl_secs = 100_000;
        assert!(matches!(c.validate(), Err(ConfigError::TooLarge("board"))));
        let mut c = Config::default();
        c.limits.disconnect_grace_ms = MAX_DISCONNECT_GRACE_MS + 1;
        assert!(matches!(
            c.validate(),
            Err(ConfigError::TooLarge("disconnect_grace_ms"))
        ));
        let mut c = Config::default();
        c.limits.max_reservations_per_host = 0;
        assert!(matches!(
            c.validate(),
            Err(ConfigError::Zero("max_reservations_per_host"))
        ));
        let mut c = Config::default();
        c.limits.slots.max_per_ip = 0;
        assert!(matches!(
            c.validate(),
            Err(ConfigError::Zero("slots.max_per_ip"))
        ));
        let mut c = Config::default();
        c.limits.slots.max_lifetime_secs = MAX_SLOT_LIFETIME_SECS + 1;
        assert!(matches!(
            c.validate(),
            Err(ConfigError::TooLarge("slots.max_lifetime_secs"))
        ));
        let mut c = Config::default();
        c.limits.drops.per_box = 0;
        assert!(matches!(
            c.validate(),
            Err(ConfigError::Zero("drops.per_box"))
        ));
        let mut c = Config::default();
        c.limits.drops.lifetime_days = MAX_DROP_LIFETIME_DAYS + 1;
        assert!(matches!(
            c.validate(),
            Err(ConfigError::TooLarge("drops.lifetime_days"))
        ));
        assert!(matches!(
            Config::from_toml("[limits.drops]\nmax_total = 1"),
            Err(ConfigError::Toml(_))
        ));
        let mut c = Config::default();
        c.limits.rendezvous.site_share = 0;
        assert!(matches!(c.validate(), Err(ConfigError::Zero("rendezvous"))));
    }

    #[test]
    fn fleet_peers_name_their_peer_id_once() {
        let id = "12D3KooWBHkR6nGT5KH3Xow9voA2aSQ67423yzWZCVbruRadyybt";
        let c = Config::from_toml(&format!(
            "[fleet]\npeers = [\"/ip4/203.0.113.8/tcp/4001/p2p/{id}\"]\nmax_topics = 10"
        ))
        .unwrap();
        c.validate().unwrap();
        let peers = c.fleet_peers().unwrap();
        assert_eq!(peers.len(), 1);
        assert_eq!(peers[0].0.to_string(), id);
        assert_eq!(c.fleet.max_topics, 10);
        assert_eq!(Config::default().fleet.max_topics, 1_024);
        let mut c = Config::default();
        c.fleet.peers = vec!["/ip4/203.0.113.8/tcp/4001".into()];
        assert!(matches!(c.validate(), Err(ConfigError::PeerWithoutId(_))));
        c.fleet.peers = vec![format!("/ip4/203.0.113.8/tcp/4001/p2p/{id}"); 2];
        assert!(matches!(c.validate(), Err(ConfigError::DuplicatePeer(_))));
        c.fleet.peers = (0..17)
            .map(|_| format!("/ip4/203.0.113.8/tcp/4001/p2p/{}", PeerId::random()))
            .collect();
        assert!(matches!(c.validate(), Err(ConfigError::TooManyPeers(17))));
        let mut c = Config::default();
        c.fleet.max_topics = 0;
        assert!(matches!(
            c.validate(),
            Err(ConfigError::Zero("fleet.max_topics"))
        ));
    }
}
