//! Events across a relay, in process on 127.0.0.1: nodes that listen on nothing reserve a slot
//! on a `meishi_relay` relay, find each other's sealed teasers on its board under an event
//! code, and swap over a relayed circuit. A node with a wrong code sees nobody. The relay then
//! restarts on the same address and identity; the nodes reserve and register again, and a swap
//! still completes.

use std::path::Path;
use std::time::Duration;

use meishi_node::{Config, Event, GiveOutcome, Limits, Multiaddr, Node, PeerId, Teaser};
use meishi_relay::{Relay, RelayHandle};

use crate::{card, identity, TestNode, PATIENCE};

const CODE: &str = "qa7x-9kfe-2mvd-p4tr-h8cw";

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(crate) async fn relay(port: u16, key: &Path) -> RelayHandle {
    let c = meishi_relay::Config {
        listen: vec![format!("/ip4/127.0.0.1/tcp/{port}")],
        external_addresses: vec![format!("/ip4/127.0.0.1/tcp/{port}")],
        metrics: None,
        key_file: Some(key.to_owned()),
        ..Default::default()
    };
    Relay::spawn(c).await.unwrap()
}

pub(crate) fn relay_addr(r: &RelayHandle) -> Multiaddr {
    format!("{}/p2p/{}", r.listen_addrs()[0], r.peer_id())
        .parse()
        .unwrap()
}

/// A node that listens on nothing: the relay is its only way in.
async fn attendee(n: u8, name: &str, relay: &Multiaddr, code: &str) -> TestNode {
    attendee_of(n, name, vec![relay.clone()], code).await
}

/// An attendee joined through every relay of `relays`.
pub(crate) async fn attendee_of(n: u8, name: &str, relays: Vec<Multiaddr>, code: &str) -> TestNode {
    let id = identity(n);
    let card = card(&id, 1, name);
    let mut config = Config::new(id, card);
    config.teaser = Some(Teaser {
        name: name.into(),
        headline: Some(format!("{name} at the event")),
    });
    config.relays = relays;
    config.event_codes = vec![code.into()];
    // As `meishi up --event` runs: answer attendees seen on the board and nobody else.
    config.scope = meishi_node::Scope::Known;
    config.limits = Limits {
        event_poll: Duration::from_millis(300),
        relay_backoff: (Duration::from_millis(200), Duration::from_secs(2)),
        ..Limits::default()
    };
    let (node, events) = Node::spawn(config).unwrap();
    let peer = node.peer_id();
    TestNode {
        node,
        events,
        addr: Multiaddr::empty(),
        peer,
    }
}

pub(crate) async fn reserved(t: &mut TestNode) -> Multiaddr {
    t.wait_for(|e| match e {
        Event::Reserved { addr, .. } => Some(addr.clone()),
        _ => None,
    })
    .await
}

pub(crate) async fn sees(t: &mut TestNode, who: PeerId) -> (String, Vec<Multiaddr>) {
    t.wait_for(|e| match e {
        Event::AttendeeDiscovered {
            peer,
            teaser,
            addrs,
            ..
        } if *peer == who => Some((teaser.name().to_owned(), addrs.clone())),
        _ => None,
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_swap_over_relay_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("relay.key");
    let port = free_port();
    let r1 = relay(port, &key).await;
    let raddr = relay_addr(&r1);

    let mut a = attendee(41, "Alice", &raddr, CODE).await;
    let mut b = attendee(42, "Bob", &raddr, "QA7X 9KFE 2MVD P4TR H8CW").await;
    reserved(&mut a).await;
    reserved(&mut b).await;

    let (name, addrs) = sees(&mut a, b.peer).await;
    assert_eq!(name, "Bob");
    assert!(
        addrs[0].to_string().contains("/p2p-circuit/p2p/"),
        "{addrs:?}"
    );
    let (name, _) = sees(&mut b, a.peer).await;
    assert_eq!(name, "Alice");

    // A swap over the circuit (nobody listens directly).
    let out = tokio::time::timeout(PATIENCE, a.node.give(b.peer, addrs))
        .await
        .unwrap()
        .unwrap();
    match out {
        GiveOutcome::Mutual { envelope } => assert_eq!(envelope.card().card().name, "Bob"),
        other => panic!("expected a mutual swap, got {other:?}"),
    }

    // Carol's code differs in one letter. She joins after Alice and Bob posted, and reads the
    // board to its end: she has seen nobody.
    let mut c = attendee(43, "Carol", &raddr, "qa7x-9kfe-2mvd-p4tr-h8cx").await;
    reserved(&mut c).await;
    c.wait_for(|e| matches!(e, Event::BoardRead { .. }).then_some(()))
        .await;
    assert!(c.node.attendees().await.unwrap().is_empty());
    // Eve joins Alice's event after Carol posted: once Alice has seen Eve, Alice has read the
    // board since Carol's teaser was on the relay, and she has not seen Carol.
    let mut e = attendee(45, "Eve", &raddr, CODE).await;
    reserved(&mut e).await;
    sees(&mut a, e.peer).await;
    let mut seen_by_a: Vec<PeerId> = a
        .node
        .attendees()
        .await
        .unwrap()
        .into_iter()
        .map(|x| x.peer)
        .collect();
    seen_by_a.sort();
    let mut want = vec![b.peer, e.peer];
    want.sort();
    assert_eq!(seen_by_a, want);
    drop(e);

    // The relay restarts on the same address with the same identity.
    r1.shutdown().await;
    a.wait_for(|e| matches!(e, Event::RelayDisconnected { .. }).then_some(()))
        .await;
    b.wait_for(|e| matches!(e, Event::RelayDisconnected { .. }).then_some(()))
        .await;
    let r2 = relay(port, &key).await;
    assert_eq!(relay_addr(&r2), raddr);
    reserved(&mut a).await;
    reserved(&mut b).await;

    // A newcomer after the restart finds both (in whichever order the board lists them): they
    // posted their teasers again.
    let mut d = attendee(44, "Dave", &raddr, CODE).await;
    reserved(&mut d).await;
    let mut names = Vec::new();
    while names.len() < 2 {
        let name = d
            .wait_for(|e| match e {
                Event::AttendeeDiscovered { peer, teaser, .. }
                    if *peer == a.peer || *peer == b.peer =>
                {
                    Some(teaser.name().to_owned())
                }
                _ => None,
            })
            .await;
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names.sort();
    assert_eq!(names, ["Alice", "Bob"]);

    // And a swap over the new relay completes.
    sees(&mut b, d.peer).await;
    let out = tokio::time::timeout(PATIENCE, b.node.give(d.peer, Vec::new()))
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(out, GiveOutcome::Mutual { .. }), "{out:?}");
    let out = tokio::time::timeout(PATIENCE, b.node.give(a.peer, Vec::new()))
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(out, GiveOutcome::Mutual { .. }), "{out:?}");
    r2.shutdown().await;
}

/// What a stranger dialling through the relay sees.
#[derive(libp2p::swarm::NetworkBehaviour)]
struct Observer {
    relay: libp2p::relay::client::Behaviour,
    identify: libp2p::identify::Behaviour,
}

/// A stranger who reaches a node through the relay learns none of the node's own addresses
/// through identify (proto-spec/exchange.md#consent): only its circuit address on the relay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identify_through_a_relay_tells_no_private_address() {
    use futures::StreamExt;
    use libp2p::multiaddr::Protocol;
    use libp2p::swarm::SwarmEvent;

    let dir = tempfile::tempdir().unwrap();
    let r = relay(free_port(), &dir.path().join("relay.key")).await;
    let raddr = relay_addr(&r);
    let id = identity(51);
    let mut config = Config::new(id, card(&identity(51), 1, "Ada"));
    // Ada also listens directly on this machine: that address must not reach a stranger.
    config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
    config.relays = vec![raddr.clone()];
    let (node, events) = Node::spawn(config).unwrap();
    let mut ada = TestNode {
        peer: node.peer_id(),
        node,
        events,
        addr: Multiaddr::empty(),
    };
    let circuit = reserved(&mut ada).await;
    let direct: Vec<Multiaddr> = ada
        .node
        .listen_addrs()
        .await
        .unwrap()
        .into_iter()
        .filter(|a| !a.iter().any(|p| p == Protocol::P2pCircuit))
        .collect();
    assert!(!direct.is_empty(), "Ada listens directly too");

    let mut stranger = libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            libp2p::tcp::Config::default(),
            libp2p::noise::Config::new,
            libp2p::yamux::Config::default,
        )
        .unwrap()
        .with_relay_client(libp2p::noise::Config::new, libp2p::yamux::Config::default)
        .unwrap()
        .with_behaviour(|key, relay| Observer {
            relay,
            identify: libp2p::identify::Behaviour::new(libp2p::identify::Config::new(
                meishi_node::IDENTIFY_PROTOCOL_VERSION.into(),
                key.public(),
            )),
        })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(30)))
        .build();
    stranger
        .dial(circuit.with(Protocol::P2p(ada.peer)))
        .unwrap();
    let info = tokio::time::timeout(PATIENCE, async {
        loop {
            if let SwarmEvent::Behaviour(ObserverEvent::Identify(
                libp2p::identify::Event::Received { peer_id, info, .. },
            )) = stranger.select_next_some().await
            {
                if peer_id == ada.peer {
                    return info;
                }
            }
        }
    })
    .await
    .expect("identify from Ada through the relay");
    for addr in &info.listen_addrs {
        assert!(
            addr.iter().any(|p| p == Protocol::P2pCircuit),
            "identify told a stranger a direct address of Ada's: {addr} (all: {:?})",
            info.listen_addrs
        );
    }
    for addr in &direct {
        assert!(!info.listen_addrs.contains(addr), "{addr} leaked");
    }
    r.shutdown().await;
}
