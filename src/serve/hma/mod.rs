//! HMA 2.0 compatibility: the matching, hashing and bank routes of Meta's
//! Hasher-Matcher-Actioner (`OpenMediaMatch` blueprints `matching`,
//! `hashing`, `curation`, `ui`'s `/status`), answered with HMA's paths,
//! parameters and response shapes so existing clients switch without
//! changes. HMA's names map onto ours: a bank is a list, a bank's content
//! is an entry, `video_md5` is the MD5 of a video file. HMA answers
//! errors as `{"message": ...}`; so do these routes.
//!
//! Media fetching by `?url=` is refused unless the operator allowlists
//! hosts (`--fetch-allow-host`): fetching arbitrary URLs from inside a
//! trust-and-safety network is an SSRF hole (see [`super::fetch`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::record::FileRecord;
use axum::extract::{Path as UrlPath, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use hashdb::model::{NewList, Record, Value};
use hashdb::store::ImportOptions;
use hashdb::SignalType;
use serde::Deserialize;
use serde_json::{json, Map, Value as Json_};

use super::api::{hash_upload, match_file, match_value, parse_signal};
use super::body::{upload, BoundedJson};
use super::error::ApiError;
use super::state::AppState;

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
        let mut r = (self.0.status, Json(json!({"message": self.0.message}))).into_response();
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

/// Fetch and hash `url` (allowlisted hosts only; see [`super::fetch`]).
async fn hash_url(
    st: &Arc<AppState>,
    url: &str,
    content_type: Option<&str>,
) -> HmaResult<FileRecord> {
    let f = super::fetch::fetch(url, &st.fetch_allow, st.max_body, st.timeout).await?;
    let ticket = st.jobs.admit()?;
    let kind = match content_type {
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
    let up = super::body::Upload {
        field: Some(kind),
        file_name: None,
        data: f.data,
    };
    let rec = hash_upload(st, ticket, up).await?;
    if let Some(e) = &rec.error {
        return Err(bad(format!("could not hash the media: {}", e.message)));
    }
    Ok(rec)
}

/// `GET /status`: `I-AM-ALIVE` once the index is loaded.
pub async fn status(State(st): State<Arc<AppState>>) -> Response {
    if st.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "I-AM-ALIVE").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "INDEX-NOT-READY").into_response()
    }
}

#[derive(Debug, Deserialize)]
pub struct LookupQuery {
    pub signal_type: Option<String>,
    pub signal: Option<String>,
    pub url: Option<String>,
    /// With `url`: photo or video (else from the response's Content-Type).
    pub content_type: Option<String>,
    /// Comma-separated bank names: only matches in these banks.
    pub banks: Option<String>,
    /// `raw_lookup`: entries with their distances instead of bare ids.
    pub include_distance: Option<String>,
    // HMA's `seed` and `bypass_coinflip` pick which partially enabled banks
    // answer; a list here is enabled (ratio 1) or disabled (ratio 0, never
    // matches), so the coin flip cannot change an answer: both are accepted
    // (unknown query parameters are ignored) and need no field.
}

impl LookupQuery {
    fn banks(&self) -> Option<BTreeSet<&str>> {
        self.banks
            .as_deref()
            .map(|b| b.split(',').filter(|s| !s.is_empty()).collect())
    }
}

/// HMA's distance text (`SignalSimilarityInfo.pretty_str()`): the Hamming
/// distance for PDQ, 0 for exact hashes, the two match percentages for vPDQ.
fn distance_text(h: &crate::matching::MatchRecord) -> String {
    match (&h.vpdq, h.distance) {
        (Some(v), _) => format!("{:.0}%/{:.0}%", v.query_percent, v.target_percent),
        (None, Some(d)) => d.to_string(),
        (None, None) => "0".to_string(),
    }
}

/// HMA's per-bank answer, `{bank: [{"bank_content_id", "distance"}]}`:
/// enabled banks' (not allowlisted) hits, one item per entry (its best
/// view), restricted to `banks` when given.
fn bank_matches<'a>(
    hits: impl Iterator<Item = &'a crate::matching::MatchRecord>,
    banks: Option<&BTreeSet<&str>>,
) -> BTreeMap<String, Vec<Json_>> {
    let mut best: BTreeMap<(&str, i64), &crate::matching::MatchRecord> = BTreeMap::new();
    for h in hits.filter(|h| !h.suppressed) {
        if banks.is_some_and(|b| !b.contains(h.list.as_str())) {
            continue;
        }
        let e = best.entry((h.list.as_str(), h.entry)).or_insert(h);
        if h.distance.unwrap_or(0) < e.distance.unwrap_or(0) {
            *e = h;
        }
    }
    let mut out: BTreeMap<String, Vec<Json_>> = BTreeMap::new();
    for ((bank, id), h) in best {
        let item = json!({"bank_content_id": id, "distance": distance_text(h)});
        out.entry(bank.to_string()).or_default().push(item);
    }
    out
}

/// `GET /m/lookup?signal_type=&signal=[&banks=]`: `{bank: [matches]}`; with
/// `url=` the media is fetched and hashed: `{signal_type: {bank: [...]}}`
/// (or just the `signal_type` given).
pub async fn lookup_get(
    State(st): State<Arc<AppState>>,
    q: Result<Query<LookupQuery>, axum::extract::rejection::QueryRejection>,
) -> HmaResult<Json<Json_>> {
    let Query(q) = q.map_err(|e| bad(e.body_text()))?;
    let banks = q.banks();
    if let Some(url) = &q.url {
        let rec = hash_url(&st, url, q.content_type.as_deref()).await?;
        let Json(all) = lookup_record(&st, rec, banks.as_ref()).await?;
        return Ok(Json(match q.signal_type.as_deref() {
            Some(t) => all.get(t).cloned().unwrap_or_else(|| json!({})),
            None => all,
        }));
    }
    if q.signal.is_none() || q.signal_type.is_none() {
        return Err(bad(
            "Either url or both signal and signal_type are required",
        ));
    }
    let v = parse_signal(q.signal_type.as_deref(), q.signal.as_deref())?;
    let hits = match_value(&st, &v, 100)?;
    Ok(Json(json!(bank_matches(hits.iter(), banks.as_ref()))))
}

/// `GET /m/raw_lookup?signal_type=&signal=[&include_distance=true][&banks=]`:
/// `{"matches": [bank_content_id...]}`, or with distances
/// `{"matches": [{"bank_content_id", "distance"}]}`.
pub async fn raw_lookup(
    State(st): State<Arc<AppState>>,
    q: Result<Query<LookupQuery>, axum::extract::rejection::QueryRejection>,
) -> HmaResult<Json<Json_>> {
    let Query(q) = q.map_err(|e| bad(e.body_text()))?;
    let v = parse_signal(q.signal_type.as_deref(), q.signal.as_deref())?;
    let hits = match_value(&st, &v, 100)?;
    let with_distance = matches!(
        q.include_distance
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("true" | "1" | "yes")
    );
    let mut items: Vec<Json_> = bank_matches(hits.iter(), q.banks().as_ref())
        .into_values()
        .flatten()
        .collect();
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

/// Check HMA's multipart field name: the content type.
fn content_type_of(field: Option<&str>) -> HmaResult<()> {
    match field {
        Some("photo") | Some("video") => Ok(()),
        Some(other) => Err(bad(format!("no such content_type: '{other}'"))),
        None => Err(bad("Missing multipart/form-data file upload")),
    }
}

async fn hash_form(st: &Arc<AppState>, req: Request) -> HmaResult<FileRecord> {
    let up = upload(req, st).await?;
    let ticket = st.jobs.admit()?;
    content_type_of(up.field.as_deref())?;
    let rec = hash_upload(st, ticket, up).await?;
    if let Some(e) = &rec.error {
        return Err(bad(format!("could not hash the upload: {}", e.message)));
    }
    Ok(rec)
}

/// The HMA signals of a hashed file: `pdq` of a photo, `video_md5` of a
/// video (plus `vpdq`, which HMA's vPDQ extension adds).
fn hma_signals(rec: &FileRecord) -> Map<String, Json_> {
    let mut m = Map::new();
    if rec.media == "video" {
        if let Some(h) = rec.md5 {
            m.insert("video_md5".into(), json!(h.to_string()));
        }
    } else if let Some(p) = rec.pdq.first() {
        m.insert("pdq".into(), json!(p.hash.to_string()));
    }
    m
}

/// `POST /h/hash` (multipart `photo` or `video`): `{signal_type: hash}`.
pub async fn hash_post(State(st): State<Arc<AppState>>, req: Request) -> HmaResult<Json<Json_>> {
    let rec = hash_form(&st, req).await?;
    Ok(Json(Json_::Object(hma_signals(&rec))))
}

/// `GET /h/hash?url=[&content_type=]`: fetch (allowlisted hosts only) and hash.
pub async fn hash_get(
    State(st): State<Arc<AppState>>,
    q: Result<Query<LookupQuery>, axum::extract::rejection::QueryRejection>,
) -> HmaResult<Json<Json_>> {
    let Query(q) = q.map_err(|e| bad(e.body_text()))?;
    let url = q.url.as_deref().ok_or_else(|| bad("url is required"))?;
    let rec = hash_url(&st, url, q.content_type.as_deref()).await?;
    Ok(Json(Json_::Object(hma_signals(&rec))))
}

/// `POST /m/lookup[?banks=]` (multipart `photo` or `video`):
/// `{signal_type: {bank: [matches]}}`.
pub async fn lookup_post(
    State(st): State<Arc<AppState>>,
    q: Result<Query<LookupQuery>, axum::extract::rejection::QueryRejection>,
    req: Request,
) -> HmaResult<Json<Json_>> {
    let Query(q) = q.map_err(|e| bad(e.body_text()))?;
    let rec = hash_form(&st, req).await?;
    lookup_record(&st, rec, q.banks().as_ref()).await
}

/// `{signal_type: {bank: [matches]}}` for a hashed upload.
async fn lookup_record(
    st: &Arc<AppState>,
    rec: FileRecord,
    banks: Option<&BTreeSet<&str>>,
) -> HmaResult<Json<Json_>> {
    let media = rec.media;
    let rec = match_file(st, rec).await?;
    let mut out = Map::new();
    let hits = rec.matches.as_deref().unwrap_or_default();
    for name in hma_signals(&rec).keys() {
        let by: &[&str] = match name.as_str() {
            "pdq" => &["pdq"],
            _ => &["md5"],
        };
        let m = bank_matches(hits.iter().filter(|h| by.contains(&h.hit_by)), banks);
        out.insert(name.clone(), json!(m));
    }
    if media == "video" {
        let m = bank_matches(
            hits.iter()
                .filter(|h| h.hit_by == "vpdq" || h.hit_by == "frames"),
            banks,
        );
        out.insert("vpdq".into(), json!(m));
    }
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
        let a = parse_signal(Some(&name), Some(a))?;
        let b = parse_signal(Some(&name), Some(b))?;
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

/// `GET /m/index/status`: per signal type, `{"built_to", "present", "size"}`.
pub async fn index_status(State(st): State<Arc<AppState>>) -> HmaResult<Json<Json_>> {
    let ready = st.ready.load(Ordering::Acquire);
    let stats = st.read(|s| Ok(s.stats()?)).await?;
    let mut sizes: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut built_to = -1i64;
    for s in stats.iter().filter(|s| s.list.enabled) {
        built_to = built_to.max(s.list.updated_at);
        for c in s.counts.iter().filter(|c| c.status == "active") {
            let name = match c.signal_type.as_str() {
                "md5" => "video_md5",
                "pdq" => "pdq",
                "vpdq" => "vpdq",
                "sha256" => "sha256",
                _ => "blake3",
            };
            *sizes.entry(name).or_default() += c.count;
        }
    }
    let mut out = Map::new();
    for name in ["pdq", "video_md5", "vpdq", "sha256", "blake3"] {
        let size = sizes.get(name).copied().unwrap_or(0);
        out.insert(
            name.into(),
            json!({"present": ready, "built_to": if ready { built_to } else { -1 }, "size": size}),
        );
    }
    Ok(Json(Json_::Object(out)))
}

fn bank_json(l: &hashdb::model::ListInfo) -> Json_ {
    json!({"name": l.name, "matching_enabled_ratio": if l.enabled { 1.0 } else { 0.0 }})
}

/// `GET /c/banks`.
pub async fn banks(State(st): State<Arc<AppState>>) -> HmaResult<Json<Vec<Json_>>> {
    let lists = st.read(|s| Ok(s.lists()?)).await?;
    Ok(Json(lists.iter().map(bank_json).collect()))
}

/// `GET /c/bank/<name>`.
pub async fn bank_get(
    State(st): State<Arc<AppState>>,
    UrlPath(name): UrlPath<String>,
) -> HmaResult<Json<Json_>> {
    let n = name.clone();
    match st.read(move |s| Ok(s.list(&n)?)).await {
        Ok(l) => Ok(Json(bank_json(&l))),
        Err(e) if e.status == StatusCode::NOT_FOUND => Err(HmaError(ApiError::not_found(format!(
            "bank '{name}' not found"
        )))),
        Err(e) => Err(e.into()),
    }
}

/// HMA's bank name rule.
fn valid_bank_name(name: &str) -> bool {
    let mut c = name.chars();
    c.next().is_some_and(|f| f.is_ascii_uppercase() || f == '_')
        && c.all(|ch| ch.is_ascii_uppercase() || ch.is_ascii_digit() || ch == '_')
}

fn ratio_of(body: &Map<String, Json_>) -> HmaResult<Option<bool>> {
    if let Some(r) = body.get("enabled_ratio") {
        let r = match r {
            Json_::Number(n) => n.as_f64(),
            Json_::String(s) => s.parse().ok(),
            _ => None,
        }
        .ok_or_else(|| bad("enabled_ratio must be a number"))?;
        return Ok(Some(r > 0.0));
    }
    match body.get("enabled") {
        None => Ok(None),
        Some(Json_::Bool(b)) => Ok(Some(*b)),
        Some(Json_::String(s)) => Ok(Some(matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "1" | "yes"
        ))),
        Some(Json_::Number(n)) => Ok(Some(n.as_f64().unwrap_or(0.0) != 0.0)),
        Some(_) => Err(bad("enabled must be a boolean")),
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
        .ok_or_else(|| bad("missing field name"))?
        .to_string();
    if !valid_bank_name(&name) {
        return Err(bad(format!(
            "Bank names must be UPPER_WITH_UNDERSCORE and not start with a number: {name:?}"
        )));
    }
    let enabled = ratio_of(&body)?.unwrap_or(true);
    let res = st
        .write(move |s| {
            let mut l = s.create_list(&NewList::new(name.clone()))?;
            if !enabled {
                l = s.set_list_enabled(&name, false)?;
            }
            Ok(l)
        })
        .await;
    match res {
        Ok(l) => Ok((StatusCode::CREATED, Json(bank_json(&l)))),
        Err(e) if e.status == StatusCode::CONFLICT => Err(HmaError(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Bank already exists",
        ))),
        Err(e) => Err(e.into()),
    }
}

/// `PUT /c/bank/<name>` `{"enabled"|"enabled_ratio"}`.
pub async fn bank_update(
    State(st): State<Arc<AppState>>,
    UrlPath(name): UrlPath<String>,
    body: Result<BoundedJson<Map<String, Json_>>, ApiError>,
) -> HmaResult<Json<Json_>> {
    let BoundedJson(body) = body?;
    if body
        .get("name")
        .and_then(Json_::as_str)
        .is_some_and(|n| n != name)
    {
        return Err(bad("renaming banks is not supported"));
    }
    let enabled = ratio_of(&body)?;
    let res = st
        .write(move |s| match enabled {
            Some(en) => Ok(s.set_list_enabled(&name, en)?),
            None => Ok(s.list(&name)?),
        })
        .await;
    match res {
        Ok(l) => Ok(Json(bank_json(&l))),
        Err(e) if e.status == StatusCode::NOT_FOUND => {
            Err(HmaError(ApiError::not_found("Bank not found")))
        }
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
        Ok(()) => Ok(Json(json!({"message": "Done"}))),
        Err(e) if e.status == StatusCode::NOT_FOUND => Ok(Json(json!({"message": "Done"}))),
        Err(e) => Err(e.into()),
    }
}

async fn add_records(
    st: &Arc<AppState>,
    bank: String,
    recs: Vec<Record>,
    signals: Map<String, Json_>,
) -> HmaResult<Json<Json_>> {
    let b = bank.clone();
    let res = st
        .write(move |s| {
            let sum = s.import(
                &b,
                recs.iter().cloned().map(Ok),
                std::path::Path::new("request"),
                ImportOptions::default(),
            )?;
            // The content id: the first entry added, else the existing one.
            let id = match sum.added_ids.first() {
                Some(id) => *id,
                None => {
                    let key = recs.first().map(|r| (r.value.signal_type(), r.value.key()));
                    let mut found = 0;
                    for id in s.entry_ids(&b)? {
                        let e = s.entry(id)?;
                        if Some((e.record.value.signal_type(), e.record.value.key())) == key {
                            found = id;
                            break;
                        }
                    }
                    found
                }
            };
            Ok(id)
        })
        .await;
    match res {
        Ok(id) => Ok(Json(json!({"id": id, "signals": signals}))),
        Err(e) if e.status == StatusCode::NOT_FOUND => Err(HmaError(ApiError::not_found(format!(
            "bank '{bank}' not found"
        )))),
        Err(e) => Err(e.into()),
    }
}

/// `POST /c/bank/<name>/signal` `{"pdq": "hex", ...}`: `{"id", "signals"}`.
pub async fn bank_add_signal(
    State(st): State<Arc<AppState>>,
    UrlPath(name): UrlPath<String>,
    body: Result<BoundedJson<Map<String, Json_>>, ApiError>,
) -> HmaResult<Json<Json_>> {
    let BoundedJson(body) = body?;
    if body.is_empty() {
        return Err(bad("No signals given"));
    }
    let mut recs = Vec::new();
    let mut signals = Map::new();
    for (t, v) in &body {
        let s = v
            .as_str()
            .ok_or_else(|| bad(format!("Invalid {t} signal: not a string")))?;
        let st_: SignalType = t
            .parse()
            .map_err(|_| bad(format!("No such signal type {t}")))?;
        let value =
            Value::parse(st_, s.trim()).map_err(|e| bad(format!("Invalid {t} signal: {e}")))?;
        signals.insert(t.clone(), json!(value.to_text()));
        recs.push(Record::new(value));
    }
    add_records(&st, name, recs, signals).await
}

/// `POST /c/bank/<name>/content` (multipart `photo` or `video`): hash and
/// bank the upload: `{"id", "signals"}`.
pub async fn bank_add_content(
    State(st): State<Arc<AppState>>,
    UrlPath(name): UrlPath<String>,
    Query(q): Query<LookupQuery>,
    req: Request,
) -> HmaResult<Json<Json_>> {
    let n = name.clone();
    if let Err(e) = st.read(move |s| Ok(s.list(&n)?)).await {
        return Err(if e.status == StatusCode::NOT_FOUND {
            HmaError(ApiError::not_found(format!("bank '{name}' not found")))
        } else {
            e.into()
        });
    }
    let rec = match &q.url {
        Some(url) => hash_url(&st, url, q.content_type.as_deref()).await?,
        None => hash_form(&st, req).await?,
    };
    let signals = hma_signals(&rec);
    let mut recs = super::lists::records_of(&rec, &[], None, None);
    // HMA banks the hashes of its signal types: the photo's PDQ, the
    // video's MD5 (and our vPDQ); the other digests go first-class too.
    recs.sort_by_key(|r| match r.value.signal_type() {
        SignalType::Pdq => 0,
        SignalType::Md5 if rec.media == "video" => 0,
        SignalType::Vpdq => 1,
        _ => 2,
    });
    add_records(&st, name, recs, signals).await
}
