//! `meishi import` and `meishi contacts`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;
use meishi_card::{display_safe, vcard, PublicKey, SignedCard};
use meishi_store::{ContactRef, ContactSummary, Store};
use serde_json::{json, Value};

use crate::cmd::lookalike;
use crate::exit::{Failure, BAD_INPUT, NOT_FOUND, USAGE};
use crate::home::Home;
use crate::output::{print_card, read_bounded};

/// Largest file `meishi import` reads: a signed card is at most 4 KiB, a .vcf of a whole phone
/// book a few hundred KiB.
const MAX_IMPORT_BYTES: u64 = 1 << 20;

/// What one import file holds, checked before anything is stored.
enum Found {
    Signed(Box<SignedCard>),
    /// A `.vcf`: each card read on its own, so that one bad card does not block the others.
    Unverified(Vec<Result<vcard::Entry, vcard::ImportError>>),
}

/// Image formats people try to import, by their magic bytes; `meishi scan` reads the first two.
const IMAGES: [(&[u8], &str); 5] = [
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xFF\xD8\xFF", "JPEG"),
    (b"GIF8", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
];

/// The kind of image `bytes` is, when it is one.
fn image_kind(bytes: &[u8]) -> Option<&'static str> {
    if let Some((_, kind)) = IMAGES.iter().find(|(magic, _)| bytes.starts_with(magic)) {
        return Some(kind);
    }
    // ISO media (HEIC, what iPhone cameras save; AVIF) and RIFF (WebP) name the format at 4 and 8.
    match (bytes.get(4..8), bytes.get(8..12)) {
        (Some(b"ftyp"), Some(b"heic" | b"heix" | b"mif1" | b"msf1" | b"hevc")) => Some("HEIC"),
        (Some(b"ftyp"), Some(b"avif")) => Some("AVIF"),
        (_, Some(b"WEBP")) if bytes.starts_with(b"RIFF") => Some("WebP"),
        _ => None,
    }
}

fn classify(path: &Path) -> Result<Found> {
    let bytes = read_bounded(path, MAX_IMPORT_BYTES)?;
    let text_start = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    let head: Vec<u8> = text_start
        .iter()
        .skip_while(|b| b.is_ascii_whitespace())
        .take(11)
        .copied()
        .collect();
    if head.eq_ignore_ascii_case(b"BEGIN:VCARD") {
        let text = std::str::from_utf8(text_start).map_err(|_| {
            anyhow::anyhow!(
                "{}: the vCard is not UTF-8 text: export it again as UTF-8 (or vCard 3.0)",
                path.display()
            )
        })?;
        let cards =
            vcard::import_each(text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        return Ok(Found::Unverified(cards));
    }
    // A photo of a QR code is scanned, not imported: say so instead of a card decoding error.
    match image_kind(&bytes) {
        Some("PNG" | "JPEG") => anyhow::bail!(
            "{}: this is an image: read the QR code in it with `meishi scan {}`",
            path.display(),
            path.display()
        ),
        Some(kind) => anyhow::bail!(
            "{}: this is a {kind} image, and `meishi scan` reads PNG and JPEG: save it as one (a screenshot works), then `meishi scan` it",
            path.display()
        ),
        None => {}
    }
    let card = SignedCard::decode(&bytes).map_err(|e| {
        anyhow::anyhow!("{}: not a valid meishi card or vCard: {e}", path.display())
    })?;
    Ok(Found::Signed(Box::new(card)))
}

/// Imports each file on its own: what the good files (and the good cards of a `.vcf`) hold is
/// stored, in one transaction, and every file or card that could not be is named on its own
/// line. Exits with [`BAD_INPUT`] when a file failed (one with no importable card included).
pub fn import(home: &Home, files: &[PathBuf], json: bool) -> Result<()> {
    let mut found = Vec::with_capacity(files.len());
    for f in files {
        found.push((f, classify(f)));
    }
    // Only a file with something to store opens the book: one bad file alone touches nothing.
    let anything = found.iter().any(|(_, item)| match item {
        Ok(Found::Signed(_)) => true,
        Ok(Found::Unverified(cards)) => cards.iter().any(Result::is_ok),
        Err(_) => false,
    });
    let own_key = home.identity().ok().map(|i| i.public());
    // One list of cards, stored all or none by the store's one import path.
    let mut items = Vec::new();
    let mut whence = Vec::new();
    for (i, (_, item)) in found.iter().enumerate() {
        match item {
            Ok(Found::Signed(card)) => {
                items.push(meishi_store::Import::Signed(card));
                whence.push((
                    i,
                    card.card().name.clone(),
                    Some(card.key()),
                    Some(&**card),
                    None,
                ));
            }
            Ok(Found::Unverified(cards)) => {
                for c in cards.iter().flatten() {
                    let c_card = &c.imported.card;
                    items.push(meishi_store::Import::Unverified {
                        card: c_card,
                        key: c.imported.key,
                    });
                    whence.push((i, c_card.name.clone(), c.imported.key, None, c.named_by));
                }
            }
            Err(_) => {}
        }
    }
    let (store, results) = if anything {
        let mut store = home.store()?;
        let results = store.import(&items, meishi_store::Via::Import, own_key)?;
        (Some(store), results)
    } else {
        (None, Vec::new())
    };
    let report: Vec<Imported> = whence
        .into_iter()
        .zip(results)
        .map(|((file, name, key, signed, named_by), result)| Imported {
            file,
            name,
            key,
            signed,
            named_by,
            kept: result.kept(),
            result: result.to_string(),
        })
        .collect();

    // One line per failed file, `path: what is wrong`.
    let mut failed: Vec<String> = Vec::new();
    // The report is in file order: each file's stored cards, then what went wrong in it.
    let mut report = report.iter().peekable();
    for (i, (path, item)) in found.iter().enumerate() {
        let file = path.display().to_string();
        while let Some(r) = report.next_if(|r| r.file == i) {
            print_imported(store.as_ref(), &file, r, json);
        }
        match item {
            Ok(Found::Signed(_)) => {}
            Ok(Found::Unverified(cards)) => {
                let skipped: Vec<&vcard::ImportError> =
                    cards.iter().filter_map(|r| r.as_ref().err()).collect();
                let imported = cards.len() - skipped.len();
                match (imported, skipped.as_slice()) {
                    // A file of one bad card: the card's error is the file's.
                    (0, [only]) => failed.push(format!("{file}: {only}")),
                    (0, _) => {
                        for e in &skipped {
                            eprintln!("{}", display_safe(&format!("{file}: skipped {e}")));
                        }
                        failed.push(format!(
                            "{file}: none of its {} cards could be imported (reasons above)",
                            skipped.len()
                        ));
                    }
                    (1, []) => {}
                    (_, []) => eprintln!("{}: {imported} cards imported", display_safe(&file)),
                    (_, _) => {
                        for e in &skipped {
                            eprintln!("{}", display_safe(&format!("{file}: skipped {e}")));
                        }
                        eprintln!(
                            "{}: {imported} {} imported, {} skipped (reasons above)",
                            display_safe(&file),
                            if imported == 1 { "card" } else { "cards" },
                            skipped.len()
                        );
                    }
                }
            }
            Err(e) => failed.push(format!("{e:#}")),
        }
    }
    match failed.len() {
        0 => Ok(()),
        // One file, and it failed: its own error is the one line.
        1 if files.len() == 1 => {
            Err(Failure::new(BAD_INPUT, anyhow::anyhow!("{}", failed.remove(0))).into())
        }
        n => {
            for e in &failed {
                eprintln!("{}", display_safe(e));
            }
            let rest = if n == files.len() {
                "nothing was imported"
            } else {
                "the others were imported"
            };
            Err(Failure::new(
                BAD_INPUT,
                anyhow::anyhow!("{n} of {} files failed (above); {rest}", files.len()),
            )
            .into())
        }
    }
}

/// The report line (or JSON line) of one stored card, and a look-alike warning when due.
fn print_imported(store: Option<&Store>, file: &str, r: &Imported<'_>, json: bool) {
    if json {
        println!(
            "{}",
            json!({"file": file, "name": r.name, "peer_id": r.key.map(|k| k.peer_id()), "verified": r.signed.is_some(), "result": r.result})
        );
    } else {
        let v = if r.signed.is_some() {
            "verified"
        } else {
            "unverified"
        };
        let named = r
            .named_by
            .map(|by| format!(", named by {by}"))
            .unwrap_or_default();
        eprintln!(
            "{}: {} ({v}{named}): {}",
            display_safe(file),
            display_safe(&r.name),
            r.result
        );
    }
    // A human warning, on stderr in both modes.
    let Some(store) = store else { return };
    let warning = match (r.kept, r.signed) {
        (false, _) => None,
        (true, Some(card)) => lookalike::warn_lookalikes(store, card),
        (true, None) => lookalike::warn_for(store, &r.name, r.key),
    };
    if let Some(w) = warning {
        eprintln!("{w}");
    }
}

/// One card `import` stored, for its report.
struct Imported<'a> {
    /// Index of its file in the command line.
    file: usize,
    name: String,
    key: Option<PublicKey>,
    /// The signed card; `None` for a vCard (unverified).
    signed: Option<&'a SignedCard>,
    /// What a nameless vCard was named by.
    named_by: Option<vcard::NamedBy>,
    result: String,
    /// Whether the book now holds the card, so that look-alikes are worth a warning.
    kept: bool,
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
    /// Full-text search over names, organizations, titles, notes and tags.
    Search {
        /// Words to look for; each matches as a prefix (`anal` finds "Analytical").
        #[arg(required = true)]
        query: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Add a note to a contact.
    Note { id: String, text: String },
    /// Add or remove tags on a contact.
    Tag {
        id: String,
        /// Tags to add.
        #[arg(required_unless_present = "remove")]
        tags: Vec<String>,
        /// Tags to remove (repeatable).
        #[arg(long = "rm", value_name = "TAG")]
        remove: Vec<String>,
    },
    /// Set (YYYY-MM-DD) or clear (`none`) a follow-up date; without ID, list due follow-ups.
    FollowUp {
        id: Option<String>,
        date: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Write every contact (or the given ones) as one .vcf file, for a phone.
    Export {
        #[arg(long, value_enum, default_value = "vcard")]
        format: VcardFormat,
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
        /// Contacts to export; all without.
        ids: Vec<String>,
    },
    /// Delete a contact and everything stored about it.
    Remove { id: String },
    /// Stop sharing with a contact: they may no longer fetch your card (edits stop reaching
    /// them), and a card they give again waits in your inbox. Removing a contact revokes too.
    Revoke { id: String },
    /// Pick up your contacts' edited cards (and messages) from their relays now; `meishi up`
    /// does it when it starts and every 5 minutes.
    Refresh {
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum VcardFormat {
    /// vCard 3.0 (what phones import best).
    Vcard,
    /// vCard 4.0.
    Vcard4,
}

/// "Ada Lovelace (#3)": a contact named for a confirmation line (made safe to print).
fn who(store: &Store, r: &ContactRef) -> Result<String> {
    Ok(match store.get(r)? {
        Some(c) => format!("{} (#{})", display_safe(&c.card.name), c.summary.id),
        None => r.to_string(),
    })
}

pub(crate) fn lookup(store: &Store, id: &str) -> Result<ContactRef> {
    let r = ContactRef::parse(id).map_err(|e| Failure::new(USAGE, anyhow::anyhow!("{e}")))?;
    let found = store.resolve(&r).map_err(|e| match e {
        e @ (meishi_store::StoreError::AmbiguousName { .. }
        | meishi_store::StoreError::AmbiguousRef { .. }) => Failure::new(USAGE, e.into()),
        e => Failure::new(crate::exit::FAILURE, e.into()),
    })?;
    if found.is_none() {
        return Err(Failure::new(
            NOT_FOUND,
            anyhow::anyhow!("no contact {id:?}; see `meishi contacts list`"),
        )
        .into());
    }
    Ok(r)
}

/// Prints contacts, one a line: id, ✓ (signed) or ?, the short fingerprint of a signed card's
/// key, name, organization, peer id, and a mark when another contact has the same name under
/// another key. JSON: [`summary_json`] plus `lookalikes`.
fn print_list(store: &Store, list: &[ContactSummary], json: bool) -> Result<()> {
    let lookalikes = store
        .lookalike_ids()
        .context("cannot check the contacts for look-alikes")?;
    let of = |id: i64| lookalikes.get(&id).map_or(&[][..], Vec::as_slice);
    if json {
        let rows = list
            .iter()
            .map(|c| {
                let mut v = summary_json(c);
                v["lookalikes"] = json!(of(c.id));
                v
            })
            .collect();
        println!("{}", Value::Array(rows));
        return Ok(());
    }
    for c in list {
        let v = if c.verified { "✓" } else { "?" };
        // Only a signed card proves its key; an unverified one's key is just a claim.
        let fp = match c.key {
            Some(k) if c.verified => lookalike::short_fingerprint(&k),
            _ => String::new(),
        };
        let org = c
            .org
            .as_deref()
            .map(|o| format!(" — {}", display_safe(o)))
            .unwrap_or_default();
        let pid = c.key.map(|k| k.peer_id()).unwrap_or_else(|| "-".into());
        let mark = match of(c.id) {
            [] => String::new(),
            ids => format!("  {}", lookalike::list_mark(ids)),
        };
        println!(
            "{:>4} {v} {fp:<11}  {}{org}  {pid}{mark}",
            c.id,
            display_safe(&c.name)
        );
    }
    Ok(())
}

pub fn summary_json(c: &ContactSummary) -> Value {
    json!({
        "id": c.id,
        "peer_id": c.key.map(|k| k.peer_id()),
        "fingerprint": c.key.map(|k| k.fingerprint()),
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
            if list.is_empty() && !json {
                eprintln!("No contacts yet. Import a card with `meishi import FILE` or swap with `meishi swap`.");
            }
            print_list(&store, &list, json)?;
        }
        ContactsCmd::Show { id, json } => {
            let r = lookup(&store, &id)?;
            let c = store
                .get(&r)
                .context("cannot look up the contact")?
                .context("the contact vanished")?;
            let lookalikes = store
                .lookalikes(&c.summary.name, c.summary.key)
                .context("cannot check the contacts for look-alikes")?;
            // Introduced by a contact: verified, not met in person until a swap or a scan.
            let introduced = match c.summary.key {
                Some(k) => store.introduced_by(&k)?.map(|i| {
                    let by = store
                        .get(&ContactRef::Key(i.introducer))
                        .ok()
                        .flatten()
                        .map_or_else(|| "a former contact".to_owned(), |c| c.card.name);
                    (by, i.received_at)
                }),
                None => None,
            };
            if json {
                let mut v = contact_json(&c)?;
                v["lookalikes"] = json!(lookalikes.iter().map(|o| o.id).collect::<Vec<_>>());
                v["introduced_by"] = json!(introduced.as_ref().map(|(by, _)| by));
                v["met_in_person"] = json!(!c.meetings.is_empty());
                println!("{v}");
            } else {
                print_card(&c.card, c.summary.key, c.summary.seq, c.summary.verified);
                if let Some((by, at)) = &introduced {
                    let met = if c.meetings.is_empty() {
                        "; not met in person yet"
                    } else {
                        ""
                    };
                    println!(
                        "  {:<12}by {} ({}){met}",
                        "introduced",
                        display_safe(by),
                        crate::output::date_time(*at),
                    );
                }
                if !c.tags.is_empty() {
                    println!("  {:<12}{}", "my tags", display_safe(&c.tags.join(", ")));
                }
                if let Some(f) = &c.follow_up {
                    println!("  {:<12}{}", "follow up", display_safe(f));
                }
                for (m, both) in meishi_app::book::meetings(&c.meetings) {
                    // At a named event, the event says where; otherwise how the cards met.
                    let place = match m.record.event.as_deref() {
                        Some(e) => format!("at {}", display_safe(e)),
                        None => format!("via {}", display_safe(&m.record.via)),
                    };
                    let both = if both { " (both signed)" } else { "" };
                    println!(
                        "  {:<12}{} {place}{both}",
                        "met",
                        crate::output::date_time(m.record.at),
                    );
                }
                for n in &c.notes {
                    println!(
                        "  {:<12}{} {}",
                        "note",
                        crate::output::date_time(n.created_at),
                        display_safe(&n.text)
                    );
                }
                for w in lookalike::show_warnings(&lookalikes) {
                    println!("{w}");
                }
            }
        }
        ContactsCmd::Search { query, json } => {
            let q = query.join(" ");
            let found = store.search(&q)?;
            if found.is_empty() && !json {
                eprintln!("No contact matches {:?}", display_safe(&q));
            }
            print_list(&store, &found, json)?;
        }
        ContactsCmd::Note { id, text } => {
            let r = lookup(&store, &id)?;
            store.add_note(&r, &text)?;
            eprintln!("Note added to {}", who(&store, &r)?);
        }
        ContactsCmd::Tag { id, tags, remove } => {
            let r = lookup(&store, &id)?;
            for t in &tags {
                store.add_tag(&r, t)?;
            }
            for t in &remove {
                if !store.remove_tag(&r, t)? {
                    eprintln!("(no tag {:?} to remove)", display_safe(t));
                }
            }
            let now_tags = store.get(&r)?.map(|c| c.tags).unwrap_or_default();
            eprintln!(
                "{} is tagged: {}",
                who(&store, &r)?,
                if now_tags.is_empty() {
                    "(no tags)".to_owned()
                } else {
                    display_safe(&now_tags.join(", "))
                }
            );
        }
        ContactsCmd::FollowUp { id: None, json, .. } => {
            let due = store.follow_ups(None)?;
            if json {
                let v: Vec<Value> = due
                    .iter()
                    .map(|(c, d)| {
                        let mut v = summary_json(c);
                        v["follow_up"] = json!(d);
                        v
                    })
                    .collect();
                println!("{}", Value::Array(v));
            } else {
                // Dates on or before today are due; later ones are coming up.
                let today: String = crate::output::date_time(crate::home::now())
                    .chars()
                    .take(10)
                    .collect();
                for (c, d) in &due {
                    let when = if d.as_str() <= today.as_str() {
                        "due"
                    } else {
                        "upcoming"
                    };
                    println!("{d}  {when:<8} {:>4} {}", c.id, display_safe(&c.name));
                }
            }
        }
        ContactsCmd::FollowUp {
            id: Some(id), date, ..
        } => {
            let r = lookup(&store, &id)?;
            let date = date.context("give a date (YYYY-MM-DD) or `none`")?;
            let d = (date != "none").then_some(date.as_str());
            store
                .set_follow_up(&r, d)
                .map_err(|e| Failure::new(USAGE, e.into()))?;
            match d {
                Some(d) => eprintln!("Follow up with {} on {d}", who(&store, &r)?),
                None => eprintln!("No follow-up for {}", who(&store, &r)?),
            }
        }
        ContactsCmd::Export {
            format,
            output,
            ids,
        } => {
            let version = match format {
                VcardFormat::Vcard => vcard::Version::V3,
                VcardFormat::Vcard4 => vcard::Version::V4,
            };
            let refs: Vec<ContactRef> = if ids.is_empty() {
                store.list()?.iter().map(|c| ContactRef::Id(c.id)).collect()
            } else {
                ids.iter()
                    .map(|i| lookup(&store, i))
                    .collect::<Result<_>>()?
            };
            let mut items = Vec::with_capacity(refs.len());
            for r in &refs {
                if let Some(c) = store.get(r)? {
                    items.push((c.card, c.summary.key));
                }
            }
            let text = vcard::export_many(&items, version);
            crate::output::write_out(output.as_deref(), text.as_bytes())?;
            eprintln!("Exported {} contacts", items.len());
        }
        ContactsCmd::Remove { id } => {
            let r = lookup(&store, &id)?;
            let name = who(&store, &r)?;
            store.remove(&r)?;
            eprintln!("Removed {name}; they may no longer fetch your card.");
        }
        ContactsCmd::Refresh { json } => {
            drop(store);
            crate::cmd::updates::refresh(home, json)?;
        }
        ContactsCmd::Revoke { id } => {
            let r = lookup(&store, &id)?;
            match store.revoke(&r)? {
                Some(_) => eprintln!(
                    "Revoked: they may no longer fetch your card, and a running `meishi up` \
                     stops answering them. Giving them your card again (swap, accept) undoes it."
                ),
                None => eprintln!(
                    "This contact has no meishi key (an imported vCard): it never received your \
                     card over the network, so there is nothing to revoke."
                ),
            }
        }
    }
    Ok(())
}

/// The JSON form of one contact (stable: documented in the README).
pub fn contact_json(c: &meishi_store::Contact) -> Result<Value> {
    let mut v = summary_json(&c.summary);
    v["card"] = serde_json::to_value(&c.card)?;
    v["history"] = json!(c.history);
    v["via"] = json!(c.via);
    v["tags"] = json!(c.tags);
    v["follow_up"] = json!(c.follow_up);
    v["notes"] = Value::Array(
        c.notes
            .iter()
            .map(|n| json!({"text": n.text, "created_at": n.created_at}))
            .collect(),
    );
    v["meetings"] = Value::Array(
        c.meetings
            .iter()
            .map(|m| json!({"at": m.record.at, "event": m.record.event, "via": m.record.via, "from": m.record.from.peer_id(), "to": m.record.to.peer_id()}))
            .collect(),
    );
    Ok(v)
}
