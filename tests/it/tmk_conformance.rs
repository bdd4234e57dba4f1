//! TMK+PDQF conformance against Meta's reference outputs in
//! `../shared/conformance/tmk` (never copied here; see its README).
//!
//! * Every reference `.tmk` reads and writes back byte for byte.
//! * Level-1 and level-2 of every pair in `reference-pairs*.csv` are
//!   within 1e-5 of the reference's float32 scores (the figures reached
//!   are printed: `--nocapture`), and the 0.7/0.7 verdict is identical.
//! * Damaged copies of a reference file give their own typed error.
//! * Hashing: each sample video of `../shared/conformance/vpdq/videos`,
//!   piped out of the `ffmpeg` CLI with the reference's own arguments (the
//!   test runs `ffmpeg` itself: that is the reference route, used here
//!   only), gives `reference-tmk-ffmpeg5/NAME.tmk`: header, frame count,
//!   periods and coefficients identical, features within the README's
//!   tolerances, level-1 and level-2 against the reference >= 0.99999
//!   (the figures reached are printed).

use crate::ffmpeg_support;
use crate::fixtures;

use hashdb::tmk::{
    scores, Feature, Section, TmkFileError, TmkHash, TmkThresholds, FILE_SIZE, NUM_COEFFICIENTS,
    NUM_PERIODS,
};
use hashsieve::tmk::hash_rgb24_stream;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::fixtures::CONFORMANCE;

/// `../shared/conformance/tmk`, or `None` (skipped locally, a failure in CI).
fn tmk_dir() -> Option<PathBuf> {
    let d = Path::new(CONFORMANCE).join("tmk");
    if d.join("reference-tmk").is_dir() {
        Some(d)
    } else {
        fixtures::missing("../shared/conformance/tmk not found");
        None
    }
}

/// Every `.tmk` of a folder: name (without `.tmk`) -> file bytes.
fn tmk_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = e.expect("dir entry").path();
        if path.extension().is_some_and(|x| x == "tmk") {
            let name = path
                .file_stem()
                .expect("stem")
                .to_string_lossy()
                .into_owned();
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            out.insert(name, bytes);
        }
    }
    out
}

fn parse(bytes: &[u8], what: &str) -> TmkHash {
    TmkHash::from_bytes(bytes).unwrap_or_else(|e| panic!("{what}: {e}"))
}

#[test]
fn reference_files_round_trip_byte_for_byte() {
    let Some(dir) = tmk_dir() else { return };
    for (sub, count) in [("reference-tmk", 15), ("reference-tmk-ffmpeg5", 14)] {
        let files = tmk_files(&dir.join(sub));
        assert_eq!(files.len(), count, "{sub}");
        for (name, bytes) in &files {
            let h = parse(bytes, name);
            assert!(h.to_bytes() == *bytes, "{sub}/{name}: bytes differ");
            assert!(h.frame_count() > 0, "{sub}/{name}");
        }
    }
}

/// One CSV row: `a,b,level1,level2,match_0.7`.
struct Pair {
    a: String,
    b: String,
    level1: f32,
    level2: f32,
    matched: bool,
}

fn pairs(path: &Path) -> Vec<Pair> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("a,b,level1,level2,match_0.7"));
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f.len(), 5, "{l}");
            // `%.9g` of a float32 parses back to that exact float32.
            Pair {
                a: f[0].to_string(),
                b: f[1].to_string(),
                level1: f[2].parse().expect("level1"),
                level2: f[3].parse().expect("level2"),
                matched: match f[4] {
                    "true" => true,
                    "false" => false,
                    other => panic!("match_0.7 {other:?}"),
                },
            }
        })
        .collect()
}

#[test]
fn scores_equal_the_reference_scores() {
    let Some(dir) = tmk_dir() else { return };
    for (csv, sub) in [
        ("reference-pairs.csv", "reference-tmk"),
        ("reference-pairs-ffmpeg5.csv", "reference-tmk-ffmpeg5"),
    ] {
        let hashes: BTreeMap<String, TmkHash> = tmk_files(&dir.join(sub))
            .iter()
            .map(|(n, b)| (n.clone(), parse(b, n)))
            .collect();
        let rows = pairs(&dir.join(csv));
        let (mut max1, mut max2, mut exact) = (0f32, 0f32, 0usize);
        for r in &rows {
            let s = scores(&hashes[&r.a], &hashes[&r.b]);
            let (d1, d2) = ((s.level1 - r.level1).abs(), (s.level2 - r.level2).abs());
            assert!(
                d1 <= 1e-5 && d2 <= 1e-5,
                "{csv} {} vs {}: ours {s:?}, reference {} {}",
                r.a,
                r.b,
                r.level1,
                r.level2
            );
            assert_eq!(
                TmkThresholds::default().is_match(s),
                r.matched,
                "{csv} {} vs {}: verdict",
                r.a,
                r.b
            );
            max1 = max1.max(d1);
            max2 = max2.max(d2);
            exact += usize::from(s.level1 == r.level1 && s.level2 == r.level2);
        }
        println!(
            "{csv}: {} pairs, max |level1 diff| {max1:e}, max |level2 diff| {max2:e}, \
             {exact} pairs bit-identical",
            rows.len()
        );
    }
}

fn put(b: &mut [u8], at: usize, v: [u8; 4]) {
    b[at..at + 4].copy_from_slice(&v);
}

#[test]
fn damaged_reference_files_give_typed_errors() {
    use TmkFileError as E;
    let Some(dir) = tmk_dir() else { return };
    let good = std::fs::read(dir.join("reference-tmk/chair-19-sd-bar.tmk")).expect("read");
    let damaged = |edit: &dyn Fn(&mut Vec<u8>)| {
        let mut b = good.clone();
        edit(&mut b);
        TmkHash::from_bytes(&b).expect_err("damaged file accepted")
    };
    assert!(matches!(
        damaged(&|b| put(b, 0, *b"RIFF")),
        E::NotTmk { .. }
    ));
    assert!(matches!(
        damaged(&|b| put(b, 0, *b"TMK2")),
        E::Version { .. }
    ));
    assert!(matches!(
        damaged(&|b| put(b, 4, *b"FEAT")),
        E::FileType { .. }
    ));
    assert!(matches!(
        damaged(&|b| put(b, 8, *b"XXXX")),
        E::Algorithm { .. }
    ));
    assert!(matches!(
        damaged(&|b| put(b, 12, 25i32.to_le_bytes())),
        E::FrameRate { found: 25 }
    ));
    assert!(matches!(
        damaged(&|b| put(b, 24, 144i32.to_le_bytes())),
        E::Shape { dimension: 144, .. }
    ));
    assert!(matches!(
        damaged(&|b| put(b, 32, 2732i32.to_le_bytes())),
        E::Periods { found } if found[0] == 2732
    ));
    assert!(matches!(
        damaged(&|b| put(b, 48 + 4 * 31, 1e-7f32.to_le_bytes())),
        E::Coefficient { index: 31, .. }
    ));
    assert!(matches!(
        damaged(&|b| put(b, 176 + 4 * 100, f32::NAN.to_le_bytes())),
        E::NonFinite {
            section: Section::PureAverage,
            index: 100,
            ..
        }
    ));
    assert!(matches!(
        damaged(&|b| put(b, 1200 + 4 * 5000, f32::INFINITY.to_le_bytes())),
        E::NonFinite {
            section: Section::Cos,
            index: 5000,
            ..
        }
    ));
    assert!(matches!(
        damaged(&|b| put(b, FILE_SIZE - 4, f32::NEG_INFINITY.to_le_bytes())),
        E::NonFinite {
            section: Section::Sin,
            ..
        }
    ));
    assert!(matches!(
        damaged(&|b| b.truncate(200_000)),
        E::Truncated { len: 200_000 }
    ));
    assert!(matches!(
        damaged(&|b| b.extend_from_slice(&good)),
        E::TrailingBytes { .. }
    ));
    // The undamaged file still reads.
    parse(&good, "chair-19-sd-bar");
}

/// Frames exactly as the reference hasher gets them: its ffmpeg command
/// (`tmk-hash-video` without `-v`), stdout read as a raw rgb24 stream.
fn hash_with_ffmpeg_cli(video: &Path) -> TmkHash {
    let mut child = Command::new("ffmpeg")
        .args(["-loglevel", "warning", "-hide_banner", "-nostdin", "-i"])
        .arg(video)
        .args(["-s", "64:64", "-an", "-f", "rawvideo", "-c:v", "rawvideo"])
        .args(["-pix_fmt", "rgb24", "-r", "15", "pipe:1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ffmpeg");
    let stdout = child.stdout.take().expect("ffmpeg stdout");
    let hashed = hash_rgb24_stream(stdout);
    let out = child.wait_with_output().expect("wait for ffmpeg");
    assert!(
        out.status.success(),
        "ffmpeg on {}: {}",
        video.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    hashed.unwrap_or_else(|e| panic!("{}: {e}", video.display()))
}

/// How far apart two feature vectors are.
struct Diff {
    max_abs: f64,
    rel_l2: f64,
}

fn diff(ours: &Feature, reference: &Feature) -> Diff {
    let (mut max_abs, mut d2, mut r2) = (0f64, 0f64, 0f64);
    for (&a, &b) in ours.iter().zip(reference) {
        let d = f64::from(a) - f64::from(b);
        max_abs = max_abs.max(d.abs());
        d2 += d * d;
        r2 += f64::from(b) * f64::from(b);
    }
    let rel_l2 = if r2 > 0.0 {
        (d2 / r2).sqrt()
    } else {
        d2.sqrt()
    };
    Diff { max_abs, rel_l2 }
}

/// The sample videos and the reference hashes of them, or `None`
/// (skipped locally, a failure in CI).
fn sample_videos() -> Option<(PathBuf, BTreeMap<String, Vec<u8>>, PathBuf)> {
    let dir = tmk_dir()?;
    let videos = Path::new(CONFORMANCE).join("vpdq/videos");
    if !videos.is_dir() {
        fixtures::missing("../shared/conformance/vpdq/videos not found");
        return None;
    }
    let references = tmk_files(&dir.join("reference-tmk-ffmpeg5"));
    Some((videos, references, dir))
}

#[test]
fn hashes_from_the_reference_frames_equal_the_reference_hashes() {
    let Some((videos, references, dir)) = sample_videos() else {
        return;
    };
    if !ffmpeg_support::require_ffmpeg() {
        return;
    }
    let ours = references
        .keys()
        .map(|name| {
            let video = videos.join(format!("{name}.mp4"));
            assert!(video.is_file(), "{}: missing", video.display());
            (name.clone(), hash_with_ffmpeg_cli(&video))
        })
        .collect();
    let identical =
        check_against_references("frames from the ffmpeg CLI", &ours, &references, &dir);
    assert_eq!(identical, references.len(), "byte-identical .tmk files");
}

/// Our own route: `hash` decodes the video once (the decode that feeds
/// vPDQ), picks frames by the CLI's `-r 15` rule and scales them with
/// libswscale as the CLI's scale filter does.
#[test]
fn hashes_from_our_decode_equal_the_reference_hashes() {
    let Some((videos, references, dir)) = sample_videos() else {
        return;
    };
    let ours = references
        .keys()
        .map(|name| {
            let video = videos.join(format!("{name}.mp4"));
            let rec = hashsieve::hashing::hash_path(
                &video,
                &hashsieve::hashing::HashConfig::default(),
                &mut hashsieve::hashing::Worker::new(),
            );
            assert!(rec.error.is_none(), "{name}: {:?}", rec.error);
            let hash = rec
                .tmk
                .unwrap_or_else(|| panic!("{name}: no TMK: {:?}", rec.video));
            (name.clone(), TmkHash::clone(&hash))
        })
        .collect();
    let identical = check_against_references("our decode", &ours, &references, &dir);
    // Reached: every file byte for byte (the frames are the CLI's, see
    // tests/tmk_frames.rs, and the arithmetic is the reference's).
    assert_eq!(identical, references.len(), "byte-identical .tmk files");
}

/// Every hash of `ours` against the reference file of the same video
/// (header, periods and coefficients identical; features within the
/// README's tolerances; level-1 and level-2 >= 0.99999) and against every
/// other reference (the CSV's scores within 1e-5, the same verdicts).
fn check_against_references(
    route: &str,
    ours: &BTreeMap<String, TmkHash>,
    references: &BTreeMap<String, Vec<u8>>,
    dir: &Path,
) -> usize {
    assert_eq!(ours.len(), references.len());
    let (mut identical, mut worst1, mut worst2) = (0, f32::INFINITY, f32::INFINITY);
    let (mut avg_abs, mut avg_rel, mut cs_abs, mut cs_rel) = (0f64, 0f64, 0f64, 0f64);
    for (name, ref_bytes) in references {
        let hash = &ours[name];
        let bytes = hash.to_bytes();
        let reference = parse(ref_bytes, name);
        // Header (magics, fps, shape, frame count), periods and
        // coefficients: bit for bit.
        assert_eq!(bytes[..176], ref_bytes[..176], "{name}: header");
        assert_eq!(hash.frame_count(), reference.frame_count(), "{name}");
        let a = diff(hash.pure_average(), reference.pure_average());
        assert!(
            a.rel_l2 <= 1e-5 && a.max_abs <= 1e-3,
            "{name}: pure average off by {} (rel L2 {})",
            a.max_abs,
            a.rel_l2
        );
        avg_abs = avg_abs.max(a.max_abs);
        avg_rel = avg_rel.max(a.rel_l2);
        for p in 0..NUM_PERIODS {
            for j in 0..NUM_COEFFICIENTS {
                for (o, r) in [
                    (hash.cos(p, j), reference.cos(p, j)),
                    (hash.sin(p, j), reference.sin(p, j)),
                ] {
                    let d = diff(o, r);
                    assert!(
                        d.max_abs <= 1e-5 && d.rel_l2 <= 1e-5,
                        "{name}: period {p} coefficient {j} off by {} (rel L2 {})",
                        d.max_abs,
                        d.rel_l2
                    );
                    cs_abs = cs_abs.max(d.max_abs);
                    cs_rel = cs_rel.max(d.rel_l2);
                }
            }
        }
        let s = scores(hash, &reference);
        assert!(s.level1 >= 0.99999 && s.level2 >= 0.99999, "{name}: {s:?}");
        worst1 = worst1.min(s.level1);
        worst2 = worst2.min(s.level2);
        identical += usize::from(bytes == *ref_bytes);
    }
    // Ours against every other reference hash: the reference's scores and
    // verdicts.
    let mut max_pair = 0f32;
    for r in pairs(&dir.join("reference-pairs-ffmpeg5.csv")) {
        let reference = parse(&references[&r.b], &r.b);
        let s = scores(&ours[&r.a], &reference);
        let d = (s.level1 - r.level1).abs().max((s.level2 - r.level2).abs());
        assert!(d <= 1e-5, "{} (ours) vs {}: {s:?}", r.a, r.b);
        assert_eq!(
            TmkThresholds::default().is_match(s),
            r.matched,
            "{} vs {}",
            r.a,
            r.b
        );
        max_pair = max_pair.max(d);
    }
    println!(
        "{route}: {} videos: {identical} .tmk byte-identical to reference-tmk-ffmpeg5; \
         pure average max abs diff {avg_abs:e} (rel L2 {avg_rel:e}); \
         cos/sin max abs diff {cs_abs:e} (rel L2 {cs_rel:e}); \
         ours vs reference min level-1 {worst1}, min level-2 {worst2}; \
         ours vs the other references: max score diff from the CSV {max_pair:e}",
        references.len()
    );
    identical
}
