//! Same content is hashed once per run, through the library API (so the
//! large-file threshold can be lowered to exercise the streamed path that
//! big videos take).

use crate::scan_support;

use hashsieve::progress::NullProgress;
use hashsieve::scan::{scan, ScanConfig, ScanEnv};
use scan_support::*;
use std::sync::atomic::AtomicBool;

#[test]
fn copies_of_an_image_and_of_a_large_video_are_hashed_once() {
    let Some(conf) = conformance() else { return };
    let dir = tempfile::tempdir().unwrap();
    let video = std::fs::read(conf.join("vpdq/videos/chair-19-sd-bar.mp4")).unwrap();
    let image = png(9);
    for sub in ["a", "b"] {
        write(&dir.path().join(format!("{sub}/clip.mp4")), &video);
        write(&dir.path().join(format!("{sub}/pic.png")), &image);
    }
    let cfg = ScanConfig {
        roots: vec![dir.path().join("a"), dir.path().join("b")],
        // One worker: the copies cannot be in flight at the same moment.
        threads: 1,
        // Everything above 1 KiB takes the streamed (large file) path.
        in_memory_max: 1024,
        ..ScanConfig::default()
    };
    let stop = AtomicBool::new(false);
    let mut lines = Vec::new();
    let summary = scan(
        &cfg,
        ScanEnv {
            matcher: None,
            progress: &NullProgress,
            stop: &stop,
            state: None,
        },
        &mut |l| {
            lines.push(l.value.clone());
            Ok(())
        },
    )
    .unwrap();
    assert_eq!(lines.len(), 4);
    let by = |name: &str| -> Vec<&serde_json::Value> {
        lines
            .iter()
            .filter(|v| v["path"].as_str().unwrap().ends_with(name))
            .collect()
    };
    let videos = by("clip.mp4");
    // Decided by the build, not by the product's answer: with video
    // support an `unsupported` record is a failure.
    if !cfg!(feature = "video") {
        assert_eq!(videos[0]["error"]["kind"], "unsupported");
        return;
    }
    assert_eq!(summary.deduplicated, 2, "{summary:?}");
    for pair in [videos, by("pic.png")] {
        assert_eq!(pair.len(), 2);
        assert_ne!(pair[0]["path"], pair[1]["path"]);
        assert_eq!(pair[0]["pdq"], pair[1]["pdq"]);
        assert_eq!(pair[0]["blake3"], pair[1]["blake3"]);
        assert!(!pair[0]["pdq"].as_array().unwrap().is_empty());
    }
}
