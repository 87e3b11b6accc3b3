//! mDNS discovery and a swap across two network namespaces joined by a veth pair, with
//! TEST-NET-1 addresses (192.0.2.0/24). mDNS never uses loopback, so this needs real interfaces.
//! Needs root and `ip`; otherwise the test says SKIP loudly.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

struct Namespaces {
    names: [String; 2],
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        // Deleting a namespace deletes its end of the veth pair and with it the other end.
        for n in &self.names {
            let _ = Command::new("ip").args(["netns", "delete", n]).status();
        }
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn skip(why: &str) {
    assert!(
        std::env::var_os("MEISHI_REQUIRE_ALL").is_none(),
        "MEISHI_REQUIRE_ALL: lan::mdns_discovery_and_swap_across_namespaces cannot run: {why}"
    );
    eprintln!("\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
    eprintln!("SKIP lan::mdns_discovery_and_swap_across_namespaces: {why}");
    eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n");
}

fn lan_peer_binary() -> Option<PathBuf> {
    // Examples are built by `cargo test` next to the test binary: target/<profile>/examples.
    let exe = std::env::current_exe().ok()?;
    let profile_dir = exe.parent()?.parent()?;
    let bin = profile_dir.join("examples").join("lan-peer");
    bin.exists().then_some(bin)
}

fn setup(pid: u32) -> Result<Namespaces, String> {
    let a = format!("meishi-a-{pid}");
    let b = format!("meishi-b-{pid}");
    // Interface names are at most 15 bytes.
    let va = format!("mva{}", pid % 1_000_000);
    let vb = format!("mvb{}", pid % 1_000_000);
    ip(&["netns", "add", &a])?;
    let ns = Namespaces {
        names: [a.clone(), b.clone()],
    };
    ip(&["netns", "add", &b])?;
    ip(&["link", "add", &va, "type", "veth", "peer", "name", &vb])?;
    ip(&["link", "set", &va, "netns", &a])?;
    ip(&["link", "set", &vb, "netns", &b])?;
    for (n, v, addr) in [(&a, &va, "192.0.2.1/24"), (&b, &vb, "192.0.2.2/24")] {
        ip(&["-n", n, "addr", "add", addr, "dev", v])?;
        ip(&["-n", n, "link", "set", v, "up"])?;
        ip(&["-n", n, "link", "set", "lo", "up"])?;
        // mDNS sends to 224.0.0.251; without a default route it needs a multicast route.
        ip(&["-n", n, "route", "add", "224.0.0.0/4", "dev", v])?;
    }
    Ok(ns)
}

#[test]
fn mdns_discovery_and_swap_across_namespaces() {
    // `id -u` avoids a libc dependency for geteuid.
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    if uid.ok().as_deref() != Some("0") {
        return skip("needs root to create network namespaces (CI runs as root)");
    }
    if Command::new("ip")
        .arg("-V")
        .stdout(Stdio::null())
        .status()
        .is_err()
    {
        return skip("the `ip` command (iproute2) is missing");
    }
    let Some(bin) = lan_peer_binary() else {
        return skip("examples/lan-peer is not built; run via `cargo test -p meishi-node` which builds examples");
    };
    let ns = match setup(std::process::id()) {
        Ok(ns) => ns,
        Err(e) => return skip(&format!("cannot create namespaces here: {e}")),
    };
    let spawn = |n: &str, name: &str, seed: &str| {
        Command::new("ip")
            .args(["netns", "exec", n])
            .arg(&bin)
            .args([name, seed, "40"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn lan-peer")
    };
    let a = spawn(&ns.names[0], "Ada", "1");
    let b = spawn(&ns.names[1], "Bob", "2");
    let start = Instant::now();
    let out_a = a.wait_with_output().expect("wait a");
    let out_b = b.wait_with_output().expect("wait b");
    let text = |o: &std::process::Output| String::from_utf8_lossy(&o.stdout).into_owned();
    let (ta, tb) = (text(&out_a), text(&out_b));
    eprintln!("--- a ---\n{ta}{}", String::from_utf8_lossy(&out_a.stderr));
    eprintln!("--- b ---\n{tb}{}", String::from_utf8_lossy(&out_b.stderr));
    eprintln!("both done after {:?}", start.elapsed());
    assert!(
        out_a.status.success() && out_b.status.success(),
        "a peer failed"
    );
    assert!(
        ta.lines()
            .any(|l| l.starts_with("discovered ") && l.ends_with(" Bob")),
        "a saw b's teaser"
    );
    assert!(
        tb.lines()
            .any(|l| l.starts_with("discovered ") && l.ends_with(" Ada")),
        "b saw a's teaser"
    );
    assert!(
        ta.lines()
            .any(|l| l.starts_with("received ") && l.ends_with(" Bob")),
        "a got b's card"
    );
    assert!(
        tb.lines()
            .any(|l| l.starts_with("received ") && l.ends_with(" Ada")),
        "b got a's card"
    );
    drop(ns);
}
