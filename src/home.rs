//! The home folder: where a user's key, card and contact book live.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use meishi_card::{Identity, SignedCard};
use meishi_store::Store;

/// File names inside the home folder.
const KEY_FILE: &str = "identity.key";
const DB_FILE: &str = "contacts.db";
/// What to say when a home has a key but no card.
pub const NO_CARD: &str =
    "this home has a key but no card: run `meishi card edit --name \"Your Name\"`";
/// The pid of the `meishi up` running on this home.
const UP_PID_FILE: &str = "up.pid";

/// A resolved home folder. Nothing is created until a command needs it.
pub struct Home {
    dir: PathBuf,
}

impl Home {
    /// `--home`, else `MEISHI_HOME` (clap fills both), else the platform data folder.
    pub fn resolve(flag: Option<PathBuf>) -> Result<Self> {
        let dir = match flag {
            Some(d) => d,
            None => dirs::data_dir()
                .map(|d| d.join("meishi"))
                .context("no home folder: pass --home DIR or set MEISHI_HOME")?,
        };
        Ok(Self { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn key_path(&self) -> PathBuf {
        self.dir.join(KEY_FILE)
    }

    pub fn is_initialized(&self) -> bool {
        self.key_path().exists()
    }

    /// Creates the folder (mode 0700) if it is missing.
    pub fn create_dir(&self) -> Result<()> {
        use std::os::unix::fs::DirBuilderExt;
        if !self.dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&self.dir)
                .with_context(|| format!("cannot create home folder {}", self.dir.display()))?;
        }
        Ok(())
    }

    /// The user's identity; an uninitialized home is an error that says what to run.
    pub fn identity(&self) -> Result<Identity> {
        if !self.is_initialized() {
            bail!(
                "no identity in {}: run `meishi init --name \"Your Name\"` first",
                self.dir.display()
            );
        }
        meishi_store::keyfile::load(&self.key_path())
            .with_context(|| format!("cannot read the key {}", self.key_path().display()))
    }

    /// Opens the contact book of an existing home. Only `init` and `up` create a home (through
    /// [`Home::create_dir`]): a mistyped `--home` is an error, not a new empty book.
    pub fn store(&self) -> Result<Store> {
        if self.dir.exists() && !self.dir.is_dir() {
            bail!(
                "the home {} is a file, not a folder: pass --home with a folder",
                self.dir.display()
            );
        }
        if !self.dir.exists() {
            bail!(
                "no meishi home at {}: run `meishi init --name \"Your Name\"` (or `meishi up`) to make one, or check --home / MEISHI_HOME",
                self.dir.display()
            );
        }
        let path = self.dir.join(DB_FILE);
        Store::open(&path)
            .with_context(|| format!("cannot open the contact book {}", path.display()))
    }

    /// Claims this home for one `meishi up`: refuses while another live `meishi up` holds it
    /// (its pid is in `up.pid`); a pid file left by a process that died is taken over. The
    /// claim ends when the returned guard is dropped.
    pub fn claim_up(&self) -> Result<UpGuard> {
        let path = self.dir.join(UP_PID_FILE);
        if let Ok(text) = std::fs::read_to_string(&path) {
            if let Ok(pid) = text.trim().parse::<u32>() {
                let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                let alive = pid != std::process::id()
                    && String::from_utf8_lossy(&cmdline).contains("meishi");
                if alive {
                    bail!(
                        "meishi up is already running for {} (pid {pid}); stop it first. Other commands work beside it.",
                        self.dir.display()
                    );
                }
            }
        }
        std::fs::write(&path, format!("{}\n", std::process::id()))
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(UpGuard { path })
    }

    /// The user's current signed card.
    pub fn own_card(&self, store: &Store) -> Result<SignedCard> {
        store.own_card()?.context(NO_CARD)
    }
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Writes an export (`-o FILE`, `--png`, `--svg`) for the user's eyes only: mode 0600 from the
/// first byte (a temp file created `O_EXCL` with mode 0600 in the target's folder), written,
/// fsynced, then renamed onto `path`, and the folder fsynced. Readers see the old file or the
/// whole new one, never part of it; a failure removes the temp file.
///
/// A symbolic link at `path` is replaced, not followed: rename(2) swaps the directory entry, so
/// the file the link pointed to is left untouched and `path` becomes a regular file. (Refusing
/// would need a check before the rename that a racing process could defeat; replacing is safe
/// by construction.) A missing folder is an error that names it.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.is_dir() {
        let what = if dir.exists() {
            format!("{} is not a folder", dir.display())
        } else {
            format!("the folder {} does not exist", dir.display())
        };
        bail!("cannot write {}: {what}", path.display());
    }
    let context = || format!("cannot write {}", path.display());
    let mut tmp = tempfile::Builder::new()
        .prefix(".meishi-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_context(context)?;
    tmp.write_all(bytes).with_context(context)?;
    tmp.as_file().sync_all().with_context(context)?;
    // On error the PersistError hands the temp file back; dropping it deletes it.
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(context)?;
    // The rename itself is durable only once the folder is synced.
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(context)?;
    Ok(())
}

/// Holds a home for one `meishi up`; removes the pid file when dropped.
pub struct UpGuard {
    path: PathBuf,
}

impl Drop for UpGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
