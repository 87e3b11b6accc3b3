//! The flood from network namespaces (`soak flood --netns`, as root): the relay, the
//! legitimate attendees, the givers and the flooders each in namespaces of their own, on
//! TEST-NET addresses, so that the relay counts every flooding host apart from the attendees
//! and its per-host caps can fire.
//!
//! ```text
//!                  relay namespace: bridge 198.51.100.1/24, 203.0.113.1/24, 192.0.2.1/24
//!                  (`meishi relay`, default limits, metrics on 198.51.100.1:9464)
//!        ┌──────────────────┬──────────────────┬───────────────────────────┐
//!   attendees            givers          flooders 0                   flooders 1 …
//!   203.0.113.2          192.0.2.2       198.51.100.10, .30           198.51.100.11, .12, .31
//!   (this tool: resident (meishi nodes)  (one worker process each; one host per address)
//!    and newcomers)
//! ```
//!
//! The tool started by the person ([`outer`]) only builds the namespaces, runs a copy of
//! itself inside the attendees' namespace ([`inner`]: the relay, the workers, the trials and
//! the report) and removes the namespaces when that copy ends, fails, or on Ctrl-C / SIGTERM
//! (and on a panic, by unwinding). Namespaces are named `msk<pid>-…` after its process id; a
//! run finds and removes those of earlier runs whose process is gone (killed with SIGKILL).
//! The relay namespace does not forward: the givers cannot reach the attendees but through the
//! relay's circuits, as across the internet.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use libp2p::Multiaddr;
use tokio::sync::watch;

use super::worker::{HostSpec, Role, SUBCOMMAND};
use super::{
    legit, meishi_path, print_comparison, scrape, snapshot, trial, Args, Proc, Trial, BOUND,
};

/// The relay's address (on the bridge) and where it listens.
const RELAY_IP: &str = "198.51.100.1";
const RELAY_LISTEN: &str = "/ip4/198.51.100.1/tcp/4001";
const RELAY_METRICS: &str = "198.51.100.1:9464";
/// The legitimate attendees' host (resident and newcomers: one address, as behind a NAT).
const LEGIT: (&str, &str) = ("203.0.113.2/24", "203.0.113.1");
const LEGIT_LISTEN: &str = "/ip4/203.0.113.2/tcp/0";
/// The givers' host.
const GIVERS: (&str, &str) = ("192.0.2.2/24", "192.0.2.1");
/// The bridge's address in each network.
const BRIDGE: [&str; 3] = ["198.51.100.1/24", "203.0.113.1/24", "192.0.2.1/24"];
/// Namespaces of this tool start with this, then the process id of the run that made them.
const PREFIX: &str = "msk";

/// How hard each flooding host pushes (`--reserve-peers`, `--fill-hosts`, …).
#[derive(Clone, Debug)]
pub struct Plan {
    /// Reserving hosts (198.51.100.10, then .20, .21, …): two of them can hold every
    /// reservation the relay has (2,048).
    pub reserve_hosts: usize,
    /// Peer ids of each reserving host: more than the relay's connections per host (1,024)
    /// take, so that cap refuses the rest.
    pub reserve_peers: usize,
    /// Reservations each of them asks for (the per-host reservation bucket holds 1,024).
    pub reservations: usize,
    /// Hosts that register and post without reserving.
    pub fill_hosts: usize,
    pub fill_peers: usize,
    /// Random namespaces each reserving or filling peer registers and posts in, besides the
    /// event's.
    pub others: usize,
    /// Requests per second of each reserving or filling host (under the relay's 250 per
    /// second per host, so its stores' caps are what refuses).
    pub fill_rate: f64,
    /// The host of cheap requests: peer ids, and requests per second each.
    pub rate_peers: usize,
    pub rate: f64,
    /// The host of circuit requests: peer ids, and requests per second each.
    pub circuit_peers: usize,
    pub circuit_rate: f64,
    /// Rounds per second of each giver (a round: a fresh identity gives to every attendee
    /// the givers know of and fetches their cards).
    pub give_rate: f64,
    /// Flooder namespaces the hosts are spread over.
    pub namespaces: usize,
}

impl Default for Plan {
    fn default() -> Self {
        Plan {
            reserve_hosts: 1,
            reserve_peers: 1100,
            reservations: 2,
            fill_hosts: 2,
            fill_peers: 800,
            others: 2,
            fill_rate: 200.0,
            rate_peers: 80,
            rate: 6.0,
            circuit_peers: 24,
            circuit_rate: 20.0,
            give_rate: 2.0,
            namespaces: 2,
        }
    }
}

impl Plan {
    /// The flooding hosts, each with the flooder namespace (index) it runs in.
    fn hosts(&self) -> Vec<(usize, HostSpec)> {
        let ip = |last: u8| Ipv4Addr::new(198, 51, 100, last);
        let mut hosts = Vec::new();
        for k in 0..self.reserve_hosts.min(10) {
            hosts.push(HostSpec {
                role: Role::Reserve,
                ip: ip(if k == 0 { 10 } else { 19 + k as u8 }),
                peers: self.reserve_peers,
                rate: self.fill_rate,
            });
        }
        for k in 0..self.fill_hosts {
            hosts.push(HostSpec {
                role: Role::Fill,
                ip: ip(11 + k as u8),
                peers: self.fill_peers,
                rate: self.fill_rate,
            });
        }
        if self.rate_peers > 0 {
            hosts.push(HostSpec {
                role: Role::Rate,
                ip: ip(30),
                peers: self.rate_peers,
                rate: self.rate,
            });
        }
        if self.circuit_peers > 0 {
            hosts.push(HostSpec {
                role: Role::Circuits,
                ip: ip(31),
                peers: self.circuit_peers,
                rate: self.circuit_rate,
            });
        }
        let n = self.namespaces.max(1);
        hosts
            .into_iter()
            .enumerate()
            .map(|(i, h)| (i % n, h))
            .collect()
    }
}

/// The names of one run's namespaces and links.
struct Names {
    relay: String,
    legit: String,
    givers: String,
    flood: Vec<String>,
    /// Interface names (at most 15 bytes): `mk<id>br`, `mk<id><tag>a` / `…b`.
    link: String,
}

impl Names {
    fn new(id: u32, flood: usize) -> Self {
        let ns = |tag: &str| format!("{PREFIX}{id}-{tag}");
        Names {
            relay: ns("relay"),
            legit: ns("legit"),
            givers: ns("give"),
            flood: (0..flood).map(|i| ns(&format!("f{i}"))).collect(),
            link: format!("mk{id}"),
        }
    }

    fn all(&self) -> Vec<String> {
        let mut v = vec![self.relay.clone(), self.legit.clone(), self.givers.clone()];
        v.extend(self.flood.iter().cloned());
        v
    }
}

fn sh(args: &[&str]) -> Result<String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .with_context(|| format!("cannot run {}", args[0]))?;
    if !out.status.success() {
        bail!(
            "`{}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Kills what still runs in namespace `ns` (all of it started by this tool) and deletes it.
fn remove(ns: &str) {
    if let Ok(pids) = sh(&["ip", "netns", "pids", ns]) {
        for pid in pids.split_whitespace() {
            let _ = sh(&["kill", "-KILL", pid]);
        }
    }
    let _ = sh(&["ip", "netns", "delete", ns]);
}

/// The namespaces of one run; removed (with whatever still runs in them) when dropped.
struct Topology {
    names: Vec<String>,
}

impl Drop for Topology {
    fn drop(&mut self) {
        for n in self.names.iter().rev() {
            remove(n);
        }
        if !self.names.is_empty() {
            eprintln!("removed the namespaces {PREFIX}{}-*", std::process::id());
        }
    }
}

/// Removes namespaces of earlier runs whose process is gone.
fn sweep() {
    let Ok(list) = sh(&["ip", "netns", "list"]) else {
        return;
    };
    for name in list.lines().filter_map(|l| l.split_whitespace().next()) {
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let Some((pid, _)) = rest.split_once('-') else {
            continue;
        };
        // Gone, a zombie (no command line), or a reused id: not a run of this tool.
        let alive = std::fs::read(Path::new("/proc").join(pid).join("cmdline"))
            .is_ok_and(|c| c.windows(4).any(|w| w == b"soak"));
        if pid.parse::<u32>().is_ok() && !alive {
            eprintln!("removing {name}, left by an earlier run");
            remove(name);
        }
    }
}

/// Builds the namespaces of run `id`: a bridge in the relay's, and one veth into it from each
/// other namespace, with that namespace's addresses and a default route via the bridge.
fn build(id: u32, plan: &Plan) -> Result<Topology> {
    let n = Names::new(id, plan.namespaces);
    let mut topo = Topology { names: Vec::new() };
    for ns in n.all() {
        sh(&["ip", "netns", "add", &ns])?;
        topo.names.push(ns.clone());
        sh(&["ip", "-n", &ns, "link", "set", "lo", "up"])?;
    }
    let br = format!("{}br", n.link);
    sh(&["ip", "-n", &n.relay, "link", "add", &br, "type", "bridge"])?;
    for a in BRIDGE {
        sh(&["ip", "-n", &n.relay, "addr", "add", a, "dev", &br])?;
    }
    sh(&["ip", "-n", &n.relay, "link", "set", &br, "up"])?;
    let hosts = plan.hosts();
    let mut legs: Vec<(String, String, Vec<String>, &str)> = vec![
        (n.legit.clone(), "l".into(), vec![LEGIT.0.into()], LEGIT.1),
        (
            n.givers.clone(),
            "g".into(),
            vec![GIVERS.0.into()],
            GIVERS.1,
        ),
    ];
    for (i, ns) in n.flood.iter().enumerate() {
        let addrs = hosts
            .iter()
            .filter(|(k, _)| *k == i)
            .map(|(_, h)| format!("{}/24", h.ip))
            .collect();
        legs.push((ns.clone(), format!("f{i}"), addrs, RELAY_IP));
    }
    for (ns, tag, addrs, gw) in legs {
        let (a, b) = (format!("{}{tag}a", n.link), format!("{}{tag}b", n.link));
        sh(&[
            "ip", "-n", &n.relay, "link", "add", &a, "type", "veth", "peer", "name", &b, "netns",
            &ns,
        ])?;
        sh(&["ip", "-n", &n.relay, "link", "set", &a, "master", &br])?;
        sh(&["ip", "-n", &n.relay, "link", "set", &a, "up"])?;
        for addr in &addrs {
            sh(&["ip", "-n", &ns, "addr", "add", addr, "dev", &b])?;
        }
        sh(&["ip", "-n", &ns, "link", "set", &b, "up"])?;
        sh(&["ip", "-n", &ns, "route", "add", "default", "via", gw])?;
    }
    Ok(topo)
}

/// Why the namespace mode cannot run here, if it cannot.
fn unavailable() -> Option<String> {
    match sh(&["id", "-u"]) {
        Ok(uid) if uid.trim() == "0" => {}
        _ => return Some("--netns needs root (it creates network namespaces)".into()),
    }
    if sh(&["ip", "-V"]).is_err() {
        return Some("`ip` is missing (apt-get install iproute2)".into());
    }
    None
}

/// `soak flood --netns`: builds the namespaces, runs [`inner`] inside the attendees' one, and
/// removes them at the end, on failure, Ctrl-C or SIGTERM.
pub fn outer(a: &Args) -> Result<()> {
    if let Some(why) = unavailable() {
        bail!("{why}");
    }
    sweep();
    let id = std::process::id();
    let topo = build(id, &a.plan).context("cannot build the network namespaces")?;
    let names = Names::new(id, a.plan.namespaces);
    // The same arguments, for the flood only, plus the run's id.
    let mut forward: Vec<String> = std::env::args()
        .skip(1)
        .filter(|x| !matches!(x.as_str(), "all" | "flood" | "crash" | "--netns"))
        .collect();
    forward.extend(["flood".into(), "--netns-inner".into(), id.to_string()]);
    let exe = std::env::current_exe()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let done = rt.block_on(async {
        let mut child = tokio::process::Command::new("ip")
            .args(["netns", "exec", &names.legit])
            .arg(&exe)
            .args(&forward)
            .kill_on_drop(true)
            .spawn()
            .context("cannot run the flood in its namespace")?;
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            s = child.wait() => match s? {
                s if s.success() => Ok(()),
                s => Err(anyhow::anyhow!("the flood ended with {s}")),
            },
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
            _ = term.recv() => Err(anyhow::anyhow!("terminated")),
        }
    });
    drop(topo);
    done
}

/// A worker process (`soak flood-worker` in a namespace) and its stdin.
struct Worker {
    proc: Proc,
    stdin: Arc<Mutex<Option<ChildStdin>>>,
    hosts: Vec<HostSpec>,
}

impl Worker {
    fn start(
        ns: &str,
        relay: &Multiaddr,
        hosts: Vec<HostSpec>,
        (others, reservations): (usize, usize),
        log: &Path,
    ) -> Result<Worker> {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns])
            .arg(std::env::current_exe()?)
            .args([SUBCOMMAND, "--relay", &relay.to_string()])
            .args(["--others", &others.to_string()])
            .args(["--reservations", &reservations.to_string()])
            .stdin(Stdio::piped());
        for h in &hosts {
            cmd.args(["--host", &h.to_string()]);
        }
        let mut proc = Proc::spawn(cmd, log).context("cannot start a flood worker")?;
        let stdin = Arc::new(Mutex::new(proc.child.stdin.take()));
        Ok(Worker { proc, stdin, hosts })
    }

    fn send(&self, line: &str) {
        if let Ok(mut g) = self.stdin.lock() {
            if let Some(w) = g.as_mut() {
                let _ = writeln!(w, "{line}");
            }
        }
    }
}

/// The relay's metrics as `name{labels}` → value.
fn metrics() -> BTreeMap<String, f64> {
    let text = scrape(RELAY_METRICS).unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with("meishi_relay_"))
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_owned(), v.parse().ok()?))
        })
        .collect()
}

/// `(service, cap)` of a refusal counter line's key.
fn cap_labels(key: &str) -> Option<(String, String)> {
    let labels = key
        .strip_prefix("meishi_relay_refusals_total{")?
        .strip_suffix('}')?;
    let mut service = String::new();
    let mut cap = String::new();
    for kv in labels.split(',') {
        let (k, v) = kv.split_once('=')?;
        let v = v.trim_matches('"').to_owned();
        match k {
            "service" => service = v,
            "cap" => cap = v,
            _ => {}
        }
    }
    Some((service, cap))
}

/// What each cap means, for the report.
fn cap_meaning(service: &str, cap: &str) -> &'static str {
    match (service, cap) {
        ("connections", "connections_per_host") => "connections per host (1,024)",
        ("connections", "connections_per_site") => "connections per site (2,048)",
        ("reservations", "rate_per_ip") => "reservations per host: 1,024, then 1 per s",
        ("reservations", "rate_per_peer") => "reservations per peer id: 8, then 1 per 30 s",
        ("reservations", "per_peer") => "reservations held per peer id (4)",
        ("reservations", "total") => "reservations held in all (2,048)",
        ("reservations", "reservations_per_host") => "reservations held per host (512)",
        ("reservations", "reservation_site_share") => {
            "a site's share of reservations (64) once the relay holds half (1,024)"
        }
        ("circuits", "rate_per_ip") => "circuits per host: 2,048, then 20 per s",
        ("circuits", "rate_per_peer") => "circuits per peer id: 128, then 1 per s",
        ("circuits", "per_peer") => "circuits open per peer id (16)",
        ("circuits", "total") => "circuits open in all (512)",
        (_, "request_rate_per_host") => "requests per host: 1,024, then 250 per s",
        (_, "request_rate_per_peer") => "requests per peer id: 64, then 4 per s",
        (_, "per_host") => "entries per host (2,048)",
        (_, "per_peer") => "entries per peer id (8)",
        (_, "site_share_namespace") => {
            "a site's share of one event (128) once the event is half full (2,048)"
        }
        (_, "site_share") => "a site's share of the store (512) once it is half full",
        (_, "per_namespace") => "entries per event (4,096)",
        (_, "total") => "entries in all (16,384)",
        _ => "",
    }
}

/// Waits (off the runtime's threads) for a `kind` line of `p` since `after`.
fn wait_line(p: &Proc, kind: &str, after: Instant, timeout: Duration) -> Option<serde_json::Value> {
    tokio::task::block_in_place(|| p.wait_for(kind, after, timeout)).map(|(_, v)| v)
}

/// The flood, inside the attendees' namespace: the relay and the workers in theirs, the
/// trials here, then the report.
pub async fn inner(a: &Args, id: u32) -> Result<()> {
    let n = Names::new(id, a.plan.namespaces);
    let meishi = meishi_path(a)?;
    let root = tempfile::tempdir()?.keep();
    let logs = root.join("logs");
    std::fs::create_dir_all(&logs)?;
    let t0 = Instant::now();
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &n.relay])
        .arg(&meishi)
        .arg("--home")
        .arg(root.join("relay"))
        .args(["relay", "--listen", RELAY_LISTEN])
        .args(["--external-address", RELAY_LISTEN])
        .args(["--metrics", RELAY_METRICS, "--json"])
        .env_remove("MEISHI_HOME")
        // Every refused reservation and circuit is an `info` line: thousands.
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null());
    let relay_proc = Proc::spawn(cmd, &logs.join("relay.log")).context("cannot start the relay")?;
    let v = wait_line(&relay_proc, "listening", t0, Duration::from_secs(30))
        .context("the relay did not start")?;
    let relay: Multiaddr = v["addr"].as_str().context("no relay address")?.parse()?;
    let hosts = a.plan.hosts();
    println!("## flood from network namespaces: relay {relay}");
    println!();
    println!(
        "`meishi relay` (default limits) in namespace {}; the legitimate attendees (resident and \
         newcomers) on {} in {}; logs in {}",
        n.relay,
        LEGIT.0,
        n.legit,
        logs.display()
    );
    println!();
    println!("| host | namespace | role | peer ids | what each does |");
    println!("|---|---|---|---:|---|");
    let others = a.plan.others;
    let stores = (others, a.plan.reservations);
    for (k, h) in &hosts {
        let what = match h.role {
            Role::Reserve => format!(
                "reserves {} time(s), then like fill (at most {} requests/s for the host)",
                a.plan.reservations, a.plan.fill_rate
            ),
            Role::Fill => format!(
                "registers and posts in the event and {others} random namespaces (at most {} \
                 requests/s for the host), then stays",
                h.rate
            ),
            Role::Rate => format!(
                "{} cheap requests/s (discover or read one entry of an empty namespace)",
                h.rate
            ),
            Role::Circuits => format!("{} circuit requests/s to random peer ids", h.rate),
            Role::Give => String::new(),
        };
        println!(
            "| {} | {} | {} | {} | {what} |",
            h.ip,
            n.flood[*k],
            h.role.name(),
            h.peers
        );
    }
    println!(
        "| {} | {} | give | {} | {} rounds/s: gives its card to the attendees over the relay and \
         fetches theirs, a new identity per round |",
        GIVERS.0.trim_end_matches("/24"),
        n.givers,
        a.givers,
        a.plan.give_rate
    );
    println!();

    let (targets_tx, mut targets_rx) = watch::channel(Vec::new());
    let resident = legit(&relay, "Resident", LEGIT_LISTEN)?;
    let t_res = Instant::now();
    while resident.1.lock().is_ok_and(|s| s.circuit.is_none()) && t_res.elapsed() < BOUND {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut baseline: Vec<Trial> = Vec::new();
    for k in 0..a.runs {
        let t = trial(&relay, LEGIT_LISTEN, &resident, &targets_tx, k).await?;
        eprintln!(
            "baseline {}: swapped after {}",
            k + 1,
            super::secs(t.swapped)
        );
        baseline.push(t);
    }

    // The flood.
    let before = metrics();
    let t_flood = Instant::now();
    let mut workers = Vec::new();
    for (i, ns) in n.flood.iter().enumerate() {
        let mine: Vec<HostSpec> = hosts
            .iter()
            .filter(|(k, _)| *k == i)
            .map(|(_, h)| h.clone())
            .collect();
        if !mine.is_empty() {
            let log = logs.join(format!("worker-f{i}.log"));
            workers.push(Worker::start(ns, &relay, mine, stores, &log)?);
        }
    }
    let givers = HostSpec {
        role: Role::Give,
        ip: GIVERS.0.trim_end_matches("/24").parse()?,
        peers: a.givers,
        rate: a.plan.give_rate,
    };
    let give = Worker::start(
        &n.givers,
        &relay,
        vec![givers],
        stores,
        &logs.join("worker-give.log"),
    )?;
    // The attendees the givers go for, as the trials change them.
    let give_in = give.stdin.clone();
    let forward = tokio::spawn(async move {
        while targets_rx.changed().await.is_ok() {
            let line: Vec<String> = targets_rx
                .borrow()
                .iter()
                .flat_map(|(p, a): &(libp2p::PeerId, Multiaddr)| [p.to_string(), a.to_string()])
                .collect();
            if let Ok(mut g) = give_in.lock() {
                if let Some(w) = g.as_mut() {
                    let _ = writeln!(w, "targets {}", line.join(" "));
                }
            }
        }
    });
    workers.push(give);
    let expected: usize = workers.iter().map(|w| w.hosts.len()).sum();
    let deadline = Instant::now() + Duration::from_secs(240);
    let mut told = std::collections::HashSet::new();
    loop {
        let lines: Vec<serde_json::Value> = workers
            .iter()
            .flat_map(|w| w.proc.all("ready"))
            .map(|(_, v)| v)
            .collect();
        for v in &lines {
            let host = v["host"].as_str().unwrap_or_default();
            if told.insert(host.to_owned()) {
                eprintln!(
                    "  {host} ({}) set up after {:.1} s",
                    v["role"].as_str().unwrap_or_default(),
                    v["secs"].as_f64().unwrap_or(0.0)
                );
            }
        }
        let ready = lines.len();
        if ready >= expected || Instant::now() > deadline {
            eprintln!(
                "{ready} of {expected} flooding hosts set up after {:.1} s",
                t_flood.elapsed().as_secs_f64()
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let setup_secs = t_flood.elapsed().as_secs_f64();
    if let Some(c) = resident.1.lock().ok().and_then(|s| s.circuit.clone()) {
        targets_tx.send_replace(vec![(resident.0.peer_id(), c)]);
    }
    tokio::time::sleep(a.warmup).await;
    let mut flooded = Vec::new();
    for k in 0..a.runs {
        let t = trial(&relay, LEGIT_LISTEN, &resident, &targets_tx, 100 + k).await?;
        eprintln!(
            "under flood {}: swapped after {}",
            k + 1,
            super::secs(t.swapped)
        );
        flooded.push(t);
    }
    let during = metrics();
    let (res_refusals, res_strangers) = snapshot(&resident.1);
    let _ = resident.0.shutdown().await;
    let t_stop = Instant::now();
    for w in &workers {
        w.send("stop");
    }
    for w in &workers {
        if wait_line(&w.proc, "done", t_stop, Duration::from_secs(40)).is_none() {
            eprintln!("a flood worker did not report its counts");
        }
    }
    let flood_secs = t_flood.elapsed().as_secs_f64();
    let after = metrics();
    forward.abort();
    drop(relay_proc);

    print_comparison(&baseline, &flooded);
    println!();
    println!(
        "The flood lasted {flood_secs:.0} s (the hosts were set up after {setup_secs:.0} s, then \
         {} s of warm-up, then the trials).",
        a.warmup.as_secs()
    );
    println!();
    println!("| host | role | request | sent | answered ok | refused | no answer |");
    println!("|---|---|---|---:|---:|---:|---:|");
    for w in &workers {
        for (_, v) in w.proc.all("tally") {
            let host = v["host"].as_str().unwrap_or_default();
            let role = w
                .hosts
                .iter()
                .find(|h| h.ip.to_string() == host)
                .map_or("", |h| h.role.name());
            println!(
                "| {host} | {role} | {} | {} | {} | {} | {} |",
                v["kind"].as_str().unwrap_or_default(),
                v["sent"],
                v["ok"],
                v["refused"],
                v["no_answer"]
            );
        }
    }
    for w in &workers {
        for (_, v) in w.proc.all("give_outcomes") {
            if let Some(m) = v["outcomes"].as_object() {
                println!();
                println!(
                    "givers' outcomes: {}",
                    m.iter()
                        .map(|(k, v)| format!("{k}: {v}"))
                        .collect::<Vec<_>>()
                        .join("; ")
                );
            }
        }
    }
    println!();
    println!(
        "resident attendee over the whole run: {res_strangers} cards kept; refused: {}",
        res_refusals
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join("; ")
    );
    if after.is_empty() {
        println!();
        println!("(the relay's metrics could not be read at {RELAY_METRICS})");
        return Ok(());
    }
    let delta =
        |k: &str| after.get(k).copied().unwrap_or(0.0) - before.get(k).copied().unwrap_or(0.0);
    println!();
    println!("The relay's refusals during the flood, by cap (`meishi_relay_refusals_total`):");
    println!();
    println!("| service | cap | refused | the cap |");
    println!("|---|---|---:|---|");
    let mut any = false;
    for k in after.keys() {
        let Some((service, cap)) = cap_labels(k) else {
            continue;
        };
        let d = delta(k);
        if d > 0.0 {
            any = true;
            println!(
                "| {service} | {cap} | {d:.0} | {} |",
                cap_meaning(&service, &cap)
            );
        }
    }
    if !any {
        println!("| — | — | 0 | no cap fired |");
    }
    println!();
    println!("Other relay counters during the flood (nonzero), and its gauges before the flooders stopped:");
    println!();
    println!("```");
    for k in after.keys() {
        let counter = k.starts_with("meishi_relay_requests_total{")
            || k.starts_with("meishi_relay_connections_denied_total");
        if counter && delta(k) > 0.0 {
            println!("{k} {:.0}", delta(k));
        }
    }
    for k in [
        "meishi_relay_reservations",
        "meishi_relay_registrations",
        "meishi_relay_board_entries",
        "meishi_relay_namespaces",
        "meishi_relay_circuits",
    ] {
        if let Some(v) = during.get(k) {
            println!("{k} {v:.0}");
        }
    }
    println!("```");
    drop(workers);
    Ok(())
}
