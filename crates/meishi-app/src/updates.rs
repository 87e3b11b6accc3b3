//! Relationships over time: my card kept in my slot on relays for contacts who are offline when
//! I edit it, and my contacts' cards read from theirs (proto-spec/slot.md). The one path by
//! which an edit reaches a contact without either of us online at the same time.
//!
//! - [`ensure_own_links`]: my slot key, seal key and drop secret, made once when I first have a
//!   relay; [`give_links`] is what every give carries for its recipient (the consent rule decides
//!   who gets a give, so the same rule decides who can read my slot).
//! - [`publish`]: one record per relay when my card changed or the record nears its expiry.
//! - [`read_slots`]: the records of every contact's slot, batched per relay; a newer card
//!   replaces the stored one through the book's seq rules.
//! - [`rotate`]: after a revoke, a new slot the revoked contact does not know; the others learn
//!   it from a message in their drop box ([`crate::drops`]).

use std::collections::BTreeMap;

use meishi_card::{PublicKey, SignedCard};
use meishi_event::drop::DropSecret;
use meishi_event::{Links, SlotAddress, SlotKey, SlotRecord, SlotSealKey, MAX_SLOT_GET};
use meishi_node::{GiveLinks, Multiaddr, Node, SlotPutOutcome};
use meishi_store::{OwnLinks, PutOutcome, Store, StoreError, Via};
use zeroize::Zeroizing;

use crate::report::Report;

/// How long a published record lives on the relays (they keep at most 90 days).
pub const RECORD_LIFETIME_SECS: u64 = 60 * 24 * 3600;
/// A record with less than this left is published again.
pub const REPUBLISH_BEFORE_SECS: u64 = 30 * 24 * 3600;
/// Relays that keep my slot and my drop boxes.
pub const MAX_LINK_RELAYS: usize = meishi_event::MAX_SLOT_RELAYS;

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Why my links could not be made or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LinksError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the system random generator failed")]
    Random,
    #[error("a relay address is not usable for card updates: {0}")]
    Relay(String),
}

fn random32() -> Result<Zeroizing<[u8; 32]>, LinksError> {
    let mut b = Zeroizing::new([0u8; 32]);
    getrandom::fill(&mut b[..]).map_err(|_| LinksError::Random)?;
    Ok(b)
}

/// The relays of `relays` that can keep a slot: those naming the relay's peer id, at most
/// [`MAX_LINK_RELAYS`], in order, without repeats.
pub fn usable_relays(relays: &[Multiaddr]) -> Vec<Multiaddr> {
    let mut out: Vec<Multiaddr> = Vec::new();
    for r in relays {
        let named = matches!(
            r.iter().last(),
            Some(meishi_node::multiaddr::Protocol::P2p(_))
        );
        if named && !out.contains(r) && r.as_ref().len() <= meishi_event::MAX_SLOT_RELAY_BYTES {
            out.push(r.clone());
        }
        if out.len() == MAX_LINK_RELAYS {
            break;
        }
    }
    out
}

/// My links, made now from `relays` if I have none yet (the first relays I use keep my slot
/// and boxes until I choose others with [`set_relays`]). `None`: no relay known yet.
pub fn ensure_own_links(
    store: &Store,
    relays: &[Multiaddr],
) -> Result<Option<OwnLinks>, LinksError> {
    if let Some(own) = store.own_links()? {
        return Ok(Some(own));
    }
    let relays = usable_relays(relays);
    if relays.is_empty() {
        return Ok(None);
    }
    let own = OwnLinks {
        slot_seed: random32()?,
        seal_key: random32()?,
        drop_secret: random32()?,
        relays: relays.iter().map(ToString::to_string).collect(),
        record_seq: 0,
        published_card_seq: None,
        published_expires: None,
        published_relays: Vec::new(),
        rotate: false,
    };
    store.set_own_links(&own)?;
    Ok(Some(own))
}

/// Chooses the relays that keep my slot and boxes (1 to 3). Contacts learn them with my next
/// give, or from their drop box ([`crate::drops::announce`]).
pub fn set_relays(store: &Store, relays: &[Multiaddr]) -> Result<OwnLinks, LinksError> {
    let usable = usable_relays(relays);
    if usable.is_empty() || usable.len() != relays.len() {
        let bad = relays
            .iter()
            .find(|r| !usable.contains(r))
            .map_or_else(|| "none given".to_owned(), ToString::to_string);
        return Err(LinksError::Relay(format!(
            "{bad} (give 1 to {MAX_LINK_RELAYS} relay addresses, each ending in /p2p/<relay id>)"
        )));
    }
    let mut own = match ensure_own_links(store, &usable)? {
        Some(o) => o,
        None => return Err(LinksError::Relay("none given".into())),
    };
    let relays: Vec<String> = usable.iter().map(ToString::to_string).collect();
    if own.relays != relays {
        own.relays = relays;
        // New relays, new slot: contacts who hold my card learn both from their drop box.
        own.published_card_seq = None;
        own.published_relays.clear();
        own.rotate = own.record_seq > 0;
        store.set_own_links(&own)?;
    }
    Ok(own)
}

/// The relays of my links, parsed.
pub fn relays_of(own: &OwnLinks) -> Vec<Multiaddr> {
    own.relays.iter().filter_map(|r| r.parse().ok()).collect()
}

/// My slot address, as contacts receive it.
pub fn slot_address(own: &OwnLinks) -> Option<SlotAddress> {
    let slot = SlotKey::from_seed(&own.slot_seed).id();
    SlotAddress::new(slot, SlotSealKey::from_bytes(*own.seal_key), relays_of(own)).ok()
}

/// What my gives carry for each recipient: my slot address and the recipient's own box.
pub fn give_links(own: &OwnLinks) -> Option<GiveLinks> {
    let slot = slot_address(own)?;
    let drop = DropSecret::from_bytes(*own.drop_secret);
    Some(GiveLinks::new(move |recipient: &PublicKey| {
        let address = drop.address_for(&recipient.0);
        Links {
            slot: slot.clone(),
            drop_id: address.id.0,
            drop_key: address.key,
        }
        .encode()
    }))
}

/// Whether my slot needs a new record: my card changed, the relays changed, or the record
/// nears its expiry.
pub fn publish_due(own: &OwnLinks, card: &SignedCard, now: u64) -> bool {
    own.published_card_seq != Some(card.seq())
        || own.published_relays != own.relays
        || own
            .published_expires
            .is_none_or(|e| e.saturating_sub(now) < REPUBLISH_BEFORE_SECS)
}

/// Publishes `card` to my slot on each of my relays, one record (one write per edit, however
/// many contacts I have). Returns what to report.
pub async fn publish(node: &Node, store: &Store, card: &SignedCard) -> Vec<Report> {
    let Ok(Some(own)) = store.own_links() else {
        return Vec::new();
    };
    let now = unix_now();
    let seq = own.record_seq + 1;
    let expires = now + RECORD_LIFETIME_SECS;
    let slot = SlotKey::from_seed(&own.slot_seed);
    let key = SlotSealKey::from_bytes(*own.seal_key);
    let record = match meishi_event::slot_nonce()
        .map_err(|e| e.to_string())
        .and_then(|nonce| {
            SlotRecord::seal(&slot, &key, seq, expires, card.as_bytes(), nonce)
                .map_err(|e| e.to_string())
        }) {
        Ok(r) => r,
        Err(e) => {
            return vec![Report::Error {
                peer_id: None,
                inbox_id: None,
                error: format!("could not seal my card for my contacts: {e}"),
            }]
        }
    };
    let mut kept = Vec::new();
    let mut out = Vec::new();
    for relay in relays_of(&own) {
        match node
            .put_slot(relay.clone(), record.as_bytes().to_vec())
            .await
        {
            Ok(SlotPutOutcome::Kept { .. }) => kept.push(relay.to_string()),
            Ok(SlotPutOutcome::Refused(r)) => out.push(Report::UpdateFailed {
                relay: relay.to_string(),
                error: format!("the relay refused my card's record ({r:?})"),
            }),
            Err(e) => out.push(Report::UpdateFailed {
                relay: relay.to_string(),
                error: e.to_string(),
            }),
        }
    }
    if !kept.is_empty() {
        if let Err(e) = store.mark_published(seq, Some((card.seq(), expires)), &kept) {
            tracing::warn!(error = %e, "could not record a published slot record");
        }
        out.insert(
            0,
            Report::Published {
                seq: card.seq(),
                relays: kept.len(),
            },
        );
    } else if let Err(e) = store.mark_published(seq, None, &[]) {
        // The seq is used up even when no relay took it: never sign two records with one seq.
        tracing::warn!(error = %e, "could not record a slot record seq");
    }
    out
}

/// A new slot after a revoke: the revoked contact keeps the old address, which gets no more
/// records. The caller publishes the card to it and tells the others ([`crate::drops`]).
pub fn rotate(store: &Store) -> Result<Option<OwnLinks>, LinksError> {
    let Some(mut own) = store.own_links()? else {
        return Ok(None);
    };
    if !own.rotate {
        return Ok(None);
    }
    own.slot_seed = random32()?;
    own.seal_key = random32()?;
    own.record_seq = 0;
    own.published_card_seq = None;
    own.published_expires = None;
    own.published_relays.clear();
    own.rotate = false;
    store.set_own_links(&own)?;
    Ok(Some(own))
}

/// Reads the slot of every contact who gave me one, batched per relay (at most
/// [`MAX_SLOT_GET`] slots a request), and keeps every newer card. Returns what changed.
pub async fn read_slots(node: &Node, store: &Store) -> Vec<Report> {
    let Ok(all) = store.contact_links() else {
        return Vec::new();
    };
    // Slot id -> (contact key, address, highest record seq read).
    let mut follow: BTreeMap<[u8; 32], (PublicKey, SlotAddress, u64)> = BTreeMap::new();
    let mut by_relay: BTreeMap<Multiaddr, Vec<[u8; 32]>> = BTreeMap::new();
    for c in all {
        let Ok(links) = Links::decode(&c.links) else {
            continue;
        };
        let id = links.slot.slot().0;
        for r in links.slot.relays() {
            by_relay.entry(r.clone()).or_default().push(id);
        }
        follow.insert(id, (c.key, links.slot, c.slot_seq));
    }
    let mut out = Vec::new();
    let mut failed = Vec::new();
    for (relay, mut ids) in by_relay {
        ids.sort_unstable();
        ids.dedup();
        // A slot already brought up to date by another relay is still asked: relays may differ.
        for chunk in ids.chunks(MAX_SLOT_GET) {
            let records = match node.get_slots(relay.clone(), chunk.to_vec()).await {
                Ok(r) => r,
                Err(e) => {
                    failed.push(Report::UpdateFailed {
                        relay: relay.to_string(),
                        error: e.to_string(),
                    });
                    break;
                }
            };
            for bytes in records {
                if let Some(r) = take_record(store, &mut follow, &bytes) {
                    out.push(r);
                }
            }
        }
    }
    // A relay that failed matters only when no other relay answered for its slots; report it
    // quietly (one line per relay).
    out.extend(failed);
    out
}

/// Opens one record of a followed slot and keeps its card if it is newer.
fn take_record(
    store: &Store,
    follow: &mut BTreeMap<[u8; 32], (PublicKey, SlotAddress, u64)>,
    bytes: &[u8],
) -> Option<Report> {
    let record = SlotRecord::decode(bytes).ok()?;
    let (key, address, read) = follow.get_mut(&record.slot().0)?;
    if record.seq() <= *read {
        return None;
    }
    let plain = record.open(address.key()).ok()?;
    let card = SignedCard::decode(&plain).ok()?;
    if card.key() != *key {
        tracing::warn!("a slot record carried another person's card; ignored");
        return None;
    }
    *read = record.seq();
    if let Err(e) = store.set_slot_seq(key, record.seq()) {
        tracing::warn!(error = %e, "could not record a slot read");
    }
    match store.put_signed(&card, Via::Slot.as_str()) {
        Ok(PutOutcome::Updated { .. }) => Some(Report::ContactUpdated {
            name: card.card().name.clone(),
            seq: card.seq(),
        }),
        Ok(_) => None,
        Err(e) => Some(Report::Error {
            peer_id: None,
            inbox_id: None,
            error: format!("could not store an updated card: {e}"),
        }),
    }
}
