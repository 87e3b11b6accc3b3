//! A flooder process of the namespace flood (`soak flood-worker`, hidden; [`super::netns`]
//! starts one in each flooder namespace with `ip netns exec`).
//!
//! It floods the relay from the hosts (source addresses of its namespace) it is given, one
//! role per host, prints `{"event":"ready",…}` once a host's peers are set up, and on `stop`
//! (or end of input: its parent is gone) prints one `{"event":"tally",…}` line per host and
//! kind of request, then `{"event":"done"}`. On stdin it also takes `targets PEER ADDR …`, the
//! legitimate attendees the givers go for.

use std::collections::BTreeMap;
use std::fmt;
use std::io::BufRead;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures::StreamExt;
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{Event as Rr, Message};
use libp2p::swarm::SwarmEvent;
use libp2p::{relay, rendezvous, Multiaddr, PeerId, Swarm};
use meishi_event::{BoardErrorCode, BoardRequest, BoardResponse, EventKey};
use serde_json::json;
use tokio::sync::watch;

use super::{
    board_answer, flooder_swarm, giver, random_namespace, Ev, FloodShared, FloodStats, Flooder,
    FlooderEvent, Rng, Tally, CODE, TTL,
};

/// The hidden subcommand.
pub const SUBCOMMAND: &str = "flood-worker";

/// What one flooding host does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Each peer id reserves a relay slot `--reservations` times (renewals count against the
    /// rate limits too), then registers and posts like [`Role::Fill`].
    Reserve,
    /// Each peer id registers in the event's rendezvous namespace and in `others` random ones,
    /// and posts junk to the event's board and to `others` random namespaces; the host's
    /// requests go out at `fill_rate` per second, under the relay's per-host request rate, so
    /// that the stores' caps are what refuses. Then it stays connected.
    Fill,
    /// Each peer id sends cheap requests (a rendezvous discover or a board read of one entry
    /// in an empty random namespace) at `rate` per second, for the request rate caps.
    Rate,
    /// Each peer id asks the relay for circuits to random peer ids at `rate` per second, for
    /// the circuit rate caps.
    Circuits,
    /// `peers` meishi nodes give their card to the legitimate attendees over the relay's
    /// circuits and fetch theirs, each round from a fresh identity, `rate` rounds per second
    /// each (0: as fast as they go).
    Give,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Reserve => "reserve",
            Role::Fill => "fill",
            Role::Rate => "rate",
            Role::Circuits => "circuits",
            Role::Give => "give",
        }
    }
}

/// One flooding host: its role, its address, how many peer ids it uses, and a per-role rate
/// (`reserve`, `fill`: requests per second for the whole host;
/// `rate`, `circuits`: requests per second per peer id; `give`: rounds per second per giver).
/// Written `role,address,peers,rate` on the command line.
#[derive(Clone, Debug)]
pub struct HostSpec {
    pub role: Role,
    pub ip: Ipv4Addr,
    pub peers: usize,
    pub rate: f64,
}

impl fmt::Display for HostSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{},{},{},{}",
            self.role.name(),
            self.ip,
            self.peers,
            self.rate
        )
    }
}

impl FromStr for HostSpec {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        let p: Vec<&str> = s.split(',').collect();
        let [role, ip, peers, rate] = p[..] else {
            bail!("a host is role,address,peers,rate: {s}");
        };
        let role = match role {
            "reserve" => Role::Reserve,
            "fill" => Role::Fill,
            "rate" => Role::Rate,
            "circuits" => Role::Circuits,
            "give" => Role::Give,
            _ => bail!("unknown role {role}"),
        };
        Ok(HostSpec {
            role,
            ip: ip.parse()?,
            peers: peers.parse()?,
            rate: rate.parse()?,
        })
    }
}

/// Counts by (host, kind of request): sent, answered ok, refused by the relay (or by the
/// attendee, for gives), no answer.
#[derive(Default)]
struct Counts(Mutex<BTreeMap<(String, &'static str), [u64; 4]>>);

impl Counts {
    fn add(&self, host: &str, kind: &'static str, r: Option<bool>) {
        if let Ok(mut m) = self.0.lock() {
            let c = m.entry((host.to_owned(), kind)).or_default();
            c[0] += 1;
            c[match r {
                Some(true) => 1,
                Some(false) => 2,
                None => 3,
            }] += 1;
        }
    }
}

/// Hands out send slots `gap` apart: one host's requests at a fixed rate, whatever its peers do.
struct Pacer {
    gap: Duration,
    next: Mutex<tokio::time::Instant>,
}

impl Pacer {
    fn new(per_sec: f64) -> Self {
        Pacer {
            gap: Duration::from_secs_f64(1.0 / per_sec.max(0.1)),
            next: Mutex::new(tokio::time::Instant::now()),
        }
    }
    async fn wait(&self) {
        let at = match self.next.lock() {
            Ok(mut n) => {
                let at = (*n).max(tokio::time::Instant::now());
                *n = at + self.gap;
                at
            }
            Err(_) => return,
        };
        tokio::time::sleep_until(at).await;
    }
}

/// What every peer of one worker shares.
struct Work {
    relay: Multiaddr,
    relay_id: PeerId,
    ev: EventKey,
    ns: rendezvous::Namespace,
    /// Random namespaces each fill peer registers and posts in, besides the event's.
    others: usize,
    /// Reservations each reserving peer asks for.
    reservations: usize,
    counts: Counts,
}

/// One host of this worker, while it runs.
struct Host {
    spec: HostSpec,
    label: String,
    pacer: Pacer,
    /// Peers done with their setup (connected, reserved, registered, posted, or given up).
    done: AtomicUsize,
    started: Instant,
}

impl Host {
    /// Marks one peer set up; says so on stdout when it was the host's last.
    fn peer_done(&self) {
        if self.done.fetch_add(1, Ordering::Relaxed) + 1 == self.spec.peers {
            ready(self);
        }
    }
}

fn ready(h: &Host) {
    println!(
        "{}",
        json!({
            "event": "ready",
            "host": h.label,
            "role": h.spec.role.name(),
            "secs": h.started.elapsed().as_secs_f64(),
        })
    );
}

/// The outcome of driving a flooder's swarm until an event of interest.
enum Until<T> {
    Got(T),
    /// The last connection to the relay closed (the relay refused or dropped it).
    Gone,
    /// Nothing within 30 s, or told to stop.
    Timeout,
}

impl<T> Until<T> {
    fn ok(self) -> Option<T> {
        match self {
            Until::Got(t) => Some(t),
            Until::Gone | Until::Timeout => None,
        }
    }
}

async fn until<T>(
    s: &mut Swarm<Flooder>,
    stop: &mut watch::Receiver<bool>,
    relay_id: PeerId,
    mut f: impl FnMut(&Ev) -> Option<T>,
) -> Until<T> {
    let wait = async {
        loop {
            let e = s.select_next_some().await;
            if let Some(t) = f(&e) {
                return Until::Got(t);
            }
            if let SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } = e
            {
                if peer_id == relay_id {
                    return Until::Gone;
                }
            }
        }
    };
    tokio::select! {
        r = tokio::time::timeout(Duration::from_secs(30), wait) => r.unwrap_or(Until::Timeout),
        _ = stop.wait_for(|s| *s) => Until::Timeout,
    }
}

/// Dials the relay and waits for the connection, three times at most (a handshake can time
/// out when the relay is busy): `Some(true)` connected, `Some(false)` connected but closed at
/// once by the relay (its per-host connection cap), `None` no connection.
async fn connect(
    w: &Work,
    s: &mut Swarm<Flooder>,
    stop: &mut watch::Receiver<bool>,
) -> Option<bool> {
    for attempt in 0..3 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        if s.dial(w.relay.clone()).is_err() {
            continue;
        }
        let up = until(s, stop, w.relay_id, |e| match e {
            SwarmEvent::ConnectionEstablished { peer_id, .. } if *peer_id == w.relay_id => {
                Some(true)
            }
            SwarmEvent::OutgoingConnectionError { .. } => Some(false),
            _ => None,
        })
        .await;
        if !matches!(up, Until::Got(true)) {
            continue;
        }
        // A connection the relay refuses is closed right after the handshake.
        let closed = tokio::time::timeout(
            Duration::from_millis(500),
            until(s, stop, w.relay_id, |_| None::<()>),
        )
        .await;
        return match closed {
            Ok(Until::Gone) => Some(false),
            _ => Some(s.is_connected(&w.relay_id)),
        };
    }
    None
}

async fn register(
    w: &Work,
    h: &Host,
    s: &mut Swarm<Flooder>,
    stop: &mut watch::Receiver<bool>,
    ns: rendezvous::Namespace,
    kind: &'static str,
) {
    h.pacer.wait().await;
    if s.behaviour_mut()
        .rendezvous
        .register(ns, w.relay_id, Some(TTL.into()))
        .is_err()
    {
        w.counts.add(&h.label, kind, None);
        return;
    }
    let r = until(s, stop, w.relay_id, |e| match e {
        SwarmEvent::Behaviour(FlooderEvent::Rendezvous(
            rendezvous::client::Event::Registered { .. },
        )) => Some(true),
        SwarmEvent::Behaviour(FlooderEvent::Rendezvous(
            rendezvous::client::Event::RegisterFailed { .. },
        )) => Some(false),
        _ => None,
    })
    .await;
    w.counts.add(&h.label, kind, r.ok());
}

async fn post(
    w: &Work,
    h: &Host,
    s: &mut Swarm<Flooder>,
    stop: &mut watch::Receiver<bool>,
    namespace: String,
    sealed: Vec<u8>,
    kind: &'static str,
) {
    h.pacer.wait().await;
    s.behaviour_mut().board.send_request(
        &w.relay_id,
        BoardRequest::Put {
            namespace,
            ttl: TTL,
            sealed,
        },
    );
    let r = until(s, stop, w.relay_id, |e| match e {
        SwarmEvent::Behaviour(FlooderEvent::Board(Rr::Message {
            message: Message::Response { response, .. },
            ..
        })) => Some(Some(matches!(response, BoardResponse::Stored { .. }))),
        SwarmEvent::Behaviour(FlooderEvent::Board(Rr::OutboundFailure { .. })) => Some(None),
        _ => None,
    })
    .await;
    w.counts.add(&h.label, kind, r.ok().flatten());
}

/// Keeps a peer's connection (and with it its registrations and posts) alive after its setup:
/// a cheap request every 30-40 s, inside the host's pace.
async fn stay(w: &Work, h: &Host, s: &mut Swarm<Flooder>, stop: &mut watch::Receiver<bool>) {
    let mut rng = Rng::new();
    loop {
        let pause = tokio::time::sleep(rng.secs(30.0, 40.0));
        tokio::pin!(pause);
        loop {
            tokio::select! {
                _ = &mut pause => break,
                _ = stop.wait_for(|s| *s) => return,
                _ = s.select_next_some() => {}
            }
        }
        h.pacer.wait().await;
        if let Ok(ns) = rendezvous::Namespace::new(random_namespace(&mut rng)) {
            s.behaviour_mut()
                .rendezvous
                .discover(Some(ns), None, Some(1), w.relay_id);
        }
    }
}

/// A `reserve` or `fill` peer: connect, reserve (`reserve` only), register and post in the
/// event and in `others` random namespaces, then stay connected.
async fn fill_peer(w: Arc<Work>, h: Arc<Host>, seed: u64, mut stop: watch::Receiver<bool>) {
    let mut rng = Rng(seed | 1);
    let Ok(mut s) = flooder_swarm(IpAddr::V4(h.spec.ip)) else {
        w.counts.add(&h.label, "connection", None);
        h.peer_done();
        return;
    };
    let up = connect(&w, &mut s, &mut stop).await;
    if up != Some(true) {
        w.counts.add(&h.label, "connection", up);
        h.peer_done();
        return;
    }
    let circuit = w.relay.clone().with(Protocol::P2pCircuit);
    if h.spec.role == Role::Reserve {
        for _ in 0..w.reservations.max(1) {
            let Ok(id) = s.listen_on(circuit.clone()) else {
                w.counts.add(&h.label, "reservation", None);
                continue;
            };
            let r = until(&mut s, &mut stop, w.relay_id, |e| match e {
                SwarmEvent::Behaviour(FlooderEvent::Relay(
                    relay::client::Event::ReservationReqAccepted { .. },
                )) => Some(true),
                SwarmEvent::ListenerClosed {
                    listener_id,
                    reason,
                    ..
                } if *listener_id == id => Some(reason.is_ok()),
                _ => None,
            })
            .await;
            w.counts.add(&h.label, "reservation", r.ok());
        }
    }
    // Rendezvous registers only a peer with an address to give out.
    s.add_external_address(circuit.with(Protocol::P2p(*s.local_peer_id())));
    register(&w, &h, &mut s, &mut stop, w.ns.clone(), "register (event)").await;
    let junk = format!("not a teaser from {}", s.local_peer_id());
    if let Ok(sealed) = w.ev.seal(junk.as_bytes()) {
        post(
            &w,
            &h,
            &mut s,
            &mut stop,
            w.ev.namespace().into(),
            sealed,
            "post (event)",
        )
        .await;
    }
    for _ in 0..w.others {
        let other = random_namespace(&mut rng);
        if let Ok(ns) = rendezvous::Namespace::new(other.clone()) {
            register(&w, &h, &mut s, &mut stop, ns, "register (other)").await;
        }
        let mut blob = vec![1u8; 200];
        for b in blob.iter_mut().skip(1) {
            *b = rng.next() as u8;
        }
        post(&w, &h, &mut s, &mut stop, other, blob, "post (other)").await;
    }
    // Still connected after all that: the relay kept the connection (its per-host cap closes
    // one right after the handshake, which `connect` may not have seen yet).
    let kept = s.is_connected(&w.relay_id);
    w.counts.add(&h.label, "connection", Some(kept));
    h.peer_done();
    stay(&w, &h, &mut s, &mut stop).await;
}

/// A `rate` peer: cheap requests at the host's per-peer rate, not waiting for the answers.
async fn rate_peer(w: Arc<Work>, h: Arc<Host>, seed: u64, mut stop: watch::Receiver<bool>) {
    let mut rng = Rng(seed | 1);
    let Ok(mut s) = flooder_swarm(IpAddr::V4(h.spec.ip)) else {
        w.counts.add(&h.label, "connection", None);
        h.peer_done();
        return;
    };
    let up = connect(&w, &mut s, &mut stop).await;
    w.counts.add(&h.label, "connection", up);
    h.peer_done();
    if up != Some(true) {
        return;
    }
    let period = Duration::from_secs_f64(1.0 / h.spec.rate.max(0.1));
    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::now() + rng.secs(0.0, period.as_secs_f64()),
        period,
    );
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut n = 0u64;
    // Requests in flight, bounded by the relay's streams per connection.
    let mut pending = 0usize;
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tick.tick() => {
                if pending >= 8 {
                    continue;
                }
                n += 1;
                let ns = random_namespace(&mut rng);
                if n.is_multiple_of(2) {
                    if let Ok(ns) = rendezvous::Namespace::new(ns) {
                        s.behaviour_mut().rendezvous.discover(Some(ns), None, Some(1), w.relay_id);
                        pending += 1;
                    }
                } else {
                    s.behaviour_mut().board.send_request(
                        &w.relay_id,
                        BoardRequest::Get { namespace: ns, cursor: 0, limit: 1 },
                    );
                    pending += 1;
                }
            }
            e = s.select_next_some() => {
                let (kind, r) = match e {
                    SwarmEvent::Behaviour(FlooderEvent::Rendezvous(
                        rendezvous::client::Event::Discovered { .. },
                    )) => ("discover (empty)", Some(true)),
                    SwarmEvent::Behaviour(FlooderEvent::Rendezvous(
                        rendezvous::client::Event::DiscoverFailed { .. },
                    )) => ("discover (empty)", Some(false)),
                    e => match board_answer(e) {
                        Some(Some(BoardResponse::Error(BoardErrorCode::RateLimited))) => {
                            ("board read (empty)", Some(false))
                        }
                        Some(Some(_)) => ("board read (empty)", Some(true)),
                        Some(None) => ("board read (empty)", None),
                        None => continue,
                    },
                };
                pending = pending.saturating_sub(1);
                w.counts.add(&h.label, kind, r);
            }
        }
    }
}

/// A `circuits` peer: circuit requests to random peer ids (that hold no reservation) at the
/// host's per-peer rate. The relay applies its circuit rate limits before it looks for the
/// destination, so "no reservation" means the request passed the caps.
async fn circuit_peer(w: Arc<Work>, h: Arc<Host>, seed: u64, mut stop: watch::Receiver<bool>) {
    let mut rng = Rng(seed | 1);
    let Ok(mut s) = flooder_swarm(IpAddr::V4(h.spec.ip)) else {
        w.counts.add(&h.label, "connection", None);
        h.peer_done();
        return;
    };
    let up = connect(&w, &mut s, &mut stop).await;
    w.counts.add(&h.label, "connection", up);
    h.peer_done();
    if up != Some(true) {
        return;
    }
    let period = Duration::from_secs_f64(1.0 / h.spec.rate.max(0.1));
    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::now() + rng.secs(0.0, period.as_secs_f64()),
        period,
    );
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut pending = 0usize;
    // Failures other than the relay's answers, shown in the log (a few).
    let mut unknown = 0;
    let circuit = w.relay.clone().with(Protocol::P2pCircuit);
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tick.tick() => {
                if pending >= 16 {
                    continue;
                }
                let dst = PeerId::random();
                if s.dial(circuit.clone().with(Protocol::P2p(dst))).is_ok() {
                    pending += 1;
                } else {
                    w.counts.add(&h.label, "circuit to a random peer", None);
                }
            }
            e = s.select_next_some() => match e {
                SwarmEvent::OutgoingConnectionError { peer_id, error, .. }
                    if peer_id != Some(w.relay_id) =>
                {
                    pending = pending.saturating_sub(1);
                    let text = format!("{error:?}");
                    let r = if text.contains("ResourceLimitExceeded") {
                        Some(false)
                    } else if text.contains("NoReservation") {
                        Some(true)
                    } else {
                        if unknown < 5 {
                            unknown += 1;
                            eprintln!("{}: circuit request failed: {text}", h.label);
                        }
                        None
                    };
                    w.counts.add(&h.label, "circuit to a random peer", r);
                }
                SwarmEvent::ConnectionEstablished { peer_id, .. } if peer_id != w.relay_id => {
                    pending = pending.saturating_sub(1);
                    w.counts.add(&h.label, "circuit to a random peer", Some(true));
                }
                _ => {}
            },
        }
    }
}

/// Runs the hosts until `stop` (or end of input), then prints the counts.
pub fn main(args: &[String]) -> Result<()> {
    let mut relay: Option<Multiaddr> = None;
    let mut hosts: Vec<HostSpec> = Vec::new();
    let mut others = 2;
    let mut reservations = 1;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut val = || it.next().context("a flag without its value");
        match flag.as_str() {
            "--relay" => relay = Some(val()?.parse()?),
            "--host" => hosts.push(val()?.parse()?),
            "--others" => others = val()?.parse()?,
            "--reservations" => reservations = val()?.parse()?,
            _ => bail!("{SUBCOMMAND}: unknown argument {flag}"),
        }
    }
    let relay = relay.context("--relay is required")?;
    let Some(Protocol::P2p(relay_id)) = relay.iter().last() else {
        bail!("the relay address must end with /p2p/PEER");
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(run(relay, relay_id, hosts, (others, reservations)))?;
    rt.shutdown_timeout(Duration::from_secs(3));
    Ok(())
}

async fn run(
    relay: Multiaddr,
    relay_id: PeerId,
    hosts: Vec<HostSpec>,
    (others, reservations): (usize, usize),
) -> Result<()> {
    let ev = EventKey::derive(CODE)?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let (targets_tx, targets_rx) = watch::channel(Vec::<(PeerId, Multiaddr)>::new());
    // stdin: `targets PEER ADDR …`, `stop`; its end (the parent is gone) stops too.
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            let mut words = line.split_whitespace();
            match words.next() {
                Some("stop") => break,
                Some("targets") => {
                    let w: Vec<&str> = words.collect();
                    let list = w
                        .chunks(2)
                        .filter_map(|c| Some((c.first()?.parse().ok()?, c.get(1)?.parse().ok()?)))
                        .collect();
                    targets_tx.send_replace(list);
                }
                _ => {}
            }
        }
        let _ = stop_tx.send(true);
    });
    let w = Arc::new(Work {
        ns: rendezvous::Namespace::new(ev.namespace().to_owned())?,
        ev: ev.clone(),
        relay: relay.clone(),
        relay_id,
        others,
        reservations,
        counts: Counts::default(),
    });
    let giving = Arc::new(FloodShared {
        ns: w.ns.clone(),
        ev,
        relay,
        relay_id,
        interval: Duration::from_secs(1),
        give_gap: hosts
            .iter()
            .find(|h| h.role == Role::Give && h.rate > 0.0)
            .map_or(Duration::ZERO, |h| Duration::from_secs_f64(1.0 / h.rate)),
        stats: FloodStats::default(),
    });
    let mut rng = Rng::new();
    let mut tasks = Vec::new();
    let mut give_label = None;
    for spec in hosts {
        let h = Arc::new(Host {
            label: spec.ip.to_string(),
            pacer: Pacer::new(spec.rate),
            done: AtomicUsize::new(0),
            started: Instant::now(),
            spec,
        });
        if h.spec.role == Role::Give {
            give_label = Some(h.label.clone());
            for _ in 0..h.spec.peers {
                tasks.push(tokio::spawn(giver(
                    giving.clone(),
                    targets_rx.clone(),
                    stop_rx.clone(),
                )));
            }
            ready(&h);
            continue;
        }
        for i in 0..h.spec.peers {
            let (w, h2, seed, stop) = (w.clone(), h.clone(), rng.next(), stop_rx.clone());
            tasks.push(match h.spec.role {
                Role::Reserve | Role::Fill => tokio::spawn(fill_peer(w, h2, seed, stop)),
                Role::Rate => tokio::spawn(rate_peer(w, h2, seed, stop)),
                Role::Circuits | Role::Give => tokio::spawn(circuit_peer(w, h2, seed, stop)),
            });
            // Handshakes in batches: the relay's pending-connection cap is not the test.
            if i % 100 == 99 {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    let mut stop = stop_rx.clone();
    let _ = stop.wait_for(|s| *s).await;
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(20), t).await;
    }
    let tally = |host: &str, kind: &str, c: [u64; 4]| {
        println!(
            "{}",
            json!({
                "event": "tally", "host": host, "kind": kind,
                "sent": c[0], "ok": c[1], "refused": c[2], "no_answer": c[3],
            })
        );
    };
    if let Ok(m) = w.counts.0.lock() {
        for ((host, kind), c) in m.iter() {
            tally(host, kind, *c);
        }
    }
    if let Some(host) = give_label {
        let s = &giving.stats;
        let g =
            |t: &Tally| [&t.sent, &t.ok, &t.refused, &t.failed].map(|c| c.load(Ordering::Relaxed));
        tally(&host, "give to a legit attendee", g(&s.give));
        tally(&host, "fetch from a legit attendee", g(&s.fetch));
        if let Ok(m) = s.give_outcomes.lock() {
            println!(
                "{}",
                json!({"event": "give_outcomes", "host": host, "outcomes": *m})
            );
        }
    }
    println!("{}", json!({"event": "done"}));
    Ok(())
}
