//! Making attacker-controlled card text safe to show on a terminal, and finding the characters
//! that would make it unsafe (so that a person's own card can refuse them).
//!
//! The zero-width joiner (U+200D) and non-joiner (U+200C) are kept where they do a job: inside
//! emoji sequences (👩‍💻 is 👩 ZWJ 💻) and between letters of the scripts that shape by joining
//! (Persian writes می‌خواهم with a ZWNJ; Devanagari, Bengali and the other Indic scripts use
//! both after a virama). Anywhere else, between Latin letters say, a joiner changes nothing a
//! reader sees but makes two names that look alike compare different, so it is shown as U+FFFD
//! like every other invisible character.

/// Why a character is unsafe to show.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HiddenKind {
    /// C0, DEL or C1: terminal escapes start with these.
    Control,
    /// A bidirectional formatting character: text displays in a different order than it is
    /// stored (CVE-2021-42574).
    Bidi,
    /// Shows as nothing (zero-width characters, blank fillers).
    Invisible,
}

/// A character [`display_safe`] replaces, as [`hidden_char`] found it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HiddenChar {
    /// The character.
    pub ch: char,
    /// Its byte offset in the text searched.
    pub at: usize,
    pub kind: HiddenKind,
}

impl HiddenChar {
    /// The Unicode name of the character, when it is one people meet (`RIGHT-TO-LEFT
    /// OVERRIDE`).
    pub fn name(&self) -> Option<&'static str> {
        NAMES.iter().find(|(c, _)| *c == self.ch).map(|(_, n)| *n)
    }

    /// What the character does, as a clause: "which makes text display in a different order
    /// than it is stored".
    pub fn effect(&self) -> &'static str {
        match self.kind {
            HiddenKind::Control => "a control character, which can take over the terminal",
            HiddenKind::Bidi => "which makes text display in a different order than it is stored",
            HiddenKind::Invisible => "which is invisible",
        }
    }
}

/// `U+202E RIGHT-TO-LEFT OVERRIDE`, or `U+0007` for a character without a known name.
impl std::fmt::Display for HiddenChar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "U+{:04X}", u32::from(self.ch))?;
        if let Some(n) = self.name() {
            write!(f, " {n}")?;
        }
        Ok(())
    }
}

const NAMES: &[(char, &str)] = &[
    ('\u{061C}', "ARABIC LETTER MARK"),
    ('\u{200B}', "ZERO WIDTH SPACE"),
    ('\u{200C}', "ZERO WIDTH NON-JOINER"),
    ('\u{200D}', "ZERO WIDTH JOINER"),
    ('\u{200E}', "LEFT-TO-RIGHT MARK"),
    ('\u{200F}', "RIGHT-TO-LEFT MARK"),
    ('\u{2028}', "LINE SEPARATOR"),
    ('\u{2029}', "PARAGRAPH SEPARATOR"),
    ('\u{202A}', "LEFT-TO-RIGHT EMBEDDING"),
    ('\u{202B}', "RIGHT-TO-LEFT EMBEDDING"),
    ('\u{202C}', "POP DIRECTIONAL FORMATTING"),
    ('\u{202D}', "LEFT-TO-RIGHT OVERRIDE"),
    ('\u{202E}', "RIGHT-TO-LEFT OVERRIDE"),
    ('\u{2060}', "WORD JOINER"),
    ('\u{2066}', "LEFT-TO-RIGHT ISOLATE"),
    ('\u{2067}', "RIGHT-TO-LEFT ISOLATE"),
    ('\u{2068}', "FIRST STRONG ISOLATE"),
    ('\u{2069}', "POP DIRECTIONAL ISOLATE"),
    ('\u{3164}', "HANGUL FILLER"),
    ('\u{FEFF}', "ZERO WIDTH NO-BREAK SPACE"),
    ('\u{1B}', "ESCAPE"),
    ('\u{7}', "BELL"),
    ('\u{9B}', "CONTROL SEQUENCE INTRODUCER"),
];

/// Returns `s` without control characters (C0, DEL, C1: terminal escapes), bidirectional
/// formatting characters (which can make text read differently than it is stored, CVE-2021-42574),
/// and other invisible characters; each is replaced by U+FFFD so that tampering shows.
/// Newlines and tabs become spaces. Joiners are kept only where they join (see the module
/// documentation).
pub fn display_safe(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev = None;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(match c {
            '\n' | '\t' | '\r' => ' ',
            c if classify(prev, c, chars.peek().copied()).is_some() => '\u{FFFD}',
            c => c,
        });
        prev = Some(c);
    }
    out
}

/// The first character of `s` that [`display_safe`] would replace (newlines and tabs
/// included: they are control characters), or `None` when `s` shows as it is stored.
pub fn hidden_char(s: &str) -> Option<HiddenChar> {
    let mut prev = None;
    let mut chars = s.char_indices().peekable();
    while let Some((at, ch)) = chars.next() {
        if let Some(kind) = classify(prev, ch, chars.peek().map(|&(_, c)| c)) {
            return Some(HiddenChar { ch, at, kind });
        }
        prev = Some(ch);
    }
    None
}

/// Whether `c`, between `prev` and `next`, is unsafe to show, and why.
fn classify(prev: Option<char>, c: char, next: Option<char>) -> Option<HiddenKind> {
    if c.is_control() {
        return Some(HiddenKind::Control);
    }
    match c {
        '\u{061C}'                      // Arabic letter mark
        | '\u{200E}' | '\u{200F}'       // LRM, RLM
        | '\u{202A}'..='\u{202E}'       // LRE RLE PDF LRO RLO
        | '\u{2066}'..='\u{2069}'       // LRI RLI FSI PDI
        => Some(HiddenKind::Bidi),
        '\u{200C}' | '\u{200D}' => {
            let joins = |p: char, n: char| {
                (is_emoji_part(p) && is_emoji_part(n)) || (is_joining(p) && is_joining(n))
            };
            match (prev, next) {
                (Some(p), Some(n)) if joins(p, n) => None,
                _ => Some(HiddenKind::Invisible),
            }
        }
        '\u{200B}'                      // zero-width space
        | '\u{2028}' | '\u{2029}'       // line and paragraph separators
        | '\u{2060}'..='\u{2065}'       // word joiner, invisible operators
        | '\u{206A}'..='\u{206F}'       // deprecated format characters
        | '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}' // Hangul fillers: blank names
        | '\u{180E}'                    // Mongolian vowel separator
        | '\u{FEFF}'                    // zero-width no-break space
        | '\u{FFF9}'..='\u{FFFB}'       // interlinear annotations
        => Some(HiddenKind::Invisible),
        _ => None,
    }
}

/// Characters an emoji ZWJ sequence is made of: pictographs, their modifiers (skin tones are
/// in U+1F3FB..=U+1F3FF) and the emoji presentation selector.
fn is_emoji_part(c: char) -> bool {
    matches!(c,
        '\u{1F000}'..='\u{1FAFF}'       // pictographs, emoticons, transport, supplemental
        | '\u{2300}'..='\u{23FF}'       // ⌚ ⏰ …
        | '\u{2600}'..='\u{27BF}'       // ♀ ♂ ⚕ ❤ ✈ ❄ …
        | '\u{2B00}'..='\u{2BFF}'       // ⬛ ⭐ …
        | '\u{FE0F}'                    // emoji presentation selector
    )
}

/// Letters (and the marks among them) of scripts where ZWJ and ZWNJ choose how letters join.
fn is_joining(c: char) -> bool {
    matches!(c,
        '\u{0600}'..='\u{06FF}'         // Arabic (Persian, Urdu…)
        | '\u{0700}'..='\u{074F}'       // Syriac
        | '\u{0750}'..='\u{077F}'       // Arabic supplement
        | '\u{07C0}'..='\u{07FF}'       // N'Ko
        | '\u{08A0}'..='\u{08FF}'       // Arabic extended-A
        | '\u{0900}'..='\u{0DFF}'       // Devanagari … Sinhala
        | '\u{1000}'..='\u{109F}'       // Myanmar
        | '\u{1780}'..='\u{17FF}'       // Khmer
        | '\u{1800}'..='\u{18AF}'       // Mongolian
        | '\u{A8E0}'..='\u{A8FF}'       // Devanagari extended
        | '\u{FB50}'..='\u{FDFF}'       // Arabic presentation forms A
        | '\u{FE70}'..='\u{FEFE}'       // Arabic presentation forms B
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: &str) {
        assert_eq!(display_safe(input), expected, "input {input:?}");
        assert_eq!(
            hidden_char(input).is_some(),
            display_safe(input) != input,
            "hidden_char and display_safe disagree on {input:?}"
        );
    }

    #[test]
    fn strips_escapes_and_bidi() {
        check("Ada Lovelace", "Ada Lovelace");
        check("Zoë 名刺", "Zoë 名刺");
        check("evil\x1b[2Jname", "evil\u{FFFD}[2Jname");
        check("a\u{202E}txt.exe", "a\u{FFFD}txt.exe");
        check("x\u{2066}y\u{2069}", "x\u{FFFD}y\u{FFFD}");
        check("\u{9b}31m", "\u{FFFD}31m");
        check("zero\u{200B}width\u{FEFF}", "zero\u{FFFD}width\u{FFFD}");
        check("\u{3164}", "\u{FFFD}");
        assert_eq!(display_safe("line\nbreak\ttab"), "line break tab");
    }

    #[test]
    fn keeps_emoji_zwj_sequences() {
        for seq in [
            "👩\u{200D}💻",           // woman technologist
            "👨\u{200D}👩\u{200D}👧", // family
            "👨🏽\u{200D}💻",           // with a skin tone
            "🏳\u{FE0F}\u{200D}🌈",    // rainbow flag
            "❤\u{FE0F}\u{200D}🔥",    // heart on fire
            "🐻\u{200D}❄\u{FE0F}",    // polar bear
            "🧑\u{200D}🤝\u{200D}🧑", // people holding hands
        ] {
            check(&format!("Ada {seq}"), &format!("Ada {seq}"));
        }
    }

    #[test]
    fn keeps_joiners_in_joining_scripts() {
        check("می\u{200C}خواهم", "می\u{200C}خواهم"); // Persian: "I want"
        check("क्\u{200D}ष", "क्\u{200D}ष"); // Devanagari half form
        check("ক্\u{200C}ষ", "ক্\u{200C}ষ"); // Bengali, no conjunct
        check("שלום עליכם", "שלום עליכם"); // Hebrew needs nothing special
    }

    #[test]
    fn replaces_joiners_that_join_nothing() {
        check("Ada\u{200D}Lovelace", "Ada\u{FFFD}Lovelace");
        check("a\u{200C}b", "a\u{FFFD}b");
        check("\u{200D}👩", "\u{FFFD}👩");
        check("👩\u{200D}", "👩\u{FFFD}");
        check("👩\u{200D}a", "👩\u{FFFD}a");
        check("👩\u{200D}\u{200D}💻", "👩\u{FFFD}\u{FFFD}💻");
        check("می\u{200C}a", "می\u{FFFD}a");
    }

    #[test]
    fn hidden_char_names_the_character() {
        let h = hidden_char("Ada\u{202E}gnp").expect("found");
        assert_eq!((h.ch, h.at, h.kind), ('\u{202E}', 3, HiddenKind::Bidi));
        assert_eq!(h.to_string(), "U+202E RIGHT-TO-LEFT OVERRIDE");
        let h = hidden_char("a\u{200D}b").expect("found");
        assert_eq!(h.to_string(), "U+200D ZERO WIDTH JOINER");
        assert_eq!(h.kind, HiddenKind::Invisible);
        let h = hidden_char("x\u{1}").expect("found");
        assert_eq!(
            (h.to_string().as_str(), h.kind),
            ("U+0001", HiddenKind::Control)
        );
        assert_eq!(hidden_char("مرحبا بالعالم"), None);
        assert_eq!(hidden_char("👩\u{200D}💻"), None);
    }
}
