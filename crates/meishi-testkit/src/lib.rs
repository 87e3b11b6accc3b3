//! Test support shared by the meishi crates, used as a dev-dependency (and by the `xtask`):
//! hex, the test-vector file format of `proto-spec/vectors/` (one case per file, `key: value`
//! lines, an `expect:` line and a comment), and, behind one feature each, the generators that
//! write those files (`card`, `qr`, `exchange`, `slot`, `intro`, `drop`).
//!
//! ```
//! use meishi_testkit::{hex, unhex, vectors};
//!
//! assert_eq!(hex(&[0x00, 0xab]), "00ab");
//! assert_eq!(unhex("00ab"), [0x00, 0xab]);
//! let h = vectors::parse("expect: success\ncomment: a case\ncard: 00ab\n");
//! assert_eq!(h["expect"], "success");
//! assert!(vectors::dir("card").ends_with("proto-spec/vectors/card"));
//! ```

#[cfg(any(feature = "card", feature = "exchange", feature = "intro"))]
mod bytes;
#[cfg(feature = "card")]
pub mod card;
#[cfg(feature = "drop")]
pub mod drop;
#[cfg(feature = "exchange")]
pub mod exchange;
#[cfg(feature = "intro")]
pub mod intro;
#[cfg(feature = "qr")]
pub mod qr;
#[cfg(feature = "slot")]
pub mod slot;
pub mod vectors;

use std::fmt::Write as _;

/// Lower-case hex, two digits a byte: how vectors write bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The bytes of a hex string.
///
/// # Panics
/// On an odd length or a character that is not a hex digit: a broken vector file fails the test
/// that reads it.
pub fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd-length hex: {s:?}");
    (0..s.len())
        .step_by(2)
        .map(|i| {
            s.get(i..i + 2)
                .and_then(|d| u8::from_str_radix(d, 16).ok())
                .unwrap_or_else(|| panic!("not a hex digit pair at {i} in {s:?}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(unhex(&hex(&all)), all);
        assert_eq!(hex(&[]), "");
        assert_eq!(hex(&[0x0f, 0xf0]), "0ff0");
    }

    #[test]
    #[should_panic(expected = "odd-length hex")]
    fn unhex_refuses_odd_length() {
        unhex("abc");
    }

    #[test]
    #[should_panic(expected = "not a hex digit pair")]
    fn unhex_refuses_non_hex() {
        unhex("zz");
    }
}
