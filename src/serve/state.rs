//! What every request shares: the matcher (behind a read-write lock, so
//! live updates apply in place between lookups), the token table, the
//! hashing pool, the metrics and the limits.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use crate::hashing::HashConfig;
use crate::matching::{MatchConfig, RecordMatcher};
use hashdb::store::{OpenOptions, Scope, Store, TokenInfo};

use super::error::ApiError;
use super::jobs::Jobs;
use super::metrics::Metrics;

/// Shared state of the server.
pub struct AppState {
    pub matcher: RwLock<RecordMatcher>,
    pub match_cfg: MatchConfig,
    pub ready: AtomicBool,
    pub db: PathBuf,
    pub open: OpenOptions,
    /// One connection for writes made through the API (SQLite serialises
    /// writers anyway; other processes queue behind the busy timeout).
    pub writer: Mutex<Store>,
    pub hash: HashConfig,
    /// Where uploads are decoded: sandboxed workers, or in-process.
    pub isolation: crate::sandbox::Isolation,
    pub jobs: Arc<Jobs>,
    pub metrics: Arc<Metrics>,
    /// Unrevoked tokens by the hash of their secret (expired ones too:
    /// expiry is checked at each request, to the second); refreshed by
    /// the poller.
    pub tokens: RwLock<HashMap<[u8; 32], LiveToken>>,
    /// Whether requests need a token. Decided at start (a token was ever
    /// created in the database, live, expired or revoked; or
    /// `--require-auth`) and only ever switched on afterwards (the first
    /// token created while serving): revoking tokens or their expiry never
    /// opens the service, with no live token left every request is refused.
    pub auth_required: AtomicBool,
    /// `/metrics` needs a `match` token (`--metrics-require-auth`).
    pub metrics_require_auth: bool,
    pub max_body: u64,
    /// Most frames a vPDQ query may have.
    pub max_query_frames: usize,
    /// Uploads being read at once (see `body::upload`).
    pub upload_slots: Arc<tokio::sync::Semaphore>,
    /// Largest JSON body, bytes.
    pub max_json: u64,
    /// JSON bodies being read or parsed at once (see `body::BoundedJson`).
    pub json_slots: Arc<tokio::sync::Semaphore>,
    pub timeout: Duration,
    /// Fetching media by URL: the allowed hosts and the client (off
    /// without `--fetch-allow-host`).
    pub fetch: super::fetch::Fetcher,
    /// When the service started (the origin of `synced_ms`).
    pub started: std::time::Instant,
    /// When the poller last caught up with the database, ms after `started`.
    pub synced_ms: std::sync::atomic::AtomicU64,
    /// The poller's interval (a lag of many intervals means it is stuck).
    pub poll: Duration,
    /// Wakes the poller after a write through the API.
    pub poke: tokio::sync::Notify,
    /// What the HMA 2.0 routes keep besides the database (see `hma`).
    pub hma: super::hma::HmaState,
}

impl AppState {
    /// Run `f` on the writer connection on a blocking thread, then wake
    /// the poller so the change is matched at once.
    pub async fn write<T, F>(self: &Arc<Self>, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Store) -> Result<T, ApiError> + Send + 'static,
    {
        let st = self.clone();
        let out = tokio::task::spawn_blocking(move || {
            let mut store = st
                .writer
                .lock()
                .map_err(|_| ApiError::internal("writer connection poisoned"))?;
            if store.is_closed() {
                // A PostgreSQL server that went away and came back.
                *store = Store::open_with(&st.db, st.open)
                    .map_err(|e| ApiError::internal(format!("reopening the database: {e}")))?;
            }
            f(&mut store)
        })
        .await
        .map_err(|e| ApiError::internal(format!("write task failed: {e}")))?;
        self.poke.notify_one();
        out
    }

    /// Read from a fresh connection on a blocking thread (reads never
    /// wait for the writer).
    pub async fn read<T, F>(self: &Arc<Self>, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T, ApiError> + Send + 'static,
    {
        let st = self.clone();
        tokio::task::spawn_blocking(move || {
            let store = Store::open_with(&st.db, st.open)
                .map_err(|e| ApiError::internal(format!("opening the database: {e}")))?;
            f(&store)
        })
        .await
        .map_err(|e| ApiError::internal(format!("read task failed: {e}")))?
    }

    /// The matcher's read lock for a lookup. A lookup that finds it taken
    /// (a live update holding the write lock) is counted and its wait
    /// timed (`index_read_lock_waits`, `index_read_lock_wait_seconds`):
    /// whether readers queue behind writes is then measured, not guessed.
    ///
    /// A taken lock is waited for by spinning, then yielding, and only
    /// after [`READ_SPIN`] by sleeping on it: a live update holds it for
    /// one slice of changes (tens of microseconds), while a reader put to
    /// sleep is woken only when the scheduler gets to it, which on a busy
    /// machine was milliseconds (measured: `benches/pg_sync_10m.sh`, wait
    /// p99 8 ms behind holds of p99 0.25 ms).
    pub fn read_matcher(&self) -> Result<std::sync::RwLockReadGuard<'_, RecordMatcher>, ApiError> {
        let mut t = None;
        loop {
            match self.matcher.try_read() {
                Ok(g) => {
                    if let Some(t) = t {
                        self.note_read_wait(t);
                    }
                    return Ok(g);
                }
                Err(std::sync::TryLockError::Poisoned(_)) => {
                    return Err(ApiError::internal("matcher lock poisoned"))
                }
                Err(std::sync::TryLockError::WouldBlock) => {}
            }
            let start = *t.get_or_insert_with(std::time::Instant::now);
            let waited = start.elapsed();
            if waited >= READ_SPIN {
                break;
            }
            if waited < READ_SPIN_HOT {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        let g = self
            .matcher
            .read()
            .map_err(|_| ApiError::internal("matcher lock poisoned"))?;
        if let Some(t) = t {
            self.note_read_wait(t);
        }
        Ok(g)
    }

    fn note_read_wait(&self, since: std::time::Instant) {
        self.metrics.index_read_waits.inc();
        self.metrics
            .index_read_wait
            .observe(since.elapsed().as_secs_f64());
    }

    /// The poller caught up with the database as it was at `polled_at`
    /// (when that poll began to read): the poll's time, not its end's, so
    /// a write committed while the poll ran is not taken as seen.
    pub fn mark_synced(&self, polled_at: std::time::Instant) {
        let since = polled_at.saturating_duration_since(self.started);
        let ms = u64::try_from(since.as_millis()).unwrap_or(u64::MAX);
        self.synced_ms.fetch_max(ms, Ordering::AcqRel);
    }

    /// How long ago the poller last caught up with the database.
    pub fn sync_lag(&self) -> Duration {
        let now = self.started.elapsed();
        now.saturating_sub(Duration::from_millis(
            self.synced_ms.load(Ordering::Acquire),
        ))
    }

    /// A lag past this means the poller is failing: not ready.
    pub fn max_sync_lag(&self) -> Duration {
        (self.poll * 10).max(Duration::from_secs(30))
    }

    /// Replace the live tokens (the poller's reload). A database that has
    /// had any token (`any`) switches authentication on for good; nothing
    /// switches it off (see [`AppState::auth_required`]).
    pub fn set_tokens(
        &self,
        tokens: HashMap<[u8; 32], LiveToken>,
        any: bool,
    ) -> Result<(), ApiError> {
        if any || !tokens.is_empty() {
            self.auth_required.store(true, Ordering::Release);
        }
        let mut t = self
            .tokens
            .write()
            .map_err(|_| ApiError::internal("token table poisoned"))?;
        *t = tokens;
        Ok(())
    }

    /// Whether a request presenting `bearer` may use `scope`.
    pub fn authorize(
        &self,
        bearer: Option<&str>,
        scope: Scope,
    ) -> Result<super::auth::Caller, ApiError> {
        use axum::http::StatusCode;
        let tokens = self
            .tokens
            .read()
            .map_err(|_| ApiError::internal("token table poisoned"))?;
        if !self.auth_required.load(Ordering::Acquire) {
            return Ok(super::auth::Caller::Open);
        }
        let Some(secret) = bearer else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "missing bearer token (Authorization: Bearer <token>)",
            ));
        };
        let now = unix_now();
        match tokens.get(&hashdb::store::token_hash(secret)) {
            None => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "unknown or revoked token",
            )),
            Some(t) if t.info.expired_at(now) => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "expired token",
            )),
            Some(t) if !t.info.has_scope(scope) => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("this token lacks the {:?} scope", scope.as_str()),
            )),
            Some(t) => {
                t.used_at.fetch_max(now, Ordering::Relaxed);
                Ok(super::auth::Caller::Token(t.info.id))
            }
        }
    }

    /// Token uses to write to the database: each token used since its
    /// stored `last_used_at` by at least [`LAST_USED_GRAIN`] seconds (so a
    /// busy token costs a write a minute, not one a request).
    pub fn token_uses(&self) -> Vec<(i64, i64)> {
        let Ok(tokens) = self.tokens.read() else {
            return Vec::new();
        };
        tokens
            .values()
            .filter_map(|t| {
                let used = t.used_at.load(Ordering::Relaxed);
                let stored = t.info.last_used_at.unwrap_or(i64::MIN);
                (used > 0 && used >= stored.saturating_add(LAST_USED_GRAIN))
                    .then_some((t.info.id, used))
            })
            .collect()
    }
}

/// How long a lookup spins on a taken matcher lock before it yields its
/// core between tries (a writer preempted meanwhile needs one).
const READ_SPIN_HOT: Duration = Duration::from_micros(50);
/// How long a lookup tries for a taken matcher lock before it sleeps on
/// it (see [`AppState::read_matcher`]).
const READ_SPIN: Duration = Duration::from_millis(2);

/// How finely `last_used_at` is kept, seconds.
pub const LAST_USED_GRAIN: i64 = 60;

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// An unrevoked token as the service holds it: its row, and when this
/// service last accepted it (Unix seconds, 0: not yet).
#[derive(Debug)]
pub struct LiveToken {
    pub info: TokenInfo,
    pub used_at: std::sync::atomic::AtomicI64,
}

/// Load the unrevoked tokens of `store` (expired ones included: a request
/// presenting one is told it expired).
pub fn load_tokens(
    store: &Store,
) -> Result<HashMap<[u8; 32], LiveToken>, hashdb::error::StoreError> {
    Ok(store
        .token_rows()?
        .into_iter()
        .filter(|(_, t)| t.revoked_at.is_none())
        .map(|(h, info)| {
            (
                h,
                LiveToken {
                    info,
                    used_at: std::sync::atomic::AtomicI64::new(0),
                },
            )
        })
        .collect())
}
