//! Distributed scan runs (`scan --queue`, `hashsieve worker`): the run,
//! the jobs done and one record per scanned item, in the shared database.
//!
//! Why in the store: workers on many machines must agree on what is done,
//! and the database is the one thing they all reach. Writes are idempotent,
//! keyed by (run, path): a job delivered twice (a worker killed after its
//! commit but before its ack) replaces its records instead of adding
//! copies. A job's records and its "done" row are in one transaction
//! (a worker commits several jobs in one: [`Store::scan_jobs_commit`]),
//! so a worker killed mid-write leaves nothing behind and the redelivered
//! job writes everything again.
//!
//! Paths are stored as bytes (`BLOB`): a location is whatever the file
//! system or the archive said, not necessarily UTF-8.

use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::{now, Inner, SqliteStore, Store};
use crate::error::StoreError;

/// One record of a run, as a worker writes it.
#[derive(Debug, Clone)]
pub struct RunRecord {
    /// The item's location (a file, or `archive!/member`), as bytes.
    pub path: Vec<u8>,
    /// Hits that are not suppressed.
    pub matches: u64,
    /// The error kind (`io`, `decode`, ...) when the item failed.
    pub error: Option<String>,
    /// The record as the JSON line `scan` prints.
    pub line: String,
}

/// One job's records, committed with others by [`Store::scan_jobs_commit`].
#[derive(Debug, Clone, Copy)]
pub struct JobCommit<'a> {
    pub run: &'a str,
    /// The job (input file) as published.
    pub job: &'a [u8],
    /// Its delivery number (shown as the job's `deliveries`).
    pub deliveries: u64,
    pub records: &'a [RunRecord],
}

/// Where a job stands, read before it is scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    /// The run is not in this database (another `--db`, or pruned).
    NoRun,
    /// Committed already (its worker died between commit and ack).
    Done,
    /// To scan.
    Todo,
}

/// The runs of `jobs` with how many jobs of each, in first-seen order.
pub(super) fn runs_of<'a>(jobs: &[JobCommit<'a>]) -> Vec<(&'a str, i64)> {
    let mut runs: Vec<(&str, i64)> = Vec::new();
    for j in jobs {
        match runs.iter_mut().find(|r| r.0 == j.run) {
            Some(r) => r.1 += 1,
            None => runs.push((j.run, 1)),
        }
    }
    runs
}

/// The statements of a batch of job commits in one open transaction, one
/// implementation per backend (their SQL differs); [`commit_jobs`] is
/// the order and the checks, shared.
pub(super) trait JobWrites {
    fn run_exists(&mut self, run: &str) -> Result<bool, StoreError>;
    /// Delete the records job `job` wrote on an earlier delivery.
    fn clear_job(&mut self, run: &str, job: &[u8]) -> Result<(), StoreError>;
    /// Insert (or replace, by (run, path)) one record.
    fn put_record(&mut self, run: &str, job: &[u8], r: &RunRecord) -> Result<(), StoreError>;
    /// Mark job `job` done (or done again) by `worker`.
    fn mark_done(
        &mut self,
        run: &str,
        job: &[u8],
        worker: &str,
        deliveries: i64,
        t: i64,
    ) -> Result<(), StoreError>;
    /// `worker` committed `jobs` more jobs of `run` at `t`: its worker row
    /// and the run's `updated_at`.
    fn worker_seen(&mut self, run: &str, worker: &str, t: i64, jobs: i64)
        -> Result<(), StoreError>;
}

/// Write `jobs` (see [`Store::scan_jobs_commit`]) through `w`, inside the
/// caller's transaction, which commits only when this succeeds: every
/// run checked first (nothing is written for a batch naming a missing
/// one), then each job's records replaced and the job marked done, then
/// once per run and batch the rows shared by every worker of the run.
pub(super) fn commit_jobs(
    w: &mut impl JobWrites,
    worker: &str,
    jobs: &[JobCommit<'_>],
    t: i64,
) -> Result<(), StoreError> {
    let runs = runs_of(jobs);
    for (run, _) in &runs {
        if !w.run_exists(run)? {
            return Err(StoreError::Invalid {
                field: "run",
                message: format!("no scan run named {run:?} in this database"),
            });
        }
    }
    for j in jobs {
        w.clear_job(j.run, j.job)?;
        for r in j.records {
            w.put_record(j.run, j.job, r)?;
        }
        w.mark_done(j.run, j.job, worker, j.deliveries as i64, t)?;
    }
    // Once per run and batch: these rows are shared by every worker of
    // the run and are locked until the commit.
    for (run, n) in &runs {
        w.worker_seen(run, worker, t, *n)?;
    }
    Ok(())
}

/// [`JobWrites`] on SQLite: cached statements of one transaction.
struct SqliteJobWrites<'a> {
    tx: &'a rusqlite::Transaction<'a>,
}

impl JobWrites for SqliteJobWrites<'_> {
    fn run_exists(&mut self, run: &str) -> Result<bool, StoreError> {
        Ok(self
            .tx
            .prepare_cached("SELECT 1 FROM scan_runs WHERE name = ?1")?
            .query_row([run], |_| Ok(()))
            .optional()?
            .is_some())
    }

    fn clear_job(&mut self, run: &str, job: &[u8]) -> Result<(), StoreError> {
        self.tx
            .prepare_cached("DELETE FROM scan_records WHERE run = ?1 AND job = ?2")?
            .execute(params![run, job])?;
        Ok(())
    }

    fn put_record(&mut self, run: &str, job: &[u8], r: &RunRecord) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "INSERT OR REPLACE INTO scan_records (run, path, job, matches, error, record)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![run, r.path, job, r.matches as i64, r.error, r.line])?;
        Ok(())
    }

    fn mark_done(
        &mut self,
        run: &str,
        job: &[u8],
        worker: &str,
        deliveries: i64,
        t: i64,
    ) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "INSERT OR REPLACE INTO scan_jobs (run, path, worker, deliveries, done_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![run, job, worker, deliveries, t])?;
        Ok(())
    }

    fn worker_seen(
        &mut self,
        run: &str,
        worker: &str,
        t: i64,
        jobs: i64,
    ) -> Result<(), StoreError> {
        self.tx.execute(
            "INSERT INTO scan_workers (run, worker, first_seen, last_seen, jobs)
             VALUES (?1, ?2, ?3, ?3, ?4)
             ON CONFLICT (run, worker) DO UPDATE SET last_seen = ?3, jobs = jobs + ?4",
            params![run, worker, t, jobs],
        )?;
        self.tx.execute(
            "UPDATE scan_runs SET updated_at = ?2 WHERE name = ?1",
            params![run, t],
        )?;
        Ok(())
    }
}

/// A worker that committed jobs of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkerSeen {
    pub worker: String,
    pub first_seen: i64,
    pub last_seen: i64,
    /// Jobs (input files) it committed.
    pub jobs: u64,
}

/// A run and its progress. Times are Unix seconds.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    pub name: String,
    /// The producer's roots (lossy UTF-8, for display).
    pub roots: Vec<String>,
    /// Where its jobs were published.
    pub queue: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// Jobs (input files) published so far.
    pub published: u64,
    /// The producer finished its walk: `published` is final.
    pub walk_done: bool,
    /// Jobs committed by workers.
    pub jobs_done: u64,
    /// Records stored (files plus archive members).
    pub records: u64,
    /// Records with at least one hit that is not suppressed.
    pub records_matched: u64,
    /// Records with an error.
    pub errors: u64,
}

impl RunInfo {
    /// The producer is done and every published job is committed: no
    /// worker will write to the run again (a job redelivered after its
    /// commit is acked unwritten).
    pub fn finished(&self) -> bool {
        self.walk_done && self.jobs_done >= self.published
    }
}

/// Which runs [`Store::scan_runs_prune`] deletes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunSelect {
    /// These runs (names not in the database are ignored: the caller
    /// checks names first, since they may name runs of another kind).
    Named(Vec<String>),
    /// Runs last written (a job committed, the producer's count) before
    /// this Unix time.
    UpdatedBefore(i64),
}

/// What [`Store::scan_runs_prune`] did (or, dry, would do).
#[derive(Debug, Clone, Default)]
pub struct RunsPruned {
    /// Runs deleted with their jobs, records and workers, as they were.
    pub pruned: Vec<RunInfo>,
    /// Selected runs left alone because they are not finished (without
    /// `force`).
    pub kept: Vec<RunInfo>,
}

/// Why a producer could not start a run.
#[derive(Debug, thiserror::Error)]
pub enum RunStartError {
    /// The name is taken and the producer did not ask to resume it.
    #[error("a run named {0:?} already exists (another producer, or an earlier run): pick another name, or add --resume to publish its missing files again")]
    Exists(String),
    /// Resuming with other roots would mix two scans in one report.
    #[error("run {name:?} was started with other paths ({roots}): resume it with the same paths")]
    OtherRoots { name: String, roots: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How a run was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStart {
    Created,
    /// It existed with the same roots (`--resume`).
    Resumed,
}

/// Roots as one blob: the paths joined by NUL (a byte no path holds).
pub(super) fn join_roots(roots: &[&[u8]]) -> Vec<u8> {
    roots.join(&0u8)
}

pub(super) fn split_roots(blob: &[u8]) -> Vec<String> {
    blob.split(|b| *b == 0)
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect()
}

impl SqliteStore {
    /// Register run `name` (a producer, before publishing). With `resume`,
    /// an existing run of the same roots is taken up again.
    ///
    /// # Errors
    /// [`RunStartError::Exists`] when the name is taken without `resume`,
    /// [`RunStartError::OtherRoots`] when resuming with other roots.
    pub fn scan_run_start(
        &mut self,
        name: &str,
        roots: &[&[u8]],
        queue: &str,
        resume: bool,
    ) -> Result<RunStart, RunStartError> {
        let blob = join_roots(roots);
        let tx = self.immediate()?;
        let old: Option<Vec<u8>> = tx
            .query_row("SELECT roots FROM scan_runs WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()
            .map_err(StoreError::from)?;
        let start = match old {
            None => {
                let t = now();
                tx.execute(
                    "INSERT INTO scan_runs (name, roots, queue, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?4)",
                    params![name, blob, queue, t],
                )
                .map_err(StoreError::from)?;
                RunStart::Created
            }
            Some(_) if !resume => return Err(RunStartError::Exists(name.to_string())),
            Some(old) if old != blob => {
                return Err(RunStartError::OtherRoots {
                    name: name.to_string(),
                    roots: split_roots(&old).join(", "),
                })
            }
            Some(_) => {
                tx.execute(
                    "UPDATE scan_runs SET walk_done = 0, updated_at = ?2 WHERE name = ?1",
                    params![name, now()],
                )
                .map_err(StoreError::from)?;
                RunStart::Resumed
            }
        };
        tx.commit().map_err(StoreError::from)?;
        Ok(start)
    }

    /// The producer's count of published jobs; `walk_done` once final.
    pub fn scan_run_published(
        &self,
        name: &str,
        published: u64,
        walk_done: bool,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE scan_runs SET published = ?2, walk_done = ?3, updated_at = ?4 WHERE name = ?1",
            params![name, published as i64, walk_done, now()],
        )?;
        Ok(())
    }

    /// Whether the job (input file) `job` of `run` is committed.
    pub fn scan_job_done(&self, run: &str, job: &[u8]) -> Result<bool, StoreError> {
        Ok(self.scan_job_state(run, job)? == JobState::Done)
    }

    /// Whether run `name` exists.
    pub fn scan_run_exists(&self, name: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM scan_runs WHERE name = ?1",
                [name],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// Whether `run` exists and `job` of it is committed, in one query
    /// (a worker asks before every scan).
    pub fn scan_job_state(&self, run: &str, job: &[u8]) -> Result<JobState, StoreError> {
        let (run_there, done): (bool, bool) = self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM scan_runs WHERE name = ?1),
                    EXISTS (SELECT 1 FROM scan_jobs WHERE run = ?1 AND path = ?2)",
            params![run, job],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok(match (run_there, done) {
            (false, _) => JobState::NoRun,
            (true, true) => JobState::Done,
            (true, false) => JobState::Todo,
        })
    }

    /// Several jobs' records stored and the jobs marked done, in one
    /// transaction: all of them or none (see [`Store::scan_jobs_commit`]).
    pub fn scan_jobs_commit(
        &mut self,
        worker: &str,
        jobs: &[JobCommit<'_>],
    ) -> Result<(), StoreError> {
        if jobs.is_empty() {
            return Ok(());
        }
        let t = now();
        let tx = self.immediate()?;
        commit_jobs(&mut SqliteJobWrites { tx: &tx }, worker, jobs, t)?;
        tx.commit()?;
        Ok(())
    }

    /// Every run, newest first.
    pub fn scan_runs(&self) -> Result<Vec<RunInfo>, StoreError> {
        let names: Vec<String> = self
            .conn
            .prepare("SELECT name FROM scan_runs ORDER BY created_at DESC, name")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let mut out = Vec::with_capacity(names.len());
        for n in names {
            if let Some(i) = self.scan_run(&n)? {
                out.push(i);
            }
        }
        Ok(out)
    }

    /// Run `name` and its progress; `None` when there is no such run.
    pub fn scan_run(&self, name: &str) -> Result<Option<RunInfo>, StoreError> {
        run_info(&self.conn, name)
    }

    /// Delete the runs `select` picks (only finished ones unless `force`)
    /// with their jobs, records and workers, in one transaction; with
    /// `dry_run` nothing is deleted. The deleted rows are overwritten
    /// (`secure_delete`): records hold paths and hashes.
    pub fn scan_runs_prune(
        &mut self,
        select: &RunSelect,
        force: bool,
        dry_run: bool,
    ) -> Result<RunsPruned, StoreError> {
        self.conn.pragma_update(None, "secure_delete", true)?;
        let out = self.scan_runs_prune_tx(select, force, dry_run);
        let reset = self.conn.pragma_update(None, "secure_delete", false);
        let out = out?;
        reset?;
        Ok(out)
    }

    fn scan_runs_prune_tx(
        &mut self,
        select: &RunSelect,
        force: bool,
        dry_run: bool,
    ) -> Result<RunsPruned, StoreError> {
        // Immediate: a worker's commit waits for the prune (or comes
        // first, and its records go with the run).
        let tx = self.immediate()?;
        let names: Vec<String> = match select {
            RunSelect::Named(n) => n.clone(),
            RunSelect::UpdatedBefore(t) => tx
                .prepare(
                    "SELECT name FROM scan_runs WHERE updated_at < ?1
                     ORDER BY created_at, name",
                )?
                .query_map([t], |r| r.get(0))?
                .collect::<Result<_, _>>()?,
        };
        let mut out = RunsPruned::default();
        for n in &names {
            let Some(info) = run_info(&tx, n)? else {
                continue;
            };
            if !force && !info.finished() {
                out.kept.push(info);
                continue;
            }
            if !dry_run {
                for table in ["scan_records", "scan_jobs", "scan_workers"] {
                    tx.execute(&format!("DELETE FROM {table} WHERE run = ?1"), [n])?;
                }
                tx.execute("DELETE FROM scan_runs WHERE name = ?1", [n])?;
            }
            out.pruned.push(info);
        }
        tx.commit()?;
        Ok(out)
    }
}

/// Run `name` and its progress, read on `conn` (the store's connection or
/// a transaction on it).
fn run_info(conn: &rusqlite::Connection, name: &str) -> Result<Option<RunInfo>, StoreError> {
    let row = conn
        .query_row(
            "SELECT roots, queue, created_at, updated_at, published, walk_done
             FROM scan_runs WHERE name = ?1",
            [name],
            |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, bool>(5)?,
                ))
            },
        )
        .optional()?;
    let Some((roots, queue, created_at, updated_at, published, walk_done)) = row else {
        return Ok(None);
    };
    let jobs_done: i64 = conn.query_row(
        "SELECT count(*) FROM scan_jobs WHERE run = ?1",
        [name],
        |r| r.get(0),
    )?;
    let (records, matched, errors): (i64, i64, i64) = conn.query_row(
        "SELECT count(*), count(*) FILTER (WHERE matches > 0),
                count(*) FILTER (WHERE error IS NOT NULL)
         FROM scan_records WHERE run = ?1",
        [name],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    Ok(Some(RunInfo {
        name: name.to_string(),
        roots: split_roots(&roots),
        queue,
        created_at,
        updated_at,
        published: published.max(0) as u64,
        walk_done,
        jobs_done: jobs_done.max(0) as u64,
        records: records.max(0) as u64,
        records_matched: matched.max(0) as u64,
        errors: errors.max(0) as u64,
    }))
}

impl SqliteStore {
    /// The workers that committed jobs of `run`, by name.
    pub fn scan_run_workers(&self, run: &str) -> Result<Vec<WorkerSeen>, StoreError> {
        let mut st = self.conn.prepare(
            "SELECT worker, first_seen, last_seen, jobs FROM scan_workers
             WHERE run = ?1 ORDER BY worker",
        )?;
        let rows = st.query_map([run], |r| {
            Ok(WorkerSeen {
                worker: r.get(0)?,
                first_seen: r.get(1)?,
                last_seen: r.get(2)?,
                jobs: r.get::<_, i64>(3)?.max(0) as u64,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Hand every record line of `run` to `each`, ordered by path bytes;
    /// `each` returns false to stop early.
    pub fn scan_run_records(
        &self,
        run: &str,
        each: &mut dyn FnMut(&str) -> bool,
    ) -> Result<(), StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT record FROM scan_records WHERE run = ?1 ORDER BY path")?;
        let mut rows = st.query([run])?;
        while let Some(r) = rows.next()? {
            let line: String = r.get(0)?;
            if !each(&line) {
                break;
            }
        }
        Ok(())
    }
}

/// The backend dispatch (see the module docs of `store`): SQLite's here,
/// PostgreSQL's in `pg/runs.rs`.
impl Store {
    /// See [`SqliteStore::scan_run_start`].
    ///
    /// # Errors
    /// [`RunStartError::Exists`] when the name is taken without `resume`,
    /// [`RunStartError::OtherRoots`] when resuming with other roots.
    pub fn scan_run_start(
        &mut self,
        name: &str,
        roots: &[&[u8]],
        queue: &str,
        resume: bool,
    ) -> Result<RunStart, RunStartError> {
        match &mut self.inner {
            Inner::Sqlite(s) => s.scan_run_start(name, roots, queue, resume),
            Inner::Postgres(s) => s.scan_run_start(name, roots, queue, resume),
        }
    }

    /// The producer's count of published jobs; `walk_done` once final.
    pub fn scan_run_published(
        &self,
        name: &str,
        published: u64,
        walk_done: bool,
    ) -> Result<(), StoreError> {
        match &self.inner {
            Inner::Sqlite(s) => s.scan_run_published(name, published, walk_done),
            Inner::Postgres(s) => s.scan_run_published(name, published, walk_done),
        }
    }

    /// Whether the job (input file) `job` of `run` is committed.
    pub fn scan_job_done(&self, run: &str, job: &[u8]) -> Result<bool, StoreError> {
        match &self.inner {
            Inner::Sqlite(s) => s.scan_job_done(run, job),
            Inner::Postgres(s) => s.scan_job_done(run, job),
        }
    }

    /// Whether run `name` exists.
    pub fn scan_run_exists(&self, name: &str) -> Result<bool, StoreError> {
        match &self.inner {
            Inner::Sqlite(s) => s.scan_run_exists(name),
            Inner::Postgres(s) => s.scan_run_exists(name),
        }
    }

    /// Whether `run` exists and its job `job` is committed, in one query.
    pub fn scan_job_state(&self, run: &str, job: &[u8]) -> Result<JobState, StoreError> {
        match &self.inner {
            Inner::Sqlite(s) => s.scan_job_state(run, job),
            Inner::Postgres(s) => s.scan_job_state(run, job),
        }
    }

    /// Store the records of several jobs and mark them done, in one
    /// transaction (a worker's batch): all of them or none. A job listed
    /// twice ends as its last listing; records a job wrote on an earlier
    /// delivery are replaced (an archive read again may yield other
    /// members).
    ///
    /// # Errors
    /// [`StoreError::Invalid`] when a job's run does not exist (nothing
    /// is written then).
    pub fn scan_jobs_commit(
        &mut self,
        worker: &str,
        jobs: &[JobCommit<'_>],
    ) -> Result<(), StoreError> {
        match &mut self.inner {
            Inner::Sqlite(s) => s.scan_jobs_commit(worker, jobs),
            Inner::Postgres(s) => s.scan_jobs_commit(worker, jobs),
        }
    }

    /// [`Store::scan_jobs_commit`] of one job.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] when the run does not exist.
    pub fn scan_job_commit(
        &mut self,
        run: &str,
        job: &[u8],
        worker: &str,
        deliveries: u64,
        records: &[RunRecord],
    ) -> Result<(), StoreError> {
        let one = JobCommit {
            run,
            job,
            deliveries,
            records,
        };
        self.scan_jobs_commit(worker, &[one])
    }

    /// Every run, newest first.
    pub fn scan_runs(&self) -> Result<Vec<RunInfo>, StoreError> {
        match &self.inner {
            Inner::Sqlite(s) => s.scan_runs(),
            Inner::Postgres(s) => s.scan_runs(),
        }
    }

    /// Run `name` and its progress; `None` when there is no such run.
    pub fn scan_run(&self, name: &str) -> Result<Option<RunInfo>, StoreError> {
        match &self.inner {
            Inner::Sqlite(s) => s.scan_run(name),
            Inner::Postgres(s) => s.scan_run(name),
        }
    }

    /// Delete the runs `select` picks with their jobs, records and
    /// workers, in one transaction: only finished runs unless `force`
    /// (the others are returned as kept); nothing with `dry_run`.
    pub fn scan_runs_prune(
        &mut self,
        select: &RunSelect,
        force: bool,
        dry_run: bool,
    ) -> Result<RunsPruned, StoreError> {
        match &mut self.inner {
            Inner::Sqlite(s) => s.scan_runs_prune(select, force, dry_run),
            Inner::Postgres(s) => s.scan_runs_prune(select, force, dry_run),
        }
    }

    /// The workers that committed jobs of `run`, by name.
    pub fn scan_run_workers(&self, run: &str) -> Result<Vec<WorkerSeen>, StoreError> {
        match &self.inner {
            Inner::Sqlite(s) => s.scan_run_workers(run),
            Inner::Postgres(s) => s.scan_run_workers(run),
        }
    }

    /// Every record line of `run`, ordered by path bytes; `each` returns
    /// false to stop early.
    pub fn scan_run_records(
        &self,
        run: &str,
        each: &mut dyn FnMut(&str) -> bool,
    ) -> Result<(), StoreError> {
        match &self.inner {
            Inner::Sqlite(s) => s.scan_run_records(run, each),
            Inner::Postgres(s) => s.scan_run_records(run, each),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(path: &str, matches: u64, error: Option<&str>) -> RunRecord {
        RunRecord {
            path: path.as_bytes().to_vec(),
            matches,
            error: error.map(str::to_string),
            line: format!("{{\"path\":\"{path}\"}}"),
        }
    }

    crate::store::backend_tests::both! {
    fn runs_redelivered_job_replaces_its_records(db) {
        let mut s = db.open();
        assert_eq!(
            s.scan_run_start("r", &[b"/a"], "nats://x", false).unwrap(),
            RunStart::Created
        );
        let job = b"/a/z.zip";
        let first = [rec("/a/z.zip!/1", 1, None), rec("/a/z.zip!/2", 0, None)];
        s.scan_job_commit("r", job, "w1", 1, &first).unwrap();
        // Second delivery (the first worker died before its ack): the
        // archive now yields one member and an error.
        let second = [rec("/a/z.zip!/1", 0, Some("decode"))];
        s.scan_job_commit("r", job, "w2", 2, &second).unwrap();
        let info = s.scan_run("r").unwrap().unwrap();
        assert_eq!(
            (
                info.jobs_done,
                info.records,
                info.errors,
                info.records_matched
            ),
            (1, 1, 1, 0)
        );
        let mut lines = Vec::new();
        s.scan_run_records("r", &mut |l| {
            lines.push(l.to_string());
            true
        })
        .unwrap();
        assert_eq!(lines, vec!["{\"path\":\"/a/z.zip!/1\"}".to_string()]);
        let workers = s.scan_run_workers("r").unwrap();
        assert_eq!(
            workers
                .iter()
                .map(|w| w.worker.as_str())
                .collect::<Vec<_>>(),
            ["w1", "w2"]
        );
        assert!(s.scan_job_done("r", job).unwrap());
        assert!(!s.scan_job_done("r", b"/a/other").unwrap());
    }
    }

    crate::store::backend_tests::both! {
    /// A worker's batch: jobs of two runs in one transaction, counted per
    /// run and worker; a job listed twice ends as its last listing; a
    /// batch holding a job of a missing run writes nothing at all.
    fn runs_batch_commit_is_all_or_nothing(db) {
        let mut s = db.open();
        s.scan_run_start("a", &[b"/a"], "q", false).unwrap();
        s.scan_run_start("b", &[b"/b"], "q", false).unwrap();
        assert_eq!(s.scan_job_state("a", b"/a/1").unwrap(), JobState::Todo);
        assert_eq!(s.scan_job_state("zz", b"/a/1").unwrap(), JobState::NoRun);
        let (r1, r2, r3) = (
            [rec("/a/1", 1, None)],
            [rec("/a/2", 0, Some("io"))],
            [rec("/b/1", 0, None)],
        );
        let again = [rec("/a/1", 0, None)];
        let job = |run, job, records| JobCommit {
            run,
            job,
            deliveries: 1,
            records,
        };
        s.scan_jobs_commit(
            "w",
            &[
                job("a", b"/a/1", &r1),
                job("a", b"/a/2", &r2),
                job("b", b"/b/1", &r3),
                job("a", b"/a/1", &again),
            ],
        )
        .unwrap();
        let a = s.scan_run("a").unwrap().unwrap();
        assert_eq!((a.jobs_done, a.records, a.errors, a.records_matched), (2, 2, 1, 0));
        assert_eq!(s.scan_run("b").unwrap().unwrap().records, 1);
        assert_eq!(s.scan_job_state("a", b"/a/2").unwrap(), JobState::Done);
        // Four listings of run a's and b's jobs by one worker.
        assert_eq!(s.scan_run_workers("a").unwrap()[0].jobs, 3);
        assert_eq!(s.scan_run_workers("b").unwrap()[0].jobs, 1);

        let r4 = [rec("/b/2", 0, None)];
        assert!(s
            .scan_jobs_commit("w", &[job("b", b"/b/2", &r4), job("gone", b"/g/1", &r4)])
            .is_err());
        assert_eq!(s.scan_job_state("b", b"/b/2").unwrap(), JobState::Todo);
        assert_eq!(s.scan_run("b").unwrap().unwrap().records, 1);
        assert_eq!(s.scan_run_workers("b").unwrap()[0].jobs, 1);
    }
    }

    crate::store::backend_tests::both! {
    /// Pruning deletes a run's records, jobs and workers with it, keeps
    /// unfinished runs unless forced, selects by name or last write, and
    /// a dry run deletes nothing.
    fn runs_prune_deletes_finished_runs_whole(db) {
        let mut s = db.open();
        // "done": published 2, both committed; "busy": 1 of 2 committed;
        // "walking": the producer has not finished its walk.
        for (run, published, walk_done, jobs) in
            [("done", 2, true, 2), ("busy", 2, true, 1), ("walking", 1, false, 1)]
        {
            s.scan_run_start(run, &[b"/m"], "nats://x", false).unwrap();
            s.scan_run_published(run, published, walk_done).unwrap();
            for j in 0..jobs {
                let path = format!("/m/{run}{j}");
                s.scan_job_commit(run, path.as_bytes(), "w", 1, &[rec(&path, 1, None)])
                    .unwrap();
            }
        }
        let names = |p: &RunsPruned| {
            (
                p.pruned.iter().map(|r| r.name.clone()).collect::<Vec<_>>(),
                p.kept.iter().map(|r| r.name.clone()).collect::<Vec<_>>(),
            )
        };
        let all = RunSelect::Named(vec!["done".into(), "busy".into(), "walking".into()]);
        let dry = s.scan_runs_prune(&all, false, true).unwrap();
        assert_eq!(names(&dry), (vec!["done".to_string()], vec!["busy".to_string(), "walking".to_string()]));
        assert_eq!(dry.pruned[0].records, 2);
        assert!(s.scan_run("done").unwrap().is_some(), "a dry run deletes nothing");

        // Nothing was written before a time in the past.
        let past = s.scan_run("done").unwrap().unwrap().created_at - 10;
        let none = s.scan_runs_prune(&RunSelect::UpdatedBefore(past), false, false).unwrap();
        assert!(none.pruned.is_empty() && none.kept.is_empty());

        let later = RunSelect::UpdatedBefore(now() + 10);
        let gone = s.scan_runs_prune(&later, false, false).unwrap();
        assert_eq!(names(&gone), (vec!["done".to_string()], vec!["busy".to_string(), "walking".to_string()]));
        assert!(s.scan_run("done").unwrap().is_none());
        assert!(s.scan_run_workers("done").unwrap().is_empty());
        assert!(!s.scan_job_done("done", b"/m/done0").unwrap());
        let mut left = 0;
        s.scan_run_records("done", &mut |_| {
            left += 1;
            true
        })
        .unwrap();
        assert_eq!(left, 0, "records go with their run");
        // The others are untouched.
        assert_eq!(s.scan_run("busy").unwrap().unwrap().records, 1);

        let forced = s
            .scan_runs_prune(&RunSelect::Named(vec!["busy".into()]), true, false)
            .unwrap();
        assert_eq!(names(&forced), (vec!["busy".to_string()], vec![]));
        let runs: Vec<String> = s.scan_runs().unwrap().into_iter().map(|r| r.name).collect();
        assert_eq!(runs, ["walking"]);
        // A pruned name is free again.
        assert_eq!(
            s.scan_run_start("done", &[b"/n"], "q", false).unwrap(),
            RunStart::Created
        );
    }
    }

    crate::store::backend_tests::both! {
    fn runs_name_reuse_is_refused_unless_resumed_with_same_roots(db) {
        let mut s = db.open();
        s.scan_run_start("r", &[b"/a", b"/b"], "q", false).unwrap();
        assert!(matches!(
            s.scan_run_start("r", &[b"/a", b"/b"], "q", false),
            Err(RunStartError::Exists(_))
        ));
        assert!(matches!(
            s.scan_run_start("r", &[b"/a"], "q", true),
            Err(RunStartError::OtherRoots { .. })
        ));
        assert_eq!(
            s.scan_run_start("r", &[b"/a", b"/b"], "q", true).unwrap(),
            RunStart::Resumed
        );
        assert!(s.scan_job_commit("nope", b"/x", "w", 1, &[]).is_err());
    }
    }
}
