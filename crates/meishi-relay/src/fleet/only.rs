//! A behaviour that exists only on connections to fleet peers.
//!
//! The relay holds thousands of connections to nodes and a handful to the other relays of its
//! fleet. Gossipsub would offer itself on every one of them (and open a stream to each node to
//! send its subscriptions), and the catch-up protocol must be answered to fleet peers only.
//! [`Only`] gives its inner behaviour the connections of the listed peers and a
//! [`dummy::ConnectionHandler`] on every other one: a node cannot even negotiate the fleet's
//! protocols, and the inner behaviour never learns that such connections exist (so it never
//! addresses one).

use std::collections::HashSet;
use std::convert::Infallible;
use std::task::{Context, Poll};

use either::Either;
use libp2p::core::{transport::PortUse, Endpoint, Multiaddr};
use libp2p::swarm::{
    behaviour::ConnectionEstablished, dummy, AddressChange, ConnectionClosed, ConnectionDenied,
    ConnectionId, DialFailure, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm,
};
use libp2p::PeerId;

/// `B` on the connections of `members`, nothing on the others.
pub struct Only<B> {
    members: HashSet<PeerId>,
    inner: B,
}

impl<B> Only<B> {
    pub fn new(members: HashSet<PeerId>, inner: B) -> Self {
        Self { members, inner }
    }

    pub fn inner(&self) -> &B {
        &self.inner
    }

    pub fn inner_mut(&mut self) -> &mut B {
        &mut self.inner
    }

    /// Whether `peer` gets the inner behaviour.
    pub fn admits(&self, peer: &PeerId) -> bool {
        self.members.contains(peer)
    }

    /// Whether the inner behaviour should hear of this swarm event: every event about a
    /// connection or a dial of a peer that is not a member is kept from it.
    fn concerns_members(&self, event: &FromSwarm) -> bool {
        match event {
            FromSwarm::ConnectionEstablished(ConnectionEstablished { peer_id, .. })
            | FromSwarm::ConnectionClosed(ConnectionClosed { peer_id, .. })
            | FromSwarm::AddressChange(AddressChange { peer_id, .. }) => self.admits(peer_id),
            FromSwarm::DialFailure(DialFailure { peer_id, .. }) => {
                peer_id.is_none_or(|p| self.admits(&p))
            }
            _ => true,
        }
    }
}

impl<B: NetworkBehaviour> NetworkBehaviour for Only<B> {
    type ConnectionHandler = Either<THandler<B>, dummy::ConnectionHandler>;
    type ToSwarm = B::ToSwarm;

    fn handle_pending_inbound_connection(
        &mut self,
        id: ConnectionId,
        local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        self.inner
            .handle_pending_inbound_connection(id, local, remote)
    }

    fn handle_established_inbound_connection(
        &mut self,
        id: ConnectionId,
        peer: PeerId,
        local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        if !self.admits(&peer) {
            return Ok(Either::Right(dummy::ConnectionHandler));
        }
        self.inner
            .handle_established_inbound_connection(id, peer, local, remote)
            .map(Either::Left)
    }

    fn handle_pending_outbound_connection(
        &mut self,
        id: ConnectionId,
        peer: Option<PeerId>,
        addrs: &[Multiaddr],
        role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        match peer {
            Some(p) if self.admits(&p) => self
                .inner
                .handle_pending_outbound_connection(id, peer, addrs, role),
            _ => Ok(Vec::new()),
        }
    }

    fn handle_established_outbound_connection(
        &mut self,
        id: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        role: Endpoint,
        port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        if !self.admits(&peer) {
            return Ok(Either::Right(dummy::ConnectionHandler));
        }
        self.inner
            .handle_established_outbound_connection(id, peer, addr, role, port_use)
            .map(Either::Left)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        if self.concerns_members(&event) {
            self.inner.on_swarm_event(event);
        }
    }

    fn on_connection_handler_event(
        &mut self,
        peer: PeerId,
        conn: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {
            Either::Left(e) => self.inner.on_connection_handler_event(peer, conn, e),
            Either::Right(never) => match never {},
        }
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<ToSwarm<B::ToSwarm, THandlerInEvent<Self>>> {
        self.inner
            .poll(cx)
            .map(|ev| ev.map_in(Either::<_, Infallible>::Left))
    }
}
