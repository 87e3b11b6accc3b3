//! `meishi import` of several files and of real address-book exports: each file and each card
//! on its own, the good ones stored, the bad ones named.

use std::path::PathBuf;

use crate::cli::{stderr, Home};

/// An address-book export from `crates/meishi-card/tests/fixtures/vcf/`.
fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("crates/meishi-card/tests/fixtures/vcf")
        .join(name)
}

fn names(h: &Home) -> Vec<String> {
    let list = h.json(&["contacts", "list", "--json"]);
    let mut names: Vec<String> = list
        .as_array()
        .expect("array")
        .iter()
        .map(|c| c["name"].as_str().expect("name").to_owned())
        .collect();
    names.sort();
    names
}

fn write(h: &Home, name: &str, content: &[u8]) -> String {
    let p = h.file(name);
    std::fs::write(&p, content).expect("write");
    p.to_str().expect("utf-8").to_owned()
}

/// `import a.vcf photo.png b.vcf`: both vCards are stored, the photo is named with what to do
/// instead, and the exit code says a file failed.
#[test]
fn several_files_are_imported_each_on_its_own() {
    let h = Home::new();
    h.ok(&["init", "--name", "Me"]);
    let a = write(
        &h,
        "a.vcf",
        b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ada Lovelace\r\nEND:VCARD\r\n",
    );
    let photo = write(&h, "photo.png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR");
    let b = write(
        &h,
        "b.vcf",
        b"BEGIN:VCARD\nVERSION:3.0\nFN:Grace Hopper\nEND:VCARD\n",
    );
    let out = h.run(&["import", &a, &photo, &b]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert_eq!(names(&h), ["Ada Lovelace", "Grace Hopper"], "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines,
        [
            format!("{a}: Ada Lovelace (unverified): added").as_str(),
            &format!("{b}: Grace Hopper (unverified): added"),
            &format!(
                "{photo}: this is an image: read the QR code in it with `meishi scan {photo}`"
            ),
            "meishi: 1 of 3 files failed (above); the others were imported",
        ],
        "{err}"
    );
    // Other image formats say what `meishi scan` reads.
    let heic = write(&h, "IMG_0001.HEIC", b"\0\0\0\x18ftypheic\0\0\0\0mif1heic");
    let out = h.run(&["import", &heic]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("this is a HEIC image, and `meishi scan` reads PNG and JPEG"),
        "{}",
        stderr(&out)
    );
}

/// A Google Contacts export holds cards with only an email and one with nothing at all: the
/// first are named by their email, the last is skipped with its reason, and the import succeeds.
#[test]
fn a_contacts_export_imports_every_card_it_can() {
    let h = Home::new();
    h.ok(&["init", "--name", "Me"]);
    let file = fixture("google-contacts.vcf");
    let f = file.to_str().expect("utf-8");
    let out = h.run(&["import", f]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(
        names(&h),
        [
            "Ann Example",
            "Chidi Okafor",
            "bob.builder@example.net",
            "orders@shop.example"
        ]
    );
    for line in [
        format!("{f}: orders@shop.example (unverified, named by its email): added"),
        format!(
            "{f}: skipped card 4 has no name, organization, email or phone number: there is nothing to import"
        ),
        format!("{f}: 4 cards imported, 1 skipped (reasons above)"),
    ] {
        assert!(err.lines().any(|l| l == line), "no line {line:?} in:\n{err}");
    }
    let shown = h.json(&["contacts", "show", "orders@shop.example", "--json"]);
    assert_eq!(
        shown["card"]["emails"],
        serde_json::json!(["orders@shop.example"])
    );

    // Every client's export imports: Android's nameless cards are named by organization and
    // by phone number.
    for (file, count) in [
        ("apple-icloud.vcf", 3),
        ("outlook-exchange.vcf", 2),
        ("nextcloud-davx5.vcf", 2),
        ("android-2.1.vcf", 4),
        ("thunderbird.vcf", 2),
    ] {
        let h = Home::new();
        h.ok(&["init", "--name", "Me"]);
        let out = h.run(&["import", fixture(file).to_str().expect("utf-8")]);
        assert!(out.status.success(), "{file}: {}", stderr(&out));
        assert_eq!(names(&h).len(), count, "{file}: {}", stderr(&out));
    }
}

/// A file in which no card can be imported fails, naming each card's reason; a good file next
/// to it is still imported.
#[test]
fn a_file_with_no_importable_card_fails() {
    let h = Home::new();
    h.ok(&["init", "--name", "Me"]);
    let empty = write(
        &h,
        "empty.vcf",
        b"BEGIN:VCARD\nNOTE:x\nEND:VCARD\nBEGIN:VCARD\nVERSION:9.9\nFN:y\nEND:VCARD\n",
    );
    let good = write(&h, "good.vcf", b"BEGIN:VCARD\nFN:Ada\nEND:VCARD\n");
    let out = h.run(&["import", &empty, &good]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert_eq!(names(&h), ["Ada"]);
    for line in [
        format!("{empty}: skipped card 1 has no name, organization, email or phone number: there is nothing to import"),
        format!("{empty}: skipped card 2: vCard version \"9.9\" is not supported (2.1, 3.0 and 4.0 are)"),
        format!("{empty}: none of its 2 cards could be imported (reasons above)"),
        "meishi: 1 of 2 files failed (above); the others were imported".to_owned(),
    ] {
        assert!(err.lines().any(|l| l == line), "no line {line:?} in:\n{err}");
    }
}
