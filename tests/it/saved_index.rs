//! The saved index files next to the database (`<db>.pdq-rows`,
//! `<db>.pdq-tables`) are checked against their checksum: a byte flipped
//! in the middle of either changes no result of `scan` or `match`, and the
//! file is rewritten whole.

use crate::scan_support;

use scan_support::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const IMAGES: u64 = 12;
/// Unrelated listed hashes, so the files are more than a few rows.
const FILLER: u64 = 400;

fn pdq_of(data: &[u8]) -> String {
    let img = image::load_from_memory(data).unwrap().to_rgb8();
    let (w, h) = img.dimensions();
    let src = hashsieve::pdq::Rgb8::new(
        img.as_raw(),
        w as usize,
        h as usize,
        hashsieve::pdq::LumaRule::Pillow,
    )
    .unwrap();
    hashsieve::pdq::PdqHasher::new().hash(&src).hash.to_string()
}

/// A deterministic pseudo-random PDQ hash (64 hex digits).
fn filler(i: u64) -> String {
    let mut s = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0xdead_beef;
    (0..4)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            format!("{s:016x}")
        })
        .collect()
}

/// Images under `root/media`, and a database listing their PDQ hashes
/// among [`FILLER`] others; returns the database and every listed hash.
fn setup(root: &Path) -> (PathBuf, Vec<String>) {
    let mut listed = Vec::new();
    for i in 0..IMAGES {
        let data = png(500 + i);
        write(&root.join(format!("media/f{i:02}.png")), &data);
        listed.push(pdq_of(&data));
    }
    listed.extend((0..FILLER).map(filler));
    let db = root.join("lists.db");
    let entries: Vec<(&str, String)> = listed.iter().map(|h| ("pdq", h.clone())).collect();
    make_db(&db, "known", &entries);
    (db, listed)
}

/// path -> sorted (entry, distance, view) of the scan's hits.
fn scan_hits(root: &Path, db: &Path) -> BTreeMap<String, Vec<String>> {
    let s = parse(
        scan_cmd(root)
            .arg("media")
            .arg("--db")
            .arg(db)
            .arg("--no-state")
            .output()
            .unwrap(),
    );
    assert_eq!(s.code, 1, "{}", s.stderr);
    hits_by_path(&s.records, &["entry", "distance", "view"])
}

/// `match --queries` over every listed hash: the whole output.
fn match_all(root: &Path, db: &Path, listed: &[String]) -> String {
    let q = root.join("queries.txt");
    std::fs::write(&q, listed.join("\n")).unwrap();
    let o: Output = Command::new(bin())
        .arg("match")
        .arg("--db")
        .arg(db)
        .arg("--queries")
        .arg(&q)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn side_file(db: &Path, suffix: &str) -> PathBuf {
    let mut s = db.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

fn flip_middle(path: &Path) {
    let mut b = std::fs::read(path).unwrap();
    let at = b.len() / 2;
    b[at] ^= 0x04;
    std::fs::write(path, b).unwrap();
}

#[test]
fn a_flipped_byte_in_a_saved_file_changes_no_result_and_the_file_is_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (db, listed) = setup(root);
    // The first run reads SQLite and saves both files.
    let hits = scan_hits(root, &db);
    assert_eq!(hits.len() as u64, IMAGES);
    assert!(
        hits.values().all(|h| !h.is_empty()),
        "every image is listed: {hits:?}"
    );
    let answers = match_all(root, &db, &listed);
    assert_eq!(answers.lines().count(), listed.len());
    for suffix in [".pdq-rows", ".pdq-tables"] {
        let file = side_file(&db, suffix);
        let good = std::fs::read(&file).unwrap_or_else(|e| panic!("{suffix} not saved: {e}"));
        // Read back unchanged: the files are used as saved.
        assert_eq!(scan_hits(root, &db), hits);
        assert_eq!(std::fs::read(&file).unwrap(), good, "{suffix}");

        flip_middle(&file);
        assert_eq!(scan_hits(root, &db), hits, "scan with a damaged {suffix}");
        assert_eq!(
            std::fs::read(&file).unwrap(),
            good,
            "{suffix} rewritten after scan"
        );

        flip_middle(&file);
        assert_eq!(
            match_all(root, &db, &listed),
            answers,
            "match with a damaged {suffix}"
        );
        assert_eq!(
            std::fs::read(&file).unwrap(),
            good,
            "{suffix} rewritten after match"
        );
    }
}
