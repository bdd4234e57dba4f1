//! Which decoded frames get hashed, and the frame number and timestamp each
//! one reports.
//!
//! Why a module of its own: conformance with Meta's vPDQ hinges on these few
//! rules, so they are pure functions, tested without FFmpeg. The reference
//! (`vpdq` `filehasher.cpp`, read for this) counts the frames the decoder
//! *returns* (0-based, in output order), takes the frame rate from the
//! stream's `avg_frame_rate` (else `r_frame_rate`), hashes frame `n` when
//! `n % trunc(seconds_per_hash * fps) == 0` (a modulus of 0 becomes 1), and
//! reports `timestamp = (f32) n / (f32) fps`.

/// Frame rate as the reference picks it: the average rate when known, else
/// the real base rate. `None` when neither is usable.
pub fn frame_rate(avg: (i32, i32), real: (i32, i32)) -> Option<f64> {
    let pick = if avg.0 == 0 || avg.1 == 0 { real } else { avg };
    if pick.1 == 0 {
        return None;
    }
    let fps = pick.0 as f64 / pick.1 as f64;
    (fps.is_finite() && fps > 0.0).then_some(fps)
}

/// The conformant sampler: every `modulus`-th decoded frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EveryNth {
    modulus: u64,
    fps: f64,
}

impl EveryNth {
    /// `seconds_per_hash == 0` hashes every frame.
    pub fn new(seconds_per_hash: f64, fps: f64) -> Self {
        // The reference truncates to `int`; `as` saturates instead of
        // wrapping on absurd products, and a modulus of 0 becomes 1.
        let m = (seconds_per_hash * fps) as i64;
        EveryNth {
            modulus: m.max(1) as u64,
            fps,
        }
    }

    pub fn modulus(&self) -> u64 {
        self.modulus
    }

    /// Whether decoded frame `n` (0-based) is hashed.
    pub fn wants(&self, n: u64) -> bool {
        n.is_multiple_of(self.modulus)
    }

    /// Whether frame `n` is one of the frames between two hashed frames
    /// that the query side also hashes: every frame, or every k-th so that
    /// there are at most `per_period` a period (0: none). Query side
    /// only, never for lists: a clip cut at any point samples the scene
    /// out of phase with the listed video's once-a-second frames, and with
    /// motion even the next frame can be over 31 bits from the listed one
    /// (Meta's `chair-19` sample: one frame in 30 lands within 31 of each
    /// listed frame, and which one depends on where the clip was cut).
    pub fn between(&self, n: u64, per_period: u64) -> bool {
        if per_period == 0 {
            return false;
        }
        let step = self.modulus.div_ceil(per_period + 1).max(1);
        let r = n % self.modulus;
        r != 0 && r.is_multiple_of(step)
    }

    /// The timestamp the reference reports for frame `n`: computed in `f32`.
    pub fn timestamp(&self, n: u64) -> f64 {
        f64::from(n as f32 / self.fps as f32)
    }
}

/// Default of [`super::VideoOptions::between_per_period`]: every frame at
/// up to 31 fps with one sample a second.
pub const DEFAULT_BETWEEN_PER_PERIOD: u64 = 30;

/// The fast (triage) sampler: decoded keyframes, at most one per
/// `seconds_per_hash`, numbered by their presentation time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ByTime {
    seconds_per_hash: f64,
    fps: f64,
    next_due: f64,
}

impl ByTime {
    pub fn new(seconds_per_hash: f64, fps: f64) -> Self {
        ByTime {
            seconds_per_hash,
            fps,
            next_due: f64::NEG_INFINITY,
        }
    }

    /// Decide on a frame shown at `t` seconds: `Some(frame number)` when it is
    /// hashed (the number the frame would have in a full decode).
    pub fn take(&mut self, t: f64) -> Option<u64> {
        if !t.is_finite() || t < self.next_due {
            return None;
        }
        // Step from the due time, not from `t`, so sampling does not drift,
        // but never schedule into the past after a long gap.
        self.next_due = if self.next_due.is_finite() && t - self.next_due < self.seconds_per_hash {
            self.next_due + self.seconds_per_hash
        } else {
            t + self.seconds_per_hash
        };
        Some((t.max(0.0) * self.fps).round() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_rate_falls_back_to_the_real_rate() {
        assert_eq!(frame_rate((30, 1), (60, 1)), Some(30.0));
        assert_eq!(frame_rate((0, 0), (25, 1)), Some(25.0));
        assert_eq!(frame_rate((0, 1), (0, 1)), None);
        assert_eq!(frame_rate((0, 0), (0, 0)), None);
    }

    #[test]
    fn one_hash_per_second_at_30_fps() {
        let s = EveryNth::new(1.0, 30.0);
        let hashed: Vec<u64> = (0..100).filter(|&n| s.wants(n)).collect();
        assert_eq!(hashed, vec![0, 30, 60, 90]);
        assert_eq!(format!("{:.3}", s.timestamp(30)), "1.000");
    }

    #[test]
    fn ntsc_rates_truncate_like_the_reference() {
        // 29.97 fps: int(1 * 29.97) = 29.
        let s = EveryNth::new(1.0, 30000.0 / 1001.0);
        assert_eq!(s.modulus(), 29);
        // 0.5 s at 25 fps: int(12.5) = 12.
        assert_eq!(EveryNth::new(0.5, 25.0).modulus(), 12);
    }

    #[test]
    fn zero_seconds_or_slow_video_hashes_every_frame() {
        assert_eq!(EveryNth::new(0.0, 30.0).modulus(), 1);
        assert_eq!(EveryNth::new(1.0, 0.5).modulus(), 1);
        assert!((0..10).all(|n| EveryNth::new(0.0, 30.0).wants(n)));
    }

    #[test]
    fn between_frames_fill_each_period() {
        let s = EveryNth::new(1.0, 30.0);
        let b: Vec<u64> = (0..61).filter(|&n| s.between(n, 30)).collect();
        assert_eq!(b.len(), 58);
        assert!((0..200).all(|n| s.wants(n) != s.between(n, 30)));
        // Fewer asked for: evenly spaced, never more than asked.
        let b: Vec<u64> = (0..30).filter(|&n| s.between(n, 9)).collect();
        assert_eq!(b, vec![3, 6, 9, 12, 15, 18, 21, 24, 27]);
        assert!((0..30).filter(|&n| s.between(n, 14)).count() <= 14);
        assert!((0..90).all(|n| !s.between(n, 0)));
        // 60 fps: every other frame; 5 s at 30 fps: every fifth.
        let fast = EveryNth::new(1.0, 60.0);
        assert_eq!(
            (0..7).filter(|&n| fast.between(n, 30)).collect::<Vec<_>>(),
            vec![2, 4, 6]
        );
        let slow = EveryNth::new(5.0, 30.0);
        assert_eq!((0..151).filter(|&n| slow.between(n, 30)).count(), 29);
        // Every frame already sampled: nothing between.
        assert!((0..50).all(|n| !EveryNth::new(0.0, 30.0).between(n, 30)));
    }

    #[test]
    fn timestamps_are_f32_quotients() {
        let s = EveryNth::new(0.0, 30.0);
        assert_eq!(s.timestamp(1), f64::from(1f32 / 30f32));
        assert_eq!(format!("{:.3}", s.timestamp(2)), "0.067");
    }

    #[test]
    fn by_time_keeps_at_most_one_frame_per_period() {
        let mut s = ByTime::new(1.0, 30.0);
        let times = [0.0, 0.5, 1.0, 2.0, 2.2, 7.0, 7.9, 8.0];
        let taken: Vec<Option<u64>> = times.iter().map(|&t| s.take(t)).collect();
        assert_eq!(
            taken,
            vec![
                Some(0),
                None,
                Some(30),
                Some(60),
                None,
                Some(210),
                None,
                Some(240)
            ]
        );
        assert_eq!(s.take(f64::NAN), None);
    }
}
