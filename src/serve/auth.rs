//! Bearer-token checks, one middleware per scope: a request without a
//! valid token for the route's scope gets 401/403 and its handler never
//! runs (nothing read, nothing written).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hashdb::store::Scope;

use super::state::AppState;

fn bearer(req: &Request) -> Option<&str> {
    let v = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// Who made a request, as handlers record it (status changes, allowlist
/// entries): the token that was checked, never a name the client sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// The service runs without tokens (loopback or `--insecure-no-auth`).
    Open,
    /// The token with this id.
    Token(i64),
}

impl Caller {
    /// `token:<id>`, or `unauthenticated`.
    pub fn label(self) -> String {
        match self {
            Caller::Open => "unauthenticated".to_string(),
            Caller::Token(id) => format!("token:{id}"),
        }
    }
}

async fn check(st: Arc<AppState>, scope: Scope, mut req: Request, next: Next) -> Response {
    match st.authorize(bearer(&req), scope) {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

pub async fn require_match(State(st): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    check(st, Scope::Match, req, next).await
}

pub async fn require_write(State(st): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    check(st, Scope::Write, req, next).await
}
