//! A light libp2p client: its own identity and swarm, TCP dialed from a chosen loopback
//! address (so that the relays see attendees behind several hosts), the circuit relay client,
//! the rendezvous client and the teaser board, and with `--ping` libp2p's ping as nodes run it.
//! No identify, DCUtR or exchange protocol.

use std::net::IpAddr;
use std::time::Duration;

use futures::StreamExt;
use libp2p::core::upgrade::Version;
use libp2p::core::Transport;
use libp2p::identity::Keypair;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{noise, ping, relay, rendezvous, request_response, yamux, Swarm};
use meishi_relay::board;

use crate::source_tcp::SourceTcp;

type Error = Box<dyn std::error::Error>;

#[derive(NetworkBehaviour)]
pub struct Client {
    pub relay: relay::client::Behaviour,
    pub rendezvous: rendezvous::client::Behaviour,
    pub board: request_response::Behaviour<board::Codec>,
    pub ping: Toggle<ping::Behaviour>,
}

pub type Ev = SwarmEvent<ClientEvent>;

/// How long one request or reservation may take before it counts as failed.
pub const STEP: Duration = Duration::from_secs(60);

/// A client with a fresh identity dialing from `src`; connections with nothing to do close
/// after `idle` (a reservation keeps its connection open). With `ping`, it pings every
/// connection at that interval, as a node does its relays (`Limits::ping_interval`, 60 s; 15 s until 2026-11-30).
pub fn swarm(src: IpAddr, idle: Duration, ping: Option<Duration>) -> Result<Swarm<Client>, Error> {
    let key = Keypair::generate_ed25519();
    let tcp = SourceTcp(src)
        .upgrade(Version::V1Lazy)
        .authenticate(noise::Config::new(&key)?)
        .multiplex(yamux::Config::default());
    Ok(libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_other_transport(|_| tcp)?
        .with_relay_client(noise::Config::new, yamux::Config::default)?
        .with_behaviour(|key, relay| Client {
            relay,
            rendezvous: rendezvous::client::Behaviour::new(key.clone()),
            board: request_response::Behaviour::with_codec(
                board::Codec::default(),
                [(board::PROTOCOL, request_response::ProtocolSupport::Outbound)],
                request_response::Config::default().with_request_timeout(STEP),
            ),
            ping: ping
                .map(|every| ping::Behaviour::new(ping::Config::new().with_interval(every)))
                .into(),
        })?
        .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
        .build())
}

/// Drives the swarm until `f` picks an event; `None` after [`STEP`].
pub async fn next<T>(s: &mut Swarm<Client>, mut f: impl FnMut(Ev) -> Option<T>) -> Option<T> {
    tokio::time::timeout(STEP, async {
        loop {
            if let Some(t) = f(s.select_next_some().await) {
                return t;
            }
        }
    })
    .await
    .ok()
}

/// Drives the swarm (keeping its connections served) for `d`, handing every event to `f`.
pub async fn idle(s: &mut Swarm<Client>, d: Duration, mut f: impl FnMut(Ev)) {
    let sleep = tokio::time::sleep(d);
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            _ = &mut sleep => return,
            ev = s.select_next_some() => f(ev),
        }
    }
}
