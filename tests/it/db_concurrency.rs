//! Several processes on one database: a writer waits for another's lock up
//! to the busy timeout and then fails clearly; two imports at once both land.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_hashsieve");

fn cmd(db: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.arg("db").args(args).arg("--db").arg(db);
    c
}

fn run(db: &Path, args: &[&str]) -> Output {
    cmd(db, args).output().expect("run hashsieve")
}

fn hex(seed: u64) -> String {
    let mut z = seed;
    (0..4)
        .map(|_| {
            z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let x = (z ^ (z >> 31)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            format!("{:016x}", x ^ (x >> 29))
        })
        .collect()
}

#[test]
fn locked_database_waits_then_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    assert!(run(&db, &["init"]).status.success());
    // Another process (here: this test) holds the write lock.
    let holder = rusqlite::Connection::open(&db).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    // Readers are not blocked by a writer (WAL).
    let o = run(&db, &["stats", "--busy-timeout", "100"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = Command::new(BIN)
        .args([
            "match",
            "--allow-empty",
            "--md5",
            &"00".repeat(16),
            "--busy-timeout",
            "100",
            "--db",
        ])
        .arg(&db)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let t = Instant::now();
    let o = run(&db, &["list-create", "l", "--busy-timeout", "400"]);
    let waited = t.elapsed();
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("locked by another process"), "{e}");
    assert!(
        waited >= Duration::from_millis(400),
        "gave up after {waited:?}"
    );
    // Released within the timeout: the writer waits and succeeds.
    let child = cmd(&db, &["list-create", "l", "--busy-timeout", "10000"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    holder.execute_batch("COMMIT").unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn two_imports_at_once_both_land() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    assert!(run(&db, &["list-create", "l"]).status.success());
    // 6,000 hashes each, 2,000 of them in both files.
    let a: String = (0..6000).map(|i| format!("{}\n", hex(i))).collect();
    let b: String = (4000..10000).map(|i| format!("{}\n", hex(i))).collect();
    let fa = dir.path().join("a.txt");
    let fb = dir.path().join("b.txt");
    std::fs::write(&fa, a).unwrap();
    std::fs::write(&fb, b).unwrap();
    let pa = cmd(&db, &["import", "l", fa.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pb = cmd(&db, &["import", "l", fb.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let oa = pa.wait_with_output().unwrap();
    let ob = pb.wait_with_output().unwrap();
    assert!(
        oa.status.success(),
        "{}",
        String::from_utf8_lossy(&oa.stderr)
    );
    assert!(
        ob.status.success(),
        "{}",
        String::from_utf8_lossy(&ob.stderr)
    );
    let added = |o: &Output| -> u64 {
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["added"].as_u64().unwrap()
    };
    // Whichever ran second found the 2,000 shared hashes already there.
    assert_eq!(added(&oa) + added(&ob), 10_000);
    let o = run(&db, &["stats", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["entries"], 10_000);
    let export = run(&db, &["export", "l", "--format", "pdq"]);
    let mut lines: Vec<&str> = std::str::from_utf8(&export.stdout)
        .unwrap()
        .lines()
        .collect();
    lines.sort_unstable();
    lines.dedup();
    assert_eq!(lines.len(), 10_000);
}
