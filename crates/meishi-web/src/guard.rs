//! Who may use the web app, checked on every request before any handler runs
//! (docs/web.md#threat-model):
//!
//! 1. `Host` must name this server (127.0.0.1:port, localhost:port, [::1]:port, or the address
//!    bound with `--ui-lan`): a page on a rebinding DNS name is refused.
//! 2. A session: the cookie the link's token was traded for, or `Authorization: Bearer
//!    <token>` (scripts). Without one, nothing but the login and the static assets answers.
//! 3. A state change (any method but GET/HEAD) also needs a same-origin `Origin` (browsers send
//!    it on every POST) and the session's CSRF token (form field `csrf` or header
//!    `x-csrf-token`), unless it carries the bearer token itself.
//!
//! Every answer carries a strict Content-Security-Policy (no inline script, nothing from
//! elsewhere) and no CORS header at all.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use crate::Shared;

/// Bytes of randomness in the access token and in each session id.
pub const TOKEN_BYTES: usize = 32;
/// The session cookie.
pub const COOKIE: &str = "meishi_session";
/// Longest form body read to find its CSRF field (cards and notes are far smaller).
const MAX_FORM: usize = 64 * 1024;

/// The policy every answer carries: the binary's own script, style and images, the camera
/// preview, requests to this server only, never framed.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; media-src 'self' blob: mediastream:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

fn random_hex() -> Result<String, String> {
    let mut b = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut b).map_err(|e| e.to_string())?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// Compares secrets without stopping at the first difference.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// One browser session: its id (the cookie) and its CSRF token (in every page's forms).
#[derive(Clone)]
pub(crate) struct Session {
    pub csrf: String,
}

pub(crate) struct Guard {
    token: String,
    /// (session id, CSRF token), oldest first; at most [`crate::MAX_SESSIONS`].
    sessions: Mutex<VecDeque<(String, String)>>,
    hosts: Vec<String>,
    origins: Vec<String>,
    link_host: String,
}

impl Guard {
    pub(crate) fn new(addr: SocketAddr) -> Result<Guard, String> {
        let port = addr.port();
        let mut hosts = vec![
            format!("127.0.0.1:{port}"),
            format!("localhost:{port}"),
            format!("[::1]:{port}"),
        ];
        let link_host = if addr.ip().is_unspecified() {
            format!("127.0.0.1:{port}")
        } else {
            addr.to_string()
        };
        if !hosts.contains(&link_host) {
            hosts.push(link_host.clone());
        }
        let origins = hosts.iter().map(|h| format!("http://{h}")).collect();
        Ok(Guard {
            token: random_hex()?,
            sessions: Mutex::new(VecDeque::new()),
            hosts,
            origins,
            link_host,
        })
    }

    pub(crate) fn link(&self) -> String {
        format!("http://{}/login?token={}", self.link_host, self.token)
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, VecDeque<(String, String)>> {
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn new_session(&self) -> Result<String, String> {
        let id = random_hex()?;
        let csrf = random_hex()?;
        let mut s = self.sessions();
        while s.len() >= crate::MAX_SESSIONS {
            s.pop_front();
        }
        s.push_back((id.clone(), csrf));
        Ok(id)
    }

    fn session(&self, id: &str) -> Option<Session> {
        self.sessions()
            .iter()
            .find(|(sid, _)| same(sid, id))
            .map(|(_, csrf)| Session { csrf: csrf.clone() })
    }
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

fn refuse(status: StatusCode, why: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{why}\n"),
    )
        .into_response()
}

fn secure(mut r: Response) -> Response {
    let h = r.headers_mut();
    let set = |h: &mut HeaderMap, k: &'static str, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    set(h, "content-security-policy", CSP);
    set(h, "x-content-type-options", "nosniff");
    // Not `no-referrer`: under it Chromium sends `Origin: null` on form posts, and the
    // Origin check needs the real one. Same-origin sends nothing to other sites.
    set(h, "referrer-policy", "same-origin");
    set(h, "x-frame-options", "DENY");
    set(h, "cross-origin-opener-policy", "same-origin");
    set(h, "cross-origin-resource-policy", "same-origin");
    set(
        h,
        "permissions-policy",
        "camera=(self), microphone=(), geolocation=()",
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        set(h, "cache-control", "no-store");
    }
    r
}

/// The middleware: Host, session, Origin and CSRF, then the security headers.
pub(crate) async fn check(
    State(shared): State<Arc<Shared>>,
    mut req: Request,
    next: Next,
) -> Response {
    let g = &shared.guard;
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    if !g.hosts.iter().any(|h| h.eq_ignore_ascii_case(host)) {
        return secure(refuse(
            StatusCode::MISDIRECTED_REQUEST,
            "refused: this meishi answers only to its own address (127.0.0.1 or localhost); open the link `meishi up` printed",
        ));
    }
    let path = req.uri().path().to_owned();
    if path == "/login" || path.starts_with("/assets/") {
        return secure(next.run(req).await);
    }
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| same(t.trim(), &g.token));
    let session = cookie(req.headers(), COOKIE).and_then(|id| g.session(&id));
    let session = match (session, bearer) {
        (Some(s), _) => s,
        (None, true) => Session {
            csrf: String::new(),
        },
        (None, false) => {
            return secure(refuse(
                StatusCode::UNAUTHORIZED,
                "not signed in: open the link `meishi up` printed, or run `meishi ui`",
            ))
        }
    };
    if req.method() != Method::GET && req.method() != Method::HEAD && !bearer {
        let origin = req
            .headers()
            .get(header::ORIGIN)
            .and_then(|o| o.to_str().ok())
            .unwrap_or_default();
        if !g.origins.iter().any(|o| o.eq_ignore_ascii_case(origin)) {
            return secure(refuse(
                StatusCode::FORBIDDEN,
                "refused: this request came from another site",
            ));
        }
        let header_token = req
            .headers()
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let ok = match header_token {
            Some(t) => same(&t, &session.csrf),
            None => {
                // A form: read it (bounded), find its csrf field, and hand the same bytes on.
                let is_form = req
                    .headers()
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
                if !is_form {
                    false
                } else {
                    let (parts, body) = req.into_parts();
                    let bytes = match axum::body::to_bytes(body, MAX_FORM).await {
                        Ok(b) => b,
                        Err(_) => {
                            return secure(refuse(
                                StatusCode::PAYLOAD_TOO_LARGE,
                                "refused: the form is larger than 64 KiB",
                            ))
                        }
                    };
                    let ok = form_field(&bytes, "csrf").is_some_and(|t| same(&t, &session.csrf));
                    req = Request::from_parts(parts, Body::from(bytes));
                    ok
                }
            }
        };
        if !ok {
            return secure(refuse(
                StatusCode::FORBIDDEN,
                "refused: the page is out of date (no valid CSRF token); reload it and try again",
            ));
        }
    }
    req.extensions_mut().insert(session);
    secure(next.run(req).await)
}

fn form_field(body: &[u8], name: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).ok()?;
    pairs.into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

#[derive(serde::Deserialize)]
pub(crate) struct LoginQuery {
    token: Option<String>,
}

/// `/login?token=…`: trades the link's token for a session cookie, then shows my card.
pub(crate) async fn login(State(shared): State<Arc<Shared>>, q: Query<LoginQuery>) -> Response {
    let g = &shared.guard;
    if !q.token.as_deref().is_some_and(|t| same(t, &g.token)) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "this link's token is not the running node's: open the link the current `meishi up` printed, or run `meishi ui`",
        );
    }
    let id = match g.new_session() {
        Ok(id) => id,
        Err(e) => {
            return refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("no randomness: {e}"),
            )
        }
    };
    let mut r = Redirect::to("/me").into_response();
    if let Ok(v) =
        HeaderValue::from_str(&format!("{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/"))
    {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

#[cfg(test)]
mod tests {
    #[test]
    fn secrets_compare_whole() {
        assert!(super::same("abc", "abc"));
        assert!(!super::same("abc", "abd"));
        assert!(!super::same("abc", "ab"));
    }

    #[test]
    fn the_csrf_field_is_found_in_a_form() {
        assert_eq!(
            super::form_field(b"peer=x&csrf=12ab", "csrf").as_deref(),
            Some("12ab")
        );
        assert_eq!(super::form_field(b"peer=x", "csrf"), None);
    }
}
