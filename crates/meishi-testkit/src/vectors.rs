//! The test-vector files of `proto-spec/vectors/<format>/`: one case per file, named for the
//! case; `key: value` lines, keys unique, always an `expect:` and a `comment:` line. Generators
//! produce a [`Files`] set; the xtask writes or checks it; tests read the committed files back.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// A generator's output: (file name, file text) per case, in the generator's order.
pub type Files = Vec<(String, String)>;

/// `proto-spec/vectors/<format>` of this repository.
pub fn dir(format: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../proto-spec/vectors")
        .join(format)
}

/// The header lines `key: value` (or `key:` for an empty value) of one vector.
///
/// # Panics
/// On a line that is not `key: value`, or a key given twice.
pub fn parse(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let (k, v) = line
            .split_once(": ")
            .or_else(|| line.strip_suffix(':').map(|k| (k, "")))
            .unwrap_or_else(|| panic!("not a `key: value` line: {line:?}"));
        assert!(
            out.insert(k.to_owned(), v.to_owned()).is_none(),
            "duplicate header {k}"
        );
    }
    out
}

/// Every committed vector of `format`, as (file name, text), sorted by name.
///
/// # Panics
/// When the folder or a file cannot be read, or a file is not UTF-8.
pub fn read(format: &str) -> Files {
    let dir = dir(format);
    let mut out: Files = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .path();
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (name, text)
        })
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_reads_empty_values_and_refuses_duplicates() {
        let h = parse("expect: success\ncomment:\n");
        assert_eq!(h["expect"], "success");
        assert_eq!(h["comment"], "");
        let dup = std::panic::catch_unwind(|| parse("a: 1\na: 2\n"));
        assert!(dup.is_err());
        let bad = std::panic::catch_unwind(|| parse("no separator\n"));
        assert!(bad.is_err());
    }

    #[test]
    fn reads_the_committed_card_vectors() {
        let files = read("card");
        assert!(!files.is_empty());
        assert!(files.windows(2).all(|w| w[0].0 < w[1].0), "sorted");
        assert!(files.iter().all(|(_, t)| t.starts_with("expect: ")));
    }
}
