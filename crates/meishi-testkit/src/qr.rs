//! The QR payload test vectors of proto-spec/qr.md#test-vectors, one file per case; written by
//! `cargo xtask vectors`.
//!
//! Deterministic: fixed seeds and times, deterministic ed25519 signatures and a deterministic
//! compressor, so the output never changes unless the format or a case does. Every case is
//! decoded with `meishi-qr` before it is rendered, and the generator fails if the outcome is not
//! the one the case claims. Never edit the files by hand.

use std::error::Error;
use std::fmt::Write as _;

use meishi_card::{
    encode_body_for_tests, Card, Extension, Identity, SignedCard, Social, SocialKind, CARD_LABEL,
};
use meishi_qr::{
    base45, compact_dictionary, decode_fields_as, decode_payload, deflate, encode_binary,
    encode_fields, encode_fields_as, encode_payload, qr_version, Ecc, TextEncoding, DICTIONARY,
    FLAG_COMPACT, PREFIX,
};

use crate::hex;
use crate::vectors::Files;

type Result<T, E = Box<dyn Error>> = std::result::Result<T, E>;

/// Fixed time of every vector: 2023-11-14T22:13:20Z.
const T0: u64 = 1_700_000_000;
const ADA_JSON: &str = include_str!("../../meishi-qr/testdata/ada.json");
/// The Japanese reference card of proto-spec/qr.md#limits.
const JA_JSON: &str = include_str!("../../meishi-qr/testdata/ja.json");

struct Case {
    name: &'static str,
    expect: &'static str,
    comment: String,
    payload: String,
}

fn identity() -> Identity {
    Identity::from_seed(&[1; 32])
}

fn ada() -> Result<Card> {
    Ok(serde_json::from_str(ADA_JSON)?)
}

fn sign(card: &Card) -> Result<SignedCard> {
    Ok(SignedCard::sign(&identity(), 1, T0, card)?)
}

fn text(binary: &[u8]) -> String {
    format!("{PREFIX}{}", base45::encode(binary))
}

/// A binary payload from its parts: `fields` is signed as the card it claims to be (so only the
/// property under test is wrong), or, when it does not parse, signed over nothing meaningful.
fn binary(flag: u8, seq_varint: &[u8], fields_plain: &[u8], fields_on_wire: &[u8]) -> Vec<u8> {
    let id = identity();
    let text = if flag == FLAG_COMPACT {
        TextEncoding::Compact
    } else {
        TextEncoding::Utf8
    };
    let sig = match decode_fields_as(fields_plain, text) {
        Ok((card, exts)) => id.sign(
            CARD_LABEL,
            &encode_body_for_tests(&id.public(), 1, T0, &card, &exts),
        ),
        Err(_) => id.sign(CARD_LABEL, fields_plain),
    };
    let mut out = vec![flag];
    out.extend_from_slice(seq_varint);
    out.extend_from_slice(&[0x80, 0xE2, 0xCF, 0xAA, 0x06]); // varint(T0)
    out.extend_from_slice(&id.public().0);
    out.extend_from_slice(&sig);
    out.extend_from_slice(fields_on_wire);
    out
}

fn stored(fields: &[u8]) -> String {
    text(&binary(0, &[1], fields, fields))
}

fn deflated(fields: &[u8]) -> String {
    text(&binary(
        1,
        &[1],
        fields,
        &deflate::compress(DICTIONARY.as_bytes(), fields),
    ))
}

/// Flag 02: `fields` is a compact field stream, deflated with the compact dictionary.
fn compact(fields: &[u8]) -> String {
    text(&binary(
        FLAG_COMPACT,
        &[1],
        fields,
        &deflate::compress(compact_dictionary(), fields),
    ))
}

fn cases() -> Result<Vec<Case>> {
    let mut v = Vec::new();
    let mut add = |name, expect, comment: &str, payload: String| {
        v.push(Case {
            name,
            expect,
            comment: comment.to_owned(),
            payload,
        });
    };

    let ada_signed = sign(&ada()?)?;
    let ada_text = encode_payload(&ada_signed)?;
    add(
        "valid-ada",
        "success",
        "the reference card shared/reference-cards/ada.json, compressed",
        ada_text.clone(),
    );
    add(
        "valid-name-only",
        "success",
        "a card with only a name: compression does not pay, stored",
        encode_payload(&sign(&Card::new("Ada"))?)?,
    );
    let mut c = Card::new("Ada");
    c.phones = vec![
        "+1 555 CALL ADA".into(),
        "020 7946 0958".into(),
        "12".into(),
    ];
    add(
        "valid-phones",
        "success",
        "one phone as text (letters), one packed with odd length, one packed short",
        encode_payload(&sign(&c)?)?,
    );
    let mut c = Card::new("Ada");
    c.socials = vec![
        Social {
            kind: SocialKind(15),
            handle: "ada".into(),
        },
        Social {
            kind: SocialKind(16),
            handle: "ada".into(),
        },
        Social {
            kind: SocialKind(200),
            handle: "@ada".into(),
        },
    ];
    add(
        "valid-social-kinds",
        "success",
        "social kind 15 as tag 1F, kinds 16 and 200 (unknown to this version) with tag 0A",
        encode_payload(&sign(&c)?)?,
    );
    let mut c = Card::new("中島 敦子");
    c.title = Some("Ingénieure principale".into());
    c.org = Some("株式会社 解析機関".into());
    add(
        "valid-utf8",
        "success",
        "non-ASCII name, title and org",
        encode_payload(&sign(&c)?)?,
    );
    let ext = SignedCard::sign_with_extensions(
        &identity(),
        7,
        T0,
        &Card::new("Ada"),
        vec![Extension {
            tag: 2,
            data: vec![0, 1, 2, 0x1F],
        }],
    )?;
    add(
        "valid-extension",
        "success",
        "an optional extension (tag 2) with binary data, seq 7",
        encode_payload(&ext)?,
    );
    let full = {
        let mut c = ada()?;
        c.avatar = Some("https://analytical.example/ada.png".into());
        c
    };
    add(
        "valid-avatar",
        "success",
        "the reference card with an avatar",
        encode_payload(&sign(&full)?)?,
    );
    // A deflate stream made of one stored block (BTYPE 00): valid deflate that no writer of ours
    // produces; readers accept any valid stream.
    let fields = encode_fields(&Card::new("Ada Lovelace"), &[]);
    let mut block = vec![0x01, fields.len() as u8, 0, !(fields.len() as u8), 0xFF];
    block.extend_from_slice(&fields);
    add(
        "valid-deflate-stored-block",
        "success",
        "flag 01 with a deflate stored block (any valid deflate is accepted)",
        text(&binary(1, &[1], &fields, &block)),
    );

    let ja: Card = serde_json::from_str(JA_JSON)?;
    add(
        "valid-compact-ja",
        "success",
        "the Japanese reference card: compact text (flag 02) is the shortest form",
        encode_payload(&sign(&ja)?)?,
    );
    let mut c = Card::new("Zoë Łukasiewicz");
    c.title = Some("Inženýr – Μηχανικός – مهندس / इंजीनियर".into());
    c.org = Some("Ամպ 株式会社 한빛".into());
    c.note = Some("Привет שלום 🙂 \u{E000}".into());
    let fields = encode_fields_as(&c, &[], TextEncoding::Compact);
    add(
        "valid-compact-every-form",
        "success",
        "flag 02 in every form: windows 0 to 6, quoted Armenian, wide mode with wide spaces, a surrogate pair, a quoted private-use character",
        compact(&fields),
    );
    add(
        "compact-quoted-wide",
        "fields-non-canonical",
        "flag 02: U+5C71 quoted in byte mode (7F 5C 71) instead of written in wide mode",
        compact(&[0x7F, 0x5C, 0x71]),
    );
    add(
        "compact-redundant-switch",
        "fields-non-canonical",
        "flag 02: wide mode, back to byte mode and to wide mode again between two characters",
        compact(&[0xFF, 0x5C, 0x71, 0xE0, 0xFF, 0x75, 0x30]),
    );
    add(
        "compact-redundant-select",
        "fields-non-canonical",
        "flag 02: window 0 selected at the start of a text, where it is already current",
        compact(&[0xF8, b'Z', b'o', 0xCB]),
    );
    add(
        "compact-ascii-in-window",
        "fields-non-canonical",
        "flag 02: an ASCII letter quoted (7F 00 64) instead of written as itself",
        compact(&[b'A', 0x7F, 0x00, 0x64, 0x61]),
    );
    add(
        "compact-unit-truncated",
        "fields-truncated",
        "flag 02: the stream ends after the first byte of a wide unit",
        compact(&[0xFF, 0x5C, 0x71, 0x75]),
    );
    add(
        "compact-quote-truncated",
        "fields-truncated",
        "flag 02: a quote followed by one byte at the end of the name",
        compact(&[b'A', 0x7F, 0x05]),
    );
    add(
        "compact-reserved-byte",
        "fields-invalid-text",
        "flag 02: F0 where a wide-mode character starts (E2 to F8 are reserved)",
        compact(&[0xFF, 0x5C, 0x71, 0xF0, 0x30]),
    );
    add(
        "compact-lone-surrogate",
        "fields-invalid-text",
        "flag 02: a high surrogate in wide mode followed by a character that is not a low surrogate",
        compact(&[0xFF, 0xD8, 0x3D, 0x5C, 0x71]),
    );
    add(
        "compact-quoted-surrogate",
        "fields-invalid-text",
        "flag 02: a quote of U+DC00, which is not a character",
        compact(&[b'A', 0x7F, 0xDC, 0x00]),
    );
    add(
        "compact-before-dictionary",
        "inflate-malformed",
        "flag 02: a match at distance 4,000, before the start of the compact dictionary",
        text(&binary(FLAG_COMPACT, &[1], b"", &far_match(4000))),
    );

    add(
        "not-meishi",
        "not-meishi",
        "a URL",
        "HTTPS://EXAMPLE.ORG/".into(),
    );
    add(
        "lowercase-prefix",
        "not-meishi",
        "the prefix in lower case",
        format!("meishi1:{}", &ada_text[PREFIX.len()..]),
    );
    add(
        "unsupported-version",
        "unsupported-version",
        "payload version 2",
        format!("MEISHI2:{}", &ada_text[PREFIX.len()..]),
    );
    add(
        "text-too-long",
        "text-too-long",
        "4,297 characters, one over the v40-L capacity",
        format!("{PREFIX}{}", "0".repeat(4297 - PREFIX.len())),
    );
    add(
        "base45-lowercase",
        "base45",
        "a lower-case letter in the base45 text",
        format!("{}a{}", &ada_text[..20], &ada_text[21..]),
    );
    add(
        "base45-length",
        "base45",
        "base45 text of length 3n+1",
        format!("{ada_text}0"),
    );
    add(
        "base45-overflow",
        "base45",
        "a three-character group above 65535 (':::')",
        format!("{PREFIX}:::{}", &ada_text[PREFIX.len() + 3..]),
    );
    add(
        "base45-trailing-space",
        "base45",
        "a space appended: a space is base45, and 3n+1 characters",
        format!("{ada_text} "),
    );
    add(
        "empty-payload",
        "header-truncated",
        "the prefix alone",
        PREFIX.into(),
    );
    let ada_bin = encode_binary(&ada_signed);
    add(
        "header-truncated",
        "header-truncated",
        "cut inside the signature",
        text(&ada_bin[..80]),
    );
    let mut b = ada_bin.clone();
    b[0] = 3;
    add("unknown-flag", "unknown-flag", "flag byte 03", text(&b));
    add(
        "overlong-seq",
        "bad-varint",
        "seq 1 written as 81 00",
        text(&binary(0, &[0x81, 0x00], b"Ada", b"Ada")),
    );
    add(
        "seq-over-64-bits",
        "bad-varint",
        "seq with a tenth byte of 02",
        text(&binary(
            0,
            &[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02],
            b"Ada",
            b"Ada",
        )),
    );
    let big = vec![b'a'; 4097];
    add(
        "inflate-too-large",
        "inflate-too-large",
        "4,097 bytes of 'a', deflated: one over the limit",
        deflated(&big),
    );
    let z = deflate::compress(DICTIONARY.as_bytes(), &encode_fields(&ada()?, &[]));
    add(
        "inflate-truncated",
        "inflate-truncated",
        "the reference card's deflate stream without its last byte",
        text(&binary(1, &[1], b"", &z[..z.len() - 1])),
    );
    add(
        "inflate-malformed",
        "inflate-malformed",
        "a deflate block of the reserved type 11",
        text(&binary(1, &[1], b"", &[0x07, 0x00])),
    );
    let far = far_match(2000);
    add(
        "inflate-before-dictionary",
        "inflate-malformed",
        "a match at distance 2,000 reaching before the start of the dictionary",
        text(&binary(1, &[1], b"", &far)),
    );
    let mut z2 = z.clone();
    z2.push(0);
    add(
        "inflate-trailing-bytes",
        "inflate-trailing-bytes",
        "a zero byte after the final deflate block",
        text(&binary(1, &[1], b"", &z2)),
    );
    add(
        "unknown-tag",
        "unknown-tag",
        "tag 0C after the name",
        stored(b"Ada\x0Cx"),
    );
    add(
        "tag-zero",
        "unknown-tag",
        "tag 00 after the name",
        stored(b"Ada\x00x"),
    );
    add(
        "packed-phone-truncated",
        "fields-truncated",
        "packed phone claims 10 characters, has 2 bytes",
        stored(b"Ada\x05\x0A\x12\x34"),
    );
    add(
        "extension-truncated",
        "fields-truncated",
        "extension length 9, 2 bytes follow",
        stored(b"Ada\x0B\x02\x09\x00\x01"),
    );
    add(
        "invalid-utf8",
        "fields-invalid-utf8",
        "a lone continuation byte in the name",
        stored(b"Ad\x80a"),
    );
    add(
        "fields-out-of-order",
        "fields-non-canonical",
        "org before title",
        stored(b"Ada\x02Org\x01Title"),
    );
    add(
        "title-twice",
        "fields-non-canonical",
        "two titles",
        stored(b"Ada\x01A\x01B"),
    );
    add(
        "phone-as-text",
        "fields-non-canonical",
        "a packable phone written as text",
        stored(b"Ada\x0412345"),
    );
    add(
        "phone-bad-padding",
        "fields-non-canonical",
        "odd-length packed phone with a non-zero last nibble",
        stored(b"Ada\x05\x03\x12\x3F"),
    );
    add(
        "social-kind-3-generic",
        "fields-non-canonical",
        "social kind 3 written with tag 0A instead of 13",
        stored(b"Ada\x0A\x03ada"),
    );
    let mut huge = b"Ada\x07".to_vec();
    huge.extend(std::iter::repeat_n(b'n', 4090));
    add(
        "card-too-large",
        "too-large",
        "a deflated field stream of 4,094 bytes: the rebuilt signed card exceeds 4,096 bytes",
        deflated(&huge),
    );
    add(
        "empty-email",
        "empty-value",
        "an email tag with no text (the card is invalid)",
        stored(b"Ada\x03"),
    );
    add(
        "empty-name",
        "empty-name",
        "no name before the first tag",
        stored(b"\x01Title"),
    );
    add(
        "control-in-note",
        "control-character",
        "DEL (7F) in the note",
        stored(b"Ada\x07a\x7Fb"),
    );
    add(
        "social-kind-zero",
        "reserved-social-kind",
        "social kind 0 with tag 0A",
        stored(b"Ada\x0A\x00ada"),
    );
    let mut b = ada_bin.clone();
    let sig_at = b.len() - (b.len() - 1 - 1 - 5 - 32);
    b[sig_at] ^= 1;
    add(
        "bad-signature",
        "bad-signature",
        "lowest bit of the signature's first byte flipped",
        text(&b),
    );
    let mut b = ada_bin.clone();
    b[1] = 2;
    add(
        "seq-changed",
        "bad-signature",
        "seq changed from 1 to 2 after signing",
        text(&b),
    );
    let mut b = ada_bin.clone();
    b[7] ^= 0x80;
    add(
        "key-changed",
        "bad-signature",
        "one bit of the key flipped",
        text(&b),
    );
    let other = Identity::from_seed(&[2; 32]);
    let mut b = ada_bin;
    let key_at = 7;
    b[key_at..key_at + 32].copy_from_slice(&other.public().0);
    add(
        "other-key",
        "bad-signature",
        "the key replaced by another valid key",
        text(&b),
    );
    Ok(v)
}

/// A fixed-Huffman deflate block holding one match of length 3 at `dist` (1537..=2048 or
/// 3073..=4096), then the end of the block.
fn far_match(dist: u32) -> Vec<u8> {
    // BFINAL 1, BTYPE 01; length code 257 (7 bits 0000001); distance code 21 (1537 + 9 extra
    // bits) or 23 (3073 + 10 extra bits); end of block.
    let (code, base, extra) = if dist <= 2048 {
        (21, 1537, 9)
    } else {
        (23, 3073, 10)
    };
    let mut w = Bits::default();
    w.bits(1, 1);
    w.bits(1, 2);
    w.code(0b0000001, 7);
    w.code(code, 5);
    w.bits(dist - base, extra);
    w.code(0, 7);
    w.finish()
}

#[derive(Default)]
struct Bits {
    out: Vec<u8>,
    acc: u32,
    n: u32,
}

impl Bits {
    fn bits(&mut self, v: u32, n: u32) {
        for i in 0..n {
            self.acc |= ((v >> i) & 1) << self.n;
            self.n += 1;
            if self.n == 8 {
                self.out.push(self.acc as u8);
                self.acc = 0;
                self.n = 0;
            }
        }
    }
    fn code(&mut self, c: u32, n: u32) {
        for i in (0..n).rev() {
            self.bits((c >> i) & 1, 1);
        }
    }
    fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            self.out.push(self.acc as u8);
        }
        self.out
    }
}

/// Every case as (file name, file text), each checked against `meishi-qr`.
pub fn render() -> Result<Files> {
    let mut out = Vec::new();
    for c in cases()? {
        let got = decode_payload(&c.payload);
        let kind = match &got {
            Ok(_) => "success",
            Err(e) => e.kind(),
        };
        if kind != c.expect {
            return Err(format!(
                "case {}: claims {}, decodes as {kind} ({got:?})",
                c.name, c.expect
            )
            .into());
        }
        let mut text = format!(
            "expect: {}\ncomment: {}\npayload: {}\n",
            c.expect, c.comment, c.payload
        );
        if let Ok(card) = got {
            let v = qr_version(&c.payload, Ecc::M).ok_or("payload does not fit a QR code")?;
            let _ = write!(text, "card: {}\nversion-m: {v}\n", hex(card.as_bytes()));
        }
        out.push((c.name.to_owned(), text));
    }
    Ok(out)
}
