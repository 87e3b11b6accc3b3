//! What a contact cannot do through slots and drop boxes, with a real relay in process: pass
//! another person's card off through its own slot or box, or deliver an introduction nobody
//! asked for. Each attempt leaves Bob's book as it was, and what was read is deleted.

#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

use meishi_app::drops::{self, Letter};
use meishi_app::updates;
use meishi_card::envelope::Envelope;
use meishi_card::intro::{IntroBody, IntroMessage, INTRO_TTL_SECS, NO_PREV};
use meishi_card::{Card, Identity, SignedCard};
use meishi_node::{Config, Multiaddr, Node, Policy};
use meishi_store::{ContactRef, Store, Via};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn relay(key: &std::path::Path) -> (meishi_relay::RelayHandle, Multiaddr) {
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
    let r = meishi_relay::Relay::spawn(c).await.unwrap();
    let addr = format!("{}/p2p/{}", r.listen_addrs()[0], r.peer_id())
        .parse()
        .unwrap();
    (r, addr)
}

fn card(id: &Identity, seq: u64, name: &str) -> SignedCard {
    SignedCard::sign(id, seq, 1_700_000_000 + seq, &Card::new(name)).unwrap()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

struct Person {
    id: Identity,
    store: Store,
    node: Node,
    card: SignedCard,
}

fn person(dir: &std::path::Path, seed: u8, name: &str, relay: &Multiaddr) -> Person {
    let id = Identity::from_seed(&[seed; 32]);
    let store = Store::open(&dir.join(format!("{name}.db"))).unwrap();
    let card = card(&id, 1, name);
    store.set_own_card(&card).unwrap();
    updates::ensure_own_links(&store, std::slice::from_ref(relay))
        .unwrap()
        .unwrap();
    let mut config = Config::new(Identity::from_seed(&[seed; 32]), card.clone());
    config.policy = Policy::Never;
    let (node, _events) = Node::spawn(config).unwrap();
    Person {
        id,
        store,
        node,
        card,
    }
}

/// `from` gives its card (with its links for `to`) into `to`'s book.
fn give(from: &Person, to: &mut Person) {
    let own = from.store.own_links().unwrap().unwrap();
    let links = updates::give_links(&own)
        .unwrap()
        .for_recipient(&to.id.public());
    let env = Envelope::sign_with_links(
        &from.id,
        &from.card,
        to.id.public(),
        now(),
        None,
        [7; 16],
        &links,
    )
    .unwrap();
    to.store.receive(&env, Via::Swap).unwrap();
}

fn seq_of(p: &Person, who: &Identity) -> Option<u64> {
    p.store
        .get(&ContactRef::Key(who.public()))
        .unwrap()
        .and_then(|c| c.summary.seq)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_cannot_pass_another_persons_card_through_its_slot_or_box() {
    let dir = tempfile::tempdir().unwrap();
    let (_relay, raddr) = relay(&dir.path().join("relay.key")).await;
    let mut bob = person(dir.path(), 2, "Bob", &raddr);
    let mut carol = person(dir.path(), 3, "Carol", &raddr);
    let ada = Identity::from_seed(&[1; 32]);
    // Bob knows Ada (seq 1) and Carol; Carol knows Bob and holds a newer card of Ada's, and an
    // envelope of it addressed to Bob (as an introducer would).
    bob.store.put_signed(&card(&ada, 1, "Ada"), "swap").unwrap();
    give(&carol, &mut bob);
    give(&bob, &mut carol);
    let ada_v5 = card(&ada, 5, "Ada Forged-Through-Carol");
    let ada_to_bob = Envelope::sign(&ada, &ada_v5, bob.id.public(), now(), None, [9; 16]).unwrap();

    // 1. Carol's slot carries Ada's card: Bob reads it and ignores it.
    let reports = updates::publish(&carol.node, &carol.store, &ada_v5).await;
    assert!(
        reports
            .iter()
            .any(|r| matches!(r, meishi_app::Report::Published { .. })),
        "{reports:?}"
    );
    let read = updates::read_slots(&bob.node, &bob.store).await;
    assert!(read.is_empty(), "{read:?}");
    assert_eq!(seq_of(&bob, &ada), Some(1));
    assert_eq!(seq_of(&bob, &carol.id), Some(1));

    // 2. Carol's box at Bob carries Ada's envelope as a card letter: not hers, ignored.
    let links_of_bob = drops::links_of(&carol.store, &bob.id.public()).unwrap();
    drops::send(
        &carol.node,
        &links_of_bob,
        &Letter::Card(ada_to_bob.as_bytes().to_vec()),
    )
    .await
    .unwrap();
    // 3. And as an introduction's delivery nobody asked for.
    let deliver = IntroMessage::sign(
        &carol.id,
        [4; 16],
        bob.id.public(),
        NO_PREV,
        now() + INTRO_TTL_SECS,
        IntroBody::Deliver {
            envelope: ada_to_bob.clone(),
        },
    )
    .unwrap();
    drops::send(
        &carol.node,
        &links_of_bob,
        &Letter::Intro(deliver.as_bytes().to_vec()),
    )
    .await
    .unwrap();
    let got = drops::read(&bob.node, &bob.store, &bob.id.public()).await;
    assert!(got.reports.is_empty(), "{:?}", got.reports);
    assert_eq!(got.intros.len(), 1);
    for (from, bytes) in &got.intros {
        let r = meishi_app::intro::receive(&bob.node, &bob.store, &bob.id, from, bytes).await;
        assert!(r.is_empty(), "{r:?}");
    }
    assert_eq!(seq_of(&bob, &ada), Some(1), "Ada's card did not change");
    assert_eq!(bob.store.list().unwrap().len(), 2);
    // Everything read was deleted from the relay.
    let again = drops::read(&bob.node, &bob.store, &bob.id.public()).await;
    assert!(again.reports.is_empty() && again.intros.is_empty());
}
