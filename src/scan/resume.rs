//! The resume state of scan runs: per-file outcomes, keyed by path, size
//! and mtime, in a small SQLite file of its own.
//!
//! Why a side file: the hash database belongs to the lists; a scan's
//! bookkeeping is big, short-lived and written constantly, and must never
//! lock or bloat the lists. Why SQLite: its transactions make a `kill -9`
//! harmless. Outcomes are committed in batches (every [`BATCH`] files or
//! every second), each file's records in one row, so a killed scan loses
//! at most the files of the last open batch, never half a file, and a
//! resumed run scans exactly the files that have no committed outcome.
//!
//! What a resumed run reports: every file once. Files already done are not
//! scanned again; their stored records are emitted again, so the report of
//! the finishing run is complete on its own (the killed run's partial
//! report can be thrown away).
//!
//! Stored records are replayed only while they are what a fresh scan would
//! give: a run keeps the lists' match fingerprint and the flags that
//! change records ([`RunSettings`]); resuming with other flags, or after
//! the lists changed under stored records, is refused with what differs.
//! (Replaying after re-matching the stored hashes would not do: records
//! keep the hashes of record, not those of the views, so matches by a view
//! would be lost.) Runs are kept until pruned ([`prune`]): the state holds
//! every path and hash a run saw.

mod prune;
mod settings;

pub use prune::{default_state_path, list_runs, prune, prune_with, Prune, Pruned, RunInfo};
pub use settings::RunSettings;

use crate::walk::FileKey;
use rusqlite::{params, Connection, OptionalExtension};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Outcomes are committed at least this often (files) ...
pub const BATCH: usize = 256;
/// ... and at least this often (time).
pub const BATCH_INTERVAL: Duration = Duration::from_secs(1);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS runs (
    id          TEXT PRIMARY KEY,
    roots       TEXT NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    state       TEXT NOT NULL DEFAULT 'running',
    lists       TEXT,
    flags       TEXT,
    updated_at  INTEGER
);
CREATE TABLE IF NOT EXISTS outcomes (
    run      TEXT    NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    path     BLOB    NOT NULL,
    size     INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    records  TEXT    NOT NULL,
    PRIMARY KEY (run, path)
) WITHOUT ROWID;
";

/// Format 2 adds each run's settings (`lists`: the match fingerprint,
/// NULL without a database; `flags`: JSON, NULL in runs of format 1, which
/// cannot be checked) and its last write (`updated_at`, for pruning).
const V1_TO_V2: &str = "
ALTER TABLE runs ADD COLUMN lists TEXT;
ALTER TABLE runs ADD COLUMN flags TEXT;
ALTER TABLE runs ADD COLUMN updated_at INTEGER;
";

/// The state file's format version (`PRAGMA user_version`).
const VERSION: i64 = 2;

/// What went wrong with the resume state.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("resume state {path}: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("resume state {path} was written by a newer hashsieve (format {found}, this one reads {VERSION})")]
    TooNew { path: PathBuf, found: i64 },
    #[error("run {run:?} scanned other inputs ({stored}); resume it with the same paths, or pick another run name")]
    OtherInputs { run: String, stored: String },
    #[error("run {run:?} was recorded with other flags: {changes}; resume it with the same flags, or start a new run (without --resume, or another name)")]
    OtherFlags { run: String, changes: String },
    #[error("the hash lists changed since run {run:?} recorded {files} files (entries, lists or the allowlist), so its stored results may be stale; start a new run (without --resume, or another name), or `hashsieve runs prune {run}` and scan again under this name")]
    ListsChanged { run: String, files: u64 },
    #[error("run {run:?} was recorded by an older hashsieve that kept neither its lists nor its flags, so its stored results cannot be checked; start a new run, or `hashsieve runs prune {run}`")]
    Unchecked { run: String },
    #[error("no resume state at {path}")]
    NoState { path: PathBuf },
    #[error("resume state {path}: no run named {run:?}")]
    NoSuchRun { path: PathBuf, run: String },
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The roots of a run, canonical where possible, as one string.
fn roots_text(roots: &[PathBuf]) -> String {
    let v: Vec<String> = roots
        .iter()
        .map(|r| {
            std::fs::canonicalize(r)
                .unwrap_or_else(|_| r.clone())
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    serde_json::to_string(&v).unwrap_or_default()
}

fn open_conn(path: &Path) -> Result<Connection, StateError> {
    let err = |source| StateError::Sqlite {
        path: path.to_path_buf(),
        source,
    };
    let c = Connection::open(path).map_err(err)?;
    configure(&c).map_err(err)?;
    Ok(c)
}

/// Busy timeout, journal and foreign keys of a state connection.
fn configure(c: &Connection) -> rusqlite::Result<()> {
    c.busy_timeout(Duration::from_secs(10))?;
    // WAL + NORMAL: a killed process loses nothing committed; a power cut
    // may lose the last batches but never corrupts the file.
    c.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
    )
}

/// Bring the state file of `tx` to [`VERSION`].
fn migrate(tx: &rusqlite::Transaction<'_>, path: &Path) -> Result<(), StateError> {
    let err = |source| StateError::Sqlite {
        path: path.to_path_buf(),
        source,
    };
    let version: i64 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(err)?;
    if version > VERSION {
        return Err(StateError::TooNew {
            path: path.to_path_buf(),
            found: version,
        });
    }
    if version == 1 {
        tx.execute_batch(V1_TO_V2).map_err(err)?;
    }
    tx.execute_batch(SCHEMA).map_err(err)?;
    tx.pragma_update(None, "user_version", VERSION)
        .map_err(err)?;
    Ok(())
}

/// Writer side of one run's state (used by the single report writer).
pub struct RunState {
    conn: Connection,
    path: PathBuf,
    run: String,
    /// Previously done files exist (this is a resumed run).
    resumed: bool,
    pending: Vec<(Vec<u8>, u64, i64, String)>,
    last_flush: Instant,
}

impl RunState {
    /// [`RunState::open_with`] for a run with default settings (no
    /// database, no flags).
    pub fn open(path: &Path, run: &str, roots: &[PathBuf]) -> Result<RunState, StateError> {
        Self::open_with(path, run, roots, &RunSettings::default())
    }

    /// Open (creating) the state file at `path` and start or resume `run`
    /// over `roots` with `settings`. Returns the state and whether the run
    /// existed.
    ///
    /// # Errors
    /// SQLite errors, a state file from a newer version; a run that was
    /// started over other inputs, with other flags, by a version that did
    /// not record them, or whose lists changed since it stored records
    /// (see the module docs).
    pub fn open_with(
        path: &Path,
        run: &str,
        roots: &[PathBuf],
        settings: &RunSettings,
    ) -> Result<RunState, StateError> {
        let err = |source| StateError::Sqlite {
            path: path.to_path_buf(),
            source,
        };
        let mut conn = open_conn(path)?;
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        migrate(&tx, path)?;
        let roots = roots_text(roots);
        type Stored = (String, Option<String>, Option<String>);
        let stored: Option<Stored> = tx
            .query_row(
                "SELECT roots, lists, flags FROM runs WHERE id = ?1",
                [run],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(err)?;
        let resumed = match stored {
            Some((s, _, _)) if s != roots => {
                return Err(StateError::OtherInputs {
                    run: run.to_string(),
                    stored: s,
                })
            }
            Some((_, lists, flags)) => {
                let unchecked = || StateError::Unchecked {
                    run: run.to_string(),
                };
                let flags = flags
                    .as_deref()
                    .and_then(RunSettings::parse_flags)
                    .ok_or_else(unchecked)?;
                let changes = settings.flag_changes(&flags);
                if !changes.is_empty() {
                    return Err(StateError::OtherFlags {
                        run: run.to_string(),
                        changes: changes.join(", "),
                    });
                }
                if lists != settings.lists {
                    let files: i64 = tx
                        .query_row("SELECT count(*) FROM outcomes WHERE run = ?1", [run], |r| {
                            r.get(0)
                        })
                        .map_err(err)?;
                    // Nothing stored yet: nothing stale to replay.
                    if files > 0 {
                        return Err(StateError::ListsChanged {
                            run: run.to_string(),
                            files: files as u64,
                        });
                    }
                }
                tx.execute(
                    "UPDATE runs SET state = 'running', finished_at = NULL, lists = ?2, updated_at = ?3
                     WHERE id = ?1",
                    params![run, settings.lists, now()],
                )
                .map_err(err)?;
                true
            }
            None => {
                tx.execute(
                    "INSERT INTO runs (id, roots, started_at, lists, flags, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?3)",
                    params![run, roots, now(), settings.lists, settings.flags_json()],
                )
                .map_err(err)?;
                false
            }
        };
        tx.commit().map_err(err)?;
        Ok(RunState {
            conn,
            path: path.to_path_buf(),
            run: run.to_string(),
            resumed,
            pending: Vec::new(),
            last_flush: Instant::now(),
        })
    }

    /// The run's name.
    pub fn run(&self) -> &str {
        &self.run
    }

    /// Whether the run existed before (files may be done already).
    pub fn is_resumed(&self) -> bool {
        self.resumed
    }

    /// A reader for the workers (one connection per concurrent lookup).
    pub fn lookup(&self) -> StateLookup {
        StateLookup {
            path: self.path.clone(),
            run: self.run.clone(),
            pool: Mutex::new(Vec::new()),
        }
    }

    /// Record the outcome of one file (its records, one JSON per line).
    /// Committed with the next batch.
    pub fn record(&mut self, key: &FileKey, records: String) -> Result<(), StateError> {
        self.pending.push((
            key.path.as_os_str().as_bytes().to_vec(),
            key.size,
            key.mtime_ns,
            records,
        ));
        if self.pending.len() >= BATCH || self.last_flush.elapsed() >= BATCH_INTERVAL {
            self.flush()?;
        }
        Ok(())
    }

    /// Commit the pending outcomes in one transaction.
    pub fn flush(&mut self) -> Result<(), StateError> {
        self.last_flush = Instant::now();
        if self.pending.is_empty() {
            return Ok(());
        }
        let err = |source| StateError::Sqlite {
            path: self.path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(err)?;
        {
            let mut st = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO outcomes (run, path, size, mtime_ns, records) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(err)?;
            for (p, size, mtime, rec) in &self.pending {
                st.execute(params![self.run, p, *size as i64, mtime, rec])
                    .map_err(err)?;
            }
        }
        // When the run was last written (pruning goes by it, so a long
        // scan is not pruned while it runs).
        tx.execute(
            "UPDATE runs SET updated_at = ?2 WHERE id = ?1",
            params![self.run, now()],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        self.pending.clear();
        Ok(())
    }

    /// Commit everything and mark the run finished (or interrupted).
    pub fn finish(&mut self, interrupted: bool) -> Result<(), StateError> {
        self.flush()?;
        let state = if interrupted {
            "interrupted"
        } else {
            "finished"
        };
        self.conn
            .execute(
                "UPDATE runs SET state = ?2, finished_at = ?3, updated_at = ?3 WHERE id = ?1",
                params![self.run, state, now()],
            )
            .map_err(|source| StateError::Sqlite {
                path: self.path.clone(),
                source,
            })?;
        Ok(())
    }
}

/// Looks up done files from the worker threads.
pub struct StateLookup {
    path: PathBuf,
    run: String,
    pool: Mutex<Vec<Connection>>,
}

impl StateLookup {
    /// The stored records of `key`'s file if it was done with the same
    /// size and mtime.
    pub fn get(&self, key: &FileKey) -> Result<Option<String>, StateError> {
        let conn = match self.pool.lock().ok().and_then(|mut p| p.pop()) {
            Some(c) => c,
            None => open_conn(&self.path)?,
        };
        let res = conn
            .prepare_cached(
                "SELECT records FROM outcomes WHERE run = ?1 AND path = ?2 AND size = ?3 AND mtime_ns = ?4",
            )
            .and_then(|mut st| {
                st.query_row(
                    params![
                        self.run,
                        key.path.as_os_str().as_bytes(),
                        key.size as i64,
                        key.mtime_ns
                    ],
                    |r| r.get::<_, String>(0),
                )
                .optional()
            })
            .map_err(|source| StateError::Sqlite {
                path: self.path.clone(),
                source,
            });
        if let Ok(mut p) = self.pool.lock() {
            p.push(conn);
        }
        res
    }
}

/// A new run name: UTC time plus a random suffix (`20261128T134501-3f2a9c`).
pub fn new_run_id() -> String {
    let secs = now();
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let salt = blake3::hash(&[nanos.to_le_bytes(), std::process::id().to_le_bytes()].concat());
    let suffix: String = salt.as_bytes()[..3]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}-{suffix}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(p: &str, size: u64) -> FileKey {
        FileKey {
            path: PathBuf::from(p),
            size,
            mtime_ns: 7,
        }
    }

    #[test]
    fn outcomes_survive_reopen_and_changed_files_are_not_done() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.runs");
        let roots = vec![dir.path().to_path_buf()];
        let mut s = RunState::open(&p, "r1", &roots).unwrap();
        assert!(!s.is_resumed());
        s.record(&key("a", 1), "{\"path\":\"a\"}".into()).unwrap();
        s.flush().unwrap();
        s.record(&key("b", 1), "{}".into()).unwrap();
        // Dropped without flushing: "b" is lost, as in a kill -9.
        drop(s);
        let s = RunState::open(&p, "r1", &roots).unwrap();
        assert!(s.is_resumed());
        let l = s.lookup();
        assert_eq!(
            l.get(&key("a", 1)).unwrap().as_deref(),
            Some("{\"path\":\"a\"}")
        );
        assert_eq!(l.get(&key("a", 2)).unwrap(), None);
        assert_eq!(l.get(&key("b", 1)).unwrap(), None);
        let other = vec![dir.path().join("x")];
        assert!(matches!(
            RunState::open(&p, "r1", &other),
            Err(StateError::OtherInputs { .. })
        ));
    }

    #[test]
    fn resuming_with_other_flags_or_changed_lists_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.runs");
        let roots = vec![dir.path().to_path_buf()];
        let settings = |lists: &str, views: &str| RunSettings {
            lists: Some(lists.into()),
            flags: [("--views".to_string(), views.to_string())].into(),
        };
        let first = settings("gen1", "all");
        let mut s = RunState::open_with(&p, "r", &roots, &first).unwrap();
        drop(s);
        // Nothing stored yet: the lists may change freely.
        let second = settings("gen2", "all");
        s = RunState::open_with(&p, "r", &roots, &second).unwrap();
        assert!(s.is_resumed());
        s.record(&key("a", 1), "{}".into()).unwrap();
        s.finish(true).unwrap();
        drop(s);
        match RunState::open_with(&p, "r", &roots, &settings("gen2", "none")) {
            Err(StateError::OtherFlags { changes, .. }) => {
                assert_eq!(changes, "--views (was all, now none)")
            }
            other => panic!("{:?}", other.err()),
        }
        match RunState::open_with(&p, "r", &roots, &settings("gen3", "all")) {
            Err(e @ StateError::ListsChanged { files: 1, .. }) => {
                assert!(e.to_string().contains("runs prune r"), "{e}")
            }
            other => panic!("{:?}", other.err()),
        }
        assert!(RunState::open_with(&p, "r", &roots, &second)
            .unwrap()
            .is_resumed());
    }

    #[test]
    fn runs_of_format_1_are_upgraded_and_cannot_be_resumed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.runs");
        let c = Connection::open(&p).unwrap();
        c.execute_batch(
            "CREATE TABLE runs (id TEXT PRIMARY KEY, roots TEXT NOT NULL, started_at INTEGER NOT NULL,
                                finished_at INTEGER, state TEXT NOT NULL DEFAULT 'running');
             CREATE TABLE outcomes (run TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
                                    path BLOB NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
                                    records TEXT NOT NULL, PRIMARY KEY (run, path)) WITHOUT ROWID;
             PRAGMA user_version = 1;",
        )
        .unwrap();
        c.execute(
            "INSERT INTO runs (id, roots, started_at) VALUES ('old', ?1, 1)",
            [roots_text(&[])],
        )
        .unwrap();
        drop(c);
        assert!(matches!(
            RunState::open(&p, "old", &[]),
            Err(StateError::Unchecked { .. })
        ));
        // Other runs of the file work, and the old one can be listed.
        assert!(!RunState::open(&p, "new", &[]).unwrap().is_resumed());
        assert_eq!(list_runs(&p).unwrap().len(), 2);
    }

    #[test]
    fn run_ids_look_like_times() {
        let id = new_run_id();
        assert_eq!(id.len(), "20261128T134501-3f2a9c".len(), "{id}");
        assert_eq!(&id[8..9], "T");
    }
}
