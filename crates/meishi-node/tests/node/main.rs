//! In-process tests of the node: several nodes on 127.0.0.1 swap cards, and an attacker swarm
//! sends crafted or broken messages. The mDNS test runs two processes in network namespaces.
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

mod attacker;
mod bad_input;
mod bounds;
mod clock;
mod consent;
mod drops;
mod exchange;
mod join;
mod lan;
mod relay;
mod shard;
mod slots;
mod vectors;

use std::time::Duration;

use meishi_card::{Card, Identity, SignedCard};
use meishi_node::{Config, Event, Limits, Multiaddr, Node, PeerId, Policy};
use tokio::sync::mpsc;

/// A guard against hanging forever; tests never assert how long anything took.
pub const PATIENCE: Duration = Duration::from_secs(30);

pub const T0: u64 = 1_700_000_000;

pub fn identity(n: u8) -> Identity {
    Identity::from_seed(&[n; 32])
}

pub fn card(id: &Identity, seq: u64, name: &str) -> SignedCard {
    let mut c = Card::new(name);
    c.org = Some("Test Org".into());
    SignedCard::sign(id, seq, T0 + seq, &c).expect("sign")
}

pub struct TestNode {
    pub node: Node,
    pub events: mpsc::Receiver<Event>,
    pub addr: Multiaddr,
    pub peer: PeerId,
}

impl TestNode {
    /// Waits for the first event matching `f`, skipping others.
    pub async fn wait_for<T>(&mut self, mut f: impl FnMut(&Event) -> Option<T>) -> T {
        let fut = async {
            loop {
                let e = self.events.recv().await.expect("event stream ended");
                if let Some(t) = f(&e) {
                    return t;
                }
            }
        };
        tokio::time::timeout(PATIENCE, fut)
            .await
            .expect("timed out waiting for an event")
    }

    /// Every event already queued, without waiting.
    pub fn drain(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        while let Ok(e) = self.events.try_recv() {
            out.push(e);
        }
        out
    }
}

pub async fn spawn_with(n: u8, name: &str, policy: Policy, limits: Limits) -> TestNode {
    spawn_config(n, name, |c| {
        c.policy = policy;
        c.limits = limits;
    })
    .await
}

/// A node on 127.0.0.1 with the test defaults, then whatever `f` changes.
pub async fn spawn_config(n: u8, name: &str, f: impl FnOnce(&mut Config)) -> TestNode {
    let id = identity(n);
    let card = card(&id, 1, name);
    let mut config = Config::new(id, card);
    config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().expect("addr")];
    config.label = Some("Test Conf".into());
    f(&mut config);
    let (node, events) = Node::spawn(config).expect("spawn");
    let peer = node.peer_id();
    let mut t = TestNode {
        node,
        events,
        addr: Multiaddr::empty(),
        peer,
    };
    t.addr = t
        .wait_for(|e| match e {
            Event::Listening { addr } => Some(addr.clone()),
            _ => None,
        })
        .await;
    t
}

pub async fn spawn(n: u8, name: &str, policy: Policy) -> TestNode {
    spawn_with(n, name, policy, Limits::default()).await
}
