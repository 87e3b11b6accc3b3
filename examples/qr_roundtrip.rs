//! Make a card, sign it, encode it as a QR code, and scan the picture back into a verified card.
//!
//! ```sh
//! cargo run --example qr_roundtrip
//! ```
//!
//! The QR text is `MEISHI1:` and base45 of a compact encoding that rebuilds the exact signed
//! bytes, so the scanned card verifies against the key inside it with no network at all.

use meishi_card::{Card, Identity, SignedCard, Social, SocialKind};
use meishi_qr::{classify, encode_payload, qr_version, render_png, scan_image, Ecc, Scanned};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A demo identity (a real one comes from a random seed kept in a 0600 key file).
    let me = Identity::from_seed(&[7; 32]);
    let mut card = Card::new("Ada Lovelace");
    card.org = Some("Analytical Engines Ltd".into());
    card.emails = vec!["ada@analytical.example".into()];
    card.socials = vec![Social {
        kind: SocialKind::from_name("github").ok_or("unknown social kind")?,
        handle: "adalovelace".into(),
    }];
    let signed = SignedCard::sign(&me, 1, 1_700_000_000, &card)?;
    println!(
        "signed card: {} bytes, key fingerprint {}",
        signed.as_bytes().len(),
        signed.key().fingerprint()
    );

    let text = encode_payload(&signed)?;
    println!(
        "QR text: {} characters, QR version {:?} at error correction M",
        text.len(),
        qr_version(&text, Ecc::M)
    );
    let png = render_png(&text, Ecc::M, 6)?;
    println!("PNG: {} bytes", png.len());

    // Scan the picture as a phone camera's photo would be scanned.
    let found = scan_image(&png)?;
    match found.first().map(|t| classify(t)) {
        Some(Ok(Scanned::Meishi(back))) => {
            assert_eq!(back, signed, "the scanned card is the exact signed card");
            println!(
                "scanned back: {} ({}), verified, seq {}",
                back.card().name,
                back.card().org.as_deref().unwrap_or("-"),
                back.seq()
            );
        }
        other => return Err(format!("unexpected scan result: {other:?}").into()),
    }
    Ok(())
}
