//! Baseline for the scan benchmark: the hashing alone.
//!
//! Lists the inputs first (not timed), then runs the library's `hash_path`
//! (the same code `scan` uses: one read, digests, sniff, decode, PDQ/vPDQ)
//! over them on a rayon pool of N threads, discarding the records. No
//! walking, no archives, no matching, no report, no resume state: what the
//! pipeline's overhead is measured against (see `scan_bench.sh`).
//!
//! Usage: cargo bench --bench scan_hash_only -- [--threads N] [--repeat R] [--views SET]
//!        [--video-threads N] PATH...
//! Without paths it uses ../shared/conformance (photos and videos).

use hashsieve::hashing::{hash_path, HashConfig, Worker};
use hashsieve::walk::{sorted, Input, WalkOptions};
use rayon::prelude::*;
use std::cell::RefCell;
use std::path::PathBuf;
use std::time::Instant;

thread_local! {
    static WORKER: RefCell<Worker> = RefCell::new(Worker::new());
}

fn main() {
    let mut threads = 2usize;
    let mut repeat = 1usize;
    let mut cfg = HashConfig::default();
    let mut paths: Vec<PathBuf> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--bench" => {}
            "--threads" => threads = args.next().and_then(|v| v.parse().ok()).unwrap_or(2),
            "--repeat" => repeat = args.next().and_then(|v| v.parse().ok()).unwrap_or(1),
            // Threads per video (as `scan --video-threads`); default 0.
            "--video-threads" => {
                if let Some(v) = args.next().and_then(|v| v.parse().ok()) {
                    cfg.video.threads = v;
                }
            }
            // Query-side views of images (as `scan --views`); default none.
            "--views" => {
                if let Some(v) = args.next().and_then(|v| v.parse().ok()) {
                    cfg.views = v;
                }
            }
            p => paths.push(PathBuf::from(p)),
        }
    }
    if paths.is_empty() {
        let conf = PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/conformance"
        ));
        if !conf.exists() {
            println!("skipped: ../shared/conformance not found");
            return;
        }
        paths = vec![conf.join("pdq"), conf.join("vpdq/videos")];
    }
    let files: Vec<PathBuf> = sorted(&paths, &WalkOptions::default())
        .filter_map(|i| match i {
            Input::File(k) => Some(k.path),
            Input::Failed(..) => None,
        })
        .collect();
    let bytes: u64 = files
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool");
    for _ in 0..repeat {
        let t = Instant::now();
        let errors: usize = pool.install(|| {
            files
                .par_iter()
                .with_max_len(1)
                .map(|p| {
                    WORKER.with(|w| {
                        usize::from(hash_path(p, &cfg, &mut w.borrow_mut()).error.is_some())
                    })
                })
                .sum()
        });
        let s = t.elapsed().as_secs_f64();
        println!(
            "hash-only threads={threads} views={:?} files={} bytes={bytes} errors={errors} seconds={s:.3} files_per_s={:.1} mb_per_s={:.1}",
            cfg.views,
            files.len(),
            files.len() as f64 / s,
            bytes as f64 / 1e6 / s
        );
    }
}
