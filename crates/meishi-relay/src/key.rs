//! The relay's persistent identity: a 32-byte ed25519 seed in a file only its owner can read.
//!
//! The relay's peer id is part of the address every attendee dials, so it must survive
//! restarts. The file is created once with `O_EXCL` and mode 0600; a file that is the wrong
//! size or readable by others is refused rather than silently replaced.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use libp2p::identity::Keypair;
use zeroize::Zeroizing;

/// Length of the seed stored in the key file.
pub const SEED_LEN: usize = 32;

/// Why the key file could not be loaded or created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    #[error("cannot read or create the relay key {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the relay key {path} is {len} bytes long, not {SEED_LEN}: restore it or delete it to get a new peer id")]
    Length { path: PathBuf, len: u64 },
    #[error("the relay key {path} is readable by others (mode {mode:o}): run `chmod 600 {path}`")]
    Permissions { path: PathBuf, mode: u32 },
    #[error("no randomness for a new key")]
    Random,
    #[error("the relay key {path} is not a valid ed25519 seed")]
    Invalid { path: PathBuf },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Loads the key at `path`, creating a new one (mode 0600) if there is no file.
pub fn load_or_create(path: &Path) -> Result<Keypair, KeyError> {
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(mut f) => {
            let mut seed = Zeroizing::new([0u8; SEED_LEN]);
            getrandom::fill(&mut seed[..]).map_err(|_| KeyError::Random)?;
            let written = f.write_all(&seed[..]).and_then(|()| f.sync_all());
            if let Err(e) = written {
                // Leave no half-written key behind to be refused on the next start.
                let _ = std::fs::remove_file(path);
                return Err(io(path)(e));
            }
            keypair(path, &seed)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load(path),
        Err(e) => Err(io(path)(e)),
    }
}

/// Loads an existing key file.
pub fn load(path: &Path) -> Result<Keypair, KeyError> {
    let mut f = OpenOptions::new().read(true).open(path).map_err(io(path))?;
    let meta = f.metadata().map_err(io(path))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::Permissions {
            path: path.to_owned(),
            mode,
        });
    }
    if meta.len() != SEED_LEN as u64 {
        return Err(KeyError::Length {
            path: path.to_owned(),
            len: meta.len(),
        });
    }
    let mut seed = Zeroizing::new([0u8; SEED_LEN]);
    f.read_exact(&mut seed[..]).map_err(io(path))?;
    keypair(path, &seed)
}

fn keypair(path: &Path, seed: &[u8; SEED_LEN]) -> Result<Keypair, KeyError> {
    // `ed25519_from_bytes` zeroizes its argument: hand it a copy.
    let mut copy = Zeroizing::new(*seed);
    Keypair::ed25519_from_bytes(&mut copy[..]).map_err(|_| KeyError::Invalid {
        path: path.to_owned(),
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
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let b = load_or_create(&p).unwrap();
        assert_eq!(a.public().to_peer_id(), b.public().to_peer_id());
    }

    #[test]
    fn wrong_length_and_loose_permissions_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("relay.key");
        std::fs::write(&p, [1u8; 31]).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(matches!(
            load_or_create(&p),
            Err(KeyError::Length { len: 31, .. })
        ));
        std::fs::write(&p, [1u8; 32]).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            load_or_create(&p),
            Err(KeyError::Permissions { .. })
        ));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(load(&p).is_ok());
    }
}
