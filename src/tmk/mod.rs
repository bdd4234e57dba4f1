//! TMK+PDQF hashes of videos, from frames: the per-frame PDQ float feature
//! (PDQF) of 64x64 RGB frames at 15 fps, fed to hashdb's TMK accumulator.
//!
//! What this module does not do (yet) is produce those frames: the
//! reference pipes them out of the `ffmpeg` CLI (`-s 64:64 -an -f rawvideo
//! -pix_fmt rgb24 -r 15`: swscale's bicubic scaling straight to 64x64
//! RGB, and the CLI's constant-frame-rate selection of whole frames), and
//! the hash is only the reference's when the frames are those very bytes
//! (see `../shared/conformance/tmk/README.md`). Given them,
//! [`TmkHasher`] writes the reference's `.tmk` byte for byte
//! (`tests/tmk_conformance.rs`).

mod frame;
mod stream;

pub use frame::{pdqf_feature, TmkFrameError, TmkHasher, FRAME_BYTES, FRAME_SIDE};
pub use stream::{hash_rgb24_stream, TmkStreamError};
