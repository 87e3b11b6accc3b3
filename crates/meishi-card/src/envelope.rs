//! Signed statements peers exchange around a card: the give envelope and the teaser.
//! proto-spec/exchange.md#envelope, proto-spec/exchange.md#teaser
//!
//! A **give envelope** wraps my signed card for one recipient: it names their key, the time and
//! optionally the event, and is signed by the card's key under [`GIVE_LABEL`]. It cannot be
//! replayed to anyone else, and two envelopes (mine to you, yours to me) are a verifiable record
//! of a mutual exchange: where and when two people met.
//!
//! A **teaser** is the opt-in name and headline a peer shows to people nearby before anyone
//! swaps, signed under [`TEASER_LABEL`] so that whoever carries it cannot forge it. A format-2
//! teaser also names the relays its owner keeps reservations on (relay hints), so the attendees
//! of an event served by several relays know which of them reach it.
//!
//! Both are `body || signature` like the card (proto-spec/card.md#encoding): `body` is the
//! bincode 2.0.1 standard encoding (little-endian, varint lengths and integers) of a private wire
//! struct whose first field is a format byte, and decoders reject every non-canonical form by
//! re-encoding and comparing.
//!
//! ```
//! use meishi_card::{Card, Identity, SignedCard};
//! use meishi_card::envelope::Envelope;
//!
//! let ada = Identity::from_seed(&[1; 32]);
//! let bob = Identity::from_seed(&[2; 32]);
//! let card = SignedCard::sign(&ada, 1, 1_700_000_000, &Card::new("Ada")).unwrap();
//! let env = Envelope::sign(&ada, &card, bob.public(), 1_700_000_100, Some("RustConf"), [7; 16]).unwrap();
//!
//! // Bob decodes what arrived on a connection from Ada and checks it is meant for him, now.
//! let got = Envelope::decode(env.as_bytes()).unwrap();
//! got.check(&ada.public(), &bob.public(), 1_700_000_160, 600).unwrap();
//! assert_eq!(got.card().card().name, "Ada");
//! ```

use bincode::config::{self, Config};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::key::{Identity, PublicKey, SignatureError};
use crate::limits::{MAX_CARD_BYTES, MAX_NAME, MAX_NOTE};
use crate::model::{Card, FieldError};
use crate::wire::{DecodeError, SignedCard, SIGNATURE_LEN};

/// Domain-separation label of the give envelope signature. proto-spec/exchange.md#envelope
pub const GIVE_LABEL: &[u8] = b"meishi/give/v1\0";
/// Domain-separation label of the teaser signature. proto-spec/exchange.md#teaser
pub const TEASER_LABEL: &[u8] = b"meishi/teaser/v1\0";
/// The envelope format without links, and the teaser format without relays.
/// proto-spec/exchange.md#envelope, proto-spec/exchange.md#teaser
pub const ENVELOPE_FORMAT_V1: u8 = 1;
/// The envelope format that carries links (a slot address and a drop address, opaque here).
/// proto-spec/exchange.md#links
pub const ENVELOPE_FORMAT_V2: u8 = 2;
/// Longest `links` field of a format-2 envelope. proto-spec/exchange.md#links
pub const MAX_LINKS: usize = 1024;
/// The teaser format that names relays (relay hints). proto-spec/exchange.md#format-2-relay-hints
pub const TEASER_FORMAT_V2: u8 = 2;
/// Most relays a format-2 teaser names. proto-spec/exchange.md#format-2-relay-hints
pub const MAX_TEASER_RELAYS: usize = 4;
/// Longest relay id (a libp2p peer id as bytes, opaque here) in a teaser.
/// proto-spec/exchange.md#format-2-relay-hints
pub const MAX_RELAY_ID: usize = 64;
/// Length of the envelope nonce. proto-spec/exchange.md#envelope
pub const NONCE_LEN: usize = 16;
/// Longest event name, in bytes of UTF-8. proto-spec/exchange.md#limits
pub const MAX_EVENT: usize = 64;
/// Largest encoded envelope: a largest card plus the envelope fields and signature.
/// proto-spec/exchange.md#limits
pub const MAX_ENVELOPE_BYTES: usize = MAX_CARD_BYTES + 256 + 3 + MAX_LINKS;
/// Largest encoded teaser: the largest possible one is [`LARGEST_TEASER`] = 780 bytes (the
/// longest name and headline and four 64-byte relay ids), rounded up. proto-spec/exchange.md#limits
pub const MAX_TEASER_BYTES: usize = 800;
/// The default clock window: an envelope more than this many seconds older or newer than the
/// receiver's clock is refused. proto-spec/exchange.md#verification
pub const DEFAULT_MAX_SKEW_SECS: u64 = 600;

/// Upper bound bincode may read for either object; exact limits are checked on the length first.
const BINCODE_LIMIT: usize = MAX_ENVELOPE_BYTES;

fn bincode_config() -> impl Config {
    config::standard()
        .with_little_endian()
        .with_variable_int_encoding()
        .with_limit::<BINCODE_LIMIT>()
}

/// Field order is the byte layout: never reorder. proto-spec/exchange.md#envelope
#[derive(Serialize, Deserialize)]
struct GiveV1 {
    format: u8,
    card: Vec<u8>,
    recipient: [u8; 32],
    time: u64,
    event: Option<String>,
    nonce: [u8; NONCE_LEN],
}

/// Format 2: format 1 and the links. Field order is the byte layout: never reorder.
/// proto-spec/exchange.md#links
#[derive(Serialize, Deserialize)]
struct GiveV2 {
    format: u8,
    card: Vec<u8>,
    recipient: [u8; 32],
    time: u64,
    event: Option<String>,
    nonce: [u8; NONCE_LEN],
    links: Vec<u8>,
}

/// Field order is the byte layout: never reorder. proto-spec/exchange.md#teaser
#[derive(Serialize, Deserialize)]
struct TeaserV1 {
    format: u8,
    key: [u8; 32],
    issued_at: u64,
    name: String,
    headline: Option<String>,
}

/// Format 2: format 1 and the relay hints. Field order is the byte layout: never reorder.
/// proto-spec/exchange.md#format-2-relay-hints
#[derive(Serialize, Deserialize)]
struct TeaserV2 {
    format: u8,
    key: [u8; 32],
    issued_at: u64,
    name: String,
    headline: Option<String>,
    relays: Vec<Vec<u8>>,
}

/// Why bytes are not a valid envelope or teaser. Each variant is one `expect:` outcome of the
/// test vectors in proto-spec/vectors/exchange/ (see [`EnvelopeError::kind`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    #[error("message is empty")]
    Empty,
    #[error("message is {len} bytes; the limit is {max}")]
    TooLarge { len: usize, max: usize },
    #[error(
        "envelope format {0} is not supported by this version (it reads formats 1 and 2); update meishi"
    )]
    UnsupportedFormat(u8),
    #[error("envelope is malformed: {0}")]
    Malformed(String),
    #[error("envelope is truncated: the 64-byte signature is incomplete")]
    Truncated,
    #[error("envelope has {0} bytes after the signature")]
    TrailingBytes(usize),
    #[error("envelope encoding is not canonical (a non-minimal integer or length)")]
    NonCanonical,
    #[error("the card inside the envelope is invalid: {0}")]
    Card(#[source] DecodeError),
    #[error("invalid field: {0}")]
    Field(#[from] FieldError),
    #[error("invalid relay hints: {0}")]
    Relays(#[from] RelayError),
    #[error("envelope signature is invalid: {0}")]
    Signature(#[from] SignatureError),
}

impl EnvelopeError {
    /// The error's name in the `expect:` line of the test vectors.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::TooLarge { .. } => "too-large",
            Self::UnsupportedFormat(_) => "unsupported-format",
            Self::Malformed(_) => "malformed",
            Self::Truncated => "truncated",
            Self::TrailingBytes(_) => "trailing-bytes",
            Self::NonCanonical => "non-canonical",
            Self::Card(_) => "bad-card",
            Self::Field(_) => "bad-field",
            Self::Relays(e) => e.kind(),
            Self::Signature(_) => "bad-signature",
        }
    }
}

/// Why the relay list of a teaser is not acceptable, when signing or decoding.
/// proto-spec/exchange.md#format-2-relay-hints
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RelayError {
    /// A format-2 teaser with an empty list: a teaser without relays is format 1.
    #[error("the teaser is format 2 but names no relays (a teaser without relays is format 1)")]
    NoRelays,
    #[error("the teaser names {count} relays; the limit is {max}")]
    TooMany { count: usize, max: usize },
    /// The relay id at `index` (from 0) is empty or longer than `max` bytes.
    #[error("relay {index} is {len} bytes; a relay id is 1 to {max} bytes")]
    BadId {
        index: usize,
        len: usize,
        max: usize,
    },
    /// The relay id at `second` repeats the one at `first`.
    #[error("relay {second} is the same as relay {first}")]
    Duplicate { first: usize, second: usize },
}

impl RelayError {
    /// The error's name in the `expect:` line of the test vectors.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NoRelays => "no-relays",
            Self::TooMany { .. } => "too-many-relays",
            Self::BadId { .. } => "bad-relay-id",
            Self::Duplicate { .. } => "duplicate-relay",
        }
    }
}

/// Why a well-formed envelope is not acceptable on this connection, now.
/// proto-spec/exchange.md#verification
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckError {
    #[error("the card belongs to {giver:?} but the connection is from {sender:?}: a card can only be given by its owner")]
    WrongSender { giver: PublicKey, sender: PublicKey },
    #[error("the envelope is addressed to {recipient:?}, not to this node ({me:?})")]
    WrongRecipient { recipient: PublicKey, me: PublicKey },
    #[error("the envelope was signed at {time}, too long before now ({now}); check both clocks")]
    Stale { time: u64, now: u64 },
    #[error("the envelope was signed at {time}, too far after now ({now}); check both clocks")]
    FromFuture { time: u64, now: u64 },
}

impl CheckError {
    /// The error's name in the `expect:` line of the test vectors.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::WrongSender { .. } => "wrong-sender",
            Self::WrongRecipient { .. } => "wrong-recipient",
            Self::Stale { .. } => "stale",
            Self::FromFuture { .. } => "from-future",
        }
    }
}

/// Why an envelope or teaser could not be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    #[error("the card belongs to another key than the signing identity")]
    NotOwnCard,
    #[error(transparent)]
    Field(#[from] FieldError),
    #[error(transparent)]
    Relays(#[from] RelayError),
    #[error("the encoding would be {len} bytes; the limit is {max}")]
    TooLarge { len: usize, max: usize },
}

/// A verified give envelope: a signed card given to one recipient at one time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    card: SignedCard,
    recipient: PublicKey,
    time: u64,
    event: Option<String>,
    nonce: [u8; NONCE_LEN],
    links: Vec<u8>,
    bytes: Vec<u8>,
}

fn check_links(links: &[u8]) -> Result<(), FieldError> {
    if links.len() > MAX_LINKS {
        return Err(FieldError::TooLong {
            field: "links",
            len: links.len(),
            max: MAX_LINKS,
        });
    }
    if links.is_empty() {
        return Err(FieldError::EmptyValue { field: "links" });
    }
    Ok(())
}

fn check_event(event: &str) -> Result<(), FieldError> {
    const FIELD: &str = "event";
    if event.len() > MAX_EVENT {
        return Err(FieldError::TooLong {
            field: FIELD,
            len: event.len(),
            max: MAX_EVENT,
        });
    }
    if event.trim().is_empty() {
        return Err(FieldError::EmptyValue { field: FIELD });
    }
    if let Some(c) = event.chars().find(|c| c.is_control()) {
        return Err(FieldError::ControlCharacter {
            field: FIELD,
            code: c as u32,
        });
    }
    Ok(())
}

fn encode<T: Serialize>(body: &T) -> Result<Vec<u8>, bincode::error::EncodeError> {
    bincode::serde::encode_to_vec(body, bincode_config())
}

/// Splits `bytes` into a decoded canonical body and its signature, enforcing the framing rules
/// shared by envelopes and teasers (proto-spec/exchange.md#encoding). The signature is not
/// checked here: the key comes from the body.
fn decode_framed<T: Serialize + DeserializeOwned>(
    bytes: &[u8],
    max: usize,
    format: u8,
) -> Result<(T, &[u8], [u8; SIGNATURE_LEN]), EnvelopeError> {
    if bytes.is_empty() {
        return Err(EnvelopeError::Empty);
    }
    if bytes.len() > max {
        return Err(EnvelopeError::TooLarge {
            len: bytes.len(),
            max,
        });
    }
    if bytes[0] != format {
        return Err(EnvelopeError::UnsupportedFormat(bytes[0]));
    }
    let (body, used): (T, usize) = bincode::serde::decode_from_slice(bytes, bincode_config())
        .map_err(|e| match e {
            bincode::error::DecodeError::UnexpectedEnd { .. } => EnvelopeError::Truncated,
            bincode::error::DecodeError::LimitExceeded => EnvelopeError::TooLarge {
                len: bytes.len(),
                max,
            },
            other => EnvelopeError::Malformed(other.to_string()),
        })?;
    let (body_bytes, rest) = bytes.split_at(used);
    if rest.len() < SIGNATURE_LEN {
        return Err(EnvelopeError::Truncated);
    }
    if rest.len() > SIGNATURE_LEN {
        return Err(EnvelopeError::TrailingBytes(rest.len() - SIGNATURE_LEN));
    }
    let reencoded = encode(&body).map_err(|e| EnvelopeError::Malformed(e.to_string()))?;
    if reencoded != body_bytes {
        return Err(EnvelopeError::NonCanonical);
    }
    let sig: [u8; SIGNATURE_LEN] = rest.try_into().map_err(|_| EnvelopeError::Truncated)?;
    Ok((body, body_bytes, sig))
}

impl Envelope {
    /// Wraps `card` (the identity's own) for `recipient`, signed at `time` (Unix seconds), with an
    /// optional event name. `nonce` must be fresh random bytes: it makes every give distinct.
    pub fn sign(
        identity: &Identity,
        card: &SignedCard,
        recipient: PublicKey,
        time: u64,
        event: Option<&str>,
        nonce: [u8; NONCE_LEN],
    ) -> Result<Self, SignError> {
        Self::sign_with_links(identity, card, recipient, time, event, nonce, &[])
    }

    /// [`Envelope::sign`] with links for the recipient (proto-spec/exchange.md#links): a
    /// format-2 envelope when `links` is not empty, format 1 when it is.
    pub fn sign_with_links(
        identity: &Identity,
        card: &SignedCard,
        recipient: PublicKey,
        time: u64,
        event: Option<&str>,
        nonce: [u8; NONCE_LEN],
        links: &[u8],
    ) -> Result<Self, SignError> {
        if card.key() != identity.public() {
            return Err(SignError::NotOwnCard);
        }
        if let Some(e) = event {
            check_event(e)?;
        }
        let too_large = |_| SignError::TooLarge {
            len: usize::MAX,
            max: MAX_ENVELOPE_BYTES,
        };
        let mut bytes = if links.is_empty() {
            encode(&GiveV1 {
                format: ENVELOPE_FORMAT_V1,
                card: card.as_bytes().to_vec(),
                recipient: recipient.0,
                time,
                event: event.map(str::to_owned),
                nonce,
            })
            .map_err(too_large)?
        } else {
            check_links(links)?;
            encode(&GiveV2 {
                format: ENVELOPE_FORMAT_V2,
                card: card.as_bytes().to_vec(),
                recipient: recipient.0,
                time,
                event: event.map(str::to_owned),
                nonce,
                links: links.to_vec(),
            })
            .map_err(too_large)?
        };
        let sig = identity.sign(GIVE_LABEL, &bytes);
        bytes.extend_from_slice(&sig);
        if bytes.len() > MAX_ENVELOPE_BYTES {
            return Err(SignError::TooLarge {
                len: bytes.len(),
                max: MAX_ENVELOPE_BYTES,
            });
        }
        Ok(Self {
            card: card.clone(),
            recipient,
            time,
            event: event.map(str::to_owned),
            nonce,
            links: links.to_vec(),
            bytes,
        })
    }

    /// Decodes an envelope, verifies the card inside and the envelope signature by the card's key.
    /// Whether it is meant for this connection and this moment is [`Envelope::check`].
    pub fn decode(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        let (body, body_bytes, sig) = match bytes.first() {
            Some(&ENVELOPE_FORMAT_V2) => {
                let (b, body_bytes, sig) =
                    decode_framed::<GiveV2>(bytes, MAX_ENVELOPE_BYTES, ENVELOPE_FORMAT_V2)?;
                let body = GiveV1 {
                    format: b.format,
                    card: b.card,
                    recipient: b.recipient,
                    time: b.time,
                    event: b.event,
                    nonce: b.nonce,
                };
                ((body, b.links), body_bytes, sig)
            }
            _ => {
                let (b, body_bytes, sig) =
                    decode_framed::<GiveV1>(bytes, MAX_ENVELOPE_BYTES, ENVELOPE_FORMAT_V1)?;
                ((b, Vec::new()), body_bytes, sig)
            }
        };
        let (body, links) = body;
        let card = SignedCard::decode(&body.card).map_err(EnvelopeError::Card)?;
        if let Some(e) = &body.event {
            check_event(e)?;
        }
        if body.format == ENVELOPE_FORMAT_V2 {
            check_links(&links)?;
        }
        card.key().verify(GIVE_LABEL, body_bytes, &sig)?;
        Ok(Self {
            card,
            recipient: PublicKey(body.recipient),
            time: body.time,
            event: body.event,
            nonce: body.nonce,
            links,
            bytes: bytes.to_vec(),
        })
    }

    /// Checks that the envelope came from the card's owner (`sender` is the key authenticated by
    /// the connection), is addressed to `me`, and was signed within `max_skew` seconds of `now`.
    pub fn check(
        &self,
        sender: &PublicKey,
        me: &PublicKey,
        now: u64,
        max_skew: u64,
    ) -> Result<(), CheckError> {
        let giver = self.card.key();
        if giver != *sender {
            return Err(CheckError::WrongSender {
                giver,
                sender: *sender,
            });
        }
        if self.recipient != *me {
            return Err(CheckError::WrongRecipient {
                recipient: self.recipient,
                me: *me,
            });
        }
        if self.time < now.saturating_sub(max_skew) {
            return Err(CheckError::Stale {
                time: self.time,
                now,
            });
        }
        if self.time > now.saturating_add(max_skew) {
            return Err(CheckError::FromFuture {
                time: self.time,
                now,
            });
        }
        Ok(())
    }

    /// The card given.
    pub fn card(&self) -> &SignedCard {
        &self.card
    }
    /// Who gave it: the card's key, which signed the envelope.
    pub fn giver(&self) -> PublicKey {
        self.card.key()
    }
    /// Whom it was given to.
    pub fn recipient(&self) -> PublicKey {
        self.recipient
    }
    /// When it was given, Unix seconds by the giver's clock.
    pub fn time(&self) -> u64 {
        self.time
    }
    /// The event the two met at, as the giver named it. Attacker-controlled text.
    pub fn event(&self) -> Option<&str> {
        self.event.as_deref()
    }
    pub fn nonce(&self) -> [u8; NONCE_LEN] {
        self.nonce
    }
    /// The links the giver gave with the card (empty in a format-1 envelope): opaque bytes here,
    /// decoded by `meishi_event::links`. proto-spec/exchange.md#links
    pub fn links(&self) -> &[u8] {
        &self.links
    }
    /// The exact signed bytes, as received or as signed.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
    /// The 64-byte signature at the end of the bytes.
    pub fn signature(&self) -> &[u8] {
        &self.bytes[self.bytes.len() - SIGNATURE_LEN..]
    }
}

/// A verified teaser: the opt-in name and headline a peer shows before anyone swaps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedTeaser {
    key: PublicKey,
    issued_at: u64,
    name: String,
    headline: Option<String>,
    relays: Vec<Vec<u8>>,
    bytes: Vec<u8>,
}

/// Bytes of the varint encoding of `n` (proto-spec/exchange.md#conventions).
const fn varint_len(n: u64) -> usize {
    if n < 251 {
        1
    } else if n <= u16::MAX as u64 {
        3
    } else if n <= u32::MAX as u64 {
        5
    } else {
        9
    }
}

/// The largest teaser there can be: format 2 with the largest `issued_at` (9 bytes), the
/// longest name (128 bytes) and headline (280), and four relay ids of 64 bytes. 780 bytes:
/// 1 + 32 + 9 + (1 + 128) + (1 + 3 + 280) + (1 + 4 × (1 + 64)) + 64.
pub const LARGEST_TEASER: usize = 1
    + 32
    + varint_len(u64::MAX)
    + varint_len(MAX_NAME as u64)
    + MAX_NAME
    + 1
    + varint_len(MAX_NOTE as u64)
    + MAX_NOTE
    + varint_len(MAX_TEASER_RELAYS as u64)
    + MAX_TEASER_RELAYS * (varint_len(MAX_RELAY_ID as u64) + MAX_RELAY_ID)
    + SIGNATURE_LEN;

// Every valid teaser fits the limit (780 ≤ 800 bytes), and the limit fits what an event board
// seals: `meishi_event::MAX_SEALED_PLAINTEXT` is 1,024 bytes (sealed, 800 + 29 = 829 ≤ 1,053).
// meishi-card cannot name meishi-event (it is the leaf crate), hence the literal.
const _: () = assert!(LARGEST_TEASER <= MAX_TEASER_BYTES);
const _: () = assert!(MAX_TEASER_BYTES <= 1024);

/// proto-spec/exchange.md#format-2-relay-hints: 1 to 4 ids, each 1 to 64 bytes, no id twice.
fn check_relays(relays: &[Vec<u8>]) -> Result<(), RelayError> {
    if relays.is_empty() {
        return Err(RelayError::NoRelays);
    }
    if relays.len() > MAX_TEASER_RELAYS {
        return Err(RelayError::TooMany {
            count: relays.len(),
            max: MAX_TEASER_RELAYS,
        });
    }
    for (index, id) in relays.iter().enumerate() {
        if id.is_empty() || id.len() > MAX_RELAY_ID {
            return Err(RelayError::BadId {
                index,
                len: id.len(),
                max: MAX_RELAY_ID,
            });
        }
    }
    for (second, id) in relays.iter().enumerate() {
        if let Some(first) = relays[..second].iter().position(|other| other == id) {
            return Err(RelayError::Duplicate { first, second });
        }
    }
    Ok(())
}

fn check_teaser(name: &str, headline: Option<&str>) -> Result<(), FieldError> {
    // The same rules as the card's name and headline note. proto-spec/card.md#limits
    let mut card = Card::new(name);
    card.note = headline.map(str::to_owned);
    card.validate()
}

impl SignedTeaser {
    /// Signs a teaser for `identity` at `issued_at` (Unix seconds).
    pub fn sign(
        identity: &Identity,
        issued_at: u64,
        name: &str,
        headline: Option<&str>,
    ) -> Result<Self, SignError> {
        Self::sign_with_relays(identity, issued_at, name, headline, &[])
    }

    /// [`SignedTeaser::sign`] with relay hints (proto-spec/exchange.md#format-2-relay-hints): the peer
    /// ids, as bytes, of the relays `identity` keeps its reservations on. A format-2 teaser when
    /// `relays` is not empty, format 1 when it is.
    pub fn sign_with_relays(
        identity: &Identity,
        issued_at: u64,
        name: &str,
        headline: Option<&str>,
        relays: &[Vec<u8>],
    ) -> Result<Self, SignError> {
        check_teaser(name, headline)?;
        let key = identity.public();
        let too_large = |_| SignError::TooLarge {
            len: usize::MAX,
            max: MAX_TEASER_BYTES,
        };
        let mut bytes = if relays.is_empty() {
            encode(&TeaserV1 {
                format: ENVELOPE_FORMAT_V1,
                key: key.0,
                issued_at,
                name: name.to_owned(),
                headline: headline.map(str::to_owned),
            })
            .map_err(too_large)?
        } else {
            check_relays(relays)?;
            encode(&TeaserV2 {
                format: TEASER_FORMAT_V2,
                key: key.0,
                issued_at,
                name: name.to_owned(),
                headline: headline.map(str::to_owned),
                relays: relays.to_vec(),
            })
            .map_err(too_large)?
        };
        let sig = identity.sign(TEASER_LABEL, &bytes);
        bytes.extend_from_slice(&sig);
        if bytes.len() > MAX_TEASER_BYTES {
            return Err(SignError::TooLarge {
                len: bytes.len(),
                max: MAX_TEASER_BYTES,
            });
        }
        Ok(Self {
            key,
            issued_at,
            name: name.to_owned(),
            headline: headline.map(str::to_owned),
            relays: relays.to_vec(),
            bytes,
        })
    }

    /// Decodes a teaser (format 1, or format 2 with relay hints) and verifies its signature by
    /// the key it names.
    pub fn decode(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        let (body, body_bytes, sig) = match bytes.first() {
            Some(&TEASER_FORMAT_V2) => {
                let (b, body_bytes, sig) =
                    decode_framed::<TeaserV2>(bytes, MAX_TEASER_BYTES, TEASER_FORMAT_V2)?;
                let body = TeaserV1 {
                    format: b.format,
                    key: b.key,
                    issued_at: b.issued_at,
                    name: b.name,
                    headline: b.headline,
                };
                ((body, b.relays), body_bytes, sig)
            }
            _ => {
                let (b, body_bytes, sig) =
                    decode_framed::<TeaserV1>(bytes, MAX_TEASER_BYTES, ENVELOPE_FORMAT_V1)?;
                ((b, Vec::new()), body_bytes, sig)
            }
        };
        let (body, relays) = body;
        check_teaser(&body.name, body.headline.as_deref())?;
        if body.format == TEASER_FORMAT_V2 {
            check_relays(&relays)?;
        }
        let key = PublicKey(body.key);
        key.verify(TEASER_LABEL, body_bytes, &sig)?;
        Ok(Self {
            key,
            issued_at: body.issued_at,
            name: body.name,
            headline: body.headline,
            relays,
            bytes: bytes.to_vec(),
        })
    }

    /// Whose teaser it is. Compare with the peer that served it.
    pub fn key(&self) -> PublicKey {
        self.key
    }
    pub fn issued_at(&self) -> u64 {
        self.issued_at
    }
    /// Attacker-controlled text: show through [`crate::display_safe`].
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Attacker-controlled text: show through [`crate::display_safe`].
    pub fn headline(&self) -> Option<&str> {
        self.headline.as_deref()
    }
    /// The relays the owner keeps its reservations on (empty in a format-1 teaser): each a
    /// libp2p peer id as bytes, opaque here. Signed by the owner, so no carrier can change them;
    /// a reader uses them only to choose among relays it already knows for the event, ignoring
    /// the others. proto-spec/exchange.md#format-2-relay-hints
    pub fn relays(&self) -> &[Vec<u8>] {
        &self.relays
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// Encodes an unsigned envelope body without checks: for vector generators and tests that build
/// deliberately broken envelopes. Not for production use.
#[doc(hidden)]
pub fn encode_give_body_for_tests(
    card: &[u8],
    recipient: &PublicKey,
    time: u64,
    event: Option<&str>,
    nonce: [u8; NONCE_LEN],
) -> Vec<u8> {
    let body = GiveV1 {
        format: ENVELOPE_FORMAT_V1,
        card: card.to_vec(),
        recipient: recipient.0,
        time,
        event: event.map(str::to_owned),
        nonce,
    };
    encode(&body).unwrap_or_default()
}

/// Encodes an unsigned teaser body without checks: format 1 when `relays` is `None`, else
/// format 2 with exactly those relays (even none). For vector generators and tests that build
/// deliberately broken teasers. Not for production use.
#[doc(hidden)]
pub fn encode_teaser_body_for_tests(
    key: &PublicKey,
    issued_at: u64,
    name: &str,
    headline: Option<&str>,
    relays: Option<&[Vec<u8>]>,
) -> Vec<u8> {
    let encoded = match relays {
        None => encode(&TeaserV1 {
            format: ENVELOPE_FORMAT_V1,
            key: key.0,
            issued_at,
            name: name.to_owned(),
            headline: headline.map(str::to_owned),
        }),
        Some(relays) => encode(&TeaserV2 {
            format: TEASER_FORMAT_V2,
            key: key.0,
            issued_at,
            name: name.to_owned(),
            headline: headline.map(str::to_owned),
            relays: relays.to_vec(),
        }),
    };
    encoded.unwrap_or_default()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test fails by panicking")]
mod tests {
    use super::*;

    const T0: u64 = 1_700_000_000;

    fn ada() -> Identity {
        Identity::from_seed(&[1; 32])
    }
    fn bob() -> Identity {
        Identity::from_seed(&[2; 32])
    }
    fn card_of(id: &Identity) -> SignedCard {
        SignedCard::sign(id, 3, T0, &Card::new("Ada Lovelace")).unwrap()
    }
    fn envelope() -> Envelope {
        Envelope::sign(
            &ada(),
            &card_of(&ada()),
            bob().public(),
            T0,
            Some("RustConf 2026"),
            [9; NONCE_LEN],
        )
        .unwrap()
    }

    fn check(bytes: &[u8], expected: Result<(), &str>) {
        let got = Envelope::decode(bytes).map(|_| ()).map_err(|e| e.kind());
        assert_eq!(got, expected);
    }

    #[test]
    fn links_make_a_format_2_envelope_that_round_trips() {
        let links = vec![1u8; 300];
        let env = Envelope::sign_with_links(
            &ada(),
            &card_of(&ada()),
            bob().public(),
            T0,
            None,
            [3; NONCE_LEN],
            &links,
        )
        .unwrap();
        assert_eq!(env.as_bytes()[0], ENVELOPE_FORMAT_V2);
        let got = Envelope::decode(env.as_bytes()).unwrap();
        assert_eq!(got.links(), links.as_slice());
        assert_eq!(got, env);
        got.check(&ada().public(), &bob().public(), T0, 600)
            .unwrap();
        // Without links it stays format 1, which older readers take.
        assert_eq!(envelope().as_bytes()[0], ENVELOPE_FORMAT_V1);
        assert!(Envelope::decode(envelope().as_bytes())
            .unwrap()
            .links()
            .is_empty());
        // The largest card with the largest links still fits.
        let big = Envelope::sign_with_links(
            &ada(),
            &card_of(&ada()),
            bob().public(),
            T0,
            Some(&"e".repeat(MAX_EVENT)),
            [3; NONCE_LEN],
            &vec![7; MAX_LINKS],
        )
        .unwrap();
        assert!(big.as_bytes().len() <= MAX_ENVELOPE_BYTES);
    }

    #[test]
    fn format_2_refuses_empty_or_oversized_links_and_a_changed_link_byte() {
        let body = |links: Vec<u8>| {
            encode(&GiveV2 {
                format: ENVELOPE_FORMAT_V2,
                card: card_of(&ada()).as_bytes().to_vec(),
                recipient: bob().public().0,
                time: T0,
                event: None,
                nonce: [1; NONCE_LEN],
                links,
            })
            .unwrap()
        };
        let signed = |body: Vec<u8>| {
            let sig = ada().sign(GIVE_LABEL, &body);
            [body, sig.to_vec()].concat()
        };
        check(&signed(body(Vec::new())), Err("bad-field"));
        check(&signed(body(vec![1; MAX_LINKS + 1])), Err("bad-field"));
        let mut good = signed(body(vec![5; 40]));
        check(&good, Ok(()));
        let at = good.len() - SIGNATURE_LEN - 1;
        good[at] ^= 1;
        check(&good, Err("bad-signature"));
        assert!(Envelope::sign_with_links(
            &ada(),
            &card_of(&ada()),
            bob().public(),
            T0,
            None,
            [3; NONCE_LEN],
            &vec![7; MAX_LINKS + 1],
        )
        .is_err());
    }

    #[test]
    fn round_trip_and_check() {
        let env = envelope();
        let got = Envelope::decode(env.as_bytes()).unwrap();
        assert_eq!(got, env);
        assert_eq!(got.event(), Some("RustConf 2026"));
        assert_eq!(
            got.check(&ada().public(), &bob().public(), T0 + 600, 600),
            Ok(())
        );
        assert_eq!(
            got.check(&ada().public(), &bob().public(), T0 - 600, 600),
            Ok(())
        );
    }

    #[test]
    fn check_rules() {
        let env = envelope();
        let (a, b) = (ada().public(), bob().public());
        assert_eq!(
            env.check(&b, &b, T0, 600).unwrap_err().kind(),
            "wrong-sender"
        );
        assert_eq!(
            env.check(&a, &a, T0, 600).unwrap_err().kind(),
            "wrong-recipient"
        );
        assert_eq!(
            env.check(&a, &b, T0 + 601, 600).unwrap_err().kind(),
            "stale"
        );
        assert_eq!(
            env.check(&a, &b, T0 - 601, 600).unwrap_err().kind(),
            "from-future"
        );
        assert_eq!(env.check(&a, &b, 0, u64::MAX), Ok(()));
    }

    #[test]
    fn framing_errors() {
        let env = envelope();
        let b = env.as_bytes();
        check(&[], Err("empty"));
        check(&b[..b.len() - 1], Err("truncated"));
        check(&b[..10], Err("truncated"));
        let mut long = b.to_vec();
        long.push(0);
        check(&long, Err("trailing-bytes"));
        let mut fmt = b.to_vec();
        fmt[0] = 3;
        check(&fmt, Err("unsupported-format"));
        check(&vec![1; MAX_ENVELOPE_BYTES + 1], Err("too-large"));
    }

    #[test]
    fn every_bit_flip_fails() {
        let env = envelope();
        let b = env.as_bytes();
        for i in 0..b.len() {
            for bit in 0..8 {
                let mut m = b.to_vec();
                m[i] ^= 1 << bit;
                assert!(
                    Envelope::decode(&m).is_err(),
                    "flip at byte {i} bit {bit} accepted"
                );
            }
        }
    }

    #[test]
    fn signing_rules() {
        let card = card_of(&ada());
        assert_eq!(
            Envelope::sign(&bob(), &card, bob().public(), T0, None, [0; 16]),
            Err(SignError::NotOwnCard)
        );
        let long = "x".repeat(MAX_EVENT + 1);
        assert!(matches!(
            Envelope::sign(&ada(), &card, bob().public(), T0, Some(&long), [0; 16]),
            Err(SignError::Field(FieldError::TooLong { .. }))
        ));
        assert!(
            Envelope::sign(&ada(), &card, bob().public(), T0, Some("a\u{7}b"), [0; 16]).is_err()
        );
    }

    #[test]
    fn signature_by_another_key_fails() {
        // Bob wraps Ada's card and signs the envelope himself.
        let card = card_of(&ada());
        let mut bytes =
            encode_give_body_for_tests(card.as_bytes(), &bob().public(), T0, None, [0; 16]);
        let sig = bob().sign(GIVE_LABEL, &bytes);
        bytes.extend_from_slice(&sig);
        check(&bytes, Err("bad-signature"));
        // The card label is not the give label.
        let mut bytes =
            encode_give_body_for_tests(card.as_bytes(), &bob().public(), T0, None, [0; 16]);
        let sig = ada().sign(crate::wire::CARD_LABEL, &bytes);
        bytes.extend_from_slice(&sig);
        check(&bytes, Err("bad-signature"));
    }

    #[test]
    fn teaser_round_trip_and_errors() {
        let t = SignedTeaser::sign(&ada(), T0, "Ada", Some("engines")).unwrap();
        let got = SignedTeaser::decode(t.as_bytes()).unwrap();
        assert_eq!(got, t);
        assert_eq!(got.key(), ada().public());
        let mut m = t.as_bytes().to_vec();
        let last = m.len() - 1;
        m[last] ^= 1;
        assert_eq!(
            SignedTeaser::decode(&m).unwrap_err().kind(),
            "bad-signature"
        );
        assert!(SignedTeaser::sign(&ada(), T0, "", None).is_err());
        // A teaser is not an envelope and vice versa.
        assert!(Envelope::decode(t.as_bytes()).is_err());
        assert!(SignedTeaser::decode(envelope().as_bytes()).is_err());
    }

    /// Two relays as their peer ids are: 38 bytes each (an ed25519 key's peer id).
    fn relays() -> Vec<Vec<u8>> {
        vec![
            Identity::from_seed(&[7; 32])
                .public()
                .peer_id_bytes()
                .to_vec(),
            Identity::from_seed(&[8; 32])
                .public()
                .peer_id_bytes()
                .to_vec(),
        ]
    }
    fn teaser_with_relays() -> SignedTeaser {
        SignedTeaser::sign_with_relays(&ada(), T0, "Ada", Some("engines"), &relays()).unwrap()
    }
    fn check_teaser_bytes(bytes: &[u8], expected: Result<(), &str>) {
        let got = SignedTeaser::decode(bytes)
            .map(|_| ())
            .map_err(|e| e.kind());
        assert_eq!(got, expected);
    }
    /// A format-2 body with exactly `relays`, signed by Ada under the teaser label.
    fn signed_v2(relays: &[Vec<u8>]) -> Vec<u8> {
        let body = encode_teaser_body_for_tests(&ada().public(), T0, "Ada", None, Some(relays));
        let sig = ada().sign(TEASER_LABEL, &body);
        [body, sig.to_vec()].concat()
    }

    #[test]
    fn relays_make_a_format_2_teaser_that_round_trips() {
        let t = teaser_with_relays();
        assert_eq!(t.as_bytes()[0], TEASER_FORMAT_V2);
        let got = SignedTeaser::decode(t.as_bytes()).unwrap();
        assert_eq!(got, t);
        assert_eq!(got.relays(), relays().as_slice());
        assert_eq!((got.name(), got.headline()), ("Ada", Some("engines")));
        // The relays are the last field: a count byte, then a length byte and the id for each.
        let v1 = SignedTeaser::sign(&ada(), T0, "Ada", Some("engines")).unwrap();
        assert_eq!(t.as_bytes().len(), v1.as_bytes().len() + 1 + 2 * (1 + 38));
        let body = &t.as_bytes()[..t.as_bytes().len() - SIGNATURE_LEN];
        assert_eq!(
            &body[1..v1.as_bytes().len() - SIGNATURE_LEN],
            &v1.as_bytes()[1..v1.as_bytes().len() - SIGNATURE_LEN]
        );
        let tail = &body[v1.as_bytes().len() - SIGNATURE_LEN..];
        assert_eq!(tail[..2], [2, 38]);
        assert_eq!(tail[2..40], relays()[0][..]);
    }

    #[test]
    fn no_relays_stay_format_1_byte_for_byte() {
        // proto-spec/vectors/exchange/teaser-success, written before format 2 existed.
        const V1: &str = "018a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5cfc00f153650c416461204c6f76656c6163650110506f65746963616c20736369656e6365516b8816314c0a361e8df724abcaf6d2c7eb87595da8311b4bea824aa6c4441f495d878297e1811a7532262ed9ae1d9699c68526030f905da25a5ac6f1874705";
        let t = SignedTeaser::sign_with_relays(
            &ada(),
            T0,
            "Ada Lovelace",
            Some("Poetical science"),
            &[],
        )
        .unwrap();
        let hex: String = t.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, V1);
        assert_eq!(
            t,
            SignedTeaser::sign(&ada(), T0, "Ada Lovelace", Some("Poetical science")).unwrap()
        );
        let got = SignedTeaser::decode(t.as_bytes()).unwrap();
        assert!(got.relays().is_empty());
    }

    #[test]
    fn the_largest_teaser_fits() {
        let ids: Vec<Vec<u8>> = (0..MAX_TEASER_RELAYS as u8)
            .map(|i| vec![i; MAX_RELAY_ID])
            .collect();
        let t = SignedTeaser::sign_with_relays(
            &ada(),
            u64::MAX,
            &"n".repeat(MAX_NAME),
            Some(&"h".repeat(MAX_NOTE)),
            &ids,
        )
        .unwrap();
        assert_eq!(t.as_bytes().len(), LARGEST_TEASER);
        assert_eq!(LARGEST_TEASER, 780);
        check_teaser_bytes(t.as_bytes(), Ok(()));
    }

    #[test]
    fn format_2_refuses_bad_relay_lists() {
        let [r1, r2] = <[Vec<u8>; 2]>::try_from(relays()).unwrap();
        check_teaser_bytes(&signed_v2(std::slice::from_ref(&r1)), Ok(()));
        check_teaser_bytes(&signed_v2(&[vec![0; MAX_RELAY_ID], vec![1]]), Ok(()));
        check_teaser_bytes(&signed_v2(&[]), Err("no-relays"));
        let five: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; 38]).collect();
        check_teaser_bytes(&signed_v2(&five), Err("too-many-relays"));
        check_teaser_bytes(&signed_v2(&five[..4]), Ok(()));
        check_teaser_bytes(
            &signed_v2(&[r1.clone(), r2.clone(), r1.clone()]),
            Err("duplicate-relay"),
        );
        check_teaser_bytes(&signed_v2(&[r1.clone(), Vec::new()]), Err("bad-relay-id"));
        check_teaser_bytes(
            &signed_v2(&[vec![1; MAX_RELAY_ID + 1]]),
            Err("bad-relay-id"),
        );
        // The decoder names the relay that breaks the rule.
        assert_eq!(
            SignedTeaser::decode(&signed_v2(&[r1.clone(), r2.clone(), r2.clone()])),
            Err(EnvelopeError::Relays(RelayError::Duplicate {
                first: 1,
                second: 2
            }))
        );
        // The signer refuses the same lists (an empty one signs format 1 instead).
        let sign = |ids: &[Vec<u8>]| {
            SignedTeaser::sign_with_relays(&ada(), T0, "Ada", None, ids).map_err(|e| match e {
                SignError::Relays(r) => r.kind(),
                _ => "other",
            })
        };
        assert_eq!(sign(&five).unwrap_err(), "too-many-relays");
        assert_eq!(
            sign(&[r1.clone(), r1.clone()]).unwrap_err(),
            "duplicate-relay"
        );
        assert_eq!(sign(&[Vec::new()]).unwrap_err(), "bad-relay-id");
        assert_eq!(
            sign(&[vec![1; MAX_RELAY_ID + 1]]).unwrap_err(),
            "bad-relay-id"
        );
        assert_eq!(sign(&[]).unwrap().as_bytes()[0], ENVELOPE_FORMAT_V1);
    }

    #[test]
    fn a_changed_relay_byte_fails_the_signature() {
        let t = teaser_with_relays();
        let mut b = t.as_bytes().to_vec();
        let last_relay_byte = b.len() - SIGNATURE_LEN - 1;
        b[last_relay_byte] ^= 1;
        check_teaser_bytes(&b, Err("bad-signature"));
        // Every bit of a format-2 teaser is covered.
        let b = t.as_bytes();
        for i in 0..b.len() {
            for bit in 0..8 {
                let mut m = b.to_vec();
                m[i] ^= 1 << bit;
                assert!(
                    SignedTeaser::decode(&m).is_err(),
                    "flip at byte {i} bit {bit} accepted"
                );
            }
        }
    }

    #[test]
    fn format_2_framing_is_canonical() {
        let body =
            encode_teaser_body_for_tests(&ada().public(), T0, "Ada", None, Some(&[vec![9; 38]]));
        let resign = |body: &[u8]| {
            let sig = ada().sign(TEASER_LABEL, body);
            [body, &sig[..]].concat()
        };
        let at = body.len() - 39;
        assert_eq!(body[at - 1..at + 1], [1, 38]);
        // The id length 38 as fb 26 00 (a u16) instead of one byte; signed over those bytes.
        let wide_len = [&body[..at], &[0xfb, 38, 0][..], &body[at + 1..]].concat();
        check_teaser_bytes(&resign(&wide_len), Err("non-canonical"));
        // The count 1 as fb 01 00.
        let wide_count = [&body[..at - 1], &[0xfb, 1, 0][..], &body[at..]].concat();
        check_teaser_bytes(&resign(&wide_count), Err("non-canonical"));
        // A count past the end of the input.
        let long_count = [&body[..at - 1], &[2][..], &body[at..]].concat();
        check_teaser_bytes(&resign(&long_count), Err("truncated"));
        // A format-1 teaser carries no relays: they read as bytes after the signature.
        let mut v1 = resign(&body);
        v1[0] = ENVELOPE_FORMAT_V1;
        check_teaser_bytes(&v1, Err("trailing-bytes"));
        // A format-1 teaser under the format-2 byte: the relay list is read from the
        // signature, which leaves fewer than 64 bytes after the body.
        let v1_body = encode_teaser_body_for_tests(&ada().public(), T0, "Ada", None, None);
        let mut short = resign(&v1_body);
        short[0] = TEASER_FORMAT_V2;
        check_teaser_bytes(&short, Err("truncated"));
        check_teaser_bytes(&[3], Err("unsupported-format"));
        check_teaser_bytes(&vec![2; MAX_TEASER_BYTES + 1], Err("too-large"));
        // A teaser is still not an envelope.
        assert!(Envelope::decode(teaser_with_relays().as_bytes()).is_err());
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]

            /// Any envelope signs, decodes to itself, and checks only for its own recipient
            /// within the window.
            #[test]
            fn envelope_round_trip(
                time in 0u64..(u64::MAX / 2),
                event in proptest::option::of("[a-zA-Z0-9 ]{1,64}"),
                nonce in proptest::array::uniform16(any::<u8>()),
                seq in 0u64..1_000_000,
            ) {
                prop_assume!(event.as_deref().is_none_or(|e| !e.trim().is_empty()));
                let card = SignedCard::sign(&ada(), seq, T0, &Card::new("Ada")).unwrap();
                let env = Envelope::sign(&ada(), &card, bob().public(), time, event.as_deref(), nonce).unwrap();
                let got = Envelope::decode(env.as_bytes()).unwrap();
                prop_assert_eq!(&got, &env);
                prop_assert_eq!(got.check(&ada().public(), &bob().public(), time, 0), Ok(()));
                prop_assert!(got.check(&ada().public(), &ada().public(), time, 0).is_err());
                prop_assert!(got.check(&ada().public(), &bob().public(), time + 601, 600).is_err());
            }

            /// Arbitrary bytes never panic the decoders.
            #[test]
            fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
                let _ = Envelope::decode(&bytes);
                let _ = SignedTeaser::decode(&bytes);
            }

            /// Any list of 1 to 4 distinct relay ids of 1 to 64 bytes signs format 2 and
            /// decodes to itself.
            #[test]
            fn teaser_relays_round_trip(
                ids in proptest::collection::btree_set(proptest::collection::vec(any::<u8>(), 1..=MAX_RELAY_ID), 1..=MAX_TEASER_RELAYS),
                issued_at in any::<u64>(),
            ) {
                let ids: Vec<Vec<u8>> = ids.into_iter().collect();
                let t = SignedTeaser::sign_with_relays(&ada(), issued_at, "Ada", None, &ids).unwrap();
                prop_assert_eq!(t.as_bytes()[0], TEASER_FORMAT_V2);
                let got = SignedTeaser::decode(t.as_bytes()).unwrap();
                prop_assert_eq!(got.relays(), ids.as_slice());
                prop_assert_eq!(&got, &t);
            }

            /// Format-2 bytes cut, extended or changed anywhere never panic the decoder, and
            /// are never accepted as the teaser they were.
            #[test]
            fn mangled_format_2_teasers_never_panic(
                pos in any::<prop::sample::Index>(),
                delta in 1u8..=255,
                cut in any::<prop::sample::Index>(),
                tail in proptest::collection::vec(any::<u8>(), 0..64),
            ) {
                let t = teaser_with_relays();
                let mut b = t.as_bytes().to_vec();
                let i = pos.index(b.len());
                b[i] = b[i].wrapping_add(delta);
                prop_assert!(SignedTeaser::decode(&b).is_err());
                let mut c = t.as_bytes()[..cut.index(t.as_bytes().len())].to_vec();
                c.extend_from_slice(&tail);
                prop_assert!(SignedTeaser::decode(&c).is_err() || c == t.as_bytes());
                // The body with any bytes for a relay list, signed: rejected or read, no panic.
                let v1 = encode_teaser_body_for_tests(&ada().public(), T0, "Ada", None, None);
                let mut body = v1.clone();
                body[0] = TEASER_FORMAT_V2;
                body.extend_from_slice(&tail);
                let sig = ada().sign(TEASER_LABEL, &body);
                let _ = SignedTeaser::decode(&[body, sig.to_vec()].concat());
            }

            /// Any change to a valid envelope's bytes is rejected.
            #[test]
            fn any_byte_change_fails(pos in any::<prop::sample::Index>(), delta in 1u8..=255) {
                let env = envelope();
                let mut b = env.as_bytes().to_vec();
                let i = pos.index(b.len());
                b[i] = b[i].wrapping_add(delta);
                prop_assert!(Envelope::decode(&b).is_err());
            }
        }
    }
}
