//! Runs every test vector in proto-spec/vectors/exchange/ (proto-spec/exchange.md#test-vectors)
//! through the implementation, and checks the committed files are exactly what the generator
//! writes.

use std::collections::BTreeMap;
use std::path::PathBuf;

use meishi_card::PublicKey;

#[allow(
    dead_code,
    reason = "the generator's main is not used here, only its cases"
)]
#[path = "../../examples/exchange-vectors.rs"]
mod generator;

fn vector_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto-spec/vectors/exchange")
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd-length hex");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

fn parse(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let (k, v) = line.split_once(": ").expect("key: value line");
        assert!(
            out.insert(k.to_owned(), v.to_owned()).is_none(),
            "duplicate header {k}"
        );
    }
    out
}

#[test]
fn committed_vectors_pass() {
    let files: Vec<_> = std::fs::read_dir(vector_dir())
        .expect("vector dir")
        .map(|e| e.expect("entry").path())
        .collect();
    assert!(files.len() >= 40, "only {} vector files", files.len());
    for path in files {
        let h = parse(&std::fs::read_to_string(&path).expect("read"));
        let name = path.display();
        assert!(h.contains_key("comment"), "{name}: no comment");
        let expect = &h["expect"];
        let input = if let Some(e) = h.get("envelope") {
            assert_eq!(h["now"], generator::NOW.to_string(), "{name}");
            assert_eq!(h["window"], generator::WINDOW.to_string(), "{name}");
            assert_eq!(
                PublicKey::from_peer_id(&h["recipient"]),
                Ok(generator::bob().public()),
                "{name}"
            );
            let sender = PublicKey::from_peer_id(&h["sender"]).expect("sender peer id");
            generator::Input::Envelope {
                sender,
                bytes: unhex(e),
            }
        } else if let Some(t) = h.get("teaser") {
            generator::Input::Teaser(unhex(t))
        } else if let Some(r) = h.get("request") {
            generator::Input::Request(unhex(r))
        } else if let Some(r) = h.get("response") {
            generator::Input::Response(unhex(r))
        } else {
            panic!("{name}: no input line");
        };
        assert_eq!(&generator::outcome(&input), expect, "{name}");
    }
}

#[test]
fn committed_vectors_match_the_generator() {
    let rendered = generator::render().expect("generator");
    for (file, text) in &rendered {
        let path = vector_dir().join(file);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            &committed,
            text,
            "{} differs from the generator: regenerate it",
            path.display()
        );
    }
    let count = std::fs::read_dir(vector_dir()).expect("dir").count();
    assert_eq!(count, rendered.len(), "stray files in the vector folder");
}
