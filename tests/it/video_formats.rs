//! Containers and codecs beyond MP4/H.264: each is sniffed as a video from
//! its content (the names carry no extension) and hashed once a second.
//! Fixtures are made with the `ffmpeg` CLI in a temporary folder; a codec
//! this ffmpeg build cannot encode is reported and skipped.

// Needs FFmpeg: see tests/video_disabled.rs for the build without it.
#![cfg(feature = "video")]

use crate::fixtures;
use std::path::Path;
use std::process::Command;

fn encode(dir: &Path, name: &str, args: &[&str]) -> bool {
    let out = Command::new("ffmpeg")
        .current_dir(dir)
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc=s=160x120:r=10",
            "-t",
            "3",
        ])
        .args(args)
        .arg(name)
        .output();
    match out {
        Ok(o) if o.status.success() => true,
        Ok(o) => {
            println!(
                "skipped {name}: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            );
            false
        }
        Err(e) => {
            println!("skipped {name}: {e}");
            false
        }
    }
}

#[test]
fn common_containers_and_codecs_are_hashed() {
    if !crate::ffmpeg_support::require_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let cases: &[(&str, &[&str])] = &[
        ("webm-vp9", &["-c:v", "libvpx-vp9", "-f", "webm"]),
        ("webm-vp8", &["-c:v", "libvpx", "-f", "webm"]),
        ("avi-mpeg4", &["-c:v", "mpeg4", "-f", "avi"]),
        ("flv-h264", &["-c:v", "libx264", "-f", "flv"]),
        ("mov-h264", &["-c:v", "libx264", "-f", "mov"]),
        ("mkv-hevc", &["-c:v", "libx265", "-f", "matroska"]),
        (
            "mkv-av1",
            &["-c:v", "libaom-av1", "-cpu-used", "8", "-f", "matroska"],
        ),
        ("ts-mpeg2", &["-c:v", "mpeg2video", "-f", "mpegts"]),
    ];
    let mut made = Vec::new();
    for (name, args) in cases {
        if encode(dir.path(), name, args) {
            made.push(*name);
        }
    }
    // Debian's ffmpeg (what CI installs) has every one of these encoders:
    // there, a case that cannot be made is a failure, not a smaller test.
    if fixtures::required() {
        assert_eq!(
            made.len(),
            cases.len(),
            "encoders missing: made only {made:?}"
        );
    }
    assert!(made.len() >= 4, "too few encoders available: {made:?}");
    let out = Command::new(env!("CARGO_BIN_EXE_hashsieve"))
        .current_dir(dir.path())
        .arg("hash")
        .args(&made)
        .output()
        .expect("run hashsieve");
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), made.len());
    for (name, line) in made.iter().zip(lines) {
        let v: serde_json::Value = serde_json::from_str(line).expect("JSON");
        println!(
            "{name:<10} media {} codec {} frames {} hashes {}",
            v["media"],
            v["video"]["codec"],
            v["video"]["frames_decoded"],
            v["pdq"].as_array().map_or(0, |a| a.len())
        );
        assert_eq!(v["path"], *name);
        assert_eq!(v["media"], "video", "{line}");
        assert!(
            !v["video"]["codec"].as_str().unwrap().starts_with("lib"),
            "codec, not decoder, name"
        );
        assert!(v["error"].is_null(), "{line}");
        assert_eq!(v["width"], 160);
        assert_eq!(v["height"], 120);
        let frames: Vec<u64> = v["pdq"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["frame"].as_u64().unwrap())
            .collect();
        assert_eq!(
            frames,
            vec![0, 10, 20],
            "{name}: one hash a second at 10 fps"
        );
    }
}
