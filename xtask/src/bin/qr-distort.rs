//! Writes camera-like distorted images of meishi QR codes, for the decode-rate benchmark.
//!
//! ```text
//! cargo run --release -p xtask --bin qr-distort -- OUT_DIR [N] [SEED] [--hard]
//! ```
//!
//! Deterministic: the same N and SEED give the same images. Each image is one distortion kind
//! (blur, rotation, perspective, jpeg, noise, shading, lowres, lowcontrast, clutter) at a random
//! strength from a range that runs from easy to beyond what decoders manage, or `camera`, several
//! milder ones at once. `OUT_DIR/manifest.tsv` lists `file<TAB>kind<TAB>expected text<TAB>
//! parameters`.
//!
//! With `--hard` (anywhere among the arguments) it writes nine harder kinds instead: heavyblur
//! (Gaussian, 1.1-2 modules), steep (the code's plane tilted 50-65° before a close pinhole
//! camera), curved (printed round a cylinder, ±20-70° of arc), motion (a linear kernel of 8-20 px
//! at any angle), occlusion (an opaque ellipse over 5-15 % of the symbol, never all three finder
//! patterns), moire (a screen photo: two beating pixel-grid gratings multiplied over it, then a
//! 0.6-0.9 downscale without low-pass), shadow (a sharp-edged half-plane, corner or band 40-70 %
//! darker across the code), tiny (1-2 px a module in an 800-1280 px wide cluttered photo) and
//! jpeg5 (JPEG at quality 5).

use std::error::Error;
use std::fmt::Write as _;
use std::path::PathBuf;

use image::codecs::jpeg::JpegEncoder;
use image::{imageops, GrayImage, Luma};
use meishi_card::{Card, Identity, SignedCard, Social, SocialKind};
use meishi_qr::{encode_payload, render_png, Ecc, QUIET_ZONE};

type Result<T, E = Box<dyn Error>> = std::result::Result<T, E>;

pub const KINDS: &[&str] = &[
    "blur",
    "rotation",
    "perspective",
    "jpeg",
    "noise",
    "shading",
    "lowres",
    "lowcontrast",
    "clutter",
    "camera",
];

/// xorshift64*: small, seedable, the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [lo, hi).
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * ((self.next() >> 11) as f64 / (1u64 << 53) as f64)
    }
    fn int(&mut self, lo: u32, hi: u32) -> u32 {
        lo + (self.next() % u64::from(hi - lo + 1)) as u32
    }
    fn gauss(&mut self) -> f64 {
        let (u, v) = (self.range(1e-12, 1.0), self.range(0.0, 1.0));
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

fn payloads() -> Result<Vec<String>> {
    let ada: Card =
        serde_json::from_str(include_str!("../../../crates/meishi-qr/testdata/ada.json"))?;
    let mut small = Card::new("Kenji Tanaka");
    small.emails = vec!["kenji@example.jp".into()];
    small.socials = vec![Social {
        kind: SocialKind::GITHUB,
        handle: "kenjit".into(),
    }];
    let mut mid = small.clone();
    mid.title = Some("Staff Software Engineer".into());
    mid.org = Some("Example Robotics GmbH".into());
    mid.phones = vec!["+49 30 1234 5678".into()];
    let mut out = Vec::new();
    for (i, c) in [ada, small, mid].iter().enumerate() {
        let id = Identity::from_seed(&[i as u8 + 10; 32]);
        out.push(encode_payload(&SignedCard::sign(
            &id,
            1,
            1_760_000_000,
            c,
        )?)?);
    }
    Ok(out)
}

/// The symbol at `scale` pixels a module, quiet zone included, as grayscale.
fn symbol(text: &str, scale: u32) -> Result<GrayImage> {
    let png = render_png(text, Ecc::M, scale)?;
    Ok(image::load_from_memory(&png)?.into_luma8())
}

/// Bilinear sample, `bg` outside.
fn sample(img: &GrayImage, x: f64, y: f64, bg: f64) -> f64 {
    let (w, h) = (img.width() as i64, img.height() as i64);
    let (x0, y0) = (x.floor() as i64, y.floor() as i64);
    let (fx, fy) = (x - x0 as f64, y - y0 as f64);
    let px = |x: i64, y: i64| {
        if x < 0 || y < 0 || x >= w || y >= h {
            bg
        } else {
            f64::from(img.get_pixel(x as u32, y as u32).0[0])
        }
    };
    let top = px(x0, y0) * (1.0 - fx) + px(x0 + 1, y0) * fx;
    let bot = px(x0, y0 + 1) * (1.0 - fx) + px(x0 + 1, y0 + 1) * fx;
    top * (1.0 - fy) + bot * fy
}

/// The homography mapping `from[i]` to `to[i]` (8 unknowns, Gaussian elimination).
fn homography(from: [(f64, f64); 4], to: [(f64, f64); 4]) -> [f64; 9] {
    let mut m = [[0.0f64; 9]; 8];
    for i in 0..4 {
        let ((x, y), (u, v)) = (from[i], to[i]);
        m[2 * i] = [x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y, u];
        m[2 * i + 1] = [0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y, v];
    }
    for c in 0..8 {
        let p = (c..8)
            .max_by(|&a, &b| m[a][c].abs().total_cmp(&m[b][c].abs()))
            .unwrap_or(c);
        m.swap(c, p);
        for r in 0..8 {
            if r != c && m[c][c] != 0.0 {
                let f = m[r][c] / m[c][c];
                let pivot = m[c];
                for (x, p) in m[r].iter_mut().zip(pivot).skip(c) {
                    *x -= f * p;
                }
            }
        }
    }
    let mut h = [0.0; 9];
    for (i, (hi, row)) in h.iter_mut().zip(&m).enumerate() {
        *hi = row[8] / row[i];
    }
    h[8] = 1.0;
    h
}

/// Places `src` into a `w`×`h` canvas so its corners land on `corners` (TL, TR, BR, BL).
fn warp(src: &GrayImage, w: u32, h: u32, corners: [(f64, f64); 4], bg: f64) -> GrayImage {
    let (sw, sh) = (f64::from(src.width()), f64::from(src.height()));
    // Map output -> source directly.
    let hm = homography(corners, [(0.0, 0.0), (sw, 0.0), (sw, sh), (0.0, sh)]);
    GrayImage::from_fn(w, h, |x, y| {
        let (x, y) = (f64::from(x) + 0.5, f64::from(y) + 0.5);
        let d = hm[6] * x + hm[7] * y + hm[8];
        let (u, v) = (
            (hm[0] * x + hm[1] * y + hm[2]) / d,
            (hm[3] * x + hm[4] * y + hm[5]) / d,
        );
        Luma([sample(src, u - 0.5, v - 0.5, bg).round().clamp(0.0, 255.0) as u8])
    })
}

/// Centred placement with rotation `angle` (radians) and per-corner jitter `persp` (fraction of
/// the symbol size) on a canvas `margin` times the symbol size.
fn place(
    rng: &mut Rng,
    sym: &GrayImage,
    angle: f64,
    persp: f64,
    margin: f64,
    bg: f64,
) -> GrayImage {
    let s = f64::from(sym.width());
    let size = (s * margin).round() as u32;
    let c = f64::from(size) / 2.0;
    let mut corners = [
        (-s / 2.0, -s / 2.0),
        (s / 2.0, -s / 2.0),
        (s / 2.0, s / 2.0),
        (-s / 2.0, s / 2.0),
    ];
    for p in &mut corners {
        p.0 += rng.range(-persp, persp) * s;
        p.1 += rng.range(-persp, persp) * s;
        let (sn, cs) = angle.sin_cos();
        *p = (c + p.0 * cs - p.1 * sn, c + p.0 * sn + p.1 * cs);
    }
    warp(sym, size, size, corners, bg)
}

fn map(img: &mut GrayImage, f: impl Fn(u32, u32, f64) -> f64) {
    for (x, y, p) in img.enumerate_pixels_mut() {
        p.0[0] = f(x, y, f64::from(p.0[0])).round().clamp(0.0, 255.0) as u8;
    }
}

fn noise(rng: &mut Rng, img: &mut GrayImage, sigma: f64) {
    for p in img.pixels_mut() {
        p.0[0] = (f64::from(p.0[0]) + rng.gauss() * sigma)
            .round()
            .clamp(0.0, 255.0) as u8;
    }
}

fn shading(rng: &mut Rng, img: &mut GrayImage, depth: f64) {
    let (w, h) = (f64::from(img.width()), f64::from(img.height()));
    let a = rng.range(0.0, std::f64::consts::TAU);
    let (dx, dy) = (a.cos(), a.sin());
    // A light spot too: a bright highlight on one side, a shadow on the other.
    let (sx, sy, sr) = (
        rng.range(0.0, w),
        rng.range(0.0, h),
        rng.range(0.2, 0.6) * w,
    );
    map(img, |x, y, v| {
        let t =
            ((f64::from(x) / w - 0.5) * dx + (f64::from(y) / h - 0.5) * dy + 0.5).clamp(0.0, 1.0);
        let spot = (-((f64::from(x) - sx).powi(2) + (f64::from(y) - sy).powi(2)) / (sr * sr)).exp();
        v * (1.0 - depth * t) + 60.0 * spot
    });
}

fn clutter(rng: &mut Rng, img: &mut GrayImage, amount: u32, keep_out: (f64, f64, f64)) {
    let (w, h) = (img.width(), img.height());
    let (cx, cy, r) = keep_out;
    for _ in 0..amount {
        let (x0, y0) = (rng.int(0, w - 1), rng.int(0, h - 1));
        let (bw, bh) = (rng.int(2, w / 6), rng.int(2, h / 6));
        // Stay off the code itself: clutter surrounds it.
        let (mx, my) = (f64::from(x0 + bw / 2), f64::from(y0 + bh / 2));
        if (mx - cx).abs() < r && (my - cy).abs() < r {
            continue;
        }
        let v = if rng.int(0, 1) == 0 {
            rng.int(0, 60)
        } else {
            rng.int(120, 255)
        } as u8;
        let stripes = rng.int(0, 2) == 0;
        for y in y0..(y0 + bh).min(h) {
            for x in x0..(x0 + bw).min(w) {
                if !stripes || (x / 3 + y / 3) % 2 == 0 {
                    img.put_pixel(x, y, Luma([v]));
                }
            }
        }
    }
}

fn jpeg(img: &GrayImage, quality: u8) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, quality).encode_image(img)?;
    Ok(out)
}

fn png(img: &GrayImage) -> Result<Vec<u8>> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)?;
    Ok(out.into_inner())
}

/// One distorted image: (bytes, extension, parameters).
fn make(rng: &mut Rng, kind: &str, text: &str) -> Result<(Vec<u8>, &'static str, String)> {
    let scale = rng.int(3, 6);
    let sym = symbol(text, scale)?;
    let bg = rng.range(200.0, 255.0);
    let s = f64::from(sym.width());
    let mut params = format!("scale={scale}");
    let a0 = rng.range(-0.05, 0.05);
    let mut img = place(rng, &sym, a0, 0.0, 1.3, bg);
    let mut quality = None;
    match kind {
        "blur" => {
            let sigma = rng.range(0.3, 1.1) * f64::from(scale);
            let _ = write!(params, " sigma={sigma:.2}");
            img = imageops::blur(&img, sigma as f32);
        }
        "rotation" => {
            let a = rng.range(0.0, std::f64::consts::TAU);
            let _ = write!(params, " angle={:.0}", a.to_degrees());
            img = imageops::blur(&place(rng, &sym, a, 0.0, 1.5, bg), 0.6);
        }
        "perspective" => {
            let p = rng.range(0.05, 0.3);
            let _ = write!(params, " jitter={p:.2}");
            let a = rng.range(-0.3, 0.3);
            img = place(rng, &sym, a, p, 1.8, bg);
        }
        "jpeg" => {
            let q = rng.int(3, 25) as u8;
            let _ = write!(params, " quality={q}");
            img = imageops::blur(&img, 0.8);
            quality = Some(q);
        }
        "noise" => {
            let sigma = rng.range(20.0, 90.0);
            let _ = write!(params, " sigma={sigma:.0}");
            noise(rng, &mut img, sigma);
        }
        "shading" => {
            let d = rng.range(0.4, 0.95);
            let _ = write!(params, " depth={d:.2}");
            shading(rng, &mut img, d);
        }
        "lowres" => {
            let module = rng.range(0.9, 2.2);
            let _ = write!(params, " px-per-module={module:.2}");
            let f = module / f64::from(scale);
            let (w, h) = (
                (f64::from(img.width()) * f) as u32,
                (f64::from(img.height()) * f) as u32,
            );
            img = imageops::resize(&img, w.max(1), h.max(1), imageops::FilterType::Triangle);
        }
        "lowcontrast" => {
            let d = rng.range(12.0, 50.0);
            let base = rng.range(40.0, 200.0 - d);
            let _ = write!(params, " range={d:.0}");
            map(&mut img, |_, _, v| base + v / 255.0 * d);
            noise(rng, &mut img, 2.0);
        }
        "clutter" => {
            let a = rng.range(-0.2, 0.2);
            let big = place(rng, &sym, a, 0.02, 2.5, bg);
            let c = f64::from(big.width()) / 2.0;
            img = big;
            let n = rng.int(20, 120);
            let _ = write!(params, " boxes={n}");
            clutter(rng, &mut img, n, (c, c, s * 0.75));
            img = imageops::blur(&img, 0.7);
        }
        _ => {
            // camera: a bit of everything.
            let p = rng.range(0.02, 0.12);
            let a = rng.range(-0.6, 0.6);
            img = place(rng, &sym, a, p, 1.8, bg);
            let c = f64::from(img.width()) / 2.0;
            let n = rng.int(5, 40);
            clutter(rng, &mut img, n, (c, c, s * 0.75));
            let sigma = rng.range(0.15, 0.6) * f64::from(scale);
            img = imageops::blur(&img, sigma as f32);
            let d = rng.range(0.2, 0.6);
            shading(rng, &mut img, d);
            let ns = rng.range(4.0, 25.0);
            noise(rng, &mut img, ns);
            let q = rng.int(15, 60) as u8;
            quality = Some(q);
            let _ = write!(
                params,
                " jitter={p:.2} angle={:.0} blur={sigma:.2} shade={d:.2} noise={ns:.0} quality={q}",
                a.to_degrees()
            );
        }
    }
    finish(rng, &img, quality, params)
}

/// Encodes `img`: JPEG at `quality` if given, else JPEG at 90 or PNG at random.
fn finish(
    rng: &mut Rng,
    img: &GrayImage,
    quality: Option<u8>,
    params: String,
) -> Result<(Vec<u8>, &'static str, String)> {
    Ok(match quality {
        Some(q) => (jpeg(img, q)?, "jpg", params),
        None if rng.int(0, 2) == 0 => (jpeg(img, 90)?, "jpg", params),
        None => (png(img)?, "png", params),
    })
}

/// Steep perspective: the symbol's plane tilted by `tilt` (radians) about an in-plane axis at
/// `axis`, seen by a pinhole camera `dist` from its centre (focal length `dist`, so the centre
/// keeps its size), turned by `spin` in the image. The far edge shrinks, the near one grows.
fn tilted(sym: &GrayImage, tilt: f64, axis: f64, spin: f64, dist: f64, bg: f64) -> GrayImage {
    let s = f64::from(sym.width());
    let (an, ac) = axis.sin_cos();
    let (tn, tc) = tilt.sin_cos();
    let (sn, sc) = spin.sin_cos();
    let mut corners = [
        (-s / 2.0, -s / 2.0),
        (s / 2.0, -s / 2.0),
        (s / 2.0, s / 2.0),
        (-s / 2.0, s / 2.0),
    ];
    for p in &mut corners {
        // Components along the tilt axis (u) and across it (v); v leaves the plane.
        let (u, v) = (p.0 * ac + p.1 * an, -p.0 * an + p.1 * ac);
        let k = dist / (dist + v * tn);
        let (u, v) = (u * k, v * tc * k);
        let (x, y) = (u * ac - v * an, u * an + v * ac);
        *p = (x * sc - y * sn, x * sn + y * sc);
    }
    let (x0, x1) = corners
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let (y0, y1) = corners
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
    let m = 0.15 * s;
    for p in &mut corners {
        *p = (p.0 - x0 + m, p.1 - y0 + m);
    }
    let (w, h) = (
        (x1 - x0 + 2.0 * m).ceil() as u32,
        (y1 - y0 + 2.0 * m).ceil() as u32,
    );
    warp(sym, w, h, corners, bg)
}

/// The symbol printed round a cylinder (a bottle, a can) whose axis runs down the image, seen
/// from `dist` (camera to surface, in symbol widths): its width wraps `half` radians each side
/// of the line facing the camera. Columns crowd towards the edges (a barrel warp along x), the
/// middle bulges a little towards the camera, and the surface darkens by `shade`·(1 − cos φ).
fn cylinder(sym: &GrayImage, half: f64, dist: f64, shade: f64, bg: f64) -> GrayImage {
    let s = f64::from(sym.width());
    let r = s / 2.0 / half;
    let d = r + dist * s;
    let f = d - r;
    // Image x of the surface point at angle φ; increasing in φ over ±half (< 90°).
    let px = |phi: f64| f * r * phi.sin() / (d - r * phi.cos());
    let m = 0.15 * s;
    let xmax = px(half);
    let (w, h) = (
        (2.0 * (xmax + m)).ceil() as u32,
        (s + 2.0 * m).ceil() as u32,
    );
    let (cx, cy) = (f64::from(w) / 2.0, f64::from(h) / 2.0);
    // Per column: the angle φ that images there (bisection), or none off the cylinder.
    let phis: Vec<Option<f64>> = (0..w)
        .map(|x| {
            let x = f64::from(x) + 0.5 - cx;
            if x.abs() > xmax {
                return None;
            }
            let (mut lo, mut hi) = (-half, half);
            for _ in 0..50 {
                let mid = (lo + hi) / 2.0;
                if px(mid) < x {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            Some((lo + hi) / 2.0)
        })
        .collect();
    GrayImage::from_fn(w, h, |x, y| {
        let v = match phis[x as usize] {
            None => bg,
            Some(phi) => {
                let depth = d - r * phi.cos();
                let sy = (f64::from(y) + 0.5 - cy) * depth / f + s / 2.0;
                let sx = r * phi + s / 2.0;
                let v = sample(sym, sx - 0.5, sy - 0.5, bg);
                if (0.0..s).contains(&sy) {
                    v * (1.0 - shade * (1.0 - phi.cos()))
                } else {
                    v
                }
            }
        };
        Luma([v.round().clamp(0.0, 255.0) as u8])
    })
}

/// Linear motion blur: the mean over a `len`-pixel segment at `angle` (bilinear samples a pixel
/// apart), `bg` beyond the edges.
fn motion(img: &GrayImage, len: f64, angle: f64, bg: f64) -> GrayImage {
    let n = len.ceil() as u32 + 1;
    let (dy, dx) = angle.sin_cos();
    GrayImage::from_fn(img.width(), img.height(), |x, y| {
        let sum: f64 = (0..n)
            .map(|i| {
                let t = (f64::from(i) / f64::from(n - 1) - 0.5) * len;
                sample(img, f64::from(x) + t * dx, f64::from(y) + t * dy, bg)
            })
            .sum();
        Luma([(sum / f64::from(n)).round().clamp(0.0, 255.0) as u8])
    })
}

/// Resamples by `f` with plain bilinear point samples, no low-pass first: fine patterns alias,
/// as on a sensor without an anti-aliasing filter.
fn point_resize(img: &GrayImage, f: f64) -> GrayImage {
    let (w, h) = (
        (f64::from(img.width()) * f).round().max(1.0) as u32,
        (f64::from(img.height()) * f).round().max(1.0) as u32,
    );
    GrayImage::from_fn(w, h, |x, y| {
        let (sx, sy) = (
            (f64::from(x) + 0.5) / f - 0.5,
            (f64::from(y) + 0.5) / f - 0.5,
        );
        Luma([sample(img, sx, sy, 255.0).round().clamp(0.0, 255.0) as u8])
    })
}

/// An opaque ellipse (a fingertip, a sticker) of value `val` centred at `c` with semi-axes `a`,
/// `b` turned by `angle`, edges anti-aliased over about a pixel and a half.
fn blob(img: &mut GrayImage, c: (f64, f64), a: f64, b: f64, angle: f64, val: f64) {
    let (sn, cs) = angle.sin_cos();
    map(img, |x, y, v| {
        let (x, y) = (f64::from(x) + 0.5 - c.0, f64::from(y) + 0.5 - c.1);
        let (u, w) = (x * cs + y * sn, -x * sn + y * cs);
        let d = ((u / a).powi(2) + (w / b).powi(2)).sqrt();
        let alpha = ((1.0 - d) * a.min(b) / 1.5).clamp(0.0, 1.0);
        v * (1.0 - alpha) + val * alpha
    });
}

/// Whether `p` is inside the ellipse of [`blob`].
fn in_blob(p: (f64, f64), c: (f64, f64), a: f64, b: f64, angle: f64) -> bool {
    let (sn, cs) = angle.sin_cos();
    let (x, y) = (p.0 - c.0, p.1 - c.1);
    let (u, w) = (x * cs + y * sn, -x * sn + y * cs);
    (u / a).powi(2) + (w / b).powi(2) <= 1.0
}

/// The nine harder kinds of `--hard`.
pub const HARD_KINDS: &[&str] = &[
    "heavyblur",
    "steep",
    "curved",
    "motion",
    "occlusion",
    "moire",
    "shadow",
    "tiny",
    "jpeg5",
];

/// One image of a harder kind: (bytes, extension, parameters).
fn make_hard(rng: &mut Rng, kind: &str, text: &str) -> Result<(Vec<u8>, &'static str, String)> {
    let scale = rng.int(3, 6);
    let sym = symbol(text, scale)?;
    let bg = rng.range(200.0, 255.0);
    let s = f64::from(sym.width());
    let quiet = f64::from(QUIET_ZONE as u32 * scale);
    let mut params = format!("scale={scale}");
    let a0 = rng.range(-0.05, 0.05);
    let mut img = place(rng, &sym, a0, 0.0, 1.3, bg);
    let mut quality = None;
    match kind {
        "heavyblur" => {
            // "blur" draws 0.3-1.1 modules; this starts where that one ends.
            let sigma = rng.range(1.1, 2.0) * f64::from(scale);
            let _ = write!(params, " sigma={sigma:.2}");
            img = imageops::blur(&img, sigma as f32);
        }
        "steep" => {
            let tilt = rng.range(50.0, 65.0).to_radians();
            let axis = rng.range(0.0, std::f64::consts::TAU);
            let spin = rng.range(-0.4, 0.4);
            let dist = rng.range(0.9, 2.0);
            let _ = write!(
                params,
                " tilt={:.0} axis={:.0} camera-distance={dist:.2}",
                tilt.to_degrees(),
                axis.to_degrees()
            );
            img = imageops::blur(&tilted(&sym, tilt, axis, spin, dist * s, bg), 0.5);
        }
        "curved" => {
            let half = rng.range(20.0, 70.0).to_radians();
            let dist = rng.range(1.0, 3.0);
            let shade = rng.range(0.1, 0.4);
            let _ = write!(
                params,
                " half-arc={:.0} camera-distance={dist:.2} shade={shade:.2}",
                half.to_degrees()
            );
            img = imageops::blur(&cylinder(&sym, half, dist, shade, bg), 0.5);
            if rng.int(0, 1) == 1 {
                img = imageops::rotate90(&img);
                params.push_str(" axis=horizontal");
            }
        }
        "motion" => {
            let len = rng.range(8.0, 20.0);
            let angle = rng.range(0.0, std::f64::consts::PI);
            let _ = write!(params, " length={len:.1} angle={:.0}", angle.to_degrees());
            img = motion(&img, len, angle, bg);
        }
        "occlusion" => {
            // The symbol proper (quiet zone excluded), nearly axis-aligned at the centre.
            let c = f64::from(img.width()) / 2.0;
            let half = s / 2.0 - quiet;
            let area = (2.0 * half).powi(2);
            let (sn, cs) = a0.sin_cos();
            let f = half - 3.5 * f64::from(scale);
            let finders = [(-f, -f), (f, -f), (-f, f)]
                .map(|(x, y)| (c + x * cs - y * sn, c + x * sn + y * cs));
            let val = match rng.int(0, 2) {
                0 => rng.range(20.0, 70.0),
                1 => rng.range(120.0, 180.0),
                _ => rng.range(235.0, 255.0),
            };
            let mut chosen = None;
            for _ in 0..200 {
                let frac = rng.range(0.05, 0.15);
                let aspect = rng.range(1.0, 2.5);
                let b = (frac * area / (std::f64::consts::PI * aspect)).sqrt();
                let a = b * aspect;
                let angle = rng.range(0.0, std::f64::consts::PI);
                let centre = (c + rng.range(-half, half), c + rng.range(-half, half));
                if finders.iter().all(|&p| in_blob(p, centre, a, b, angle)) {
                    continue;
                }
                // The share of the symbol actually covered (part may hang off its edge).
                let mut hit = 0u32;
                let n = 64;
                for i in 0..n {
                    for j in 0..n {
                        let p = (
                            c - half + (f64::from(i) + 0.5) / f64::from(n) * 2.0 * half,
                            c - half + (f64::from(j) + 0.5) / f64::from(n) * 2.0 * half,
                        );
                        hit += u32::from(in_blob(p, centre, a, b, angle));
                    }
                }
                let covered = f64::from(hit) / f64::from(n * n);
                if (0.05..=0.15).contains(&covered) {
                    chosen = Some((centre, a, b, angle, covered));
                    break;
                }
            }
            let (centre, a, b, angle, covered) = chosen.ok_or("no occluder placement")?;
            let _ = write!(params, " covered={:.0}% value={val:.0}", covered * 100.0);
            blob(&mut img, centre, a, b, angle, val);
            noise(rng, &mut img, 3.0);
            img = imageops::blur(&img, 0.5);
        }
        "moire" => {
            // A screen: raised black, dimmed white, its pixel grid (one grating) beating with
            // the sensor's (another, a few per cent and degrees off), then a slight downscale.
            let (lo, hi) = (rng.range(25.0, 60.0), rng.range(190.0, 240.0));
            map(&mut img, |_, _, v| lo + v / 255.0 * (hi - lo));
            let p1 = rng.range(1.6, 3.0);
            let p2 = p1 * rng.range(1.04, 1.15);
            let t1 = rng.range(-0.3, 0.3);
            let t2 = t1 + rng.range(0.03, 0.14) * if rng.int(0, 1) == 0 { 1.0 } else { -1.0 };
            let amp = rng.range(0.3, 0.6);
            let f = rng.range(0.6, 0.9);
            let _ = write!(
                params,
                " period={p1:.2}/{p2:.2} amplitude={amp:.2} downscale={f:.2}"
            );
            let g = |x: f64, y: f64, p: f64, t: f64| {
                let (sn, cs) = t.sin_cos();
                let k = std::f64::consts::TAU / p;
                (0.5 + 0.5 * ((x * cs + y * sn) * k).cos())
                    * (0.5 + 0.5 * ((-x * sn + y * cs) * k).cos())
            };
            map(&mut img, |x, y, v| {
                let (x, y) = (f64::from(x), f64::from(y));
                let m = 0.5 * (g(x, y, p1, t1) + g(x, y, p2, t2));
                v * (1.0 - amp + 2.0 * amp * m)
            });
            img = point_resize(&img, f);
            noise(rng, &mut img, 4.0);
        }
        "shadow" => {
            let d = rng.range(0.4, 0.7);
            let c = f64::from(img.width()) / 2.0;
            let half = s / 2.0 - quiet;
            // Edges through points on the symbol: a half-plane, a corner or a band.
            let shape = rng.int(0, 2);
            let p = (
                c + rng.range(-half, half) * 0.7,
                c + rng.range(-half, half) * 0.7,
            );
            let t1 = rng.range(0.0, std::f64::consts::TAU);
            let t2 = t1 + rng.range(0.4, 1.4) * std::f64::consts::PI / 2.0;
            let width = rng.range(0.15, 0.45) * 2.0 * half;
            let name = ["half-plane", "corner", "band"][shape as usize];
            let _ = write!(params, " darker={:.0}% shape={name}", d * 100.0);
            map(&mut img, |x, y, v| {
                let (x, y) = (f64::from(x) + 0.5 - p.0, f64::from(y) + 0.5 - p.1);
                let e1 = x * t1.cos() + y * t1.sin();
                let e2 = x * t2.cos() + y * t2.sin();
                // Signed distance inside the shadow, anti-aliased over one pixel.
                let inside = match shape {
                    0 => e1,
                    1 => e1.min(e2),
                    _ => width / 2.0 - e1.abs(),
                };
                let alpha = (inside + 0.5).clamp(0.0, 1.0);
                v * (1.0 - d * alpha)
            });
            noise(rng, &mut img, 2.0);
        }
        "tiny" => {
            let module = rng.range(1.0, 2.0);
            let side = (s * module / f64::from(scale)).round() as u32;
            let small = imageops::resize(&sym, side, side, imageops::FilterType::Triangle);
            let w = rng.int(800, 1280);
            let h = w * 3 / 4;
            let (ox, oy) = (rng.int(0, w - side), rng.int(0, h - side));
            let _ = write!(params, " px-per-module={module:.2} photo={w}x{h}");
            let mut photo = GrayImage::from_pixel(w, h, Luma([bg as u8]));
            let half = f64::from(side) / 2.0;
            let n = rng.int(30, 150);
            clutter(
                rng,
                &mut photo,
                n,
                (
                    f64::from(ox) + half,
                    f64::from(oy) + half,
                    half * 1.5 + f64::from(w / 12),
                ),
            );
            imageops::replace(&mut photo, &small, i64::from(ox), i64::from(oy));
            let depth = rng.range(0.1, 0.4);
            shading(rng, &mut photo, depth);
            img = imageops::blur(&photo, 0.5);
            let ns = rng.range(2.0, 8.0);
            noise(rng, &mut img, ns);
        }
        _ => {
            // jpeg5: quality 5, slightly turned and softened as a photo would be.
            let a = rng.range(-0.3, 0.3);
            let _ = write!(params, " angle={:.0} quality=5", a.to_degrees());
            img = imageops::blur(&place(rng, &sym, a, 0.0, 1.3, bg), 0.6);
            quality = Some(5);
        }
    }
    finish(rng, &img, quality, params)
}

fn main() -> Result<()> {
    let hard = std::env::args().any(|a| a == "--hard");
    let mut args = std::env::args().skip(1).filter(|a| a != "--hard");
    let dir = PathBuf::from(
        args.next()
            .ok_or("usage: distort OUT_DIR [N] [SEED] [--hard]")?,
    );
    let n: usize = args.next().map_or(Ok(200), |s| s.parse())?;
    let seed: u64 = args.next().map_or(Ok(1), |s| s.parse())?;
    std::fs::create_dir_all(&dir)?;
    let texts = payloads()?;
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut manifest = String::new();
    for i in 0..n {
        let kinds = if hard { HARD_KINDS } else { KINDS };
        let kind = kinds[i % kinds.len()];
        let text = &texts[rng.int(0, texts.len() as u32 - 1) as usize];
        let (bytes, ext, params) = if hard {
            make_hard(&mut rng, kind, text)?
        } else {
            make(&mut rng, kind, text)?
        };
        let name = format!("{i:04}-{kind}.{ext}");
        std::fs::write(dir.join(&name), bytes)?;
        let _ = writeln!(manifest, "{name}\t{kind}\t{text}\t{params}");
    }
    std::fs::write(dir.join("manifest.tsv"), manifest)?;
    eprintln!("wrote {n} images to {}", dir.display());
    Ok(())
}
