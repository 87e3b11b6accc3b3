//! The pages. Every value is written through maud, which escapes it; card text (attacker-
//! controlled) also goes through [`safe`] so bidi and invisible characters show as what they
//! are, as on the command line.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use maud::{html, Markup, DOCTYPE};
use meishi_card::Card;
use meishi_store::{ContactRef, MadeState, ReceivedState, Store, TeaserChoice};
use serde::Deserialize;

use crate::guard::Session;
use crate::Shared;

/// Card text made safe to show (the escaping itself is maud's).
pub(crate) fn safe(s: &str) -> String {
    meishi_card::display_safe(s)
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

const TABS: &[(&str, &str, &str)] = &[
    ("me", "/me", "Me"),
    ("people", "/people", "Nearby & events"),
    ("inbox", "/inbox", "Inbox"),
    ("contacts", "/contacts", "Contacts"),
    ("scan", "/scan", "Scan"),
];

/// A whole page: header with the tabs, the tasks strip, the content.
pub(crate) fn layout(
    shared: &Shared,
    session: &Session,
    active: &str,
    title: &str,
    error: Option<&str>,
    content: Markup,
) -> Markup {
    let pending = {
        let store = shared.store();
        let cards = store.inbox_list().map(|l| l.len()).unwrap_or(0);
        let intros = store
            .intros_received()
            .map(|l| l.iter().filter(|r| r.state == ReceivedState::Asked).count())
            .unwrap_or(0);
        cards + intros
    };
    let tasks = shared.tasks();
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="csrf" content=(session.csrf);
                meta name="color-scheme" content="light dark";
                title { (title) " · meishi" }
                link rel="icon" href="/assets/icon.svg";
                link rel="stylesheet" href="/assets/app.css";
                script src="/assets/app.js" defer {}
            }
            body data-page=(active) {
                a.skip href="#main" { "Skip to content" }
                header {
                    a.brand href="/me" { "名刺 meishi" }
                    nav #nav aria-label="Main" {
                        @for (id, href, label) in TABS {
                            a href=(href) aria-current=[(*id == active).then_some("page")] {
                                (label)
                                @if *id == "inbox" && pending > 0 {
                                    " " span.badge aria-label="waiting" { (pending) }
                                }
                            }
                        }
                    }
                }
                main #main {
                    @if let Some(e) = error {
                        p.error role="alert" { (e) }
                    }
                    p #live.live aria-live="polite" {}
                    section #tasks aria-live="polite" {
                        @if !tasks.is_empty() {
                            ul.tasks {
                                @for t in tasks.iter().take(5) {
                                    li class={ "task " (t.state) } {
                                        strong { (safe(&t.what)) } " — " (safe(&t.detail))
                                    }
                                }
                            }
                        }
                    }
                    (content)
                }
            }
        }
    }
}

fn page(markup: Markup) -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        markup.into_string(),
    )
        .into_response()
}

pub(crate) fn page_with(status: StatusCode, markup: Markup) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        markup.into_string(),
    )
        .into_response()
}

pub(crate) async fn root() -> Redirect {
    Redirect::to("/me")
}

pub(crate) async fn not_found(
    State(shared): State<Arc<Shared>>,
    session: Option<Extension<Session>>,
) -> Response {
    let session = session.map(|s| s.0).unwrap_or(Session {
        csrf: String::new(),
    });
    page_with(
        StatusCode::NOT_FOUND,
        layout(
            &shared,
            &session,
            "",
            "Not found",
            Some("There is no such page."),
            html! {},
        ),
    )
}

fn card_fields(card: &Card) -> Markup {
    html! {
        @if card.title.is_some() || card.org.is_some() {
            p.role {
                @if let Some(t) = &card.title { (safe(t)) }
                @if card.title.is_some() && card.org.is_some() { ", " }
                @if let Some(o) = &card.org { (safe(o)) }
            }
        }
        @if let Some(n) = &card.note { p.headline { (safe(n)) } }
        dl.fields {
            @for e in &card.emails { dt { "Email" } dd { (safe(e)) } }
            @for p in &card.phones { dt { "Phone" } dd { (safe(p)) } }
            @for u in &card.urls { dt { "Web" } dd { (safe(u)) } }
            @for s in &card.socials { dt { (safe(&s.kind.name())) } dd { (safe(&s.handle)) } }
            @if !card.tags.is_empty() { dt { "Interests" } dd { (safe(&card.tags.join(", "))) } }
        }
    }
}

#[derive(Deserialize, Default)]
pub(crate) struct KindQuery {
    kind: Option<String>,
}

fn vcard_kind(q: &KindQuery) -> bool {
    q.kind.as_deref() == Some("vcard")
}

pub(crate) async fn me(
    State(shared): State<Arc<Shared>>,
    Extension(session): Extension<Session>,
    Query(q): Query<KindQuery>,
) -> Response {
    page(me_page(&shared, &session, vcard_kind(&q), None))
}

/// Why the Me page is shown again after a form, with what was typed.
pub(crate) enum MeError<'a> {
    /// A card edit was refused: the line, and the editor's fields as typed.
    Card(&'a str, &'a crate::actions::CardForm),
    /// Relays were refused: the line, and the relays as typed.
    Relays(&'a str, &'a str),
    /// Another setting was refused.
    Other(&'a str),
}

/// The Me page, with an error from a failed form (and the values as typed).
pub(crate) fn me_page(
    shared: &Shared,
    session: &Session,
    vcard: bool,
    error: Option<MeError<'_>>,
) -> Markup {
    let (line, card_form, relays_typed) = match error {
        Some(MeError::Card(e, f)) => (Some(e), Some(f), None),
        Some(MeError::Relays(e, typed)) => (Some(e), None, Some(typed)),
        Some(MeError::Other(e)) => (Some(e), None, None),
        None => (None, None, None),
    };
    let store = shared.store();
    let own = store.own_card().ok().flatten();
    let teaser = store.teaser().unwrap_or(TeaserChoice::Off);
    let links = store.own_links().ok().flatten();
    let intros = store.introductions_allowed().unwrap_or(true);
    drop(store);
    let Some(own) = own else {
        return layout(
            shared,
            session,
            "me",
            "Me",
            Some("This home has no card."),
            html! {},
        );
    };
    let card = own.card();
    let form = match card_form {
        Some(f) => f.clone(),
        None => crate::actions::CardForm::of(card, teaser),
    };
    let kind = if vcard { "vcard" } else { "signed" };
    let content = html! {
        div.me {
            article.card aria-label="My card" {
                h1 #my-name { (safe(&card.name)) }
                (card_fields(card))
                p.small { "Peer id " code { (own.key().peer_id()) } " · version " (own.seq()) }
            }
            figure.qr {
                img #my-qr src={ "/me/qr.svg?kind=" (kind) } width="320" height="320"
                    alt={ "QR code of my " (if vcard { "vCard" } else { "signed meishi card" }) };
                figcaption {
                    @if vcard {
                        "A plain vCard: any phone camera adds it as a contact (not signed). "
                        a href="/me?kind=signed" { "Show the signed card" }
                    } @else {
                        "Signed: meishi checks it is really mine. "
                        a href="/me?kind=vcard" { "Show a plain vCard for phones" }
                    }
                }
                a.button.primary href={ "/me/show?kind=" (kind) } { "Show full screen" }
            }
        }
        details.edit open[card_form.is_some()] {
            summary { "Edit my card" }
            form method="post" action="/me/edit" {
                input type="hidden" name="csrf" value=(session.csrf);
                label { "Name" input name="name" required value=(form.name) autocomplete="name"; }
                label { "Title" input name="title" value=(form.title) autocomplete="organization-title"; }
                label { "Organization" input name="org" value=(form.org) autocomplete="organization"; }
                label { "Headline" input name="note" value=(form.note) placeholder="What you work on, in a line"; }
                label { "Emails (one a line)" textarea name="emails" rows="2" { (form.emails) } }
                label { "Phones (one a line)" textarea name="phones" rows="2" { (form.phones) } }
                label { "Web pages (one a line)" textarea name="urls" rows="2" { (form.urls) } }
                label { "Social handles (KIND:HANDLE, one a line)" textarea name="socials" rows="2" { (form.socials) } }
                label { "Interests (comma separated)" input name="tags" value=(form.tags); }
                label { "Teaser (what people nearby and at events see before a swap)"
                    select name="teaser" {
                        @for (v, l) in [("off", "Nothing"), ("name", "My name"), ("headline", "My name and headline")] {
                            option value=(v) selected[form.teaser == v] { (l) }
                        }
                    }
                }
                button.primary type="submit" { "Save and re-sign" }
            }
        }
        (updates_section(session, own.seq(), links.as_ref(), intros, relays_typed))
    };
    layout(shared, session, "me", "Me", line, content)
}

/// The Me page's "Card updates": the relays that keep my card for contacts who are offline
/// (and my drop boxes), whether my current card is there, a form to choose them
/// (`meishi_app::updates::set_relays`; the running node publishes on its next round), and
/// whether contacts may introduce me. A live region: a `published` report refreshes it.
fn updates_section(
    session: &Session,
    seq: u64,
    links: Option<&meishi_store::OwnLinks>,
    intros: bool,
    typed: Option<&str>,
) -> Markup {
    let relays = links.map(|l| l.relays.clone()).unwrap_or_default();
    let there = links.and_then(|l| {
        l.published_card_seq
            .zip(l.published_expires)
            .filter(|_| l.published_relays == l.relays)
    });
    let typed_back = typed.is_some();
    let typed = typed.map_or_else(|| relays.join("\n"), str::to_owned);
    html! {
        section.panel aria-labelledby="updates-title" {
            h2 #updates-title { "Card updates" }
            p.small { "Relays keep your card for contacts who are offline when you edit it, and your drop boxes (introductions, your new address after a revoke)." }
            // The live region holds no form: a refresh must not wipe what is being typed.
            div #updates data-live="updates" {
            @if relays.is_empty() {
                p.empty { "No relay keeps your card yet: your contacts get your edits only when you swap again or they fetch your card." }
            } @else {
                ul.relays {
                    @for r in &relays { li { code { (r) } } }
                }
                @match there {
                    Some((s, until)) if s == seq => {
                        p #published.ok { "Your card (version " (s) ") is there until " (meishi_app::book::date_time(until)) " UTC." }
                    }
                    Some((s, until)) => {
                        p #published.warn { "Version " (s) " is there until " (meishi_app::book::date_time(until)) " UTC; version " (seq) " goes up within a few seconds." }
                    }
                    None => {
                        p #published.warn { "Your card is not there yet: it goes up within a few seconds while meishi runs." }
                    }
                }
            }
            }
            details.relays open[relays.is_empty() || typed_back] {
                summary { @if relays.is_empty() { "Choose relays" } @else { "Choose other relays" } }
                form method="post" action="/me/relays" {
                    input type="hidden" name="csrf" value=(session.csrf);
                    label { "Relays (1 to " (meishi_app::updates::MAX_LINK_RELAYS) ", one multiaddr a line, each ending in /p2p/<relay id>)"
                        textarea name="relays" rows="3" required autocomplete="off" autocapitalize="off" spellcheck="false"
                            placeholder="/dns4/relay.example.org/tcp/4001/p2p/12D3KooW…" { (typed) }
                    }
                    p.small { "Contacts who hold your card learn the new ones from their drop box." }
                    button type="submit" { "Keep my card on these relays" }
                }
            }
            form.row.setting method="post" action="/me/introductions" {
                input type="hidden" name="csrf" value=(session.csrf);
                label { "When a contact introduces me to someone"
                    select name="introductions" {
                        option value="ask" selected[intros] { "Ask me each time" }
                        option value="never" selected[!intros] { "Decline at once" }
                    }
                }
                button type="submit" { "Save" }
            }
        }
    }
}

/// The QR code alone, as big as the screen allows, for another person's camera.
pub(crate) async fn show(
    State(shared): State<Arc<Shared>>,
    Extension(_session): Extension<Session>,
    Query(q): Query<KindQuery>,
) -> Response {
    let name = shared
        .store()
        .own_card()
        .ok()
        .flatten()
        .map(|c| c.card().name.clone())
        .unwrap_or_default();
    let kind = if vcard_kind(&q) { "vcard" } else { "signed" };
    page(html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "Show my card · meishi" }
                link rel="stylesheet" href="/assets/app.css";
            }
            body.show {
                img.bigqr src={ "/me/qr.svg?kind=" (kind) } alt={ "QR code of " (safe(&name)) "'s card" };
                p { (safe(&name)) }
                a.button href={ "/me?kind=" (kind) } { "Done" }
            }
        }
    })
}

pub(crate) async fn qr_svg(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<KindQuery>,
) -> Response {
    let own = match shared.store().own_card() {
        Ok(Some(c)) => c,
        _ => return (StatusCode::NOT_FOUND, "no card").into_response(),
    };
    let text = if vcard_kind(&q) {
        meishi_qr::vcard_qr_text(own.card(), Some(&own.key()))
    } else {
        match meishi_qr::encode_payload(&own) {
            Ok(t) => t,
            Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        }
    };
    match meishi_qr::render_svg(&text, meishi_qr::Ecc::M) {
        Ok(svg) => ([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// One person the node can swap with right now.
struct Person {
    peer: String,
    name: Option<String>,
    headline: Option<String>,
    /// "nearby" or "at an event".
    where_: &'static str,
    contact: Option<i64>,
}

async fn people_list(shared: &Shared) -> Vec<Person> {
    let mut out: Vec<Person> = Vec::new();
    for a in shared.node.attendees().await.unwrap_or_default() {
        out.push(Person {
            peer: a.peer.to_string(),
            name: Some(a.teaser.name().to_owned()),
            headline: a.teaser.headline().map(str::to_owned),
            where_: "at an event",
            contact: None,
        });
    }
    for d in shared.node.nearby().await.unwrap_or_default() {
        let peer = d.peer.to_string();
        if out.iter().any(|p| p.peer == peer) {
            continue;
        }
        out.push(Person {
            peer,
            name: d.teaser.as_ref().map(|t| t.name().to_owned()),
            headline: d
                .teaser
                .as_ref()
                .and_then(|t| t.headline().map(str::to_owned)),
            where_: "nearby",
            contact: None,
        });
    }
    let store = shared.store();
    for p in &mut out {
        if let Some(key) = p.peer.parse().ok().and_then(|id| meishi_node::key_of(&id)) {
            p.contact = store
                .get(&ContactRef::Key(key))
                .ok()
                .flatten()
                .map(|c| c.summary.id);
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

pub(crate) async fn people(
    State(shared): State<Arc<Shared>>,
    Extension(session): Extension<Session>,
) -> Response {
    page(people_page(&shared, &session, None).await)
}

pub(crate) async fn people_page(shared: &Shared, session: &Session, error: Option<&str>) -> Markup {
    let people = people_list(shared).await;
    let new = people.iter().filter(|p| p.contact.is_none()).count();
    let events = shared.node.events().await.unwrap_or_default();
    let content = html! {
        h1 { "Nearby & events" }
        details.join open[events.is_empty() || error.is_some()] {
            summary { "Join an event" }
            form method="post" action="/event/join" {
                input type="hidden" name="csrf" value=(session.csrf);
                label { "Event code or join link"
                    input name="code" required autocomplete="off" autocapitalize="off" spellcheck="false"
                        placeholder="meishi:event?code=… or the code on the screen";
                }
                label { "Event name (optional)" input name="label" placeholder="RustConf 2026"; }
                label.check { input type="checkbox" name="weak" value="1"; " The code is easy to guess; join anyway" }
                button.primary type="submit" { "Join the event" }
                p.small { "Or scan the event's QR code on the " a href="/scan" { "Scan" } " page." }
            }
        }
        div.filterbar {
            label { "Search people" input #filter type="search" placeholder="name, interest…" autocomplete="off"; }
        }
        section #people data-live="people" {
            @if !events.is_empty() {
                ul.events aria-label="Events joined" {
                    @for e in &events {
                        li { "At " strong { (safe(e.label.as_deref().unwrap_or("an event"))) } " · " (e.attendees) " attendee(s) seen" }
                    }
                }
            }
            @if new > 1 {
                form method="post" action="/swap-all" {
                    input type="hidden" name="csrf" value=(session.csrf);
                    button type="submit" { "Swap with everyone new (" (new) ")" }
                }
            }
            @if people.is_empty() {
                p.empty { "Nobody yet. People on this network running meishi appear here, and so do attendees once you join an event." }
            }
            ul.people {
                @for p in &people {
                    li.person data-text=(format!("{} {}", p.name.as_deref().unwrap_or(""), p.headline.as_deref().unwrap_or("")).to_lowercase()) {
                        div {
                            strong.name { (safe(p.name.as_deref().unwrap_or("(no name shown)"))) }
                            @if let Some(h) = &p.headline { span.headline { " — " (safe(h)) } }
                            br;
                            span.small { (p.where_) " · " code.peer { (p.peer.get(..16).unwrap_or(&p.peer)) "…" } }
                        }
                        @if let Some(id) = p.contact {
                            a.button href={ "/contacts/" (id) } { "In contacts" }
                        } @else {
                            form method="post" action="/swap" {
                                input type="hidden" name="csrf" value=(session.csrf);
                                input type="hidden" name="peer" value=(p.peer);
                                input type="hidden" name="name" value=(p.name.as_deref().unwrap_or(""));
                                button.primary type="submit" { "Swap" }
                            }
                        }
                    }
                }
            }
        }
    };
    layout(shared, session, "people", "Nearby & events", error, content)
}

pub(crate) async fn inbox(
    State(shared): State<Arc<Shared>>,
    Extension(session): Extension<Session>,
) -> Response {
    page(inbox_page(&shared, &session, None))
}

pub(crate) fn inbox_page(shared: &Shared, session: &Session, error: Option<&str>) -> Markup {
    let items = shared.store().inbox_list().unwrap_or_default();
    let content = html! {
        h1 { "Inbox" }
        p.small { "Cards given to you while your policy is " em { "ask" } ". Accepting stores theirs and gives yours back; declining gives nothing." }
        section #inbox data-live="inbox" {
            @if items.is_empty() {
                p.empty { "Nothing waiting." }
            } @else {
                div.row {
                    form method="post" action="/inbox/accept-all" {
                        input type="hidden" name="csrf" value=(session.csrf);
                        button.primary type="submit" { "Accept all (" (items.len()) ")" }
                    }
                    form method="post" action="/inbox/decline-all" {
                        input type="hidden" name="csrf" value=(session.csrf);
                        button type="submit" { "Decline all" }
                    }
                }
                ul.people {
                    @for item in &items {
                        li.person.inbox-item {
                            div {
                                strong.name { (safe(&item.card.card().name)) }
                                (card_fields(item.card.card()))
                                span.small {
                                    "Received " (meishi_app::book::date_time(item.received_at)) " UTC"
                                    @if let Some(e) = &item.meeting.event { " at " (safe(e)) }
                                }
                            }
                            div.row {
                                form method="post" action={ "/inbox/" (item.id) "/accept" } {
                                    input type="hidden" name="csrf" value=(session.csrf);
                                    button.primary type="submit" { "Accept" }
                                }
                                form method="post" action={ "/inbox/" (item.id) "/decline" } {
                                    input type="hidden" name="csrf" value=(session.csrf);
                                    button type="submit" { "Decline" }
                                }
                            }
                        }
                    }
                }
            }
        }
        (intros_section(shared, session))
    };
    layout(shared, session, "inbox", "Inbox", error, content)
}

/// A contact's name by key, for introductions (the introducer, or someone introduced).
fn name_by_key(store: &Store, key: &meishi_card::PublicKey) -> String {
    store
        .get(&ContactRef::Key(*key))
        .ok()
        .flatten()
        .map_or_else(|| "a former contact".to_owned(), |c| c.card.name)
}

/// Where an introduction I made stands, for people.
fn made_state(state: MadeState, a: &str, b: &str) -> String {
    match state {
        MadeState::AskingB => format!("waiting for {b}"),
        MadeState::AskingA => format!("{b} accepted; waiting for {a}"),
        MadeState::Done => "both accepted: they have each other's card".to_owned(),
        MadeState::Declined => "one of them declined (the other never learns it)".to_owned(),
        MadeState::Expired => "nobody answered in time".to_owned(),
        MadeState::Aborted => "ended: a step came that it did not expect".to_owned(),
    }
}

/// Introductions that went on less than this long ago are still listed once they ended.
const SHOW_ENDED_SECS: u64 = 30 * 24 * 3600;

/// The inbox's introductions: the ones waiting for my decision (Accept / Decline, through
/// `meishi_app::intro::answer`), the ones I accepted that wait for the other side, and the
/// ones I made. A live region: an `intro_asked` report refreshes it.
fn intros_section(shared: &Shared, session: &Session) -> Markup {
    let store = shared.store();
    let received = store.intros_received().unwrap_or_default();
    let made = store.intros_made().unwrap_or_default();
    let recent = now().saturating_sub(SHOW_ENDED_SECS);
    let asked: Vec<_> = received
        .iter()
        .filter(|r| r.state == ReceivedState::Asked)
        .map(|r| (r, name_by_key(&store, &r.introducer)))
        .collect();
    let accepted: Vec<_> = received
        .iter()
        .filter(|r| r.state == ReceivedState::Accepted)
        .map(|r| (r, name_by_key(&store, &r.introducer)))
        .collect();
    let made: Vec<_> = made
        .iter()
        .rev()
        .filter(|m| !m.state.is_final() || m.created_at >= recent)
        .map(|m| (m, name_by_key(&store, &m.a), name_by_key(&store, &m.b)))
        .collect();
    drop(store);
    html! {
        section #intros data-live="intros" aria-labelledby="intros-title" {
            h2 #intros-title { "Introductions" }
            @if asked.is_empty() && accepted.is_empty() && made.is_empty() {
                p.empty { "No introductions. To introduce two of your contacts, open one of them." }
            }
            @if !asked.is_empty() {
                p.small { "Only the person who introduces you learns your answer; the other person gets your card only if they accept too." }
                ul.people {
                    @for (r, by) in &asked {
                        li.person.intro-item {
                            div {
                                strong { (safe(by)) } " would like to introduce you to "
                                strong.name { (safe(&r.other_name)) }
                                @if let Some(h) = &r.other_headline { " — " span.headline { (safe(h)) } }
                                @if let Some(n) = &r.note { " — " span.note { "“" (safe(n)) "”" } }
                                br;
                                span.small { "Answer by " (meishi_app::book::date_time(r.expires_at)) " UTC" }
                            }
                            div.row {
                                form method="post" action={ "/intros/" (r.id) "/accept" } {
                                    input type="hidden" name="csrf" value=(session.csrf);
                                    button.primary type="submit" { "Accept" }
                                }
                                form method="post" action={ "/intros/" (r.id) "/decline" } {
                                    input type="hidden" name="csrf" value=(session.csrf);
                                    button type="submit" { "Decline" }
                                }
                            }
                        }
                    }
                }
            }
            @if !accepted.is_empty() {
                h3 { "Accepted, waiting for the other side" }
                ul.plain {
                    @for (r, by) in &accepted {
                        li {
                            (safe(&r.other_name)) span.small { " · introduced by " (safe(by)) " · until " (meishi_app::book::date_time(r.expires_at)) " UTC" }
                        }
                    }
                }
            }
            @if !made.is_empty() {
                h3 { "Introductions I made" }
                ul.plain {
                    @for (m, a, b) in &made {
                        li {
                            (safe(a)) " and " (safe(b))
                            span.small class={ "state " (m.state.as_str()) } { " · " (safe(&made_state(m.state, a, b))) }
                        }
                    }
                }
            }
        }
    }
}

#[derive(Deserialize, Default)]
pub(crate) struct ContactsQuery {
    q: Option<String>,
    due: Option<String>,
}

pub(crate) async fn contacts(
    State(shared): State<Arc<Shared>>,
    Extension(session): Extension<Session>,
    Query(q): Query<ContactsQuery>,
) -> Response {
    let query = q.q.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let due = q.due.is_some();
    let today = meishi_app::book::today(now());
    let (list, error) = {
        let store = shared.store();
        let r = if due {
            store
                .follow_ups(Some(&today))
                .map(|l| l.into_iter().map(|(c, d)| (c, Some(d))).collect::<Vec<_>>())
        } else if let Some(q) = query {
            store
                .search(q)
                .map(|l| l.into_iter().map(|c| (c, None)).collect())
        } else {
            store
                .list()
                .map(|l| l.into_iter().map(|c| (c, None)).collect())
        };
        match r {
            Ok(l) => (l, None),
            Err(e) => (Vec::new(), Some(format!("cannot search: {e}"))),
        }
    };
    let content = html! {
        h1 { "Contacts" }
        form.search method="get" action="/contacts" role="search" {
            label { "Search" input name="q" type="search" value=(query.unwrap_or_default()) placeholder="name, company, note, tag…"; }
            button type="submit" { "Search" }
        }
        div.row.spread {
            span {
                @if due { a href="/contacts" { "All contacts" } } @else { a href="/contacts?due=1" { "Due follow-ups" } }
                " · " a href="/contacts/export.vcf" download="contacts.vcf" { "Export all (.vcf)" }
            }
            form #check method="post" action="/contacts/refresh" {
                input type="hidden" name="csrf" value=(session.csrf);
                button type="submit" title="Read your contacts' newer cards and your drop boxes from the relays now (meishi does it every 5 minutes)" { "Check for updates" }
            }
        }
        section #contacts data-live="contacts" {
            @if list.is_empty() {
                p.empty {
                    @if due { "No follow-ups due." }
                    @else if query.is_some() { "No contact matches." }
                    @else { "No contacts yet: swap with someone, or scan their QR code." }
                }
            }
            ul.contacts {
                @for (c, d) in &list {
                    li.contact {
                        a href={ "/contacts/" (c.id) } {
                            strong.name { (safe(&c.name)) }
                            @if let Some(o) = &c.org { span.small { " · " (safe(o)) } }
                        }
                        span.small {
                            @if c.verified { span.ok { "verified" } } @else { span.warn { "unverified" } }
                            @if let Some(d) = d { " · follow up " (d) }
                        }
                    }
                }
            }
        }
    };
    page(layout(
        &shared,
        &session,
        "contacts",
        "Contacts",
        error.as_deref(),
        content,
    ))
}

pub(crate) async fn contact(
    State(shared): State<Arc<Shared>>,
    Extension(session): Extension<Session>,
    Path(id): Path<i64>,
) -> Response {
    contact_page(&shared, &session, id, None)
}

pub(crate) fn contact_page(
    shared: &Shared,
    session: &Session,
    id: i64,
    error: Option<&str>,
) -> Response {
    let c = match shared.store().get(&ContactRef::Id(id)) {
        Ok(Some(c)) => c,
        _ => {
            return page_with(
                StatusCode::NOT_FOUND,
                layout(
                    shared,
                    session,
                    "contacts",
                    "Contact",
                    Some("No such contact."),
                    html! {},
                ),
            )
        }
    };
    let csrf = &session.csrf;
    let intro = introduce_info(shared, &c);
    let content = html! {
        p { a href="/contacts" { "← Contacts" } }
        article.card {
            h1 { (safe(&c.card.name)) }
            (card_fields(&c.card))
            p.small {
                @if c.summary.verified { span.ok { "Verified meishi card" } " · version " (c.summary.seq.unwrap_or(0)) }
                @else { span.warn { "Unverified" } " (from a vCard or a phone's QR code)" }
                @if let Some(k) = &c.summary.key { br; "Peer id " code { (k.peer_id()) } }
            }
            @if let Some(by) = &intro.by {
                p.introduced {
                    "Introduced by " strong { (safe(by)) }
                    @if c.meetings.is_empty() { " · not met in person yet" }
                }
            }
        }
        section {
            h2 { "Where we met" }
            @let met = meishi_app::book::meetings(&c.meetings);
            @if met.is_empty() { p.empty { "Added " (meishi_app::book::date_time(c.summary.added_at)) " UTC (" (safe(&c.via)) ")" } }
            ul.met {
                @for (m, both) in &met {
                    li { "Met " (meishi_app::book::date_time(m.record.at)) " UTC " (safe(&meishi_app::book::place(m))) @if *both { " (both signed)" } }
                }
            }
        }
        section {
            h2 { "Notes" }
            ul.notes {
                @for n in &c.notes { li { span.small { (meishi_app::book::date_time(n.created_at)) } " " (safe(&n.text)) } }
            }
            form method="post" action={ "/contacts/" (id) "/note" } {
                input type="hidden" name="csrf" value=(csrf);
                label { "Add a note" textarea name="text" rows="2" required {} }
                button type="submit" { "Add note" }
            }
        }
        section {
            h2 { "Tags" }
            ul.tags {
                @for t in &c.tags {
                    li {
                        (safe(t))
                        form.inline method="post" action={ "/contacts/" (id) "/untag" } {
                            input type="hidden" name="csrf" value=(csrf);
                            input type="hidden" name="tag" value=(t);
                            button.link type="submit" aria-label={ "Remove tag " (safe(t)) } { "×" }
                        }
                    }
                }
            }
            form method="post" action={ "/contacts/" (id) "/tag" } {
                input type="hidden" name="csrf" value=(csrf);
                label { "Add a tag" input name="tag" required placeholder="compilers"; }
                button type="submit" { "Add tag" }
            }
        }
        section {
            h2 { "Follow up" }
            @if let Some(f) = &c.follow_up { p.followup { "Follow up on " (safe(f)) } }
            form method="post" action={ "/contacts/" (id) "/follow-up" } {
                input type="hidden" name="csrf" value=(csrf);
                label { "Date" input type="date" name="date" value=(c.follow_up.as_deref().unwrap_or("")); }
                button type="submit" { "Set" }
                @if c.follow_up.is_some() { button type="submit" name="clear" value="1" { "Clear" } }
            }
        }
        @if intro.can {
            section #introduce {
                h2 { "Introduce" }
                @if intro.others.is_empty() {
                    p.empty { "Introductions need another contact whose meishi card you have." }
                } @else {
                    form method="post" action={ "/contacts/" (id) "/introduce" } {
                        input type="hidden" name="csrf" value=(csrf);
                        label { "Introduce " (safe(&c.card.name)) " to"
                            select name="to" required {
                                option value="" { "Choose a contact…" }
                                @for (oid, name) in &intro.others {
                                    option value=(oid) { (safe(name)) }
                                }
                            }
                        }
                        label { "Why they should meet (optional; at most " (meishi_card::intro::MAX_INTRO_NOTE) " bytes: fewer characters with accents, CJK or emoji)"
                            textarea name="note" rows="2" maxlength=(meishi_card::intro::MAX_INTRO_NOTE) {}
                        }
                        p.small { "The contact you choose is asked first; " (safe(&c.card.name)) " is asked only if they accept. Each gets the other's card only if both accept, and a decline is never shown to the other." }
                        button type="submit" { "Introduce" }
                    }
                }
            }
        }
        section.row {
            a.button href={ "/contacts/" (id) "/vcard.vcf" } download={ "contact-" (id) ".vcf" } { "Download .vcf" }
            @if c.summary.key.is_some() {
                form method="post" action={ "/contacts/" (id) "/revoke" } {
                    input type="hidden" name="csrf" value=(csrf);
                    button type="submit" { "Revoke (they may no longer fetch my card)" }
                }
            }
            form method="post" action={ "/contacts/" (id) "/remove" } {
                input type="hidden" name="csrf" value=(csrf);
                button.danger type="submit" { "Remove" }
            }
        }
    };
    let title = safe(&c.card.name);
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    page_with(
        status,
        layout(shared, session, "contacts", &title, error, content),
    )
}

/// What the contact page shows about introductions.
struct IntroInfo {
    /// Who introduced me to this contact (the introduction completed).
    by: Option<String>,
    /// Whether this contact can be introduced (a verified meishi card, not revoked).
    can: bool,
    /// My other contacts they can be introduced to: id and name.
    others: Vec<(i64, String)>,
}

fn introduce_info(shared: &Shared, c: &meishi_store::Contact) -> IntroInfo {
    let store = shared.store();
    let Some(key) = c.summary.key else {
        return IntroInfo {
            by: None,
            can: false,
            others: Vec::new(),
        };
    };
    let by = store
        .introduced_by(&key)
        .ok()
        .flatten()
        .map(|i| name_by_key(&store, &i.introducer));
    let usable = |k: &meishi_card::PublicKey| !store.is_revoked(k).unwrap_or(true);
    let can = c.summary.verified && usable(&key);
    let others = if can {
        store
            .list()
            .unwrap_or_default()
            .into_iter()
            .filter(|o| o.id != c.summary.id && o.verified && o.key.as_ref().is_some_and(usable))
            .map(|o| (o.id, o.name))
            .collect()
    } else {
        Vec::new()
    };
    IntroInfo { by, can, others }
}

pub(crate) async fn scan(
    State(shared): State<Arc<Shared>>,
    Extension(session): Extension<Session>,
) -> Response {
    let content = html! {
        h1 { "Scan a QR code" }
        p.small { "A meishi card becomes a verified contact; a phone's contact QR (vCard or MeCard) an unverified one; an event's QR offers to join. Images stay on this computer." }
        div.scan {
            div.camera {
                video #camera playsinline muted hidden aria-label="Camera preview" {}
                div.row {
                    button.primary #camera-start type="button" { "Start camera" }
                    button #camera-stop type="button" hidden { "Stop" }
                }
            }
            div {
                label { "Or choose a photo" input #photo type="file" accept="image/png,image/jpeg"; }
                p.small { "PNG or JPEG, at most " (crate::MAX_UPLOAD / (1024 * 1024)) " MB." }
            }
        }
        section #scan-result aria-live="polite" {}
    };
    page(layout(&shared, &session, "scan", "Scan", None, content))
}
