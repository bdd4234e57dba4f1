//! Fetching media by URL (HMA's `?url=`), off unless hosts are allowed.
//!
//! Why so narrow: a server inside a trust-and-safety network that fetches
//! whatever URL a client names is an SSRF hole (cloud metadata endpoints,
//! internal admin pages). Only `http://` and `https://` URLs whose host is
//! on the operator's allowlist (`--fetch-allow-host`) are fetched;
//! redirects are followed at most [`MAX_REDIRECTS`] times and only to
//! allowed hosts (every hop is checked, by a redirect policy, before it is
//! requested); the body is streamed and refused as soon as it passes the
//! server's body limit (a declared Content-Length over it is refused before
//! any of the body is read); the whole fetch has one time limit.
//!
//! The client is reqwest (rustls with the webpki roots, plus any
//! `--fetch-ca-file` roots), not a hand-written one: TLS, chunked bodies
//! and redirect resolution are easy to get subtly wrong.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::StatusCode;
use futures_util::StreamExt;

use super::error::ApiError;

/// A fetched body and its declared content type.
pub struct Fetched {
    pub data: Bytes,
    pub content_type: Option<String>,
}

/// Most redirects followed for one fetch.
pub const MAX_REDIRECTS: usize = 5;

/// Why the fetch client could not be built (at start, from the options).
#[derive(Debug, thiserror::Error)]
pub enum FetchSetupError {
    #[error("reading --fetch-ca-file {path}: {source}")]
    ReadCa {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("--fetch-ca-file {path}: no usable PEM certificate in it ({detail})")]
    BadCa { path: PathBuf, detail: String },
    #[error("building the fetch client: {0}")]
    Client(#[source] reqwest::Error),
}

/// Why a redirect hop was not followed (the redirect policy's error; found
/// again in the reqwest error's source chain to word the answer).
#[derive(Debug, thiserror::Error)]
enum HopRefused {
    #[error("more than {MAX_REDIRECTS} redirects")]
    TooMany,
    #[error("redirect to {0:?}, a host not on the fetch allowlist")]
    Host(String),
    #[error("redirect to a {0}: URL (only http and https are fetched)")]
    Scheme(String),
}

/// The fetch client and the hosts it may reach; `None` client: fetching
/// is off (no `--fetch-allow-host`).
#[derive(Clone)]
pub struct Fetcher {
    allowed: Arc<[String]>,
    client: Option<reqwest::Client>,
}

fn host_allowed(allowed: &[String], url: &reqwest::Url) -> Result<(), HopRefused> {
    match url.scheme() {
        "http" | "https" => {}
        other => return Err(HopRefused::Scheme(other.to_string())),
    }
    let host = url.host_str().unwrap_or("");
    // Url lowercases DNS names; IPv6 literals keep their brackets here, so
    // an operator allows "[::1]" as the URL spells it.
    if allowed.iter().any(|a| a.eq_ignore_ascii_case(host)) {
        Ok(())
    } else {
        Err(HopRefused::Host(host.to_string()))
    }
}

impl Fetcher {
    /// Fetching off: every `?url=` is refused (403).
    pub fn disabled() -> Self {
        Fetcher {
            allowed: Arc::from(Vec::new()),
            client: None,
        }
    }

    /// A client for `allowed` hosts (empty: fetching off), trusting the
    /// webpki roots plus the certificates in `ca_file`.
    pub fn new(allowed: &[String], ca_file: Option<&Path>) -> Result<Self, FetchSetupError> {
        let allowed: Arc<[String]> = allowed.iter().map(|h| h.to_ascii_lowercase()).collect();
        let mut builder = reqwest::Client::builder()
            .user_agent("hashsieve")
            .redirect(Self::policy(allowed.clone()));
        if let Some(path) = ca_file {
            let pem = std::fs::read(path).map_err(|source| FetchSetupError::ReadCa {
                path: path.to_path_buf(),
                source,
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                FetchSetupError::BadCa {
                    path: path.to_path_buf(),
                    detail: e.to_string(),
                }
            })?;
            if certs.is_empty() {
                return Err(FetchSetupError::BadCa {
                    path: path.to_path_buf(),
                    detail: "no CERTIFICATE block".into(),
                });
            }
            for c in certs {
                builder = builder.add_root_certificate(c);
            }
        }
        if allowed.is_empty() {
            return Ok(Fetcher {
                allowed,
                client: None,
            });
        }
        let client = builder.build().map_err(FetchSetupError::Client)?;
        Ok(Fetcher {
            allowed,
            client: Some(client),
        })
    }

    /// Every hop is checked as the first URL is, before it is requested:
    /// an allowed host must not bounce the server to an internal one.
    fn policy(allowed: Arc<[String]>) -> reqwest::redirect::Policy {
        reqwest::redirect::Policy::custom(move |attempt| {
            // `previous` holds the first URL and every hop already taken.
            if attempt.previous().len() > MAX_REDIRECTS {
                return attempt.error(HopRefused::TooMany);
            }
            match host_allowed(&allowed, attempt.url()) {
                Ok(()) => attempt.follow(),
                Err(e) => attempt.error(e),
            }
        })
    }

    /// Fetch `url`: at most `limit` bytes, within `timeout` in all.
    ///
    /// Errors: 403 when fetching is off or the host is not allowed; 400
    /// for a URL that does not parse; 413 for a body over `limit`; 502
    /// (`kind` "fetch") for an upstream failure (connection, TLS, status,
    /// redirects, time limit), which the HMA routes answer with 400
    /// "Failed to fetch URL", as HMA does.
    pub async fn fetch(
        &self,
        url: &str,
        limit: u64,
        timeout: Duration,
    ) -> Result<Fetched, ApiError> {
        let Some(client) = &self.client else {
            return Err(refused(
                "fetching media by url is disabled on this server (see --fetch-allow-host); upload the media instead",
            ));
        };
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| ApiError::bad_request(format!("invalid URL: {e}")))?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(refused("URLs with credentials are not fetched"));
        }
        host_allowed(&self.allowed, &parsed).map_err(|e| match e {
            HopRefused::Host(h) => refused(format!("host {h:?} is not on the fetch allowlist")),
            other => refused(other.to_string()),
        })?;
        let work = async {
            let resp = client
                .get(parsed)
                .header(reqwest::header::ACCEPT, "image/*, video/*")
                .send()
                .await
                .map_err(upstream)?;
            let status = resp.status();
            if !status.is_success() {
                return Err(bad_gateway(format!(
                    "the media server answered {}",
                    status.as_u16()
                )));
            }
            if resp.content_length().is_some_and(|n| n > limit) {
                return Err(ApiError::too_large(limit));
            }
            let content_type = resp
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            // Streamed: never more than `limit` bytes held, whatever the
            // server declared (or did not: chunked bodies).
            let mut body = Vec::new();
            let mut stream = resp.bytes_stream();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(upstream)?;
                if (body.len() + chunk.len()) as u64 > limit {
                    return Err(ApiError::too_large(limit));
                }
                body.extend_from_slice(&chunk);
            }
            if body.is_empty() {
                return Err(bad_gateway("the media server sent an empty body".into()));
            }
            Ok(Fetched {
                data: Bytes::from(body),
                content_type,
            })
        };
        tokio::time::timeout(timeout, work)
            .await
            .map_err(|_| bad_gateway(format!("fetching the media timed out after {timeout:?}")))?
    }
}

fn refused(msg: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", msg)
}

fn bad_gateway(msg: String) -> ApiError {
    ApiError::new(StatusCode::BAD_GATEWAY, "fetch", msg)
}

/// An upstream failure, worded with its whole cause chain (reqwest's own
/// message alone says only "error sending request"); a redirect our
/// policy refused is named as such.
fn upstream(e: reqwest::Error) -> ApiError {
    let e = e.without_url();
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        if let Some(h) = s.downcast_ref::<HopRefused>() {
            return bad_gateway(h.to_string());
        }
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    bad_gateway(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_schemes_outside_the_rules_are_refused() {
        let allowed = ["media.example".to_string(), "[::1]".to_string()];
        let ok = |u: &str| host_allowed(&allowed, &reqwest::Url::parse(u).unwrap()).is_ok();
        assert!(ok("https://Media.Example:8443/x.jpg"));
        assert!(ok("http://media.example/x.jpg"));
        assert!(ok("http://[::1]:8080/x"));
        assert!(!ok("http://other.example/x.jpg"));
        assert!(!ok("http://media.example.evil/x.jpg"));
        assert!(!ok("ftp://media.example/x.jpg"));
        assert!(!ok("file:///etc/passwd"));
    }

    #[tokio::test]
    async fn fetching_off_or_off_list_is_refused_before_any_request() {
        let off = Fetcher::disabled();
        let e = off
            .fetch("http://a/x", 10, Duration::from_secs(1))
            .await
            .err()
            .unwrap();
        assert_eq!(e.status, StatusCode::FORBIDDEN);
        let f = Fetcher::new(&["a".into()], None).unwrap();
        for url in ["http://b/x", "http://user:pw@a/x", "gopher://a/x"] {
            let e = f.fetch(url, 10, Duration::from_secs(1)).await.err();
            assert_eq!(e.map(|e| e.status), Some(StatusCode::FORBIDDEN), "{url}");
        }
        let e = f.fetch("not a url", 10, Duration::from_secs(1)).await.err();
        assert_eq!(e.map(|e| e.status), Some(StatusCode::BAD_REQUEST));
    }

    #[test]
    fn a_ca_file_without_certificates_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ca.pem");
        std::fs::write(&p, "not pem").unwrap();
        assert!(matches!(
            Fetcher::new(&["a".into()], Some(&p)),
            Err(FetchSetupError::BadCa { .. })
        ));
        assert!(matches!(
            Fetcher::new(&["a".into()], Some(&dir.path().join("missing.pem"))),
            Err(FetchSetupError::ReadCa { .. })
        ));
    }
}
