//! Node events turned into stored facts: a card received in a signed give envelope, a card I
//! gave, a give held for my decision. Each is one transaction; the envelope is the proof of
//! where and when we met.

use std::fmt;

use meishi_card::envelope::Envelope;
use meishi_card::PublicKey;
use rusqlite::{params, Connection};

use crate::contacts::{self, ContactRef, PutOutcome};
use crate::error::Result;
use crate::extras::MeetingRecord;
use crate::Store;

/// How a card reached the book.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Via {
    /// Peer to peer: a swap, a give-back, `meishi up` on the LAN.
    Swap,
    /// Peer to peer with an attendee of an event, through its relay.
    Event,
    /// `meishi fetch`: a contact's edited card.
    Fetch,
    /// A scanned QR code.
    Qr,
    /// A file (`meishi import`).
    Import,
    /// Read from the contact's card slot on a relay, or left in my drop box: an edit that
    /// reached me while we were not online together.
    Slot,
    /// Introduced by a contact: verified as signed by its own key, not met in person.
    Intro,
}

impl Via {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Swap => "swap",
            Self::Event => "event",
            Self::Fetch => "fetch",
            Self::Qr => "qr",
            Self::Import => "import",
            Self::Slot => "slot",
            Self::Intro => "intro",
        }
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl MeetingRecord {
    /// The meeting a give envelope proves.
    pub fn of(envelope: &Envelope, via: Via) -> Self {
        MeetingRecord {
            envelope: envelope.as_bytes().to_vec(),
            from: envelope.giver(),
            to: envelope.recipient(),
            at: envelope.time(),
            event: envelope.event().map(str::to_owned),
            via: via.as_str().to_owned(),
        }
    }
}

/// Unsolicited contacts the user has not kept that a book holds by default (see
/// [`Store::receive_unsolicited`]).
pub const MAX_UNKEPT: usize = 1000;

/// Marks contact `id` as kept: the user touched it, it is never evicted.
pub(crate) fn keep(conn: &Connection, id: i64) -> Result<()> {
    conn.execute(
        "UPDATE contacts SET unkept = 0 WHERE id = ?1 AND unkept = 1",
        [id],
    )?;
    Ok(())
}

/// Marks the contact with `key` as kept.
pub(crate) fn keep_key(conn: &Connection, key: &PublicKey) -> Result<()> {
    conn.execute(
        "UPDATE contacts SET unkept = 0 WHERE key = ?1 AND unkept = 1",
        [&key.0[..]],
    )?;
    Ok(())
}

/// Deletes the oldest unkept contacts beyond `max`; how many.
fn evict_unkept(conn: &Connection, max: usize) -> Result<usize> {
    let ids: Vec<(i64, Option<Vec<u8>>)> = {
        let mut stmt = conn.prepare(
            "SELECT id, key FROM contacts WHERE unkept = 1
             ORDER BY added_at DESC, id DESC LIMIT -1 OFFSET ?1",
        )?;
        let rows = stmt.query_map([i64::try_from(max).unwrap_or(i64::MAX)], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for (id, key) in &ids {
        contacts::remove(conn, &ContactRef::Id(*id))?;
        if let Some(key) = key {
            conn.execute("DELETE FROM peer_addrs WHERE key = ?1", params![key])?;
        }
    }
    Ok(ids.len())
}

/// What [`Store::receive_unsolicited`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsolicited {
    pub outcome: PutOutcome,
    /// Older unkept contacts deleted to stay within the cap.
    pub evicted: usize,
}

impl Store {
    /// Stores a received card and the envelope that says where and when we met, in one
    /// transaction. An older card (a replay) or an equivocation records no meeting. The card
    /// came from a swap the user started or from a contact: the contact is kept for good.
    pub fn receive(&mut self, envelope: &Envelope, via: Via) -> Result<PutOutcome> {
        let card = envelope.card().clone();
        let record = MeetingRecord::of(envelope, via);
        self.transaction(|tx| {
            let outcome = tx.put_signed(&card, via.as_str())?;
            if !matches!(
                outcome,
                PutOutcome::Older { .. } | PutOutcome::Equivocation { .. }
            ) {
                tx.add_meeting(card.key(), &record)?;
                crate::links::set_contact_links(
                    &tx.tx,
                    &card.key(),
                    envelope.links(),
                    envelope.time(),
                )?;
            }
            keep_key(&tx.tx, &card.key())?;
            Ok(outcome)
        })
    }

    /// Stores a card a stranger gave unasked (`Event::CardReceived` with `unsolicited`), like
    /// [`Store::receive`], but a new contact is *unkept* until the user touches it (a note, a
    /// tag, a follow-up date, a swap they start, accepting it from the inbox). At most `max`
    /// unkept contacts stay: the oldest beyond are deleted, newest first; a kept contact is
    /// never deleted. A stranger cannot fill the book. proto-spec/exchange.md#bounds
    pub fn receive_unsolicited(
        &mut self,
        envelope: &Envelope,
        via: Via,
        max: usize,
    ) -> Result<Unsolicited> {
        let card = envelope.card().clone();
        let record = MeetingRecord::of(envelope, via);
        self.transaction(|tx| {
            let outcome = tx.put_signed(&card, via.as_str())?;
            if !matches!(
                outcome,
                PutOutcome::Older { .. } | PutOutcome::Equivocation { .. }
            ) {
                tx.add_meeting(card.key(), &record)?;
                crate::links::set_contact_links(
                    &tx.tx,
                    &card.key(),
                    envelope.links(),
                    envelope.time(),
                )?;
            }
            if outcome == PutOutcome::Added {
                tx.tx.execute(
                    "UPDATE contacts SET unkept = 1 WHERE key = ?1",
                    [&card.key().0[..]],
                )?;
            }
            let evicted = evict_unkept(&tx.tx, max)?;
            Ok(Unsolicited { outcome, evicted })
        })
    }

    /// Records that I gave my card (the envelope is the proof) when the recipient is a contact;
    /// `false` when they are not (yet): a mutual swap stores their card first, or the give is
    /// recorded with theirs.
    pub fn record_given(&self, envelope: &Envelope, via: Via) -> Result<bool> {
        if self
            .resolve(&ContactRef::Key(envelope.recipient()))?
            .is_none()
        {
            return Ok(false);
        }
        self.add_meeting(envelope.recipient(), &MeetingRecord::of(envelope, via))
    }

    /// Holds a give for my decision (see [`Store::inbox_add`]); returns the inbox item's id.
    pub fn hold(
        &self,
        envelope: &Envelope,
        via: Via,
        received_at: u64,
        addrs: &[String],
    ) -> Result<i64> {
        self.inbox_add(
            envelope.card(),
            &MeetingRecord::of(envelope, via),
            received_at,
            addrs,
        )
    }
}

/// What became of one card in [`Store::import`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportResult {
    /// My own card: not a contact, skipped.
    Own,
    /// Stored (or refused as older, or kept as equivocation evidence).
    Put(PutOutcome),
}

impl ImportResult {
    /// Whether the card is in the book now (stored, or already there as given).
    pub fn kept(&self) -> bool {
        match self {
            Self::Own => false,
            Self::Put(o) => o.changed() || *o == PutOutcome::Unchanged,
        }
    }
}

impl fmt::Display for ImportResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Own => f.write_str("your own card, skipped"),
            Self::Put(o) => o.fmt(f),
        }
    }
}

impl Store {
    /// Stores cards from a file or a QR code, all or none: the first error rolls everything
    /// back. A signed card with my own key (`own`) is skipped.
    pub fn import(
        &mut self,
        items: &[crate::Import<'_>],
        via: Via,
        own: Option<meishi_card::PublicKey>,
    ) -> Result<Vec<ImportResult>> {
        self.transaction(|tx| {
            items
                .iter()
                .map(|item| match item {
                    crate::Import::Signed(card) if Some(card.key()) == own => Ok(ImportResult::Own),
                    _ => tx.put(*item, via.as_str()).map(ImportResult::Put),
                })
                .collect()
        })
    }
}
