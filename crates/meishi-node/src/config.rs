//! What a node is started with: identity, card, addresses, policy, limits.

use std::time::Duration;

use libp2p::Multiaddr;
use meishi_card::envelope::DEFAULT_MAX_SKEW_SECS;
use meishi_card::{Identity, PublicKey, SignedCard};

pub use crate::consent::Scope;

/// Whether and when the node gives its card back to someone who gives theirs.
/// Nobody gets the card unless the policy allows it. proto-spec/exchange.md#policy
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    /// Give back to whoever gives, within the node's [`Scope`]; others wait in the inbox.
    #[default]
    Auto,
    /// Hold each incoming card in the inbox until the user accepts (then give back) or declines.
    Ask,
    /// Nothing leaves: keep incoming cards (within the scope; others wait in the inbox), never
    /// give back, answer no fetch, publish no teaser.
    Never,
}

impl Policy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Ask => "ask",
            Self::Never => "never",
        }
    }
}

impl std::fmt::Display for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A policy name that is not `auto`, `ask` or `never`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown policy {0:?}: use auto, ask or never")]
pub struct PolicyParseError(pub String);

impl std::str::FromStr for Policy {
    type Err = PolicyParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Self::Auto),
            "ask" => Ok(Self::Ask),
            "never" => Ok(Self::Never),
            other => Err(PolicyParseError(other.to_owned())),
        }
    }
}

/// The opt-in teaser shown to people nearby: a name and a headline, never the whole card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Teaser {
    pub name: String,
    pub headline: Option<String>,
}

/// What the application's records say about other people, for the consent rule
/// (proto-spec/exchange.md#consent). The node adds to it as it runs (peers it gives its card to
/// become holders; held gives become pending) and the application replaces it whenever its
/// records change.
#[derive(Debug, Clone, Default)]
pub struct Peers {
    /// Keys of people I gave my card to and have not revoked: only they may fetch it.
    pub holders: Vec<PublicKey>,
    /// Keys of my contacts: within the `known` scope.
    pub contacts: Vec<PublicKey>,
    /// Keys I revoked: they fetch nothing, and their gives wait for my decision.
    pub revoked: Vec<PublicKey>,
    /// Keys with a give waiting in my inbox: each counts once against `Limits::max_inbox`.
    pub pending: Vec<PublicKey>,
}

/// Bounds on everything a peer can make this node hold or do. The defaults suit a laptop at a
/// conference; tests shrink them.
#[derive(Debug, Clone)]
pub struct Limits {
    /// How long an outbound request may take, dialing excluded; inbound streams too.
    pub request_timeout: Duration,
    /// How long a connection without any open stream stays open. Long enough that a user can
    /// dial and then swap, and that a benchmark's connection stays open between rounds.
    pub idle_timeout: Duration,
    /// Envelopes signed further than this from the local clock are refused.
    pub max_skew: Duration,
    /// Seconds added to the system clock wherever the node reads it (signing and checking
    /// envelopes and teasers): 0 but in tests that rehearse a peer whose clock is off.
    pub clock_offset_secs: i64,
    /// Inbound requests a single peer may send at once (token bucket size).
    pub request_burst: u32,
    /// One more inbound request is allowed per this interval (token bucket refill).
    pub request_refill: Duration,
    /// Peers whose request budget is tracked at once.
    pub max_tracked_peers: usize,
    /// Established connections, in total and per peer; pending connections each way.
    pub max_connections: u32,
    pub max_connections_per_peer: u32,
    pub max_pending_connections: u32,
    /// Concurrent exchange streams per connection.
    pub max_streams: usize,
    /// People whose gives wait in the inbox at once (one item each, the newest wins); a give
    /// from one more is refused as busy.
    pub max_inbox: usize,
    /// Peers found by mDNS that the node remembers.
    pub max_nearby: usize,
    /// Recent envelopes remembered to refuse replays.
    pub max_replay_cache: usize,
    /// Events buffered for the application (the channel), and as many again held by the node
    /// while the application is behind. The node never waits for the application: with that
    /// backlog full it refuses unsolicited gives as busy (and any give at four times it), and
    /// drops notices that carry no card. proto-spec/exchange.md#bounds
    pub event_buffer: usize,
    /// Unsolicited cards (a give from a peer that is neither a contact nor a peer I gave my
    /// card to) kept at once under `auto` and `never`; beyond, they are refused as busy.
    pub unsolicited_burst: u32,
    /// One more unsolicited card is kept per this interval (token bucket refill).
    pub unsolicited_refill: Duration,
    /// Cards from attendees seen on a joined event's board: a budget of their own, so that
    /// strangers giving in a flood cannot use up what fellow attendees need (anyone with the
    /// code can post a teaser, so it is a budget too, just a larger one).
    pub attendee_burst: u32,
    /// One more attendee's card is kept per this interval.
    pub attendee_refill: Duration,
    /// Commands buffered from `Node` handles.
    pub command_buffer: usize,
    /// How often ping measures each connection. On a relay connection over TCP it is also
    /// the traffic that keeps the node's NAT mapping alive (QUIC keeps itself alive every
    /// 5 s); 60 s is well inside the shortest idle timeouts of common NATs (Azure's 4 min,
    /// AWS's 350 s; RFC 5382 asks for at least 2 h 4 min), and every ping costs each relay
    /// CPU on every one of its connections (docs/relay.md#what-full-nodes-add-pings).
    pub ping_interval: Duration,
    /// How often the teaser board of each joined event is read for newcomers.
    pub event_poll: Duration,
    /// The least time between two reads of one event's board on one relay,
    /// whatever the relay answers (a relay saying "more" forever is read at this pace).
    pub event_min_poll: Duration,
    /// Backoff between attempts to reach a relay again: first wait, doubled up to the last.
    pub relay_backoff: (Duration, Duration),
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_skew: Duration::from_secs(DEFAULT_MAX_SKEW_SECS),
            clock_offset_secs: 0,
            request_burst: 8,
            request_refill: Duration::from_secs(2),
            max_tracked_peers: 4096,
            max_connections: 256,
            max_connections_per_peer: 2,
            max_pending_connections: 64,
            max_streams: 16,
            max_inbox: 256,
            max_nearby: 512,
            max_replay_cache: 4096,
            event_buffer: 256,
            unsolicited_burst: 32,
            unsolicited_refill: Duration::from_secs(2),
            attendee_burst: 128,
            attendee_refill: Duration::from_millis(250),
            command_buffer: 64,
            ping_interval: Duration::from_secs(60),
            event_poll: Duration::from_secs(15),
            event_min_poll: Duration::from_millis(500),
            relay_backoff: (Duration::from_secs(1), Duration::from_secs(30)),
        }
    }
}

/// What my gives carry for each recipient besides the card: the encoded `meishi_event::Links`
/// (my slot address, and the recipient's box at my relays) made for that recipient's key. The
/// links travel inside the signed envelope, so they go only where the consent rule sends my
/// card. proto-spec/exchange.md#links
#[derive(Clone)]
pub struct GiveLinks(std::sync::Arc<LinksFn>);

/// Makes the links for one recipient.
type LinksFn = dyn Fn(&PublicKey) -> Vec<u8> + Send + Sync;

impl GiveLinks {
    pub fn new(f: impl Fn(&PublicKey) -> Vec<u8> + Send + Sync + 'static) -> Self {
        Self(std::sync::Arc::new(f))
    }
    /// The links for `recipient` (empty: none, a format-1 envelope).
    pub fn for_recipient(&self, recipient: &PublicKey) -> Vec<u8> {
        (self.0)(recipient)
    }
}

impl std::fmt::Debug for GiveLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GiveLinks(..)")
    }
}

/// Everything [`crate::Node::spawn`] needs.
#[derive(Debug)]
pub struct Config {
    /// The person's key: signs envelopes and teasers and is the libp2p identity.
    pub identity: Identity,
    /// The card given to others; its key must be the identity's.
    pub card: SignedCard,
    /// Addresses to listen on, e.g. `/ip4/0.0.0.0/tcp/0` and `/ip4/0.0.0.0/udp/0/quic-v1`.
    pub listen: Vec<Multiaddr>,
    pub policy: Policy,
    /// Find and announce peers on the local network with mDNS.
    pub mdns: bool,
    /// The teaser shown to peers nearby; `None` shows nothing.
    pub teaser: Option<Teaser>,
    /// The event named in every envelope this node gives: a label the person chose (e.g.
    /// "RustConf 2026"), never an event code (envelopes are stored and shown to others).
    pub label: Option<String>,
    /// Relays to keep a reservation on, each ending in `/p2p/<relay peer id>` (at most 8).
    pub relays: Vec<Multiaddr>,
    /// Event codes to join on every relay (at most 8, with those joined later by
    /// [`crate::Node::join_event`]), or join URIs (their relays are added to `relays`, and
    /// kept as one fleet when the URI says `fleet=1`). proto-spec/relay.md
    pub event_codes: Vec<String>,
    /// Which peers `auto` answers without asking. proto-spec/exchange.md#consent
    pub scope: Scope,
    /// What the application's records say about other people (holders, contacts, revoked,
    /// pending inbox items), for the consent rule; replace it with [`crate::Node::set_peers`].
    pub peers: Peers,
    /// What my gives carry besides the card; `None`: nothing (format-1 envelopes). Replace it
    /// with [`crate::Node::set_links`].
    pub links: Option<GiveLinks>,
    pub limits: Limits,
}

impl Config {
    /// A configuration with no listen address, policy `auto` for anyone, no mDNS, no teaser,
    /// no event, no relay.
    pub fn new(identity: Identity, card: SignedCard) -> Self {
        Self {
            identity,
            card,
            listen: Vec::new(),
            policy: Policy::Auto,
            mdns: false,
            teaser: None,
            label: None,
            relays: Vec::new(),
            event_codes: Vec::new(),
            scope: Scope::Anyone,
            peers: Peers::default(),
            links: None,
            limits: Limits::default(),
        }
    }
}
