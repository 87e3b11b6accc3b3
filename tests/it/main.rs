//! Cross-crate integration tests: one binary, one module per area.

mod arch;
mod cli;
mod consent;
mod event;
mod examples;
mod import;
mod journey;
mod net;
mod newcomer;
mod qr;
mod relay_store;
mod updates;
mod web;
