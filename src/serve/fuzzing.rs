//! For the fuzz targets in `fuzz/` only, not an API: the real router,
//! in-process and without a socket, on a throwaway database.
//!
//! Why the whole router and not the parsers alone: what reaches a handler
//! is decided by the extractors (axum's query and multipart parsing, our
//! body limits), the auth and observe layers and the handler's own checks
//! together; a request built from fuzz bytes goes through exactly what a
//! request off the wire goes through after hyper has parsed its head.
//!
//! The database holds a few known lists and entries ([`SEED_PDQ`] ...) so
//! that lookups can hit and the per-bank answers get built. Requests that
//! write run on a fresh copy of it ([`Service::request_fresh`]), so every
//! input meets the same database and a crash replays alone.
#![doc(hidden)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, Method, Request};
use axum::Router;
use hashdb::model::{NewList, Record, Value};
use hashdb::store::{ImportOptions, OpenOptions, Store};
use http_body_util::BodyExt;
use hyper_util::service::TowerToHyperService;

use super::state::AppState;
use super::{jobs, metrics, router, state};
use crate::hashing::HashConfig;
use crate::matching::{MatchConfig, RecordMatcher};
use crate::media::image::ImageLimits;

/// A PDQ hash in the lists `BANK_A` and `BANK_B` (disabled) of the seeded
/// database.
pub const SEED_PDQ: &str = "e271017837246aaccddea259648fb7d62f435c89d9e99b2497763e216c8d055c";
/// An MD5 in `BANK_A` (a `video_md5` for HMA).
pub const SEED_MD5: &str = "0cc175b9c0f1b6a831c399e269772661";
/// A SHA-256 in `BANK_A`, also allowlisted (its hits are suppressed).
pub const SEED_SHA256: &str = "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb";
/// A vPDQ video in `BANK_A`, as vPDQ text.
pub const SEED_VPDQ: &str =
    "0,100,e271017837246aaccddea259648fb7d62f435c89d9e99b2497763e216c8d055c,0.000\n\
30,90,f271017837246aaccddea259648fb7d62f435c89d9e99b2497763e216c8d055c,1.000\n\
60,80,e271017837246aaccddea259648fb7d62f435c89d9e99b2497763e216c8d0000,2.000\n";

/// A response: status and body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

/// The service over a seeded throwaway database.
pub struct Service {
    rt: tokio::runtime::Runtime,
    dir: PathBuf,
    template: PathBuf,
    shared: Router,
}

/// Small media limits: an upload the limits allow must not take the
/// fuzzer past its memory limit.
fn hash_config() -> HashConfig {
    HashConfig {
        image_limits: ImageLimits {
            max_pixels: 1 << 22,
            max_alloc: 64 << 20,
        },
        max_image_bytes: 4 << 20,
        ..HashConfig::default()
    }
}

fn state_on(db: &Path) -> Result<Arc<AppState>, String> {
    let err = |e: &dyn std::fmt::Display| format!("{}: {e}", db.display());
    let open = OpenOptions::default();
    let store = Store::open_with(db, open).map_err(|e| err(&e))?;
    let tokens = state::load_tokens(&store).map_err(|e| err(&e))?;
    let matcher = RecordMatcher::load(store, &MatchConfig::default()).map_err(|e| err(&e))?;
    let writer = Store::open_with(db, open).map_err(|e| err(&e))?;
    let metrics = Arc::new(metrics::Metrics::default());
    Ok(Arc::new(AppState {
        matcher: RwLock::new(matcher),
        match_cfg: MatchConfig::default(),
        ready: AtomicBool::new(true),
        db: db.to_path_buf(),
        open,
        writer: Mutex::new(writer),
        hash: hash_config(),
        // Fuzzing runs the decoders in-process (the sanitizers see them).
        isolation: crate::sandbox::Isolation::InProcess,
        jobs: jobs::Jobs::new(1, 4, metrics.clone()),
        metrics,
        // No tokens: open, as on loopback without any.
        auth_required: AtomicBool::new(!tokens.is_empty()),
        metrics_require_auth: false,
        tokens: RwLock::new(tokens),
        max_body: 1 << 20,
        max_query_frames: 1000,
        upload_slots: Arc::new(tokio::sync::Semaphore::new(16)),
        max_json: 64 << 10,
        json_slots: Arc::new(tokio::sync::Semaphore::new(16)),
        timeout: Duration::from_secs(5),
        fetch: super::fetch::Fetcher::disabled(),
        started: Instant::now(),
        synced_ms: AtomicU64::new(0),
        poll: Duration::from_secs(3600),
        poke: tokio::sync::Notify::new(),
        hma: super::hma::HmaState::new(false),
    }))
}

fn seed(db: &Path) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| format!("seeding {}: {e}", db.display());
    let mut s = Store::open(db).map_err(|e| err(&e))?;
    let parse = |t, v: &str| Value::parse(t, v).map_err(|e| err(&e));
    use hashdb::SignalType as T;
    let frames = hashdb::formats::read(hashdb::formats::Format::Vpdq, SEED_VPDQ.as_bytes())
        .map_err(|e| err(&e))?
        .next()
        .ok_or_else(|| err(&"no vPDQ record"))?
        .map_err(|e| err(&e))?;
    let mut a = vec![
        Record::new(parse(T::Pdq, SEED_PDQ)?),
        Record::new(parse(T::Md5, SEED_MD5)?),
        Record::new(parse(T::Sha256, SEED_SHA256)?),
        frames,
    ];
    a[0].labels.insert("entity:seed".into());
    for (name, recs, enabled) in [
        ("BANK_A", a, true),
        ("BANK_B", vec![Record::new(parse(T::Pdq, SEED_PDQ)?)], false),
        ("demo", Vec::new(), true),
    ] {
        s.create_list(&NewList::new(name)).map_err(|e| err(&e))?;
        s.import(
            name,
            recs.into_iter().map(Ok),
            Path::new("seed"),
            ImportOptions::default(),
        )
        .map_err(|e| err(&e))?;
        if !enabled {
            s.set_list_enabled(name, false).map_err(|e| err(&e))?;
        }
    }
    s.allow(&parse(T::Sha256, SEED_SHA256)?, Some("seed"), None)
        .map_err(|e| err(&e))?;
    Ok(())
}

/// The directory of this process's databases, removed at exit.
static DIR: OnceLock<PathBuf> = OnceLock::new();

extern "C" fn remove_dir() {
    if let Some(d) = DIR.get() {
        let _ = std::fs::remove_dir_all(d);
    }
}

fn remove_db(db: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = db.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

impl Service {
    /// The service over a new seeded database in a private directory
    /// (in `/dev/shm` when there is one: writes then cost no disk syncs),
    /// removed when the process exits normally.
    pub fn new() -> Result<Service, String> {
        let base = Path::new("/dev/shm");
        let base = if base.is_dir() {
            base.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!("hashsieve-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        if DIR.set(dir.clone()).is_ok() {
            // SAFETY: registers a plain function with no arguments.
            unsafe { libc::atexit(remove_dir) };
        }
        let template = dir.join("seed.db");
        remove_db(&template);
        seed(&template)?;
        let shared = router::build(state_on(&template)?);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Service {
            rt,
            dir,
            template,
            shared,
        })
    }

    /// Send a request to the service whose database every such call shares
    /// (for routes that only read: it stays the seeded one).
    ///
    /// # Errors
    /// `method` or `uri` cannot make a request (hyper would have refused
    /// its head).
    pub fn request(
        &self,
        method: &[u8],
        uri: &str,
        content_type: Option<&[u8]>,
        body: Vec<u8>,
    ) -> Result<Reply, String> {
        self.send(&self.shared, method, uri, content_type, body)
    }

    /// [`Service::request`] on a fresh copy of the seeded database (for
    /// routes that write).
    pub fn request_fresh(
        &self,
        method: &[u8],
        uri: &str,
        content_type: Option<&[u8]>,
        body: Vec<u8>,
    ) -> Result<Reply, String> {
        let db = self.dir.join("fresh.db");
        remove_db(&db);
        std::fs::copy(&self.template, &db).map_err(|e| format!("{}: {e}", db.display()))?;
        let app = router::build(state_on(&db)?);
        let reply = self.send(&app, method, uri, content_type, body);
        drop(app);
        reply
    }

    fn send(
        &self,
        app: &Router,
        method: &[u8],
        uri: &str,
        content_type: Option<&[u8]>,
        body: Vec<u8>,
    ) -> Result<Reply, String> {
        let method = Method::from_bytes(method).map_err(|e| e.to_string())?;
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(ct) = content_type {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        let req = req.body(Body::from(body)).map_err(|e| e.to_string())?;
        let svc = TowerToHyperService::new(app.clone());
        self.rt.block_on(async move {
            let resp = match hyper::service::Service::call(&svc, req).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            let status = resp.status().as_u16();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("response body: {e}"))?
                .to_bytes()
                .to_vec();
            Ok(Reply { status, body })
        })
    }
}
