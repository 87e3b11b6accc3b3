//! The control socket: commands run beside `meishi up` (swap, fetch, joining an event) act
//! through its node instead of starting a second node with the same key, which peers would see
//! twice.
//!
//! A Unix socket in the home folder (mode 0600 inside a 0700 folder: only the owner can
//! connect). One request per connection, one JSON line; the answers are JSON lines: reports as
//! they happen, then one `done` line. Bounded: a request line is at most [`MAX_REQUEST`] bytes,
//! and an answer line at most [`MAX_REPLY`] bytes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use meishi_node::{GiveError, GiveOutcome, Multiaddr, Node, PeerId, RequestError};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::broadcast;

use crate::report::Report;

/// The socket's file name in the home folder.
pub const SOCKET_FILE: &str = "up.sock";
/// Longest request line.
pub const MAX_REQUEST: u64 = 64 * 1024;
/// Longest answer line.
pub const MAX_REPLY: u64 = 256 * 1024;
/// How long a swap answered "mutual" waits for the running node to store their card.
const STORE_WAIT: Duration = Duration::from_secs(5);

/// What a command asks the running node to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Give my card to `peer` (a peer id, or a name seen nearby or on an event's board) and
    /// wait up to `timeout_secs` for theirs.
    Swap {
        peer: String,
        addrs: Vec<String>,
        timeout_secs: u64,
    },
    /// Ask `peer` for its current card.
    Fetch {
        peer: String,
        addrs: Vec<String>,
        timeout_secs: u64,
    },
    /// Join an event on the running node: `code` is an event code or a join URI (whose relays
    /// and name come with it), `relay` one more relay (a multiaddr ending in `/p2p/<id>`),
    /// `label` the event's name for the envelopes given from now on (kept if the node has one).
    /// The caller checks the code's strength first, as for `meishi event`.
    Join {
        code: String,
        relay: Option<String>,
        label: Option<String>,
    },
    /// Read contacts' slots and my drop boxes now (`meishi contacts refresh`).
    Refresh,
    /// Introduce contacts `a` and `b` (numbers, names or peer ids), asking `b` first.
    Introduce {
        a: String,
        b: String,
        note: Option<String>,
    },
    /// Answer introduction `id`.
    AnswerIntro { id: i64, accept: bool },
}

/// A request only the application that owns the running node can carry out (it needs the book
/// and the key, not only the node): `up`'s loop takes it from [`Server::app_requests`] and
/// answers with the reports it made, or one error line.
#[derive(Debug)]
pub struct AppRequest {
    pub request: Request,
    pub reply: tokio::sync::oneshot::Sender<Result<Vec<Report>, String>>,
}

/// How long a request the loop answers may take.
const APP_WAIT: Duration = Duration::from_secs(120);

/// Carries out an [`AppRequest`]'s request with the running application: what `up`'s loop calls
/// between node events. The error is one line for the person who asked.
pub async fn answer(app: &mut crate::App, request: Request) -> Result<Vec<Report>, String> {
    let contact = |app: &crate::App, s: &str| -> Result<meishi_store::ContactRef, String> {
        let r = meishi_store::ContactRef::parse(s).map_err(|e| e.to_string())?;
        match app.store().resolve(&r) {
            Ok(Some(_)) => Ok(r),
            Ok(None) => Err(format!(
                "no contact {:?}; see `meishi contacts list`",
                meishi_card::display_safe(s)
            )),
            Err(e) => Err(e.to_string()),
        }
    };
    match request {
        Request::Refresh => Ok(app.catch_up().await),
        Request::Introduce { a, b, note } => {
            let (a, b) = (contact(app, &a)?, contact(app, &b)?);
            app.introduce(&a, &b, note.as_deref())
                .await
                .map(|r| vec![r])
                .map_err(|e| e.to_string())
        }
        Request::AnswerIntro { id, accept } => app
            .answer_intro(id, accept)
            .await
            .map(|r| vec![r])
            .map_err(|e| e.to_string()),
        other => Err(format!("{other:?} is not for the application")),
    }
}

/// How a request ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Done {
    /// Done; for a fetch, `card` is the signed card's bytes (the caller verifies and stores
    /// it).
    Ok {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        card: Option<Vec<u8>>,
    },
    /// Nobody answered.
    Unreachable { error: String },
    /// They have my card; theirs did not come (their policy, or not accepted yet).
    ReceivedOnly { error: String },
    /// The target names nobody the node knows.
    NotFound { error: String },
    /// Anything else.
    Failed { error: String },
}

/// One answer line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    Report(Report),
    Done(Done),
}

/// Why a command could not use the running node.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    #[error("the running `meishi up` closed the control socket before answering")]
    Closed,
    #[error("control socket: {0}")]
    Io(#[from] std::io::Error),
    #[error("the running `meishi up` answered something this meishi cannot read ({0}); are both the same version?")]
    Garbled(String),
}

/// The socket path of `home`.
pub fn socket_path(home: &Path) -> PathBuf {
    home.join(SOCKET_FILE)
}

/// Connects to the `meishi up` running on `home`; `None` when none runs (no socket, or a
/// socket left by one that was killed).
pub async fn connect(home: &Path) -> Option<UnixStream> {
    UnixStream::connect(socket_path(home)).await.ok()
}

/// Sends `request` and hands each report to `on_report`; returns how it ended.
pub async fn call(
    stream: UnixStream,
    request: &Request,
    mut on_report: impl FnMut(Report),
) -> Result<Done, ControlError> {
    let (read, mut write) = stream.into_split();
    let mut line =
        serde_json::to_string(request).map_err(|e| ControlError::Garbled(e.to_string()))?;
    line.push('\n');
    write.write_all(line.as_bytes()).await?;
    write.flush().await?;
    let mut lines = BufReader::new(read);
    loop {
        let mut buf = String::new();
        let n = (&mut lines).take(MAX_REPLY).read_line(&mut buf).await?;
        if n == 0 || !buf.ends_with('\n') {
            return Err(ControlError::Closed);
        }
        match serde_json::from_str::<Reply>(&buf) {
            Ok(Reply::Report(r)) => on_report(r),
            Ok(Reply::Done(d)) => return Ok(d),
            Err(e) => return Err(ControlError::Garbled(e.to_string())),
        }
    }
}

/// The listening side, owned by `meishi up`. Removes its socket file when dropped.
pub struct Server {
    listener: UnixListener,
    path: PathBuf,
    received: broadcast::Sender<(PeerId, Report)>,
    app: tokio::sync::mpsc::Sender<AppRequest>,
    app_requests: Option<tokio::sync::mpsc::Receiver<AppRequest>>,
}

impl Server {
    /// Listens on `home`'s socket, replacing a file a killed `up` left (the caller holds the
    /// home's one-`up` claim, so no live server owns it).
    pub fn bind(home: &Path) -> std::io::Result<Server> {
        let path = socket_path(home);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let listener = UnixListener::bind(&path)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        }
        let (received, _) = broadcast::channel(64);
        let (app, app_requests) = tokio::sync::mpsc::channel(4);
        Ok(Server {
            listener,
            path,
            received,
            app,
            app_requests: Some(app_requests),
        })
    }

    /// The next connection. Cancel-safe.
    pub async fn accept(&self) -> std::io::Result<UnixStream> {
        self.listener.accept().await.map(|(s, _)| s)
    }

    /// Tells waiting requests what the running application reported (a card received and
    /// stored): a swap waits for its peer's card this way.
    pub fn publish(&self, reports: &[Report]) {
        for r in reports {
            if let Report::CardReceived { peer_id, .. } = r {
                if let Ok(p) = peer_id.parse() {
                    let _ = self.received.send((p, r.clone()));
                }
            }
        }
    }

    /// The requests the application itself must answer ([`AppRequest`]); taken once.
    pub fn app_requests(&mut self) -> Option<tokio::sync::mpsc::Receiver<AppRequest>> {
        self.app_requests.take()
    }

    /// Serves one connection with `node`, in a task of its own.
    pub fn spawn(&self, stream: UnixStream, node: Node) {
        let received = self.received.subscribe();
        let app = self.app.clone();
        tokio::spawn(async move {
            if let Err(e) = serve(stream, node, received, app).await {
                tracing::debug!(error = %e, "control connection ended");
            }
        });
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

async fn send(w: &mut tokio::net::unix::OwnedWriteHalf, reply: &Reply) -> std::io::Result<()> {
    let mut line = serde_json::to_string(reply).map_err(std::io::Error::other)?;
    line.push('\n');
    w.write_all(line.as_bytes()).await
}

/// Finds `target` among the peers the node knows: a peer id, or the one nearby peer or event
/// attendee whose teaser shows this name.
async fn find(node: &Node, target: &str) -> Result<PeerId, Done> {
    if let Ok(p) = target.trim().parse::<PeerId>() {
        return Ok(p);
    }
    let want = meishi_store::fold_name(target);
    let mut hits: Vec<PeerId> = Vec::new();
    for a in node.attendees().await.unwrap_or_default() {
        if meishi_store::fold_name(a.teaser.name()) == want && !hits.contains(&a.peer) {
            hits.push(a.peer);
        }
    }
    for d in node.nearby().await.unwrap_or_default() {
        if d.teaser
            .as_ref()
            .is_some_and(|t| meishi_store::fold_name(t.name()) == want)
            && !hits.contains(&d.peer)
        {
            hits.push(d.peer);
        }
    }
    match hits.as_slice() {
        [one] => Ok(*one),
        [] => Err(Done::NotFound {
            error: format!(
                "nobody called {:?} is in your contacts, nearby or at your events: use their peer id, or `meishi nearby` / `meishi event CODE` to see who is there",
                meishi_card::display_safe(target)
            ),
        }),
        many => Err(Done::NotFound {
            error: format!(
                "{} people called {:?} are nearby or at your events: use a peer id ({})",
                many.len(),
                meishi_card::display_safe(target),
                many.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
            ),
        }),
    }
}

async fn serve(
    stream: UnixStream,
    node: Node,
    mut received: broadcast::Receiver<(PeerId, Report)>,
    app: tokio::sync::mpsc::Sender<AppRequest>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    BufReader::new(read.take(MAX_REQUEST))
        .read_line(&mut line)
        .await?;
    let request: Request = match serde_json::from_str(&line) {
        Ok(r) => r,
        Err(e) => {
            let done = Done::Failed {
                error: format!("unreadable request: {e}"),
            };
            return send(&mut write, &Reply::Done(done)).await;
        }
    };
    let done = match request {
        Request::Join { code, relay, label } => join(&node, code, relay, label).await,
        Request::Swap {
            peer,
            addrs,
            timeout_secs,
        } => match target(&node, &peer, &addrs, timeout_secs).await {
            Ok((peer, addrs, deadline)) => {
                swap(&node, peer, addrs, deadline, &mut received, &mut write).await?
            }
            Err(done) => done,
        },
        Request::Fetch {
            peer,
            addrs,
            timeout_secs,
        } => match target(&node, &peer, &addrs, timeout_secs).await {
            Ok((peer, addrs, deadline)) => fetch(&node, peer, addrs, deadline).await,
            Err(done) => done,
        },
        request @ (Request::Refresh | Request::Introduce { .. } | Request::AnswerIntro { .. }) => {
            let (reply, answer) = tokio::sync::oneshot::channel();
            if app.send(AppRequest { request, reply }).await.is_err() {
                Done::Failed {
                    error: "the running `meishi up` is stopping".into(),
                }
            } else {
                match tokio::time::timeout(APP_WAIT, answer).await {
                    Ok(Ok(Ok(reports))) => {
                        for r in reports {
                            send(&mut write, &Reply::Report(r)).await?;
                        }
                        Done::Ok { card: None }
                    }
                    Ok(Ok(Err(error))) => Done::Failed { error },
                    Ok(Err(_)) | Err(_) => Done::Unreachable {
                        error: "the relays did not answer in time; try again".into(),
                    },
                }
            }
        }
    };
    send(&mut write, &Reply::Done(done)).await
}

/// The peer a swap or fetch is for, the addresses given for it, and how long to wait.
async fn target(
    node: &Node,
    peer: &str,
    addrs: &[String],
    timeout_secs: u64,
) -> Result<(PeerId, Vec<Multiaddr>, Duration), Done> {
    let deadline = Duration::from_secs(timeout_secs.clamp(1, 3600));
    let peer = find(node, peer).await?;
    let addrs: Vec<Multiaddr> = addrs.iter().filter_map(|a| a.parse().ok()).collect();
    Ok((peer, addrs, deadline))
}

async fn fetch(node: &Node, peer: PeerId, addrs: Vec<Multiaddr>, deadline: Duration) -> Done {
    match tokio::time::timeout(deadline, node.fetch(peer, addrs)).await {
        Ok(Ok(card)) => Done::Ok {
            card: Some(card.as_bytes().to_vec()),
        },
        Ok(Err(meishi_node::FetchError::Request(
            RequestError::Unreachable | RequestError::Timeout,
        )))
        | Err(_) => Done::Unreachable {
            error: format!("{peer} did not answer"),
        },
        Ok(Err(e)) => Done::Failed {
            error: format!("fetch from {peer} failed: {e}"),
        },
    }
}

/// Joins the event on the running node; it registers, posts the teaser and reads the board
/// as for the events it started with, and its attendees reach the application as events.
async fn join(node: &Node, code: String, relay: Option<String>, label: Option<String>) -> Done {
    let relay = match relay.as_deref().map(str::parse::<Multiaddr>).transpose() {
        Ok(r) => r,
        Err(e) => {
            return Done::Failed {
                error: format!(
                    "the relay address {:?} is not a multiaddr ({e}): give it as /ip4/…/tcp/…/p2p/<relay id>",
                    relay.as_deref().map(meishi_card::display_safe).unwrap_or_default()
                ),
            }
        }
    };
    match node.join_event(code, relay, label).await {
        Ok(()) => Done::Ok { card: None },
        Err(e) => Done::Failed {
            error: format!("cannot join the event: {e}"),
        },
    }
}

/// Waits for the running application to store the card `peer` gave (it reports every card
/// it receives); the report, or `None` when `wait` passed first.
async fn stored(
    received: &mut broadcast::Receiver<(PeerId, Report)>,
    peer: PeerId,
    wait: Duration,
) -> Option<Report> {
    tokio::time::timeout(wait, async {
        loop {
            match received.recv().await {
                Ok((p, r)) if p == peer => return Some(r),
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
    .await
    .ok()
    .flatten()
}

fn swapped(peer: PeerId, stored: Report) -> Report {
    match stored {
        Report::CardReceived { name, result, .. } => Report::Swapped {
            peer_id: peer.to_string(),
            outcome: None,
            name: Some(name),
            result: Some(result),
        },
        other => other,
    }
}

async fn swap(
    node: &Node,
    peer: PeerId,
    addrs: Vec<Multiaddr>,
    deadline: Duration,
    received: &mut broadcast::Receiver<(PeerId, Report)>,
    write: &mut tokio::net::unix::OwnedWriteHalf,
) -> std::io::Result<Done> {
    let started = tokio::time::Instant::now();
    let outcome = match tokio::time::timeout(deadline, node.give(peer, addrs)).await {
        Err(_) => {
            return Ok(Done::Unreachable {
                error: format!("{peer} did not answer within {}s", deadline.as_secs()),
            })
        }
        Ok(Err(GiveError::Request(
            RequestError::Unreachable | RequestError::Timeout | RequestError::ConnectionClosed,
        ))) => {
            return Ok(Done::Unreachable {
                error: format!("nobody answered as {peer} (not nearby, not at your events, and no address that works)"),
            })
        }
        Ok(Err(e)) => {
            return Ok(Done::Failed {
                error: format!("swap with {peer} failed: {e}"),
            })
        }
        Ok(Ok(o)) => o,
    };
    match outcome {
        GiveOutcome::Mutual { .. } => match stored(received, peer, STORE_WAIT).await {
            Some(r) => {
                send(write, &Reply::Report(swapped(peer, r))).await?;
                Ok(Done::Ok { card: None })
            }
            None => Ok(Done::Failed {
                error: format!("{peer} gave their card, but the running node did not store it"),
            }),
        },
        GiveOutcome::ReceivedOnly => Ok(Done::ReceivedOnly {
            error: format!("{peer} received my card but gives none back (their policy)"),
        }),
        GiveOutcome::Pending => {
            send(
                write,
                &Reply::Report(Report::Pending {
                    peer_id: peer.to_string(),
                }),
            )
            .await?;
            let left = deadline.saturating_sub(started.elapsed());
            match stored(received, peer, left).await {
                Some(r) => {
                    send(write, &Reply::Report(swapped(peer, r))).await?;
                    Ok(Done::Ok { card: None })
                }
                None => Ok(Done::ReceivedOnly {
                    error: format!(
                        "{peer} has my card and has not accepted yet; the running `meishi up` stores theirs when they do"
                    ),
                }),
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test fails by panicking")]
mod tests {
    use super::*;

    #[test]
    fn a_join_request_is_one_json_line_and_its_optional_fields_may_be_left_out() {
        let r = Request::Join {
            code: "ab-cd".into(),
            relay: None,
            label: Some("RustConf".into()),
        };
        let line = serde_json::to_string(&r).unwrap();
        assert_eq!(
            line,
            r#"{"op":"join","code":"ab-cd","relay":null,"label":"RustConf"}"#
        );
        assert_eq!(serde_json::from_str::<Request>(&line).unwrap(), r);
        let bare: Request = serde_json::from_str(r#"{"op":"join","code":"ab-cd"}"#).unwrap();
        assert_eq!(
            bare,
            Request::Join {
                code: "ab-cd".into(),
                relay: None,
                label: None
            }
        );
    }
}
