//! Relationships over time from the pages: introductions (through [`meishi_app::intro`]), the
//! relays that keep my card for offline contacts (through [`meishi_app::updates`]), and "check
//! for updates", which asks the loop that owns the App to catch up ([`crate::Request`]) as
//! `meishi contacts refresh` does.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use meishi_app::intro::IntroError;
use meishi_app::Report;
use meishi_node::Multiaddr;
use meishi_store::{ContactRef, Store};
use serde::Deserialize;

use crate::guard::Session;
use crate::pages::{self, safe};
use crate::{Request, Shared};

/// How long an introduction step may take to reach the relays (as `meishi introduce` waits).
const STEP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long "check for updates" waits for the node loop's catch-up.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs an introduction step with a connection of its own to the book, on a blocking thread:
/// the application layer holds the book across its network steps, and one connection is not
/// shared between threads (the pages' connection stays free meanwhile).
async fn intro_step<F>(shared: &Arc<Shared>, work: F) -> Result<Report, String>
where
    F: for<'a> FnOnce(
            &'a Shared,
            &'a Store,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<Report, IntroError>> + 'a>,
        > + Send
        + 'static,
{
    let path = shared.store().path().to_owned();
    let s = shared.clone();
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let store =
            Store::open(&path).map_err(|e| format!("Cannot open the contact book: {e}."))?;
        runtime.block_on(async {
            match tokio::time::timeout(STEP_TIMEOUT, work(&s, &store)).await {
                Ok(r) => r.map_err(|e| intro_line(&e)),
                Err(_) => Err("The relays did not answer in time: try again.".to_owned()),
            }
        })
    })
    .await
    .unwrap_or_else(|_| Err("The introduction step stopped unexpectedly: try again.".to_owned()))
}

/// An introduction error as one line on a page (the library's lines name CLI commands where
/// a page has its own way).
fn intro_line(e: &IntroError) -> String {
    match e {
        IntroError::NoSuchContact(_) => {
            "That contact is no longer in your book: reload the page.".to_owned()
        }
        IntroError::NoSuchIntro(_) => {
            "That introduction is no longer in your inbox: reload the page.".to_owned()
        }
        e => sentence(&e.to_string()),
    }
}

/// Shows a finished step in the tasks strip, as swaps and joins are shown.
fn record(shared: &Shared, what: &str, report: &Report) {
    let id = shared.task(what.to_owned(), String::new());
    shared.finish(id, what.to_owned(), true, report.human());
}

async fn answer(shared: Arc<Shared>, session: Session, id: i64, accept: bool) -> Response {
    let r = intro_step(&shared, move |s, store| {
        Box::pin(meishi_app::intro::answer(
            &s.node,
            store,
            &s.identity,
            id,
            accept,
        ))
    })
    .await;
    match r {
        Ok(report) => {
            record(&shared, "Introduction", &report);
            Redirect::to("/inbox").into_response()
        }
        Err(e) => pages::page_with(
            StatusCode::BAD_REQUEST,
            pages::inbox_page(&shared, &session, Some(&e)),
        ),
    }
}

pub(crate) async fn intro_accept(
    State(shared): State<Arc<Shared>>,
    Extension(session): Extension<Session>,
    Path(id): Path<i64>,
) -> Response {
    answer(shared, session, id, true).await
}

pub(crate) async fn intro_decline(
    State(shared): State<Arc<Shared>>,
    Extension(session): Extension<Session>,
    Path(id): Path<i64>,
) -> Response {
    answer(shared, session, id, false).await
}

#[derive(Deserialize)]
pub(crate) struct IntroduceForm {
    #[serde(default)]
    to: String,
    #[serde(default)]
    note: String,
}

/// `POST /contacts/{id}/introduce`: asks the chosen contact whether they want to meet this one,
/// as `meishi introduce THIS CHOSEN --note …` does.
pub(crate) async fn introduce(
    State(shared): State<Arc<Shared>>,
    Extension(session): Extension<Session>,
    Path(id): Path<i64>,
    Form(f): Form<IntroduceForm>,
) -> Response {
    let Ok(to) = f.to.trim().parse::<i64>() else {
        return pages::contact_page(
            &shared,
            &session,
            id,
            Some("Choose the contact to introduce them to."),
        );
    };
    let note = f.note.trim().to_owned();
    let max = meishi_card::intro::MAX_INTRO_NOTE;
    if note.len() > max {
        let e = format!(
            "The note is {} bytes; at most {max} fit: shorten it.",
            note.len()
        );
        return pages::contact_page(&shared, &session, id, Some(&e));
    }
    let r = intro_step(&shared, move |s, store| {
        Box::pin(async move {
            let note = Some(note).filter(|n| !n.is_empty());
            meishi_app::intro::introduce(
                &s.node,
                store,
                &s.identity,
                &ContactRef::Id(id),
                &ContactRef::Id(to),
                note.as_deref(),
            )
            .await
        })
    })
    .await;
    match r {
        Ok(report) => {
            record(&shared, "Introduction", &report);
            Redirect::to("/inbox").into_response()
        }
        Err(e) => pages::contact_page(&shared, &session, id, Some(&e)),
    }
}

#[derive(Deserialize)]
pub(crate) struct RelaysForm {
    #[serde(default)]
    relays: String,
}

/// `POST /me/relays`: the relays that keep my slot and drop boxes, as `meishi card relays`
/// chooses them. The running node sees the book change and publishes on its next round.
pub(crate) async fn relays(
    State(shared): State<Arc<Shared>>,
    Extension(session): Extension<Session>,
    Form(f): Form<RelaysForm>,
) -> Response {
    let max = meishi_app::updates::MAX_LINK_RELAYS;
    let parsed = f
        .relays
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            l.parse::<Multiaddr>().map_err(|e| {
                format!(
                    "“{}” is not a relay address ({e}): give 1 to {max}, one a line, each ending in /p2p/<relay id>.",
                    safe(l)
                )
            })
        })
        .collect::<Result<Vec<_>, _>>();
    let r = parsed.and_then(|addrs| {
        meishi_app::updates::set_relays(&shared.store(), &addrs)
            .map(|_| ())
            .map_err(|e| sentence(&e.to_string()))
    });
    match r {
        Ok(()) => Redirect::to("/me").into_response(),
        Err(e) => pages::page_with(
            StatusCode::BAD_REQUEST,
            pages::me_page(
                &shared,
                &session,
                false,
                Some(pages::MeError::Relays(&e, &f.relays)),
            ),
        ),
    }
}

/// A library's error line as a sentence on a page: a capital first, a full stop last.
fn sentence(s: &str) -> String {
    let mut chars = s.chars();
    let first = chars.next().map(|c| c.to_uppercase().collect::<String>());
    format!(
        "{}{}.",
        first.unwrap_or_default(),
        chars.as_str().trim_end_matches('.')
    )
}

#[derive(Deserialize)]
pub(crate) struct IntroductionsForm {
    #[serde(default)]
    introductions: String,
}

/// `POST /me/introductions`: `ask` or `never`, as `meishi card edit --introductions`.
pub(crate) async fn introductions(
    State(shared): State<Arc<Shared>>,
    Extension(session): Extension<Session>,
    Form(f): Form<IntroductionsForm>,
) -> Response {
    let allowed = match f.introductions.as_str() {
        "ask" => Ok(true),
        "never" => Ok(false),
        _ => Err("Choose ask or never for introductions.".to_owned()),
    };
    let r = allowed.and_then(|a| {
        shared
            .store()
            .set_introductions_allowed(a)
            .map_err(|e| format!("Cannot save the setting: {e}"))
    });
    match r {
        Ok(()) => Redirect::to("/me").into_response(),
        Err(e) => pages::page_with(
            StatusCode::BAD_REQUEST,
            pages::me_page(&shared, &session, false, Some(pages::MeError::Other(&e))),
        ),
    }
}

/// What a catch-up brought, in one line; whether it went well.
fn summary(reports: &[Report]) -> (bool, String) {
    let count = |f: fn(&Report) -> bool| reports.iter().filter(|r| f(r)).count();
    let updated = count(|r| matches!(r, Report::ContactUpdated { .. }));
    let asked = count(|r| matches!(r, Report::IntroAsked { .. }));
    let introduced = count(|r| matches!(r, Report::Introduced { .. }));
    let steps = count(|r| matches!(r, Report::IntroStep { .. } | Report::IntroAnswered { .. }));
    let mut parts = Vec::new();
    if updated > 0 {
        parts.push(format!("{updated} contact(s) updated their card"));
    }
    if asked > 0 {
        parts.push(format!("{asked} introduction(s) wait for you in the inbox"));
    }
    if introduced > 0 {
        parts.push(format!("{introduced} new contact(s) through introductions"));
    }
    if steps > 0 {
        parts.push(format!("{steps} introduction(s) moved on"));
    }
    for r in reports {
        if let Report::Published { .. } | Report::LinksSent { .. } = r {
            parts.push(r.human());
        }
    }
    let failures: Vec<String> = reports
        .iter()
        .filter(|r| matches!(r, Report::UpdateFailed { .. } | Report::Error { .. }))
        .map(Report::human)
        .collect();
    let ok = failures.is_empty() || !parts.is_empty();
    if parts.is_empty() && failures.is_empty() {
        parts.push("nothing new".to_owned());
    }
    parts.extend(failures);
    (ok, parts.join("; "))
}

/// `POST /contacts/refresh`: "Check for updates". The node loop runs the same catch-up as
/// `meishi contacts refresh` (letters in my drop boxes, my contacts' slots, my own slot);
/// its reports also reach the open pages live.
pub(crate) async fn refresh(State(shared): State<Arc<Shared>>) -> Response {
    if shared.checking.swap(true, Ordering::AcqRel) {
        // One check at a time: its task already shows on the page.
        return Redirect::to("/contacts").into_response();
    }
    let what = "Check for updates".to_owned();
    let id = shared.task(
        what.clone(),
        "reading your drop boxes and your contacts' card slots…".into(),
    );
    let (tx, rx) = tokio::sync::oneshot::channel();
    if shared.requests.try_send(Request::CatchUp(tx)).is_err() {
        shared.checking.store(false, Ordering::Release);
        shared.finish(
            id,
            what,
            false,
            "the node is busy or stopping: try again in a moment".into(),
        );
        return Redirect::to("/contacts").into_response();
    }
    let s = shared.clone();
    tokio::spawn(async move {
        let (ok, detail) = match tokio::time::timeout(CATCH_UP_TIMEOUT, rx).await {
            Ok(Ok(reports)) => summary(&reports),
            Ok(Err(_)) => (false, "the node stopped before it was done".to_owned()),
            Err(_) => (
                false,
                "the relays did not answer in time; the node tries again by itself".to_owned(),
            ),
        };
        s.checking.store(false, Ordering::Release);
        s.finish(id, what, ok, detail);
    });
    Redirect::to("/contacts").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(reports: &[Report], ok: bool, want: &str) {
        assert_eq!(summary(reports), (ok, want.to_owned()));
    }

    #[test]
    fn a_catch_up_in_one_line() {
        check(&[], true, "nothing new");
        check(
            &[
                Report::ContactUpdated {
                    name: "Ada".into(),
                    seq: 2,
                },
                Report::IntroAsked {
                    intro_id: 1,
                    by: "Carol".into(),
                    name: "Ada".into(),
                    headline: None,
                    note: None,
                },
            ],
            true,
            "1 contact(s) updated their card; 1 introduction(s) wait for you in the inbox",
        );
        check(
            &[Report::UpdateFailed {
                relay: "/ip4/127.0.0.1/tcp/1/p2p/x".into(),
                error: "refused".into(),
            }],
            false,
            "Card updates through the relay /ip4/127.0.0.1/tcp/1/p2p/x failed this time: refused",
        );
    }
}
