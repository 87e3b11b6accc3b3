//! A give-and-give-back round trip on an open connection, against a libp2p ping round trip on
//! the same connection, in the same run. Goal: the swap takes at most 1.5× the ping RTT.
//!
//! `cargo bench -p meishi-node --bench exchange` prints criterion's numbers for both and, at the
//! end, the ratio of their medians from a direct interleaved measurement. Two more numbers
//! explain the gap: `fetch` (one request-response round trip on a new stream, one signature
//! verified) and `crypto`, the signing and verification work of one swap without any network
//! (two envelopes signed, each decoded and verified: card and envelope signature).

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use meishi_card::envelope::Envelope;
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

fn test_card(seed: u8, name: &str) -> (Identity, SignedCard) {
    let id = Identity::from_seed(&[seed; 32]);
    let mut card = Card::new(name);
    card.org = Some("Benchmark Ltd".into());
    card.emails = vec![format!("{}@example.com", name.to_lowercase())];
    let card = SignedCard::sign(&id, 1, 1_700_000_000, &card).expect("sign");
    (id, card)
}

/// The CPU work of one swap, without the network: what the two peers sign and verify.
fn crypto_round(a: &(Identity, SignedCard), b: &(Identity, SignedCard)) -> Duration {
    let start = Instant::now();
    let now = 1_700_000_000;
    let mine = Envelope::sign(&a.0, &a.1, b.0.public(), now, None, [1; 16]).expect("sign");
    let got = Envelope::decode(mine.as_bytes()).expect("decode");
    got.check(&a.0.public(), &b.0.public(), now, 600)
        .expect("check");
    let back = Envelope::sign(&b.0, &b.1, a.0.public(), now, None, [2; 16]).expect("sign");
    let got = Envelope::decode(back.as_bytes()).expect("decode");
    got.check(&b.0.public(), &a.0.public(), now, 600)
        .expect("check");
    start.elapsed()
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
    group.bench_function("fetch", |bch| {
        bch.to_async(&rt).iter(|| async {
            p.a.fetch(p.b_peer, vec![]).await.expect("fetch");
        })
    });
    let (ka, kb) = (test_card(1, "Ada"), test_card(2, "Bob"));
    group.bench_function("crypto_only", |bch| {
        bch.iter_custom(|iters| (0..iters).map(|_| crypto_round(&ka, &kb)).sum())
    });
    group.finish();

    // The ratios, from interleaved samples so all see the same machine load.
    let (mut pings, mut gives, mut fetches, mut cryptos) = (vec![], vec![], vec![], vec![]);
    let mut hops = vec![];
    rt.block_on(async {
        for _ in 0..300 {
            pings.push(p.a.ping(p.b_peer).await.expect("ping"));
            gives.push(give_round_trip(&p).await);
            let start = Instant::now();
            p.a.fetch(p.b_peer, vec![]).await.expect("fetch");
            fetches.push(start.elapsed());
            cryptos.push(crypto_round(&ka, &kb));
            let start = Instant::now();
            p.a.listen_addrs().await.expect("addrs");
            hops.push(start.elapsed());
        }
    });
    let (ping, give) = (median(pings), median(gives));
    let (fetch, crypto, hop) = (median(fetches), median(cryptos), median(hops));
    let ratio = |d: Duration| d.as_secs_f64() / ping.as_secs_f64();
    eprintln!(
        "\nmedians over 300 interleaved rounds: libp2p ping RTT {ping:?}; give-and-give-back {give:?} \
         = {:.2}x ping (goal <= 1.5); fetch {fetch:?} = {:.2}x ping; crypto of one swap alone \
         {crypto:?} = {:.2}x ping; one command to the event loop and back {hop:?}\n",
        ratio(give),
        ratio(fetch),
        ratio(crypto)
    );
    rt.block_on(async {
        let _ = p.a.shutdown().await;
        let _ = p.b.shutdown().await;
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
