use std::os::unix::fs::PermissionsExt;

use meishi_card::{Card, Identity, SignedCard};

use super::*;

fn tmp() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("contacts.db")).unwrap();
    (dir, store)
}

fn person(n: u8) -> Identity {
    Identity::from_seed(&[n; 32])
}

fn signed(id: &Identity, seq: u64, name: &str) -> SignedCard {
    let mut card = Card::new(name);
    card.org = Some("Analytical Engines".into());
    card.title = Some("Engineer".into());
    SignedCard::sign(id, seq, 1_700_000_000u64.saturating_add(seq), &card).unwrap()
}

/// Everything observable about the contact book, to show an operation changed nothing.
fn snapshot(store: &Store) -> (Vec<ContactSummary>, Vec<Option<Contact>>, usize) {
    let list = store.list().unwrap();
    let full = list
        .iter()
        .map(|s| store.get(&ContactRef::Id(s.id)).unwrap())
        .collect();
    (list, full, store.equivocations().unwrap().len())
}

#[test]
fn added_unchanged_updated() {
    let (_d, store) = tmp();
    let ada = person(1);
    let v1 = signed(&ada, 1, "Ada");
    let v2 = signed(&ada, 2, "Ada Lovelace");
    assert_eq!(store.put_signed(&v1, "qr").unwrap(), PutOutcome::Added);
    assert_eq!(
        store.put_signed(&v1, "swap").unwrap(),
        PutOutcome::Unchanged
    );
    assert_eq!(
        store.put_signed(&v2, "swap").unwrap(),
        PutOutcome::Updated {
            old_seq: 1,
            new_seq: 2
        }
    );
    let list = store.list().unwrap();
    assert_eq!(list.len(), 1);
    let s = &list[0];
    assert_eq!(
        (s.name.as_str(), s.verified, s.seq, s.key),
        ("Ada Lovelace", true, Some(2), Some(ada.public()))
    );
    assert_eq!(s.org.as_deref(), Some("Analytical Engines"));
    assert_eq!(s.title.as_deref(), Some("Engineer"));
    let c = store.get(&ContactRef::Id(s.id)).unwrap().unwrap();
    assert_eq!(c.history, vec![1, 2]);
    assert_eq!(c.via, "swap");
    assert_eq!(c.signed.as_ref().unwrap().as_bytes(), v2.as_bytes());
    let hist = store.history(s.id).unwrap();
    assert_eq!(
        hist.iter()
            .map(|c| c.as_bytes().to_vec())
            .collect::<Vec<_>>(),
        vec![v1.as_bytes(), v2.as_bytes()]
    );
}

#[test]
fn replay_of_an_older_seq_is_refused_and_changes_nothing() {
    let (_d, store) = tmp();
    let ada = person(1);
    let v1 = signed(&ada, 1, "Ada");
    let v5 = signed(&ada, 5, "Ada v5");
    store.put_signed(&v1, "qr").unwrap();
    store.put_signed(&v5, "qr").unwrap();
    let before = snapshot(&store);
    assert_eq!(
        store.put_signed(&v1, "swap").unwrap(),
        PutOutcome::Older {
            stored_seq: 5,
            incoming_seq: 1
        }
    );
    // An older seq never seen before is refused too, and not added to the history.
    let v3 = signed(&ada, 3, "Ada v3");
    assert_eq!(
        store.put_signed(&v3, "swap").unwrap(),
        PutOutcome::Older {
            stored_seq: 5,
            incoming_seq: 3
        }
    );
    assert_eq!(snapshot(&store), before);
}

#[test]
fn equivocation_is_recorded_and_the_stored_card_kept() {
    let (_d, store) = tmp();
    let ada = person(1);
    let a = signed(&ada, 7, "Ada");
    let b = signed(&ada, 7, "Not Ada");
    store.put_signed(&a, "qr").unwrap();
    let before = snapshot(&store);
    assert_eq!(
        store.put_signed(&b, "swap").unwrap(),
        PutOutcome::Equivocation { seq: 7 }
    );
    // Recording the same evidence twice keeps one record.
    assert_eq!(
        store.put_signed(&b, "swap").unwrap(),
        PutOutcome::Equivocation { seq: 7 }
    );
    let (list, full, _) = snapshot(&store);
    assert_eq!((list, full), (before.0, before.1));
    let ev = store.equivocations().unwrap();
    assert_eq!(ev.len(), 1);
    assert_eq!(
        (ev[0].key, ev[0].seq, ev[0].via.as_str()),
        (ada.public(), 7, "swap")
    );
    assert_eq!(ev[0].stored, a.as_bytes());
    assert_eq!(ev[0].incoming, b.as_bytes());
    // The evidence verifies: both are genuine signatures of the same key and seq.
    let (x, y) = (
        SignedCard::decode(&ev[0].stored).unwrap(),
        SignedCard::decode(&ev[0].incoming).unwrap(),
    );
    assert_eq!(x.compare(&y), meishi_card::Replacement::Equivocation);
}

#[test]
fn an_older_seq_conflicting_with_history_is_equivocation() {
    let (_d, store) = tmp();
    let ada = person(1);
    store.put_signed(&signed(&ada, 1, "Ada"), "qr").unwrap();
    store.put_signed(&signed(&ada, 2, "Ada"), "qr").unwrap();
    let before = snapshot(&store).0;
    let forged = signed(&ada, 1, "Other Ada");
    assert_eq!(
        store.put_signed(&forged, "swap").unwrap(),
        PutOutcome::Equivocation { seq: 1 }
    );
    assert_eq!(store.list().unwrap(), before);
    assert_eq!(store.equivocations().unwrap().len(), 1);
}

#[test]
fn a_signed_card_merges_into_the_unverified_contact_with_its_key_only() {
    let (_d, store) = tmp();
    let ada = person(1);
    let mut vcard = Card::new("Ada (from vCard)");
    vcard.emails = vec!["ada@example.org".into()];
    assert_eq!(
        store
            .put_unverified(&vcard, Some(ada.public()), "import")
            .unwrap(),
        PutOutcome::Added
    );
    // A keyless contact with the same name as the signed card must stay separate.
    let same_name = Card::new("Ada");
    assert_eq!(
        store.put_unverified(&same_name, None, "import").unwrap(),
        PutOutcome::Added
    );
    let list = store.list().unwrap();
    let keyed = list.iter().find(|s| s.key.is_some()).unwrap().clone();
    assert!(!keyed.verified && keyed.seq.is_none());

    let v1 = signed(&ada, 1, "Ada");
    assert_eq!(
        store.put_signed(&v1, "swap").unwrap(),
        PutOutcome::Merged { seq: 1 }
    );
    let list = store.list().unwrap();
    assert_eq!(list.len(), 2);
    let merged = list.iter().find(|s| s.key == Some(ada.public())).unwrap();
    assert_eq!(
        merged.id, keyed.id,
        "the contact keeps its id (and so its notes and tags)"
    );
    assert!(merged.verified);
    assert_eq!(merged.name, "Ada");
    assert_eq!(merged.added_at, keyed.added_at);
    let other = list.iter().find(|s| s.key.is_none()).unwrap();
    assert!(!other.verified);
    assert_eq!(other.name, "Ada");
    // The vCard no longer overwrites the verified contact.
    assert_eq!(
        store
            .put_unverified(&vcard, Some(ada.public()), "import")
            .unwrap(),
        PutOutcome::Unchanged
    );
    let c = store.get(&ContactRef::Key(ada.public())).unwrap().unwrap();
    assert_eq!(c.card, *v1.card());
}

#[test]
fn unverified_imports_are_deduplicated() {
    let (_d, store) = tmp();
    let mut card = Card::new("Grace Hopper");
    card.phones = vec!["+1 555 0100".into()];
    assert_eq!(
        store.put_unverified(&card, None, "import").unwrap(),
        PutOutcome::Added
    );
    assert_eq!(
        store.put_unverified(&card, None, "import").unwrap(),
        PutOutcome::Unchanged
    );
    let mut changed = card.clone();
    changed.org = Some("Navy".into());
    // Without a key there is no identity to match: a different card is another contact.
    assert_eq!(
        store.put_unverified(&changed, None, "import").unwrap(),
        PutOutcome::Added
    );
    assert_eq!(store.list().unwrap().len(), 2);

    let key = person(9).public();
    assert_eq!(
        store.put_unverified(&card, Some(key), "import").unwrap(),
        PutOutcome::Added
    );
    assert_eq!(
        store.put_unverified(&card, Some(key), "import").unwrap(),
        PutOutcome::Unchanged
    );
    assert_eq!(
        store.put_unverified(&changed, Some(key), "import").unwrap(),
        PutOutcome::UnverifiedUpdated
    );
    assert_eq!(store.list().unwrap().len(), 3);
    let c = store.get(&ContactRef::Key(key)).unwrap().unwrap();
    assert_eq!(c.card, changed);
    assert!(c.signed.is_none() && c.history.is_empty() && !c.summary.verified);
}

#[test]
fn an_invalid_card_is_refused() {
    let (_d, store) = tmp();
    let err = store
        .put_unverified(&Card::new("  "), None, "import")
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidCard(_)), "{err:?}");
    let err = store.put_unverified(&Card::new("A"), None, "").unwrap_err();
    assert!(matches!(err, StoreError::Empty { what: "via" }), "{err:?}");
    assert!(store.list().unwrap().is_empty());
}

#[test]
fn put_all_stores_everything_or_nothing() {
    let (_d, mut store) = tmp();
    let (a, b) = (signed(&person(1), 1, "A"), signed(&person(2), 1, "B"));
    let c = Card::new("C");
    let bad = Card::new("");
    let err = store
        .put_all(
            &[
                Import::Signed(&a),
                Import::Unverified {
                    card: &c,
                    key: None,
                },
                Import::Unverified {
                    card: &bad,
                    key: None,
                },
            ],
            "import",
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidCard(_)), "{err:?}");
    assert!(
        store.list().unwrap().is_empty(),
        "nothing may be stored when one item is bad"
    );

    let out = store
        .put_all(
            &[
                Import::Signed(&a),
                Import::Signed(&b),
                Import::Unverified {
                    card: &c,
                    key: None,
                },
                Import::Signed(&a),
            ],
            "import",
        )
        .unwrap();
    assert_eq!(
        out,
        vec![
            PutOutcome::Added,
            PutOutcome::Added,
            PutOutcome::Added,
            PutOutcome::Unchanged
        ]
    );
    assert_eq!(store.list().unwrap().len(), 3);

    // The closure form: an error from the caller rolls back too.
    let r: Result<()> = store.transaction(|tx| {
        tx.put_signed(&signed(&person(3), 1, "D"), "import")?;
        assert!(tx
            .get(&ContactRef::Key(person(3).public()))
            .unwrap()
            .is_some());
        Err(StoreError::Empty { what: "test" })
    });
    assert!(r.is_err());
    assert!(store
        .get(&ContactRef::Key(person(3).public()))
        .unwrap()
        .is_none());
}

#[test]
fn own_card_only_moves_forward() {
    let (_d, store) = tmp();
    let me = person(1);
    assert!(store.own_card().unwrap().is_none());
    store.set_own_card(&signed(&me, 1, "Me")).unwrap();
    store.set_own_card(&signed(&me, 2, "Me too")).unwrap();
    let err = store.set_own_card(&signed(&me, 2, "Me again")).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::StaleOwnCard {
                stored: 2,
                given: 2
            }
        ),
        "{err:?}"
    );
    assert!(matches!(
        store.set_own_card(&signed(&me, 1, "Me")),
        Err(StoreError::StaleOwnCard { .. })
    ));
    assert!(matches!(
        store.set_own_card(&signed(&person(2), 9, "X")),
        Err(StoreError::OwnKeyChanged)
    ));
    let own = store.own_card().unwrap().unwrap();
    assert_eq!((own.seq(), own.card().name.as_str()), (2, "Me too"));
    // My own card never becomes a contact.
    assert!(matches!(
        store.put_signed(&signed(&me, 3, "Me"), "swap"),
        Err(StoreError::OwnCard)
    ));
    assert!(matches!(
        store.put_unverified(&Card::new("Me"), Some(me.public()), "import"),
        Err(StoreError::OwnCard)
    ));
    assert!(store.list().unwrap().is_empty());
}

#[test]
fn database_files_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("contacts.db");
    let store = Store::open(&path).unwrap();
    store.put_signed(&signed(&person(1), 1, "A"), "qr").unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let p = dir.path().join(format!("contacts.db{suffix}"));
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", p.display());
    }
    drop(store);
    // A file made readable by someone else is tightened again on open.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let _store = Store::open(&path).unwrap();
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn pragmas_are_set() {
    let (_d, store) = tmp();
    let get = |p: &str| -> String {
        store
            .conn
            .query_row(&format!("PRAGMA {p}"), [], |r| {
                r.get::<_, rusqlite::types::Value>(0)
            })
            .map(|v| format!("{v:?}"))
            .unwrap()
    };
    assert_eq!(get("journal_mode"), "Text(\"wal\")");
    assert_eq!(get("synchronous"), "Integer(2)"); // FULL
    assert_eq!(get("foreign_keys"), "Integer(1)");
    assert_eq!(get("user_version"), format!("Integer({SCHEMA_VERSION})"));
}

#[test]
fn reopening_migrates_idempotently_and_keeps_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("contacts.db");
    let v1 = signed(&person(1), 1, "A");
    {
        let store = Store::open(&path).unwrap();
        store.put_signed(&v1, "qr").unwrap();
    }
    for _ in 0..3 {
        let store = Store::open(&path).unwrap();
        let v: u32 = store
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        let c = store
            .get(&ContactRef::Key(person(1).public()))
            .unwrap()
            .unwrap();
        assert_eq!(c.signed.unwrap().as_bytes(), v1.as_bytes());
    }
    // Two handles at once (the CLI beside `meishi up`) both work.
    let a = Store::open(&path).unwrap();
    let b = Store::open(&path).unwrap();
    a.put_signed(&signed(&person(2), 1, "B"), "qr").unwrap();
    assert_eq!(b.list().unwrap().len(), 2);
}

#[test]
fn a_newer_schema_is_refused_with_advice() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("contacts.db");
    drop(Store::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    drop(conn);
    let err = Store::open(&path).unwrap_err();
    assert!(
        matches!(err, StoreError::NewerSchema { found, supported } if found == SCHEMA_VERSION + 1 && supported == SCHEMA_VERSION)
    );
    assert!(err.to_string().contains("update meishi"), "{err}");
}

#[test]
fn a_file_that_is_not_a_database_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("contacts.db");
    std::fs::write(&path, vec![0x5a; 8192]).unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::NotADatabase { .. }), "{err:?}");
}

#[test]
fn stored_bytes_reverify_and_a_damaged_row_is_reported() {
    let (_d, store) = tmp();
    let ada = person(1);
    let v1 = signed(&ada, 1, "Ada");
    store.put_signed(&v1, "qr").unwrap();
    let id = store.list().unwrap()[0].id;
    let c = store.get(&ContactRef::Id(id)).unwrap().unwrap();
    assert_eq!(
        SignedCard::decode(c.signed.as_ref().unwrap().as_bytes()).unwrap(),
        v1
    );
    assert!(store.verify_all().unwrap().is_empty());

    // Flip one bit of the stored signature.
    let mut bytes = v1.as_bytes().to_vec();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    store
        .conn
        .execute(
            "UPDATE contacts SET signed_bytes = ?1 WHERE id = ?2",
            rusqlite::params![bytes, id],
        )
        .unwrap();
    let err = store.get(&ContactRef::Id(id)).unwrap_err();
    assert!(
        matches!(err, StoreError::CardNoLongerVerifies { id: i, .. } if i == id),
        "{err:?}"
    );
    assert_eq!(store.verify_all().unwrap().len(), 1);
    // A new card is not silently compared against a card that does not verify.
    assert!(matches!(
        store.put_signed(&signed(&ada, 2, "Ada"), "qr"),
        Err(StoreError::CardNoLongerVerifies { .. })
    ));
}

#[test]
fn seqs_above_i64_max_round_trip() {
    let (_d, store) = tmp();
    let ada = person(1);
    let big = signed(&ada, u64::MAX - 1, "Ada");
    store.put_signed(&signed(&ada, 5, "Ada"), "qr").unwrap();
    assert_eq!(
        store.put_signed(&big, "qr").unwrap(),
        PutOutcome::Updated {
            old_seq: 5,
            new_seq: u64::MAX - 1
        }
    );
    assert_eq!(
        store.put_signed(&signed(&ada, 6, "Ada"), "qr").unwrap(),
        PutOutcome::Older {
            stored_seq: u64::MAX - 1,
            incoming_seq: 6
        }
    );
    let c = store.get(&ContactRef::Key(ada.public())).unwrap().unwrap();
    assert_eq!(c.history, vec![5, u64::MAX - 1]);
    assert_eq!(c.summary.seq, Some(u64::MAX - 1));
}

#[test]
fn contact_refs() {
    let (_d, store) = tmp();
    let (a, b) = (person(1), person(2));
    store.put_signed(&signed(&a, 1, "A"), "qr").unwrap();
    store.put_signed(&signed(&b, 1, "B"), "qr").unwrap();
    let pid = a.public().peer_id();
    let id_a = store
        .get(&ContactRef::parse(&pid).unwrap())
        .unwrap()
        .unwrap()
        .summary
        .id;
    assert_eq!(
        ContactRef::parse(&id_a.to_string()).unwrap(),
        ContactRef::Id(id_a)
    );
    assert_eq!(
        ContactRef::parse(&format!(" {pid} ")).unwrap(),
        ContactRef::Key(a.public())
    );
    // A unique prefix: the part after the common `12D3KooW`.
    let n = (MIN_PREFIX..pid.len())
        .find(|n| !b.public().peer_id().starts_with(&pid[..*n]))
        .unwrap();
    let r = ContactRef::parse(&pid[..n]).unwrap();
    assert_eq!(r, ContactRef::PeerIdPrefix(pid[..n].to_owned()));
    assert_eq!(
        store.get(&r).unwrap().unwrap().summary.key,
        Some(a.public())
    );
    // Every ed25519 peer id starts with 12D3KooW, so this prefix matches both.
    let err = store
        .get(&ContactRef::parse("12D3KooW").unwrap())
        .unwrap_err();
    assert!(
        matches!(err, StoreError::AmbiguousRef { matches: 2, .. }),
        "{err:?}"
    );
    // Case matters in base58.
    let lower = pid[..n].to_ascii_lowercase();
    if lower != pid[..n] {
        assert!(store
            .get(&ContactRef::parse(&lower).unwrap())
            .unwrap()
            .is_none());
    }
    for bad in [
        "",
        "12D3K",
        "12D3KooW!",
        "0OIl00x",
        &"1".repeat(100),
        "-5",
        "99999999999999999999999",
    ] {
        assert!(ContactRef::parse(bad).is_err(), "{bad:?}");
    }
    assert!(store.get(&ContactRef::Id(999)).unwrap().is_none());
    assert!(store
        .get(&ContactRef::Key(person(3).public()))
        .unwrap()
        .is_none());
}

#[test]
fn a_locked_database_gives_an_actionable_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("contacts.db");
    let mut store = Store::open(&path).unwrap();
    store
        .conn
        .busy_timeout(std::time::Duration::from_millis(20))
        .unwrap();
    let other = rusqlite::Connection::open(&path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let err = store
        .put_signed(&signed(&person(1), 1, "A"), "qr")
        .unwrap_err();
    assert!(matches!(err, StoreError::Busy(_)), "{err:?}");
    assert!(err.to_string().contains("another meishi process"), "{err}");
    other.execute_batch("COMMIT").unwrap();
    assert_eq!(
        store.put_signed(&signed(&person(1), 1, "A"), "qr").unwrap(),
        PutOutcome::Added
    );
    let _ = &mut store;
}

#[test]
fn rusqlite_bundles_fts5() {
    let (_d, store) = tmp();
    store
        .conn
        .execute_batch(
            "CREATE VIRTUAL TABLE temp.t USING fts5(x); INSERT INTO temp.t VALUES ('hello world');",
        )
        .unwrap();
    let n: i64 = store
        .conn
        .query_row(
            "SELECT count(*) FROM temp.t WHERE t MATCH 'hello'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 1);
}
