//! The horizontal pass with AVX-512 VNNI, eight source rows at a time,
//! one row in each 32-bit lane.
//!
//! Why this shape: the AVX2 pass computes one output at a time as a dot
//! product along its row, so each output pays for taps padded to a
//! multiple of 16, for widening every source byte to 16 bits and for a
//! horizontal sum at the end; on HD frames that pass was most of what TMK
//! adds to hashing a video. Here a block of eight rows is first transposed
//! into "quads" (lane `l` of quad `j` holds bytes `4j..4j + 4` of row `l`),
//! and then every tap quad of an output is one `vpdpbusd` across the eight
//! rows: the source bytes multiplied as they are (u8) by the taps
//! broadcast, no padding beyond the next quad and no horizontal sums.
//!
//! The taps are 14-bit, `vpdpbusd` takes i8, so each tap is split into
//! `256 * high + low` (`low` -128 to 127): two products, summed exactly in
//! i32 (four u8 by i8 products per lane and step, no saturation), so the
//! values are those of `hScale8To15_c`. Only the middle of a filter has
//! taps outside -128..128, so the high products run over a few quads.
//!
//! 256-bit on purpose: on CPUs with AVX-512 frequency licences the 512-bit
//! form can lower the clock of the whole core, which the decoder on the
//! same thread pays for, and it is not faster anyway: a 16-row 512-bit
//! pass took 0.21 ms a 1080x1080 frame where this one takes 0.19 ms (a
//! timing loop over eight frames, on a Xeon with AVX-512 VNNI).
//!
//! Each block also prefetches the next block's rows while it multiplies:
//! a decoded HD frame is in L3 by the time it is scaled (the decoder has
//! written the next ones since), and without the prefetch the transpose
//! waited on every line, 0.42 ms a 1080x1080 frame against 0.21 ms with
//! the frame in L2.

use std::arch::x86_64::*;

/// Rows in a block: one per 32-bit lane of a 256-bit vector.
pub(super) const ROWS: usize = 8;

/// One horizontal filter laid out for [`hscale`].
pub(super) struct Quads {
    /// Quads each output reads.
    nq: usize,
    /// Each output's first quad (`pos / 4`).
    first: Vec<usize>,
    /// For each group of eight outputs, its `nq` low parts, then its `nq`
    /// high parts, each quad's eight outputs side by side (so that one
    /// pointer reaches a step's taps), four taps a dword, shifted by
    /// `pos % 4` so that they line up with the quads.
    taps: Vec<i32>,
    /// For each group of eight outputs, the quads where one of them has a
    /// high part: only the middle of a bicubic filter has taps of 128 or
    /// more, so the high products skip most quads.
    high: Vec<(usize, usize)>,
    /// Quads of a transposed block: every output's reach, rounded up to
    /// whole 32-byte loads.
    span: usize,
}

impl Quads {
    /// The layout of a filter with `pos`, `len` taps an output and `size`
    /// coefficients an output in `coef` (as `super::Filter`). Each tap is
    /// split into `256 * high + low`, `low` from -128 to 127. `None` when a
    /// high part would leave i8 (a tap of 32,640 or more, which no filter
    /// of libswscale's 14-bit taps has; the AVX2 pass would take it), or
    /// the outputs are not a whole number of groups of eight.
    pub(super) fn new(pos: &[usize], len: &[usize], coef: &[i16], size: usize) -> Option<Quads> {
        if !pos.len().is_multiple_of(8) {
            return None;
        }
        let nq = (size + 3).div_ceil(4);
        let mut taps = vec![0i32; pos.len() * 2 * nq];
        let mut first = Vec::with_capacity(pos.len());
        let mut high = vec![(usize::MAX, 0); pos.len() / 8];
        for (i, (&p, &n)) in pos.iter().zip(len).enumerate() {
            let (mut lo, mut hi) = (vec![0u8; 4 * nq], vec![0u8; 4 * nq]);
            for (k, &c) in coef[i * size..i * size + n].iter().enumerate() {
                let h = i8::try_from((i32::from(c) + 128) >> 8).ok()?;
                lo[p % 4 + k] = (i32::from(c) - 256 * i32::from(h)) as i8 as u8;
                hi[p % 4 + k] = h as u8;
                if h != 0 {
                    let (a, b) = &mut high[i / 8];
                    *a = (*a).min((p % 4 + k) / 4);
                    *b = (*b).max((p % 4 + k) / 4 + 1);
                }
            }
            let t = &mut taps[i / 8 * 16 * nq..(i / 8 + 1) * 16 * nq];
            for q in 0..nq {
                let dword = |b: &[u8]| i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                t[q * 8 + i % 8] = dword(&lo[4 * q..]);
                t[(nq + q) * 8 + i % 8] = dword(&hi[4 * q..]);
            }
            first.push(p / 4);
        }
        for r in high.iter_mut().filter(|r| r.0 > r.1) {
            *r = (0, 0);
        }
        let reach = first.iter().max().map_or(0, |&f| f + nq);
        Some(Quads {
            nq,
            first,
            taps,
            high,
            span: reach.div_ceil(ROWS) * ROWS,
        })
    }

    /// Bytes readable from each row's start that [`hscale`] needs.
    pub(super) fn reach(&self) -> usize {
        self.span * 4
    }

    /// The transposed block [`hscale`] fills.
    pub(super) fn block(&self) -> Vec<__m256i> {
        // SAFETY: an all-zero __m256i is a valid value.
        vec![unsafe { _mm256_setzero_si256() }; self.span]
    }
}

/// Eight source rows through the filter: `rows[l]` (at least
/// [`Quads::reach`] bytes each) into `dst[l * ow..(l + 1) * ow]`, `ow` the
/// filter's output count, as `hScale8To15_c` would (15-bit, clamped).
/// `ahead` (the next block's rows, or nothing) is prefetched meanwhile.
///
/// # Safety
/// AVX2, AVX-512 VL and AVX-512 VNNI must be present. `block` holds at
/// least `quads.span` vectors (a block of this filter's or a wider one's),
/// `ow == quads.first.len()` is a multiple of 8 and `dst` holds `8 * ow`
/// samples.
#[target_feature(enable = "avx2,avx512f,avx512vl,avx512vnni")]
pub(super) unsafe fn hscale(
    rows: [&[u8]; ROWS],
    quads: &Quads,
    block: &mut [__m256i],
    dst: &mut [i16],
    ahead: &[u8],
) {
    let ow = quads.first.len();
    debug_assert!(ow.is_multiple_of(8) && dst.len() >= ROWS * ow);
    debug_assert!(block.len() >= quads.span);
    debug_assert!(rows.iter().all(|r| r.len() >= quads.reach()));
    transpose(rows, quads.span, block);
    let (nq, b) = (quads.nq, block.as_ptr());
    let max = _mm256_set1_epi32((1 << 15) - 1);
    // Bytes of `ahead` to prefetch a group, in whole cache lines.
    let per = ahead.len().div_ceil(64).div_ceil(ow / 8) * 64;
    for g in (0..ow).step_by(8) {
        // This group's share of the next block, so that its rows arrive
        // while these are multiplied instead of stalling its transpose.
        let mut at = g / 8 * per;
        let end = (at + per).min(ahead.len());
        while at < end {
            _mm_prefetch::<_MM_HINT_T0>(ahead.as_ptr().add(at) as *const i8);
            at += 64;
        }
        let src: [*const __m256i; 8] = std::array::from_fn(|i| b.add(quads.first[g + i]));
        let taps = quads.taps.as_ptr().add(g / 8 * 16 * nq);
        let mut lo = [_mm256_setzero_si256(); 8];
        let mut hi = [_mm256_setzero_si256(); 8];
        // Quads outer, outputs inner: eight independent chains; where
        // high parts run, each source vector serves both products.
        let (ha, hb) = quads.high[g / 8];
        for range in [0..ha, hb..nq] {
            for q in range {
                let t = taps.add(q * 8);
                for i in 0..8 {
                    lo[i] =
                        _mm256_dpbusd_epi32(lo[i], *src[i].add(q), _mm256_set1_epi32(*t.add(i)));
                }
            }
        }
        for q in ha..hb {
            let (t, th) = (taps.add(q * 8), taps.add((nq + q) * 8));
            for i in 0..8 {
                let s = *src[i].add(q);
                lo[i] = _mm256_dpbusd_epi32(lo[i], s, _mm256_set1_epi32(*t.add(i)));
                hi[i] = _mm256_dpbusd_epi32(hi[i], s, _mm256_set1_epi32(*th.add(i)));
            }
        }
        let mut v = [_mm256_setzero_si256(); 8];
        for i in 0..8 {
            let sum = _mm256_add_epi32(lo[i], _mm256_slli_epi32::<8>(hi[i]));
            v[i] = _mm256_min_epi32(_mm256_srai_epi32::<7>(sum), max);
        }
        // v[i] holds output g + i of the eight rows; turn it round so that
        // each vector holds one row's eight outputs, then narrow two rows
        // at a time (saturating below -32768, which taps this size cannot
        // reach: the same as the AVX2 pass's truncation).
        let t = transpose8(v);
        for l in (0..ROWS).step_by(2) {
            let pair = _mm256_permute4x64_epi64::<0xD8>(_mm256_packs_epi32(t[l], t[l + 1]));
            let at = dst.as_mut_ptr().add(l * ow + g);
            _mm_storeu_si128(at as *mut __m128i, _mm256_castsi256_si128(pair));
            _mm_storeu_si128(
                at.add(ow) as *mut __m128i,
                _mm256_extracti128_si256::<1>(pair),
            );
        }
    }
}

/// The block's quads: `block[j]` lane `l` = bytes `4j..4j + 4` of
/// `rows[l]`, for `j < span` (a multiple of 8).
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn transpose(rows: [&[u8]; ROWS], span: usize, block: &mut [__m256i]) {
    for m in (0..span).step_by(8) {
        let v: [__m256i; 8] = std::array::from_fn(|l| {
            _mm256_loadu_si256(rows[l].as_ptr().add(4 * m) as *const __m256i)
        });
        let t = transpose8(v);
        block[m..m + 8].copy_from_slice(&t);
    }
}

/// An 8x8 transpose of 32-bit elements: `out[j]` lane `l` = `v[l]` lane
/// `j`.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn transpose8(v: [__m256i; 8]) -> [__m256i; 8] {
    let t0 = _mm256_unpacklo_epi32(v[0], v[1]);
    let t1 = _mm256_unpackhi_epi32(v[0], v[1]);
    let t2 = _mm256_unpacklo_epi32(v[2], v[3]);
    let t3 = _mm256_unpackhi_epi32(v[2], v[3]);
    let t4 = _mm256_unpacklo_epi32(v[4], v[5]);
    let t5 = _mm256_unpackhi_epi32(v[4], v[5]);
    let t6 = _mm256_unpacklo_epi32(v[6], v[7]);
    let t7 = _mm256_unpackhi_epi32(v[6], v[7]);
    let u0 = _mm256_unpacklo_epi64(t0, t2);
    let u1 = _mm256_unpackhi_epi64(t0, t2);
    let u2 = _mm256_unpacklo_epi64(t1, t3);
    let u3 = _mm256_unpackhi_epi64(t1, t3);
    let u4 = _mm256_unpacklo_epi64(t4, t6);
    let u5 = _mm256_unpackhi_epi64(t4, t6);
    let u6 = _mm256_unpacklo_epi64(t5, t7);
    let u7 = _mm256_unpackhi_epi64(t5, t7);
    [
        _mm256_permute2x128_si256::<0x20>(u0, u4),
        _mm256_permute2x128_si256::<0x20>(u1, u5),
        _mm256_permute2x128_si256::<0x20>(u2, u6),
        _mm256_permute2x128_si256::<0x20>(u3, u7),
        _mm256_permute2x128_si256::<0x31>(u0, u4),
        _mm256_permute2x128_si256::<0x31>(u1, u5),
        _mm256_permute2x128_si256::<0x31>(u2, u6),
        _mm256_permute2x128_si256::<0x31>(u3, u7),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::video::tmk_scale::random_taps::{taps, Rng};

    fn available() -> bool {
        std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512vl")
            && std::is_x86_feature_detected!("avx512vnni")
    }

    /// The pass against `hScale8To15_c`'s arithmetic written plainly, on
    /// filters libswscale would not make: random taps over the whole
    /// range the split takes (-32,768 to 32,639), random positions and
    /// lengths, random bytes, so every quad offset and high range is met.
    #[test]
    fn random_filters_equal_the_plain_sum() {
        if !available() {
            eprintln!("no AVX-512 VNNI here: the pass cannot run, nothing to compare");
            return;
        }
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for round in 0..200 {
            let ow = 8 * (1 + rng.below(8) as usize);
            let size = 1 + rng.below(90) as usize;
            let w = size + rng.below(400) as usize;
            let (pos, len, coef) = taps(&mut rng, ow, size, w, round % 2 == 0);
            let quads = Quads::new(&pos, &len, &coef, size).expect("taps in range");
            let rows: Vec<Vec<u8>> = (0..ROWS)
                .map(|_| {
                    let mut r: Vec<u8> = (0..w).map(|_| rng.below(256) as u8).collect();
                    r.resize(w.max(quads.reach()), 0);
                    r
                })
                .collect();
            let mut block = quads.block();
            let mut dst = vec![0i16; ROWS * ow];
            let refs: [&[u8]; ROWS] = std::array::from_fn(|l| &rows[l][..]);
            // SAFETY: the features were checked; the rows hold the reach,
            // the block is the filter's, `dst` 8 rows of `ow` (a row is
            // what gets prefetched).
            unsafe { hscale(refs, &quads, &mut block, &mut dst, &rows[round % ROWS]) };
            for l in 0..ROWS {
                for i in 0..ow {
                    let sum: i64 = (0..len[i])
                        .map(|k| i64::from(rows[l][pos[i] + k]) * i64::from(coef[i * size + k]))
                        .sum();
                    // hScale8To15_c: FFMIN(val >> 7, 32767), stored as
                    // int16_t; with taps this large the sum can go below
                    // -32768 * 128, where the pass saturates instead.
                    let want = (sum >> 7).min(32_767);
                    let got = i64::from(dst[l * ow + i]);
                    if want >= -32_768 {
                        assert_eq!(got, want, "round {round} row {l} output {i}");
                    } else {
                        assert_eq!(got, -32_768, "round {round} row {l} output {i}");
                    }
                }
            }
        }
    }

    #[test]
    fn taps_whose_high_part_leaves_i8_are_refused() {
        assert!(Quads::new(&[0; 8], &[1; 8], &[32_640; 8], 1).is_none());
        assert!(Quads::new(&[0; 8], &[1; 8], &[32_639; 8], 1).is_some());
        // Outputs not in groups of eight.
        assert!(Quads::new(&[0; 4], &[1; 4], &[1; 4], 1).is_none());
    }
}
