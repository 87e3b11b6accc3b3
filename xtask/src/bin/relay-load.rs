//! Event-scale probe of a running relay: N simulated attendees on this machine each reserve a
//! slot, register under one event and post a sealed teaser, then poll the attendee list the way
//! `meishi up --event` does: one teaser-board read from its cursor and one rendezvous DISCOVER
//! with its cookie every poll interval, following full pages at once. An attendee is complete
//! when it has seen every attendee (itself included) on both. Prints the time until every
//! attendee saw every other, failed operations, and the relay's memory and CPU from /proc.
//!
//! ```sh
//! meishi --home /tmp/r relay --listen /ip4/127.0.0.1/tcp/4011 \
//!     --external-address /ip4/127.0.0.1/tcp/4011 --no-metrics --json &
//! cargo run --release -p xtask --bin relay-load -- /ip4/127.0.0.1/tcp/4011/p2p/<id> 1000 \
//!     --relay-pid $! --poll 15
//! ```
//!
//! The attendees share this machine's cores, so their own work (a million signed peer records
//! to verify at 1,000 attendees) competes with the relay's. `--concurrency` bounds how many
//! attendees join or poll at the same moment, so that queueing on the simulator's side shows up
//! as time, not as request timeouts; on real devices every attendee has a CPU of its own.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{noise, relay, rendezvous, request_response, tcp, yamux, Multiaddr, PeerId, Swarm};
use meishi_event::{BoardRequest, BoardResponse, EventKey};
use meishi_relay::board;
use tokio::sync::{watch, Semaphore};

#[derive(NetworkBehaviour)]
struct Client {
    relay: relay::client::Behaviour,
    rendezvous: rendezvous::client::Behaviour,
    board: request_response::Behaviour<board::Codec>,
}

type Ev = SwarmEvent<ClientEvent>;

/// Registrations and teasers live this long: longer than any run.
const TTL: u32 = 3600;
const PAGE: u16 = 256;

fn client() -> Result<Swarm<Client>, Box<dyn std::error::Error>> {
    Ok(libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )?
        .with_relay_client(noise::Config::new, yamux::Config::default)?
        .with_behaviour(|key, relay| Client {
            relay,
            rendezvous: rendezvous::client::Behaviour::new(key.clone()),
            board: request_response::Behaviour::with_codec(
                board::Codec::default(),
                [(board::PROTOCOL, request_response::ProtocolSupport::Outbound)],
                request_response::Config::default(),
            ),
        })?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
        .build())
}

/// Drives the swarm until `f` picks an event; `None` after 60 s.
async fn next<T>(s: &mut Swarm<Client>, mut f: impl FnMut(Ev) -> Option<T>) -> Option<T> {
    tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            if let Some(t) = f(s.select_next_some().await) {
                return t;
            }
        }
    })
    .await
    .ok()
}

/// Drives the swarm (answering nothing, keeping the connection served) for `d`.
async fn idle(s: &mut Swarm<Client>, d: Duration) {
    let sleep = tokio::time::sleep(d);
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            _ = &mut sleep => return,
            _ = s.select_next_some() => {}
        }
    }
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

struct Args {
    relay: Multiaddr,
    relay_id: PeerId,
    n: usize,
    pid: Option<u32>,
    poll: Duration,
    deadline: Duration,
    concurrency: usize,
}

fn args() -> Result<Args, Box<dyn std::error::Error>> {
    const USAGE: &str = "usage: load RELAY_ADDR N [--relay-pid PID] [--poll SECS] \
                         [--deadline SECS] [--concurrency K]";
    let mut it = std::env::args().skip(1);
    let relay: Multiaddr = it.next().ok_or(USAGE)?.parse()?;
    let n: usize = it.next().ok_or(USAGE)?.parse()?;
    let Some(Protocol::P2p(relay_id)) = relay.iter().last() else {
        return Err("the relay address must end in /p2p/<id>".into());
    };
    let mut a = Args {
        relay,
        relay_id,
        n,
        pid: None,
        poll: Duration::from_secs(15),
        deadline: Duration::from_secs(600),
        concurrency: 32,
    };
    while let Some(flag) = it.next() {
        let v = it.next().ok_or(USAGE)?;
        match flag.as_str() {
            "--relay-pid" => a.pid = Some(v.parse()?),
            "--poll" => a.poll = Duration::from_secs_f64(v.parse()?),
            "--deadline" => a.deadline = Duration::from_secs_f64(v.parse()?),
            "--concurrency" => a.concurrency = v.parse::<usize>()?.max(1),
            _ => return Err(USAGE.into()),
        }
    }
    Ok(a)
}

/// What one attendee went through.
struct Outcome {
    joined: Option<Duration>,
    complete: Option<Duration>,
    seen_board: usize,
    seen_discover: usize,
    swarm: Option<Swarm<Client>>,
}

struct Shared {
    ev: EventKey,
    ns: rendezvous::Namespace,
    relay: Multiaddr,
    relay_id: PeerId,
    n: usize,
    poll: Duration,
    t0: Instant,
    gate: Semaphore,
    failed: AtomicUsize,
    requests: AtomicUsize,
    /// Attendees that have seen every attendee.
    complete: AtomicUsize,
}

impl Shared {
    fn fail(&self) {
        self.failed.fetch_add(1, Ordering::Relaxed);
    }
}

async fn join(sh: &Shared, s: &mut Swarm<Client>) -> bool {
    let circuit = sh.relay.clone().with(Protocol::P2pCircuit);
    let reserved = s.listen_on(circuit.clone()).is_ok()
        && next(s, |e| match e {
            SwarmEvent::Behaviour(ClientEvent::Relay(
                relay::client::Event::ReservationReqAccepted { .. },
            )) => Some(true),
            SwarmEvent::ListenerClosed { .. } => Some(false),
            _ => None,
        })
        .await
        .unwrap_or(false);
    if !reserved {
        sh.fail();
        return false;
    }
    s.add_external_address(circuit.with(Protocol::P2p(*s.local_peer_id())));
    sh.requests.fetch_add(2, Ordering::Relaxed);
    let registered = s
        .behaviour_mut()
        .rendezvous
        .register(sh.ns.clone(), sh.relay_id, Some(TTL.into()))
        .is_ok()
        && next(s, |e| match e {
            SwarmEvent::Behaviour(ClientEvent::Rendezvous(
                rendezvous::client::Event::Registered { .. },
            )) => Some(true),
            SwarmEvent::Behaviour(ClientEvent::Rendezvous(
                rendezvous::client::Event::RegisterFailed { .. },
            )) => Some(false),
            _ => None,
        })
        .await
        .unwrap_or(false);
    if !registered {
        sh.fail();
        return false;
    }
    let teaser = format!("attendee {}", s.local_peer_id());
    let Ok(sealed) = sh.ev.seal(teaser.as_bytes()) else {
        sh.fail();
        return false;
    };
    s.behaviour_mut().board.send_request(
        &sh.relay_id,
        BoardRequest::Put {
            namespace: sh.ev.namespace().into(),
            ttl: TTL,
            sealed,
        },
    );
    let stored = next(s, |e| match e {
        SwarmEvent::Behaviour(ClientEvent::Board(request_response::Event::Message {
            message: request_response::Message::Response { response, .. },
            ..
        })) => Some(matches!(response, BoardResponse::Stored { .. })),
        SwarmEvent::Behaviour(ClientEvent::Board(request_response::Event::OutboundFailure {
            ..
        })) => Some(false),
        _ => None,
    })
    .await
    .unwrap_or(false);
    if !stored {
        sh.fail();
    }
    stored
}

/// One poll: the board from `cursor`, then DISCOVER from `cookie`, each until a short page.
/// A failed request counts once and ends the poll; the next poll resumes where this one got to.
async fn poll_once(
    sh: &Shared,
    s: &mut Swarm<Client>,
    cursor: &mut u64,
    cookie: &mut Option<rendezvous::Cookie>,
    board: &mut HashSet<Vec<u8>>,
    found: &mut HashSet<PeerId>,
) {
    loop {
        sh.requests.fetch_add(1, Ordering::Relaxed);
        s.behaviour_mut().board.send_request(
            &sh.relay_id,
            BoardRequest::Get {
                namespace: sh.ev.namespace().into(),
                cursor: *cursor,
                limit: PAGE,
            },
        );
        let page = next(s, |e| match e {
            SwarmEvent::Behaviour(ClientEvent::Board(request_response::Event::Message {
                message: request_response::Message::Response { response, .. },
                ..
            })) => Some(Some(response)),
            SwarmEvent::Behaviour(ClientEvent::Board(
                request_response::Event::OutboundFailure { .. },
            )) => Some(None),
            _ => None,
        })
        .await
        .flatten();
        match page {
            Some(BoardResponse::Entries {
                entries,
                cursor: c,
                more,
            }) => {
                for e in entries {
                    if sh.ev.open(&e.sealed).is_ok() {
                        board.insert(e.peer);
                    }
                }
                *cursor = c;
                if !more {
                    break;
                }
            }
            _ => {
                sh.fail();
                return;
            }
        }
    }
    loop {
        sh.requests.fetch_add(1, Ordering::Relaxed);
        s.behaviour_mut().rendezvous.discover(
            Some(sh.ns.clone()),
            cookie.clone(),
            Some(PAGE.into()),
            sh.relay_id,
        );
        let got = next(s, |e| match e {
            SwarmEvent::Behaviour(ClientEvent::Rendezvous(
                rendezvous::client::Event::Discovered {
                    registrations,
                    cookie,
                    ..
                },
            )) => Some(Some((registrations, cookie))),
            SwarmEvent::Behaviour(ClientEvent::Rendezvous(
                rendezvous::client::Event::DiscoverFailed { .. },
            )) => Some(None),
            _ => None,
        })
        .await
        .flatten();
        match got {
            Some((regs, c)) => {
                let k = regs.len();
                found.extend(regs.iter().map(|r| r.record.peer_id()));
                *cookie = Some(c);
                if k < usize::from(PAGE) {
                    return;
                }
            }
            None => {
                sh.fail();
                return;
            }
        }
    }
}

async fn attendee(sh: Arc<Shared>, mut stop: watch::Receiver<bool>) -> Outcome {
    let mut out = Outcome {
        joined: None,
        complete: None,
        seen_board: 0,
        seen_discover: 0,
        swarm: None,
    };
    let Ok(mut s) = client() else {
        sh.fail();
        return out;
    };
    {
        let _permit = sh.gate.acquire().await;
        if !join(&sh, &mut s).await {
            out.swarm = Some(s);
            return out;
        }
    }
    out.joined = Some(sh.t0.elapsed());
    let (mut cursor, mut cookie) = (0, None);
    let (mut board, mut found) = (HashSet::new(), HashSet::new());
    // Attendees poll on their own schedules: the first poll right after joining.
    while !*stop.borrow() {
        {
            let _permit = sh.gate.acquire().await;
            poll_once(
                &sh,
                &mut s,
                &mut cursor,
                &mut cookie,
                &mut board,
                &mut found,
            )
            .await;
        }
        if out.complete.is_none() && board.len() >= sh.n && found.len() >= sh.n {
            out.complete = Some(sh.t0.elapsed());
            sh.complete.fetch_add(1, Ordering::Relaxed);
        }
        out.seen_board = board.len();
        out.seen_discover = found.len();
        tokio::select! {
            _ = idle(&mut s, sh.poll) => {}
            _ = stop.changed() => {}
        }
    }
    out.swarm = Some(s);
    out
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = args()?;
    let ev = EventKey::derive("load-test-event")?;
    let ns = rendezvous::Namespace::new(ev.namespace().to_owned())?;
    let before = a.pid.and_then(proc_stat);
    let sh = Arc::new(Shared {
        ev,
        ns,
        relay: a.relay.clone(),
        relay_id: a.relay_id,
        n: a.n,
        poll: a.poll,
        t0: Instant::now(),
        gate: Semaphore::new(a.concurrency),
        failed: AtomicUsize::new(0),
        requests: AtomicUsize::new(0),
        complete: AtomicUsize::new(0),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let tasks: Vec<_> = (0..a.n)
        .map(|_| tokio::spawn(attendee(sh.clone(), stop_rx.clone())))
        .collect();
    // Sample the relay's memory while the run lasts; stop when everyone is complete.
    let mut peak_rss = before.map_or(0, |b| b.0);
    let deadline = Instant::now() + a.deadline;
    let mut outcomes = Vec::new();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if let Some((rss, _)) = a.pid.and_then(proc_stat) {
            peak_rss = peak_rss.max(rss);
        }
        // The run ends when every attendee saw every other, or at the deadline.
        if Instant::now() >= deadline || sh.complete.load(Ordering::Relaxed) >= sh.n {
            break;
        }
    }
    let t_end = sh.t0.elapsed();
    let after = a.pid.and_then(proc_stat);
    let _ = stop_tx.send(true);
    for t in tasks {
        if let Ok(o) = t.await {
            outcomes.push(o);
        }
    }
    report(&a, &sh, &outcomes, t_end, before, after, peak_rss);
    drop(outcomes);
    Ok(())
}

fn report(
    a: &Args,
    sh: &Shared,
    outcomes: &[Outcome],
    t_end: Duration,
    before: Option<(u64, f64)>,
    after: Option<(u64, f64)>,
    peak_rss: u64,
) {
    let n = a.n;
    let joined: Vec<Duration> = outcomes.iter().filter_map(|o| o.joined).collect();
    let mut complete: Vec<Duration> = outcomes.iter().filter_map(|o| o.complete).collect();
    complete.sort();
    let last_join = joined.iter().max().copied().unwrap_or_default();
    let q = |v: &[Duration], f: f64| {
        v.get(((v.len() as f64 - 1.0) * f).round() as usize)
            .map_or(f64::NAN, Duration::as_secs_f64)
    };
    println!(
        "attendees: {n} (poll every {:.0} s, at most {} joining or polling at once)",
        a.poll.as_secs_f64(),
        a.concurrency
    );
    println!(
        "joined (reserve + register + post teaser): {} of {n}, the last after {:.2} s",
        joined.len(),
        last_join.as_secs_f64()
    );
    println!(
        "saw every attendee (board and rendezvous): {} of {n}",
        complete.len()
    );
    if complete.len() == n {
        println!(
            "every attendee saw every other after {:.2} s ({:.2} s after the last one joined)",
            q(&complete, 1.0),
            q(&complete, 1.0) - last_join.as_secs_f64()
        );
    } else {
        let worst = outcomes
            .iter()
            .map(|o| o.seen_board.min(o.seen_discover))
            .min()
            .unwrap_or(0);
        println!(
            "run stopped at {:.1} s; the worst attendee had seen {worst} of {n}",
            t_end.as_secs_f64()
        );
    }
    println!(
        "completion times: median {:.2} s, p90 {:.2} s, max {:.2} s",
        q(&complete, 0.5),
        q(&complete, 0.9),
        q(&complete, 1.0)
    );
    println!(
        "requests: {}, failed operations: {}",
        sh.requests.load(Ordering::Relaxed),
        sh.failed.load(Ordering::Relaxed)
    );
    if let (Some((rss0, cpu0)), Some((rss1, cpu1))) = (before, after) {
        println!(
            "relay RSS: {rss0} KiB before, {peak_rss} KiB peak, {rss1} KiB at the end \
             ({:.1} KiB per attendee)",
            rss1.saturating_sub(rss0) as f64 / n as f64
        );
        println!(
            "relay CPU time during the run: {:.2} s ({:.1} ms per attendee)",
            cpu1 - cpu0,
            (cpu1 - cpu0) * 1000.0 / n as f64
        );
    }
    if let Some((rss, cpu)) = proc_stat(std::process::id()) {
        println!("simulator (all {n} attendees): RSS {rss} KiB, CPU time {cpu:.2} s");
    }
}
