//! A contact the user was told about is never lost.
//!
//! This binary is both the test and its victim. Run normally, it spawns itself as a writer that
//! stores contacts in a loop and prints `ack ...` after each commit returns, SIGKILLs it after a
//! random (seeded) delay, and repeats ~50 times on the same database. After every kill it opens
//! the book, requires `PRAGMA integrity_check` = ok and every acknowledged contact present, and
//! at the end that no multi-row transaction was half applied.
//!
//! A killed process leaves the OS page cache intact, so this proves atomicity and crash
//! recovery of the store's transactions, not survival of a power cut (that is what
//! `synchronous=FULL` is for, and needs a machine to pull the plug on).
//!
//! `harness = false`: it prints its own `1 passed, 0 failed` line. `MEISHI_CRASH_SEED`
//! replays another seed; `MEISHI_CRASH_ITERATIONS` changes the number of kills.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use meishi_card::{Card, Identity, PublicKey, SignedCard};
use meishi_store::{ContactRef, MeetingRecord, Store, StoreError};

const WRITER_ENV: &str = "MEISHI_CRASH_WRITER_DB";
const START_ENV: &str = "MEISHI_CRASH_WRITER_START";
/// Upper bound of operations one writer performs if nobody kills it.
const MAX_OPS: u64 = 100_000;

/// SplitMix64: a tiny seeded generator, enough to pick delays and derive keys.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn identity(i: u64) -> Identity {
    let mut rng = Rng(i ^ 0x6d65_6973_6869);
    let mut seed = [0u8; 32];
    for chunk in seed.chunks_mut(8) {
        chunk.copy_from_slice(&rng.next().to_le_bytes());
    }
    Identity::from_seed(&seed)
}

fn card(id: &Identity, seq: u64, i: u64) -> Result<SignedCard, Box<dyn std::error::Error>> {
    let mut c = Card::new(format!("Person {i}"));
    c.org = Some(format!("Org {}", i % 17));
    c.note = Some("x".repeat((i % 200) as usize + 1));
    Ok(SignedCard::sign(id, seq, 1_700_000_000 + seq, &c)?)
}

/// What a writer acknowledged, parsed from its stdout.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Ack {
    /// A contact with this key exists with at least this seq (0: unverified).
    Contact { i: u64, seq: u64 },
}

fn parse_ack(line: &str) -> Option<Ack> {
    let mut parts = line.strip_prefix("ack ")?.split(' ');
    let i = parts.next()?.parse().ok()?;
    let seq = parts.next()?.parse().ok()?;
    Some(Ack::Contact { i, seq })
}

/// The victim: writes until killed, acknowledging each commit on stdout.
fn writer(db: &Path, start: u64) -> Result<(), Box<dyn std::error::Error>> {
    let mut store = Store::open(db)?;
    let me = Identity::from_seed(&[0xEE; 32]);
    let out = std::io::stdout();
    let ack = |i: u64, seq: u64| -> std::io::Result<()> {
        let mut lock = out.lock();
        writeln!(lock, "ack {i} {seq}")?;
        lock.flush()
    };
    for i in start..start + MAX_OPS {
        let who = identity(i);
        match i % 4 {
            // A single put.
            0 => {
                store.put_signed(&card(&who, 1, i)?, "crash")?;
                ack(i, 1)?;
            }
            // A multi-row transaction: card, meeting, note and tag together or not at all.
            1 => {
                let signed = card(&who, 1, i)?;
                store.transaction(|tx| {
                    tx.put_signed(&signed, "crash-tx")?;
                    let meeting = MeetingRecord {
                        envelope: i.to_le_bytes().to_vec(),
                        from: who.public(),
                        to: me.public(),
                        at: i,
                        event: Some("crash test".into()),
                        via: "crash-tx".into(),
                    };
                    tx.add_meeting(who.public(), &meeting)?;
                    tx.add_note(&ContactRef::Key(who.public()), "written in one transaction")?;
                    tx.add_tag(&ContactRef::Key(who.public()), "atomic")?;
                    Ok::<_, StoreError>(())
                })?;
                ack(i, 1)?;
            }
            // An unverified import.
            2 => {
                store.put_unverified(
                    &Card::new(format!("Person {i}")),
                    Some(who.public()),
                    "crash",
                )?;
                ack(i, 0)?;
            }
            // An update of an earlier contact of this run (written with `0 =>` above).
            _ => {
                let earlier = i - 3;
                if earlier >= start {
                    store.put_signed(&card(&identity(earlier), 2, earlier)?, "crash")?;
                    ack(earlier, 2)?;
                }
            }
        }
    }
    Ok(())
}

/// Spawns a writer, kills it after a random delay, returns what it acknowledged.
fn run_once(db: &Path, start: u64, rng: &mut Rng) -> Vec<Ack> {
    let exe = std::env::current_exe().expect("own executable");
    let mut child: Child = Command::new(exe)
        .env(WRITER_ENV, db)
        .env(START_ENV, start.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn writer");
    let stdout = child.stdout.take().expect("piped stdout");
    let (first_tx, first_rx) = mpsc::channel::<()>();
    let reader = std::thread::spawn(move || {
        let mut acks = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            // A line cut by the kill is not an acknowledgement.
            if let Some(a) = parse_ack(&line) {
                if acks.is_empty() {
                    let _ = first_tx.send(());
                }
                acks.push(a);
            }
        }
        acks
    });
    // One kill in five lands anywhere from start-up (open, migration, WAL recovery) on; the
    // others once the writer is known to be writing.
    if rng.below(5) != 0 {
        first_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the writer acknowledged nothing within 60 s");
    }
    std::thread::sleep(Duration::from_micros(rng.below(200_000)));
    // If it already died on its own, that is a writer error, reported below.
    let _ = child.kill();
    let status = child.wait().expect("wait for writer");
    let acks = reader.join().expect("reader thread");
    // Only SIGKILL (ours) counts as the kill: another signal is the writer crashing.
    if std::os::unix::process::ExitStatusExt::signal(&status) != Some(9) {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut err);
        }
        panic!("the writer exited on its own ({status}) instead of being killed: {err}");
    }
    acks
}

fn check_store(db: &Path, acked: &HashMap<u64, u64>, new: &[Ack]) {
    let store = Store::open(db).expect("open after kill");
    match store.integrity_check().expect("integrity_check runs") {
        Ok(()) => {}
        Err(report) => panic!("integrity_check failed: {report:?}"),
    }
    // This run's acknowledgements, each fully re-verified.
    for Ack::Contact { i, .. } in new {
        let key = identity(*i).public();
        let c = store
            .get(&ContactRef::Key(key))
            .expect("read contact")
            .unwrap_or_else(|| panic!("acknowledged contact {i} is missing"));
        let want = acked[i];
        let have = c.summary.seq.unwrap_or(0);
        assert!(
            have >= want,
            "contact {i}: acknowledged seq {want}, stored {have}"
        );
    }
}

/// Whether libtest's arguments `args` select the test `name`.
fn selected(name: &str, args: &[String]) -> bool {
    const WITH_VALUE: &[&str] = &[
        "--test-threads",
        "--skip",
        "--logfile",
        "--format",
        "--color",
        "--shuffle-seed",
        "-Z",
    ];
    let (mut filters, mut skips, mut exact) = (Vec::new(), Vec::new(), false);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--exact" => exact = true,
            "--skip" => skips.extend(it.next().cloned()),
            f if WITH_VALUE.contains(&f) => {
                it.next();
            }
            f if f.starts_with('-') => {}
            f => filters.push(f.to_owned()),
        }
    }
    let hit = |f: &String| {
        if exact {
            name == f
        } else {
            name.contains(f.as_str())
        }
    };
    (filters.is_empty() || filters.iter().any(hit)) && !skips.iter().any(hit)
}

/// `selected` against libtest's own behaviour (this binary has no test harness to run it as a
/// test, so `main` runs it first).
fn selected_reads_arguments_as_libtest_does() {
    let a = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let n = "killed_writers";
    assert!(selected(n, &a(&[])));
    assert!(selected(n, &a(&["--test-threads", "1"])));
    assert!(selected(n, &a(&["--test-threads=1", "--nocapture"])));
    assert!(selected(n, &a(&["killed"])));
    assert!(!selected(n, &a(&["other"])));
    assert!(!selected(n, &a(&["--exact", "killed"])));
    assert!(selected(n, &a(&["--exact", "killed_writers"])));
    assert!(!selected(n, &a(&["--skip", "writers"])));
    assert!(!selected(n, &a(&["--test-threads", "1", "nothing"])));
}

fn main() {
    if let Some(db) = std::env::var_os(WRITER_ENV) {
        let start = std::env::var(START_ENV)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if let Err(e) = writer(Path::new(&db), start) {
            eprintln!("writer failed: {e}");
            std::process::exit(2);
        }
        return;
    }
    selected_reads_arguments_as_libtest_does();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        println!("killed_writers_lose_no_acknowledged_contact: test");
        return;
    }
    // Honour libtest's command line: its filters, `--exact` and `--skip`, and the flags that
    // take a value (`--test-threads 1` must not be read as a filter).
    const NAME: &str = "killed_writers_lose_no_acknowledged_contact";
    if !selected(NAME, &args) {
        println!("0 passed, 0 failed, 1 filtered out");
        return;
    }
    let seed = std::env::var("MEISHI_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_2026);
    let iterations: u64 = std::env::var("MEISHI_CRASH_ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("contacts.db");
    let mut acked: HashMap<u64, u64> = HashMap::new();
    for n in 0..iterations {
        // Disjoint key ranges per run, so every acknowledgement names its own contact.
        let start = n * MAX_OPS;
        let new = run_once(&db, start, &mut rng);
        for Ack::Contact { i, seq } in &new {
            let e = acked.entry(*i).or_insert(0);
            *e = (*e).max(*seq);
        }
        check_store(&db, &acked, &new);
    }

    // Everything acknowledged over all runs, and no half-applied transaction.
    let store = Store::open(&db).expect("open");
    let list = store.list().expect("list");
    let by_key: HashMap<PublicKey, (u64, bool)> = list
        .iter()
        .filter_map(|s| Some((s.key?, (s.seq.unwrap_or(0), s.verified))))
        .collect();
    for (i, want) in &acked {
        let (have, _) = by_key
            .get(&identity(*i).public())
            .unwrap_or_else(|| panic!("contact {i} lost"));
        assert!(
            have >= want,
            "contact {i}: acknowledged seq {want}, stored {have}"
        );
    }
    let mut tx_contacts = 0;
    for s in &list {
        let c = store
            .get(&ContactRef::Id(s.id))
            .expect("get")
            .expect("listed contact");
        if c.via == "crash-tx" {
            tx_contacts += 1;
            assert_eq!(
                (c.meetings.len(), c.notes.len(), c.tags.as_slice()),
                (1, 1, ["atomic".to_owned()].as_slice()),
                "contact {} was half written",
                s.id
            );
        }
    }
    assert!(store.verify_all().expect("verify").is_empty());
    // Search returns at most MAX_RESULTS rows; a fast machine writes more than that.
    assert_eq!(
        store.search("atomic").expect("search").len(),
        tx_contacts.min(meishi_store::MAX_RESULTS),
        "search index out of step"
    );
    let acked_n = acked.len();
    assert!(
        acked_n > 0 && tx_contacts > 0,
        "the writers acknowledged nothing: the test proved nothing"
    );
    println!(
        "durability: {iterations} writers killed (seed {seed:#x}); {acked_n} acknowledged contacts all present, \
         {tx_contacts} multi-row transactions whole, integrity_check ok"
    );
    println!("1 passed, 0 failed");
}
