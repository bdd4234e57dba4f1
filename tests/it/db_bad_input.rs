//! Bad input to `hashsieve db`: every case is a clear error naming the
//! problem (and its line), and nothing is lost or half-written.

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_hashsieve");

fn run(db: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("db")
        .args(args)
        .arg("--db")
        .arg(db)
        .output()
        .expect("run hashsieve")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn entries(db: &Path) -> u64 {
    let o = run(db, &["stats", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["entries"]
                .as_u64()
                .unwrap()
        })
        .sum()
}

const GOOD: &str = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22";

/// Import `content` (as file `name`) into a fresh list; expect failure with
/// `needle` in the message and nothing imported; then `--skip-invalid`
/// imports the good lines.
fn rejects(name: &str, content: &str, needle: &str, good_lines: u64) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    assert!(run(&db, &["list-create", "l"]).status.success());
    let f = dir.path().join(name);
    std::fs::write(&f, content).unwrap();
    let o = run(&db, &["import", "l", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{name}: {}", stderr(&o));
    assert!(
        stderr(&o).contains(needle),
        "{name}: {:?} lacks {needle:?}",
        stderr(&o)
    );
    assert_eq!(
        entries(&db),
        0,
        "{name}: a failed import must change nothing"
    );
    let o = run(&db, &["import", "l", "--skip-invalid", f.to_str().unwrap()]);
    if good_lines > 0 {
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        assert!(stderr(&o).contains("skipped"), "{name}: {}", stderr(&o));
        assert_eq!(entries(&db), good_lines, "{name}");
    }
}

#[test]
fn malformed_hex_with_line_number() {
    let bad = format!("{GOOD}\n{}\n", GOOD.replace('f', "g"));
    rejects("a.txt", &bad, "line 2", 1);
}

#[test]
fn wrong_length() {
    rejects(
        "a.txt",
        &format!("{GOOD}\n\n{}\n", &GOOD[..62]),
        "line 3: bad PDQ hash: expected 64 hex digits, got 62",
        1,
    );
    rejects(
        "s.txt",
        &format!("md5 {}\nmd5 {}\n", "a".repeat(32), "a".repeat(31)),
        "line 2: bad md5 value: expected 32 hex digits",
        1,
    );
}

#[test]
fn unknown_signal_type() {
    rejects(
        "s.txt",
        &format!("pdq {GOOD}\nsha1 {}\n", "a".repeat(40)),
        "line 2: unknown signal type \"sha1\"",
        1,
    );
}

#[test]
fn csv_missing_column() {
    rejects(
        "a.csv",
        "signal_type,labels\npdq,x\n",
        "lacks the column \"signal_value\"",
        0,
    );
    rejects(
        "b.csv",
        &format!("signal_type,signal_value\npdq,{GOOD}\npdq,{GOOD},extra\n"),
        "line 3",
        1,
    );
}

#[test]
fn truncated_files() {
    // A vPDQ file cut in the middle of a hash.
    let v = format!("0,100,{GOOD},0.000\n30,100,{}", &GOOD[..17]);
    rejects("v.txt", &v, "line 2", 0);
    // A JSONL file cut in the middle of an object.
    let j = format!(
        "{{\"signal_type\":\"pdq\",\"value\":\"{GOOD}\"}}\n{{\"signal_type\":\"pdq\",\"val"
    );
    rejects("j.jsonl", &j, "line 2: bad JSON", 1);
}

#[test]
fn unknown_format_and_missing_list() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    let f = dir.path().join("x.txt");
    std::fs::write(&f, "hello world\n").unwrap();
    let o = run(&db, &["import", "nope", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("no list named \"nope\""),
        "{}",
        stderr(&o)
    );
    assert!(run(&db, &["list-create", "l"]).status.success());
    let o = run(&db, &["import", "l", f.to_str().unwrap()]);
    assert!(
        stderr(&o).contains("cannot tell the format"),
        "{}",
        stderr(&o)
    );
    let o = run(
        &db,
        &["import", "l", "--format", "nonsense", f.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn non_sqlite_and_corrupt_databases_are_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "not a database\n").unwrap();
    let o = run(&notes, &["list-create", "l"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("not a hashsieve database"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read(&notes).unwrap(), b"not a database\n");

    // A real database with its pages overwritten after the header.
    let db = dir.path().join("h.db");
    assert!(run(&db, &["list-create", "l"]).status.success());
    let f = dir.path().join("a.txt");
    std::fs::write(&f, format!("{GOOD}\n")).unwrap();
    assert!(run(&db, &["import", "l", f.to_str().unwrap()])
        .status
        .success());
    // Checkpoint the WAL into the main file, then damage it.
    let c = rusqlite::Connection::open(&db).unwrap();
    c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    drop(c);
    let mut bytes = std::fs::read(&db).unwrap();
    for b in bytes.iter_mut().skip(100) {
        *b = 0xa5;
    }
    std::fs::write(&db, &bytes).unwrap();
    for args in [&["stats"][..], &["import", "l", f.to_str().unwrap()][..]] {
        let o = run(&db, args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let e = stderr(&o);
        assert!(e.contains("hashsieve: error:") && e.contains("h.db"), "{e}");
        assert!(!e.contains("panicked"), "{e}");
    }
    assert_eq!(
        std::fs::read(&db).unwrap(),
        bytes,
        "a damaged database is never rewritten"
    );
}

#[test]
fn newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    assert!(run(&db, &["init"]).status.success());
    let c = rusqlite::Connection::open(&db).unwrap();
    c.pragma_update(None, "user_version", 99).unwrap();
    drop(c);
    let o = run(&db, &["lists"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("newer than this hashsieve supports"),
        "{}",
        stderr(&o)
    );
}
