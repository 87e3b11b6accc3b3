//! SignedCard::decode on arbitrary bytes: it must never panic, and a card it accepts must be
//! exactly the input and decode again to the same card (proto-spec/card.md#verification).
#![no_main]

use libfuzzer_sys::fuzz_target;
use meishi_card::SignedCard;

fuzz_target!(|data: &[u8]| {
    if let Ok(card) = SignedCard::decode(data) {
        assert_eq!(
            card.as_bytes(),
            data,
            "an accepted card keeps its exact bytes"
        );
        let again = SignedCard::decode(card.as_bytes()).expect("an accepted card decodes again");
        assert_eq!(again, card, "decoding is deterministic");
    }
});
