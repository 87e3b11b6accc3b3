//! What scanned QR codes put in the contact book: one path for `meishi scan` and the web
//! app's camera and upload.

use meishi_card::PublicKey;
use meishi_qr::Scanned;
use meishi_store::{Import, ImportResult, Store, StoreError, Via};

/// One contact a scan stored (or found already there).
#[derive(Debug, Clone)]
pub struct Stored {
    /// Which of the scanned codes it came from (an index into the slice given).
    pub code: usize,
    /// Card text: escape it to show it.
    pub name: String,
    pub key: Option<PublicKey>,
    /// A signed meishi card that verified; `false` for a vCard or MeCard.
    pub verified: bool,
    pub result: ImportResult,
}

/// Stores every contact in `scanned` (meishi cards as verified, vCards and MeCards as
/// unverified), all or none, with `via` = qr. My own card is skipped. Event codes and other
/// texts are left to the caller.
pub fn store_scanned(
    store: &mut Store,
    scanned: &[Scanned],
    own: Option<PublicKey>,
) -> Result<Vec<Stored>, StoreError> {
    let mut items = Vec::new();
    let mut whence = Vec::new();
    for (i, s) in scanned.iter().enumerate() {
        match s {
            Scanned::Meishi(card) => {
                items.push(Import::Signed(card));
                whence.push((i, card.card().name.clone(), Some(card.key()), true));
            }
            Scanned::VCard(cards) => {
                for c in cards {
                    items.push(Import::Unverified {
                        card: &c.card,
                        key: c.key,
                    });
                    whence.push((i, c.card.name.clone(), c.key, false));
                }
            }
            Scanned::MeCard(c) => {
                items.push(Import::Unverified {
                    card: &c.card,
                    key: c.key,
                });
                whence.push((i, c.card.name.clone(), c.key, false));
            }
            _ => {}
        }
    }
    if items.is_empty() {
        return Ok(Vec::new());
    }
    let results = store.import(&items, Via::Qr, own)?;
    Ok(whence
        .into_iter()
        .zip(results)
        .map(|((code, name, key, verified), result)| Stored {
            code,
            name,
            key,
            verified,
            result,
        })
        .collect())
}
