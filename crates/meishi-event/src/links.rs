//! What a give carries besides the card: the giver's [`SlotAddress`] (where the contact reads
//! every later version of the card) and a drop address (where the contact leaves sealed
//! messages for the giver: an X25519 key and a box id made for this one contact).
//! proto-spec/exchange.md#links
//!
//! The bytes travel inside the signed give envelope (format 2), so they reach only those the
//! giver's consent rule gives the card to, and nobody can swap them for their own.
//!
//! ```text
//! links = 01 || drop id (32) || drop key (32) || slot address (proto-spec/slot.md#slot-address)
//! ```

use crate::slot::{SlotAddress, SlotAddressError, MAX_SLOT_ADDRESS};

/// The version byte of [`Links`].
pub const LINKS_V1: u8 = 1;
/// The longest encoding of [`Links`].
pub const MAX_LINKS_BYTES: usize = 1 + 64 + MAX_SLOT_ADDRESS;
// Links must fit a give envelope's `links` field (1,024 bytes, proto-spec/exchange.md#links).
const _: () = assert!(MAX_LINKS_BYTES <= 1024);

/// A giver's links for one contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Links {
    /// Where the giver's later cards are.
    pub slot: SlotAddress,
    /// The contact's box at the giver's relays: messages to the giver go there.
    pub drop_id: [u8; 32],
    /// The X25519 key the contact seals messages for the giver to.
    pub drop_key: [u8; 32],
}

/// Why bytes are not [`Links`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LinksError {
    #[error("the links are empty")]
    Empty,
    #[error("the links are {len} bytes long; at most {MAX_LINKS_BYTES} are allowed")]
    TooLarge { len: usize },
    #[error("unknown links version {0}")]
    UnsupportedVersion(u8),
    #[error("the links end before the drop address")]
    Truncated,
    #[error("the slot address in the links: {0}")]
    Slot(#[from] SlotAddressError),
}

impl LinksError {
    /// The error's name in test vectors and reports.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::TooLarge { .. } => "too-large",
            Self::UnsupportedVersion(_) => "unsupported-version",
            Self::Truncated => "truncated",
            Self::Slot(_) => "bad-slot-address",
        }
    }
}

impl Links {
    /// The canonical bytes.
    pub fn encode(&self) -> Vec<u8> {
        let slot = self.slot.encode();
        let mut out = Vec::with_capacity(1 + 64 + slot.len());
        out.push(LINKS_V1);
        out.extend_from_slice(&self.drop_id);
        out.extend_from_slice(&self.drop_key);
        out.extend_from_slice(&slot);
        out
    }

    /// Decodes links; every rule of the slot address applies to its part. Never panics.
    pub fn decode(bytes: &[u8]) -> Result<Self, LinksError> {
        let Some(&version) = bytes.first() else {
            return Err(LinksError::Empty);
        };
        if bytes.len() > MAX_LINKS_BYTES {
            return Err(LinksError::TooLarge { len: bytes.len() });
        }
        if version != LINKS_V1 {
            return Err(LinksError::UnsupportedVersion(version));
        }
        let rest = &bytes[1..];
        if rest.len() < 64 {
            return Err(LinksError::Truncated);
        }
        let (drop, slot) = rest.split_at(64);
        let mut drop_id = [0u8; 32];
        let mut drop_key = [0u8; 32];
        drop_id.copy_from_slice(&drop[..32]);
        drop_key.copy_from_slice(&drop[32..]);
        Ok(Self {
            slot: SlotAddress::decode(slot)?,
            drop_id,
            drop_key,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test fails by panicking")]
mod tests {
    use super::*;
    use crate::slot::{SlotKey, SlotSealKey};

    fn links() -> Links {
        let relay =
            "/ip4/192.0.2.1/tcp/4001/p2p/12D3KooWBHkR6nGT5KH3Xow9voA2aSQ67423yzWZCVbruRadyybt"
                .parse()
                .unwrap();
        Links {
            slot: SlotAddress::new(
                SlotKey::from_seed(&[3; 32]).id(),
                SlotSealKey::from_bytes([4; 32]),
                vec![relay],
            )
            .unwrap(),
            drop_id: [5; 32],
            drop_key: [6; 32],
        }
    }

    #[test]
    fn round_trip_and_every_prefix_fails() {
        let l = links();
        let bytes = l.encode();
        assert_eq!(Links::decode(&bytes).unwrap(), l);
        for n in 0..bytes.len() {
            assert!(Links::decode(&bytes[..n]).is_err(), "prefix {n} accepted");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(
            Links::decode(&longer).unwrap_err().kind(),
            "bad-slot-address"
        );
        let mut v2 = bytes;
        v2[0] = 2;
        assert_eq!(
            Links::decode(&v2).unwrap_err().kind(),
            "unsupported-version"
        );
    }
}
