//! The relay's slot protocol messages (`/meishi/slot/1`) on arbitrary bytes: requests a relay
//! reads from peers and responses a node reads from a relay. None may panic; an accepted
//! message encodes to exactly the bytes it was decoded from (the codec is canonical), and a
//! record inside a Put goes on to the record decoder, which must not panic either
//! (proto-spec/slot.md#relay-protocol).
#![no_main]

use libfuzzer_sys::fuzz_target;
use meishi_event::{SlotRecord, SlotRequest, SlotResponse};

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = SlotRequest::decode(data) {
        assert_eq!(req.encode(), data, "slot request round trip");
        if let SlotRequest::Put { record } = &req {
            let _ = SlotRecord::decode(record);
        }
    }
    if let Ok(resp) = SlotResponse::decode(data) {
        assert_eq!(resp.encode(), data, "slot response round trip");
        if let SlotResponse::Records { records } = &resp {
            for r in records {
                let _ = SlotRecord::decode(r);
            }
        }
    }
});
