//! The decoding passes: how each one resizes, blurs and binarizes the image, which decoder reads
//! it, and what it costs in work units before it runs.

use image::imageops::{self, FilterType};
use image::GrayImage;

use super::budget::{Meter, Skip};
use super::finder::{count_finders, Bitmap};

/// One way of turning the image into something a decoder can read: an optional sharpening,
/// resize and blur, then a binarization for rqrr, or rxing with its own binarizer. Every pass
/// starts from the prepared image (see [`prepare`](super::prepare)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pass {
    /// Unsharp mask before scaling: the Gaussian sigma in tenths of a pixel of the prepared
    /// image, 0 for none. Each pixel moves [`SHARPEN_AMOUNT`] times its difference from the
    /// blurred image further from it, which restores edges that blur spread over a few pixels.
    pub sharpen: u32,
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
        sharpen: 0,
        scale,
        blur,
        threshold,
    }
}

/// A pass that sharpens the image (sigma `sharpen` tenths of a pixel) before it scales it.
const fn sharp(sharpen: u32, scale: u32, threshold: Threshold) -> Pass {
    Pass {
        sharpen,
        scale,
        blur: 0,
        threshold,
    }
}

/// How hard [`Pass::sharpen`] sharpens: `p + 3·(p − blurred)`.
pub const SHARPEN_AMOUNT: i32 = 3;

/// The passes the scanner runs, in order, until one decodes every code it detects or reads a
/// verified meishi payload, or the work budget runs out. The order is by measured yield per
/// unit of work on `qr-distort` images (the xtask `qr-decode-rate` tool with `CANDIDATES=1`
/// prints it): rqrr's plain pass first because it is cheap and reads every undistorted code,
/// rxing next because it fails on different images, then the seed-1 set's greedy order. The
/// sharpened passes come near the end: within the budget they read blurred codes no other pass
/// reads (1 image of the seed-1 set, 4 of seed 2, 1 of the harder seed-3 set), and each costs a
/// blur.
/// proto-spec/qr.md#scanning
pub const PASSES: &[Pass] = &[
    // Cheap, reads several codes an image, and enough for screenshots and clean prints.
    pass(4, 0, Threshold::Rqrr),
    // Then greedy by images gained per millisecond on the seed-1 set.
    pass(4, 0, Threshold::Rxing),
    pass(8, 0, Threshold::Rxing),
    pass(4, 15, Threshold::Rxing),
    pass(4, 15, Threshold::Otsu),
    // Modules of a pixel or two; skipped on images over 533 pixels a side (`MAX_FINE_SIDE`).
    pass(12, 0, Threshold::Rxing),
    pass(8, 0, Threshold::Otsu),
    pass(4, 0, Threshold::Sauvola(24)),
    pass(8, 15, Threshold::Rxing),
    // Blur of about a module: unsharp masking restores the edges.
    sharp(30, 4, Threshold::Sauvola(8)),
    sharp(30, 8, Threshold::Rxing),
    sharp(30, 8, Threshold::Rqrr),
    pass(8, 0, Threshold::Sauvola(8)),
    pass(8, 0, Threshold::Sauvola(24)),
    pass(12, 15, Threshold::Otsu),
    // Kept from the previous list, for what nothing else reads: without them the fresh seed-4
    // and seed-5 sets each lost an image (read by the 1× Otsu and the 3× rqrr pass).
    pass(4, 0, Threshold::Otsu),
    pass(12, 0, Threshold::Rqrr),
    pass(4, 10, Threshold::Sauvola(8)),
    pass(8, 15, Threshold::Sauvola(8)),
];

/// Every pass the benchmark measures.
pub const CANDIDATE_PASSES: &[Pass] = &[
    pass(4, 0, Threshold::Rqrr),
    pass(4, 0, Threshold::Rxing),
    pass(8, 0, Threshold::Rxing),
    pass(2, 0, Threshold::Rxing),
    pass(12, 0, Threshold::Rxing),
    pass(4, 15, Threshold::Rxing),
    pass(8, 15, Threshold::Rxing),
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
    pass(12, 15, Threshold::Otsu),
    pass(16, 0, Threshold::Sauvola(8)),
    sharp(30, 4, Threshold::Sauvola(8)),
    sharp(30, 4, Threshold::Rxing),
    sharp(30, 8, Threshold::Rxing),
    sharp(30, 8, Threshold::Rqrr),
    sharp(30, 8, Threshold::Otsu),
];

/// Longest side a pass may scale the image to.
const MAX_PASS_SIDE: u32 = 2400;

/// Longest side a pass that scales by more than 2× may produce: such a pass is for codes whose
/// modules are a pixel or two, which means a small image (the largest image it first read on
/// the seed-1 set was 497 pixels a side). On a larger image its work goes to the passes after it.
const MAX_FINE_SIDE: u32 = 1600;

/// Most finder candidates rqrr is given. A code has three; a photo of a code, a few more
/// look-alikes. rqrr tries pairs of neighbours for every candidate and copies the image for each
/// try, so its work grows with the cube of this number (a grid of look-alikes has hundreds).
pub const MAX_FINDERS: usize = 24;

/// Work units a pass spends a pixel on each step. One unit is roughly one simple operation on
/// one pixel; the weights were measured (the scan benchmark reports time per unit).
mod cost {
    pub const RESIZE: u64 = 8;
    /// Unsharp masking's own arithmetic, on top of its blur.
    pub const SHARPEN: u64 = 3;
    /// Per pixel and per unit of kernel radius (sigma × 3, both directions).
    pub const BLUR: u64 = 2;
    pub const RQRR_THRESHOLD: u64 = 6;
    pub const SAUVOLA: u64 = 30;
    pub const OTSU: u64 = 3;
    pub const COUNT_FINDERS: u64 = 4;
    /// rqrr's capstone search and decode on an image whose candidates passed the count.
    pub const RQRR_DETECT: u64 = 12;
    /// Each grouping rqrr tries copies the image: a unit per 8 bytes copied.
    pub const RQRR_TRY_DIVISOR: u64 = 8;
    pub const RXING: u64 = 12;
}

/// What one pass did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PassOutcome {
    /// The decoder ran: the texts it read and how many detected codes did not decode.
    Ran {
        texts: Vec<String>,
        undecoded: usize,
    },
    /// The pass stopped before its decoder, and why.
    Skipped(Skip),
}

impl Pass {
    /// Decoded texts and the number of detected codes that did not decode, without a budget (the
    /// finder-candidate limit still applies). `img` is the prepared image (see
    /// [`prepare`](super::prepare)).
    pub fn run(self, img: &GrayImage) -> (Vec<String>, usize) {
        match self.run_within(img, &mut Meter::unlimited()) {
            PassOutcome::Ran { texts, undecoded } => (texts, undecoded),
            PassOutcome::Skipped(_) => (Vec::new(), 0),
        }
    }

    /// The size this pass works at.
    fn dims(self, img: &GrayImage) -> (u32, u32) {
        // Upscaling stops at MAX_PASS_SIDE: a large photo gets what headroom is left.
        let long = img.width().max(img.height()).max(1);
        let target = (long * self.scale / 4).min(MAX_PASS_SIDE.max(long));
        (
            ((u64::from(img.width()) * u64::from(target) / u64::from(long)) as u32).max(1),
            ((u64::from(img.height()) * u64::from(target) / u64::from(long)) as u32).max(1),
        )
    }

    /// Work spent before the decoder runs (sharpening, resize, blur, threshold, finder count),
    /// and the decoder's own base cost.
    fn cost(self, img: &GrayImage) -> (u64, u64) {
        let (w, h) = self.dims(img);
        let px = u64::from(w) * u64::from(h);
        let mut pre = 0;
        if self.sharpen > 0 {
            let src = u64::from(img.width()) * u64::from(img.height());
            pre += src * (cost::BLUR * u64::from(self.sharpen * 6 / 10 + 1) + cost::SHARPEN);
        }
        if (w, h) != img.dimensions() {
            pre += px * cost::RESIZE;
        }
        if self.blur > 0 {
            pre += px * cost::BLUR * u64::from(self.blur * 6 / 10 + 1);
        }
        let decoder = match self.threshold {
            Threshold::Rxing => return (pre, px * cost::RXING),
            Threshold::Rqrr => cost::RQRR_THRESHOLD,
            Threshold::Sauvola(_) => cost::SAUVOLA,
            Threshold::Otsu => cost::OTSU,
        };
        (
            pre + px * (decoder + cost::COUNT_FINDERS),
            px * cost::RQRR_DETECT,
        )
    }

    /// Runs the pass if its work fits what is left in `meter`, charging it.
    pub(crate) fn run_within(self, img: &GrayImage, meter: &mut Meter) -> PassOutcome {
        let (w, h) = self.dims(img);
        if self.scale > 8 && w.max(h) > MAX_FINE_SIDE {
            return PassOutcome::Skipped(Skip::LargeEnough);
        }
        let (pre, base) = self.cost(img);
        if !meter.fits(pre + base) {
            return PassOutcome::Skipped(Skip::OverBudget);
        }
        meter.charge(pre);
        let sharpened;
        let mut img = img;
        if self.sharpen > 0 {
            sharpened = unsharp(img, self.sharpen as f32 / 10.0);
            img = &sharpened;
        }
        let scaled;
        if (w, h) != img.dimensions() {
            scaled = if w > img.width() {
                upscale(img, w, h)
            } else {
                imageops::resize(img, w, h, FilterType::Triangle)
            };
            img = &scaled;
        }
        let blurred;
        if self.blur > 0 {
            blurred = imageops::blur(img, self.blur as f32 / 10.0);
            img = &blurred;
        }
        let bits = match self.threshold {
            Threshold::Rxing => {
                meter.charge(base);
                let (texts, undecoded) = decode_rxing(img);
                return PassOutcome::Ran { texts, undecoded };
            }
            Threshold::Rqrr => rqrr_threshold(img),
            Threshold::Sauvola(n) => sauvola(img, (w.min(h) / n).max(3)),
            Threshold::Otsu => {
                let t = otsu(img);
                Bitmap {
                    bits: img.as_raw().iter().map(|&p| p <= t).collect(),
                    w: w as usize,
                    h: h as usize,
                }
            }
        };
        let n = count_finders(&bits, MAX_FINDERS + 1);
        if n < 3 {
            return PassOutcome::Skipped(Skip::NoFinders);
        }
        if n > MAX_FINDERS {
            return PassOutcome::Skipped(Skip::TooManyFinders);
        }
        // Every candidate may be tried with every pair of others, each try a copy of the image.
        let n = n as u64;
        let tries = n * (n - 1) * (n - 1) / 4;
        let px = (bits.w * bits.h) as u64;
        let grouping = tries * px / cost::RQRR_TRY_DIVISOR;
        if !meter.fits(base + grouping) {
            return PassOutcome::Skipped(Skip::OverBudget);
        }
        meter.charge(base + grouping);
        let (texts, undecoded) = decode_bitmap(&bits);
        PassOutcome::Ran { texts, undecoded }
    }
}

/// Unsharp masking: `p + SHARPEN_AMOUNT·(p − blurred)`, clamped to 0..=255.
fn unsharp(img: &GrayImage, sigma: f32) -> GrayImage {
    let blurred = imageops::blur(img, sigma);
    let mut out = img.clone();
    for (p, b) in out.iter_mut().zip(blurred.as_raw()) {
        let (v, b) = (i32::from(*p), i32::from(*b));
        *p = (v + SHARPEN_AMOUNT * (v - b)).clamp(0, 255) as u8;
    }
    out
}

/// Bilinear upscaling in fixed point: a few nanoseconds a pixel, where the image crate's
/// Catmull-Rom filter took about a hundred and made upscaled passes the bulk of a scan's time.
fn upscale(img: &GrayImage, w: u32, h: u32) -> GrayImage {
    let (sw, sh) = (img.width() as usize, img.height() as usize);
    let px = img.as_raw();
    // Source coordinate of each output column or row in 16.16 fixed point, pixel centres aligned.
    let coords = |out: u32, src: usize| -> Vec<(usize, u32)> {
        (0..out)
            .map(|i| {
                let f = (((2 * u64::from(i) + 1) * (src as u64)) << 16) / (2 * u64::from(out));
                let f = f.saturating_sub(1 << 15);
                let i0 = ((f >> 16) as usize).min(src - 1);
                (i0, (f & 0xFFFF) as u32)
            })
            .collect()
    };
    let (xs, ys) = (coords(w, sw), coords(h, sh));
    let mut out = Vec::with_capacity(w as usize * h as usize);
    for &(y0, fy) in &ys {
        let y1 = (y0 + 1).min(sh - 1);
        let (r0, r1) = (&px[y0 * sw..(y0 + 1) * sw], &px[y1 * sw..(y1 + 1) * sw]);
        for &(x0, fx) in &xs {
            let x1 = (x0 + 1).min(sw - 1);
            let top = u32::from(r0[x0]) * (65536 - fx) + u32::from(r0[x1]) * fx;
            let bot = u32::from(r1[x0]) * (65536 - fx) + u32::from(r1[x1]) * fx;
            let v = (u64::from(top) * u64::from(65536 - fy) + u64::from(bot) * u64::from(fy)) >> 32;
            out.push(v as u8);
        }
    }
    GrayImage::from_raw(w, h, out).unwrap_or_else(|| GrayImage::new(w, h))
}

/// rqrr's own binarization (`PreparedImage::prepare`): a pixel is dark below 95% of a running
/// average over 1/8 of the width, run both ways along the row. Done here so the finder count
/// sees the same pixels rqrr will.
fn rqrr_threshold(img: &GrayImage) -> Bitmap {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let px = img.as_raw();
    let s = (w / 8).max(1);
    let mut row_average = vec![0usize; w];
    let (mut avg_v, mut avg_u) = (0usize, 0usize);
    let mut bits = vec![false; w * h];
    for y in 0..h {
        row_average.fill(0);
        let row = &px[y * w..(y + 1) * w];
        for x in 0..w {
            let (v, u) = if y % 2 == 0 {
                (w - 1 - x, x)
            } else {
                (x, w - 1 - x)
            };
            avg_v = avg_v * (s - 1) / s + usize::from(row[v]);
            avg_u = avg_u * (s - 1) / s + usize::from(row[u]);
            row_average[v] += avg_v;
            row_average[u] += avg_u;
        }
        for x in 0..w {
            bits[y * w + x] = usize::from(row[x]) < row_average[x] * (100 - 5) / (200 * s);
        }
    }
    Bitmap { bits, w, h }
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

/// Sauvola's local threshold: dark where `p < m·(1 + k·(s/128 − 1))` over a `win`-pixel window,
/// with the window mean `m` and deviation `s` from integral images (constant time a pixel).
fn sauvola(img: &GrayImage, win: u32) -> Bitmap {
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
    Bitmap { bits: out, w, h }
}

/// Decodes with rqrr under `catch_unwind`: (texts, detected codes that failed).
fn decode_bitmap(img: &Bitmap) -> (Vec<String>, usize) {
    crate::scan::guarded(|| {
        let mut prepared =
            rqrr::PreparedImage::prepare_from_bitmap(img.w, img.h, |x, y| img.bits[y * img.w + x]);
        let mut texts = Vec::new();
        let mut failed = 0;
        for g in prepared.detect_grids() {
            match g.decode() {
                Ok((_, text)) => texts.push(text),
                Err(_) => failed += 1,
            }
        }
        (texts, failed)
    })
    .unwrap_or_default()
}

/// Decodes with rxing under `catch_unwind`: (texts, 0). rxing reports no "detected but not
/// decoded" count, so a failure never keeps the passes going by itself.
fn decode_rxing(img: &GrayImage) -> (Vec<String>, usize) {
    use rxing::common::HybridBinarizer;
    use rxing::qrcode::QRCodeReader;
    use rxing::{BinaryBitmap, DecodeHintValue, DecodeHints, Luma8LuminanceSource, Reader};
    crate::scan::guarded(|| {
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
    })
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pass_beyond_2x_skips_an_image_that_is_large_enough() {
        let fine = pass(12, 0, Threshold::Rxing);
        // 534 pixels a side would be 1602 after 3×: over MAX_FINE_SIDE.
        assert_eq!(
            fine.run_within(&GrayImage::new(534, 300), &mut Meter::unlimited()),
            PassOutcome::Skipped(Skip::LargeEnough)
        );
        let mut meter = Meter::unlimited();
        assert!(matches!(
            fine.run_within(&GrayImage::new(533, 300), &mut meter),
            PassOutcome::Ran { .. }
        ));
        assert!(meter.used() > 0);
        // A 2× pass runs on any size (up to MAX_PASS_SIDE).
        assert!(matches!(
            pass(8, 0, Threshold::Rxing)
                .run_within(&GrayImage::new(900, 300), &mut Meter::unlimited()),
            PassOutcome::Ran { .. }
        ));
    }

    #[test]
    fn unsharp_steepens_a_blurred_edge() {
        let step = GrayImage::from_fn(40, 40, |x, _| image::Luma([if x < 20 { 60 } else { 200 }]));
        let soft = imageops::blur(&step, 2.0);
        let sharp = unsharp(&soft, 3.0);
        // Either side of the edge moves away from the middle grey, and far from it nothing moves
        // by more than rounding.
        assert!(sharp[(18, 20)].0[0] < soft[(18, 20)].0[0]);
        assert!(sharp[(21, 20)].0[0] > soft[(21, 20)].0[0]);
        assert!(sharp[(2, 20)].0[0].abs_diff(60) <= 3);
    }

    #[test]
    fn sharpening_is_charged_to_the_budget() {
        let img = GrayImage::new(200, 200);
        let plain = pass(8, 0, Threshold::Rxing).cost(&img);
        let sharpened = sharp(30, 8, Threshold::Rxing).cost(&img);
        assert_eq!(sharpened.1, plain.1);
        assert_eq!(
            sharpened.0 - plain.0,
            200 * 200 * (cost::BLUR * 19 + cost::SHARPEN)
        );
    }

    #[test]
    fn sauvola_separates_dark_from_light() {
        let img = GrayImage::from_fn(40, 40, |x, _| image::Luma([if x < 20 { 30 } else { 220 }]));
        let bits = sauvola(&img, 15);
        assert!(bits.bits[10 * 40 + 17] && !bits.bits[10 * 40 + 22]);
    }
}
