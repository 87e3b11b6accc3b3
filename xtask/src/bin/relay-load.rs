//! Event-scale probe of relays: N simulated attendees on this machine join one event through
//! one relay, or through a fleet of several, and read its attendee list until each has seen
//! every attendee. Prints the time until every attendee saw every other, failed operations,
//! and each relay's reservations, connections, memory and CPU time; with a fleet, also the
//! replication lag between its relays.
//!
//! **One relay** (one address): each attendee reserves a slot, registers under the event,
//! posts a sealed teaser, then polls the way `meishi up --event` does: one teaser-board read
//! from its cursor every poll interval, following full pages at once. Complete: it has seen
//! every attendee (itself included) on the board. With `--discover on` it also sends one
//! rendezvous DISCOVER with its cookie every poll, as nodes did until 2026-11-30, and is
//! complete when it has seen everyone on both.
//!
//! **A fleet** (several `--relay`, or `--spawn-fleet K`): each attendee ranks the relays with
//! `meishi_event::shard::rank` over its peer id, reserves and registers on its first two (its
//! home relays), posts its sealed teaser to its home relays only, as a node does when the join
//! URI says `fleet=1` (`--post all`: to every relay, as a node does otherwise), and reads the
//! board with Gets from
//! its cursor on its primary relay (the first home) only. No DISCOVER (`--discover` needs one
//! relay): a node takes the addresses to dial from the relay hints in teasers, not from
//! rendezvous (whose registrations are not replicated). Complete: it has seen every attendee
//! on the board.
//! Replication lag is sampled from the outside: a separate writer posts to one relay and
//! readers poll the others (the `lag` module).
//!
//! Attendees are light clients: each is its own identity and swarm (TCP, noise, yamux, the
//! relay client, rendezvous, the board, and libp2p ping with `--ping SECS`), but none runs
//! identify, DCUtR, mDNS or the card exchange, and none verifies the signed teaser inside the sealed one (they only open it with
//! the event key); a teaser is filler as long as the reference card's signed teaser with two
//! relay hints (227 bytes; `--teaser-bytes B` sets another length). Like the node they post
//! their teaser and register with a TTL of 300 s and do it again every half TTL, and leave a
//! connection to a relay that is not home to close when idle (60 s). With 10,000 attendees on
//! two shared cores, the simulator cannot refresh them all in time (entries expire before
//! their owners post again); `--ttl 3600` keeps a run of minutes free of refreshes, as the
//! measurements in docs/relay.md do. `--venue V` puts V attendees behind one address (a venue
//! NAT, 127.0.0.1) and spreads the others over `--hosts H` loopback addresses (127.1.x.y:
//! carriers' CGNAT), interleaved in time.
//! `--stay SECS` keeps every attendee polling and posting again (as a node does all through an
//! event) for that long after everyone saw everyone, and reports the relays' CPU over that time
//! on its own: what an event costs its relays per hour once everyone is in.
//!
//! ```sh
//! # A fleet of four relays started by the probe (the release `meishi` binary), 10,000 attendees:
//! cargo build --release -p meishi
//! cargo run --release -p xtask --bin relay-load -- 10000 --spawn-fleet 4 --workers 4 \
//!     --venue 5000 --hosts 100 --poll 15 --ttl 3600 --concurrency 64
//! # A relay already running (its pid for memory and CPU time):
//! meishi --home /tmp/r relay --listen /ip4/127.0.0.1/tcp/4011 \
//!     --external-address /ip4/127.0.0.1/tcp/4011 --no-metrics --json &
//! cargo run --release -p xtask --bin relay-load -- /ip4/127.0.0.1/tcp/4011/p2p/<id> 1000 \
//!     --relay-pid $! --poll 15
//! ```
//!
//! The attendees share this machine's cores, so their own work (decrypting every teaser of
//! the event, N times over) competes with the relays'. `--concurrency` bounds how many
//! attendees join or poll at the same moment, so that queueing on the simulator's side shows
//! up as time, not as request timeouts; on real devices every attendee has a CPU of its own.
//! The probe raises its open-file limit (each attendee holds up to one connection per relay;
//! spawned relays inherit the limit). Where it cannot be raised far enough (20,000 on the
//! development machine), `--workers K` spreads the attendees over K processes of this program
//! (the `worker` module); the relays and the replication lag are measured by the first.

// The crate root is `relay-load.rs`, so its modules are found by path.
#[path = "relay-load/attendee.rs"]
mod attendee;
#[path = "relay-load/client.rs"]
mod client;
#[path = "relay-load/lag.rs"]
mod lag;
#[path = "../source_tcp.rs"]
mod source_tcp;
#[path = "relay-load/spawn.rs"]
mod spawn;
#[path = "relay-load/worker.rs"]
mod worker;

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use libp2p::multiaddr::Protocol;
use libp2p::{rendezvous, Multiaddr};
use meishi_event::EventKey;
use tokio::sync::{watch, Semaphore};

use attendee::{Shared, OPS};
use spawn::{ProcStat, Target};
use worker::{Tally, Workers};

type Error = Box<dyn std::error::Error>;

const USAGE: &str = "usage: relay-load [RELAY_ADDR] N [--relay ADDR]... [--relay-pid PID]... \
    [--metrics HOST:PORT]... [--spawn-fleet K [--meishi PATH] [--relay-config FILE]] \
    [--poll SECS] [--ttl SECS] [--refresh SECS] [--idle SECS] [--deadline SECS] [--stay SECS] \
    [--concurrency K] \
    [--venue V] [--hosts H] [--teaser-bytes B] [--seal once|each-post] [--post home|all] [--ping SECS] [--discover on|off] [--lag-samples S] \
    [--lag-every SECS] \
    [--workers K]";

struct Args {
    relays: Vec<Multiaddr>,
    pids: Vec<u32>,
    metrics: Vec<String>,
    spawn: Option<usize>,
    meishi: Option<PathBuf>,
    relay_config: Option<PathBuf>,
    n: usize,
    poll: Duration,
    ttl: u32,
    /// Default: half the TTL.
    refresh: Option<Duration>,
    idle: Duration,
    deadline: Duration,
    /// How long the attendees stay (polling and refreshing) after everyone saw everyone.
    stay: Duration,
    concurrency: usize,
    venue: Option<usize>,
    hosts: usize,
    teaser_bytes: usize,
    /// Seal the teaser anew for every post (a fresh nonce, so other bytes each time), as nodes
    /// did before 2026-11-30, instead of once.
    reseal: bool,
    /// Which relays of a fleet a post goes to.
    post: attendee::PostTo,
    /// Attendees ping their connections at this interval (nodes: 60 s); none by default.
    ping: Option<Duration>,
    /// One relay only: attendees DISCOVER at every poll too, as nodes did until 2026-11-30.
    discover: bool,
    lag_samples: Option<usize>,
    lag_every: Duration,
    /// Processes simulating attendees (1: this one).
    workers: usize,
    /// Set in a worker process: which of how many it is, and the coordinator's start time
    /// (Unix microseconds).
    worker: Option<(usize, usize)>,
    t0_unix: Option<u64>,
}

/// The reference card (shared/reference-cards/ada.json, the repository's copy).
const ADA_JSON: &str = include_str!("../../../crates/meishi-card/testdata/ada.json");

/// The length of the reference card's signed teaser as an attendee of a fleet posts it: its
/// name, its headline (the card's note, else its title, as `meishi` shows it) and two relay
/// hints (proto-spec/exchange.md#format-2-relay-hints). The default `--teaser-bytes`.
fn reference_teaser_len() -> Result<usize, Error> {
    use meishi_card::envelope::SignedTeaser;
    use meishi_card::{Card, Identity};
    let card: Card = serde_json::from_str(ADA_JSON)?;
    let headline = card.note.clone().or_else(|| card.title.clone());
    let relays: Vec<Vec<u8>> = [[1; 32], [2; 32]]
        .iter()
        .map(|s| Identity::from_seed(s).public().peer_id_bytes().to_vec())
        .collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let t = SignedTeaser::sign_with_relays(
        &Identity::from_seed(&[0xad; 32]),
        now,
        &card.name,
        headline.as_deref(),
        &relays,
    )?;
    Ok(t.as_bytes().len())
}

fn args() -> Result<Args, Error> {
    let mut a = Args {
        relays: Vec::new(),
        pids: Vec::new(),
        metrics: Vec::new(),
        spawn: None,
        meishi: None,
        relay_config: None,
        n: 0,
        poll: Duration::from_secs(15),
        ttl: attendee::TTL,
        refresh: None,
        idle: Duration::from_secs(60),
        deadline: Duration::from_secs(600),
        stay: Duration::ZERO,
        concurrency: 32,
        venue: None,
        hosts: 64,
        teaser_bytes: reference_teaser_len()?,
        reseal: false,
        post: attendee::PostTo::Home,
        ping: None,
        discover: false,
        lag_samples: None,
        lag_every: Duration::from_secs(1),
        workers: 1,
        worker: None,
        t0_unix: None,
    };
    let mut positional = Vec::new();
    let mut it = std::env::args().skip(1);
    let secs = |v: &str| -> Result<Duration, Error> { Ok(Duration::from_secs_f64(v.parse()?)) };
    while let Some(arg) = it.next() {
        if !arg.starts_with("--") {
            positional.push(arg);
            continue;
        }
        let v = it.next().ok_or(USAGE)?;
        match arg.as_str() {
            "--relay" => a.relays.push(v.parse()?),
            "--relay-pid" => a.pids.push(v.parse()?),
            "--metrics" => a.metrics.push(v),
            "--spawn-fleet" => a.spawn = Some(v.parse::<usize>()?.max(1)),
            "--meishi" => a.meishi = Some(v.into()),
            "--relay-config" => a.relay_config = Some(v.into()),
            "--poll" => a.poll = secs(&v)?,
            "--ttl" => a.ttl = v.parse::<u32>()?.clamp(60, 86_400),
            "--refresh" => a.refresh = Some(secs(&v)?),
            "--idle" => a.idle = secs(&v)?,
            "--deadline" => a.deadline = secs(&v)?,
            "--stay" => a.stay = secs(&v)?,
            "--concurrency" => a.concurrency = v.parse::<usize>()?.max(1),
            "--venue" => a.venue = Some(v.parse()?),
            "--hosts" => a.hosts = v.parse::<usize>()?.clamp(1, 254 * 250),
            "--teaser-bytes" => a.teaser_bytes = v.parse::<usize>()?.min(1_024),
            "--seal" => {
                a.reseal = match v.as_str() {
                    "once" => false,
                    "each-post" => true,
                    _ => return Err(USAGE.into()),
                }
            }
            "--post" => a.post = attendee::PostTo::parse(&v).ok_or(USAGE)?,
            "--ping" => a.ping = Some(secs(&v)?).filter(|d| !d.is_zero()),
            "--discover" => {
                a.discover = match v.as_str() {
                    "on" => true,
                    "off" => false,
                    _ => return Err(USAGE.into()),
                }
            }
            "--lag-samples" => a.lag_samples = Some(v.parse()?),
            "--lag-every" => a.lag_every = secs(&v)?,
            "--workers" => a.workers = v.parse::<usize>()?.max(1),
            "--worker" => {
                let (w, k) = v.split_once('/').ok_or(USAGE)?;
                a.worker = Some((w.parse()?, k.parse::<usize>()?.max(1)));
            }
            "--t0" => a.t0_unix = Some(v.parse()?),
            _ => return Err(USAGE.into()),
        }
    }
    match positional.as_slice() {
        [n] => a.n = n.parse()?,
        [relay, n] => {
            a.relays.insert(0, relay.parse()?);
            a.n = n.parse()?;
        }
        _ => return Err(USAGE.into()),
    }
    if a.spawn.is_some() && a.worker.is_some() {
        return Err("a worker is given the relays, it does not start them".into());
    }
    if a.relays.is_empty() == a.spawn.is_none() {
        return Err("give the relays (RELAY_ADDR or --relay), or --spawn-fleet K".into());
    }
    Ok(a)
}

/// Raises the open-file limit to what `n` attendees (one connection to each of up to four
/// relays) and the spawned relays need, up to what the hard limit allows (with the privilege
/// to, the hard limit too); warns when that is not enough: then use `--workers`.
fn raise_nofile(n: usize) {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let want = (n as u64).saturating_mul(4).saturating_add(1_024);
    let cur = getrlimit(Resource::Nofile);
    if cur.current.is_some_and(|c| c >= want) {
        return;
    }
    let raised = Rlimit {
        current: Some(want),
        maximum: Some(cur.maximum.map_or(want, |m| m.max(want))),
    };
    if setrlimit(Resource::Nofile, raised).is_err() {
        let max = cur.maximum;
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: max,
                maximum: max,
            },
        );
    }
    let now = getrlimit(Resource::Nofile).current;
    if now.is_some_and(|c| c < want) {
        eprintln!(
            "warning: open-file limit {now:?}, below the ~{want} this process may need; \
             raise it (ulimit -n) or spread the attendees over processes (--workers K)"
        );
    }
}

/// Where attendee `i` of `n` dials from: the venue NAT for `venue` of them (interleaved), else
/// one of `hosts` carrier addresses.
fn source(i: usize, n: usize, venue: usize, hosts: usize) -> IpAddr {
    let at_venue = |i: usize| (i + 1) * venue / n > i * venue / n;
    if at_venue(i) {
        return IpAddr::V4(Ipv4Addr::LOCALHOST);
    }
    // Index among those not at the venue.
    let j = i - (i + 1) * venue / n;
    let h = j % hosts;
    IpAddr::V4(Ipv4Addr::new(127, 1, (h / 254) as u8, (h % 254 + 1) as u8))
}

fn unix_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// The state attendees (or the lag probe) share, for `targets`, from `t0`.
fn shared(
    a: &Args,
    targets: Vec<Target>,
    t0: Instant,
    concurrency: usize,
) -> Result<Shared, Error> {
    let ev = EventKey::derive("load-test-event")?;
    let ns = rendezvous::Namespace::new(ev.namespace().to_owned())?;
    let k = targets.len();
    Ok(Shared {
        ev,
        ns,
        relays: targets,
        n: a.n,
        poll: a.poll,
        ttl: a.ttl,
        refresh: a
            .refresh
            .unwrap_or(Duration::from_secs(u64::from(a.ttl) / 2)),
        idle: a.idle,
        teaser_bytes: a.teaser_bytes,
        reseal: a.reseal,
        post: a.post,
        ping: a.ping,
        discover: a.discover && k == 1,
        t0,
        gate: Semaphore::new(concurrency.max(1)),
        failed: (0..k).map(|_| Default::default()).collect(),
        joined: AtomicUsize::new(0),
        requests: AtomicUsize::new(0),
        entries_read: AtomicUsize::new(0),
        complete: AtomicUsize::new(0),
    })
}

/// Starts attendees `first`, `first + step`, … of `a.n`.
fn start_attendees(
    a: &Args,
    sh: &Arc<Shared>,
    first: usize,
    step: usize,
    stop: &watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<attendee::Outcome>> {
    let venue = a.venue.unwrap_or(a.n).min(a.n);
    (first..a.n)
        .step_by(step.max(1))
        .map(|i| {
            let src = source(i, a.n, venue, a.hosts);
            tokio::spawn(attendee::run(sh.clone(), i as u32, src, stop.clone()))
        })
        .collect()
}

/// A worker process: every K-th attendee, reporting to the coordinator on stdout.
async fn worker_main(a: &Args, w: usize, k: usize) -> Result<(), Error> {
    let targets: Vec<Target> = a
        .relays
        .iter()
        .map(|addr| {
            let Some(Protocol::P2p(id)) = addr.iter().last() else {
                return Err(format!("{addr} does not end in /p2p/<id>").into());
            };
            Ok(Target {
                addr: addr.clone(),
                id,
                pid: None,
                metrics: None,
            })
        })
        .collect::<Result<_, Error>>()?;
    // Times count from the coordinator's start.
    let since = Duration::from_micros(unix_micros().saturating_sub(a.t0_unix.unwrap_or(0)));
    let t0 = Instant::now()
        .checked_sub(since)
        .unwrap_or_else(Instant::now);
    let sh = Arc::new(shared(a, targets, t0, a.concurrency)?);
    let (stop_tx, stop_rx) = watch::channel(false);
    let tasks = start_attendees(a, &sh, w, k, &stop_rx);
    worker::report_progress(sh.clone()).await;
    let _ = stop_tx.send(true);
    let mut outcomes = Vec::new();
    for t in tasks {
        if let Ok(o) = t.await {
            outcomes.push(o);
        }
    }
    worker::print_final(&Tally::of(&sh, &outcomes));
    Ok(())
}

/// The arguments a worker is started with.
fn worker_args(a: &Args, targets: &[Target], t0_unix: u64) -> Vec<String> {
    let mut v = vec![a.n.to_string()];
    for t in targets {
        v.extend(["--relay".into(), t.addr.to_string()]);
    }
    let per = a.concurrency.div_ceil(a.workers);
    for (flag, value) in [
        ("--poll", a.poll.as_secs_f64().to_string()),
        ("--ttl", a.ttl.to_string()),
        (
            "--refresh",
            a.refresh
                .unwrap_or(Duration::from_secs(u64::from(a.ttl) / 2))
                .as_secs_f64()
                .to_string(),
        ),
        ("--idle", a.idle.as_secs_f64().to_string()),
        ("--concurrency", per.to_string()),
        ("--venue", a.venue.unwrap_or(a.n).to_string()),
        ("--hosts", a.hosts.to_string()),
        ("--teaser-bytes", a.teaser_bytes.to_string()),
        (
            "--seal",
            if a.reseal { "each-post" } else { "once" }.to_owned(),
        ),
        ("--post", a.post.name().to_owned()),
        (
            "--ping",
            a.ping.map_or(0.0, |d| d.as_secs_f64()).to_string(),
        ),
        (
            "--discover",
            if a.discover { "on" } else { "off" }.to_owned(),
        ),
        ("--t0", t0_unix.to_string()),
    ] {
        v.extend([flag.to_owned(), value]);
    }
    v
}

/// Who simulates the attendees: this process, or worker processes.
enum Sim {
    Here(Vec<tokio::task::JoinHandle<attendee::Outcome>>),
    Workers(Workers),
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Error> {
    let a = args()?;
    // Each process holds the connections of its share of the attendees (a worker: every K-th).
    let share = match a.worker {
        Some((_, k)) => a.n.div_ceil(k),
        None if a.workers > 1 => 0,
        None => a.n,
    };
    raise_nofile(share);
    if let Some((w, k)) = a.worker {
        return worker_main(&a, w, k).await;
    }
    // Relays started here are killed when `spawned` is dropped, at the end.
    let spawned = match a.spawn {
        Some(k) => {
            let meishi = spawn::meishi_path(a.meishi.as_deref())?;
            let s = spawn::fleet(&meishi, k, a.relay_config.as_deref())?;
            let pids: Vec<String> = s
                .targets
                .iter()
                .filter_map(|t| t.pid.map(|p| p.to_string()))
                .collect();
            eprintln!(
                "started {k} relays ({}), pids {}; homes and logs in {}",
                meishi.display(),
                pids.join(" "),
                s.dir.display()
            );
            Some(s)
        }
        None => None,
    };
    let targets: Vec<Target> = match &spawned {
        Some(s) => s.targets.clone(),
        None => a
            .relays
            .iter()
            .enumerate()
            .map(|(i, addr)| {
                let Some(Protocol::P2p(id)) = addr.iter().last() else {
                    return Err(format!("{addr} does not end in /p2p/<id>").into());
                };
                Ok(Target {
                    addr: addr.clone(),
                    id,
                    pid: a.pids.get(i).copied(),
                    metrics: a.metrics.get(i).cloned(),
                })
            })
            .collect::<Result<_, Error>>()?,
    };
    let k = targets.len();
    let before: Vec<Option<ProcStat>> = targets
        .iter()
        .map(|t| t.pid.and_then(spawn::proc_stat))
        .collect();
    let t0_unix = unix_micros();
    let sh = Arc::new(shared(&a, targets.clone(), Instant::now(), a.concurrency)?);
    let (stop_tx, stop_rx) = watch::channel(false);
    let sim = if a.workers > 1 {
        Sim::Workers(Workers::start(
            a.workers,
            &worker_args(&a, &targets, t0_unix),
        )?)
    } else {
        Sim::Here(start_attendees(&a, &sh, 0, 1, &stop_rx))
    };
    let samples = a.lag_samples.unwrap_or(if k > 1 { 20 } else { 0 });
    let lag = (k > 1 && samples > 0).then(|| {
        tokio::spawn(lag::measure(
            sh.clone(),
            samples,
            a.lag_every,
            stop_rx.clone(),
        ))
    });
    // Sample the relays' memory while the run lasts; stop when everyone is complete and the
    // lag samples are taken.
    let mut peak_rss: Vec<u64> = before.iter().map(|b| b.map_or(0, |b| b.rss_kb)).collect();
    let deadline = Instant::now() + a.deadline;
    let mut last_note = Instant::now();
    // Once everyone saw everyone: when, and each relay's counters then (`--stay`).
    let mut settled: Option<(Instant, Vec<Option<ProcStat>>)> = None;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        for (t, peak) in targets.iter().zip(&mut peak_rss) {
            if let Some(p) = t.pid.and_then(spawn::proc_stat) {
                *peak = (*peak).max(p.rss_kb);
            }
        }
        let (joined, complete) = match &sim {
            Sim::Here(_) => (
                sh.joined.load(Ordering::Relaxed),
                sh.complete.load(Ordering::Relaxed),
            ),
            Sim::Workers(w) => w.progress(),
        };
        if last_note.elapsed() >= Duration::from_secs(30) {
            last_note = Instant::now();
            eprintln!(
                "{:.0} s: {joined} joined, {complete} saw everyone",
                sh.t0.elapsed().as_secs_f64()
            );
        }
        let lag_done = lag.as_ref().is_none_or(|l| l.is_finished());
        if let Some((at, _)) = &settled {
            if at.elapsed() >= a.stay {
                break;
            }
        } else if Instant::now() >= deadline {
            break;
        } else if complete >= a.n && lag_done {
            if a.stay.is_zero() {
                break;
            }
            eprintln!(
                "{:.0} s: everyone saw everyone; staying {:.0} s",
                sh.t0.elapsed().as_secs_f64(),
                a.stay.as_secs_f64()
            );
            let now: Vec<Option<ProcStat>> = targets
                .iter()
                .map(|t| t.pid.and_then(spawn::proc_stat))
                .collect();
            settled = Some((Instant::now(), now));
        }
    }
    let t_end = sh.t0.elapsed();
    let end: Vec<Option<ProcStat>> = targets
        .iter()
        .map(|t| t.pid.and_then(spawn::proc_stat))
        .collect();
    // The run's counters are those of the moment everyone saw everyone; the stay after it is
    // reported on its own.
    let (after, stay) = match settled {
        Some((at, then)) => (then, Some((at.elapsed(), end))),
        None => (end, None),
    };
    // Read while every attendee still holds its connections.
    let counts: Vec<Option<spawn::RelayCounts>> = targets
        .iter()
        .map(|t| {
            t.metrics
                .as_deref()
                .and_then(spawn::scrape)
                .map(|m| spawn::counts(&m))
        })
        .collect();
    let _ = stop_tx.send(true);
    let lag = match lag {
        Some(l) => l.await.ok(),
        None => None,
    };
    let tally = match sim {
        Sim::Here(tasks) => {
            let mut outcomes = Vec::new();
            for t in tasks {
                if let Ok(o) = t.await {
                    outcomes.push(o);
                }
            }
            Tally::of(&sh, &outcomes)
        }
        Sim::Workers(w) => {
            let mut t = w.stop();
            // The coordinator's own share: the lag probe's clients.
            let me = Tally::of(&sh, &[]);
            t.cpu_s += me.cpu_s;
            t.hwm_kb += me.hwm_kb;
            t
        }
    };
    let r = Run {
        a: &a,
        sh: &sh,
        tally: &tally,
        t_end,
        before: &before,
        after: &after,
        stay: stay.as_ref().map(|(d, s)| (*d, s.as_slice())),
        peak_rss: &peak_rss,
        counts: &counts,
        lag: lag.as_ref(),
        venue: a.venue.unwrap_or(a.n).min(a.n),
    };
    r.report();
    drop(spawned);
    Ok(())
}

/// Everything a run measured.
struct Run<'a> {
    a: &'a Args,
    sh: &'a Shared,
    tally: &'a Tally,
    t_end: Duration,
    before: &'a [Option<ProcStat>],
    after: &'a [Option<ProcStat>],
    /// `--stay`: how long, and each relay's counters at its end.
    stay: Option<(Duration, &'a [Option<ProcStat>])>,
    peak_rss: &'a [u64],
    counts: &'a [Option<spawn::RelayCounts>],
    lag: Option<&'a lag::Lag>,
    venue: usize,
}

fn sealing(a: &Args) -> &'static str {
    if a.reseal {
        "anew for each post"
    } else {
        "once"
    }
}

fn quantile(v: &[f64], f: f64) -> f64 {
    v.get(((v.len() as f64 - 1.0) * f).round() as usize)
        .copied()
        .unwrap_or(f64::NAN)
}

impl Run<'_> {
    fn report(&self) {
        let (a, sh, n, t) = (self.a, self.sh, self.a.n, self.tally);
        let k = sh.relays.len();
        let mut complete = t.complete.clone();
        complete.sort_by(f64::total_cmp);
        let last_join = t.joined.iter().copied().fold(0.0, f64::max);
        let procs = if a.workers > 1 {
            format!(" in {} processes", a.workers)
        } else {
            String::new()
        };
        if k > 1 {
            println!(
                "attendees: {n}{procs} over a fleet of {k} relays (reserve on 2, post to {}, \
                 read the primary), poll every {:.0} s, at most {} joining or polling at once",
                if a.post == attendee::PostTo::Home {
                    "those 2"
                } else {
                    "all"
                },
                a.poll.as_secs_f64(),
                a.concurrency
            );
        } else {
            println!(
                "attendees: {n}{procs} on one relay ({}), poll every {:.0} s, \
                 at most {} joining or polling at once",
                if a.discover {
                    "board and DISCOVER"
                } else {
                    "board"
                },
                a.poll.as_secs_f64(),
                a.concurrency
            );
        }
        if self.venue < n {
            println!(
                "sources: {} behind one venue address, {} over {} other addresses; teasers of \
                 {} bytes, sealed {}, posted to {} relays",
                self.venue,
                n - self.venue,
                a.hosts.min(n - self.venue),
                a.teaser_bytes,
                sealing(a),
                a.post.name()
            );
        } else {
            println!(
                "sources: all from 127.0.0.1; teasers of {} bytes, sealed {}, posted to {} relays",
                a.teaser_bytes,
                sealing(a),
                a.post.name()
            );
        }
        if let Some(every) = a.ping {
            println!(
                "attendees ping each connection every {:.0} s",
                every.as_secs_f64()
            );
        }
        println!(
            "joined: {} of {n}, the last after {last_join:.2} s",
            t.joined.len()
        );
        println!("saw every attendee: {} of {n}", complete.len());
        if complete.len() == n {
            println!(
                "every attendee saw every other after {:.2} s ({:.2} s after the last one joined)",
                quantile(&complete, 1.0),
                quantile(&complete, 1.0) - last_join
            );
        } else {
            println!(
                "run stopped at {:.1} s; the worst attendee had seen {} of {n}",
                self.t_end.as_secs_f64(),
                t.worst_seen.unwrap_or(0)
            );
        }
        println!(
            "completion times: median {:.2} s, p90 {:.2} s, max {:.2} s",
            quantile(&complete, 0.5),
            quantile(&complete, 0.9),
            quantile(&complete, 1.0)
        );
        let limited: usize = (0..k).map(|i| t.failures(i, attendee::LIMITED)).sum();
        println!(
            "requests: {}, failed operations: {}, board reads rate limited (read on at the next \
             poll): {limited}",
            t.requests,
            t.failed_ops()
        );
        println!(
            "board entries read: {} ({:.2} times the attendee count per attendee)",
            t.entries_read,
            t.entries_read as f64 / (n as f64 * n as f64).max(1.0)
        );
        if let Some(l) = self.lag {
            let mut v: Vec<f64> = l.lags.iter().map(Duration::as_secs_f64).collect();
            v.sort_by(f64::total_cmp);
            println!(
                "replication lag (Put answered on one relay until a Get on another returns it): \
                 median {:.0} ms, max {:.0} ms over {} (sample, relay) pairs; {} not seen \
                 within 30 s; {} sample puts failed",
                quantile(&v, 0.5) * 1e3,
                quantile(&v, 1.0) * 1e3,
                v.len(),
                l.missed,
                l.failed_puts
            );
        }
        for i in 0..k {
            self.relay_line(i);
        }
        println!(
            "simulator (all {n} attendees{procs}): peak RSS {} MiB, CPU time {:.1} s",
            t.hwm_kb / 1024,
            t.cpu_s
        );
    }

    fn relay_line(&self, i: usize) {
        let (sh, n, t) = (self.sh, self.a.n, self.tally);
        let r = &sh.relays[i];
        let reserved = t.reserved.get(i).copied().unwrap_or(0);
        let connected = t.connected.get(i).copied().unwrap_or(0);
        println!("relay {i} {}:", r.id);
        let mut held = format!(
            "  at the end: attendees holding a reservation {reserved}, connected {connected} \
             (client side)"
        );
        if let Some(c) = &self.counts[i] {
            held.push_str(&format!(
                "; relay: reservations {}, connections {}, board entries {}, registrations {}",
                c.reservations, c.connections, c.board_entries, c.registrations
            ));
        }
        println!("{held}");
        if let (Some(b), Some(e)) = (self.before[i], self.after[i]) {
            println!(
                "  RSS {:.0} MiB before, {:.0} MiB peak (VmHWM), {:.0} MiB at the end \
                 ({:.1} KiB per attendee); CPU {:.2} s ({:.2} ms per attendee)",
                b.rss_kb as f64 / 1024.0,
                e.hwm_kb.max(self.peak_rss[i]) as f64 / 1024.0,
                e.rss_kb as f64 / 1024.0,
                e.rss_kb.saturating_sub(b.rss_kb) as f64 / n as f64,
                e.cpu_s - b.cpu_s,
                (e.cpu_s - b.cpu_s) * 1e3 / n as f64
            );
        }
        if let (Some(b), Some((d, ends))) = (self.after[i], self.stay) {
            if let Some(e) = ends[i] {
                let cpu = e.cpu_s - b.cpu_s;
                println!(
                    "  staying {:.0} s after everyone saw everyone: CPU {cpu:.2} s \
                     ({:.1} % of a core, {:.2} ms per attendee per hour); RSS {:.0} MiB at its end",
                    d.as_secs_f64(),
                    cpu * 100.0 / d.as_secs_f64(),
                    cpu * 1e3 / n as f64 * 3600.0 / d.as_secs_f64(),
                    e.rss_kb as f64 / 1024.0
                );
            }
        }
        let fails: Vec<String> = OPS
            .iter()
            .enumerate()
            .filter_map(|(kind, (_, name))| {
                let v = t.failures(i, kind);
                (v > 0).then(|| format!("{name} {v}"))
            })
            .collect();
        if !fails.is_empty() {
            println!("  failed: {}", fails.join(", "));
        }
        if let Some(c) = &self.counts[i] {
            if !c.refusals.is_empty() || c.rate_limited > 0.0 {
                println!(
                    "  refusals: {} (rate limited requests {})",
                    c.refusals.join(", "),
                    c.rate_limited
                );
            }
            let pairs = |v: &[(String, f64)]| {
                v.iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            if !c.publishes.is_empty() || !c.fleet_entries.is_empty() {
                println!(
                    "  fleet: published {}; from peers {}; messages dropped (send queue full) {}",
                    pairs(&c.publishes),
                    pairs(&c.fleet_entries),
                    c.gossip_dropped
                );
            }
        }
    }
}
