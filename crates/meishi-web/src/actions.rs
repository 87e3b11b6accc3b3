//! What the pages' forms and the scan API do. Each goes through the application layer: swaps
//! and joins through the running node's control requests, edits through
//! [`meishi_app::edit`], the book through [`meishi_store::Store`].

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form, Json};
use meishi_app::control::{Done, Request};
use meishi_card::{vcard, Card, SignedCard};
use meishi_store::{ContactRef, TeaserChoice};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::guard::Session;
use crate::pages::{self, safe};
use crate::Shared;

/// How long a swap from a page waits for the other person's card.
const SWAP_TIMEOUT_SECS: u64 = 30;
/// Most swaps "swap with everyone" starts at once.
const MAX_SWAP_ALL: usize = 64;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The card editor's fields, as typed.
#[derive(Debug, Clone, Deserialize, Default)]
pub(crate) struct CardForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub org: String,
    #[serde(default)]
    pub note: String,
    #[serde(default)]
    pub emails: String,
    #[serde(default)]
    pub phones: String,
    #[serde(default)]
    pub urls: String,
    #[serde(default)]
    pub socials: String,
    #[serde(default)]
    pub tags: String,
    #[serde(default)]
    pub teaser: String,
}

impl CardForm {
    pub(crate) fn of(card: &Card, teaser: TeaserChoice) -> CardForm {
        CardForm {
            name: card.name.clone(),
            title: card.title.clone().unwrap_or_default(),
            org: card.org.clone().unwrap_or_default(),
            note: card.note.clone().unwrap_or_default(),
            emails: card.emails.join("\n"),
            phones: card.phones.join("\n"),
            urls: card.urls.join("\n"),
            socials: card
                .socials
                .iter()
                .map(|s| format!("{}:{}", s.kind.name(), s.handle))
                .collect::<Vec<_>>()
                .join("\n"),
            tags: card.tags.join(", "),
            teaser: teaser.as_str().to_owned(),
        }
    }

    /// The card these fields describe, checked as `meishi card edit` checks its flags.
    fn card(&self, base: &Card) -> Result<Card, meishi_app::edit::FieldError> {
        use meishi_app::edit::{check_email, check_phone, check_url, check_visible, parse_social};
        let one = |label: &str, v: &str| -> Result<Option<String>, meishi_app::edit::FieldError> {
            let v = v.trim();
            check_visible(label, v)?;
            Ok(Some(v.to_owned()).filter(|v| !v.is_empty()))
        };
        let lines = |v: &str| -> Vec<String> {
            v.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let mut card = base.clone();
        card.name = one("Name", &self.name)?
            .ok_or_else(|| meishi_app::edit::FieldError("A card needs a name.".into()))?;
        card.title = one("Title", &self.title)?;
        card.org = one("Organization", &self.org)?;
        card.note = one("Headline", &self.note)?;
        card.emails = lines(&self.emails);
        for e in &card.emails {
            check_visible("Email", e)?;
            check_email("Email", e)?;
        }
        card.phones = lines(&self.phones);
        for p in &card.phones {
            check_visible("Phone", p)?;
            check_phone("Phone", p)?;
        }
        card.urls = lines(&self.urls)
            .iter()
            .map(|u| {
                check_visible("Web page", u)?;
                check_url("Web page", u)
            })
            .collect::<Result<_, _>>()?;
        card.socials = lines(&self.socials)
            .iter()
            .map(|s| {
                check_visible("Social handle", s)?;
                parse_social("Social handle", s)
            })
            .collect::<Result<_, _>>()?;
        let mut tags = Vec::new();
        for t in self
            .tags
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            check_visible("Interests", t)?;
            if !tags.iter().any(|x: &String| x == t) {
                tags.push(t.to_owned());
            }
        }
        card.tags = tags;
        Ok(card)
    }
}

fn teaser_choice(s: &str) -> TeaserChoice {
    match s {
        "name" => TeaserChoice::Name,
        "headline" => TeaserChoice::Headline,
        _ => TeaserChoice::Off,
    }
}

pub(crate) async fn edit_card(
    State(shared): State<Arc<Shared>>,
    Extension(session): Extension<Session>,
    Form(form): Form<CardForm>,
) -> Response {
    let result = (|| -> Result<(), String> {
        let store = shared.store();
        let own: SignedCard = store
            .own_card()
            .map_err(|e| e.to_string())?
            .ok_or("this home has no card")?;
        let card = form.card(own.card()).map_err(|e| e.to_string())?;
        let teaser = teaser_choice(&form.teaser);
        if store.teaser().map_err(|e| e.to_string())? != teaser {
            store.set_teaser(teaser).map_err(|e| e.to_string())?;
        }
        if card != *own.card() {
            let next = meishi_app::edit::sign_next(&shared.identity, &own, &card, now())
                .map_err(|e| e.to_string())?;
            store.set_own_card(&next).map_err(|e| e.to_string())?;
        }
        Ok(())
    })();
    match result {
        Ok(()) => Redirect::to("/me").into_response(),
        Err(e) => pages::page_with(
            StatusCode::BAD_REQUEST,
            pages::me_page(
                &shared,
                &session,
                false,
                Some(pages::MeError::Card(&e, &form)),
            ),
        ),
    }
}

#[derive(Deserialize)]
pub(crate) struct SwapForm {
    peer: String,
    #[serde(default)]
    name: String,
}

/// Asks the running node to swap with `peer`, as `meishi swap` beside `meishi up` does, and
/// follows it in a task.
fn start_swap(shared: &Arc<Shared>, peer: String, name: String) {
    let who = if name.trim().is_empty() {
        peer.chars().take(16).collect::<String>()
    } else {
        name
    };
    let what = format!("Swap with {who}");
    let id = shared.task(what.clone(), "waiting for their card…".into());
    let shared = shared.clone();
    tokio::spawn(async move {
        let request = Request::Swap {
            peer,
            addrs: Vec::new(),
            timeout_secs: SWAP_TIMEOUT_SECS,
        };
        let Some(stream) = meishi_app::control::connect(&shared.home).await else {
            shared.finish(id, what, false, "the node is not running".into());
            return;
        };
        let mut pending = false;
        let done = meishi_app::control::call(stream, &request, |r| {
            if matches!(r, meishi_app::Report::Pending { .. }) {
                pending = true;
            }
        })
        .await;
        let (ok, detail) = match done {
            Ok(Done::Ok { .. }) => (true, "done: you have each other's cards".to_owned()),
            Ok(Done::ReceivedOnly { error }) if pending => (
                true,
                format!("they have your card; theirs comes when they accept ({error})"),
            ),
            Ok(Done::ReceivedOnly { error }) => (true, error),
            Ok(Done::Unreachable { error } | Done::NotFound { error } | Done::Failed { error }) => {
                (false, error)
            }
            Err(e) => (false, e.to_string()),
        };
        shared.finish(id, what, ok, detail);
    });
}

pub(crate) async fn swap(
    State(shared): State<Arc<Shared>>,
    Form(form): Form<SwapForm>,
) -> Response {
    if form.peer.trim().parse::<meishi_node::PeerId>().is_err() {
        return (StatusCode::BAD_REQUEST, "not a peer id").into_response();
    }
    start_swap(&shared, form.peer.trim().to_owned(), form.name);
    Redirect::to("/people").into_response()
}

pub(crate) async fn swap_all(State(shared): State<Arc<Shared>>) -> Response {
    let mut targets: Vec<(meishi_node::PeerId, String)> = Vec::new();
    for a in shared.node.attendees().await.unwrap_or_default() {
        targets.push((a.peer, a.teaser.name().to_owned()));
    }
    for d in shared.node.nearby().await.unwrap_or_default() {
        if !targets.iter().any(|(p, _)| *p == d.peer) {
            let name = d
                .teaser
                .as_ref()
                .map(|t| t.name().to_owned())
                .unwrap_or_default();
            targets.push((d.peer, name));
        }
    }
    let fresh: Vec<(meishi_node::PeerId, String)> = {
        let store = shared.store();
        targets
            .into_iter()
            .filter(|(p, _)| {
                meishi_node::key_of(p)
                    .is_some_and(|k| store.get(&ContactRef::Key(k)).ok().flatten().is_none())
            })
            .take(MAX_SWAP_ALL)
            .collect()
    };
    for (peer, name) in fresh {
        start_swap(&shared, peer.to_string(), name);
    }
    Redirect::to("/people").into_response()
}

#[derive(Deserialize)]
pub(crate) struct JoinForm {
    code: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    weak: Option<String>,
}

pub(crate) async fn join(
    State(shared): State<Arc<Shared>>,
    Extension(session): Extension<Session>,
    Form(form): Form<JoinForm>,
) -> Response {
    let label = Some(form.label.trim().to_owned()).filter(|l| !l.is_empty());
    let joining = match meishi_app::join::joining(
        &form.code,
        &shared.relays,
        label,
        form.weak.is_some(),
    ) {
        Ok(j) => j,
        Err(e) => {
            let e = match e {
                meishi_app::join::JoinError::Weak { .. } => e
                    .to_string()
                    .replace("pass --weak-code", "tick \"join anyway\""),
                meishi_app::join::JoinError::NoRelay => "A bare event code needs a relay to find the event on: paste the whole join link (meishi:event?code=…), scan the event's QR code, or start `meishi up --relay ADDR`.".to_owned(),
                e => e.to_string(),
            };
            return pages::page_with(
                StatusCode::BAD_REQUEST,
                pages::people_page(&shared, &session, Some(&e)).await,
            );
        }
    };
    let what = match &joining.label {
        Some(l) => format!("Join {l}"),
        None => "Join the event".to_owned(),
    };
    let id = shared.task(
        what.clone(),
        "deriving the event key and reaching the relay…".into(),
    );
    if let Some(w) = &joining.warning {
        shared.update(crate::Task {
            id,
            what: what.clone(),
            state: "running",
            detail: format!("warning: {w}"),
        });
    }
    let s = shared.clone();
    tokio::spawn(async move {
        let r = s
            .node
            .join_event_on(joining.code, joining.relays, joining.label)
            .await;
        match r {
            Ok(()) => s.finish(
                id,
                what,
                true,
                "joined: attendees appear on this page as they are found".into(),
            ),
            Err(e) => s.finish(id, what, false, format!("could not join: {e}")),
        }
    });
    Redirect::to("/people").into_response()
}

pub(crate) async fn accept(
    State(shared): State<Arc<Shared>>,
    Extension(session): Extension<Session>,
    Path(id): Path<i64>,
) -> Response {
    let r = shared.store().inbox_take(id).map(|_| ());
    inbox_done(&shared, &session, r)
}

pub(crate) async fn decline(
    State(shared): State<Arc<Shared>>,
    Extension(session): Extension<Session>,
    Path(id): Path<i64>,
) -> Response {
    let r = shared.store().inbox_decline(id);
    inbox_done(&shared, &session, r)
}

pub(crate) async fn accept_all(
    State(shared): State<Arc<Shared>>,
    Extension(session): Extension<Session>,
) -> Response {
    let r = (|| {
        let store = shared.store();
        for item in store.inbox_list()? {
            store.inbox_take(item.id)?;
        }
        Ok(())
    })();
    inbox_done(&shared, &session, r)
}

pub(crate) async fn decline_all(
    State(shared): State<Arc<Shared>>,
    Extension(session): Extension<Session>,
) -> Response {
    let r = shared.store().inbox_decline_all().map(|_| ());
    inbox_done(&shared, &session, r)
}

fn inbox_done(
    shared: &Shared,
    session: &Session,
    r: Result<(), meishi_store::StoreError>,
) -> Response {
    match r {
        Ok(()) => Redirect::to("/inbox").into_response(),
        Err(e) => pages::page_with(
            StatusCode::BAD_REQUEST,
            pages::inbox_page(shared, session, Some(&e.to_string())),
        ),
    }
}

#[derive(Deserialize)]
pub(crate) struct TextForm {
    #[serde(default)]
    text: String,
}

#[derive(Deserialize)]
pub(crate) struct TagForm {
    #[serde(default)]
    tag: String,
}

#[derive(Deserialize)]
pub(crate) struct DateForm {
    #[serde(default)]
    date: String,
    #[serde(default)]
    clear: Option<String>,
}

/// Changes one contact through the book, then shows the contact (or the error on its page).
fn change<T>(
    shared: &Shared,
    session: &Session,
    id: i64,
    f: impl FnOnce(&meishi_store::Store, &ContactRef) -> Result<T, meishi_store::StoreError>,
) -> Response {
    let r = f(&shared.store(), &ContactRef::Id(id))
        .map(|_| ())
        .map_err(|e| e.to_string());
    contact_done(shared, session, id, r)
}

fn contact_done(shared: &Shared, session: &Session, id: i64, r: Result<(), String>) -> Response {
    match r {
        Ok(()) => Redirect::to(&format!("/contacts/{id}")).into_response(),
        Err(e) => pages::contact_page(shared, session, id, Some(&e)),
    }
}

pub(crate) async fn note(
    State(shared): State<Arc<Shared>>,
    Extension(session): Extension<Session>,
    Path(id): Path<i64>,
    Form(f): Form<TextForm>,
) -> Response {
    let text = f.text.trim();
    if text.is_empty() {
        return contact_done(
            &shared,
            &session,
            id,
            Err("A note needs some text.".to_owned()),
        );
    }
    change(&shared, &session, id, |s, r| s.add_note(r, text))
}

pub(crate) async fn tag(
    State(shared): State<Arc<Shared>>,
    Extension(session): Extension<Session>,
    Path(id): Path<i64>,
    Form(f): Form<TagForm>,
) -> Response {
    change(&shared, &session, id, |s, r| s.add_tag(r, f.tag.trim()))
}

pub(crate) async fn untag(
    State(shared): State<Arc<Shared>>,
    Extension(session): Extension<Session>,
    Path(id): Path<i64>,
    Form(f): Form<TagForm>,
) -> Response {
    change(&shared, &session, id, |s, r| s.remove_tag(r, f.tag.trim()))
}

pub(crate) async fn follow_up(
    State(shared): State<Arc<Shared>>,
    Extension(session): Extension<Session>,
    Path(id): Path<i64>,
    Form(f): Form<DateForm>,
) -> Response {
    let date = Some(f.date.trim()).filter(|d| !d.is_empty() && f.clear.is_none());
    change(&shared, &session, id, |s, r| s.set_follow_up(r, date))
}

pub(crate) async fn remove(
    State(shared): State<Arc<Shared>>,
    Extension(session): Extension<Session>,
    Path(id): Path<i64>,
) -> Response {
    match shared.store().remove(&ContactRef::Id(id)) {
        Ok(_) => Redirect::to("/contacts").into_response(),
        Err(e) => pages::contact_page(&shared, &session, id, Some(&e.to_string())),
    }
}

pub(crate) async fn revoke(
    State(shared): State<Arc<Shared>>,
    Extension(session): Extension<Session>,
    Path(id): Path<i64>,
) -> Response {
    change(&shared, &session, id, |s, r| s.revoke(r))
}

fn vcf(name: &str, text: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/vcard; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        text,
    )
        .into_response()
}

pub(crate) async fn export_all(State(shared): State<Arc<Shared>>) -> Response {
    let items = {
        let store = shared.store();
        let list = store.list().unwrap_or_default();
        list.iter()
            .filter_map(|c| store.get(&ContactRef::Id(c.id)).ok().flatten())
            .map(|c| (c.card, c.summary.key))
            .collect::<Vec<_>>()
    };
    vcf(
        "contacts.vcf",
        vcard::export_many(&items, vcard::Version::V3),
    )
}

pub(crate) async fn export_one(State(shared): State<Arc<Shared>>, Path(id): Path<i64>) -> Response {
    match shared.store().get(&ContactRef::Id(id)) {
        Ok(Some(c)) => vcf(
            &format!("contact-{id}.vcf"),
            vcard::export(&c.card, c.summary.key.as_ref(), vcard::Version::V3),
        ),
        _ => (StatusCode::NOT_FOUND, "no such contact").into_response(),
    }
}

#[derive(Deserialize)]
pub(crate) struct ScanQuery {
    /// A camera frame: "nothing found" is an empty answer, not an error, and a frame that
    /// arrives while another is read is skipped.
    #[serde(default)]
    frame: Option<String>,
}

/// One thing a scan found, for the page to show (card text made safe).
#[derive(Debug, Serialize)]
struct FoundItem {
    kind: &'static str,
    /// What happened, for people.
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    contact: Option<i64>,
    /// An event's join URI, to join with one click.
    #[serde(skip_serializing_if = "Option::is_none")]
    join: Option<String>,
}

fn scan_error(status: StatusCode, error: String) -> Response {
    (status, Json(json!({ "error": error, "found": [] }))).into_response()
}

/// `POST /api/scan`: the body is one PNG or JPEG (a photo or a camera frame), read by
/// meishi's own bounded scanner.
pub(crate) async fn scan(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<ScanQuery>,
    body: Body,
) -> Response {
    let frame = q.frame.is_some();
    let bytes = match axum::body::to_bytes(body, crate::MAX_UPLOAD).await {
        Ok(b) => b,
        Err(_) => {
            return scan_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "The image is larger than {} MB: send a smaller photo (crop it to the code).",
                    crate::MAX_UPLOAD / (1024 * 1024)
                ),
            )
        }
    };
    if bytes.is_empty() {
        return scan_error(StatusCode::BAD_REQUEST, "No image was sent.".into());
    }
    let permit = if frame {
        match shared.scanning.try_acquire() {
            Ok(p) => p,
            Err(_) => return Json(json!({ "found": [], "busy": true })).into_response(),
        }
    } else {
        match shared.scanning.acquire().await {
            Ok(p) => p,
            Err(_) => return scan_error(StatusCode::SERVICE_UNAVAILABLE, "stopping".into()),
        }
    };
    let texts = tokio::task::spawn_blocking(move || meishi_qr::scan_image(&bytes)).await;
    drop(permit);
    let texts = match texts {
        Ok(Ok(t)) => t,
        Ok(Err(e)) if frame => {
            tracing::debug!(error = %e, "camera frame not read");
            return Json(json!({ "found": [] })).into_response();
        }
        Ok(Err(e)) => return scan_error(StatusCode::UNPROCESSABLE_ENTITY, format!("{e}")),
        Err(_) => {
            return scan_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the scanner stopped on this image".into(),
            )
        }
    };
    if texts.is_empty() {
        if frame {
            return Json(json!({ "found": [] })).into_response();
        }
        return scan_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "No QR code found: try a sharper, closer, evenly lit photo.".into(),
        );
    }
    let mut found = Vec::new();
    let mut scanned = Vec::new();
    for t in &texts {
        match meishi_qr::classify(t) {
            Ok(s) => scanned.push(s),
            Err(e) => found.push(FoundItem {
                kind: "error",
                message: safe(&e.to_string()),
                name: None,
                contact: None,
                join: None,
            }),
        }
    }
    let own = Some(shared.identity.public());
    let stored = {
        let mut store = shared.store();
        match meishi_app::scan::store_scanned(&mut store, &scanned, own) {
            Ok(s) => s
                .into_iter()
                .map(|s| {
                    let contact = s
                        .key
                        .and_then(|k| store.get(&ContactRef::Key(k)).ok().flatten())
                        .map(|c| c.summary.id);
                    (s, contact)
                })
                .collect::<Vec<_>>(),
            Err(e) => {
                return scan_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("cannot store the scanned contacts: {e}"),
                )
            }
        }
    };
    for (s, contact) in stored {
        let how = if s.verified {
            "verified meishi card"
        } else {
            "unverified contact"
        };
        found.push(FoundItem {
            kind: if s.verified { "meishi" } else { "vcard" },
            message: format!("{} ({how}): {}", safe(&s.name), s.result),
            name: Some(safe(&s.name)),
            contact,
            join: None,
        });
    }
    for s in &scanned {
        match s {
            meishi_qr::Scanned::Event(t) => found.push(FoundItem {
                kind: "event",
                message: match t.name() {
                    Some(n) => format!("An event join code: {}", safe(n)),
                    None => "An event join code".to_owned(),
                },
                name: t.name().map(safe),
                contact: None,
                join: Some(t.to_string()),
            }),
            meishi_qr::Scanned::Other(t) => found.push(FoundItem {
                kind: "other",
                message: format!(
                    "Not a contact: {}",
                    safe(&t.chars().take(60).collect::<String>())
                ),
                name: None,
                contact: None,
                join: None,
            }),
            _ => {}
        }
    }
    Json(json!({ "found": found })).into_response()
}
