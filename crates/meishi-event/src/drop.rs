//! The drop box: directed, store-and-forward messages that a contact leaves on a relay for a
//! person who is offline, sealed so that only that person opens them. proto-spec/drop.md
//!
//! A recipient keeps one [`DropSecret`] (32 random bytes). From it, and from each contact's
//! key, it derives a [`DropAddress`] to give that contact: a per-contact box id ([`DropId`],
//! which looks random to everybody else) and the recipient's X25519 public key (the same for
//! every contact). The contact [seals](seal_drop) a message to the address and puts it on a
//! relay under the id; the recipient, later, gets what waits under the ids it handed out and
//! [opens](open_drop) each message with its secret.
//!
//! A sealed message is an ECIES-style box: a fresh ephemeral X25519 key per message, HKDF-SHA256
//! of the shared secret, XChaCha20-Poly1305 with the box id in the associated data, so a message
//! moved into another box does not open. A relay sees the id, the size and the timing, never
//! the sender or the content; it checks the framing only ([`check_drop`]).
//!
//! ```
//! use meishi_event::{open_drop, seal_drop, DropSecret};
//!
//! let ada = DropSecret::from_bytes([7; 32]);
//! let bob_key = [0xb0; 32]; // Bob's identity key, as Ada knows it
//! let address = ada.address_for(&bob_key); // what Ada gives Bob
//! let sealed = seal_drop(&address, b"see you at the booth").unwrap();
//! assert_eq!(open_drop(&ada, &address.id, &sealed).unwrap(), b"see you at the booth");
//! // In another box, it does not open.
//! let other = ada.id_for(&[0xc0; 32]);
//! assert!(open_drop(&ada, &other, &sealed).is_err());
//! ```

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

/// Label of the recipient's X25519 secret, hashed with the drop secret.
/// proto-spec/drop.md#keys
pub const DROP_KEY_LABEL: &[u8] = b"meishi/drop-key/v1\0";
/// Label of a per-contact box id, hashed with the drop secret and the contact's key.
/// proto-spec/drop.md#keys
pub const DROP_ID_LABEL: &[u8] = b"meishi/drop-id/v1\0";
/// HKDF `info` of the message key. proto-spec/drop.md#sealing
pub const DROP_SEAL_INFO: &[u8] = b"meishi/drop-seal/v1";
/// Label that starts the associated data of a sealed message. proto-spec/drop.md#sealing
pub const DROP_SEAL_LABEL: &[u8] = b"meishi/drop-seal/v1\0";
/// The sealed message version this module reads and writes. proto-spec/drop.md#sealed-message
pub const DROP_V1: u8 = 1;
/// The drop address version this module reads and writes. proto-spec/drop.md#drop-address
pub const DROP_ADDRESS_V1: u8 = 1;
/// XChaCha20-Poly1305 nonce length. proto-spec/drop.md#sealing
pub const DROP_NONCE_LEN: usize = 24;
/// Poly1305 tag length. proto-spec/drop.md#sealing
pub const DROP_TAG_LEN: usize = 16;
/// Version, ephemeral public key and nonce: what comes before the ciphertext (57 bytes).
/// proto-spec/drop.md#sealed-message
pub const DROP_HEADER_LEN: usize = 1 + 32 + DROP_NONCE_LEN;
/// Largest plaintext a message seals. proto-spec/drop.md#limits
pub const MAX_DROP_PLAINTEXT: usize = 8192;
/// Shortest sealed message: the header, one byte of plaintext and the tag (74 bytes).
/// proto-spec/drop.md#limits
pub const MIN_DROP_SEALED: usize = DROP_HEADER_LEN + 1 + DROP_TAG_LEN;
/// Longest sealed message: the header, [`MAX_DROP_PLAINTEXT`] bytes and the tag (8,265 bytes).
/// proto-spec/drop.md#limits
pub const MAX_DROP_SEALED: usize = DROP_HEADER_LEN + MAX_DROP_PLAINTEXT + DROP_TAG_LEN;
/// A drop address: version, box id and public key (65 bytes). proto-spec/drop.md#drop-address
pub const DROP_ADDRESS_LEN: usize = 1 + 32 + 32;

/// A drop box id (32 bytes): what a relay files messages under. Derived per contact
/// ([`DropSecret::id_for`]), so ids of one recipient cannot be linked without the secret.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DropId(pub [u8; 32]);

impl std::fmt::Display for DropId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&data_encoding::HEXLOWER.encode(&self.0))
    }
}

impl std::fmt::Debug for DropId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DropId({self})")
    }
}

/// The SHA-256 of a sealed message's exact bytes: what a recipient acknowledges it by.
/// proto-spec/drop.md#relay-protocol
pub fn drop_digest(sealed: &[u8]) -> [u8; 32] {
    Sha256::digest(sealed).into()
}

/// A recipient's drop secret: every box id it hands out and its X25519 key derive from it.
/// Zeroized on drop; `Debug` does not show it. proto-spec/drop.md#keys
#[derive(Clone)]
pub struct DropSecret(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for DropSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DropSecret(..)")
    }
}

impl DropSecret {
    /// A fresh secret from the operating system's random source.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut secret = Zeroizing::new([0u8; 32]);
        getrandom::fill(secret.as_mut())?;
        Ok(Self(secret))
    }

    /// The secret of these 32 bytes (as saved).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The bytes, for saving.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The X25519 static secret: `SHA-256(DROP_KEY_LABEL || secret)`, clamped by X25519.
    fn static_secret(&self) -> StaticSecret {
        let mut h = Sha256::new();
        h.update(DROP_KEY_LABEL);
        h.update(&self.0[..]);
        let scalar = Zeroizing::new(<[u8; 32]>::from(h.finalize()));
        StaticSecret::from(*scalar)
    }

    /// The recipient's X25519 public key: the `key` of every address it hands out.
    pub fn public_key(&self) -> [u8; 32] {
        PublicKey::from(&self.static_secret()).to_bytes()
    }

    /// The box id for the contact whose key is `contact_key`:
    /// `SHA-256(DROP_ID_LABEL || secret || contact_key)`.
    pub fn id_for(&self, contact_key: &[u8; 32]) -> DropId {
        let mut h = Sha256::new();
        h.update(DROP_ID_LABEL);
        h.update(&self.0[..]);
        h.update(contact_key);
        DropId(h.finalize().into())
    }

    /// The address to give the contact whose key is `contact_key`.
    pub fn address_for(&self, contact_key: &[u8; 32]) -> DropAddress {
        DropAddress {
            id: self.id_for(contact_key),
            key: self.public_key(),
        }
    }
}

/// What a recipient gives a contact so that the contact can leave it messages: the box id
/// (the contact's own) and the recipient's X25519 public key. proto-spec/drop.md#drop-address
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DropAddress {
    pub id: DropId,
    pub key: [u8; 32],
}

/// Why a drop address could not be decoded. Each variant is one error kind of
/// proto-spec/drop.md#drop-address ([`DropAddressError::kind`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DropAddressError {
    #[error("the drop address is empty")]
    Empty,
    #[error("unknown drop address version {0}")]
    UnsupportedVersion(u8),
    #[error("the drop address is {0} bytes long; it must be {DROP_ADDRESS_LEN}")]
    Truncated(usize),
    #[error("the drop address has {0} bytes after its key")]
    TrailingBytes(usize),
    #[error("the drop address's key is not a canonical X25519 public key")]
    NonCanonical,
    #[error("the drop address's key is weak (small order); such keys are never accepted")]
    WeakKey,
}

impl DropAddressError {
    /// The error's name in proto-spec/drop.md.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::UnsupportedVersion(_) => "unsupported-version",
            Self::Truncated(_) => "truncated",
            Self::TrailingBytes(_) => "trailing-bytes",
            Self::NonCanonical => "non-canonical",
            Self::WeakKey => "weak-key",
        }
    }
}

impl DropAddress {
    /// The 65 bytes: `01 || id || key`. proto-spec/drop.md#drop-address
    pub fn encode(&self) -> [u8; DROP_ADDRESS_LEN] {
        let mut out = [0u8; DROP_ADDRESS_LEN];
        out[0] = DROP_ADDRESS_V1;
        out[1..33].copy_from_slice(&self.id.0);
        out[33..].copy_from_slice(&self.key);
        out
    }

    /// Decodes an address, in the order of proto-spec/drop.md#drop-address. Never panics.
    pub fn decode(bytes: &[u8]) -> Result<Self, DropAddressError> {
        let Some(&version) = bytes.first() else {
            return Err(DropAddressError::Empty);
        };
        if version != DROP_ADDRESS_V1 {
            return Err(DropAddressError::UnsupportedVersion(version));
        }
        if bytes.len() < DROP_ADDRESS_LEN {
            return Err(DropAddressError::Truncated(bytes.len()));
        }
        if bytes.len() > DROP_ADDRESS_LEN {
            return Err(DropAddressError::TrailingBytes(
                bytes.len() - DROP_ADDRESS_LEN,
            ));
        }
        let mut id = [0u8; 32];
        id.copy_from_slice(&bytes[1..33]);
        let mut key = [0u8; 32];
        key.copy_from_slice(&bytes[33..]);
        if !is_canonical(&key) {
            return Err(DropAddressError::NonCanonical);
        }
        if is_weak(&key) {
            return Err(DropAddressError::WeakKey);
        }
        Ok(Self {
            id: DropId(id),
            key,
        })
    }
}

/// Why a sealed message was refused or did not open. Each variant is one error kind of
/// proto-spec/drop.md#opening ([`DropError::kind`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DropError {
    #[error("the sealed message is empty")]
    Empty,
    #[error("the sealed message is {len} bytes long; at most {max} are allowed")]
    TooLarge { len: usize, max: usize },
    #[error("unknown sealed message version {0}")]
    UnsupportedVersion(u8),
    #[error("the sealed message is {0} bytes long; at least {MIN_DROP_SEALED} are needed")]
    Truncated(usize),
    #[error("the sealed message's ephemeral key is not a canonical X25519 public key")]
    NonCanonical,
    #[error("the sealed message's ephemeral key is weak (small order)")]
    WeakKey,
    #[error("the sealed message does not open with this secret, or was sealed for another box")]
    OpenFailed,
}

impl DropError {
    /// The error's name in proto-spec/drop.md.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::TooLarge { .. } => "too-large",
            Self::UnsupportedVersion(_) => "unsupported-version",
            Self::Truncated(_) => "truncated",
            Self::NonCanonical => "non-canonical",
            Self::WeakKey => "weak-key",
            Self::OpenFailed => "open-failed",
        }
    }
}

/// Why a message could not be sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DropSealError {
    #[error("there is no message to seal (zero bytes)")]
    Empty,
    #[error("the message is {len} bytes long; a drop holds at most {max}")]
    TooLarge { len: usize, max: usize },
    #[error("the drop address's key is not a canonical X25519 public key")]
    NonCanonical,
    #[error("the drop address's key is weak (small order): no message can be sealed to it")]
    WeakKey,
    #[error("the operating system's random source failed")]
    Random,
}

/// Checks a sealed message's framing, as far as it can be checked without the recipient's
/// secret: size, version, length, a canonical ephemeral key (steps 1 to 5 of
/// proto-spec/drop.md#opening). This is what a relay runs before it keeps a message. Never
/// panics.
pub fn check_drop(sealed: &[u8]) -> Result<(), DropError> {
    let Some(&version) = sealed.first() else {
        return Err(DropError::Empty);
    };
    if sealed.len() > MAX_DROP_SEALED {
        return Err(DropError::TooLarge {
            len: sealed.len(),
            max: MAX_DROP_SEALED,
        });
    }
    if version != DROP_V1 {
        return Err(DropError::UnsupportedVersion(version));
    }
    if sealed.len() < MIN_DROP_SEALED {
        return Err(DropError::Truncated(sealed.len()));
    }
    if !is_canonical(&ephemeral_of(sealed)) {
        return Err(DropError::NonCanonical);
    }
    Ok(())
}

/// The ephemeral public key of a message that passed the length checks.
fn ephemeral_of(sealed: &[u8]) -> [u8; 32] {
    let mut eph = [0u8; 32];
    eph.copy_from_slice(&sealed[1..33]);
    eph
}

/// Seals `plaintext` (1 to [`MAX_DROP_PLAINTEXT`] bytes) to `address` with a fresh ephemeral
/// key and nonce from the operating system's random source. proto-spec/drop.md#sealing
pub fn seal_drop(address: &DropAddress, plaintext: &[u8]) -> Result<Vec<u8>, DropSealError> {
    let mut ephemeral = Zeroizing::new([0u8; 32]);
    getrandom::fill(ephemeral.as_mut()).map_err(|_| DropSealError::Random)?;
    let mut nonce = [0u8; DROP_NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|_| DropSealError::Random)?;
    seal_drop_with(address, plaintext, &ephemeral, nonce)
}

/// Seals with a given ephemeral secret and nonce: for test vectors only. Both MUST be fresh
/// random bytes for every message ([`seal_drop`] draws them); a reused ephemeral secret links
/// messages, and a reused pair under one address reuses the cipher's key and nonce.
pub fn seal_drop_with(
    address: &DropAddress,
    plaintext: &[u8],
    ephemeral: &[u8; 32],
    nonce: [u8; DROP_NONCE_LEN],
) -> Result<Vec<u8>, DropSealError> {
    if plaintext.is_empty() {
        return Err(DropSealError::Empty);
    }
    let too_large = DropSealError::TooLarge {
        len: plaintext.len(),
        max: MAX_DROP_PLAINTEXT,
    };
    if plaintext.len() > MAX_DROP_PLAINTEXT {
        return Err(too_large);
    }
    if !is_canonical(&address.key) {
        return Err(DropSealError::NonCanonical);
    }
    let eph = StaticSecret::from(*ephemeral);
    let eph_pub = PublicKey::from(&eph).to_bytes();
    let shared = eph.diffie_hellman(&PublicKey::from(address.key));
    if !shared.was_contributory() {
        return Err(DropSealError::WeakKey);
    }
    let cipher = cipher(shared.as_bytes(), &eph_pub, &address.key);
    let ciphertext = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &seal_aad(&address.id),
            },
        )
        // Only a plaintext near 2^38 bytes fails; this one is at most 8 KiB.
        .map_err(|_| too_large)?;
    let mut out = Vec::with_capacity(DROP_HEADER_LEN + ciphertext.len());
    out.push(DROP_V1);
    out.extend_from_slice(&eph_pub);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ciphertext);
    Ok(out)
}

/// Opens a message found in box `id` with the recipient's `secret`, in the order of
/// proto-spec/drop.md#opening: the framing ([`check_drop`]), a weak ephemeral key, the tag.
/// Returns the plaintext, which is the sender's to choose: the caller decides what it means.
/// Never panics, whatever the input.
pub fn open_drop(secret: &DropSecret, id: &DropId, sealed: &[u8]) -> Result<Vec<u8>, DropError> {
    check_drop(sealed)?;
    let eph_pub = ephemeral_of(sealed);
    let static_secret = secret.static_secret();
    let recipient = PublicKey::from(&static_secret).to_bytes();
    let shared = static_secret.diffie_hellman(&PublicKey::from(eph_pub));
    if !shared.was_contributory() {
        return Err(DropError::WeakKey);
    }
    let (nonce, ciphertext) = sealed[1 + 32..].split_at(DROP_NONCE_LEN);
    cipher(shared.as_bytes(), &eph_pub, &recipient)
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad: &seal_aad(id),
            },
        )
        .map_err(|_| DropError::OpenFailed)
}

/// The message cipher: XChaCha20-Poly1305 under
/// `HKDF-SHA256(ikm = shared, salt = eph_pub || recipient, info = DROP_SEAL_INFO)`.
fn cipher(shared: &[u8; 32], eph_pub: &[u8; 32], recipient: &[u8; 32]) -> XChaCha20Poly1305 {
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(eph_pub);
    salt[32..].copy_from_slice(recipient);
    let mut key = Zeroizing::new([0u8; 32]);
    // 32 bytes is always a valid HKDF-SHA256 output length (at most 255 * 32): this cannot fail.
    let _ = Hkdf::<Sha256>::new(Some(&salt), shared).expand(DROP_SEAL_INFO, &mut key[..]);
    XChaCha20Poly1305::new(Key::from_slice(&key[..]))
}

/// Associated data: the label and the box id, so a message opens only in the box it was
/// sealed for. proto-spec/drop.md#sealing
fn seal_aad(id: &DropId) -> [u8; DROP_SEAL_LABEL.len() + 32] {
    let mut aad = [0u8; DROP_SEAL_LABEL.len() + 32];
    aad[..DROP_SEAL_LABEL.len()].copy_from_slice(DROP_SEAL_LABEL);
    aad[DROP_SEAL_LABEL.len()..].copy_from_slice(&id.0);
    aad
}

/// An X25519 public key in its one canonical encoding: the top bit clear and, read as a
/// little-endian number, below p = 2^255 - 19 (X25519 ignores the top bit and reduces mod p,
/// so each other encoding names a point that already has one).
fn is_canonical(key: &[u8; 32]) -> bool {
    let top_bit = key[31] & 0x80 != 0;
    let at_least_p = key[31] == 0x7f && key[1..31].iter().all(|&b| b == 0xff) && key[0] >= 0xed;
    !top_bit && !at_least_p
}

/// A public key of small order: every secret's shared value with it is zero. A clamped
/// scalar is a multiple of the cofactor, so one scalar multiplication tells.
fn is_weak(key: &[u8; 32]) -> bool {
    x25519_dalek::x25519([0x5a; 32], *key) == [0u8; 32]
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test fails by panicking")]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MSG: &[u8] = b"hello from Bob";
    const BOB: [u8; 32] = [0xb0; 32];

    fn ada() -> DropSecret {
        DropSecret::from_bytes([0xa1; 32])
    }
    fn sealed(plaintext: &[u8]) -> Vec<u8> {
        seal_drop_with(&ada().address_for(&BOB), plaintext, &[0xe1; 32], [0x4e; 24]).unwrap()
    }
    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        data_encoding::HEXLOWER.decode(s.as_bytes()).unwrap()
    }
    fn check(bytes: &[u8], expected: DropError) {
        assert_eq!(
            open_drop(&ada(), &ada().id_for(&BOB), bytes),
            Err(expected),
            "{bytes:02x?}"
        );
    }

    /// The small-order points of Curve25519 (canonical u-coordinates): 0, 1, the two of order
    /// 8, and p - 1 (order 2). Non-canonical encodings of them are refused before this check.
    const SMALL_ORDER: [&str; 5] = [
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
        "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    ];

    #[test]
    fn round_trip() {
        let s = sealed(MSG);
        assert_eq!(open_drop(&ada(), &ada().id_for(&BOB), &s).unwrap(), MSG);
        assert_eq!(s.len(), DROP_HEADER_LEN + MSG.len() + DROP_TAG_LEN);
        // Random sealing opens too, and two sealings of one message differ.
        let address = ada().address_for(&BOB);
        let (a, b) = (
            seal_drop(&address, MSG).unwrap(),
            seal_drop(&address, MSG).unwrap(),
        );
        assert_ne!(a, b);
        assert_ne!(a[1..33], b[1..33], "a fresh ephemeral key per message");
        for s in [a, b] {
            assert_eq!(open_drop(&ada(), &address.id, &s).unwrap(), MSG);
        }
    }

    #[test]
    fn byte_layout() {
        let s = sealed(b"x");
        let eph = PublicKey::from(&StaticSecret::from([0xe1; 32])).to_bytes();
        assert_eq!(s[0], 0x01); // version 1
        assert_eq!(&s[1..33], &eph); // ephemeral public key
        assert_eq!(&s[33..57], &[0x4e; 24]); // nonce
        assert_eq!(s.len(), 57 + 1 + 16); // one byte of ciphertext, the tag
    }

    /// Computed with an independent implementation: Python's `cryptography` 48 (X25519, HKDF,
    /// ChaCha20Poly1305) and HChaCha20 written by hand from draft-irtf-cfrg-xchacha-03, 2.2:
    ///
    ///   sk = sha256(b"meishi/drop-key/v1\0" + bytes([0xa1]*32)).digest()
    ///   rid = sha256(b"meishi/drop-id/v1\0" + bytes([0xa1]*32) + bytes([0xb0]*32)).digest()
    ///   rpub = X25519PrivateKey.from_private_bytes(sk).public_key().public_bytes_raw()
    ///   e = X25519PrivateKey.from_private_bytes(bytes([0xe1]*32))
    ///   epub = e.public_key().public_bytes_raw(); ss = e.exchange(X25519PublicKey.from_public_bytes(rpub))
    ///   key = HKDF(SHA256(), 32, salt=epub + rpub, info=b"meishi/drop-seal/v1").derive(ss)
    ///   n = bytes([0x4e]*24); sub = hchacha20(key, n[:16])
    ///   ct = ChaCha20Poly1305(sub).encrypt(bytes(4) + n[16:], b"hello from Bob",
    ///                                      b"meishi/drop-seal/v1\0" + rid)
    ///   sealed = b"\x01" + epub + n + ct
    #[test]
    fn vector_from_an_independent_implementation() {
        let id = ada().id_for(&BOB);
        assert_eq!(
            id.0.to_vec(),
            hex("ce0dc91497f6ef6521fc4ac923d866ad456c5ce82964bbc06f365ca40dd3ca31")
        );
        assert_eq!(
            ada().public_key().to_vec(),
            hex("be848d79b8b36403c1e6a735cfcc85fca36dda6cffaf57b0cf5f6b0c8264a512")
        );
        assert_eq!(
            sealed(MSG),
            hex(concat!(
                "01",                                                               // version 1
                "4c2817a9d668ed844d2f95b93b69ecb8485095783a015a424164b0d09702894f", // ephemeral
                "4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e",                 // nonce
                "571b0e3a5dea2dd6ba133e7fa1a2", // ciphertext (14 bytes)
                "64b9b556c4d87dbd0c5070b262e46809", // tag
            ))
        );
    }

    #[test]
    fn limits_are_what_the_spec_says() {
        assert_eq!(MIN_DROP_SEALED, 74);
        assert_eq!(MAX_DROP_SEALED, 8265);
        assert_eq!(DROP_ADDRESS_LEN, 65);
        let largest = sealed(&[7; MAX_DROP_PLAINTEXT]);
        assert_eq!(largest.len(), MAX_DROP_SEALED);
        assert_eq!(
            open_drop(&ada(), &ada().id_for(&BOB), &largest).unwrap(),
            vec![7; MAX_DROP_PLAINTEXT]
        );
        assert_eq!(sealed(b"1").len(), MIN_DROP_SEALED);
    }

    #[test]
    fn seal_refusals() {
        let address = ada().address_for(&BOB);
        let seal = |a: &DropAddress, m: &[u8]| seal_drop_with(a, m, &[1; 32], [0; 24]).map(|_| ());
        assert_eq!(seal(&address, b""), Err(DropSealError::Empty));
        assert_eq!(
            seal(&address, &[0; MAX_DROP_PLAINTEXT + 1]),
            Err(DropSealError::TooLarge {
                len: MAX_DROP_PLAINTEXT + 1,
                max: MAX_DROP_PLAINTEXT
            })
        );
        for weak in SMALL_ORDER {
            let a = DropAddress {
                key: hex(weak).try_into().unwrap(),
                ..address
            };
            assert_eq!(seal(&a, MSG), Err(DropSealError::WeakKey), "{weak}");
        }
        let mut high = address;
        high.key[31] |= 0x80;
        assert_eq!(seal(&high, MSG), Err(DropSealError::NonCanonical));
    }

    #[test]
    fn framing_errors() {
        let good = sealed(MSG);
        check(b"", DropError::Empty);
        check(
            &vec![1; MAX_DROP_SEALED + 1],
            DropError::TooLarge {
                len: MAX_DROP_SEALED + 1,
                max: MAX_DROP_SEALED,
            },
        );
        for v in [0u8, 2, 0xff] {
            let mut x = good.clone();
            x[0] = v;
            check(&x, DropError::UnsupportedVersion(v));
        }
        for n in 1..MIN_DROP_SEALED {
            check(&good[..n], DropError::Truncated(n));
        }
        // A ciphertext shortened to one byte and the tag still has the length of a message: it
        // fails the tag.
        check(&good[..MIN_DROP_SEALED], DropError::OpenFailed);
        assert_eq!(check_drop(&good), Ok(()));
    }

    #[test]
    fn ephemeral_keys() {
        let good = sealed(MSG);
        let with_eph = |eph: &[u8]| {
            let mut x = good.clone();
            x[1..33].copy_from_slice(eph);
            x
        };
        // The top bit set: X25519 would ignore it, this decoder refuses it.
        let mut high = good[1..33].to_vec();
        high[31] |= 0x80;
        check(&with_eph(&high), DropError::NonCanonical);
        // p itself (an encoding of 0) and p + 1 (of 1).
        let mut p = hex(SMALL_ORDER[4]);
        p[0] = 0xed;
        check(&with_eph(&p), DropError::NonCanonical);
        p[0] = 0xee;
        check(&with_eph(&p), DropError::NonCanonical);
        for weak in SMALL_ORDER {
            check(&with_eph(&hex(weak)), DropError::WeakKey);
        }
        // Another valid key: the shared secret and so the message key differ.
        let other = PublicKey::from(&StaticSecret::from([9; 32])).to_bytes();
        check(&with_eph(&other), DropError::OpenFailed);
    }

    #[test]
    fn any_bit_flip_fails() {
        let good = sealed(MSG);
        for i in 0..good.len() {
            for bit in 0..8 {
                let mut x = good.clone();
                x[i] ^= 1 << bit;
                assert!(
                    open_drop(&ada(), &ada().id_for(&BOB), &x).is_err(),
                    "byte {i} bit {bit}"
                );
            }
        }
    }

    #[test]
    fn a_message_opens_only_for_its_recipient_and_in_its_box() {
        let s = sealed(MSG);
        // Another box of the same recipient: the associated data differs.
        check_other(&ada(), &ada().id_for(&[0xc0; 32]), &s);
        // Another recipient, even with the right box id.
        check_other(&DropSecret::from_bytes([0xa2; 32]), &ada().id_for(&BOB), &s);
        fn check_other(secret: &DropSecret, id: &DropId, s: &[u8]) {
            assert_eq!(open_drop(secret, id, s), Err(DropError::OpenFailed));
        }
    }

    /// Every sealed, derivation and address vector of proto-spec/vectors/drop (the message
    /// vectors are read by `dropproto`'s test).
    #[test]
    fn committed_vectors() {
        use meishi_testkit::{unhex, vectors};
        let key = |s: &str| -> [u8; 32] { unhex(s).try_into().unwrap() };
        let files = vectors::read("drop");
        let mut read = 0;
        for (name, text) in files {
            let h = vectors::parse(&text);
            let expect = h["expect"].as_str();
            if let Some(sealed) = h.get("sealed").filter(|_| h.contains_key("relay-check")) {
                let sealed = unhex(sealed);
                let secret = DropSecret::from_bytes(key(&h["secret"]));
                let id = DropId(key(&h["id"]));
                let got = open_drop(&secret, &id, &sealed);
                assert_eq!(
                    got.as_ref().map_or_else(|e| e.kind(), |_| "success"),
                    expect,
                    "{name}"
                );
                let relay = check_drop(&sealed).map_or_else(|e| e.kind(), |()| "success");
                assert_eq!(relay, h["relay-check"], "{name}");
                if let Some(plaintext) = h.get("plaintext") {
                    let plaintext = unhex(plaintext);
                    assert_eq!(got.as_deref(), Ok(&plaintext[..]), "{name}");
                    let contact = key(&h["contact-key"]);
                    let address = secret.address_for(&contact);
                    assert_eq!(
                        (address.id, address.key),
                        (id, key(&h["public-key"])),
                        "{name}"
                    );
                    let again = seal_drop_with(
                        &address,
                        &plaintext,
                        &key(&h["ephemeral-secret"]),
                        unhex(&h["nonce"]).try_into().unwrap(),
                    );
                    assert_eq!(again.as_ref(), Ok(&sealed), "{name}");
                }
            } else if let Some(contact) = h.get("contact-key") {
                let secret = DropSecret::from_bytes(key(&h["secret"]));
                let address = secret.address_for(&key(contact));
                assert_eq!(address.id.0, key(&h["id"]), "{name}");
                assert_eq!(address.key, key(&h["public-key"]), "{name}");
                assert_eq!(address.encode().to_vec(), unhex(&h["address"]), "{name}");
            } else if let Some(bytes) = h.get("address") {
                let bytes = unhex(bytes);
                let got = DropAddress::decode(&bytes);
                assert_eq!(
                    got.as_ref().map_or_else(|e| e.kind(), |_| "success"),
                    expect,
                    "{name}"
                );
                if let Ok(a) = got {
                    assert_eq!(a.encode().to_vec(), bytes, "{name}");
                    assert_eq!((a.id.0, a.key), (key(&h["id"]), key(&h["key"])), "{name}");
                }
            } else {
                continue;
            }
            read += 1;
        }
        assert!(read > 40, "{read} drop vectors");
    }

    #[test]
    fn derivation() {
        let a = ada();
        // Deterministic, per contact for the id, one key for all contacts.
        assert_eq!(a.id_for(&BOB), ada().id_for(&BOB));
        assert_ne!(a.id_for(&BOB), a.id_for(&[0xc0; 32]));
        assert_eq!(a.address_for(&BOB).key, a.address_for(&[0xc0; 32]).key);
        assert_ne!(
            a.public_key(),
            DropSecret::from_bytes([0xa2; 32]).public_key()
        );
        // The id is not the key, nor a hash without the label.
        assert_ne!(a.id_for(&BOB).0, a.public_key());
        let mut h = Sha256::new();
        h.update(a.as_bytes());
        h.update(BOB);
        assert_ne!(a.id_for(&BOB).0, <[u8; 32]>::from(h.finalize()));
        // Generated secrets differ and are usable.
        let (g1, g2) = (
            DropSecret::generate().unwrap(),
            DropSecret::generate().unwrap(),
        );
        assert_ne!(g1.as_bytes(), g2.as_bytes());
        assert_ne!(g1.id_for(&BOB), g2.id_for(&BOB));
        // Debug does not show the secret.
        assert_eq!(format!("{g1:?}"), "DropSecret(..)");
    }

    #[test]
    fn address_round_trip_and_layout() {
        let a = ada().address_for(&BOB);
        let bytes = a.encode();
        assert_eq!(bytes[0], DROP_ADDRESS_V1);
        assert_eq!(&bytes[1..33], &a.id.0);
        assert_eq!(&bytes[33..], &a.key);
        assert_eq!(DropAddress::decode(&bytes), Ok(a));
    }

    #[test]
    fn address_rules() {
        use DropAddressError as E;
        let good = ada().address_for(&BOB).encode();
        let decode = DropAddress::decode;
        assert_eq!(decode(&[]), Err(E::Empty));
        let mut v2 = good;
        v2[0] = 2;
        assert_eq!(decode(&v2), Err(E::UnsupportedVersion(2)));
        for n in 1..DROP_ADDRESS_LEN {
            assert_eq!(decode(&good[..n]), Err(E::Truncated(n)), "prefix {n}");
        }
        let mut trailing = good.to_vec();
        trailing.push(0);
        assert_eq!(decode(&trailing), Err(E::TrailingBytes(1)));
        let with_key = |k: &[u8]| {
            let mut x = good;
            x[33..].copy_from_slice(k);
            x
        };
        let mut high = good[33..].to_vec();
        high[31] |= 0x80;
        assert_eq!(decode(&with_key(&high)), Err(E::NonCanonical));
        for weak in SMALL_ORDER {
            assert_eq!(decode(&with_key(&hex(weak))), Err(E::WeakKey), "{weak}");
        }
        for e in [E::Empty, E::NonCanonical, E::WeakKey, E::Truncated(3)] {
            assert!(!e.kind().is_empty());
        }
    }

    #[test]
    fn digest_is_sha256_of_the_sealed_bytes() {
        // SHA-256("abc"), FIPS 180-2.
        assert_eq!(
            drop_digest(b"abc").to_vec(),
            hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
    }

    proptest! {
        #[test]
        fn seal_open_round_trip(
            secret: [u8; 32],
            contact: [u8; 32],
            ephemeral: [u8; 32],
            nonce: [u8; 24],
            msg in proptest::collection::vec(any::<u8>(), 1..=MAX_DROP_PLAINTEXT),
        ) {
            let s = DropSecret::from_bytes(secret);
            let address = s.address_for(&contact);
            let sealed = seal_drop_with(&address, &msg, &ephemeral, nonce).unwrap();
            prop_assert!(sealed.len() <= MAX_DROP_SEALED);
            prop_assert_eq!(check_drop(&sealed), Ok(()));
            prop_assert_eq!(open_drop(&s, &address.id, &sealed).unwrap(), msg);
            prop_assert_eq!(DropAddress::decode(&address.encode()), Ok(address));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = open_drop(&ada(), &ada().id_for(&BOB), &bytes);
            if let Ok(a) = DropAddress::decode(&bytes) {
                prop_assert_eq!(a.encode().to_vec(), bytes);
            }
        }
    }
}
