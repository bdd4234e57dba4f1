//! Decoders in sandboxed worker processes.
//!
//! `catch_unwind` turns a panic in a decoder into an error record, but a
//! crash or an abort in FFmpeg (C), an allocation failure (Rust aborts), or
//! the kernel's OOM killer takes the whole process down, with every file in
//! flight. So `scan` and `serve` hash each item in a worker process
//! ([`worker`]: the same binary, `hashsieve __decode-worker`) that runs
//! under resource limits and a seccomp filter ([`policy`]): no filesystem,
//! no network, no new processes. The parent opens the item (a file, or a
//! memfd of bytes it holds) and passes the descriptor ([`protocol`]). A
//! worker that dies costs its item a record with error kind `crash` (the
//! digests, computed by the parent, still there to match on); one that
//! does not answer in time is killed, and its item gets `timeout`. The
//! scan or the service goes on with a fresh worker ([`pool`]).
//!
//! What stays in the parent: walking, reading files, the archive readers
//! (zip, tar, gzip in Rust; zstd and xz through their C libraries), the
//! digests of archives, matching, and the service's HTTP handling.
//!
//! [`Isolation::InProcess`] keeps the old path (`--no-sandbox`, the
//! `hash` command, the fuzz targets): the same hashing code, called
//! directly.

pub mod policy;
pub mod pool;
pub mod protocol;
pub mod worker;

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, FromRawFd};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{ErrorKind, ItemError};
use crate::hashing::crypto::{digest, MultiDigest};
use crate::hashing::{hash_bytes, hash_path, open_regular, HashConfig, Worker};
use crate::media::sniff::SNIFF_LEN;
use crate::record::FileRecord;
pub use pool::{Failure, Pool};
pub use worker::WORKER_ARG;

/// Default memory limit of a worker, MiB.
pub const DEFAULT_MEMORY_MIB: u64 = 4096;
/// Wall-clock margin over the video timeout before a worker is killed.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(30);

/// Limits of the decoder workers.
#[derive(Debug, Clone, PartialEq)]
pub struct SandboxConfig {
    /// Memory of one worker (`RLIMIT_DATA`), MiB.
    pub memory_mib: u64,
    /// CPU seconds one item may use, all its threads together.
    pub cpu_seconds: u64,
    /// Wall clock one item may take before its worker is killed; `None`:
    /// no limit.
    pub timeout: Option<Duration>,
}

impl SandboxConfig {
    /// The defaults for videos limited to `video_timeout`: 4 GiB, the
    /// video timeout (10 minutes when there is none) times the cores in
    /// CPU seconds (a video decodes on every core), and the video timeout
    /// plus 30 s of wall clock (the worker's own timeout answers first,
    /// with a normal record).
    pub fn defaults(video_timeout: Option<Duration>) -> SandboxConfig {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
        let per_core = video_timeout
            .unwrap_or(Duration::from_secs(600))
            .as_secs()
            .max(1);
        SandboxConfig {
            memory_mib: DEFAULT_MEMORY_MIB,
            cpu_seconds: per_core.saturating_mul(cores),
            timeout: video_timeout.map(|t| t + DEADLINE_MARGIN),
        }
    }

    pub(crate) fn memory_bytes(&self) -> u64 {
        self.memory_mib.max(1).saturating_mul(1 << 20)
    }

    /// A worker's CPU time for its whole life (see [`pool`]).
    pub(crate) fn lifetime_cpu_seconds(&self) -> u64 {
        self.cpu_seconds.max(1).saturating_mul(2)
    }
}

/// Where items are decoded: in this process, or in sandboxed workers.
#[derive(Debug, Clone, Default)]
pub enum Isolation {
    /// Decoders run on the calling thread (`--no-sandbox`).
    #[default]
    InProcess,
    /// Decoders run in the pool's workers.
    Sandboxed(Arc<Pool>),
}

/// Why the sandbox could not start.
#[derive(Debug, thiserror::Error)]
#[error("the decoder sandbox could not start: {0} (--no-sandbox decodes in-process, without it)")]
pub struct StartError(pub String);

impl Isolation {
    /// Start workers for `cfg`, or decode in-process for `None`.
    ///
    /// # Errors
    /// The first worker could not be started and confined.
    pub fn start(cfg: Option<&SandboxConfig>) -> Result<Isolation, StartError> {
        match cfg {
            None => Ok(Isolation::InProcess),
            Some(c) => Pool::start(c.clone())
                .map(|p| Isolation::Sandboxed(Arc::new(p)))
                .map_err(StartError),
        }
    }

    pub fn is_sandboxed(&self) -> bool {
        matches!(self, Isolation::Sandboxed(_))
    }

    /// [`crate::hashing::hash_bytes`], in a worker when sandboxed.
    pub fn hash_bytes(
        &self,
        path: &Path,
        data: &[u8],
        cfg: &HashConfig,
        worker: &mut Worker,
    ) -> FileRecord {
        let pool = match self {
            Isolation::InProcess => return hash_bytes(path, data, cfg, worker),
            Isolation::Sandboxed(p) => p,
        };
        let memfd = match memfd_of(data) {
            Ok(f) => f,
            Err(e) => {
                let mut rec = failed_record(path, data, data.len() as u64);
                rec.error = Some(ItemError::io("handing the item to the decoder", &e));
                return rec;
            }
        };
        match pool.hash(path, memfd.as_fd(), cfg) {
            Ok(rec) => rec,
            Err(f) => {
                let mut rec = failed_record(path, data, data.len() as u64);
                rec.error = Some(failure_error(&f));
                rec
            }
        }
    }

    /// [`crate::hashing::hash_path`], in a worker when sandboxed (the
    /// parent opens the file; the worker reads it).
    pub fn hash_path(&self, path: &Path, cfg: &HashConfig, worker: &mut Worker) -> FileRecord {
        let pool = match self {
            Isolation::InProcess => return hash_path(path, cfg, worker),
            Isolation::Sandboxed(p) => p,
        };
        let (mut file, _) = match open_regular(path) {
            Ok(f) => f,
            Err(e) => return FileRecord::failed(path, e),
        };
        match pool.hash(path, file.as_fd(), cfg) {
            Ok(rec) => rec,
            Err(f) => {
                // The digests, from our own read of the file.
                let mut rec = digest_file(path, &mut file);
                let err = failure_error(&f);
                rec.error = Some(match rec.error.take() {
                    None => err,
                    Some(io) => ItemError::new(err.kind, format!("{}; {}", err.message, io)),
                });
                rec
            }
        }
    }
}

/// The record of an item whose worker gave none: its digests and media
/// kind, from the bytes the parent has.
fn failed_record(path: &Path, data: &[u8], len: u64) -> FileRecord {
    let mut rec = FileRecord::new(path);
    rec.media = crate::media::sniff(&data[..data.len().min(SNIFF_LEN)]).label();
    rec.set_digests(&digest(data), len);
    rec
}

fn digest_file(path: &Path, file: &mut File) -> FileRecord {
    let mut rec = FileRecord::new(path);
    if let Err(e) = file.seek(SeekFrom::Start(0)) {
        rec.error = Some(ItemError::io("seek", &e));
        return rec;
    }
    let mut d = MultiDigest::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut head_done = false;
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if !head_done {
                    rec.media = crate::media::sniff(&buf[..n.min(SNIFF_LEN)]).label();
                    head_done = true;
                }
                d.update(&buf[..n]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                rec.bytes = d.bytes();
                rec.error = Some(ItemError::io("read", &e));
                return rec;
            }
        }
    }
    let n = d.bytes();
    rec.set_digests(&d.finish(), n);
    rec
}

/// The error of an item whose worker gave no record.
pub fn failure_error(f: &Failure) -> ItemError {
    match f {
        Failure::Start(m) => ItemError::new(
            ErrorKind::Crash,
            format!("no decoder process could be started: {m}"),
        ),
        Failure::Died(st) => ItemError::new(
            ErrorKind::Crash,
            format!(
                "the decoder process died on this item ({})",
                pool::describe_status(Some(*st))
            ),
        ),
        Failure::TimedOut(t) => ItemError::new(
            ErrorKind::Timeout,
            format!(
                "the decoder process gave no answer within {} s and was killed",
                t.as_secs()
            ),
        ),
        Failure::Broken(m) => ItemError::new(
            ErrorKind::Crash,
            format!("the decoder process broke its protocol ({m}) and was killed"),
        ),
    }
}

/// A memfd holding `data` (how bytes the parent holds reach a worker).
fn memfd_of(data: &[u8]) -> std::io::Result<File> {
    // SAFETY: memfd_create takes a NUL-terminated name; the descriptor it
    // returns is ours alone.
    let fd = unsafe { libc::memfd_create(c"hashsieve-item".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor we own.
    let mut f = unsafe { File::from_raw_fd(fd) };
    f.write_all(data)?;
    Ok(f)
}
