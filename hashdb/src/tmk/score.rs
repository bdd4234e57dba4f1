//! Level-1 and level-2 scores of two TMK+PDQF hashes, and the default
//! decision, computed as the reference computes them in float32 (the
//! conformance test compares them bit for bit with the reference's).

use super::file::TmkHash;
use super::params::{pair_score_normalizer, NUM_COEFFICIENTS, PERIODS};
use super::vecmath::{dot, norm};

/// Both scores of a pair.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TmkScores {
    /// Cosine similarity of the pure-average features, in [-1, 1].
    pub level1: f32,
    /// The TMK score: the best time-aligned match over the periods, about
    /// 1 for a hash against itself (it can exceed 1 by float rounding).
    pub level2: f32,
}

/// Thresholds of the match decision (inclusive).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TmkThresholds {
    pub level1: f32,
    pub level2: f32,
}

impl Default for TmkThresholds {
    /// 0.7 and 0.7: the validated TMK+PDQF defaults (upstream suggests 0.9
    /// or more when only exact copies are wanted).
    fn default() -> Self {
        TmkThresholds {
            level1: 0.7,
            level2: 0.7,
        }
    }
}

impl TmkThresholds {
    /// `level1 >= t1 && level2 >= t2` (a NaN score never matches).
    pub fn is_match(&self, s: TmkScores) -> bool {
        s.level1 >= self.level1 && s.level2 >= self.level2
    }
}

/// Both scores (level-2 is computed even when level-1 fails, so a report
/// can show it; [`is_match`] skips it as the reference's query tools do).
pub fn scores(a: &TmkHash, b: &TmkHash) -> TmkScores {
    TmkScores {
        level1: level1(a, b),
        level2: level2(a, b),
    }
}

/// The default decision, computing level-2 only when level-1 passes (it is
/// about a thousand times dearer).
pub fn is_match(a: &TmkHash, b: &TmkHash, t: TmkThresholds) -> bool {
    level1(a, b) >= t.level1 && level2(a, b) >= t.level2
}

/// Cosine similarity of the pure-average features:
/// `dot(u, v) / (|u| * |v|)`, float32, sequential sums.
///
/// Zero vectors (hashes of zero frames): the reference returns 0 when both
/// norms are 0 and divides by zero (NaN) when one is; here both cases give
/// 0, the same "no match" without a NaN in the output.
pub fn level1(a: &TmkHash, b: &TmkHash) -> f32 {
    let (u, v) = (a.pure_average(), b.pure_average());
    let (nu, nv) = (norm(u), norm(v));
    if nu == 0.0 || nv == 0.0 {
        return 0.0;
    }
    let score = dot(u, v) / (nu * nv);
    // Subnormal norms can make the product 0 or the quotient unbounded;
    // no real video is that dark, and a non-finite score would compare
    // oddly downstream, so it is "no match".
    if score.is_finite() {
        score
    } else {
        0.0
    }
}

/// The TMK score: for each period, the largest kernel value over all
/// integer offsets (0..T), the best of the four periods, divided by the
/// normaliser `a_0 + 2 sum a_j`. The score is asymmetric only by float
/// rounding (up to about 2e-7); `a` is the first argument of the reference.
pub fn level2(a: &TmkHash, b: &TmkHash) -> f32 {
    let per_period: [f32; PERIODS.len()] =
        std::array::from_fn(|p| best_offset_value(a, b, p, PERIODS[p]));
    // The first of equal values wins (the reference's `if (max < e)`).
    let mut best = per_period[0];
    for &k in &per_period[1..] {
        if best < k {
            best = k;
        }
    }
    best / pair_score_normalizer()
}

/// The four dot products of one (period, coefficient) pair:
/// `C_a.C_b + S_a.S_b` and `S_a.C_b - C_a.S_b`, which are all the offset
/// search needs.
fn period_dots(
    a: &TmkHash,
    b: &TmkHash,
    p: usize,
) -> ([f32; NUM_COEFFICIENTS], [f32; NUM_COEFFICIENTS]) {
    let mut even = [0f32; NUM_COEFFICIENTS];
    let mut odd = [0f32; NUM_COEFFICIENTS];
    for j in 0..NUM_COEFFICIENTS {
        let (ac, as_, bc, bs) = (a.cos(p, j), a.sin(p, j), b.cos(p, j), b.sin(p, j));
        // The four dot products side by side: each is still one float32
        // sum in index order (the reference's), they just share the loop.
        let (mut cc, mut ss, mut sc, mut cs) = (0f32, 0f32, 0f32, 0f32);
        for k in 0..ac.len() {
            cc += ac[k] * bc[k];
            ss += as_[k] * bs[k];
            sc += as_[k] * bc[k];
            cs += ac[k] * bs[k];
        }
        // Each combination is one float32 operation in the reference too.
        even[j] = cc + ss;
        odd[j] = sc - cs;
    }
    (even, odd)
}

/// `max over o in 0..T of K(o)`, `K(o) = cc_0 + sum_j cos(j d) even_j +
/// sin(j d) odd_j` with `d = 2 pi o / T`.
///
/// Float order matters here more than anywhere: the reference does not
/// call cos/sin for every j but steps a float32 rotation (Numerical
/// Recipes' recurrence with `alpha = 2 sin^2(d/2)`, `beta = sin d`), whose
/// rounding moves K by up to ~1e-7; reproducing it keeps the scores equal
/// to the reference's bit for bit.
///
/// Speed without changing a bit: `alpha` and `beta` depend on the offset
/// only, so they are computed once per process ([`rotation_tables`]), and
/// [`LANES`] offsets step their recurrences side by side (each lane does
/// exactly the reference's float32 operations, in its order; the compiler
/// is free to use vector instructions, which round as the scalar ones do).
fn best_offset_value(a: &TmkHash, b: &TmkHash, p: usize, period: i32) -> f32 {
    let (even, odd) = period_dots(a, b, p);
    let cc0 = dot(a.cos(p, 0), b.cos(p, 0));
    let table = &rotation_tables()[p];
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        return unsafe { best_kernel_avx2(table, &even, &odd, cc0, period as usize) };
    }
    best_kernel(table, &even, &odd, cc0, period as usize)
}

/// [`best_kernel`] compiled for AVX2: the same float32 operations in the
/// same order, on wider registers (no fused multiply-add: Rust never
/// contracts `a * b + c`), so the same bits.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn best_kernel_avx2(
    table: &RotationTable,
    even: &[f32; NUM_COEFFICIENTS],
    odd: &[f32; NUM_COEFFICIENTS],
    cc0: f32,
    period: usize,
) -> f32 {
    best_kernel(table, even, odd, cc0, period)
}

/// The largest `K(o)` over `o in 0..period` (see [`best_offset_value`]).
#[inline(always)]
fn best_kernel(
    table: &RotationTable,
    even: &[f32; NUM_COEFFICIENTS],
    odd: &[f32; NUM_COEFFICIENTS],
    cc0: f32,
    period: usize,
) -> f32 {
    let mut best = f32::NAN;
    for start in (0..period).step_by(LANES) {
        let alpha: &[f32; LANES] = table.alpha[start..start + LANES]
            .try_into()
            .expect("tables are padded to whole lanes");
        let beta: &[f32; LANES] = table.beta[start..start + LANES]
            .try_into()
            .expect("tables are padded to whole lanes");
        let (mut c, mut s, mut k) = ([1f32; LANES], [0f32; LANES], [cc0; LANES]);
        for j in 1..NUM_COEFFICIENTS {
            for l in 0..LANES {
                // Both from the old c and s.
                let dc = (alpha[l] * c[l]) + (beta[l] * s[l]);
                let ds = (alpha[l] * s[l]) - (beta[l] * c[l]);
                c[l] -= dc;
                s[l] -= ds;
                k[l] += c[l] * even[j];
                k[l] += s[l] * odd[j];
            }
        }
        // The first of equal values wins (the reference's `if (max < e)`).
        for &v in &k[..LANES.min(period - start)] {
            if best.is_nan() || best < v {
                best = v;
            }
        }
    }
    best
}

/// Offsets evaluated side by side in [`best_offset_value`].
const LANES: usize = 16;

/// Per period, every offset's `alpha = (2 h) h` with `h = sin(d / 2)`, and
/// `beta = sin d`, `d = float32(2 pi o / T)`: as the reference computes
/// them (sines in double, rounded to float32), padded with zeros to whole
/// lanes.
struct RotationTable {
    alpha: Vec<f32>,
    beta: Vec<f32>,
}

fn rotation_tables() -> &'static [RotationTable; PERIODS.len()] {
    static TABLES: std::sync::OnceLock<[RotationTable; PERIODS.len()]> = std::sync::OnceLock::new();
    TABLES.get_or_init(|| {
        std::array::from_fn(|p| {
            let period = PERIODS[p];
            let padded = (period as usize).div_ceil(LANES) * LANES;
            let (mut alpha, mut beta) = (vec![0f32; padded], vec![0f32; padded]);
            for offset in 0..period {
                let (a, b) = rotation(offset, period);
                alpha[offset as usize] = a;
                beta[offset as usize] = b;
            }
            RotationTable { alpha, beta }
        })
    })
}

/// `(alpha, beta)` of one offset.
fn rotation(offset: i32, period: i32) -> (f32, f32) {
    // 2 pi o / T in double (left to right), then rounded to float32.
    let delta = (2.0 * std::f64::consts::PI * f64::from(offset) / f64::from(period)) as f32;
    // Both sines in double, rounded to float32; delta / 2 in float32.
    let beta = f64::from(delta).sin() as f32;
    let half = f64::from(delta / 2.0).sin() as f32;
    ((2.0 * half) * half, beta)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tmk::{Feature, TmkAccumulator};

    fn video(seed: u64, frames: usize) -> TmkHash {
        let mut s = seed;
        let mut acc = TmkAccumulator::new();
        for _ in 0..frames {
            let f: Feature = std::array::from_fn(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s % 2001) as f32 / 10.0 - 100.0
            });
            acc.push(&f).unwrap();
        }
        acc.finish()
    }

    /// The offset search as the reference writes it: sines per offset,
    /// one offset at a time.
    fn direct(a: &TmkHash, b: &TmkHash, p: usize) -> f32 {
        let (even, odd) = period_dots(a, b, p);
        let cc0 = dot(a.cos(p, 0), b.cos(p, 0));
        let mut best = f32::NAN;
        for offset in 0..PERIODS[p] {
            let (alpha, beta) = rotation(offset, PERIODS[p]);
            let (mut c, mut s, mut k) = (1f32, 0f32, cc0);
            for j in 1..NUM_COEFFICIENTS {
                let dc = (alpha * c) + (beta * s);
                let ds = (alpha * s) - (beta * c);
                c -= dc;
                s -= ds;
                k += c * even[j];
                k += s * odd[j];
            }
            if best.is_nan() || best < k {
                best = k;
            }
        }
        best
    }

    #[test]
    fn the_fast_offset_search_has_the_direct_ones_bits() {
        for (x, y) in [(1, 2), (3, 3), (5, 9)] {
            let (a, b) = (video(x, 40), video(y, 25));
            for (p, &period) in PERIODS.iter().enumerate() {
                let want = direct(&a, &b, p);
                assert_eq!(
                    best_offset_value(&a, &b, p, period).to_bits(),
                    want.to_bits()
                );
                let (even, odd) = period_dots(&a, &b, p);
                let cc0 = dot(a.cos(p, 0), b.cos(p, 0));
                let plain = best_kernel(&rotation_tables()[p], &even, &odd, cc0, period as usize);
                assert_eq!(plain.to_bits(), want.to_bits());
            }
        }
    }
}
