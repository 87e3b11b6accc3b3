//! `meishi qr` and `meishi scan` with real QR codes read by real decoders (zbar, qrencode).

use std::process::Command;

use crate::cli::Home;

fn have(tool: &str) -> bool {
    let ok = Command::new(tool).arg("--version").output().is_ok();
    if !ok {
        assert!(
            std::env::var_os("MEISHI_REQUIRE_ALL").is_none(),
            "MEISHI_REQUIRE_ALL: `{tool}` is not installed (apt-get install zbar-tools qrencode)"
        );
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

/// Runs `meishi <args>` on a pseudo-terminal of `cols`×`rows` (script(1) from util-linux);
/// returns the exit code and everything the terminal showed, stdout and stderr together.
fn in_terminal(h: &Home, cols: usize, rows: usize, args: &str) -> (Option<i32>, String) {
    let cmd = format!(
        "stty rows {rows} cols {cols}; {} --home '{}' {args}",
        env!("CARGO_BIN_EXE_meishi"),
        h.path.display()
    );
    let out = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env_remove("MEISHI_HOME")
        .output()
        .expect("script runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).replace('\r', ""),
    )
}

/// The lines of a terminal QR code (black on white, see `meishi_qr::render_terminal`) in
/// what a terminal showed, without their colour codes.
fn qr_lines(shown: &str) -> Vec<String> {
    shown
        .lines()
        .filter_map(|l| l.strip_prefix("\x1b[38;5;16;48;5;231m"))
        .map(|l| l.trim_end_matches("\x1b[0m").to_owned())
        .collect()
}

/// What zbar reads in half-block lines drawn as pixels on a dark background (a dark terminal
/// theme around the code): the light quiet zone must be the code's own.
fn zbar_reads(lines: &[String]) -> String {
    const PX: usize = 4;
    const DARK_BORDER: usize = 6;
    let mut modules: Vec<Vec<bool>> = Vec::new();
    for l in lines {
        let (top, bottom) = l
            .chars()
            .map(|c| match c {
                '█' => (true, true),
                '▀' => (true, false),
                '▄' => (false, true),
                _ => (false, false),
            })
            .unzip();
        modules.push(top);
        modules.push(bottom);
    }
    let (w, h) = (
        modules[0].len() + 2 * DARK_BORDER,
        modules.len() + 2 * DARK_BORDER,
    );
    let dark = |x: usize, y: usize| {
        let (mx, my) = (x.wrapping_sub(DARK_BORDER), y.wrapping_sub(DARK_BORDER));
        modules
            .get(my)
            .and_then(|r| r.get(mx))
            .copied()
            .unwrap_or(true)
    };
    let mut pgm = format!("P5\n{} {}\n255\n", w * PX, h * PX).into_bytes();
    for y in 0..h * PX {
        for x in 0..w * PX {
            pgm.push(if dark(x / PX, y / PX) { 0 } else { 255 });
        }
    }
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("terminal.pgm");
    std::fs::write(&file, pgm).expect("write");
    let z = Command::new("zbarimg")
        .args(["--raw", "-q"])
        .arg(&file)
        .output()
        .expect("zbarimg");
    assert!(z.status.success(), "zbarimg could not read the terminal QR");
    String::from_utf8_lossy(&z.stdout).trim_end().to_owned()
}

/// Issue: in an 80×24 terminal `meishi qr` scrolled its top finder patterns away. On a
/// terminal it now prints the standard rendering if it fits, else one with a 2-module quiet
/// zone, else refuses with the size it needs; piped, it prints the standard one as before.
#[test]
fn qr_on_a_terminal_fits_it_or_says_what_it_needs() {
    if !have("script") {
        return;
    }
    let (ada, _) = ada();
    let piped = qr_lines(&ada.ok(&["qr"]));
    let (full_lines, full_cols) = (piped.len(), piped[0].chars().count());
    let compact_cols = full_cols - 4;
    let compact_lines = compact_cols.div_ceil(2);
    // A line stays free for the prompt.
    let (code, shown) = in_terminal(&ada, 80, full_lines + 1, "qr");
    assert_eq!(code, Some(0), "{shown}");
    assert_eq!(qr_lines(&shown), piped, "room for the standard rendering");

    let (code, shown) = in_terminal(&ada, 80, full_lines, "qr");
    assert_eq!(code, Some(0), "{shown}");
    let compact = qr_lines(&shown);
    assert_eq!(compact.len(), compact_lines, "{shown}");
    assert!(compact.iter().all(|l| l.chars().count() == compact_cols));
    if have("zbarimg") {
        assert!(zbar_reads(&piped).starts_with("MEISHI1:"));
        assert_eq!(zbar_reads(&compact), zbar_reads(&piped));
    }

    let refusal = |cols: usize, rows: usize| {
        let (code, shown) = in_terminal(&ada, cols, rows, "qr");
        assert_eq!(code, Some(1), "{cols}×{rows}: {shown}");
        assert!(qr_lines(&shown).is_empty(), "{cols}×{rows}: {shown}");
        assert_eq!(
            shown.trim(),
            format!(
                "meishi: the QR needs {compact_cols}×{} characters; this terminal is {cols}×{rows}: \
                 enlarge the terminal or use `meishi qr --png FILE`",
                compact_lines + 1
            ),
            "one line"
        );
    };
    refusal(80, 24);
    refusal(80, compact_lines);
    refusal(compact_cols - 1, 100);
    let (code, shown) = in_terminal(&ada, 80, 24, "qr --vcard");
    assert_eq!(code, Some(1), "{shown}");
    assert!(
        shown.contains("use `meishi qr --vcard --png FILE`"),
        "{shown}"
    );
}

/// Width and height of a PNG, from its header.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[12..16], b"IHDR");
    let be = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    (be(16), be(20))
}

/// A PNG of my card carries my name under the code (or my fingerprint when the built-in font
/// cannot draw my name) and still scans with zbar and with meishi.
#[test]
fn qr_png_is_captioned_and_still_scans() {
    let (ada, _) = ada();
    for (flags, prefix) in [(&[][..], "MEISHI1:"), (&["--vcard"][..], "BEGIN:VCARD")] {
        let png = ada.file("captioned.png");
        let png_s = png.to_str().expect("path");
        let out = ada.run(&[&["qr", "--png", png_s], flags].concat());
        assert!(out.status.success(), "{}", crate::cli::stderr(&out));
        assert!(
            crate::cli::stderr(&out)
                .contains(&format!("Wrote {png_s}, captioned \"Ada Lovelace\"")),
            "{}",
            crate::cli::stderr(&out)
        );
        let bytes = std::fs::read(&png).expect("png");
        let (w, h) = png_size(&bytes);
        assert!(
            h > w + w / 10,
            "a caption strip under the square code: {w}×{h}"
        );
        if have("zbarimg") {
            let z = Command::new("zbarimg")
                .args(["--raw", "-q"])
                .arg(&png)
                .output()
                .expect("zbarimg");
            assert!(
                z.status.success(),
                "zbarimg could not read the captioned QR"
            );
            assert!(String::from_utf8_lossy(&z.stdout).starts_with(prefix));
        }
        let bob = Home::new();
        bob.ok(&["init", "--name", "Bob"]);
        assert_eq!(bob.json(&["scan", png_s, "--json"])["name"], "Ada Lovelace");
    }

    let zoe = Home::new();
    zoe.ok(&["init", "--name", "Zoë Ōkubo"]);
    let fp = zoe.json(&["id", "--json"])["fingerprint"]
        .as_str()
        .expect("fingerprint")
        .to_owned();
    let png = zoe.file("zoe.png");
    let out = zoe.run(&["qr", "--png", png.to_str().expect("path")]);
    let err = crate::cli::stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains(&format!("captioned \"{fp}\"")), "{err}");
    assert!(err.contains("no letters for your name"), "{err}");
}

/// Flag values `meishi qr` cannot use are usage errors: exit code 2, like clap's own.
#[test]
fn qr_flag_misuse_exits_with_the_usage_code() {
    let (ada, _) = ada();
    let png = ada.file("x.png");
    let svg = ada.file("x.svg");
    let (png_s, svg_s) = (png.to_str().expect("path"), svg.to_str().expect("path"));
    for args in [
        vec!["qr", "--png", png_s, "--scale", "0"],
        vec!["qr", "--png", png_s, "--scale", "33"],
        vec!["qr", "--scale", "4"],
        vec!["qr", "--svg", svg_s, "--scale", "4"],
        vec!["qr", "--png", png_s, "--svg", svg_s],
    ] {
        let out = ada.run(&args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            crate::cli::stderr(&out)
        );
        assert!(!png.exists() && !svg.exists(), "{args:?} wrote a file");
    }
}
