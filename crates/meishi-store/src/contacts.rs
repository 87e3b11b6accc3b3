//! Contacts: who they are, how their card arrived, and what the store did with it.
//!
//! Every function here works on a connection that is already inside a transaction; the
//! [`crate::Store`] and [`crate::Tx`] methods open and commit it.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;

use meishi_card::{Card, FieldError, PublicKey, Replacement, SignedCard};
use rusqlite::{params, Connection, OptionalExtension, Row};
use sha2::{Digest, Sha256};

use crate::error::{Result, StoreError};

/// Longest `via` label ("import", "qr", "swap", ...).
pub const MAX_VIA: usize = 32;
/// Shortest peer-id prefix accepted as a contact reference.
pub const MIN_PREFIX: usize = 6;

/// What [`crate::Store::put_signed`] or [`crate::Store::put_unverified`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// A new contact.
    Added,
    /// A newer signed card replaced the stored one.
    Updated { old_seq: u64, new_seq: u64 },
    /// A signed card arrived for an unverified contact with the same key (a vCard carrying
    /// `X-MEISHI-KEY`): the contact is now verified and keeps its notes and tags.
    Merged { seq: u64 },
    /// An imported vCard replaced the unverified contact with the same key.
    UnverifiedUpdated,
    /// Already known exactly as given (or a vCard for a contact whose signed card is stored,
    /// which a vCard never overwrites): nothing changed.
    Unchanged,
    /// An older seq than the stored one: a replay. Refused; nothing was stored.
    Older { stored_seq: u64, incoming_seq: u64 },
    /// A different card with a seq already seen: the key signed two cards with one seq. Both
    /// were recorded as evidence; the stored card is unchanged.
    Equivocation { seq: u64 },
}

impl PutOutcome {
    /// Whether the contact's card changed.
    pub fn changed(self) -> bool {
        matches!(
            self,
            Self::Added | Self::Updated { .. } | Self::Merged { .. } | Self::UnverifiedUpdated
        )
    }
}

impl fmt::Display for PutOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Added => f.write_str("added"),
            Self::Updated { old_seq, new_seq } => write!(f, "updated from version {old_seq} to {new_seq}"),
            Self::Merged { seq } => write!(f, "verified: signed card version {seq} merged into the imported contact"),
            Self::UnverifiedUpdated => f.write_str("updated (unverified)"),
            Self::Unchanged => f.write_str("already known, unchanged"),
            Self::Older { stored_seq, incoming_seq } => write!(
                f,
                "refused: version {incoming_seq} is older than the stored version {stored_seq} (a replay)"
            ),
            Self::Equivocation { seq } => write!(
                f,
                "refused: a different card with the same version {seq} was seen before; the key may be misused \
                 (recorded as evidence)"
            ),
        }
    }
}

/// A row of the contact list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactSummary {
    pub id: i64,
    /// The meishi key; `None` for a vCard import without one.
    pub key: Option<PublicKey>,
    pub name: String,
    pub org: Option<String>,
    pub title: Option<String>,
    /// Whether the card is a signed card checked against `key`.
    pub verified: bool,
    /// The signed card's seq; `None` when unverified.
    pub seq: Option<u64>,
    /// Unix seconds.
    pub added_at: u64,
    /// Unix seconds of the last card change.
    pub updated_at: u64,
}

impl ContactSummary {
    /// The libp2p peer id of `key`.
    pub fn peer_id(&self) -> Option<String> {
        self.key.map(|k| k.peer_id())
    }
}

/// One contact with everything the store knows about them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub summary: ContactSummary,
    /// The card's fields: from the signed card when verified.
    pub card: Card,
    /// The signed card, re-verified from its stored bytes.
    pub signed: Option<SignedCard>,
    /// Every signed seq seen for this contact, ascending.
    pub history: Vec<u64>,
    /// How the current card arrived ("import", "qr", "swap", ...).
    pub via: String,
    /// The user's notes, oldest first.
    pub notes: Vec<crate::extras::Note>,
    /// The user's tags, normalized, sorted.
    pub tags: Vec<String>,
    /// Follow-up date, `YYYY-MM-DD`.
    pub follow_up: Option<String>,
    /// Where and when you met (signed give envelopes), by time.
    pub meetings: Vec<crate::extras::Meeting>,
}

/// How a user names a contact on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactRef {
    /// The contact number from `meishi contacts list`.
    Id(i64),
    /// A full peer id.
    Key(PublicKey),
    /// At least [`MIN_PREFIX`] leading characters of a peer id.
    PeerIdPrefix(String),
    /// A contact's name: the one contact whose name matches after [`fold_name`] (case,
    /// spacing and invisible characters ignored), else the one with this as one of its names.
    Name(String),
}

/// A contact reference that is neither a number nor a peer id (prefix).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{input}` is not a contact: give its number from `meishi contacts list`, its name, its peer id, \
     or the start of its peer id (they all begin with 12D3KooW: give a few characters more)"
)]
pub struct RefError {
    pub input: String,
}

impl ContactRef {
    /// Reads a numeric id, a full peer id, a peer-id prefix of at least 6 characters (text that
    /// starts like a peer id, `12D3`), or else a name.
    pub fn parse(s: &str) -> Result<Self, RefError> {
        let s = s.trim();
        let err = || RefError {
            input: s.chars().take(64).collect(),
        };
        if s.is_empty() || s.len() > 64 || s.chars().any(char::is_control) {
            return Err(err());
        }
        if s.bytes().all(|b| b.is_ascii_digit()) {
            return s.parse().map(Self::Id).map_err(|_| err());
        }
        if let Ok(key) = PublicKey::from_peer_id(s) {
            return Ok(Self::Key(key));
        }
        if s.starts_with("12D3") {
            const BASE58: &str = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
            if s.len() >= MIN_PREFIX && s.chars().all(|c| BASE58.contains(c)) {
                return Ok(Self::PeerIdPrefix(s.to_owned()));
            }
            return Err(err());
        }
        if fold_name(s).is_empty() {
            return Err(err());
        }
        Ok(Self::Name(s.to_owned()))
    }
}

impl FromStr for ContactRef {
    type Err = RefError;
    fn from_str(s: &str) -> Result<Self, RefError> {
        Self::parse(s)
    }
}

impl From<PublicKey> for ContactRef {
    fn from(k: PublicKey) -> Self {
        Self::Key(k)
    }
}

impl fmt::Display for ContactRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id(id) => write!(f, "#{id}"),
            Self::Key(k) => f.write_str(&k.peer_id()),
            Self::PeerIdPrefix(p) => write!(f, "{p}…"),
            Self::Name(n) => write!(f, "{n:?}"),
        }
    }
}

// SQLite integers are i64; seqs and times are u64. They are stored bit for bit and compared
// in Rust, never in SQL, so a seq above i64::MAX round-trips exactly.
pub(crate) fn to_sql(v: u64) -> i64 {
    i64::from_ne_bytes(v.to_ne_bytes())
}
pub(crate) fn from_sql(v: i64) -> u64 {
    u64::from_ne_bytes(v.to_ne_bytes())
}

pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub(crate) fn check_text(what: &'static str, s: &str, max: usize) -> Result<()> {
    if s.trim().is_empty() {
        return Err(StoreError::Empty { what });
    }
    if s.len() > max {
        return Err(StoreError::TooLong {
            what,
            len: s.len(),
            max,
        });
    }
    if s.chars().any(char::is_control) {
        return Err(StoreError::ControlCharacter { what });
    }
    Ok(())
}

fn content_hash(card: &Card, key: Option<PublicKey>) -> Result<Vec<u8>> {
    let mut card = card.clone();
    card.comment = None;
    let json =
        serde_json::to_vec(&card).map_err(|source| StoreError::CardJson { id: 0, source })?;
    let mut h = Sha256::new();
    h.update(b"meishi-store/content/v1\0");
    h.update(key.map_or([0u8; 32], |k| k.0));
    h.update(json);
    Ok(h.finalize().to_vec())
}

fn card_json(card: &Card) -> Result<String> {
    let mut card = card.clone();
    card.comment = None;
    serde_json::to_string(&card).map_err(|source| StoreError::CardJson { id: 0, source })
}

fn key_from_blob(table: &'static str, id: i64, blob: Option<Vec<u8>>) -> Result<Option<PublicKey>> {
    match blob {
        None => Ok(None),
        Some(b) => <[u8; 32]>::try_from(b.as_slice())
            .map(|k| Some(PublicKey(k)))
            .map_err(|_| StoreError::CorruptRow {
                table,
                id,
                reason: "key is not 32 bytes",
            }),
    }
}

fn invalid_card(e: FieldError) -> StoreError {
    StoreError::InvalidCard(e)
}

/// The own key, if an own card is stored.
fn own_key(conn: &Connection) -> Result<Option<PublicKey>> {
    let blob: Option<Vec<u8>> = conn
        .query_row("SELECT key FROM own_card WHERE id = 1", [], |r| r.get(0))
        .optional()?;
    key_from_blob("own_card", 1, blob)
}

pub(crate) fn own_card(conn: &Connection) -> Result<Option<SignedCard>> {
    let bytes: Option<Vec<u8>> = conn
        .query_row("SELECT bytes FROM own_card WHERE id = 1", [], |r| r.get(0))
        .optional()?;
    bytes
        .map(|b| SignedCard::decode(&b).map_err(StoreError::OwnCardNoLongerVerifies))
        .transpose()
}

pub(crate) fn set_own_card(conn: &Connection, card: &SignedCard) -> Result<()> {
    let stored: Option<(Vec<u8>, i64)> = conn
        .query_row("SELECT key, seq FROM own_card WHERE id = 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    if let Some((key, seq)) = stored {
        if key != card.key().0 {
            return Err(StoreError::OwnKeyChanged);
        }
        let stored = from_sql(seq);
        if card.seq() <= stored {
            return Err(StoreError::StaleOwnCard {
                stored,
                given: card.seq(),
            });
        }
    }
    conn.execute(
        "INSERT INTO own_card (id, key, seq, bytes, updated_at) VALUES (1, ?1, ?2, ?3, ?4)
         ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, bytes = excluded.bytes, updated_at = excluded.updated_at",
        params![&card.key().0[..], to_sql(card.seq()), card.as_bytes(), to_sql(now())],
    )?;
    Ok(())
}

struct Existing {
    id: i64,
    verified: bool,
    signed_bytes: Option<Vec<u8>>,
    content_hash: Vec<u8>,
}

fn existing_by_key(conn: &Connection, key: &PublicKey) -> Result<Option<Existing>> {
    Ok(conn
        .query_row(
            "SELECT id, verified, signed_bytes, content_hash FROM contacts WHERE key = ?1",
            [&key.0[..]],
            |r| {
                Ok(Existing {
                    id: r.get(0)?,
                    verified: r.get(1)?,
                    signed_bytes: r.get(2)?,
                    content_hash: r.get(3)?,
                })
            },
        )
        .optional()?)
}

fn insert_history(conn: &Connection, id: i64, card: &SignedCard, via: &str, at: u64) -> Result<()> {
    conn.execute(
        "INSERT OR IGNORE INTO card_history (contact_id, seq, bytes, via, seen_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id, to_sql(card.seq()), card.as_bytes(), via, to_sql(at)],
    )?;
    Ok(())
}

fn record_equivocation(
    conn: &Connection,
    stored: &[u8],
    incoming: &SignedCard,
    via: &str,
    at: u64,
) -> Result<()> {
    conn.execute(
        "INSERT OR IGNORE INTO equivocations (key, seq, stored_bytes, incoming_bytes, via, seen_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            &incoming.key().0[..],
            to_sql(incoming.seq()),
            stored,
            incoming.as_bytes(),
            via,
            to_sql(at)
        ],
    )?;
    Ok(())
}

/// Writes `signed` as the contact's current card (insert when `id` is `None`).
fn write_signed(
    conn: &Connection,
    id: Option<i64>,
    signed: &SignedCard,
    via: &str,
    at: u64,
) -> Result<i64> {
    let card = signed.card();
    let json = card_json(card)?;
    let hash = content_hash(card, Some(signed.key()))?;
    let id = match id {
        Some(id) => {
            conn.execute(
                "UPDATE contacts SET verified = 1, seq = ?2, signed_bytes = ?3, card_json = ?4, content_hash = ?5,
                 name = ?6, org = ?7, title = ?8, via = ?9, updated_at = ?10 WHERE id = ?1",
                params![
                    id,
                    to_sql(signed.seq()),
                    signed.as_bytes(),
                    json,
                    hash,
                    card.name,
                    card.org,
                    card.title,
                    via,
                    to_sql(at)
                ],
            )?;
            id
        }
        None => {
            conn.execute(
                "INSERT INTO contacts (key, peer_id, verified, seq, signed_bytes, card_json, content_hash, name, org,
                 title, via, added_at, updated_at) VALUES (?1, ?2, 1, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11)",
                params![
                    &signed.key().0[..],
                    signed.key().peer_id(),
                    to_sql(signed.seq()),
                    signed.as_bytes(),
                    json,
                    hash,
                    card.name,
                    card.org,
                    card.title,
                    via,
                    to_sql(at)
                ],
            )?;
            conn.last_insert_rowid()
        }
    };
    insert_history(conn, id, signed, via, at)?;
    crate::extras::reindex(conn, id)?;
    Ok(id)
}

pub(crate) fn put_signed(
    conn: &Connection,
    incoming: &SignedCard,
    via: &str,
) -> Result<PutOutcome> {
    check_text("via", via, MAX_VIA)?;
    let key = incoming.key();
    if own_key(conn)? == Some(key) {
        return Err(StoreError::OwnCard);
    }
    let at = now();
    let Some(existing) = existing_by_key(conn, &key)? else {
        write_signed(conn, None, incoming, via, at)?;
        return Ok(PutOutcome::Added);
    };
    let Some(stored_bytes) = existing.signed_bytes.filter(|_| existing.verified) else {
        write_signed(conn, Some(existing.id), incoming, via, at)?;
        return Ok(PutOutcome::Merged {
            seq: incoming.seq(),
        });
    };
    let stored =
        SignedCard::decode(&stored_bytes).map_err(|source| StoreError::CardNoLongerVerifies {
            id: existing.id,
            source,
        })?;
    match stored.compare(incoming) {
        Replacement::Newer => {
            write_signed(conn, Some(existing.id), incoming, via, at)?;
            Ok(PutOutcome::Updated {
                old_seq: stored.seq(),
                new_seq: incoming.seq(),
            })
        }
        Replacement::Same => Ok(PutOutcome::Unchanged),
        Replacement::Older => {
            // A replay of a seq seen before is refused; a *different* card with a seq seen
            // before is also evidence of equivocation.
            let seen: Option<Vec<u8>> = conn
                .query_row(
                    "SELECT bytes FROM card_history WHERE contact_id = ?1 AND seq = ?2",
                    params![existing.id, to_sql(incoming.seq())],
                    |r| r.get(0),
                )
                .optional()?;
            match seen {
                Some(old) if old != incoming.as_bytes() => {
                    record_equivocation(conn, &old, incoming, via, at)?;
                    Ok(PutOutcome::Equivocation {
                        seq: incoming.seq(),
                    })
                }
                _ => Ok(PutOutcome::Older {
                    stored_seq: stored.seq(),
                    incoming_seq: incoming.seq(),
                }),
            }
        }
        Replacement::Equivocation => {
            record_equivocation(conn, &stored_bytes, incoming, via, at)?;
            Ok(PutOutcome::Equivocation {
                seq: incoming.seq(),
            })
        }
        // Unreachable by construction (looked up by key), but never store a mismatched card.
        Replacement::OtherKey => Err(StoreError::CorruptRow {
            table: "contacts",
            id: existing.id,
            reason: "signed card has another key",
        }),
    }
}

pub(crate) fn put_unverified(
    conn: &Connection,
    card: &Card,
    key: Option<PublicKey>,
    via: &str,
) -> Result<PutOutcome> {
    check_text("via", via, MAX_VIA)?;
    card.validate().map_err(invalid_card)?;
    if key.is_some() && own_key(conn)? == key {
        return Err(StoreError::OwnCard);
    }
    let at = now();
    let json = card_json(card)?;
    let hash = content_hash(card, key)?;
    let existing = match key {
        Some(k) => existing_by_key(conn, &k)?,
        None => conn
            .query_row(
                "SELECT id FROM contacts WHERE key IS NULL AND content_hash = ?1",
                [&hash],
                |r| r.get::<_, i64>(0),
            )
            .optional()?
            .map(|id| Existing {
                id,
                verified: false,
                signed_bytes: None,
                content_hash: hash.clone(),
            }),
    };
    match existing {
        // A vCard never overwrites a signed card.
        Some(e) if e.verified => Ok(PutOutcome::Unchanged),
        Some(e) if e.content_hash == hash => Ok(PutOutcome::Unchanged),
        Some(e) => {
            conn.execute(
                "UPDATE contacts SET card_json = ?2, content_hash = ?3, name = ?4, org = ?5, title = ?6, via = ?7,
                 updated_at = ?8 WHERE id = ?1",
                params![e.id, json, hash, card.name, card.org, card.title, via, to_sql(at)],
            )?;
            crate::extras::reindex(conn, e.id)?;
            Ok(PutOutcome::UnverifiedUpdated)
        }
        None => {
            conn.execute(
                "INSERT INTO contacts (key, peer_id, verified, card_json, content_hash, name, org, title, via,
                 added_at, updated_at) VALUES (?1, ?2, 0, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
                params![
                    key.map(|k| k.0.to_vec()),
                    key.map(|k| k.peer_id()),
                    json,
                    hash,
                    card.name,
                    card.org,
                    card.title,
                    via,
                    to_sql(at)
                ],
            )?;
            crate::extras::reindex(conn, conn.last_insert_rowid())?;
            Ok(PutOutcome::Added)
        }
    }
}

pub(crate) const SUMMARY_COLUMNS: &str =
    "contacts.id, contacts.key, contacts.name, contacts.org, contacts.title, contacts.verified, contacts.seq, \
     contacts.added_at, contacts.updated_at";

pub(crate) fn summary_from_row(r: &Row<'_>) -> Result<ContactSummary> {
    let id: i64 = r.get(0)?;
    Ok(ContactSummary {
        id,
        key: key_from_blob("contacts", id, r.get(1)?)?,
        name: r.get(2)?,
        org: r.get(3)?,
        title: r.get(4)?,
        verified: r.get(5)?,
        seq: r.get::<_, Option<i64>>(6)?.map(from_sql),
        added_at: from_sql(r.get(7)?),
        updated_at: from_sql(r.get(8)?),
    })
}

pub(crate) fn list(conn: &Connection) -> Result<Vec<ContactSummary>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {SUMMARY_COLUMNS} FROM contacts ORDER BY name COLLATE NOCASE, id"
    ))?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(summary_from_row(r)?);
    }
    Ok(out)
}

/// The id of the contact `r` names, `None` when there is none.
pub(crate) fn resolve(conn: &Connection, r: &ContactRef) -> Result<Option<i64>> {
    match r {
        ContactRef::Id(id) => Ok(conn
            .query_row("SELECT id FROM contacts WHERE id = ?1", [id], |r| r.get(0))
            .optional()?),
        ContactRef::Key(k) => Ok(conn
            .query_row("SELECT id FROM contacts WHERE key = ?1", [&k.0[..]], |r| {
                r.get(0)
            })
            .optional()?),
        ContactRef::PeerIdPrefix(p) => {
            // substr, not LIKE: base58 is case-sensitive and LIKE is not.
            let mut stmt = conn.prepare(
                "SELECT id FROM contacts WHERE substr(peer_id, 1, length(?1)) = ?1 LIMIT 2",
            )?;
            let ids: Vec<i64> = stmt
                .query_map([p], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            match ids.as_slice() {
                [] => Ok(None),
                [id] => Ok(Some(*id)),
                _ => {
                    let matches: usize = conn.query_row(
                        "SELECT count(*) FROM contacts WHERE substr(peer_id, 1, length(?1)) = ?1",
                        [p],
                        |r| r.get(0),
                    )?;
                    Err(StoreError::AmbiguousRef {
                        prefix: p.clone(),
                        matches,
                    })
                }
            }
        }
        ContactRef::Name(n) => {
            let folded = fold_name(n);
            let mut stmt = conn.prepare("SELECT id, name FROM contacts ORDER BY id")?;
            let mut rows = stmt.query([])?;
            // The whole name first; else a contact one of whose names is the one given
            // ("ada" for "Ada Lovelace").
            let (mut whole, mut part) = (Vec::new(), Vec::new());
            while let Some(r) = rows.next()? {
                let name = fold_name(&r.get::<_, String>(1)?);
                if name == folded {
                    whole.push(r.get::<_, i64>(0)?);
                } else if name.split(' ').any(|w| w == folded) {
                    part.push(r.get::<_, i64>(0)?);
                }
            }
            let ids = if whole.is_empty() { part } else { whole };
            match ids.as_slice() {
                [] => Ok(None),
                [id] => Ok(Some(*id)),
                _ => Err(StoreError::AmbiguousName {
                    name: n.chars().take(64).collect(),
                    ids,
                }),
            }
        }
    }
}

/// Deletes a contact with its history, notes, tags and meetings (equivocation evidence stays).
pub(crate) fn remove(conn: &Connection, r: &ContactRef) -> Result<bool> {
    let Some(id) = resolve(conn, r)? else {
        return Ok(false);
    };
    conn.execute("DELETE FROM contacts_fts WHERE rowid = ?1", [id])?;
    conn.execute("DELETE FROM contacts WHERE id = ?1", [id])?;
    Ok(true)
}

/// Like [`resolve`], but a missing contact is an error.
pub(crate) fn require(conn: &Connection, r: &ContactRef) -> Result<i64> {
    resolve(conn, r)?.ok_or_else(|| StoreError::NoSuchContact(r.to_string()))
}

pub(crate) fn get(conn: &Connection, r: &ContactRef) -> Result<Option<Contact>> {
    let Some(id) = resolve(conn, r)? else {
        return Ok(None);
    };
    let (summary, signed_bytes, json, via): (ContactSummary, Option<Vec<u8>>, String, String) = {
        let mut stmt = conn.prepare(&format!(
            "SELECT {SUMMARY_COLUMNS}, signed_bytes, card_json, via FROM contacts WHERE id = ?1"
        ))?;
        let mut rows = stmt.query([id])?;
        let Some(row) = rows.next()? else {
            return Ok(None);
        };
        (
            summary_from_row(row)?,
            row.get(9)?,
            row.get(10)?,
            row.get(11)?,
        )
    };
    let signed = match (summary.verified, signed_bytes) {
        (true, Some(bytes)) => {
            let s = SignedCard::decode(&bytes)
                .map_err(|source| StoreError::CardNoLongerVerifies { id, source })?;
            if Some(s.key()) != summary.key || Some(s.seq()) != summary.seq {
                return Err(StoreError::CorruptRow {
                    table: "contacts",
                    id,
                    reason: "signed card does not match the key or seq column",
                });
            }
            Some(s)
        }
        (false, None) => None,
        _ => {
            return Err(StoreError::CorruptRow {
                table: "contacts",
                id,
                reason: "verified flag and card disagree",
            })
        }
    };
    let card = match &signed {
        Some(s) => s.card().clone(),
        None => {
            serde_json::from_str(&json).map_err(|source| StoreError::CardJson { id, source })?
        }
    };
    let mut history: Vec<u64> = {
        let mut stmt = conn.prepare("SELECT seq FROM card_history WHERE contact_id = ?1")?;
        let seqs = stmt
            .query_map([id], |r| r.get::<_, i64>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        seqs.into_iter().map(from_sql).collect()
    };
    history.sort_unstable();
    let extras = crate::extras::load(conn, id)?;
    Ok(Some(Contact {
        summary,
        card,
        signed,
        history,
        via,
        notes: extras.notes,
        tags: extras.tags,
        follow_up: extras.follow_up,
        meetings: extras.meetings,
    }))
}

/// The signed cards of one contact's history, ascending by seq, each re-verified.
pub(crate) fn history_cards(conn: &Connection, id: i64) -> Result<Vec<SignedCard>> {
    let mut stmt = conn.prepare("SELECT bytes FROM card_history WHERE contact_id = ?1")?;
    let blobs = stmt
        .query_map([id], |r| r.get::<_, Vec<u8>>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut cards = blobs
        .iter()
        .map(|b| {
            SignedCard::decode(b).map_err(|source| StoreError::CardNoLongerVerifies { id, source })
        })
        .collect::<Result<Vec<_>>>()?;
    cards.sort_by_key(SignedCard::seq);
    Ok(cards)
}

/// Evidence of equivocation: two different signed cards for one key and seq.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Equivocation {
    pub key: PublicKey,
    pub seq: u64,
    pub stored: Vec<u8>,
    pub incoming: Vec<u8>,
    pub via: String,
    pub seen_at: u64,
}

pub(crate) fn equivocations(conn: &Connection) -> Result<Vec<Equivocation>> {
    let mut stmt =
        conn.prepare("SELECT id, key, seq, stored_bytes, incoming_bytes, via, seen_at FROM equivocations ORDER BY id")?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let id: i64 = r.get(0)?;
        let key = key_from_blob("equivocations", id, r.get(1)?)?.ok_or(StoreError::CorruptRow {
            table: "equivocations",
            id,
            reason: "missing key",
        })?;
        out.push(Equivocation {
            key,
            seq: from_sql(r.get(2)?),
            stored: r.get(3)?,
            incoming: r.get(4)?,
            via: r.get(5)?,
            seen_at: from_sql(r.get(6)?),
        });
    }
    Ok(out)
}

/// Re-verifies every stored signed card; returns the contacts whose card no longer verifies.
pub(crate) fn verify_all(conn: &Connection) -> Result<Vec<(i64, meishi_card::DecodeError)>> {
    let mut stmt = conn.prepare(
        "SELECT id, signed_bytes FROM contacts WHERE signed_bytes IS NOT NULL ORDER BY id",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))?;
    let mut bad = Vec::new();
    for row in rows {
        let (id, bytes) = row?;
        if let Err(e) = SignedCard::decode(&bytes) {
            bad.push((id, e));
        }
    }
    Ok(bad)
}

/// A display name reduced to what a reader sees, for finding look-alikes: invisible and
/// formatting characters (zero-width spaces and joiners, bidi marks and overrides, soft hyphens,
/// Hangul fillers, variation selectors, control characters) are dropped, runs of whitespace of
/// any kind become one space, the ends are trimmed, letters are lowercased, and fullwidth ASCII
/// (`Ａｄａ`) becomes ASCII. Confusable letters from other scripts (Cyrillic `а` for Latin `a`)
/// are not folded: that needs the Unicode confusables table.
pub fn fold_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for word in name
        .chars()
        .filter(|c| !is_invisible(*c))
        .map(|c| match c {
            // Fullwidth forms of ASCII `!`..`~` sit 0xFEE0 above it.
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            c => c,
        })
        .collect::<String>()
        .split_whitespace()
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().flat_map(char::to_lowercase));
    }
    out
}

/// Characters that take no visible space: control and format characters (the bidi and
/// zero-width ones among them) and the other default-ignorable code points that fonts draw as
/// nothing.
fn is_invisible(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00AD}'                  // soft hyphen
            | '\u{034F}'                // combining grapheme joiner
            | '\u{061C}'                // Arabic letter mark
            | '\u{115F}' | '\u{1160}'   // Hangul choseong and jungseong fillers
            | '\u{17B4}' | '\u{17B5}'   // Khmer inherent vowels
            | '\u{180B}'..='\u{180F}'   // Mongolian variation selectors and vowel separator
            | '\u{200B}'..='\u{200F}'   // zero-width space, ZWNJ, ZWJ, LRM, RLM
            | '\u{202A}'..='\u{202E}'   // LRE RLE PDF LRO RLO
            | '\u{2060}'..='\u{206F}'   // word joiner, invisible operators, LRI RLI FSI PDI, ...
            | '\u{3164}'                // Hangul filler
            | '\u{FE00}'..='\u{FE0F}'   // variation selectors
            | '\u{FEFF}'                // zero-width no-break space
            | '\u{FFA0}'                // halfwidth Hangul filler
            | '\u{FFF9}'..='\u{FFFB}'   // interlinear annotations
            | '\u{1D173}'..='\u{1D17A}' // musical formatting
            | '\u{E0000}'..='\u{E0FFF}' // tags and variation selectors supplement
        )
}

/// Whether two same-named contacts are look-alikes as far as keys tell: different keys, or one
/// has a key and the other none. Two keyless vCards claim no key at all and are not look-alikes
/// of each other (`None == None`).
fn keys_differ(a: Option<PublicKey>, b: Option<PublicKey>) -> bool {
    a != b
}

/// Contacts whose name folds ([`fold_name`]) to the same as `name` under a key other than
/// `key`. Names are compared in Rust (the folding is not SQL), over one scan of the contacts.
pub(crate) fn lookalikes(
    conn: &Connection,
    name: &str,
    key: Option<PublicKey>,
) -> Result<Vec<ContactSummary>> {
    let folded = fold_name(name);
    let mut stmt = conn.prepare(&format!(
        "SELECT {SUMMARY_COLUMNS} FROM contacts ORDER BY id"
    ))?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let s = summary_from_row(r)?;
        if keys_differ(s.key, key) && fold_name(&s.name) == folded {
            out.push(s);
        }
    }
    Ok(out)
}

/// For every contact that has look-alikes, their ids, ascending; one scan of the contacts.
pub(crate) fn lookalike_ids(conn: &Connection) -> Result<BTreeMap<i64, Vec<i64>>> {
    let mut stmt = conn.prepare("SELECT id, key, name FROM contacts ORDER BY id")?;
    let mut rows = stmt.query([])?;
    let mut by_name: HashMap<String, Vec<(i64, Option<PublicKey>)>> = HashMap::new();
    while let Some(r) = rows.next()? {
        let id: i64 = r.get(0)?;
        let key = key_from_blob("contacts", id, r.get(1)?)?;
        let name: String = r.get(2)?;
        by_name.entry(fold_name(&name)).or_default().push((id, key));
    }
    let mut out = BTreeMap::new();
    for group in by_name.values().filter(|g| g.len() > 1) {
        for &(id, key) in group {
            let others: Vec<i64> = group
                .iter()
                .filter(|&&(other, other_key)| other != id && keys_differ(key, other_key))
                .map(|&(other, _)| other)
                .collect();
            if !others.is_empty() {
                out.insert(id, others);
            }
        }
    }
    Ok(out)
}
