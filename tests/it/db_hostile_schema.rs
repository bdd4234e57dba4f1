//! A hostile database file: objects that are not ours (a trigger that
//! deletes what an import adds, a view standing in for a table that makes a
//! scan hang) are refused on open, by name, before anything is read, run or
//! written.

use crate::scan_support;

use scan_support::*;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

const HEX: &str = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22";
const HEX2: &str = "0707f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22";

fn hashsieve(dir: &Path, args: &[&str]) -> Output {
    run_in(dir, args)
}

fn ok(dir: &Path, args: &[&str]) {
    let o = hashsieve(dir, args);
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A database made by the real binary: list `l` with one PDQ entry.
fn make(dir: &Path, name: &str) -> PathBuf {
    std::fs::write(dir.join("one.txt"), format!("{HEX}\n")).unwrap();
    ok(dir, &["db", "list-create", "l", "--db", name]);
    ok(dir, &["db", "import", "l", "one.txt", "--db", name]);
    dir.join(name)
}

fn entries(db: &Path) -> i64 {
    let c = rusqlite::Connection::open(db).unwrap();
    c.query_row("SELECT count(*) FROM entries", [], |r| r.get(0))
        .unwrap()
}

fn refused(o: &Output, needle: &str) {
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(e.contains(needle), "{e:?} lacks {needle:?}");
    assert!(!e.contains("panicked"), "{e}");
}

#[test]
fn a_trigger_that_is_not_ours_is_refused_and_never_fires() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = make(d, "t.db");
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch("CREATE TRIGGER wipe AFTER INSERT ON entries BEGIN DELETE FROM entries; END")
        .unwrap();
    drop(c);
    std::fs::write(d.join("two.txt"), format!("{HEX2}\n")).unwrap();
    let o = hashsieve(d, &["db", "import", "l", "two.txt", "--db", "t.db"]);
    refused(&o, r#"trigger "wipe" on "entries" (not ours)"#);
    assert!(String::from_utf8_lossy(&o.stderr).contains("t.db"));
    assert_eq!(entries(&db), 1, "the trigger never ran");
    for args in [
        &["match", "--db", "t.db", "--pdq", HEX][..],
        &["db", "lists", "--db", "t.db"][..],
        &["db", "export", "l", "--db", "t.db"][..],
    ] {
        refused(&hashsieve(d, args), r#"trigger "wipe""#);
    }
}

#[test]
fn a_view_in_place_of_a_table_is_refused_instead_of_hanging_the_scan() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = make(d, "v.db");
    write(&d.join("media/a.png"), &png(3));
    // A view that never returns a row and never ends, where the scan reads
    // the listed videos' frames.
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch(
        "DROP TABLE vpdq_frames;
         CREATE VIEW vpdq_frames AS
           WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n)
           SELECT x AS entry_id, x AS frame, 50 AS quality, zeroblob(32) AS hash, 0.0 AS timestamp
           FROM n WHERE x < 0;",
    )
    .unwrap();
    drop(c);
    let child = scan_cmd(d)
        .args(["media", "--db", "v.db", "--no-state"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (status, e) = wait_or_fail(child, 120, "scan hung on a view");
    assert_eq!(status.code(), Some(2), "{e}");
    assert!(
        e.contains(r#"view "vpdq_frames" (ours is a table)"#) && e.contains("v.db"),
        "{e}"
    );
    refused(
        &hashsieve(d, &["match", "--db", "v.db", "--pdq", HEX]),
        r#"view "vpdq_frames""#,
    );
}
