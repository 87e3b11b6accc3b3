//! The relay's drop protocol messages (`/meishi/drop/1`) on arbitrary bytes: requests a relay
//! reads from peers and responses a node reads from a relay. None may panic; an accepted
//! message encodes to exactly the bytes it was decoded from (the codec is canonical), and a
//! sealed message inside goes on to the drop checks, which must not panic either
//! (proto-spec/drop.md#relay-protocol).
#![no_main]

use libfuzzer_sys::fuzz_target;
use meishi_event::{check_drop, DropRequest, DropResponse};

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = DropRequest::decode(data) {
        assert_eq!(req.encode(), data, "drop request round trip");
        if let DropRequest::Put { sealed, .. } = &req {
            let _ = check_drop(sealed);
        }
    }
    if let Ok(resp) = DropResponse::decode(data) {
        assert_eq!(resp.encode(), data, "drop response round trip");
        if let DropResponse::Messages { messages, .. } = &resp {
            for (_, sealed) in messages {
                let _ = check_drop(sealed);
            }
        }
    }
});
