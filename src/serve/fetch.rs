//! Fetching media by URL (HMA's `?url=`), off unless hosts are allowed.
//!
//! Why so narrow: a server inside a trust-and-safety network that fetches
//! whatever URL a client names is an SSRF hole (cloud metadata endpoints,
//! internal admin pages). Only `http://` URLs whose host is on the
//! operator's allowlist (`--fetch-allow-host`) are fetched, with no
//! redirects, the server's body limit and a time limit. HTTP/1.0 keeps the
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

/// Fetch `url` if its host is in `allowed`; at most `limit` bytes.
pub async fn fetch(
    url: &str,
    allowed: &[String],
    limit: u64,
    timeout: Duration,
) -> Result<Fetched, ApiError> {
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

fn parse_response(buf: Vec<u8>, limit: u64) -> Result<Fetched, ApiError> {
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
    if status != 200 {
        return Err(bad_gateway(format!(
            "the media server answered {status} (redirects are not followed)"
        )));
    }
    let content_type = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.trim().to_string());
    let body = &buf[end + 4..];
    if body.len() as u64 > limit {
        return Err(ApiError::too_large(limit));
    }
    if body.is_empty() {
        return Err(bad_gateway("the media server sent an empty body".into()));
    }
    Ok(Fetched {
        data: Bytes::copy_from_slice(body),
        content_type,
    })
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
        let f = parse_response(ok, 10).unwrap();
        assert_eq!(
            (&f.data[..], f.content_type.as_deref()),
            (&b"abc"[..], Some("image/png"))
        );
        assert!(parse_response(b"HTTP/1.0 302 Found\r\nLocation: x\r\n\r\n".to_vec(), 10).is_err());
        assert!(parse_response(b"HTTP/1.0 200 OK\r\n\r\n0123456789ab".to_vec(), 10).is_err());
        assert!(parse_response(b"garbage".to_vec(), 10).is_err());
    }
}
