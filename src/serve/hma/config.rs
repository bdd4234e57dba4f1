//! HMA's configuration and service routes: `/status/live`, `/site-map`,
//! `/openapi/openapi.json`, `/c/signal_type` (and its `PUT`),
//! `/c/signal_type/index`, `/c/content_type`, and the `/c/exchanges*`
//! routes with the `sample` and `local_file` exchange types.
//!
//! Exchange configurations and signal type ratios are kept in the store
//! (`hashdb::store::hma_config`), as HMA keeps them in its database. An
//! exchange is made with a bank of its name (deleted with it, as in HMA)
//! and fetched from by [`super::exchange_fetch`]; its status route
//! answers HMA's `FetchStatus` from the store.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value as Json_};

use super::signals::{CONTENT_TYPES, SIGNAL_TYPES};
use super::{bad, HmaError, HmaResult};
use crate::serve::body::BoundedJson;
use crate::serve::error::ApiError;
use crate::serve::state::AppState;
use hashdb::store::hma_config::HmaExchange;

/// The HMA routes hashsieve serves: method, HMA's path, summary. The site
/// map and the OpenAPI document are made from this table.
pub const ROUTES: &[(&str, &str, &str)] = &[
    ("get", "/status", "Health check"),
    ("get", "/status/live", "Liveness check"),
    ("get", "/site-map", "Site map"),
    ("get", "/h/hash", "Hash content from URL"),
    ("post", "/h/hash", "Hash uploaded file"),
    ("get", "/m/lookup", "Content lookup"),
    ("post", "/m/lookup", "Content lookup from file"),
    ("get", "/m/raw_lookup", "Raw hash lookup"),
    ("post", "/m/compare", "Compare hashes"),
    ("get", "/m/index/status", "Index status"),
    ("get", "/c/banks", "List banks"),
    ("post", "/c/banks", "Create bank"),
    ("get", "/c/bank/{bank_name}", "Get bank"),
    ("put", "/c/bank/{bank_name}", "Update bank"),
    ("delete", "/c/bank/{bank_name}", "Delete bank"),
    ("post", "/c/bank/{bank_name}/content", "Add content to bank"),
    (
        "get",
        "/c/bank/{bank_name}/content/{content_id}",
        "Get bank content",
    ),
    (
        "put",
        "/c/bank/{bank_name}/content/{content_id}",
        "Update bank content",
    ),
    (
        "delete",
        "/c/bank/{bank_name}/content/{content_id}",
        "Delete bank content",
    ),
    ("post", "/c/bank/{bank_name}/signal", "Add signals to bank"),
    ("get", "/c/exchanges/apis", "List exchange API types"),
    (
        "get",
        "/c/exchanges/api/{api_name}",
        "Get exchange API config",
    ),
    (
        "post",
        "/c/exchanges/api/{api_name}",
        "Set exchange API credentials",
    ),
    (
        "get",
        "/c/exchanges/api/{api_name}/schema",
        "Get exchange API schema",
    ),
    ("post", "/c/exchanges", "Create exchange"),
    ("get", "/c/exchanges", "List exchanges"),
    ("get", "/c/exchange/{exchange_name}", "Get exchange"),
    (
        "get",
        "/c/exchange/{exchange_name}/status",
        "Get exchange fetch status",
    ),
    ("put", "/c/exchange/{exchange_name}", "Update exchange"),
    ("delete", "/c/exchange/{exchange_name}", "Delete exchange"),
    ("get", "/c/signal_type", "List signal types"),
    (
        "put",
        "/c/signal_type/{signal_type_name}",
        "Update signal type",
    ),
    ("get", "/c/signal_type/index", "Signal type index status"),
    ("get", "/c/content_type", "List content types"),
    ("post", "/dev/run_fetch", "Run fetch now"),
];

/// The exchange types hashsieve knows (pytx's names).
const EXCHANGE_APIS: &[&str] = &["sample", "local_file"];

/// `GET /status/live`: alive whatever the index's state.
pub async fn status_live() -> Response {
    (StatusCode::OK, "I-AM-ALIVE").into_response()
}

/// Whether `path` is served under `--hma-roles` (see `roles_gate`): HMA
/// lists and documents the routes of its roles only.
pub fn served(st: &AppState, path: &str) -> bool {
    let r = st.hma.roles;
    if path.starts_with("/h/") {
        r.hasher
    } else if path.starts_with("/m/") {
        r.matcher
    } else if path.starts_with("/c/") {
        r.curator
    } else {
        // `/status`, `/site-map`, ...: HMA's app routes, always there.
        true
    }
}

/// `GET /site-map`: the route paths, sorted, in Flask's `<name>` syntax.
pub async fn site_map(State(st): State<Arc<AppState>>) -> Json<Vec<String>> {
    let mut paths: Vec<String> = ROUTES
        .iter()
        .filter(|(_, p, _)| served(&st, p))
        .map(|(_, p, _)| p.replace('{', "<").replace('}', ">"))
        .collect();
    paths.push("/openapi/openapi.json".into());
    paths.sort();
    paths.dedup();
    Json(paths)
}

/// `GET /openapi/openapi.json`: an OpenAPI document of the HMA routes
/// under HMA's title (our own API is at `/v1/openapi.json`).
pub async fn openapi(State(st): State<Arc<AppState>>) -> Json<Json_> {
    let mut paths: BTreeMap<&str, Map<String, Json_>> = BTreeMap::new();
    for (method, path, summary) in ROUTES.iter().filter(|(_, p, _)| served(&st, p)) {
        paths.entry(path).or_default().insert(
            (*method).to_string(),
            json!({"summary": summary, "responses": {"200": {"description": "OK"}}}),
        );
    }
    Json(json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Open Media Match API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "hashsieve's implementation of HMA 2.0's (OpenMediaMatch) API",
        },
        "paths": paths,
    }))
}

/// The copy of the store's signal type ratios the HMA routes read, and
/// when it was read.
#[derive(Debug, Default)]
pub struct RatioCopy {
    ratios: BTreeMap<String, f64>,
    read_at: Option<std::time::Instant>,
}

/// Read the signal type ratios from the store again if the copy is older
/// than one poll interval (the delay with which a list change made by
/// another server is seen too). Called by the routes that check whether a
/// signal type is enabled, before they check.
pub async fn refresh_signal_ratios(st: &Arc<AppState>) -> HmaResult<()> {
    let fresh = |c: &RatioCopy| c.read_at.is_some_and(|t| t.elapsed() < st.poll);
    if st
        .hma
        .signal_ratios
        .lock()
        .map(|c| fresh(&c))
        .unwrap_or(false)
    {
        return Ok(());
    }
    let ratios = st.read(|s| Ok(s.hma_signal_ratios()?)).await?;
    store_ratio_copy(st, ratios)
}

fn store_ratio_copy(st: &AppState, ratios: BTreeMap<String, f64>) -> HmaResult<()> {
    let mut c = st
        .hma
        .signal_ratios
        .lock()
        .map_err(|_| HmaError(ApiError::internal("signal type table poisoned")))?;
    *c = RatioCopy {
        ratios,
        read_at: Some(std::time::Instant::now()),
    };
    Ok(())
}

fn ratio_of(st: &AppState, name: &str) -> f64 {
    st.hma
        .signal_ratios
        .lock()
        .ok()
        .and_then(|c| c.ratios.get(name).copied())
        .unwrap_or(1.0)
}

/// Whether HMA signal type `name` is enabled (its ratio above 0), by the
/// copy [`refresh_signal_ratios`] keeps.
pub fn signal_type_enabled(st: &AppState, name: &str) -> bool {
    ratio_of(st, name) > 0.0
}

/// `GET /c/signal_type`: `[{"name", "enabled_ratio"}]`.
pub async fn signal_types(State(st): State<Arc<AppState>>) -> HmaResult<Json<Json_>> {
    refresh_signal_ratios(&st).await?;
    Ok(Json(json!(SIGNAL_TYPES
        .iter()
        .map(|n| json!({"name": n, "enabled_ratio": ratio_of(&st, n)}))
        .collect::<Vec<_>>())))
}

/// `PUT /c/signal_type/<name>` `{"enabled_ratio"}`: 204, as HMA answers.
pub async fn signal_type_update(
    State(st): State<Arc<AppState>>,
    UrlPath(name): UrlPath<String>,
    body: Result<BoundedJson<Map<String, Json_>>, ApiError>,
) -> HmaResult<Response> {
    let BoundedJson(body) = body?;
    let ratio = match body.get("enabled_ratio") {
        None => return Err(bad("enabled_ratio is required")),
        Some(Json_::Number(n)) => n.as_f64(),
        Some(Json_::String(s)) => s.trim().parse().ok(),
        Some(_) => None,
    }
    .filter(|r: &f64| r.is_finite() && (0.0..=1.0).contains(r))
    .ok_or_else(|| bad("enabled_ratio must be a number between 0 and 1"))?;
    if !SIGNAL_TYPES.contains(&name.as_str()) {
        return Err(bad(format!("No such SignalType '{name}'")));
    }
    // Written to the store, then this server's copy read back at once (a
    // client's next request here sees its change).
    let ratios = st
        .write(move |s| {
            s.set_hma_signal_ratio(&name, ratio)?;
            Ok(s.hma_signal_ratios()?)
        })
        .await?;
    store_ratio_copy(&st, ratios)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, Deserialize)]
pub struct SignalTypeQuery {
    signal_type: Option<String>,
}

/// Signals per HMA signal type in enabled lists (one per item and entry,
/// as HMA counts its signal rows), and the newest change.
pub async fn index_counts(st: &Arc<AppState>) -> HmaResult<(BTreeMap<&'static str, u64>, i64)> {
    let (stats, extra) = st
        .read(|s| Ok((s.stats()?, s.hma_extra_signals()?)))
        .await?;
    let mut sizes: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut newest = 0i64;
    for s in stats.iter().filter(|s| s.list.enabled) {
        newest = newest.max(s.list.updated_at);
        for c in s.counts.iter().filter(|c| c.status == "active") {
            let name = match c.signal_type.as_str() {
                "pdq" => "pdq",
                "md5" => "video_md5",
                "vpdq" => "vpdq",
                _ => continue,
            };
            // As HMA counts: one per item and signal (an entry that two
            // items hold is two).
            let more = extra
                .get(&(s.list.id, c.signal_type.clone()))
                .copied()
                .unwrap_or(0);
            *sizes.entry(name).or_default() += c.count + more;
        }
    }
    Ok((sizes, newest))
}

/// `GET /c/signal_type/index[?signal_type=]`: per signal type, the
/// database and index sizes (one and the same: the index follows the
/// database live).
pub async fn signal_type_index(
    State(st): State<Arc<AppState>>,
    q: Result<Query<SignalTypeQuery>, axum::extract::rejection::QueryRejection>,
) -> HmaResult<Json<Json_>> {
    let Query(q) = q.map_err(|e| super::invalid_params(e.body_text()))?;
    let names = selected_signal_types(q.signal_type.as_deref())?;
    let (sizes, newest) = index_counts(&st).await?;
    let mut out = Map::new();
    for n in names {
        let size = sizes.get(n).copied().unwrap_or(0);
        out.insert(
            n.into(),
            json!({"db_size": size, "index_size": size, "index_out_of_date": false,
                   "newest_db_item": newest, "index_built_to": newest}),
        );
    }
    Ok(Json(Json_::Object(out)))
}

/// All signal types, or the one asked for (400 for an unknown one).
pub fn selected_signal_types(asked: Option<&str>) -> HmaResult<Vec<&'static str>> {
    match asked {
        None => Ok(SIGNAL_TYPES.to_vec()),
        Some(t) => SIGNAL_TYPES
            .iter()
            .copied()
            .find(|n| *n == t)
            .map(|n| vec![n])
            .ok_or_else(|| bad(format!("No such signal type '{t}'"))),
    }
}

/// `GET /c/content_type`.
pub async fn content_types() -> Json<Json_> {
    Json(json!(CONTENT_TYPES
        .iter()
        .map(|(n, _)| json!({"name": n, "enabled": true}))
        .collect::<Vec<_>>()))
}

/// `GET /c/exchanges/apis`.
pub async fn exchange_apis() -> Json<Vec<&'static str>> {
    Json(EXCHANGE_APIS.to_vec())
}

fn known_api(name: &str) -> bool {
    EXCHANGE_APIS.contains(&name)
}

/// `GET|POST /c/exchanges/api/<api>`: neither type takes credentials.
pub async fn exchange_api(UrlPath(api): UrlPath<String>) -> HmaResult<Json<Json_>> {
    if !known_api(&api) {
        return Err(bad(format!("no such Exchange API '{api}'")));
    }
    Ok(Json(
        json!({"supports_authentification": false, "has_set_authentification": false}),
    ))
}

/// `GET /c/exchanges/api/<api>/schema`.
pub async fn exchange_api_schema(UrlPath(api): UrlPath<String>) -> HmaResult<Json<Json_>> {
    if !known_api(&api) {
        return Err(HmaError(ApiError::not_found(format!(
            "Exchange API '{api}' not found"
        ))));
    }
    // pytx's `FileCollaborationConfig` fields, in HMA's descriptor shape.
    let fields = if api == "local_file" {
        json!([
            {"name": "filename", "type": "string", "required": true, "default": null,
             "help": "absolute path of the signal file, inside a folder the server allows (serve --hma-local-file-dir)",
             "choices": null},
            {"name": "signal_type", "type": "string", "required": false, "default": null,
             "help": "the signal type of every line, when lines hold the signal alone",
             "choices": null},
        ])
    } else {
        json!([])
    };
    Ok(Json(
        json!({"config_schema": {"fields": fields}, "credentials_schema": null}),
    ))
}

fn valid_exchange_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// `POST /c/exchanges` `{"bank", "api", "api_json"}`: 201.
pub async fn exchange_create(
    State(st): State<Arc<AppState>>,
    body: Result<BoundedJson<Map<String, Json_>>, ApiError>,
) -> HmaResult<(StatusCode, Json<Json_>)> {
    let BoundedJson(body) = body?;
    let bank = body
        .get("bank")
        .and_then(Json_::as_str)
        .ok_or_else(|| bad("bank is required"))?
        .to_string();
    if !valid_exchange_name(&bank) {
        return Err(bad("Field `bank` must match /^[A-Z0-9_]+$/"));
    }
    let mut config = match body.get("api_json") {
        None => Map::new(),
        Some(Json_::Object(m)) => m.clone(),
        Some(_) => return Err(bad("Field `api_json` must be object")),
    };
    let api = body
        .get("api")
        .and_then(Json_::as_str)
        .ok_or_else(|| bad("Field `api_type` is required"))?;
    if !known_api(api) {
        return Err(bad(format!("No such exchange type '{api}'")));
    }
    if api == "local_file" {
        // pytx's `FileCollaborationConfig`: `filename` required, an
        // optional `signal_type` (HMA answers 400 when it does not load).
        // Whether the server may read the file is checked at each fetch
        // (and reported in the status): the folders allowed are the
        // server's setting, not the client's to probe here.
        if !config.get("filename").is_some_and(Json_::is_string) {
            return Err(bad(
                "Failed to parse `api_json` - filename is required (a string)",
            ));
        }
        match config.get("signal_type") {
            None => {
                config.insert("signal_type".into(), Json_::Null);
            }
            Some(Json_::Null | Json_::String(_)) => {}
            Some(_) => {
                return Err(bad(
                    "Failed to parse `api_json` - signal_type must be a string",
                ))
            }
        }
    }
    let enabled = config
        .get("enabled")
        .and_then(Json_::as_bool)
        .unwrap_or(true);
    let ex = HmaExchange {
        name: bank.clone(),
        api: api.to_string(),
        enabled,
        config: Json_::Object(config).to_string(),
    };
    match st.write(move |s| Ok(s.hma_exchange_create(&ex)?)).await {
        Ok(true) => {}
        Ok(false) => return Err(bad(format!("Exchange '{bank}' already exists"))),
        // HMA's exchange makes its own bank (and deletes it with the
        // exchange): an existing bank is not taken over. (HMA fails with a
        // database error there.)
        Err(e) if e.status == StatusCode::CONFLICT => {
            return Err(bad(format!(
                "Bank '{bank}' already exists: an exchange makes a bank of its own name"
            )))
        }
        Err(e) => return Err(e.into()),
    }
    Ok((
        StatusCode::CREATED,
        Json(json!({"message": "Created successfully"})),
    ))
}

/// `GET /c/exchanges`: the names.
pub async fn exchange_list(State(st): State<Arc<AppState>>) -> HmaResult<Json<Vec<String>>> {
    let ex = st.read(|s| Ok(s.hma_exchanges()?)).await?;
    Ok(Json(ex.into_iter().map(|e| e.name).collect()))
}

fn exchange_json(e: &HmaExchange) -> Json_ {
    // Written by exchange_create from a JSON object; anything else in the
    // column (a hand-edited database) reads as no settings.
    let mut m = match serde_json::from_str(&e.config) {
        Ok(Json_::Object(m)) => m,
        _ => Map::new(),
    };
    m.insert("name".into(), json!(e.name));
    m.insert("api".into(), json!(e.api));
    m.insert("enabled".into(), json!(e.enabled));
    Json_::Object(m)
}

async fn get_exchange(st: &Arc<AppState>, name: &str) -> HmaResult<HmaExchange> {
    st.read(|s| Ok(s.hma_exchanges()?))
        .await?
        .into_iter()
        .find(|e| e.name == name)
        .ok_or_else(|| HmaError(ApiError::not_found(format!("Exchange '{name}' not found"))))
}

/// `GET /c/exchange/<name>`.
pub async fn exchange_get(
    State(st): State<Arc<AppState>>,
    UrlPath(name): UrlPath<String>,
) -> HmaResult<Json<Json_>> {
    let e = get_exchange(&st, &name).await?;
    Ok(Json(exchange_json(&e)))
}

/// `GET /c/exchange/<name>/status`: HMA's `FetchStatus` (see
/// [`super::exchange_fetch::status_json`]).
pub async fn exchange_status(
    State(st): State<Arc<AppState>>,
    UrlPath(name): UrlPath<String>,
) -> HmaResult<Json<Json_>> {
    let n = name.clone();
    let status = st
        .read(move |s| Ok(s.hma_exchange_fetch_status(&n)?))
        .await?
        .ok_or_else(|| HmaError(ApiError::not_found(format!("Exchange '{name}' not found"))))?;
    Ok(Json(super::exchange_fetch::status_json(&status)))
}

/// `PUT /c/exchange/<name>` `{"enabled"}`.
pub async fn exchange_update(
    State(st): State<Arc<AppState>>,
    UrlPath(name): UrlPath<String>,
    body: Result<BoundedJson<Map<String, Json_>>, ApiError>,
) -> HmaResult<Json<Json_>> {
    let BoundedJson(body) = body?;
    let mut e = get_exchange(&st, &name).await?;
    match body.get("enabled") {
        None | Some(Json_::Null) => {}
        Some(Json_::Bool(b)) => {
            let (n, b) = (name.clone(), *b);
            if !st
                .write(move |s| Ok(s.hma_exchange_set_enabled(&n, b)?))
                .await?
            {
                // Deleted between the read and the write.
                return Err(HmaError(ApiError::not_found(format!(
                    "Exchange '{name}' not found"
                ))));
            }
            e.enabled = b;
        }
        Some(_) => {
            return Err(super::invalid_params(
                "enabled: Input should be a valid boolean",
            ))
        }
    }
    Ok(Json(exchange_json(&e)))
}

/// `DELETE /c/exchange/<name>`: the exchange, its fetched records and
/// the bank it made (as HMA's cascade); 200 also for an unknown one.
pub async fn exchange_delete(
    State(st): State<Arc<AppState>>,
    UrlPath(name): UrlPath<String>,
) -> HmaResult<Json<Json_>> {
    st.write(move |s| Ok(s.hma_exchange_delete(&name)?)).await?;
    Ok(Json(json!({"message": "Exchange deleted"})))
}
