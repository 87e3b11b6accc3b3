//! What the user adds to a contact: where and when you met (the signed give envelopes), notes,
//! tags and a follow-up date; and full-text search over all of it.
//!
//! The search index (`contacts_fts`, FTS5) holds one row per contact with the same rowid, and is
//! rebuilt for a contact by [`reindex`] in the same transaction as every change to it.

use meishi_card::PublicKey;
use rusqlite::{params, Connection, OptionalExtension};

use crate::contacts::{
    check_text, from_sql, now, summary_from_row, to_sql, ContactSummary, MAX_VIA, SUMMARY_COLUMNS,
};
use crate::error::{Result, StoreError};

/// Largest note, in bytes.
pub const MAX_NOTE_TEXT: usize = 4096;
/// Notes per contact.
pub const MAX_NOTES: usize = 1000;
/// Largest tag, in bytes, after normalization.
pub const MAX_TAG_LEN: usize = 32;
/// Tags per contact.
pub const MAX_TAGS: usize = 32;
/// Largest stored give envelope, in bytes (the envelope carries the card, at most 4 KiB).
pub const MAX_ENVELOPE: usize = 8192;
/// Longest event name.
pub const MAX_EVENT_NAME: usize = 128;
/// Meetings kept per contact.
pub const MAX_MEETINGS: usize = 1000;
/// Longest search query, in bytes.
pub const MAX_QUERY: usize = 256;
/// Most terms in one search query.
pub const MAX_QUERY_TERMS: usize = 16;
/// Most results one search returns.
pub const MAX_RESULTS: usize = 500;

/// A record of meeting someone: a signed give envelope (opaque here; its type and checks live in
/// `meishi_card::envelope`) and the fields the store lists it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeetingRecord {
    /// The exact signed envelope bytes, kept as proof.
    pub envelope: Vec<u8>,
    /// Who gave the card.
    pub from: PublicKey,
    /// To whom it was given.
    pub to: PublicKey,
    /// When, Unix seconds (from the signed envelope).
    pub at: u64,
    /// The event named in the envelope, if any.
    pub event: Option<String>,
    /// How it arrived ("swap", "up", "relay", ...).
    pub via: String,
}

/// A stored meeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meeting {
    pub id: i64,
    pub record: MeetingRecord,
    /// When it was stored, Unix seconds.
    pub recorded_at: u64,
}

/// A user note on a contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub id: i64,
    pub text: String,
    /// Unix seconds.
    pub created_at: u64,
}

pub(crate) struct Extras {
    pub notes: Vec<Note>,
    pub tags: Vec<String>,
    pub follow_up: Option<String>,
    pub meetings: Vec<Meeting>,
}

/// Rebuilds the search row of one contact (or of all when `id` is NULL): name, organization
/// and title; the card headline with the user's notes; the card interests with the user's tags.
pub(crate) const REINDEX_SQL: &str = "
INSERT INTO contacts_fts (rowid, name, org, title, notes, tags)
SELECT c.id, c.name, coalesce(c.org, ''), coalesce(c.title, ''),
    concat_ws(' ', json_extract(c.card_json, '$.note'),
        (SELECT group_concat(text, ' ') FROM notes WHERE contact_id = c.id)),
    concat_ws(' ', (SELECT group_concat(value, ' ') FROM json_each(c.card_json, '$.tags')),
        (SELECT group_concat(tag, ' ') FROM tags WHERE contact_id = c.id))
FROM contacts c WHERE ?1 IS NULL OR c.id = ?1";

pub(crate) fn reindex(conn: &Connection, id: i64) -> Result<()> {
    conn.execute("DELETE FROM contacts_fts WHERE rowid = ?1", [id])?;
    conn.execute(REINDEX_SQL, [id])?;
    Ok(())
}

pub(crate) fn load(conn: &Connection, id: i64) -> Result<Extras> {
    let notes = conn
        .prepare("SELECT id, text, created_at FROM notes WHERE contact_id = ?1 ORDER BY id")?
        .query_map([id], |r| {
            Ok(Note {
                id: r.get(0)?,
                text: r.get(1)?,
                created_at: from_sql(r.get(2)?),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let tags = conn
        .prepare("SELECT tag FROM tags WHERE contact_id = ?1 ORDER BY tag")?
        .query_map([id], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    let follow_up: Option<String> = conn
        .query_row("SELECT follow_up FROM contacts WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .optional()?
        .flatten();
    let mut stmt = conn.prepare(
        "SELECT id, envelope_bytes, from_key, to_key, at, event, via, recorded_at FROM meetings
         WHERE contact_id = ?1 ORDER BY id",
    )?;
    let mut rows = stmt.query([id])?;
    let mut meetings = Vec::new();
    while let Some(r) = rows.next()? {
        let mid: i64 = r.get(0)?;
        let key = |i: usize| -> Result<PublicKey> {
            let b: Vec<u8> = r.get(i)?;
            <[u8; 32]>::try_from(b.as_slice())
                .map(PublicKey)
                .map_err(|_| StoreError::CorruptRow {
                    table: "meetings",
                    id: mid,
                    reason: "key is not 32 bytes",
                })
        };
        meetings.push(Meeting {
            id: mid,
            record: MeetingRecord {
                envelope: r.get(1)?,
                from: key(2)?,
                to: key(3)?,
                at: from_sql(r.get(4)?),
                event: r.get(5)?,
                via: r.get(6)?,
            },
            recorded_at: from_sql(r.get(7)?),
        });
    }
    meetings.sort_by_key(|m| (m.record.at, m.id));
    Ok(Extras {
        notes,
        tags,
        follow_up,
        meetings,
    })
}

fn count(conn: &Connection, sql: &str, id: i64) -> Result<usize> {
    Ok(conn.query_row(sql, [id], |r| r.get(0))?)
}

/// Checks the bounds of a meeting record.
pub(crate) fn check_meeting(m: &MeetingRecord) -> Result<()> {
    if m.envelope.is_empty() {
        return Err(StoreError::Empty {
            what: "give envelope",
        });
    }
    if m.envelope.len() > MAX_ENVELOPE {
        return Err(StoreError::TooLong {
            what: "give envelope",
            len: m.envelope.len(),
            max: MAX_ENVELOPE,
        });
    }
    if let Some(e) = &m.event {
        check_text("event name", e, MAX_EVENT_NAME)?;
    }
    check_text("via", &m.via, MAX_VIA)
}

/// Records a meeting with the contact whose key is `contact`. Returns `false` when the same
/// envelope was already recorded.
pub(crate) fn add_meeting(
    conn: &Connection,
    contact: PublicKey,
    m: &MeetingRecord,
) -> Result<bool> {
    check_meeting(m)?;
    if m.from != contact && m.to != contact {
        return Err(StoreError::MeetingNotWithContact);
    }
    let id: i64 = conn
        .query_row(
            "SELECT id FROM contacts WHERE key = ?1",
            [&contact.0[..]],
            |r| r.get(0),
        )
        .optional()?
        .ok_or_else(|| StoreError::NoSuchContact(contact.peer_id()))?;
    let known: bool = conn.query_row(
        "SELECT count(*) FROM meetings WHERE contact_id = ?1 AND envelope_bytes = ?2",
        params![id, m.envelope],
        |r| r.get(0),
    )?;
    if known {
        return Ok(false);
    }
    if count(
        conn,
        "SELECT count(*) FROM meetings WHERE contact_id = ?1",
        id,
    )? >= MAX_MEETINGS
    {
        // Bounded: keep the first meeting (where you met) and the newest; drop the second-oldest.
        conn.execute(
            "DELETE FROM meetings WHERE id = (SELECT id FROM meetings WHERE contact_id = ?1 ORDER BY id LIMIT 1 OFFSET 1)",
            [id],
        )?;
    }
    let n = conn.execute(
        "INSERT OR IGNORE INTO meetings (contact_id, envelope_bytes, from_key, to_key, at, event, via, recorded_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![id, m.envelope, &m.from.0[..], &m.to.0[..], to_sql(m.at), m.event, m.via, to_sql(now())],
    )?;
    Ok(n == 1)
}

pub(crate) fn add_note(conn: &Connection, id: i64, text: &str) -> Result<i64> {
    let text = text.trim();
    if text.is_empty() {
        return Err(StoreError::Empty { what: "note" });
    }
    crate::receive::keep(conn, id)?;
    if text.len() > MAX_NOTE_TEXT {
        return Err(StoreError::TooLong {
            what: "note",
            len: text.len(),
            max: MAX_NOTE_TEXT,
        });
    }
    // Notes may have several lines; no other control characters.
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(StoreError::ControlCharacter { what: "note" });
    }
    if count(conn, "SELECT count(*) FROM notes WHERE contact_id = ?1", id)? >= MAX_NOTES {
        return Err(StoreError::TooMany {
            what: "notes",
            max: MAX_NOTES,
        });
    }
    conn.execute(
        "INSERT INTO notes (contact_id, text, created_at) VALUES (?1, ?2, ?3)",
        params![id, text, to_sql(now())],
    )?;
    let note = conn.last_insert_rowid();
    reindex(conn, id)?;
    Ok(note)
}

/// The normalized form of a tag: trimmed, a leading `#` dropped, lowercase, inner whitespace
/// runs as one `-`.
pub fn normalize_tag(tag: &str) -> Result<String> {
    let t = tag.trim();
    let t = t.strip_prefix('#').unwrap_or(t);
    let t = t
        .split_whitespace()
        .collect::<Vec<_>>()
        .join("-")
        .to_lowercase();
    check_text("tag", &t, MAX_TAG_LEN)?;
    Ok(t)
}

pub(crate) fn add_tag(conn: &Connection, id: i64, tag: &str) -> Result<bool> {
    let tag = normalize_tag(tag)?;
    crate::receive::keep(conn, id)?;
    let present: bool = conn.query_row(
        "SELECT count(*) FROM tags WHERE contact_id = ?1 AND tag = ?2",
        params![id, tag],
        |r| r.get(0),
    )?;
    if present {
        return Ok(false);
    }
    if count(conn, "SELECT count(*) FROM tags WHERE contact_id = ?1", id)? >= MAX_TAGS {
        return Err(StoreError::TooMany {
            what: "tags",
            max: MAX_TAGS,
        });
    }
    conn.execute(
        "INSERT INTO tags (contact_id, tag) VALUES (?1, ?2)",
        params![id, tag],
    )?;
    reindex(conn, id)?;
    Ok(true)
}

pub(crate) fn remove_tag(conn: &Connection, id: i64, tag: &str) -> Result<bool> {
    let tag = normalize_tag(tag)?;
    let n = conn.execute(
        "DELETE FROM tags WHERE contact_id = ?1 AND tag = ?2",
        params![id, tag],
    )?;
    if n > 0 {
        reindex(conn, id)?;
    }
    Ok(n > 0)
}

/// Checks a `YYYY-MM-DD` calendar date (proleptic Gregorian, years 1000-9999).
pub fn check_date(s: &str) -> Result<()> {
    let bad = || StoreError::BadDate(s.chars().take(32).collect());
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| -> Result<u32> {
        let part = &s[r];
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        part.parse().map_err(|_| bad())
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(bad()),
    };
    if y < 1000 || d == 0 || d > days {
        return Err(bad());
    }
    Ok(())
}

pub(crate) fn set_follow_up(conn: &Connection, id: i64, date: Option<&str>) -> Result<()> {
    let date = date.map(str::trim);
    if let Some(d) = date {
        check_date(d)?;
    }
    crate::receive::keep(conn, id)?;
    conn.execute(
        "UPDATE contacts SET follow_up = ?2 WHERE id = ?1",
        params![id, date],
    )?;
    Ok(())
}

/// Contacts with a follow-up date on or before `until` (all when `None`), soonest first.
pub(crate) fn follow_ups(
    conn: &Connection,
    until: Option<&str>,
) -> Result<Vec<(ContactSummary, String)>> {
    if let Some(d) = until {
        check_date(d)?;
    }
    let mut stmt = conn.prepare(&format!(
        "SELECT {SUMMARY_COLUMNS}, follow_up FROM contacts WHERE follow_up IS NOT NULL
         AND (?1 IS NULL OR follow_up <= ?1) ORDER BY follow_up, id"
    ))?;
    let mut rows = stmt.query([until])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push((summary_from_row(r)?, r.get(9)?));
    }
    Ok(out)
}

/// Turns user text into an FTS5 query that cannot be a syntax error: every whitespace-separated
/// term becomes a quoted phrase matched as a prefix, and terms are ANDed. Terms without a letter
/// or digit are dropped (they match nothing in the index anyway). `None` when nothing is left.
pub fn fts_query(input: &str) -> Result<Option<String>> {
    if input.len() > MAX_QUERY {
        return Err(StoreError::TooLong {
            what: "search query",
            len: input.len(),
            max: MAX_QUERY,
        });
    }
    // Control characters (NUL ends an FTS5 query string early) separate terms like spaces.
    let cleaned: String = input
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let terms: Vec<String> = cleaned
        .split_whitespace()
        .filter(|t| t.chars().any(char::is_alphanumeric))
        .map(|t| format!("\"{}\"*", t.replace('"', "\"\"")))
        .collect();
    if terms.len() > MAX_QUERY_TERMS {
        return Err(StoreError::TooMany {
            what: "search terms",
            max: MAX_QUERY_TERMS,
        });
    }
    Ok((!terms.is_empty()).then(|| terms.join(" ")))
}

pub(crate) fn search(conn: &Connection, query: &str) -> Result<Vec<ContactSummary>> {
    let Some(q) = fts_query(query)? else {
        return Ok(Vec::new());
    };
    let mut stmt = conn.prepare(&format!(
        "SELECT {SUMMARY_COLUMNS} FROM contacts_fts JOIN contacts ON contacts.id = contacts_fts.rowid
         WHERE contacts_fts MATCH ?1 ORDER BY rank, contacts.id LIMIT {MAX_RESULTS}"
    ))?;
    let mut rows = stmt.query([q])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(summary_from_row(r)?);
    }
    Ok(out)
}
