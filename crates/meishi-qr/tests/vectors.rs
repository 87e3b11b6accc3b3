//! Runs every test vector in proto-spec/vectors/qr/ (proto-spec/qr.md#test-vectors) against the
//! committed files, so the library is checked against the bytes other implementations use.

use std::collections::BTreeMap;
use std::path::PathBuf;

use meishi_qr::{decode_payload, encode_payload, qr_version, Ecc};

/// The generator writes this many cases; fewer files means some went missing.
const EXPECTED_CASES: usize = 45;

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

fn parse(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let (k, v) = line
            .split_once(": ")
            .or_else(|| line.strip_suffix(':').map(|k| (k, "")))
            .expect("key: value line");
        assert!(
            out.insert(k.to_owned(), v.to_owned()).is_none(),
            "duplicate header {k}"
        );
    }
    out
}

fn check(name: &str, text: &str) -> Result<(), String> {
    let h = parse(text);
    let expect = h.get("expect").ok_or("no expect: line")?;
    h.get("comment").ok_or("no comment: line")?;
    let payload = h.get("payload").ok_or("no payload: line")?;
    let got = decode_payload(payload);
    let kind = match &got {
        Ok(_) => "success",
        Err(e) => e.kind(),
    };
    if kind != expect {
        return Err(format!("{name}: expected {expect}, got {kind} ({got:?})"));
    }
    let Ok(card) = got else { return Ok(()) };
    let want = unhex(h.get("card").ok_or("no card: line")?);
    if card.as_bytes() != want {
        return Err(format!("{name}: decoded card bytes differ from card:"));
    }
    let v = qr_version(payload, Ecc::M)
        .map(|v| v.to_string())
        .unwrap_or_default();
    if Some(&v) != h.get("version-m") {
        return Err(format!("{name}: version at M is {v}"));
    }
    // Our writer produces the same text, except for the deliberately foreign deflate stream.
    if name != "valid-deflate-stored-block"
        && encode_payload(&card).as_deref() != Ok(payload.as_str())
    {
        return Err(format!("{name}: re-encoding gives a different payload"));
    }
    Ok(())
}

#[test]
fn vectors() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto-spec/vectors/qr");
    let mut failures = Vec::new();
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("vector dir") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(&path).expect("read vector");
        n += 1;
        if let Err(e) = check(&name, &text) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(n, EXPECTED_CASES, "vector count");
}
