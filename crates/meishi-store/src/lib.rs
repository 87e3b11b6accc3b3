//! The meishi contact book: your own card, the signed cards of the people you met with the
//! history of every version seen, and unverified contacts imported from vCards. SQLite (bundled)
//! in WAL mode with `synchronous=FULL`, because a card received once at an event may never come
//! again. The identity key file lives beside it ([`keyfile`]).
//!
//! Contacts are keyed by public key. A signed card replaces the stored one only with a higher
//! seq; an older seq is a replay and is refused; a different card with a seq already seen is
//! equivocation and is kept as evidence. An unverified contact becomes verified when a signed
//! card with its key arrives; contacts are never merged by name.
//!
//! ```
//! use meishi_card::{Card, Identity, SignedCard};
//! use meishi_store::{ContactRef, PutOutcome, Store};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let store = Store::open(&dir.path().join("contacts.db")).unwrap();
//! let ada = Identity::from_seed(&[1; 32]);
//! let card = SignedCard::sign(&ada, 1, 1_700_000_000, &Card::new("Ada")).unwrap();
//! assert_eq!(store.put_signed(&card, "qr").unwrap(), PutOutcome::Added);
//! assert_eq!(store.put_signed(&card, "qr").unwrap(), PutOutcome::Unchanged);
//!
//! let contact = store.get(&ContactRef::Key(ada.public())).unwrap().unwrap();
//! assert!(contact.summary.verified);
//! assert_eq!(contact.card.name, "Ada");
//!
//! store.add_tag(&ContactRef::Key(ada.public()), "RustConf").unwrap();
//! assert_eq!(store.search("rustc").unwrap()[0].name, "Ada");
//! ```

mod consent;
mod contacts;
mod error;
mod extras;
mod inbox;
mod intros;
mod links;
mod receive;
mod schema;

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use meishi_card::{Card, DecodeError, PublicKey, SignedCard};
use rusqlite::{Connection, ErrorCode, Transaction, TransactionBehavior};

pub use consent::{ConsentPeers, TeaserChoice, TeaserChoiceError};
pub use contacts::{
    fold_name, Contact, ContactRef, ContactSummary, Equivocation, PutOutcome, RefError, MAX_VIA,
    MIN_PREFIX,
};
pub use error::{Result, StoreError};
pub use extras::{
    check_date, fts_query, normalize_tag, Meeting, MeetingRecord, Note, MAX_ENVELOPE,
    MAX_EVENT_NAME, MAX_MEETINGS, MAX_NOTES, MAX_NOTE_TEXT, MAX_QUERY, MAX_QUERY_TERMS,
    MAX_RESULTS, MAX_TAGS, MAX_TAG_LEN,
};
pub use inbox::{InboxItem, InboxStatus, INBOX_TTL, MAX_PENDING};
pub use intros::{IntroMade, IntroReceived, MadeState, ReceivedState};
pub use links::{ContactLinks, OwnLinks};
pub use meishi_keyfile::{self as keyfile, KeyError};
pub use receive::{ImportResult, Unsolicited, Via, MAX_UNKEPT};
pub use schema::SCHEMA_VERSION;

/// How long a writer waits for another process (the CLI beside a running `meishi up`) to
/// finish its transaction before giving up with [`StoreError::Busy`].
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// One card to store in [`Store::put_all`].
#[derive(Debug, Clone, Copy)]
pub enum Import<'a> {
    /// A signed card, already verified by [`SignedCard::decode`].
    Signed(&'a SignedCard),
    /// An unverified card (a vCard), with the meishi key it carried if any.
    Unverified {
        card: &'a Card,
        key: Option<PublicKey>,
    },
}

/// The contact book. One per process; it is `Send` (move it to a blocking thread) but not
/// `Sync`. Several processes may open the same file.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

/// A write transaction spanning several puts: everything or nothing is stored. Get one from
/// [`Store::transaction`].
pub struct Tx<'a> {
    tx: Transaction<'a>,
}

impl Store {
    /// Opens (creating if needed, mode 0600) and migrates the contact book at `path`.
    pub fn open(path: &Path) -> Result<Store> {
        let io_err = |source: io::Error| StoreError::Io {
            path: path.to_owned(),
            source,
        };
        // Create the file ourselves so it is 0600 from the first moment; SQLite gives the -wal
        // and -shm files the same mode as the database file.
        //
        // An existing file is never opened here: SQLite's locks are POSIX record locks, which
        // belong to the process, and closing *any* descriptor of the file drops them all. A
        // second Store in a process that already has one (`meishi up` and its web app) would
        // silently unlock the first; another process closing the book would then take itself
        // for the last user, checkpoint and delete the -wal file the first still writes to,
        // and those writes would be lost to everyone else.
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(file) => drop(file),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_err(e)),
        }
        let meta = std::fs::metadata(path).map_err(io_err)?;
        if meta.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .map_err(io_err)?;
        }
        let not_db = |e: rusqlite::Error| match e.sqlite_error_code() {
            Some(ErrorCode::NotADatabase) => StoreError::NotADatabase {
                path: path.to_owned(),
            },
            _ => StoreError::from(e),
        };
        let mut conn = Connection::open(path).map_err(not_db)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(not_db)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(not_db)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Io {
                path: path.to_owned(),
                source: io::Error::other(format!(
                    "the file system refused WAL journaling (got {mode})"
                )),
            });
        }
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(not_db)?;
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(not_db)?;
        schema::migrate(&mut conn).map_err(|e| match e {
            StoreError::Sqlite(e) => not_db(e),
            other => other,
        })?;
        Ok(Store {
            conn,
            path: path.to_owned(),
        })
    }

    /// Where the database lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` inside one write transaction: committed when `f` returns `Ok`, rolled back
    /// (nothing stored) when it returns `Err`.
    pub fn transaction<T>(&mut self, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
        let tx = Tx {
            tx: self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?,
        };
        let out = f(&tx)?;
        tx.tx.commit()?;
        Ok(out)
    }

    /// One immediate transaction around `f`. IMMEDIATE takes the write lock up front, so two
    /// processes never deadlock upgrading read locks; `busy_timeout` handles the waiting.
    fn write<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let tx = Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Stores every item or none: the first error rolls everything back.
    pub fn put_all(&mut self, items: &[Import<'_>], via: &str) -> Result<Vec<PutOutcome>> {
        self.transaction(|tx| items.iter().map(|item| tx.put(*item, via)).collect())
    }

    /// Your own card, re-verified.
    pub fn own_card(&self) -> Result<Option<SignedCard>> {
        contacts::own_card(&self.conn)
    }

    /// Stores your own card; refuses a seq not above the stored one and a different key.
    pub fn set_own_card(&self, card: &SignedCard) -> Result<()> {
        self.write(|c| contacts::set_own_card(c, card))
    }

    /// Stores a verified signed card received `via` some channel; see [`PutOutcome`].
    pub fn put_signed(&self, card: &SignedCard, via: &str) -> Result<PutOutcome> {
        self.write(|c| contacts::put_signed(c, card, via))
    }

    /// Stores an unverified card (a vCard import). Never overwrites a verified contact.
    pub fn put_unverified(
        &self,
        card: &Card,
        key: Option<PublicKey>,
        via: &str,
    ) -> Result<PutOutcome> {
        self.write(|c| contacts::put_unverified(c, card, key, via))
    }

    /// Every contact, sorted by name.
    pub fn list(&self) -> Result<Vec<ContactSummary>> {
        contacts::list(&self.conn)
    }

    /// Look-alikes: the contacts whose display name is the same as `name` after [`fold_name`]
    /// (case, whitespace and invisible characters ignored) but whose key is not `key` (or who
    /// have no key while `key` is one). A stranger's card can carry anyone's name; this finds
    /// the contacts it could be mistaken for. Ascending by id.
    pub fn lookalikes(&self, name: &str, key: Option<PublicKey>) -> Result<Vec<ContactSummary>> {
        contacts::lookalikes(&self.conn, name, key)
    }

    /// Every contact that has look-alikes (see [`Store::lookalikes`]), with their ids, in one
    /// scan: for the contact list. Two contacts without a key are not look-alikes of each other.
    pub fn lookalike_ids(&self) -> Result<BTreeMap<i64, Vec<i64>>> {
        contacts::lookalike_ids(&self.conn)
    }

    /// One contact with its card (re-verified) and history. A stored card that no longer
    /// verifies is an error ([`StoreError::CardNoLongerVerifies`]), never silently used.
    pub fn get(&self, r: &ContactRef) -> Result<Option<Contact>> {
        contacts::get(&self.conn, r)
    }

    /// Deletes a contact with its card history, notes, tags and meetings; `false` when there
    /// was none. Recorded equivocation evidence is kept. A removed contact with a key is
    /// revoked too ([`Store::revoke`]): it may no longer fetch my card.
    pub fn remove(&self, r: &ContactRef) -> Result<bool> {
        self.write(|c| {
            if let Some(id) = contacts::resolve(c, r)? {
                if let Some(key) = consent::contact_key(c, id)? {
                    consent::revoke(c, &key)?;
                    c.execute("DELETE FROM peer_addrs WHERE key = ?1", [&key.0[..]])?;
                    c.execute("DELETE FROM contact_links WHERE key = ?1", [&key.0[..]])?;
                    links::mark_rotate(c)?;
                }
            }
            contacts::remove(c, r)
        })
    }

    /// Revokes a contact: it may no longer fetch my card (a running node refuses it as it
    /// refuses anyone who never had my card), and its gives wait in the inbox. Returns the
    /// revoked key, or `None` for a contact without one (it never had my card over the network).
    pub fn revoke(&self, r: &ContactRef) -> Result<Option<PublicKey>> {
        self.write(|c| {
            let id = contacts::require(c, r)?;
            let key = consent::contact_key(c, id)?;
            if let Some(k) = &key {
                consent::revoke(c, k)?;
                // The revoked contact knows my slot: my next cards go to a new one.
                links::mark_rotate(c)?;
            }
            Ok(key)
        })
    }

    /// Lifts a revocation: I chose to give my card to `key` again. `false` when it was not
    /// revoked.
    pub fn unrevoke(&self, key: &PublicKey) -> Result<bool> {
        self.write(|c| consent::unrevoke(c, key))
    }

    /// Whether `key` is revoked.
    pub fn is_revoked(&self, key: &PublicKey) -> Result<bool> {
        consent::is_revoked(&self.conn, key)
    }

    /// Holders, contacts, revoked keys and pending givers, for the node's consent rule, read in
    /// one transaction. `me`: my own key (never listed).
    pub fn consent_peers(&self, me: &PublicKey) -> Result<ConsentPeers> {
        // A read: one snapshot without taking the write lock (`meishi up` reads this on every
        // change another process makes).
        let tx = Transaction::new_unchecked(&self.conn, TransactionBehavior::Deferred)?;
        let out = consent::peers(&tx, me)?;
        tx.commit()?;
        Ok(out)
    }

    /// The teaser I chose to publish (`off` until chosen).
    pub fn teaser(&self) -> Result<TeaserChoice> {
        consent::teaser(&self.conn)
    }

    /// Chooses the teaser to publish.
    pub fn set_teaser(&self, choice: TeaserChoice) -> Result<()> {
        self.write(|c| consent::set_teaser(c, choice))
    }

    /// The id `r` names, if any; an ambiguous prefix is an error.
    pub fn resolve(&self, r: &ContactRef) -> Result<Option<i64>> {
        contacts::resolve(&self.conn, r)
    }

    /// Every signed card seen for contact `id`, ascending by seq, each re-verified.
    pub fn history(&self, id: i64) -> Result<Vec<SignedCard>> {
        contacts::history_cards(&self.conn, id)
    }

    /// The recorded equivocation evidence.
    pub fn equivocations(&self) -> Result<Vec<Equivocation>> {
        contacts::equivocations(&self.conn)
    }

    /// Re-verifies every stored signed card; lists the contacts whose card fails.
    pub fn verify_all(&self) -> Result<Vec<(i64, DecodeError)>> {
        contacts::verify_all(&self.conn)
    }

    /// Records where and when you met the contact with key `contact` (a signed give envelope,
    /// from or to them). The contact must be stored first. Returns `false` when this envelope
    /// was already recorded.
    pub fn add_meeting(&self, contact: PublicKey, meeting: &MeetingRecord) -> Result<bool> {
        self.write(|c| extras::add_meeting(c, contact, meeting))
    }

    /// Appends a timestamped note to a contact; returns the note's id.
    pub fn add_note(&self, r: &ContactRef, text: &str) -> Result<i64> {
        self.write(|c| extras::add_note(c, contacts::require(c, r)?, text))
    }

    /// Tags a contact (normalized with [`normalize_tag`]); `false` when it already had the tag.
    pub fn add_tag(&self, r: &ContactRef, tag: &str) -> Result<bool> {
        self.write(|c| extras::add_tag(c, contacts::require(c, r)?, tag))
    }

    /// Removes a tag; `false` when the contact did not have it.
    pub fn remove_tag(&self, r: &ContactRef, tag: &str) -> Result<bool> {
        self.write(|c| extras::remove_tag(c, contacts::require(c, r)?, tag))
    }

    /// Sets (`Some("YYYY-MM-DD")`) or clears (`None`) the follow-up date of a contact.
    pub fn set_follow_up(&self, r: &ContactRef, date: Option<&str>) -> Result<()> {
        self.write(|c| extras::set_follow_up(c, contacts::require(c, r)?, date))
    }

    /// Contacts with a follow-up date on or before `until` (`YYYY-MM-DD`; all when `None`),
    /// soonest first, with their date.
    pub fn follow_ups(&self, until: Option<&str>) -> Result<Vec<(ContactSummary, String)>> {
        extras::follow_ups(&self.conn, until)
    }

    /// Full-text search over name, organization, title, headline, notes, interests and tags.
    /// Every word must match (as a word prefix, case- and accent-insensitive); any user text is
    /// safe (see [`fts_query`]). Best matches first, at most [`MAX_RESULTS`].
    pub fn search(&self, query: &str) -> Result<Vec<ContactSummary>> {
        extras::search(&self.conn, query)
    }

    /// Puts a card given under the `ask` policy in the inbox; returns the item id. One pending
    /// item per giver (a repeated give updates it). Refused when the card is not the giver's.
    /// `addrs`: where the giver could be reached (kept to give back later, even after a
    /// restart; at most 8, each at most 512 bytes, the rest dropped).
    pub fn inbox_add(
        &self,
        card: &SignedCard,
        meeting: &MeetingRecord,
        received_at: u64,
        addrs: &[String],
    ) -> Result<i64> {
        self.write(|c| inbox::add(c, card, meeting, received_at, addrs))
    }

    /// Declines every pending item; returns how many.
    pub fn inbox_decline_all(&self) -> Result<usize> {
        self.write(inbox::decline_all)
    }

    /// Forgets pending items received before `before` (Unix seconds; see [`INBOX_TTL`]): their
    /// givers get nothing. Returns how many.
    pub fn inbox_expire(&self, before: u64) -> Result<usize> {
        self.write(|c| inbox::expire(c, before))
    }

    /// The items waiting for a decision, oldest first.
    pub fn inbox_list(&self) -> Result<Vec<InboxItem>> {
        inbox::list(&self.conn, InboxStatus::Pending)
    }

    /// One inbox item, whatever its status.
    pub fn inbox_get(&self, id: i64) -> Result<Option<InboxItem>> {
        inbox::get(&self.conn, id)
    }

    /// Accepts a pending item: stores the card and the meeting, marks it accepted and lifts a
    /// revocation of the giver (accepting is choosing to give my card), in one transaction. A running node then gives my card back (see [`Store::inbox_accepted`]).
    pub fn inbox_take(&self, id: i64) -> Result<(InboxItem, PutOutcome)> {
        self.write(|c| inbox::take(c, id))
    }

    /// Declines a pending item: nothing is stored and nothing is given back.
    pub fn inbox_decline(&self, id: i64) -> Result<()> {
        self.write(|c| inbox::decline(c, id))
    }

    /// Remembers where `key` was reached (a swap, a give, a give-back), so that a later swap or
    /// fetch by name can reach it without a multiaddr. At most 8 are kept.
    pub fn set_addrs(&self, key: &PublicKey, addrs: &[String]) -> Result<()> {
        inbox::set_peer_addrs(&self.conn, key, addrs, contacts::now())
    }

    /// Where `key` was last reached (empty when never).
    pub fn addrs_of(&self, key: &PublicKey) -> Result<Vec<String>> {
        inbox::peer_addrs(&self.conn, key)
    }

    /// Accepted items whose giver has not yet received my card back: what the node must answer.
    pub fn inbox_accepted(&self) -> Result<Vec<InboxItem>> {
        inbox::list(&self.conn, InboxStatus::Accepted)
    }

    /// Records that the node gave my card back for an accepted item.
    pub fn inbox_mark_given_back(&self, id: i64) -> Result<()> {
        self.write(|c| inbox::mark_given_back(c, id))
    }

    /// Marks the accepted items from `key` given back: my card reached them another way (they
    /// gave again and the node answered). Returns how many.
    pub fn inbox_given_to(&self, key: &PublicKey) -> Result<usize> {
        self.write(|c| inbox::mark_given_back_to(c, key))
    }

    /// Deletes declined and answered items decided before `before` (Unix seconds).
    pub fn inbox_purge(&self, before: u64) -> Result<usize> {
        self.write(|c| inbox::purge(c, before))
    }

    /// A number that changes whenever another connection commits to the database
    /// (`PRAGMA data_version`): a cheap check before polling [`Store::inbox_accepted`].
    pub fn data_version(&self) -> Result<u64> {
        let v: i64 = self
            .conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))?;
        Ok(contacts::from_sql(v))
    }

    /// `PRAGMA integrity_check`: `Ok(())` when SQLite finds the file sound, else its report.
    pub fn integrity_check(&self) -> Result<Result<(), Vec<String>>> {
        let mut stmt = self.conn.prepare("PRAGMA integrity_check")?;
        let lines = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(if lines == ["ok"] { Ok(()) } else { Err(lines) })
    }
}

impl Tx<'_> {
    /// [`Store::put_signed`] inside this transaction.
    pub fn put_signed(&self, card: &SignedCard, via: &str) -> Result<PutOutcome> {
        contacts::put_signed(&self.tx, card, via)
    }

    /// [`Store::put_unverified`] inside this transaction.
    pub fn put_unverified(
        &self,
        card: &Card,
        key: Option<PublicKey>,
        via: &str,
    ) -> Result<PutOutcome> {
        contacts::put_unverified(&self.tx, card, key, via)
    }

    /// Either put, by kind.
    pub fn put(&self, item: Import<'_>, via: &str) -> Result<PutOutcome> {
        match item {
            Import::Signed(card) => self.put_signed(card, via),
            Import::Unverified { card, key } => self.put_unverified(card, key, via),
        }
    }

    /// [`Store::set_own_card`] inside this transaction.
    pub fn set_own_card(&self, card: &SignedCard) -> Result<()> {
        contacts::set_own_card(&self.tx, card)
    }

    /// [`Store::add_meeting`] inside this transaction.
    pub fn add_meeting(&self, contact: PublicKey, meeting: &MeetingRecord) -> Result<bool> {
        extras::add_meeting(&self.tx, contact, meeting)
    }

    /// [`Store::add_note`] inside this transaction.
    pub fn add_note(&self, r: &ContactRef, text: &str) -> Result<i64> {
        extras::add_note(&self.tx, contacts::require(&self.tx, r)?, text)
    }

    /// [`Store::add_tag`] inside this transaction.
    pub fn add_tag(&self, r: &ContactRef, tag: &str) -> Result<bool> {
        extras::add_tag(&self.tx, contacts::require(&self.tx, r)?, tag)
    }

    /// [`Store::get`] inside this transaction (sees its uncommitted writes).
    pub fn get(&self, r: &ContactRef) -> Result<Option<Contact>> {
        contacts::get(&self.tx, r)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test fails by panicking")]
mod tests;
