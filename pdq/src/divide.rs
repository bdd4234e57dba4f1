//! Exact division by a box's pixel count, without a divide instruction.
//!
//! Every value PDQ's blur writes is a running sum divided by the number of
//! pixels in its window (`sum / count`, one IEEE division, correctly
//! rounded). Division is the slowest arithmetic there is (an AVX2 `vdivps`
//! takes five cycles per eight lanes, against half a cycle for an add), and
//! the first two passes divide every pixel, so it was most of their time.
//!
//! The quotient is obtained instead as `q0 = x * r` with `r = 1 / count`
//! rounded, then one correction: `e = x - q0 * count` (exact with a fused
//! multiply-add) and `q = q0 + e * r` (fused). Markstein's theorem says this
//! gives the correctly rounded `x / count` when `r` is the rounded
//! reciprocal and `q0` is faithful; rather than rely on the second
//! condition, `tests::reciprocal_division_is_exact` checks every `f32`
//! mantissa against real division for every count up to
//! [`MAX_DIVISOR`]. One mantissa range covers all magnitudes: scaling `x`
//! by a power of two scales every step exactly (PDQ's values stay far from
//! overflow and from subnormals: luma is 0..255 and sums hold at most a
//! window of it), and negative `x` is the mirror image under
//! round-to-nearest. A zero sum gives `+0`, as the division does.
//!
//! Counts above [`MAX_DIVISOR`] (a side over 8192 pixels) and CPUs without
//! FMA keep the division.

/// The largest count the reciprocal path is checked for: the window of a
/// side of 8192 pixels (`ceil(8192 / 128)`).
pub(crate) const MAX_DIVISOR: usize = 64;

/// Each count's rounded reciprocal, when the reciprocal path applies to
/// all of them (every count a whole number in `1..=MAX_DIVISOR`).
pub(crate) fn reciprocals(counts: &[f32]) -> Option<Vec<f32>> {
    counts
        .iter()
        .all(|&c| c >= 1.0 && c <= MAX_DIVISOR as f32 && c.fract() == 0.0)
        .then(|| counts.iter().map(|&c| 1.0 / c).collect())
}

/// `x / c` for a count `c` checked by the test, given `r = 1 / c`. Only
/// called from code compiled with FMA (a software `fma` would be exact too,
/// just slow).
#[inline(always)]
pub(crate) fn by_reciprocal(x: f32, c: f32, r: f32) -> f32 {
    let q0 = x * r;
    let e = (-q0).mul_add(c, x);
    e.mul_add(r, q0)
}

/// Eight lanes of [`by_reciprocal`].
/// SAFETY: the CPU has AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(crate) fn by_reciprocal_avx2(
    x: std::arch::x86_64::__m256,
    c: std::arch::x86_64::__m256,
    r: std::arch::x86_64::__m256,
) -> std::arch::x86_64::__m256 {
    use std::arch::x86_64::*;
    let q0 = _mm256_mul_ps(x, r);
    let e = _mm256_fnmadd_ps(q0, c, x);
    _mm256_fmadd_ps(e, r, q0)
}

/// Whether the SIMD paths may run: AVX2 for the lanes, FMA for the
/// reciprocal division.
pub(crate) fn simd() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every mantissa in `[1, 2)` for every count `1..=MAX_DIVISOR`, through
    /// the SIMD path the downsample uses (and the scalar one), against
    /// IEEE division; then zero, negative and other magnitudes.
    #[test]
    fn reciprocal_division_is_exact() {
        let counts: Vec<f32> = (1..=MAX_DIVISOR).map(|c| c as f32).collect();
        let recips = reciprocals(&counts).expect("counts in range");
        for (&c, &r) in counts.iter().zip(&recips) {
            let mut bad = 0u32;
            #[cfg(target_arch = "x86_64")]
            if simd() {
                // SAFETY: AVX2 and FMA are present (checked).
                unsafe { bad += simd_mismatches(c, r) };
            }
            if !simd() {
                for m in 0u32..(1 << 23) {
                    let x = f32::from_bits(0x3f80_0000 | m);
                    bad += u32::from(by_reciprocal(x, c, r).to_bits() != (x / c).to_bits());
                }
            }
            assert_eq!(bad, 0, "count {c}: {bad} mantissas differ from division");
            for x in [0.0f32, -1.7, 1e-20, 255.0 * 64.0, 3.0e5, -0.00123, 1.0e30] {
                assert_eq!(
                    by_reciprocal(x, c, r).to_bits(),
                    (x / c).to_bits(),
                    "{x} / {c}"
                );
            }
        }
        assert!(reciprocals(&[1.0, 65.0]).is_none());
        assert!(reciprocals(&[0.0]).is_none());
    }

    /// SAFETY: the CPU has AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn simd_mismatches(c: f32, r: f32) -> u32 {
        use std::arch::x86_64::*;
        let (cv, rv) = (_mm256_set1_ps(c), _mm256_set1_ps(r));
        let step = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        let mut bad = _mm256_setzero_si256();
        for m in (0u32..(1 << 23)).step_by(8) {
            let bits = _mm256_add_epi32(_mm256_set1_epi32((0x3f80_0000 | m) as i32), step);
            let x = _mm256_castsi256_ps(bits);
            let got = by_reciprocal_avx2(x, cv, rv);
            let want = _mm256_div_ps(x, cv);
            let ne = _mm256_xor_si256(_mm256_castps_si256(got), _mm256_castps_si256(want));
            // Count a lane that differs in any bit as one.
            let diff = _mm256_andnot_si256(
                _mm256_cmpeq_epi32(ne, _mm256_setzero_si256()),
                _mm256_set1_epi32(1),
            );
            bad = _mm256_add_epi32(bad, diff);
        }
        let mut lanes = [0u32; 8];
        // SAFETY: 8 u32 lanes into an 8-element array.
        unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), bad) };
        lanes.iter().sum()
    }
}
