//! The meishi contact card: its model, its canonical signed encoding, identities and
//! fingerprints, and vCard export and import. No I/O happens here.
//!
//! ```
//! use meishi_card::{Card, Identity, SignedCard};
//!
//! let me = Identity::from_seed(&[42; 32]);
//! let mut card = Card::new("Ada Lovelace");
//! card.org = Some("Analytical Engines Ltd".into());
//! let signed = SignedCard::sign(&me, 1, 1_700_000_000, &card).unwrap();
//!
//! // Anyone can check it from the bytes alone.
//! let received = SignedCard::decode(signed.as_bytes()).unwrap();
//! assert_eq!(received.key(), me.public());
//! assert_eq!(received.card().name, "Ada Lovelace");
//! ```
//!
//! The byte layout and every rejection rule are specified in `proto-spec/card.md`.

mod display;
pub mod envelope;
pub mod intro;
mod key;
pub mod limits;
mod model;
pub mod vcard;
mod wire;

pub use display::{display_safe, hidden_char, HiddenChar, HiddenKind};
pub use key::{Identity, PeerIdError, PublicKey, SignatureError, FINGERPRINT_LABEL};
pub use model::{Card, FieldError, Social, SocialKind, SOCIAL_KINDS};
pub use wire::Malformed;
pub use wire::{
    encode_body_for_tests, DecodeError, Extension, Replacement, SignError, SignedCard, CARD_LABEL,
    FORMAT_V1, SIGNATURE_LEN,
};
