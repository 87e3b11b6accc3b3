//! The preset dictionary of the payload's deflate stream. proto-spec/qr.md#dictionary
//!
//! Words people put on a business card: title words, company suffixes, email providers, URL
//! pieces, interests, and the mastodon/bluesky hosts that social handles carry. Deflate can copy
//! from it as if it preceded the fields, so a title like `Senior Software Engineer` costs a few
//! bits instead of 24 bytes. Matches are cheaper at short distances, so the likeliest words come
//! last. It is part of the format: changing one byte breaks every existing payload, so a new
//! dictionary needs a new payload version. The spec lists it line by line; the bytes are the
//! lines concatenated with nothing between them (leading spaces are part of a line, no line
//! ends in a space), and a test checks the spec against this constant.

/// The dictionary bytes (ASCII).
pub const DICTIONARY: &str = concat!(
    "typescriptjavascriptkuberneteslinuxcloudsecuritycryptographyprivacyopen sourcedistributed systems",
    "machine learningdata sciencedesignphotographymusicclimatestartupsinvestingblockchainwebassembly",
    "pythongolangelixirhaskellreactdevopsembeddedhardwarerobotics",
    "Hello! Happy to connectLooking forLet's talk aboutBuildingWorking on Ask me about",
    " Corporation Co., Ltd. AG SA S.A. B.V. Pty Ltd Limited",
    " Partners Consulting Studio Software Capital Ventures Institute Foundation",
    " Technologies Systems Solutions Group Labs University GmbH LLC Inc. Ltd",
    "Vice President of Chief Technology Officer Chief Executive Officer Co-founder Founder & CEO CTO",
    " Professor Researcher PhD Student Scientist Analyst Consultant Architect Designer Developer",
    "Head of Marketing Sales Operations Product Design Engineering Director Product Manager",
    "Engineering Manager Senior Staff Lead Principal Software Engineer",
    "@yandex.ru@mail.ru@qq.com@163.com@naver.com@orange.fr@free.fr@libero.it@web.de@gmx.de@gmx.net",
    "@aol.com@live.com@me.com@hotmail.com@yahoo.com@outlook.com@pm.me@proton.me@protonmail.com",
    "@icloud.com@gmail.comcontact@hello@info@mail.",
    "@hachyderm.io@fosstodon.org@mastodon.social.bsky.social.co.uk.co.jp.io.dev.org.net.de.fr",
    "http://https://www.com/",
);

#[cfg(test)]
mod tests {
    use super::DICTIONARY;

    /// The dictionary as written in proto-spec/qr.md: the lines of the code block that follows the
    /// `dictionary-begin` marker.
    fn from_spec() -> String {
        let spec = include_str!("../../../proto-spec/qr.md");
        let start = spec
            .find("<!-- dictionary-begin -->")
            .expect("marker in spec");
        let block = &spec[start..];
        let open = block.find("```\n").expect("code block") + 4;
        let close = block[open..].find("```").expect("end of code block");
        block[open..open + close].lines().collect()
    }

    #[test]
    fn spec_matches_constant() {
        assert_eq!(from_spec(), DICTIONARY);
    }

    #[test]
    fn ascii_and_bounded() {
        assert!(DICTIONARY.is_ascii());
        assert!(DICTIONARY.len() < 32 * 1024);
    }
}
