//! Introductions (proto-spec/intro.md): the ones I made ([`IntroMade`]) and the ones I was asked
//! about ([`IntroReceived`]), with the state each is in. The state machine itself lives in the
//! application (`meishi_app::intro`); the store keeps its facts and refuses a step from a state
//! it does not follow.

use std::fmt;
use std::str::FromStr;

use meishi_card::PublicKey;
use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::contacts::now;
use crate::error::{Result, StoreError};
use crate::Store;

/// Where an introduction I made stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MadeState {
    /// Waiting for B (asked first).
    AskingB,
    /// B accepted; waiting for A.
    AskingA,
    /// Both accepted; each got the other's card.
    Done,
    /// One of them declined (the other never learns it).
    Declined,
    /// Nobody answered within the session's life.
    Expired,
    /// A step came that the session did not expect.
    Aborted,
}

/// Where an introduction I was asked about stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceivedState {
    /// Waiting for my decision.
    Asked,
    /// I accepted; waiting for the other side.
    Accepted,
    Declined,
    /// Both accepted: the other's card is in my book.
    Introduced,
    Expired,
    Aborted,
}

macro_rules! state_names {
    ($t:ty { $($v:ident => $s:literal),* $(,)? }) => {
        impl $t {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$v => $s),* }
            }
            /// Whether nothing more can happen in this state.
            pub fn is_final(self) -> bool {
                !matches!(self.as_str(), "asking_b" | "asking_a" | "asked" | "accepted")
            }
        }
        impl FromStr for $t {
            type Err = StoreError;
            fn from_str(s: &str) -> Result<Self> {
                match s {
                    $($s => Ok(Self::$v),)*
                    other => Err(StoreError::Corrupt(format!("unknown introduction state {other:?}"))),
                }
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

state_names!(MadeState {
    AskingB => "asking_b",
    AskingA => "asking_a",
    Done => "done",
    Declined => "declined",
    Expired => "expired",
    Aborted => "aborted",
});

state_names!(ReceivedState {
    Asked => "asked",
    Accepted => "accepted",
    Declined => "declined",
    Introduced => "introduced",
    Expired => "expired",
    Aborted => "aborted",
});

/// An introduction I made: A and B, asked B first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntroMade {
    pub id: i64,
    pub session: [u8; 16],
    pub a: PublicKey,
    pub b: PublicKey,
    pub note: Option<String>,
    pub state: MadeState,
    /// The hash of the last message exchanged with A, and with B: what the next one names as
    /// `prev`.
    pub hash_a: Option<[u8; 32]>,
    pub hash_b: Option<[u8; 32]>,
    /// B's give envelope for A, kept until A accepts.
    pub held: Option<Vec<u8>>,
    pub created_at: u64,
    pub expires_at: u64,
}

/// An introduction a contact asked me about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntroReceived {
    pub id: i64,
    pub session: [u8; 16],
    pub introducer: PublicKey,
    /// The person I am introduced to, as the introducer showed them: attacker-controlled text.
    pub other: PublicKey,
    pub other_name: String,
    pub other_headline: Option<String>,
    pub note: Option<String>,
    pub state: ReceivedState,
    /// The hash of the introducer's ask (my answer names it) and of my answer (their delivery
    /// names it).
    pub ask_hash: [u8; 32],
    pub answer_hash: Option<[u8; 32]>,
    pub received_at: u64,
    pub expires_at: u64,
}

fn key(v: Vec<u8>) -> rusqlite::Result<PublicKey> {
    <[u8; 32]>::try_from(v.as_slice())
        .map(PublicKey)
        .map_err(|_| {
            rusqlite::Error::InvalidColumnType(0, "key".into(), rusqlite::types::Type::Blob)
        })
}

fn hash(v: Option<Vec<u8>>) -> Option<[u8; 32]> {
    v.and_then(|v| <[u8; 32]>::try_from(v.as_slice()).ok())
}

fn session(v: Vec<u8>) -> [u8; 16] {
    <[u8; 16]>::try_from(v.as_slice()).unwrap_or_default()
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

const MADE_COLUMNS: &str =
    "id, session, a_key, b_key, note, state, hash_a, hash_b, held, created_at, expires_at";
const RECEIVED_COLUMNS: &str = "id, session, introducer, other_key, other_name, other_headline, \
     note, state, ask_hash, answer_hash, received_at, expires_at";

fn made_row(r: &Row<'_>) -> rusqlite::Result<(IntroMade, String)> {
    Ok((
        IntroMade {
            id: r.get(0)?,
            session: session(r.get(1)?),
            a: key(r.get(2)?)?,
            b: key(r.get(3)?)?,
            note: r.get(4)?,
            state: MadeState::AskingB,
            hash_a: hash(r.get(6)?),
            hash_b: hash(r.get(7)?),
            held: r.get(8)?,
            created_at: to_u64(r.get(9)?),
            expires_at: to_u64(r.get(10)?),
        },
        r.get(5)?,
    ))
}

fn received_row(r: &Row<'_>) -> rusqlite::Result<(IntroReceived, String)> {
    Ok((
        IntroReceived {
            id: r.get(0)?,
            session: session(r.get(1)?),
            introducer: key(r.get(2)?)?,
            other: key(r.get(3)?)?,
            other_name: r.get(4)?,
            other_headline: r.get(5)?,
            note: r.get(6)?,
            state: ReceivedState::Asked,
            ask_hash: hash(r.get(8)?).unwrap_or_default(),
            answer_hash: hash(r.get(9)?),
            received_at: to_u64(r.get(10)?),
            expires_at: to_u64(r.get(11)?),
        },
        r.get(7)?,
    ))
}

fn made_where(conn: &Connection, filter: &str, p: impl rusqlite::Params) -> Result<Vec<IntroMade>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {MADE_COLUMNS} FROM intros_made {filter} ORDER BY id"
    ))?;
    let rows = stmt.query_map(p, made_row)?;
    let mut out = Vec::new();
    for row in rows {
        let (mut m, state) = row?;
        m.state = state.parse()?;
        out.push(m);
    }
    Ok(out)
}

fn received_where(
    conn: &Connection,
    filter: &str,
    p: impl rusqlite::Params,
) -> Result<Vec<IntroReceived>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {RECEIVED_COLUMNS} FROM intros_received {filter} ORDER BY id"
    ))?;
    let rows = stmt.query_map(p, received_row)?;
    let mut out = Vec::new();
    for row in rows {
        let (mut m, state) = row?;
        m.state = state.parse()?;
        out.push(m);
    }
    Ok(out)
}

/// Marks every live introduction whose session has ended as expired; how many.
fn expire(conn: &Connection, now: u64) -> Result<usize> {
    let a = conn.execute(
        "UPDATE intros_made SET state = 'expired', updated_at = ?1
         WHERE state IN ('asking_b', 'asking_a') AND expires_at <= ?1",
        [to_i64(now)],
    )?;
    let b = conn.execute(
        "UPDATE intros_received SET state = 'expired', updated_at = ?1
         WHERE state IN ('asked', 'accepted') AND expires_at <= ?1",
        [to_i64(now)],
    )?;
    Ok(a + b)
}

impl Store {
    /// Records an introduction I just asked B about; its id. Refused while another introduction
    /// of the same two people is under way (try again when it ends).
    pub fn intro_made_add(&self, m: &IntroMade) -> Result<i64> {
        self.write(|c| {
            expire(c, now())?;
            let live: Option<i64> = c
                .query_row(
                    "SELECT id FROM intros_made WHERE state IN ('asking_b', 'asking_a')
                     AND ((a_key = ?1 AND b_key = ?2) OR (a_key = ?2 AND b_key = ?1))",
                    params![&m.a.0[..], &m.b.0[..]],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(id) = live {
                return Err(StoreError::IntroUnderWay(id));
            }
            c.execute(
                "INSERT INTO intros_made (session, a_key, b_key, note, state, hash_a, hash_b,
                     held, created_at, updated_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10)",
                params![
                    &m.session[..],
                    &m.a.0[..],
                    &m.b.0[..],
                    m.note,
                    m.state.as_str(),
                    m.hash_a.map(|h| h.to_vec()),
                    m.hash_b.map(|h| h.to_vec()),
                    m.held,
                    to_i64(m.created_at),
                    to_i64(m.expires_at),
                ],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    /// Saves the new state of an introduction I made, if it is still in `from` (a step applied
    /// twice, or to an ended session, changes nothing: `false`).
    pub fn intro_made_update(&self, m: &IntroMade, from: MadeState) -> Result<bool> {
        self.write(|c| {
            Ok(c.execute(
                "UPDATE intros_made SET state = ?2, hash_a = ?3, hash_b = ?4, held = ?5,
                     updated_at = ?6 WHERE id = ?1 AND state = ?7",
                params![
                    m.id,
                    m.state.as_str(),
                    m.hash_a.map(|h| h.to_vec()),
                    m.hash_b.map(|h| h.to_vec()),
                    m.held,
                    to_i64(now()),
                    from.as_str(),
                ],
            )? > 0)
        })
    }

    /// The introduction I made with this session id.
    pub fn intro_made_by_session(&self, session: &[u8; 16]) -> Result<Option<IntroMade>> {
        expire(&self.conn, now())?;
        Ok(
            made_where(&self.conn, "WHERE session = ?1", [&session[..]])?
                .into_iter()
                .next(),
        )
    }

    /// Every introduction I made, oldest first.
    pub fn intros_made(&self) -> Result<Vec<IntroMade>> {
        expire(&self.conn, now())?;
        made_where(&self.conn, "", [])
    }

    /// Records an ask I received; its id, or `None` when this session was already recorded.
    pub fn intro_received_add(&self, r: &IntroReceived) -> Result<Option<i64>> {
        self.write(|c| {
            let n = c.execute(
                "INSERT OR IGNORE INTO intros_received (session, introducer, other_key, other_name,
                     other_headline, note, state, ask_hash, answer_hash, received_at, updated_at,
                     expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11)",
                params![
                    &r.session[..],
                    &r.introducer.0[..],
                    &r.other.0[..],
                    r.other_name,
                    r.other_headline,
                    r.note,
                    r.state.as_str(),
                    &r.ask_hash[..],
                    r.answer_hash.map(|h| h.to_vec()),
                    to_i64(r.received_at),
                    to_i64(r.expires_at),
                ],
            )?;
            Ok((n > 0).then(|| c.last_insert_rowid()))
        })
    }

    /// Moves an introduction I was asked about from `from` to `to` (with my answer's hash when I
    /// answer); `false` when it was not in `from` any more.
    pub fn intro_received_set(
        &self,
        id: i64,
        from: ReceivedState,
        to: ReceivedState,
        answer_hash: Option<[u8; 32]>,
    ) -> Result<bool> {
        self.write(|c| {
            Ok(c.execute(
                "UPDATE intros_received SET state = ?2, answer_hash = coalesce(?3, answer_hash),
                     updated_at = ?4 WHERE id = ?1 AND state = ?5",
                params![
                    id,
                    to.as_str(),
                    answer_hash.map(|h| h.to_vec()),
                    to_i64(now()),
                    from.as_str()
                ],
            )? > 0)
        })
    }

    /// One introduction I was asked about.
    pub fn intro_received(&self, id: i64) -> Result<Option<IntroReceived>> {
        expire(&self.conn, now())?;
        Ok(received_where(&self.conn, "WHERE id = ?1", [id])?
            .into_iter()
            .next())
    }

    /// The introduction `introducer` asked me about in `session`.
    pub fn intro_received_by_session(
        &self,
        introducer: &PublicKey,
        session: &[u8; 16],
    ) -> Result<Option<IntroReceived>> {
        expire(&self.conn, now())?;
        Ok(received_where(
            &self.conn,
            "WHERE introducer = ?1 AND session = ?2",
            params![&introducer.0[..], &session[..]],
        )?
        .into_iter()
        .next())
    }

    /// Every introduction I was asked about, oldest first.
    pub fn intros_received(&self) -> Result<Vec<IntroReceived>> {
        expire(&self.conn, now())?;
        received_where(&self.conn, "", [])
    }

    /// Who introduced me to `other`, when the introduction completed.
    pub fn introduced_by(&self, other: &PublicKey) -> Result<Option<IntroReceived>> {
        Ok(received_where(
            &self.conn,
            "WHERE other_key = ?1 AND state = 'introduced'",
            [&other.0[..]],
        )?
        .into_iter()
        .last())
    }

    /// Whether I let contacts introduce my card to others without asking me (`false`: every
    /// ask is declined at once).
    pub fn introductions_allowed(&self) -> Result<bool> {
        let v: Option<String> = self
            .conn
            .query_row(
                "SELECT value FROM settings WHERE name = 'introductions'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        Ok(v.as_deref() != Some("never"))
    }

    /// Chooses whether contacts may introduce me: `ask` (each ask waits for my decision, the
    /// default) or `never`.
    pub fn set_introductions_allowed(&self, allowed: bool) -> Result<()> {
        self.write(|c| {
            c.execute(
                "INSERT INTO settings (name, value) VALUES ('introductions', ?1)
                 ON CONFLICT (name) DO UPDATE SET value = ?1",
                [if allowed { "ask" } else { "never" }],
            )?;
            Ok(())
        })
    }
}
