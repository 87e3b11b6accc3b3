//! QR handoff for meishi cards: the compact signed payload (proto-spec/qr.md), rendering to the
//! terminal, SVG and PNG, a plain vCard QR for people without meishi, and scanning of photos.
//!
//! ```
//! use meishi_card::{Card, Identity, SignedCard};
//! use meishi_qr::{decode_payload, encode_payload, qr_version, Ecc};
//!
//! let me = Identity::from_seed(&[42; 32]);
//! let card = SignedCard::sign(&me, 1, 1_700_000_000, &Card::new("Ada Lovelace")).unwrap();
//! let text = encode_payload(&card).unwrap();
//! assert!(text.starts_with("MEISHI1:"));
//! assert!(qr_version(&text, Ecc::M).unwrap() <= 10);
//! assert_eq!(decode_payload(&text).unwrap(), card);
//!
//! // Show it, then read it back from a picture: a meishi payload comes back verified.
//! let png = meishi_qr::render_png(&text, Ecc::M, 4).unwrap();
//! let found = meishi_qr::scan_image(&png).unwrap();
//! assert!(matches!(meishi_qr::classify(&found[0]), Ok(meishi_qr::Scanned::Meishi(c)) if c == card));
//! ```
//!
//! Map of the crate: [`encode_payload`] / [`decode_payload`] (the format, with [`base45`],
//! [`deflate`] and the preset [`DICTIONARY`]); [`render_terminal`], [`render_svg`],
//! [`render_png`] (and [`render_png_captioned`], with a name under the code);
//! [`render_terminal_within`] for a terminal of a given size; [`vcard_qr_text`] and
//! [`mecard_text`] for plain contact QR codes;
//! [`scan_image`] (bounded image loading, decoding passes within a work [`Budget`]) and [`classify`] (what a scanned
//! text is: a card, a contact, an event join ticket). the `qr-size-report`, `qr-distort` and `qr-decode-rate` tools of the xtask package
//! produce the numbers in proto-spec/qr.md.

pub mod base45;
mod caption;
pub mod compact;
pub mod deflate;
mod dict;
mod mecard;
mod payload;
mod render;
mod scan;
mod vcard_qr;

pub use deflate::InflateError;
pub use dict::{compact_dictionary, COMPACT_WORDS, DICTIONARY};
pub use mecard::{mecard_text, parse_mecard, MeCardError, MAX_MECARD_TEXT, MECARD_PREFIX};
pub use payload::{
    decode_binary, decode_fields, decode_fields_as, decode_payload, encode_binary,
    encode_binary_as, encode_fields, encode_fields_as, encode_payload, PayloadError, TextEncoding,
    FLAG_COMPACT, FLAG_DEFLATE, FLAG_STORED, MAX_PAYLOAD_TEXT, MAX_VERSION_AT_L, PHONE_NIBBLES,
    PREFIX,
};

pub use caption::caption_drawable;
pub use render::{
    render_png, render_png_captioned, render_svg, render_terminal, render_terminal_within, Cells,
    RenderError, COMPACT_QUIET_ZONE, MAX_SCALE, QUIET_ZONE,
};
pub use scan::{
    classify, in_guarded_decode, prepare, scan_gray, scan_gray_within, scan_image,
    scan_image_within, Budget, ClassifyError, Pass, PassOutcome, Report, ScanError, Scanned, Skip,
    Threshold, CANDIDATE_PASSES, MAX_DECODE_ALLOC, MAX_DIMENSION, MAX_FINDERS, MAX_IMAGE_BYTES,
    MAX_PIXELS, PASSES,
};
pub use vcard_qr::vcard_qr_text;

use qrcode::bits::Bits;
use qrcode::{EcLevel, QrCode, Version};

/// QR error correction level: the share of the symbol that may be damaged (about 7, 15, 25 and
/// 30 percent). Higher levels need larger symbols for the same text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Ecc {
    L,
    #[default]
    M,
    Q,
    H,
}

impl Ecc {
    pub const ALL: [Ecc; 4] = [Ecc::L, Ecc::M, Ecc::Q, Ecc::H];

    pub(crate) fn level(self) -> EcLevel {
        match self {
            Ecc::L => EcLevel::L,
            Ecc::M => EcLevel::M,
            Ecc::Q => EcLevel::Q,
            Ecc::H => EcLevel::H,
        }
    }
}

/// An ECC level name other than L, M, Q or H.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown error correction level {0:?}: use L, M, Q or H")]
pub struct ParseEccError(pub String);

impl std::str::FromStr for Ecc {
    type Err = ParseEccError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_uppercase().as_str() {
            "L" => Ok(Ecc::L),
            "M" => Ok(Ecc::M),
            "Q" => Ok(Ecc::Q),
            "H" => Ok(Ecc::H),
            _ => Err(ParseEccError(s.to_owned())),
        }
    }
}

impl std::fmt::Display for Ecc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Ecc::L => "L",
            Ecc::M => "M",
            Ecc::Q => "Q",
            Ecc::H => "H",
        })
    }
}

/// The smallest QR version (1..=40) that holds `text` at `ecc`, with the encoder's optimal mode
/// segmentation (alphanumeric for a payload), or `None` when it does not fit at all.
pub fn qr_version(text: &str, ecc: Ecc) -> Option<u8> {
    match QrCode::with_error_correction_level(text.as_bytes(), ecc.level())
        .ok()?
        .version()
    {
        Version::Normal(v) => u8::try_from(v).ok(),
        Version::Micro(_) => None,
    }
}

/// The smallest QR version (1..=40) that holds `text` as one byte-mode segment at `ecc`, or
/// `None` when it does not fit at all.
///
/// This is how UTF-8 text (a MeCard, a vCard) is correctly written. [`qr_version`] lets the
/// encoder also choose Kanji mode for byte pairs that look like Shift JIS, which UTF-8 CJK,
/// Hangul and Arabic text often does: smaller, but a reader then decodes those pairs as Shift
/// JIS. Both are reported in proto-spec/qr.md#limits.
pub fn qr_version_byte_mode(text: &str, ecc: Ecc) -> Option<u8> {
    (1..=40i16)
        .find(|&v| {
            let mut bits = Bits::new(Version::Normal(v));
            bits.push_byte_data(text.as_bytes()).is_ok()
                && bits.push_terminator(ecc.level()).is_ok()
        })
        .and_then(|v| u8::try_from(v).ok())
}
