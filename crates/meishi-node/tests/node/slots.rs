//! Card slots on a relay, in process on 127.0.0.1: a node puts its sealed card record on a
//! `meishi_relay` relay and stops; another node gets the record by slot id while the owner is
//! away and opens it to the owner's signed card. The relay refuses a replayed older record,
//! and a get of too many ids fails before anything is sent.

use meishi_event::{SlotKey, SlotRecord, SlotRefusal, SlotSealKey, MAX_SLOT_GET};
use meishi_node::{Multiaddr, SlotClientError, SlotPutOutcome};

use crate::relay::{free_port, relay, relay_addr};
use crate::{card, identity, spawn, spawn_config, PATIENCE};

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_record_put_by_one_node_is_opened_by_another_after_the_owner_stops() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay(free_port(), &dir.path().join("relay.key")).await;
    let raddr = relay_addr(&r);

    let slot = SlotKey::from_seed(&[0x51; 32]);
    let seal = SlotSealKey::from_bytes([0x52; 32]);
    let a_card = card(&identity(51), 1, "Alice");
    let expires = now() + 3600;
    let record = |seq: u64| {
        SlotRecord::seal(
            &slot,
            &seal,
            seq,
            expires,
            a_card.as_bytes(),
            [seq as u8; 24],
        )
        .unwrap()
        .as_bytes()
        .to_vec()
    };

    // Alice puts seq 1 (dialing the relay on her own) and stops.
    let a = spawn_config(51, "Alice", |_| {}).await;
    let put = tokio::time::timeout(PATIENCE, a.node.put_slot(raddr.clone(), record(1)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(put, SlotPutOutcome::Kept { seq: 1 });
    a.node.shutdown().await.unwrap();
    drop(a);

    // Bob gets it by slot id while Alice is away, and opens it to Alice's signed card.
    let b = spawn(52, "Bob", meishi_node::Policy::Auto).await;
    let got = tokio::time::timeout(
        PATIENCE,
        b.node
            .get_slots(raddr.clone(), vec![[0x77; 32], slot.id().0]),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(got, vec![record(1)]);
    let opened = SlotRecord::decode(&got[0]).unwrap().open(&seal).unwrap();
    assert_eq!(opened, a_card.as_bytes());

    // Alice again: seq 2 is kept, and a replay of seq 1 is refused as older.
    let a = spawn_config(51, "Alice", |_| {}).await;
    let put = |seq| a.node.put_slot(raddr.clone(), record(seq));
    let two = tokio::time::timeout(PATIENCE, put(2)).await.unwrap();
    assert_eq!(two.unwrap(), SlotPutOutcome::Kept { seq: 2 });
    let one = tokio::time::timeout(PATIENCE, put(1)).await.unwrap();
    assert_eq!(one.unwrap(), SlotPutOutcome::Refused(SlotRefusal::Older));

    // 65 ids fail before anything is sent: the relay address here has nobody behind it, so a
    // request would have failed as unreachable instead.
    let nobody: Multiaddr = format!(
        "/ip4/127.0.0.1/tcp/{}/p2p/{}",
        free_port(),
        identity(99).public().peer_id()
    )
    .parse()
    .unwrap();
    let ids: Vec<[u8; 32]> = (0..=MAX_SLOT_GET as u8).map(|i| [i; 32]).collect();
    assert_eq!(
        b.node.get_slots(nobody.clone(), ids).await,
        Err(SlotClientError::TooManyIds(65))
    );
    assert_eq!(
        b.node.get_slots(nobody, vec![[1; 32]]).await,
        Err(SlotClientError::Unreachable)
    );
    // An address without the relay's peer id is refused before anything is sent too.
    assert!(matches!(
        b.node
            .get_slots(r.listen_addrs()[0].clone(), vec![[1; 32]])
            .await,
        Err(SlotClientError::RelayWithoutPeerId(_))
    ));
    r.shutdown().await;
}

/// A relay learns nothing of who puts or gets slot records from the connection: the slot and
/// drop client dials under a random identity made for the run, never the person's key. A bare
/// libp2p listener stands in for the relay and records the peer id that connects to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_slot_client_connects_under_a_random_peer_id() {
    use futures::StreamExt;
    use libp2p::swarm::SwarmEvent;

    let mut watcher = libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            libp2p::tcp::Config::default(),
            libp2p::noise::Config::new,
            libp2p::yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|_| libp2p::swarm::dummy::Behaviour)
        .unwrap()
        .build();
    watcher
        .listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
        .unwrap();
    let addr = loop {
        if let SwarmEvent::NewListenAddr { address, .. } = watcher.select_next_some().await {
            break address;
        }
    };
    let relay: Multiaddr = format!("{addr}/p2p/{}", watcher.local_peer_id())
        .parse()
        .unwrap();

    let a = spawn_config(53, "Alice", |_| {}).await;
    let me = a.node.peer_id();
    let node = a.node.clone();
    // The request fails (the watcher speaks no slot protocol); the connection is what counts.
    let put = tokio::spawn(async move { node.get_slots(relay, vec![[9; 32]]).await });
    let seen = tokio::time::timeout(PATIENCE, async {
        loop {
            if let SwarmEvent::ConnectionEstablished { peer_id, .. } =
                watcher.select_next_some().await
            {
                break peer_id;
            }
        }
    })
    .await
    .unwrap();
    assert_ne!(seen, me, "the relay saw the person's own peer id");
    let _ = put.await;
}
