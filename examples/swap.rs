//! Two in-process meishi nodes swap signed cards over libp2p on 127.0.0.1.
//!
//! ```sh
//! cargo run --example swap
//! ```
//!
//! Ada's node runs with policy `auto`: whoever gives her a card gets hers back. Bob gives his
//! card to Ada's address and receives hers in the same round trip, addressed to him and signed.

use meishi_card::{Card, Identity, SignedCard};
use meishi_node::{Config, Event, GiveOutcome, Node, Policy};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ada = node("Ada Lovelace", 1).await?;
    let (ada_node, mut ada_events) = ada;
    // Ada's first event says where she listens.
    let addr = loop {
        match ada_events.recv().await {
            Some(Event::Listening { addr }) => break addr,
            Some(_) => continue,
            None => return Err("Ada's node stopped".into()),
        }
    };
    println!("Ada listens on {addr}/p2p/{}", ada_node.peer_id());

    let (bob_node, _bob_events) = node("Bob", 2).await?;
    match bob_node.give(ada_node.peer_id(), vec![addr]).await? {
        GiveOutcome::Mutual { envelope } => {
            let card = envelope.card();
            println!(
                "Bob received the card of {} (seq {}, signed by {}), given at Unix time {}",
                card.card().name,
                card.seq(),
                card.key().peer_id(),
                envelope.time()
            );
        }
        other => println!("Bob's give ended differently: {other:?}"),
    }
    // Ada's node reports the card it received and the one it gave back.
    while let Some(ev) = ada_events.recv().await {
        if let Event::CardReceived { envelope, .. } = ev {
            println!("Ada received the card of {}", envelope.card().card().name);
            break;
        }
    }
    bob_node.shutdown().await?;
    ada_node.shutdown().await?;
    Ok(())
}

/// A node with a fixed demo identity (never do this with a real key) and a one-field card.
async fn node(
    name: &str,
    seed: u8,
) -> Result<(Node, tokio::sync::mpsc::Receiver<Event>), Box<dyn std::error::Error>> {
    let identity = Identity::from_seed(&[seed; 32]);
    let card = SignedCard::sign(&identity, 1, 1_700_000_000, &Card::new(name))?;
    let mut config = Config::new(identity, card);
    config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse()?];
    config.policy = Policy::Auto;
    Ok(Node::spawn(config)?)
}
