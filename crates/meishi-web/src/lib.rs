//! The meishi local web app: the application layer ([`meishi_app`]) in a browser tab.
//!
//! `meishi up` serves it on `127.0.0.1:<port>` and prints a link that carries a fresh access
//! token (as Jupyter does). Opening the link trades the token for an HttpOnly, SameSite=Strict
//! session cookie. Every page and API call needs that cookie; every state change also needs
//! the session's CSRF token and a same-origin `Origin`; every request needs a `Host` on the
//! allowlist (DNS rebinding). Pages are rendered by [`maud`] (every value escaped), and the
//! Content-Security-Policy allows only the binary's own script and style. The threat model is
//! in docs/web.md.
//!
//! The app does nothing the CLI cannot: swaps go through the running node's control requests
//! ([`meishi_app::control`]), scans through [`meishi_app::scan`], card edits through
//! [`meishi_app::edit`], event joins through [`meishi_app::join`], introductions through
//! [`meishi_app::intro`], the relays of my card slot through [`meishi_app::updates`], and the
//! book is the same [`meishi_store::Store`]. "Check for updates" asks the loop that owns the
//! [`meishi_app::App`] to catch up ([`Request`]), as `meishi contacts refresh` does. Live updates
//! are the [`meishi_app::Report`]s the node loop publishes.

mod actions;
mod assets;
mod guard;
mod live;
mod pages;
mod updates;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use meishi_app::Report;
use meishi_card::Identity;
use meishi_node::{Multiaddr, Node};
use meishi_store::Store;
use serde::Serialize;
use tokio::sync::{broadcast, mpsc, oneshot};

pub use guard::TOKEN_BYTES;

/// Largest upload (a photo or a camera frame). A phone's photo is at most about 12 MB; the
/// scanner's own file cap ([`meishi_qr::MAX_IMAGE_BYTES`], 64 MiB) is for files on disk, and
/// its pixel caps apply to every upload too.
pub const MAX_UPLOAD: usize = 16 << 20;
/// Most browser sessions remembered at once (each opened link makes one).
pub const MAX_SESSIONS: usize = 64;
/// Recent actions (swaps, joins) shown on the pages.
const MAX_TASKS: usize = 32;
/// Requests to the node loop waiting at once (one catch-up runs at a time anyway).
const MAX_REQUESTS: usize = 4;

/// What the web app needs from `meishi up`.
pub struct Setup {
    /// The home folder (its control socket is how swaps reach the node).
    pub home: PathBuf,
    /// A connection of the web app's own to the contact book.
    pub store: Store,
    /// My identity, to re-sign my card after an edit.
    pub identity: Identity,
    /// The running node (nearby peers, attendees, event joins).
    pub node: Node,
    /// The relays the node was started with (a bare event code is looked for on them).
    pub relays: Vec<Multiaddr>,
}

/// Why the web app could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UiError {
    #[error("cannot listen on {addr} for the web app: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{addr} is not a loopback address: serving the web app there needs --ui-lan")]
    NotLoopback { addr: SocketAddr },
    #[error("no randomness for the access token: {0}")]
    Random(String),
}

/// What the web app asks of the loop that owns the [`meishi_app::App`] (`meishi up`'s): work
/// that needs the App itself, not only its node and book. Take the receiver with
/// [`Ui::requests`] and answer each request. Not `non_exhaustive`: a new request must not
/// compile until the loop answers it.
#[derive(Debug)]
pub enum Request {
    /// "Check for updates": run [`meishi_app::App::catch_up`] now (letters in my drop boxes,
    /// my contacts' slots, my own slot) and answer with its reports, which the loop also
    /// publishes as it does those of its own catch-ups.
    CatchUp(oneshot::Sender<Vec<Report>>),
}

/// Something the pages show live: a report of the node, or a change of a task.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Live {
    Report {
        report: Report,
        /// The line a person reads, card text made safe.
        human: String,
    },
    Task(Task),
}

/// An action started from a page (a swap, a join) and how it stands.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Task {
    pub id: u64,
    /// What it is, for people ("Swap with Ada Lovelace"); card text, escaped when shown.
    pub what: String,
    /// `running`, `done` or `failed`.
    pub state: &'static str,
    /// How it stands, for people.
    pub detail: String,
}

pub(crate) struct Shared {
    pub home: PathBuf,
    pub store: Mutex<Store>,
    pub identity: Identity,
    pub node: Node,
    pub relays: Vec<Multiaddr>,
    pub guard: guard::Guard,
    pub live: broadcast::Sender<Live>,
    pub tasks: Mutex<VecDeque<Task>>,
    pub next_task: std::sync::atomic::AtomicU64,
    /// One scan at a time: a camera sends frames faster than a slow frame is read.
    pub scanning: tokio::sync::Semaphore,
    /// To the loop that owns the App.
    pub requests: mpsc::Sender<Request>,
    /// Whether a "check for updates" is under way (a second click waits for it).
    pub checking: std::sync::atomic::AtomicBool,
}

impl Shared {
    /// The book, for one short synchronous use (never held across an await).
    pub(crate) fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records a new task and tells the pages; returns its id.
    pub(crate) fn task(&self, what: String, detail: String) -> u64 {
        let id = self
            .next_task
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.update(Task {
            id,
            what,
            state: "running",
            detail,
        });
        id
    }

    /// Changes a task and tells the pages.
    pub(crate) fn update(&self, task: Task) {
        {
            let mut tasks = self
                .tasks
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match tasks.iter_mut().find(|t| t.id == task.id) {
                Some(t) => *t = task.clone(),
                None => {
                    if tasks.len() >= MAX_TASKS {
                        tasks.pop_front();
                    }
                    tasks.push_back(task.clone());
                }
            }
        }
        let _ = self.live.send(Live::Task(task));
    }

    pub(crate) fn finish(&self, id: u64, what: String, ok: bool, detail: String) {
        self.update(Task {
            id,
            what,
            state: if ok { "done" } else { "failed" },
            detail,
        });
    }

    pub(crate) fn tasks(&self) -> Vec<Task> {
        self.tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .rev()
            .cloned()
            .collect()
    }
}

/// The web app of one running `meishi up`: bind it, print [`Ui::link`], run [`Ui::serve`],
/// and hand it the node's reports with [`Ui::publish`].
pub struct Ui {
    shared: Arc<Shared>,
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
    requests: Option<mpsc::Receiver<Request>>,
}

impl Ui {
    /// Listens on `addr`. A non-loopback address needs `lan` (`--ui-lan`).
    pub async fn bind(setup: Setup, addr: SocketAddr, lan: bool) -> Result<Ui, UiError> {
        if !addr.ip().is_loopback() && !lan {
            return Err(UiError::NotLoopback { addr });
        }
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| UiError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| UiError::Bind { addr, source })?;
        let guard = guard::Guard::new(addr).map_err(UiError::Random)?;
        let (live, _) = broadcast::channel(256);
        let (requests, requests_rx) = mpsc::channel(MAX_REQUESTS);
        let shared = Arc::new(Shared {
            home: setup.home,
            store: Mutex::new(setup.store),
            identity: setup.identity,
            node: setup.node,
            relays: setup.relays,
            guard,
            live,
            tasks: Mutex::new(VecDeque::new()),
            next_task: std::sync::atomic::AtomicU64::new(1),
            scanning: tokio::sync::Semaphore::new(1),
            requests,
            checking: std::sync::atomic::AtomicBool::new(false),
        });
        Ok(Ui {
            shared,
            listener,
            addr,
            requests: Some(requests_rx),
        })
    }

    /// Where the app listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The link to open: it carries this run's access token.
    pub fn link(&self) -> String {
        self.shared.guard.link()
    }

    /// A handle to publish reports with, usable after [`Ui::serve`] took the app.
    pub fn publisher(&self) -> Publisher {
        Publisher {
            live: self.shared.live.clone(),
        }
    }

    /// The requests the pages make of the loop that owns the App (the first call takes them;
    /// later calls give `None`). Requests nobody takes fail on the page with one line.
    pub fn requests(&mut self) -> Option<mpsc::Receiver<Request>> {
        self.requests.take()
    }

    /// Serves until the future resolves (or forever).
    pub async fn serve(self, shutdown: impl std::future::Future<Output = ()> + Send + 'static) {
        let app = router(self.shared);
        if let Err(e) = axum::serve(
            self.listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
        {
            tracing::warn!(error = %e, "the web app stopped");
        }
    }
}

/// Hands the node's reports to the open pages.
#[derive(Clone)]
pub struct Publisher {
    live: broadcast::Sender<Live>,
}

impl Publisher {
    pub fn publish(&self, reports: &[Report]) {
        for r in reports {
            let _ = self.live.send(Live::Report {
                report: r.clone(),
                human: r.human(),
            });
        }
    }
}

fn router(shared: Arc<Shared>) -> Router {
    use axum::routing::{get, post};
    Router::new()
        .route("/", get(pages::root))
        .route("/login", get(guard::login))
        .route("/me", get(pages::me))
        .route("/me/show", get(pages::show))
        .route("/me/qr.svg", get(pages::qr_svg))
        .route("/people", get(pages::people))
        .route("/inbox", get(pages::inbox))
        .route("/contacts", get(pages::contacts))
        .route("/contacts/export.vcf", get(actions::export_all))
        .route("/contacts/refresh", post(updates::refresh))
        .route("/contacts/{id}", get(pages::contact))
        .route("/contacts/{id}/vcard.vcf", get(actions::export_one))
        .route("/scan", get(pages::scan))
        .route("/live", get(live::stream))
        .route("/assets/{name}", get(assets::asset))
        .route("/me/edit", post(actions::edit_card))
        .route("/swap", post(actions::swap))
        .route("/swap-all", post(actions::swap_all))
        .route("/event/join", post(actions::join))
        .route("/inbox/{id}/accept", post(actions::accept))
        .route("/inbox/{id}/decline", post(actions::decline))
        .route("/inbox/accept-all", post(actions::accept_all))
        .route("/inbox/decline-all", post(actions::decline_all))
        .route("/intros/{id}/accept", post(updates::intro_accept))
        .route("/intros/{id}/decline", post(updates::intro_decline))
        .route("/me/relays", post(updates::relays))
        .route("/me/introductions", post(updates::introductions))
        .route("/contacts/{id}/introduce", post(updates::introduce))
        .route("/contacts/{id}/note", post(actions::note))
        .route("/contacts/{id}/tag", post(actions::tag))
        .route("/contacts/{id}/untag", post(actions::untag))
        .route("/contacts/{id}/follow-up", post(actions::follow_up))
        .route("/contacts/{id}/remove", post(actions::remove))
        .route("/contacts/{id}/revoke", post(actions::revoke))
        .route("/api/scan", post(actions::scan))
        .fallback(pages::not_found)
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            guard::check,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_UPLOAD))
        .with_state(shared)
}
