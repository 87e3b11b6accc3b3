//! How many guesses an event code takes to find: the estimate behind the CLI's refusal of
//! guessable codes. proto-spec/relay.md#event-codes
//!
//! The estimate is zxcvbn's (Dropbox's password strength model, the `zxcvbn` crate): it splits
//! the code into the cheapest sequence of dictionary words (English words, names, common
//! passwords, and [`EVENT_WORDS`]), years and dates, repeats, sequences, keyboard runs and
//! brute-forced runs, and multiplies their guess counts. It is run on the **normalized** code,
//! because that is what an attacker enumerates: case, spaces, hyphens and underscores cost
//! nothing to guess. zxcvbn counts at most 2^64 guesses and reads the first 100 characters, so
//! the estimate is a lower bound for long random codes, which is the safe direction.
//!
//! zxcvbn scores a year by its distance from the current one, so the estimate reads the clock;
//! nothing else here does.

use crate::key::{normalize, CodeError};

/// Below 2^40 estimated guesses a code is [`Level::Weak`]: front ends refuse it unless the
/// person insists. At the event key's cost (about 0.25 s of one core per guess) 2^40 guesses are
/// about 9,000 CPU-years, and a relay operator who wants an attendee list needs half of that on
/// average: affordable for a determined attacker with rented machines, not for a curious one.
pub const FLOOR_BITS: u32 = 40;
/// From 2^56 estimated guesses (about 600 million CPU-years at the event key's cost) a code is
/// [`Level::Good`]; between the floor and this it is [`Level::Fair`] and front ends warn.
pub const GOOD_BITS: u32 = 56;

/// Words of event names that zxcvbn's general dictionaries lack or rank low. An attacker who
/// wants an event's attendee list tries the event's name first, so these cost next to nothing.
pub const EVENT_WORDS: &[&str] = &[
    "meishi",
    "event",
    "conf",
    "con",
    "meetup",
    "summit",
    "hackathon",
    "hack",
    "fest",
    "camp",
    "days",
    "day",
    "party",
    "afterparty",
    "workshop",
    "expo",
    "week",
    "forum",
    "congress",
    "meeting",
    "talks",
    "dev",
    "devs",
    "tech",
    "user",
    "group",
    "ug",
    "eu",
    "us",
    "na",
    "asia",
    "online",
    "rust",
    "rustlang",
    "py",
    "python",
    "js",
    "go",
    "golang",
    "kube",
    "linux",
    "oss",
    "ai",
    "data",
    "cloud",
    "web",
];

/// What a front end does with a code of this strength.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Under 2^[`FLOOR_BITS`] guesses: refuse, unless the person insists.
    Weak,
    /// From 2^[`FLOOR_BITS`] to 2^[`GOOD_BITS`] guesses: use it, with a warning.
    Fair,
    /// At least 2^[`GOOD_BITS`] guesses (`meishi event new`'s codes are far above).
    Good,
}

/// The estimated number of guesses an event code takes, as a power of two.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Strength {
    bits: f64,
}

impl Strength {
    /// log2 of the estimated guesses, from 0 to 64.
    pub fn bits(self) -> f64 {
        self.bits
    }

    /// What to do with the code.
    pub fn level(self) -> Level {
        if self.bits < f64::from(FLOOR_BITS) {
            Level::Weak
        } else if self.bits < f64::from(GOOD_BITS) {
            Level::Fair
        } else {
            Level::Good
        }
    }
}

/// Estimates how many guesses the event code takes to find, after normalization. Refuses
/// what [`normalize`] refuses.
pub fn code_strength(code: &str) -> Result<Strength, CodeError> {
    let normalized = zeroize::Zeroizing::new(normalize(code)?);
    let entropy = zxcvbn::zxcvbn(&normalized, EVENT_WORDS);
    let bits = (entropy.guesses_log10() * std::f64::consts::LOG2_10).clamp(0.0, 64.0);
    Ok(Strength { bits })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test fails by panicking")]
mod tests {
    use super::*;

    fn check(code: &str, expected: Level) {
        let s = code_strength(code).unwrap();
        assert_eq!(s.level(), expected, "{code:?}: about 2^{:.1}", s.bits());
    }

    #[test]
    fn guessable_event_names_are_weak() {
        check("rustconf2026", Level::Weak);
        check("RustConf 2026", Level::Weak);
        check("rust-meetup-2026", Level::Weak);
        check("fosdem2027", Level::Weak);
        check("load-test-event", Level::Weak);
        check("purple-tiger-42", Level::Weak);
        check("password123", Level::Weak);
        check(&"a".repeat(100), Level::Weak);
        check("abcdefghijklmnop", Level::Weak);
        // Twelve random characters are about 62 bits, but zxcvbn counts 10 per character.
        check("ab3k-9fz2-mq7w", Level::Weak);
    }

    #[test]
    fn longer_phrases_are_fair() {
        // The name of an event with its year, city and kind: a targeted attacker's first tries.
        check("RustConf 2026 Berlin Meetup", Level::Fair);
        check("correct horse battery staple", Level::Fair);
        check("EuroRust 2026 Copenhagen Workshop", Level::Fair);
        check("ab3k-9fz2-mq7w-x4pq", Level::Fair);
    }

    #[test]
    fn random_codes_are_good() {
        check("m4kq-7xpa-z2re-9hwd-c5tn", Level::Good);
        check("scal-ebe7-nchm-ark2-026x-q4pd", Level::Good);
        // Codes the way `meishi event new` makes them: 160 random bits in base32 groups.
        for _ in 0..200 {
            let mut bytes = [0u8; crate::NEW_CODE_BYTES];
            getrandom::fill(&mut bytes).unwrap();
            check(&crate::new_code(&bytes), Level::Good);
        }
    }

    #[test]
    fn the_estimate_is_of_the_normalized_code() {
        let a = code_strength("RustConf 2026 Berlin Meetup").unwrap();
        let b = code_strength("rustconf2026berlinmeetup").unwrap();
        assert_eq!(a, b);
        assert_eq!(code_strength("  "), Err(CodeError::Empty));
        assert_eq!(code_strength("a\u{7}b"), Err(CodeError::Control));
    }

    #[test]
    fn bits_stay_in_range() {
        for code in ["x", "rustconf2026", &"q7".repeat(64)] {
            let b = code_strength(code).unwrap().bits();
            assert!((0.0..=64.0).contains(&b), "{code}: {b}");
        }
        assert!(code_strength("rustconf2026").unwrap().bits() < 30.0);
    }
}
