//! Identity keys, peer ids, fingerprints and domain-separated signatures.
//!
//! One ed25519 key per person signs cards and is their libp2p identity, so the peer id is
//! computed here exactly as libp2p does (identity multihash of the protobuf public key) and a
//! card can be matched to the connection that sent it without this crate knowing libp2p.

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Prefix of an ed25519 libp2p peer id: multihash identity (0x00), length 36, then the
/// protobuf `PublicKey { Type = Ed25519 (1), Data = 32 bytes }`. proto-spec/card.md#peer-id
const PEER_ID_PREFIX: [u8; 6] = [0x00, 0x24, 0x08, 0x01, 0x12, 0x20];

/// Label prefixed to the key when computing its fingerprint. proto-spec/card.md#fingerprint
pub const FINGERPRINT_LABEL: &[u8] = b"meishi/fingerprint/v1\0";

/// A person's secret signing key. Never printed: `Debug` shows only the peer id.
pub struct Identity {
    key: SigningKey,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Identity({})", self.public().peer_id())
    }
}

impl Identity {
    /// A fresh identity from the operating system's random source.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut())?;
        Ok(Self::from_seed(&seed))
    }

    /// The identity for a 32-byte ed25519 seed.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self {
            key: SigningKey::from_bytes(seed),
        }
    }

    /// The seed, for saving to the key file or handing (as a copy) to libp2p.
    pub fn seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.key.to_bytes())
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(self.key.verifying_key().to_bytes())
    }

    /// Signs `label || message`. Every kind of signed object has its own label.
    pub fn sign(&self, label: &[u8], message: &[u8]) -> [u8; 64] {
        let mut input = Vec::with_capacity(label.len() + message.len());
        input.extend_from_slice(label);
        input.extend_from_slice(message);
        self.key.sign(&input).to_bytes()
    }
}

/// An ed25519 public key: who a card belongs to.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey(pub [u8; 32]);

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", self.peer_id())
    }
}

/// Why a signature did not verify. proto-spec/card.md#verification
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    #[error("the public key is not a valid ed25519 point")]
    InvalidKey,
    #[error("the public key is weak (small order); such keys are never accepted")]
    WeakKey,
    #[error("the signature does not match the signed bytes")]
    BadSignature,
}

impl SignatureError {
    /// The error's name in the `expect:` line of the test vectors (proto-spec/card.md#verification).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::InvalidKey => "invalid-key",
            Self::WeakKey => "weak-key",
            Self::BadSignature => "bad-signature",
        }
    }
}

/// Why a peer id string could not be read as a meishi key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PeerIdError {
    #[error("not base58: {0}")]
    Base58(String),
    #[error("not an ed25519 peer id (meishi ids start with 12D3KooW)")]
    NotEd25519,
}

impl PublicKey {
    /// The libp2p peer id, base58btc (`12D3KooW…`).
    pub fn peer_id(&self) -> String {
        bs58::encode(self.peer_id_bytes()).into_string()
    }

    /// The libp2p peer id bytes (multihash).
    pub fn peer_id_bytes(&self) -> [u8; 38] {
        let mut out = [0u8; 38];
        out[..6].copy_from_slice(&PEER_ID_PREFIX);
        out[6..].copy_from_slice(&self.0);
        out
    }

    /// Reads a base58 libp2p peer id of an ed25519 key.
    pub fn from_peer_id(s: &str) -> Result<Self, PeerIdError> {
        let bytes = bs58::decode(s.trim())
            .into_vec()
            .map_err(|e| PeerIdError::Base58(e.to_string()))?;
        Self::from_peer_id_bytes(&bytes)
    }

    /// Reads libp2p peer id bytes (multihash) of an ed25519 key.
    pub fn from_peer_id_bytes(bytes: &[u8]) -> Result<Self, PeerIdError> {
        match bytes.strip_prefix(&PEER_ID_PREFIX[..]) {
            Some(key) => Ok(Self(key.try_into().map_err(|_| PeerIdError::NotEd25519)?)),
            None => Err(PeerIdError::NotEd25519),
        }
    }

    /// A short number people compare by eye or read aloud: 30 digits in six groups of five,
    /// from SHA-256 over a label and the key (about 99 bits). proto-spec/card.md#fingerprint
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        h.update(FINGERPRINT_LABEL);
        h.update(self.0);
        let digest = h.finalize();
        let groups: Vec<String> = digest[..30]
            .chunks(5)
            .map(|c| {
                let n = c.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
                format!("{:05}", n % 100_000)
            })
            .collect();
        groups.join(" ")
    }

    /// Checks an ed25519 signature over `label || message` with `verify_strict`, rejecting
    /// invalid and weak keys.
    pub fn verify(
        &self,
        label: &[u8],
        message: &[u8],
        signature: &[u8; 64],
    ) -> Result<(), SignatureError> {
        if !is_canonical_y(&self.0) {
            return Err(SignatureError::InvalidKey);
        }
        let vk = VerifyingKey::from_bytes(&self.0).map_err(|_| SignatureError::InvalidKey)?;
        if vk.is_weak() {
            return Err(SignatureError::WeakKey);
        }
        let sig = ed25519_dalek::Signature::from_bytes(signature);
        let mut input = Vec::with_capacity(label.len() + message.len());
        input.extend_from_slice(label);
        input.extend_from_slice(message);
        vk.verify_strict(&input, &sig)
            .map_err(|_| SignatureError::BadSignature)
    }
}

/// Whether the y coordinate of an encoded point (the low 255 bits) is below p = 2^255 - 19.
/// Point decompression reduces y mod p, so without this check 19 points would have a second
/// encoding and a key a second peer id. proto-spec/card.md#verification
fn is_canonical_y(bytes: &[u8; 32]) -> bool {
    // y >= p only if bits 8..255 are all ones and the low byte is at least 0xed.
    !(bytes[31] & 0x7f == 0x7f && bytes[1..31].iter().all(|&b| b == 0xff) && bytes[0] >= 0xed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_id_round_trip_and_shape() {
        let id = Identity::from_seed(&[7; 32]);
        let pid = id.public().peer_id();
        assert!(pid.starts_with("12D3KooW"), "{pid}");
        assert_eq!(PublicKey::from_peer_id(&pid), Ok(id.public()));
        assert_eq!(
            PublicKey::from_peer_id("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N"),
            Err(PeerIdError::NotEd25519)
        );
    }

    #[test]
    fn fingerprint_is_six_groups_of_five_digits() {
        let fp = Identity::from_seed(&[1; 32]).public().fingerprint();
        let groups: Vec<&str> = fp.split(' ').collect();
        assert_eq!(groups.len(), 6);
        assert!(groups
            .iter()
            .all(|g| g.len() == 5 && g.bytes().all(|b| b.is_ascii_digit())));
        assert_ne!(fp, Identity::from_seed(&[2; 32]).public().fingerprint());
    }

    #[test]
    fn y_at_or_above_p_is_not_canonical() {
        let mut p = [0xff; 32];
        p[31] = 0x7f;
        p[0] = 0xed; // p itself
        assert!(!is_canonical_y(&p));
        p[31] = 0xff; // the sign bit does not count
        assert!(!is_canonical_y(&p));
        p[0] = 0xec; // p - 1
        assert!(is_canonical_y(&p));
        assert!(is_canonical_y(&Identity::from_seed(&[5; 32]).public().0));
    }

    #[test]
    fn signatures_are_bound_to_their_label() {
        let id = Identity::from_seed(&[3; 32]);
        let sig = id.sign(b"a\0", b"msg");
        assert_eq!(id.public().verify(b"a\0", b"msg", &sig), Ok(()));
        assert_eq!(
            id.public().verify(b"b\0", b"msg", &sig),
            Err(SignatureError::BadSignature)
        );
    }
}
