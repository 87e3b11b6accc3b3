//! Envelope::decode and SignedTeaser::decode on arbitrary bytes: they must never panic, and an
//! object they accept keeps its exact bytes and decodes again to the same value
//! (proto-spec/exchange.md#decoding).
#![no_main]

use libfuzzer_sys::fuzz_target;
use meishi_card::envelope::{Envelope, SignedTeaser};

fuzz_target!(|data: &[u8]| {
    if let Ok(env) = Envelope::decode(data) {
        assert_eq!(env.as_bytes(), data, "an accepted envelope keeps its exact bytes");
        let again = Envelope::decode(env.as_bytes()).expect("an accepted envelope decodes again");
        assert_eq!(again, env, "decoding is deterministic");
        assert_eq!(env.card().key(), env.giver());
    }
    if let Ok(t) = SignedTeaser::decode(data) {
        assert_eq!(t.as_bytes(), data, "an accepted teaser keeps its exact bytes");
        assert_eq!(SignedTeaser::decode(t.as_bytes()).expect("decodes again"), t);
    }
});
