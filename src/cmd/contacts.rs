//! `meishi import` and `meishi contacts`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;
use meishi_card::{display_safe, vcard, PublicKey, SignedCard};
use meishi_store::{ContactRef, ContactSummary, Store};
use serde_json::{json, Value};

use crate::cmd::lookalike;
use crate::exit::{Failure, BAD_INPUT, NOT_FOUND};
use crate::home::Home;
use crate::output::{print_card, read_bounded};

/// Largest file `meishi import` reads: a signed card is at most 4 KiB, a .vcf of a whole phone
/// book a few hundred KiB.
const MAX_IMPORT_BYTES: u64 = 1 << 20;

/// One thing found in an import file, checked before anything is stored.
enum Found {
    Signed(Box<SignedCard>),
    Unverified(Vec<vcard::Imported>),
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
        let text = std::str::from_utf8(text_start)
            .map_err(|_| anyhow::anyhow!("{}: vCard is not UTF-8 text", path.display()))?;
        let cards = vcard::import(text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        return Ok(Found::Unverified(cards));
    }
    // A photo of a QR code is scanned, not imported: say so instead of a card decoding error.
    const IMAGES: [&[u8]; 3] = [b"\x89PNG\r\n\x1a\n", b"\xFF\xD8\xFF", b"GIF8"];
    if IMAGES.iter().any(|magic| bytes.starts_with(magic)) {
        anyhow::bail!(
            "{}: this is an image: read the QR code in it with `meishi scan {}`",
            path.display(),
            path.display()
        );
    }
    let card = SignedCard::decode(&bytes).map_err(|e| {
        anyhow::anyhow!("{}: not a valid meishi card or vCard: {e}", path.display())
    })?;
    Ok(Found::Signed(Box::new(card)))
}

pub fn import(home: &Home, files: &[PathBuf], json: bool) -> Result<()> {
    // Check every file first: one bad file stores nothing.
    let mut found = Vec::new();
    for f in files {
        found.push((f, classify(f).map_err(|e| Failure::new(BAD_INPUT, e))?));
    }
    let own_key = home.identity().ok().map(|i| i.public());
    let mut store = home.store()?;
    // One list of cards, stored all or none by the store's one import path.
    let mut items = Vec::new();
    let mut whence = Vec::new();
    for (path, item) in &found {
        let file = path.display().to_string();
        match item {
            Found::Signed(card) => {
                items.push(meishi_store::Import::Signed(card));
                whence.push((
                    file,
                    card.card().name.clone(),
                    Some(card.key()),
                    Some(&**card),
                ));
            }
            Found::Unverified(cards) => {
                for c in cards {
                    items.push(meishi_store::Import::Unverified {
                        card: &c.card,
                        key: c.key,
                    });
                    whence.push((file.clone(), c.card.name.clone(), c.key, None));
                }
            }
        }
    }
    let results = store.import(&items, meishi_store::Via::Import, own_key)?;
    let report: Vec<Imported> = whence
        .into_iter()
        .zip(results)
        .map(|((file, name, key, signed), result)| Imported {
            file,
            name,
            key,
            signed,
            kept: result.kept(),
            result: result.to_string(),
        })
        .collect();
    for r in &report {
        if json {
            println!(
                "{}",
                json!({"file": r.file, "name": r.name, "peer_id": r.key.map(|k| k.peer_id()), "verified": r.signed.is_some(), "result": r.result})
            );
        } else {
            let v = if r.signed.is_some() {
                "verified"
            } else {
                "unverified"
            };
            eprintln!(
                "{}: {} ({v}): {}",
                display_safe(&r.file),
                display_safe(&r.name),
                r.result
            );
        }
        // A human warning, on stderr in both modes.
        let warning = match (r.kept, r.signed) {
            (false, _) => None,
            (true, Some(card)) => lookalike::warn_lookalikes(&store, card),
            (true, None) => lookalike::warn_for(&store, &r.name, r.key),
        };
        if let Some(w) = warning {
            eprintln!("{w}");
        }
    }
    Ok(())
}

/// One card `import` handled, for its report.
struct Imported<'a> {
    file: String,
    name: String,
    key: Option<PublicKey>,
    /// The signed card; `None` for a vCard (unverified).
    signed: Option<&'a SignedCard>,
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

fn lookup(store: &Store, id: &str) -> Result<ContactRef> {
    let r = ContactRef::parse(id).map_err(|e| Failure::new(BAD_INPUT, anyhow::anyhow!("{e}")))?;
    let found = store.resolve(&r).map_err(|e| match e {
        e @ (meishi_store::StoreError::AmbiguousName { .. }
        | meishi_store::StoreError::AmbiguousRef { .. }) => Failure::new(BAD_INPUT, e.into()),
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
            if json {
                let mut v = contact_json(&c)?;
                v["lookalikes"] = json!(lookalikes.iter().map(|o| o.id).collect::<Vec<_>>());
                println!("{v}");
            } else {
                print_card(&c.card, c.summary.key, c.summary.seq, c.summary.verified);
                if !c.tags.is_empty() {
                    println!("  {:<12}{}", "my tags", display_safe(&c.tags.join(", ")));
                }
                if let Some(f) = &c.follow_up {
                    println!("  {:<12}{}", "follow up", display_safe(f));
                }
                for (m, both) in meetings(&c.meetings) {
                    let ev = m
                        .record
                        .event
                        .as_deref()
                        .map(|e| format!(" at event {}", display_safe(e)))
                        .unwrap_or_default();
                    let both = if both { " (both signed)" } else { "" };
                    println!(
                        "  {:<12}{} via {}{ev}{both}",
                        "met",
                        crate::output::date_time(m.record.at),
                        display_safe(&m.record.via)
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
                .map_err(|e| Failure::new(BAD_INPUT, e.into()))?;
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

/// How long apart the two envelopes of one mutual swap may be signed.
const SWAP_WINDOW_SECS: u64 = 600;

/// Meetings as a person remembers them: a mutual swap (my envelope to them and theirs to me,
/// signed close together and the same way) is one meeting, `true` = both signed.
fn meetings(all: &[meishi_store::Meeting]) -> Vec<(&meishi_store::Meeting, bool)> {
    let mut out: Vec<(&meishi_store::Meeting, bool)> = Vec::new();
    for m in all {
        let pair = out.iter_mut().find(|(o, both)| {
            !*both
                && o.record.from == m.record.to
                && o.record.to == m.record.from
                && o.record.via == m.record.via
                && o.record.at.abs_diff(m.record.at) <= SWAP_WINDOW_SECS
        });
        match pair {
            Some(p) => p.1 = true,
            None => out.push((m, false)),
        }
    }
    out
}

#[cfg(test)]
mod meeting_tests {
    use meishi_card::PublicKey;
    use meishi_store::{Meeting, MeetingRecord};

    fn m(id: i64, from: u8, to: u8, at: u64) -> Meeting {
        Meeting {
            id,
            record: MeetingRecord {
                envelope: vec![id as u8],
                from: PublicKey([from; 32]),
                to: PublicKey([to; 32]),
                at,
                event: None,
                via: "swap".into(),
            },
            recorded_at: at,
        }
    }

    #[test]
    fn a_mutual_swap_is_one_meeting() {
        let all = [m(1, 1, 2, 100), m(2, 2, 1, 101), m(3, 1, 2, 9_000)];
        let shown: Vec<(i64, bool)> = super::meetings(&all)
            .into_iter()
            .map(|(m, both)| (m.id, both))
            .collect();
        assert_eq!(shown, [(1, true), (3, false)]);
    }
}
