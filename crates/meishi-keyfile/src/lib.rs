//! The identity key file: one 32-byte ed25519 seed, mode 0600, nothing else. The CLI keeps the
//! user's key in one, the relay its peer id; both go through this crate so both get the same
//! checks.
//!
//! The file is created with `O_CREAT | O_EXCL` and mode 0600 in the same `open` call, so there is
//! no moment in which another user could read it, and an existing key is never overwritten. A
//! file that is not a regular file, has the wrong size, or can be read or written by group or
//! others is refused rather than used or replaced. The seed is never logged, printed or put in an
//! error message.
//!
//! ```
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("key");
//! let id = meishi_keyfile::create(&path).unwrap();
//! assert_eq!(meishi_keyfile::load(&path).unwrap().public(), id.public());
//! assert_eq!(meishi_keyfile::load_or_create(&path).unwrap().public(), id.public());
//! assert!(matches!(
//!     meishi_keyfile::create(&path),
//!     Err(meishi_keyfile::KeyError::Exists { .. })
//! ));
//! ```

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use meishi_card::Identity;
use zeroize::Zeroizing;

/// Length of the seed in the key file.
pub const SEED_LEN: usize = 32;

/// Why the key file could not be created or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    #[error("a key already exists at {path}; refusing to overwrite it")]
    Exists { path: PathBuf },
    #[error("no key at {path}")]
    NotFound { path: PathBuf },
    #[error("key file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("key file {path} is {len} bytes, expected exactly {SEED_LEN}; it is damaged or not a meishi key")]
    BadLength { path: PathBuf, len: u64 },
    #[error(
        "key file {path} can be read by other users (mode {mode:03o}); run `chmod 600 {path}` and consider \
         the key exposed"
    )]
    Permissions { path: PathBuf, mode: u32 },
    #[error("key file {path} is not a regular file")]
    NotAFile { path: PathBuf },
    #[error("the operating system's random source failed: {0}")]
    Random(getrandom::Error),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Generates a new identity and writes its seed to `path` (mode 0600, created exclusively,
/// file and folder fsynced). Refuses when `path` exists. Missing parent folders are created with
/// mode 0700.
pub fn create(path: &Path) -> Result<Identity, KeyError> {
    let identity = Identity::generate().map_err(KeyError::Random)?;
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !parent.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(io_err(parent))?;
    }
    let mut file = match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(KeyError::Exists {
                path: path.to_owned(),
            })
        }
        Err(e) => return Err(io_err(path)(e)),
    };
    let seed = identity.seed();
    let written = file.write_all(seed.as_ref()).and_then(|()| file.sync_all());
    if let Err(e) = written {
        // A partial key must not block the next attempt; we created the file, so removing it
        // cannot destroy anyone's key.
        drop(file);
        let _ = fs::remove_file(path);
        return Err(io_err(path)(e));
    }
    // The directory entry must be durable too, or a crash could lose the key after we reported
    // success.
    File::open(parent)
        .and_then(|d| d.sync_all())
        .map_err(io_err(parent))?;
    Ok(identity)
}

/// Reads the identity from `path`, or creates a new one there (as [`create`]) when there is no
/// file: for a service whose identity must survive restarts but needs no setup step. An existing
/// file gets every check of [`load`]; it is never replaced.
pub fn load_or_create(path: &Path) -> Result<Identity, KeyError> {
    match create(path) {
        Err(KeyError::Exists { .. }) => load(path),
        other => other,
    }
}

/// Reads the identity from `path`. Refuses a file of the wrong length and a file readable or
/// writable by group or others.
pub fn load(path: &Path) -> Result<Identity, KeyError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(KeyError::NotFound {
                path: path.to_owned(),
            })
        }
        Err(e) => return Err(io_err(path)(e)),
    };
    // Checked on the opened file, not the path, so a swap between check and read is impossible.
    let meta = file.metadata().map_err(io_err(path))?;
    if !meta.is_file() {
        return Err(KeyError::NotAFile {
            path: path.to_owned(),
        });
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::Permissions {
            path: path.to_owned(),
            mode,
        });
    }
    if meta.len() != SEED_LEN as u64 {
        return Err(KeyError::BadLength {
            path: path.to_owned(),
            len: meta.len(),
        });
    }
    let mut buf = Zeroizing::new(Vec::with_capacity(SEED_LEN + 1));
    // One byte more than the seed: a file that grew after fstat is still caught.
    file.take(SEED_LEN as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(io_err(path))?;
    let seed: Zeroizing<[u8; SEED_LEN]> = match <[u8; SEED_LEN]>::try_from(buf.as_slice()) {
        Ok(s) => Zeroizing::new(s),
        Err(_) => {
            return Err(KeyError::BadLength {
                path: path.to_owned(),
                len: buf.len() as u64,
            })
        }
    };
    Ok(Identity::from_seed(&seed))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test fails by panicking")]
mod tests {
    use super::*;

    #[test]
    fn create_then_load_gives_the_same_identity_and_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("key");
        let id = create(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(fs::metadata(&path).unwrap().len(), 32);
        let dir_mode = fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dir_mode, 0o700);
        assert_eq!(load(&path).unwrap().public(), id.public());
    }

    #[test]
    fn create_refuses_an_existing_file_and_leaves_it_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        let first = create(&path).unwrap();
        let before = fs::read(&path).unwrap();
        assert!(matches!(create(&path), Err(KeyError::Exists { .. })));
        assert_eq!(fs::read(&path).unwrap(), before);
        assert_eq!(load(&path).unwrap().public(), first.public());
    }

    #[test]
    fn load_or_create_creates_once_then_loads_and_never_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay.key");
        let first = load_or_create(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(load_or_create(&path).unwrap().public(), first.public());
        // A damaged or exposed key is refused, not silently replaced by a new peer id.
        fs::write(&path, [1u8; 31]).unwrap();
        assert!(matches!(
            load_or_create(&path),
            Err(KeyError::BadLength { len: 31, .. })
        ));
        fs::write(&path, [1u8; 32]).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            load_or_create(&path),
            Err(KeyError::Permissions { mode: 0o644, .. })
        ));
        assert_eq!(fs::read(&path).unwrap(), [1u8; 32]);
    }

    #[test]
    fn load_refuses_wrong_length_and_loose_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        assert!(matches!(load(&path), Err(KeyError::NotFound { .. })));
        for len in [0usize, 31, 33, 64] {
            fs::write(&path, vec![7u8; len]).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
            match load(&path) {
                Err(KeyError::BadLength { len: l, .. }) => assert_eq!(l, len as u64),
                other => panic!("len {len}: {other:?}"),
            }
        }
        fs::write(&path, [7u8; 32]).unwrap();
        for mode in [0o644, 0o640, 0o604, 0o660] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            let err = load(&path).unwrap_err();
            assert!(
                matches!(err, KeyError::Permissions { mode: m, .. } if m == mode),
                "{err:?}"
            );
            assert!(err.to_string().contains("chmod 600"), "{err}");
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(0o400)).unwrap();
        assert_eq!(
            load(&path).unwrap().public(),
            Identity::from_seed(&[7; 32]).public()
        );
    }

    #[test]
    fn errors_never_contain_the_seed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        fs::write(&path, [0x41u8; 32]).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let msg = format!(
            "{:?} {}",
            load(&path).unwrap_err(),
            load(&path).unwrap_err()
        );
        assert!(!msg.contains("AAAA") && !msg.contains("65, 65"), "{msg}");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let dbg = format!("{:?}", load(&path).unwrap());
        assert!(!dbg.contains("AAAA") && !dbg.contains("65, 65"), "{dbg}");
    }
}
