//! Resuming: a scan killed with SIGKILL halfway (a real `kill -9`), then
//! resumed, reports every file exactly once, loses no match, and leaves a
//! consistent state file; Ctrl-C (SIGINT) stops cleanly with a flushed
//! report.

use crate::scan_support;

use scan_support::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;

const FILES: u64 = 3000;

/// FILES small distinct images; every 7th is listed by MD5, every 11th by
/// PDQ (its own hash: distance 0).
fn setup(root: &Path) -> std::path::PathBuf {
    let mut entries = Vec::new();
    let pdq_of = |data: &[u8]| {
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
    };
    for i in 0..FILES {
        let data = png(1000 + i);
        write(&root.join(format!("tree/d{}/f{i:05}.png", i % 10)), &data);
        if i % 7 == 0 {
            entries.push(("md5", md5_hex(&data)));
        }
        if i % 11 == 0 {
            entries.push(("pdq", pdq_of(&data)));
        }
    }
    let db = root.join("lists.db");
    make_db(&db, "known", &entries);
    db
}

/// path -> sorted list of (list, entry, hit_by) of the hits.
fn hits(records: &[Value]) -> BTreeMap<String, Vec<String>> {
    hits_by_path(records, &["list", "entry", "hit_by"])
}

#[test]
fn kill_dash_nine_then_resume_reports_every_file_once_and_every_match() {
    let dir = tempfile::tempdir().unwrap();
    let db = setup(dir.path());

    // Reference: one uninterrupted run.
    let full = parse(
        scan_cmd(dir.path())
            .args(["--no-state", "--threads", "2", "--db"])
            .arg(&db)
            .arg("tree")
            .output()
            .unwrap(),
    );
    assert_eq!(full.code, 1, "{}", full.stderr);
    assert_eq!(full.records.len() as u64, FILES);
    let want = hits(&full.records);
    let matched = want.values().filter(|h| !h.is_empty()).count();
    assert!(matched > 500, "{matched}");

    // Killed run: SIGKILL once a good part of the report is out.
    let mut child = scan_cmd(dir.path())
        .args(["--threads", "2", "--resume", "nightly", "--db"])
        .arg(&db)
        .arg("tree")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = 0;
    while seen < FILES / 3 {
        match lines.next() {
            Some(Ok(_)) => seen += 1,
            _ => break,
        }
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "the scan finished before it could be killed: the test needs more work per file"
    );
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(9));
    drop(lines);

    // The state file is consistent after the kill.
    let state = dir.path().join("lists.db.runs");
    let c = rusqlite::Connection::open(&state).unwrap();
    let ok: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    let done: i64 = c
        .query_row(
            "SELECT count(*) FROM outcomes WHERE run = 'nightly'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let done = done as u64;
    drop(c);
    assert!(
        done > 0 && done < FILES,
        "{done} outcomes committed before the kill"
    );

    // Resume: a complete report, every file exactly once, the same hits.
    let summary = dir.path().join("s.json");
    let resumed = parse(
        scan_cmd(dir.path())
            .args(["--threads", "2", "--resume", "nightly", "--summary-json"])
            .arg(&summary)
            .arg("--db")
            .arg(&db)
            .arg("tree")
            .output()
            .unwrap(),
    );
    assert_eq!(resumed.code, 1, "{}", resumed.stderr);
    resumed.assert_unique();
    assert_eq!(resumed.records.len() as u64, FILES);
    assert_eq!(hits(&resumed.records), want);
    let sum: Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(sum["resumed_files"].as_u64().unwrap(), done, "{sum}");
    assert_eq!(sum["files"].as_u64().unwrap(), FILES);

    // A third session scans nothing again and still reports everything.
    let again = parse(
        scan_cmd(dir.path())
            .args(["--resume", "nightly", "--matches-only", "--db"])
            .arg(&db)
            .arg("tree")
            .output()
            .unwrap(),
    );
    let paths: BTreeSet<&str> = again
        .records
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths.len(), matched);
    assert!(
        again
            .stderr
            .contains(&format!("{FILES} files already done")),
        "{}",
        again.stderr
    );
}

#[test]
fn ctrl_c_stops_cleanly_with_a_flushed_report_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let db = setup(dir.path());
    let mut child = scan_cmd(dir.path())
        .args(["--threads", "1", "--resume", "r", "--db"])
        .arg(&db)
        .arg("tree")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    assert!(child.try_wait().unwrap().is_none(), "finished too early");
    // SIGINT, as Ctrl-C sends.
    let rc = unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert_eq!(rc, 0);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let text = first + &rest;
    // Every line is a complete record (the report was flushed, not cut).
    let mut n = 0u64;
    for l in text.lines() {
        serde_json::from_str::<Value>(l).expect("complete JSON line");
        n += 1;
    }
    assert!((1..FILES).contains(&n), "{n}");
    let resumed = parse(
        scan_cmd(dir.path())
            .args(["--resume", "r", "--db"])
            .arg(&db)
            .arg("tree")
            .output()
            .unwrap(),
    );
    resumed.assert_unique();
    assert_eq!(resumed.records.len() as u64, FILES);
}
