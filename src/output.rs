//! Printing: human text (sanitized: card text is attacker-controlled) and stable JSON.

use std::path::Path;

use anyhow::{Context, Result};
use meishi_card::{display_safe, Card, PublicKey, SignedCard};
use serde_json::{json, Value};

/// Prints a card for a person on stdout. Every card string goes through `display_safe`.
pub fn print_card(card: &Card, key: Option<PublicKey>, seq: Option<u64>, verified: bool) {
    let s = display_safe;
    println!("{}", s(&card.name));
    let line = |label: &str, v: &str| println!("  {label:<12}{}", s(v));
    if let Some(t) = &card.title {
        line("title", t);
    }
    if let Some(o) = &card.org {
        line("org", o);
    }
    for e in &card.emails {
        line("email", e);
    }
    for p in &card.phones {
        line("phone", p);
    }
    for u in &card.urls {
        line("url", u);
    }
    for so in &card.socials {
        let shown = so.url().unwrap_or_else(|| so.handle.clone());
        line(&so.kind.name(), &shown);
    }
    if let Some(n) = &card.note {
        line("note", n);
    }
    if !card.tags.is_empty() {
        line("tags", &card.tags.join(", "));
    }
    match key {
        Some(k) => {
            println!("  {:<12}{}", "peer id", k.peer_id());
            println!("  {:<12}{}", "fingerprint", k.fingerprint());
        }
        None => println!("  {:<12}(none)", "peer id"),
    }
    if let Some(seq) = seq {
        println!("  {:<12}{seq}", "seq");
    }
    println!(
        "  {:<12}{}",
        "verified",
        if verified {
            "yes (signed card)"
        } else {
            "no (unsigned vCard)"
        }
    );
}

/// The JSON form of a signed card (stable: documented in the README).
pub fn signed_card_json(c: &SignedCard) -> Value {
    json!({
        "peer_id": c.key().peer_id(),
        "fingerprint": c.key().fingerprint(),
        "seq": c.seq(),
        "issued_at": c.issued_at(),
        "card": c.card(),
    })
}

/// Writes to stdout, or to a file: private (0600), atomically, never through a symlink
/// ([`crate::home::write_private`]).
pub fn write_out(path: Option<&Path>, bytes: &[u8]) -> Result<()> {
    match path {
        None => crate::cmd::card::stdout_all(bytes),
        Some(p) => {
            crate::home::write_private(p, bytes)?;
            eprintln!("Wrote {}", p.display());
            Ok(())
        }
    }
}

/// Reads a file from outside with a size bound, so a huge or endless file is refused early.
pub fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    let f =
        std::fs::File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    let mut buf = Vec::new();
    f.take(max + 1)
        .read_to_end(&mut buf)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    if buf.len() as u64 > max {
        anyhow::bail!(
            "{}: file is larger than {} bytes; not a meishi card or vCard",
            path.display(),
            max
        );
    }
    Ok(buf)
}

pub use meishi_app::book::date_time;
