//! The meishi peer node: one libp2p swarm (TCP and QUIC, noise, yamux, identify, ping, mDNS,
//! connection limits, the meishi exchange protocol) behind a cloneable [`Node`] handle and a
//! stream of [`Event`]s. It gives and receives signed cards, finds peers on the local network
//! and shows their teasers. It keeps no records: the application stores what the events carry.
//!
//! ```no_run
//! # async fn demo(card: meishi_card::SignedCard, identity: meishi_card::Identity) -> anyhow::Result<()> {
//! use meishi_node::{Config, Event, Node};
//!
//! let mut config = Config::new(identity, card);
//! config.listen = vec!["/ip4/0.0.0.0/tcp/0".parse()?];
//! config.mdns = true;
//! let (node, mut events) = Node::spawn(config)?;
//! while let Some(event) = events.recv().await {
//!     if let Event::CardReceived { from, envelope, .. } = event {
//!         println!("{from} gave me {}", envelope.card().card().name);
//!     }
//! }
//! # drop(node); Ok(()) }
//! ```
//!
//! The wire protocol is specified in `proto-spec/exchange.md`.

mod attend;
mod behaviour;
mod client_codec;
mod config;
pub mod consent;
mod drops;
mod event;
mod event_loop;
mod exchange;
mod guard;
mod lan;
mod node;
pub mod protocol;
mod slots;
mod swarm;

pub use attend::{JoinError, JoinedEvent, BOARD_PROTOCOL, MAX_EVENTS, MAX_RELAYS, REGISTER_TTL};
pub use behaviour::IDENTIFY_PROTOCOL_VERSION;
pub use config::{Config, GiveLinks, Limits, Peers, Policy, PolicyParseError, Scope, Teaser};
pub use drops::{DropClientError, DROP_PROTOCOL, MAX_DROP_REQUESTS};
pub use event::{Attendee, Discovered, Event, Refusal};
pub use libp2p::{multiaddr, Multiaddr, PeerId};
pub use node::{
    key_of, peer_id_of, split_p2p, DialError, FetchError, GiveError, GiveOutcome, Node, PingError,
    RequestError, SetCardError, Shutdown, SpawnError,
};
pub use protocol::{FrameError, RefuseCode, EXCHANGE_PROTOCOL, MAX_MESSAGE_BYTES};
pub use slots::{SlotClientError, SlotPutOutcome, MAX_SLOT_REQUESTS, SLOT_PROTOCOL};
