//! The consent rule with real processes (proto-spec/exchange.md#consent): a stranger who
//! reaches an attendee through the relay gets nothing, `never` answers no fetch and posts no
//! teaser, a revoked contact fetches nothing.

use serde_json::Value;

use crate::cli::stderr;
use crate::cli::Home;
use crate::event::{free_port, init, loopback_relay, Proc};

const CODE: &str = "t3mq-8wzx-k4pd-r7vn-c2hy";

fn peer_id(h: &Home) -> String {
    h.json(&["id", "--json"])["peer_id"]
        .as_str()
        .expect("peer id")
        .to_owned()
}

fn names(h: &Home) -> Vec<String> {
    h.json(&["contacts", "list", "--json"])
        .as_array()
        .expect("list")
        .iter()
        .map(|c| c["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Mallory never learned the code; he learned Ada's peer id (the relay operator sees every
/// reserved peer id) and swaps with her circuit address. Ada listens (`meishi event`, `ask` by
/// default) or runs `meishi up --event` (`auto`, for attendees only): either way he gets no card
/// and his card does not enter her book; it waits in her inbox.
#[test]
fn a_stranger_through_the_relay_gets_nothing() {
    let relay_home = Home::new();
    let (_relay, raddr) = loopback_relay(&relay_home);
    let (ada, mallory) = (Home::new(), Home::new());
    init(&ada, "Ada");
    init(&mallory, "Mallory");
    let ada_id = peer_id(&ada);
    let circuit = format!("{raddr}/p2p-circuit/p2p/{ada_id}");

    for (how, args) in [
        (
            "meishi event",
            vec![
                "event",
                CODE,
                "--relay",
                &raddr,
                "--json",
                "--follow",
                "--timeout",
                "60",
            ],
        ),
        (
            "meishi up --event",
            vec![
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
        ),
    ] {
        let listening = Proc::start(&ada, &args);
        listening.wait_for("reserved");
        let out = mallory.run(&["swap", &circuit, "--timeout", "8", "--json"]);
        assert_eq!(
            out.status.code(),
            Some(5),
            "{how}: Mallory must get no card: {}",
            stderr(&out)
        );
        assert!(
            !names(&mallory).contains(&"Ada".to_owned()),
            "{how}: Ada's card reached Mallory"
        );
        let held = listening.wait_for("inbox");
        assert_eq!(held["name"], "Mallory", "{how}");
        drop(listening);
        assert!(
            !names(&ada).contains(&"Mallory".to_owned()),
            "{how}: a stranger's card entered Ada's book without her decision"
        );
    }
    // One waiting item from Mallory, however often he gave.
    let inbox = ada.json(&["inbox", "--json"]);
    assert_eq!(inbox.as_array().map(Vec::len), Some(1), "{inbox}");
    assert_eq!(inbox[0]["name"], "Mallory");
}

/// `never` means nothing leaves: Bob, who holds Ada's card from an earlier swap, fetches
/// nothing once Ada runs `up --accept never`, and her teaser is not on the event board.
#[test]
fn never_answers_no_fetch_and_posts_no_teaser() {
    let (ada, bob, cy) = (Home::new(), Home::new(), Home::new());
    init(&ada, "Ada");
    init(&bob, "Bob");
    init(&cy, "Cy");
    let up = crate::event::Proc::start(
        &ada,
        &[
            "up",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--no-mdns",
            "--json",
        ],
    );
    let addr = up.wait_for("listening")["addr"]
        .as_str()
        .expect("addr")
        .to_owned();
    bob.ok(&["swap", &addr]);
    assert!(
        bob.run(&["fetch", &addr]).status.success(),
        "a holder may fetch"
    );
    drop(up);

    let relay_home = Home::new();
    let (_relay, raddr) = loopback_relay(&relay_home);
    let port = free_port();
    let listen = format!("/ip4/127.0.0.1/tcp/{port}");
    let never = Proc::start(
        &ada,
        &[
            "up",
            "--listen",
            &listen,
            "--no-mdns",
            "--json",
            "--accept",
            "never",
            "--relay",
            &raddr,
            "--event",
            CODE,
        ],
    );
    let direct = never.wait_for("listening")["addr"]
        .as_str()
        .expect("addr")
        .to_owned();
    never.wait_for("reserved");
    let out = bob.run(&["fetch", &direct]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("only people who hold the card may fetch it"),
        "{}",
        stderr(&out)
    );

    // Cy (teaser on, `auto`) is on the board; Ada (teaser on, but `never`) is not.
    let cy_up = Proc::start(
        &cy,
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
    cy_up.wait_for("reserved");
    let out = bob.run(&["event", CODE, "--relay", &raddr, "--json", "--timeout", "6"]);
    let lines = crate::event::json_lines(&out.stdout);
    let seen: Vec<&str> = lines
        .iter()
        .filter(|l| l["event"] == "attendee")
        .filter_map(|l| l["name"].as_str())
        .collect();
    assert!(seen.contains(&"Cy"), "the board works: {lines:?}");
    assert!(!seen.contains(&"Ada"), "`never` posted a teaser: {lines:?}");
}

/// `contacts revoke` stops a holder's fetches at once in a running `up`; removing a contact
/// revokes too.
#[test]
fn a_revoked_contact_fetches_nothing() {
    let (ada, bob) = (Home::new(), Home::new());
    init(&ada, "Ada");
    init(&bob, "Bob");
    let bob_id = peer_id(&bob);
    let up = Proc::start(
        &ada,
        &[
            "up",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--no-mdns",
            "--json",
        ],
    );
    let addr = up.wait_for("listening")["addr"]
        .as_str()
        .expect("addr")
        .to_owned();
    bob.ok(&["swap", &addr]);
    assert!(bob.run(&["fetch", &addr]).status.success());

    ada.ok(&["contacts", "revoke", &bob_id]);
    // The running node re-reads the book when it changes; the card edit's `card_updated` comes
    // after the revocation was applied in the same round.
    ada.ok(&["card", "edit", "--title", "Countess"]);
    up.wait_for("card_updated");
    let out = bob.run(&["fetch", &addr]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("only people who hold the card may fetch it"),
        "a revoked holder is told nothing more than a stranger: {}",
        stderr(&out)
    );
    let shown: Value = bob.json(&["contacts", "show", &peer_id(&ada), "--json"]);
    assert_eq!(
        shown["history"],
        serde_json::json!([1]),
        "the edit did not reach Bob"
    );
}

/// The store's inbox is the only one: a card accepted while `meishi up` was stopped is answered
/// when it starts again, at the address the giver had when it gave.
#[test]
fn an_accepted_card_is_answered_after_up_restarts() {
    use std::process::Stdio;

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
            "--accept",
            "ask",
        ],
    );
    let addr = up.wait_for("listening")["addr"]
        .as_str()
        .expect("addr")
        .to_owned();
    // Bob's swap waits (and listens) for Ada's answer.
    let swap = bob
        .cmd(&["swap", &addr, "--timeout", "120"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("swap");
    let id = up.wait_for("inbox")["inbox_id"]
        .as_i64()
        .expect("inbox id")
        .to_string();
    drop(up);
    ada.ok(&["accept", &id]);
    let up = Proc::start(
        &ada,
        &[
            "up",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--no-mdns",
            "--json",
            "--accept",
            "ask",
        ],
    );
    let given = up.wait_for("card_given");
    assert_eq!(given["inbox_id"].as_i64(), id.parse().ok(), "{given}");
    let out = swap.wait_with_output().expect("swap ends");
    assert!(out.status.success(), "swap: {}", stderr(&out));
    assert!(names(&bob).contains(&"Ada".to_owned()));
    // Declining everything that is left empties the inbox.
    ada.ok(&["decline", "--all"]);
    assert_eq!(
        ada.json(&["inbox", "--json"]).as_array().map(Vec::len),
        Some(0)
    );
}
