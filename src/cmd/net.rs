//! `meishi up`, `swap`, `nearby`, `inbox`, `accept`, `decline`, `fetch`: the peer node wired
//! into the contact book. The node knows nothing of the store; this module connects them.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use meishi_app::{App, Options, Report};
use meishi_card::envelope::SignedTeaser;
use meishi_card::{display_safe, Card};
use meishi_node::{
    key_of, split_p2p, Event, GiveError, GiveOutcome, Multiaddr, PeerId, Policy, RequestError,
    Scope,
};
use meishi_store::{PutOutcome, Store, TeaserChoice, Via};
use serde_json::json;

use crate::exit::{Failure, BAD_INPUT, NOT_FOUND, RECEIVED_ONLY, UNREACHABLE, USAGE};
use crate::home::{now, Home};

#[derive(Args, Debug)]
pub struct UpArgs {
    /// Address to listen on (repeatable) [default: all interfaces, a free TCP and QUIC port]
    #[arg(long, value_name = "MULTIADDR")]
    pub listen: Vec<Multiaddr>,
    /// Whether to give my card back to people who give me theirs: `auto` answers people on
    /// this network (and, at an event, attendees on its board and contacts), `ask` holds every
    /// card in the inbox, `never` gives nothing (no card, no teaser).
    #[arg(long, default_value = "auto", value_parser = ["auto", "ask", "never"])]
    pub accept: String,
    /// One JSON event per line on stdout.
    #[arg(long)]
    pub json: bool,
    /// Name for the starter card on a fresh home [default: asked on a terminal, else the OS user]
    #[arg(long)]
    pub name: Option<String>,
    /// Do not announce or look for peers on the local network.
    #[arg(long)]
    pub no_mdns: bool,
    /// Relay to keep a slot on, ending in /p2p/<relay id> (repeatable): people reach me
    /// through it at <relay>/p2p-circuit/p2p/<my id>.
    #[arg(long, value_name = "MULTIADDR")]
    pub relay: Vec<Multiaddr>,
    /// Event code to join on the relays (repeatable), or a join URI
    /// (`meishi:event?code=…&relay=…`, which names its relay): attendees' teasers are shown as
    /// they are found.
    #[arg(long = "event", value_name = "CODE")]
    pub events: Vec<String>,
    /// Use an event code even though it is easy to guess (anyone who guesses it sees who
    /// attends).
    #[arg(long)]
    pub weak_code: bool,
    /// What my envelopes call the event ("RustConf 2026"): the people I swap with see it in
    /// where we met [default: the name in the join URI]. Never the code.
    #[arg(long, value_name = "NAME")]
    pub label: Option<String>,
    /// Where to serve the web app (a free port is taken when this one is busy).
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_UI)]
    pub ui: std::net::SocketAddr,
    /// Do not serve the web app.
    #[arg(long, conflicts_with_all = ["ui", "ui_lan"])]
    pub no_ui: bool,
    /// Allow `--ui` on an address other people's devices can reach (anyone on the network
    /// who gets the link can use your contact book).
    #[arg(long)]
    pub ui_lan: bool,
}

/// The web app's default address: this machine only.
pub const DEFAULT_UI: &str = "127.0.0.1:4860";
/// The file in the home that holds the running web app's link (0600), for `meishi ui`.
pub const UI_LINK_FILE: &str = "ui.url";

#[derive(Args, Debug)]
pub struct SwapArgs {
    /// A multiaddr ending in /p2p/<peer id>, or a bare peer id found on the local network.
    pub target: String,
    /// What to do with cards from anyone else while the swap runs: `auto` and `never` answer
    /// only the peer I dialled (others wait in the inbox), `ask` holds even theirs.
    #[arg(long, default_value = "auto", value_parser = ["auto", "ask", "never"])]
    pub accept: String,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct NearbyArgs {
    /// How long to look, in seconds.
    #[arg(long, default_value_t = 3)]
    pub wait: u64,
    #[arg(long)]
    pub json: bool,
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

pub(crate) fn default_listen() -> Vec<Multiaddr> {
    ["/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1"]
        .iter()
        .filter_map(|a| a.parse().ok())
        .collect()
}

/// Starts the application (a node joined to this home's book).
pub(crate) fn start(home: &Home, options: Options) -> Result<App> {
    let identity = home.identity()?;
    let store = home.store()?;
    App::start(identity, store, options).map_err(|e| match e {
        meishi_app::StartError::NoOwnCard => anyhow::anyhow!(crate::home::NO_CARD),
        e => anyhow::Error::new(e).context("cannot start the node"),
    })
}

/// Renders reports: JSON on stdout, or a human line on stderr.
pub(crate) struct Out {
    pub json: bool,
    /// Prefix human lines with the time (`meishi up`, which runs for hours).
    pub stamp: bool,
}

impl Out {
    pub(crate) fn report(&self, r: &Report) {
        if self.json {
            match serde_json::to_string(r) {
                Ok(line) => println!("{line}"),
                Err(e) => eprintln!("meishi: cannot write a report as JSON: {e}"),
            }
        } else if self.stamp {
            let now = crate::output::date_time(crate::home::now());
            eprintln!("{} {}", now.get(11..16).unwrap_or_default(), r.human());
        } else {
            eprintln!("{}", r.human());
        }
    }

    /// Renders the reports of one node event or sync, and says plainly when a received card
    /// carries another contact's name under another key (a look-alike).
    pub(crate) fn reports(&self, store: &Store, reports: &[Report]) {
        for r in reports {
            self.report(r);
            if let Report::CardReceived {
                peer_id,
                name,
                lookalikes,
                ..
            } = r
            {
                if !lookalikes.is_empty() {
                    let key = peer_id.parse::<PeerId>().ok().and_then(|p| key_of(&p));
                    if let Some(w) = crate::cmd::lookalike::warn_for(store, name, key) {
                        eprintln!("{w}");
                    }
                }
            }
        }
    }
}

pub fn up(home: &Home, args: UpArgs) -> Result<()> {
    let policy: Policy = args.accept.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    // Refuse a bad or guessable code before anything is written.
    let (events, relays, label) =
        crate::cmd::event::codes_and_relays(args.events, args.relay, args.weak_code, args.label)?;
    if !home.is_initialized() {
        let name = starter_name(args.name.as_deref())?;
        crate::cmd::card::create_identity(home, &Card::new(name.clone()))?;
        eprintln!(
            "Created your identity and a starter card for {:?} in {}. Add details with `meishi card edit`.",
            display_safe(&name),
            home.dir().display()
        );
    }
    let _claim = home.claim_up()?;
    let listen = if args.listen.is_empty() {
        default_listen()
    } else {
        args.listen
    };
    let listen_is_loopback = listen.iter().all(|a| is_loopback(&a.to_string()));
    let out = Out {
        json: args.json,
        stamp: true,
    };
    // At an event or behind a relay, strangers can reach the node: `auto` answers only the
    // people it knows (proto-spec/exchange.md#consent).
    let scope = if relays.is_empty() && events.is_empty() {
        Scope::Anyone
    } else {
        Scope::Known
    };
    let via = if events.is_empty() {
        Via::Swap
    } else {
        Via::Event
    };
    let mut options = Options::new(listen, policy, scope);
    options.mdns = !args.no_mdns;
    options.relays = relays;
    options.event_codes = events;
    options.label = label;
    options.via = via;
    let ui_relays = options.relays.clone();
    runtime()?.block_on(async move {
        let mut app = start(home, options)?;
        // The web app: one more face of the same node and book (crates/meishi-web).
        let (publisher, ui_link, mut ui_requests) = if args.no_ui {
            (None, None, None)
        } else {
            let (publisher, link, requests) =
                serve_ui(home, &app, ui_relays, args.ui, args.ui_lan).await?;
            (Some(publisher), Some(link), Some(requests))
        };
        // `swap` and `fetch` beside this `up` act through its node, not a second one.
        let mut control = meishi_app::control::Server::bind(home.dir())
            .context("cannot open the control socket in the home folder")?;
        // Refresh and introductions beside this `up` need the App itself: answered in the loop.
        let mut app_requests = control.app_requests();
        if !args.json {
            let card = app.own();
            eprintln!(
                "{} is up as {} (policy: {policy}, answering {}). Ctrl-C to stop.",
                display_safe(&card.card().name),
                app.peer_id(),
                match (policy, scope) {
                    (Policy::Ask, _) => "nobody without asking",
                    (_, Scope::Anyone) => "anyone on this network",
                    _ => "attendees, people nearby and contacts",
                }
            );
            if app.store().teaser()? == TeaserChoice::Off && policy != Policy::Never {
                eprintln!("Your teaser is off: people nearby and at events see no name. `meishi card edit --teaser name` shows your name.");
            }
        }
        if let Some(link) = &ui_link {
            out.report(&Report::WebApp {
                link: link.link.clone(),
            });
        }
        let expired = app.store().inbox_expire(now().saturating_sub(meishi_store::INBOX_TTL))?;
        if expired > 0 && !args.json {
            eprintln!("Forgot {expired} inbox item(s) older than 7 days.");
        }
        let mut poll = tokio::time::interval(Duration::from_millis(300));
        // The one line to tell another person, once: the first address others can reach (a
        // loopback one only when the node listens on nothing else).
        let mut told = args.json;
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                ev = app.next_event() => {
                    let Some(ev) = ev else { break };
                    let reports = app.apply(&ev);
                    // A person reads the relay address once, in the "reachable" line.
                    let shown: Vec<Report> = reports
                        .iter()
                        .filter(|r| args.json || !matches!(r, Report::Listening { addr } if addr.contains("/p2p-circuit")))
                        .cloned()
                        .collect();
                    out.reports(app.store(), &shown);
                    for r in &reports {
                        if let Report::Listening { addr } = r {
                            if !told && (listen_is_loopback || !is_loopback(addr)) {
                                eprintln!("Others swap with you by running: meishi swap {addr}");
                                told = true;
                            }
                        }
                    }
                    control.publish(&reports);
                    if let Some(p) = &publisher {
                        p.publish(&reports);
                    }
                }
                Some(request) = next_ui_request(&mut ui_requests) => {
                    // The web app needs the App itself ("check for updates"): answered here,
                    // between node events, like the periodic catch-up of `App::sync`.
                    match request {
                        meishi_web::Request::CatchUp(reply) => {
                            let reports = app.catch_up().await;
                            out.reports(app.store(), &reports);
                            if let Some(p) = &publisher {
                                p.publish(&reports);
                            }
                            let _ = reply.send(reports);
                        }
                    }
                }
                Some(request) = next_app_request(&mut app_requests) => {
                    let meishi_app::control::AppRequest { request, reply } = request;
                    let answer = meishi_app::control::answer(&mut app, request).await;
                    if let Ok(reports) = &answer {
                        out.reports(app.store(), reports);
                        if let Some(p) = &publisher {
                            p.publish(reports);
                        }
                    }
                    let _ = reply.send(answer);
                }
                conn = control.accept() => {
                    if let Ok(stream) = conn {
                        control.spawn(stream, app.node().clone());
                    }
                }
                _ = poll.tick() => {
                    // Another process changed the book (accepted or declined inbox items, a
                    // revoked or removed contact, an edited card), or this is the first round.
                    let reports = app.sync().await?;
                    out.reports(app.store(), &reports);
                    if let Some(p) = &publisher {
                        p.publish(&reports);
                    }
                }
            }
        }
        drop(control);
        app.shutdown().await;
        Ok(())
    })
}

/// The web app's next request; never, when there is no web app (or it dropped its sender).
async fn next_app_request(
    requests: &mut Option<tokio::sync::mpsc::Receiver<meishi_app::control::AppRequest>>,
) -> Option<meishi_app::control::AppRequest> {
    let Some(rx) = requests else {
        return std::future::pending().await;
    };
    match rx.recv().await {
        Some(r) => Some(r),
        None => {
            *requests = None;
            std::future::pending().await
        }
    }
}

async fn next_ui_request(
    requests: &mut Option<tokio::sync::mpsc::Receiver<meishi_web::Request>>,
) -> Option<meishi_web::Request> {
    let Some(rx) = requests else {
        return std::future::pending().await;
    };
    match rx.recv().await {
        Some(r) => Some(r),
        None => {
            *requests = None;
            std::future::pending().await
        }
    }
}

/// The running web app's link, kept in the home for `meishi ui` while `up` runs.
struct UiLink {
    path: std::path::PathBuf,
    link: String,
}

impl Drop for UiLink {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Starts the web app on `addr` (on a free port of the same address when that one is busy),
/// and writes its link in the home.
async fn serve_ui(
    home: &Home,
    app: &App,
    relays: Vec<Multiaddr>,
    addr: std::net::SocketAddr,
    lan: bool,
) -> Result<(
    meishi_web::Publisher,
    UiLink,
    tokio::sync::mpsc::Receiver<meishi_web::Request>,
)> {
    if !addr.ip().is_loopback() && lan {
        eprintln!(
            "warning: the web app listens on {addr}: anyone on that network who gets its link can read and change your contact book"
        );
    }
    let setup = |home: &Home| -> Result<meishi_web::Setup> {
        Ok(meishi_web::Setup {
            home: home.dir().to_path_buf(),
            store: home.store()?,
            identity: home.identity()?,
            node: app.node().clone(),
            relays: relays.clone(),
        })
    };
    let mut ui = match meishi_web::Ui::bind(setup(home)?, addr, lan).await {
        Ok(ui) => ui,
        Err(meishi_web::UiError::Bind { source, .. })
            if source.kind() == std::io::ErrorKind::AddrInUse && addr.port() != 0 =>
        {
            let mut any = addr;
            any.set_port(0);
            meishi_web::Ui::bind(setup(home)?, any, lan).await?
        }
        Err(e) => return Err(Failure::new(USAGE, e.into()).into()),
    };
    let link = UiLink {
        path: home.dir().join(UI_LINK_FILE),
        link: ui.link(),
    };
    crate::home::write_private(&link.path, format!("{}\n", link.link).as_bytes())?;
    let publisher = ui.publisher();
    let requests = ui
        .requests()
        .context("the web app's requests were taken already")?;
    tokio::spawn(ui.serve(std::future::pending()));
    Ok((publisher, link, requests))
}

/// `meishi ui`: opens the running `meishi up`'s web app in a browser (or prints its link).
pub fn ui(home: &Home, print: bool) -> Result<()> {
    let path = home.dir().join(UI_LINK_FILE);
    let link = std::fs::read_to_string(&path)
        .ok()
        .map(|l| l.trim().to_owned())
        .filter(|l| l.starts_with("http://"))
        .ok_or_else(|| {
            Failure::new(
                NOT_FOUND,
                anyhow::anyhow!(
                    "no web app is running for {}: start it with `meishi up`",
                    home.dir().display()
                ),
            )
        })?;
    if !print {
        for opener in ["xdg-open", "open"] {
            let spawned = std::process::Command::new(opener)
                .arg(&link)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
            if spawned.is_ok_and(|s| s.success()) {
                eprintln!("Opened the web app in your browser.");
                return Ok(());
            }
        }
        eprintln!("No browser could be started here; open this link:");
    }
    println!("{link}");
    Ok(())
}

fn is_loopback(addr: &str) -> bool {
    addr.starts_with("/ip4/127.") || addr.starts_with("/ip6/::1/")
}

/// How long `swap` waits for its listeners before dialing anyway.
const LISTEN_WAIT: Duration = Duration::from_secs(2);

/// Asks for a name on a terminal until one is given; `None` when stdin is not a terminal or
/// is closed.
pub(crate) fn prompt_name() -> Result<Option<String>> {
    if !std::io::stdin().is_terminal() {
        return Ok(None);
    }
    loop {
        eprint!("Your name, as others will see it: ");
        let mut line = String::new();
        if std::io::stdin().read_line(&mut line)? == 0 {
            return Ok(None);
        }
        if let Some(n) = Some(line.trim()).filter(|n| !n.is_empty()) {
            return Ok(Some(n.to_owned()));
        }
        eprintln!("A card needs a name (Ctrl-C to stop).");
    }
}

fn starter_name(flag: Option<&str>) -> Result<String> {
    if let Some(n) = flag.map(str::trim).filter(|n| !n.is_empty()) {
        return Ok(n.to_owned());
    }
    if let Some(n) = prompt_name()? {
        return Ok(n);
    }
    for var in ["USER", "LOGNAME", "USERNAME"] {
        if let Some(n) = std::env::var(var).ok().filter(|n| !n.trim().is_empty()) {
            return Ok(n);
        }
    }
    bail!("no name for your card: pass --name \"Your Name\"")
}

/// Where to reach a swap target.
pub(crate) fn parse_target(t: &str) -> Result<(PeerId, Vec<Multiaddr>)> {
    if t.starts_with('/') {
        let addr: Multiaddr = t
            .parse()
            .map_err(|e| Failure::new(USAGE, anyhow::anyhow!("{t:?} is not a multiaddr: {e}")))?;
        let (peer, rest) = split_p2p(&addr).ok_or_else(|| {
            Failure::new(
                USAGE,
                anyhow::anyhow!("{t:?} does not end in /p2p/<peer id>"),
            )
        })?;
        return Ok((peer, vec![rest]));
    }
    let peer: PeerId = t.trim().parse().map_err(|_| {
        Failure::new(
            USAGE,
            anyhow::anyhow!("{t:?} is neither a multiaddr ending in /p2p/<id> nor a peer id"),
        )
    })?;
    Ok((peer, Vec::new()))
}

/// Who a `swap` or `fetch` is for, as far as the book knows.
pub(crate) struct Target {
    /// Known when the target was a multiaddr, a peer id or a contact.
    pub peer: Option<PeerId>,
    /// What to ask a running `up` for: the peer id, or the name as typed.
    pub query: String,
    /// Where to reach them: the multiaddr given, else the addresses they were last reached at.
    pub addrs: Vec<Multiaddr>,
    /// Whether the user gave an address (then mDNS is not needed).
    pub explicit: bool,
    /// The contact's name, when the book has them.
    pub name: Option<String>,
}

/// Resolves a command-line target: a multiaddr ending in /p2p/<id>, a peer id, or a contact
/// (number or name). A name the book does not know is passed on to a running `up`, which
/// knows who is nearby and at its events.
pub(crate) fn resolve_target(home: &Home, t: &str) -> Result<Target> {
    use meishi_store::ContactRef;
    if t.starts_with('/') {
        let (peer, addrs) = parse_target(t)?;
        return Ok(Target {
            peer: Some(peer),
            query: peer.to_string(),
            addrs,
            explicit: true,
            name: None,
        });
    }
    let store = home.store()?;
    let stored_addrs = |key: &meishi_card::PublicKey| -> Result<Vec<Multiaddr>> {
        Ok(store
            .addrs_of(key)?
            .iter()
            .filter_map(|a| a.parse().ok())
            .collect())
    };
    if let Ok(peer) = t.trim().parse::<PeerId>() {
        let key = key_of(&peer).ok_or_else(|| {
            Failure::new(
                USAGE,
                anyhow::anyhow!("{peer} is not a meishi peer id (they start with 12D3KooW)"),
            )
        })?;
        let name = store.get(&ContactRef::Key(key))?.map(|c| c.card.name);
        return Ok(Target {
            peer: Some(peer),
            query: peer.to_string(),
            addrs: stored_addrs(&key)?,
            explicit: false,
            name,
        });
    }
    let r = ContactRef::parse(t).map_err(|e| Failure::new(USAGE, e.into()))?;
    match store.get(&r) {
        Ok(Some(c)) => {
            let id = c.summary.id;
            let key = c.summary.key.ok_or_else(|| {
                Failure::new(
                    NOT_FOUND,
                    anyhow::anyhow!(
                        "{} has no meishi key (imported from a vCard): swap in person or by QR code",
                        display_safe(&c.card.name)
                    ),
                )
            })?;
            let peer = meishi_node::peer_id_of(&key).ok_or_else(|| {
                anyhow::anyhow!("the stored key of contact {id} is not a peer id")
            })?;
            Ok(Target {
                peer: Some(peer),
                query: peer.to_string(),
                addrs: stored_addrs(&key)?,
                explicit: false,
                name: Some(c.card.name),
            })
        }
        Ok(None) if matches!(r, ContactRef::Name(_)) => Ok(Target {
            peer: None,
            query: t.trim().to_owned(),
            addrs: Vec::new(),
            explicit: false,
            name: None,
        }),
        Ok(None) => Err(Failure::new(
            NOT_FOUND,
            anyhow::anyhow!("no contact {r}; see `meishi contacts list`"),
        )
        .into()),
        Err(e) => Err(Failure::new(USAGE, e.into()).into()),
    }
}

/// The exit for how a request through the running `up` ended.
pub(crate) fn done_result(done: meishi_app::control::Done) -> Result<Option<Vec<u8>>> {
    use meishi_app::control::Done;
    let (code, error) = match done {
        Done::Ok { card } => return Ok(card),
        Done::Unreachable { error } => (UNREACHABLE, error),
        Done::ReceivedOnly { error } => (RECEIVED_ONLY, error),
        Done::NotFound { error } => (NOT_FOUND, error),
        Done::Failed { error } => (crate::exit::FAILURE, error),
    };
    Err(Failure::new(code, anyhow::anyhow!(error)).into())
}

/// What the waiting side of a pending swap is told.
fn pending_note(who: &str, wait: u64) -> String {
    format!(
        "{who} has your card and decides whether to give theirs. Waiting up to {wait}s; Ctrl-C is safe: their card reaches you when they accept while `meishi up` runs here, or when you swap again."
    )
}

pub fn swap(home: &Home, args: SwapArgs) -> Result<()> {
    let target = resolve_target(home, &args.target)?;
    let policy: Policy = args.accept.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    let out = Out {
        json: args.json,
        stamp: false,
    };
    let deadline = Duration::from_secs(args.timeout.max(1));
    let who = target
        .name
        .as_deref()
        .map(display_safe)
        .unwrap_or_else(|| target.query.clone());
    runtime()?.block_on(async move {
        if let Some(stream) = meishi_app::control::connect(home.dir()).await {
            if !out.json {
                eprintln!("Swapping with {who} through the running `meishi up`…");
            }
            let request = meishi_app::control::Request::Swap {
                peer: target.query.clone(),
                addrs: target.addrs.iter().map(ToString::to_string).collect(),
                timeout_secs: args.timeout.max(1),
            };
            let done = meishi_app::control::call(stream, &request, |r| {
                if matches!(r, Report::Pending { .. }) && !out.json {
                    eprintln!("{}", pending_note(&who, args.timeout));
                } else {
                    out.report(&r);
                }
            })
            .await?;
            return done_result(done).map(|_| ());
        }
        let Some(peer) = target.peer else {
            return Err(Failure::new(
                NOT_FOUND,
                anyhow::anyhow!(
                    "no contact is called {:?}. To swap by name with someone nearby or at an event, keep `meishi up` (with --event) running and swap from another terminal; or use their peer id",
                    display_safe(&target.query)
                ),
            )
            .into());
        };
        let addrs = target.addrs.clone();
        let lan = !target.explicit;
        if !out.json {
            eprintln!(
                "Swapping with {who} (up to {}s; {})…",
                args.timeout,
                if lan && addrs.is_empty() {
                    "looking on the local network"
                } else {
                    "dialing"
                }
            );
        }
        // Listen too, so that a peer who asks its user first can give its card back later; a
        // one-shot swap answers only the peer it dialled (proto-spec/exchange.md#consent).
        let mut options = Options::new(default_listen(), policy, Scope::Dialled);
        options.mdns = lan;
        let mut app = start(home, options)?;
        let node = app.node().clone();
        let started = tokio::time::Instant::now();
        // Dial only once the listeners are up: TCP and QUIC then dial from the listen port, so
        // the peer sees the address it can give back to later (identify does not tell it).
        let wanted = default_listen().len();
        while node.listen_addrs().await?.len() < wanted && started.elapsed() < LISTEN_WAIT {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut addrs = addrs;
        if lan && addrs.is_empty() {
            // A bare peer id: wait until mDNS finds it.
            loop {
                if let Some(d) = node.nearby().await?.into_iter().find(|d| d.peer == peer) {
                    addrs = d.addrs;
                    break;
                }
                if started.elapsed() >= deadline {
                    return Err(Failure::new(
                        UNREACHABLE,
                        anyhow::anyhow!(
                            "{who} was not found on the local network within {}s. If they are at an event, keep `meishi up --event CODE` running and swap from another terminal, or run `meishi event CODE --swap-all`",
                            args.timeout
                        ),
                    )
                    .into());
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        let remaining = deadline.saturating_sub(started.elapsed());
        let dialled: Vec<String> = addrs.iter().map(ToString::to_string).collect();
        let outcome = match tokio::time::timeout(remaining, node.give(peer, addrs)).await {
            Err(_) => {
                return Err(Failure::new(
                    UNREACHABLE,
                    anyhow::anyhow!("{peer} did not answer within {}s", args.timeout),
                )
                .into())
            }
            Ok(Err(GiveError::Request(
                RequestError::Unreachable | RequestError::Timeout | RequestError::ConnectionClosed,
            ))) => {
                return Err(Failure::new(
                    UNREACHABLE,
                    anyhow::anyhow!("nobody answered at {}", args.target),
                )
                .into())
            }
            Ok(Err(e)) => {
                return Err(Failure::new(
                    BAD_INPUT,
                    anyhow::anyhow!("swap with {peer} failed: {e}"),
                )
                .into())
            }
            Ok(Ok(o)) => o,
        };
        let envelope = match outcome {
            GiveOutcome::Mutual { envelope } => envelope,
            GiveOutcome::ReceivedOnly => {
                return Err(Failure::new(
                    RECEIVED_ONLY,
                    anyhow::anyhow!("{peer} received my card but gives none back (their policy)"),
                )
                .into())
            }
            GiveOutcome::Pending => {
                if out.json {
                    out.report(&Report::Pending {
                        peer_id: peer.to_string(),
                    });
                } else {
                    eprintln!("{}", pending_note(&who, args.timeout));
                }
                // Their card arrives as an event if their user accepts before the deadline;
                // anything else that happens meanwhile (someone else's give) is applied as
                // under `up`.
                let wait = async {
                    while let Some(ev) = app.next_event().await {
                        match ev {
                            Event::CardReceived { from, envelope, .. } if from == peer => {
                                return Some(envelope);
                            }
                            ev @ Event::InboxItem { .. } => {
                                let reports = app.apply(&ev);
                                out.reports(app.store(), &reports);
                            }
                            _ => {}
                        }
                    }
                    None
                };
                match tokio::time::timeout(deadline.saturating_sub(started.elapsed()), wait).await {
                    Ok(Some(env)) => env,
                    _ => {
                        app.shutdown().await;
                        return Err(Failure::new(
                            RECEIVED_ONLY,
                            anyhow::anyhow!("{who} has your card and has not accepted yet. Swap again later (they answer at once once they accept), or keep `meishi up` running to receive their card"),
                        )
                        .into());
                    }
                }
            }
        };
        let (outcome, lookalikes) = app
            .record_swap(&envelope)
            .context("cannot store the received card")?;
        if let Err(e) = app.store().set_addrs(&envelope.giver(), &dialled) {
            eprintln!("meishi: could not remember where they were reached: {e}");
        }
        let name = envelope.card().card().name.clone();
        if !lookalikes.is_empty() {
            if let Some(w) = crate::cmd::lookalike::warn_lookalikes(app.store(), envelope.card()) {
                eprintln!("{w}");
            }
        }
        app.shutdown().await;
        if let PutOutcome::Older { .. } | PutOutcome::Equivocation { .. } = outcome {
            return Err(Failure::new(
                BAD_INPUT,
                anyhow::anyhow!("the card of {} was refused: {outcome}", display_safe(&name)),
            )
            .into());
        }
        out.report(&Report::Swapped {
            peer_id: peer.to_string(),
            outcome: None,
            name: Some(name),
            result: Some(outcome.to_string()),
        });
        Ok(())
    })
}

pub fn nearby(home: &Home, args: NearbyArgs) -> Result<()> {
    runtime()?.block_on(async move {
        // Only looking: `never` publishes no teaser and gives nothing.
        let mut options = Options::new(default_listen(), Policy::Never, Scope::Known);
        options.mdns = true;
        let mut app = start(home, options)?;
        let wait = tokio::time::sleep(Duration::from_secs(args.wait));
        tokio::pin!(wait);
        loop {
            tokio::select! {
                _ = &mut wait => break,
                ev = app.next_event() => if ev.is_none() { break },
            }
        }
        let found = app.node().nearby().await?;
        app.shutdown().await;
        if args.json {
            let v: Vec<_> = found
                .iter()
                .map(|d| json!({"peer_id": d.peer.to_string(), "teaser": teaser_json(&d.teaser), "addrs": d.addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>()}))
                .collect();
            println!("{}", serde_json::Value::Array(v));
        } else if found.is_empty() {
            eprintln!("Nobody found on the local network in {}s (is meishi up running on their side?)", args.wait);
        } else {
            for d in &found {
                let (name, headline) = match &d.teaser {
                    Some(t) => (display_safe(t.name()), t.headline().map(display_safe).unwrap_or_default()),
                    None => ("(no teaser)".into(), String::new()),
                };
                println!("{name}\t{headline}\t{}", d.peer);
            }
        }
        Ok(())
    })
}

fn teaser_json(t: &Option<SignedTeaser>) -> serde_json::Value {
    match t {
        Some(t) => json!({"name": t.name(), "headline": t.headline()}),
        None => serde_json::Value::Null,
    }
}

pub fn inbox(home: &Home, json: bool) -> Result<()> {
    let store = home.store()?;
    store.inbox_expire(now().saturating_sub(meishi_store::INBOX_TTL))?;
    let items = store.inbox_list()?;
    if json {
        let v: Vec<_> = items
            .iter()
            .map(|i| json!({"id": i.id, "peer_id": i.card.key().peer_id(), "name": i.card.card().name, "received_at": i.received_at, "event_code": i.meeting.event}))
            .collect();
        println!("{}", serde_json::Value::Array(v));
    } else if items.is_empty() {
        eprintln!("The inbox is empty.");
    } else {
        for i in &items {
            let c = i.card.card();
            let org = c
                .org
                .as_deref()
                .map(|o| format!(" — {}", display_safe(o)))
                .unwrap_or_default();
            println!(
                "{:>4} {}{org}  {}",
                i.id,
                display_safe(&c.name),
                i.card.key().peer_id()
            );
        }
    }
    Ok(())
}

pub fn decide(home: &Home, id: i64, accept: bool) -> Result<()> {
    let store = home.store()?;
    if store.inbox_get(id)?.is_none() {
        return Err(Failure::new(
            NOT_FOUND,
            anyhow::anyhow!("no inbox item {id}; see `meishi inbox`"),
        )
        .into());
    }
    if accept {
        let (item, outcome) = store.inbox_take(id)?;
        eprintln!(
            "Accepted {}: {outcome}. A running `meishi up` gives your card back.",
            display_safe(&item.card.card().name)
        );
    } else {
        store.inbox_decline(id)?;
        eprintln!("Declined; they do not get your card.");
    }
    Ok(())
}

pub fn decline_all(home: &Home) -> Result<()> {
    let store = home.store()?;
    let n = store.inbox_decline_all()?;
    eprintln!("Declined {n} waiting card(s); they do not get yours.");
    Ok(())
}
