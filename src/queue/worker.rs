//! `hashsieve worker`: consume jobs, scan each file as `scan` does, write
//! its records to the database, then ack.
//!
//! Each of [`WorkerConfig::concurrency`] slots pulls one job at a time (no
//! prefetch: a job waiting in a client buffer would burn its ack deadline
//! while another file is hashed), scans it on the slot's own OS thread
//! (outside the tokio runtime: hashing never holds the runtime's threads,
//! and the synchronous PostgreSQL client refuses to run inside one), and while
//! that runs tells JetStream it is still in progress every third of the
//! ack deadline, so a long video is not redelivered to a second worker
//! while a killed worker's job is, one deadline after it died.
//!
//! Records are committed in batches: a scanned job's records go to the
//! worker's committing thread, which writes the records of up to
//! [`BATCH_JOBS`] jobs in one transaction (`--commit-batch`), at the
//! latest [`BATCH_WAIT`] (`--commit-wait-ms`) after the first of them was
//! scanned (a transaction and an ack per file
//! cost more than hashing a small picture). Each job is acked only once
//! the transaction holding its records has committed, and is reported in
//! progress while it waits. A redelivered job may be the one that killed
//! the last worker: before it is scanned the batch is committed, and
//! while it is scanned every job is committed at once, alone, so a file
//! that kills its worker takes no other job's finished work down with it
//! (only the jobs scanned at the same moment, as without batches).
//!
//! Outcomes of a delivery:
//! - the job is already committed (its worker died between commit and
//!   ack): acked, nothing written;
//! - delivery number `max_tries + 1` (the file killed or stalled its
//!   workers every time): an error record of kind `crash` is committed in
//!   place of a scan, then acked, so a poison file ends instead of looping;
//! - otherwise scanned, committed with a batch (records keyed by run and
//!   path), acked;
//! - the database unreachable (a PostgreSQL server stopped or restarting,
//!   the connection cut): the worker keeps the job (still reporting it in
//!   progress) and tries again with a growing pause until the database is
//!   back, then commits; a nak would spend one of the job's `max_tries`
//!   deliveries per try, so an outage longer than a few naks would turn
//!   good files into "given up" records. A record matched while the
//!   database was away (its entries' labels unread) is matched again;
//! - any other database error: the job is handed back (nak, after a
//!   delay) and redelivered later, nothing is lost (a batch that fails so
//!   is tried again job by job, so one job's error, its run pruned, costs
//!   only that job);
//! - a job of a run this database does not have (a producer that used
//!   another database): terminated, and reported on stderr.

use super::{connect, jobs_stream, runtime, QueueError, CONSUMER, SIZE_HEADER, SUBJECT_PREFIX};
use crate::error::{ErrorKind, ItemError};
use crate::hashing::Worker;
use crate::matching::RecordMatcher;
use crate::record::FileRecord;
use crate::scan::dedupe::ContentCache;
use crate::scan::process::{Ctx, Scanned, WorkStats};
use crate::scan::summary::Summary;
use crate::scan::ScanConfig;
use async_nats::jetstream::consumer::{pull, PullConsumer};
use async_nats::jetstream::{AckKind, Message};
use futures_util::StreamExt;
use hashdb::store::runs::{JobCommit, JobState, RunRecord};
use hashdb::store::Store;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Most jobs whose records one transaction commits.
pub const BATCH_JOBS: usize = 64;
/// Longest a scanned job waits for its batch's commit to start (a slow
/// stream still commits, and acks, promptly).
pub const BATCH_WAIT: Duration = Duration::from_millis(50);

/// Fault injection for the tests: a worker scanning a file of this name
/// aborts (as a decoder bug that takes the whole process down would).
pub const FAULT_ABORT_ENV: &str = "HASHSIEVE_FAULT_ABORT_ON";

/// Opens one database connection (one per slot: a store is one
/// connection, used by one thread at a time).
pub type OpenStore = dyn Fn() -> Result<Store, QueueError> + Send + Sync;

/// How a worker runs.
pub struct WorkerConfig {
    pub url: String,
    /// Shown in `runs show` (default: host name and process id).
    pub name: String,
    /// Jobs scanned at once.
    pub concurrency: usize,
    /// JetStream's ack deadline: a job not acked (or reported in progress)
    /// this long after delivery goes to another worker.
    pub ack_wait: Duration,
    /// Deliveries of one job that may try to scan it; the next delivery
    /// writes an error record instead.
    pub max_tries: u64,
    /// Scanning options (as `scan`).
    pub scan: ScanConfig,
    /// Exit once no job came for this long (`None`: run until stopped).
    pub idle_exit: Option<Duration>,
    /// Most jobs committed in one transaction ([`BATCH_JOBS`]).
    pub batch_jobs: usize,
    /// Longest a scanned job waits for its batch ([`BATCH_WAIT`]).
    pub batch_wait: Duration,
}

/// What a worker did (printed when it exits).
#[derive(Debug, Default, serde::Serialize)]
pub struct WorkerTotals {
    pub jobs: u64,
    pub records: u64,
    pub already_done: u64,
    pub given_up: u64,
    pub handed_back: u64,
    /// Times a job in hand waited for an unreachable database.
    pub db_waits: u64,
}

/// Shared by the slots.
struct Shared {
    cfg: WorkerConfig,
    isolation: crate::sandbox::Isolation,
    matcher: Option<RecordMatcher>,
    cache: ContentCache,
    open: Box<OpenStore>,
    abort_on: Option<std::ffi::OsString>,
    jobs: AtomicU64,
    records: AtomicU64,
    already_done: AtomicU64,
    given_up: AtomicU64,
    handed_back: AtomicU64,
    /// Pauses while the database was unreachable.
    db_waits: AtomicU64,
    /// The consumer's own ack deadline (ms) and tries (`max_deliver` - 1):
    /// JetStream keeps the settings of the worker that created the
    /// consumer, and redelivers and gives up by them, whatever later
    /// workers were told; a worker that went by its own `--max-tries`
    /// above the consumer's would wait for a delivery that never comes and
    /// leave a poison file without its record.
    ack_wait_ms: AtomicU64,
    max_tries: AtomicU64,
    stop: &'static AtomicBool,
    /// Milliseconds since `started` of the last job or of the start.
    last_job_ms: AtomicU64,
    started: Instant,
    /// Slots that have asked JetStream for their first job: once all
    /// have, the worker says it is ready (see [`READY`]).
    pulling: AtomicUsize,
    slots: usize,
    /// Redelivered jobs being scanned now: while there is one, every job
    /// is committed at once (see the module docs).
    suspects: AtomicUsize,
}

/// The start of the line a worker writes on stderr once every slot has
/// a pull request at the server, so a job published from then on can go
/// to it. Supervisors and tests wait for it before publishing: a worker
/// still loading its lists when the jobs come gets none of them, its
/// faster peers take them all.
pub const READY: &str = "ready:";

/// One delivery of a job.
struct Job {
    run: String,
    path: Vec<u8>,
    size: u64,
    delivered: u64,
}

/// How a delivery ended, decided on the blocking threads.
enum Ended {
    Committed { records: u64, given_up: bool },
    AlreadyDone,
    UnknownRun,
    StoreFailed(String),
}

/// What the scanning thread says once it is done with a job.
enum AfterScan {
    /// Decided without a commit.
    Ended(Ended),
    /// The records wait for their batch's commit; its outcome comes here.
    Queued(tokio::sync::oneshot::Receiver<Ended>),
}

/// A scanned job's records, waiting for their batch.
struct Pending {
    run: String,
    path: Vec<u8>,
    delivered: u64,
    rows: Vec<RunRecord>,
    given_up: bool,
    /// Commit at once (a redelivered job).
    alone: bool,
    reply: tokio::sync::oneshot::Sender<Ended>,
}

/// What the committing thread is told.
enum ToCommit {
    Job(Pending),
    /// Commit what waits now, then say so.
    Flush(std::sync::mpsc::Sender<()>),
}

/// Run a worker until `stop` is set (or it has been idle for
/// `idle_exit`).
///
/// # Errors
/// NATS unreachable at setup, the consumer refused, the sandbox not
/// starting. Per-job problems are records or redeliveries, never errors.
pub fn run_worker(
    cfg: WorkerConfig,
    matcher: Option<RecordMatcher>,
    open: Box<OpenStore>,
    stop: &'static AtomicBool,
) -> Result<WorkerTotals, QueueError> {
    let isolation = crate::sandbox::Isolation::start(cfg.scan.sandbox.as_ref())?;
    let cache = ContentCache::new(cfg.scan.dedupe_cache_bytes);
    let slots = cfg.concurrency.max(1);
    let shared = Arc::new(Shared {
        isolation,
        matcher,
        cache,
        open,
        abort_on: std::env::var_os(FAULT_ABORT_ENV).filter(|v| !v.is_empty()),
        jobs: AtomicU64::new(0),
        records: AtomicU64::new(0),
        already_done: AtomicU64::new(0),
        given_up: AtomicU64::new(0),
        handed_back: AtomicU64::new(0),
        db_waits: AtomicU64::new(0),
        ack_wait_ms: AtomicU64::new(cfg.ack_wait.as_millis() as u64),
        max_tries: AtomicU64::new(cfg.max_tries),
        stop,
        last_job_ms: AtomicU64::new(0),
        started: Instant::now(),
        pulling: AtomicUsize::new(0),
        slots,
        suspects: AtomicUsize::new(0),
        cfg,
    });
    let rt = runtime()?;
    rt.block_on(async {
        let client = connect(&shared.cfg.url, &shared.cfg.name).await?;
        let js = async_nats::jetstream::new(client.clone());
        let stream = jobs_stream(&js).await?;
        let consumer: PullConsumer = stream
            .get_or_create_consumer(
                CONSUMER,
                pull::Config {
                    durable_name: Some(CONSUMER.to_string()),
                    filter_subject: format!("{SUBJECT_PREFIX}*"),
                    ack_policy: async_nats::jetstream::consumer::AckPolicy::Explicit,
                    ack_wait: shared.cfg.ack_wait,
                    max_deliver: (shared.cfg.max_tries + 1) as i64,
                    ..pull::Config::default()
                },
            )
            .await
            .map_err(|e| QueueError::Setup {
                what: "consumer",
                message: e.to_string(),
            })?;
        let made = &consumer.cached_info().config;
        let tries = u64::try_from(made.max_deliver)
            .ok()
            .filter(|&d| d >= 2)
            .map(|d| d - 1);
        if made.ack_wait != shared.cfg.ack_wait || tries != Some(shared.cfg.max_tries) {
            eprintln!(
                "hashsieve worker: the queue's consumer was made by an earlier worker: ack wait {} s, {} (this worker's --ack-wait {} --max-tries {} are not used)",
                made.ack_wait.as_secs_f64(),
                tries.map_or("no limit of deliveries".to_string(), |t| format!("{t} tries")),
                shared.cfg.ack_wait.as_secs_f64(),
                shared.cfg.max_tries,
            );
        }
        shared
            .ack_wait_ms
            .store(made.ack_wait.as_millis() as u64, Ordering::Relaxed);
        shared
            .max_tries
            .store(tries.unwrap_or(u64::MAX), Ordering::Relaxed);
        // One committing thread for all slots; it ends with the last
        // scanning thread (each holds a sender).
        let (commit, commits) = std::sync::mpsc::channel::<ToCommit>();
        let sh = shared.clone();
        std::thread::Builder::new()
            .name("hashsieve-worker-commit".into())
            .spawn(move || committing_thread(sh, commits))
            .map_err(QueueError::Runtime)?;
        let mut tasks = Vec::with_capacity(slots);
        for _ in 0..slots {
            let (shared, consumer, client) = (shared.clone(), consumer.clone(), client.clone());
            tasks.push(tokio::spawn(slot(
                shared,
                consumer,
                client,
                stop,
                commit.clone(),
            )));
        }
        drop(commit);
        for t in tasks {
            let _ = t.await;
        }
        Ok::<(), QueueError>(())
    })?;
    Ok(WorkerTotals {
        jobs: shared.jobs.load(Ordering::Relaxed),
        records: shared.records.load(Ordering::Relaxed),
        already_done: shared.already_done.load(Ordering::Relaxed),
        given_up: shared.given_up.load(Ordering::Relaxed),
        handed_back: shared.handed_back.load(Ordering::Relaxed),
        db_waits: shared.db_waits.load(Ordering::Relaxed),
    })
}

impl Shared {
    fn idle_too_long(&self) -> bool {
        let Some(idle) = self.cfg.idle_exit else {
            return false;
        };
        let now = self.started.elapsed().as_millis() as u64;
        now.saturating_sub(self.last_job_ms.load(Ordering::Relaxed)) >= idle.as_millis() as u64
    }

    /// A slot has sent its first pull request; the last one says the
    /// worker is ready, and `--idle-exit` counts from then (connecting,
    /// setting up the consumer are not waiting for jobs).
    fn pulling(&self) {
        if self.pulling.fetch_add(1, Ordering::SeqCst) + 1 == self.slots {
            self.touch();
            eprintln!(
                "hashsieve worker {}: {READY} {} slots waiting for jobs (consumer {CONSUMER})",
                crate::escape::escape(&self.cfg.name),
                self.slots
            );
        }
    }

    fn touch(&self) {
        self.last_job_ms
            .store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
}

/// A job handed to a slot's scanning thread, and where its outcome goes.
type Task = (Job, tokio::sync::oneshot::Sender<(AfterScan, Job)>);

/// A slot's scanning thread: a plain OS thread, outside the runtime
/// (the synchronous PostgreSQL client must not run inside one, and
/// hashing must not hold the runtime's threads). It keeps the slot's
/// scratch and database connection across jobs, and hands the records
/// to the committing thread.
fn scanning_thread(
    sh: Arc<Shared>,
    rx: std::sync::mpsc::Receiver<Task>,
    commit: std::sync::mpsc::Sender<ToCommit>,
) {
    let mut worker = Worker::new();
    let mut store: Option<Store> = None;
    for (job, reply) in rx {
        let (after, kept) = process(&sh, &job, &mut worker, store.take(), &commit);
        store = kept;
        // The slot waits for every reply; a send fails only once it quit.
        let _ = reply.send((after, job));
    }
}

/// The committing thread: jobs' records in batches of at most
/// [`WorkerConfig::batch_jobs`], each committed at most
/// [`WorkerConfig::batch_wait`] after its first job came (at once when asked to flush, for a redelivered job, while a
/// redelivered job is being scanned, or when the worker stops). It ends
/// when every scanning thread has.
fn committing_thread(sh: Arc<Shared>, rx: std::sync::mpsc::Receiver<ToCommit>) {
    use std::sync::mpsc::RecvTimeoutError;
    let mut store: Option<Store> = None;
    let mut batch: Vec<Pending> = Vec::new();
    let mut first = Instant::now();
    let mut flushes: Vec<std::sync::mpsc::Sender<()>> = Vec::new();
    loop {
        let next = if batch.is_empty() {
            rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
        } else {
            rx.recv_timeout(sh.cfg.batch_wait.saturating_sub(first.elapsed()))
        };
        let gone = match next {
            Ok(ToCommit::Job(p)) => {
                if batch.is_empty() {
                    first = Instant::now();
                }
                batch.push(p);
                false
            }
            Ok(ToCommit::Flush(done)) => {
                flushes.push(done);
                false
            }
            Err(RecvTimeoutError::Timeout) => false,
            Err(RecvTimeoutError::Disconnected) => true,
        };
        let due = gone
            || !flushes.is_empty()
            || batch.len() >= sh.cfg.batch_jobs
            || first.elapsed() >= sh.cfg.batch_wait
            || batch.iter().any(|p| p.alone)
            || sh.suspects.load(Ordering::SeqCst) > 0
            || sh.stop.load(Ordering::Relaxed);
        if due {
            if !batch.is_empty() {
                commit_batch(&sh, &mut store, std::mem::take(&mut batch));
            }
            for f in flushes.drain(..) {
                let _ = f.send(());
            }
        }
        if gone {
            return;
        }
    }
}

/// Commit `batch` in one transaction and tell each job how it ended. A
/// batch the database refuses (not merely unreachable: that is waited
/// out) is tried again job by job, so one job's error costs only it.
fn commit_batch(sh: &Shared, store: &mut Option<Store>, batch: Vec<Pending>) {
    let res = {
        let jobs: Vec<JobCommit<'_>> = batch
            .iter()
            .map(|p| JobCommit {
                run: &p.run,
                job: &p.path,
                deliveries: p.delivered,
                records: &p.rows,
            })
            .collect();
        until_reachable(sh, store, |s| s.scan_jobs_commit(&sh.cfg.name, &jobs))
    };
    match res {
        Ok(()) => {
            for p in batch {
                let _ = p.reply.send(Ended::Committed {
                    records: p.rows.len() as u64,
                    given_up: p.given_up,
                });
            }
        }
        Err(_) if batch.len() > 1 && !sh.stop.load(Ordering::Relaxed) => {
            for p in batch {
                commit_batch(sh, store, vec![p]);
            }
        }
        Err(e) => {
            for p in batch {
                let _ = p.reply.send(Ended::StoreFailed(e.clone()));
            }
        }
    }
}

/// One slot: pull a job, scan it, hand it to a task that acks it once its
/// batch is committed, repeat.
async fn slot(
    shared: Arc<Shared>,
    consumer: PullConsumer,
    client: async_nats::Client,
    stop: &'static AtomicBool,
    commit: std::sync::mpsc::Sender<ToCommit>,
) {
    let (tx, rx) = std::sync::mpsc::channel::<Task>();
    let sh = shared.clone();
    let thread = std::thread::Builder::new()
        .name("hashsieve-worker-scan".into())
        .spawn(move || scanning_thread(sh, rx, commit));
    if let Err(e) = thread {
        eprintln!("hashsieve worker: could not start a scanning thread: {e}");
        return;
    }
    // The jobs scanned and waiting for their commit, each with its task.
    let mut waiting = tokio::task::JoinSet::new();
    let mut announced = false;
    while !stop.load(Ordering::Relaxed) && !shared.idle_too_long() {
        while waiting.try_join_next().is_some() {}
        let batch = consumer
            .fetch()
            .max_messages(1)
            .expires(Duration::from_secs(1))
            .messages()
            .await;
        let mut batch = match batch {
            Ok(b) => {
                // Ready once the server has the request: a flush is a
                // round trip behind it on the same connection, which
                // the server handles in order.
                if !announced && client.flush().await.is_ok() {
                    announced = true;
                    shared.pulling();
                }
                b
            }
            Err(e) => {
                // NATS down or restarting: the client reconnects by
                // itself; try again shortly.
                eprintln!("hashsieve worker: waiting for the queue: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        while let Some(m) = batch.next().await {
            let msg = match m {
                Ok(m) => m,
                Err(e) => {
                    eprintln!("hashsieve worker: receiving a job: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            shared.touch();
            handle(&shared, msg, &tx, &mut waiting).await;
            shared.touch();
        }
    }
    // The jobs in hand are committed (at once: the worker is stopping or
    // idle) and acked before the slot ends.
    while waiting.join_next().await.is_some() {}
}
/// Parse a delivery; `None` for a message that is not a job.
fn job_of(msg: &Message) -> Option<Job> {
    let run = msg
        .subject
        .as_str()
        .strip_prefix(SUBJECT_PREFIX)?
        .to_string();
    let delivered = msg.info().ok()?.delivered.max(1) as u64;
    let size = msg
        .headers
        .as_ref()
        .and_then(|h| h.get(SIZE_HEADER))
        .and_then(|v| v.as_str().parse().ok())
        .unwrap_or(0);
    Some(Job {
        run,
        path: msg.payload.to_vec(),
        size,
        delivered,
    })
}

/// The heartbeat of a job in hand: JetStream is told it is in progress
/// every third of the consumer's ack deadline.
fn heartbeat(shared: &Shared) -> tokio::time::Interval {
    let ack_wait = Duration::from_millis(shared.ack_wait_ms.load(Ordering::Relaxed));
    let beat = (ack_wait / 3).max(Duration::from_millis(100));
    tokio::time::interval_at(tokio::time::Instant::now() + beat, beat)
}

/// Wait for `outcome`, keeping the job ours meanwhile.
async fn in_progress<T>(
    shared: &Shared,
    msg: &Message,
    outcome: tokio::sync::oneshot::Receiver<T>,
) -> Option<T> {
    let mut outcome = outcome;
    let mut tick = heartbeat(shared);
    loop {
        tokio::select! {
            r = &mut outcome => return r.ok(),
            _ = tick.tick() => { let _ = msg.ack_with(AckKind::Progress).await; }
        }
    }
}

/// Scan one delivery (the slot waits for that), then leave its commit
/// and ack to a task of `waiting`.
async fn handle(
    shared: &Arc<Shared>,
    msg: Message,
    scanner: &std::sync::mpsc::Sender<Task>,
    waiting: &mut tokio::task::JoinSet<()>,
) {
    let Some(job) = job_of(&msg) else {
        let _ = msg.ack_with(AckKind::Term).await;
        return;
    };
    let (reply, outcome) = tokio::sync::oneshot::channel();
    if scanner.send((job, reply)).is_err() {
        // The scanning thread is gone (it cannot be, short of a bug in
        // `process`, which catches panics): the job goes back.
        let _ = msg
            .ack_with(AckKind::Nak(Some(Duration::from_secs(5))))
            .await;
        return;
    }
    // Keep the job ours while it is scanned.
    let Some((after, job)) = in_progress(shared, &msg, outcome).await else {
        eprintln!("hashsieve worker: the scanning thread died; the job goes back");
        let _ = msg
            .ack_with(AckKind::Nak(Some(Duration::from_secs(5))))
            .await;
        return;
    };
    match after {
        AfterScan::Ended(done) => finish(shared, &msg, &job, done).await,
        AfterScan::Queued(committed) => {
            let shared = shared.clone();
            waiting.spawn(async move {
                // And while its batch waits and commits.
                let done = in_progress(&shared, &msg, committed)
                    .await
                    .unwrap_or_else(|| Ended::StoreFailed("the committing thread died".into()));
                finish(&shared, &msg, &job, done).await;
            });
        }
    }
}

/// Count a delivery's outcome and answer JetStream: ack what is
/// committed, drop a job of an unknown run, hand back the rest.
async fn finish(shared: &Shared, msg: &Message, job: &Job, done: Ended) {
    match done {
        Ended::Committed { records, given_up } => {
            shared.jobs.fetch_add(1, Ordering::Relaxed);
            shared.records.fetch_add(records, Ordering::Relaxed);
            if given_up {
                shared.given_up.fetch_add(1, Ordering::Relaxed);
            }
            ack(msg).await;
        }
        Ended::AlreadyDone => {
            shared.already_done.fetch_add(1, Ordering::Relaxed);
            ack(msg).await;
        }
        Ended::UnknownRun => {
            eprintln!(
                "hashsieve worker: a job of run {} is not in this database (the producer used another --db, or the run was pruned): dropped",
                crate::escape::escape(&job.run)
            );
            let _ = msg.ack_with(AckKind::Term).await;
        }
        Ended::StoreFailed(e) => {
            eprintln!(
                "hashsieve worker: writing records failed, the job goes back to the queue: {e}"
            );
            shared.handed_back.fetch_add(1, Ordering::Relaxed);
            let _ = msg
                .ack_with(AckKind::Nak(Some(Duration::from_secs(5))))
                .await;
        }
    }
}

/// Ack and wait for the server to confirm (an ack lost in a NATS restart
/// only means one redelivery, which finds the job done).
async fn ack(msg: &Message) {
    if let Err(e) = msg.double_ack().await {
        eprintln!("hashsieve worker: ack not confirmed (the job may come back, and is then skipped as done): {e}");
    }
}

/// A store call that failed: whether waiting can help.
enum Failed {
    /// The database is unreachable (the connection is gone, or opening
    /// one failed): wait and try again, keeping the job.
    Away(String),
    /// Anything else: hand the job back.
    Other(String),
}

/// Run `op` on the slot's connection, opening one if there is none. An
/// error with the connection gone (or no connection to be had) is
/// [`Failed::Away`]; the connection is dropped then, so the next call
/// opens a new one.
fn on_store<T>(
    sh: &Shared,
    store: &mut Option<Store>,
    op: impl FnOnce(&mut Store) -> Result<T, hashdb::error::StoreError>,
) -> Result<T, Failed> {
    if store.is_none() {
        *store = Some((sh.open)().map_err(|e| Failed::Away(e.to_string()))?);
    }
    let Some(s) = store.as_mut() else {
        return Err(Failed::Away("no connection".into()));
    };
    match op(s) {
        Ok(v) => Ok(v),
        Err(e) => {
            let away = s.is_closed();
            *store = None;
            Err(if away {
                Failed::Away(e.to_string())
            } else {
                Failed::Other(e.to_string())
            })
        }
    }
}

/// [`on_store`] again and again while the database is away, with a
/// pause growing from 0.2 s to 5 s (the job stays ours: the slot keeps
/// reporting it in progress); `Err` for any other error, or when the
/// worker is asked to stop (the job is handed back then).
fn until_reachable<T>(
    sh: &Shared,
    store: &mut Option<Store>,
    mut op: impl FnMut(&mut Store) -> Result<T, hashdb::error::StoreError>,
) -> Result<T, String> {
    let mut pause = Duration::from_millis(200);
    let mut said = false;
    loop {
        match on_store(sh, store, &mut op) {
            Ok(v) => {
                if said {
                    eprintln!("hashsieve worker: the database is back");
                }
                return Ok(v);
            }
            Err(Failed::Other(e)) => return Err(e),
            Err(Failed::Away(e)) => {
                if sh.stop.load(Ordering::Relaxed) {
                    return Err(e);
                }
                if !said {
                    eprintln!(
                        "hashsieve worker: the database is unreachable, keeping the job and trying again: {e}"
                    );
                    said = true;
                }
                sh.db_waits.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// The blocking part of a delivery: check, scan, queue the records for
/// their batch's commit.
fn process(
    sh: &Shared,
    job: &Job,
    worker: &mut Worker,
    store: Option<Store>,
    commit: &std::sync::mpsc::Sender<ToCommit>,
) -> (AfterScan, Option<Store>) {
    let mut store = store;
    let path = Path::new(OsStr::from_bytes(&job.path));
    let max_tries = sh.max_tries.load(Ordering::Relaxed);
    let given_up = job.delivered > max_tries;
    // A redelivery may be of the file that killed the last worker: what
    // waits for a commit is committed before it is scanned, and nothing
    // waits while it is (see the module docs).
    let suspect = job.delivered > 1;
    let ended = |e| (AfterScan::Ended(e), None);
    let mut rematches = 0;
    let recs = loop {
        match until_reachable(sh, &mut store, |s| s.scan_job_state(&job.run, &job.path)) {
            Ok(JobState::Todo) => {}
            Ok(JobState::NoRun) => return (AfterScan::Ended(Ended::UnknownRun), store),
            Ok(JobState::Done) => return (AfterScan::Ended(Ended::AlreadyDone), store),
            Err(e) => return ended(Ended::StoreFailed(e)),
        }
        if given_up {
            let tries = max_tries;
            break vec![FileRecord::failed(
                path,
                ItemError::new(
                    ErrorKind::Crash,
                    format!("given up after {tries} deliveries: the worker scanning this file died or stalled each time"),
                ),
            )];
        }
        let failures = sh.matcher.as_ref().map(RecordMatcher::meta_read_failures);
        let recs = if suspect {
            sh.suspects.fetch_add(1, Ordering::SeqCst);
            flush(commit);
            let recs = scan_job(sh, path, job.size, worker);
            sh.suspects.fetch_sub(1, Ordering::SeqCst);
            recs
        } else {
            scan_job(sh, path, job.size, worker)
        };
        // A hit's labels could not be read (the database went away
        // mid-scan): match again once it is back, rather than commit a
        // record without them.
        // (A bounded number of times: an entry deleted since the list was
        // loaded fails its read for good.)
        rematches += 1;
        if sh.matcher.as_ref().map(RecordMatcher::meta_read_failures) == failures || rematches > 3 {
            break recs;
        }
        // The same-content cache may hold what was matched meanwhile (this
        // scan's record, or another slot's): forget it all. (A slot that
        // took such a record from the cache before this and started after
        // the failure keeps it: two copies of one file scanned at once
        // across a lost connection.)
        sh.cache.clear();
        if sh.stop.load(Ordering::Relaxed) {
            return ended(Ended::StoreFailed("stopping with the database away".into()));
        }
    };
    // Written and replaced by (run, path): trying again after a lost
    // connection (whose commit may or may not have landed) is safe.
    let (reply, committed) = tokio::sync::oneshot::channel();
    let pending = Pending {
        run: job.run.clone(),
        path: job.path.clone(),
        delivered: job.delivered,
        rows: recs.iter().map(row_of).collect(),
        given_up,
        alone: suspect,
        reply,
    };
    if commit.send(ToCommit::Job(pending)).is_err() {
        return (
            AfterScan::Ended(Ended::StoreFailed("the committing thread is gone".into())),
            store,
        );
    }
    (AfterScan::Queued(committed), store)
}

/// Have the committing thread commit what waits, and wait until it has.
fn flush(commit: &std::sync::mpsc::Sender<ToCommit>) {
    let (done, flushed) = std::sync::mpsc::channel();
    if commit.send(ToCommit::Flush(done)).is_ok() {
        let _ = flushed.recv();
    }
}

/// Scan one input file exactly as `scan` does: its members' records, then
/// its own.
fn scan_job(sh: &Shared, path: &Path, size: u64, worker: &mut Worker) -> Vec<FileRecord> {
    if sh
        .abort_on
        .as_deref()
        .is_some_and(|n| path.file_name() == Some(n))
    {
        std::process::abort();
    }
    let never = || false;
    let ctx = Ctx {
        cfg: &sh.cfg.scan,
        isolation: &sh.isolation,
        matcher: sh.matcher.as_ref(),
        cache: &sh.cache,
        stop: &never,
    };
    let mut recs = Vec::new();
    let mut stats = WorkStats::default();
    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut emit = |r: FileRecord| recs.push(r);
        ctx.scan_file(path, size, worker, &mut stats, &mut emit)
    }));
    match res {
        Ok(Scanned::Done(own)) => recs.push(*own),
        // `stop` never asks to stop, so this does not happen; a record
        // keeps the file from vanishing from the run if it ever does.
        Ok(Scanned::Stopped) => recs.push(FileRecord::failed(
            path,
            ItemError::new(
                ErrorKind::Decode,
                "scan stopped before the end of this file",
            ),
        )),
        Err(_) => {
            // As `scan` does: a bug costs this file, with a record.
            *worker = Worker::new();
            recs.push(FileRecord::failed(
                path,
                ItemError::new(
                    ErrorKind::Decode,
                    "internal error (panic) while scanning this file",
                ),
            ));
        }
    }
    recs
}

fn row_of(rec: &FileRecord) -> RunRecord {
    let line = rec.to_json_line();
    let facts = serde_json::from_str(&line)
        .map(|v| Summary::default().add_record(&v))
        .unwrap_or_default();
    RunRecord {
        path: rec.path_os.as_os_str().as_bytes().to_vec(),
        matches: facts.matches,
        error: rec.error.as_ref().map(|e| e.kind.as_str().to_string()),
        line,
    }
}
