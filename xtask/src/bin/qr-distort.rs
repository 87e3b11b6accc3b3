//! Writes camera-like distorted images of meishi QR codes, for the decode-rate benchmark.
//!
//! ```text
//! cargo run --release -p xtask --bin qr-distort -- OUT_DIR [N] [SEED]
//! ```
//!
//! Deterministic: the same N and SEED give the same images. Each image is one distortion kind
//! (blur, rotation, perspective, jpeg, noise, shading, lowres, lowcontrast, clutter) at a random
//! strength from a range that runs from easy to beyond what decoders manage, or `camera`, several
//! milder ones at once. `OUT_DIR/manifest.tsv` lists `file<TAB>kind<TAB>expected text`.

use std::error::Error;
use std::fmt::Write as _;
use std::path::PathBuf;

use image::codecs::jpeg::JpegEncoder;
use image::{imageops, GrayImage, Luma};
use meishi_card::{Card, Identity, SignedCard, Social, SocialKind};
use meishi_qr::{encode_payload, render_png, Ecc};

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
    Ok(match quality {
        Some(q) => (jpeg(&img, q)?, "jpg", params),
        None if rng.int(0, 2) == 0 => (jpeg(&img, 90)?, "jpg", params),
        None => (png(&img)?, "png", params),
    })
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().ok_or("usage: distort OUT_DIR [N] [SEED]")?);
    let n: usize = args.next().map_or(Ok(200), |s| s.parse())?;
    let seed: u64 = args.next().map_or(Ok(1), |s| s.parse())?;
    std::fs::create_dir_all(&dir)?;
    let texts = payloads()?;
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut manifest = String::new();
    for i in 0..n {
        let kind = KINDS[i % KINDS.len()];
        let text = &texts[rng.int(0, texts.len() as u32 - 1) as usize];
        let (bytes, ext, params) = make(&mut rng, kind, text)?;
        let name = format!("{i:04}-{kind}.{ext}");
        std::fs::write(dir.join(&name), bytes)?;
        let _ = writeln!(manifest, "{name}\t{kind}\t{text}\t{params}");
    }
    std::fs::write(dir.join("manifest.tsv"), manifest)?;
    eprintln!("wrote {n} images to {}", dir.display());
    Ok(())
}
