//! Decode rate on distorted images: meishi's `scan_image` next to zbar (`zbarimg`, Debian's
//! zbar-tools), rqrr alone, and each of meishi's passes alone, per distortion kind.
//!
//! ```text
//! cargo run --release -p meishi-qr --example distort -- /tmp/qr-distorted 300 1
//! cargo run --release -p meishi-qr --example decode-rate -- /tmp/qr-distorted
//! ```
//!
//! A decode counts only when it returns exactly the expected text. Times are wall-clock per
//! image for `scan_image` (file decoding included), for information; nothing asserts on them.

use std::collections::BTreeMap;
use std::error::Error;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use meishi_qr::{prepare, scan_image, Pass, PASSES};

type Result<T, E = Box<dyn Error>> = std::result::Result<T, E>;

#[derive(Default)]
struct Tally {
    n: usize,
    meishi: usize,
    zbar: usize,
    either: usize,
    passes: Vec<usize>,
}

fn zbar(path: &std::path::Path) -> Option<Vec<String>> {
    let out = Command::new("zbarimg")
        .args(["--raw", "-q", "-Sdisable", "-Sqrcode.enable"])
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

fn main() -> Result<()> {
    let dir = PathBuf::from(std::env::args().nth(1).ok_or("usage: decode-rate DIR")?);
    let manifest = std::fs::read_to_string(dir.join("manifest.tsv"))?;
    let have_zbar = zbar(&dir.join("manifest.tsv")).is_some();
    if !have_zbar {
        eprintln!(
            "*** zbarimg not found: zbar column is empty (apt-get install -y zbar-tools) ***"
        );
    }
    let mut kinds: BTreeMap<String, Tally> = BTreeMap::new();
    let mut times = Vec::new();
    let mut misses = Vec::new();
    for line in manifest.lines() {
        let mut f = line.split('\t');
        let (Some(file), Some(kind), Some(text)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let bytes = std::fs::read(dir.join(file))?;
        let t = Instant::now();
        let found = scan_image(&bytes).unwrap_or_default();
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        let ok = found.iter().any(|s| s == text);
        let z = have_zbar && zbar(&dir.join(file)).is_some_and(|v| v.iter().any(|s| s == text));
        let gray = prepare(&image::load_from_memory(&bytes)?.into_luma8());
        let per_pass: Vec<bool> = PASSES
            .iter()
            .map(|p| p.run(&gray).0.iter().any(|s| s == text))
            .collect();
        for k in [kind.to_owned(), "ALL".to_owned()] {
            let t = kinds.entry(k).or_default();
            t.n += 1;
            t.meishi += usize::from(ok);
            t.zbar += usize::from(z);
            t.either += usize::from(ok || z);
            t.passes.resize(PASSES.len(), 0);
            for (i, &p) in per_pass.iter().enumerate() {
                t.passes[i] += usize::from(p);
            }
        }
        if !ok {
            misses.push(format!("{file}{}", if z { " (zbar read it)" } else { "" }));
        }
    }
    let pass_names: Vec<String> = PASSES
        .iter()
        .map(|p| match p {
            Pass::Plain => "rqrr".to_owned(),
            Pass::Sauvola(n) => format!("sauv/{n}"),
            Pass::Blur(s, n) => format!("b{s}+s/{n}"),
            Pass::Scale(n) => format!("x{n}/4"),
        })
        .collect();
    print!(
        "{:<12} {:>4} {:>7} {:>7} {:>7} |",
        "kind", "n", "meishi", "zbar", "either"
    );
    for p in &pass_names {
        print!(" {p:>9}");
    }
    println!();
    let pct = |a: usize, n: usize| format!("{:.0}%", 100.0 * a as f64 / n.max(1) as f64);
    let all = kinds.remove("ALL");
    let mut rows: Vec<(&str, &Tally)> = kinds.iter().map(|(k, t)| (k.as_str(), t)).collect();
    if let Some(a) = &all {
        rows.push(("ALL", a));
    }
    for (k, t) in rows {
        print!(
            "{k:<12} {:>4} {:>7} {:>7} {:>7} |",
            t.n,
            pct(t.meishi, t.n),
            pct(t.zbar, t.n),
            pct(t.either, t.n)
        );
        for &p in &t.passes {
            print!(" {:>9}", pct(p, t.n));
        }
        println!();
    }
    if let Some(a) = &all {
        println!(
            "\ndecoded: meishi {}/{}, zbar {}/{}",
            a.meishi, a.n, a.zbar, a.n
        );
    }
    times.sort_by(f64::total_cmp);
    if !times.is_empty() {
        let mean = times.iter().sum::<f64>() / times.len() as f64;
        println!(
            "scan_image time per image: mean {mean:.0} ms, median {:.0} ms, max {:.0} ms",
            times[times.len() / 2],
            times[times.len() - 1]
        );
    }
    if std::env::var_os("VERBOSE").is_some() {
        println!("missed by meishi: {}", misses.join(", "));
    }
    Ok(())
}
