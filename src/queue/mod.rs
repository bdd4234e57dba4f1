//! Distributed scanning over NATS JetStream: `scan --queue` publishes one
//! job per input file ([`producer`]), any number of `hashsieve worker`
//! processes on any machines consume them ([`worker`]) and write each
//! record to the run tables of the shared database
//! (`hashdb::store::runs`).
//!
//! Delivery is at-least-once, so every write is idempotent, keyed by (run,
//! path), and a job is acked only after its records are committed: a
//! worker killed at any point leaves either nothing (the job is redelivered
//! after the ack deadline) or its committed records (the redelivered job
//! sees them and is acked, or rewrites the same keys). A job that keeps
//! killing its workers is given up after [`WorkerConfig::max_tries`]
//! deliveries with an error record of its own (kind `crash`).
//!
//! One job is one top-level input file; the worker opens archives and
//! records their members as `scan` does (`a.zip!/b.jpg`), with the same
//! per-file code ([`crate::scan::process::Ctx::scan_file`]), so a run's
//! records are those a local `scan` of the same files writes. An archive
//! is never split across workers.
//!
//! Threading: the NATS client runs on a tokio runtime; hashing and the
//! database writes run on plain OS threads outside it (the worker's slot
//! threads, the producer's calling thread), never on the runtime's
//! workers: the synchronous PostgreSQL client refuses to run inside a
//! runtime.

pub mod producer;
pub mod worker;

pub use worker::WorkerConfig;

use std::time::Duration;

/// The JetStream stream holding the jobs of every run.
pub const STREAM: &str = "HASHSIEVE_JOBS";
/// Subject prefix: the jobs of run `R` go to `hashsieve.jobs.R`.
pub const SUBJECT_PREFIX: &str = "hashsieve.jobs.";
/// The durable pull consumer all workers share (a work queue: each job
/// goes to one of them).
pub const CONSUMER: &str = "hashsieve-workers";
/// Header carrying the file's size when it was walked.
pub const SIZE_HEADER: &str = "Hashsieve-Size";
/// How long JetStream drops a second publication of the same job (same
/// run and path): a producer restarted with `--resume` right away.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

/// Why the queue could not be used (per-file problems are records).
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("the queue URL must be nats://HOST:PORT (got {0:?})")]
    BadUrl(String),
    #[error("run names are 1 to 64 letters, digits, '-' or '_' (got {0:?})")]
    BadRunName(String),
    #[error("connecting to NATS at {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: async_nats::ConnectError,
    },
    #[error("setting up the JetStream {what}: {message}")]
    Setup { what: &'static str, message: String },
    #[error("publishing a job: {0}")]
    Publish(String),
    #[error(transparent)]
    Store(#[from] hashdb::error::StoreError),
    #[error(transparent)]
    RunStart(#[from] hashdb::store::runs::RunStartError),
    #[error("starting the runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error(transparent)]
    Sandbox(#[from] crate::sandbox::StartError),
}

/// Check a run name: it is part of a NATS subject, so only safe bytes.
///
/// # Errors
/// [`QueueError::BadRunName`].
pub fn check_run_name(name: &str) -> Result<(), QueueError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(QueueError::BadRunName(name.to_string()))
    }
}

/// Check the queue URL (`nats://host:port`; `tls://` too).
///
/// # Errors
/// [`QueueError::BadUrl`].
pub fn check_url(url: &str) -> Result<(), QueueError> {
    let rest = url
        .strip_prefix("nats://")
        .or_else(|| url.strip_prefix("tls://"));
    match rest {
        Some(r) if !r.is_empty() && !r.contains('/') => Ok(()),
        _ => Err(QueueError::BadUrl(url.to_string())),
    }
}

/// Connect, retrying in the background when the server is down (a NATS
/// restart mid-run: the client reconnects by itself, forever).
async fn connect(url: &str, name: &str) -> Result<async_nats::Client, QueueError> {
    check_url(url)?;
    async_nats::ConnectOptions::new()
        .name(name)
        .max_reconnects(None)
        .retry_on_initial_connect()
        .connect(url)
        .await
        .map_err(|source| QueueError::Connect {
            url: url.to_string(),
            source,
        })
}

/// The jobs stream (created on first use): a work queue on disk, so jobs
/// survive a NATS restart and each is removed once acked.
async fn jobs_stream(
    js: &async_nats::jetstream::Context,
) -> Result<async_nats::jetstream::stream::Stream, QueueError> {
    use async_nats::jetstream::stream::{Config, RetentionPolicy, StorageType};
    js.get_or_create_stream(Config {
        name: STREAM.to_string(),
        subjects: vec![format!("{SUBJECT_PREFIX}*")],
        retention: RetentionPolicy::WorkQueue,
        storage: StorageType::File,
        duplicate_window: DUPLICATE_WINDOW,
        ..Config::default()
    })
    .await
    .map_err(|e| QueueError::Setup {
        what: "stream",
        message: e.to_string(),
    })
}

/// Remove the jobs of `run` still waiting at the NATS server `url` (a run
/// pruned before it finished: its jobs would otherwise reach workers
/// that drop them one by one as jobs of an unknown run). Returns how many
/// were removed; 0 when the server has no jobs stream. Jobs a worker
/// holds at that moment are not in the stream's count: their commit fails
/// on the deleted run and the worker drops them.
///
/// # Errors
/// A bad URL or run name, the server unreachable (no retry: this is a
/// command a person waits for), the purge refused.
pub fn purge_run_jobs(url: &str, run: &str) -> Result<u64, QueueError> {
    use async_nats::jetstream::context::GetStreamErrorKind;
    use async_nats::jetstream::ErrorCode;
    check_url(url)?;
    check_run_name(run)?;
    let rt = runtime()?;
    rt.block_on(async {
        let client = async_nats::ConnectOptions::new()
            .name("hashsieve runs prune")
            .connection_timeout(Duration::from_secs(5))
            .connect(url)
            .await
            .map_err(|source| QueueError::Connect {
                url: url.to_string(),
                source,
            })?;
        let js = async_nats::jetstream::new(client);
        let stream = match js.get_stream(STREAM).await {
            Ok(s) => s,
            Err(e)
                if matches!(e.kind(), GetStreamErrorKind::JetStream(j)
                    if j.error_code() == ErrorCode::STREAM_NOT_FOUND) =>
            {
                return Ok(0)
            }
            Err(e) => {
                return Err(QueueError::Setup {
                    what: "stream",
                    message: e.to_string(),
                })
            }
        };
        let purged = stream
            .purge()
            .filter(format!("{SUBJECT_PREFIX}{run}"))
            .await
            .map_err(|e| QueueError::Setup {
                what: "purge",
                message: e.to_string(),
            })?;
        Ok(purged.purged)
    })
}

/// A tokio runtime for the client (two threads: it only moves messages).
fn runtime() -> Result<tokio::runtime::Runtime, QueueError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(QueueError::Runtime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_names_and_urls() {
        assert!(check_run_name("nightly-2026_12").is_ok());
        for bad in ["", "a.b", "a b", "a*", "a>", &"x".repeat(65)] {
            assert!(check_run_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_url("nats://127.0.0.1:4222").is_ok());
        assert!(check_url("http://x").is_err());
        assert!(check_url("nats://").is_err());
    }
}
