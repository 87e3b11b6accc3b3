//! The relay's cost of answering one board Get: a full page (1,024 entries) of an event of
//! 10,000, with teasers of 320 bytes (what `relay-load` posts), answered and written as a frame
//! to a stream that only counts the bytes. The relay writes the bytes each entry holds, encoded
//! once when it was posted, straight into the stream's pieces. Against the baseline of the same
//! page answered the way the relay did before 2026-11-29: every entry's sealed teaser copied
//! and its peer id encoded again for every reader, the response encoded into one buffer, then
//! written.
//!
//! ```text
//! cargo bench -p meishi-relay --bench board_read
//! ```
//!
//! After the criterion group the bench times the two alternately, so both see the same machine
//! load, and prints the ratio of their fastest runs. docs/relay.md#where-a-relays-cpu-and-memory-go

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion};
use futures::executor::block_on;
use libp2p::PeerId;
use meishi_event::frame;
use meishi_event::{BoardEntry, BoardRequest, BoardResponse, MAX_BOARD_PAGE};
use meishi_relay::board::Board;
use meishi_relay::config::StoreLimits;
use meishi_relay::registry::Registry;

const NS: &str = "meishi-ev2-815816ad7b39e73b408b1ae9d44faa332cd650ca1b8ac12ef7a5d09468b8f0dd";
const ATTENDEES: usize = 10_000;
const SEALED: usize = 320;
/// Where the page starts: the middle of the board.
const CURSOR_AT: usize = ATTENDEES / 2;

fn board(now: Instant) -> (Board, u64) {
    let mut b = Board::new(Registry::new(StoreLimits::default().caps()));
    for i in 0..ATTENDEES {
        let put = BoardRequest::Put {
            namespace: NS.into(),
            ttl: 3_600,
            sealed: vec![i as u8; SEALED],
        };
        b.handle(PeerId::random(), None, put, now, 1_000 + i as u64);
    }
    let (_, cursor, _) = b.registry().page(NS, 0, CURSOR_AT, now);
    (b, cursor)
}

fn get(cursor: u64) -> BoardRequest {
    BoardRequest::Get {
        namespace: NS.into(),
        cursor,
        limit: MAX_BOARD_PAGE,
    }
}

/// A stream that counts what is written to it.
#[derive(Default)]
struct Count(usize);

impl futures::AsyncWrite for Count {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.0 += black_box(buf).len();
        std::task::Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_close(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

/// What the relay does: answer with the bytes each entry holds, written as they are.
fn shared(b: &mut Board, cursor: u64, now: Instant) -> usize {
    let (_, resp) = b.handle(PeerId::random(), None, get(cursor), now, 1);
    let mut out = Count::default();
    block_on(frame::write_message(&mut out, &resp)).expect("a counting stream takes all");
    out.0
}

/// The baseline: the same page, each entry copied and its peer id encoded per reader.
fn copied(b: &Board, cursor: u64, now: Instant) -> usize {
    let (page, cursor, more) = b
        .registry()
        .page(NS, cursor, usize::from(MAX_BOARD_PAGE), now);
    let entries = page
        .into_iter()
        .map(|l| BoardEntry::new(&l.peer.to_bytes(), l.value.entry.sealed()))
        .collect();
    let resp = BoardResponse::Entries {
        entries,
        cursor,
        more,
    };
    let mut out = Count::default();
    block_on(frame::write(&mut out, &resp.encode())).expect("a counting stream takes all");
    out.0
}

fn bench(c: &mut Criterion) {
    let now = Instant::now();
    let (mut b, cursor) = board(now);
    assert_eq!(shared(&mut b, cursor, now), copied(&b, cursor, now));
    let mut g = c.benchmark_group("board page of 1,024 from 10,000");
    g.bench_function("shared bytes (the relay)", |x| {
        x.iter(|| shared(&mut b, cursor, now))
    });
    g.bench_function("copied per reader (before)", |x| {
        x.iter(|| copied(&b, cursor, now))
    });
    g.finish();

    // Alternate the two so that both see the same load; keep the fastest of each.
    let (mut best_shared, mut best_copied) = (Duration::MAX, Duration::MAX);
    for _ in 0..200 {
        let t = Instant::now();
        shared(&mut b, cursor, now);
        best_shared = best_shared.min(t.elapsed());
        let t = Instant::now();
        copied(&b, cursor, now);
        best_copied = best_copied.min(t.elapsed());
    }
    println!(
        "fastest of 200: shared {:.1} µs, copied {:.1} µs: shared costs {:.2} of copied",
        best_shared.as_secs_f64() * 1e6,
        best_copied.as_secs_f64() * 1e6,
        best_shared.as_secs_f64() / best_copied.as_secs_f64()
    );
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
