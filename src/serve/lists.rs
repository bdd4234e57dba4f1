//! `/v1/lists`: the lists and their entries over HTTP, with the store and
//! semantics of `hashsieve db` (same validation, same import merging, same
//! statuses). Writes go through the server's writer connection and wake
//! the live updater, so they are matched within a poll.

use std::path::Path;
use std::sync::Arc;

use crate::record::FileRecord;
use axum::extract::{Extension, Path as UrlPath, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use hashdb::formats::{self, Format};
use hashdb::model::{ListUpdate, NewList, Record, Status, StatusChange};
use hashdb::store::ImportOptions;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::body::{check_declared, read_limited, BoundedJson};
use super::error::{ApiError, ErrorBody};
use super::state::AppState;

/// A new list.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateList {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub source: Option<String>,
    pub pdq_threshold: Option<u32>,
    pub pdq_quality: Option<u8>,
    /// vPDQ rule: % (0..=100) of a listed video's unique frames that must
    /// be matched (default 80).
    pub vpdq_target_percent: Option<f64>,
    /// Clip rule: % (0..=100) of the query video's unique frames that must
    /// be matched (default 80) ...
    pub vpdq_query_percent: Option<f64>,
    /// ... and at least this many of them (default 3).
    pub vpdq_min_clip_frames: Option<u32>,
    /// TMK+PDQF: level-1 threshold (default 0.7) ...
    pub tmk_level1: Option<f32>,
    /// ... and level-2 threshold (default 0.7).
    pub tmk_level2: Option<f32>,
}

/// A change of a list: the fields given change, the others stay.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateList {
    pub enabled: Option<bool>,
    pub description: Option<String>,
    pub source: Option<String>,
    pub pdq_threshold: Option<u32>,
    pub pdq_quality: Option<u8>,
    /// See [`CreateList::vpdq_target_percent`].
    pub vpdq_target_percent: Option<f64>,
    /// See [`CreateList::vpdq_query_percent`].
    pub vpdq_query_percent: Option<f64>,
    /// See [`CreateList::vpdq_min_clip_frames`].
    pub vpdq_min_clip_frames: Option<u32>,
    /// See [`CreateList::tmk_level1`].
    pub tmk_level1: Option<f32>,
    /// See [`CreateList::tmk_level2`].
    pub tmk_level2: Option<f32>,
}

/// A status change of an entry.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SetStatus {
    /// active, disabled or disputed.
    pub status: String,
    pub reason: Option<String>,
    /// A name the client gives; recorded next to the token that made the
    /// change (`token:3 (alice)`), never instead of it.
    pub by: Option<String>,
}

/// An allowlisted hash.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AllowBody {
    pub signal_type: String,
    pub signal: String,
    pub note: Option<String>,
}

/// Options of an import or export.
#[derive(Debug, Deserialize, IntoParams)]
pub struct FormatQuery {
    /// pdq, signal, csv, te-csv, vpdq or jsonl (import: detected when absent).
    pub format: Option<String>,
    /// Import: skip invalid lines instead of refusing the file.
    #[serde(default)]
    pub skip_invalid: bool,
    /// Export: include disabled and disputed entries.
    #[serde(default)]
    pub include_inactive: bool,
    /// Export: include derived entries (labelled `derived:...`, stored by
    /// `db add --with-views` or `--derive`: not hashes of the media as
    /// published), which every format but jsonl leaves out otherwise.
    #[serde(default)]
    pub include_derived: bool,
}

/// Labels and ids for media added to a list.
#[derive(Debug, Deserialize, IntoParams)]
pub struct MediaQuery {
    /// Comma-separated labels.
    pub labels: Option<String>,
    pub external_id: Option<String>,
    pub note: Option<String>,
}

fn format_of(s: &str) -> Result<Format, ApiError> {
    s.parse::<Format>()
        .map_err(|e| ApiError::bad_request(e.to_string()))
}

/// Every list with its entry counts.
#[utoipa::path(get, path = "/v1/lists", tag = "lists",
    responses((status = 200, description = "lists with counts", body = Object)), security(("bearer" = ["match"])))]
pub async fn get_lists(
    State(st): State<Arc<AppState>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let stats = st.read(|s| Ok(s.stats()?)).await?;
    Ok(Json(
        serde_json::to_value(stats).map_err(|e| ApiError::internal(e.to_string()))?,
    ))
}

/// One list.
#[utoipa::path(get, path = "/v1/lists/{name}", tag = "lists",
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)), security(("bearer" = ["match"])))]
pub async fn get_list(
    State(st): State<Arc<AppState>>,
    UrlPath(name): UrlPath<String>,
) -> Result<Json<hashdb::model::ListInfo>, ApiError> {
    Ok(Json(st.read(move |s| Ok(s.list(&name)?)).await?))
}

/// Create a list.
#[utoipa::path(post, path = "/v1/lists", tag = "lists", request_body = CreateList,
    responses((status = 201, body = Object), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = ["write"])))]
pub async fn create_list(
    State(st): State<Arc<AppState>>,
    BoundedJson(c): BoundedJson<CreateList>,
) -> Result<(StatusCode, Json<hashdb::model::ListInfo>), ApiError> {
    let mut new = NewList::new(c.name);
    new.description = c.description;
    if let Some(s) = c.source {
        new.source = s;
    }
    if let Some(t) = c.pdq_threshold {
        new.pdq_threshold = t;
    }
    if let Some(q) = c.pdq_quality {
        new.pdq_quality = q;
    }
    if let Some(p) = c.vpdq_target_percent {
        new.vpdq_target_percent = p;
    }
    if let Some(p) = c.vpdq_query_percent {
        new.vpdq_query_percent = p;
    }
    if let Some(n) = c.vpdq_min_clip_frames {
        new.vpdq_min_clip_frames = n;
    }
    if let Some(t) = c.tmk_level1 {
        new.tmk_level1 = t;
    }
    if let Some(t) = c.tmk_level2 {
        new.tmk_level2 = t;
    }
    let info = st.write(move |s| Ok(s.create_list(&new)?)).await?;
    Ok((StatusCode::CREATED, Json(info)))
}

/// Change a list: enable or disable it, its thresholds, gates, video rules,
/// source or description.
#[utoipa::path(patch, path = "/v1/lists/{name}", tag = "lists", request_body = UpdateList,
    responses((status = 200, body = Object), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = ["write"])))]
pub async fn update_list(
    State(st): State<Arc<AppState>>,
    UrlPath(name): UrlPath<String>,
    BoundedJson(u): BoundedJson<UpdateList>,
) -> Result<Json<hashdb::model::ListInfo>, ApiError> {
    let change = ListUpdate {
        description: u.description,
        source: u.source,
        enabled: u.enabled,
        pdq_threshold: u.pdq_threshold,
        pdq_quality: u.pdq_quality,
        vpdq_target_percent: u.vpdq_target_percent,
        vpdq_query_percent: u.vpdq_query_percent,
        vpdq_min_clip_frames: u.vpdq_min_clip_frames,
        tmk_level1: u.tmk_level1,
        tmk_level2: u.tmk_level2,
    };
    let info = st
        .write(move |s| Ok(s.update_list(&name, &change)?))
        .await?;
    Ok(Json(info))
}

/// Delete a list and its entries.
#[utoipa::path(delete, path = "/v1/lists/{name}", tag = "lists",
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)), security(("bearer" = ["write"])))]
pub async fn delete_list(
    State(st): State<Arc<AppState>>,
    UrlPath(name): UrlPath<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    st.write(move |s| Ok(s.delete_list(&name)?)).await?;
    Ok(Json(serde_json::json!({"deleted": true})))
}

/// Import entries: the body is a list file in any format `db import` reads.
#[utoipa::path(post, path = "/v1/lists/{name}/entries", tag = "lists", params(FormatQuery),
    request_body(content = String, description = "a list file", content_type = "text/plain"),
    responses((status = 200, description = "import summary", body = Object), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody)),
    security(("bearer" = ["write"])))]
pub async fn import_entries(
    State(st): State<Arc<AppState>>,
    UrlPath(name): UrlPath<String>,
    Query(q): Query<FormatQuery>,
    req: Request,
) -> Result<Json<serde_json::Value>, ApiError> {
    check_declared(&req, st.max_body)?;
    let body = read_limited(req.into_body(), st.max_body).await?;
    let format = match &q.format {
        Some(f) => format_of(f)?,
        None => formats::detect(&body[..body.len().min(64 << 10)])
            .map_err(|e| ApiError::bad_request(e.to_string()))?,
    };
    let opts = ImportOptions {
        skip_invalid: q.skip_invalid,
    };
    let sum = st
        .write(move |s| {
            let recs = formats::read(format, std::io::Cursor::new(&body[..]))
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
            Ok(s.import(&name, recs, Path::new("request body"), opts)?)
        })
        .await?;
    Ok(Json(serde_json::json!({
        "added": sum.added, "merged": sum.merged, "unchanged": sum.unchanged,
        "skipped": sum.skipped, "entry_ids": sum.added_ids,
    })))
}

/// The entries a hashed file contributes: the same rule as `hashsieve db
/// add` ([`crate::contribute::records_for`]).
pub fn records_of(
    rec: &FileRecord,
    labels: &[String],
    external_id: Option<&str>,
    note: Option<&str>,
) -> Vec<Record> {
    let opts = crate::contribute::ContributeOptions {
        labels: labels.to_vec(),
        external_id: external_id.map(str::to_string),
        note: note.map(str::to_string),
        no_digests: false,
    };
    crate::contribute::records_for(rec, &opts)
}

/// Hash an upload and add its hashes to a list (as `db add`).
#[utoipa::path(post, path = "/v1/lists/{name}/media", tag = "lists", params(MediaQuery),
    request_body(content = Vec<u8>, description = "the media", content_type = "application/octet-stream"),
    responses((status = 200, description = "the hash record and the entries added", body = Object),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 503, body = ErrorBody)),
    security(("bearer" = ["write"])))]
pub async fn add_media(
    State(st): State<Arc<AppState>>,
    UrlPath(name): UrlPath<String>,
    Query(q): Query<MediaQuery>,
    req: Request,
) -> Result<Json<serde_json::Value>, ApiError> {
    let n = name.clone();
    st.read(move |s| Ok(s.list(&n)?)).await?;
    let rec = super::api::hash_request(&st, req).await?;
    if let Some(e) = &rec.error {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "decode",
            format!("the media did not hash: {}", e.message),
        ));
    }
    let labels: Vec<String> = q
        .labels
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    let recs = records_of(&rec, &labels, q.external_id.as_deref(), q.note.as_deref());
    let sum = st
        .write(move |s| {
            Ok(s.import(
                &name,
                recs.into_iter().map(Ok),
                Path::new("upload"),
                ImportOptions::default(),
            )?)
        })
        .await?;
    Ok(Json(serde_json::json!({
        "record": rec, "added": sum.added, "merged": sum.merged,
        "unchanged": sum.unchanged, "entry_ids": sum.added_ids,
    })))
}

/// Export a list in any format `db export` writes.
#[utoipa::path(get, path = "/v1/lists/{name}/export", tag = "lists", params(FormatQuery),
    responses((status = 200, description = "the list file", content_type = "text/plain"), (status = 404, body = ErrorBody)),
    security(("bearer" = ["write"])))]
pub async fn export_list(
    State(st): State<Arc<AppState>>,
    UrlPath(name): UrlPath<String>,
    Query(q): Query<FormatQuery>,
) -> Response {
    let format = match format_of(q.format.as_deref().unwrap_or("jsonl")) {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let all = q.include_inactive || format == Format::Jsonl;
    let derived_too = q.include_derived || format == Format::Jsonl;
    let res = st
        .read(move |s| {
            let ids = s.entry_ids(&name)?;
            let mut buf = Vec::new();
            let mut w = formats::Writer::new(format, &mut buf, &name)
                .map_err(|e| ApiError::internal(e.to_string()))?;
            for id in ids {
                let e = s.entry(id)?;
                if !all && e.status.status != Status::Active {
                    continue;
                }
                if !derived_too && crate::contribute::is_derived(&e.record.labels) {
                    continue;
                }
                w.write(&e).map_err(|e| ApiError::internal(e.to_string()))?;
            }
            w.finish().map_err(|e| ApiError::internal(e.to_string()))?;
            Ok(buf)
        })
        .await;
    match res {
        Ok(buf) => ([(header::CONTENT_TYPE, export_content_type(format))], buf).into_response(),
        Err(e) => e.into_response(),
    }
}

/// Set an entry's status: active, disabled, disputed.
#[utoipa::path(put, path = "/v1/entries/{id}/status", tag = "lists", request_body = SetStatus,
    responses((status = 200, body = Object), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = ["write"])))]
pub async fn set_status(
    State(st): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    UrlPath(id): UrlPath<i64>,
    BoundedJson(b): BoundedJson<SetStatus>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let status: Status = b
        .status
        .parse()
        .map_err(|e: hashdb::model::UnknownStatus| ApiError::bad_request(e.to_string()))?;
    let change = StatusChange {
        status,
        by: Some(match b.by {
            Some(name) => format!("{} ({name})", caller.label()),
            None => caller.label(),
        }),
        reason: b.reason,
        at: None,
    };
    let e = st.write(move |s| Ok(s.set_status(id, &change)?)).await?;
    Ok(Json(serde_json::json!({"id": e.id, "status": e.status})))
}

/// Allowlist a hash (its matches are reported as suppressed).
#[utoipa::path(post, path = "/v1/allowlist", tag = "lists", request_body = AllowBody,
    responses((status = 200, body = Object), (status = 400, body = ErrorBody)), security(("bearer" = ["write"])))]
pub async fn allow(
    State(st): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    BoundedJson(b): BoundedJson<AllowBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let v = super::api::parse_signal(Some(&b.signal_type), Some(&b.signal))?;
    let id = st
        .write(move |s| Ok(s.allow(&v, b.note.as_deref(), Some(&caller.label()))?))
        .await?;
    Ok(Json(serde_json::json!({"id": id})))
}

/// Content type of an export.
pub fn export_content_type(f: Format) -> &'static str {
    match f {
        Format::Csv | Format::TeCsv => "text/csv; charset=utf-8",
        Format::Jsonl => "application/jsonl",
        _ => "text/plain; charset=utf-8",
    }
}
