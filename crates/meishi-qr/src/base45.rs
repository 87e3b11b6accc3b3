//! Base45 (RFC 9285): bytes as characters of the QR alphanumeric set, so a QR code carries them
//! in alphanumeric mode (5.5 bits a character) and every reader returns them unchanged.
//! proto-spec/qr.md#base45
//!
//! The decoder is strict: it rejects characters outside the alphabet, a dangling single
//! character, and any group whose value does not fit its bytes (so every byte string has exactly
//! one encoding).

/// The 45 characters, in value order. RFC 9285 section 4.
pub const ALPHABET: &[u8; 45] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

/// Why text is not base45.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Base45Error {
    #[error("character {byte:#04x} at offset {offset} is not in the base45 alphabet")]
    InvalidCharacter { offset: usize, byte: u8 },
    #[error("base45 text has {0} characters; a length of 3n+1 is impossible")]
    InvalidLength(usize),
    #[error("base45 group at offset {0} encodes a value too large for its bytes")]
    Overflow(usize),
}

fn value(byte: u8) -> Option<u32> {
    ALPHABET.iter().position(|&c| c == byte).map(|p| p as u32)
}

/// Encodes bytes: each pair as three characters (least significant first), a final odd byte as
/// two.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(2) * 3);
    let push = |out: &mut String, v: u32| out.push(char::from(ALPHABET[v as usize]));
    for chunk in bytes.chunks(2) {
        match *chunk {
            [a, b] => {
                let n = u32::from(a) * 256 + u32::from(b);
                push(&mut out, n % 45);
                push(&mut out, (n / 45) % 45);
                push(&mut out, n / 2025);
            }
            [a] => {
                let n = u32::from(a);
                push(&mut out, n % 45);
                push(&mut out, n / 45);
            }
            _ => {}
        }
    }
    out
}

/// Decodes base45 text, rejecting anything that [`encode`] would not produce.
pub fn decode(text: &[u8]) -> Result<Vec<u8>, Base45Error> {
    if text.len() % 3 == 1 {
        return Err(Base45Error::InvalidLength(text.len()));
    }
    let mut out = Vec::with_capacity(text.len() / 3 * 2 + 1);
    for (i, chunk) in text.chunks(3).enumerate() {
        let offset = i * 3;
        let mut n = 0u32;
        let mut scale = 1u32;
        for (j, &c) in chunk.iter().enumerate() {
            let v = value(c).ok_or(Base45Error::InvalidCharacter {
                offset: offset + j,
                byte: c,
            })?;
            n += v * scale;
            scale *= 45;
        }
        if chunk.len() == 3 {
            if n > 0xFFFF {
                return Err(Base45Error::Overflow(offset));
            }
            out.extend_from_slice(&[(n >> 8) as u8, n as u8]);
        } else {
            if n > 0xFF {
                return Err(Base45Error::Overflow(offset));
            }
            out.push(n as u8);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc9285_examples() {
        // RFC 9285 section 4.3.
        assert_eq!(encode(b"AB"), "BB8");
        assert_eq!(encode(b"Hello!!"), "%69 VD92EX0");
        assert_eq!(encode(b"base-45"), "UJCLQE7W581");
        assert_eq!(decode(b"QED8WEX0").expect("test"), b"ietf!");
        assert_eq!(encode(b""), "");
    }

    #[test]
    fn rejects() {
        assert_eq!(decode(b"A"), Err(Base45Error::InvalidLength(1)));
        assert_eq!(
            decode(b"ab"),
            Err(Base45Error::InvalidCharacter {
                offset: 0,
                byte: b'a'
            })
        );
        // ":::" = 44 + 44*45 + 44*2025 = 91124 > 65535.
        assert_eq!(decode(b":::"), Err(Base45Error::Overflow(0)));
        // "::" = 44 + 44*45 = 2024 > 255.
        assert_eq!(decode(b"::"), Err(Base45Error::Overflow(0)));
        assert_eq!(decode(b"000::"), Err(Base45Error::Overflow(3)));
    }

    proptest::proptest! {
        #[test]
        fn round_trip(bytes: Vec<u8>) {
            let text = encode(&bytes);
            proptest::prop_assert!(text.bytes().all(|c| ALPHABET.contains(&c)));
            proptest::prop_assert_eq!(decode(text.as_bytes()).expect("test"), bytes);
        }
    }
}
