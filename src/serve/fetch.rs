//! Fetching media by URL (HMA's `?url=`), off unless hosts are allowed.
//!
//! Why so narrow: a server inside a trust-and-safety network that fetches
//! whatever URL a client names is an SSRF hole (cloud metadata endpoints,
//! internal admin pages). Only `http://` URLs whose host is on the
//! operator's allowlist (`--fetch-allow-host`) are fetched, redirects
//! only to allowed hosts (at most 5), with the server's body limit and a
//! time limit for the whole fetch. HTTP/1.0 keeps the
//! client small: the body ends when the connection closes, no chunking.

use std::time::Duration;

use axum::body::Bytes;
use axum::http::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::error::ApiError;

/// A fetched body and its declared content type.
pub struct Fetched {
    pub data: Bytes,
    pub content_type: Option<String>,
}

fn refused(msg: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", msg)
}

/// Split `http://host[:port]/path` into its parts.
fn parse_url(url: &str) -> Result<(String, u16, String), ApiError> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| refused("only http:// URLs can be fetched"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.contains('@') || authority.is_empty() {
        return Err(refused("URL must be http://host[:port]/path"));
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse::<u16>()
                .map_err(|_| ApiError::bad_request("bad port in URL"))?,
        ),
        None => (authority, 80),
    };
    if path.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err(ApiError::bad_request("bad characters in URL path"));
    }
    Ok((host.to_ascii_lowercase(), port, path.to_string()))
}

/// Most redirects followed for one fetch.
pub const MAX_REDIRECTS: usize = 5;

/// Fetch `url` if its host is in `allowed`; at most `limit` bytes.
/// Redirects are followed (at most [`MAX_REDIRECTS`]) only to allowed
/// hosts: every hop is checked as the first URL is.
pub async fn fetch(
    url: &str,
    allowed: &[String],
    limit: u64,
    timeout: Duration,
) -> Result<Fetched, ApiError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut url = url.to_string();
    for _ in 0..=MAX_REDIRECTS {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match fetch_once(&url, allowed, limit, left).await? {
            Answer::Media(f) => return Ok(f),
            Answer::Redirect(to) => url = resolve(&url, &to)?,
        }
    }
    Err(bad_gateway(format!(
        "more than {MAX_REDIRECTS} redirects fetching the media"
    )))
}

/// A redirect target, absolute or relative to `base`.
fn resolve(base: &str, location: &str) -> Result<String, ApiError> {
    if location.starts_with("http://") || location.starts_with("https://") {
        return Ok(location.to_string());
    }
    let (host, port, _) = parse_url(base)?;
    if location.starts_with('/') && !location.starts_with("//") {
        return Ok(format!("http://{host}:{port}{location}"));
    }
    Err(bad_gateway(format!(
        "unsupported redirect location {:?}",
        location.chars().take(200).collect::<String>()
    )))
}

/// One hop: the media, or where it moved.
enum Answer {
    Media(Fetched),
    Redirect(String),
}

async fn fetch_once(
    url: &str,
    allowed: &[String],
    limit: u64,
    timeout: Duration,
) -> Result<Answer, ApiError> {
    if allowed.is_empty() {
        return Err(refused(
            "fetching media by url is disabled on this server (see --fetch-allow-host); upload the media instead",
        ));
    }
    let (host, port, path) = parse_url(url)?;
    if !allowed.iter().any(|a| a.eq_ignore_ascii_case(&host)) {
        return Err(refused(format!(
            "host {host:?} is not on the fetch allowlist"
        )));
    }
    let work = async {
        let mut s = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| bad_gateway(format!("connecting to {host}:{port}: {e}")))?;
        let req = format!(
            "GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: hashsieve\r\nAccept: image/*, video/*\r\n\r\n"
        );
        s.write_all(req.as_bytes())
            .await
            .map_err(|e| bad_gateway(e.to_string()))?;
        let mut buf = Vec::new();
        let mut chunk = vec![0u8; 64 << 10];
        let cap = limit as usize + 64 * 1024; // body plus a generous head
        loop {
            let n = s
                .read(&mut chunk)
                .await
                .map_err(|e| bad_gateway(e.to_string()))?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.len() > cap {
                return Err(ApiError::too_large(limit));
            }
        }
        parse_response(buf, limit)
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| bad_gateway(format!("fetching {url} timed out")))?
}

fn bad_gateway(msg: String) -> ApiError {
    ApiError::new(StatusCode::BAD_GATEWAY, "fetch", msg)
}

fn parse_response(buf: Vec<u8>, limit: u64) -> Result<Answer, ApiError> {
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad_gateway("malformed HTTP response".into()))?;
    let head = String::from_utf8_lossy(&buf[..end]).to_string();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| bad_gateway("malformed HTTP status line".into()))?;
    let headers: Vec<(&str, &str)> = lines.filter_map(|l| l.split_once(':')).collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
    };
    if matches!(status, 301 | 302 | 303 | 307 | 308) {
        if let Some(to) = header("location") {
            return Ok(Answer::Redirect(to));
        }
    }
    if status != 200 {
        return Err(bad_gateway(format!("the media server answered {status}")));
    }
    let content_type = header("content-type");
    let body = &buf[end + 4..];
    if body.len() as u64 > limit {
        return Err(ApiError::too_large(limit));
    }
    if body.is_empty() {
        return Err(bad_gateway("the media server sent an empty body".into()));
    }
    Ok(Answer::Media(Fetched {
        data: Bytes::copy_from_slice(body),
        content_type,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_outside_the_rules_are_refused() {
        assert!(parse_url("https://a/b").is_err());
        assert!(parse_url("http://user@a/b").is_err());
        assert!(parse_url("http://a:x/b").is_err());
        assert_eq!(
            parse_url("http://Media.Example:8080/x.jpg").unwrap(),
            ("media.example".into(), 8080, "/x.jpg".into())
        );
        assert_eq!(parse_url("http://a").unwrap().2, "/");
    }

    #[test]
    fn responses_are_checked() {
        let ok = b"HTTP/1.0 200 OK\r\nContent-Type: image/png\r\n\r\nabc".to_vec();
        let Ok(Answer::Media(f)) = parse_response(ok, 10) else {
            panic!("not media")
        };
        assert_eq!(
            (&f.data[..], f.content_type.as_deref()),
            (&b"abc"[..], Some("image/png"))
        );
        assert!(matches!(
            parse_response(b"HTTP/1.0 302 Found\r\nLocation: /y\r\n\r\n".to_vec(), 10),
            Ok(Answer::Redirect(l)) if l == "/y"
        ));
        assert!(parse_response(b"HTTP/1.0 404 Not Found\r\n\r\n".to_vec(), 10).is_err());
        assert_eq!(
            resolve("http://a:81/x", "/y").ok().as_deref(),
            Some("http://a:81/y")
        );
        assert!(resolve("http://a/x", "//evil/y").is_err());
        assert!(parse_response(b"HTTP/1.0 200 OK\r\n\r\n0123456789ab".to_vec(), 10).is_err());
        assert!(parse_response(b"garbage".to_vec(), 10).is_err());
    }
}
