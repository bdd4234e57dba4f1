//! Video flags shared by the commands that hash media (`hash`, `scan`,
//! `db add`, `compare`): one definition, so every command samples and limits
//! videos the same way.

use hashsieve::escape::{escape, escape_display};
use hashsieve::record::FileRecord;
use hashsieve::video::{FastMode, VideoOptions};
use std::time::Duration;

/// Video sampling and limits.
#[derive(clap::Args, Debug, Clone)]
pub struct VideoArgs {
    /// Hash one video frame every this many seconds (vPDQ's
    /// `seconds_per_hash`; the frames are those Meta's reference picks).
    #[arg(long, default_value_t = 1.0, value_name = "SECONDS")]
    pub seconds_per_hash: f64,

    /// Hash every video frame (same as `--seconds-per-hash 0`).
    #[arg(long, conflicts_with = "seconds_per_hash")]
    pub every_frame: bool,

    /// Triage mode for huge archives: decode less, hash the decoded frame
    /// nearest each sampling time. NOT the reference's frames: use the
    /// default mode for anything you add to a list or report.
    /// `--fast` (= `--fast=keyframes`): keyframes only; about 5x less CPU
    /// than the default on short SD clips, about 24x on long 1080p video,
    /// but one hash per keyframe interval (typically 2-10 s), so a video
    /// rarely covers the 80 % of a listed video's once-a-second frames that a
    /// vPDQ match needs (Meta's samples, keyframes every 2 s: 52-57 %, no
    /// match). `--fast=no-b-frames`: skips B-frames; about 1.8x less CPU,
    /// a hash within a frame or two of each sampling time (Meta's samples:
    /// 78-100 % of the listed frames).
    #[arg(long, value_enum, num_args = 0..=1, require_equals = true, default_missing_value = "keyframes", value_name = "MODE")]
    pub fast: Option<FastArg>,

    /// Give up on a video after this many seconds of wall clock (`timeout`
    /// error); 0 = never.
    #[arg(long, default_value_t = 600.0, value_name = "SECONDS")]
    pub video_timeout: f64,

    /// Refuse videos longer than this many seconds (`limit` error), checked
    /// on the declared duration and again while decoding.
    #[arg(long, value_name = "SECONDS")]
    pub max_duration: Option<f64>,

    /// Refuse videos whose declared frame size is over this many pixels
    /// (`limit` error).
    #[arg(long, default_value_t = 8192 * 8192, value_name = "PIXELS")]
    pub max_frame_pixels: u64,

    /// With views (`all`, the default of `scan`, `match` and `serve`): hash
    /// up to N frames between two sampled ones too, for the query side only
    /// (never stored in a list). Every frame (the default, up to 30 fps)
    /// finds clips cut anywhere in fast-moving video, at a cost (HD frames are
    /// hashed averaged down; README, *Benchmarks*: all views cost 1.4x to
    /// 1.6x no views on HD, 1.7x on SD). Lower it for huge archives; 0 = none.
    #[arg(long, default_value_t = hashsieve::video::sampler::DEFAULT_BETWEEN_PER_PERIOD, value_name = "N")]
    pub between_frames: u64,

    /// Threads per video (0 = one per core): FFmpeg decodes on them and
    /// frames are hashed on a separate thread. 1 = everything on one thread.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub video_threads: usize,

    /// Do not compute videos' TMK+PDQF (Meta's whole-video hash, made from
    /// the same decode as vPDQ at about +5-10 % CPU). Never computed in
    /// `--fast` modes, which do not decode every frame.
    #[arg(long)]
    pub no_tmk: bool,
}

impl VideoArgs {
    /// The library's options for these flags.
    pub fn to_options(&self) -> anyhow::Result<VideoOptions> {
        let finite_non_negative = |v: f64| v.is_finite() && v >= 0.0;
        anyhow::ensure!(
            finite_non_negative(self.seconds_per_hash),
            "--seconds-per-hash must be a number >= 0"
        );
        anyhow::ensure!(
            finite_non_negative(self.video_timeout),
            "--video-timeout must be a number >= 0"
        );
        if let Some(d) = self.max_duration {
            anyhow::ensure!(d.is_finite() && d > 0.0, "--max-duration must be positive");
        }
        anyhow::ensure!(
            self.max_frame_pixels > 0,
            "--max-frame-pixels must be positive"
        );
        Ok(VideoOptions {
            seconds_per_hash: if self.every_frame {
                0.0
            } else {
                self.seconds_per_hash
            },
            fast: self.fast.map(|f| match f {
                FastArg::Keyframes => FastMode::Keyframes,
                FastArg::NoBFrames => FastMode::NoBFrames,
            }),
            timeout: (self.video_timeout > 0.0)
                .then(|| Duration::from_secs_f64(self.video_timeout)),
            max_duration: self.max_duration,
            max_pixels: self.max_frame_pixels,
            between_per_period: self.between_frames,
            threads: self.video_threads,
            tmk: !self.no_tmk,
        })
    }
}

/// How `hash` prints its records.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// One JSON object per file.
    Jsonl,
    /// The reference vPDQ text: `frame,quality,hash,timestamp` per hashed
    /// frame (timestamp with 3 decimals, as the reference writes it).
    Vpdq,
    /// TMK+PDQF: one `<name>.tmk` per video in `--output-dir` (the
    /// reference's file layout, read by Meta's tools); stdout lists the
    /// files written.
    Tmk,
}

impl OutputFormat {
    /// The text to print for `rec` (with its newlines). In `vpdq` format a
    /// file without frames prints nothing and is explained on stderr.
    pub fn render(self, rec: &FileRecord) -> String {
        match self {
            OutputFormat::Jsonl => rec.to_json_line() + "\n",
            // Written as files by `hash` itself.
            OutputFormat::Tmk => String::new(),
            OutputFormat::Vpdq => {
                // The path and the decoder's message are not ours.
                let path = escape(&rec.path);
                if let Some(e) = &rec.error {
                    eprintln!("hashsieve: {path}: {}", escape_display(e));
                } else if rec.media != hashsieve::record::Media::Video {
                    eprintln!("hashsieve: {path}: not a video ({}), no vPDQ", rec.media);
                }
                if rec.error.is_some() {
                    return String::new();
                }
                vpdq_text(rec)
            }
        }
    }
}

/// The frames of a video record in the reference's text format.
pub fn vpdq_text(rec: &FileRecord) -> String {
    let mut s = String::new();
    for p in rec.pdq.iter() {
        if let (Some(frame), Some(ts)) = (p.frame, p.timestamp) {
            s.push_str(&format!("{frame},{},{},{ts:.3}\n", p.quality, p.hash));
        }
    }
    s
}

/// `--fast` modes.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FastArg {
    /// Keyframes only.
    Keyframes,
    /// Skip B-frames.
    NoBFrames,
}
