//! `hashsieve serve`: the HTTP service for upload scanning.
//!
//! Why a service at all: an upload path needs an answer in milliseconds,
//! from an index already in memory, under load, from something hostile
//! input cannot take down. This module wires the library's hashing
//! ([`crate::hashing`]) and matching ([`crate::matching`]) behind axum:
//! our `/v1` API (documented by a generated OpenAPI document), the HMA 2.0
//! routes, bearer tokens with scopes, a bounded hashing pool that sheds
//! load with 503s, a body limit enforced while streaming, a per-request
//! timeout, live list updates, Prometheus metrics and graceful shutdown.
//!
//! Threading: one tokio runtime; hashing and database work run on its
//! blocking pool (hashing behind the job semaphore); hash lookups run on
//! the executor under a read lock (microseconds).

mod api;
mod auth;
mod body;
mod error;
mod fetch;
pub mod fuzzing;
mod hma;
mod index_save;
mod jobs;
mod listen;
mod lists;
mod live;
mod metrics;
mod openapi;
mod router;
mod state;

pub use hma::exchange_fetch::DEFAULT_INTERVAL_SECS as HMA_FETCH_INTERVAL_SECS;
pub use hma::{HmaRole, HmaRoles};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use hashdb::error::{OpenError, StoreError};
use hashdb::store::{OpenOptions, Store};

use crate::hashing::HashConfig;
use crate::matching::{MatchConfig, MatchError, RecordMatcher};

pub use openapi::document as openapi_document;

/// Everything `serve` needs, validated by the caller.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub db: PathBuf,
    pub open: OpenOptions,
    pub hash: HashConfig,
    /// Decode uploads in sandboxed worker processes under these limits
    /// (see [`crate::sandbox`]); `None`: in this process.
    pub sandbox: Option<crate::sandbox::SandboxConfig>,
    pub matching: MatchConfig,
    /// Largest request body, bytes.
    pub max_body: u64,
    /// Uploads read at once (0 = four times running + queued hashing jobs).
    pub max_uploads: usize,
    /// Most frames a vPDQ query (`/v1/match/vpdq`) may have.
    pub max_query_frames: usize,
    /// Largest JSON body, bytes (settings, signals, `/m/compare`).
    pub max_json: u64,
    /// Hashing jobs at once (0 = one per core).
    pub max_jobs: usize,
    /// Hashing requests waiting beyond those (0 = `2 * max_jobs`).
    pub queue: usize,
    /// Per-request time limit.
    pub timeout: Duration,
    /// Connections open at once.
    pub max_connections: usize,
    /// Time a client has to send a request head (and to start the next
    /// one on a kept-alive connection).
    pub header_timeout: Duration,
    /// How often to look for list changes made elsewhere.
    pub poll: Duration,
    /// Serve a non-loopback address with no tokens configured.
    pub insecure_no_auth: bool,
    /// Require a token even when none exists at start (every request is
    /// refused until one is created).
    pub require_auth: bool,
    /// `/metrics` needs a token with the `match` scope (it shows list
    /// names).
    pub metrics_require_auth: bool,
    /// Async worker threads (0 = one per core).
    pub threads: usize,
    /// Hosts media may be fetched from by URL (HMA's `?url=`); empty =
    /// fetching off.
    pub fetch_allow_hosts: Vec<String>,
    /// Extra trusted roots (PEM) for fetching by URL over https.
    pub fetch_ca_file: Option<PathBuf>,
    /// Query-side views on the HMA routes too (off: HMA's answers); each
    /// match then names its view in an extra `view` field.
    pub hma_views: bool,
    /// HMA's roles served (`--hma-roles`; default all).
    pub hma_roles: hma::HmaRoles,
    /// How often exchanges are fetched from (`None`: only on `POST
    /// /dev/run_fetch`).
    pub hma_fetch_interval: Option<Duration>,
    /// Folders `local_file` exchanges may read (none: no file).
    pub hma_local_file_dirs: Vec<PathBuf>,
}

/// Why the server could not start (or stopped).
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("opening the hash database: {0}")]
    Open(#[from] OpenError),
    #[error("loading the lists: {0}")]
    Load(#[from] MatchError),
    #[error("reading the hash database: {0}")]
    Store(#[from] StoreError),
    #[error("refusing to serve {0} without authentication: no API token exists (create one with `hashsieve token create --scope match`), or pass --insecure-no-auth")]
    NoAuth(SocketAddr),
    #[error("listening on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Sandbox(#[from] crate::sandbox::StartError),
    #[error(transparent)]
    Fetch(#[from] fetch::FetchSetupError),
    #[error(transparent)]
    LocalDir(#[from] hma::exchange_fetch::LocalDirError),
}

/// JSON bodies read at once; more get 503. With the default 1 MiB limit
/// and at most ~16x growth when parsed, this bounds them to ~256 MiB.
const JSON_SLOTS: usize = 16;

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Run the server until SIGTERM or SIGINT; `on_listening` is called with
/// the bound address once requests are accepted (the index is loaded
/// first). In-flight requests finish before this returns.
///
/// # Errors
/// The database cannot be opened or loaded, the address cannot be bound,
/// or a non-loopback address without tokens (see [`ServeError::NoAuth`]).
pub fn run(cfg: ServeConfig, on_listening: impl FnOnce(SocketAddr)) -> Result<(), ServeError> {
    let threads = if cfg.threads == 0 {
        cores()
    } else {
        cfg.threads
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("hashsieve-serve")
        .enable_all()
        .build()?;
    rt.block_on(serve(cfg, on_listening))
}

async fn serve(cfg: ServeConfig, on_listening: impl FnOnce(SocketAddr)) -> Result<(), ServeError> {
    // On a blocking thread: the PostgreSQL client blocks (see
    // `hashdb::store::pg`), which an async task must not.
    let (db, open) = (cfg.db.clone(), cfg.open);
    let (poll_store, tokens, any_token) = tokio::task::spawn_blocking(move || {
        let poll_store = Store::open_with(&db, open)?;
        let tokens = state::load_tokens(&poll_store)?;
        // A database that has had tokens (even all revoked or expired)
        // keeps its service closed: only one that never had any starts open.
        let any_token = poll_store.has_any_token()?;
        Ok::<_, ServeError>((poll_store, tokens, any_token))
    })
    .await
    .map_err(|e| std::io::Error::other(e.to_string()))??;
    if !any_token && !cfg.listen.ip().is_loopback() && !cfg.insecure_no_auth && !cfg.require_auth {
        return Err(ServeError::NoAuth(cfg.listen));
    }
    let auth_required = any_token || cfg.require_auth;
    let (poll_store, cursor) = tokio::task::spawn_blocking(move || {
        let mut poll_store = poll_store;
        let cursor = poll_store.change_cursor()?;
        Ok::<_, ServeError>((poll_store, cursor))
    })
    .await
    .map_err(|e| std::io::Error::other(e.to_string()))??;
    let writer = Store::open_with(&cfg.db, cfg.open)?;
    let (db, open, mcfg) = (cfg.db.clone(), cfg.open, cfg.matching.clone());
    let matcher = tokio::task::spawn_blocking(move || {
        let store = Store::open_with(&db, open)?;
        Ok::<_, ServeError>(RecordMatcher::load(store, &mcfg)?)
    })
    .await
    .map_err(|e| std::io::Error::other(e.to_string()))??;
    let isolation = crate::sandbox::Isolation::start(cfg.sandbox.as_ref())?;
    let metrics = Arc::new(metrics::Metrics::default());
    metrics
        .index_pdq_hashes
        .set(matcher.matcher().pdq_len() as i64);
    let max_jobs = if cfg.max_jobs == 0 {
        cores()
    } else {
        cfg.max_jobs
    };
    let queue = if cfg.queue == 0 {
        2 * max_jobs
    } else {
        cfg.queue
    };
    let st = Arc::new(state::AppState {
        matcher: RwLock::new(matcher),
        match_cfg: cfg.matching.clone(),
        ready: AtomicBool::new(false),
        db: cfg.db.clone(),
        open: cfg.open,
        writer: Mutex::new(writer),
        hash: cfg.hash.clone(),
        isolation,
        jobs: jobs::Jobs::new(max_jobs, queue, metrics.clone()),
        metrics,
        tokens: RwLock::new(tokens),
        // Decided here, once: open only when no token exists and that is
        // allowed (loopback or --insecure-no-auth, checked above) and not
        // refused by --require-auth. Tokens revoked later never reopen it.
        auth_required: AtomicBool::new(auth_required),
        metrics_require_auth: cfg.metrics_require_auth,
        max_body: cfg.max_body,
        max_json: cfg.max_json.min(cfg.max_body),
        max_query_frames: cfg.max_query_frames,
        upload_slots: Arc::new(tokio::sync::Semaphore::new(if cfg.max_uploads == 0 {
            4 * (max_jobs + queue)
        } else {
            cfg.max_uploads
        })),
        json_slots: Arc::new(tokio::sync::Semaphore::new(JSON_SLOTS)),
        timeout: cfg.timeout,
        fetch: fetch::Fetcher::new(&cfg.fetch_allow_hosts, cfg.fetch_ca_file.as_deref())?,
        poke: tokio::sync::Notify::new(),
        started: std::time::Instant::now(),
        synced_ms: std::sync::atomic::AtomicU64::new(0),
        poll: cfg.poll,
        hma: hma::HmaState::new(cfg.hma_views)
            .with_roles(cfg.hma_roles)
            .with_fetcher(hma::exchange_fetch::ExchangeFetcher::new(
                &cfg.hma_local_file_dirs,
            )?),
    });
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: cfg.listen,
            source,
        })?;
    let addr = listener.local_addr()?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let poller = tokio::spawn(live::run(
        st.clone(),
        live::Poller {
            store: poll_store,
            cursor,
        },
        cfg.poll,
        stop_rx,
    ));
    let exchange_fetcher = cfg.hma_fetch_interval.map(|every| {
        tokio::spawn(hma::exchange_fetch::run_loop(
            st.clone(),
            every,
            stop_tx.subscribe(),
        ))
    });
    st.ready.store(true, Ordering::Release);
    let app = router::build(st.clone());
    on_listening(addr);
    listen::serve_connections(
        listener,
        app,
        listen::ConnLimits {
            max_connections: cfg.max_connections,
            header_timeout: cfg.header_timeout,
            // Long enough for any request in flight to reach its own limit.
            shutdown_grace: cfg.timeout + Duration::from_secs(5),
        },
        st.metrics.clone(),
        shutdown_signal(),
    )
    .await;
    let _ = stop_tx.send(true);
    let _ = poller.await;
    if let Some(f) = exchange_fetcher {
        // A fetch under way is abandoned at its next step: each commit is
        // one transaction, so nothing half-written stays (its status
        // shows it running until the next fetch, as HMA's after a crash).
        f.abort();
        let _ = f.await;
    }
    Ok(())
}

/// SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut t), Ok(mut i)) => {
            tokio::select! {
                _ = t.recv() => {}
                _ = i.recv() => {}
            }
        }
        _ => {
            // No signal handling available: serve until killed.
            std::future::pending::<()>().await;
        }
    }
}
