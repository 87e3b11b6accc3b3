//! Signed statements peers exchange around a card: the give envelope and the teaser.
//! proto-spec/exchange.md#envelope, proto-spec/exchange.md#teaser
//!
//! A **give envelope** wraps my signed card for one recipient: it names their key, the time and
//! optionally the event, and is signed by the card's key under [`GIVE_LABEL`]. It cannot be
//! replayed to anyone else, and two envelopes (mine to you, yours to me) are a verifiable record
//! of a mutual exchange: where and when two people met.
//!
//! A **teaser** is the opt-in name and headline a peer shows to people nearby before anyone
//! swaps, signed under [`TEASER_LABEL`] so that whoever carries it cannot forge it.
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
/// The teaser format, and the envelope format without links. proto-spec/exchange.md#envelope
pub const ENVELOPE_FORMAT_V1: u8 = 1;
/// The envelope format that carries links (a slot address and a drop address, opaque here).
/// proto-spec/exchange.md#links
pub const ENVELOPE_FORMAT_V2: u8 = 2;
/// Longest `links` field of a format-2 envelope. proto-spec/exchange.md#links
pub const MAX_LINKS: usize = 1024;
/// Length of the envelope nonce. proto-spec/exchange.md#envelope
pub const NONCE_LEN: usize = 16;
/// Longest event name, in bytes of UTF-8. proto-spec/exchange.md#limits
pub const MAX_EVENT: usize = 64;
/// Largest encoded envelope: a largest card plus the envelope fields and signature.
/// proto-spec/exchange.md#limits
pub const MAX_ENVELOPE_BYTES: usize = MAX_CARD_BYTES + 256 + 3 + MAX_LINKS;
/// Largest encoded teaser. proto-spec/exchange.md#limits
pub const MAX_TEASER_BYTES: usize = 640;
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
            Self::Signature(_) => "bad-signature",
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
    bytes: Vec<u8>,
}

// A teaser with the longest name and headline fits: key, time, lengths and signature add
// well under 160 bytes.
const _: () = assert!(MAX_NAME + MAX_NOTE + 160 <= MAX_TEASER_BYTES);

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
        check_teaser(name, headline)?;
        let key = identity.public();
        let body = TeaserV1 {
            format: ENVELOPE_FORMAT_V1,
            key: key.0,
            issued_at,
            name: name.to_owned(),
            headline: headline.map(str::to_owned),
        };
        let mut bytes = encode(&body).map_err(|_| SignError::TooLarge {
            len: usize::MAX,
            max: MAX_TEASER_BYTES,
        })?;
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
            name: body.name,
            headline: body.headline,
            bytes,
        })
    }

    /// Decodes a teaser and verifies its signature by the key it names.
    pub fn decode(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        let (body, body_bytes, sig) =
            decode_framed::<TeaserV1>(bytes, MAX_TEASER_BYTES, ENVELOPE_FORMAT_V1)?;
        check_teaser(&body.name, body.headline.as_deref())?;
        let key = PublicKey(body.key);
        key.verify(TEASER_LABEL, body_bytes, &sig)?;
        Ok(Self {
            key,
            issued_at: body.issued_at,
            name: body.name,
            headline: body.headline,
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
