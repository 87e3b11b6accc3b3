//! Building the swarm: the node's libp2p identity, the transports (TCP and QUIC, each with
//! noise and yamux, plus the relay client), the composed [`Behaviour`], the swarm config, and
//! the first listeners. Kept apart from the event loop because it runs once, before the loop
//! exists, and is the one place to read to learn what the node speaks on the wire.

use libp2p::{mdns, noise, tcp, yamux, Multiaddr, Swarm, SwarmBuilder};
use meishi_card::Identity;

use crate::behaviour::{Anon, Behaviour};
use crate::config::Limits;
use crate::node::SpawnError;

/// Builds the swarm of `identity` and starts listening on `listen`. `mdns` turns on LAN
/// discovery.
pub(crate) fn build(
    identity: &Identity,
    mdns: bool,
    listen: Vec<Multiaddr>,
    limits: &Limits,
) -> Result<Swarm<Behaviour>, SpawnError> {
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
        .with_behaviour(|key, relay_client| Behaviour::new(key, relay_client, limits, mdns))
        .map_err(|e| transport(e.into()))?
        .with_swarm_config(|c| {
            // Every meishi peer speaks every protocol of this swarm, so an outbound stream
            // sends its first message with the protocol proposal instead of waiting a round
            // trip for the confirmation (multistream-select V1Lazy).
            c.with_idle_connection_timeout(limits.idle_timeout)
                .with_substream_upgrade_protocol_override(libp2p::core::upgrade::Version::V1Lazy)
        })
        .build();
    for addr in listen {
        swarm
            .listen_on(addr.clone())
            .map_err(|source| SpawnError::Listen { addr, source })?;
    }
    Ok(swarm)
}

/// Builds the swarm that talks to relays about card slots and drop boxes: a random identity
/// for this run (never the person's key), TCP and QUIC, no listener, nothing else spoken.
pub(crate) fn build_anon(limits: &Limits) -> Result<Swarm<Anon>, SpawnError> {
    let transport = |e: Box<dyn std::error::Error + Send + Sync>| SpawnError::Transport(e);
    Ok(SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| transport(e.into()))?
        .with_quic()
        .with_behaviour(|_| Anon::new(limits))
        .map_err(|e| transport(e.into()))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(limits.idle_timeout))
        .build())
}
