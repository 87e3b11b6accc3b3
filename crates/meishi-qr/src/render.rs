//! Drawing a QR code: terminal text, SVG and PNG, each with the standard 4-module quiet zone
//! (the terminal can fall back to a 2-module one when it is small), PNGs with a caption.

use std::io::Cursor;

use image::{GrayImage, ImageFormat, Luma};
use qrcode::{Color, QrCode};

use crate::Ecc;

/// Light margin around the symbol, in modules (ISO/IEC 18004 asks for 4).
pub const QUIET_ZONE: usize = 4;
/// The quiet zone of the compact terminal rendering, for terminals too small for the standard
/// one: phone scanners read a code with 2 modules, and the lines saved (two) are often what
/// keeps the top finder patterns from scrolling away.
pub const COMPACT_QUIET_ZONE: usize = 2;
/// Largest PNG scale, in pixels a module: a version 40 symbol at 32 is 5,888 pixels wide.
pub const MAX_SCALE: u32 = 32;

/// A size in terminal character cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cells {
    pub cols: usize,
    pub lines: usize,
}

impl std::fmt::Display for Cells {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}×{}", self.cols, self.lines)
    }
}

/// Why a QR code could not be drawn.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RenderError {
    #[error("the text ({len} bytes) does not fit in a QR code at error correction level {ecc}: use level L or shorten it")]
    TooLong { len: usize, ecc: Ecc },
    #[error("PNG scale {0} is out of range: use 1 to {MAX_SCALE} pixels a module")]
    BadScale(u32),
    /// Even the compact terminal rendering (`need`, its smallest) is larger than `room`.
    #[error("the QR code needs {need} character cells; only {room} are free")]
    TooBig { need: Cells, room: Cells },
    #[error("could not encode the PNG")]
    Png(#[source] image::ImageError),
}

fn encode(text: &str, ecc: Ecc) -> Result<QrCode, RenderError> {
    QrCode::with_error_correction_level(text.as_bytes(), ecc.level()).map_err(|_| {
        RenderError::TooLong {
            len: text.len(),
            ecc,
        }
    })
}

/// The symbol as rows of dark (`true`) and light modules, `quiet` light modules around it.
fn modules(code: &QrCode, quiet: usize) -> Vec<Vec<bool>> {
    let w = code.width();
    let colors = code.to_colors();
    let full = w + 2 * quiet;
    let mut rows = vec![vec![false; full]; full];
    for (i, c) in colors.iter().enumerate() {
        rows[quiet + i / w][quiet + i % w] = *c == Color::Dark;
    }
    rows
}

/// The cells the half-block rendering of a `width`-module symbol takes with `quiet` modules of
/// quiet zone: one column a module, one line per two module rows.
fn cells(width: usize, quiet: usize) -> Cells {
    let full = width + 2 * quiet;
    Cells {
        cols: full,
        lines: full.div_ceil(2),
    }
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
    Ok(half_blocks(&modules(&encode(text, ecc)?, QUIET_ZONE)))
}

/// [`render_terminal`] for a terminal with `room` free: the standard quiet zone if it fits,
/// else the [`COMPACT_QUIET_ZONE`], else [`RenderError::TooBig`] with the compact size; a code
/// cut off at the edge of a terminal cannot be scanned.
pub fn render_terminal_within(text: &str, ecc: Ecc, room: Cells) -> Result<String, RenderError> {
    let code = encode(text, ecc)?;
    let fits = |c: Cells| c.cols <= room.cols && c.lines <= room.lines;
    let quiet = [QUIET_ZONE, COMPACT_QUIET_ZONE]
        .into_iter()
        .find(|&q| fits(cells(code.width(), q)))
        .ok_or(RenderError::TooBig {
            need: cells(code.width(), COMPACT_QUIET_ZONE),
            room,
        })?;
    Ok(half_blocks(&modules(&code, quiet)))
}

/// Module rows as lines of half blocks, two rows a line.
fn half_blocks(rows: &[Vec<bool>]) -> String {
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
    out
}

/// The symbol as an SVG document: a white background and one path of dark modules, one unit a
/// module, drawn with crisp edges so it scales to any size.
pub fn render_svg(text: &str, ecc: Ecc) -> Result<String, RenderError> {
    let rows = modules(&encode(text, ecc)?, QUIET_ZONE);
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
    render_png_captioned(text, ecc, scale, &[])
}

/// [`render_png`] with `caption` lines under the code, below its quiet zone: the first (a name,
/// an event code) large, the others (a hint such as "scan with meishi") smaller, each centred
/// and cut with `...` when too wide. The built-in font draws printable ASCII and a `?` for
/// anything else: check a line with [`caption_drawable`](crate::caption_drawable) first.
pub fn render_png_captioned(
    text: &str,
    ecc: Ecc,
    scale: u32,
    caption: &[&str],
) -> Result<Vec<u8>, RenderError> {
    if !(1..=MAX_SCALE).contains(&scale) {
        return Err(RenderError::BadScale(scale));
    }
    let rows = modules(&encode(text, ecc)?, QUIET_ZONE);
    let side = rows.len() as u32 * scale;
    let strip = (!caption.is_empty()).then(|| crate::caption::strip(side, scale, caption));
    let height = side + strip.as_ref().map_or(0, GrayImage::height);
    let img = GrayImage::from_fn(side, height, |x, y| match (&strip, y.checked_sub(side)) {
        (Some(s), Some(sy)) => *s.get_pixel(x, sy),
        _ => Luma([if rows[(y / scale) as usize][(x / scale) as usize] {
            0
        } else {
            255
        }]),
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

    /// Half-block lines drawn back into pixels, `px` pixels a module.
    fn pixels(t: &str, px: u32) -> GrayImage {
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
        GrayImage::from_fn(n * px, rows.len() as u32 * px, |x, y| {
            Luma([if rows[(y / px) as usize][(x / px) as usize] {
                0
            } else {
                255
            }])
        })
    }

    /// The half blocks drawn back into pixels must scan to the same text: the mapping of module
    /// pairs to `▀▄█ ` is right side up and the quiet zone is light.
    #[test]
    fn terminal_output_scans_back() {
        let text = "MEISHI1:TEST 123";
        let t = render_terminal(text, Ecc::Q).expect("test");
        assert_eq!(crate::scan_gray(&pixels(&t, 4)), vec![text.to_owned()]);
    }

    /// A terminal too small for the standard quiet zone gets the compact one, which scans too;
    /// one too small for that gets the size it would need.
    #[test]
    fn terminal_rendering_fits_the_room() {
        let text = "MEISHI1:TEST 123";
        // Version 1 at Q: 21 modules, 29×15 cells with 4 modules of quiet zone, 25×13 with 2.
        let check = |cols, lines, expected: Option<Cells>| {
            let r = render_terminal_within(text, Ecc::Q, Cells { cols, lines });
            match (r, expected) {
                (Ok(t), Some(c)) => {
                    assert_eq!(t.lines().count(), c.lines, "{cols}×{lines}");
                    let body = t.lines().next().expect("a line");
                    let body = body.trim_start_matches(COLORS).trim_end_matches(RESET);
                    assert_eq!(body.chars().count(), c.cols, "{cols}×{lines}");
                    assert_eq!(crate::scan_gray(&pixels(&t, 4)), vec![text.to_owned()]);
                }
                (Err(RenderError::TooBig { need, room }), None) => {
                    assert_eq!(
                        need,
                        Cells {
                            cols: 25,
                            lines: 13
                        }
                    );
                    assert_eq!(room, Cells { cols, lines });
                }
                (r, e) => panic!("{cols}×{lines}: {r:?}, expected {e:?}"),
            }
        };
        check(
            80,
            24,
            Some(Cells {
                cols: 29,
                lines: 15,
            }),
        );
        check(
            29,
            15,
            Some(Cells {
                cols: 29,
                lines: 15,
            }),
        );
        check(
            28,
            24,
            Some(Cells {
                cols: 25,
                lines: 13,
            }),
        );
        check(
            80,
            14,
            Some(Cells {
                cols: 25,
                lines: 13,
            }),
        );
        check(
            25,
            13,
            Some(Cells {
                cols: 25,
                lines: 13,
            }),
        );
        check(24, 40, None);
        check(80, 12, None);
    }

    /// The caption goes under the quiet zone, which stays light, and the code still scans.
    #[test]
    fn png_caption_keeps_the_quiet_zone_and_scans() {
        let text = "MEISHI1:TEST 123";
        let plain = image::load_from_memory(&render_png(text, Ecc::M, 4).expect("png"))
            .expect("decodes")
            .to_luma8();
        let png = render_png_captioned(text, Ecc::M, 4, &["Ada Lovelace", "scan with meishi"])
            .expect("png");
        let img = image::load_from_memory(&png).expect("decodes").to_luma8();
        let side = plain.width();
        assert_eq!(img.width(), side);
        assert!(img.height() > side + 20, "room for two lines");
        // The code part is the plain rendering, quiet zone included, pixel for pixel.
        for (x, y, p) in plain.enumerate_pixels() {
            assert_eq!(img.get_pixel(x, y), p, "({x}, {y})");
        }
        let quiet = QUIET_ZONE as u32 * 4;
        assert!((side - quiet..side).all(|y| (0..side).all(|x| img.get_pixel(x, y)[0] == 255)));
        assert!(img
            .enumerate_pixels()
            .any(|(_, y, p)| y >= side && p[0] == 0));
        assert_eq!(
            crate::scan_image(&png).expect("scan"),
            vec![text.to_owned()]
        );
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
