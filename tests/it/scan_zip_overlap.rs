//! Overlapping zip members (security issue, item 8): 1,000 central
//! directory entries pointing at one stored file made the scan read and
//! decode it 1,000 times. The first is read; every other one is refused
//! with a `limit` error before a byte of it is read.

use crate::hostile_support;
use crate::scan_support;

use hostile_support::*;
use scan_support::*;

#[test]
fn members_reusing_one_local_header_are_refused_after_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let picture = png(7);
    write(
        &dir.path().join("in/overlap.zip"),
        &zip_of_overlapping(&picture, 1000),
    );
    let mut cmd = scan_cmd(dir.path());
    cmd.args(["--no-state", "--format", "jsonl", "in"]);
    let run = run_measured(cmd);
    let s = parse(run.out);
    s.assert_unique();
    assert_eq!(s.code, 2, "{}", s.stderr);
    assert_eq!(s.records.len(), 1 + 1000, "{}", s.stderr);
    let first = s.one("in/overlap.zip!/copy0000.png");
    assert!(first["error"].is_null(), "{first}");
    assert_eq!(first["md5"], md5_hex(&picture));
    assert!(first["pdq"][0]["hash"].is_string());
    for i in 1..1000 {
        let r = s.one(&format!("in/overlap.zip!/copy{i:04}.png"));
        assert_eq!(r["error"]["kind"], "limit", "{r}");
        let msg = r["error"]["message"].as_str().unwrap();
        assert!(msg.contains("overlapping zip members"), "{msg}");
        assert!(r["md5"].is_null(), "refused members are not read: {r}");
    }
    // The archive itself is fine: its own record has no error.
    assert!(s.one("in/overlap.zip")["error"].is_null());
    assert!(run.elapsed.as_secs() < 30, "took {:?}", run.elapsed);
}
