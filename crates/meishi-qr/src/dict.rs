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

/// The dictionary bytes (ASCII) of flag `01`.
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

/// The words of the flag `02` dictionary beyond [`DICTIONARY`]: business-card vocabulary in
/// Hindi, Arabic, Korean, Chinese and Japanese. proto-spec/qr.md#compact-dictionary
///
/// Each line is written in the compact text encoding on its own (starting in byte mode with
/// window 0, as a text value does), so a word is the same bytes here as in a card.
pub const COMPACT_WORDS: [&str; 10] = [
    "प्राइवेट लिमिटेड कंपनी टेक्नोलॉजीज सॉल्यूशंस सिस्टम्स समूह विश्वविद्यालय विभाग प्रमुख",
    "प्रबंधक निदेशक अध्यक्ष मुख्य कार्यकारी अधिकारी संस्थापक वरिष्ठ सॉफ्टवेयर इंजीनियर डेवलपर सलाहकार प्रोफेसर शोधकर्ता बिक्री विपणन उत्पाद डेटा सुरक्षा संपर्क करें धन्यवाद",
    "شركة مؤسسة مجموعة ذ.م.م المحدودة لتقنية المعلومات للحلول البرمجية جامعة قسم المبيعات التسويق المشاريع المنتجات الموارد البشرية",
    "المدير التنفيذي الرئيس التنفيذي المؤسس الشريك مدير عام مهندس مهندسة برمجيات أول أولى مطور مصمم مستشار محلل باحث أستاذ يسعدني التواصل معكم",
    "주식회사 그룹 코리아 대학교 연구소 개발팀 기술연구소 마케팅 영업 기획",
    "대표이사 부사장 상무 전무 이사 부장 차장 과장 대리 팀장 사원 수석 책임 선임 연구원 교수 소프트웨어 엔지니어 개발자 디자이너 컨설턴트 매니저 감사합니다 연락 주세요",
    "股份有限公司集团科技信息技术网络软件数据北京上海深圳广州杭州大学研究院部门销售市场运营",
    "董事长总经理副总裁首席执行官技术总监经理主管高级工程师软件工程师产品经理设计师研究员教授欢迎交流合作联系",
    "有限会社合同会社ホールディングスグループジャパン東京都大阪市大学研究所営業部開発部技術部事業部システムズソリューションズテクノロジーズ株式会社",
    "代表取締役社長取締役執行役員本部長部長課長係長主任室長研究員准教授マネージャーリーダーデザイナーコンサルタントプロダクトシニアソフトウェアエンジニアよろしくお願いいたします。お気軽にご連絡ください。",
];

/// The dictionary of flag `02`: [`DICTIONARY`], then each line of [`COMPACT_WORDS`] in the
/// compact text encoding.
pub fn compact_dictionary() -> &'static [u8] {
    static BYTES: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BYTES.get_or_init(|| {
        let mut out = DICTIONARY.as_bytes().to_vec();
        for line in COMPACT_WORDS {
            crate::compact::encode(line, &mut out);
        }
        out
    })
}

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

    /// The compact dictionary's words as written in proto-spec/qr.md: one entry a line of the
    /// code block after the `compact-dictionary-begin` marker.
    #[test]
    fn spec_matches_compact_words() {
        let spec = include_str!("../../../proto-spec/qr.md");
        let start = spec
            .find("<!-- compact-dictionary-begin -->")
            .expect("marker in spec");
        let block = &spec[start..];
        let open = block.find("```\n").expect("code block") + 4;
        let close = block[open..].find("```").expect("end of code block");
        let lines: Vec<&str> = block[open..open + close].lines().collect();
        assert_eq!(lines, super::COMPACT_WORDS);
        let size = super::compact_dictionary().len();
        assert!(
            spec.contains(&format!("is {size} bytes")),
            "the spec states the size, {size} bytes"
        );
    }

    #[test]
    fn compact_dictionary_starts_with_the_ascii_one() {
        let d = super::compact_dictionary();
        assert!(d.starts_with(DICTIONARY.as_bytes()));
        assert!(d.len() < 32 * 1024);
    }

    #[test]
    fn ascii_and_bounded() {
        assert!(DICTIONARY.is_ascii());
        assert!(DICTIONARY.len() < 32 * 1024);
    }
}
