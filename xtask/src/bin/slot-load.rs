//! Slot and drop load on a running relay (issue 14): what 10,000 people's card slots, and
//! 10,000 letters waiting in drop boxes, cost a relay in CPU and memory. Several clients on
//! this machine put N distinct slot records (each a sealed reference card, seq 1, expiring in
//! 60 days as `meishi` publishes them), get them all back in batches of 64 (`MAX_SLOT_GET`),
//! then replace each once (seq 2). Then N card letters (a give envelope with links, sealed to a
//! box of its own) go into N boxes, are read back 64 boxes at a time and acknowledged one box
//! at a time, as a recipient does. For each phase: wall time, the relay's CPU time (utime +
//! stime from /proc/PID/stat), its resident memory (VmRSS) before, at the peak and after,
//! failed requests, and the bytes stored.
//!
//! The relay's defaults refuse this from one host on purpose (4,096 records per host, 1,024
//! waiting letters, a request bucket of 1,024 and one more every 4 ms), so the measurement
//! runs a relay with those raised and every other limit at its default:
//!
//! ```toml
//! # /tmp/slot-load.toml
//! [limits]
//! request_rate_per_peer = { burst = 1000000, interval_ms = 1 }
//! request_rate_per_host = { burst = 1000000, interval_ms = 1 }
//!
//! [limits.slots]
//! max_per_ip = 100000
//! site_share = 100000
//!
//! [limits.drops]
//! per_host = 100000
//! site_share = 100000
//! ```
//!
//! ```sh
//! cargo build --release --bin meishi && cargo build --release -p xtask --bin slot-load
//! target/release/meishi --home /tmp/slot-load-relay relay --config /tmp/slot-load.toml \
//!     --listen /ip4/127.0.0.1/tcp/4012 --external-address /ip4/127.0.0.1/tcp/4012 \
//!     --no-metrics --json > /tmp/slot-load-relay.json &
//! sleep 1
//! RELAY=$(head -1 /tmp/slot-load-relay.json | sed 's/.*"addr":"\([^"]*\)".*/\1/')
//! target/release/slot-load "$RELAY" --relay-pid $! --relay-db /tmp/slot-load-relay/relay.db \
//!     [--n 10000] [--clients 4] [--inflight 8] [--no-drops]
//! ```
//!
//! The relay keeps its slots and boxes in `relay.db` (SQLite, written through on every change);
//! `--relay-db` reports that file's size (with its write-ahead log) after each phase. Start the
//! relay with `--no-store` instead to measure the stores in memory only.
//!
//! Every client is one connection, and keeps at most `--inflight` requests open on it (8 by
//! default: the relay's `max_streams_per_connection`). The records, envelopes and sealed
//! letters are made before the first phase, so their signing does not count; checking each
//! response is cheap. The clients share the machine's cores with the relay, so wall times are
//! the pair's, while the CPU times are the relay's alone.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{noise, tcp, yamux, Multiaddr, PeerId, Swarm};
use meishi_app::drops::Letter;
use meishi_card::envelope::Envelope;
use meishi_card::{Card, Identity, SignedCard};
use meishi_event::{
    drop_digest, seal_drop, slot_nonce, DropId, DropRequest, DropResponse, DropSecret, Links,
    SlotAddress, SlotId, SlotKey, SlotRecord, SlotRequest, SlotResponse, SlotSealKey, MAX_DROP_GET,
    MAX_SLOT_GET,
};
use meishi_relay::{drops, slots};

type Result<T, E = Box<dyn std::error::Error>> = std::result::Result<T, E>;

/// The reference card (shared/reference-cards/ada.json, the repository's copy).
const ADA_JSON: &str = include_str!("../../../crates/meishi-card/testdata/ada.json");
/// How far ahead `meishi` sets a record's expiry.
const LIFETIME: u64 = meishi_app::updates::RECORD_LIFETIME_SECS;

#[derive(NetworkBehaviour)]
struct Client {
    slots: request_response::Behaviour<slots::Codec>,
    drops: request_response::Behaviour<drops::Codec>,
}

fn client() -> Result<Swarm<Client>> {
    let rr = || {
        request_response::Config::default()
            .with_request_timeout(Duration::from_secs(120))
            .with_max_concurrent_streams(64)
    };
    Ok(libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )?
        .with_behaviour(|_| Client {
            slots: request_response::Behaviour::with_codec(
                slots::Codec::default(),
                [(slots::PROTOCOL, ProtocolSupport::Outbound)],
                rr(),
            ),
            drops: request_response::Behaviour::with_codec(
                drops::Codec::default(),
                [(drops::PROTOCOL, ProtocolSupport::Outbound)],
                rr(),
            ),
        })?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
        .build())
}

/// Dials the relay and waits for the connection.
async fn connect(s: &mut Swarm<Client>, relay: &Multiaddr) -> Result<()> {
    s.dial(relay.clone())?;
    let wait = async {
        loop {
            match s.select_next_some().await {
                SwarmEvent::ConnectionEstablished { .. } => return Ok(()),
                SwarmEvent::OutgoingConnectionError { error, .. } => {
                    return Err(format!("cannot reach the relay: {error}"))
                }
                _ => {}
            }
        }
    };
    Ok(tokio::time::timeout(Duration::from_secs(30), wait).await??)
}

/// (resident KiB, CPU seconds) of a process.
fn proc_stat(pid: u32) -> Option<(u64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some((rss_kb, ticks as f64 / 100.0))
}

/// One request of a phase.
enum Req {
    Slot(SlotRequest),
    Drop(DropRequest),
}

/// Its answer; `None` when the request failed on the way (timeout, closed stream).
enum Resp {
    Slot(SlotResponse),
    Drop(DropResponse),
}

/// Sends `jobs` (index, request) over one client's connection, at most `inflight` open at
/// once. Returns the client and each job's answer.
async fn drive(
    mut s: Swarm<Client>,
    relay: PeerId,
    jobs: Vec<(usize, Req)>,
    inflight: usize,
) -> (Swarm<Client>, Vec<(usize, Option<Resp>)>) {
    let mut out = Vec::with_capacity(jobs.len());
    let mut open_slots: HashMap<OutboundRequestId, usize> = HashMap::new();
    let mut open_drops: HashMap<OutboundRequestId, usize> = HashMap::new();
    let mut jobs = jobs.into_iter();
    loop {
        while open_slots.len() + open_drops.len() < inflight {
            let Some((i, req)) = jobs.next() else { break };
            match req {
                Req::Slot(r) => {
                    open_slots.insert(s.behaviour_mut().slots.send_request(&relay, r), i);
                }
                Req::Drop(r) => {
                    open_drops.insert(s.behaviour_mut().drops.send_request(&relay, r), i);
                }
            }
        }
        if open_slots.is_empty() && open_drops.is_empty() {
            return (s, out);
        }
        use request_response::{Event, Message};
        match s.select_next_some().await {
            SwarmEvent::Behaviour(ClientEvent::Slots(Event::Message {
                message:
                    Message::Response {
                        request_id,
                        response,
                    },
                ..
            })) => {
                if let Some(i) = open_slots.remove(&request_id) {
                    out.push((i, Some(Resp::Slot(response))));
                }
            }
            SwarmEvent::Behaviour(ClientEvent::Slots(Event::OutboundFailure {
                request_id,
                ..
            })) => {
                if let Some(i) = open_slots.remove(&request_id) {
                    out.push((i, None));
                }
            }
            SwarmEvent::Behaviour(ClientEvent::Drops(Event::Message {
                message:
                    Message::Response {
                        request_id,
                        response,
                    },
                ..
            })) => {
                if let Some(i) = open_drops.remove(&request_id) {
                    out.push((i, Some(Resp::Drop(response))));
                }
            }
            SwarmEvent::Behaviour(ClientEvent::Drops(Event::OutboundFailure {
                request_id,
                ..
            })) => {
                if let Some(i) = open_drops.remove(&request_id) {
                    out.push((i, None));
                }
            }
            _ => {}
        }
    }
}

struct Args {
    relay: Multiaddr,
    relay_id: PeerId,
    pid: Option<u32>,
    n: usize,
    clients: usize,
    inflight: usize,
    drops: bool,
    db: Option<std::path::PathBuf>,
}

fn args() -> Result<Args> {
    const USAGE: &str = "usage: slot-load RELAY_ADDR [--relay-pid PID] [--n N] [--clients K] \
                         [--inflight M] [--no-drops] [--relay-db PATH]";
    let mut it = std::env::args().skip(1);
    let relay: Multiaddr = it.next().ok_or(USAGE)?.parse()?;
    let Some(Protocol::P2p(relay_id)) = relay.iter().last() else {
        return Err("the relay address must end in /p2p/<id>".into());
    };
    let mut a = Args {
        relay,
        relay_id,
        pid: None,
        n: 10_000,
        clients: 4,
        inflight: 8,
        drops: true,
        db: None,
    };
    while let Some(flag) = it.next() {
        if flag == "--no-drops" {
            a.drops = false;
            continue;
        }
        let v = it.next().ok_or(USAGE)?;
        match flag.as_str() {
            "--relay-pid" => a.pid = Some(v.parse()?),
            "--n" => a.n = v.parse()?,
            "--clients" => a.clients = v.parse::<usize>()?.max(1),
            "--inflight" => a.inflight = v.parse::<usize>()?.max(1),
            "--relay-db" => a.db = Some(v.into()),
            _ => return Err(USAGE.into()),
        }
    }
    Ok(a)
}

/// What one phase cost.
struct Phase {
    name: String,
    requests: usize,
    failed: usize,
    wall: Duration,
    cpu: Option<f64>,
    rss: Option<(u64, u64, u64)>,
    /// Bytes of records or letters the relay holds after the phase, as this probe counts them.
    stored: usize,
    /// The size of the relay's store file and its write-ahead log after the phase.
    db: Option<u64>,
}

/// The run: the clients, the relay's pid, and a sampler of its peak memory.
struct Run {
    clients: Vec<Swarm<Client>>,
    relay_id: PeerId,
    inflight: usize,
    pid: Option<u32>,
    peak: Arc<AtomicU64>,
    db: Option<std::path::PathBuf>,
}

impl Run {
    /// Runs one phase: `jobs` spread over the clients in turn; each answer goes to `check`,
    /// which says whether it is the expected one.
    async fn phase(
        &mut self,
        name: &str,
        jobs: Vec<Req>,
        mut check: impl FnMut(usize, Resp) -> bool,
    ) -> Phase {
        let requests = jobs.len();
        let k = self.clients.len();
        let mut shares: Vec<Vec<(usize, Req)>> = (0..k).map(|_| Vec::new()).collect();
        for (i, r) in jobs.into_iter().enumerate() {
            shares[i % k].push((i, r));
        }
        let before = self.pid.and_then(proc_stat);
        self.peak
            .store(before.map_or(0, |b| b.0), Ordering::Relaxed);
        let t0 = Instant::now();
        let tasks: Vec<_> = self
            .clients
            .drain(..)
            .zip(shares)
            .map(|(s, share)| tokio::spawn(drive(s, self.relay_id, share, self.inflight)))
            .collect();
        let mut failed = 0;
        for t in tasks {
            // A client task that panicked loses its swarm; the phases after it run with fewer.
            let Ok((s, answers)) = t.await else { continue };
            self.clients.push(s);
            for (i, a) in answers {
                if !a.is_some_and(|a| check(i, a)) {
                    failed += 1;
                }
            }
        }
        let wall = t0.elapsed();
        let after = self.pid.and_then(proc_stat);
        let peak = self.peak.load(Ordering::Relaxed);
        let (cpu, rss) = match (before, after) {
            (Some((r0, c0)), Some((r1, c1))) => (Some(c1 - c0), Some((r0, peak.max(r1), r1))),
            _ => (None, None),
        };
        Phase {
            name: name.to_owned(),
            requests,
            failed,
            wall,
            cpu,
            rss,
            stored: 0,
            db: self.db.as_deref().map(db_size),
        }
    }
}

/// Person `i`'s seed: distinct for every person and every use.
fn seed(tag: u8, i: usize) -> [u8; 32] {
    let mut s = [tag; 32];
    s[..8].copy_from_slice(&(i as u64).to_le_bytes());
    s
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// One person's slot and its records.
struct Person {
    slot: SlotId,
    seq1: Vec<u8>,
    seq2: Vec<u8>,
}

/// N people's slot records, seq 1 and seq 2: each its own identity, card, slot key and seal key.
fn records(n: usize, now: u64) -> Result<Vec<Person>> {
    let card: Card = serde_json::from_str(ADA_JSON)?;
    (0..n)
        .map(|i| {
            let id = Identity::from_seed(&seed(0xa0, i));
            let slot = SlotKey::from_seed(&seed(0x51, i));
            let key = SlotSealKey::from_bytes(seed(0x52, i));
            let record = |seq: u64| -> Result<Vec<u8>> {
                let signed = SignedCard::sign(&id, seq, now, &card)?;
                Ok(SlotRecord::seal(
                    &slot,
                    &key,
                    seq,
                    now + LIFETIME,
                    signed.as_bytes(),
                    slot_nonce()?,
                )?
                .as_bytes()
                .to_vec())
            };
            Ok(Person {
                slot: slot.id(),
                seq1: record(1)?,
                seq2: record(2)?,
            })
        })
        .collect()
}

/// N card letters, each for a box of its own: Ada's give envelope (format 2, links with one
/// relay) for person `i`, sealed to the box person `i` made for Ada.
fn letters(n: usize, now: u64, relay: &Multiaddr) -> Result<Vec<(DropId, Vec<u8>)>> {
    let card: Card = serde_json::from_str(ADA_JSON)?;
    let ada = Identity::from_seed(&[0xad; 32]);
    let signed = SignedCard::sign(&ada, 1, now, &card)?;
    let relay: meishi_event::Multiaddr = relay.to_string().parse()?;
    let ada_drops = DropSecret::from_bytes([0xae; 32]);
    let slot = SlotKey::from_seed(&[0xaf; 32]);
    (0..n)
        .map(|i| {
            let person = Identity::from_seed(&seed(0xb0, i));
            let mine = ada_drops.address_for(&person.public().0);
            let links = Links {
                slot: SlotAddress::new(
                    slot.id(),
                    SlotSealKey::from_bytes([0xa5; 32]),
                    vec![relay.clone()],
                )?,
                drop_id: mine.id.0,
                drop_key: mine.key,
            };
            let mut nonce = [0u8; 16];
            nonce[..8].copy_from_slice(&(i as u64).to_le_bytes());
            let env = Envelope::sign_with_links(
                &ada,
                &signed,
                person.public(),
                now,
                None,
                nonce,
                &links.encode(),
            )?;
            let theirs = DropSecret::from_bytes(seed(0xb1, i)).address_for(&ada.public().0);
            let sealed = seal_drop(&theirs, &Letter::Card(env.as_bytes().to_vec()).encode())?;
            Ok((theirs.id, sealed))
        })
        .collect()
}

fn print(p: &Phase) {
    let cpu = p.cpu.map_or_else(|| "-".into(), |c| format!("{c:.2} s"));
    let rss = p.rss.map_or_else(
        || "-".into(),
        |(a, peak, b)| format!("{:.1} → {:.1} → {:.1} MiB", mb(a), mb(peak), mb(b)),
    );
    let stored = if p.stored > 0 {
        format!("{:.2} MB", p.stored as f64 / 1e6)
    } else {
        "0".into()
    };
    let db =
        p.db.map_or_else(|| "-".into(), |b| format!("{:.1} MB", b as f64 / 1e6));
    println!(
        "| {} | {} | {} | {:.2} s | {cpu} | {rss} | {stored} | {db} |",
        p.name,
        p.requests,
        p.failed,
        p.wall.as_secs_f64()
    );
}

/// Bytes of an SQLite file and its write-ahead log.
fn db_size(path: &std::path::Path) -> u64 {
    let wal = path.with_extension("db-wal");
    [path, wal.as_path()]
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

fn mb(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let a = args()?;
    let now = unix_now();
    let t = Instant::now();
    let recs = records(a.n, now)?;
    let mail = if a.drops {
        letters(a.n, now, &a.relay)?
    } else {
        Vec::new()
    };
    eprintln!(
        "made {} records and {} letters in {:.1} s",
        recs.len(),
        mail.len(),
        t.elapsed().as_secs_f64()
    );

    let peak = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = a.pid.map(|pid| {
        let (peak, done) = (peak.clone(), done.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                if let Some((rss, _)) = proc_stat(pid) {
                    peak.fetch_max(rss, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    });
    let mut clients = Vec::new();
    for _ in 0..a.clients {
        let mut s = client()?;
        connect(&mut s, &a.relay).await?;
        clients.push(s);
    }
    let mut run = Run {
        clients,
        relay_id: a.relay_id,
        inflight: a.inflight,
        pid: a.pid,
        peak,
        db: a.db.clone(),
    };
    let idle = a.pid.and_then(proc_stat);
    println!(
        "relay pid {}, {} clients × {} requests in flight, {} people; relay RSS with the clients connected: {}",
        a.pid.map_or_else(|| "-".into(), |p| p.to_string()),
        a.clients,
        a.inflight,
        a.n,
        idle.map_or_else(|| "-".into(), |(r, _)| format!("{:.1} MiB", mb(r)))
    );
    println!();
    println!("| phase | requests | failed | wall | relay CPU | relay RSS (before → peak → after) | bytes stored | relay.db + WAL |");
    println!("|---|---:|---:|---:|---:|---|---:|---:|");

    let seq1_bytes: usize = recs.iter().map(|r| r.seq1.len()).sum();
    let seq2_bytes: usize = recs.iter().map(|r| r.seq2.len()).sum();
    let mut phases = Vec::new();

    let jobs = recs
        .iter()
        .map(|r| {
            Req::Slot(SlotRequest::Put {
                record: r.seq1.clone(),
            })
        })
        .collect();
    let mut p = run
        .phase("slots: put (seq 1)", jobs, |_, r| {
            matches!(r, Resp::Slot(SlotResponse::PutOk { seq: 1 }))
        })
        .await;
    p.stored = seq1_bytes;
    print(&p);
    phases.push(p);

    let batches: Vec<&[Person]> = recs.chunks(MAX_SLOT_GET).collect();
    let jobs = batches
        .iter()
        .map(|b| {
            Req::Slot(SlotRequest::Get {
                slots: b.iter().map(|r| r.slot).collect(),
            })
        })
        .collect();
    let mut p = run
        .phase(
            &format!("slots: get, {MAX_SLOT_GET} per request"),
            jobs,
            |i, r| match r {
                Resp::Slot(SlotResponse::Records { records }) => {
                    records.len() == batches[i].len()
                        && records
                            .iter()
                            .zip(batches[i])
                            .all(|(got, want)| *got == want.seq1)
                }
                _ => false,
            },
        )
        .await;
    p.stored = seq1_bytes;
    print(&p);
    phases.push(p);

    let jobs = recs
        .iter()
        .map(|r| {
            Req::Slot(SlotRequest::Put {
                record: r.seq2.clone(),
            })
        })
        .collect();
    let mut p = run
        .phase("slots: replace (seq 2)", jobs, |_, r| {
            matches!(r, Resp::Slot(SlotResponse::PutOk { seq: 2 }))
        })
        .await;
    p.stored = seq2_bytes;
    print(&p);
    phases.push(p);

    if a.drops {
        let letter_bytes: usize = mail.iter().map(|m| m.1.len()).sum();
        let jobs = mail
            .iter()
            .map(|(id, sealed)| {
                Req::Drop(DropRequest::Put {
                    id: *id,
                    sealed: sealed.clone(),
                })
            })
            .collect();
        let mut p = run
            .phase("drops: put (one letter per box)", jobs, |_, r| {
                matches!(r, Resp::Drop(DropResponse::PutOk))
            })
            .await;
        p.stored = letter_bytes;
        print(&p);
        phases.push(p);

        let batches: Vec<&[(DropId, Vec<u8>)]> = mail.chunks(MAX_DROP_GET).collect();
        let jobs = batches
            .iter()
            .map(|b| {
                Req::Drop(DropRequest::Get {
                    ids: b.iter().map(|m| m.0).collect(),
                })
            })
            .collect();
        let mut p = run
            .phase(
                &format!("drops: get, {MAX_DROP_GET} boxes per request"),
                jobs,
                |i, r| match r {
                    Resp::Drop(DropResponse::Messages { messages, more }) => {
                        !more
                            && messages.len() == batches[i].len()
                            && messages.iter().all(|(id, sealed)| {
                                batches[i].iter().any(|m| m.0 == *id && m.1 == *sealed)
                            })
                    }
                    _ => false,
                },
            )
            .await;
        p.stored = letter_bytes;
        print(&p);
        phases.push(p);

        let jobs = mail
            .iter()
            .map(|(id, sealed)| {
                Req::Drop(DropRequest::Ack {
                    id: *id,
                    digests: vec![drop_digest(sealed)],
                })
            })
            .collect();
        let p = run
            .phase("drops: ack (one box per request)", jobs, |_, r| {
                matches!(r, Resp::Drop(DropResponse::AckOk { deleted: 1 }))
            })
            .await;
        print(&p);
        phases.push(p);
    }
    done.store(true, Ordering::Relaxed);
    if let Some(s) = sampler {
        let _ = s.await;
    }

    println!();
    let n = a.n as f64;
    if let (Some(put), Some(idle)) = (phases.first(), idle) {
        if let Some((_, _, after)) = put.rss {
            println!(
                "slot records: {:.0} B each on average (seq 1), {:.0} B (seq 2); relay RSS grew {:.0} B per record over the puts",
                seq1_bytes as f64 / n,
                seq2_bytes as f64 / n,
                after.saturating_sub(idle.0) as f64 * 1024.0 / n
            );
        }
        let cpu: Vec<String> = phases
            .iter()
            .filter_map(|p| {
                p.cpu
                    .map(|c| format!("{}: {:.0} µs", p.name, c * 1e6 / p.requests.max(1) as f64))
            })
            .collect();
        println!("relay CPU per request: {}", cpu.join("; "));
    }
    if a.drops {
        println!(
            "card letters: {:.0} B each on average",
            mail.iter().map(|m| m.1.len()).sum::<usize>() as f64 / n
        );
    }
    if let Some((rss, cpu)) = proc_stat(std::process::id()) {
        println!(
            "probe (all clients): RSS {:.1} MiB, CPU time {cpu:.2} s",
            mb(rss)
        );
    }
    Ok(())
}
