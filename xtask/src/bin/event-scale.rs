//! Event scale: N attendees (in-process nodes) join one event on one relay on this machine.
//! Measures the time until every attendee has seen every other on the teaser board, the relay's
//! memory (VmRSS, VmHWM) and CPU time, and failed operations. The relay runs in a child process
//! (this binary re-executed with `relay`), so its numbers are its own.
//!
//! ```text
//! cargo run --release -p xtask --bin event-scale -- 100 1000
//! ```

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use meishi_card::{Card, Identity, SignedCard};
use meishi_node::{Config, Event, Limits, Multiaddr, Node, Teaser};

const CODE: &str = "scal-ebe7-nchm-ark2-026x-q4pd";
/// Give up on a run after this long.
const DEADLINE: Duration = Duration::from_secs(300);

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("relay") {
        return run_relay();
    }
    let sizes: Vec<usize> = if args.is_empty() {
        vec![100, 1000]
    } else {
        args.iter().map(|a| a.parse()).collect::<Result<_, _>>()?
    };
    let mut rows = Vec::new();
    for n in sizes {
        rows.push(run(n)?);
    }
    println!();
    println!(
        "| attendees | all see all (s) | seen pairs | relay RSS (MiB) | relay peak RSS (MiB) | relay CPU (s) | failed ops |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        println!("{r}");
    }
    Ok(())
}

/// The child: a relay on 127.0.0.1 with an ephemeral port; prints its address.
fn run_relay() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let listen = vec![format!("/ip4/127.0.0.1/tcp/{port}")];
        let c = meishi_relay::Config {
            external_addresses: listen.clone(),
            listen,
            metrics: None,
            ..Default::default()
        };
        let mut relay = meishi_relay::Relay::spawn(c).await?;
        println!("{}/p2p/{}", relay.listen_addrs()[0], relay.peer_id());
        relay.wait().await;
        anyhow::Ok(())
    })
}

fn proc_numbers(pid: u32) -> (f64, f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which is in parentheses): utime is 14th, stime 15th.
    let after = stat.rsplit_once(')').map(|(_, s)| s).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // Clock ticks are 100 per second on Linux.
    let cpu = (ticks(11) + ticks(12)) / 100.0;
    (kib("VmRSS:") / 1024.0, kib("VmHWM:") / 1024.0, cpu)
}

fn run(n: usize) -> anyhow::Result<String> {
    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .arg("relay")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let pid = child.id();
    let mut line = String::new();
    BufReader::new(
        child
            .stdout
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stdout"))?,
    )
    .read_line(&mut line)?;
    let relay: Multiaddr = line.trim().parse()?;
    let (rss0, _, cpu0) = proc_numbers(pid);
    eprintln!("{n} attendees on {relay} (relay RSS at start {rss0:.1} MiB)");

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = rt.block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<(usize, Event)>(4096);
        let mut nodes = Vec::new();
        let started = Instant::now();
        for i in 0..n {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&(i as u64 + 1).to_be_bytes());
            let id = Identity::from_seed(&seed);
            let name = format!("Attendee {i}");
            let card = SignedCard::sign(&id, 1, 1_700_000_000, &Card::new(name.clone()))?;
            let mut config = Config::new(id, card);
            config.teaser = Some(Teaser {
                name,
                headline: Some("at the event".into()),
            });
            config.relays = vec![relay.clone()];
            config.event_codes = vec![CODE.into()];
            config.limits = Limits {
                event_poll: Duration::from_secs(2),
                event_buffer: 64,
                ..Limits::default()
            };
            let (node, mut events) = Node::spawn(config)?;
            let tx = tx.clone();
            tokio::spawn(async move {
                while let Some(e) = events.recv().await {
                    if matches!(
                        e,
                        Event::AttendeeDiscovered { .. }
                            | Event::RelayDisconnected { .. }
                            | Event::Reserved { .. }
                    ) && tx.send((i, e)).await.is_err()
                    {
                        break;
                    }
                }
            });
            nodes.push(node);
        }
        drop(tx);
        eprintln!(
            "spawned {n} nodes in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let tenth = (n * (n - 1) / 10).max(1);
        let mut total = 0usize;
        let mut seen = vec![0usize; n];
        let mut reserved = 0usize;
        let mut disconnects = 0usize;
        let mut complete = 0usize;
        let deadline = tokio::time::Instant::now() + DEADLINE;
        while complete < n {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some((i, Event::AttendeeDiscovered { .. }))) => {
                    seen[i] += 1;
                    total += 1;
                    if total.is_multiple_of(tenth) {
                        eprintln!(
                            "{:.1} s: {total} pairs seen, {complete} attendees complete",
                            started.elapsed().as_secs_f64()
                        );
                    }
                    if seen[i] == n - 1 {
                        complete += 1;
                    }
                }
                Ok(Some((_, Event::Reserved { .. }))) => reserved += 1,
                Ok(Some((_, Event::RelayDisconnected { .. }))) => disconnects += 1,
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        let elapsed = started.elapsed();
        let pairs: usize = seen.iter().sum();
        let (rss, hwm, cpu) = proc_numbers(pid);
        // Failed operations: reservations that never came, lost relay connections, and
        // attendees that did not see everyone before the deadline.
        let failed = (n - reserved.min(n)) + disconnects + (n - complete);
        for node in &nodes {
            let _ = node.shutdown().await;
        }
        anyhow::Ok(format!(
            "| {n} | {} | {pairs}/{} | {rss:.1} | {hwm:.1} | {:.2} | {failed} |",
            if complete == n {
                format!("{:.1}", elapsed.as_secs_f64())
            } else {
                format!("not all ({complete}/{n})")
            },
            n * (n - 1),
            cpu - cpu0
        ))
    });
    let _ = child.kill();
    let _ = child.wait();
    result
}
