//! Runs every test vector in proto-spec/vectors/qr/ (proto-spec/qr.md#test-vectors) against the
//! committed files, so the library is checked against the bytes other implementations use.

use meishi_qr::{decode_payload, encode_payload, qr_version, Ecc};
use meishi_testkit::{unhex, vectors};

/// The generator writes this many cases; fewer files means some went missing.
const EXPECTED_CASES: usize = 57;

fn check(name: &str, text: &str) -> Result<(), String> {
    let h = vectors::parse(text);
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
    let files = vectors::read("qr");
    let failures: Vec<String> = files
        .iter()
        .filter_map(|(name, text)| check(name, text).err())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        files.len(),
        EXPECTED_CASES,
        "vector count: regenerate with `cargo xtask vectors`"
    );
}
