//! Reading QR codes from photos and screenshots, and telling what they hold.
//!
//! Images are checked before they are decoded: the byte size, the format (PNG or JPEG only),
//! the width and height from the header, and the decoder's memory. The QR decoders (rqrr and
//! rxing) run under `catch_unwind` so a crafted image that trips a bug in one is an error, not a
//! crash.
//!
//! Camera photos defeat any single binarization, so decoding runs in passes (see [`PASSES`]),
//! and stops at the first pass that decodes every code it detects or reads a verified meishi
//! payload. Each pass optionally sharpens (against blur), resizes (up, for small modules),
//! optionally blurs (noise, JPEG blocks), and binarizes with rqrr's own threshold, Sauvola's
//! local threshold or Otsu's global one, or hands the image to rxing. The list was chosen by
//! measurement with the xtask `qr-decode-rate` tool on `qr-distort` images; the numbers are in
//! proto-spec/qr.md#scanning.
//!
//! Every scan is bounded ([`Budget`]): each pass is priced in work units before it starts and
//! skipped when it does not fit what is left, and rqrr is skipped on a binarization with fewer
//! than three or more than [`MAX_FINDERS`] finder-pattern candidates (counted in linear time by
//! the `finder` module), because its grouping grows with the cube of their number. A wall-clock
//! deadline stops a scan on a machine far slower than expected.

mod budget;
mod finder;
mod passes;

use std::collections::BTreeSet;
use std::io::Cursor;

use image::imageops::{self, FilterType};
use image::{GrayImage, ImageFormat, ImageReader, Limits};
use meishi_card::vcard::{self, ImportError, Imported};
use meishi_card::SignedCard;
use meishi_event::{JoinTicket, TicketError, JOIN_URI_PREFIX};

use crate::mecard::{parse_mecard, MeCardError, MECARD_PREFIX};
use crate::payload::{decode_payload, PayloadError};

pub use budget::{Budget, Skip};
use budget::{Clock, Meter};
pub use passes::{Pass, PassOutcome, Threshold, CANDIDATE_PASSES, MAX_FINDERS, PASSES};

/// Largest image file read.
pub const MAX_IMAGE_BYTES: usize = 64 << 20;
/// Largest width or height, checked from the header before decoding.
pub const MAX_DIMENSION: u32 = 8192;
/// Largest pixel count (about a 40-megapixel photo).
pub const MAX_PIXELS: u64 = 40_000_000;
/// Most memory the image decoder may allocate.
pub const MAX_DECODE_ALLOC: u64 = 512 << 20;
/// Images are scaled down to at most this many pixels on the long side before the passes: more
/// detail does not help a QR decoder and costs time.
const WORK_SIDE: u32 = 2400;

/// Why an image could not be scanned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScanError {
    #[error("the image is {len} bytes; the limit is {max}")]
    TooLarge { len: usize, max: usize },
    #[error("the file is not a PNG or JPEG image")]
    UnsupportedFormat,
    #[error("the image is {width}×{height} pixels; the limit is {MAX_DIMENSION} on each side and {MAX_PIXELS} pixels")]
    Dimensions { width: u32, height: u32 },
    #[error("the image could not be decoded (damaged or truncated?)")]
    Image(#[source] image::ImageError),
    #[error("the image decoder failed on this file (it may be crafted to crash readers)")]
    DecoderPanicked,
    /// The scan stopped at its work budget without reading a code: the image has too much
    /// code-like detail (a pattern of finder look-alikes, noise) to search all of it.
    #[error(
        "no QR code found before the scan's work limit ({work} units): the image is too complex"
    )]
    TooComplex { work: u64 },
}

/// Decodes every QR code in a PNG or JPEG image within [`Budget::DEFAULT`] and returns their
/// texts, each once, in a stable order. An image without a readable code gives an empty list;
/// one whose passes were cut short by the budget without reading anything gives
/// [`ScanError::TooComplex`].
pub fn scan_image(bytes: &[u8]) -> Result<Vec<String>, ScanError> {
    scan_image_within(bytes, &Budget::DEFAULT)?.into_texts()
}

/// Like [`scan_image`], with a given budget, reporting what every pass did. Loading the image
/// is checked as in [`scan_image`]; running out of budget is not an error here.
pub fn scan_image_within(bytes: &[u8], budget: &Budget) -> Result<Report, ScanError> {
    let gray = load_gray(bytes)?;
    Ok(scan_gray_within(&gray, budget))
}

fn load_gray(bytes: &[u8]) -> Result<GrayImage, ScanError> {
    if bytes.len() > MAX_IMAGE_BYTES {
        return Err(ScanError::TooLarge {
            len: bytes.len(),
            max: MAX_IMAGE_BYTES,
        });
    }
    let reader = || -> Result<ImageReader<Cursor<&[u8]>>, ScanError> {
        let mut r = ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| ScanError::Image(e.into()))?;
        if !matches!(r.format(), Some(ImageFormat::Png | ImageFormat::Jpeg)) {
            return Err(ScanError::UnsupportedFormat);
        }
        let mut limits = Limits::default();
        limits.max_image_width = Some(MAX_DIMENSION);
        limits.max_image_height = Some(MAX_DIMENSION);
        limits.max_alloc = Some(MAX_DECODE_ALLOC);
        r.limits(limits);
        Ok(r)
    };
    // Header first: refuse by dimensions before any pixel is decoded.
    let (width, height) =
        crate::scan::guarded(|| reader()?.into_dimensions().map_err(ScanError::Image))
            .map_err(|_| ScanError::DecoderPanicked)??;
    if width > MAX_DIMENSION
        || height > MAX_DIMENSION
        || u64::from(width) * u64::from(height) > MAX_PIXELS
    {
        return Err(ScanError::Dimensions { width, height });
    }
    let img = crate::scan::guarded(|| reader()?.decode().map_err(ScanError::Image))
        .map_err(|_| ScanError::DecoderPanicked)??;
    Ok(img.into_luma8())
}

thread_local! {
    static GUARDED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` (an image or QR decoder on outside bytes) catching a panic: a crafted image that
/// trips a bug in a decoder is an error, not a crash. While it runs, [`in_guarded_decode`] is
/// true on this thread, so a program's panic hook can keep such a caught panic off the
/// user's terminal.
pub(crate) fn guarded<T>(f: impl FnOnce() -> T) -> std::thread::Result<T> {
    let was = GUARDED.with(|g| g.replace(true));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(was));
    r
}

/// Whether this thread is inside a decoder run whose panics the scanner catches (for a panic
/// hook: such a panic is reported as a scan error, its message is noise).
pub fn in_guarded_decode() -> bool {
    GUARDED.with(std::cell::Cell::get)
}

/// Runs the decoding passes over a grayscale image within [`Budget::DEFAULT`].
pub fn scan_gray(img: &GrayImage) -> Vec<String> {
    scan_gray_within(img, &Budget::DEFAULT).texts
}

/// What one scan did: the texts it read, the work it spent and what each pass did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Report {
    /// Every text read, each once, in a stable order.
    pub texts: Vec<String>,
    /// Work units spent, preparing the image included; never above the budget's `work`.
    pub work: u64,
    /// The passes that were reached, in order, and what each did.
    pub passes: Vec<(Pass, PassOutcome)>,
}

impl Report {
    /// Whether a pass was left out for what it would cost (too many finder candidates, the work
    /// budget or the deadline) rather than because it found nothing: "too complex" rather than
    /// "no code".
    pub fn cut_short(&self) -> bool {
        self.passes.iter().any(|(_, o)| {
            matches!(
                o,
                PassOutcome::Skipped(Skip::TooManyFinders | Skip::OverBudget | Skip::Deadline)
            )
        })
    }

    /// The texts, or [`ScanError::TooComplex`] when there are none and the scan was cut short:
    /// what [`scan_image`] returns.
    pub fn into_texts(self) -> Result<Vec<String>, ScanError> {
        if self.texts.is_empty() && self.cut_short() {
            return Err(ScanError::TooComplex { work: self.work });
        }
        Ok(self.texts)
    }
}

/// Runs the decoding passes over a grayscale image within `budget`. It stops at the first pass
/// that decodes every code it detects or reads a meishi payload that verifies; a pass whose work
/// does not fit what is left is skipped, and after the deadline no pass starts.
pub fn scan_gray_within(img: &GrayImage, budget: &Budget) -> Report {
    let clock = Clock::start(budget.deadline);
    let mut meter = Meter::new(budget.work);
    let mut report = Report {
        texts: Vec::new(),
        work: 0,
        passes: Vec::new(),
    };
    let prepare_cost = prepare_cost(img);
    if !meter.fits(prepare_cost) {
        report
            .passes
            .push((PASSES[0], PassOutcome::Skipped(Skip::OverBudget)));
        return report;
    }
    meter.charge(prepare_cost);
    let img = fit(img, WORK_SIDE);
    let Some(img) = stretch(&img) else {
        // One grey level, give or take a few: no code to read, and nothing for a pass to do.
        report.work = meter.used();
        return report;
    };
    let mut found = BTreeSet::new();
    // Whether any binarization so far showed three finder-pattern candidates (or more).
    let mut finders_seen = false;
    for (i, &pass) in PASSES.iter().enumerate() {
        // A frame without a code (most webcam frames): the first passes at full size show no
        // finder candidate in any binarization and rxing reads nothing there either. The
        // rest would spend the budget for nothing.
        if i == HOPELESS_AFTER && !finders_seen && found.is_empty() {
            report
                .passes
                .push((pass, PassOutcome::Skipped(Skip::NoFinders)));
            break;
        }
        if clock.expired() {
            report
                .passes
                .push((pass, PassOutcome::Skipped(Skip::Deadline)));
            break;
        }
        let outcome = pass.run_within(&img, &mut meter);
        if pass.threshold != Threshold::Rxing
            && !matches!(
                outcome,
                PassOutcome::Skipped(Skip::NoFinders | Skip::LargeEnough)
            )
        {
            finders_seen = true;
        }
        let done = match &outcome {
            PassOutcome::Ran { texts, undecoded } => {
                found.extend(texts.iter().cloned());
                let verified = texts.iter().any(|t| decode_payload(t).is_ok());
                verified || (!found.is_empty() && *undecoded == 0)
            }
            PassOutcome::Skipped(_) => false,
        };
        report.passes.push((pass, outcome));
        if done {
            break;
        }
    }
    report.texts = found.into_iter().collect();
    report.work = meter.used();
    report
}

/// The image every pass starts from: at most [`WORK_SIDE`] pixels a side, contrast-stretched.
pub fn prepare(img: &GrayImage) -> GrayImage {
    let img = fit(img, WORK_SIDE);
    stretch(&img).unwrap_or(img)
}

/// Passes run before a scan that has seen no finder candidate and read nothing gives up.
const HOPELESS_AFTER: usize = 10;

/// Fewest grey levels between the darkest and the lightest pixel of an image worth scanning:
/// below this the image is flat (a wall, a lens cap, a blank frame).
const MIN_CONTRAST: i32 = 8;

/// Work units [`prepare`] spends: a resize when the image is large, then two looks at every
/// pixel.
fn prepare_cost(img: &GrayImage) -> u64 {
    let px = u64::from(img.width()) * u64::from(img.height());
    let resize = if img.width().max(img.height()) > WORK_SIDE {
        px
    } else {
        0
    };
    resize + 2 * px.min(u64::from(WORK_SIDE) * u64::from(WORK_SIDE))
}

fn fit(img: &GrayImage, max_side: u32) -> GrayImage {
    let (w, h) = img.dimensions();
    if w.max(h) <= max_side {
        return img.clone();
    }
    let f = f64::from(max_side) / f64::from(w.max(h));
    let (nw, nh) = (
        ((f64::from(w) * f).round() as u32).max(1),
        ((f64::from(h) * f).round() as u32).max(1),
    );
    imageops::resize(img, nw, nh, FilterType::Triangle)
}

/// Maps the 1st..99th percentile of brightness onto 0..255, or `None` for a flat image (fewer
/// than [`MIN_CONTRAST`] levels between its darkest and lightest pixel).
fn stretch(img: &GrayImage) -> Option<GrayImage> {
    let mut hist = [0usize; 256];
    img.as_raw().iter().for_each(|&p| hist[usize::from(p)] += 1);
    let total = img.as_raw().len();
    let pct = |q: usize| {
        let mut acc = 0;
        hist.iter().position(|&c| {
            acc += c;
            acc * 100 >= total * q
        })
    };
    let (lo, hi) = (pct(1).unwrap_or(0) as i32, pct(99).unwrap_or(255) as i32);
    let min = hist.iter().position(|&c| c > 0).unwrap_or(0) as i32;
    let max = hist.iter().rposition(|&c| c > 0).unwrap_or(0) as i32;
    if max - min < MIN_CONTRAST {
        return None;
    }
    if hi <= lo {
        // A few dark pixels on a plain page: a small code on a screenshot. Nothing to stretch.
        return Some(img.clone());
    }
    let mut out = img.clone();
    out.pixels_mut()
        .for_each(|p| p.0[0] = ((i32::from(p.0[0]) - lo) * 255 / (hi - lo)).clamp(0, 255) as u8);
    Some(out)
}

/// What a scanned QR code holds.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Scanned {
    /// A meishi payload, decoded and verified.
    Meishi(SignedCard),
    /// A vCard: unverified contacts.
    VCard(Vec<Imported>),
    /// A MeCard: an unverified contact.
    MeCard(Imported),
    /// An event join URI (`meishi:event?code=…&relay=…`, from `meishi event new`), parsed.
    Event(JoinTicket),
    /// Anything else (a URL, Wi-Fi settings, text), as it was read.
    Other(String),
}

/// Why a scanned code that claims to be a contact could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClassifyError {
    /// A meishi payload that does not decode or verify: never downgraded to [`Scanned::Other`].
    #[error(transparent)]
    Payload(#[from] PayloadError),
    #[error("the QR code holds a vCard that cannot be read: {0}")]
    VCard(#[from] ImportError),
    #[error("the QR code holds a MeCard that cannot be read: {0}")]
    MeCard(#[from] MeCardError),
    /// A text with the join URI prefix that is not a valid join URI: never downgraded to
    /// [`Scanned::Other`], like a meishi payload that does not verify.
    #[error("bad event join URI: {0}")]
    Ticket(#[from] TicketError),
}

/// Tells what a QR code's text is. A text with a meishi prefix must verify; a `MEISHI2:` or later
/// payload is an error that asks for an update. A text with the join URI prefix must be a
/// valid join URI (proto-spec/relay.md#join-uri).
pub fn classify(text: &str) -> Result<Scanned, ClassifyError> {
    match decode_payload(text) {
        Ok(card) => return Ok(Scanned::Meishi(card)),
        Err(PayloadError::NotMeishi) => {}
        Err(e) => return Err(e.into()),
    }
    if text.starts_with(JOIN_URI_PREFIX) {
        return Ok(Scanned::Event(text.parse()?));
    }
    let head = text.trim_start_matches('\u{feff}').trim_start();
    let starts = |p: &str| {
        head.get(..p.len())
            .is_some_and(|h| h.eq_ignore_ascii_case(p))
    };
    if starts("BEGIN:VCARD") {
        return Ok(Scanned::VCard(vcard::import(head)?));
    }
    if starts(MECARD_PREFIX) {
        return Ok(Scanned::MeCard(parse_mecard(head)?));
    }
    Ok(Scanned::Other(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use meishi_card::{Card, Identity};

    #[test]
    fn classify_kinds() {
        let card = SignedCard::sign(&Identity::from_seed(&[3; 32]), 1, 5, &Card::new("Ada"))
            .expect("test");
        let text = crate::encode_payload(&card).expect("test");
        assert_eq!(classify(&text), Ok(Scanned::Meishi(card)));
        let mut broken = text.clone().into_bytes();
        let last = broken.len() - 5;
        broken[last] = if broken[last] == b'0' { b'1' } else { b'0' };
        let broken = String::from_utf8(broken).expect("test");
        assert!(matches!(classify(&broken), Err(ClassifyError::Payload(_))));
        assert!(matches!(
            classify("MEISHI9:AB"),
            Err(ClassifyError::Payload(PayloadError::UnsupportedVersion(_)))
        ));
        assert_eq!(
            classify("https://example.org"),
            Ok(Scanned::Other("https://example.org".into()))
        );
        assert!(
            matches!(classify("MECARD:N:Doe,John;;"), Ok(Scanned::MeCard(i)) if i.card.name == "John Doe")
        );
        let v = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Jo\r\nEND:VCARD\r\n";
        assert!(
            matches!(classify(v), Ok(Scanned::VCard(c)) if c.len() == 1 && c[0].card.name == "Jo")
        );
        assert!(matches!(
            classify("BEGIN:VCARD\r\nVERSION:3.0\r\n"),
            Err(ClassifyError::VCard(_))
        ));
        assert!(matches!(
            classify("MECARD:N:A"),
            Err(ClassifyError::MeCard(_))
        ));
        let relay =
            "/ip4/203.0.113.7/tcp/4001/p2p/12D3KooWBHkR6nGT5KH3Xow9voA2aSQ67423yzWZCVbruRadyybt";
        let join = format!("meishi:event?code=ab-cd&relay={relay}");
        assert_eq!(
            classify(&join),
            Ok(Scanned::Event(join.parse().expect("test")))
        );
        let no_relay = classify("meishi:event?code=ab-cd").expect_err("test");
        assert_eq!(no_relay, ClassifyError::Ticket(TicketError::NoRelay));
        assert_eq!(
            no_relay.to_string(),
            "bad event join URI: it names no relay"
        );
        // Other meishi: URIs are not join codes.
        assert_eq!(
            classify("meishi:other?x=1"),
            Ok(Scanned::Other("meishi:other?x=1".into()))
        );
    }
}
