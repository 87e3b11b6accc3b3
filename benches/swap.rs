//! A cold `meishi swap` as a whole process (start, open the book, start a node, dial, give,
//! receive, store, exit) against a running `meishi up` on loopback. Baseline in the same run:
//! a cold `meishi id` (process start and reading the home folder, no network), so the ratio
//! shows what the swap itself costs on top of starting a process.
//!
//!     cargo bench --bench swap

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};

const BIN: &str = env!("CARGO_BIN_EXE_meishi");

fn meishi(home: &Path, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .arg("--home")
        .arg(home)
        .args(args)
        .output()
        .expect("meishi runs")
}

struct Up(Child);
impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    assert!(meishi(
        &a,
        &[
            "init",
            "--name",
            "Ada Lovelace",
            "--org",
            "Analytical Engines Ltd"
        ]
    )
    .status
    .success());
    assert!(meishi(&b, &["init", "--name", "Bob"]).status.success());
    let mut child = Command::new(BIN)
        .arg("--home")
        .arg(&a)
        .args([
            "up",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--json",
            "--no-mdns",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("meishi up");
    let stdout = child.stdout.take().expect("stdout");
    let up = Up(child);
    let mut lines = BufReader::new(stdout).lines();
    let addr = loop {
        let line = lines.next().expect("up prints").expect("line");
        let v: serde_json::Value = serde_json::from_str(&line).expect("json");
        if v["event"] == "listening" {
            break v["addr"].as_str().expect("addr").to_owned();
        }
    };
    // Keep draining up's events so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});

    let mut g = c.benchmark_group("cold_process");
    g.sample_size(20).measurement_time(Duration::from_secs(15));
    g.bench_function("meishi_id (baseline)", |bch| {
        bch.iter(|| assert!(meishi(&b, &["id"]).status.success()))
    });
    // Every swap comes from a fresh person: the running node rate-limits repeated gives from
    // one peer (8 at once, then one every 2 s), which is the behaviour under test elsewhere.
    let mut n = 0u32;
    g.bench_function("meishi_swap", |bch| {
        bch.iter_batched(
            || {
                n += 1;
                let home = dir.path().join(format!("p{n}"));
                assert!(meishi(&home, &["init", "--name", &format!("Person {n}")])
                    .status
                    .success());
                home
            },
            |home| {
                let out = meishi(&home, &["swap", &addr]);
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
    drop(up);
}

criterion_group!(benches, bench);
criterion_main!(benches);
