//! `db add --derive`: the PDQ hashes of crops and small turns of our own
//! image are stored as entries labelled `derived:crop=...`,
//! `derived:rotate=...` and `derived:rotate-black=...`, so a cropped
//! (one side, or split between opposite sides) or slightly turned (corners
//! cropped or left black) repost hashed with
//! plain PDQ (a partner's side) finds the list, where plain enrollment does
//! not; exports leave them out unless asked. The reposts are made here with
//! the `image` crate (crop, a nearest-neighbour turn unlike the enrollment's
//! bilinear one, a JPEG re-encode).

use crate::views_support::photo;

use image::{imageops, ImageBuffer, Rgb, RgbImage};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn hs(db: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hashsieve"))
        .args(args)
        .env("HASHSIEVE_DB", db)
        .output()
        .expect("run hashsieve");
    let code = out.status.code().unwrap_or(-1);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(code == 0 || code == 1, "{args:?}: {stderr}");
    (
        code,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
    )
}

fn save_jpeg(img: &RgbImage, path: &Path) {
    let mut f = std::fs::File::create(path).expect("create");
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut f, 85)
        .encode_image(img)
        .expect("encode jpeg");
}

/// `img` turned by `degrees` counter-clockwise about its centre, sampled at
/// the nearest pixel, cropped to a centred rectangle of its aspect ratio
/// (a few pixels inside the largest one, as a person straightening a photo
/// by eye would).
fn turned(img: &RgbImage, degrees: f64) -> RgbImage {
    let (w, h) = (f64::from(img.width()), f64::from(img.height()));
    let a = degrees.to_radians();
    let s =
        (w / (w * a.cos() + h * a.sin().abs())).min(h / (w * a.sin().abs() + h * a.cos())) * 0.99;
    let (ow, oh) = ((w * s) as u32, (h * s) as u32);
    ImageBuffer::from_fn(ow, oh, |x, y| {
        let rx = f64::from(x) + 0.5 - f64::from(ow) / 2.0;
        let ry = f64::from(y) + 0.5 - f64::from(oh) / 2.0;
        let sx = w / 2.0 + rx * a.cos() - ry * a.sin() - 0.5;
        let sy = h / 2.0 + rx * a.sin() + ry * a.cos() - 0.5;
        imageops::interpolate_nearest(
            img,
            sx.clamp(0.0, w - 1.0) as f32,
            sy.clamp(0.0, h - 1.0) as f32,
        )
        .unwrap_or(Rgb([0, 0, 0]))
    })
}

/// `img` turned by `degrees` counter-clockwise within its own frame,
/// sampled at the nearest pixel, the corners left black (as Pillow's
/// `rotate` without `expand`).
fn turned_black(img: &RgbImage, degrees: f64) -> RgbImage {
    let (w, h) = (f64::from(img.width()), f64::from(img.height()));
    let a = degrees.to_radians();
    ImageBuffer::from_fn(img.width(), img.height(), |x, y| {
        let rx = f64::from(x) + 0.5 - w / 2.0;
        let ry = f64::from(y) + 0.5 - h / 2.0;
        let sx = w / 2.0 + rx * a.cos() - ry * a.sin();
        let sy = h / 2.0 + rx * a.sin() + ry * a.cos();
        if (0.0..w).contains(&sx) && (0.0..h).contains(&sy) {
            *img.get_pixel(sx as u32, sy as u32)
        } else {
            Rgb([0, 0, 0])
        }
    })
}

/// The PDQ hash of record of `path` (plain PDQ, no views).
fn plain_pdq(db: &Path, path: &Path) -> String {
    let (_, out, _) = hs(db, &["hash", path.to_str().expect("utf-8")]);
    let rec: Value = serde_json::from_str(out.trim()).expect("record");
    rec["pdq"][0]["hash"].as_str().expect("hash").to_string()
}

#[test]
fn derived_crops_and_turns_find_reposts_plain_enrollment_misses() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let db = dir.join("t.db");
    let pic = photo(480, 360, 11);
    let orig: RgbImage = ImageBuffer::from_raw(480, 360, pic.rgb).expect("buffer");
    let orig_path = dir.join("orig.png");
    orig.save(&orig_path).expect("save png");
    // A repost with a tenth of the width cut off the left, re-encoded.
    let cropped = imageops::crop_imm(&orig, 48, 0, 432, 360).to_image();
    let cropped_path = dir.join("cropped.jpg");
    save_jpeg(&cropped, &cropped_path);
    // A repost straightened by 5 degrees.
    let turned_path = dir.join("turned.jpg");
    save_jpeg(&turned(&orig, 5.0), &turned_path);
    // A repost turned by 5 degrees the other way, its corners left black.
    let black_path = dir.join("black.jpg");
    save_jpeg(&turned_black(&orig, -5.0), &black_path);
    // A crop box dragged off centre: a tenth of the width and of the
    // height cut, 14 of the 48 px on the left, 25 of the 36 on the top
    // (near the grid window split-25-75-10, not on it).
    let split_path = dir.join("split.jpg");
    save_jpeg(
        &imageops::crop_imm(&orig, 14, 25, 432, 324).to_image(),
        &split_path,
    );

    hs(&db, &["db", "init"]);
    hs(&db, &["db", "list-create", "plain"]);
    hs(&db, &["db", "list-create", "derived"]);
    let o = orig_path.to_str().expect("utf-8");
    hs(&db, &["db", "add", "plain", "--label", "entity:x", o]);
    let (_, out, _) = hs(
        &db,
        &["db", "add", "derived", "--derive", "--label", "entity:x", o],
    );
    let added: Value = serde_json::from_str(out.trim()).expect("db add line");
    let n_derived = added["derived"].as_u64().expect("derived count");
    assert!(n_derived > 20, "{added}");

    for (what, path, label) in [
        ("cropped", &cropped_path, "derived:crop=left-"),
        ("turned", &turned_path, "derived:rotate=+"),
        ("black", &black_path, "derived:rotate-black=-"),
        ("split", &split_path, "derived:crop=split-"),
    ] {
        let h = plain_pdq(&db, path);
        let (code, _, _) = hs(&db, &["match", "--pdq", &h, "--list", "plain"]);
        assert_eq!(code, 0, "{what}: plain enrollment should not find it");
        let (code, hits, _) = hs(&db, &["match", "--pdq", &h, "--list", "derived"]);
        assert_eq!(code, 1, "{what}: the derived entries should find it");
        // Each match record (one a line, one per entry hit) says the hit
        // came through a derived entry, and one of them through the
        // derivation that made the repost (a neighbouring one may hit too).
        let mut expected = false;
        for line in hits.lines() {
            let rec: Value = serde_json::from_str(line).expect("JSON");
            let labels: Vec<&str> = rec["labels"]
                .as_array()
                .expect("labels")
                .iter()
                .filter_map(Value::as_str)
                .collect();
            assert!(
                labels.iter().any(|l| l.starts_with("derived:")),
                "{what}: {line}"
            );
            expected |= labels.iter().any(|l| l.starts_with(label));
            assert!(labels.contains(&"entity:x"), "{what}: {line}");
        }
        assert!(expected, "{what}: no hit labelled {label}: {hits}");
    }

    // Exports: without --include-derived only the hash of record goes out
    // in a format that cannot say what an entry is; with it, every derived
    // hash too; jsonl (lossless, labelled) always has them.
    let export = |extra: &[&str]| {
        let mut args = vec!["db", "export", "derived", "--format", "pdq"];
        args.extend_from_slice(extra);
        let (_, out, err) = hs(&db, &args);
        (out.lines().count() as u64, err)
    };
    let (plain_lines, note) = export(&[]);
    assert_eq!(plain_lines, 1);
    assert!(note.contains("--include-derived"), "{note}");
    let (all_lines, _) = export(&["--include-derived"]);
    assert_eq!(all_lines, 1 + n_derived);
    let (_, jsonl, _) = hs(&db, &["db", "export", "derived", "--format", "jsonl"]);
    let derived_jsonl = jsonl
        .lines()
        .filter(|l| l.contains("\"derived:crop=") || l.contains("\"derived:rotate"))
        .count() as u64;
    assert_eq!(derived_jsonl, n_derived);
}

/// The service's export (`GET /v1/lists/{name}/export`) follows `db
/// export`: derived entries only in jsonl or with `include_derived`.
#[cfg(feature = "serve")]
#[test]
fn service_export_leaves_derived_entries_out_unless_asked() {
    use crate::serve_support::{cli, db_with_list, Server};
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let db = db_with_list(dir, "L");
    let pic = photo(320, 240, 5);
    let path = dir.join("p.png");
    RgbImage::from_raw(320, 240, pic.rgb)
        .expect("buffer")
        .save(&path)
        .expect("save png");
    let dbs = db.to_str().expect("utf-8");
    let p = path.to_str().expect("utf-8");
    let out = cli(&["db", "--db", dbs, "add", "L", "--derive", "crops", p]);
    let added: Value = serde_json::from_str(out.trim()).expect("db add line");
    let n = added["derived"].as_u64().expect("derived count");
    assert!(n > 0, "{added}");
    let s = Server::start(&db, &[]);
    let lines = |q: &str| {
        let r = s.get(&format!("/v1/lists/L/export?{q}"), None);
        assert_eq!(r.status, 200, "{q}");
        String::from_utf8_lossy(&r.body).lines().count() as u64
    };
    assert_eq!(lines("format=pdq"), 1);
    assert_eq!(lines("format=pdq&include_derived=true"), 1 + n);
    // jsonl: the digests, the hash of record and every derived entry.
    assert_eq!(lines("format=jsonl"), 3 + 1 + n);
}

/// The default (`--derive` alone) is every family, the dense windows of
/// 15 and 20 % cuts split between opposite sides included, and a derived
/// hash within `--derive-min-distance` bits (8 by default) of the hash of
/// record or of one already stored for the image is left out: with 0 only
/// exact repeats go. `compact` is the former default, without the wide
/// windows.
#[test]
fn default_derives_wide_windows_and_leaves_out_near_repeats() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let db = dir.join("t.db");
    let pic = photo(480, 360, 11);
    let orig: RgbImage = ImageBuffer::from_raw(480, 360, pic.rgb).expect("buffer");
    let orig_path = dir.join("orig.png");
    orig.save(&orig_path).expect("save png");
    // A repost with 20 % of the width and of the height cut, 36 of the 96
    // px on the left and 27 of the 72 on the top: a pixel from the window
    // split-37-37-20, 2.5 % of a side from any window of `compact`.
    let crop_path = dir.join("crop20.jpg");
    save_jpeg(
        &imageops::crop_imm(&orig, 36, 27, 384, 288).to_image(),
        &crop_path,
    );
    hs(&db, &["db", "init"]);
    let o = orig_path.to_str().expect("utf-8");
    let mut counts = Vec::new();
    for (list, args) in [
        ("plain", vec![]),
        ("dflt", vec!["--derive"]),
        (
            "all0",
            vec!["--derive", "all", "--derive-min-distance", "0"],
        ),
        (
            "compact0",
            vec!["--derive", "compact", "--derive-min-distance", "0"],
        ),
    ] {
        hs(&db, &["db", "list-create", list]);
        // The picture before the flags: a bare `--derive` would take a
        // path after it as its value.
        let mut a = vec!["db", "add", list, "--label", "entity:x", o];
        a.extend(args);
        let (_, out, _) = hs(&db, &a);
        let added: Value = serde_json::from_str(out.trim()).expect("db add line");
        counts.push(added["derived"].as_u64().expect("derived count"));
    }
    let (default, all0, compact0) = (counts[1], counts[2], counts[3]);
    assert_eq!(counts[0], 0);
    // The wide windows are distinct values (120 derivations more than
    // `compact`'s 95), and near repeats only ever shorten the list.
    assert!(compact0 <= 95 && all0 <= 215, "{counts:?}");
    assert!(all0 >= compact0 + 60, "{counts:?}");
    assert!(default <= all0 && default > 60, "{counts:?}");

    // The stored default: the hash of record and derived hashes, every
    // two more than 8 bits apart, the wide windows among them.
    let (_, jsonl, _) = hs(&db, &["db", "export", "dflt", "--format", "jsonl"]);
    let mut pdq: Vec<(Vec<u8>, bool)> = Vec::new();
    let mut wide = 0;
    for line in jsonl.lines() {
        let e: Value = serde_json::from_str(line).expect("JSON");
        if e["signal_type"] != "pdq" {
            continue;
        }
        let labels: Vec<&str> = e["labels"]
            .as_array()
            .expect("labels")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        wide += labels
            .iter()
            .filter(|l| l.starts_with("derived:crop=split-") && l.ends_with("-20"))
            .count();
        let hex = e["value"].as_str().expect("value");
        let bytes = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
            .collect();
        pdq.push((bytes, labels.iter().any(|l| l.starts_with("derived:"))));
    }
    assert_eq!(
        pdq.iter().filter(|(_, d)| !d).count(),
        1,
        "one hash of record"
    );
    assert_eq!(pdq.iter().filter(|(_, d)| *d).count() as u64, default);
    assert!(wide > 0, "no 20 % split window stored: {jsonl}");
    for (i, (a, _)) in pdq.iter().enumerate() {
        for (b, _) in &pdq[..i] {
            let d: u32 = a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum();
            assert!(d > 8, "two stored hashes {d} bits apart");
        }
    }

    // The 20 % crop: the plain list misses it, the default finds it.
    let h = plain_pdq(&db, &crop_path);
    let (code, _, _) = hs(&db, &["match", "--pdq", &h, "--list", "plain"]);
    assert_eq!(code, 0, "plain enrollment should not find the 20 % crop");
    let (code, hits, _) = hs(&db, &["match", "--pdq", &h, "--list", "dflt"]);
    assert_eq!(code, 1, "the default derived entries should find it");
    assert!(hits.contains("derived:crop="), "{hits}");
}
