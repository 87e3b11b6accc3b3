//! Byte surgery shared by the generators: signing arbitrary bodies and splicing bytes, so a
//! broken case differs from a good one in exactly the property under test.

use meishi_card::Identity;

/// `body || signature over label || body`, whatever the body holds.
pub(crate) fn sign_raw(id: &Identity, label: &[u8], body: &[u8]) -> Vec<u8> {
    let mut out = body.to_vec();
    out.extend_from_slice(&id.sign(label, body));
    out
}

/// Replaces the single occurrence of `needle` in `hay`; an error if it occurs zero or several
/// times.
#[cfg(any(feature = "card", feature = "exchange"))]
pub(crate) fn splice(
    hay: &[u8],
    needle: &[u8],
    with: &[u8],
) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let hits: Vec<usize> = hay
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect();
    let [at] = hits[..] else {
        return Err(format!("{needle:02x?} occurs {} times, expected once", hits.len()).into());
    };
    let mut out = hay[..at].to_vec();
    out.extend_from_slice(with);
    out.extend_from_slice(&hay[at + needle.len()..]);
    Ok(out)
}
