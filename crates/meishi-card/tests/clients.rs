//! `vcard::import_each` against what address books really export: one fixture per client in
//! `tests/fixtures/vcf/`, written from each client's documented output (Apple's `itemN.`
//! groups and `X-ABLabel`, Google's `TYPE=INTERNET` and nameless email-only cards,
//! Outlook's 2.1 quoted-printable and base64 photos, Exchange's `REV` with a comma fraction,
//! Nextcloud's and DAVx5's `X-SOCIALPROFILE`, Android's 2.1 export, Thunderbird's 4.0 and old
//! lower-case 2.1 exports).
//!
//! Each card is checked as one line: name, how a nameless card was named, then every field,
//! so that a field read wrong or lost shows in the diff.

use meishi_card::vcard::{self, Entry, ImportError};

fn fixture(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/vcf")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One line per card: `name [named by …] | org … | title … | email … | tel … | url … |
/// social kind:handle … | note … | tags …`, empty fields left out; `skipped: <error>` for a
/// card that could not be imported.
fn describe(result: &Result<Entry, ImportError>) -> String {
    let e = match result {
        Ok(e) => e,
        Err(err) => return format!("skipped: {err}"),
    };
    let c = &e.imported.card;
    let mut parts = vec![match e.named_by {
        Some(by) => format!("{} (named by {by})", c.name),
        None => c.name.clone(),
    }];
    let mut field = |label: &str, values: Vec<String>| {
        if !values.is_empty() {
            parts.push(format!("{label} {}", values.join(", ")));
        }
    };
    field("org", c.org.iter().cloned().collect());
    field("title", c.title.iter().cloned().collect());
    field("email", c.emails.clone());
    field("tel", c.phones.clone());
    field("url", c.urls.clone());
    field(
        "social",
        c.socials
            .iter()
            .map(|s| format!("{}:{}", s.kind.name(), s.handle))
            .collect(),
    );
    field("note", c.note.iter().cloned().collect());
    field("tags", c.tags.clone());
    parts.join(" | ")
}

fn check(file: &str, expected: &[&str]) {
    let text = fixture(file);
    let got: Vec<String> = vcard::import_each(&text)
        .unwrap_or_else(|e| panic!("{file}: {e}"))
        .iter()
        .map(describe)
        .collect();
    assert_eq!(got, expected, "{file}");
    // The same export with LF line ends (a file that passed through a Unix tool) reads the same.
    let lf: Vec<String> = vcard::import_each(&text.replace("\r\n", "\n"))
        .unwrap_or_else(|e| panic!("{file} with LF: {e}"))
        .iter()
        .map(describe)
        .collect();
    assert_eq!(lf, expected, "{file} with LF line ends");
}

#[test]
fn apple_contacts_and_icloud() {
    check(
        "apple-icloud.vcf",
        &[
            "Johnny Appleseed | org Apple Inc. | title Engineer \
             | email johnny@icloud.example, johnny@apple.example \
             | tel +1 (408) 555-0100, +1 408 555 0101 | url https://johnny.example \
             | social x:jappleseed, linkedin:johnnyapple | note Met at WWDC, 2023",
            "Hanako Tanaka | email hanako@example.jp | url https://hanako.example/blog \
             | social github:hanakot | tags friends, tokyo",
            "Blue Bottle Coffee | org Blue Bottle Coffee | tel +1 510 555 0199 \
             | url https://bluebottle.example",
        ],
    );
}

#[test]
fn google_contacts() {
    check(
        "google-contacts.vcf",
        &[
            "Ann Example | org Example Corp | title Product Manager \
             | email ann@gmail.example, ann@work.example | tel +1 650-555-0123 \
             | url https://ann.example, https://github.com/annex | note Likes hiking \
             | tags myContacts, starred",
            "orders@shop.example (named by its email) | email orders@shop.example | tags myContacts",
            "bob.builder@example.net (named by its email) | email bob.builder@example.net \
             | tel +44 7700 900123",
            "skipped: card 4 has no name, organization, email or phone number: there is nothing to import",
            "Chidi Okafor | tel +234 1 555 0100",
        ],
    );
}

#[test]
fn outlook_and_exchange() {
    check(
        "outlook-exchange.vcf",
        &[
            "John Doe | org Contoso Ltd. | title Account Manager | email john.doe@contoso.example \
             | tel +1 (425) 555-0100, +1 (425) 555-0101 | url http://www.contoso.example/",
            "Jürgen Müller | org Fabrikam GmbH | title Leiter Einkauf \
             | email juergen.mueller@fabrikam.example | tel +49 89 555 0100, +49 170 555 0100",
        ],
    );
}

#[test]
fn nextcloud_and_davx5() {
    check(
        "nextcloud-davx5.vcf",
        &[
            "Lena Schmidt | org Nextcloud GmbH | email lena@nextcloud.example \
             | tel +49 711 555 0100 | social x:x, mastodon:@lena@mastodon.social, github:lena-s",
            "Marek Nowak | email marek@example.pl | tel +48 22 555 0100 \
             | url https://marek.example.pl | social mastodon:@marek@fosstodon.example, x:marekn \
             | note Line one Line two | tags work, friends",
        ],
    );
}

#[test]
fn android_2_1_export() {
    check(
        "android-2.1.vcf",
        &[
            "山田 太郎 | org 名刺商事 | title 部長 | email taro@example.jp \
             | tel 090-1234-5678, 03-1234-5678 | url https://taro.example.jp \
             | note 長いメモです。二行目に続きます。",
            "Pizzeria Da Mario (named by its organization) | org Pizzeria Da Mario \
             | tel +39 02 555 0100",
            "+49 170 5550100 (named by its phone number) | tel +49 170 5550100",
            "Jürgen Müller | email juergen@example.de | tel +49 170 5550199",
        ],
    );
}

#[test]
fn thunderbird() {
    check(
        "thunderbird.vcf",
        &[
            "Jane Doe | org Example Corp | title Engineer | email jane@example.org \
             | tel +1 555 0100, +1 555 0101 | url https://jane.example.org | note Prefers email",
            "Old Tom | org Legacy Inc. | title Admin | email tom@legacy.example | tel +1 555 0199 \
             | url http://legacy.example",
        ],
    );
}

/// The strict reader refuses the whole Google export for its one empty card, which is why
/// `meishi import` reads files with `import_each`.
#[test]
fn strict_import_refuses_what_import_each_skips() {
    assert_eq!(
        vcard::import(&fixture("google-contacts.vcf")),
        Err(ImportError::MissingName { card: 2 })
    );
    for file in [
        "apple-icloud.vcf",
        "outlook-exchange.vcf",
        "thunderbird.vcf",
    ] {
        let strict = vcard::import(&fixture(file)).expect(file);
        let each: Vec<_> = vcard::import_each(&fixture(file))
            .expect(file)
            .into_iter()
            .map(|r| r.expect(file).imported)
            .collect();
        assert_eq!(strict, each, "{file}");
    }
}

/// Found by fuzzing (fuzz/fuzz_targets/vcard_import.rs): a mastodon handle whose "server" is no
/// host name was exported as a made-up link, which imported back as a longer handle than the
/// card allows. Such a handle is kept as written.
#[test]
fn a_mastodon_handle_that_is_no_address_round_trips_as_written() {
    let text = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:John Doe\r\n\
        X-SOCIALPROFILE;TYPE=mastodon:@marmk@fosstodon.egn=\"left\" dir=\"ltr\" color=\"d48d2a\" \
        size=\"8\"><label align=\"right\" color=\"626262\">Work</label></fld></card>\r\n\
        END:VCARD\r\n";
    let first = vcard::import(text).expect("imports");
    let card = &first[0].card;
    assert_eq!(card.socials.len(), 1);
    assert_eq!(
        card.socials[0].url(),
        None,
        "no link for a handle that is no address"
    );
    let again = vcard::export(card, None, vcard::Version::V3);
    let back = vcard::import(&again).expect("the export imports");
    assert_eq!(&back[0].card, card);
    // A real handle still becomes its profile link.
    let ok = meishi_card::Social {
        kind: meishi_card::SocialKind::MASTODON,
        handle: "@zoe@social.example".into(),
    };
    assert_eq!(ok.url().as_deref(), Some("https://social.example/@zoe"));
}

/// Found by fuzzing too: a website handle with a quote became a link that imported back with
/// its scheme. A handle that cannot sit in a link unescaped stays a handle.
#[test]
fn a_handle_that_is_no_link_round_trips_as_written() {
    for (kind, handle) in [
        (meishi_card::SocialKind(1), "gi\"hub.com/lena-s"),
        (meishi_card::SocialKind(3), "a b"),
    ] {
        let mut card = meishi_card::Card::new("Lena");
        card.socials.push(meishi_card::Social {
            kind,
            handle: handle.into(),
        });
        let text = vcard::export(&card, None, vcard::Version::V3);
        let back = vcard::import(&text).expect("imports");
        assert_eq!(back[0].card, card, "{text}");
    }
}
