//! HMA's bank content routes: adding a signal set or a hashed photo/video
//! as one content item (`POST /c/bank/<bank>/signal`, `.../content`), and
//! reading, changing and deleting an item
//! (`GET/PUT/DELETE /c/bank/<bank>/content/<id>`). An item holds our
//! entries under one HMA content id ([`hashdb::store::hma_content`]);
//! as in HMA, every add makes a new item, also when the bank holds its
//! hashes already (the entries are shared, the items are not).

use std::sync::Arc;

use axum::extract::{Path as UrlPath, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::Json;
use hashdb::model::Value;
use hashdb::store::hma_content::MAX_NOTE_CHARS;
use serde::Deserialize;
use serde_json::{json, Map, Value as Json_};

use super::signals::{hma_signals, parse_hma_signal, signal_text, HmaSignal};
use super::{
    bad, bank_not_found, hash_form_fields, hash_url, wait_synced, HmaError, HmaResult, LookupQuery,
};
use crate::serve::body::{read_limited, BoundedJson};
use crate::serve::error::ApiError;
use crate::serve::state::AppState;

/// HMA's note rule: a string of at most 255 characters; empty is none.
fn note_of(v: Option<&Json_>) -> HmaResult<Option<String>> {
    match v {
        None | Some(Json_::Null) => Ok(None),
        Some(Json_::String(s)) if s.is_empty() => Ok(None),
        Some(Json_::String(s)) if s.chars().count() > MAX_NOTE_CHARS => {
            Err(bad("note must be at most 255 characters"))
        }
        Some(Json_::String(s)) => Ok(Some(s.clone())),
        Some(Json_::Bool(false)) => Ok(None),
        Some(_) => Err(bad("note should be a string")),
    }
}

/// HMA's `BankedContentMetadata`: `content_id` and `content_uri` strings,
/// `json` an object, nothing else (`collab` is dropped, as HMA does).
/// Returns the JSON text to store, or `None` when nothing is set.
fn metadata_of(v: Option<&Json_>) -> HmaResult<Option<String>> {
    let obj = match v {
        None | Some(Json_::Null) => return Ok(None),
        Some(Json_::Object(o)) => o,
        Some(_) => return Err(bad("metadata should be a json object")),
    };
    let mut out = Map::new();
    for (k, v) in obj {
        match (k.as_str(), v) {
            ("collab", _) | (_, Json_::Null) => {}
            ("content_id" | "content_uri", Json_::String(_)) => {
                out.insert(k.clone(), v.clone());
            }
            ("json", Json_::Object(_)) => {
                out.insert(k.clone(), v.clone());
            }
            ("content_id" | "content_uri", _) => {
                return Err(bad(format!(
                    "Invalid metadata: {k}: Input should be a valid string"
                )))
            }
            ("json", _) => {
                return Err(bad(
                    "Invalid metadata: json: Input should be a valid dictionary",
                ))
            }
            _ => {
                return Err(bad(format!(
                    "Invalid metadata: {k}: Extra inputs are not permitted"
                )))
            }
        }
    }
    Ok((!out.is_empty()).then(|| Json_::Object(out).to_string()))
}

/// Bank `signals` as one new content item.
async fn add_item(
    st: &Arc<AppState>,
    bank: String,
    signals: Vec<HmaSignal>,
    note: Option<String>,
    metadata: Option<String>,
) -> HmaResult<Json<Json_>> {
    if signals.is_empty() {
        return Err(bad("No signals given"));
    }
    let mut shown = Map::new();
    for s in &signals {
        shown.insert(s.name.to_string(), json!(s.text));
    }
    let b = bank.clone();
    let res = st
        .write(move |s| {
            let values: Vec<Value> = signals.into_iter().filter_map(|s| s.value).collect();
            Ok(s.hma_content_add(&b, &values, note.as_deref(), metadata.as_deref())?)
        })
        .await;
    match res {
        Ok(id) => {
            wait_synced(st).await;
            Ok(Json(json!({"id": id, "signals": shown})))
        }
        Err(e) if e.status == StatusCode::NOT_FOUND => Err(bank_not_found(&bank)),
        Err(e) => Err(e.into()),
    }
}

/// `POST /c/bank/<name>/signal` `{"pdq": "hex", ..., "note"?}`: one item
/// with these signals: `{"id", "signals"}`.
pub async fn bank_add_signal(
    State(st): State<Arc<AppState>>,
    UrlPath(name): UrlPath<String>,
    body: Result<BoundedJson<Json_>, ApiError>,
) -> HmaResult<Json<Json_>> {
    let BoundedJson(body) = body?;
    let Json_::Object(mut body) = body else {
        return Err(bad("expected a JSON object of signal_type: signal"));
    };
    let note = note_of(body.remove("note").as_ref())?;
    let mut signals = Vec::new();
    for (t, v) in &body {
        let s = v
            .as_str()
            .ok_or_else(|| bad(format!("Invalid {t} signal: not a string")))?;
        signals.push(parse_hma_signal(t, s)?);
    }
    super::ensure_bank(&st, &name).await?;
    add_item(&st, name, signals, note, None).await
}

/// The JSON body of a content add (`metadata`, `note`), if the request
/// has one.
async fn json_body(
    st: &Arc<AppState>,
    req: Request,
) -> HmaResult<(Option<Map<String, Json_>>, Request)> {
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("application/json"));
    if !is_json {
        return Ok((None, req));
    }
    let (parts, body) = req.into_parts();
    let bytes = read_limited(body, st.max_json).await?;
    let req = Request::from_parts(parts, axum::body::Body::empty());
    if bytes.is_empty() {
        return Ok((None, req));
    }
    match serde_json::from_slice::<Json_>(&bytes) {
        Ok(Json_::Object(m)) => Ok((Some(m), req)),
        Ok(_) => Ok((None, req)),
        Err(e) => Err(bad(format!("invalid JSON body: {e}"))),
    }
}

/// `POST /c/bank/<name>/content[?url=&content_type=&types=]` (a multipart
/// `photo`/`video` upload, or `url=` with an optional JSON body of
/// `metadata` and `note`): hash and bank the media as one item.
pub async fn bank_add_content(
    State(st): State<Arc<AppState>>,
    UrlPath(name): UrlPath<String>,
    q: Result<Query<LookupQuery>, axum::extract::rejection::QueryRejection>,
    req: Request,
) -> HmaResult<Json<Json_>> {
    let Query(q) = q.map_err(|e| super::invalid_params(e.body_text()))?;
    super::ensure_bank(&st, &name).await?;
    let (body, req) = json_body(&st, req).await?;
    let mut metadata = metadata_of(body.as_ref().and_then(|b| b.get("metadata")))?;
    let mut note = note_of(body.as_ref().and_then(|b| b.get("note")))?;
    let (rec, kind) = match &q.url {
        Some(url) => hash_url(&st, url, q.content_type.as_deref()).await?,
        None if body.is_some() => {
            return Err(bad("Neither `url` nor multipart file upload was received"))
        }
        None => {
            // A multipart upload carries them as form fields (HMA reads
            // `metadata` as JSON text).
            let (rec, kind, form) = hash_form_fields(&st, req).await?;
            for (k, v) in &form {
                match k.as_str() {
                    "metadata" => {
                        let m: Json_ = serde_json::from_str(v)
                            .map_err(|_| bad("metadata form field must be valid JSON"))?;
                        metadata = metadata_of(Some(&m))?;
                    }
                    "note" => note = note_of(Some(&json!(v)))?,
                    _ => {}
                }
            }
            (rec, kind)
        }
    };
    super::check_hashed(&rec, &kind)?;
    let signals = hma_signals(&rec, &kind, q.types.as_deref())?;
    // HMA refuses a hash it cannot use (a PDQ of quality below 50 hashes
    // to "", which is no valid PDQ).
    if let Some(s) = signals.iter().find(|s| s.text.is_empty()) {
        return Err(bad(format!("Invalid {} signal: invalid PDQ hash", s.name)));
    }
    add_item(&st, name, signals, note, metadata).await
}

#[derive(Debug, Deserialize)]
pub struct ContentQuery {
    include_signals: Option<String>,
    include_metadata: Option<String>,
}

fn flag(v: Option<&str>, default: bool) -> bool {
    v.map_or(default, |v| v.eq_ignore_ascii_case("true"))
}

/// The item and its bank, or HMA's 404s.
async fn item(
    st: &Arc<AppState>,
    bank: &str,
    id: i64,
) -> HmaResult<(hashdb::store::hma_content::HmaContent, f64, Vec<Value>)> {
    let b = bank.to_string();
    let found = st
        .read(move |s| {
            let list = match s.list(&b) {
                Ok(l) => l,
                Err(hashdb::error::StoreError::NoSuchList(_)) => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            let ratio = s.hma_ratios()?.get(&b).copied().unwrap_or(0.0);
            let item = s.hma_content(list.id, id)?;
            let values = match &item {
                Some(i) => i
                    .entries
                    .iter()
                    .map(|e| s.entry(*e).map(|e| e.record.value))
                    .collect::<Result<Vec<_>, _>>()?,
                None => Vec::new(),
            };
            Ok(Some((item, ratio, values)))
        })
        .await?;
    match found {
        None => Err(bank_not_found(bank)),
        Some((None, _, _)) => Err(HmaError(ApiError::not_found(format!(
            "content '{id}' not found"
        )))),
        Some((Some(i), ratio, values)) => Ok((i, ratio, values)),
    }
}

/// `GET /c/bank/<name>/content/<id>[?include_signals=true][&include_metadata=false]`.
pub async fn content_get(
    State(st): State<Arc<AppState>>,
    UrlPath((bank, id)): UrlPath<(String, i64)>,
    q: Result<Query<ContentQuery>, axum::extract::rejection::QueryRejection>,
) -> HmaResult<Json<Json_>> {
    let Query(q) = q.map_err(|e| super::invalid_params(e.body_text()))?;
    let (item, ratio, values) = item(&st, &bank, id).await?;
    let mut out = Map::new();
    out.insert("id".into(), json!(item.id));
    out.insert("disable_until_ts".into(), json!(item.disable_until_ts));
    out.insert("original_media_uri".into(), Json_::Null);
    out.insert(
        "bank".into(),
        json!({"name": bank, "matching_enabled_ratio": ratio}),
    );
    if flag(q.include_signals.as_deref(), false) {
        let mut sigs = Map::new();
        for v in &values {
            if let Some(name) = super::signals::hma_name(v.signal_type()) {
                sigs.insert(name.into(), json!(signal_text(v)));
            }
        }
        if !sigs.is_empty() {
            out.insert("signals".into(), Json_::Object(sigs));
        }
    }
    if flag(q.include_metadata.as_deref(), true) {
        if let Some(m) = item.metadata.as_deref() {
            if let Ok(Json_::Object(mut m)) = serde_json::from_str::<Json_>(m) {
                // HMA dumps every field of its metadata model.
                for k in ["content_id", "content_uri", "json", "collab"] {
                    m.entry(k).or_insert(Json_::Null);
                }
                out.insert("metadata".into(), Json_::Object(m));
            }
        }
    }
    if let Some(n) = item.note {
        out.insert("note".into(), json!(n));
    }
    Ok(Json(Json_::Object(out)))
}

/// HMA's `five_years_from_now()`.
fn five_years_from_now() -> i64 {
    super::unix_now() + 5 * 365 * 86_400
}

/// `PUT /c/bank/<name>/content/<id>` `{"disable_until_ts"?, "note"?}`:
/// the item as HMA's `BankContentConfig`.
pub async fn content_update(
    State(st): State<Arc<AppState>>,
    UrlPath((bank, id)): UrlPath<(String, i64)>,
    body: Result<BoundedJson<Json_>, ApiError>,
) -> HmaResult<Json<Json_>> {
    item(&st, &bank, id).await?;
    let BoundedJson(body) = body?;
    let Json_::Object(body) = body else {
        return Err(bad("expected a JSON object"));
    };
    let disable = match body.get("disable_until_ts") {
        None => None,
        Some(v) => {
            let t = match v {
                Json_::Number(n) => n.as_i64(),
                Json_::String(s) => s.trim().parse().ok(),
                _ => None,
            }
            .ok_or_else(|| bad("disable_until_ts must be an integer"))?;
            if t < 0 {
                return Err(bad("disable_until_ts must be a non-negative integer"));
            }
            if t > five_years_from_now() {
                return Err(bad(
                    "disable_until_ts must be less than 5 years in the future",
                ));
            }
            Some(t)
        }
    };
    let note = match body.get("note") {
        None => None,
        Some(v) => Some(note_of(Some(v))?),
    };
    st.write(move |s| {
        Ok(s.hma_content_update(id, disable, note.as_ref().map(|n| n.as_deref()))?)
    })
    .await?;
    wait_synced(&st).await;
    let (item, ratio, _) = item(&st, &bank, id).await?;
    let user_metadata = item
        .metadata
        .as_deref()
        .and_then(|m| serde_json::from_str::<Json_>(m).ok())
        .unwrap_or(Json_::Null);
    Ok(Json(json!({
        "id": item.id,
        "disable_until_ts": item.disable_until_ts,
        "collab_metadata": {},
        "original_media_uri": null,
        "bank": {"name": bank, "matching_enabled_ratio": ratio},
        "user_metadata": user_metadata,
        "note": item.note,
    })))
}

/// `DELETE /c/bank/<name>/content/<id>`: `{"deleted": 0|1}`.
pub async fn content_delete(
    State(st): State<Arc<AppState>>,
    UrlPath((bank, id)): UrlPath<(String, i64)>,
) -> HmaResult<Json<Json_>> {
    let b = bank.clone();
    let res = st
        .write(move |s| {
            let list = s.list(&b)?;
            Ok(s.hma_content_delete(list.id, id)?)
        })
        .await;
    match res {
        Ok(n) => {
            wait_synced(&st).await;
            Ok(Json(json!({ "deleted": n })))
        }
        Err(e) if e.status == StatusCode::NOT_FOUND => Err(bank_not_found(&bank)),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_and_metadata_as_hma_validates_them() {
        assert!(note_of(Some(&json!("x".repeat(255)))).is_ok());
        assert!(note_of(Some(&json!("x".repeat(256)))).is_err());
        assert!(note_of(Some(&json!(5))).is_err());
        assert_eq!(note_of(Some(&json!(""))).ok(), Some(None));
        assert!(metadata_of(Some(&json!({"invalid_metadata": 5}))).is_err());
        assert!(metadata_of(Some(&json!({"content_id": 5}))).is_err());
        assert!(metadata_of(Some(&json!([1]))).is_err());
        let m = metadata_of(Some(
            &json!({"content_id": "1", "json": {"a": {}}, "collab": {}}),
        ))
        .ok()
        .flatten()
        .unwrap_or_default();
        assert_eq!(
            serde_json::from_str::<Json_>(&m).ok(),
            Some(json!({"content_id": "1", "json": {"a": {}}}))
        );
    }
}
