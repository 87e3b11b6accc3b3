//! Prints what updates and drop boxes cost in bytes (issue 14): for the reference card and for
//! a largest card (4,096 bytes signed), the signed card, the slot record a relay keeps per
//! person (and the bookkeeping it keeps beside it), the links a give carries with one and with
//! three relays, the give envelope without links (format 1) and with them (format 2), and the
//! sealed messages a drop box holds: a card letter and each step of an introduction. Then the
//! limits from the constants. proto-spec/slot.md#limits, proto-spec/drop.md#limits,
//! proto-spec/exchange.md#links, proto-spec/intro.md#limits
//!
//! ```text
//! cargo run --release -p xtask --bin update-sizes [-- [--json] [CARD.json ...]]
//! ```
//!
//! Without card arguments it reports the reference card (crates/meishi-card/testdata/ada.json,
//! the repository's copy of shared/reference-cards/ada.json). Times are realistic (a 5-byte
//! varint, like every date until 2106), `seq` is small (one byte, as for a card edited fewer
//! than 251 times), records expire 60 days ahead as `meishi` publishes them, and relay
//! addresses are `/ip4/…/tcp/4001/p2p/<id>` (49 bytes in binary form). Sizes do not depend on
//! the random nonces and keys, so every run prints the same table.

use std::error::Error;
use std::mem::size_of;
use std::path::PathBuf;

use meishi_app::drops::Letter;
use meishi_card::envelope::{Envelope, MAX_ENVELOPE_BYTES, MAX_LINKS};
use meishi_card::intro::{IntroBody, IntroMessage, MAX_INTRO_BYTES, MAX_INTRO_NOTE, NO_PREV};
use meishi_card::limits::MAX_CARD_BYTES;
use meishi_card::{Card, Identity, SignedCard};
use meishi_event::{
    seal_drop, DropSecret, Links, Multiaddr, SlotAddress, SlotId, SlotKey, SlotRecord, SlotSealKey,
    DROP_ADDRESS_LEN, MAX_DROP_PLAINTEXT, MAX_DROP_SEALED, MAX_LINKS_BYTES, MAX_SLOT_ADDRESS,
    MAX_SLOT_CARD, MAX_SLOT_RECORD, MAX_SLOT_SEALED,
};
use serde_json::json;

type Result<T, E = Box<dyn Error>> = std::result::Result<T, E>;

/// When the cards and envelopes are signed: 2025-10-09 (a 5-byte varint, like any date now).
const T: u64 = 1_760_000_000;
/// How far ahead `meishi` sets a slot record's expiry (meishi_app::updates::RECORD_LIFETIME_SECS).
const LIFETIME: u64 = meishi_app::updates::RECORD_LIFETIME_SECS;

/// What the relay's slot store keeps per record besides the record's bytes, with the same
/// field types (meishi_relay::slots keeps them private): the map key, the kept record (`seq`,
/// `expires_at`, the boxed bytes, the optional host and site tags) and the expiry index entry.
/// Hash-table and B-tree slack and the allocator's header of the boxed bytes come on top.
type SlotKept = (SlotId, (u64, u64, Box<[u8]>, Option<(u64, u64)>));
type SlotExpiry = (u64, SlotId);
/// The same for a drop: the kept message (arrival number, digest, `expires_at`, the boxed
/// bytes, the tags) and its expiry index entry; each box adds its id and a `Vec` once.
type DropKept = (u64, [u8; 32], u64, Box<[u8]>, Option<(u64, u64)>);
type DropExpiry = (u64, u64, [u8; 32]);
type DropBox = ([u8; 32], Vec<DropKept>);

fn relay(n: u8, host: &str) -> Result<Multiaddr> {
    let key = libp2p::identity::Keypair::ed25519_from_bytes([n; 32])?;
    Ok(format!("/ip4/{host}/tcp/4001/p2p/{}", key.public().to_peer_id()).parse()?)
}

/// A card whose signed encoding is exactly `total` bytes: seven 512-byte URLs and one sized to
/// fit (the card test vector `valid-max-size` is built the same way).
fn card_of_size(id: &Identity, total: usize) -> Result<SignedCard> {
    let url = |len: usize| format!("https://example.com/{}", "a".repeat(len - 20));
    for last in 21..=512 {
        let mut card = Card::new("Max Size");
        card.urls = (0..7).map(|_| url(512)).chain([url(last)]).collect();
        if let Ok(s) = SignedCard::sign(id, 1, T, &card) {
            if s.as_bytes().len() == total {
                return Ok(s);
            }
        }
    }
    Err(format!("no card of {total} bytes").into())
}

/// One row of the table: what, and its size for each card.
struct Row {
    what: String,
    bytes: Vec<usize>,
}

/// The sizes of everything an update or a drop carries for one card (Ada's card, signed by
/// Ada; Bob has a card of the same content for the introduction's envelopes).
fn sizes(
    ada: &Identity,
    bob: &Identity,
    carol: &Identity,
    card: &SignedCard,
) -> Result<Vec<usize>> {
    let bob_card = SignedCard::sign(bob, 1, T, card.card())?;
    let relays = [
        relay(1, "203.0.113.7")?,
        relay(2, "198.51.100.20")?,
        relay(3, "192.0.2.33")?,
    ];
    let slot_key = SlotKey::from_seed(&[0x51; 32]);
    let seal_key = SlotSealKey::from_bytes([0x52; 32]);
    let record = SlotRecord::seal(
        &slot_key,
        &seal_key,
        1,
        T + LIFETIME,
        card.as_bytes(),
        [0x53; 24],
    )?;
    // Ada's drop address for Bob, and Bob's for Ada.
    let (ada_drops, bob_drops) = (
        DropSecret::from_bytes([0xad; 32]),
        DropSecret::from_bytes([0xb0; 32]),
    );
    let links = |secret: &DropSecret, contact: &Identity, n: usize| -> Result<Links> {
        let drop = secret.address_for(&contact.public().0);
        Ok(Links {
            slot: SlotAddress::new(slot_key.id(), seal_key.clone(), relays[..n].to_vec())?,
            drop_id: drop.id.0,
            drop_key: drop.key,
        })
    };
    let (links1, links3) = (links(&ada_drops, bob, 1)?, links(&ada_drops, bob, 3)?);
    let give = |l: Option<&Links>| -> Result<Envelope> {
        let bytes = l.map(Links::encode).unwrap_or_default();
        Ok(Envelope::sign_with_links(
            ada,
            card,
            bob.public(),
            T,
            None,
            [0x0e; 16],
            &bytes,
        )?)
    };
    let (env1, env2, env2_3) = (give(None)?, give(Some(&links1))?, give(Some(&links3))?);
    // A card letter from Ada into the box Bob gave her (his links name his relays).
    let to_bob = bob_drops.address_for(&ada.public().0);
    let sealed =
        |letter: Letter| -> Result<usize> { Ok(seal_drop(&to_bob, &letter.encode())?.len()) };

    // Carol introduces Ada and Bob: she ASKs Bob (her note at its longest), Bob ACCEPTs with
    // his give envelope for Ada (format 2, his links with one relay) or DECLINEs, and Carol
    // DELIVERs each one's envelope to the other.
    let session = [0x5e; 16];
    let expires = T + meishi_card::intro::INTRO_TTL_SECS;
    let ask = IntroMessage::sign(
        carol,
        session,
        bob.public(),
        NO_PREV,
        expires,
        IntroBody::Ask {
            about: ada.public(),
            name: card.card().name.clone(),
            headline: card
                .card()
                .note
                .clone()
                .or_else(|| card.card().title.clone()),
            note: Some("n".repeat(MAX_INTRO_NOTE)),
        },
    )?;
    let bob_links = links(&bob_drops, ada, 1)?.encode();
    let bob_env = Envelope::sign_with_links(
        bob,
        &bob_card,
        ada.public(),
        T,
        None,
        [0x0f; 16],
        &bob_links,
    )?;
    let accept = IntroMessage::sign(
        bob,
        session,
        carol.public(),
        ask.hash(),
        expires,
        IntroBody::Accept {
            envelope: bob_env.clone(),
        },
    )?;
    let decline = IntroMessage::sign(
        bob,
        session,
        carol.public(),
        ask.hash(),
        expires,
        IntroBody::Decline,
    )?;
    let deliver = IntroMessage::sign(
        carol,
        session,
        ada.public(),
        accept.hash(),
        expires,
        IntroBody::Deliver { envelope: bob_env },
    )?;
    let intro = |m: &IntroMessage| -> Result<[usize; 2]> {
        Ok([
            m.as_bytes().len(),
            sealed(Letter::Intro(m.as_bytes().to_vec()))?,
        ])
    };
    let [ask_plain, ask_sealed] = intro(&ask)?;
    let [accept_plain, accept_sealed] = intro(&accept)?;
    let [decline_plain, decline_sealed] = intro(&decline)?;
    let [deliver_plain, deliver_sealed] = intro(&deliver)?;
    Ok(vec![
        card.as_bytes().len(),
        record.as_bytes().len(),
        record.as_bytes().len() + size_of::<SlotKept>() + size_of::<SlotExpiry>(),
        links1.slot.encode().len(),
        links3.slot.encode().len(),
        links1.encode().len(),
        links3.encode().len(),
        env1.as_bytes().len(),
        env2.as_bytes().len(),
        env2_3.as_bytes().len(),
        sealed(Letter::Card(env2.as_bytes().to_vec()))?,
        sealed(Letter::Card(env2_3.as_bytes().to_vec()))?,
        ask_plain,
        ask_sealed,
        accept_plain,
        accept_sealed,
        decline_plain,
        decline_sealed,
        deliver_plain,
        deliver_sealed,
    ])
}

/// The row names, in the order [`sizes`] returns them.
const ROWS: [&str; 20] = [
    "signed card",
    "slot record (seq 1, expires in 60 days)",
    "slot record + the relay's fields beside it (lower bound)",
    "slot address, 1 relay",
    "slot address, 3 relays",
    "links, 1 relay (drop address + slot address)",
    "links, 3 relays",
    "give envelope, format 1 (no links)",
    "give envelope, format 2, links with 1 relay",
    "give envelope, format 2, links with 3 relays",
    "drop: card letter sealed (envelope, 1 relay)",
    "drop: card letter sealed (envelope, 3 relays)",
    "intro ASK (280-byte note)",
    "drop: ASK sealed",
    "intro ACCEPT (envelope, 1 relay)",
    "drop: ACCEPT sealed",
    "intro DECLINE",
    "drop: DECLINE sealed",
    "intro DELIVER (envelope, 1 relay)",
    "drop: DELIVER sealed",
];

fn main() -> Result<()> {
    let mut json_out = false;
    let mut paths = Vec::new();
    for a in std::env::args().skip(1) {
        match a.as_str() {
            "--json" => json_out = true,
            "-h" | "--help" => {
                println!("usage: update-sizes [--json] [CARD.json ...]");
                return Ok(());
            }
            _ => paths.push(PathBuf::from(a)),
        }
    }
    if paths.is_empty() {
        paths.push(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../crates/meishi-card/testdata/ada.json"),
        );
    }
    let (ada, bob, carol) = (
        Identity::from_seed(&[0xa0; 32]),
        Identity::from_seed(&[0xb0; 32]),
        Identity::from_seed(&[0xc0; 32]),
    );
    let mut cards = Vec::new();
    for p in &paths {
        let card: Card = serde_json::from_str(&std::fs::read_to_string(p)?)?;
        let name = p
            .file_stem()
            .map_or_else(|| "card".into(), |s| s.to_string_lossy().into_owned());
        cards.push((name, SignedCard::sign(&ada, 1, T, &card)?));
    }
    cards.push((
        format!("largest ({MAX_CARD_BYTES} B)"),
        card_of_size(&ada, MAX_CARD_BYTES)?,
    ));
    let columns: Vec<Vec<usize>> = cards
        .iter()
        .map(|(_, c)| sizes(&ada, &bob, &carol, c))
        .collect::<Result<_>>()?;
    let rows: Vec<Row> = ROWS
        .iter()
        .enumerate()
        .map(|(i, what)| Row {
            what: (*what).to_owned(),
            bytes: columns.iter().map(|c| c[i]).collect(),
        })
        .collect();
    let limits: Vec<(&str, usize, &str)> = vec![
        (
            "MAX_CARD_BYTES",
            MAX_CARD_BYTES,
            "a signed card (= MAX_SLOT_CARD)",
        ),
        ("MAX_SLOT_CARD", MAX_SLOT_CARD, "what a slot record seals"),
        (
            "MAX_SLOT_SEALED",
            MAX_SLOT_SEALED,
            "the card and the Poly1305 tag",
        ),
        ("MAX_SLOT_RECORD", MAX_SLOT_RECORD, "a slot record"),
        (
            "MAX_SLOT_ADDRESS",
            MAX_SLOT_ADDRESS,
            "3 relays of 256 bytes",
        ),
        ("DROP_ADDRESS_LEN", DROP_ADDRESS_LEN, "a drop address"),
        (
            "MAX_LINKS_BYTES",
            MAX_LINKS_BYTES,
            "links: drop id, drop key, slot address",
        ),
        ("MAX_LINKS", MAX_LINKS, "the envelope's links field"),
        ("MAX_ENVELOPE_BYTES", MAX_ENVELOPE_BYTES, "a give envelope"),
        ("MAX_INTRO_BYTES", MAX_INTRO_BYTES, "an introduction step"),
        (
            "MAX_DROP_PLAINTEXT",
            MAX_DROP_PLAINTEXT,
            "what a drop seals (a letter)",
        ),
        ("MAX_DROP_SEALED", MAX_DROP_SEALED, "a sealed drop message"),
    ];
    let relay_fields = [
        (
            "slot: map entry (slot id + seq, expires_at, bytes pointer, tags)",
            size_of::<SlotKept>(),
        ),
        (
            "slot: expiry index entry (expires_at, slot id)",
            size_of::<SlotExpiry>(),
        ),
        (
            "drop: kept message (arrival, digest, expires_at, bytes pointer, tags)",
            size_of::<DropKept>(),
        ),
        (
            "drop: expiry index entry (expires_at, arrival, box id)",
            size_of::<DropExpiry>(),
        ),
        ("drop: per box (box id, Vec header)", size_of::<DropBox>()),
    ];
    if json_out {
        let out = json!({
            "cards": cards.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            "rows": rows.iter().map(|r| json!({"what": r.what, "bytes": r.bytes})).collect::<Vec<_>>(),
            "relay_fields": relay_fields.iter().map(|(w, b)| json!({"what": w, "bytes": b})).collect::<Vec<_>>(),
            "limits": limits.iter().map(|(n, v, w)| json!({"name": n, "bytes": v, "what": w})).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    let header: Vec<String> = cards.iter().map(|(n, _)| n.clone()).collect();
    println!("| bytes | {} |", header.join(" | "));
    println!("|---|{}", "---:|".repeat(header.len()));
    for r in &rows {
        let cells: Vec<String> = r.bytes.iter().map(usize::to_string).collect();
        println!("| {} | {} |", r.what, cells.join(" | "));
    }
    println!();
    println!("| relay's fields beside the bytes, in memory | bytes |");
    println!("|---|---:|");
    for (what, b) in relay_fields {
        println!("| {what} | {b} |");
    }
    println!();
    println!("| limit | bytes | of |");
    println!("|---|---:|---|");
    for (name, v, what) in limits {
        println!("| {name} | {v} | {what} |");
    }
    Ok(())
}
