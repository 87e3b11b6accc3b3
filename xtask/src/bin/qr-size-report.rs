//! Prints the QR sizes of the reference cards: meishi's signed payload next to an unsigned
//! MeCard and vCard 3.0 of the same content, in bytes and QR version at each ECC level.
//! proto-spec/qr.md#limits
//!
//! ```text
//! cargo run -p xtask --bin qr-size-report [CARD.json ...]
//! ```
//!
//! Without arguments it reports the cards in crates/meishi-qr/testdata. Cards are signed by a
//! fixed identity with seq 1 at a fixed time (a realistic 5-byte timestamp). After the per-card
//! rows it prints the script table of proto-spec/qr.md#limits: the MeCard next to each form of
//! the signed payload, in characters and QR version at ECC M.

use std::error::Error;
use std::path::PathBuf;

use meishi_card::vcard::{self, Version};
use meishi_card::{Card, Identity, SignedCard};
use meishi_qr::{
    base45, deflate, encode_binary, encode_binary_as, encode_fields, encode_fields_as,
    encode_payload, mecard_text, qr_version, qr_version_byte_mode, vcard_qr_text, Ecc,
    TextEncoding, DICTIONARY, FLAG_COMPACT, FLAG_DEFLATE, PREFIX,
};

fn versions(text: &str) -> String {
    Ecc::ALL
        .iter()
        .map(|&e| qr_version(text, e).map_or_else(|| format!("{e}:-"), |v| format!("{e}:{v:>2}")))
        .collect::<Vec<_>>()
        .join(" ")
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut paths: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    if paths.is_empty() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../crates/meishi-qr/testdata");
        paths = std::fs::read_dir(&dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        paths.retain(|p| p.extension().is_some_and(|e| e == "json"));
        paths.sort();
    }
    let id = Identity::from_seed(&[1; 32]);
    let mut table = Vec::new();
    println!(
        "{:<14} {:<22} {:>6} {:>6}  versions (ECC level:version)",
        "card", "form", "bytes", "chars"
    );
    for path in paths {
        let card: Card = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
        let signed = SignedCard::sign(&id, 1, 1_760_000_000, &card)?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let payload = encode_payload(&signed)?;
        let fields = encode_fields(signed.card(), signed.extensions());
        let binary = encode_binary(&signed);
        let rows: Vec<(String, usize, String)> = vec![
            (
                "signed card (wire)".into(),
                signed.as_bytes().len(),
                String::new(),
            ),
            ("field stream".into(), fields.len(), String::new()),
            (
                format!("meishi binary (flag {:02x})", binary[0]),
                binary.len(),
                String::new(),
            ),
            ("meishi QR payload".into(), payload.len(), payload.clone()),
            (
                "MeCard".into(),
                mecard_text(&card).len(),
                mecard_text(&card),
            ),
            (
                "vCard 3.0".into(),
                0,
                vcard::export(&card, None, Version::V3),
            ),
            (
                "vCard 3.0 QR+key".into(),
                0,
                vcard_qr_text(&card, Some(&signed.key())),
            ),
        ];
        for (form, bytes, text) in rows {
            let bytes = if bytes == 0 { text.len() } else { bytes };
            let (chars, vers) = if text.is_empty() {
                (String::new(), String::new())
            } else {
                (text.chars().count().to_string(), versions(&text))
            };
            println!("{name:<14} {form:<22} {bytes:>6} {chars:>6}  {vers}");
        }
        table.push(script_row(&name, &signed)?);
    }
    println!();
    println!("| card | MeCard bytes | MeCard M (byte mode) | flag 01 chars | flag 01 M | flag 02 chars | flag 02 M | flag 02 without the word list | payload M |");
    println!("|------|-----:|----:|-----:|----:|-----:|----:|-----:|----:|");
    for row in table {
        println!("{row}");
    }
    Ok(())
}

/// One row of the script table: the MeCard (version as the QR encoder writes it, and in byte
/// mode), the payload with flag 01 and with flag 02, flag 02 if its dictionary had only the
/// ASCII words (what the compact encoding alone gives), and the version the writer reaches.
fn script_row(name: &str, signed: &SignedCard) -> Result<String, Box<dyn Error>> {
    let v = |t: &str| qr_version(t, Ecc::M).map_or_else(|| "-".into(), |v| v.to_string());
    let mecard = mecard_text(signed.card());
    let text_of = |b: &[u8]| format!("{PREFIX}{}", base45::encode(b));
    let f01 = text_of(&encode_binary_as(signed, FLAG_DEFLATE).ok_or("no flag 01 form")?);
    let f02 = text_of(&encode_binary_as(signed, FLAG_COMPACT).ok_or("no flag 02 form")?);
    let ascii_only = {
        let compact = encode_fields_as(signed.card(), signed.extensions(), TextEncoding::Compact);
        let mut b = encode_binary_as(signed, FLAG_COMPACT).ok_or("no flag 02 form")?;
        let header = b.len() - deflate::compress(meishi_qr::compact_dictionary(), &compact).len();
        b.truncate(header);
        b.extend_from_slice(&deflate::compress(DICTIONARY.as_bytes(), &compact));
        text_of(&b)
    };
    let payload = encode_payload(signed)?;
    Ok(format!(
        "| {name} | {} | {} ({}) | {} | {} | {} | {} | {} ({}) | **{}** |",
        mecard.len(),
        v(&mecard),
        qr_version_byte_mode(&mecard, Ecc::M).map_or_else(|| "-".into(), |v| v.to_string()),
        f01.len(),
        v(&f01),
        f02.len(),
        v(&f02),
        ascii_only.len(),
        v(&ascii_only),
        v(&payload),
    ))
}
