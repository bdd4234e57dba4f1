//! Listing and deleting runs of a resume state file.
//!
//! Why: a run's state holds the path and the hashes of every file it saw,
//! and nothing else ever deletes it. Pruning removes runs by name or by age
//! (the time of their last write, so a scan running for days is not pruned
//! under itself), and overwrites what was deleted (`secure_delete`, then a
//! checkpoint) so the paths are gone from the file, not just unlinked.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use serde::Serialize;

use super::{configure, migrate, now, StateError};

/// One run, as `hashsieve runs list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunInfo {
    pub run: String,
    /// `running` (also a run that was killed), `finished` or `interrupted`.
    pub state: String,
    pub started_at: i64,
    /// Last write (UNIX seconds); runs of format 1 did not record it.
    pub updated_at: Option<i64>,
    pub finished_at: Option<i64>,
    /// Files with a stored outcome.
    pub files: u64,
}

/// Which runs to delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prune {
    /// Runs last written longer ago than this.
    OlderThan(Duration),
    /// These runs (all must exist).
    Named(Vec<String>),
}

/// Open an existing state file (never creating one).
fn open_existing(path: &Path) -> Result<Connection, StateError> {
    let err = |source| StateError::Sqlite {
        path: path.to_path_buf(),
        source,
    };
    if !path.is_file() {
        return Err(StateError::NoState {
            path: path.to_path_buf(),
        });
    }
    let c = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(err)?;
    configure(&c).map_err(err)?;
    Ok(c)
}

const SELECT_RUNS: &str = "
SELECT id, state, started_at, updated_at, finished_at,
       (SELECT count(*) FROM outcomes WHERE run = runs.id)
FROM runs";

fn run_info(r: &rusqlite::Row<'_>) -> rusqlite::Result<RunInfo> {
    Ok(RunInfo {
        run: r.get(0)?,
        state: r.get(1)?,
        started_at: r.get(2)?,
        updated_at: r.get(3)?,
        finished_at: r.get(4)?,
        files: r.get::<_, i64>(5)?.max(0) as u64,
    })
}

/// The runs of the state file at `path`, oldest first.
///
/// # Errors
/// No state file there ([`StateError::NoState`]), SQLite errors, a state
/// file from a newer version.
pub fn list_runs(path: &Path) -> Result<Vec<RunInfo>, StateError> {
    let err = |source| StateError::Sqlite {
        path: path.to_path_buf(),
        source,
    };
    let mut c = open_existing(path)?;
    let tx = c
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(err)?;
    migrate(&tx, path)?;
    let runs = {
        let mut st = tx
            .prepare(&format!("{SELECT_RUNS} ORDER BY started_at, id"))
            .map_err(err)?;
        let rows = st.query_map([], run_info).map_err(err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(err)?
    };
    tx.commit().map_err(err)?;
    Ok(runs)
}

/// Delete the runs `which` selects from the state file at `path`, with
/// their outcomes, in one transaction; returns them as they were. Runs of
/// every state, a `running` one included.
///
/// # Errors
/// As [`list_runs`]; [`StateError::NoSuchRun`] for a name that is not
/// there (then nothing is deleted).
pub fn prune(path: &Path, which: &Prune) -> Result<Vec<RunInfo>, StateError> {
    Ok(prune_with(path, which, true, false)?.pruned)
}

/// What [`prune_with`] did (or, dry, would do).
#[derive(Debug, Clone, Default)]
pub struct Pruned {
    pub pruned: Vec<RunInfo>,
    /// Selected runs left alone: `running` (a scan under way, or one that
    /// was killed: the state cannot tell), without `force`.
    pub kept: Vec<RunInfo>,
}

/// [`prune`], keeping `running` runs unless `force`, and deleting nothing
/// with `dry_run`.
///
/// # Errors
/// As [`prune`].
pub fn prune_with(
    path: &Path,
    which: &Prune,
    force: bool,
    dry_run: bool,
) -> Result<Pruned, StateError> {
    let err = |source| StateError::Sqlite {
        path: path.to_path_buf(),
        source,
    };
    let mut c = open_existing(path)?;
    // Deleted pages are overwritten, not only unlinked.
    c.pragma_update(None, "secure_delete", true).map_err(err)?;
    let tx = c
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(err)?;
    migrate(&tx, path)?;
    let mut removed = Vec::new();
    match which {
        Prune::Named(names) => {
            for name in names {
                let info = tx
                    .query_row(&format!("{SELECT_RUNS} WHERE id = ?1"), [name], run_info)
                    .optional()
                    .map_err(err)?
                    .ok_or_else(|| StateError::NoSuchRun {
                        path: path.to_path_buf(),
                        run: name.clone(),
                    })?;
                if !removed.contains(&info) {
                    removed.push(info);
                }
            }
        }
        Prune::OlderThan(age) => {
            let cutoff = now().saturating_sub(i64::try_from(age.as_secs()).unwrap_or(i64::MAX));
            let mut st = tx
                .prepare(&format!(
                    "{SELECT_RUNS} WHERE coalesce(updated_at, finished_at, started_at) < ?1
                     ORDER BY started_at, id"
                ))
                .map_err(err)?;
            let rows = st.query_map(params![cutoff], run_info).map_err(err)?;
            removed = rows.collect::<Result<Vec<_>, _>>().map_err(err)?;
        }
    }
    let (removed, kept): (Vec<_>, Vec<_>) = removed
        .into_iter()
        .partition(|r| force || r.state != "running");
    if !dry_run {
        for r in &removed {
            // Outcomes go with their run (ON DELETE CASCADE).
            tx.execute("DELETE FROM runs WHERE id = ?1", [&r.run])
                .map_err(err)?;
        }
    }
    tx.commit().map_err(err)?;
    if !removed.is_empty() && !dry_run {
        // Best effort: another scan may hold the file; the rows are
        // deleted and overwritten in the log either way.
        let _ = c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    }
    Ok(Pruned {
        pruned: removed,
        kept,
    })
}

/// The state file a scan of the database at `db` uses by default.
pub fn default_state_path(db: Option<&Path>) -> PathBuf {
    match db {
        // A PostgreSQL database has no folder to sit beside.
        Some(p) if !hashdb::store::DbTarget::parse(p).is_postgres() => {
            let mut s = p.as_os_str().to_os_string();
            s.push(".runs");
            PathBuf::from(s)
        }
        _ => PathBuf::from("hashsieve-scan.runs"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{RunSettings, RunState};
    use super::*;
    use crate::walk::FileKey;

    fn key(p: &str) -> FileKey {
        FileKey {
            path: PathBuf::from(p),
            size: 1,
            mtime_ns: 7,
        }
    }

    fn run_with(path: &Path, name: &str, files: &[&str]) {
        let mut s = RunState::open_with(path, name, &[], &RunSettings::default()).unwrap();
        for f in files {
            s.record(&key(f), format!("{{\"path\":\"{f}\"}}\n"))
                .unwrap();
        }
        s.finish(false).unwrap();
    }

    #[test]
    fn prunes_by_name_and_by_age_and_erases_the_paths() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.runs");
        assert!(matches!(list_runs(&p), Err(StateError::NoState { .. })));
        assert!(!p.exists(), "listing creates nothing");
        run_with(&p, "a", &["secret-path-one.jpg"]);
        run_with(&p, "b", &["other.jpg", "more.jpg"]);
        let runs = list_runs(&p).unwrap();
        let names: Vec<(&str, u64)> = runs.iter().map(|r| (r.run.as_str(), r.files)).collect();
        assert_eq!(names, vec![("a", 1), ("b", 2)]);
        assert!(runs.iter().all(|r| r.state == "finished"));

        // An unknown name deletes nothing.
        let bad = Prune::Named(vec!["a".into(), "nope".into()]);
        assert!(matches!(
            prune(&p, &bad),
            Err(StateError::NoSuchRun { run, .. }) if run == "nope"
        ));
        assert_eq!(list_runs(&p).unwrap().len(), 2);

        let gone = prune(&p, &Prune::Named(vec!["a".into()])).unwrap();
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].run, "a");
        assert_eq!(list_runs(&p).unwrap().len(), 1);
        // Gone from the file, not only from the tables.
        for f in [p.clone(), dir.path().join("s.runs-wal")] {
            if let Ok(bytes) = std::fs::read(&f) {
                assert!(
                    !bytes.windows(15).any(|w| w == b"secret-path-one"),
                    "{} still holds the path",
                    f.display()
                );
            }
        }

        // Age: b was written just now.
        assert!(prune(&p, &Prune::OlderThan(Duration::from_secs(3600)))
            .unwrap()
            .is_empty());
        let c = Connection::open(&p).unwrap();
        c.execute("UPDATE runs SET updated_at = updated_at - 7200", [])
            .unwrap();
        drop(c);
        let gone = prune(&p, &Prune::OlderThan(Duration::from_secs(3600))).unwrap();
        assert_eq!(gone.len(), 1);
        assert!(list_runs(&p).unwrap().is_empty());
        let c = Connection::open(&p).unwrap();
        let outcomes: i64 = c
            .query_row("SELECT count(*) FROM outcomes", [], |r| r.get(0))
            .unwrap();
        assert_eq!(outcomes, 0);
    }
}
