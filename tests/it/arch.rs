//! The dependency graph is the architecture (ARCHITECTURE.md#invariants): checked here over
//! `cargo metadata`, so a stray dependency fails the build instead of eroding the layering.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// Every package of the workspace with the names of its normal (non-dev) dependencies,
/// direct and transitive.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    // Only the host's dependency graph: without `--filter-platform`, `--offline` metadata wants
    // the packages of every other platform (android_system_properties, windows-sys, …), which a
    // host build never downloads, so the test failed on a fresh machine.
    let host = host_triple();
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--offline",
            "--filter-platform",
            &host,
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata is JSON");
    let names: BTreeMap<String, String> = meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap_or_default().to_owned(),
                p["name"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let nodes = meta["resolve"]["nodes"].as_array().expect("resolve graph");
    let direct: BTreeMap<String, Vec<String>> = nodes
        .iter()
        .map(|n| {
            let deps = n["deps"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|d| {
                    d["dep_kinds"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|k| k["kind"].is_null())
                })
                .map(|d| d["pkg"].as_str().unwrap_or_default().to_owned())
                .collect();
            (n["id"].as_str().unwrap_or_default().to_owned(), deps)
        })
        .collect();
    let members: Vec<String> = meta["workspace_members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| m.as_str().unwrap_or_default().to_owned())
        .collect();
    members
        .iter()
        .map(|m| {
            let mut seen = BTreeSet::new();
            let mut stack = direct.get(m).cloned().unwrap_or_default();
            while let Some(id) = stack.pop() {
                if seen.insert(id.clone()) {
                    stack.extend(direct.get(&id).cloned().unwrap_or_default());
                }
            }
            (
                names[m].clone(),
                seen.iter().map(|id| names[id].clone()).collect(),
            )
        })
        .collect()
}

/// The host target triple, as `rustc -vV` reports it.
fn host_triple() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let out = Command::new(rustc)
        .arg("-vV")
        .output()
        .expect("rustc -vV runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("rustc -vV names the host triple")
        .trim()
        .to_owned()
}

fn check_absent(g: &BTreeMap<String, BTreeSet<String>>, krate: &str, forbidden: &[&str]) {
    let Some(deps) = g.get(krate) else {
        panic!("{krate} is not a workspace member")
    };
    for f in forbidden {
        assert!(
            !deps.contains(*f),
            "{krate} must not depend on {f} (ARCHITECTURE.md#invariants)"
        );
    }
}

#[test]
fn layering_holds() {
    let g = graph();
    // The card crate is the leaf: no I/O, no async, no database, no network.
    check_absent(
        &g,
        "meishi-card",
        &[
            "tokio",
            "libp2p",
            "rusqlite",
            "meishi-store",
            "meishi-qr",
            "meishi-node",
            "meishi-event",
            "image",
        ],
    );
    // The event protocol is pure protocol: the QR crate reads join tickets with it, offline,
    // and the node and the relay bring the network stack.
    check_absent(
        &g,
        "meishi-event",
        &[
            "tokio",
            "libp2p",
            "rusqlite",
            "meishi-store",
            "meishi-node",
            "meishi-relay",
            "meishi-qr",
        ],
    );
    // Both ends of the teaser board speak it through that one crate.
    for peer in ["meishi-node", "meishi-relay", "meishi-qr"] {
        assert!(
            g[peer].contains("meishi-event"),
            "{peer} uses meishi-event's codec"
        );
    }
    // The store knows cards, not the network.
    check_absent(
        &g,
        "meishi-store",
        &[
            "tokio",
            "libp2p",
            "meishi-node",
            "meishi-qr",
            "meishi-relay",
        ],
    );
    // The node does not know the store: the binary wires node events into it.
    check_absent(
        &g,
        "meishi-node",
        &["rusqlite", "meishi-store", "meishi-qr"],
    );
    // QR handoff works offline: no network stack.
    check_absent(
        &g,
        "meishi-qr",
        &["tokio", "libp2p", "rusqlite", "meishi-store", "meishi-node"],
    );
    // The relay serves everyone's traffic and keeps no contact book (its own SQLite file holds
    // only sealed slot records and drop messages, by opaque id).
    check_absent(&g, "meishi-relay", &["meishi-store"]);
    // One key file for the CLI and the relay: file I/O over the card crate's identity, nothing
    // more, so the relay can use it without a contact book.
    check_absent(
        &g,
        "meishi-keyfile",
        &["tokio", "libp2p", "rusqlite", "meishi-store", "meishi-node"],
    );
    for user in ["meishi-store", "meishi-relay"] {
        assert!(
            g[user].contains("meishi-keyfile"),
            "{user} uses meishi-keyfile"
        );
    }
    // One token bucket for the node and the relay: plain bookkeeping, no dependencies.
    let limits = &g["meishi-limits"];
    assert!(limits.is_empty(), "meishi-limits depends on {limits:?}");
    for user in ["meishi-node", "meishi-relay"] {
        assert!(
            g[user].contains("meishi-limits"),
            "{user} uses meishi-limits"
        );
    }
    // Test support is never shipped: only tests and the xtask use it.
    for (krate, deps) in &g {
        if krate != "xtask" && krate != "meishi-testkit" {
            assert!(
                !deps.contains("meishi-testkit"),
                "{krate} depends on meishi-testkit outside its dev-dependencies"
            );
        }
    }
    // The application layer joins node, store and the QR scanner (scans become contacts the
    // same way from the CLI and the web app); it parses no command line, serves no HTTP, and
    // the relay serves everyone without it.
    check_absent(
        &g,
        "meishi-app",
        &["clap", "meishi-relay", "axum", "meishi-web"],
    );
    check_absent(&g, "meishi-relay", &["meishi-app", "meishi-web"]);
    // The web app is one more face of the application layer: no command line, no relay.
    check_absent(&g, "meishi-web", &["clap", "meishi-relay"]);
    assert!(
        g["meishi-web"].contains("meishi-app"),
        "meishi-web uses meishi-app"
    );
    assert!(g["meishi-app"].contains("meishi-node") && g["meishi-app"].contains("meishi-store"));
    // bincode stays pinned at 2.0.1 (3.0.0 is a tombstone, RUSTSEC-2025-0141).
    assert!(g["meishi-card"].contains("bincode"));
}
