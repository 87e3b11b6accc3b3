//! Runs every test vector in proto-spec/vectors/card/ (proto-spec/card.md#test-vectors).
//!
//! The vectors are written by `cargo xtask vectors` (meishi-testkit's `card` generator); this
//! test reads the committed files, so it checks the library against the bytes other
//! implementations test against, not against a freshly generated copy.

use std::collections::BTreeMap;

use meishi_card::{Replacement, SignedCard};
use meishi_testkit::{unhex, vectors};

/// The generator writes this many cases; fewer files means some went missing.
const EXPECTED_CASES: usize = 62;

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
    let h = vectors::parse(text);
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
    let files = vectors::read("card");
    let mut failures = Vec::new();
    let mut kinds = BTreeMap::new();
    for (name, text) in &files {
        if let Err(e) = check(name, text) {
            failures.push(e);
        }
        *kinds
            .entry(vectors::parse(text)["expect"].clone())
            .or_insert(0) += 1;
    }
    assert!(
        failures.is_empty(),
        "{} vectors failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(
        files.len(),
        EXPECTED_CASES,
        "proto-spec/vectors/card has {} vectors, expected {EXPECTED_CASES}: regenerate with \
         `cargo xtask vectors`",
        files.len()
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
    let dir = vectors::dir("card");
    let text = std::fs::read_to_string(dir.join("valid-minimal")).expect("valid-minimal vector");
    let lied = text.replace("expect: success", "expect: bad-signature");
    assert!(check("lied", &lied).is_err());
    let wrong_replacement = std::fs::read_to_string(dir.join("replace-older"))
        .expect("replace-older vector")
        .replace("replacement: older", "replacement: newer");
    assert!(check("wrong", &wrong_replacement).is_err());
}
