//! Give, give back, ask, never and fetch between nodes on 127.0.0.1.

use meishi_card::Replacement;
use meishi_node::{key_of, peer_id_of, Event, FetchError, GiveOutcome, Policy, RefuseCode};

use crate::{card, identity, spawn, TestNode, PATIENCE};

async fn give(from: &TestNode, to: &TestNode) -> GiveOutcome {
    tokio::time::timeout(PATIENCE, from.node.give(to.peer, vec![to.addr.clone()]))
        .await
        .expect("give timed out")
        .expect("give")
}

#[tokio::test]
async fn peer_id_is_the_card_key() {
    let a = spawn(1, "Ada", Policy::Auto).await;
    let key = identity(1).public();
    assert_eq!(a.node.peer_id().to_string(), key.peer_id());
    assert_eq!(peer_id_of(&key), Some(a.node.peer_id()));
    assert_eq!(key_of(&a.node.peer_id()), Some(key));
    let addrs = a.node.listen_addrs().await.expect("addrs");
    assert!(addrs.contains(&a.addr));
    a.node.shutdown().await.expect("shutdown");
    assert_eq!(
        a.node.listen_addrs().await,
        Err(meishi_node::Shutdown),
        "a stopped node answers Shutdown"
    );
}

#[tokio::test]
async fn auto_gives_back() {
    let mut a = spawn(1, "Ada", Policy::Auto).await;
    let mut b = spawn(2, "Bob", Policy::Auto).await;
    let GiveOutcome::Mutual { envelope } = give(&a, &b).await else {
        panic!("expected a mutual exchange")
    };
    assert_eq!(envelope.card().card().name, "Bob");
    assert_eq!(envelope.recipient(), identity(1).public());
    assert_eq!(envelope.event(), Some("Test Conf"));

    // B received A's card, addressed to B, and gave its own.
    let got = b
        .wait_for(|e| match e {
            Event::CardReceived { from, envelope, .. } => Some((*from, envelope.clone())),
            _ => None,
        })
        .await;
    assert_eq!(got.0, a.peer);
    assert_eq!(got.1.card().card().name, "Ada");
    assert_eq!(got.1.recipient(), identity(2).public());
    let given = b
        .wait_for(|e| match e {
            Event::CardGiven { to, envelope } => Some((*to, envelope.clone())),
            _ => None,
        })
        .await;
    assert_eq!(given.0, a.peer);
    // What A got is exactly what B says it gave: two envelopes, one each way.
    assert_eq!(given.1, envelope);

    // A sees the same exchange as events too.
    let received = a
        .wait_for(|e| match e {
            Event::CardReceived { from, envelope, .. } => Some((*from, envelope.clone())),
            _ => None,
        })
        .await;
    assert_eq!(received, (b.peer, envelope));
}

#[tokio::test]
async fn never_receives_only() {
    let a = spawn(1, "Ada", Policy::Auto).await;
    let mut b = spawn(2, "Bob", Policy::Never).await;
    assert_eq!(give(&a, &b).await, GiveOutcome::ReceivedOnly);
    b.wait_for(|e| matches!(e, Event::CardReceived { .. }).then_some(()))
        .await;
    assert!(
        !b.drain()
            .iter()
            .any(|e| matches!(e, Event::CardGiven { .. })),
        "a `never` node must not give its card"
    );
}

#[tokio::test]
async fn ask_holds_then_gives_back_on_accept() {
    let mut a = spawn(1, "Ada", Policy::Auto).await;
    let mut b = spawn(2, "Bob", Policy::Ask).await;
    let c = spawn(3, "Cy", Policy::Auto).await;

    assert_eq!(give(&a, &b).await, GiveOutcome::Pending);
    let (from, addrs) = b
        .wait_for(|e| match e {
            Event::InboxItem {
                from,
                envelope,
                addrs,
            } => {
                assert_eq!(envelope.card().card().name, "Ada");
                Some((*from, addrs.clone()))
            }
            Event::CardReceived { .. } => panic!("an `ask` node must hold the card first"),
            _ => None,
        })
        .await;
    assert_eq!(from, a.peer);
    assert_eq!(give(&c, &b).await, GiveOutcome::Pending);
    b.wait_for(|e| match e {
        Event::InboxItem { from, .. } if *from == c.peer => Some(()),
        _ => None,
    })
    .await;

    // Accept A: the application (which keeps the inbox) gives B's card back; A, who gave
    // first, keeps it.
    let back = tokio::time::timeout(PATIENCE, b.node.give_back(a.peer, addrs))
        .await
        .expect("give back timed out")
        .expect("give back");
    assert_eq!(back, GiveOutcome::ReceivedOnly);
    let got = a
        .wait_for(|e| match e {
            Event::CardReceived { from, envelope, .. } => {
                Some((*from, envelope.card().card().name.clone()))
            }
            _ => None,
        })
        .await;
    assert_eq!(got, (b.peer, "Bob".to_string()));

    // Decline C: the application drops it; the node gave nothing.
    let events = b.drain();
    assert!(!events
        .iter()
        .any(|e| matches!(e, Event::CardReceived { from, .. } if *from == c.peer)));
    assert!(!events
        .iter()
        .any(|e| matches!(e, Event::CardGiven { to, .. } if *to == c.peer)));
}

#[tokio::test]
async fn fetch_picks_up_newer_and_older_is_detected() {
    let a = spawn(1, "Ada", Policy::Auto).await;
    let b = spawn(2, "Bob", Policy::Auto).await;
    let c = spawn(3, "Cy", Policy::Auto).await;
    let GiveOutcome::Mutual { envelope } = give(&a, &b).await else {
        panic!("mutual")
    };
    let stored = envelope.card().clone();
    assert_eq!(stored.seq(), 1);

    // B edits its card; A (a holder: B gave it the card) fetches the update.
    let v2 = card(&identity(2), 2, "Bob Newer");
    b.node.set_card(v2.clone()).await.expect("set card");
    let fetched = a
        .node
        .fetch(b.peer, vec![b.addr.clone()])
        .await
        .expect("fetch");
    assert_eq!(fetched, v2);
    assert_eq!(stored.compare(&fetched), Replacement::Newer);

    // B goes back to an older seq: the fetch delivers it, and the comparison refuses it.
    b.node.set_card(stored.clone()).await.expect("set card");
    let older = a
        .node
        .fetch(b.peer, vec![b.addr.clone()])
        .await
        .expect("fetch");
    assert_eq!(fetched.compare(&older), Replacement::Older);

    // C never received B's card: B does not answer.
    let err = c
        .node
        .fetch(b.peer, vec![b.addr.clone()])
        .await
        .unwrap_err();
    assert_eq!(err, FetchError::Refused(RefuseCode::NotAHolder));
    // B cannot set a card of another key.
    assert_eq!(
        b.node.set_card(card(&identity(9), 5, "Mallory")).await,
        Err(meishi_node::SetCardError::NotOwnCard)
    );
}

#[tokio::test]
async fn give_to_a_dead_address_fails() {
    let a = spawn(1, "Ada", Policy::Auto).await;
    let b = spawn(2, "Bob", Policy::Auto).await;
    let addr = b.addr.clone();
    b.node.shutdown().await.expect("shutdown");
    drop(b);
    let peer = peer_id_of(&identity(2).public()).expect("peer id");
    let err = tokio::time::timeout(PATIENCE, a.node.give(peer, vec![addr]))
        .await
        .expect("no hang");
    assert_eq!(
        err,
        Err(meishi_node::GiveError::Request(
            meishi_node::RequestError::Unreachable
        ))
    );
}

#[tokio::test]
async fn swap_over_quic() {
    let id = identity(5);
    let mut config = meishi_node::Config::new(identity(5), card(&id, 1, "Quinn"));
    config.listen = vec!["/ip4/127.0.0.1/udp/0/quic-v1".parse().expect("addr")];
    let (node, mut events) = meishi_node::Node::spawn(config).expect("spawn");
    let addr = tokio::time::timeout(PATIENCE, async {
        loop {
            if let Some(Event::Listening { addr }) = events.recv().await {
                break addr;
            }
        }
    })
    .await
    .expect("listening");
    assert!(addr.to_string().contains("/quic-v1"), "{addr}");
    let a = spawn(1, "Ada", Policy::Auto).await;
    let out = tokio::time::timeout(PATIENCE, a.node.give(node.peer_id(), vec![addr]))
        .await
        .expect("no hang")
        .expect("give over QUIC");
    let GiveOutcome::Mutual { envelope } = out else {
        panic!("mutual")
    };
    assert_eq!(envelope.card().card().name, "Quinn");
}

#[tokio::test]
async fn teasers_are_opt_in_and_signed() {
    let a = spawn(1, "Ada", Policy::Auto).await;
    let b = spawn(2, "Bob", Policy::Never).await;
    // No teaser configured: none is shown.
    assert_eq!(a.node.teaser(b.peer, vec![b.addr.clone()]).await, Ok(None));
    let id = identity(4);
    let mut config = meishi_node::Config::new(identity(4), card(&id, 1, "Dee"));
    config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().expect("addr")];
    config.teaser = Some(meishi_node::Teaser {
        name: "Dee".into(),
        headline: Some("hello".into()),
    });
    let (dee, mut events) = meishi_node::Node::spawn(config).expect("spawn");
    let addr = tokio::time::timeout(PATIENCE, async {
        loop {
            if let Some(Event::Listening { addr }) = events.recv().await {
                break addr;
            }
        }
    })
    .await
    .expect("listening");
    let t = a
        .node
        .teaser(dee.peer_id(), vec![addr])
        .await
        .expect("teaser")
        .expect("some");
    assert_eq!((t.name(), t.headline()), ("Dee", Some("hello")));
    assert_eq!(t.key(), identity(4).public());
}
