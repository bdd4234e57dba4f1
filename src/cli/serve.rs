//! `hashsieve serve`: the flags of the HTTP service, turned into a
//! [`ServeConfig`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use hashsieve::hashing::HashConfig;
use hashsieve::matching::MatchConfig;
use hashsieve::serve::{run, ServeConfig};

use super::db::DbLocation;

/// Serve upload scanning over HTTP: our `/v1` API (OpenAPI document at
/// `/v1/openapi.json`) and HMA 2.0's matching and bank routes.
///
/// Whether requests need a bearer token (`hashsieve token create`) is
/// decided at start: they do when the database has ever had a token
/// (live, expired or revoked), or with `--require-auth`. A service started
/// open (loopback, or `--insecure-no-auth`, on a database that never had a
/// token) closes for good as soon as a token is created; revoking tokens or
/// their expiry never opens a service (with none live, every request gets
/// 401). A non-loopback address on a database that never had a token is
/// refused unless `--insecure-no-auth` or `--require-auth`.
///
/// Uploads are decoded in sandboxed worker processes (see --no-sandbox):
/// a decoder crash answers that upload with an error of kind `crash`, and
/// the service goes on. Stops gracefully on SIGTERM/SIGINT.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    pub location: DbLocation,

    /// Address to listen on (port 0 = any free port; the address is
    /// printed on stderr once the index is loaded).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Largest request body in MiB (enforced while it streams in).
    #[arg(long, default_value_t = 256, value_name = "MIB")]
    pub max_body_mib: u64,

    /// Largest JSON body in KiB (list and bank settings, signals,
    /// /m/compare); at most 16 are read at once, more get 503.
    #[arg(long, default_value_t = 1024, value_name = "KIB")]
    pub max_json_kib: u64,

    /// Most frames a vPDQ query (/v1/match/vpdq) may have; a larger one
    /// gets 413 (200,000: 55 hours at one frame a second, or every frame
    /// of an hour and a half at 30 fps).
    #[arg(long, default_value_t = 200_000, value_name = "N")]
    pub max_query_frames: usize,

    /// Uploads being received at once (0 = four times --max-jobs plus
    /// --queue); more get 503. An upload must arrive at 32 KiB/s or faster
    /// after its first 10 s (else 408), and takes a hashing slot only once
    /// it is all here.
    #[arg(long, default_value_t = 0)]
    pub max_uploads: usize,

    /// Hashing jobs at once (0 = one per core).
    #[arg(long, default_value_t = 0)]
    pub max_jobs: usize,

    /// Hashing requests allowed to wait beyond those (0 = twice
    /// --max-jobs); more get 503 with Retry-After.
    #[arg(long, default_value_t = 0)]
    pub queue: usize,

    /// Per-request time limit in seconds (a graceful shutdown waits this
    /// long, plus 5 s, for requests in flight).
    #[arg(long, default_value_t = 60)]
    pub timeout_secs: u64,

    /// Connections open at once; more are closed as soon as accepted.
    #[arg(long, default_value_t = 512, value_name = "N")]
    pub max_connections: usize,

    /// Seconds a client has to send a request's head, and to start the
    /// next request on a kept-alive connection (the idle timeout).
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    pub header_timeout_secs: u64,

    /// How often to look for list changes made by other processes, in ms.
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    pub poll_ms: u64,

    /// Async worker threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,

    /// Only these lists (repeatable; default: every enabled list).
    #[arg(long = "list", value_name = "LIST")]
    pub lists: Vec<String>,

    /// Allow fetching media by URL (HMA's `?url=`) from this host
    /// (repeatable; exact host name or IP, http:// or https://; redirects
    /// at most 5, each to an allowed host; the body limit and --timeout-secs
    /// apply). Off by default: fetching arbitrary URLs is an SSRF hole.
    #[arg(long = "fetch-allow-host", value_name = "HOST")]
    pub fetch_allow_hosts: Vec<String>,

    /// Extra trusted root certificates (PEM) for fetching by URL over
    /// https, e.g. an internal CA; the public webpki roots stay trusted.
    #[arg(long = "fetch-ca-file", value_name = "PEM")]
    pub fetch_ca_file: Option<PathBuf>,

    /// Match uploads' query-side views (`--views`) on the HMA 2.0 routes
    /// too. Off by default, so HMA clients get HMA's answers; on, each
    /// match names its view in an extra `view` field.
    #[arg(long)]
    pub hma_views: bool,

    /// HMA's roles this service takes (HMA's ROLE_HASHER, ROLE_MATCHER,
    /// ROLE_CURATOR), comma-separated: the routes of a role not taken
    /// (`/h/`, `/m/`, `/c/`) answer 404, and without `hasher` `/m/lookup`
    /// by URL or upload answers 403, as HMA's.
    #[arg(
        long,
        value_delimiter = ',',
        value_enum,
        default_value = "hasher,matcher,curator"
    )]
    pub hma_roles: Vec<hashsieve::serve::HmaRole>,

    /// Fetch from the HMA exchanges (`/c/exchanges`) every this many
    /// seconds (HMA's TASK_FETCHER_INTERVAL_SECONDS; the first fetch 30 s
    /// after start); 0: only when `POST /dev/run_fetch` asks.
    #[arg(long, value_name = "SECS", default_value_t = hashsieve::serve::HMA_FETCH_INTERVAL_SECS)]
    pub hma_fetch_interval_secs: u64,

    /// A folder whose files `local_file` exchanges may read (repeatable;
    /// symbolic links leading out of it are refused). None by default: an
    /// API client creating an exchange could otherwise name any file the
    /// server can read.
    #[arg(long = "hma-local-file-dir", value_name = "DIR")]
    pub hma_local_file_dirs: Vec<PathBuf>,

    /// Allow serving a non-loopback address with no API token configured.
    #[arg(long, conflicts_with = "require_auth")]
    pub insecure_no_auth: bool,

    /// Require a bearer token on every route but the probes even if no
    /// token exists yet (requests get 401 until one is created).
    #[arg(long)]
    pub require_auth: bool,

    /// `/metrics` needs a bearer token with the `match` scope. By default
    /// it needs none (Prometheus scrapers rarely carry one) and shows list
    /// names and counts, never hashes or entries.
    #[arg(long)]
    pub metrics_require_auth: bool,

    /// Query-side views of uploaded images and videos matched besides the
    /// hash of record: `all`, `dihedral` (rotations and flips only) or
    /// `none`. (/v1/hash returns views only when asked, `?views=`.)
    #[arg(long, value_name = "SET", default_value = "all")]
    pub views: hashsieve::views::ViewSet,

    #[command(flatten)]
    pub limits: super::limits_args::ImageLimitArgs,

    #[command(flatten)]
    pub video: super::video_args::VideoArgs,

    #[command(flatten)]
    pub sandbox: super::sandbox_args::SandboxArgs,
}

pub fn run_serve(args: ServeArgs) -> anyhow::Result<u8> {
    anyhow::ensure!(args.max_body_mib > 0, "--max-body-mib must be positive");
    anyhow::ensure!(
        args.max_query_frames > 0,
        "--max-query-frames must be positive"
    );
    anyhow::ensure!(args.max_json_kib > 0, "--max-json-kib must be positive");
    anyhow::ensure!(args.timeout_secs > 0, "--timeout-secs must be positive");
    anyhow::ensure!(args.poll_ms > 0, "--poll-ms must be positive");
    anyhow::ensure!(
        args.max_connections > 0,
        "--max-connections must be positive"
    );
    anyhow::ensure!(
        args.header_timeout_secs > 0,
        "--header-timeout-secs must be positive"
    );
    let (image_limits, max_image_bytes) = args.limits.to_limits()?;
    let video = args.video.to_options()?;
    let cfg = ServeConfig {
        listen: args.listen,
        db: args.location.path(),
        open: args.location.options(),
        hash: HashConfig {
            image_limits,
            max_image_bytes,
            dihedral: false,
            views: args.views,
            video: video.clone(),
        },
        sandbox: args.sandbox.to_config(&video)?,
        matching: MatchConfig {
            lists: (!args.lists.is_empty()).then(|| args.lists.clone()),
            ..MatchConfig::default()
        },
        max_body: args.max_body_mib << 20,
        max_json: args.max_json_kib << 10,
        max_query_frames: args.max_query_frames,
        max_uploads: args.max_uploads,
        max_jobs: args.max_jobs,
        queue: args.queue,
        timeout: Duration::from_secs(args.timeout_secs),
        max_connections: args.max_connections,
        header_timeout: Duration::from_secs(args.header_timeout_secs),
        poll: Duration::from_millis(args.poll_ms),
        insecure_no_auth: args.insecure_no_auth,
        require_auth: args.require_auth,
        metrics_require_auth: args.metrics_require_auth,
        threads: args.threads,
        fetch_allow_hosts: args.fetch_allow_hosts.clone(),
        fetch_ca_file: args.fetch_ca_file.clone(),
        hma_views: args.hma_views,
        hma_roles: hashsieve::serve::HmaRoles::from_list(&args.hma_roles),
        hma_fetch_interval: (args.hma_fetch_interval_secs > 0)
            .then(|| Duration::from_secs(args.hma_fetch_interval_secs)),
        hma_local_file_dirs: args.hma_local_file_dirs.clone(),
    };
    run(cfg, |addr| {
        eprintln!("hashsieve serve: listening on http://{addr}");
    })?;
    eprintln!("hashsieve serve: stopped");
    Ok(0)
}
