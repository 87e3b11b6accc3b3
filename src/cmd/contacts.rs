//! `meishi import` and `meishi contacts`.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use meishi_card::{display_safe, vcard, SignedCard};
use meishi_store::{ContactRef, ContactSummary, PutOutcome};
use serde_json::{json, Value};

use crate::exit::{Failure, BAD_INPUT, NOT_FOUND};
use crate::home::Home;
use crate::output::{print_card, read_bounded};

/// Largest file `meishi import` reads: a signed card is at most 4 KiB, a .vcf of a whole phone
/// book a few hundred KiB.
const MAX_IMPORT_BYTES: u64 = 1 << 20;

/// One thing found in an import file, checked before anything is stored.
enum Found {
    Signed(SignedCard),
    Unverified(Vec<vcard::Imported>),
}

fn classify(path: &PathBuf) -> Result<Found> {
    let bytes = read_bounded(path, MAX_IMPORT_BYTES)?;
    let text_start = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    let head: Vec<u8> = text_start.iter().skip_while(|b| b.is_ascii_whitespace()).take(11).copied().collect();
    if head.eq_ignore_ascii_case(b"BEGIN:VCARD") {
        let text = std::str::from_utf8(text_start)
            .map_err(|_| anyhow::anyhow!("{}: vCard is not UTF-8 text", path.display()))?;
        let cards = vcard::import(text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        return Ok(Found::Unverified(cards));
    }
    let card = SignedCard::decode(&bytes).map_err(|e| {
        anyhow::anyhow!("{}: not a valid meishi card or vCard: {e}", path.display())
    })?;
    Ok(Found::Signed(card))
}

pub fn import(home: &Home, files: &[PathBuf], json: bool) -> Result<()> {
    // Check every file first: one bad file stores nothing.
    let mut found = Vec::new();
    for f in files {
        found.push((f, classify(f).map_err(|e| Failure::new(BAD_INPUT, e))?));
    }
    let own_key = home.identity().ok().map(|i| i.public());
    let mut store = home.store()?;
    let mut report = Vec::new();
    store.transaction(|tx| {
        for (path, item) in &found {
            match item {
                Found::Signed(card) => {
                    if Some(card.key()) == own_key {
                        report.push((path.display().to_string(), card.card().name.clone(), Some(card.key()), true, "own card, skipped".to_owned()));
                        continue;
                    }
                    let outcome = tx.put_signed(card, "import")?;
                    report.push((path.display().to_string(), card.card().name.clone(), Some(card.key()), true, describe(&outcome)));
                }
                Found::Unverified(cards) => {
                    for c in cards {
                        let outcome = tx.put_unverified(&c.card, c.key, "import")?;
                        report.push((path.display().to_string(), c.card.name.clone(), c.key, false, describe(&outcome)));
                    }
                }
            }
        }
        Ok(())
    })?;
    for (file, name, key, verified, what) in &report {
        if json {
            println!("{}", json!({"file": file, "name": name, "peer_id": key.map(|k| k.peer_id()), "verified": verified, "result": what}));
        } else {
            let v = if *verified { "verified" } else { "unverified" };
            eprintln!("{}: {} ({v}): {what}", display_safe(file), display_safe(name));
        }
    }
    Ok(())
}

/// One word a person or a script reads about what happened to a stored card.
pub fn describe(o: &PutOutcome) -> String {
    match o {
        PutOutcome::Added => "added".into(),
        PutOutcome::Updated { old_seq, new_seq } => format!("updated (seq {old_seq} -> {new_seq})"),
        PutOutcome::Unchanged => "already known".into(),
        PutOutcome::Older { stored_seq, incoming_seq } => {
            format!("refused: seq {incoming_seq} is older than the stored seq {stored_seq} (a replay)")
        }
        PutOutcome::Equivocation { seq } => {
            format!("refused: a different card with the same seq {seq} is stored; the key signed two cards (recorded)")
        }
        #[allow(unreachable_patterns)]
        other => format!("{other:?}"),
    }
}

#[derive(Subcommand, Debug)]
pub enum ContactsCmd {
    /// List your contacts.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one contact: ID is the number from `list`, a peer id, or a unique peer-id prefix.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
}

pub fn summary_json(c: &ContactSummary) -> Value {
    json!({
        "id": c.id,
        "peer_id": c.key.map(|k| k.peer_id()),
        "name": c.name,
        "org": c.org,
        "title": c.title,
        "verified": c.verified,
        "seq": c.seq,
    })
}

pub fn contacts(home: &Home, cmd: ContactsCmd) -> Result<()> {
    let store = home.store()?;
    match cmd {
        ContactsCmd::List { json } => {
            let list = store.list()?;
            if json {
                println!("{}", Value::Array(list.iter().map(summary_json).collect()));
            } else if list.is_empty() {
                eprintln!("No contacts yet. Import a card with `meishi import FILE` or swap with `meishi swap`.");
            } else {
                for c in &list {
                    let v = if c.verified { "✓" } else { "?" };
                    let org = c.org.as_deref().map(|o| format!(" — {}", display_safe(o))).unwrap_or_default();
                    let pid = c.key.map(|k| k.peer_id()).unwrap_or_else(|| "-".into());
                    println!("{:>4} {v} {}{org}  {pid}", c.id, display_safe(&c.name));
                }
            }
        }
        ContactsCmd::Show { id, json } => {
            let r = ContactRef::parse(&id).map_err(|e| Failure::new(BAD_INPUT, anyhow::anyhow!("{e}")))?;
            let Some(c) = store.get(&r).context("cannot look up the contact")? else {
                return Err(Failure::new(NOT_FOUND, anyhow::anyhow!("no contact {id:?}; see `meishi contacts list`")).into());
            };
            if json {
                let mut v = summary_json(&c.summary);
                v["card"] = serde_json::to_value(&c.card)?;
                v["history"] = json!(c.history);
                println!("{v}");
            } else {
                print_card(&c.card, c.summary.key, c.summary.seq, c.summary.verified);
            }
        }
    }
    Ok(())
}

#[allow(dead_code)]
fn unused() -> Result<()> {
    bail!("")
}
