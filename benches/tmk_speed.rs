//! What TMK+PDQF adds to hashing a video, one thread, side by side:
//! `hash` with vPDQ only (`--no-tmk`), with vPDQ and TMK+PDQF from the same
//! decode (the default), and Meta's route for TMK alone (the ffmpeg CLI
//! decoding and piping 64x64 rgb24 frames at 15 fps, as `tmk-hash-video`
//! runs it, into the same hasher), on the 14 sample videos of
//! `../shared/conformance/vpdq/videos` and a generated 5-minute 1080p video
//! (made once with the ffmpeg CLI into `target/tmk-speed/`), and a generated
//! 20-second 1080p video of one still picture (a Mandelbrot frame: the
//! slideshow or still-image-over-audio shape of much propaganda, where the
//! decoder has little to do and TMK's share is largest). Views are off
//! (`hash`'s default): the TMK views are query-side extras, not part of
//! what TMK costs a hash.
//!
//!     cargo bench --bench tmk_speed
//!     HASHSIEVE_BENCH_RUNS=9 cargo bench --bench tmk_speed   # more runs
//!     HASHSIEVE_BENCH_LONG=0 cargo bench --bench tmk_speed   # samples only
//!     HASHSIEVE_BENCH_LONG_RUNS=3 ...   # runs of the long video (1)
//!     HASHSIEVE_BENCH_CLI=0 ...         # without Meta's route
//!     HASHSIEVE_BENCH_STILL=0 ...       # without the still-picture video
//!                                       # (HASHSIEVE_BENCH_ONLY=still: it alone)
//!     HASHSIEVE_BENCH_ONLY=chair ...    # videos whose name holds this
//!
//! Why it is shaped like this: the machine it runs on is often shared, so
//! the two sides of each comparison run interleaved (plain, TMK, TMK,
//! plain, ... so that neither side always runs first), after one warm-up
//! run of each, and every figure is a median. Besides wall time it prints
//! the CPU time of the hashing thread (`CLOCK_THREAD_CPUTIME_ID`: with one
//! thread FFmpeg decodes on the calling thread), which other processes
//! disturb much less. Meta's route's CPU time is the ffmpeg process's
//! (user + sys from `getrusage(RUSAGE_CHILDREN)`) plus the hashing thread's.
//! "Together" is the sum of the per-video medians.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use hashsieve::hashing::{hash_path, HashConfig, Worker};
use hashsieve::tmk::hash_rgb24_stream;
use hashsieve::video::VideoOptions;

/// Wall and CPU seconds of one run.
#[derive(Clone, Copy, Default)]
struct Cost {
    wall: f64,
    cpu: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Medians of wall and CPU over runs.
fn medians(runs: &[Cost]) -> Cost {
    Cost {
        wall: median(runs.iter().map(|c| c.wall).collect()),
        cpu: median(runs.iter().map(|c| c.cpu).collect()),
    }
}

fn timeval_secs(t: libc::timeval) -> f64 {
    t.tv_sec as f64 + t.tv_usec as f64 * 1e-6
}

/// CPU seconds of the calling thread.
fn thread_cpu() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes one timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// User + sys CPU seconds of the waited-for children.
fn children_cpu() -> f64 {
    // SAFETY: rusage is plain integers, valid when zeroed.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes one rusage.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    timeval_secs(ru.ru_utime) + timeval_secs(ru.ru_stime)
}

fn config(tmk: bool) -> HashConfig {
    HashConfig {
        video: VideoOptions {
            threads: 1,
            tmk,
            timeout: None,
            ..VideoOptions::default()
        },
        ..HashConfig::default()
    }
}

/// One `hash` of `path`, vPDQ only or vPDQ + TMK+PDQF.
fn ours(path: &Path, cfg: &HashConfig, worker: &mut Worker) -> Cost {
    let (t, c) = (Instant::now(), thread_cpu());
    let rec = hash_path(path, cfg, worker);
    let cost = Cost {
        wall: t.elapsed().as_secs_f64(),
        cpu: thread_cpu() - c,
    };
    assert!(rec.error.is_none(), "{}: {:?}", path.display(), rec.error);
    assert_eq!(rec.tmk.is_some(), cfg.video.tmk);
    cost
}

/// Meta's route once: the reference's ffmpeg command into the same hasher.
fn cli_route(path: &Path, one_thread: bool) -> Cost {
    let (t, c, k) = (Instant::now(), thread_cpu(), children_cpu());
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-loglevel", "warning", "-hide_banner", "-nostdin"]);
    if one_thread {
        cmd.args(["-threads", "1", "-filter_threads", "1"]);
    }
    cmd.arg("-i").arg(path);
    if one_thread {
        cmd.args(["-threads", "1"]);
    }
    let mut child = cmd
        .args(["-s", "64:64", "-an", "-f", "rawvideo", "-c:v", "rawvideo"])
        .args(["-pix_fmt", "rgb24", "-r", "15", "pipe:1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run ffmpeg");
    let out = child.stdout.take().expect("stdout");
    hash_rgb24_stream(out).expect("frames");
    assert!(child.wait().expect("wait").success());
    Cost {
        wall: t.elapsed().as_secs_f64(),
        cpu: (thread_cpu() - c) + (children_cpu() - k),
    }
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

/// The 20-second 1080p video of one still picture, made once: a
/// Mandelbrot frame (detail everywhere, few rows that repeat down the
/// frame) looped and encoded with x264's defaults.
fn still_video() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tmk-speed");
    let path = dir.join("still-1080p-20s.mp4");
    if path.is_file() {
        return Some(path);
    }
    std::fs::create_dir_all(&dir).ok()?;
    let (png, tmp) = (dir.join("still.png"), dir.join("making-still.mp4"));
    println!("making {} (once) ...", path.display());
    let run = |args: &[&str], out: &Path| {
        Command::new("ffmpeg")
            .args(["-v", "error", "-y"])
            .args(args)
            .arg(out)
            .status()
            .is_ok_and(|s| s.success())
    };
    let picture = [
        "-f",
        "lavfi",
        "-i",
        "mandelbrot=size=1920x1080",
        "-frames:v",
        "1",
    ];
    if !run(&picture, &png) {
        return None;
    }
    let png_arg = png.to_string_lossy().into_owned();
    let video = [
        "-loop", "1", "-i", &png_arg, "-t", "20", "-r", "30", "-c:v", "libx264", "-pix_fmt",
        "yuv420p",
    ];
    if !run(&video, &tmp) {
        return None;
    }
    std::fs::rename(&tmp, &path).ok()?;
    Some(path)
}

/// Measure and print one generated video (`None`: it could not be made).
fn generated(
    label: &str,
    what: &str,
    video: Option<PathBuf>,
    runs: usize,
    warm_up: bool,
    cli: bool,
) {
    match video {
        Some(v) => {
            let row = measure(label.into(), &v, runs, warm_up, cli);
            print_row(&row);
            println!(
                "TMK adds to {what}: {:.1}% wall, {:.1}% CPU",
                pct(row.plain.wall, row.tmk.wall),
                pct(row.plain.cpu, row.tmk.cpu)
            );
        }
        None => println!("could not make {what} (no ffmpeg CLI?): skipped"),
    }
}

/// One video's medians.
struct Row {
    name: String,
    plain: Cost,
    tmk: Cost,
    /// Median over rounds of each round's TMK / plain CPU ratio.
    paired_cpu: f64,
    cli1: Cost,
    cli_all: Cost,
}

fn pct(a: f64, b: f64) -> f64 {
    100.0 * (b / a - 1.0)
}

fn measure(name: String, path: &Path, runs: usize, warm_up: bool, cli: bool) -> Row {
    let (plain_cfg, tmk_cfg) = (config(false), config(true));
    let mut worker = Worker::new();
    // Warm-up: the file in the page cache, the worker's buffers grown (not
    // for the long video: a run there is long enough on its own).
    if warm_up {
        ours(path, &plain_cfg, &mut worker);
        ours(path, &tmk_cfg, &mut worker);
    }
    let (mut plain, mut tmk, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..runs {
        // A B, B A, A B, ...: neither side always goes first.
        let (p, t) = if round % 2 == 0 {
            let p = ours(path, &plain_cfg, &mut worker);
            (p, ours(path, &tmk_cfg, &mut worker))
        } else {
            let t = ours(path, &tmk_cfg, &mut worker);
            (ours(path, &plain_cfg, &mut worker), t)
        };
        ratios.push(t.cpu / p.cpu);
        plain.push(p);
        tmk.push(t);
    }
    let nan = Cost {
        wall: f64::NAN,
        cpu: f64::NAN,
    };
    let (mut c1, mut ca) = (Vec::new(), Vec::new());
    if cli {
        for _ in 0..runs {
            c1.push(cli_route(path, true));
            ca.push(cli_route(path, false));
        }
    }
    Row {
        name,
        plain: medians(&plain),
        tmk: medians(&tmk),
        paired_cpu: median(ratios),
        cli1: if cli { medians(&c1) } else { nan },
        cli_all: if cli { medians(&ca) } else { nan },
    }
}

fn print_header() {
    println!(
        "{:<32} {:>8} {:>8} {:>7} | {:>8} {:>8} {:>7} {:>7} | {:>9} {:>9} {:>9}",
        "video",
        "vPDQ s",
        "+TMK s",
        "wall+",
        "vPDQ cpu",
        "+TMK cpu",
        "cpu+",
        "paired",
        "CLI1 wall",
        "CLI1 cpu",
        "CLIall wall"
    );
}

fn print_row(r: &Row) {
    println!(
        "{:<32} {:>8.3} {:>8.3} {:>6.1}% | {:>8.3} {:>8.3} {:>6.1}% {:>6.1}% | {:>9.3} {:>9.3} {:>9.3}",
        r.name,
        r.plain.wall,
        r.tmk.wall,
        pct(r.plain.wall, r.tmk.wall),
        r.plain.cpu,
        r.tmk.cpu,
        pct(r.plain.cpu, r.tmk.cpu),
        100.0 * (r.paired_cpu - 1.0),
        r.cli1.wall,
        r.cli1.cpu,
        r.cli_all.wall,
    );
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let runs = env_or("HASHSIEVE_BENCH_RUNS", 5).max(1);
    let long_runs = env_or("HASHSIEVE_BENCH_LONG_RUNS", 1).max(1);
    let only = std::env::var("HASHSIEVE_BENCH_ONLY").unwrap_or_default();
    let have_cli = std::env::var("HASHSIEVE_BENCH_CLI").as_deref() != Ok("0")
        && Command::new("ffmpeg")
            .arg("-version")
            .output()
            .is_ok_and(|o| o.status.success());
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/vpdq/videos");
    let mut videos: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|r| r.map(|e| e.expect("entry").path()).collect())
        .unwrap_or_default();
    videos.retain(|v| v.to_string_lossy().contains(&only));
    videos.sort();
    if videos.is_empty() {
        println!(
            "no sample video in {} (matching {only:?}): samples skipped",
            dir.display()
        );
    }
    println!(
        "one thread; medians of {runs} interleaved runs a sample video after a warm-up \
         ({long_runs} for the long one, no warm-up); wall and hashing-thread CPU seconds; \
         \"paired\": median of the runs' CPU ratios; CLI: Meta's route (ffmpeg CLI -s 64:64 -r 15 piped into the same \
         TMK hasher), cpu = ffmpeg's user+sys + the hasher's"
    );
    print_header();
    let mut rows = Vec::new();
    for v in &videos {
        let name = v
            .file_stem()
            .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
        let row = measure(name, v, runs, true, have_cli);
        print_row(&row);
        rows.push(row);
    }
    if !rows.is_empty() {
        let sum = |f: &dyn Fn(&Row) -> f64| rows.iter().map(f).sum::<f64>();
        let together = Row {
            name: format!("{} sample videos together", rows.len()),
            plain: Cost {
                wall: sum(&|r| r.plain.wall),
                cpu: sum(&|r| r.plain.cpu),
            },
            tmk: Cost {
                wall: sum(&|r| r.tmk.wall),
                cpu: sum(&|r| r.tmk.cpu),
            },
            paired_cpu: sum(&|r| r.paired_cpu * r.plain.cpu) / sum(&|r| r.plain.cpu),
            cli1: Cost {
                wall: sum(&|r| r.cli1.wall),
                cpu: sum(&|r| r.cli1.cpu),
            },
            cli_all: Cost {
                wall: sum(&|r| r.cli_all.wall),
                cpu: sum(&|r| r.cli_all.cpu),
            },
        };
        print_row(&together);
        println!(
            "TMK adds to the {} sample videos together: {:.1}% wall, {:.1}% CPU",
            rows.len(),
            pct(together.plain.wall, together.tmk.wall),
            pct(together.plain.cpu, together.tmk.cpu)
        );
    }
    // HASHSIEVE_BENCH_ONLY=still runs it alone.
    if std::env::var("HASHSIEVE_BENCH_STILL").as_deref() != Ok("0")
        && "still-1080p".contains(only.as_str())
    {
        let label = "20 s 1080p still picture";
        generated(
            label,
            "the still-picture video",
            still_video(),
            runs,
            true,
            have_cli,
        );
    }
    if std::env::var("HASHSIEVE_BENCH_LONG").as_deref() != Ok("0") {
        let label = "5-minute 1080p (testsrc2, x264)";
        generated(
            label,
            "the 5-minute 1080p video",
            long_video(),
            long_runs,
            false,
            have_cli,
        );
    }
}
