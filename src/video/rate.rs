//! Which decoded frames become TMK's 15 fps frames: the ffmpeg CLI's own
//! constant-frame-rate rule for an output `-r 15`, as FFmpeg 5.1's
//! `fftools/ffmpeg.c` (`do_video_out`) applies it, re-stated here so the
//! frames come from our decode and not from an `ffmpeg` subprocess.
//!
//! Why a module of its own: TMK+PDQF hashes are only Meta's when the frames
//! are the ones Meta's hasher reads out of `ffmpeg ... -r 15 pipe:1`, and
//! that choice is a handful of float rules with sharp edges (a threshold of
//! 1.1 frames, `float` rounding to even, a 2^-17 nudge). Pure functions,
//! tested without FFmpeg here and against the CLI itself in
//! `tests/tmk_frames.rs`.
//!
//! Units are output frames (1/15 s). For each decoded frame the CLI knows
//! `x`, its presentation time ([`sync_ipts`]), and `d`, its duration
//! ([`frame_duration`]); `n` frames have been written so far. With
//! `delta0 = x - n` and `delta = delta0 + d`:
//!
//! * `delta0 < 0 < delta` ("clipping"): the frame is moved to `n`.
//! * (video-only files, the CLI's `vscfr`) the first frame written starts
//!   the output at `round(x)` instead of duplicating up to it.
//! * `delta < -1.1`: dropped. `delta > 1.1`: written `round(delta)` times,
//!   and when `delta0 > 1.1` the first `round(delta0 - 0.6)` of those are
//!   copies of the *previous* decoded frame (written or not). Otherwise once.
//! * At the end, the last decoded frame is written again the median of the
//!   last three "previous frame" counts (almost always 0).
//!
//! Rounding is `lrintf`/`llrintf`: the double is first rounded to `f32`,
//! then to the nearest integer, ties to even.

/// What to write for one decoded frame: `previous` copies of the frame
/// decoded before it, then `current` copies of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pick {
    pub previous: u64,
    pub current: u64,
}

impl Pick {
    pub fn total(&self) -> u64 {
        self.previous + self.current
    }
}

/// The CLI's `dts_error_threshold * 30` (3600 * 30): a frame that would
/// be written more often than this is skipped instead ("frame duplication
/// too large").
const MAX_DUPLICATES: i64 = 3600 * 30 * 30;

/// `llrintf` / `lrintf` of a double: rounded to `f32` first, then to the
/// nearest integer with ties to even (the C default rounding mode).
pub fn lrintf(x: f64) -> i64 {
    let r = (x as f32).round_ties_even();
    // `as` saturates; the CLI's values are small, and a NaN (never seen
    // here) becomes 0 rather than undefined behaviour.
    r as i64
}

/// `llrint` of a double (no `f32` step): ties to even.
fn llrint(x: f64) -> i64 {
    x.round_ties_even() as i64
}

/// A frame's presentation time in output frames, as the CLI computes it
/// (`adjust_frame_pts_to_encoder_tb`): `ticks` is the timestamp rescaled
/// (rounded to nearest) to units of 1/(15 * 2^16) s; the result is that
/// over 2^16 plus a nudge of 2^-17 away from zero ("avoid exact
/// midpoints"), and toward the negative side at exactly 0 (`FFSIGN(0)` is
/// -1). `None` (no timestamp) is the CLI's `AV_NOPTS_VALUE` as a double: a
/// frame so far in the past that it is always dropped.
pub fn sync_ipts(ticks: Option<i64>) -> f64 {
    match ticks {
        None => i64::MIN as f64,
        Some(t) => {
            let x = t as f64 / f64::from(1u32 << EXTRA_BITS);
            let sign = if x > 0.0 { 1.0 } else { -1.0 };
            x + sign * (1.0 / f64::from(1u32 << 17))
        }
    }
}

/// The extra precision bits the CLI gives the output time base 1/15:
/// `av_clip(29 - av_log2(15), 0, 16)` = 16.
pub const EXTRA_BITS: u32 = 16;

/// The output frame rate (TMK+PDQF's).
pub const OUTPUT_FPS: i32 = 15;

/// A decoded frame's duration in output frames, as the CLI computes it:
/// `15 / frame_rate` (the stream's guessed rate, `av_guess_frame_rate`),
/// capped at 1 when the stream has a start time, and replaced by
/// `lrintf(pkt_duration * time_base * 15)` when that is positive.
pub fn frame_duration(
    frame_rate: Option<(i32, i32)>,
    stream_has_start_time: bool,
    pkt_duration: i64,
    time_base: (i32, i32),
) -> f64 {
    let enc_tb = 1.0 / f64::from(OUTPUT_FPS);
    let mut duration = 0.0;
    if let Some((num, den)) = frame_rate.filter(|&(n, d)| n > 0 && d > 0) {
        duration = 1.0 / ((f64::from(num) / f64::from(den)) * enc_tb);
    }
    if stream_has_start_time {
        duration = duration.min(1.0 / (f64::from(OUTPUT_FPS) * enc_tb));
    }
    if time_base.1 != 0 {
        let tb = f64::from(time_base.0) / f64::from(time_base.1);
        let packet = lrintf(pkt_duration as f64 * tb / enc_tb);
        if packet > 0 {
            duration = packet as f64;
        }
    }
    duration
}

/// The CLI's output side for one video stream: how many frames were
/// written and the state its rule keeps between frames.
#[derive(Debug, Clone)]
pub struct CliRate {
    /// `vscfr`: the input file has exactly one stream (so the CLI picks
    /// `-vsync vscfr` over `cfr`): a late first frame starts the output
    /// late instead of being duplicated from 0.
    video_only: bool,
    /// The next output frame's number (`ost->sync_opts`).
    sync_opts: i64,
    /// Frames written (`ost->frame_number`).
    written: u64,
    /// The last three "previous frame" counts, newest first.
    last_previous: [i64; 3],
    /// Whether a decoded frame came before (`ost->last_frame` holds one).
    have_last: bool,
    /// The last frame hit the CLI's early return (see [`CliRate::frame`]).
    early_return: bool,
}

impl CliRate {
    /// `video_only`: the input file has a single stream (see the field).
    pub fn new(video_only: bool) -> Self {
        CliRate {
            video_only,
            sync_opts: 0,
            written: 0,
            last_previous: [0; 3],
            have_last: false,
            early_return: false,
        }
    }

    /// Frames written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The next decoded frame, at `x` ([`sync_ipts`]) lasting `duration`
    /// ([`frame_duration`]). The frame then becomes the "previous" one,
    /// except in the one case the CLI returns early (a duplication over
    /// [`MAX_DUPLICATES`]), which writes nothing and keeps the old one:
    /// the caller asks [`CliRate::keeps_previous`] after this call.
    pub fn frame(&mut self, x: f64, duration: f64) -> Pick {
        let mut delta0 = x - self.sync_opts as f64;
        let mut delta = delta0 + duration;
        let mut nb_frames: i64 = 1;
        let mut nb0_frames: i64 = 0;
        if delta0 < 0.0 && delta > 0.0 {
            // Clipping: the frame is moved to `n` (its duration shrinks by
            // as much, so `delta` is unchanged).
            delta0 = 0.0;
        }
        if self.video_only && self.written == 0 && delta0 >= 0.5 {
            // vscfr: no duplicates up to a late first frame (never after
            // clipping, which left delta0 at 0).
            delta = duration;
            delta0 = 0.0;
            self.sync_opts = llrint(x);
        }
        if delta < -1.1 {
            nb_frames = 0;
        } else if delta > 1.1 {
            nb_frames = lrintf(delta);
            if delta0 > 1.1 {
                nb0_frames = lrintf(delta0 - 0.6);
            }
        }
        nb0_frames = nb0_frames.min(nb_frames);
        self.last_previous = [nb0_frames, self.last_previous[0], self.last_previous[1]];
        self.early_return = nb_frames > MAX_DUPLICATES;
        if self.early_return {
            return Pick::default();
        }
        let nb_frames = nb_frames.max(0) as u64;
        let nb0_frames = nb0_frames.max(0) as u64;
        // With no frame before, every copy is of this one.
        let previous = if self.have_last { nb0_frames } else { 0 };
        self.sync_opts += nb_frames as i64;
        self.written += nb_frames;
        self.have_last = true;
        Pick {
            previous,
            current: nb_frames - previous,
        }
    }

    /// Whether the last [`CliRate::frame`] call kept the frame before it as
    /// the "previous" frame (the CLI's early return).
    pub fn keeps_previous(&self) -> bool {
        self.early_return
    }

    /// The end of the stream: how many more copies of the last decoded
    /// frame are written.
    pub fn finish(&mut self) -> u64 {
        if !self.have_last {
            return 0;
        }
        let [a, b, c] = self.last_previous;
        let n = median(a, b, c);
        self.have_last = false;
        if n <= 0 || n > MAX_DUPLICATES {
            return 0;
        }
        self.sync_opts += n;
        self.written += n as u64;
        n as u64
    }
}

/// `mid_pred`: the median of three.
fn median(a: i64, b: i64, c: i64) -> i64 {
    a.max(b).min(a.min(b).max(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ticks (1/(15 * 2^16) s) of frame `i` at `num/den` fps, as
    /// `av_rescale_q` rounds them.
    fn ticks(i: i64, num: i64, den: i64) -> i64 {
        let scale = 15 * 65536;
        let (a, b) = (i * den * scale, num);
        (a + b / 2) / b
    }

    /// The source frame of each output frame, for `frames` decoded frames
    /// at `num/den` fps, each lasting `duration`.
    fn select(frames: i64, num: i64, den: i64, duration: f64, video_only: bool) -> Vec<i64> {
        let mut rate = CliRate::new(video_only);
        let mut out = Vec::new();
        for i in 0..frames {
            let pick = rate.frame(sync_ipts(Some(ticks(i, num, den))), duration);
            out.extend(std::iter::repeat_n(i - 1, pick.previous as usize));
            out.extend(std::iter::repeat_n(i, pick.current as usize));
        }
        let last = rate.finish();
        out.extend(std::iter::repeat_n(frames - 1, last as usize));
        assert_eq!(rate.written(), out.len() as u64);
        out
    }

    #[test]
    fn thirty_fps_keeps_the_first_four_then_every_odd_frame() {
        // The README's rule on the sample videos: N frames give N/2 + 2.
        let d = frame_duration(Some((30, 1)), true, 512, (1, 15360));
        assert_eq!(d, 0.5, "lrintf(0.5) is 0: the frame-rate duration stays");
        let picked = select(564, 30, 1, d, false);
        assert_eq!(&picked[..8], &[0, 1, 2, 3, 5, 7, 9, 11]);
        assert_eq!(picked.len(), 284);
        assert_eq!(select(673, 30, 1, d, false).len(), 338);
        assert_eq!(select(120, 30, 1, d, false).len(), 62);
    }

    #[test]
    fn durations_follow_the_packet_when_it_rounds_to_a_frame() {
        // 25 fps: 0.6 of an output frame rounds to 1.
        assert_eq!(frame_duration(Some((25, 1)), true, 1, (1, 25)), 1.0);
        // No packet duration: 15/25.
        assert_eq!(frame_duration(Some((25, 1)), true, 0, (1, 25)), 0.6);
        // 10 fps: 1.5 capped at 1 only with a start time, and the packet
        // duration (lrintf(1.5) = 2, ties to even) wins over both.
        assert_eq!(frame_duration(Some((10, 1)), false, 0, (1, 10)), 1.5);
        assert_eq!(frame_duration(Some((10, 1)), true, 0, (1, 10)), 1.0);
        assert_eq!(frame_duration(Some((10, 1)), true, 1, (1, 10)), 2.0);
        // lrintf(2.5) is 2.
        assert_eq!(frame_duration(None, true, 1, (1, 6)), 2.0);
        assert_eq!(frame_duration(None, false, 0, (0, 0)), 0.0);
    }

    #[test]
    fn slower_sources_are_duplicated_and_gaps_repeat_the_previous_frame() {
        // 10 fps, each frame 2 output frames long by its packet
        // (lrintf(1.5) = 2): frames at 0, 1.5, 3, 4.5 output frames give
        // delta = 2, 1.5, 1, 1.5 (after clipping), so 2, 2, 1, 2 copies.
        let d = frame_duration(Some((10, 1)), true, 1, (1, 10));
        let picked = select(4, 10, 1, d, false);
        assert_eq!(picked, vec![0, 0, 1, 1, 2, 3, 3]);
        // A gap of 3 output frames after frame 0: delta0 = 2 > 1.1, so one
        // copy of the previous frame comes first.
        let mut rate = CliRate::new(false);
        assert_eq!(
            rate.frame(sync_ipts(Some(0)), 1.0),
            Pick {
                previous: 0,
                current: 1
            }
        );
        let pick = rate.frame(sync_ipts(Some(3 * 65536)), 1.0);
        assert_eq!(
            pick,
            Pick {
                previous: 1,
                current: 2
            }
        );
        assert_eq!(rate.written(), 4);
        // The median of the last three "previous" counts (1, 0, 0) is 0.
        assert_eq!(rate.finish(), 0);
    }

    #[test]
    fn a_late_start_is_duplicated_unless_the_file_is_video_only() {
        // First frame at 2 s: 30 output frames late; with its duration,
        // round(30.5 + 2^-17) = 31 copies.
        let late = sync_ipts(Some(30 * 65536));
        let mut cfr = CliRate::new(false);
        assert_eq!(cfr.frame(late, 0.5).total(), 31);
        let mut vscfr = CliRate::new(true);
        assert_eq!(vscfr.frame(late, 0.5).total(), 1);
        let next = sync_ipts(Some(30 * 65536 + 65536 / 2));
        assert_eq!(vscfr.frame(next, 0.5).total(), 1);
    }

    #[test]
    fn frames_without_a_timestamp_are_dropped() {
        let mut rate = CliRate::new(false);
        assert_eq!(rate.frame(sync_ipts(None), 0.5).total(), 0);
        assert_eq!(rate.frame(sync_ipts(Some(0)), 0.5).total(), 1);
    }

    #[test]
    fn sync_ipts_nudges_away_from_zero() {
        assert_eq!(sync_ipts(Some(0)), -1.0 / 131072.0);
        assert_eq!(sync_ipts(Some(65536)), 1.0 + 1.0 / 131072.0);
        assert_eq!(sync_ipts(Some(-65536)), -1.0 - 1.0 / 131072.0);
    }

    #[test]
    fn rounding_is_float_then_ties_to_even() {
        assert_eq!(lrintf(0.5), 0);
        assert_eq!(lrintf(1.5), 2);
        assert_eq!(lrintf(2.5), 2);
        // 2.4999999999 rounds to the float 2.5, then to 2; 2.50000001 to 3.
        assert_eq!(lrintf(2.499_999_999_9), 2);
        assert_eq!(lrintf(2.500_001), 3);
        assert_eq!(median(1, 0, 0), 0);
        assert_eq!(median(1, 2, 1), 1);
        assert_eq!(median(3, 1, 2), 2);
    }
}
