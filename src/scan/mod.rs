//! `scan`: the batch pipeline that flags known media in folders and
//! archives.
//!
//! Data flow: a parallel walk ([`walker`]) sends files into a bounded
//! channel; worker threads (one [`Worker`] scratch each) read every file
//! once, open archives in place ([`crate::archive`]), hash with the same
//! code as `hash`, match ([`crate::matching`]) and send each file's records
//! to the single writer (the calling thread), which owns the report, the
//! summary and the resume state. Both channels are bounded, so memory
//! depends on the number of workers, not on the size of the input.
//!
//! Every input file yields its records exactly once per run (a file's
//! records travel together, so an archive is never half reported); a bad
//! file is an error record, never a stop. Setting `stop` (Ctrl-C) ends the
//! walk, lets in-flight files finish, and returns normally with
//! `interrupted` set.

pub mod dedupe;
pub mod process;
pub mod report;
pub mod resume;
pub mod summary;
pub mod walker;

use crate::archive::ArchiveLimits;
use crate::error::{ErrorKind, ItemError};
use crate::hashing::{HashConfig, Worker};
use crate::matching::RecordMatcher;
use crate::progress::Progress;
use crate::record::FileRecord;
use crossbeam_channel::bounded;
use dedupe::ContentCache;
use process::{Ctx, WorkStats};
use resume::{RunState, StateError, StateLookup};
use serde_json::Value;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use summary::Summary;
use walker::{FileKey, Input};

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
}

/// One input file's outcome, as sent to the writer.
enum Outcome {
    Fresh {
        key: Option<FileKey>,
        records: Vec<Line>,
        stats: WorkStats,
    },
    /// Done in an earlier session of the run: the stored JSON lines.
    Stored { key: FileKey, lines: String },
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

fn work(
    input: Input,
    ctx: &Ctx<'_>,
    lookup: Option<&StateLookup>,
    worker: &mut Worker,
) -> Result<Outcome, StateError> {
    match input {
        Input::Failed(path, error) => Ok(Outcome::Fresh {
            key: None,
            records: vec![Line::of(&FileRecord::failed(&path, error))],
            stats: WorkStats::default(),
        }),
        Input::File(key) => {
            if let Some(l) = lookup {
                if let Some(lines) = l.get(&key)? {
                    return Ok(Outcome::Stored { key, lines });
                }
            }
            let mut out = Vec::new();
            let mut stats = WorkStats::default();
            let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                ctx.scan_file(&key.path, key.size, worker, &mut stats, &mut out)
            }));
            if res.is_err() {
                // A bug must not lose the file: report it, and start the
                // worker's scratch afresh.
                *worker = Worker::new();
                out.clear();
                out.push(FileRecord::failed(
                    &key.path,
                    ItemError::new(
                        ErrorKind::Decode,
                        "internal error (panic) while scanning this file",
                    ),
                ));
            }
            Ok(Outcome::Fresh {
                key: Some(key),
                records: out.iter().map(Line::of).collect(),
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
    let cache = ContentCache::new(cfg.dedupe_cache_bytes);
    let ctx = Ctx {
        cfg,
        matcher,
        cache: &cache,
    };
    let (in_tx, in_rx) = bounded::<Input>(1024);
    let (out_tx, out_rx) = bounded::<Result<Outcome, StateError>>(threads * 4);
    // Errors that end the scan (the first one wins).
    let internal_stop = AtomicBool::new(false);
    let stopped = || stop.load(Ordering::Relaxed) || internal_stop.load(Ordering::Relaxed);
    let mut fatal: Option<ScanError> = None;
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
                walker::walk(
                    roots,
                    cfg.follow_links,
                    threads.clamp(1, 4),
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
                        if tx.send(work(input, ctx, lookup, &mut worker)).is_err() {
                            break;
                        }
                    }
                })
                .map_err(ScanError::Thread)?;
        }
        drop(in_rx);
        drop(out_tx);
        for outcome in out_rx.iter() {
            if fatal.is_some() {
                continue; // draining so the workers can end
            }
            if let Err(e) =
                write_outcome(outcome, &mut summary, state.as_deref_mut(), progress, sink)
            {
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

fn write_outcome(
    outcome: Result<Outcome, StateError>,
    summary: &mut Summary,
    state: Option<&mut RunState>,
    progress: &dyn Progress,
    sink: &mut dyn FnMut(&Line) -> io::Result<()>,
) -> Result<(), ScanError> {
    let (key, records, fresh) = match outcome? {
        Outcome::Fresh {
            key,
            records,
            stats,
        } => {
            summary.deduplicated += stats.deduplicated;
            (key, records, true)
        }
        Outcome::Stored { key, lines } => {
            summary.resumed_files += 1;
            let records = lines
                .lines()
                .filter(|l| !l.is_empty())
                .map(|l| Line::parse(l.to_string()))
                .collect();
            (Some(key), records, false)
        }
    };
    let (mut matches, mut errors) = (0, 0);
    for r in &records {
        sink(r).map_err(ScanError::Output)?;
        let f = summary.add_record(&r.value);
        matches += f.matches;
        errors += u64::from(f.error);
    }
    summary.files += 1;
    let bytes = key.as_ref().map_or(0, |k| k.size);
    summary.bytes += bytes;
    progress.file_done(bytes, records.len() as u64, matches, errors);
    if let (Some(st), Some(key), true) = (state, key, fresh) {
        // A file that could not be read is tried again on resume.
        let io_failed = records
            .first()
            .and_then(|r| r.value.get("error"))
            .and_then(|e| e.get("kind"))
            == Some(&Value::String("io".into()));
        if !io_failed {
            let mut lines = String::new();
            for r in &records {
                lines.push_str(&r.text);
                lines.push('\n');
            }
            st.record(&key, lines)?;
        }
    }
    Ok(())
}
