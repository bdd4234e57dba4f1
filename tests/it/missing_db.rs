//! A mistyped `--db` is an error, never a new empty database: the commands
//! that read lists refuse a missing database (exit 2, naming the path, and
//! nothing is created), and `match` and `scan` refuse one with no enabled
//! list unless `--allow-empty`. The commands that set a database up still
//! create it.

use crate::scan_support;
use crate::serve_support;

use scan_support::*;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const HEX: &str = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22";

fn run(dir: &Path, args: &[&str]) -> Output {
    run_in(dir, args)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Files in `dir` (names), to show nothing was created.
fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn refused(o: &Output, needle: &str) {
    let e = stderr(o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(e.contains(needle), "{e:?} lacks {needle:?}");
}

#[test]
fn a_missing_database_is_refused_and_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("media")).unwrap();
    write(&d.join("media/a.png"), &png(1));
    let before = files(d);
    let commands: &[&[&str]] = &[
        &["match", "--db", "typo.db", "--pdq", HEX],
        &["match", "--db", "typo.db", "--file", "media/a.png"],
        &["scan", "--db", "typo.db", "media", "--no-state"],
        &["db", "lists", "--db", "typo.db"],
        &["db", "stats", "--db", "typo.db"],
        &["db", "export", "l", "--db", "typo.db"],
        &["db", "show", "1", "--db", "typo.db"],
        &["db", "enable", "l", "--db", "typo.db"],
        &["db", "list-delete", "l", "--yes", "--db", "typo.db"],
        &["db", "allow", "list", "--db", "typo.db"],
    ];
    for args in commands {
        let o = run(d, args);
        refused(&o, "typo.db");
        assert!(!stderr(&o).contains("panicked"), "{args:?}");
        assert_eq!(files(d), before, "{args:?} created a file");
    }
    // The same through $HASHSIEVE_DB and the default ./hashsieve.db.
    let o = Command::new(bin())
        .current_dir(d)
        .env("HASHSIEVE_DB", d.join("typo2.db"))
        .args(["match", "--pdq", HEX])
        .output()
        .unwrap();
    refused(&o, "typo2.db");
    refused(&run(d, &["match", "--pdq", HEX]), "hashsieve.db");
    // An empty file (what `touch` leaves) is no database either.
    std::fs::write(d.join("touched.db"), b"").unwrap();
    refused(
        &run(d, &["match", "--db", "touched.db", "--pdq", HEX]),
        "touched.db",
    );
    assert_eq!(std::fs::metadata(d.join("touched.db")).unwrap().len(), 0);
}

#[test]
fn serve_refuses_a_missing_database() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let child = Command::new(bin())
        .current_dir(d)
        .args(["serve", "--db", "typo.db", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (status, e) = wait_or_fail(child, 30, "serve started on a missing database");
    assert_eq!(status.code(), Some(2), "{e}");
    assert!(e.contains("typo.db"), "{e}");
    assert!(files(d).is_empty(), "{:?}", files(d));
}

#[test]
fn a_database_without_an_enabled_list_is_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(&d.join("media/a.png"), &png(1));
    write(&d.join("media/b.png"), &png(2));
    // Setting a database up still creates it.
    let o = run(d, &["db", "init", "--db", "empty.db"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let scan = |extra: &[&str]| {
        parse(
            scan_cmd(d)
                .args(["media", "--db", "empty.db", "--no-state"])
                .args(extra)
                .output()
                .unwrap(),
        )
    };
    let s = scan(&[]);
    assert_eq!(s.code, 2, "{}", s.stderr);
    assert!(
        s.stderr.contains("empty.db") && s.stderr.contains("no enabled list"),
        "{}",
        s.stderr
    );
    assert!(s.records.is_empty());
    let s = scan(&["--allow-empty"]);
    assert_eq!(s.code, 0, "{}", s.stderr);
    assert_eq!(s.records.len(), 2);
    refused(
        &run(d, &["match", "--db", "empty.db", "--pdq", HEX]),
        "no enabled list",
    );
    let o = run(
        d,
        &["match", "--db", "empty.db", "--pdq", HEX, "--allow-empty"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // A list that is disabled matches nothing either.
    let o = run(d, &["db", "list-create", "off", "--db", "off.db"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(d, &["db", "disable", "off", "--db", "off.db"]);
    assert!(o.status.success(), "{}", stderr(&o));
    refused(
        &run(d, &["match", "--db", "off.db", "--pdq", HEX]),
        "no enabled list",
    );
    let o = run(d, &["db", "enable", "off", "--db", "off.db"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(d, &["match", "--db", "off.db", "--pdq", HEX]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn serve_starts_on_a_database_without_lists() {
    // Lists can be created through its API: allowed, as documented.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("empty.db");
    let o = run(dir.path(), &["db", "init", "--db", db.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = serve_support::Server::start(&db, &[]);
    assert_eq!(s.get("/healthz", None).status, 200);
}
