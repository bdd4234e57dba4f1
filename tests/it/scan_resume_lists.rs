//! A resumed run never replays records made against lists that changed
//! since, nor with other flags: it is refused, saying what changed; and
//! `hashsieve runs prune` deletes a run's state (paths, hashes, matches).

use crate::scan_support;

use scan_support::*;
use std::path::Path;
use std::process::{Command, Output};

fn scan(dir: &Path, extra: &[&str]) -> Scan {
    parse(
        scan_cmd(dir)
            .args(["media", "--db", "lists.db"])
            .args(extra)
            .output()
            .unwrap(),
    )
}

fn runs(dir: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .current_dir(dir)
        .env_remove("HASHSIEVE_DB")
        .arg("runs")
        .args(args)
        .args(["--db", "lists.db"])
        .output()
        .unwrap()
}

fn matched(s: &Scan, path: &str) -> bool {
    !s.one(path)["matches"].as_array().unwrap().is_empty()
}

fn run_names(dir: &Path) -> Vec<String> {
    let o = runs(dir, &["list"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["run"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[test]
fn changed_lists_and_flags_are_not_replayed_and_runs_can_be_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (a, b) = (png(11), png(12));
    write(&d.join("media/a.png"), &a);
    write(&d.join("media/b.png"), &b);
    make_db(&d.join("lists.db"), "known", &[("md5", md5_hex(&a))]);

    let first = scan(d, &["--resume", "r1"]);
    assert_eq!(first.code, 1, "{}", first.stderr);
    assert!(matched(&first, "media/a.png") && !matched(&first, "media/b.png"));
    // Unchanged lists, other presentation flags: replayed.
    let again = scan(d, &["--resume", "r1", "--threads", "1", "--matches-only"]);
    assert_eq!(again.code, 1, "{}", again.stderr);
    assert!(again.stderr.contains("resuming run r1"), "{}", again.stderr);

    // b becomes listed: r1's stored "no match" for b is stale.
    std::fs::write(d.join("b.txt"), format!("md5 {}\n", md5_hex(&b))).unwrap();
    let o = Command::new(bin())
        .current_dir(d)
        .args(["db", "import", "known", "b.txt", "--db", "lists.db"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stale = scan(d, &["--resume", "r1"]);
    assert_eq!(stale.code, 2, "{}", stale.stderr);
    assert!(
        stale.records.is_empty(),
        "nothing replayed: {}",
        stale.stdout
    );
    assert!(
        stale
            .stderr
            .contains("the hash lists changed since run \"r1\" recorded 2 files")
            && stale.stderr.contains("runs prune r1"),
        "{}",
        stale.stderr
    );

    // Pruned, the name starts afresh and b's record shows the new match.
    let o = runs(d, &["prune", "r1"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("\"run\":\"r1\""));
    assert!(run_names(d).is_empty());
    let fresh = scan(d, &["--resume", "r1"]);
    assert_eq!(fresh.code, 1, "{}", fresh.stderr);
    assert!(!fresh.stderr.contains("resuming"), "{}", fresh.stderr);
    assert!(matched(&fresh, "media/a.png") && matched(&fresh, "media/b.png"));

    // Other flags that change records: refused, naming them.
    let s = scan(
        d,
        &["--resume", "r1", "--views", "none", "--max-depth", "1"],
    );
    assert_eq!(s.code, 2, "{}", s.stderr);
    assert!(
        s.stderr
            .contains("--max-depth (was 3, now 1), --views (was all, now none)"),
        "{}",
        s.stderr
    );
    assert!(s.records.is_empty());

    // Pruning by age goes by a run's last write.
    let o = runs(d, &["prune", "--older-than", "2"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(run_names(d), vec!["r1"]);
    let c = rusqlite::Connection::open(d.join("lists.db.runs")).unwrap();
    c.execute(
        "UPDATE runs SET updated_at = updated_at - 3 * 86400, started_at = started_at - 3 * 86400",
        [],
    )
    .unwrap();
    drop(c);
    let o = runs(d, &["prune", "--older-than", "2"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(run_names(d).is_empty());
    // An unknown run is an error; a missing state file is never created.
    assert_eq!(runs(d, &["prune", "nope"]).status.code(), Some(2));
    let o = Command::new(bin())
        .current_dir(d)
        .args(["runs", "list", "--state", "none.runs"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(!d.join("none.runs").exists());
}
