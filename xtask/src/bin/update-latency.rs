//! How long an edit takes to reach a contact once the contact comes online (issue 14),
//! measured the way a person sees it: real `meishi` processes and a relay on loopback.
//!
//! Setup: `meishi relay` on a free loopback port; two homes, Ada (the reference card) and Bob,
//! both `meishi card relays RELAY`; Ada runs `meishi up`, Bob `meishi swap`s with her, Ada
//! stops. Nobody is online together again. Then, each round:
//!
//! 1. Ada `meishi card edit --title …` (which publishes to her slot): its wall time;
//! 2. Bob `meishi up --listen /ip4/127.0.0.1/tcp/0 --no-mdns --no-ui --json`: the time from
//!    starting the process to its `listening` line (the baseline: what starting a node costs)
//!    and to its `contact_updated` line (the edit arrived), then Bob stops;
//! 3. Ada edits again; Bob `meishi contacts refresh --json`: its wall time until it exits with
//!    the `contact_updated` line, and that of a second refresh with nothing new.
//!
//! ```sh
//! cargo build --release --bin meishi && cargo build --release -p xtask --bin update-latency
//! target/release/update-latency [--rounds 20] [--meishi target/release/meishi]
//! ```
//!
//! Prints the median and the 90th percentile (nearest rank) of each, and the ratio of the
//! catch-up to the baseline from the same processes. Every process is a fresh start, as a
//! person's would be, so each includes loading the book and the keys.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// A test of a JSON line beside its `event`.
type Accept<'a> = dyn Fn(&Value) -> bool + 'a;

/// A running `meishi` whose stdout lines (JSON) arrive with the time they were read.
struct Proc {
    child: Child,
    started: Instant,
    lines: mpsc::Receiver<(Instant, Value)>,
}

impl Proc {
    fn start(mut cmd: Command) -> Result<Proc> {
        cmd.stdout(Stdio::piped()).stderr(Stdio::null());
        let started = Instant::now();
        let mut child = cmd.spawn().context("cannot start meishi")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    if tx.send((Instant::now(), v)).is_err() {
                        break;
                    }
                }
            }
        });
        Ok(Proc {
            child,
            started,
            lines,
        })
    }

    /// The first line whose `event` is `kind` and that `accept`s, and when it came after the
    /// start; `None` after `timeout`.
    fn wait_for(
        &self,
        kind: &str,
        timeout: Duration,
        accept: impl Fn(&Value) -> bool,
    ) -> Option<(Duration, Value)> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let (at, v) = self.lines.recv_timeout(left).ok()?;
            if v["event"] == kind && accept(&v) {
                return Some((at - self.started, v));
            }
        }
    }

    /// When each of `kinds` (an `event` and a test of the line) first came after the start, in
    /// whatever order they come; `None` for those not seen within `timeout`.
    fn wait_each(&self, kinds: &[(&str, &Accept<'_>)], timeout: Duration) -> Vec<Option<Duration>> {
        let deadline = Instant::now() + timeout;
        let mut found = vec![None; kinds.len()];
        while found.iter().any(Option::is_none) {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break;
            };
            let Ok((at, v)) = self.lines.recv_timeout(left) else {
                break;
            };
            for (slot, (kind, accept)) in found.iter_mut().zip(kinds) {
                if slot.is_none() && v["event"] == *kind && accept(&v) {
                    *slot = Some(at - self.started);
                }
            }
        }
        found
    }

    /// Stops the process as Ctrl-C does, so that it closes its book and control socket.
    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Meishi {
    bin: PathBuf,
}

impl Meishi {
    fn cmd(&self, home: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--home")
            .arg(home)
            .args(args)
            .env_remove("MEISHI_HOME");
        c
    }

    /// Runs to the end; fails unless it succeeds. Returns stdout and the wall time.
    fn run(&self, home: &Path, args: &[&str]) -> Result<(String, Duration)> {
        let t = Instant::now();
        let out = self
            .cmd(home, args)
            .output()
            .with_context(|| format!("cannot run meishi {args:?}"))?;
        let took = t.elapsed();
        if !out.status.success() {
            bail!(
                "meishi {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok((String::from_utf8_lossy(&out.stdout).into_owned(), took))
    }

    fn up(&self, home: &Path) -> Result<Proc> {
        Proc::start(self.cmd(
            home,
            &[
                "up",
                "--listen",
                "/ip4/127.0.0.1/tcp/0",
                "--no-mdns",
                "--no-ui",
                "--json",
            ],
        ))
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn json_lines(out: &str) -> Vec<Value> {
    out.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Ada's card: the reference card (shared/reference-cards/ada.json).
const ADA: &[&str] = &[
    "init",
    "--name",
    "Ada Lovelace",
    "--title",
    "Principal Engineer",
    "--org",
    "Analytical Engines Ltd",
    "--email",
    "ada@analytical.example",
    "--email",
    "ada.lovelace@personal.example",
    "--phone",
    "+44 20 7946 0958",
    "--url",
    "https://analytical.example/ada",
    "--social",
    "linkedin:ada-lovelace",
    "--social",
    "github:adalovelace",
    "--note",
    "Ask me about difference engines",
    "--tag",
    "rust",
    "--tag",
    "p2p",
];

/// Samples of one measurement, in seconds.
#[derive(Default)]
struct Samples(Vec<f64>);

impl Samples {
    fn push(&mut self, d: Duration) {
        self.0.push(d.as_secs_f64());
    }

    /// Nearest-rank percentile `p` (0 to 1).
    fn q(&self, p: f64) -> f64 {
        let mut v = self.0.clone();
        v.sort_by(f64::total_cmp);
        if v.is_empty() {
            return f64::NAN;
        }
        let rank = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len());
        v[rank - 1]
    }
}

struct Args {
    meishi: PathBuf,
    rounds: usize,
}

fn args() -> Result<Args> {
    const USAGE: &str = "usage: update-latency [--rounds N] [--meishi PATH]";
    let mut a = Args {
        meishi: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/release/meishi"),
        rounds: 20,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next().context(USAGE)?;
        match flag.as_str() {
            "--rounds" => a.rounds = v.parse()?,
            "--meishi" => a.meishi = PathBuf::from(v),
            _ => bail!(USAGE),
        }
    }
    if !a.meishi.is_file() {
        bail!(
            "no meishi binary at {}: run `cargo build --release --bin meishi` or pass --meishi",
            a.meishi.display()
        );
    }
    Ok(a)
}

const WAIT: Duration = Duration::from_secs(60);

fn main() -> Result<()> {
    let a = args()?;
    let m = Meishi { bin: a.meishi };
    let dir = tempfile::tempdir()?;
    let (relay_home, ada, bob) = (
        dir.path().join("relay"),
        dir.path().join("ada"),
        dir.path().join("bob"),
    );

    let listen = format!("/ip4/127.0.0.1/tcp/{}", free_port()?);
    let relay = Proc::start(m.cmd(
        &relay_home,
        &[
            "relay",
            "--listen",
            &listen,
            "--external-address",
            &listen,
            "--no-metrics",
            "--json",
        ],
    ))?;
    let (_, started) = relay
        .wait_for("listening", WAIT, |_| true)
        .context("the relay did not start")?;
    let relay_addr = started["addr"]
        .as_str()
        .context("relay address")?
        .to_owned();

    m.run(&ada, ADA)?;
    m.run(&bob, &["init", "--name", "Bob", "--note", "Bob's headline"])?;
    for h in [&ada, &bob] {
        m.run(h, &["card", "relays", &relay_addr])?;
    }
    let up_a = m.up(&ada)?;
    let (_, l) = up_a
        .wait_for("listening", WAIT, |v| {
            v["addr"]
                .as_str()
                .is_some_and(|a| !a.contains("p2p-circuit"))
        })
        .context("Ada's node did not start")?;
    let addr = l["addr"].as_str().context("Ada's address")?.to_owned();
    m.run(&bob, &["swap", &addr])?;
    up_a.stop();

    let (mut edit, mut listening, mut updated, mut refresh, mut refresh_idle) = (
        Samples::default(),
        Samples::default(),
        Samples::default(),
        Samples::default(),
        Samples::default(),
    );
    let mut failures = Vec::new();
    // Ada's card has seq 1 after init; every edit adds one.
    let mut seq = 1;
    for i in 1..=a.rounds {
        let (_, t) = m.run(&ada, &["card", "edit", "--title", &format!("T{i}a")])?;
        edit.push(t);
        seq += 1;
        let up_b = m.up(&bob)?;
        // The catch-up may report before the listener does: wait for both in any order.
        let got = up_b.wait_each(
            &[
                ("listening", &|_| true),
                ("contact_updated", &|v| v["seq"] == seq),
            ],
            WAIT,
        );
        match got[0] {
            Some(t) => listening.push(t),
            None => failures.push(format!("round {i}: Bob's up did not listen")),
        }
        match got[1] {
            Some(t) => updated.push(t),
            None => failures.push(format!(
                "round {i}: no contact_updated seq {seq} in Bob's up"
            )),
        }
        up_b.stop();

        let (_, t) = m.run(&ada, &["card", "edit", "--title", &format!("T{i}b")])?;
        edit.push(t);
        seq += 1;
        let (out, t) = m.run(&bob, &["contacts", "refresh", "--json"])?;
        if json_lines(&out)
            .iter()
            .any(|v| v["event"] == "contact_updated" && v["seq"] == seq)
        {
            refresh.push(t);
        } else {
            failures.push(format!(
                "round {i}: no contact_updated seq {seq} in refresh"
            ));
        }
        let (out, t) = m.run(&bob, &["contacts", "refresh", "--json"])?;
        if json_lines(&out)
            .iter()
            .any(|v| v["event"] == "contact_updated")
        {
            failures.push(format!("round {i}: a second refresh found an update"));
        }
        refresh_idle.push(t);
        eprintln!("round {i} of {} done", a.rounds);
    }
    relay.stop();

    println!(
        "{} rounds, meishi {}, relay and both homes on loopback",
        a.rounds,
        m.bin.display()
    );
    println!();
    println!("| measurement | samples | median | p90 | min | max |");
    println!("|---|---:|---:|---:|---:|---:|");
    let row = |what: &str, s: &Samples| {
        println!(
            "| {what} | {} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms |",
            s.0.len(),
            s.q(0.5) * 1e3,
            s.q(0.9) * 1e3,
            s.q(0.0) * 1e3,
            s.q(1.0) * 1e3
        );
    };
    row("Ada: `card edit` (includes the publish)", &edit);
    row("Bob: `up` start → `listening` (baseline)", &listening);
    row("Bob: `up` start → `contact_updated`", &updated);
    row("Bob: `contacts refresh` with the update", &refresh);
    row("Bob: `contacts refresh`, nothing new", &refresh_idle);
    println!();
    println!(
        "catch-up in `up`: median {:.1} ms after `listening` (contact_updated / listening = {:.2})",
        (updated.q(0.5) - listening.q(0.5)) * 1e3,
        updated.q(0.5) / listening.q(0.5)
    );
    println!(
        "failures: {}{}",
        failures.len(),
        if failures.is_empty() {
            String::new()
        } else {
            format!(" ({})", failures.join("; "))
        }
    );
    Ok(())
}
