//! `hashsieve runs`: the resume state of `scan` runs (list, prune), and
//! which of `scan`'s flags a run records (see `hashsieve::scan::resume`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::ArgMatches;
use hashsieve::escape::{escape, escape_display};
use hashsieve::scan::resume::{default_state_path, list_runs, prune_with, Prune, Pruned};

mod queued;

/// `scan` flags that change only how records are shown, where they go or
/// how fast they come, never what they say: not recorded with a run (a
/// run may be resumed with other values). Every other flag is recorded,
/// so a flag added later counts as changing records until listed here.
const PRESENTATION: &[&str] = &[
    "paths",
    "db",
    "state",
    "no_state",
    "resume",
    "format",
    "matches_only",
    "summary_json",
    "threads",
    "no_progress",
    "allow_empty",
];

/// The flags of the `scan` command `cmd` that change records, as parsed
/// in `matches` (given or defaulted), by their long name (`--views`).
pub fn result_flags(cmd: &clap::Command, matches: &ArgMatches) -> BTreeMap<String, String> {
    cmd.get_arguments()
        .filter(|a| !PRESENTATION.contains(&a.get_id().as_str()))
        .filter_map(|a| {
            let id = a.get_id().as_str();
            let values = matches.try_get_raw(id).ok().flatten()?;
            let value = values
                .map(|v| v.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(",");
            let name = a
                .get_long()
                .map_or_else(|| id.to_string(), |l| format!("--{l}"));
            Some((name, value))
        })
        .collect()
}

/// The match fingerprint of the database at `db` (`None` without one), as
/// a run records it.
pub fn lists_fingerprint(db: Option<&std::path::Path>) -> anyhow::Result<Option<String>> {
    let Some(p) = db else {
        return Ok(None);
    };
    let existing = hashdb::store::OpenOptions::default().existing();
    let store = hashdb::store::Store::open_with(p, existing)
        .with_context(|| format!("opening the hash database {}", p.display()))?;
    Ok(Some(store.match_fingerprint()?))
}

/// List and prune the resume state of `scan` runs.
///
/// A run's state holds the path, hashes and matches of every file it
/// scanned, until pruned.
#[derive(clap::Args, Debug)]
pub struct RunsArgs {
    /// Resume state file (default: as `scan`: the database path plus
    /// ".runs", or ./hashsieve-scan.runs without a database).
    #[arg(long, global = true, value_name = "FILE")]
    pub state: Option<PathBuf>,

    /// The hash database whose runs these are (default: $HASHSIEVE_DB,
    /// else ./hashsieve.db when it exists).
    #[arg(long, global = true, value_name = "FILE")]
    pub db: Option<PathBuf>,

    #[command(subcommand)]
    pub command: RunsCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum RunsCommand {
    /// Show the runs (JSON Lines: run, state, started_at, updated_at,
    /// finished_at, files), then the queued runs (`scan --queue`) of the
    /// database (`"kind": "queue"`: name, roots, published, jobs_done,
    /// records, errors, done, ...).
    List,
    /// A queued run's progress, counts, matches, errors and the workers
    /// seen (one JSON object on stdout; a line for people on stderr).
    Show {
        #[arg(value_name = "RUN")]
        run: String,
    },
    /// A queued run's records, as `scan` reports them (ordered by path).
    Report {
        #[arg(value_name = "RUN")]
        run: String,
        #[arg(long, value_enum, default_value = "jsonl")]
        format: queued::ReportFormat,
    },
    /// Delete runs and everything they stored (paths, hashes, matches):
    /// the resume state's runs and the database's queued runs (their
    /// records, jobs done and workers seen, in one transaction). Only
    /// finished runs unless --force. Prints the deleted runs (JSON Lines,
    /// as `list`).
    Prune(PruneArgs),
}

#[derive(clap::Args, Debug)]
pub struct PruneArgs {
    /// Delete the runs last written longer ago than AGE: a number and a
    /// unit, `30d`, `12h`, `2w`, `90s` (a bare number is days).
    #[arg(
        long,
        value_name = "AGE",
        value_parser = parse_age,
        conflicts_with = "runs",
        required_unless_present = "runs"
    )]
    pub older_than: Option<Duration>,

    /// Delete these runs (each must exist, as a resume state's run or a
    /// queued run of the database).
    #[arg(value_name = "RUN")]
    pub runs: Vec<String>,

    /// Also delete runs that are not finished: a queued run whose
    /// producer is still publishing or whose jobs are not all done (its
    /// jobs left in the queue are removed too), a `scan` run in state
    /// `running` (under way, or killed). Workers drop the jobs of a
    /// deleted run.
    #[arg(long)]
    pub force: bool,

    /// Print the runs that would be deleted; delete nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// The NATS server to remove an unfinished queued run's jobs from
    /// (default: the one its producer published to, as `runs list`
    /// shows).
    #[arg(long, value_name = "URL")]
    pub queue: Option<String>,
}

/// `--older-than`: `30d`, `12h`, `2w`, `90s`, or a bare number of days.
fn parse_age(s: &str) -> Result<Duration, String> {
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "d"),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not an age: a number and a unit (30d, 12h, 2w, 90s)"))?;
    let unit_secs = match unit {
        "s" => 1,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(format!("unknown unit {unit:?} in {s:?}: s, h, d or w")),
    };
    Ok(Duration::from_secs(n.saturating_mul(unit_secs)))
}

impl RunsArgs {
    /// The database, found as `scan` finds it.
    fn db_path(&self) -> Option<PathBuf> {
        self.db
            .clone()
            .or_else(|| {
                std::env::var_os("HASHSIEVE_DB")
                    .filter(|p| !p.is_empty())
                    .map(PathBuf::from)
            })
            .or_else(|| Some(PathBuf::from("hashsieve.db")).filter(|p| p.exists()))
    }

    /// The state file, found as `scan` finds it.
    fn state_path(&self) -> PathBuf {
        if let Some(p) = &self.state {
            return p.clone();
        }
        default_state_path(self.db_path().as_deref())
    }

    /// The database of queued runs: it must exist.
    fn queue_db(&self) -> anyhow::Result<PathBuf> {
        let p = self
            .db_path()
            .context("queued runs are in the database: give --db FILE or $HASHSIEVE_DB")?;
        anyhow::ensure!(
            hashdb::store::DbTarget::parse(&p).is_postgres() || p.exists(),
            "no database at {}",
            p.display()
        );
        Ok(p)
    }
}

pub fn run(args: RunsArgs) -> anyhow::Result<u8> {
    let path = args.state_path();
    match &args.command {
        RunsCommand::List => {
            let db = args
                .db_path()
                .filter(|p| hashdb::store::DbTarget::parse(p).is_postgres() || p.exists());
            // A database of queued runs only has no resume state: fine
            // when the database has something to list instead.
            match list_runs(&path) {
                Ok(runs) => {
                    for r in runs {
                        println!("{}", serde_json::to_string(&r)?);
                    }
                }
                Err(e) if db.is_none() || path.exists() => return Err(e.into()),
                Err(_) => {}
            }
            if let Some(db) = &db {
                queued::list(db)?;
            }
        }
        RunsCommand::Show { run } => queued::show(&args.queue_db()?, run)?,
        RunsCommand::Report { run, format } => queued::report(&args.queue_db()?, run, *format)?,
        RunsCommand::Prune(p) => return prune_runs(&args, p, &path),
    }
    Ok(0)
}

/// `runs prune`: the resume state's runs and the database's queued runs.
/// Names are checked against both before anything is deleted: an
/// unknown name, or an unfinished run named without --force, deletes
/// nothing (exit 2).
fn prune_runs(args: &RunsArgs, p: &PruneArgs, state: &std::path::Path) -> anyhow::Result<u8> {
    let shown = escape_display(state.display());
    let db = args
        .db_path()
        .filter(|d| hashdb::store::DbTarget::parse(d).is_postgres() || d.exists());
    let has_state = state.exists();
    anyhow::ensure!(
        has_state || db.is_some(),
        "no runs to prune: no resume state at {shown} and no database"
    );
    let mut store = db.as_deref().map(queued::open).transpose()?;
    let local_runs = if has_state {
        list_runs(state).context("reading the resume state")?
    } else {
        Vec::new()
    };
    let (which, select) = match p.older_than {
        Some(age) => {
            let cutoff = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
                .saturating_sub(age.as_secs());
            (
                Prune::OlderThan(age),
                hashdb::store::runs::RunSelect::UpdatedBefore(
                    i64::try_from(cutoff).unwrap_or(i64::MAX),
                ),
            )
        }
        None => {
            let mut local = Vec::new();
            let mut queue = Vec::new();
            for name in &p.runs {
                let here = local_runs.iter().find(|r| &r.run == name);
                let there = match &store {
                    Some(s) => s.scan_run(name)?,
                    None => None,
                };
                anyhow::ensure!(
                    here.is_some() || there.is_some(),
                    "no run named {} (not in the resume state {shown}{})",
                    escape(name),
                    if db.is_some() {
                        ", not a queued run of the database"
                    } else {
                        ""
                    }
                );
                if !p.force {
                    if let Some(r) = here.filter(|r| r.state == "running") {
                        anyhow::bail!(
                            "run {} is `running` (a scan under way, or one that was killed): add --force to prune it",
                            escape(&r.run)
                        );
                    }
                    if let Some(r) = there.as_ref().filter(|r| !r.finished()) {
                        anyhow::bail!(
                            "queued run {} is not finished ({}/{} jobs done{}): add --force to prune it and its jobs left in the queue",
                            escape(name),
                            r.jobs_done,
                            r.published,
                            if r.walk_done { "" } else { ", still publishing" }
                        );
                    }
                }
                if here.is_some() && !local.contains(name) {
                    local.push(name.clone());
                }
                if there.is_some() && !queue.contains(name) {
                    queue.push(name.clone());
                }
            }
            (
                Prune::Named(local),
                hashdb::store::runs::RunSelect::Named(queue),
            )
        }
    };
    let skip_local = matches!(&which, Prune::Named(n) if n.is_empty());
    let local = if has_state && !skip_local {
        prune_with(state, &which, p.force, p.dry_run).context("pruning runs")?
    } else {
        Pruned::default()
    };
    let queued = match store.as_mut() {
        Some(s) => s
            .scan_runs_prune(&select, p.force, p.dry_run)
            .context("pruning queued runs")?,
        None => hashdb::store::runs::RunsPruned::default(),
    };
    let mark = |mut v: serde_json::Value| {
        if p.dry_run {
            if let Some(o) = v.as_object_mut() {
                o.insert("dry_run".into(), true.into());
            }
        }
        v
    };
    let verb = if p.dry_run { "would prune" } else { "pruned" };
    for r in &local.pruned {
        println!("{}", mark(serde_json::to_value(r)?));
        eprintln!("{verb} run {} ({} files)", escape(&r.run), r.files);
    }
    let mut purge_failed = false;
    for r in &queued.pruned {
        let mut v = queued::line(r)?;
        // The jobs of an unfinished run still in the queue: removed, or
        // each would reach a worker that drops it.
        if !r.finished() {
            let url = p.queue.as_deref().unwrap_or(&r.queue);
            if p.dry_run {
                eprintln!(
                    "would remove queued run {}'s jobs left at {}",
                    escape(&r.name),
                    escape(url)
                );
            } else {
                match queued::purge(url, &r.name) {
                    Ok(n) => {
                        if let Some(o) = v.as_object_mut() {
                            o.insert("jobs_removed_from_queue".into(), n.into());
                        }
                    }
                    Err(e) => {
                        purge_failed = true;
                        eprintln!(
                            "hashsieve: run {} is deleted, but its jobs left at {} were not removed ({e:#}); workers drop them as jobs of an unknown run, or run `runs prune` again with --queue URL",
                            escape(&r.name),
                            escape(url)
                        );
                    }
                }
            }
        }
        println!("{}", mark(v));
        eprintln!(
            "{verb} queued run {} ({} records)",
            escape(&r.name),
            r.records
        );
    }
    for r in &local.kept {
        eprintln!(
            "kept run {}: `running` (a scan under way, or killed); --force prunes it",
            escape(&r.run)
        );
    }
    for r in &queued.kept {
        eprintln!(
            "kept queued run {}: not finished ({}/{} jobs done); --force prunes it",
            escape(&r.name),
            r.jobs_done,
            r.published
        );
    }
    let files: u64 = local.pruned.iter().map(|r| r.files).sum();
    let records: u64 = queued.pruned.iter().map(|r| r.records).sum();
    eprintln!(
        "hashsieve: {} {} runs ({files} files) from {shown}, {} queued runs ({records} records) from the database{}",
        verb,
        local.pruned.len(),
        queued.pruned.len(),
        if local.kept.len() + queued.kept.len() > 0 {
            format!(
                "; kept {} unfinished",
                local.kept.len() + queued.kept.len()
            )
        } else {
            String::new()
        }
    );
    Ok(if purge_failed { 2 } else { 0 })
}
