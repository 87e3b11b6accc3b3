//! A cap on concurrent connections from one host and from one site.
//!
//! libp2p's connection limits count per peer and in total, not per address, and the relay's
//! own rate limiters only slow reservations down. This behaviour refuses a connection once
//! its host ([`prefix::host`]: an IPv4 address, an IPv6 /64) or its site ([`prefix::site`]:
//! an IPv4 address, an IPv6 /48) already holds its cap, so a single host cannot take every
//! slot, nor rotate through the addresses of its /64 (or a site through its /64s) to get more,
//! while a venue NAT with hundreds of attendees still fits under a cap sized for it.

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

use crate::prefix::{self, Prefix};

/// Refusal reason carried in [`ConnectionDenied`]: `prefix` (a host or a site, by its
/// length) already holds `max` connections.
#[derive(Debug, thiserror::Error)]
#[error("{prefix} already holds {max} connections")]
pub struct PerIpExceeded {
    pub prefix: Prefix,
    pub max: usize,
    /// Whether the site cap refused (else the host cap).
    pub site: bool,
}

impl PerIpExceeded {
    /// The cap that refused, as the `cap` label of the refusal metrics.
    pub fn cap(&self) -> &'static str {
        if self.site {
            "connections_per_site"
        } else {
            "connections_per_host"
        }
    }
}

/// The behaviour. Place it last in the composed behaviour: it counts a connection only once
/// every behaviour before it has accepted it.
pub struct Behaviour {
    max_host: usize,
    max_site: usize,
    /// Open connections per host and per site (an IPv4 address is both, counted in both).
    by_host: HashMap<Prefix, usize>,
    by_site: HashMap<Prefix, usize>,
    conns: HashMap<ConnectionId, (Prefix, Prefix)>,
}

/// The IP address of a multiaddr, if it has one.
pub fn ip_of(addr: &Multiaddr) -> Option<IpAddr> {
    addr.iter().find_map(|p| match p {
        Protocol::Ip4(a) => Some(IpAddr::V4(a)),
        Protocol::Ip6(a) => Some(IpAddr::V6(a)),
        _ => None,
    })
}

fn release(m: &mut HashMap<Prefix, usize>, k: &Prefix) {
    if let Some(n) = m.get_mut(k) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            m.remove(k);
        }
    }
}

impl Behaviour {
    /// At most `max_host` connections per host and `max_site` per site.
    pub fn new(max_host: usize, max_site: usize) -> Self {
        Self {
            max_host,
            max_site,
            by_host: HashMap::new(),
            by_site: HashMap::new(),
            conns: HashMap::new(),
        }
    }

    /// Connections held by the host of `ip` now.
    pub fn count(&self, ip: IpAddr) -> usize {
        self.by_host.get(&prefix::host(ip)).copied().unwrap_or(0)
    }

    /// Counts a connection from `ip`, or says which cap refuses it.
    fn admit(&mut self, id: ConnectionId, ip: IpAddr) -> Result<(), PerIpExceeded> {
        let (host, site) = (prefix::host(ip), prefix::site(ip));
        if self.by_host.get(&host).copied().unwrap_or(0) >= self.max_host {
            return Err(PerIpExceeded {
                prefix: host,
                max: self.max_host,
                site: false,
            });
        }
        if self.by_site.get(&site).copied().unwrap_or(0) >= self.max_site {
            return Err(PerIpExceeded {
                prefix: site,
                max: self.max_site,
                site: true,
            });
        }
        *self.by_host.entry(host).or_insert(0) += 1;
        *self.by_site.entry(site).or_insert(0) += 1;
        self.conns.insert(id, (host, site));
        Ok(())
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
            self.admit(id, ip).map_err(ConnectionDenied::new)?;
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
            if let Some((host, site)) = self.conns.remove(&connection_id) {
                release(&mut self.by_host, &host);
                release(&mut self.by_site, &site);
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

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test fails by panicking")]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn one_host_rotating_through_its_64_is_capped() {
        let mut b = Behaviour::new(2, 100);
        b.admit(ConnectionId::new_unchecked(1), ip("2001:db8:0:1::1"))
            .unwrap();
        b.admit(ConnectionId::new_unchecked(2), ip("2001:db8:0:1::2"))
            .unwrap();
        let e = b
            .admit(ConnectionId::new_unchecked(3), ip("2001:db8:0:1:ffff::3"))
            .unwrap_err();
        assert_eq!((e.cap(), e.max), ("connections_per_host", 2));
        assert_eq!(b.count(ip("2001:db8:0:1::9")), 2);
        // The next /64 is another host.
        b.admit(ConnectionId::new_unchecked(4), ip("2001:db8:0:2::1"))
            .unwrap();
    }

    #[test]
    fn one_site_rotating_through_its_64s_is_capped() {
        let mut b = Behaviour::new(100, 3);
        for i in 0..3u16 {
            let a = IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 7, i, 0, 0, 0, 1));
            b.admit(ConnectionId::new_unchecked(usize::from(i)), a)
                .unwrap();
        }
        let e = b
            .admit(ConnectionId::new_unchecked(9), ip("2001:db8:7:ffff::1"))
            .unwrap_err();
        assert_eq!((e.cap(), e.max), ("connections_per_site", 3));
        // Another /48, and an IPv4 host, still get in; a closed connection frees its slot.
        b.admit(ConnectionId::new_unchecked(10), ip("2001:db8:8::1"))
            .unwrap();
        b.admit(ConnectionId::new_unchecked(11), ip("192.0.2.1"))
            .unwrap();
        let (h, s) = b.conns.remove(&ConnectionId::new_unchecked(0)).unwrap();
        release(&mut b.by_host, &h);
        release(&mut b.by_site, &s);
        b.admit(ConnectionId::new_unchecked(12), ip("2001:db8:7:ffff::1"))
            .unwrap();
    }
}
