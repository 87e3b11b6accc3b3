//! The durable copy of the slot and drop stores: one SQLite file, `relay.db`, by default next to
//! the relay's key (docs/relay.md#what-the-relay-keeps-on-disk).
//!
//! The stores in memory ([`crate::slots::Slots`], [`crate::drops::Drops`]) stay the source of
//! truth for every lookup and every cap; this file is only their copy, so that a restart (an
//! upgrade, a reboot) does not lose what contacts who are offline still need. Each change a
//! store accepts (a put, a replacement, an ack, the records and messages one sweep expires)
//! is written through as one small transaction: WAL, `synchronous = NORMAL`, so a crash of the
//! process loses nothing and a power cut at most the last few changes, which owners and senders
//! put again. At start each store loads what is still valid by the relay's clock and deletes
//! the rest; the same caps as in memory bound what it loads, so they bound the file too.
//!
//! **What the file holds**, exactly what the stores need to serve again after a restart:
//! - `slots`: per slot, the slot id, `seq`, `expires_at` and the record's exact bytes;
//! - `slot_tombstones`: the slot id and highest `seq` of an expired record, and when to forget
//!   it (proto-spec/slot.md#what-a-relay-keeps);
//! - `drops`: per message, the box id, its digest, when it was put and the sealed bytes; the
//!   row order is the order of arrival.
//!
//! Nothing about who wrote or read them: no peer id, no address, and not the keyed host and
//! site tags the caps count by either. Their key is drawn at start and never stored
//! (proto-spec/slot.md#relay-protocol), so one run's tags would mean nothing to the next, and
//! tags stored with their key would let whoever holds the file test which IPv4 address wrote
//! each record. So what a store loads is charged to no host: per-host counts start again from
//! zero at each start, while the totals, and the site shares (which bind once a store is half
//! full), count everything loaded.
//!
//! If a write fails (a full disk), the relay logs it, counts it
//! (`meishi_relay_store_errors_total`) and carries on from memory: what it could not write is
//! lost at the next restart, as it was before the relay kept anything.

use std::fs::OpenOptions;
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use meishi_event::{DropId, SlotId, MAX_DROP_SEALED, MAX_SLOT_RECORD};
use prometheus_client::metrics::counter::Counter;
use rusqlite::{params, Connection, ErrorCode, OpenFlags, TransactionBehavior};
use serde::{Serialize, Serializer};

/// The file's name in the relay's home, next to `relay.key`.
pub const FILE_NAME: &str = "relay.db";
/// The schema this relay writes and reads (`PRAGMA user_version`).
pub const SCHEMA_VERSION: u32 = 1;
/// `PRAGMA application_id` of a relay store ("mrly"): tells it from another program's SQLite
/// file, such as a contact book given by mistake.
pub const APPLICATION_ID: i32 = 0x6d72_6c79;

const SCHEMA: &str = "
CREATE TABLE slots (
    slot       BLOB PRIMARY KEY NOT NULL,
    seq        INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    record     BLOB NOT NULL
);
CREATE TABLE slot_tombstones (
    slot      BLOB PRIMARY KEY NOT NULL,
    seq       INTEGER NOT NULL,
    forget_at INTEGER NOT NULL
);
CREATE TABLE drops (
    arrival   INTEGER PRIMARY KEY,
    box       BLOB NOT NULL,
    digest    BLOB NOT NULL,
    stored_at INTEGER NOT NULL,
    sealed    BLOB NOT NULL,
    UNIQUE (box, digest)
);
";

/// Why the store could not be opened or loaded. Every variant names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    #[error("cannot open the relay store {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("there is no relay store at {path}")]
    Missing { path: PathBuf },
    #[error("cannot use the relay store {path}: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("the relay store {path} is damaged or not a database: {source}")]
    Damaged {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("the relay store {path} is damaged: SQLite's check says `{report}`")]
    Integrity { path: PathBuf, report: String },
    #[error("the relay store {path} is damaged: a row of table `{table}` is not valid")]
    BadRow { path: PathBuf, table: &'static str },
    #[error("{path} is not a meishi relay store: it is another program's SQLite database")]
    Foreign { path: PathBuf },
    #[error(
        "the relay store {path} has schema version {found}, from a newer meishi relay (this one \
         reads version {supported})"
    )]
    Newer {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
}

impl OpenError {
    /// The file concerned.
    pub fn path(&self) -> &Path {
        match self {
            OpenError::Io { path, .. }
            | OpenError::Missing { path }
            | OpenError::Sqlite { path, .. }
            | OpenError::Damaged { path, .. }
            | OpenError::Integrity { path, .. }
            | OpenError::BadRow { path, .. }
            | OpenError::Foreign { path }
            | OpenError::Newer { path, .. } => path,
        }
    }
}

/// The final state of one slot, as a store writes it through.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SlotState<'a> {
    pub id: SlotId,
    /// `(seq, expires_at, bytes)` of the record it holds.
    pub record: Option<(u64, u64, &'a [u8])>,
    /// `(seq, forget_at)` of the tombstone it has.
    pub tombstone: Option<(u64, u64)>,
}

/// The final state of one message (a box id and a digest name it), as a store writes it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DropState<'a> {
    pub id: DropId,
    pub digest: [u8; 32],
    /// `(stored_at, sealed)` while the box holds it.
    pub kept: Option<(u64, &'a [u8])>,
}

/// A slot record row, as loaded.
pub(crate) struct SlotRow {
    pub id: SlotId,
    pub seq: u64,
    pub expires_at: u64,
    pub record: Vec<u8>,
}

/// A slot tombstone row, as loaded.
pub(crate) struct TombstoneRow {
    pub id: SlotId,
    pub seq: u64,
    pub forget_at: u64,
}

/// A drop message row, as loaded (in order of arrival).
pub(crate) struct DropRow {
    pub id: DropId,
    pub digest: [u8; 32],
    pub stored_at: u64,
    pub sealed: Vec<u8>,
}

/// An open relay store. Clones share one connection: the slot and the drop store each hold
/// one, both owned by the relay's event loop, so the lock is never contended.
#[derive(Clone)]
pub struct Disk {
    conn: Arc<Mutex<Connection>>,
    path: Arc<Path>,
    failures: Counter,
    /// Opened read-only on a database without tables yet.
    empty: bool,
}

impl std::fmt::Debug for Disk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Disk").field("path", &self.path).finish()
    }
}

/// Times and `seq` are `u64`; SQLite integers are `i64`. Stored as the same 64 bits.
fn to_sql(v: u64) -> i64 {
    v as i64
}

fn from_sql(v: i64) -> u64 {
    v as u64
}

impl Disk {
    /// Opens the store at `path`, creating it (mode 0600) if there is no file. Refuses a
    /// damaged file, another program's database and a newer schema; never rewrites them.
    pub fn open(path: &Path) -> Result<Disk, OpenError> {
        let io_err = |source| OpenError::Io {
            path: path.to_owned(),
            source,
        };
        // Created here so it is 0600 from the first moment; SQLite gives the -wal and -shm
        // files the mode of the database. An existing file is not opened by hand: closing a
        // descriptor would drop the process's SQLite locks (see meishi-store's `Store::open`).
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(file) => drop(file),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_err(e)),
        }
        let meta = std::fs::metadata(path).map_err(io_err)?;
        if !meta.is_file() {
            return Err(io_err(io::Error::other("not a regular file")));
        }
        if meta.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .map_err(io_err)?;
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(path, flags).map_err(|e| open_error(path, e))?;
        let fresh = check_header(&conn, path)?;
        if fresh {
            let init = |conn: &mut Connection| -> rusqlite::Result<()> {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Exclusive)?;
                tx.pragma_update(None, "application_id", APPLICATION_ID)?;
                tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
                tx.execute_batch(SCHEMA)?;
                tx.commit()
            };
            init(&mut conn).map_err(|e| open_error(path, e))?;
        } else {
            check_integrity(&conn, path)?;
        }
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(|e| open_error(path, e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(io_err(io::Error::other(format!(
                "the file system refused WAL journaling (got {mode})"
            ))));
        }
        // A crash of the process loses nothing in WAL mode with NORMAL; a power cut may lose
        // the last transactions, which owners republish. Deleted rows are overwritten, so a
        // collected message does not linger in free pages.
        let pragmas = |conn: &Connection| -> rusqlite::Result<()> {
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            conn.pragma_update(None, "secure_delete", true)?;
            conn.busy_timeout(std::time::Duration::from_secs(5))
        };
        pragmas(&conn).map_err(|e| open_error(path, e))?;
        Ok(Disk {
            conn: Arc::new(Mutex::new(conn)),
            path: path.into(),
            failures: Counter::default(),
            empty: false,
        })
    }

    /// Opens an existing store to read it (`meishi relay dump`), also while a relay runs on
    /// it. Creates nothing and writes nothing.
    pub fn open_read_only(path: &Path) -> Result<Disk, OpenError> {
        match std::fs::metadata(path) {
            Ok(m) if m.is_file() => {}
            Ok(_) => {
                return Err(OpenError::Io {
                    path: path.to_owned(),
                    source: io::Error::other("not a regular file"),
                })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(OpenError::Missing {
                    path: path.to_owned(),
                })
            }
            Err(source) => {
                return Err(OpenError::Io {
                    path: path.to_owned(),
                    source,
                })
            }
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| open_error(path, e))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(|e| open_error(path, e))?;
        // An empty database (a relay that stopped before its first write): nothing to read.
        let empty = check_header(&conn, path)?;
        if !empty {
            check_integrity(&conn, path)?;
        }
        Ok(Disk {
            conn: Arc::new(Mutex::new(conn)),
            path: path.into(),
            failures: Counter::default(),
            empty,
        })
    }

    /// Counts failed writes on `failures` (the relay's `store_errors` metric).
    pub fn count_failures_on(mut self, failures: Counter) -> Self {
        self.failures = failures;
        self
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while the lock was held left no half-done transaction: it rolled back.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Calls `f` with each row `sql` selects from `table`, parsed by `parse`; a row it cannot
    /// parse (a wrong type, an id that is not 32 bytes, a size over the protocol's) is damage.
    fn each<T>(
        &self,
        conn: &Connection,
        table: &'static str,
        sql: &str,
        parse: impl Fn(&rusqlite::Row<'_>) -> Option<T>,
        mut f: impl FnMut(T),
    ) -> Result<(), OpenError> {
        let read = |e| open_error(&self.path, e);
        let mut stmt = conn.prepare(sql).map_err(read)?;
        let mut rows = stmt.query([]).map_err(read)?;
        while let Some(r) = rows.next().map_err(read)? {
            f(parse(r).ok_or_else(|| OpenError::BadRow {
                path: self.path.to_path_buf(),
                table,
            })?);
        }
        Ok(())
    }

    /// Calls `slot` with every slot record row and `tombstone` with every tombstone row.
    pub(crate) fn load_slots(
        &self,
        slot: impl FnMut(SlotRow),
        tombstone: impl FnMut(TombstoneRow),
    ) -> Result<(), OpenError> {
        let conn = self.conn();
        self.each(
            &conn,
            "slots",
            "SELECT slot, seq, expires_at, record FROM slots",
            |r| {
                let record: Vec<u8> = r.get(3).ok()?;
                if record.is_empty() || record.len() > MAX_SLOT_RECORD {
                    return None;
                }
                Some(SlotRow {
                    id: SlotId(blob32(r.get(0).ok()?)?),
                    seq: from_sql(r.get(1).ok()?),
                    expires_at: from_sql(r.get(2).ok()?),
                    record,
                })
            },
            slot,
        )?;
        self.each(
            &conn,
            "slot_tombstones",
            "SELECT slot, seq, forget_at FROM slot_tombstones",
            |r| {
                Some(TombstoneRow {
                    id: SlotId(blob32(r.get(0).ok()?)?),
                    seq: from_sql(r.get(1).ok()?),
                    forget_at: from_sql(r.get(2).ok()?),
                })
            },
            tombstone,
        )
    }

    /// Calls `f` with every drop message row, oldest first.
    pub(crate) fn load_drops(&self, f: impl FnMut(DropRow)) -> Result<(), OpenError> {
        let conn = self.conn();
        self.each(
            &conn,
            "drops",
            "SELECT box, digest, stored_at, sealed FROM drops ORDER BY arrival",
            |r| {
                let sealed: Vec<u8> = r.get(3).ok()?;
                if sealed.is_empty() || sealed.len() > MAX_DROP_SEALED {
                    return None;
                }
                Some(DropRow {
                    id: DropId(blob32(r.get(0).ok()?)?),
                    digest: blob32(r.get(1).ok()?)?,
                    stored_at: from_sql(r.get(2).ok()?),
                    sealed,
                })
            },
            f,
        )
    }

    /// Writes the final state of these slots in one transaction. A failure is logged and
    /// counted, not returned: the store in memory carries on.
    pub(crate) fn write_slots(&self, states: &[SlotState<'_>]) {
        if states.is_empty() {
            return;
        }
        let write = |conn: &mut Connection| -> rusqlite::Result<()> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for s in states {
                let id = &s.id.0[..];
                match s.record {
                    Some((seq, expires_at, bytes)) => {
                        tx.prepare_cached(
                            "INSERT OR REPLACE INTO slots (slot, seq, expires_at, record) \
                             VALUES (?1, ?2, ?3, ?4)",
                        )?
                        .execute(params![
                            id,
                            to_sql(seq),
                            to_sql(expires_at),
                            bytes
                        ])?;
                    }
                    None => {
                        tx.prepare_cached("DELETE FROM slots WHERE slot = ?1")?
                            .execute([id])?;
                    }
                }
                match s.tombstone {
                    Some((seq, forget_at)) => {
                        tx.prepare_cached(
                            "INSERT OR REPLACE INTO slot_tombstones (slot, seq, forget_at) \
                             VALUES (?1, ?2, ?3)",
                        )?
                        .execute(params![
                            id,
                            to_sql(seq),
                            to_sql(forget_at)
                        ])?;
                    }
                    None => {
                        tx.prepare_cached("DELETE FROM slot_tombstones WHERE slot = ?1")?
                            .execute([id])?;
                    }
                }
            }
            tx.commit()
        };
        let result = write(&mut self.conn());
        self.report(result, "slots", states.len());
    }

    /// Writes the final state of these messages in one transaction; failures as
    /// [`Disk::write_slots`].
    pub(crate) fn write_drops(&self, states: &[DropState<'_>]) {
        if states.is_empty() {
            return;
        }
        let write = |conn: &mut Connection| -> rusqlite::Result<()> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for s in states {
                let (id, digest) = (&s.id.0[..], &s.digest[..]);
                match s.kept {
                    Some((stored_at, sealed)) => {
                        tx.prepare_cached(
                            "INSERT OR REPLACE INTO drops (box, digest, stored_at, sealed) \
                             VALUES (?1, ?2, ?3, ?4)",
                        )?
                        .execute(params![
                            id,
                            digest,
                            to_sql(stored_at),
                            sealed
                        ])?;
                    }
                    None => {
                        tx.prepare_cached("DELETE FROM drops WHERE box = ?1 AND digest = ?2")?
                            .execute([id, digest])?;
                    }
                }
            }
            tx.commit()
        };
        let result = write(&mut self.conn());
        self.report(result, "drops", states.len());
    }

    fn report(&self, result: rusqlite::Result<()>, table: &'static str, rows: usize) {
        if let Err(error) = result {
            self.failures.inc();
            tracing::error!(
                path = %self.path.display(),
                table,
                rows,
                %error,
                "cannot write the relay store; carrying on from memory (lost at the next restart)"
            );
        }
    }

    /// Everything the file holds, by opaque id: what `meishi relay dump` prints. Reads sizes,
    /// not the records and messages themselves.
    pub fn dump(&self) -> Result<Dump, OpenError> {
        if self.empty {
            return Ok(Dump::empty(&self.path));
        }
        let guard = self.conn();
        // One read transaction (ended when dropped): a consistent picture while a relay writes.
        let tx = guard
            .unchecked_transaction()
            .map_err(|e| open_error(&self.path, e))?;
        let (mut slots, mut tombstones, mut drops) = (Vec::new(), Vec::new(), Vec::new());
        self.each(
            &tx,
            "slots",
            "SELECT slot, seq, expires_at, length(record) FROM slots ORDER BY slot",
            |r| {
                Some(SlotEntry {
                    slot: SlotId(blob32(r.get(0).ok()?)?),
                    seq: from_sql(r.get(1).ok()?),
                    expires_at: from_sql(r.get(2).ok()?),
                    size: r.get(3).ok()?,
                })
            },
            |e| slots.push(e),
        )?;
        self.each(
            &tx,
            "slot_tombstones",
            "SELECT slot, seq, forget_at FROM slot_tombstones ORDER BY slot",
            |r| {
                Some(TombstoneEntry {
                    slot: SlotId(blob32(r.get(0).ok()?)?),
                    seq: from_sql(r.get(1).ok()?),
                    forget_at: from_sql(r.get(2).ok()?),
                })
            },
            |e| tombstones.push(e),
        )?;
        self.each(
            &tx,
            "drops",
            "SELECT box, stored_at, length(sealed) FROM drops ORDER BY arrival",
            |r| {
                Some(DropEntry {
                    box_id: DropId(blob32(r.get(0).ok()?)?),
                    stored_at: from_sql(r.get(1).ok()?),
                    size: r.get(2).ok()?,
                })
            },
            |e| drops.push(e),
        )?;
        drop(tx);
        let totals = Totals {
            slots: slots.len(),
            slot_bytes: slots.iter().map(|s| s.size).sum(),
            tombstones: tombstones.len(),
            drops: drops.len(),
            drop_bytes: drops.iter().map(|d| d.size).sum(),
            file_bytes: file_bytes(&self.path),
        };
        Ok(Dump {
            path: self.path.to_path_buf(),
            schema: SCHEMA_VERSION,
            slots,
            tombstones,
            drops,
            totals,
        })
    }
}

/// The size of the file and of its write-ahead log.
fn file_bytes(path: &Path) -> u64 {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    [path, Path::new(&wal)]
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

impl Dump {
    /// The dump of a file that holds nothing yet.
    fn empty(path: &Path) -> Dump {
        Dump {
            path: path.to_owned(),
            schema: SCHEMA_VERSION,
            slots: Vec::new(),
            tombstones: Vec::new(),
            drops: Vec::new(),
            totals: Totals {
                slots: 0,
                slot_bytes: 0,
                tombstones: 0,
                drops: 0,
                drop_bytes: 0,
                file_bytes: file_bytes(path),
            },
        }
    }
}

fn blob32(v: Vec<u8>) -> Option<[u8; 32]> {
    v.try_into().ok()
}

/// SQLite's error as an [`OpenError`]: damage when the file is not a database or is corrupt.
fn open_error(path: &Path, source: rusqlite::Error) -> OpenError {
    let path = path.to_owned();
    match source.sqlite_error_code() {
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
            OpenError::Damaged { path, source }
        }
        _ => OpenError::Sqlite { path, source },
    }
}

/// Checks the file is a relay store of a schema this relay reads; true for an empty database,
/// which the caller sets up.
fn check_header(conn: &Connection, path: &Path) -> Result<bool, OpenError> {
    let get = |pragma: &str| -> Result<i64, OpenError> {
        conn.query_row(&format!("PRAGMA {pragma}"), [], |r| r.get(0))
            .map_err(|e| open_error(path, e))
    };
    let application_id = get("application_id")?;
    let version = get("user_version")?;
    if application_id != i64::from(APPLICATION_ID) {
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(|e| open_error(path, e))?;
        if application_id == 0 && version == 0 && tables == 0 {
            return Ok(true);
        }
        return Err(OpenError::Foreign {
            path: path.to_owned(),
        });
    }
    match u32::try_from(version) {
        Ok(SCHEMA_VERSION) => Ok(false),
        Ok(found) if found > SCHEMA_VERSION => Err(OpenError::Newer {
            path: path.to_owned(),
            found,
            supported: SCHEMA_VERSION,
        }),
        // Version and tables are written in one transaction: ours without them is damaged.
        _ => Err(OpenError::Integrity {
            path: path.to_owned(),
            report: format!("schema version {version}"),
        }),
    }
}

/// `PRAGMA quick_check`: the pages, records and indexes are sound (it reads the whole file,
/// as loading does anyway).
fn check_integrity(conn: &Connection, path: &Path) -> Result<(), OpenError> {
    let report: String = conn
        .query_row("PRAGMA quick_check(1)", [], |r| r.get(0))
        .map_err(|e| open_error(path, e))?;
    if report != "ok" {
        return Err(OpenError::Integrity {
            path: path.to_owned(),
            report,
        });
    }
    Ok(())
}

/// What a relay store holds, by opaque id only (that is all the relay knows). Serialized as
/// `meishi relay dump --json` prints it (docs/relay.md#inspecting-the-store).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dump {
    pub path: PathBuf,
    pub schema: u32,
    /// Slot records, by slot id.
    pub slots: Vec<SlotEntry>,
    /// Slot ids and `seq`s of expired records, by slot id.
    pub tombstones: Vec<TombstoneEntry>,
    /// Drop messages, oldest first.
    pub drops: Vec<DropEntry>,
    pub totals: Totals,
}

/// One slot record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlotEntry {
    /// The slot id (the slot's public key), hex.
    #[serde(serialize_with = "hex")]
    pub slot: SlotId,
    pub seq: u64,
    /// Unix seconds.
    pub expires_at: u64,
    /// The record's size in bytes.
    pub size: usize,
}

/// The `seq` of a slot's expired record, remembered to refuse a replay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TombstoneEntry {
    #[serde(serialize_with = "hex")]
    pub slot: SlotId,
    pub seq: u64,
    /// Unix seconds.
    pub forget_at: u64,
}

/// One drop message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DropEntry {
    /// The box id, hex.
    #[serde(rename = "box", serialize_with = "hex")]
    pub box_id: DropId,
    /// The sealed message's size in bytes.
    pub size: usize,
    /// Unix seconds.
    pub stored_at: u64,
}

/// Counts and sizes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub slots: usize,
    /// Record bytes of all slots.
    pub slot_bytes: usize,
    pub tombstones: usize,
    pub drops: usize,
    /// Sealed bytes of all messages.
    pub drop_bytes: usize,
    /// The file and its write-ahead log on disk, indexes and free pages included.
    pub file_bytes: u64,
}

fn hex<S: Serializer, T: std::fmt::Display>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test fails by panicking")]
mod tests {
    use super::*;

    #[test]
    fn a_new_file_is_private_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(FILE_NAME);
        let d = Disk::open(&p).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let state = SlotState {
            id: SlotId([1; 32]),
            record: Some((3, 100, b"record")),
            tombstone: None,
        };
        d.write_slots(&[state]);
        drop(d);
        let d = Disk::open(&p).unwrap();
        let dump = d.dump().unwrap();
        assert_eq!(dump.schema, SCHEMA_VERSION);
        assert_eq!(
            dump.slots,
            [SlotEntry {
                slot: SlotId([1; 32]),
                seq: 3,
                expires_at: 100,
                size: 6
            }]
        );
        // Pragmas a store runs with.
        let conn = d.conn();
        let get = |p: &str| -> String {
            conn.query_row(&format!("PRAGMA {p}"), [], |r| {
                r.get::<_, rusqlite::types::Value>(0)
            })
            .map(|v| format!("{v:?}"))
            .unwrap()
        };
        assert_eq!(get("journal_mode"), "Text(\"wal\")");
        assert_eq!(get("synchronous"), "Integer(1)"); // NORMAL
        assert_eq!(get("secure_delete"), "Integer(1)");
        assert_eq!(get("application_id"), format!("Integer({APPLICATION_ID})"));
    }

    #[test]
    fn a_failed_write_is_counted_not_returned() {
        let dir = tempfile::tempdir().unwrap();
        let failures = Counter::default();
        let d = Disk::open(&dir.path().join(FILE_NAME))
            .unwrap()
            .count_failures_on(failures.clone());
        // As a full disk would: every write now fails.
        d.conn().pragma_update(None, "query_only", true).unwrap();
        let state = SlotState {
            id: SlotId([1; 32]),
            record: Some((1, 100, b"r")),
            tombstone: None,
        };
        d.write_slots(&[state]);
        d.write_drops(&[DropState {
            id: DropId([2; 32]),
            digest: [3; 32],
            kept: None,
        }]);
        assert_eq!(failures.get(), 2);
        d.conn().pragma_update(None, "query_only", false).unwrap();
        assert!(d.dump().unwrap().slots.is_empty());
    }

    #[test]
    fn u64_values_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let d = Disk::open(&dir.path().join(FILE_NAME)).unwrap();
        let state = SlotState {
            id: SlotId([2; 32]),
            record: Some((u64::MAX, u64::MAX - 1, b"r")),
            tombstone: None,
        };
        d.write_slots(&[state]);
        let mut got = Vec::new();
        d.load_slots(|r| got.push((r.seq, r.expires_at)), |_| {})
            .unwrap();
        assert_eq!(got, [(u64::MAX, u64::MAX - 1)]);
    }

    #[test]
    fn damaged_foreign_and_newer_files_are_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        // Not a database at all.
        let garbage = dir.path().join("garbage.db");
        let bytes = vec![0x5a; 8192];
        std::fs::write(&garbage, &bytes).unwrap();
        let e = Disk::open(&garbage).unwrap_err();
        assert!(matches!(e, OpenError::Damaged { .. }), "{e:?}");
        assert!(e.to_string().contains("garbage.db"), "{e}");
        assert_eq!(std::fs::read(&garbage).unwrap(), bytes, "never rewritten");

        // A SQLite file of another program (a contact book given by mistake).
        let foreign = dir.path().join("contacts.db");
        Connection::open(&foreign)
            .unwrap()
            .execute_batch("CREATE TABLE contacts (id INTEGER)")
            .unwrap();
        let e = Disk::open(&foreign).unwrap_err();
        assert!(matches!(e, OpenError::Foreign { .. }), "{e:?}");

        // A newer relay's store.
        let newer = dir.path().join("newer.db");
        drop(Disk::open(&newer).unwrap());
        Connection::open(&newer)
            .unwrap()
            .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        let e = Disk::open(&newer).unwrap_err();
        assert!(
            matches!(e, OpenError::Newer { found, supported, .. }
                if found == SCHEMA_VERSION + 1 && supported == SCHEMA_VERSION),
            "{e:?}"
        );
        assert!(e.to_string().contains("newer.db"), "{e}");
        let e = Disk::open_read_only(&newer).unwrap_err();
        assert!(matches!(e, OpenError::Newer { .. }), "{e:?}");

        // Rows that are not what the relay writes.
        let bad = dir.path().join("bad.db");
        drop(Disk::open(&bad).unwrap());
        Connection::open(&bad)
            .unwrap()
            .execute(
                "INSERT INTO slots (slot, seq, expires_at, record) VALUES (x'01', 1, 2, x'00')",
                [],
            )
            .unwrap();
        let d = Disk::open(&bad).unwrap();
        let e = d.load_slots(|_| {}, |_| {}).err().unwrap();
        assert!(
            matches!(e, OpenError::BadRow { table: "slots", .. }),
            "{e:?}"
        );

        // A sound header over damaged pages: found by the check at open, before anything loads.
        let torn = dir.path().join("torn.db");
        let d = Disk::open(&torn).unwrap();
        let states: Vec<SlotState<'_>> = (0..200u8)
            .map(|n| SlotState {
                id: SlotId([n; 32]),
                record: Some((1, 100, &[0xab; 300][..])),
                tombstone: None,
            })
            .collect();
        d.write_slots(&states);
        drop(d);
        let mut bytes = std::fs::read(&torn).unwrap();
        assert!(bytes.len() > 5 * 4096);
        bytes[2 * 4096..2 * 4096 + 64].fill(0xff);
        std::fs::write(&torn, &bytes).unwrap();
        let e = Disk::open(&torn).unwrap_err();
        assert!(
            matches!(e, OpenError::Integrity { .. } | OpenError::Damaged { .. }),
            "{e:?}"
        );
        assert!(e.to_string().contains("torn.db"), "{e}");
        assert_eq!(std::fs::read(&torn).unwrap(), bytes, "never rewritten");

        // No file: the reader does not create one.
        let missing = dir.path().join("missing.db");
        let e = Disk::open_read_only(&missing).unwrap_err();
        assert!(matches!(e, OpenError::Missing { .. }), "{e:?}");
        assert!(!missing.exists());
    }

    #[test]
    fn a_reader_sees_a_running_writer() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(FILE_NAME);
        let w = Disk::open(&p).unwrap();
        let drop_state = DropState {
            id: DropId([7; 32]),
            digest: [8; 32],
            kept: Some((1_700_000_000, &[9; 100])),
        };
        w.write_drops(&[drop_state]);
        let r = Disk::open_read_only(&p).unwrap();
        let dump = r.dump().unwrap();
        assert_eq!(
            dump.drops,
            [DropEntry {
                box_id: DropId([7; 32]),
                size: 100,
                stored_at: 1_700_000_000
            }]
        );
        assert_eq!((dump.totals.drops, dump.totals.drop_bytes), (1, 100));
        assert!(dump.totals.file_bytes > 0);
        // Deleting is durable too, and the reader never wrote.
        w.write_drops(&[DropState {
            kept: None,
            ..drop_state
        }]);
        assert!(r.dump().unwrap().drops.is_empty());
    }
}
