//! The QR payload decoder and the scanned-text classifier on arbitrary input: never panic, and a
//! payload they accept is a verified card whose own payload decodes to the same card
//! (proto-spec/qr.md). Raw input reaches the text parsers; the same bytes behind the `MEISHI1:`
//! prefix in base45 reach the binary decoder, the inflater and the field-stream parser.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meishi_qr::{base45, classify, decode_binary, decode_payload, encode_payload, Scanned, PREFIX};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(Scanned::Meishi(card)) = classify(text) {
            let again = encode_payload(&card).map(|t| decode_payload(&t));
            assert!(matches!(again, Ok(Ok(ref c)) if *c == card), "a decoded card round-trips");
        }
        let _ = decode_payload(text);
    }
    let wrapped = format!("{PREFIX}{}", base45::encode(data));
    let via_text = decode_payload(&wrapped);
    assert_eq!(via_text.is_ok(), decode_binary(data).is_ok(), "text and binary decoders agree");
    if let Ok(card) = via_text {
        let text = encode_payload(&card).expect("a verified card fits a QR code again");
        assert_eq!(decode_payload(&text).expect("re-encoded payload decodes"), card);
    }
});
