//! Joining an event: the code's checks and the join URI, shared by `meishi up --event`,
//! `meishi event` and the web app (proto-spec/relay.md#event-codes, #join-uri).

use meishi_card::display_safe;
use meishi_node::Multiaddr;

/// Why an event code or name cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum JoinError {
    /// A generated code whose check character does not match: a typo.
    #[error("the event code {0:?} has a typo (its last character does not check out): compare it with the organizer's screen, or scan the join QR")]
    Typo(String),
    /// A code anyone could guess; refused unless the user insists.
    #[error("the event code {code:?} is easy to guess (about 2^{bits:.0} tries); use `meishi event new` for an unguessable code, or pass --weak-code to use it anyway")]
    Weak { code: String, bits: f64 },
    /// Not a code at all (empty, too long, control characters).
    #[error("{0}")]
    BadCode(String),
    /// A join URI that does not parse.
    #[error("bad event join URI: {0}")]
    BadUri(String),
    /// An event name out of bounds.
    #[error("the event name must be 1 to {max} bytes of text without control characters")]
    BadLabel { max: usize },
    /// A relay named by host name: the node dials IP addresses only.
    #[error("the relay address {0} names a host; meishi dials IP addresses only: give the relay's /ip4/… or /ip6/… address")]
    DnsRelay(String),
    /// A code without any relay to find the event on.
    #[error("an event needs its relay: add `--relay ADDR`, or give the join URI")]
    NoRelay,
}

/// How guessable an accepted code is: a warning to show, if any.
pub fn check_code(code: &str, weak_ok: bool) -> Result<Option<String>, JoinError> {
    use meishi_event::{code_strength, Level};
    let shown = display_safe(code);
    if meishi_event::code_check(code) == Some(false) {
        return Err(JoinError::Typo(shown));
    }
    let strength = code_strength(code).map_err(|e| JoinError::BadCode(e.to_string()))?;
    let bits = strength.bits();
    Ok(match strength.level() {
        Level::Weak if !weak_ok => return Err(JoinError::Weak { code: shown, bits }),
        Level::Weak => Some(format!(
            "the event code {shown:?} is easy to guess (about 2^{bits:.0} tries): whoever guesses it sees the attendee list"
        )),
        Level::Fair => Some(format!(
            "the event code {shown:?} could be guessed with enough computing (about 2^{bits:.0} tries): whoever guesses it sees the attendee list. `meishi event new` makes an unguessable code"
        )),
        Level::Good => None,
    })
}

/// Checks an event name (`--label`, `event new --name`, a join URI's `name=`).
pub fn check_label(label: &str) -> Result<(), JoinError> {
    let ok = !label.trim().is_empty()
        && label.len() <= meishi_event::MAX_EVENT_NAME
        && !label.chars().any(|c| {
            c.is_control()
                || ('\u{202A}'..='\u{202E}').contains(&c)
                || ('\u{2066}'..='\u{2069}').contains(&c)
        });
    if ok {
        Ok(())
    } else {
        Err(JoinError::BadLabel {
            max: meishi_event::MAX_EVENT_NAME,
        })
    }
}

/// Reads a join URI (`meishi:event?code=…&relay=…&name=…`): its code, relays and name.
pub fn parse_join_uri(uri: &str) -> Result<(String, Vec<Multiaddr>, Option<String>), JoinError> {
    let ticket: meishi_event::JoinTicket = uri
        .parse()
        .map_err(|e: meishi_event::TicketError| JoinError::BadUri(e.to_string()))?;
    let name = ticket.name().map(str::to_owned);
    let (code, relays) = ticket.into_parts();
    Ok((code, relays, name))
}

/// What the node is given to join the event of `input` (a code, or a join URI whose code is
/// `code`): a URI that says its relays are one fleet goes whole, since the node reads that from
/// it (in a fleet it posts to its home relays only); otherwise the code.
pub fn node_code(input: &str, code: String) -> String {
    let fleet = input.starts_with("meishi:")
        && input
            .parse::<meishi_event::JoinTicket>()
            .is_ok_and(|t| t.fleet());
    if fleet {
        input.to_owned()
    } else {
        code
    }
}

/// An event to join, checked: its code, the relays to find it on, what to call it.
#[derive(Debug, Clone)]
pub struct Joining {
    /// The event code, or the whole join URI when it says its relays are one fleet.
    pub code: String,
    pub relays: Vec<Multiaddr>,
    pub label: Option<String>,
    /// Shown to the user (a guessable code), if any.
    pub warning: Option<String>,
}

/// Checks what a person typed or scanned to join an event: a code or a join URI, with the
/// relays the node already uses (`relays`) for a bare code, and an optional name.
pub fn joining(
    input: &str,
    relays: &[Multiaddr],
    label: Option<String>,
    weak_ok: bool,
) -> Result<Joining, JoinError> {
    let input = input.trim();
    let (code, mut theirs, name) = if input.starts_with("meishi:") {
        parse_join_uri(input)?
    } else {
        (input.to_owned(), Vec::new(), None)
    };
    let label = label.filter(|l| !l.trim().is_empty()).or(name);
    if let Some(l) = &label {
        check_label(l)?;
    }
    let warning = check_code(&code, weak_ok)?;
    let code = node_code(input, code);
    for r in relays {
        if !theirs.contains(r) {
            theirs.push(r.clone());
        }
    }
    check_relays(&theirs)?;
    if theirs.is_empty() {
        return Err(JoinError::NoRelay);
    }
    Ok(Joining {
        code,
        relays: theirs,
        label,
        warning,
    })
}

/// Refuses a relay named by DNS: the node's transports dial IP addresses only.
pub fn check_relays(relays: &[Multiaddr]) -> Result<(), JoinError> {
    use meishi_node::multiaddr::Protocol;
    match relays.iter().find(|r| {
        r.iter().any(|p| {
            matches!(
                p,
                Protocol::Dns(_) | Protocol::Dns4(_) | Protocol::Dns6(_) | Protocol::Dnsaddr(_)
            )
        })
    }) {
        Some(r) => Err(JoinError::DnsRelay(r.to_string())),
        None => Ok(()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test fails by panicking")]
mod tests {
    use super::*;

    const RELAY: &str =
        "/ip4/203.0.113.7/tcp/4001/p2p/12D3KooWBHkR6nGT5KH3Xow9voA2aSQ67423yzWZCVbruRadyybt";

    #[test]
    fn a_fleet_uri_reaches_the_node_whole_and_a_plain_one_as_its_code() {
        let code = "k3ep-th1s-c0de-s3cr-3tpl";
        let plain = meishi_event::JoinTicket::new(code, vec![RELAY.parse().unwrap()]).unwrap();
        let fleet = plain.clone().with_fleet().unwrap().to_string();
        let j = joining(&plain.to_string(), &[], None, false).unwrap();
        assert_eq!(j.code, code);
        assert_eq!(j.relays, [RELAY.parse::<Multiaddr>().unwrap()]);
        // The node reads the URI itself, and with it that the relays are one fleet.
        let j = joining(&fleet, &[], None, false).unwrap();
        assert_eq!(j.code, fleet);
        assert_eq!(j.relays, [RELAY.parse::<Multiaddr>().unwrap()]);
    }
}
