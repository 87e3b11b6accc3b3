//! The meishi event protocol, in one crate: everything both ends of the relay's event protocol
//! share, as libp2p's rendezvous crate holds its codec, client and server. No network stack and
//! no runtime: the node and the relay bring libp2p, and the QR crate reads join tickets without
//! either.
//!
//! - [`EventKey`]: what an event code turns into (an Argon2id secret, the rendezvous namespace,
//!   the key that seals teasers), and [`code_strength`], how guessable a code is;
//! - [`board`]: the teaser board's messages ([`BoardRequest`], [`BoardResponse`]) and their byte
//!   codec;
//! - [`frame`]: the one length-prefixed framing of the board and of rendezvous, as plain async
//!   functions over `futures::io`;
//! - [`JoinTicket`]: the join URI `meishi:event?code=…&relay=…`, and [`new_code`];
//! - [`slot`]: a person's card slot on relays, one sealed and replaceable [`SlotRecord`] signed
//!   by a random [`SlotKey`], and the [`SlotAddress`] contacts follow it by;
//! - [`shard`]: which of an event's relays a node reserves on (rendezvous hashing);
//! - [`links`]: what a give carries for one contact: my slot address and a drop address;
//! - [`slotproto`]: the relay's slot protocol (`/meishi/slot/1`): [`SlotRequest`] (put a
//!   record, get up to 64) and [`SlotResponse`], framed like the board;
//! - [`drop`](mod@drop): drop boxes, directed messages a contact leaves on relays for a person
//!   who is offline: [`seal_drop`] to a [`DropAddress`], [`open_drop`] with the [`DropSecret`];
//! - [`dropproto`]: the relay's drop protocol (`/meishi/drop/1`): [`DropRequest`] (put a
//!   message, get a box's messages, acknowledge them) and [`DropResponse`].
//!
//! Specified in `proto-spec/relay.md`, `proto-spec/slot.md` and `proto-spec/drop.md`.
//!
//! ```
//! use meishi_event::{EventKey, JoinTicket};
//!
//! // Slow on purpose (Argon2id): derive once per code and keep the key.
//! let ev = EventKey::derive("Rust Meetup 2026").unwrap();
//! assert!(ev.namespace().starts_with("meishi-ev2-"));
//! let sealed = ev.seal_with_nonce(b"signed teaser bytes", [7; 12]).unwrap();
//! assert_eq!(ev.open(&sealed).unwrap(), b"signed teaser bytes");
//! // Another code cannot open it.
//! assert!(EventKey::derive("rust meetup 2025").unwrap().open(&sealed).is_err());
//!
//! // What a join QR code carries.
//! let relay = "/dns4/relay.example/tcp/4001/p2p/12D3KooWBHkR6nGT5KH3Xow9voA2aSQ67423yzWZCVbruRadyybt";
//! let ticket: JoinTicket = format!("meishi:event?code=Rust%20Meetup%202026&relay={relay}")
//!     .parse()
//!     .unwrap();
//! assert_eq!(ticket.code(), "Rust Meetup 2026");
//! ```

pub mod board;
pub mod drop;
pub mod dropproto;
pub mod frame;
mod key;
pub mod links;
pub mod shard;
pub mod slot;
pub mod slotproto;
mod strength;
mod ticket;

pub use board::{
    BoardDecodeError, BoardEntry, BoardErrorCode, BoardRequest, BoardResponse, BOARD_PROTOCOL,
    MAX_BOARD_PAGE, MAX_BOARD_REQUEST, MAX_BOARD_RESPONSE, MAX_PEER_ID,
};
pub use drop::{
    check_drop, drop_digest, open_drop, seal_drop, seal_drop_with, DropAddress, DropAddressError,
    DropError, DropId, DropSealError, DropSecret, DROP_ADDRESS_LEN, DROP_ADDRESS_V1,
    DROP_HEADER_LEN, DROP_ID_LABEL, DROP_KEY_LABEL, DROP_NONCE_LEN, DROP_SEAL_INFO,
    DROP_SEAL_LABEL, DROP_TAG_LEN, DROP_V1, MAX_DROP_PLAINTEXT, MAX_DROP_SEALED, MIN_DROP_SEALED,
};
pub use dropproto::{
    DropMessageError, DropRefusal, DropRequest, DropResponse, DROP_MESSAGES_HEAD,
    DROP_MESSAGE_OVERHEAD, DROP_PROTOCOL, MAX_DROP_GET, MAX_DROP_PAGE, MAX_DROP_REQUEST,
    MAX_DROP_RESPONSE,
};
pub use key::{
    is_namespace, namespace, normalize, CodeError, EventKey, SealError, KDF_M_COST, KDF_P_COST,
    KDF_SALT, KDF_T_COST, MAX_CODE, MAX_SEALED, MAX_SEALED_PLAINTEXT, NAMESPACE_LABEL,
    NAMESPACE_LEN, NAMESPACE_PREFIX, NONCE_LEN, SEALED_V1, SECRET_LEN, TAG_LEN, TEASER_AAD_LABEL,
    TEASER_KEY_INFO, TEASER_KEY_SALT,
};
pub use links::{Links, LinksError, LINKS_V1, MAX_LINKS_BYTES};
pub use multiaddr::Multiaddr;
pub use slot::{
    slot_nonce, SlotAddress, SlotAddressError, SlotError, SlotId, SlotKey, SlotRecord,
    SlotReplacement, SlotSealError, SlotSealKey, MAX_SLOT_ADDRESS, MAX_SLOT_CARD, MAX_SLOT_RECORD,
    MAX_SLOT_RELAYS, MAX_SLOT_RELAY_BYTES, MAX_SLOT_SEALED, MIN_SLOT_SEALED, SLOT_ADDRESS_V1,
    SLOT_NONCE_LEN, SLOT_RECORD_LABEL, SLOT_RECORD_V1, SLOT_SEAL_LABEL, SLOT_SIGNATURE_LEN,
    SLOT_TAG_LEN,
};
pub use slotproto::{
    SlotMessageError, SlotRefusal, SlotRequest, SlotResponse, MAX_SLOT_GET, MAX_SLOT_REQUEST,
    MAX_SLOT_RESPONSE, SLOT_PROTOCOL,
};
pub use strength::{code_strength, Level, Strength, EVENT_WORDS, FLOOR_BITS, GOOD_BITS};
pub use ticket::{
    code_check, new_code, JoinTicket, TicketError, JOIN_URI_PREFIX, MAX_EVENT_NAME,
    MAX_JOIN_RELAYS, MAX_JOIN_URI, NEW_CODE_BYTES,
};
