//! The store of lists and entries, with two backends behind one [`Store`].
//!
//! SQLite (a path) is the embedded default: one file a team can copy,
//! inspect and back up, with real transactions (a failed import leaves the
//! list as it was) and safe concurrent use by several processes (WAL mode;
//! writers queue behind the busy timeout instead of failing at once).
//! PostgreSQL (`postgresql://...`, see [`pg`]) is the shared store when
//! many processes on many machines use one list. The in-memory index is
//! built from here; the store itself is never on the hot path of a match.
//!
//! Shape: [`Store`] is a small enum over the two backends ([`DbTarget`]
//! says which, parsed from the `--db` string) and every public method is
//! one `match` that forwards to the backend's method of the same name
//! (`dispatch.rs`). Why an enum and not a trait object: the methods take
//! closures and iterators (generic, so not object-safe), callers keep the
//! one concrete `Store` type they had, and the compiler's exhaustive match
//! makes a method added for one backend fail to build until the other has
//! it too. Each backend keeps its SQL in its own files: SQLite's in this
//! folder (`lists.rs`, `entries.rs`, ... on `SqliteStore`), PostgreSQL's
//! in `pg/` (the same file names on `PgStore`). To add a table or a
//! method: a migration at the end of [`schema::MIGRATIONS`] and of
//! [`pg::schema::MIGRATIONS`], the method on both backends, one line in
//! `dispatch.rs`, and its test in `backend_tests.rs` (run against both).
//!
//! Threading: a [`Store`] is one connection; use one per thread.

mod allowlist;
#[cfg(test)]
mod backend_tests;
mod changes;
mod dispatch;
mod entries;
mod fingerprint;
pub mod hma_config;
pub mod hma_content;
mod lists;
pub mod pg;
pub mod runs;
pub mod schema;
mod schema_check;
mod sealed;
mod snapshot;
mod stall;
mod target;
mod tokens;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags};

pub use allowlist::AllowEntry;
pub use changes::{AllowChange, ChangeCursor, Changes};
pub use entries::{FrameRow, ImportOptions, ImportSummary, IndexRow, TmkRow};
pub use lists::{ListStats, SignalCount};
pub use snapshot::{rows_path, tables_path, PdqRows, RowsKey, SavedTables};
pub use target::DbTarget;
pub use tokens::{token_hash, Scope, TokenInfo};

pub(crate) use stall::is_interrupt;

use crate::error::{is_busy, OpenError, StoreError};

/// Default time a writer waits for another process's lock.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Default time a statement may run without progress (see
/// [`OpenOptions::statement_timeout`]): far beyond any of ours on lists of
/// hundreds of millions of entries, short enough that a hostile database
/// cannot hang a scan or a service thread.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(60);

/// The first 16 bytes of every SQLite 3 database file.
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// An open hashsieve database: SQLite or PostgreSQL (see the module
/// docs for why an enum).
pub struct Store {
    inner: Inner,
}

enum Inner {
    Sqlite(SqliteStore),
    // Boxed: a client is much larger than an SQLite connection handle.
    Postgres(Box<pg::PgStore>),
}

/// The SQLite backend: one connection to one file.
pub(crate) struct SqliteStore {
    conn: Connection,
    path: PathBuf,
}

/// Whether opening may create the database.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Create {
    /// Create the file and its schema when there is none (commands that
    /// set a database up: creating a list, importing, a token).
    #[default]
    IfMissing,
    /// The database must exist: a mistyped path is an error
    /// ([`OpenError::Missing`]) instead of a new, empty database whose
    /// every lookup answers "no match". Nothing is created.
    Never,
}

/// Options for [`Store::open_with`].
#[derive(Debug, Clone, Copy)]
pub struct OpenOptions {
    /// How long to wait for another process's lock before giving up.
    pub busy_timeout: Duration,
    /// Whether a missing database is created.
    pub create: Create,
    /// A statement that runs this long without progress (no row, no
    /// trigger step) is interrupted with [`StoreError::Stalled`];
    /// `Duration::ZERO`: no limit.
    pub statement_timeout: Duration,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
            create: Create::IfMissing,
            statement_timeout: DEFAULT_STATEMENT_TIMEOUT,
        }
    }
}

impl OpenOptions {
    /// These options, for a database that must already exist.
    pub fn existing(self) -> Self {
        OpenOptions {
            create: Create::Never,
            ..self
        }
    }
}

pub(crate) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl SqliteStore {
    /// Open the database at `path`, creating it (and migrating its schema)
    /// if needed, with default options.
    ///
    /// # Errors
    /// [`OpenError::NotADatabase`] if the file is something else (it is left
    /// untouched), [`OpenError::TooNew`] if a newer hashsieve wrote it,
    /// [`OpenError::Locked`] if another process holds it past the timeout,
    /// [`OpenError::UnexpectedSchema`] if it holds tables, views, indexes
    /// or triggers that are not ours for its version (see
    /// `store::schema_check`; nothing of it is read or run).
    #[cfg(test)]
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, OpenError> {
        Self::open_with(path, OpenOptions::default())
    }

    /// [`Store::open`] with options.
    ///
    /// # Errors
    /// As [`Store::open`], and [`OpenError::Missing`] with
    /// [`Create::Never`] when there is no database at `path` (no file, or
    /// an empty one).
    pub fn open_with(path: impl AsRef<Path>, opts: OpenOptions) -> Result<SqliteStore, OpenError> {
        let path = path.as_ref().to_path_buf();
        let found = check_magic(&path)?;
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        match opts.create {
            Create::IfMissing => flags |= OpenFlags::SQLITE_OPEN_CREATE,
            // An empty file is what `touch` leaves: no database either.
            Create::Never if found == Found::Database => {}
            Create::Never => return Err(OpenError::Missing { path }),
        }
        let sql = |source: rusqlite::Error| {
            if is_busy(&source) {
                OpenError::Locked {
                    path: path.clone(),
                    waited_ms: opts.busy_timeout.as_millis() as u64,
                }
            } else if source.sqlite_error_code() == Some(rusqlite::ErrorCode::NotADatabase) {
                OpenError::NotADatabase { path: path.clone() }
            } else if stall::is_interrupt(&source) {
                OpenError::Stalled {
                    path: path.clone(),
                    limit_ms: opts.statement_timeout.as_millis() as u64,
                }
            } else if source.sqlite_error_code() == Some(rusqlite::ErrorCode::CannotOpen)
                && !path.exists()
            {
                // Removed since we looked, and not ours to create.
                OpenError::Missing { path: path.clone() }
            } else {
                OpenError::Sqlite {
                    path: path.clone(),
                    source,
                }
            }
        };
        let mut conn = Connection::open_with_flags(&path, flags).map_err(sql)?;
        conn.busy_timeout(opts.busy_timeout).map_err(sql)?;
        // The file is input: SQLite's defences for untrusted databases (no
        // writable schema, no functions with side effects in the schema)
        // and a bound on statements that stall (see `store::stall`).
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)
            .map_err(sql)?;
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA, false)
            .map_err(sql)?;
        stall::limit_stalls(&mut conn, opts.statement_timeout).map_err(sql)?;
        // Reading the schema version is the first access to the file: a
        // damaged header fails here, before anything is written.
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(sql)?;
        if version > schema::CURRENT_VERSION {
            return Err(OpenError::TooNew {
                path: path.clone(),
                found: version,
                supported: schema::CURRENT_VERSION,
            });
        }
        // Before any table is read or written: nothing but our schema.
        schema_check::check(&conn, &path, version)?;
        conn.execute_batch(
            // A 64 MiB page cache: bulk imports insert into a large unique index.
            "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -65536;",
        )
        .map_err(sql)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(sql)?;
        let _ = mode; // WAL is unavailable on some filesystems; rollback journal still works.
        let mut store = SqliteStore {
            conn,
            path: path.clone(),
        };
        if version < schema::CURRENT_VERSION {
            store.migrate().map_err(|e| match e {
                MigrateError::Sql(source) => sql(source),
                MigrateError::Open(e) => e,
            })?;
            // Another process may have migrated (or changed) it meanwhile.
            let now: i64 = store
                .conn
                .query_row("PRAGMA user_version", [], |r| r.get(0))
                .map_err(sql)?;
            schema_check::check(&store.conn, &path, now)?;
        }
        Ok(store)
    }

    fn migrate(&mut self) -> Result<(), MigrateError> {
        // Foreign keys cannot be switched inside a transaction: off for the
        // migrations (one rebuilds `entries`: see `schema::V7_TMK`), on
        // again whatever happens.
        self.conn.execute_batch("PRAGMA foreign_keys = OFF")?;
        let result = self.migrate_in_transaction();
        let on = self.conn.execute_batch("PRAGMA foreign_keys = ON");
        result?;
        on?;
        Ok(())
    }

    fn migrate_in_transaction(&mut self) -> Result<(), MigrateError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        // Another process may have migrated while we waited for the lock.
        let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version == 0 {
            let tables: i64 = tx.query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
                [],
                |r| r.get(0),
            )?;
            if tables > 0 {
                return Err(MigrateError::Open(OpenError::Foreign {
                    path: self.path.clone(),
                }));
            }
        }
        if version > schema::CURRENT_VERSION {
            return Err(MigrateError::Open(OpenError::TooNew {
                path: self.path.clone(),
                found: version,
                supported: schema::CURRENT_VERSION,
            }));
        }
        let mut migrated = false;
        for (i, m) in schema::MIGRATIONS.iter().enumerate().skip(version as usize) {
            tx.execute_batch(m)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            migrated = true;
        }
        if migrated {
            // The rows were copied with their ids: every reference must
            // still resolve (a failure rolls the whole migration back).
            let broken: i64 =
                tx.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                    r.get(0)
                })?;
            if broken > 0 {
                return Err(MigrateError::Sql(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY),
                    Some(format!(
                        "{broken} rows refer to missing rows after the schema migration"
                    )),
                )));
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Set this connection's page cache size (KiB).
    pub fn set_cache_kib(&self, kib: u32) -> Result<(), StoreError> {
        self.conn
            .execute_batch(&format!("PRAGMA cache_size = -{kib}"))?;
        Ok(())
    }

    /// The file this store was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    fn immediate(&mut self) -> Result<rusqlite::Transaction<'_>, StoreError> {
        Ok(self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?)
    }
}

enum MigrateError {
    Sql(rusqlite::Error),
    Open(OpenError),
}

impl From<rusqlite::Error> for MigrateError {
    fn from(e: rusqlite::Error) -> Self {
        MigrateError::Sql(e)
    }
}

/// What is at a database path before it is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    /// No file, or an empty one.
    Nothing,
    /// A file starting like an SQLite database.
    Database,
}

/// Refuse a non-empty file that does not start like an SQLite database, so
/// that a mistyped `--db` never turns someone's file into a database.
fn check_magic(path: &Path) -> Result<Found, OpenError> {
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Found::Nothing),
        Err(source) => {
            return Err(OpenError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let mut head = Vec::with_capacity(16);
    f.by_ref()
        .take(16)
        .read_to_end(&mut head)
        .map_err(|source| OpenError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    if head.is_empty() {
        Ok(Found::Nothing)
    } else if head.as_slice() == SQLITE_MAGIC {
        Ok(Found::Database)
    } else {
        Err(OpenError::NotADatabase {
            path: path.to_path_buf(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_non_sqlite_files_without_touching_them() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("notes.txt");
        std::fs::write(&p, b"my precious notes\n").unwrap();
        let err = SqliteStore::open(&p).err().unwrap();
        assert!(matches!(err, OpenError::NotADatabase { .. }), "{err}");
        assert_eq!(std::fs::read(&p).unwrap(), b"my precious notes\n");
        assert!(!dir.path().join("notes.txt-wal").exists());
    }

    #[test]
    fn refuses_newer_schema_and_foreign_databases() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("new.db");
        drop(SqliteStore::open(&p).unwrap());
        let c = Connection::open(&p).unwrap();
        c.pragma_update(None, "user_version", 99).unwrap();
        drop(c);
        assert!(matches!(
            SqliteStore::open(&p).err().unwrap(),
            OpenError::TooNew { found: 99, .. }
        ));
        let f = dir.path().join("foreign.db");
        let c = Connection::open(&f).unwrap();
        c.execute_batch("CREATE TABLE t(x)").unwrap();
        drop(c);
        assert!(matches!(
            SqliteStore::open(&f).err().unwrap(),
            OpenError::Foreign { .. }
        ));
    }

    #[test]
    fn upgrades_a_version_2_database_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v2.db");
        // A database as a version-2 hashsieve wrote it, with a list.
        let c = Connection::open(&p).unwrap();
        for m in &schema::MIGRATIONS[..2] {
            c.execute_batch(m).unwrap();
        }
        c.pragma_update(None, "user_version", 2).unwrap();
        c.execute(
            "INSERT INTO lists (name, pdq_threshold, created_at, updated_at) VALUES ('old', 20, 1, 1)",
            [],
        )
        .unwrap();
        drop(c);
        let s = SqliteStore::open(&p).unwrap();
        assert_eq!(s.schema_version().unwrap(), schema::CURRENT_VERSION);
        let l = s.list("old").unwrap();
        // Kept what it had; gained the default vPDQ rules.
        assert_eq!((l.pdq_threshold, l.created_at), (20, 1));
        assert_eq!(
            (
                l.vpdq_target_percent,
                l.vpdq_query_percent,
                l.vpdq_min_clip_frames
            ),
            (80.0, 80.0, 5)
        );
        // A version-3 database is refused by a build that knows only 2:
        // that is the TooNew check, as for any newer version.
        drop(s);
        let c = Connection::open(&p).unwrap();
        c.pragma_update(None, "user_version", schema::CURRENT_VERSION + 1)
            .unwrap();
        drop(c);
        assert!(matches!(
            SqliteStore::open(&p).err().unwrap(),
            OpenError::TooNew { .. }
        ));
    }

    #[test]
    fn a_version_5_database_gains_tmk_keeping_every_row_and_reference() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v5.db");
        // A version-5 database with a PDQ entry and its label, a vPDQ
        // entry and its frame, an HMA content item of both, and the
        // allowlist: everything that refers to an entry.
        let c = Connection::open(&p).unwrap();
        for m in &schema::MIGRATIONS[..5] {
            c.execute_batch(m).unwrap();
        }
        c.pragma_update(None, "user_version", 5).unwrap();
        let h = vec![7u8; 32];
        c.execute_batch(
            "INSERT INTO lists (id, name, created_at, updated_at) VALUES (1, 'l', 1, 1);
             INSERT INTO entries (id, list_id, signal_type, value, quality, added_at, status)
                 VALUES (10, 1, 'pdq', zeroblob(32), 90, 5, 'disputed');
             INSERT INTO entries (id, list_id, signal_type, value, added_at)
                 VALUES (11, 1, 'vpdq', zeroblob(32), 6);
             INSERT INTO entry_labels (entry_id, label) VALUES (10, 'entity:x');
             INSERT INTO hma_contents (id, note) VALUES (10, 'n');
             INSERT INTO hma_content_entries (entry_id, content_id) VALUES (11, 10);",
        )
        .unwrap();
        c.execute(
            "INSERT INTO vpdq_frames (entry_id, frame, quality, hash, timestamp) VALUES (11, 0, 80, ?1, 0.0)",
            [&h],
        )
        .unwrap();
        drop(c);
        let mut s = SqliteStore::open(&p).unwrap();
        assert_eq!(s.schema_version().unwrap(), schema::CURRENT_VERSION);
        let pdq = s.entry(10).unwrap();
        assert_eq!(pdq.record.quality, Some(90));
        assert_eq!(pdq.status.status, crate::model::Status::Disputed);
        assert!(pdq.record.labels.contains("entity:x"));
        match s.entry(11).unwrap().record.value {
            crate::model::Value::Vpdq(f) => assert_eq!(f[0].hash.0.to_vec(), h),
            v => panic!("{v:?}"),
        }
        let l = s.list("l").unwrap();
        assert_eq!((l.tmk_level1, l.tmk_level2), (0.7, 0.7));
        // The content item (V5) is an item of both entries since V10.
        let refs: i64 = s
            .conn
            .query_row("SELECT count(*) FROM hma_item_entries", [], |r| r.get(0))
            .unwrap();
        assert_eq!(refs, 2);
        // Foreign keys are enforced again, and still cascade.
        let fk: i64 = s
            .conn
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(fk, 1);
        s.delete_list("l").unwrap();
        let left: i64 = s
            .conn
            .query_row(
                "SELECT (SELECT count(*) FROM entry_labels) + (SELECT count(*) FROM vpdq_frames)
                      + (SELECT count(*) FROM hma_item_entries) + (SELECT count(*) FROM hma_items)",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(left, 0);
        // Reopening checks the migrated schema against a fresh one.
        drop(s);
        SqliteStore::open(&p).unwrap();
    }

    #[test]
    fn a_missing_database_is_created_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("typo.db");
        let existing = OpenOptions::default().existing();
        assert!(matches!(
            SqliteStore::open_with(&p, existing).err().unwrap(),
            OpenError::Missing { .. }
        ));
        assert!(!p.exists(), "nothing created");
        // An empty file (`touch`) is no database either, and stays empty.
        std::fs::write(&p, b"").unwrap();
        assert!(matches!(
            SqliteStore::open_with(&p, existing).err().unwrap(),
            OpenError::Missing { .. }
        ));
        assert_eq!(std::fs::metadata(&p).unwrap().len(), 0);
        std::fs::remove_file(&p).unwrap();
        let mut s = SqliteStore::open(&p).unwrap();
        assert!(!s.has_enabled_list().unwrap());
        s.create_list(&crate::model::NewList::new("a")).unwrap();
        assert!(s.has_enabled_list().unwrap());
        s.set_list_enabled("a", false).unwrap();
        assert!(!s.has_enabled_list().unwrap());
        drop(s);
        assert!(SqliteStore::open_with(&p, existing).is_ok());
    }

    #[test]
    fn refuses_objects_that_are_not_ours_without_running_them() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.db");
        let mut s = SqliteStore::open(&p).unwrap();
        s.create_list(&crate::model::NewList::new("a")).unwrap();
        drop(s);
        let c = Connection::open(&p).unwrap();
        c.execute_batch(
            "CREATE TABLE audit (x); CREATE TRIGGER log AFTER INSERT ON lists BEGIN INSERT INTO audit VALUES (1); END;",
        )
        .unwrap();
        drop(c);
        match SqliteStore::open(&p).err().unwrap() {
            OpenError::UnexpectedSchema { objects, .. } => assert_eq!(
                objects,
                r#"table "audit" (not ours), trigger "log" on "lists" (not ours)"#
            ),
            e => panic!("{e}"),
        }
        // A file of an older version with foreign objects is refused before
        // it is migrated (nothing written).
        let c = Connection::open(&p).unwrap();
        c.pragma_update(None, "user_version", 2).unwrap();
        drop(c);
        assert!(matches!(
            SqliteStore::open(&p).err().unwrap(),
            OpenError::UnexpectedSchema { version: 2, .. }
        ));
        let c = Connection::open(&p).unwrap();
        let v: i64 = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, 2);
    }

    #[test]
    fn creates_current_schema() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(dir.path().join("a.db")).unwrap();
        assert_eq!(s.schema_version().unwrap(), schema::CURRENT_VERSION);
        // Reopening does not migrate again.
        drop(s);
        let s = SqliteStore::open(dir.path().join("a.db")).unwrap();
        assert_eq!(s.schema_version().unwrap(), schema::CURRENT_VERSION);
    }
}
