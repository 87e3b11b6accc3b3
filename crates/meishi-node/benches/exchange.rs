//! A give-and-give-back round trip on an open connection, against a libp2p ping round trip on
//! the same connection, in the same run. Goal: the swap takes at most 1.5× the ping RTT.
//!
//! `cargo bench -p meishi-node --bench exchange` prints criterion's numbers for both and, at the
//! end, the ratio of their medians from a direct interleaved measurement.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use meishi_card::{Card, Identity, SignedCard};
use meishi_node::{Config, GiveOutcome, Limits, Node, PeerId, Policy};

struct Pair {
    a: Node,
    b: Node,
    b_peer: PeerId,
}

fn node(seed: u8, name: &str) -> Node {
    let id = Identity::from_seed(&[seed; 32]);
    let mut card = Card::new(name);
    card.org = Some("Benchmark Ltd".into());
    card.emails = vec![format!("{}@example.com", name.to_lowercase())];
    let card = SignedCard::sign(&id, 1, 1_700_000_000, &card).expect("sign");
    let mut config = Config::new(id, card);
    config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().expect("addr")];
    config.policy = Policy::Auto;
    config.limits = Limits {
        // A benchmark floods one peer on purpose.
        request_burst: u32::MAX,
        request_refill: Duration::ZERO,
        ping_interval: Duration::from_millis(1),
        ..Limits::default()
    };
    let (node, mut events) = Node::spawn(config).expect("spawn");
    // Nobody stores anything here; keep the event stream drained so the node never waits.
    tokio::spawn(async move { while events.recv().await.is_some() {} });
    node
}

async fn pair() -> Pair {
    let a = node(1, "Ada");
    let b = node(2, "Bob");
    let addr = loop {
        if let Some(a) = b.listen_addrs().await.expect("addrs").into_iter().next() {
            break a;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let b_peer = a.dial(addr).await.expect("dial");
    // Warm up: one swap opens everything the loop needs.
    let out = a.give(b_peer, vec![]).await.expect("give");
    assert!(matches!(out, GiveOutcome::Mutual { .. }));
    Pair { a, b, b_peer }
}

async fn give_round_trip(p: &Pair) -> Duration {
    let start = Instant::now();
    let out = p.a.give(p.b_peer, vec![]).await.expect("give");
    let d = start.elapsed();
    assert!(matches!(out, GiveOutcome::Mutual { .. }));
    d
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let p = rt.block_on(pair());

    let mut group = c.benchmark_group("round_trip");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    group.bench_function("libp2p_ping", |bch| {
        bch.to_async(&rt).iter_custom(|iters| {
            let p = &p;
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += p.a.ping(p.b_peer).await.expect("ping");
                }
                total
            }
        })
    });
    group.bench_function("give_and_give_back", |bch| {
        bch.to_async(&rt).iter_custom(|iters| {
            let p = &p;
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += give_round_trip(p).await;
                }
                total
            }
        })
    });
    group.finish();

    // The ratio, from interleaved samples so both see the same machine load.
    let (pings, gives) = rt.block_on(async {
        let (mut pings, mut gives) = (Vec::new(), Vec::new());
        for _ in 0..300 {
            pings.push(p.a.ping(p.b_peer).await.expect("ping"));
            gives.push(give_round_trip(&p).await);
        }
        (pings, gives)
    });
    let (ping, give) = (median(pings), median(gives));
    eprintln!(
        "\nmedian libp2p ping RTT {ping:?}, median give-and-give-back {give:?}: ratio {:.2} (goal <= 1.5)\n",
        give.as_secs_f64() / ping.as_secs_f64()
    );
    rt.block_on(async {
        let _ = p.a.shutdown().await;
        let _ = p.b.shutdown().await;
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
