//! vCard import on arbitrary bytes: never panics, stays within its bounds, and every card it
//! imports is valid and exports to a vCard that imports back to the same card
//! (proto-spec/card.md#vcard-mapping).
#![no_main]

use libfuzzer_sys::fuzz_target;
use meishi_card::vcard;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(results) = vcard::import_each(text) else {
        return;
    };
    assert!(results.len() <= vcard::MAX_VCF_CARDS);
    for entry in results.into_iter().flatten() {
        let imported = entry.imported;
        let card = &imported.card;
        card.validate().expect("an imported card is valid");
        let again = vcard::export(card, imported.key.as_ref(), vcard::Version::V3);
        let back = vcard::import(&again).expect("an exported card imports");
        assert_eq!(&back[0].card, card, "export then import keeps the card");
        assert_eq!(back[0].key, imported.key);
    }
});
