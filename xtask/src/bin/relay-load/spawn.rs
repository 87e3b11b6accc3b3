//! The relays under test: `--spawn-fleet K` starts K `meishi relay` processes wired into one
//! fleet on 127.0.0.1; either way this module reads each relay's memory and CPU time from
//! /proc and its counters from its metrics endpoint.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use libp2p::{Multiaddr, PeerId};

type Error = Box<dyn std::error::Error>;

/// One relay under test: where attendees dial it and, when known, its process and metrics.
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: Multiaddr,
    pub id: PeerId,
    pub pid: Option<u32>,
    /// `host:port` of its metrics endpoint.
    pub metrics: Option<String>,
}

/// Relays this probe started; they are killed when it is dropped.
pub struct Spawned {
    pub targets: Vec<Target>,
    children: Vec<Child>,
    /// Homes and logs of the relays, kept after the run.
    pub dir: PathBuf,
}

impl Drop for Spawned {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn free_port() -> Result<u16, Error> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The `meishi` binary: `--meishi`, else the release build next to this workspace's target.
pub fn meishi_path(given: Option<&Path>) -> Result<PathBuf, Error> {
    let p = match given {
        Some(p) => p.to_path_buf(),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/meishi"),
    };
    if p.is_file() {
        Ok(p)
    } else {
        Err(format!(
            "no meishi binary at {}: run `cargo build --release -p meishi` or pass --meishi PATH",
            p.display()
        )
        .into())
    }
}

/// Starts `k` relays on 127.0.0.1, each listing all the others with `--peer` (`--no-store`,
/// metrics on a port of its own, logs in the kept directory), and waits until every relay has
/// a connection up to every other.
pub fn fleet(meishi: &Path, k: usize, config: Option<&Path>) -> Result<Spawned, Error> {
    let dir = tempfile::tempdir()?.keep();
    let mut plan = Vec::new();
    for i in 0..k {
        let home = dir.join(format!("relay-{i}"));
        std::fs::create_dir_all(&home)?;
        // The key the relay will load, made now so that the others can be given its peer id.
        let id = meishi_relay::key::load_or_create(&home.join("relay.key"))?
            .public()
            .to_peer_id();
        let listen = format!("/ip4/127.0.0.1/tcp/{}", free_port()?);
        let addr: Multiaddr = format!("{listen}/p2p/{id}").parse()?;
        let metrics = format!("127.0.0.1:{}", free_port()?);
        plan.push((home, listen, addr, id, metrics));
    }
    let mut spawned = Spawned {
        targets: Vec::new(),
        children: Vec::new(),
        dir: dir.clone(),
    };
    for (home, listen, addr, id, metrics) in &plan {
        let mut cmd = Command::new(meishi);
        cmd.arg("--home").arg(home).args([
            "relay",
            "--listen",
            listen,
            "--external-address",
            listen,
            "--metrics",
            metrics,
            "--no-store",
            "--json",
        ]);
        if let Some(c) = config {
            cmd.arg("--config").arg(c);
        }
        if k > 1 {
            for (_, _, other, _, _) in &plan {
                cmd.arg("--peer").arg(other.to_string());
            }
        }
        let log = std::fs::File::create(home.join("relay.log"))?;
        let mut child = cmd
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let pid = child.id();
        spawned.children.push(child);
        // The first line is `{"event":"listening",…}` once it is bound.
        let mut line = String::new();
        let mut out = BufReader::new(stdout);
        out.read_line(&mut line)?;
        // Later lines are read and dropped: a closed pipe would fail the relay's next print.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        if !line.contains("\"listening\"") {
            return Err(format!(
                "relay {i} did not start (see {}): {line}",
                home.join("relay.log").display(),
                i = spawned.targets.len()
            )
            .into());
        }
        spawned.targets.push(Target {
            addr: addr.clone(),
            id: *id,
            pid: Some(pid),
            metrics: Some(metrics.clone()),
        });
    }
    if k > 1 {
        let deadline = Instant::now() + Duration::from_secs(60);
        for t in &spawned.targets {
            let m = t.metrics.as_deref().unwrap_or_default();
            while scrape(m).map_or(0.0, |text| sum(&text, "meishi_relay_fleet_connected"))
                < (k - 1) as f64
            {
                if Instant::now() > deadline {
                    return Err("the spawned relays did not connect to each other".into());
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    Ok(spawned)
}

/// A process's memory and CPU time.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcStat {
    /// Resident now (VmRSS), KiB.
    pub rss_kb: u64,
    /// Peak resident (VmHWM), KiB.
    pub hwm_kb: u64,
    /// User and system CPU time (utime + stime), seconds.
    pub cpu_s: f64,
}

/// Reads `/proc/PID/status` and `/proc/PID/stat`.
pub fn proc_stat(pid: u32) -> Option<ProcStat> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb = |key: &str| -> Option<u64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 (utime, stime) are the 12th and 13th after the command name.
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ProcStat {
        rss_kb: kb("VmRSS:")?,
        hwm_kb: kb("VmHWM:")?,
        cpu_s: ticks as f64 / 100.0,
    })
}

/// The relay's metrics as Prometheus text, from its metrics endpoint.
pub fn scrape(addr: &str) -> Option<String> {
    let mut text = String::new();
    let got = std::net::TcpStream::connect(addr).and_then(|mut c| {
        c.set_read_timeout(Some(Duration::from_secs(10)))?;
        c.write_all(b"GET /metrics HTTP/1.0\r\n\r\n")?;
        c.read_to_string(&mut text)
    });
    got.ok().map(|_| text)
}

/// The sum of every sample of metric `name` (all label sets) in Prometheus text.
pub fn sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let metric = series.split('{').next()?;
            (metric == name).then(|| value.trim().parse::<f64>().ok())?
        })
        .fold(0.0, |a, b| a + b)
}

/// The samples of metric `name` whose labels contain `label` (`key="value"`), summed.
pub fn sum_with(text: &str, name: &str, label: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(label))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            (series.split('{').next()? == name).then(|| value.trim().parse::<f64>().ok())?
        })
        .fold(0.0, |a, b| a + b)
}

/// The relay's nonzero refusal counters, as `service/cap n`.
pub fn refusals(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("meishi_relay_refusals_total{")?;
            let (labels, value) = rest.rsplit_once("} ")?;
            let n: f64 = value.trim().parse().ok()?;
            let get = |k: &str| {
                labels
                    .split(',')
                    .find_map(|kv| kv.strip_prefix(k)?.strip_prefix("=\""))
                    .map(|v| v.trim_end_matches('"').to_owned())
            };
            if n <= 0.0 {
                return None;
            }
            Some(format!("{}/{} {n}", get("service")?, get("cap")?))
        })
        .collect()
}

/// What a relay's metrics say at the end of a run.
#[derive(Debug, Default)]
pub struct RelayCounts {
    pub reservations: f64,
    /// Established minus closed (libp2p's swarm counters).
    pub connections: f64,
    pub board_entries: f64,
    pub registrations: f64,
    pub refusals: Vec<String>,
    /// `meishi_relay_fleet_publishes_total` by outcome.
    pub publishes: Vec<(String, f64)>,
    /// `meishi_relay_fleet_entries_total` by outcome, over peers and ways.
    pub fleet_entries: Vec<(String, f64)>,
    /// `meishi_relay_requests_total{outcome="rate_limited"}`, all services.
    pub rate_limited: f64,
    /// Gossipsub messages to fleet peers dropped with their send queue full.
    pub gossip_dropped: f64,
}

pub fn counts(text: &str) -> RelayCounts {
    let by_outcome = |name: &str, outcomes: &[&str]| -> Vec<(String, f64)> {
        outcomes
            .iter()
            .map(|o| {
                let v = sum_with(text, name, &format!("outcome=\"{o}\""));
                ((*o).to_owned(), v)
            })
            .filter(|(_, v)| *v > 0.0)
            .collect()
    };
    RelayCounts {
        reservations: sum(text, "meishi_relay_reservations"),
        connections: sum(text, "libp2p_swarm_connections_established_total")
            - sum(text, "libp2p_swarm_connections_duration_seconds_count"),
        board_entries: sum(text, "meishi_relay_board_entries"),
        registrations: sum(text, "meishi_relay_registrations"),
        refusals: refusals(text),
        publishes: by_outcome(
            "meishi_relay_fleet_publishes_total",
            &["sent", "no_peers", "duplicate", "failed"],
        ),
        fleet_entries: by_outcome(
            "meishi_relay_fleet_entries_total",
            &[
                "received", "applied", "stale", "refused", "rejected", "removed",
            ],
        ),
        rate_limited: sum_with(
            text,
            "meishi_relay_requests_total",
            "outcome=\"rate_limited\"",
        ),
        gossip_dropped: sum(text, "meishi_relay_fleet_dropped_total"),
    }
}
