//! A light libp2p client: its own identity and swarm, TCP dialed from a chosen loopback
//! address (so that the relays see attendees behind several hosts), the circuit relay client,
//! the rendezvous client and the teaser board. No identify, ping, DCUtR or exchange protocol.

use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use libp2p::core::transport::{DialOpts, ListenerId, TransportError, TransportEvent};
use libp2p::core::upgrade::Version;
use libp2p::core::Transport;
use libp2p::identity::Keypair;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{noise, relay, rendezvous, request_response, yamux, Multiaddr, Swarm};
use meishi_relay::board;

type Error = Box<dyn std::error::Error>;

/// A dial-only TCP transport whose sockets are bound to one source address before connecting.
/// (libp2p-tcp's port reuse binds dials to the unspecified address, so a listener on
/// 127.0.0.7 would not make the relay see 127.0.0.7.)
struct SourceTcp(IpAddr);

impl Transport for SourceTcp {
    type Output = libp2p::tcp::tokio::TcpStream;
    type Error = std::io::Error;
    type ListenerUpgrade = futures::future::Pending<Result<Self::Output, Self::Error>>;
    type Dial = BoxFuture<'static, Result<Self::Output, Self::Error>>;

    fn listen_on(
        &mut self,
        _: ListenerId,
        addr: Multiaddr,
    ) -> Result<(), TransportError<Self::Error>> {
        Err(TransportError::MultiaddrNotSupported(addr))
    }

    fn remove_listener(&mut self, _: ListenerId) -> bool {
        false
    }

    fn dial(
        &mut self,
        addr: Multiaddr,
        _: DialOpts,
    ) -> Result<Self::Dial, TransportError<Self::Error>> {
        let mut it = addr.iter();
        let target = match (it.next(), it.next(), it.next()) {
            (Some(Protocol::Ip4(ip)), Some(Protocol::Tcp(port)), None | Some(Protocol::P2p(_)))
                if it.next().is_none() =>
            {
                SocketAddr::new(ip.into(), port)
            }
            _ => return Err(TransportError::MultiaddrNotSupported(addr)),
        };
        let src = self.0;
        Ok(async move {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind(SocketAddr::new(src, 0))?;
            let stream = socket.connect(target).await?;
            stream.set_nodelay(true)?;
            Ok(libp2p::tcp::tokio::TcpStream(stream))
        }
        .boxed())
    }

    fn poll(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<TransportEvent<Self::ListenerUpgrade, Self::Error>> {
        Poll::Pending
    }
}

#[derive(NetworkBehaviour)]
pub struct Client {
    pub relay: relay::client::Behaviour,
    pub rendezvous: rendezvous::client::Behaviour,
    pub board: request_response::Behaviour<board::Codec>,
}

pub type Ev = SwarmEvent<ClientEvent>;

/// How long one request or reservation may take before it counts as failed.
pub const STEP: Duration = Duration::from_secs(60);

/// A client with a fresh identity dialing from `src`; connections with nothing to do close
/// after `idle` (a reservation keeps its connection open).
pub fn swarm(src: IpAddr, idle: Duration) -> Result<Swarm<Client>, Error> {
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
