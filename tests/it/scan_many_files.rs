//! Scale and moving targets: 100,000 files in one folder (every one
//! reported exactly once, memory bounded by the channels), and a file that
//! keeps growing while it is scanned (one record, no hang).

use crate::scan_support;

use scan_support::*;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[test]
fn hundred_thousand_files_in_one_folder() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big");
    std::fs::create_dir(&big).unwrap();
    const N: usize = 100_000;
    for i in 0..N {
        std::fs::write(big.join(format!("{i:06}.bin")), i.to_le_bytes()).unwrap();
    }
    let out = scan_cmd(dir.path())
        .args(["--no-state", "--threads", "2", "big"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut seen = HashSet::with_capacity(N);
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["bytes"], 8);
        assert!(seen.insert(v["path"].as_str().unwrap().to_string()));
    }
    assert_eq!(seen.len(), N);
    assert!(seen.contains("big/099999.bin"));
}

#[test]
fn a_file_growing_while_read_gets_one_record_and_no_hang() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("t");
    std::fs::create_dir(&t).unwrap();
    for i in 0..200u32 {
        std::fs::write(t.join(format!("f{i}")), i.to_le_bytes()).unwrap();
    }
    let growing = t.join("growing.log");
    std::fs::write(&growing, vec![b'x'; 1 << 20]).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let path = growing.clone();
        std::thread::spawn(move || {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
            let chunk = vec![b'y'; 64 << 10];
            let mut written = 0usize;
            while !stop.load(Ordering::Relaxed) && written < (512 << 20) {
                f.write_all(&chunk).unwrap();
                written += chunk.len();
            }
        })
    };
    let started = std::time::Instant::now();
    let out = scan_cmd(dir.path())
        .args(["--no-state", "--threads", "2", "t"])
        .output()
        .unwrap();
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    assert!(started.elapsed().as_secs() < 60, "scan took too long");
    let s = parse(out);
    s.assert_unique();
    assert_eq!(s.records.len(), 201);
    let g = s.one("t/growing.log");
    assert!(g["bytes"].as_u64().unwrap() >= 1 << 20, "{g}");
    assert!(g["md5"].is_string(), "the snapshot read is hashed: {g}");
    // If the growth was seen (it normally is), it is reported as an I/O
    // problem of that file, with its hashes kept.
    if !g["error"].is_null() {
        assert_eq!(g["error"]["kind"], "io", "{g}");
        assert_eq!(s.code, 2);
    }
}
