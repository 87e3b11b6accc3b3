//! The reservations the relay holds, one per connection, and the caps on how many one host
//! and one site hold at once. proto-spec/relay.md#limits
//!
//! libp2p-relay 0.22 caps reservations per peer and in total, and lets rate limiters slow
//! them down, but nothing caps what one *address* holds: a peer id costs nothing, so three
//! hosts with fresh peer ids took all 2,048 slots and every newcomer after them was refused
//! (docs/reliability.md, the netns flood). Its events do not say which connection they are
//! about either, and it reports `ReservationClosed` for every closed connection, whether or
//! not it held a reservation, so counting its events gives a wrong number.
//!
//! [`Behaviour`] wraps the relay and keeps a [`Table`] that mirrors the relay's own per
//! connection state: a [`Gate`], the last of the relay's reservation rate limiters, sees each
//! request that passed every other check (so the relay accepts it iff the gate says yes) and
//! admits it only under the [`Caps`]; the wrapper drains the relay's events after every call
//! into it, so each event is known to come from the connection of that call, and a closed or
//! timed-out connection releases exactly the reservation it held.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use libp2p::core::{transport::PortUse, Endpoint, Multiaddr};
use libp2p::swarm::{
    ConnectionClosed, ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler,
    THandlerInEvent, THandlerOutEvent, ToSwarm,
};
use libp2p::{relay, PeerId};
use prometheus_client::metrics::counter::Counter;

use crate::iplimit::ip_of;
use crate::prefix::{self, Prefix};

/// How many reservations one host and one site may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Reservations one host (an IPv4 address, an IPv6 /64) holds at most.
    pub per_host: usize,
    /// Reservations one site (an IPv4 address, an IPv6 /48) always gets; more only while the
    /// relay holds fewer than half of `total`.
    pub site_share: usize,
    /// The relay's `max_reservations`.
    pub total: usize,
}

/// Why a reservation was refused by a [`Caps`] cap.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Exceeded {
    #[error("{0} already holds {1} reservations")]
    Host(Prefix, usize),
    #[error("{0} already holds {1} reservations, its share once the relay is half full")]
    SiteShare(Prefix, usize),
}

impl Exceeded {
    /// The cap that refused, as the `cap` label of the refusal metrics (service
    /// `reservations`).
    pub fn cap(&self) -> &'static str {
        match self {
            Exceeded::Host(..) => "reservations_per_host",
            Exceeded::SiteShare(..) => "reservation_site_share",
        }
    }
}

/// A connection that holds a reservation.
#[derive(Debug, Clone, Copy)]
struct Holder {
    peer: PeerId,
    /// Its host and site; none for a connection without an IP address (counted in the
    /// total and for its peer only).
    from: Option<(Prefix, Prefix)>,
}

/// Reservations held, per connection, counted by peer, host and site.
///
/// Bounded: a connection holds at most one reservation, and the relay accepts at most
/// `max_reservations` of them, so `held` and the counts have at most that many entries.
#[derive(Debug)]
pub struct Table {
    caps: Caps,
    held: HashMap<ConnectionId, Holder>,
    by_peer: HashMap<PeerId, usize>,
    by_host: HashMap<Prefix, usize>,
    by_site: HashMap<Prefix, usize>,
    /// The connection whose event the relay is handling now: what the [`Gate`] admits.
    current: Option<ConnectionId>,
}

fn add<K: std::hash::Hash + Eq>(m: &mut HashMap<K, usize>, k: K) {
    *m.entry(k).or_insert(0) += 1;
}

fn sub<K: std::hash::Hash + Eq>(m: &mut HashMap<K, usize>, k: &K) {
    if let Some(n) = m.get_mut(k) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            m.remove(k);
        }
    }
}

impl Table {
    pub fn new(caps: Caps) -> Self {
        Self {
            caps,
            held: HashMap::new(),
            by_peer: HashMap::new(),
            by_host: HashMap::new(),
            by_site: HashMap::new(),
            current: None,
        }
    }

    /// Reservations held in all.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// Reservations `peer` holds (over all its connections).
    pub fn of_peer(&self, peer: &PeerId) -> usize {
        self.by_peer.get(peer).copied().unwrap_or(0)
    }

    /// Reservations the host of `ip` holds.
    pub fn of_host(&self, ip: IpAddr) -> usize {
        self.by_host.get(&prefix::host(ip)).copied().unwrap_or(0)
    }

    /// Holds a reservation for `peer` on `conn`, or says which cap refuses it. A connection
    /// that already holds one renews it: admitted, and not counted twice.
    pub fn admit(
        &mut self,
        peer: PeerId,
        conn: ConnectionId,
        ip: Option<IpAddr>,
    ) -> Result<(), Exceeded> {
        if self.held.contains_key(&conn) {
            return Ok(());
        }
        if let Some(ip) = ip {
            let (host, site) = (prefix::host(ip), prefix::site(ip));
            let on_host = self.by_host.get(&host).copied().unwrap_or(0);
            if on_host >= self.caps.per_host {
                return Err(Exceeded::Host(host, on_host));
            }
            let on_site = self.by_site.get(&site).copied().unwrap_or(0);
            if on_site >= self.caps.site_share && self.held.len() >= self.caps.total / 2 {
                return Err(Exceeded::SiteShare(site, on_site));
            }
        }
        self.hold(peer, conn, ip);
        Ok(())
    }

    /// Counts a reservation on `conn` whatever the caps say (the relay holds it already).
    fn hold(&mut self, peer: PeerId, conn: ConnectionId, ip: Option<IpAddr>) {
        if self.held.contains_key(&conn) {
            return;
        }
        let from = ip.map(|ip| (prefix::host(ip), prefix::site(ip)));
        if let Some((host, site)) = from {
            add(&mut self.by_host, host);
            add(&mut self.by_site, site);
        }
        add(&mut self.by_peer, peer);
        self.held.insert(conn, Holder { peer, from });
    }

    /// Releases the reservation `conn` held, if it held one.
    pub fn release(&mut self, conn: ConnectionId) -> bool {
        let Some(h) = self.held.remove(&conn) else {
            return false;
        };
        if let Some((host, site)) = h.from {
            sub(&mut self.by_host, &host);
            sub(&mut self.by_site, &site);
        }
        sub(&mut self.by_peer, &h.peer);
        true
    }
}

fn lock(t: &Mutex<Table>) -> MutexGuard<'_, Table> {
    // The table stays consistent between statements, so a panic elsewhere leaves it usable.
    t.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The relay's last reservation rate limiter: admits a request into the [`Table`] under its
/// caps. libp2p asks the limiters only once the per-peer and total caps allowed a request and
/// stops at the first that refuses, so when the last one says yes the relay accepts.
pub struct Gate {
    table: Arc<Mutex<Table>>,
    refused_host: Counter,
    refused_share: Counter,
}

impl relay::RateLimiter for Gate {
    fn try_next(&mut self, peer: PeerId, addr: &Multiaddr, _: std::time::Instant) -> bool {
        let mut t = lock(&self.table);
        // Only the wrapper calls into the relay, and it always says which connection for.
        let Some(conn) = t.current else {
            return true;
        };
        match t.admit(peer, conn, ip_of(addr)) {
            Ok(()) => true,
            Err(e) => {
                match e {
                    Exceeded::Host(..) => self.refused_host.inc(),
                    Exceeded::SiteShare(..) => self.refused_share.inc(),
                };
                tracing::debug!(%peer, %e, "reservation refused");
                false
            }
        }
    }
}

/// The relay, wrapped: its events pass through unchanged, and [`Behaviour::held`] says how
/// many reservations it holds.
pub struct Behaviour {
    inner: relay::Behaviour,
    table: Arc<Mutex<Table>>,
    /// The relay's output, drained after every call into it (so each event is known to come
    /// from that call) and handed to the swarm by `poll`: a few per call, as the relay's own
    /// queue would hold.
    queue: VecDeque<ToSwarm<relay::Event, THandlerInEvent<relay::Behaviour>>>,
}

/// Counters for the refusals by each cap.
pub struct Refusals {
    pub per_host: Counter,
    pub site_share: Counter,
}

impl Behaviour {
    /// A relay with `config` whose reservations are also held under `caps`; the gate is
    /// appended to the reservation rate limiters (it must be the last).
    pub fn new(
        local_peer_id: PeerId,
        mut config: relay::Config,
        caps: Caps,
        refusals: Refusals,
    ) -> Self {
        let table = Arc::new(Mutex::new(Table::new(caps)));
        config.reservation_rate_limiters.push(Box::new(Gate {
            table: table.clone(),
            refused_host: refusals.per_host,
            refused_share: refusals.site_share,
        }));
        Self {
            inner: relay::Behaviour::new(local_peer_id, config),
            table,
            queue: VecDeque::new(),
        }
    }

    /// Reservations held in all.
    pub fn held(&self) -> usize {
        lock(&self.table).len()
    }

    /// Reservations `peer` holds.
    pub fn held_by(&self, peer: &PeerId) -> usize {
        lock(&self.table).of_peer(peer)
    }

    /// Moves the relay's queued output to ours; `conn` is the connection the call that
    /// produced it was about.
    fn drain(&mut self, conn: Option<ConnectionId>) {
        let mut cx = Context::from_waker(Waker::noop());
        while let Poll::Ready(ev) = self.inner.poll(&mut cx) {
            if let (Some(conn), ToSwarm::GenerateEvent(e)) = (conn, &ev) {
                let mut t = lock(&self.table);
                match e {
                    // The gate admitted it already; this only mirrors the relay, which marks
                    // the connection again when its handler confirms.
                    relay::Event::ReservationReqAccepted { src_peer_id, .. } => {
                        t.hold(*src_peer_id, conn, None);
                    }
                    relay::Event::ReservationTimedOut { .. } => {
                        t.release(conn);
                    }
                    _ => {}
                }
            }
            self.queue.push_back(ev);
        }
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = THandler<relay::Behaviour>;
    type ToSwarm = relay::Event;

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
        self.inner
            .handle_established_inbound_connection(id, peer, local, remote)
    }

    fn handle_pending_outbound_connection(
        &mut self,
        id: ConnectionId,
        peer: Option<PeerId>,
        addrs: &[Multiaddr],
        role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        self.inner
            .handle_pending_outbound_connection(id, peer, addrs, role)
    }

    fn handle_established_outbound_connection(
        &mut self,
        id: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        role: Endpoint,
        port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.inner
            .handle_established_outbound_connection(id, peer, addr, role, port_use)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        let closed = match &event {
            FromSwarm::ConnectionClosed(ConnectionClosed { connection_id, .. }) => {
                Some(*connection_id)
            }
            _ => None,
        };
        self.inner.on_swarm_event(event);
        // The relay reports `ReservationClosed` for this connection whether or not it held a
        // reservation; the table releases one only if it did.
        if let Some(conn) = closed {
            lock(&self.table).release(conn);
        }
        self.drain(None);
    }

    fn on_connection_handler_event(
        &mut self,
        peer: PeerId,
        conn: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        lock(&self.table).current = Some(conn);
        self.inner.on_connection_handler_event(peer, conn, event);
        lock(&self.table).current = None;
        self.drain(Some(conn));
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<ToSwarm<relay::Event, THandlerInEvent<Self>>> {
        if let Some(ev) = self.queue.pop_front() {
            return Poll::Ready(ev);
        }
        // Empty after every drain; polled for the relay to keep the swarm's waker.
        self.inner.poll(cx)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test fails by panicking")]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    fn conn(n: usize) -> ConnectionId {
        ConnectionId::new_unchecked(n)
    }

    #[test]
    fn one_host_with_fresh_peer_ids_is_capped_and_others_still_reserve() {
        let mut t = Table::new(Caps {
            per_host: 3,
            site_share: 100,
            total: 100,
        });
        for n in 0..3 {
            t.admit(PeerId::random(), conn(n), ip("2001:db8:0:1::1"))
                .unwrap();
        }
        // Another address of the same /64 is the same host.
        let e = t
            .admit(PeerId::random(), conn(3), ip("2001:db8:0:1:ffff::9"))
            .unwrap_err();
        assert_eq!(
            (e.cap(), &e),
            (
                "reservations_per_host",
                &Exceeded::Host(prefix::host("2001:db8:0:1::".parse().unwrap()), 3)
            )
        );
        t.admit(PeerId::random(), conn(4), ip("2001:db8:0:2::1"))
            .unwrap();
        t.admit(PeerId::random(), conn(5), ip("192.0.2.1")).unwrap();
        assert_eq!(t.len(), 5);
        assert_eq!(t.of_host("2001:db8:0:1::5".parse().unwrap()), 3);
        // A released reservation frees its host's slot.
        assert!(t.release(conn(0)));
        t.admit(PeerId::random(), conn(6), ip("2001:db8:0:1::1"))
            .unwrap();
    }

    #[test]
    fn a_site_gets_more_than_its_share_only_while_the_relay_is_under_half_full() {
        let mut t = Table::new(Caps {
            per_host: 100,
            site_share: 2,
            total: 8,
        });
        // One site takes the first half, rotating through its /64s.
        for n in 0..4u16 {
            let a = IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 7, n, 0, 0, 0, 1));
            t.admit(PeerId::random(), conn(n.into()), Some(a)).unwrap();
        }
        let e = t
            .admit(PeerId::random(), conn(10), ip("2001:db8:7:ffff::1"))
            .unwrap_err();
        assert_eq!(e.cap(), "reservation_site_share");
        // Every other site still gets its share, and no more.
        for (n, a) in [(11, "192.0.2.1"), (12, "192.0.2.1"), (13, "2001:db8:8::1")] {
            t.admit(PeerId::random(), conn(n), ip(a)).unwrap();
        }
        assert_eq!(
            t.admit(PeerId::random(), conn(14), ip("192.0.2.1")),
            Err(Exceeded::SiteShare(
                prefix::site("192.0.2.1".parse().unwrap()),
                2
            ))
        );
    }

    /// What the defaults are sized for: a fleet of four relays holding 10,000 attendees, each
    /// reserving on two, half of them behind one venue NAT and half on carriers' addresses
    /// (CGNAT pools of 50 each): 5,000 reservations per relay, 6,667 once a relay is down.
    /// Whatever order they come in, the shares never bind and the venue fits.
    #[test]
    fn a_fleet_relays_share_of_10000_attendees_with_a_venue_nat_fits_in_any_order() {
        let l = crate::config::Limits::default();
        let caps = Caps {
            per_host: l.max_reservations_per_host,
            site_share: l.reservation_site_share,
            total: l.max_reservations,
        };
        let venue: IpAddr = [198, 51, 100, 1].into();
        let carrier = |i: usize| IpAddr::from([203, 0, 113, (i / 50) as u8]);
        for per_relay in [5_000usize, 6_667] {
            let orders: [Vec<bool>; 3] = [
                (0..per_relay).map(|i| i < per_relay / 2).collect(),
                (0..per_relay)
                    .map(|i| i >= per_relay - per_relay / 2)
                    .collect(),
                (0..per_relay).map(|i| i % 2 == 0).collect(),
            ];
            for order in orders {
                let mut t = Table::new(caps);
                let mut carriers = 0;
                for (n, at_venue) in order.into_iter().enumerate() {
                    let ip = if at_venue {
                        venue
                    } else {
                        carriers += 1;
                        carrier(carriers - 1)
                    };
                    t.admit(PeerId::random(), conn(n), Some(ip)).unwrap();
                }
                assert_eq!(t.len(), per_relay);
            }
        }
        // A venue of 5,000 on a relay of its own fits too.
        let mut t = Table::new(caps);
        for n in 0..5_000 {
            t.admit(PeerId::random(), conn(n), Some(venue)).unwrap();
        }
    }

    #[test]
    fn a_renewal_is_not_counted_twice_and_only_a_holder_releases() {
        let mut t = Table::new(Caps {
            per_host: 1,
            site_share: 1,
            total: 2,
        });
        let p = PeerId::random();
        t.admit(p, conn(1), ip("192.0.2.1")).unwrap();
        // Renewing on the same connection is admitted even at the host's cap.
        t.admit(p, conn(1), ip("192.0.2.1")).unwrap();
        t.hold(p, conn(1), None);
        assert_eq!((t.len(), t.of_peer(&p)), (1, 1));
        // A connection that never reserved releases nothing.
        assert!(!t.release(conn(2)));
        assert_eq!(t.len(), 1);
        assert!(t.release(conn(1)));
        assert!(!t.release(conn(1)));
        assert!(t.is_empty());
        assert_eq!(t.of_peer(&p), 0);
    }
}
