//! Drop boxes on a relay, in process on 127.0.0.1: Bob seals a message to the drop address Ada
//! gave him and leaves it on a `meishi_relay` relay; Ada, later and after Bob has gone, gets it,
//! opens it and acknowledges it, and the relay no longer serves it. A flood into one box is
//! refused once the box is full, and a message too large or not a sealed drop is refused.

use meishi_event::{
    drop_digest, open_drop, seal_drop, DropRefusal, DropSecret, MAX_DROP_GET, MAX_DROP_SEALED,
};
use meishi_node::{DropClientError, Multiaddr};
use meishi_relay::{Relay, RelayHandle};

use crate::relay::{free_port, relay_addr};
use crate::{identity, spawn_config, PATIENCE};

/// A relay on loopback whose request rate does not bind: the flood below is 65 requests in a
/// row from one peer, more than the default burst, and this test is about the box's cap.
async fn relay(key: &std::path::Path) -> RelayHandle {
    let port = free_port();
    let mut c = meishi_relay::Config {
        listen: vec![format!("/ip4/127.0.0.1/tcp/{port}")],
        external_addresses: vec![format!("/ip4/127.0.0.1/tcp/{port}")],
        metrics: None,
        key_file: Some(key.to_owned()),
        ..Default::default()
    };
    c.limits.request_rate_per_peer = meishi_relay::config::Rate {
        burst: 1_000,
        interval_ms: 1,
    };
    Relay::spawn(c).await.unwrap()
}

async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, f).await.expect("timed out")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_left_by_one_node_is_collected_by_its_recipient_after_the_sender_stops() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay(&dir.path().join("relay.key")).await;
    let raddr = relay_addr(&r);

    // Ada's drop secret, and the address she gave Bob (derived from Bob's key).
    let ada_secret = DropSecret::from_bytes([0xad; 32]);
    let bob_key = identity(62).public().0;
    let address = ada_secret.address_for(&bob_key);

    // Bob seals to Ada's address, leaves the message on the relay and stops.
    let bob = spawn_config(62, "Bob", |_| {}).await;
    let sealed = seal_drop(&address, b"Bob here: slides are at the booth").unwrap();
    within(bob.node.put_drop(raddr.clone(), address.id, sealed.clone()))
        .await
        .unwrap();
    // The same message again is kept once.
    within(bob.node.put_drop(raddr.clone(), address.id, sealed.clone()))
        .await
        .unwrap();
    bob.node.shutdown().await.unwrap();
    drop(bob);

    // Ada, later, lists her boxes (Bob's and another contact's), opens and acknowledges.
    let ada = spawn_config(61, "Ada", |_| {}).await;
    let other_box = ada_secret.id_for(&identity(63).public().0);
    let (got, more) = within(
        ada.node
            .get_drops(raddr.clone(), vec![other_box, address.id]),
    )
    .await
    .unwrap();
    assert!(!more);
    assert_eq!(got, vec![(address.id, sealed.clone())]);
    let opened = open_drop(&ada_secret, &got[0].0, &got[0].1).unwrap();
    assert_eq!(opened, b"Bob here: slides are at the booth");
    let deleted = within(
        ada.node
            .ack_drops(raddr.clone(), address.id, vec![drop_digest(&sealed)]),
    )
    .await
    .unwrap();
    assert_eq!(deleted, 1);
    // Collected: a second get returns nothing, and a second ack deletes nothing.
    let again = within(ada.node.get_drops(raddr.clone(), vec![address.id]))
        .await
        .unwrap();
    assert_eq!(again, (vec![], false));
    let acked = within(
        ada.node
            .ack_drops(raddr.clone(), address.id, vec![drop_digest(&sealed)]),
    )
    .await
    .unwrap();
    assert_eq!(acked, 0);
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_box_and_bad_messages_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay(&dir.path().join("relay.key")).await;
    let raddr = relay_addr(&r);
    let ada_secret = DropSecret::from_bytes([0xad; 32]);
    let address = ada_secret.address_for(&identity(64).public().0);
    let mallory = spawn_config(64, "Mallory", |_| {}).await;
    let put = |sealed: Vec<u8>| mallory.node.put_drop(raddr.clone(), address.id, sealed);

    // A box holds 64 messages (the relay's default per_box); the 65th is refused as box full.
    for i in 0..64u32 {
        let sealed = seal_drop(&address, format!("message {i}").as_bytes()).unwrap();
        within(put(sealed)).await.unwrap();
    }
    let sealed = seal_drop(&address, b"one too many").unwrap();
    assert_eq!(
        within(put(sealed)).await,
        Err(DropClientError::Refused(DropRefusal::BoxFull))
    );
    // The box's owner gets the oldest first, and told that more wait.
    let ada = spawn_config(61, "Ada", |_| {}).await;
    let (got, more) = within(ada.node.get_drops(raddr.clone(), vec![address.id]))
        .await
        .unwrap();
    assert_eq!(got.len(), 64);
    assert!(!more);
    let first = open_drop(&ada_secret, &address.id, &got[0].1).unwrap();
    assert_eq!(first, b"message 0");

    // A sealed message of the right size that is not a drop (version 2) is refused by the relay.
    let other = ada_secret.address_for(&identity(65).public().0);
    let mut v2 = seal_drop(&other, b"hi").unwrap();
    v2[0] = 2;
    assert_eq!(
        within(mallory.node.put_drop(raddr.clone(), other.id, v2)).await,
        Err(DropClientError::Refused(DropRefusal::Malformed))
    );
    // A message over the limit is refused before anything is sent (the relay would close the
    // stream unread), as is an empty one.
    let big = vec![1; MAX_DROP_SEALED + 1];
    assert_eq!(
        mallory.node.put_drop(raddr.clone(), other.id, big).await,
        Err(DropClientError::SealedSize(MAX_DROP_SEALED + 1))
    );
    assert_eq!(
        mallory.node.put_drop(raddr.clone(), other.id, vec![]).await,
        Err(DropClientError::SealedSize(0))
    );
    // So are too many ids and a relay address without the relay's peer id.
    let ids: Vec<_> = (0..=MAX_DROP_GET as u8)
        .map(|i| ada_secret.id_for(&[i; 32]))
        .collect();
    assert_eq!(
        ada.node.get_drops(raddr.clone(), ids).await,
        Err(DropClientError::TooManyIds(65))
    );
    let bare: Multiaddr = r.listen_addrs()[0].clone();
    assert!(matches!(
        ada.node.get_drops(bare, vec![address.id]).await,
        Err(DropClientError::RelayWithoutPeerId(_))
    ));
    // Nothing was kept of the refused messages.
    let (other_box, _) = within(ada.node.get_drops(raddr.clone(), vec![other.id]))
        .await
        .unwrap();
    assert!(other_box.is_empty());
    r.shutdown().await;
}
