//! Relationships over time (issue 14): the slot I publish my card to and the secret my drop
//! boxes derive from ([`OwnLinks`]), and the links each contact gave me with their card
//! ([`ContactLinks`]): where their later cards are, and my box at their relays. The links are
//! opaque bytes here; `meishi_event::Links` reads them.

use meishi_card::PublicKey;
use rusqlite::{params, Connection, OptionalExtension};
use zeroize::Zeroizing;

use crate::contacts::now;
use crate::error::Result;
use crate::Store;

/// My slot and drop keys. Secret: they are in the book, like the cards.
#[derive(Clone)]
pub struct OwnLinks {
    /// The slot key's seed (`meishi_event::SlotKey::from_seed`).
    pub slot_seed: Zeroizing<[u8; 32]>,
    /// The key my card is sealed with in the slot.
    pub seal_key: Zeroizing<[u8; 32]>,
    /// What my drop boxes derive from.
    pub drop_secret: Zeroizing<[u8; 32]>,
    /// The relays that keep the slot and the boxes (multiaddrs, 1 to 3).
    pub relays: Vec<String>,
    /// The seq of the last record published to this slot (0: none yet).
    pub record_seq: u64,
    /// The card seq inside that record.
    pub published_card_seq: Option<u64>,
    /// When that record expires (Unix seconds).
    pub published_expires: Option<u64>,
    /// The relays that took it.
    pub published_relays: Vec<String>,
    /// A revoke asked for a new slot: the revoked contact must not read my next cards.
    pub rotate: bool,
}

impl std::fmt::Debug for OwnLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnLinks")
            .field("relays", &self.relays)
            .field("record_seq", &self.record_seq)
            .field("published_card_seq", &self.published_card_seq)
            .field("published_expires", &self.published_expires)
            .field("published_relays", &self.published_relays)
            .field("rotate", &self.rotate)
            .finish_non_exhaustive()
    }
}

/// The links one contact gave me, from the newest envelope that carried them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactLinks {
    pub key: PublicKey,
    pub links: Vec<u8>,
    /// When they gave them (their envelope's time).
    pub given_at: u64,
    /// The highest slot record seq I read from their slot (0: none).
    pub slot_seq: u64,
}

fn split(s: &str) -> Vec<String> {
    s.lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

fn key32(v: Vec<u8>) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new([0u8; 32]);
    if v.len() == 32 {
        out.copy_from_slice(&v);
    }
    out
}

fn to_u64(v: Option<i64>) -> Option<u64> {
    v.and_then(|v| u64::try_from(v).ok())
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(crate) fn own_links(conn: &Connection) -> Result<Option<OwnLinks>> {
    let row = conn
        .query_row(
            "SELECT slot_seed, seal_key, drop_secret, relays, record_seq, published_card_seq,
                    published_expires, published_relays, rotate
             FROM own_links WHERE id = 1",
            [],
            |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, Option<i64>>(5)?,
                    r.get::<_, Option<i64>>(6)?,
                    r.get::<_, String>(7)?,
                    r.get::<_, i64>(8)?,
                ))
            },
        )
        .optional()?;
    Ok(row.map(
        |(seed, seal, drop, relays, seq, card_seq, expires, published, rotate)| OwnLinks {
            slot_seed: key32(seed),
            seal_key: key32(seal),
            drop_secret: key32(drop),
            relays: split(&relays),
            record_seq: u64::try_from(seq).unwrap_or(0),
            published_card_seq: to_u64(card_seq),
            published_expires: to_u64(expires),
            published_relays: split(&published),
            rotate: rotate != 0,
        },
    ))
}

pub(crate) fn mark_rotate(conn: &Connection) -> Result<()> {
    conn.execute("UPDATE own_links SET rotate = 1 WHERE id = 1", [])?;
    Ok(())
}

impl Store {
    /// My slot and drop keys, if I have made them.
    pub fn own_links(&self) -> Result<Option<OwnLinks>> {
        own_links(&self.conn)
    }

    /// Saves my slot and drop keys, replacing what was there (a new slot after a revoke).
    pub fn set_own_links(&self, links: &OwnLinks) -> Result<()> {
        self.write(|c| {
            c.execute(
                "INSERT INTO own_links (id, slot_seed, seal_key, drop_secret, relays, record_seq,
                     published_card_seq, published_expires, published_relays, rotate, created_at)
                 VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT (id) DO UPDATE SET slot_seed = ?1, seal_key = ?2, drop_secret = ?3,
                     relays = ?4, record_seq = ?5, published_card_seq = ?6,
                     published_expires = ?7, published_relays = ?8, rotate = ?9",
                params![
                    &links.slot_seed[..],
                    &links.seal_key[..],
                    &links.drop_secret[..],
                    links.relays.join("\n"),
                    to_i64(links.record_seq),
                    links.published_card_seq.map(to_i64),
                    links.published_expires.map(to_i64),
                    links.published_relays.join("\n"),
                    i64::from(links.rotate),
                    to_i64(now()),
                ],
            )?;
            Ok(())
        })
    }

    /// Records a record published to my slot: its seq, and when some relay took it (`kept`),
    /// the card seq inside, its expiry and the relays that took it. A record no relay took still
    /// uses up its seq: two records are never signed with one seq.
    pub fn mark_published(
        &self,
        record_seq: u64,
        kept: Option<(u64, u64)>,
        relays: &[String],
    ) -> Result<()> {
        self.write(|c| {
            c.execute(
                "UPDATE own_links SET record_seq = max(record_seq, ?1) WHERE id = 1",
                params![to_i64(record_seq)],
            )?;
            if let Some((card_seq, expires)) = kept {
                c.execute(
                    "UPDATE own_links SET published_card_seq = ?1, published_expires = ?2,
                         published_relays = ?3 WHERE id = 1",
                    params![to_i64(card_seq), to_i64(expires), relays.join("\n")],
                )?;
            }
            Ok(())
        })
    }

    /// Keeps the links a contact gave me with their card, unless I hold newer ones from them.
    /// `true` when they were stored.
    pub fn set_contact_links(&self, key: &PublicKey, links: &[u8], given_at: u64) -> Result<bool> {
        self.write(|c| set_contact_links(c, key, links, given_at))
    }

    /// Every contact's links, for reading their slots.
    pub fn contact_links(&self) -> Result<Vec<ContactLinks>> {
        let mut stmt = self.conn.prepare(
            "SELECT l.key, l.links, l.given_at, l.slot_seq FROM contact_links l
             JOIN contacts c ON c.key = l.key ORDER BY l.key",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (key, links, given_at, slot_seq) = row?;
            let Ok(key) = <[u8; 32]>::try_from(key.as_slice()) else {
                continue;
            };
            out.push(ContactLinks {
                key: PublicKey(key),
                links,
                given_at: u64::try_from(given_at).unwrap_or(0),
                slot_seq: u64::try_from(slot_seq).unwrap_or(0),
            });
        }
        Ok(out)
    }

    /// The links of one contact.
    pub fn links_of(&self, key: &PublicKey) -> Result<Option<ContactLinks>> {
        Ok(self.contact_links()?.into_iter().find(|l| l.key == *key))
    }

    /// Records the highest slot record seq read from a contact's slot.
    pub fn set_slot_seq(&self, key: &PublicKey, seq: u64) -> Result<()> {
        self.write(|c| {
            c.execute(
                "UPDATE contact_links SET slot_seq = max(slot_seq, ?2), read_at = ?3
                 WHERE key = ?1",
                params![&key.0[..], to_i64(seq), to_i64(now())],
            )?;
            Ok(())
        })
    }
}

pub(crate) fn set_contact_links(
    c: &Connection,
    key: &PublicKey,
    links: &[u8],
    given_at: u64,
) -> Result<bool> {
    if links.is_empty() {
        return Ok(false);
    }
    let stored: Option<(i64, Vec<u8>)> = c
        .query_row(
            "SELECT given_at, links FROM contact_links WHERE key = ?1",
            [&key.0[..]],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    match stored {
        Some((at, old)) if to_u64(Some(at)).unwrap_or(0) > given_at || old == links => Ok(false),
        Some((_, old)) => {
            // Another slot: what was read from the old one says nothing about the new one.
            let _ = old;
            c.execute(
                "UPDATE contact_links SET links = ?2, given_at = ?3, slot_seq = 0 WHERE key = ?1",
                params![&key.0[..], links, to_i64(given_at)],
            )?;
            Ok(true)
        }
        None => {
            c.execute(
                "INSERT INTO contact_links (key, links, given_at) VALUES (?1, ?2, ?3)",
                params![&key.0[..], links, to_i64(given_at)],
            )?;
            Ok(true)
        }
    }
}
