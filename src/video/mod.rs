//! Video: vPDQ (PDQ of sampled frames) through FFmpeg.
//!
//! Shared hash lists hold vPDQ made by Meta's reference, so by default we
//! make the same choices it makes (frame rate, which decoded frames, RGB
//! conversion, luma, timestamps: see [`sampler`] and [`frames`]). A fast
//! mode for triage decodes keyframes only and is *not* conformant frame for
//! frame; it trades recall for speed (see [`FastMode`]).
//!
//! FFmpeg reads through the caller's reader (see [`avio`]) so the
//! cryptographic digests come from the same single read of the file.
//! Without the `video` cargo feature this module still exists and reports
//! videos as `unsupported`.

#[cfg(feature = "video")]
mod avio;
#[cfg(feature = "video")]
mod between;
#[cfg(feature = "video")]
mod decode;
#[cfg(feature = "video")]
mod frames;
#[cfg(feature = "video")]
mod huge_frames;
#[cfg(feature = "video")]
mod motion;
pub mod rate;
pub mod sampler;
#[cfg(feature = "video")]
pub mod tmk_frames;
#[cfg(feature = "video")]
mod tmk_scale;

use crate::error::ItemError;
use crate::hashing::reader::HashingReader;
use crate::pdq::PdqHasher;
use crate::record::FileRecord;
use std::io::{Read, Seek};
use std::time::Duration;

/// Ask the operating system, once, for what the fastest TMK scaling pass
/// needs: on Linux the AMX tile state, which a process must request
/// (`arch_prctl`) and which is refused once a seccomp filter forbids the
/// call or a thread's signal stack is too small for it. Call it early, on
/// the main thread (the decoder workers call it before their filter);
/// without it the first video asks, and a refusal only means the AVX-512
/// pass. Idempotent and cheap.
pub fn prepare_cpu() {
    #[cfg(all(feature = "video", target_arch = "x86_64"))]
    {
        tmk_scale::amx::available();
    }
}

/// A triage mode: decode less, hash the decoded frame nearest each
/// sampling time. Not the reference's frames: for triage, never for lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FastMode {
    /// Decode keyframes only: the cheapest (about 5x less CPU on short SD
    /// clips, about 24x on long 1080p), one hash per keyframe interval.
    Keyframes,
    /// Skip B-frames: about 1.8x less CPU, a hash within a frame or two of
    /// each sampling time.
    NoBFrames,
}

/// How videos are sampled and limited.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoOptions {
    /// Hash one frame every this many seconds (the reference's
    /// `seconds_per_hash`); 0 hashes every frame.
    pub seconds_per_hash: f64,
    /// Triage mode (see [`FastMode`]); `None` = conformant.
    pub fast: Option<FastMode>,
    /// Per-file wall-clock limit (`timeout` error).
    pub timeout: Option<Duration>,
    /// Longest video accepted, in seconds (`limit` error).
    pub max_duration: Option<f64>,
    /// Largest declared frame size, in pixels (`limit` error).
    pub max_pixels: u64,
    /// With all views: at most this many frames between two sampled ones
    /// are hashed too, for the query side (see
    /// [`sampler::EveryNth::between`]); 0 = none.
    pub between_per_period: u64,
    /// Threads per video: 1 decodes and hashes on the calling thread; more
    /// lets FFmpeg decode on that many threads and hashes on a separate
    /// thread; 0 picks for the machine.
    pub threads: usize,
    /// Also compute the video's TMK+PDQF from the same decode (conformant
    /// mode only: it needs every frame).
    pub tmk: bool,
}

impl Default for VideoOptions {
    fn default() -> Self {
        VideoOptions {
            seconds_per_hash: 1.0,
            fast: None,
            timeout: Some(Duration::from_secs(600)),
            max_duration: None,
            max_pixels: 8192 * 8192,
            between_per_period: sampler::DEFAULT_BETWEEN_PER_PERIOD,
            threads: 0,
            tmk: true,
        }
    }
}

/// Decode the video behind `reader` and fill `rec` (media facts and one
/// PDQ item per hashed frame; with `views` other than `None`, each item
/// also carries its frame's views: the dihedral hashes from the frame's
/// DCT and, with crops, `letterbox`: the bars found over all the sampled
/// frames trimmed off, see [`crate::views::letterbox`]). The hash of record
/// is the same with or without views.
///
/// FFmpeg reads only through `reader`, seeking it as it likes (it starts by
/// rewinding to the first byte). The library never prints: FFmpeg's log is
/// silenced.
///
/// # Errors
/// An [`ItemError`]: `decode` (damaged or unrecognised content, truncation,
/// no decodable frame), `unsupported` (no video stream, no decoder, or this
/// build has no video support), `limit` (declared size or duration over
/// the limits), `timeout` (wall clock), `io`. Facts and frames found before
/// the error stay in `rec`.
///
/// Threading: with `opts.threads != 1` a scoped hashing thread runs beside
/// the caller's thread for the duration of the call.
pub fn hash_video_into<R: Read + Seek>(
    reader: &mut HashingReader<R>,
    rec: &mut FileRecord,
    opts: &VideoOptions,
    views: crate::views::ViewSet,
    pdq: &mut PdqHasher,
) -> Result<(), ItemError> {
    #[cfg(feature = "video")]
    {
        decode::hash_video(reader, rec, opts, views, pdq)
    }
    #[cfg(not(feature = "video"))]
    {
        let _ = (reader, rec, opts, views, pdq);
        Err(ItemError::new(
            crate::error::ErrorKind::Unsupported,
            "this build has no video support; rebuild with `cargo build --features video` (needs the FFmpeg development libraries)",
        ))
    }
}

/// Decode the video behind `reader` as [`hash_video_into`] does and return
/// its TMK+PDQF frames: every 15 fps frame, packed 64x64 RGB24, in order,
/// duplicates included. For conformance tests against the ffmpeg CLI's
/// `-s 64:64 -pix_fmt rgb24 -r 15` output; the record is filled as usual.
///
/// # Errors
/// As [`hash_video_into`].
#[cfg(feature = "video")]
pub fn tmk_frames_into<R: Read + Seek>(
    reader: &mut HashingReader<R>,
    rec: &mut FileRecord,
    opts: &VideoOptions,
) -> Result<Vec<Vec<u8>>, ItemError> {
    let tap = tmk_frames::TmkTap::default();
    let mut pdq = PdqHasher::new();
    let opts = VideoOptions {
        tmk: true,
        ..opts.clone()
    };
    decode::hash_video_tapped(
        reader,
        rec,
        &opts,
        crate::views::ViewSet::None,
        &mut pdq,
        Some(tap.clone()),
    )?;
    let frames = std::mem::take(&mut *tap.lock().unwrap_or_else(|e| e.into_inner()));
    Ok(frames)
}
