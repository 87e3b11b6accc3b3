//! The card slot test vectors of proto-spec/slot.md#test-vectors, one file per case; written by
//! `cargo xtask vectors`, read back by meishi-event's unit test `committed_vectors`.
//!
//! Deterministic: fixed seeds, times and nonces, and ed25519 signatures are deterministic.
//! Every case is decoded (and opened, when it names a seal key) with `meishi-event` before it is
//! rendered, and the generator fails if the outcome is not the one the case claims. Broken
//! cases are a good record with one property changed, re-signed by the slot key when the point
//! is that the signature alone does not save them. Never edit the files by hand.

use std::error::Error;
use std::fmt::Write as _;

use ed25519_dalek::{Signer, SigningKey};
use meishi_card::{Card, Identity, SignedCard, CARD_LABEL};
use meishi_event::{
    Multiaddr, SlotAddress, SlotKey, SlotRecord, SlotReplacement, SlotSealKey, MAX_SLOT_ADDRESS,
    MAX_SLOT_CARD, MAX_SLOT_RECORD, MAX_SLOT_SEALED, SLOT_RECORD_LABEL,
};

use crate::hex;
use crate::vectors::Files;

type Result<T, E = Box<dyn Error>> = std::result::Result<T, E>;

/// Signing time of the cards inside: 2023-11-14T22:13:20Z.
const T0: u64 = 1_700_000_000;
/// Expiry of every record: 30 days later.
const EXPIRES: u64 = T0 + 30 * 86_400;
/// Seed of the slot key of every case but the other-slot ones.
const SLOT_SEED: [u8; 32] = [0xc1; 32];
/// Seed of the other slot.
const OTHER_SEED: [u8; 32] = [0xd1; 32];
/// The seal key of every case.
const SEAL_KEY: [u8; 32] = [0xc2; 32];
/// The key `open-wrong-key` tries.
const WRONG_KEY: [u8; 32] = [0xc4; 32];
const NONCE: [u8; 24] = [0xc3; 24];
/// The nonce of the second sealing in `replace-equivocation`.
const OTHER_NONCE: [u8; 24] = [0xc5; 24];
const RELAY: &str =
    "/ip4/203.0.113.7/tcp/4001/p2p/12D3KooWBHkR6nGT5KH3Xow9voA2aSQ67423yzWZCVbruRadyybt";

/// Offsets in a record body with a one-byte `seq` and a 5-byte `expires_at` (proto-spec/slot.md#record).
const SEQ_AT: usize = 33;
const EXPIRES_AT: usize = 34;
const SEALED_LEN_AT: usize = 39 + 24;

/// One test vector file.
struct Case {
    name: &'static str,
    comment: String,
    /// `success`, a `SlotError::kind()` or a `SlotAddressError::kind()`.
    expect: &'static str,
    input: Input,
}

enum Input {
    Record {
        bytes: Vec<u8>,
        /// The seal key the reader opens the record with, and the card it must find inside.
        open: Option<([u8; 32], Option<Vec<u8>>)>,
        /// A valid record already kept for the slot, and how this one relates to it.
        stored: Option<(Vec<u8>, &'static str)>,
    },
    Address(Vec<u8>),
}

fn record(name: &'static str, expect: &'static str, comment: &str, bytes: Vec<u8>) -> Case {
    Case {
        name,
        comment: comment.to_owned(),
        expect,
        input: Input::Record {
            bytes,
            open: None,
            stored: None,
        },
    }
}

fn opened(
    name: &'static str,
    expect: &'static str,
    comment: &str,
    bytes: Vec<u8>,
    key: [u8; 32],
    card: Option<Vec<u8>>,
) -> Case {
    Case {
        name,
        comment: comment.to_owned(),
        expect,
        input: Input::Record {
            bytes,
            open: Some((key, card)),
            stored: None,
        },
    }
}

fn replacement(
    name: &'static str,
    comment: &str,
    stored: Vec<u8>,
    outcome: &'static str,
    bytes: Vec<u8>,
) -> Case {
    Case {
        name,
        comment: comment.to_owned(),
        expect: "success",
        input: Input::Record {
            bytes,
            open: None,
            stored: Some((stored, outcome)),
        },
    }
}

fn address(name: &'static str, expect: &'static str, comment: &str, bytes: Vec<u8>) -> Case {
    Case {
        name,
        comment: comment.to_owned(),
        expect,
        input: Input::Address(bytes),
    }
}

/// Ada's card of `seq` (the card vector `valid-minimal` at seq 1).
fn card(seq: u64) -> Result<Vec<u8>> {
    let ada = Identity::from_seed(&[0xa1; 32]);
    Ok(SignedCard::sign(&ada, seq, T0, &Card::new("Ada"))?
        .as_bytes()
        .to_vec())
}

fn seal(
    seed: &[u8; 32],
    seq: u64,
    expires_at: u64,
    card: &[u8],
    nonce: [u8; 24],
) -> Result<Vec<u8>> {
    let r = SlotRecord::seal(
        &SlotKey::from_seed(seed),
        &SlotSealKey::from_bytes(SEAL_KEY),
        seq,
        expires_at,
        card,
        nonce,
    )?;
    Ok(r.as_bytes().to_vec())
}

/// `body || signature over label || body` by the key of `seed`, whatever the body holds.
fn sign_with(seed: &[u8; 32], label: &[u8], body: &[u8]) -> Vec<u8> {
    let mut input = label.to_vec();
    input.extend_from_slice(body);
    let mut out = body.to_vec();
    out.extend_from_slice(&SigningKey::from_bytes(seed).sign(&input).to_bytes());
    out
}

/// Re-signs a body with the slot key, the slot label.
fn resign(body: &[u8]) -> Vec<u8> {
    sign_with(&SLOT_SEED, SLOT_RECORD_LABEL, body)
}

/// `bytes` with `bytes[at..at + old.len()]`, which must be `old`, replaced by `new`.
fn replace_at(bytes: &[u8], at: usize, old: &[u8], new: &[u8]) -> Result<Vec<u8>> {
    if bytes.get(at..at + old.len()) != Some(old) {
        return Err(format!("expected {old:02x?} at offset {at}").into());
    }
    let mut out = bytes[..at].to_vec();
    out.extend_from_slice(new);
    out.extend_from_slice(&bytes[at + old.len()..]);
    Ok(out)
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

fn record_cases() -> Result<Vec<Case>> {
    let card1 = card(1)?;
    let card2 = card(2)?;
    let good = seal(&SLOT_SEED, 1, EXPIRES, &card1, NONCE)?;
    let body = good[..good.len() - 64].to_vec();
    let sig = good[good.len() - 64..].to_vec();
    if usize::from(body[SEALED_LEN_AT]) != card1.len() + 16 {
        return Err("the sealed length is not one byte at its offset".into());
    }
    let mut expires_le = vec![0xfc];
    expires_le.extend_from_slice(&(EXPIRES as u32).to_le_bytes());
    let other = SlotKey::from_seed(&OTHER_SEED).id();
    let mut out = vec![
        opened(
            "success",
            "success",
            "Ada's card (the card vector valid-minimal) sealed in her slot at seq 1; opens with the seal key",
            good.clone(),
            SEAL_KEY,
            Some(card1.clone()),
        ),
        opened(
            "success-largest",
            "success",
            "4,096 bytes sealed, seq and expires_at 2^64 - 1: a record of exactly 4,254 bytes. The slot layer seals any bytes; the reader verifies the card after opening",
            seal(&SLOT_SEED, u64::MAX, u64::MAX, &[0xca; MAX_SLOT_CARD], NONCE)?,
            SEAL_KEY,
            Some(vec![0xca; MAX_SLOT_CARD]),
        ),
        record(
            "success-relay-view",
            "success",
            "the record as a relay checks it: decoded and verified without the seal key",
            good.clone(),
        ),
        // Framing.
        record("empty", "empty", "zero bytes", Vec::new()),
        record(
            "too-large",
            "too-large",
            "4,255 bytes: one over the limit, refused before decoding",
            vec![1; MAX_SLOT_RECORD + 1],
        ),
        record(
            "version-zero",
            "unsupported-version",
            "version byte 00",
            replace_at(&good, 0, &[1], &[0])?,
        ),
        record(
            "version-two",
            "unsupported-version",
            "version byte 02",
            replace_at(&good, 0, &[1], &[2])?,
        ),
        record(
            "body-only",
            "truncated",
            "the body without its signature",
            body.clone(),
        ),
        record(
            "short-signature",
            "truncated",
            "the last signature byte is missing",
            good[..good.len() - 1].to_vec(),
        ),
        record(
            "trailing-byte",
            "trailing-bytes",
            "one zero byte after the signature",
            [&good[..], &[0]].concat(),
        ),
        record(
            "sealed-length-past-end",
            "truncated",
            "the sealed length claims 4,112 bytes (fb 10 10); far fewer follow",
            replace_at(&good, SEALED_LEN_AT, &body[SEALED_LEN_AT..=SEALED_LEN_AT], &[0xfb, 0x10, 0x10])?,
        ),
        record(
            "huge-sealed-length",
            "truncated",
            "the sealed length claims 2^60 bytes: a reader must not allocate for the claim",
            replace_at(
                &good,
                SEALED_LEN_AT,
                &body[SEALED_LEN_AT..=SEALED_LEN_AT],
                &[0xfd, 0, 0, 0, 0, 0, 0, 0, 0x10],
            )?,
        ),
        record(
            "seq-u128-marker",
            "malformed",
            "seq starts with fe, the 128-bit marker, not allowed for a u64",
            replace_at(&good, SEQ_AT, &[1], &[0xfe])?,
        ),
        record(
            "seq-reserved-marker",
            "malformed",
            "seq starts with ff, a reserved marker",
            replace_at(&good, SEQ_AT, &[1], &[0xff])?,
        ),
        // Canonical form: every one re-signed by the slot key.
        record(
            "non-minimal-seq",
            "non-canonical",
            "seq 1 written as fb 01 00, re-signed: readable, signed, not canonical",
            resign(&replace_at(&body, SEQ_AT, &[1], &[0xfb, 1, 0])?),
        ),
        record(
            "non-minimal-expires-at",
            "non-canonical",
            "expires_at written with fd and 8 bytes instead of fc and 4, re-signed",
            resign(&replace_at(&body, EXPIRES_AT, &expires_le, &{
                let mut w = vec![0xfd];
                w.extend_from_slice(&EXPIRES.to_le_bytes());
                w
            })?),
        ),
        record(
            "non-minimal-sealed-length",
            "non-canonical",
            "the sealed length written as fb and 2 bytes, re-signed",
            resign(&replace_at(
                &body,
                SEALED_LEN_AT,
                &body[SEALED_LEN_AT..=SEALED_LEN_AT],
                &[0xfb, body[SEALED_LEN_AT], 0],
            )?),
        ),
        // Bounds of the sealed card.
        record(
            "sealed-too-short",
            "sealed-size",
            "16 sealed bytes: a tag and no card, re-signed",
            resign(&[&body[..SEALED_LEN_AT], &[16], &[0xaa; 16]].concat()),
        ),
        record(
            "sealed-too-long",
            "sealed-size",
            "4,113 sealed bytes: one over a 4,096-byte card and its tag, re-signed (the record is still under 4,254 bytes)",
            resign(
                &[
                    &body[..SEALED_LEN_AT],
                    &[0xfb, 0x11, 0x10],
                    &[0xaa; MAX_SLOT_SEALED + 1][..],
                ]
                .concat(),
            ),
        ),
        // Keys.
        record(
            "invalid-key",
            "invalid-key",
            "slot key ff…ff: y is not below p",
            replace_at(&good, 1, &body[1..33], &[0xff; 32])?,
        ),
        record(
            "weak-key",
            "weak-key",
            "slot key 01 00…00, the identity point (small order)",
            replace_at(&good, 1, &body[1..33], &{
                let mut k = [0u8; 32];
                k[0] = 1;
                k
            })?,
        ),
        // Signatures.
        record(
            "bad-signature",
            "bad-signature",
            "the first bit of the signature flipped",
            [&body[..], &[sig[0] ^ 1], &sig[1..]].concat(),
        ),
        record(
            "body-changed",
            "bad-signature",
            "expires_at moved one second later after signing",
            replace_at(&good, EXPIRES_AT, &expires_le, &{
                let mut w = vec![0xfc];
                w.extend_from_slice(&((EXPIRES + 1) as u32).to_le_bytes());
                w
            })?,
        ),
        record(
            "wrong-label",
            "bad-signature",
            "signed by the slot key under the card's label meishi/card/v1 instead of the slot's",
            sign_with(&SLOT_SEED, CARD_LABEL, &body),
        ),
        record(
            "no-label",
            "bad-signature",
            "signed by the slot key over the body alone",
            sign_with(&SLOT_SEED, b"", &body),
        ),
        record(
            "signed-by-other-key",
            "bad-signature",
            "the body names one slot key and another slot key signed it",
            sign_with(&OTHER_SEED, SLOT_RECORD_LABEL, &body),
        ),
        record(
            "signature-s-not-reduced",
            "bad-signature",
            "S + L in place of S: the same signature to a lenient verifier, refused by strict verification",
            [&body[..], &s_plus_l(&sig)].concat(),
        ),
        // Opening.
        opened(
            "open-wrong-key",
            "open-failed",
            "a valid record opened with another seal key (c4…c4)",
            good.clone(),
            WRONG_KEY,
            None,
        ),
        opened(
            "spliced-seq",
            "open-failed",
            "the sealed card of seq 1 in a record of seq 2, re-signed by the slot key: the signature holds, the associated data does not",
            resign(&replace_at(&body, SEQ_AT, &[1], &[2])?),
            SEAL_KEY,
            None,
        ),
        opened(
            "spliced-expires-at",
            "open-failed",
            "the sealed card moved to a record that expires a second later, re-signed by the slot key",
            resign(&replace_at(&body, EXPIRES_AT, &expires_le, &{
                let mut w = vec![0xfc];
                w.extend_from_slice(&((EXPIRES + 1) as u32).to_le_bytes());
                w
            })?),
            SEAL_KEY,
            None,
        ),
        opened(
            "spliced-slot",
            "open-failed",
            "the nonce and sealed card of one slot in a record of another slot, signed by that slot's key; the same seal key",
            sign_with(
                &OTHER_SEED,
                SLOT_RECORD_LABEL,
                &replace_at(&body, 1, &body[1..33], &other.0)?,
            ),
            SEAL_KEY,
            None,
        ),
        opened(
            "tampered-ciphertext",
            "open-failed",
            "one bit of the sealed card flipped, re-signed by the slot key",
            resign(&{
                let mut b = body.clone();
                b[SEALED_LEN_AT + 1] ^= 1;
                b
            }),
            SEAL_KEY,
            None,
        ),
    ];
    // Replacement.
    let two = seal(&SLOT_SEED, 2, EXPIRES, &card2, NONCE)?;
    out.extend([
        replacement(
            "replace-newer",
            "seq 2 (Ada's card at seq 2) replaces the kept seq 1",
            good.clone(),
            "newer",
            two.clone(),
        ),
        replacement(
            "replace-same",
            "the kept record again: nothing to do",
            good.clone(),
            "same",
            good.clone(),
        ),
        replacement(
            "replace-older",
            "seq 1 after seq 2 is kept: a replay, refused",
            two.clone(),
            "older",
            good.clone(),
        ),
        replacement(
            "replace-equivocation",
            "seq 1 again, sealed with another nonce: other bytes under one seq; the first one kept stays",
            good.clone(),
            "equivocation",
            seal(&SLOT_SEED, 1, EXPIRES, &card1, OTHER_NONCE)?,
        ),
        replacement(
            "replace-other-slot",
            "seq 2 of another slot: records of different slots are never compared",
            good.clone(),
            "other-slot",
            seal(&OTHER_SEED, 2, EXPIRES, &card2, NONCE)?,
        ),
    ]);
    Ok(out)
}

fn relay(s: &str) -> Result<Multiaddr> {
    Ok(s.parse()?)
}

fn address_cases() -> Result<Vec<Case>> {
    let slot = SlotKey::from_seed(&SLOT_SEED).id();
    let key = || SlotSealKey::from_bytes(SEAL_KEY);
    let one = SlotAddress::new(slot, key(), vec![relay(RELAY)?])?.encode();
    let three = SlotAddress::new(
        slot,
        key(),
        vec![
            relay(RELAY)?,
            relay("/ip6/2001:db8::7/udp/4001/quic-v1/p2p/12D3KooWBHkR6nGT5KH3Xow9voA2aSQ67423yzWZCVbruRadyybt")?,
            relay("/dns4/relay.example/tcp/443/wss/p2p/12D3KooWBHkR6nGT5KH3Xow9voA2aSQ67423yzWZCVbruRadyybt")?,
        ],
    )?
    .encode();
    let relay_bytes = relay(RELAY)?.as_ref().to_vec();
    let len = u8::try_from(relay_bytes.len())?;
    let with_relays = |relays: &[&[u8]]| -> Result<Vec<u8>> {
        let mut b = one[..65].to_vec();
        b.push(u8::try_from(relays.len())?);
        for r in relays {
            if r.len() > 250 {
                b.push(0xfb);
                b.extend_from_slice(&u16::try_from(r.len())?.to_le_bytes());
            } else {
                b.push(u8::try_from(r.len())?);
            }
            b.extend_from_slice(r);
        }
        Ok(b)
    };
    let long = relay(&format!("/dns/{}/tcp/443", "r".repeat(300)))?;
    let mut weak = [0u8; 32];
    weak[0] = 1;
    Ok(vec![
        address(
            "address-success",
            "success",
            "one relay, /ip4/203.0.113.7/tcp/4001/p2p/12D3KooWBHkR…",
            one.clone(),
        ),
        address(
            "address-three-relays",
            "success",
            "three relays: TCP, QUIC over IPv6, WebSocket over DNS",
            three,
        ),
        address("address-empty", "empty", "zero bytes", Vec::new()),
        address(
            "address-too-large",
            "too-large",
            "844 bytes: one over the limit",
            vec![1; MAX_SLOT_ADDRESS + 1],
        ),
        address(
            "address-version-two",
            "unsupported-version",
            "version byte 02",
            replace_at(&one, 0, &[1], &[2])?,
        ),
        address(
            "address-truncated",
            "truncated",
            "the last byte of the relay is missing",
            one[..one.len() - 1].to_vec(),
        ),
        address(
            "address-trailing-byte",
            "trailing-bytes",
            "one zero byte after the last relay",
            [&one[..], &[0]].concat(),
        ),
        address(
            "address-non-minimal-length",
            "non-canonical",
            "the relay's length written as fb and 2 bytes",
            [&one[..66], &[0xfb, len, 0], &relay_bytes[..]].concat(),
        ),
        address(
            "address-no-relay",
            "no-relay",
            "a relay count of 0",
            with_relays(&[])?,
        ),
        address(
            "address-too-many-relays",
            "too-many-relays",
            "four relays",
            with_relays(&[&relay_bytes[..]; 4])?,
        ),
        address(
            "address-relay-too-long",
            "relay-too-long",
            "a relay of 306 bytes: a valid multiaddr, over the 256-byte limit",
            with_relays(&[long.as_ref()])?,
        ),
        address(
            "address-bad-relay",
            "bad-relay",
            "a relay that is no multiaddr: tcp (06) and one byte of its two-byte port",
            with_relays(&[&[0x06, 0x00]])?,
        ),
        address(
            "address-weak-key",
            "weak-key",
            "slot key 01 00…00, the identity point (small order)",
            replace_at(&one, 1, &slot.0, &weak)?,
        ),
    ])
}

fn outcome(r: SlotReplacement) -> &'static str {
    match r {
        SlotReplacement::Newer => "newer",
        SlotReplacement::Same => "same",
        SlotReplacement::Older => "older",
        SlotReplacement::Equivocation => "equivocation",
        SlotReplacement::OtherSlot => "other-slot",
        _ => "unknown",
    }
}

/// Checks that the crate agrees with the case, and renders the file.
fn render_case(c: &Case) -> Result<String> {
    let mut s = String::new();
    let mismatch = |got: &str, detail: String| -> Box<dyn Error> {
        format!(
            "case {}: expected {}, the reference implementation gives {got} ({detail})",
            c.name, c.expect
        )
        .into()
    };
    match &c.input {
        Input::Address(bytes) => {
            let got = SlotAddress::decode(bytes);
            let kind = got.as_ref().map_or_else(|e| e.kind(), |_| "success");
            if kind != c.expect {
                return Err(mismatch(kind, format!("{got:?}")));
            }
            writeln!(s, "expect: {}", c.expect)?;
            writeln!(s, "comment: {}", c.comment)?;
            if let Ok(a) = &got {
                let relays: Vec<String> = a.relays().iter().map(ToString::to_string).collect();
                writeln!(s, "slot: {}", a.slot())?;
                writeln!(s, "relays: {}", relays.join(" "))?;
            }
            writeln!(s, "address: {}", hex(bytes))?;
        }
        Input::Record {
            bytes,
            open,
            stored,
        } => {
            let decoded = SlotRecord::decode(bytes);
            let got = decoded.clone().and_then(|r| match open {
                Some((key, _)) => r.open(&SlotSealKey::from_bytes(*key)).map(Some),
                None => Ok(None),
            });
            let kind = got.as_ref().map_or_else(|e| e.kind(), |_| "success");
            if kind != c.expect {
                return Err(mismatch(kind, format!("{got:?}")));
            }
            writeln!(s, "expect: {}", c.expect)?;
            writeln!(s, "comment: {}", c.comment)?;
            if let (Ok(r), Ok(_)) = (&decoded, &got) {
                writeln!(s, "slot: {}", r.slot())?;
                writeln!(s, "seq: {}", r.seq())?;
                writeln!(s, "expires-at: {}", r.expires_at())?;
            }
            if let Some((key, expected)) = open {
                writeln!(s, "seal-key: {}", hex(key))?;
                if let (Ok(Some(card)), Some(expected)) = (&got, expected) {
                    if card != expected {
                        return Err(format!("case {}: opens to other bytes", c.name).into());
                    }
                    writeln!(s, "card: {}", hex(card))?;
                }
            }
            if let (Some((kept, claimed)), Ok(r)) = (stored, &decoded) {
                let actual = outcome(SlotRecord::decode(kept)?.compare(r));
                if actual != *claimed {
                    return Err(format!(
                        "case {}: expected replacement {claimed}, got {actual}",
                        c.name
                    )
                    .into());
                }
                writeln!(s, "stored: {}", hex(kept))?;
                writeln!(s, "replacement: {claimed}")?;
            }
            writeln!(s, "record: {}", hex(bytes))?;
        }
    }
    Ok(s)
}

/// Every slot vector, as (file name, file text).
pub fn render() -> Result<Files> {
    // The slot crate does not know the card crate: its card bound must be the card's.
    if MAX_SLOT_CARD != meishi_card::limits::MAX_CARD_BYTES {
        return Err(format!(
            "MAX_SLOT_CARD is {MAX_SLOT_CARD}, meishi-card's MAX_CARD_BYTES {}",
            meishi_card::limits::MAX_CARD_BYTES
        )
        .into());
    }
    record_cases()?
        .into_iter()
        .chain(address_cases()?)
        .map(|c| Ok((c.name.to_owned(), render_case(&c)?)))
        .collect()
}
