//! TMK+PDQF bad input through the real binary: each bad item gets a clear
//! error of its own and nothing else is lost (the other files of the run,
//! the item's other hashes).
//!
//! Videos: audio only (no video stream), a corrupt file, a one-frame video
//! (shorter than one 15 fps frame: the ffmpeg CLI still writes that frame,
//! so it is a one-frame hash, as Meta's route gives it), a stream whose
//! size changes mid-way (the CLI rescales each size to 64x64: hashed, the
//! same frames as the CLI's, see tests/tmk_frames.rs). `.tmk` files:
//! truncated, trailing bytes, wrong magic, version, frame rate, periods,
//! coefficient, NaN and infinite values: each named by `match --tmk`,
//! `compare` and `db import`, and skipped alone by `db import
//! --skip-invalid`.

use crate::ffmpeg_support;
use crate::fixtures;

use std::path::PathBuf;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_hashsieve");

fn run(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("HASHSIEVE_DB")
        .output()
        .expect("run hashsieve")
}

fn os(s: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(s)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn reference() -> Option<PathBuf> {
    const TMK: &str = "tmk/reference-tmk/chair-19-sd-bar.tmk";
    fixtures::conformance(&[TMK]).map(|c| c.join(TMK))
}

#[test]
fn bad_videos_get_their_own_error_and_the_rest_is_kept() {
    if !ffmpeg_support::require_ffmpeg() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let gen = |args: &[&str]| ffmpeg_support::ffmpeg(dir, args);
    gen(&[
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:duration=1",
        "audio.m4a",
    ]);
    gen(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x120:rate=30:duration=1",
        "-frames:v",
        "1",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        "one-frame.mp4",
    ]);
    gen(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x120:rate=30:duration=2",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        "good.mp4",
    ]);
    let mut corrupt = std::fs::read(dir.join("good.mp4")).expect("read");
    let n = corrupt.len();
    corrupt[n / 3..]
        .iter_mut()
        .for_each(|b| *b = b.wrapping_mul(31) ^ 0x5a);
    std::fs::write(dir.join("corrupt.mp4"), &corrupt).expect("write");
    let out = dir.join("out");
    let paths = ["audio.m4a", "one-frame.mp4", "good.mp4", "corrupt.mp4"].map(|n| dir.join(n));
    let mut args = vec![
        os("hash"),
        os("--format"),
        os("tmk"),
        os("--output-dir"),
        out.as_os_str(),
    ];
    args.extend(paths.iter().map(|p| p.as_os_str()));
    let o = run(&args);
    assert_eq!(o.status.code(), Some(2), "items failed: {}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("audio.m4a") && err.contains("no video stream"),
        "{err}"
    );
    let written = String::from_utf8_lossy(&o.stdout);
    assert!(
        written.contains("good.tmk") && written.contains("one-frame.tmk"),
        "{written}"
    );
    // One frame: a one-frame hash, as the ffmpeg CLI's frames give it.
    let one = hashdb::tmk::TmkHash::from_bytes(&std::fs::read(out.join("one-frame.tmk")).unwrap())
        .expect("reads");
    assert_eq!(one.frame_count(), 1);
    // The JSON records say why a video has no TMK, beside its other hashes.
    let o = run(&[
        os("hash"),
        paths[0].as_os_str(),
        paths[3].as_os_str(),
        paths[2].as_os_str(),
    ]);
    let recs: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert_eq!(recs[0]["error"]["kind"], "unsupported", "{}", recs[0]);
    assert!(recs[0]["sha256"].is_string(), "digests kept");
    assert!(recs[1]["sha256"].is_string(), "digests kept");
    assert_eq!(recs[2]["video"]["tmk_frames"], 32, "{}", recs[2]);
    // Comparing an audio file by TMK+PDQF: an error naming it.
    if let Some(r) = reference() {
        let o = run(&[os("compare"), paths[0].as_os_str(), r.as_os_str()]);
        assert_eq!(o.status.code(), Some(2));
        assert!(stderr(&o).contains("audio.m4a"), "{}", stderr(&o));
    }
}

fn put(b: &mut [u8], at: usize, v: [u8; 4]) {
    b[at..at + 4].copy_from_slice(&v);
}

#[test]
fn damaged_tmk_files_are_each_named_with_their_fault() {
    let Some(good_path) = reference() else { return };
    let good = std::fs::read(&good_path).expect("read");
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("in");
    std::fs::create_dir(&dir).expect("mkdir");
    let variants: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated", good[..100_000].to_vec(), "truncated"),
        (
            "trailing",
            [&good[..], b"xx"].concat(),
            "data after the hash",
        ),
        (
            "magic",
            {
                let mut b = good.clone();
                put(&mut b, 0, *b"RIFF");
                b
            },
            "not a TMK file",
        ),
        (
            "version",
            {
                let mut b = good.clone();
                put(&mut b, 0, *b"TMK2");
                b
            },
            "version",
        ),
        (
            "fps",
            {
                let mut b = good.clone();
                put(&mut b, 12, 25i32.to_le_bytes());
                b
            },
            "frame rate 25",
        ),
        (
            "periods",
            {
                let mut b = good.clone();
                put(&mut b, 32, 2732i32.to_le_bytes());
                b
            },
            "periods",
        ),
        (
            "coefficient",
            {
                let mut b = good.clone();
                put(&mut b, 48, 0.5f32.to_le_bytes());
                b
            },
            "coefficient",
        ),
        (
            "nan",
            {
                let mut b = good.clone();
                put(&mut b, 176, f32::NAN.to_le_bytes());
                b
            },
            "not finite",
        ),
        (
            "inf",
            {
                let mut b = good.clone();
                put(&mut b, 1200, f32::INFINITY.to_le_bytes());
                b
            },
            "not finite",
        ),
    ];
    for (name, bytes, _) in &variants {
        std::fs::write(dir.join(format!("{name}.tmk")), bytes).expect("write");
    }
    std::fs::write(dir.join("good.tmk"), &good).expect("write");
    for (name, _, fault) in &variants {
        let p = dir.join(format!("{name}.tmk"));
        let o = run(&[os("compare"), p.as_os_str(), good_path.as_os_str()]);
        assert_eq!(o.status.code(), Some(2), "{name}");
        assert!(stderr(&o).contains(fault), "{name}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(&format!("{name}.tmk")),
            "{name}: {}",
            stderr(&o)
        );
    }
    let db = tmp.path().join("h.db");
    let o = run(&[
        os("db"),
        os("list-create"),
        os("l"),
        os("--db"),
        db.as_os_str(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    for (name, _, fault) in &variants {
        let p = dir.join(format!("{name}.tmk"));
        let o = run(&[
            os("match"),
            os("--tmk"),
            p.as_os_str(),
            os("--db"),
            db.as_os_str(),
        ]);
        assert_eq!(o.status.code(), Some(2), "{name}");
        assert!(stderr(&o).contains(fault), "{name}: {}", stderr(&o));
    }
    // A folder: every bad file named, the good one imported alone.
    let o = run(&[
        os("db"),
        os("import"),
        os("l"),
        dir.as_os_str(),
        os("--skip-invalid"),
        os("--db"),
        db.as_os_str(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let sum: serde_json::Value =
        serde_json::from_slice(o.stdout.split(|&b| b == b'\n').next().unwrap()).expect("JSON");
    assert_eq!(
        (sum["added"].as_u64(), sum["skipped"].as_u64()),
        (Some(1), Some(9)),
        "{sum}"
    );
    let err = stderr(&o);
    for (name, _, fault) in &variants {
        assert!(
            err.lines()
                .any(|l| l.contains(&format!("{name}.tmk")) && l.contains(fault)),
            "{name}: {err}"
        );
    }
}
