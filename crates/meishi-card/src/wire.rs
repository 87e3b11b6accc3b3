//! The signed card's canonical bytes. proto-spec/card.md#encoding
//!
//! A signed card is `body || signature`: `body` is the bincode 2.0.1 standard encoding
//! (little-endian, varint lengths and integers) of [`BodyV1`], `signature` the 64-byte ed25519
//! signature over [`CARD_LABEL`] followed by `body`. The wire structs are private and separate
//! from [`Card`]; decoders reject every non-canonical form by re-encoding and comparing.

use bincode::config::{self, Config};
use serde::{Deserialize, Serialize};

use crate::key::{Identity, PublicKey, SignatureError};
use crate::limits::{MAX_CARD_BYTES, MAX_EXTENSIONS, MAX_EXTENSION_BYTES};
use crate::model::{Card, FieldError, Social, SocialKind};

/// Domain-separation label of the card signature. proto-spec/card.md#signature
pub const CARD_LABEL: &[u8] = b"meishi/card/v1\0";
/// The only body format this version reads. proto-spec/card.md#versioning
pub const FORMAT_V1: u8 = 1;
/// Length of the trailing signature.
pub const SIGNATURE_LEN: usize = 64;

/// bincode's decode limit counts the in-memory size of each value read, not input bytes: every
/// varint (one byte for a small seq or length) claims 8, so a card within [`MAX_CARD_BYTES`]
/// claims up to 8 times its length. The limit only stops a declared length from allocating
/// more than that; the input size itself is checked before decoding.
const DECODE_LIMIT: usize = 8 * MAX_CARD_BYTES;

fn bincode_config() -> impl Config {
    config::standard()
        .with_little_endian()
        .with_variable_int_encoding()
        .with_limit::<DECODE_LIMIT>()
}

/// An extension field: data a later version adds. Even tags are optional (a reader that does
/// not know one keeps and ignores it); odd tags are critical (a reader that does not know one
/// rejects the card). proto-spec/card.md#extensions
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extension {
    pub tag: u32,
    #[serde(deserialize_with = "bounded_list")]
    pub data: Vec<u8>,
}

#[derive(Deserialize)]
struct SocialV1 {
    kind: u8,
    handle: String,
}

/// Field order is the byte layout: never reorder. proto-spec/card.md#body
/// Decoded owned; encoded through [`BodyV1Ref`], which must match it field for field.
#[derive(Deserialize)]
struct BodyV1 {
    #[allow(
        dead_code,
        reason = "checked as the first byte before decoding; the field keeps the layout"
    )]
    format: u8,
    key: [u8; 32],
    seq: u64,
    issued_at: u64,
    name: String,
    title: Option<String>,
    org: Option<String>,
    #[serde(deserialize_with = "bounded_list")]
    emails: Vec<String>,
    #[serde(deserialize_with = "bounded_list")]
    phones: Vec<String>,
    #[serde(deserialize_with = "bounded_list")]
    urls: Vec<String>,
    #[serde(deserialize_with = "bounded_list")]
    socials: Vec<SocialV1>,
    note: Option<String>,
    #[serde(deserialize_with = "bounded_list")]
    tags: Vec<String>,
    avatar: Option<String>,
    #[serde(deserialize_with = "bounded_list")]
    extensions: Vec<Extension>,
}

/// Most items a list reserves room for before they are decoded. proto-spec/card.md#encoding
const PREALLOC_ITEMS: usize = 16;

/// Decodes a list without trusting its claimed count for allocation: serde's own `Vec` would
/// reserve up to 1 MiB for a count the input cannot hold. Items are stored as they decode, and
/// each is bounded by the input, so memory stays proportional to the card.
fn bounded_list<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct ListVisitor<T>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for ListVisitor<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a list")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(PREALLOC_ITEMS));
            while let Some(item) = seq.next_element()? {
                items.push(item);
            }
            Ok(items)
        }
    }
    d.deserialize_seq(ListVisitor(std::marker::PhantomData))
}

/// [`BodyV1`] borrowed from a [`Card`], so encoding (on signing, and the canonical check on
/// every decode) copies nothing. Each field serializes to the same bytes as its owned twin:
/// `&[u8; 32]` as a 32-byte tuple, `&str` as `String`, `&[T]` as `Vec<T>`.
#[derive(Serialize)]
struct BodyV1Ref<'a> {
    format: u8,
    key: &'a [u8; 32],
    seq: u64,
    issued_at: u64,
    name: &'a str,
    title: Option<&'a str>,
    org: Option<&'a str>,
    emails: &'a [String],
    phones: &'a [String],
    urls: &'a [String],
    socials: SocialsRef<'a>,
    note: Option<&'a str>,
    tags: &'a [String],
    avatar: Option<&'a str>,
    extensions: &'a [Extension],
}

/// The socials as a sequence of [`SocialV1`]-shaped structs (kind byte, handle string).
struct SocialsRef<'a>(&'a [Social]);

#[derive(Serialize)]
struct SocialV1Ref<'a> {
    kind: u8,
    handle: &'a str,
}

impl Serialize for SocialsRef<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|x| SocialV1Ref {
            kind: x.kind.0,
            handle: &x.handle,
        }))
    }
}

/// Why bytes are not a valid signed card. Each variant is one `expect:` outcome of the test
/// vectors in proto-spec/vectors/card/.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    #[error("card is {len} bytes; the limit is {max}")]
    TooLarge { len: usize, max: usize },
    #[error("card is empty")]
    Empty,
    #[error("card format {0} is not supported by this version (it reads format 1); update meishi")]
    UnsupportedFormat(u8),
    #[error("card body is malformed: {0}")]
    Malformed(Malformed),
    #[error("card is truncated: it ends inside the body or the 64-byte signature")]
    Truncated,
    #[error("card has {0} bytes after the signature")]
    TrailingBytes(usize),
    #[error("card encoding is not canonical (a non-minimal integer or length)")]
    NonCanonical,
    #[error("card has an invalid field: {0}")]
    Field(#[from] FieldError),
    #[error("card extensions are not in strictly increasing tag order")]
    ExtensionOrder,
    #[error("card has {count} extensions or one over {max_bytes} bytes; too large")]
    ExtensionTooLarge { count: usize, max_bytes: usize },
    #[error(
        "card carries critical extension {0} that this version does not understand; update meishi"
    )]
    UnknownCriticalExtension(u32),
    #[error("card signature is invalid: {0}")]
    Signature(#[from] SignatureError),
}

/// What is malformed in a card body: a value that cannot be read as its type.
/// proto-spec/card.md#encoding
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Malformed {
    #[error(
        "an integer starts with a marker byte its type does not allow (FE, FF, or FD for a u32)"
    )]
    IntegerMarker,
    #[error("an optional field's presence byte is {0}, not 0 or 1")]
    OptionTag(u32),
    #[error("a text field is not valid UTF-8")]
    Utf8,
    #[error("a value cannot be read as its type")]
    Other,
}

impl DecodeError {
    /// The error's name in the `expect:` line of the test vectors (proto-spec/card.md#test-vectors):
    /// one name per variant, and per variant of the nested [`FieldError`] and [`SignatureError`].
    pub fn kind(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "too-large",
            Self::Empty => "empty",
            Self::UnsupportedFormat(_) => "unsupported-format",
            Self::Malformed(_) => "malformed",
            Self::Truncated => "truncated",
            Self::TrailingBytes(_) => "trailing-bytes",
            Self::NonCanonical => "non-canonical",
            Self::Field(e) => e.kind(),
            Self::ExtensionOrder => "extension-order",
            Self::ExtensionTooLarge { .. } => "extension-too-large",
            Self::UnknownCriticalExtension(_) => "unknown-critical-extension",
            Self::Signature(e) => e.kind(),
        }
    }
}

/// Why a card could not be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    #[error(transparent)]
    Field(#[from] FieldError),
    #[error(
        "the signed card would be {len} bytes; the limit is {max}: shorten the note, URLs or lists"
    )]
    TooLarge { len: usize, max: usize },
    #[error(
        "extensions must have strictly increasing tags and no critical (odd) tags in this version"
    )]
    BadExtensions,
}

/// A verified signed card and its exact bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedCard {
    key: PublicKey,
    seq: u64,
    issued_at: u64,
    card: Card,
    extensions: Vec<Extension>,
    bytes: Vec<u8>,
}

/// How an incoming card relates to a stored one of the same key. proto-spec/card.md#replacement
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replacement {
    /// Higher seq: replaces the stored card.
    Newer,
    /// Exactly the same bytes: nothing to do.
    Same,
    /// Lower seq: a replay of an old card; refused.
    Older,
    /// Same seq, different bytes: the key signed two cards with one seq. Evidence of misuse.
    Equivocation,
    /// Different keys: not comparable.
    OtherKey,
}

impl SignedCard {
    /// Signs `card` as version `seq` at `issued_at` (Unix seconds).
    pub fn sign(
        identity: &Identity,
        seq: u64,
        issued_at: u64,
        card: &Card,
    ) -> Result<Self, SignError> {
        Self::sign_with_extensions(identity, seq, issued_at, card, Vec::new())
    }

    /// Signs with extension fields; only optional (even) tags, strictly increasing.
    pub fn sign_with_extensions(
        identity: &Identity,
        seq: u64,
        issued_at: u64,
        card: &Card,
        extensions: Vec<Extension>,
    ) -> Result<Self, SignError> {
        card.validate()?;
        if check_extensions(&extensions).is_err() {
            return Err(SignError::BadExtensions);
        }
        let key = identity.public();
        let mut bytes = encode_body(&key, seq, issued_at, card, &extensions).map_err(|_| {
            SignError::TooLarge {
                len: usize::MAX,
                max: MAX_CARD_BYTES,
            }
        })?;
        let sig = identity.sign(CARD_LABEL, &bytes);
        bytes.extend_from_slice(&sig);
        if bytes.len() > MAX_CARD_BYTES {
            return Err(SignError::TooLarge {
                len: bytes.len(),
                max: MAX_CARD_BYTES,
            });
        }
        let mut card = card.clone();
        card.comment = None;
        Ok(Self {
            key,
            seq,
            issued_at,
            card,
            extensions,
            bytes,
        })
    }

    /// Rebuilds a signed card from its parts and a signature made elsewhere (a QR payload
    /// carries the fields in another encoding): encodes the canonical body, appends `signature`
    /// and decodes the result, so every rule of [`SignedCard::decode`] applies, the signature
    /// check included.
    pub fn from_parts(
        key: &PublicKey,
        seq: u64,
        issued_at: u64,
        card: &Card,
        extensions: &[Extension],
        signature: &[u8; 64],
    ) -> Result<Self, DecodeError> {
        let mut bytes = encode_body(key, seq, issued_at, card, extensions)
            .map_err(|_| DecodeError::Malformed(Malformed::Other))?;
        bytes.extend_from_slice(signature);
        Self::decode(&bytes)
    }

    /// Decodes and verifies a signed card, enforcing every rule of proto-spec/card.md.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.is_empty() {
            return Err(DecodeError::Empty);
        }
        if bytes.len() > MAX_CARD_BYTES {
            return Err(DecodeError::TooLarge {
                len: bytes.len(),
                max: MAX_CARD_BYTES,
            });
        }
        // The format byte comes first and is a plain byte (serde u8 is never a varint).
        if bytes[0] != FORMAT_V1 {
            return Err(DecodeError::UnsupportedFormat(bytes[0]));
        }
        let (body, used): (BodyV1, usize) =
            bincode::serde::decode_from_slice(bytes, bincode_config()).map_err(|e| match e {
                bincode::error::DecodeError::UnexpectedEnd { .. } => DecodeError::Truncated,
                // Claims stay within 8 bytes per byte read, so a length over DECODE_LIMIT runs
                // past the end of an input within MAX_CARD_BYTES: the card is truncated.
                bincode::error::DecodeError::LimitExceeded => DecodeError::Truncated,
                bincode::error::DecodeError::InvalidIntegerType { .. } => {
                    DecodeError::Malformed(Malformed::IntegerMarker)
                }
                bincode::error::DecodeError::UnexpectedVariant { found, .. } => {
                    DecodeError::Malformed(Malformed::OptionTag(found))
                }
                bincode::error::DecodeError::Utf8 { .. } => DecodeError::Malformed(Malformed::Utf8),
                // A length above usize::MAX on a 32-bit target cannot fit in a 4 KiB card.
                bincode::error::DecodeError::OutsideUsizeRange(_) => DecodeError::Truncated,
                _ => DecodeError::Malformed(Malformed::Other),
            })?;
        let (body_bytes, rest) = bytes.split_at(used);
        if rest.len() < SIGNATURE_LEN {
            return Err(DecodeError::Truncated);
        }
        if rest.len() > SIGNATURE_LEN {
            return Err(DecodeError::TrailingBytes(rest.len() - SIGNATURE_LEN));
        }
        let (key, seq, issued_at, card, extensions) = body_into_card(body);
        if !encodes_to(&key, seq, issued_at, &card, &extensions, body_bytes) {
            return Err(DecodeError::NonCanonical);
        }
        card.validate()?;
        check_extensions(&extensions)?;
        let sig: [u8; SIGNATURE_LEN] = rest.try_into().map_err(|_| DecodeError::Truncated)?;
        key.verify(CARD_LABEL, body_bytes, &sig)?;
        Ok(Self {
            key,
            seq,
            issued_at,
            card,
            extensions,
            bytes: bytes.to_vec(),
        })
    }

    pub fn key(&self) -> PublicKey {
        self.key
    }
    pub fn seq(&self) -> u64 {
        self.seq
    }
    pub fn issued_at(&self) -> u64 {
        self.issued_at
    }
    pub fn card(&self) -> &Card {
        &self.card
    }
    pub fn extensions(&self) -> &[Extension] {
        &self.extensions
    }
    /// The exact signed bytes, as received or as signed.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
    /// The 64-byte signature at the end of the bytes.
    pub fn signature(&self) -> &[u8] {
        &self.bytes[self.bytes.len() - SIGNATURE_LEN..]
    }

    /// Decides whether `incoming` replaces `self` (the stored card).
    pub fn compare(&self, incoming: &SignedCard) -> Replacement {
        use std::cmp::Ordering::*;
        if self.key != incoming.key {
            return Replacement::OtherKey;
        }
        match incoming.seq.cmp(&self.seq) {
            Greater => Replacement::Newer,
            Less => Replacement::Older,
            Equal if incoming.bytes == self.bytes => Replacement::Same,
            Equal => Replacement::Equivocation,
        }
    }
}

fn check_extensions(exts: &[Extension]) -> Result<(), DecodeError> {
    if exts.len() > MAX_EXTENSIONS || exts.iter().any(|e| e.data.len() > MAX_EXTENSION_BYTES) {
        return Err(DecodeError::ExtensionTooLarge {
            count: exts.len(),
            max_bytes: MAX_EXTENSION_BYTES,
        });
    }
    if exts.windows(2).any(|w| w[0].tag >= w[1].tag) {
        return Err(DecodeError::ExtensionOrder);
    }
    // This version knows no extension, so every odd (critical) tag is unknown.
    if let Some(e) = exts.iter().find(|e| e.tag % 2 == 1) {
        return Err(DecodeError::UnknownCriticalExtension(e.tag));
    }
    Ok(())
}

/// Moves the decoded fields into the domain types; nothing is copied.
fn body_into_card(b: BodyV1) -> (PublicKey, u64, u64, Card, Vec<Extension>) {
    let card = Card {
        name: b.name,
        title: b.title,
        org: b.org,
        emails: b.emails,
        phones: b.phones,
        urls: b.urls,
        socials: b
            .socials
            .into_iter()
            .map(|s| Social {
                kind: SocialKind(s.kind),
                handle: s.handle,
            })
            .collect(),
        note: b.note,
        tags: b.tags,
        avatar: b.avatar,
        comment: None,
    };
    (PublicKey(b.key), b.seq, b.issued_at, card, b.extensions)
}

fn body_ref<'a>(
    key: &'a PublicKey,
    seq: u64,
    issued_at: u64,
    card: &'a Card,
    extensions: &'a [Extension],
) -> BodyV1Ref<'a> {
    BodyV1Ref {
        format: FORMAT_V1,
        key: &key.0,
        seq,
        issued_at,
        name: &card.name,
        title: card.title.as_deref(),
        org: card.org.as_deref(),
        emails: &card.emails,
        phones: &card.phones,
        urls: &card.urls,
        socials: SocialsRef(&card.socials),
        note: card.note.as_deref(),
        tags: &card.tags,
        avatar: card.avatar.as_deref(),
        extensions,
    }
}

fn encode_body(
    key: &PublicKey,
    seq: u64,
    issued_at: u64,
    card: &Card,
    extensions: &[Extension],
) -> Result<Vec<u8>, bincode::error::EncodeError> {
    bincode::serde::encode_to_vec(
        body_ref(key, seq, issued_at, card, extensions),
        bincode_config(),
    )
}

/// Whether the canonical encoding of the fields is exactly `expected`: encodes straight into a
/// comparison, without a buffer, and stops at the first differing byte.
fn encodes_to(
    key: &PublicKey,
    seq: u64,
    issued_at: u64,
    card: &Card,
    extensions: &[Extension],
    expected: &[u8],
) -> bool {
    let mut cmp = CompareWriter { rest: expected };
    let body = body_ref(key, seq, issued_at, card, extensions);
    bincode::serde::encode_into_writer(body, &mut cmp, bincode_config()).is_ok()
        && cmp.rest.is_empty()
}

/// A bincode writer that checks each written chunk against the expected bytes.
struct CompareWriter<'a> {
    rest: &'a [u8],
}

impl bincode::enc::write::Writer for &mut CompareWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), bincode::error::EncodeError> {
        match self.rest.strip_prefix(bytes) {
            Some(rest) => {
                self.rest = rest;
                Ok(())
            }
            None => Err(bincode::error::EncodeError::Other(
                "differs from the received bytes",
            )),
        }
    }
}

/// Encodes an unsigned body for `key` without signing: for tests and vector generators that
/// build deliberately broken cards. Not for production use.
#[doc(hidden)]
pub fn encode_body_for_tests(
    key: &PublicKey,
    seq: u64,
    issued_at: u64,
    card: &Card,
    extensions: &[Extension],
) -> Vec<u8> {
    encode_body(key, seq, issued_at, card, extensions).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `body` (patched by `edit`) signed correctly, then decoded.
    fn decode_edited(edit: impl FnOnce(&mut Vec<u8>)) -> Result<SignedCard, DecodeError> {
        let id = Identity::from_seed(&[1; 32]);
        let mut body = encode_body(&id.public(), 1, 2, &Card::new("Ada"), &[]).expect("encodes");
        edit(&mut body);
        let sig = id.sign(CARD_LABEL, &body);
        body.extend_from_slice(&sig);
        SignedCard::decode(&body)
    }

    // format, key, seq (1 byte), issued_at (1 byte), then the name's length byte.
    const NAME_LEN_AT: usize = 1 + 32 + 1 + 1;

    #[test]
    fn malformed_values_say_what_is_wrong() {
        let check = |edit: fn(&mut Vec<u8>), want: Malformed| {
            assert_eq!(decode_edited(edit), Err(DecodeError::Malformed(want)));
        };
        check(|b| b[33] = 0xFE, Malformed::IntegerMarker);
        check(|b| b[33] = 0xFF, Malformed::IntegerMarker);
        check(|b| b[NAME_LEN_AT + 1] = 0xFF, Malformed::Utf8);
        check(|b| b[NAME_LEN_AT + 4] = 2, Malformed::OptionTag(2));
    }

    /// Commented hex: on each line the leading hex tokens are bytes, the rest is a comment.
    fn unhex(s: &str) -> Vec<u8> {
        let digits: String = s
            .lines()
            .flat_map(|l| {
                l.split_whitespace()
                    .take_while(|t| t.bytes().all(|b| b.is_ascii_hexdigit()))
            })
            .collect();
        (0..digits.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).expect("hex"))
            .collect()
    }

    /// The worked example of proto-spec/card.md#example, byte for byte.
    #[test]
    fn snapshot_of_the_spec_example() {
        let signed = SignedCard::sign(
            &Identity::from_seed(&[0xA1; 32]),
            1,
            1_700_000_000,
            &Card::new("Ada"),
        )
        .expect("signs");
        let expected = unhex(
            "01                                  format 1
             bc7cbcb5636375fa1d82434d466724d9    key
             2377f53b980695dd49d26d0ce12205a5
             01                                  seq = 1
             fc 00f15365                         issued_at = 1700000000
             03 416461                           name: 3 bytes, Ada
             00 00                               title, org: absent
             00 00 00 00                         emails, phones, urls, socials: empty
             00 00 00 00                         note: absent, tags: empty, avatar: absent, extensions: empty
             b45cef6c8308676496298b873c6e69ff    signature R
             7a8430ae782c177f04994b1c04f2212a
             e2daca3eb4de9f9ddc8cd5a6457762ac    signature S
             c99df77ef5767cec18af0569a217fa07",
        );
        assert_eq!(signed.as_bytes(), &expected[..]);
        assert_eq!(SignedCard::decode(&expected), Ok(signed));
    }

    #[test]
    fn the_unedited_body_decodes() {
        let card = decode_edited(|_| {}).expect("valid");
        assert_eq!(card.card().name, "Ada");
        assert_eq!((card.seq(), card.issued_at()), (1, 2));
    }
}
