//! The composed network behaviour: stock libp2p behaviours plus the exchange protocol.
//! The slot client asks relays for card slot records (see the `slots` module), the drop client
//! leaves and collects sealed messages in drop boxes (see the `drops` module).
//!
//! The relay client, DCUtR, the rendezvous client and the teaser board client serve events
//! across networks (see the `attend` module); they stay idle when no relay is configured.

use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::NetworkBehaviour;
use libp2p::{
    connection_limits, dcutr, identify, identity, mdns, ping, relay, rendezvous, request_response,
};

use crate::attend::{BoardCodec, BOARD_PROTOCOL};
use crate::config::Limits;
use crate::drops::{DropCodec, DROP_PROTOCOL, MAX_DROP_REQUESTS};
use crate::protocol::{Codec, EXCHANGE_PROTOCOL};
use crate::slots::{SlotCodec, MAX_SLOT_REQUESTS, SLOT_PROTOCOL};

/// Identify's protocol version: peers announce which meishi network they speak.
/// proto-spec/exchange.md#protocol-id
pub const IDENTIFY_PROTOCOL_VERSION: &str = "/meishi/1";

#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    /// First, so connections over the limits are denied before anything else sees them.
    pub(crate) limits: connection_limits::Behaviour,
    pub(crate) relay_client: relay::client::Behaviour,
    pub(crate) identify: identify::Behaviour,
    pub(crate) ping: ping::Behaviour,
    pub(crate) mdns: Toggle<mdns::tokio::Behaviour>,
    pub(crate) exchange: request_response::Behaviour<Codec>,
    pub(crate) dcutr: dcutr::Behaviour,
    pub(crate) rendezvous: rendezvous::client::Behaviour,
    /// The relays' teaser board (outbound only: relays serve it).
    pub(crate) board: request_response::Behaviour<BoardCodec>,
}

/// The relay client for card slots and drop boxes, on a swarm of its own whose libp2p identity
/// is a random key made for each run: a relay that keeps my slot and my boxes, or the boxes I
/// write to, does not learn my peer id from the connection (it sees this run's random one, and
/// the IP address). proto-spec/slot.md#privacy, docs/privacy.md
#[derive(NetworkBehaviour)]
pub(crate) struct Anon {
    pub(crate) limits: connection_limits::Behaviour,
    /// The relays' card slots (outbound only: relays serve them).
    pub(crate) slots: request_response::Behaviour<SlotCodec>,
    /// The relays' drop boxes (outbound only: relays serve them).
    pub(crate) drops: request_response::Behaviour<DropCodec>,
}

impl Anon {
    pub(crate) fn new(limits: &Limits) -> Self {
        let connection_limits = connection_limits::ConnectionLimits::default()
            .with_max_established(Some(limits.max_connections))
            .with_max_established_per_peer(Some(limits.max_connections_per_peer))
            .with_max_pending_incoming(Some(0))
            .with_max_pending_outgoing(Some(limits.max_pending_connections));
        Self {
            limits: connection_limits::Behaviour::new(connection_limits),
            slots: request_response::Behaviour::with_codec(
                SlotCodec::default(),
                [(SLOT_PROTOCOL, request_response::ProtocolSupport::Outbound)],
                request_response::Config::default()
                    .with_request_timeout(limits.request_timeout)
                    .with_max_concurrent_streams(MAX_SLOT_REQUESTS),
            ),
            drops: request_response::Behaviour::with_codec(
                DropCodec::default(),
                [(DROP_PROTOCOL, request_response::ProtocolSupport::Outbound)],
                request_response::Config::default()
                    .with_request_timeout(limits.request_timeout)
                    .with_max_concurrent_streams(MAX_DROP_REQUESTS),
            ),
        }
    }
}

impl Behaviour {
    pub(crate) fn new(
        key: &identity::Keypair,
        relay_client: relay::client::Behaviour,
        limits: &Limits,
        mdns: Option<mdns::tokio::Behaviour>,
    ) -> Self {
        let peer_id = key.public().to_peer_id();
        let connection_limits = connection_limits::ConnectionLimits::default()
            .with_max_established(Some(limits.max_connections))
            .with_max_established_per_peer(Some(limits.max_connections_per_peer))
            .with_max_pending_incoming(Some(limits.max_pending_connections))
            .with_max_pending_outgoing(Some(limits.max_pending_connections));
        let identify = identify::Config::new(IDENTIFY_PROTOCOL_VERSION.to_owned(), key.public())
            .with_agent_version(format!("meishi/{}", env!("CARGO_PKG_VERSION")))
            // No cache: identify would offer every address a peer reports about itself to
            // every dial of it. The event loop keeps a bounded few and dials at most
            // `MAX_DIAL_ADDRS`, for requests of the user's only (proto-spec/exchange.md#bounds).
            .with_cache_size(0)
            // Tell peers only confirmed external addresses (a relay's circuit address), never
            // the listen addresses: those are LAN, VPN and loopback addresses, and a stranger
            // reaching me through a relay must not learn them. LAN peers find my addresses by
            // mDNS; a peer I dialled sees my address on the connection (TCP and QUIC reuse the
            // listen port); DCUtR uses the addresses peers observed, not these.
            // proto-spec/exchange.md#consent
            .with_hide_listen_addrs(true);
        let exchange = request_response::Behaviour::with_codec(
            Codec,
            [(EXCHANGE_PROTOCOL, request_response::ProtocolSupport::Full)],
            request_response::Config::default()
                .with_request_timeout(limits.request_timeout)
                .with_max_concurrent_streams(limits.max_streams),
        );
        Self {
            limits: connection_limits::Behaviour::new(connection_limits),
            relay_client,
            identify: identify::Behaviour::new(identify),
            ping: ping::Behaviour::new(ping::Config::new().with_interval(limits.ping_interval)),
            mdns: mdns.into(),
            exchange,
            dcutr: dcutr::Behaviour::new(peer_id),
            rendezvous: rendezvous::client::Behaviour::new(key.clone()),
            board: request_response::Behaviour::with_codec(
                BoardCodec::default(),
                [(BOARD_PROTOCOL, request_response::ProtocolSupport::Outbound)],
                request_response::Config::default()
                    .with_request_timeout(limits.request_timeout)
                    .with_max_concurrent_streams(limits.max_streams),
            ),
        }
    }
}
