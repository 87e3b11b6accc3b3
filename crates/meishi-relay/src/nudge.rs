//! Wakes every connection now and then, so that libp2p looks again at whether it may close it.
//!
//! libp2p closes a connection once no stream is open and no handler asks to keep it, after the
//! idle timeout. It asks the handlers only when the connection wakes up for some other reason.
//! libp2p-relay's server handler (0.22) asks to keep a connection for 10 s after its
//! reservation ends, or after it opens when it never had one, and nothing wakes the connection
//! when those 10 s are up: a node that only posted its teaser here stayed connected until its
//! own idle timeout ended the connection, and while an event of 10,000 joined, every relay of a
//! fleet held nearly every attendee at once instead of the half it is home to
//! (docs/relay.md#where-a-relays-cpu-and-memory-go). This behaviour's handler wakes its
//! connection every [`PERIOD`]. It keeps open the connections to the relay's fleet peers (which
//! carry no reservation either, and would otherwise close and be dialed again whenever no event
//! is shared), and no other.

use std::collections::HashSet;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use libp2p::core::upgrade::DeniedUpgrade;
use libp2p::core::{transport::PortUse, Endpoint, Multiaddr};
use libp2p::swarm::handler::{ConnectionEvent, FullyNegotiatedInbound, FullyNegotiatedOutbound};
use libp2p::swarm::{
    ConnectionDenied, ConnectionHandler, ConnectionHandlerEvent, ConnectionId, FromSwarm,
    NetworkBehaviour, SubstreamProtocol, THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
};
use libp2p::PeerId;
use tokio::time::{Instant, Sleep};

/// How often each connection is woken. A connection that has nothing to do closes between the
/// relay handler's 10 s and this period plus the idle timeout after its last stream.
pub const PERIOD: Duration = Duration::from_secs(10);

/// The behaviour: a [`Handler`] on every connection, nothing else.
#[derive(Debug, Default)]
pub struct Behaviour {
    /// Peers whose connections are kept open: the fleet.
    keep: HashSet<PeerId>,
}

impl Behaviour {
    pub fn new(keep: HashSet<PeerId>) -> Self {
        Self { keep }
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = Handler;
    type ToSwarm = Infallible;

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(Handler::new(self.keep.contains(&peer)))
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(Handler::new(self.keep.contains(&peer)))
    }

    fn on_swarm_event(&mut self, _: FromSwarm) {}

    fn on_connection_handler_event(
        &mut self,
        _: PeerId,
        _: ConnectionId,
        e: THandlerOutEvent<Self>,
    ) {
        match e {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

/// Wakes its connection every [`PERIOD`]; keeps it open if `keep`.
pub struct Handler {
    keep: bool,
    tick: Pin<Box<Sleep>>,
}

impl Handler {
    fn new(keep: bool) -> Self {
        Self {
            keep,
            tick: Box::pin(tokio::time::sleep(PERIOD)),
        }
    }
}

impl ConnectionHandler for Handler {
    type FromBehaviour = Infallible;
    type ToBehaviour = Infallible;
    type InboundProtocol = DeniedUpgrade;
    type OutboundProtocol = DeniedUpgrade;
    type InboundOpenInfo = ();
    type OutboundOpenInfo = ();

    fn listen_protocol(&self) -> SubstreamProtocol<Self::InboundProtocol> {
        SubstreamProtocol::new(DeniedUpgrade, ())
    }

    fn connection_keep_alive(&self) -> bool {
        self.keep
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ConnectionHandlerEvent<Self::OutboundProtocol, (), Self::ToBehaviour>> {
        // Being polled is the point: the connection then asks every handler again.
        while self.tick.as_mut().poll(cx).is_ready() {
            let next = Instant::now() + PERIOD;
            self.tick.as_mut().reset(next);
        }
        Poll::Pending
    }

    fn on_behaviour_event(&mut self, e: Self::FromBehaviour) {
        match e {}
    }

    fn on_connection_event(
        &mut self,
        event: ConnectionEvent<Self::InboundProtocol, Self::OutboundProtocol>,
    ) {
        match event {
            ConnectionEvent::FullyNegotiatedInbound(FullyNegotiatedInbound {
                protocol, ..
            }) => match protocol {},
            ConnectionEvent::FullyNegotiatedOutbound(FullyNegotiatedOutbound {
                protocol, ..
            }) => match protocol {},
            _ => {}
        }
    }
}
