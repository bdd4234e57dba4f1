//! Reading an upload: the raw body, or the first file part of a
//! `multipart/form-data` body (HMA's clients send `photo=@file` or
//! `video=@file`). The size limit is enforced while the body streams in: a
//! declared `Content-Length` over the limit is refused before reading
//! anything, and an undeclared (chunked) body is cut off as soon as it
//! passes the limit. Either way: 413.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{header, StatusCode};
use http_body_util::{BodyExt, Limited};
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::state::AppState;

/// A JSON body read under the service's JSON limit and admission (see the
/// module docs), parsed into `T`.
pub struct BoundedJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<Arc<AppState>> for BoundedJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, st: &Arc<AppState>) -> Result<Self, ApiError> {
        let limit = st.max_json;
        check_declared(&req, limit)?;
        // Held while the body is read and parsed: at most `json_slots`
        // bodies (each at most `limit` bytes) are in memory at once.
        let _slot = st
            .json_slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| ApiError::overloaded())?;
        let bytes = read_limited(req.into_body(), limit).await?;
        serde_json::from_slice(&bytes)
            .map(BoundedJson)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
    }
}

/// An upload and the multipart field it came in (`None` for a raw body).
pub struct Upload {
    pub field: Option<String>,
    pub file_name: Option<String>,
    pub data: Bytes,
    /// The multipart text fields besides the file (HMA's `note` and
    /// `metadata`), at most [`MAX_FORM_FIELDS`], UTF-8 ones only.
    pub form: Vec<(String, String)>,
}

/// Most text fields kept from one multipart upload.
pub const MAX_FORM_FIELDS: usize = 16;

fn keep_text(form: &mut Vec<(String, String)>, name: Option<String>, data: &[u8]) {
    if let (Some(n), Ok(v)) = (name, std::str::from_utf8(data)) {
        if form.len() < MAX_FORM_FIELDS {
            form.push((n, v.to_string()));
        }
    }
}

fn declared_len(req: &Request) -> Option<u64> {
    req.headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

fn is_multipart(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        })
}

/// The whole body, at most `limit` bytes.
pub async fn read_limited(body: Body, limit: u64) -> Result<Bytes, ApiError> {
    let limited = Limited::new(body, limit as usize);
    match limited.collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(ApiError::too_large(limit))
        }
        Err(e) => Err(ApiError::bad_request(format!(
            "reading the request body: {e}"
        ))),
    }
}

/// Refuse a declared length over the limit before reading a byte.
pub fn check_declared(req: &Request, limit: u64) -> Result<(), ApiError> {
    match declared_len(req) {
        Some(n) if n > limit => Err(ApiError::too_large(limit)),
        _ => Ok(()),
    }
}

/// A client sending its upload slower than this (after [`UPLOAD_GRACE`])
/// is cut off with 408: one byte every few seconds must not hold a place.
pub const MIN_UPLOAD_BYTES_PER_SEC: u64 = 32 << 10;
/// Time before [`MIN_UPLOAD_BYTES_PER_SEC`] applies (slow starts, small bodies).
pub const UPLOAD_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

fn too_slow() -> ApiError {
    ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        "too_slow",
        format!(
            "the upload arrived slower than {} KiB/s",
            MIN_UPLOAD_BYTES_PER_SEC >> 10
        ),
    )
}

/// The whole body, at most `limit` bytes, arriving at least at
/// [`MIN_UPLOAD_BYTES_PER_SEC`] once [`UPLOAD_GRACE`] has passed.
async fn read_paced(body: Body, limit: u64) -> Result<Bytes, ApiError> {
    use tokio::time::{timeout_at, Instant};
    let start = Instant::now();
    let mut body = body;
    let mut buf: Vec<u8> = Vec::new();
    loop {
        // The latest moment the next bytes may arrive and keep the pace.
        let due = start
            + UPLOAD_GRACE
            + std::time::Duration::from_secs_f64(
                buf.len() as f64 / MIN_UPLOAD_BYTES_PER_SEC as f64,
            );
        let frame = match timeout_at(due, body.frame()).await {
            Err(_) => return Err(too_slow()),
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                return Err(ApiError::bad_request(format!(
                    "reading the request body: {e}"
                )))
            }
            Ok(Some(Ok(f))) => f,
        };
        if let Ok(data) = frame.into_data() {
            if (buf.len() + data.len()) as u64 > limit {
                return Err(ApiError::too_large(limit));
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(buf))
}

/// The upload of `req` (raw or multipart), at most `st.max_body` bytes.
///
/// The body is read whole before any hashing slot is taken (a slow client
/// costs an upload slot, not a hashing one), under [`read_paced`]'s pace
/// and with at most `st.upload_slots` bodies in memory at once (503 beyond).
pub async fn upload(req: Request, st: &AppState) -> Result<Upload, ApiError> {
    let limit = st.max_body;
    check_declared(&req, limit)?;
    let _slot = st
        .upload_slots
        .clone()
        .try_acquire_owned()
        .map_err(|_| ApiError::overloaded())?;
    let multipart = is_multipart(&req);
    let (parts, body) = req.into_parts();
    let data = read_paced(body, limit).await?;
    if !multipart {
        if data.is_empty() {
            return Err(ApiError::bad_request("empty request body: send the media"));
        }
        return Ok(Upload {
            field: None,
            file_name: None,
            data,
            form: Vec::new(),
        });
    }
    // The multipart parser reads the body already in memory.
    let req = Request::from_parts(parts, Body::from(data));
    let mut mp = Multipart::from_request(req, &())
        .await
        .map_err(|e| ApiError::bad_request(format!("multipart: {}", e.body_text())))?;
    let mut found: Option<Upload> = None;
    let mut form = Vec::new();
    loop {
        let field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(multipart_error(e, limit)),
        };
        let name = field.name().map(str::to_string);
        let file_name = field.file_name().map(str::to_string);
        let data = field.bytes().await.map_err(|e| multipart_error(e, limit))?;
        if file_name.is_none() && found.is_some() {
            keep_text(&mut form, name, &data);
            continue;
        }
        if file_name.is_some() || found.is_none() {
            if found.as_ref().is_some_and(|u| u.file_name.is_some()) {
                return Err(ApiError::bad_request("only one file allowed per request"));
            }
            // A text field taken as the upload until a file came: a field.
            if let Some(prev) = found.take() {
                keep_text(&mut form, prev.field, &prev.data);
            }
            found = Some(Upload {
                field: name,
                file_name,
                data,
                form: Vec::new(),
            });
        }
    }
    match found {
        Some(mut u) if !u.data.is_empty() => {
            u.form = form;
            Ok(u)
        }
        Some(_) => Err(ApiError::bad_request("the uploaded file is empty")),
        None => Err(ApiError::bad_request(
            "missing multipart/form-data file upload",
        )),
    }
}

fn multipart_error(e: axum::extract::multipart::MultipartError, limit: u64) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE || e.to_string().contains("length limit") {
        ApiError::too_large(limit)
    } else {
        ApiError::bad_request(format!("multipart: {}", e.body_text()))
    }
}
