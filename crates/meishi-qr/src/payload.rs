//! The QR payload: a signed card as QR-alphanumeric text. proto-spec/qr.md#payload
//!
//! `MEISHI1:` followed by base45 of
//! `flag || varint(seq) || varint(issued_at) || key(32) || signature(64) || fields`, where
//! `fields` is a compact, lossless re-encoding of the card's fields (raw, or raw deflate with the
//! preset [`DICTIONARY`] when that is shorter). The signature covers the canonical card bytes of
//! proto-spec/card.md, which the decoder rebuilds from these parts and verifies, so a decoded
//! payload is always a verified [`SignedCard`].

use meishi_card::limits::MAX_CARD_BYTES;
use meishi_card::{Card, DecodeError, Extension, PublicKey, SignedCard, Social, SocialKind};

use crate::base45::{self, Base45Error};
use crate::compact::{self, TextError};
use crate::deflate::{self, InflateError};
use crate::dict::{compact_dictionary, DICTIONARY};
use crate::{qr_version, Ecc};

/// The text every meishi payload starts with; `1` is the payload version.
/// proto-spec/qr.md#prefix
pub const PREFIX: &str = "MEISHI1:";
/// Largest QR version a payload may need at ECC level L (the SMART Health Cards ceiling: larger
/// symbols are hard to scan from a screen). proto-spec/qr.md#limits
pub const MAX_VERSION_AT_L: u8 = 22;
/// Longest payload text a reader looks at: the alphanumeric capacity of a version 40-L symbol.
pub const MAX_PAYLOAD_TEXT: usize = 4296;

/// Flag byte: the field stream is stored as is. proto-spec/qr.md#binary-layout
pub const FLAG_STORED: u8 = 0x00;
/// Flag byte: the field stream is raw deflate with the preset dictionary.
pub const FLAG_DEFLATE: u8 = 0x01;
/// Flag byte: the field stream with its text in the compact encoding, raw deflate with the
/// compact dictionary. proto-spec/qr.md#compact-text
pub const FLAG_COMPACT: u8 = 0x02;

/// How the text values of a field stream are written. proto-spec/qr.md#field-stream
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextEncoding {
    /// UTF-8 (flags `00` and `01`).
    Utf8,
    /// The compact text encoding (flag `02`).
    Compact,
}

/// Field stream tags. proto-spec/qr.md#field-stream
mod tag {
    pub const TITLE: u8 = 0x01;
    pub const ORG: u8 = 0x02;
    pub const EMAIL: u8 = 0x03;
    pub const PHONE_TEXT: u8 = 0x04;
    pub const PHONE_PACKED: u8 = 0x05;
    pub const URL: u8 = 0x06;
    pub const NOTE: u8 = 0x07;
    pub const TAG: u8 = 0x08;
    pub const AVATAR: u8 = 0x09;
    pub const SOCIAL: u8 = 0x0A;
    pub const EXTENSION: u8 = 0x0B;
    /// `SOCIAL_BASE + k` is a social handle of kind `k` for `k` in 1..=15.
    pub const SOCIAL_BASE: u8 = 0x10;
}

/// The 16 characters of a packed phone number, by nibble value. proto-spec/qr.md#phones
pub const PHONE_NIBBLES: &[u8; 16] = b"0123456789+ -().";

/// Why a payload could not be made or read. The decoding variants are the `expect:` outcomes of
/// proto-spec/vectors/qr/.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    #[error("{}", too_large_message(*.needed, .largest))]
    TooLarge {
        /// Version the payload needs at ECC L; `None` when it exceeds even version 40.
        needed: Option<u8>,
        /// The largest fields, (name, bytes), largest first: what to shorten.
        largest: Vec<(&'static str, usize)>,
    },
    #[error("not a meishi payload (it does not start with {PREFIX})")]
    NotMeishi,
    #[error("meishi payload version {0:?} is not supported by this version (it reads MEISHI1); update meishi")]
    UnsupportedVersion(String),
    #[error("payload text is {len} characters; the limit is {max}")]
    TextTooLong { len: usize, max: usize },
    #[error("payload is not valid base45: {0}")]
    Base45(#[from] Base45Error),
    #[error("payload is truncated: its fixed header needs {needed} bytes, it has {len}")]
    Truncated { needed: usize, len: usize },
    #[error("payload flag byte {0:#04x} is unknown")]
    UnknownFlag(u8),
    #[error("payload integer is malformed (overlong, too large or truncated)")]
    BadVarint,
    #[error("payload fields: {0}")]
    Inflate(#[from] InflateError),
    #[error("payload field stream has unknown tag {tag:#04x} at offset {offset}")]
    UnknownTag { tag: u8, offset: usize },
    #[error("payload field stream is truncated at offset {0}")]
    FieldsTruncated(usize),
    #[error("payload field text at offset {0} is not UTF-8")]
    InvalidUtf8(usize),
    #[error("payload field text at offset {0} is not valid compact text")]
    InvalidText(usize),
    #[error(
        "payload fields are not in canonical form (order, duplicates, or a choice of encoding)"
    )]
    NonCanonical,
    #[error("payload fields exceed the card size limit of {MAX_CARD_BYTES} bytes")]
    CardTooLarge,
    #[error("payload card is invalid: {0}")]
    Card(#[from] DecodeError),
}

impl PayloadError {
    /// The error's name in the `expect:` line of proto-spec/vectors/qr/: one per variant; errors
    /// of the rebuilt card keep the names of proto-spec/card.md#test-vectors.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "payload-too-large",
            Self::NotMeishi => "not-meishi",
            Self::UnsupportedVersion(_) => "unsupported-version",
            Self::TextTooLong { .. } => "text-too-long",
            Self::Base45(_) => "base45",
            Self::Truncated { .. } => "header-truncated",
            Self::UnknownFlag(_) => "unknown-flag",
            Self::BadVarint => "bad-varint",
            Self::Inflate(InflateError::TooLarge { .. }) => "inflate-too-large",
            Self::Inflate(InflateError::Truncated) => "inflate-truncated",
            Self::Inflate(InflateError::Malformed) => "inflate-malformed",
            Self::Inflate(InflateError::TrailingBytes(_)) => "inflate-trailing-bytes",
            Self::UnknownTag { .. } => "unknown-tag",
            Self::FieldsTruncated(_) => "fields-truncated",
            Self::InvalidUtf8(_) => "fields-invalid-utf8",
            Self::InvalidText(_) => "fields-invalid-text",
            Self::NonCanonical => "fields-non-canonical",
            Self::CardTooLarge => "fields-too-large",
            Self::Card(e) => e.kind(),
        }
    }
}

fn too_large_message(needed: Option<u8>, largest: &[(&'static str, usize)]) -> String {
    let needed = needed.map_or_else(
        || "more than version 40".to_owned(),
        |v| format!("version {v}"),
    );
    let fields: Vec<String> = largest
        .iter()
        .map(|(f, n)| format!("{f} ({n} bytes)"))
        .collect();
    format!(
        "the card is too large for a QR code: it needs {needed} at ECC L, the limit is version {MAX_VERSION_AT_L}; \
         shorten or remove some of: {}",
        fields.join(", ")
    )
}

/// Encodes a signed card as QR payload text: only QR-alphanumeric characters.
///
/// Refuses a card whose payload would need a QR version above [`MAX_VERSION_AT_L`] at ECC L,
/// naming the largest fields.
pub fn encode_payload(card: &SignedCard) -> Result<String, PayloadError> {
    let text = encode_unchecked(card);
    match qr_version(&text, Ecc::L) {
        Some(v) if v <= MAX_VERSION_AT_L => Ok(text),
        needed => Err(PayloadError::TooLarge {
            needed,
            largest: largest_fields(card.card()),
        }),
    }
}

/// The binary payload (before base45) of a signed card: the shortest of the three forms of the
/// fields, the earlier flag on a tie. Exposed for the size report.
pub fn encode_binary(card: &SignedCard) -> Vec<u8> {
    let (flag, body) = forms(card)
        .into_iter()
        .min_by_key(|(_, body)| body.len())
        .unwrap_or_default();
    binary_with(card, flag, &body)
}

/// The binary payload of a signed card with its fields in the form of `flag` (`00`, `01` or
/// `02`; any other flag gives `None`), for comparing the forms.
pub fn encode_binary_as(card: &SignedCard, flag: u8) -> Option<Vec<u8>> {
    let (_, body) = forms(card).into_iter().find(|(f, _)| *f == flag)?;
    Some(binary_with(card, flag, &body))
}

/// Every form of the fields a decoder accepts, as (flag, bytes), in flag order. The compact form
/// is left out when its field stream exceeds the size limit, which a decoder would refuse.
fn forms(card: &SignedCard) -> Vec<(u8, Vec<u8>)> {
    let fields = encode_fields(card.card(), card.extensions());
    let deflated = deflate::compress(DICTIONARY.as_bytes(), &fields);
    let mut out = vec![(FLAG_STORED, fields), (FLAG_DEFLATE, deflated)];
    let compact = encode_fields_as(card.card(), card.extensions(), TextEncoding::Compact);
    if compact.len() <= MAX_CARD_BYTES {
        out.push((
            FLAG_COMPACT,
            deflate::compress(compact_dictionary(), &compact),
        ));
    }
    out
}

fn binary_with(card: &SignedCard, flag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + 20 + 96 + body.len());
    out.push(flag);
    put_varint(&mut out, card.seq());
    put_varint(&mut out, card.issued_at());
    out.extend_from_slice(&card.key().0);
    out.extend_from_slice(card.signature());
    out.extend_from_slice(body);
    out
}

fn encode_unchecked(card: &SignedCard) -> String {
    format!("{PREFIX}{}", base45::encode(&encode_binary(card)))
}

fn largest_fields(card: &Card) -> Vec<(&'static str, usize)> {
    let sum = |v: &[String]| v.iter().map(String::len).sum::<usize>();
    let opt = |v: &Option<String>| v.as_deref().map_or(0, str::len);
    let mut all = vec![
        ("name", card.name.len()),
        ("title", opt(&card.title)),
        ("org", opt(&card.org)),
        ("emails", sum(&card.emails)),
        ("phones", sum(&card.phones)),
        ("urls", sum(&card.urls)),
        ("socials", card.socials.iter().map(|s| s.handle.len()).sum()),
        ("note", opt(&card.note)),
        ("tags", sum(&card.tags)),
        ("avatar", opt(&card.avatar)),
    ];
    all.retain(|&(_, n)| n > 0);
    all.sort_by_key(|f| std::cmp::Reverse(f.1));
    all.truncate(3);
    all
}

/// Decodes payload text into a verified signed card.
pub fn decode_payload(text: &str) -> Result<SignedCard, PayloadError> {
    if text.len() > MAX_PAYLOAD_TEXT {
        return Err(PayloadError::TextTooLong {
            len: text.len(),
            max: MAX_PAYLOAD_TEXT,
        });
    }
    let Some(b45) = text.strip_prefix(PREFIX) else {
        return Err(match payload_version(text) {
            Some(v) => PayloadError::UnsupportedVersion(v.to_owned()),
            None => PayloadError::NotMeishi,
        });
    };
    let bytes = base45::decode(b45.as_bytes())?;
    decode_binary(&bytes)
}

/// `MEISHIn` when `text` starts with `MEISHI`, one to three ASCII digits and `:`.
pub(crate) fn payload_version(text: &str) -> Option<&str> {
    let rest = text.strip_prefix("MEISHI")?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    ((1..=3).contains(&digits) && rest.as_bytes().get(digits) == Some(&b':'))
        .then(|| &text[..6 + digits])
}

/// Decodes the binary payload (after base45) into a verified signed card.
pub fn decode_binary(bytes: &[u8]) -> Result<SignedCard, PayloadError> {
    const FIXED: usize = 1 + 1 + 1 + 32 + 64;
    if bytes.len() < FIXED {
        return Err(PayloadError::Truncated {
            needed: FIXED,
            len: bytes.len(),
        });
    }
    let flag = bytes[0];
    let mut r = Reader {
        bytes,
        pos: 1,
        encoding: TextEncoding::Utf8,
    };
    let seq = r.varint()?;
    let issued_at = r.varint()?;
    let key = r.array::<32>().ok_or(PayloadError::Truncated {
        needed: FIXED,
        len: bytes.len(),
    })?;
    let sig = r.array::<64>().ok_or(PayloadError::Truncated {
        needed: FIXED,
        len: bytes.len(),
    })?;
    let rest = &bytes[r.pos..];
    let (fields, text) = match flag {
        FLAG_STORED if rest.len() > MAX_CARD_BYTES => return Err(PayloadError::CardTooLarge),
        FLAG_STORED => (rest.to_vec(), TextEncoding::Utf8),
        FLAG_DEFLATE => (
            deflate::decompress_bounded(DICTIONARY.as_bytes(), rest, MAX_CARD_BYTES)?,
            TextEncoding::Utf8,
        ),
        FLAG_COMPACT => (
            deflate::decompress_bounded(compact_dictionary(), rest, MAX_CARD_BYTES)?,
            TextEncoding::Compact,
        ),
        other => return Err(PayloadError::UnknownFlag(other)),
    };
    let (card, extensions) = decode_fields_as(&fields, text)?;
    if encode_fields_as(&card, &extensions, text) != fields {
        return Err(PayloadError::NonCanonical);
    }
    // Rebuild the canonical signed bytes of proto-spec/card.md and verify them there.
    Ok(SignedCard::from_parts(
        &PublicKey(key),
        seq,
        issued_at,
        &card,
        &extensions,
        &sig,
    )?)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    encoding: TextEncoding,
}

impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let a = self.bytes.get(self.pos..self.pos + N)?.try_into().ok()?;
        self.pos += N;
        Some(a)
    }

    /// Unsigned LEB128, minimal: at most 10 bytes, no value bits beyond 64, no trailing zero
    /// group.
    fn varint(&mut self) -> Result<u64, PayloadError> {
        let mut v = 0u64;
        for i in 0..10 {
            let b = self.byte().ok_or(PayloadError::BadVarint)?;
            let part = u64::from(b & 0x7F);
            if i == 9 && part > 1 {
                return Err(PayloadError::BadVarint);
            }
            v |= part << (7 * i);
            if b & 0x80 == 0 {
                if i > 0 && part == 0 {
                    return Err(PayloadError::BadVarint);
                }
                return Ok(v);
            }
        }
        Err(PayloadError::BadVarint)
    }

    /// Text up to the next byte below 0x20 where a character starts (a tag) or the end.
    fn text(&mut self) -> Result<String, PayloadError> {
        if self.encoding == TextEncoding::Compact {
            return compact::decode(self.bytes, &mut self.pos).map_err(|e| match e {
                TextError::Truncated(at) => PayloadError::FieldsTruncated(at),
                TextError::Invalid(at) => PayloadError::InvalidText(at),
            });
        }
        let start = self.pos;
        let len = self.bytes[start..]
            .iter()
            .position(|&b| b < 0x20)
            .unwrap_or(self.bytes.len() - start);
        self.pos += len;
        std::str::from_utf8(&self.bytes[start..start + len])
            .map(str::to_owned)
            .map_err(|_| PayloadError::InvalidUtf8(start))
    }
}

fn pack_phone(phone: &str) -> Option<Vec<u8>> {
    let nibbles: Vec<u8> = phone
        .bytes()
        .map(|c| PHONE_NIBBLES.iter().position(|&p| p == c).map(|p| p as u8))
        .collect::<Option<_>>()?;
    let count = u8::try_from(nibbles.len()).ok()?;
    let mut out = vec![count];
    out.extend(
        nibbles
            .chunks(2)
            .map(|c| c[0] << 4 | c.get(1).copied().unwrap_or(0)),
    );
    Some(out)
}

/// The field stream of proto-spec/qr.md#field-stream: the name, then tagged values in a fixed
/// order. Text values end at the next tag byte; field text never contains bytes below 0x20
/// (control characters are invalid in every card field).
pub fn encode_fields(card: &Card, extensions: &[Extension]) -> Vec<u8> {
    encode_fields_as(card, extensions, TextEncoding::Utf8)
}

/// The field stream with its text values in `encoding`.
pub fn encode_fields_as(card: &Card, extensions: &[Extension], encoding: TextEncoding) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    let put = |out: &mut Vec<u8>, s: &str| match encoding {
        TextEncoding::Utf8 => out.extend_from_slice(s.as_bytes()),
        TextEncoding::Compact => compact::encode(s, out),
    };
    put(&mut out, &card.name);
    let text = |out: &mut Vec<u8>, t: u8, s: &str| {
        out.push(t);
        put(out, s);
    };
    if let Some(s) = &card.title {
        text(&mut out, tag::TITLE, s);
    }
    if let Some(s) = &card.org {
        text(&mut out, tag::ORG, s);
    }
    for s in &card.emails {
        text(&mut out, tag::EMAIL, s);
    }
    for s in &card.phones {
        match pack_phone(s) {
            Some(packed) => {
                out.push(tag::PHONE_PACKED);
                out.extend_from_slice(&packed);
            }
            None => text(&mut out, tag::PHONE_TEXT, s),
        }
    }
    for s in &card.urls {
        text(&mut out, tag::URL, s);
    }
    for s in &card.socials {
        match s.kind.0 {
            k @ 1..=15 => text(&mut out, tag::SOCIAL_BASE + k, &s.handle),
            k => {
                out.extend_from_slice(&[tag::SOCIAL, k]);
                put(&mut out, &s.handle);
            }
        }
    }
    if let Some(s) = &card.note {
        text(&mut out, tag::NOTE, s);
    }
    for s in &card.tags {
        text(&mut out, tag::TAG, s);
    }
    if let Some(s) = &card.avatar {
        text(&mut out, tag::AVATAR, s);
    }
    for e in extensions {
        out.push(tag::EXTENSION);
        put_varint(&mut out, u64::from(e.tag));
        put_varint(&mut out, e.data.len() as u64);
        out.extend_from_slice(&e.data);
    }
    out
}

/// Parses a field stream. Order and duplicates are not checked here: the caller re-encodes and
/// compares, which rejects every non-canonical stream at once.
pub fn decode_fields(fields: &[u8]) -> Result<(Card, Vec<Extension>), PayloadError> {
    decode_fields_as(fields, TextEncoding::Utf8)
}

/// Parses a field stream whose text values are in `encoding`.
pub fn decode_fields_as(
    fields: &[u8],
    encoding: TextEncoding,
) -> Result<(Card, Vec<Extension>), PayloadError> {
    let mut r = Reader {
        bytes: fields,
        pos: 0,
        encoding,
    };
    let mut card = Card::new(r.text()?);
    let mut extensions = Vec::new();
    while let Some(t) = r.byte() {
        let offset = r.pos - 1;
        match t {
            tag::TITLE => card.title = Some(r.text()?),
            tag::ORG => card.org = Some(r.text()?),
            tag::EMAIL => card.emails.push(r.text()?),
            tag::PHONE_TEXT => card.phones.push(r.text()?),
            tag::PHONE_PACKED => {
                let count = usize::from(r.byte().ok_or(PayloadError::FieldsTruncated(offset))?);
                let packed = r
                    .bytes
                    .get(r.pos..r.pos + count.div_ceil(2))
                    .ok_or(PayloadError::FieldsTruncated(offset))?;
                r.pos += packed.len();
                let phone: String = packed
                    .iter()
                    .flat_map(|b| [b >> 4, b & 0xF])
                    .take(count)
                    .map(|n| char::from(PHONE_NIBBLES[usize::from(n)]))
                    .collect();
                card.phones.push(phone);
            }
            tag::URL => card.urls.push(r.text()?),
            tag::SOCIAL => {
                let kind = r.byte().ok_or(PayloadError::FieldsTruncated(offset))?;
                card.socials.push(Social {
                    kind: SocialKind(kind),
                    handle: r.text()?,
                });
            }
            k @ 0x11..=0x1F => card.socials.push(Social {
                kind: SocialKind(k - tag::SOCIAL_BASE),
                handle: r.text()?,
            }),
            tag::NOTE => card.note = Some(r.text()?),
            tag::TAG => card.tags.push(r.text()?),
            tag::AVATAR => card.avatar = Some(r.text()?),
            tag::EXTENSION => {
                let ext_tag = u32::try_from(r.varint()?).map_err(|_| PayloadError::BadVarint)?;
                let len = usize::try_from(r.varint()?).map_err(|_| PayloadError::BadVarint)?;
                let data = r
                    .bytes
                    .get(r.pos..r.pos.saturating_add(len))
                    .ok_or(PayloadError::FieldsTruncated(offset))?;
                r.pos += len;
                extensions.push(Extension {
                    tag: ext_tag,
                    data: data.to_vec(),
                });
            }
            other => return Err(PayloadError::UnknownTag { tag: other, offset }),
        }
    }
    Ok((card, extensions))
}

#[cfg(test)]
mod tests {
    use super::*;
    use meishi_card::Identity;

    pub(crate) fn ada() -> Card {
        serde_json::from_str(include_str!("../testdata/ada.json")).expect("test")
    }

    fn signed(card: &Card) -> SignedCard {
        SignedCard::sign(&Identity::from_seed(&[7; 32]), 3, 1_760_000_000, card).expect("test")
    }

    #[test]
    fn ada_round_trip_and_size_goal() {
        let s = signed(&ada());
        let text = encode_payload(&s).expect("test");
        assert!(text.starts_with(PREFIX));
        assert!(text
            .bytes()
            .all(|c| base45::ALPHABET.contains(&c) || c == b':'));
        assert_eq!(decode_payload(&text).expect("test"), s);
        // proto-spec/qr.md#size: version 12 or lower at ECC M (the unsigned MeCard needs 13).
        let v = qr_version(&text, Ecc::M).expect("test");
        assert!(v <= 12, "ada needs version {v} at M");
    }

    #[test]
    fn phones_pack_only_when_exact() {
        assert_eq!(pack_phone("+44 20"), Some(vec![6, 0xA4, 0x4B, 0x20]));
        assert_eq!(pack_phone("123"), Some(vec![3, 0x12, 0x30]));
        assert_eq!(pack_phone("+1 555 CALL"), None);
        assert_eq!(pack_phone("ext. 5"), None);
    }

    #[test]
    fn varints_are_minimal() {
        let check = |b: &[u8]| {
            Reader {
                bytes: b,
                pos: 0,
                encoding: TextEncoding::Utf8,
            }
            .varint()
        };
        assert_eq!(check(&[0x00]), Ok(0));
        assert_eq!(check(&[0x80, 0x01]), Ok(128));
        assert_eq!(check(&[0x80, 0x00]), Err(PayloadError::BadVarint));
        assert_eq!(
            check(&[0xFF; 9].iter().copied().chain([0x01]).collect::<Vec<_>>()),
            Ok(u64::MAX)
        );
        assert_eq!(
            check(&[0xFF; 9].iter().copied().chain([0x02]).collect::<Vec<_>>()),
            Err(PayloadError::BadVarint)
        );
        assert_eq!(check(&[0x80]), Err(PayloadError::BadVarint));
    }

    #[test]
    fn refuses_oversized_card_naming_fields() {
        let mut card = ada();
        card.note = Some("n".repeat(280));
        // Incompressible: hex digits of a simple generator's output.
        let mut x = 1u64;
        let mut noise = |n: usize| -> String {
            (0..n)
                .map(|_| {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    format!("{:x}", x >> 60)
                })
                .collect()
        };
        card.urls = (0..8)
            .map(|i| format!("https://{i}.example/{}", noise(400)))
            .collect();
        let s = signed(&card);
        let err = encode_payload(&s).expect_err("test");
        let PayloadError::TooLarge { largest, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(largest[0].0, "urls");
        assert!(err.to_string().contains("urls"), "{err}");
    }

    #[test]
    fn version_prefix_errors() {
        assert_eq!(
            decode_payload("MEISHI2:ABC"),
            Err(PayloadError::UnsupportedVersion("MEISHI2".into()))
        );
        assert_eq!(decode_payload("hello"), Err(PayloadError::NotMeishi));
        assert_eq!(decode_payload("MEISHI:"), Err(PayloadError::NotMeishi));
        assert!(matches!(
            decode_payload("MEISHI1:A"),
            Err(PayloadError::Base45(_))
        ));
        assert_eq!(
            decode_payload("MEISHI1:"),
            Err(PayloadError::Truncated { needed: 99, len: 0 })
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(128))]
        #[test]
        fn any_valid_card_round_trips(
            name in "[A-Za-z\u{e9}\u{4e2d} .'-]{1,40}",
            title in proptest::option::of("[A-Za-z &]{1,30}"),
            emails in proptest::collection::vec("[a-z.]{1,10}@[a-z]{1,8}\\.(com|org)", 0..3),
            phones in proptest::collection::vec("[0-9+ ()x.-]{1,20}", 0..3),
            socials in proptest::collection::vec((1u8..=20, "[a-z@._-]{1,20}"), 0..4),
            tags in proptest::collection::vec("[a-z0-9]{1,10}", 0..4),
            seq: u64,
            issued_at: u64,
        ) {
            let mut card = Card::new(name);
            card.title = title;
            card.emails = emails;
            card.phones = phones;
            card.socials = socials.into_iter().map(|(k, h)| Social { kind: SocialKind(k), handle: h }).collect();
            card.tags = tags;
            proptest::prop_assume!(card.validate().is_ok());
            let s = SignedCard::sign(&Identity::from_seed(&[9; 32]), seq, issued_at, &card).expect("test");
            let text = encode_payload(&s).expect("test");
            proptest::prop_assert_eq!(decode_payload(&text).expect("test"), s);
        }

        /// Any text a card may hold, in any script, survives every form of the fields.
        #[test]
        fn any_unicode_card_round_trips_in_every_form(
            name in "\\PC{1,30}",
            title in proptest::option::of("\\PC{1,40}"),
            note in proptest::option::of("[\\PC ]{1,80}"),
            handle in "\\PC{1,20}",
        ) {
            let mut card = Card::new(name);
            card.title = title;
            card.note = note;
            card.socials = vec![Social { kind: SocialKind(40), handle }];
            proptest::prop_assume!(card.validate().is_ok());
            let s = SignedCard::sign(&Identity::from_seed(&[9; 32]), 1, 2, &card).expect("test");
            for flag in [FLAG_STORED, FLAG_DEFLATE, FLAG_COMPACT] {
                let bin = encode_binary_as(&s, flag).expect("test");
                proptest::prop_assert_eq!(decode_binary(&bin).expect("test"), s.clone());
            }
            let text = encode_payload(&s).expect("test");
            proptest::prop_assert_eq!(decode_payload(&text).expect("test"), s);
        }

        /// Arbitrary bytes after a valid header, under every flag: an error or a verified card,
        /// never a panic.
        #[test]
        fn decoding_random_fields_never_panics(flag in 0u8..4, fields: Vec<u8>) {
            let mut bin = encode_binary(&signed(&Card::new("Ada")));
            bin[0] = flag;
            bin.truncate(1 + 1 + 5 + 32 + 64);
            bin.extend_from_slice(&fields);
            let _ = decode_binary(&bin);
            let _ = decode_fields_as(&fields, TextEncoding::Compact);
        }
    }

    /// The compact form of a Japanese card: every single-bit flip is refused or decodes to the
    /// same card (deflate padding), as for the UTF-8 form.
    #[test]
    fn compact_bit_flips_fail_or_change_nothing() {
        let card: Card = serde_json::from_str(include_str!("../testdata/ja.json")).expect("test");
        let s = signed(&card);
        let bin = encode_binary(&s);
        assert_eq!(bin[0], FLAG_COMPACT);
        for bit in 0..bin.len() * 8 {
            let mut flipped = bin.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            if let Ok(c) = decode_binary(&flipped) {
                assert_eq!(c, s, "bit {bit} changed the card and still verified");
                assert_eq!(
                    bit / 8,
                    bin.len() - 1,
                    "bit {bit} accepted outside the padding"
                );
            }
        }
    }

    /// Compact text that decodes but is not the encoding of its text is refused.
    #[test]
    fn compact_non_canonical_is_refused() {
        let s = signed(&Card::new("山田"));
        let canonical = encode_fields_as(s.card(), &[], TextEncoding::Compact);
        assert_eq!(canonical, [0xFF, 0x5C, 0x71, 0x75, 0x30]);
        let with_fields = |fields: &[u8]| {
            let mut bin = encode_binary_as(&s, FLAG_COMPACT).expect("test");
            bin.truncate(1 + 1 + 5 + 32 + 64);
            bin.extend_from_slice(&deflate::compress(compact_dictionary(), fields));
            decode_binary(&bin)
        };
        assert_eq!(with_fields(&canonical), Ok(s.clone()));
        // 山 quoted in byte mode instead of wide mode.
        assert_eq!(
            with_fields(&[0x7F, 0x5C, 0x71, 0xFF, 0x75, 0x30]),
            Err(PayloadError::NonCanonical)
        );
        // A redundant switch back and forth.
        assert_eq!(
            with_fields(&[0xFF, 0x5C, 0x71, 0xE0, 0xFF, 0x75, 0x30]),
            Err(PayloadError::NonCanonical)
        );
        // A wide unit cut by the end of the stream; a reserved wide-mode byte.
        assert_eq!(
            with_fields(&[0xFF, 0x5C, 0x71, 0x75]),
            Err(PayloadError::FieldsTruncated(3))
        );
        assert_eq!(
            with_fields(&[0xFF, 0x5C, 0x71, 0xF0, 0x30]),
            Err(PayloadError::InvalidText(3))
        );
    }

    /// Every single-bit flip of a payload is refused, except in the padding bits of the deflate
    /// stream's last byte, which qr.md allows (the compressed bytes are not canonical): those
    /// decode to the very same signed card, whose signature still covers every field.
    #[test]
    fn every_bit_flip_fails_or_changes_nothing() {
        let s = signed(&ada());
        let bin = encode_binary(&s);
        assert_eq!(bin[0], FLAG_DEFLATE);
        let mut harmless = Vec::new();
        for bit in 0..bin.len() * 8 {
            let mut flipped = bin.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            if let Ok(card) = decode_binary(&flipped) {
                assert_eq!(card, s, "bit {bit} changed the card and still verified");
                harmless.push(bit);
            }
        }
        let last = bin.len() - 1;
        assert!(
            harmless.iter().all(|b| b / 8 == last),
            "flips accepted outside the last byte's padding: {harmless:?}"
        );
        assert!(harmless.len() < 8, "{harmless:?}");
    }
}
