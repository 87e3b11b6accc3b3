//! Checks on the fields of my own card, shared by `meishi init`, `meishi card edit` and the
//! web app's card editor: what I sign is what people see, and each value is something a phone
//! can use. Errors name the field as the front end calls it (`--email` on the command line,
//! "Email" in the web app).

use meishi_card::{Card, Identity, SignedCard, Social, SocialKind};

/// A field value that cannot go on my card: one line naming the field and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FieldError(pub String);

fn err(msg: String) -> FieldError {
    FieldError(msg)
}

/// Parses `KIND:HANDLE` (or a pasted profile link after the kind) into a social handle.
pub fn parse_social(label: &str, s: &str) -> Result<Social, FieldError> {
    let (kind_name, handle) = s.split_once(':').ok_or_else(|| {
        err(format!(
            "{label} {s:?}: write KIND:HANDLE, e.g. github:adalovelace"
        ))
    })?;
    let kind = SocialKind::from_name(kind_name).ok_or_else(|| {
        err(format!(
            "{label} {s:?}: unknown kind {kind_name:?}; see `meishi card edit --help`"
        ))
    })?;
    let mut handle = handle.trim();
    // A pasted profile link, or LinkedIn's `in/…` path, is the handle behind the kind's own
    // prefix: keep only the handle, so the link is not doubled (`…/in/in/someone`).
    if let Some(&(_, _, prefix)) = meishi_card::SOCIAL_KINDS
        .iter()
        .find(|(c, _, _)| *c == kind.0)
    {
        if !prefix.is_empty() && prefix != "https://" {
            let bare = prefix.trim_start_matches("https://");
            for p in [prefix, bare, &prefix.replacen("https://", "http://", 1)] {
                if let Some(rest) = handle.strip_prefix(p) {
                    handle = rest;
                    break;
                }
            }
        }
    }
    if kind == SocialKind::LINKEDIN {
        handle = handle.strip_prefix("in/").unwrap_or(handle);
    }
    let handle = handle.trim_end_matches('/');
    if handle.is_empty() || handle.chars().any(char::is_whitespace) {
        return Err(err(format!(
            "{label} {s:?}: the handle must be one word, e.g. {kind_name}:adalovelace"
        )));
    }
    Ok(Social {
        kind,
        handle: handle.to_owned(),
    })
}

/// Refuses an email address that cannot be one: `name@domain.tld` (any script).
pub fn check_email(label: &str, v: &str) -> Result<(), FieldError> {
    let ok = match v.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !v.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    };
    if !ok {
        return Err(err(format!(
            "{label} {v:?} is not an email address (name@example.com)"
        )));
    }
    Ok(())
}

/// Refuses a phone number that cannot be dialled: digits with the usual separators (spaces,
/// `-`, `.`, `/`, parentheses), an optional leading `+`, and an optional extension (`ext. 12`,
/// `x12`, `#12`); at least 3 digits. International formats of every country pass.
pub fn check_phone(label: &str, v: &str) -> Result<(), FieldError> {
    let lower = v.to_lowercase();
    let (main, ext) = ["ext.", "ext", "x", "#"]
        .iter()
        .find_map(|sep| {
            lower
                .split_once(sep)
                .map(|(m, e)| (m.to_owned(), Some(e.trim().to_owned())))
        })
        .unwrap_or((lower.clone(), None));
    let main = main.trim();
    let body = main.strip_prefix('+').unwrap_or(main);
    let digits = body.chars().filter(char::is_ascii_digit).count();
    let ok = digits >= 3
        && body
            .chars()
            .all(|c| c.is_ascii_digit() || " -./()".contains(c))
        && ext.is_none_or(|e| !e.is_empty() && e.chars().all(|c| c.is_ascii_digit()));
    if !ok {
        return Err(err(format!(
            "{label} {v:?} is not a phone number (e.g. +81 3-1234-5678, (555) 123-4567 ext. 89)"
        )));
    }
    Ok(())
}

/// A web address as stored: `https://` is added to a bare `example.com/…`; anything else must
/// be an http(s) link to a host.
pub fn check_url(label: &str, v: &str) -> Result<String, FieldError> {
    let bad = || {
        err(format!(
            "{label} {v:?} is not a web address (https://example.com/…)"
        ))
    };
    if v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let (scheme, rest) = match v.split_once("://") {
        Some((s, r)) => (s.to_ascii_lowercase(), r),
        None => ("https".to_owned(), v),
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = host.rsplit('@').next().unwrap_or_default();
    let host = host.split(':').next().unwrap_or_default();
    if !matches!(scheme.as_str(), "http" | "https")
        || host.is_empty()
        || !(host.contains('.') || host == "localhost")
        || host.starts_with('.')
        || host.ends_with('.')
    {
        return Err(bad());
    }
    Ok(if v.contains("://") {
        v.to_owned()
    } else {
        format!("https://{v}")
    })
}

/// Refuses a value of my own card that would display differently than it is stored: a bidi
/// control (text shown in another order, CVE-2021-42574), an invisible character, a control
/// character. Other people's cards are shown through `display_safe`; my own is refused
/// outright, so that what I sign is what people see.
pub fn check_visible(label: &str, v: &str) -> Result<(), FieldError> {
    match meishi_card::hidden_char(v) {
        None => Ok(()),
        Some(h) => Err(err(format!(
            "{label} contains {h}, {}: remove it",
            h.effect()
        ))),
    }
}

/// Signs `card` as the next version of `own` (seq + 1) at `now` (Unix seconds), after
/// checking every field as [`check_visible`] and the card's own limits do.
pub fn sign_next(
    identity: &Identity,
    own: &SignedCard,
    card: &Card,
    now: u64,
) -> Result<SignedCard, FieldError> {
    card.validate()
        .map_err(|e| err(format!("invalid card: {e}")))?;
    let next = own
        .seq()
        .checked_add(1)
        .ok_or_else(|| err("the card's version number is exhausted".into()))?;
    SignedCard::sign(identity, next, now, card)
        .map_err(|e| err(format!("cannot sign the card: {e}")))
}
