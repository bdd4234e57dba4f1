//! Tar extension headers are bounded (security issue, item 12): a GNU
//! long name or a PAX header was read whole, whatever its size (a 400 MB
//! name: 2.2 GB of memory, 2.5 minutes, a 400 MB path in the report).
//! Now a name over 4096 bytes or a PAX header over 1 MiB streams past
//! unread and the member it describes gets a `limit` error; the rest of
//! the archive is read.

use crate::hostile_support;
use crate::scan_support;

use hostile_support::*;
use scan_support::*;

#[test]
fn a_50_mb_gnu_long_name_and_a_2_mib_pax_header_are_refused_without_reading_them() {
    let dir = tempfile::tempdir().unwrap();
    write_tar_with_huge_headers(&dir.path().join("t.tar"), 50_000_000, 2 << 20);
    let mut cmd = scan_cmd(dir.path());
    cmd.args(["--no-state", "--format", "jsonl", "t.tar"]);
    let run = run_measured(cmd);
    let s = parse(run.out);
    assert_eq!(s.code, 2, "{}", s.stderr);
    s.assert_unique();
    assert_eq!(s.records.len(), 5, "{}", s.stdout);
    let long = s.one("t.tar!/long-name-member");
    assert_eq!(long["error"]["kind"], "limit", "{long}");
    let msg = long["error"]["message"].as_str().unwrap();
    assert!(msg.contains("GNU long name of 50000000 bytes"), "{msg}");
    let pax = s.one("t.tar!/pax-member");
    assert_eq!(pax["error"]["kind"], "limit", "{pax}");
    let msg = pax["error"]["message"].as_str().unwrap();
    assert!(msg.contains("PAX header of 2097152 bytes"), "{msg}");
    for ok in ["t.tar!/before.txt", "t.tar!/after.txt", "t.tar"] {
        assert!(s.one(ok)["error"].is_null(), "{}", s.one(ok));
    }
    // No 50 MB path in the report, no 50 MB name in memory.
    assert!(
        s.stdout.len() < 10_000,
        "{} bytes of report",
        s.stdout.len()
    );
    println!(
        "peak RSS {} MiB in {:.2} s",
        run.peak_rss_kib >> 10,
        run.elapsed.as_secs_f64()
    );
    assert!(
        run.peak_rss_kib < 100 << 10,
        "peak RSS {} MiB",
        run.peak_rss_kib >> 10
    );
    assert!(run.elapsed.as_secs() < 30, "took {:?}", run.elapsed);
}
