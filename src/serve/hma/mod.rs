//! HMA 2.0 compatibility: the routes of Meta's Hasher-Matcher-Actioner
//! (`OpenMediaMatch` blueprints `matching`, `hashing`, `curation` and the
//! app's `/status`, `/status/live`, `/site-map`, `/openapi/openapi.json`),
//! answered with HMA's paths, parameters, response shapes and error shapes
//! (`{"message": ...}`, 422 for invalid parameters) so existing clients
//! switch without changes. HMA's names map onto ours: a bank is a list, a
//! bank's content item is a group of entries ([`hashdb::store::hma_content`]),
//! `video_md5` is the MD5 of a video file.
//!
//! HMA semantics by default: an upload is matched by its hashes of record
//! only (no query-side views) unless the server runs with `--hma-views`.
//! Media fetching by `?url=` is refused unless the operator allowlists
//! hosts (`--fetch-allow-host`): fetching arbitrary URLs from inside a
//! trust-and-safety network is an SSRF hole (see [`super::fetch`]).
//!
//! Modules: [`signals`] (names, texts, distances), [`content`] (bank
//! content), [`config`] (signal/content types, exchanges, service routes),
//! [`exchange_fetch`] (HMA's background fetcher and `POST /dev/run_fetch`),
//! [`coinflip`] (HMA's per-bank coin flip).

pub mod coinflip;
pub mod config;
pub mod content;
pub mod exchange_fetch;
mod raw_disabled;
pub mod signals;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::matching::MatchRecord;
use crate::record::FileRecord;
use axum::extract::{Path as UrlPath, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use hashdb::model::{NewList, Value};
use serde::Deserialize;
use serde_json::{json, Map, Value as Json_};

use super::api::{hash_upload_with, match_file, match_value};
use super::body::{upload, BoundedJson, Upload};
use super::error::ApiError;
use super::state::AppState;
use signals::{distance_text, hit_signal, hma_signals, HmaSignal};

/// HMA's three roles (its `ROLE_HASHER`, `ROLE_MATCHER`, `ROLE_CURATOR`
/// settings): an HMA deployment may run, say, a matcher-only fleet beside
/// one curator. `--hma-roles` gives hashsieve the same switch, so a
/// deployment's split keeps its shape when it moves over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HmaRoles {
    pub hasher: bool,
    pub matcher: bool,
    pub curator: bool,
}

impl Default for HmaRoles {
    /// Every role, as HMA's default configuration.
    fn default() -> Self {
        HmaRoles {
            hasher: true,
            matcher: true,
            curator: true,
        }
    }
}

/// One of HMA's roles, as `serve --hma-roles` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HmaRole {
    Hasher,
    Matcher,
    Curator,
}

impl HmaRoles {
    /// The roles named (an empty list: none).
    pub fn from_list(roles: &[HmaRole]) -> HmaRoles {
        HmaRoles {
            hasher: roles.contains(&HmaRole::Hasher),
            matcher: roles.contains(&HmaRole::Matcher),
            curator: roles.contains(&HmaRole::Curator),
        }
    }
}

/// What the HMA routes keep outside the database.
#[derive(Debug, Default)]
pub struct HmaState {
    /// `--hma-views`: query-side views on the HMA routes.
    pub views: bool,
    /// `--hma-roles`: which of HMA's blueprints are served.
    pub roles: HmaRoles,
    /// `PUT /c/signal_type/<name>` ratios (default 1): a copy of the
    /// store's (`hma_signal_types`), read again once older than one poll
    /// interval, so another server's change is seen as a list change is
    /// (see [`config::refresh_signal_ratios`]).
    pub signal_ratios: Mutex<config::RatioCopy>,
    /// Fetching from exchanges: the folders `local_file` may read, and
    /// the lock that runs one fetch at a time.
    pub fetcher: exchange_fetch::ExchangeFetcher,
}

impl HmaState {
    pub fn new(views: bool) -> HmaState {
        HmaState {
            views,
            ..HmaState::default()
        }
    }

    pub fn with_roles(self, roles: HmaRoles) -> HmaState {
        HmaState { roles, ..self }
    }

    pub fn with_fetcher(self, fetcher: exchange_fetch::ExchangeFetcher) -> HmaState {
        HmaState { fetcher, ..self }
    }
}

/// HMA registers a blueprint only with its role: without the hasher role
/// `/h/*` does not exist, without the matcher `/m/*`, without the curator
/// `/c/*` (404, as any unknown route); `/m/lookup`'s own check is
/// [`require_hasher`]. Applied to every request, before auth: a route a
/// deployment does not serve is absent, not forbidden.
pub async fn roles_gate(
    State(st): State<Arc<AppState>>,
    req: Request,
    next: axum::middleware::Next,
) -> Response {
    let path = req.uri().path();
    if !config::served(&st, path) {
        let msg = format!("no route {} {}", req.method(), path);
        return HmaError(ApiError::not_found(msg)).into_response();
    }
    next.run(req).await
}

/// `/m/lookup` hashes media itself (by `url=` or an upload): without the
/// hasher role those are refused with HMA's 403; a lookup by `signal=`
/// still answers.
fn require_hasher(st: &AppState) -> HmaResult<()> {
    if st.hma.roles.hasher {
        Ok(())
    } else {
        Err(HmaError(ApiError::new(
            StatusCode::FORBIDDEN,
            "missing_role",
            "Hashing is disabled, missing role",
        )))
    }
}

/// An error in HMA's shape.
pub struct HmaError(pub ApiError);

impl From<ApiError> for HmaError {
    fn from(e: ApiError) -> Self {
        HmaError(e)
    }
}

impl From<hashdb::error::StoreError> for HmaError {
    fn from(e: hashdb::error::StoreError) -> Self {
        HmaError(e.into())
    }
}

impl IntoResponse for HmaError {
    fn into_response(self) -> Response {
        // HMA's request validation (flask-openapi3) answers 422 with
        // pydantic's list of errors; everything else is {"message"}.
        let body = if self.0.status == StatusCode::UNPROCESSABLE_ENTITY {
            json!([{"type": "value_error", "loc": [], "msg": self.0.message}])
        } else {
            json!({"message": self.0.message})
        };
        let mut r = (self.0.status, Json(body)).into_response();
        if self.0.status == StatusCode::SERVICE_UNAVAILABLE {
            r.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        r
    }
}

type HmaResult<T> = Result<T, HmaError>;

fn bad(msg: impl Into<String>) -> HmaError {
    HmaError(ApiError::bad_request(msg))
}

/// HMA's answer to query parameters that fail its schema: 422.
fn invalid_params(msg: impl Into<String>) -> HmaError {
    HmaError(ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_parameters",
        msg,
    ))
}

fn bank_not_found(bank: &str) -> HmaError {
    HmaError(ApiError::not_found(format!("bank '{bank}' not found")))
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// After a write: wait (briefly) until the poller has applied it, so the
/// client's next lookup sees it, as HMA's next index build would.
async fn wait_synced(st: &Arc<AppState>) {
    let written = u64::try_from(st.started.elapsed().as_millis()).unwrap_or(u64::MAX);
    // Bounded: a poller that is failing must not hang the request (its
    // lag shows in /readyz); 5 s covers a rebuild on a loaded machine.
    let deadline = tokio::time::Instant::now() + (st.poll * 4).min(Duration::from_secs(5));
    // A poll that began in the same millisecond as `written` may have
    // begun before the write: wait for one that began after it.
    while st.synced_ms.load(Ordering::Acquire) <= written && tokio::time::Instant::now() < deadline
    {
        st.poke.notify_one();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn ensure_bank(st: &Arc<AppState>, name: &str) -> HmaResult<()> {
    let n = name.to_string();
    match st.read(move |s| Ok(s.list(&n)?)).await {
        Ok(_) => Ok(()),
        Err(e) if e.status == StatusCode::NOT_FOUND => Err(bank_not_found(name)),
        Err(e) => Err(e.into()),
    }
}

/// Hash an upload for the HMA routes: no query-side views unless
/// `--hma-views`.
async fn hash_for_hma(
    st: &Arc<AppState>,
    ticket: super::jobs::Ticket,
    up: Upload,
) -> HmaResult<FileRecord> {
    let mut cfg = st.hash.clone();
    if !st.hma.views {
        cfg.views = crate::views::ViewSet::None;
        cfg.dihedral = false;
    }
    let rec = hash_upload_with(ticket, up, cfg, st).await?;
    Ok(rec)
}

/// Fetch and hash `url` (allowlisted hosts only; see [`super::fetch`]):
/// the record and its content type (HMA's `content_type`, else from the
/// response's Content-Type).
async fn hash_url(
    st: &Arc<AppState>,
    url: &str,
    content_type: Option<&str>,
) -> HmaResult<(FileRecord, String)> {
    // HMA answers upstream failures (connection, HTTP error status) with
    // 400 "Failed to fetch URL"; a host off the allowlist stays 403.
    let f = st
        .fetch
        .fetch(url, st.max_body, st.timeout)
        .await
        .map_err(|e| {
            if e.status == StatusCode::BAD_GATEWAY {
                bad(format!("Failed to fetch URL: {}", e.message))
            } else {
                HmaError(e)
            }
        })?;
    let kind = match content_type.filter(|c| !c.is_empty()) {
        Some(c) => c.to_string(),
        None => {
            let declared = f.content_type.as_deref().unwrap_or("").to_ascii_lowercase();
            if declared.starts_with("image") {
                "photo".into()
            } else if declared.starts_with("video") {
                "video".into()
            } else {
                return Err(bad(format!(
                    "unsupported url ContentType: '{declared}', if you know the expected type, provide it with the content_type query param"
                )));
            }
        }
    };
    content_type_of(Some(&kind))?;
    let ticket = st.jobs.admit()?;
    let up = Upload {
        field: Some(kind.clone()),
        file_name: None,
        data: f.data,
        form: Vec::new(),
    };
    let rec = hash_for_hma(st, ticket, up).await?;
    Ok((rec, kind))
}

/// Check HMA's multipart field name: the content type.
fn content_type_of(field: Option<&str>) -> HmaResult<()> {
    match field {
        Some(c) if signals::CONTENT_TYPES.iter().any(|(n, _)| *n == c) => Ok(()),
        Some(other) => Err(bad(format!("no such content_type: '{other}'"))),
        None => Err(bad("Missing multipart/form-data file upload")),
    }
}

/// Hash a multipart upload: the record and its content type (the field).
async fn hash_form(st: &Arc<AppState>, req: Request) -> HmaResult<(FileRecord, String)> {
    let (rec, kind, _) = hash_form_fields(st, req).await?;
    Ok((rec, kind))
}

/// [`hash_form`], with the upload's text fields.
async fn hash_form_fields(
    st: &Arc<AppState>,
    req: Request,
) -> HmaResult<(FileRecord, String, Vec<(String, String)>)> {
    let mut up = upload(req, st).await?;
    content_type_of(up.field.as_deref())?;
    let kind = up.field.clone().unwrap_or_default();
    let form = std::mem::take(&mut up.form);
    let ticket = st.jobs.admit()?;
    let rec = hash_for_hma(st, ticket, up).await?;
    Ok((rec, kind, form))
}

/// `GET /status`: `I-AM-ALIVE` once the index is loaded.
pub async fn status(State(st): State<Arc<AppState>>) -> Response {
    // As HMA's: only a matcher waits for its index, and an index that has
    // fallen behind the database (our /readyz's limit) is HMA's stale one.
    if !st.hma.roles.matcher {
        (StatusCode::OK, "I-AM-ALIVE").into_response()
    } else if !st.ready.load(Ordering::Acquire) {
        (StatusCode::SERVICE_UNAVAILABLE, "INDEX-NOT-LOADED").into_response()
    } else if st.sync_lag() > st.max_sync_lag() {
        (StatusCode::SERVICE_UNAVAILABLE, "INDEX-STALE").into_response()
    } else {
        (StatusCode::OK, "I-AM-ALIVE").into_response()
    }
}

#[derive(Debug, Deserialize)]
pub struct LookupQuery {
    pub signal_type: Option<String>,
    pub signal: Option<String>,
    pub url: Option<String>,
    /// With `url`: photo or video (else from the response's Content-Type).
    pub content_type: Option<String>,
    /// Comma-separated signal types to compute (HMA's `types=`).
    pub types: Option<String>,
    /// Comma-separated bank names: only matches in these banks.
    pub banks: Option<String>,
    /// `raw_lookup`: entries with their distances instead of bare ids.
    pub include_distance: Option<String>,
    /// HMA's coin flip for partially enabled banks.
    pub seed: Option<String>,
    pub bypass_coinflip: Option<String>,
}

impl LookupQuery {
    fn banks(&self) -> Option<BTreeSet<String>> {
        self.banks
            .as_deref()
            .filter(|b| !b.is_empty())
            .map(|b| b.split(',').map(str::to_string).collect())
    }

    fn coin(&self) -> f64 {
        coinflip::coinflip(
            self.seed.as_deref(),
            self.bypass_coinflip.as_deref() == Some("true"),
        )
    }
}

/// pydantic's lax booleans (HMA's `include_distance: bool`).
fn pydantic_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "on" | "t" | "true" | "y" | "yes" => Some(true),
        "0" | "off" | "f" | "false" | "n" | "no" => Some(false),
        _ => None,
    }
}

/// How a lookup filters: `/m/lookup` checks content and bank enablement
/// (with the coin flip), `/m/raw_lookup` does not (HMA documents that).
#[derive(Debug, Clone, Copy)]
enum Filter {
    Lookup { coin: f64 },
    Raw,
}

/// HMA's per-bank answer, `{bank: [{"bank_content_id", "distance"}]}`:
/// one item per content item (its best hit), content ids ascending.
async fn bank_matches(
    st: &Arc<AppState>,
    hits: Vec<MatchRecord>,
    banks: Option<&BTreeSet<String>>,
    filter: Filter,
) -> HmaResult<BTreeMap<String, Vec<Json_>>> {
    let hits: Vec<MatchRecord> = hits
        .into_iter()
        .filter(|h| !h.suppressed)
        .filter(|h| banks.is_none_or(|b| b.contains(&h.list)))
        .collect();
    if hits.is_empty() {
        return Ok(BTreeMap::new());
    }
    let ids: Vec<i64> = hits.iter().map(|h| h.entry).collect();
    let (contents, ratios) = st
        .read(move |s| Ok((s.hma_contents_of(&ids)?, s.hma_ratios()?)))
        .await?;
    let now = unix_now();
    let mut best: BTreeMap<(String, i64), MatchRecord> = BTreeMap::new();
    for h in hits {
        let Some(items) = contents.get(&h.entry) else {
            continue; // deleted since it was indexed
        };
        // Every item holding the entry answers (HMA's index holds one
        // row per item and signal).
        for c in items {
            if let Filter::Lookup { coin } = filter {
                let ratio = ratios.get(&h.list).copied().unwrap_or(0.0);
                if !c.enabled_at(now) || ratio < coin || ratio <= 0.0 {
                    continue;
                }
            }
            let key = (h.list.clone(), c.content_id);
            match best.get(&key) {
                Some(b) if b.distance.unwrap_or(0) <= h.distance.unwrap_or(0) => {}
                _ => {
                    best.insert(key, h.clone());
                }
            }
        }
    }
    let mut out: BTreeMap<String, Vec<Json_>> = BTreeMap::new();
    for ((bank, id), h) in best {
        let mut item = json!({"bank_content_id": id, "distance": distance_text(&h)});
        if st.hma.views {
            item["view"] = json!(h.view);
        }
        out.entry(bank).or_default().push(item);
    }
    Ok(out)
}

/// Check an HMA signal type name as HMA does (unknown, disabled).
fn signal_type_checked(st: &AppState, name: &str) -> HmaResult<hashdb::SignalType> {
    let t =
        signals::signal_type(name).ok_or_else(|| bad(format!("No such SignalType '{name}'")))?;
    if !config::signal_type_enabled(st, name) {
        return Err(bad(format!("SignalType '{name}' is not enabled")));
    }
    Ok(t)
}

/// The hits of one HMA signal: the entries of that signal type.
fn signal_hits(st: &AppState, name: &str, v: &Value) -> HmaResult<Vec<MatchRecord>> {
    let hits = match_value(st, v, 100)?;
    Ok(hits
        .into_iter()
        .filter(|h| hit_signal(h) == Some(name))
        .collect())
}

/// Look up a signal given as text (`signal_type=` + `signal=`).
fn text_hits(st: &AppState, name: &str, text: &str) -> HmaResult<Vec<MatchRecord>> {
    let t = signal_type_checked(st, name)?;
    let v = signals::parse_value(t, text).map_err(|e| bad(format!("invalid signal: {e}")))?;
    signal_hits(st, name, &v)
}

/// `{signal_type: {bank: [matches]}}` for the signals of a hashed file.
async fn lookup_signals(
    st: &Arc<AppState>,
    rec: FileRecord,
    sigs: Vec<HmaSignal>,
    banks: Option<&BTreeSet<String>>,
    coin: f64,
) -> HmaResult<Map<String, Json_>> {
    config::refresh_signal_ratios(st).await?;
    // With --hma-views, a photo's PDQ is matched with its views.
    let view_hits = if st.hma.views && sigs.iter().any(|s| s.name == "pdq") {
        let rec = match_file(st, rec).await?;
        Some(rec.matches.unwrap_or_default())
    } else {
        None
    };
    let mut out = Map::new();
    for s in sigs {
        let Some(v) = &s.value else {
            return Err(bad(format!(
                "invalid signal: invalid PDQ hash ({} of quality below 50)",
                s.name
            )));
        };
        signal_type_checked(st, s.name)?;
        let hits = match (&view_hits, s.name) {
            (Some(h), "pdq") => h
                .iter()
                .filter(|h| hit_signal(h) == Some("pdq"))
                .cloned()
                .collect(),
            _ => signal_hits(st, s.name, v)?,
        };
        let m = bank_matches(st, hits, banks, Filter::Lookup { coin }).await?;
        out.insert(s.name.to_string(), json!(m));
    }
    Ok(out)
}

/// `GET /m/lookup?signal_type=&signal=[&banks=][&seed=][&bypass_coinflip=]`:
/// `{bank: [matches]}`; with `url=` the media is fetched and hashed:
/// `{signal_type: {bank: [...]}}` (or just the `signal_type` given).
pub async fn lookup_get(
    State(st): State<Arc<AppState>>,
    q: Result<Query<LookupQuery>, axum::extract::rejection::QueryRejection>,
) -> HmaResult<Json<Json_>> {
    let Query(q) = q.map_err(|e| invalid_params(e.body_text()))?;
    let banks = q.banks();
    let coin = q.coin();
    config::refresh_signal_ratios(&st).await?;
    if let Some(url) = &q.url {
        require_hasher(&st)?;
        let (rec, kind) = hash_url(&st, url, q.content_type.as_deref()).await?;
        let sigs = signals::hma_signals(&rec, &kind, q.types.as_deref())?;
        let all = lookup_signals(&st, rec, sigs, banks.as_ref(), coin).await?;
        return Ok(Json(match q.signal_type.as_deref() {
            Some(t) => all.get(t).cloned().unwrap_or_else(|| json!({})),
            None => Json_::Object(all),
        }));
    }
    let (Some(signal), Some(name)) = (q.signal.as_deref(), q.signal_type.as_deref()) else {
        return Err(bad(
            "Either url or both signal and signal_type are required",
        ));
    };
    let hits = text_hits(&st, name, signal)?;
    Ok(Json(json!(
        bank_matches(&st, hits, banks.as_ref(), Filter::Lookup { coin }).await?
    )))
}

/// `GET /m/raw_lookup?signal_type=&signal=[&include_distance=true][&banks=]`:
/// `{"matches": [bank_content_id...]}`, or with distances
/// `{"matches": [{"bank_content_id", "distance"}]}`.
pub async fn raw_lookup(
    State(st): State<Arc<AppState>>,
    q: Result<Query<LookupQuery>, axum::extract::rejection::QueryRejection>,
) -> HmaResult<Json<Json_>> {
    let Query(q) = q.map_err(|e| invalid_params(e.body_text()))?;
    let (Some(signal), Some(name)) = (q.signal.as_deref(), q.signal_type.as_deref()) else {
        let missing = if q.signal.is_none() {
            "signal"
        } else {
            "signal_type"
        };
        return Err(invalid_params(format!("{missing}: Field required")));
    };
    let with_distance = match q.include_distance.as_deref() {
        None => false,
        Some(v) => pydantic_bool(v)
            .ok_or_else(|| invalid_params("include_distance: Input should be a valid boolean"))?,
    };
    config::refresh_signal_ratios(&st).await?;
    let hits = text_hits(&st, name, signal)?;
    let mut by_bank = bank_matches(&st, hits, q.banks().as_ref(), Filter::Raw).await?;
    // Disabled banks are not in the index; raw lookup includes them, as
    // HMA's does (see raw_disabled).
    let v = signals::parse_value(signal_type_checked(&st, name)?, signal)
        .map_err(|e| bad(format!("invalid signal: {e}")))?;
    let banks = q.banks();
    let disabled = st
        .read(move |s| Ok(raw_disabled::disabled_bank_matches(s, &v, banks.as_ref())?))
        .await?;
    for m in disabled {
        // A bank disabled a moment ago may still be in the index (until
        // the next poll): one answer per content item all the same.
        let found = by_bank.entry(m.bank).or_default();
        if !found.iter().any(|i| i["bank_content_id"] == m.content_id) {
            let distance = m
                .distance
                .map_or_else(|| "-".to_string(), |d| d.to_string());
            found.push(json!({"bank_content_id": m.content_id, "distance": distance}));
        }
    }
    let mut items: Vec<Json_> = by_bank.into_values().flatten().collect();
    items.sort_by_key(|i| i["bank_content_id"].as_i64());
    let matches: Vec<Json_> = if with_distance {
        items
    } else {
        items
            .into_iter()
            .map(|i| i["bank_content_id"].clone())
            .collect()
    };
    Ok(Json(json!({ "matches": matches })))
}

#[derive(Debug, Deserialize)]
pub struct HashQuery {
    url: Option<String>,
    content_type: Option<String>,
    types: Option<String>,
}

fn signal_map(sigs: &[HmaSignal]) -> Json_ {
    let m: Map<String, Json_> = sigs
        .iter()
        .map(|s| (s.name.to_string(), json!(s.text)))
        .collect();
    Json_::Object(m)
}

/// `POST /h/hash[?types=]` (multipart `photo` or `video`): `{signal_type: hash}`
/// (a photo's PDQ of quality below 50 is `""`, as pytx hashes it).
pub async fn hash_post(
    State(st): State<Arc<AppState>>,
    q: Result<Query<HashQuery>, axum::extract::rejection::QueryRejection>,
    req: Request,
) -> HmaResult<Json<Json_>> {
    // HMA checks the role first of all, before reading the query or body.
    require_hasher(&st)?;
    let Query(q) = q.map_err(|e| invalid_params(e.body_text()))?;
    let (rec, kind) = hash_form(&st, req).await?;
    check_hashed(&rec, &kind)?;
    Ok(Json(signal_map(&hma_signals(
        &rec,
        &kind,
        q.types.as_deref(),
    )?)))
}

/// A file that did not hash, or a video sent as a photo: 400.
fn check_hashed(rec: &FileRecord, kind: &str) -> HmaResult<()> {
    if let Some(e) = &rec.error {
        // A declared video that is no video still has its MD5 (HMA
        // hashes the bytes); anything else that failed is refused.
        if !(kind == "video" && rec.md5.is_some()) {
            return Err(bad(format!("could not hash the media: {}", e.message)));
        }
    }
    Ok(())
}

/// `GET /h/hash?url=[&content_type=][&types=]`: fetch (allowlisted hosts
/// only) and hash.
pub async fn hash_get(
    State(st): State<Arc<AppState>>,
    q: Result<Query<HashQuery>, axum::extract::rejection::QueryRejection>,
) -> HmaResult<Json<Json_>> {
    let Query(q) = q.map_err(|e| invalid_params(e.body_text()))?;
    let url = q
        .url
        .as_deref()
        .ok_or_else(|| invalid_params("url: Field required"))?;
    let (rec, kind) = hash_url(&st, url, q.content_type.as_deref()).await?;
    check_hashed(&rec, &kind)?;
    Ok(Json(signal_map(&hma_signals(
        &rec,
        &kind,
        q.types.as_deref(),
    )?)))
}

/// `POST /m/lookup[?banks=][&types=][&seed=][&bypass_coinflip=]`
/// (multipart `photo` or `video`): `{signal_type: {bank: [matches]}}`.
pub async fn lookup_post(
    State(st): State<Arc<AppState>>,
    q: Result<Query<LookupQuery>, axum::extract::rejection::QueryRejection>,
    req: Request,
) -> HmaResult<Json<Json_>> {
    // HMA checks the role first of all, before reading the query or body.
    require_hasher(&st)?;
    let Query(q) = q.map_err(|e| invalid_params(e.body_text()))?;
    let (rec, kind) = hash_form(&st, req).await?;
    check_hashed(&rec, &kind)?;
    let sigs = hma_signals(&rec, &kind, q.types.as_deref())?;
    let out = lookup_signals(&st, rec, sigs, q.banks().as_ref(), q.coin()).await?;
    Ok(Json(Json_::Object(out)))
}

/// `POST /m/compare` `{"pdq": [a, b]}`: `{"pdq": [matched, {"distance": d}]}`.
/// The body is parsed straight into strings (a JSON array of anything
/// else is refused at its first element, before it can grow in memory).
pub async fn compare(
    body: Result<BoundedJson<BTreeMap<String, Vec<String>>>, ApiError>,
) -> HmaResult<Json<Json_>> {
    let BoundedJson(body) = body.map_err(|e| {
        if e.status == StatusCode::BAD_REQUEST {
            bad(format!(
                "expected {{signal_type: [hash, hash]}} with string hashes: {}",
                e.message
            ))
        } else {
            HmaError(e)
        }
    })?;
    if body.is_empty() {
        return Err(bad("expected {signal_type: [hash, hash]}"));
    }
    let mut out = Map::new();
    for (name, pair) in body {
        let [a, b] = pair.as_slice() else {
            return Err(bad(format!("{name}: expected a list of two hashes")));
        };
        let t = signals::signal_type(&name)
            .ok_or_else(|| bad(format!("No such SignalType '{name}'")))?;
        let parse = |s: &str| {
            signals::parse_value(t, s).map_err(|e| bad(format!("invalid {name} signal: {e}")))
        };
        let (a, b) = (parse(a)?, parse(b)?);
        let (matched, distance) = match (&a, &b) {
            (Value::Pdq(x), Value::Pdq(y)) => {
                let d = x.distance(y);
                (d <= hashdb::model::DEFAULT_PDQ_THRESHOLD, d)
            }
            _ => {
                let same = a.key() == b.key();
                (same, u32::from(!same))
            }
        };
        out.insert(name, json!([matched, {"distance": distance}]));
    }
    Ok(Json(Json_::Object(out)))
}

#[derive(Debug, Deserialize)]
pub struct IndexStatusQuery {
    signal_type: Option<String>,
}

/// `GET /m/index/status[?signal_type=]`: per signal type,
/// `{"built_to", "present", "size"}`.
pub async fn index_status(
    State(st): State<Arc<AppState>>,
    q: Result<Query<IndexStatusQuery>, axum::extract::rejection::QueryRejection>,
) -> HmaResult<Json<Json_>> {
    let Query(q) = q.map_err(|e| invalid_params(e.body_text()))?;
    let names = config::selected_signal_types(q.signal_type.as_deref())?;
    let ready = st.ready.load(Ordering::Acquire);
    let (sizes, newest) = config::index_counts(&st).await?;
    let mut out = Map::new();
    for name in names {
        let size = sizes.get(name).copied().unwrap_or(0);
        out.insert(
            name.into(),
            json!({"present": ready, "built_to": if ready { newest } else { -1 }, "size": size}),
        );
    }
    Ok(Json(Json_::Object(out)))
}

fn bank_json(name: &str, ratio: f64) -> Json_ {
    json!({"name": name, "matching_enabled_ratio": ratio})
}

/// `GET /c/banks`: in creation order, as HMA lists them.
pub async fn banks(State(st): State<Arc<AppState>>) -> HmaResult<Json<Vec<Json_>>> {
    let (mut lists, ratios) = st.read(|s| Ok((s.lists()?, s.hma_ratios()?))).await?;
    lists.sort_by_key(|l| l.id);
    Ok(Json(
        lists
            .iter()
            .map(|l| bank_json(&l.name, ratios.get(&l.name).copied().unwrap_or(0.0)))
            .collect(),
    ))
}

async fn bank_answer(st: &Arc<AppState>, name: String) -> HmaResult<Json<Json_>> {
    let n = name.clone();
    match st
        .read(move |s| {
            s.list(&n)?;
            Ok(s.hma_ratios()?.get(&n).copied().unwrap_or(0.0))
        })
        .await
    {
        Ok(r) => Ok(Json(bank_json(&name, r))),
        Err(e) if e.status == StatusCode::NOT_FOUND => Err(bank_not_found(&name)),
        Err(e) => Err(e.into()),
    }
}

/// `GET /c/bank/<name>`.
pub async fn bank_get(
    State(st): State<Arc<AppState>>,
    UrlPath(name): UrlPath<String>,
) -> HmaResult<Json<Json_>> {
    bank_answer(&st, name).await
}

/// HMA's bank name rule.
fn valid_bank_name(name: &str) -> bool {
    let mut c = name.chars();
    c.next().is_some_and(|f| f.is_ascii_uppercase() || f == '_')
        && c.all(|ch| ch.is_ascii_uppercase() || ch.is_ascii_digit() || ch == '_')
}

fn check_bank_name(name: &str) -> HmaResult<()> {
    if valid_bank_name(name) {
        Ok(())
    } else {
        Err(bad(format!(
            "Bank names must be UPPER_WITH_UNDERSCORE and not start with a number: {name:?}"
        )))
    }
}

/// The ratio a create/update body sets: `enabled_ratio` wins over
/// `enabled` (true 1, false 0), as in HMA.
fn ratio_of(body: &Map<String, Json_>) -> HmaResult<Option<f64>> {
    if let Some(r) = body.get("enabled_ratio").filter(|v| !v.is_null()) {
        let r = match r {
            Json_::Number(n) => n.as_f64(),
            Json_::String(s) => s.trim().parse().ok(),
            _ => None,
        }
        .filter(|r: &f64| r.is_finite())
        .ok_or_else(|| invalid_params("enabled_ratio: Input should be a valid number"))?;
        if !(0.0..=1.0).contains(&r) {
            return Err(bad(format!("enabled_ratio must be between 0 and 1: {r}")));
        }
        return Ok(Some(r));
    }
    match body.get("enabled") {
        None | Some(Json_::Null) => Ok(None),
        Some(Json_::Bool(b)) => Ok(Some(if *b { 1.0 } else { 0.0 })),
        Some(Json_::String(s)) => pydantic_bool(s)
            .map(|b| Some(if b { 1.0 } else { 0.0 }))
            .ok_or_else(|| invalid_params("enabled: Input should be a valid boolean")),
        Some(Json_::Number(n)) => Ok(Some(if n.as_f64().unwrap_or(0.0) != 0.0 {
            1.0
        } else {
            0.0
        })),
        Some(_) => Err(invalid_params("enabled: Input should be a valid boolean")),
    }
}

/// `POST /c/banks` `{"name", "enabled"|"enabled_ratio"}`: 201 with the bank.
pub async fn bank_create(
    State(st): State<Arc<AppState>>,
    body: Result<BoundedJson<Map<String, Json_>>, ApiError>,
) -> HmaResult<(StatusCode, Json<Json_>)> {
    let BoundedJson(body) = body?;
    let name = body
        .get("name")
        .and_then(Json_::as_str)
        .ok_or_else(|| invalid_params("name: Field required"))?
        .to_string();
    check_bank_name(&name)?;
    let ratio = ratio_of(&body)?.unwrap_or(1.0);
    let n = name.clone();
    let res = st
        .write(move |s| {
            s.create_list(&NewList::new(n.clone()))?;
            s.set_hma_ratio(&n, ratio)?;
            Ok(())
        })
        .await;
    match res {
        Ok(()) => Ok((StatusCode::CREATED, Json(bank_json(&name, ratio)))),
        Err(e) if e.status == StatusCode::CONFLICT => Err(HmaError(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Bank already exists",
        ))),
        Err(e) => Err(e.into()),
    }
}

/// `PUT /c/bank/<name>` `{"name"?, "enabled"?, "enabled_ratio"?}`:
/// rename and/or change the ratio.
pub async fn bank_update(
    State(st): State<Arc<AppState>>,
    UrlPath(name): UrlPath<String>,
    body: Result<BoundedJson<Map<String, Json_>>, ApiError>,
) -> HmaResult<Json<Json_>> {
    let BoundedJson(body) = body?;
    ensure_bank(&st, &name)
        .await
        .map_err(|_| HmaError(ApiError::not_found("Bank not found")))?;
    let new_name = match body.get("name") {
        None | Some(Json_::Null) => None,
        Some(Json_::String(n)) => {
            check_bank_name(n)?;
            Some(n.clone())
        }
        Some(_) => return Err(invalid_params("name: Input should be a valid string")),
    };
    let ratio = ratio_of(&body)?;
    let target = new_name.clone().unwrap_or_else(|| name.clone());
    let from = name.clone();
    let res = st
        .write(move |s| {
            if let Some(n) = &new_name {
                s.rename_list(&from, n)?;
            }
            let current = new_name.as_deref().unwrap_or(&from);
            if let Some(r) = ratio {
                s.set_hma_ratio(current, r)?;
            }
            Ok(())
        })
        .await;
    match res {
        Ok(()) => {
            wait_synced(&st).await;
            bank_answer(&st, target).await
        }
        Err(e) if e.status == StatusCode::NOT_FOUND => {
            Err(HmaError(ApiError::not_found("Bank not found")))
        }
        Err(e) if e.status == StatusCode::CONFLICT => Err(HmaError(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Bank name already exists",
        ))),
        Err(e) => Err(e.into()),
    }
}

/// `DELETE /c/bank/<name>`: `{"message": "Done"}` (also for a missing bank).
pub async fn bank_delete(
    State(st): State<Arc<AppState>>,
    UrlPath(name): UrlPath<String>,
) -> HmaResult<Json<Json_>> {
    let res = st.write(move |s| Ok(s.delete_list(&name)?)).await;
    match res {
        Ok(()) => {
            wait_synced(&st).await;
            Ok(Json(json!({"message": "Done"})))
        }
        Err(e) if e.status == StatusCode::NOT_FOUND => Ok(Json(json!({"message": "Done"}))),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bank_names_and_ratios() {
        assert!(valid_bank_name("MY_BANK_01") && valid_bank_name("_X"));
        assert!(!valid_bank_name("01_BANK") && !valid_bank_name("my_bank") && !valid_bank_name(""));
        let body = |v: Json_| v.as_object().cloned().unwrap_or_default();
        assert_eq!(
            ratio_of(&body(json!({"enabled": false}))).ok(),
            Some(Some(0.0))
        );
        assert_eq!(
            ratio_of(&body(json!({"enabled": true, "enabled_ratio": 0.5}))).ok(),
            Some(Some(0.5))
        );
        assert!(ratio_of(&body(json!({"enabled_ratio": 2}))).is_err());
        assert_eq!(ratio_of(&body(json!({}))).ok(), Some(None));
        assert_eq!(pydantic_bool("Yes"), Some(true));
        assert_eq!(pydantic_bool("maybe"), None);
    }
}
