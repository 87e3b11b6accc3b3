//! Letters in drop boxes (proto-spec/drop.md#letters): directed messages a contact leaves on my
//! relays while I am offline, sealed to my drop key, in the box I made for that one contact.
//! The box says who may have written (only that contact knows its id); the signature inside
//! says who did.
//!
//! - a **card** letter carries a give envelope: the sender's current card with new links (a
//!   new slot after a revoke, or new relays), sent with [`announce`] to the people who hold my
//!   card;
//! - an **intro** letter carries one step of an introduction ([`crate::intro`]).

use std::collections::BTreeMap;

use meishi_card::envelope::Envelope;
use meishi_card::PublicKey;
use meishi_event::{drop_digest, open_drop, seal_drop, DropAddress, DropId, DropSecret, Links};
use meishi_node::{Multiaddr, Node};
use meishi_store::{Store, Via};

use crate::report::Report;

/// A card letter: a give envelope.
pub const LETTER_CARD: u8 = 1;
/// An introduction letter: one signed step (`meishi_card::intro`).
pub const LETTER_INTRO: u8 = 2;
/// Rounds of reading one relay's boxes in one catch-up (each at most 64 boxes, and as many
/// letters as fit one answer); the rest waits for the next.
const MAX_ROUNDS: usize = 16;

/// A letter as read from a box.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Letter {
    Card(Vec<u8>),
    Intro(Vec<u8>),
}

impl Letter {
    pub fn encode(&self) -> Vec<u8> {
        let (kind, body) = match self {
            Self::Card(b) => (LETTER_CARD, b),
            Self::Intro(b) => (LETTER_INTRO, b),
        };
        let mut out = Vec::with_capacity(1 + body.len());
        out.push(kind);
        out.extend_from_slice(body);
        out
    }

    /// `None` for an unknown kind or an empty body (ignored: a later version's letter).
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let (&kind, body) = bytes.split_first()?;
        if body.is_empty() {
            return None;
        }
        match kind {
            LETTER_CARD => Some(Self::Card(body.to_vec())),
            LETTER_INTRO => Some(Self::Intro(body.to_vec())),
            _ => None,
        }
    }
}

/// Seals `letter` to the box `links` names and leaves it on the first of its relays that takes
/// it. The error names the last failure.
pub async fn send(node: &Node, links: &Links, letter: &Letter) -> Result<(), String> {
    let address = DropAddress {
        id: DropId(links.drop_id),
        key: links.drop_key,
    };
    let sealed = seal_drop(&address, &letter.encode()).map_err(|e| e.to_string())?;
    let mut last = "the contact names no relay".to_owned();
    for relay in links.slot.relays() {
        match node
            .put_drop(relay.clone(), address.id, sealed.clone())
            .await
        {
            Ok(()) => return Ok(()),
            Err(e) => last = format!("{relay}: {e}"),
        }
    }
    Err(last)
}

/// The links a contact gave me, decoded.
pub fn links_of(store: &Store, key: &PublicKey) -> Option<Links> {
    let l = store.links_of(key).ok()??;
    Links::decode(&l.links).ok()
}

/// Tells everyone who holds my card (and gave me a box) where my next cards are: a card letter
/// with a fresh envelope, whose links name my current slot. Revoked contacts are not holders.
pub async fn announce(node: &Node, store: &Store, me: &PublicKey) -> Report {
    let holders = store
        .consent_peers(me)
        .map(|p| p.holders)
        .unwrap_or_default();
    let (mut sent, mut failed) = (0, 0);
    for key in holders {
        let Some(links) = links_of(store, &key) else {
            continue;
        };
        let envelope = match node.sign_give(key).await {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, "could not sign a card letter");
                failed += 1;
                continue;
            }
        };
        match send(node, &links, &Letter::Card(envelope.as_bytes().to_vec())).await {
            Ok(()) => sent += 1,
            Err(e) => {
                tracing::info!(error = %e, "a card letter was not delivered");
                failed += 1;
            }
        }
    }
    Report::LinksSent {
        contacts: sent,
        failed,
    }
}

/// What [`read`] found: reports, and introduction steps to apply, each with the contact whose
/// box it came from.
#[derive(Debug, Default)]
pub struct Read {
    pub reports: Vec<Report>,
    pub intros: Vec<(PublicKey, Vec<u8>)>,
}

/// Reads my boxes on my relays: one box per contact I know by key. Every letter read is
/// acknowledged (deleted), the ones that do not open or make no sense included.
pub async fn read(node: &Node, store: &Store, me: &PublicKey) -> Read {
    let mut out = Read::default();
    let Ok(Some(own)) = store.own_links() else {
        return out;
    };
    let secret = DropSecret::from_bytes(*own.drop_secret);
    let contacts = store
        .consent_peers(me)
        .map(|p| {
            let mut keys = p.contacts;
            keys.extend(p.holders);
            keys.sort_by_key(|k| k.0);
            keys.dedup();
            keys
        })
        .unwrap_or_default();
    let boxes: BTreeMap<DropId, PublicKey> =
        contacts.iter().map(|k| (secret.id_for(&k.0), *k)).collect();
    if boxes.is_empty() {
        return out;
    }
    let ids: Vec<DropId> = boxes.keys().copied().collect();
    for relay in crate::updates::relays_of(&own) {
        for chunk in ids.chunks(meishi_event::MAX_DROP_GET) {
            for _ in 0..MAX_ROUNDS {
                let more =
                    read_round(node, store, me, &secret, &boxes, &relay, chunk, &mut out).await;
                if !more {
                    break;
                }
            }
        }
    }
    out
}

/// One get and its acknowledgements; whether the relay has more.
#[allow(
    clippy::too_many_arguments,
    reason = "one round of one loop; the state is the loop's"
)]
async fn read_round(
    node: &Node,
    store: &Store,
    me: &PublicKey,
    secret: &DropSecret,
    boxes: &BTreeMap<DropId, PublicKey>,
    relay: &Multiaddr,
    ids: &[DropId],
    out: &mut Read,
) -> bool {
    let (letters, more) = match node.get_drops(relay.clone(), ids.to_vec()).await {
        Ok(r) => r,
        Err(e) => {
            out.reports.push(Report::UpdateFailed {
                relay: relay.to_string(),
                error: e.to_string(),
            });
            return false;
        }
    };
    let mut acks: BTreeMap<DropId, Vec<[u8; 32]>> = BTreeMap::new();
    for (id, sealed) in letters {
        let Some(from) = boxes.get(&id) else {
            continue;
        };
        acks.entry(id).or_default().push(drop_digest(&sealed));
        let Ok(plain) = open_drop(secret, &id, &sealed) else {
            tracing::info!("a letter in a drop box did not open; deleted");
            continue;
        };
        match Letter::decode(&plain) {
            Some(Letter::Card(bytes)) => {
                if let Some(r) = take_card(store, me, from, &bytes) {
                    out.reports.push(r);
                }
            }
            Some(Letter::Intro(bytes)) => out.intros.push((*from, bytes)),
            None => tracing::info!("a letter of a kind this version does not read; deleted"),
        }
    }
    for (id, digests) in acks {
        if let Err(e) = node.ack_drops(relay.clone(), id, digests).await {
            tracing::info!(error = %e, "could not delete read letters; they are read again");
        }
    }
    more
}

/// A card letter from `from`: their envelope for me, with their new links.
fn take_card(store: &Store, me: &PublicKey, from: &PublicKey, bytes: &[u8]) -> Option<Report> {
    let envelope = Envelope::decode(bytes).ok()?;
    if envelope.giver() != *from || envelope.recipient() != *me {
        tracing::info!("a card letter that was not from the box's contact, or not for me; ignored");
        return None;
    }
    let card = envelope.card();
    if let Err(e) = store.set_contact_links(from, envelope.links(), envelope.time()) {
        tracing::warn!(error = %e, "could not keep a contact's links");
    }
    match store.put_signed(card, Via::Slot.as_str()) {
        Ok(meishi_store::PutOutcome::Updated { .. }) => Some(Report::ContactUpdated {
            name: card.card().name.clone(),
            seq: card.seq(),
        }),
        Ok(_) => None,
        Err(e) => Some(Report::Error {
            peer_id: None,
            inbox_id: None,
            error: format!("could not store a contact's card: {e}"),
        }),
    }
}
