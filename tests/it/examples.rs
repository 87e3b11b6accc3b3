//! The top-level examples run and print what they show (`cargo test` builds them beside the
//! test binaries, in `target/<profile>/examples/`).

use std::path::PathBuf;
use std::process::Command;

fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/it-<hash> -> target/<profile>/examples/<name>
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target profile folder");
    dir.join("examples").join(name)
}

fn run(name: &str) -> String {
    let path = example(name);
    assert!(
        path.exists(),
        "{} is missing: `cargo test` builds the examples first",
        path.display()
    );
    let out = Command::new(&path).output().expect("example runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{name} failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn swap_example_swaps_two_cards() {
    let out = run("swap");
    assert!(
        out.contains("Bob received the card of Ada Lovelace"),
        "{out}"
    );
    assert!(out.contains("Ada received the card of Bob"), "{out}");
}

#[test]
fn qr_example_scans_back_the_signed_card() {
    let out = run("qr_roundtrip");
    assert!(
        out.contains("scanned back: Ada Lovelace (Analytical Engines Ltd), verified, seq 1"),
        "{out}"
    );
}

#[test]
fn event_example_swaps_over_the_relay() {
    let out = run("event");
    assert!(out.contains("Ada sees Bob (Bob at the meetup)"), "{out}");
    assert!(
        out.contains("Ada and Bob swapped over the relay: Ada now holds Bob's signed card"),
        "{out}"
    );
}
