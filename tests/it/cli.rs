//! The `meishi` binary as a user runs it: real processes, real files, real SQLite.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub struct Home {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl Home {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("home");
        Self { _dir: dir, path }
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_meishi"));
        c.arg("--home")
            .arg(&self.path)
            .args(args)
            .env_remove("MEISHI_HOME");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("meishi runs")
    }

    /// Runs and requires success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "meishi {args:?} failed ({:?}): {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    pub fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args)).expect("JSON on stdout")
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self._dir.path().join(name)
    }
}

fn ada(home: &Home) {
    home.ok(&[
        "init",
        "--name",
        "Ada Lovelace",
        "--title",
        "Principal Engineer",
        "--org",
        "Analytical Engines Ltd",
        "--email",
        "ada@analytical.example",
        "--phone",
        "+44 20 7946 0958",
        "--url",
        "https://analytical.example/ada",
        "--social",
        "github:adalovelace",
        "--social",
        "linkedin:ada-lovelace",
        "--note",
        "Ask me about difference engines",
        "--tag",
        "rust",
        "--tag",
        "p2p",
    ]);
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn init_creates_a_private_key_and_refuses_to_run_twice() {
    use std::os::unix::fs::PermissionsExt;
    let h = Home::new();
    ada(&h);
    let key = h.path.join("identity.key");
    let mode = std::fs::metadata(&key)
        .expect("key file")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let before = std::fs::read(&key).expect("key");
    assert_eq!(before.len(), 32);

    let again = h.run(&["init", "--name", "Mallory"]);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("already has an identity"),
        "{}",
        stderr(&again)
    );
    assert_eq!(
        std::fs::read(&key).expect("key"),
        before,
        "the key must be untouched"
    );

    let id = h.json(&["id", "--json"]);
    let pid = id["peer_id"].as_str().expect("peer_id");
    assert!(pid.starts_with("12D3KooW"), "{pid}");
    assert_eq!(id["fingerprint"].as_str().map(|f| f.len()), Some(35));
    // The seed is never printed.
    let all = h.ok(&["card", "show"]) + &h.ok(&["id"]);
    assert!(!all.contains(&hex(&before)));
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn uninitialized_home_says_what_to_run() {
    let h = Home::new();
    let out = h.run(&["id"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("meishi init"), "{}", stderr(&out));
    assert_eq!(stderr(&out).trim().lines().count(), 1);
}

#[test]
fn edit_bumps_seq_and_resigns() {
    let h = Home::new();
    ada(&h);
    let v1 = h.json(&["card", "show", "--json"]);
    assert_eq!(v1["seq"], 1);
    assert_eq!(v1["card"]["name"], "Ada Lovelace");
    assert_eq!(v1["card"]["socials"][0]["kind"], "github");
    h.ok(&[
        "card",
        "edit",
        "--title",
        "Chief Engineer",
        "--rm-tag",
        "p2p",
        "--email",
        "ada2@analytical.example",
        "--clear",
        "note",
    ]);
    let v2 = h.json(&["card", "show", "--json"]);
    assert_eq!(v2["seq"], 2);
    assert_eq!(v2["card"]["title"], "Chief Engineer");
    assert_eq!(v2["card"]["tags"], serde_json::json!(["rust"]));
    assert_eq!(v2["card"]["emails"].as_array().map(Vec::len), Some(2));
    assert!(v2["card"].get("note").is_none());
    // Removing what is not there is an error that changes nothing.
    let bad = h.run(&["card", "edit", "--rm-email", "nobody@example.com"]);
    assert!(!bad.status.success());
    assert_eq!(h.json(&["card", "show", "--json"])["seq"], 2);
    // Invalid values are refused before signing.
    let long = "x".repeat(400);
    let bad = h.run(&["card", "edit", "--note", &long]);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("note"), "{}", stderr(&bad));
}

#[test]
fn signed_card_export_import_is_verified_and_vcard_merges_by_key() {
    let ada_home = Home::new();
    ada(&ada_home);
    let pid = ada_home.json(&["id", "--json"])["peer_id"]
        .as_str()
        .expect("pid")
        .to_owned();
    let card_file = ada_home.file("ada.meishi");
    let vcf_file = ada_home.file("ada.vcf");
    ada_home.ok(&[
        "card",
        "export",
        "--format",
        "meishi",
        "-o",
        card_file.to_str().expect("path"),
    ]);
    ada_home.ok(&[
        "card",
        "export",
        "--format",
        "vcard",
        "-o",
        vcf_file.to_str().expect("path"),
    ]);
    let vcf = std::fs::read_to_string(&vcf_file).expect("vcf");
    assert!(vcf.starts_with("BEGIN:VCARD\r\nVERSION:3.0\r\n"), "{vcf}");
    assert!(vcf.contains(&pid), "vCard carries the meishi key");

    let bob = Home::new();
    bob.ok(&["init", "--name", "Bob"]);
    // vCard first: an unverified contact.
    bob.ok(&["import", vcf_file.to_str().expect("path")]);
    let list = bob.json(&["contacts", "list", "--json"]);
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    assert_eq!(list[0]["verified"], false);
    assert_eq!(list[0]["name"], "Ada Lovelace");
    // Then the signed card: the same contact becomes verified.
    bob.ok(&["import", card_file.to_str().expect("path")]);
    let list = bob.json(&["contacts", "list", "--json"]);
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list[0]["verified"], true);
    assert_eq!(list[0]["peer_id"], pid.as_str());
    // Importing it again is not an error.
    bob.ok(&["import", card_file.to_str().expect("path")]);
    let shown = bob.json(&["contacts", "show", &pid, "--json"]);
    assert_eq!(shown["card"]["org"], "Analytical Engines Ltd");
    let by_prefix = bob.json(&["contacts", "show", &pid[..14], "--json"]);
    assert_eq!(by_prefix["peer_id"], pid.as_str());
}

fn count(h: &Home) -> usize {
    h.json(&["contacts", "list", "--json"])
        .as_array()
        .map_or(0, Vec::len)
}

#[test]
fn bad_files_exit_3_in_one_line_and_the_good_ones_are_still_imported() {
    let ada_home = Home::new();
    ada(&ada_home);
    let good = ada_home.file("good.meishi");
    ada_home.ok(&[
        "card",
        "export",
        "--format",
        "meishi",
        "-o",
        good.to_str().expect("path"),
    ]);
    let bytes = std::fs::read(&good).expect("card");

    let bob = Home::new();
    bob.ok(&["init", "--name", "Bob"]);
    let mut bad = Vec::new();
    let check = |name: &str, content: &[u8], needle: &str| {
        let p = bob.file(name);
        std::fs::write(&p, content).expect("write");
        // Alone, a bad file is one line naming it, and nothing is stored.
        let out = bob.run(&["import", p.to_str().expect("path")]);
        assert_eq!(out.status.code(), Some(3), "{name}: {}", stderr(&out));
        let err = stderr(&out);
        assert_eq!(err.trim().lines().count(), 1, "{name}: one line: {err}");
        assert!(err.contains(name), "{name}: {err:?} names the file");
        assert!(err.contains(needle), "{name}: {err:?} lacks {needle:?}");
        assert_eq!(count(&bob), 0, "{name}: nothing stored");
        p
    };
    let mut flipped = bytes.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x01;
    bad.push(check("flipped.meishi", &flipped, "not a valid meishi card"));
    let mut sig = bytes.clone();
    let last = sig.len() - 1;
    sig[last] ^= 0x80;
    bad.push(check("badsig.meishi", &sig, "signature"));
    let mut trailing = bytes.clone();
    trailing.push(0);
    bad.push(check("trailing.meishi", &trailing, "after the signature"));
    bad.push(check(
        "truncated.meishi",
        &bytes[..bytes.len() - 10],
        "truncated",
    ));
    bad.push(check(
        "garbage.bin",
        b"\x01\xff\xff\xff\xff\xff\xff\xff\xff",
        "not a valid",
    ));
    bad.push(check("empty.meishi", b"", "empty"));
    bad.push(check(
        "broken.vcf",
        b"BEGIN:VCARD\r\nVERSION:3.0\r\nTEL:123\r\n",
        "card 1 has no END:VCARD line",
    ));
    bad.push(check("huge.vcf", &vec![b'A'; 2 << 20], "larger than"));
    let missing = bob.run(&["import", "/nonexistent/file.meishi"]);
    assert_eq!(missing.status.code(), Some(3));
    assert_eq!(count(&bob), 0);

    // The good card among them all: it is stored, each bad file gets its line, exit 3.
    let mut args = vec!["import"];
    args.extend(bad.iter().map(|p| p.to_str().expect("path")));
    args.push(good.to_str().expect("path"));
    let out = bob.run(&args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    for p in &bad {
        let name = p.file_name().and_then(|n| n.to_str()).expect("name");
        assert_eq!(
            err.lines().filter(|l| l.contains(name)).count(),
            1,
            "one line for {name}: {err}"
        );
    }
    assert!(
        err.trim_end().ends_with(&format!(
            "meishi: {} of {} files failed (above); the others were imported",
            bad.len(),
            bad.len() + 1
        )),
        "{err}"
    );
    let list = bob.json(&["contacts", "list", "--json"]);
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list[0]["name"], "Ada Lovelace");
    assert_eq!(list[0]["verified"], true);
}

/// A signed card of `name` made with the library (so that it may hold what `meishi init`
/// refuses), written next to `h`; returns the file and the card's fingerprint.
pub(crate) fn signed_card_file(h: &Home, seed: u8, name: &str) -> (PathBuf, String) {
    let id = meishi_card::Identity::from_seed(&[seed; 32]);
    let card = meishi_card::Card::new(name);
    let signed = meishi_card::SignedCard::sign(&id, 1, 1_700_000_000, &card).expect("sign");
    let file = h.file(&format!("signed-{seed}.meishi"));
    std::fs::write(&file, signed.as_bytes()).expect("write");
    (file, id.public().fingerprint())
}

#[test]
fn card_text_is_sanitized_when_shown() {
    let h = Home::new();
    h.ok(&["init", "--name", "Bob"]);
    // RLO and a zero-width space are allowed in someone's signed text but never reach the
    // terminal.
    let (file, _) = signed_card_file(&h, 7, "evil\u{202E}gnp.exe\u{200B}");
    let out = h.run(&["import", file.to_str().expect("path")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let shown = h.ok(&["contacts", "show", "1"]) + &stderr(&out);
    assert!(
        !shown.contains('\u{202E}') && !shown.contains('\u{200B}'),
        "{shown:?}"
    );
    assert!(shown.contains("evil\u{FFFD}gnp.exe\u{FFFD}"), "{shown:?}");
    // Control characters are refused outright.
    let out = h.run(&["card", "edit", "--title", "a\x1b[2Jb"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("control character"),
        "{}",
        stderr(&out)
    );
}

/// My own card refuses what would display differently than it is stored, naming the flag and
/// the character; right-to-left scripts, emoji sequences and Persian's ZWNJ pass.
#[test]
fn own_card_refuses_bidi_controls_and_invisible_characters() {
    let h = Home::new();
    let refused = |args: &[&str], expected: &str| {
        let out = h.run(args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim_end(), format!("meishi: {expected}"), "{args:?}");
    };
    refused(
        &["init", "--name", "evil\u{202E}gnp.exe"],
        "--name contains U+202E RIGHT-TO-LEFT OVERRIDE, which makes text display in a \
         different order than it is stored: remove it",
    );
    refused(
        &["init", "--name", "Ada", "--org", "\u{2067}Engines\u{2069}"],
        "--org contains U+2067 RIGHT-TO-LEFT ISOLATE, which makes text display in a different \
         order than it is stored: remove it",
    );
    assert!(!h.run(&["id"]).status.success(), "nothing was created");

    // Arabic and Hebrew text has no control characters: accepted as typed.
    h.ok(&[
        "init",
        "--name",
        "مريم الحسيني",
        "--org",
        "אלביט מערכות",
        "--note",
        "می\u{200C}خواهم Rust 👩\u{200D}💻",
    ]);
    let card = h.json(&["card", "show", "--json"]);
    assert_eq!(card["card"]["name"], "مريم الحسيني");
    assert_eq!(card["card"]["org"], "אלביט מערכות");
    assert_eq!(card["card"]["note"], "می\u{200C}خواهم Rust 👩\u{200D}💻");

    refused(
        &["card", "edit", "--title", "CEO\u{200F}"],
        "--title contains U+200F RIGHT-TO-LEFT MARK, which makes text display in a different \
         order than it is stored: remove it",
    );
    refused(
        &["card", "edit", "--tag", "rust\u{200B}"],
        "--tag contains U+200B ZERO WIDTH SPACE, which is invisible: remove it",
    );
    refused(
        &["card", "edit", "--note", "Ada\u{200D}Lovelace"],
        "--note contains U+200D ZERO WIDTH JOINER, which is invisible: remove it",
    );
    refused(
        &["card", "edit", "--social", "github:ada\u{2066}"],
        "--social contains U+2066 LEFT-TO-RIGHT ISOLATE, which makes text display in a \
         different order than it is stored: remove it",
    );
    assert_eq!(
        h.json(&["card", "show", "--json"])["seq"],
        1,
        "nothing re-signed"
    );
}

#[allow(dead_code)]
pub fn exists(p: &Path) -> bool {
    p.exists()
}

#[test]
fn contacts_notes_tags_search_follow_up_and_phone_export() {
    let ada_home = Home::new();
    ada(&ada_home);
    let card = ada_home.file("ada.meishi");
    ada_home.ok(&[
        "card",
        "export",
        "--format",
        "meishi",
        "-o",
        card.to_str().expect("path"),
    ]);
    let h = Home::new();
    h.ok(&["init", "--name", "Bob"]);
    h.ok(&["import", card.to_str().expect("path")]);
    let vcf = h.file("zoe.vcf");
    std::fs::write(
        &vcf,
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Zoë Ōkubo\r\nORG:Kōkan KK\r\nEND:VCARD\r\n",
    )
    .expect("write");
    h.ok(&["import", vcf.to_str().expect("path")]);

    h.ok(&[
        "contacts",
        "note",
        "1",
        "met at RustConf, wants the engine diagrams",
    ]);
    h.ok(&["contacts", "tag", "1", "Speaker", "rustconf"]);
    h.ok(&["contacts", "follow-up", "1", "2026-12-01"]);
    let shown = h.json(&["contacts", "show", "1", "--json"]);
    assert_eq!(shown["tags"], serde_json::json!(["rustconf", "speaker"]));
    assert_eq!(shown["follow_up"], "2026-12-01");
    assert_eq!(
        shown["notes"][0]["text"],
        "met at RustConf, wants the engine diagrams"
    );

    let found = h.json(&["contacts", "search", "diagram", "--json"]);
    assert_eq!(found.as_array().map(Vec::len), Some(1));
    assert_eq!(found[0]["name"], "Ada Lovelace");
    let found = h.json(&["contacts", "search", "kokan", "--json"]);
    assert_eq!(found[0]["name"], "Zoë Ōkubo", "accent-insensitive search");
    let none = h.json(&["contacts", "search", "\"unbalanced AND (", "--json"]);
    assert_eq!(none.as_array().map(Vec::len), Some(0));
    let bad_date = h.run(&["contacts", "follow-up", "1", "tomorrow"]);
    assert_eq!(bad_date.status.code(), Some(2));
    let missing = h.run(&["contacts", "note", "99", "x"]);
    assert_eq!(missing.status.code(), Some(4));

    let out = h.file("all.vcf");
    h.ok(&[
        "contacts",
        "export",
        "--format",
        "vcard",
        "-o",
        out.to_str().expect("path"),
    ]);
    let text = std::fs::read_to_string(&out).expect("vcf");
    assert_eq!(text.matches("BEGIN:VCARD").count(), 2, "{text}");
    assert!(text.contains("FN:Zoë Ōkubo"), "{text}");
    // The export imports back into a fresh book.
    let h2 = Home::new();
    h2.ok(&["init", "--name", "Carol"]);
    h2.ok(&["import", out.to_str().expect("path")]);
    assert_eq!(count(&h2), 2);
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
}

#[test]
fn exports_are_private_and_replace_a_symlink_instead_of_following_it() {
    use std::os::unix::fs::PermissionsExt;
    let h = Home::new();
    ada(&h);
    let path = |p: &Path| p.to_str().expect("path").to_owned();

    let card = h.file("ada.vcf");
    h.ok(&["card", "export", "-o", &path(&card)]);
    assert_eq!(mode(&card), 0o600, "card export");
    let book = h.file("book.vcf");
    h.ok(&["contacts", "export", "-o", &path(&book)]);
    assert_eq!(mode(&book), 0o600, "contacts export");
    // An existing world-readable file is replaced by a private one.
    let png = h.file("ada.png");
    std::fs::write(&png, b"old").expect("write");
    std::fs::set_permissions(&png, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    h.ok(&["qr", "--png", &path(&png)]);
    assert_eq!(mode(&png), 0o600, "qr --png over a 0644 file");
    assert!(std::fs::read(&png).expect("png").starts_with(b"\x89PNG"));
    let svg = h.file("ada.svg");
    h.ok(&["qr", "--svg", &path(&svg)]);
    assert_eq!(mode(&svg), 0o600, "qr --svg");

    // A symlink at the target (planted in a shared folder, say) is replaced, not followed: the
    // file it pointed to is untouched.
    let victim = h.file("victim.txt");
    std::fs::write(&victim, b"precious").expect("write");
    let victim_mode = mode(&victim);
    let link = h.file("link.meishi");
    std::os::unix::fs::symlink(&victim, &link).expect("symlink");
    h.ok(&["card", "export", "--format", "meishi", "-o", &path(&link)]);
    let victim_now = std::fs::read(&victim).expect("victim");
    assert_eq!(String::from_utf8_lossy(&victim_now), "precious");
    assert_eq!(mode(&victim), victim_mode);
    let meta = std::fs::symlink_metadata(&link).expect("metadata");
    assert!(meta.file_type().is_file(), "the link became a regular file");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    // What was written is the signed card: it imports as verified.
    let bob = Home::new();
    bob.ok(&["init", "--name", "Bob"]);
    bob.ok(&["import", &path(&link)]);
    assert_eq!(
        bob.json(&["contacts", "list", "--json"])[0]["verified"],
        true
    );
}

#[test]
fn a_failed_export_names_the_missing_folder_and_leaves_no_temp_file() {
    let h = Home::new();
    ada(&h);
    let listing = |dir: &Path| {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let missing = h.file("no/such/folder/ada.vcf");
    let out = h.run(&["card", "export", "-o", missing.to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    let folder = h.file("no/such/folder");
    assert!(
        err.contains(&format!("the folder {} does not exist", folder.display())),
        "{err}"
    );

    // The temp file is written, then the rename onto a non-empty folder fails: it is removed.
    let taken = h.file("taken");
    std::fs::create_dir(&taken).expect("mkdir");
    std::fs::write(taken.join("keep"), b"x").expect("write");
    let parent = taken.parent().expect("parent").to_owned();
    let before = listing(&parent);
    for args in [
        vec!["card", "export", "-o"],
        vec!["contacts", "export", "-o"],
        vec!["qr", "--png"],
    ] {
        let mut args = args;
        args.push(taken.to_str().expect("path"));
        let out = h.run(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("cannot write"), "{}", stderr(&out));
        assert_eq!(listing(&parent), before, "{args:?} left a file behind");
        assert_eq!(listing(&taken), ["keep"]);
    }
}

/// Makes a home whose card says `name` and exports it as a signed card; returns the card file
/// and the home's fingerprint.
fn card_of(name: &str) -> (Home, PathBuf, String) {
    let h = Home::new();
    h.ok(&["init", "--name", name]);
    let file = h.file("card.meishi");
    h.ok(&[
        "card",
        "export",
        "--format",
        "meishi",
        "-o",
        file.to_str().expect("path"),
    ]);
    let fp = h.json(&["id", "--json"])["fingerprint"]
        .as_str()
        .expect("fingerprint")
        .to_owned();
    (h, file, fp)
}

#[test]
fn a_stranger_with_the_same_name_is_marked_and_warned_about() {
    let (_ada, ada_card, ada_fp) = card_of("Ada Lovelace");
    // A stranger signs a card with Ada's name (different case and a zero-width space too).
    let bob = Home::new();
    bob.ok(&["init", "--name", "Bob"]);
    // `meishi init` refuses the zero-width space; a stranger's own software need not.
    let (mallory_card, mallory_fp) = signed_card_file(&bob, 66, "ada\u{200B} LOVELACE");
    let zoe = bob.file("zoe.vcf");
    std::fs::write(
        &zoe,
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Zoë Ōkubo\r\nEND:VCARD\r\n",
    )
    .expect("write");

    let first = bob.run(&["import", ada_card.to_str().expect("path")]);
    assert!(first.status.success());
    assert!(!stderr(&first).contains("Warning"), "{}", stderr(&first));
    let second = bob.run(&[
        "import",
        mallory_card.to_str().expect("path"),
        zoe.to_str().expect("path"),
    ]);
    assert!(second.status.success());
    let err = stderr(&second);
    assert!(
        err.contains(&format!(
            "Warning: \"ada\u{FFFD} LOVELACE\" is also the name of contact #1, under a different key. \
             Check the fingerprint with them in person: this card's is {mallory_fp}."
        )),
        "{err}"
    );

    // The list: both ✓, each with its own short fingerprint and a mark naming the other.
    let list = bob.ok(&["contacts", "list"]);
    let line = |needle: &str| {
        list.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?} in\n{list}"))
            .to_owned()
    };
    let (ada_short, mallory_short) = (&ada_fp[..11], &mallory_fp[..11]);
    assert_ne!(ada_short, mallory_short);
    let ada_line = line(ada_short);
    assert!(ada_line.starts_with("   1 ✓ "), "{ada_line}");
    assert!(ada_line.contains("Ada Lovelace"), "{ada_line}");
    assert!(
        ada_line.ends_with("⚠ same name as #2 (different key)"),
        "{ada_line}"
    );
    let mallory_line = line(mallory_short);
    assert!(mallory_line.starts_with("   2 ✓ "), "{mallory_line}");
    assert!(
        mallory_line.ends_with("⚠ same name as #1 (different key)"),
        "{mallory_line}"
    );
    let zoe_line = line("Zoë");
    assert!(!zoe_line.contains('⚠'), "{zoe_line}");
    assert!(
        zoe_line.starts_with("   3 ?              Zoë"),
        "{zoe_line:?}"
    );

    let json = bob.json(&["contacts", "list", "--json"]);
    let by_id = |id: i64| {
        json.as_array()
            .expect("array")
            .iter()
            .find(|c| c["id"] == id)
            .cloned()
            .expect("contact")
    };
    assert_eq!(by_id(1)["fingerprint"], ada_fp.as_str());
    assert_eq!(by_id(1)["lookalikes"], serde_json::json!([2]));
    assert_eq!(by_id(2)["fingerprint"], mallory_fp.as_str());
    assert_eq!(by_id(2)["lookalikes"], serde_json::json!([1]));
    assert_eq!(by_id(3)["fingerprint"], Value::Null);
    assert_eq!(by_id(3)["lookalikes"], serde_json::json!([]));

    let shown = bob.ok(&["contacts", "show", "1"]);
    assert!(
        shown.contains(&format!(
            "Warning: contact #2 is also called \"ada\u{FFFD} LOVELACE\" but has a different key \
             (fingerprint {mallory_fp}). Check the fingerprint with them in person."
        )),
        "{shown}"
    );
    assert_eq!(
        bob.json(&["contacts", "show", "2", "--json"])["lookalikes"],
        serde_json::json!([1])
    );
    assert!(!bob.ok(&["contacts", "show", "3"]).contains("Warning"));
}
