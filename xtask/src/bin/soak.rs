//! Fault and abuse campaign (`cargo xtask soak`): floods a relay while legitimate attendees
//! join and swap, and SIGKILLs `meishi up` and `meishi relay` in the middle of event swaps.
//! The numbers it prints are the ones in `docs/reliability.md`.
//!
//! ```text
//! cargo xtask soak                      # both phases, small (a few minutes)
//! cargo run -p xtask --bin soak -- flood --flooders 1000 --hosts 8 --runs 5
//! cargo run -p xtask --bin soak -- crash --kills 20 --relay-kills 3 --meishi target/debug/meishi
//! cargo xtask soak flood --netns        # the flood from network namespaces (as root)
//! ```
//!
//! **Flood** (in-process): a relay (`meishi_relay::Relay`, default limits) on 127.0.0.1. First
//! a baseline: two fresh legitimate attendees (`meishi_node::Node`, teaser on, polling every
//! second like `meishi event`) join one event; measured from spawning them until each has seen
//! the other on the board and one's give to the other came back `Mutual` over the circuit.
//! Then flooders start: fresh peer ids spread over source addresses 127.0.0.2 … (each dials
//! from its own loopback address, so the relay sees several hosts) that reserve, register and
//! post in the same event and in random other namespaces, then read the whole board and
//! rendezvous list from the start again and again; and givers, fresh meishi identities that
//! give their card to the legitimate attendees over the relay and fetch theirs. The same join
//! and swap is measured again under the flood.
//!
//! **Flood from network namespaces** (`flood --netns`, root; the `netns` module): the same
//! trials, but the relay is the `meishi relay` binary in a namespace of its own, the attendees
//! are on an address of their own (203.0.113.2), the givers on another (192.0.2.2), and the
//! flooders run as separate processes (`soak flood-worker`, the `worker` module) in flooder
//! namespaces, each host on its own TEST-NET address (198.51.100.x), pushed hard enough per
//! host that the relay's per-host caps fire; the report counts the relay's refusals by cap
//! from its metrics endpoint.
//!
//! **Crash** (processes of the `meishi` binary): a relay, Ada (`up --event`), two more
//! attendees, and swap partners running `meishi event --swap-all` from fresh homes in a loop.
//! Ada's `up` is SIGKILLed at random moments, her book checked (`contacts list`, `contacts
//! show`), and `up` restarted until it reports `reserved` and `joined` again. Then the relay is
//! SIGKILLed under the same load and restarted on the same port and key; every `up` must
//! re-reserve on its own and swaps must succeed again.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures::StreamExt;
use libp2p::core::upgrade::Version;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{
    noise, relay, rendezvous, request_response, yamux, Multiaddr, PeerId, Swarm, Transport,
};
use meishi_card::{Card, Identity, SignedCard};
use meishi_event::{BoardRequest, BoardResponse, EventKey};
use meishi_node::{Config, Event, GiveOutcome, Limits, Node, Teaser};
use meishi_relay::board;
use serde_json::Value;
use tokio::sync::watch;

use source_tcp::SourceTcp;

/// An unguessable event code (the CLI refuses guessable ones).
const CODE: &str = "m4kq-7xpa-z2re-9hwd-c5tx";
/// The bound the legitimate attendee must join, see and swap within.
const BOUND: Duration = Duration::from_secs(60);
/// How soon the newcomer gives again after a refusal: slower than the one request per 2 s a
/// node grants each peer (`meishi_node::Limits::request_refill`), so its own retries are not
/// what gets refused.
const RETRY: Duration = Duration::from_millis(2500);
/// Flooders' registrations and posts live this long.
const TTL: u32 = 3600;
/// Where the legitimate attendees listen in the loopback flood.
const LOOPBACK_LISTEN: &str = "/ip4/127.0.0.1/tcp/0";

const USAGE: &str = "usage: soak [all|flood|crash] [--quick] [--flooders N] [--hosts K] \
    [--givers G] [--runs R] [--flood-interval SECS] [--warmup SECS] [--kills N] [--relay-kills N] \
    [--partners P] [--meishi PATH] \
    [--netns [--reserve-hosts K] [--reserve-peers N] [--reservations R] [--fill-hosts K] \
    [--fill-peers N] [--namespaces M] [--fill-rate PER_SEC] [--rate-peers N] [--rate PER_SEC] \
    [--circuit-peers N] [--circuit-rate PER_SEC] [--give-rate PER_SEC] [--flood-netns K]]";

// The crate root is `soak.rs`, so its modules are found by path.
#[path = "soak/netns.rs"]
mod netns;
#[path = "../source_tcp.rs"]
mod source_tcp;
#[path = "soak/worker.rs"]
mod worker;

struct Args {
    phase: String,
    /// The flood from network namespaces (`--netns`, root only): see [`netns`].
    netns: bool,
    /// Set by the namespace mode for the copy of the tool it runs inside the attendees'
    /// namespace: the id that names the namespaces.
    netns_inner: Option<u32>,
    plan: netns::Plan,
    flooders: usize,
    hosts: usize,
    givers: usize,
    runs: usize,
    interval: Duration,
    warmup: Duration,
    kills: usize,
    relay_kills: usize,
    partners: usize,
    meishi: Option<PathBuf>,
}

fn args() -> Result<Args> {
    let mut a = Args {
        phase: "all".into(),
        netns: false,
        netns_inner: None,
        plan: netns::Plan::default(),
        flooders: 500,
        hosts: 4,
        givers: 8,
        runs: 3,
        interval: Duration::from_secs(2),
        warmup: Duration::from_secs(20),
        kills: 20,
        relay_kills: 3,
        partners: 2,
        meishi: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().context(USAGE);
        match flag.as_str() {
            "all" | "flood" | "crash" => a.phase = flag,
            "--quick" => {
                a.flooders = 200;
                a.runs = 2;
                a.warmup = Duration::from_secs(10);
                a.kills = 5;
                a.relay_kills = 1;
            }
            "--flooders" => a.flooders = val()?.parse()?,
            "--hosts" => a.hosts = val()?.parse::<usize>()?.clamp(1, 250),
            "--givers" => a.givers = val()?.parse()?,
            "--runs" => a.runs = val()?.parse::<usize>()?.max(1),
            "--warmup" => a.warmup = Duration::from_secs_f64(val()?.parse()?),
            "--flood-interval" => a.interval = Duration::from_secs_f64(val()?.parse()?),
            "--kills" => a.kills = val()?.parse()?,
            "--relay-kills" => a.relay_kills = val()?.parse()?,
            "--partners" => a.partners = val()?.parse::<usize>()?.max(1),
            "--meishi" => a.meishi = Some(val()?.into()),
            "--netns" => a.netns = true,
            "--netns-inner" => a.netns_inner = Some(val()?.parse()?),
            "--reserve-hosts" => a.plan.reserve_hosts = val()?.parse()?,
            "--reserve-peers" => a.plan.reserve_peers = val()?.parse()?,
            "--reservations" => a.plan.reservations = val()?.parse()?,
            "--fill-hosts" => a.plan.fill_hosts = val()?.parse::<usize>()?.min(8),
            "--fill-peers" => a.plan.fill_peers = val()?.parse()?,
            "--namespaces" => a.plan.others = val()?.parse()?,
            "--fill-rate" => a.plan.fill_rate = val()?.parse()?,
            "--rate-peers" => a.plan.rate_peers = val()?.parse()?,
            "--rate" => a.plan.rate = val()?.parse()?,
            "--circuit-peers" => a.plan.circuit_peers = val()?.parse()?,
            "--circuit-rate" => a.plan.circuit_rate = val()?.parse()?,
            "--give-rate" => a.plan.give_rate = val()?.parse()?,
            "--flood-netns" => a.plan.namespaces = val()?.parse::<usize>()?.clamp(1, 8),
            _ => bail!("{USAGE}"),
        }
    }
    Ok(a)
}

fn main() -> Result<()> {
    // A flooder process of the namespace mode (hidden: `netns` starts it).
    if std::env::args().nth(1).as_deref() == Some(worker::SUBCOMMAND) {
        let rest: Vec<String> = std::env::args().skip(2).collect();
        return worker::main(&rest);
    }
    let a = args()?;
    let runtime = || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
    };
    if let Some(id) = a.netns_inner {
        let rt = runtime()?;
        rt.block_on(netns::inner(&a, id))?;
        rt.shutdown_timeout(Duration::from_secs(5));
        return Ok(());
    }
    if a.phase == "all" || a.phase == "flood" {
        if a.netns {
            netns::outer(&a)?;
        } else {
            let rt = runtime()?;
            rt.block_on(flood(&a))?;
            rt.shutdown_timeout(Duration::from_secs(5));
        }
    }
    if a.phase == "all" || a.phase == "crash" {
        crash(&a)?;
    }
    Ok(())
}

/// A small xorshift: random kill moments and junk namespaces, reproducible enough.
struct Rng(u64);

impl Rng {
    fn new() -> Self {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        Self(t | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn secs(&mut self, lo: f64, hi: f64) -> Duration {
        let f = (self.next() % 10_000) as f64 / 10_000.0;
        Duration::from_secs_f64(lo + (hi - lo) * f)
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

// ---------------------------------------------------------------------------------------------
// Flood
// ---------------------------------------------------------------------------------------------

#[derive(NetworkBehaviour)]
struct Flooder {
    relay: relay::client::Behaviour,
    rendezvous: rendezvous::client::Behaviour,
    board: request_response::Behaviour<board::Codec>,
}

type Ev = SwarmEvent<FlooderEvent>;

fn flooder_swarm(src: IpAddr) -> Result<Swarm<Flooder>> {
    let key = libp2p::identity::Keypair::generate_ed25519();
    let tcp = SourceTcp(src)
        .upgrade(Version::V1Lazy)
        .authenticate(noise::Config::new(&key)?)
        .multiplex(yamux::Config::default());
    Ok(libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_other_transport(|_| tcp)?
        .with_relay_client(noise::Config::new, yamux::Config::default)?
        .with_behaviour(|key, relay| Flooder {
            relay,
            rendezvous: rendezvous::client::Behaviour::new(key.clone()),
            board: request_response::Behaviour::with_codec(
                board::Codec::default(),
                [(board::PROTOCOL, request_response::ProtocolSupport::Outbound)],
                request_response::Config::default().with_request_timeout(Duration::from_secs(20)),
            ),
        })?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
        .build())
}

/// Counts of one kind of flood request.
#[derive(Default)]
struct Tally {
    sent: AtomicU64,
    ok: AtomicU64,
    /// The relay answered with a refusal (rate limited, full, unavailable, denied).
    refused: AtomicU64,
    /// No answer: timeout, connection lost.
    failed: AtomicU64,
}

impl Tally {
    fn add(&self, r: Option<bool>) {
        self.sent.fetch_add(1, Ordering::Relaxed);
        let c = match r {
            Some(true) => &self.ok,
            Some(false) => &self.refused,
            None => &self.failed,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
    fn line(&self, what: &str) -> String {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        format!(
            "| {what} | {} | {} | {} | {} |",
            g(&self.sent),
            g(&self.ok),
            g(&self.refused),
            g(&self.failed)
        )
    }
}

#[derive(Default)]
struct FloodStats {
    reserve: Tally,
    register: Tally,
    post: Tally,
    board_read: Tally,
    discover: Tally,
    give: Tally,
    fetch: Tally,
    /// How the legitimate attendees answered the givers, by outcome.
    give_outcomes: Mutex<BTreeMap<String, u64>>,
    joined: AtomicU64,
}

struct FloodShared {
    ev: EventKey,
    ns: rendezvous::Namespace,
    relay: Multiaddr,
    relay_id: PeerId,
    interval: Duration,
    /// The least time between two rounds of one giver (zero: as fast as they go).
    give_gap: Duration,
    stats: FloodStats,
}

/// Drives the swarm until `f` picks an event; `None` after 30 s or when `stop` fires.
async fn next<T>(
    s: &mut Swarm<Flooder>,
    stop: &mut watch::Receiver<bool>,
    mut f: impl FnMut(Ev) -> Option<T>,
) -> Option<T> {
    let wait = async {
        loop {
            if let Some(t) = f(s.select_next_some().await) {
                return t;
            }
        }
    };
    tokio::select! {
        r = tokio::time::timeout(Duration::from_secs(30), wait) => r.ok(),
        _ = stop.wait_for(|s| *s) => None,
    }
}

fn random_namespace(rng: &mut Rng) -> String {
    let mut s = String::from("meishi-ev2-");
    while s.len() < 11 + 64 {
        s.push_str(&format!("{:016x}", rng.next()));
    }
    s.truncate(11 + 64);
    s
}

fn board_answer(e: Ev) -> Option<Option<BoardResponse>> {
    match e {
        SwarmEvent::Behaviour(FlooderEvent::Board(request_response::Event::Message {
            message: request_response::Message::Response { response, .. },
            ..
        })) => Some(Some(response)),
        SwarmEvent::Behaviour(FlooderEvent::Board(request_response::Event::OutboundFailure {
            ..
        })) => Some(None),
        _ => None,
    }
}

async fn register(
    sh: &FloodShared,
    s: &mut Swarm<Flooder>,
    stop: &mut watch::Receiver<bool>,
    ns: rendezvous::Namespace,
) {
    if s.behaviour_mut()
        .rendezvous
        .register(ns, sh.relay_id, Some(TTL.into()))
        .is_err()
    {
        sh.stats.register.add(None);
        return;
    }
    let r = next(s, stop, |e| match e {
        SwarmEvent::Behaviour(FlooderEvent::Rendezvous(
            rendezvous::client::Event::Registered { .. },
        )) => Some(true),
        SwarmEvent::Behaviour(FlooderEvent::Rendezvous(
            rendezvous::client::Event::RegisterFailed { .. },
        )) => Some(false),
        _ => None,
    })
    .await;
    sh.stats.register.add(r);
}

async fn post(
    sh: &FloodShared,
    s: &mut Swarm<Flooder>,
    stop: &mut watch::Receiver<bool>,
    namespace: String,
    sealed: Vec<u8>,
) {
    s.behaviour_mut().board.send_request(
        &sh.relay_id,
        BoardRequest::Put {
            namespace,
            ttl: TTL,
            sealed,
        },
    );
    let r = next(s, stop, board_answer).await;
    sh.stats
        .post
        .add(r.map(|r| r.is_some_and(|r| matches!(r, BoardResponse::Stored { .. }))));
}

/// One flooder: reserve, register and post in the event and in another namespace, then read
/// the event's whole board and rendezvous list from the start every `interval`.
async fn flooder(sh: Arc<FloodShared>, src: IpAddr, seed: u64, mut stop: watch::Receiver<bool>) {
    let mut rng = Rng(seed | 1);
    let Ok(mut s) = flooder_swarm(src) else {
        sh.stats.reserve.add(None);
        return;
    };
    let circuit = sh.relay.clone().with(Protocol::P2pCircuit);
    let reserved = match s.listen_on(circuit.clone()) {
        Ok(_) => {
            next(&mut s, &mut stop, |e| match e {
                SwarmEvent::Behaviour(FlooderEvent::Relay(
                    relay::client::Event::ReservationReqAccepted { .. },
                )) => Some(true),
                SwarmEvent::ListenerClosed { .. } => Some(false),
                _ => None,
            })
            .await
        }
        Err(_) => None,
    };
    sh.stats.reserve.add(reserved);
    if *stop.borrow() {
        return;
    }
    s.add_external_address(circuit.with(Protocol::P2p(*s.local_peer_id())));
    let other = random_namespace(&mut rng);
    register(&sh, &mut s, &mut stop, sh.ns.clone()).await;
    if let Ok(ns) = rendezvous::Namespace::new(other.clone()) {
        register(&sh, &mut s, &mut stop, ns).await;
    }
    // A teaser sealed with the event key but not a signed teaser: readers must drop it.
    let junk = format!("not a teaser from {}", s.local_peer_id());
    if let Ok(sealed) = sh.ev.seal(junk.as_bytes()) {
        post(&sh, &mut s, &mut stop, sh.ev.namespace().into(), sealed).await;
    }
    let mut blob = vec![1u8; 200];
    for b in blob.iter_mut().skip(1) {
        *b = rng.next() as u8;
    }
    post(&sh, &mut s, &mut stop, other, blob).await;
    sh.stats.joined.fetch_add(1, Ordering::Relaxed);
    // Spread the readers over the interval.
    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::now() + rng.secs(0.0, sh.interval.as_secs_f64()),
        sh.interval,
    );
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
            _ = s.select_next_some() => continue,
        }
        s.behaviour_mut().board.send_request(
            &sh.relay_id,
            BoardRequest::Get {
                namespace: sh.ev.namespace().into(),
                cursor: 0,
                limit: 256,
            },
        );
        let r = next(&mut s, &mut stop, board_answer).await;
        if *stop.borrow() {
            return;
        }
        sh.stats
            .board_read
            .add(r.map(|r| r.is_some_and(|r| matches!(r, BoardResponse::Entries { .. }))));
        s.behaviour_mut()
            .rendezvous
            .discover(Some(sh.ns.clone()), None, Some(256), sh.relay_id);
        let r = next(&mut s, &mut stop, |e| match e {
            SwarmEvent::Behaviour(FlooderEvent::Rendezvous(
                rendezvous::client::Event::Discovered { .. },
            )) => Some(true),
            SwarmEvent::Behaviour(FlooderEvent::Rendezvous(
                rendezvous::client::Event::DiscoverFailed { .. },
            )) => Some(false),
            _ => None,
        })
        .await;
        if *stop.borrow() {
            return;
        }
        sh.stats.discover.add(r);
    }
}

fn fresh_identity(name: &str) -> Result<(Identity, SignedCard)> {
    let id = Identity::generate().map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let card = SignedCard::sign(&id, 1, 1_700_000_000, &Card::new(name.to_owned()))?;
    Ok((id, card))
}

/// One giver: over and over, a fresh identity gives its card to every legitimate attendee
/// (through the relay) and asks for theirs back.
async fn giver(
    sh: Arc<FloodShared>,
    targets: watch::Receiver<Vec<(PeerId, Multiaddr)>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut round = 0u64;
    while !*stop.borrow() {
        let list = targets.borrow().clone();
        if list.is_empty() {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            continue;
        }
        round += 1;
        let next_round = tokio::time::Instant::now() + sh.give_gap;
        let Ok((id, card)) = fresh_identity(&format!("Flooder {round}")) else {
            return;
        };
        let Ok((node, mut events)) = Node::spawn(Config::new(id, card)) else {
            return;
        };
        tokio::spawn(async move { while events.recv().await.is_some() {} });
        for (peer, addr) in list {
            let r = tokio::select! {
                r = tokio::time::timeout(Duration::from_secs(15), node.give(peer, vec![addr.clone()])) => r,
                _ = stop.wait_for(|s| *s) => break,
            };
            let label = match &r {
                Ok(Ok(GiveOutcome::Mutual { .. })) => "mutual".to_owned(),
                Ok(Ok(GiveOutcome::ReceivedOnly)) => "received_only".to_owned(),
                Ok(Ok(GiveOutcome::Pending)) => "pending".to_owned(),
                Ok(Err(e)) => format!("error: {e}"),
                Err(_) => "timeout".to_owned(),
            };
            sh.stats.give.add(match &r {
                Ok(Ok(_)) => Some(true),
                Ok(Err(meishi_node::GiveError::Refused(_))) => Some(false),
                _ => None,
            });
            if let Ok(mut m) = sh.stats.give_outcomes.lock() {
                *m.entry(label).or_default() += 1;
            }
            let f =
                tokio::time::timeout(Duration::from_secs(10), node.fetch(peer, vec![addr])).await;
            sh.stats.fetch.add(match f {
                Ok(Ok(_)) => Some(true),
                Ok(Err(meishi_node::FetchError::Refused(_))) => Some(false),
                _ => None,
            });
        }
        let _ = node.shutdown().await;
        tokio::select! {
            _ = tokio::time::sleep_until(next_round) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// One legitimate join + see + swap: a newcomer joins the event, sees the resident attendee
/// (and is seen by it), and swaps with it.
struct Trial {
    reserved: Option<Duration>,
    seen: Option<Duration>,
    swapped: Option<Duration>,
    give_attempts: usize,
    /// Refusals by either legit node during the trial, by reason.
    refusals: BTreeMap<String, u64>,
    /// Cards the two legit nodes received and kept during the trial (the givers' and the
    /// newcomer's).
    cards_from_strangers: u64,
}

/// What a legit node's event reader records.
#[derive(Default)]
struct Seen {
    discovered: HashMap<PeerId, Vec<Multiaddr>>,
    circuit: Option<Multiaddr>,
    refusals: BTreeMap<String, u64>,
    strangers: u64,
}

/// Spawns a legitimate attendee (teaser on, polling every second like `meishi event`) whose
/// events are recorded in the returned [`Seen`].
fn legit(relay: &Multiaddr, name: &str, listen: &str) -> Result<(Node, Arc<Mutex<Seen>>)> {
    let (id, card) = fresh_identity(name)?;
    let mut c = Config::new(id, card);
    c.teaser = Some(Teaser {
        name: name.to_owned(),
        headline: None,
    });
    c.listen = vec![listen.parse()?];
    c.relays = vec![relay.clone()];
    c.event_codes = vec![CODE.into()];
    c.limits = Limits {
        event_poll: Duration::from_secs(1),
        ..Limits::default()
    };
    let (node, mut events) = Node::spawn(c)?;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let sink = seen.clone();
    tokio::spawn(async move {
        while let Some(e) = events.recv().await {
            let Ok(mut s) = sink.lock() else { return };
            match e {
                Event::Refused { reason, .. } => {
                    *s.refusals.entry(reason.to_string()).or_default() += 1;
                }
                Event::CardReceived { .. } => s.strangers += 1,
                Event::Reserved { addr, .. } => s.circuit = Some(addr),
                Event::AttendeeDiscovered { peer, addrs, .. } => {
                    s.discovered.insert(peer, addrs);
                }
                _ => {}
            }
        }
    });
    Ok((node, seen))
}

fn snapshot(s: &Arc<Mutex<Seen>>) -> (BTreeMap<String, u64>, u64) {
    s.lock()
        .map(|s| (s.refusals.clone(), s.strangers))
        .unwrap_or_default()
}

async fn trial(
    relay: &Multiaddr,
    listen: &str,
    resident: &(Node, Arc<Mutex<Seen>>),
    targets: &watch::Sender<Vec<(PeerId, Multiaddr)>>,
    n: usize,
) -> Result<Trial> {
    let (res_refusals0, res_strangers0) = snapshot(&resident.1);
    let res_peer = resident.0.peer_id();
    let res_circuit = resident.1.lock().ok().and_then(|s| s.circuit.clone());
    let t0 = Instant::now();
    let (node, seen) = legit(relay, &format!("Newcomer {n}"), listen)?;
    let me = node.peer_id();
    let mut t = Trial {
        reserved: None,
        seen: None,
        swapped: None,
        give_attempts: 0,
        refusals: BTreeMap::new(),
        cards_from_strangers: 0,
    };
    let deadline = Instant::now() + BOUND;
    let mut addrs = Vec::new();
    while Instant::now() < deadline {
        let (circuit, found) = seen
            .lock()
            .map(|s| (s.circuit.clone(), s.discovered.get(&res_peer).cloned()))
            .unwrap_or_default();
        if let (Some(c), None) = (&circuit, t.reserved) {
            t.reserved = Some(t0.elapsed());
            // The givers go for the newcomer as soon as it is reachable, and for the resident.
            let mut list = vec![(me, c.clone())];
            list.extend(res_circuit.clone().map(|r| (res_peer, r)));
            targets.send_replace(list);
        }
        let seen_by_resident = resident
            .1
            .lock()
            .is_ok_and(|s| s.discovered.contains_key(&me));
        if let (Some(a), true) = (found, seen_by_resident) {
            addrs = a;
            t.seen = Some(t0.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    if t.seen.is_some() {
        // The newcomer gives to the resident until it comes back mutual or the bound is over
        // (a person retries, every 2.5 s).
        while Instant::now() < deadline {
            t.give_attempts += 1;
            let left = deadline.saturating_duration_since(Instant::now());
            let r = tokio::time::timeout(left, node.give(res_peer, addrs.clone())).await;
            if let Ok(Ok(GiveOutcome::Mutual { .. })) = r {
                t.swapped = Some(t0.elapsed());
                break;
            }
            match &r {
                Ok(Err(e)) => eprintln!("  newcomer's give, attempt {}: {e}", t.give_attempts),
                Ok(Ok(o)) => eprintln!("  newcomer's give, attempt {}: {o:?}", t.give_attempts),
                Err(_) => {}
            }
            tokio::time::sleep(RETRY).await;
        }
    }
    let (mut refusals, strangers) = snapshot(&seen);
    let (res_refusals, res_strangers) = snapshot(&resident.1);
    for (k, v) in res_refusals {
        let before = res_refusals0.get(&k).copied().unwrap_or(0);
        if v > before {
            *refusals.entry(k).or_default() += v - before;
        }
    }
    t.refusals = refusals;
    t.cards_from_strangers = strangers + res_strangers - res_strangers0;
    targets.send_replace(res_circuit.map(|r| vec![(res_peer, r)]).unwrap_or_default());
    let _ = node.shutdown().await;
    Ok(t)
}

fn secs(d: Option<Duration>) -> String {
    d.map_or("—".into(), |d| format!("{:.2}", d.as_secs_f64()))
}

/// The trials' table, then the medians and ratios of baseline and flood.
fn print_comparison(baseline: &[Trial], flooded: &[Trial]) {
    println!("| run | reserved (s) | saw each other (s) | swapped, mutual (s) | give attempts | cards kept by the two | refusals by the legit nodes |");
    println!("|---|---:|---:|---:|---:|---:|---|");
    print_trials("baseline", baseline);
    print_trials("under flood", flooded);
    let med = |v: &[Trial], f: fn(&Trial) -> Option<Duration>| {
        let mut x: Vec<f64> = v
            .iter()
            .filter_map(|t| f(t).map(|d| d.as_secs_f64()))
            .collect();
        (median(&mut x), x.len())
    };
    let (b_seen, _) = med(baseline, |t| t.seen);
    let (f_seen, _) = med(flooded, |t| t.seen);
    let (b_swap, nb) = med(baseline, |t| t.swapped);
    let (f_swap, nf) = med(flooded, |t| t.swapped);
    println!();
    // A median of no trial (none got there) reads as "—", not NaN.
    let s = |x: f64| {
        if x.is_nan() {
            "—".to_owned()
        } else {
            format!("{x:.2} s")
        }
    };
    let x = |f: f64, b: f64| {
        if (f / b).is_nan() {
            "—".to_owned()
        } else {
            format!("x{:.2}", f / b)
        }
    };
    println!(
        "median join+see: {} baseline, {} under flood ({}); \
         median join+see+swap: {} baseline, {} under flood ({})",
        s(b_seen),
        s(f_seen),
        x(f_seen, b_seen),
        s(b_swap),
        s(f_swap),
        x(f_swap, b_swap)
    );
    println!(
        "swapped within {} s: {nb}/{} baseline, {nf}/{} under flood",
        BOUND.as_secs(),
        baseline.len(),
        flooded.len()
    );
}

fn print_trials(label: &str, trials: &[Trial]) {
    for (i, t) in trials.iter().enumerate() {
        println!(
            "| {label} {} | {} | {} | {} | {} | {} | {} |",
            i + 1,
            secs(t.reserved),
            secs(t.seen),
            secs(t.swapped),
            t.give_attempts,
            t.cards_from_strangers,
            if t.refusals.is_empty() {
                "none".into()
            } else {
                t.refusals
                    .iter()
                    .map(|(k, v)| format!("{k}: {v}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            }
        );
    }
}

async fn flood(a: &Args) -> Result<()> {
    let port = free_port()?;
    let listen = format!("/ip4/127.0.0.1/tcp/{port}");
    let config = meishi_relay::Config {
        listen: vec![listen.clone()],
        external_addresses: vec![listen],
        metrics: None,
        ..Default::default()
    };
    let relay_handle = meishi_relay::Relay::spawn(config).await?;
    let relay_id = relay_handle.peer_id();
    let relay: Multiaddr = relay_handle.listen_addrs()[0]
        .clone()
        .with(Protocol::P2p(relay_id));
    println!("## flood: relay {relay}");
    println!(
        "flooders: {} peer ids from {} source addresses (127.0.0.2-127.0.0.{}), each reading the \
         event's board and rendezvous from the start every {:.1} s; {} givers (fresh identity \
         per round)",
        a.flooders,
        a.hosts,
        a.hosts + 1,
        a.interval.as_secs_f64(),
        a.givers
    );
    let (targets_tx, targets_rx) = watch::channel(Vec::new());
    // The resident attendee: at the event before the flood and through it.
    let resident = legit(&relay, "Resident", LOOPBACK_LISTEN)?;
    let t_res = Instant::now();
    while resident.1.lock().is_ok_and(|s| s.circuit.is_none()) && t_res.elapsed() < BOUND {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut baseline = Vec::new();
    for n in 0..a.runs {
        let t = trial(&relay, LOOPBACK_LISTEN, &resident, &targets_tx, n).await?;
        eprintln!("baseline {}: swapped after {}", n + 1, secs(t.swapped));
        baseline.push(t);
    }

    let ev = EventKey::derive(CODE)?;
    let sh = Arc::new(FloodShared {
        ns: rendezvous::Namespace::new(ev.namespace().to_owned())?,
        ev,
        relay: relay.clone(),
        relay_id,
        interval: a.interval,
        give_gap: Duration::ZERO,
        stats: FloodStats::default(),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    let t_flood = Instant::now();
    let mut rng = Rng::new();
    for i in 0..a.flooders {
        let src = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + (i % a.hosts) as u8));
        tasks.push(tokio::spawn(flooder(
            sh.clone(),
            src,
            rng.next(),
            stop_rx.clone(),
        )));
        if i % 50 == 49 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    for _ in 0..a.givers {
        tasks.push(tokio::spawn(giver(
            sh.clone(),
            targets_rx.clone(),
            stop_rx.clone(),
        )));
    }
    // Let the flooders join (or give up) before measuring.
    let warm = Instant::now();
    while (sh.stats.joined.load(Ordering::Relaxed) as usize) < a.flooders
        && warm.elapsed() < Duration::from_secs(90)
    {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    eprintln!(
        "{} of {} flooders joined after {:.1} s",
        sh.stats.joined.load(Ordering::Relaxed),
        a.flooders,
        warm.elapsed().as_secs_f64()
    );
    // The flood in full swing: every flooder reading, the givers at the resident.
    if let Some(c) = resident.1.lock().ok().and_then(|s| s.circuit.clone()) {
        targets_tx.send_replace(vec![(resident.0.peer_id(), c)]);
    }
    tokio::time::sleep(a.warmup).await;
    let mut flooded = Vec::new();
    for n in 0..a.runs {
        let t = trial(&relay, LOOPBACK_LISTEN, &resident, &targets_tx, 100 + n).await?;
        eprintln!("under flood {}: swapped after {}", n + 1, secs(t.swapped));
        flooded.push(t);
    }
    let flood_secs = t_flood.elapsed().as_secs_f64();
    let (res_refusals, res_strangers) = snapshot(&resident.1);
    let _ = resident.0.shutdown().await;
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(30), t).await;
    }
    let metrics = relay_handle.metrics_text();
    relay_handle.shutdown().await;

    println!();
    print_comparison(&baseline, &flooded);
    println!();
    println!("flood ({flood_secs:.0} s):");
    println!();
    println!("| request | sent | answered ok | refused | no answer |");
    println!("|---|---:|---:|---:|---:|");
    let s = &sh.stats;
    for (what, t) in [
        ("reservation", &s.reserve),
        ("rendezvous register", &s.register),
        ("board post", &s.post),
        ("board read (from 0)", &s.board_read),
        ("rendezvous discover", &s.discover),
        ("give to a legit attendee", &s.give),
        ("fetch from a legit attendee", &s.fetch),
    ] {
        println!("{}", t.line(what));
    }
    if let Ok(m) = s.give_outcomes.lock() {
        println!();
        println!(
            "givers' outcomes: {}",
            m.iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    println!();
    println!(
        "resident attendee over the whole run: {res_strangers} cards kept; \
         refused: {}",
        res_refusals
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join("; ")
    );
    println!();
    println!("relay counters (nonzero):");
    println!();
    println!("```");
    for l in metrics.lines() {
        if (l.starts_with("meishi_relay_refusals_total{")
            || l.starts_with("meishi_relay_requests_total{")
            || l.starts_with("meishi_relay_connections_denied_total"))
            && !l.ends_with(" 0")
        {
            println!("{l}");
        }
    }
    println!("```");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Crash
// ---------------------------------------------------------------------------------------------

/// A `meishi` process whose stdout JSON lines are kept with the moment each was read.
struct Proc {
    child: Child,
    lines: Arc<Mutex<Vec<(Instant, Value)>>>,
}

impl Proc {
    fn start(meishi: &Path, home: &Path, args: &[&str], log: &Path) -> Result<Proc> {
        let mut cmd = Command::new(meishi);
        cmd.arg("--home")
            .arg(home)
            .args(args)
            .env_remove("MEISHI_HOME")
            .stdin(Stdio::null());
        Proc::spawn(cmd, log).with_context(|| format!("cannot run {}", meishi.display()))
    }

    /// Runs `cmd` (its stdin as the caller set it up) with stdout read as JSON lines and
    /// stderr written to `log`.
    fn spawn(mut cmd: Command, log: &Path) -> Result<Proc> {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log)?)
            .spawn()?;
        let stdout = child.stdout.take().context("no stdout")?;
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    if let Ok(mut l) = sink.lock() {
                        l.push((Instant::now(), v));
                    }
                }
            }
        });
        Ok(Proc { child, lines })
    }

    /// The first line of `kind` read at or after `after`, waiting up to `timeout`.
    fn wait_for(&self, kind: &str, after: Instant, timeout: Duration) -> Option<(Instant, Value)> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(l) = self.lines.lock() {
                if let Some(x) = l.iter().find(|(t, v)| *t >= after && v["event"] == kind) {
                    return Some(x.clone());
                }
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn all(&self, kind: &str) -> Vec<(Instant, Value)> {
        self.lines
            .lock()
            .map(|l| {
                l.iter()
                    .filter(|(_, v)| v["event"] == kind)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// SIGKILL (std's `Child::kill` on Unix) and reap.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

fn meishi_path(a: &Args) -> Result<PathBuf> {
    let p = match &a.meishi {
        Some(p) => p.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("no folder")?
            .join("meishi"),
    };
    if !p.exists() {
        bail!(
            "{} not found: build it (`cargo build --bin meishi`) or pass --meishi PATH",
            p.display()
        );
    }
    Ok(p)
}

fn run_json(meishi: &Path, home: &Path, args: &[&str]) -> Result<Value> {
    let out = Command::new(meishi)
        .arg("--home")
        .arg(home)
        .args(args)
        .env_remove("MEISHI_HOME")
        .output()?;
    if !out.status.success() {
        bail!(
            "meishi {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

fn init(meishi: &Path, home: &Path, name: &str) -> Result<String> {
    let out = Command::new(meishi)
        .arg("--home")
        .arg(home)
        .args([
            "init", "--name", name, "--note", "soak", "--teaser", "headline",
        ])
        .env_remove("MEISHI_HOME")
        .output()?;
    if !out.status.success() {
        bail!("init failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let id = run_json(meishi, home, &["id", "--json"])?;
    id["peer_id"]
        .as_str()
        .map(str::to_owned)
        .context("no peer id")
}

/// The relay's metrics as Prometheus text (with the HTTP head), from its metrics endpoint.
fn scrape(addr: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut text = String::new();
    let got = std::net::TcpStream::connect(addr).and_then(|mut c| {
        c.set_read_timeout(Some(Duration::from_secs(5)))?;
        c.write_all(b"GET /metrics HTTP/1.0\r\n\r\n")?;
        c.read_to_string(&mut text)
    });
    got.ok().map(|_| text)
}

/// The relay's nonzero refusal counters, from its metrics endpoint.
fn refusals(addr: &str) -> Vec<String> {
    let Some(text) = scrape(addr) else {
        return vec!["(metrics unavailable)".into()];
    };
    text.lines()
        .filter(|l| l.starts_with("meishi_relay_refusals_total{") && !l.ends_with(" 0"))
        .map(str::to_owned)
        .collect()
}

/// One swap a partner's `meishi event --swap-all` reported.
struct Swap {
    partner: String,
    target: String,
    mutual: bool,
    at: Instant,
}

/// What a check of Ada's book after a kill found.
#[derive(Default)]
struct BookCheck {
    contacts: usize,
    /// Listed but not verified, without a key or a name, or `contacts show` failing on it.
    half_written: usize,
    /// Cards Ada's `up` reported as stored (`card_received`) that are not in the book.
    lost_stored: usize,
    /// Partners whose swap with Ada came back mutual before the kill but whose card is not in
    /// her book: she answered before her write was durable.
    lost_acked: usize,
    list_failed: bool,
}

fn check_book(
    meishi: &Path,
    home: &Path,
    stored: &HashSet<String>,
    acked: &HashSet<String>,
    shown: &mut HashSet<i64>,
) -> BookCheck {
    let mut c = BookCheck::default();
    let list = match run_json(meishi, home, &["contacts", "list", "--json"]) {
        Ok(Value::Array(l)) => l,
        Ok(_) | Err(_) => {
            c.list_failed = true;
            return c;
        }
    };
    c.contacts = list.len();
    let mut keys = HashSet::new();
    for e in &list {
        let peer = e["peer_id"].as_str().unwrap_or_default();
        let ok = e["verified"] == true
            && !peer.is_empty()
            && e["name"].as_str().is_some_and(|n| !n.is_empty());
        if !ok {
            c.half_written += 1;
        }
        keys.insert(peer.to_owned());
        if let Some(id) = e["id"].as_i64() {
            if shown.insert(id) {
                let show = run_json(
                    meishi,
                    home,
                    &["contacts", "show", &id.to_string(), "--json"],
                );
                let good = show.is_ok_and(|v| v["card"].is_object() && v["verified"] == true);
                if !good && ok {
                    c.half_written += 1;
                }
            }
        }
    }
    c.lost_stored = stored.difference(&keys).count();
    c.lost_acked = acked.difference(&keys).count();
    c
}

fn crash(a: &Args) -> Result<()> {
    let meishi = meishi_path(a)?;
    // Kept after the run: the processes' logs (stderr) and the books, to look into anomalies.
    let root = tempfile::tempdir()?.keep();
    let logs = root.join("logs");
    std::fs::create_dir_all(&logs)?;
    let port = free_port()?;
    let listen = format!("/ip4/127.0.0.1/tcp/{port}");
    let metrics_addr = format!("127.0.0.1:{}", free_port()?);
    let relay_home = root.join("relay");
    let start_relay = |n: usize| -> Result<(Proc, String)> {
        let p = Proc::start(
            &meishi,
            &relay_home,
            &[
                "relay",
                "--listen",
                &listen,
                "--external-address",
                &listen,
                "--metrics",
                &metrics_addr,
                "--json",
            ],
            &logs.join(format!("relay-{n}.log")),
        )?;
        let (_, v) = p
            .wait_for(
                "listening",
                Instant::now() - Duration::from_secs(3600),
                Duration::from_secs(30),
            )
            .context("the relay did not start")?;
        Ok((p, v["addr"].as_str().unwrap_or_default().to_owned()))
    };
    let (mut relay_proc, relay_addr) = start_relay(0)?;
    println!(
        "## crash: relay {relay_addr}, meishi {}; logs and homes in {}",
        meishi.display(),
        root.display()
    );

    let up_args = |relay: &str| -> Vec<String> {
        [
            "up",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--no-mdns",
            "--json",
            "--relay",
            relay,
            "--event",
            CODE,
        ]
        .map(str::to_owned)
        .to_vec()
    };
    let start_up = |home: &Path, tag: &str| -> Result<Proc> {
        let args = up_args(&relay_addr);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Proc::start(&meishi, home, &args, &logs.join(format!("{tag}.log")))
    };
    let mut attendees = Vec::new();
    let mut ids = Vec::new();
    for name in ["Ada", "Bob", "Cy"] {
        let home = root.join(name);
        ids.push(init(&meishi, &home, name)?);
        attendees.push((home.clone(), start_up(&home, &format!("{name}-0"))?));
    }
    let ada_id = ids[0].clone();
    let t_start = Instant::now();
    for (home, p) in &attendees {
        p.wait_for(
            "reserved",
            t_start - Duration::from_secs(1),
            Duration::from_secs(60),
        )
        .with_context(|| format!("{} did not reserve", home.display()))?;
    }

    // Swap partners: fresh homes, `meishi event --swap-all`, over and over.
    let swaps = Arc::new(Mutex::new(Vec::<Swap>::new()));
    let runs = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut partners = Vec::new();
    for i in 0..a.partners {
        let (meishi, root, logs, relay_addr) = (
            meishi.clone(),
            root.clone(),
            logs.clone(),
            relay_addr.clone(),
        );
        let (swaps, runs, stop) = (swaps.clone(), runs.clone(), stop.clone());
        partners.push(std::thread::spawn(move || {
            let mut round = 0;
            while !stop.load(Ordering::Relaxed) {
                round += 1;
                let home = root.join(format!("p{i}-{round}"));
                let Ok(me) = init(&meishi, &home, &format!("Partner {i}-{round}")) else {
                    continue;
                };
                let Ok(mut p) = Proc::start(
                    &meishi,
                    &home,
                    &[
                        "event",
                        CODE,
                        "--relay",
                        &relay_addr,
                        "--swap-all",
                        "--timeout",
                        "25",
                        "--json",
                    ],
                    &logs.join(format!("p{i}-{round}.log")),
                ) else {
                    continue;
                };
                let _ = p.child.wait();
                runs.fetch_add(1, Ordering::Relaxed);
                let done: Vec<Swap> = p
                    .all("swapped")
                    .into_iter()
                    .map(|(at, v)| Swap {
                        partner: me.clone(),
                        target: v["peer_id"].as_str().unwrap_or_default().to_owned(),
                        mutual: v["outcome"] == "mutual",
                        at,
                    })
                    .collect();
                if let Ok(mut s) = swaps.lock() {
                    s.extend(done);
                }
                // Keep the partners' homes small: the book of this round is not needed again.
                let _ = std::fs::remove_dir_all(&home);
            }
        }));
    }

    let mut rng = Rng::new();
    let mut shown = HashSet::new();
    let mut stored: HashSet<String> = HashSet::new();
    let mut rows = Vec::new();
    let (mut half, mut lost_stored, mut lost_acked, mut list_failures) = (0, 0, 0, 0);
    let mut rejoin: Vec<f64> = Vec::new();
    let mut rejoin_joined: Vec<f64> = Vec::new();
    let mut failed_restarts = 0;
    for k in 0..a.kills {
        std::thread::sleep(rng.secs(2.0, 7.0));
        let t_kill = Instant::now();
        {
            let ada = &mut attendees[0].1;
            ada.kill();
            for (_, v) in ada.all("card_received") {
                if let Some(p) = v["peer_id"].as_str() {
                    stored.insert(p.to_owned());
                }
            }
        }
        let acked: HashSet<String> = swaps
            .lock()
            .map(|s| {
                s.iter()
                    .filter(|x| x.target == ada_id && x.mutual && x.at < t_kill)
                    .map(|x| x.partner.clone())
                    .collect()
            })
            .unwrap_or_default();
        let c = check_book(&meishi, &attendees[0].0, &stored, &acked, &mut shown);
        half += c.half_written;
        list_failures += usize::from(c.list_failed);
        lost_stored += c.lost_stored;
        lost_acked += c.lost_acked;
        let t_restart = Instant::now();
        attendees[0].1 = start_up(&attendees[0].0, &format!("Ada-{}", k + 1))?;
        let ada = &attendees[0].1;
        let r = ada.wait_for("reserved", t_restart, BOUND);
        let j = ada.wait_for("joined", t_restart, BOUND);
        if r.is_none() || j.is_none() {
            failed_restarts += 1;
        }
        let since =
            |x: &Option<(Instant, Value)>| x.as_ref().map(|(t, _)| t.duration_since(t_restart));
        if let Some(d) = since(&r) {
            rejoin.push(d.as_secs_f64());
        }
        if let Some(d) = since(&j) {
            rejoin_joined.push(d.as_secs_f64());
        }
        rows.push(format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            k + 1,
            if c.list_failed {
                "FAILED".into()
            } else {
                c.contacts.to_string()
            },
            c.half_written,
            c.lost_stored,
            c.lost_acked,
            acked.len(),
            secs(since(&r)),
            secs(since(&j)),
        ));
        eprintln!("{}", rows.last().map_or("", String::as_str));
    }

    // The relay under load: SIGKILL, restart on the same port with the same key.
    let mut relay_rows = Vec::new();
    let mut relay_rejoin: Vec<f64> = Vec::new();
    let mut relay_failures = 0;
    // The relay's refusals during the `up` kills (its counters start again with each restart).
    let mut refused_lines = vec![("the SIGKILLs of `up`".to_owned(), refusals(&metrics_addr))];
    for k in 0..a.relay_kills {
        std::thread::sleep(rng.secs(3.0, 8.0));
        if k > 0 {
            refused_lines.push((format!("relay run {k}"), refusals(&metrics_addr)));
        }
        relay_proc.kill();
        let t_kill = Instant::now();
        std::thread::sleep(Duration::from_secs(1));
        // Measured from the moment the relay process is started again.
        let t_up = Instant::now();
        let (p, addr) = start_relay(k + 1)?;
        if addr != relay_addr {
            bail!("the relay came back as {addr}, not {relay_addr}");
        }
        relay_proc = p;
        let mut cells = Vec::new();
        for (_, p) in &attendees {
            let r = p.wait_for("reserved", t_kill, BOUND);
            match r {
                Some((t, _)) => {
                    let d = t.saturating_duration_since(t_up).as_secs_f64();
                    relay_rejoin.push(d);
                    cells.push(format!("{d:.2}"));
                }
                None => {
                    relay_failures += 1;
                    cells.push("no".into());
                }
            }
        }
        // Swaps after the restart: the next partner rounds must swap with the attendees again.
        let wait = Instant::now() + Duration::from_secs(60);
        let after = loop {
            let n = swaps
                .lock()
                .map(|s| {
                    s.iter()
                        .filter(|x| x.at > t_up && x.mutual && ids.contains(&x.target))
                        .count()
                })
                .unwrap_or(0);
            if n >= 3 || Instant::now() > wait {
                break n;
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        relay_rows.push(format!("| {} | {} | {after} |", k + 1, cells.join(" / ")));
        eprintln!("{}", relay_rows.last().map_or("", String::as_str));
    }
    if a.relay_kills > 0 {
        refused_lines.push((
            format!("relay run {}", a.relay_kills),
            refusals(&metrics_addr),
        ));
    }
    stop.store(true, Ordering::Relaxed);
    for p in partners {
        let _ = p.join();
    }
    // Final book check, with Ada's `up` stopped.
    attendees[0].1.kill();
    for (_, v) in attendees[0].1.all("card_received") {
        if let Some(p) = v["peer_id"].as_str() {
            stored.insert(p.to_owned());
        }
    }
    let final_check = check_book(
        &meishi,
        &attendees[0].0,
        &stored,
        &HashSet::new(),
        &mut shown,
    );
    let all = swaps.lock().map(|s| s.len()).unwrap_or(0);
    let mutual_with_ada = swaps
        .lock()
        .map(|s| s.iter().filter(|x| x.target == ada_id && x.mutual).count())
        .unwrap_or(0);
    println!();
    println!(
        "partner runs: {} (`meishi event --swap-all` from fresh homes, {} at a time); swaps \
         reported: {all}, mutual with Ada: {mutual_with_ada}",
        runs.load(Ordering::Relaxed),
        a.partners
    );
    println!();
    println!("| kill | Ada's contacts | half-written | stored but lost | acknowledged but lost | partners acknowledged so far | reserved again (s) | joined again (s) |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!("{r}");
    }
    println!();
    println!(
        "SIGKILLs of `up`: {}; books that did not open: {list_failures}; half-written contacts: {half}; stored-then-lost: {lost_stored}; \
         acknowledged-then-lost: {lost_acked}; restarts that did not reserve and join within {} s: \
         {failed_restarts}; reserved again: median {:.2} s, max {:.2} s; joined again: median \
         {:.2} s, max {:.2} s",
        a.kills,
        BOUND.as_secs(),
        median(&mut rejoin.clone()),
        rejoin.iter().copied().fold(f64::NAN, f64::max),
        median(&mut rejoin_joined.clone()),
        rejoin_joined.iter().copied().fold(f64::NAN, f64::max),
    );
    println!(
        "final book of Ada: {} contacts, {} half-written, {} of {} stored cards missing",
        final_check.contacts,
        final_check.half_written,
        final_check.lost_stored,
        stored.len()
    );
    println!();
    println!("| relay kill | Ada / Bob / Cy reserved again after the restart (s) | mutual swaps with them in the next 60 s |");
    println!("|---:|---|---:|");
    for r in &relay_rows {
        println!("{r}");
    }
    println!();
    println!(
        "SIGKILLs of the relay: {}; attendees that did not re-reserve within {} s: \
         {relay_failures}; re-reserved: median {:.2} s, max {:.2} s after the relay was back",
        a.relay_kills,
        BOUND.as_secs(),
        median(&mut relay_rejoin.clone()),
        relay_rejoin.iter().copied().fold(f64::NAN, f64::max),
    );
    println!();
    println!("relay refusals (nonzero counters, per relay process):");
    println!();
    println!("```");
    for (when, lines) in &refused_lines {
        println!("# {when}");
        for l in lines {
            println!("{l}");
        }
    }
    println!("```");
    drop(attendees);
    drop(relay_proc);
    Ok(())
}
