//! SlotRecord::decode and SlotAddress::decode on arbitrary bytes: they must never panic; a
//! record or address they accept is exactly the input (canonical or reject), and opening an
//! accepted record with a fixed key never panics (proto-spec/slot.md#verification). Links (the
//! slot address and a drop address, proto-spec/exchange.md#links) likewise.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meishi_event::{Links, SlotAddress, SlotRecord, SlotSealKey};

fuzz_target!(|data: &[u8]| {
    if let Ok(record) = SlotRecord::decode(data) {
        assert_eq!(
            record.as_bytes(),
            data,
            "an accepted record keeps its exact bytes"
        );
        let again =
            SlotRecord::decode(record.as_bytes()).expect("an accepted record decodes again");
        assert_eq!(again, record, "decoding is deterministic");
        // The seal key of the vectors (c2…c2): seeds from proto-spec/vectors/slot open with it.
        let _ = record.open(&SlotSealKey::from_bytes([0xc2; 32]));
    }
    if let Ok(address) = SlotAddress::decode(data) {
        assert_eq!(
            address.encode(),
            data,
            "an accepted address re-encodes to its bytes"
        );
    }
    if let Ok(links) = Links::decode(data) {
        assert_eq!(links.encode(), data, "accepted links re-encode to their bytes");
    }
});
