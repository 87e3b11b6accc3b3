//! The signed messages of an introduction (double opt-in). proto-spec/intro.md
//!
//! Carol (the **introducer**) introduces two of her contacts, Ada and Bob. She ASKs Bob whether he
//! wants to meet Ada; Bob ACCEPTs (with his give envelope addressed to Ada) or DECLINEs; if he
//! accepted she asks Ada the same way; if both accepted she DELIVERs each one's envelope to the
//! other. Messages travel days apart through drop boxes; every one is signed by its author, names
//! the session, the author, the recipient (`to`), the hash of the message it answers (`prev`) and
//! when the session expires. This module is the codec: what a message holds and which bytes are
//! one. Whether a message is expected now is the state machine's question
//! (proto-spec/intro.md#state-machine), which needs a clock and stored sessions.
//!
//! A message is `body || signature` like the card and the give envelope
//! (proto-spec/card.md#encoding): `body` is the bincode 2.0.1 standard encoding of a private wire
//! struct whose first field is a version byte, decoders reject every non-canonical form by
//! re-encoding and comparing, and the signature is by the author's identity key over
//! [`INTRO_LABEL`] and the body.
//!
//! ```
//! use meishi_card::{Card, Identity, SignedCard};
//! use meishi_card::envelope::Envelope;
//! use meishi_card::intro::{IntroBody, IntroMessage, INTRO_TTL_SECS, NO_PREV};
//!
//! let (carol, ada, bob) = (
//!     Identity::from_seed(&[3; 32]),
//!     Identity::from_seed(&[1; 32]),
//!     Identity::from_seed(&[2; 32]),
//! );
//! let now = 1_700_000_000;
//! let session = [7; 16];
//! let ask = IntroMessage::sign(&carol, session, bob.public(), NO_PREV, now + INTRO_TTL_SECS,
//!     IntroBody::Ask { about: ada.public(), name: "Ada".into(), headline: None, note: None },
//! ).unwrap();
//!
//! // Bob reads the ASK and accepts: his envelope for Ada goes back to Carol, chained to the ASK.
//! let got = IntroMessage::decode(ask.as_bytes()).unwrap();
//! let card = SignedCard::sign(&bob, 1, now, &Card::new("Bob")).unwrap();
//! let env = Envelope::sign(&bob, &card, ada.public(), now, None, [9; 16]).unwrap();
//! let accept = IntroMessage::sign(&bob, got.session(), got.author(), got.hash(),
//!     got.expires_at(), IntroBody::Accept { envelope: env }).unwrap();
//! assert_eq!(IntroMessage::decode(accept.as_bytes()).unwrap().prev(), ask.hash());
//! ```

use bincode::config::{self, Config};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::envelope::{Envelope, EnvelopeError, MAX_ENVELOPE_BYTES};
use crate::key::{Identity, PublicKey, SignatureError};
use crate::model::{Card, FieldError};
use crate::wire::{Malformed, SIGNATURE_LEN};

/// Domain-separation label of the intro signature. proto-spec/intro.md#signature
pub const INTRO_LABEL: &[u8] = b"meishi/intro/v1\0";
/// The only message version this version reads. proto-spec/intro.md#message
pub const INTRO_V1: u8 = 1;
/// Length of a session id. proto-spec/intro.md#message
pub const SESSION_LEN: usize = 16;
/// Longest introducer's note, in bytes of UTF-8. proto-spec/intro.md#limits
pub const MAX_INTRO_NOTE: usize = 280;
/// The fixed part of a message: version, session, author, to, prev, the longest `expires_at`
/// varint (9), kind, the longest payload length varint that fits (3), and the signature.
/// proto-spec/intro.md#limits
const MAX_HEADER_BYTES: usize = 1 + SESSION_LEN + 32 * 3 + 9 + 1 + 3 + SIGNATURE_LEN;
/// Largest encoded message: the header and the largest envelope, with room to spare for a
/// longer envelope format. proto-spec/intro.md#limits
pub const MAX_INTRO_BYTES: usize = MAX_ENVELOPE_BYTES + 256;
/// How long a session lives after its first ASK: `expires_at` is the ASK's time plus this.
/// proto-spec/intro.md#rules
pub const INTRO_TTL_SECS: u64 = 14 * 24 * 3600;

/// SHA-256 of a message's exact bytes: what `prev` holds. proto-spec/intro.md#message
pub type IntroHash = [u8; 32];
/// The `prev` of a message that answers nothing (the introducer's ASK).
pub const NO_PREV: IntroHash = [0; 32];

// The largest envelope fits with its header; an ASK is far smaller (the test `the_largest_messages_fit`).
const _: () = assert!(MAX_HEADER_BYTES + MAX_ENVELOPE_BYTES <= MAX_INTRO_BYTES);
// The payload length is at most a 3-byte varint (FB and a u16), as MAX_HEADER_BYTES assumes.
const _: () = assert!(MAX_INTRO_BYTES <= u16::MAX as usize);

/// The kind bytes. proto-spec/intro.md#message
const KIND_ASK: u8 = 1;
const KIND_ACCEPT: u8 = 2;
const KIND_DECLINE: u8 = 3;
const KIND_DELIVER: u8 = 4;

/// bincode's decode limit counts claims, not input bytes: a varint claims 8 bytes, a length
/// claims what it announces. Twice the input limit covers any valid message; a claim beyond it
/// runs past the end of an input within [`MAX_INTRO_BYTES`], so it is reported as truncated.
const DECODE_LIMIT: usize = 2 * MAX_INTRO_BYTES;

fn bincode_config() -> impl Config {
    config::standard()
        .with_little_endian()
        .with_variable_int_encoding()
        .with_limit::<DECODE_LIMIT>()
}

/// Field order is the byte layout: never reorder. proto-spec/intro.md#message
#[derive(Serialize, Deserialize)]
struct IntroV1 {
    version: u8,
    session: [u8; SESSION_LEN],
    author: [u8; 32],
    to: [u8; 32],
    prev: [u8; 32],
    expires_at: u64,
    kind: u8,
    #[serde(deserialize_with = "byte_buf")]
    payload: Vec<u8>,
}

/// The payload of an ASK. Field order is the byte layout: never reorder.
/// proto-spec/intro.md#ask
#[derive(Serialize, Deserialize)]
struct AskV1 {
    about: [u8; 32],
    name: String,
    headline: Option<String>,
    note: Option<String>,
}

/// Reads a byte string as bincode's `Vec<u8>`, which checks the claimed length against the
/// decode limit before allocating (serde's `Vec<u8>` would reserve up to 1 MiB for the claim).
/// The bytes are the same as a `Vec<u8>` serialized by serde: a varint length and the bytes.
fn byte_buf<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    struct Bytes;
    impl serde::de::Visitor<'_> for Bytes {
        type Value = Vec<u8>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a byte string")
        }
        fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(v)
        }
        fn visit_bytes<E>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }
    }
    d.deserialize_byte_buf(Bytes)
}

/// What a message says. proto-spec/intro.md#message
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IntroBody {
    /// Introducer to one party: do you want to meet `about`? `name` and `headline` are as on
    /// `about`'s card (the teaser rules), `note` is the introducer's own words. Attacker-controlled
    /// text: show it through [`crate::display_safe`].
    Ask {
        about: PublicKey,
        name: String,
        headline: Option<String>,
        note: Option<String>,
    },
    /// Party to introducer: yes, and here is my give envelope for the other party.
    Accept { envelope: Envelope },
    /// Party to introducer: no. Never forwarded.
    Decline,
    /// Introducer to one party: the other party's envelope, addressed to you.
    Deliver { envelope: Envelope },
}

impl IntroBody {
    /// The kind's name: `ask`, `accept`, `decline` or `deliver`.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Self::Ask { .. } => "ask",
            Self::Accept { .. } => "accept",
            Self::Decline => "decline",
            Self::Deliver { .. } => "deliver",
        }
    }

    fn kind_byte(&self) -> u8 {
        match self {
            Self::Ask { .. } => KIND_ASK,
            Self::Accept { .. } => KIND_ACCEPT,
            Self::Decline => KIND_DECLINE,
            Self::Deliver { .. } => KIND_DELIVER,
        }
    }
}

/// Why bytes are not a valid intro message. Each variant is one `expect:` outcome of the test
/// vectors in proto-spec/vectors/intro/ (see [`IntroError::kind`]), in the order a decoder checks
/// them (proto-spec/intro.md#decoding).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IntroError {
    #[error("intro message is empty")]
    Empty,
    #[error("intro message is {len} bytes; the limit is {max}")]
    TooLarge { len: usize, max: usize },
    #[error("intro message version {0} is not supported by this version (it reads version 1); update meishi")]
    UnsupportedVersion(u8),
    #[error("intro message is truncated: it ends inside the body or the 64-byte signature")]
    Truncated,
    #[error("intro message is malformed: {0}")]
    Malformed(Malformed),
    #[error("intro message has {0} bytes after the signature")]
    TrailingBytes(usize),
    #[error("intro message encoding is not canonical (a non-minimal integer or length)")]
    NonCanonical,
    #[error("intro message kind {0} is unknown to this version")]
    UnknownKind(u8),
    #[error("intro message payload is invalid: {0}")]
    BadPayload(#[source] PayloadError),
    #[error("intro message has an invalid field: {0}")]
    Field(#[from] FieldError),
    #[error("intro message contradicts itself: {0}")]
    Inconsistent(#[from] Inconsistency),
    #[error("intro message signature is invalid: {0}")]
    Signature(#[from] SignatureError),
}

impl IntroError {
    /// The error's name in the `expect:` line of the test vectors.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::TooLarge { .. } => "too-large",
            Self::UnsupportedVersion(_) => "unsupported-version",
            Self::Truncated => "truncated",
            Self::Malformed(_) => "malformed",
            Self::TrailingBytes(_) => "trailing-bytes",
            Self::NonCanonical => "non-canonical",
            Self::UnknownKind(_) => "unknown-kind",
            Self::BadPayload(_) => "bad-payload",
            Self::Field(_) => "bad-field",
            Self::Inconsistent(_) => "inconsistent",
            Self::Signature(_) => "bad-signature",
        }
    }
}

/// What is wrong with a payload (`bad-payload`). proto-spec/intro.md#decoding
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    #[error("the ASK payload ends early")]
    Truncated,
    #[error("the ASK payload is malformed: {0}")]
    Malformed(Malformed),
    #[error("the ASK payload has {0} bytes after its last field")]
    TrailingBytes(usize),
    #[error("the ASK payload encoding is not canonical")]
    NonCanonical,
    #[error("a DECLINE carries no payload, this one has {0} bytes")]
    NotEmpty(usize),
    #[error("the envelope is invalid: {0}")]
    Envelope(#[source] EnvelopeError),
}

/// Fields that are each valid but do not belong together (`inconsistent`).
/// proto-spec/intro.md#decoding
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Inconsistency {
    #[error("the message is addressed to its own author")]
    ToAuthor,
    #[error("the ASK is about {about:?}, one of the two parties of the message")]
    AskAboutParty { about: PublicKey },
    #[error("the ACCEPT carries an envelope given by {giver:?}, not by its author")]
    AcceptNotOwnEnvelope { giver: PublicKey },
    #[error("the ACCEPT's envelope is addressed to {recipient:?}, one of the two parties of the message, not to the person introduced")]
    AcceptEnvelopeToParty { recipient: PublicKey },
    #[error("the DELIVER carries an envelope addressed to {recipient:?}, not to the message's recipient")]
    DeliverNotForRecipient { recipient: PublicKey },
    #[error("the DELIVER carries an envelope given by {giver:?}, one of the two parties of the message, not by the person introduced")]
    DeliverEnvelopeFromParty { giver: PublicKey },
}

/// Why a message could not be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IntroSignError {
    #[error(transparent)]
    Field(#[from] FieldError),
    #[error(transparent)]
    Inconsistent(#[from] Inconsistency),
    #[error("the message would be {len} bytes; the limit is {max}")]
    TooLarge { len: usize, max: usize },
}

/// A verified intro message and its exact bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntroMessage {
    session: [u8; SESSION_LEN],
    author: PublicKey,
    to: PublicKey,
    prev: IntroHash,
    expires_at: u64,
    body: IntroBody,
    bytes: Vec<u8>,
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, bincode::error::EncodeError> {
    bincode::serde::encode_to_vec(value, bincode_config())
}

/// bincode's decode errors as the malformed value they are (the card's mapping,
/// proto-spec/card.md#encoding); `None` for "needs more bytes than remain".
fn malformed(e: bincode::error::DecodeError) -> Option<Malformed> {
    use bincode::error::DecodeError as E;
    match e {
        // A length beyond the limit, or beyond usize on a 32-bit target, cannot fit in the input.
        E::UnexpectedEnd { .. } | E::LimitExceeded | E::OutsideUsizeRange(_) => None,
        E::InvalidIntegerType { .. } => Some(Malformed::IntegerMarker),
        E::UnexpectedVariant { found, .. } => Some(Malformed::OptionTag(found)),
        E::Utf8 { .. } => Some(Malformed::Utf8),
        _ => Some(Malformed::Other),
    }
}

/// The teaser's rules for `name` and `headline` (the card's name and note rules,
/// proto-spec/card.md#limits); a headline error names the field `headline`.
fn check_teaser(name: &str, headline: Option<&str>) -> Result<(), FieldError> {
    Card::new(name).validate()?;
    if let Some(h) = headline {
        let mut card = Card::new("-");
        card.note = Some(h.to_owned());
        card.validate().map_err(|e| match e {
            FieldError::TooLong { len, max, .. } => FieldError::TooLong {
                field: "headline",
                len,
                max,
            },
            FieldError::EmptyValue { .. } => FieldError::EmptyValue { field: "headline" },
            FieldError::ControlCharacter { code, .. } => FieldError::ControlCharacter {
                field: "headline",
                code,
            },
            other => other,
        })?;
    }
    Ok(())
}

/// The introducer's note: at most [`MAX_INTRO_NOTE`] bytes, not only white space, no control
/// character but the line feed (a note may have paragraphs). proto-spec/intro.md#ask
fn check_note(note: &str) -> Result<(), FieldError> {
    const FIELD: &str = "note";
    if note.len() > MAX_INTRO_NOTE {
        return Err(FieldError::TooLong {
            field: FIELD,
            len: note.len(),
            max: MAX_INTRO_NOTE,
        });
    }
    if note.trim().is_empty() {
        return Err(FieldError::EmptyValue { field: FIELD });
    }
    if let Some(c) = note.chars().find(|&c| c.is_control() && c != '\n') {
        return Err(FieldError::ControlCharacter {
            field: FIELD,
            code: c as u32,
        });
    }
    Ok(())
}

fn check_fields(body: &IntroBody) -> Result<(), FieldError> {
    if let IntroBody::Ask {
        name,
        headline,
        note,
        ..
    } = body
    {
        check_teaser(name, headline.as_deref())?;
        if let Some(n) = note {
            check_note(n)?;
        }
    }
    Ok(())
}

/// The rules that tie the payload to the author and the recipient.
/// proto-spec/intro.md#decoding step 10
fn check_consistency(
    author: &PublicKey,
    to: &PublicKey,
    body: &IntroBody,
) -> Result<(), Inconsistency> {
    if author == to {
        return Err(Inconsistency::ToAuthor);
    }
    let party = |k: &PublicKey| k == author || k == to;
    match body {
        IntroBody::Ask { about, .. } if party(about) => {
            Err(Inconsistency::AskAboutParty { about: *about })
        }
        IntroBody::Accept { envelope } if envelope.giver() != *author => {
            Err(Inconsistency::AcceptNotOwnEnvelope {
                giver: envelope.giver(),
            })
        }
        IntroBody::Accept { envelope } if party(&envelope.recipient()) => {
            Err(Inconsistency::AcceptEnvelopeToParty {
                recipient: envelope.recipient(),
            })
        }
        IntroBody::Deliver { envelope } if envelope.recipient() != *to => {
            Err(Inconsistency::DeliverNotForRecipient {
                recipient: envelope.recipient(),
            })
        }
        IntroBody::Deliver { envelope } if party(&envelope.giver()) => {
            Err(Inconsistency::DeliverEnvelopeFromParty {
                giver: envelope.giver(),
            })
        }
        _ => Ok(()),
    }
}

/// The payload bytes of a body. proto-spec/intro.md#message
fn encode_payload(body: &IntroBody) -> Result<Vec<u8>, bincode::error::EncodeError> {
    match body {
        IntroBody::Ask {
            about,
            name,
            headline,
            note,
        } => encode(&AskV1 {
            about: about.0,
            name: name.clone(),
            headline: headline.clone(),
            note: note.clone(),
        }),
        IntroBody::Accept { envelope } | IntroBody::Deliver { envelope } => {
            Ok(envelope.as_bytes().to_vec())
        }
        IntroBody::Decline => Ok(Vec::new()),
    }
}

/// Decodes the payload of a known kind. proto-spec/intro.md#decoding step 9
fn decode_payload(kind: u8, payload: &[u8]) -> Result<IntroBody, PayloadError> {
    match kind {
        KIND_ASK => {
            let (ask, used): (AskV1, usize) =
                bincode::serde::decode_from_slice(payload, bincode_config()).map_err(|e| {
                    malformed(e).map_or(PayloadError::Truncated, PayloadError::Malformed)
                })?;
            if used != payload.len() {
                return Err(PayloadError::TrailingBytes(payload.len() - used));
            }
            if encode(&ask).ok().as_deref() != Some(payload) {
                return Err(PayloadError::NonCanonical);
            }
            Ok(IntroBody::Ask {
                about: PublicKey(ask.about),
                name: ask.name,
                headline: ask.headline,
                note: ask.note,
            })
        }
        KIND_ACCEPT | KIND_DELIVER => {
            let envelope = Envelope::decode(payload).map_err(PayloadError::Envelope)?;
            Ok(if kind == KIND_ACCEPT {
                IntroBody::Accept { envelope }
            } else {
                IntroBody::Deliver { envelope }
            })
        }
        _ if payload.is_empty() => Ok(IntroBody::Decline),
        _ => Err(PayloadError::NotEmpty(payload.len())),
    }
}

impl IntroMessage {
    /// Signs a message by `author` to `to` in `session`. `prev` is the hash of the message this
    /// one answers ([`NO_PREV`] for the introducer's first ASK), `expires_at` the session's end
    /// (Unix seconds; the first ASK's time plus [`INTRO_TTL_SECS`], copied by every later
    /// message). Refuses what a decoder would refuse.
    pub fn sign(
        author: &Identity,
        session: [u8; SESSION_LEN],
        to: PublicKey,
        prev: IntroHash,
        expires_at: u64,
        body: IntroBody,
    ) -> Result<Self, IntroSignError> {
        let author_key = author.public();
        check_fields(&body)?;
        check_consistency(&author_key, &to, &body)?;
        let too_large = |_| IntroSignError::TooLarge {
            len: usize::MAX,
            max: MAX_INTRO_BYTES,
        };
        let wire = IntroV1 {
            version: INTRO_V1,
            session,
            author: author_key.0,
            to: to.0,
            prev,
            expires_at,
            kind: body.kind_byte(),
            payload: encode_payload(&body).map_err(too_large)?,
        };
        let mut bytes = encode(&wire).map_err(too_large)?;
        let sig = author.sign(INTRO_LABEL, &bytes);
        bytes.extend_from_slice(&sig);
        if bytes.len() > MAX_INTRO_BYTES {
            return Err(IntroSignError::TooLarge {
                len: bytes.len(),
                max: MAX_INTRO_BYTES,
            });
        }
        Ok(Self {
            session,
            author: author_key,
            to,
            prev,
            expires_at,
            body,
            bytes,
        })
    }

    /// Decodes and verifies a message by every rule of proto-spec/intro.md#decoding, the
    /// envelope inside included. Never panics; allocates at most in proportion to the input,
    /// which is refused over [`MAX_INTRO_BYTES`] before anything is decoded. Whether the
    /// message is expected now (session, state, `prev`, expiry) is the state machine's question.
    pub fn decode(bytes: &[u8]) -> Result<Self, IntroError> {
        if bytes.is_empty() {
            return Err(IntroError::Empty);
        }
        if bytes.len() > MAX_INTRO_BYTES {
            return Err(IntroError::TooLarge {
                len: bytes.len(),
                max: MAX_INTRO_BYTES,
            });
        }
        // The version comes first and is a plain byte (serde u8 is never a varint).
        if bytes[0] != INTRO_V1 {
            return Err(IntroError::UnsupportedVersion(bytes[0]));
        }
        let (wire, used): (IntroV1, usize) =
            bincode::serde::decode_from_slice(bytes, bincode_config())
                .map_err(|e| malformed(e).map_or(IntroError::Truncated, IntroError::Malformed))?;
        let (body_bytes, rest) = bytes.split_at(used);
        if rest.len() < SIGNATURE_LEN {
            return Err(IntroError::Truncated);
        }
        if rest.len() > SIGNATURE_LEN {
            return Err(IntroError::TrailingBytes(rest.len() - SIGNATURE_LEN));
        }
        if encode(&wire).ok().as_deref() != Some(body_bytes) {
            return Err(IntroError::NonCanonical);
        }
        if !(KIND_ASK..=KIND_DELIVER).contains(&wire.kind) {
            return Err(IntroError::UnknownKind(wire.kind));
        }
        let body = decode_payload(wire.kind, &wire.payload).map_err(IntroError::BadPayload)?;
        check_fields(&body)?;
        let (author, to) = (PublicKey(wire.author), PublicKey(wire.to));
        check_consistency(&author, &to, &body)?;
        let sig: [u8; SIGNATURE_LEN] = rest.try_into().map_err(|_| IntroError::Truncated)?;
        author.verify(INTRO_LABEL, body_bytes, &sig)?;
        Ok(Self {
            session: wire.session,
            author,
            to,
            prev: wire.prev,
            expires_at: wire.expires_at,
            body,
            bytes: bytes.to_vec(),
        })
    }

    /// SHA-256 of the exact bytes: the `prev` of the message that answers this one.
    pub fn hash(&self) -> IntroHash {
        Sha256::digest(&self.bytes).into()
    }
    /// The session the message belongs to, chosen at random by the introducer.
    pub fn session(&self) -> [u8; SESSION_LEN] {
        self.session
    }
    /// Who wrote and signed the message.
    pub fn author(&self) -> PublicKey {
        self.author
    }
    /// Whom the message is for.
    pub fn to(&self) -> PublicKey {
        self.to
    }
    /// The hash of the message this one answers; [`NO_PREV`] for an ASK.
    pub fn prev(&self) -> IntroHash {
        self.prev
    }
    /// When the session ends, Unix seconds. Not checked on decoding (there is no clock here).
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }
    pub fn body(&self) -> &IntroBody {
        &self.body
    }
    /// The exact signed bytes, as received or as signed.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
    /// `ask`, `accept`, `decline` or `deliver`.
    pub fn kind_name(&self) -> &'static str {
        self.body.kind_name()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test fails by panicking")]
mod tests {
    use super::*;
    use crate::wire::CARD_LABEL;
    use crate::SignedCard;

    const T0: u64 = 1_700_000_000;
    const EXP: u64 = T0 + INTRO_TTL_SECS;
    const SESSION: [u8; SESSION_LEN] = [0x5e; SESSION_LEN];

    fn ada() -> Identity {
        Identity::from_seed(&[1; 32])
    }
    fn bob() -> Identity {
        Identity::from_seed(&[2; 32])
    }
    fn carol() -> Identity {
        Identity::from_seed(&[3; 32])
    }
    fn dave() -> Identity {
        Identity::from_seed(&[4; 32])
    }

    /// `giver`'s envelope for `recipient`, with links as the other engineer's flow builds them.
    fn envelope(giver: &Identity, recipient: &Identity) -> Envelope {
        let card = SignedCard::sign(giver, 1, T0, &Card::new("Someone")).unwrap();
        Envelope::sign_with_links(
            giver,
            &card,
            recipient.public(),
            T0,
            None,
            [9; 16],
            &[0x4c; 40],
        )
        .unwrap()
    }

    fn ask_body(about: &Identity) -> IntroBody {
        IntroBody::Ask {
            about: about.public(),
            name: "Ada Lovelace".into(),
            headline: Some("Analytical engines".into()),
            note: Some("You two should talk\nabout looms.".into()),
        }
    }

    /// Carol asks Bob about Ada.
    fn ask() -> IntroMessage {
        IntroMessage::sign(
            &carol(),
            SESSION,
            bob().public(),
            NO_PREV,
            EXP,
            ask_body(&ada()),
        )
        .unwrap()
    }
    /// Bob accepts, chained to the ASK.
    fn accept() -> IntroMessage {
        let ask = ask();
        let body = IntroBody::Accept {
            envelope: envelope(&bob(), &ada()),
        };
        IntroMessage::sign(&bob(), SESSION, carol().public(), ask.hash(), EXP, body).unwrap()
    }
    fn decline() -> IntroMessage {
        let ask = ask();
        let body = IntroBody::Decline;
        IntroMessage::sign(&bob(), SESSION, carol().public(), ask.hash(), EXP, body).unwrap()
    }
    /// Carol delivers Ada's envelope to Bob.
    fn deliver() -> IntroMessage {
        let body = IntroBody::Deliver {
            envelope: envelope(&ada(), &bob()),
        };
        let prev = accept().hash();
        IntroMessage::sign(&carol(), SESSION, bob().public(), prev, EXP, body).unwrap()
    }

    fn all() -> [IntroMessage; 4] {
        [ask(), accept(), decline(), deliver()]
    }

    fn check(bytes: &[u8], expected: Result<(), &str>) {
        let got = IntroMessage::decode(bytes)
            .map(|_| ())
            .map_err(|e| e.kind());
        assert_eq!(got, expected);
    }

    /// A raw body, signed by `signer` under the intro label: for cases no signer would make.
    fn raw(signer: &Identity, wire: &IntroV1) -> Vec<u8> {
        let body = encode(wire).unwrap();
        let sig = signer.sign(INTRO_LABEL, &body);
        [body, sig.to_vec()].concat()
    }

    /// The wire struct of a good message, to change one field of.
    fn wire_of(m: &IntroMessage) -> IntroV1 {
        IntroV1 {
            version: INTRO_V1,
            session: m.session(),
            author: m.author().0,
            to: m.to().0,
            prev: m.prev(),
            expires_at: m.expires_at(),
            kind: m.body().kind_byte(),
            payload: encode_payload(m.body()).unwrap(),
        }
    }

    fn ask_payload(
        about: [u8; 32],
        name: &str,
        headline: Option<&str>,
        note: Option<&str>,
    ) -> Vec<u8> {
        encode(&AskV1 {
            about,
            name: name.into(),
            headline: headline.map(Into::into),
            note: note.map(Into::into),
        })
        .unwrap()
    }

    #[test]
    fn every_kind_round_trips() {
        for m in all() {
            let got = IntroMessage::decode(m.as_bytes()).unwrap();
            assert_eq!(got, m);
            assert_eq!(got.as_bytes(), m.as_bytes());
            assert_eq!(got.hash(), m.hash());
            assert!(m.as_bytes().len() <= MAX_INTRO_BYTES);
        }
        let names: Vec<_> = all().iter().map(IntroMessage::kind_name).collect();
        assert_eq!(names, ["ask", "accept", "decline", "deliver"]);
        let a = ask();
        assert_eq!(a.session(), SESSION);
        assert_eq!(a.author(), carol().public());
        assert_eq!(a.to(), bob().public());
        assert_eq!(a.prev(), NO_PREV);
        assert_eq!(a.expires_at(), EXP);
        assert_eq!(a.body(), &ask_body(&ada()));
        // A minimal ASK: no headline, no note.
        let bare = IntroBody::Ask {
            about: ada().public(),
            name: "Ada".into(),
            headline: None,
            note: None,
        };
        let m = IntroMessage::sign(&carol(), SESSION, bob().public(), NO_PREV, 0, bare).unwrap();
        assert_eq!(IntroMessage::decode(m.as_bytes()).unwrap(), m);
    }

    #[test]
    fn a_chain_links_each_answer_to_what_it_answers() {
        let ask = ask();
        let got = IntroMessage::decode(ask.as_bytes()).unwrap();
        // Bob answers what he received; the hash is of the exact bytes.
        let accept = IntroMessage::sign(
            &bob(),
            got.session(),
            got.author(),
            got.hash(),
            got.expires_at(),
            IntroBody::Accept {
                envelope: envelope(&bob(), &ada()),
            },
        )
        .unwrap();
        let accept = IntroMessage::decode(accept.as_bytes()).unwrap();
        assert_eq!(accept.prev(), ask.hash());
        assert_eq!(ask.hash(), <[u8; 32]>::from(Sha256::digest(ask.as_bytes())));
        let deliver = deliver();
        assert_eq!(deliver.prev(), accept.hash());
        assert_ne!(accept.hash(), ask.hash());
        assert_ne!(decline().hash(), accept.hash());
    }

    #[test]
    fn exact_layout_of_a_decline() {
        let m = decline();
        let b = m.as_bytes();
        let mut want = vec![INTRO_V1];
        want.extend_from_slice(&SESSION);
        want.extend_from_slice(&bob().public().0);
        want.extend_from_slice(&carol().public().0);
        want.extend_from_slice(&ask().hash());
        // expires_at: FC and 4 bytes little-endian; kind 3; payload length 0.
        want.push(0xfc);
        want.extend_from_slice(&u32::try_from(EXP).unwrap().to_le_bytes());
        want.extend_from_slice(&[KIND_DECLINE, 0]);
        assert_eq!(&b[..b.len() - SIGNATURE_LEN], &want[..]);
        assert_eq!(b.len(), want.len() + SIGNATURE_LEN);
    }

    #[test]
    fn every_prefix_fails() {
        for m in all() {
            let b = m.as_bytes();
            for n in 0..b.len() {
                let got = IntroMessage::decode(&b[..n]);
                assert!(
                    got.is_err(),
                    "{} prefix of {n} bytes accepted",
                    m.kind_name()
                );
            }
        }
    }

    #[test]
    fn every_bit_flip_fails() {
        for m in all() {
            let b = m.as_bytes();
            for i in 0..b.len() {
                for bit in 0..8 {
                    let mut x = b.to_vec();
                    x[i] ^= 1 << bit;
                    assert!(
                        IntroMessage::decode(&x).is_err(),
                        "{}: flip at byte {i} bit {bit} accepted",
                        m.kind_name()
                    );
                }
            }
        }
    }

    #[test]
    fn framing_errors() {
        let m = ask();
        let b = m.as_bytes();
        check(&[], Err("empty"));
        check(&vec![1; MAX_INTRO_BYTES + 1], Err("too-large"));
        for v in [0, 2, 0xff] {
            let mut x = b.to_vec();
            x[0] = v;
            check(&x, Err("unsupported-version"));
        }
        check(&b[..b.len() - 1], Err("truncated"));
        check(&b[..b.len() - SIGNATURE_LEN], Err("truncated"));
        check(&[b, &[0][..]].concat(), Err("trailing-bytes"));
        // expires_at (after 113 fixed bytes) starting with FE or FF: no valid u64 marker.
        for marker in [0xfe, 0xff] {
            let mut x = b.to_vec();
            x[113] = marker;
            check(&x, Err("malformed"));
        }
        // A payload length of 2^60: truncated, and nothing is allocated for the claim.
        let at = 113 + 5 + 1;
        let mut huge = b[..at].to_vec();
        huge.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0x10]);
        huge.extend_from_slice(&b[at + 1..]);
        check(&huge, Err("truncated"));
    }

    #[test]
    fn a_non_minimal_varint_is_refused_even_when_signed() {
        let m = decline();
        let body = &m.as_bytes()[..m.as_bytes().len() - SIGNATURE_LEN];
        // expires_at FC + 4 bytes rewritten as FD + 8 bytes, re-signed by the author.
        let mut wide = body[..113].to_vec();
        wide.push(0xfd);
        wide.extend_from_slice(&EXP.to_le_bytes());
        wide.extend_from_slice(&body[118..]);
        let sig = bob().sign(INTRO_LABEL, &wide);
        check(&[wide, sig.to_vec()].concat(), Err("non-canonical"));
        // The payload length 0 as FB 00 00.
        let mut wide = body[..body.len() - 1].to_vec();
        wide.extend_from_slice(&[0xfb, 0, 0]);
        let sig = bob().sign(INTRO_LABEL, &wide);
        check(&[wide, sig.to_vec()].concat(), Err("non-canonical"));
    }

    #[test]
    fn unknown_kinds_are_refused() {
        for kind in [0, 5, 0xff] {
            let mut w = wire_of(&decline());
            w.kind = kind;
            check(&raw(&bob(), &w), Err("unknown-kind"));
        }
    }

    #[test]
    fn bad_payloads() {
        let carol_ask = |payload: Vec<u8>| {
            let mut w = wire_of(&ask());
            w.payload = payload;
            raw(&carol(), &w)
        };
        let good = ask_payload(ada().public().0, "Ada", None, None);
        check(&carol_ask(good.clone()), Ok(()));
        check(
            &carol_ask(good[..good.len() - 1].to_vec()),
            Err("bad-payload"),
        );
        check(&carol_ask([&good[..], &[0]].concat()), Err("bad-payload"));
        check(&carol_ask(Vec::new()), Err("bad-payload"));
        // The name's length 3 as FB 03 00.
        let mut wide = good[..32].to_vec();
        wide.extend_from_slice(&[0xfb, 3, 0]);
        wide.extend_from_slice(&good[33..]);
        check(&carol_ask(wide), Err("bad-payload"));
        // An option tag of 2.
        let mut tag = good.clone();
        let n = tag.len();
        tag[n - 1] = 2;
        check(&carol_ask(tag), Err("bad-payload"));
        // Invalid UTF-8 in the name.
        let mut utf = good.clone();
        utf[33] = 0xff;
        check(&carol_ask(utf), Err("bad-payload"));

        // A DECLINE with a payload.
        let mut w = wire_of(&decline());
        w.payload = vec![0];
        check(&raw(&bob(), &w), Err("bad-payload"));
        // An ACCEPT whose envelope is not one, or whose envelope signature fails.
        let mut w = wire_of(&accept());
        w.payload = b"not an envelope".to_vec();
        check(&raw(&bob(), &w), Err("bad-payload"));
        let mut w = wire_of(&accept());
        let n = w.payload.len();
        w.payload[n - 1] ^= 1;
        check(&raw(&bob(), &w), Err("bad-payload"));
        // A DELIVER with nothing in it.
        let mut w = wire_of(&deliver());
        w.payload = Vec::new();
        check(&raw(&carol(), &w), Err("bad-payload"));
        assert!(matches!(
            IntroMessage::decode(&raw(&carol(), &w)),
            Err(IntroError::BadPayload(PayloadError::Envelope(
                EnvelopeError::Empty
            )))
        ));
    }

    #[test]
    fn bad_fields() {
        let a = ada().public().0;
        let cases: [(&str, Option<&str>, Option<&str>, FieldError); 8] = [
            ("", None, None, FieldError::EmptyName),
            (" \t", None, None, FieldError::EmptyName),
            (
                &"n".repeat(129),
                None,
                None,
                FieldError::TooLong {
                    field: "name",
                    len: 129,
                    max: 128,
                },
            ),
            (
                "Ada\u{7}",
                None,
                None,
                FieldError::ControlCharacter {
                    field: "name",
                    code: 7,
                },
            ),
            (
                "Ada",
                Some("a\nb"),
                None,
                FieldError::ControlCharacter {
                    field: "headline",
                    code: 10,
                },
            ),
            (
                "Ada",
                Some(" "),
                None,
                FieldError::EmptyValue { field: "headline" },
            ),
            (
                "Ada",
                None,
                Some(&"x".repeat(MAX_INTRO_NOTE + 1)),
                FieldError::TooLong {
                    field: "note",
                    len: 281,
                    max: 280,
                },
            ),
            (
                "Ada",
                None,
                Some("a\u{1b}[2J"),
                FieldError::ControlCharacter {
                    field: "note",
                    code: 0x1b,
                },
            ),
        ];
        for (name, headline, note, want) in cases {
            let mut w = wire_of(&ask());
            w.payload = ask_payload(a, name, headline, note);
            assert_eq!(
                IntroMessage::decode(&raw(&carol(), &w)),
                Err(IntroError::Field(want.clone())),
                "{name:?} {headline:?} {note:?}"
            );
            let body = IntroBody::Ask {
                about: ada().public(),
                name: name.into(),
                headline: headline.map(Into::into),
                note: note.map(Into::into),
            };
            assert_eq!(
                IntroMessage::sign(&carol(), SESSION, bob().public(), NO_PREV, EXP, body),
                Err(IntroSignError::Field(want))
            );
        }
        // The note's limits are inclusive and it may have paragraphs; only white space is not a note.
        for (note, ok) in [
            ("x".repeat(MAX_INTRO_NOTE), true),
            ("one\n\ntwo".into(), true),
            ("\n \n".into(), false),
            ("tab\there".into(), false),
        ] {
            let mut w = wire_of(&ask());
            w.payload = ask_payload(a, "Ada", None, Some(&note));
            let got = IntroMessage::decode(&raw(&carol(), &w))
                .map(|_| ())
                .map_err(|e| e.kind());
            assert_eq!(got, if ok { Ok(()) } else { Err("bad-field") }, "{note:?}");
        }
    }

    #[test]
    fn inconsistent_messages() {
        let (a, b, c, d) = (ada(), bob(), carol(), dave());
        let expect = |bytes: Vec<u8>, want: Inconsistency| {
            assert_eq!(
                IntroMessage::decode(&bytes),
                Err(IntroError::Inconsistent(want))
            );
        };
        // Addressed to its author.
        let mut w = wire_of(&decline());
        w.to = b.public().0;
        expect(raw(&b, &w), Inconsistency::ToAuthor);
        // An ASK about its author or its recipient.
        for about in [&c, &b] {
            let mut w = wire_of(&ask());
            w.payload = ask_payload(about.public().0, "Ada", None, None);
            expect(
                raw(&c, &w),
                Inconsistency::AskAboutParty {
                    about: about.public(),
                },
            );
        }
        // An ACCEPT carrying someone else's envelope (Dave's, for Ada).
        let mut w = wire_of(&accept());
        w.payload = envelope(&d, &a).as_bytes().to_vec();
        expect(
            raw(&b, &w),
            Inconsistency::AcceptNotOwnEnvelope { giver: d.public() },
        );
        // An ACCEPT whose envelope is addressed to its author or to the introducer.
        for to in [&b, &c] {
            let mut w = wire_of(&accept());
            w.payload = envelope(&b, to).as_bytes().to_vec();
            expect(
                raw(&b, &w),
                Inconsistency::AcceptEnvelopeToParty {
                    recipient: to.public(),
                },
            );
        }
        // A DELIVER whose envelope names someone else (Ada's envelope for Dave, sent to Bob).
        let mut w = wire_of(&deliver());
        w.payload = envelope(&a, &d).as_bytes().to_vec();
        expect(
            raw(&c, &w),
            Inconsistency::DeliverNotForRecipient {
                recipient: d.public(),
            },
        );
        // A DELIVER of an envelope from the introducer or from the recipient itself.
        for giver in [&c, &b] {
            let mut w = wire_of(&deliver());
            w.payload = envelope(giver, &b).as_bytes().to_vec();
            expect(
                raw(&c, &w),
                Inconsistency::DeliverEnvelopeFromParty {
                    giver: giver.public(),
                },
            );
        }
        // Signing refuses the same.
        let body = IntroBody::Deliver {
            envelope: envelope(&a, &d),
        };
        assert_eq!(
            IntroMessage::sign(&c, SESSION, b.public(), NO_PREV, EXP, body),
            Err(IntroSignError::Inconsistent(
                Inconsistency::DeliverNotForRecipient {
                    recipient: d.public()
                }
            ))
        );
        assert_eq!(
            IntroMessage::sign(&b, SESSION, b.public(), NO_PREV, EXP, IntroBody::Decline),
            Err(IntroSignError::Inconsistent(Inconsistency::ToAuthor))
        );
        let body = IntroBody::Accept {
            envelope: envelope(&a, &d),
        };
        assert!(matches!(
            IntroMessage::sign(&b, SESSION, c.public(), NO_PREV, EXP, body),
            Err(IntroSignError::Inconsistent(
                Inconsistency::AcceptNotOwnEnvelope { .. }
            ))
        ));
    }

    #[test]
    fn bad_signatures() {
        let m = accept();
        let w = wire_of(&m);
        // Signed by another key than the author's (Carol forging Bob's answer).
        check(&raw(&carol(), &w), Err("bad-signature"));
        // Another label: the card's, or none.
        let body = encode(&w).unwrap();
        for label in [CARD_LABEL, b"".as_slice()] {
            let sig = bob().sign(label, &body);
            check(&[body.clone(), sig.to_vec()].concat(), Err("bad-signature"));
        }
        // A flipped signature bit.
        let mut x = m.as_bytes().to_vec();
        let n = x.len();
        x[n - 1] ^= 0x80;
        check(&x, Err("bad-signature"));
        // An author key that is no valid point, or is weak: a DECLINE "from" it.
        let mut weak = [0u8; 32];
        weak[0] = 1;
        for (key, want) in [
            ([0xff; 32], SignatureError::InvalidKey),
            (weak, SignatureError::WeakKey),
        ] {
            let mut w = wire_of(&decline());
            w.author = key;
            assert_eq!(
                IntroMessage::decode(&raw(&bob(), &w)),
                Err(IntroError::Signature(want))
            );
        }
    }

    #[test]
    fn every_error_kind_has_its_name() {
        let kinds = [
            IntroError::Empty,
            IntroError::TooLarge { len: 0, max: 0 },
            IntroError::UnsupportedVersion(0),
            IntroError::Truncated,
            IntroError::Malformed(Malformed::Other),
            IntroError::TrailingBytes(1),
            IntroError::NonCanonical,
            IntroError::UnknownKind(0),
            IntroError::BadPayload(PayloadError::NotEmpty(1)),
            IntroError::Field(FieldError::EmptyName),
            IntroError::Inconsistent(Inconsistency::ToAuthor),
            IntroError::Signature(SignatureError::BadSignature),
        ]
        .map(|e| e.kind());
        assert_eq!(
            kinds,
            [
                "empty",
                "too-large",
                "unsupported-version",
                "truncated",
                "malformed",
                "trailing-bytes",
                "non-canonical",
                "unknown-kind",
                "bad-payload",
                "bad-field",
                "inconsistent",
                "bad-signature",
            ]
        );
    }

    #[test]
    fn the_largest_messages_fit() {
        // The longest ASK.
        let body = IntroBody::Ask {
            about: ada().public(),
            name: "n".repeat(crate::limits::MAX_NAME),
            headline: Some("h".repeat(crate::limits::MAX_NOTE)),
            note: Some("x".repeat(MAX_INTRO_NOTE)),
        };
        let m = IntroMessage::sign(
            &carol(),
            SESSION,
            bob().public(),
            [0xff; 32],
            u64::MAX,
            body,
        )
        .unwrap();
        assert!(m.as_bytes().len() < 1024, "{}", m.as_bytes().len());
        // A DELIVER of an envelope with the largest links and event.
        let card = SignedCard::sign(&ada(), 1, T0, &Card::new("Ada")).unwrap();
        let env = Envelope::sign_with_links(
            &ada(),
            &card,
            bob().public(),
            T0,
            Some(&"e".repeat(crate::envelope::MAX_EVENT)),
            [1; 16],
            &vec![7; crate::envelope::MAX_LINKS],
        )
        .unwrap();
        let m = IntroMessage::sign(
            &carol(),
            SESSION,
            bob().public(),
            [0xff; 32],
            u64::MAX,
            IntroBody::Deliver { envelope: env },
        )
        .unwrap();
        assert_eq!(IntroMessage::decode(m.as_bytes()).unwrap(), m);
    }

    /// The committed files of proto-spec/vectors/intro/, written by the testkit's generator.
    #[test]
    fn committed_vectors() {
        use meishi_testkit::{unhex, vectors};
        let files = vectors::read("intro");
        assert!(files.len() >= 40, "{} intro vectors", files.len());
        let mut kinds = std::collections::BTreeSet::new();
        let mut valid = std::collections::BTreeMap::new();
        for (name, text) in files {
            let h = vectors::parse(&text);
            let expect = h["expect"].as_str();
            let bytes = unhex(&h["message"]);
            let got = IntroMessage::decode(&bytes);
            let kind = got.as_ref().map_or_else(IntroError::kind, |_| "success");
            assert_eq!(kind, expect, "{name}: {got:?}");
            kinds.insert(kind);
            let Ok(m) = got else { continue };
            assert_eq!(m.as_bytes(), &bytes[..], "{name}");
            assert_eq!(m.kind_name(), h["kind"], "{name}");
            assert_eq!(unhex(&h["session"]), m.session(), "{name}");
            assert_eq!(m.author().peer_id(), h["author"], "{name}");
            assert_eq!(m.to().peer_id(), h["to"], "{name}");
            assert_eq!(unhex(&h["prev"]), m.prev(), "{name}");
            assert_eq!(h["expires-at"], m.expires_at().to_string(), "{name}");
            assert_eq!(unhex(&h["hash"]), m.hash(), "{name}");
            valid.insert(name, m);
        }
        // Every outcome has at least one vector.
        assert_eq!(kinds.len(), 13, "{kinds:?}");
        // The introduction is one chain: each answer's prev is the hash of what it answers, and
        // each DELIVER carries the envelope of the other party's ACCEPT.
        let read = |name: &str| &valid[name];
        for (first, answer) in [
            ("1-ask-bob", "2-accept-bob"),
            ("3-ask-ada", "4-accept-ada"),
            ("3-ask-ada", "decline-ada"),
            ("2-accept-bob", "5-deliver-bob"),
            ("4-accept-ada", "6-deliver-ada"),
        ] {
            assert_eq!(read(answer).prev(), read(first).hash(), "{answer}");
        }
        let envelope = |name: &str| match read(name).body().clone() {
            IntroBody::Accept { envelope } | IntroBody::Deliver { envelope } => envelope,
            other => panic!("{name}: {other:?}"),
        };
        assert_eq!(envelope("4-accept-ada"), envelope("5-deliver-bob"));
        assert_eq!(envelope("2-accept-bob"), envelope("6-deliver-ada"));
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]

            /// Any ASK signs and decodes to itself.
            #[test]
            fn ask_round_trip(
                session in proptest::array::uniform16(any::<u8>()),
                prev in proptest::array::uniform32(any::<u8>()),
                expires_at: u64,
                name in "[a-zA-Z][a-zA-Z ]{0,40}",
                headline in proptest::option::of("[a-z][a-z ]{0,60}"),
                note in proptest::option::of("[a-z][a-z \n]{0,200}"),
            ) {
                let body = IntroBody::Ask { about: ada().public(), name, headline, note };
                let m = IntroMessage::sign(&carol(), session, bob().public(), prev, expires_at, body).unwrap();
                prop_assert_eq!(IntroMessage::decode(m.as_bytes()).unwrap(), m);
            }

            /// Arbitrary bytes never panic the decoder, and what it accepts is exactly its input.
            #[test]
            fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..700)) {
                if let Ok(m) = IntroMessage::decode(&bytes) {
                    prop_assert_eq!(m.as_bytes(), &bytes[..]);
                }
            }

            /// Any change to a byte of a valid message is rejected.
            #[test]
            fn any_byte_change_fails(pos in any::<prop::sample::Index>(), delta in 1u8..=255) {
                for m in [ask(), decline()] {
                    let mut b = m.as_bytes().to_vec();
                    let i = pos.index(b.len());
                    b[i] = b[i].wrapping_add(delta);
                    prop_assert!(IntroMessage::decode(&b).is_err());
                }
            }
        }
    }
}
