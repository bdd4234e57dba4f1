//! The `ffmpeg` CLI for test fixtures: whether it is there, and running it
//! (quiet, overwriting) with a clear failure message.

// Each test crate uses what it needs of this module.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

/// Whether the `ffmpeg` CLI runs; when it does not, says so the one way
/// a missing fixture is reported ([`crate::fixtures::missing`]: skip
/// locally, fail in CI). Callers return when this is false.
pub fn require_ffmpeg() -> bool {
    let present = Command::new("ffmpeg")
        .arg("-version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !present {
        crate::fixtures::missing("the ffmpeg CLI");
    }
    present
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

/// `name` in `dir`: ffmpeg's `testsrc2` pattern (moving, textured: every
/// second looks different), 320x240 at 10 fps for `secs` seconds.
pub fn testsrc_video(dir: &Path, name: &str, secs: u32) {
    let src = format!("testsrc2=size=320x240:rate=10:duration={secs}");
    ffmpeg(
        dir,
        &["-f", "lavfi", "-i", &src, "-pix_fmt", "yuv420p", name],
    );
}

/// `out` in `dir`: the 320x240 video `input` letterboxed, 60 px black bars
/// above and below (a third of the 320x360 frame).
pub fn letterbox_video(dir: &Path, input: &str, out: &str) {
    ffmpeg(
        dir,
        &[
            "-i",
            input,
            "-vf",
            "pad=320:360:0:60:black",
            "-pix_fmt",
            "yuv420p",
            out,
        ],
    );
}
