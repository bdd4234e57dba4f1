//! `scan --queue` (the producer side) and `hashsieve worker`: clap flags
//! -> `hashsieve::queue` configs.

use anyhow::Context;
use hashdb::store::{OpenOptions, Store};
use hashsieve::escape::escape;
use hashsieve::matching::{MatchConfig, RecordMatcher};
use hashsieve::queue::producer::{produce as publish, ProduceConfig};
use hashsieve::queue::{QueueError, WorkerConfig};
use hashsieve::scan::ScanConfig;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The long explanation shown after the flags in `worker --help`.
const AFTER_HELP: &str = "\
A worker of distributed scans: it takes jobs (one input file each) that
`hashsieve scan --queue nats://HOST:4222 --run NAME --db DB PATH...`
published to NATS JetStream, scans each file exactly as `scan` does
(archives opened in place, every member a record), matches it against the
enabled lists of --db, and writes the records to the run tables of --db,
keyed by (run, path). A job is acked only after its records are
committed, so a worker may be killed at any time: its job goes to another
worker after --ack-wait. Run any number of workers, on any machines that
see the files at the same paths and reach the database.

The hashing flags (--views, limits, sandbox, video, archive limits) are
the worker's: give every worker of a run the same ones.

A file whose scan kills its worker --max-tries times gets an error record
(kind `crash`) instead of a further try. Follow a run with `hashsieve runs
show RUN --db DB`; its records: `hashsieve runs report RUN --db DB`.

Several workers on one machine may share an SQLite database (WAL mode).
Workers on several machines need a database they all reach.";

/// `hashsieve worker` flags.
#[derive(clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct WorkerArgs {
    /// The NATS server (nats://HOST:4222).
    #[arg(long, value_name = "URL")]
    pub queue: String,

    /// The database: lists to match against, and where records go
    /// (default: $HASHSIEVE_DB, else ./hashsieve.db).
    #[arg(long, value_name = "FILE")]
    pub db: Option<PathBuf>,

    /// Match only against these lists (repeatable).
    #[arg(long = "list", value_name = "LIST")]
    pub lists: Vec<String>,

    /// Work even when the database has no enabled list.
    #[arg(long)]
    pub allow_empty: bool,

    /// Jobs scanned at once (0 = one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,

    /// This worker's name in `runs show` (default: host name and pid).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// Seconds a job may go unacknowledged before JetStream gives it to
    /// another worker (a running scan reports progress every third of
    /// it, so this is how soon a killed worker's job moves on). Taken from
    /// the first worker that creates the shared consumer.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub ack_wait: u64,

    /// Deliveries of one job that try to scan it; the next one writes an
    /// error record instead (a file that kills its workers). Taken from
    /// the first worker that creates the shared consumer.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub max_tries: u64,

    /// Exit once no job came for this many seconds (default: run until
    /// stopped).
    #[arg(long, value_name = "SECONDS")]
    pub idle_exit: Option<u64>,

    /// Most jobs whose records one database transaction commits (each
    /// job is acked once its transaction has committed). 1: a
    /// transaction per job.
    #[arg(long, default_value_t = hashsieve::queue::worker::BATCH_JOBS, value_name = "N")]
    pub commit_batch: usize,

    /// Longest a scanned job waits for more to share its transaction.
    #[arg(long, default_value_t = hashsieve::queue::worker::BATCH_WAIT.as_millis() as u64, value_name = "MS")]
    pub commit_wait_ms: u64,

    #[command(flatten)]
    pub file: super::scan_args::FileScanArgs,

    #[command(flatten)]
    pub rule: super::rule_args::VideoRuleArgs,
}

impl WorkerArgs {
    /// The same scan configuration `scan` builds from the same flags.
    fn scan_config(&self) -> anyhow::Result<ScanConfig> {
        let (hash, archives, sandbox) = self.file.to_config()?;
        Ok(ScanConfig {
            hash,
            sandbox,
            archives,
            ..ScanConfig::default()
        })
    }
}

/// The database of a queued run or a worker: the flag, $HASHSIEVE_DB,
/// ./hashsieve.db; it must exist (it holds the lists).
pub fn db_path(flag: Option<&Path>) -> anyhow::Result<PathBuf> {
    let p = flag
        .map(Path::to_path_buf)
        .or_else(|| {
            std::env::var_os("HASHSIEVE_DB")
                .filter(|p| !p.is_empty())
                .map(PathBuf::from)
        })
        .unwrap_or_else(|| PathBuf::from("hashsieve.db"));
    anyhow::ensure!(
        hashdb::store::DbTarget::parse(&p).is_postgres() || p.exists(),
        "no hash database at {}",
        p.display()
    );
    Ok(p)
}

fn open(p: &Path) -> Result<Store, QueueError> {
    Store::open_with(p, OpenOptions::default().existing()).map_err(|e| {
        QueueError::Store(hashdb::error::StoreError::Invalid {
            field: "database",
            message: format!("opening {}: {e}", p.display()),
        })
    })
}

/// `scan --queue URL --run NAME`: register the run and publish its jobs.
pub fn produce(
    args: &super::scan::ScanArgs,
    cfg: &ScanConfig,
    db: Option<&Path>,
    url: &str,
    stop: &AtomicBool,
) -> anyhow::Result<u8> {
    let db =
        db.context("--queue needs the database the workers write to (--db FILE or $HASHSIEVE_DB)")?;
    let name = args.run.clone().context("--queue needs --run NAME")?;
    anyhow::ensure!(
        args.resume.is_none() || args.resume.as_deref() == Some(name.as_str()),
        "with --queue, --resume takes the run's name (--resume {})",
        escape(&name)
    );
    // Absolute (symbolic links kept as given): workers run in other
    // folders, on other machines that mount the files at the same paths.
    let roots = cfg
        .roots
        .iter()
        .map(std::path::absolute)
        .collect::<Result<Vec<_>, _>>()
        .context("making the paths absolute")?;
    let mut store = open(db)?;
    let pc = ProduceConfig {
        url: url.to_string(),
        run: name.clone(),
        roots,
        follow_links: cfg.follow_links,
        shard: cfg.shard,
        resume: args.resume.is_some(),
    };
    let out = publish(&pc, &mut store, stop)
        .with_context(|| format!("queueing run {}", escape(&name)))?;
    eprintln!(
        "hashsieve: run {}: {} jobs published to {}{}{}; follow it with `hashsieve runs show {} --db {}`",
        escape(&name),
        out.published,
        escape(url),
        if out.skipped_done > 0 {
            format!(", {} already done", out.skipped_done)
        } else {
            String::new()
        },
        if out.walk_errors > 0 {
            format!(", {} unreadable (error records written)", out.walk_errors)
        } else {
            String::new()
        },
        escape(&name),
        // A PostgreSQL URL without its password.
        hashsieve::escape::escape_display(
            hashdb::store::DbTarget::parse(db).display_path().display()
        ),
    );
    println!("{}", serde_json::to_string(&out)?);
    Ok(0)
}

static WORKER_STOP: AtomicBool = AtomicBool::new(false);

/// `hashsieve worker`.
pub fn run_worker(args: WorkerArgs) -> anyhow::Result<u8> {
    let scan = args.scan_config()?;
    let db = db_path(args.db.as_deref())?;
    let store = open(&db)?;
    super::db::require_enabled_list(&store, args.allow_empty)?;
    let mcfg = MatchConfig {
        lists: (!args.lists.is_empty()).then(|| args.lists.clone()),
        video: args.rule.to_override()?,
        ..MatchConfig::default()
    };
    let matcher = RecordMatcher::load(store, &mcfg).context("loading the hash lists")?;
    let concurrency = if args.threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        args.threads
    };
    anyhow::ensure!(args.max_tries >= 1, "--max-tries must be at least 1");
    anyhow::ensure!(args.ack_wait >= 1, "--ack-wait must be at least 1 second");
    anyhow::ensure!(args.commit_batch >= 1, "--commit-batch must be at least 1");
    anyhow::ensure!(
        Duration::from_millis(args.commit_wait_ms) < Duration::from_secs(args.ack_wait) / 2,
        "--commit-wait-ms must be well under the ack wait"
    );
    let name = args.name.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        format!("{}-{}", host.trim(), std::process::id())
    });
    let cfg = WorkerConfig {
        url: args.queue.clone(),
        name: name.clone(),
        concurrency,
        ack_wait: Duration::from_secs(args.ack_wait),
        max_tries: args.max_tries,
        scan,
        idle_exit: args.idle_exit.map(Duration::from_secs),
        batch_jobs: args.commit_batch,
        batch_wait: Duration::from_millis(args.commit_wait_ms),
    };
    // Ctrl-C / SIGTERM: finish the jobs in hand, then leave.
    let _ = ctrlc::set_handler(|| {
        if WORKER_STOP.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    });
    eprintln!(
        "hashsieve worker {}: {} jobs at once from {}",
        escape(&name),
        concurrency,
        escape(&args.queue)
    );
    let db2 = db.clone();
    let totals = hashsieve::queue::worker::run_worker(
        cfg,
        Some(matcher),
        Box::new(move || open(&db2)),
        &WORKER_STOP,
    )?;
    eprintln!(
        "hashsieve worker {}: {}",
        escape(&name),
        serde_json::to_string(&totals)?
    );
    Ok(0)
}
