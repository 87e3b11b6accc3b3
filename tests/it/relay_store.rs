//! The relay's store as real processes on loopback: slot records outlive a relay restart (an
//! edit still reaches a contact who comes online after it), and `meishi relay dump --json`
//! shows what the relay keeps, by opaque id only (docs/relay.md#what-the-relay-keeps-on-disk).

use serde_json::Value;

use crate::cli::{stderr, Home};
use crate::event::{free_port, init, Proc};
use crate::updates::{peer_id, up};

/// `meishi relay` on `port` (the same port again after a restart: attendees' cards name it).
fn relay_on(home: &Home, port: u16) -> (Proc, String) {
    let listen = format!("/ip4/127.0.0.1/tcp/{port}");
    let relay = Proc::start(
        home,
        &[
            "relay",
            "--listen",
            &listen,
            "--external-address",
            &listen,
            "--no-metrics",
            "--json",
        ],
    );
    let started = relay.wait_for("listening");
    let store = home.path.join("relay.db");
    assert_eq!(started["store"], store.display().to_string(), "{started}");
    let addr = started["addr"].as_str().expect("relay addr").to_owned();
    (relay, addr)
}

fn is_hex_id(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    k.sort_unstable();
    k
}

/// Ada and Bob swap; Ada edits while Bob is offline; the relay restarts (killed, as by a crash
/// or a reboot) before Bob comes online, and Bob still gets the edit from Ada's slot. The dump
/// in between has the documented shape and names neither of them.
#[test]
fn an_edit_survives_a_relay_restart_and_the_dump_shows_only_opaque_ids() {
    let relay_home = Home::new();
    let port = free_port();
    let (relay, addr) = relay_on(&relay_home, port);
    let (ada, bob) = (Home::new(), Home::new());
    init(&ada, "Ada");
    init(&bob, "Bob");
    ada.ok(&["card", "relays", &addr]);
    bob.ok(&["card", "relays", &addr]);
    let (ada_id, bob_id) = (peer_id(&ada), peer_id(&bob));

    let (up_a, ada_addr) = up(&ada);
    bob.ok(&["swap", &ada_addr]);
    drop(up_a);
    let out = ada.run(&["card", "edit", "--title", "Countess"]);
    assert!(out.status.success(), "{}", stderr(&out));
    drop(relay);

    // What the relay kept, read from its file while it is down.
    let dump = relay_home.json(&["relay", "dump", "--json"]);
    assert_eq!(
        keys(&dump),
        ["drops", "path", "schema", "slots", "tombstones", "totals"]
    );
    assert_eq!(dump["schema"], 1);
    let slots = dump["slots"].as_array().expect("slots");
    assert!(!slots.is_empty(), "{dump}");
    for s in slots {
        assert_eq!(keys(s), ["expires_at", "seq", "size", "slot"], "{s}");
        assert!(is_hex_id(&s["slot"]), "{s}");
        assert!(s["seq"].as_u64().is_some_and(|n| n >= 1), "{s}");
        assert!(s["expires_at"].is_u64() && s["size"].is_u64(), "{s}");
    }
    for m in dump["drops"].as_array().expect("drops") {
        assert_eq!(keys(m), ["box", "size", "stored_at"], "{m}");
        assert!(is_hex_id(&m["box"]), "{m}");
    }
    let totals = &dump["totals"];
    assert_eq!(
        keys(totals),
        [
            "drop_bytes",
            "drops",
            "file_bytes",
            "slot_bytes",
            "slots",
            "tombstones"
        ]
    );
    assert_eq!(totals["slots"], slots.len());
    let bytes: u64 = slots.iter().filter_map(|s| s["size"].as_u64()).sum();
    assert_eq!(totals["slot_bytes"], bytes);
    // Nothing in it names anyone: no peer id, no address.
    let text = dump.to_string();
    for who in [&ada_id, &bob_id] {
        assert!(!text.contains(who.as_str()), "{text}");
    }
    assert!(!text.contains("127.0.0.1"), "{text}");
    // Nor does the file itself, byte for byte: not their keys (bytes 1..33 of a signed card,
    // proto-spec/card.md#encoding), peer ids, names, or the new title in the clear.
    let mut stored = Vec::new();
    for entry in std::fs::read_dir(&relay_home.path).expect("relay home") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if name.starts_with("relay.db") {
            stored.extend(std::fs::read(&path).expect("read the store"));
        }
    }
    assert!(
        stored.len() > 1000,
        "the store was read ({} bytes)",
        stored.len()
    );
    let contains = |needle: &[u8]| stored.windows(needle.len()).any(|w| w == needle);
    // The search finds what is there: the opaque slot id the dump names.
    let slot_hex = slots[0]["slot"].as_str().expect("slot id");
    let slot_id: Vec<u8> = (0..slot_hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&slot_hex[i..i + 2], 16).expect("hex"))
        .collect();
    assert!(contains(&slot_id), "the slot id is in the file");
    for h in [&ada, &bob] {
        let card = h.file("me.meishi");
        h.ok(&[
            "card",
            "export",
            "--format",
            "meishi",
            "-o",
            card.to_str().expect("path"),
        ]);
        let bytes = std::fs::read(&card).expect("card");
        assert!(
            !contains(&bytes[1..33]),
            "a person's key is in the relay's file"
        );
    }
    for text in [
        ada_id.as_bytes(),
        bob_id.as_bytes(),
        b"Countess",
        b"Ada's headline",
    ] {
        assert!(
            !contains(text),
            "{:?} is in the relay's file",
            String::from_utf8_lossy(text)
        );
    }
    // The human form lists the same records.
    let human = relay_home.ok(&["relay", "dump"]);
    assert!(
        human.contains(&format!("Slot records: {}", slots.len())),
        "{human}"
    );

    // The relay comes back on the same port; Bob comes online after it, Ada is away.
    let (_relay, again) = relay_on(&relay_home, port);
    assert_eq!(again, addr, "same key, same port: the address on the cards");
    let up_b = Proc::start(
        &bob,
        &[
            "up",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--no-mdns",
            "--no-ui",
            "--json",
        ],
    );
    let got = up_b.wait_for("contact_updated");
    assert_eq!(got["name"], "Ada");
    assert_eq!(got["seq"], 2);
}

/// A store the relay cannot read stops `meishi relay` with one line naming the file and what to
/// do, and the file is left as it was; `--no-store` runs without it.
#[test]
fn a_damaged_store_stops_the_relay_with_one_line() {
    let home = Home::new();
    std::fs::create_dir_all(&home.path).expect("home");
    let db = home.path.join("relay.db");
    let garbage = b"somebody's notes, not a database\n".repeat(100);
    std::fs::write(&db, &garbage).expect("write");
    let listen = format!("/ip4/127.0.0.1/tcp/{}", free_port());
    let args = [
        "relay",
        "--listen",
        &listen,
        "--external-address",
        &listen,
        "--no-metrics",
    ];
    let out = home.run(&args);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    let line = err
        .lines()
        .find(|l| l.starts_with("meishi: "))
        .expect("an error line");
    assert!(line.contains(&db.display().to_string()), "{err}");
    assert!(line.contains("damaged"), "{err}");
    assert!(line.contains("move it away"), "{err}");
    assert_eq!(std::fs::read(&db).expect("read"), garbage);
    let out = home.run(&["relay", "dump"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("damaged"), "{}", stderr(&out));

    // Memory only: the damaged file is not opened.
    let mut relay_args = args.to_vec();
    relay_args.extend(["--no-store", "--json"]);
    let relay = Proc::start(&home, &relay_args);
    let started = relay.wait_for("listening");
    assert_eq!(started["store"], Value::Null, "{started}");
    assert_eq!(std::fs::read(&db).expect("read"), garbage);
}
