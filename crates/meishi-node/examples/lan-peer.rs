//! A peer for the LAN test: finds one other peer by mDNS, shows its teaser, swaps cards with it
//! (the lower peer id gives), and exits 0 once it has the other's card.
//!
//! `lan-peer NAME SEED [TIMEOUT_SECS]` prints one line per step on stdout:
//! `peer <id>`, `discovered <id> <teaser name>`, `received <id> <card name>`, `done`.

use std::time::Duration;

use anyhow::{bail, Context};
use meishi_card::{Card, Identity, SignedCard};
use meishi_node::{Config, Event, GiveOutcome, Node, Policy, Teaser};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(name), Some(seed)) = (args.get(1), args.get(2)) else {
        bail!("usage: lan-peer NAME SEED [TIMEOUT_SECS]");
    };
    let seed: u8 = seed.parse().context("SEED is a number 0-255")?;
    let timeout: u64 = args
        .get(3)
        .map(|s| s.parse())
        .transpose()
        .context("TIMEOUT_SECS")?
        .unwrap_or(30);
    let identity = Identity::from_seed(&[seed; 32]);
    let card = SignedCard::sign(&identity, 1, 1_700_000_000, &Card::new(name.as_str()))?;
    let mut config = Config::new(identity, card);
    config.listen = vec![
        "/ip4/0.0.0.0/tcp/0".parse()?,
        "/ip4/0.0.0.0/udp/0/quic-v1".parse()?,
    ];
    config.mdns = true;
    config.policy = Policy::Auto;
    config.teaser = Some(Teaser {
        name: name.clone(),
        headline: Some("on the LAN".into()),
    });
    let (node, mut events) = Node::spawn(config)?;
    println!("peer {}", node.peer_id());

    let run = async {
        let mut received = None;
        let mut discovered = None;
        while let Some(event) = events.recv().await {
            match event {
                Event::PeerDiscovered {
                    peer,
                    addrs,
                    teaser,
                } => {
                    let teaser_name = teaser.as_ref().map_or("-", |t| t.name()).to_owned();
                    println!("discovered {peer} {teaser_name}");
                    eprintln!("addrs {addrs:?}");
                    discovered = Some(peer);
                    if node.peer_id().to_bytes() < peer.to_bytes() {
                        match node.give(peer, addrs).await? {
                            GiveOutcome::Mutual { envelope } => {
                                println!("received {peer} {}", envelope.card().card().name);
                                received = Some(peer);
                            }
                            other => bail!("expected a mutual swap, got {other:?}"),
                        }
                    }
                }
                Event::CardReceived { from, envelope, .. } if received.is_none() => {
                    println!("received {from} {}", envelope.card().card().name);
                    received = Some(from);
                }
                other => eprintln!("{other:?}"),
            }
            if received.is_some() && discovered.is_some() {
                println!("done");
                return Ok(());
            }
        }
        bail!("the node stopped")
    };
    tokio::time::timeout(Duration::from_secs(timeout), run)
        .await
        .context("timed out")??;
    // The other side may still be finishing its half (reading my answer): linger a moment.
    tokio::time::sleep(Duration::from_secs(1)).await;
    node.shutdown().await?;
    Ok(())
}
