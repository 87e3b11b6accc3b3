//! The compact text encoding of payload flag `02`. proto-spec/qr.md#compact-text
//!
//! UTF-8 spends two bytes on an Arabic or Devanagari letter and three on a kana, hanzi or hangul
//! syllable; this encoding, in the spirit of SCSU (Unicode Technical Standard #6) but much
//! smaller, spends one byte on a letter of a small script and two on a CJK character, and keeps
//! ASCII as it is. It has two modes. In *byte mode* ASCII is itself and bytes `80`–`F7` are the
//! 120 characters of the current *window* (Latin-1, Latin Extended, Greek, Cyrillic, Hebrew,
//! Arabic, Devanagari). In *wide mode* characters are UTF-16 code units, big-endian. Each text
//! value starts in byte mode with window 0.
//!
//! The encoding is a function: every string has exactly one encoding, and nothing is chosen, so a
//! dictionary word is the same bytes wherever it occurs in the same mode, and deflate can copy it.
//! Every byte below `0x20` where a character would start ends the text, as in the UTF-8 field
//! stream, so tags still end text values. Bytes inside a character (the second byte of a wide
//! unit, the two bytes after a quote) may take any value.

/// Window bases: window `k` holds the 120 characters `WINDOWS[k] ..= WINDOWS[k] + 119`.
/// proto-spec/qr.md#compact-text
pub const WINDOWS: [u32; 7] = [
    0x00A0, // Latin-1 letters, and Latin Extended-A up to U+0117
    0x0118, // the rest of Latin Extended-A, the start of Extended-B
    0x0370, // Greek
    0x0400, // Cyrillic
    0x0588, // Hebrew
    0x0600, // Arabic
    0x0900, // Devanagari
];
/// Characters in a window.
pub const WINDOW_SIZE: u32 = 120;

/// Byte mode: the next two bytes are a BMP code point, big-endian.
const QUOTE: u8 = 0x7F;
/// Byte mode: `WINDOW_CHAR + i` is character `i` of the current window.
const WINDOW_CHAR: u8 = 0x80;
/// Byte mode: `SELECT + k` makes window `k` current.
const SELECT: u8 = 0xF8;
/// Byte mode: switch to wide mode.
const TO_WIDE: u8 = 0xFF;
/// Wide mode: switch to byte mode.
const TO_BYTE: u8 = 0xE0;
/// Wide mode: a space, without leaving wide mode.
const WIDE_SPACE: u8 = 0xE1;

/// How a character is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// U+0020..=U+007E: one byte in byte mode (a space is [`WIDE_SPACE`] in wide mode).
    Ascii,
    /// A character of window `k`: one byte in byte mode.
    Window(usize),
    /// Every other character below U+2000, and the private use area U+E000..=U+F8FF: quoted in
    /// byte mode.
    Quote,
    /// Everything else: a UTF-16 unit (or surrogate pair) in wide mode.
    Wide,
}

fn class(c: char) -> Class {
    let u = u32::from(c);
    match u {
        0x20..=0x7E => Class::Ascii,
        0..=0x1FFF => WINDOWS
            .iter()
            .position(|&base| (base..base + WINDOW_SIZE).contains(&u))
            .map_or(Class::Quote, Class::Window),
        0xE000..=0xF8FF => Class::Quote,
        _ => Class::Wide,
    }
}

/// Appends the compact encoding of `s`.
pub fn encode(s: &str, out: &mut Vec<u8>) {
    let mut wide = false;
    let mut window = 0usize;
    for c in s.chars() {
        let u = u32::from(c);
        let class = class(c);
        if wide {
            match class {
                Class::Wide => {
                    let mut units = [0u16; 2];
                    for unit in c.encode_utf16(&mut units) {
                        out.extend_from_slice(&unit.to_be_bytes());
                    }
                    continue;
                }
                Class::Ascii if c == ' ' => {
                    out.push(WIDE_SPACE);
                    continue;
                }
                _ => {
                    out.push(TO_BYTE);
                    wide = false;
                }
            }
        }
        match class {
            Class::Ascii => out.push(u as u8),
            Class::Window(k) => {
                if k != window {
                    out.push(SELECT + k as u8);
                    window = k;
                }
                out.push(WINDOW_CHAR + (u - WINDOWS[k]) as u8);
            }
            Class::Quote => {
                out.push(QUOTE);
                out.extend_from_slice(&(u as u16).to_be_bytes());
            }
            Class::Wide => {
                out.push(TO_WIDE);
                wide = true;
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.extend_from_slice(&unit.to_be_bytes());
                }
            }
        }
    }
}

/// The compact encoding of `s`.
pub fn encode_to_vec(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    encode(s, &mut out);
    out
}

/// Why compact text could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TextError {
    /// A quote or a wide unit is cut off by the end of the stream.
    #[error("compact text is truncated at offset {0}")]
    Truncated(usize),
    /// A lone surrogate, or a reserved wide-mode byte (`E2`–`F8`).
    #[error("compact text at offset {0} is not a character")]
    Invalid(usize),
}

/// Reads compact text from `bytes[*pos..]` up to the next byte below `0x20` where a character
/// would start (not consumed) or the end, advancing `*pos`. Accepts any byte sequence that
/// decodes; the caller re-encodes to reject the ones that are not the encoding of their text.
/// The output has at most one character per input byte.
pub fn decode(bytes: &[u8], pos: &mut usize) -> Result<String, TextError> {
    let mut out = String::new();
    let mut wide = false;
    let mut window = 0usize;
    while let Some(&b) = bytes.get(*pos) {
        if b < 0x20 {
            break;
        }
        let at = *pos;
        let pair = |i: usize| -> Result<u32, TextError> {
            let hi = *bytes.get(i).ok_or(TextError::Truncated(at))?;
            let lo = *bytes.get(i + 1).ok_or(TextError::Truncated(at))?;
            Ok(u32::from(hi) << 8 | u32::from(lo))
        };
        let c = if wide {
            match b {
                TO_BYTE => {
                    wide = false;
                    *pos += 1;
                    continue;
                }
                WIDE_SPACE => {
                    *pos += 1;
                    ' '
                }
                0xE2..=0xF8 => return Err(TextError::Invalid(at)),
                _ => {
                    let unit = pair(at)?;
                    *pos += 2;
                    let u = match unit {
                        0xD800..=0xDBFF => {
                            let low = pair(at + 2)?;
                            if !(0xDC00..=0xDFFF).contains(&low) {
                                return Err(TextError::Invalid(at));
                            }
                            *pos += 2;
                            0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                        }
                        u => u,
                    };
                    char::from_u32(u).ok_or(TextError::Invalid(at))?
                }
            }
        } else {
            match b {
                0x20..=0x7E => {
                    *pos += 1;
                    char::from(b)
                }
                QUOTE => {
                    let u = pair(at + 1)?;
                    *pos += 3;
                    char::from_u32(u).ok_or(TextError::Invalid(at))?
                }
                TO_WIDE => {
                    wide = true;
                    *pos += 1;
                    continue;
                }
                SELECT.. => {
                    window = usize::from(b - SELECT);
                    *pos += 1;
                    continue;
                }
                _ => {
                    *pos += 1;
                    let u = WINDOWS[window] + u32::from(b - WINDOW_CHAR);
                    char::from_u32(u).ok_or(TextError::Invalid(at))?
                }
            }
        };
        out.push(c);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(s: &str, want: &[u8]) {
        let got = encode_to_vec(s);
        assert_eq!(got, want, "encoding of {s:?}");
        let mut pos = 0;
        assert_eq!(decode(&got, &mut pos).as_deref(), Ok(s));
        assert_eq!(pos, got.len());
    }

    #[test]
    fn encodings() {
        check("Ada", b"Ada");
        // é is window 0 (U+00A0 + 0x49); ł (U+0142) is window 1.
        check("é", &[0xC9]);
        check("łé", &[0xF9, 0xAA, 0xF8, 0xC9]);
        // Arabic: select window 5 once.
        check("مهندس", &[0xFD, 0xC5, 0xC7, 0xC6, 0xAF, 0xB3]);
        // Devanagari, window 6, with an ASCII space in between.
        check("क ख", &[0xFE, 0x95, 0x20, 0x96]);
        // CJK: one switch, two bytes a character; a space stays in wide mode.
        check(
            "山田 花子",
            &[0xFF, 0x5C, 0x71, 0x75, 0x30, 0xE1, 0x82, 0xB1, 0x5B, 0x50],
        );
        // Back to byte mode for other ASCII; the window survives wide mode.
        check("部長.", &[0xFF, 0x90, 0xE8, 0x95, 0x77, 0xE0, b'.']);
        // Quoted: Armenian, a private-use character; a wide supplementary character.
        check("Ա\u{E000}", &[0x7F, 0x05, 0x31, 0x7F, 0xE0, 0x00]);
        check("🙂", &[0xFF, 0xD8, 0x3D, 0xDE, 0x42]);
    }

    #[test]
    fn stops_at_a_tag_only_where_a_character_starts() {
        // 0x01 as the second byte of a wide unit is data; after it, 0x01 ends the text.
        let bytes = [0xFF, 0x4E, 0x01, 0x01, b'x'];
        let mut pos = 0;
        assert_eq!(decode(&bytes, &mut pos).as_deref(), Ok("\u{4E01}"));
        assert_eq!(pos, 3);
    }

    #[test]
    fn rejects() {
        let check = |b: &[u8], e: TextError| {
            assert_eq!(decode(b, &mut 0), Err(e), "{b:02x?}");
        };
        check(&[0x7F, 0x05], TextError::Truncated(0));
        check(&[0xFF, 0x4E], TextError::Truncated(1));
        check(&[0xFF, 0xD8, 0x3D], TextError::Truncated(1));
        check(&[0xFF, 0xD8, 0x3D, 0x00, 0x41], TextError::Invalid(1));
        check(&[0xFF, 0xDE, 0x42], TextError::Invalid(1));
        check(&[0x7F, 0xD8, 0x00], TextError::Invalid(0));
        check(&[0xFF, 0xE2, 0x00], TextError::Invalid(1));
    }

    proptest::proptest! {
        #[test]
        fn round_trip(s: String) {
            let e = encode_to_vec(&s);
            let mut pos = 0;
            // Control characters are quoted, so even they survive (card text never has one).
            proptest::prop_assert_eq!(decode(&e, &mut pos), Ok(s));
            proptest::prop_assert_eq!(pos, e.len());
        }

        #[test]
        fn decoding_any_bytes_never_panics(bytes: Vec<u8>) {
            let mut pos = 0;
            if let Ok(s) = decode(&bytes, &mut pos) {
                proptest::prop_assert!(s.chars().count() <= pos);
                // Whatever decodes re-encodes to a string that decodes the same.
                let e = encode_to_vec(&s);
                proptest::prop_assert_eq!(decode(&e, &mut 0), Ok(s));
            }
        }
    }
}
