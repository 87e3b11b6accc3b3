//! Scan time of the hostile images (a lattice of finder look-alikes, noise, one grey) against
//! decoding a clean rendered card, in the same run, and the nanoseconds a work unit costs.
//!
//! ```text
//! cargo bench -p meishi-qr --bench scan                 # release (the bench profile)
//! cargo bench -p meishi-qr --bench scan --profile test  # what the tests build
//! ```
//!
//! The budget bounds work units, not time (tests never assert a time); this bench is where the
//! two meet. After the criterion groups it times each hostile scan and a baseline scan one after
//! the other, alternately, so both see the same machine load, and prints the fastest of each
//! (the stable figure on a busy machine), the ratio, the work units spent and nanoseconds per
//! unit. Goal: a hostile image costs at most the budget, about 0.3 s of one core; the clean card
//! a few milliseconds.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion};
use meishi_card::{Card, Identity, SignedCard};
use meishi_qr::{encode_payload, render_png, scan_image, scan_image_within, Budget, Ecc};

#[path = "../tests/support/hostile.rs"]
mod hostile;

const ROUNDS: usize = 5;

fn clean_card() -> Vec<u8> {
    let card = SignedCard::sign(
        &Identity::from_seed(&[7; 32]),
        1,
        1,
        &Card::new("Ada Lovelace"),
    )
    .expect("signs");
    render_png(&encode_payload(&card).expect("payload"), Ecc::M, 4).expect("png")
}

fn cases() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (
            "finder-lattice-900",
            hostile::png(&hostile::finder_lattice(900, 4, 9)),
        ),
        (
            "noise-1600",
            hostile::png(&hostile::noise(1600, 0x1234_5678)),
        ),
        ("grey-1200", hostile::png(&hostile::blank(1200))),
    ]
}

fn scan(bytes: &[u8]) {
    let _ = black_box(scan_image(black_box(bytes)));
}

fn groups(c: &mut Criterion) {
    let mut g = c.benchmark_group("scan");
    g.sample_size(10);
    g.bench_function("clean-card", |b| {
        let png = clean_card();
        b.iter(|| scan(&png));
    });
    for (name, png) in cases() {
        g.bench_function(name, |b| b.iter(|| scan(&png)));
    }
    g.finish();
}

fn timed(bytes: &[u8]) -> Duration {
    let t = Instant::now();
    scan(bytes);
    t.elapsed()
}

fn ratios() {
    let base = clean_card();
    println!("\nfastest of {ROUNDS}, each hostile scan alternating with a clean-card scan:");
    for (name, png) in cases() {
        let (mut best, mut best_base) = (Duration::MAX, Duration::MAX);
        for _ in 0..ROUNDS {
            best = best.min(timed(&png));
            best_base = best_base.min(timed(&base));
        }
        let work = scan_image_within(&png, &Budget::DEFAULT)
            .map(|r| r.work)
            .unwrap_or(0);
        println!(
            "  {name:<20} {:>8.1} ms = {:>6.1} × clean card ({:.2} ms); {work} work units, {:.2} ns a unit",
            best.as_secs_f64() * 1e3,
            best.as_secs_f64() / best_base.as_secs_f64().max(1e-9),
            best_base.as_secs_f64() * 1e3,
            best.as_secs_f64() * 1e9 / work.max(1) as f64
        );
    }
}

criterion_group!(benches, groups);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    ratios();
}
