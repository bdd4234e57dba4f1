//! `scan --queue URL --run NAME PATH...`: walk the paths (as `scan` walks
//! them) and publish one job per input file.
//!
//! The run is registered in the database first: a name already taken is
//! refused unless the producer resumes it with the same roots (then the
//! files already committed are not published again), so two producers
//! cannot mix two scans in one run. Each job carries a message id derived
//! from (run, path), so JetStream drops a job published twice within its
//! duplicate window. Files the walk cannot read get their error record
//! straight from the producer.

use super::{
    check_run_name, connect, jobs_stream, runtime, QueueError, SIZE_HEADER, SUBJECT_PREFIX,
};
use crate::record::FileRecord;
use crate::scan::shard::Shard;
use crate::walk::{walk, Input};
use hashdb::store::runs::{RunRecord, RunStart};
use hashdb::store::Store;
use std::collections::VecDeque;
use std::future::IntoFuture;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

/// Publish acks awaited at once (publishing is pipelined).
const IN_FLIGHT: usize = 256;

/// What to publish.
pub struct ProduceConfig {
    pub url: String,
    pub run: String,
    pub roots: Vec<PathBuf>,
    pub follow_links: bool,
    pub shard: Option<Shard>,
    /// Take up an existing run of the same roots.
    pub resume: bool,
}

/// What the producer did.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Produced {
    /// Jobs published now.
    pub published: u64,
    /// Files already committed by workers (a resumed run): not published.
    pub skipped_done: u64,
    /// Files the walk could not read: error records written directly.
    pub walk_errors: u64,
    /// Whether the run existed (`--resume`).
    pub resumed: bool,
}

/// Register the run in `store`, walk and publish.
///
/// # Errors
/// A bad run name or URL, the run name taken, NATS unreachable or
/// refusing a job, the database failing.
pub fn produce(
    cfg: &ProduceConfig,
    store: &mut Store,
    stop: &AtomicBool,
) -> Result<Produced, QueueError> {
    check_run_name(&cfg.run)?;
    super::check_url(&cfg.url)?;
    let roots: Vec<&[u8]> = cfg.roots.iter().map(|r| r.as_os_str().as_bytes()).collect();
    let start = store.scan_run_start(&cfg.run, &roots, &cfg.url, cfg.resume)?;
    let mut out = Produced {
        resumed: start == RunStart::Resumed,
        ..Produced::default()
    };
    let rt = runtime()?;
    let (tx, rx) = crossbeam_channel::bounded::<Input>(1024);
    std::thread::scope(|s| -> Result<(), QueueError> {
        s.spawn(move || {
            walk(
                &cfg.roots,
                cfg.follow_links,
                2,
                cfg.shard,
                &tx,
                stop,
                &crate::progress::NullProgress,
            );
        });
        // The loop runs on this thread, outside the runtime (the database
        // calls must: see the module docs); only the NATS calls are
        // driven on it, one `block_on` each.
        let js = rt.block_on(async {
            let client = connect(&cfg.url, "hashsieve-producer").await?;
            let js = async_nats::jetstream::new(client);
            jobs_stream(&js).await?;
            Ok::<_, QueueError>(js)
        })?;
        let subject = format!("{SUBJECT_PREFIX}{}", cfg.run);
        let mut acks = VecDeque::new();
        let publish_err = |e: &dyn std::fmt::Display| QueueError::Publish(e.to_string());
        for input in rx.iter() {
            match input {
                Input::Failed(path, error) => {
                    let rec = FileRecord::failed(&path, error);
                    let line = rec.to_json_line();
                    let p = path.as_os_str().as_bytes();
                    let r = RunRecord {
                        path: p.to_vec(),
                        matches: 0,
                        error: rec.error.as_ref().map(|e| e.kind.as_str().to_string()),
                        line,
                    };
                    store.scan_job_commit(&cfg.run, p, "producer", 0, &[r])?;
                    out.walk_errors += 1;
                }
                Input::File(key) => {
                    let p = key.path.as_os_str().as_bytes();
                    if out.resumed && store.scan_job_done(&cfg.run, p)? {
                        out.skipped_done += 1;
                        continue;
                    }
                    let mut headers = async_nats::HeaderMap::new();
                    let id = blake3::Hasher::new()
                        .update(cfg.run.as_bytes())
                        .update(&[0])
                        .update(p)
                        .finalize()
                        .to_hex();
                    headers.insert("Nats-Msg-Id", id.as_str());
                    headers.insert(SIZE_HEADER, key.size.to_string().as_str());
                    let ack = rt
                        .block_on(js.publish_with_headers(
                            subject.clone(),
                            headers,
                            p.to_vec().into(),
                        ))
                        .map_err(|e| publish_err(&e))?;
                    acks.push_back(ack);
                    // Publishing is pipelined: at most IN_FLIGHT acks
                    // outstanding.
                    if acks.len() >= IN_FLIGHT {
                        if let Some(a) = acks.pop_front() {
                            rt.block_on(a.into_future()).map_err(|e| publish_err(&e))?;
                        }
                    }
                    out.published += 1;
                    if out.published.is_multiple_of(1024) {
                        store.scan_run_published(&cfg.run, out.published, false)?;
                    }
                }
            }
        }
        for a in acks {
            rt.block_on(a.into_future()).map_err(|e| publish_err(&e))?;
        }
        Ok(())
    })?;
    // `published` counts the jobs of the whole run: a resumed run's
    // earlier jobs are the ones already done plus those still queued.
    let total = out.published + out.skipped_done + out.walk_errors;
    store.scan_run_published(&cfg.run, total, true)?;
    Ok(out)
}
