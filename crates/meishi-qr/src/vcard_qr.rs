//! The plain vCard QR: a contact for people without meishi. proto-spec/qr.md#plain-vcard-qr

use meishi_card::vcard::{self, Version};
use meishi_card::{Card, PublicKey};

/// A vCard 3.0 (RFC 2426, UTF-8) of `card` for a QR code that the iOS and Android cameras offer
/// to add as a contact. The key goes in `X-MEISHI-KEY` (cameras ignore it) so that a signed card
/// scanned later can be matched to this contact.
///
/// The vCard comes from meishi-card's writer, the one codec for the format, made smaller for a
/// QR code where every byte grows the symbol: lines are unfolded (a QR code has no line-length
/// limit and readers unfold anyway), `EMAIL;TYPE=INTERNET` becomes `EMAIL` (the default), and
/// `X-SOCIALPROFILE` lines, which only iOS reads, become plain `URL` lines with the same link,
/// which every camera shows and meishi's importer maps back to a social kind.
pub fn vcard_qr_text(card: &Card, key: Option<&PublicKey>) -> String {
    let full = vcard::export(card, key, Version::V3).replace("\r\n ", "");
    let mut out = String::with_capacity(full.len());
    for line in full.split_terminator("\r\n") {
        if let Some(rest) = line.strip_prefix("EMAIL;TYPE=INTERNET:") {
            out.push_str("EMAIL:");
            out.push_str(rest);
        } else if let Some(params) = line.strip_prefix("X-SOCIALPROFILE;") {
            // The value follows the first ':' that is not inside a parameter (parameter values
            // written by the exporter never contain ':').
            match params.split_once(':') {
                Some((_, url)) => {
                    out.push_str("URL:");
                    out.push_str(url);
                }
                None => out.push_str(line),
            }
        } else {
            out.push_str(line);
        }
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use meishi_card::{Identity, Social, SocialKind};

    #[test]
    fn compact_and_importable() {
        let mut card = Card::new("Ada Lovelace");
        card.emails = vec!["ada@analytical.example".into()];
        card.socials = vec![Social {
            kind: SocialKind::GITHUB,
            handle: "adalovelace".into(),
        }];
        card.note = Some("x".repeat(100));
        let key = Identity::from_seed(&[1; 32]).public();
        let text = vcard_qr_text(&card, Some(&key));
        assert!(text.starts_with("BEGIN:VCARD\r\nVERSION:3.0\r\n"), "{text}");
        assert!(
            text.contains("\r\nEMAIL:ada@analytical.example\r\n"),
            "{text}"
        );
        assert!(
            text.contains("\r\nURL:https://github.com/adalovelace\r\n"),
            "{text}"
        );
        assert!(!text.contains("\r\n "), "folded: {text}");
        let back = vcard::import(&text).expect("test");
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].key, Some(key));
        assert_eq!(back[0].card.name, "Ada Lovelace");
        assert_eq!(back[0].card.emails, card.emails);
        assert_eq!(back[0].card.note, card.note);
    }
}
