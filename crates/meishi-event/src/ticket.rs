//! The join ticket: an event code and the relays that serve the event, as the URI a join QR
//! code carries. proto-spec/relay.md#join-uri
//!
//! ```text
//! meishi:event?code=<code>&relay=<multiaddr>[&relay=<multiaddr>…][&fleet=1][&name=<name>]
//! ```
//!
//! The code and every relay are percent-encoded (RFC 3986 unreserved characters kept), so the
//! URI [`JoinTicket`] displays has no byte outside `[A-Za-z0-9._~%=&?:-]`: a hostile code cannot
//! break out of the quotes of a command line built around it. Parsing keeps every rule of the
//! spec; each refusal is one [`TicketError`] variant. [`new_code`] makes the unguessable codes
//! of `meishi event new` from random bytes the caller supplies.

use std::fmt;
use std::str::FromStr;

use multiaddr::{Multiaddr, Protocol};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::key::{normalize, CodeError};

/// What a join URI starts with. proto-spec/relay.md#join-uri
pub const JOIN_URI_PREFIX: &str = "meishi:event?";
/// Longest join URI read, in bytes (a QR code holds at most 4,296 alphanumeric characters).
/// proto-spec/relay.md#join-uri
pub const MAX_JOIN_URI: usize = 4096;
/// Most relays in one join URI. proto-spec/relay.md#join-uri
pub const MAX_JOIN_RELAYS: usize = 8;
/// Random bytes in a new code: 160 bits, 32 base32 characters. proto-spec/relay.md#join-uri
pub const NEW_CODE_BYTES: usize = 20;

/// Bytes percent-encoded in a join URI's values: all but RFC 3986's unreserved characters.
const ESCAPED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Why a join URI was refused, or a ticket could not be made. The messages complete a sentence
/// such as "bad event join URI: …"; text taken from the URI is quoted with `{:?}`, and the
/// front end still makes the whole message safe before printing it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TicketError {
    #[error("{len} bytes, the limit is {max}")]
    TooLong { len: usize, max: usize },
    #[error("it does not start with {JOIN_URI_PREFIX}")]
    Prefix,
    /// A value with a `%` not followed by two hex digits, or that decodes to invalid UTF-8.
    #[error("the {parameter:?} value is not valid percent-encoding")]
    PercentEncoding { parameter: String },
    #[error("it has two codes")]
    TwoCodes,
    #[error("it has no code")]
    NoCode,
    /// The code is one [`normalize`] refuses.
    #[error(transparent)]
    Code(#[from] CodeError),
    #[error("it names no relay")]
    NoRelay,
    #[error("more than {max} relays")]
    TooManyRelays { max: usize },
    #[error("the relay {relay:?} is not a multiaddr")]
    NotMultiaddr { relay: String },
    #[error("the relay {relay} does not end in /p2p/<relay id>")]
    NoPeerId { relay: Multiaddr },
    #[error("the event name must be 1 to {max} bytes of text without control characters")]
    BadName { max: usize },
    #[error("it has two names")]
    TwoNames,
    /// `fleet` with a value other than `1`.
    #[error("the fleet value must be 1")]
    BadFleet,
}

/// Longest event name, in bytes: the event label of an envelope (proto-spec/exchange.md).
pub const MAX_EVENT_NAME: usize = 64;

fn check_name(name: &str) -> Result<(), TicketError> {
    let bad = name.trim().is_empty()
        || name.len() > MAX_EVENT_NAME
        || name
            .chars()
            .any(|c| c.is_control() || c == '\u{202E}' || c == '\u{202D}');
    if bad {
        Err(TicketError::BadName {
            max: MAX_EVENT_NAME,
        })
    } else {
        Ok(())
    }
}

/// An event code and its relays (one to [`MAX_JOIN_RELAYS`], each ending in `/p2p/<relay id>`).
/// `Display` writes the join URI and `FromStr` reads one; a ticket made by [`JoinTicket::new`]
/// reads back equal.
///
/// ```
/// use meishi_event::JoinTicket;
///
/// let relay = "/ip4/203.0.113.7/tcp/4001/p2p/12D3KooWBHkR6nGT5KH3Xow9voA2aSQ67423yzWZCVbruRadyybt";
/// let ticket = JoinTicket::new("ab-cd", vec![relay.parse().unwrap()]).unwrap();
/// let uri = ticket.to_string();
/// assert!(uri.starts_with("meishi:event?code=ab-cd&relay=%2Fip4%2F203.0.113.7%2Ftcp%2F4001%2Fp2p%2F"));
/// assert_eq!(uri.parse::<JoinTicket>().unwrap(), ticket);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinTicket {
    /// The code as given (not normalized: it is shown to people).
    code: String,
    relays: Vec<Multiaddr>,
    /// The event's name, as the organizer chose it (what meetings at the event are called).
    name: Option<String>,
    /// The relays are one fleet: each copies every board entry to the others
    /// (proto-spec/relay.md#fleets), so a node posts a refresh only to its home relays.
    fleet: bool,
}

impl JoinTicket {
    /// A ticket for `code` on `relays`. Refuses what a reader of its URI would refuse, and a
    /// ticket whose URI would be longer than [`MAX_JOIN_URI`].
    pub fn new(code: impl Into<String>, relays: Vec<Multiaddr>) -> Result<Self, TicketError> {
        let code = code.into();
        normalize(&code)?;
        if relays.is_empty() {
            return Err(TicketError::NoRelay);
        }
        if relays.len() > MAX_JOIN_RELAYS {
            return Err(TicketError::TooManyRelays {
                max: MAX_JOIN_RELAYS,
            });
        }
        for r in &relays {
            check_relay(r)?;
        }
        let ticket = Self {
            code,
            relays,
            name: None,
            fleet: false,
        };
        ticket.checked_len()
    }

    /// The ticket with the event's `name` (at most [`MAX_EVENT_NAME`] bytes, no control
    /// characters), e.g. "RustConf 2026": meetings at the event are recorded under it.
    pub fn with_name(mut self, name: impl Into<String>) -> Result<Self, TicketError> {
        let name = name.into();
        check_name(&name)?;
        self.name = Some(name);
        self.checked_len()
    }

    /// The ticket saying that its relays are one fleet (each runs with the others as
    /// `--peer`): nodes then post a refresh only to their home relays, and the fleet copies it
    /// to the others (proto-spec/relay.md#sharding).
    pub fn with_fleet(mut self) -> Result<Self, TicketError> {
        self.fleet = true;
        self.checked_len()
    }

    /// Whether the relays are one fleet ([`JoinTicket::with_fleet`]).
    pub fn fleet(&self) -> bool {
        self.fleet
    }

    fn checked_len(self) -> Result<Self, TicketError> {
        let len = self.to_string().len();
        if len > MAX_JOIN_URI {
            return Err(TicketError::TooLong {
                len,
                max: MAX_JOIN_URI,
            });
        }
        Ok(self)
    }

    /// The event's name, if the organizer gave one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The event code, as the organizer wrote it.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The relays, each ending in `/p2p/<relay id>`.
    pub fn relays(&self) -> &[Multiaddr] {
        &self.relays
    }

    /// The code and the relays.
    pub fn into_parts(self) -> (String, Vec<Multiaddr>) {
        (self.code, self.relays)
    }
}

fn check_relay(relay: &Multiaddr) -> Result<(), TicketError> {
    match relay.iter().last() {
        Some(Protocol::P2p(_)) => Ok(()),
        _ => Err(TicketError::NoPeerId {
            relay: relay.clone(),
        }),
    }
}

/// Percent-decodes a value, refusing a `%` without two hex digits (which `percent_decode_str`
/// would pass through) and invalid UTF-8.
fn decode(value: &str) -> Option<String> {
    let b = value.as_bytes();
    let well_formed = b.iter().enumerate().all(|(i, &c)| {
        c != b'%'
            || b.get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
    });
    if !well_formed {
        return None;
    }
    percent_decode_str(value)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

impl FromStr for JoinTicket {
    type Err = TicketError;

    /// Reads a join URI. Parameters other than `code`, `relay`, `fleet` and `name` are ignored
    /// (later versions may add some); their values must still be valid percent-encoding.
    fn from_str(uri: &str) -> Result<Self, TicketError> {
        if uri.len() > MAX_JOIN_URI {
            return Err(TicketError::TooLong {
                len: uri.len(),
                max: MAX_JOIN_URI,
            });
        }
        let query = uri
            .strip_prefix(JOIN_URI_PREFIX)
            .ok_or(TicketError::Prefix)?;
        let (mut code, mut relays, mut name, mut fleet) = (None, Vec::new(), None, false);
        for pair in query.split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = decode(value).ok_or_else(|| TicketError::PercentEncoding {
                parameter: key.to_owned(),
            })?;
            match key {
                "code" if code.is_none() => code = Some(value),
                "code" => return Err(TicketError::TwoCodes),
                "name" if name.is_none() => {
                    check_name(&value)?;
                    name = Some(value);
                }
                "name" => return Err(TicketError::TwoNames),
                "fleet" if value == "1" => fleet = true,
                "fleet" => return Err(TicketError::BadFleet),
                "relay" if relays.len() >= MAX_JOIN_RELAYS => {
                    return Err(TicketError::TooManyRelays {
                        max: MAX_JOIN_RELAYS,
                    })
                }
                "relay" => {
                    let relay: Multiaddr = value
                        .parse()
                        .map_err(|_| TicketError::NotMultiaddr { relay: value })?;
                    check_relay(&relay)?;
                    relays.push(relay);
                }
                _ => {}
            }
        }
        let code = code.ok_or(TicketError::NoCode)?;
        normalize(&code)?;
        if relays.is_empty() {
            return Err(TicketError::NoRelay);
        }
        // What a reader accepts, it can write back: the URI it displays (escaped anew, which
        // can be longer than the one read) must be within the limit too (found by fuzzing).
        Self {
            code,
            relays,
            name,
            fleet,
        }
        .checked_len()
    }
}

impl fmt::Display for JoinTicket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{JOIN_URI_PREFIX}code={}",
            utf8_percent_encode(&self.code, ESCAPED)
        )?;
        for r in &self.relays {
            write!(f, "&relay={}", utf8_percent_encode(&r.to_string(), ESCAPED))?;
        }
        if self.fleet {
            f.write_str("&fleet=1")?;
        }
        if let Some(n) = &self.name {
            write!(f, "&name={}", utf8_percent_encode(n, ESCAPED))?;
        }
        Ok(())
    }
}

/// The base32 alphabet of new codes, lowercase (RFC 4648).
const CODE_ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// The Luhn mod 32 check character of `chars` (alphabet indices): it catches every single
/// mistyped character and every swap of two neighbours.
fn luhn32(chars: &[u8], with_check: bool) -> u32 {
    let mut factor = if with_check { 1 } else { 2 };
    let mut sum = 0u32;
    for &c in chars.iter().rev() {
        let addend = factor * u32::from(c);
        factor = if factor == 2 { 1 } else { 2 };
        sum += addend / 32 + addend % 32;
    }
    sum % 32
}

fn code_indices(normalized: &str) -> Option<Vec<u8>> {
    normalized
        .bytes()
        .map(|b| CODE_ALPHABET.iter().position(|&a| a == b).map(|i| i as u8))
        .collect()
}

/// A new unguessable event code from `random` (fresh random bytes: the caller draws them, so
/// this stays pure): 31 characters of lowercase RFC 4648 base32 (155 random bits) and a Luhn
/// mod 32 check character, in groups of four joined by `-`, 39 characters.
/// proto-spec/relay.md#join-uri
pub fn new_code(random: &[u8; NEW_CODE_BYTES]) -> String {
    let b32 = data_encoding::BASE32_NOPAD
        .encode(random)
        .to_ascii_lowercase();
    let mut body: Vec<u8> = b32.bytes().take(31).collect();
    let idx = code_indices(std::str::from_utf8(&body).unwrap_or_default()).unwrap_or_default();
    let check = (32 - luhn32(&idx, false)) % 32;
    body.push(CODE_ALPHABET[check as usize]);
    let groups: Vec<&str> = body
        .chunks(4)
        .filter_map(|g| std::str::from_utf8(g).ok())
        .collect();
    groups.join("-")
}

/// Whether a typed code's check character matches: `None` when the code does not have the
/// shape of a new code (32 base32 characters after normalization, so a human-chosen code is
/// never judged), `Some(false)` when it has a typo.
pub fn code_check(code: &str) -> Option<bool> {
    let n = normalize(code).ok()?;
    if n.len() != 32 {
        return None;
    }
    let idx = code_indices(&n)?;
    Some(luhn32(&idx, true) == 0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test fails by panicking")]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const RELAY: &str =
        "/ip4/203.0.113.7/tcp/4001/p2p/12D3KooWBHkR6nGT5KH3Xow9voA2aSQ67423yzWZCVbruRadyybt";

    fn relay() -> Multiaddr {
        RELAY.parse().unwrap()
    }

    fn check_err(uri: &str, expected: TicketError) {
        assert_eq!(uri.parse::<JoinTicket>(), Err(expected), "{uri}");
    }

    #[test]
    fn new_code_bytes() {
        // 20 zero bytes are 'a's, and the check of all-zero is zero ('a'); RFC 4648's "foobar"
        // test vector, lowercase, padded with zero bytes to 20.
        assert_eq!(
            new_code(&[0; NEW_CODE_BYTES]),
            "aaaa-aaaa-aaaa-aaaa-aaaa-aaaa-aaaa-aaaa"
        );
        let mut foobar = [0u8; NEW_CODE_BYTES];
        foobar[..5].copy_from_slice(b"fooba");
        assert!(new_code(&foobar).starts_with("mzxw-6ytb"));
        let code = new_code(&[0xff; NEW_CODE_BYTES]);
        assert!(code.starts_with("7777-7777-7777-7777-7777-7777-7777-777"));
        assert_eq!(code.len(), 39);
        assert_eq!(normalize(&code).unwrap().len(), 32);
    }

    #[test]
    fn the_check_character_catches_typos() {
        let code = new_code(&[0x5a; NEW_CODE_BYTES]);
        assert_eq!(code_check(&code), Some(true));
        assert_eq!(
            code_check(&code.to_uppercase().replace('-', " ")),
            Some(true)
        );
        let chars: Vec<char> = code.chars().collect();
        for i in 0..chars.len() {
            if chars[i] == '-' {
                continue;
            }
            // Every other character at every place is caught...
            for &b in CODE_ALPHABET {
                let c = char::from(b);
                if c == chars[i] {
                    continue;
                }
                let mut typo = chars.clone();
                typo[i] = c;
                let typo: String = typo.into_iter().collect();
                assert_eq!(code_check(&typo), Some(false), "{typo}");
            }
            // ...and so is every swap of two different neighbours.
            let j = if chars.get(i + 1) == Some(&'-') {
                i + 2
            } else {
                i + 1
            };
            if j < chars.len() && chars[i] != chars[j] {
                let mut swapped = chars.clone();
                swapped.swap(i, j);
                let swapped: String = swapped.into_iter().collect();
                assert_eq!(code_check(&swapped), Some(false), "{swapped}");
            }
        }
        // Human-chosen codes are never judged.
        assert_eq!(code_check("m4kq-7xpa-z2re-9hwd-c5tn"), None);
        assert_eq!(code_check("rustconf-2026-hallway-track"), None);
    }

    #[test]
    fn display_escapes_the_relay_and_the_code() {
        let t = JoinTicket::new("ab-cd", vec![relay()]).unwrap();
        assert_eq!(
            t.to_string(),
            "meishi:event?code=ab-cd&relay=%2Fip4%2F203.0.113.7%2Ftcp%2F4001%2Fp2p%2F\
             12D3KooWBHkR6nGT5KH3Xow9voA2aSQ67423yzWZCVbruRadyybt"
        );
        let hostile = JoinTicket::new("a' ; rm -rf ~ #é", vec![relay()]).unwrap();
        let uri = hostile.to_string();
        assert!(uri.starts_with("meishi:event?code=a%27%20%3B%20rm%20-rf%20~%20%23%C3%A9&"));
        assert_eq!(uri.parse::<JoinTicket>().unwrap(), hostile);
    }

    #[test]
    fn an_accepted_uri_displays_within_the_limit() {
        // Unescaped relays read fine but display escaped: three bytes for each `/`. A URI
        // within the limit whose display would not be is refused (fuzzing found it).
        let relays: Vec<String> = (0..MAX_JOIN_RELAYS)
            .map(|_| format!("relay={RELAY}"))
            .collect();
        let base = format!("meishi:event?code=abcd&{}", relays.join("&"));
        let t: JoinTicket = base.parse().expect("parses");
        assert_eq!(t.to_string().parse::<JoinTicket>(), Ok(t.clone()));
        let pad = "x".repeat(MAX_JOIN_URI - base.len() - "&name=".len());
        let uri = format!("{base}&name={}", &pad[..MAX_EVENT_NAME.min(pad.len())]);
        if let Ok(t) = uri.parse::<JoinTicket>() {
            assert!(t.to_string().len() <= MAX_JOIN_URI);
        }
        // Spaces in a code are ignored by normalization but kept for display, escaped as
        // three bytes each: 1,500 of them read in 1.6 KB and would display in 4.6 KB.
        let spaced = format!("meishi:event?code=ab{}cd&relay={RELAY}", " ".repeat(1500));
        assert!(spaced.len() <= MAX_JOIN_URI);
        assert!(matches!(
            spaced.parse::<JoinTicket>(),
            Err(TicketError::TooLong { .. })
        ));
    }

    #[test]
    fn the_event_name_travels_with_the_ticket() {
        let t = JoinTicket::new("ab-cd", vec![relay()])
            .unwrap()
            .with_name("RustConf 東京 2026")
            .unwrap();
        let uri = t.to_string();
        assert!(
            uri.ends_with("&name=RustConf%20%E6%9D%B1%E4%BA%AC%202026"),
            "{uri}"
        );
        let back: JoinTicket = uri.parse().unwrap();
        assert_eq!(back.name(), Some("RustConf 東京 2026"));
        assert_eq!(back, t);
        let bad = TicketError::BadName {
            max: MAX_EVENT_NAME,
        };
        check_err(&format!("{uri}&name=x"), TicketError::TwoNames);
        check_err(
            &format!("meishi:event?code=abcd&relay={RELAY}&name=a%0Ab"),
            bad.clone(),
        );
        check_err(
            &format!("meishi:event?code=abcd&relay={RELAY}&name=%20"),
            bad.clone(),
        );
        let long = "x".repeat(MAX_EVENT_NAME + 1);
        check_err(
            &format!("meishi:event?code=abcd&relay={RELAY}&name={long}"),
            bad.clone(),
        );
        assert_eq!(
            JoinTicket::new("ab-cd", vec![relay()])
                .unwrap()
                .with_name("a\u{202E}b"),
            Err(bad)
        );
    }

    #[test]
    fn a_fleet_ticket_says_so_and_reads_back() {
        let plain = JoinTicket::new("ab-cd", vec![relay()]).unwrap();
        assert!(!plain.fleet());
        assert!(!plain.to_string().contains("fleet"));
        let t = plain.with_fleet().unwrap().with_name("Meetup").unwrap();
        let uri = t.to_string();
        assert!(uri.contains("&fleet=1&name=Meetup"), "{uri}");
        let back: JoinTicket = uri.parse().unwrap();
        assert!(back.fleet());
        assert_eq!(back, t);
        // Said twice is still a fleet; any other value is refused, not read as "no".
        let twice: JoinTicket = format!("{uri}&fleet=1").parse().unwrap();
        assert!(twice.fleet());
        for bad in ["0", "yes", ""] {
            check_err(
                &format!("meishi:event?code=abcd&relay={RELAY}&fleet={bad}"),
                TicketError::BadFleet,
            );
        }
    }

    #[test]
    fn parse_reads_what_people_type() {
        // Unknown parameters are ignored; unescaped relays are read too.
        let t: JoinTicket = format!("meishi:event?code=abcd&relay={RELAY}&theme=dark")
            .parse()
            .unwrap();
        assert_eq!(t.code(), "abcd");
        assert_eq!(t.relays(), &[relay()]);
        let two = format!("meishi:event?relay={RELAY}&code=x%20y&relay={RELAY}");
        let (code, relays) = two.parse::<JoinTicket>().unwrap().into_parts();
        assert_eq!((code.as_str(), relays.len()), ("x y", 2));
    }

    #[test]
    fn every_refusal_is_its_own_error() {
        let enc = utf8_percent_encode(RELAY, ESCAPED).to_string();
        let ok = format!("meishi:event?code=abcd&relay={enc}");
        assert!(ok.parse::<JoinTicket>().is_ok());
        let long = format!("{ok}{}", "&x=1".repeat(1100));
        check_err(
            &long,
            TicketError::TooLong {
                len: long.len(),
                max: MAX_JOIN_URI,
            },
        );
        check_err("https://example.org/?code=abcd", TicketError::Prefix);
        check_err("MEISHI:event?code=abcd", TicketError::Prefix);
        check_err(
            "meishi:event?code=abcd&relay=%ZZ",
            TicketError::PercentEncoding {
                parameter: "relay".into(),
            },
        );
        check_err(
            &format!("{ok}&x=%2"),
            TicketError::PercentEncoding {
                parameter: "x".into(),
            },
        );
        check_err(
            &format!("meishi:event?code=%FF&relay={enc}"),
            TicketError::PercentEncoding {
                parameter: "code".into(),
            },
        );
        check_err(
            &format!("meishi:event?code=a&code=b&relay={enc}"),
            TicketError::TwoCodes,
        );
        check_err(&format!("meishi:event?relay={enc}"), TicketError::NoCode);
        check_err(
            &format!("meishi:event?code=%20-%20&relay={enc}"),
            TicketError::Code(CodeError::Empty),
        );
        check_err(
            &format!("meishi:event?code=a%07b&relay={enc}"),
            TicketError::Code(CodeError::Control),
        );
        check_err("meishi:event?code=abcd", TicketError::NoRelay);
        check_err(
            &format!(
                "meishi:event?code=abcd{}",
                format!("&relay={enc}").repeat(9)
            ),
            TicketError::TooManyRelays {
                max: MAX_JOIN_RELAYS,
            },
        );
        check_err(
            "meishi:event?code=abcd&relay=not-an-address",
            TicketError::NotMultiaddr {
                relay: "not-an-address".into(),
            },
        );
        check_err(
            "meishi:event?code=abcd&relay=%2Fip4%2F203.0.113.7%2Ftcp%2F4001",
            TicketError::NoPeerId {
                relay: "/ip4/203.0.113.7/tcp/4001".parse().unwrap(),
            },
        );
        // Messages are one line, and quote what came from the URI.
        let e = TicketError::NotMultiaddr {
            relay: "a\nb\u{202e}".into(),
        };
        assert_eq!(
            e.to_string(),
            r#"the relay "a\nb\u{202e}" is not a multiaddr"#
        );
    }

    #[test]
    fn new_refuses_what_a_reader_would() {
        let bare: Multiaddr = "/ip4/203.0.113.7/tcp/4001".parse().unwrap();
        assert_eq!(JoinTicket::new("abcd", vec![]), Err(TicketError::NoRelay));
        assert_eq!(
            JoinTicket::new("abcd", vec![bare.clone()]),
            Err(TicketError::NoPeerId { relay: bare })
        );
        assert_eq!(
            JoinTicket::new("abcd", vec![relay(); MAX_JOIN_RELAYS + 1]),
            Err(TicketError::TooManyRelays {
                max: MAX_JOIN_RELAYS
            })
        );
        assert_eq!(
            JoinTicket::new(" ", vec![relay()]),
            Err(TicketError::Code(CodeError::Empty))
        );
        // A code of 128 characters after normalization, but so many spaces that its URI is
        // over the limit.
        let spaced = "a ".repeat(128) + &" ".repeat(1200);
        assert!(matches!(
            JoinTicket::new(spaced, vec![relay(); MAX_JOIN_RELAYS]),
            Err(TicketError::TooLong { .. })
        ));
    }

    proptest! {
        #[test]
        fn tickets_round_trip(
            code in "[a-zA-Z0-9 '\"&=%?#/é漢-]{1,40}",
            ports in proptest::collection::vec(1u16.., 1..=MAX_JOIN_RELAYS),
        ) {
            prop_assume!(normalize(&code).is_ok());
            let id = "12D3KooWBHkR6nGT5KH3Xow9voA2aSQ67423yzWZCVbruRadyybt";
            let relays: Vec<Multiaddr> = ports
                .iter()
                .map(|p| format!("/dns4/relay.example/udp/{p}/quic-v1/p2p/{id}").parse().unwrap())
                .collect();
            let t = JoinTicket::new(code, relays).unwrap();
            let uri = t.to_string();
            prop_assert!(uri.bytes().all(|b| b.is_ascii_alphanumeric() || b"._~%=&?:-".contains(&b)));
            prop_assert_eq!(uri.parse::<JoinTicket>().unwrap(), t);
        }

        #[test]
        fn new_codes_parse_and_normalize(random in any::<[u8; NEW_CODE_BYTES]>()) {
            let code = new_code(&random);
            prop_assert_eq!(code.len(), 39);
            let n = normalize(&code).unwrap();
            prop_assert_eq!(n.len(), 32);
            // The first 31 characters are the random bits; the last is the check.
            let b32 = data_encoding::BASE32_NOPAD.encode(&random).to_ascii_lowercase();
            prop_assert_eq!(&n[..31], &b32[..31]);
            prop_assert_eq!(code_check(&code), Some(true));
        }
    }
}
