//! The database schema and its migrations, versioned by `PRAGMA user_version`.
//!
//! `MIGRATIONS[i]` takes the schema from version `i` to `i + 1`. Each step runs in its own
//! `BEGIN IMMEDIATE` transaction that re-reads the version first, so two processes opening the
//! same fresh database (the CLI and `meishi up`) never apply a step twice. Steps are never
//! edited once released; a change is a new step.

use rusqlite::{Connection, TransactionBehavior};

use crate::error::{Result, StoreError};

/// Version 1: own card, contacts keyed by public key, the history of every signed card seen,
/// equivocation evidence.
const V1: &str = "
CREATE TABLE own_card (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    key BLOB NOT NULL CHECK (length(key) = 32),
    seq INTEGER NOT NULL,
    bytes BLOB NOT NULL,
    updated_at INTEGER NOT NULL
);

-- One row per person. `key` is NULL only for vCard imports without a meishi key.
-- Verified contacts keep the exact signed bytes (re-verified on every load); the parsed
-- columns and `card_json` serve listing, search and unverified contacts.
CREATE TABLE contacts (
    id INTEGER PRIMARY KEY,
    key BLOB UNIQUE CHECK (key IS NULL OR length(key) = 32),
    peer_id TEXT UNIQUE,
    verified INTEGER NOT NULL CHECK (verified IN (0, 1)),
    seq INTEGER,
    signed_bytes BLOB,
    card_json TEXT NOT NULL,
    content_hash BLOB NOT NULL,
    name TEXT NOT NULL,
    org TEXT,
    title TEXT,
    via TEXT NOT NULL,
    added_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    CHECK ((verified = 1) = (signed_bytes IS NOT NULL)),
    CHECK ((verified = 1) = (seq IS NOT NULL)),
    CHECK (verified = 0 OR key IS NOT NULL),
    CHECK ((key IS NULL) = (peer_id IS NULL))
);
-- Identical keyless vCard imports collapse into one contact.
CREATE UNIQUE INDEX contacts_keyless_content ON contacts (content_hash) WHERE key IS NULL;

-- Every signed card ever accepted for a contact, by seq.
CREATE TABLE card_history (
    contact_id INTEGER NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    bytes BLOB NOT NULL,
    via TEXT NOT NULL,
    seen_at INTEGER NOT NULL,
    PRIMARY KEY (contact_id, seq)
);

-- Two different cards signed by one key with one seq: evidence of key misuse. Both signed
-- cards are kept so anyone can check the claim.
CREATE TABLE equivocations (
    id INTEGER PRIMARY KEY,
    key BLOB NOT NULL CHECK (length(key) = 32),
    seq INTEGER NOT NULL,
    stored_bytes BLOB NOT NULL,
    incoming_bytes BLOB NOT NULL,
    via TEXT NOT NULL,
    seen_at INTEGER NOT NULL,
    UNIQUE (key, seq, incoming_bytes)
);
";

/// Version 2 (issue 4): meetings (signed give envelopes), notes, tags, follow-up dates, the
/// full-text index, and the inbox of the `ask` policy.
const V2: &str = "
ALTER TABLE contacts ADD COLUMN follow_up TEXT CHECK (follow_up IS NULL OR length(follow_up) = 10);

CREATE TABLE meetings (
    id INTEGER PRIMARY KEY,
    contact_id INTEGER NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    envelope_bytes BLOB NOT NULL,
    from_key BLOB NOT NULL CHECK (length(from_key) = 32),
    to_key BLOB NOT NULL CHECK (length(to_key) = 32),
    at INTEGER NOT NULL,
    event TEXT,
    via TEXT NOT NULL,
    recorded_at INTEGER NOT NULL,
    UNIQUE (contact_id, envelope_bytes)
);

CREATE TABLE notes (
    id INTEGER PRIMARY KEY,
    contact_id INTEGER NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    text TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX notes_contact ON notes (contact_id);

CREATE TABLE tags (
    contact_id INTEGER NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    PRIMARY KEY (contact_id, tag)
) WITHOUT ROWID;
CREATE INDEX tags_tag ON tags (tag);

-- One row per contact, rowid = contacts.id; maintained by the store in the same transaction
-- as every change (see extras::reindex).
CREATE VIRTUAL TABLE contacts_fts USING fts5 (
    name, org, title, notes, tags,
    tokenize = 'unicode61 remove_diacritics 2'
);

-- Cards given to me under the `ask` policy, and the decision about each.
CREATE TABLE inbox (
    id INTEGER PRIMARY KEY,
    card_bytes BLOB NOT NULL,
    envelope_bytes BLOB NOT NULL,
    from_key BLOB NOT NULL CHECK (length(from_key) = 32),
    to_key BLOB NOT NULL CHECK (length(to_key) = 32),
    at INTEGER NOT NULL,
    event TEXT,
    via TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'accepted', 'declined', 'given_back')),
    decided_at INTEGER
);
CREATE UNIQUE INDEX inbox_one_pending_per_giver ON inbox (from_key) WHERE status = 'pending';
CREATE INDEX inbox_status ON inbox (status);
";

/// Version 3 (issue 9, consent): settings (the teaser choice), revoked holders, and the
/// giver's addresses on inbox items (to give back after a restart).
const V3: &str = "
CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Keys that may no longer fetch my card, and whose gives wait for my decision. Kept apart from
-- contacts so that removing a contact revokes it too.
CREATE TABLE revoked (
    key BLOB PRIMARY KEY CHECK (length(key) = 32),
    revoked_at INTEGER NOT NULL
);

ALTER TABLE inbox ADD COLUMN addrs TEXT NOT NULL DEFAULT '';
";

/// Version 4 (issue 11): the last addresses each peer was reached at, so that `swap` and
/// `fetch` by name reach a contact without a multiaddr. Keyed by key, not contact: a give-back
/// may reach a giver before its card is stored.
const V4: &str = "
CREATE TABLE peer_addrs (
    key BLOB PRIMARY KEY CHECK (length(key) = 32),
    addrs TEXT NOT NULL,
    seen_at INTEGER NOT NULL
);
";

/// Version 5 (abuse bounds): contacts stored from unsolicited gives (a stranger's card kept
/// under `auto` or `never`) that the user has not touched yet. The book keeps a bounded number
/// of them, newest first; a note, a tag, a follow-up date, a swap the user started or an
/// accepted inbox item keeps a contact for good.
const V5: &str = "
ALTER TABLE contacts ADD COLUMN unkept INTEGER NOT NULL DEFAULT 0 CHECK (unkept IN (0, 1));
CREATE INDEX contacts_unkept ON contacts (added_at, id) WHERE unkept = 1;
";

/// Version 6 (issue 14): my card slot and drop keys, and the links each contact gave me (their
/// slot address and my box at their relays), so that edits reach contacts who are offline.
const V6: &str = "
-- One row: the slot I publish my card to and the secret my drop boxes derive from. A new slot
-- (`rotate` is set by a revoke) replaces the slot columns; `record_seq` numbers the records of
-- this slot.
CREATE TABLE own_links (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    slot_seed BLOB NOT NULL CHECK (length(slot_seed) = 32),
    seal_key BLOB NOT NULL CHECK (length(seal_key) = 32),
    drop_secret BLOB NOT NULL CHECK (length(drop_secret) = 32),
    relays TEXT NOT NULL,
    record_seq INTEGER NOT NULL DEFAULT 0,
    published_card_seq INTEGER,
    published_expires INTEGER,
    published_relays TEXT NOT NULL DEFAULT '',
    rotate INTEGER NOT NULL DEFAULT 0 CHECK (rotate IN (0, 1)),
    created_at INTEGER NOT NULL
);
-- The newest links each person gave me with their card (opaque bytes, decoded by the
-- application), and the highest slot record seq read from their slot.
CREATE TABLE contact_links (
    key BLOB PRIMARY KEY CHECK (length(key) = 32),
    links BLOB NOT NULL,
    given_at INTEGER NOT NULL,
    slot_seq INTEGER NOT NULL DEFAULT 0,
    read_at INTEGER
);
";

/// Version 7 (issue 14): introductions with double opt-in (proto-spec/intro.md), those I made
/// and those I was asked about.
const V7: &str = "
-- Introductions I made: B is asked first, A once B accepted. `hash_a`/`hash_b` are the hashes of
-- the last message exchanged with each (the `prev` the next one must name); `held` is B's
-- envelope for A, kept until A accepts.
CREATE TABLE intros_made (
    id INTEGER PRIMARY KEY,
    session BLOB NOT NULL UNIQUE CHECK (length(session) = 16),
    a_key BLOB NOT NULL CHECK (length(a_key) = 32),
    b_key BLOB NOT NULL CHECK (length(b_key) = 32),
    note TEXT,
    state TEXT NOT NULL CHECK (state IN ('asking_b', 'asking_a', 'done', 'declined', 'expired', 'aborted')),
    hash_a BLOB,
    hash_b BLOB,
    held BLOB,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
-- Introductions a contact asked me about: the other person as the introducer showed them
-- (attacker-controlled text), my answer, and whether their card arrived.
CREATE TABLE intros_received (
    id INTEGER PRIMARY KEY,
    session BLOB NOT NULL CHECK (length(session) = 16),
    introducer BLOB NOT NULL CHECK (length(introducer) = 32),
    other_key BLOB NOT NULL CHECK (length(other_key) = 32),
    other_name TEXT NOT NULL,
    other_headline TEXT,
    note TEXT,
    state TEXT NOT NULL CHECK (state IN ('asked', 'accepted', 'declined', 'introduced', 'expired', 'aborted')),
    ask_hash BLOB NOT NULL CHECK (length(ask_hash) = 32),
    answer_hash BLOB,
    received_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    UNIQUE (introducer, session)
);
CREATE INDEX intros_received_other ON intros_received (other_key, state);
";

/// The migration steps, oldest first.
pub(crate) const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5, V6, V7];

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

fn user_version(conn: &Connection) -> rusqlite::Result<u32> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

/// Brings the schema up to [`SCHEMA_VERSION`]; refuses a database from a newer meishi.
pub(crate) fn migrate(conn: &mut Connection) -> Result<()> {
    let found = user_version(conn)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for (i, step) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let version = i as u32 + 1;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let now = user_version(&tx)?;
        if now > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                found: now,
                supported: SCHEMA_VERSION,
            });
        }
        if now >= version {
            continue; // another process applied this step meanwhile
        }
        let run = |tx: &rusqlite::Transaction<'_>| -> rusqlite::Result<()> {
            tx.execute_batch(step)?;
            if version == 2 {
                // Index the contacts that existed before search did.
                tx.execute(crate::extras::REINDEX_SQL, [Option::<i64>::None])?;
            }
            tx.pragma_update(None, "user_version", version)
        };
        run(&tx).map_err(|source| match StoreError::from(source) {
            StoreError::Sqlite(source) => StoreError::Migration { version, source },
            other => other,
        })?;
        tx.commit()?;
    }
    Ok(())
}
