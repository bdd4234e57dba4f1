//! Our API under `/v1`: hash an upload, match an upload or hashes, and the
//! health and readiness probes. Hashing and matching are the library's
//! (`hashing::hash_bytes`, `matching::RecordMatcher`): an upload answered
//! here gets the same record as `hashsieve hash` / `hashsieve scan` would
//! print for the same file.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::matching::MatchRecord;
use crate::record::FileRecord;
use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use hashdb::matcher::CancelFlag;
use hashdb::model::Value;
use hashdb::vpdq::VpdqFrame;
use hashdb::SignalType;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::body::{check_declared, read_limited, upload, Upload};
use super::error::{ApiError, ErrorBody};
use super::state::AppState;

/// Hash an upload on the hashing pool (the body, then admission),
/// with the service's views (the ones matching uses).
pub async fn hash_request(st: &Arc<AppState>, req: Request) -> Result<FileRecord, ApiError> {
    hash_request_views(st, req, st.hash.views).await
}

/// [`hash_request`] with the given query-side views.
async fn hash_request_views(
    st: &Arc<AppState>,
    req: Request,
    views: crate::views::ViewSet,
) -> Result<FileRecord, ApiError> {
    // The body first: a slow upload must not hold a hashing slot.
    let up = upload(req, st).await?;
    let ticket = st.jobs.admit()?;
    let mut cfg = st.hash.clone();
    cfg.views = views;
    hash_upload_with(ticket, up, cfg, st).await
}

pub(crate) async fn hash_upload_with(
    ticket: super::jobs::Ticket,
    up: Upload,
    cfg: crate::hashing::HashConfig,
    st: &Arc<AppState>,
) -> Result<FileRecord, ApiError> {
    let name = up.file_name.clone().unwrap_or_else(|| "upload".to_string());
    let isolation = st.isolation.clone();
    st.jobs
        .run(ticket, move |w| {
            isolation.hash_bytes(Path::new(&name), &up.data, &cfg, w)
        })
        .await
}

/// Count hits per list for the metrics.
pub fn count_matches(st: &AppState, hits: &[MatchRecord]) {
    for h in hits.iter().filter(|h| !h.suppressed) {
        st.metrics
            .matches
            .get_or_create(&super::metrics::ListLabel {
                list: h.list.clone(),
            })
            .inc();
    }
}

/// Match a hashed upload on a blocking thread (a video's frames can take
/// a while) and attach the hits.
pub async fn match_file(st: &Arc<AppState>, mut rec: FileRecord) -> Result<FileRecord, ApiError> {
    let s = st.clone();
    let hits = tokio::task::spawn_blocking(move || {
        let hits = s.read_matcher().map(|m| m.match_record(&rec))?;
        rec.matches = Some(hits);
        // The same shape as a `scan` record.
        rec.strip_query_side();
        Ok::<_, ApiError>(rec)
    })
    .await
    .map_err(|e| ApiError::internal(format!("match task failed: {e}")))??;
    count_matches(st, hits.matches.as_deref().unwrap_or_default());
    Ok(hits)
}

/// `hashsieve hash` record of the upload (JSON).
#[utoipa::path(post, path = "/v1/hash", tag = "hashing", params(ViewsQuery),
    request_body(content = Vec<u8>, description = "the media: raw bytes, or multipart/form-data with one file", content_type = "application/octet-stream"),
    responses(
        (status = 200, description = "the `hashsieve hash` record of the upload (its `error` says when it did not decode)", body = Object),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 503, description = "hashing queue full; see Retry-After", body = ErrorBody)),
    security(("bearer" = ["match"])))]
pub async fn post_hash(
    State(st): State<Arc<AppState>>,
    q: Result<Query<ViewsQuery>, axum::extract::rejection::QueryRejection>,
    req: Request,
) -> Response {
    // The `hashsieve hash` record: views only when asked for, as the CLI's
    // `--views` (matching routes always hash the service's views).
    let views = match q {
        Ok(Query(q)) => match q.views.as_deref().map(str::parse::<crate::views::ViewSet>) {
            None => crate::views::ViewSet::None,
            Some(Ok(v)) => v,
            Some(Err(e)) => return ApiError::bad_request(format!("views: {e}")).into_response(),
        },
        Err(e) => return ApiError::bad_request(e.body_text()).into_response(),
    };
    match hash_request_views(&st, req, views).await {
        Ok(rec) => record_response(rec),
        Err(e) => e.into_response(),
    }
}

/// A record as JSON; an upload that did not decode is the client's
/// problem (422), with the record (digests) still in the body.
fn record_response(rec: FileRecord) -> Response {
    let status = match &rec.error {
        None => StatusCode::OK,
        Some(_) => StatusCode::UNPROCESSABLE_ENTITY,
    };
    (status, Json(rec)).into_response()
}

/// Hash the upload and match it: a `scan` record.
#[utoipa::path(post, path = "/v1/match", tag = "matching",
    request_body(content = Vec<u8>, description = "the media: raw bytes, or multipart/form-data with one file", content_type = "application/octet-stream"),
    responses(
        (status = 200, description = "the `hashsieve scan` record: hashes plus `matches`", body = Object),
        (status = 422, description = "the media did not decode: record with `error`, digests matched", body = Object),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = ["match"])))]
pub async fn post_match(State(st): State<Arc<AppState>>, req: Request) -> Response {
    let rec = match hash_request(&st, req).await {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    match match_file(&st, rec).await {
        Ok(rec) => record_response(rec),
        Err(e) => e.into_response(),
    }
}

/// Query of `POST /v1/hash`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ViewsQuery {
    /// Also hash query-side views, as `hashsieve hash --views=SET`: `all`,
    /// `dihedral` or `none` (the default).
    pub views: Option<String>,
}

/// Query of `GET /v1/match`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct HashQuery {
    /// pdq, md5, sha256 or blake3 (aliases such as `pdq_hash`, `video_md5` accepted).
    pub signal_type: Option<String>,
    /// The hash, hex.
    pub signal: Option<String>,
    /// The PDQ hash's quality, if known (default 100: passes every quality gate).
    pub quality: Option<u8>,
}

/// The answer to a hash lookup.
#[derive(Serialize, ToSchema)]
pub struct HashMatches {
    pub signal_type: String,
    pub signal: String,
    /// Same objects as the `matches` of a scan record.
    #[schema(value_type = Vec<Object>)]
    pub matches: Vec<MatchRecord>,
}

/// Parse a signal type and value from a request.
pub fn parse_signal(signal_type: Option<&str>, signal: Option<&str>) -> Result<Value, ApiError> {
    let t = signal_type.ok_or_else(|| ApiError::bad_request("missing parameter signal_type"))?;
    let s = signal.ok_or_else(|| ApiError::bad_request("missing parameter signal"))?;
    let st: SignalType = t
        .parse()
        .map_err(|e: hashdb::UnknownSignalType| ApiError::bad_request(e.to_string()))?;
    Value::parse(st, s.trim())
        .map_err(|e| ApiError::bad_request(format!("invalid {} signal: {e}", st.as_str())))
}

/// Match one value (cheap: on the executor, under the read lock).
pub fn match_value(st: &AppState, v: &Value, quality: u8) -> Result<Vec<MatchRecord>, ApiError> {
    match_value_cancellable(st, v, quality, None)
}

/// [`match_value`] that stops early when `cancel` is set (its hits are
/// then partial: the caller has gone and discards them).
fn match_value_cancellable(
    st: &AppState,
    v: &Value,
    quality: u8,
    cancel: Option<&CancelFlag>,
) -> Result<Vec<MatchRecord>, ApiError> {
    let m = st.read_matcher()?;
    let hits = m.match_value(v, Some(quality), cancel);
    drop(m);
    if cancel.is_some_and(CancelFlag::is_cancelled) {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "cancelled",
            "the match was abandoned",
        ));
    }
    count_matches(st, &hits);
    Ok(hits)
}

/// Cancels its flag when dropped: a handler holds one while its work runs
/// on the blocking pool, so a request that times out or whose client goes
/// away stops that work instead of leaving it to run on.
struct CancelOnDrop(CancelFlag);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// Match a video given as its TMK+PDQF: the body is a `.tmk` file (as
/// Meta's `tmk-hash-video` and `hashsieve hash --format tmk` write it).
#[utoipa::path(post, path = "/v1/match/tmk", tag = "matching",
    request_body(content = Vec<u8>, description = "a .tmk file (263,344 bytes)", content_type = "application/octet-stream"),
    responses((status = 200, body = HashMatches), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody)),
    security(("bearer" = ["match"])))]
pub async fn post_match_tmk(State(st): State<Arc<AppState>>, req: Request) -> Response {
    let run = async {
        // One file of a fixed size: anything longer is refused unread.
        let limit = st.max_body.min(hashdb::tmk::FILE_SIZE as u64 + 1);
        if check_declared(&req, limit).is_err() {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!(
                    "the body is larger than a .tmk file ({} bytes)",
                    hashdb::tmk::FILE_SIZE
                ),
            ));
        }
        let body = read_limited(req.into_body(), limit).await?;
        let hash = hashdb::tmk::TmkHash::from_bytes(&body)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        drop(body);
        let ticket = st.jobs.admit()?;
        let cancel = CancelFlag::new();
        let _guard = CancelOnDrop(cancel.clone());
        let s = st.clone();
        let v = Value::Tmk(Arc::new(hash));
        let matches = st
            .jobs
            .run(ticket, move |_| {
                match_value_cancellable(&s, &v, 100, Some(&cancel))
            })
            .await??;
        Ok::<_, ApiError>(Json(HashMatches {
            signal_type: "tmk_pdqf".into(),
            signal: String::new(),
            matches,
        }))
    };
    match run.await {
        Ok(j) => j.into_response(),
        Err(e) => e.into_response(),
    }
}

/// The frames of a vPDQ text body, at most `cap` of them.
fn parse_vpdq_body(body: &[u8], cap: usize) -> Result<Vec<VpdqFrame>, ApiError> {
    let mut recs = hashdb::formats::read(hashdb::formats::Format::Vpdq, std::io::Cursor::new(body))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let rec = recs
        .next()
        .ok_or_else(|| ApiError::bad_request("no vPDQ frames in the body"))?
        .map_err(|e| ApiError::bad_request(format!("vPDQ: {e}")))?;
    let Value::Vpdq(frames) = rec.value else {
        return Err(ApiError::bad_request("the body is not vPDQ frame lines"));
    };
    if frames.len() > cap {
        return Err(too_many_frames(frames.len(), cap));
    }
    Ok(frames)
}

fn too_many_frames(n: usize, cap: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!("{n} frames: a query may have at most {cap} (the server's --max-query-frames)"),
    )
}

/// Look a hash up (for clients that hash on their side).
#[utoipa::path(get, path = "/v1/match", tag = "matching", params(HashQuery),
    responses((status = 200, body = HashMatches), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = ["match"])))]
pub async fn get_match(
    State(st): State<Arc<AppState>>,
    q: Result<Query<HashQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<HashMatches>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let v = parse_signal(q.signal_type.as_deref(), q.signal.as_deref())?;
    let quality = q.quality.unwrap_or(100).min(100);
    let matches = match_value(&st, &v, quality)?;
    Ok(Json(HashMatches {
        signal_type: v.signal_type().as_str().to_string(),
        signal: v.to_text(),
        matches,
    }))
}

/// Match a video given as vPDQ text (`frame,quality,hash,timestamp` lines).
#[utoipa::path(post, path = "/v1/match/vpdq", tag = "matching",
    request_body(content = String, description = "vPDQ frame lines", content_type = "text/plain"),
    responses((status = 200, body = HashMatches), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody)),
    security(("bearer" = ["match"])))]
pub async fn post_match_vpdq(State(st): State<Arc<AppState>>, req: Request) -> Response {
    let run = async {
        // A vPDQ line is under 100 bytes: a body longer than the frame cap
        // allows is refused before it is read.
        let cap = st.max_query_frames;
        let limit = st
            .max_body
            .min((cap as u64).saturating_mul(VPDQ_LINE_MAX) + 4096);
        if check_declared(&req, limit).is_err() {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!(
                    "the body is larger than {limit} bytes, more than {cap} frames (the server's --max-query-frames) can take"
                ),
            ));
        }
        let body = read_limited(req.into_body(), limit).await?;
        // Admission once the body is here (a slow client holds no slot);
        // parsing and matching run on the hashing pool, off the executor,
        // and stop when this request goes away.
        let ticket = st.jobs.admit()?;
        let cancel = CancelFlag::new();
        let _guard = CancelOnDrop(cancel.clone());
        let s = st.clone();
        let matches = st
            .jobs
            .run(ticket, move |_| {
                let frames = parse_vpdq_body(&body, cap)?;
                drop(body);
                match_value_cancellable(&s, &Value::Vpdq(frames), 100, Some(&cancel))
            })
            .await??;
        Ok::<_, ApiError>(Json(HashMatches {
            signal_type: "vpdq".into(),
            signal: String::new(),
            matches,
        }))
    };
    match run.await {
        Ok(j) => j.into_response(),
        Err(e) => e.into_response(),
    }
}

/// Bytes allowed per frame of a vPDQ body (a line is
/// `frame,quality,64 hex,timestamp`: under 100).
const VPDQ_LINE_MAX: u64 = 160;

/// Liveness.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "alive")))]
pub async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

/// Readiness: the index is loaded.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, description = "index loaded"), (status = 503, body = ErrorBody)))]
pub async fn readyz(State(st): State<Arc<AppState>>) -> Response {
    if !st.ready.load(Ordering::Acquire) {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "index loading",
        )
        .into_response();
    }
    let lag = st.sync_lag();
    if lag > st.max_sync_lag() {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "stale",
            format!(
                "the index has not caught up with the database for {:.1} s (see live_update_errors in /metrics)",
                lag.as_secs_f64()
            ),
        )
        .into_response();
    }
    let Ok(m) = st.matcher.read() else {
        return ApiError::internal("matcher lock poisoned; rebuilding").into_response();
    };
    let n = m.matcher().pdq_len();
    drop(m);
    Json(serde_json::json!({
        "status": "ready",
        "pdq_hashes": n,
        "sync_lag_seconds": lag.as_secs_f64(),
    }))
    .into_response()
}

/// Prometheus metrics (text exposition format).
#[utoipa::path(get, path = "/metrics", tag = "health", responses((status = 200, description = "Prometheus text", content_type = "text/plain")))]
pub async fn metrics(State(st): State<Arc<AppState>>) -> Response {
    st.metrics.live_sync_lag.set(st.sync_lag().as_secs_f64());
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        st.metrics.render(),
    )
        .into_response()
}
