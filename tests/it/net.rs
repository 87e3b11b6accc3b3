//! `meishi up` and `meishi swap` as real processes talking libp2p over loopback.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::cli::Home;

/// A running `meishi up`, killed when dropped.
struct Up {
    child: Child,
    lines: mpsc::Receiver<Value>,
    addr: String,
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Up {
    fn start(home: &Home, extra: &[&str]) -> Up {
        let mut args = vec![
            "up",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--json",
            "--no-mdns",
        ];
        args.extend_from_slice(extra);
        let mut child = home
            .cmd(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("meishi up starts");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    if tx.send(v).is_err() {
                        break;
                    }
                }
            }
        });
        let mut up = Up {
            child,
            lines,
            addr: String::new(),
        };
        let ev = up.wait_for("listening");
        up.addr = ev["addr"].as_str().expect("addr").to_owned();
        assert!(up.addr.contains("/p2p/12D3KooW"), "{}", up.addr);
        up
    }

    /// The next event of this kind (generous bound: the suite runs on a loaded 2-core machine).
    fn wait_for(&self, kind: &str) -> Value {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(60)) {
                Ok(v) if v["event"] == kind => return v,
                Ok(_) => continue,
                Err(e) => panic!("no {kind} event from meishi up: {e}"),
            }
        }
    }
}

fn contacts(h: &Home) -> Vec<Value> {
    h.json(&["contacts", "list", "--json"])
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn init(h: &Home, name: &str) -> String {
    h.ok(&[
        "init",
        "--name",
        name,
        "--note",
        &format!("{name}'s headline"),
        "--teaser",
        "headline",
    ]);
    h.json(&["id", "--json"])["peer_id"]
        .as_str()
        .expect("peer id")
        .to_owned()
}

#[test]
fn swap_with_a_running_node_exchanges_both_cards() {
    let (a, b) = (Home::new(), Home::new());
    let a_id = init(&a, "Ada");
    let b_id = init(&b, "Bob");
    let up = Up::start(&a, &[]);
    let out = b.json(&["swap", &up.addr, "--json"]);
    assert_eq!(out["event"], "swapped");
    assert_eq!(out["name"], "Ada");
    // Bob has Ada, verified, with the record of where and when they met.
    let list = contacts(&b);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["peer_id"], a_id.as_str());
    assert_eq!(list[0]["verified"], true);
    let shown = b.json(&["contacts", "show", &a_id, "--json"]);
    assert!(
        !shown["meetings"].as_array().expect("meetings").is_empty(),
        "{shown}"
    );
    // Ada's node stored Bob's card.
    let got = up.wait_for("card_received");
    assert_eq!(got["peer_id"], b_id.as_str());
    drop(up);
    let list = contacts(&a);
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["name"], "Bob");
    // Swapping again is not an error.
    let up = Up::start(&a, &[]);
    b.ok(&["swap", &up.addr]);
    assert_eq!(contacts(&b).len(), 1);
}

#[test]
fn policy_never_only_receives() {
    let (a, b) = (Home::new(), Home::new());
    init(&a, "Ada");
    init(&b, "Bob");
    let up = Up::start(&a, &["--accept", "never"]);
    let out = b.run(&["swap", &up.addr]);
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(contacts(&b).is_empty(), "Bob must not get Ada's card");
    up.wait_for("card_received");
    drop(up);
    assert_eq!(contacts(&a).len(), 1);
}

#[test]
fn policy_ask_holds_the_card_until_accepted() {
    let (a, b) = (Home::new(), Home::new());
    init(&a, "Ada");
    init(&b, "Bob");
    let up = Up::start(&a, &["--accept", "ask"]);
    let swap = b
        .cmd(&["swap", &up.addr, "--timeout", "120"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("swap");
    let item = up.wait_for("inbox");
    let id = item["inbox_id"].as_i64().expect("inbox id").to_string();
    let inbox = a.json(&["inbox", "--json"]);
    assert_eq!(inbox[0]["name"], "Bob");
    assert!(
        contacts(&a).is_empty(),
        "not stored before the user decides"
    );
    a.ok(&["accept", &id]);
    let out = swap.wait_with_output().expect("swap ends");
    assert!(
        out.status.success(),
        "swap: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(contacts(&b)[0]["name"], "Ada");
    assert_eq!(contacts(&a)[0]["name"], "Bob");
    assert!(a
        .json(&["inbox", "--json"])
        .as_array()
        .expect("array")
        .is_empty());
    let missing = a.run(&["accept", "999"]);
    assert_eq!(missing.status.code(), Some(4));
}

#[test]
fn swap_fails_fast_on_a_dead_address_and_bad_targets() {
    let (a, b) = (Home::new(), Home::new());
    let a_id = init(&a, "Ada");
    init(&b, "Bob");
    // Nobody listens on port 1.
    let out = b.run(&[
        "swap",
        &format!("/ip4/127.0.0.1/tcp/1/p2p/{a_id}"),
        "--timeout",
        "20",
    ]);
    assert_eq!(
        out.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = b.run(&["swap", "/ip4/127.0.0.1/tcp/1"]);
    assert_eq!(out.status.code(), Some(2));
    // A name the book does not know, with no `up` running to look among attendees.
    let out = b.run(&["swap", "not-a-peer"]);
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no contact is called"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(contacts(&b).is_empty());
}

#[test]
fn up_on_a_fresh_home_creates_an_identity() {
    let h = Home::new();
    let up = Up::start(&h, &["--name", "Fresh Person"]);
    drop(up);
    let card = h.json(&["card", "show", "--json"]);
    assert_eq!(card["card"]["name"], "Fresh Person");
    assert_eq!(card["seq"], 1);
}

#[test]
fn fetch_picks_up_an_edited_card_from_a_contact() {
    let (a, b) = (Home::new(), Home::new());
    let a_id = init(&a, "Ada");
    init(&b, "Bob");
    let up = Up::start(&a, &[]);
    b.ok(&["swap", &up.addr]);
    // Ada edits her card; the running node picks the new seq up from the book.
    a.ok(&["card", "edit", "--title", "Countess"]);
    up.wait_for("card_updated");
    let out = b.json(&["fetch", &up.addr, "--json"]);
    assert_eq!(out["seq"], 2, "{out}");
    let shown = b.json(&["contacts", "show", &a_id, "--json"]);
    assert_eq!(shown["card"]["title"], "Countess");
    assert_eq!(shown["history"], serde_json::json!([1, 2]));
    // A stranger who does not hold Ada's card is refused; nothing is stored.
    let c = Home::new();
    init(&c, "Carol");
    let out = c.run(&["fetch", &up.addr]);
    assert_eq!(
        out.status.code(),
        Some(4),
        "not a contact: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn ask_remembers_an_accepted_peer_and_contacts_are_reached_by_name() {
    let (a, b) = (Home::new(), Home::new());
    init(&a, "Ada");
    init(&b, "Bob");
    let up = Up::start(&a, &["--accept", "ask"]);
    // Bob gives up waiting: he is told how long, and that leaving is safe.
    let out = b.run(&["swap", &up.addr, "--timeout", "3"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(
        err.contains("Waiting up to 3s") && err.contains("Ctrl-C is safe"),
        "{err}"
    );
    assert!(err.contains("Swap again later"), "{err}");
    let id = up.wait_for("inbox")["inbox_id"].as_i64().expect("id");
    // Ada accepts after he left: her node cannot reach the one-shot swap any more...
    a.ok(&["accept", &id.to_string()]);
    let tried = up.wait_for("error");
    assert_eq!(tried["inbox_id"], id, "{tried}");
    // ...but when Bob swaps again she answers at once, without asking a second time.
    let text = b.ok(&["swap", &up.addr, "--json"]);
    let out: Value = serde_json::from_str(text.lines().last().unwrap_or_default()).expect("json");
    assert_eq!(text.lines().count(), 1, "{text}");
    assert_eq!(out["event"], "swapped", "{out}");
    assert_eq!(out["name"], "Ada");
    assert!(a
        .json(&["inbox", "--json"])
        .as_array()
        .expect("array")
        .is_empty());
    // Bob reaches Ada by her name or contact number: meishi dials where it reached her last.
    a.ok(&["card", "edit", "--title", "Countess"]);
    up.wait_for("card_updated");
    let out = b.json(&["fetch", "ada", "--json"]);
    assert_eq!(out["seq"], 2, "{out}");
    let out = b.json(&["swap", "1", "--json"]);
    assert_eq!(out["event"], "swapped", "{out}");
    // A contact number that does not exist is one clear line.
    let out = b.run(&["fetch", "7"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no contact #7"));
}

#[test]
fn swap_beside_a_running_up_goes_through_it_and_a_later_accept_reaches_it() {
    let (a, b) = (Home::new(), Home::new());
    init(&a, "Ada");
    let b_id = init(&b, "Bob");
    let ada = Up::start(&a, &["--accept", "ask"]);
    let bob = Up::start(&b, &[]);
    // Bob's swap acts through his running node: Ada sees one Bob, at his node's address.
    let out = b.run(&["swap", &ada.addr, "--timeout", "3"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(err.contains("through the running `meishi up`"), "{err}");
    let item = ada.wait_for("inbox");
    assert_eq!(item["peer_id"], b_id.as_str());
    // Ada accepts a while later: her node gives her card back to Bob's running node.
    a.ok(&[
        "accept",
        &item["inbox_id"].as_i64().expect("id").to_string(),
    ]);
    let got = bob.wait_for("card_received");
    assert_eq!(got["name"], "Ada", "{got}");
    drop(bob);
    assert_eq!(contacts(&b)[0]["name"], "Ada");
}
