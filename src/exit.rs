//! Exit codes (documented in the README) and the error that carries one.

use std::fmt;

/// Success.
pub const OK: u8 = 0;
/// Any other failure (I/O, a broken home folder).
pub const FAILURE: u8 = 1;
/// Wrong command-line usage (clap returns it for what it parses; commands for combinations it
/// cannot see).
pub const USAGE: u8 = 2;
/// Bad input: a file, image or message that is not a valid card; nothing was stored.
pub const BAD_INPUT: u8 = 3;
/// The contact (or peer) asked for does not exist.
pub const NOT_FOUND: u8 = 4;
/// `swap`: the other side received my card but did not give theirs (their policy).
pub const RECEIVED_ONLY: u8 = 5;
/// `swap`, `event`: nobody answered.
pub const UNREACHABLE: u8 = 6;

/// An error with a specific exit code.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub error: anyhow::Error,
}

impl Failure {
    pub fn new(code: u8, error: anyhow::Error) -> Self {
        Self { code, error }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.error)
    }
}

impl std::error::Error for Failure {}

/// The exit code for an error: a `Failure`'s own, else 1.
pub fn code_of(e: &anyhow::Error) -> u8 {
    e.downcast_ref::<Failure>().map_or(FAILURE, |f| f.code)
}
