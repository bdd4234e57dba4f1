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
    pub jobs: Arc<Jobs>,
    pub metrics: Arc<Metrics>,
    /// Live tokens by the hash of their secret; refreshed by the poller.
    pub tokens: RwLock<HashMap<[u8; 32], TokenInfo>>,
    /// Whether requests need a token. Decided at start (tokens exist, or
    /// `--require-auth`) and only ever switched on afterwards (the first
    /// token created while serving): revoking tokens never opens the
    /// service, with no token left every request is refused.
    pub auth_required: AtomicBool,
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
    /// Hosts media may be fetched from by URL (empty: fetching is off).
    pub fetch_allow: Vec<String>,
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

    /// The poller caught up with the database just now.
    pub fn mark_synced(&self) {
        let ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.synced_ms.store(ms, Ordering::Release);
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

    /// Replace the live tokens (the poller's reload). A non-empty table
    /// switches authentication on for good; an empty one never switches it
    /// off (see [`AppState::auth_required`]).
    pub fn set_tokens(&self, tokens: HashMap<[u8; 32], TokenInfo>) -> Result<(), ApiError> {
        if !tokens.is_empty() {
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
        match tokens.get(&hashdb::store::token_hash(secret)) {
            None => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "unknown or revoked token",
            )),
            Some(t) if !t.allows(scope) => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("this token lacks the {:?} scope", scope.as_str()),
            )),
            Some(t) => Ok(super::auth::Caller::Token(t.id)),
        }
    }
}

/// Load the live tokens of `store`.
pub fn load_tokens(
    store: &Store,
) -> Result<HashMap<[u8; 32], TokenInfo>, hashdb::error::StoreError> {
    Ok(store
        .token_rows()?
        .into_iter()
        .filter(|(_, t)| t.revoked_at.is_none())
        .collect())
}
