//! The cost of deriving an event key (Argon2id, proto-spec/relay.md#event-secret), against one
//! SHA-256 of the code (what a guess cost with the v1 namespace) and one ed25519 signature, in
//! the same run.
//!
//! ```text
//! cargo bench -p meishi-event --bench event_kdf                 # release (the bench profile)
//! cargo bench -p meishi-event --bench event_kdf --profile test  # what the tests build
//! ```
//!
//! Goal: one derivation costs 0.2-0.5 s of one core. After the criterion groups the bench
//! measures the ratios directly: a derivation and a batch of each baseline are timed one after
//! the other, alternately, so all see the same machine load. It prints the fastest calls (the
//! ones nothing interrupted: the stable figure on a busy machine), the medians, and the plain
//! milliseconds of a derivation.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion};
use ed25519_dalek::{Signer, SigningKey};
use meishi_event::{normalize, EventKey};
use sha2::{Digest, Sha256};

const CODE: &str = "RustConf 2026 Berlin Meetup";
/// Derivations timed for the ratios (each about a quarter second).
const DERIVATIONS: usize = 15;
/// Baseline calls per timed batch: one call is too short to time alone.
const BATCH: u32 = 2000;

fn derive() {
    black_box(EventKey::derive(black_box(CODE)).expect("a valid code"));
}

fn sha256(normalized: &str) {
    black_box(Sha256::digest(black_box(normalized.as_bytes())));
}

fn sign(id: &SigningKey) {
    black_box(id.sign(black_box(CODE.as_bytes())));
}

fn benches(c: &mut Criterion) {
    let normalized = normalize(CODE).expect("a valid code");
    let id = SigningKey::from_bytes(&[7; 32]);
    let mut g = c.benchmark_group("event_kdf");
    g.bench_function("sha256 of the code (v1 namespace)", |b| {
        b.iter(|| sha256(&normalized))
    });
    g.bench_function("ed25519 sign", |b| b.iter(|| sign(&id)));
    g.finish();
    let mut g = c.benchmark_group("event_kdf_slow");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(5));
    g.bench_function("EventKey::derive (Argon2id)", |b| b.iter(derive));
    g.finish();
}

criterion_group!(event_kdf, benches);

/// Seconds of one call of `op`, timed over `n` calls.
fn per_call(n: u32, mut op: impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        op();
    }
    start.elapsed().as_secs_f64() / f64::from(n)
}

/// (fastest, median).
fn stats(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[0], v[v.len() / 2])
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` does not, and criterion then runs
    // each benchmark once as a test. Measure the ratios only for a real benchmark run.
    let benching = std::env::args().any(|a| a == "--bench");
    event_kdf();
    Criterion::default().configure_from_args().final_summary();
    if !benching {
        return;
    }
    let normalized = normalize(CODE).expect("a valid code");
    let id = SigningKey::from_bytes(&[7; 32]);
    let (mut kdf, mut hash, mut sig) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..DERIVATIONS {
        if i % 2 == 0 {
            kdf.push(per_call(1, derive));
            hash.push(per_call(BATCH, || sha256(&normalized)));
            sig.push(per_call(BATCH / 10, || sign(&id)));
        } else {
            sig.push(per_call(BATCH / 10, || sign(&id)));
            hash.push(per_call(BATCH, || sha256(&normalized)));
            kdf.push(per_call(1, derive));
        }
    }
    let ((kdf_min, kdf_med), (hash_min, hash_med), (sig_min, sig_med)) =
        (stats(kdf), stats(hash), stats(sig));
    println!(
        "EventKey::derive: {:.0} ms fastest, {:.0} ms median of {DERIVATIONS} (goal 200-500 ms)",
        kdf_min * 1e3,
        kdf_med * 1e3
    );
    println!(
        "EventKey::derive / SHA-256 of the code: {:.2e}x fastest, {:.2e}x median",
        kdf_min / hash_min,
        kdf_med / hash_med
    );
    println!(
        "EventKey::derive / ed25519 sign: {:.0}x fastest, {:.0}x median",
        kdf_min / sig_min,
        kdf_med / sig_med
    );
}
