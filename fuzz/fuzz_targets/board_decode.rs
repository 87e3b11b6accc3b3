//! The teaser board's messages on arbitrary bytes: requests a relay reads from peers and
//! responses a node reads from a relay. None may panic; an accepted message encodes to bytes
//! that decode to the same message (proto-spec/relay.md). The relay's rendezvous reader is
//! checked by property tests in meishi-relay instead: building libp2p under cargo-fuzz costs
//! CI about 11 minutes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meishi_event::{BoardRequest, BoardResponse};

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = BoardRequest::decode(data) {
        let again = BoardRequest::decode(&req.encode()).expect("an accepted request re-encodes");
        assert_eq!(again, req, "board request round trip");
    }
    if let Ok(resp) = BoardResponse::decode(data) {
        let again = BoardResponse::decode(&resp.encode()).expect("an accepted response re-encodes");
        assert_eq!(again, resp, "board response round trip");
    }
});
