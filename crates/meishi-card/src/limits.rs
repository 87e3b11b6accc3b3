//! Size limits, checked before anything is allocated. proto-spec/card.md#limits

/// Largest encoded signed card (body plus signature) a reader accepts.
pub const MAX_CARD_BYTES: usize = 4096;
/// Display name, in bytes of UTF-8.
pub const MAX_NAME: usize = 128;
/// Title, organization, social handle.
pub const MAX_SHORT: usize = 128;
/// The headline note.
pub const MAX_NOTE: usize = 280;
pub const MAX_EMAIL: usize = 254;
pub const MAX_PHONE: usize = 32;
/// URLs and the avatar reference.
pub const MAX_URL: usize = 512;
/// Values in each of emails, phones, urls.
pub const MAX_VALUES: usize = 8;
pub const MAX_SOCIALS: usize = 16;
pub const MAX_TAGS: usize = 16;
pub const MAX_TAG: usize = 32;
/// Extensions in one card and bytes in one extension.
pub const MAX_EXTENSIONS: usize = 8;
pub const MAX_EXTENSION_BYTES: usize = 1024;
