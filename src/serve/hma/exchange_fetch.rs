//! Fetching from HMA exchanges: what HMA's background fetcher
//! (`background_tasks/fetcher.py`) does, for the exchange types hashsieve
//! has (`sample`, `local_file`).
//!
//! A fetch of all exchanges runs every `--hma-fetch-interval-secs`
//! (HMA's `TASK_FETCHER_INTERVAL_SECONDS`, default 60; the first 30 s
//! after start or one interval, whichever is sooner, as HMA's scheduler
//! starts it) and on `POST /dev/run_fetch` (HMA's development route, which
//! runs one at once). One fetch of all runs at a time, as HMA's lock
//! ensures; a trigger arriving during one waits for it and then runs its
//! own, so that its answer reflects the files as they were when it was
//! sent. Per exchange, as HMA's `fetch()`: start (the status's
//! `running_fetch_start_ts`), read, commit, complete. A failure (a file
//! missing, refused or unreadable; the database busy) is recorded in that
//! exchange's status and the loop goes on with the next; what an earlier
//! fetch committed stays.
//!
//! What a fetch yields, as python-threatexchange's exchange APIs do:
//! * `sample` (`StaticSampleSignalExchangeAPI`): every example signal of
//!   each enabled signal type (pytx's `get_examples()`: 16 PDQ hashes, 2
//!   MD5s, and a vPDQ video made of the 16 PDQ hashes); its checkpoint is
//!   pytx's `NoCheckpointing`, so once fetched it is up to date and never
//!   fetched again (HMA's rule for that checkpoint).
//! * `local_file` (`LocalFileSignalExchangeAPI`): the file named by the
//!   exchange's `filename`, one signal a line, `<signal_type> <signal>`,
//!   or the whole line when the exchange sets `signal_type`; read whole on
//!   every fetch.
//!
//! Differences from HMA (README): a fetch makes the bank's fetched items
//! exactly what the exchange gave (a line removed from the file is gone
//! after the next fetch; HMA's commit only adds and updates the keys a
//! fetch returns, so it keeps signals removed from the file). A line that
//! is not a usable signal is skipped, as HMA skips it, and also counted
//! in the status (`skipped_items`, `skipped_examples`; HMA only logs it).
//! A disabled exchange is skipped before its fetch starts (HMA marks it
//! started and never completes it). `local_file` reads only files inside
//! the folders named by `--hma-local-file-dir` (none by default: an API
//! client could otherwise name any file the server can read), canonical
//! paths, regular files, at most [`LOCAL_FILE_MAX_BYTES`].

use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hashdb::model::Value;
use hashdb::store::hma_config::{FetchCommit, FetchEnd, HmaExchange, HmaFetchStatus};
use serde_json::{json, Map, Value as Json};

use super::config::{refresh_signal_ratios, signal_type_enabled};
use super::signals::{parse_value, signal_type, SIGNAL_TYPES};
use crate::serve::error::ApiError;
use crate::serve::state::AppState;

/// HMA's default fetch interval (`TASK_FETCHER_INTERVAL_SECONDS`).
pub const DEFAULT_INTERVAL_SECS: u64 = 60;
/// HMA's scheduler starts the fetcher this long after the app.
const FIRST_FETCH_AFTER: Duration = Duration::from_secs(30);
/// The largest `local_file` read (a list of ten million PDQ lines is
/// about 700 MB; one fetch is one transaction, so very large lists belong
/// in `db import`).
pub const LOCAL_FILE_MAX_BYTES: u64 = 256 << 20;
/// Skip reasons kept per fetch.
const MAX_EXAMPLES: usize = 10;
/// Longest skip reason kept, characters.
const MAX_REASON_CHARS: usize = 200;
/// pytx's checkpoints for both types carry no state (`{}` as HMA stores
/// them) and no time.
const CHECKPOINT: &str = "{}";

/// The fetcher's settings and its one-at-a-time lock.
#[derive(Debug, Default)]
pub struct ExchangeFetcher {
    /// Folders `local_file` exchanges may read (canonical paths).
    local_dirs: Vec<PathBuf>,
    /// Held by the fetch of all exchanges under way.
    running: tokio::sync::Mutex<()>,
}

/// A `--hma-local-file-dir` that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("--hma-local-file-dir {path}: {source}")]
pub struct LocalDirError {
    path: PathBuf,
    #[source]
    source: std::io::Error,
}

impl ExchangeFetcher {
    /// The fetcher for these allowed folders (resolved now: a folder that
    /// does not exist is an error at start, not a silent refusal later).
    ///
    /// # Errors
    /// A folder cannot be resolved or is not a folder.
    pub fn new(local_dirs: &[PathBuf]) -> Result<ExchangeFetcher, LocalDirError> {
        let mut dirs = Vec::new();
        for d in local_dirs {
            let err = |source| LocalDirError {
                path: d.clone(),
                source,
            };
            let c = std::fs::canonicalize(d).map_err(err)?;
            if !c.is_dir() {
                return Err(err(std::io::Error::other("not a folder")));
            }
            dirs.push(c);
        }
        Ok(ExchangeFetcher {
            local_dirs: dirs,
            running: tokio::sync::Mutex::new(()),
        })
    }
}

/// What one exchange's fetch did.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Not fetched: the exchange is disabled.
    Disabled,
    /// Fetched before and never fetched again (`sample`).
    UpToDate,
    /// Committed: what changed, and the records skipped.
    Fetched { commit: FetchCommit, skipped: u64 },
    /// Failed; recorded in its status.
    Failed(String),
    /// Deleted while it was being fetched.
    Gone,
}

impl Outcome {
    fn to_json(&self) -> Json {
        match self {
            Outcome::Disabled => json!({"fetched": false, "reason": "disabled"}),
            Outcome::UpToDate => json!({"fetched": false, "reason": "up to date"}),
            Outcome::Fetched { commit, skipped } => json!({
                "fetched": true, "added": commit.added, "removed": commit.removed,
                "kept": commit.kept, "skipped": skipped,
            }),
            Outcome::Failed(e) => json!({"fetched": false, "error": e}),
            Outcome::Gone => json!({"fetched": false, "reason": "deleted"}),
        }
    }
}

/// The signals one read gave, and the records it skipped.
#[derive(Debug, Default)]
struct Read_ {
    values: Vec<Value>,
    skipped: u64,
    examples: Vec<String>,
}

impl Read_ {
    fn skip(&mut self, reason: String) {
        self.skipped += 1;
        if self.examples.len() < MAX_EXAMPLES {
            // One line each (the store keeps them a line apart).
            let one: String = reason
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .take(MAX_REASON_CHARS)
                .collect();
            self.examples.push(one);
        }
    }
}

/// Fetch every exchange once, in name order; each exchange's outcome.
/// Waits for a fetch under way to end first.
///
/// # Errors
/// Listing the exchanges failed (each exchange's own failure is in its
/// outcome and status, never here).
pub async fn fetch_all(st: &Arc<AppState>) -> Result<Vec<(String, Outcome)>, ApiError> {
    let _one_at_a_time = st.hma.fetcher.running.lock().await;
    let exchanges = st.read(|s| Ok(s.hma_exchanges()?)).await?;
    // The signal types `sample` gives are the enabled ones.
    refresh_signal_ratios(st).await.map_err(|e| e.0)?;
    let mut out = Vec::with_capacity(exchanges.len());
    for ex in exchanges {
        let name = ex.name.clone();
        let outcome = fetch_one(st, ex).await;
        out.push((name, outcome));
    }
    Ok(out)
}

async fn fetch_one(st: &Arc<AppState>, ex: HmaExchange) -> Outcome {
    if !ex.enabled {
        return Outcome::Disabled;
    }
    let name = ex.name.clone();
    let started = {
        let n = name.clone();
        st.write(move |s| Ok(s.hma_exchange_start_fetch(&n)?)).await
    };
    match started {
        Ok(true) => {}
        Ok(false) => return Outcome::Gone,
        Err(e) => return Outcome::Failed(format!("recording the fetch's start: {}", e.message)),
    }
    let (outcome, skipped_examples) = run_fetch(st, &ex).await;
    let end = match &outcome {
        Outcome::Fetched { skipped, .. } => FetchEnd {
            up_to_date: true,
            skipped: *skipped,
            skipped_examples,
            ..FetchEnd::default()
        },
        Outcome::UpToDate => FetchEnd {
            up_to_date: true,
            ..FetchEnd::default()
        },
        Outcome::Failed(e) => FetchEnd {
            error: Some(e.clone()),
            ..FetchEnd::default()
        },
        Outcome::Disabled | Outcome::Gone => return outcome,
    };
    let n = name.clone();
    match st
        .write(move |s| Ok(s.hma_exchange_complete_fetch(&n, &end)?))
        .await
    {
        Ok(true) => outcome,
        Ok(false) => Outcome::Gone,
        Err(e) => Outcome::Failed(format!("recording the fetch's end: {}", e.message)),
    }
}

/// Read and commit one exchange: the outcome, and the reasons of the
/// records skipped.
async fn run_fetch(st: &Arc<AppState>, ex: &HmaExchange) -> (Outcome, Vec<String>) {
    match read_and_commit(st, ex).await {
        Ok((o, examples)) => (o, examples),
        Err(o) => (o, Vec::new()),
    }
}

async fn read_and_commit(
    st: &Arc<AppState>,
    ex: &HmaExchange,
) -> Result<(Outcome, Vec<String>), Outcome> {
    let name = ex.name.clone();
    let read = match ex.api.as_str() {
        "sample" => {
            let n = name.clone();
            let status: Result<Option<HmaFetchStatus>, ApiError> =
                st.read(move |s| Ok(s.hma_exchange_fetch_status(&n)?)).await;
            match status {
                Ok(Some(s)) if s.has_checkpoint => return Ok((Outcome::UpToDate, Vec::new())),
                Ok(Some(_)) => {}
                Ok(None) => return Err(Outcome::Gone),
                Err(e) => return Err(Outcome::Failed(e.message)),
            }
            sample_signals(|t| signal_type_enabled(st, t))
        }
        "local_file" => {
            let config = exchange_config(ex);
            let dirs = st.hma.fetcher.local_dirs.clone();
            let r = tokio::task::spawn_blocking(move || read_local_file(&config, &dirs)).await;
            match r {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => return Err(Outcome::Failed(e)),
                Err(e) => return Err(Outcome::Failed(format!("reading the file: {e}"))),
            }
        }
        other => return Err(Outcome::Failed(format!("no such exchange type '{other}'"))),
    };
    let skipped = read.skipped;
    let values = read.values;
    let r = st
        .write(move |s| Ok(s.hma_exchange_commit_fetch(&name, &values, CHECKPOINT, None)?))
        .await;
    match r {
        Ok(Some(commit)) => Ok((Outcome::Fetched { commit, skipped }, read.examples)),
        Ok(None) => Err(Outcome::Gone),
        Err(e) => Err(Outcome::Failed(format!(
            "storing the fetched signals: {}",
            e.message
        ))),
    }
}

/// The exchange's settings (HMA's `api_json`).
fn exchange_config(ex: &HmaExchange) -> Map<String, Json> {
    match serde_json::from_str(&ex.config) {
        Ok(Json::Object(m)) => m,
        _ => Map::new(),
    }
}

/// pytx's example PDQ hashes (`PdqSignal.get_examples()`), which its
/// sample exchange gives; pytx's vPDQ example is these as the frames of
/// one video, quality 100, one a second.
const SAMPLE_PDQ: &[&str] = &[
    "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22",
    "f8f8f0cee0f4a84f06370a2a038f63f0b36e26d596621e1d33e6b39c4e9c9b22",
    "f8f8f0cee0f4a84f0637022a038f67f0b36e26d596621e1d33e6b39c4e9c9b22",
    "f8f8f0cee0f4a84f06370a2a068f67f0b36e26d596621e1d33e6339c4e9c9b22",
    "f8f8f0cee0f4a84f06370a22038f67f0b36e2ed596221e1d33e6b39c4e9c9b22",
    "f8f8f0cee0f4a84f0e370a22038f67f0b36e2ed596221e1d33e6b39c4a9c9b22",
    "d8f8f0cec0f4a84f8e370a22038f67f0b36a2ed597231e1d72e6b39c4a9c9b22",
    "f8f8f0cee0f4a84f06370a22038f67f0b36e2ed596621e1d33e6339c4e9c9b22",
    "d0f8f1ccc0f4a84d0a370a3a228f67f0b36e2ed5b6623e1d33e6339c4e9c9b22",
    "d8f8f1eec0f4a84f0e37022a078f63f0b36e2ed596621e1d33e6239c4e9c9b22",
    "d8f8f0cec4f4a84f0637022a078f67f0b36e2ee5b6621e1d33e6239c4e9c9b22",
    "d8f8f0cec0f4a84f0637022a278f67f0b36e2ed596621e1d33e6339c4e9c9b22",
    "e64cc9d91c623882f8d1f1d9a398e78c9f199b3bd83924f2b7e11e0bf861b064",
    "6227401f601ff4ccafcc9fad4b0d95d371a2eb7265a3285234d228ca94deeb2d",
    "c186f9619659658c4b6916daf934496985f4259c72c39676ab9edb631c3c349c",
    "62c9789627838f69f23cf98c29e37836d61c87c31c59587c4b49a783f496725c",
];

/// pytx's example video MD5s (`VideoMD5Signal.get_examples()`).
const SAMPLE_VIDEO_MD5: &[&str] = &[
    "cab08b36195edb1a1231d2d09fa450e0",
    "d41d8cd98f00b204e9800998ecf8427e",
];

/// The sample exchange's signals, as `(HMA signal type, text)`.
fn sample_texts() -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, String)> = Vec::new();
    out.extend(SAMPLE_PDQ.iter().map(|h| ("pdq", h.to_string())));
    out.extend(
        SAMPLE_VIDEO_MD5
            .iter()
            .map(|h| ("video_md5", h.to_string())),
    );
    let frames: Vec<String> = SAMPLE_PDQ
        .iter()
        .enumerate()
        .map(|(i, h)| format!("\"{h},100,{i}.0\""))
        .collect();
    out.push(("vpdq", format!("[{}]", frames.join(", "))));
    out
}

/// The sample exchange's values for the signal types `enabled` takes.
fn sample_signals(enabled: impl Fn(&str) -> bool) -> Read_ {
    let mut r = Read_::default();
    for (name, text) in sample_texts() {
        if !enabled(name) {
            continue;
        }
        match signal_type(name).map(|t| parse_value(t, &text)) {
            Some(Ok(v)) => r.values.push(v),
            // Fixed data that our own parser takes (a test holds it to that).
            Some(Err(e)) => r.skip(format!("sample {name}: {e}")),
            None => r.skip(format!("sample {name}: not a signal type")),
        }
    }
    r
}

/// The file a `local_file` exchange names, if the server allows it:
/// absolute, no `..`, inside an allowed folder both as written and once
/// symbolic links are resolved (checked before anything of the path is
/// looked at, so a refused path tells nothing about what exists there).
fn allowed_path(filename: &str, dirs: &[PathBuf]) -> Result<PathBuf, String> {
    if dirs.is_empty() {
        return Err(
            "local_file exchanges may read no folder on this server (serve --hma-local-file-dir DIR)"
                .into(),
        );
    }
    let p = Path::new(filename);
    let outside = || {
        format!("{filename}: outside the folders local_file exchanges may read (serve --hma-local-file-dir)")
    };
    if !p.is_absolute() || p.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(format!(
            "{filename}: local_file needs an absolute path without '..'"
        ));
    }
    if !dirs.iter().any(|d| p.starts_with(d)) {
        return Err(outside());
    }
    let real = std::fs::canonicalize(p).map_err(|e| format!("{filename}: {e}"))?;
    if !dirs.iter().any(|d| real.starts_with(d)) {
        return Err(outside());
    }
    Ok(real)
}

fn read_allowed(filename: &str, dirs: &[PathBuf]) -> Result<Vec<u8>, String> {
    use std::os::unix::fs::OpenOptionsExt;
    let real = allowed_path(filename, dirs)?;
    let fail = |e: std::io::Error| format!("{filename}: {e}");
    // The resolved path has no links left; one planted since is refused
    // (O_NOFOLLOW), and a FIFO never blocks the open (O_NONBLOCK).
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(&real)
        .map_err(fail)?;
    let meta = f.metadata().map_err(fail)?;
    if !meta.is_file() {
        return Err(format!("{filename}: not a regular file"));
    }
    if meta.len() > LOCAL_FILE_MAX_BYTES {
        return Err(format!(
            "{filename}: {} bytes, more than a local_file fetch reads ({LOCAL_FILE_MAX_BYTES}); use `hashsieve db import`",
            meta.len()
        ));
    }
    let mut buf = Vec::new();
    f.take(LOCAL_FILE_MAX_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(fail)?;
    if buf.len() as u64 > LOCAL_FILE_MAX_BYTES {
        return Err(format!(
            "{filename}: grew past {LOCAL_FILE_MAX_BYTES} bytes while read"
        ));
    }
    Ok(buf)
}

/// Read a `local_file` exchange's file (its `filename`; `path`, which an
/// earlier hashsieve documented, is taken too).
fn read_local_file(config: &Map<String, Json>, dirs: &[PathBuf]) -> Result<Read_, String> {
    let filename = config
        .get("filename")
        .or_else(|| config.get("path"))
        .and_then(Json::as_str)
        .ok_or("the exchange names no file (api_json.filename)")?;
    let fixed_type = match config.get("signal_type") {
        None | Some(Json::Null) => None,
        Some(Json::String(t)) => Some(t.as_str()),
        Some(_) => return Err("signal_type must be a string".into()),
    };
    let bytes = read_allowed(filename, dirs)?;
    Ok(parse_local_file(&bytes, fixed_type))
}

/// pytx's `local_file` format: one signal a line, `<type> <signal>` (the
/// type up to the first space), or the whole line as a signal of
/// `fixed_type`; blank lines are nothing. A line whose type hashsieve
/// does not match (HMA drops types it has not installed) or whose signal
/// is invalid is skipped and counted.
fn parse_local_file(bytes: &[u8], fixed_type: Option<&str>) -> Read_ {
    let mut r = Read_::default();
    for (i, raw) in bytes.split(|b| *b == b'\n').enumerate() {
        let n = i + 1;
        let Ok(line) = std::str::from_utf8(raw) else {
            r.skip(format!("line {n}: not UTF-8"));
            continue;
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (t, signal) = match fixed_type {
            Some(t) => (t, line),
            None => line.split_once(' ').unwrap_or((line, "")),
        };
        let signal = signal.trim();
        if signal.is_empty() {
            r.skip(format!("line {n}: no signal after the type"));
            continue;
        }
        let Some(st) = signal_type(t) else {
            let known = SIGNAL_TYPES.join(", ");
            r.skip(format!("line {n}: signal type '{t}' is not one of {known}"));
            continue;
        };
        match parse_value(st, signal) {
            Ok(v) => r.values.push(v),
            Err(e) => r.skip(format!("line {n}: invalid {t} signal: {e}")),
        }
    }
    r
}

/// The background task: fetch all every `interval` until `stop`.
pub async fn run_loop(
    st: Arc<AppState>,
    interval: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut wait = interval.min(FIRST_FETCH_AFTER);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        match fetch_all(&st).await {
            Ok(done) => {
                for (name, o) in done {
                    if let Outcome::Failed(e) = o {
                        eprintln!("hashsieve serve: exchange {name}: fetch failed: {e}");
                    }
                }
            }
            Err(e) => eprintln!("hashsieve serve: exchange fetch: {}", e.message),
        }
        wait = interval;
    }
}

/// `POST /dev/run_fetch`: fetch every exchange now (HMA's development
/// route; HMA then redirects to its UI, which hashsieve does not have):
/// 200 with each exchange's outcome once done.
pub async fn run_fetch_now(
    axum::extract::State(st): axum::extract::State<Arc<AppState>>,
) -> super::HmaResult<axum::Json<Json>> {
    let done = fetch_all(&st).await?;
    // The caller's next lookup sees what was fetched.
    super::wait_synced(&st).await;
    let mut per = Map::new();
    for (name, o) in &done {
        per.insert(name.clone(), o.to_json());
    }
    Ok(axum::Json(
        json!({"message": "Fetch complete", "exchanges": per}),
    ))
}

/// The status route's answer: HMA's `FetchStatus` fields, and what went
/// wrong (extra fields, only when there is something to say).
pub fn status_json(s: &HmaFetchStatus) -> Json {
    let mut m = Map::new();
    m.insert("checkpoint_ts".into(), json!(s.checkpoint_ts));
    m.insert(
        "running_fetch_start_ts".into(),
        json!(s.running_fetch_start_ts),
    );
    m.insert(
        "last_fetch_complete_ts".into(),
        json!(s.last_fetch_complete_ts),
    );
    m.insert("last_fetch_succeeded".into(), json!(s.last_fetch_succeeded));
    m.insert("up_to_date".into(), json!(s.up_to_date));
    m.insert("fetched_items".into(), json!(s.fetched_items));
    if let Some(e) = &s.last_error {
        m.insert("last_fetch_error".into(), json!(e));
    }
    if s.skipped > 0 {
        m.insert("skipped_items".into(), json!(s.skipped));
        m.insert("skipped_examples".into(), json!(s.skipped_examples));
    }
    Json::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_is_pytx_s_and_all_of_it_parses() {
        let all = sample_signals(|_| true);
        assert_eq!((all.values.len(), all.skipped), (19, 0));
        let pdq_only = sample_signals(|t| t == "pdq");
        assert_eq!(pdq_only.values.len(), 16);
        match all.values.last() {
            Some(Value::Vpdq(frames)) => assert_eq!(frames.len(), 16),
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn local_file_lines_as_pytx_reads_them() {
        let pdq = SAMPLE_PDQ[0];
        let text = format!(
            "pdq {pdq}\n\n  video_md5 {}  \nraw_text hello there\npdq banana\npdq\n\u{ff}\nvpdq [\"{pdq},100,0.0\", \"{pdq},90,1.5\"]\n",
            SAMPLE_VIDEO_MD5[0]
        );
        let mut bytes = text.into_bytes();
        // A line that is not UTF-8.
        let bad = bytes.iter().position(|b| *b == 0xc3).unwrap();
        bytes[bad] = 0xff;
        let r = parse_local_file(&bytes, None);
        assert_eq!(r.values.len(), 3, "{:?}", r.examples);
        assert_eq!(r.skipped, 4, "{:?}", r.examples);
        assert!(r.examples[0].starts_with("line 4: signal type 'raw_text'"));
        assert!(r.examples[1].starts_with("line 5: invalid pdq signal"));
        // With the type set, every line is a signal of it.
        let r = parse_local_file(
            format!("{pdq}\n{}\n", SAMPLE_PDQ[1]).as_bytes(),
            Some("pdq"),
        );
        assert_eq!((r.values.len(), r.skipped), (2, 0));
    }

    #[test]
    fn local_file_paths_outside_the_allowed_folders_are_refused_unlooked() {
        let dir = tempfile::tempdir().unwrap();
        let allowed = dir.path().join("lists");
        std::fs::create_dir(&allowed).unwrap();
        let f = ExchangeFetcher::new(std::slice::from_ref(&allowed)).unwrap();
        let dirs = &f.local_dirs;
        std::fs::write(allowed.join("l.txt"), "pdq x\n").unwrap();
        std::fs::write(dir.path().join("secret.txt"), "pdq x\n").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), allowed.join("link.txt"))
            .unwrap();
        let inside = dirs[0].join("l.txt");
        assert!(read_allowed(inside.to_str().unwrap(), dirs).is_ok());
        for p in [
            "/etc/shadow".to_string(),
            "/etc/no-such-file".to_string(),
            "l.txt".to_string(),
            format!("{}/../secret.txt", dirs[0].display()),
            dirs[0].join("link.txt").display().to_string(),
        ] {
            let e = read_allowed(&p, dirs).unwrap_err();
            assert!(
                e.contains("outside the folders") || e.contains("absolute path"),
                "{p}: {e}"
            );
        }
        // Nothing allowed: nothing read.
        let e = read_allowed(inside.to_str().unwrap(), &[]).unwrap_err();
        assert!(e.contains("--hma-local-file-dir"), "{e}");
        // A folder in the allowed one is no file.
        std::fs::create_dir(allowed.join("sub")).unwrap();
        let e = read_allowed(dirs[0].join("sub").to_str().unwrap(), dirs).unwrap_err();
        assert!(e.contains("not a regular file"), "{e}");
        assert!(ExchangeFetcher::new(&[dir.path().join("missing")]).is_err());
    }
}
