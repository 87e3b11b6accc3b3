//! The home folder: where a user's key, card and contact book live.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use meishi_card::{Identity, SignedCard};
use meishi_store::Store;

/// File names inside the home folder.
const KEY_FILE: &str = "identity.key";
const DB_FILE: &str = "contacts.db";

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

    /// Opens (creating if needed) the contact book.
    pub fn store(&self) -> Result<Store> {
        self.create_dir()?;
        let path = self.dir.join(DB_FILE);
        Store::open(&path)
            .with_context(|| format!("cannot open the contact book {}", path.display()))
    }

    /// The user's current signed card.
    pub fn own_card(&self, store: &Store) -> Result<SignedCard> {
        store
            .own_card()?
            .context("this home has a key but no card: run `meishi card edit --name \"Your Name\"`")
    }
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
