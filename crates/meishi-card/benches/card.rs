//! Signing and verifying the reference card, against raw ed25519 `verify_strict` in the same run.
//!
//! ```text
//! cargo bench -p meishi-card --bench card
//! ```
//!
//! Goal: decode+verify (parse, canonical re-encoding, field rules, signature) costs at most 1.1x
//! a raw `verify_strict` of the same signed message, key parsed from bytes. After the criterion
//! groups the bench measures that ratio directly: the two operations are called alternately,
//! each call timed, so both see the same machine load. It prints the ratio of the fastest calls
//! (the ones nothing interrupted: the stable figure on a busy machine) and of the median calls.

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
    /// The key already parsed: a cheaper, less comparable baseline.
    parsed: VerifyingKey,
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
    let key = identity.public().0;
    let parsed = VerifyingKey::from_bytes(&key).expect("valid key");
    Fixture {
        identity,
        card,
        signed: bytes,
        message,
        key,
        parsed,
        signature,
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

fn raw_verify_parsed(f: &Fixture) -> bool {
    f.parsed
        .verify_strict(black_box(&f.message), &f.signature)
        .is_ok()
}

fn decode_verify(f: &Fixture) -> bool {
    SignedCard::decode(black_box(&f.signed)).is_ok()
}

fn benches(c: &mut Criterion) {
    let f = fixture();
    assert!(raw_verify(&f) && raw_verify_parsed(&f) && decode_verify(&f));
    let mut g = c.benchmark_group("card");
    g.bench_function("sign", |b| {
        b.iter(|| {
            SignedCard::sign(&f.identity, 1, 1_700_000_000, black_box(&f.card)).expect("signs")
        })
    });
    g.bench_function("decode+verify", |b| b.iter(|| decode_verify(&f)));
    g.bench_function("raw verify_strict", |b| b.iter(|| raw_verify(&f)));
    g.bench_function("raw verify_strict, key parsed once", |b| {
        b.iter(|| raw_verify_parsed(&f))
    });
    g.finish();
}

criterion_group!(card, benches);

/// Time of one call of `op`.
fn time(f: &Fixture, op: fn(&Fixture) -> bool) -> Duration {
    let start = Instant::now();
    black_box(op(f));
    start.elapsed()
}

/// (fastest, median) of the call times, in seconds.
fn stats(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    (v[0].as_secs_f64(), v[v.len() / 2].as_secs_f64())
}

/// decode+verify / `baseline` as (ratio of the fastest calls, ratio of the median calls) over
/// `calls` calls of each, interleaved one by one, alternating which goes first.
fn ratio(f: &Fixture, baseline: fn(&Fixture) -> bool, calls: usize) -> (f64, f64) {
    let (mut ours, mut raw) = (Vec::with_capacity(calls), Vec::with_capacity(calls));
    for i in 0..calls {
        if i % 2 == 0 {
            ours.push(time(f, decode_verify));
            raw.push(time(f, baseline));
        } else {
            raw.push(time(f, baseline));
            ours.push(time(f, decode_verify));
        }
    }
    let ((ours_min, ours_med), (raw_min, raw_med)) = (stats(ours), stats(raw));
    (ours_min / raw_min, ours_med / raw_med)
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` does not, and criterion then runs
    // each benchmark once as a test. Measure the ratio only for a real benchmark run.
    let benching = std::env::args().any(|a| a == "--bench");
    card();
    Criterion::default().configure_from_args().final_summary();
    if !benching {
        return;
    }
    let f = fixture();
    let (min, med) = ratio(&f, raw_verify, 5000);
    println!("decode+verify / raw verify_strict: {min:.3}x fastest, {med:.3}x median of 5000 interleaved calls (goal <= 1.1x)");
    let (min, med) = ratio(&f, raw_verify_parsed, 5000);
    println!("decode+verify / raw verify_strict with the key parsed once: {min:.3}x fastest, {med:.3}x median");
}
