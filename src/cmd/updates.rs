//! Card updates that reach contacts who are offline: `card relays` (where my slot and drop
//! boxes live), the publish after `card edit`, and `contacts refresh`.

use std::time::Duration;

use anyhow::Result;
use meishi_app::{Options, Report};
use meishi_node::{Multiaddr, Policy, Scope};
use serde_json::json;

use crate::cmd::net::{runtime, start, Out};
use crate::exit::{Failure, USAGE};
use crate::home::Home;

/// How long a one-shot publish or refresh may take before the rest is left to `meishi up`.
const ONE_SHOT: Duration = Duration::from_secs(30);

/// Whether a `meishi up` runs for this home: it publishes and reads by itself.
fn up_runs(home: &Home) -> bool {
    std::os::unix::net::UnixStream::connect(meishi_app::control::socket_path(home.dir())).is_ok()
}

/// Asks the `meishi up` running on `home` to carry out `request` (it owns the node, the book
/// and the key), printing its reports; `None` when no `up` runs.
fn through_up(
    home: &Home,
    request: &meishi_app::control::Request,
    json: bool,
) -> Result<Option<()>> {
    let out = Out { json, stamp: false };
    runtime()?.block_on(async {
        let Some(stream) = meishi_app::control::connect(home.dir()).await else {
            return Ok(None);
        };
        let done = meishi_app::control::call(stream, request, |r| out.report(&r)).await?;
        match done {
            meishi_app::control::Done::Ok { .. } => Ok(Some(())),
            meishi_app::control::Done::Unreachable { error } => {
                Err(Failure::new(crate::exit::UNREACHABLE, anyhow::anyhow!("{error}")).into())
            }
            meishi_app::control::Done::NotFound { error } => {
                Err(Failure::new(crate::exit::NOT_FOUND, anyhow::anyhow!("{error}")).into())
            }
            other => Err(Failure::new(
                crate::exit::FAILURE,
                anyhow::anyhow!("{}", done_error(&other)),
            )
            .into()),
        }
    })
}

fn done_error(d: &meishi_app::control::Done) -> String {
    match d {
        meishi_app::control::Done::Failed { error }
        | meishi_app::control::Done::ReceivedOnly { error }
        | meishi_app::control::Done::Unreachable { error }
        | meishi_app::control::Done::NotFound { error } => error.clone(),
        other => format!("{other:?}"),
    }
}

/// Runs a node that only reaches out (no listening, gives nothing), for `work`.
fn one_shot<F>(home: &Home, json: bool, work: F) -> Result<()>
where
    F: for<'a> FnOnce(
        &'a mut meishi_app::App,
    )
        -> std::pin::Pin<Box<dyn std::future::Future<Output = Vec<Report>> + 'a>>,
{
    let out = Out { json, stamp: false };
    runtime()?.block_on(async {
        let options = Options::new(Vec::new(), Policy::Never, Scope::Known);
        let mut app = start(home, options)?;
        let reports = match tokio::time::timeout(ONE_SHOT, work(&mut app)).await {
            Ok(r) => r,
            Err(_) => vec![Report::Error {
                peer_id: None,
                inbox_id: None,
                error: "the relays did not answer in time; `meishi up` tries again".into(),
            }],
        };
        for r in &reports {
            out.report(r);
        }
        app.shutdown().await;
        Ok(())
    })
}

/// After `card edit`: puts the new card in my slot, unless a running `meishi up` does it.
pub fn publish_after_edit(home: &Home) -> Result<()> {
    let store = home.store()?;
    if store.own_links()?.is_none() {
        eprintln!(
            "Contacts get this edit when they next swap or fetch; to have it reach them while you are offline, keep it on a relay: meishi card relays ADDR"
        );
        return Ok(());
    }
    if up_runs(home) {
        eprintln!("The running `meishi up` puts it on your relays for your contacts");
        return Ok(());
    }
    one_shot(home, false, |app| Box::pin(app.publish_now()))
}

/// `meishi contacts refresh`: my contacts' newer cards from their slots and my drop boxes.
pub fn refresh(home: &Home, json: bool) -> Result<()> {
    let store = home.store()?;
    if store.contact_links()?.is_empty() && store.own_links()?.is_none() {
        if json {
            println!("{}", json!({"event": "refreshed", "contacts": 0}));
        } else {
            eprintln!(
                "No contact has given you a card slot yet: their edits reach you when you swap or fetch"
            );
        }
        return Ok(());
    }
    // Beside a running `up`, through it: one node per person.
    if through_up(home, &meishi_app::control::Request::Refresh, json)?.is_some() {
        return Ok(());
    }
    one_shot(home, json, |app| Box::pin(app.catch_up()))
}

/// `meishi card relays [ADDR…]`: show or choose the relays that keep my slot and drop boxes.
pub fn relays(home: &Home, set: Vec<Multiaddr>, json: bool) -> Result<()> {
    let store = home.store()?;
    if !set.is_empty() {
        let own = meishi_app::updates::set_relays(&store, &set)
            .map_err(|e| Failure::new(USAGE, anyhow::anyhow!("{e}")))?;
        if !json {
            eprintln!(
                "Your card's updates are kept on {} relay(s); contacts learn them with your next give, or now from their drop box",
                own.relays.len()
            );
        }
    }
    if !set.is_empty() && !up_runs(home) {
        one_shot(home, json, |app| Box::pin(app.publish_now()))?;
    }
    let own = store.own_links()?;
    let relays = own.as_ref().map(|o| o.relays.clone()).unwrap_or_default();
    if json {
        println!(
            "{}",
            json!({
                "relays": relays,
                "published_seq": own.as_ref().and_then(|o| o.published_card_seq),
                "published_expires": own.as_ref().and_then(|o| o.published_expires),
            })
        );
    } else if relays.is_empty() {
        println!("No relay keeps your card for offline contacts yet: meishi card relays ADDR (or run `meishi up --relay ADDR` once)");
    } else {
        for r in &relays {
            println!("{r}");
        }
        match own.and_then(|o| o.published_card_seq.zip(o.published_expires)) {
            Some((seq, exp)) => eprintln!(
                "Card seq {seq} is there until {}",
                crate::output::date_time(exp)
            ),
            None => eprintln!(
                "Your card is not there yet: it goes up with `meishi up` or your next edit"
            ),
        }
    }
    Ok(())
}

/// `meishi intros`: what to do with introductions.
#[derive(clap::Subcommand, Debug)]
pub enum IntrosCmd {
    /// Accept an introduction: your card goes to the other person if they accept too.
    Accept { id: i64 },
    /// Decline an introduction: only the person who introduced you learns it.
    Decline { id: i64 },
}

/// Runs `work` on a one-shot node and prints the report it returns.
fn one_shot_report<F>(home: &Home, json: bool, work: F) -> Result<()>
where
    F: for<'a> FnOnce(
        &'a meishi_app::App,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Report, meishi_app::intro::IntroError>> + 'a>,
    >,
{
    let out = Out { json, stamp: false };
    runtime()?.block_on(async {
        let options = Options::new(Vec::new(), Policy::Never, Scope::Known);
        let app = start(home, options)?;
        let result = tokio::time::timeout(ONE_SHOT, work(&app)).await;
        app.shutdown().await;
        match result {
            Ok(Ok(r)) => {
                out.report(&r);
                Ok(())
            }
            Ok(Err(e)) => {
                let code = match e {
                    meishi_app::intro::IntroError::NoSuchContact(_)
                    | meishi_app::intro::IntroError::NoSuchIntro(_) => crate::exit::NOT_FOUND,
                    meishi_app::intro::IntroError::Send { .. } => crate::exit::UNREACHABLE,
                    meishi_app::intro::IntroError::Store(_) => crate::exit::FAILURE,
                    _ => USAGE,
                };
                Err(Failure::new(code, anyhow::anyhow!("{e}")).into())
            }
            Err(_) => Err(Failure::new(
                crate::exit::UNREACHABLE,
                anyhow::anyhow!("the relays did not answer in time; try again"),
            )
            .into()),
        }
    })
}

/// `meishi introduce A B --note …`.
pub fn introduce(home: &Home, a: &str, b: &str, note: Option<String>, json: bool) -> Result<()> {
    let store = home.store()?;
    let (a_text, b_text) = (a.to_owned(), b.to_owned());
    let a = crate::cmd::contacts::lookup(&store, a)?;
    let b = crate::cmd::contacts::lookup(&store, b)?;
    drop(store);
    let request = meishi_app::control::Request::Introduce {
        a: a_text,
        b: b_text,
        note: note.clone(),
    };
    if through_up(home, &request, json)?.is_some() {
        return Ok(());
    }
    one_shot_report(home, json, move |app| {
        Box::pin(async move { app.introduce(&a, &b, note.as_deref()).await })
    })
}

/// `meishi intros` (list) and `meishi intros accept|decline ID`.
pub fn intros(home: &Home, cmd: Option<IntrosCmd>, json: bool) -> Result<()> {
    let answer = match cmd {
        Some(IntrosCmd::Accept { id }) => Some((id, true)),
        Some(IntrosCmd::Decline { id }) => Some((id, false)),
        None => None,
    };
    if let Some((id, accept)) = answer {
        let request = meishi_app::control::Request::AnswerIntro { id, accept };
        if through_up(home, &request, json)?.is_some() {
            return Ok(());
        }
    }
    match cmd {
        Some(IntrosCmd::Accept { id }) => one_shot_report(home, json, move |app| {
            Box::pin(async move { app.answer_intro(id, true).await })
        }),
        Some(IntrosCmd::Decline { id }) => one_shot_report(home, json, move |app| {
            Box::pin(async move { app.answer_intro(id, false).await })
        }),
        None => list_intros(home, json),
    }
}

fn list_intros(home: &Home, json: bool) -> Result<()> {
    use meishi_card::display_safe;
    let store = home.store()?;
    let name = |k: &meishi_card::PublicKey| {
        store
            .get(&meishi_store::ContactRef::Key(*k))
            .ok()
            .flatten()
            .map_or_else(
                || "someone no longer in your contacts".to_owned(),
                |c| c.card.name,
            )
    };
    let received = store.intros_received()?;
    let made = store.intros_made()?;
    if json {
        let received: Vec<_> = received
            .iter()
            .map(|r| {
                json!({
                    "id": r.id, "by": name(&r.introducer), "name": r.other_name,
                    "headline": r.other_headline, "note": r.note, "state": r.state.as_str(),
                    "expires_at": r.expires_at,
                })
            })
            .collect();
        let made: Vec<_> = made
            .iter()
            .map(|m| {
                json!({
                    "id": m.id, "a": name(&m.a), "b": name(&m.b), "note": m.note,
                    "state": m.state.as_str(), "expires_at": m.expires_at,
                })
            })
            .collect();
        println!("{}", json!({"received": received, "made": made}));
        return Ok(());
    }
    if received.is_empty() && made.is_empty() {
        println!("No introductions. Introduce two contacts: meishi introduce A B --note \"why they should meet\"");
        return Ok(());
    }
    for r in &received {
        let what = match r.state {
            meishi_store::ReceivedState::Asked => format!(
                "waiting for you: meishi intros accept {} / decline {}",
                r.id, r.id
            ),
            s => s.to_string(),
        };
        let note = r
            .note
            .as_deref()
            .map(|n| format!(" \"{}\"", display_safe(n)))
            .unwrap_or_default();
        println!(
            "#{:<3} {} introduces {}{}{}  [{what}]",
            r.id,
            display_safe(&name(&r.introducer)),
            display_safe(&r.other_name),
            r.other_headline
                .as_deref()
                .map(|h| format!(" ({})", display_safe(h)))
                .unwrap_or_default(),
            note,
        );
    }
    for m in &made {
        println!(
            "you introduced {} and {}  [{}]",
            display_safe(&name(&m.a)),
            display_safe(&name(&m.b)),
            m.state
        );
    }
    Ok(())
}
