//! `meishi init`, `meishi id`, `meishi card show|edit|export`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use meishi_card::{display_safe, vcard, Card, Identity, SignedCard, SocialKind};

use crate::exit::{Failure, USAGE};
use crate::home::{now, Home};
use crate::output::{print_card, write_out};

/// A flag value that cannot be used, or a flag missing: exit code 2, like clap's own errors.
fn usage(e: anyhow::Error) -> anyhow::Error {
    Failure::new(USAGE, e).into()
}

/// Card fields, as flags. Shared by `init` and `card edit`.
#[derive(Args, Debug, Default)]
pub struct CardFields {
    /// Display name.
    #[arg(long)]
    pub name: Option<String>,
    /// Job title.
    #[arg(long)]
    pub title: Option<String>,
    /// Organization.
    #[arg(long)]
    pub org: Option<String>,
    /// Email address (repeatable).
    #[arg(long = "email", value_name = "EMAIL")]
    pub emails: Vec<String>,
    /// Phone number (repeatable).
    #[arg(long = "phone", value_name = "PHONE")]
    pub phones: Vec<String>,
    /// Web address (repeatable).
    #[arg(long = "url", value_name = "URL")]
    pub urls: Vec<String>,
    /// Social handle as KIND:HANDLE, e.g. github:adalovelace (repeatable). Kinds: website,
    /// linkedin, github, mastodon, x, bluesky, instagram, telegram, gitlab, youtube, threads,
    /// matrix, signal, orcid, codeberg.
    #[arg(long = "social", value_name = "KIND:HANDLE")]
    pub socials: Vec<String>,
    /// A one-line headline.
    #[arg(long)]
    pub note: Option<String>,
    /// Interest tag (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
}

#[derive(Args, Debug)]
pub struct InitArgs {
    #[command(flatten)]
    pub fields: CardFields,
    /// What people nearby and at events see before you swap: nothing (off, the default), your
    /// name, or your name and headline (the note, else the title).
    #[arg(long, value_enum, value_name = "WHAT")]
    pub teaser: Option<TeaserArg>,
    /// Whether contacts may introduce you to others: ask (each introduction waits for your
    /// decision; the default) or never (every introduction is declined at once). Not part of
    /// the signed card.
    #[arg(long, value_enum, value_name = "CHOICE")]
    pub introductions: Option<IntroArg>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntroArg {
    Ask,
    Never,
}

/// The teaser choice on the command line.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TeaserArg {
    Off,
    Name,
    Headline,
}

impl From<TeaserArg> for meishi_store::TeaserChoice {
    fn from(t: TeaserArg) -> Self {
        match t {
            TeaserArg::Off => Self::Off,
            TeaserArg::Name => Self::Name,
            TeaserArg::Headline => Self::Headline,
        }
    }
}

/// One line saying what the teaser shows, for `card show` and `card edit --teaser`.
fn teaser_line(card: &Card, choice: meishi_store::TeaserChoice) -> String {
    match meishi_app::teaser_of(card, choice) {
        None => "off (people nearby and at events see no name; `meishi card edit --teaser name` to show it)".into(),
        Some(t) => match t.headline {
            Some(h) => format!("{choice}: {} — {}", display_safe(&t.name), display_safe(&h)),
            None => format!("{choice}: {}", display_safe(&t.name)),
        },
    }
}

#[derive(Subcommand, Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "parsed once per process; boxing clap args buys nothing"
)]
pub enum CardCmd {
    /// Print your card.
    Show {
        #[arg(long)]
        json: bool,
    },
    /// Change your card: sets the given values, adds list values, removes with --rm-* and
    /// --clear; then re-signs it with the next seq.
    Edit(EditArgs),
    /// Show or choose the relays (1 to 3) that keep your card for contacts who are offline when
    /// you edit it. Without addresses, prints them.
    Relays {
        /// Relay addresses, each ending in /p2p/<relay id>.
        addrs: Vec<meishi_node::Multiaddr>,
        #[arg(long)]
        json: bool,
    },
    /// Write your card as a vCard (3.0 or 4.0) or as the signed meishi binary card.
    Export {
        #[arg(long, value_enum, default_value = "vcard")]
        format: ExportFormat,
        /// Output file; stdout without it.
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
    },
}

#[derive(Args, Debug)]
pub struct EditArgs {
    #[command(flatten)]
    pub fields: CardFields,
    /// Remove an email address (repeatable).
    #[arg(long = "rm-email", value_name = "EMAIL")]
    pub rm_emails: Vec<String>,
    /// Remove a phone number (repeatable).
    #[arg(long = "rm-phone", value_name = "PHONE")]
    pub rm_phones: Vec<String>,
    /// Remove a web address (repeatable).
    #[arg(long = "rm-url", value_name = "URL")]
    pub rm_urls: Vec<String>,
    /// Remove a social handle, KIND:HANDLE or just KIND (repeatable).
    #[arg(long = "rm-social", value_name = "KIND[:HANDLE]")]
    pub rm_socials: Vec<String>,
    /// Remove a tag (repeatable).
    #[arg(long = "rm-tag", value_name = "TAG")]
    pub rm_tags: Vec<String>,
    /// Clear a whole field (repeatable).
    #[arg(long = "clear", value_enum, value_name = "FIELD")]
    pub clear: Vec<Field>,
    /// What people nearby and at events see before you swap: off, name, or headline (name
    /// and headline). Not part of the signed card.
    #[arg(long, value_enum, value_name = "WHAT")]
    pub teaser: Option<TeaserArg>,
    /// Whether contacts may introduce you to others: ask (each introduction waits for your
    /// decision; the default) or never (every introduction is declined at once). Not part of
    /// the signed card.
    #[arg(long, value_enum, value_name = "CHOICE")]
    pub introductions: Option<IntroArg>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Title,
    Org,
    Note,
    Emails,
    Phones,
    Urls,
    Socials,
    Tags,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// vCard 3.0, what phones import best.
    Vcard,
    /// vCard 4.0 (RFC 6350).
    Vcard4,
    /// The signed binary meishi card.
    Meishi,
}

/// Applies flags to a card: scalars replace, list values are appended unless already present.
fn apply(card: &mut Card, f: &CardFields) -> Result<()> {
    let scalars = [
        ("--name", &f.name),
        ("--title", &f.title),
        ("--org", &f.org),
        ("--note", &f.note),
    ];
    for (flag, v) in scalars {
        if let Some(v) = v {
            meishi_app::edit::check_visible(flag, v).map_err(|e| usage(e.into()))?;
        }
    }
    let lists = [
        ("--email", &f.emails),
        ("--phone", &f.phones),
        ("--url", &f.urls),
        ("--social", &f.socials),
        ("--tag", &f.tags),
    ];
    for (flag, vals) in lists {
        for v in vals {
            meishi_app::edit::check_visible(flag, v).map_err(|e| usage(e.into()))?;
        }
    }
    if let Some(n) = &f.name {
        card.name = n.trim().to_owned();
    }
    let set = |slot: &mut Option<String>, v: &Option<String>| {
        if let Some(v) = v {
            *slot = Some(v.trim().to_owned()).filter(|s| !s.is_empty());
        }
    };
    set(&mut card.title, &f.title);
    set(&mut card.org, &f.org);
    set(&mut card.note, &f.note);
    let add = |list: &mut Vec<String>, vals: &[String]| {
        for v in vals {
            let v = v.trim().to_owned();
            if !list.contains(&v) {
                list.push(v);
            }
        }
    };
    for e in &f.emails {
        meishi_app::edit::check_email("--email", e.trim()).map_err(|e| usage(e.into()))?;
    }
    for p in &f.phones {
        meishi_app::edit::check_phone("--phone", p.trim()).map_err(|e| usage(e.into()))?;
    }
    let urls = f
        .urls
        .iter()
        .map(|u| meishi_app::edit::check_url("--url", u.trim()).map_err(|e| usage(e.into())))
        .collect::<Result<Vec<_>>>()?;
    add(&mut card.emails, &f.emails);
    add(&mut card.phones, &f.phones);
    add(&mut card.urls, &urls);
    add(&mut card.tags, &f.tags);
    for s in &f.socials {
        let s = meishi_app::edit::parse_social("--social", s).map_err(|e| usage(e.into()))?;
        if !card.socials.contains(&s) {
            card.socials.push(s);
        }
    }
    Ok(())
}

fn sign_next(id: &Identity, seq: u64, card: &Card) -> Result<SignedCard> {
    // issued_at never goes backwards even if the clock does.
    SignedCard::sign(id, seq, now(), card).map_err(|e| anyhow::anyhow!("cannot sign the card: {e}"))
}

pub fn init(home: &Home, args: InitArgs) -> Result<()> {
    if home.is_initialized() {
        bail!(
            "{} already has an identity; your key is untouched. Use `meishi card edit` to change your card",
            home.dir().display()
        );
    }
    let given = args
        .fields
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned);
    let name = match given {
        Some(n) => n,
        // On a terminal, ask (as `meishi up` does); elsewhere say what to pass.
        None => crate::cmd::net::prompt_name()?.ok_or_else(|| {
            usage(anyhow::anyhow!(
                "a card needs a name: meishi init --name \"Your Name\""
            ))
        })?,
    };
    // A name typed at the prompt is held to the same rule as --name.
    let flag = if args.fields.name.is_some() {
        "--name"
    } else {
        "the name"
    };
    meishi_app::edit::check_visible(flag, &name).map_err(|e| usage(e.into()))?;
    let mut card = Card::new(name);
    apply(&mut card, &args.fields)?;
    card.validate()
        .map_err(|e| anyhow::anyhow!("invalid card: {e}"))?;
    create_identity(home, &card)?;
    if let Some(t) = args.teaser {
        home.store()?.set_teaser(t.into())?;
    }
    if let Some(i) = args.introductions {
        home.store()?
            .set_introductions_allowed(i == IntroArg::Ask)?;
    }
    let id = home.identity()?;
    eprintln!("Created your identity and card in {}", home.dir().display());
    eprintln!("peer id:     {}", id.public().peer_id());
    eprintln!("fingerprint: {}", id.public().fingerprint());
    Ok(())
}

/// Creates the key and signs the first card (seq 1). Used by `init` and by `up` on a fresh home.
pub fn create_identity(home: &Home, card: &Card) -> Result<()> {
    home.create_dir()?;
    let store = home.store()?;
    let id = meishi_store::keyfile::create(&home.key_path())
        .with_context(|| format!("cannot create the key {}", home.key_path().display()))?;
    let signed = sign_next(&id, 1, card)?;
    store.set_own_card(&signed)?;
    Ok(())
}

pub fn id(home: &Home, json: bool) -> Result<()> {
    let key = home.identity()?.public();
    if json {
        let v = serde_json::json!({ "peer_id": key.peer_id(), "fingerprint": key.fingerprint() });
        println!("{v}");
    } else {
        println!("peer id:     {}", key.peer_id());
        println!("fingerprint: {}", key.fingerprint());
    }
    Ok(())
}

pub fn card(home: &Home, cmd: CardCmd) -> Result<()> {
    let id = home.identity()?;
    let store = home.store()?;
    let own = home.own_card(&store)?;
    match cmd {
        CardCmd::Show { json } => {
            let teaser = store.teaser()?;
            if json {
                let mut v = crate::output::signed_card_json(&own);
                v["teaser"] = serde_json::Value::from(teaser.as_str());
                println!("{v}");
            } else {
                print_card(own.card(), Some(own.key()), Some(own.seq()), true);
                println!("teaser:      {}", teaser_line(own.card(), teaser));
                println!(
                    "intros:      {}",
                    if store.introductions_allowed()? {
                        "ask (contacts may introduce you; you decide each time)"
                    } else {
                        "never"
                    }
                );
            }
        }
        CardCmd::Edit(e) => {
            let mut card = own.card().clone();
            for f in &e.clear {
                match f {
                    Field::Title => card.title = None,
                    Field::Org => card.org = None,
                    Field::Note => card.note = None,
                    Field::Emails => card.emails.clear(),
                    Field::Phones => card.phones.clear(),
                    Field::Urls => card.urls.clear(),
                    Field::Socials => card.socials.clear(),
                    Field::Tags => card.tags.clear(),
                }
            }
            remove(&mut card.emails, &e.rm_emails, "--rm-email")?;
            remove(&mut card.phones, &e.rm_phones, "--rm-phone")?;
            remove(&mut card.urls, &e.rm_urls, "--rm-url")?;
            remove(&mut card.tags, &e.rm_tags, "--rm-tag")?;
            for r in &e.rm_socials {
                let before = card.socials.len();
                match r.split_once(':') {
                    Some(_) => {
                        let s = meishi_app::edit::parse_social("--social", r)
                            .map_err(|e| usage(e.into()))?;
                        card.socials.retain(|x| *x != s);
                    }
                    None => {
                        let k = SocialKind::from_name(r).ok_or_else(|| {
                            usage(anyhow::anyhow!("--rm-social: unknown kind {r:?}"))
                        })?;
                        card.socials.retain(|x| x.kind != k);
                    }
                }
                if card.socials.len() == before {
                    bail!("--rm-social {r:?}: your card has no such social handle");
                }
            }
            apply(&mut card, &e.fields)?;
            if let Some(t) = e.teaser {
                store.set_teaser(t.into())?;
                eprintln!("Teaser: {}", teaser_line(&card, t.into()));
            }
            if let Some(i) = e.introductions {
                store.set_introductions_allowed(i == IntroArg::Ask)?;
                eprintln!(
                    "Introductions: {}",
                    match i {
                        IntroArg::Ask => "each one waits for your decision (meishi intros)",
                        IntroArg::Never => "declined at once",
                    }
                );
            }
            if card == *own.card() {
                if e.teaser.is_none() && e.introductions.is_none() {
                    eprintln!("Nothing changed; your card stays at seq {}", own.seq());
                }
                return Ok(());
            }
            card.validate()
                .map_err(|err| anyhow::anyhow!("invalid card: {err}"))?;
            let next = own.seq().checked_add(1).context("seq is exhausted")?;
            let signed = sign_next(&id, next, &card)?;
            store.set_own_card(&signed)?;
            eprintln!("Card updated and re-signed (seq {next})");
            drop(store);
            crate::cmd::updates::publish_after_edit(home)?;
        }
        CardCmd::Relays { addrs, json } => {
            drop(store);
            crate::cmd::updates::relays(home, addrs, json)?;
        }
        CardCmd::Export { format, output } => {
            if matches!(format, ExportFormat::Meishi)
                && output.is_none()
                && std::io::IsTerminal::is_terminal(&std::io::stdout())
            {
                return Err(crate::exit::Failure::new(
                    crate::exit::USAGE,
                    anyhow::anyhow!(
                        "the signed card is binary and would garble this terminal: write it to a file with `-o card.meishi`, or pipe it"
                    ),
                )
                .into());
            }
            let bytes = match format {
                ExportFormat::Meishi => own.as_bytes().to_vec(),
                ExportFormat::Vcard => {
                    vcard::export(own.card(), Some(&own.key()), vcard::Version::V3).into_bytes()
                }
                ExportFormat::Vcard4 => {
                    vcard::export(own.card(), Some(&own.key()), vcard::Version::V4).into_bytes()
                }
            };
            write_out(output.as_deref(), &bytes)?;
        }
    }
    Ok(())
}

fn remove(list: &mut Vec<String>, vals: &[String], flag: &str) -> Result<()> {
    for v in vals {
        let before = list.len();
        list.retain(|x| x != v.trim());
        if list.len() == before {
            bail!("{flag} {v:?}: your card has no such value");
        }
    }
    Ok(())
}

/// Writes a whole buffer to stdout.
pub fn stdout_all(bytes: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()?;
    Ok(())
}
