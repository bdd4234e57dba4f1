//! Prometheus metrics: requests by route and status, latency histograms,
//! matches by list, index size, in-flight requests and queued jobs.
//!
//! Why prometheus-client: the text format is what every scraper reads, and
//! the crate keeps counters lock-free on the hot path.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The `method` label: a fixed set, so a client inventing methods cannot
/// create label values (each new value is a new series kept for ever).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(clippy::upper_case_acronyms)]
pub enum Method {
    GET,
    HEAD,
    POST,
    PUT,
    PATCH,
    DELETE,
    OPTIONS,
    /// Any other method (CONNECT, TRACE, made-up ones).
    OTHER,
}

impl From<&axum::http::Method> for Method {
    fn from(m: &axum::http::Method) -> Self {
        use axum::http::Method as M;
        match *m {
            M::GET => Method::GET,
            M::HEAD => Method::HEAD,
            M::POST => Method::POST,
            M::PUT => Method::PUT,
            M::PATCH => Method::PATCH,
            M::DELETE => Method::DELETE,
            M::OPTIONS => Method::OPTIONS,
            _ => Method::OTHER,
        }
    }
}

/// Labels of a served request. `route` is the matched route template
/// (`/c/bank/{name}`), never the raw path, or `unmatched`: both come from
/// the router's fixed set.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteStatus {
    pub route: String,
    pub method: Method,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabel {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ListLabel {
    pub list: String,
}

/// The service's metrics.
pub struct Metrics {
    registry: Registry,
    pub requests: Family<RouteStatus, Counter>,
    pub latency: Family<RouteLabel, Histogram>,
    pub matches: Family<ListLabel, Counter>,
    pub in_flight: Gauge,
    pub jobs_running: Gauge,
    pub jobs_queued: Gauge,
    pub jobs_shed: Counter,
    pub connections_refused: Counter,
    pub index_pdq_hashes: Gauge,
    pub live_updates: Counter,
    pub live_rebuilds: Counter,
    /// List changes applied in place (enabled, disabled, deleted,
    /// created, new settings or quality gate).
    pub live_list_changes: Counter,
    /// Allowlist additions and removals applied in place.
    pub live_allow_changes: Counter,
    pub live_errors: Counter,
    /// Seconds since the index last caught up with the database (set when
    /// scraped).
    pub live_sync_lag: Gauge<f64, std::sync::atomic::AtomicU64>,
    /// How long each live update held the index's write lock (lookups
    /// cannot run meanwhile): the structural figure behind the lookup
    /// tail under writes, independent of the machine's load.
    pub index_write_hold: Histogram,
    /// The longest such hold since the start, seconds.
    pub index_write_hold_max: Gauge<f64, std::sync::atomic::AtomicU64>,
    /// Lookups that found the index's write lock taken and waited.
    pub index_read_waits: Counter,
    /// How long those lookups waited for the read lock.
    pub index_read_wait: Histogram,
}

fn latency_histogram() -> Histogram {
    // 50 µs .. ~100 s.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.000_05, 2.0, 22,
    ))
}

fn lock_histogram() -> Histogram {
    // 1 µs .. ~2 s: lock holds of a few microseconds must be told apart.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.000_001, 2.0, 22,
    ))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("hashsieve");
        let requests = Family::<RouteStatus, Counter>::default();
        let latency = Family::<RouteLabel, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let m = Metrics {
            requests,
            latency,
            matches: Family::default(),
            in_flight: Gauge::default(),
            jobs_running: Gauge::default(),
            jobs_queued: Gauge::default(),
            jobs_shed: Counter::default(),
            connections_refused: Counter::default(),
            index_pdq_hashes: Gauge::default(),
            live_updates: Counter::default(),
            live_rebuilds: Counter::default(),
            live_list_changes: Counter::default(),
            live_allow_changes: Counter::default(),
            live_errors: Counter::default(),
            live_sync_lag: Gauge::default(),
            index_write_hold: lock_histogram(),
            index_write_hold_max: Gauge::default(),
            index_read_waits: Counter::default(),
            index_read_wait: lock_histogram(),
            registry: Registry::default(),
        };
        registry.register(
            "http_requests",
            "HTTP requests by route, method and status",
            m.requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route",
            m.latency.clone(),
        );
        registry.register("matches", "Match hits by list", m.matches.clone());
        registry.register(
            "http_in_flight_requests",
            "Requests being served",
            m.in_flight.clone(),
        );
        registry.register(
            "hash_jobs_running",
            "Hashing jobs running",
            m.jobs_running.clone(),
        );
        registry.register(
            "hash_jobs_queued",
            "Hashing jobs waiting for a worker",
            m.jobs_queued.clone(),
        );
        registry.register(
            "hash_jobs_shed",
            "Hashing requests refused with 503 (queue full)",
            m.jobs_shed.clone(),
        );
        registry.register(
            "connections_refused",
            "Connections closed at once because --max-connections were open",
            m.connections_refused.clone(),
        );
        registry.register(
            "index_pdq_hashes",
            "PDQ hashes (images and video frames) in the index",
            m.index_pdq_hashes.clone(),
        );
        registry.register(
            "live_updates",
            "Entry changes applied to the index in place",
            m.live_updates.clone(),
        );
        registry.register(
            "live_rebuilds",
            "Whole index reloads (only to recover from a failed change; list and allowlist changes apply in place)",
            m.live_rebuilds.clone(),
        );
        registry.register(
            "live_list_changes",
            "List changes (enable, disable, delete, create, settings, quality gate) applied in place",
            m.live_list_changes.clone(),
        );
        registry.register(
            "live_allow_changes",
            "Allowlist additions and removals applied in place",
            m.live_allow_changes.clone(),
        );
        registry.register(
            "live_update_errors",
            "Failed polls of the database for changes",
            m.live_errors.clone(),
        );
        registry.register(
            "live_sync_lag_seconds",
            "Seconds since the index last caught up with the database",
            m.live_sync_lag.clone(),
        );
        registry.register(
            "index_write_lock_hold_seconds",
            "How long each live update held the index's write lock",
            m.index_write_hold.clone(),
        );
        registry.register(
            "index_write_lock_hold_max_seconds",
            "Longest hold of the index's write lock by a live update since the start",
            m.index_write_hold_max.clone(),
        );
        registry.register(
            "index_read_lock_waits",
            "Lookups that waited for the index's write lock to be released",
            m.index_read_waits.clone(),
        );
        registry.register(
            "index_read_lock_wait_seconds",
            "How long lookups that waited for the index's read lock waited",
            m.index_read_wait.clone(),
        );
        Metrics { registry, ..m }
    }
}

impl Metrics {
    /// Note one hold of the index's write lock.
    pub fn observe_write_hold(&self, held: std::time::Duration) {
        let s = held.as_secs_f64();
        self.index_write_hold.observe(s);
        // Only the live updater writes this gauge: no lost update.
        if s > self.index_write_hold_max.get() {
            self.index_write_hold_max.set(s);
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut s = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut s, &self.registry);
        s
    }
}
