//! Nodes shard over a fleet of relays (proto-spec/relay.md#sharding), in process on 127.0.0.1:
//! with four relays each node reserves on the two its peer id ranks first, names them in its
//! teaser, and everyone still sees everyone and swaps through the relays the teaser names.
//! When one of a node's relays dies the node moves to the next relay in its order, and when the
//! relay comes back (same key and port) the node moves back.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use meishi_node::{Event, GiveOutcome, Multiaddr, PeerId};
use meishi_relay::{Relay, RelayHandle};

use crate::relay::free_port;
use crate::{TestNode, PATIENCE};

const CODE: &str = "sh4r-d7fl-eet2-k9wq-m3xz";

struct Fleet {
    dir: tempfile::TempDir,
    ports: Vec<u16>,
    ids: Vec<PeerId>,
}

impl Fleet {
    fn key(&self, i: usize) -> PathBuf {
        key_path(self.dir.path(), i)
    }
    fn addr(&self, i: usize) -> Multiaddr {
        format!("/ip4/127.0.0.1/tcp/{}/p2p/{}", self.ports[i], self.ids[i])
            .parse()
            .unwrap()
    }
    fn addrs(&self) -> Vec<Multiaddr> {
        (0..self.ids.len()).map(|i| self.addr(i)).collect()
    }
    /// Relay `i`, with every other relay as a fleet peer.
    async fn start(&self, i: usize) -> RelayHandle {
        let mut c = config(self.ports[i], &self.key(i));
        c.fleet.peers = (0..self.ids.len())
            .filter(|&j| j != i)
            .map(|j| self.addr(j).to_string())
            .collect();
        Relay::spawn(c).await.unwrap()
    }
}

fn key_path(dir: &Path, i: usize) -> PathBuf {
    dir.join(format!("relay{i}.key"))
}

fn config(port: u16, key: &Path) -> meishi_relay::Config {
    meishi_relay::Config {
        listen: vec![format!("/ip4/127.0.0.1/tcp/{port}")],
        external_addresses: vec![format!("/ip4/127.0.0.1/tcp/{port}")],
        metrics: None,
        key_file: Some(key.to_owned()),
        ..Default::default()
    }
}

/// Four relays that know each other: started once alone to make their keys, then as a fleet.
async fn fleet(n: usize) -> (Fleet, Vec<RelayHandle>) {
    let dir = tempfile::tempdir().unwrap();
    let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
    let mut ids = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let r = Relay::spawn(config(*port, &key_path(dir.path(), i)))
            .await
            .unwrap();
        ids.push(r.peer_id());
        r.shutdown().await;
    }
    let f = Fleet { dir, ports, ids };
    let mut relays = Vec::new();
    for i in 0..n {
        relays.push(f.start(i).await);
    }
    (f, relays)
}

async fn attendee(n: u8, name: &str, relays: Vec<Multiaddr>) -> TestNode {
    crate::relay::attendee_of(n, name, relays, CODE).await
}

/// The two relays (by index) `peer` ranks first, skipping `dead`.
fn homes(f: &Fleet, peer: PeerId, dead: Option<usize>) -> BTreeSet<usize> {
    let ids: Vec<Vec<u8>> = f.ids.iter().map(|p| p.to_bytes()).collect();
    meishi_event::shard::rank(&peer.to_bytes(), &ids)
        .into_iter()
        .filter(|&i| Some(i) != dead)
        .take(meishi_event::shard::HOME_RELAYS)
        .collect()
}

/// Waits until `t` reserved on each relay of `want` (and on no relay outside it).
async fn reserves_on(t: &mut TestNode, f: &Fleet, want: &BTreeSet<usize>) {
    let mut got = BTreeSet::new();
    while !want.is_subset(&got) {
        let relay = t
            .wait_for(|e| match e {
                Event::Reserved { relay, .. } => Some(*relay),
                _ => None,
            })
            .await;
        let i = f
            .ids
            .iter()
            .position(|r| *r == relay)
            .expect("a fleet relay");
        assert!(
            want.contains(&i),
            "reserved on relay {i}, not one of {want:?}"
        );
        got.insert(i);
    }
}

fn circuits(f: &Fleet, who: PeerId, on: &BTreeSet<usize>) -> BTreeSet<String> {
    on.iter()
        .map(|&i| format!("{}/p2p-circuit/p2p/{who}", f.addr(i)))
        .collect()
}

/// Waits until `t` has seen each peer of `want` with addresses on exactly its relays (the
/// latest announcement of each counts); returns those addresses.
async fn sees_all(
    t: &mut TestNode,
    f: &Fleet,
    want: &[(PeerId, BTreeSet<usize>)],
) -> Vec<Vec<Multiaddr>> {
    let want: Vec<(PeerId, BTreeSet<String>)> = want
        .iter()
        .map(|(p, on)| (*p, circuits(f, *p, on)))
        .collect();
    let mut latest: Vec<Option<Vec<Multiaddr>>> = vec![None; want.len()];
    let matches = |latest: &[Option<Vec<Multiaddr>>]| {
        want.iter().zip(latest).all(|((_, w), l)| {
            l.as_ref()
                .is_some_and(|a| a.iter().map(ToString::to_string).collect::<BTreeSet<_>>() == *w)
        })
    };
    while !matches(&latest) {
        let (peer, addrs) = t
            .wait_for(|e| match e {
                Event::AttendeeDiscovered { peer, addrs, .. } => Some((*peer, addrs.clone())),
                _ => None,
            })
            .await;
        if let Some(k) = want.iter().position(|(p, _)| *p == peer) {
            latest[k] = Some(addrs);
        }
    }
    latest.into_iter().flatten().collect()
}

/// Waits until each of `nodes` reserved on its home relays and saw every other at the relays
/// its teaser names; returns each one's home relays.
async fn reserve_and_see_each_other(nodes: &mut [TestNode], f: &Fleet) -> Vec<BTreeSet<usize>> {
    let home: Vec<BTreeSet<usize>> = nodes.iter().map(|t| homes(f, t.peer, None)).collect();
    for (t, h) in nodes.iter_mut().zip(&home) {
        reserves_on(t, f, h).await;
    }
    for i in 0..nodes.len() {
        let others: Vec<(PeerId, BTreeSet<usize>)> = (0..nodes.len())
            .filter(|&j| j != i)
            .map(|j| (nodes[j].peer, home[j].clone()))
            .collect();
        sees_all(&mut nodes[i], f, &others).await;
    }
    home
}

/// Waits until `t` has seen each of `nodes` on the board.
async fn sees_each_of(t: &mut TestNode, nodes: &[TestNode]) {
    let mut unseen: BTreeSet<PeerId> = nodes.iter().map(|n| n.peer).collect();
    while !unseen.is_empty() {
        let peer = t
            .wait_for(|e| match e {
                Event::AttendeeDiscovered { peer, .. } => Some(*peer),
                _ => None,
            })
            .await;
        unseen.remove(&peer);
    }
}

async fn swap(from: &TestNode, to: PeerId, addrs: Vec<Multiaddr>) {
    let out = tokio::time::timeout(PATIENCE, from.node.give(to, addrs))
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(out, GiveOutcome::Mutual { .. }), "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_shard_over_four_relays_and_move_when_one_dies() {
    let (f, mut relays) = fleet(4).await;
    let mut nodes = Vec::new();
    for (n, name) in [(61, "Ada"), (62, "Bob"), (63, "Cy")] {
        nodes.push(attendee(n, name, f.addrs()).await);
    }
    // Everyone sees everyone, at the relays their teasers name, and swaps through them.
    let home = reserve_and_see_each_other(&mut nodes, &f).await;
    assert!(home.iter().all(|h| h.len() == 2));
    let ada = nodes[0].peer;
    let to_ada: Vec<Multiaddr> = home[0]
        .iter()
        .map(|&i| {
            format!("{}/p2p-circuit/p2p/{ada}", f.addr(i))
                .parse()
                .unwrap()
        })
        .collect();
    swap(&nodes[1], ada, to_ada).await;

    // Ada's first relay dies: she moves to the next relay in her order, names it, and Bob
    // reaches her there.
    let ids: Vec<Vec<u8>> = f.ids.iter().map(|p| p.to_bytes()).collect();
    let dead = meishi_event::shard::rank(&ada.to_bytes(), &ids)[0];
    relays.remove(dead).shutdown().await;
    let moved = homes(&f, ada, Some(dead));
    let new: BTreeSet<usize> = moved.difference(&home[0]).copied().collect();
    assert_eq!(new.len(), 1);
    reserves_on(&mut nodes[0], &f, &new).await;
    let addrs = sees_all(&mut nodes[1], &f, &[(ada, moved.clone())]).await;
    swap(&nodes[1], ada, addrs[0].clone()).await;

    // It comes back with its key and port: it catches up from the fleet, Ada moves back, and a
    // newcomer who knows only that relay sees everyone on its board.
    relays.insert(dead, f.start(dead).await);
    reserves_on(&mut nodes[0], &f, &BTreeSet::from([dead])).await;
    let mut dee = attendee(64, "Dee", vec![f.addr(dead)]).await;
    sees_each_of(&mut dee, &nodes).await;
    for r in relays {
        r.shutdown().await;
    }
}

/// Client writes `relay` stored (board Puts of a new entry).
fn stored_from_clients(relay: &RelayHandle) -> u64 {
    relay
        .metric("meishi_relay_requests_total{service=\"board\",outcome=\"stored\"}")
        .map_or(0, |v| v as u64)
}

/// Joined with a join URI that says `fleet=1`, nodes post their teasers only to their home
/// relays, and the fleet copies them to the others: every relay stored exactly the writes of
/// the attendees it is home to, and a newcomer who knows only the relay home to the fewest
/// still sees everyone on its board.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_fleet_uri_nodes_post_only_to_their_home_relays() {
    let (f, relays) = fleet(4).await;
    let uri = meishi_event::JoinTicket::new(CODE, f.addrs())
        .unwrap()
        .with_fleet()
        .unwrap()
        .to_string();
    let mut nodes = Vec::new();
    for (n, name) in [(71, "Ada"), (72, "Bob"), (73, "Cy")] {
        // No relay besides the URI's: the node takes them from it.
        nodes.push(crate::relay::attendee_of(n, name, Vec::new(), &uri).await);
    }
    let home = reserve_and_see_each_other(&mut nodes, &f).await;
    let homed: Vec<u64> = (0..4)
        .map(|r| home.iter().filter(|h| h.contains(&r)).count() as u64)
        .collect();
    let stored: Vec<u64> = relays.iter().map(stored_from_clients).collect();
    assert_eq!(
        stored, homed,
        "each relay got the posts of its own attendees only"
    );

    let fewest = (0..4).min_by_key(|&r| homed[r]).unwrap();
    assert!(homed[fewest] < 3, "{homed:?}");
    let mut dee = attendee(74, "Dee", vec![f.addr(fewest)]).await;
    sees_each_of(&mut dee, &nodes).await;
    for r in relays {
        r.shutdown().await;
    }
}
