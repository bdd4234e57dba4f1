//! Per-list vPDQ thresholds through the real binary: lists created with
//! `db list-create` carry their own video rules, `scan` judges each listed
//! video by the rule of its own list, `--vpdq-*`/`--min-clip-frames`
//! override every list for one run, and `db list-update` changes a list.
//!
//! The videos are made with the `ffmpeg` CLI from generated block images
//! (one distinct picture per second), so the test needs no shared data:
//! the listed video has 20 distinct seconds, the scanned clip is its first
//! 8 seconds (8 of 20 = 40% of the listed video, 100% of the clip).

// Needs FFmpeg (video decoding); tests/video_disabled.rs covers the build
// without the `video` feature.
#![cfg(feature = "video")]

use crate::ffmpeg_support;

use crate::scan_support;

use scan_support::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

/// A video of `seconds` seconds at 30 fps, keyframe each second, showing
/// picture `i` (a 64x64 block image, scaled up) during second `i`.
fn block_video(dir: &Path, out: &Path, seconds: u32) {
    let frames = dir.join("frames");
    std::fs::create_dir_all(&frames).unwrap();
    for i in 0..20u64 {
        write(&frames.join(format!("f{i:02}.png")), &png(1000 + i));
    }
    let o = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-framerate", "1", "-i"])
        .arg(frames.join("f%02d.png"))
        .args(["-t", &seconds.to_string()])
        .args(["-vf", "scale=256:256:flags=neighbor", "-r", "30"])
        .args(["-c:v", "libx264", "-g", "30", "-pix_fmt", "yuv420p"])
        .arg(out)
        .output()
        .expect("run ffmpeg");
    assert!(
        o.status.success(),
        "ffmpeg: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn run(db: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .env_remove("HASHSIEVE_DB")
        .args(args)
        .arg("--db")
        .arg(db)
        .output()
        .unwrap()
}

fn ok(db: &Path, args: &[&str]) -> String {
    let o = run(db, args);
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// Scan `media` and return, for the clip's record, each list that hit with
/// its vPDQ score.
fn scan_hits(dir: &Path, db: &Path, extra: &[&str]) -> BTreeMap<String, Value> {
    let out = parse(
        scan_cmd(dir)
            .args(["media", "--no-state", "--format", "jsonl", "--db"])
            .arg(db)
            .args(extra)
            .output()
            .unwrap(),
    );
    let rec = out.one("media/clip.mp4");
    assert!(rec["error"].is_null(), "{rec}");
    let mut hits = BTreeMap::new();
    for m in rec["matches"].as_array().expect("matches") {
        assert_eq!(m["signal_type"], "vpdq", "{m}");
        assert_eq!(m["hit_by"], "vpdq", "{m}");
        let list = m["list"].as_str().unwrap().to_string();
        assert!(hits.insert(list, m["vpdq"].clone()).is_none(), "{rec}");
    }
    let want_code = if hits.is_empty() { 0 } else { 1 };
    assert_eq!(out.code, want_code, "{}", out.stderr);
    hits
}

fn rules(hits: &BTreeMap<String, Value>) -> Vec<(&str, &str)> {
    hits.iter()
        .map(|(l, v)| (l.as_str(), v["rule"].as_str().unwrap()))
        .collect()
}

#[test]
fn each_list_judges_videos_by_its_own_rule() {
    if !ffmpeg_support::require_ffmpeg() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let full = dir.join("full.mp4");
    block_video(dir, &full, 20);
    std::fs::create_dir_all(dir.join("media")).unwrap();
    block_video(dir, &dir.join("media/clip.mp4"), 8);

    // The listed video's vPDQ file, from our own hasher.
    let o = Command::new(bin())
        .args(["hash", "--format", "vpdq"])
        .arg(&full)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let listed = dir.join("full.vpdq");
    std::fs::write(&listed, &o.stdout).unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 20);

    let db = dir.join("h.db");
    // Defaults: vPDQ 80%, clip 80% and 3 frames.
    ok(&db, &["db", "list-create", "lenient"]);
    // Takes a video when 30% of it is seen.
    ok(
        &db,
        &["db", "list-create", "loose", "--vpdq-target-percent", "30"],
    );
    // Needs 90% of the video, or a clip entirely from it of 10+ frames.
    ok(
        &db,
        &[
            "db",
            "list-create",
            "strict",
            "--vpdq-target-percent",
            "90",
            "--vpdq-query-percent",
            "100",
            "--min-clip-frames",
            "10",
        ],
    );
    for list in ["lenient", "loose", "strict"] {
        ok(&db, &["db", "import", list, listed.to_str().unwrap()]);
    }
    // Out-of-range values are refused and change nothing.
    let bad = run(
        &db,
        &["db", "list-create", "bad", "--vpdq-target-percent", "120"],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("vpdq target percent"));

    // `db lists --json` shows each list's rule.
    let lists: BTreeMap<String, Value> = ok(&db, &["db", "lists", "--json"])
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["name"].as_str().unwrap().to_string(), v)
        })
        .collect();
    assert_eq!(lists.len(), 3);
    let s = &lists["strict"];
    assert_eq!(
        (
            s["vpdq_target_percent"].as_f64(),
            s["vpdq_query_percent"].as_f64(),
            s["min_clip_frames"].as_u64()
        ),
        (Some(90.0), Some(100.0), Some(10))
    );
    assert_eq!(lists["lenient"]["vpdq_target_percent"].as_f64(), Some(80.0));
    // The table names the columns.
    let table = ok(&db, &["db", "lists"]);
    assert!(table.contains("CLIP-MIN"), "{table}");

    // The clip: 40% of the listed video, all 8 of its own frames.
    let hits = scan_hits(dir, &db, &[]);
    assert_eq!(rules(&hits), vec![("lenient", "clip"), ("loose", "vpdq")]);
    let c = &hits["lenient"];
    assert_eq!(c["target_percent"].as_f64(), Some(40.0));
    assert_eq!(c["query_percent"].as_f64(), Some(100.0));
    assert_eq!(c["matched_query_frames"].as_u64(), Some(8));
    assert_eq!(c["timestamps"].as_array().unwrap().len(), 8);

    // Run-wide overrides replace every list's values.
    let hits = scan_hits(dir, &db, &["--min-clip-frames", "8"]);
    assert_eq!(
        rules(&hits),
        vec![("lenient", "clip"), ("loose", "vpdq"), ("strict", "clip")]
    );
    let hits = scan_hits(dir, &db, &["--vpdq-target-percent", "95"]);
    assert_eq!(rules(&hits), vec![("lenient", "clip"), ("loose", "clip")]);
    let hits = scan_hits(
        dir,
        &db,
        &["--vpdq-target-percent", "95", "--min-clip-frames", "9"],
    );
    assert!(hits.is_empty(), "{hits:?}");

    // Changing a list's own rule takes effect on the next scan.
    let u: Value = serde_json::from_str(
        ok(
            &db,
            &["db", "list-update", "strict", "--min-clip-frames", "8"],
        )
        .trim(),
    )
    .unwrap();
    assert_eq!(u["vpdq_min_clip_frames"], 8);
    assert_eq!(u["vpdq_target_percent"].as_f64(), Some(90.0));
    let hits = scan_hits(dir, &db, &[]);
    assert_eq!(
        rules(&hits),
        vec![("lenient", "clip"), ("loose", "vpdq"), ("strict", "clip")]
    );

    // `match --vpdq` applies the same per-list rules.
    let o = Command::new(bin())
        .args(["hash", "--format", "vpdq"])
        .arg(dir.join("media/clip.mp4"))
        .output()
        .unwrap();
    let clip = dir.join("clip.vpdq");
    std::fs::write(&clip, &o.stdout).unwrap();
    let o = run(
        &db,
        &[
            "match",
            "--vpdq",
            clip.to_str().unwrap(),
            "--list",
            "loose",
            "--list",
            "strict",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let mut got: Vec<(String, String)> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (
                v["list"].as_str().unwrap().to_string(),
                v["vpdq"]["rule"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("loose".to_string(), "vpdq".to_string()),
            ("strict".to_string(), "clip".to_string())
        ]
    );
}
