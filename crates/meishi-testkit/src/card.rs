//! The card test vectors of proto-spec/card.md#test-vectors, one file per case; written by
//! `cargo xtask vectors`.
//!
//! Deterministic: fixed seeds, fixed times, and ed25519 signatures are deterministic, so the
//! output never changes unless the format or a case does. CI regenerates the vectors and fails
//! on any difference (`cargo xtask vectors --check`). Every case is decoded with `meishi-card`
//! before it is rendered, and the generator fails if the outcome is not the one the case claims,
//! so a vector never states something the reference implementation disagrees with. Never edit
//! the files by hand.

use std::error::Error;
use std::fmt::Write as _;

use ed25519_dalek::{Signature, VerifyingKey};
use meishi_card::{
    encode_body_for_tests, Card, Extension, Identity, PublicKey, Replacement, SignedCard, Social,
    SocialKind, CARD_LABEL,
};

use crate::bytes::{sign_raw, splice};
use crate::hex;
use crate::vectors::Files;

type Result<T, E = Box<dyn Error>> = std::result::Result<T, E>;

/// Fixed time of every vector: 2023-11-14T22:13:20Z.
const T0: u64 = 1_700_000_000;
/// The reference card (shared/reference-cards/ada.json, copied into the crate).
const ADA_JSON: &str = include_str!("../../meishi-card/testdata/ada.json");

/// Offset of the varint `seq` in a body: after the format byte and the 32-byte key.
const SEQ_OFFSET: usize = 33;

/// One test vector file.
struct Case {
    name: &'static str,
    comment: String,
    /// `success` or a `DecodeError::kind()`.
    expect: &'static str,
    /// For replacement cases: the card already stored, and how `card` relates to it.
    stored: Option<(Vec<u8>, &'static str)>,
    card: Vec<u8>,
}

fn case(
    name: &'static str,
    expect: &'static str,
    comment: impl Into<String>,
    card: Vec<u8>,
) -> Case {
    Case {
        name,
        comment: comment.into(),
        expect,
        stored: None,
        card,
    }
}

/// The fixed identity number `n`: seed = 32 bytes of `n`.
fn identity(n: u8) -> Identity {
    Identity::from_seed(&[n; 32])
}

fn ada() -> Result<Card> {
    Ok(serde_json::from_str(ADA_JSON)?)
}

/// A card signed the normal way.
fn signed(id: &Identity, seq: u64, card: &Card) -> Result<Vec<u8>> {
    Ok(SignedCard::sign(id, seq, T0, card)?.as_bytes().to_vec())
}

/// The body of a card, encoded canonically but not checked: the start of every broken case.
fn body(key: &PublicKey, seq: u64, card: &Card, exts: &[Extension]) -> Vec<u8> {
    encode_body_for_tests(key, seq, T0, card, exts)
}

/// A card whose signed encoding is exactly `total` bytes: seven 512-byte URLs and one sized to fit.
fn card_of_size(id: &Identity, total: usize) -> Result<Vec<u8>> {
    let url = |len: usize| format!("https://example.com/{}", "a".repeat(len - 20));
    for last in 21..=512 {
        let mut card = Card::new("Max Size");
        card.urls = (0..7).map(|_| url(512)).chain([url(last)]).collect();
        let b = body(&id.public(), 1, &card, &[]);
        if b.len() + 64 == total {
            return Ok(sign_raw(id, CARD_LABEL, &b));
        }
    }
    Err(format!("no card of {total} bytes").into())
}

fn cases() -> Result<Vec<Case>> {
    let alice = identity(0xA1);
    let bob = identity(0xB0);
    let key = alice.public();
    let minimal = Card::new("Ada");
    let min_body = body(&key, 1, &minimal, &[]);
    let min_signed = signed(&alice, 1, &minimal)?;
    let ada = ada()?;
    let mut out = Vec::new();

    // Valid cards.
    out.push(case(
        "valid-minimal",
        "success",
        "only a name; the worked example of card.md#example",
        min_signed.clone(),
    ));
    out.push(case(
        "valid-full",
        "success",
        "the reference card shared/reference-cards/ada.json",
        signed(&alice, 1, &ada)?,
    ));
    let mut intl = Card::new("Zoë 秋山 澪");
    intl.org = Some("Ünïcödé GmbH".into());
    out.push(case(
        "valid-non-ascii",
        "success",
        "UTF-8 text is kept byte for byte",
        signed(&alice, 1, &intl)?,
    ));
    let mut exotic = Card::new("Ada");
    exotic.socials = vec![Social {
        kind: SocialKind(200),
        handle: "ada@future".into(),
    }];
    out.push(case(
        "valid-unknown-social-kind",
        "success",
        "social kind 200 is unknown to this version: kept, shown as social-200",
        signed(&alice, 1, &exotic)?,
    ));
    let bidi = Card::new("Ada \u{202E}evil");
    out.push(case(
        "valid-bidi-in-name",
        "success",
        "bidi controls (U+202E) are not Cc: accepted, and stripped only when displayed",
        signed(&alice, 1, &bidi)?,
    ));
    out.push(case(
        "valid-seq-max",
        "success",
        "seq = 2^64-1 takes the 9-byte varint form 0xFD + 8 bytes",
        signed(&alice, u64::MAX, &minimal)?,
    ));
    out.push(case(
        "valid-seq-zero",
        "success",
        "seq 0 is allowed",
        signed(&alice, 0, &minimal)?,
    ));
    let even = vec![
        Extension {
            tag: 2,
            data: b"hello".to_vec(),
        },
        Extension {
            tag: 1000,
            data: vec![0; 3],
        },
    ];
    out.push(case(
        "valid-unknown-optional-extension",
        "success",
        "even extension tags 2 and 1000 are unknown and optional: kept and ignored",
        sign_raw(&alice, CARD_LABEL, &body(&key, 1, &minimal, &even)),
    ));
    let mut full = Card::new("N".repeat(128));
    full.title = Some("T".repeat(128));
    full.org = Some("O".repeat(128));
    full.note = Some("n".repeat(280));
    full.emails = (0..8).map(|i| format!("e{i}@example.org")).collect();
    full.phones = vec!["+".to_owned() + &"1".repeat(31)];
    full.tags = (0..16)
        .map(|i| format!("{i:02}{}", "t".repeat(30)))
        .collect();
    full.socials = (0..16)
        .map(|i| Social {
            kind: SocialKind(i + 1),
            handle: format!("h{i}"),
        })
        .collect();
    let limit_exts: Vec<Extension> = (0..8u8)
        .map(|i| Extension {
            tag: 2 * (u32::from(i) + 1),
            data: vec![i; if i == 0 { 1024 } else { 1 }],
        })
        .collect();
    out.push(case(
        "valid-at-limits",
        "success",
        "every limit reached, none passed: name, title, org 128 bytes, note 280, a phone of 32, 8 emails, \
         16 tags of 32 bytes, 16 socials, 8 extensions, one with 1024 data bytes",
        sign_raw(&alice, CARD_LABEL, &body(&key, 1, &full, &limit_exts)),
    ));
    out.push(case(
        "valid-max-size",
        "success",
        "exactly 4096 bytes, the size limit",
        card_of_size(&alice, 4096)?,
    ));

    // Framing.
    out.push(case("empty", "empty", "zero bytes", Vec::new()));
    out.push(case(
        "too-large",
        "too-large",
        "4097 bytes, otherwise valid and correctly signed",
        card_of_size(&alice, 4097)?,
    ));
    let mut f2 = min_body.clone();
    f2[0] = 2;
    out.push(case(
        "unsupported-format",
        "unsupported-format",
        "format byte 2, correctly signed",
        sign_raw(&alice, CARD_LABEL, &f2),
    ));
    let mut f0 = min_body.clone();
    f0[0] = 0;
    out.push(case(
        "format-zero",
        "unsupported-format",
        "format byte 0 is reserved",
        sign_raw(&alice, CARD_LABEL, &f0),
    ));
    let mut trailing = min_signed.clone();
    trailing.push(0);
    out.push(case(
        "trailing-bytes",
        "trailing-bytes",
        "one zero byte after the signature",
        trailing,
    ));
    let mut two_sigs = min_signed.clone();
    two_sigs.extend_from_slice(&min_signed[min_signed.len() - 64..]);
    out.push(case(
        "signature-twice",
        "trailing-bytes",
        "the signature appended twice",
        two_sigs,
    ));
    out.push(case(
        "truncated-signature",
        "truncated",
        "the last byte of the signature is missing",
        min_signed[..min_signed.len() - 1].to_vec(),
    ));
    out.push(case(
        "truncated-body",
        "truncated",
        "ends inside the name: 40 bytes",
        min_signed[..SEQ_OFFSET + 1 + 5 + 1].to_vec(),
    ));
    out.push(case(
        "body-only",
        "truncated",
        "the body without its signature",
        min_body.clone(),
    ));
    let name_len_at = SEQ_OFFSET + 1 + 5;
    let mut long_len = min_body[..name_len_at].to_vec();
    long_len.extend_from_slice(&[0xFB, 0x88, 0x13]); // name length 5000
    long_len.extend_from_slice(b"Ada");
    long_len.extend_from_slice(&[0; 64]);
    out.push(case(
        "length-past-end",
        "truncated",
        "name length 5000 (FB 88 13) runs past the end of the input",
        long_len,
    ));

    let mut huge_len = min_body[..name_len_at].to_vec();
    huge_len.push(0xFD);
    huge_len.extend_from_slice(&(1u64 << 60).to_le_bytes());
    huge_len.extend_from_slice(b"Ada");
    huge_len.extend_from_slice(&[0; 64]);
    out.push(case(
        "huge-length",
        "truncated",
        "name length 2^60: a reader must see it exceeds the input before allocating anything",
        huge_len,
    ));

    let emails_at = name_len_at + 4 + 2; // after the name, title and org
    let mut huge_count = min_body[..emails_at].to_vec();
    huge_count.push(0xFD);
    huge_count.extend_from_slice(&(1u64 << 60).to_le_bytes());
    huge_count.extend_from_slice(&[0; 64]);
    out.push(case(
        "huge-list-count",
        "truncated",
        "2^60 emails claimed, then 64 zero bytes (64 empty emails) and the end: a reader must not reserve room for the count",
        huge_count,
    ));

    // Malformed bodies.
    let bad_utf8 = splice(&min_body, b"\x03Ada", b"\x03A\xFFa")?;
    out.push(case(
        "invalid-utf8",
        "malformed",
        "name bytes 41 FF 61 are not UTF-8",
        sign_raw(&alice, CARD_LABEL, &bad_utf8),
    ));
    let mut opt2 = min_body.clone();
    opt2[name_len_at + 4] = 2; // title Option tag
    out.push(case(
        "option-tag-2",
        "malformed",
        "the title's Option tag is 2 (only 0 and 1 exist)",
        sign_raw(&alice, CARD_LABEL, &opt2),
    ));
    let mut seq254 = min_body[..SEQ_OFFSET].to_vec();
    seq254.push(0xFE);
    seq254.extend_from_slice(&[1; 16]);
    seq254.extend_from_slice(&min_body[SEQ_OFFSET + 1..]);
    out.push(case(
        "seq-u128-marker",
        "malformed",
        "seq uses marker 0xFE (a 128-bit integer), never valid for a u64",
        sign_raw(&alice, CARD_LABEL, &seq254),
    ));
    let mut seq255 = min_body.clone();
    seq255[SEQ_OFFSET] = 0xFF;
    out.push(case(
        "seq-reserved-marker",
        "malformed",
        "seq starts with the reserved byte 0xFF",
        sign_raw(&alice, CARD_LABEL, &seq255),
    ));
    let ext_body = body(
        &key,
        1,
        &minimal,
        &[Extension {
            tag: 2,
            data: vec![7],
        }],
    );
    let tag_u64 = splice(
        &ext_body,
        b"\x01\x02\x01\x07",
        b"\x01\xFD\x02\0\0\0\0\0\0\0\x01\x07",
    )?;
    out.push(case(
        "extension-tag-u64-marker",
        "malformed",
        "extension tag (a u32) uses marker 0xFD (64-bit)",
        sign_raw(&alice, CARD_LABEL, &tag_u64),
    ));

    // Non-canonical encodings.
    let mut seq_fb = min_body[..SEQ_OFFSET].to_vec();
    seq_fb.extend_from_slice(&[0xFB, 0x01, 0x00]);
    seq_fb.extend_from_slice(&min_body[SEQ_OFFSET + 1..]);
    out.push(case(
        "non-minimal-seq",
        "non-canonical",
        "seq 1 written as FB 01 00 instead of 01; correctly signed",
        sign_raw(&alice, CARD_LABEL, &seq_fb),
    ));
    let len_fb = splice(&min_body, b"\x03Ada", b"\xFB\x03\x00Ada")?;
    out.push(case(
        "non-minimal-length",
        "non-canonical",
        "name length 3 written as FB 03 00; correctly signed",
        sign_raw(&alice, CARD_LABEL, &len_fb),
    ));
    let mut ts_fd = min_body[..SEQ_OFFSET + 1].to_vec();
    ts_fd.push(0xFD);
    ts_fd.extend_from_slice(&T0.to_le_bytes());
    ts_fd.extend_from_slice(&min_body[SEQ_OFFSET + 1 + 5..]);
    out.push(case(
        "non-minimal-issued-at",
        "non-canonical",
        "issued_at written with marker FD (8 bytes) though it fits the FC form",
        sign_raw(&alice, CARD_LABEL, &ts_fd),
    ));
    let tag_fb = splice(&ext_body, b"\x01\x02\x01\x07", b"\x01\xFB\x02\x00\x01\x07")?;
    out.push(case(
        "non-minimal-extension-tag",
        "non-canonical",
        "extension tag 2 written as FB 02 00",
        sign_raw(&alice, CARD_LABEL, &tag_fb),
    ));

    // Field rules.
    let raw = |c: &Card| sign_raw(&alice, CARD_LABEL, &body(&key, 1, c, &[]));
    out.push(case(
        "empty-name",
        "empty-name",
        "name is the empty string",
        raw(&Card::new("")),
    ));
    out.push(case(
        "blank-name",
        "empty-name",
        "name is only white space",
        raw(&Card::new(" \u{3000} ")),
    ));
    out.push(case(
        "control-char-in-name",
        "control-character",
        "name holds ESC (U+001B), a terminal escape",
        raw(&Card::new("Ada\u{1b}[31m")),
    ));
    let mut nl = Card::new("Ada");
    nl.note = Some("line one\nline two".into());
    out.push(case(
        "newline-in-note",
        "control-character",
        "the note holds U+000A; notes are one line",
        raw(&nl),
    ));
    let mut c1 = Card::new("Ada");
    c1.title = Some("Engineer\u{85}".into());
    out.push(case(
        "c1-control-in-title",
        "control-character",
        "the title holds U+0085 (NEL, a C1 control)",
        raw(&c1),
    ));
    out.push(case(
        "name-too-long",
        "field-too-long",
        "name of 129 bytes (limit 128)",
        raw(&Card::new("a".repeat(129))),
    ));
    out.push(case(
        "name-too-long-utf8",
        "field-too-long",
        "name of 43 three-byte characters = 129 bytes; limits count bytes, not characters",
        raw(&Card::new("澪".repeat(43))),
    ));
    let mut many = Card::new("Ada");
    many.emails = (0..9).map(|i| format!("ada{i}@example.com")).collect();
    out.push(case(
        "too-many-emails",
        "too-many-values",
        "9 emails (limit 8)",
        raw(&many),
    ));
    let mut tags = Card::new("Ada");
    tags.tags = (0..17).map(|i| format!("t{i}")).collect();
    out.push(case(
        "too-many-tags",
        "too-many-values",
        "17 tags (limit 16)",
        raw(&tags),
    ));
    let mut empty_email = Card::new("Ada");
    empty_email.emails = vec![String::new()];
    out.push(case(
        "empty-email",
        "empty-value",
        "an email that is the empty string",
        raw(&empty_email),
    ));
    let mut social0 = Card::new("Ada");
    social0.socials = vec![Social {
        kind: SocialKind(0),
        handle: "ada".into(),
    }];
    out.push(case(
        "social-kind-zero",
        "reserved-social-kind",
        "social kind code 0 is reserved",
        raw(&social0),
    ));

    // Extensions.
    let ext = |tag: u32, data: Vec<u8>| Extension { tag, data };
    let with_exts = |e: &[Extension]| sign_raw(&alice, CARD_LABEL, &body(&key, 1, &minimal, e));
    out.push(case(
        "unknown-critical-extension",
        "unknown-critical-extension",
        "odd extension tag 1: critical and unknown, so the card is rejected",
        with_exts(&[ext(1, b"must understand".to_vec())]),
    ));
    out.push(case(
        "extensions-out-of-order",
        "extension-order",
        "tags 4 then 2: tags must strictly increase",
        with_exts(&[ext(4, vec![1]), ext(2, vec![2])]),
    ));
    out.push(case(
        "extensions-duplicate",
        "extension-order",
        "tag 2 twice: tags must strictly increase",
        with_exts(&[ext(2, vec![1]), ext(2, vec![2])]),
    ));
    out.push(case(
        "extension-too-large",
        "extension-too-large",
        "one extension of 1025 bytes (limit 1024)",
        with_exts(&[ext(2, vec![0x55; 1025])]),
    ));
    out.push(case(
        "too-many-extensions",
        "extension-too-large",
        "9 extensions (limit 8)",
        with_exts(&(1..=9).map(|i| ext(2 * i, vec![])).collect::<Vec<_>>()),
    ));

    // Signatures and keys.
    let mut flipped = min_signed.clone();
    let r0 = min_signed.len() - 64;
    flipped[r0] ^= 0x01;
    out.push(case(
        "bad-signature",
        "bad-signature",
        "lowest bit of the signature's first byte flipped",
        flipped,
    ));
    let mut edited = min_signed.clone();
    edited[SEQ_OFFSET] = 2;
    out.push(case(
        "body-changed",
        "bad-signature",
        "seq changed from 1 to 2 after signing",
        edited,
    ));
    out.push(case(
        "wrong-label-no-nul",
        "bad-signature",
        "signed over \"meishi/card/v1\" without the NUL",
        sign_raw(&alice, b"meishi/card/v1", &min_body),
    ));
    out.push(case(
        "wrong-label-other",
        "bad-signature",
        "signed over the label \"meishi/other/v1\\0\"",
        sign_raw(&alice, b"meishi/other/v1\0", &min_body),
    ));
    out.push(case(
        "no-label",
        "bad-signature",
        "signed over the body alone",
        sign_raw(&alice, b"", &min_body),
    ));
    out.push(case(
        "signed-by-other-key",
        "bad-signature",
        "the body names key A but key B signed it",
        sign_raw(&bob, CARD_LABEL, &min_body),
    ));
    // s + L: the same signature with a non-reduced scalar. verify_strict rejects it.
    let mut unreduced = min_signed.clone();
    add_group_order(&mut unreduced[r0 + 32..])?;
    out.push(case(
        "signature-s-not-reduced",
        "bad-signature",
        "s replaced by s + L (the group order): malleable form, rejected",
        unreduced,
    ));

    // Weak key: the identity point, and a signature (R = identity, s = 0) that a non-strict
    // verifier accepts for every message.
    let weak = PublicKey(identity_point());
    let weak_body = body(&weak, 1, &minimal, &[]);
    let mut weak_card = weak_body.clone();
    weak_card.extend_from_slice(&identity_point());
    weak_card.extend_from_slice(&[0; 32]);
    check_non_strict_accepts(&weak_body, &weak_card[weak_body.len()..])?;
    out.push(case(
        "weak-key",
        "weak-key",
        "key = identity point (order 1), signature R = identity, s = 0: plain verify accepts it for any message",
        weak_card,
    ));
    let invalid = PublicKey(non_point()?);
    out.push(case(
        "invalid-key",
        "invalid-key",
        "the key bytes are not the encoding of a curve point",
        sign_raw(&alice, CARD_LABEL, &body(&invalid, 1, &minimal, &[])),
    ));

    let (y, alias) = non_canonical_key()?;
    out.push(case(
        "non-canonical-key",
        "invalid-key",
        format!("the key is y = {y} + p, a second encoding of a valid point of large order: keys must have y < p"),
        sign_raw(&alice, CARD_LABEL, &body(&PublicKey(alias), 1, &minimal, &[])),
    ));

    // Replacement: a stored card of seq 5 and an incoming one.
    let stored = signed(&alice, 5, &ada)?;
    let mut changed = ada.clone();
    changed.note = Some("Ask me about the Analytical Engine".into());
    let repl = |name, kind, comment: &str, card: Vec<u8>| Case {
        name,
        comment: comment.into(),
        expect: "success",
        stored: Some((stored.clone(), kind)),
        card,
    };
    out.push(repl(
        "replace-newer",
        "newer",
        "seq 6 replaces the stored seq 5",
        signed(&alice, 6, &changed)?,
    ));
    out.push(repl(
        "replace-same",
        "same",
        "the stored card again, byte for byte: nothing to do",
        stored.clone(),
    ));
    out.push(repl(
        "replace-older",
        "older",
        "seq 4 after seq 5: a replay, refused",
        signed(&alice, 4, &ada)?,
    ));
    out.push(repl(
        "replace-equivocation",
        "equivocation",
        "a different card with the stored seq 5: the key signed two cards with one seq",
        signed(&alice, 5, &changed)?,
    ));
    out.push(repl(
        "replace-other-key",
        "other-key",
        "a card of another key is not compared",
        signed(&bob, 1, &ada)?,
    ));
    Ok(out)
}

/// The encoding of the identity point (0, 1): a small-order (weak) key.
fn identity_point() -> [u8; 32] {
    let mut p = [0; 32];
    p[0] = 1;
    p
}

/// The first of 2, 3, 4, ... (as a little-endian y) that is not a point encoding.
fn non_point() -> Result<[u8; 32]> {
    (2u8..=255)
        .map(|y| {
            let mut p = [0; 32];
            p[0] = y;
            p
        })
        .find(|p| VerifyingKey::from_bytes(p).is_err())
        .ok_or_else(|| "no invalid point found".into())
}

/// The smallest y whose point is valid and not weak, with the encoding of y + p (which
/// decompression would reduce to the same point).
fn non_canonical_key() -> Result<(u8, [u8; 32])> {
    for y in 2u8..19 {
        let mut canonical = [0; 32];
        canonical[0] = y;
        if VerifyingKey::from_bytes(&canonical).is_ok_and(|k| !k.is_weak()) {
            let mut alias = [0xff; 32];
            alias[31] = 0x7f;
            alias[0] = 0xed + y; // p = 2^255 - 19 is ed ff .. ff 7f little-endian; y + p < 2^255
            return Ok((y, alias));
        }
    }
    Err("no y < 19 with a valid point of large order".into())
}

/// Adds the ed25519 group order L to a 32-byte little-endian scalar.
fn add_group_order(s: &mut [u8]) -> Result<()> {
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut carry = 0u16;
    for (b, l) in s.iter_mut().zip(L) {
        let sum = u16::from(*b) + u16::from(l) + carry;
        *b = sum as u8;
        carry = sum >> 8;
    }
    if carry != 0 {
        return Err("s + L overflows 256 bits".into());
    }
    Ok(())
}

/// Shows the weak-key vector is the dangerous kind: plain `verify` accepts it.
fn check_non_strict_accepts(body: &[u8], sig: &[u8]) -> Result<()> {
    use ed25519_dalek::Verifier;
    let vk = VerifyingKey::from_bytes(&identity_point())?;
    let sig = Signature::from_slice(sig)?;
    let mut msg = CARD_LABEL.to_vec();
    msg.extend_from_slice(body);
    vk.verify(&msg, &sig)
        .map_err(|e| format!("non-strict verify rejects the weak-key vector: {e}"))?;
    Ok(())
}

/// Checks that the crate agrees with the case, and renders the file.
fn render_case(c: &Case) -> Result<String> {
    let got = SignedCard::decode(&c.card);
    let got_kind = match &got {
        Ok(_) => "success",
        Err(e) => e.kind(),
    };
    if got_kind != c.expect {
        return Err(format!(
            "case {}: expected {}, decoding gives {got_kind} ({got:?})",
            c.name, c.expect
        )
        .into());
    }
    let mut s = String::new();
    writeln!(s, "expect: {}", c.expect)?;
    writeln!(s, "comment: {}", c.comment)?;
    if let Ok(card) = &got {
        writeln!(s, "peer-id: {}", card.key().peer_id())?;
        writeln!(s, "fingerprint: {}", card.key().fingerprint())?;
    }
    if let (Some((stored, kind)), Ok(card)) = (&c.stored, &got) {
        let stored_card = SignedCard::decode(stored)?;
        let actual = match stored_card.compare(card) {
            Replacement::Newer => "newer",
            Replacement::Same => "same",
            Replacement::Older => "older",
            Replacement::Equivocation => "equivocation",
            Replacement::OtherKey => "other-key",
        };
        if actual != *kind {
            return Err(
                format!("case {}: expected replacement {kind}, got {actual}", c.name).into(),
            );
        }
        writeln!(s, "stored: {}", hex(stored))?;
        writeln!(s, "replacement: {kind}")?;
    }
    writeln!(s, "card: {}", hex(&c.card))?;
    Ok(s)
}

/// Every case as (file name, file text), each checked against `meishi-card`.
pub fn render() -> Result<Files> {
    cases()?
        .iter()
        .map(|c| Ok((c.name.to_owned(), render_case(c)?)))
        .collect()
}
