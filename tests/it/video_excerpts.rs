//! Short excerpts of a listed video (issue 16): a 3 s excerpt cut out of
//! phase with the listed video's once-a-second frames is found by `scan`
//! with the default list rules, and unrelated footage of the same length is
//! not. The excerpt holds only three sampled frames, so it is the clip
//! minimum (`--min-clip-frames`, default 3: three seconds of matched video
//! at one hash a second, counting the frames between the samples) that
//! decides; the former default of 5 misses it.
//!
//! The videos are pans over generated pictures (the `ffmpeg` CLI): each
//! second shows another part of the picture, so the listed video's frames
//! are distinct moments, as in real footage.

#![cfg(feature = "video")]

use crate::ffmpeg_support;
use ffmpeg_support::ffmpeg;

use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hashsieve"))
}

fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run hashsieve");
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// A 12 s, 30 fps pan (60 px a second) over `picture`.
fn pan(dir: &Path, picture: &str, out: &str) {
    ffmpeg(
        dir,
        &[
            "-loop",
            "1",
            "-framerate",
            "30",
            "-t",
            "12",
            "-i",
            picture,
            "-vf",
            "crop=320:240:x='20+60*t':y=100",
            "-r",
            "30",
            "-pix_fmt",
            "yuv420p",
            out,
        ],
    );
}

/// `(view, rule)` of every match of `file` in a scan of `db`.
fn scan(db: &Path, file: &Path, flags: &[&str]) -> Vec<(String, String)> {
    let text = ok(bin()
        .args(["scan", "--no-state", "--format", "jsonl", "--db"])
        .arg(db)
        .args(flags)
        .arg(file));
    let mut hits = Vec::new();
    for line in text.lines().filter(|l| l.starts_with('{')) {
        let v: Value = serde_json::from_str(line).expect("JSON line");
        for m in v["matches"].as_array().into_iter().flatten() {
            hits.push((
                m["view"].as_str().unwrap_or("original").to_string(),
                m["vpdq"]["rule"].as_str().unwrap_or("").to_string(),
            ));
        }
    }
    hits
}

#[test]
fn three_second_excerpt_is_found_and_unrelated_footage_is_not() {
    if !ffmpeg_support::require_ffmpeg() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    for (src, name) in [
        ("mandelbrot=size=1100x480:maxiter=300", "listed.png"),
        ("life=size=1100x480:mold=10:ratio=0.3:seed=7", "other.png"),
    ] {
        ffmpeg(dir, &["-f", "lavfi", "-i", src, "-frames:v", "1", name]);
    }
    pan(dir, "listed.png", "listed.mp4");
    pan(dir, "other.png", "other.mp4");
    // Excerpts cut half a second out of phase with the samples, re-encoded.
    for (src, start, len, out) in [
        ("listed.mp4", "4.5", "3", "excerpt3.mp4"),
        ("other.mp4", "4.5", "3", "unrelated3.mp4"),
    ] {
        ffmpeg(
            dir,
            &[
                "-ss", start, "-t", len, "-i", src, "-pix_fmt", "yuv420p", "-crf", "23", out,
            ],
        );
    }

    let db = dir.join("t.db");
    ok(bin().args(["db", "--db"]).arg(&db).arg("init"));
    ok(bin()
        .args(["db", "--db"])
        .arg(&db)
        .args(["list-create", "known"]));
    ok(bin()
        .args(["db", "--db"])
        .arg(&db)
        .args(["add", "known", "--no-digests"])
        .arg(dir.join("listed.mp4")));
    let lists = ok(bin()
        .args(["db", "--db"])
        .arg(&db)
        .args(["lists", "--json"]));
    let list: Value = serde_json::from_str(lists.trim()).expect("one list");
    assert_eq!(list["min_clip_frames"], 3, "the default clip minimum");

    let excerpt = scan(&db, &dir.join("excerpt3.mp4"), &[]);
    assert_eq!(excerpt.len(), 1, "{excerpt:?}");
    assert_eq!(excerpt[0].1, "clip", "{excerpt:?}");
    println!("3 s excerpt: {excerpt:?}");
    // The former default of 5 frames misses it: the minimum decides.
    assert!(
        scan(&db, &dir.join("excerpt3.mp4"), &["--min-clip-frames", "5"]).is_empty(),
        "a 3 s excerpt cannot hold 5 seconds of matched video"
    );
    let unrelated = scan(&db, &dir.join("unrelated3.mp4"), &[]);
    assert!(unrelated.is_empty(), "{unrelated:?}");
    assert!(scan(&db, &dir.join("other.mp4"), &[]).is_empty());
}
