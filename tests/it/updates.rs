//! Relationships over time with real processes and a relay on loopback (issue 14): an edit
//! reaches a contact who was offline, through the editor's card slot, with nobody online at the
//! same time as the one before; a revoked contact stops getting edits while the others follow
//! the editor to a new slot.

use serde_json::Value;

use crate::cli::{stderr, Home};
use crate::event::{init, json_lines, loopback_relay, Proc};

pub(crate) fn peer_id(h: &Home) -> String {
    h.json(&["id", "--json"])["peer_id"]
        .as_str()
        .expect("peer id")
        .to_owned()
}

/// `h`'s `meishi up` on loopback; its address.
pub(crate) fn up(h: &Home) -> (Proc, String) {
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

/// `contacts refresh` for `h`: its JSON lines.
pub(crate) fn refresh(h: &Home) -> Vec<Value> {
    let out = h.run(&["contacts", "refresh", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    json_lines(&out.stdout)
}

pub(crate) fn find<'a>(lines: &'a [Value], event: &str) -> &'a Value {
    lines
        .iter()
        .find(|v| v["event"] == event)
        .unwrap_or_else(|| panic!("no {event} in {lines:?}"))
}

/// Carol, Ada and Bob keep their boxes on one relay; Carol swapped with each. Returns the homes
/// and the relay (kept alive).
pub(crate) fn carol_knows_ada_and_bob(extra: &[&str]) -> (Proc, Home, Home, Home, Vec<Home>) {
    let relay_home = Home::new();
    let (relay, addr) = loopback_relay(&relay_home);
    let (carol, ada, bob) = (Home::new(), Home::new(), Home::new());
    let mut others = Vec::new();
    for (h, n) in [(&carol, "Carol"), (&ada, "Ada"), (&bob, "Bob")] {
        init(h, n);
        h.ok(&["card", "relays", &addr]);
    }
    for n in extra {
        let h = Home::new();
        init(&h, n);
        h.ok(&["card", "relays", &addr]);
        others.push(h);
    }
    let (up_c, c_addr) = up(&carol);
    for h in [&ada, &bob].into_iter().chain(others.iter()) {
        h.ok(&["swap", &c_addr]);
    }
    drop(up_c);
    drop(relay_home);
    (relay, carol, ada, bob, others)
}

/// Carol introduces Ada and Bob; Bob is asked first, Ada once he accepted; each accepts at
/// another time, with nobody online at the same time as the one before; both end with the
/// other's card, marked as introduced by Carol and not met in person.
#[test]
fn an_introduction_both_accept_at_different_times() {
    let (_relay, carol, ada, bob, _) = carol_knows_ada_and_bob(&[]);
    let (ada_id, bob_id) = (peer_id(&ada), peer_id(&bob));
    let out = carol.run(&[
        "introduce",
        "Ada",
        "Bob",
        "--note",
        "You both write compilers",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json_lines(&out.stdout)[0]["event"], "intro_sent");

    // Ada is not asked before Bob accepts.
    assert!(refresh(&ada).iter().all(|v| v["event"] != "intro_asked"));
    let asked = refresh(&bob);
    let asked = find(&asked, "intro_asked");
    assert_eq!(asked["by"], "Carol");
    assert_eq!(asked["name"], "Ada");
    assert_eq!(asked["note"], "You both write compilers");
    let id = asked["intro_id"].as_i64().expect("id").to_string();
    let out = bob.run(&["intros", "accept", &id, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json_lines(&out.stdout)[0]["accepted"], true);

    let step = refresh(&carol);
    assert_eq!(find(&step, "intro_step")["state"], "asking_a");
    let asked = refresh(&ada);
    let asked = find(&asked, "intro_asked");
    assert_eq!(asked["name"], "Bob");
    let id = asked["intro_id"].as_i64().expect("id").to_string();
    ada.ok(&["intros", "accept", &id]);

    assert_eq!(find(&refresh(&carol), "intro_step")["state"], "done");
    let got = refresh(&bob);
    assert_eq!(find(&got, "introduced")["name"], "Ada");
    let got = refresh(&ada);
    assert_eq!(find(&got, "introduced")["by"], "Carol");
    for (h, other, name) in [(&ada, &bob_id, "Bob"), (&bob, &ada_id, "Ada")] {
        let shown = h.json(&["contacts", "show", other, "--json"]);
        assert_eq!(shown["name"], name);
        assert_eq!(shown["verified"], true, "signed by its own key");
        assert_eq!(shown["introduced_by"], "Carol");
        assert_eq!(shown["met_in_person"], false);
        let human = h.ok(&["contacts", "show", other]);
        assert!(human.contains("by Carol"), "{human}");
        assert!(human.contains("not met in person yet"), "{human}");
    }
    // Each now holds the other's links: a later edit reaches them like any contact's.
    ada.ok(&["card", "edit", "--title", "Compiler writer"]);
    let got = refresh(&bob);
    assert_eq!(find(&got, "contact_updated")["name"], "Ada");
}

/// A decline goes to the introducer alone: when Bob declines, Ada is never asked; when Bob
/// accepts and Ada declines, Bob only ever sees his own acceptance.
#[test]
fn a_decline_is_never_visible_to_the_other_side() {
    let (_relay, carol, ada, bob, others) = carol_knows_ada_and_bob(&["Dan"]);
    let dan = &others[0];

    // Bob (asked first) declines: Ada hears nothing of it.
    carol.ok(&["introduce", "Ada", "Bob"]);
    let asked = refresh(&bob);
    let id = find(&asked, "intro_asked")["intro_id"].to_string();
    bob.ok(&["intros", "decline", &id]);
    assert_eq!(find(&refresh(&carol), "intro_step")["state"], "declined");
    assert!(refresh(&ada)
        .iter()
        .all(|v| !v["event"].as_str().unwrap_or_default().starts_with("intro")));
    let listed = ada.json(&["intros", "--json"]);
    assert_eq!(listed["received"], serde_json::json!([]), "{listed}");

    // Dan (asked first) accepts, Ada declines: Dan's side stays "accepted", nothing more.
    carol.ok(&["introduce", "Ada", "Dan"]);
    let id = find(&refresh(dan), "intro_asked")["intro_id"].to_string();
    dan.ok(&["intros", "accept", &id]);
    refresh(&carol);
    let id = find(&refresh(&ada), "intro_asked")["intro_id"].to_string();
    ada.ok(&["intros", "decline", &id]);
    assert_eq!(find(&refresh(&carol), "intro_step")["state"], "declined");
    let seen = refresh(dan);
    assert!(seen.is_empty(), "Dan learns nothing: {seen:?}");
    let listed = dan.json(&["intros", "--json"]);
    assert_eq!(listed["received"][0]["state"], "accepted", "{listed}");
    assert_eq!(
        dan.json(&["contacts", "list", "--json"])
            .as_array()
            .expect("list")
            .len(),
        1,
        "Dan has only Carol"
    );
}

/// `introductions never`: every ask is declined at once, to the introducer alone.
#[test]
fn introductions_never_declines_at_once() {
    let (_relay, carol, ada, bob, _) = carol_knows_ada_and_bob(&[]);
    bob.ok(&["card", "edit", "--introductions", "never"]);
    carol.ok(&["introduce", "Ada", "Bob"]);
    let got = refresh(&bob);
    assert_eq!(find(&got, "intro_answered")["accepted"], false);
    assert_eq!(find(&refresh(&carol), "intro_step")["state"], "declined");
    assert!(refresh(&ada).iter().all(|v| v["event"] != "intro_asked"));
}

/// Without any slot, two contacts who meet again (here: both at an event on a relay) compare
/// their cards: Bob's node asks Ada's for hers and keeps the newer one.
#[test]
fn contacts_who_meet_again_compare_their_cards() {
    const CODE: &str = "v6nq-3kzp-w8rt-h2md-y5cx";
    let relay_home = Home::new();
    let (_relay, relay) = loopback_relay(&relay_home);
    let (ada, bob) = (Home::new(), Home::new());
    init(&ada, "Ada");
    init(&bob, "Bob");
    let (up_a, addr) = up(&ada);
    bob.ok(&["swap", &addr]);
    drop(up_a);
    // No relay keeps Ada's card: the edit waits for the next time they meet.
    ada.ok(&["card", "edit", "--title", "Countess"]);

    let at_event = |h: &Home| {
        Proc::start(
            h,
            &[
                "up",
                "--listen",
                "/ip4/127.0.0.1/tcp/0",
                "--no-mdns",
                "--no-ui",
                "--json",
                "--relay",
                &relay,
                "--event",
                CODE,
            ],
        )
    };
    let _up_a = at_event(&ada);
    let up_b = at_event(&bob);
    let got = up_b.wait_for("contact_updated");
    assert_eq!(got["name"], "Ada");
    assert_eq!(got["seq"], 2);
}

/// Ada chooses her first relay while her `meishi up` runs (as the web app's Me page does): the
/// running node publishes her card there by itself, and the gives it makes from then on carry
/// her new slot, so a contact who swaps with that same run follows her later edits.
#[test]
fn relays_chosen_while_up_runs_reach_the_next_give() {
    let relay_home = Home::new();
    let (_relay, relay) = loopback_relay(&relay_home);
    let (ada, bob) = (Home::new(), Home::new());
    init(&ada, "Ada");
    init(&bob, "Bob");
    bob.ok(&["card", "relays", &relay]);
    let ada_id = peer_id(&ada);
    let (up_a, addr) = up(&ada);
    let out = ada.run(&["card", "relays", &relay]);
    assert!(out.status.success(), "{}", stderr(&out));
    let published = up_a.wait_for("published");
    assert_eq!(published["seq"], 1, "{published}");
    bob.ok(&["swap", &addr]);
    drop(up_a);

    ada.ok(&["card", "edit", "--title", "Countess"]);
    let got = refresh(&bob);
    assert_eq!(find(&got, "contact_updated")["seq"], 2, "{got:?}");
    assert_eq!(title_of(&bob, &ada_id), "Countess");
}

/// Beside a running `meishi up`, `contacts refresh` and `intros accept` go through it (one node
/// per person): the running node reads the slots and reports what it found, and the command
/// prints the same.
#[test]
fn refresh_and_intros_beside_up_go_through_it() {
    let (_relay, carol, _ada, bob, _) = carol_knows_ada_and_bob(&[]);
    let carol_id = peer_id(&carol);
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
    up_b.wait_for("listening");
    // Bob's up has caught up at its start; Carol edits afterwards.
    carol.ok(&["card", "edit", "--title", "Connector"]);
    carol.ok(&["introduce", "Ada", "Bob"]);
    let got = refresh(&bob);
    assert_eq!(find(&got, "contact_updated")["name"], "Carol");
    let asked = find(&got, "intro_asked")["intro_id"].to_string();
    // The running node did it: its own output has the same reports.
    let seen = up_b.wait_for_each(&["contact_updated", "intro_asked"]);
    assert_eq!(seen[0]["name"], "Carol");
    assert_eq!(title_of(&bob, &carol_id), "Connector");

    let out = bob.run(&["intros", "accept", &asked, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json_lines(&out.stdout)[0]["accepted"], true);
    assert_eq!(up_b.wait_for("intro_answered")["accepted"], true);
    assert_eq!(find(&refresh(&carol), "intro_step")["state"], "asking_a");
    // An id that does not exist: one line, through the running node too.
    let out = bob.run(&["intros", "decline", "999"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no introduction #999"),
        "{}",
        stderr(&out)
    );
}
