//! MeCard (NTT DoCoMo's contact format for QR codes): writing one for the size comparison and
//! reading the ones people show. `MECARD:N:Lovelace,Ada;TEL:+44…;EMAIL:ada@…;;`
//!
//! Values escape `\`, `;`, `:` and `,` with a backslash. The reader is strict about structure
//! (the prefix, the terminating `;;`, known escapes) and lenient about fields it does not map,
//! which it skips; what it maps must pass [`Card::validate`].

use meishi_card::vcard::Imported;
use meishi_card::{Card, FieldError};

/// What a MeCard must start with.
pub const MECARD_PREFIX: &str = "MECARD:";
/// Longest MeCard text read: a version 40 symbol holds at most 2,953 bytes.
pub const MAX_MECARD_TEXT: usize = 4296;

/// Why a MeCard could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MeCardError {
    #[error("not a MeCard (it does not start with MECARD:)")]
    NotMeCard,
    #[error("MeCard is {len} bytes; the limit is {max}")]
    TooLong { len: usize, max: usize },
    #[error("MeCard is not terminated by ';;'")]
    Unterminated,
    #[error("MeCard field {0} has no ':'")]
    Malformed(usize),
    #[error("MeCard has a dangling backslash")]
    BadEscape,
    #[error("MeCard has no name (N:)")]
    MissingName,
    #[error("MeCard field is invalid: {0}")]
    Field(#[from] FieldError),
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | ';' | ':' | ',') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The MeCard of a card: the whole name in `N` (never split: which part is the family name
/// depends on the culture, and "山田 太郎" puts it first), then org, title, phones, emails, URLs (socials
/// as their links), note. Tags and avatar have no MeCard field and are left out.
pub fn mecard_text(card: &Card) -> String {
    let mut out = String::from(MECARD_PREFIX);
    let name = card.name.trim();
    out.push_str(&format!("N:{};", escape(name)));
    let mut field = |k: &str, v: &str| out.push_str(&format!("{k}:{};", escape(v)));
    if let Some(o) = &card.org {
        field("ORG", o);
    }
    if let Some(t) = &card.title {
        field("TITLE", t);
    }
    card.phones.iter().for_each(|p| field("TEL", p));
    card.emails.iter().for_each(|e| field("EMAIL", e));
    card.urls.iter().for_each(|u| field("URL", u));
    card.socials
        .iter()
        .filter_map(|s| s.url())
        .for_each(|u| field("URL", &u));
    if let Some(n) = &card.note {
        field("NOTE", n);
    }
    out.push(';');
    out
}

/// Splits on unescaped `sep`, unescaping as it goes.
fn split_unescape(s: &str, sep: char) -> Result<Vec<String>, MeCardError> {
    let mut parts = vec![String::new()];
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let next = chars.next().ok_or(MeCardError::BadEscape)?;
                if let Some(last) = parts.last_mut() {
                    last.push(next);
                }
            }
            c if c == sep => parts.push(String::new()),
            c => {
                if let Some(last) = parts.last_mut() {
                    last.push(c);
                }
            }
        }
    }
    Ok(parts)
}

fn unescape(s: &str) -> Result<String, MeCardError> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        out.push(if c == '\\' {
            chars.next().ok_or(MeCardError::BadEscape)?
        } else {
            c
        });
    }
    Ok(out)
}

/// Splits the body on unescaped `;` without unescaping (values are unescaped per field).
fn split_fields(s: &str) -> Result<Vec<&str>, MeCardError> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            ';' => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if escaped {
        return Err(MeCardError::BadEscape);
    }
    if start != s.len() {
        return Err(MeCardError::Unterminated);
    }
    Ok(out)
}

/// Reads a MeCard into an unverified contact.
pub fn parse_mecard(text: &str) -> Result<Imported, MeCardError> {
    if text.len() > MAX_MECARD_TEXT {
        return Err(MeCardError::TooLong {
            len: text.len(),
            max: MAX_MECARD_TEXT,
        });
    }
    let body = text
        .strip_prefix(MECARD_PREFIX)
        .ok_or(MeCardError::NotMeCard)?;
    // Some writers end with a newline after ";;".
    let body = body.trim_end_matches(['\r', '\n']);
    if !body.ends_with(";;") {
        return Err(MeCardError::Unterminated);
    }
    let mut card = Card::default();
    for (i, f) in split_fields(body)?.into_iter().enumerate() {
        if f.is_empty() {
            continue;
        }
        let (k, v) = f.split_once(':').ok_or(MeCardError::Malformed(i + 1))?;
        let value = || -> Result<String, MeCardError> { Ok(unescape(v)?.trim().to_owned()) };
        match k.trim().to_ascii_uppercase().as_str() {
            "N" => {
                // `family,given` -> `given family`.
                let parts = split_unescape(v, ',')?;
                let parts: Vec<&str> = parts
                    .iter()
                    .map(|p| p.trim())
                    .filter(|p| !p.is_empty())
                    .collect();
                card.name = parts.iter().rev().copied().collect::<Vec<_>>().join(" ");
            }
            "ORG" => card.org = Some(value()?),
            "TITLE" => card.title = Some(value()?),
            "TEL" | "TEL-AV" => card.phones.push(value()?),
            "EMAIL" => card.emails.push(value()?),
            "URL" => card.urls.push(value()?),
            "NOTE" => card.note = Some(value()?),
            // NICKNAME, SOUND, BDAY, ADR, MEMO...: nothing to map them to.
            _ => {}
        }
    }
    if card.name.is_empty() {
        return Err(MeCardError::MissingName);
    }
    card.validate()?;
    Ok(Imported { card, key: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut card = Card::new("Ada Lovelace");
        card.org = Some("Engines; Ltd".into());
        card.phones = vec!["+44 20 7946 0958".into()];
        card.emails = vec!["ada@analytical.example".into()];
        card.urls = vec!["https://x.example/a:b".into()];
        card.note = Some("a, b\\c".into());
        let text = mecard_text(&card);
        assert_eq!(
            text,
            "MECARD:N:Ada Lovelace;ORG:Engines\\; Ltd;TEL:+44 20 7946 0958;EMAIL:ada@analytical.example;\
             URL:https\\://x.example/a\\:b;NOTE:a\\, b\\\\c;;"
        );
        assert_eq!(parse_mecard(&text).expect("test").card, card);
    }

    #[test]
    fn family_first_and_emoji_names_are_kept_whole() {
        for name in ["山田 太郎", "Ada 👩\u{200D}💻", "Nguyễn Văn An"] {
            let text = mecard_text(&Card::new(name));
            assert!(text.starts_with(&format!("MECARD:N:{name};")), "{text}");
            assert_eq!(parse_mecard(&text).expect("test").card.name, name);
        }
    }

    #[test]
    fn reads_common_forms() {
        let got = parse_mecard("MECARD:N:Doe,John;TEL:13035551212;EMAIL:john.doe@example.com;;")
            .expect("test");
        assert_eq!(got.card.name, "John Doe");
        assert_eq!(got.card.phones, ["13035551212"]);
        assert_eq!(got.key, None);
        assert_eq!(
            parse_mecard("MECARD:N:Solo;BDAY:19700101;;\n")
                .expect("test")
                .card
                .name,
            "Solo"
        );
    }

    #[test]
    fn rejects() {
        assert_eq!(parse_mecard("BEGIN:VCARD"), Err(MeCardError::NotMeCard));
        assert_eq!(parse_mecard("MECARD:N:A;"), Err(MeCardError::Unterminated));
        assert_eq!(
            parse_mecard("MECARD:TEL:1;;"),
            Err(MeCardError::MissingName)
        );
        assert_eq!(
            parse_mecard("MECARD:N:A;X;;"),
            Err(MeCardError::Malformed(2))
        );
        assert_eq!(parse_mecard("MECARD:N:A\\"), Err(MeCardError::Unterminated));
        assert!(matches!(
            parse_mecard("MECARD:N:A;TEL:\u{7};;"),
            Err(MeCardError::Field(_))
        ));
        assert!(matches!(
            parse_mecard(&format!("MECARD:N:{};;", "a".repeat(5000))),
            Err(MeCardError::TooLong { .. })
        ));
    }
}
