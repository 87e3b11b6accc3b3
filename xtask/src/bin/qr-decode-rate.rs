//! Decode rate on distorted images: meishi's `scan_image` next to zbar (`zbarimg`, Debian's
//! zbar-tools) and rqrr alone, per distortion kind, with the share each of meishi's passes
//! decodes on its own.
//!
//! ```text
//! cargo run --release -p xtask --bin qr-distort -- /tmp/qr-distorted 200 1
//! cargo run --release -p xtask --bin qr-decode-rate -- /tmp/qr-distorted
//! CANDIDATES=1 cargo run --release -p xtask --bin qr-decode-rate -- /tmp/qr-distorted
//! ```
//!
//! With `PER_FILE=1` it lists every image's outcome. With `CANDIDATES=1` it also runs every
//! pass of `CANDIDATE_PASSES` on every image and prints a
//! greedy order (each next pass the one that decodes the most images the earlier ones missed):
//! how `PASSES` was chosen. A decode counts only when it returns exactly the expected text.
//! Times are wall-clock per image for `scan_image` (file decoding included), for information;
//! nothing asserts on them.

use std::collections::BTreeMap;
use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use meishi_qr::{prepare, scan_image, Pass, Threshold, CANDIDATE_PASSES, PASSES};

type Result<T, E = Box<dyn Error>> = std::result::Result<T, E>;

#[derive(Default)]
struct Tally {
    n: usize,
    meishi: usize,
    zbar: usize,
    rqrr: usize,
    passes: Vec<usize>,
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
    format!("x{}{b}{t}", p.scale)
}

fn pct(a: usize, n: usize) -> String {
    format!("{:.0}%", 100.0 * a as f64 / n.max(1) as f64)
}

fn main() -> Result<()> {
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
    let mut times = Vec::new();
    let mut cand_hits: Vec<Vec<bool>> = Vec::new();
    let mut per_file = Vec::new();
    for line in manifest.lines() {
        let mut f = line.split('\t');
        let (Some(file), Some(kind), Some(text)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let bytes = std::fs::read(dir.join(file))?;
        let t = Instant::now();
        let ok = scan_image(&bytes)
            .unwrap_or_default()
            .iter()
            .any(|s| s == text);
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        let z = have_zbar && zbar(&dir.join(file)).is_some_and(|v| v.iter().any(|s| s == text));
        let raw = image::load_from_memory(&bytes)?.into_luma8();
        let alone = Pass {
            scale: 4,
            blur: 0,
            threshold: Threshold::Rqrr,
        }
        .run(&raw)
        .0
        .iter()
        .any(|s| s == text);
        let gray = prepare(&raw);
        let hit = |p: &Pass| p.run(&gray).0.iter().any(|s| s == text);
        let per_pass: Vec<bool> = PASSES.iter().map(hit).collect();
        if candidates {
            cand_hits.push(CANDIDATE_PASSES.iter().map(hit).collect());
        }
        per_file.push(format!("{file}\t{kind}\tmeishi={ok}\tzbar={z}"));
        for k in [kind.to_owned(), "ALL".to_owned()] {
            let t = kinds.entry(k).or_default();
            t.n += 1;
            t.meishi += usize::from(ok);
            t.zbar += usize::from(z);
            t.rqrr += usize::from(alone);
            t.passes.resize(PASSES.len(), 0);
            for (i, &p) in per_pass.iter().enumerate() {
                t.passes[i] += usize::from(p);
            }
        }
    }
    print!(
        "{:<12} {:>4} {:>7} {:>7} {:>7} | each pass alone:",
        "kind", "n", "meishi", "zbar", "rqrr"
    );
    for p in PASSES {
        print!(" {:>9}", name(p));
    }
    println!();
    let all = kinds.remove("ALL");
    let mut rows: Vec<(&str, &Tally)> = kinds.iter().map(|(k, t)| (k.as_str(), t)).collect();
    if let Some(a) = &all {
        rows.push(("ALL", a));
    }
    for (k, t) in rows {
        print!(
            "{k:<12} {:>4} {:>7} {:>7} {:>7} |                 ",
            t.n,
            pct(t.meishi, t.n),
            pct(t.zbar, t.n),
            pct(t.rqrr, t.n)
        );
        for &p in &t.passes {
            print!(" {:>9}", pct(p, t.n));
        }
        println!();
    }
    if let Some(a) = &all {
        println!(
            "\nimages decoded: meishi {}/{}, zbar {}/{}, rqrr alone {}/{}",
            a.meishi, a.n, a.zbar, a.n, a.rqrr, a.n
        );
    }
    times.sort_by(f64::total_cmp);
    if !times.is_empty() {
        let mean = times.iter().sum::<f64>() / times.len() as f64;
        println!(
            "scan_image time per image: mean {mean:.0} ms, median {:.0} ms, 90th percentile {:.0} ms, max {:.0} ms",
            times[times.len() / 2],
            times[times.len() * 9 / 10],
            times[times.len() - 1]
        );
    }
    if std::env::var_os("PER_FILE").is_some() {
        println!("\n{}", per_file.join("\n"));
    }
    if candidates {
        println!("\ncandidate passes, greedy order (new images decoded, cumulative):");
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
            let Some(&best) = left
                .iter()
                .max_by_key(|&&c| (gain(c), std::cmp::Reverse(c)))
            else {
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
                "  {:<12} +{g:<4} total {:<4} (alone {})",
                name(&CANDIDATE_PASSES[best]),
                covered.iter().filter(|&&c| c).count(),
                alone
            );
        }
    }
    Ok(())
}
