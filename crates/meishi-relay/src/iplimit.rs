//! A cap on concurrent connections from one IP address.
//!
//! libp2p's connection limits count per peer and in total, not per address, and the relay's
//! own rate limiters only slow reservations down. This behaviour refuses a connection once
//! one address already holds `max` of them, so a single host cannot take every slot, while
//! a venue NAT with hundreds of attendees still fits under a cap sized for it.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::IpAddr;
use std::task::{Context, Poll};

use libp2p::core::{transport::PortUse, Endpoint, Multiaddr};
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{
    dummy, ConnectionClosed, ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler,
    THandlerInEvent, THandlerOutEvent, ToSwarm,
};
use libp2p::PeerId;

/// Refusal reason carried in [`ConnectionDenied`].
#[derive(Debug, thiserror::Error)]
#[error("{ip} already holds {max} connections")]
pub struct PerIpExceeded {
    pub ip: IpAddr,
    pub max: usize,
}

/// The behaviour. Place it last in the composed behaviour: it counts a connection only once
/// every behaviour before it has accepted it.
pub struct Behaviour {
    max: usize,
    by_ip: HashMap<IpAddr, usize>,
    conns: HashMap<ConnectionId, IpAddr>,
}

/// The IP address of a multiaddr, if it has one.
pub fn ip_of(addr: &Multiaddr) -> Option<IpAddr> {
    addr.iter().find_map(|p| match p {
        Protocol::Ip4(a) => Some(IpAddr::V4(a)),
        Protocol::Ip6(a) => Some(IpAddr::V6(a)),
        _ => None,
    })
}

impl Behaviour {
    pub fn new(max: usize) -> Self {
        Self {
            max,
            by_ip: HashMap::new(),
            conns: HashMap::new(),
        }
    }

    /// Connections held by `ip` now.
    pub fn count(&self, ip: &IpAddr) -> usize {
        self.by_ip.get(ip).copied().unwrap_or(0)
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_established_inbound_connection(
        &mut self,
        id: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        if let Some(ip) = ip_of(remote) {
            let n = self.by_ip.entry(ip).or_insert(0);
            if *n >= self.max {
                return Err(ConnectionDenied::new(PerIpExceeded { ip, max: self.max }));
            }
            *n += 1;
            self.conns.insert(id, ip);
        }
        Ok(dummy::ConnectionHandler)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        // Outbound connections (AutoNAT dial-backs) are the relay's own; not capped here.
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        if let FromSwarm::ConnectionClosed(ConnectionClosed { connection_id, .. }) = event {
            if let Some(ip) = self.conns.remove(&connection_id) {
                if let Some(n) = self.by_ip.get_mut(&ip) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        self.by_ip.remove(&ip);
                    }
                }
            }
        }
    }

    fn on_connection_handler_event(
        &mut self,
        _: PeerId,
        _: ConnectionId,
        e: THandlerOutEvent<Self>,
    ) {
        match e {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Infallible, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}
