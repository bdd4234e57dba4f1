//! PDQ conformance against Meta's reference outputs in
//! `../shared/conformance/pdq` (never copied into this repository).
//!
//! * decoded PNGs (exact reference input pixels): hash and quality identical;
//! * the eight dihedral hashes of those PNGs: identical;
//! * the original JPEG/PNG/WebP files, decoded by our decoder: distance <= 10
//!   where the reference quality is >= 80 (Meta's bar for a new
//!   implementation); max and mean distance printed over all rows.

use crate::fixtures;
use hashsieve::hashing::{hash_path, HashConfig, Worker};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

fn conformance_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/pdq");
    if dir.join("reference.csv").is_file() {
        Some(dir)
    } else {
        fixtures::missing("../shared/conformance not found");
        None
    }
}

/// Rows of a simple CSV (no quoted commas in these files), keyed by header.
fn read_csv(path: &Path) -> Vec<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).expect("read csv");
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .expect("header")
        .split(',')
        .map(str::to_string)
        .collect();
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            header
                .iter()
                .cloned()
                .zip(l.split(',').map(str::to_string))
                .collect()
        })
        .collect()
}

fn distance(a: &str, b: &str) -> u32 {
    let a: hashdb::Pdq = a.parse().expect("hex");
    let b: hashdb::Pdq = b.parse().expect("hex");
    a.distance(&b)
}

#[test]
fn decoded_pngs_hash_exactly_like_the_reference() {
    let Some(dir) = conformance_dir() else { return };
    let cfg = HashConfig::default();
    let mut worker = Worker::new();
    let rows = read_csv(&dir.join("reference.csv"));
    let mut checked = 0;
    let mut failures = Vec::new();
    println!(
        "{:<55} {:>4} {:>8} {:>8}",
        "decoded png", "dist", "quality", "ref q"
    );
    for row in rows.iter().filter(|r| !r["decoded_png"].is_empty()) {
        let rec = hash_path(&dir.join(&row["decoded_png"]), &cfg, &mut worker);
        assert!(
            rec.error.is_none(),
            "{}: {:?}",
            row["decoded_png"],
            rec.error
        );
        let ours = &rec.pdq[0];
        let d = distance(&ours.hash.to_string(), &row["pdq"]);
        let refq: u8 = row["quality"].parse().expect("quality");
        println!(
            "{:<55} {:>4} {:>8} {:>8}",
            row["decoded_png"], d, ours.quality, refq
        );
        if d != 0 || ours.quality != refq {
            failures.push(row["decoded_png"].clone());
        }
        checked += 1;
    }
    assert!(
        checked >= 25,
        "expected the 25 decoded PNGs, found {checked}"
    );
    assert!(failures.is_empty(), "not bit-exact: {failures:?}");
}

#[test]
fn dihedral_hashes_are_exact() {
    let Some(dir) = conformance_dir() else { return };
    let cfg = HashConfig {
        dihedral: true,
        ..HashConfig::default()
    };
    let mut worker = Worker::new();
    let rows = read_csv(&dir.join("reference-dihedral.csv"));
    let names = [
        "original",
        "rotate90",
        "rotate180",
        "rotate270",
        "flipx",
        "flipy",
        "flipplus1",
        "flipminus1",
    ];
    let mut compared = 0;
    for row in &rows {
        let rec = hash_path(&dir.join(&row["decoded_png"]), &cfg, &mut worker);
        let dih = rec.dihedral.expect("dihedral requested");
        let ours = serde_json::to_value(dih).expect("json");
        let mut line = format!("{:<55}", row["decoded_png"]);
        for name in names {
            let d = distance(ours[name].as_str().expect("hex"), &row[name]);
            line.push_str(&format!(" {name}={d}"));
            assert_eq!(d, 0, "{} {name}", row["decoded_png"]);
            compared += 1;
        }
        println!("{line}");
    }
    assert_eq!(compared, rows.len() * 8);
    assert!(rows.len() >= 25);
}

#[test]
fn original_files_are_within_meta_bar() {
    let Some(dir) = conformance_dir() else { return };
    let cfg = HashConfig::default();
    let mut worker = Worker::new();
    let rows = read_csv(&dir.join("reference.csv"));
    let mut dists = Vec::new();
    let mut over_bar = Vec::new();
    println!(
        "{:<50} {:>4} {:>6} {:>6}",
        "original image", "dist", "ours q", "ref q"
    );
    for row in &rows {
        let rec = hash_path(&dir.join(&row["image"]), &cfg, &mut worker);
        if let Some(e) = &rec.error {
            println!("{:<50} could not decode: {e}", row["image"]);
            continue;
        }
        let ours = &rec.pdq[0];
        let d = distance(&ours.hash.to_string(), &row["pdq"]);
        let refq: u32 = row["quality"].parse().expect("quality");
        println!(
            "{:<50} {:>4} {:>6} {:>6}",
            row["image"], d, ours.quality, refq
        );
        if refq >= 80 && d > 10 {
            over_bar.push((row["image"].clone(), d));
        }
        dists.push(d);
    }
    let max = dists.iter().max().copied().unwrap_or(0);
    let mean = dists.iter().sum::<u32>() as f64 / dists.len().max(1) as f64;
    println!(
        "rows {} hashed {} max distance {max} mean distance {mean:.3}",
        rows.len(),
        dists.len()
    );
    // Every reference image is one our decoders handle.
    assert_eq!(dists.len(), rows.len());
    assert!(
        over_bar.is_empty(),
        "over Meta's bar (quality >= 80, distance > 10): {over_bar:?}"
    );
}
