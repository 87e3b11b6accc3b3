//! One simulated attendee, as `meishi up --event` behaves towards relays: with one relay it
//! reserves, registers and posts there and reads the board from it (and DISCOVERs, with
//! `--discover on`); with several
//! (a fleet) it ranks them ([`meishi_event::shard::rank`]), reserves and registers on its
//! [`HOME_RELAYS`] home relays, posts its teaser to those (or with `--post all` to every relay)
//! and reads the board from its
//! primary (the first home) only. It posts and registers again every refresh interval, and
//! leaves a connection it does not need to close when idle, as the node does.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use libp2p::core::transport::ListenerId;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::SwarmEvent;
use libp2p::{relay, rendezvous, request_response, PeerId, Swarm};
use meishi_event::shard::{self, HOME_RELAYS};
use meishi_event::{BoardRequest, BoardResponse, EventKey};
use tokio::sync::{watch, Semaphore};

use crate::client::{self, Client, ClientEvent};
use crate::spawn::Target;

/// TTL of teasers and registrations by default: the node's (refreshed after half of it).
pub const TTL: u32 = 300;
const PAGE: u16 = meishi_event::MAX_BOARD_PAGE;

/// Kinds of operation, for counting failures.
#[derive(Debug, Clone, Copy)]
pub enum Op {
    Dial,
    Reserve,
    Register,
    Put,
    Get,
    Discover,
}

/// A board read refused with "rate limited" (not a failure: the next poll reads on).
pub const LIMITED: usize = 6;

pub const OPS: [(Op, &str); 6] = [
    (Op::Dial, "dial"),
    (Op::Reserve, "reserve"),
    (Op::Register, "register"),
    (Op::Put, "put"),
    (Op::Get, "get"),
    (Op::Discover, "discover"),
];

/// Which relays of a fleet an attendee posts its teaser to (`--post`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostTo {
    /// Its home relays only, which copy it to the others: what a node does when the join
    /// URI says `fleet=1` (proto-spec/relay.md#sharding). The default.
    Home,
    /// Every relay, every time: what a node does when the join URI does not say so, and
    /// what every node did before join URIs could say `fleet=1` (2026-11-30).
    All,
}

impl PostTo {
    pub fn parse(v: &str) -> Option<Self> {
        match v {
            "home" => Some(Self::Home),
            "all" => Some(Self::All),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Home => "home",
            Self::All => "all",
        }
    }
}

/// What every attendee shares: the event, the relays, the schedule and the counters.
pub struct Shared {
    pub ev: EventKey,
    pub ns: rendezvous::Namespace,
    pub relays: Vec<Target>,
    pub n: usize,
    pub poll: Duration,
    /// TTL of teasers and registrations, and how often they are posted again.
    pub ttl: u32,
    pub refresh: Duration,
    pub idle: Duration,
    pub teaser_bytes: usize,
    /// Seal anew for every post instead of once.
    pub reseal: bool,
    /// Which relays of a fleet a post goes to.
    pub post: PostTo,
    /// Ping every connection at this interval, as nodes do (`--ping`).
    pub ping: Option<Duration>,
    /// DISCOVER at every poll too (`--discover on`, one relay only).
    pub discover: bool,
    pub t0: Instant,
    /// Attendees joining or polling at once.
    pub gate: Semaphore,
    /// Failed operations per relay and kind ([`OPS`] order), and board reads rate limited
    /// ([`LIMITED`]).
    pub failed: Vec<[AtomicUsize; 7]>,
    /// Attendees joined.
    pub joined: AtomicUsize,
    pub requests: AtomicUsize,
    /// Board entries read, all attendees together (an entry listed again is read again).
    pub entries_read: AtomicUsize,
    /// Attendees that have seen every attendee.
    pub complete: AtomicUsize,
}

impl Shared {
    pub fn fleet(&self) -> bool {
        self.relays.len() > 1
    }

    fn fail(&self, relay: usize, op: Op) {
        self.failed[relay][op as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// A sealed teaser of `teaser_bytes` (by default the length of the reference card's signed
    /// teaser with two relay hints).
    pub fn sealed_teaser(&self, label: &str) -> Option<Vec<u8>> {
        let mut t = label.as_bytes().to_vec();
        t.resize(self.teaser_bytes.max(t.len()), b'.');
        self.ev.seal(&t).ok()
    }
}

/// What one attendee went through.
pub struct Outcome {
    pub joined: Option<Duration>,
    pub complete: Option<Duration>,
    pub seen: usize,
    pub seen_discover: usize,
    /// Relays it holds a reservation on at the end, as the client sees it.
    pub reserved: Vec<usize>,
    /// Relays it has a connection to at the end.
    pub connected: Vec<usize>,
    /// Kept open until the report is made.
    pub swarm: Option<Swarm<Client>>,
}

struct Attendee {
    sh: Arc<Shared>,
    s: Swarm<Client>,
    me: PeerId,
    /// My attendee number, which my teaser carries.
    number: u32,
    homes: Vec<usize>,
    primary: usize,
    /// Reservation listeners still open, by relay.
    listeners: HashMap<ListenerId, usize>,
    cursor: u64,
    cookie: Option<rendezvous::Cookie>,
    /// Attendees seen on the board, by the number their teaser carries (10,000 sets of
    /// 10,000 peer ids would take gigabytes).
    board: Seen,
    found: HashSet<PeerId>,
    /// My sealed teaser, posted again unchanged at every refresh as the node does (a relay
    /// extends the same bytes in place instead of listing them to every reader again).
    sealed: Option<Vec<u8>>,
}

/// A set of attendee numbers.
struct Seen {
    bits: Vec<u64>,
    len: usize,
}

impl Seen {
    fn new(n: usize) -> Self {
        Self {
            bits: vec![0; n.div_ceil(64)],
            len: 0,
        }
    }

    fn insert(&mut self, i: u32) {
        let (w, b) = (i as usize / 64, 1u64 << (i % 64));
        if let Some(word) = self.bits.get_mut(w) {
            if *word & b == 0 {
                *word |= b;
                self.len += 1;
            }
        }
    }
}

/// The attendee number a teaser opened by [`Attendee::post`] carries.
fn number(teaser: &[u8]) -> Option<u32> {
    let rest = teaser.strip_prefix(b"attendee ")?;
    let end = rest.iter().position(|b| *b == b' ')?;
    std::str::from_utf8(&rest[..end]).ok()?.parse().ok()
}

/// Forgets a reservation whose listener closed.
fn note(listeners: &mut HashMap<ListenerId, usize>, ev: &client::Ev) {
    if let SwarmEvent::ListenerClosed { listener_id, .. } = ev {
        listeners.remove(listener_id);
    }
}

impl Attendee {
    fn index_of(&self, peer: &PeerId) -> Option<usize> {
        self.sh.relays.iter().position(|r| r.id == *peer)
    }

    /// Connects to each of `relays` it is not connected to; the ones connected after.
    async fn connect(&mut self, relays: &[usize]) -> Vec<usize> {
        let mut waiting = HashSet::new();
        for &i in relays {
            let r = &self.sh.relays[i];
            if self.s.is_connected(&r.id) {
                continue;
            }
            let opts = DialOpts::peer_id(r.id)
                .addresses(vec![r.addr.clone()])
                .condition(PeerCondition::DisconnectedAndNotDialing)
                .build();
            match self.s.dial(opts) {
                Ok(()) => {
                    waiting.insert(r.id);
                }
                Err(_) => self.sh.fail(i, Op::Dial),
            }
        }
        let sh = self.sh.clone();
        let listeners = &mut self.listeners;
        if !waiting.is_empty() {
            let done = client::next(&mut self.s, |ev| {
                note(listeners, &ev);
                match ev {
                    SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                        waiting.remove(&peer_id);
                    }
                    SwarmEvent::OutgoingConnectionError {
                        peer_id: Some(p), ..
                    } if waiting.remove(&p) => {
                        if let Some(i) = sh.relays.iter().position(|r| r.id == p) {
                            sh.fail(i, Op::Dial);
                        }
                    }
                    _ => {}
                }
                waiting.is_empty().then_some(())
            })
            .await;
            if done.is_none() {
                for p in &waiting {
                    if let Some(i) = self.index_of(p) {
                        self.sh.fail(i, Op::Dial);
                    }
                }
            }
        }
        relays
            .iter()
            .copied()
            .filter(|&i| self.s.is_connected(&self.sh.relays[i].id))
            .collect()
    }

    /// Reserves a slot on each home relay (listens on `<relay>/p2p-circuit`).
    async fn reserve(&mut self, homes: &[usize]) {
        let mut waiting: HashMap<ListenerId, usize> = HashMap::new();
        for &i in homes {
            let circuit = self.sh.relays[i].addr.clone().with(Protocol::P2pCircuit);
            match self.s.listen_on(circuit) {
                Ok(id) => {
                    waiting.insert(id, i);
                    self.listeners.insert(id, i);
                }
                Err(_) => self.sh.fail(i, Op::Reserve),
            }
        }
        let sh = self.sh.clone();
        let by_id: HashMap<PeerId, usize> = waiting
            .values()
            .map(|&i| (self.sh.relays[i].id, i))
            .collect();
        let mut pending: HashSet<usize> = waiting.values().copied().collect();
        let mut accepted = Vec::new();
        let listeners = &mut self.listeners;
        let _ = client::next(&mut self.s, |ev| {
            match &ev {
                SwarmEvent::Behaviour(ClientEvent::Relay(
                    relay::client::Event::ReservationReqAccepted { relay_peer_id, .. },
                )) => {
                    if let Some(&i) = by_id.get(relay_peer_id) {
                        if pending.remove(&i) {
                            accepted.push(i);
                        }
                    }
                }
                SwarmEvent::ListenerClosed { listener_id, .. } => {
                    if let Some(i) = waiting.get(listener_id) {
                        pending.remove(i);
                    }
                }
                _ => {}
            }
            note(listeners, &ev);
            pending.is_empty().then_some(())
        })
        .await;
        for &i in homes {
            if !accepted.contains(&i) {
                sh.fail(i, Op::Reserve);
            }
        }
        for i in accepted {
            let circuit = self.sh.relays[i]
                .addr
                .clone()
                .with(Protocol::P2pCircuit)
                .with(Protocol::P2p(self.me));
            self.s.add_external_address(circuit);
        }
    }

    /// Registers under the event on each of `relays` (those it holds a reservation on).
    async fn register(&mut self, relays: &[usize]) {
        let mut pending = HashSet::new();
        for &i in relays {
            let id = self.sh.relays[i].id;
            self.sh.requests.fetch_add(1, Ordering::Relaxed);
            match self.s.behaviour_mut().rendezvous.register(
                self.sh.ns.clone(),
                id,
                Some(self.sh.ttl.into()),
            ) {
                Ok(()) => {
                    pending.insert(id);
                }
                Err(_) => self.sh.fail(i, Op::Register),
            }
        }
        if pending.is_empty() {
            return;
        }
        let sh = self.sh.clone();
        let listeners = &mut self.listeners;
        let done = client::next(&mut self.s, |ev| {
            note(listeners, &ev);
            match ev {
                SwarmEvent::Behaviour(ClientEvent::Rendezvous(
                    rendezvous::client::Event::Registered {
                        rendezvous_node, ..
                    },
                )) => {
                    pending.remove(&rendezvous_node);
                }
                SwarmEvent::Behaviour(ClientEvent::Rendezvous(
                    rendezvous::client::Event::RegisterFailed {
                        rendezvous_node, ..
                    },
                )) if pending.remove(&rendezvous_node) => {
                    if let Some(i) = sh.relays.iter().position(|r| r.id == rendezvous_node) {
                        sh.fail(i, Op::Register);
                    }
                }
                _ => {}
            }
            pending.is_empty().then_some(())
        })
        .await;
        if done.is_none() {
            for p in &pending {
                if let Some(i) = self.index_of(p) {
                    self.sh.fail(i, Op::Register);
                }
            }
        }
    }

    /// Posts the sealed teaser to the home relays, or to every relay, as `--post` says
    /// (connecting first where needed).
    async fn post(&mut self) {
        let to: Vec<usize> = match self.sh.post {
            PostTo::Home => self.homes.clone(),
            PostTo::All => (0..self.sh.relays.len()).collect(),
        };
        let up = self.connect(&to).await;
        if self.sealed.is_none() || self.sh.reseal {
            let label = format!("attendee {} {}", self.number, self.me);
            self.sealed = self.sh.sealed_teaser(&label);
        }
        let Some(sealed) = self.sealed.clone() else {
            for &i in &up {
                self.sh.fail(i, Op::Put);
            }
            return;
        };
        let mut pending: HashMap<request_response::OutboundRequestId, usize> = HashMap::new();
        for i in up {
            self.sh.requests.fetch_add(1, Ordering::Relaxed);
            let id = self.s.behaviour_mut().board.send_request(
                &self.sh.relays[i].id,
                BoardRequest::Put {
                    namespace: self.sh.ev.namespace().into(),
                    ttl: self.sh.ttl,
                    sealed: sealed.clone(),
                },
            );
            pending.insert(id, i);
        }
        let sh = self.sh.clone();
        let listeners = &mut self.listeners;
        let _ = client::next(&mut self.s, |ev| {
            note(listeners, &ev);
            match ev {
                SwarmEvent::Behaviour(ClientEvent::Board(request_response::Event::Message {
                    message:
                        request_response::Message::Response {
                            request_id,
                            response,
                        },
                    ..
                })) => {
                    if let Some(i) = pending.remove(&request_id) {
                        if !matches!(response, BoardResponse::Stored { .. }) {
                            sh.fail(i, Op::Put);
                        }
                    }
                }
                SwarmEvent::Behaviour(ClientEvent::Board(
                    request_response::Event::OutboundFailure { request_id, .. },
                )) => {
                    if let Some(i) = pending.remove(&request_id) {
                        sh.fail(i, Op::Put);
                    }
                }
                _ => {}
            }
            pending.is_empty().then_some(())
        })
        .await;
        for i in pending.into_values() {
            sh.fail(i, Op::Put);
        }
    }

    /// Reads the primary's board from the cursor, following full pages; a failed request
    /// counts once and ends the read (the next poll resumes from the cursor).
    async fn read_board(&mut self) {
        let relay = self.sh.relays[self.primary].id;
        loop {
            self.sh.requests.fetch_add(1, Ordering::Relaxed);
            self.s.behaviour_mut().board.send_request(
                &relay,
                BoardRequest::Get {
                    namespace: self.sh.ev.namespace().into(),
                    cursor: self.cursor,
                    limit: PAGE,
                },
            );
            let listeners = &mut self.listeners;
            let page = client::next(&mut self.s, |ev| {
                note(listeners, &ev);
                match ev {
                    SwarmEvent::Behaviour(ClientEvent::Board(
                        request_response::Event::Message {
                            message: request_response::Message::Response { response, .. },
                            ..
                        },
                    )) => Some(Some(response)),
                    SwarmEvent::Behaviour(ClientEvent::Board(
                        request_response::Event::OutboundFailure { .. },
                    )) => Some(None),
                    _ => None,
                }
            })
            .await
            .flatten();
            match page {
                Some(BoardResponse::Entries {
                    entries,
                    cursor,
                    more,
                }) => {
                    self.sh
                        .entries_read
                        .fetch_add(entries.len(), Ordering::Relaxed);
                    for e in entries {
                        // Teasers that are not an attendee's (the lag writer's) are skipped.
                        if let Some(i) = self.sh.ev.open(e.sealed()).ok().and_then(|t| number(&t)) {
                            self.board.insert(i);
                        }
                    }
                    self.cursor = cursor;
                    if !more {
                        return;
                    }
                }
                Some(BoardResponse::Error(meishi_event::BoardErrorCode::RateLimited)) => {
                    self.sh.failed[self.primary][LIMITED].fetch_add(1, Ordering::Relaxed);
                    return;
                }
                _ => {
                    self.sh.fail(self.primary, Op::Get);
                    return;
                }
            }
        }
    }

    /// DISCOVER from the cookie, following full pages (with one relay only).
    async fn discover(&mut self) {
        let relay = self.sh.relays[self.primary].id;
        loop {
            self.sh.requests.fetch_add(1, Ordering::Relaxed);
            self.s.behaviour_mut().rendezvous.discover(
                Some(self.sh.ns.clone()),
                self.cookie.clone(),
                Some(PAGE.into()),
                relay,
            );
            let listeners = &mut self.listeners;
            let got = client::next(&mut self.s, |ev| {
                note(listeners, &ev);
                match ev {
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
                }
            })
            .await
            .flatten();
            match got {
                Some((regs, c)) => {
                    let k = regs.len();
                    self.found.extend(regs.iter().map(|r| r.record.peer_id()));
                    self.cookie = Some(c);
                    if k < usize::from(PAGE) {
                        return;
                    }
                }
                None => {
                    self.sh.fail(self.primary, Op::Discover);
                    return;
                }
            }
        }
    }

    /// Reservations, registrations and the teaser, as at the start and every refresh.
    async fn join(&mut self, reserve: bool) {
        let homes = self.homes.clone();
        let up = self.connect(&homes).await;
        if reserve {
            self.reserve(&up).await;
        }
        let held: Vec<usize> = {
            let mut v: Vec<usize> = self.listeners.values().copied().collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        self.register(&held).await;
        self.post().await;
    }

    fn complete(&self) -> bool {
        self.board.len >= self.sh.n && (!self.sh.discover || self.found.len() >= self.sh.n)
    }
}

/// Runs attendee `number` (of `Shared::n`, from 0) from `src` until `stop`.
pub async fn run(
    sh: Arc<Shared>,
    number: u32,
    src: IpAddr,
    mut stop: watch::Receiver<bool>,
) -> Outcome {
    let mut out = Outcome {
        joined: None,
        complete: None,
        seen: 0,
        seen_discover: 0,
        reserved: Vec::new(),
        connected: Vec::new(),
        swarm: None,
    };
    let Ok(s) = client::swarm(src, sh.idle, sh.ping) else {
        sh.fail(0, Op::Dial);
        return out;
    };
    let me = *s.local_peer_id();
    let order = if sh.fleet() {
        let ids: Vec<Vec<u8>> = sh.relays.iter().map(|r| r.id.to_bytes()).collect();
        shard::rank(&me.to_bytes(), &ids)
    } else {
        vec![0]
    };
    let homes: Vec<usize> = order.iter().copied().take(HOME_RELAYS).collect();
    let mut a = Attendee {
        sh: sh.clone(),
        s,
        me,
        number,
        primary: order[0],
        homes,
        listeners: HashMap::new(),
        cursor: 0,
        cookie: None,
        board: Seen::new(sh.n),
        found: HashSet::new(),
        sealed: None,
    };
    {
        let _permit = sh.gate.acquire().await;
        a.join(true).await;
    }
    out.joined = Some(sh.t0.elapsed());
    sh.joined.fetch_add(1, Ordering::Relaxed);
    let mut next_refresh = Instant::now() + sh.refresh;
    // Attendees poll on their own schedules: the first poll right after joining.
    while !*stop.borrow() {
        {
            let _permit = sh.gate.acquire().await;
            if Instant::now() >= next_refresh {
                a.join(false).await;
                next_refresh = Instant::now() + sh.refresh;
            }
            a.read_board().await;
            if sh.discover {
                a.discover().await;
            }
        }
        if out.complete.is_none() && a.complete() {
            out.complete = Some(sh.t0.elapsed());
            sh.complete.fetch_add(1, Ordering::Relaxed);
        }
        out.seen = a.board.len;
        out.seen_discover = a.found.len();
        let listeners = &mut a.listeners;
        tokio::select! {
            _ = client::idle(&mut a.s, sh.poll, |ev| note(listeners, &ev)) => {}
            _ = stop.changed() => {}
        }
    }
    out.reserved = a.listeners.values().copied().collect();
    out.connected = (0..sh.relays.len())
        .filter(|&i| a.s.is_connected(&sh.relays[i].id))
        .collect();
    out.swarm = Some(a.s);
    out
}
