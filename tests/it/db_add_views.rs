//! `db add --with-views`: the hashes of our own media's views are stored
//! too, each labelled `derived:view=<name>`; without the flag nothing
//! changes. Fixtures are made with the `ffmpeg` CLI (skipped when missing).

#![cfg(feature = "video")]

use crate::ffmpeg_support;
use ffmpeg_support::{ffmpeg, letterbox_video, testsrc_video};

use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn hs(db: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hashsieve"))
        .args(args)
        .env("HASHSIEVE_DB", db)
        .output()
        .expect("run hashsieve");
    let code = out.status.code().unwrap_or(-1);
    assert!(
        code == 0 || code == 1,
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (code, String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Exported entries of `list`: (signal type, labels).
fn entries(db: &Path, list: &str) -> Vec<(String, Vec<String>)> {
    let (_, out) = hs(db, &["db", "export", list, "--format", "jsonl"]);
    out.lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("JSON line");
            let labels = v["labels"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|l| l.as_str().map(str::to_string))
                .collect();
            (v["signal_type"].as_str().unwrap_or("").to_string(), labels)
        })
        .collect()
}

fn derived(labels: &[String]) -> Option<&str> {
    labels.iter().find_map(|l| l.strip_prefix("derived:view="))
}

#[test]
fn with_views_stores_labelled_derived_entries() {
    if !ffmpeg_support::require_ffmpeg() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let db = dir.join("t.db");
    testsrc_video(dir, "src.mp4", 5);
    letterbox_video(dir, "src.mp4", "lb.mp4");
    ffmpeg(dir, &["-i", "src.mp4", "-frames:v", "1", "still.png"]);
    ffmpeg(dir, &["-i", "still.png", "-vf", "hflip", "mirror.png"]);
    hs(&db, &["db", "init"]);
    hs(&db, &["db", "list-create", "plain"]);
    hs(&db, &["db", "list-create", "derived"]);
    let lb = dir.join("lb.mp4");
    let still = dir.join("still.png");
    let (lb, still) = (lb.to_str().expect("utf-8"), still.to_str().expect("utf-8"));

    // Default: digests and the hash of record only.
    hs(
        &db,
        &["db", "add", "plain", "--label", "entity:x", lb, still],
    );
    let plain = entries(&db, "plain");
    assert_eq!(
        plain.len(),
        9,
        "3 digests + vpdq + tmk_pdqf, 3 digests + pdq: {plain:?}"
    );
    assert!(plain.iter().all(|(_, l)| derived(l).is_none()));

    let (_, out) = hs(
        &db,
        &[
            "db",
            "add",
            "derived",
            "--with-views",
            "--label",
            "entity:x",
            lb,
            still,
        ],
    );
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert!(lines.iter().all(|l| l["derived"].as_u64() > Some(0)));
    let all = entries(&db, "derived");
    let extra: Vec<&(String, Vec<String>)> =
        all.iter().filter(|(_, l)| derived(l).is_some()).collect();
    // The hash-of-record entries are the same as without the flag.
    assert_eq!(all.len() - extra.len(), 9);
    assert!(all.iter().all(|(_, l)| l.contains(&"entity:x".to_string())));
    // The video's letterbox view is one derived vPDQ entry; the still's
    // mirror a derived PDQ entry.
    assert!(extra
        .iter()
        .any(|(t, l)| t == "vpdq" && derived(l) == Some("letterbox")));
    assert!(extra
        .iter()
        .any(|(t, l)| t == "pdq" && derived(l) == Some("flipy")));
    assert!(extra.iter().all(|(t, _)| t == "pdq" || t == "vpdq"));

    // A mirrored repost hashed with plain PDQ (a partner's side) finds the
    // derived entry.
    let (_, rec) = hs(
        &db,
        &["hash", dir.join("mirror.png").to_str().expect("utf-8")],
    );
    let rec: Value = serde_json::from_str(rec.trim()).expect("record");
    let h = rec["pdq"][0]["hash"].as_str().expect("hash").to_string();
    let (code, hits) = hs(&db, &["match", "--pdq", &h, "--list", "derived"]);
    assert_eq!(code, 1, "a hit: {hits}");
    assert!(hits.contains("derived:view=flipy"), "{hits}");
    let (code, _) = hs(&db, &["match", "--pdq", &h, "--list", "plain"]);
    assert_eq!(code, 0, "the plain list does not know the mirror");
}
