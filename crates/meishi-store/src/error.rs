//! The store's error type: what went wrong and what the user can do about it.

use std::io;
use std::path::PathBuf;

use meishi_card::DecodeError;
use rusqlite::ErrorCode;

/// Why a contact-book operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("cannot open the contact book {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the contact book {path} is not a SQLite database (damaged, or another file); move it away to start afresh")]
    NotADatabase { path: PathBuf },
    #[error(
        "the contact book is locked by another meishi process (a running `meishi up`?); wait a moment and try \
         again"
    )]
    Busy(#[source] rusqlite::Error),
    #[error(
        "the contact book was written by a newer meishi (schema version {found}; this version knows up to \
         {supported}); update meishi"
    )]
    NewerSchema { found: u32, supported: u32 },
    #[error("upgrading the contact book to schema version {version} failed: {source}")]
    Migration {
        version: u32,
        #[source]
        source: rusqlite::Error,
    },
    #[error("contact book database error: {0}")]
    Sqlite(#[source] rusqlite::Error),
    #[error(
        "your card is already at seq {stored}; a new version needs a seq above it (got {given})"
    )]
    StaleOwnCard { stored: u64, given: u64 },
    #[error("the new own card is signed by a different key than the stored one; the identity key was replaced")]
    OwnKeyChanged,
    #[error("the card is not valid: {0}")]
    InvalidCard(#[source] meishi_card::FieldError),
    #[error("this is your own card; it is not added to your contacts")]
    OwnCard,
    #[error(
        "contact #{id}: its stored signed card no longer verifies ({source}); it is not used. Ask the contact \
         for their card again"
    )]
    CardNoLongerVerifies {
        id: i64,
        #[source]
        source: DecodeError,
    },
    #[error("your own stored card no longer verifies ({0}); edit your card to sign a new one")]
    OwnCardNoLongerVerifies(#[source] DecodeError),
    #[error("{table} row {id} is damaged: {reason}")]
    CorruptRow {
        table: &'static str,
        id: i64,
        reason: &'static str,
    },
    #[error("contact #{id}: stored card fields are damaged: {source}")]
    CardJson {
        id: i64,
        #[source]
        source: serde_json::Error,
    },
    #[error("`{prefix}` matches {matches} contacts; give more characters of the peer id")]
    AmbiguousRef { prefix: String, matches: usize },
    #[error("{} contacts are called {name:?} (#{}); give the number instead", ids.len(), ids.iter().map(i64::to_string).collect::<Vec<_>>().join(", #"))]
    AmbiguousName { name: String, ids: Vec<i64> },
    #[error("no contact {0}; see `meishi contacts list`")]
    NoSuchContact(String),
    #[error("{what} is {len} bytes; the limit is {max}")]
    TooLong {
        what: &'static str,
        len: usize,
        max: usize,
    },
    #[error("{what} is empty")]
    Empty { what: &'static str },
    #[error("{what} contains a control character")]
    ControlCharacter { what: &'static str },
    #[error("too many {what}; the limit is {max}")]
    TooMany { what: &'static str, max: usize },
    #[error("the give envelope is neither from nor to this contact")]
    MeetingNotWithContact,
    #[error("no inbox item #{0}; see `meishi inbox`")]
    NoSuchInboxItem(i64),
    #[error("an introduction of these two is under way (#{0}); wait for it to end or expire")]
    IntroUnderWay(i64),
    #[error("a stored value is damaged: {0}")]
    Corrupt(String),
    #[error("inbox item #{id} was already {status}")]
    InboxAlreadyDecided { id: i64, status: crate::InboxStatus },
    #[error("inbox item #{id}: the stored card no longer verifies ({source}); decline it")]
    InboxCardInvalid {
        id: i64,
        #[source]
        source: DecodeError,
    },
    #[error("the inbox holds {max} cards waiting for a decision; accept or decline some with `meishi inbox`")]
    InboxFull { max: usize },
    #[error("the card in a give is not the giver's own card")]
    InboxCardNotFromGiver,
    #[error("`{0}` is not a date; use YYYY-MM-DD, e.g. 2026-03-14")]
    BadDate(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Busy(e),
            _ => StoreError::Sqlite(e),
        }
    }
}

/// Shorthand for this crate's results.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
