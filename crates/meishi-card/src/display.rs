//! Making attacker-controlled card text safe to show on a terminal.

/// Returns `s` without control characters (C0, DEL, C1: terminal escapes), bidirectional
/// formatting characters (which can make text read differently than it is stored, CVE-2021-42574),
/// and other invisible format characters; each is replaced by U+FFFD so that tampering shows.
/// Newlines and tabs become spaces.
pub fn display_safe(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\n' | '\t' | '\r' => ' ',
            c if is_dangerous(c) => '\u{FFFD}',
            c => c,
        })
        .collect()
}

fn is_dangerous(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{061C}'                  // Arabic letter mark
            | '\u{200B}'..='\u{200F}'   // zero-width space/joiners, LRM, RLM
            | '\u{2028}'..='\u{202E}'   // separators, LRE RLE PDF LRO RLO
            | '\u{2060}'..='\u{2069}'   // word joiner, invisible operators, LRI RLI FSI PDI
            | '\u{FEFF}'                // zero-width no-break space
            | '\u{FFF9}'..='\u{FFFB}'   // interlinear annotations
        )
}

#[cfg(test)]
mod tests {
    use super::display_safe;

    fn check(input: &str, expected: &str) {
        assert_eq!(display_safe(input), expected, "input {input:?}");
    }

    #[test]
    fn strips_escapes_and_bidi() {
        check("Ada Lovelace", "Ada Lovelace");
        check("Zoë 名刺", "Zoë 名刺");
        check("evil\x1b[2Jname", "evil\u{FFFD}[2Jname");
        check("a\u{202E}txt.exe", "a\u{FFFD}txt.exe");
        check("x\u{2066}y\u{2069}", "x\u{FFFD}y\u{FFFD}");
        check("line\nbreak\ttab", "line break tab");
        check("\u{9b}31m", "\u{FFFD}31m");
    }
}
