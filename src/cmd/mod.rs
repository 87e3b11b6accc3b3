//! One module per group of subcommands; each is glue over the library crates.

pub mod card;
pub mod contacts;
pub mod event;
pub mod fetch;
pub(crate) mod lookalike;
pub mod net;
pub mod qr;
pub mod relay;
pub mod updates;
