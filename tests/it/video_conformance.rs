//! vPDQ conformance: `hashsieve hash` on Meta's sample videos against the
//! reference outputs in `../shared/conformance/vpdq/` (never copied here).
//!
//! Enforced per video: the same number of hashed frames, the same frame
//! numbers and timestamps (as the reference prints them, 3 decimals), and a
//! PDQ distance <= 10 on every frame whose reference quality is >= 80
//! (Meta's bar for a new implementation). A table is printed (run with
//! `--nocapture` to see it).

// Needs FFmpeg: the build without the `video` feature is covered by
// tests/video_disabled.rs.
#![cfg(feature = "video")]

use crate::fixtures;
use hashdb::formats::{self, Format};
use hashdb::vpdq::VpdqFrame;
use hashdb::Pdq;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn vpdq_dir() -> Option<PathBuf> {
    fixtures::conformance(&["vpdq/videos"]).map(|d| d.join("vpdq"))
}

use fixtures::vpdq_reference as reference;

/// Hash every video in `dir` with `flags`; frames by file stem.
fn ours(dir: &Path, flags: &[&str]) -> BTreeMap<String, Vec<VpdqFrame>> {
    let out = Command::new(env!("CARGO_BIN_EXE_hashsieve"))
        .arg("hash")
        .args(flags)
        .arg(dir)
        .output()
        .expect("run hashsieve");
    assert!(
        out.status.success(),
        "hashsieve hash failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut all = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("JSON line");
        assert_eq!(v["media"], "video", "{line}");
        assert!(v["error"].is_null(), "{line}");
        let path = PathBuf::from(v["path"].as_str().expect("path"));
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let frames = v["pdq"]
            .as_array()
            .expect("pdq")
            .iter()
            .map(|p| VpdqFrame {
                frame: p["frame"].as_u64().expect("frame"),
                hash: p["hash"].as_str().unwrap().parse::<Pdq>().expect("hash"),
                quality: p["quality"].as_u64().unwrap() as u8,
                timestamp: p["timestamp"].as_f64().expect("timestamp"),
            })
            .collect();
        all.insert(stem, frames);
    }
    all
}

/// Check one mode: the reference's frames and timestamps, and the hash of
/// every frame whose reference quality is at least `min_quality` within
/// `max_distance` of the reference's (the bounds the README states).
/// Returns the failures.
fn check(
    mode: &str,
    refs: &Path,
    ours: &BTreeMap<String, Vec<VpdqFrame>>,
    min_quality: u8,
    max_distance: u32,
) -> Vec<String> {
    let mut failures = Vec::new();
    println!("\n{mode}: reference {}", refs.display());
    println!(
        "{:<36} {:>7} {:>7} {:>8} {:>9} {:>9}",
        "video", "frames", "ref", "compared", "max dist", "mean dist"
    );
    let mut names: Vec<_> = std::fs::read_dir(refs)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    names.sort();
    let mut checked = 0;
    for r in names {
        let stem = r.file_stem().unwrap().to_string_lossy().into_owned();
        let Some(got) = ours.get(&stem) else {
            // reference-hashes also lists renditions we have no video for.
            continue;
        };
        checked += 1;
        let want = reference(&r);
        if got.len() != want.len() {
            failures.push(format!(
                "{mode} {stem}: {} frames, reference {}",
                got.len(),
                want.len()
            ));
        }
        let (mut max, mut sum, mut n) = (0u32, 0u64, 0u64);
        for (g, w) in got.iter().zip(&want) {
            if g.frame != w.frame {
                failures.push(format!(
                    "{mode} {stem}: frame {} where the reference has {}",
                    g.frame, w.frame
                ));
                break;
            }
            let (gt, wt) = (format!("{:.3}", g.timestamp), format!("{:.3}", w.timestamp));
            if gt != wt {
                failures.push(format!(
                    "{mode} {stem} frame {}: timestamp {gt}, reference {wt}",
                    g.frame
                ));
            }
            if w.quality < min_quality {
                continue;
            }
            let d = g.hash.distance(&w.hash);
            max = max.max(d);
            sum += u64::from(d);
            n += 1;
            if d > max_distance {
                failures.push(format!(
                    "{mode} {stem} frame {} (quality {}): distance {d} > {max_distance}",
                    g.frame, w.quality
                ));
            }
        }
        let mean = if n == 0 { 0.0 } else { sum as f64 / n as f64 };
        println!(
            "{stem:<36} {:>7} {:>7} {n:>8} {max:>9} {mean:>9.3}",
            got.len(),
            want.len()
        );
    }
    if checked != ours.len() {
        failures.push(format!(
            "{mode}: {} videos but {checked} reference files",
            ours.len()
        ));
    }
    failures
}

#[test]
fn one_hash_per_second_matches_the_reference() {
    let Some(d) = vpdq_dir() else { return };
    let got = ours(&d.join("videos"), &[]);
    assert_eq!(got.len(), 14, "expected the 14 sample videos");
    // README: "distance 0 on every frame", whatever its quality.
    let failures = check(
        "--seconds-per-hash 1",
        &d.join("reference-1fps"),
        &got,
        0,
        0,
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_frame_matches_the_reference() {
    let Some(d) = vpdq_dir() else { return };
    let got = ours(&d.join("videos"), &["--every-frame"]);
    // README: "max distance 6" on frames of quality >= 80 (near-uniform
    // frames, as in a fade to black, move further between FFmpeg builds).
    let failures = check("--every-frame", &d.join("reference-hashes"), &got, 80, 6);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn vpdq_text_output_is_the_reference_format() {
    let Some(d) = vpdq_dir() else { return };
    let video = d.join("videos/pattern-hd-no-bar.mp4");
    let out = Command::new(env!("CARGO_BIN_EXE_hashsieve"))
        .args(["hash", "--format", "vpdq"])
        .arg(&video)
        .output()
        .expect("run hashsieve");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    let want = std::fs::read_to_string(d.join("reference-1fps/pattern-hd-no-bar.txt")).unwrap();
    // Same shape line by line: frame and timestamp text identical, hashes
    // within the bar, quality an integer.
    let (g, w): (Vec<&str>, Vec<&str>) = (text.lines().collect(), want.lines().collect());
    assert_eq!(g.len(), w.len());
    for (gl, wl) in g.iter().zip(&w) {
        let gf: Vec<&str> = gl.split(',').collect();
        let wf: Vec<&str> = wl.split(',').collect();
        assert_eq!(gf.len(), 4, "{gl}");
        assert_eq!((gf[0], gf[3]), (wf[0], wf[3]), "{gl} vs {wl}");
        assert!(gf[1].parse::<u8>().is_ok(), "{gl}");
        let dist = gf[2]
            .parse::<Pdq>()
            .unwrap()
            .distance(&wf[2].parse::<Pdq>().unwrap());
        assert!(dist <= 10, "{gl} vs {wl}");
    }
    // And hashdb's reader takes it back.
    let mut recs = formats::read(Format::Vpdq, text.as_bytes()).unwrap();
    assert!(matches!(recs.next(), Some(Ok(_))));
}
