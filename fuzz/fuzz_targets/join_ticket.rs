//! The event join URI on arbitrary text: never panics, and an accepted ticket displays as a URI
//! that parses to the same ticket, with no byte a shell would read specially
//! (proto-spec/relay.md#join-uri).
#![no_main]

use libfuzzer_sys::fuzz_target;
use meishi_event::{code_check, JoinTicket};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = code_check(text);
    if let Ok(ticket) = text.parse::<JoinTicket>() {
        let uri = ticket.to_string();
        assert!(
            uri.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._~%=&?:-".contains(&b)),
            "{uri}"
        );
        assert_eq!(uri.parse::<JoinTicket>().expect("a displayed ticket parses"), ticket);
    }
});
