//! TMK accumulation: frame features in, one [`TmkHash`] out. Pure math; the
//! frames and their features come from the caller (hashsieve's `tmk`
//! module computes PDQF from 64x64 RGB frames).
//!
//! Per frame `t` (0, 1, 2, ... in 15 fps frames) with feature `f`:
//! the raw `f` is added to the pure average; `g = f / |f|` is added to
//! every `C[p][0]`, and `g cos(2 pi j t / T_p)`, `g sin(...)` to
//! `C[p][j]`, `S[p][j]` for j >= 1. At the end the average is divided by
//! the frame count and every `C`, `S` vector is L2-normalised and scaled by
//! `sqrt(a_j)`. Every step keeps the reference's float order (noted where
//! it matters), which makes the result byte-identical to its `.tmk` given
//! the same features.

use super::error::FeatureError;
use super::file::{TmkHash, VECTORS};
use super::params::{Feature, FEATURE_DIM, FOURIER_COEFFICIENTS, NUM_COEFFICIENTS, PERIODS};
use super::vecmath::normalize;

/// Largest feature magnitude accepted. PDQF values of 8-bit pixels stay
/// below 255 * 64 * 2 (about 3.3e4); this bound keeps every float32 sum
/// finite for any number of frames a video can have.
pub const MAX_FEATURE_ABS: f32 = 1e9;

/// Sums of a video's frame features so far. Not `Sync`-bound; one per
/// video being hashed.
#[derive(Clone)]
pub struct TmkAccumulator {
    frames: u64,
    pure_average: Feature,
    /// Index `period * NUM_COEFFICIENTS + j`, as in [`TmkHash`].
    cos: Vec<Feature>,
    sin: Vec<Feature>,
}

impl Default for TmkAccumulator {
    fn default() -> Self {
        Self::new()
    }
}

impl TmkAccumulator {
    pub fn new() -> Self {
        TmkAccumulator {
            frames: 0,
            pure_average: [0.0; FEATURE_DIM],
            cos: vec![[0.0; FEATURE_DIM]; VECTORS],
            sin: vec![[0.0; FEATURE_DIM]; VECTORS],
        }
    }

    /// Frames added so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Count the next `n` frames as frames whose feature is zero: they add
    /// nothing to any sum (a zero feature stays zero when normalised), so
    /// only the time of the frames after them moves. A query-side view
    /// that has no picture for some frames (see hashsieve's letterbox
    /// TMK) keeps its other frames at their own times this way; the
    /// scores are unchanged by the count (level-1 is a cosine and every
    /// `C`, `S` vector is normalised).
    pub fn skip(&mut self, n: u64) {
        self.frames += n;
    }

    /// Add the feature of the next 15 fps frame. A value that is NaN,
    /// infinite or beyond [`MAX_FEATURE_ABS`] is refused and nothing is
    /// added, so the hash stays finite.
    pub fn push(&mut self, feature: &Feature) -> Result<(), FeatureError> {
        if let Some((index, &value)) = feature
            .iter()
            .enumerate()
            .find(|(_, v)| v.is_nan() || v.abs() > MAX_FEATURE_ABS)
        {
            return Err(FeatureError::OutOfRange {
                index,
                value,
                max: MAX_FEATURE_ABS,
            });
        }
        let t = self.frames as f64;
        for (s, &f) in self.pure_average.iter_mut().zip(feature) {
            *s += f;
        }
        let mut g = *feature;
        normalize(&mut g);
        // ((2 pi) j) t / T, left to right in double; cos and sin in
        // double. Index `row + j` as `cos` and `sin`; j = 0 is unused.
        let mut rot = [(0f64, 0f64); VECTORS];
        for (p, &period) in PERIODS.iter().enumerate() {
            for j in 1..NUM_COEFFICIENTS {
                let arg = 2.0 * std::f64::consts::PI * j as f64 * t / f64::from(period);
                let (sin_arg, cos_arg) = arg.sin_cos();
                rot[p * NUM_COEFFICIENTS + j] = (cos_arg, sin_arg);
            }
        }
        add_rotated(&mut self.cos, &mut self.sin, &g, &rot);
        self.frames += 1;
        Ok(())
    }

    /// The hash of the frames added. With no frame at all everything is
    /// zero (as the reference writes it).
    pub fn finish(mut self) -> TmkHash {
        if self.frames > 0 {
            // float32(N), then one float32 division per element.
            let n = self.frames as f32;
            for s in self.pure_average.iter_mut() {
                *s /= n;
            }
            for (i, (c, s)) in self.cos.iter_mut().zip(self.sin.iter_mut()).enumerate() {
                // sqrt(a_j) in float32; normalise first, then scale (a zero
                // vector such as S[p][0] stays zero).
                let w = FOURIER_COEFFICIENTS[i % NUM_COEFFICIENTS].sqrt();
                for v in [c, s] {
                    normalize(v);
                    for e in v.iter_mut() {
                        *e *= w;
                    }
                }
            }
        }
        // The header's count is an int32; a video longer than 4.5 years at
        // 15 fps saturates it (the count is informational only).
        let count = i32::try_from(self.frames).unwrap_or(i32::MAX);
        TmkHash::from_parts(count, self.pure_average, self.cos, self.sin)
    }
}

/// Adds `g` to every `C[p][0]` and `g cos`, `g sin` of `rot` to every
/// `C[p][j]`, `S[p][j]`: the per-frame bulk of TMK (64 K products).
///
/// Why three builds of one body: with AVX2 the compiler works on four
/// doubles at a time instead of two, with AVX-512 on eight. Each lane
/// still does exactly what the scalar code does, an IEEE float32 to
/// double, a double product, a double sum and one rounding to float32
/// (Rust never fuses a multiply and an add into an FMA unasked), so all
/// give the same bits.
fn add_rotated(cos: &mut [Feature], sin: &mut [Feature], g: &Feature, rot: &[(f64, f64); VECTORS]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F (checked just above).
        unsafe { add_rotated_avx512(cos, sin, g, rot) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        unsafe { add_rotated_avx2(cos, sin, g, rot) };
        return;
    }
    add_rotated_body(cos, sin, g, rot);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn add_rotated_avx2(
    cos: &mut [Feature],
    sin: &mut [Feature],
    g: &Feature,
    rot: &[(f64, f64); VECTORS],
) {
    add_rotated_body(cos, sin, g, rot);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn add_rotated_avx512(
    cos: &mut [Feature],
    sin: &mut [Feature],
    g: &Feature,
    rot: &[(f64, f64); VECTORS],
) {
    add_rotated_body(cos, sin, g, rot);
}

#[inline(always)]
fn add_rotated_body(
    cos: &mut [Feature],
    sin: &mut [Feature],
    g: &Feature,
    rot: &[(f64, f64); VECTORS],
) {
    for (i, ((cos_v, sin_v), &(cos_arg, sin_arg))) in
        cos.iter_mut().zip(sin.iter_mut()).zip(rot).enumerate()
    {
        if i % NUM_COEFFICIENTS == 0 {
            // j = 0: a plain float32 sum, the same for every period.
            for (c, &x) in cos_v.iter_mut().zip(g) {
                *c += x;
            }
            continue;
        }
        for k in 0..FEATURE_DIM {
            // The reference adds `float * double` to a float: the sum is
            // formed in double and rounded to float32 every frame.
            let x = f64::from(g[k]);
            cos_v[k] = (f64::from(cos_v[k]) + x * cos_arg) as f32;
            sin_v[k] = (f64::from(sin_v[k]) + x * sin_arg) as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feature(t: usize) -> Feature {
        std::array::from_fn(|k| ((k * 7 + t * 13) % 31) as f32 - 15.0)
    }

    #[test]
    fn every_build_adds_the_same_bits_as_the_plain_one() {
        // `add_rotated` takes the AVX-512 or AVX2 build where the CPU has
        // it, the AVX2 one is also run on its own; the plain body here is
        // the SSE2 build. Awkward values on purpose:
        // sums that round differently if any step were fused or reordered.
        let g: Feature = std::array::from_fn(|k| ((k * 37 % 101) as f32 - 50.3) / 7.1);
        let start = |i: usize| -> Vec<Feature> {
            (0..VECTORS)
                .map(|v| std::array::from_fn(|k| ((v * 13 + k * i) % 97) as f32 * 1.0e-3 + 0.1))
                .collect()
        };
        let mut rot = [(0f64, 0f64); VECTORS];
        for (i, r) in rot.iter_mut().enumerate() {
            *r = ((i as f64 * 0.731).cos(), (i as f64 * 0.731).sin());
        }
        let (mut c1, mut s1, mut c2, mut s2) = (start(3), start(5), start(3), start(5));
        let (mut c3, mut s3) = (start(3), start(5));
        #[cfg(target_arch = "x86_64")]
        let avx2 = std::arch::is_x86_feature_detected!("avx2");
        #[cfg(not(target_arch = "x86_64"))]
        let avx2 = false;
        for _ in 0..50 {
            add_rotated(&mut c1, &mut s1, &g, &rot);
            add_rotated_body(&mut c2, &mut s2, &g, &rot);
            #[cfg(target_arch = "x86_64")]
            if avx2 {
                // SAFETY: the CPU has AVX2 (checked above).
                unsafe { add_rotated_avx2(&mut c3, &mut s3, &g, &rot) };
            }
        }
        let bits =
            |v: &[Feature]| -> Vec<u32> { v.iter().flatten().map(|x| x.to_bits()).collect() };
        assert_eq!(bits(&c1), bits(&c2));
        assert_eq!(bits(&s1), bits(&s2));
        if avx2 {
            assert_eq!(bits(&c3), bits(&c2));
            assert_eq!(bits(&s3), bits(&s2));
        }
    }

    #[test]
    fn skipped_frames_are_zero_features() {
        // `skip` must be exactly the push of zero features (the letterbox
        // view's frames without a picture), not a shorter video.
        let (mut pushed, mut skipped, mut shorter) = (
            TmkAccumulator::new(),
            TmkAccumulator::new(),
            TmkAccumulator::new(),
        );
        for t in 0..5 {
            pushed.push(&feature(t)).unwrap();
            skipped.push(&feature(t)).unwrap();
            shorter.push(&feature(t)).unwrap();
        }
        for _ in 0..3 {
            pushed.push(&[0.0; FEATURE_DIM]).unwrap();
        }
        skipped.skip(3);
        for t in 5..9 {
            pushed.push(&feature(t)).unwrap();
            skipped.push(&feature(t)).unwrap();
            shorter.push(&feature(t)).unwrap();
        }
        assert_eq!(skipped.frames(), 12);
        let (p, s, short) = (pushed.finish(), skipped.finish(), shorter.finish());
        assert_eq!(p.to_bytes(), s.to_bytes());
        // The gap moves the later frames in time: not the shorter video.
        assert_ne!(s.cos(0, 1), short.cos(0, 1));
    }
}
