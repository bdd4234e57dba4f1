//! Distributed scan runs on PostgreSQL: the contract of `store/runs.rs`
//! (schema version 2 here). Not announced to the listening servers (a
//! scan's records are not list data) and not behind the list writers'
//! lock: workers on many machines commit jobs at once, a worker's batch
//! of jobs one transaction, each job keyed by (run, path), so a
//! redelivered job replaces its records.

use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;
use postgres::GenericClient;

use super::PgStore;
use crate::error::StoreError;
use crate::store::now;
use crate::store::runs::{
    commit_jobs, join_roots, split_roots, JobCommit, JobState, JobWrites, RunInfo, RunRecord,
    RunSelect, RunStart, RunStartError, RunsPruned, WorkerSeen,
};

/// `JobWrites` on PostgreSQL: statements prepared once per batch.
struct PgJobWrites<'a, 'b> {
    tx: &'a mut postgres::Transaction<'b>,
    del: postgres::Statement,
    ins: postgres::Statement,
    done: postgres::Statement,
}

impl<'a, 'b> PgJobWrites<'a, 'b> {
    fn prepare(tx: &'a mut postgres::Transaction<'b>) -> Result<Self, StoreError> {
        let del = tx.prepare("DELETE FROM scan_records WHERE run = $1 AND job = $2")?;
        let ins = tx.prepare(
            "INSERT INTO scan_records (run, path, job, matches, error, record)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (run, path) DO UPDATE SET job = EXCLUDED.job,
                 matches = EXCLUDED.matches, error = EXCLUDED.error, record = EXCLUDED.record",
        )?;
        let done = tx.prepare(
            "INSERT INTO scan_jobs (run, path, worker, deliveries, done_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (run, path) DO UPDATE SET worker = EXCLUDED.worker,
                 deliveries = EXCLUDED.deliveries, done_at = EXCLUDED.done_at",
        )?;
        Ok(PgJobWrites { tx, del, ins, done })
    }
}

impl JobWrites for PgJobWrites<'_, '_> {
    fn run_exists(&mut self, run: &str) -> Result<bool, StoreError> {
        Ok(self
            .tx
            .query_opt("SELECT 1 FROM scan_runs WHERE name = $1", &[&run])?
            .is_some())
    }

    fn clear_job(&mut self, run: &str, job: &[u8]) -> Result<(), StoreError> {
        self.tx.execute(&self.del, &[&run, &job])?;
        Ok(())
    }

    fn put_record(&mut self, run: &str, job: &[u8], r: &RunRecord) -> Result<(), StoreError> {
        self.tx.execute(
            &self.ins,
            &[&run, &r.path, &job, &(r.matches as i64), &r.error, &r.line],
        )?;
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
            .execute(&self.done, &[&run, &job, &worker, &deliveries, &t])?;
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
             VALUES ($1, $2, $3, $3, $4)
             ON CONFLICT (run, worker) DO UPDATE SET last_seen = EXCLUDED.last_seen,
                 jobs = scan_workers.jobs + EXCLUDED.jobs",
            &[&run, &worker, &t, &jobs],
        )?;
        self.tx.execute(
            "UPDATE scan_runs SET updated_at = $2 WHERE name = $1",
            &[&run, &t],
        )?;
        Ok(())
    }
}

fn count(v: i64) -> u64 {
    v.max(0) as u64
}

impl PgStore {
    pub fn scan_run_start(
        &mut self,
        name: &str,
        roots: &[&[u8]],
        queue: &str,
        resume: bool,
    ) -> Result<RunStart, RunStartError> {
        let blob = join_roots(roots);
        let mut c = self.client()?;
        // Two producers starting one name at once: one creates it.
        let mut tx = Self::write_tx(&mut c)?;
        let old: Option<Vec<u8>> = tx
            .query_opt("SELECT roots FROM scan_runs WHERE name = $1", &[&name])
            .map_err(StoreError::from)?
            .map(|r| r.try_get(0))
            .transpose()
            .map_err(StoreError::from)?;
        let start = match old {
            None => {
                let t = now();
                tx.execute(
                    "INSERT INTO scan_runs (name, roots, queue, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $4)",
                    &[&name, &blob, &queue, &t],
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
                    "UPDATE scan_runs SET walk_done = FALSE, updated_at = $2 WHERE name = $1",
                    &[&name, &now()],
                )
                .map_err(StoreError::from)?;
                RunStart::Resumed
            }
        };
        tx.commit().map_err(StoreError::from)?;
        Ok(start)
    }

    pub fn scan_run_published(
        &self,
        name: &str,
        published: u64,
        walk_done: bool,
    ) -> Result<(), StoreError> {
        self.client()?.execute(
            "UPDATE scan_runs SET published = $2, walk_done = $3, updated_at = $4 WHERE name = $1",
            &[&name, &(published as i64), &walk_done, &now()],
        )?;
        Ok(())
    }

    pub fn scan_job_done(&self, run: &str, job: &[u8]) -> Result<bool, StoreError> {
        Ok(self.scan_job_state(run, job)? == JobState::Done)
    }

    pub fn scan_run_exists(&self, name: &str) -> Result<bool, StoreError> {
        Ok(self
            .client()?
            .query_opt("SELECT 1 FROM scan_runs WHERE name = $1", &[&name])?
            .is_some())
    }

    pub fn scan_job_state(&self, run: &str, job: &[u8]) -> Result<JobState, StoreError> {
        let r = self.client()?.query_one(
            "SELECT EXISTS (SELECT 1 FROM scan_runs WHERE name = $1),
                    EXISTS (SELECT 1 FROM scan_jobs WHERE run = $1 AND path = $2)",
            &[&run, &job],
        )?;
        Ok(match (r.try_get(0)?, r.try_get(1)?) {
            (false, _) => JobState::NoRun,
            (true, true) => JobState::Done,
            (true, false) => JobState::Todo,
        })
    }

    /// See `Store::scan_jobs_commit`: several jobs, one transaction, all
    /// or none.
    pub fn scan_jobs_commit(
        &mut self,
        worker: &str,
        jobs: &[JobCommit<'_>],
    ) -> Result<(), StoreError> {
        if jobs.is_empty() {
            return Ok(());
        }
        let t = now();
        let mut c = self.client()?;
        let mut tx = c.transaction()?;
        let mut w = PgJobWrites::prepare(&mut tx)?;
        commit_jobs(&mut w, worker, jobs, t)?;
        tx.commit()?;
        Ok(())
    }

    pub fn scan_runs(&self) -> Result<Vec<RunInfo>, StoreError> {
        let names: Vec<String> = self
            .client()?
            .query(
                "SELECT name FROM scan_runs ORDER BY created_at DESC, name COLLATE \"C\"",
                &[],
            )?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?;
        let mut out = Vec::with_capacity(names.len());
        for n in names {
            if let Some(i) = self.scan_run(&n)? {
                out.push(i);
            }
        }
        Ok(out)
    }

    pub fn scan_run(&self, name: &str) -> Result<Option<RunInfo>, StoreError> {
        run_info(&mut *self.client()?, name)
    }

    /// See `Store::scan_runs_prune`. Not behind the list writers' lock
    /// (no list data changes); the runs' rows are locked `FOR UPDATE`, so
    /// a worker committing a job of one waits (its records reference the
    /// run) and then fails on the deleted run, and its job is dropped.
    pub fn scan_runs_prune(
        &mut self,
        select: &RunSelect,
        force: bool,
        dry_run: bool,
    ) -> Result<RunsPruned, StoreError> {
        let mut c = self.client()?;
        let mut tx = c.transaction()?;
        let rows = match select {
            RunSelect::Named(n) => tx.query(
                "SELECT name FROM scan_runs WHERE name = ANY($1)
                 ORDER BY created_at, name COLLATE \"C\" FOR UPDATE",
                &[n],
            )?,
            RunSelect::UpdatedBefore(t) => tx.query(
                "SELECT name FROM scan_runs WHERE updated_at < $1
                 ORDER BY created_at, name COLLATE \"C\" FOR UPDATE",
                &[t],
            )?,
        };
        let names: Vec<String> = rows
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?;
        let mut out = RunsPruned::default();
        for n in &names {
            let Some(info) = run_info(&mut tx, n)? else {
                continue;
            };
            if !force && !info.finished() {
                out.kept.push(info);
                continue;
            }
            if !dry_run {
                for table in ["scan_records", "scan_jobs", "scan_workers"] {
                    tx.execute(&format!("DELETE FROM {table} WHERE run = $1"), &[n])?;
                }
                tx.execute("DELETE FROM scan_runs WHERE name = $1", &[n])?;
            }
            out.pruned.push(info);
        }
        tx.commit()?;
        Ok(out)
    }

    pub fn scan_run_workers(&self, run: &str) -> Result<Vec<WorkerSeen>, StoreError> {
        self.client()?
            .query(
                "SELECT worker, first_seen, last_seen, jobs FROM scan_workers
                 WHERE run = $1 ORDER BY worker COLLATE \"C\"",
                &[&run],
            )?
            .iter()
            .map(|r| {
                Ok(WorkerSeen {
                    worker: r.try_get(0)?,
                    first_seen: r.try_get(1)?,
                    last_seen: r.try_get(2)?,
                    jobs: count(r.try_get(3)?),
                })
            })
            .collect()
    }

    pub fn scan_run_records(
        &self,
        run: &str,
        each: &mut dyn FnMut(&str) -> bool,
    ) -> Result<(), StoreError> {
        let mut c = self.client()?;
        let params: [&(dyn ToSql + Sync); 1] = [&run];
        let mut rows = c.query_raw(
            "SELECT record FROM scan_records WHERE run = $1 ORDER BY path",
            params.iter().copied(),
        )?;
        while let Some(r) = rows.next()? {
            if !each(r.try_get(0)?) {
                break;
            }
        }
        Ok(())
    }
}

/// Run `name` and its progress, read on `c` (a connection or a
/// transaction).
fn run_info(c: &mut impl GenericClient, name: &str) -> Result<Option<RunInfo>, StoreError> {
    let Some(row) = c.query_opt(
        "SELECT roots, queue, created_at, updated_at, published, walk_done
         FROM scan_runs WHERE name = $1",
        &[&name],
    )?
    else {
        return Ok(None);
    };
    let jobs_done: i64 = c
        .query_one("SELECT count(*) FROM scan_jobs WHERE run = $1", &[&name])?
        .try_get(0)?;
    let n = c.query_one(
        "SELECT count(*), count(*) FILTER (WHERE matches > 0),
                count(*) FILTER (WHERE error IS NOT NULL)
         FROM scan_records WHERE run = $1",
        &[&name],
    )?;
    Ok(Some(RunInfo {
        name: name.to_string(),
        roots: split_roots(row.try_get(0)?),
        queue: row.try_get(1)?,
        created_at: row.try_get(2)?,
        updated_at: row.try_get(3)?,
        published: count(row.try_get(4)?),
        walk_done: row.try_get(5)?,
        jobs_done: count(jobs_done),
        records: count(n.try_get(0)?),
        records_matched: count(n.try_get(1)?),
        errors: count(n.try_get(2)?),
    }))
}
