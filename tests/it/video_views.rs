//! Video views through the real binary: letterbox bars found over the
//! sampled frames and trimmed, the frames' rotations and flips, as
//! alternative vPDQ queries (`compare --views`, `scan`, `hash --views`).
//!
//! Two sources: Meta's sample videos (read from `../shared/conformance/vpdq/`,
//! never copied here; skipped when absent), whose `pattern-sd-*` copies are
//! pillarboxed versions of `pattern-hd-no-bar`, and videos generated with
//! the `ffmpeg` CLI's `pad` filter (skipped when ffmpeg is missing). The
//! tables print with `--nocapture`.

// Needs FFmpeg: the build without the `video` feature is covered by
// tests/video_disabled.rs.
#![cfg(feature = "video")]

use crate::compare_support;
use crate::ffmpeg_support;
use crate::fixtures;
use compare_support::compare_json as compare;
use ffmpeg_support::{ffmpeg, letterbox_video, testsrc_video};

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::fixtures::CONFORMANCE;

fn videos_dir() -> Option<PathBuf> {
    let d = Path::new(CONFORMANCE).join("vpdq/videos");
    if d.is_dir() {
        Some(d)
    } else {
        fixtures::missing("../shared/conformance not found");
        None
    }
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hashsieve"))
}

/// The record `hashsieve hash [flags] FILE` prints.
fn hash(file: &Path, flags: &[&str]) -> Value {
    serde_json::from_slice(&hash_output(file, flags)).expect("one JSON line")
}

/// What `hashsieve hash [flags] FILE` prints (it must succeed).
fn hash_output(file: &Path, flags: &[&str]) -> Vec<u8> {
    let out = bin()
        .arg("hash")
        .args(flags)
        .arg(file)
        .output()
        .expect("run hashsieve");
    assert!(
        out.status.success(),
        "hash {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// (frame, hash, quality) of every pdq item: the hash of record.
fn record_hashes(rec: &Value) -> Vec<(u64, String, u64)> {
    rec["pdq"]
        .as_array()
        .expect("pdq items")
        .iter()
        .map(|p| {
            (
                p["frame"].as_u64().expect("frame"),
                p["hash"].as_str().expect("hash").to_string(),
                p["quality"].as_u64().expect("quality"),
            )
        })
        .collect()
}

fn name(p: &Path) -> String {
    p.file_stem()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

fn pct(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or(f64::NAN)
}

/// Best view comparison of a `compare --views --json` answer.
fn best_view(v: &Value) -> (String, f64, f64) {
    v["views"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|x| {
            (
                x["view"].as_str().unwrap_or("?").to_string(),
                pct(x, "query_percent"),
                pct(x, "target_percent"),
            )
        })
        .fold(
            ("-".to_string(), 0.0, -1.0),
            |b, x| if x.2 > b.2 { x } else { b },
        )
}

#[test]
fn conformance_letterboxed_copies_match_by_view() {
    let Some(dir) = videos_dir() else { return };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read videos")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "mp4"))
        .collect();
    files.sort();
    let pattern = dir.join("pattern-hd-no-bar.mp4");
    let chair = dir.join("chair-orig-22-sd-bar.mp4");
    // The targets hashed once, as a list holds them, instead of once a
    // comparison: 56 comparisons decode the query side only.
    let tmp = tempfile::tempdir().expect("tempdir");
    let listed = |video: &Path| {
        let text = tmp.path().join(format!("{}.txt", name(video)));
        std::fs::write(&text, hash_output(video, &["--format", "vpdq"]))
            .expect("write the vPDQ text");
        text
    };
    let (pattern_text, chair_text) = (listed(&pattern), listed(&chair));
    println!(
        "{:36} {:20} | {:>7} {:>7} {:5} | {:>7} {:>7} {:5} {:16} {:>7} {:>7}",
        "A (query)",
        "B (target)",
        "A%",
        "B%",
        "match",
        "A%",
        "B%",
        "match",
        "by view / best",
        "A%",
        "B%"
    );
    let mut by_letterbox = Vec::new();
    for a in &files {
        let n = name(a);
        let family = if n.starts_with("pattern-") {
            Some(&pattern)
        } else if n.starts_with("chair-") {
            Some(&chair)
        } else {
            None
        };
        // Each file against its own family's original and the other's.
        for (b, b_text) in [(&pattern, &pattern_text), (&chair, &chair_text)] {
            let plain = compare(a, b_text, &[]);
            // The letterbox and frame views (the between frames, costly
            // here, are checked in tests/compare_conformance.rs).
            let views = compare(a, b_text, &["--views=all", "--between-frames", "0"]);
            let (bv, bq, bt) = best_view(&views);
            println!(
                "{:36} {:20} | {:7.2} {:7.2} {:5} | {:7.2} {:7.2} {:5} {:16} {:7.2} {:7.2}",
                n,
                name(b),
                pct(&plain, "query_percent"),
                pct(&plain, "target_percent"),
                plain["match"],
                pct(&views, "query_percent"),
                pct(&views, "target_percent"),
                views["match"],
                views["view"].as_str().unwrap_or(&bv),
                bq,
                bt
            );
            // The original is tried first and still decides when it matches.
            assert_eq!(pct(&plain, "query_percent"), pct(&views, "query_percent"));
            if plain["match"] == true {
                assert_eq!(views["view"], "original", "{n} vs {}", name(b));
            }
            if family != Some(b) {
                assert_eq!(
                    views["match"],
                    false,
                    "{n} must not match {} with views",
                    name(b)
                );
            } else if plain["match"] == false && views["match"] == true {
                by_letterbox.push((n.clone(), views["view"].as_str().unwrap_or("").to_string()));
            }
        }
    }
    // The pillarboxed SD copies (grey, small logo) are found only by the
    // letterbox view.
    for want in ["pattern-sd-grey-bar", "pattern-sd-with-small-logo-bar"] {
        assert!(
            by_letterbox
                .iter()
                .any(|(n, v)| n == want && v == "letterbox"),
            "{want} matches pattern-hd-no-bar by its letterbox view: {by_letterbox:?}"
        );
    }
}

#[test]
fn conformance_hash_of_record_unchanged_by_views() {
    let Some(dir) = videos_dir() else { return };
    for f in [
        "pattern-sd-grey-bar",
        "pattern-hd-no-bar",
        "chair-20-sd-bar",
    ] {
        let p = dir.join(format!("{f}.mp4"));
        let plain = hash(&p, &[]);
        let views = hash(&p, &["--views=all"]);
        assert_eq!(record_hashes(&plain), record_hashes(&views), "{f}");
        assert!(
            plain["pdq"][0].get("views").is_none(),
            "no views unless asked"
        );
        // The frames between the samples, for the query side only (absent
        // without views).
        assert!(
            plain.get("between").is_none(),
            "no between frames unless asked"
        );
        let between = views["between"].as_array().expect("between frames");
        let decoded = views["video"]["frames_decoded"].as_u64().unwrap();
        let sampled: Vec<u64> = record_hashes(&views).iter().map(|r| r.0).collect();
        // By default every other frame (these are 30 fps or less) that
        // moved since the last frame hashed (`video::motion`: these all
        // move; up to a frame in 7 is still enough to skip); none with
        // --between-frames 0, and the hash of record unchanged.
        let hashed = between.len() as u64 + sampled.len() as u64;
        assert!(
            hashed <= decoded && hashed * 5 >= decoded * 4,
            "{f}: {hashed} of {decoded}"
        );
        let none = hash(&p, &["--views=all", "--between-frames", "0"]);
        assert!(none.get("between").is_none(), "{f}");
        assert_eq!(record_hashes(&none), record_hashes(&views), "{f}");
        assert!(between.iter().all(|b| {
            let n = b["frame"].as_u64().unwrap();
            !sampled.contains(&n) && b["hash"].as_str().map(str::len) == Some(64)
        }));
        let items = views["pdq"].as_array().expect("items");
        assert!(items.iter().all(|p| p["views"]
            .as_array()
            .is_some_and(|v| v.iter().any(|v| v["view"] == "flipx"))));
        let lb = items
            .iter()
            .filter(|p| {
                p["views"]
                    .as_array()
                    .is_some_and(|v| v.iter().any(|v| v["view"] == "letterbox"))
            })
            .count();
        println!("{f}: {lb} of {} frames have a letterbox view", items.len());
        if f == "pattern-sd-grey-bar" {
            assert_eq!(lb, items.len(), "pillarbox found on every frame");
        } else if f == "pattern-hd-no-bar" {
            assert_eq!(lb, 0, "no bars, no letterbox view");
        }
    }
}

fn run_ok(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().expect("run hashsieve");
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `scan` records' matches as (view, hit_by) pairs.
fn scan_matches(db: &Path, file: &Path, flags: &[&str]) -> Vec<(String, String)> {
    let out = run_ok(
        bin()
            .arg("scan")
            .arg("--db")
            .arg(db)
            .args(["--format", "jsonl"])
            .args(flags)
            .arg(file),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut hits = Vec::new();
    for line in text.lines().filter(|l| l.starts_with('{')) {
        let v: Value = serde_json::from_str(line).expect("JSON line");
        if v.get("path").is_none() {
            continue;
        }
        assert!(
            v["pdq"]
                .as_array()
                .into_iter()
                .flatten()
                .all(|p| p.get("views").is_none()),
            "scan output carries no frame views"
        );
        assert!(v.get("between").is_none(), "nor the between frames");
        for m in v["matches"].as_array().into_iter().flatten() {
            hits.push((
                m["view"].as_str().unwrap_or("").to_string(),
                m["hit_by"].as_str().unwrap_or("").to_string(),
            ));
        }
    }
    hits
}

#[test]
fn generated_letterbox_matches_its_source_only_with_views() {
    if !ffmpeg_support::require_ffmpeg() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    testsrc_video(dir, "src.mp4", 8);
    letterbox_video(dir, "src.mp4", "lb.mp4");
    // Mirrored and pillarboxed.
    ffmpeg(
        dir,
        &[
            "-i",
            "src.mp4",
            "-vf",
            "hflip,pad=400:240:40:0:black",
            "-pix_fmt",
            "yuv420p",
            "pbm.mp4",
        ],
    );
    let (src, lb, pbm) = (dir.join("src.mp4"), dir.join("lb.mp4"), dir.join("pbm.mp4"));

    // compare: no match plain, a match by the letterbox view with --views.
    let plain = compare(&lb, &src, &[]);
    assert_eq!(plain["match"], false, "{plain}");
    let views = compare(&lb, &src, &["--views=all"]);
    assert_eq!(views["match"], true, "{views}");
    assert_eq!(views["view"], "letterbox");
    let mirrored = compare(&pbm, &src, &["--views=all"]);
    assert_eq!(compare(&pbm, &src, &[])["match"], false);
    assert_eq!(mirrored["view"], "letterbox+flipy", "{mirrored}");
    println!(
        "lb vs src: plain A {:.2}% B {:.2}%; letterbox A {:.2}% B {:.2}%",
        pct(&plain, "query_percent"),
        pct(&plain, "target_percent"),
        best_view(&views).1,
        best_view(&views).2
    );

    // hash --views: every frame has its letterbox view; the record is the same.
    let rec = hash(&lb, &["--views=all"]);
    assert_eq!(record_hashes(&rec), record_hashes(&hash(&lb, &[])));
    for p in rec["pdq"].as_array().expect("items") {
        let v = p["views"].as_array().expect("views on each frame");
        assert_eq!(v[0]["view"], "letterbox", "{p}");
        assert_eq!(v[0]["hash"].as_str().map(str::len), Some(64));
        assert!(v[0]["quality"].as_u64().is_some());
    }

    // scan against a list holding the source: views on by default.
    let db = dir.join("t.db");
    run_ok(bin().args(["db", "--db"]).arg(&db).arg("init"));
    run_ok(
        bin()
            .args(["db", "--db"])
            .arg(&db)
            .args(["list-create", "known"]),
    );
    run_ok(
        bin()
            .args(["db", "--db"])
            .arg(&db)
            .args(["add", "known", "--no-digests"])
            .arg(&src),
    );
    // The vPDQ letterbox view, and the TMK+PDQF of the frames inside the
    // bars (`db add` stored the source's TMK too).
    assert_eq!(
        scan_matches(&db, &lb, &[]),
        vec![
            ("letterbox".to_string(), "vpdq".to_string()),
            ("letterbox".to_string(), "tmk_pdqf".to_string())
        ]
    );
    assert!(scan_matches(&db, &lb, &["--views", "none"]).is_empty());
    // (`db add` stored the video's TMK+PDQF too: it hits as well.)
    assert_eq!(
        scan_matches(&db, &src, &[]),
        vec![
            ("original".to_string(), "tmk_pdqf".to_string()),
            ("original".to_string(), "vpdq".to_string())
        ],
        "the original wins; no duplicate by a view"
    );

    // match --file: the same records as scan, views on by default.
    let m = |flags: &[&str]| {
        let out = bin()
            .args(["match", "--db"])
            .arg(&db)
            .arg("--file")
            .arg(&lb)
            .args(flags)
            .output()
            .expect("run hashsieve");
        let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON line"))
            .collect();
        (out.status.code(), lines)
    };
    let (code, lines) = m(&[]);
    assert_eq!(code, Some(1));
    let hits: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| {
            (
                l["view"].as_str().unwrap_or_default(),
                l["signal_type"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        hits,
        [("letterbox", "vpdq"), ("letterbox", "tmk_pdqf")],
        "{lines:?}"
    );
    assert_eq!(m(&["--views", "none"]), (Some(0), Vec::new()));
}
