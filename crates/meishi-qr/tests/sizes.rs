//! The size goal of proto-spec/qr.md#limits on the reference cards in testdata/: a card's signed
//! payload needs no larger a QR code at ECC M than the unsigned MeCard of the same content, in
//! every script we ship a reference card for, and the English card does not grow.

use meishi_card::{Card, Identity, SignedCard};
use meishi_qr::{
    decode_payload, encode_binary, encode_payload, mecard_text, qr_version, qr_version_byte_mode,
    Ecc, FLAG_COMPACT, FLAG_DEFLATE,
};

/// (file, flag the payload is expected to use). The `2` cards were written after the compact
/// dictionary was fixed.
const CARDS: [(&str, &str, u8); 11] = [
    ("ada", include_str!("../testdata/ada.json"), FLAG_DEFLATE),
    ("ja", include_str!("../testdata/ja.json"), FLAG_COMPACT),
    ("zh", include_str!("../testdata/zh.json"), FLAG_COMPACT),
    ("ko", include_str!("../testdata/ko.json"), FLAG_COMPACT),
    ("ar", include_str!("../testdata/ar.json"), FLAG_COMPACT),
    ("hi", include_str!("../testdata/hi.json"), FLAG_COMPACT),
    ("ja2", include_str!("../testdata/ja2.json"), FLAG_COMPACT),
    ("zh2", include_str!("../testdata/zh2.json"), FLAG_COMPACT),
    ("ko2", include_str!("../testdata/ko2.json"), FLAG_COMPACT),
    ("ar2", include_str!("../testdata/ar2.json"), FLAG_COMPACT),
    ("hi2", include_str!("../testdata/hi2.json"), FLAG_COMPACT),
];

fn signed(json: &str) -> SignedCard {
    let card: Card = serde_json::from_str(json).expect("test");
    SignedCard::sign(&Identity::from_seed(&[1; 32]), 1, 1_760_000_000, &card).expect("test")
}

#[test]
fn payload_is_no_larger_than_the_mecard() {
    for (name, json, flag) in CARDS {
        let s = signed(json);
        let payload = encode_payload(&s).expect("test");
        assert_eq!(decode_payload(&payload).as_ref(), Ok(&s), "{name}");
        assert_eq!(encode_binary(&s)[0], flag, "{name}: flag");
        let mecard = mecard_text(s.card());
        let ours = qr_version(&payload, Ecc::M).expect("test");
        // The MeCard as the QR encoder writes it (it may take Kanji mode) and as correct byte
        // mode: the payload must not be larger than either.
        let theirs = qr_version(&mecard, Ecc::M)
            .expect("test")
            .min(qr_version_byte_mode(&mecard, Ecc::M).expect("test"));
        assert!(
            ours <= theirs,
            "{name}: the payload needs version {ours} at M, the MeCard {theirs}"
        );
    }
}

/// The English reference card stays where it was before the compact form existed
/// (proto-spec/qr.md#limits: 335 characters, version 11 at M).
#[test]
fn english_card_does_not_grow() {
    let s = signed(CARDS[0].1);
    let payload = encode_payload(&s).expect("test");
    assert!(payload.len() <= 335, "{} characters", payload.len());
    assert!(qr_version(&payload, Ecc::M).expect("test") <= 11);
}
