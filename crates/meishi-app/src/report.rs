//! What the application layer reports: one value per line a front end shows. `--json` prints
//! the value as one JSON object (its `event` field names the variant); the human line comes from
//! [`Report::human`], from the same value, so the two cannot drift.

use std::fmt::Write as _;

use meishi_card::display_safe;
use serde::{Deserialize, Serialize};

/// A teaser as reported: the name and headline a peer chose to show (card text, unsafe to
/// print raw).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeaserReport {
    pub name: String,
    pub headline: Option<String>,
}

/// One line of a front end's output. Field values that come from other people's cards are
/// attacker-controlled: [`Report::human`] makes them safe; JSON escapes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Report {
    /// The node listens at `addr` (ending in `/p2p/<my peer id>`).
    Listening { addr: String },
    /// A peer on the local network, with its teaser if it shows one.
    PeerDiscovered {
        peer_id: String,
        teaser: Option<TeaserReport>,
    },
    /// A peer on the local network left.
    PeerExpired { peer_id: String },
    /// A card was received and stored; `result` says how the book changed. `label` is the
    /// event the giver named in its envelope (its own words, not an event code).
    CardReceived {
        peer_id: String,
        name: String,
        result: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        label: Option<String>,
        /// Other contacts with this name under other keys.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        lookalikes: Vec<i64>,
    },
    /// My card was given (`inbox_id`: as the answer to an accepted inbox item).
    CardGiven {
        peer_id: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        inbox_id: Option<i64>,
        #[serde(skip_serializing, default)]
        name: Option<String>,
    },
    /// A give waits in the inbox for my decision.
    Inbox {
        inbox_id: i64,
        peer_id: String,
        name: String,
    },
    /// A peer's request was refused.
    Refused { peer_id: String, reason: String },
    /// My edited card is given from now on.
    CardUpdated { seq: u64 },
    /// My card (seq `seq`) is in my slot on `relays` relays: contacts pick it up when they
    /// come online.
    Published { seq: u64, relays: usize },
    /// A relay that keeps my slot or my contacts' slots could not be used this time.
    UpdateFailed { relay: String, error: String },
    /// A contact's edited card reached me while we were not online together.
    ContactUpdated { name: String, seq: u64 },
    /// I asked `b` whether they want to meet `a` (introduction `intro_id`).
    IntroSent { intro_id: i64, a: String, b: String },
    /// `by` asks whether I want to meet `name`: `meishi intros accept|decline ID`.
    IntroAsked {
        intro_id: i64,
        by: String,
        name: String,
        headline: Option<String>,
        note: Option<String>,
    },
    /// I answered an introduction (to the introducer alone).
    IntroAnswered {
        intro_id: i64,
        accepted: bool,
        name: String,
        by: String,
    },
    /// An introduction I made moved on: `state` is `asking_a` (B accepted), `done`, `declined`
    /// or `aborted`.
    IntroStep {
        intro_id: i64,
        state: String,
        a: String,
        b: String,
    },
    /// Both accepted: `name`'s card is in my book, introduced by `by`, not met in person.
    Introduced { name: String, by: String },
    /// Contacts were told where my next cards are (a new slot after a revoke, or new relays).
    LinksSent { contacts: usize, failed: usize },
    /// An attendee of a joined event, found on the relay's board.
    Attendee {
        peer_id: String,
        name: String,
        headline: Option<String>,
        addrs: Vec<String>,
    },
    /// A joined event's board on `relay` was read to its end for the first time: `attendees`
    /// were found so far (more are reported as they join).
    Joined { relay: String, attendees: usize },
    /// The local web app listens: `link` opens it (it carries this run's access token).
    WebApp { link: String },
    /// A relay holds a slot for me: people reach me at `addr`.
    Reserved { relay: String, addr: String },
    /// A relay could not be reached; the node tries again.
    RelayUnreachable { relay: String, error: String },
    /// The connection to a relay dropped; the node reconnects by itself.
    RelayDisconnected { relay: String },
    /// Hole punching made a relayed connection direct.
    Direct {
        peer_id: String,
        #[serde(skip_serializing, default)]
        name: Option<String>,
    },
    /// Hole punching failed; the connection stays relayed.
    HolePunchFailed {
        peer_id: String,
        #[serde(skip_serializing, default)]
        name: Option<String>,
    },
    /// My card waits in their inbox.
    Pending { peer_id: String },
    /// A swap I started finished. `outcome`: `mutual`, `received_only` or `pending` (from
    /// `event --swap-all`); `name` and `result` when their card was stored (`swap`).
    Swapped {
        peer_id: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        outcome: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        result: Option<String>,
    },
    /// A swap I started failed.
    SwapFailed {
        peer_id: String,
        error: String,
        #[serde(skip_serializing, default)]
        name: Option<String>,
    },
    /// `event`: what the run found and did.
    Summary {
        attendees: usize,
        /// Swaps where both cards were exchanged.
        swapped: usize,
        /// They have my card; theirs waits for their decision (or their policy gives none).
        #[serde(default)]
        waiting: usize,
        failed: usize,
    },
    /// Something went wrong with one peer or item; the run goes on.
    Error {
        #[serde(skip_serializing_if = "Option::is_none")]
        peer_id: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        inbox_id: Option<i64>,
        error: String,
    },
}

fn headline(h: &Option<String>) -> String {
    h.as_deref()
        .map(|h| format!(" — {}", display_safe(h)))
        .unwrap_or_default()
}

fn who(name: &Option<String>, peer: &str) -> String {
    name.as_deref()
        .map(display_safe)
        .unwrap_or_else(|| peer.to_owned())
}

impl Report {
    /// The line a person reads (stderr): card text made safe to print.
    pub fn human(&self) -> String {
        match self {
            Self::Listening { addr } => format!("Listening on {addr}"),
            Self::PeerDiscovered { peer_id, teaser } => match teaser {
                Some(t) => format!(
                    "Nearby: {}{}  {peer_id}",
                    display_safe(&t.name),
                    headline(&t.headline)
                ),
                None => format!("Nearby: (no teaser)  {peer_id}"),
            },
            Self::PeerExpired { peer_id } => format!("Gone: {peer_id}"),
            Self::CardReceived {
                name,
                result,
                label,
                ..
            } => {
                let mut s = format!("Received the card of {}: {result}", display_safe(name));
                if let Some(l) = label {
                    let _ = write!(s, " (at {})", display_safe(l));
                }
                s
            }
            Self::CardGiven {
                peer_id,
                inbox_id: Some(_),
                name,
            } => format!(
                "Gave my card back to {} (accepted from the inbox)",
                who(name, peer_id)
            ),
            Self::CardGiven { peer_id, name, .. } => {
                format!("Gave my card to {}", who(name, peer_id))
            }
            Self::Inbox { inbox_id, name, .. } => format!(
                "{} wants to swap: `meishi accept {inbox_id}` or `meishi decline {inbox_id}`",
                display_safe(name)
            ),
            Self::Refused { peer_id, reason } => {
                format!("Refused a request from {peer_id}: {reason}")
            }
            Self::CardUpdated { seq } => format!("Now giving card seq {seq}"),
            Self::Published { seq, relays } => format!(
                "Card seq {seq} is on {relays} relay(s): your contacts get it when they come online"
            ),
            Self::UpdateFailed { relay, error } => {
                format!("Card updates through the relay {relay} failed this time: {error}")
            }
            Self::ContactUpdated { name, seq } => format!(
                "{} updated their card (seq {seq}) while you were apart",
                display_safe(name)
            ),
            Self::IntroSent { a, b, .. } => format!(
                "Asked {} whether they want to meet {}; {} is asked once they accept",
                display_safe(b),
                display_safe(a),
                display_safe(a)
            ),
            Self::IntroAsked {
                intro_id,
                by,
                name,
                headline: h,
                note,
            } => {
                let mut s = format!(
                    "{} would like to introduce you to {}{}",
                    display_safe(by),
                    display_safe(name),
                    headline(h)
                );
                if let Some(n) = note {
                    let _ = write!(s, " (\"{}\")", display_safe(n));
                }
                let _ = write!(
                    s,
                    ": `meishi intros accept {intro_id}` or `meishi intros decline {intro_id}`"
                );
                s
            }
            Self::IntroAnswered {
                accepted, name, by, ..
            } => {
                if *accepted {
                    format!(
                        "Told {} you would like to meet {}; your card goes to them if they accept too",
                        display_safe(by),
                        display_safe(name)
                    )
                } else {
                    format!(
                        "Declined meeting {}; only {} learns it",
                        display_safe(name),
                        display_safe(by)
                    )
                }
            }
            Self::IntroStep { state, a, b, .. } => {
                let (a, b) = (display_safe(a), display_safe(b));
                match state.as_str() {
                    "asking_a" => format!("{b} would like to meet {a}; asked {a}"),
                    "done" => format!("Introduced {a} and {b}: both accepted and have each other's card"),
                    "declined" => format!("The introduction of {a} and {b} ends here: one of them declined (the other never learns it)"),
                    other => format!("The introduction of {a} and {b} ended ({other})"),
                }
            }
            Self::Introduced { name, by } => format!(
                "{} and you both accepted {}'s introduction: their card is in your contacts (introduced, not met in person)",
                display_safe(name),
                display_safe(by)
            ),
            Self::LinksSent { contacts, failed } => {
                let mut s = format!("Told {contacts} contact(s) where your next cards are");
                if *failed > 0 {
                    let _ = write!(s, "; {failed} could not be reached and learn it when you next swap");
                }
                s
            }
            Self::Attendee {
                peer_id,
                name,
                headline: h,
                ..
            } => format!("Attendee: {}{}  {peer_id}", display_safe(name), headline(h)),
            Self::Reserved { addr, .. } => {
                format!("Reachable through the relay; from other networks: meishi swap {addr}")
            }
            Self::RelayDisconnected { relay } => format!("Lost the relay {relay}; reconnecting"),
            Self::RelayUnreachable { relay, error } => {
                format!("Cannot reach the relay {relay} ({error}); trying again")
            }
            Self::Direct { peer_id, name } => {
                format!(
                    "Direct connection to {} (hole punching worked)",
                    who(name, peer_id)
                )
            }
            Self::HolePunchFailed { peer_id, name } => {
                format!(
                    "The connection to {} stays relayed (hole punching failed)",
                    who(name, peer_id)
                )
            }
            Self::Joined { relay, attendees } => format!(
                "Joined the event on the relay {relay}: {attendees} attendee(s) so far; others appear as they join. Swap with one: meishi swap NAME"
            ),
            Self::WebApp { link } => format!(
                "Web app: {link} (the link signs you in: keep it to yourself; `meishi ui` opens it)"
            ),
            Self::Pending { .. } => "They received my card; waiting for them to accept…".into(),
            Self::Swapped {
                peer_id,
                outcome,
                name,
                result,
            } => match (name, result, outcome) {
                (Some(n), Some(r), _) => format!("Swapped cards with {}: {r}", display_safe(n)),
                (_, _, Some(o)) => format!("Swap with {}: {o}", who(name, peer_id)),
                _ => format!("Swapped cards with {}", who(name, peer_id)),
            },
            Self::SwapFailed {
                peer_id,
                error,
                name,
            } => format!("Swap with {} failed: {error}", who(name, peer_id)),
            Self::Summary {
                attendees,
                swapped,
                waiting,
                failed,
            } => {
                let mut s = format!("{attendees} attendee(s) found, {swapped} swap(s) completed");
                if *waiting > 0 {
                    let _ = write!(s, ", {waiting} waiting for their decision");
                }
                let _ = write!(s, ", {failed} failed");
                s
            }
            Self::Error { error, .. } => format!("Error: {error}"),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test fails by panicking")]
mod tests {
    use super::*;

    fn check(r: Report, json: &str, human: &str) {
        assert_eq!(serde_json::to_string(&r).unwrap(), json);
        assert_eq!(r.human(), human);
    }

    #[test]
    fn json_and_human_lines_come_from_one_value() {
        check(
            Report::CardReceived {
                peer_id: "12D3KooWA".into(),
                name: "Ada\u{202E}gnp.exe".into(),
                result: "added".into(),
                label: None,
                lookalikes: vec![],
            },
            "{\"event\":\"card_received\",\"peer_id\":\"12D3KooWA\",\"name\":\"Ada\u{202E}gnp.exe\",\"result\":\"added\"}",
            "Received the card of Ada\u{FFFD}gnp.exe: added",
        );
        check(
            Report::Inbox {
                inbox_id: 3,
                peer_id: "12D3KooWB".into(),
                name: "Bob".into(),
            },
            r#"{"event":"inbox","inbox_id":3,"peer_id":"12D3KooWB","name":"Bob"}"#,
            "Bob wants to swap: `meishi accept 3` or `meishi decline 3`",
        );
        check(
            Report::CardGiven {
                peer_id: "12D3KooWB".into(),
                inbox_id: None,
                name: Some("Bob".into()),
            },
            r#"{"event":"card_given","peer_id":"12D3KooWB"}"#,
            "Gave my card to Bob",
        );
        check(
            Report::Summary {
                attendees: 2,
                swapped: 1,
                waiting: 0,
                failed: 0,
            },
            r#"{"event":"summary","attendees":2,"swapped":1,"waiting":0,"failed":0}"#,
            "2 attendee(s) found, 1 swap(s) completed, 0 failed",
        );
    }
}
