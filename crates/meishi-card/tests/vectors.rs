//! Runs every test vector in proto-spec/vectors/card/ (proto-spec/card.md#test-vectors).
//!
//! The vectors are written by `examples/gen-vectors.rs`; this test reads the committed files, so
//! it checks the library against the bytes other implementations test against, not against a
//! freshly generated copy.

use std::collections::BTreeMap;
use std::path::PathBuf;

use meishi_card::{Replacement, SignedCard};

/// The generator writes this many cases; fewer files means some went missing.
const EXPECTED_CASES: usize = 62;

fn vector_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto-spec/vectors/card")
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd-length hex");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

/// Header lines `key: value`, in order, keys unique.
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

fn replacement_name(r: Replacement) -> &'static str {
    match r {
        Replacement::Newer => "newer",
        Replacement::Same => "same",
        Replacement::Older => "older",
        Replacement::Equivocation => "equivocation",
        Replacement::OtherKey => "other-key",
    }
}

/// Checks one vector; returns a description of the mismatch, if any.
fn check(name: &str, text: &str) -> Result<(), String> {
    let h = parse(text);
    let expect = h.get("expect").ok_or("no expect: line")?;
    h.get("comment").ok_or("no comment: line")?;
    let card = unhex(h.get("card").ok_or("no card: line")?);
    let got = SignedCard::decode(&card);
    let kind = match &got {
        Ok(_) => "success",
        Err(e) => e.kind(),
    };
    if kind != expect {
        return Err(format!("{name}: expected {expect}, got {kind} ({got:?})"));
    }
    let Ok(signed) = got else { return Ok(()) };
    if signed.as_bytes() != card {
        return Err(format!(
            "{name}: decoded card does not keep the exact bytes"
        ));
    }
    if let Some(pid) = h.get("peer-id") {
        if signed.key().peer_id() != *pid {
            return Err(format!(
                "{name}: peer id {} != {pid}",
                signed.key().peer_id()
            ));
        }
    }
    if let Some(fp) = h.get("fingerprint") {
        if signed.key().fingerprint() != *fp {
            return Err(format!(
                "{name}: fingerprint {} != {fp}",
                signed.key().fingerprint()
            ));
        }
    }
    match (h.get("stored"), h.get("replacement")) {
        (Some(stored), Some(want)) => {
            let stored = SignedCard::decode(&unhex(stored))
                .map_err(|e| format!("{name}: stored card: {e}"))?;
            let r = replacement_name(stored.compare(&signed));
            if r != want {
                return Err(format!("{name}: replacement {r}, expected {want}"));
            }
        }
        (None, None) => {}
        _ => return Err(format!("{name}: stored: and replacement: go together")),
    }
    Ok(())
}

#[test]
fn every_vector() {
    let dir = vector_dir();
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    let mut failures = Vec::new();
    let mut kinds = BTreeMap::new();
    for path in &entries {
        let name = path
            .file_name()
            .expect("file name")
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(path).expect("vector is UTF-8 text");
        if let Err(e) = check(&name, &text) {
            failures.push(e);
        }
        *kinds.entry(parse(&text)["expect"].clone()).or_insert(0) += 1;
    }
    assert!(
        failures.is_empty(),
        "{} vectors failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(
        entries.len(),
        EXPECTED_CASES,
        "{} has {} vectors, expected {EXPECTED_CASES}: regenerate with \
         `cargo run -p meishi-card --example gen-vectors -- proto-spec/vectors/card`",
        dir.display(),
        entries.len()
    );
    // Every error kind the decoder can report is covered by at least one vector.
    for k in [
        "success",
        "empty",
        "too-large",
        "unsupported-format",
        "malformed",
        "truncated",
        "trailing-bytes",
        "non-canonical",
        "empty-name",
        "field-too-long",
        "too-many-values",
        "empty-value",
        "control-character",
        "reserved-social-kind",
        "extension-order",
        "extension-too-large",
        "unknown-critical-extension",
        "invalid-key",
        "weak-key",
        "bad-signature",
    ] {
        assert!(kinds.contains_key(k), "no vector expects {k}");
    }
}

#[test]
fn a_wrong_expectation_is_caught() {
    // The checker itself must be able to fail: a valid card claimed to be a bad signature.
    let dir = vector_dir();
    let text = std::fs::read_to_string(dir.join("valid-minimal")).expect("valid-minimal vector");
    let lied = text.replace("expect: success", "expect: bad-signature");
    assert!(check("lied", &lied).is_err());
    let wrong_replacement = std::fs::read_to_string(dir.join("replace-older"))
        .expect("replace-older vector")
        .replace("replacement: older", "replacement: newer");
    assert!(check("wrong", &wrong_replacement).is_err());
}
