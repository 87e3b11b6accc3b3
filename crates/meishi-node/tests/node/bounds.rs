//! What strangers can make a node do is bounded (proto-spec/exchange.md#bounds): unsolicited
//! cards per time window, the backlog of events a slow application leaves, and the addresses a
//! give dials. Each test fails when its bound is removed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::SwarmEvent;
use libp2p::{identify, noise, tcp, yamux, Multiaddr, SwarmBuilder};
use meishi_card::envelope::Envelope;
use meishi_card::Identity;
use meishi_node::protocol::{Codec, Request, Response};
use meishi_node::{
    Event, GiveError, GiveOutcome, Limits, Peers, Policy, Refusal, RefuseCode, RequestError,
    EXCHANGE_PROTOCOL, IDENTIFY_PROTOCOL_VERSION,
};

use crate::attacker::{self, give};
use crate::{card, identity, spawn, spawn_with, PATIENCE};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// The answers, without the envelopes' bytes, for failure messages.
fn kinds(answers: &[Result<Response, String>]) -> Vec<String> {
    answers
        .iter()
        .map(|a| match a {
            Ok(Response::GiveBack(_)) => "give-back".to_owned(),
            other => format!("{other:?}"),
        })
        .collect()
}

fn envelope(from: &Identity, to: &Identity) -> Envelope {
    Envelope::sign(
        from,
        &card(from, 1, "Stranger"),
        to.public(),
        now(),
        None,
        [7; 16],
    )
    .expect("sign")
}

/// Five strangers give under `auto` to a node that keeps three unsolicited cards per window:
/// three are kept and answered, two are refused as busy; a contact and a peer the node gave
/// its card to are still answered.
#[tokio::test]
async fn unsolicited_cards_beyond_the_window_are_refused_busy() {
    let limits = Limits {
        unsolicited_burst: 3,
        unsolicited_refill: Duration::from_secs(3600),
        ..Limits::default()
    };
    let mut b = spawn_with(2, "Bob", Policy::Auto, limits).await;
    let mut answers = Vec::new();
    for n in 100..105u8 {
        let stranger = identity(n);
        let mut m = attacker::framed(&stranger);
        let bytes = envelope(&stranger, &identity(2));
        answers.push(m.send(b.peer, &b.addr, give(bytes.as_bytes())).await);
    }
    let kept = answers
        .iter()
        .filter(|a| matches!(a, Ok(Response::GiveBack(_))))
        .count();
    let busy = answers
        .iter()
        .filter(|a| **a == Ok(Response::Refused(RefuseCode::Busy)))
        .count();
    assert_eq!((kept, busy), (3, 2), "{:?}", kinds(&answers));
    let (mut received, mut refused) = (0, 0);
    while received + refused < 5 {
        b.wait_for(|e| match e {
            Event::CardReceived { unsolicited, .. } => {
                // Answered with my card: a swap the policy chose, kept like any contact.
                assert!(!unsolicited, "{e:?}");
                received += 1;
                Some(())
            }
            Event::Refused {
                reason: Refusal::TooManyUnsolicited,
                ..
            } => {
                refused += 1;
                Some(())
            }
            _ => None,
        })
        .await;
    }
    assert_eq!((received, refused), (3, 2));

    // A contact is not a stranger: answered, and its card is not unsolicited.
    let ada = spawn(1, "Ada", Policy::Auto).await;
    b.node
        .set_peers(Peers {
            contacts: vec![identity(1).public()],
            ..Peers::default()
        })
        .await
        .expect("set peers");
    let out = ada.node.give(b.peer, vec![b.addr.clone()]).await;
    assert!(matches!(out, Ok(GiveOutcome::Mutual { .. })), "{out:?}");
    let unsolicited = b
        .wait_for(|e| match e {
            Event::CardReceived {
                from, unsolicited, ..
            } if *from == ada.peer => Some(*unsolicited),
            _ => None,
        })
        .await;
    assert!(!unsolicited);
    // Nor is a peer I gave my card to first.
    let cy = spawn(3, "Cy", Policy::Never).await;
    assert_eq!(
        b.node.give(cy.peer, vec![cy.addr.clone()]).await,
        Ok(GiveOutcome::ReceivedOnly)
    );
    let mut m = attacker::framed(&identity(3));
    let bytes = envelope(&identity(3), &identity(2));
    assert!(matches!(
        m.send(b.peer, &b.addr, give(bytes.as_bytes())).await,
        Ok(Response::GiveBack(_))
    ));
}

/// Under `never` a stranger's card is kept without mine going back: it is unsolicited (stored
/// unkept and capped by the application), and the window applies.
#[tokio::test]
async fn a_card_kept_without_giving_back_is_unsolicited() {
    let mut b = spawn(2, "Bob", Policy::Never).await;
    let stranger = identity(110);
    let mut m = attacker::framed(&stranger);
    let bytes = envelope(&stranger, &identity(2));
    assert_eq!(
        m.send(b.peer, &b.addr, give(bytes.as_bytes())).await,
        Ok(Response::Kept)
    );
    let unsolicited = b
        .wait_for(|e| match e {
            Event::CardReceived { unsolicited, .. } => Some(*unsolicited),
            _ => None,
        })
        .await;
    assert!(unsolicited);
}

/// The application never reads its events (a database stuck in fsync). The node still answers
/// requests: gives beyond the backlog are refused as busy, a teaser request is answered, and
/// every card it answered as received reaches the application once it reads again.
#[tokio::test]
async fn a_stalled_application_does_not_stall_the_node() {
    let limits = Limits {
        event_buffer: 2,
        ..Limits::default()
    };
    let mut b = spawn_with(2, "Bob", Policy::Auto, limits).await;
    let mut answers = Vec::new();
    for n in 110..120u8 {
        let stranger = identity(n);
        let mut m = attacker::framed(&stranger);
        let bytes = envelope(&stranger, &identity(2));
        answers.push(m.send(b.peer, &b.addr, give(bytes.as_bytes())).await);
    }
    let kept = answers
        .iter()
        .filter(|a| matches!(a, Ok(Response::GiveBack(_))))
        .count();
    let busy = answers
        .iter()
        .filter(|a| **a == Ok(Response::Refused(RefuseCode::Busy)))
        .count();
    assert_eq!(
        kept + busy,
        10,
        "every give is answered: {:?}",
        kinds(&answers)
    );
    assert!(busy > 0, "the backlog is bounded: {:?}", kinds(&answers));
    // Still serving: a request that needs the event loop is answered.
    let mut m = attacker::framed(&identity(120));
    assert_eq!(
        m.send(b.peer, &b.addr, Request::Teaser).await,
        Ok(Response::NoTeaser)
    );
    // The application reads again: every card answered as received is there, none twice.
    let mut received = 0;
    while received < kept {
        b.wait_for(|e| matches!(e, Event::CardReceived { .. }).then_some(()))
            .await;
        received += 1;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let extra = b
        .drain()
        .iter()
        .filter(|e| matches!(e, Event::CardReceived { .. }))
        .count();
    assert_eq!(extra, 0);
}

#[derive(libp2p::swarm::NetworkBehaviour)]
struct Stranger {
    identify: identify::Behaviour,
    exchange: request_response::Behaviour<Codec>,
}

/// A listener that counts the connections made to it (and closes each at once).
async fn victim(count: Arc<AtomicUsize>) -> Multiaddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = l.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            drop(s);
        }
    });
    format!("/ip4/127.0.0.1/tcp/{port}").parse().expect("addr")
}

/// A stranger connects and reports twenty addresses of third parties through identify, then
/// leaves. The node dials none of them on its own, and a give the user asks for dials at most
/// eight addresses in all (the six the user gave first): the node is no reflector.
#[tokio::test]
async fn a_give_dials_a_bounded_number_of_the_addresses_a_stranger_reports() {
    let b = spawn(2, "Bob", Policy::Auto).await;
    let count = Arc::new(AtomicUsize::new(0));
    let mut reported = Vec::new();
    for _ in 0..20 {
        reported.push(victim(count.clone()).await);
    }
    let mut given = Vec::new();
    for _ in 0..6 {
        given.push(victim(count.clone()).await);
    }

    let mut seed = *identity(90).seed();
    let key = libp2p::identity::Keypair::ed25519_from_bytes(&mut seed).expect("key");
    let mut s = SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .expect("tcp")
        .with_behaviour(|key| Stranger {
            identify: identify::Behaviour::new(identify::Config::new(
                IDENTIFY_PROTOCOL_VERSION.into(),
                key.public(),
            )),
            exchange: request_response::Behaviour::with_codec(
                Codec,
                [(EXCHANGE_PROTOCOL, ProtocolSupport::Outbound)],
                request_response::Config::default(),
            ),
        })
        .expect("behaviour")
        .build();
    let stranger = *s.local_peer_id();
    for a in &reported {
        s.add_external_address(a.clone());
    }
    s.dial(b.addr.clone()).expect("dial");
    tokio::time::timeout(PATIENCE, async {
        let mut sent = false;
        let mut asked = None;
        loop {
            match s.select_next_some().await {
                SwarmEvent::Behaviour(StrangerEvent::Identify(identify::Event::Sent {
                    peer_id,
                    ..
                })) if peer_id == b.peer && !sent => {
                    sent = true;
                    // A request after the identify message: once answered, the node has read
                    // both.
                    asked = Some(
                        s.behaviour_mut()
                            .exchange
                            .send_request(&b.peer, Request::Teaser),
                    );
                }
                SwarmEvent::Behaviour(StrangerEvent::Exchange(
                    request_response::Event::Message {
                        message: request_response::Message::Response { request_id, .. },
                        ..
                    },
                )) if Some(request_id) == asked => break,
                _ => {}
            }
        }
        let _ = s.disconnect_peer_id(b.peer);
        while s.is_connected(&b.peer) {
            s.select_next_some().await;
        }
    })
    .await
    .expect("the stranger talked to the node");
    drop(s);
    assert_eq!(
        count.load(Ordering::SeqCst),
        0,
        "nothing is dialled on its own"
    );

    // The user gives to the stranger: the node may still see the old connection for a moment.
    let mut result = None;
    for _ in 0..50 {
        let r = tokio::time::timeout(PATIENCE, b.node.give(stranger, given.clone()))
            .await
            .expect("no hang");
        if r == Err(GiveError::Request(RequestError::ConnectionClosed)) {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        result = Some(r);
        break;
    }
    assert_eq!(
        result,
        Some(Err(GiveError::Request(RequestError::Unreachable)))
    );
    let dialled = count.load(Ordering::SeqCst);
    assert!(
        (6..=8).contains(&dialled),
        "a give dials the user's addresses and at most 8 in all, not every address a stranger reports: {dialled}"
    );
}
