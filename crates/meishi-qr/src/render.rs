//! Drawing a QR code: terminal text, SVG and PNG, each with the standard 4-module quiet zone.

use std::io::Cursor;

use image::{GrayImage, ImageFormat, Luma};
use qrcode::{Color, QrCode};

use crate::Ecc;

/// Light margin around the symbol, in modules (ISO/IEC 18004 asks for 4).
pub const QUIET_ZONE: usize = 4;
/// Largest PNG scale, in pixels a module: a version 40 symbol at 32 is 5,888 pixels wide.
pub const MAX_SCALE: u32 = 32;

/// Why a QR code could not be drawn.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RenderError {
    #[error("the text ({len} bytes) does not fit in a QR code at error correction level {ecc}: use level L or shorten it")]
    TooLong { len: usize, ecc: Ecc },
    #[error("PNG scale {0} is out of range: use 1 to {MAX_SCALE} pixels a module")]
    BadScale(u32),
    #[error("could not encode the PNG")]
    Png(#[source] image::ImageError),
}

/// The symbol as rows of dark (`true`) and light modules, quiet zone included.
fn modules(text: &str, ecc: Ecc) -> Result<Vec<Vec<bool>>, RenderError> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), ecc.level()).map_err(|_| {
        RenderError::TooLong {
            len: text.len(),
            ecc,
        }
    })?;
    let w = code.width();
    let colors = code.to_colors();
    let full = w + 2 * QUIET_ZONE;
    let mut rows = vec![vec![false; full]; full];
    for (i, c) in colors.iter().enumerate() {
        rows[QUIET_ZONE + i / w][QUIET_ZONE + i % w] = *c == Color::Dark;
    }
    Ok(rows)
}

/// Black on white, as fixed palette entries: 256-colour indices 16 (#000000) and 231 (#ffffff)
/// are in the colour cube that terminal themes leave alone, unlike the 16 basic colours that
/// dark themes often remap (their "white" is a grey, their "black" a dark grey).
const COLORS: &str = "\x1b[38;5;16;48;5;231m";
const RESET: &str = "\x1b[0m";

/// The symbol as terminal text, two module rows a line with Unicode half blocks (`▀▄█`).
///
/// It sets explicit black-on-white colours on every line, so it reads the same on dark and light
/// terminals: printed with the terminal's own colours, a dark theme would show light modules on
/// dark, an inverted code that many phone scanners reject, and the quiet zone would be
/// indistinguishable from the background. Each line ends with a colour reset so nothing bleeds
/// into the next line or the prompt.
pub fn render_terminal(text: &str, ecc: Ecc) -> Result<String, RenderError> {
    let rows = modules(text, ecc)?;
    let width = rows.first().map_or(0, Vec::len);
    let light = vec![false; width];
    let mut out = String::with_capacity(rows.len() / 2 * (width * 3 + 32));
    for pair in rows.chunks(2) {
        let (top, bottom) = (&pair[0], pair.get(1).unwrap_or(&light));
        out.push_str(COLORS);
        for (&t, &b) in top.iter().zip(bottom) {
            out.push(match (t, b) {
                (true, true) => '█',
                (true, false) => '▀',
                (false, true) => '▄',
                (false, false) => ' ',
            });
        }
        out.push_str(RESET);
        out.push('\n');
    }
    Ok(out)
}

/// The symbol as an SVG document: a white background and one path of dark modules, one unit a
/// module, drawn with crisp edges so it scales to any size.
pub fn render_svg(text: &str, ecc: Ecc) -> Result<String, RenderError> {
    let rows = modules(text, ecc)?;
    let n = rows.len();
    let mut path = String::new();
    for (y, row) in rows.iter().enumerate() {
        let mut x = 0;
        while x < n {
            if row[x] {
                let start = x;
                while x < n && row[x] {
                    x += 1;
                }
                path.push_str(&format!("M{start} {y}h{}v1h-{}z", x - start, x - start));
            } else {
                x += 1;
            }
        }
    }
    Ok(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {n} {n}\" width=\"{w}\" height=\"{w}\" shape-rendering=\"crispEdges\">\
         <rect width=\"{n}\" height=\"{n}\" fill=\"#fff\"/><path fill=\"#000\" d=\"{path}\"/></svg>\n",
        w = n * 8
    ))
}

/// The symbol as an 8-bit grayscale PNG with `scale` pixels a module.
pub fn render_png(text: &str, ecc: Ecc, scale: u32) -> Result<Vec<u8>, RenderError> {
    if !(1..=MAX_SCALE).contains(&scale) {
        return Err(RenderError::BadScale(scale));
    }
    let rows = modules(text, ecc)?;
    let n = rows.len() as u32;
    let img = GrayImage::from_fn(n * scale, n * scale, |x, y| {
        let dark = rows[(y / scale) as usize][(x / scale) as usize];
        Luma([if dark { 0 } else { 255 }])
    });
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Png)
        .map_err(RenderError::Png)?;
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_has_quiet_zone_and_colors() {
        let t = render_terminal("HELLO", Ecc::M).expect("test");
        let lines: Vec<&str> = t.lines().collect();
        // Version 1: 21 modules + 8 quiet = 29 columns, 15 lines (29 rows, two a line).
        assert_eq!(lines.len(), 15);
        for l in &lines {
            let body = l
                .strip_prefix(COLORS)
                .and_then(|l| l.strip_suffix(RESET))
                .expect("colored line");
            assert_eq!(body.chars().count(), 29);
        }
        // The first two lines are the quiet zone: all light.
        assert!(lines[0]
            .trim_start_matches(COLORS)
            .trim_end_matches(RESET)
            .chars()
            .all(|c| c == ' '));
        assert!(lines[2].contains('█') || lines[2].contains('▀') || lines[2].contains('▄'));
    }

    /// The half blocks drawn back into pixels must scan to the same text: the mapping of module
    /// pairs to `▀▄█ ` is right side up and the quiet zone is light.
    #[test]
    fn terminal_output_scans_back() {
        let text = "MEISHI1:TEST 123";
        let t = render_terminal(text, Ecc::Q).expect("test");
        let mut rows: Vec<Vec<bool>> = Vec::new();
        for line in t.lines() {
            let body = line.trim_start_matches(COLORS).trim_end_matches(RESET);
            let (top, bottom): (Vec<bool>, Vec<bool>) = body
                .chars()
                .map(|c| match c {
                    '█' => (true, true),
                    '▀' => (true, false),
                    '▄' => (false, true),
                    _ => (false, false),
                })
                .unzip();
            rows.push(top);
            rows.push(bottom);
        }
        let n = rows[0].len() as u32;
        let img = GrayImage::from_fn(n * 4, rows.len() as u32 * 4, |x, y| {
            Luma([if rows[(y / 4) as usize][(x / 4) as usize] {
                0
            } else {
                255
            }])
        });
        assert_eq!(crate::scan_gray(&img), vec![text.to_owned()]);
    }

    #[test]
    fn svg_is_well_formed() {
        let s = render_svg("HELLO", Ecc::H).expect("test");
        assert!(s.starts_with("<svg") && s.ends_with("</svg>\n"));
        assert!(s.contains("viewBox=\"0 0 29 29\""));
    }

    #[test]
    fn png_scale_checked() {
        assert!(matches!(
            render_png("A", Ecc::M, 0),
            Err(RenderError::BadScale(0))
        ));
        assert!(matches!(
            render_png("A", Ecc::M, 33),
            Err(RenderError::BadScale(33))
        ));
        let png = render_png("A", Ecc::M, 2).expect("test");
        assert_eq!(&png[1..4], b"PNG");
    }

    #[test]
    fn too_long() {
        let long = "a".repeat(3000);
        assert!(matches!(
            render_terminal(&long, Ecc::H),
            Err(RenderError::TooLong { .. })
        ));
    }
}
