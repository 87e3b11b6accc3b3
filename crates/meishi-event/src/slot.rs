//! The card slot: one sealed, replaceable record per person, kept by relays, from which the
//! person's contacts fetch the current version of the card. proto-spec/slot.md
//!
//! A slot is addressed by a random ed25519 key of its own ([`SlotKey`], never the owner's
//! identity key) and read with a random 32-byte symmetric key ([`SlotSealKey`]). A contact
//! learns both, with up to three relays, as a [`SlotAddress`]. The owner publishes a
//! [`SlotRecord`]: the owner's signed card bytes sealed with XChaCha20-Poly1305 under the seal
//! key, in a record signed by the slot key. A relay checks the record without the seal key
//! ([`SlotRecord::decode`]) and keeps the highest `seq` of each slot ([`SlotRecord::compare`]);
//! a contact opens it ([`SlotRecord::open`]) and verifies the card inside as any other card.
//!
//! This module is the record format and its codec only: who fetches from where comes later.
//! Bytes are decoded with bincode 2.0.1 (standard configuration, a decode limit) and checked to
//! be canonical by encoding the decoded values again and comparing; encoding is written out by
//! hand from the byte layout of the spec, so it cannot fail.

use std::marker::PhantomData;

use bincode::config::{self, Config};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use multiaddr::Multiaddr;
use serde::de::{Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use zeroize::Zeroizing;

/// Domain-separation label of the record signature. proto-spec/slot.md#signature
pub const SLOT_RECORD_LABEL: &[u8] = b"meishi/slot-record/v1\0";
/// Label that starts the associated data of the sealed card. proto-spec/slot.md#sealing
pub const SLOT_SEAL_LABEL: &[u8] = b"meishi/slot-seal/v1\0";
/// The record version this module reads and writes. proto-spec/slot.md#record
pub const SLOT_RECORD_V1: u8 = 1;
/// The slot address version this module reads and writes. proto-spec/slot.md#slot-address
pub const SLOT_ADDRESS_V1: u8 = 1;
/// Largest plaintext a record seals: a signed card's limit (`meishi_card::MAX_CARD_BYTES`,
/// proto-spec/card.md#limits). This crate does not know the card crate; the testkit's slot
/// generator checks that the two agree. proto-spec/slot.md#limits
pub const MAX_SLOT_CARD: usize = 4096;
/// XChaCha20-Poly1305 nonce length. proto-spec/slot.md#sealing
pub const SLOT_NONCE_LEN: usize = 24;
/// Poly1305 tag length. proto-spec/slot.md#sealing
pub const SLOT_TAG_LEN: usize = 16;
/// Shortest `sealed` field: the tag and one byte of card. proto-spec/slot.md#limits
pub const MIN_SLOT_SEALED: usize = 1 + SLOT_TAG_LEN;
/// Longest `sealed` field: a card of [`MAX_SLOT_CARD`] bytes and the tag (4,112).
/// proto-spec/slot.md#limits
pub const MAX_SLOT_SEALED: usize = MAX_SLOT_CARD + SLOT_TAG_LEN;
/// Length of the record signature.
pub const SLOT_SIGNATURE_LEN: usize = 64;
/// Longest record: version, key, the two varints at 9 bytes, nonce, a 3-byte length, the
/// largest `sealed` and the signature (4,254 bytes). proto-spec/slot.md#limits
pub const MAX_SLOT_RECORD: usize =
    1 + 32 + 9 + 9 + SLOT_NONCE_LEN + 3 + MAX_SLOT_SEALED + SLOT_SIGNATURE_LEN;
/// Most relays in a slot address. proto-spec/slot.md#slot-address
pub const MAX_SLOT_RELAYS: usize = 3;
/// Longest relay multiaddr in a slot address, in its binary form. proto-spec/slot.md#slot-address
pub const MAX_SLOT_RELAY_BYTES: usize = 256;
/// Longest slot address: version, two keys, the count and three relays of 256 bytes with
/// their 3-byte lengths (843 bytes). proto-spec/slot.md#slot-address
pub const MAX_SLOT_ADDRESS: usize = 1 + 32 + 32 + 1 + MAX_SLOT_RELAYS * (3 + MAX_SLOT_RELAY_BYTES);

/// bincode's decode limit counts what each value claims, not input bytes (a varint claims 8),
/// so it is a multiple of the input bound; the input size itself is checked before decoding.
const DECODE_LIMIT: usize = 8 * MAX_SLOT_RECORD;

fn bincode_config() -> impl Config {
    config::standard()
        .with_little_endian()
        .with_variable_int_encoding()
        .with_limit::<DECODE_LIMIT>()
}

/// The slot's signing key: random, one per slot, unrelated to the owner's identity key, so
/// that a relay cannot tell whose slot it holds. `Debug` shows only the public [`SlotId`].
pub struct SlotKey {
    key: SigningKey,
}

impl std::fmt::Debug for SlotKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SlotKey({})", self.id())
    }
}

impl SlotKey {
    /// A fresh slot key from the operating system's random source.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut())?;
        Ok(Self::from_seed(&seed))
    }

    /// The slot key for a 32-byte ed25519 seed (the owner keeps the seed to publish again).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self {
            key: SigningKey::from_bytes(seed),
        }
    }

    /// The seed, for saving.
    pub fn seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.key.to_bytes())
    }

    /// The slot's public key: its address on a relay.
    pub fn id(&self) -> SlotId {
        SlotId(self.key.verifying_key().to_bytes())
    }

    /// Signs `SLOT_RECORD_LABEL || body`.
    fn sign(&self, body: &[u8]) -> [u8; SLOT_SIGNATURE_LEN] {
        let mut input = Vec::with_capacity(SLOT_RECORD_LABEL.len() + body.len());
        input.extend_from_slice(SLOT_RECORD_LABEL);
        input.extend_from_slice(body);
        self.key.sign(&input).to_bytes()
    }
}

/// A slot's public key (32 bytes, RFC 8032 encoding): what relays index records by.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SlotId(pub [u8; 32]);

impl std::fmt::Display for SlotId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&data_encoding::HEXLOWER.encode(&self.0))
    }
}

impl std::fmt::Debug for SlotId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SlotId({self})")
    }
}

/// The slot's symmetric key: whoever holds it reads every version the slot will hold.
/// Zeroized on drop; `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct SlotSealKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for SlotSealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SlotSealKey(..)")
    }
}

impl SlotSealKey {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut key = Zeroizing::new([0u8; 32]);
        getrandom::fill(key.as_mut())?;
        Ok(Self(key))
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(Key::from_slice(&self.0[..]))
    }
}

/// A fresh random nonce for [`SlotRecord::seal`]: 24 random bytes never repeat in practice,
/// so every sealing draws one.
pub fn slot_nonce() -> Result<[u8; SLOT_NONCE_LEN], getrandom::Error> {
    let mut nonce = [0u8; SLOT_NONCE_LEN];
    getrandom::fill(&mut nonce)?;
    Ok(nonce)
}

/// Why a record could not be decoded, verified or opened. Each variant is one `expect:` kind of
/// the test vectors ([`SlotError::kind`]). proto-spec/slot.md#verification
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SlotError {
    #[error("the slot record is empty")]
    Empty,
    #[error("the slot record is {len} bytes long; at most {max} are allowed")]
    TooLarge { len: usize, max: usize },
    #[error("unknown slot record version {0}")]
    UnsupportedVersion(u8),
    #[error("the slot record ends before its last field")]
    Truncated,
    #[error("the slot record holds an invalid value (a varint marker not allowed here)")]
    Malformed,
    #[error("the slot record has {0} bytes after its signature")]
    TrailingBytes(usize),
    #[error("the slot record is not in its canonical encoding")]
    NonCanonical,
    #[error(
        "the sealed card is {len} bytes long; it must be {MIN_SLOT_SEALED} to {MAX_SLOT_SEALED}"
    )]
    SealedSize { len: usize },
    #[error("the slot key is not a valid ed25519 point")]
    InvalidKey,
    #[error("the slot key is weak (small order); such keys are never accepted")]
    WeakKey,
    #[error("the slot record's signature does not match its bytes")]
    BadSignature,
    #[error("the sealed card does not open with this key, or was sealed for another slot, seq or expiry")]
    OpenFailed,
}

impl SlotError {
    /// The error's name in the `expect:` line of the test vectors.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::TooLarge { .. } => "too-large",
            Self::UnsupportedVersion(_) => "unsupported-version",
            Self::Truncated => "truncated",
            Self::Malformed => "malformed",
            Self::TrailingBytes(_) => "trailing-bytes",
            Self::NonCanonical => "non-canonical",
            Self::SealedSize { .. } => "sealed-size",
            Self::InvalidKey => "invalid-key",
            Self::WeakKey => "weak-key",
            Self::BadSignature => "bad-signature",
            Self::OpenFailed => "open-failed",
        }
    }
}

/// Why a card could not be sealed into a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SlotSealError {
    #[error("there is no card to seal (zero bytes)")]
    EmptyCard,
    #[error("the card is {len} bytes long; a slot holds at most {max}")]
    CardTooLarge { len: usize, max: usize },
}

/// How an incoming record relates to the one already kept for a slot.
/// proto-spec/slot.md#what-a-relay-keeps
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SlotReplacement {
    /// Same slot, higher `seq`: replaces the kept record.
    Newer,
    /// The same bytes: nothing to do.
    Same,
    /// Same slot, lower `seq`: a replay of an old version, refused.
    Older,
    /// Same slot and `seq`, other bytes: the slot key signed two records with one `seq`. The
    /// first one kept stays.
    Equivocation,
    /// Another slot: never compared.
    OtherSlot,
}

/// A verified slot record: decoded from bytes that passed every check of
/// proto-spec/slot.md#verification, or just sealed. Holds its exact bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotRecord {
    slot: SlotId,
    seq: u64,
    expires_at: u64,
    nonce: [u8; SLOT_NONCE_LEN],
    sealed: Vec<u8>,
    bytes: Vec<u8>,
}

/// The record body as bincode reads it. Field order is the byte layout: never reorder.
/// proto-spec/slot.md#record
#[derive(Deserialize)]
struct RecordV1 {
    #[allow(
        dead_code,
        reason = "checked as the first byte before decoding; the field keeps the layout"
    )]
    version: u8,
    slot: [u8; 32],
    seq: u64,
    expires_at: u64,
    nonce: [u8; SLOT_NONCE_LEN],
    sealed: Bounded<u8, MAX_SLOT_SEALED>,
}

impl SlotRecord {
    /// Seals `card` (the owner's signed card bytes) under `key` and signs the record with
    /// `slot`. `nonce` MUST be fresh for every sealing ([`slot_nonce`]); a fixed one is only
    /// for test vectors. `seq` MUST grow with every record of the slot, republishing the same
    /// card included.
    pub fn seal(
        slot: &SlotKey,
        key: &SlotSealKey,
        seq: u64,
        expires_at: u64,
        card: &[u8],
        nonce: [u8; SLOT_NONCE_LEN],
    ) -> Result<Self, SlotSealError> {
        if card.is_empty() {
            return Err(SlotSealError::EmptyCard);
        }
        let too_large = SlotSealError::CardTooLarge {
            len: card.len(),
            max: MAX_SLOT_CARD,
        };
        if card.len() > MAX_SLOT_CARD {
            return Err(too_large);
        }
        let id = slot.id();
        let aad = seal_aad(&id, seq, expires_at);
        let sealed = key
            .cipher()
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: card,
                    aad: &aad,
                },
            )
            // Only a plaintext near 2^38 bytes fails; the card is at most 4 KiB.
            .map_err(|_| too_large)?;
        let mut bytes = encode_body(&id.0, seq, expires_at, &nonce, &sealed);
        let signature = slot.sign(&bytes);
        bytes.extend_from_slice(&signature);
        Ok(Self {
            slot: id,
            seq,
            expires_at,
            nonce,
            sealed,
            bytes,
        })
    }

    /// Decodes and verifies a record, in the order of proto-spec/slot.md#verification: size,
    /// version, layout, canonical form, bounds, key, signature. Needs no seal key: this is what
    /// a relay runs before it keeps a record. Never panics, whatever the input.
    pub fn decode(bytes: &[u8]) -> Result<Self, SlotError> {
        let Some(&version) = bytes.first() else {
            return Err(SlotError::Empty);
        };
        if bytes.len() > MAX_SLOT_RECORD {
            return Err(SlotError::TooLarge {
                len: bytes.len(),
                max: MAX_SLOT_RECORD,
            });
        }
        if version != SLOT_RECORD_V1 {
            return Err(SlotError::UnsupportedVersion(version));
        }
        let (body, used): (RecordV1, usize) =
            bincode::serde::decode_from_slice(bytes, bincode_config()).map_err(decode_error)?;
        let (body_bytes, rest) = bytes.split_at(used);
        if rest.len() < SLOT_SIGNATURE_LEN {
            return Err(SlotError::Truncated);
        }
        if rest.len() > SLOT_SIGNATURE_LEN {
            return Err(SlotError::TrailingBytes(rest.len() - SLOT_SIGNATURE_LEN));
        }
        let sealed = body.sealed.0;
        if encode_body(&body.slot, body.seq, body.expires_at, &body.nonce, &sealed) != body_bytes {
            return Err(SlotError::NonCanonical);
        }
        if !(MIN_SLOT_SEALED..=MAX_SLOT_SEALED).contains(&sealed.len()) {
            return Err(SlotError::SealedSize { len: sealed.len() });
        }
        let signature: &[u8; SLOT_SIGNATURE_LEN] =
            rest.try_into().map_err(|_| SlotError::Truncated)?;
        verify(&body.slot, body_bytes, signature)?;
        Ok(Self {
            slot: SlotId(body.slot),
            seq: body.seq,
            expires_at: body.expires_at,
            nonce: body.nonce,
            sealed,
            bytes: bytes.to_vec(),
        })
    }

    /// Opens the sealed card with the slot's seal key: the owner's signed card bytes, which the
    /// caller then decodes and verifies as a card, and accepts only as a newer `seq` of the
    /// contact it expects (the slot layer knows nothing of cards).
    pub fn open(&self, key: &SlotSealKey) -> Result<Vec<u8>, SlotError> {
        let aad = seal_aad(&self.slot, self.seq, self.expires_at);
        key.cipher()
            .decrypt(
                XNonce::from_slice(&self.nonce),
                Payload {
                    msg: &self.sealed,
                    aad: &aad,
                },
            )
            .map_err(|_| SlotError::OpenFailed)
    }

    /// How `incoming` relates to `self`, the record kept for the slot. Compares exact bytes.
    pub fn compare(&self, incoming: &SlotRecord) -> SlotReplacement {
        use std::cmp::Ordering::*;
        if self.slot != incoming.slot {
            return SlotReplacement::OtherSlot;
        }
        match incoming.seq.cmp(&self.seq) {
            Greater => SlotReplacement::Newer,
            Less => SlotReplacement::Older,
            Equal if incoming.bytes == self.bytes => SlotReplacement::Same,
            Equal => SlotReplacement::Equivocation,
        }
    }

    /// Whether `self` replaces `other`: the same slot and a higher `seq`. Two records of one
    /// `seq` never replace each other: a relay keeps the first it stored.
    pub fn supersedes(&self, other: &SlotRecord) -> bool {
        other.compare(self) == SlotReplacement::Newer
    }

    /// Whether the record has expired at `now` (Unix seconds): from `expires_at` on.
    pub fn is_expired(&self, now: u64) -> bool {
        now >= self.expires_at
    }

    pub fn slot(&self) -> SlotId {
        self.slot
    }
    pub fn seq(&self) -> u64 {
        self.seq
    }
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }
    pub fn nonce(&self) -> &[u8; SLOT_NONCE_LEN] {
        &self.nonce
    }
    /// The sealed card: ciphertext and tag.
    pub fn sealed(&self) -> &[u8] {
        &self.sealed
    }
    /// The exact bytes, as received or as sealed.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// Associated data of the sealed card: the label, the slot key, `seq` and `expires_at` (each
/// 8 bytes little-endian), so a sealed card opens only in the record it was sealed for.
/// proto-spec/slot.md#sealing
fn seal_aad(slot: &SlotId, seq: u64, expires_at: u64) -> Vec<u8> {
    let mut aad = Vec::with_capacity(SLOT_SEAL_LABEL.len() + 32 + 16);
    aad.extend_from_slice(SLOT_SEAL_LABEL);
    aad.extend_from_slice(&slot.0);
    aad.extend_from_slice(&seq.to_le_bytes());
    aad.extend_from_slice(&expires_at.to_le_bytes());
    aad
}

/// The body of a record, byte for byte as proto-spec/slot.md#record lays it out.
fn encode_body(
    slot: &[u8; 32],
    seq: u64,
    expires_at: u64,
    nonce: &[u8; SLOT_NONCE_LEN],
    sealed: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + 32 + 9 + 9 + SLOT_NONCE_LEN + 3 + sealed.len() + 64);
    out.push(SLOT_RECORD_V1);
    out.extend_from_slice(slot);
    put_varint(&mut out, seq);
    put_varint(&mut out, expires_at);
    out.extend_from_slice(nonce);
    put_varint(&mut out, sealed.len() as u64);
    out.extend_from_slice(sealed);
    out
}

/// The shortest varint of proto-spec/card.md#encoding (bincode's standard varint).
fn put_varint(out: &mut Vec<u8>, v: u64) {
    if v <= 250 {
        out.push(v as u8);
    } else if v <= u64::from(u16::MAX) {
        out.push(0xfb);
        out.extend_from_slice(&(v as u16).to_le_bytes());
    } else if v <= u64::from(u32::MAX) {
        out.push(0xfc);
        out.extend_from_slice(&(v as u32).to_le_bytes());
    } else {
        out.push(0xfd);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

fn decode_error(e: bincode::error::DecodeError) -> SlotError {
    use bincode::error::DecodeError as E;
    match e {
        E::UnexpectedEnd { .. } => SlotError::Truncated,
        // Claims stay within 8 per byte read, so a claim over the limit runs past the end of an
        // input within the size bound.
        E::LimitExceeded => SlotError::Truncated,
        // A length above usize::MAX (32-bit targets) cannot fit in the input either.
        E::OutsideUsizeRange(_) => SlotError::Truncated,
        _ => SlotError::Malformed,
    }
}

/// Checks the key (canonical y, a curve point, not of small order) and the signature over
/// `label || body` with `verify_strict`, as proto-spec/card.md#verification does for cards.
fn verify(
    key: &[u8; 32],
    body: &[u8],
    signature: &[u8; SLOT_SIGNATURE_LEN],
) -> Result<(), SlotError> {
    let vk = checked_key(key)?;
    let mut input = Vec::with_capacity(SLOT_RECORD_LABEL.len() + body.len());
    input.extend_from_slice(SLOT_RECORD_LABEL);
    input.extend_from_slice(body);
    vk.verify_strict(&input, &ed25519_dalek::Signature::from_bytes(signature))
        .map_err(|_| SlotError::BadSignature)
}

/// A slot key that is a canonical encoding of a point that is not of small order.
fn checked_key(key: &[u8; 32]) -> Result<VerifyingKey, SlotError> {
    // y ≥ p = 2^255 - 19 only if bits 8..255 are all ones and the low byte is at least 0xed:
    // decompression would reduce it, giving the point a second encoding.
    let y_not_canonical =
        key[31] & 0x7f == 0x7f && key[1..31].iter().all(|&b| b == 0xff) && key[0] >= 0xed;
    if y_not_canonical {
        return Err(SlotError::InvalidKey);
    }
    let vk = VerifyingKey::from_bytes(key).map_err(|_| SlotError::InvalidKey)?;
    if vk.is_weak() {
        return Err(SlotError::WeakKey);
    }
    Ok(vk)
}

/// What a contact needs to follow a person's slot: the slot key, the seal key and the relays
/// that keep it. Secret: whoever holds it reads every future version of the card.
/// proto-spec/slot.md#slot-address
#[derive(Clone, PartialEq, Eq)]
pub struct SlotAddress {
    slot: SlotId,
    key: SlotSealKey,
    relays: Vec<Multiaddr>,
}

impl std::fmt::Debug for SlotAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlotAddress")
            .field("slot", &self.slot)
            .field("relays", &self.relays)
            .finish_non_exhaustive()
    }
}

/// Why a slot address could not be made or decoded. Each variant is one `expect:` kind of the
/// test vectors ([`SlotAddressError::kind`]). proto-spec/slot.md#slot-address
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SlotAddressError {
    #[error("the slot address is empty")]
    Empty,
    #[error("the slot address is {len} bytes long; at most {max} are allowed")]
    TooLarge { len: usize, max: usize },
    #[error("unknown slot address version {0}")]
    UnsupportedVersion(u8),
    #[error("the slot address ends before its last field")]
    Truncated,
    #[error("the slot address holds an invalid value (a varint marker not allowed here)")]
    Malformed,
    #[error("the slot address has {0} bytes after its last field")]
    TrailingBytes(usize),
    #[error("the slot address is not in its canonical encoding")]
    NonCanonical,
    #[error("the slot address names no relay")]
    NoRelay,
    #[error("the slot address names {0} relays; at most {MAX_SLOT_RELAYS} are allowed")]
    TooManyRelays(usize),
    #[error("a relay address is {len} bytes long; at most {MAX_SLOT_RELAY_BYTES} are allowed")]
    RelayTooLong { len: usize },
    #[error("a relay address is not a binary multiaddr in its canonical form")]
    BadRelay,
    #[error("the slot key is not a valid ed25519 point")]
    InvalidKey,
    #[error("the slot key is weak (small order); such keys are never accepted")]
    WeakKey,
}

impl SlotAddressError {
    /// The error's name in the `expect:` line of the test vectors.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::TooLarge { .. } => "too-large",
            Self::UnsupportedVersion(_) => "unsupported-version",
            Self::Truncated => "truncated",
            Self::Malformed => "malformed",
            Self::TrailingBytes(_) => "trailing-bytes",
            Self::NonCanonical => "non-canonical",
            Self::NoRelay => "no-relay",
            Self::TooManyRelays(_) => "too-many-relays",
            Self::RelayTooLong { .. } => "relay-too-long",
            Self::BadRelay => "bad-relay",
            Self::InvalidKey => "invalid-key",
            Self::WeakKey => "weak-key",
        }
    }
}

/// The slot address as bincode reads it. Field order is the byte layout: never reorder.
#[derive(Deserialize)]
struct AddressV1 {
    #[allow(
        dead_code,
        reason = "checked as the first byte before decoding; the field keeps the layout"
    )]
    version: u8,
    slot: [u8; 32],
    key: [u8; 32],
    relays: Bounded<Bounded<u8, MAX_SLOT_RELAY_BYTES>, MAX_SLOT_RELAYS>,
}

impl SlotAddress {
    /// An address for `slot`, read with `key`, kept by `relays` (1 to 3, each at most 256
    /// bytes in binary form).
    pub fn new(
        slot: SlotId,
        key: SlotSealKey,
        relays: Vec<Multiaddr>,
    ) -> Result<Self, SlotAddressError> {
        let address = Self { slot, key, relays };
        address.check()?;
        Ok(address)
    }

    /// The rules of proto-spec/slot.md#slot-address after the canonical check, in order.
    fn check(&self) -> Result<(), SlotAddressError> {
        match self.relays.len() {
            0 => return Err(SlotAddressError::NoRelay),
            n if n > MAX_SLOT_RELAYS => return Err(SlotAddressError::TooManyRelays(n)),
            _ => {}
        }
        for relay in &self.relays {
            let len = relay.as_ref().len();
            if len > MAX_SLOT_RELAY_BYTES {
                return Err(SlotAddressError::RelayTooLong { len });
            }
            if len == 0 {
                return Err(SlotAddressError::BadRelay);
            }
        }
        checked_key(&self.slot.0).map_err(|e| match e {
            SlotError::WeakKey => SlotAddressError::WeakKey,
            _ => SlotAddressError::InvalidKey,
        })?;
        Ok(())
    }

    /// The canonical bytes. proto-spec/slot.md#slot-address
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(MAX_SLOT_ADDRESS);
        out.push(SLOT_ADDRESS_V1);
        out.extend_from_slice(&self.slot.0);
        out.extend_from_slice(&self.key.0[..]);
        put_varint(&mut out, self.relays.len() as u64);
        for relay in &self.relays {
            let bytes = relay.as_ref();
            put_varint(&mut out, bytes.len() as u64);
            out.extend_from_slice(bytes);
        }
        out
    }

    /// Decodes a slot address, enforcing every rule of proto-spec/slot.md#slot-address. Never
    /// panics, whatever the input.
    pub fn decode(bytes: &[u8]) -> Result<Self, SlotAddressError> {
        let Some(&version) = bytes.first() else {
            return Err(SlotAddressError::Empty);
        };
        if bytes.len() > MAX_SLOT_ADDRESS {
            return Err(SlotAddressError::TooLarge {
                len: bytes.len(),
                max: MAX_SLOT_ADDRESS,
            });
        }
        if version != SLOT_ADDRESS_V1 {
            return Err(SlotAddressError::UnsupportedVersion(version));
        }
        let (wire, used): (AddressV1, usize) =
            bincode::serde::decode_from_slice(bytes, bincode_config()).map_err(|e| {
                match decode_error(e) {
                    SlotError::Truncated => SlotAddressError::Truncated,
                    _ => SlotAddressError::Malformed,
                }
            })?;
        if used < bytes.len() {
            return Err(SlotAddressError::TrailingBytes(bytes.len() - used));
        }
        let raw: Vec<Vec<u8>> = wire.relays.0.into_iter().map(|r| r.0).collect();
        // A relay that is not a multiaddr, or whose varints are not minimal, is refused
        // whatever else is wrong: it has no value to re-encode.
        let mut relays = Vec::with_capacity(raw.len());
        for r in &raw {
            relays.push(canonical_multiaddr(r).ok_or(SlotAddressError::BadRelay)?);
        }
        let address = Self {
            slot: SlotId(wire.slot),
            key: SlotSealKey::from_bytes(wire.key),
            relays,
        };
        if address.encode() != bytes {
            return Err(SlotAddressError::NonCanonical);
        }
        address.check()?;
        Ok(address)
    }

    pub fn slot(&self) -> SlotId {
        self.slot
    }
    pub fn key(&self) -> &SlotSealKey {
        &self.key
    }
    pub fn relays(&self) -> &[Multiaddr] {
        &self.relays
    }
}

/// The multiaddr of `bytes` if they are one, written exactly as the multiaddr crate writes it.
fn canonical_multiaddr(bytes: &[u8]) -> Option<Multiaddr> {
    let parsed = Multiaddr::try_from(bytes.to_vec()).ok()?;
    let again: Multiaddr = parsed.iter().collect();
    (again.as_ref() == bytes).then_some(again)
}

/// A list (or byte string) decoded without trusting its claimed length for allocation: at most
/// `PREALLOC` items are reserved up front, the rest grow as they decode, each bounded by the
/// input. (serde's `Vec` would reserve up to 1 MiB for a claim the input cannot hold.)
struct Bounded<T, const PREALLOC: usize>(Vec<T>);

impl<'de, T: Deserialize<'de>, const PREALLOC: usize> Deserialize<'de> for Bounded<T, PREALLOC> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ListVisitor<T, const P: usize>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>, const P: usize> Visitor<'de> for ListVisitor<T, P> {
            type Value = Vec<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a list")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(P));
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(items)
            }
        }
        d.deserialize_seq(ListVisitor::<T, PREALLOC>(PhantomData))
            .map(Bounded)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test fails by panicking")]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T0: u64 = 1_700_000_000;
    const CARD: &[u8] = b"signed card bytes";

    fn slot_key() -> SlotKey {
        SlotKey::from_seed(&[0x51; 32])
    }
    fn seal_key() -> SlotSealKey {
        SlotSealKey::from_bytes([0x5e; 32])
    }
    fn record(seq: u64, expires_at: u64, card: &[u8]) -> SlotRecord {
        SlotRecord::seal(&slot_key(), &seal_key(), seq, expires_at, card, [0x4e; 24]).unwrap()
    }
    /// `body || signature` over the slot label, whatever the body holds.
    fn signed(body: &[u8]) -> Vec<u8> {
        let mut out = body.to_vec();
        out.extend_from_slice(&slot_key().sign(body));
        out
    }
    fn check(bytes: &[u8], expected: SlotError) {
        assert_eq!(SlotRecord::decode(bytes), Err(expected), "{bytes:02x?}");
    }

    #[test]
    fn round_trip_and_open() {
        let r = record(1, T0, CARD);
        let back = SlotRecord::decode(r.as_bytes()).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.open(&seal_key()).unwrap(), CARD);
        assert_eq!(back.slot(), slot_key().id());
        assert_eq!((back.seq(), back.expires_at()), (1, T0));
    }

    #[test]
    fn byte_layout() {
        let r = record(300, T0, b"x");
        let b = r.as_bytes();
        let id = slot_key().id().0;
        let mut expected = vec![0x01]; // version 1
        expected.extend_from_slice(&id); // slot key, 32 bytes
        expected.extend_from_slice(&[0xfb, 0x2c, 0x01]); // seq = 300: FB + u16 LE
        expected.extend_from_slice(&[0xfc, 0x00, 0xf1, 0x53, 0x65]); // expires_at: FC + u32 LE
        expected.extend_from_slice(&[0x4e; 24]); // nonce
        expected.push(17); // sealed length: 1 byte of card + 16 of tag
        assert_eq!(&b[..expected.len()], &expected[..]);
        assert_eq!(b.len(), expected.len() + 17 + 64);
        assert_eq!(r.sealed().len(), 17);
    }

    #[test]
    fn limits_are_what_the_spec_says() {
        assert_eq!(MAX_SLOT_SEALED, 4112);
        assert_eq!(MAX_SLOT_RECORD, 4254);
        assert_eq!(MAX_SLOT_ADDRESS, 843);
        // The largest record reaches the bound exactly.
        let r = record(u64::MAX, u64::MAX, &[7; MAX_SLOT_CARD]);
        assert_eq!(r.as_bytes().len(), MAX_SLOT_RECORD);
        assert!(SlotRecord::decode(r.as_bytes()).is_ok());
    }

    #[test]
    fn seal_refuses_empty_and_oversized_cards() {
        let seal = |card: &[u8]| {
            SlotRecord::seal(&slot_key(), &seal_key(), 1, T0, card, [0; 24]).map(|_| ())
        };
        assert_eq!(seal(b""), Err(SlotSealError::EmptyCard));
        assert_eq!(
            seal(&[0; MAX_SLOT_CARD + 1]),
            Err(SlotSealError::CardTooLarge {
                len: MAX_SLOT_CARD + 1,
                max: MAX_SLOT_CARD
            })
        );
    }

    #[test]
    fn framing_errors() {
        let good = record(1, T0, CARD);
        let b = good.as_bytes();
        check(b"", SlotError::Empty);
        check(
            &vec![1; MAX_SLOT_RECORD + 1],
            SlotError::TooLarge {
                len: MAX_SLOT_RECORD + 1,
                max: MAX_SLOT_RECORD,
            },
        );
        let mut v2 = b.to_vec();
        v2[0] = 2;
        check(&v2, SlotError::UnsupportedVersion(2));
        check(&b[..b.len() - 64], SlotError::Truncated);
        check(&b[..b.len() - 1], SlotError::Truncated);
        let mut trailing = b.to_vec();
        trailing.push(0);
        check(&trailing, SlotError::TrailingBytes(1));
        // seq as the reserved 128-bit marker.
        let mut fe = b.to_vec();
        fe[33] = 0xfe;
        check(&fe, SlotError::Malformed);
    }

    #[test]
    fn every_truncation_is_refused() {
        let good = record(1, T0, CARD);
        let b = good.as_bytes();
        for n in 1..b.len() {
            assert_eq!(
                SlotRecord::decode(&b[..n]),
                Err(SlotError::Truncated),
                "prefix {n}"
            );
        }
    }

    #[test]
    fn non_minimal_varints_are_refused_even_when_signed() {
        let good = record(1, T0, CARD);
        let body = &good.as_bytes()[..good.as_bytes().len() - 64];
        // seq = 1 written as FB 01 00.
        let mut wide = body[..33].to_vec();
        wide.extend_from_slice(&[0xfb, 0x01, 0x00]);
        wide.extend_from_slice(&body[34..]);
        check(&signed(&wide), SlotError::NonCanonical);
    }

    #[test]
    fn sealed_size_bounds() {
        let good = record(1, T0, CARD);
        let body = &good.as_bytes()[..good.as_bytes().len() - 64];
        let head = &body[..1 + 32 + 1 + 5 + 24];
        let with_sealed = |n: usize| {
            let mut b = head.to_vec();
            put_varint(&mut b, n as u64);
            b.extend(std::iter::repeat_n(0xaa, n));
            signed(&b)
        };
        check(&with_sealed(16), SlotError::SealedSize { len: 16 });
        check(
            &with_sealed(MAX_SLOT_SEALED + 1),
            SlotError::SealedSize {
                len: MAX_SLOT_SEALED + 1,
            },
        );
        // The bounds themselves are accepted (and do not open: the bytes are not a ciphertext).
        let at_min = SlotRecord::decode(&with_sealed(17)).unwrap();
        assert_eq!(at_min.open(&seal_key()), Err(SlotError::OpenFailed));
        assert!(SlotRecord::decode(&with_sealed(MAX_SLOT_SEALED)).is_ok());
    }

    #[test]
    fn keys_and_signatures() {
        let good = record(1, T0, CARD);
        let b = good.as_bytes();
        let with_key = |key: [u8; 32]| {
            let mut x = b.to_vec();
            x[1..33].copy_from_slice(&key);
            x
        };
        check(&with_key([0xff; 32]), SlotError::InvalidKey);
        let mut identity = [0u8; 32];
        identity[0] = 1;
        check(&with_key(identity), SlotError::WeakKey);
        check(
            &with_key(SlotKey::from_seed(&[9; 32]).id().0),
            SlotError::BadSignature,
        );
        // Signed under the card's label instead of the slot's.
        let body = &b[..b.len() - 64];
        let mut input = b"meishi/card/v1\0".to_vec();
        input.extend_from_slice(body);
        let mut wrong_label = body.to_vec();
        wrong_label.extend_from_slice(&slot_key().key.sign(&input).to_bytes());
        check(&wrong_label, SlotError::BadSignature);
    }

    #[test]
    fn any_bit_flip_fails() {
        let good = record(7, T0, CARD);
        let b = good.as_bytes();
        for i in 0..b.len() {
            for bit in 0..8 {
                let mut x = b.to_vec();
                x[i] ^= 1 << bit;
                assert!(SlotRecord::decode(&x).is_err(), "byte {i} bit {bit}");
            }
        }
    }

    #[test]
    fn open_needs_the_key_and_the_record_it_was_sealed_for() {
        let good = record(1, T0, CARD);
        assert_eq!(
            good.open(&SlotSealKey::from_bytes([1; 32])),
            Err(SlotError::OpenFailed)
        );
        // The slot key re-signs the sealed card of seq 1 as seq 2: the signature is good, the
        // associated data is not.
        let body = &good.as_bytes()[..good.as_bytes().len() - 64];
        let mut spliced = body.to_vec();
        spliced[33] = 2;
        let r = SlotRecord::decode(&signed(&spliced)).unwrap();
        assert_eq!(r.open(&seal_key()), Err(SlotError::OpenFailed));
    }

    #[test]
    fn replacement() {
        let one = record(1, T0, CARD);
        let two = record(2, T0, CARD);
        let other_nonce =
            SlotRecord::seal(&slot_key(), &seal_key(), 1, T0, CARD, [0x11; 24]).unwrap();
        let other_slot = SlotRecord::seal(
            &SlotKey::from_seed(&[3; 32]),
            &seal_key(),
            2,
            T0,
            CARD,
            [0x4e; 24],
        )
        .unwrap();
        assert_eq!(one.compare(&two), SlotReplacement::Newer);
        assert_eq!(two.compare(&one), SlotReplacement::Older);
        assert_eq!(one.compare(&one.clone()), SlotReplacement::Same);
        assert_eq!(one.compare(&other_nonce), SlotReplacement::Equivocation);
        assert_eq!(one.compare(&other_slot), SlotReplacement::OtherSlot);
        assert!(two.supersedes(&one));
        assert!(!one.supersedes(&two));
        assert!(!other_nonce.supersedes(&one));
        assert!(!other_slot.supersedes(&one));
    }

    #[test]
    fn expiry() {
        let r = record(1, T0, CARD);
        assert!(!r.is_expired(T0 - 1));
        assert!(r.is_expired(T0));
        assert!(r.is_expired(T0 + 1));
    }

    fn relay(s: &str) -> Multiaddr {
        s.parse().unwrap()
    }
    const RELAY: &str =
        "/ip4/203.0.113.7/tcp/4001/p2p/12D3KooWBHkR6nGT5KH3Xow9voA2aSQ67423yzWZCVbruRadyybt";

    #[test]
    fn address_round_trip_and_layout() {
        let a = SlotAddress::new(slot_key().id(), seal_key(), vec![relay(RELAY)]).unwrap();
        let bytes = a.encode();
        assert_eq!(bytes[0], SLOT_ADDRESS_V1);
        assert_eq!(&bytes[1..33], &slot_key().id().0);
        assert_eq!(&bytes[33..65], &[0x5e; 32]);
        assert_eq!(bytes[65], 1); // one relay
        assert_eq!(usize::from(bytes[66]), relay(RELAY).as_ref().len());
        assert_eq!(SlotAddress::decode(&bytes).unwrap(), a);
        assert!(!format!("{a:?}").contains("5e5e"), "Debug hides the key");
    }

    #[test]
    fn address_rules() {
        let new = |relays: Vec<Multiaddr>| SlotAddress::new(slot_key().id(), seal_key(), relays);
        assert_eq!(new(vec![]), Err(SlotAddressError::NoRelay));
        assert_eq!(
            new(vec![relay(RELAY); 4]),
            Err(SlotAddressError::TooManyRelays(4))
        );
        let long: Multiaddr = format!("/dns/{}/tcp/1", "a".repeat(300)).parse().unwrap();
        assert_eq!(
            new(vec![long.clone()]),
            Err(SlotAddressError::RelayTooLong {
                len: long.as_ref().len()
            })
        );
        assert_eq!(
            SlotAddress::new(SlotId([0xff; 32]), seal_key(), vec![relay(RELAY)]),
            Err(SlotAddressError::InvalidKey)
        );
        let good = new(vec![relay(RELAY)]).unwrap().encode();
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(
            SlotAddress::decode(&trailing),
            Err(SlotAddressError::TrailingBytes(1))
        );
        for n in 1..good.len() {
            assert_eq!(
                SlotAddress::decode(&good[..n]),
                Err(SlotAddressError::Truncated),
                "prefix {n}"
            );
        }
        // Count 1 written as FB 01 00.
        let mut wide = good[..65].to_vec();
        wide.extend_from_slice(&[0xfb, 0x01, 0x00]);
        wide.extend_from_slice(&good[66..]);
        assert_eq!(
            SlotAddress::decode(&wide),
            Err(SlotAddressError::NonCanonical)
        );
        // A relay that is no multiaddr: tcp (06) with one byte of its two-byte port.
        let mut bad = good[..66].to_vec();
        bad.extend_from_slice(&[2, 0x06, 0x00]);
        assert_eq!(SlotAddress::decode(&bad), Err(SlotAddressError::BadRelay));
    }

    /// The committed files of proto-spec/vectors/slot/, written by the testkit's generator.
    #[test]
    fn committed_vectors() {
        use meishi_testkit::{unhex, vectors};
        let files = vectors::read("slot");
        assert!(files.len() > 30, "{} slot vectors", files.len());
        for (name, text) in files {
            let h = vectors::parse(&text);
            let expect = h["expect"].as_str();
            if let Some(address) = h.get("address") {
                let got = SlotAddress::decode(&unhex(address));
                let kind = got.as_ref().map_or_else(|e| e.kind(), |_| "success");
                assert_eq!(kind, expect, "{name}");
                if let Ok(a) = got {
                    assert_eq!(a.encode(), unhex(address), "{name}");
                }
                continue;
            }
            let bytes = unhex(&h["record"]);
            let got = SlotRecord::decode(&bytes).and_then(|r| {
                let opened = match h.get("seal-key") {
                    Some(k) => {
                        let k: [u8; 32] = unhex(k).try_into().unwrap();
                        Some(r.open(&SlotSealKey::from_bytes(k))?)
                    }
                    None => None,
                };
                Ok((r, opened))
            });
            let kind = got.as_ref().map_or_else(|e| e.kind(), |_| "success");
            assert_eq!(kind, expect, "{name}");
            let Ok((r, opened)) = got else { continue };
            assert_eq!(r.as_bytes(), &bytes[..], "{name}");
            if let Some(card) = h.get("card") {
                assert_eq!(opened.as_deref(), Some(&unhex(card)[..]), "{name}");
            }
            if let Some(stored) = h.get("stored") {
                let stored = SlotRecord::decode(&unhex(stored)).unwrap();
                let outcome = match stored.compare(&r) {
                    SlotReplacement::Newer => "newer",
                    SlotReplacement::Same => "same",
                    SlotReplacement::Older => "older",
                    SlotReplacement::Equivocation => "equivocation",
                    SlotReplacement::OtherSlot => "other-slot",
                };
                assert_eq!(outcome, h["replacement"], "{name}");
            }
        }
    }

    proptest! {
        #[test]
        fn seal_decode_open_round_trip(
            seq: u64,
            expires_at: u64,
            nonce: [u8; 24],
            card in proptest::collection::vec(any::<u8>(), 1..=MAX_SLOT_CARD),
        ) {
            let r = SlotRecord::seal(&slot_key(), &seal_key(), seq, expires_at, &card, nonce)
                .unwrap();
            prop_assert!(r.as_bytes().len() <= MAX_SLOT_RECORD);
            let back = SlotRecord::decode(r.as_bytes()).unwrap();
            prop_assert_eq!(&back, &r);
            prop_assert_eq!(back.open(&seal_key()).unwrap(), card);
        }

        #[test]
        fn decode_never_panics_and_accepts_only_canonical(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            if let Ok(r) = SlotRecord::decode(&bytes) {
                prop_assert_eq!(r.as_bytes(), &bytes[..]);
            }
            if let Ok(a) = SlotAddress::decode(&bytes) {
                prop_assert_eq!(a.encode(), bytes);
            }
        }

        #[test]
        fn address_round_trip(
            key: [u8; 32],
            ports in proptest::collection::vec(1u16.., 1..=MAX_SLOT_RELAYS),
        ) {
            let relays = ports
                .iter()
                .map(|p| relay(&format!("/ip6/2001:db8::1/udp/{p}/quic-v1")))
                .collect();
            let a = SlotAddress::new(slot_key().id(), SlotSealKey::from_bytes(key), relays)
                .unwrap();
            prop_assert!(a.encode().len() <= MAX_SLOT_ADDRESS);
            prop_assert_eq!(SlotAddress::decode(&a.encode()).unwrap(), a);
        }
    }
}
