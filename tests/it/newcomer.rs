//! The newcomer's path (issue 11), as a person meets it: a wrong relay fails loudly with one
//! line and a non-zero exit instead of an empty, successful listing.

use crate::cli::stderr;
use crate::cli::Home;
use crate::event::{free_port, init, loopback_relay, Proc};

const CODE: &str = "t3mq-8wzx-k4pd-r7vn-c2hy";

fn some_peer_id() -> String {
    let h = Home::new();
    init(&h, "Nobody");
    h.json(&["id", "--json"])["peer_id"]
        .as_str()
        .expect("peer id")
        .to_owned()
}

#[test]
fn a_dead_relay_fails_loudly() {
    let ada = Home::new();
    init(&ada, "Ada");
    let dead = format!("/ip4/127.0.0.1/tcp/{}/p2p/{}", free_port(), some_peer_id());
    let out = ada.run(&["event", CODE, "--relay", &dead, "--timeout", "60"]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot reach the relay"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_relay_address_with_the_wrong_peer_id_fails_loudly() {
    let relay_home = Home::new();
    let (_relay, raddr) = loopback_relay(&relay_home);
    let listen = raddr.rsplit_once("/p2p/").expect("relay peer id").0;
    let ada = Home::new();
    init(&ada, "Ada");
    let wrong = format!("{listen}/p2p/{}", some_peer_id());
    let out = ada.run(&["event", CODE, "--relay", &wrong, "--timeout", "60"]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot reach the relay"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_dns_relay_address_is_refused_when_parsed() {
    let ada = Home::new();
    init(&ada, "Ada");
    let dns = format!("/dns4/relay.example/tcp/4001/p2p/{}", some_peer_id());
    for args in [
        vec!["event", CODE, "--relay", &dns],
        vec!["up", "--relay", &dns, "--event", CODE],
    ] {
        let out = ada.run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("meishi dials IP addresses only"),
            "{}",
            stderr(&out)
        );
    }
}

/// `contacts show alice` finds Alice by name; an ambiguous name asks for the number; the hint
/// no longer suggests the 6 leading characters that every peer id shares.
#[test]
fn a_contact_is_picked_by_name() {
    let (me, ada, other_ada) = (Home::new(), Home::new(), Home::new());
    init(&me, "Me");
    init(&ada, "Ada Lovelace");
    init(&other_ada, "Ada Lovelace");
    let card = ada.path.with_file_name("ada.meishi");
    ada.ok(&[
        "card",
        "export",
        "--format",
        "meishi",
        "-o",
        card.to_str().expect("utf-8"),
    ]);
    me.ok(&["import", card.to_str().expect("utf-8")]);
    let shown = me.json(&["contacts", "show", "ada lovelace", "--json"]);
    assert_eq!(shown["name"], "Ada Lovelace", "{shown}");
    let shown = me.json(&["contacts", "show", "ada", "--json"]);
    assert_eq!(shown["name"], "Ada Lovelace", "one of her names: {shown}");

    let card2 = other_ada.path.with_file_name("ada2.meishi");
    other_ada.ok(&[
        "card",
        "export",
        "--format",
        "meishi",
        "-o",
        card2.to_str().expect("utf-8"),
    ]);
    me.ok(&["import", card2.to_str().expect("utf-8")]);
    let out = me.run(&["contacts", "show", "Ada Lovelace"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("give the number instead"),
        "{}",
        stderr(&out)
    );
    let out = me.run(&["contacts", "show", "12D3K!"]);
    assert!(
        !stderr(&out).contains("6 leading characters"),
        "{}",
        stderr(&out)
    );
}

/// Commands that change a contact say whom they changed; the follow-up list tells due dates
/// from coming ones.
#[test]
fn contact_commands_confirm_whom_they_changed() {
    let (me, ada) = (Home::new(), Home::new());
    init(&me, "Me");
    init(&ada, "Ada Lovelace");
    let card = ada.path.with_file_name("ada.meishi");
    let file = card.to_str().expect("utf-8");
    ada.ok(&["card", "export", "--format", "meishi", "-o", file]);
    me.ok(&["import", file]);
    let err = |args: &[&str]| stderr(&me.run(args));
    assert!(
        err(&["contacts", "tag", "1", "rust", "speaker"])
            .contains("Ada Lovelace (#1) is tagged: rust, speaker"),
        "tag"
    );
    assert!(err(&["contacts", "note", "1", "met at RustConf"])
        .contains("Note added to Ada Lovelace (#1)"));
    assert!(err(&["contacts", "follow-up", "1", "2999-01-01"])
        .contains("Follow up with Ada Lovelace (#1) on 2999-01-01"));
    let list = me.ok(&["contacts", "follow-up"]);
    assert!(
        list.contains("upcoming"),
        "a date in 2999 is not due: {list}"
    );
    assert!(!list.contains(" due "), "{list}");
    assert!(err(&["contacts", "remove", "1"]).contains("Removed Ada Lovelace (#1)"));
}

/// Only `init` and `up` make a home: a mistyped --home is an error, and creates nothing.
#[test]
fn a_mistyped_home_is_not_created() {
    let dir = tempfile::tempdir().expect("tmp");
    let typo = dir.path().join("mieshi");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_meishi"))
        .args(["--home", typo.to_str().expect("utf-8"), "contacts", "list"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no meishi home at"),
        "{}",
        stderr(&out)
    );
    assert!(!typo.exists(), "the mistyped home was created");
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_meishi"))
        .args(["--home", file.to_str().expect("utf-8"), "contacts", "list"])
        .output()
        .expect("runs");
    let e = stderr(&out);
    assert!(e.contains("is a file, not a folder"), "{e}");
    assert_eq!(e.trim().lines().count(), 1, "one line: {e}");
}

/// `import photo.png` points to `meishi scan`; the binary card is not dumped on a terminal.
#[test]
fn import_of_an_image_and_binary_on_a_terminal_say_what_to_do() {
    let me = Home::new();
    init(&me, "Me");
    let png = me.path.with_file_name("me.png");
    let png_s = png.to_str().expect("utf-8");
    me.ok(&["qr", "--png", png_s]);
    let out = me.run(&["import", png_s]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("this is an image: read the QR code in it with `meishi scan"),
        "{}",
        stderr(&out)
    );
    // On a terminal (script(1) gives the command a pseudo-terminal) the binary export refuses.
    let cmd = format!(
        "{} --home {} card export --format meishi",
        env!("CARGO_BIN_EXE_meishi"),
        me.path.display()
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .output()
        .expect("script runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("would garble this terminal"), "{text}");
    // Piped, it writes the card.
    let piped = me.run(&["card", "export", "--format", "meishi"]);
    assert!(piped.status.success() && !piped.stdout.is_empty());
}

/// `scan good.png bad.png` keeps what the good image holds, names the bad one, and exits 3.
#[test]
fn scanning_several_images_reports_each() {
    let (me, ada) = (Home::new(), Home::new());
    init(&me, "Me");
    init(&ada, "Ada Lovelace");
    let good = ada.path.with_file_name("ada.png");
    let good_s = good.to_str().expect("utf-8");
    ada.ok(&["qr", "--png", good_s]);
    let bad = me.path.with_file_name("blank.png");
    std::fs::write(&bad, b"not an image at all").expect("write");
    let out = me.run(&["scan", good_s, bad.to_str().expect("utf-8")]);
    let e = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{e}");
    assert!(e.contains("blank.png"), "the failing image is named: {e}");
    assert!(e.contains("1 of 2 images failed"), "{e}");
    let list = me.json(&["contacts", "list", "--json"]);
    assert_eq!(
        list[0]["name"], "Ada Lovelace",
        "the good image was stored: {list}"
    );
}

/// Nonsense is refused with a line naming the field; real formats from anywhere pass, and a
/// pasted LinkedIn path is not doubled.
#[test]
fn card_fields_are_validated() {
    let me = Home::new();
    init(&me, "Me");
    for (flag, value) in [
        ("--email", "not-an-email"),
        ("--phone", "call me maybe"),
        ("--url", "not a url"),
        ("--url", "ftp://files.example"),
    ] {
        let out = me.run(&["card", "edit", flag, value]);
        assert!(!out.status.success(), "{flag} {value} was accepted");
        assert!(
            stderr(&out).contains(&format!("{flag} {value:?} is not")),
            "{}",
            stderr(&out)
        );
    }
    assert_eq!(
        me.json(&["card", "show", "--json"])["seq"],
        1,
        "nothing was signed"
    );
    me.ok(&[
        "card",
        "edit",
        "--email",
        "taro@bücher.example",
        "--phone",
        "+81 3-1234-5678",
        "--phone",
        "(555) 123-4567 ext. 89",
        "--url",
        "analytical.example/ada",
        "--social",
        "linkedin:in/someone",
        "--social",
        "github:https://github.com/adalovelace",
    ]);
    let card = &me.json(&["card", "show", "--json"])["card"];
    assert_eq!(card["urls"][0], "https://analytical.example/ada", "{card}");
    assert_eq!(card["socials"][0]["handle"], "someone", "{card}");
    assert_eq!(card["socials"][1]["handle"], "adalovelace", "{card}");
    assert_eq!(card["phones"][1], "(555) 123-4567 ext. 89", "{card}");
}

/// `init` without --name asks on a terminal, and asks again after an empty answer; without a
/// terminal it says what to pass.
#[test]
fn init_asks_for_a_name_on_a_terminal() {
    use std::io::Write;
    let dir = tempfile::tempdir().expect("tmp");
    let home = dir.path().join("home");
    let cmd = format!(
        "{} --home {} init",
        env!("CARGO_BIN_EXE_meishi"),
        home.display()
    );
    let mut child = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("script runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"\n\nAda Prompt\n")
        .expect("type");
    let out = child.wait_with_output().expect("init ends");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("A card needs a name"), "asked again: {text}");
    let shown = std::process::Command::new(env!("CARGO_BIN_EXE_meishi"))
        .args([
            "--home",
            home.to_str().expect("utf-8"),
            "card",
            "show",
            "--json",
        ])
        .output()
        .expect("card show");
    let v: serde_json::Value = serde_json::from_slice(&shown.stdout).expect("json");
    assert_eq!(v["card"]["name"], "Ada Prompt");

    let plain = Home::new();
    let out = plain.run(&["init"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("meishi init --name"),
        "{}",
        stderr(&out)
    );
}

/// Two `meishi up` on one home: the second says the first runs, with its pid. A pid file left
/// by a killed `up` does not block the next one.
#[test]
fn one_up_per_home() {
    let ada = Home::new();
    init(&ada, "Ada");
    let args = [
        "up",
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
        "--no-mdns",
        "--json",
    ];
    let first = Proc::start(&ada, &args);
    first.wait_for("listening");
    let out = ada.run(&args);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("meishi up is already running for"),
        "{}",
        stderr(&out)
    );
    drop(first); // killed: its pid file stays behind
    let again = Proc::start(&ada, &args);
    again.wait_for("listening");
}

/// Listing an event names who is there and says what to do next.
#[test]
fn listing_an_event_leads_to_the_next_step() {
    let relay_home = Home::new();
    let (_relay, raddr) = loopback_relay(&relay_home);
    let (ada, bob) = (Home::new(), Home::new());
    init(&ada, "Ada");
    init(&bob, "Bob");
    let up = Proc::start(
        &ada,
        &[
            "up",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--no-mdns",
            "--json",
            "--relay",
            &raddr,
            "--event",
            CODE,
        ],
    );
    up.wait_for("reserved");
    let mut seen = String::new();
    // Ada's teaser reaches the board a moment after her reservation: list until she is there.
    for _ in 0..10 {
        let out = bob.run(&["event", CODE, "--relay", &raddr, "--timeout", "10"]);
        assert!(out.status.success(), "{}", stderr(&out));
        seen = stderr(&out);
        if seen.contains("Attendee: Ada") {
            break;
        }
    }
    assert!(seen.contains("Attendee: Ada"), "{seen}");
    assert!(
        seen.contains("Next: run this again with --swap-all"),
        "{seen}"
    );
}

/// A flag value that cannot be used, or a missing one, is a usage error: exit code 2 (the
/// README's table), not 1 or 3; the line still names the flag.
#[test]
fn card_flag_values_that_cannot_be_used_exit_with_the_usage_code() {
    let me = Home::new();
    init(&me, "Me");
    for (args, needle) in [
        (vec!["card", "edit", "--social", "adalovelace"], "--social"),
        (
            vec!["card", "edit", "--social", "myspace:ada"],
            "unknown kind",
        ),
        (
            vec!["card", "edit", "--social", "github:ada lovelace"],
            "one word",
        ),
        (vec!["card", "edit", "--email", "not-an-email"], "--email"),
        (vec!["card", "edit", "--phone", "call me maybe"], "--phone"),
        (
            vec!["card", "edit", "--url", "ftp://files.example"],
            "--url",
        ),
        (
            vec!["card", "edit", "--rm-social", "myspace"],
            "--rm-social",
        ),
    ] {
        let out = me.run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
    }
    let plain = Home::new();
    let out = plain.run(&["init", "--email", "ada@example.com"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("meishi init --name"),
        "{}",
        stderr(&out)
    );
    // A value that parses but is not on the card stays an ordinary failure.
    let out = me.run(&["card", "edit", "--rm-email", "nobody@example.com"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

#[test]
fn a_mistyped_event_code_is_caught_before_the_network() {
    let ada = Home::new();
    init(&ada, "Ada");
    // Nobody listens at this relay address: a typo must be refused before dialing it.
    let dead = format!("/ip4/127.0.0.1/tcp/{}/p2p/{}", free_port(), some_peer_id());
    let new = ada.json(&["event", "new", "--relay", &dead, "--json"]);
    let code = new["code"].as_str().expect("code").to_owned();
    // One character wrong, as when copying from a projector.
    let mut typo: Vec<char> = code.chars().collect();
    typo[5] = if typo[5] == 'q' { 'r' } else { 'q' };
    let typo: String = typo.into_iter().collect();
    let out = ada.run(&["event", &typo, "--relay", &dead, "--timeout", "60"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("has a typo"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("Connecting"), "{}", stderr(&out));
    // The code as generated passes the same check (and then finds the relay dead).
    let out = ada.run(&["event", &code, "--relay", &dead, "--timeout", "60"]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
}

#[test]
fn up_says_what_to_tell_other_people() {
    let ada = Home::new();
    init(&ada, "Ada");
    let mut child = ada
        .cmd(&["up", "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("up");
    let stderr_pipe = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr_pipe)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let line = loop {
        match rx.recv_timeout(std::time::Duration::from_secs(60)) {
            Ok(l) if l.contains("meishi swap /ip4/127.0.0.1/tcp/") => break l,
            Ok(l) => seen.push(l),
            Err(e) => panic!("no swap line: {e}; saw {seen:?}"),
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    let addr = line
        .split("meishi swap ")
        .nth(1)
        .expect("addr")
        .split_whitespace()
        .next()
        .expect("addr");
    assert!(addr.contains("/p2p/12D3KooW"), "{line}");
    assert_eq!(addr.matches("/p2p/").count(), 1, "{line}");
}

/// A relay address nothing answers at (a dial lost, not refused) is tried again until the run
/// ends, then reported as unreachable: a bad network is not a wrong address.
#[test]
fn a_relay_that_never_answers_is_tried_until_the_end() {
    let ada = Home::new();
    init(&ada, "Ada");
    // TEST-NET-1: routed nowhere.
    let silent = format!("/ip4/192.0.2.1/tcp/4001/p2p/{}", some_peer_id());
    let out = ada.run(&["event", CODE, "--relay", &silent, "--timeout", "3"]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot reach the relay"),
        "{}",
        stderr(&out)
    );
}
