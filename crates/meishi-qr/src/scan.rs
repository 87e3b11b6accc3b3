//! Reading QR codes from photos and screenshots, and telling what they hold.
//!
//! Images are checked before they are decoded: the byte size, the format (PNG or JPEG only),
//! the width and height from the header, and the decoder's memory. The QR decoder (rqrr) runs
//! under `catch_unwind` so a crafted image that trips a bug in it is an error, not a crash.
//!
//! Camera photos defeat any single binarization, so decoding runs in passes (see [`PASSES`]),
//! cheapest first, and stops at the first pass that decodes every code it detects. Each pass
//! resizes (up, for small modules), optionally blurs (noise, JPEG blocks), and binarizes with
//! rqrr's own threshold, Sauvola's local threshold or Otsu's global one. The list was chosen by
//! measurement with the xtask `qr-decode-rate` tool on `qr-distort` images; the numbers are in
//! proto-spec/qr.md#scanning.

use std::collections::BTreeSet;
use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};

use image::imageops::{self, FilterType};
use image::{GrayImage, ImageFormat, ImageReader, Limits};
use meishi_card::vcard::{self, ImportError, Imported};
use meishi_card::SignedCard;
use meishi_event::{JoinTicket, TicketError, JOIN_URI_PREFIX};

use crate::mecard::{parse_mecard, MeCardError, MECARD_PREFIX};
use crate::payload::{decode_payload, PayloadError};

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
}

/// Decodes every QR code in a PNG or JPEG image and returns their texts, each once, in a
/// stable order. An image without a readable code gives an empty list.
pub fn scan_image(bytes: &[u8]) -> Result<Vec<String>, ScanError> {
    let gray = load_gray(bytes)?;
    Ok(scan_gray(&gray))
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
    let (width, height) = catch_unwind(AssertUnwindSafe(|| {
        reader()?.into_dimensions().map_err(ScanError::Image)
    }))
    .map_err(|_| ScanError::DecoderPanicked)??;
    if width > MAX_DIMENSION
        || height > MAX_DIMENSION
        || u64::from(width) * u64::from(height) > MAX_PIXELS
    {
        return Err(ScanError::Dimensions { width, height });
    }
    let img = catch_unwind(AssertUnwindSafe(|| {
        reader()?.decode().map_err(ScanError::Image)
    }))
    .map_err(|_| ScanError::DecoderPanicked)??;
    Ok(img.into_luma8())
}

/// Runs the decoding passes over a grayscale image.
pub fn scan_gray(img: &GrayImage) -> Vec<String> {
    let img = prepare(img);
    let mut found = BTreeSet::new();
    for pass in PASSES {
        let (texts, undecoded) = pass.run(&img);
        found.extend(texts);
        if !found.is_empty() && undecoded == 0 {
            break;
        }
    }
    found.into_iter().collect()
}

/// One way of turning the image into something rqrr can read: an optional resize and blur, then
/// a binarization. Every pass starts from the image scaled to at most 2400 pixels a side and
/// contrast-stretched (see [`prepare`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pass {
    /// Scale factor in quarters: 4 keeps the size, 8 doubles it, 2 halves it.
    pub scale: u32,
    /// Gaussian blur sigma in tenths of a pixel, after scaling; 0 for none.
    pub blur: u32,
    pub threshold: Threshold,
}

/// How a pass decides which pixels are dark.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Threshold {
    /// rqrr's own running row average.
    Rqrr,
    /// Sauvola's local threshold over a window of 1/`n` of the short side.
    Sauvola(u32),
    /// Otsu's global threshold: survives blur that smears local contrast.
    Otsu,
    /// Not a threshold for rqrr but a second decoder: rxing (the Rust port of ZXing) with its
    /// own hybrid binarizer and detector, in "try harder" mode. It reads one code an image.
    Rxing,
}

const fn pass(scale: u32, blur: u32, threshold: Threshold) -> Pass {
    Pass {
        scale,
        blur,
        threshold,
    }
}

/// The passes `scan_image` runs, in order, stopping at the first that decodes every code it
/// detects. The rqrr passes were picked greedily from [`CANDIDATE_PASSES`] by
/// the xtask `qr-decode-rate` tool (each next pass is the one that adds the most images no earlier
/// pass decoded); rqrr's plain pass comes first because it is cheap and reads every undistorted
/// code, and the rxing passes next because they take milliseconds and fail on different images
/// (adding them took the held-out set from 161 to 170 of 200).
/// proto-spec/qr.md#scanning
pub const PASSES: &[Pass] = &[
    // Cheap, and enough for screenshots and clean prints: the usual case ends here.
    pass(4, 0, Threshold::Rqrr),
    // A different decoder fails on different images, and takes a few milliseconds.
    pass(4, 0, Threshold::Rxing),
    pass(8, 0, Threshold::Rxing),
    pass(8, 0, Threshold::Sauvola(24)),
    pass(8, 15, Threshold::Sauvola(8)),
    pass(12, 0, Threshold::Otsu),
    pass(12, 0, Threshold::Sauvola(8)),
    pass(4, 15, Threshold::Otsu),
    pass(8, 0, Threshold::Otsu),
];

/// Every pass the benchmark measures.
pub const CANDIDATE_PASSES: &[Pass] = &[
    pass(4, 0, Threshold::Rqrr),
    pass(4, 0, Threshold::Rxing),
    pass(8, 0, Threshold::Rxing),
    pass(2, 0, Threshold::Rxing),
    pass(4, 0, Threshold::Sauvola(8)),
    pass(4, 0, Threshold::Sauvola(24)),
    pass(4, 0, Threshold::Otsu),
    pass(4, 10, Threshold::Sauvola(8)),
    pass(4, 20, Threshold::Sauvola(8)),
    pass(4, 15, Threshold::Otsu),
    pass(4, 15, Threshold::Rqrr),
    pass(2, 0, Threshold::Sauvola(8)),
    pass(2, 0, Threshold::Rqrr),
    pass(2, 0, Threshold::Otsu),
    pass(8, 0, Threshold::Rqrr),
    pass(8, 0, Threshold::Sauvola(8)),
    pass(8, 0, Threshold::Sauvola(24)),
    pass(8, 0, Threshold::Otsu),
    pass(8, 15, Threshold::Sauvola(8)),
    pass(12, 0, Threshold::Sauvola(8)),
    pass(12, 0, Threshold::Rqrr),
    pass(12, 0, Threshold::Otsu),
    pass(16, 0, Threshold::Sauvola(8)),
];

/// Longest side a pass may scale the image to.
const MAX_PASS_SIDE: u32 = 2400;

impl Pass {
    /// Decoded texts and the number of detected codes that did not decode. `img` is the prepared
    /// image (see [`prepare`]).
    pub fn run(self, img: &GrayImage) -> (Vec<String>, usize) {
        // Upscaling stops at MAX_PASS_SIDE: a large photo gets what headroom is left.
        let long = img.width().max(img.height()).max(1);
        let target = (long * self.scale / 4).min(MAX_PASS_SIDE.max(long));
        let (w, h) = (
            ((u64::from(img.width()) * u64::from(target) / u64::from(long)) as u32).max(1),
            ((u64::from(img.height()) * u64::from(target) / u64::from(long)) as u32).max(1),
        );
        let scaled;
        let mut img = img;
        if (w, h) != img.dimensions() {
            let filter = if target > long {
                FilterType::CatmullRom
            } else {
                FilterType::Triangle
            };
            scaled = imageops::resize(img, w, h, filter);
            img = &scaled;
        }
        let blurred;
        if self.blur > 0 {
            blurred = imageops::blur(img, self.blur as f32 / 10.0);
            img = &blurred;
        }
        match self.threshold {
            Threshold::Rqrr => decode_gray(img),
            Threshold::Rxing => decode_rxing(img),
            Threshold::Sauvola(n) => decode_bitmap(&sauvola(img, (w.min(h) / n).max(3))),
            Threshold::Otsu => {
                let t = otsu(img);
                decode_bitmap(&(img.as_raw().iter().map(|&p| p <= t).collect(), w, h))
            }
        }
    }
}

/// Otsu's threshold: the level that maximizes the between-class variance of the histogram.
fn otsu(img: &GrayImage) -> u8 {
    let mut hist = [0u64; 256];
    img.as_raw().iter().for_each(|&p| hist[usize::from(p)] += 1);
    let total: u64 = hist.iter().sum();
    let sum_all: f64 = hist
        .iter()
        .enumerate()
        .map(|(i, &c)| i as f64 * c as f64)
        .sum();
    let (mut w0, mut sum0, mut best, mut best_t) = (0u64, 0f64, -1f64, 127u8);
    for (t, &c) in hist.iter().enumerate() {
        w0 += c;
        sum0 += t as f64 * c as f64;
        let w1 = total - w0;
        if w0 == 0 || w1 == 0 {
            continue;
        }
        let (m0, m1) = (sum0 / w0 as f64, (sum_all - sum0) / w1 as f64);
        let between = w0 as f64 * w1 as f64 * (m0 - m1) * (m0 - m1);
        if between > best {
            best = between;
            best_t = t as u8;
        }
    }
    best_t
}

/// The image every pass starts from: at most [`WORK_SIDE`] pixels a side, contrast-stretched.
pub fn prepare(img: &GrayImage) -> GrayImage {
    stretch(&fit(img, WORK_SIDE))
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

/// Prepares and decodes with rqrr under `catch_unwind`: (texts, detected codes that failed).
/// A macro because rqrr does not export the type of its prepared image.
macro_rules! run_rqrr {
    ($prepare:expr) => {
        catch_unwind(AssertUnwindSafe(|| {
            let mut prepared = $prepare;
            let mut texts = Vec::new();
            let mut failed = 0;
            for g in prepared.detect_grids() {
                match g.decode() {
                    Ok((_, text)) => texts.push(text),
                    Err(_) => failed += 1,
                }
            }
            (texts, failed)
        }))
        .unwrap_or_default()
    };
}

fn decode_gray(img: &GrayImage) -> (Vec<String>, usize) {
    let (w, h) = (img.width() as usize, img.height() as usize);
    run_rqrr!(rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| {
        img.as_raw()[y * w + x]
    }))
}

/// Decodes with rxing under `catch_unwind`: (texts, 0). rxing reports no "detected but not
/// decoded" count, so a failure never keeps the passes going by itself.
fn decode_rxing(img: &GrayImage) -> (Vec<String>, usize) {
    use rxing::common::HybridBinarizer;
    use rxing::qrcode::QRCodeReader;
    use rxing::{BinaryBitmap, DecodeHintValue, DecodeHints, Luma8LuminanceSource, Reader};
    catch_unwind(AssertUnwindSafe(|| {
        let (w, h) = img.dimensions();
        let Ok(source) = Luma8LuminanceSource::new(img.as_raw().clone(), w, h) else {
            return (Vec::new(), 0);
        };
        let mut bitmap = BinaryBitmap::new(HybridBinarizer::new(source));
        let hints = DecodeHints::default().with(DecodeHintValue::TryHarder(true));
        match QRCodeReader.decode_with_hints(&mut bitmap, &hints) {
            Ok(r) => (vec![r.getText().to_owned()], 0),
            Err(_) => (Vec::new(), 0),
        }
    }))
    .unwrap_or_default()
}

/// `bits.0[i]` is true for a dark pixel.
fn decode_bitmap(bits: &(Vec<bool>, u32, u32)) -> (Vec<String>, usize) {
    let (data, w, h) = bits;
    let w = *w as usize;
    run_rqrr!(rqrr::PreparedImage::prepare_from_bitmap(
        w,
        *h as usize,
        |x, y| data[y * w + x]
    ))
}

/// Sauvola's local threshold: dark where `p < m·(1 + k·(s/128 − 1))` over a `win`-pixel window,
/// with the window mean `m` and deviation `s` from integral images (constant time a pixel).
fn sauvola(img: &GrayImage, win: u32) -> (Vec<bool>, u32, u32) {
    const K: f64 = 0.2;
    let (w, h) = (img.width() as usize, img.height() as usize);
    let px = img.as_raw();
    let stride = w + 1;
    let mut sum = vec![0u64; stride * (h + 1)];
    let mut sq = vec![0u64; stride * (h + 1)];
    for y in 0..h {
        let (mut rs, mut rq) = (0u64, 0u64);
        for x in 0..w {
            let v = u64::from(px[y * w + x]);
            rs += v;
            rq += v * v;
            sum[(y + 1) * stride + x + 1] = sum[y * stride + x + 1] + rs;
            sq[(y + 1) * stride + x + 1] = sq[y * stride + x + 1] + rq;
        }
    }
    let r = (win / 2).max(1) as usize;
    let mut out = vec![false; w * h];
    for y in 0..h {
        let (y0, y1) = (y.saturating_sub(r), (y + r + 1).min(h));
        for x in 0..w {
            let (x0, x1) = (x.saturating_sub(r), (x + r + 1).min(w));
            let n = ((y1 - y0) * (x1 - x0)) as f64;
            let rect = |t: &[u64]| {
                (t[y1 * stride + x1] + t[y0 * stride + x0]
                    - t[y0 * stride + x1]
                    - t[y1 * stride + x0]) as f64
            };
            let m = rect(&sum) / n;
            let var = (rect(&sq) / n - m * m).max(0.0);
            let t = m * (1.0 + K * (var.sqrt() / 128.0 - 1.0));
            out[y * w + x] = f64::from(px[y * w + x]) < t;
        }
    }
    (out, w as u32, h as u32)
}

/// Maps the 1st..99th percentile of brightness onto 0..255.
fn stretch(img: &GrayImage) -> GrayImage {
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
    if hi <= lo {
        return img.clone();
    }
    let mut out = img.clone();
    out.pixels_mut()
        .for_each(|p| p.0[0] = ((i32::from(p.0[0]) - lo) * 255 / (hi - lo)).clamp(0, 255) as u8);
    out
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

    #[test]
    fn sauvola_separates_dark_from_light() {
        let img = GrayImage::from_fn(40, 40, |x, _| image::Luma([if x < 20 { 30 } else { 220 }]));
        let (bits, _, _) = sauvola(&img, 15);
        assert!(bits[10 * 40 + 17] && !bits[10 * 40 + 22]);
    }
}
