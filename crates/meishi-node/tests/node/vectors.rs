//! Runs every test vector in proto-spec/vectors/exchange/ (proto-spec/exchange.md#test-vectors)
//! through the implementation, and checks the committed files are exactly what the generator
//! (meishi-testkit's `exchange`, run by `cargo xtask vectors`) writes.

use meishi_card::PublicKey;
use meishi_testkit::exchange::{self as generator, Input};
use meishi_testkit::{unhex, vectors};

#[test]
fn committed_vectors_pass() {
    let files = vectors::read("exchange");
    assert!(files.len() >= 40, "only {} vector files", files.len());
    for (name, text) in files {
        let h = vectors::parse(&text);
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
            Input::Envelope {
                sender,
                bytes: unhex(e),
            }
        } else if let Some(t) = h.get("teaser") {
            Input::Teaser(unhex(t))
        } else if let Some(r) = h.get("request") {
            Input::Request(unhex(r))
        } else if let Some(r) = h.get("response") {
            Input::Response(unhex(r))
        } else {
            panic!("{name}: no input line");
        };
        assert_eq!(&generator::outcome(&input), expect, "{name}");
    }
}

#[test]
fn committed_vectors_match_the_generator() {
    let mut rendered = generator::render().expect("generator");
    rendered.sort();
    let committed = vectors::read("exchange");
    for (file, text) in &rendered {
        let found = committed.iter().find(|(name, _)| name == file);
        assert_eq!(
            found.map(|(_, t)| t),
            Some(text),
            "proto-spec/vectors/exchange/{file} differs from the generator: run `cargo xtask vectors`"
        );
    }
    assert_eq!(
        committed.len(),
        rendered.len(),
        "stray files in the vector folder"
    );
}
