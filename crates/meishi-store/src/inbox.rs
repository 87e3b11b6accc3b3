//! The inbox of the `ask` policy: cards given to me that wait for the user to accept or decline.
//!
//! The inbox is also how two processes agree on a decision. `meishi up` (the node) adds an item
//! when a give arrives; the user runs `meishi accept ID` in another process, which stores the
//! card and marks the item [`InboxStatus::Accepted`]; the node polls
//! [`crate::Store::inbox_accepted`] (cheaply gated by [`crate::Store::data_version`]), gives my
//! card back, and marks the item [`InboxStatus::GivenBack`]. Every transition is one
//! transaction that checks the previous status, so no decision is applied twice.

use std::fmt;

use meishi_card::{PublicKey, SignedCard};
use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::contacts::{from_sql, now, put_signed, to_sql, PutOutcome};
use crate::error::{Result, StoreError};
use crate::extras::{add_meeting, MeetingRecord};

/// Items waiting for a decision at most; further gives are refused until the user decides.
pub const MAX_PENDING: usize = 1000;
/// How long a pending item waits for a decision before it is forgotten: 7 days, in seconds.
pub const INBOX_TTL: u64 = 7 * 24 * 3600;
/// Giver addresses kept per item, and the longest kept.
pub const MAX_ADDRS: usize = 8;
pub const MAX_ADDR_LEN: usize = 512;

/// Where an inbox item stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboxStatus {
    /// Waiting for the user.
    Pending,
    /// The user accepted: the card is stored; my card is still to be given back.
    Accepted,
    /// The user declined: nothing was stored and nothing is given back.
    Declined,
    /// Accepted, and the node gave my card back.
    GivenBack,
}

impl InboxStatus {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Accepted => "accepted",
            Self::Declined => "declined",
            Self::GivenBack => "given_back",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Accepted,
            Self::Declined,
            Self::GivenBack,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

impl fmt::Display for InboxStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::GivenBack => "accepted and answered",
            other => other.as_str(),
        })
    }
}

/// A card waiting in (or decided in) the inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxItem {
    pub id: i64,
    /// The given card, re-verified from its stored bytes.
    pub card: SignedCard,
    /// The give envelope and its fields.
    pub meeting: MeetingRecord,
    /// Unix seconds.
    pub received_at: u64,
    pub status: InboxStatus,
    /// Unix seconds of the last status change.
    pub decided_at: Option<u64>,
    /// Where the giver could be reached when the give arrived (multiaddrs as text).
    pub addrs: Vec<String>,
}

const COLUMNS: &str =
    "id, card_bytes, envelope_bytes, from_key, to_key, at, event, via, received_at, status, decided_at, addrs";

fn item_from_row(r: &Row<'_>) -> Result<InboxItem> {
    let id: i64 = r.get(0)?;
    let corrupt = |reason| StoreError::CorruptRow {
        table: "inbox",
        id,
        reason,
    };
    let key = |i: usize| -> Result<PublicKey> {
        let b: Vec<u8> = r.get(i)?;
        <[u8; 32]>::try_from(b.as_slice())
            .map(PublicKey)
            .map_err(|_| corrupt("key is not 32 bytes"))
    };
    let bytes: Vec<u8> = r.get(1)?;
    let card =
        SignedCard::decode(&bytes).map_err(|source| StoreError::InboxCardInvalid { id, source })?;
    let status: String = r.get(9)?;
    Ok(InboxItem {
        id,
        card,
        meeting: MeetingRecord {
            envelope: r.get(2)?,
            from: key(3)?,
            to: key(4)?,
            at: from_sql(r.get(5)?),
            event: r.get(6)?,
            via: r.get(7)?,
        },
        received_at: from_sql(r.get(8)?),
        status: InboxStatus::parse(&status).ok_or_else(|| corrupt("unknown status"))?,
        decided_at: r.get::<_, Option<i64>>(10)?.map(from_sql),
        addrs: r
            .get::<_, String>(11)?
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

/// Addresses as stored: at most [`MAX_ADDRS`], each at most [`MAX_ADDR_LEN`] bytes, one a line.
pub(crate) fn join_addrs(addrs: &[String]) -> String {
    let addrs: Vec<&str> = addrs
        .iter()
        .map(String::as_str)
        .filter(|a| !a.is_empty() && a.len() <= MAX_ADDR_LEN && !a.contains(['\n', '\r']))
        .take(MAX_ADDRS)
        .collect();
    addrs.join("\n")
}

/// Remembers where `key` was reached last (replacing what was known); nothing for no address.
pub(crate) fn set_peer_addrs(
    conn: &Connection,
    key: &PublicKey,
    addrs: &[String],
    at: u64,
) -> Result<()> {
    let joined = join_addrs(addrs);
    if joined.is_empty() {
        return Ok(());
    }
    conn.execute(
        "INSERT INTO peer_addrs (key, addrs, seen_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (key) DO UPDATE SET addrs = ?2, seen_at = ?3",
        params![&key.0[..], joined, to_sql(at)],
    )?;
    Ok(())
}

/// The addresses `key` was last reached at, newest first as stored.
pub(crate) fn peer_addrs(conn: &Connection, key: &PublicKey) -> Result<Vec<String>> {
    let text: Option<String> = conn
        .query_row(
            "SELECT addrs FROM peer_addrs WHERE key = ?1",
            [&key.0[..]],
            |r| r.get(0),
        )
        .optional()?;
    Ok(text
        .map(|t| t.lines().take(MAX_ADDRS).map(str::to_owned).collect())
        .unwrap_or_default())
}

/// Adds a given card to wait for a decision. One pending item per giver: a second give from the
/// same person replaces the waiting card (when it is not older) and returns the same id.
pub(crate) fn add(
    conn: &Connection,
    card: &SignedCard,
    m: &MeetingRecord,
    received_at: u64,
    addrs: &[String],
) -> Result<i64> {
    let addrs = join_addrs(addrs);
    if card.key() != m.from {
        return Err(StoreError::InboxCardNotFromGiver);
    }
    crate::extras::check_meeting(m)?;
    let pending: Option<(i64, Vec<u8>)> = conn
        .query_row(
            "SELECT id, card_bytes FROM inbox WHERE from_key = ?1 AND status = 'pending'",
            [&m.from.0[..]],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    if let Some((id, old)) = pending {
        let newer_or_same = SignedCard::decode(&old).map_or(true, |old| card.seq() >= old.seq());
        if newer_or_same {
            conn.execute(
                "UPDATE inbox SET card_bytes = ?2, envelope_bytes = ?3, to_key = ?4, at = ?5, event = ?6, via = ?7,
                 received_at = ?8, addrs = ?9 WHERE id = ?1",
                params![id, card.as_bytes(), m.envelope, &m.to.0[..], to_sql(m.at), m.event, m.via, to_sql(received_at), addrs],
            )?;
        }
        return Ok(id);
    }
    let waiting: usize = conn.query_row(
        "SELECT count(*) FROM inbox WHERE status = 'pending'",
        [],
        |r| r.get(0),
    )?;
    if waiting >= MAX_PENDING {
        return Err(StoreError::InboxFull { max: MAX_PENDING });
    }
    conn.execute(
        "INSERT INTO inbox (card_bytes, envelope_bytes, from_key, to_key, at, event, via, received_at, status, addrs)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending', ?9)",
        params![
            card.as_bytes(),
            m.envelope,
            &m.from.0[..],
            &m.to.0[..],
            to_sql(m.at),
            m.event,
            m.via,
            to_sql(received_at),
            addrs
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

pub(crate) fn get(conn: &Connection, id: i64) -> Result<Option<InboxItem>> {
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM inbox WHERE id = ?1"))?;
    let mut rows = stmt.query([id])?;
    rows.next()?.map(item_from_row).transpose()
}

pub(crate) fn list(conn: &Connection, status: InboxStatus) -> Result<Vec<InboxItem>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM inbox WHERE status = ?1 ORDER BY id"
    ))?;
    let mut rows = stmt.query([status.as_str()])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(item_from_row(r)?);
    }
    Ok(out)
}

fn require_status(conn: &Connection, id: i64, expected: InboxStatus) -> Result<()> {
    let status: Option<String> = conn
        .query_row("SELECT status FROM inbox WHERE id = ?1", [id], |r| r.get(0))
        .optional()?;
    let status = status.ok_or(StoreError::NoSuchInboxItem(id))?;
    let status = InboxStatus::parse(&status).ok_or(StoreError::CorruptRow {
        table: "inbox",
        id,
        reason: "unknown status",
    })?;
    if status != expected {
        return Err(StoreError::InboxAlreadyDecided { id, status });
    }
    Ok(())
}

fn set_status(conn: &Connection, id: i64, status: InboxStatus) -> Result<()> {
    conn.execute(
        "UPDATE inbox SET status = ?2, decided_at = ?3 WHERE id = ?1",
        params![id, status.as_str(), to_sql(now())],
    )?;
    Ok(())
}

/// Accepts a pending item: stores the card and the meeting, marks it accepted.
pub(crate) fn take(conn: &Connection, id: i64) -> Result<(InboxItem, PutOutcome)> {
    require_status(conn, id, InboxStatus::Pending)?;
    let item = get(conn, id)?.ok_or(StoreError::NoSuchInboxItem(id))?;
    let outcome = put_signed(conn, &item.card, &item.meeting.via)?;
    add_meeting(conn, item.card.key(), &item.meeting)?;
    // The links the giver sent with the card (a format-2 envelope): their slot and my box.
    if let Ok(env) = meishi_card::envelope::Envelope::decode(&item.meeting.envelope) {
        crate::links::set_contact_links(conn, &item.card.key(), env.links(), env.time())?;
    }
    crate::receive::keep_key(conn, &item.card.key())?;
    crate::consent::unrevoke(conn, &item.card.key())?;
    set_status(conn, id, InboxStatus::Accepted)?;
    let item = get(conn, id)?.ok_or(StoreError::NoSuchInboxItem(id))?;
    Ok((item, outcome))
}

pub(crate) fn decline(conn: &Connection, id: i64) -> Result<()> {
    require_status(conn, id, InboxStatus::Pending)?;
    set_status(conn, id, InboxStatus::Declined)
}

pub(crate) fn mark_given_back(conn: &Connection, id: i64) -> Result<()> {
    require_status(conn, id, InboxStatus::Accepted)?;
    set_status(conn, id, InboxStatus::GivenBack)
}

/// Marks every accepted item from `key` given back (my card reached them another way: they
/// gave again and the node answered); returns how many.
pub(crate) fn mark_given_back_to(conn: &Connection, key: &PublicKey) -> Result<usize> {
    Ok(conn.execute(
        "UPDATE inbox SET status = 'given_back' WHERE from_key = ?1 AND status = 'accepted'",
        [&key.0[..]],
    )?)
}

/// Deletes decided items whose decision is older than `before` (Unix seconds).
pub(crate) fn purge(conn: &Connection, before: u64) -> Result<usize> {
    Ok(conn.execute(
        "DELETE FROM inbox WHERE status IN ('declined', 'given_back') AND decided_at < ?1",
        [to_sql(before)],
    )?)
}

pub(crate) fn decline_all(conn: &Connection) -> Result<usize> {
    Ok(conn.execute(
        "UPDATE inbox SET status = 'declined', decided_at = ?1 WHERE status = 'pending'",
        [to_sql(now())],
    )?)
}

/// Forgets pending items received before `before`.
pub(crate) fn expire(conn: &Connection, before: u64) -> Result<usize> {
    Ok(conn.execute(
        "DELETE FROM inbox WHERE status = 'pending' AND received_at < ?1",
        [to_sql(before)],
    )?)
}
