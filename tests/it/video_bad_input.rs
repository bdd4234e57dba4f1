//! Damaged and hostile videos through the real binary: each file gets its
//! own JSON line with the right error kind, nothing crashes or hangs, and
//! the good files' lines are intact. Fixtures are made with the `ffmpeg`
//! CLI in a temporary folder (the test says it skipped when ffmpeg is
//! missing).

// Needs FFmpeg: the build without the `video` feature is covered by
// tests/video_disabled.rs.
#![cfg(feature = "video")]

use crate::ffmpeg_support;
use ffmpeg_support::ffmpeg;

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// A 5 s, 30 fps test pattern, keyframe every second.
const TESTSRC: [&str; 4] = ["-f", "lavfi", "-i", "testsrc=s=320x240:r=30"];
const X264: [&str; 6] = ["-c:v", "libx264", "-g", "30", "-pix_fmt", "yuv420p"];

fn make_fixtures(dir: &Path) {
    let video = |name: &str, extra: &[&str]| {
        let mut a: Vec<&str> = TESTSRC.to_vec();
        a.extend(["-t", "5"]);
        a.extend(X264);
        a.extend(extra);
        a.push(name);
        ffmpeg(dir, &a);
    };
    video("good.mp4", &[]);
    video("faststart.mp4", &["-movflags", "+faststart"]);
    video("good.ts", &[]);
    video("good.mkv", &[]);
    ffmpeg(
        dir,
        &[
            "-f",
            "lavfi",
            "-i",
            "sine=d=2",
            "-c:a",
            "aac",
            "audio-only.mp4",
        ],
    );
    // A video track whose every frame lies outside the presentation (the
    // edit list starts after the end): a video with zero frames to show.
    ffmpeg(
        dir,
        &[
            "-ss",
            "100",
            "-i",
            "good.mkv",
            "-c",
            "copy",
            "zero-frames.mp4",
        ],
    );
    ffmpeg(
        dir,
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=s=320x256:r=30",
            "-frames:v",
            "2",
            "-c:v",
            "rawvideo",
            "-pix_fmt",
            "gray",
            "raw.mkv",
        ],
    );
    ffmpeg(
        dir,
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=s=64x64",
            "-frames:v",
            "1",
            "image.png",
        ],
    );

    let read = |n: &str| std::fs::read(dir.join(n)).expect("fixture");
    let write = |n: &str, d: &[u8]| std::fs::write(dir.join(n), d).expect("write fixture");

    // Index first, data cut at 60 %.
    let d = read("faststart.mp4");
    write("truncated.mp4", &d[..d.len() * 6 / 10]);
    // Index (moov) last: cut it off.
    let d = read("good.mp4");
    let moov = d.windows(4).rposition(|w| w == b"moov").expect("moov") - 4;
    write("no-moov.mp4", &d[..moov]);
    // Garbage over 20 % of the packets in the middle of a transport stream.
    let mut d = read("good.ts");
    let n = d.len();
    let mut k = n * 4 / 10;
    while k < n * 6 / 10 {
        d[k..k + 50].fill(0);
        k += 1000;
    }
    write("corrupt-middle.ts", &d);
    // Matroska declaring 12000x12000 frames (its PixelWidth/PixelHeight).
    let mut d = read("raw.mkv");
    for (id, old) in [(0xB0u8, 320u16), (0xBA, 256)] {
        let pat = [id, 0x82, (old >> 8) as u8, old as u8];
        let i = d
            .windows(4)
            .position(|w| w == pat)
            .expect("dimension element");
        d[i + 2..i + 4].copy_from_slice(&12000u16.to_be_bytes());
    }
    write("absurd-size.mkv", &d);
    // Random bytes with a video's name.
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let noise: Vec<u8> = (0..200_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    write("random.mp4", &noise);
}

fn hash(dir: &Path, flags: &[&str], files: &[&str]) -> (Option<i32>, BTreeMap<String, Value>) {
    let out = Command::new(env!("CARGO_BIN_EXE_hashsieve"))
        .current_dir(dir)
        .arg("hash")
        .args(flags)
        .args(files)
        .output()
        .expect("run hashsieve");
    let mut recs = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let v: Value = serde_json::from_str(line).expect("every line is JSON");
        let path = v["path"].as_str().expect("path").to_string();
        assert!(
            recs.insert(path.clone(), v).is_none(),
            "two lines for {path}"
        );
    }
    (out.status.code(), recs)
}

fn kind(v: &Value) -> &str {
    v["error"]["kind"].as_str().unwrap_or("none")
}

#[test]
fn every_bad_video_gets_its_own_error_line() {
    if !ffmpeg_support::require_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    make_fixtures(dir.path());
    let files = [
        "good.mp4",
        "truncated.mp4",
        "no-moov.mp4",
        "audio-only.mp4",
        "zero-frames.mp4",
        "corrupt-middle.ts",
        "absurd-size.mkv",
        "random.mp4",
        "image.png",
        "good.mkv",
    ];
    let (code, recs) = hash(dir.path(), &[], &files);
    for f in files {
        let v = &recs[f];
        println!(
            "{f:<20} {:<12} {}",
            kind(v),
            v["error"]["message"].as_str().unwrap_or("")
        );
    }
    assert_eq!(recs.len(), files.len(), "one line per file");
    assert_eq!(code, Some(2), "errors set the exit code");

    for good in ["good.mp4", "good.mkv"] {
        let v = &recs[good];
        assert_eq!(kind(v), "none", "{v}");
        assert_eq!(v["pdq"].as_array().unwrap().len(), 5, "one hash a second");
        assert_eq!(v["video"]["frames_lost"], 0);
        assert!(v["md5"].is_string());
    }
    assert_eq!(kind(&recs["image.png"]), "none");
    assert_eq!(recs["image.png"]["media"], "image");

    let t = &recs["truncated.mp4"];
    assert_eq!(kind(t), "decode");
    assert!(
        t["error"]["message"]
            .as_str()
            .unwrap()
            .contains("truncated"),
        "{t}"
    );
    assert!(t["video"]["frames_lost"].as_u64().unwrap() > 0);
    assert!(
        !t["pdq"].as_array().unwrap().is_empty(),
        "frames before the cut are kept"
    );

    assert_eq!(kind(&recs["no-moov.mp4"]), "decode");
    assert!(
        recs["no-moov.mp4"]["md5"].is_string(),
        "digests even when undecodable"
    );
    assert_eq!(kind(&recs["audio-only.mp4"]), "unsupported");
    assert_eq!(kind(&recs["zero-frames.mp4"]), "decode");
    assert!(recs["zero-frames.mp4"]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no video frame"));
    assert_eq!(kind(&recs["absurd-size.mkv"]), "limit");
    assert_eq!(kind(&recs["random.mp4"]), "decode");

    // Damage in the middle: decoding goes on to the end, losses counted.
    let c = &recs["corrupt-middle.ts"];
    assert_eq!(kind(c), "none", "{c}");
    assert!(c["video"]["frames_lost"].as_u64().unwrap() > 0, "{c}");
    let last = c["pdq"].as_array().unwrap().last().unwrap()["timestamp"]
        .as_f64()
        .unwrap();
    assert!(
        last >= 4.0,
        "hashed frames after the damage: last at {last}"
    );
}

#[test]
fn wall_clock_and_duration_limits_stop_a_video() {
    if !ffmpeg_support::require_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut a: Vec<&str> = TESTSRC.to_vec();
    a.extend(["-t", "5"]);
    a.extend(X264);
    a.push("v.mp4");
    ffmpeg(dir.path(), &a);
    ffmpeg(
        dir.path(),
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=s=64x64",
            "-frames:v",
            "1",
            "i.png",
        ],
    );

    let (_, recs) = hash(
        dir.path(),
        &["--video-timeout", "0.000001"],
        &["v.mp4", "i.png"],
    );
    assert_eq!(kind(&recs["v.mp4"]), "timeout", "{}", recs["v.mp4"]);
    assert_eq!(kind(&recs["i.png"]), "none");

    let (_, recs) = hash(dir.path(), &["--max-duration", "2"], &["v.mp4"]);
    assert_eq!(kind(&recs["v.mp4"]), "limit", "{}", recs["v.mp4"]);

    let (_, recs) = hash(dir.path(), &["--max-frame-pixels", "1000"], &["v.mp4"]);
    assert_eq!(kind(&recs["v.mp4"]), "limit", "{}", recs["v.mp4"]);

    let (code, recs) = hash(dir.path(), &["--max-duration", "60"], &["v.mp4"]);
    assert_eq!(kind(&recs["v.mp4"]), "none");
    assert_eq!(code, Some(0));
}

#[test]
fn one_and_two_threads_hash_the_same() {
    if !ffmpeg_support::require_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut a: Vec<&str> = TESTSRC.to_vec();
    a.extend(["-t", "5"]);
    a.extend(X264);
    a.push("v.mp4");
    ffmpeg(dir.path(), &a);
    let (_, one) = hash(dir.path(), &["--video-threads", "1"], &["v.mp4"]);
    let (_, two) = hash(dir.path(), &["--video-threads", "2"], &["v.mp4"]);
    assert_eq!(one["v.mp4"]["pdq"], two["v.mp4"]["pdq"]);
    assert_eq!(one["v.mp4"]["pdq"].as_array().unwrap().len(), 5);
}
