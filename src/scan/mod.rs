//! `scan`: the batch pipeline that flags known media in folders and
//! archives.
//!
//! Data flow: a parallel walk ([`walker`]) sends files into a bounded
//! channel; worker threads (one [`Worker`] scratch each) read every file
//! once, open archives in place ([`crate::archive`]), hash with the same
//! code as `hash`, match ([`crate::matching`]) and send the records to the
//! single writer ([`writer`], on the calling thread), which owns the
//! report, the summary and the resume state. Both channels are bounded and
//! an archive's member records are sent as each is made, so memory depends
//! on the number of workers, not on the size of the input or of an archive.
//!
//! Every input file yields its records exactly once per run; a bad file is
//! an error record, never a stop. Records are written as they are made:
//! the members of an archive while it is read (interleaved with the
//! records of files other workers scan), the archive's own record after
//! them. Setting `stop` (Ctrl-C) ends the walk, lets plain files in flight
//! finish, stops an archive before its next member (the records of its
//! members so far stay, complete; the archive gets no record of its own
//! and is not stored as done, so a resumed run reads it again), and
//! returns normally with `interrupted` set.

pub mod dedupe;
pub mod process;
pub mod report;
pub mod resume;
pub mod shard;
pub mod summary;
mod writer;

use crate::archive::ArchiveLimits;
use crate::error::{ErrorKind, ItemError};
use crate::hashing::{HashConfig, Worker};
use crate::matching::RecordMatcher;
use crate::progress::Progress;
use crate::record::FileRecord;
use crate::walk::Input;
use crossbeam_channel::{bounded, Sender};
use dedupe::ContentCache;
use process::{Ctx, Scanned, WorkStats};
use resume::{RunState, StateError, StateLookup};
use serde_json::Value;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use summary::Summary;
use writer::{Msg, Outcome, Writer};

/// What to scan and how.
#[derive(Debug, Clone)]
pub struct ScanConfig {
    /// Files and folders to scan.
    pub roots: Vec<PathBuf>,
    /// Worker threads (0 = one per core).
    pub threads: usize,
    /// Hashing options and decoder limits (as for `hash`).
    pub hash: HashConfig,
    /// Archive limits.
    pub archives: ArchiveLimits,
    /// Follow symbolic links (with loop detection).
    pub follow_links: bool,
    /// Files up to this size are read whole into memory (so same content
    /// is recognised before decoding); larger ones are streamed.
    pub in_memory_max: u64,
    /// Memory for the same-content cache, in bytes.
    pub dedupe_cache_bytes: usize,
    /// Only the files of this shard (`--shard I/N`); all without one.
    pub shard: Option<shard::Shard>,
    /// Decode in sandboxed worker processes under these limits (see
    /// [`crate::sandbox`]); `None`: in this process.
    pub sandbox: Option<crate::sandbox::SandboxConfig>,
}

impl Default for ScanConfig {
    fn default() -> Self {
        ScanConfig {
            roots: Vec::new(),
            threads: 0,
            hash: HashConfig::default(),
            archives: ArchiveLimits::default(),
            follow_links: true,
            in_memory_max: 64 << 20,
            dedupe_cache_bytes: 64 << 20,
            shard: None,
            sandbox: None,
        }
    }
}

/// What a scan reports to besides its sink.
pub struct ScanEnv<'a> {
    /// Lists to match against; `None` = hashes only.
    pub matcher: Option<&'a RecordMatcher>,
    pub progress: &'a dyn Progress,
    /// Set it (from a signal handler) to stop early.
    pub stop: &'a AtomicBool,
    /// Resume state of this run; `None` = not recorded.
    pub state: Option<&'a mut RunState>,
}

/// Why a scan stopped before its end (per-file problems never do).
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error("writing the report: {0}")]
    Output(#[source] io::Error),
    #[error("could not start a thread: {0}")]
    Thread(#[source] io::Error),
    #[error(transparent)]
    Sandbox(#[from] crate::sandbox::StartError),
}

/// One reported record: its JSON line (field order as in `hash`) and the
/// same as a value (for the summary and the other formats).
pub struct Line {
    pub text: String,
    pub value: Value,
}

impl Line {
    fn of(rec: &FileRecord) -> Line {
        let text = rec.to_json_line();
        Line::parse(text)
    }

    fn parse(text: String) -> Line {
        match serde_json::from_str(&text) {
            Ok(value) => Line { text, value },
            Err(e) => {
                let value = serde_json::json!({"path": null, "error":
                    {"kind": "io", "message": format!("damaged record: {e}")}});
                Line {
                    text: value.to_string(),
                    value,
                }
            }
        }
    }
}

/// Scan one input on worker `from`, sending the records of archive
/// members to the writer as they are made; the file's own record is in
/// the outcome.
fn work(
    input: Input,
    ctx: &Ctx<'_>,
    lookup: Option<&StateLookup>,
    worker: &mut Worker,
    from: usize,
    tx: &Sender<Msg>,
) -> Result<Outcome, StateError> {
    match input {
        Input::Failed(path, error) => Ok(Outcome::Fresh {
            key: None,
            own: Line::of(&FileRecord::failed(&path, error)),
            stats: WorkStats::default(),
        }),
        Input::File(key) => {
            if let Some(l) = lookup {
                if let Some(lines) = l.get(&key)? {
                    return Ok(Outcome::Stored { key, lines });
                }
            }
            let mut stats = WorkStats::default();
            let mut emit = |rec: FileRecord| {
                // The writer drains the channel until every worker is
                // done, so a send fails only when there is nobody left
                // to report to.
                let _ = tx.send(Msg::Part {
                    from,
                    line: Line::of(&rec),
                });
            };
            let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                ctx.scan_file(&key.path, key.size, worker, &mut stats, &mut emit)
            }));
            let own = match res {
                Ok(Scanned::Done(rec)) => *rec,
                Ok(Scanned::Stopped) => return Ok(Outcome::Stopped { stats }),
                Err(_) => {
                    // A bug must not lose the file: report it (after the
                    // members already sent), and start the worker's
                    // scratch afresh.
                    *worker = Worker::new();
                    FileRecord::failed(
                        &key.path,
                        ItemError::new(
                            ErrorKind::Decode,
                            "internal error (panic) while scanning this file",
                        ),
                    )
                }
            };
            Ok(Outcome::Fresh {
                key: Some(key),
                own: Line::of(&own),
                stats,
            })
        }
    }
}

/// Run the scan, handing each record to `sink` (from this thread only).
///
/// # Errors
/// The resume state failed, or `sink` failed (the scan stops; everything
/// reported so far is in the state).
pub fn scan(
    cfg: &ScanConfig,
    env: ScanEnv<'_>,
    sink: &mut dyn FnMut(&Line) -> io::Result<()>,
) -> Result<Summary, ScanError> {
    let started = Instant::now();
    let threads = if cfg.threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        cfg.threads
    };
    let ScanEnv {
        matcher,
        progress,
        stop,
        mut state,
    } = env;
    let mut summary = Summary {
        run: state.as_ref().map(|s| s.run().to_string()),
        matching: matcher.is_some(),
        indexed_pdq_hashes: matcher.map_or(0, |m| m.entries()),
        ..Summary::default()
    };
    let lookup = state
        .as_ref()
        .filter(|s| s.is_resumed())
        .map(|s| s.lookup());
    // Errors that end the scan (the first one wins).
    let internal_stop = AtomicBool::new(false);
    let stopped = || stop.load(Ordering::Relaxed) || internal_stop.load(Ordering::Relaxed);
    let mut fatal: Option<ScanError> = None;
    let cache = ContentCache::new(cfg.dedupe_cache_bytes);
    let isolation = crate::sandbox::Isolation::start(cfg.sandbox.as_ref())?;
    let ctx = Ctx {
        cfg,
        isolation: &isolation,
        matcher,
        cache: &cache,
        stop: &stopped,
    };
    let (in_tx, in_rx) = bounded::<Input>(1024);
    // Room for a burst of small member records per worker.
    let (out_tx, out_rx) = bounded::<Msg>(threads * 64);
    std::thread::scope(|s| -> Result<(), ScanError> {
        // Owned by this closure: an early return (a thread that cannot be
        // spawned) drops them, which ends the threads already running.
        let (in_rx, out_tx, out_rx) = (in_rx, out_tx, out_rx);
        let roots = &cfg.roots;
        std::thread::Builder::new()
            .name("hashsieve-walk".into())
            .spawn_scoped(s, move || {
                // The internal stop needs no flag here: once the workers
                // quit, the walk's sends fail and it ends.
                crate::walk::walk(
                    roots,
                    cfg.follow_links,
                    threads.clamp(1, 4),
                    cfg.shard,
                    &in_tx,
                    stop,
                    progress,
                );
                drop(in_tx);
                progress.walk_done();
            })
            .map_err(ScanError::Thread)?;
        for i in 0..threads {
            let rx = in_rx.clone();
            let tx = out_tx.clone();
            let ctx = &ctx;
            let lookup = lookup.as_ref();
            let stopped = &stopped;
            std::thread::Builder::new()
                .name(format!("hashsieve-scan-{i}"))
                .spawn_scoped(s, move || {
                    let mut worker = Worker::new();
                    for input in rx.iter() {
                        if stopped() {
                            break;
                        }
                        let outcome = work(input, ctx, lookup, &mut worker, i, &tx);
                        if tx.send(Msg::Done { from: i, outcome }).is_err() {
                            break;
                        }
                    }
                })
                .map_err(ScanError::Thread)?;
        }
        drop(in_rx);
        drop(out_tx);
        let mut writer = Writer::new(&mut summary, state.as_deref_mut(), progress, sink, threads);
        for msg in out_rx.iter() {
            if fatal.is_some() {
                continue; // draining so the workers can end
            }
            if let Err(e) = writer.take(msg) {
                fatal = Some(e);
                internal_stop.store(true, Ordering::Relaxed);
            }
        }
        Ok(())
    })?;
    summary.interrupted = stop.load(Ordering::Relaxed) && fatal.is_none();
    if let Some(st) = state {
        let r = st.finish(summary.interrupted || fatal.is_some());
        if fatal.is_none() {
            r?;
        }
    }
    progress.finish();
    if let Some(e) = fatal {
        return Err(e);
    }
    summary.seconds = started.elapsed().as_secs_f64();
    summary.exit_code = summary.compute_exit_code();
    Ok(summary)
}
