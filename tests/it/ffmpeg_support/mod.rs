//! The `ffmpeg` CLI for test fixtures: whether it is there, and running it
//! (quiet, overwriting) with a clear failure message.

// Each test crate uses what it needs of this module.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

pub fn have_ffmpeg() -> bool {
    Command::new("ffmpeg")
        .arg("-version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Run `ffmpeg -v error -y ARGS` in `dir`; panics with ffmpeg's message
/// when it fails.
pub fn ffmpeg(dir: &Path, args: &[&str]) {
    let out = Command::new("ffmpeg")
        .current_dir(dir)
        .args(["-v", "error", "-y"])
        .args(args)
        .output()
        .expect("run ffmpeg");
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
