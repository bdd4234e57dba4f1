//! TMK+PDQF hashes of videos, from frames: the per-frame PDQ float feature
//! (PDQF) of 64x64 RGB frames at 15 fps, fed to hashdb's TMK accumulator.
//!
//! The frames are the ones Meta's hasher pipes out of the `ffmpeg` CLI
//! (`-s 64:64 -an -f rawvideo -pix_fmt rgb24 -r 15`: swscale's bicubic
//! scaling straight to 64x64 RGB, and the CLI's constant-frame-rate choice
//! of whole frames). `hash`, `scan` and the rest make them from the decode
//! that feeds vPDQ (`crate::video::tmk_frames` and `crate::video::rate`),
//! byte for byte the CLI's (`tests/tmk_frames.rs`); [`hash_rgb24_stream`]
//! takes them from such a pipe. Either way [`TmkHasher`] writes the
//! reference's `.tmk` byte for byte (`tests/tmk_conformance.rs`).

mod frame;
mod stream;

pub use frame::{pdqf_feature, TmkFrameError, TmkHasher, FRAME_BYTES, FRAME_SIDE};
pub use stream::{hash_rgb24_stream, TmkStreamError};
