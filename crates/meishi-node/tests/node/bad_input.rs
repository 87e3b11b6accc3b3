//! Bad input: every case is refused with a clear error, passes nothing on as a card, and leaves
//! the node working.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use meishi_card::envelope::{encode_give_body_for_tests, Envelope, EnvelopeError, GIVE_LABEL};
use meishi_card::{Identity, Replacement, SignatureError};
use meishi_node::protocol::{Request, Response};
use meishi_node::{
    Event, FrameError, GiveOutcome, Limits, Policy, Refusal, RefuseCode, MAX_MESSAGE_BYTES,
};

use crate::attacker::{self, give};
use crate::{card, identity, spawn, spawn_with, TestNode};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

fn envelope(from: &Identity, to: &Identity, time: u64, nonce: u8) -> Envelope {
    Envelope::sign(
        from,
        &card(from, 1, "Mallory"),
        to.public(),
        time,
        None,
        [nonce; 16],
    )
    .expect("sign")
}

async fn refusal(node: &mut TestNode) -> Refusal {
    node.wait_for(|e| match e {
        Event::Refused { reason, .. } => Some(reason.clone()),
        Event::CardReceived { .. } | Event::InboxItem { .. } => {
            panic!("a bad give was passed on: {e:?}")
        }
        _ => None,
    })
    .await
}

/// The node still swaps with an honest peer afterwards, and passed on no bad card before.
async fn still_works(node: &mut TestNode) {
    let honest = spawn(77, "Honest", Policy::Auto).await;
    let out = honest
        .node
        .give(node.peer, vec![node.addr.clone()])
        .await
        .expect("honest give");
    assert!(matches!(out, GiveOutcome::Mutual { .. }), "{out:?}");
    let from = node
        .wait_for(|e| match e {
            Event::CardReceived { from, .. } => Some(*from),
            _ => None,
        })
        .await;
    assert_eq!(
        from, honest.peer,
        "the only card passed on is the honest one"
    );
}

#[tokio::test]
async fn forged_signature() {
    let mut b = spawn(2, "Bob", Policy::Auto).await;
    let mallory = identity(66);
    let mut bytes = envelope(&mallory, &identity(2), now(), 1)
        .as_bytes()
        .to_vec();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    let mut m = attacker::framed(&mallory);
    let answer = m.send(b.peer, &b.addr, give(&bytes)).await;
    assert_eq!(answer, Ok(Response::Refused(RefuseCode::BadEnvelope)));
    assert_eq!(
        refusal(&mut b).await,
        Refusal::Envelope(EnvelopeError::Signature(SignatureError::BadSignature))
    );

    // An envelope signed by the sender around someone else's card fails the same way.
    let ada = identity(1);
    let mut bytes = encode_give_body_for_tests(
        card(&ada, 1, "Ada").as_bytes(),
        &identity(2).public(),
        now(),
        None,
        [2; 16],
    );
    let sig = mallory.sign(GIVE_LABEL, &bytes);
    bytes.extend_from_slice(&sig);
    assert_eq!(
        m.send(b.peer, &b.addr, give(&bytes)).await,
        Ok(Response::Refused(RefuseCode::BadEnvelope))
    );
    assert_eq!(
        refusal(&mut b).await,
        Refusal::Envelope(EnvelopeError::Signature(SignatureError::BadSignature))
    );
    still_works(&mut b).await;
}

#[tokio::test]
async fn card_key_is_not_the_sender() {
    let mut b = spawn(2, "Bob", Policy::Auto).await;
    // Mallory replays an envelope Ada really signed for Bob, over Mallory's own connection.
    let ada_env = envelope(&identity(1), &identity(2), now(), 3);
    let mut m = attacker::framed(&identity(66));
    let answer = m.send(b.peer, &b.addr, give(ada_env.as_bytes())).await;
    assert_eq!(answer, Ok(Response::Refused(RefuseCode::WrongSender)));
    assert!(matches!(refusal(&mut b).await, Refusal::Check(e) if e.kind() == "wrong-sender"));
    still_works(&mut b).await;
}

#[tokio::test]
async fn envelope_for_someone_else() {
    let mut b = spawn(2, "Bob", Policy::Auto).await;
    let mallory = identity(66);
    // Mallory forwards the envelope she got from Cy... no: her own envelope, addressed to Cy.
    let env = envelope(&mallory, &identity(3), now(), 4);
    let mut m = attacker::framed(&mallory);
    assert_eq!(
        m.send(b.peer, &b.addr, give(env.as_bytes())).await,
        Ok(Response::Refused(RefuseCode::WrongRecipient))
    );
    assert!(matches!(refusal(&mut b).await, Refusal::Check(e) if e.kind() == "wrong-recipient"));
    still_works(&mut b).await;
}

#[tokio::test]
async fn stale_and_replayed_envelopes() {
    let mut b = spawn(2, "Bob", Policy::Auto).await;
    let mallory = identity(66);
    let mut m = attacker::framed(&mallory);
    let old = envelope(&mallory, &identity(2), now() - 3600, 5);
    assert_eq!(
        m.send(b.peer, &b.addr, give(old.as_bytes())).await,
        Ok(Response::Refused(RefuseCode::BadTime))
    );
    assert!(matches!(refusal(&mut b).await, Refusal::Check(e) if e.kind() == "stale"));
    let future = envelope(&mallory, &identity(2), now() + 3600, 6);
    assert_eq!(
        m.send(b.peer, &b.addr, give(future.as_bytes())).await,
        Ok(Response::Refused(RefuseCode::BadTime))
    );
    assert!(matches!(refusal(&mut b).await, Refusal::Check(e) if e.kind() == "from-future"));

    // A fresh envelope is accepted once; the identical bytes again are a replay.
    let fresh = envelope(&mallory, &identity(2), now(), 7);
    assert!(matches!(
        m.send(b.peer, &b.addr, give(fresh.as_bytes())).await,
        Ok(Response::GiveBack(_))
    ));
    b.wait_for(|e| matches!(e, Event::CardReceived { .. }).then_some(()))
        .await;
    assert_eq!(
        m.send(b.peer, &b.addr, give(fresh.as_bytes())).await,
        Ok(Response::Refused(RefuseCode::Replay))
    );
    assert_eq!(refusal(&mut b).await, Refusal::Replay);
}

#[tokio::test]
async fn replayed_older_seq_is_marked_older() {
    // The sender signs a fresh envelope around an older card of its own: the node passes it on
    // (it is a valid give) and the comparison the store makes refuses it as older.
    let mut b = spawn(2, "Bob", Policy::Never).await;
    let mallory = identity(66);
    let mut m = attacker::framed(&mallory);
    let v5 = Envelope::sign(
        &mallory,
        &card(&mallory, 5, "M5"),
        identity(2).public(),
        now(),
        None,
        [8; 16],
    )
    .expect("sign");
    let v3 = Envelope::sign(
        &mallory,
        &card(&mallory, 3, "M3"),
        identity(2).public(),
        now(),
        None,
        [9; 16],
    )
    .expect("sign");
    for env in [&v5, &v3] {
        assert_eq!(
            m.send(b.peer, &b.addr, give(env.as_bytes())).await,
            Ok(Response::Kept)
        );
    }
    let mut got = Vec::new();
    while got.len() < 2 {
        got.push(
            b.wait_for(|e| match e {
                Event::CardReceived { envelope, .. } => Some(envelope.card().clone()),
                _ => None,
            })
            .await,
        );
    }
    assert_eq!(got[0].compare(&got[1]), Replacement::Older);
}

#[tokio::test]
async fn garbage_and_oversized_messages() {
    let mut b = spawn(2, "Bob", Policy::Auto).await;
    let mut m = attacker::raw(&identity(66));
    // REFUSED (07), code 9 (malformed), framed: length 2.
    let malformed = vec![0, 0, 0, 2, 7, 9];
    // Garbage: a plausible length, then an unknown kind.
    let answer = m
        .send(b.peer, &b.addr, vec![0, 0, 0, 5, 0x99, 1, 2, 3, 4])
        .await;
    assert_eq!(answer, Ok(malformed.clone()));
    assert_eq!(
        refusal(&mut b).await,
        Refusal::Unreadable(FrameError::Invalid)
    );
    // A zero length.
    assert_eq!(
        m.send(b.peer, &b.addr, vec![0, 0, 0, 0]).await,
        Ok(malformed.clone())
    );
    assert_eq!(
        refusal(&mut b).await,
        Refusal::Unreadable(FrameError::Invalid)
    );
    // Oversized: claims 1 MiB and starts sending it. Refused from the length alone.
    let mut big = (1u32 << 20).to_be_bytes().to_vec();
    big.extend(vec![0xab; 64 * 1024]);
    let answer = m.send(b.peer, &b.addr, big).await;
    assert_eq!(answer, Ok(malformed.clone()));
    assert_eq!(
        refusal(&mut b).await,
        Refusal::Unreadable(FrameError::TooLarge)
    );
    // Just over the cap.
    let mut over = (MAX_MESSAGE_BYTES as u32 + 1).to_be_bytes().to_vec();
    over.extend(vec![1; MAX_MESSAGE_BYTES + 1]);
    let answer = m.send(b.peer, &b.addr, over).await;
    assert_eq!(answer, Ok(malformed.clone()));
    assert_eq!(
        refusal(&mut b).await,
        Refusal::Unreadable(FrameError::TooLarge)
    );
    // Cut short: the length promises more than the stream carries. Nothing is passed on.
    let answer = m.send(b.peer, &b.addr, vec![0, 0, 0, 9, 1, 2]).await;
    // The node reads to the end of the stream, finds it short and closes it unanswered.
    assert_eq!(answer, Ok(Vec::new()));
    // Well framed, but not an envelope at all.
    let mut f = attacker::framed(&identity(66));
    let answer = f.send(b.peer, &b.addr, Request::Give(vec![1, 2, 3])).await;
    assert_eq!(answer, Ok(Response::Refused(RefuseCode::BadEnvelope)));
    // (The cut-short request above emitted nothing: the next refusal is this one.)
    assert_eq!(
        refusal(&mut b).await,
        Refusal::Envelope(EnvelopeError::Truncated)
    );
    still_works(&mut b).await;
}

#[tokio::test]
async fn a_flood_from_one_peer_is_rate_limited() {
    let limits = Limits {
        request_burst: 4,
        request_refill: Duration::from_secs(3600),
        ..Limits::default()
    };
    let mut b = spawn_with(2, "Bob", Policy::Auto, limits).await;
    let mallory = identity(66);
    let mut m = attacker::framed(&mallory);
    let gives: Vec<Request> = (0..12u8)
        .map(|i| give(envelope(&mallory, &identity(2), now(), 100 + i).as_bytes()))
        .collect();
    let answers = m.send_all(b.peer, &b.addr, gives).await;
    let served = answers
        .iter()
        .filter(|a| matches!(a, Ok(Response::GiveBack(_))))
        .count();
    let limited = answers
        .iter()
        .filter(|a| **a == Ok(Response::Refused(RefuseCode::RateLimited)))
        .count();
    assert_eq!(served, 4, "{answers:?}");
    assert_eq!(limited, 8, "{answers:?}");
    let mut received = 0;
    let mut refused = 0;
    while received + refused < 12 {
        b.wait_for(|e| match e {
            Event::CardReceived { .. } => {
                received += 1;
                Some(())
            }
            Event::Refused {
                reason: Refusal::RateLimited,
                ..
            } => {
                refused += 1;
                Some(())
            }
            _ => None,
        })
        .await;
    }
    assert_eq!((received, refused), (4, 8));
    // Another peer has its own budget.
    still_works(&mut b).await;
}
