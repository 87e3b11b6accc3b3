//! The consent rule between real nodes on 127.0.0.1 (proto-spec/exchange.md#consent): the inbox
//! cannot be jammed, strangers outside the scope get nothing, `never` lets nothing leave, and a
//! revoked holder fetches nothing.

use meishi_node::{
    key_of, Event, FetchError, GiveError, GiveOutcome, Limits, Peers, Policy, RefuseCode, Scope,
    Teaser,
};

use crate::{spawn, spawn_config, TestNode, PATIENCE};

async fn give(from: &TestNode, to: &TestNode) -> Result<GiveOutcome, GiveError> {
    tokio::time::timeout(PATIENCE, from.node.give(to.peer, vec![to.addr.clone()]))
        .await
        .expect("give timed out")
}

async fn fetch(from: &TestNode, to: &TestNode) -> Result<meishi_card::SignedCard, FetchError> {
    tokio::time::timeout(PATIENCE, from.node.fetch(to.peer, vec![to.addr.clone()]))
        .await
        .expect("fetch timed out")
}

fn teaser(name: &str) -> Option<Teaser> {
    Some(Teaser {
        name: name.into(),
        headline: Some("hello".into()),
    })
}

#[tokio::test]
async fn one_peer_giving_again_and_again_does_not_jam_the_inbox() {
    let limits = Limits {
        max_inbox: 2,
        ..Limits::default()
    };
    let mut b = spawn_config(2, "Bob", |c| {
        c.policy = Policy::Ask;
        c.limits = limits;
    })
    .await;
    let mallory = spawn(66, "Mallory", Policy::Auto).await;
    let ada = spawn(1, "Ada", Policy::Auto).await;
    let cy = spawn(3, "Cy", Policy::Auto).await;
    // Five gives from one peer take one inbox slot (the newest wins in the application's inbox).
    for _ in 0..5 {
        assert_eq!(give(&mallory, &b).await, Ok(GiveOutcome::Pending));
    }
    assert_eq!(
        give(&ada, &b).await,
        Ok(GiveOutcome::Pending),
        "a second giver must still get a slot"
    );
    // Two givers fill `max_inbox = 2`: a third is told the inbox is busy.
    assert_eq!(
        give(&cy, &b).await,
        Err(GiveError::Refused(RefuseCode::Busy))
    );
    // The application decided about Mallory's item (its inbox no longer holds it): a slot
    // frees up for Cy.
    b.node
        .set_peers(Peers {
            pending: vec![ada_key()],
            ..Peers::default()
        })
        .await
        .expect("set peers");
    assert_eq!(give(&cy, &b).await, Ok(GiveOutcome::Pending));
    // Every give answered "pending" reaches the application, Cy's last.
    let mut items = 0;
    while items < 5 + 1 + 1 {
        b.wait_for(|e| matches!(e, Event::InboxItem { .. }).then_some(()))
            .await;
        items += 1;
    }
    assert!(!b
        .drain()
        .iter()
        .any(|e| matches!(e, Event::InboxItem { .. })));
}

fn ada_key() -> meishi_card::PublicKey {
    crate::identity(1).public()
}

#[tokio::test]
async fn known_scope_holds_a_strangers_give_and_answers_no_fetch() {
    let mut b = spawn_config(2, "Bob", |c| {
        c.policy = Policy::Auto;
        c.scope = Scope::Known;
    })
    .await;
    let mallory = spawn(66, "Mallory", Policy::Auto).await;
    assert_eq!(give(&mallory, &b).await, Ok(GiveOutcome::Pending));
    b.wait_for(|e| match e {
        Event::InboxItem { from, .. } if *from == mallory.peer => Some(()),
        Event::CardReceived { .. } | Event::CardGiven { .. } => {
            panic!("a stranger's give must be held, and nothing given: {e:?}")
        }
        _ => None,
    })
    .await;
    assert_eq!(
        fetch(&mallory, &b).await,
        Err(FetchError::Refused(RefuseCode::NotAHolder))
    );

    // A contact is within the scope: answered at once.
    let ada = spawn(1, "Ada", Policy::Auto).await;
    b.node
        .set_peers(Peers {
            contacts: vec![ada_key()],
            ..Peers::default()
        })
        .await
        .expect("set peers");
    assert!(matches!(
        give(&ada, &b).await,
        Ok(GiveOutcome::Mutual { .. })
    ));
}

#[tokio::test]
async fn dialled_scope_answers_only_the_peer_it_gave_to() {
    let swapper = spawn_config(2, "Bob", |c| {
        c.scope = Scope::Dialled;
    })
    .await;
    let ada = spawn(1, "Ada", Policy::Auto).await;
    let mallory = spawn(66, "Mallory", Policy::Auto).await;
    assert!(matches!(
        give(&swapper, &ada).await,
        Ok(GiveOutcome::Mutual { .. })
    ));
    assert_eq!(give(&mallory, &swapper).await, Ok(GiveOutcome::Pending));
    assert!(matches!(
        give(&ada, &swapper).await,
        Ok(GiveOutcome::Mutual { .. })
    ));
}

#[tokio::test]
async fn never_gives_no_card_no_fetch_and_no_teaser() {
    let ada = spawn_config(1, "Ada", |c| {
        c.teaser = teaser("Ada");
    })
    .await;
    let bob = spawn(2, "Bob", Policy::Auto).await;
    // Bob gets Ada's card in a swap: he holds it and may fetch it.
    assert!(matches!(
        give(&bob, &ada).await,
        Ok(GiveOutcome::Mutual { .. })
    ));
    assert!(fetch(&bob, &ada).await.is_ok());
    let t = bob.node.teaser(ada.peer, vec![ada.addr.clone()]).await;
    assert!(matches!(t, Ok(Some(_))), "{t:?}");

    ada.node.set_policy(Policy::Never).await.expect("policy");
    assert_eq!(
        fetch(&bob, &ada).await,
        Err(FetchError::Refused(RefuseCode::NotAHolder)),
        "`never` answers no fetch, even a holder's"
    );
    assert_eq!(
        bob.node.teaser(ada.peer, vec![ada.addr.clone()]).await,
        Ok(None),
        "`never` shows no teaser"
    );
    assert_eq!(
        give(&bob, &ada).await,
        Ok(GiveOutcome::ReceivedOnly),
        "`never` gives nothing back"
    );
}

#[tokio::test]
async fn a_revoked_holder_fetches_nothing_and_its_gives_wait() {
    let ada = spawn(1, "Ada", Policy::Auto).await;
    let bob = spawn(2, "Bob", Policy::Auto).await;
    assert!(matches!(
        give(&bob, &ada).await,
        Ok(GiveOutcome::Mutual { .. })
    ));
    assert!(fetch(&bob, &ada).await.is_ok());
    let bob_key = key_of(&bob.peer).expect("ed25519");
    ada.node
        .set_peers(Peers {
            holders: vec![bob_key],
            contacts: vec![bob_key],
            revoked: vec![bob_key],
            ..Peers::default()
        })
        .await
        .expect("set peers");
    let refused = fetch(&bob, &ada).await;
    assert_eq!(
        refused,
        Err(FetchError::Refused(RefuseCode::NotAHolder)),
        "a revoked holder is refused exactly like someone who never had the card"
    );
    assert_eq!(give(&bob, &ada).await, Ok(GiveOutcome::Pending));
    // Ada gives her card to Bob again herself: that lifts the revocation.
    assert!(give(&ada, &bob).await.is_ok());
    assert!(fetch(&bob, &ada).await.is_ok());
}
