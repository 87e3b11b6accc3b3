//! Attendees in several processes: one process may hold only so many open files (20,000 on
//! the development machine, without the privilege to raise it), and 10,000 attendees each
//! connected to four relays need 40,000. With `--workers K` the probe (the coordinator)
//! starts K copies of itself (`--worker W/K`), each simulating every K-th attendee, reads
//! their progress from their stdout (one JSON line every half second), tells them to stop on
//! their stdin, and adds up what each reports at the end: a [`Tally`].

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use crate::attendee::{Outcome, Shared, OPS};
use crate::spawn;

type Error = Box<dyn std::error::Error>;

/// What a set of attendees went through, added up.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    /// When each attendee had joined, and had seen every attendee, in seconds from the start.
    pub joined: Vec<f64>,
    pub complete: Vec<f64>,
    /// Attendees seen by the attendee that had seen the fewest.
    pub worst_seen: Option<usize>,
    /// Per relay: attendees holding a reservation on it, and connected to it, at the end.
    pub reserved: Vec<usize>,
    pub connected: Vec<usize>,
    /// Per relay: failed operations by kind ([`OPS`] order), then board reads rate limited.
    pub failed: Vec<Vec<usize>>,
    pub requests: usize,
    pub entries_read: usize,
    /// The simulating processes' CPU time and peak memory, added up.
    pub cpu_s: f64,
    pub hwm_kb: u64,
}

impl Tally {
    /// The tally of one process's attendees.
    pub fn of(sh: &Shared, outcomes: &[Outcome]) -> Self {
        let k = sh.relays.len();
        let on = |f: &dyn Fn(&Outcome) -> &Vec<usize>, i: usize| {
            outcomes.iter().filter(|o| f(o).contains(&i)).count()
        };
        let me = spawn::proc_stat(std::process::id()).unwrap_or_default();
        Self {
            joined: outcomes
                .iter()
                .filter_map(|o| o.joined)
                .map(|d| d.as_secs_f64())
                .collect(),
            complete: outcomes
                .iter()
                .filter_map(|o| o.complete)
                .map(|d| d.as_secs_f64())
                .collect(),
            worst_seen: outcomes
                .iter()
                .map(|o| {
                    if sh.discover {
                        o.seen.min(o.seen_discover)
                    } else {
                        o.seen
                    }
                })
                .min(),
            reserved: (0..k).map(|i| on(&|o| &o.reserved, i)).collect(),
            connected: (0..k).map(|i| on(&|o| &o.connected, i)).collect(),
            failed: sh
                .failed
                .iter()
                .map(|f| f.iter().map(|c| c.load(Ordering::Relaxed)).collect())
                .collect(),
            requests: sh.requests.load(Ordering::Relaxed),
            entries_read: sh.entries_read.load(Ordering::Relaxed),
            cpu_s: me.cpu_s,
            hwm_kb: me.hwm_kb,
        }
    }

    pub fn merge(&mut self, o: Tally) {
        self.joined.extend(o.joined);
        self.complete.extend(o.complete);
        self.worst_seen = match (self.worst_seen, o.worst_seen) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let add = |a: &mut Vec<usize>, b: &[usize]| {
            a.resize(a.len().max(b.len()), 0);
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        };
        add(&mut self.reserved, &o.reserved);
        add(&mut self.connected, &o.connected);
        self.failed
            .resize(self.failed.len().max(o.failed.len()), Vec::new());
        for (x, y) in self.failed.iter_mut().zip(&o.failed) {
            add(x, y);
        }
        self.requests += o.requests;
        self.entries_read += o.entries_read;
        self.cpu_s += o.cpu_s;
        self.hwm_kb += o.hwm_kb;
    }

    pub fn failures(&self, relay: usize, kind: usize) -> usize {
        self.failed
            .get(relay)
            .and_then(|f| f.get(kind))
            .copied()
            .unwrap_or(0)
    }

    pub fn failed_ops(&self) -> usize {
        (0..self.failed.len())
            .map(|i| (0..OPS.len()).map(|k| self.failures(i, k)).sum::<usize>())
            .sum()
    }

    fn to_json(&self) -> Value {
        json!({
            "joined": self.joined, "complete": self.complete, "worst_seen": self.worst_seen,
            "reserved": self.reserved, "connected": self.connected, "failed": self.failed,
            "requests": self.requests, "entries_read": self.entries_read,
            "cpu_s": self.cpu_s, "hwm_kb": self.hwm_kb,
        })
    }

    fn from_json(v: &Value) -> Self {
        let floats = |k: &str| -> Vec<f64> {
            v[k].as_array()
                .map(|a| a.iter().filter_map(Value::as_f64).collect())
                .unwrap_or_default()
        };
        let counts = |v: &Value| -> Vec<usize> {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_u64)
                        .map(|x| x as usize)
                        .collect()
                })
                .unwrap_or_default()
        };
        Self {
            joined: floats("joined"),
            complete: floats("complete"),
            worst_seen: v["worst_seen"].as_u64().map(|x| x as usize),
            reserved: counts(&v["reserved"]),
            connected: counts(&v["connected"]),
            failed: v["failed"]
                .as_array()
                .map(|a| a.iter().map(counts).collect())
                .unwrap_or_default(),
            requests: v["requests"].as_u64().unwrap_or(0) as usize,
            entries_read: v["entries_read"].as_u64().unwrap_or(0) as usize,
            cpu_s: v["cpu_s"].as_f64().unwrap_or(0.0),
            hwm_kb: v["hwm_kb"].as_u64().unwrap_or(0),
        }
    }
}

/// Worker side: prints `{"progress":{"joined":…,"complete":…}}` every half second until a
/// line arrives on stdin (or it closes).
pub async fn report_progress(sh: Arc<Shared>) {
    let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
        let _ = tx.send(());
    });
    loop {
        let line = json!({"progress": {
            "joined": sh.joined.load(Ordering::Relaxed),
            "complete": sh.complete.load(Ordering::Relaxed),
        }});
        println!("{line}");
        tokio::select! {
            _ = &mut rx => return,
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
}

/// Worker side: the last line, what its attendees went through.
pub fn print_final(t: &Tally) {
    println!("{}", json!({ "final": t.to_json() }));
}

/// One worker process, seen from the coordinator.
struct Worker {
    child: Child,
    stdin: Option<ChildStdin>,
    reader: Option<std::thread::JoinHandle<Option<Tally>>>,
}

/// The coordinator's handle on its workers.
pub struct Workers {
    workers: Vec<Worker>,
    /// Each worker's last (joined, complete).
    progress: Arc<Mutex<Vec<(usize, usize)>>>,
}

impl Workers {
    /// Starts `k` copies of this program with `args` and `--worker W/K`.
    pub fn start(k: usize, args: &[String]) -> Result<Self, Error> {
        let exe = std::env::current_exe()?;
        let progress = Arc::new(Mutex::new(vec![(0, 0); k]));
        let mut workers = Vec::new();
        for w in 0..k {
            let mut child = Command::new(&exe)
                .args(args)
                .arg("--worker")
                .arg(format!("{w}/{k}"))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()?;
            let stdin = child.stdin.take();
            let stdout = child.stdout.take().ok_or("no stdout")?;
            let progress = progress.clone();
            let reader = std::thread::spawn(move || {
                let mut last = None;
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    let Ok(v) = serde_json::from_str::<Value>(&line) else {
                        continue;
                    };
                    if let Some(p) = v.get("progress") {
                        let j = p["joined"].as_u64().unwrap_or(0) as usize;
                        let c = p["complete"].as_u64().unwrap_or(0) as usize;
                        if let Ok(mut g) = progress.lock() {
                            g[w] = (j, c);
                        }
                    } else if let Some(f) = v.get("final") {
                        last = Some(Tally::from_json(f));
                    }
                }
                last
            });
            workers.push(Worker {
                child,
                stdin,
                reader: Some(reader),
            });
        }
        Ok(Self { workers, progress })
    }

    /// Attendees joined and complete, over all workers.
    pub fn progress(&self) -> (usize, usize) {
        self.progress.lock().map_or((0, 0), |g| {
            g.iter().fold((0, 0), |(j, c), (a, b)| (j + a, c + b))
        })
    }

    /// Tells every worker to stop, and adds up what they report.
    pub fn stop(mut self) -> Tally {
        for w in &mut self.workers {
            if let Some(mut s) = w.stdin.take() {
                let _ = s.write_all(b"stop\n");
            }
        }
        let mut total = Tally::default();
        for w in &mut self.workers {
            if let Some(t) = w.reader.take().and_then(|r| r.join().ok()).flatten() {
                total.merge(t);
            }
            let _ = w.child.wait();
        }
        total
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for w in &mut self.workers {
            let _ = w.child.kill();
        }
    }
}
