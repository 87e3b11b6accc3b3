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
        "12D3K0Ol",
        &"1".repeat(100),
        "99999999999999999999999",
        "\u{200B}",
        "a\nb",
    ] {
        assert!(ContactRef::parse(bad).is_err(), "{bad:?}");
    }
    // Anything else is a name; it may match nobody.
    for name in ["0OIl00x", "-5"] {
        let r = ContactRef::parse(name).unwrap();
        assert_eq!(r, ContactRef::Name(name.into()));
        assert!(store.get(&r).unwrap().is_none());
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

// ---- issue 4: meetings, notes, tags, follow-up, search, inbox ----

fn meeting(from: &Identity, to: &Identity, at: u64, event: Option<&str>) -> MeetingRecord {
    // The envelope is opaque to the store; any distinct bytes stand in for a signed one here.
    let mut envelope = b"give-envelope:".to_vec();
    envelope.extend_from_slice(&from.public().0);
    envelope.extend_from_slice(&at.to_le_bytes());
    MeetingRecord {
        envelope,
        from: from.public(),
        to: to.public(),
        at,
        event: event.map(Into::into),
        via: "swap".into(),
    }
}

#[test]
fn meetings_are_recorded_once_and_listed_by_time() {
    let (_d, store) = tmp();
    let (me, ada) = (person(1), person(2));
    let who = ContactRef::Key(ada.public());
    let m1 = meeting(&ada, &me, 2_000, Some("RustConf"));
    // The contact must exist first.
    assert!(matches!(
        store.add_meeting(ada.public(), &m1),
        Err(StoreError::NoSuchContact(_))
    ));
    store.put_signed(&signed(&ada, 1, "Ada"), "swap").unwrap();
    assert!(store.add_meeting(ada.public(), &m1).unwrap());
    assert!(
        !store.add_meeting(ada.public(), &m1).unwrap(),
        "the same envelope is recorded once"
    );
    let m0 = meeting(&me, &ada, 1_000, None); // my give to her counts too
    assert!(store.add_meeting(ada.public(), &m0).unwrap());
    let c = store.get(&who).unwrap().unwrap();
    assert_eq!(
        c.meetings
            .iter()
            .map(|m| m.record.clone())
            .collect::<Vec<_>>(),
        vec![m0, m1.clone()]
    );

    let stranger = person(3);
    let err = store
        .add_meeting(ada.public(), &meeting(&stranger, &me, 5, None))
        .unwrap_err();
    assert!(matches!(err, StoreError::MeetingNotWithContact), "{err:?}");
    let mut big = m1.clone();
    big.envelope = vec![0; MAX_ENVELOPE + 1];
    assert!(matches!(
        store.add_meeting(ada.public(), &big),
        Err(StoreError::TooLong { .. })
    ));
    let mut bad_event = m1;
    bad_event.envelope.push(1);
    bad_event.event = Some("a\u{1b}[2J".into());
    assert!(matches!(
        store.add_meeting(ada.public(), &bad_event),
        Err(StoreError::ControlCharacter { .. })
    ));
    assert_eq!(store.get(&who).unwrap().unwrap().meetings.len(), 2);
}

#[test]
fn notes_tags_and_follow_up() {
    let (_d, store) = tmp();
    store
        .put_signed(&signed(&person(2), 1, "Ada"), "swap")
        .unwrap();
    let who = ContactRef::Key(person(2).public());
    let n1 = store
        .add_note(&who, "  talked about engines\nsend the paper ")
        .unwrap();
    let n2 = store.add_note(&who, "second").unwrap();
    assert!(n2 > n1);
    assert!(matches!(
        store.add_note(&who, "   "),
        Err(StoreError::Empty { .. })
    ));
    assert!(matches!(
        store.add_note(&who, &"x".repeat(MAX_NOTE_TEXT + 1)),
        Err(StoreError::TooLong { .. })
    ));
    assert!(matches!(
        store.add_note(&who, "bell\u{7}"),
        Err(StoreError::ControlCharacter { .. })
    ));
    assert!(matches!(
        store.add_note(&ContactRef::Id(99), "x"),
        Err(StoreError::NoSuchContact(_))
    ));

    assert_eq!(normalize_tag("  #Rust  Lang ").unwrap(), "rust-lang");
    assert_eq!(normalize_tag("ÉCOLE").unwrap(), "école");
    assert!(normalize_tag(" # ").is_err());
    assert!(normalize_tag(&"t".repeat(MAX_TAG_LEN + 1)).is_err());
    assert!(store.add_tag(&who, "Rust Lang").unwrap());
    assert!(
        !store.add_tag(&who, "#rust-lang").unwrap(),
        "normalized duplicates are one tag"
    );
    assert!(store.add_tag(&who, "investor").unwrap());
    assert!(store.remove_tag(&who, "INVESTOR").unwrap());
    assert!(!store.remove_tag(&who, "investor").unwrap());
    for i in 0..MAX_TAGS - 1 {
        store.add_tag(&who, &format!("t{i}")).unwrap();
    }
    assert!(matches!(
        store.add_tag(&who, "one-too-many"),
        Err(StoreError::TooMany { .. })
    ));

    for good in ["2026-03-14", "2024-02-29", "2000-02-29", "9999-12-31"] {
        assert!(check_date(good).is_ok(), "{good}");
    }
    for bad in [
        "2026-02-29",
        "1900-02-29",
        "2026-13-01",
        "2026-00-10",
        "2026-04-31",
        "2026-1-01",
        "26-01-01x",
        "",
        "2026-01-1a",
        "+026-01-01",
        "0999-01-01",
    ] {
        assert!(
            matches!(check_date(bad), Err(StoreError::BadDate(_))),
            "{bad}"
        );
    }
    store.set_follow_up(&who, Some("2026-03-14")).unwrap();
    assert!(matches!(
        store.set_follow_up(&who, Some("tomorrow")),
        Err(StoreError::BadDate(_))
    ));
    store
        .put_signed(&signed(&person(3), 1, "Bob"), "swap")
        .unwrap();
    store
        .set_follow_up(&ContactRef::Key(person(3).public()), Some("2026-01-02"))
        .unwrap();
    let due: Vec<_> = store
        .follow_ups(None)
        .unwrap()
        .into_iter()
        .map(|(s, d)| (s.name, d))
        .collect();
    assert_eq!(
        due,
        vec![
            ("Bob".to_owned(), "2026-01-02".to_owned()),
            ("Ada".to_owned(), "2026-03-14".to_owned())
        ]
    );
    assert_eq!(store.follow_ups(Some("2026-02-01")).unwrap().len(), 1);

    let c = store.get(&who).unwrap().unwrap();
    assert_eq!(
        c.notes.iter().map(|n| n.text.as_str()).collect::<Vec<_>>(),
        ["talked about engines\nsend the paper", "second"]
    );
    assert!(c.notes.iter().all(|n| n.created_at > 0));
    assert_eq!(c.tags.len(), MAX_TAGS);
    assert!(c.tags.contains(&"rust-lang".to_owned()));
    assert_eq!(c.follow_up.as_deref(), Some("2026-03-14"));
    store.set_follow_up(&who, None).unwrap();
    assert_eq!(store.get(&who).unwrap().unwrap().follow_up, None);
}

fn names(v: Vec<ContactSummary>) -> Vec<String> {
    let mut n: Vec<String> = v.into_iter().map(|s| s.name).collect();
    n.sort();
    n
}

#[test]
fn search_covers_name_org_title_notes_and_tags() {
    let (_d, store) = tmp();
    let mut card = Card::new("José Müller");
    card.org = Some("Analytical Engines".into());
    card.title = Some("Chief Engineer".into());
    card.note = Some("Builds difference engines".into());
    card.tags = vec!["steampunk".into()];
    store
        .put_signed(&SignedCard::sign(&person(2), 1, 1, &card).unwrap(), "swap")
        .unwrap();
    store
        .put_signed(&signed(&person(3), 1, "Grace Hopper"), "swap")
        .unwrap();
    store
        .put_unverified(&Card::new("Alan Turing"), None, "import")
        .unwrap();
    let grace = ContactRef::Key(person(3).public());
    store
        .add_note(&grace, "met at the compiler workshop")
        .unwrap();
    store.add_tag(&grace, "Navy").unwrap();

    let check = |q: &str, expected: &[&str]| {
        assert_eq!(names(store.search(q).unwrap()), expected, "query {q:?}")
    };
    check("jose", &["José Müller"]); // accents folded
    check("MÜLL", &["José Müller"]); // prefix, case-insensitive
    check("analytical", &["Grace Hopper", "José Müller"]); // both orgs
    check("chief", &["José Müller"]);
    check("difference", &["José Müller"]); // card headline
    check("steampunk", &["José Müller"]); // card interests
    check("compiler", &["Grace Hopper"]); // user note
    check("navy", &["Grace Hopper"]); // user tag
    check("turing", &["Alan Turing"]); // unverified contacts too
    check("engine", &["Grace Hopper", "José Müller"]); // "Engineer" (title) and "engines"
    check("engine grace", &["Grace Hopper"]); // every term must match
    check("nobody", &[]);
    check("", &[]);

    // User text is never FTS syntax.
    for hostile in [
        "\"",
        "\"\"\"",
        "AND",
        "OR",
        "NOT",
        "grace OR",
        "NEAR(grace",
        "*",
        "^grace",
        "name:grace",
        "(grace",
        "-grace",
        "grace)",
        "{name}: x",
        "'",
        "\\",
        "🦀",
        "gr\"ace",
        "a:b:c",
        "NEAR/3",
        "+",
        "$",
        ";DROP TABLE contacts;--",
    ] {
        let r = store.search(hostile);
        assert!(r.is_ok(), "{hostile:?}: {r:?}");
    }
    check("(grace)", &["Grace Hopper"]);
    check("name:grace", &[]); // one phrase "name grace": no such words
    assert!(matches!(
        store.search(&"a".repeat(MAX_QUERY + 1)),
        Err(StoreError::TooLong { .. })
    ));
    assert!(matches!(
        store.search(&"a ".repeat(MAX_QUERY_TERMS + 1)),
        Err(StoreError::TooMany { .. })
    ));

    // The index follows changes: a newer card, a removed tag, a merge.
    store
        .put_signed(&signed(&person(3), 2, "Grace Brewster Hopper"), "swap")
        .unwrap();
    check("brewster", &["Grace Brewster Hopper"]);
    store.remove_tag(&grace, "navy").unwrap();
    check("navy", &[]);
    store
        .put_unverified(&Card::new("Ada vCard"), Some(person(4).public()), "import")
        .unwrap();
    check("vcard", &["Ada vCard"]);
    store
        .put_signed(&signed(&person(4), 1, "Ada Lovelace"), "swap")
        .unwrap();
    check("vcard", &[]);
    check("lovelace", &["Ada Lovelace"]);
}

#[test]
fn upgrading_a_version_1_book_indexes_existing_contacts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("contacts.db");
    {
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        let tx = conn.transaction().unwrap();
        tx.execute_batch(schema::MIGRATIONS[0]).unwrap();
        tx.pragma_update(None, "user_version", 1).unwrap();
        tx.commit().unwrap();
    }
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        let json = serde_json::to_string(&Card::new("Old Friend")).unwrap();
        conn.execute(
            "INSERT INTO contacts (verified, card_json, content_hash, name, via, added_at, updated_at)
             VALUES (0, ?1, x'00', 'Old Friend', 'import', 1, 1)",
            [json],
        )
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(names(store.search("friend").unwrap()), ["Old Friend"]);
    let c = store.get(&ContactRef::Id(1)).unwrap().unwrap();
    assert!(
        c.notes.is_empty() && c.tags.is_empty() && c.meetings.is_empty() && c.follow_up.is_none()
    );
}

#[test]
fn inbox_accept_decline_and_answer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("contacts.db");
    // Two processes: the node (`meishi up`) and the CLI (`meishi accept`).
    let node = Store::open(&path).unwrap();
    let cli = Store::open(&path).unwrap();
    let (me, ada, bob) = (person(1), person(2), person(3));
    node.set_own_card(&signed(&me, 1, "Me")).unwrap();

    let ada1 = signed(&ada, 1, "Ada");
    let m_ada = meeting(&ada, &me, 100, Some("RustConf"));
    let id_ada = node.inbox_add(&ada1, &m_ada, 101, &[]).unwrap();
    // A repeated give from the same person updates the one pending item.
    let ada2 = signed(&ada, 2, "Ada L.");
    assert_eq!(node.inbox_add(&ada2, &m_ada, 102, &[]).unwrap(), id_ada);
    assert_eq!(
        node.inbox_add(&ada1, &m_ada, 103, &[]).unwrap(),
        id_ada,
        "an older card does not replace a newer one"
    );
    let id_bob = node
        .inbox_add(
            &signed(&bob, 1, "Bob"),
            &meeting(&bob, &me, 200, None),
            201,
            &[],
        )
        .unwrap();
    // A card that is not the giver's own is refused.
    let err = node
        .inbox_add(&signed(&bob, 1, "Bob"), &m_ada, 1, &[])
        .unwrap_err();
    assert!(matches!(err, StoreError::InboxCardNotFromGiver), "{err:?}");

    let pending = cli.inbox_list().unwrap();
    assert_eq!(
        pending.iter().map(|i| i.id).collect::<Vec<_>>(),
        [id_ada, id_bob]
    );
    assert_eq!(pending[0].card, ada2);
    assert_eq!(
        (pending[0].received_at, pending[0].status),
        (102, InboxStatus::Pending)
    );
    assert!(
        cli.list().unwrap().is_empty(),
        "nothing is a contact before a decision"
    );

    let version = node.data_version().unwrap();
    let (item, outcome) = cli.inbox_take(id_ada).unwrap();
    assert_eq!(
        (outcome, item.status),
        (PutOutcome::Added, InboxStatus::Accepted)
    );
    cli.inbox_decline(id_bob).unwrap();
    assert!(matches!(
        cli.inbox_take(id_ada),
        Err(StoreError::InboxAlreadyDecided {
            status: InboxStatus::Accepted,
            ..
        })
    ));
    assert!(matches!(
        cli.inbox_take(id_bob),
        Err(StoreError::InboxAlreadyDecided {
            status: InboxStatus::Declined,
            ..
        })
    ));
    assert!(matches!(
        cli.inbox_decline(999),
        Err(StoreError::NoSuchInboxItem(999))
    ));
    assert!(cli.inbox_list().unwrap().is_empty());

    // The node notices the other process's commit and answers the accepted give once.
    assert_ne!(node.data_version().unwrap(), version);
    let todo = node.inbox_accepted().unwrap();
    assert_eq!(
        todo.iter()
            .map(|i| (i.id, i.meeting.from))
            .collect::<Vec<_>>(),
        [(id_ada, ada.public())]
    );
    node.inbox_mark_given_back(id_ada).unwrap();
    assert!(node.inbox_accepted().unwrap().is_empty());
    assert!(matches!(
        node.inbox_mark_given_back(id_ada),
        Err(StoreError::InboxAlreadyDecided { .. })
    ));
    assert_eq!(
        node.inbox_get(id_ada).unwrap().unwrap().status,
        InboxStatus::GivenBack
    );

    // Accepting stored the card and the meeting; declining stored nothing.
    let c = node.get(&ContactRef::Key(ada.public())).unwrap().unwrap();
    assert_eq!(c.signed.unwrap(), ada2);
    assert_eq!(c.meetings.len(), 1);
    assert_eq!(c.meetings[0].record.event.as_deref(), Some("RustConf"));
    assert!(node.get(&ContactRef::Key(bob.public())).unwrap().is_none());

    assert_eq!(node.inbox_purge(u64::MAX / 2).unwrap(), 2);
    assert!(node.inbox_get(id_ada).unwrap().is_none());
}

#[test]
fn the_inbox_is_bounded() {
    let (_d, store) = tmp();
    let me = person(1);
    let mut tx_store = store;
    tx_store
        .transaction(|tx| {
            for i in 0..MAX_PENDING as u64 {
                let mut seed = [0u8; 32];
                seed[..8].copy_from_slice(&(i + 1000).to_le_bytes());
                let giver = Identity::from_seed(&seed);
                contacts_inbox_add(tx, &signed(&giver, 1, "G"), &meeting(&giver, &me, i, None))?;
            }
            Ok(())
        })
        .unwrap();
    let extra = person(7);
    let err = tx_store
        .inbox_add(
            &signed(&extra, 1, "X"),
            &meeting(&extra, &me, 1, None),
            1,
            &[],
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::InboxFull { .. }), "{err:?}");
}

fn contacts_inbox_add(tx: &Tx<'_>, card: &SignedCard, m: &MeetingRecord) -> Result<i64> {
    inbox::add(&tx.tx, card, m, 1, &[])
}

#[test]
fn remove_deletes_everything_about_a_contact() {
    let (_d, store) = tmp();
    let (me, ada) = (person(1), person(2));
    let who = ContactRef::Key(ada.public());
    store.put_signed(&signed(&ada, 1, "Ada"), "swap").unwrap();
    store.put_signed(&signed(&ada, 2, "Ada"), "swap").unwrap();
    store
        .add_meeting(ada.public(), &meeting(&ada, &me, 1, None))
        .unwrap();
    store.add_note(&who, "note").unwrap();
    store.add_tag(&who, "tag").unwrap();
    store
        .put_signed(&signed(&ada, 2, "Evil Ada"), "swap")
        .unwrap();
    assert!(store.remove(&who).unwrap());
    assert!(!store.remove(&who).unwrap());
    assert!(store.get(&who).unwrap().is_none());
    assert!(store.search("ada").unwrap().is_empty());
    for table in ["card_history", "notes", "tags", "meetings", "contacts_fts"] {
        let n: i64 = store
            .conn
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0, "{table}");
    }
    assert_eq!(store.equivocations().unwrap().len(), 1, "evidence is kept");
    // Stored again from scratch afterwards.
    assert_eq!(
        store.put_signed(&signed(&ada, 1, "Ada"), "qr").unwrap(),
        PutOutcome::Added
    );
}

#[test]
fn random_user_text_never_breaks_search() {
    let (_d, store) = tmp();
    store
        .put_signed(&signed(&person(2), 1, "Grace Hopper"), "swap")
        .unwrap();
    let alphabet: Vec<char> =
        "\"'*^:()-+{}[]<>/\\.,;!?#@$%&|=~` \tNEARORANDNOTgrace0123éß🦀\u{202e}\u{0}"
            .chars()
            .collect();
    let mut state = 0x1234_5678_9abc_def0u64;
    for _ in 0..3000 {
        let mut q = String::new();
        for _ in 0..(state % 24) {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            q.push(alphabet[(state >> 33) as usize % alphabet.len()]);
        }
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        match store.search(&q) {
            Ok(_) | Err(StoreError::TooMany { .. }) => {}
            Err(e) => panic!("{q:?}: {e:?}"),
        }
    }
}

#[test]
fn two_writers_at_once_both_succeed() {
    // The CLI and a running `meishi up` write to one book; IMMEDIATE transactions plus the
    // busy timeout serialize them without errors.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("contacts.db");
    drop(Store::open(&path).unwrap());
    let writers: Vec<_> = (0..2u8)
        .map(|w| {
            let path = path.clone();
            std::thread::spawn(move || {
                let store = Store::open(&path).unwrap();
                for i in 0..40u8 {
                    let mut seed = [w; 32];
                    seed[1] = i;
                    let id = Identity::from_seed(&seed);
                    store.put_signed(&signed(&id, 1, "X"), "swap").unwrap();
                    store.add_tag(&ContactRef::Key(id.public()), "t").unwrap();
                    assert!(store.get(&ContactRef::Key(id.public())).unwrap().is_some());
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.list().unwrap().len(), 80);
    assert_eq!(store.search("t").unwrap().len(), 80);
}

#[test]
fn fold_name_ignores_case_spacing_and_invisible_characters() {
    fn check(input: &str, expected: &str) {
        assert_eq!(fold_name(input), expected, "input {input:?}");
    }
    check("Ada Lovelace", "ada lovelace");
    check("  ADA   lovelace\t", "ada lovelace");
    check("Ada\u{00A0}\u{3000}Lovelace", "ada lovelace");
    check("Ada\u{200B} Love\u{200D}lace\u{FEFF}", "ada lovelace");
    check(
        "\u{202E}Ada Lovelace\u{202C}\u{2066}\u{2069}",
        "ada lovelace",
    );
    check("Ada Love\u{00AD}lace\u{FE0F}", "ada lovelace");
    check("Ａｄａ Ｌｏｖｅｌａｃｅ", "ada lovelace");
    check("ZOË Ōkubo", "zoë ōkubo");
    check("\u{200B}\u{3164}", "");
    // Different letters stay different, including a Cyrillic look-alike (no confusables table).
    check("Ada Lovelace II", "ada lovelace ii");
    assert_ne!(fold_name("Аda Lovelace"), fold_name("Ada Lovelace"));
}

#[test]
fn lookalikes_share_a_folded_name_under_another_key() {
    let (_d, store) = tmp();
    let (ada, mallory, bob) = (person(1), person(2), person(3));
    store
        .put_signed(&signed(&ada, 1, "Ada Lovelace"), "qr")
        .unwrap();
    store
        .put_signed(&signed(&mallory, 1, " ada\u{200B}  LOVELACE"), "swap")
        .unwrap();
    store.put_signed(&signed(&bob, 1, "Bob"), "swap").unwrap();
    // A keyless vCard with the name, and two keyless vCards that share another name.
    store
        .put_unverified(&Card::new("Ada Lovelace"), None, "import")
        .unwrap();
    let mut carol = Card::new("Carol");
    store.put_unverified(&carol, None, "import").unwrap();
    carol.emails = vec!["carol@example.com".into()];
    store.put_unverified(&carol, None, "import").unwrap();
    let id = |k: &Identity| {
        store
            .resolve(&ContactRef::Key(k.public()))
            .unwrap()
            .unwrap()
    };
    let ids = |v: Vec<ContactSummary>| v.into_iter().map(|s| s.id).collect::<Vec<_>>();
    let (ada_id, mallory_id) = (id(&ada), id(&mallory));
    let vcard_id = store
        .list()
        .unwrap()
        .into_iter()
        .find(|s| s.name == "Ada Lovelace" && s.key.is_none())
        .unwrap()
        .id;

    // The card's own contact is never its own look-alike.
    assert_eq!(
        ids(store
            .lookalikes("Ada Lovelace", Some(ada.public()))
            .unwrap()),
        vec![mallory_id, vcard_id]
    );
    assert_eq!(
        ids(store
            .lookalikes("ADA LOVELACE", Some(mallory.public()))
            .unwrap()),
        vec![ada_id, vcard_id]
    );
    // A keyless card looks like every keyed contact of that name, not like other keyless ones.
    assert_eq!(
        ids(store.lookalikes("Ada Lovelace", None).unwrap()),
        vec![ada_id, mallory_id]
    );
    assert!(store.lookalikes("Carol", None).unwrap().is_empty());
    assert!(store
        .lookalikes("Bob", Some(bob.public()))
        .unwrap()
        .is_empty());
    // A key not yet stored: everyone of that name.
    assert_eq!(
        store
            .lookalikes("Bob", Some(person(9).public()))
            .unwrap()
            .len(),
        1
    );

    let all = store.lookalike_ids().unwrap();
    assert_eq!(
        all.into_iter().collect::<Vec<_>>(),
        vec![
            (ada_id, vec![mallory_id, vcard_id]),
            (mallory_id, vec![ada_id, vcard_id]),
            (vcard_id, vec![ada_id, mallory_id]),
        ]
    );

    // Mallory renames: the mark goes away for everyone.
    store
        .put_signed(&signed(&mallory, 2, "Mallory"), "swap")
        .unwrap();
    let all = store.lookalike_ids().unwrap();
    assert_eq!(all.get(&ada_id), Some(&vec![vcard_id]));
    assert_eq!(all.get(&mallory_id), None);
}

#[test]
fn a_contact_is_found_by_its_name_when_the_name_is_unique() {
    let (_d, store) = tmp();
    store
        .put_signed(&signed(&person(1), 1, "Ada Lovelace"), "qr")
        .unwrap();
    store
        .put_signed(&signed(&person(2), 1, "Bob"), "qr")
        .unwrap();
    let ada = store
        .get(&ContactRef::parse("  ada   LOVELACE ").unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(ada.card.name, "Ada Lovelace");
    assert!(store
        .get(&ContactRef::parse("alice").unwrap())
        .unwrap()
        .is_none());
    // A look-alike makes the name ambiguous: the error names both numbers.
    store
        .put_signed(&signed(&person(3), 1, "ada lovelace"), "qr")
        .unwrap();
    let err = store
        .get(&ContactRef::parse("Ada Lovelace").unwrap())
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::AmbiguousName { ids, .. } if ids.len() == 2),
        "{err:?}"
    );
    assert!(err.to_string().contains("give the number instead"), "{err}");
}

fn give_to_me(from: &Identity, name: &str, nonce: u8) -> meishi_card::envelope::Envelope {
    meishi_card::envelope::Envelope::sign(
        from,
        &signed(from, 1, name),
        person(0).public(),
        1_700_000_100,
        None,
        [nonce; 16],
    )
    .unwrap()
}

/// A stranger (or many) giving unasked cannot fill the book: beyond the cap the oldest unkept
/// contacts go, newest first, and a contact the user touched, or whose card came from a swap
/// the user started, is never evicted.
#[test]
fn unsolicited_cards_are_capped_newest_first_and_kept_contacts_stay() {
    let (_d, mut store) = tmp();
    let cap = 3;
    let me = person(0).public();
    // A swap I started: kept for good.
    store
        .receive(&give_to_me(&person(1), "Ada", 1), Via::Swap)
        .unwrap();
    // An unsolicited card the user then tagged: kept.
    let r = store
        .receive_unsolicited(&give_to_me(&person(2), "Bob", 2), Via::Swap, cap)
        .unwrap();
    assert_eq!((r.outcome, r.evicted), (PutOutcome::Added, 0));
    store
        .add_tag(&ContactRef::Key(person(2).public()), "met")
        .unwrap();
    // Ten strangers give unasked.
    for n in 10..20u8 {
        store
            .receive_unsolicited(&give_to_me(&person(n), &format!("S{n}"), n), Via::Swap, cap)
            .unwrap();
    }
    let names: Vec<String> = store.list().unwrap().into_iter().map(|c| c.name).collect();
    assert_eq!(names.len(), 2 + cap, "{names:?}");
    for kept in ["Ada", "Bob", "S17", "S18", "S19"] {
        assert!(names.iter().any(|n| n == kept), "{kept} missing: {names:?}");
    }
    // Unkept strangers are not contacts for the consent rule: giving again does not make them
    // known.
    let peers = store.consent_peers(&me).unwrap();
    assert!(peers.contacts.contains(&person(1).public()));
    assert!(peers.contacts.contains(&person(2).public()));
    assert!(!peers.contacts.contains(&person(19).public()));
    // A note keeps one for good: the next stranger evicts another.
    store
        .add_note(&ContactRef::Key(person(17).public()), "call back")
        .unwrap();
    let r = store
        .receive_unsolicited(&give_to_me(&person(30), "S30", 30), Via::Swap, cap)
        .unwrap();
    assert_eq!(
        r.evicted, 0,
        "S17 no longer counts: 18, 19, 30 fill the cap"
    );
    let r = store
        .receive_unsolicited(&give_to_me(&person(31), "S31", 31), Via::Swap, cap)
        .unwrap();
    assert_eq!(r.evicted, 1);
    let names: Vec<String> = store.list().unwrap().into_iter().map(|c| c.name).collect();
    assert!(names.iter().any(|n| n == "S17"));
    assert!(
        !names.iter().any(|n| n == "S18"),
        "the oldest unkept went: {names:?}"
    );
    // A swap I start with an unkept stranger keeps it too.
    store
        .receive(&give_to_me(&person(19), "S19", 40), Via::Swap)
        .unwrap();
    assert!(store
        .consent_peers(&me)
        .unwrap()
        .contacts
        .contains(&person(19).public()));
}

fn give_with_links(
    from: &Identity,
    seq: u64,
    time: u64,
    links: &[u8],
) -> meishi_card::envelope::Envelope {
    meishi_card::envelope::Envelope::sign_with_links(
        from,
        &signed(from, seq, "Ada"),
        person(0).public(),
        time,
        None,
        [seq as u8; 16],
        links,
    )
    .unwrap()
}

/// The links a contact gave (their slot address and my box) are kept from the newest envelope;
/// an older envelope never replaces them, a new slot starts its read seq over, and removing the
/// contact forgets them.
#[test]
fn contact_links_follow_the_newest_envelope() {
    let (_d, mut store) = tmp();
    let ada = person(1);
    store
        .receive(&give_with_links(&ada, 1, 1_000, b"slot-one"), Via::Swap)
        .unwrap();
    let l = store.links_of(&ada.public()).unwrap().unwrap();
    assert_eq!(
        (l.links.as_slice(), l.given_at, l.slot_seq),
        (&b"slot-one"[..], 1_000, 0)
    );
    store.set_slot_seq(&ada.public(), 7).unwrap();
    store.set_slot_seq(&ada.public(), 3).unwrap();
    assert_eq!(
        store.links_of(&ada.public()).unwrap().unwrap().slot_seq,
        7,
        "never goes back"
    );

    // An older give (a replay through a letter) changes nothing.
    assert!(!store
        .set_contact_links(&ada.public(), b"slot-old", 900)
        .unwrap());
    // A newer one with other links: a new slot, read from seq 0.
    store
        .receive(&give_with_links(&ada, 2, 2_000, b"slot-two"), Via::Swap)
        .unwrap();
    let l = store.links_of(&ada.public()).unwrap().unwrap();
    assert_eq!((l.links.as_slice(), l.slot_seq), (&b"slot-two"[..], 0));
    // A format-1 envelope carries none and keeps what was there.
    store
        .receive(&give_to_me(&ada, "Ada", 9), Via::Swap)
        .unwrap();
    assert_eq!(store.contact_links().unwrap().len(), 1);

    store.remove(&ContactRef::Key(ada.public())).unwrap();
    assert!(store.contact_links().unwrap().is_empty());
}

/// Revoking (or removing) a contact asks for a new slot; my slot keys survive a reopen.
#[test]
fn a_revoke_asks_for_a_new_slot() {
    let (dir, mut store) = tmp();
    let ada = person(1);
    store
        .receive(&give_to_me(&ada, "Ada", 1), Via::Swap)
        .unwrap();
    let own = OwnLinks {
        slot_seed: zeroize::Zeroizing::new([1; 32]),
        seal_key: zeroize::Zeroizing::new([2; 32]),
        drop_secret: zeroize::Zeroizing::new([3; 32]),
        relays: vec!["/ip4/192.0.2.1/tcp/4001".into()],
        record_seq: 0,
        published_card_seq: None,
        published_expires: None,
        published_relays: Vec::new(),
        rotate: false,
    };
    store.set_own_links(&own).unwrap();
    store
        .mark_published(1, Some((4, 9_999)), &own.relays)
        .unwrap();
    store.mark_published(2, None, &[]).unwrap();
    let got = store.own_links().unwrap().unwrap();
    assert_eq!(
        (
            got.record_seq,
            got.published_card_seq,
            got.published_expires,
            got.rotate
        ),
        (2, Some(4), Some(9_999), false),
        "a seq no relay took is used up; the published card stays"
    );
    store.revoke(&ContactRef::Key(ada.public())).unwrap();
    assert!(store.own_links().unwrap().unwrap().rotate);
    drop(store);
    let store = Store::open(&dir.path().join("contacts.db")).unwrap();
    let got = store.own_links().unwrap().unwrap();
    assert_eq!(*got.slot_seed, [1; 32]);
    assert!(got.rotate);
}

/// Introductions: one under way per pair, a step applies only from the state it expects, an
/// ask read twice is kept once, and sessions expire.
#[test]
fn introductions_move_only_from_the_state_they_expect() {
    let (_d, store) = tmp();
    let (a, b) = (person(1).public(), person(2).public());
    let now = contacts::now();
    let made = IntroMade {
        id: 0,
        session: [1; 16],
        a,
        b,
        note: Some("compilers".into()),
        state: MadeState::AskingB,
        hash_a: None,
        hash_b: Some([5; 32]),
        held: None,
        created_at: now,
        expires_at: now + 3600,
    };
    let id = store.intro_made_add(&made).unwrap();
    let again = store.intro_made_add(&IntroMade {
        session: [2; 16],
        a: b,
        b: a,
        ..made.clone()
    });
    assert!(matches!(again, Err(StoreError::IntroUnderWay(i)) if i == id));
    let mut m = store.intro_made_by_session(&[1; 16]).unwrap().unwrap();
    m.state = MadeState::AskingA;
    assert!(store.intro_made_update(&m, MadeState::AskingB).unwrap());
    assert!(
        !store.intro_made_update(&m, MadeState::AskingB).unwrap(),
        "a step applied twice changes nothing"
    );
    m.state = MadeState::Declined;
    assert!(store.intro_made_update(&m, MadeState::AskingA).unwrap());
    // Ended: the pair can be introduced again.
    store
        .intro_made_add(&IntroMade {
            session: [3; 16],
            ..made.clone()
        })
        .unwrap();

    let r = IntroReceived {
        id: 0,
        session: [4; 16],
        introducer: person(3).public(),
        other: a,
        other_name: "Ada".into(),
        other_headline: None,
        note: None,
        state: ReceivedState::Asked,
        ask_hash: [6; 32],
        answer_hash: None,
        received_at: now,
        expires_at: now + 1,
    };
    let rid = store.intro_received_add(&r).unwrap().unwrap();
    assert_eq!(
        store.intro_received_add(&r).unwrap(),
        None,
        "read twice, kept once"
    );
    assert!(store
        .intro_received_set(
            rid,
            ReceivedState::Asked,
            ReceivedState::Accepted,
            Some([7; 32])
        )
        .unwrap());
    assert!(!store
        .intro_received_set(rid, ReceivedState::Asked, ReceivedState::Declined, None)
        .unwrap());
    assert!(store.introduced_by(&a).unwrap().is_none());
    // The session's end passes: it expires.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(
        store.intro_received(rid).unwrap().unwrap().state,
        ReceivedState::Expired
    );
    assert!(store.introductions_allowed().unwrap());
    store.set_introductions_allowed(false).unwrap();
    assert!(!store.introductions_allowed().unwrap());
}
