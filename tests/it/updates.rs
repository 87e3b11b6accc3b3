//! Relationships over time with real processes and a relay on loopback (issue 14): an edit
//! reaches a contact who was offline, through the editor's card slot, with nobody online at the
//! same time as the one before; a revoked contact stops getting edits while the others follow
//! the editor to a new slot.

use serde_json::Value;

use crate::cli::{stderr, Home};
use crate::event::{init, json_lines, loopback_relay, Proc};

fn peer_id(h: &Home) -> String {
    h.json(&["id", "--json"])["peer_id"]
        .as_str()
        .expect("peer id")
        .to_owned()
}

/// Ada's `meishi up` on loopback; its address.
fn up(h: &Home) -> (Proc, String) {
    let p = Proc::start(
        h,
        &[
            "up",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--no-mdns",
            "--no-ui",
            "--json",
        ],
    );
    let addr = p.wait_for("listening")["addr"]
        .as_str()
        .expect("addr")
        .to_owned();
    (p, addr)
}

fn title_of(h: &Home, who: &str) -> Value {
    h.json(&["contacts", "show", who, "--json"])["card"]["title"].clone()
}

/// Ada and Bob swap once (both keep their card slot and boxes on the relay), then are never
/// online together again: Ada edits while Bob is offline; Bob's next `meishi up` has the new
/// card without any command.
#[test]
fn an_edit_reaches_a_contact_who_was_offline() {
    let relay_home = Home::new();
    let (_relay, relay) = loopback_relay(&relay_home);
    let (ada, bob) = (Home::new(), Home::new());
    init(&ada, "Ada");
    init(&bob, "Bob");
    ada.ok(&["card", "relays", &relay]);
    bob.ok(&["card", "relays", &relay]);
    let ada_id = peer_id(&ada);

    let (up_a, addr) = up(&ada);
    bob.ok(&["swap", &addr]);
    drop(up_a);

    // Ada edits alone: the edit goes to her slot on the relay, one record.
    let out = ada.run(&["card", "edit", "--title", "Countess"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("your contacts get it when they come online"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        title_of(&bob, &ada_id),
        Value::Null,
        "nothing reached Bob yet"
    );

    // Bob comes online later, Ada is away: his node reads her slot when it starts.
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
    drop(up_b);
    assert_eq!(title_of(&bob, &ada_id), "Countess");
    let shown = bob.json(&["contacts", "show", &ada_id, "--json"]);
    assert_eq!(shown["history"], serde_json::json!([1, 2]));

    // `contacts refresh` reads again: nothing new, nothing reported.
    let out = bob.run(&["contacts", "refresh", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        json_lines(&out.stdout)
            .iter()
            .all(|v| v["event"] != "contact_updated"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Ada revokes Cy while everyone is offline and edits twice: Bob follows her to her new slot
/// (a letter in his drop box tells him where), Cy keeps reading the old one, which gets nothing
/// more.
#[test]
fn a_revoked_contact_stops_getting_updates() {
    let relay_home = Home::new();
    let (_relay, relay) = loopback_relay(&relay_home);
    let (ada, bob, cy) = (Home::new(), Home::new(), Home::new());
    for (h, n) in [(&ada, "Ada"), (&bob, "Bob"), (&cy, "Cy")] {
        init(h, n);
        h.ok(&["card", "relays", &relay]);
    }
    let (ada_id, cy_id) = (peer_id(&ada), peer_id(&cy));
    let (up_a, addr) = up(&ada);
    bob.ok(&["swap", &addr]);
    cy.ok(&["swap", &addr]);
    drop(up_a);

    ada.ok(&["contacts", "revoke", &cy_id]);
    let out = ada.run(&["card", "edit", "--title", "Countess"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Told 1 contact(s) where your next cards are"),
        "only Bob holds the card now: {}",
        stderr(&out)
    );

    let refresh = |h: &Home| {
        let out = h.run(&["contacts", "refresh", "--json"]);
        assert!(out.status.success(), "{}", stderr(&out));
        json_lines(&out.stdout)
    };
    let b = refresh(&bob);
    assert!(
        b.iter()
            .any(|v| v["event"] == "contact_updated" && v["seq"] == 2),
        "{b:?}"
    );
    assert!(refresh(&cy).iter().all(|v| v["event"] != "contact_updated"));
    assert_eq!(title_of(&bob, &ada_id), "Countess");
    assert_eq!(title_of(&cy, &ada_id), Value::Null);

    // The next edit goes to the new slot only: Bob reads it there, Cy still gets nothing.
    ada.ok(&["card", "edit", "--title", "Analyst"]);
    let b = refresh(&bob);
    assert!(
        b.iter()
            .any(|v| v["event"] == "contact_updated" && v["seq"] == 3),
        "{b:?}"
    );
    assert!(refresh(&cy).iter().all(|v| v["event"] != "contact_updated"));
    assert_eq!(title_of(&bob, &ada_id), "Analyst");
    assert_eq!(
        cy.json(&["contacts", "show", &ada_id, "--json"])["history"],
        serde_json::json!([1])
    );
}
