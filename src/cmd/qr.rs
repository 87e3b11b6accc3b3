//! `meishi qr` and `meishi scan`: offline handoff by QR code.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use meishi_card::display_safe;
use meishi_qr::{classify, scan_image, Cells, Ecc, RenderError, ScanError, Scanned};
use serde_json::json;

use crate::cmd::lookalike::warn_for;
use crate::exit::{Failure, BAD_INPUT};
use crate::home::Home;
use crate::output::read_bounded;

#[derive(Args, Debug)]
pub struct QrArgs {
    /// Write a PNG image instead of printing to the terminal.
    #[arg(long, value_name = "FILE", conflicts_with = "svg")]
    pub png: Option<PathBuf>,
    /// Write an SVG image instead of printing to the terminal.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// Error correction level: L, M, Q or H (more survives damage, but the code grows).
    #[arg(long, default_value = "M")]
    pub ecc: Ecc,
    /// A plain vCard 3.0 QR that phone cameras turn into a contact (unsigned).
    #[arg(long)]
    pub vcard: bool,
    /// Pixels per module in the PNG, 1 to 32.
    #[arg(long, default_value_t = 8, requires = "png", conflicts_with = "svg",
          value_parser = clap::value_parser!(u32).range(1..=i64::from(meishi_qr::MAX_SCALE)))]
    pub scale: u32,
}

#[derive(Args, Debug)]
pub struct ScanArgs {
    /// PNG or JPEG images, each with one or more QR codes.
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

pub fn qr(home: &Home, args: QrArgs) -> Result<()> {
    let store = home.store()?;
    let own = home.own_card(&store)?;
    let text = if args.vcard {
        meishi_qr::vcard_qr_text(own.card(), Some(&own.key()))
    } else {
        meishi_qr::encode_payload(&own).map_err(|e| anyhow::anyhow!("{e}"))?
    };
    let version = meishi_qr::qr_version(&text, args.ecc);
    let what = if args.vcard {
        "plain vCard (unsigned)"
    } else {
        "signed meishi card"
    };
    let status = version.map(|v| {
        format!(
            "QR version {v}, ECC {:?}: {what}, {} characters",
            args.ecc,
            text.len()
        )
    });
    if let Some(p) = &args.png {
        let (caption, why) = caption(&own, args.vcard);
        let hint = if args.vcard {
            "scan with a phone camera"
        } else {
            "scan with meishi"
        };
        let bytes =
            meishi_qr::render_png_captioned(&text, args.ecc, args.scale, &[&caption, hint])?;
        crate::home::write_private(p, &bytes)?;
        eprintln!("Wrote {}, captioned \"{caption}\"{why}", p.display());
    } else if let Some(p) = &args.svg {
        crate::home::write_private(p, meishi_qr::render_svg(&text, args.ecc)?.as_bytes())?;
        eprintln!("Wrote {}", p.display());
    } else {
        let vcard = if args.vcard { " --vcard" } else { "" };
        let qr = terminal_qr(&text, args.ecc, &format!("meishi qr{vcard} --png FILE"))?;
        // The status line first: on a full terminal it, not the top of the code, scrolls away.
        if let Some(s) = &status {
            eprintln!("{s}");
        }
        print!("{qr}");
        return Ok(());
    }
    if let Some(s) = &status {
        eprintln!("{s}");
    }
    Ok(())
}

/// The first caption line under a PNG of my card: my name when the PNG's font draws all of it
/// (printable ASCII), else my fingerprint, with why.
fn caption(own: &meishi_card::SignedCard, vcard: bool) -> (String, &'static str) {
    let name = display_safe(own.card().name.trim());
    if meishi_qr::caption_drawable(&name) && !name.is_empty() {
        return (name, "");
    }
    let why = if vcard {
        " (the PNG font has no letters for your name; the vCard in the code has it)"
    } else {
        " (the PNG font has no letters for your name; the card in the code has it)"
    };
    (own.key().fingerprint(), why)
}

/// `text` as a QR drawn for stdout: fitted to the terminal when stdout is one (refused, naming
/// `png_command`, when it cannot fit), else at the standard size.
pub(crate) fn terminal_qr(text: &str, ecc: meishi_qr::Ecc, png_command: &str) -> Result<String> {
    Ok(match terminal_size() {
        None => meishi_qr::render_terminal(text, ecc)?,
        Some(term) => {
            // A line stays free for the shell prompt under the code.
            let room = Cells {
                cols: term.cols,
                lines: term.lines.saturating_sub(1),
            };
            match meishi_qr::render_terminal_within(text, ecc, room) {
                Err(RenderError::TooBig { need, .. }) => anyhow::bail!(
                    "the QR needs {}×{} characters; this terminal is {term}: enlarge the terminal or use `{png_command}`",
                    need.cols,
                    need.lines + 1
                ),
                r => r?,
            }
        }
    })
}

/// Columns and lines of the terminal that stdout is, if it is one: from the terminal itself
/// (TIOCGWINSZ), else from `COLUMNS` and `LINES`; `None` when it cannot be known.
fn terminal_size() -> Option<Cells> {
    let out = std::io::stdout();
    if !out.is_terminal() {
        return None;
    }
    let from_tty = rustix::termios::tcgetwinsize(&out)
        .ok()
        .filter(|w| w.ws_col > 0 && w.ws_row > 0)
        .map(|w| Cells {
            cols: w.ws_col.into(),
            lines: w.ws_row.into(),
        });
    let env = |v: &str| {
        std::env::var(v)
            .ok()?
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|&n| n > 0)
    };
    from_tty.or_else(|| {
        Some(Cells {
            cols: env("COLUMNS")?,
            lines: env("LINES")?,
        })
    })
}

/// What one image held, checked before anything is stored.
struct Found {
    image: String,
    scanned: Scanned,
}

/// What one image holds, or why it holds nothing usable.
fn scan_one(path: &std::path::Path) -> Result<Vec<Found>> {
    let bytes = read_bounded(path, meishi_qr::MAX_IMAGE_BYTES as u64)?;
    let texts = scan_image(&bytes).map_err(|e| match e {
        ScanError::TooComplex { .. } => anyhow::anyhow!(
            "{}: {e}; crop the photo to the code, or take it closer so the code fills more of it",
            path.display()
        ),
        e => anyhow::anyhow!("{}: {e}", path.display()),
    })?;
    if texts.is_empty() {
        anyhow::bail!(
            "{}: no QR code found; try a sharper, closer, evenly lit photo",
            path.display()
        );
    }
    texts
        .into_iter()
        .map(|t| {
            // A meishi payload whose signature fails makes the image fail, not the scan.
            let scanned = classify(&t).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            Ok(Found {
                image: path.display().to_string(),
                scanned,
            })
        })
        .collect()
}

pub fn scan(home: &Home, args: ScanArgs) -> Result<()> {
    // Each image on its own: what one holds is kept even when another fails; the failures
    // are reported at the end and make the exit code non-zero.
    let mut found = Vec::new();
    let mut failed: Vec<anyhow::Error> = Vec::new();
    for path in &args.images {
        match scan_one(path) {
            Ok(f) => found.extend(f),
            Err(e) => failed.push(e),
        }
    }
    if found.is_empty() && failed.len() == 1 {
        return Err(Failure::new(BAD_INPUT, failed.remove(0)).into());
    }
    // Event join codes (from `meishi event new`, on a screen or a badge) are shown with the
    // command that joins; `classify` refused a malformed one, like a card that does not verify.
    let usable = found
        .iter()
        .filter(|f| !matches!(f.scanned, Scanned::Other(_)))
        .count();
    if usable == 0 && found.is_empty() {
        for e in &failed {
            eprintln!("{}", display_safe(&format!("{e:#}")));
        }
        return Err(Failure::new(
            BAD_INPUT,
            anyhow::anyhow!("none of the {} images holds a contact", args.images.len()),
        )
        .into());
    }
    if usable == 0 {
        for e in &failed {
            eprintln!("{}", display_safe(&format!("{e:#}")));
        }
        let shown: Vec<String> = found
            .iter()
            .filter_map(|f| match &f.scanned {
                Scanned::Other(t) => Some(display_safe(&t.chars().take(60).collect::<String>())),
                _ => None,
            })
            .collect();
        return Err(Failure::new(
            BAD_INPUT,
            anyhow::anyhow!("no contact in the QR codes (found: {})", shown.join(" | ")),
        )
        .into());
    }
    let own_key = home.identity().ok().map(|i| i.public());
    let mut store = home.store()?;
    // One list of cards, stored all or none by the application's one scan path.
    let scanned: Vec<Scanned> = found.iter().map(|f| f.scanned.clone()).collect();
    let stored = meishi_app::scan::store_scanned(&mut store, &scanned, own_key)
        .context("cannot store the scanned contacts")?;
    let report: Vec<_> = stored
        .into_iter()
        .map(|s| {
            let image = found
                .get(s.code)
                .map(|f| f.image.clone())
                .unwrap_or_default();
            (
                image,
                s.name,
                s.key,
                s.verified,
                s.result.to_string(),
                s.result.kept(),
            )
        })
        .collect();
    for (image, name, key, verified, result, kept) in &report {
        if args.json {
            println!(
                "{}",
                json!({"image": image, "name": name, "peer_id": key.map(|k| k.peer_id()), "verified": verified, "result": result})
            );
        } else {
            let v = if *verified { "verified" } else { "unverified" };
            eprintln!(
                "{}: {} ({v}): {result}",
                display_safe(image),
                display_safe(name)
            );
        }
        // A human warning, on stderr in both modes.
        if let Some(w) = kept.then(|| warn_for(&store, name, *key)).flatten() {
            eprintln!("{w}");
        }
    }
    for (image, ticket) in found.iter().filter_map(|f| match &f.scanned {
        Scanned::Event(t) => Some((&f.image, t)),
        _ => None,
    }) {
        // Rebuilt, not echoed: every byte of it percent-encoded but [A-Za-z0-9._~-], so a
        // hostile code cannot break out of the quotes of the command shown.
        let (uri, code, relays) = (ticket.to_string(), ticket.code(), ticket.relays());
        let join = format!("meishi event '{uri}'");
        if args.json {
            let relays: Vec<String> = relays.iter().map(|r| r.to_string()).collect();
            println!(
                "{}",
                json!({"image": image, "event_code": code, "relays": relays, "uri": uri, "join": join})
            );
        } else {
            eprintln!(
                "{}: an event join code ({} relay{}); to join:",
                display_safe(image),
                relays.len(),
                if relays.len() == 1 { "" } else { "s" }
            );
            println!("{}", display_safe(&join));
        }
    }
    for f in &found {
        if let Scanned::Other(t) = &f.scanned {
            eprintln!(
                "{}: skipped a QR code that is not a contact: {}",
                display_safe(&f.image),
                display_safe(&t.chars().take(60).collect::<String>())
            );
        }
    }
    if !failed.is_empty() {
        for e in &failed {
            eprintln!("{}", display_safe(&format!("{e:#}")));
        }
        return Err(Failure::new(
            BAD_INPUT,
            anyhow::anyhow!(
                "{} of {} images failed (above); what the others hold was stored",
                failed.len(),
                args.images.len()
            ),
        )
        .into());
    }
    Ok(())
}
