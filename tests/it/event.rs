//! Events through a relay as real processes on loopback: `meishi relay`, two `meishi up --relay
//! … --event …`, and `meishi event CODE --relay … --swap-all` from a third home. Nobody's node
//! is dialed directly: every address handed out is a circuit address on the relay.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::cli::Home;

const CODE: &str = "m4kq-7xpa-z2re-9hwd-c5tn";

/// A running `meishi` process with JSON lines on stdout, killed when dropped.
pub(crate) struct Proc {
    child: Child,
    lines: mpsc::Receiver<Value>,
    /// Where its stderr goes, if kept: shown when a wait fails.
    stderr: Option<std::path::PathBuf>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    pub(crate) fn start(home: &Home, args: &[&str]) -> Proc {
        let mut cmd = home.cmd(args);
        // Next to the home, one file per process (a home may run one after another).
        let dir = home.path.parent().expect("a home in a temporary directory");
        let n = std::fs::read_dir(dir).map_or(0, |d| d.count());
        let path = dir.join(format!("stderr-{n}.log"));
        let file = std::fs::File::create(&path).expect("a stderr file");
        cmd.stdout(Stdio::piped()).stderr(file);
        let mut p = Proc::spawned(cmd);
        p.stderr = Some(path);
        p
    }

    /// The end of what the process wrote to stderr, when it is kept.
    fn stderr_tail(&self) -> String {
        let Some(text) = self
            .stderr
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
        else {
            return String::new();
        };
        let from = text.len().saturating_sub(4_000);
        let from = (from..text.len())
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(text.len());
        format!("; its stderr ends with:\n{}", &text[from..])
    }

    fn spawned(mut cmd: std::process::Command) -> Proc {
        let mut child = cmd.spawn().expect("meishi starts");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    if tx.send(v).is_err() {
                        break;
                    }
                }
            }
        });
        Proc {
            child,
            lines,
            stderr: None,
        }
    }

    /// The next event of this kind (generous bound: the suite runs on a loaded machine).
    /// Other events do not extend the wait past three minutes in all.
    pub(crate) fn wait_for(&self, kind: &str) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(180);
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left.min(Duration::from_secs(60))) {
                Ok(v) if v["event"] == kind => return v,
                Ok(v) => seen.push(v),
                Err(e) => panic!("no {kind} event: {e}; saw {seen:?}{}", self.stderr_tail()),
            }
        }
    }
}

impl Proc {
    /// The first event of each kind, in any order (same bound as [`Proc::wait_for`]).
    pub(crate) fn wait_for_each(&self, kinds: &[&str]) -> Vec<Value> {
        let deadline = std::time::Instant::now() + Duration::from_secs(180);
        let mut found: Vec<Option<Value>> = vec![None; kinds.len()];
        let mut seen = Vec::new();
        while found.iter().any(Option::is_none) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left.min(Duration::from_secs(60))) {
                Ok(v) => match kinds.iter().position(|k| v["event"] == *k) {
                    Some(i) if found[i].is_none() => found[i] = Some(v),
                    _ => seen.push(v),
                },
                Err(e) => panic!(
                    "not all of {kinds:?}: {e}; got {found:?}, saw {seen:?}{}",
                    self.stderr_tail()
                ),
            }
        }
        found.into_iter().flatten().collect()
    }
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A `meishi relay` on a free loopback port; its address to give attendees.
pub(crate) fn loopback_relay(home: &Home) -> (Proc, String) {
    loopback_relay_with(home, &[])
}

/// [`loopback_relay`] with more arguments (e.g. `--config FILE`).
pub(crate) fn loopback_relay_with(home: &Home, extra: &[&str]) -> (Proc, String) {
    let listen = format!("/ip4/127.0.0.1/tcp/{}", free_port());
    let mut args = vec![
        "relay",
        "--listen",
        &listen,
        "--external-address",
        &listen,
        "--no-metrics",
        "--json",
    ];
    args.extend_from_slice(extra);
    let relay = Proc::start(home, &args);
    let addr = relay.wait_for("listening")["addr"]
        .as_str()
        .expect("relay addr")
        .to_owned();
    (relay, addr)
}

pub(crate) fn init(h: &Home, name: &str) {
    h.ok(&[
        "init",
        "--name",
        name,
        "--note",
        &format!("{name}'s headline"),
        "--teaser",
        "headline",
    ]);
}

pub(crate) fn json_lines(out: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(out)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[test]
fn event_swap_all_through_a_relay() {
    let relay_home = Home::new();
    let (relay, relay_addr) = loopback_relay(&relay_home);
    assert!(relay_addr.contains("/p2p/12D3KooW"), "{relay_addr}");

    let (a, b, c, d) = (Home::new(), Home::new(), Home::new(), Home::new());
    init(&a, "Ada");
    init(&b, "Bob");
    init(&c, "Cy");
    init(&d, "Di");
    let up = |h: &Home| {
        Proc::start(
            h,
            &[
                "up",
                "--listen",
                "/ip4/127.0.0.1/tcp/0",
                "--no-mdns",
                "--json",
                "--relay",
                &relay_addr,
                "--event",
                CODE,
            ],
        )
    };
    let up_a = up(&a);
    // Bob joins with the join URI alone: it names the relay.
    let uri = format!(
        "meishi:event?code={CODE}&relay={}",
        relay_addr.replace('/', "%2F")
    );
    let up_b = Proc::start(
        &b,
        &[
            "up",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--no-mdns",
            "--json",
            "--event",
            &uri,
        ],
    );
    let a_circuit = up_a.wait_for("reserved")["addr"]
        .as_str()
        .expect("circuit addr")
        .to_owned();
    assert!(a_circuit.contains("/p2p-circuit/p2p/"), "{a_circuit}");
    up_b.wait_for("reserved");
    // They find each other on the board.
    assert_eq!(up_a.wait_for("attendee")["name"], "Bob");
    assert_eq!(up_b.wait_for("attendee")["name"], "Ada");

    // A wrong code lists nobody (and exits 0: listing is all it was asked for).
    let out = c.run(&[
        "event",
        "m4kq-7xpa-z2re-9hwd-c5tx",
        "--relay",
        &relay_addr,
        "--timeout",
        "4",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = json_lines(&out.stdout);
    assert!(lines.iter().all(|v| v["event"] != "attendee"), "{lines:?}");
    let summary = lines
        .iter()
        .find(|v| v["event"] == "summary")
        .expect("summary");
    assert_eq!(summary["attendees"], 0);

    // The right code lists both and swaps with both over circuits.
    let out = c.run(&[
        "event",
        CODE,
        "--relay",
        &relay_addr,
        "--swap-all",
        "--timeout",
        "8",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = json_lines(&out.stdout);
    let mut names: Vec<String> = lines
        .iter()
        .filter(|v| v["event"] == "attendee")
        .filter_map(|v| v["name"].as_str().map(str::to_owned))
        .collect();
    names.sort();
    names.dedup();
    assert_eq!(names, ["Ada", "Bob"], "{lines:?}");
    let summary = lines
        .iter()
        .find(|v| v["event"] == "summary")
        .expect("summary");
    assert_eq!(summary["swapped"], 2, "{lines:?}");
    let contacts = c.json(&["contacts", "list", "--json"]);
    assert_eq!(contacts.as_array().map(Vec::len), Some(2), "{contacts}");
    up_a.wait_for("card_received");

    // `meishi swap` takes a circuit address. Ada answers it because Di is an attendee: Di is at
    // the event (her `up` keeps her teaser on the board) and swaps through her running node; a
    // stranger's swap, or one from someone who left, waits in Ada's inbox
    // (consent::a_stranger_through_the_relay_gets_nothing).
    let up_d = Proc::start(
        &d,
        &[
            "up",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--no-mdns",
            "--json",
            "--relay",
            &relay_addr,
            "--event",
            CODE,
        ],
    );
    up_d.wait_for_each(&["joined", "reserved"]);
    let out = d.run(&["swap", &a_circuit, "--timeout", "30", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let contacts = d.json(&["contacts", "list", "--json"]);
    assert_eq!(contacts.as_array().map(Vec::len), Some(1), "{contacts}");
    drop(up_d);

    // A new code is long, and the QR joins it.
    let new = c.json(&["event", "new", "--relay", &relay_addr, "--json"]);
    let code = new["code"].as_str().expect("code");
    assert!(code.len() >= 32, "{code}");
    assert!(new["uri"]
        .as_str()
        .expect("uri")
        .starts_with("meishi:event?code="));

    // The organizer's PNG scans back into the join URI, and the URI alone joins (it names the
    // relay): a new code lists nobody yet, but the relay is reached.
    let png = c.path.with_file_name("join.png");
    c.ok(&[
        "event",
        "new",
        "--relay",
        &relay_addr,
        "--png",
        png.to_str().expect("utf-8 path"),
        "--json",
    ]);
    let scanned = json_lines(
        &c.ok(&["scan", png.to_str().expect("utf-8 path"), "--json"])
            .into_bytes(),
    );
    let ev = scanned
        .iter()
        .find(|v| v["event_code"].is_string())
        .expect("an event join code");
    assert_eq!(ev["relays"][0], relay_addr.as_str(), "{ev}");
    assert!(ev["join"]
        .as_str()
        .expect("join")
        .starts_with("meishi event 'meishi:event?code="));
    let uri = ev["uri"].as_str().expect("uri");
    let out = d.run(&["event", uri, "--timeout", "3", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = json_lines(&out.stdout);
    assert!(lines.iter().any(|v| v["event"] == "reserved"), "{lines:?}");
    let out = d.run(&["event", "meishi:event?code=abc", "--timeout", "3"]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "meishi: bad event join URI: it names no relay"
    );
    drop(relay);
}

/// A guessable code is refused before anything starts (exit 3, one line saying what to do),
/// whether typed or in a join URI, by `meishi event` and `meishi up --event`; `--weak-code`
/// uses it anyway, and a merely fair code is used with a warning.
/// proto-spec/relay.md#guessable-codes
#[test]
fn event_refuses_a_guessable_code_unless_told() {
    let relay_home = Home::new();
    let (relay, relay_addr) = loopback_relay(&relay_home);
    let c = Home::new();
    init(&c, "Cy");
    let refused = |args: &[&str]| {
        let out = c.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr
                .starts_with("meishi: the event code \"rustconf2026\" is easy to guess (about 2^"),
            "{stderr}"
        );
        assert!(
            stderr.ends_with(
                " tries); use `meishi event new` for an unguessable code, or pass --weak-code to \
                 use it anyway"
            ),
            "{stderr}"
        );
        assert!(!stderr.contains('\n'), "one line: {stderr}");
        // Nothing started: no node, no JSON events.
        assert!(out.stdout.is_empty(), "{args:?} printed {:?}", out.stdout);
    };
    let event = [
        "event",
        "rustconf2026",
        "--relay",
        &relay_addr,
        "--timeout",
        "3",
        "--json",
    ];
    refused(&event);
    let uri = format!(
        "meishi:event?code=rustconf2026&relay={}",
        relay_addr.replace('/', "%2F")
    );
    refused(&["event", &uri, "--timeout", "3", "--json"]);
    refused(&[
        "up",
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
        "--no-mdns",
        "--json",
        "--event",
        "rustconf2026",
        "--relay",
        &relay_addr,
    ]);

    // With --weak-code the same command joins the event through the relay, with a warning.
    let mut insist = event.to_vec();
    insist.push("--weak-code");
    let out = c.run(&insist);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("is easy to guess"), "{stderr}");
    let lines = json_lines(&out.stdout);
    assert!(lines.iter().any(|v| v["event"] == "reserved"), "{lines:?}");
    assert!(lines.iter().any(|v| v["event"] == "summary"), "{lines:?}");

    // A fair code needs no flag: it is used, with a warning.
    let out = c.run(&[
        "event",
        "RustConf 2026 Berlin Meetup",
        "--relay",
        &relay_addr,
        "--timeout",
        "3",
        "--json",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("could be guessed with enough computing"),
        "{stderr}"
    );
    assert!(json_lines(&out.stdout)
        .iter()
        .any(|v| v["event"] == "reserved"));
    drop(relay);
}

// ---- NAT: two private networks behind their own NAT routers, a relay on the public side ----

/// Network namespaces of one NAT test, deleted when dropped (also when the test fails).
struct Netns {
    names: Vec<String>,
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting a namespace deletes its veth ends, and with them the peers' ends.
        for n in self.names.iter().rev() {
            let _ = std::process::Command::new("ip")
                .args(["netns", "delete", n])
                .status();
        }
    }
}

fn sh(args: &[&str]) -> Result<(), String> {
    let out = std::process::Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{}: {e}", args[0]))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Why a NAT test cannot run here, or `None` when it can.
fn nat_unavailable() -> Option<String> {
    let uid = std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    if uid.ok().as_deref() != Some("0") {
        return Some("needs root to create network namespaces (CI runs as root)".into());
    }
    for tool in [["ip", "-V"], ["iptables", "--version"]] {
        if sh(&tool).is_err() {
            return Some(format!(
                "`{}` is missing (apt-get install iproute2 iptables)",
                tool[0]
            ));
        }
    }
    None
}

fn nat_skip(test: &str, why: &str) {
    assert!(
        std::env::var_os("MEISHI_REQUIRE_ALL").is_none(),
        "MEISHI_REQUIRE_ALL: event::{test} cannot run: {why}"
    );
    eprintln!("\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
    eprintln!("SKIP event::{test}: {why}");
    eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n");
}

/// What a NAT router does with a packet from outside that belongs to no connection.
#[derive(Clone, Copy)]
enum Unsolicited {
    /// Drops it, as home and venue routers with a stateful firewall do. TCP hole punching
    /// (a simultaneous open) can get through.
    Drop,
    /// Lets the kernel answer: a TCP reset, which kills a hole punch's first SYN; for UDP an
    /// ICMP error, and conntrack keeps the stray packet as a connection, so the mapping the
    /// punch needs is taken and the router picks another port.
    Reset,
}

/// The namespaces of one NAT test.
struct Nat {
    _ns: Netns,
    /// Bridge 203.0.113.1: the relay.
    public: String,
    /// A host behind router A (203.0.113.2, LAN 192.0.2.0/24).
    host_a: String,
    /// A host behind router B (203.0.113.3, LAN 198.51.100.0/24).
    host_b: String,
    /// The two routers.
    routers: [String; 2],
}

impl Nat {
    /// Packets the loss rules dropped so far, on both routers.
    fn dropped(&self) -> u64 {
        self.routers
            .iter()
            .map(|r| {
                let out = std::process::Command::new("ip")
                    .args([
                        "netns", "exec", r, "iptables", "-L", "FORWARD", "-v", "-x", "-n",
                    ])
                    .output()
                    .expect("iptables runs");
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .filter(|l| l.contains("statistic"))
                    .filter_map(|l| l.split_whitespace().next()?.parse::<u64>().ok())
                    .sum::<u64>()
            })
            .sum()
    }

    /// Makes both routers drop `percent` % of the packets they forward, each way (iptables
    /// `statistic`; `tc netem` is not available here). Replaces an earlier loss setting.
    fn lose(&self, percent: u32) {
        for r in &self.routers {
            let ipt = |rule: &[&str]| {
                let mut args = vec!["ip", "netns", "exec", r.as_str(), "iptables"];
                args.extend_from_slice(rule);
                sh(&args)
            };
            ipt(&["-F", "FORWARD"]).expect("flush FORWARD");
            if percent > 0 {
                let p = format!("{:.2}", f64::from(percent) / 100.0);
                ipt(&[
                    "-A",
                    "FORWARD",
                    "-m",
                    "statistic",
                    "--mode",
                    "random",
                    "--probability",
                    &p,
                    "-j",
                    "DROP",
                ])
                .expect("loss rule");
            }
        }
    }
}

/// pub: bridge 203.0.113.1 (the relay); ra/rb: NAT routers 203.0.113.2/.3 in front of
/// 192.0.2.0/24 and 198.51.100.0/24; ha/hb: one host in each private network. `t` keeps the
/// names of tests running at once apart.
fn nat_setup(t: char, unsolicited: Unsolicited) -> Result<Nat, String> {
    let pid = std::process::id();
    let p = pid % 100_000;
    let [pubn, ra, rb, ha, hb] = ["pub", "ra", "rb", "ha", "hb"].map(|n| format!("mei{n}{t}{pid}"));
    let mut ns = Netns { names: Vec::new() };
    for n in [&pubn, &ra, &rb, &ha, &hb] {
        sh(&["ip", "netns", "add", n])?;
        ns.names.push(n.clone());
        sh(&["ip", "-n", n, "link", "set", "lo", "up"])?;
    }
    let br = format!("mbr{t}{p}");
    sh(&["ip", "-n", &pubn, "link", "add", &br, "type", "bridge"])?;
    sh(&[
        "ip",
        "-n",
        &pubn,
        "addr",
        "add",
        "203.0.113.1/24",
        "dev",
        &br,
    ])?;
    sh(&["ip", "-n", &pubn, "link", "set", &br, "up"])?;
    let nets = [
        (
            &ra,
            &ha,
            "203.0.113.2/24",
            "192.0.2.1/24",
            "192.0.2.2/24",
            "192.0.2.1",
            'a',
        ),
        (
            &rb,
            &hb,
            "203.0.113.3/24",
            "198.51.100.1/24",
            "198.51.100.2/24",
            "198.51.100.1",
            'b',
        ),
    ];
    for (router, host, wan, lan, hostaddr, gw, side) in nets {
        let (pw, rw) = (format!("mp{side}{t}{p}"), format!("mw{side}{t}{p}"));
        let (rl, hl) = (format!("ml{side}{t}{p}"), format!("mh{side}{t}{p}"));
        // Public side: one end on the bridge, the other is the router's WAN.
        sh(&[
            "ip", "link", "add", &pw, "type", "veth", "peer", "name", &rw,
        ])?;
        sh(&["ip", "link", "set", &pw, "netns", &pubn])?;
        sh(&["ip", "link", "set", &rw, "netns", router])?;
        sh(&["ip", "-n", &pubn, "link", "set", &pw, "master", &br])?;
        sh(&["ip", "-n", &pubn, "link", "set", &pw, "up"])?;
        sh(&["ip", "-n", router, "addr", "add", wan, "dev", &rw])?;
        sh(&["ip", "-n", router, "link", "set", &rw, "up"])?;
        // Private side.
        sh(&[
            "ip", "link", "add", &rl, "type", "veth", "peer", "name", &hl,
        ])?;
        sh(&["ip", "link", "set", &rl, "netns", router])?;
        sh(&["ip", "link", "set", &hl, "netns", host])?;
        sh(&["ip", "-n", router, "addr", "add", lan, "dev", &rl])?;
        sh(&["ip", "-n", router, "link", "set", &rl, "up"])?;
        sh(&["ip", "-n", host, "addr", "add", hostaddr, "dev", &hl])?;
        sh(&["ip", "-n", host, "link", "set", &hl, "up"])?;
        sh(&["ip", "-n", host, "route", "add", "default", "via", gw])?;
        // The router forwards and masquerades: the host is invisible from the public side.
        let ipt = |rule: &[&str]| {
            let mut args = vec!["ip", "netns", "exec", router, "iptables"];
            args.extend_from_slice(rule);
            sh(&args)
        };
        sh(&[
            "ip",
            "netns",
            "exec",
            router,
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
        ])?;
        ipt(&[
            "-t",
            "nat",
            "-A",
            "POSTROUTING",
            "-o",
            &rw,
            "-j",
            "MASQUERADE",
        ])?;
        if let Unsolicited::Drop = unsolicited {
            ipt(&[
                "-A",
                "INPUT",
                "-i",
                &rw,
                "-m",
                "conntrack",
                "--ctstate",
                "NEW,INVALID",
                "-j",
                "DROP",
            ])?;
        }
    }
    // The NAT really hides the hosts: the relay's side cannot reach 192.0.2.2.
    if sh(&[
        "ip",
        "netns",
        "exec",
        &pubn,
        "ping",
        "-c1",
        "-W1",
        "192.0.2.2",
    ])
    .is_ok()
    {
        return Err("the public side reaches a private host: no NAT".into());
    }
    Ok(Nat {
        _ns: ns,
        public: pubn,
        host_a: ha,
        host_b: hb,
        routers: [ra.clone(), rb.clone()],
    })
}

/// The namespaces for test `test`, or `None` after saying loudly why it is skipped.
fn nat_or_skip(test: &str, t: char, unsolicited: Unsolicited) -> Option<Nat> {
    if let Some(why) = nat_unavailable() {
        nat_skip(test, &why);
        return None;
    }
    match nat_setup(t, unsolicited) {
        Ok(n) => Some(n),
        Err(e) => {
            nat_skip(test, &format!("cannot build the namespaces: {e}"));
            None
        }
    }
}

/// `meishi` in namespace `ns`. `MEISHI_TEST_LOG=libp2p_dcutr=debug cargo test …` passes its value
/// on as `MEISHI_LOG` (and `RUST_LOG` for the relay) and shows the processes' stderr.
fn in_ns(ns: &str, home: &Home, args: &[&str]) -> std::process::Command {
    let mut c = std::process::Command::new("ip");
    c.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_meishi"), "--home"])
        .arg(&home.path)
        .args(args)
        .env_remove("MEISHI_HOME");
    match std::env::var("MEISHI_TEST_LOG") {
        Ok(log) => c
            .env("MEISHI_LOG", &log)
            .env("RUST_LOG", &log)
            .stderr(Stdio::inherit()),
        Err(_) => c.stderr(Stdio::null()),
    };
    c
}

/// A long-running `meishi` in a namespace, its JSON lines on stdout.
fn spawn_in(ns: &str, home: &Home, args: &[&str]) -> Proc {
    let mut cmd = in_ns(ns, home, args);
    cmd.stdout(Stdio::piped());
    Proc::spawned(cmd)
}

const RELAY_TCP: &str = "/ip4/203.0.113.1/tcp/4001";
const RELAY_QUIC: &str = "/ip4/203.0.113.1/udp/4001/quic-v1";

/// Starts the relay on TCP and QUIC; returns its full address on `transport` ("tcp" or
/// "quic-v1").
fn start_relay(nat: &Nat, home: &Home, transport: &str) -> (Proc, String) {
    let mut args = vec!["relay"];
    for a in [RELAY_TCP, RELAY_QUIC] {
        args.extend(["--listen", a, "--external-address", a]);
    }
    args.extend(["--no-metrics", "--json"]);
    let relay = spawn_in(&nat.public, home, &args);
    let started = relay.wait_for("listening");
    let external = started["external"].as_array().expect("external addresses");
    assert_eq!(started["addr"], external[0], "{started}");
    let addr = external
        .iter()
        .filter_map(Value::as_str)
        .find(|a| a.contains(&format!("/{transport}/")))
        .expect("the relay listens on that transport")
        .to_owned();
    (relay, addr)
}

fn up_in(ns: &str, home: &Home, relay: &str) -> Proc {
    spawn_in(
        ns,
        home,
        &[
            "up",
            "--no-mdns",
            "--json",
            "--relay",
            relay,
            "--event",
            CODE,
        ],
    )
}

/// `meishi event CODE --swap-all` in a namespace: its JSON lines, after it exited 0.
fn swap_all_in(ns: &str, home: &Home, relay: &str) -> Vec<Value> {
    let out = in_ns(
        ns,
        home,
        &[
            "event",
            CODE,
            "--relay",
            relay,
            "--swap-all",
            "--timeout",
            "15",
            "--json",
        ],
    )
    .output()
    .expect("meishi event runs");
    let lines = json_lines(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{lines:?}",
        String::from_utf8_lossy(&out.stderr)
    );
    lines
}

fn swapped_names(lines: &[Value]) -> Vec<String> {
    let swapped: Vec<&Value> = lines.iter().filter(|v| v["event"] == "swapped").collect();
    let mut names: Vec<String> = lines
        .iter()
        .filter(|v| v["event"] == "attendee")
        .filter(|v| swapped.iter().any(|s| s["peer_id"] == v["peer_id"]))
        .filter_map(|v| v["name"].as_str().map(str::to_owned))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// What DCUtR did between the peers `x` and `y`, from the lines of both.
fn hole_punch(x: (&Home, &[Value]), y: (&Home, &[Value])) -> &'static str {
    let id = |h: &Home| h.json(&["id", "--json"])["peer_id"].clone();
    let (xid, yid) = (id(x.0), id(y.0));
    let about = |lines: &[Value], other: &Value, kind: &str| {
        lines
            .iter()
            .any(|l| l["event"] == kind && l["peer_id"] == *other)
    };
    if about(x.1, &yid, "direct") || about(y.1, &xid, "direct") {
        "direct"
    } else if about(x.1, &yid, "hole_punch_failed") || about(y.1, &xid, "hole_punch_failed") {
        "failed"
    } else {
        "not attempted"
    }
}

fn drain(p: &Proc) -> Vec<Value> {
    std::iter::from_fn(|| p.lines.recv_timeout(Duration::from_secs(2)).ok()).collect()
}

/// Two peers behind routers with stateful firewalls swap under an event code through the relay,
/// and DCUtR upgrades the pair to a direct connection. Then the relay restarts: both peers
/// re-reserve and re-register, and a newcomer still swaps with both.
#[test]
fn event_nat_hole_punch_and_relay_restart() {
    let Some(nat) = nat_or_skip(
        "event_nat_hole_punch_and_relay_restart",
        'f',
        Unsolicited::Drop,
    ) else {
        return;
    };
    let relay_home = Home::new();
    let (relay, relay_addr) = start_relay(&nat, &relay_home, "tcp");

    let (a, b, c, d) = (Home::new(), Home::new(), Home::new(), Home::new());
    init(&a, "Ada");
    init(&b, "Bob");
    init(&c, "Cy");
    init(&d, "Di");
    let up_a = up_in(&nat.host_a, &a, &relay_addr);
    let up_b = up_in(&nat.host_b, &b, &relay_addr);
    let ada = up_a.wait_for("reserved");
    eprintln!("Ada (behind NAT A) reachable at {}", ada["addr"]);
    up_b.wait_for("reserved");
    assert_eq!(up_a.wait_for("attendee")["name"], "Bob");

    // Cy, on Bob's network, swaps with both through the relay.
    let lines = swap_all_in(&nat.host_b, &c, &relay_addr);
    for l in &lines {
        eprintln!("cy: {l}");
    }
    assert_eq!(swapped_names(&lines), ["Ada", "Bob"], "{lines:?}");
    let ada_lines = drain(&up_a);
    let punch = hole_punch((&c, &lines), (&a, &ada_lines));
    eprintln!("\n=== NAT (firewalled routers): swap through the relay; DCUtR: {punch} ===\n");
    // Behind routers that drop unsolicited packets, a TCP simultaneous open gets through: the
    // SYN that arrives first is dropped, the other one passes, and retransmission covers the
    // rest. This is the case DCUtR is built for.
    assert_eq!(punch, "direct", "{lines:?}\n{ada_lines:?}");

    // The relay restarts on the same address with the same key.
    drop(relay);
    up_a.wait_for("relay_disconnected");
    up_b.wait_for("relay_disconnected");
    let (relay, relay_addr2) = start_relay(&nat, &relay_home, "tcp");
    assert_eq!(relay_addr2, relay_addr, "same key, same address");
    up_a.wait_for("reserved");
    up_b.wait_for("reserved");

    // A newcomer on Ada's network finds both again (they registered anew) and swaps with both.
    let lines = swap_all_in(&nat.host_a, &d, &relay_addr);
    for l in &lines {
        eprintln!("di: {l}");
    }
    assert_eq!(swapped_names(&lines), ["Ada", "Bob"], "{lines:?}");
    let contacts = d.json(&["contacts", "list", "--json"]);
    assert_eq!(contacts.as_array().map(Vec::len), Some(2), "{contacts}");
    drop((up_a, up_b, relay));
}

/// Lossy links: both routers drop 5 %, then 20 %, of what they forward (a packet between the
/// two hosts crosses both). Swaps through the relay still complete; the time each took is
/// printed (docs/reliability.md), never asserted.
#[test]
fn event_nat_swaps_complete_under_packet_loss() {
    let Some(nat) = nat_or_skip(
        "event_nat_swaps_complete_under_packet_loss",
        'l',
        Unsolicited::Drop,
    ) else {
        return;
    };
    let relay_home = Home::new();
    let (relay, relay_addr) = start_relay(&nat, &relay_home, "tcp");
    let a = Home::new();
    init(&a, "Ada");
    let up_a = up_in(&nat.host_a, &a, &relay_addr);
    up_a.wait_for("reserved");
    for (i, percent) in [0u32, 5, 20].into_iter().enumerate() {
        nat.lose(percent);
        // A person whose join fails on a bad network runs it again: up to three tries, each
        // with a fresh home (the count is printed with the time).
        let mut failures = Vec::new();
        let mut done = None;
        for attempt in 1..=3 {
            let c = Home::new();
            init(&c, &format!("Cy{i}{attempt}"));
            let started = std::time::Instant::now();
            let out = in_ns(
                &nat.host_b,
                &c,
                &[
                    "event",
                    CODE,
                    "--relay",
                    &relay_addr,
                    "--swap-all",
                    "--timeout",
                    "120",
                    "--json",
                ],
            )
            .stderr(std::process::Stdio::piped())
            .output()
            .expect("meishi event runs");
            let took = started.elapsed();
            let lines = json_lines(&out.stdout);
            if out.status.success() && swapped_names(&lines) == ["Ada"] {
                done = Some((attempt, took));
                break;
            }
            failures.push(format!(
                "attempt {attempt} ({:?}, {took:.1?}): {} {lines:?}",
                out.status.code(),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let Some((attempts, took)) = done else {
            panic!(
                "{percent} % loss: no swap in 3 tries:\n{}",
                failures.join("\n")
            );
        };
        if percent == 0 {
            assert_eq!(
                attempts, 1,
                "without loss the first try swaps: {failures:?}"
            );
        }
        let dropped = nat.dropped();
        // The loss is real: the routers dropped packets of this run.
        assert_eq!(dropped > 0, percent > 0, "{percent} %: {dropped} dropped");
        eprintln!(
            "=== NAT, {percent} % loss per router: join + swap took {took:.1?} on try {attempts}, {dropped} packets dropped ==="
        );
    }
    nat.lose(0);
    drop((up_a, relay));
}

/// Routers that accept unsolicited packets from outside defeat hole punching: TCP gets a reset,
/// and for UDP the router records the stray packet as a connection of its own, so the peer's
/// outgoing packets to the same address are given another source port. The swap must still
/// complete through the relay (here reached over QUIC). Whether DCUtR then fails is reported,
/// not asserted: two packets that cross at the same instant can still get through.
#[test]
fn event_nat_resetting_routers_still_swap_through_the_relay() {
    let Some(nat) = nat_or_skip(
        "event_nat_resetting_routers_still_swap_through_the_relay",
        's',
        Unsolicited::Reset,
    ) else {
        return;
    };
    let relay_home = Home::new();
    // Over QUIC this time: the relay is reached on UDP, and hole punching is tried on UDP.
    let (relay, relay_addr) = start_relay(&nat, &relay_home, "quic-v1");
    let (a, c) = (Home::new(), Home::new());
    init(&a, "Ada");
    init(&c, "Cy");
    let up_a = up_in(&nat.host_a, &a, &relay_addr);
    up_a.wait_for("reserved");
    let lines = swap_all_in(&nat.host_b, &c, &relay_addr);
    assert_eq!(swapped_names(&lines), ["Ada"], "{lines:?}");
    let contacts = c.json(&["contacts", "list", "--json"]);
    assert_eq!(contacts.as_array().map(Vec::len), Some(1), "{contacts}");
    let punch = hole_punch((&c, &lines), (&a, &drain(&up_a)));
    // Reported, not asserted: two SYNs that cross at the same instant could still get through.
    eprintln!("\n=== NAT (resetting routers): swap through the relay; DCUtR: {punch} ===\n");
    drop((up_a, relay));
}

/// The attendee's journey by name: the organizer names the event, attendees join with the URI,
/// `up` confirms the join, `swap NAME` beside it reaches an attendee through the relay, the
/// meeting is recorded under the event's name, and an attendee whose node stopped is no longer
/// listed.
#[test]
fn attendees_swap_by_name_and_gone_attendees_leave_the_list() {
    let relay_home = Home::new();
    // A gone attendee is unlisted after the relay's grace period (20 s by default, so that a
    // node that only lost its connection keeps its place); 1 s here.
    let config = relay_home.file("relay.toml");
    std::fs::write(&config, "[limits]\ndisconnect_grace_ms = 1000\n").expect("config");
    let (_relay, relay_addr) =
        loopback_relay_with(&relay_home, &["--config", config.to_str().expect("path")]);
    let (a, b, c) = (Home::new(), Home::new(), Home::new());
    init(&a, "Ada");
    init(&b, "Bob");
    init(&c, "Cy");
    let new = a.json(&[
        "event",
        "new",
        "--name",
        "RustConf 2026",
        "--relay",
        &relay_addr,
        "--json",
    ]);
    let uri = new["uri"].as_str().expect("uri").to_owned();
    assert!(uri.contains("&name=RustConf%202026"), "{uri}");
    let up = |h: &Home| {
        Proc::start(
            h,
            &[
                "up",
                "--listen",
                "/ip4/127.0.0.1/tcp/0",
                "--no-mdns",
                "--json",
                "--event",
                &uri,
            ],
        )
    };
    let up_a = up(&a);
    let up_b = up(&b);
    // Joining is confirmed once the board is read.
    let got = up_b.wait_for_each(&["joined", "attendee"]);
    assert!(got[0]["relay"].as_str().is_some(), "{got:?}");
    assert_eq!(got[1]["name"], "Ada");
    up_a.wait_for("attendee");

    // Bob swaps with Ada by the name on her teaser, through his running node and the relay.
    let out = b.run(&["swap", "Ada", "--json"]);
    let lines = json_lines(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let swapped = lines
        .iter()
        .find(|v| v["event"] == "swapped")
        .expect("swapped");
    assert_eq!(swapped["name"], "Ada", "{lines:?}");
    // The meeting is recorded under the event's name, never its code.
    let shown = b.json(&["contacts", "show", "Ada", "--json"]);
    let events: Vec<&str> = shown["meetings"]
        .as_array()
        .expect("meetings")
        .iter()
        .filter_map(|m| m["event"].as_str())
        .collect();
    assert!(events.contains(&"RustConf 2026"), "{shown}");
    assert!(!shown.to_string().contains(CODE));
    // `meishi event` beside a running `up` joins through it (one node per person; joining
    // again is harmless); `--swap-all` would need a second node with the same key.
    let out = b.run(&["event", &uri, "--timeout", "4"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("through the running `meishi up`"));
    let out = b.run(&["event", &uri, "--swap-all", "--timeout", "4"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("second node"));

    let listed = |h: &Home| -> Vec<String> {
        let out = h.run(&["event", &uri, "--timeout", "8", "--json"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut names: Vec<String> = json_lines(&out.stdout)
            .iter()
            .filter(|v| v["event"] == "attendee")
            .filter_map(|v| v["name"].as_str().map(str::to_owned))
            .collect();
        names.sort();
        names.dedup();
        names
    };
    assert_eq!(listed(&c), ["Ada", "Bob"]);
    // Ada's node stops: the relay drops her from the board after its grace period, not hours
    // later. (Listing takes longer than the grace: the board is read after a reservation.)
    drop(up_a);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(listed(&c), ["Bob"]);
    drop(up_b);
}

/// `--accept ask` at an event: Bob gives his card and leaves before Ada decides; when he comes
/// back to the event, Ada's node sees him on the board and gives her card back through the
/// relay, without either of them assembling an address.
#[test]
fn an_accepted_card_reaches_an_attendee_who_comes_back() {
    let relay_home = Home::new();
    let (_relay, relay_addr) = loopback_relay(&relay_home);
    let (a, b) = (Home::new(), Home::new());
    init(&a, "Ada");
    init(&b, "Bob");
    let uri = a.json(&["event", "new", "--relay", &relay_addr, "--json"])["uri"]
        .as_str()
        .expect("uri")
        .to_owned();
    let up = |h: &Home, extra: &[&str]| {
        let mut args = vec![
            "up",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--no-mdns",
            "--json",
            "--event",
            &uri,
        ];
        args.extend_from_slice(extra);
        Proc::start(h, &args)
    };
    let up_a = up(&a, &["--accept", "ask"]);
    up_a.wait_for_each(&["joined", "reserved"]);
    // Bob swaps with everyone and leaves; Ada's node holds his card for her.
    let out = b.run(&["event", &uri, "--swap-all", "--timeout", "30", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = json_lines(&out.stdout);
    let summary = lines
        .iter()
        .find(|v| v["event"] == "summary")
        .expect("summary");
    assert_eq!(summary["waiting"], 1, "{lines:?}");
    let item = up_a.wait_for("inbox");
    a.ok(&[
        "accept",
        &item["inbox_id"].as_i64().expect("id").to_string(),
    ]);
    // He is gone: the give-back fails once, and says what will deliver it.
    let err = up_a.wait_for("error");
    assert!(
        err["error"]
            .as_str()
            .unwrap_or_default()
            .contains("at your event"),
        "{err}"
    );
    // Bob comes back to the event: Ada's node finds him on the board and gives her card.
    let up_b = up(&b, &[]);
    let got = up_b.wait_for("card_received");
    assert_eq!(got["name"], "Ada", "{got}");
    let given = up_a.wait_for("card_given");
    assert_eq!(given["inbox_id"], item["inbox_id"], "{given}");
}

/// `meishi event URI` beside a running `meishi up` that joined no event: the running node
/// joins it (control socket), and attendees show up in its output.
#[test]
fn event_beside_a_running_up_joins_through_it() {
    let relay_home = Home::new();
    let (_relay, relay) = loopback_relay(&relay_home);
    let made = relay_home.json(&[
        "event", "new", "--relay", &relay, "--name", "Meetup", "--json",
    ]);
    let uri = made["uri"].as_str().expect("uri").to_owned();
    let (a, b) = (Home::new(), Home::new());
    init(&a, "Ada");
    init(&b, "Bob");
    let up_a = Proc::start(
        &a,
        &[
            "up",
            "--json",
            "--no-mdns",
            "--no-ui",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--relay",
            &relay,
        ],
    );
    up_a.wait_for("reserved");
    let _up_b = Proc::start(
        &b,
        &[
            "up",
            "--json",
            "--no-mdns",
            "--no-ui",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--event",
            &uri,
        ],
    );
    let out = a.run(&["event", &uri]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(up_a.wait_for("attendee")["name"], "Bob");
}

// ---- a fleet of relays: proto-spec/relay.md#sharding ----

/// A relay of a fleet on the public side, on `port`, with `peers` as its fleet.
fn fleet_relay(nat: &Nat, home: &Home, port: u16, peers: &[String]) -> (Proc, String) {
    let a = format!("/ip4/203.0.113.1/tcp/{port}");
    let mut args = vec![
        "relay",
        "--listen",
        &a,
        "--external-address",
        &a,
        "--no-metrics",
        "--json",
    ];
    for p in peers {
        args.extend(["--peer", p.as_str()]);
    }
    let relay = spawn_in(&nat.public, home, &args);
    let addr = relay.wait_for("listening")["addr"]
        .as_str()
        .expect("relay addr")
        .to_owned();
    (relay, addr)
}

/// Reads `p`'s lines into `log` until `done` holds for what was read.
fn read_until(p: &Proc, log: &mut Vec<Value>, what: &str, done: impl Fn(&[Value]) -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(180);
    while !done(log) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match p.lines.recv_timeout(left) {
            Ok(v) => log.push(v),
            Err(e) => panic!("{what}: {e}; saw {log:?}"),
        }
    }
}

/// The relays (by index into `relays`, addresses ending in /p2p/<id>) of `reserved` lines.
fn reserved_on(log: &[Value], relays: &[String]) -> std::collections::BTreeSet<usize> {
    log.iter()
        .filter(|v| v["event"] == "reserved")
        .filter_map(|v| {
            let addr = v["addr"].as_str()?;
            relays
                .iter()
                .position(|r| addr.starts_with(&format!("{r}/p2p-circuit")))
        })
        .collect()
}

fn attendee_names(log: &[Value]) -> std::collections::BTreeSet<String> {
    log.iter()
        .filter(|v| v["event"] == "attendee")
        .filter_map(|v| v["name"].as_str().map(str::to_owned))
        .collect()
}

/// Three relays in a fleet, attendees behind two NATs, each holding its reservations on a
/// different pair of relays (the pair its peer id ranks first). Everyone sees everyone and a
/// newcomer swaps with all. One relay is killed: its attendees move to their next relay and a
/// newcomer still swaps with everyone. It restarts with its key, catches up from the fleet,
/// its attendees move back, and a newcomer who knows only that relay sees everyone on it.
#[test]
fn event_fleet_of_three_relays_shards_attendees_and_survives_one() {
    use std::collections::BTreeSet;
    let Some(nat) = nat_or_skip(
        "event_fleet_of_three_relays_shards_attendees_and_survives_one",
        'h',
        Unsolicited::Drop,
    ) else {
        return;
    };
    let relay_homes = [Home::new(), Home::new(), Home::new()];
    let ports = [4101u16, 4102, 4103];
    // Started once alone to make their keys and learn their ids, then as a fleet.
    let addrs: Vec<String> = (0..3)
        .map(|i| fleet_relay(&nat, &relay_homes[i], ports[i], &[]).1)
        .collect();
    let start = |i: usize| {
        let peers: Vec<String> = (0..3)
            .filter(|&j| j != i)
            .map(|j| addrs[j].clone())
            .collect();
        let (p, a) = fleet_relay(&nat, &relay_homes[i], ports[i], &peers);
        assert_eq!(a, addrs[i], "same key, same address");
        p
    };
    let mut relays: Vec<Option<Proc>> = (0..3).map(|i| Some(start(i))).collect();
    let ids: Vec<Vec<u8>> = addrs
        .iter()
        .map(|a| {
            let id = a.rsplit('/').next().expect("peer id");
            id.parse::<meishi_node::PeerId>()
                .expect("peer id")
                .to_bytes()
        })
        .collect();
    let pair_of = |h: &Home| -> BTreeSet<usize> {
        let id = h.json(&["id", "--json"])["peer_id"]
            .as_str()
            .expect("peer id")
            .parse::<meishi_node::PeerId>()
            .expect("peer id");
        meishi_event::shard::rank(&id.to_bytes(), &ids)
            .into_iter()
            .take(2)
            .collect()
    };
    // Attendees whose peer ids rank a different pair of relays first each.
    let person = |name: &str, pair: [usize; 2]| -> Home {
        loop {
            let h = Home::new();
            init(&h, name);
            if pair_of(&h) == BTreeSet::from(pair) {
                return h;
            }
        }
    };
    let (a, b, c) = (
        person("Ada", [0, 1]),
        person("Bob", [1, 2]),
        person("Cy", [0, 2]),
    );
    // The relays are one fleet, and the URI says so: attendees post to their home relays only.
    let mut new = vec!["event", "new", "--fleet", "--name", "Fleet Conf", "--json"];
    for r in &addrs {
        new.extend(["--relay", r.as_str()]);
    }
    let uri = a.json(&new)["uri"].as_str().expect("uri").to_owned();
    assert!(uri.contains("&fleet=1"), "{uri}");
    let up = |ns: &str, h: &Home| spawn_in(ns, h, &["up", "--no-mdns", "--json", "--event", &uri]);
    let people = [
        (up(&nat.host_a, &a), "Ada", [0, 1]),
        (up(&nat.host_b, &b), "Bob", [1, 2]),
        (up(&nat.host_a, &c), "Cy", [0, 2]),
    ];
    let mut logs: Vec<Vec<Value>> = vec![Vec::new(); 3];
    for (k, (p, name, pair)) in people.iter().enumerate() {
        let want = BTreeSet::from(*pair);
        read_until(
            p,
            &mut logs[k],
            &format!("{name} reserves on {want:?}"),
            |l| reserved_on(l, &addrs) == want,
        );
        let others: BTreeSet<String> = ["Ada", "Bob", "Cy"]
            .into_iter()
            .filter(|n| n != name)
            .map(str::to_owned)
            .collect();
        read_until(p, &mut logs[k], &format!("{name} sees {others:?}"), |l| {
            others.is_subset(&attendee_names(l))
        });
    }
    let swap_all = |ns: &str, h: &Home, uri: &str| -> Vec<String> {
        let out = in_ns(
            ns,
            h,
            &["event", uri, "--swap-all", "--timeout", "40", "--json"],
        )
        .output()
        .expect("meishi event runs");
        let lines = json_lines(&out.stdout);
        assert!(
            out.status.success(),
            "{}\n{lines:?}",
            String::from_utf8_lossy(&out.stderr)
        );
        swapped_names(&lines)
    };
    let d = Home::new();
    init(&d, "Dee");
    assert_eq!(swap_all(&nat.host_b, &d, &uri), ["Ada", "Bob", "Cy"]);

    // Relay 0 dies: Ada moves to relay 2 and Cy to relay 1, the next in their orders; Bob's
    // pair is untouched.
    drop(relays[0].take());
    for (k, to) in [(0, 2), (2, 1)] {
        let (p, name, _) = &people[k];
        read_until(
            p,
            &mut logs[k],
            &format!("{name} moves to relay {to}"),
            |l| reserved_on(l, &addrs).contains(&to),
        );
    }
    let e = Home::new();
    init(&e, "Eve");
    assert_eq!(swap_all(&nat.host_a, &e, &uri), ["Ada", "Bob", "Cy"]);

    // Relay 0 restarts with its key: Ada and Cy come back to it, and it serves the whole board
    // (what its fleet peers kept while it was down, and what its attendees post again).
    relays[0] = Some(start(0));
    for k in [0, 2] {
        let (p, name, _) = &people[k];
        let before = logs[k]
            .iter()
            .filter(|v| {
                v["event"] == "reserved"
                    && v["addr"].as_str().is_some_and(|s| s.starts_with(&addrs[0]))
            })
            .count();
        read_until(
            p,
            &mut logs[k],
            &format!("{name} moves back to relay 0"),
            |l| {
                l.iter()
                    .filter(|v| {
                        v["event"] == "reserved"
                            && v["addr"].as_str().is_some_and(|s| s.starts_with(&addrs[0]))
                    })
                    .count()
                    > before
            },
        );
    }
    let f = Home::new();
    init(&f, "Fay");
    let code = uri
        .parse::<meishi_event::JoinTicket>()
        .expect("join URI")
        .code()
        .to_owned();
    let out = in_ns(
        &nat.host_b,
        &f,
        &[
            "event",
            &code,
            "--relay",
            &addrs[0],
            "--timeout",
            "20",
            "--json",
        ],
    )
    .output()
    .expect("meishi event runs");
    let lines = json_lines(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{lines:?}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen = attendee_names(&lines);
    assert!(
        BTreeSet::from(["Ada", "Bob", "Cy"].map(str::to_owned)).is_subset(&seen),
        "{lines:?}"
    );
    drop(people);
    drop(relays);
}
