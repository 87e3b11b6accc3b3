//! Property tests of the signed card encoding (proto-spec/card.md#verification):
//! every valid card round trips through sign and decode, any single-bit change of a signed card
//! fails decoding, and decoding never panics, whatever the bytes.

use meishi_card::{Card, Extension, Identity, SignedCard, Social, SocialKind};
use proptest::collection::vec;
use proptest::prelude::*;

/// One line of printable text (no control or format characters), not blank, at most
/// `max_chars` characters: at most 4 * max_chars bytes.
fn text(max_chars: usize) -> impl Strategy<Value = String> {
    prop::string::string_regex(&format!(
        "[a-zA-Z0-9\u{e9}\u{6f22}][\\PC]{{0,{}}}",
        max_chars - 1
    ))
    .expect("valid regex")
}

fn opt_text(max_chars: usize) -> impl Strategy<Value = Option<String>> {
    prop::option::of(text(max_chars))
}

fn card() -> impl Strategy<Value = Card> {
    let socials = vec(
        ((1u8..=255).prop_map(SocialKind), text(30))
            .prop_map(|(kind, handle)| Social { kind, handle }),
        0..4,
    );
    (
        text(32),
        opt_text(32),
        opt_text(32),
        vec("[a-z0-9.]{1,20}@[a-z]{1,10}\\.example", 0..4),
        vec("\\+?[0-9][0-9 ]{0,19}", 0..3),
        vec("https://[a-z]{1,20}\\.example/[a-z0-9/]{0,40}", 0..3),
        socials,
        opt_text(70),
        vec(text(8), 0..5),
        prop::option::of("https://[a-z]{1,20}\\.example/a\\.png"),
    )
        .prop_map(
            |(name, title, org, emails, phones, urls, socials, note, tags, avatar)| Card {
                name,
                title,
                org,
                emails,
                phones,
                urls,
                socials,
                note,
                tags,
                avatar,
                comment: None,
            },
        )
}

/// Optional (even) extensions with strictly increasing tags.
fn extensions() -> impl Strategy<Value = Vec<Extension>> {
    vec((1u32..1000, vec(any::<u8>(), 0..40)), 0..4).prop_map(|raw| {
        let mut tag = 0;
        raw.into_iter()
            .map(|(step, data)| {
                tag += 2 * step;
                Extension { tag, data }
            })
            .collect()
    })
}

fn signed() -> impl Strategy<Value = SignedCard> {
    (
        any::<[u8; 32]>(),
        any::<u64>(),
        any::<u64>(),
        card(),
        extensions(),
    )
        .prop_map(|(seed, seq, at, card, exts)| {
            SignedCard::sign_with_extensions(&Identity::from_seed(&seed), seq, at, &card, exts)
                .expect("valid card signs")
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn sign_then_decode_round_trips(
        seed in any::<[u8; 32]>(),
        seq in any::<u64>(),
        at in any::<u64>(),
        card in card(),
        exts in extensions(),
    ) {
        let id = Identity::from_seed(&seed);
        let signed = SignedCard::sign_with_extensions(&id, seq, at, &card, exts.clone()).expect("valid card signs");
        let back = SignedCard::decode(signed.as_bytes()).expect("a signed card decodes");
        prop_assert_eq!(back.card(), &card);
        prop_assert_eq!(back.key(), id.public());
        prop_assert_eq!(back.seq(), seq);
        prop_assert_eq!(back.issued_at(), at);
        prop_assert_eq!(back.extensions(), &exts[..]);
        prop_assert_eq!(back.as_bytes(), signed.as_bytes());
        prop_assert_eq!(&back, &signed);
    }

    #[test]
    fn any_single_bit_flip_fails(signed in signed(), pick in any::<prop::sample::Index>()) {
        let mut bytes = signed.as_bytes().to_vec();
        let bit = pick.index(bytes.len() * 8);
        bytes[bit / 8] ^= 1 << (bit % 8);
        let got = SignedCard::decode(&bytes);
        prop_assert!(got.is_err(), "bit {} flipped and the card still decodes: {:?}", bit, got);
    }

    #[test]
    fn decode_never_panics_on_arbitrary_bytes(bytes in vec(any::<u8>(), 0..5000)) {
        let _ = SignedCard::decode(&bytes);
    }

    #[test]
    fn decode_never_panics_on_damaged_cards(
        signed in signed(),
        edits in vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        // Damage near real structure reaches deeper decoder paths than random bytes do.
        let mut bytes = signed.as_bytes().to_vec();
        for (at, b) in edits {
            let i = at.index(bytes.len());
            bytes[i] = b;
        }
        let _ = SignedCard::decode(&bytes);
        let _ = SignedCard::decode(&bytes[..cut.index(bytes.len())]);
    }
}

/// Every bit of the reference card, not a sample.
#[test]
fn every_bit_flip_of_the_reference_card_fails() {
    let card: Card =
        serde_json::from_str(include_str!("../testdata/ada.json")).expect("reference card");
    let signed =
        SignedCard::sign(&Identity::from_seed(&[9; 32]), 3, 1_700_000_000, &card).expect("signs");
    let bytes = signed.as_bytes();
    for bit in 0..bytes.len() * 8 {
        let mut b = bytes.to_vec();
        b[bit / 8] ^= 1 << (bit % 8);
        assert!(
            SignedCard::decode(&b).is_err(),
            "bit {bit} flipped and the card still decodes"
        );
    }
}
