//! `hashsieve runs`: the resume state of `scan` runs (list, prune), and
//! which of `scan`'s flags a run records (see `hashsieve::scan::resume`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::ArgMatches;
use hashsieve::escape::{escape, escape_display};
use hashsieve::scan::resume::{default_state_path, list_runs, prune, Prune};

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
    /// Delete runs and everything they stored (paths, hashes, matches);
    /// prints the deleted runs (JSON Lines). Do not prune a run that is
    /// being scanned.
    Prune(PruneArgs),
}

#[derive(clap::Args, Debug)]
pub struct PruneArgs {
    /// Delete the runs last written more than DAYS days ago.
    #[arg(
        long,
        value_name = "DAYS",
        conflicts_with = "runs",
        required_unless_present = "runs"
    )]
    pub older_than: Option<u64>,

    /// Delete these runs.
    #[arg(value_name = "RUN")]
    pub runs: Vec<String>,
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
    let shown = escape_display(path.display());
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
        RunsCommand::Prune(p) => {
            let which = match p.older_than {
                Some(days) => Prune::OlderThan(Duration::from_secs(days.saturating_mul(86_400))),
                None => Prune::Named(p.runs.clone()),
            };
            let removed = prune(&path, &which).context("pruning runs")?;
            let files: u64 = removed.iter().map(|r| r.files).sum();
            for r in &removed {
                println!("{}", serde_json::to_string(r)?);
                eprintln!("pruned run {} ({} files)", escape(&r.run), r.files);
            }
            eprintln!(
                "hashsieve: {} runs ({files} files) pruned from {shown}",
                removed.len()
            );
        }
    }
    Ok(0)
}
