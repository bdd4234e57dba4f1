//! The routes, their scopes, and the layers every request passes: metrics
//! (route, status, latency, in-flight), the per-request timeout, the body
//! limit, and JSON answers for unknown routes and methods.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, put};
use axum::Router;

use super::error::ApiError;
use super::metrics::{RouteLabel, RouteStatus};
use super::state::AppState;
use super::{api, auth, hma, lists, openapi};

/// The application.
pub fn build(st: Arc<AppState>) -> Router {
    let matching = Router::new()
        .route("/v1/hash", post(api::post_hash))
        .route("/v1/match", get(api::get_match).post(api::post_match))
        .route("/v1/match/vpdq", post(api::post_match_vpdq))
        .route("/v1/match/tmk", post(api::post_match_tmk))
        .route("/v1/lists", get(lists::get_lists))
        .route("/v1/lists/{name}", get(lists::get_list))
        .route("/m/lookup", get(hma::lookup_get).post(hma::lookup_post))
        .route("/m/raw_lookup", get(hma::raw_lookup))
        .route("/h/hash", get(hma::hash_get).post(hma::hash_post))
        .route("/m/compare", post(hma::compare))
        .route("/m/index/status", get(hma::index_status))
        .route("/c/banks", get(hma::banks))
        .route("/c/bank/{name}", get(hma::bank_get))
        .route(
            "/c/bank/{name}/content/{id}",
            get(hma::content::content_get),
        )
        .route("/c/signal_type", get(hma::config::signal_types))
        .route("/c/signal_type/index", get(hma::config::signal_type_index))
        .route("/c/content_type", get(hma::config::content_types))
        .route("/c/exchanges/apis", get(hma::config::exchange_apis))
        .route(
            "/c/exchanges/api/{api}/schema",
            get(hma::config::exchange_api_schema),
        )
        .route("/c/exchanges", get(hma::config::exchange_list))
        .route("/c/exchange/{name}", get(hma::config::exchange_get))
        .route(
            "/c/exchange/{name}/status",
            get(hma::config::exchange_status),
        )
        .route_layer(from_fn_with_state(st.clone(), auth::require_match));
    let writing = Router::new()
        .route("/v1/lists", post(lists::create_list))
        .route(
            "/v1/lists/{name}",
            patch(lists::update_list).delete(lists::delete_list),
        )
        .route("/v1/lists/{name}/entries", post(lists::import_entries))
        .route("/v1/lists/{name}/media", post(lists::add_media))
        .route("/v1/lists/{name}/export", get(lists::export_list))
        .route("/v1/entries/{id}/status", put(lists::set_status))
        .route("/v1/allowlist", post(lists::allow))
        .route("/c/banks", post(hma::bank_create))
        .route(
            "/c/bank/{name}",
            put(hma::bank_update).delete(hma::bank_delete),
        )
        .route("/c/bank/{name}/signal", post(hma::content::bank_add_signal))
        .route(
            "/c/bank/{name}/content",
            post(hma::content::bank_add_content),
        )
        .route(
            "/c/bank/{name}/content/{id}",
            put(hma::content::content_update).delete(hma::content::content_delete),
        )
        .route(
            "/c/signal_type/{name}",
            put(hma::config::signal_type_update),
        )
        .route(
            "/c/exchanges/api/{api}",
            get(hma::config::exchange_api).post(hma::config::exchange_api),
        )
        .route("/c/exchanges", post(hma::config::exchange_create))
        .route(
            "/c/exchange/{name}",
            put(hma::config::exchange_update).delete(hma::config::exchange_delete),
        )
        .route("/dev/run_fetch", post(hma::exchange_fetch::run_fetch_now))
        .route_layer(from_fn_with_state(st.clone(), auth::require_write));
    let open = Router::new()
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(api::readyz))
        .route("/status", get(hma::status))
        .route("/status/live", get(hma::config::status_live))
        .route("/site-map", get(hma::config::site_map))
        .route("/openapi/openapi.json", get(hma::config::openapi))
        .route("/v1/openapi.json", get(openapi_json));
    // `/metrics` names lists: open by default (a scraper has no token),
    // behind a `match` token with --metrics-require-auth.
    let metrics = Router::new().route("/metrics", get(api::metrics));
    let metrics = if st.metrics_require_auth {
        metrics.route_layer(from_fn_with_state(st.clone(), auth::require_match))
    } else {
        metrics
    };
    let max_body = usize::try_from(st.max_body).unwrap_or(usize::MAX);
    Router::new()
        .merge(open)
        .merge(metrics)
        .merge(matching)
        .merge(writing)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn_with_state(st.clone(), hma::roles_gate))
        .layer(from_fn_with_state(st.clone(), observe))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(st)
}

async fn openapi_json() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        openapi::document(),
    )
        .into_response()
}

/// At most this much of a client's method or path is echoed in an error
/// (a 30 KB made-up method is the client's problem, not our log's).
const ECHO_MAX: usize = 200;

fn echo(s: &str) -> String {
    match s.char_indices().nth(ECHO_MAX) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

async fn not_found(req: Request) -> ApiError {
    ApiError::not_found(format!(
        "no route {} {}",
        echo(req.method().as_str()),
        echo(req.uri().path())
    ))
}

async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "{} is not allowed on {}",
            echo(req.method().as_str()),
            echo(req.uri().path())
        ),
    )
}

/// Metrics and the per-request timeout around every request.
async fn observe(State(st): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let method = super::metrics::Method::from(req.method());
    let start = Instant::now();
    st.metrics.in_flight.inc();
    let resp = match tokio::time::timeout(st.timeout, next.run(req)).await {
        Ok(r) => r,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            format!(
                "the request took longer than the server's limit of {} ms",
                st.timeout.as_millis()
            ),
        )
        .into_response(),
    };
    st.metrics.in_flight.dec();
    st.metrics
        .latency
        .get_or_create(&RouteLabel {
            route: route.clone(),
        })
        .observe(start.elapsed().as_secs_f64());
    st.metrics
        .requests
        .get_or_create(&RouteStatus {
            route,
            method,
            status: resp.status().as_u16(),
        })
        .inc();
    resp
}
