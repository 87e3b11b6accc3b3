//! `meishi event CODE --relay ADDR`: join an event through a relay, list its attendees and
//! optionally swap with all of them; `meishi event new --relay ADDR`: make an unguessable code
//! and a QR that joins the event.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::{Args, Subcommand};
use meishi_card::display_safe;
use meishi_event::JoinTicket;
use meishi_node::{Event, GiveError, GiveOutcome, Multiaddr, PeerId, Policy, Scope};
use meishi_store::Via;
use serde_json::json;
use tokio::task::JoinSet;

use crate::cmd::net::{default_listen, runtime, start, Out};
use crate::exit::{Failure, BAD_INPUT, UNREACHABLE, USAGE};
use crate::home::Home;

/// Most swaps run at once by `--swap-all` (a relay allows 16 circuits per peer).
const MAX_PARALLEL_SWAPS: usize = 8;
/// How long one swap of `--swap-all` may take.
const SWAP_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct EventArgs {
    #[command(subcommand)]
    pub cmd: Option<EventCmd>,
    /// The event code (from the organizer's screen or badge), or the whole join URI
    /// (`meishi:event?code=…&relay=…`, which names the relay itself).
    pub code: Option<String>,
    /// The event's relay, ending in /p2p/<relay id> (repeatable).
    #[arg(long, value_name = "MULTIADDR")]
    pub relay: Vec<Multiaddr>,
    /// Give my card to every attendee found and collect theirs (as their policies allow).
    #[arg(long)]
    pub swap_all: bool,
    /// Whether to give my card back to attendees who give me theirs while this runs
    /// [default: ask, or auto with --swap-all]. `auto` answers only attendees seen on the
    /// event's board and contacts; anyone else waits in the inbox.
    #[arg(long, value_parser = ["auto", "ask", "never"])]
    pub accept: Option<String>,
    /// Give up after this many seconds [default: 20, or none with --follow]. Without
    /// --follow the command ends as soon as the board is read and every swap is done.
    #[arg(long)]
    pub timeout: Option<u64>,
    /// Keep running after the board is read (new attendees are shown and, with --swap-all,
    /// swapped with) until Ctrl-C or --timeout.
    #[arg(long)]
    pub follow: bool,
    /// One JSON event per line on stdout.
    #[arg(long)]
    pub json: bool,
    /// What my envelopes call this event ("RustConf 2026"): the people I swap with see it in
    /// where we met [default: the name in the join URI]. Never the code.
    #[arg(long, value_name = "NAME")]
    pub label: Option<String>,
    /// Use the code even if it is easy to guess (whoever guesses it sees the attendee list).
    #[arg(long)]
    pub weak_code: bool,
}

#[derive(Subcommand, Debug)]
pub enum EventCmd {
    /// For organizers: a new unguessable event code, and a QR that joins the event.
    New {
        /// The event's name ("RustConf 2026"), carried in the join URI: meetings at the event
        /// are recorded under it.
        #[arg(long)]
        name: Option<String>,
        /// The relay attendees use, ending in /p2p/<relay id> (repeatable).
        #[arg(long, value_name = "MULTIADDR", required = true)]
        relay: Vec<Multiaddr>,
        /// The relays are one fleet (each runs with the others as `--peer`): attendees post
        /// their teasers only to their two home relays, and the fleet copies them to the rest.
        #[arg(long)]
        fleet: bool,
        /// Write the join QR code to this PNG file (else it is drawn in the terminal).
        #[arg(long, value_name = "FILE")]
        png: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

/// Checks a code (meishi_app::join): a typo or a guessable code is a usage error; a warning
/// about a code that could be guessed goes to stderr.
fn check_code(code: &str, weak_ok: bool) -> Result<()> {
    use meishi_app::join::JoinError;
    match meishi_app::join::check_code(code, weak_ok) {
        Ok(Some(warning)) => {
            eprintln!("warning: {warning}");
            Ok(())
        }
        Ok(None) => Ok(()),
        Err(e @ JoinError::BadCode(_)) => Err(Failure::new(BAD_INPUT, e.into()).into()),
        Err(e) => Err(Failure::new(USAGE, e.into()).into()),
    }
}

/// A fresh unguessable code from the system's randomness (proto-spec/relay.md#join-uri).
fn new_code() -> Result<String> {
    let mut random = [0u8; meishi_event::NEW_CODE_BYTES];
    getrandom::fill(&mut random).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(meishi_event::new_code(&random))
}

/// Reads a join URI (`meishi:event?code=…&relay=…`) into its code and relays. The error is one
/// line naming what is wrong, with the bad-input exit code.
pub fn parse_join_uri(uri: &str) -> Result<(String, Vec<Multiaddr>, Option<String>)> {
    meishi_app::join::parse_join_uri(uri).map_err(|e| Failure::new(BAD_INPUT, e.into()).into())
}

/// Checks an event name given with `--label` or `event new --name`.
pub(crate) fn check_label(label: &str) -> Result<()> {
    meishi_app::join::check_label(label).map_err(|e| Failure::new(USAGE, e.into()).into())
}

pub fn event(home: &Home, args: EventArgs) -> Result<()> {
    if let Some(EventCmd::New {
        name,
        relay,
        fleet,
        png,
        json,
    }) = args.cmd
    {
        return new(name, &relay, fleet, png, json);
    }
    let Some(code) = args.code else {
        return Err(Failure::new(
            USAGE,
            anyhow::anyhow!("give the event code: `meishi event CODE --relay ADDR`"),
        )
        .into());
    };
    let (mut codes, relays, label) =
        codes_and_relays(vec![code], args.relay, args.weak_code, args.label)?;
    let code = codes.pop().unwrap_or_default();
    let policy: Policy = match args.accept.as_deref() {
        Some(p) => p.parse().map_err(|e| anyhow::anyhow!("{e}"))?,
        None if args.swap_all => Policy::Auto,
        None => Policy::Ask,
    };
    let timeout = match (args.timeout, args.follow) {
        (Some(t), _) => Some(t.max(1)),
        (None, false) => Some(20),
        (None, true) => None,
    };
    let until = Until {
        deadline: timeout.map(|t| tokio::time::Instant::now() + Duration::from_secs(t)),
        follow: args.follow,
    };
    join(
        home,
        code,
        relays,
        label,
        args.swap_all,
        policy,
        until,
        args.json,
    )
}

/// The event codes and relays to use from what was typed: each code may be a join URI, whose
/// relays are added to `relays`. Checks every code (refusing guessable ones unless `weak_ok`,
/// the `--weak-code` flag, and warning about the merely fair ones) and that there is a relay
/// when there is a code.
pub(crate) fn codes_and_relays(
    given: Vec<String>,
    mut relays: Vec<Multiaddr>,
    weak_ok: bool,
    mut label: Option<String>,
) -> Result<(Vec<String>, Vec<Multiaddr>, Option<String>)> {
    if let Some(l) = &label {
        check_label(l)?;
    }
    let mut codes = Vec::with_capacity(given.len());
    for code in given {
        // A join URI (from `meishi event new` or a scanned badge) carries the relays itself,
        // and the event's name.
        let (inner, input) = if code.starts_with("meishi:") {
            let (inner, theirs, name) = parse_join_uri(&code)?;
            if label.is_none() {
                label = name;
            }
            for r in theirs {
                if !relays.contains(&r) {
                    relays.push(r);
                }
            }
            (inner, code)
        } else {
            (code.clone(), code)
        };
        check_code(&inner, weak_ok)?;
        codes.push(meishi_app::join::node_code(&input, inner));
    }
    // The node's transports dial IP addresses only: a DNS name would be accepted here and then
    // never work.
    meishi_app::join::check_relays(&relays).map_err(|e| Failure::new(USAGE, e.into()))?;
    if !codes.is_empty() && relays.is_empty() {
        return Err(Failure::new(
            USAGE,
            anyhow::anyhow!("an event needs its relay: add `--relay ADDR`, or give the join URI"),
        )
        .into());
    }
    Ok((codes, relays, label))
}

/// `meishi event CODE` beside a running `meishi up`: asks it to join (control socket).
async fn join_beside_up(
    home: &Home,
    code: String,
    relays: Vec<Multiaddr>,
    label: Option<String>,
    json: bool,
) -> Result<()> {
    use meishi_app::control::{Done, Request};
    let mut done = Done::Ok { card: None };
    // The node derives the event key once; each further relay is one more request.
    let targets: Vec<Option<String>> = if relays.is_empty() {
        vec![None]
    } else {
        relays.iter().map(|r| Some(r.to_string())).collect()
    };
    for relay in targets {
        let stream = meishi_app::control::connect(home.dir())
            .await
            .ok_or_else(|| anyhow::anyhow!("the running `meishi up` stopped"))?;
        let request = Request::Join {
            code: code.clone(),
            relay,
            label: label.clone(),
        };
        done = meishi_app::control::call(stream, &request, |_| {}).await?;
        if !matches!(done, Done::Ok { .. }) {
            break;
        }
    }
    match done {
        Done::Ok { .. } => {
            if json {
                println!("{}", json!({"event": "joined_through_up"}));
            } else {
                eprintln!("Joined the event through the running `meishi up`: attendees appear in its output and in its web app (`meishi ui`); swap with one: meishi swap NAME");
            }
            Ok(())
        }
        Done::Failed { error }
        | Done::Unreachable { error }
        | Done::NotFound { error }
        | Done::ReceivedOnly { error } => Err(Failure::new(
            crate::exit::FAILURE,
            anyhow::anyhow!("the running `meishi up` could not join the event: {error}"),
        )
        .into()),
    }
}

fn new(
    name: Option<String>,
    relays: &[Multiaddr],
    fleet: bool,
    png: Option<PathBuf>,
    json: bool,
) -> Result<()> {
    if let Some(n) = &name {
        check_label(n)?;
    }
    for r in relays {
        if meishi_node::split_p2p(r).is_none() {
            return Err(Failure::new(
                USAGE,
                anyhow::anyhow!("the relay address {r} does not end in /p2p/<relay id>"),
            )
            .into());
        }
    }
    let code = new_code()?;
    let mut ticket = JoinTicket::new(code.clone(), relays.to_vec())
        .map_err(|e| Failure::new(BAD_INPUT, anyhow::anyhow!("cannot make the join URI: {e}")))?;
    let bad_uri = |e| Failure::new(BAD_INPUT, anyhow::anyhow!("cannot make the join URI: {e}"));
    if fleet {
        ticket = ticket.with_fleet().map_err(bad_uri)?;
    }
    if let Some(n) = &name {
        ticket = ticket.with_name(n.clone()).map_err(bad_uri)?;
    }
    let uri = ticket.to_string();
    let relay_args: Vec<String> = relays.iter().map(|r| format!("--relay {r}")).collect();
    // A fleet is said only in the URI (its characters need no more than single quotes).
    let join = if fleet {
        format!("meishi event '{uri}'")
    } else {
        format!("meishi event {code} {}", relay_args.join(" "))
    };
    let ecc = meishi_qr::Ecc::default();
    if let Some(p) = &png {
        let title = name
            .as_deref()
            .map(display_safe)
            .filter(|n| meishi_qr::caption_drawable(n));
        let lines: Vec<&str> = title
            .as_deref()
            .into_iter()
            .chain([code.as_str(), "scan with meishi to join"])
            .collect();
        let bytes = meishi_qr::render_png_captioned(&uri, ecc, 8, &lines)?;
        crate::home::write_private(p, &bytes)?;
    }
    if json {
        let relays: Vec<String> = relays.iter().map(|r| r.to_string()).collect();
        println!(
            "{}",
            json!({"name": name, "code": code, "relays": relays, "fleet": fleet, "join": join, "uri": uri, "png": png.as_ref().map(|p| p.display().to_string())})
        );
    } else {
        if let Some(n) = &name {
            println!("Event:      {}", display_safe(n));
        }
        println!("Event code: {code}");
        for r in relays {
            println!("Relay:      {r}");
        }
        println!("Join with:  {join}");
        println!("Join URI:   {uri}");
        match &png {
            Some(p) => println!("QR code written to {}", p.display()),
            None => print!(
                "{}",
                crate::cmd::qr::terminal_qr(&uri, ecc, "meishi event new --png FILE")?
            ),
        }
        eprintln!("Keep the code among attendees: whoever has it sees the attendee list.");
    }
    Ok(())
}

/// What one `--swap-all` give ended with.
type SwapResult = (
    PeerId,
    Result<Result<GiveOutcome, GiveError>, tokio::time::error::Elapsed>,
);

/// How long `meishi event` waits after its last activity once it is done (the board read to
/// its end, every swap finished) before it exits.
const GRACE: Duration = Duration::from_secs(1);

/// How a join run ends.
struct Until {
    /// Stop at this time at the latest (`None`: only Ctrl-C).
    deadline: Option<tokio::time::Instant>,
    /// Keep running when done (`--follow`).
    follow: bool,
}

#[allow(
    clippy::too_many_arguments,
    reason = "one call site, each argument a flag"
)]
fn join(
    home: &Home,
    code: String,
    relays: Vec<Multiaddr>,
    label: Option<String>,
    swap_all: bool,
    policy: Policy,
    until: Until,
    json: bool,
) -> Result<()> {
    if !home.is_initialized() {
        return Err(Failure::new(
            BAD_INPUT,
            anyhow::anyhow!("no card yet: run `meishi init --name \"Your Name\"` first"),
        )
        .into());
    }
    if std::os::unix::net::UnixStream::connect(meishi_app::control::socket_path(home.dir())).is_ok()
    {
        // One node per person: the running `up` joins the event; its output and its web app
        // show the attendees, and `meishi swap NAME` reaches them through it.
        if swap_all || until.follow {
            return Err(Failure::new(
                crate::exit::FAILURE,
                anyhow::anyhow!("`meishi up` is running on this home, and `meishi event --swap-all/--follow` would start a second node with your key. Run `meishi event CODE` without them to join from the running node, then swap from its web app (`meishi ui`) or with `meishi swap NAME`"),
            )
            .into());
        }
        return runtime()?.block_on(join_beside_up(home, code, relays, label, json));
    }
    let out = Out { json, stamp: false };
    let relay_count = relays.len();
    let progress = !json && std::io::stderr().is_terminal();
    if !json {
        eprintln!("Connecting to the relay…");
    }
    runtime()?.block_on(async move {
        // Reachable through the relay by anyone who learns my peer id: answer only attendees
        // and contacts (proto-spec/exchange.md#consent).
        let mut options = meishi_app::Options::new(default_listen(), policy, Scope::Known);
        options.relays = relays;
        options.event_codes = vec![code];
        options.poll = Some(Duration::from_secs(1));
        options.label = label;
        options.via = Via::Event;
        let mut app = start(home, options)?;
        if !json && app.store().teaser()? == meishi_store::TeaserChoice::Off && policy != Policy::Never {
            eprintln!("Your teaser is off: attendees do not see you on the board, so their nodes hold your card for their decision instead of swapping at once. `meishi card edit --teaser name` shows your name.");
        }
        let mut found: Vec<PeerId> = Vec::new();
        let mut queue: Vec<(PeerId, Vec<Multiaddr>)> = Vec::new();
        let mut swaps: JoinSet<SwapResult> = JoinSet::new();
        let (mut swapped, mut waiting, mut failed) = (0usize, 0usize, 0usize);
        // Done once the board was read to its end (after my own slot on the relay is reserved,
        // so my teaser is posted) and every swap started has finished.
        let (mut caught_up, mut reserved) = (false, false);
        // Relays that could not be reached before any reservation: all of them is an error.
        let mut unreachable: Vec<(PeerId, String)> = Vec::new();
        // The last dial lost on the network (not a wrong address): tried again until the end.
        let mut lost: Option<(PeerId, String)> = None;
        let mut last_activity = tokio::time::Instant::now();
        let mut ticker = tokio::time::interval(Duration::from_millis(250));
        loop {
            while swap_all && swaps.len() < MAX_PARALLEL_SWAPS && !queue.is_empty() {
                let (peer, addrs) = queue.remove(0);
                let n = app.node().clone();
                swaps.spawn(async move {
                    (peer, tokio::time::timeout(SWAP_TIMEOUT, n.give(peer, addrs)).await)
                });
            }
            let now = tokio::time::Instant::now();
            let done = caught_up && reserved && queue.is_empty() && swaps.is_empty();
            if (done && !until.follow && now >= last_activity + GRACE)
                || until.deadline.is_some_and(|d| now >= d)
            {
                break;
            }
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                _ = ticker.tick() => {
                    if progress {
                        eprint!("\r{} attendee(s), {swapped} swapped, {} to go   ", found.len(), queue.len() + swaps.len());
                    }
                }
                ev = app.next_event() => {
                    let Some(ev) = ev else { break };
                    last_activity = tokio::time::Instant::now();
                    match &ev {
                        Event::AttendeeDiscovered { peer, addrs, .. } if !found.contains(peer) => {
                            found.push(*peer);
                            if swap_all {
                                queue.push((*peer, addrs.clone()));
                            }
                        }
                        Event::BoardRead { .. } => caught_up = true,
                        Event::Reserved { .. } => reserved = true,
                        // A wrong address fails at once; a dial lost on a bad network is tried
                        // again by the node until the run's deadline.
                        Event::RelayUnreachable { relay, error, definite: false } if !reserved => {
                            lost = Some((*relay, error.clone()));
                        }
                        Event::RelayUnreachable { relay, error, definite: true } if !reserved && !until.follow => {
                            if !unreachable.iter().any(|(r, _)| r == relay) {
                                unreachable.push((*relay, error.clone()));
                            }
                            if unreachable.len() >= relay_count {
                                app.shutdown().await;
                                let (r, e) = &unreachable[0];
                                return Err(Failure::new(UNREACHABLE, anyhow::anyhow!(
                                    "cannot reach the relay {r}: {e}. Check the relay address (host, port and /p2p id) and that the relay runs"
                                )).into());
                            }
                        }
                        _ => {}
                    }
                    if progress {
                        eprint!("\r\x1b[K");
                    }
                    let reports: Vec<_> = app
                        .apply(&ev)
                        .into_iter()
                        .filter(|r| !matches!(r, meishi_app::Report::Listening { .. }))
                        .collect();
                    out.reports(app.store(), &reports);
                }
                Some(done) = swaps.join_next(), if !swaps.is_empty() => {
                    last_activity = tokio::time::Instant::now();
                    let Ok((peer, result)) = done else { continue };
                    let name = Some(app.name_of(&peer));
                    let report = match result {
                        Ok(Ok(outcome)) => {
                            if matches!(outcome, GiveOutcome::Mutual { .. }) {
                                swapped += 1;
                            } else {
                                waiting += 1;
                            }
                            let kind = match outcome {
                                GiveOutcome::Mutual { .. } => "mutual",
                                GiveOutcome::ReceivedOnly => "received_only",
                                GiveOutcome::Pending => "pending",
                            };
                            meishi_app::Report::Swapped { peer_id: peer.to_string(), outcome: Some(kind.into()), name, result: None }
                        }
                        Ok(Err(e)) => {
                            failed += 1;
                            meishi_app::Report::SwapFailed { peer_id: peer.to_string(), error: e.to_string(), name }
                        }
                        Err(_) => {
                            failed += 1;
                            meishi_app::Report::SwapFailed { peer_id: peer.to_string(), error: "timed out".into(), name }
                        }
                    };
                    if progress {
                        eprint!("\r\x1b[K");
                    }
                    out.report(&report);
                }
            }
        }
        if progress {
            eprint!("\r\x1b[K");
        }
        app.shutdown().await;
        if let (false, Some((r, e))) = (reserved, &lost) {
            return Err(Failure::new(UNREACHABLE, anyhow::anyhow!(
                "cannot reach the relay {r} (tried until the end of the run): {e}. Check the network, the relay address, and that the relay runs"
            )).into());
        }
        out.report(&meishi_app::Report::Summary { attendees: found.len(), swapped, waiting, failed });
        if !json && !swap_all && !found.is_empty() {
            eprintln!("Next: run this again with --swap-all to swap cards with them, or `meishi up` with the same --event and --relay to stay visible while you walk around.");
        }
        if swap_all && swapped + waiting == 0 {
            return Err(Failure::new(UNREACHABLE, anyhow::anyhow!("no swap completed (found {} attendee(s))", found.len())).into());
        }
        Ok(())
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test fails by panicking")]
mod tests {
    use super::*;

    #[test]
    fn new_codes_are_distinct_and_pass_the_check() {
        let a = new_code().unwrap();
        assert_ne!(a, new_code().unwrap());
        for _ in 0..50 {
            check_code(&new_code().unwrap(), false).unwrap();
        }
    }

    #[test]
    fn bad_join_uris_are_one_line_bad_input() {
        let r =
            "/ip4/203.0.113.7/tcp/4001/p2p/12D3KooWBHkR6nGT5KH3Xow9voA2aSQ67423yzWZCVbruRadyybt";
        let (code, relays, _) =
            parse_join_uri(&format!("meishi:event?code=ab-cd&relay={r}")).unwrap();
        assert_eq!(
            (code.as_str(), relays[0].to_string().as_str()),
            ("ab-cd", r)
        );
        for bad in [
            "meishi:event?code=abcd".to_owned(),
            "meishi:event?code=abcd&relay=%ZZ".to_owned(),
            // Control and bidi characters from the URI do not reach the terminal.
            "meishi:event?code=abcd&relay=%E2%80%AEx%0Ay".to_owned(),
            format!("https://example.org/?code=abcd&relay={r}"),
        ] {
            let e = parse_join_uri(&bad).unwrap_err();
            let msg = e.to_string();
            assert!(msg.starts_with("bad event join URI: "), "{bad}: {msg}");
            assert!(!msg.contains('\n') && !msg.contains('\u{202e}'), "{msg:?}");
            assert_eq!(e.downcast_ref::<Failure>().map(|f| f.code), Some(BAD_INPUT));
        }
    }
}
