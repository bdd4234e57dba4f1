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

/// Frames whose rotations are added to `C`, `S` together.
///
/// Why: the `C`, `S` sums are 256 KB of float32, read and written once per
/// frame, which does not stay in L2 beside a video decoder: the step was
/// limited by memory, and each pass pushed the decoder's own data out of
/// the cache. Eight frames a pass keep each sum in a register across
/// them. Every element still takes its frames in order, one rounding
/// each, so the bits are those of adding one frame at a time.
const BATCH: usize = 8;

/// A frame waiting for the next pass: its normalised feature and its
/// rotations.
#[derive(Clone)]
struct Pending {
    g: Feature,
    rot: [(f64, f64); VECTORS],
}

/// Sums of a video's frame features so far. Not `Sync`-bound; one per
/// video being hashed.
#[derive(Clone)]
pub struct TmkAccumulator {
    frames: u64,
    pure_average: Feature,
    /// Index `period * NUM_COEFFICIENTS + j`, as in [`TmkHash`]: the sums
    /// of the frames before `pending`.
    cos: Vec<Feature>,
    sin: Vec<Feature>,
    /// Up to [`BATCH`] frames not yet in `cos`, `sin`, oldest first.
    pending: Vec<Pending>,
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
            pending: Vec::with_capacity(BATCH),
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
        self.pending.push(Pending { g, rot });
        if self.pending.len() == BATCH {
            self.flush();
        }
        self.frames += 1;
        Ok(())
    }

    /// Add the pending frames to `cos`, `sin`.
    fn flush(&mut self) {
        if !self.pending.is_empty() {
            add_rotated(&mut self.cos, &mut self.sin, &self.pending);
            self.pending.clear();
        }
    }

    /// The hash of the frames added. With no frame at all everything is
    /// zero (as the reference writes it).
    pub fn finish(mut self) -> TmkHash {
        self.flush();
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

/// Adds each frame of `frames`, in order, to the sums: its `g` to every
/// `C[p][0]`, its `g cos`, `g sin` to every `C[p][j]`, `S[p][j]`: the bulk
/// of TMK (64 K products a frame).
///
/// Why three builds of one body: with AVX2 the compiler works on four
/// doubles at a time instead of two, with AVX-512 on eight. Each lane
/// still does exactly what the scalar code does, an IEEE float32 to
/// double, a double product, a double sum and one rounding to float32
/// (Rust never fuses a multiply and an add into an FMA unasked), so all
/// give the same bits.
fn add_rotated(cos: &mut [Feature], sin: &mut [Feature], frames: &[Pending]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F (checked just above).
        unsafe { add_rotated_avx512(cos, sin, frames) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        unsafe { add_rotated_avx2(cos, sin, frames) };
        return;
    }
    add_rotated_body::<16>(cos, sin, frames);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn add_rotated_avx2(cos: &mut [Feature], sin: &mut [Feature], frames: &[Pending]) {
    // Sixteen AVX2 registers: the 64-lane body would spill them.
    add_rotated_body::<16>(cos, sin, frames);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn add_rotated_avx512(cos: &mut [Feature], sin: &mut [Feature], frames: &[Pending]) {
    add_rotated_body::<LANES>(cos, sin, frames);
}

/// Elements of a sum kept in registers across the frames of a batch, with
/// AVX-512 (16 with AVX2 or none, which have half the registers or none
/// of this width).
///
/// Why 64: each frame's step on an element is a chain (float32 to double,
/// product, sum, back to float32) that cannot start before the last
/// frame's has ended. With 16 elements there were four such chains a step
/// and the core mostly waited on them; 64 gives 16 (the sums of `C` and
/// `S`, eight doubles each), enough to keep it busy, and still fits the
/// AVX-512 registers. `cargo bench --bench tmk_accumulate`: 1.43 ms for
/// 75 frames with 16, 1.04 ms with 64 (1.18 ms with 32).
const LANES: usize = 64;
const _: () = assert!(FEATURE_DIM.is_multiple_of(LANES));

#[inline(always)]
fn add_rotated_body<const LANES: usize>(
    cos: &mut [Feature],
    sin: &mut [Feature],
    frames: &[Pending],
) {
    const { assert!(FEATURE_DIM.is_multiple_of(LANES)) };
    for (i, (cos_v, sin_v)) in cos.iter_mut().zip(sin.iter_mut()).enumerate() {
        if i % NUM_COEFFICIENTS == 0 {
            // j = 0: a plain float32 sum, the same for every period.
            for f in frames {
                for (c, &x) in cos_v.iter_mut().zip(&f.g) {
                    *c += x;
                }
            }
            continue;
        }
        for at in (0..FEATURE_DIM).step_by(LANES) {
            let mut c: [f32; LANES] = std::array::from_fn(|l| cos_v[at + l]);
            let mut s: [f32; LANES] = std::array::from_fn(|l| sin_v[at + l]);
            for f in frames {
                let (cos_arg, sin_arg) = f.rot[i];
                for l in 0..LANES {
                    // The reference adds `float * double` to a float: the
                    // sum is formed in double and rounded to float32 every
                    // frame.
                    let x = f64::from(f.g[at + l]);
                    c[l] = (f64::from(c[l]) + x * cos_arg) as f32;
                    s[l] = (f64::from(s[l]) + x * sin_arg) as f32;
                }
            }
            cos_v[at..at + LANES].copy_from_slice(&c);
            sin_v[at..at + LANES].copy_from_slice(&s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feature(t: usize) -> Feature {
        std::array::from_fn(|k| ((k * 7 + t * 13) % 31) as f32 - 15.0)
    }

    /// Frames of awkward values: sums that round differently if any step
    /// were fused or reordered.
    fn pending(n: usize) -> Vec<Pending> {
        (0..n)
            .map(|f| {
                let g = std::array::from_fn(|k| ((k * 37 + f * 11) % 101) as f32 / 7.1 - 7.3);
                let mut rot = [(0f64, 0f64); VECTORS];
                for (i, r) in rot.iter_mut().enumerate() {
                    let a = (i * 3 + f * 17) as f64 * 0.731;
                    *r = (a.cos(), a.sin());
                }
                Pending { g, rot }
            })
            .collect()
    }

    fn sums(seed: usize) -> Vec<Feature> {
        (0..VECTORS)
            .map(|v| std::array::from_fn(|k| ((v * 13 + k * seed) % 97) as f32 * 1.0e-3 + 0.1))
            .collect()
    }

    fn bits(v: &[Feature]) -> Vec<u32> {
        v.iter().flatten().map(|x| x.to_bits()).collect()
    }

    /// What every build and batch must equal: each frame added to each
    /// element in turn, written plainly.
    fn one_frame_at_a_time(cos: &mut [Feature], sin: &mut [Feature], frames: &[Pending]) {
        for f in frames {
            for i in 0..VECTORS {
                for k in 0..FEATURE_DIM {
                    if i % NUM_COEFFICIENTS == 0 {
                        cos[i][k] += f.g[k];
                    } else {
                        let x = f64::from(f.g[k]);
                        cos[i][k] = (f64::from(cos[i][k]) + x * f.rot[i].0) as f32;
                        sin[i][k] = (f64::from(sin[i][k]) + x * f.rot[i].1) as f32;
                    }
                }
            }
        }
    }

    #[test]
    fn every_build_and_batch_adds_the_same_bits_as_one_frame_at_a_time() {
        // `add_rotated` takes the AVX-512 or AVX2 build where the CPU has
        // it, the AVX2 one is also run on its own; the plain body here is
        // the SSE2 build.
        #[cfg(target_arch = "x86_64")]
        let avx2 = std::arch::is_x86_feature_detected!("avx2");
        #[cfg(not(target_arch = "x86_64"))]
        let avx2 = false;
        let frames = pending(3 * BATCH + 3);
        let (mut c0, mut s0) = (sums(3), sums(5));
        one_frame_at_a_time(&mut c0, &mut s0, &frames);
        // Batches of every size up to BATCH, and one frame at a time.
        for size in 1..=BATCH {
            let (mut c1, mut s1, mut c2, mut s2) = (sums(3), sums(5), sums(3), sums(5));
            let (mut c3, mut s3, mut c4, mut s4) = (sums(3), sums(5), sums(3), sums(5));
            for batch in frames.chunks(size) {
                add_rotated(&mut c1, &mut s1, batch);
                add_rotated_body::<16>(&mut c2, &mut s2, batch);
                // The AVX-512 build's width, built for whatever this is.
                add_rotated_body::<LANES>(&mut c4, &mut s4, batch);
                #[cfg(target_arch = "x86_64")]
                if avx2 {
                    // SAFETY: the CPU has AVX2 (checked above).
                    unsafe { add_rotated_avx2(&mut c3, &mut s3, batch) };
                }
            }
            for (c, s) in [(&c1, &s1), (&c2, &s2), (&c4, &s4)] {
                assert_eq!(bits(c), bits(&c0), "batches of {size}");
                assert_eq!(bits(s), bits(&s0), "batches of {size}");
            }
            if avx2 {
                assert_eq!(bits(&c3), bits(&c0), "AVX2, batches of {size}");
                assert_eq!(bits(&s3), bits(&s0), "AVX2, batches of {size}");
            }
        }
        // The sums moved: the comparison was not of untouched vectors.
        assert_ne!(bits(&c0), bits(&sums(3)));
    }

    /// Frames wait in batches; whatever the count when the hash is taken,
    /// a clone is made or frames are skipped, the hash is that of adding
    /// every frame at once.
    #[test]
    fn batching_never_shows_in_the_hash() {
        for n in [0, 1, BATCH - 1, BATCH, BATCH + 1, 3 * BATCH + 5] {
            let (mut batched, mut each) = (TmkAccumulator::new(), TmkAccumulator::new());
            let mut clone = None;
            for t in 0..n {
                if t == n / 2 {
                    clone = Some(batched.clone());
                    batched.skip(2);
                    each.skip(2);
                }
                batched.push(&feature(t)).unwrap();
                each.push(&feature(t)).unwrap();
                each.flush();
                assert!(each.pending.is_empty());
            }
            assert_eq!(batched.frames(), each.frames());
            assert_eq!(
                batched.finish().to_bytes(),
                each.finish().to_bytes(),
                "{n} frames"
            );
            // The clone taken mid-batch goes on by itself.
            if let Some(mut c) = clone {
                let mut plain = TmkAccumulator::new();
                for t in 0..n / 2 {
                    plain.push(&feature(t)).unwrap();
                    plain.flush();
                }
                c.push(&feature(99)).unwrap();
                plain.push(&feature(99)).unwrap();
                assert_eq!(c.finish().to_bytes(), plain.finish().to_bytes());
            }
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
