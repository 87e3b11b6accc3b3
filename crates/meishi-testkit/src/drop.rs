//! The drop box test vectors of proto-spec/drop.md#test-vectors, one file per case; written by
//! `cargo xtask vectors`, read back by meishi-event's unit test `committed_drop_vectors` and by
//! the independent reader proto-spec/tools/drop_vectors.py.
//!
//! Deterministic: fixed drop secrets, contact keys, ephemeral secrets and nonces
//! (`seal_drop_with`), and the ed25519 signatures of the card letter are deterministic. Every
//! case is run through `meishi-event` before it is rendered (derived, opened and checked as a
//! relay checks it, decoded as an address or a relay protocol message), and the generator fails
//! if an outcome is not the one the case claims. Broken sealed messages are a valid one with one
//! property changed. Never edit the files by hand.

use std::error::Error;
use std::fmt::Write as _;

use meishi_card::envelope::Envelope;
use meishi_card::{Card, Identity, SignedCard};
use meishi_event::{
    check_drop, drop_digest, open_drop, seal_drop_with, DropAddress, DropId, DropMessageError,
    DropRefusal, DropRequest, DropResponse, DropSecret, Links, SlotAddress, SlotKey, SlotSealKey,
    DROP_ADDRESS_LEN, DROP_HEADER_LEN, MAX_DROP_GET, MAX_DROP_PLAINTEXT, MAX_DROP_REQUEST,
    MAX_DROP_SEALED, MIN_DROP_SEALED,
};

use crate::hex;
use crate::vectors::Files;

type Result<T, E = Box<dyn Error>> = std::result::Result<T, E>;

/// Ada's drop secret (the recipient of every case; the example of proto-spec/drop.md).
const SECRET: [u8; 32] = [0xa1; 32];
/// Another recipient's secret: `wrong-secret` opens with it.
const OTHER_SECRET: [u8; 32] = [0xa2; 32];
/// Bob's key as Ada knows it: the contact of the example and of most cases.
const BOB: [u8; 32] = [0xb0; 32];
/// Carol's key: Ada's box for Carol is the wrong box of `wrong-box`.
const CAROL: [u8; 32] = [0xc0; 32];
/// The sender's ephemeral secret and nonce of every sealing.
const EPHEMERAL: [u8; 32] = [0xe1; 32];
const NONCE: [u8; 24] = [0x4e; 24];
/// The plaintext of the example.
const HELLO: &[u8] = b"hello from Bob";
/// Signing time of the card letter: 2023-11-14T22:13:20Z.
const T0: u64 = 1_700_000_000;
const RELAY: &str =
    "/ip4/203.0.113.7/tcp/4001/p2p/12D3KooWBHkR6nGT5KH3Xow9voA2aSQ67423yzWZCVbruRadyybt";

/// The canonical small-order points of Curve25519 (proto-spec/drop.md#conventions), with the
/// suffix of the cases that use them.
const SMALL_ORDER: [(&str, &str); 5] = [
    (
        "zero",
        "0000000000000000000000000000000000000000000000000000000000000000",
    ),
    (
        "one",
        "0100000000000000000000000000000000000000000000000000000000000000",
    ),
    (
        "order-8",
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    ),
    (
        "order-8-other",
        "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
    ),
    (
        "p-minus-one",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    ),
];

/// p = 2^255 - 19, little-endian: an encoding of 0 that is not canonical.
const P: &str = "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f";

/// One test vector file.
struct Case {
    name: String,
    comment: String,
    /// `success` or the kind of the error: `DropError`, `DropAddressError` or
    /// `DropMessageError`.
    expect: &'static str,
    input: Input,
}

enum Input {
    /// A drop secret and a contact key: the box id, the public key and the address.
    Derive {
        secret: [u8; 32],
        contact: [u8; 32],
    },
    /// A sealed message, opened with `secret` in box `id`.
    Sealed {
        secret: [u8; 32],
        id: DropId,
        /// What `check_drop` (the relay's view) gives: `success` or a `DropError` kind.
        relay_check: &'static str,
        /// For a message sealed here: the contact key `id` derives from, the ephemeral secret
        /// and nonce, and the plaintext it must open to.
        sealing: Option<Sealing>,
        bytes: Vec<u8>,
    },
    Address(Vec<u8>),
    Request(Vec<u8>),
    Response(Vec<u8>),
}

struct Sealing {
    contact: [u8; 32],
    ephemeral: [u8; 32],
    nonce: [u8; 24],
    plaintext: Vec<u8>,
}

fn case(name: impl Into<String>, expect: &'static str, comment: &str, input: Input) -> Case {
    Case {
        name: name.into(),
        comment: comment.to_owned(),
        expect,
        input,
    }
}

fn key32(s: &str) -> Result<[u8; 32]> {
    let v = crate::unhex(s);
    v.try_into()
        .map_err(|v: Vec<u8>| format!("{} bytes, not 32", v.len()).into())
}

fn ada() -> DropSecret {
    DropSecret::from_bytes(SECRET)
}

/// `plaintext` sealed to Ada's address for `contact` with the fixed ephemeral secret and nonce,
/// as a valid case.
fn sealed_case(
    name: &str,
    comment: &str,
    contact: [u8; 32],
    plaintext: Vec<u8>,
) -> Result<(Case, Vec<u8>)> {
    let address = ada().address_for(&contact);
    let bytes = seal_drop_with(&address, &plaintext, &EPHEMERAL, NONCE)
        .map_err(|e| format!("case {name}: {e}"))?;
    let c = case(
        name,
        "success",
        comment,
        Input::Sealed {
            secret: SECRET,
            id: address.id,
            relay_check: "success",
            sealing: Some(Sealing {
                contact,
                ephemeral: EPHEMERAL,
                nonce: NONCE,
                plaintext,
            }),
            bytes: bytes.clone(),
        },
    );
    Ok((c, bytes))
}

/// A broken sealed message, opened with Ada's secret in her box for Bob.
fn broken(
    name: &str,
    expect: &'static str,
    relay_check: &'static str,
    comment: &str,
    bytes: Vec<u8>,
) -> Case {
    broken_in(
        name,
        expect,
        relay_check,
        comment,
        SECRET,
        ada().id_for(&BOB),
        bytes,
    )
}

fn broken_in(
    name: &str,
    expect: &'static str,
    relay_check: &'static str,
    comment: &str,
    secret: [u8; 32],
    id: DropId,
    bytes: Vec<u8>,
) -> Case {
    case(
        name,
        expect,
        comment,
        Input::Sealed {
            secret,
            id,
            relay_check,
            sealing: None,
            bytes,
        },
    )
}

/// A card letter (proto-spec/drop.md#letters): kind 01, then Bob's give envelope for Ada
/// (format 2, with his links for her), signed by Bob's identity. Returns Bob's identity key
/// (the contact key of Ada's box for him) and the letter.
fn card_letter() -> Result<([u8; 32], Vec<u8>)> {
    let ada_id = Identity::from_seed(&[0xa1; 32]);
    let bob_id = Identity::from_seed(&[0xb1; 32]);
    let mut card = Card::new("Bob Example");
    card.org = Some("Example Relay Co".into());
    card.note = Some("Moved to a new slot: here is where my card lives now".into());
    let card = SignedCard::sign(&bob_id, 3, T0, &card)?;
    // Bob's links for Ada: his slot, and his drop box for her.
    let bob_drop = DropSecret::from_bytes([0xb4; 32]).address_for(&ada_id.public().0);
    let links = Links {
        slot: SlotAddress::new(
            SlotKey::from_seed(&[0xb2; 32]).id(),
            SlotSealKey::from_bytes([0xb3; 32]),
            vec![RELAY.parse()?],
        )?,
        drop_id: bob_drop.id.0,
        drop_key: bob_drop.key,
    };
    let envelope = Envelope::sign_with_links(
        &bob_id,
        &card,
        ada_id.public(),
        T0,
        None,
        [0x5b; 16],
        &links.encode(),
    )?;
    // The letter must be what a recipient accepts: an envelope from the box's contact, for her.
    let back = Envelope::decode(envelope.as_bytes())?;
    if back.giver() != bob_id.public() || back.recipient() != ada_id.public() {
        return Err("the card letter's envelope is not Bob's for Ada".into());
    }
    let mut letter = vec![0x01];
    letter.extend_from_slice(envelope.as_bytes());
    Ok((bob_id.public().0, letter))
}

fn derive_cases() -> Vec<Case> {
    let derive = |name: &str, comment: &str, secret, contact| {
        case(name, "success", comment, Input::Derive { secret, contact })
    };
    vec![
        derive(
            "derive-example",
            "Ada's secret a1…a1 and Bob's key b0…b0 (the example of drop.md): the box id, Ada's public key and the address she gives Bob",
            SECRET,
            BOB,
        ),
        derive(
            "derive-other-contact",
            "the same secret, Carol's key c0…c0: another box id, the same public key",
            SECRET,
            CAROL,
        ),
        derive(
            "derive-other-secret",
            "another secret a2…a2, Bob's key: another box id and another public key",
            OTHER_SECRET,
            BOB,
        ),
    ]
}

fn sealed_cases() -> Result<Vec<Case>> {
    let (one, one_bytes) = sealed_case(
        "success-one-byte",
        "one byte (21, `!`) sealed to Ada's address for Bob: 74 bytes, the shortest message",
        BOB,
        b"!".to_vec(),
    )?;
    let (example, good) = sealed_case(
        "success-example",
        "`hello from Bob` (14 bytes) sealed to Ada's address for Bob: the example of drop.md, 87 bytes",
        BOB,
        HELLO.to_vec(),
    )?;
    let (contact, letter) = card_letter()?;
    let (letter_case, _) = sealed_case(
        "success-card-letter",
        &format!(
            "a card letter of {} bytes (kind 01 and Bob's give envelope for Ada, format 2 with his links) sealed to Ada's address for Bob's identity key",
            letter.len()
        ),
        contact,
        letter,
    )?;
    let largest_plaintext: Vec<u8> = (0..MAX_DROP_PLAINTEXT).map(|i| i as u8).collect();
    let (largest_case, largest) = sealed_case(
        "success-largest",
        "8,192 bytes (00 01 … ff, repeated) sealed to Ada's address for Bob: 8,265 bytes, the longest message",
        BOB,
        largest_plaintext,
    )?;
    if one_bytes.len() != MIN_DROP_SEALED || largest.len() != MAX_DROP_SEALED {
        return Err("the shortest and longest messages are not MIN_ and MAX_DROP_SEALED".into());
    }
    let with = |at: usize, new: &[u8]| -> Vec<u8> {
        let mut b = good.clone();
        b[at..at + new.len()].copy_from_slice(new);
        b
    };
    let flip = |at: usize| -> Vec<u8> {
        let mut b = good.clone();
        b[at] ^= 1;
        b
    };
    let mut top_bit = good[1..33].to_vec();
    top_bit[31] |= 0x80;
    let other_ephemeral = DropSecret::from_bytes([9; 32]).public_key();
    let mut out = vec![one, example, letter_case, largest_case];
    out.extend([
        // Framing: what a relay refuses too.
        broken("empty", "empty", "empty", "zero bytes", Vec::new()),
        broken(
            "too-large",
            "too-large",
            "too-large",
            "8,266 bytes: the longest message (success-largest) and a zero byte, refused before anything else is read",
            [&largest[..], &[0]].concat(),
        ),
        broken(
            "version-zero",
            "unsupported-version",
            "unsupported-version",
            "the example with version byte 00",
            with(0, &[0]),
        ),
        broken(
            "version-two",
            "unsupported-version",
            "unsupported-version",
            "the example with version byte 02",
            with(0, &[2]),
        ),
        broken(
            "header-only",
            "truncated",
            "truncated",
            "the example's first 57 bytes: version, ephemeral key and nonce, no ciphertext",
            good[..DROP_HEADER_LEN].to_vec(),
        ),
        broken(
            "one-short",
            "truncated",
            "truncated",
            "73 bytes: the one-byte message (success-one-byte) without the last byte of its tag",
            one_bytes[..MIN_DROP_SEALED - 1].to_vec(),
        ),
        broken(
            "ephemeral-top-bit",
            "non-canonical",
            "non-canonical",
            "the example with the top bit of the ephemeral key set: X25519 would ignore the bit, a reader refuses it",
            with(1, &top_bit),
        ),
        broken(
            "ephemeral-p",
            "non-canonical",
            "non-canonical",
            "the example with ephemeral key p = 2^255 - 19, an encoding of 0 that is not below p",
            with(1, &key32(P)?),
        ),
    ]);
    // Weak ephemeral keys: well-formed to a relay, refused by the recipient.
    for (suffix, point) in SMALL_ORDER {
        out.push(broken(
            &format!("weak-ephemeral-{suffix}"),
            "weak-key",
            "success",
            &format!(
                "the example with ephemeral key {}…{} (small order: X25519 gives 32 zero bytes); a relay keeps it, the recipient refuses it",
                &point[..8],
                &point[56..]
            ),
            with(1, &key32(point)?),
        ));
    }
    // Opening: the cipher cannot tell these apart.
    out.extend([
        broken_in(
            "wrong-box",
            "open-failed",
            "success",
            "the example opened by Ada in her box for Carol (c0…c0): the associated data names another box",
            SECRET,
            ada().id_for(&CAROL),
            good.clone(),
        ),
        broken_in(
            "wrong-secret",
            "open-failed",
            "success",
            "the example opened in Ada's box for Bob with another secret (a2…a2)",
            OTHER_SECRET,
            ada().id_for(&BOB),
            good.clone(),
        ),
        broken(
            "flipped-ciphertext",
            "open-failed",
            "success",
            "the example with the low bit of its first ciphertext byte flipped",
            flip(DROP_HEADER_LEN),
        ),
        broken(
            "flipped-tag",
            "open-failed",
            "success",
            "the example with the low bit of its last tag byte flipped",
            flip(good.len() - 1),
        ),
        broken(
            "flipped-nonce",
            "open-failed",
            "success",
            "the example with the low bit of its first nonce byte flipped",
            flip(33),
        ),
        broken(
            "other-ephemeral",
            "open-failed",
            "success",
            "the example with another valid ephemeral key (the public key of secret 09…09): another shared secret, another message key",
            with(1, &other_ephemeral),
        ),
        broken(
            "cut-ciphertext",
            "open-failed",
            "success",
            "the example's first 74 bytes: as long as a message of one byte, so it is well-formed, but the tag does not verify",
            good[..MIN_DROP_SEALED].to_vec(),
        ),
    ]);
    Ok(out)
}

fn address_cases() -> Result<Vec<Case>> {
    let good = ada().address_for(&BOB).encode();
    let with_key = |key: &[u8]| -> Vec<u8> { [&good[..33], key].concat() };
    let mut top_bit = good[33..].to_vec();
    top_bit[31] |= 0x80;
    let address = |name: &str, expect, comment: &str, bytes| {
        case(name, expect, comment, Input::Address(bytes))
    };
    let mut out = vec![
        address(
            "address-success",
            "success",
            "Ada's address for Bob (derive-example)",
            good.to_vec(),
        ),
        address("address-empty", "empty", "zero bytes", Vec::new()),
        address(
            "address-version-zero",
            "unsupported-version",
            "version byte 00",
            [&[0][..], &good[1..]].concat(),
        ),
        address(
            "address-version-two",
            "unsupported-version",
            "version byte 02",
            [&[2][..], &good[1..]].concat(),
        ),
        address(
            "address-version-only",
            "truncated",
            "the version byte alone",
            good[..1].to_vec(),
        ),
        address(
            "address-truncated",
            "truncated",
            "64 bytes: the last byte of the key is missing",
            good[..DROP_ADDRESS_LEN - 1].to_vec(),
        ),
        address(
            "address-trailing-byte",
            "trailing-bytes",
            "66 bytes: a zero byte after the key",
            [&good[..], &[0]].concat(),
        ),
        address(
            "address-key-top-bit",
            "non-canonical",
            "the key with its top bit set",
            with_key(&top_bit),
        ),
        address(
            "address-key-p",
            "non-canonical",
            "key p = 2^255 - 19, an encoding of 0 that is not below p",
            with_key(&key32(P)?),
        ),
    ];
    for (suffix, point) in SMALL_ORDER {
        out.push(address(
            &format!("address-weak-{suffix}"),
            "weak-key",
            &format!(
                "key {}…{} (small order): nothing sealed to it is secret",
                &point[..8],
                &point[56..]
            ),
            with_key(&key32(point)?),
        ));
    }
    Ok(out)
}

fn message_cases() -> Result<Vec<Case>> {
    let a = ada();
    let (bob, carol) = (a.id_for(&BOB), a.id_for(&CAROL));
    let seal = |contact: &[u8; 32], m: &[u8]| {
        seal_drop_with(&a.address_for(contact), m, &EPHEMERAL, NONCE)
            .map_err(|e| -> Box<dyn Error> { e.to_string().into() })
    };
    let example = seal(&BOB, HELLO)?;
    let for_carol = seal(&CAROL, b"!")?;
    let largest = seal(&BOB, &[0x4c; MAX_DROP_PLAINTEXT])?;
    let put = |id: DropId, sealed: &[u8]| {
        DropRequest::Put {
            id,
            sealed: sealed.to_vec(),
        }
        .encode()
    };
    let good_put = put(bob, &example);
    let digest = drop_digest(&example);
    let req = |name: &str, expect, comment: &str, bytes| {
        case(name, expect, comment, Input::Request(bytes))
    };
    let resp = |name: &str, expect, comment: &str, bytes| {
        case(name, expect, comment, Input::Response(bytes))
    };
    let cat = |parts: &[&[u8]]| parts.concat();
    let many: Vec<DropId> = (0..MAX_DROP_GET)
        .map(|i| a.id_for(&[i as u8; 32]))
        .collect();
    let mut out = vec![
        // Requests.
        req(
            "request-put",
            "success",
            "Put: the example sealed message (success-example) into Ada's box for Bob",
            good_put.clone(),
        ),
        req(
            "request-put-largest",
            "success",
            "Put of a message of 8,265 bytes: 8,300 bytes, the largest request",
            put(bob, &largest),
        ),
        req(
            "request-put-opaque",
            "success",
            "Put of 3 bytes that are no sealed message: the codec does not look inside; the relay checks them and answers Refused, reason 1",
            put(bob, &[1, 2, 3]),
        ),
        req(
            "request-get",
            "success",
            "Get: Ada's boxes for Bob and for Carol",
            DropRequest::Get {
                ids: vec![bob, carol],
            }
            .encode(),
        ),
        req(
            "request-get-64",
            "success",
            "Get of 64 boxes (Ada's for the keys 00…00 to 3f…3f): the most one Get asks",
            DropRequest::Get { ids: many }.encode(),
        ),
        req(
            "request-ack",
            "success",
            "Ack: the example sealed message in Ada's box for Bob, named by its SHA-256",
            DropRequest::Ack {
                id: bob,
                digests: vec![digest],
            }
            .encode(),
        ),
        req("request-empty", "truncated", "zero bytes", Vec::new()),
        req(
            "request-unknown-type",
            "unknown-type",
            "type 04",
            vec![0x04],
        ),
        req(
            "request-response-type",
            "unknown-type",
            "type 81, a response's (PutOk)",
            vec![0x81],
        ),
        req(
            "request-too-large",
            "too-large",
            "8,301 bytes: request-put-largest and a zero byte, refused before decoding",
            cat(&[&put(bob, &largest), &[0]]),
        ),
        req(
            "request-put-no-length",
            "truncated",
            "Put: a box id and no length",
            cat(&[&[0x01], &bob.0]),
        ),
        req(
            "request-put-short",
            "truncated",
            "request-put without its last byte: the length says 87, 86 bytes follow",
            good_put[..good_put.len() - 1].to_vec(),
        ),
        req(
            "request-put-zero-length",
            "sealed-size",
            "Put with length 0000",
            cat(&[&[0x01], &bob.0, &[0, 0]]),
        ),
        req(
            "request-put-length-over",
            "sealed-size",
            "Put with length 204a (8,266), one over the longest sealed message; refused before the bytes are read",
            cat(&[&[0x01], &bob.0, &[0x20, 0x4a]]),
        ),
        req(
            "request-put-trailing-byte",
            "trailing-bytes",
            "request-put and a zero byte",
            cat(&[&good_put, &[0]]),
        ),
        req(
            "request-get-zero",
            "bad-count",
            "Get of 0 boxes",
            vec![0x02, 0x00],
        ),
        req(
            "request-get-65",
            "bad-count",
            "Get with count 41 (65), one over the limit; refused before the ids are read",
            vec![0x02, 0x41],
        ),
        req(
            "request-get-short",
            "truncated",
            "Get with count 2 and one box id",
            cat(&[&[0x02, 0x02], &bob.0]),
        ),
        req(
            "request-get-duplicate",
            "duplicate-id",
            "Get of Ada's box for Bob twice",
            cat(&[&[0x02, 0x02], &bob.0, &bob.0]),
        ),
        req(
            "request-get-trailing-byte",
            "trailing-bytes",
            "Get of one box and a zero byte",
            cat(&[&[0x02, 0x01], &bob.0, &[0]]),
        ),
        req(
            "request-ack-zero",
            "bad-count",
            "Ack of 0 digests",
            cat(&[&[0x03], &bob.0, &[0]]),
        ),
        req(
            "request-ack-65",
            "bad-count",
            "Ack with count 41 (65)",
            cat(&[&[0x03], &bob.0, &[0x41]]),
        ),
        req(
            "request-ack-duplicate",
            "duplicate-digest",
            "Ack of the example's digest twice",
            cat(&[&[0x03], &bob.0, &[2], &digest, &digest]),
        ),
        req(
            "request-ack-trailing-byte",
            "trailing-bytes",
            "request-ack and a zero byte",
            cat(&[
                &DropRequest::Ack {
                    id: bob,
                    digests: vec![digest],
                }
                .encode(),
                &[0],
            ]),
        ),
        // Responses.
        resp("response-put-ok", "success", "PutOk", DropResponse::PutOk.encode()),
        resp(
            "response-messages",
            "success",
            "Messages, more waiting: the example in Ada's box for Bob, then a one-byte message in her box for Carol",
            DropResponse::Messages {
                messages: vec![(bob, example.clone()), (carol, for_carol.clone())],
                more: true,
            }
            .encode(),
        ),
        resp(
            "response-messages-none",
            "success",
            "Messages: none, none waiting",
            DropResponse::Messages {
                messages: Vec::new(),
                more: false,
            }
            .encode(),
        ),
        resp(
            "response-ack-ok",
            "success",
            "AckOk: 1 message deleted",
            DropResponse::AckOk { deleted: 1 }.encode(),
        ),
    ];
    for (reason, name) in [
        (DropRefusal::Malformed, "malformed"),
        (DropRefusal::TooLarge, "too-large"),
        (DropRefusal::BoxFull, "box-full"),
        (DropRefusal::HostFull, "host-full"),
        (DropRefusal::Full, "full"),
        (DropRefusal::RateLimited, "rate-limited"),
        (DropRefusal::Other(0x42), "unknown"),
    ] {
        let comment = match reason {
            DropRefusal::Other(_) => {
                "Refused, reason byte 42 (66): a code this version does not know, a refusal all the same".to_owned()
            }
            r => format!(
                "Refused, reason {} ({})",
                r.to_byte(),
                name.replace('-', " ")
            ),
        };
        out.push(resp(
            &format!("response-refused-{name}"),
            "success",
            &comment,
            DropResponse::Refused(reason).encode(),
        ));
    }
    let message = cat(&[&bob.0, &(example.len() as u16).to_be_bytes(), &example]);
    out.extend([
        resp("response-empty", "truncated", "zero bytes", Vec::new()),
        resp(
            "response-unknown-type",
            "unknown-type",
            "type 01, a request's (Put)",
            vec![0x01],
        ),
        resp(
            "response-put-ok-trailing-byte",
            "trailing-bytes",
            "PutOk and a zero byte",
            vec![0x81, 0x00],
        ),
        resp(
            "response-messages-bad-flag",
            "bad-flag",
            "Messages with `more` 02",
            vec![0x82, 0x02, 0x00],
        ),
        resp(
            "response-messages-more-without-messages",
            "more-without-messages",
            "Messages: more waiting, none given",
            vec![0x82, 0x01, 0x00],
        ),
        resp(
            "response-messages-65",
            "page-size",
            "Messages with count 41 (65), one over the limit; refused before the messages are read",
            vec![0x82, 0x00, 0x41],
        ),
        resp(
            "response-messages-zero-length",
            "sealed-size",
            "Messages: one in Ada's box for Bob, of length 0000",
            cat(&[&[0x82, 0x00, 0x01], &bob.0, &[0, 0]]),
        ),
        resp(
            "response-messages-length-over",
            "sealed-size",
            "Messages: one in Ada's box for Bob, of length 204a (8,266)",
            cat(&[&[0x82, 0x00, 0x01], &bob.0, &[0x20, 0x4a]]),
        ),
        resp(
            "response-messages-short",
            "truncated",
            "Messages with count 2 and one message (the example)",
            cat(&[&[0x82, 0x00, 0x02], &message]),
        ),
        resp(
            "response-messages-trailing-byte",
            "trailing-bytes",
            "Messages: the example and a zero byte",
            cat(&[&[0x82, 0x00, 0x01], &message, &[0]]),
        ),
        resp(
            "response-ack-ok-short",
            "truncated",
            "AckOk with 3 bytes of its count",
            vec![0x83, 0, 0, 1],
        ),
        resp(
            "response-refused-no-reason",
            "truncated",
            "Refused without a reason",
            vec![0xff],
        ),
    ]);
    Ok(out)
}

fn kind(r: Result<(), &DropMessageError>) -> &'static str {
    r.map_or_else(DropMessageError::kind, |()| "success")
}

/// Checks that the crate agrees with the case, and renders the file.
fn render_case(c: &Case) -> Result<String> {
    let mut s = String::new();
    let check = |got: &str, detail: &dyn std::fmt::Debug| -> Result<()> {
        if got == c.expect {
            return Ok(());
        }
        Err(format!(
            "case {}: expected {}, the reference implementation gives {got} ({detail:?})",
            c.name, c.expect
        )
        .into())
    };
    writeln!(s, "expect: {}", c.expect)?;
    writeln!(s, "comment: {}", c.comment)?;
    match &c.input {
        Input::Derive { secret, contact } => {
            check("success", &())?;
            let d = DropSecret::from_bytes(*secret);
            let address = d.address_for(contact);
            if address.id != d.id_for(contact) || address.key != d.public_key() {
                return Err(format!("case {}: the address is not the id and key", c.name).into());
            }
            writeln!(s, "secret: {}", hex(secret))?;
            writeln!(s, "contact-key: {}", hex(contact))?;
            writeln!(s, "public-key: {}", hex(&address.key))?;
            writeln!(s, "id: {}", address.id)?;
            writeln!(s, "address: {}", hex(&address.encode()))?;
        }
        Input::Sealed {
            secret,
            id,
            relay_check,
            sealing,
            bytes,
        } => {
            let d = DropSecret::from_bytes(*secret);
            let opened = open_drop(&d, id, bytes);
            check(
                opened.as_ref().map_or_else(|e| e.kind(), |_| "success"),
                &opened,
            )?;
            let checked = check_drop(bytes);
            let relay = checked.map_or_else(|e| e.kind(), |()| "success");
            if relay != *relay_check {
                return Err(format!(
                    "case {}: a relay's check should give {relay_check}, gives {relay}",
                    c.name
                )
                .into());
            }
            writeln!(s, "relay-check: {relay_check}")?;
            writeln!(s, "secret: {}", hex(secret))?;
            if let Some(sealing) = sealing {
                let address = d.address_for(&sealing.contact);
                if address.id != *id {
                    return Err(format!("case {}: the id is not the contact's", c.name).into());
                }
                let again = seal_drop_with(
                    &address,
                    &sealing.plaintext,
                    &sealing.ephemeral,
                    sealing.nonce,
                )?;
                if &again != bytes || opened.as_deref().ok() != Some(&sealing.plaintext[..]) {
                    return Err(
                        format!("case {}: does not seal or open to its plaintext", c.name).into(),
                    );
                }
                writeln!(s, "public-key: {}", hex(&address.key))?;
                writeln!(s, "contact-key: {}", hex(&sealing.contact))?;
                writeln!(s, "id: {id}")?;
                writeln!(s, "ephemeral-secret: {}", hex(&sealing.ephemeral))?;
                writeln!(s, "nonce: {}", hex(&sealing.nonce))?;
                writeln!(s, "plaintext: {}", hex(&sealing.plaintext))?;
            } else {
                writeln!(s, "id: {id}")?;
            }
            writeln!(s, "sealed: {}", hex(bytes))?;
        }
        Input::Address(bytes) => {
            let got = DropAddress::decode(bytes);
            check(got.as_ref().map_or_else(|e| e.kind(), |_| "success"), &got)?;
            if let Ok(a) = got {
                if a.encode()[..] != bytes[..] {
                    return Err(format!("case {}: does not re-encode to its bytes", c.name).into());
                }
                writeln!(s, "id: {}", a.id)?;
                writeln!(s, "key: {}", hex(&a.key))?;
            }
            writeln!(s, "address: {}", hex(bytes))?;
        }
        Input::Request(bytes) => {
            let got = DropRequest::decode(bytes);
            check(kind(got.as_ref().map(|_| ())), &got)?;
            if let Ok(r) = &got {
                if r.encode() != *bytes {
                    return Err(format!("case {}: does not re-encode to its bytes", c.name).into());
                }
                match r {
                    DropRequest::Put { id, sealed } => {
                        writeln!(s, "type: put")?;
                        writeln!(s, "id: {id}")?;
                        writeln!(s, "sealed: {}", hex(sealed))?;
                    }
                    DropRequest::Get { ids } => {
                        writeln!(s, "type: get")?;
                        writeln!(s, "ids: {}", join(ids.iter().map(ToString::to_string)))?;
                    }
                    DropRequest::Ack { id, digests } => {
                        writeln!(s, "type: ack")?;
                        writeln!(s, "id: {id}")?;
                        writeln!(s, "digests: {}", join(digests.iter().map(|d| hex(d))))?;
                    }
                }
            }
            writeln!(s, "request: {}", hex(bytes))?;
        }
        Input::Response(bytes) => {
            let got = DropResponse::decode(bytes);
            check(kind(got.as_ref().map(|_| ())), &got)?;
            if let Ok(r) = &got {
                if r.encode() != *bytes {
                    return Err(format!("case {}: does not re-encode to its bytes", c.name).into());
                }
                match r {
                    DropResponse::PutOk => writeln!(s, "type: put-ok")?,
                    DropResponse::Messages { messages, more } => {
                        writeln!(s, "type: messages")?;
                        writeln!(s, "more: {}", u8::from(*more))?;
                        let ids = messages.iter().map(|(id, _)| id.to_string());
                        writeln!(s, "ids: {}", join(ids))?;
                        writeln!(s, "sealed: {}", join(messages.iter().map(|(_, m)| hex(m))))?;
                    }
                    DropResponse::AckOk { deleted } => {
                        writeln!(s, "type: ack-ok")?;
                        writeln!(s, "deleted: {deleted}")?;
                    }
                    DropResponse::Refused(reason) => {
                        writeln!(s, "type: refused")?;
                        writeln!(s, "reason: {}", reason.to_byte())?;
                    }
                }
            }
            writeln!(s, "response: {}", hex(bytes))?;
        }
    }
    Ok(s)
}

fn join(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(" ")
}

/// Every drop vector, as (file name, file text).
pub fn render() -> Result<Files> {
    if MAX_DROP_REQUEST != 1 + 32 + 2 + MAX_DROP_SEALED {
        return Err("MAX_DROP_REQUEST is not a Put of the longest sealed message".into());
    }
    derive_cases()
        .into_iter()
        .chain(sealed_cases()?)
        .chain(address_cases()?)
        .chain(message_cases()?)
        .map(|c| Ok((c.name.clone(), render_case(&c)?)))
        .collect()
}
