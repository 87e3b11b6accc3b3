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
