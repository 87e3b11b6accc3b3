//! Repository tasks, run as `cargo xtask <task>` (the alias is in `.cargo/config.toml`).
//!
//! ```text
//! cargo xtask vectors            rewrite proto-spec/vectors/{card,qr,exchange,slot,intro,drop}
//! cargo xtask vectors --check    regenerate into a temporary folder; fail on any difference
//! cargo xtask soak [ARGS]        the fault and abuse campaign (docs/reliability.md): builds
//!                                the `meishi` binary and runs `--bin soak -- ARGS` with it
//! ```
//!
//! The generators live in `meishi-testkit`, one per format, and check every case against the
//! reference implementation before it is rendered. Vectors are only ever written here: a
//! difference in `--check` means a format or a case changed without regenerating, or a
//! generator is no longer deterministic (proto-spec/card.md#test-vectors).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use meishi_testkit::vectors::Files;

const USAGE: &str = "usage: cargo xtask vectors [--check] | cargo xtask soak [--release] [ARGS]";

/// A generator: every case of one format, as (file name, file text).
type Render = fn() -> Result<Files, Box<dyn std::error::Error>>;

/// Every vector folder under proto-spec/vectors/ and the generator that writes it.
const GENERATORS: [(&str, Render); 6] = [
    ("card", meishi_testkit::card::render),
    ("qr", meishi_testkit::qr::render),
    ("exchange", meishi_testkit::exchange::render),
    ("slot", meishi_testkit::slot::render),
    ("intro", meishi_testkit::intro::render),
    ("drop", meishi_testkit::drop::render),
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = match args[..] {
        ["vectors"] => write_vectors(),
        ["vectors", "--check"] => check_vectors(),
        ["soak", ref rest @ ..] => soak(rest),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Builds `meishi` and the `soak` tool in one profile (dev unless `--release` is among `args`)
/// and runs the campaign with that `meishi`; the other arguments go to the tool.
fn soak(args: &[&str]) -> Result<()> {
    let release = args.contains(&"--release");
    let rest: Vec<&str> = args.iter().copied().filter(|a| *a != "--release").collect();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let profile: &[&str] = if release { &["--release"] } else { &[] };
    // Two builds, not one: built together, the two packages' dependency features would be
    // unified and every dependency rebuilt in a third variant.
    for (package, bin) in [("meishi", "meishi"), ("xtask", "soak")] {
        let status = std::process::Command::new(&cargo)
            .current_dir(&root)
            .args(["build", "-p", package, "--bin", bin])
            .args(profile)
            .status()
            .context("cannot run cargo")?;
        if !status.success() {
            bail!("building {bin} failed");
        }
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join(if release { "release" } else { "debug" });
    let status = std::process::Command::new(target.join("soak"))
        .current_dir(&root)
        .args(rest)
        .arg("--meishi")
        .arg(target.join("meishi"))
        .status()
        .context("cannot run the soak tool")?;
    if !status.success() {
        bail!("the soak campaign failed");
    }
    Ok(())
}

/// `proto-spec/vectors` of this repository.
fn vectors_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../proto-spec/vectors")
}

/// Runs the generator of `format`: its files, with unique names.
fn generate(format: &str, render: Render) -> Result<Files> {
    let files = render().map_err(|e| anyhow::anyhow!("the {format} generator failed: {e}"))?;
    let mut names = BTreeSet::new();
    for (name, _) in &files {
        if !names.insert(name) {
            bail!("the {format} generator has two cases named {name}");
        }
    }
    Ok(files)
}

/// Writes `files` into `dir`, removing the vectors of cases that no longer exist (files that
/// start like a vector; nothing else is touched).
fn write_into(dir: &Path, files: &Files) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let keep: BTreeSet<&str> = files.iter().map(|(name, _)| name.as_str()).collect();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let stale = name.is_some_and(|n| !keep.contains(n.as_str()))
            && path.is_file()
            && std::fs::read_to_string(&path).is_ok_and(|t| t.starts_with("expect: "));
        if stale {
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove {}", path.display()))?;
        }
    }
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

fn write_vectors() -> Result<()> {
    for (format, render) in GENERATORS {
        let files = generate(format, render)?;
        write_into(&vectors_root().join(format), &files)?;
        eprintln!(
            "wrote {} vectors to proto-spec/vectors/{format}",
            files.len()
        );
    }
    Ok(())
}

fn check_vectors() -> Result<()> {
    let tmp = tempfile::tempdir().context("cannot create a temporary folder")?;
    let mut failed = Vec::new();
    for (format, render) in GENERATORS {
        let fresh = tmp.path().join(format);
        let files = generate(format, render)?;
        write_into(&fresh, &files)?;
        let committed = vectors_root().join(format);
        let differences = compare(&committed, &fresh)?;
        if differences.is_empty() {
            eprintln!(
                "vectors: proto-spec/vectors/{format} matches its generator ({} cases)",
                files.len()
            );
        } else {
            for d in &differences {
                eprintln!("vectors: proto-spec/vectors/{format}/{d}");
            }
            failed.push(format);
        }
    }
    if !failed.is_empty() {
        bail!(
            "proto-spec/vectors/{{{}}} differ from their generators. Vectors are never edited by \
             hand: if the format or a case changed on purpose, run `cargo xtask vectors` and \
             review the diff; otherwise a generator is no longer deterministic",
            failed.join(",")
        );
    }
    Ok(())
}

/// The differences between the committed folder and a freshly generated one, one line each:
/// missing, extra, or the first line that differs.
fn compare(committed: &Path, fresh: &Path) -> Result<Vec<String>> {
    let names = |dir: &Path| -> Result<BTreeSet<String>> {
        std::fs::read_dir(dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .map(|e| Ok(e?.file_name().to_string_lossy().into_owned()))
            .collect()
    };
    let (old, new) = (names(committed)?, names(fresh)?);
    let mut out = Vec::new();
    for name in old.union(&new) {
        let read = |dir: &Path| std::fs::read(dir.join(name)).ok();
        match (read(committed), read(fresh)) {
            (None, _) => out.push(format!("{name}: missing (the generator writes it)")),
            (_, None) => out.push(format!("{name}: not written by the generator")),
            (Some(a), Some(b)) if a != b => {
                let (a, b) = (String::from_utf8_lossy(&a), String::from_utf8_lossy(&b));
                let line = a
                    .lines()
                    .zip(b.lines())
                    .position(|(x, y)| x != y)
                    .unwrap_or_else(|| a.lines().count().min(b.lines().count()));
                let line_of = |t: &str| t.lines().nth(line).unwrap_or("").to_owned();
                let (x, y) = (line_of(&a), line_of(&b));
                let column = x
                    .chars()
                    .zip(y.chars())
                    .position(|(p, q)| p != q)
                    .unwrap_or_else(|| x.chars().count().min(y.chars().count()));
                // Hex lines run to kilobytes: show the stretch where the two part.
                let around = |l: &str| -> String {
                    let from = column.saturating_sub(20);
                    let part: String = l.chars().skip(from).take(80).collect();
                    format!("{}{part}", if from > 0 { "…" } else { "" })
                };
                out.push(format!(
                    "{name}: differs at line {}, column {}:\n    committed: {}\n    generated: {}",
                    line + 1,
                    column + 1,
                    around(&x),
                    around(&y)
                ));
            }
            _ => {}
        }
    }
    Ok(out)
}
