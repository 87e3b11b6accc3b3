//! What the consent rule needs from the book (proto-spec/exchange.md#consent): who holds my
//! card, who is a contact, whom I revoked, whose give waits in the inbox; and the teaser the
//! owner chose to publish.

use std::fmt;
use std::str::FromStr;

use meishi_card::PublicKey;
use rusqlite::{params, Connection, OptionalExtension};

use crate::contacts::{now, to_sql};
use crate::error::{Result, StoreError};

/// What a node shows people who have not got my card: nothing, my name, or my name and
/// headline. Opt-in: a new book publishes nothing until the owner chooses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TeaserChoice {
    #[default]
    Off,
    Name,
    Headline,
}

impl TeaserChoice {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Name => "name",
            Self::Headline => "headline",
        }
    }
}

impl fmt::Display for TeaserChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A teaser choice that is not `off`, `name` or `headline`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown teaser choice {0:?}: use off, name or headline")]
pub struct TeaserChoiceError(pub String);

impl FromStr for TeaserChoice {
    type Err = TeaserChoiceError;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "off" => Ok(Self::Off),
            "name" => Ok(Self::Name),
            "headline" => Ok(Self::Headline),
            other => Err(TeaserChoiceError(other.to_owned())),
        }
    }
}

/// The keys the consent rule looks at, read in one transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsentPeers {
    /// Contacts I gave my card to (a recorded give envelope from me), and givers whose card I
    /// accepted from the inbox (accepting is choosing to give mine, even before the give-back
    /// reached them), and people I was introduced to (my card went to them through the introducer),
    /// not revoked.
    pub holders: Vec<PublicKey>,
    /// Every contact with a key, except unsolicited cards the user has not kept yet (a
    /// stranger giving twice stays a stranger).
    pub contacts: Vec<PublicKey>,
    /// Revoked keys.
    pub revoked: Vec<PublicKey>,
    /// Givers with a pending inbox item.
    pub pending: Vec<PublicKey>,
}

const TEASER_SETTING: &str = "teaser";

fn keys(conn: &Connection, sql: &str, me: &PublicKey) -> Result<Vec<PublicKey>> {
    let mut stmt = conn.prepare(sql)?;
    let mut rows = stmt.query([&me.0[..]])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let b: Vec<u8> = r.get(0)?;
        let key = <[u8; 32]>::try_from(b.as_slice()).map_err(|_| StoreError::CorruptRow {
            table: "contacts",
            id: 0,
            reason: "key is not 32 bytes",
        })?;
        out.push(PublicKey(key));
    }
    Ok(out)
}

pub(crate) fn peers(conn: &Connection, me: &PublicKey) -> Result<ConsentPeers> {
    Ok(ConsentPeers {
        holders: keys(
            conn,
            "SELECT DISTINCT c.key FROM contacts c JOIN meetings m ON m.contact_id = c.id
             WHERE c.key IS NOT NULL AND m.from_key = ?1
             AND c.key NOT IN (SELECT key FROM revoked)
             UNION
             SELECT from_key FROM inbox WHERE status IN ('accepted', 'given_back')
             AND from_key != ?1 AND from_key NOT IN (SELECT key FROM revoked)
             UNION
             SELECT other_key FROM intros_received WHERE state = 'introduced'
             AND other_key != ?1 AND other_key NOT IN (SELECT key FROM revoked)",
            me,
        )?,
        contacts: keys(
            conn,
            "SELECT key FROM contacts WHERE key IS NOT NULL AND key != ?1 AND unkept = 0",
            me,
        )?,
        revoked: keys(conn, "SELECT key FROM revoked WHERE key != ?1", me)?,
        pending: keys(
            conn,
            "SELECT DISTINCT from_key FROM inbox WHERE status = 'pending' AND from_key != ?1",
            me,
        )?,
    })
}

pub(crate) fn revoke(conn: &Connection, key: &PublicKey) -> Result<bool> {
    Ok(conn.execute(
        "INSERT OR IGNORE INTO revoked (key, revoked_at) VALUES (?1, ?2)",
        params![&key.0[..], to_sql(now())],
    )? > 0)
}

pub(crate) fn unrevoke(conn: &Connection, key: &PublicKey) -> Result<bool> {
    Ok(conn.execute("DELETE FROM revoked WHERE key = ?1", [&key.0[..]])? > 0)
}

pub(crate) fn is_revoked(conn: &Connection, key: &PublicKey) -> Result<bool> {
    Ok(conn
        .query_row("SELECT 1 FROM revoked WHERE key = ?1", [&key.0[..]], |_| {
            Ok(())
        })
        .optional()?
        .is_some())
}

pub(crate) fn teaser(conn: &Connection) -> Result<TeaserChoice> {
    let v: Option<String> = conn
        .query_row(
            "SELECT value FROM settings WHERE name = ?1",
            [TEASER_SETTING],
            |r| r.get(0),
        )
        .optional()?;
    match v {
        None => Ok(TeaserChoice::Off),
        Some(v) => v.parse().map_err(|_| StoreError::CorruptRow {
            table: "settings",
            id: 0,
            reason: "unknown teaser choice",
        }),
    }
}

pub(crate) fn set_teaser(conn: &Connection, choice: TeaserChoice) -> Result<()> {
    conn.execute(
        "INSERT INTO settings (name, value) VALUES (?1, ?2)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        params![TEASER_SETTING, choice.as_str()],
    )?;
    Ok(())
}

/// The key of contact `id`, if it has one.
pub(crate) fn contact_key(conn: &Connection, id: i64) -> Result<Option<PublicKey>> {
    let b: Option<Option<Vec<u8>>> = conn
        .query_row("SELECT key FROM contacts WHERE id = ?1", [id], |r| r.get(0))
        .optional()?;
    Ok(b.flatten()
        .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
        .map(PublicKey))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test fails by panicking")]
mod tests {
    use meishi_card::{Card, Identity, SignedCard};

    use super::TeaserChoice;
    use crate::{ContactRef, MeetingRecord, Store};

    fn tmp() -> (tempfile::TempDir, Store) {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(&d.path().join("c.db")).unwrap();
        (d, s)
    }

    fn person(n: u8) -> Identity {
        Identity::from_seed(&[n; 32])
    }

    fn signed(id: &Identity, name: &str) -> SignedCard {
        SignedCard::sign(id, 1, 1_700_000_001, &Card::new(name)).unwrap()
    }

    fn give(from: &Identity, to: &Identity, at: u64) -> MeetingRecord {
        let mut envelope = b"give:".to_vec();
        envelope.extend_from_slice(&from.public().0);
        envelope.extend_from_slice(&at.to_le_bytes());
        MeetingRecord {
            envelope,
            from: from.public(),
            to: to.public(),
            at,
            event: None,
            via: "swap".into(),
        }
    }

    #[test]
    fn holders_are_contacts_i_gave_to_minus_the_revoked() {
        let (_d, store) = tmp();
        let (me, ada, bob, cy) = (person(1), person(2), person(3), person(4));
        for (p, name) in [(&ada, "Ada"), (&bob, "Bob"), (&cy, "Cy")] {
            store.put_signed(&signed(p, name), "swap").unwrap();
        }
        // I gave to Ada and Bob; Cy only gave to me.
        store
            .add_meeting(ada.public(), &give(&me, &ada, 10))
            .unwrap();
        store
            .add_meeting(bob.public(), &give(&me, &bob, 11))
            .unwrap();
        store.add_meeting(cy.public(), &give(&cy, &me, 12)).unwrap();
        let p = store.consent_peers(&me.public()).unwrap();
        let mut holders = p.holders.clone();
        holders.sort_by_key(|k| k.0);
        let mut expected = vec![ada.public(), bob.public()];
        expected.sort_by_key(|k| k.0);
        assert_eq!(holders, expected);
        assert_eq!(p.contacts.len(), 3);
        assert!(p.revoked.is_empty());

        assert_eq!(
            store.revoke(&ContactRef::Key(ada.public())).unwrap(),
            Some(ada.public())
        );
        let p = store.consent_peers(&me.public()).unwrap();
        assert_eq!(p.holders, vec![bob.public()]);
        assert_eq!(p.revoked, vec![ada.public()]);
        assert!(store.is_revoked(&ada.public()).unwrap());

        // Removing a contact revokes it too, and it stays revoked without the contact row.
        assert!(store.remove(&ContactRef::Key(bob.public())).unwrap());
        let p = store.consent_peers(&me.public()).unwrap();
        assert!(p.holders.is_empty());
        assert!(p.revoked.contains(&bob.public()));

        // Accepting a card from the inbox is choosing to give mine: the revocation lifts.
        let id = store
            .inbox_add(&signed(&bob, "Bob"), &give(&bob, &me, 20), 21, &[])
            .unwrap();
        assert_eq!(
            store.consent_peers(&me.public()).unwrap().pending,
            vec![bob.public()]
        );
        store.inbox_take(id).unwrap();
        assert!(!store.is_revoked(&bob.public()).unwrap());
        // ... and makes Bob a holder at once, before my card reached him: his next give is
        // answered without asking again.
        assert_eq!(
            store.consent_peers(&me.public()).unwrap().holders,
            vec![bob.public()]
        );
        // Revoking him again ends that.
        store.revoke(&ContactRef::Key(bob.public())).unwrap();
        assert!(store
            .consent_peers(&me.public())
            .unwrap()
            .holders
            .is_empty());
    }

    #[test]
    fn teaser_is_off_until_chosen() {
        let (_d, store) = tmp();
        assert_eq!(store.teaser().unwrap(), TeaserChoice::Off);
        store.set_teaser(TeaserChoice::Headline).unwrap();
        assert_eq!(store.teaser().unwrap(), TeaserChoice::Headline);
        store.set_teaser(TeaserChoice::Name).unwrap();
        assert_eq!(store.teaser().unwrap(), TeaserChoice::Name);
        assert!("loud".parse::<TeaserChoice>().is_err());
    }

    #[test]
    fn inbox_keeps_addresses_expires_and_declines_all() {
        let (_d, store) = tmp();
        let (me, ada, bob) = (person(1), person(2), person(3));
        let addrs = vec![
            "/ip4/192.0.2.7/tcp/4001".to_owned(),
            "bad\naddress".to_owned(),
            "x".repeat(600),
        ];
        let a = store
            .inbox_add(&signed(&ada, "Ada"), &give(&ada, &me, 100), 100, &addrs)
            .unwrap();
        store
            .inbox_add(&signed(&bob, "Bob"), &give(&bob, &me, 5_000), 5_000, &[])
            .unwrap();
        let item = store.inbox_get(a).unwrap().unwrap();
        assert_eq!(item.addrs, vec!["/ip4/192.0.2.7/tcp/4001".to_owned()]);
        // Ada's item is older than the cut: forgotten; Bob's stays.
        assert_eq!(store.inbox_expire(1_000).unwrap(), 1);
        let left = store.inbox_list().unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].card.card().name, "Bob");
        assert_eq!(store.inbox_decline_all().unwrap(), 1);
        assert!(store.inbox_list().unwrap().is_empty());
    }
}
