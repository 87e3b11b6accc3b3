//! The relay's persistent identity: a 32-byte ed25519 seed in a file only its owner can read.
//!
//! The relay's peer id is part of the address every attendee dials, so it must survive
//! restarts. The file is the CLI's key file (`meishi-keyfile`): created on first start with
//! `O_EXCL` and mode 0600; a file that is the wrong size, not a regular file, or readable by
//! others is refused rather than silently replaced.

use std::path::Path;

use libp2p::identity::Keypair;

pub use meishi_keyfile::KeyError;

/// Loads the key at `path`, creating a new one (mode 0600) if there is no file.
pub fn load_or_create(path: &Path) -> Result<Keypair, KeyError> {
    let mut seed = meishi_keyfile::load_or_create(path)?.seed();
    // `ed25519_from_bytes` zeroizes its argument and fails only on a length other than 32, which
    // a seed cannot have: mapped to an error rather than unwrapped all the same.
    Keypair::ed25519_from_bytes(&mut seed[..]).map_err(|e| KeyError::Io {
        path: path.to_owned(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test fails by panicking")]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_loaded_with_the_same_peer_id() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("relay.key");
        let a = load_or_create(&p).unwrap();
        let b = load_or_create(&p).unwrap();
        assert_eq!(a.public().to_peer_id(), b.public().to_peer_id());
        // The same seed the CLI's identity would read: one key file format.
        let id = meishi_keyfile::load(&p).unwrap();
        assert_eq!(
            a.public().try_into_ed25519().unwrap().to_bytes(),
            id.public().0
        );
    }
}
