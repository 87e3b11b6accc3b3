//! `meishi qr` and `meishi scan` with real QR codes read by real decoders (zbar, qrencode).

use std::process::Command;

use crate::cli::Home;

fn have(tool: &str) -> bool {
    let ok = Command::new(tool).arg("--version").output().is_ok();
    if !ok {
        eprintln!(
            "SKIP: `{tool}` is not installed (apt-get install zbar-tools qrencode); CI installs it"
        );
    }
    ok
}

fn ada() -> (Home, String) {
    let h = Home::new();
    h.ok(&[
        "init",
        "--name",
        "Ada Lovelace",
        "--title",
        "Principal Engineer",
        "--org",
        "Analytical Engines Ltd",
        "--email",
        "ada@analytical.example",
        "--email",
        "ada.lovelace@personal.example",
        "--phone",
        "+44 20 7946 0958",
        "--url",
        "https://analytical.example/ada",
        "--social",
        "linkedin:ada-lovelace",
        "--social",
        "github:adalovelace",
        "--note",
        "Ask me about difference engines",
        "--tag",
        "rust",
        "--tag",
        "p2p",
    ]);
    let pid = h.json(&["id", "--json"])["peer_id"]
        .as_str()
        .expect("peer id")
        .to_owned();
    (h, pid)
}

fn contacts(h: &Home) -> Vec<serde_json::Value> {
    h.json(&["contacts", "list", "--json"])
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn signed_qr_png_scans_back_into_a_verified_contact_and_zbar_reads_it() {
    let (ada, pid) = ada();
    let png = ada.file("ada.png");
    ada.ok(&["qr", "--png", png.to_str().expect("path")]);
    let bob = Home::new();
    bob.ok(&["init", "--name", "Bob"]);
    let out = bob.json(&["scan", png.to_str().expect("path"), "--json"]);
    assert_eq!(out["verified"], true);
    assert_eq!(out["peer_id"], pid.as_str());
    let list = contacts(&bob);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["verified"], true);
    // Scanning a known card again is not an error.
    bob.ok(&["scan", png.to_str().expect("path")]);
    assert_eq!(contacts(&bob).len(), 1);

    if have("zbarimg") {
        let z = Command::new("zbarimg")
            .args(["--raw", "-q"])
            .arg(&png)
            .output()
            .expect("zbarimg");
        assert!(z.status.success(), "zbarimg could not read meishi's QR");
        let text = String::from_utf8(z.stdout).expect("text");
        assert!(text.trim_end().starts_with("MEISHI1:"), "{text}");
        // What zbar read is exactly the payload meishi made: it decodes and verifies.
        let carol = Home::new();
        carol.ok(&["init", "--name", "Carol"]);
        if have("qrencode") {
            let again = carol.file("again.png");
            let st = Command::new("qrencode")
                .args(["-o"])
                .arg(&again)
                .arg(text.trim_end())
                .status()
                .expect("qrencode");
            assert!(st.success());
            let v = carol.json(&["scan", again.to_str().expect("path"), "--json"]);
            assert_eq!(v["verified"], true);
        }
    }
}

#[test]
fn svg_and_terminal_rendering() {
    let (ada, _) = ada();
    let term = ada.ok(&["qr"]);
    assert!(
        term.contains('▀') || term.contains('▄') || term.contains('█'),
        "half blocks: {term}"
    );
    let svg = ada.file("ada.svg");
    ada.ok(&["qr", "--svg", svg.to_str().expect("path"), "--ecc", "H"]);
    let text = std::fs::read_to_string(&svg).expect("svg");
    assert!(text.contains("<svg"), "{text}");
    let bad = ada.run(&["qr", "--ecc", "X"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn plain_vcard_qr_and_foreign_encoders_scan_as_unverified_contacts() {
    let (ada, pid) = ada();
    let png = ada.file("vcard.png");
    ada.ok(&["qr", "--vcard", "--png", png.to_str().expect("path")]);
    let bob = Home::new();
    bob.ok(&["init", "--name", "Bob"]);
    let v = bob.json(&["scan", png.to_str().expect("path"), "--json"]);
    assert_eq!(v["verified"], false);
    assert_eq!(v["name"], "Ada Lovelace");
    assert_eq!(
        v["peer_id"],
        pid.as_str(),
        "the vCard carries the meishi key"
    );

    if have("qrencode") {
        let mecard = bob.file("mecard.png");
        let st = Command::new("qrencode")
            .arg("-o")
            .arg(&mecard)
            .arg("MECARD:N:Ōkubo,Zoë;TEL:+81312345678;EMAIL:zoe@example.jp;;")
            .status()
            .expect("qrencode");
        assert!(st.success());
        let v = bob.json(&["scan", mecard.to_str().expect("path"), "--json"]);
        assert_eq!(v["verified"], false);
        assert_eq!(v["name"], "Zoë Ōkubo");
        assert_eq!(contacts(&bob).len(), 2);
    }
}

#[test]
fn scans_that_fail_store_nothing() {
    let bob = Home::new();
    bob.ok(&["init", "--name", "Bob"]);
    let check = |name: &str, bytes: &[u8], needle: &str| {
        let p = bob.file(name);
        std::fs::write(&p, bytes).expect("write");
        let out = bob.run(&["scan", p.to_str().expect("path")]);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(3), "{name}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{name}: {err}");
        assert!(err.contains(needle), "{name}: {err}");
        assert!(contacts(&bob).is_empty());
    };
    check(
        "random.png",
        b"\x89PNG\r\n\x1a\nthis is not really a png",
        "",
    );
    check("text.txt", b"hello", "not a PNG or JPEG");
    if have("qrencode") {
        // A meishi payload whose signature fails: refused, nothing stored.
        let (ada, _) = ada();
        let png = ada.file("a.png");
        ada.ok(&["qr", "--png", png.to_str().expect("path")]);
        let text = String::from_utf8(
            Command::new("zbarimg")
                .args(["--raw", "-q"])
                .arg(&png)
                .output()
                .map(|o| o.stdout)
                .unwrap_or_default(),
        )
        .unwrap_or_default();
        if let Some(body) = text.trim_end().strip_prefix("MEISHI1:") {
            // Change one base45 character near the end (inside the signature).
            let mut chars: Vec<char> = body.chars().collect();
            let i = chars.len() - 5;
            chars[i] = if chars[i] == '0' { '1' } else { '0' };
            let forged = format!("MEISHI1:{}", chars.into_iter().collect::<String>());
            let p = bob.file("forged.png");
            assert!(Command::new("qrencode")
                .arg("-o")
                .arg(&p)
                .arg(&forged)
                .status()
                .expect("qrencode")
                .success());
            let out = bob.run(&["scan", p.to_str().expect("path")]);
            assert_eq!(
                out.status.code(),
                Some(3),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(contacts(&bob).is_empty());
        }
        let url = bob.file("url.png");
        assert!(Command::new("qrencode")
            .arg("-o")
            .arg(&url)
            .arg("https://example.com/")
            .status()
            .expect("qrencode")
            .success());
        let out = bob.run(&["scan", url.to_str().expect("path")]);
        assert_eq!(out.status.code(), Some(3));
        assert!(String::from_utf8_lossy(&out.stderr).contains("no contact"));
    }
}

#[test]
fn scanning_a_stranger_with_a_contacts_name_warns() {
    let (ada, _) = ada();
    let card = ada.file("ada.meishi");
    ada.ok(&[
        "card",
        "export",
        "--format",
        "meishi",
        "-o",
        card.to_str().expect("path"),
    ]);
    let mallory = Home::new();
    mallory.ok(&["init", "--name", "Ada  Lovelace"]);
    let fp = mallory.json(&["id", "--json"])["fingerprint"]
        .as_str()
        .expect("fingerprint")
        .to_owned();
    let png = mallory.file("mallory.png");
    mallory.ok(&["qr", "--png", png.to_str().expect("path")]);

    let bob = Home::new();
    bob.ok(&["init", "--name", "Bob"]);
    bob.ok(&["import", card.to_str().expect("path")]);
    // With --json, stdout stays one JSON line and the warning goes to stderr.
    let out = bob.run(&["scan", png.to_str().expect("path"), "--json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(v["result"], "added");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "Warning: \"Ada  Lovelace\" is also the name of contact #1, under a different key. \
             Check the fingerprint with them in person: this card's is {fp}."
        )),
        "{err}"
    );
    let list = contacts(&bob);
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["lookalikes"].as_array().map(Vec::len), Some(1));
    assert_eq!(list[1]["lookalikes"].as_array().map(Vec::len), Some(1));
}
