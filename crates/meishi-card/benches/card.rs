//! Signing and verifying the reference card, against raw ed25519 `verify_strict` in the same run.
//!
//! ```text
//! cargo bench -p meishi-card --bench card
//! ```
//!
//! Goal: decode+verify (parse, canonical re-encoding, field rules, signature) costs at most 1.1x
//! a raw `verify_strict` of the same signed message. After the criterion groups the bench
//! measures that ratio directly: rounds that alternate the two operations, so both see the
//! same machine load, and the median of the per-round ratios.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion};
use ed25519_dalek::{Signature, VerifyingKey};
use meishi_card::{Card, Identity, SignedCard, CARD_LABEL, SIGNATURE_LEN};

const ADA_JSON: &str = include_str!("../testdata/ada.json");

struct Fixture {
    identity: Identity,
    card: Card,
    signed: Vec<u8>,
    /// `CARD_LABEL || body`: the exact message the signature covers.
    message: Vec<u8>,
    key: [u8; 32],
    signature: Signature,
}

fn fixture() -> Fixture {
    let identity = Identity::from_seed(&[7; 32]);
    let card: Card = serde_json::from_str(ADA_JSON).expect("reference card parses");
    let signed =
        SignedCard::sign(&identity, 1, 1_700_000_000, &card).expect("reference card signs");
    let bytes = signed.as_bytes().to_vec();
    let (body, sig) = bytes.split_at(bytes.len() - SIGNATURE_LEN);
    let mut message = CARD_LABEL.to_vec();
    message.extend_from_slice(body);
    let signature = Signature::from_slice(sig).expect("64 bytes");
    Fixture {
        key: identity.public().0,
        identity,
        card,
        message,
        signature,
        signed: bytes,
    }
}

/// The baseline: what any receiver of a raw ed25519-signed message must do, from bytes.
fn raw_verify(f: &Fixture) -> bool {
    match VerifyingKey::from_bytes(black_box(&f.key)) {
        Ok(vk) => vk
            .verify_strict(black_box(&f.message), &f.signature)
            .is_ok(),
        Err(_) => false,
    }
}

fn decode_verify(f: &Fixture) -> bool {
    SignedCard::decode(black_box(&f.signed)).is_ok()
}

fn benches(c: &mut Criterion) {
    let f = fixture();
    assert!(raw_verify(&f) && decode_verify(&f));
    let vk = VerifyingKey::from_bytes(&f.key).expect("valid key");
    let mut g = c.benchmark_group("card");
    g.bench_function("sign", |b| {
        b.iter(|| {
            SignedCard::sign(&f.identity, 1, 1_700_000_000, black_box(&f.card)).expect("signs")
        })
    });
    g.bench_function("decode+verify", |b| b.iter(|| decode_verify(&f)));
    g.bench_function("raw verify_strict", |b| b.iter(|| raw_verify(&f)));
    g.bench_function("raw verify_strict, key parsed once", |b| {
        b.iter(|| {
            vk.verify_strict(black_box(&f.message), &f.signature)
                .is_ok()
        })
    });
    g.finish();
}

criterion_group!(card, benches);

/// Time of `iters` calls of `op`.
fn time(iters: u32, f: &Fixture, op: fn(&Fixture) -> bool) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        black_box(op(f));
    }
    start.elapsed()
}

/// Median over rounds of (decode+verify time) / (raw verify time), alternating the order.
fn ratio(rounds: usize, iters: u32) -> f64 {
    let f = fixture();
    let mut ratios: Vec<f64> = (0..rounds)
        .map(|round| {
            let (ours, raw) = if round % 2 == 0 {
                let ours = time(iters, &f, decode_verify);
                (ours, time(iters, &f, raw_verify))
            } else {
                let raw = time(iters, &f, raw_verify);
                (time(iters, &f, decode_verify), raw)
            };
            ours.as_secs_f64() / raw.as_secs_f64()
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    ratios[ratios.len() / 2]
}

fn main() {
    let quick = std::env::args().any(|a| a == "--test" || a == "--list");
    card();
    Criterion::default().configure_from_args().final_summary();
    if !quick {
        let r = ratio(41, 200);
        println!("decode+verify / raw verify_strict (median of 41 interleaved rounds): {r:.3}x (goal <= 1.1x)");
    }
}
