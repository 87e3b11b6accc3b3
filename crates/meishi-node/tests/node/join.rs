//! Joining an event while the node runs (`Node::join_event`): two nodes that started with no
//! relay and no event join one on a loopback relay, one by code and relay, the other by join
//! URI, and find each other on its board as nodes started with the event do. Joining narrows
//! the consent scope as starting with an event does, and the limits on events and relays hold.

use std::time::Duration;

use meishi_event::JoinTicket;
use meishi_node::{Config, GiveOutcome, JoinError, Limits, Multiaddr, Node, Teaser, MAX_EVENTS};

use crate::relay::{free_port, relay, relay_addr, reserved, sees};
use crate::{card, identity, spawn, spawn_config, TestNode, PATIENCE};

const CODE: &str = "zt4k-8wqm-3hvc-n6pd-r2fy";

/// A node started with nothing to attend: no relay, no event, the default scope (anyone). It
/// listens on 127.0.0.1 too, so a stranger can reach it directly.
async fn idle(n: u8, name: &str) -> TestNode {
    spawn_config(n, name, |c| {
        // No envelope label of its own: a join URI's name becomes it.
        c.label = None;
        c.teaser = Some(Teaser {
            name: name.into(),
            headline: None,
        });
        c.limits = Limits {
            event_poll: Duration::from_millis(300),
            relay_backoff: (Duration::from_millis(200), Duration::from_secs(2)),
            ..Limits::default()
        };
    })
    .await
}

async fn give(from: &TestNode, to: &TestNode) -> GiveOutcome {
    tokio::time::timeout(PATIENCE, from.node.give(to.peer, vec![to.addr.clone()]))
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_join_an_event_at_run_time_and_find_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay(free_port(), &dir.path().join("relay.key")).await;
    let raddr = relay_addr(&r);

    let mut a = idle(61, "Alice").await;
    let mut b = idle(62, "Bob").await;
    assert!(a.node.events().await.unwrap().is_empty());

    // Before joining, Alice answers anyone who reaches her.
    let dave = spawn(64, "Dave", meishi_node::Policy::Auto).await;
    assert!(
        matches!(give(&dave, &a).await, GiveOutcome::Mutual { .. }),
        "a node at no event swaps with anyone"
    );

    // Alice joins by code and relay, Bob by the join URI (the same code, written otherwise).
    a.node
        .join_event(CODE.into(), Some(raddr.clone()), Some("Join Conf".into()))
        .await
        .unwrap();
    let uri = JoinTicket::new("ZT4K 8WQM 3HVC N6PD R2FY", vec![raddr.clone()])
        .unwrap()
        .with_name("Join Conf")
        .unwrap()
        .to_string();
    b.node.join_event(uri, None, None).await.unwrap();
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
    let seen = a.node.attendees().await.unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].events,
        [CODE],
        "announced under the code Alice joined with"
    );

    // Joining again changes nothing.
    a.node
        .join_event(CODE.into(), Some(raddr.clone()), None)
        .await
        .unwrap();
    for t in [&a, &b] {
        let events = t.node.events().await.unwrap();
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].label.as_deref(), Some("Join Conf"));
        assert_eq!(events[0].relays, [r.peer_id()]);
        assert_eq!(events[0].attendees, 1);
    }

    // Fellow attendees swap over the circuit.
    let out = tokio::time::timeout(PATIENCE, a.node.give(b.peer, addrs))
        .await
        .unwrap()
        .unwrap();
    match out {
        GiveOutcome::Mutual { envelope } => {
            assert_eq!(envelope.card().card().name, "Bob");
            assert_eq!(
                envelope.event(),
                Some("Join Conf"),
                "Bob's label, from the URI"
            );
        }
        other => panic!("expected a mutual swap, got {other:?}"),
    }

    // At an event Alice answers only people she knows, as a node started with one does: a
    // stranger's give waits for her decision.
    let carol = spawn(63, "Carol", meishi_node::Policy::Auto).await;
    assert_eq!(give(&carol, &a).await, GiveOutcome::Pending);
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_event_refuses_what_it_cannot_join_and_changes_nothing() {
    let a = idle(65, "Ada").await;
    // Without a relay, given or kept, the event could never be reached.
    assert_eq!(
        a.node.join_event(CODE.into(), None, None).await,
        Err(JoinError::NoRelay)
    );
    let bare: Multiaddr = "/ip4/127.0.0.1/tcp/9".parse().unwrap();
    assert_eq!(
        a.node
            .join_event(CODE.into(), Some(bare.clone()), None)
            .await,
        Err(JoinError::RelayWithoutPeerId(bare))
    );
    assert!(matches!(
        a.node
            .join_event("meishi:event?code=x".into(), None, None)
            .await,
        Err(JoinError::Ticket(_))
    ));
    assert!(matches!(
        a.node
            .join_event(" \t".into(), Some(unreachable_relay(101)), None)
            .await,
        Err(JoinError::Code(_))
    ));
    assert!(a.node.events().await.unwrap().is_empty());

    // A node at the most events it may join: one more is refused, one of its own is not.
    let id = identity(66);
    let card = card(&id, 1, "Bea");
    let mut config = Config::new(id, card);
    config.relays = vec![unreachable_relay(101)];
    config.event_codes = (0..MAX_EVENTS).map(|i| format!("{CODE}-{i}")).collect();
    let (bea, _events) = Node::spawn(config).unwrap();
    assert_eq!(
        bea.join_event(CODE.into(), None, None).await,
        Err(JoinError::TooManyEvents { max: MAX_EVENTS })
    );
    bea.join_event(format!("{CODE}-0"), None, None)
        .await
        .unwrap();
    // New relays are added up to the limit, and a join that would pass it changes nothing.
    let more: Vec<String> = (102..101 + meishi_node::MAX_RELAYS as u8)
        .map(|n| unreachable_relay(n).to_string())
        .collect();
    for r in &more {
        bea.join_event(format!("{CODE}-1"), Some(r.parse().unwrap()), None)
            .await
            .unwrap();
    }
    assert_eq!(
        bea.join_event(format!("{CODE}-1"), Some(unreachable_relay(200)), None)
            .await,
        Err(JoinError::TooManyRelays {
            max: meishi_node::MAX_RELAYS
        })
    );
    let events = bea.events().await.unwrap();
    assert_eq!(events.len(), MAX_EVENTS);
    assert!(events
        .iter()
        .all(|e| e.relays.len() == meishi_node::MAX_RELAYS));
}

/// A relay address nobody answers at (port 9 on loopback), with relay `n`'s peer id.
fn unreachable_relay(n: u8) -> Multiaddr {
    let peer = meishi_node::peer_id_of(&identity(n).public()).unwrap();
    format!("/ip4/127.0.0.1/tcp/9/p2p/{peer}").parse().unwrap()
}
