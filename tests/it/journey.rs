//! The README's journeys, walked end to end in the README's order by people on one machine:
//! first run, everyday use with a swap and an `ask`, contacts, the QR handoff, a relay, and an
//! event as organizer and attendees. Each step is the command the README shows, run as a
//! process; the human lines a person reads are checked where they lead to the next step.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::cli::{stderr, Home};
use crate::event::{json_lines, loopback_relay, Proc};

/// A `meishi up` read as a person reads it: its human lines on stderr.
struct Terminal {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Terminal {
    fn start(home: &Home, args: &[&str]) -> Terminal {
        let mut child = home
            .cmd(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("meishi starts");
        let err = child.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Terminal { child, lines }
    }

    /// The first line containing `text` (three minutes at most: a loaded 2-core machine).
    fn line_with(&self, text: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(180);
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.contains(text) => return l,
                Ok(l) => seen.push(l),
                Err(e) => panic!("no line with {text:?}: {e}; saw {seen:#?}"),
            }
        }
    }
}

/// What follows `meishi swap ` on a line: the address to hand to `swap`.
fn swap_target(line: &str) -> String {
    line.split("meishi swap ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .expect("an address after `meishi swap`")
        .to_owned()
}

fn names(h: &Home) -> Vec<String> {
    let mut v: Vec<String> = h
        .json(&["contacts", "list", "--json"])
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|c| c["name"].as_str().map(str::to_owned))
        .collect();
    v.sort();
    v
}

#[test]
fn the_readme_journeys_end_to_end() {
    // ---- First run: `meishi up` on a fresh machine makes an identity and says what to share.
    let ada = Home::new();
    let up_ada = Terminal::start(
        &ada,
        &[
            "up",
            "--name",
            "Ada Lovelace",
            "--no-mdns",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
        ],
    );
    up_ada.line_with("Created your identity");
    up_ada.line_with("Your teaser is off");
    let ada_addr = swap_target(&up_ada.line_with("Others swap with you by running: meishi swap"));

    // Ada shows her name to people nearby and at events (the teaser is off until chosen).
    ada.ok(&["card", "edit", "--teaser", "name"]);

    // ---- Everyday use: init with details, id, card show, teaser.
    let bob = Home::new();
    bob.ok(&[
        "init",
        "--name",
        "Bob Babbage",
        "--org",
        "Analytical Engines Ltd",
        "--email",
        "bob@analytical.example",
        "--social",
        "github:bobbabbage",
        "--note",
        "Ask me about difference engines",
        "--tag",
        "rust",
        "--teaser",
        "headline",
    ]);
    let id = bob.json(&["id", "--json"]);
    assert!(id["fingerprint"].as_str().is_some(), "{id}");
    let card = bob.json(&["card", "show", "--json"]);
    assert_eq!(card["teaser"], "headline");
    assert_eq!(card["card"]["socials"][0]["kind"], "github");

    // Swap with the address Ada's terminal told her to share.
    let out = bob.run(&["swap", &ada_addr]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Swapped cards with Ada Lovelace"),
        "{}",
        stderr(&out)
    );
    up_ada.line_with("Received the card of Bob Babbage");
    assert_eq!(names(&bob), ["Ada Lovelace"]);

    // `--accept ask`: Cy decides per person; Bob may leave while she decides.
    let cy = Home::new();
    cy.ok(&["init", "--name", "Cy Countess", "--teaser", "name"]);
    let up_cy = Terminal::start(
        &cy,
        &[
            "up",
            "--accept",
            "ask",
            "--no-mdns",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
        ],
    );
    let cy_addr = swap_target(&up_cy.line_with("Others swap with you by running: meishi swap"));
    let out = bob.run(&["swap", &cy_addr, "--timeout", "3"]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("Ctrl-C is safe"), "{}", stderr(&out));
    let wants = up_cy.line_with("wants to swap: `meishi accept");
    let accept_id = wants
        .split("meishi accept ")
        .nth(1)
        .and_then(|s| s.split('`').next())
        .expect("inbox id")
        .to_owned();
    let inbox = cy.ok(&["inbox"]);
    assert!(inbox.contains("Bob Babbage"), "{inbox}");
    cy.ok(&["accept", &accept_id]);
    // Her node could not give back to Bob's finished swap; when Bob swaps again she answers
    // at once.
    up_cy.line_with("give my card back");
    let out = bob.run(&["swap", &cy_addr]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(names(&bob), ["Ada Lovelace", "Cy Countess"]);

    // ---- Contacts: by name or number, notes, tags, follow-ups, search, export.
    let out = bob.run(&["contacts", "note", "1", "met at RustConf"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = bob.run(&["contacts", "tag", "ada", "speaker"]);
    assert!(stderr(&out).contains("Ada Lovelace"), "{}", stderr(&out));
    bob.ok(&["contacts", "follow-up", "ada", "2026-12-01"]);
    let search = bob.ok(&["contacts", "search", "rustconf"]);
    assert!(search.contains("Ada Lovelace"), "{search}");
    let vcf = bob.file("contacts.vcf");
    bob.ok(&["contacts", "export", "-o", vcf.to_str().expect("path")]);
    let text = std::fs::read_to_string(&vcf).expect("vcf");
    assert!(
        text.contains("FN:Ada Lovelace") && text.contains("FN:Cy Countess"),
        "{text}"
    );
    // Ada edits her card; Bob picks it up by her name.
    ada.ok(&["card", "edit", "--title", "Countess of Lovelace"]);
    up_ada.line_with("Now giving card seq");
    let seq = ada.json(&["card", "show", "--json"])["seq"].clone();
    let fetched = bob.json(&["fetch", "ada", "--json"]);
    assert_eq!(fetched["seq"], seq, "{fetched}");
    drop(up_ada);
    drop(up_cy);

    // ---- QR handoff: Bob shows his card as a PNG; Di scans it into a verified contact.
    let di = Home::new();
    di.ok(&["init", "--name", "Di Dee", "--teaser", "name"]);
    let png = bob.file("bob.png");
    let out = bob.run(&["qr", "--png", png.to_str().expect("path")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let scanned = di.json(&["scan", png.to_str().expect("path"), "--json"]);
    assert_eq!(scanned["verified"], true, "{scanned}");
    assert_eq!(names(&di), ["Bob Babbage"]);
    // The plain vCard QR, for phones without meishi, is read by zbar.
    let vpng = bob.file("bob-vcard.png");
    bob.ok(&["qr", "--vcard", "--png", vpng.to_str().expect("path")]);
    let z = std::process::Command::new("zbarimg")
        .args(["--raw", "-q"])
        .arg(&vpng)
        .output()
        .expect("zbarimg runs (apt-get install zbar-tools)");
    assert!(
        String::from_utf8_lossy(&z.stdout).contains("FN:Bob Babbage"),
        "{z:?}"
    );

    // ---- A relay for an event, and the event as organizer and attendees.
    let operator = Home::new();
    let (_relay, relay_addr) = loopback_relay(&operator);
    let new = ada.json(&[
        "event",
        "new",
        "--name",
        "RustConf 2026",
        "--relay",
        &relay_addr,
        "--json",
    ]);
    let uri = new["uri"].as_str().expect("join uri").to_owned();
    // The organizer's badge QR scans into the join command.
    let badge = ada.file("badge.png");
    ada.ok(&[
        "event",
        "new",
        "--name",
        "RustConf 2026",
        "--relay",
        &relay_addr,
        "--png",
        badge.to_str().expect("path"),
    ]);
    let read = di.run(&["scan", badge.to_str().expect("path")]);
    assert!(
        String::from_utf8_lossy(&read.stdout).contains("meishi event")
            || stderr(&read).contains("meishi event"),
        "{}",
        stderr(&read)
    );
    // Ada and Cy stay visible at the event; Di lists everyone and swaps with all.
    let attend = |h: &Home| {
        Proc::start(
            h,
            &[
                "up",
                "--listen",
                "/ip4/127.0.0.1/tcp/0",
                "--no-mdns",
                "--json",
                "--event",
                &uri,
            ],
        )
    };
    let (a, c) = (attend(&ada), attend(&cy));
    a.wait_for_each(&["joined", "attendee"]);
    c.wait_for_each(&["joined", "attendee"]);
    let out = di.run(&["event", &uri, "--swap-all", "--timeout", "60", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = json_lines(&out.stdout);
    let summary = lines
        .iter()
        .find(|v| v["event"] == "summary")
        .expect("summary");
    assert_eq!(summary["swapped"], 2, "{lines:?}");
    // At the event Cy runs the default, `auto`, which answers attendees. Di now has both, met
    // at the named event.
    assert_eq!(names(&di), ["Ada Lovelace", "Bob Babbage", "Cy Countess"]);
    let shown = di.json(&["contacts", "show", "ada", "--json"]);
    assert!(shown.to_string().contains("RustConf 2026"), "{shown}");
}
