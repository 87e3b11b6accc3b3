//! LAN discovery: peers found by mDNS on the local network, the tie-break that has only one of
//! two peers dial, and fetching each nearby peer's teaser once connected, announced as
//! [`Event::PeerDiscovered`]. Kept apart from the exchange because it is the one part of the
//! node that acts unasked: it dials and asks for teasers on its own, and only on the LAN.
//! proto-spec/exchange.md#discovery

use std::collections::HashMap;
use std::time::{Duration, Instant};

use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::{Multiaddr, PeerId};
use meishi_card::envelope::SignedTeaser;

use crate::event::{Discovered, Event};
use crate::event_loop::{EventLoop, MAX_ADDRS_PER_PEER};
use crate::node::{key_of, RequestError};
use crate::protocol::{Request, Response};

/// How long the higher peer id waits for the lower one to dial after both found each other by
/// mDNS, before dialing itself. proto-spec/exchange.md#discovery
const TIE_BREAK_GRACE: Duration = Duration::from_secs(3);

/// Where fetching a nearby peer's teaser stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TeaserState {
    /// Found; waiting for a connection (we dialed, or the lower peer id will).
    Waiting { since: Instant, dialed: bool },
    /// Requested on a connection.
    Requested,
    /// Fetched (or failed) and announced with `PeerDiscovered`.
    Done,
}

/// A peer found by mDNS.
pub(crate) struct Nearby {
    pub(crate) addrs: Vec<Multiaddr>,
    teaser: Option<SignedTeaser>,
    state: TeaserState,
    /// When mDNS last announced it.
    seen: Instant,
    /// Teaser requests that failed in transit (a connection closed under them): asked again,
    /// up to [`TEASER_RETRIES`] times, before the peer is announced without a teaser.
    retries: u8,
}

/// How often a teaser request lost in transit is made again. Two peers that find each other
/// at once can both dial; libp2p then closes one of the connections, and a request on it fails.
const TEASER_RETRIES: u8 = 2;

impl Nearby {
    fn new(now: Instant, dial: bool) -> Self {
        Nearby {
            addrs: Vec::new(),
            retries: 0,
            teaser: None,
            state: TeaserState::Waiting {
                since: now,
                dialed: dial,
            },
            seen: now,
        }
    }
}

/// Makes room in a full table of nearby peers (`cap` entries) for one more: evicts the peer
/// least worth keeping, and returns it. Anyone on the LAN can announce any number of peer ids
/// by mDNS, so a full table must not turn a real newcomer away: peers that answered with a
/// teaser or are connected stay longest; among the others (announced, never reached) the one
/// announced least recently goes first. O(cap), on a table of at most `Limits::max_nearby`.
pub(crate) fn make_room(
    nearby: &mut HashMap<PeerId, Nearby>,
    cap: usize,
    connected: impl Fn(&PeerId) -> bool,
) -> Option<PeerId> {
    if nearby.len() < cap.max(1) {
        return None;
    }
    let victim = nearby
        .iter()
        .min_by_key(|(peer, n)| (n.teaser.is_some() || connected(peer), n.seen))
        .map(|(peer, _)| *peer)?;
    nearby.remove(&victim);
    Some(victim)
}

impl EventLoop {
    pub(crate) fn on_mdns_discovered(&mut self, list: Vec<(PeerId, Multiaddr)>) {
        let now = Instant::now();
        let mut to_dial = Vec::new();
        let mut evicted = Vec::new();
        for (peer, addr) in list {
            if peer == self.local {
                continue;
            }
            if !self.nearby.contains_key(&peer) {
                let swarm = &self.swarm;
                if let Some(gone) = make_room(&mut self.nearby, self.limits.max_nearby, |p| {
                    swarm.is_connected(p)
                }) {
                    to_dial.retain(|p| *p != gone);
                    evicted.push(gone);
                }
                // Tie-break: only the lower peer id dials, so two nodes that find each other at
                // once open one connection, not two.
                let dial = self.local.to_bytes() < peer.to_bytes();
                self.nearby.insert(peer, Nearby::new(now, dial));
                if dial {
                    to_dial.push(peer);
                }
            }
            if let Some(n) = self.nearby.get_mut(&peer) {
                n.seen = now;
                if !n.addrs.contains(&addr) && n.addrs.len() < MAX_ADDRS_PER_PEER {
                    n.addrs.push(addr);
                }
            }
        }
        for peer in evicted {
            if !self.nearby.contains_key(&peer) {
                self.emit(Event::PeerExpired { peer });
            }
        }
        for peer in to_dial {
            if self.swarm.is_connected(&peer) {
                self.request_teaser_if_nearby(peer);
            } else {
                let addrs = self
                    .nearby
                    .get(&peer)
                    .map(|n| n.addrs.clone())
                    .unwrap_or_default();
                self.dial_nearby(peer, addrs);
            }
        }
    }

    pub(crate) fn on_mdns_expired(&mut self, list: Vec<(PeerId, Multiaddr)>) {
        let mut gone = Vec::new();
        for (peer, addr) in list {
            if let Some(n) = self.nearby.get_mut(&peer) {
                n.addrs.retain(|a| *a != addr);
                if n.addrs.is_empty() {
                    gone.push(peer);
                }
            }
        }
        for peer in gone {
            self.nearby.remove(&peer);
            self.emit(Event::PeerExpired { peer });
        }
    }

    /// Tie-break fallback: the lower peer id should have dialed by now; if not, dial.
    pub(crate) fn dial_late_nearby(&mut self, now: Instant) {
        let mut late = Vec::new();
        for (peer, n) in &mut self.nearby {
            if let TeaserState::Waiting {
                since,
                dialed: false,
            } = n.state
            {
                if now.saturating_duration_since(since) >= TIE_BREAK_GRACE {
                    n.state = TeaserState::Waiting {
                        since,
                        dialed: true,
                    };
                    late.push((*peer, n.addrs.clone()));
                }
            }
        }
        for (peer, addrs) in late {
            self.dial_nearby(peer, addrs);
        }
    }

    fn dial_nearby(&mut self, peer: PeerId, addrs: Vec<Multiaddr>) {
        let opts = DialOpts::peer_id(peer)
            .addresses(addrs)
            .condition(PeerCondition::DisconnectedAndNotDialing)
            .build();
        if let Err(e) = self.swarm.dial(opts) {
            tracing::debug!(%peer, error = %e, "dialing a nearby peer failed");
        }
    }

    /// A dial to `peer` failed: a nearby peer we could not reach is still listed, without a
    /// teaser.
    pub(crate) fn on_nearby_unreachable(&mut self, peer: PeerId) {
        if let Some(n) = self.nearby.get_mut(&peer) {
            if matches!(n.state, TeaserState::Waiting { dialed: true, .. })
                && !self.swarm.is_connected(&peer)
            {
                n.state = TeaserState::Done;
                let addrs = n.addrs.clone();
                self.emit(Event::PeerDiscovered {
                    peer,
                    addrs,
                    teaser: None,
                });
            }
        }
    }

    /// Asks a nearby peer for its teaser, once, when connected to it.
    pub(crate) fn request_teaser_if_nearby(&mut self, peer: PeerId) {
        let Some(n) = self.nearby.get_mut(&peer) else {
            return;
        };
        if matches!(n.state, TeaserState::Waiting { .. }) {
            n.state = TeaserState::Requested;
            let id = self
                .swarm
                .behaviour_mut()
                .exchange
                .send_request(&peer, Request::Teaser);
            self.teaser_requests.insert(id, peer);
        }
    }

    /// The answer to [`Self::request_teaser_if_nearby`]: the peer is announced, with its
    /// teaser if it sent a valid one of its own.
    pub(crate) fn on_nearby_teaser(
        &mut self,
        peer: PeerId,
        response: Result<Response, RequestError>,
    ) {
        // Lost in transit (not an answer): ask again on the connection that remains, or on
        // the next one.
        if response.is_err() {
            if let Some(n) = self.nearby.get_mut(&peer) {
                if n.retries < TEASER_RETRIES && n.state == TeaserState::Requested {
                    n.retries += 1;
                    n.state = TeaserState::Waiting {
                        since: Instant::now(),
                        dialed: false,
                    };
                    if self.swarm.is_connected(&peer) {
                        self.request_teaser_if_nearby(peer);
                    }
                    return;
                }
            }
        }
        let teaser = match response {
            Ok(Response::Teaser(bytes)) => match SignedTeaser::decode(&bytes) {
                Ok(t) if Some(t.key()) == key_of(&peer) => Some(t),
                _ => None,
            },
            _ => None,
        };
        if let Some(n) = self.nearby.get_mut(&peer) {
            n.teaser = teaser.clone();
            n.state = TeaserState::Done;
            let addrs = n.addrs.clone();
            self.emit(Event::PeerDiscovered {
                peer,
                addrs,
                teaser,
            });
        }
    }

    /// The peers found so far, for [`crate::Node::nearby`].
    pub(crate) fn nearby_list(&self) -> Vec<Discovered> {
        self.nearby
            .iter()
            .map(|(peer, n)| Discovered {
                peer: *peer,
                addrs: n.addrs.clone(),
                teaser: n.teaser.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test fails by panicking")]
mod tests {
    use super::*;

    fn insert(table: &mut HashMap<PeerId, Nearby>, cap: usize, peer: PeerId, now: Instant) {
        make_room(table, cap, |_| false);
        table.insert(peer, Nearby::new(now, true));
        assert!(table.len() <= cap);
    }

    /// A spoofer announces far more peer ids than the table holds; a real peer announced after
    /// them still gets in, and one that answered with its teaser stays through the flood.
    #[test]
    fn spoofed_announcements_do_not_keep_a_real_peer_out() {
        let cap = 8;
        let t0 = Instant::now();
        let mut table = HashMap::new();
        let known = PeerId::random();
        insert(&mut table, cap, known, t0);
        let teaser =
            SignedTeaser::sign(&meishi_card::Identity::from_seed(&[5; 32]), 1, "Ada", None)
                .unwrap();
        table.get_mut(&known).unwrap().teaser = Some(teaser);
        for i in 0..10 * cap as u64 {
            insert(
                &mut table,
                cap,
                PeerId::random(),
                t0 + Duration::from_millis(i),
            );
        }
        assert_eq!(table.len(), cap);
        let fresh = PeerId::random();
        insert(&mut table, cap, fresh, t0 + Duration::from_secs(60));
        assert!(table.contains_key(&fresh), "a real newcomer gets in");
        assert!(table.contains_key(&known), "a peer that answered is kept");
        assert_eq!(table.len(), cap);
    }

    #[test]
    fn the_least_recently_announced_goes_first() {
        let t0 = Instant::now();
        let mut table = HashMap::new();
        let (a, b, c) = (PeerId::random(), PeerId::random(), PeerId::random());
        insert(&mut table, 2, a, t0);
        insert(&mut table, 2, b, t0 + Duration::from_secs(1));
        // `a` is announced again: `b` is now the oldest.
        table.get_mut(&a).unwrap().seen = t0 + Duration::from_secs(2);
        assert_eq!(make_room(&mut table, 2, |_| false), Some(b));
        table.insert(c, Nearby::new(t0 + Duration::from_secs(3), true));
        // A connected peer stays even when it is the oldest.
        assert_eq!(make_room(&mut table, 2, |p| *p == a), Some(c));
    }
}
