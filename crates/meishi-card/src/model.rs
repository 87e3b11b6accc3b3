//! The card's content: what people exchange, independent of how it is encoded or signed.

use serde::{Deserialize, Serialize};

use crate::limits;

/// The fields of a contact card. Every string here is attacker-controlled once it came from
/// outside: show it through [`crate::display_safe`].
///
/// The JSON form (serde) is the one `meishi card show --json` prints and the reference cards in
/// `shared/reference-cards` use; the signed wire form is [`crate::SignedCard`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Card {
    /// Display name, required, one line.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emails: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phones: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub socials: Vec<Social>,
    /// A short headline, one line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Interests.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Reserved for an avatar reference (a URL or content hash); no reader fetches it yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar: Option<String>,
    /// Comment in a reference-card JSON file; never encoded.
    #[serde(default, skip_serializing)]
    pub comment: Option<String>,
}

/// A social handle stored as kind + handle, so it stays small and renders as a link.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Social {
    pub kind: SocialKind,
    pub handle: String,
}

/// The kind of a social handle. On the wire a one-byte code (proto-spec/card.md#social-kinds);
/// codes this version does not know are kept (they are signed) and shown as `social-N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocialKind(pub u8);

/// The social kinds this version knows: (code, name, URL prefix for links).
/// proto-spec/card.md#social-kinds
pub const SOCIAL_KINDS: &[(u8, &str, &str)] = &[
    (1, "website", "https://"),
    (2, "linkedin", "https://www.linkedin.com/in/"),
    (3, "github", "https://github.com/"),
    (4, "mastodon", ""),
    (5, "x", "https://x.com/"),
    (6, "bluesky", "https://bsky.app/profile/"),
    (7, "instagram", "https://www.instagram.com/"),
    (8, "telegram", "https://t.me/"),
    (9, "gitlab", "https://gitlab.com/"),
    (10, "youtube", "https://www.youtube.com/@"),
    (11, "threads", "https://www.threads.net/@"),
    (12, "matrix", "https://matrix.to/#/"),
    (13, "signal", ""),
    (14, "orcid", "https://orcid.org/"),
    (15, "codeberg", "https://codeberg.org/"),
];

impl SocialKind {
    pub const WEBSITE: Self = Self(1);
    pub const LINKEDIN: Self = Self(2);
    pub const GITHUB: Self = Self(3);
    pub const MASTODON: Self = Self(4);

    /// Looks a kind up by its name (`github`) or `social-N`.
    pub fn from_name(name: &str) -> Option<Self> {
        let lower = name.trim().to_ascii_lowercase();
        let lower = match lower.as_str() {
            "twitter" => "x",
            "web" | "site" | "homepage" => "website",
            "bsky" => "bluesky",
            other => other,
        };
        if let Some(&(code, _, _)) = SOCIAL_KINDS.iter().find(|(_, n, _)| *n == lower) {
            return Some(Self(code));
        }
        let code: u8 = lower.strip_prefix("social-")?.parse().ok()?;
        (code != 0).then_some(Self(code))
    }

    /// The kind's name, or `social-N` for a code this version does not know.
    pub fn name(self) -> String {
        match SOCIAL_KINDS.iter().find(|(c, _, _)| *c == self.0) {
            Some((_, n, _)) => (*n).to_owned(),
            None => format!("social-{}", self.0),
        }
    }

    /// Whether this version knows the kind.
    pub fn is_known(self) -> bool {
        SOCIAL_KINDS.iter().any(|(c, _, _)| *c == self.0)
    }
}

impl Serialize for SocialKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

impl<'de> Deserialize<'de> for SocialKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        SocialKind::from_name(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown social kind {name:?}")))
    }
}

impl Social {
    /// A link for the handle, when the kind has one (`https://github.com/adalovelace`).
    pub fn url(&self) -> Option<String> {
        let h = self.handle.trim();
        if h.starts_with("https://") || h.starts_with("http://") {
            return Some(h.to_owned());
        }
        if self.kind == SocialKind::MASTODON {
            // @user@host -> https://host/@user, only when both parts are what a server
            // accepts: anything else is no link (and a vCard keeps the handle as written).
            let t = h.trim_start_matches('@');
            let (user, host) = t.split_once('@')?;
            let user_ok = !user.is_empty()
                && user
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
            let host_ok = host.contains('.')
                && host.split('.').all(|label| {
                    !label.is_empty()
                        && !label.starts_with('-')
                        && !label.ends_with('-')
                        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                });
            return (user_ok && host_ok).then(|| format!("https://{host}/@{user}"));
        }
        let (_, _, prefix) = SOCIAL_KINDS.iter().find(|(c, _, _)| *c == self.kind.0)?;
        // Only a handle that can sit in a link unescaped becomes one (a vCard then carries the
        // handle as written, and reads it back the same: found by fuzzing).
        let rest = h.trim_start_matches('@');
        let linkable = !rest.is_empty()
            && rest
                .chars()
                .all(|c| c.is_alphanumeric() || "-._~/:?#[]@!$&'()*+,;=%".contains(c));
        (!prefix.is_empty() && linkable).then(|| format!("{prefix}{rest}"))
    }
}

/// What is wrong with a card's content: each maps to a rule in proto-spec/card.md#limits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FieldError {
    #[error("the name is empty; a card needs a display name")]
    EmptyName,
    #[error("field `{field}` is {len} bytes; the limit is {max}")]
    TooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
    #[error("field `{field}` has {count} values; the limit is {max}")]
    TooMany {
        field: &'static str,
        count: usize,
        max: usize,
    },
    #[error("field `{field}` has an empty value")]
    EmptyValue { field: &'static str },
    #[error("field `{field}` contains a control character (U+{code:04X})")]
    ControlCharacter { field: &'static str, code: u32 },
    #[error("social kind code 0 is reserved")]
    ReservedSocialKind,
}

impl FieldError {
    /// The error's name in the `expect:` line of the test vectors (proto-spec/card.md#limits).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::EmptyName => "empty-name",
            Self::TooLong { .. } => "field-too-long",
            Self::TooMany { .. } => "too-many-values",
            Self::EmptyValue { .. } => "empty-value",
            Self::ControlCharacter { .. } => "control-character",
            Self::ReservedSocialKind => "reserved-social-kind",
        }
    }
}

fn check_text(field: &'static str, s: &str, max: usize) -> Result<(), FieldError> {
    if s.len() > max {
        return Err(FieldError::TooLong {
            field,
            len: s.len(),
            max,
        });
    }
    if s.trim().is_empty() {
        return Err(FieldError::EmptyValue { field });
    }
    if let Some(c) = s.chars().find(|c| c.is_control()) {
        return Err(FieldError::ControlCharacter {
            field,
            code: c as u32,
        });
    }
    Ok(())
}

fn check_list(
    field: &'static str,
    v: &[String],
    max_count: usize,
    max_len: usize,
) -> Result<(), FieldError> {
    if v.len() > max_count {
        return Err(FieldError::TooMany {
            field,
            count: v.len(),
            max: max_count,
        });
    }
    v.iter().try_for_each(|s| check_text(field, s, max_len))
}

impl Card {
    /// A card with just a name.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    /// Checks every per-field rule of proto-spec/card.md#limits.
    pub fn validate(&self) -> Result<(), FieldError> {
        use limits::*;
        if self.name.trim().is_empty() {
            return Err(FieldError::EmptyName);
        }
        check_text("name", &self.name, MAX_NAME)?;
        let opt = |field, v: &Option<String>, max| {
            v.as_deref().map_or(Ok(()), |s| check_text(field, s, max))
        };
        opt("title", &self.title, MAX_SHORT)?;
        opt("org", &self.org, MAX_SHORT)?;
        opt("note", &self.note, MAX_NOTE)?;
        opt("avatar", &self.avatar, MAX_URL)?;
        check_list("emails", &self.emails, MAX_VALUES, MAX_EMAIL)?;
        check_list("phones", &self.phones, MAX_VALUES, MAX_PHONE)?;
        check_list("urls", &self.urls, MAX_VALUES, MAX_URL)?;
        check_list("tags", &self.tags, MAX_TAGS, MAX_TAG)?;
        if self.socials.len() > MAX_SOCIALS {
            return Err(FieldError::TooMany {
                field: "socials",
                count: self.socials.len(),
                max: MAX_SOCIALS,
            });
        }
        for s in &self.socials {
            if s.kind.0 == 0 {
                return Err(FieldError::ReservedSocialKind);
            }
            check_text("socials", &s.handle, MAX_SHORT)?;
        }
        Ok(())
    }
}
