//! Rendering and scanning end to end, interoperability with Debian's zbar and qrencode,
//! hostile images, and the decode rate on a committed corpus of distorted photos.

#[path = "support/hostile.rs"]
mod hostile;

use std::io::Write as _;
use std::process::{Command, Stdio};

use meishi_card::{Card, Identity, SignedCard};
use meishi_qr::{
    classify, encode_payload, render_png, render_svg, scan_image, scan_image_within, vcard_qr_text,
    Budget, Ecc, PassOutcome, Report, ScanError, Scanned, Skip, Threshold,
};

fn ada() -> SignedCard {
    let card: Card =
        serde_json::from_str(include_str!("../testdata/ada.json")).expect("reference card");
    SignedCard::sign(&Identity::from_seed(&[5; 32]), 2, 1_760_000_000, &card).expect("signs")
}

fn have(tool: &str) -> bool {
    let found = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            std::env::var_os("MEISHI_REQUIRE_ALL").is_none(),
            "MEISHI_REQUIRE_ALL: `{tool}` is not installed (apt-get install -y zbar-tools qrencode)"
        );
        eprintln!("\n*** SKIP: `{tool}` is not installed; this interoperability check did not run. CI installs it (apt-get install -y zbar-tools qrencode). ***\n");
    }
    found
}

#[test]
fn render_png_then_scan_every_ecc() {
    let card = ada();
    let text = encode_payload(&card).expect("payload");
    for ecc in Ecc::ALL {
        for scale in [2, 5] {
            let png = render_png(&text, ecc, scale).expect("png");
            let found = scan_image(&png).expect("scan");
            assert_eq!(found, vec![text.clone()], "ecc {ecc} scale {scale}");
            assert_eq!(classify(&found[0]), Ok(Scanned::Meishi(card.clone())));
        }
    }
}

#[test]
fn vcard_qr_scans_back_to_a_contact() {
    let card = ada();
    let text = vcard_qr_text(card.card(), Some(&card.key()));
    let found = scan_image(&render_png(&text, Ecc::M, 4).expect("png")).expect("scan");
    assert_eq!(found, vec![text]);
    let Ok(Scanned::VCard(contacts)) = classify(&found[0]) else {
        panic!("not a vCard: {found:?}")
    };
    assert_eq!(contacts[0].key, Some(card.key()));
    assert_eq!(contacts[0].card.name, "Ada Lovelace");
}

#[test]
fn zbarimg_reads_meishi_png() {
    if !have("zbarimg") {
        return;
    }
    let text = encode_payload(&ada()).expect("payload");
    let dir = tempdir();
    let path = dir.join("card.png");
    std::fs::write(&path, render_png(&text, Ecc::M, 4).expect("png")).expect("write");
    let out = Command::new("zbarimg")
        .args(["--raw", "-q"])
        .arg(&path)
        .output()
        .expect("run zbarimg");
    assert!(
        out.status.success(),
        "zbarimg failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim_end_matches('\n'),
        text
    );
    let _ = render_svg(&text, Ecc::M).expect("svg");
}

#[test]
fn scan_reads_qrencode_png() {
    if !have("qrencode") {
        return;
    }
    let text = encode_payload(&ada()).expect("payload");
    for (ecc, extra) in [("M", None), ("H", Some("-8")), ("L", None)] {
        let mut cmd = Command::new("qrencode");
        cmd.args(["-o", "-", "-t", "PNG", "-s", "3", "-l", ecc]);
        if let Some(e) = extra {
            // 8-bit mode: a different segmentation of the same text.
            cmd.arg(e);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run qrencode");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("write");
        let out = child.wait_with_output().expect("qrencode output");
        assert!(out.status.success());
        assert_eq!(
            scan_image(&out.stdout).expect("scan"),
            vec![text.clone()],
            "qrencode -l {ecc} {extra:?}"
        );
    }
    // A plain MeCard made by qrencode.
    let mecard = "MECARD:N:Doe,John;TEL:+13035551212;EMAIL:john@example.org;;";
    let mut child = Command::new("qrencode")
        .args(["-o", "-", "-t", "PNG", "-s", "4"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run qrencode");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(mecard.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("output");
    let found = scan_image(&out.stdout).expect("scan");
    assert!(matches!(classify(&found[0]), Ok(Scanned::MeCard(c)) if c.card.name == "John Doe"));
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("meishi-qr-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A PNG header claiming `w`×`h` pixels, followed by nothing useful.
fn png_header(w: u32, h: u32) -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    v.extend_from_slice(&13u32.to_be_bytes());
    v.extend_from_slice(&ihdr);
    v.extend_from_slice(&crc32(&ihdr).to_be_bytes());
    // An IDAT with a few bytes of zlib, so readers get past the header.
    let idat = b"IDAT\x78\x9c\x03\x00";
    v.extend_from_slice(&4u32.to_be_bytes());
    v.extend_from_slice(idat);
    v.extend_from_slice(&crc32(idat).to_be_bytes());
    v
}

fn crc32(data: &[u8]) -> u32 {
    let mut c = 0xFFFF_FFFFu32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

#[test]
fn hostile_images_are_errors() {
    assert!(matches!(
        scan_image(&png_header(100_000, 100_000)),
        Err(ScanError::Dimensions { .. }) | Err(ScanError::Image(_))
    ));
    assert!(matches!(
        scan_image(&png_header(8000, 8000)),
        Err(ScanError::Dimensions { .. })
    ));
    assert!(matches!(
        scan_image(&png_header(64, 64)),
        Err(ScanError::Image(_))
    ));
    let png = render_png("HELLO", Ecc::M, 4).expect("png");
    for cut in [8, 20, 40, png.len() / 2] {
        assert!(scan_image(&png[..cut]).is_err(), "truncated at {cut}");
    }
    // Cut inside the trailing IEND chunk: the pixels are all there, the image crate accepts it.
    assert_eq!(
        scan_image(&png[..png.len() - 1]).expect("pixels complete"),
        vec!["HELLO".to_owned()]
    );
    assert!(matches!(
        scan_image(b"GIF89a\x01\x00\x01\x00"),
        Err(ScanError::UnsupportedFormat)
    ));
    assert!(matches!(scan_image(b""), Err(ScanError::UnsupportedFormat)));
    let mut x = 0x1234_5678u32;
    for len in [1usize, 10, 100, 1000, 10_000] {
        let noise: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        assert!(scan_image(&noise).is_err());
        let mut jpeg = b"\xFF\xD8\xFF\xE0".to_vec();
        jpeg.extend_from_slice(&noise);
        assert!(scan_image(&jpeg).is_err());
    }
}

#[test]
fn blank_image_has_no_codes() {
    let img = image::GrayImage::from_pixel(300, 200, image::Luma([255]));
    let mut png = std::io::Cursor::new(Vec::new());
    img.write_to(&mut png, image::ImageFormat::Png)
        .expect("png");
    assert_eq!(
        scan_image(png.get_ref()).expect("scan"),
        Vec::<String>::new()
    );
}

#[test]
fn small_code_in_a_large_jpeg_photo() {
    let text = encode_payload(&ada()).expect("payload");
    let code = image::load_from_memory(&render_png(&text, Ecc::M, 4).expect("png"))
        .expect("load")
        .into_luma8();
    let mut photo = image::GrayImage::from_fn(3000, 2000, |x, y| {
        image::Luma([150 + ((x / 40 + y / 40) % 2 * 60) as u8])
    });
    image::imageops::overlay(&mut photo, &code, 1900, 700);
    let photo = image::imageops::blur(&photo, 1.2);
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 70)
        .encode_image(&photo)
        .expect("jpeg");
    assert_eq!(scan_image(&jpeg).expect("scan"), vec![text]);
}

/// The default work cap with a deadline no test machine reaches: outcomes depend on the work
/// counter only, never on how busy the machine is.
fn no_deadline() -> Budget {
    Budget {
        deadline: std::time::Duration::from_secs(3600),
        ..Budget::DEFAULT
    }
}

fn scan_png(img: &image::GrayImage) -> Report {
    scan_image_within(&hostile::png(img), &no_deadline()).expect("a valid PNG")
}

fn skipped(report: &Report, skip: Skip) -> usize {
    report
        .passes
        .iter()
        .filter(|(_, o)| *o == PassOutcome::Skipped(skip))
        .count()
}

#[test]
fn finder_lattice_is_too_complex_within_the_budget() {
    // 900×900, 625 finder look-alikes: rqrr tried triples of them for minutes.
    let report = scan_png(&hostile::finder_lattice(900, 4, 9));
    assert!(report.work <= Budget::DEFAULT.work, "work {}", report.work);
    assert!(report.texts.is_empty());
    // rqrr never ran: every binarization it was offered held too many candidates.
    assert!(report
        .passes
        .iter()
        .all(|(p, o)| p.threshold == Threshold::Rxing || matches!(o, PassOutcome::Skipped(_))));
    assert!(skipped(&report, Skip::TooManyFinders) >= 1, "{report:?}");
    assert!(matches!(
        report.into_texts(),
        Err(ScanError::TooComplex { work }) if work <= Budget::DEFAULT.work
    ));
}

#[test]
fn noise_photo_is_too_complex_within_the_budget() {
    // 1600×1600 of noise, a 2.5 MB PNG: it ran 86 s.
    let report = scan_png(&hostile::noise(1600, 0x1234_5678));
    assert!(report.work <= Budget::DEFAULT.work, "work {}", report.work);
    assert!(report.texts.is_empty());
    assert!(
        skipped(&report, Skip::TooManyFinders) + skipped(&report, Skip::OverBudget) >= 1,
        "{report:?}"
    );
    assert!(matches!(
        report.into_texts(),
        Err(ScanError::TooComplex { .. })
    ));
}

#[test]
fn grey_image_has_no_code_and_costs_one_look() {
    // 1200×1200 of one grey: every pass used to run on it (1.6 s).
    let side = 1200u64;
    let report = scan_png(&hostile::blank(1200));
    // Preparing it reads every pixel twice; then it is known to be flat and no pass runs.
    assert_eq!(report.work, 2 * side * side);
    assert!(report.passes.is_empty(), "{report:?}");
    assert_eq!(report.into_texts().expect("no code"), Vec::<String>::new());
}

/// Images of `tests/corpus/`: 25 of the 200 written by `qr-distort DIR 200 2` (deterministic),
/// the smallest file for each distortion kind and each pass that first reads it. `manifest.tsv`
/// is that tool's manifest for them: file, kind, expected text, parameters.
const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus");
/// Every image of the corpus decodes today. Checked by mutation: dropping any one of the three
/// sharpened passes, the 3× rxing pass, the 2× Otsu pass or the 3× blurred Otsu pass leaves
/// 24/25 (0189-camera, 0060-blur, 0049-camera, 0156-lowres, 0069-camera, 0192-perspective).
/// The 2× blurred rxing pass is not covered: the seed-2 images it first reads are 73-158 KB
/// photos, too large to commit for one pass.
const CORPUS_MIN_DECODED: usize = 25;

#[test]
fn corpus_decode_rate() {
    let manifest = std::fs::read_to_string(format!("{CORPUS}/manifest.tsv")).expect("manifest");
    let (mut n, mut decoded, mut missed) = (0, 0, Vec::new());
    for line in manifest.lines() {
        let mut f = line.split('\t');
        let (Some(file), Some(kind), Some(text)) = (f.next(), f.next(), f.next()) else {
            panic!("bad manifest line {line:?}");
        };
        let bytes = std::fs::read(format!("{CORPUS}/{file}")).expect("corpus image");
        let report = scan_image_within(&bytes, &no_deadline()).expect("loads");
        assert!(report.work <= Budget::DEFAULT.work);
        n += 1;
        if report.texts.iter().any(|t| t == text) {
            decoded += 1;
        } else {
            missed.push(format!("{file} ({kind})"));
        }
    }
    assert_eq!(n, 25, "the corpus changed: update CORPUS_MIN_DECODED");
    assert!(
        decoded >= CORPUS_MIN_DECODED,
        "decoded {decoded}/{n}, at least {CORPUS_MIN_DECODED} expected; missed: {missed:?}"
    );
}

/// A frame with no code in it (a room: a gradient, a few shapes): the first passes at full size
/// show no finder candidate and rxing reads nothing, so the scan stops there instead of
/// spending the rest of the budget on upscaled passes.
#[test]
fn a_frame_without_a_code_stops_early() {
    let frame = image::GrayImage::from_fn(640, 480, |x, y| {
        let base = 60 + (x / 4 + y / 6) as u8 % 100;
        let shape = (100..300).contains(&x) && (100..400).contains(&y);
        let disc = (x as i32 - 450).pow(2) + (y as i32 - 240).pow(2) < 70 * 70;
        image::Luma([if shape {
            30
        } else if disc {
            200
        } else {
            base
        }])
    });
    let report = scan_png(&frame);
    assert!(report.texts.is_empty());
    assert!(
        report.passes.len() < meishi_qr::PASSES.len(),
        "{:?}",
        report.passes
    );
    assert_eq!(
        report.passes.last().map(|(_, o)| o.clone()),
        Some(PassOutcome::Skipped(Skip::NoFinders))
    );
}
