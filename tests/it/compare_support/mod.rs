//! `hashsieve compare --json` through the real binary, shared by the
//! video comparison tests.

use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// `hashsieve compare --json [flags] A B` as JSON; the exit code must be 0
/// or 1 and agree with the printed verdict.
pub fn compare_json(a: &Path, b: &Path, flags: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_hashsieve"))
        .arg("compare")
        .arg("--json")
        .args(flags)
        .arg(a)
        .arg(b)
        .output()
        .expect("run hashsieve");
    let code = out.status.code();
    assert!(
        code == Some(0) || code == Some(1),
        "compare {} {}: {}",
        a.display(),
        b.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("compare prints JSON");
    assert_eq!(
        code == Some(1),
        v["match"] == true,
        "exit code agrees with the verdict"
    );
    v
}
