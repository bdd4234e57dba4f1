//! Archive member records are streamed (security issue, item 11): each
//! member cost about 2.7 KB of memory until its archive ended (300,000
//! members: 821 MB), and no record came out before the archive was done,
//! none at all after a Ctrl-C. Now a record is written as its member is
//! read, memory does not grow with the members, and a Ctrl-C inside an
//! archive keeps what was reported.

use crate::hostile_support;
use crate::scan_support;

use hostile_support::*;
use scan_support::*;
use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;

fn scan_tar(members: usize, extra: &[&str]) -> (Scan, Measured) {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("t.tar"), &tar_of_tiny(members));
    let mut cmd = scan_cmd(dir.path());
    cmd.args(["--format", "jsonl", "--threads", "1"])
        .args(extra)
        .arg("t.tar");
    let run = run_measured(cmd);
    let s = parse(run.out.clone());
    assert_eq!(s.code, 0, "{}", s.stderr);
    assert_eq!(s.records.len(), members + 1, "{}", s.stderr);
    s.assert_unique();
    // The archive's own record follows its members.
    assert_eq!(s.records.last().unwrap()["path"], "t.tar");
    assert_eq!(s.records.last().unwrap()["media"], "archive");
    (s, run)
}

#[test]
fn memory_does_not_grow_with_the_members_of_an_archive() {
    let (_, small) = scan_tar(2_000, &["--no-state"]);
    let (_, large) = scan_tar(20_000, &["--no-state"]);
    let (small_kib, large_kib) = (small.peak_rss_kib, large.peak_rss_kib);
    println!(
        "peak RSS: 2,000 members {} MiB, 20,000 members {} MiB",
        small_kib >> 10,
        large_kib >> 10
    );
    // Before: 2.7 KB a member, +47 MiB for the 18,000 more.
    assert!(
        large_kib < small_kib + (8 << 10),
        "2,000 members: {small_kib} KiB, 20,000: {large_kib} KiB"
    );
}

#[test]
fn archive_records_are_stored_for_resuming() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("t.tar"), &tar_of_tiny(20_000));
    let run = |dir: &std::path::Path| {
        let summary = dir.join("s.json");
        let s = parse(
            scan_cmd(dir)
                .args(["--format", "jsonl", "--resume", "r", "--state", "s.runs"])
                .arg("--summary-json")
                .arg(&summary)
                .arg("t.tar")
                .output()
                .unwrap(),
        );
        let sum: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
        (s, sum)
    };
    let (first, _) = run(dir.path());
    assert_eq!(first.records.len(), 20_001, "{}", first.stderr);
    let (again, sum) = run(dir.path());
    assert_eq!(sum["resumed_files"], 1, "{sum}");
    assert_eq!(again.stdout, first.stdout);
}

#[test]
fn ctrl_c_inside_an_archive_keeps_the_member_records_and_resume_reads_it_again() {
    let dir = tempfile::tempdir().unwrap();
    // 3,000 members (1 MB of records: past the report's 64 KiB buffer),
    // 512 MiB of zeros to digest, 3,000 more.
    write(
        &dir.path().join("a.tar.zst"),
        &tar_zst_with_slow_middle(3_000, 512 << 20),
    );
    let args = [
        "--format",
        "jsonl",
        "--threads",
        "1",
        "--max-ratio",
        "1000000",
        "--resume",
        "r",
        "--state",
        "s.runs",
        "a.tar.zst",
    ];
    let mut child = scan_cmd(dir.path())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    // A member's record is out while the archive is still being read.
    assert!(first.contains("a.tar.zst!/dir/m000000.txt"), "{first}");
    assert!(child.try_wait().unwrap().is_none(), "finished too early");
    // SIGINT, as Ctrl-C sends: the archive stops before its next member.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    let text = first + &rest;
    let paths: Vec<String> = text
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["path"].as_str().unwrap().to_string()
        })
        .collect();
    // Complete member records only, stopped before the second half at the
    // latest (digesting the zeros outlasts the signal), and no record for
    // the archive, which was not read to its end.
    assert!(!paths.is_empty() && paths.len() <= 3_001, "{}", paths.len());
    assert!(
        paths.iter().all(|p| p.starts_with("a.tar.zst!/")),
        "{paths:?}"
    );
    assert!(!paths.iter().any(|p| p.contains("m003000")));
    println!("{} member records before the stop", paths.len());

    // Resumed: the archive was not stored as done, so it is read again,
    // whole.
    let resumed = parse(scan_cmd(dir.path()).args(args).output().unwrap());
    // 2: big.bin is over --max-member-mib (only its digests are taken).
    assert_eq!(resumed.code, 2, "{}", resumed.stderr);
    assert_eq!(
        resumed.error_kind("a.tar.zst!/big.bin").as_deref(),
        Some("limit")
    );
    resumed.assert_unique();
    assert_eq!(resumed.records.len(), 6_002);
    assert_eq!(resumed.records.last().unwrap()["path"], "a.tar.zst");
}
