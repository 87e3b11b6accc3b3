//! The introduction test vectors of proto-spec/intro.md#test-vectors, one file per case; written
//! by `cargo xtask vectors`, read back by meishi-card's unit test `intro::tests::committed_vectors`.
//!
//! Deterministic: fixed seeds, times, session and envelope nonces, and ed25519 signatures are
//! deterministic. The valid messages are one whole introduction (Carol introduces Ada and Bob),
//! chained by `prev`. Every body is written here byte by byte from the spec's layout, not by the
//! codec, and the generator fails if a valid message differs from what
//! [`IntroMessage::sign`] makes, or if decoding any case gives another outcome than the one it
//! claims. Broken cases are a good message with one property changed, re-signed by the author
//! when the point is that the signature alone does not save them. Never edit the files by hand.

use std::error::Error;
use std::fmt::Write as _;

use meishi_card::envelope::{Envelope, GIVE_LABEL};
use meishi_card::intro::{
    IntroBody, IntroMessage, INTRO_LABEL, INTRO_TTL_SECS, MAX_INTRO_BYTES, MAX_INTRO_NOTE, NO_PREV,
    SESSION_LEN,
};
use meishi_card::limits::{MAX_NAME, MAX_NOTE};
use meishi_card::{Card, Identity, PublicKey, SignedCard, CARD_LABEL};

use crate::bytes::sign_raw;
use crate::hex;
use crate::vectors::Files;

type Result<T, E = Box<dyn Error>> = std::result::Result<T, E>;

/// When Carol sends the first ASK: 2023-11-14T22:13:20Z.
const T0: u64 = 1_700_000_000;
/// The session's end, copied by every message: 14 days later (fits a u32: `FC` and 4 bytes).
const EXPIRES: u64 = T0 + INTRO_TTL_SECS;
const SESSION: [u8; SESSION_LEN] = [0x5e; SESSION_LEN];
/// The nonces of Bob's and Ada's envelopes.
const BOB_NONCE: [u8; 16] = [0xb1; 16];
const ADA_NONCE: [u8; 16] = [0xa1; 16];
/// The links inside the envelopes: opaque bytes to this layer (proto-spec/exchange.md#links).
const LINKS: [u8; 40] = [0x4c; 40];
/// Offsets in a body: `expires_at` follows 1 + 16 + 3 × 32 fixed bytes; with a 5-byte
/// `expires_at`, the kind and then the payload length follow.
const EXPIRES_AT: usize = 1 + SESSION_LEN + 3 * 32;
const KIND_AT: usize = EXPIRES_AT + 5;
const LEN_AT: usize = KIND_AT + 1;

fn ada() -> Identity {
    Identity::from_seed(&[0xa0; 32])
}
fn bob() -> Identity {
    Identity::from_seed(&[0xb0; 32])
}
fn carol() -> Identity {
    Identity::from_seed(&[0xc0; 32])
}
/// Someone outside the introduction.
fn dave() -> Identity {
    Identity::from_seed(&[0xd0; 32])
}

/// One test vector file.
struct Case {
    name: &'static str,
    comment: String,
    /// `success` or an `IntroError::kind()`.
    expect: &'static str,
    message: Vec<u8>,
}

fn case(name: &'static str, expect: &'static str, comment: &str, message: Vec<u8>) -> Case {
    Case {
        name,
        comment: comment.to_owned(),
        expect,
        message,
    }
}

/// bincode's standard varint (proto-spec/card.md#encoding), minimal.
fn varint(x: u64) -> Vec<u8> {
    match x {
        0..=250 => vec![x as u8],
        251..=0xffff => [&[0xfb][..], &(x as u16).to_le_bytes()].concat(),
        0x1_0000..=0xffff_ffff => [&[0xfc][..], &(x as u32).to_le_bytes()].concat(),
        _ => [&[0xfd][..], &x.to_le_bytes()].concat(),
    }
}

fn string(s: &str) -> Vec<u8> {
    [varint(s.len() as u64), s.as_bytes().to_vec()].concat()
}

fn option(s: Option<&str>) -> Vec<u8> {
    s.map_or_else(|| vec![0], |s| [vec![1], string(s)].concat())
}

/// A message body, field by field (proto-spec/intro.md#message).
#[derive(Clone)]
struct Body {
    session: [u8; SESSION_LEN],
    author: PublicKey,
    to: PublicKey,
    prev: [u8; 32],
    expires_at: u64,
    kind: u8,
    payload: Vec<u8>,
}

impl Body {
    fn encode(&self) -> Vec<u8> {
        [
            &[1][..],
            &self.session,
            &self.author.0,
            &self.to.0,
            &self.prev,
            &varint(self.expires_at),
            &[self.kind],
            &varint(self.payload.len() as u64),
            &self.payload,
        ]
        .concat()
    }
    /// Signed by `signer` under the intro label, whoever the body names as author.
    fn signed_by(&self, signer: &Identity) -> Vec<u8> {
        sign_raw(signer, INTRO_LABEL, &self.encode())
    }
}

/// The payload of an ASK (proto-spec/intro.md#ask).
fn ask_payload(
    about: &PublicKey,
    name: &str,
    headline: Option<&str>,
    note: Option<&str>,
) -> Vec<u8> {
    [
        about.0.to_vec(),
        string(name),
        option(headline),
        option(note),
    ]
    .concat()
}

fn card(id: &Identity, name: &str, note: Option<&str>) -> Result<SignedCard> {
    let mut c = Card::new(name);
    c.note = note.map(str::to_owned);
    Ok(SignedCard::sign(id, 1, T0 - 86_400, &c)?)
}

fn give(giver: &Identity, card: &SignedCard, to: &Identity, nonce: [u8; 16]) -> Result<Envelope> {
    Ok(Envelope::sign_with_links(
        giver,
        card,
        to.public(),
        T0 + 3_600,
        None,
        nonce,
        &LINKS,
    )?)
}

/// Signs with the codec and checks the bytes are those of the hand-written body.
fn sign_checked(
    author: &Identity,
    to: &Identity,
    prev: [u8; 32],
    expires_at: u64,
    kind: u8,
    payload: Vec<u8>,
    body: IntroBody,
) -> Result<(IntroMessage, Body)> {
    let m = IntroMessage::sign(author, SESSION, to.public(), prev, expires_at, body)?;
    let raw = Body {
        session: SESSION,
        author: author.public(),
        to: to.public(),
        prev,
        expires_at,
        kind,
        payload,
    };
    if raw.signed_by(author) != m.as_bytes() {
        return Err(format!(
            "the {} message of the codec is not the layout of proto-spec/intro.md",
            m.kind_name()
        )
        .into());
    }
    Ok((m, raw))
}

/// `bytes` with `bytes[at..at + old.len()]`, which must be `old`, replaced by `new`.
fn replace_at(bytes: &[u8], at: usize, old: &[u8], new: &[u8]) -> Result<Vec<u8>> {
    if bytes.get(at..at + old.len()) != Some(old) {
        return Err(format!("expected {old:02x?} at offset {at}").into());
    }
    Ok([&bytes[..at], new, &bytes[at + old.len()..]].concat())
}

/// S + L: the same signature scalar, not reduced (little-endian 256-bit addition).
fn s_plus_l(sig: &[u8]) -> Vec<u8> {
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut out = sig[..32].to_vec();
    let mut carry = 0u16;
    for (i, l) in L.iter().enumerate() {
        let sum = u16::from(sig[32 + i]) + u16::from(*l) + carry;
        out.push(sum as u8);
        carry = sum >> 8;
    }
    out
}

fn cases() -> Result<Vec<Case>> {
    let (a, b, c, d) = (ada(), bob(), carol(), dave());
    let ada_card = card(&a, "Ada Lovelace", Some("Analytical engines"))?;
    let bob_card = card(&b, "Bob Babbage", None)?;
    let note = "Ada builds engines; you said you wanted to meet someone who does.\nShe is in Berlin until May.";

    // The whole introduction, in the order it happens.
    let about_ada = ask_payload(
        &a.public(),
        "Ada Lovelace",
        Some("Analytical engines"),
        Some(note),
    );
    let (ask_bob, ask_bob_raw) = sign_checked(
        &c,
        &b,
        NO_PREV,
        EXPIRES,
        1,
        about_ada,
        IntroBody::Ask {
            about: a.public(),
            name: "Ada Lovelace".into(),
            headline: Some("Analytical engines".into()),
            note: Some(note.into()),
        },
    )?;
    let bob_env = give(&b, &bob_card, &a, BOB_NONCE)?;
    let (accept_bob, accept_bob_raw) = sign_checked(
        &b,
        &c,
        ask_bob.hash(),
        EXPIRES,
        2,
        bob_env.as_bytes().to_vec(),
        IntroBody::Accept {
            envelope: bob_env.clone(),
        },
    )?;
    let (ask_ada, _) = sign_checked(
        &c,
        &a,
        NO_PREV,
        EXPIRES,
        1,
        ask_payload(&b.public(), "Bob Babbage", None, None),
        IntroBody::Ask {
            about: b.public(),
            name: "Bob Babbage".into(),
            headline: None,
            note: None,
        },
    )?;
    let ada_env = give(&a, &ada_card, &b, ADA_NONCE)?;
    let (accept_ada, _) = sign_checked(
        &a,
        &c,
        ask_ada.hash(),
        EXPIRES,
        2,
        ada_env.as_bytes().to_vec(),
        IntroBody::Accept {
            envelope: ada_env.clone(),
        },
    )?;
    let (deliver_bob, deliver_bob_raw) = sign_checked(
        &c,
        &b,
        accept_bob.hash(),
        EXPIRES,
        4,
        ada_env.as_bytes().to_vec(),
        IntroBody::Deliver {
            envelope: ada_env.clone(),
        },
    )?;
    let (deliver_ada, _) = sign_checked(
        &c,
        &a,
        accept_ada.hash(),
        EXPIRES,
        4,
        bob_env.as_bytes().to_vec(),
        IntroBody::Deliver {
            envelope: bob_env.clone(),
        },
    )?;
    let (decline_ada, decline_raw) = sign_checked(
        &a,
        &c,
        ask_ada.hash(),
        EXPIRES,
        3,
        Vec::new(),
        IntroBody::Decline,
    )?;
    let longest = (
        "n".repeat(MAX_NAME),
        "h".repeat(MAX_NOTE),
        "x".repeat(MAX_INTRO_NOTE),
    );
    let (ask_largest, _) = sign_checked(
        &c,
        &b,
        NO_PREV,
        u64::MAX,
        1,
        ask_payload(&a.public(), &longest.0, Some(&longest.1), Some(&longest.2)),
        IntroBody::Ask {
            about: a.public(),
            name: longest.0.clone(),
            headline: Some(longest.1.clone()),
            note: Some(longest.2.clone()),
        },
    )?;
    let format1 = Envelope::sign(&b, &bob_card, a.public(), T0 + 3_600, None, BOB_NONCE)?;
    let (accept_format1, _) = sign_checked(
        &b,
        &c,
        ask_bob.hash(),
        EXPIRES,
        2,
        format1.as_bytes().to_vec(),
        IntroBody::Accept { envelope: format1 },
    )?;

    let bytes = |m: &IntroMessage| m.as_bytes().to_vec();
    let decline = bytes(&decline_ada);
    let decline_body = decline_raw.encode();
    let decline_sig = decline[decline_body.len()..].to_vec();
    let expires_le = [&[0xfc][..], &(EXPIRES as u32).to_le_bytes()].concat();
    // A broken ASK, ACCEPT or DELIVER from Carol or Bob, re-signed by its author.
    let ask_with = |payload: Vec<u8>| {
        Body {
            payload,
            ..ask_bob_raw.clone()
        }
        .signed_by(&c)
    };
    let accept_with = |payload: Vec<u8>| {
        Body {
            payload,
            ..accept_bob_raw.clone()
        }
        .signed_by(&b)
    };
    let deliver_with = |payload: Vec<u8>| {
        Body {
            payload,
            ..deliver_bob_raw.clone()
        }
        .signed_by(&c)
    };
    let ask_about = |about: &PublicKey, name: &str, headline: Option<&str>, note: Option<&str>| {
        ask_with(ask_payload(about, name, headline, note))
    };
    let ada_ask = |name: &str, headline: Option<&str>, note: Option<&str>| {
        ask_about(&a.public(), name, headline, note)
    };
    let good_ask_payload = ask_bob_raw.payload.clone();
    let mut weak = [0u8; 32];
    weak[0] = 1;
    let decline_from = |author: [u8; 32]| {
        Body {
            author: PublicKey(author),
            ..decline_raw.clone()
        }
        .signed_by(&a)
    };

    Ok(vec![
        // The introduction, message by message.
        case("1-ask-bob", "success", "Carol asks Bob whether he wants to meet Ada: Ada's name and headline as on her card, and Carol's note (two lines)", bytes(&ask_bob)),
        case("2-accept-bob", "success", "Bob accepts: his give envelope for Ada (format 2, 40 opaque link bytes 4c), prev = hash of 1-ask-bob", bytes(&accept_bob)),
        case("3-ask-ada", "success", "Carol asks Ada about Bob, whose card has no headline; no note", bytes(&ask_ada)),
        case("4-accept-ada", "success", "Ada accepts: her envelope for Bob, prev = hash of 3-ask-ada", bytes(&accept_ada)),
        case("5-deliver-bob", "success", "Carol delivers Ada's envelope (from 4-accept-ada) to Bob, prev = hash of 2-accept-bob", bytes(&deliver_bob)),
        case("6-deliver-ada", "success", "Carol delivers Bob's envelope (from 2-accept-bob) to Ada, prev = hash of 4-accept-ada", bytes(&deliver_ada)),
        case("decline-ada", "success", "instead of 4-accept-ada, Ada declines: no payload, prev = hash of 3-ask-ada", decline.clone()),
        case("ask-largest", "success", "the longest name (128), headline (280) and note (280), prev ff…ff, expires_at 2^64 - 1", bytes(&ask_largest)),
        case("accept-format-1", "success", "Bob accepts with a format-1 envelope (no links)", bytes(&accept_format1)),
        // Framing.
        case("empty", "empty", "zero bytes", Vec::new()),
        case("too-large", "too-large", &format!("{} bytes: one over the limit, refused before decoding", MAX_INTRO_BYTES + 1), vec![1; MAX_INTRO_BYTES + 1]),
        case("version-zero", "unsupported-version", "version byte 00 (decline-ada)", replace_at(&decline, 0, &[1], &[0])?),
        case("version-two", "unsupported-version", "version byte 02 (decline-ada)", replace_at(&decline, 0, &[1], &[2])?),
        case("body-only", "truncated", "the body of decline-ada without its signature", decline_body.clone()),
        case("short-signature", "truncated", "the last signature byte is missing", decline[..decline.len() - 1].to_vec()),
        case("trailing-byte", "trailing-bytes", "one zero byte after the signature", [&decline[..], &[0]].concat()),
        case("payload-length-past-end", "truncated", "the DECLINE's payload length is 70: the payload would run through the signature and beyond", replace_at(&decline, LEN_AT, &[0], &[70])?),
        case("huge-payload-length", "truncated", "the payload length claims 2^60 bytes: a reader must not allocate for the claim", replace_at(&decline, LEN_AT, &[0], &[0xfd, 0, 0, 0, 0, 0, 0, 0, 0x10])?),
        case("expires-at-u128-marker", "malformed", "expires_at starts with fe, the 128-bit marker, not allowed for a u64", replace_at(&decline, EXPIRES_AT, &[0xfc], &[0xfe])?),
        case("expires-at-reserved-marker", "malformed", "expires_at starts with ff, a reserved marker", replace_at(&decline, EXPIRES_AT, &[0xfc], &[0xff])?),
        // Canonical form: re-signed by the author.
        case("non-minimal-expires-at", "non-canonical", "expires_at written with fd and 8 bytes instead of fc and 4, re-signed by Ada", sign_raw(&a, INTRO_LABEL, &replace_at(&decline_body, EXPIRES_AT, &expires_le, &[&[0xfd][..], &EXPIRES.to_le_bytes()].concat())?)),
        case("non-minimal-payload-length", "non-canonical", "the DECLINE's payload length 0 written as fb 00 00, re-signed by Ada", sign_raw(&a, INTRO_LABEL, &replace_at(&decline_body, LEN_AT, &[0], &[0xfb, 0, 0])?)),
        // Kinds.
        case("kind-zero", "unknown-kind", "kind 00, re-signed by Ada", sign_raw(&a, INTRO_LABEL, &replace_at(&decline_body, KIND_AT, &[3], &[0])?)),
        case("kind-five", "unknown-kind", "kind 05, re-signed by Ada: a later version's kind", sign_raw(&a, INTRO_LABEL, &replace_at(&decline_body, KIND_AT, &[3], &[5])?)),
        // Payloads.
        case("decline-with-payload", "bad-payload", "a DECLINE carrying one zero byte, re-signed by Ada", sign_raw(&a, INTRO_LABEL, &[&decline_body[..LEN_AT], &[1, 0]].concat())),
        case("ask-payload-truncated", "bad-payload", "the ASK payload of 1-ask-bob without its last byte, re-signed by Carol", ask_with(good_ask_payload[..good_ask_payload.len() - 1].to_vec())),
        case("ask-payload-trailing-byte", "bad-payload", "one zero byte after the ASK payload's last field, re-signed by Carol", ask_with([&good_ask_payload[..], &[0]].concat())),
        case("ask-payload-non-canonical", "bad-payload", "the name's length 12 written as fb 0c 00, re-signed by Carol", ask_with(replace_at(&good_ask_payload, 32, &[12], &[0xfb, 12, 0])?)),
        case("ask-payload-option-tag", "bad-payload", "the headline's presence byte is 02, re-signed by Carol", ask_with(replace_at(&good_ask_payload, 32 + 13, &[1], &[2])?)),
        case("ask-payload-not-utf8", "bad-payload", "the name's first byte is ff, re-signed by Carol", ask_with(replace_at(&good_ask_payload, 33, b"A", &[0xff])?)),
        case("accept-not-an-envelope", "bad-payload", "an ACCEPT whose payload is the ASK payload, re-signed by Bob", accept_with(good_ask_payload.clone())),
        case("accept-envelope-bad-signature", "bad-payload", "the last byte of the envelope's signature flipped, the message re-signed by Bob", accept_with({
            let mut e = bob_env.as_bytes().to_vec();
            let n = e.len();
            e[n - 1] ^= 1;
            e
        })),
        case("deliver-empty", "bad-payload", "a DELIVER without an envelope, re-signed by Carol", deliver_with(Vec::new())),
        // Fields of an ASK, each re-signed by Carol.
        case("ask-empty-name", "bad-field", "the name is empty", ada_ask("", None, None)),
        case("ask-name-too-long", "bad-field", "a name of 129 bytes", ada_ask(&"n".repeat(MAX_NAME + 1), None, None)),
        case("ask-name-control", "bad-field", "a name with a bell (07)", ada_ask("Ada\u{7}", None, None)),
        case("ask-headline-too-long", "bad-field", "a headline of 281 bytes", ada_ask("Ada", Some(&"h".repeat(MAX_NOTE + 1)), None)),
        case("ask-headline-newline", "bad-field", "a headline of two lines: a headline is one line", ada_ask("Ada", Some("engines\nand looms"), None)),
        case("ask-note-too-long", "bad-field", "a note of 281 bytes", ada_ask("Ada", None, Some(&"x".repeat(MAX_INTRO_NOTE + 1)))),
        case("ask-note-white-space", "bad-field", "a note of white space and line feeds only", ada_ask("Ada", None, Some(" \n\n "))),
        case("ask-note-escape", "bad-field", "a note with a terminal escape (1b): only the line feed is allowed", ada_ask("Ada", None, Some("hi \u{1b}[2J"))),
        // Messages that contradict themselves.
        case("to-author", "inconsistent", "a DECLINE from Ada addressed to Ada, signed by Ada", Body { to: a.public(), ..decline_raw.clone() }.signed_by(&a)),
        case("ask-about-author", "inconsistent", "Carol asks Bob about Carol", ask_about(&c.public(), "Carol", None, None)),
        case("ask-about-recipient", "inconsistent", "Carol asks Bob about Bob", ask_about(&b.public(), "Bob", None, None)),
        case("accept-others-envelope", "inconsistent", "Bob accepts with Dave's envelope for Ada: only a party's own envelope", accept_with(give(&d, &card(&d, "Dave", None)?, &a, BOB_NONCE)?.as_bytes().to_vec())),
        case("accept-envelope-to-introducer", "inconsistent", "Bob accepts with his envelope addressed to Carol", accept_with(give(&b, &bob_card, &c, BOB_NONCE)?.as_bytes().to_vec())),
        case("accept-envelope-to-author", "inconsistent", "Bob accepts with his envelope addressed to himself", accept_with(give(&b, &bob_card, &b, BOB_NONCE)?.as_bytes().to_vec())),
        case("deliver-wrong-recipient", "inconsistent", "Carol delivers to Bob an envelope of Ada's addressed to Dave", deliver_with(give(&a, &ada_card, &d, ADA_NONCE)?.as_bytes().to_vec())),
        case("deliver-introducers-envelope", "inconsistent", "Carol delivers to Bob her own envelope for Bob", deliver_with(give(&c, &card(&c, "Carol", None)?, &b, BOB_NONCE)?.as_bytes().to_vec())),
        // Signatures.
        case("bad-signature", "bad-signature", "the first bit of decline-ada's signature flipped", [&decline_body[..], &[decline_sig[0] ^ 1], &decline_sig[1..]].concat()),
        case("body-changed", "bad-signature", "expires_at one second later after signing", replace_at(&decline, EXPIRES_AT, &expires_le, &[&[0xfc][..], &((EXPIRES + 1) as u32).to_le_bytes()].concat())?),
        case("accept-signed-by-introducer", "bad-signature", "2-accept-bob signed by Carol: the introducer cannot answer for Bob", accept_bob_raw.signed_by(&c)),
        case("wrong-label-card", "bad-signature", "decline-ada signed by Ada under the card's label", sign_raw(&a, CARD_LABEL, &decline_body)),
        case("wrong-label-give", "bad-signature", "decline-ada signed by Ada under the give envelope's label", sign_raw(&a, GIVE_LABEL, &decline_body)),
        case("no-label", "bad-signature", "decline-ada signed by Ada over the body alone", sign_raw(&a, b"", &decline_body)),
        case("invalid-author-key", "bad-signature", "author ff…ff: y is not below p", decline_from([0xff; 32])),
        case("weak-author-key", "bad-signature", "author 01 00…00, the identity point (small order)", decline_from(weak)),
        case("signature-s-not-reduced", "bad-signature", "S + L in place of S: the same signature to a lenient verifier, refused by strict verification", [&decline_body[..], &s_plus_l(&decline_sig)].concat()),
    ])
}

/// Checks that the codec agrees with the case, and renders the file.
fn render_case(c: &Case) -> Result<String> {
    let got = IntroMessage::decode(&c.message);
    let kind = got.as_ref().map_or_else(|e| e.kind(), |_| "success");
    if kind != c.expect {
        return Err(format!(
            "case {}: expected {}, the reference implementation gives {kind} ({got:?})",
            c.name, c.expect
        )
        .into());
    }
    let mut s = String::new();
    writeln!(s, "expect: {}", c.expect)?;
    writeln!(s, "comment: {}", c.comment)?;
    if let Ok(m) = &got {
        writeln!(s, "kind: {}", m.kind_name())?;
        writeln!(s, "session: {}", hex(&m.session()))?;
        writeln!(s, "author: {}", m.author().peer_id())?;
        writeln!(s, "to: {}", m.to().peer_id())?;
        writeln!(s, "prev: {}", hex(&m.prev()))?;
        writeln!(s, "expires-at: {}", m.expires_at())?;
        writeln!(s, "hash: {}", hex(&m.hash()))?;
    }
    writeln!(s, "message: {}", hex(&c.message))?;
    Ok(s)
}

/// Every intro vector, as (file name, file text).
pub fn render() -> Result<Files> {
    cases()?
        .into_iter()
        .map(|c| Ok((c.name.to_owned(), render_case(&c)?)))
        .collect()
}
