//! Replication lag across a fleet, from the outside: a writer posts a fresh teaser to one
//! relay (a different one each sample) while readers on every other relay poll its board; the
//! lag of a sample on a relay is the time from the writer's `Stored` answer until a reader's
//! Get there returns it. Readers poll from their cursors, several per relay in turn (each peer
//! may make 4 board requests a second), so a lag is over-read by up to about
//! [`READ_EVERY`] plus a Get's round trip.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use libp2p::swarm::dial_opts::DialOpts;
use libp2p::swarm::SwarmEvent;
use libp2p::{request_response, Swarm};
use meishi_event::{BoardRequest, BoardResponse};
use tokio::sync::{mpsc, watch};

use crate::attendee::Shared;
use crate::client::{self, Client, ClientEvent};

/// Readers per relay, polling in turn.
const READERS: usize = 4;
/// How often a relay's board is read: each reader every `READERS * READ_EVERY`, 4 a second.
const READ_EVERY: Duration = Duration::from_millis(63);
/// A sample not seen on a relay within this long counts as missed there.
const GIVE_UP: Duration = Duration::from_secs(30);
/// Loopback addresses the writer and the readers dial from (not the attendees' hosts).
const WRITER_SRC: [u8; 4] = [127, 0, 0, 3];
const READER_SRC: [u8; 4] = [127, 0, 0, 4];

/// What the samples gave.
#[derive(Debug, Default)]
pub struct Lag {
    /// One per sample and relay other than the one written to.
    pub lags: Vec<Duration>,
    /// (sample, relay) pairs not seen within [`GIVE_UP`].
    pub missed: usize,
    /// Samples whose Put failed.
    pub failed_puts: usize,
}

async fn connected(s: &mut Swarm<Client>, sh: &Shared, i: usize) -> bool {
    let r = &sh.relays[i];
    if s.is_connected(&r.id) {
        return true;
    }
    let opts = DialOpts::peer_id(r.id)
        .addresses(vec![r.addr.clone()])
        .build();
    if s.dial(opts).is_err() {
        return false;
    }
    client::next(s, |ev| match ev {
        SwarmEvent::ConnectionEstablished { peer_id, .. } if peer_id == r.id => Some(true),
        SwarmEvent::OutgoingConnectionError {
            peer_id: Some(p), ..
        } if p == r.id => Some(false),
        _ => None,
    })
    .await
    .unwrap_or(false)
}

/// Sends one board request to relay `i` and waits for its answer.
async fn ask(
    s: &mut Swarm<Client>,
    sh: &Shared,
    i: usize,
    req: BoardRequest,
) -> Option<BoardResponse> {
    if !connected(s, sh, i).await {
        return None;
    }
    s.behaviour_mut().board.send_request(&sh.relays[i].id, req);
    client::next(s, |ev| match ev {
        SwarmEvent::Behaviour(ClientEvent::Board(request_response::Event::Message {
            message: request_response::Message::Response { response, .. },
            ..
        })) => Some(Some(response)),
        SwarmEvent::Behaviour(ClientEvent::Board(request_response::Event::OutboundFailure {
            ..
        })) => Some(None),
        _ => None,
    })
    .await
    .flatten()
}

/// One reader of relay `i`: reads its board from the cursor every `period` (starting after
/// `offset`) and reports each of the writer's entries it sees, with when.
async fn reader(
    sh: Arc<Shared>,
    i: usize,
    writer: Vec<u8>,
    offset: Duration,
    period: Duration,
    tx: mpsc::Sender<(usize, Instant, Vec<u8>)>,
    mut stop: watch::Receiver<bool>,
) {
    let Ok(mut s) = client::swarm(IpAddr::from(READER_SRC), Duration::from_secs(3600), None) else {
        return;
    };
    let mut cursor = 0;
    client::idle(&mut s, offset, |_| {}).await;
    while !*stop.borrow() {
        let started = Instant::now();
        loop {
            let get = BoardRequest::Get {
                namespace: sh.ev.namespace().into(),
                cursor,
                limit: 256,
            };
            let Some(BoardResponse::Entries {
                entries,
                cursor: c,
                more,
            }) = ask(&mut s, &sh, i, get).await
            else {
                break;
            };
            let at = Instant::now();
            for e in entries {
                if e.peer() == writer {
                    let _ = tx.try_send((i, at, e.sealed().to_vec()));
                }
            }
            cursor = c;
            if !more {
                break;
            }
        }
        let wait = period.saturating_sub(started.elapsed());
        tokio::select! {
            _ = client::idle(&mut s, wait, |_| {}) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Takes `samples` samples, one every `every` from the start, the origin relay rotating.
pub async fn measure(
    sh: Arc<Shared>,
    samples: usize,
    every: Duration,
    stop: watch::Receiver<bool>,
) -> Lag {
    let mut lag = Lag::default();
    let k = sh.relays.len();
    let Ok(mut w) = client::swarm(IpAddr::from(WRITER_SRC), Duration::from_secs(3600), None) else {
        return lag;
    };
    let writer = w.local_peer_id().to_bytes();
    let (tx, mut rx) = mpsc::channel(1024);
    let mut readers = Vec::new();
    for i in 0..k {
        for r in 0..READERS {
            readers.push(tokio::spawn(reader(
                sh.clone(),
                i,
                writer.clone(),
                READ_EVERY * (r as u32),
                READ_EVERY * READERS as u32,
                tx.clone(),
                stop.clone(),
            )));
        }
    }
    for i in 0..k {
        connected(&mut w, &sh, i).await;
    }
    let start = Instant::now();
    for n in 0..samples {
        if *stop.borrow() {
            break;
        }
        let due = start + every * (n as u32 + 1);
        client::idle(
            &mut w,
            due.saturating_duration_since(Instant::now()),
            |_| {},
        )
        .await;
        let origin = n % k;
        let Some(sealed) = sh.sealed_teaser(&format!("lag sample {n}")) else {
            lag.failed_puts += 1;
            continue;
        };
        let put = BoardRequest::Put {
            namespace: sh.ev.namespace().into(),
            ttl: sh.ttl,
            sealed: sealed.clone(),
        };
        if !matches!(
            ask(&mut w, &sh, origin, put).await,
            Some(BoardResponse::Stored { .. })
        ) {
            lag.failed_puts += 1;
            continue;
        }
        let put_at = Instant::now();
        let mut waiting: Vec<usize> = (0..k).filter(|&i| i != origin).collect();
        let deadline = put_at + GIVE_UP;
        while !waiting.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            // The writer's swarm is driven meanwhile; its idle drive ends at the deadline.
            let got = tokio::select! {
                got = rx.recv() => got,
                () = client::idle(&mut w, left, |_| {}) => None,
            };
            let Some((i, at, seen)) = got else { break };
            if seen == sealed && waiting.contains(&i) {
                waiting.retain(|&j| j != i);
                lag.lags.push(at.saturating_duration_since(put_at));
            }
        }
        lag.missed += waiting.len();
    }
    drop(rx);
    for r in readers {
        r.abort();
    }
    lag
}
