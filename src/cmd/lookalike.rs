//! Look-alikes: contacts that share a display name under different keys, said in plain words.
//!
//! ✓ only means "signed by some key": anyone can sign a card that says "Ada Lovelace", and it
//! shows as "✓ Ada Lovelace" beside the real Ada. What tells them apart is the key, which people
//! compare as a fingerprint. The store finds the look-alikes ([`Store::lookalikes`]); this module
//! words the warnings that `import`, `scan`, `swap`, `event`, `up` and `contacts` print. Names
//! come from other people's cards and pass through `display_safe`.

use meishi_card::{display_safe, PublicKey, SignedCard};
use meishi_store::{ContactSummary, Store};

/// How many fingerprint groups the contact list shows: two groups of five digits tell contacts
/// apart at a glance; people compare the whole fingerprint in person.
const SHORT_GROUPS: usize = 2;

/// The first groups of a key's fingerprint, e.g. `04211 93311`.
pub(crate) fn short_fingerprint(key: &PublicKey) -> String {
    key.fingerprint()
        .split(' ')
        .take(SHORT_GROUPS)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The one-line warning to print after storing a received or scanned signed card when other
/// contacts have its name under other keys; `None` when none do. A failed look-up is reported
/// as a warning too, never silently dropped.
pub(crate) fn warn_lookalikes(store: &Store, card: &SignedCard) -> Option<String> {
    warn_for(store, &card.card().name, Some(card.key()))
}

/// [`warn_lookalikes`] for a card that may be unsigned: `key` is `None` for a vCard without a
/// meishi key.
pub(crate) fn warn_for(store: &Store, name: &str, key: Option<PublicKey>) -> Option<String> {
    let shown = display_safe(name);
    let others = match store.lookalikes(name, key) {
        Ok(o) => o,
        Err(e) => {
            return Some(format!(
                "Warning: could not check for other contacts named \"{shown}\": {e}"
            ))
        }
    };
    if others.is_empty() {
        return None;
    }
    let ids: Vec<i64> = others.iter().map(|o| o.id).collect();
    let (whom, keys) = match ids.len() {
        1 => ("contact", "a different key"),
        _ => ("contacts", "different keys"),
    };
    let check = match key {
        Some(k) => format!(
            "Check the fingerprint with them in person: this card's is {}.",
            k.fingerprint()
        ),
        None => {
            "This card has no key: check with them in person which contact is theirs.".to_owned()
        }
    };
    Some(format!(
        "Warning: \"{shown}\" is also the name of {whom} {}, under {keys}. {check}",
        id_list(&ids)
    ))
}

/// The suffix of a contact-list line for a contact with look-alikes:
/// `⚠ same name as #3 (different key)`.
pub(crate) fn list_mark(ids: &[i64]) -> String {
    let keys = if ids.len() == 1 {
        "different key"
    } else {
        "different keys"
    };
    format!("⚠ same name as {} ({keys})", id_list(ids))
}

/// The warnings `contacts show` prints for a contact, one line per look-alike.
pub(crate) fn show_warnings(lookalikes: &[ContactSummary]) -> Vec<String> {
    lookalikes
        .iter()
        .map(|o| {
            let name = display_safe(&o.name);
            match o.key {
                Some(k) => format!(
                    "Warning: contact #{} is also called \"{name}\" but has a different key \
                     (fingerprint {}). Check the fingerprint with them in person.",
                    o.id,
                    k.fingerprint()
                ),
                None => format!(
                    "Warning: contact #{} is also called \"{name}\" but has no key (an unverified \
                     vCard). Check with them in person which contact is theirs.",
                    o.id
                ),
            }
        })
        .collect()
}

/// `#1`, `#1 and #4`, `#1, #4 and #7`.
fn id_list(ids: &[i64]) -> String {
    let tags: Vec<String> = ids.iter().map(|i| format!("#{i}")).collect();
    match tags.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::{id_list, list_mark};

    #[test]
    fn ids_read_as_a_list() {
        assert_eq!(id_list(&[3]), "#3");
        assert_eq!(id_list(&[1, 4]), "#1 and #4");
        assert_eq!(id_list(&[1, 4, 7]), "#1, #4 and #7");
        assert_eq!(list_mark(&[3]), "⚠ same name as #3 (different key)");
        assert_eq!(
            list_mark(&[3, 5]),
            "⚠ same name as #3 and #5 (different keys)"
        );
    }
}
