//! Built without the `video` feature (`cargo test --no-default-features`):
//! a video still gets its own record, with its digests and an `unsupported`
//! error that says how to build with video, and images still work.
#![cfg(not(feature = "video"))]

use std::process::Command;

#[test]
fn videos_are_unsupported_and_say_how_to_enable_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    // An MP4 header is enough: the sniffer calls it a video from content.
    let mut mp4 = vec![0, 0, 0, 0x20];
    mp4.extend_from_slice(b"ftypisom\0\0\x02\0isomiso2avc1mp41");
    mp4.resize(4096, 0);
    std::fs::write(dir.path().join("v.mp4"), &mp4).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hashsieve"))
        .arg("hash")
        .arg(dir.path().join("v.mp4"))
        .output()
        .expect("run hashsieve");
    let line = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(line.trim()).expect("one JSON line");
    assert_eq!(v["media"], "video");
    assert_eq!(v["error"]["kind"], "unsupported");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("--features video"));
    assert!(v["md5"].is_string(), "digests are still computed");
    assert_eq!(out.status.code(), Some(2));
}
