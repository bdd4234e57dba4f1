//! `runs list|show|report` for queued runs (`scan --queue`): read from the
//! run tables of the database, so from any machine that reaches it.

use anyhow::Context;
use hashdb::store::{OpenOptions, Store};
use hashsieve::escape::escape;
use hashsieve::scan::report::{Format, ReportWriter};
use hashsieve::scan::summary::Summary;
use hashsieve::scan::Line;
use std::io::Write;
use std::path::Path;

/// `runs report --format`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default)]
pub enum ReportFormat {
    #[default]
    Jsonl,
    Csv,
}

pub fn open(db: &Path) -> anyhow::Result<Store> {
    Store::open_with(db, OpenOptions::default().existing())
        .with_context(|| format!("opening the database {}", db.display()))
}

/// The queued runs of the database, one JSON line each (`kind: queue`).
pub fn list(db: &Path) -> anyhow::Result<()> {
    let store = open(db)?;
    for r in store.scan_runs()? {
        println!("{}", line(&r)?);
    }
    Ok(())
}

/// A queued run as `runs list` (and `runs prune`) print it.
pub fn line(r: &hashdb::store::runs::RunInfo) -> anyhow::Result<serde_json::Value> {
    let mut v = serde_json::to_value(r)?;
    if let Some(o) = v.as_object_mut() {
        o.insert("kind".into(), "queue".into());
        o.insert("done".into(), finished(r).into());
    }
    Ok(v)
}

/// Remove a pruned run's jobs still waiting at the NATS server `url`.
#[cfg(feature = "queue")]
pub fn purge(url: &str, run: &str) -> anyhow::Result<u64> {
    Ok(hashsieve::queue::purge_run_jobs(url, run)?)
}

/// Without the queue feature there is no NATS client to remove them with.
#[cfg(not(feature = "queue"))]
pub fn purge(_url: &str, _run: &str) -> anyhow::Result<u64> {
    anyhow::bail!("this hashsieve was built without the queue feature")
}

/// A run is finished once its producer is done and every job committed.
fn finished(r: &hashdb::store::runs::RunInfo) -> bool {
    r.finished()
}

/// Every record line of `run`, parsed as the scan report takes them.
fn each_line(
    store: &Store,
    run: &str,
    f: &mut dyn FnMut(Line) -> std::io::Result<()>,
) -> anyhow::Result<()> {
    let mut failed = None;
    store.scan_run_records(run, &mut |text| {
        let value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                failed = Some(anyhow::anyhow!("a stored record does not parse: {e}"));
                return false;
            }
        };
        match f(Line {
            text: text.to_string(),
            value,
        }) {
            Ok(()) => true,
            Err(e) => {
                failed = Some(e.into());
                false
            }
        }
    })?;
    failed.map_or(Ok(()), Err)
}

fn must_exist(store: &Store, run: &str) -> anyhow::Result<hashdb::store::runs::RunInfo> {
    store
        .scan_run(run)?
        .with_context(|| format!("no queued run named {} in this database", escape(run)))
}

/// `runs show RUN`: progress, counts, matches, errors, workers seen (one
/// JSON object on stdout, a line for people on stderr).
pub fn show(db: &Path, run: &str) -> anyhow::Result<()> {
    let store = open(db)?;
    let info = must_exist(&store, run)?;
    let workers = store.scan_run_workers(run)?;
    let mut summary = Summary {
        run: Some(run.to_string()),
        matching: true,
        ..Summary::default()
    };
    each_line(&store, run, &mut |l| {
        summary.add_record(&l.value);
        Ok(())
    })?;
    let done = finished(&info);
    let out = serde_json::json!({
        "run": info,
        "done": done,
        "workers": workers,
        "records": summary.records,
        "images": summary.images,
        "videos": summary.videos,
        "archives": summary.archives,
        "members": summary.members,
        "records_matched": summary.records_matched,
        "matches": summary.matches,
        "suppressed": summary.suppressed,
        "matches_by_list": summary.matches_by_list,
        "errors": summary.errors,
        "errors_by_kind": summary.errors_by_kind,
    });
    println!("{out}");
    eprintln!(
        "run {}: {}/{} files done{}, {} records, {} matched, {} errors, {} workers seen",
        escape(run),
        info.jobs_done,
        info.published,
        if done {
            " (finished)"
        } else if info.walk_done {
            ""
        } else {
            " (still publishing)"
        },
        summary.records,
        summary.records_matched,
        summary.errors,
        workers.len()
    );
    Ok(())
}

/// `runs report RUN`: the run's records as `scan` writes them, ordered by
/// path.
pub fn report(db: &Path, run: &str, format: ReportFormat) -> anyhow::Result<()> {
    let store = open(db)?;
    let info = must_exist(&store, run)?;
    let fmt = match format {
        ReportFormat::Jsonl => Format::Jsonl,
        ReportFormat::Csv => Format::Csv,
    };
    let out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let mut w = ReportWriter::new(fmt, false, out);
    match each_line(&store, run, &mut |l| w.write(&l)) {
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            return Ok(())
        }
        r => r?,
    }
    w.flush().context("writing the report")?;
    if !finished(&info) {
        eprintln!(
            "hashsieve: run {} is not finished ({}/{} files done): the report is partial",
            escape(run),
            info.jobs_done,
            info.published
        );
    }
    std::io::stderr().flush().ok();
    Ok(())
}
