//! The event key: what an event code turns into on a relay, without the relay learning the
//! code. proto-spec/relay.md#event-secret
//!
//! An attendee who knows the event code derives, with [`EventKey::derive`], one secret: a
//! memory-hard Argon2id hash of the normalized code (64 MiB, about a quarter of a second), so
//! that whoever holds a namespace or a sealed teaser pays that much for every code guessed.
//! From the secret come:
//! - the rendezvous namespace ([`EventKey::namespace`]), a domain-separated SHA-256 of the
//!   secret, under which the node registers its peer record and discovers others;
//! - a ChaCha20-Poly1305 key that seals its signed teaser before the teaser is posted to the
//!   relay's teaser board ([`EventKey::seal`], [`EventKey::open`]).
//!
//! The relay stores namespaces and sealed blobs; without the code it can neither name the event
//! nor read a teaser.

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Argon2id salt of the event secret: fixed, because the code is the only thing attendees
/// share (a per-event salt would have to travel with the code). proto-spec/relay.md#event-secret
pub const KDF_SALT: &[u8] = b"meishi/event/v2";
/// Argon2id memory cost in KiB (64 MiB). proto-spec/relay.md#event-secret
pub const KDF_M_COST: u32 = 64 * 1024;
/// Argon2id passes over the memory. proto-spec/relay.md#event-secret
pub const KDF_T_COST: u32 = 5;
/// Argon2id lanes. proto-spec/relay.md#event-secret
pub const KDF_P_COST: u32 = 1;
/// Length of the event secret in bytes.
pub const SECRET_LEN: usize = 32;
/// Domain label hashed before the event secret to form the namespace.
/// proto-spec/relay.md#namespace
pub const NAMESPACE_LABEL: &[u8] = b"meishi/event/v2/namespace\0";
/// HKDF salt and info for the teaser key. proto-spec/relay.md#sealed-teasers
pub const TEASER_KEY_SALT: &[u8] = b"meishi/event/v2";
pub const TEASER_KEY_INFO: &[u8] = b"meishi/event/v2/teaser-key\0";
/// Associated data prefix of a sealed teaser; the namespace follows it.
pub const TEASER_AAD_LABEL: &[u8] = b"meishi/event/v2/teaser\0";
/// Every derived namespace starts with this; the relay accepts no other board namespace.
pub const NAMESPACE_PREFIX: &str = "meishi-ev2-";
/// Length of a derived namespace: the prefix and 64 lowercase hex digits.
pub const NAMESPACE_LEN: usize = NAMESPACE_PREFIX.len() + 64;
// Rendezvous namespaces are at most 255 bytes.
const _: () = assert!(NAMESPACE_LEN <= 255);
/// Longest event code accepted, in bytes of UTF-8 after normalization.
pub const MAX_CODE: usize = 128;
/// Version byte of a sealed teaser.
pub const SEALED_V1: u8 = 1;
pub const NONCE_LEN: usize = 12;
pub const TAG_LEN: usize = 16;
/// Largest plaintext sealed (a signed teaser is at most 800 bytes,
/// `meishi_card::envelope::MAX_TEASER_BYTES`).
pub const MAX_SEALED_PLAINTEXT: usize = 1024;
/// Largest sealed blob: version, nonce, ciphertext, tag.
pub const MAX_SEALED: usize = 1 + NONCE_LEN + MAX_SEALED_PLAINTEXT + TAG_LEN;

/// Why an event code was refused, or its key could not be derived.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodeError {
    #[error("the event code is empty")]
    Empty,
    #[error("the event code is {len} bytes long; at most {max} are allowed")]
    TooLong { len: usize, max: usize },
    #[error("the event code contains a control character")]
    Control,
    /// Argon2id failed: in practice only when its 64 MiB cannot be allocated.
    #[error("cannot derive the event key: {0}")]
    Kdf(argon2::Error),
}

/// Why a sealed teaser could not be made or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    #[error("the teaser is {len} bytes long; at most {max} can be sealed")]
    TooLarge { len: usize, max: usize },
    #[error("the sealed teaser is malformed (length {len})")]
    Malformed { len: usize },
    #[error("unknown sealed teaser version {0}")]
    Version(u8),
    #[error("the sealed teaser does not open with this event code")]
    WrongKey,
    #[error("no randomness for a nonce")]
    Random,
}

/// Normalizes an event code: trims surrounding white space, lowercases ASCII letters, and
/// drops ASCII spaces, hyphens and underscores, so `"ABCD-efgh"` and `"abcd efgh"` are one code.
/// Other characters are kept as they are (no Unicode normalization).
pub fn normalize(code: &str) -> Result<String, CodeError> {
    let mut out = String::with_capacity(code.len().min(MAX_CODE * 4));
    for c in code.trim().chars() {
        if c.is_control() {
            return Err(CodeError::Control);
        }
        if matches!(c, ' ' | '-' | '_') {
            continue;
        }
        out.push(c.to_ascii_lowercase());
        if out.len() > MAX_CODE {
            return Err(CodeError::TooLong {
                len: code.trim().len(),
                max: MAX_CODE,
            });
        }
    }
    if out.is_empty() {
        return Err(CodeError::Empty);
    }
    Ok(out)
}

/// The rendezvous namespace of an event code: `meishi-ev2-` and the lowercase hex of
/// SHA-256(NAMESPACE_LABEL || event secret). As slow as [`EventKey::derive`], which it calls.
pub fn namespace(code: &str) -> Result<String, CodeError> {
    Ok(EventKey::derive(code)?.namespace)
}

/// True if `ns` has the shape of a derived namespace (the relay's teaser board checks this).
pub fn is_namespace(ns: &str) -> bool {
    ns.len() == NAMESPACE_LEN
        && ns.starts_with(NAMESPACE_PREFIX)
        && ns[NAMESPACE_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

/// What an attendee derives from an event code: the namespace and the teaser key.
#[derive(Clone)]
pub struct EventKey {
    namespace: String,
    key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for EventKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventKey")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

/// The event secret: Argon2id(normalized code, KDF_SALT) with the parameters above.
fn secret(normalized: &str) -> Result<Zeroizing<[u8; SECRET_LEN]>, CodeError> {
    let params = Params::new(KDF_M_COST, KDF_T_COST, KDF_P_COST, Some(SECRET_LEN))
        .map_err(CodeError::Kdf)?;
    let mut out = Zeroizing::new([0u8; SECRET_LEN]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(normalized.as_bytes(), KDF_SALT, &mut out[..])
        .map_err(CodeError::Kdf)?;
    Ok(out)
}

impl EventKey {
    /// Derives the namespace and the teaser key from an event code.
    ///
    /// Slow on purpose: one Argon2id over 64 MiB with 5 passes, about 0.25 s of one core and
    /// 64 MiB of memory for the duration (`cargo bench -p meishi-event --bench event_kdf`;
    /// proto-spec/relay.md#event-secret). That is the price of every guess of a code for
    /// someone who holds a namespace or a sealed teaser. Derive once per code and keep the
    /// key; do not call this on an async runtime's worker thread in a loop.
    pub fn derive(code: &str) -> Result<Self, CodeError> {
        let code = Zeroizing::new(normalize(code)?);
        let secret = secret(&code)?;
        let mut h = Sha256::new();
        h.update(NAMESPACE_LABEL);
        h.update(&secret[..]);
        let namespace = format!("{NAMESPACE_PREFIX}{}", hex(&h.finalize()));
        let mut key = Zeroizing::new([0u8; 32]);
        Hkdf::<Sha256>::new(Some(TEASER_KEY_SALT), &secret[..])
            .expand(TEASER_KEY_INFO, &mut key[..])
            .map_err(|_| CodeError::Empty)?; // 32 bytes is always a valid HKDF-SHA256 length
        Ok(Self { namespace, key })
    }

    /// The rendezvous and teaser-board namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    fn aad(&self) -> Vec<u8> {
        let mut aad = Vec::with_capacity(TEASER_AAD_LABEL.len() + self.namespace.len());
        aad.extend_from_slice(TEASER_AAD_LABEL);
        aad.extend_from_slice(self.namespace.as_bytes());
        aad
    }

    /// Seals `teaser` (the bytes of a signed teaser) with a fresh random nonce.
    pub fn seal(&self, teaser: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| SealError::Random)?;
        self.seal_with_nonce(teaser, nonce)
    }

    /// Seals with a given nonce: for test vectors. A nonce must never repeat under one code.
    pub fn seal_with_nonce(
        &self,
        teaser: &[u8],
        nonce: [u8; NONCE_LEN],
    ) -> Result<Vec<u8>, SealError> {
        if teaser.len() > MAX_SEALED_PLAINTEXT {
            return Err(SealError::TooLarge {
                len: teaser.len(),
                max: MAX_SEALED_PLAINTEXT,
            });
        }
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&self.key[..]));
        let aad = self.aad();
        let ct = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: teaser,
                    aad: &aad,
                },
            )
            .map_err(|_| SealError::TooLarge {
                len: teaser.len(),
                max: MAX_SEALED_PLAINTEXT,
            })?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(SEALED_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Opens a sealed teaser. The caller then decodes and verifies the signed teaser and checks
    /// that its key is the peer that posted it.
    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        if sealed.len() < 1 + NONCE_LEN + TAG_LEN || sealed.len() > MAX_SEALED {
            return Err(SealError::Malformed { len: sealed.len() });
        }
        if sealed[0] != SEALED_V1 {
            return Err(SealError::Version(sealed[0]));
        }
        let (nonce, ct) = sealed[1..].split_at(NONCE_LEN);
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&self.key[..]));
        let aad = self.aad();
        cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad: &aad })
            .map_err(|_| SealError::WrongKey)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test fails by panicking")]
mod tests {
    use super::*;

    fn check_ns(code: &str, expected: &str) {
        assert_eq!(namespace(code).unwrap(), expected, "code {code:?}");
    }

    #[test]
    fn namespace_is_a_domain_separated_hash_of_the_argon2id_secret() {
        // SHA-256("meishi/event/v2/namespace\0" || Argon2id("rustmeetup2026", "meishi/event/v2"))
        let mut h = Sha256::new();
        h.update(b"meishi/event/v2/namespace\0");
        h.update(&secret("rustmeetup2026").unwrap()[..]);
        let want = format!("meishi-ev2-{}", hex(&h.finalize()));
        check_ns("rustmeetup2026", &want);
        check_ns("  Rust-Meetup 2026\n", &want);
        check_ns("RUST_MEETUP_2026", &want);
        assert_ne!(namespace("rustmeetup2027").unwrap(), want);
        assert_eq!(want.len(), NAMESPACE_LEN);
        assert!(is_namespace(&want));
        // The code itself never appears in the namespace, nor the unsalted v1 hash of it.
        assert!(!want.contains("rust"));
        let mut v1 = Sha256::new();
        v1.update(b"meishi/event/v1/namespace\0rustmeetup2026");
        assert_ne!(want[NAMESPACE_PREFIX.len()..], hex(&v1.finalize()));
    }

    #[test]
    fn vectors_from_an_independent_implementation() {
        // Computed with an independent implementation: argon2-cffi 25.1.0 (the reference C
        // Argon2), hashlib and hmac (HKDF by hand, RFC 5869), and the `cryptography` package's
        // ChaCha20Poly1305. `pip install argon2-cffi cryptography`, then `python3 -` with:
        //
        //   import hashlib, hmac
        //   from argon2.low_level import hash_secret_raw, Type
        //   from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
        //   code = b"abcdefghijklmnop"  # "ABCD-efgh ijkl_mnop" normalized
        //   secret = hash_secret_raw(code, b"meishi/event/v2", time_cost=5, memory_cost=65536,
        //                            parallelism=1, hash_len=32, type=Type.ID, version=19)
        //   ns = "meishi-ev2-" + hashlib.sha256(b"meishi/event/v2/namespace\0" + secret).hexdigest()
        //   prk = hmac.new(b"meishi/event/v2", secret, hashlib.sha256).digest()
        //   key = hmac.new(prk, b"meishi/event/v2/teaser-key\0" + b"\x01", hashlib.sha256).digest()
        //   nonce = bytes(range(12))
        //   ct = ChaCha20Poly1305(key).encrypt(nonce, b"signed teaser bytes",
        //                                      b"meishi/event/v2/teaser\0" + ns.encode())
        //   print("secret", secret.hex()); print("namespace", ns); print("key", key.hex())
        //   print("sealed", (b"\x01" + nonce + ct).hex())
        //
        // The same values are in proto-spec/relay.md#test-vectors.
        assert_eq!(
            hex(&secret("abcdefghijklmnop").unwrap()[..]),
            "40cbcd47934315d3e8dc8bf9860ccb2157d73a0476aa753c529daed87aaf380b"
        );
        let ev = EventKey::derive("ABCD-efgh ijkl_mnop").unwrap();
        assert_eq!(
            ev.namespace(),
            "meishi-ev2-815816ad7b39e73b408b1ae9d44faa332cd650ca1b8ac12ef7a5d09468b8f0dd"
        );
        assert_eq!(
            hex(&ev.key[..]),
            "8cb7a869f552ab4d01864979a6381364b6392eef42ceb49294c65d800fdd73cf"
        );
        let nonce: [u8; 12] = std::array::from_fn(|i| i as u8);
        let sealed = ev.seal_with_nonce(b"signed teaser bytes", nonce).unwrap();
        assert_eq!(
            hex(&sealed),
            "01000102030405060708090a0beb6dee38161d134dba67fe49be38f0f77036e98d3b9fa07fb2b9bb2487aa8bfe15b94f"
        );
        assert_eq!(
            hex(&Sha256::digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn kdf_parameters_match_the_spec() {
        // proto-spec/relay.md#event-secret states these numbers.
        assert_eq!(
            (KDF_M_COST, KDF_T_COST, KDF_P_COST, SECRET_LEN),
            (65_536, 5, 1, 32)
        );
        assert_eq!(KDF_SALT, b"meishi/event/v2");
        assert!(Params::new(KDF_M_COST, KDF_T_COST, KDF_P_COST, Some(SECRET_LEN)).is_ok());
    }

    #[test]
    fn bad_codes_are_refused() {
        assert_eq!(normalize("   "), Err(CodeError::Empty));
        assert_eq!(normalize("- _"), Err(CodeError::Empty));
        assert_eq!(normalize("ab\u{7}c"), Err(CodeError::Control));
        assert!(matches!(
            normalize(&"x".repeat(MAX_CODE + 1)),
            Err(CodeError::TooLong { .. })
        ));
        assert!(normalize(&"x".repeat(MAX_CODE)).is_ok());
        // Non-ASCII letters are kept, not folded.
        assert_ne!(namespace("Über").unwrap(), namespace("über").unwrap());
    }

    #[test]
    fn is_namespace_rejects_other_shapes() {
        let ns = namespace("x").unwrap();
        assert!(is_namespace(&ns));
        assert!(!is_namespace("rustmeetup"));
        assert!(!is_namespace(&ns.to_uppercase()));
        assert!(!is_namespace(&ns[..ns.len() - 1]));
        assert!(!is_namespace(&format!("{ns}0")));
        // Only the current derivation: a v1 namespace (unsalted SHA-256 of the code) is refused.
        assert!(!is_namespace(&ns.replace("meishi-ev2-", "meishi-ev1-")));
        assert!(!is_namespace(&ns.replace("meishi-ev2-", "meishi-ev3-")));
    }

    #[test]
    fn seal_round_trip_and_rejections() {
        let ev = EventKey::derive("abcd-efgh").unwrap();
        let other = EventKey::derive("abcd-efgi").unwrap();
        let sealed = ev.seal(b"teaser").unwrap();
        assert_eq!(sealed.len(), 1 + NONCE_LEN + 6 + TAG_LEN);
        assert_eq!(ev.open(&sealed).unwrap(), b"teaser");
        assert_eq!(other.open(&sealed), Err(SealError::WrongKey));
        // Two seals of one teaser differ (random nonce).
        assert_ne!(ev.seal(b"teaser").unwrap(), sealed);
        // Every bit flip fails.
        for i in 0..sealed.len() {
            for bit in 0..8 {
                let mut m = sealed.clone();
                m[i] ^= 1 << bit;
                assert!(ev.open(&m).is_err(), "flip {i}:{bit} opened");
            }
        }
        assert!(matches!(
            ev.open(&sealed[..20]),
            Err(SealError::Malformed { .. })
        ));
        assert!(matches!(
            ev.seal(&[0; MAX_SEALED_PLAINTEXT + 1]),
            Err(SealError::TooLarge { .. })
        ));
        let max = ev.seal(&[0; MAX_SEALED_PLAINTEXT]).unwrap();
        assert_eq!(max.len(), MAX_SEALED);
        let mut v2 = sealed.clone();
        v2[0] = 2;
        assert_eq!(ev.open(&v2), Err(SealError::Version(2)));
    }

    #[test]
    fn sealed_teaser_is_bound_to_the_namespace() {
        // Same key material cannot be moved to another namespace: the AAD names it.
        let ev = EventKey::derive("code").unwrap();
        let sealed = ev.seal_with_nonce(b"t", [1; 12]).unwrap();
        let mut moved = ev.clone();
        moved.namespace = namespace("other").unwrap();
        assert_eq!(moved.open(&sealed), Err(SealError::WrongKey));
    }
}
