//! `meishi up`, `swap`, `nearby`, `inbox`, `accept`, `decline`, `fetch`: the peer node wired
//! into the contact book. The node knows nothing of the store; this module connects them.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use meishi_card::envelope::{Envelope, SignedTeaser};
use meishi_card::{display_safe, Card, PublicKey, SignedCard};
use meishi_node::{
    key_of, split_p2p, Config, Event, GiveError, GiveOutcome, Multiaddr, Node, PeerId, Peers,
    Policy, RequestError, Scope, Teaser,
};
use meishi_store::{ContactRef, InboxItem, MeetingRecord, PutOutcome, Store, TeaserChoice};
use serde_json::json;

use crate::exit::{Failure, BAD_INPUT, NOT_FOUND, RECEIVED_ONLY, UNREACHABLE};
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
}

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

/// The teaser the owner chose to publish (`None`: off).
pub(crate) fn teaser_of(card: &Card, choice: TeaserChoice) -> Option<Teaser> {
    match choice {
        TeaserChoice::Off => None,
        TeaserChoice::Name => Some(Teaser {
            name: card.name.clone(),
            headline: None,
        }),
        TeaserChoice::Headline => Some(Teaser {
            name: card.name.clone(),
            headline: card.note.clone().or_else(|| card.title.clone()),
        }),
    }
}

/// What the book says about other people, for the node's consent rule.
pub(crate) fn peers(store: &Store, me: &PublicKey) -> Result<Peers> {
    let p = store.consent_peers(me)?;
    Ok(Peers {
        holders: p.holders,
        contacts: p.contacts,
        revoked: p.revoked,
        pending: p.pending,
    })
}

/// Starts a node for this home.
pub(crate) fn start(
    home: &Home,
    store: &Store,
    listen: Vec<Multiaddr>,
    policy: Policy,
    scope: Scope,
    mdns: bool,
) -> Result<(Node, tokio::sync::mpsc::Receiver<Event>, SignedCard)> {
    start_with(home, store, listen, policy, scope, mdns, Attend::default())
}

/// Relays and events a node joins.
#[derive(Debug, Default)]
pub(crate) struct Attend {
    pub relays: Vec<Multiaddr>,
    pub events: Vec<String>,
    /// How often to poll the events' boards (`None`: the node's default).
    pub poll: Option<Duration>,
}

/// Starts a node for this home that also joins relays and events.
pub(crate) fn start_with(
    home: &Home,
    store: &Store,
    listen: Vec<Multiaddr>,
    policy: Policy,
    scope: Scope,
    mdns: bool,
    attend: Attend,
) -> Result<(Node, tokio::sync::mpsc::Receiver<Event>, SignedCard)> {
    let identity = home.identity()?;
    let card = home.own_card(store)?;
    let me = identity.public();
    let mut config = Config::new(identity, card.clone());
    config.listen = listen;
    config.policy = policy;
    config.scope = scope;
    config.mdns = mdns;
    // Under `never` nothing leaves, the teaser included (the node enforces it too).
    config.teaser = match policy {
        Policy::Never => None,
        _ => teaser_of(card.card(), store.teaser()?),
    };
    config.peers = peers(store, &me)?;
    config.relays = attend.relays;
    config.event_codes = attend.events;
    if let Some(p) = attend.poll {
        config.limits.event_poll = p;
    }
    let (node, events) = Node::spawn(config).context("cannot start the node")?;
    Ok((node, events, card))
}

fn meeting(envelope: &Envelope, via: &str) -> MeetingRecord {
    MeetingRecord {
        envelope: envelope.as_bytes().to_vec(),
        from: envelope.giver(),
        to: envelope.recipient(),
        at: envelope.time(),
        event: envelope.event().map(str::to_owned),
        via: via.to_owned(),
    }
}

/// Stores a received card and the envelope that says where and when we met, in one transaction.
pub(crate) fn store_received(
    store: &mut Store,
    envelope: &Envelope,
    via: &str,
) -> Result<PutOutcome> {
    let card = envelope.card().clone();
    let record = meeting(envelope, via);
    store
        .transaction(|tx| {
            let outcome = tx.put_signed(&card, via)?;
            if !matches!(
                outcome,
                PutOutcome::Older { .. } | PutOutcome::Equivocation { .. }
            ) {
                tx.add_meeting(card.key(), &record)?;
            }
            Ok(outcome)
        })
        .context("cannot store the received card")
}

/// Records that I gave my card (the envelope is the proof), when the recipient is a contact.
pub(crate) fn store_given(store: &Store, envelope: &Envelope, via: &str) {
    // Only contacts have meetings; a give to someone not (yet) in the book is remembered once
    // their card arrives (the mutual swap stores both envelopes).
    if let Ok(Some(_)) = store.resolve(&ContactRef::Key(envelope.recipient())) {
        let _ = store.add_meeting(envelope.recipient(), &meeting(envelope, via));
    }
}

/// Says on stderr when a received card carries the name of another contact under another key
/// (a look-alike: ✓ only means "signed by some key").
pub(crate) fn warn_lookalikes(store: &Store, card: &SignedCard) {
    if let Some(w) = crate::cmd::lookalike::warn_lookalikes(store, card) {
        eprintln!("{w}");
    }
}

fn name_of(envelope: &Envelope) -> String {
    display_safe(&envelope.card().card().name)
}

fn teaser_json(t: &Option<SignedTeaser>) -> serde_json::Value {
    match t {
        Some(t) => json!({"name": t.name(), "headline": t.headline()}),
        None => serde_json::Value::Null,
    }
}

/// Emits a line: JSON on stdout, or a human line on stderr.
pub(crate) struct Out {
    pub json: bool,
}

impl Out {
    pub(crate) fn event(&self, v: serde_json::Value, human: impl FnOnce() -> String) {
        if self.json {
            println!("{v}");
        } else {
            eprintln!("{}", human());
        }
    }
}

pub fn up(home: &Home, args: UpArgs) -> Result<()> {
    let policy: Policy = args.accept.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    // Refuse a bad or guessable code before anything is written.
    let (events, relays) =
        crate::cmd::event::codes_and_relays(args.events, args.relay, args.weak_code)?;
    if !home.is_initialized() {
        let name = starter_name(args.name.as_deref())?;
        crate::cmd::card::create_identity(home, &Card::new(name.clone()))?;
        eprintln!(
            "Created your identity and a starter card for {:?} in {}. Add details with `meishi card edit`.",
            display_safe(&name),
            home.dir().display()
        );
    }
    let mut store = home.store()?;
    let listen = if args.listen.is_empty() {
        default_listen()
    } else {
        args.listen
    };
    let out = Out { json: args.json };
    let attend = Attend {
        relays,
        events,
        poll: None,
    };
    // At an event or behind a relay, strangers can reach the node: `auto` answers only the
    // people it knows (proto-spec/exchange.md#consent).
    let scope = if attend.relays.is_empty() && attend.events.is_empty() {
        Scope::Anyone
    } else {
        Scope::Known
    };
    runtime()?.block_on(async move {
        let (node, mut events, card) =
            start_with(home, &store, listen, policy, scope, !args.no_mdns, attend)?;
        let me = node.peer_id();
        if !args.json {
            eprintln!(
                "{} is up as {me} (policy: {policy}, answering {}). Ctrl-C to stop.",
                display_safe(&card.card().name),
                match (policy, scope) {
                    (Policy::Ask, _) => "nobody without asking",
                    (_, Scope::Anyone) => "anyone on this network",
                    _ => "attendees, people nearby and contacts",
                }
            );
            if store.teaser()? == TeaserChoice::Off && policy != Policy::Never {
                eprintln!("Your teaser is off: people nearby and at events see no name. `meishi card edit --teaser name` shows your name.");
            }
        }
        let expired = store.inbox_expire(now().saturating_sub(meishi_store::INBOX_TTL))?;
        if expired > 0 && !args.json {
            eprintln!("Forgot {expired} inbox item(s) older than 7 days.");
        }
        let me_key = card.key();
        let mut last_version = None;
        let mut poll = tokio::time::interval(Duration::from_millis(300));
        let mut own_seq = card.seq();
        // Accepted inbox items given back recently: not tried again before GIVE_BACK_RETRY.
        let mut tried: HashMap<i64, Instant> = HashMap::new();
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                ev = events.recv() => {
                    let Some(ev) = ev else { break };
                    handle_event(&mut store, &out, me, ev);
                }
                _ = poll.tick() => {
                    let v = store.data_version()?;
                    let retry_due = tried.values().any(|t| t.elapsed() >= GIVE_BACK_RETRY);
                    if Some(v) == last_version && !retry_due { continue; }
                    last_version = Some(v);
                    // Another process changed the book (accepted or declined inbox items, a
                    // revoked or removed contact, an edited card), or this is the first round.
                    if node.set_peers(peers(&store, &me_key)?).await.is_err() { break; }
                    for item in store.inbox_accepted()? {
                        if tried.get(&item.id).is_some_and(|t| t.elapsed() < GIVE_BACK_RETRY) {
                            continue;
                        }
                        tried.insert(item.id, Instant::now());
                        give_back_accepted(&node, &store, &out, &item).await;
                    }
                    tried.retain(|id, _| store.inbox_get(*id).ok().flatten().is_some_and(|i| i.status == meishi_store::InboxStatus::Accepted));
                    if let Some(own) = store.own_card()? {
                        if own.seq() > own_seq {
                            own_seq = own.seq();
                            let _ = node.set_card(own).await;
                            out.event(json!({"event": "card_updated", "seq": own_seq}), || format!("Now giving card seq {own_seq}"));
                        }
                    }
                }
            }
        }
        let _ = node.shutdown().await;
        Ok(())
    })
}

/// How long `swap` waits for its listeners before dialing anyway.
const LISTEN_WAIT: Duration = Duration::from_secs(2);

/// How long before an accepted item whose give-back failed is tried again.
const GIVE_BACK_RETRY: Duration = Duration::from_secs(30);

/// Gives my card back for an inbox item the user accepted (in this process or another, before
/// or after a restart), reaching the giver where it was, nearby or through the event's relay.
async fn give_back_accepted(node: &Node, store: &Store, out: &Out, item: &InboxItem) {
    let key = item.card.key();
    let name = display_safe(&item.card.card().name);
    let Some(peer) = meishi_node::peer_id_of(&key) else {
        return;
    };
    let addrs: Vec<Multiaddr> = item.addrs.iter().filter_map(|a| a.parse().ok()).collect();
    match tokio::time::timeout(Duration::from_secs(20), node.give_back(peer, addrs)).await {
        Ok(Ok(_)) => {
            let _ = store.inbox_mark_given_back(item.id);
            out.event(
                json!({"event": "card_given", "peer_id": peer.to_string(), "inbox_id": item.id}),
                || format!("Gave my card back to {name} (accepted from the inbox)"),
            );
        }
        Ok(Err(e)) => out.event(
            json!({"event": "error", "peer_id": peer.to_string(), "inbox_id": item.id, "error": e.to_string()}),
            || format!("Could not give my card back to {name} yet: {e} (trying again later)"),
        ),
        Err(_) => out.event(
            json!({"event": "error", "peer_id": peer.to_string(), "inbox_id": item.id, "error": "timed out"}),
            || format!("Could not reach {name} to give my card back (trying again later)"),
        ),
    }
}

pub(crate) fn handle_event(store: &mut Store, out: &Out, me: PeerId, ev: Event) {
    match ev {
        Event::Listening { addr } => {
            let full = format!("{addr}/p2p/{me}");
            out.event(json!({"event": "listening", "addr": full}), || {
                format!("Listening on {full}")
            });
        }
        Event::PeerDiscovered { peer, teaser, .. } => {
            let who = teaser
                .as_ref()
                .map(|t| display_safe(t.name()))
                .unwrap_or_else(|| "(no teaser)".into());
            let headline = teaser
                .as_ref()
                .and_then(|t| t.headline())
                .map(|h| format!(" — {}", display_safe(h)))
                .unwrap_or_default();
            out.event(json!({"event": "peer_discovered", "peer_id": peer.to_string(), "teaser": teaser_json(&teaser)}),
                || format!("Nearby: {who}{headline}  {peer}"));
        }
        Event::PeerExpired { peer } => {
            out.event(
                json!({"event": "peer_expired", "peer_id": peer.to_string()}),
                || format!("Gone: {peer}"),
            );
        }
        Event::CardReceived { from, envelope } => {
            let name = name_of(&envelope);
            match store_received(store, &envelope, "swap") {
                Ok(o) => {
                    out.event(
                        json!({"event": "card_received", "peer_id": from.to_string(), "name": envelope.card().card().name, "result": o.to_string(), "event_code": envelope.event()}),
                        || format!("Received the card of {name}: {o}"),
                    );
                    warn_lookalikes(store, envelope.card());
                }
                Err(e) => out.event(json!({"event": "error", "peer_id": from.to_string(), "error": format!("{e:#}")}),
                    || format!("Could not store the card of {name}: {e:#}")),
            }
        }
        Event::CardGiven { to, envelope } => {
            store_given(store, &envelope, "swap");
            out.event(
                json!({"event": "card_given", "peer_id": to.to_string()}),
                || format!("Gave my card to {to}"),
            );
        }
        Event::InboxItem {
            from,
            envelope,
            addrs,
        } => {
            let name = name_of(&envelope);
            let addrs: Vec<String> = addrs.iter().map(ToString::to_string).collect();
            match store.inbox_add(envelope.card(), &meeting(&envelope, "swap"), now(), &addrs) {
                Ok(store_id) => {
                    out.event(json!({"event": "inbox", "inbox_id": store_id, "peer_id": from.to_string(), "name": envelope.card().card().name}),
                        || format!("{name} wants to swap: `meishi accept {store_id}` or `meishi decline {store_id}`"));
                }
                Err(e) => out.event(
                    json!({"event": "error", "peer_id": from.to_string(), "error": e.to_string()}),
                    || format!("Could not keep the card of {name} in the inbox: {e}"),
                ),
            }
        }
        Event::AttendeeDiscovered {
            peer,
            teaser,
            addrs,
            ..
        } => {
            let name = display_safe(teaser.name());
            let headline = teaser
                .headline()
                .map(|h| format!(" — {}", display_safe(h)))
                .unwrap_or_default();
            let addrs: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
            out.event(
                json!({"event": "attendee", "peer_id": peer.to_string(), "name": teaser.name(), "headline": teaser.headline(), "addrs": addrs}),
                || format!("Attendee: {name}{headline}  {peer}"),
            );
        }
        Event::Reserved { relay, addr } => {
            let full = format!("{addr}/p2p/{me}");
            out.event(
                json!({"event": "reserved", "relay": relay.to_string(), "addr": full}),
                || format!("Reachable through the relay at {full}"),
            );
        }
        Event::RelayDisconnected { relay } => out.event(
            json!({"event": "relay_disconnected", "relay": relay.to_string()}),
            || format!("Lost the relay {relay}; reconnecting"),
        ),
        Event::DirectConnection { peer } => out.event(
            json!({"event": "direct", "peer_id": peer.to_string()}),
            || format!("Direct connection to {peer} (hole punching worked)"),
        ),
        Event::HolePunchFailed { peer } => out.event(
            json!({"event": "hole_punch_failed", "peer_id": peer.to_string()}),
            || format!("The connection to {peer} stays relayed (hole punching failed)"),
        ),
        Event::Refused { from, reason } => {
            out.event(json!({"event": "refused", "peer_id": from.to_string(), "reason": reason.to_string()}),
                || format!("Refused a request from {from}: {reason}"));
        }
        _ => {}
    }
}

fn starter_name(flag: Option<&str>) -> Result<String> {
    if let Some(n) = flag.map(str::trim).filter(|n| !n.is_empty()) {
        return Ok(n.to_owned());
    }
    if std::io::stdin().is_terminal() {
        eprint!("Your name, as others will see it: ");
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        if let Some(n) = Some(line.trim()).filter(|n| !n.is_empty()) {
            return Ok(n.to_owned());
        }
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
        let addr: Multiaddr = t.parse().map_err(|e| {
            Failure::new(BAD_INPUT, anyhow::anyhow!("{t:?} is not a multiaddr: {e}"))
        })?;
        let (peer, rest) = split_p2p(&addr).ok_or_else(|| {
            Failure::new(
                BAD_INPUT,
                anyhow::anyhow!("{t:?} does not end in /p2p/<peer id>"),
            )
        })?;
        return Ok((peer, vec![rest]));
    }
    let peer: PeerId = t.trim().parse().map_err(|_| {
        Failure::new(
            BAD_INPUT,
            anyhow::anyhow!("{t:?} is neither a multiaddr ending in /p2p/<id> nor a peer id"),
        )
    })?;
    Ok((peer, Vec::new()))
}

pub fn swap(home: &Home, args: SwapArgs) -> Result<()> {
    let (peer, addrs) = parse_target(&args.target)?;
    if key_of(&peer).is_none() {
        return Err(Failure::new(
            BAD_INPUT,
            anyhow::anyhow!("{peer} is not a meishi peer id (they start with 12D3KooW)"),
        )
        .into());
    }
    let policy: Policy = args.accept.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut store = home.store()?;
    let out = Out { json: args.json };
    let deadline = Duration::from_secs(args.timeout.max(1));
    let lan = addrs.is_empty();
    runtime()?.block_on(async move {
        // Listen too, so that a peer who asks its user first can give its card back later; a
        // one-shot swap answers only the peer it dialled (proto-spec/exchange.md#consent).
        let (node, mut events, _card) =
            start(home, &store, default_listen(), policy, Scope::Dialled, lan)?;
        let me = node.peer_id();
        let started = tokio::time::Instant::now();
        // Dial only once the listeners are up: TCP and QUIC then dial from the listen port, so
        // the peer sees the address it can give back to later (identify does not tell it).
        let wanted = default_listen().len();
        while node.listen_addrs().await?.len() < wanted && started.elapsed() < LISTEN_WAIT {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut addrs = addrs;
        if lan {
            // A bare peer id: wait until mDNS finds it.
            loop {
                if let Some(d) = node.nearby().await?.into_iter().find(|d| d.peer == peer) {
                    addrs = d.addrs;
                    break;
                }
                if started.elapsed() >= deadline {
                    return Err(Failure::new(UNREACHABLE, anyhow::anyhow!("{peer} was not found on the local network within {}s", args.timeout)).into());
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        let remaining = deadline.saturating_sub(started.elapsed());
        let outcome = match tokio::time::timeout(remaining, node.give(peer, addrs)).await {
            Err(_) => return Err(Failure::new(UNREACHABLE, anyhow::anyhow!("{peer} did not answer within {}s", args.timeout)).into()),
            Ok(Err(GiveError::Request(RequestError::Unreachable | RequestError::Timeout | RequestError::ConnectionClosed))) => {
                return Err(Failure::new(UNREACHABLE, anyhow::anyhow!("nobody answered at {}", args.target)).into())
            }
            Ok(Err(e)) => return Err(Failure::new(BAD_INPUT, anyhow::anyhow!("swap with {peer} failed: {e}")).into()),
            Ok(Ok(o)) => o,
        };
        let envelope = match outcome {
            GiveOutcome::Mutual { envelope } => envelope,
            GiveOutcome::ReceivedOnly => {
                return Err(Failure::new(RECEIVED_ONLY, anyhow::anyhow!("{peer} received my card but gives none back (their policy)")).into())
            }
            GiveOutcome::Pending => {
                out.event(json!({"event": "pending", "peer_id": peer.to_string()}), || "They received my card; waiting for them to accept…".into());
                // Their card arrives as an event if their user accepts before the deadline.
                let wait = async {
                    while let Some(ev) = events.recv().await {
                        match ev {
                            Event::CardReceived { from, envelope } if from == peer => {
                                return Some(envelope);
                            }
                            // Someone else gave meanwhile: into the inbox, like under `up`.
                            ev @ Event::InboxItem { .. } => handle_event(&mut store, &out, me, ev),
                            _ => {}
                        }
                    }
                    None
                };
                match tokio::time::timeout(deadline.saturating_sub(started.elapsed()), wait).await {
                    Ok(Some(env)) => env,
                    _ => {
                        let _ = node.shutdown().await;
                        return Err(Failure::new(RECEIVED_ONLY, anyhow::anyhow!("{peer} received my card; they have not accepted yet")).into());
                    }
                }
            }
        };
        let outcome = store_received(&mut store, &envelope, "swap")?;
        warn_lookalikes(&store, envelope.card());
        let name = envelope.card().card().name.clone();
        let _ = node.shutdown().await;
        if let PutOutcome::Older { .. } | PutOutcome::Equivocation { .. } = outcome {
            return Err(Failure::new(BAD_INPUT, anyhow::anyhow!("the card of {} was refused: {outcome}", display_safe(&name))).into());
        }
        if args.json {
            println!("{}", json!({"event": "swapped", "peer_id": peer.to_string(), "name": name, "result": outcome.to_string()}));
        } else {
            eprintln!("Swapped cards with {}: {outcome}", display_safe(&name));
        }
        Ok(())
    })
}

pub fn nearby(home: &Home, args: NearbyArgs) -> Result<()> {
    let store = home.store()?;
    runtime()?.block_on(async move {
        // Only looking: `never` publishes no teaser and gives nothing.
        let (node, mut events, _) =
            start(home, &store, default_listen(), Policy::Never, Scope::Known, true)?;
        let wait = tokio::time::sleep(Duration::from_secs(args.wait));
        tokio::pin!(wait);
        loop {
            tokio::select! {
                _ = &mut wait => break,
                ev = events.recv() => if ev.is_none() { break },
            }
        }
        let found = node.nearby().await?;
        let _ = node.shutdown().await;
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
