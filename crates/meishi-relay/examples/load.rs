//! Event-scale probe of a running relay: N simulated attendees on this machine reserve a slot,
//! register under one event, post a sealed teaser, then read the whole attendee list (rendezvous
//! DISCOVER pages and teaser board pages). Prints the time until every attendee saw every other,
//! failed operations, and the relay's resident memory and CPU time from /proc.
//!
//! ```sh
//! meishi --home /tmp/r relay --listen /ip4/127.0.0.1/tcp/4001 \
//!     --external-address /ip4/127.0.0.1/tcp/4001 --json &
//! cargo run --release -p meishi-relay --example load -- /ip4/127.0.0.1/tcp/4001/p2p/<id> 1000 <relay pid>
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{noise, relay, rendezvous, request_response, tcp, yamux, Multiaddr, PeerId, Swarm};
use meishi_card::event::{BoardRequest, BoardResponse, EventKey};
use meishi_relay::board;

#[derive(NetworkBehaviour)]
struct Client {
    relay: relay::client::Behaviour,
    rendezvous: rendezvous::client::Behaviour,
    board: request_response::Behaviour<board::Codec>,
}

type Ev = SwarmEvent<ClientEvent>;

fn client() -> Result<Swarm<Client>, Box<dyn std::error::Error>> {
    Ok(libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )?
        .with_relay_client(noise::Config::new, yamux::Config::default)?
        .with_behaviour(|key, relay| Client {
            relay,
            rendezvous: rendezvous::client::Behaviour::new(key.clone()),
            board: request_response::Behaviour::with_codec(
                board::Codec::default(),
                [(board::PROTOCOL, request_response::ProtocolSupport::Outbound)],
                request_response::Config::default().with_request_timeout(Duration::from_secs(60)),
            ),
        })?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(600)))
        .build())
}

async fn next<T>(s: &mut Swarm<Client>, mut f: impl FnMut(Ev) -> Option<T>) -> Option<T> {
    tokio::time::timeout(Duration::from_secs(120), async {
        loop {
            if let Some(t) = f(s.select_next_some().await) {
                return t;
            }
        }
    })
    .await
    .ok()
}

fn proc_stat(pid: u32) -> Option<(u64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some((rss_kb, ticks as f64 / 100.0))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let relay_addr: Multiaddr = args
        .next()
        .ok_or("usage: load RELAY_ADDR N [RELAY_PID]")?
        .parse()?;
    let n: usize = args.next().ok_or("N missing")?.parse()?;
    let pid: Option<u32> = args.next().map(|p| p.parse()).transpose()?;
    let Some(Protocol::P2p(relay_id)) = relay_addr.iter().last() else {
        return Err("the relay address must end in /p2p/<id>".into());
    };
    let ev = Arc::new(EventKey::derive("load-test-event")?);
    let ns = rendezvous::Namespace::new(ev.namespace().to_owned())?;
    let before = pid.and_then(proc_stat);
    let failed = Arc::new(AtomicUsize::new(0));
    let joined = Arc::new(tokio::sync::Barrier::new(n + 1));
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..n {
        let (relay_addr, ev, ns, failed, joined) = (
            relay_addr.clone(),
            ev.clone(),
            ns.clone(),
            failed.clone(),
            joined.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let fail = || {
                failed.fetch_add(1, Ordering::Relaxed);
            };
            let Ok(mut s) = client() else {
                fail();
                joined.wait().await;
                return None;
            };
            let circuit = relay_addr.clone().with(Protocol::P2pCircuit);
            let ok = s.listen_on(circuit.clone()).is_ok()
                && next(&mut s, |e| match e {
                    SwarmEvent::Behaviour(ClientEvent::Relay(
                        relay::client::Event::ReservationReqAccepted { .. },
                    )) => Some(true),
                    SwarmEvent::ListenerClosed { .. } => Some(false),
                    _ => None,
                })
                .await
                .unwrap_or(false);
            if !ok {
                fail();
            }
            s.add_external_address(circuit.with(Protocol::P2p(*s.local_peer_id())));
            let registered = s
                .behaviour_mut()
                .rendezvous
                .register(ns.clone(), relay_id, Some(300))
                .is_ok()
                && next(&mut s, |e| match e {
                    SwarmEvent::Behaviour(ClientEvent::Rendezvous(
                        rendezvous::client::Event::Registered { .. },
                    )) => Some(true),
                    SwarmEvent::Behaviour(ClientEvent::Rendezvous(
                        rendezvous::client::Event::RegisterFailed { .. },
                    )) => Some(false),
                    _ => None,
                })
                .await
                .unwrap_or(false);
            if !registered {
                fail();
            }
            let teaser = format!("attendee {}", s.local_peer_id());
            let sealed = ev.seal(teaser.as_bytes()).unwrap_or_default();
            s.behaviour_mut().board.send_request(
                &relay_id,
                BoardRequest::Put {
                    namespace: ev.namespace().into(),
                    ttl: 300,
                    sealed,
                },
            );
            let stored = next(&mut s, |e| match e {
                SwarmEvent::Behaviour(ClientEvent::Board(request_response::Event::Message {
                    message: request_response::Message::Response { response, .. },
                    ..
                })) => Some(matches!(response, BoardResponse::Stored { .. })),
                SwarmEvent::Behaviour(ClientEvent::Board(
                    request_response::Event::OutboundFailure { .. },
                )) => Some(false),
                _ => None,
            })
            .await
            .unwrap_or(false);
            if !stored {
                fail();
            }
            // Keep the swarm polled while waiting for everybody else.
            {
                let wait = joined.wait();
                tokio::pin!(wait);
                loop {
                    tokio::select! {
                        _ = &mut wait => break,
                        _ = s.select_next_some() => {}
                    }
                }
            }
            let t1 = Instant::now();
            // Read the whole list: board pages, then discover pages.
            let mut teasers = 0usize;
            let mut cursor = 0;
            loop {
                s.behaviour_mut().board.send_request(
                    &relay_id,
                    BoardRequest::Get {
                        namespace: ev.namespace().into(),
                        cursor,
                        limit: 256,
                    },
                );
                let page = next(&mut s, |e| match e {
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
                })
                .await
                .flatten();
                match page {
                    Some(BoardResponse::Entries {
                        entries,
                        cursor: c,
                        more,
                    }) => {
                        teasers += entries
                            .iter()
                            .filter(|e| ev.open(&e.sealed).is_ok())
                            .count();
                        cursor = c;
                        if !more {
                            break;
                        }
                    }
                    _ => {
                        fail();
                        break;
                    }
                }
            }
            let mut peers = 0usize;
            let mut cookie = None;
            loop {
                s.behaviour_mut().rendezvous.discover(
                    Some(ns.clone()),
                    cookie.take(),
                    Some(256),
                    relay_id,
                );
                let got = next(&mut s, |e| match e {
                    SwarmEvent::Behaviour(ClientEvent::Rendezvous(
                        rendezvous::client::Event::Discovered {
                            registrations,
                            cookie,
                            ..
                        },
                    )) => Some(Some((registrations.len(), cookie))),
                    SwarmEvent::Behaviour(ClientEvent::Rendezvous(
                        rendezvous::client::Event::DiscoverFailed { .. },
                    )) => Some(None),
                    _ => None,
                })
                .await
                .flatten();
                match got {
                    Some((k, c)) => {
                        peers += k;
                        cookie = Some(c);
                        if k < 256 {
                            break;
                        }
                    }
                    None => {
                        fail();
                        break;
                    }
                }
            }
            Some((t1.elapsed(), teasers, peers, s))
        }));
    }
    joined.wait().await;
    let t_joined = t0.elapsed();
    let (mut complete, mut swarms, mut times) = (0, Vec::new(), Vec::new());
    for t in tasks {
        if let Ok(Some((d, teasers, peers, s))) = t.await {
            if teasers == n && peers == n {
                complete += 1;
                times.push(d);
            }
            swarms.push(s);
        }
    }
    times.sort();
    let q = |f: f64| {
        times
            .get(((times.len() as f64 - 1.0) * f).round() as usize)
            .map_or(f64::NAN, |d| d.as_secs_f64())
    };
    let after = pid.and_then(proc_stat);
    println!("attendees: {n}");
    println!(
        "all joined (reserve + register + post teaser) after: {:.2} s",
        t_joined.as_secs_f64()
    );
    println!(
        "time to read the full list after joining, over complete attendees: median {:.3} s, p90 {:.3} s, max {:.3} s",
        q(0.5),
        q(0.9),
        q(1.0)
    );
    println!("attendees that saw all {n} teasers and registrations: {complete}");
    println!("failed operations: {}", failed.load(Ordering::Relaxed));
    if let (Some((rss0, cpu0)), Some((rss1, cpu1))) = (before, after) {
        println!(
            "relay RSS: {} KiB -> {} KiB ({:.1} KiB per attendee)",
            rss0,
            rss1,
            (rss1.saturating_sub(rss0)) as f64 / n as f64
        );
        println!("relay CPU time during the run: {:.2} s", cpu1 - cpu0);
    }
    if let Some((rss, cpu)) = proc_stat(std::process::id()) {
        println!("load generator (all {n} attendees): RSS {rss} KiB, CPU time {cpu:.2} s");
    }
    let _ = PeerId::random();
    drop(swarms);
    Ok(())
}
