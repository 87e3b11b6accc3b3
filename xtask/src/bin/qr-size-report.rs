//! Prints the QR sizes of the reference cards: meishi's signed payload next to an unsigned
//! MeCard and vCard 3.0 of the same content, in bytes and QR version at each ECC level.
//! proto-spec/qr.md#limits
//!
//! ```text
//! cargo run -p xtask --bin qr-size-report [CARD.json ...]
//! ```
//!
//! Without arguments it reports the cards in crates/meishi-qr/testdata. Cards are signed by a
//! fixed identity with seq 1 at a fixed time (a realistic 5-byte timestamp).

use std::error::Error;
use std::path::PathBuf;

use meishi_card::vcard::{self, Version};
use meishi_card::{Card, Identity, SignedCard};
use meishi_qr::{
    encode_binary, encode_fields, encode_payload, mecard_text, qr_version, vcard_qr_text, Ecc,
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
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata");
        paths = std::fs::read_dir(&dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        paths.retain(|p| p.extension().is_some_and(|e| e == "json"));
        paths.sort();
    }
    let id = Identity::from_seed(&[1; 32]);
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
    }
    Ok(())
}
