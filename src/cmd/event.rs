//! `meishi event CODE --relay ADDR`: join an event through a relay, list its attendees and
//! optionally swap with all of them; `meishi event new --relay ADDR`: make an unguessable code
//! and a QR that joins the event.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::{Args, Subcommand};
use meishi_card::display_safe;
use meishi_node::{Event, GiveError, GiveOutcome, Multiaddr, PeerId, Policy, Scope};
use serde_json::json;
use tokio::task::JoinSet;

use crate::cmd::net::{
    default_listen, handle_event, runtime, start_with, store_given, store_received,
    warn_lookalikes, Attend, Out,
};
use crate::exit::{Failure, BAD_INPUT, UNREACHABLE};
use crate::home::Home;

/// Random bytes in a new code: 160 bits, 32 base32 characters.
const NEW_CODE_BYTES: usize = 20;
/// Most swaps run at once by `--swap-all` (a relay allows 16 circuits per peer).
const MAX_PARALLEL_SWAPS: usize = 8;
/// How long one swap of `--swap-all` may take.
const SWAP_TIMEOUT: Duration = Duration::from_secs(30);
/// What a join URI starts with: `meishi:event?code=<code>&relay=<percent-encoded multiaddr>`.
pub const JOIN_URI_PREFIX: &str = "meishi:event?";

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
    /// How long to look for attendees, in seconds.
    #[arg(long, default_value_t = 20)]
    pub timeout: u64,
    /// One JSON event per line on stdout.
    #[arg(long)]
    pub json: bool,
    /// Use the code even if it is easy to guess (whoever guesses it sees the attendee list).
    #[arg(long)]
    pub weak_code: bool,
}

#[derive(Subcommand, Debug)]
pub enum EventCmd {
    /// For organizers: a new unguessable event code, and a QR that joins the event.
    New {
        /// The relay attendees use, ending in /p2p/<relay id> (repeatable).
        #[arg(long, value_name = "MULTIADDR", required = true)]
        relay: Vec<Multiaddr>,
        /// Write the join QR code to this PNG file (else it is drawn in the terminal).
        #[arg(long, value_name = "FILE")]
        png: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

/// Refuses an invalid code, and a guessable one unless `weak_ok`; warns (on stderr) about a
/// code that is guessable with enough computing. proto-spec/relay.md#event-codes
fn check_code(code: &str, weak_ok: bool) -> Result<()> {
    use meishi_card::event::{code_strength, Level};
    let strength =
        code_strength(code).map_err(|e| Failure::new(BAD_INPUT, anyhow::anyhow!("{e}")))?;
    let shown = display_safe(code);
    let bits = strength.bits();
    match strength.level() {
        Level::Weak if !weak_ok => {
            return Err(Failure::new(
                BAD_INPUT,
                anyhow::anyhow!(
                    "the event code {shown:?} is easy to guess (about 2^{bits:.0} tries); use \
                     `meishi event new` for an unguessable code, or pass --weak-code to use it \
                     anyway"
                ),
            )
            .into())
        }
        Level::Weak => eprintln!(
            "warning: the event code {shown:?} is easy to guess (about 2^{bits:.0} tries): whoever \
             guesses it sees the attendee list"
        ),
        Level::Fair => eprintln!(
            "warning: the event code {shown:?} could be guessed with enough computing (about \
             2^{bits:.0} tries): whoever guesses it sees the attendee list. `meishi event new` \
             makes an unguessable code"
        ),
        Level::Good => {}
    }
    Ok(())
}

/// A fresh code: 160 random bits in base32 (RFC 4648 alphabet, lowercase), groups of four.
fn new_code() -> Result<String> {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut bytes = [0u8; NEW_CODE_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let mut chars = Vec::with_capacity(NEW_CODE_BYTES * 8 / 5);
    let (mut acc, mut bits) = (0u32, 0u32);
    for b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            chars.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
        }
    }
    let groups: Vec<String> = chars.chunks(4).map(|c| c.iter().collect()).collect();
    Ok(groups.join("-"))
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Longest join URI read (a QR code holds at most 4,296 alphanumeric characters).
const MAX_JOIN_URI: usize = 4096;
/// Most relays taken from one join URI.
const MAX_JOIN_RELAYS: usize = 8;

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Reads a join URI (`meishi:event?code=…&relay=…`): the code and the relays, each ending in
/// /p2p/<relay id>. Errors are one line naming what is wrong.
pub fn parse_join_uri(uri: &str) -> Result<(String, Vec<Multiaddr>)> {
    let bad = |why: String| Failure::new(BAD_INPUT, anyhow::anyhow!("bad event join URI: {why}"));
    if uri.len() > MAX_JOIN_URI {
        return Err(bad(format!("{} bytes, the limit is {MAX_JOIN_URI}", uri.len())).into());
    }
    let Some(query) = uri.strip_prefix(JOIN_URI_PREFIX) else {
        return Err(bad(format!("it does not start with {JOIN_URI_PREFIX}")).into());
    };
    let (mut code, mut relays) = (None, Vec::new());
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let Some(value) = percent_decode(value) else {
            return Err(bad(format!(
                "the {} value is not valid percent-encoding",
                display_safe(key)
            ))
            .into());
        };
        match key {
            "code" if code.is_none() => code = Some(value),
            "code" => return Err(bad("it has two codes".into()).into()),
            "relay" if relays.len() >= MAX_JOIN_RELAYS => {
                return Err(bad(format!("more than {MAX_JOIN_RELAYS} relays")).into())
            }
            "relay" => {
                let addr: Multiaddr = value.parse().map_err(|_| {
                    bad(format!(
                        "the relay {:?} is not a multiaddr",
                        display_safe(&value)
                    ))
                })?;
                if meishi_node::split_p2p(&addr).is_none() {
                    return Err(
                        bad(format!("the relay {addr} does not end in /p2p/<relay id>")).into(),
                    );
                }
                relays.push(addr);
            }
            // Later versions may add parameters: ignore what this one does not know.
            _ => {}
        }
    }
    let Some(code) = code else {
        return Err(bad("it has no code".into()).into());
    };
    if let Err(e) = meishi_card::event::normalize(&code) {
        return Err(bad(e.to_string()).into());
    }
    if relays.is_empty() {
        return Err(bad("it names no relay".into()).into());
    }
    Ok((code, relays))
}

/// The URI a join QR carries.
pub fn join_uri(code: &str, relays: &[Multiaddr]) -> String {
    let mut uri = format!("{JOIN_URI_PREFIX}code={}", percent_encode(code));
    for r in relays {
        uri.push_str("&relay=");
        uri.push_str(&percent_encode(&r.to_string()));
    }
    uri
}

pub fn event(home: &Home, args: EventArgs) -> Result<()> {
    if let Some(EventCmd::New { relay, png, json }) = args.cmd {
        return new(&relay, png, json);
    }
    let Some(code) = args.code else {
        return Err(Failure::new(
            BAD_INPUT,
            anyhow::anyhow!("give the event code: `meishi event CODE --relay ADDR`"),
        )
        .into());
    };
    let (mut codes, relays) = codes_and_relays(vec![code], args.relay, args.weak_code)?;
    let code = codes.pop().unwrap_or_default();
    let policy: Policy = match args.accept.as_deref() {
        Some(p) => p.parse().map_err(|e| anyhow::anyhow!("{e}"))?,
        None if args.swap_all => Policy::Auto,
        None => Policy::Ask,
    };
    join(
        home,
        code,
        relays,
        args.swap_all,
        policy,
        args.timeout,
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
) -> Result<(Vec<String>, Vec<Multiaddr>)> {
    let mut codes = Vec::with_capacity(given.len());
    for code in given {
        // A join URI (from `meishi event new` or a scanned badge) carries the relays itself.
        let code = if code.starts_with("meishi:") {
            let (code, theirs) = parse_join_uri(&code)?;
            for r in theirs {
                if !relays.contains(&r) {
                    relays.push(r);
                }
            }
            code
        } else {
            code
        };
        check_code(&code, weak_ok)?;
        codes.push(code);
    }
    if !codes.is_empty() && relays.is_empty() {
        return Err(Failure::new(
            BAD_INPUT,
            anyhow::anyhow!("an event needs its relay: add `--relay ADDR`, or give the join URI"),
        )
        .into());
    }
    Ok((codes, relays))
}

fn new(relays: &[Multiaddr], png: Option<PathBuf>, json: bool) -> Result<()> {
    for r in relays {
        if meishi_node::split_p2p(r).is_none() {
            return Err(Failure::new(
                BAD_INPUT,
                anyhow::anyhow!("the relay address {r} does not end in /p2p/<relay id>"),
            )
            .into());
        }
    }
    let code = new_code()?;
    let uri = join_uri(&code, relays);
    let relay_args: Vec<String> = relays.iter().map(|r| format!("--relay {r}")).collect();
    let join = format!("meishi event {code} {}", relay_args.join(" "));
    let ecc = meishi_qr::Ecc::default();
    if let Some(p) = &png {
        let bytes = meishi_qr::render_png(&uri, ecc, 8)?;
        crate::home::write_private(p, &bytes)?;
    }
    if json {
        let relays: Vec<String> = relays.iter().map(|r| r.to_string()).collect();
        println!(
            "{}",
            json!({"code": code, "relays": relays, "join": join, "uri": uri, "png": png.as_ref().map(|p| p.display().to_string())})
        );
    } else {
        println!("Event code: {code}");
        for r in relays {
            println!("Relay:      {r}");
        }
        println!("Join with:  {join}");
        println!("Join URI:   {uri}");
        match &png {
            Some(p) => println!("QR code written to {}", p.display()),
            None => print!("{}", meishi_qr::render_terminal(&uri, ecc)?),
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

fn join(
    home: &Home,
    code: String,
    relays: Vec<Multiaddr>,
    swap_all: bool,
    policy: Policy,
    timeout: u64,
    json: bool,
) -> Result<()> {
    if !home.is_initialized() {
        return Err(Failure::new(
            BAD_INPUT,
            anyhow::anyhow!("no card yet: run `meishi init --name \"Your Name\"` first"),
        )
        .into());
    }
    let mut store = home.store()?;
    let out = Out { json };
    let attend = Attend {
        relays,
        events: vec![code],
        poll: Some(Duration::from_secs(1)),
    };
    runtime()?.block_on(async move {
        // Reachable through the relay by anyone who learns my peer id: answer only attendees
        // and contacts (proto-spec/exchange.md#consent).
        let (node, mut events, _card) = start_with(
            home,
            &store,
            default_listen(),
            policy,
            Scope::Known,
            false,
            attend,
        )?;
        let me = node.peer_id();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout.max(1));
        let mut found: Vec<PeerId> = Vec::new();
        // Attendees' names (from their teasers, made safe to print) for the human messages.
        let mut names: HashMap<PeerId, String> = HashMap::new();
        let name_of = |names: &HashMap<PeerId, String>, p: &PeerId| {
            names.get(p).cloned().unwrap_or_else(|| p.to_string())
        };
        let mut queue: Vec<(PeerId, Vec<Multiaddr>)> = Vec::new();
        let mut swaps: JoinSet<SwapResult> = JoinSet::new();
        let (mut swapped, mut failed) = (0usize, 0usize);
        loop {
            while swap_all && swaps.len() < MAX_PARALLEL_SWAPS && !queue.is_empty() {
                let (peer, addrs) = queue.remove(0);
                let n = node.clone();
                swaps.spawn(async move {
                    (peer, tokio::time::timeout(SWAP_TIMEOUT, n.give(peer, addrs)).await)
                });
            }
            let looking = tokio::time::Instant::now() < deadline;
            if !looking && swaps.is_empty() && queue.is_empty() {
                break;
            }
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                _ = tokio::time::sleep_until(deadline), if looking => {}
                ev = events.recv() => {
                    let Some(ev) = ev else { break };
                    match ev {
                        Event::AttendeeDiscovered { peer, ref addrs, ref teaser, .. } => {
                            names.insert(peer, display_safe(teaser.name()));
                            if !found.contains(&peer) {
                                found.push(peer);
                                if swap_all {
                                    queue.push((peer, addrs.clone()));
                                }
                            }
                            handle_event(&mut store, &out, me, ev);
                        }
                        Event::CardReceived { from, envelope } => {
                            let name = display_safe(&envelope.card().card().name);
                            match store_received(&mut store, &envelope, "event") {
                                Ok(o) => {
                                    out.event(
                                        json!({"event": "card_received", "peer_id": from.to_string(), "name": envelope.card().card().name, "result": o.to_string()}),
                                        || format!("Received the card of {name}: {o}"),
                                    );
                                    warn_lookalikes(&store, envelope.card());
                                }
                                Err(e) => out.event(json!({"event": "error", "peer_id": from.to_string(), "error": format!("{e:#}")}),
                                    || format!("Could not store the card of {name}: {e:#}")),
                            }
                        }
                        Event::CardGiven { to, envelope } => {
                            store_given(&store, &envelope, "event");
                            out.event(json!({"event": "card_given", "peer_id": to.to_string()}),
                                || format!("Gave my card to {}", name_of(&names, &to)));
                        }
                        Event::Listening { .. } => {}
                        other => handle_event(&mut store, &out, me, other),
                    }
                }
                Some(done) = swaps.join_next(), if !swaps.is_empty() => {
                    let Ok((peer, result)) = done else { continue };
                    match result {
                        Ok(Ok(outcome)) => {
                            swapped += 1;
                            let kind = match outcome {
                                GiveOutcome::Mutual { .. } => "mutual",
                                GiveOutcome::ReceivedOnly => "received_only",
                                GiveOutcome::Pending => "pending",
                            };
                            out.event(json!({"event": "swapped", "peer_id": peer.to_string(), "outcome": kind}),
                                || format!("Swap with {}: {kind}", name_of(&names, &peer)));
                        }
                        Ok(Err(e)) => {
                            failed += 1;
                            out.event(json!({"event": "swap_failed", "peer_id": peer.to_string(), "error": e.to_string()}),
                                || format!("Swap with {} failed: {e}", name_of(&names, &peer)));
                        }
                        Err(_) => {
                            failed += 1;
                            out.event(json!({"event": "swap_failed", "peer_id": peer.to_string(), "error": "timed out"}),
                                || format!("Swap with {} timed out", name_of(&names, &peer)));
                        }
                    }
                }
            }
        }
        let _ = node.shutdown().await;
        out.event(
            json!({"event": "summary", "attendees": found.len(), "swapped": swapped, "failed": failed}),
            || format!("{} attendee(s) found, {swapped} swap(s) completed, {failed} failed", found.len()),
        );
        if swap_all && swapped == 0 {
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
    fn new_codes_are_long_distinct_and_valid() {
        let a = new_code().unwrap();
        let b = new_code().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 32 + 7, "{a}");
        let n = meishi_card::event::normalize(&a).unwrap();
        assert_eq!(n.len(), 32);
        for _ in 0..50 {
            let code = new_code().unwrap();
            let s = meishi_card::event::code_strength(&code).unwrap();
            assert_eq!(s.level(), meishi_card::event::Level::Good, "{code}");
            check_code(&code, false).unwrap();
        }
    }

    #[test]
    fn join_uris_round_trip_and_bad_ones_are_refused() {
        let r: Multiaddr =
            "/ip4/203.0.113.7/tcp/4001/p2p/12D3KooWBHkR6nGT5KH3Xow9voA2aSQ67423yzWZCVbruRadyybt"
                .parse()
                .unwrap();
        let code = new_code().unwrap();
        let uri = join_uri(&code, std::slice::from_ref(&r));
        assert_eq!(
            parse_join_uri(&uri).unwrap(),
            (code.clone(), vec![r.clone()])
        );
        // Unknown parameters are ignored.
        let later = format!("{uri}&theme=dark");
        assert_eq!(parse_join_uri(&later).unwrap().0, code);
        for bad in [
            "meishi:event?relay=%2Fip4%2F203.0.113.7%2Ftcp%2F4001".to_owned(),
            format!("meishi:event?code={code}"),
            format!("meishi:event?code={code}&relay=%2Fip4%2F203.0.113.7%2Ftcp%2F4001"),
            format!("meishi:event?code={code}&relay=%ZZ"),
            format!("meishi:event?code={code}&relay=not-an-address"),
            format!(
                "meishi:event?code=a&code=b&relay={}",
                percent_encode(&r.to_string())
            ),
            format!("https://example.org/?code={code}"),
            format!("{uri}{}", "&x=1".repeat(2000)),
        ] {
            let e = parse_join_uri(&bad).unwrap_err().to_string();
            assert!(e.starts_with("bad event join URI: "), "{bad}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn join_uri_escapes_the_relay() {
        let r: Multiaddr = "/ip4/203.0.113.7/tcp/4001".parse().unwrap();
        assert_eq!(
            join_uri("ab-cd", &[r]),
            "meishi:event?code=ab-cd&relay=%2Fip4%2F203.0.113.7%2Ftcp%2F4001"
        );
    }
}
