#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]
//! In-process tests of the relay over loopback: reservations, circuits, rendezvous, the teaser
//! board, the slot store, the drop store, the abuse caps and the metrics endpoint; board
//! replication among the relays of a fleet in [`fleet`]. Clients are stock rust-libp2p swarms.
//! Distinct source IPs come from 127.0.0.0/8: a QUIC client listening on 127.0.0.2 dials from
//! that socket, so the relay sees 127.0.0.2.

mod fleet;

use std::time::Duration;

use futures::StreamExt;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{
    noise, ping, relay, rendezvous, request_response, tcp, yamux, Multiaddr, PeerId, Swarm,
    SwarmBuilder,
};
use meishi_event::{
    BoardRequest, BoardResponse, EventKey, SlotKey, SlotRecord, SlotRefusal, SlotRequest,
    SlotResponse, SlotSealKey,
};
use meishi_relay::{board, drops, slots, Config, Relay, RelayHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const STEP: Duration = Duration::from_secs(20);

#[derive(NetworkBehaviour)]
struct Client {
    relay: relay::client::Behaviour,
    rendezvous: rendezvous::client::Behaviour,
    board: request_response::Behaviour<board::Codec>,
    slots: request_response::Behaviour<slots::Codec>,
    drops: request_response::Behaviour<drops::Codec>,
    ping: ping::Behaviour,
}

fn client() -> Swarm<Client> {
    client_with(libp2p::identity::Keypair::generate_ed25519())
}

fn client_with(key: libp2p::identity::Keypair) -> Swarm<Client> {
    SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_quic()
        .with_relay_client(noise::Config::new, yamux::Config::default)
        .unwrap()
        .with_behaviour(|key, relay| Client {
            relay,
            rendezvous: rendezvous::client::Behaviour::new(key.clone()),
            board: request_response::Behaviour::with_codec(
                board::Codec::default(),
                [(board::PROTOCOL, request_response::ProtocolSupport::Outbound)],
                request_response::Config::default(),
            ),
            slots: request_response::Behaviour::with_codec(
                slots::Codec::default(),
                [(slots::PROTOCOL, request_response::ProtocolSupport::Outbound)],
                request_response::Config::default(),
            ),
            drops: request_response::Behaviour::with_codec(
                drops::Codec::default(),
                [(drops::PROTOCOL, request_response::ProtocolSupport::Outbound)],
                request_response::Config::default(),
            ),
            ping: ping::Behaviour::default(),
        })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build()
}

/// A relay on 127.0.0.1 (TCP and QUIC) whose external addresses are its listen addresses.
async fn relay_with(f: impl FnOnce(&mut Config)) -> (RelayHandle, Multiaddr, Multiaddr) {
    let mut c = Config {
        listen: vec![
            "/ip4/127.0.0.1/tcp/0".into(),
            "/ip4/127.0.0.1/udp/0/quic-v1".into(),
        ],
        metrics: Some(([127, 0, 0, 1], 0).into()),
        ..Config::default()
    };
    f(&mut c);
    // First spawn to learn the ports, then tell the relay those are its public addresses. The
    // probe's QUIC socket may not be closed yet when the relay binds again, or another test may
    // have taken a port in between (seen in CI: `Listen { .. quic-v1, reason: "" }`): then try
    // again with fresh ports.
    let mut attempts = 0;
    let h = loop {
        attempts += 1;
        let mut each = c.clone();
        let probe = Relay::spawn(each.clone()).await.unwrap();
        let addrs = probe.listen_addrs().to_vec();
        probe.shutdown().await;
        each.listen = addrs.iter().map(|a| a.to_string()).collect();
        each.external_addresses = each.listen.clone();
        match Relay::spawn(each).await {
            Ok(h) => break h,
            Err(e) if attempts < 10 => {
                eprintln!("relay_with: binding the probed ports again failed ({e}); new ports");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("relay_with: {attempts} attempts to bind probed ports failed: {e}"),
        }
    };
    let id = h.peer_id();
    let with_id = |quic: bool| {
        let a = h
            .listen_addrs()
            .iter()
            .find(|a| a.iter().any(|p| matches!(p, Protocol::QuicV1)) == quic)
            .unwrap()
            .clone();
        a.with(Protocol::P2p(id))
    };
    let (tcp, quic) = (with_id(false), with_id(true));
    (h, tcp, quic)
}

/// Drives `swarm` until `f` returns Some, or fails after STEP.
async fn until<T>(
    swarm: &mut Swarm<Client>,
    mut f: impl FnMut(SwarmEvent<ClientEvent>) -> Option<T>,
) -> T {
    tokio::time::timeout(STEP, async {
        loop {
            if let Some(t) = f(swarm.select_next_some().await) {
                return t;
            }
        }
    })
    .await
    .expect("timed out waiting for a swarm event")
}

/// Runs other swarms in the background so they answer while one is driven.
fn background(swarms: Vec<Swarm<Client>>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut all = futures::stream::select_all(swarms.into_iter().map(|s| s.boxed()));
        while all.next().await.is_some() {}
    })
}

/// Asks for a reservation over QUIC and reports whether it was accepted.
async fn reserve(swarm: &mut Swarm<Client>, relay_quic: &Multiaddr) -> bool {
    let l = swarm
        .listen_on(relay_quic.clone().with(Protocol::P2pCircuit))
        .unwrap();
    until(swarm, |ev| match ev {
        SwarmEvent::Behaviour(ClientEvent::Relay(
            relay::client::Event::ReservationReqAccepted { .. },
        )) => Some(true),
        SwarmEvent::ListenerClosed { listener_id, .. } if listener_id == l => Some(false),
        SwarmEvent::ListenerError { listener_id, .. } if listener_id == l => Some(false),
        _ => None,
    })
    .await
}

async fn quic_client_from(ip: [u8; 4]) -> Swarm<Client> {
    quic_client_with(ip, libp2p::identity::Keypair::generate_ed25519()).await
}

async fn quic_client_with(ip: [u8; 4], key: libp2p::identity::Keypair) -> Swarm<Client> {
    let mut c = client_with(key);
    let a: Multiaddr = format!("/ip4/{}.{}.{}.{}/udp/0/quic-v1", ip[0], ip[1], ip[2], ip[3])
        .parse()
        .unwrap();
    c.listen_on(a).unwrap();
    until(&mut c, |ev| {
        matches!(ev, SwarmEvent::NewListenAddr { .. }).then_some(())
    })
    .await;
    c
}

#[tokio::test]
async fn reservation_then_circuit_between_two_clients() {
    let (relay, relay_tcp, _) = relay_with(|_| {}).await;
    let mut a = client();
    let a_id = *a.local_peer_id();
    a.listen_on(relay_tcp.clone().with(Protocol::P2pCircuit))
        .unwrap();
    until(&mut a, |ev| match ev {
        SwarmEvent::Behaviour(ClientEvent::Relay(
            relay::client::Event::ReservationReqAccepted { .. },
        )) => Some(()),
        _ => None,
    })
    .await;
    let bg = background(vec![a]);
    let mut b = client();
    let target = relay_tcp
        .with(Protocol::P2pCircuit)
        .with(Protocol::P2p(a_id));
    b.dial(target).unwrap();
    let endpoint = until(&mut b, |ev| match ev {
        SwarmEvent::ConnectionEstablished {
            peer_id, endpoint, ..
        } if peer_id == a_id => Some(endpoint),
        SwarmEvent::OutgoingConnectionError {
            peer_id: Some(p),
            error,
            ..
        } if p == a_id => {
            panic!("circuit failed: {error}")
        }
        _ => None,
    })
    .await;
    assert!(endpoint
        .get_remote_address()
        .iter()
        .any(|p| p == Protocol::P2pCircuit));
    bg.abort();
    let text = relay.metrics_text();
    assert!(text.contains("meishi_relay_reservations 1"), "{text}");
    relay.shutdown().await;
}

#[tokio::test]
async fn rendezvous_register_discover_and_refusals() {
    let (relay, relay_tcp, _) = relay_with(|_| {}).await;
    let relay_id = relay.peer_id();
    let ns = rendezvous::Namespace::new(
        EventKey::derive("rust-meetup-2026")
            .unwrap()
            .namespace()
            .to_owned(),
    )
    .unwrap();

    let mut a = client();
    let a_id = *a.local_peer_id();
    a.add_external_address("/ip4/192.0.2.10/tcp/4001".parse().unwrap());
    a.dial(relay_tcp.clone()).unwrap();
    until(&mut a, |ev| {
        matches!(ev, SwarmEvent::ConnectionEstablished { .. }).then_some(())
    })
    .await;
    // Too short a TTL is refused; 120 s is accepted (the stock server wants 2 h).
    a.behaviour_mut()
        .rendezvous
        .register(ns.clone(), relay_id, Some(59))
        .unwrap();
    let err = until(&mut a, |ev| match ev {
        SwarmEvent::Behaviour(ClientEvent::Rendezvous(
            rendezvous::client::Event::RegisterFailed { error, .. },
        )) => Some(error),
        _ => None,
    })
    .await;
    assert_eq!(err, rendezvous::ErrorCode::InvalidTtl);
    a.behaviour_mut()
        .rendezvous
        .register(ns.clone(), relay_id, Some(120))
        .unwrap();
    let ttl = until(&mut a, |ev| match ev {
        SwarmEvent::Behaviour(ClientEvent::Rendezvous(rendezvous::client::Event::Registered {
            ttl,
            ..
        })) => Some(ttl),
        SwarmEvent::Behaviour(ClientEvent::Rendezvous(
            rendezvous::client::Event::RegisterFailed { error, .. },
        )) => panic!("{error:?}"),
        _ => None,
    })
    .await;
    assert_eq!(ttl, 120);
    // A raw, non-derived namespace is refused.
    a.behaviour_mut()
        .rendezvous
        .register(
            rendezvous::Namespace::from_static("rust-meetup-2026"),
            relay_id,
            Some(120),
        )
        .unwrap();
    let err = until(&mut a, |ev| match ev {
        SwarmEvent::Behaviour(ClientEvent::Rendezvous(
            rendezvous::client::Event::RegisterFailed { error, .. },
        )) => Some(error),
        _ => None,
    })
    .await;
    assert_eq!(err, rendezvous::ErrorCode::InvalidNamespace);
    let bg = background(vec![a]);

    let mut b = client();
    b.dial(relay_tcp.clone()).unwrap();
    until(&mut b, |ev| {
        matches!(ev, SwarmEvent::ConnectionEstablished { .. }).then_some(())
    })
    .await;
    b.behaviour_mut()
        .rendezvous
        .discover(Some(ns.clone()), None, None, relay_id);
    let regs = until(&mut b, |ev| match ev {
        SwarmEvent::Behaviour(ClientEvent::Rendezvous(rendezvous::client::Event::Discovered {
            registrations,
            ..
        })) => Some(registrations),
        SwarmEvent::Behaviour(ClientEvent::Rendezvous(
            rendezvous::client::Event::DiscoverFailed { error, .. },
        )) => panic!("{error:?}"),
        _ => None,
    })
    .await;
    assert_eq!(regs.len(), 1);
    assert_eq!(regs[0].record.peer_id(), a_id);
    // Without a namespace the relay reveals nothing.
    b.behaviour_mut()
        .rendezvous
        .discover(None, None, None, relay_id);
    let err = until(&mut b, |ev| match ev {
        SwarmEvent::Behaviour(ClientEvent::Rendezvous(rendezvous::client::Event::Discovered {
            registrations,
            ..
        })) => {
            panic!(
                "discover without namespace listed {} registrations",
                registrations.len()
            )
        }
        SwarmEvent::Behaviour(ClientEvent::Rendezvous(
            rendezvous::client::Event::DiscoverFailed { error, .. },
        )) => Some(error),
        _ => None,
    })
    .await;
    assert_eq!(err, rendezvous::ErrorCode::InvalidNamespace);
    // Another event's namespace lists nobody.
    let other = rendezvous::Namespace::new(
        EventKey::derive("rust-meetup-2025")
            .unwrap()
            .namespace()
            .to_owned(),
    )
    .unwrap();
    b.behaviour_mut()
        .rendezvous
        .discover(Some(other), None, None, relay_id);
    let regs = until(&mut b, |ev| match ev {
        SwarmEvent::Behaviour(ClientEvent::Rendezvous(rendezvous::client::Event::Discovered {
            registrations,
            ..
        })) => Some(registrations),
        _ => None,
    })
    .await;
    assert!(regs.is_empty());
    bg.abort();
    relay.shutdown().await;
}

#[tokio::test]
async fn teaser_board_stores_sealed_blobs_per_namespace() {
    let (relay, relay_tcp, _) = relay_with(|_| {}).await;
    let relay_id = relay.peer_id();
    let ev = EventKey::derive("board-test").unwrap();
    let mut a = client();
    let a_id = *a.local_peer_id();
    a.dial(relay_tcp).unwrap();
    until(&mut a, |e| {
        matches!(e, SwarmEvent::ConnectionEstablished { .. }).then_some(())
    })
    .await;
    let sealed = ev.seal(b"signed teaser").unwrap();
    let ask = |a: &mut Swarm<Client>, req| a.behaviour_mut().board.send_request(&relay_id, req);
    let answer = |e: SwarmEvent<ClientEvent>| match e {
        SwarmEvent::Behaviour(ClientEvent::Board(request_response::Event::Message {
            message: request_response::Message::Response { response, .. },
            ..
        })) => Some(response),
        SwarmEvent::Behaviour(ClientEvent::Board(request_response::Event::OutboundFailure {
            error,
            ..
        })) => {
            panic!("board request failed: {error}")
        }
        _ => None,
    };
    ask(
        &mut a,
        BoardRequest::Put {
            namespace: ev.namespace().into(),
            ttl: 120,
            sealed: sealed.clone(),
        },
    );
    assert_eq!(
        until(&mut a, answer).await,
        BoardResponse::Stored { ttl: 120 }
    );
    ask(
        &mut a,
        BoardRequest::Put {
            namespace: ev.namespace().into(),
            ttl: 10,
            sealed: sealed.clone(),
        },
    );
    assert_eq!(
        until(&mut a, answer).await,
        BoardResponse::Error(meishi_event::BoardErrorCode::BadTtl)
    );
    ask(
        &mut a,
        BoardRequest::Get {
            namespace: ev.namespace().into(),
            cursor: 0,
            limit: 10,
        },
    );
    match until(&mut a, answer).await {
        BoardResponse::Entries { entries, more, .. } => {
            assert!(!more);
            assert_eq!(entries.len(), 1);
            assert_eq!(PeerId::from_bytes(entries[0].peer()).unwrap(), a_id);
            assert_eq!(ev.open(entries[0].sealed()).unwrap(), b"signed teaser");
        }
        other => panic!("{other:?}"),
    }
    let other = EventKey::derive("board-test-2").unwrap();
    ask(
        &mut a,
        BoardRequest::Get {
            namespace: other.namespace().into(),
            cursor: 0,
            limit: 10,
        },
    );
    assert!(
        matches!(until(&mut a, answer).await, BoardResponse::Entries { entries, .. } if entries.is_empty())
    );
    relay.shutdown().await;
}

#[tokio::test]
async fn per_ip_and_per_peer_reservation_caps() {
    // Two reservations per IP address, then one per hour; one reservation per peer.
    let (relay, _, relay_quic) = relay_with(|c| {
        c.limits.reservation_rate_per_ip = meishi_relay::config::Rate {
            burst: 2,
            interval_ms: 3_600_000,
        };
        c.limits.max_reservations_per_peer = 1;
    })
    .await;
    let mut crowd = Vec::new();
    for _ in 0..2 {
        let mut c = quic_client_from([127, 0, 0, 3]).await;
        assert!(
            reserve(&mut c, &relay_quic).await,
            "the first two from one IP are served"
        );
        crowd.push(c);
    }
    assert_eq!(refusals(&relay, "reservations", "rate_per_ip"), 0);
    let mut third = quic_client_from([127, 0, 0, 3]).await;
    assert!(
        !reserve(&mut third, &relay_quic).await,
        "the third from that IP is refused"
    );
    // Refused by the per-IP rate and nothing else.
    assert_eq!(
        refused_for(&relay, "reservations", "rate_per_ip").await,
        1,
        "{}",
        relay.metrics_text()
    );
    assert_eq!(refusals(&relay, "reservations", "per_peer"), 0);
    // Someone on another address is still served.
    let mut other = quic_client_from([127, 0, 0, 4]).await;
    assert!(
        reserve(&mut other, &relay_quic).await,
        "another IP is not locked out"
    );
    // One peer holding a reservation cannot take a second slot over another connection: the
    // same identity in a second swarm (the stock client reuses a connection it already has).
    let key = libp2p::identity::Keypair::generate_ed25519();
    let mut first = quic_client_with([127, 0, 0, 5], key.clone()).await;
    assert!(reserve(&mut first, &relay_quic).await);
    let bg = background(vec![first]);
    let mut second = quic_client_with([127, 0, 0, 6], key).await;
    assert!(
        !reserve(&mut second, &relay_quic).await,
        "a second reservation by one peer is refused"
    );
    assert_eq!(refused_for(&relay, "reservations", "per_peer").await, 1);
    assert_eq!(refusals(&relay, "reservations", "rate_per_ip"), 1);
    bg.abort();
    drop(crowd);
    relay.shutdown().await;
}

#[tokio::test]
async fn one_host_with_fresh_peer_ids_cannot_hold_every_reservation() {
    // 8 slots; a host holds at most 3; past half full (4), a site only gets its share of 2.
    let (relay, _, relay_quic) = relay_with(|c| {
        c.limits.max_reservations = 8;
        c.limits.max_reservations_per_host = 3;
        c.limits.reservation_site_share = 2;
    })
    .await;
    let mut holders = Vec::new();
    for _ in 0..3 {
        let mut c = quic_client_from([127, 0, 0, 8]).await;
        assert!(reserve(&mut c, &relay_quic).await, "under the host's cap");
        holders.push(c);
    }
    let mut fourth = quic_client_from([127, 0, 0, 8]).await;
    assert!(
        !reserve(&mut fourth, &relay_quic).await,
        "a fourth peer id from the same host is refused"
    );
    // Refused by the host cap, not by the total or the rates.
    assert_eq!(
        refused_for(&relay, "reservations", "reservations_per_host").await,
        1,
        "{}",
        relay.metrics_text()
    );
    for cap in ["total", "per_peer", "rate_per_ip", "reservation_site_share"] {
        assert_eq!(refusals(&relay, "reservations", cap), 0, "{cap}");
    }
    // The relay is not full: another host gets its share, then is refused by the share once
    // the relay is past half full (3 + 2 of 8)...
    for _ in 0..2 {
        let mut c = quic_client_from([127, 0, 0, 9]).await;
        assert!(
            reserve(&mut c, &relay_quic).await,
            "within the site's share"
        );
        holders.push(c);
    }
    let mut third = quic_client_from([127, 0, 0, 9]).await;
    assert!(
        !reserve(&mut third, &relay_quic).await,
        "a site past its share is refused while the relay is half full"
    );
    assert_eq!(
        refused_for(&relay, "reservations", "reservation_site_share").await,
        1,
        "{}",
        relay.metrics_text()
    );
    // ... and a newcomer from a third address still gets a reservation.
    let mut newcomer = quic_client_from([127, 0, 0, 10]).await;
    assert!(
        reserve(&mut newcomer, &relay_quic).await,
        "a newcomer is not locked out"
    );
    holders.push(newcomer);
    assert_eq!(gauge_is(&relay, "meishi_relay_reservations", 6).await, 6);
    assert_eq!(refusals(&relay, "reservations", "total"), 0);
    drop(holders);
    relay.shutdown().await;
}

#[tokio::test]
async fn a_connection_that_never_reserved_does_not_move_the_reservation_gauge() {
    let (relay, _, relay_quic) = relay_with(|c| c.limits.max_reservations = 2).await;
    let mut a = quic_client_from([127, 0, 0, 11]).await;
    assert!(reserve(&mut a, &relay_quic).await);
    assert_eq!(gauge_is(&relay, "meishi_relay_reservations", 1).await, 1);
    let bg = background(vec![a]);
    // A peer connects and leaves without reserving: libp2p reports `ReservationClosed`.
    let mut b = connected(
        [127, 0, 0, 12],
        libp2p::identity::Keypair::generate_ed25519(),
        &relay_quic,
    )
    .await;
    assert!(b.disconnect_peer_id(relay.peer_id()).is_ok());
    until(&mut b, |ev| {
        matches!(ev, SwarmEvent::ConnectionClosed { .. }).then_some(())
    })
    .await;
    let closed = "libp2p_relay_events_total{event=\"ReservationClosed\"}";
    assert_eq!(
        gauge_is(&relay, closed, 1).await,
        1,
        "{}",
        relay.metrics_text()
    );
    assert_eq!(
        metric(&relay, "meishi_relay_reservations"),
        Some(1),
        "{}",
        relay.metrics_text()
    );
    // Both slots taken: the next reservation is refused, and counted as refused by the total.
    let mut c = quic_client_from([127, 0, 0, 13]).await;
    assert!(reserve(&mut c, &relay_quic).await);
    assert_eq!(gauge_is(&relay, "meishi_relay_reservations", 2).await, 2);
    let mut d = quic_client_from([127, 0, 0, 14]).await;
    assert!(!reserve(&mut d, &relay_quic).await, "the relay is full");
    assert_eq!(
        refused_for(&relay, "reservations", "total").await,
        1,
        "{}",
        relay.metrics_text()
    );
    // A holder that leaves releases its slot.
    assert!(c.disconnect_peer_id(relay.peer_id()).is_ok());
    until(&mut c, |ev| {
        matches!(ev, SwarmEvent::ConnectionClosed { .. }).then_some(())
    })
    .await;
    assert_eq!(gauge_is(&relay, "meishi_relay_reservations", 1).await, 1);
    bg.abort();
    relay.shutdown().await;
}

/// The value of the metric line `name` (with its labels), if the relay has it.
fn metric(relay: &RelayHandle, name: &str) -> Option<u64> {
    relay.metric(name).map(|v| v as u64)
}

/// The metric `name` once it reads `want` (the relay's event loop updates it a moment after a
/// client hears of a change), or what it reads after a second.
async fn gauge_is(relay: &RelayHandle, name: &str, want: u64) -> u64 {
    for _ in 0..50 {
        if metric(relay, name) == Some(want) {
            return want;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    metric(relay, name).unwrap_or(0)
}

#[tokio::test]
async fn per_ip_connection_cap() {
    let (relay, _, relay_quic) = relay_with(|c| c.limits.max_connections_per_ip = 2).await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut c = quic_client_from([127, 0, 0, 6]).await;
        c.dial(relay_quic.clone()).unwrap();
        until(&mut c, |ev| {
            matches!(ev, SwarmEvent::ConnectionEstablished { .. }).then_some(())
        })
        .await;
        held.push(c);
    }
    let bg = background(held);
    let mut c = quic_client_from([127, 0, 0, 6]).await;
    c.dial(relay_quic.clone()).unwrap();
    // The relay closes the connection at once: it never stays up, and the relay says why.
    until(&mut c, |ev| match ev {
        SwarmEvent::OutgoingConnectionError { .. } | SwarmEvent::ConnectionClosed { .. } => {
            Some(())
        }
        _ => None,
    })
    .await;
    assert_eq!(
        refused_for(&relay, "connections", "connections_per_host").await,
        1,
        "{}",
        relay.metrics_text()
    );
    assert!(c.connected_peers().next().is_none());
    let mut d = quic_client_from([127, 0, 0, 7]).await;
    d.dial(relay_quic).unwrap();
    until(&mut d, |ev| {
        matches!(ev, SwarmEvent::ConnectionEstablished { .. }).then_some(())
    })
    .await;
    bg.abort();
    let text = relay.metrics_text();
    let denied = text
        .lines()
        .find_map(|l| l.strip_prefix("meishi_relay_connections_denied_total "))
        .and_then(|v| v.trim().parse::<u64>().ok());
    assert!(denied.is_some_and(|n| n >= 1), "{text}");
    relay.shutdown().await;
}

/// The relay's count of refusals of `service` by `cap`.
fn refusals(relay: &RelayHandle, service: &str, cap: &str) -> u64 {
    let want = format!("meishi_relay_refusals_total{{service=\"{service}\",cap=\"{cap}\"}} ");
    relay
        .metrics_text()
        .lines()
        .find_map(|l| l.strip_prefix(want.as_str()))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// [`refusals`] once it is non-zero (the relay's event loop counts it a moment after the
/// client hears of it), or zero after a second.
async fn refused_for(relay: &RelayHandle, service: &str, cap: &str) -> u64 {
    for _ in 0..50 {
        let n = refusals(relay, service, cap);
        if n > 0 {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    0
}

async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test]
async fn metrics_endpoint_serves_prometheus_text() {
    let (relay, relay_tcp, _) = relay_with(|_| {}).await;
    let mut a = client();
    a.listen_on(relay_tcp.with(Protocol::P2pCircuit)).unwrap();
    until(&mut a, |ev| match ev {
        SwarmEvent::Behaviour(ClientEvent::Relay(
            relay::client::Event::ReservationReqAccepted { .. },
        )) => Some(()),
        _ => None,
    })
    .await;
    let addr = relay.metrics_addr().unwrap();
    assert!(addr.ip().is_loopback());
    let body = http_get(addr, "/metrics").await;
    assert!(body.starts_with("HTTP/1.1 200 OK"), "{body}");
    assert!(body.contains("meishi_relay_reservations 1"), "{body}");
    assert!(body.contains("libp2p_relay_events_total"), "{body}");
    assert!(body.contains("# EOF"));
    assert!(http_get(addr, "/").await.starts_with("HTTP/1.1 404"));
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    // An endless header is cut off, not buffered.
    let _ = s.write_all(&vec![b'a'; 8192]).await;
    let mut out = String::new();
    let _ = s.read_to_string(&mut out).await;
    assert!(out.starts_with("HTTP/1.1 431"), "{out}");
    drop(a);
    relay.shutdown().await;
}

/// Writes raw bytes as a request and reads whatever comes back, to send the relay malformed
/// and oversized messages that no well-behaved codec would produce.
#[derive(Clone, Default)]
struct RawCodec;

impl request_response::Codec for RawCodec {
    type Protocol = libp2p::StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &Self::Protocol, _: &mut T) -> std::io::Result<Vec<u8>>
    where
        T: futures::AsyncRead + Unpin + Send,
    {
        Err(std::io::ErrorKind::Unsupported.into())
    }

    async fn read_response<T>(&mut self, _: &Self::Protocol, io: &mut T) -> std::io::Result<Vec<u8>>
    where
        T: futures::AsyncRead + Unpin + Send,
    {
        use futures::AsyncReadExt;
        let mut out = Vec::new();
        io.take(1 << 20).read_to_end(&mut out).await?;
        if out.is_empty() {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        Ok(out)
    }

    async fn write_request<T>(
        &mut self,
        _: &Self::Protocol,
        io: &mut T,
        req: Vec<u8>,
    ) -> std::io::Result<()>
    where
        T: futures::AsyncWrite + Unpin + Send,
    {
        use futures::AsyncWriteExt;
        io.write_all(&req).await?;
        io.close().await
    }

    async fn write_response<T>(
        &mut self,
        _: &Self::Protocol,
        _: &mut T,
        _: Vec<u8>,
    ) -> std::io::Result<()>
    where
        T: futures::AsyncWrite + Unpin + Send,
    {
        Err(std::io::ErrorKind::Unsupported.into())
    }
}

fn counter(text: &str, service: &str, outcome: &str) -> u64 {
    let want =
        format!("meishi_relay_requests_total{{service=\"{service}\",outcome=\"{outcome}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(want.as_str()))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn raw_swarm(proto: libp2p::StreamProtocol) -> Swarm<request_response::Behaviour<RawCodec>> {
    SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|_| {
            request_response::Behaviour::<RawCodec>::new(
                [(proto, request_response::ProtocolSupport::Outbound)],
                request_response::Config::default(),
            )
        })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build()
}

#[tokio::test]
async fn malformed_and_oversized_messages_are_refused() {
    let (relay, relay_tcp, _) = relay_with(|_| {}).await;
    let relay_id = relay.peer_id();
    // A length prefix of 1 MiB (over the 8 KiB rendezvous cap and the board's 1,136 bytes),
    // a frame of garbage, and a frame that parses as neither (protobuf type REGISTER with no
    // registration; board type 0x09).
    let cases: [&[u8]; 3] = [
        &[0x80, 0x80, 0x40],
        &[0x05, 0xff, 0xff, 0xff, 0xff, 0xff],
        &[0x02, 0x08, 0x00],
    ];
    for (service, proto) in [
        ("rendezvous", meishi_relay::rendezvous::PROTOCOL),
        ("board", board::PROTOCOL),
    ] {
        let mut raw = raw_swarm(proto);
        raw.dial(relay_tcp.clone()).unwrap();
        for bytes in cases {
            raw.behaviour_mut().send_request(&relay_id, bytes.to_vec());
            let got = tokio::time::timeout(STEP, async {
                loop {
                    match raw.select_next_some().await {
                        SwarmEvent::Behaviour(request_response::Event::Message {
                            message: request_response::Message::Response { response, .. },
                            ..
                        }) => return Some(response),
                        SwarmEvent::Behaviour(request_response::Event::OutboundFailure {
                            ..
                        }) => return None,
                        _ => {}
                    }
                }
            })
            .await
            .expect("the relay neither answered nor closed the stream");
            assert_eq!(
                got, None,
                "{service} answered the malformed request {bytes:02x?}"
            );
        }
        // Counted once the relay's event loop has seen them.
        let mut n = 0;
        for _ in 0..50 {
            n = counter(&relay.metrics_text(), service, "malformed");
            if n >= 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(n, 3, "{service}");
    }
    // The relay still serves well-formed requests.
    let mut ok = client();
    ok.dial(relay_tcp).unwrap();
    until(&mut ok, |e| {
        matches!(e, SwarmEvent::ConnectionEstablished { .. }).then_some(())
    })
    .await;
    let ns = EventKey::derive("still-works")
        .unwrap()
        .namespace()
        .to_owned();
    ok.behaviour_mut().board.send_request(
        &relay_id,
        BoardRequest::Get {
            namespace: ns,
            cursor: 0,
            limit: 1,
        },
    );
    let resp = until(&mut ok, |e| match e {
        SwarmEvent::Behaviour(ClientEvent::Board(request_response::Event::Message {
            message: request_response::Message::Response { response, .. },
            ..
        })) => Some(response),
        _ => None,
    })
    .await;
    assert!(matches!(resp, BoardResponse::Entries { .. }));
    relay.shutdown().await;
}

#[tokio::test]
async fn many_peers_behind_one_ip_cannot_fill_an_event() {
    // Two registrations per IP address; everyone registers in the same event.
    let (relay, _, relay_quic) = relay_with(|c| c.limits.rendezvous.max_per_ip = 2).await;
    let relay_id = relay.peer_id();
    let ns =
        rendezvous::Namespace::new(EventKey::derive("crowded").unwrap().namespace().to_owned())
            .unwrap();
    let mut outcomes = Vec::new();
    let mut keep = Vec::new();
    for ip in [
        [127, 0, 0, 9],
        [127, 0, 0, 9],
        [127, 0, 0, 9],
        [127, 0, 0, 10],
    ] {
        let mut c = quic_client_from(ip).await;
        c.add_external_address("/ip4/192.0.2.10/udp/4001/quic-v1".parse().unwrap());
        c.dial(relay_quic.clone()).unwrap();
        until(&mut c, |e| {
            matches!(e, SwarmEvent::ConnectionEstablished { .. }).then_some(())
        })
        .await;
        c.behaviour_mut()
            .rendezvous
            .register(ns.clone(), relay_id, Some(120))
            .unwrap();
        let got = until(&mut c, |ev| match ev {
            SwarmEvent::Behaviour(ClientEvent::Rendezvous(
                rendezvous::client::Event::Registered { .. },
            )) => Some(Ok(())),
            SwarmEvent::Behaviour(ClientEvent::Rendezvous(
                rendezvous::client::Event::RegisterFailed { error, .. },
            )) => Some(Err(error)),
            _ => None,
        })
        .await;
        outcomes.push(got);
        keep.push(c);
    }
    assert_eq!(
        outcomes,
        [
            Ok(()),
            Ok(()),
            Err(rendezvous::ErrorCode::Unavailable),
            Ok(())
        ]
    );
    // Unavailable because of the per-host cap, not another one.
    assert_eq!(refusals(&relay, "rendezvous", "per_host"), 1);
    assert_eq!(
        counter(&relay.metrics_text(), "rendezvous", "refused"),
        1,
        "{}",
        relay.metrics_text()
    );
    relay.shutdown().await;
}

/// Sends one board request and waits for its answer.
async fn board_ask(c: &mut Swarm<Client>, relay_id: PeerId, req: BoardRequest) -> BoardResponse {
    c.behaviour_mut().board.send_request(&relay_id, req);
    until(c, |e| match e {
        SwarmEvent::Behaviour(ClientEvent::Board(request_response::Event::Message {
            message: request_response::Message::Response { response, .. },
            ..
        })) => Some(response),
        SwarmEvent::Behaviour(ClientEvent::Board(request_response::Event::OutboundFailure {
            error,
            ..
        })) => panic!("board request failed: {error}"),
        _ => None,
    })
    .await
}

/// A client from `ip` with `key`, connected to the relay.
async fn connected(
    ip: [u8; 4],
    key: libp2p::identity::Keypair,
    relay: &Multiaddr,
) -> Swarm<Client> {
    let mut c = quic_client_with(ip, key).await;
    c.dial(relay.clone()).unwrap();
    until(&mut c, |e| {
        matches!(e, SwarmEvent::ConnectionEstablished { .. }).then_some(())
    })
    .await;
    c
}

/// Peers listed on the board of `ns`, as another client sees them.
async fn listed(c: &mut Swarm<Client>, relay_id: PeerId, ns: &str) -> Vec<PeerId> {
    let get = BoardRequest::Get {
        namespace: ns.into(),
        cursor: 0,
        limit: 10,
    };
    match board_ask(c, relay_id, get).await {
        BoardResponse::Entries { entries, .. } => entries
            .iter()
            .map(|e| PeerId::from_bytes(e.peer()).unwrap())
            .collect(),
        other => panic!("{other:?}"),
    }
}

/// Waits until the relay has seen `peer`'s last connection close.
async fn until_gone(relay: &RelayHandle, watcher: &mut Swarm<Client>, ns: &str, peer: PeerId) {
    let relay_id = relay.peer_id();
    for _ in 0..100 {
        if !listed(watcher, relay_id, ns).await.contains(&peer) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{peer} is still listed");
}

#[tokio::test]
async fn a_gone_peer_is_unlisted_after_the_grace_and_a_returning_one_keeps_its_place() {
    const GRACE: Duration = Duration::from_millis(1_500);
    let (relay, _, relay_quic) = relay_with(|c| {
        c.limits.disconnect_grace_ms = GRACE.as_millis() as u64;
        // The watcher polls often.
        c.limits.request_rate_per_peer.burst = 10_000;
        c.limits.request_rate_per_host.burst = 10_000;
    })
    .await;
    let relay_id = relay.peer_id();
    let ev = EventKey::derive("grace-test").unwrap();
    let ns = ev.namespace().to_owned();
    let put = || BoardRequest::Put {
        namespace: ns.clone(),
        ttl: 600,
        sealed: ev.seal(b"teaser").unwrap(),
    };
    let mut watcher = connected(
        [127, 0, 0, 20],
        libp2p::identity::Keypair::generate_ed25519(),
        &relay_quic,
    )
    .await;

    // A node that comes back within the grace keeps its entry. It holds a reservation here
    // (its circuit address), as a node does on its home relays.
    let key = libp2p::identity::Keypair::generate_ed25519();
    let me = key.public().to_peer_id();
    let mut a = connected([127, 0, 0, 21], key.clone(), &relay_quic).await;
    assert!(reserve(&mut a, &relay_quic).await);
    assert_eq!(
        board_ask(&mut a, relay_id, put()).await,
        BoardResponse::Stored { ttl: 600 }
    );
    drop(a);
    tokio::time::sleep(GRACE / 3).await;
    assert!(
        listed(&mut watcher, relay_id, &ns).await.contains(&me),
        "dropped during the grace"
    );
    let mut a = connected([127, 0, 0, 21], key, &relay_quic).await;
    assert!(reserve(&mut a, &relay_quic).await);
    let bg = background(vec![a]);
    tokio::time::sleep(GRACE * 2).await;
    assert!(
        listed(&mut watcher, relay_id, &ns).await.contains(&me),
        "a node that came back lost its place"
    );
    bg.abort();

    // One that does not come back is unlisted once the grace is over, not after its TTL.
    let gone_at = std::time::Instant::now();
    until_gone(&relay, &mut watcher, &ns, me).await;
    let took = gone_at.elapsed();
    assert!(
        took >= GRACE / 2,
        "unlisted after {took:?}, before the grace was over"
    );
    assert!(
        took < Duration::from_secs(10),
        "unlisted only after {took:?}"
    );
    relay.shutdown().await;
}

/// A node of a sharded fleet posts its teaser to relays it holds no reservation on and lets
/// those connections close: it stays listed there after the grace, until its entry's TTL.
#[tokio::test]
async fn a_peer_that_never_reserved_stays_listed_after_it_leaves() {
    const GRACE: Duration = Duration::from_millis(500);
    let (relay, _, relay_quic) = relay_with(|c| {
        c.limits.disconnect_grace_ms = GRACE.as_millis() as u64;
    })
    .await;
    let relay_id = relay.peer_id();
    let ev = EventKey::derive("grace-test-no-reservation").unwrap();
    let ns = ev.namespace().to_owned();
    let mut watcher = connected(
        [127, 0, 0, 22],
        libp2p::identity::Keypair::generate_ed25519(),
        &relay_quic,
    )
    .await;
    let key = libp2p::identity::Keypair::generate_ed25519();
    let me = key.public().to_peer_id();
    let mut poster = connected([127, 0, 0, 23], key, &relay_quic).await;
    let put = BoardRequest::Put {
        namespace: ns.clone(),
        ttl: 600,
        sealed: ev.seal(b"teaser").unwrap(),
    };
    assert_eq!(
        board_ask(&mut poster, relay_id, put).await,
        BoardResponse::Stored { ttl: 600 }
    );
    drop(poster);
    tokio::time::sleep(GRACE * 4).await;
    assert!(
        listed(&mut watcher, relay_id, &ns).await.contains(&me),
        "unlisted though it never held a reservation here"
    );
    relay.shutdown().await;
}

#[tokio::test]
async fn request_buckets_are_per_peer_and_per_host_and_survive_reconnects() {
    let (relay, _, relay_quic) = relay_with(|c| {
        let hour = 3_600_000;
        c.limits.request_rate_per_peer = meishi_relay::config::Rate {
            burst: 2,
            interval_ms: hour,
        };
        c.limits.request_rate_per_host = meishi_relay::config::Rate {
            burst: 3,
            interval_ms: hour,
        };
    })
    .await;
    let relay_id = relay.peer_id();
    let ns = EventKey::derive("bucket-test")
        .unwrap()
        .namespace()
        .to_owned();
    let get = || BoardRequest::Get {
        namespace: ns.clone(),
        cursor: 0,
        limit: 1,
    };
    let limited = BoardResponse::Error(meishi_event::BoardErrorCode::RateLimited);
    let fresh = libp2p::identity::Keypair::generate_ed25519;
    let key = fresh();
    let mut a = connected([127, 0, 0, 30], key.clone(), &relay_quic).await;
    for _ in 0..2 {
        assert_ne!(board_ask(&mut a, relay_id, get()).await, limited);
    }
    assert_eq!(board_ask(&mut a, relay_id, get()).await, limited);
    assert_eq!(refusals(&relay, "board", "request_rate_per_peer"), 1);
    // Reconnecting does not refill the peer's bucket.
    drop(a);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut a = connected([127, 0, 0, 30], key, &relay_quic).await;
    assert_eq!(board_ask(&mut a, relay_id, get()).await, limited);
    assert_eq!(refusals(&relay, "board", "request_rate_per_peer"), 2);
    // A fresh peer id on the same host gets what is left of the host's bucket, no more.
    let mut b = connected([127, 0, 0, 30], fresh(), &relay_quic).await;
    assert_ne!(board_ask(&mut b, relay_id, get()).await, limited);
    assert_eq!(board_ask(&mut b, relay_id, get()).await, limited);
    assert_eq!(refusals(&relay, "board", "request_rate_per_host"), 1);
    // Another host has its own bucket.
    let mut c = connected([127, 0, 0, 31], fresh(), &relay_quic).await;
    assert_ne!(board_ask(&mut c, relay_id, get()).await, limited);
    relay.shutdown().await;
}

/// Sends one slot request; its answer, or None when the relay closed the stream unanswered.
async fn slot_ask(
    c: &mut Swarm<Client>,
    relay_id: PeerId,
    req: SlotRequest,
) -> Option<SlotResponse> {
    c.behaviour_mut().slots.send_request(&relay_id, req);
    until(c, |e| match e {
        SwarmEvent::Behaviour(ClientEvent::Slots(request_response::Event::Message {
            message: request_response::Message::Response { response, .. },
            ..
        })) => Some(Some(response)),
        SwarmEvent::Behaviour(ClientEvent::Slots(request_response::Event::OutboundFailure {
            ..
        })) => Some(None),
        _ => None,
    })
    .await
}

#[tokio::test]
async fn slot_records_outlive_their_writer_and_only_the_highest_seq_is_served() {
    let (relay, relay_tcp, _) = relay_with(|c| {
        c.limits.slots.max_per_ip = 2;
        c.limits.disconnect_grace_ms = 50;
    })
    .await;
    let relay_id = relay.peer_id();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let slot = SlotKey::from_seed(&[0xc1; 32]);
    let seal = SlotSealKey::from_bytes([0xc2; 32]);
    let record = |slot: &SlotKey, seq: u64| {
        SlotRecord::seal(
            slot,
            &seal,
            seq,
            now + 3600,
            b"signed card",
            [seq as u8; 24],
        )
        .unwrap()
        .as_bytes()
        .to_vec()
    };
    let put = |record: Vec<u8>| SlotRequest::Put { record };

    let mut owner = client();
    owner.dial(relay_tcp.clone()).unwrap();
    until(&mut owner, |e| {
        matches!(e, SwarmEvent::ConnectionEstablished { .. }).then_some(())
    })
    .await;
    assert_eq!(
        slot_ask(&mut owner, relay_id, put(record(&slot, 2))).await,
        Some(SlotResponse::PutOk { seq: 2 })
    );
    // Putting the same bytes again is not an error; a replayed older seq is refused.
    assert_eq!(
        slot_ask(&mut owner, relay_id, put(record(&slot, 2))).await,
        Some(SlotResponse::PutOk { seq: 2 })
    );
    assert_eq!(
        slot_ask(&mut owner, relay_id, put(record(&slot, 1))).await,
        Some(SlotResponse::Refused(SlotRefusal::Older))
    );
    // A record that does not verify is refused with a reason.
    let mut forged = record(&slot, 3);
    forged[40] ^= 1;
    assert_eq!(
        slot_ask(&mut owner, relay_id, put(forged)).await,
        Some(SlotResponse::Refused(SlotRefusal::Malformed))
    );
    // An oversized record is not read at all: the stream ends unanswered, counted as malformed.
    let oversized = vec![1u8; meishi_event::MAX_SLOT_RECORD + 1];
    assert_eq!(slot_ask(&mut owner, relay_id, put(oversized)).await, None);
    // The host's cap (2 here) refuses a third slot from the same address.
    let other = SlotKey::from_seed(&[0xd1; 32]);
    let third = SlotKey::from_seed(&[0xe1; 32]);
    assert_eq!(
        slot_ask(&mut owner, relay_id, put(record(&other, 1))).await,
        Some(SlotResponse::PutOk { seq: 1 })
    );
    assert_eq!(
        slot_ask(&mut owner, relay_id, put(record(&third, 1))).await,
        Some(SlotResponse::Refused(SlotRefusal::Full))
    );
    assert_eq!(refused_for(&relay, "slots", "per_host").await, 1);

    // The owner goes away, past the grace that ends its board entries: the records stay.
    drop(owner);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut contact = client();
    contact.dial(relay_tcp).unwrap();
    until(&mut contact, |e| {
        matches!(e, SwarmEvent::ConnectionEstablished { .. }).then_some(())
    })
    .await;
    let got = slot_ask(
        &mut contact,
        relay_id,
        SlotRequest::Get {
            slots: vec![third.id(), slot.id(), other.id()],
        },
    )
    .await;
    let Some(SlotResponse::Records { records }) = got else {
        panic!("{got:?}");
    };
    assert_eq!(records, vec![record(&slot, 2), record(&other, 1)]);
    let opened = SlotRecord::decode(&records[0])
        .unwrap()
        .open(&seal)
        .unwrap();
    assert_eq!(opened, b"signed card");
    assert_eq!(gauge_is(&relay, "meishi_relay_slots", 2).await, 2);
    let text = relay.metrics_text();
    assert_eq!(counter(&text, "slots", "malformed"), 1, "{text}");
    assert_eq!(counter(&text, "slots", "stored"), 2, "{text}");
    assert_eq!(counter(&text, "slots", "refused"), 3, "{text}");
    relay.shutdown().await;
}

/// Sends one drop request; its answer, or None when the relay closed the stream unanswered.
async fn drop_ask(
    c: &mut Swarm<Client>,
    relay_id: PeerId,
    req: meishi_event::DropRequest,
) -> Option<meishi_event::DropResponse> {
    c.behaviour_mut().drops.send_request(&relay_id, req);
    until(c, |e| match e {
        SwarmEvent::Behaviour(ClientEvent::Drops(request_response::Event::Message {
            message: request_response::Message::Response { response, .. },
            ..
        })) => Some(Some(response)),
        SwarmEvent::Behaviour(ClientEvent::Drops(request_response::Event::OutboundFailure {
            ..
        })) => Some(None),
        _ => None,
    })
    .await
}

#[tokio::test]
async fn drop_messages_wait_for_their_recipient_until_acknowledged() {
    use meishi_event::{
        drop_digest, open_drop, seal_drop, DropRefusal, DropRequest, DropResponse, DropSecret,
    };
    let (relay, relay_tcp, _) = relay_with(|c| {
        c.limits.drops.per_host = 2;
        c.limits.disconnect_grace_ms = 50;
    })
    .await;
    let relay_id = relay.peer_id();
    let ada = DropSecret::from_bytes([0xad; 32]);
    let to = |contact: u8| ada.address_for(&[contact; 32]);
    let put = |contact: u8, text: &[u8]| {
        let a = to(contact);
        (a.id, seal_drop(&a, text).unwrap())
    };

    let mut sender = client();
    sender.dial(relay_tcp.clone()).unwrap();
    until(&mut sender, |e| {
        matches!(e, SwarmEvent::ConnectionEstablished { .. }).then_some(())
    })
    .await;
    let (id, first) = put(1, b"first");
    let req = |id, sealed: &Vec<u8>| DropRequest::Put {
        id,
        sealed: sealed.clone(),
    };
    assert_eq!(
        drop_ask(&mut sender, relay_id, req(id, &first)).await,
        Some(DropResponse::PutOk)
    );
    // The same message again is kept once.
    assert_eq!(
        drop_ask(&mut sender, relay_id, req(id, &first)).await,
        Some(DropResponse::PutOk)
    );
    // Bytes that are not a sealed drop are refused with a reason.
    let mut v2 = first.clone();
    v2[0] = 2;
    assert_eq!(
        drop_ask(&mut sender, relay_id, req(id, &v2)).await,
        Some(DropResponse::Refused(DropRefusal::Malformed))
    );
    // An oversized message is not read at all: the stream ends unanswered, counted as malformed.
    let oversized = vec![1u8; meishi_event::MAX_DROP_SEALED + 1];
    assert_eq!(
        drop_ask(&mut sender, relay_id, req(id, &oversized)).await,
        None
    );
    // The host's cap (2 here) refuses a third message from the same address.
    let (id2, second) = put(2, b"second");
    assert_eq!(
        drop_ask(&mut sender, relay_id, req(id2, &second)).await,
        Some(DropResponse::PutOk)
    );
    let (id3, third) = put(3, b"third");
    assert_eq!(
        drop_ask(&mut sender, relay_id, req(id3, &third)).await,
        Some(DropResponse::Refused(DropRefusal::HostFull))
    );
    assert_eq!(refused_for(&relay, "drops", "per_host").await, 1);

    // The sender goes away, past the grace that ends its board entries: the messages stay.
    drop(sender);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut recipient = client();
    recipient.dial(relay_tcp).unwrap();
    until(&mut recipient, |e| {
        matches!(e, SwarmEvent::ConnectionEstablished { .. }).then_some(())
    })
    .await;
    let get = DropRequest::Get {
        ids: vec![id3, id2, id],
    };
    let got = drop_ask(&mut recipient, relay_id, get.clone()).await;
    let Some(DropResponse::Messages { messages, more }) = got else {
        panic!("{got:?}");
    };
    // Oldest first, whatever the order asked.
    assert_eq!(messages, vec![(id, first.clone()), (id2, second.clone())]);
    assert!(!more);
    assert_eq!(open_drop(&ada, &id, &messages[0].1).unwrap(), b"first");
    assert_eq!(gauge_is(&relay, "meishi_relay_drops", 2).await, 2);
    // Acknowledged, a message is gone; the other one still waits.
    assert_eq!(
        drop_ask(
            &mut recipient,
            relay_id,
            DropRequest::Ack {
                id,
                digests: vec![drop_digest(&first)],
            },
        )
        .await,
        Some(DropResponse::AckOk { deleted: 1 })
    );
    assert_eq!(
        drop_ask(&mut recipient, relay_id, get).await,
        Some(DropResponse::Messages {
            messages: vec![(id2, second)],
            more: false,
        })
    );
    assert_eq!(gauge_is(&relay, "meishi_relay_drops", 1).await, 1);
    let text = relay.metrics_text();
    assert_eq!(counter(&text, "drops", "malformed"), 1, "{text}");
    assert_eq!(counter(&text, "drops", "stored"), 2, "{text}");
    assert_eq!(counter(&text, "drops", "same"), 1, "{text}");
    assert_eq!(counter(&text, "drops", "refused"), 2, "{text}");
    assert_eq!(counter(&text, "drops", "acked"), 1, "{text}");
    assert_eq!(counter(&text, "drops", "listed"), 2, "{text}");
    relay.shutdown().await;
}

/// Connects a fresh client to the relay at `addr`.
async fn connected_client(addr: &Multiaddr) -> Swarm<Client> {
    let mut c = client();
    c.dial(addr.clone()).unwrap();
    until(&mut c, |e| {
        matches!(e, SwarmEvent::ConnectionEstablished { .. }).then_some(())
    })
    .await;
    c
}

/// The relay keeps slot records and drop messages in its store: shut down and started again on
/// the same file, it serves them again (and the highest `seq` still wins); an acknowledged
/// message stays gone. The file holds opaque ids and sealed bytes, nothing of who wrote them.
#[tokio::test]
async fn slot_records_and_drop_messages_outlive_a_restart() {
    use meishi_event::{drop_digest, seal_drop, DropRequest, DropResponse, DropSecret};
    use meishi_relay::disk::Disk;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("relay.db");
    let on_disk = |c: &mut Config| {
        c.store.path = Some(db.clone());
        c.key_file = Some(dir.path().join("relay.key"));
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let slot = SlotKey::from_seed(&[0xc1; 32]);
    let seal = SlotSealKey::from_bytes([0xc2; 32]);
    let record = |seq: u64| {
        SlotRecord::seal(&slot, &seal, seq, now + 3600, b"card", [seq as u8; 24])
            .unwrap()
            .as_bytes()
            .to_vec()
    };
    let ada = DropSecret::from_bytes([0xad; 32]);
    let address = ada.address_for(&[1; 32]);
    let (kept, acked) = (
        seal_drop(&address, b"kept").unwrap(),
        seal_drop(&address, b"acked").unwrap(),
    );

    let (relay, relay_tcp, _) = relay_with(on_disk).await;
    let relay_id = relay.peer_id();
    let mut owner = connected_client(&relay_tcp).await;
    let writer = *owner.local_peer_id();
    for seq in [1, 2] {
        assert_eq!(
            slot_ask(
                &mut owner,
                relay_id,
                SlotRequest::Put {
                    record: record(seq)
                }
            )
            .await,
            Some(SlotResponse::PutOk { seq })
        );
    }
    for sealed in [&kept, &acked] {
        let put = DropRequest::Put {
            id: address.id,
            sealed: sealed.clone(),
        };
        assert_eq!(
            drop_ask(&mut owner, relay_id, put).await,
            Some(DropResponse::PutOk)
        );
    }
    let ack = DropRequest::Ack {
        id: address.id,
        digests: vec![drop_digest(&acked)],
    };
    assert_eq!(
        drop_ask(&mut owner, relay_id, ack).await,
        Some(DropResponse::AckOk { deleted: 1 })
    );
    drop(owner);
    relay.shutdown().await;

    // What the file holds, by opaque id, and nothing of the writer: neither its peer id nor
    // its public key nor its address.
    let dump = Disk::open_read_only(&db).unwrap().dump().unwrap();
    let slots: Vec<_> = dump.slots.iter().map(|s| (s.slot, s.seq)).collect();
    assert_eq!(slots, [(slot.id(), 2)]);
    let boxes: Vec<_> = dump.drops.iter().map(|m| (m.box_id, m.size)).collect();
    assert_eq!(boxes, [(address.id, kept.len())]);
    let mut file = std::fs::read(&db).unwrap();
    file.extend(std::fs::read(dir.path().join("relay.db-wal")).unwrap_or_default());
    let has = |needle: &[u8]| file.windows(needle.len()).any(|w| w == needle);
    assert!(has(&record(2)) && has(&kept), "the bytes are kept as put");
    assert!(!has(&writer.to_bytes()), "the writer's peer id");
    assert!(!has(writer.to_base58().as_bytes()));
    assert!(!has(b"127.0.0.1"));

    // Started again on the same file (same key, same peer id).
    let (relay, relay_tcp, _) = relay_with(on_disk).await;
    assert_eq!(relay.peer_id(), relay_id);
    assert_eq!(gauge_is(&relay, "meishi_relay_slots", 1).await, 1);
    assert_eq!(gauge_is(&relay, "meishi_relay_drops", 1).await, 1);
    let mut contact = connected_client(&relay_tcp).await;
    let got = slot_ask(
        &mut contact,
        relay_id,
        SlotRequest::Get {
            slots: vec![slot.id()],
        },
    )
    .await;
    assert_eq!(
        got,
        Some(SlotResponse::Records {
            records: vec![record(2)]
        })
    );
    assert_eq!(
        slot_ask(
            &mut contact,
            relay_id,
            SlotRequest::Put { record: record(1) }
        )
        .await,
        Some(SlotResponse::Refused(SlotRefusal::Older))
    );
    let get = DropRequest::Get {
        ids: vec![address.id],
    };
    assert_eq!(
        drop_ask(&mut contact, relay_id, get).await,
        Some(DropResponse::Messages {
            messages: vec![(address.id, kept)],
            more: false,
        })
    );
    relay.shutdown().await;
}

/// A store file that is not a relay store stops the start with an error naming it, and is
/// left as it was: the relay never wipes what it cannot read.
#[tokio::test]
async fn a_damaged_store_refuses_to_start_and_is_left_alone() {
    use meishi_relay::{OpenError, SpawnError};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("relay.db");
    let garbage = b"not a database, but somebody's file".repeat(200);
    std::fs::write(&db, &garbage).unwrap();
    let config = Config {
        listen: vec!["/ip4/127.0.0.1/tcp/0".into()],
        metrics: None,
        store: meishi_relay::StoreConfig {
            path: Some(db.clone()),
        },
        ..Config::default()
    };
    let Err(e) = Relay::spawn(config).await else {
        panic!("a relay started on a damaged store");
    };
    assert!(
        matches!(&e, SpawnError::Store(OpenError::Damaged { path, .. }) if *path == db),
        "{e:?}"
    );
    assert!(e.to_string().contains(&db.display().to_string()), "{e}");
    assert_eq!(std::fs::read(&db).unwrap(), garbage);
}

/// docs/grafana/meishi-relay.json asks Prometheus only for metrics this relay exports: every
/// `meishi_relay_…` name it queries (less the `_total`, `_bucket` suffixes Prometheus adds) has a
/// `# TYPE` line in the relay's metrics, or is a labelled family registered under that name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_grafana_dashboard_queries_only_metrics_the_relay_exports() {
    let dashboard = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../docs/grafana/meishi-relay.json"),
    )
    .unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&dashboard).unwrap();
    assert!(parsed["panels"].as_array().is_some_and(|p| !p.is_empty()));
    let (h, _, _) = relay_with(|_| {}).await;
    let text = h.metrics_text();
    let metrics_rs = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/metrics.rs"),
    )
    .unwrap();
    let mut names: Vec<&str> = dashboard
        .match_indices("meishi_relay_")
        .map(|(i, _)| {
            let rest = &dashboard[i..];
            let end = rest
                .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .collect();
    names.sort_unstable();
    names.dedup();
    assert!(names.len() >= 15, "{names:?}");
    for name in names {
        let base = ["_total", "_bucket", "_count", "_sum"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(name);
        // A labelled family is exported once it has a series (fleet metrics need a fleet
        // peer): it must at least be registered under that name.
        let short = base.trim_start_matches("meishi_relay_");
        assert!(
            text.contains(&format!("# TYPE {base} "))
                || metrics_rs.contains(&format!("\"{short}\"")),
            "the dashboard queries {name}, which the relay does not export:\n{text}"
        );
    }
    h.shutdown().await;
}

/// A connection that holds nothing here (no reservation, no circuit, no stream) is closed after
/// the relay's idle timeout, even from a client that neither pings nor sends anything after
/// connecting: libp2p-relay's handler alone would keep it open until the client closes it
/// (src/nudge.rs).
#[tokio::test]
async fn a_connection_that_holds_nothing_is_closed_when_idle() {
    let (relay, relay_tcp, _) = relay_with(|c| c.limits.idle_timeout_secs = 1).await;
    // The client's own idle timeout is 60 s: a close before that is the relay's.
    let mut c = raw_swarm(board::PROTOCOL);
    c.dial(relay_tcp).unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(45), async {
        let mut opened = false;
        loop {
            match c.select_next_some().await {
                SwarmEvent::ConnectionEstablished { .. } => opened = true,
                SwarmEvent::ConnectionClosed { .. } => return opened,
                _ => {}
            }
        }
    })
    .await;
    assert_eq!(
        closed,
        Ok(true),
        "the relay kept a connection that held nothing open for 45 s"
    );
    relay.shutdown().await;
}
