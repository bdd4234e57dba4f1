//! `scan --shard I/N` (issue 14): N scans of the same roots, one per
//! shard, report every file of the full scan exactly once between them,
//! archives whole, and a shard's files do not depend on where the data is
//! mounted.

use crate::scan_support;

use scan_support::*;
use std::collections::BTreeMap;
use std::path::Path;

/// Paths reported by a scan of `root` (relative to `cwd`), with the
/// record of each.
fn scan(cwd: &Path, root: &str, shard: Option<&str>) -> BTreeMap<String, serde_json::Value> {
    let mut cmd = scan_cmd(cwd);
    cmd.args(["--no-state", "--format", "jsonl", "--threads", "2"]);
    if let Some(s) = shard {
        cmd.args(["--shard", s]);
    }
    cmd.arg(root);
    let s = parse(cmd.output().expect("run scan"));
    s.assert_unique();
    assert!(s.code == 0 || s.code == 2, "exit {}: {}", s.code, s.stderr);
    s.records
        .into_iter()
        .map(|r| (r["path"].as_str().expect("path").to_string(), r))
        .collect()
}

fn tree(root: &Path) {
    for i in 0..40u32 {
        let dir = root.join(format!("d{}", i % 5));
        match i % 4 {
            0 => write(&dir.join(format!("p{i}.png")), &png(u64::from(i))),
            1 => write(&dir.join(format!("j{i}.jpg")), &jpeg(i)),
            2 => write(
                &dir.join(format!("t{i}.txt")),
                format!("text {i}").as_bytes(),
            ),
            _ => write(&dir.join(format!("bad{i}.jpg")), &truncated_jpeg(i)),
        }
    }
    let a = png(100);
    let b = jpeg(101);
    write(
        &root.join("d1/pack.zip"),
        &zip_of(&[("one.png", &a[..]), ("two.jpg", &b[..])]),
    );
    write(
        &root.join("d2/pack.tar"),
        &tar_of(&[("x/three.png", &a[..])]),
    );
}

#[test]
fn the_shards_together_are_the_full_scan_without_overlap() {
    let dir = tempfile::tempdir().unwrap();
    tree(&dir.path().join("in"));
    let full = scan(dir.path(), "in", None);
    assert_eq!(full.len(), 40 + 2 + 2 + 1, "{:?}", full.keys());
    let n = 3;
    let mut union = BTreeMap::new();
    let mut sizes = Vec::new();
    for i in 0..n {
        let part = scan(dir.path(), "in", Some(&format!("{i}/{n}")));
        sizes.push(part.len());
        for (path, rec) in part {
            // The same record as in the full scan (hashes, errors).
            assert_eq!(rec, full[&path], "{path}");
            assert!(
                union.insert(path.clone(), i).is_none(),
                "{path} in two shards"
            );
        }
    }
    assert_eq!(
        union.keys().collect::<Vec<_>>(),
        full.keys().collect::<Vec<_>>()
    );
    assert!(
        sizes.iter().all(|&s| s > 0),
        "an empty shard of 45 files: {sizes:?}"
    );
    // An archive's members stay with the archive.
    for archive in ["in/d1/pack.zip", "in/d2/pack.tar"] {
        for (path, shard) in &union {
            if path.starts_with(&format!("{archive}!/")) {
                assert_eq!(shard, &union[archive], "{path}");
            }
        }
    }
}

#[test]
fn a_shard_is_the_same_wherever_the_data_is_mounted() {
    let dir = tempfile::tempdir().unwrap();
    tree(&dir.path().join("here"));
    std::fs::create_dir_all(dir.path().join("mnt/elsewhere")).unwrap();
    std::os::unix::fs::symlink(
        dir.path().join("here"),
        dir.path().join("mnt/elsewhere/copy"),
    )
    .unwrap();
    let a = scan(dir.path(), "here", Some("1/4"));
    let b = scan(dir.path(), "mnt/elsewhere/copy", Some("1/4"));
    let rel = |m: &BTreeMap<String, serde_json::Value>, root: &str| -> Vec<String> {
        m.keys()
            .map(|k| k.strip_prefix(root).expect("under root").to_string())
            .collect()
    };
    assert!(!a.is_empty());
    assert_eq!(rel(&a, "here/"), rel(&b, "mnt/elsewhere/copy/"));
}

#[test]
fn a_bad_shard_is_refused_before_scanning() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("in/a.png"), &png(1));
    for bad in ["3/3", "0/0", "1", "a/b"] {
        let out = scan_cmd(dir.path())
            .args(["--no-state", "--shard", bad, "in"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "--shard {bad}");
        assert!(out.stdout.is_empty(), "--shard {bad} scanned");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("shard"), "--shard {bad}: {err}");
    }
}
