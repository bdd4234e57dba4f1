//! `hashsieve scan PATH...`: the batch job. Clap flags -> library configs,
//! the progress bar, Ctrl-C, and where the report and summary go.

use anyhow::Context;
use hashsieve::escape::{escape, escape_display};
use hashsieve::matching::{MatchConfig, RecordMatcher};
use hashsieve::progress::{NullProgress, Progress};
use hashsieve::scan::report::{Format, ReportWriter};
use hashsieve::scan::resume::{new_run_id, RunSettings, RunState};
use hashsieve::scan::{scan, ScanConfig, ScanEnv, ScanError};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

/// The long explanation shown after the flags in `scan --help`.
const AFTER_HELP: &str = "\
Scan folders and archives for known media: every file is hashed (MD5,
SHA-256, BLAKE3; PDQ for images; vPDQ frames for videos) and matched
against every enabled list of the hash database.

Each list has its own thresholds (`db list-create`, `db list-update`, shown
by `db lists`): the PDQ distance and quality gate, and the video rules: a
listed video matches when at least its target percent of its unique frames
are in ours (the vPDQ rule, default 80) or when at least its query percent
of our unique frames are in it, and at least its minimum number of them
(the clip rule, defaults 80 and 5). --vpdq-target-percent,
--vpdq-query-percent and --min-clip-frames, when given, replace the values
of every list for this run.

Folders are walked in parallel (hidden files included, no .gitignore
rules). Zip and tar archives (plain, .gz, .zst, .xz; recognised by
content) are read in place, never extracted: each member is a record at
`archive.zip!/dir/member.jpg`, nested archives too
(`a.zip!/b.tar!/c.mp4`) up to --max-depth, written as each member is read
(records of other files scanned at the same time may come in between). An
archive also gets a record of its own (media \"archive\"), after its
members' records. Members that break a limit (zip bombs, over
--max-member-mib, zip members that reuse the bytes of an earlier member:
overlapping members, each refused while the first is read) get a `limit`
error; the rest of the archive is read. An archive yields at most 1,000,000
members, nested archives included. A tar member whose name (GNU long name,
PAX path) is over 4096 bytes, or whose PAX header is over 1 MiB, gets a
`limit` error: the header streams past unread, the rest is read.

Report (stdout): JSON Lines by default when stdout is not a terminal,
one object per file: the `hashsieve hash` fields plus \"matches\": [{\"list\",
\"entry\", \"external_id\", \"signal_type\", \"labels\", \"hit_by\", \"hash\",
\"distance\", \"vpdq\": {\"rule\", \"query_percent\", \"target_percent\",
\"timestamps\", ...}, \"frames\": [...], \"suppressed\", \"view\"}] (\"matches\" is
absent when no database is used). --format csv: one row per record. On a terminal,
hits and errors only, readable. A summary goes to stderr at the end (and to
--summary-json FILE as JSON); a progress bar to stderr when it is a
terminal.

Resuming: every run records each file's outcome (keyed by path, size and
mtime) in a state file (--state; default: the database path plus \".runs\").
The run name is printed at the start. After a crash, kill or Ctrl-C, run
the same command with --resume RUN: files already done are not scanned
again, and their stored records are printed again, so the new report is
complete on its own (every file exactly once): keep it, discard the
report of the interrupted session. `--resume NAME` with a new name starts
a run of that name. An archive is stored as done only once read to its end,
and only when its records take less than 16 MiB (about 50,000 members):
otherwise a resumed run reads it again, whole. A run resumes only with
the flags it started with and while the lists are unchanged (else its
stored records could be stale: refused, saying what changed). The state
keeps every path and hash it saw: `hashsieve runs list`, `hashsieve runs
prune`.

Media are decoded in sandboxed worker processes (memory and CPU-time
limits, a seccomp filter: no files, no network): a decoder that crashes,
aborts or runs out of its memory costs its file one record with error kind
`crash` (its digests still there), and the scan goes on. --no-sandbox
decodes in this process instead.

Exit codes: 0 no match and no error; 1 matches found (suppressed hits do
not count), no error; 2 errors happened (unreadable or damaged files,
limits) and no match, or bad arguments; 3 matches found and errors
happened (both are in the report); 130 interrupted by Ctrl-C (every
record written is complete; an archive being read stops before its next
member, without a record of its own).";

/// `hashsieve scan` flags; see [`AFTER_HELP`].
#[derive(clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct ScanArgs {
    /// Files and folders to scan.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,

    /// Hash database (default: $HASHSIEVE_DB, else ./hashsieve.db). Without
    /// one, files are hashed but not matched.
    #[arg(long, value_name = "FILE")]
    pub db: Option<PathBuf>,

    /// Match only against these lists (repeatable; default: every enabled
    /// list).
    #[arg(long = "list", value_name = "LIST")]
    pub lists: Vec<String>,

    /// Scan even when the database has no enabled list (nothing can
    /// match); without it, that is an error.
    #[arg(long)]
    pub allow_empty: bool,

    /// Report format (default: jsonl when stdout is not a terminal, human
    /// when it is).
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,

    /// Only report files with hits or errors (all files are still counted
    /// in the summary and recorded for resuming).
    #[arg(long)]
    pub matches_only: bool,

    /// Worker threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,

    /// Scan only shard I of N (0-based), a stable partition by path
    /// relative to its root: run N scans with 0/N .. N-1/N (a job array)
    /// and together they scan every file exactly once. An archive is never
    /// split. Give each shard its own --resume name or --state file.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<hashsieve::scan::shard::Shard>,

    /// Also write the summary as a JSON object to FILE.
    #[arg(long, value_name = "FILE")]
    pub summary_json: Option<PathBuf>,

    /// Resume (or name) a run: files it already did are not scanned again.
    #[arg(long, value_name = "RUN")]
    pub resume: Option<String>,

    /// Resume state file (default: the database path plus ".runs", or
    /// ./hashsieve-scan.runs without a database).
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,

    /// Do not record outcomes (the run cannot be resumed).
    #[arg(long, conflicts_with = "resume")]
    pub no_state: bool,

    /// No progress bar, even on a terminal.
    #[arg(long)]
    pub no_progress: bool,

    /// Do not follow symbolic links inside folders.
    #[arg(long)]
    pub no_follow: bool,

    #[command(flatten)]
    pub file: super::scan_args::FileScanArgs,

    #[command(flatten)]
    pub rule: super::rule_args::VideoRuleArgs,

    /// Publish one job per input file to this NATS JetStream server
    /// (nats://HOST:4222) instead of scanning here: `hashsieve worker`
    /// processes scan them and write the records to --db (see `hashsieve
    /// worker --help`). Needs --run and --db.
    #[arg(long, value_name = "URL", requires = "run")]
    pub queue: Option<String>,

    /// The name of a queued run (letters, digits, '-', '_'). A name
    /// already in the database is refused, unless --resume NAME is given
    /// too with the same paths (then files already done are not
    /// published again).
    #[arg(long, value_name = "NAME", requires = "queue")]
    pub run: Option<String>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum FormatArg {
    Jsonl,
    Csv,
    Human,
}

static STOP: AtomicBool = AtomicBool::new(false);

impl ScanArgs {
    fn config(&self) -> anyhow::Result<ScanConfig> {
        self.rule.to_override()?;
        let (hash, archives, sandbox) = self.file.to_config()?;
        Ok(ScanConfig {
            roots: self.paths.clone(),
            threads: self.threads,
            hash,
            sandbox,
            archives,
            follow_links: !self.no_follow,
            shard: self.shard,
            ..ScanConfig::default()
        })
    }

    /// The database to use: the flag, $HASHSIEVE_DB, ./hashsieve.db; a
    /// default that does not exist means "no matching".
    fn db_path(&self) -> anyhow::Result<Option<PathBuf>> {
        if let Some(p) = &self.db {
            anyhow::ensure!(exists(p), "no hash database at {}", p.display());
            return Ok(Some(p.clone()));
        }
        if let Some(p) = std::env::var_os("HASHSIEVE_DB").filter(|p| !p.is_empty()) {
            let p = PathBuf::from(p);
            anyhow::ensure!(
                exists(&p),
                "no hash database at {} ($HASHSIEVE_DB)",
                p.display()
            );
            return Ok(Some(p));
        }
        let p = PathBuf::from("hashsieve.db");
        Ok(p.exists().then_some(p))
    }
}

/// Whether `--db` names something to open: a file that exists, or a
/// PostgreSQL URL (whether the server has our schema is the store's to
/// say, with `Create::Never`).
fn exists(p: &std::path::Path) -> bool {
    hashdb::store::DbTarget::parse(p).is_postgres() || p.exists()
}

/// The progress bar: counts in atomics, drawn by indicatif (rate-limited).
struct Bar {
    bar: indicatif::ProgressBar,
    found: AtomicU64,
    done: AtomicU64,
    matches: AtomicU64,
    errors: AtomicU64,
    started: Instant,
}

impl Bar {
    fn new() -> Bar {
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(0),
            indicatif::ProgressDrawTarget::stderr(),
        );
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bytes} ({bytes_per_sec}) {msg} (counting files...)",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        Bar {
            bar,
            found: AtomicU64::new(0),
            done: AtomicU64::new(0),
            matches: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            started: Instant::now(),
        }
    }

    fn message(&self) {
        let done = self.done.load(Ordering::Relaxed);
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        self.bar.set_message(format!(
            "{done}/{} files ({:.0}/s), {} matches, {} errors",
            self.found.load(Ordering::Relaxed),
            done as f64 / secs,
            self.matches.load(Ordering::Relaxed),
            self.errors.load(Ordering::Relaxed)
        ));
    }
}

impl Progress for Bar {
    fn found(&self, bytes: u64) {
        self.found.fetch_add(1, Ordering::Relaxed);
        self.bar.inc_length(bytes);
    }
    fn walk_done(&self) {
        self.bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, ETA {eta}) {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        self.message();
    }
    fn file_done(&self, bytes: u64, _records: u64, matches: u64, errors: u64) {
        self.done.fetch_add(1, Ordering::Relaxed);
        self.matches.fetch_add(matches, Ordering::Relaxed);
        self.errors.fetch_add(errors, Ordering::Relaxed);
        self.bar.inc(bytes);
        self.message();
    }
    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// Run the scan; `flags` are the flags that change records (recorded with
/// the run, see `super::runs::result_flags`).
pub fn run(
    args: ScanArgs,
    flags: std::collections::BTreeMap<String, String>,
) -> anyhow::Result<u8> {
    let cfg = args.config()?;
    let db = args.db_path()?;
    #[cfg(feature = "queue")]
    if let Some(url) = &args.queue {
        return super::queue::produce(&args, &cfg, db.as_deref(), url, &STOP);
    }
    #[cfg(not(feature = "queue"))]
    anyhow::ensure!(
        args.queue.is_none(),
        "this hashsieve was built without the work queue (cargo feature `queue`)"
    );
    // Read before the lists are loaded: a change in between makes the run
    // look stale (refused on resume), never fresh.
    let lists = super::runs::lists_fingerprint(db.as_deref())?;
    let matcher = match &db {
        Some(p) => {
            let existing = hashdb::store::OpenOptions::default().existing();
            let store = hashdb::store::Store::open_with(p, existing)
                .with_context(|| format!("opening the hash database {}", p.display()))?;
            super::db::require_enabled_list(&store, args.allow_empty)?;
            let mcfg = MatchConfig {
                lists: (!args.lists.is_empty()).then(|| args.lists.clone()),
                video: args.rule.to_override()?,
                ..MatchConfig::default()
            };
            Some(RecordMatcher::load(store, &mcfg).context("loading the hash lists")?)
        }
        None => {
            anyhow::ensure!(
                args.lists.is_empty(),
                "--list needs a hash database (--db FILE or $HASHSIEVE_DB)"
            );
            eprintln!("hashsieve: no hash database (--db, $HASHSIEVE_DB or ./hashsieve.db): hashing only, nothing is matched");
            None
        }
    };

    let mut state = if args.no_state {
        None
    } else {
        let path = args.state.clone().unwrap_or_else(|| match &db {
            // A PostgreSQL database has no folder to sit beside.
            Some(p) if !hashdb::store::DbTarget::parse(p).is_postgres() => {
                let mut s = p.clone().into_os_string();
                s.push(".runs");
                PathBuf::from(s)
            }
            _ => PathBuf::from("hashsieve-scan.runs"),
        });
        let run = args.resume.clone().unwrap_or_else(new_run_id);
        let settings = RunSettings { lists, flags };
        let st = RunState::open_with(&path, &run, &args.paths, &settings)
            .with_context(|| format!("opening the resume state {}", path.display()))?;
        // The run name and the state path come from the command line, maybe
        // from a script that took them from file names: escaped.
        let (run, shown) = (escape(&run), escape_display(path.display()));
        if st.is_resumed() {
            eprintln!("hashsieve: resuming run {run} (state {shown})");
        } else {
            eprintln!("hashsieve: run {run} (state {shown}; resume with --resume {run})");
        }
        Some(st)
    };

    // First Ctrl-C: stop cleanly (in-flight files finish, the report is
    // flushed). Second: leave at once.
    let _ = ctrlc::set_handler(|| {
        if STOP.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    });

    let stdout_tty = std::io::stdout().is_terminal();
    let format = match args.format {
        Some(FormatArg::Jsonl) => Format::Jsonl,
        Some(FormatArg::Csv) => Format::Csv,
        Some(FormatArg::Human) => Format::Human,
        None if stdout_tty => Format::Human,
        None => Format::Jsonl,
    };
    let out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout());
    let mut writer = ReportWriter::new(format, args.matches_only, out);
    let bar;
    let progress: &dyn Progress = if std::io::stderr().is_terminal() && !args.no_progress {
        bar = Bar::new();
        &bar
    } else {
        &NullProgress
    };
    let result = scan(
        &cfg,
        ScanEnv {
            matcher: matcher.as_ref(),
            progress,
            stop: &STOP,
            state: state.as_mut(),
        },
        &mut |v| writer.write(v),
    );
    let flushed = writer.flush();
    let summary = match result {
        Ok(s) => s,
        Err(ScanError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(2),
        Err(e) => return Err(e).context("scan stopped"),
    };
    if let Err(e) = flushed {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(e).context("writing the report");
        }
    }
    eprintln!("{}", summary.human());
    if let Some(p) = &args.summary_json {
        let text = serde_json::to_string_pretty(&summary)?;
        let mut f = std::fs::File::create(p)
            .with_context(|| format!("writing the summary to {}", p.display()))?;
        writeln!(f, "{text}").with_context(|| format!("writing the summary to {}", p.display()))?;
    }
    Ok(summary.exit_code)
}
