//! Board replication among the relays of a fleet (`meishi_relay::fleet`): relays on
//! 127.0.0.1 that list each other, clients posting to one relay and reading from the others
//! with the board protocol, and hand-driven gossipsub peers inside and outside the fleet.

use std::path::Path;
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, PublishError};
use libp2p::identity::Keypair;
use libp2p::swarm::SwarmEvent;
use libp2p::{noise, request_response, tcp, yamux, Multiaddr, PeerId, Swarm, SwarmBuilder};
use meishi_event::{BoardRequest, BoardResponse, MAX_SEALED};
use meishi_relay::fleet::wire::{self, Entry, PullRequest, PullResponse, Replica};
use meishi_relay::fleet::{Net, NetEvent};
use meishi_relay::{Config, Relay, RelayHandle};
use prometheus_client::metrics::counter::Counter;
use tokio::sync::{mpsc, oneshot};

use super::{board_ask, connected_client, Client};

/// A namespace of the derived shape (the relay never sees the code behind it).
const NS: &str = "meishi-ev2-00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
/// How long an entry may take to reach another relay before a test fails.
const WITHIN: Duration = Duration::from_secs(20);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One relay of a fleet: its configuration, kept to start it again on the same key and port.
struct Member {
    config: Config,
    addr: Multiaddr,
    id: PeerId,
}

/// `n` relay configurations on 127.0.0.1 (TCP only, keys in `dir`), each listing all `n` relays
/// (a relay skips itself) and `extra`.
fn fleet_of(dir: &Path, n: usize, extra: &[Multiaddr]) -> Vec<Member> {
    let mut members: Vec<Member> = (0..n)
        .map(|i| {
            let key = dir.join(format!("relay-{i}.key"));
            let id = meishi_relay::key::load_or_create(&key)
                .unwrap()
                .public()
                .to_peer_id();
            let listen = format!("/ip4/127.0.0.1/tcp/{}", free_port());
            let addr = format!("{listen}/p2p/{id}").parse().unwrap();
            let config = Config {
                listen: vec![listen.clone()],
                external_addresses: vec![listen],
                metrics: None,
                key_file: Some(key),
                ..Config::default()
            };
            Member { config, addr, id }
        })
        .collect();
    let peers: Vec<String> = members
        .iter()
        .map(|m| m.addr.to_string())
        .chain(extra.iter().map(ToString::to_string))
        .collect();
    for m in &mut members {
        m.config.fleet.peers = peers.clone();
    }
    members
}

async fn start(m: &Member) -> RelayHandle {
    Relay::spawn(m.config.clone()).await.unwrap()
}

/// The value of the metric line `line` (name and labels), 0 when the relay has none.
fn metric(relay: &RelayHandle, line: &str) -> u64 {
    relay.metric(line).map_or(0, |v| v as u64)
}

/// Entries `relay` counted from fleet peer `from`, by way and outcome.
fn entries(relay: &RelayHandle, from: PeerId, via: &str, outcome: &str) -> u64 {
    metric(
        relay,
        &format!(
            "meishi_relay_fleet_entries_total{{peer=\"{from}\",via=\"{via}\",outcome=\"{outcome}\"}}"
        ),
    )
}

/// Waits until `f` holds, or fails saying `what`.
async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + WITHIN;
    while !f() {
        assert!(Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until each relay has a connection up to each of the others.
async fn until_meshed(relays: &[&RelayHandle]) {
    for r in relays {
        for o in relays.iter().filter(|o| o.peer_id() != r.peer_id()) {
            let line = format!("meishi_relay_fleet_connected{{peer=\"{}\"}}", o.peer_id());
            eventually("fleet peers connect", || metric(r, &line) == 1).await;
        }
    }
}

/// The teaser `peer` has on `relay`'s board of [`NS`], as a client of that relay reads it.
async fn sealed_of(reader: &mut Swarm<Client>, relay: PeerId, peer: PeerId) -> Option<Vec<u8>> {
    let get = BoardRequest::Get {
        namespace: NS.into(),
        cursor: 0,
        limit: 256,
    };
    match board_ask(reader, relay, get).await {
        BoardResponse::Entries { entries, .. } => entries
            .into_iter()
            .find(|e| e.peer() == peer.to_bytes())
            .map(|e| e.sealed().to_vec()),
        other => panic!("{other:?}"),
    }
}

/// Waits until a client of `relay` reads `want` as `peer`'s teaser.
async fn until_listed(reader: &mut Swarm<Client>, relay: PeerId, peer: PeerId, want: &[u8]) {
    let deadline = Instant::now() + WITHIN;
    loop {
        let got = sealed_of(reader, relay, peer).await;
        if got.as_deref() == Some(want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "relay {relay} lists {got:?} for {peer}, not the teaser posted"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Posts `sealed` as the client's teaser on `relay`; the client sees it stored.
async fn post(c: &mut Swarm<Client>, relay: PeerId, sealed: &[u8]) {
    let put = BoardRequest::Put {
        namespace: NS.into(),
        ttl: 300,
        sealed: sealed.to_vec(),
    };
    assert_eq!(
        board_ask(c, relay, put).await,
        BoardResponse::Stored { ttl: 300 }
    );
}

fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

fn replica(namespace: &str, peer: PeerId, stamp: u64, ttl: u32, sealed: &[u8]) -> Vec<u8> {
    Replica {
        namespace: namespace.into(),
        entry: Entry {
            peer,
            stamp,
            ttl,
            left: ttl,
            sealed: sealed.to_vec(),
        },
    }
    .encode()
}

/// A swarm speaking the fleet's protocols, as a relay's fleet side does, driven by the test.
fn net_swarm(key: Keypair) -> Swarm<Net> {
    SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|k| {
            Net::new(
                k,
                1_024,
                Counter::default(),
                request_response::Config::default(),
            )
            .unwrap()
        })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build()
}

/// Drives `s` until `f` returns Some; answers pulls with an empty page meanwhile.
async fn drive<T>(s: &mut Swarm<Net>, mut f: impl FnMut(&SwarmEvent<NetEvent>) -> Option<T>) -> T {
    tokio::time::timeout(WITHIN, async {
        loop {
            let ev = s.select_next_some().await;
            if let Some(t) = f(&ev) {
                return t;
            }
            answer_pulls(s, ev);
        }
    })
    .await
    .expect("timed out driving a gossipsub peer")
}

fn answer_pulls(s: &mut Swarm<Net>, ev: SwarmEvent<NetEvent>) {
    if let SwarmEvent::Behaviour(NetEvent::Pull(request_response::Event::Message {
        message: request_response::Message::Request { channel, .. },
        ..
    })) = ev
    {
        let empty = PullResponse::Entries {
            entries: Vec::new(),
            cursor: 0,
            more: false,
        };
        let _ = s.behaviour_mut().pull.send_response(channel, empty);
    }
}

fn subscribed_to(ev: &SwarmEvent<NetEvent>, peer: PeerId, topic: &str) -> bool {
    matches!(ev, SwarmEvent::Behaviour(NetEvent::Gossip(gossipsub::Event::Subscribed {
        peer_id, topic: t
    })) if *peer_id == peer && t.as_str() == topic)
}

type Publish = (Vec<u8>, oneshot::Sender<Result<(), String>>);

/// A hand-driven fleet peer running in the background: it publishes on [`NS`]'s topic what
/// it is given, and answers pulls with nothing.
struct Publisher {
    tx: mpsc::Sender<Publish>,
    task: tokio::task::JoinHandle<()>,
}

impl Publisher {
    fn spawn(mut s: Swarm<Net>) -> Self {
        let (tx, mut rx) = mpsc::channel::<Publish>(16);
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    ev = s.select_next_some() => answer_pulls(&mut s, ev),
                    cmd = rx.recv() => {
                        let Some((data, reply)) = cmd else { return };
                        let topic = IdentTopic::new(wire::topic_of(NS));
                        let r = s.behaviour_mut().gossip.publish(topic, data);
                        let _ = reply.send(r.map(|_| ()).map_err(|e| e.to_string()));
                    }
                }
            }
        });
        Self { tx, task }
    }

    async fn publish(&self, data: Vec<u8>) {
        let (reply, rx) = oneshot::channel();
        self.tx.send((data, reply)).await.unwrap();
        rx.await.unwrap().unwrap();
    }
}

/// Three relays list each other; a client posts to A and its entry is read from B and C with
/// the board protocol; a newer entry replaces it everywhere.
#[tokio::test]
async fn three_relays_replicate_entries_and_a_newer_one_replaces_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let m = fleet_of(dir.path(), 3, &[]);
    let (a, b, c) = (start(&m[0]).await, start(&m[1]).await, start(&m[2]).await);
    until_meshed(&[&a, &b, &c]).await;
    let mut x = connected_client(&m[0].addr).await;
    let x_id = *x.local_peer_id();
    let mut on_b = connected_client(&m[1].addr).await;
    let mut on_c = connected_client(&m[2].addr).await;

    post(&mut x, m[0].id, b"first teaser").await;
    until_listed(&mut on_b, m[1].id, x_id, b"first teaser").await;
    until_listed(&mut on_c, m[2].id, x_id, b"first teaser").await;

    post(&mut x, m[0].id, b"second teaser").await;
    until_listed(&mut on_b, m[1].id, x_id, b"second teaser").await;
    until_listed(&mut on_c, m[2].id, x_id, b"second teaser").await;
    // One entry per (namespace, peer): the newer one replaced the first.
    for (reader, relay) in [(&mut on_b, m[1].id), (&mut on_c, m[2].id)] {
        let get = BoardRequest::Get {
            namespace: NS.into(),
            cursor: 0,
            limit: 256,
        };
        match board_ask(reader, relay, get).await {
            BoardResponse::Entries { entries, .. } => assert_eq!(entries.len(), 1),
            other => panic!("{other:?}"),
        }
    }
    // B and C counted both versions as stored (from A, or forwarded by the other).
    for r in [&b, &c] {
        let applied: u64 = m
            .iter()
            .flat_map(|p| ["gossip", "pull"].map(|via| entries(r, p.id, via, "applied")))
            .sum();
        assert_eq!(applied, 2, "{}", r.metrics_text());
    }
    for r in [a, b, c] {
        r.shutdown().await;
    }
}

/// Waits until a client of `relay` no longer reads any teaser for `peer`.
async fn until_unlisted(reader: &mut Swarm<Client>, relay: PeerId, peer: PeerId) {
    let deadline = Instant::now() + WITHIN;
    loop {
        let got = sealed_of(reader, relay, peer).await;
        if got.is_none() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "relay {relay} still lists {got:?} for {peer} after it was removed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A node withdraws its teaser (a board Remove) on relay A of two: the relay that took the
/// Remove from the authenticated peer publishes the removal, and B drops its copy; posting
/// again lists the node on both once more.
#[tokio::test]
async fn a_remove_on_one_relay_removes_the_copy_on_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let m = fleet_of(dir.path(), 2, &[]);
    let (a, b) = (start(&m[0]).await, start(&m[1]).await);
    until_meshed(&[&a, &b]).await;
    let mut x = connected_client(&m[0].addr).await;
    let x_id = *x.local_peer_id();
    let mut on_b = connected_client(&m[1].addr).await;

    post(&mut x, m[0].id, b"x, listed").await;
    until_listed(&mut on_b, m[1].id, x_id, b"x, listed").await;

    let remove = BoardRequest::Remove {
        namespace: NS.into(),
    };
    assert_eq!(
        board_ask(&mut x, m[0].id, remove).await,
        BoardResponse::Removed
    );
    until_unlisted(&mut on_b, m[1].id, x_id).await;
    assert_eq!(
        entries(&b, m[0].id, "gossip", "removed"),
        1,
        "{}",
        b.metrics_text()
    );
    assert_eq!(
        metric(&a, "meishi_relay_fleet_publishes_total{outcome=\"sent\"}"),
        1,
        "the removal went out by gossip: {}",
        a.metrics_text()
    );

    // Written again after the removal: listed again on both.
    post(&mut x, m[0].id, b"x, back").await;
    until_listed(&mut on_b, m[1].id, x_id, b"x, back").await;
    for r in [a, b] {
        r.shutdown().await;
    }
}

/// A copy from a fleet peer is checked as a client's write: an older one is ignored, an
/// invalid one (undecodable, on another namespace's topic, a TTL out of bounds) rejected, and
/// only a valid newer one stored.
#[tokio::test]
async fn copies_are_checked_like_writes_and_only_newer_ones_replace() {
    let dir = tempfile::tempdir().unwrap();
    let key = Keypair::generate_ed25519();
    let fake_id = key.public().to_peer_id();
    let listen: Multiaddr = format!("/ip4/127.0.0.1/tcp/{}", free_port())
        .parse()
        .unwrap();
    let fake_addr = listen.clone().with_p2p(fake_id).unwrap();
    let m = fleet_of(dir.path(), 1, &[fake_addr]);
    let b = start(&m[0]).await;
    let b_id = m[0].id;

    let mut fake = net_swarm(key);
    fake.listen_on(listen).unwrap();
    let topic = wire::topic_of(NS);
    fake.behaviour_mut()
        .gossip
        .subscribe(&IdentTopic::new(topic.clone()))
        .unwrap();
    fake.dial(m[0].addr.clone()).unwrap();
    // The relay follows the namespace its fleet peer announced.
    drive(&mut fake, |e| subscribed_to(e, b_id, &topic).then_some(())).await;
    let fake = Publisher::spawn(fake);

    let mut x = connected_client(&m[0].addr).await;
    let x_id = *x.local_peer_id();
    let mut reader = connected_client(&m[0].addr).await;
    post(&mut x, b_id, b"x as posted").await;

    // Older than what the relay holds: ignored.
    fake.publish(replica(NS, x_id, now_us() - 10_000_000, 300, b"x, older"))
        .await;
    // Invalid: not a replica; a replica of another namespace on this one's topic; a TTL under
    // the board's minimum of 60 s.
    fake.publish(b"\x01 not a replica".to_vec()).await;
    let other = NS.replace("meishi-ev2-00", "meishi-ev2-ff");
    let y = PeerId::random();
    fake.publish(replica(&other, y, now_us(), 300, b"elsewhere"))
        .await;
    fake.publish(replica(NS, y, now_us(), 10, b"too short"))
        .await;
    // Valid and new.
    fake.publish(replica(NS, y, now_us(), 300, b"y")).await;
    until_listed(&mut reader, b_id, y, b"y").await;
    assert_eq!(
        sealed_of(&mut reader, b_id, x_id).await.as_deref(),
        Some(&b"x as posted"[..])
    );
    // Newer than what the relay holds: replaces it.
    fake.publish(replica(NS, x_id, now_us() + 1_000_000, 300, b"x, newer"))
        .await;
    until_listed(&mut reader, b_id, x_id, b"x, newer").await;

    let count = |outcome| entries(&b, fake_id, "gossip", outcome);
    assert_eq!(
        [
            count("received"),
            count("applied"),
            count("stale"),
            count("rejected")
        ],
        [6, 2, 1, 3],
        "{}",
        b.metrics_text()
    );
    let lag = format!("meishi_relay_fleet_lag_seconds_count{{peer=\"{fake_id}\"}}");
    assert_eq!(metric(&b, &lag), 2);
    fake.task.abort();
    b.shutdown().await;
}

/// A peer that is not in the fleet cannot speak the fleet's protocols with a relay: gossipsub
/// is not offered to it, its pulls are refused, and what it publishes reaches nobody, while
/// the fleet's own replication works.
#[tokio::test]
async fn a_peer_outside_the_fleet_cannot_inject_or_pull() {
    let dir = tempfile::tempdir().unwrap();
    let m = fleet_of(dir.path(), 2, &[]);
    let (a, b) = (start(&m[0]).await, start(&m[1]).await);
    until_meshed(&[&a, &b]).await;
    let b_id = m[1].id;

    let mut stranger = net_swarm(Keypair::generate_ed25519());
    let topic = wire::topic_of(NS);
    stranger
        .behaviour_mut()
        .gossip
        .subscribe(&IdentTopic::new(topic.clone()))
        .unwrap();
    stranger.dial(m[1].addr.clone()).unwrap();
    drive(&mut stranger, |e| match e {
        SwarmEvent::Behaviour(NetEvent::Gossip(gossipsub::Event::GossipsubNotSupported {
            peer_id,
        })) if *peer_id == b_id => Some(()),
        SwarmEvent::Behaviour(NetEvent::Gossip(gossipsub::Event::Subscribed {
            peer_id, ..
        })) if *peer_id == b_id => {
            panic!("the relay spoke gossipsub to a stranger")
        }
        _ => None,
    })
    .await;
    let y = PeerId::random();
    let published = stranger
        .behaviour_mut()
        .gossip
        .publish(IdentTopic::new(topic), replica(NS, y, now_us(), 300, b"y"));
    assert!(
        matches!(published, Err(PublishError::NoPeersSubscribedToTopic)),
        "{published:?}"
    );
    stranger.behaviour_mut().pull.send_request(
        &b_id,
        PullRequest {
            namespace: NS.into(),
            cursor: 0,
            limit: 10,
        },
    );
    let refused = drive(&mut stranger, |e| match e {
        SwarmEvent::Behaviour(NetEvent::Pull(request_response::Event::OutboundFailure {
            error,
            ..
        })) => Some(format!("{error:?}")),
        SwarmEvent::Behaviour(NetEvent::Pull(request_response::Event::Message { .. })) => {
            panic!("the relay answered a stranger's pull")
        }
        _ => None,
    })
    .await;
    assert!(refused.contains("UnsupportedProtocols"), "{refused}");

    // The fleet replicates all the same, and B lists nothing from the stranger.
    let mut x = connected_client(&m[0].addr).await;
    let x_id = *x.local_peer_id();
    let mut reader = connected_client(&m[1].addr).await;
    post(&mut x, m[0].id, b"x").await;
    until_listed(&mut reader, b_id, x_id, b"x").await;
    assert_eq!(sealed_of(&mut reader, b_id, y).await, None);
    assert_eq!(metric(&b, "meishi_relay_fleet_strangers_total"), 0);
    for r in [a, b] {
        r.shutdown().await;
    }
}

/// A relay that was down while entries were written, started again on the same key, pulls
/// what it missed from the fleet when it connects, and serves it.
#[tokio::test]
async fn a_restarted_relay_catches_up_by_pull() {
    let dir = tempfile::tempdir().unwrap();
    let m = fleet_of(dir.path(), 3, &[]);
    let (a, b, c) = (start(&m[0]).await, start(&m[1]).await, start(&m[2]).await);
    until_meshed(&[&a, &b, &c]).await;
    let mut x = connected_client(&m[0].addr).await;
    let x_id = *x.local_peer_id();
    post(&mut x, m[0].id, b"before").await;
    let mut on_c = connected_client(&m[2].addr).await;
    until_listed(&mut on_c, m[2].id, x_id, b"before").await;
    drop(on_c);
    c.shutdown().await;

    // Written while C is down: gossip cannot bring it to C.
    post(&mut x, m[0].id, b"while C was down").await;
    let mut on_b = connected_client(&m[1].addr).await;
    until_listed(&mut on_b, m[1].id, x_id, b"while C was down").await;

    let c = start(&m[2]).await;
    let mut on_c = connected_client(&m[2].addr).await;
    until_listed(&mut on_c, m[2].id, x_id, b"while C was down").await;
    let behind: u64 = [m[0].id, m[1].id]
        .iter()
        .map(|p| metric(&c, &format!("meishi_relay_fleet_behind{{peer=\"{p}\"}}")))
        .sum();
    assert!(behind >= 1, "{}", c.metrics_text());
    for r in [a, b, c] {
        r.shutdown().await;
    }
}

/// With no fleet peer up, a client's write is still stored and answered (gossipsub has no
/// peer to publish to: counted as `no_peers`); the entry reaches the peer by catch-up once it
/// connects.
#[tokio::test]
async fn a_write_with_no_fleet_peer_up_succeeds_and_arrives_by_catch_up() {
    let dir = tempfile::tempdir().unwrap();
    let m = fleet_of(dir.path(), 2, &[]);
    let a = start(&m[0]).await;
    let mut x = connected_client(&m[0].addr).await;
    let x_id = *x.local_peer_id();
    post(&mut x, m[0].id, b"alone").await;
    assert_eq!(
        metric(
            &a,
            "meishi_relay_fleet_publishes_total{outcome=\"no_peers\"}"
        ),
        1,
        "{}",
        a.metrics_text()
    );

    let b = start(&m[1]).await;
    let mut on_b = connected_client(&m[1].addr).await;
    until_listed(&mut on_b, m[1].id, x_id, b"alone").await;
    assert_eq!(entries(&b, m[0].id, "pull", "applied"), 1);
    assert_eq!(
        metric(
            &b,
            &format!("meishi_relay_fleet_behind{{peer=\"{}\"}}", m[0].id)
        ),
        1
    );
    for r in [a, b] {
        r.shutdown().await;
    }
}

/// Gossipsub sends IDONTWANT only for messages over 1,000 bytes: an entry with the largest
/// sealed teaser (a replica of 1,187 bytes) and a small one both replicate by gossip.
#[tokio::test]
async fn entries_above_and_below_the_idontwant_threshold_both_replicate() {
    let dir = tempfile::tempdir().unwrap();
    let m = fleet_of(dir.path(), 3, &[]);
    let (a, b, c) = (start(&m[0]).await, start(&m[1]).await, start(&m[2]).await);
    until_meshed(&[&a, &b, &c]).await;
    let mut w = connected_client(&m[0].addr).await;
    let w_id = *w.local_peer_id();
    let mut on_b = connected_client(&m[1].addr).await;
    let mut on_c = connected_client(&m[2].addr).await;
    // Entries B and C stored by gossip, from A or forwarded by the other.
    let by_gossip = |r: &RelayHandle| -> u64 {
        m.iter()
            .map(|p| entries(r, p.id, "gossip", "applied"))
            .sum()
    };
    // The first entry of a namespace reaches the others by catch-up (nobody is on its topic
    // yet); post again until A publishes to both by gossip.
    for i in 0.. {
        let sealed = format!("warm-up {i}");
        post(&mut w, m[0].id, sealed.as_bytes()).await;
        until_listed(&mut on_b, m[1].id, w_id, sealed.as_bytes()).await;
        until_listed(&mut on_c, m[2].id, w_id, sealed.as_bytes()).await;
        if by_gossip(&b) > 0 && by_gossip(&c) > 0 {
            break;
        }
        assert!(i < 20, "A never published to B and C");
    }
    let before = (by_gossip(&b), by_gossip(&c));

    let large = vec![0x5a; MAX_SEALED];
    let size = replica(NS, w_id, 0, 300, &large).len();
    assert!(size > 1_000, "{size}");
    assert!(replica(NS, w_id, 0, 300, b"small").len() < 1_000);
    let mut big = connected_client(&m[0].addr).await;
    let big_id = *big.local_peer_id();
    post(&mut big, m[0].id, &large).await;
    let mut small = connected_client(&m[0].addr).await;
    let small_id = *small.local_peer_id();
    post(&mut small, m[0].id, b"small").await;
    for (reader, relay) in [(&mut on_b, m[1].id), (&mut on_c, m[2].id)] {
        until_listed(reader, relay, big_id, &large).await;
        until_listed(reader, relay, small_id, b"small").await;
    }
    assert_eq!(
        (by_gossip(&b), by_gossip(&c)),
        (before.0 + 2, before.1 + 2),
        "{}",
        b.metrics_text()
    );
    for r in [a, b, c] {
        r.shutdown().await;
    }
}

/// Gossip may lose a message (a full send queue under load), so a relay reads each connected
/// fleet peer's board again every `repair_secs`, from the last cursor that peer answered: a
/// fake fleet peer answers every pull with cursor 7 and sees the relay ask from 7 again and
/// again, unprompted by any connection or subscription (those pull once or twice at the start).
#[tokio::test]
async fn a_relay_pulls_again_from_the_last_cursor_to_repair_lost_gossip() {
    let dir = tempfile::tempdir().unwrap();
    let key = Keypair::generate_ed25519();
    let fake_id = key.public().to_peer_id();
    let listen: Multiaddr = format!("/ip4/127.0.0.1/tcp/{}", free_port())
        .parse()
        .unwrap();
    let fake_addr = listen.clone().with_p2p(fake_id).unwrap();
    let mut m = fleet_of(dir.path(), 1, &[fake_addr]);
    m[0].config.fleet.repair_secs = 1;
    let b = start(&m[0]).await;

    let mut fake = net_swarm(key);
    fake.listen_on(listen).unwrap();
    let topic = wire::topic_of(NS);
    fake.behaviour_mut()
        .gossip
        .subscribe(&IdentTopic::new(topic.clone()))
        .unwrap();
    fake.dial(m[0].addr.clone()).unwrap();
    let mut cursors = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), async {
        while cursors.iter().filter(|&&c| c == 7).count() < 3 {
            let ev = fake.select_next_some().await;
            if let SwarmEvent::Behaviour(NetEvent::Pull(request_response::Event::Message {
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            })) = ev
            {
                assert_eq!(request.namespace, NS);
                cursors.push(request.cursor);
                let page = PullResponse::Entries {
                    entries: Vec::new(),
                    cursor: 7,
                    more: false,
                };
                let _ = fake.behaviour_mut().pull.send_response(channel, page);
            }
        }
    })
    .await
    .expect("the relay pulls again by itself");
    // The catch-up when the topic came up reads from the start; the repairs from the cursor.
    assert_eq!(cursors[0], 0, "{cursors:?}");
    b.shutdown().await;
}

/// Asks `relay` (at `addr`, over TCP) for a reservation and waits until it is accepted.
async fn reserve_on(c: &mut Swarm<Client>, addr: &Multiaddr) {
    use libp2p::multiaddr::Protocol;
    c.listen_on(addr.clone().with(Protocol::P2pCircuit))
        .unwrap();
    tokio::time::timeout(WITHIN, async {
        loop {
            if let SwarmEvent::Behaviour(super::ClientEvent::Relay(
                libp2p::relay::client::Event::ReservationReqAccepted { .. },
            )) = c.select_next_some().await
            {
                return;
            }
        }
    })
    .await
    .expect("the relay accepts the reservation");
}

/// A node that held a reservation on relay A leaves: after A's grace period its entry goes from
/// A and, as a removal, from B, which it had posted to as well. A node that only posted to A
/// (no reservation there, as a node posts to relays that are not its home) and closed its
/// connection stays listed on both.
#[tokio::test]
async fn a_departed_node_is_removed_from_the_whole_fleet() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = fleet_of(dir.path(), 2, &[]);
    for member in &mut m {
        member.config.limits.disconnect_grace_ms = 1_000;
    }
    let (a, b) = (start(&m[0]).await, start(&m[1]).await);
    until_meshed(&[&a, &b]).await;
    let mut on_b = connected_client(&m[1].addr).await;

    let mut x = connected_client(&m[0].addr).await;
    let x_id = *x.local_peer_id();
    reserve_on(&mut x, &m[0].addr).await;
    post(&mut x, m[0].id, b"x, home on A").await;
    let mut y = connected_client(&m[0].addr).await;
    let y_id = *y.local_peer_id();
    post(&mut y, m[0].id, b"y, posted only").await;
    until_listed(&mut on_b, m[1].id, x_id, b"x, home on A").await;
    until_listed(&mut on_b, m[1].id, y_id, b"y, posted only").await;

    drop((x, y));
    until_unlisted(&mut on_b, m[1].id, x_id).await;
    let mut on_a = connected_client(&m[0].addr).await;
    assert_eq!(sealed_of(&mut on_a, m[0].id, x_id).await, None);
    assert_eq!(
        sealed_of(&mut on_a, m[0].id, y_id).await.as_deref(),
        Some(&b"y, posted only"[..])
    );
    assert_eq!(
        sealed_of(&mut on_b, m[1].id, y_id).await.as_deref(),
        Some(&b"y, posted only"[..])
    );
    for r in [a, b] {
        r.shutdown().await;
    }
}

/// A node posts its refresh (the same sealed bytes again) to every relay itself, so only the
/// relays holding its reservation (its home relays) copy the refresh to the fleet: a refresh
/// from a node that only posts to A is not published, one from a node at home on A is.
#[tokio::test]
async fn only_a_home_relay_copies_a_refresh_to_the_fleet() {
    let dir = tempfile::tempdir().unwrap();
    let m = fleet_of(dir.path(), 2, &[]);
    let (a, b) = (start(&m[0]).await, start(&m[1]).await);
    until_meshed(&[&a, &b]).await;
    let mut on_b = connected_client(&m[1].addr).await;
    let applied = || -> u64 {
        ["gossip", "pull"]
            .map(|via| entries(&b, m[0].id, via, "applied"))
            .iter()
            .sum()
    };

    let mut y = connected_client(&m[0].addr).await;
    let y_id = *y.local_peer_id();
    post(&mut y, m[0].id, b"y, posted only").await;
    until_listed(&mut on_b, m[1].id, y_id, b"y, posted only").await;
    post(&mut y, m[0].id, b"y, posted only").await;

    let mut x = connected_client(&m[0].addr).await;
    let x_id = *x.local_peer_id();
    reserve_on(&mut x, &m[0].addr).await;
    post(&mut x, m[0].id, b"x, home on A").await;
    until_listed(&mut on_b, m[1].id, x_id, b"x, home on A").await;
    post(&mut x, m[0].id, b"x, home on A").await;
    // x's refresh reaches B (restamped there); y's, published before it over the same
    // connection, would have arrived first.
    eventually("x's refresh reaches B", || applied() >= 3).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(applied(), 3, "{}", b.metrics_text());
    let refreshed = "meishi_relay_requests_total{service=\"board\",outcome=\"refreshed\"}";
    assert_eq!(metric(&a, refreshed), 2);
    for r in [a, b] {
        r.shutdown().await;
    }
}
