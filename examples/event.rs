//! An event across networks, in one process: a relay on 127.0.0.1, and two nodes that listen
//! on nothing (as behind a NAT) find each other's teasers on the relay's board under an event
//! code, then swap cards over a relayed circuit.
//!
//! ```sh
//! cargo run --example event
//! ```
//!
//! The relay never learns the code (it sees a hash made with Argon2id) nor the teasers (sealed
//! with a key from the code).

use std::time::Duration;

use meishi_card::{Card, Identity, SignedCard};
use meishi_node::{Config, Event, GiveOutcome, Limits, Multiaddr, Node, Policy, Scope, Teaser};

/// An unguessable code, as `meishi event new` makes them.
const CODE: &str = "x7kq-4mzd-p2wa-9rtc-h5vn";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("meishi-event-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let relay = meishi_relay::Relay::spawn(meishi_relay::Config {
        listen: vec![format!("/ip4/127.0.0.1/tcp/{port}")],
        external_addresses: vec![format!("/ip4/127.0.0.1/tcp/{port}")],
        metrics: None,
        key_file: Some(dir.join("relay.key")),
        ..Default::default()
    })
    .await?;
    let relay_addr: Multiaddr =
        format!("{}/p2p/{}", relay.listen_addrs()[0], relay.peer_id()).parse()?;
    println!("relay at {relay_addr}");

    let (ada, mut ada_events) = attendee("Ada", 1, &relay_addr)?;
    let (bob, mut bob_events) = attendee("Bob", 2, &relay_addr)?;
    // Each finds the other on the board: a verified teaser and a circuit address.
    let found = async {
        loop {
            match ada_events.recv().await {
                Some(Event::AttendeeDiscovered {
                    peer,
                    teaser,
                    addrs,
                    ..
                }) if peer == bob.peer_id() => break Some((teaser, addrs)),
                Some(_) => continue,
                None => break None,
            }
        }
    };
    let (teaser, addrs) = tokio::time::timeout(Duration::from_secs(60), found)
        .await?
        .ok_or("Ada's node stopped")?;
    println!(
        "Ada sees {} ({}) at {}",
        teaser.name(),
        teaser.headline().unwrap_or("-"),
        addrs[0]
    );
    match tokio::time::timeout(Duration::from_secs(60), ada.give(bob.peer_id(), addrs)).await?? {
        GiveOutcome::Mutual { envelope } => println!(
            "Ada and Bob swapped over the relay: Ada now holds {}'s signed card",
            envelope.card().card().name
        ),
        other => println!("the swap ended differently: {other:?}"),
    }
    while let Ok(Some(ev)) = tokio::time::timeout(Duration::from_secs(5), bob_events.recv()).await {
        if let Event::CardReceived { envelope, .. } = ev {
            println!("Bob received the card of {}", envelope.card().card().name);
            break;
        }
    }
    ada.shutdown().await?;
    bob.shutdown().await?;
    relay.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// A node that reaches others only through the relay, joined to the event with its teaser on.
fn attendee(
    name: &str,
    seed: u8,
    relay: &Multiaddr,
) -> Result<(Node, tokio::sync::mpsc::Receiver<Event>), Box<dyn std::error::Error>> {
    let identity = Identity::from_seed(&[seed; 32]);
    let card = SignedCard::sign(&identity, 1, 1_700_000_000, &Card::new(name))?;
    let mut config = Config::new(identity, card);
    config.teaser = Some(Teaser {
        name: name.into(),
        headline: Some(format!("{name} at the meetup")),
    });
    config.policy = Policy::Auto;
    // Answer attendees seen on the board, nobody else (as `meishi up --event` does).
    config.scope = Scope::Known;
    config.relays = vec![relay.clone()];
    config.event_codes = vec![CODE.into()];
    config.limits = Limits {
        event_poll: Duration::from_millis(500),
        ..Limits::default()
    };
    Ok(Node::spawn(config)?)
}
