//! `hashsieve match` end to end: single queries of every type, exit codes,
//! per-list thresholds, list selection, `--queries` in input order with a
//! bad line, and vPDQ videos against the reference's vPDQ files.

use crate::fixtures;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_hashsieve");

fn db_ok(db: &Path, args: &[&str]) {
    let o = Command::new(BIN)
        .arg("db")
        .args(args)
        .arg("--db")
        .arg(db)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "db {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn matching(db: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("match")
        .args(args)
        .arg("--db")
        .arg(db)
        .output()
        .unwrap()
}

fn lines(o: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

const A: &str = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22";

/// `A` with its first `n` hex digits inverted (4 bits each).
fn moved(n: usize) -> String {
    A.chars()
        .enumerate()
        .map(|(i, c)| {
            if i < n {
                let v = c.to_digit(16).unwrap() ^ 0xf;
                std::char::from_digit(v, 16).unwrap()
            } else {
                c
            }
        })
        .collect()
}

fn setup(dir: &Path) -> PathBuf {
    let db = dir.join("h.db");
    db_ok(&db, &["list-create", "wide"]);
    db_ok(&db, &["list-create", "strict", "--threshold", "8"]);
    let f = dir.join("a.csv");
    std::fs::write(
        &f,
        format!(
            "signal_type,signal_value,labels,external_id,note\npdq,{A},entity:a,x1,\nmd5,{},entity:b,x2,\n",
            "ab".repeat(16)
        ),
    )
    .unwrap();
    db_ok(&db, &["import", "wide", f.to_str().unwrap()]);
    db_ok(&db, &["import", "strict", f.to_str().unwrap()]);
    db
}

#[test]
fn single_queries_and_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let db = setup(dir.path());
    // Distance 12: only the list with threshold 31 matches.
    let o = matching(&db, &["--pdq", &moved(3)]);
    assert_eq!(o.status.code(), Some(1));
    let hits = lines(&o);
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0]["list"], "wide");
    assert_eq!(hits[0]["distance"], 12);
    assert_eq!(hits[0]["labels"], serde_json::json!(["entity:a"]));
    assert_eq!(hits[0]["external_id"], "x1");
    // The match record of `scan` and `match --file`: which hash of ours
    // hit, and from which view.
    assert_eq!(hits[0]["hit_by"], "pdq");
    assert_eq!(hits[0]["view"], "original");
    assert_eq!(hits[0]["hash"], moved(3));
    assert_eq!(hits[0]["signal_type"], "pdq");
    assert!(hits[0]["entry"].is_i64());
    // Exact: both lists.
    assert_eq!(lines(&matching(&db, &["--pdq", A])).len(), 2);
    // --threshold overrides, --list selects.
    assert_eq!(
        lines(&matching(&db, &["--pdq", &moved(3), "--threshold", "12"])).len(),
        2
    );
    assert_eq!(
        lines(&matching(&db, &["--pdq", &moved(3), "--threshold", "11"])).len(),
        0
    );
    let o = matching(&db, &["--pdq", A, "--list", "strict"]);
    assert_eq!(lines(&o).len(), 1);
    // Far away: no match, exit 0.
    let o = matching(&db, &["--pdq", &moved(12)]);
    assert_eq!((o.status.code(), lines(&o).len()), (Some(0), 0));
    // Digests.
    let o = matching(&db, &["--md5", &"ab".repeat(16)]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(lines(&o)[0]["signal_type"], "md5");
    assert_eq!(
        matching(&db, &["--sha256", &"00".repeat(32)]).status.code(),
        Some(0)
    );
    // Quality gate: a query below the lists' gate of 50 does not match.
    assert_eq!(
        matching(&db, &["--pdq", A, "--quality", "20"])
            .status
            .code(),
        Some(0)
    );
    // Errors: bad hex, unknown list, no query.
    for args in [
        &["--pdq", "xyz"][..],
        &["--md5", &"ab".repeat(15)][..],
        &["--pdq", A, "--list", "nope"][..],
        &[][..],
    ] {
        let o = matching(&db, args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(!String::from_utf8_lossy(&o.stderr).is_empty());
    }
}

#[test]
fn many_queries_in_input_order() {
    let dir = tempfile::tempdir().unwrap();
    let db = setup(dir.path());
    let queries = format!(
        "{}\n# comment\nmd5 {}\npdq {A}\nsha1 {}\n{},90\n",
        moved(12),
        "ab".repeat(16),
        "0".repeat(40),
        moved(3)
    );
    let qf = dir.path().join("q.txt");
    std::fs::write(&qf, &queries).unwrap();
    let o = matching(&db, &["--queries", qf.to_str().unwrap()]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "hits and a bad line: exit 3, neither hides the other"
    );
    let out = lines(&o);
    assert_eq!(out.len(), 5);
    let got: Vec<(u64, usize)> = out
        .iter()
        .map(|v| {
            (
                v["line"].as_u64().unwrap(),
                v["hits"].as_array().map_or(usize::MAX, |h| h.len()),
            )
        })
        .collect();
    assert_eq!(got, vec![(1, 0), (3, 2), (4, 2), (5, usize::MAX), (6, 1)]);
    assert!(out[3]["error"]
        .as_str()
        .unwrap()
        .contains("unknown signal type"));

    // From stdin, without the bad line: exit 1.
    let good: String = queries
        .lines()
        .filter(|l| !l.starts_with("sha1"))
        .map(|l| format!("{l}\n"))
        .collect();
    let mut child = Command::new(BIN)
        .args(["match", "--queries", "-", "--db"])
        .arg(&db)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(good.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(lines(&o).len(), 4);
}

#[test]
fn vpdq_videos() {
    let conf = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/conformance/vpdq"
    ));
    if !conf.exists() {
        fixtures::missing("../shared/conformance not found");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    db_ok(&db, &["list-create", "videos"]);
    let listed = conf.join("reference-1fps/pattern-sd-grey-bar.txt");
    db_ok(
        &db,
        &[
            "import",
            "videos",
            listed.to_str().unwrap(),
            "--label",
            "entity:pattern",
        ],
    );
    // The same video, hashed at every frame by the reference: a match.
    let o = matching(
        &db,
        &[
            "--vpdq",
            conf.join("reference-hashes/pattern-sd-grey-bar.txt")
                .to_str()
                .unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let h = &lines(&o)[0];
    assert_eq!(
        (
            h["signal_type"].as_str(),
            h["hit_by"].as_str(),
            h["vpdq"]["target_percent"].as_f64()
        ),
        (Some("vpdq"), Some("vpdq"), Some(100.0))
    );
    // An unrelated video: no match.
    let o = matching(
        &db,
        &[
            "--vpdq",
            conf.join("reference-hashes/chair-19-sd-bar.txt")
                .to_str()
                .unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(0));
    // A frame of the listed video as a PDQ query points at the entry and frame.
    let first = std::fs::read_to_string(&listed).unwrap();
    let mut f = first.lines().nth(2).unwrap().split(',');
    let frame: u64 = f.next().unwrap().parse().unwrap();
    let hash = f.nth(1).unwrap();
    let o = matching(&db, &["--pdq", hash]);
    let hits = lines(&o);
    assert_eq!(hits[0]["frames"][0]["frame"], frame);
    assert_eq!(hits[0]["signal_type"], "vpdq");
    // A truncated vPDQ query file is an error.
    let bad = dir.path().join("bad.txt");
    std::fs::write(&bad, "0,100,abc,0.0\n").unwrap();
    assert_eq!(
        matching(&db, &["--vpdq", bad.to_str().unwrap()])
            .status
            .code(),
        Some(2)
    );
}

/// One match record: a listed image found by `scan`, `match --file`,
/// `match --pdq`, `match --md5` and `match --queries` gives the same hit,
/// field for field (only `match --file` adds the file's `path`).
#[test]
fn every_way_of_matching_prints_the_same_record() {
    use crate::scan_support::{jpeg, md5_hex, parse, run_in, write};
    let dir = tempfile::tempdir().unwrap();
    let img = jpeg(7);
    write(&dir.path().join("a.jpg"), &img);
    let db = dir.path().join("h.db");
    db_ok(&db, &["list-create", "mine"]);
    let o = run_in(
        dir.path(),
        &[
            "db", "add", "mine", "--label", "entity:x", "a.jpg", "--db", "h.db",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let scan = parse(run_in(
        dir.path(),
        &[
            "scan",
            "a.jpg",
            "--db",
            "h.db",
            "--views",
            "none",
            "--no-state",
        ],
    ));
    let rec = scan.one("a.jpg");
    let by = |hits: &[serde_json::Value], by: &str| -> serde_json::Value {
        let found: Vec<_> = hits.iter().filter(|h| h["hit_by"] == by).collect();
        assert_eq!(found.len(), 1, "one {by} hit in {hits:?}");
        found[0].clone()
    };
    let scanned = rec["matches"].as_array().expect("matches").clone();
    let pdq_hit = by(&scanned, "pdq");
    let md5_hit = by(&scanned, "md5");
    assert_eq!(pdq_hit["labels"], serde_json::json!(["entity:x"]));
    let pdq = rec["pdq"][0]["hash"]
        .as_str()
        .expect("pdq hash")
        .to_string();
    let quality = rec["pdq"][0]["quality"].to_string();
    assert_eq!(pdq_hit["hash"], pdq.as_str());

    let mut file = lines(&matching(
        &db,
        &[
            "--file",
            &dir.path().join("a.jpg").to_string_lossy(),
            "--views",
            "none",
        ],
    ));
    for h in &mut file {
        assert!(h["path"].is_string(), "match --file names the file: {h}");
        h.as_object_mut().unwrap().remove("path");
    }
    assert_eq!(by(&file, "pdq"), pdq_hit);
    assert_eq!(by(&file, "md5"), md5_hit);

    let o = matching(&db, &["--pdq", &pdq, "--quality", &quality]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(lines(&o), vec![pdq_hit.clone()]);
    let o = matching(&db, &["--md5", &md5_hex(&img)]);
    assert_eq!(lines(&o), vec![md5_hit.clone()]);

    let q = dir.path().join("q.txt");
    std::fs::write(&q, format!("{pdq},{quality}\nmd5 {}\n", md5_hex(&img))).unwrap();
    let answers = lines(&matching(&db, &["--queries", q.to_str().unwrap()]));
    assert_eq!(answers.len(), 2);
    assert_eq!(answers[0]["hits"], serde_json::json!([pdq_hit]));
    assert_eq!(answers[1]["hits"], serde_json::json!([md5_hit]));
}
