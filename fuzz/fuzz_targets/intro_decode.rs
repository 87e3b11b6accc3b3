//! IntroMessage::decode on arbitrary bytes: it must never panic; a message it accepts is
//! exactly the input (canonical or reject), decodes again to the same message, and holds the
//! consistency rules of proto-spec/intro.md#decoding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meishi_card::intro::{IntroBody, IntroMessage};

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = IntroMessage::decode(data) {
        assert_eq!(
            message.as_bytes(),
            data,
            "an accepted message keeps its exact bytes"
        );
        let again =
            IntroMessage::decode(message.as_bytes()).expect("an accepted message decodes again");
        assert_eq!(again, message, "decoding is deterministic");
        assert_eq!(again.hash(), message.hash());
        assert_ne!(
            message.author(),
            message.to(),
            "never addressed to its author"
        );
        match message.body() {
            IntroBody::Accept { envelope } => {
                assert_eq!(
                    envelope.giver(),
                    message.author(),
                    "an ACCEPT carries its author's envelope"
                );
            }
            IntroBody::Deliver { envelope } => {
                assert_eq!(
                    envelope.recipient(),
                    message.to(),
                    "a DELIVER carries an envelope for its recipient"
                );
            }
            IntroBody::Ask { about, .. } => {
                assert!(*about != message.author() && *about != message.to());
            }
            IntroBody::Decline => {}
        }
    }
});
