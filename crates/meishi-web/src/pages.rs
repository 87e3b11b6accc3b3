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
use meishi_store::{ContactRef, TeaserChoice};
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
    let pending = shared.store().inbox_list().map(|l| l.len()).unwrap_or(0);
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

/// The Me page, with an error from a failed edit (and the values as typed).
pub(crate) fn me_page(
    shared: &Shared,
    session: &Session,
    vcard: bool,
    error: Option<(&str, &crate::actions::CardForm)>,
) -> Markup {
    let store = shared.store();
    let own = store.own_card().ok().flatten();
    let teaser = store.teaser().unwrap_or(TeaserChoice::Off);
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
    let form = match error {
        Some((_, f)) => f.clone(),
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
        details.edit open[error.is_some()] {
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
    };
    layout(shared, session, "me", "Me", error.map(|(e, _)| e), content)
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
    };
    layout(shared, session, "inbox", "Inbox", error, content)
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
        p.row {
            @if due { a href="/contacts" { "All contacts" } } @else { a href="/contacts?due=1" { "Due follow-ups" } }
            " · " a href="/contacts/export.vcf" download="contacts.vcf" { "Export all (.vcf)" }
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
