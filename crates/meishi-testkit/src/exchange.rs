//! The exchange test vectors of proto-spec/exchange.md#test-vectors, one file per case; written
//! by `cargo xtask vectors`, and read back by meishi-node's tests through [`outcome`].
//!
//! Deterministic: fixed seeds, times and nonces, and ed25519 signatures are deterministic.
//! Every case is checked with the reference implementation before it is rendered, and the
//! generator fails if the outcome differs from the one the case claims. Never edit the files by
//! hand.

use std::error::Error;

use futures::executor::block_on;
use futures::io::Cursor;
use meishi_card::envelope::{
    encode_give_body_for_tests, encode_teaser_body_for_tests, Envelope, SignedTeaser, GIVE_LABEL,
    MAX_ENVELOPE_BYTES, MAX_RELAY_ID, MAX_TEASER_BYTES, TEASER_LABEL,
};
use meishi_card::{Card, Identity, PublicKey, SignedCard, CARD_LABEL};
use meishi_node::protocol::{read_frame, RefuseCode, Request, Response};
use meishi_node::{FrameError, MAX_MESSAGE_BYTES};

use crate::bytes::{sign_raw, splice};
use crate::hex;
use crate::vectors::Files;

type Result<T, E = Box<dyn Error>> = std::result::Result<T, E>;

/// Fixed signing time of every envelope: 2023-11-14T22:13:20Z.
const T0: u64 = 1_700_000_000;
/// The receiver's clock in envelope cases: one minute later.
pub const NOW: u64 = T0 + 60;
/// The receiver's freshness window in envelope cases, in seconds.
pub const WINDOW: u64 = 600;
const NONCE: [u8; 16] = [0x5a; 16];

fn identity(n: u8) -> Identity {
    Identity::from_seed(&[n; 32])
}
fn ada() -> Identity {
    identity(1)
}
/// The recipient of every envelope case.
pub fn bob() -> Identity {
    identity(2)
}

fn ada_card() -> Result<SignedCard> {
    let mut c = Card::new("Ada Lovelace");
    c.org = Some("Analytical Engines Ltd".into());
    c.note = Some("Poetical science".into());
    Ok(SignedCard::sign(&ada(), 1, T0 - 86_400, &c)?)
}

/// A give body around `card`, signed by `signer` under the give label.
fn give_raw(signer: &Identity, card: &[u8], time: u64, event: Option<&str>) -> Vec<u8> {
    sign_raw(
        signer,
        GIVE_LABEL,
        &encode_give_body_for_tests(card, &bob().public(), time, event, NONCE),
    )
}

/// One case's input, as the test reads it back from a vector file.
pub enum Input {
    /// An envelope received from `sender`, by `recipient` (Bob) at `NOW`.
    Envelope {
        sender: PublicKey,
        bytes: Vec<u8>,
    },
    Teaser(Vec<u8>),
    Request(Vec<u8>),
    Response(Vec<u8>),
}

struct Case {
    name: &'static str,
    expect: &'static str,
    comment: &'static str,
    input: Input,
}

fn env(
    name: &'static str,
    expect: &'static str,
    comment: &'static str,
    sender: Identity,
    bytes: Vec<u8>,
) -> Case {
    Case {
        name,
        expect,
        comment,
        input: Input::Envelope {
            sender: sender.public(),
            bytes,
        },
    }
}

fn cases() -> Result<Vec<Case>> {
    let card = ada_card()?;
    let good = Envelope::sign(
        &ada(),
        &card,
        bob().public(),
        T0,
        Some("RustConf 2026"),
        NONCE,
    )?;
    let good_bytes = good.as_bytes().to_vec();
    let body_len = good_bytes.len() - 64;
    let mut c = vec![
        env(
            "success",
            "success",
            "Ada gives her card to Bob at RustConf 2026",
            ada(),
            good_bytes.clone(),
        ),
        env(
            "success-no-event",
            "success",
            "no event: the option byte is 00",
            ada(),
            Envelope::sign(&ada(), &card, bob().public(), T0, None, NONCE)?
                .as_bytes()
                .to_vec(),
        ),
        env(
            "success-window-edge",
            "success",
            "signed exactly 600 s before the receiver's clock: still inside the window",
            ada(),
            Envelope::sign(&ada(), &card, bob().public(), NOW - WINDOW, None, NONCE)?
                .as_bytes()
                .to_vec(),
        ),
        env("empty", "empty", "zero bytes", ada(), Vec::new()),
        env(
            "too-large",
            "too-large",
            "one byte over the 5,379-byte limit",
            ada(),
            vec![1; MAX_ENVELOPE_BYTES + 1],
        ),
        env(
            "format-three",
            "unsupported-format",
            "format byte 03",
            ada(),
            {
                let mut b = good_bytes.clone();
                b[0] = 3;
                b
            },
        ),
        env(
            "success-links",
            "success",
            "format 02: the same give with 40 bytes of links after the nonce (a length byte 28, then the links)",
            ada(),
            Envelope::sign_with_links(
                &ada(),
                &card,
                bob().public(),
                T0,
                Some("RustConf 2026"),
                NONCE,
                &[0x4c; 40],
            )?
            .as_bytes()
            .to_vec(),
        ),
        env(
            "format-one-with-links",
            "trailing-bytes",
            "a format-01 envelope cannot carry links: the body ends at the nonce, so the links look like bytes after the signature",
            ada(),
            {
                let v2 = Envelope::sign_with_links(
                    &ada(),
                    &card,
                    bob().public(),
                    T0,
                    Some("RustConf 2026"),
                    NONCE,
                    &[0x4c; 40],
                )?;
                let mut b = v2.as_bytes().to_vec();
                b[0] = 1;
                b
            },
        ),
        env(
            "body-only",
            "truncated",
            "the body without its signature",
            ada(),
            good_bytes[..body_len].to_vec(),
        ),
        env(
            "short-signature",
            "truncated",
            "the last signature byte is missing",
            ada(),
            good_bytes[..good_bytes.len() - 1].to_vec(),
        ),
        env(
            "trailing-byte",
            "trailing-bytes",
            "one zero byte after the signature",
            ada(),
            {
                let mut b = good_bytes.clone();
                b.push(0);
                b
            },
        ),
        env(
            "length-past-end",
            "truncated",
            "the card length claims more bytes than the envelope has",
            ada(),
            {
                // Replace the card length (one byte: the card is under 251 bytes) by fb 00 10,
                // a length of 4,096.
                let mut b = vec![good_bytes[0], 0xfb, 0x00, 0x10];
                b.extend_from_slice(&good_bytes[2..]);
                b
            },
        ),
    ];

    // Non-canonical time: T0 as fd + u64 instead of fc + u32, re-signed by Ada.
    let body = encode_give_body_for_tests(card.as_bytes(), &bob().public(), T0, None, NONCE);
    let mut minimal = vec![0xfc];
    minimal.extend_from_slice(&(T0 as u32).to_le_bytes());
    let mut wide = vec![0xfd];
    wide.extend_from_slice(&T0.to_le_bytes());
    let noncanon = splice(&body, &minimal, &wide)?;
    c.push(env(
        "non-minimal-time",
        "non-canonical",
        "time encoded as fd + u64 where fc + u32 is minimal; signed over those bytes",
        ada(),
        sign_raw(&ada(), GIVE_LABEL, &noncanon),
    ));

    // Event option tag 02.
    let body = encode_give_body_for_tests(card.as_bytes(), &bob().public(), T0, Some("E"), NONCE);
    let tagged = splice(&body, &[1, 1, b'E'], &[2, 1, b'E'])?;
    c.push(env(
        "option-tag-two",
        "malformed",
        "event option tag 02",
        ada(),
        sign_raw(&ada(), GIVE_LABEL, &tagged),
    ));
    let bad_utf8 = splice(&body, &[1, 1, b'E'], &[1, 1, 0xff])?;
    c.push(env(
        "event-invalid-utf8",
        "malformed",
        "event byte ff is not UTF-8",
        ada(),
        sign_raw(&ada(), GIVE_LABEL, &bad_utf8),
    ));

    let long = "x".repeat(65);
    c.push(env(
        "event-too-long",
        "bad-field",
        "a 65-byte event name",
        ada(),
        give_raw(&ada(), card.as_bytes(), T0, Some(&long)),
    ));
    c.push(env(
        "event-control-character",
        "bad-field",
        "a newline in the event name",
        ada(),
        give_raw(&ada(), card.as_bytes(), T0, Some("Rust\nConf")),
    ));
    c.push(env(
        "event-blank",
        "bad-field",
        "an event name of spaces",
        ada(),
        give_raw(&ada(), card.as_bytes(), T0, Some("   ")),
    ));

    let mut broken_card = card.as_bytes().to_vec();
    let last = broken_card.len() - 1;
    broken_card[last] ^= 1;
    c.push(env(
        "bad-card-signature",
        "bad-card",
        "the card's own signature is broken; the envelope signature over it is valid",
        ada(),
        give_raw(&ada(), &broken_card, T0, None),
    ));

    c.push(env(
        "bad-signature",
        "bad-signature",
        "lowest bit of the envelope signature's last byte flipped",
        ada(),
        {
            let mut b = good_bytes.clone();
            let last = b.len() - 1;
            b[last] ^= 1;
            b
        },
    ));
    c.push(env(
        "signed-by-other-key",
        "bad-signature",
        "Mallory wraps Ada's card and signs the envelope with her own key",
        ada(),
        give_raw(&identity(66), card.as_bytes(), T0, None),
    ));
    c.push(env(
        "card-label",
        "bad-signature",
        "signed under the card label instead of the give label",
        ada(),
        sign_raw(
            &ada(),
            CARD_LABEL,
            &encode_give_body_for_tests(card.as_bytes(), &bob().public(), T0, None, NONCE),
        ),
    ));
    c.push(env(
        "wrong-sender",
        "wrong-sender",
        "Ada's valid envelope arrives on a connection from Mallory",
        identity(66),
        good_bytes.clone(),
    ));
    c.push(env(
        "wrong-recipient",
        "wrong-recipient",
        "Ada's envelope for Cy arrives at Bob",
        ada(),
        Envelope::sign(&ada(), &card, identity(3).public(), T0, None, NONCE)?
            .as_bytes()
            .to_vec(),
    ));
    c.push(env(
        "stale",
        "stale",
        "signed 601 s before the receiver's clock",
        ada(),
        Envelope::sign(&ada(), &card, bob().public(), NOW - WINDOW - 1, None, NONCE)?
            .as_bytes()
            .to_vec(),
    ));
    c.push(env(
        "from-future",
        "from-future",
        "signed 601 s after the receiver's clock",
        ada(),
        Envelope::sign(&ada(), &card, bob().public(), NOW + WINDOW + 1, None, NONCE)?
            .as_bytes()
            .to_vec(),
    ));

    // Teasers.
    let teaser = SignedTeaser::sign(&ada(), T0, "Ada Lovelace", Some("Poetical science"))?;
    let tb = teaser.as_bytes().to_vec();
    let teaser_case = |name, expect, comment, bytes| Case {
        name,
        expect,
        comment,
        input: Input::Teaser(bytes),
    };
    c.push(teaser_case(
        "teaser-success",
        "success",
        "Ada's name and headline",
        tb.clone(),
    ));
    c.push(teaser_case(
        "teaser-no-headline",
        "success",
        "a name only",
        SignedTeaser::sign(&ada(), T0, "Ada", None)?
            .as_bytes()
            .to_vec(),
    ));
    c.push(teaser_case(
        "teaser-bad-signature",
        "bad-signature",
        "last signature bit flipped",
        {
            let mut b = tb.clone();
            let last = b.len() - 1;
            b[last] ^= 1;
            b
        },
    ));
    c.push(teaser_case(
        "teaser-too-large",
        "too-large",
        "one byte over the 800-byte limit",
        vec![1; MAX_TEASER_BYTES + 1],
    ));
    c.push(teaser_case(
        "teaser-trailing-byte",
        "trailing-bytes",
        "one byte after the signature",
        {
            let mut b = tb.clone();
            b.push(0);
            b
        },
    ));
    c.push(teaser_case(
        "teaser-envelope",
        "malformed",
        "a give envelope is not a teaser",
        good_bytes.clone(),
    ));
    let mut empty_name = tb[..tb.len() - 64].to_vec();
    empty_name = splice(&empty_name, b"\x0cAda Lovelace", b"\x01 ")?;
    c.push(teaser_case(
        "teaser-blank-name",
        "bad-field",
        "the name is one space",
        sign_raw(&ada(), b"meishi/teaser/v1\0", &empty_name),
    ));

    // Format 2: relay hints. Relay ids are peer ids as bytes (38 for an ed25519 key).
    let relay = |n: u8| identity(0x70 + n).public().peer_id_bytes().to_vec();
    let (r1, r2) = (relay(1), relay(2));
    let with_relays = SignedTeaser::sign_with_relays(
        &ada(),
        T0,
        "Ada Lovelace",
        Some("Poetical science"),
        &[r1.clone(), r2.clone()],
    )?;
    let wb = with_relays.as_bytes().to_vec();
    // Ada's format-2 body with exactly `relays`, signed by her: what the signer refuses to make.
    let v2_raw = |relays: &[Vec<u8>]| {
        sign_raw(
            &ada(),
            TEASER_LABEL,
            &encode_teaser_body_for_tests(
                &ada().public(),
                T0,
                "Ada Lovelace",
                Some("Poetical science"),
                Some(relays),
            ),
        )
    };
    c.push(teaser_case(
        "teaser-relays",
        "success",
        "format 02: the success teaser with two relay ids after the headline (count 02, then length 26 and a 38-byte peer id for each)",
        wb.clone(),
    ));
    c.push(teaser_case(
        "teaser-relays-one",
        "success",
        "format 02 with one relay id of 1 byte and nothing else: ids are opaque bytes",
        sign_raw(
            &ada(),
            TEASER_LABEL,
            &encode_teaser_body_for_tests(&ada().public(), T0, "Ada", None, Some(&[vec![0x2a]])),
        ),
    ));
    c.push(teaser_case(
        "teaser-relays-empty",
        "no-relays",
        "format 02 with a relay count of 00: a teaser without relays is format 01",
        v2_raw(&[]),
    ));
    c.push(teaser_case(
        "teaser-relays-five",
        "too-many-relays",
        "format 02 with five distinct relay ids; the limit is four",
        v2_raw(&(1..=5).map(relay).collect::<Vec<_>>()),
    ));
    c.push(teaser_case(
        "teaser-relays-duplicate",
        "duplicate-relay",
        "format 02 naming the first relay again as the third",
        v2_raw(&[r1.clone(), r2.clone(), r1.clone()]),
    ));
    c.push(teaser_case(
        "teaser-relay-id-empty",
        "bad-relay-id",
        "format 02 whose second relay id is empty (length 00)",
        v2_raw(&[r1.clone(), Vec::new()]),
    ));
    c.push(teaser_case(
        "teaser-relay-id-too-long",
        "bad-relay-id",
        "format 02 with a 65-byte relay id; the limit is 64",
        v2_raw(&[vec![0x65; MAX_RELAY_ID + 1]]),
    ));
    c.push(teaser_case(
        "teaser-relays-changed",
        "bad-signature",
        "the last byte of the second relay id changed after signing: the hints are signed",
        {
            let mut b = wb.clone();
            let at = b.len() - 64 - 1;
            b[at] ^= 1;
            b
        },
    ));
    c.push(teaser_case(
        "teaser-format-one-with-relays",
        "trailing-bytes",
        "the format-02 teaser with its format byte set to 01: a format-01 body ends at the headline, so the relays look like bytes after the signature",
        {
            let mut b = wb.clone();
            b[0] = 1;
            b
        },
    ));
    c.push(teaser_case(
        "teaser-relay-length-non-minimal",
        "non-canonical",
        "the first relay id's length 38 as fb 26 00 instead of 26; signed over those bytes",
        {
            let body = &wb[..wb.len() - 64];
            let mut minimal = vec![0x26];
            minimal.extend_from_slice(&r1);
            let mut wide = vec![0xfb, 0x26, 0x00];
            wide.extend_from_slice(&r1);
            sign_raw(&ada(), TEASER_LABEL, &splice(body, &minimal, &wide)?)
        },
    ));

    // Framed messages as read from a stream.
    let frame = |f: Vec<u8>| {
        let mut out = (f.len() as u32).to_be_bytes().to_vec();
        out.extend(f);
        out
    };
    let req = |name, expect, comment, bytes| Case {
        name,
        expect,
        comment,
        input: Input::Request(bytes),
    };
    let resp = |name, expect, comment, bytes| Case {
        name,
        expect,
        comment,
        input: Input::Response(bytes),
    };
    c.push(req(
        "request-give",
        "success",
        "GIVE carrying the success envelope",
        frame(Request::Give(good_bytes.clone()).to_frame()),
    ));
    c.push(req(
        "request-fetch",
        "success",
        "FETCH: length 1, kind 03",
        frame(Request::Fetch.to_frame()),
    ));
    c.push(req(
        "request-teaser",
        "success",
        "TEASER: length 1, kind 04",
        frame(Request::Teaser.to_frame()),
    ));
    c.push(req(
        "request-zero-length",
        "invalid-message",
        "length 0",
        vec![0, 0, 0, 0],
    ));
    c.push(req(
        "request-over-limit",
        "too-large",
        "length 8,193: refused from the length alone",
        ((MAX_MESSAGE_BYTES + 1) as u32).to_be_bytes().to_vec(),
    ));
    c.push(req(
        "request-huge-length",
        "too-large",
        "length ffffffff",
        vec![0xff; 4],
    ));
    c.push(req(
        "request-unknown-kind",
        "invalid-message",
        "kind 99",
        frame(vec![0x99, 1, 2]),
    ));
    c.push(req(
        "request-fetch-with-payload",
        "invalid-message",
        "FETCH must not carry a payload",
        frame(vec![3, 0]),
    ));
    c.push(resp(
        "response-refused",
        "success",
        "REFUSED, code 6 (rate-limited)",
        frame(Response::Refused(RefuseCode::RateLimited).to_frame()),
    ));
    c.push(resp(
        "response-pending",
        "success",
        "PENDING",
        frame(Response::Pending.to_frame()),
    ));
    c.push(resp(
        "response-refused-no-code",
        "invalid-message",
        "REFUSED without its code byte",
        frame(vec![7]),
    ));
    c.push(resp(
        "response-give-back",
        "success",
        "GIVE_BACK carrying an envelope",
        frame(Response::GiveBack(good_bytes).to_frame()),
    ));
    Ok(c)
}

/// What the reference implementation says about a case: `success` or an error kind.
pub fn outcome(input: &Input) -> String {
    match input {
        Input::Envelope { sender, bytes } => match Envelope::decode(bytes) {
            Err(e) => e.kind().to_owned(),
            Ok(env) => match env.check(sender, &bob().public(), NOW, WINDOW) {
                Ok(()) => "success".into(),
                Err(e) => e.kind().to_owned(),
            },
        },
        Input::Teaser(bytes) => match SignedTeaser::decode(bytes) {
            Ok(_) => "success".into(),
            Err(e) => e.kind().to_owned(),
        },
        Input::Request(bytes) | Input::Response(bytes) => {
            let framed = block_on(read_frame(&mut Cursor::new(bytes.clone())));
            let parsed = framed.and_then(|f| match input {
                Input::Request(_) => Request::from_frame(&f).map(|_| ()),
                _ => Response::from_frame(&f).map(|_| ()),
            });
            match parsed {
                Ok(()) => "success".into(),
                Err(e) => FrameError::of(&e)
                    .map_or("invalid-message", FrameError::kind)
                    .to_owned(),
            }
        }
    }
}

/// Every case as (file name, file text), checked against the implementation.
pub fn render() -> Result<Files> {
    let mut out = Vec::new();
    for case in cases()? {
        let got = outcome(&case.input);
        if got != case.expect {
            return Err(format!(
                "case {}: claims {} but the implementation says {got}",
                case.name, case.expect
            )
            .into());
        }
        let mut text = format!("expect: {}\ncomment: {}\n", case.expect, case.comment);
        match &case.input {
            Input::Envelope { sender, bytes } => {
                text += &format!(
                    "sender: {}\nrecipient: {}\nnow: {NOW}\nwindow: {WINDOW}\nenvelope: {}\n",
                    sender.peer_id(),
                    bob().public().peer_id(),
                    hex(bytes)
                );
            }
            Input::Teaser(b) => {
                text += &format!("teaser: {}\n", hex(b));
                // What a reader must find in a format-2 teaser, not just that it decodes.
                if let Ok(t) = SignedTeaser::decode(b) {
                    if !t.relays().is_empty() {
                        let ids: Vec<String> = t.relays().iter().map(|r| hex(r)).collect();
                        text += &format!("relays: {}\n", ids.join(","));
                    }
                }
            }
            Input::Request(b) => text += &format!("request: {}\n", hex(b)),
            Input::Response(b) => text += &format!("response: {}\n", hex(b)),
        }
        out.push((case.name.to_owned(), text));
    }
    Ok(out)
}
