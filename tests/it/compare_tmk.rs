//! `hashsieve compare A.tmk B.tmk`: TMK+PDQF scores through the real
//! binary. Synthetic hashes (made here by the library) check the verdict,
//! thresholds and errors without outside files; with
//! `../shared/conformance/tmk` present, the printed scores are the
//! reference's own for a few pairs of its CSV.

use crate::compare_support;
use crate::fixtures;

use compare_support::compare_json;
use hashsieve::tmk::{hash_rgb24_stream, FRAME_BYTES};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A .tmk of `frames` synthetic 64x64 frames (a pattern moving with `seed`).
fn write_tmk(dir: &Path, name: &str, seed: usize, frames: usize) -> PathBuf {
    let mut raw = Vec::with_capacity(frames * FRAME_BYTES);
    for t in 0..frames {
        for i in 0..FRAME_BYTES / 3 {
            let (x, y) = (i % 64, i / 64);
            let v = ((x * (3 + seed) + y * (5 + 2 * seed) + t * 7 * (seed + 1)) % 256) as u8;
            raw.extend_from_slice(&[v, v / 3, 255 - v]);
        }
    }
    let hash = hash_rgb24_stream(&raw[..]).expect("synthetic frames");
    let path = dir.join(format!("{name}.tmk"));
    std::fs::write(&path, hash.to_bytes()).expect("write .tmk");
    path
}

fn compare(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_hashsieve"))
        .arg("compare")
        .args(args)
        .output()
        .expect("run hashsieve")
}

#[test]
fn a_tmk_matches_itself_and_not_another_video() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = write_tmk(dir.path(), "a", 0, 40);
    let b = write_tmk(dir.path(), "b", 5, 40);
    let same = compare_json(&a, &a, &[]);
    assert_eq!(same["kind"], "tmk");
    assert_eq!(same["match"], true);
    assert_eq!(same["frames_a"], 40);
    let l1 = same["level1"].as_f64().expect("level1");
    let l2 = same["level2"].as_f64().expect("level2");
    assert!((l1 - 1.0).abs() < 1e-5 && (l2 - 1.0).abs() < 1e-4, "{same}");
    let other = compare_json(&a, &b, &[]);
    assert_eq!(other["match"], false, "{other}");
    // Thresholds above what any pair can reach: no match, exit 0.
    let strict = compare_json(&a, &a, &["--tmk-level1", "1.5"]);
    assert_eq!(strict["match"], false, "{strict}");
    // The text report names both scores and the verdict.
    let out = compare(&[a.as_os_str(), a.as_os_str()]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("level-1") && text.contains("match: yes"),
        "{text}"
    );
}

#[test]
fn a_damaged_or_lone_tmk_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = write_tmk(dir.path(), "a", 0, 10);
    let mut bytes = std::fs::read(&a).expect("read");
    bytes.truncate(1000);
    let cut = dir.path().join("cut.tmk");
    std::fs::write(&cut, &bytes).expect("write");
    let out = compare(&[a.as_os_str(), cut.as_os_str()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("truncated TMK file"), "{err}");

    let text = dir.path().join("hashes.txt");
    std::fs::write(&text, "not a hash\n").expect("write");
    let out = compare(&[a.as_os_str(), text.as_os_str()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("neither a video nor a .tmk file"), "{err}");
}

#[test]
fn scores_are_the_references() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/tmk");
    if !dir.join("reference-pairs.csv").is_file() {
        fixtures::missing("../shared/conformance/tmk not found");
        return;
    }
    let csv = std::fs::read_to_string(dir.join("reference-pairs.csv")).expect("csv");
    // A match, a near miss and a clear non-match of the reference's list.
    let wanted = [
        ("chair-orig-22-fhd-no-bar", "chair-orig-22-sd-bar"),
        ("chair-22-with-small-logo-bar", "chair-orig-22-hd-no-bar"),
        ("chair-19-sd-bar", "pattern-hd-no-bar"),
    ];
    for (a, b) in wanted {
        let row: Vec<&str> = csv
            .lines()
            .find(|l| l.starts_with(&format!("{a},{b},")))
            .unwrap_or_else(|| panic!("{a},{b} not in the CSV"))
            .split(',')
            .collect();
        let path = |n: &str| dir.join("reference-tmk").join(format!("{n}.tmk"));
        let v = compare_json(&path(a), &path(b), &[]);
        // JSON numbers print the float32 shortest; as f32 they are the
        // reference's exact values.
        let got1 = v["level1"].as_f64().expect("level1") as f32;
        let got2 = v["level2"].as_f64().expect("level2") as f32;
        assert_eq!(got1, row[2].parse::<f32>().expect("csv level1"), "{a} {b}");
        assert_eq!(got2, row[3].parse::<f32>().expect("csv level2"), "{a} {b}");
        assert_eq!(v["match"] == true, row[4] == "true", "{a} {b}");
    }
}

/// `../shared/conformance`'s sample videos and reference hashes, or `None`.
fn samples() -> Option<(PathBuf, PathBuf)> {
    let (videos, tmk) = ("vpdq/videos", "tmk/reference-tmk-ffmpeg5");
    fixtures::conformance(&[videos, tmk]).map(|root| (root.join(videos), root.join(tmk)))
}

#[test]
fn videos_compare_with_tmk_files_and_with_each_other() {
    let Some((videos, refs)) = samples() else {
        return;
    };
    let video = videos.join("chair-20-sd-bar.mp4");
    // A video against Meta's .tmk of it: TMK+PDQF, the same hash.
    let v = compare_json(&video, &refs.join("chair-20-sd-bar.tmk"), &[]);
    assert_eq!(v["kind"], "tmk", "{v}");
    assert_eq!(v["match"], true, "{v}");
    assert!(v["level1"].as_f64().unwrap() >= 0.99999, "{v}");
    assert!(v["level2"].as_f64().unwrap() >= 0.99999, "{v}");
    // ... and against another video's: the reference's verdict (no match).
    let v = compare_json(&refs.join("pattern-hd-no-bar.tmk"), &video, &[]);
    assert_eq!(
        (v["kind"].as_str(), v["match"].as_bool()),
        (Some("tmk"), Some(false))
    );
    // Two videos: the vPDQ verdict, with TMK+PDQF beside it.
    let other = videos.join("chair-22-sd-grey-bar.mp4");
    let v = compare_json(&video, &other, &[]);
    assert_eq!(v["kind"], "vpdq", "{v}");
    assert_eq!(v["tmk"]["match"], true, "{v}");
    assert!(v["tmk"]["level1"].as_f64().unwrap() > 0.7, "{v}");
    // --tmk: judged by TMK+PDQF alone.
    let t = compare_json(&video, &other, &["--tmk"]);
    assert_eq!(t["kind"], "tmk", "{t}");
    assert_eq!(t["level1"], v["tmk"]["level1"]);
    assert_eq!(t["level2"], v["tmk"]["level2"]);
}

#[test]
fn hash_writes_one_tmk_per_video_as_metas_tools_write_it() {
    let Some((videos, refs)) = samples() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let out_dir = dir.path().join("out");
    // Two videos, one of them twice (under another folder: same name), and
    // a file that is not a video.
    let sub = dir.path().join("again");
    std::fs::create_dir(&sub).expect("mkdir");
    let a = videos.join("doorknob-hd-no-bar.mp4");
    let b = videos.join("pattern-sd-grey-bar.mp4");
    let again = sub.join("doorknob-hd-no-bar.mp4");
    std::fs::copy(&a, &again).expect("copy");
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "hello\n").expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_hashsieve"))
        .args(["hash", "--format", "tmk", "--output-dir"])
        .arg(&out_dir)
        .args([&a, &b, &again, &text])
        .output()
        .expect("run hashsieve");
    assert_eq!(out.status.code(), Some(2), "an item failed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let listed: Vec<&str> = stdout.lines().collect();
    assert_eq!(listed.len(), 2, "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("already written"), "{stderr}");
    assert!(stderr.contains("notes.txt: not a video"), "{stderr}");
    for name in ["doorknob-hd-no-bar", "pattern-sd-grey-bar"] {
        let ours = std::fs::read(out_dir.join(format!("{name}.tmk"))).expect("written");
        let theirs = std::fs::read(refs.join(format!("{name}.tmk"))).expect("reference");
        assert!(ours == theirs, "{name}: not byte-identical to Meta's file");
    }
    let names: Vec<_> = std::fs::read_dir(&out_dir)
        .expect("read out")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names.len(), 2, "no temporary file left: {names:?}");
    // --format tmk needs a folder, and a folder needs --format tmk.
    let out = Command::new(env!("CARGO_BIN_EXE_hashsieve"))
        .args(["hash", "--format", "tmk"])
        .arg(&a)
        .output()
        .expect("run hashsieve");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--output-dir"));
}
