//! What TMK+PDQF adds to hashing a video, one thread, side by side:
//! `hash` with vPDQ only (`--no-tmk`), with vPDQ and TMK+PDQF from the same
//! decode (the default), and Meta's route for TMK alone (the ffmpeg CLI
//! decoding and piping 64x64 rgb24 frames at 15 fps, as `tmk-hash-video`
//! runs it, into the same hasher), on the 14 sample videos of
//! `../shared/conformance/vpdq/videos` and a generated 5-minute 1080p video
//! (made once with the ffmpeg CLI into `target/tmk-speed/`).
//!
//!     cargo bench --bench tmk_speed
//!     HASHSIEVE_BENCH_RUNS=5 cargo bench --bench tmk_speed   # more runs
//!     HASHSIEVE_BENCH_LONG=0 cargo bench --bench tmk_speed   # samples only
//!
//! Times are medians of the runs (3 by default; 1 for the long video). The
//! CLI route runs with `-threads 1 -filter_threads 1` (one thread, as ours);
//! its default (all cores) is printed too.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hashsieve::hashing::{hash_path, HashConfig, Worker};
use hashsieve::tmk::hash_rgb24_stream;
use hashsieve::video::VideoOptions;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ours(path: &Path, tmk: bool, runs: usize) -> Duration {
    let cfg = HashConfig {
        video: VideoOptions {
            threads: 1,
            tmk,
            timeout: None,
            ..VideoOptions::default()
        },
        ..HashConfig::default()
    };
    let mut worker = Worker::new();
    median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                let rec = hash_path(path, &cfg, &mut worker);
                let d = t.elapsed();
                assert!(rec.error.is_none(), "{}: {:?}", path.display(), rec.error);
                assert_eq!(rec.tmk.is_some(), tmk);
                d
            })
            .collect(),
    )
}

/// Meta's route: the reference's ffmpeg command into the same hasher.
fn cli_route(path: &Path, one_thread: bool, runs: usize) -> Duration {
    median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                let mut c = Command::new("ffmpeg");
                c.args(["-loglevel", "warning", "-hide_banner", "-nostdin"]);
                if one_thread {
                    c.args(["-threads", "1", "-filter_threads", "1"]);
                }
                c.arg("-i").arg(path);
                if one_thread {
                    c.args(["-threads", "1"]);
                }
                let mut child = c
                    .args(["-s", "64:64", "-an", "-f", "rawvideo", "-c:v", "rawvideo"])
                    .args(["-pix_fmt", "rgb24", "-r", "15", "pipe:1"])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("run ffmpeg");
                let out = child.stdout.take().expect("stdout");
                hash_rgb24_stream(out).expect("frames");
                assert!(child.wait().expect("wait").success());
                t.elapsed()
            })
            .collect(),
    )
}

/// The 5-minute 1080p test video, made once.
fn long_video() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tmk-speed");
    let path = dir.join("testsrc2-1080p-300s.mp4");
    if path.is_file() {
        return Some(path);
    }
    std::fs::create_dir_all(&dir).ok()?;
    let tmp = dir.join("making.mp4");
    println!("making {} (once) ...", path.display());
    let ok = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=1920x1080:rate=30:duration=300")
        .args([
            "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
        ])
        .arg(&tmp)
        .status()
        .ok()?
        .success();
    if !ok {
        return None;
    }
    std::fs::rename(&tmp, &path).ok()?;
    Some(path)
}

fn main() {
    let runs: usize = std::env::var("HASHSIEVE_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let have_cli = Command::new("ffmpeg")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/vpdq/videos");
    let mut videos: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|r| r.map(|e| e.expect("entry").path()).collect())
        .unwrap_or_default();
    videos.sort();
    let mut long = Vec::new();
    if std::env::var("HASHSIEVE_BENCH_LONG").as_deref() != Ok("0") && have_cli {
        long.extend(long_video());
    }
    println!(
        "{:<34} {:>10} {:>12} {:>7} {:>13} {:>14}",
        "video", "vPDQ (s)", "+TMK (s)", "added", "CLI 1 thr (s)", "CLI all (s)"
    );
    let (mut sum_v, mut sum_t) = (0f64, 0f64);
    for (v, n) in videos
        .iter()
        .map(|v| (v, runs))
        .chain(long.iter().map(|v| (v, 1)))
    {
        let plain = ours(v, false, n).as_secs_f64();
        let both = ours(v, true, n).as_secs_f64();
        let (c1, ca) = if have_cli {
            (
                cli_route(v, true, n).as_secs_f64(),
                cli_route(v, false, n).as_secs_f64(),
            )
        } else {
            (f64::NAN, f64::NAN)
        };
        if long.contains(v) {
            println!(
                "{:<34} {plain:>10.3} {both:>12.3} {:>6.1}% {c1:>13.3} {ca:>14.3}",
                "5-minute 1080p (testsrc2, x264)",
                100.0 * (both / plain - 1.0)
            );
        } else {
            sum_v += plain;
            sum_t += both;
            println!(
                "{:<34} {plain:>10.3} {both:>12.3} {:>6.1}% {c1:>13.3} {ca:>14.3}",
                v.file_stem().unwrap().to_string_lossy(),
                100.0 * (both / plain - 1.0)
            );
        }
    }
    if sum_v > 0.0 {
        println!(
            "14 sample videos together: vPDQ {sum_v:.3} s, vPDQ + TMK {sum_t:.3} s: TMK adds {:.1}%",
            100.0 * (sum_t / sum_v - 1.0)
        );
    }
}
