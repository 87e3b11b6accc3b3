//! LAN discovery: peers found by mDNS on the local network, the tie-break that has only one of
//! two peers dial, and fetching each nearby peer's teaser once connected, announced as
//! [`Event::PeerDiscovered`]. Kept apart from the exchange because it is the one part of the
//! node that acts unasked: it dials and asks for teasers on its own, and only on the LAN.
//! proto-spec/exchange.md#discovery

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
}

impl EventLoop {
    pub(crate) fn on_mdns_discovered(&mut self, list: Vec<(PeerId, Multiaddr)>) {
        let now = Instant::now();
        let mut to_dial = Vec::new();
        for (peer, addr) in list {
            if peer == self.local {
                continue;
            }
            if !self.nearby.contains_key(&peer) {
                if self.nearby.len() >= self.limits.max_nearby {
                    continue;
                }
                // Tie-break: only the lower peer id dials, so two nodes that find each other at
                // once open one connection, not two.
                let dial = self.local.to_bytes() < peer.to_bytes();
                self.nearby.insert(
                    peer,
                    Nearby {
                        addrs: Vec::new(),
                        teaser: None,
                        state: TeaserState::Waiting {
                            since: now,
                            dialed: dial,
                        },
                    },
                );
                if dial {
                    to_dial.push(peer);
                }
            }
            if let Some(n) = self.nearby.get_mut(&peer) {
                if !n.addrs.contains(&addr) && n.addrs.len() < MAX_ADDRS_PER_PEER {
                    n.addrs.push(addr);
                }
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

    pub(crate) async fn on_mdns_expired(&mut self, list: Vec<(PeerId, Multiaddr)>) {
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
            self.emit(Event::PeerExpired { peer }).await;
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
    pub(crate) async fn on_nearby_unreachable(&mut self, peer: PeerId) {
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
                })
                .await;
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
    pub(crate) async fn on_nearby_teaser(
        &mut self,
        peer: PeerId,
        response: Result<Response, RequestError>,
    ) {
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
            })
            .await;
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
