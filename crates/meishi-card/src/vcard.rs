//! vCard export and import: how a meishi card reaches a phone's address book, and how an
//! address book's `.vcf` becomes unverified contacts. proto-spec/card.md#vcard-mapping
//!
//! Export writes vCard 3.0 (RFC 2426, what phones import best) or 4.0 (RFC 6350): CRLF line
//! ends, backslash escaping, and lines folded at 75 octets without splitting a UTF-8 sequence.
//! The meishi key travels as `X-MEISHI-KEY:<peer id>` so that a signed card received later can be
//! matched to the imported contact by key (never by name).
//!
//! The name goes to `FN` whole and is never split into `N`'s family and given parts: which word
//! is the family name depends on the culture ("山田 太郎" is family first), so a guess would
//! file people under the wrong name. 3.0 requires `N`, so it is written empty (`N:;;;;`); 4.0
//! leaves it out.
//!
//! Import reads one or many cards of version 2.1, 3.0 or 4.0, lenient only where that cannot
//! change meaning (LF or CRLF, folding with space or tab, property groups, case, 2.1
//! quoted-printable, properties meishi has no field for). Everything that does not fit a
//! [`Card`] is an [`ImportError`] naming the card, never a silent truncation, and every
//! imported card passes [`Card::validate`]. [`import_each`] reads what phones and servers
//! export: each card on its own, a nameless one named by its organization, email or phone;
//! [`import`] is all or nothing.
//!
//! ```
//! use meishi_card::{vcard, Card};
//!
//! let mut card = Card::new("Zoë Ōkubo");
//! card.emails.push("zoe@example.org".into());
//! let text = vcard::export(&card, None, vcard::Version::V3);
//! assert!(text.starts_with("BEGIN:VCARD\r\nVERSION:3.0\r\n"));
//! let back = vcard::import(&text).unwrap();
//! assert_eq!(back[0].card, card);
//! ```

use std::borrow::Cow;

use crate::Card;
use crate::{FieldError, PeerIdError, PublicKey, Social, SocialKind, SOCIAL_KINDS};

/// Largest `.vcf` input [`import`] reads: 1 MiB.
pub const MAX_VCF_BYTES: usize = 1 << 20;
/// Most cards [`import`] reads from one input.
pub const MAX_VCF_CARDS: usize = 10_000;
/// Longest physical line [`export`] writes, in octets without the CRLF (RFC 6350 §3.2).
pub const MAX_LINE_OCTETS: usize = 75;
/// Longest `X-MEISHI-KEY` value looked at; a peer id is 52 characters. Bounds the base58
/// decoder, which is quadratic in its input.
const MAX_KEY_CHARS: usize = 64;
/// Characters of an unsupported VERSION value kept for the error message.
const MAX_VERSION_SHOWN: usize = 16;

/// The vCard version [`export`] writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    /// vCard 3.0, RFC 2426: what phones import best.
    V3,
    /// vCard 4.0, RFC 6350.
    V4,
}

impl Version {
    fn as_str(self) -> &'static str {
        match self {
            Version::V3 => "3.0",
            Version::V4 => "4.0",
        }
    }
}

/// One contact read from a `.vcf`: unverified, whatever key it names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Imported {
    pub card: Card,
    /// The key from `X-MEISHI-KEY`, if the card carried one. Nothing proves it: it only lets a
    /// signed card from that key be matched to this contact later.
    pub key: Option<PublicKey>,
}

/// One card of a `.vcf` as [`import_each`] read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub imported: Imported,
    /// What the card was named by when it had no name (no `FN` or `N`); `None` when it had one.
    pub named_by: Option<NamedBy>,
}

/// The field a nameless card was named by, in the order [`import_each`] tries them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NamedBy {
    /// `ORG`: a company's card.
    Org,
    /// The first `EMAIL` (what Google Contacts keeps for people one only wrote to).
    Email,
    /// The first `TEL`.
    Phone,
}

/// "its organization", "its email", "its phone number".
impl std::fmt::Display for NamedBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NamedBy::Org => "its organization",
            NamedBy::Email => "its email",
            NamedBy::Phone => "its phone number",
        })
    }
}

/// Why a `.vcf`, or one card in it, could not be imported. Cards are numbered from 1 in file
/// order; lines too.
///
/// [`TooLarge`](Self::TooLarge), [`TooManyCards`](Self::TooManyCards), [`NoCards`](Self::NoCards)
/// and [`OutsideCard`](Self::OutsideCard) are about the whole file; every other error is about
/// the one card it names.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    #[error("the vCard file is {len} bytes; the limit is {max}: split it into smaller files")]
    TooLarge { len: usize, max: usize },
    #[error("the vCard file holds more than {max} cards: split it into smaller files")]
    TooManyCards { max: usize },
    #[error("no vCard found (no BEGIN:VCARD line): is this a .vcf file?")]
    NoCards,
    #[error("line {line} is outside any BEGIN:VCARD … END:VCARD block: the file is damaged or not a vCard")]
    OutsideCard { line: usize },
    #[error("card {card}: line {line} begins another card before END:VCARD: the card is damaged (an END:VCARD line is missing)")]
    NestedCard { card: usize, line: usize },
    #[error("card {card} has no END:VCARD line: the file is truncated or damaged")]
    Unterminated { card: usize },
    #[error("card {card}, line {line}: not a vCard property line (expected NAME;PARAMS:value)")]
    Malformed { card: usize, line: usize },
    #[error("card {card}: vCard version {version:?} is not supported (2.1, 3.0 and 4.0 are)")]
    UnsupportedVersion { card: usize, version: String },
    #[error("card {card}, line {line}: the {property} value is in an encoding meishi cannot read (UTF-8 text and quoted-printable are supported)")]
    Encoding {
        card: usize,
        line: usize,
        property: &'static str,
    },
    /// From [`import`] only: [`import_each`] names such a card by another field.
    #[error("card {card} has no name (neither FN nor N): add one and import again")]
    MissingName { card: usize },
    /// From [`import_each`]: a card without a name, organization, email or phone.
    #[error(
        "card {card} has no name, organization, email or phone number: there is nothing to import"
    )]
    Empty { card: usize },
    #[error("card {card}: {source}: fix that card and import again")]
    Field { card: usize, source: FieldError },
    #[error("card {card}: X-MEISHI-KEY is not a meishi peer id ({source}): remove it or fix it")]
    BadKey { card: usize, source: PeerIdError },
    #[error("card {card} names two different meishi keys (X-MEISHI-KEY): keep the right one")]
    ConflictingKeys { card: usize },
}

// ---------------------------------------------------------------------------------------------
// Export

/// One card as a vCard of `version`, with `key` as `X-MEISHI-KEY` when given.
///
/// A card that does not pass [`Card::validate`] is still written as a well-formed vCard:
/// newlines become `\n` escapes and other control characters U+FFFD.
pub fn export(card: &Card, key: Option<&PublicKey>, version: Version) -> String {
    let mut out = String::new();
    write_card(&mut out, card, key, version);
    out
}

/// Many cards in one `.vcf` (what a phone imports as a batch).
pub fn export_many(items: &[(Card, Option<PublicKey>)], version: Version) -> String {
    let mut out = String::new();
    for (card, key) in items {
        write_card(&mut out, card, key.as_ref(), version);
    }
    out
}

fn write_card(out: &mut String, card: &Card, key: Option<&PublicKey>, version: Version) {
    push_folded(out, "BEGIN:VCARD");
    push_folded(out, &format!("VERSION:{}", version.as_str()));
    // The name is never split (see the module documentation): 3.0 requires N, so it is empty.
    if version == Version::V3 {
        push_folded(out, "N:;;;;");
    }
    push_folded(out, &format!("FN:{}", escape_text(&card.name)));
    if let Some(org) = &card.org {
        push_folded(out, &format!("ORG:{}", escape_text(org)));
    }
    if let Some(title) = &card.title {
        push_folded(out, &format!("TITLE:{}", escape_text(title)));
    }
    let email = match version {
        Version::V3 => "EMAIL;TYPE=INTERNET",
        Version::V4 => "EMAIL",
    };
    for e in &card.emails {
        push_folded(out, &format!("{email}:{}", escape_text(e)));
    }
    for p in &card.phones {
        push_folded(out, &format!("TEL:{}", escape_text(p)));
    }
    for u in &card.urls {
        push_folded(out, &format!("URL:{}", escape_text(u)));
    }
    for s in &card.socials {
        let url = s.url().unwrap_or_else(|| s.handle.clone());
        let mut name = format!("X-SOCIALPROFILE;TYPE={}", s.kind.name());
        // Apple's X-USER parameter carries the handle exactly, so import need not guess it
        // back from the URL.
        if let Some(user) = param_value(&s.handle, version) {
            name.push_str(";X-USER=");
            name.push_str(&user);
        }
        push_folded(out, &format!("{name}:{}", escape_text(&url)));
    }
    if let Some(note) = &card.note {
        push_folded(out, &format!("NOTE:{}", escape_text(note)));
    }
    if !card.tags.is_empty() {
        let tags: Vec<String> = card.tags.iter().map(|t| escape_text(t)).collect();
        push_folded(out, &format!("CATEGORIES:{}", tags.join(",")));
    }
    if let Some(key) = key {
        push_folded(out, &format!("X-MEISHI-KEY:{}", key.peer_id()));
    }
    if let Some(avatar) = &card.avatar {
        // Not PHOTO: the avatar is a reference (URL or content hash) no reader fetches yet.
        push_folded(out, &format!("X-MEISHI-AVATAR:{}", escape_text(avatar)));
    }
    push_folded(out, "END:VCARD");
}

/// Escapes a value (RFC 6350 §3.4, RFC 2426 §4): backslash, comma, semicolon, newline.
///
/// URIs are escaped too: strictly only text values need it, but parsers that split values
/// at unescaped commas (Python's vobject does) would otherwise cut a URL with a comma in it,
/// and every reader tried undoes `\,` in a URL.
fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ',' | ';' => {
                out.push('\\');
                out.push(c);
            }
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push_str("\\n");
            }
            '\n' => out.push_str("\\n"),
            '\t' => out.push(' '),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// A parameter value, quoted when needed, or `None` when `version` cannot carry it (a DQUOTE
/// in 3.0). 4.0 uses RFC 6868 caret encoding.
fn param_value(v: &str, version: Version) -> Option<String> {
    if v.chars().any(|c| c.is_control()) {
        return None;
    }
    let encoded = match version {
        Version::V3 if v.contains('"') => return None,
        Version::V3 => v.to_owned(),
        Version::V4 => v.replace('^', "^^").replace('"', "^'"),
    };
    if encoded.contains([',', ';', ':']) {
        Some(format!("\"{encoded}\""))
    } else {
        Some(encoded)
    }
}

/// Appends one content line, folded so that no physical line exceeds [`MAX_LINE_OCTETS`]
/// octets (a continuation's leading space included) and no UTF-8 sequence is split.
fn push_folded(out: &mut String, line: &str) {
    let mut rest = line;
    let mut limit = MAX_LINE_OCTETS;
    while rest.len() > limit {
        let mut cut = limit;
        // A UTF-8 sequence is at most 4 octets and limit >= 74, so cut stays above 0.
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        out.push_str(&rest[..cut]);
        out.push_str("\r\n ");
        rest = &rest[cut..];
        limit = MAX_LINE_OCTETS - 1;
    }
    out.push_str(rest);
    out.push_str("\r\n");
}

// ---------------------------------------------------------------------------------------------
// Import

/// Reads every card of a `.vcf`. All or nothing: the first bad card fails the whole import
/// (a card without a name included), so a caller never stores half a file. For an address
/// book's export use [`import_each`].
pub fn import(text: &str) -> Result<Vec<Imported>, ImportError> {
    read(text, Naming::Required)?
        .into_iter()
        .map(|r| r.map(|e| e.imported))
        .collect()
}

/// Reads each card of a `.vcf` on its own, as an address book's export needs: a bad card is an
/// error in its place in the list and does not stop the others. A card without a name is
/// named by its organization, else its first email, else its first phone number
/// ([`Entry::named_by`] says which); one with none of these is [`ImportError::Empty`].
///
/// Errors about the whole file (too large, too many cards, not a vCard, a line outside any
/// card) are the outer `Err`. The list holds one result per `BEGIN:VCARD`, in file order, at
/// most [`MAX_VCF_CARDS`].
pub fn import_each(text: &str) -> Result<Vec<Result<Entry, ImportError>>, ImportError> {
    read(text, Naming::Fallback)
}

/// Whether [`build`] may name a nameless card by another field.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Naming {
    Required,
    Fallback,
}

/// The card being read: its number, its properties, and the first error found in it.
struct Block<'a> {
    no: usize,
    props: Vec<Prop<'a>>,
    error: Option<ImportError>,
}

impl Block<'_> {
    /// Opens card number `cards.len() + 1`, unless the file already holds the most it may.
    fn open<T>(cards: &[T]) -> Result<Self, ImportError> {
        if cards.len() >= MAX_VCF_CARDS {
            return Err(ImportError::TooManyCards { max: MAX_VCF_CARDS });
        }
        Ok(Self {
            no: cards.len() + 1,
            props: Vec::new(),
            error: None,
        })
    }

    /// Notes an error; the first one found is the card's.
    fn fail(&mut self, e: ImportError) {
        self.error.get_or_insert(e);
    }

    fn finish(self, naming: Naming) -> Result<Entry, ImportError> {
        match self.error {
            Some(e) => Err(e),
            None => build(self.no, &self.props, naming),
        }
    }
}

fn read(text: &str, naming: Naming) -> Result<Vec<Result<Entry, ImportError>>, ImportError> {
    if text.len() > MAX_VCF_BYTES {
        return Err(ImportError::TooLarge {
            len: text.len(),
            max: MAX_VCF_BYTES,
        });
    }
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let lines = unfold(text);
    let mut cards: Vec<Result<Entry, ImportError>> = Vec::new();
    let mut current: Option<Block<'_>> = None;
    for logical in &lines {
        if logical.text.trim().is_empty() {
            continue;
        }
        let line = logical.line;
        let prop = parse_line(&logical.text, line);
        let Some(mut block) = current.take() else {
            match prop {
                Some(p) if p.is("BEGIN", "VCARD") => current = Some(Block::open(&cards)?),
                _ => return Err(ImportError::OutsideCard { line }),
            }
            continue;
        };
        let card = block.no;
        match prop {
            None => block.fail(ImportError::Malformed { card, line }),
            Some(p) if p.is("BEGIN", "VCARD") => {
                // The card lost its END:VCARD: it is bad, and the next one starts here.
                block.fail(ImportError::NestedCard { card, line });
                cards.push(block.finish(naming));
                current = Some(Block::open(&cards)?);
                continue;
            }
            Some(p) if p.name == "BEGIN" => block.fail(ImportError::NestedCard { card, line }),
            Some(p) if p.is("END", "VCARD") => {
                cards.push(block.finish(naming));
                continue;
            }
            Some(p) if p.name == "END" => block.fail(ImportError::Malformed { card, line }),
            Some(p) => block.props.push(p),
        }
        current = Some(block);
    }
    if let Some(block) = current {
        cards.push(Err(ImportError::Unterminated { card: block.no }));
    }
    if cards.is_empty() {
        return Err(ImportError::NoCards);
    }
    Ok(cards)
}

/// A content line after unfolding, with the number of its first physical line.
struct Logical {
    line: usize,
    text: String,
}

/// Joins folded lines (continuations start with a space or tab, RFC 6350 §3.2) and 2.1
/// quoted-printable soft line breaks (a value ending in `=`). LF or CRLF line ends.
fn unfold(text: &str) -> Vec<Logical> {
    let mut out: Vec<Logical> = Vec::new();
    let mut qp_soft_break = false;
    for (i, phys) in text.split('\n').enumerate() {
        let phys = phys.strip_suffix('\r').unwrap_or(phys);
        match out.last_mut() {
            Some(last) if qp_soft_break => {
                last.text.pop(); // the `=`
                last.text.push_str(phys);
            }
            Some(last) if phys.starts_with([' ', '\t']) => last.text.push_str(&phys[1..]),
            _ => out.push(Logical {
                line: i + 1,
                text: phys.to_owned(),
            }),
        }
        qp_soft_break = match out.last() {
            Some(last) => last.text.ends_with('=') && is_quoted_printable(&last.text),
            None => false,
        };
    }
    out
}

fn floor_boundary(s: &str, max: usize) -> usize {
    let mut i = max.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Whether a line's parameters (before the first colon outside double quotes, looked at up to
/// 256 octets so the check stays cheap on long lines) ask for quoted-printable: a parameter
/// `ENCODING=QUOTED-PRINTABLE` or a bare `QUOTED-PRINTABLE` (2.1). Words inside a quoted
/// parameter value are text, not a request (found by fuzzing: a social handle containing
/// `QUOTED-PRINTABLE:`, exported folded after an `=`, imported back with the fold's space).
fn is_quoted_printable(line: &str) -> bool {
    let head = &line[..floor_boundary(line, 256)];
    let asks = |param: &str| {
        let param = param.trim();
        param.eq_ignore_ascii_case("QUOTED-PRINTABLE")
            || param.split_once('=').is_some_and(|(name, value)| {
                name.trim().eq_ignore_ascii_case("ENCODING")
                    && value.trim().eq_ignore_ascii_case("QUOTED-PRINTABLE")
            })
    };
    let (mut quoted, mut start, mut first) = (false, 0, true);
    for (i, c) in head.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ';' | ':' if !quoted => {
                // The first piece is the property's name.
                if !first && asks(&head[start..i]) {
                    return true;
                }
                if c == ':' {
                    return false;
                }
                (start, first) = (i + 1, false);
            }
            _ => {}
        }
    }
    !first && !quoted && asks(&head[start..])
}

/// One property: upper-case name without its group, parameters (upper-case names, raw values
/// without quotes, list items joined by commas), raw value.
struct Prop<'a> {
    name: String,
    params: Vec<(String, String)>,
    value: &'a str,
    line: usize,
}

impl Prop<'_> {
    fn is(&self, name: &str, value: &str) -> bool {
        self.name == name && self.value.trim().eq_ignore_ascii_case(value)
    }

    fn param(&self, name: &'static str) -> impl Iterator<Item = &str> {
        self.params
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses `[group.]NAME *(;PARAM[=VALUE[,VALUE]]):value`; `None` when the line is not that.
fn parse_line(text: &str, line: usize) -> Option<Prop<'_>> {
    let bytes = text.as_bytes();
    let name_end = text.find([';', ':'])?;
    let full = &text[..name_end];
    let name = full.rsplit('.').next().unwrap_or(full);
    if name.is_empty()
        || !full
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        return None;
    }
    let mut params = Vec::new();
    let mut i = name_end;
    while bytes.get(i) == Some(&b';') {
        i += 1;
        let start = i;
        while i < bytes.len() && !matches!(bytes[i], b'=' | b';' | b':') {
            i += 1;
        }
        let pname = text[start..i].trim().to_ascii_uppercase();
        if bytes.get(i) != Some(&b'=') {
            // vCard 2.1 allows bare parameter values: `TEL;CELL:`, `;QUOTED-PRINTABLE:`.
            let key = match pname.as_str() {
                "QUOTED-PRINTABLE" | "BASE64" | "8BIT" | "7BIT" => "ENCODING",
                _ => "TYPE",
            };
            params.push((key.to_owned(), pname));
            continue;
        }
        i += 1;
        let mut value = String::new();
        loop {
            if bytes.get(i) == Some(&b'"') {
                let close = i + 1 + text[i + 1..].find('"')?;
                value.push_str(&text[i + 1..close]);
                i = close + 1;
            } else {
                let start = i;
                while i < bytes.len() && !matches!(bytes[i], b',' | b';' | b':') {
                    i += 1;
                }
                value.push_str(&text[start..i]);
            }
            if bytes.get(i) == Some(&b',') {
                value.push(',');
                i += 1;
            } else {
                break;
            }
        }
        params.push((pname, value));
    }
    if bytes.get(i) != Some(&b':') {
        return None;
    }
    Some(Prop {
        name: name.to_ascii_uppercase(),
        params,
        value: &text[i + 1..],
        line,
    })
}

/// Builds and validates card number `card_no` from its properties.
fn build(card_no: usize, props: &[Prop<'_>], naming: Naming) -> Result<Entry, ImportError> {
    let v4 = match props
        .iter()
        .find(|p| p.name == "VERSION")
        .map(|p| p.value.trim())
    {
        None | Some("2.1" | "3.0") => false,
        Some("4.0") => true,
        Some(other) => {
            let shown = &other[..floor_boundary(other, MAX_VERSION_SHOWN)];
            return Err(ImportError::UnsupportedVersion {
                card: card_no,
                version: shown.to_owned(),
            });
        }
    };
    let mut card = Card::default();
    let mut full_name: Option<String> = None;
    let mut n_name: Option<String> = None;
    let mut key: Option<PublicKey> = None;
    for p in props {
        let prop_name: &'static str = match p.name.as_str() {
            "FN" => "FN",
            "N" => "N",
            "TITLE" => "TITLE",
            "ORG" => "ORG",
            "EMAIL" => "EMAIL",
            "TEL" => "TEL",
            "URL" => "URL",
            "NOTE" => "NOTE",
            "CATEGORIES" => "CATEGORIES",
            "X-SOCIALPROFILE" => "X-SOCIALPROFILE",
            "X-MEISHI-KEY" => "X-MEISHI-KEY",
            "X-MEISHI-AVATAR" => "X-MEISHI-AVATAR",
            _ => continue, // PHOTO, ADR, X-ABLabel…: nothing in a meishi card holds them
        };
        let raw = decode(p, card_no, prop_name)?;
        let raw = raw.as_ref();
        match prop_name {
            "FN" => set_first(&mut full_name, unescape(raw)),
            "N" => {
                let parts: Vec<String> = split_unescaped(raw, ';').map(unescape).collect();
                set_first(&mut n_name, name_from_n(&parts));
            }
            "TITLE" => set_first(&mut card.title, unescape(raw)),
            "ORG" => set_first(
                &mut card.org,
                split_unescaped(raw, ';')
                    .next()
                    .map(unescape)
                    .unwrap_or_default(),
            ),
            "EMAIL" => push_value(&mut card.emails, strip_scheme(&unescape(raw), "mailto:")),
            "TEL" => {
                // 4.0 `TEL;VALUE=uri:tel:+1-555…`; a 3.0 text value is kept as written.
                let v = unescape(raw);
                let uri = p.param("VALUE").any(|v| v.eq_ignore_ascii_case("uri"));
                push_value(
                    &mut card.phones,
                    if uri { strip_scheme(&v, "tel:") } else { v },
                );
            }
            "URL" => push_value(&mut card.urls, unescape(raw)),
            "NOTE" => {
                // The card's note is one line: line breaks and tabs become spaces.
                let note = unescape(raw)
                    .replace("\r\n", " ")
                    .replace(['\r', '\n', '\t'], " ");
                set_first(&mut card.note, note);
            }
            "CATEGORIES" => {
                for tag in split_unescaped(raw, ',') {
                    push_value(&mut card.tags, unescape(tag));
                }
            }
            "X-SOCIALPROFILE" => {
                if let Some(s) = social(p, &unescape(raw), v4) {
                    card.socials.push(s);
                }
            }
            "X-MEISHI-KEY" => {
                let v = raw.trim();
                if v.is_empty() {
                    continue;
                }
                let parsed = if v.len() > MAX_KEY_CHARS {
                    Err(PeerIdError::NotEd25519)
                } else {
                    PublicKey::from_peer_id(v)
                };
                let parsed = parsed.map_err(|source| ImportError::BadKey {
                    card: card_no,
                    source,
                })?;
                match key {
                    Some(k) if k != parsed => {
                        return Err(ImportError::ConflictingKeys { card: card_no })
                    }
                    _ => key = Some(parsed),
                }
            }
            "X-MEISHI-AVATAR" => set_first(&mut card.avatar, unescape(raw)),
            _ => {}
        }
    }
    let mut named_by = None;
    card.name = match (full_name.or(n_name), naming) {
        (Some(name), _) => name,
        (None, Naming::Required) => return Err(ImportError::MissingName { card: card_no }),
        (None, Naming::Fallback) => {
            let (by, name) = fallback_name(&card).ok_or(ImportError::Empty { card: card_no })?;
            named_by = Some(by);
            name
        }
    };
    card.validate().map_err(|source| ImportError::Field {
        card: card_no,
        source,
    })?;
    Ok(Entry {
        imported: Imported { card, key },
        named_by,
    })
}

/// A display name from `N` (`family;given;additional;prefix;suffix`), used when `FN` is
/// missing. Names in Han, kana or Hangul are written family name first and without spaces
/// (山田太郎); others given name first (Dr. Johnny Q Appleseed Jr.).
fn name_from_n(parts: &[String]) -> String {
    let part = |i: usize| parts.get(i).map_or("", |s| s.trim());
    let east_asian = [0, 1, 2].iter().any(|&i| part(i).chars().any(is_cjk));
    if east_asian {
        let core: String = [0, 1, 2].iter().map(|&i| part(i)).collect();
        let words: Vec<&str> = [part(3), core.as_str(), part(4)]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect();
        return words.join(" ");
    }
    let words: Vec<&str> = [3, 1, 2, 0, 4]
        .iter()
        .map(|&i| part(i))
        .filter(|s| !s.is_empty())
        .collect();
    words.join(" ")
}

/// Han ideographs, kana and Hangul: the scripts whose names are written family name first.
fn is_cjk(c: char) -> bool {
    matches!(c,
        '\u{1100}'..='\u{11FF}'        // Hangul jamo
        | '\u{3040}'..='\u{30FF}'      // hiragana, katakana
        | '\u{3400}'..='\u{4DBF}'      // CJK extension A
        | '\u{4E00}'..='\u{9FFF}'      // CJK unified ideographs
        | '\u{AC00}'..='\u{D7AF}'      // Hangul syllables
        | '\u{F900}'..='\u{FAFF}'      // CJK compatibility ideographs
        | '\u{20000}'..='\u{3134F}'    // CJK extensions B..G
    )
}

/// A name for a card without one: its organization, else its first email, else its first
/// phone number; a value too long to be a name is passed over.
fn fallback_name(card: &Card) -> Option<(NamedBy, String)> {
    let candidates = [
        (NamedBy::Org, card.org.as_deref()),
        (NamedBy::Email, card.emails.first().map(String::as_str)),
        (NamedBy::Phone, card.phones.first().map(String::as_str)),
    ];
    candidates.into_iter().find_map(|(by, v)| {
        let v = v?.trim();
        (!v.is_empty() && v.len() <= crate::limits::MAX_NAME).then(|| (by, v.to_owned()))
    })
}

/// Keeps the first non-blank value of a single-valued field (4.0 allows several, e.g. one per
/// language). Blank values carry nothing and are skipped; many writers emit `TITLE:`.
fn set_first(slot: &mut Option<String>, v: String) {
    if slot.is_none() && !v.trim().is_empty() {
        *slot = Some(v);
    }
}

/// Adds a non-blank value to a list; limits are checked by [`Card::validate`] afterwards.
fn push_value(list: &mut Vec<String>, v: String) {
    if !v.trim().is_empty() {
        list.push(v);
    }
}

fn strip_scheme(v: &str, scheme: &str) -> String {
    match v.get(..scheme.len()) {
        Some(head) if head.eq_ignore_ascii_case(scheme) => v[scheme.len()..].to_owned(),
        _ => v.to_owned(),
    }
}

/// The property's value as text: undoes 2.1 quoted-printable; other encodings (base64 on a
/// text property) are an error.
fn decode<'a>(
    p: &Prop<'a>,
    card: usize,
    property: &'static str,
) -> Result<Cow<'a, str>, ImportError> {
    let err = || ImportError::Encoding {
        card,
        line: p.line,
        property,
    };
    let Some(encoding) = p.param("ENCODING").next() else {
        return Ok(Cow::Borrowed(p.value));
    };
    match encoding.to_ascii_uppercase().as_str() {
        "8BIT" | "7BIT" => Ok(Cow::Borrowed(p.value)),
        "QUOTED-PRINTABLE" => {
            let bytes = quoted_printable(p.value).ok_or_else(err)?;
            let latin1 = p
                .param("CHARSET")
                .any(|c| c.eq_ignore_ascii_case("ISO-8859-1"));
            if latin1 {
                Ok(Cow::Owned(bytes.iter().map(|&b| char::from(b)).collect()))
            } else {
                String::from_utf8(bytes).map(Cow::Owned).map_err(|_| err())
            }
        }
        _ => Err(err()),
    }
}

/// Decodes quoted-printable (soft line breaks were joined by [`unfold`]).
fn quoted_printable(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Undoes backslash escapes: `\\ \, \; \: \n \N`; an unknown escape is kept as written.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n' | 'N') => out.push('\n'),
            Some(e @ ('\\' | ',' | ';' | ':')) => out.push(e),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Splits at every `sep` that is not escaped by a backslash.
fn split_unescaped(s: &str, sep: char) -> impl Iterator<Item = &str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            parts.push(&s[start..i]);
            start = i + sep.len_utf8();
        }
    }
    parts.push(&s[start..]);
    parts.into_iter()
}

/// RFC 6868 parameter value decoding (4.0 only): `^^`, `^n`, `^'`.
fn caret_decode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('^', Some('^')) => out.push('^'),
            ('^', Some('n' | 'N')) => out.push('\n'),
            ('^', Some('\'')) => out.push('"'),
            _ => {
                out.push(c);
                continue;
            }
        }
        chars.next();
    }
    out
}

/// Reads `X-SOCIALPROFILE;TYPE=<kind>[;X-USER=<handle>]:<url>` (the form iOS writes).
/// The kind comes from TYPE or else from the URL's host; the handle from X-USER or else from
/// the URL with the kind's known prefix removed. A profile of no known kind that is a link
/// becomes a website; anything else is skipped like an unknown property.
fn social(p: &Prop<'_>, value: &str, v4: bool) -> Option<Social> {
    let value = value.trim();
    let kind = p
        .param("TYPE")
        .flat_map(|t| t.split(','))
        .find_map(SocialKind::from_name)
        .or_else(|| kind_from_url(value));
    let user = p
        .param("X-USER")
        .map(|u| if v4 { caret_decode(u) } else { u.to_owned() })
        .find(|u| !u.trim().is_empty());
    match kind {
        Some(kind) => {
            let handle = user
                .or_else(|| reduce_url(kind, value))
                .unwrap_or_else(|| value.to_owned());
            (!handle.trim().is_empty()).then_some(Social { kind, handle })
        }
        // A website reads the same whether or not TYPE named it (found by fuzzing).
        None if strip_http(value).is_some() => Some(Social {
            kind: SocialKind::WEBSITE,
            handle: reduce_url(SocialKind::WEBSITE, value).unwrap_or_else(|| value.to_owned()),
        }),
        None => None,
    }
}

/// `host/path` of an http(s) URL, without a leading `www.`.
fn strip_http(url: &str) -> Option<&str> {
    let rest = ["https://", "http://"].iter().find_map(|s| {
        let head = url.get(..s.len())?;
        head.eq_ignore_ascii_case(s).then(|| &url[s.len()..])
    })?;
    Some(match rest.get(..4) {
        Some(w) if w.eq_ignore_ascii_case("www.") => &rest[4..],
        _ => rest,
    })
}

/// Known `host/path-prefix` of each kind with a link form, plus the older twitter.com.
fn link_prefixes() -> impl Iterator<Item = (SocialKind, &'static str)> {
    SOCIAL_KINDS
        .iter()
        .filter(|(code, _, _)| SocialKind(*code) != SocialKind::WEBSITE)
        .filter_map(|&(code, _, prefix)| Some((SocialKind(code), strip_http(prefix)?)))
        .chain(SocialKind::from_name("x").map(|x| (x, "twitter.com/")))
}

fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.get(..prefix.len())
        .is_some_and(|h| h.eq_ignore_ascii_case(prefix))
}

fn kind_from_url(url: &str) -> Option<SocialKind> {
    let rest = strip_http(url)?;
    let host = rest.split('/').next().unwrap_or(rest);
    link_prefixes()
        .find(|(_, prefix)| {
            prefix
                .split('/')
                .next()
                .is_some_and(|h| h.eq_ignore_ascii_case(host))
        })
        .map(|(k, _)| k)
}

/// The handle inside a profile URL of `kind`, when the URL has the kind's known form.
fn reduce_url(kind: SocialKind, url: &str) -> Option<String> {
    if kind == SocialKind::WEBSITE {
        return url
            .strip_prefix("https://")
            .filter(|h| !h.is_empty())
            .map(str::to_owned);
    }
    let rest = strip_http(url)?;
    if kind == SocialKind::MASTODON {
        // https://host/@user -> @user@host
        let (host, path) = rest.split_once('/')?;
        let user = path.strip_prefix('@')?.trim_end_matches('/');
        return (!host.is_empty() && !user.is_empty() && !user.contains('/'))
            .then(|| format!("@{user}@{host}"));
    }
    link_prefixes()
        .filter(|(k, _)| *k == kind)
        .find(|(_, prefix)| starts_with_ignore_case(rest, prefix))
        .map(|(_, prefix)| rest[prefix.len()..].trim_end_matches('/').to_owned())
        .filter(|h| !h.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{limits, Identity};
    use proptest::prelude::*;

    fn key(seed: u8) -> PublicKey {
        Identity::from_seed(&[seed; 32]).public()
    }

    fn social(kind: &str, handle: &str) -> Social {
        Social {
            kind: SocialKind::from_name(kind).expect("known kind"),
            handle: handle.into(),
        }
    }

    /// A card with every field filled, non-ASCII included.
    fn full_card() -> Card {
        Card {
            name: "Zoë Ōkubo 名刺".into(),
            title: Some("Ingénieure, R&D; \"Kern\" \\ Team".into()),
            org: Some("Ōkubo; Söhne, GmbH".into()),
            emails: vec!["zoe@example.org".into(), "zoë@例え.jp".into()],
            phones: vec!["+81 3-1234-5678".into(), "+49 (30) 123,4;5".into()],
            urls: vec![
                "https://example.org/a,b;c?d=1\\2".into(),
                "https://名刺.example/ページ".into(),
            ],
            socials: vec![
                social("linkedin", "zoe-okubo"),
                social("github", "zokubo"),
                social("mastodon", "@zoe@social.example"),
                social("x", "@zoe"),
                social("bluesky", "zoe.bsky.social"),
                social("website", "zoe.example"),
                social("signal", "zoe.42"),
                Social {
                    kind: SocialKind(200),
                    handle: "future, kind; ^x".into(),
                },
            ],
            note: Some(
                "Ask me about 名刺 — and «vCards», commas, semi;colons\\backslashes "
                    .repeat(3)
                    .chars()
                    .take(90)
                    .collect(),
            ),
            tags: vec!["rust".into(), "p2p, mesh".into(), "名刺;交換".into()],
            avatar: Some("https://example.org/zoe.png".into()),
            comment: None,
        }
    }

    /// Asserts every physical line of `text` is CRLF-terminated, at most 75 octets, and valid
    /// UTF-8 on its own (no fold splits a sequence).
    fn check_lines(text: &str) {
        let bytes = text.as_bytes();
        let body = bytes
            .strip_suffix(b"\n")
            .expect("output ends with a line end");
        for line in body.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").expect("every line ends with CRLF");
            assert!(!line.contains(&b'\r'), "bare CR in {line:?}");
            assert!(
                line.len() <= MAX_LINE_OCTETS,
                "line of {} octets: {:?}",
                line.len(),
                String::from_utf8_lossy(line)
            );
            assert!(
                std::str::from_utf8(line).is_ok(),
                "fold split a UTF-8 sequence: {line:?}"
            );
        }
    }

    fn check_round_trip(card: &Card, key: Option<PublicKey>, version: Version) {
        let text = export(card, key.as_ref(), version);
        check_lines(&text);
        let back = import(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(
            back,
            vec![Imported {
                card: card.clone(),
                key
            }],
            "{version:?}\n{text}"
        );
    }

    #[test]
    fn round_trips_every_field_in_both_versions() {
        let card = full_card();
        card.validate().expect("test card is valid");
        for version in [Version::V3, Version::V4] {
            check_round_trip(&card, Some(key(1)), version);
            check_round_trip(&card, None, version);
            check_round_trip(&Card::new("Cher"), None, version);
        }
    }

    #[test]
    fn snapshot_of_the_3_0_form() {
        let mut card = Card::new("Ada King Lovelace");
        card.org = Some("Engines, Ltd".into());
        card.emails = vec!["ada@example.org".into()];
        card.socials = vec![social("github", "ada")];
        card.tags = vec!["rust".into(), "a,b".into()];
        let k = key(7);
        let expected = format!(
            "BEGIN:VCARD\r\nVERSION:3.0\r\nN:;;;;\r\nFN:Ada King Lovelace\r\nORG:Engines\\, Ltd\r\n\
             EMAIL;TYPE=INTERNET:ada@example.org\r\nX-SOCIALPROFILE;TYPE=github;X-USER=ada:https://github.com/ada\r\n\
             CATEGORIES:rust,a\\,b\r\nX-MEISHI-KEY:{}\r\nEND:VCARD\r\n",
            k.peer_id()
        );
        assert_eq!(export(&card, Some(&k), Version::V3), expected);
        let v4 = export(&card, Some(&k), Version::V4);
        assert!(
            v4.starts_with("BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Ada King Lovelace\r\n"),
            "4.0 has no N: {v4}"
        );
        assert!(v4.contains("\r\nEMAIL:ada@example.org\r\n"), "{v4}");
    }

    #[test]
    fn export_never_splits_the_name() {
        // Family name first, an emoji last, one word, a comma: FN holds the name as written
        // and N (3.0 only) is empty, so no reader files anyone under a guessed family name.
        for name in [
            "山田 太郎",
            "Ada Lovelace 👩\u{200D}💻",
            "Cher",
            "Nguyễn Văn An",
            "Doe, Jane",
        ] {
            let card = Card::new(name);
            let v3 = export(&card, None, Version::V3);
            assert!(
                v3.contains(&format!("\r\nN:;;;;\r\nFN:{}\r\n", escape_text(name))),
                "{v3}"
            );
            let v4 = export(&card, None, Version::V4);
            assert!(!v4.contains("\r\nN:"), "{v4}");
            for version in [Version::V3, Version::V4] {
                check_round_trip(&card, None, version);
            }
        }
    }

    #[test]
    fn names_from_n_when_fn_is_missing() {
        let check = |n: &str, expected: &str| {
            let text = format!("BEGIN:VCARD\nVERSION:3.0\nN:{n}\nEND:VCARD\n");
            let got = import(&text).map(|v| v[0].card.name.clone());
            assert_eq!(got.as_deref(), Ok(expected), "N:{n}");
        };
        check("Lovelace;Ada;;;", "Ada Lovelace");
        check("Appleseed;Johnny;Q;Dr.;Jr.", "Dr. Johnny Q Appleseed Jr.");
        check("Lovelace", "Lovelace");
        check(";Cher;;;", "Cher");
        check("山田;太郎;;;", "山田太郎");
        check("김;민준;;;", "김민준");
        check("やまだ;たろう", "やまだたろう");
        check("  Lovelace ; Ada ;;;", "Ada Lovelace");
        // FN wins over N.
        let text = "BEGIN:VCARD\nN:Lovelace;Ada;;;\nFN:Countess of Lovelace\nEND:VCARD\n";
        assert_eq!(
            import(text).expect("fn")[0].card.name,
            "Countess of Lovelace"
        );
    }

    #[test]
    fn escapes_values() {
        let check = |input: &str, escaped: &str| {
            assert_eq!(escape_text(input), escaped, "escape {input:?}");
            assert_eq!(
                unescape(escaped),
                input.replace("\r\n", "\n"),
                "unescape {escaped:?}"
            );
        };
        check("plain", "plain");
        check("a,b;c\\d", "a\\,b\\;c\\\\d");
        check("two\nlines", "two\\nlines");
        check("crlf\r\nline", "crlf\\nline");
        check("名刺,ü", "名刺\\,ü");
        check("https://e.org/a,b;c", "https://e.org/a\\,b\\;c");
        // Export never writes raw control characters, even for an invalid card.
        assert_eq!(escape_text("bell\x07tab\t"), "bell\u{FFFD}tab ");
    }

    #[test]
    fn unescapes_leniently() {
        let check =
            |input: &str, expected: &str| assert_eq!(unescape(input), expected, "{input:?}");
        check("a\\Nb", "a\nb");
        check("a\\:b", "a:b");
        check("unknown \\x escape", "unknown \\x escape");
        check("trailing \\", "trailing \\");
    }

    #[test]
    fn folds_without_splitting_utf8() {
        // "NOTE:" + 69 ASCII = 74 octets; the next character (3 octets) must go to line two.
        let mut card = Card::new("N");
        card.note = Some(format!("{}名{}", "a".repeat(69), "é".repeat(100)));
        let text = export(&card, None, Version::V3);
        check_lines(&text);
        let note_line = text
            .split("\r\n")
            .find(|l| l.starts_with("NOTE:"))
            .expect("note line");
        assert_eq!(note_line.len(), 74, "{note_line:?}");
        assert!(text.contains("\r\n 名"), "{text}");
        // A continuation line holds 74 octets after its space: 37 two-octet characters.
        assert!(
            text.contains(&format!("\r\n {}\r\n", "é".repeat(37))),
            "{text}"
        );
        assert_eq!(import(&text).expect("import")[0].card, card);

        let mut long = String::new();
        push_folded(&mut long, &"x".repeat(75));
        assert_eq!(
            long,
            format!("{}\r\n", "x".repeat(75)),
            "75 octets fit on one line"
        );
        long.clear();
        push_folded(&mut long, &"x".repeat(76));
        assert_eq!(long, format!("{}\r\n x\r\n", "x".repeat(75)));
    }

    #[test]
    fn long_note_with_multibyte_characters_folds_at_every_offset() {
        for shift in 0..4 {
            let mut card = Card::new("Zoë Ōkubo 名刺");
            let mut note = "n".repeat(shift);
            while note.len() + "名😀é".len() <= limits::MAX_NOTE {
                note.push_str("名😀é");
            }
            card.note = Some(note);
            for version in [Version::V3, Version::V4] {
                check_round_trip(&card, Some(key(2)), version);
            }
        }
    }

    #[test]
    fn multi_card_file() {
        let mut b = Card::new("Bob");
        b.phones = vec!["+1 555 0100".into()];
        let items = vec![
            (full_card(), Some(key(1))),
            (b, None),
            (Card::new("名刺 太郎"), Some(key(3))),
        ];
        for version in [Version::V3, Version::V4] {
            let text = export_many(&items, version);
            check_lines(&text);
            let back = import(&text).expect("import");
            let expected: Vec<Imported> = items
                .iter()
                .map(|(card, key)| Imported {
                    card: card.clone(),
                    key: *key,
                })
                .collect();
            assert_eq!(back, expected);
        }
        // LF line ends and tab folding are read too.
        let lf = export_many(&items, Version::V3)
            .replace("\r\n ", "\n\t")
            .replace("\r\n", "\n");
        assert_eq!(import(&lf).expect("lf").len(), 3);
    }

    #[test]
    fn reference_card_round_trips() {
        // The copy of shared/reference-cards/ada.json kept in the repository.
        let json = include_str!("../testdata/ada.json");
        let card: Card = serde_json::from_str(json).expect("ada.json is a Card");
        let card = Card {
            comment: None,
            ..card
        };
        for version in [Version::V3, Version::V4] {
            check_round_trip(&card, Some(key(9)), version);
        }
        let text = export(&card, None, Version::V3).replace("\r\n ", "");
        assert!(text.contains("\r\nX-SOCIALPROFILE;TYPE=linkedin;X-USER=ada-lovelace:https://www.linkedin.com/in/ada-lovelace\r\n"), "{text}");
        assert!(text.contains("\r\nN:;;;;\r\n"), "{text}");
    }

    const APPLE: &str = "BEGIN:VCARD\r
VERSION:3.0\r
PRODID:-//Apple Inc.//iPhone OS 17.0//EN\r
N:Appleseed;Johnny;Q;Dr.;Jr.\r
FN:Johnny Appleseed\r
ORG:Apple\\, Inc.;Engineering;\r
TITLE:Engineer\r
item1.EMAIL;type=INTERNET;type=pref:johnny@example.com\r
item1.X-ABLabel:_$!<Other>!$_\r
EMAIL;type=INTERNET;type=WORK:j.appleseed@work.example\r
TEL;type=CELL;type=VOICE;type=pref:+1 (408) 555-0100\r
item2.URL;type=pref:https://www.example.com/johnny\r
item2.X-ABLabel:_$!<HomePage>!$_\r
X-SOCIALPROFILE;type=linkedin;x-user=johnnyapple:http://www.linkedin.com/in/johnnyapple\r
X-SOCIALPROFILE;type=twitter:http://twitter.com/jappleseed\r
X-SOCIALPROFILE;type=facebook:https://www.facebook.com/johnny\r
x-socialprofile:https://github.com/jseed/\r
X-SOCIALPROFILE;type=mastodon:https://mastodon.example/@johnny\r
NOTE:First line\\nsecond line\\, with comma\r
PHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAMCAgMCAgMDAwMEAwMEBQgFBQQEBQoH\r
 BwYIDAoMDAsKCwsNDhIQDQ4RDgsLEBYQERMUFRUVDA8XGBYUGBIUFRT/2wBDAQMEBAUEBQkF\r
ADR;type=HOME;type=pref:;;1 Infinite Loop;Cupertino;CA;95014;USA\r
CATEGORIES:friends,apple\r
END:VCARD\r
";

    #[test]
    fn reads_an_apple_style_vcard() {
        let got = import(APPLE).expect("apple vcard");
        let expected = Card {
            name: "Johnny Appleseed".into(),
            title: Some("Engineer".into()),
            org: Some("Apple, Inc.".into()),
            emails: vec![
                "johnny@example.com".into(),
                "j.appleseed@work.example".into(),
            ],
            phones: vec!["+1 (408) 555-0100".into()],
            urls: vec!["https://www.example.com/johnny".into()],
            socials: vec![
                social("linkedin", "johnnyapple"),
                social("x", "jappleseed"),
                social("website", "www.facebook.com/johnny"),
                social("github", "jseed"),
                social("mastodon", "@johnny@mastodon.example"),
            ],
            note: Some("First line second line, with comma".into()),
            tags: vec!["friends".into(), "apple".into()],
            ..Card::default()
        };
        assert_eq!(
            got,
            vec![Imported {
                card: expected,
                key: None
            }]
        );
    }

    #[test]
    fn reads_vcard_2_1_and_4_0_forms() {
        let v21 = "BEGIN:VCARD\nVERSION:2.1\nN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:=E5=90=8D=E5=88=BA;=E5=A4=AA=E9=83=8E;;;\n\
                   TEL;CELL:+81-90-0000-0000\nNOTE;ENCODING=QUOTED-PRINTABLE:caf=C3=A9 =\n=E5=90=8D\n\
                   TITLE;CHARSET=ISO-8859-1;ENCODING=QUOTED-PRINTABLE:Caf=E9\nEND:VCARD\n";
        let got = import(v21).expect("2.1");
        assert_eq!(got[0].card.name, "名刺太郎", "family name first");
        assert_eq!(got[0].card.phones, ["+81-90-0000-0000"]);
        assert_eq!(got[0].card.note.as_deref(), Some("café 名"));
        assert_eq!(got[0].card.title.as_deref(), Some("Café"));

        let v4 = "begin:vcard\r\nversion:4.0\r\nfn:Ann\r\ntel;value=uri;type=\"work,voice\":tel:+1-555-555-0100\r\n\
                  email;pref=1:mailto:ann@example.org\r\nX-SOCIALPROFILE;TYPE=github;X-USER=\"a^'b^^c\":https://github.com/x\r\n\
                  TITLE:\r\nend:vcard\r\n";
        let got = import(v4).expect("4.0");
        assert_eq!(got[0].card.phones, ["+1-555-555-0100"]);
        assert_eq!(got[0].card.emails, ["ann@example.org"]);
        assert_eq!(got[0].card.socials, [social("github", "a\"b^c")]);
        assert_eq!(got[0].card.title, None, "blank values are skipped");
    }

    #[test]
    fn handles_that_parameters_cannot_carry() {
        // 3.0 cannot quote a DQUOTE; the handle comes back from the URL. 4.0 caret-encodes it.
        let mut card = Card::new("Q");
        card.socials = vec![
            social("github", "we\"ird"),
            social("mastodon", "quo\"te"),
            social("x", "a:b;c,d"),
        ];
        for version in [Version::V3, Version::V4] {
            check_round_trip(&card, None, version);
        }
        assert!(export(&card, None, Version::V3)
            .contains("X-SOCIALPROFILE;TYPE=x;X-USER=\"a:b;c,d\":https://x.com/a:b\\;c\\,d"));
        assert!(export(&card, None, Version::V4).contains("X-USER=we^'ird"));
    }

    fn check_err(input: &str, expected: ImportError) {
        let err = import(input).expect_err(input);
        assert_eq!(err, expected, "{input:?}");
        let msg = err.to_string();
        assert!(
            !msg.contains('\n') && !msg.is_empty(),
            "one-line message: {msg:?}"
        );
    }

    fn one(body: &str) -> String {
        format!("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ok\r\nEND:VCARD\r\nBEGIN:VCARD\r\nVERSION:3.0\r\n{body}END:VCARD\r\n")
    }

    fn field(card: usize, source: FieldError) -> ImportError {
        ImportError::Field { card, source }
    }

    #[test]
    fn every_error_path() {
        use ImportError::*;
        check_err(
            &"x".repeat(MAX_VCF_BYTES + 1),
            TooLarge {
                len: MAX_VCF_BYTES + 1,
                max: MAX_VCF_BYTES,
            },
        );
        check_err(
            &"BEGIN:VCARD\nFN:a\nEND:VCARD\n".repeat(MAX_VCF_CARDS + 1),
            TooManyCards { max: MAX_VCF_CARDS },
        );
        assert_eq!(
            import(&"BEGIN:VCARD\nFN:a\nEND:VCARD\n".repeat(MAX_VCF_CARDS)).map(|v| v.len()),
            Ok(MAX_VCF_CARDS)
        );
        check_err("", NoCards);
        check_err("\r\n \r\n\r\n", NoCards);
        check_err("hello world", OutsideCard { line: 1 });
        check_err(
            "BEGIN:VCARD\nFN:a\nEND:VCARD\nFN:b\n",
            OutsideCard { line: 4 },
        );
        check_err("END:VCARD\n", OutsideCard { line: 1 });
        check_err("BEGIN:VCARD\nFN:a\n", Unterminated { card: 1 });
        check_err(
            &format!("{}BEGIN:VCARD\nFN:b\n", one("FN:c\r\n")),
            Unterminated { card: 3 },
        );
        check_err(&one("BEGIN:VCARD\r\n"), NestedCard { card: 2, line: 7 });
        check_err(&one("no colon here\r\n"), Malformed { card: 2, line: 7 });
        check_err(&one("bad name:x\r\n"), Malformed { card: 2, line: 7 });
        check_err(
            &one("X-A;P=\"unclosed:x\r\n"),
            Malformed { card: 2, line: 7 },
        );
        check_err(&one("END:VCALENDAR\r\n"), Malformed { card: 2, line: 7 });
        check_err(
            "BEGIN:VCARD\nVERSION:5.0\nFN:a\nEND:VCARD\n",
            UnsupportedVersion {
                card: 1,
                version: "5.0".into(),
            },
        );
        check_err(
            &format!(
                "BEGIN:VCARD\nVERSION:{}\nFN:a\nEND:VCARD\n",
                "9".repeat(1000)
            ),
            UnsupportedVersion {
                card: 1,
                version: "9".repeat(16),
            },
        );
        check_err(&one("N:;;;;\r\nTITLE:t\r\n"), MissingName { card: 2 });
        check_err(&one("FN:\r\n"), MissingName { card: 2 });
        check_err(
            &one("FN;ENCODING=QUOTED-PRINTABLE:=FF=FE\r\n"),
            Encoding {
                card: 2,
                line: 7,
                property: "FN",
            },
        );
        check_err(
            &one("FN;ENCODING=QUOTED-PRINTABLE:=ZZ\r\n"),
            Encoding {
                card: 2,
                line: 7,
                property: "FN",
            },
        );
        check_err(
            &one("FN;ENCODING=b:QWRh\r\n"),
            Encoding {
                card: 2,
                line: 7,
                property: "FN",
            },
        );
        check_err(
            &one("FN:x\r\nX-MEISHI-KEY:not a key\r\n"),
            BadKey {
                card: 2,
                source: PeerIdError::Base58(
                    bs58::decode("not a key")
                        .into_vec()
                        .expect_err("not base58")
                        .to_string(),
                ),
            },
        );
        check_err(
            &one("FN:x\r\nX-MEISHI-KEY:QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N\r\n"),
            BadKey {
                card: 2,
                source: PeerIdError::NotEd25519,
            },
        );
        check_err(
            &one(&format!("FN:x\r\nX-MEISHI-KEY:{}\r\n", "1".repeat(100_000))),
            BadKey {
                card: 2,
                source: PeerIdError::NotEd25519,
            },
        );
        check_err(
            &one(&format!(
                "FN:x\r\nX-MEISHI-KEY:{}\r\nX-MEISHI-KEY:{}\r\n",
                key(1).peer_id(),
                key(2).peer_id()
            )),
            ConflictingKeys { card: 2 },
        );
        // The same key twice is fine.
        let twice = one(&format!(
            "FN:x\r\nX-MEISHI-KEY:{0}\r\nitem1.X-MEISHI-KEY: {0}\r\n",
            key(1).peer_id()
        ));
        assert_eq!(import(&twice).expect("same key")[1].key, Some(key(1)));

        // Card limits: an error naming the card and the field, never a truncation.
        let long = |n: usize| "a".repeat(n);
        check_err(
            &one(&format!("FN:{}\r\n", long(limits::MAX_NAME + 1))),
            field(
                2,
                FieldError::TooLong {
                    field: "name",
                    len: limits::MAX_NAME + 1,
                    max: limits::MAX_NAME,
                },
            ),
        );
        check_err(
            &one(&format!("FN:x\r\nNOTE:{}\r\n", long(limits::MAX_NOTE + 1))),
            field(
                2,
                FieldError::TooLong {
                    field: "note",
                    len: limits::MAX_NOTE + 1,
                    max: limits::MAX_NOTE,
                },
            ),
        );
        check_err(
            &one(&format!("FN:x\r\nORG:{}\r\n", long(limits::MAX_SHORT + 1))),
            field(
                2,
                FieldError::TooLong {
                    field: "org",
                    len: limits::MAX_SHORT + 1,
                    max: limits::MAX_SHORT,
                },
            ),
        );
        check_err(
            &one(&format!(
                "FN:x\r\n{}",
                "EMAIL:a@b\r\n".repeat(limits::MAX_VALUES + 1)
            )),
            field(
                2,
                FieldError::TooMany {
                    field: "emails",
                    count: limits::MAX_VALUES + 1,
                    max: limits::MAX_VALUES,
                },
            ),
        );
        check_err(
            &one(&format!(
                "FN:x\r\nCATEGORIES:{}\r\n",
                vec!["t"; limits::MAX_TAGS + 1].join(",")
            )),
            field(
                2,
                FieldError::TooMany {
                    field: "tags",
                    count: limits::MAX_TAGS + 1,
                    max: limits::MAX_TAGS,
                },
            ),
        );
        check_err(
            &one(&format!(
                "FN:x\r\nCATEGORIES:{}\r\n",
                long(limits::MAX_TAG + 1)
            )),
            field(
                2,
                FieldError::TooLong {
                    field: "tags",
                    len: limits::MAX_TAG + 1,
                    max: limits::MAX_TAG,
                },
            ),
        );
        check_err(
            &one(&format!("FN:x\r\nTEL:{}\r\n", long(limits::MAX_PHONE + 1))),
            field(
                2,
                FieldError::TooLong {
                    field: "phones",
                    len: limits::MAX_PHONE + 1,
                    max: limits::MAX_PHONE,
                },
            ),
        );
        check_err(
            &one(&format!(
                "FN:x\r\nX-SOCIALPROFILE;TYPE=github:{}\r\n",
                long(limits::MAX_SHORT + 1)
            )),
            field(
                2,
                FieldError::TooLong {
                    field: "socials",
                    len: limits::MAX_SHORT + 1,
                    max: limits::MAX_SHORT,
                },
            ),
        );
        check_err(
            &one(&format!(
                "FN:x\r\n{}",
                "X-SOCIALPROFILE;TYPE=github:a\r\n".repeat(limits::MAX_SOCIALS + 1)
            )),
            field(
                2,
                FieldError::TooMany {
                    field: "socials",
                    count: limits::MAX_SOCIALS + 1,
                    max: limits::MAX_SOCIALS,
                },
            ),
        );
        // Control characters: an escaped newline is a space in the note, an error elsewhere.
        check_err(
            &one("FN:two\\nlines\r\n"),
            field(
                2,
                FieldError::ControlCharacter {
                    field: "name",
                    code: 0x0A,
                },
            ),
        );
        check_err(
            &one("FN:x\r\nTITLE:bell\x07\r\n"),
            field(
                2,
                FieldError::ControlCharacter {
                    field: "title",
                    code: 0x07,
                },
            ),
        );
        check_err(
            &one("FN:x\r\nNOTE:esc\x1b[2J\r\n"),
            field(
                2,
                FieldError::ControlCharacter {
                    field: "note",
                    code: 0x1B,
                },
            ),
        );
        let note = import(&one("FN:x\r\nNOTE:a\\nb\\Nc\r\n")).expect("note");
        assert_eq!(note[1].card.note.as_deref(), Some("a b c"));
    }

    /// `import_each` as (card number, name or error) pairs.
    fn each(text: &str) -> Vec<Result<(String, Option<NamedBy>), ImportError>> {
        import_each(text)
            .expect("file-level error")
            .into_iter()
            .map(|r| r.map(|e| (e.imported.card.name, e.named_by)))
            .collect()
    }

    #[test]
    fn import_each_reads_every_card_it_can() {
        let text = format!(
            "BEGIN:VCARD\nFN:Ada\nEND:VCARD\n\
             BEGIN:VCARD\nFN:{long}\nEND:VCARD\n\
             BEGIN:VCARD\nVERSION:5.0\nFN:Future\nEND:VCARD\n\
             BEGIN:VCARD\nno colon\nFN:Broken\nEND:VCARD\n\
             BEGIN:VCARD\nFN:Lost its end\n\
             BEGIN:VCARD\nN:;;;;\nEMAIL:only@example.org\nTEL:+1 555\nEND:VCARD\n\
             BEGIN:VCARD\nORG:Acme\\, Inc.;Sales\nEMAIL:a@acme.example\nEND:VCARD\n\
             BEGIN:VCARD\nTEL:+81 3-1234-5678\nNOTE:just a phone\nEND:VCARD\n\
             BEGIN:VCARD\nEMAIL:{long_email}@example.org\nTEL:+1 555 0100\nEND:VCARD\n\
             BEGIN:VCARD\nNOTE:nothing to name it by\nURL:https://example.org\nEND:VCARD\n\
             BEGIN:VCARD\nBEGIN:VCALENDAR\nFN:x\nEND:VCALENDAR\nEND:VCARD\n\
             BEGIN:VCARD\nFN:Last\n",
            long = "a".repeat(limits::MAX_NAME + 1),
            long_email = "e".repeat(limits::MAX_NAME),
        );
        use ImportError::*;
        assert_eq!(
            each(&text),
            vec![
                Ok(("Ada".into(), None)),
                Err(field(
                    2,
                    FieldError::TooLong {
                        field: "name",
                        len: limits::MAX_NAME + 1,
                        max: limits::MAX_NAME
                    }
                )),
                Err(UnsupportedVersion {
                    card: 3,
                    version: "5.0".into()
                }),
                Err(Malformed { card: 4, line: 12 }),
                Err(NestedCard { card: 5, line: 17 }),
                Ok(("only@example.org".into(), Some(NamedBy::Email))),
                Ok(("Acme, Inc.".into(), Some(NamedBy::Org))),
                Ok(("+81 3-1234-5678".into(), Some(NamedBy::Phone))),
                // An email too long to be a name is passed over for the phone.
                Ok(("+1 555 0100".into(), Some(NamedBy::Phone))),
                Err(Empty { card: 10 }),
                Err(NestedCard { card: 11, line: 39 }),
                Err(Unterminated { card: 12 }),
            ]
        );
        // Every message is one line that names its card.
        for (i, r) in import_each(&text).expect("file").iter().enumerate() {
            if let Err(e) = r {
                let msg = e.to_string();
                assert!(!msg.contains('\n'), "{msg}");
                let rest = msg.strip_prefix(&format!("card {}", i + 1));
                assert!(
                    rest.is_some_and(|r| r.starts_with([' ', ':', ','])),
                    "{msg}"
                );
            }
        }
        // The strict reader stops at the first bad card, and never names a nameless one.
        assert_eq!(
            import(&text),
            Err(field(
                2,
                FieldError::TooLong {
                    field: "name",
                    len: limits::MAX_NAME + 1,
                    max: limits::MAX_NAME
                }
            ))
        );
        assert_eq!(
            import("BEGIN:VCARD\nEMAIL:a@b.example\nEND:VCARD\n"),
            Err(MissingName { card: 1 })
        );
    }

    #[test]
    fn import_each_keeps_file_level_errors_and_bounds() {
        use ImportError::*;
        let check = |input: &str, expected: ImportError| {
            assert_eq!(import_each(input), Err(expected), "{input:.60}");
        };
        check(
            &"x".repeat(MAX_VCF_BYTES + 1),
            TooLarge {
                len: MAX_VCF_BYTES + 1,
                max: MAX_VCF_BYTES,
            },
        );
        check("", NoCards);
        check("\n\n", NoCards);
        check("hello world", OutsideCard { line: 1 });
        check(
            "BEGIN:VCARD\nFN:a\nEND:VCARD\nFN:b\n",
            OutsideCard { line: 4 },
        );
        // Bad cards count towards the limit too.
        check(
            &"BEGIN:VCARD\nEND:VCARD\n".repeat(MAX_VCF_CARDS + 1),
            TooManyCards { max: MAX_VCF_CARDS },
        );
        check(
            &"BEGIN:VCARD\n".repeat(MAX_VCF_CARDS + 1),
            TooManyCards { max: MAX_VCF_CARDS },
        );
        let most =
            import_each(&"BEGIN:VCARD\nEND:VCARD\n".repeat(MAX_VCF_CARDS)).expect("at the limit");
        assert_eq!(most.len(), MAX_VCF_CARDS);
        assert_eq!(
            most[MAX_VCF_CARDS - 1],
            Err(Empty {
                card: MAX_VCF_CARDS
            })
        );
    }

    #[test]
    fn skips_what_meishi_has_no_field_for() {
        // A large folded PHOTO, Apple labels, Exchange's REV with a comma fraction, parameters
        // of every shape, and 2.1 quoted-printable with soft line breaks: all read or ignored.
        let photo: String = (0..4000)
            .map(|i| char::from(b"ABCDwxyz0189+/"[i % 14]))
            .collect();
        let folded: String = photo
            .as_bytes()
            .chunks(74)
            .map(|c| format!(" {}\r\n", String::from_utf8_lossy(c)))
            .collect();
        let text = format!(
            "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ann\r\nPHOTO;ENCODING=b;TYPE=JPEG:\r\n{folded}\
             item1.URL;type=pref:https://ann.example\r\nitem1.X-ABLabel:_$!<HomePage>!$_\r\n\
             item2.EMAIL;type=INTERNET:ann@example.org\r\nitem2.X-ABLabel:_$!<Other>!$_\r\n\
             REV:2023-05-01T10:20:30,123Z\r\nX-MS-OL-DEFAULT-POSTAL-ADDRESS:2\r\n\
             X-SOCIALPROFILE;TYPE=twitter:https://twitter.com/x\r\n\
             X-SOCIALPROFILE;type=mastodon:https://mastodon.example/@ann\r\n\
             NOTE;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:caf=C3=\r\n=A9 ok\r\nEND:VCARD\r\n"
        );
        let got = import_each(&text).expect("file");
        let card = &got[0].as_ref().expect("card").imported.card;
        assert_eq!(card.urls, ["https://ann.example"]);
        assert_eq!(card.emails, ["ann@example.org"]);
        assert_eq!(
            card.socials,
            [
                social("x", "x"),
                social("mastodon", "@ann@mastodon.example")
            ]
        );
        assert_eq!(card.note.as_deref(), Some("café ok"));
    }

    /// Writes `text` to a Python vobject parser and returns what it read, or `None` (after a
    /// loud message) when python3 or vobject is missing.
    fn vobject_read(text: &str) -> Option<serde_json::Value> {
        use std::io::Write;
        const SCRIPT: &str = r#"
import sys, json
try:
    import vobject
except ImportError:
    sys.exit(77)
out = []
for c in vobject.readComponents(sys.stdin.buffer.read().decode("utf-8")):
    g = lambda n: [l.value for l in c.contents.get(n, [])]
    out.append({
        "fn": g("fn"), "n": [[l.value.family, l.value.given] for l in c.contents.get("n", [])],
        "org": g("org"), "title": g("title"), "email": g("email"), "tel": g("tel"), "url": g("url"),
        "note": g("note"), "categories": g("categories"), "key": g("x-meishi-key"),
        "social": [[l.params.get("TYPE"), l.params.get("X-USER"), l.value] for l in c.contents.get("x-socialprofile", [])],
    })
print(json.dumps(out))
"#;
        let child = std::process::Command::new("python3")
            .args(["-c", SCRIPT])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn();
        let Ok(mut child) = child else {
            assert!(
                std::env::var_os("MEISHI_REQUIRE_ALL").is_none(),
                "MEISHI_REQUIRE_ALL: python3 is not installed"
            );
            eprintln!("!!! SKIPPED vobject check: python3 is not installed");
            return None;
        };
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("write");
        let out = child.wait_with_output().expect("python3 ran");
        if out.status.code() == Some(77) {
            assert!(
                std::env::var_os("MEISHI_REQUIRE_ALL").is_none(),
                "MEISHI_REQUIRE_ALL: the vobject check cannot run (pip install vobject)"
            );
            eprintln!("!!! SKIPPED vobject check: `pip install vobject` to run it");
            return None;
        }
        assert!(out.status.success(), "vobject failed on:\n{text}");
        Some(serde_json::from_slice(&out.stdout).expect("json"))
    }

    #[test]
    fn an_independent_parser_reads_our_3_0_output() {
        let card = full_card();
        let text = export_many(
            &[(card.clone(), Some(key(1))), (Card::new("Bob"), None)],
            Version::V3,
        );
        let Some(got) = vobject_read(&text) else {
            return;
        };
        let c = &got[0];
        let strs = |v: &[String]| serde_json::json!(v);
        assert_eq!(c["fn"], serde_json::json!([card.name]));
        assert_eq!(
            c["n"],
            serde_json::json!([["", ""]]),
            "N is empty, never guessed"
        );
        assert_eq!(c["org"], serde_json::json!([[card.org.as_deref()]]));
        assert_eq!(c["title"], serde_json::json!([card.title.as_deref()]));
        assert_eq!(c["email"], strs(&card.emails));
        assert_eq!(c["tel"], strs(&card.phones));
        assert_eq!(c["url"], strs(&card.urls));
        assert_eq!(c["note"], serde_json::json!([card.note.as_deref()]));
        assert_eq!(c["categories"], serde_json::json!([card.tags]));
        assert_eq!(c["key"], serde_json::json!([key(1).peer_id()]));
        assert_eq!(
            c["social"][0],
            serde_json::json!([
                ["linkedin"],
                ["zoe-okubo"],
                "https://www.linkedin.com/in/zoe-okubo"
            ])
        );
        assert_eq!(
            c["social"][7],
            serde_json::json!([["social-200"], ["future, kind; ^x"], "future, kind; ^x"])
        );
        assert_eq!(got[1]["fn"], serde_json::json!(["Bob"]));
        eprintln!("vobject read: {got}");
    }

    fn text(max_chars: usize) -> impl Strategy<Value = String> {
        // ASCII specials that need escaping or quoting, spaces, and 2-, 3- and 4-octet UTF-8.
        prop::collection::vec(
            prop_oneof![
                4 => proptest::char::range('a', 'z'),
                1 => prop::sample::select(vec![' ', ',', ';', ':', '\\', '^', '=', '.', '/', '@', 'é', 'Ō', '名', '😀']),
            ],
            1..=max_chars,
        )
        .prop_map(|v| v.into_iter().collect::<String>())
        .prop_filter("not blank", |s| !s.trim().is_empty())
    }

    fn opt(max_chars: usize) -> impl Strategy<Value = Option<String>> {
        prop::option::of(text(max_chars))
    }

    fn list(max_chars: usize, max: usize) -> impl Strategy<Value = Vec<String>> {
        prop::collection::vec(text(max_chars), 0..=max)
    }

    fn any_card() -> impl Strategy<Value = Card> {
        let socials = prop::collection::vec(
            (prop_oneof![1u8..=15, 16u8..=255], text(30)).prop_map(|(k, h)| Social {
                kind: SocialKind(k),
                handle: h,
            }),
            0..=4,
        );
        (
            text(30),
            opt(30),
            opt(30),
            list(60, 3),
            list(8, 3),
            list(100, 2),
            socials,
            opt(70),
            list(8, 5),
            opt(100),
        )
            .prop_map(
                |(name, title, org, emails, phones, urls, socials, note, tags, avatar)| Card {
                    name,
                    title,
                    org,
                    emails,
                    phones,
                    urls,
                    socials,
                    note,
                    tags,
                    avatar,
                    comment: None,
                },
            )
            .prop_filter("valid", |c| c.validate().is_ok())
    }

    proptest! {
        #[test]
        fn export_import_round_trips(card in any_card(), seed in prop::option::of(any::<u8>()), v4 in any::<bool>()) {
            let version = if v4 { Version::V4 } else { Version::V3 };
            let key = seed.map(key);
            let text = export(&card, key.as_ref(), version);
            check_lines(&text);
            prop_assert_eq!(import(&text), Ok(vec![Imported { card, key }]));
        }

        #[test]
        fn import_never_panics(input in "(BEGIN:VCARD\r\n|END:VCARD\r\n|FN:|N:|ORG:|EMAIL:|TEL:|VERSION:4.0\r\n|X-SOCIALPROFILE;TYPE=|X-USER=\"|ENCODING=QUOTED-PRINTABLE|[ -~]|\r\n |=\r\n|\\\\|;|:|名|é){0,60}") {
            if let Ok(cards) = import(&input) {
                for c in cards {
                    prop_assert!(c.card.validate().is_ok());
                }
            }
            if let Ok(results) = import_each(&input) {
                prop_assert!(!results.is_empty() && results.len() <= MAX_VCF_CARDS);
                for (i, r) in results.iter().enumerate() {
                    match r {
                        Ok(e) => prop_assert!(e.imported.card.validate().is_ok()),
                        Err(e) => prop_assert!(e.to_string().contains(&format!("card {}", i + 1)), "{}", e),
                    }
                }
            }
        }
    }

    #[test]
    fn quoted_printable_named_inside_a_quoted_parameter_is_text() {
        // Found by fuzzing: the export folds this line right after an `=`.
        let mut card = Card::new("Taro");
        card.socials.push(Social {
            kind: SocialKind::GITHUB,
            handle: "le=QUOTED-PRINTABLE:=E5=90=8D=E5=88=BA=E5=95=86=E4=BA=8B".into(),
        });
        let text = export(&card, None, Version::V3);
        assert_eq!(import(&text).expect("imports")[0].card, card, "{text}");
        assert!(is_quoted_printable(
            "NOTE;ENCODING=QUOTED-PRINTABLE:caf=C3=A9 ="
        ));
        assert!(is_quoted_printable(
            "NOTE;CHARSET=UTF-8;QUOTED-PRINTABLE:x="
        ));
        assert!(!is_quoted_printable("NOTE;X-A=\"QUOTED-PRINTABLE\":x="));
        assert!(!is_quoted_printable("NOTE:QUOTED-PRINTABLE="));
        assert!(!is_quoted_printable("QUOTED-PRINTABLE:x="));
    }
}
