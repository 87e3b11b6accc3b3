//! The meishi application layer: one running [`meishi_node::Node`] joined to the contact book
//! ([`meishi_store::Store`]). It turns node events into stored facts (a received card with the
//! envelope that proves the meeting, a give held in the inbox, a give recorded) and yields typed
//! [`Report`]s that every front end renders the same way: the CLI prints a report's JSON or its
//! human line; the local web app will show the same values. It also brings changes other
//! processes make to the book (accepted inbox items, revocations, an edited card) to the node.
//!
//! ```no_run
//! # async fn demo(identity: meishi_card::Identity, store: meishi_store::Store) -> Result<(), Box<dyn std::error::Error>> {
//! use meishi_app::{App, Options};
//! use meishi_node::{Policy, Scope};
//!
//! let listen = vec!["/ip4/0.0.0.0/tcp/0".parse()?];
//! let mut app = App::start(identity, store, Options::new(listen, Policy::Ask, Scope::Anyone))?;
//! while let Some(event) = app.next_event().await {
//!     for report in app.apply(&event) {
//!         eprintln!("{}", report.human());
//!     }
//! }
//! # Ok(()) }
//! ```

mod app;
pub mod book;
pub mod control;
pub mod drops;
pub mod edit;
pub mod intro;
pub mod join;
mod report;
pub mod scan;
pub mod updates;

pub use app::{teaser_of, with_peer, App, Options, StartError, GIVE_BACK_RETRY};
pub use report::{Report, TeaserReport};
