//! TMK+PDQF's frames from our own decode against the ffmpeg CLI's.
//!
//! Meta's hasher reads its frames from `ffmpeg -i V -s 64:64 -an -f
//! rawvideo -c:v rawvideo -pix_fmt rgb24 -r 15 pipe:1`. We decode once (the
//! decode that feeds vPDQ), pick frames by the CLI's `-r 15` rule
//! (`src/video/rate.rs`) and scale them with libswscale set up as the
//! CLI's scale filter (`src/video/tmk_frames.rs`). Here both routes run on
//! the same files and every 64x64 frame is compared byte for byte: the
//! same count, and the same pixels in the same order (which also proves
//! the same source frames were chosen, duplicates included).
//!
//! Files: the 14 sample videos of `../shared/conformance/vpdq/videos`, and
//! videos made here with the ffmpeg CLI: 25, 60, 23.976 and 29.97 fps
//! (the last in Matroska, whose millisecond timestamps jitter), variable
//! frame rate (dropped frames and irregular timestamps), a late video
//! start beside audio (the CLI's `cfr`) and alone (`vscfr`), MPEG-TS
//! (non-zero start time), a size change mid-stream, rotation metadata,
//! full-range and BT.709-tagged video, 4:4:4, and one- and two-frame
//! videos.

#![cfg(feature = "video")]

use crate::ffmpeg_support;
use crate::fixtures;

use hashsieve::hashing::crypto::MultiDigest;
use hashsieve::hashing::reader::HashingReader;
use hashsieve::record::FileRecord;
use hashsieve::video::VideoOptions;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const FRAME: usize = 64 * 64 * 3;
use crate::fixtures::CONFORMANCE;

/// The reference hasher's frames: its exact ffmpeg command, stdout split
/// into 64x64 rgb24 frames.
fn cli_frames(video: &Path) -> Vec<Vec<u8>> {
    let out = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-hide_banner", "-nostdin", "-i"])
        .arg(video)
        .args(["-s", "64:64", "-an", "-f", "rawvideo", "-c:v", "rawvideo"])
        .args(["-pix_fmt", "rgb24", "-r", "15", "pipe:1"])
        .stdin(Stdio::null())
        .output()
        .expect("run ffmpeg");
    assert!(
        out.status.success(),
        "ffmpeg on {}: {}",
        video.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout.len() % FRAME, 0, "{}", video.display());
    out.stdout.chunks(FRAME).map(<[u8]>::to_vec).collect()
}

/// Our frames, from the decode that hashes the video.
fn our_frames(video: &Path, threads: usize) -> (Vec<Vec<u8>>, FileRecord) {
    let file = std::fs::File::open(video).expect("open video");
    let mut reader = HashingReader::new(file, MultiDigest::new());
    let mut rec = FileRecord::new(video);
    let opts = VideoOptions {
        threads,
        ..VideoOptions::default()
    };
    let frames = hashsieve::video::tmk_frames_into(&mut reader, &mut rec, &opts)
        .unwrap_or_else(|e| panic!("{}: {e}", video.display()));
    (frames, rec)
}

/// Compare both routes on `video`; `Err` describes the first difference.
fn compare(video: &Path) -> Result<usize, String> {
    let cli = cli_frames(video);
    let (ours, rec) = our_frames(video, 1);
    let name = video.file_name().unwrap().to_string_lossy().into_owned();
    if ours.len() != cli.len() {
        return Err(format!(
            "{name}: {} frames from our decode, {} from the ffmpeg CLI",
            ours.len(),
            cli.len()
        ));
    }
    for (i, (a, b)) in ours.iter().zip(&cli).enumerate() {
        if a != b {
            let max = a
                .iter()
                .zip(b)
                .map(|(x, y)| x.abs_diff(*y))
                .max()
                .unwrap_or(0);
            let differ = ours.iter().zip(&cli).filter(|(a, b)| a != b).count();
            return Err(format!(
                "{name}: frame {i} differs (max pixel difference {max}); \
                 {differ} of {} frames differ",
                cli.len()
            ));
        }
    }
    // The record's hash is the hash of these very frames.
    let facts = rec.video.as_ref().expect("video facts");
    assert_eq!(facts.tmk_frames, Some(cli.len() as u64), "{name}");
    assert!(rec.tmk.is_some() || cli.is_empty(), "{name}");
    Ok(cli.len())
}

#[test]
fn sample_videos_give_the_clis_frames_byte_for_byte() {
    let videos = Path::new(CONFORMANCE).join("vpdq/videos");
    if !videos.is_dir() {
        fixtures::missing("../shared/conformance/vpdq/videos not found");
        return;
    }
    if !ffmpeg_support::require_ffmpeg() {
        return;
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&videos)
        .expect("read videos")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "mp4"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 14);
    let mut failures = Vec::new();
    let mut frames = 0;
    for f in &files {
        match compare(f) {
            Ok(n) => frames += n,
            Err(e) => failures.push(e),
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    println!(
        "{} sample videos: {frames} frames, all identical to the ffmpeg CLI's",
        files.len()
    );
}

/// Display matrices (`a b c d` of the track header, 16.16) and the files
/// made with them.
const TURNS: [(&str, [i32; 4]); 5] = [
    ("rot90.mp4", [0, 0x10000, -0x10000, 0]),
    ("rot180.mp4", [-0x10000, 0, 0, -0x10000]),
    ("rot270.mp4", [0, -0x10000, 0x10000, 0]),
    ("hflip.mp4", [-0x10000, 0, 0, 0x10000]),
    ("vflip.mp4", [0x10000, 0, 0, -0x10000]),
];

/// `mp4` with the first track header's matrix set to `m` (the MP4 way of
/// saying "display this turned"; FFmpeg reads it as the stream's display
/// matrix). A version-0 `tkhd` box has its matrix 44 bytes after its name.
fn with_display_matrix(mp4: &[u8], m: [i32; 4]) -> Vec<u8> {
    let at = mp4
        .windows(4)
        .position(|w| w == b"tkhd")
        .expect("a tkhd box")
        + 44;
    let mut out = mp4.to_vec();
    let matrix = [m[0], m[1], 0, m[2], m[3], 0, 0, 0, 0x4000_0000];
    for (i, v) in matrix.iter().enumerate() {
        out[at + 4 * i..at + 4 * i + 4].copy_from_slice(&v.to_be_bytes());
    }
    out
}

/// A lossless-enough test pattern with motion (`testsrc2`), `secs` long.
fn pattern(rate: &str, size: &str, secs: &str) -> String {
    format!("testsrc2=size={size}:rate={rate}:duration={secs}")
}

/// Make the generated videos in `dir`; names and what each exercises.
fn make_videos(dir: &Path) -> Vec<(&'static str, &'static str)> {
    let x264 = [
        "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
    ];
    let gen = |name: &str, input: &[&str], extra: &[&str]| {
        let mut args: Vec<&str> = Vec::new();
        args.extend_from_slice(input);
        args.extend_from_slice(extra);
        args.push(name);
        ffmpeg_support::ffmpeg(dir, &args);
    };
    let lavfi = |src: String| vec!["-f".to_string(), "lavfi".to_string(), "-i".to_string(), src];
    let run = |name: &str, srcs: &[String], extra: &[&str]| {
        let mut input: Vec<String> = Vec::new();
        for s in srcs {
            input.extend(lavfi(s.clone()));
        }
        let input: Vec<&str> = input.iter().map(String::as_str).collect();
        gen(name, &input, extra);
    };
    let mut x = x264.to_vec();
    run("25fps.mp4", &[pattern("25", "160x120", "3")], &x);
    run("60fps.mp4", &[pattern("60", "160x120", "2")], &x);
    run(
        "23.976fps.mp4",
        &[pattern("24000/1001", "160x120", "3")],
        &x,
    );
    run("29.97fps.mkv", &[pattern("30000/1001", "160x120", "3")], &x);
    // Variable frame rate: frames dropped in runs and one by one, the
    // rest kept at their original times, plus jittered timestamps.
    let mut vfr = x.clone();
    vfr.extend_from_slice(&[
        "-vf",
        "select='not(between(n\\,10\\,25))*not(eq(mod(n\\,7)\\,3))',setpts='PTS+0.011*sin(N)/TB'",
        "-fps_mode",
        "vfr",
    ]);
    run("vfr.mp4", &[pattern("30", "160x120", "4")], &vfr);
    run("vfr.mkv", &[pattern("30", "160x120", "4")], &vfr);
    // Audio from 0, video from 1.3 s: the CLI's cfr duplicates the first
    // frame up to its time.
    let mut late = x.clone();
    late.extend_from_slice(&["-c:a", "aac", "-map", "0:v", "-map", "1:a"]);
    gen(
        "late-video-with-audio.mkv",
        &[
            "-itsoffset",
            "1.3",
            "-f",
            "lavfi",
            "-i",
            &pattern("30", "160x120", "2"),
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=3.3",
        ],
        &late,
    );
    // The same video alone, starting at 1.3 s (vscfr; the container's
    // start time is the video's).
    gen(
        "late-video-alone.mkv",
        &[
            "-itsoffset",
            "1.3",
            "-f",
            "lavfi",
            "-i",
            &pattern("30", "160x120", "2"),
        ],
        &x,
    );
    // MPEG-TS: starts at 1.4 s, 90 kHz clock, with audio.
    let mut ts = x.clone();
    ts.extend_from_slice(&["-c:a", "aac"]);
    run(
        "with-audio.ts",
        &[
            pattern("30", "160x120", "2"),
            "sine=frequency=300:duration=2".into(),
        ],
        &ts,
    );
    // 30 fps with audio (cfr rather than vscfr).
    let mut av = x.clone();
    av.extend_from_slice(&["-c:a", "aac", "-shortest"]);
    run(
        "with-audio.mp4",
        &[
            pattern("30", "160x120", "2"),
            "sine=frequency=500:duration=2".into(),
        ],
        &av,
    );
    // Rotation and mirroring (a display matrix in the track header): the
    // CLI turns the frames before scaling.
    run("upright.mp4", &[pattern("30", "176x96", "1")], &x);
    let upright = std::fs::read(dir.join("upright.mp4")).expect("upright.mp4");
    for (name, m) in TURNS {
        std::fs::write(dir.join(name), with_display_matrix(&upright, m)).expect("write");
    }
    // Full range and a BT.709 tag: the scaler's colour details per frame.
    let mut full = x.clone();
    full.truncate(4);
    full.extend_from_slice(&["-pix_fmt", "yuvj420p"]);
    run("full-range.mp4", &[pattern("30", "160x120", "1")], &full);
    let mut bt709 = x.clone();
    bt709.extend_from_slice(&[
        "-colorspace",
        "bt709",
        "-color_primaries",
        "bt709",
        "-color_trc",
        "bt709",
        "-color_range",
        "tv",
    ]);
    run("bt709.mp4", &[pattern("30", "160x120", "1")], &bt709);
    let mut yuv444 = x.clone();
    yuv444.truncate(4);
    yuv444.extend_from_slice(&["-pix_fmt", "yuv444p"]);
    run("yuv444.mp4", &[pattern("30", "160x120", "1")], &yuv444);
    // One frame and two frames.
    x.extend_from_slice(&["-frames:v", "1"]);
    run("one-frame.mp4", &[pattern("30", "160x120", "1")], &x);
    let n = x.len();
    x[n - 1] = "2";
    run("two-frames.mp4", &[pattern("30", "160x120", "1")], &x);
    // A size change mid-stream: two MPEG-TS parts of different sizes, the
    // second's clock continuing the first's, joined byte for byte.
    let y = x264.to_vec();
    run("part1.ts", &[pattern("30", "160x120", "2")], &y);
    let mut p2 = y.clone();
    p2.extend_from_slice(&["-output_ts_offset", "2"]);
    run("part2.ts", &[pattern("30", "128x96", "2")], &p2);
    let mut joined = std::fs::read(dir.join("part1.ts")).expect("part1");
    joined.extend(std::fs::read(dir.join("part2.ts")).expect("part2"));
    std::fs::write(dir.join("size-change.ts"), joined).expect("write size-change.ts");
    vec![
        ("25fps.mp4", "25 fps"),
        ("60fps.mp4", "60 fps"),
        ("23.976fps.mp4", "23.976 fps"),
        ("29.97fps.mkv", "29.97 fps, millisecond timestamps"),
        ("vfr.mp4", "variable frame rate"),
        ("vfr.mkv", "variable frame rate, millisecond timestamps"),
        (
            "late-video-with-audio.mkv",
            "video starting 1.3 s after audio",
        ),
        ("late-video-alone.mkv", "non-zero start time, video only"),
        ("with-audio.ts", "MPEG-TS, non-zero start time"),
        ("with-audio.mp4", "with audio"),
        ("rot90.mp4", "displayed rotated by 90 degrees"),
        ("rot180.mp4", "displayed rotated by 180 degrees"),
        ("rot270.mp4", "displayed rotated by 270 degrees"),
        ("hflip.mp4", "displayed mirrored left-right"),
        ("vflip.mp4", "displayed mirrored top-bottom"),
        ("full-range.mp4", "full range"),
        ("bt709.mp4", "BT.709 tagged"),
        ("yuv444.mp4", "4:4:4"),
        ("one-frame.mp4", "one frame"),
        ("two-frames.mp4", "two frames"),
        ("size-change.ts", "size change mid-stream"),
    ]
}

#[test]
fn generated_videos_give_the_clis_frames_byte_for_byte() {
    if !ffmpeg_support::require_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let videos = make_videos(dir.path());
    // The turned files are turned for the CLI too (the test is not void).
    let upright = cli_frames(&dir.path().join("upright.mp4"));
    for (name, _) in TURNS {
        assert!(cli_frames(&dir.path().join(name)) != upright, "{name}");
    }
    let mut failures = Vec::new();
    for (name, what) in &videos {
        match compare(&dir.path().join(name)) {
            Ok(n) => println!("{name} ({what}): {n} frames identical"),
            Err(e) => failures.push(format!("{what}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn threads_do_not_change_the_frames() {
    let video = Path::new(CONFORMANCE).join("vpdq/videos/chair-19-sd-bar.mp4");
    if !video.is_file() {
        fixtures::missing("../shared/conformance/vpdq/videos not found");
        return;
    }
    let (one, a) = our_frames(&video, 1);
    let (four, b) = our_frames(&video, 4);
    assert!(one == four);
    assert_eq!(a.tmk, b.tmk);
}

#[test]
fn an_odd_display_angle_fails_the_tmk_only() {
    if !ffmpeg_support::require_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    ffmpeg_support::ffmpeg(
        dir.path(),
        &[
            "-f",
            "lavfi",
            "-i",
            &pattern("30", "160x120", "1"),
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "upright.mp4",
        ],
    );
    let upright = std::fs::read(dir.path().join("upright.mp4")).expect("read");
    let tilted = dir.path().join("tilted.mp4");
    // 45 degrees: the CLI would interpolate (its rotate filter).
    std::fs::write(
        &tilted,
        with_display_matrix(&upright, [46341, 46341, -46341, 46341]),
    )
    .expect("write");
    let file = std::fs::File::open(&tilted).expect("open");
    let mut reader = HashingReader::new(file, MultiDigest::new());
    let mut rec = FileRecord::new(&tilted);
    let result = hashsieve::video::hash_video_into(
        &mut reader,
        &mut rec,
        &VideoOptions::default(),
        hashsieve::views::ViewSet::None,
        &mut hashsieve::pdq::PdqHasher::new(),
    );
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(rec.pdq.len(), 1, "vPDQ is unaffected");
    assert!(rec.tmk.is_none());
    let facts = rec.video.expect("facts");
    let e = facts.tmk_error.expect("a TMK error");
    assert!(
        e.contains("rotated by 45 degrees") && e.contains("not reproduced"),
        "{e}"
    );
}
