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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn relay(port: u16, key: &Path) -> RelayHandle {
    let c = meishi_relay::Config {
        listen: vec![format!("/ip4/127.0.0.1/tcp/{port}")],
        external_addresses: vec![format!("/ip4/127.0.0.1/tcp/{port}")],
        metrics: None,
        key_file: Some(key.to_owned()),
        ..Default::default()
    };
    Relay::spawn(c).await.unwrap()
}

fn relay_addr(r: &RelayHandle) -> Multiaddr {
    format!("{}/p2p/{}", r.listen_addrs()[0], r.peer_id())
        .parse()
        .unwrap()
}

/// A node that listens on nothing: the relay is its only way in.
async fn attendee(n: u8, name: &str, relay: &Multiaddr, code: &str) -> TestNode {
    let id = identity(n);
    let card = card(&id, 1, name);
    let mut config = Config::new(id, card);
    config.teaser = Some(Teaser {
        name: name.into(),
        headline: Some(format!("{name} at the event")),
    });
    config.relays = vec![relay.clone()];
    config.events = vec![code.into()];
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

async fn reserved(t: &mut TestNode) -> Multiaddr {
    t.wait_for(|e| match e {
        Event::Reserved { addr, .. } => Some(addr.clone()),
        _ => None,
    })
    .await
}

async fn sees(t: &mut TestNode, who: PeerId) -> (String, Vec<Multiaddr>) {
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
    let mut c = attendee(43, "Carol", &raddr, "qa7x-9kfe-2mvd-p4tr-h8cx").await;
    reserved(&mut a).await;
    reserved(&mut b).await;
    reserved(&mut c).await;

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

    // Carol's code differs in one letter: after several polls of a board holding two teasers
    // she has seen nobody, and nobody has seen her.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(c.node.attendees().await.unwrap().is_empty());
    let seen_by_a: Vec<PeerId> = a
        .node
        .attendees()
        .await
        .unwrap()
        .into_iter()
        .map(|x| x.peer)
        .collect();
    assert_eq!(seen_by_a, vec![b.peer]);

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
