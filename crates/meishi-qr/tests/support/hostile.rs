//! Images that hold no QR code but make decoders work hard: the inputs of issue "scanning can
//! take minutes". Shared by the scan tests and the scan benchmark (which includes this file by
//! path), so that both measure the same pixels.

use image::{GrayImage, Luma};

/// A grid of finder-pattern look-alikes: 7×7-module squares (dark ring, light ring, dark 3×3
/// core) at `module` pixels a module, every `pitch` modules. Each one is a candidate finder
/// pattern, and a decoder that tries every triple of them works with the cube of their number.
pub fn finder_lattice(side: u32, module: u32, pitch: u32) -> GrayImage {
    GrayImage::from_fn(side, side, |x, y| {
        let (mx, my) = (x / module, y / module);
        let (cx, cy) = (mx % pitch, my % pitch);
        let dark = if cx < 7 && cy < 7 {
            let ring = cx.min(cy).min(6 - cx).min(6 - cy);
            ring != 1
        } else {
            false
        };
        Luma([if dark { 0 } else { 255 }])
    })
}

/// Uniform noise, xorshift32 from a fixed seed: a "photo" with a 1:1:3:1:1 run everywhere.
pub fn noise(side: u32, seed: u32) -> GrayImage {
    let mut x = seed | 1;
    GrayImage::from_fn(side, side, |_, _| {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        Luma([x as u8])
    })
}

/// One grey level: nothing to find, and every pass used to run on it.
pub fn blank(side: u32) -> GrayImage {
    GrayImage::from_pixel(side, side, Luma([128]))
}

/// PNG bytes of `img`.
pub fn png(img: &GrayImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("encode PNG");
    out.into_inner()
}
