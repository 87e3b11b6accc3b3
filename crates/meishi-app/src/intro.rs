//! Introductions with double opt-in (proto-spec/intro.md), after Briar's introduction client:
//! Carol asks Bob first whether he wants to meet Ada (showing only Ada's name and headline and
//! her note); only if he accepts is Ada asked the same way; only if both accept does each get
//! the other's signed card, through Carol. A decline goes to Carol alone and is never forwarded.
//!
//! Every step is a signed [`IntroMessage`] chained to the one it answers (`prev`), carried as a
//! letter in the recipient's drop box ([`crate::drops`]), so nobody needs to be online at the
//! same time as anyone else. A step the session does not expect ends it (`aborted`); sessions
//! expire after [`INTRO_TTL_SECS`] and can be started again.

use meishi_card::intro::{IntroBody, IntroMessage, INTRO_TTL_SECS, NO_PREV, SESSION_LEN};
use meishi_card::{display_safe, Card, Identity, PublicKey};
use meishi_node::Node;
use meishi_store::{
    ContactRef, IntroMade, IntroReceived, MadeState, ReceivedState, Store, StoreError, Via,
};

use crate::drops::{links_of, send, Letter};
use crate::report::Report;

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Why an introduction (or an answer to one) could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IntroError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no contact {0}; see `meishi contacts list`")]
    NoSuchContact(String),
    #[error(
        "{0} has no meishi key (an imported vCard): only people you swapped with can be introduced"
    )]
    Unverified(String),
    #[error("cannot introduce someone to themselves")]
    Same,
    #[error("you revoked {0}: give them your card again before introducing them")]
    Revoked(String),
    #[error("{0} has not given you a drop box yet (their card came before this version, or without a relay): swap with them again")]
    NoBox(String),
    #[error("could not sign the introduction: {0}")]
    Sign(String),
    #[error("could not leave the message for {name} on their relays: {error}")]
    Send { name: String, error: String },
    #[error("no introduction #{0}; see `meishi intros`")]
    NoSuchIntro(i64),
    #[error("introduction #{id} is {state}: it can no longer be answered")]
    Final { id: i64, state: ReceivedState },
}

/// The headline a person shows before anyone swaps: their card's note, else their title.
fn headline_of(card: &Card) -> Option<String> {
    card.note.clone().or_else(|| card.title.clone())
}

struct Party {
    key: PublicKey,
    name: String,
    card: Card,
}

fn party(store: &Store, r: &ContactRef) -> Result<Party, IntroError> {
    let c = store
        .get(r)?
        .ok_or_else(|| IntroError::NoSuchContact(r.to_string()))?;
    let name = c.card.name.clone();
    let key = c
        .summary
        .key
        .filter(|_| c.summary.verified)
        .ok_or_else(|| IntroError::Unverified(display_safe(&name)))?;
    if store.is_revoked(&key)? {
        return Err(IntroError::Revoked(display_safe(&name)));
    }
    if links_of(store, &key).is_none() {
        return Err(IntroError::NoBox(display_safe(&name)));
    }
    Ok(Party {
        key,
        name,
        card: c.card,
    })
}

fn name_of(store: &Store, key: &PublicKey) -> String {
    store
        .get(&ContactRef::Key(*key))
        .ok()
        .flatten()
        .map_or_else(
            || meishi_node::peer_id_of(key).map_or_else(String::new, |p| p.to_string()),
            |c| c.card.name,
        )
}

/// What every step needs: the node that carries it, the book, and the key that signs it.
#[derive(Clone, Copy)]
struct Ctx<'a> {
    node: &'a Node,
    store: &'a Store,
    identity: &'a Identity,
}

/// Signs `body` and leaves it in `to`'s box.
async fn step(
    cx: Ctx<'_>,
    session: [u8; SESSION_LEN],
    to: PublicKey,
    prev: [u8; 32],
    expires_at: u64,
    body: IntroBody,
) -> Result<IntroMessage, IntroError> {
    let Ctx {
        node,
        store,
        identity,
    } = cx;
    let msg = IntroMessage::sign(identity, session, to, prev, expires_at, body)
        .map_err(|e| IntroError::Sign(e.to_string()))?;
    let name = display_safe(&name_of(store, &to));
    let links = links_of(store, &to).ok_or_else(|| IntroError::NoBox(name.clone()))?;
    send(node, &links, &Letter::Intro(msg.as_bytes().to_vec()))
        .await
        .map_err(|error| IntroError::Send { name, error })?;
    Ok(msg)
}

/// `meishi introduce A B --note …`: asks B whether they want to meet A. A is asked once B
/// accepts.
pub async fn introduce(
    node: &Node,
    store: &Store,
    identity: &Identity,
    a: &ContactRef,
    b: &ContactRef,
    note: Option<&str>,
) -> Result<Report, IntroError> {
    let (a, b) = (party(store, a)?, party(store, b)?);
    if a.key == b.key {
        return Err(IntroError::Same);
    }
    let note = note.map(str::trim).filter(|n| !n.is_empty());
    let mut session = [0u8; SESSION_LEN];
    getrandom::fill(&mut session).map_err(|e| IntroError::Sign(e.to_string()))?;
    let now = unix_now();
    let expires_at = now + INTRO_TTL_SECS;
    let ask = IntroBody::Ask {
        about: a.key,
        name: a.name.clone(),
        headline: headline_of(&a.card),
        note: note.map(str::to_owned),
    };
    // Sign first, so a note the format refuses is an error before anything is stored.
    let msg = IntroMessage::sign(identity, session, b.key, NO_PREV, expires_at, ask)
        .map_err(|e| IntroError::Sign(e.to_string()))?;
    let made = IntroMade {
        id: 0,
        session,
        a: a.key,
        b: b.key,
        note: note.map(str::to_owned),
        state: MadeState::AskingB,
        hash_a: None,
        hash_b: Some(msg.hash()),
        held: None,
        created_at: now,
        expires_at,
    };
    let id = store.intro_made_add(&made)?;
    let links = links_of(store, &b.key).ok_or_else(|| IntroError::NoBox(display_safe(&b.name)))?;
    if let Err(error) = send(node, &links, &Letter::Intro(msg.as_bytes().to_vec())).await {
        let _ = store.intro_made_update(
            &IntroMade {
                id,
                state: MadeState::Aborted,
                ..made
            },
            MadeState::AskingB,
        );
        return Err(IntroError::Send {
            name: display_safe(&b.name),
            error,
        });
    }
    Ok(Report::IntroSent {
        intro_id: id,
        a: a.name,
        b: b.name,
    })
}

/// `meishi intros accept|decline ID`: my answer to an introduction, to the introducer alone.
/// Accepting gives my card (with my links) for the other person to the introducer, who hands it
/// on only if they accept too.
pub async fn answer(
    node: &Node,
    store: &Store,
    identity: &Identity,
    id: i64,
    accept: bool,
) -> Result<Report, IntroError> {
    let r = store
        .intro_received(id)?
        .ok_or(IntroError::NoSuchIntro(id))?;
    if r.state != ReceivedState::Asked {
        return Err(IntroError::Final { id, state: r.state });
    }
    let body = if accept {
        let envelope = node
            .sign_give(r.other)
            .await
            .map_err(|e| IntroError::Sign(e.to_string()))?;
        IntroBody::Accept { envelope }
    } else {
        IntroBody::Decline
    };
    let msg = step(
        Ctx {
            node,
            store,
            identity,
        },
        r.session,
        r.introducer,
        r.ask_hash,
        r.expires_at,
        body,
    )
    .await?;
    let to = if accept {
        ReceivedState::Accepted
    } else {
        ReceivedState::Declined
    };
    store.intro_received_set(id, ReceivedState::Asked, to, Some(msg.hash()))?;
    Ok(Report::IntroAnswered {
        intro_id: id,
        accepted: accept,
        name: r.other_name,
        by: name_of(store, &r.introducer),
    })
}

/// Applies one step that arrived in `from`'s box. A message not from the box's contact, not
/// for me, expired, or not expected by its session is dropped (and ends the session when it
/// claims to belong to one that is under way).
pub async fn receive(
    node: &Node,
    store: &Store,
    identity: &Identity,
    from: &PublicKey,
    bytes: &[u8],
) -> Vec<Report> {
    let me = identity.public();
    let msg = match IntroMessage::decode(bytes) {
        Ok(m) if m.author() == *from && m.to() == me => m,
        Ok(_) => {
            tracing::info!(
                "an introduction step not from the box's contact or not for me; dropped"
            );
            return Vec::new();
        }
        Err(e) => {
            tracing::info!(error = %e, "an introduction step that does not decode; dropped");
            return Vec::new();
        }
    };
    if msg.expires_at() <= unix_now() {
        return Vec::new();
    }
    let result = match msg.body() {
        IntroBody::Ask { .. } => asked(node, store, identity, &msg).await,
        IntroBody::Accept { .. } | IntroBody::Decline => {
            answered(node, store, identity, &msg).await
        }
        IntroBody::Deliver { .. } => delivered(store, &me, &msg),
    };
    match result {
        Ok(r) => r.into_iter().collect(),
        Err(e) => vec![Report::Error {
            peer_id: None,
            inbox_id: None,
            error: format!("an introduction step could not be applied: {e}"),
        }],
    }
}

/// An introducer asks me whether I want to meet someone.
async fn asked(
    node: &Node,
    store: &Store,
    identity: &Identity,
    msg: &IntroMessage,
) -> Result<Option<Report>, IntroError> {
    let IntroBody::Ask {
        about,
        name,
        headline,
        note,
    } = msg.body()
    else {
        return Ok(None);
    };
    if msg.prev() != NO_PREV || *about == identity.public() {
        return Ok(None);
    }
    let r = IntroReceived {
        id: 0,
        session: msg.session(),
        introducer: msg.author(),
        other: *about,
        other_name: name.clone(),
        other_headline: headline.clone(),
        note: note.clone(),
        state: ReceivedState::Asked,
        ask_hash: msg.hash(),
        answer_hash: None,
        received_at: unix_now(),
        expires_at: msg.expires_at(),
    };
    let Some(id) = store.intro_received_add(&r)? else {
        return Ok(None); // the same ask, read twice
    };
    let by = name_of(store, &msg.author());
    if !store.introductions_allowed()? {
        // My setting says never: declined at once, to the introducer alone.
        answer(node, store, identity, id, false).await?;
        return Ok(Some(Report::IntroAnswered {
            intro_id: id,
            accepted: false,
            name: name.clone(),
            by,
        }));
    }
    Ok(Some(Report::IntroAsked {
        intro_id: id,
        by,
        name: name.clone(),
        headline: headline.clone(),
        note: note.clone(),
    }))
}

/// One of the two people answered an introduction I made.
async fn answered(
    node: &Node,
    store: &Store,
    identity: &Identity,
    msg: &IntroMessage,
) -> Result<Option<Report>, IntroError> {
    let Some(mut m) = store.intro_made_by_session(&msg.session())? else {
        return Ok(None);
    };
    let from = msg.author();
    let was = m.state;
    // Boxes deliver at least once: a step already applied is dropped, not taken as a new one.
    if m.hash_a == Some(msg.hash()) || m.hash_b == Some(msg.hash()) {
        return Ok(None);
    }
    let expected = msg.expires_at() == m.expires_at
        && match was {
            MadeState::AskingB => from == m.b && Some(msg.prev()) == m.hash_b,
            MadeState::AskingA => from == m.a && Some(msg.prev()) == m.hash_a,
            _ => false,
        };
    let (a_name, b_name) = (name_of(store, &m.a), name_of(store, &m.b));
    if !expected {
        if was.is_final() {
            return Ok(None);
        }
        m.state = MadeState::Aborted;
        store.intro_made_update(&m, was)?;
        return Ok(Some(Report::IntroStep {
            intro_id: m.id,
            state: m.state.to_string(),
            a: a_name,
            b: b_name,
        }));
    }
    match msg.body() {
        IntroBody::Decline => {
            m.state = MadeState::Declined;
        }
        IntroBody::Accept { envelope } if was == MadeState::AskingB => {
            if envelope.recipient() != m.a {
                m.state = MadeState::Aborted;
            } else {
                m.held = Some(envelope.as_bytes().to_vec());
                m.hash_b = Some(msg.hash());
                let card = store
                    .get(&ContactRef::Key(m.b))?
                    .ok_or_else(|| IntroError::NoSuchContact(b_name.clone()))?
                    .card;
                let ask = IntroBody::Ask {
                    about: m.b,
                    name: card.name.clone(),
                    headline: headline_of(&card),
                    note: m.note.clone(),
                };
                match step(
                    Ctx {
                        node,
                        store,
                        identity,
                    },
                    m.session,
                    m.a,
                    NO_PREV,
                    m.expires_at,
                    ask,
                )
                .await
                {
                    Ok(sent) => {
                        m.hash_a = Some(sent.hash());
                        m.state = MadeState::AskingA;
                    }
                    Err(e) => {
                        m.state = MadeState::Aborted;
                        store.intro_made_update(&m, was)?;
                        return Err(e);
                    }
                }
            }
        }
        IntroBody::Accept { envelope } => {
            let held = m
                .held
                .as_deref()
                .and_then(|b| meishi_card::envelope::Envelope::decode(b).ok());
            match (envelope.recipient() == m.b, held, m.hash_b) {
                (true, Some(b_envelope), Some(hash_b)) => {
                    let to_b = IntroBody::Deliver {
                        envelope: envelope.clone(),
                    };
                    let to_a = IntroBody::Deliver {
                        envelope: b_envelope,
                    };
                    let (session, expires) = (m.session, m.expires_at);
                    let sent = match step(
                        Ctx {
                            node,
                            store,
                            identity,
                        },
                        session,
                        m.b,
                        hash_b,
                        expires,
                        to_b,
                    )
                    .await
                    {
                        Ok(_) => {
                            step(
                                Ctx {
                                    node,
                                    store,
                                    identity,
                                },
                                session,
                                m.a,
                                msg.hash(),
                                expires,
                                to_a,
                            )
                            .await
                        }
                        Err(e) => Err(e),
                    };
                    m.hash_a = Some(msg.hash());
                    m.held = None;
                    m.state = if sent.is_ok() {
                        MadeState::Done
                    } else {
                        MadeState::Aborted
                    };
                    if let Err(e) = sent {
                        store.intro_made_update(&m, was)?;
                        return Err(e);
                    }
                }
                _ => m.state = MadeState::Aborted,
            }
        }
        _ => m.state = MadeState::Aborted,
    }
    if m.state.is_final() {
        m.held = None;
    }
    store.intro_made_update(&m, was)?;
    Ok(Some(Report::IntroStep {
        intro_id: m.id,
        state: m.state.to_string(),
        a: a_name,
        b: b_name,
    }))
}

/// The introducer hands me the other person's card: both accepted.
fn delivered(
    store: &Store,
    me: &PublicKey,
    msg: &IntroMessage,
) -> Result<Option<Report>, IntroError> {
    let IntroBody::Deliver { envelope } = msg.body() else {
        return Ok(None);
    };
    let Some(r) = store.intro_received_by_session(&msg.author(), &msg.session())? else {
        return Ok(None);
    };
    let expected = r.state == ReceivedState::Accepted
        && msg.expires_at() == r.expires_at
        && Some(msg.prev()) == r.answer_hash
        && envelope.giver() == r.other
        && envelope.recipient() == *me;
    if !expected {
        if !r.state.is_final() {
            store.intro_received_set(r.id, r.state, ReceivedState::Aborted, None)?;
        }
        return Ok(None);
    }
    store.put_signed(envelope.card(), Via::Intro.as_str())?;
    store.set_contact_links(&r.other, envelope.links(), envelope.time())?;
    store.intro_received_set(
        r.id,
        ReceivedState::Accepted,
        ReceivedState::Introduced,
        None,
    )?;
    Ok(Some(Report::Introduced {
        name: envelope.card().card().name.clone(),
        by: name_of(store, &r.introducer),
    }))
}
