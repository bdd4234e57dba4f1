//! Decoders in sandboxed worker processes (security issue, item 13): a
//! decoder that crashes, aborts, hangs, spins or runs out of memory costs
//! its file one error record; the scan goes on with a fresh worker and
//! every other file is hashed exactly as in-process.
//!
//! The crashes are injected by the worker itself (debug builds only, see
//! `src/sandbox/worker.rs`): a file holding `MARKER:abort` and the like.

use crate::scan_support;

use scan_support::*;
use std::path::Path;
use std::process::Command;

const MARKER: &str = "HASHSIEVE-TEST-CRASH";

/// A PNG that decodes in-process, with the crash order appended (after
/// IEND, where decoders do not look).
fn png_with(seed: u64, order: &str) -> Vec<u8> {
    let mut v = png(seed);
    v.extend_from_slice(format!("{MARKER}:{order}").as_bytes());
    v
}

fn scan_with(dir: &Path, extra: &[&str]) -> Scan {
    let mut cmd: Command = scan_cmd(dir);
    cmd.env("HASHSIEVE_TEST_CRASH_MARKER", MARKER)
        .args(["--no-state", "--format", "jsonl"])
        .args(extra)
        .arg("in");
    parse(cmd.output().unwrap())
}

/// The fields a record is compared on between runs (not the error).
fn hashes(r: &serde_json::Value) -> String {
    format!(
        "{} {} {} {} {}",
        r["media"], r["md5"], r["width"], r["pdq"], r["views"]
    )
}

#[test]
fn a_crashing_decoder_costs_one_file_and_the_scan_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for i in 0..6 {
        write(&d.join(format!("in/ok{i}.png")), &png(i));
    }
    write(&d.join("in/ok.jpg"), &jpeg(3));
    let abort = png_with(100, "abort");
    let segv = png_with(101, "segv");
    write(&d.join("in/abort.png"), &abort);
    write(&d.join("in/segv.png"), &segv);
    // Inside an archive too: the member gets the record, the archive goes on.
    let member = png_with(102, "abort");
    let zip = zip_of(&[("x/crash.png", &member), ("x/fine.png", &png(7))]);
    write(&d.join("in/a.zip"), &zip);

    let s = scan_with(d, &["--threads", "2"]);
    s.assert_unique();
    // Errors and no match: exit 2, as the README says.
    assert_eq!(s.code, 2, "{}", s.stderr);
    for (name, data, signal) in [
        ("in/abort.png", &abort, "SIGABRT"),
        ("in/segv.png", &segv, "SIGSEGV"),
    ] {
        let r = s.one(name);
        assert_eq!(r["error"]["kind"], "crash", "{r}");
        let msg = r["error"]["message"].as_str().unwrap();
        assert!(msg.contains(signal), "{msg}");
        // The digests, from the parent's own read, are still there.
        assert_eq!(r["md5"], md5_hex(data), "{r}");
        assert_eq!(r["media"], "image");
        assert_eq!(r["bytes"], data.len());
    }
    let r = s.one("in/a.zip!/x/crash.png");
    assert_eq!(r["error"]["kind"], "crash", "{r}");
    assert_eq!(r["md5"], md5_hex(&member));
    assert!(s.one("in/a.zip!/x/fine.png")["error"].is_null());
    assert!(s.one("in/a.zip")["error"].is_null());

    // Every other file: the same record as in-process.
    let plain = scan_with(d, &["--no-sandbox", "--threads", "2"]);
    let mut compared = 0;
    for r in &s.records {
        let p = r["path"].as_str().unwrap();
        if p.contains("crash") || p.contains("abort") || p.contains("segv") {
            continue;
        }
        assert!(r["error"].is_null(), "{r}");
        assert_eq!(hashes(r), hashes(plain.one(p)), "{p}");
        compared += 1;
    }
    assert_eq!(compared, 9);
    // In-process, the orders are never read: those files decode.
    assert!(plain.one("in/abort.png")["error"].is_null());
    // The summary counts the crashes by kind.
    assert!(s.stderr.contains("crash"), "{}", s.stderr);
}

#[test]
fn matches_and_a_crash_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let listed = png(5);
    write(&d.join("in/listed.png"), &listed);
    write(&d.join("in/crash.png"), &png_with(6, "segv"));
    make_db(&d.join("h.db"), "L", &[("md5", md5_hex(&listed))]);
    let s = scan_with(d, &["--db", "h.db"]);
    assert_eq!(s.code, 3, "{}", s.stderr);
    assert_eq!(s.error_kind("in/crash.png").as_deref(), Some("crash"));
    assert_eq!(s.one("in/listed.png")["matches"][0]["list"], "L");
}

#[test]
fn a_hung_decoder_is_killed_at_its_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(&d.join("in/hang.png"), &png_with(1, "hang"));
    write(&d.join("in/ok.png"), &png(2));
    let t = std::time::Instant::now();
    let s = scan_with(d, &["--sandbox-timeout-secs", "2", "--threads", "2"]);
    assert!(t.elapsed().as_secs() < 30, "{:?}", t.elapsed());
    assert_eq!(s.code, 2, "{}", s.stderr);
    let r = s.one("in/hang.png");
    assert_eq!(r["error"]["kind"], "timeout", "{r}");
    assert!(r["error"]["message"].as_str().unwrap().contains("killed"));
    assert!(s.one("in/ok.png")["error"].is_null());
}

#[test]
fn cpu_and_memory_limits_end_a_worker_not_the_scan() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(&d.join("in/spin.png"), &png_with(1, "spin"));
    write(&d.join("in/alloc.png"), &png_with(2, "alloc"));
    write(&d.join("in/ok.png"), &png(3));
    let s = scan_with(
        d,
        &[
            "--sandbox-cpu-secs",
            "1",
            "--sandbox-memory-mib",
            "256",
            "--sandbox-timeout-secs",
            "60",
        ],
    );
    assert_eq!(s.code, 2, "{}", s.stderr);
    let r = s.one("in/spin.png");
    assert_eq!(r["error"]["kind"], "crash", "{r}");
    let msg = r["error"]["message"].as_str().unwrap();
    assert!(msg.contains("SIGXCPU") || msg.contains("SIGKILL"), "{msg}");
    let r = s.one("in/alloc.png");
    assert_eq!(r["error"]["kind"], "crash", "{r}");
    assert!(s.one("in/ok.png")["error"].is_null());
}

#[test]
fn the_worker_cannot_open_files_connect_or_fork() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The worker tries (and would abort on success), then hashes as usual.
    write(&d.join("in/escape.png"), &png_with(1, "escape"));
    let s = scan_with(d, &[]);
    assert_eq!(s.code, 0, "{}", s.stderr);
    let r = s.one("in/escape.png");
    assert!(r["error"].is_null(), "{r}");
    assert!(r["pdq"][0]["hash"].is_string());
}

#[test]
fn no_sandbox_hashes_in_process() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(&d.join("in/a.png"), &png(1));
    let s = scan_with(d, &["--no-sandbox"]);
    assert_eq!(s.code, 0, "{}", s.stderr);
    assert!(s.one("in/a.png")["pdq"][0]["hash"].is_string());
}
