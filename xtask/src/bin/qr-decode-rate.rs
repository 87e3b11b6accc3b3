//! Decode rate and scan time on distorted images: meishi's `scan_image` next to zbar
//! (`zbarimg`, Debian's zbar-tools), rxing alone (ZXing's port) and rqrr alone, per distortion
//! kind, and the time meishi takes against `zbarimg` run as one process per file.
//!
//! ```text
//! cargo run -p xtask --bin qr-distort -- /tmp/qr-distorted 200 2
//! cargo run -p xtask --bin qr-decode-rate -- /tmp/qr-distorted
//! CANDIDATES=1 cargo run -p xtask --bin qr-decode-rate -- /tmp/qr-distorted
//! ```
//!
//! With `PER_FILE=1` it lists every image's outcome, the work units its scan spent and what
//! each pass did. With `CANDIDATES=1` it also runs every pass of `CANDIDATE_PASSES` on every
//! image and prints a greedy order by yield per millisecond (each next pass the one that decodes
//! the most images the earlier ones missed, per millisecond it costs over the whole set): how
//! `PASSES` was chosen. A decode counts only when it returns exactly the expected text.
//!
//! Times: meishi's is `scan_image` in this process, file reading and decoding included; zbar's
//! is the wall-clock time of `zbarimg --raw -q FILE`, a whole process per file, as a user runs
//! it. Nothing asserts on them. The time of `meishi scan` as whole processes adds its start-up.

use std::collections::BTreeMap;
use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use meishi_qr::{
    prepare, scan_image, scan_image_within, Budget, Pass, PassOutcome, Threshold, CANDIDATE_PASSES,
};

type Result<T, E = Box<dyn Error>> = std::result::Result<T, E>;

#[derive(Default)]
struct Tally {
    n: usize,
    meishi: usize,
    zbar: usize,
    rxing: usize,
    rqrr: usize,
    /// Read by zbar or rxing alone but not by meishi.
    missed: usize,
}

fn zbar(path: &Path) -> Option<Vec<String>> {
    let out = Command::new("zbarimg")
        .args(["--raw", "-q"])
        .arg(path)
        .output()
        .ok()?;
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect(),
    )
}

fn name(p: &Pass) -> String {
    let t = match p.threshold {
        Threshold::Rqrr => "rqrr".to_owned(),
        Threshold::Sauvola(n) => format!("sv{n}"),
        Threshold::Otsu => "otsu".to_owned(),
        Threshold::Rxing => "rxing".to_owned(),
    };
    let b = if p.blur > 0 {
        format!("b{}", p.blur)
    } else {
        String::new()
    };
    let s = if p.sharpen > 0 {
        format!("s{}", p.sharpen)
    } else {
        String::new()
    };
    format!("{s}x{}{b}{t}", p.scale)
}

fn pct(a: usize, n: usize) -> String {
    format!("{:.0}%", 100.0 * a as f64 / n.max(1) as f64)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() -> Result<()> {
    // rqrr's assertion failures are caught by the scanner; their messages are noise here.
    std::panic::set_hook(Box::new(|_| {}));
    let dir = PathBuf::from(std::env::args().nth(1).ok_or("usage: decode-rate DIR")?);
    let candidates = std::env::var_os("CANDIDATES").is_some();
    let manifest = std::fs::read_to_string(dir.join("manifest.tsv"))?;
    let have_zbar = zbar(&dir.join("manifest.tsv")).is_some();
    if !have_zbar {
        eprintln!(
            "*** zbarimg not found: the zbar column is empty (apt-get install -y zbar-tools) ***"
        );
    }
    let mut kinds: BTreeMap<String, Tally> = BTreeMap::new();
    let (mut t_meishi, mut t_zbar) = (Vec::new(), Duration::ZERO);
    let mut cand_hits: Vec<Vec<bool>> = Vec::new();
    let mut cand_time = vec![Duration::ZERO; CANDIDATE_PASSES.len()];
    let mut per_file = Vec::new();
    for line in manifest.lines() {
        let mut f = line.split('\t');
        let (Some(file), Some(kind), Some(text)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let path = dir.join(file);
        let t = Instant::now();
        let bytes = std::fs::read(&path)?;
        let got = scan_image(&bytes);
        t_meishi.push(t.elapsed());
        let ok = got.as_ref().is_ok_and(|v| v.iter().any(|s| s == text));
        let t = Instant::now();
        let z = have_zbar && zbar(&path).is_some_and(|v| v.iter().any(|s| s == text));
        t_zbar += t.elapsed();
        let raw = image::load_from_memory(&bytes)?.into_luma8();
        let alone = |threshold| {
            Pass {
                sharpen: 0,
                scale: 4,
                blur: 0,
                threshold,
            }
            .run(&raw)
            .0
            .iter()
            .any(|s| s == text)
        };
        let (rx, rq) = (alone(Threshold::Rxing), alone(Threshold::Rqrr));
        if candidates {
            let gray = prepare(&raw);
            cand_hits.push(
                CANDIDATE_PASSES
                    .iter()
                    .zip(&mut cand_time)
                    .map(|(p, time)| {
                        let t = Instant::now();
                        let hit = p.run(&gray).0.iter().any(|s| s == text);
                        *time += t.elapsed();
                        hit
                    })
                    .collect(),
            );
        }
        if std::env::var_os("PER_FILE").is_some() {
            let report = scan_image_within(&bytes, &Budget::DEFAULT)?;
            let passes: Vec<String> = report
                .passes
                .iter()
                .map(|(p, o)| {
                    let o = match o {
                        PassOutcome::Ran { texts, .. } if texts.is_empty() => "-".to_owned(),
                        PassOutcome::Ran { .. } => "READ".to_owned(),
                        PassOutcome::Skipped(s) => format!("{s:?}"),
                    };
                    format!("{}:{o}", name(p))
                })
                .collect();
            per_file.push(format!(
                "{file}\t{kind}\tmeishi={ok}\tzbar={z}\trxing={rx}\twork={}\t{:.0}ms\t{}",
                report.work,
                ms(*t_meishi.last().unwrap_or(&Duration::ZERO)),
                passes.join(" ")
            ));
        }
        for k in [kind.to_owned(), "ALL".to_owned()] {
            let t = kinds.entry(k).or_default();
            t.n += 1;
            t.meishi += usize::from(ok);
            t.zbar += usize::from(z);
            t.rxing += usize::from(rx);
            t.rqrr += usize::from(rq);
            t.missed += usize::from(!ok && (z || rx));
        }
    }
    println!(
        "{:<12} {:>4} {:>7} {:>7} {:>7} {:>7} {:>14}",
        "kind", "n", "meishi", "zbar", "rxing", "rqrr", "zbar|rxing only"
    );
    let all = kinds.remove("ALL");
    let mut rows: Vec<(&str, &Tally)> = kinds.iter().map(|(k, t)| (k.as_str(), t)).collect();
    if let Some(a) = &all {
        rows.push(("ALL", a));
    }
    for (k, t) in rows {
        println!(
            "{k:<12} {:>4} {:>7} {:>7} {:>7} {:>7} {:>14}",
            t.n,
            pct(t.meishi, t.n),
            pct(t.zbar, t.n),
            pct(t.rxing, t.n),
            pct(t.rqrr, t.n),
            t.missed
        );
    }
    if let Some(a) = &all {
        println!(
            "\nimages decoded: meishi {}/{}, zbar {}/{}, rxing alone {}/{}, rqrr alone {}/{}; read by zbar or rxing but not meishi: {}",
            a.meishi, a.n, a.zbar, a.n, a.rxing, a.n, a.rqrr, a.n, a.missed
        );
    }
    let total: Duration = t_meishi.iter().sum();
    t_meishi.sort();
    if let (Some(max), false) = (t_meishi.last(), t_meishi.is_empty()) {
        println!(
            "scan_image per image: total {:.0} ms, median {:.0} ms, 90th percentile {:.0} ms, max {:.0} ms",
            ms(total),
            ms(t_meishi[t_meishi.len() / 2]),
            ms(t_meishi[t_meishi.len() * 9 / 10]),
            ms(*max)
        );
    }
    if have_zbar {
        println!(
            "zbarimg, one process per file: total {:.0} ms; meishi / zbarimg = {:.2}",
            ms(t_zbar),
            total.as_secs_f64() / t_zbar.as_secs_f64().max(1e-9)
        );
    }
    if !per_file.is_empty() {
        println!("\n{}", per_file.join("\n"));
    }
    if candidates {
        println!("\ncandidate passes, greedy by new images per second over the set (new, cumulative, ms over the set, alone):");
        let mut covered = vec![false; cand_hits.len()];
        let mut left: Vec<usize> = (0..CANDIDATE_PASSES.len()).collect();
        loop {
            let gain = |c: usize| {
                cand_hits
                    .iter()
                    .zip(&covered)
                    .filter(|(h, &cov)| h[c] && !cov)
                    .count()
            };
            let rate = |c: usize| gain(c) as f64 / ms(cand_time[c]).max(1e-3);
            let Some(&best) = left.iter().max_by(|&&a, &&b| rate(a).total_cmp(&rate(b))) else {
                break;
            };
            let g = gain(best);
            if g == 0 {
                break;
            }
            for (h, cov) in cand_hits.iter().zip(covered.iter_mut()) {
                *cov |= h[best];
            }
            left.retain(|&c| c != best);
            let alone = cand_hits.iter().filter(|h| h[best]).count();
            println!(
                "  {:<12} +{g:<4} total {:<4} {:>8.0} ms  (alone {})",
                name(&CANDIDATE_PASSES[best]),
                covered.iter().filter(|&&c| c).count(),
                ms(cand_time[best]),
                alone
            );
        }
    }
    Ok(())
}
