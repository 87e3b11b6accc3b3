//! open_drop and DropAddress::decode on arbitrary bytes: they must never panic; check_drop (what
//! a relay runs) accepts whatever opens; an address they accept is exactly the input
//! (proto-spec/drop.md#opening, proto-spec/drop.md#drop-address).
#![no_main]

use libfuzzer_sys::fuzz_target;
use meishi_event::{check_drop, open_drop, DropAddress, DropSecret, MAX_DROP_PLAINTEXT};

fuzz_target!(|data: &[u8]| {
    // A fixed recipient and box: Ada's (secret a1…a1) box for Bob (key b0…b0), as in the unit
    // tests of meishi_event::drop.
    let secret = DropSecret::from_bytes([0xa1; 32]);
    let id = secret.id_for(&[0xb0; 32]);
    let checked = check_drop(data);
    if let Ok(plaintext) = open_drop(&secret, &id, data) {
        assert!(checked.is_ok(), "a message that opens passes the relay's checks");
        assert!(!plaintext.is_empty() && plaintext.len() <= MAX_DROP_PLAINTEXT);
    }
    if let Ok(address) = DropAddress::decode(data) {
        assert_eq!(
            address.encode(),
            data,
            "an accepted address re-encodes to its bytes"
        );
    }
});
