//! The Jarosz tent filter and decimation to 64x64, in one streaming pass.
//!
//! The reference blurs the whole float image with two rounds of
//! (box along rows, box along columns), then samples 64x64 points. Its
//! column pass walks memory with a stride of a whole row, which is where it
//! spends most of its time. Here the same float operations, in the same
//! order *within each running sum*, are reorganised:
//!
//! * rows are taken sixteen at a time, and their independent running sums
//!   advance side by side (instruction-level parallelism instead of one long
//!   dependency chain), with the divisions done afterwards in a vectorisable
//!   loop (division is exact, so when it happens does not matter);
//! * the column pass keeps one running sum per column and consumes rows as
//!   they arrive, holding only the last `window + GROUP` rows (a ring), so memory
//!   use is independent of the image height and stays in cache;
//! * the divisions by a window's count, which were most of the first two
//!   passes' time, multiply by the rounded reciprocal and correct once with
//!   fused multiply-adds (`crate::divide`: the same correctly rounded
//!   quotient, checked on every mantissa for every count used);
//! * the second round only needs the 64 sampled columns and rows, so its
//!   divisions happen only there (its sums still walk every pixel: skipping
//!   any would change the rounding of the running sum).
//!
//! `tests::streaming_equals_reference` checks bit-equality against a direct
//! port of the reference loop structure on many sizes.

use super::luma::LumaSource;
use super::oriented::Oriented;

/// The reference's window: `(old + 2 * new - 1) / (2 * new)`, i.e.
/// `ceil(old / (2 * new))`.
pub(crate) fn window_size(old: usize, new: usize) -> usize {
    old.div_ceil(2 * new)
}

/// The reference's sample positions: centres, `floor((o + 0.5) * len / 64)`
/// evaluated in `f64`.
pub(crate) fn sample_positions(len: usize) -> [usize; 64] {
    let mut p = [0usize; 64];
    for (o, v) in p.iter_mut().enumerate() {
        *v = (((o as f64 + 0.5) * len as f64) / 64.0) as usize;
    }
    p
}

/// How many inputs the box of `window` averages at each output index of a
/// vector of `len`, as `f32` (the reference divides by the int count
/// converted to float). Derived by running the reference's phase counters.
fn window_counts(len: usize, window: usize) -> Vec<f32> {
    let half = (window + 2) / 2;
    let mut counts = Vec::with_capacity(len);
    let mut cur = 0usize;
    for t in 0..len {
        cur += if t < window { 1 } else { 0 };
        if t + 1 >= half {
            counts.push(cur as f32);
        }
    }
    for _ in 0..half - 1 {
        cur -= 1;
        counts.push(cur as f32);
    }
    debug_assert_eq!(counts.len(), len);
    counts
}

/// Running box sums along `R` rows at once (each `w` long, contiguous in
/// `inp`), written to `out` unnormalised. The order of operations on each
/// row's sum is the reference's `box1DFloat`: add the new right edge, then
/// subtract the old left edge.
// Indexing by row number is the point here: R independent running sums.
#[allow(clippy::needless_range_loop)]
fn box_sums_rows<const R: usize>(inp: &[f32], out: &mut [f32], w: usize, window: usize) {
    assert!(inp.len() >= R * w && out.len() >= R * w && window >= 1 && window <= w);
    let half = (window + 2) / 2;
    let lag = half - 1;
    let ip = inp.as_ptr();
    let op = out.as_mut_ptr();
    // Element `t` of row `r`. SAFETY (for every use below): `r < R` and
    // `t < w` in all four loops (t ranges over 0..w, t - window and
    // t - lag are in 0..w because lag < window <= t, and li, w - lag + i
    // are below w), and both buffers hold at least R * w elements (asserted
    // above). Plain indexing here costs a bounds check per element and
    // defeats the eight-way interleaving that makes this pass fast.
    let at = |r: usize, t: usize| r * w + t;
    let mut s = [0f32; R];
    unsafe {
        for t in 0..lag {
            for r in 0..R {
                s[r] += *ip.add(at(r, t));
            }
        }
        for t in lag..window {
            for r in 0..R {
                s[r] += *ip.add(at(r, t));
                *op.add(at(r, t - lag)) = s[r];
            }
        }
        for t in window..w {
            for r in 0..R {
                s[r] += *ip.add(at(r, t));
                s[r] -= *ip.add(at(r, t - window));
                *op.add(at(r, t - lag)) = s[r];
            }
        }
        for i in 0..lag {
            let li = w - window + i;
            for r in 0..R {
                s[r] -= *ip.add(at(r, li));
                *op.add(at(r, w - lag + i)) = s[r];
            }
        }
    }
}
/// One row's running sums (for a last, partial group of rows).
fn box_sums_rows_dyn(inp: &[f32], out: &mut [f32], rows: usize, w: usize, window: usize) {
    for r in 0..rows {
        box_sums_rows::<1>(
            &inp[r * w..(r + 1) * w],
            &mut out[r * w..(r + 1) * w],
            w,
            window,
        );
    }
}

/// Where a row pass puts its results. The sums are divided by the window
/// count of their column (exact IEEE division: when it happens does not
/// change the result), and only what the next stage reads is written.
enum RowOut<'a> {
    /// Every column, row `r` at `buf[offsets[r]..offsets[r] + w]` (the
    /// column pass's ring slots, so no copy is needed afterwards).
    Divided {
        counts: &'a [f32],
        /// `1 / counts`, when every count may be divided by reciprocal
        /// (`divide`): then the SIMD path does so.
        recips: Option<&'a [f32]>,
        buf: &'a mut [f32],
        offsets: [usize; GROUP],
    },
    /// Only the 64 sampled columns: `out[r * 64 + o]` is row `r` at
    /// column `cols[o]` (the second round needs nothing else).
    Sampled {
        counts: &'a [f32],
        cols: &'a [usize; 64],
        out: &'a mut [f32],
    },
}

impl RowOut<'_> {
    /// Finish from row-major unnormalised sums of `n` rows (the scalar
    /// path, and partial groups).
    fn write_sums(&mut self, sums: &[f32], n: usize, w: usize) {
        match self {
            RowOut::Divided {
                counts,
                buf,
                offsets,
                ..
            } => {
                for r in 0..n {
                    let dst = &mut buf[offsets[r]..offsets[r] + w];
                    let src = &sums[r * w..(r + 1) * w];
                    for ((d, &s), &c) in dst.iter_mut().zip(src).zip(counts.iter()) {
                        *d = s / c;
                    }
                }
            }
            RowOut::Sampled { counts, cols, out } => {
                for r in 0..n {
                    for (o, &x) in cols.iter().enumerate() {
                        out[r * 64 + o] = sums[r * w + x] / counts[x];
                    }
                }
            }
        }
    }
}

/// The row pass over `n <= GROUP` rows of `inp` (row-major, `w` long).
fn row_pass(inp: &[f32], n: usize, w: usize, window: usize, out: &mut RowOut, sc: &mut RowScratch) {
    if n == GROUP && simd_box::rows(inp, w, window, out, &mut sc.il) {
        return;
    }
    if n > 0 && n < GROUP && padded_simd(inp, n, w, window, out, sc) {
        return;
    }
    sc.sums.clear();
    sc.sums.resize(n * w, 0.0);
    if n == GROUP {
        box_sums_rows::<GROUP>(inp, &mut sc.sums, w, window);
    } else {
        box_sums_rows_dyn(inp, &mut sc.sums, n, w, window);
    }
    out.write_sums(&sc.sums, n, w);
}

/// A picture's last, partial group of rows (`0 < n < GROUP`: any height
/// not a multiple of GROUP, in every pass along rows) through the SIMD
/// path instead of one scalar running sum per row, which is latency-bound
/// and costs as much as a whole SIMD group per row. The group is padded to
/// GROUP rows with copies of its last row; each row's sums are its own
/// lanes (no value crosses between rows), so the real rows get exactly the
/// bits they would get alone, and the copies' outputs go nowhere: their
/// `Divided` slots are the last real row's (rewritten with the same
/// values), their `Sampled` rows land in a scratch that is not copied.
/// Returns false (doing nothing) when the CPU lacks the SIMD path.
fn padded_simd(
    inp: &[f32],
    n: usize,
    w: usize,
    window: usize,
    out: &mut RowOut,
    sc: &mut RowScratch,
) -> bool {
    if !crate::divide::simd() {
        return false;
    }
    let RowScratch {
        il, pad, sampled, ..
    } = sc;
    if pad.len() < GROUP * w {
        pad.resize(GROUP * w, 0.0);
    }
    pad[..n * w].copy_from_slice(&inp[..n * w]);
    let (real, copies) = pad[..GROUP * w].split_at_mut(n * w);
    let last = &real[(n - 1) * w..];
    for row in copies.chunks_exact_mut(w) {
        row.copy_from_slice(last);
    }
    match out {
        RowOut::Divided {
            counts,
            recips,
            buf,
            offsets,
        } => {
            let mut padded = RowOut::Divided {
                counts,
                recips: *recips,
                buf,
                offsets: std::array::from_fn(|r| offsets[r.min(n - 1)]),
            };
            simd_box::rows(pad, w, window, &mut padded, il)
        }
        RowOut::Sampled { counts, cols, out } => {
            sampled.resize(GROUP * 64, 0.0);
            let mut padded = RowOut::Sampled {
                counts,
                cols,
                out: sampled,
            };
            if !simd_box::rows(pad, w, window, &mut padded, il) {
                return false;
            }
            out[..n * 64].copy_from_slice(&sampled[..n * 64]);
            true
        }
    }
}

/// Scratch of the row passes (kept across images).
#[derive(Default)]
struct RowScratch {
    /// Transposed rows for the SIMD path.
    il: Vec<f32>,
    /// Row-major sums for the scalar path.
    sums: Vec<f32>,
    /// A partial group padded to a whole one (`padded_simd`).
    pad: Vec<f32>,
    /// The padded group's sampled outputs (`padded_simd`).
    sampled: Vec<f32>,
}

/// The group's running sums with AVX2: the rows are transposed (8x8
/// blocks) so that one vector holds the same column of eight rows,
/// the sums advance as one vector with the scalar code's exact operations
/// (add the right edge, then subtract the left; IEEE per lane, no fused
/// multiply-add). The divisions happen in the transposed layout, and only
/// the outputs the caller asked for are transposed back.
mod simd_box {
    use super::RowOut;
    use crate::oriented::{Axes, Oriented};

    /// Returns false (doing nothing) when the CPU lacks AVX2.
    pub(super) fn rows(
        inp: &[f32],
        w: usize,
        window: usize,
        out: &mut RowOut,
        il: &mut Vec<f32>,
    ) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            if crate::divide::simd() {
                assert!(inp.len() >= super::GROUP * w && window >= 1 && window <= w);
                check_out(out, w);
                // Every element that is read is written first: no clearing.
                if il.len() < super::GROUP * w {
                    il.resize(super::GROUP * w, 0.0);
                }
                // SAFETY: AVX2 is present (checked above); sizes asserted.
                unsafe { rows_avx2(inp, w, window, out, il) };
                return true;
            }
        }
        let _ = (inp, w, window, out, il);
        false
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn transpose8(r: [std::arch::x86_64::__m256; 8]) -> [std::arch::x86_64::__m256; 8] {
        use std::arch::x86_64::*;
        let t0 = _mm256_unpacklo_ps(r[0], r[1]);
        let t1 = _mm256_unpackhi_ps(r[0], r[1]);
        let t2 = _mm256_unpacklo_ps(r[2], r[3]);
        let t3 = _mm256_unpackhi_ps(r[2], r[3]);
        let t4 = _mm256_unpacklo_ps(r[4], r[5]);
        let t5 = _mm256_unpackhi_ps(r[4], r[5]);
        let t6 = _mm256_unpacklo_ps(r[6], r[7]);
        let t7 = _mm256_unpackhi_ps(r[6], r[7]);
        let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
        let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
        let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
        let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
        let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
        let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
        let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
        let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
        [
            _mm256_permute2f128_ps::<0x20>(u0, u4),
            _mm256_permute2f128_ps::<0x20>(u1, u5),
            _mm256_permute2f128_ps::<0x20>(u2, u6),
            _mm256_permute2f128_ps::<0x20>(u3, u7),
            _mm256_permute2f128_ps::<0x31>(u0, u4),
            _mm256_permute2f128_ps::<0x31>(u1, u5),
            _mm256_permute2f128_ps::<0x31>(u2, u6),
            _mm256_permute2f128_ps::<0x31>(u3, u7),
        ]
    }

    /// SAFETY: caller checks AVX2 and FMA; `inp` and `il` hold GROUP * w;
    /// `out`'s offsets/columns are in bounds (asserted by `rows`).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    // `h` names the chain (and the eight rows) in the buffers' layout.
    #[allow(clippy::needless_range_loop)]
    unsafe fn rows_avx2(inp: &[f32], w: usize, window: usize, out: &mut RowOut, il: &mut [f32]) {
        use std::arch::x86_64::*;
        // Layout: tin[G * t + r] is column t of row r (G = GROUP = 8 * H):
        // H vectors per column, one per eight rows.
        const G: usize = super::GROUP;
        const H: usize = G / 8;
        let tin = &mut il[..G * w];
        let ip = inp.as_ptr();
        let tip = tin.as_mut_ptr();
        let blocks = w / 8;
        for h in 0..H {
            for b in 0..blocks {
                let t0 = 8 * b;
                let rows: [__m256; 8] =
                    std::array::from_fn(|r| _mm256_loadu_ps(ip.add((8 * h + r) * w + t0)));
                let cols = transpose8(rows);
                for (k, c) in cols.iter().enumerate() {
                    _mm256_storeu_ps(tip.add(G * (t0 + k) + 8 * h), *c);
                }
            }
            for t in 8 * blocks..w {
                for r in 0..8 {
                    *tip.add(G * t + 8 * h + r) = *ip.add((8 * h + r) * w + t);
                }
            }
        }
        sums_avx2(tin, w, window, out);
    }

    /// The group's running sums for rows `y..y + GROUP` of the picture
    /// `turned` reads from its plane, gathered straight from the plane into
    /// the interleaved layout (no row copy, and for a turn whose rows are
    /// the plane's columns no transpose either: sixteen neighbouring
    /// columns of one plane row are already one column of the layout).
    /// Returns false (doing nothing) when the CPU lacks AVX2.
    pub(super) fn rows_turned(
        turned: &Oriented,
        y: usize,
        window: usize,
        out: &mut RowOut,
        il: &mut Vec<f32>,
    ) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            if crate::divide::simd() {
                let (plane, pw, ph, axes) = turned.parts();
                let (w, h) = if axes.transpose { (ph, pw) } else { (pw, ph) };
                assert!(plane.len() >= pw * ph && y + super::GROUP <= h);
                assert!(window >= 1 && window <= w);
                check_out(out, w);
                if il.len() < super::GROUP * w {
                    il.resize(super::GROUP * w, 0.0);
                }
                // SAFETY: AVX2 is present (checked above); sizes asserted.
                unsafe { turned_avx2(plane, pw, ph, axes, y, window, out, il) };
                return true;
            }
        }
        let _ = (turned, y, window, out, il);
        false
    }

    /// The bounds `sums_avx2` relies on when it writes `out` for rows `w` long.
    fn check_out(out: &RowOut, w: usize) {
        match out {
            RowOut::Divided {
                counts,
                recips,
                buf,
                offsets,
            } => {
                assert!(counts.len() >= w && recips.is_none_or(|r| r.len() >= w));
                assert!(offsets.iter().all(|&o| o + w <= buf.len()));
            }
            RowOut::Sampled { counts, cols, out } => {
                assert!(out.len() >= super::GROUP * 64);
                assert!(cols.iter().all(|&x| x < w && x < counts.len()));
            }
        }
    }

    /// SAFETY: caller checks AVX2; `plane` holds `pw * ph`; rows `y..y +
    /// GROUP` exist in the turned picture; `il` holds GROUP * w
    /// (w the turned width); `out` is in bounds (`check_out`).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
    unsafe fn turned_avx2(
        plane: &[f32],
        pw: usize,
        ph: usize,
        a: Axes,
        y: usize,
        window: usize,
        out: &mut RowOut,
        il: &mut [f32],
    ) {
        use std::arch::x86_64::*;
        const G: usize = super::GROUP;
        const H: usize = G / 8;
        let w = if a.transpose { ph } else { pw };
        let tin = &mut il[..G * w];
        let pp = plane.as_ptr();
        let tip = tin.as_mut_ptr();
        if a.transpose {
            // Turned row y + r is plane column y + r (pw - 1 - (y + r)
            // mirrored), turned column t is plane row t (ph - 1 - t
            // mirrored): layout column t is G neighbouring values of one
            // plane row, lane-reversed when mirrored.
            let c_lo = if a.rev_x { pw - y - G } else { y };
            let rev = _mm256_setr_epi32(7, 6, 5, 4, 3, 2, 1, 0);
            for t in 0..w {
                let sy = if a.rev_y { ph - 1 - t } else { t };
                let s = pp.add(sy * pw + c_lo);
                for h in 0..H {
                    let v = if a.rev_x {
                        // Rows 8h..8h+8 are plane columns c_lo + G - 1 - 8h
                        // downwards.
                        _mm256_permutevar8x32_ps(_mm256_loadu_ps(s.add(G - 8 - 8 * h)), rev)
                    } else {
                        _mm256_loadu_ps(s.add(8 * h))
                    };
                    _mm256_storeu_ps(tip.add(G * t + 8 * h), v);
                }
            }
        } else {
            // Turned row y + r is plane row y + r (ph - 1 - (y + r) upside
            // down), turned column t plane column t (pw - 1 - t mirrored):
            // 8x8 transposes, stored at the mirrored column when mirrored.
            let blocks = w / 8;
            let col = |s: usize| if a.rev_x { pw - 1 - s } else { s };
            for h in 0..H {
                let row: [usize; 8] = std::array::from_fn(|r| {
                    let yr = y + 8 * h + r;
                    (if a.rev_y { ph - 1 - yr } else { yr }) * pw
                });
                for b in 0..blocks {
                    let s0 = 8 * b;
                    let rows: [__m256; 8] =
                        std::array::from_fn(|r| _mm256_loadu_ps(pp.add(row[r] + s0)));
                    let cols = transpose8(rows);
                    for (k, c) in cols.iter().enumerate() {
                        _mm256_storeu_ps(tip.add(G * col(s0 + k) + 8 * h), *c);
                    }
                }
                for s in 8 * blocks..w {
                    for r in 0..8 {
                        *tip.add(G * col(s) + 8 * h + r) = *pp.add(row[r] + s);
                    }
                }
            }
        }
        sums_avx2(tin, w, window, out);
    }

    /// The running sums over the interleaved rows `tin` (column t of row
    /// r at `tin[GROUP * t + r]`, rows `w` long), and the outputs `out`
    /// asks for, as the sums are made: eight outputs of each chain are
    /// kept in registers, then divided, transposed and stored (no buffer of
    /// all the sums written and read back).
    /// SAFETY: caller checks AVX2 and FMA; `tin` holds GROUP * w; `out` is
    /// in bounds (`check_out`).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::needless_range_loop)]
    unsafe fn sums_avx2(tin: &[f32], w: usize, window: usize, out: &mut RowOut) {
        use std::arch::x86_64::*;
        const G: usize = super::GROUP;
        const H: usize = G / 8;
        let tip = tin.as_ptr();
        let half = (window + 2) / 2;
        let lag = half - 1;
        let col = |t: usize, h: usize| _mm256_loadu_ps(tip.add(G * t + 8 * h));
        // H independent chains side by side (each chain's add-then-subtract
        // is a latency chain; two of them keep the adder busy), in the
        // reference's order: add the right edge, then subtract the left.
        let mut s = [_mm256_setzero_ps(); H];
        for t in 0..lag {
            for h in 0..H {
                s[h] = _mm256_add_ps(s[h], col(t, h));
            }
        }
        // Output `o` is the sum after input `o + lag`: added while inside
        // the row, the input `window` back subtracted once there is one.
        let step = |o: usize, s: &mut [__m256; H]| {
            let t = o + lag;
            for h in 0..H {
                if t < w {
                    s[h] = _mm256_add_ps(s[h], col(t, h));
                }
                if t >= window {
                    s[h] = _mm256_sub_ps(s[h], col(t - window, h));
                }
            }
        };
        match out {
            RowOut::Divided {
                counts,
                recips,
                buf,
                offsets,
            } => {
                let bp = buf.as_mut_ptr();
                let cp = counts.as_ptr();
                let rp = recips.map(|r| r.as_ptr());
                let quot = |v: __m256, t: usize| match rp {
                    Some(rp) => crate::divide::by_reciprocal_avx2(
                        v,
                        _mm256_set1_ps(*cp.add(t)),
                        _mm256_set1_ps(*rp.add(t)),
                    ),
                    None => _mm256_div_ps(v, _mm256_set1_ps(*cp.add(t))),
                };
                let blocks = w / 8;
                let mut cols = [[_mm256_setzero_ps(); 8]; H];
                for b in 0..blocks {
                    let t0 = 8 * b;
                    for k in 0..8 {
                        step(t0 + k, &mut s);
                        for h in 0..H {
                            cols[h][k] = quot(s[h], t0 + k);
                        }
                    }
                    // Column t0 + k of the rows back into the rows.
                    for h in 0..H {
                        let rows = transpose8(cols[h]);
                        for (r, v) in rows.iter().enumerate() {
                            _mm256_storeu_ps(bp.add(offsets[8 * h + r] + t0), *v);
                        }
                    }
                }
                let mut lanes = [0f32; 8];
                for t in 8 * blocks..w {
                    step(t, &mut s);
                    for h in 0..H {
                        _mm256_storeu_ps(lanes.as_mut_ptr(), quot(s[h], t));
                        for (r, &l) in lanes.iter().enumerate() {
                            *bp.add(offsets[8 * h + r] + t) = l;
                        }
                    }
                }
            }
            RowOut::Sampled { counts, cols, out } => {
                // Only the 64 sampled columns (sorted; a narrow picture
                // repeats one) are divided and kept.
                let mut lanes = [0f32; 8];
                let mut next = 0usize;
                for o in 0..w {
                    step(o, &mut s);
                    while next < 64 && cols[next] == o {
                        for h in 0..H {
                            let v = _mm256_div_ps(s[h], _mm256_set1_ps(counts[o]));
                            _mm256_storeu_ps(lanes.as_mut_ptr(), v);
                            for (r, &l) in lanes.iter().enumerate() {
                                out[(8 * h + r) * 64 + next] = l;
                            }
                        }
                        next += 1;
                    }
                }
            }
        }
    }
}

/// Rows processed side by side in the row passes.
const GROUP: usize = 16;

/// The column pass as a stream: rows are written into a ring (by the row
/// pass, in place), advanced one at a time, and blurred rows come out
/// (lagging by half a window) with the same running-sum arithmetic as the
/// reference's column loop. The ring holds `window + GROUP` rows so that a
/// whole group can be written before its rows are advanced.
struct ColumnBox {
    w: usize,
    len: usize,
    window: usize,
    lag: usize,
    sums: Vec<f32>,
    cur: usize,
    ring: Vec<f32>,
    ring_rows: usize,
    /// Input row `t` is ring row `len - 1 - t` (only over a whole plane).
    reversed: bool,
    pushed: usize,
}

impl ColumnBox {
    fn new(w: usize, len: usize, window: usize, ring: Vec<f32>, sums: Vec<f32>) -> Self {
        let ring_rows = window + GROUP;
        // Every slot is written by the row pass before it is read, so the
        // old contents stay (zeroing them cost a memory pass per turn).
        let mut ring = ring;
        ring.truncate(ring_rows * w);
        ring.resize(ring_rows * w, 0.0);
        let mut sums = sums;
        sums.clear();
        sums.resize(w, 0.0);
        ColumnBox {
            w,
            len,
            window,
            lag: (window + 2) / 2 - 1,
            sums,
            cur: 0,
            ring,
            ring_rows,
            reversed: false,
            pushed: 0,
        }
    }

    /// The column pass over rows already all in `plane` (`len` rows of
    /// `w`), read top down, or bottom up when `reversed` (a picture and its
    /// upside-down twin share their first row pass this way).
    fn over_plane(
        w: usize,
        len: usize,
        window: usize,
        plane: Vec<f32>,
        sums: Vec<f32>,
        reversed: bool,
    ) -> Self {
        debug_assert!(plane.len() >= w * len);
        let mut sums = sums;
        sums.clear();
        sums.resize(w, 0.0);
        ColumnBox {
            w,
            len,
            window,
            lag: (window + 2) / 2 - 1,
            sums,
            cur: 0,
            ring: plane,
            ring_rows: len,
            reversed,
            pushed: 0,
        }
    }

    /// Offset in the ring of input row `t`.
    fn slot(&self, t: usize) -> usize {
        if self.reversed {
            (self.len - 1 - t) * self.w
        } else {
            (t % self.ring_rows) * self.w
        }
    }

    /// The next input row has been written into its slot: add it (and
    /// drop the row leaving the window). Returns the index of the output
    /// row that is now final, if any (then call `write_out`).
    fn advance(&mut self) -> Option<usize> {
        let t = self.pushed;
        self.pushed += 1;
        let w = self.w;
        let new = self.slot(t);
        // Over a whole plane (a turn's shared first pass, far beyond L1),
        // ask for the next row while this one is summed.
        #[cfg(target_arch = "x86_64")]
        if self.ring_rows == self.len && t + 1 < self.len {
            let next = self.slot(t + 1);
            let p = self.ring[next..next + w].as_ptr();
            for k in (0..w).step_by(16) {
                // SAFETY: a prefetch of an address inside the row; it has
                // no effect beyond the cache.
                unsafe {
                    std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                        p.add(k).cast(),
                    )
                };
            }
        }
        if t < self.window {
            col_simd::add(&mut self.sums, &self.ring[new..new + w]);
            self.cur += 1;
        } else {
            let old = self.slot(t - self.window);
            col_simd::add_sub(
                &mut self.sums,
                &self.ring[new..new + w],
                &self.ring[old..old + w],
            );
        }
        (t >= self.lag).then(|| t - self.lag)
    }

    /// After the last row, trailing output `i` of `lag` (a shrinking
    /// window); returns its row index (then call `write_out`).
    fn trail(&mut self, i: usize) -> usize {
        debug_assert_eq!(self.pushed, self.len);
        let w = self.w;
        let old = self.slot(self.len - self.window + i);
        col_simd::sub(&mut self.sums, &self.ring[old..old + w]);
        self.cur -= 1;
        self.len - self.lag + i
    }

    fn write_out(&self, out: &mut [f32]) {
        col_simd::div(out, &self.sums, self.cur as f32);
    }
}

/// The column pass's whole-row loops, compiled twice: for AVX2 (eight
/// lanes; chosen at run time) and for the baseline. Plain element-wise IEEE
/// adds, subtracts and divisions, so both give the same bits; the compiler
/// vectorises them, it does not reorder or fuse them.
mod col_simd {
    macro_rules! twice {
        ($name:ident, $avx:ident, ($($arg:ident: $ty:ty),*), $body:block) => {
            #[inline(always)]
            fn $name($($arg: $ty),*) $body

            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2")]
            unsafe fn $avx($($arg: $ty),*) {
                $name($($arg),*)
            }
        };
    }

    twice!(add_plain, add_avx2, (sums: &mut [f32], row: &[f32]), {
        for (s, &v) in sums.iter_mut().zip(row) {
            *s += v;
        }
    });
    twice!(sub_plain, sub_avx2, (sums: &mut [f32], row: &[f32]), {
        for (s, &o) in sums.iter_mut().zip(row) {
            *s -= o;
        }
    });
    twice!(add_sub_plain, add_sub_avx2, (sums: &mut [f32], row: &[f32], old: &[f32]), {
        for ((s, &v), &o) in sums.iter_mut().zip(row).zip(old) {
            *s += v;
            *s -= o;
        }
    });
    twice!(div_plain, div_avx2, (out: &mut [f32], sums: &[f32], c: f32), {
        for (o, &s) in out.iter_mut().zip(sums) {
            *o = s / c;
        }
    });

    /// `div` by the reciprocal (`crate::divide`), for counts it is checked
    /// for; compiled with FMA only.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn div_rcp_avx2(out: &mut [f32], sums: &[f32], c: f32, r: f32) {
        for (o, &s) in out.iter_mut().zip(sums) {
            *o = crate::divide::by_reciprocal(s, c, r);
        }
    }

    fn avx2() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            std::is_x86_feature_detected!("avx2")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }

    pub(super) fn add(sums: &mut [f32], row: &[f32]) {
        #[cfg(target_arch = "x86_64")]
        if avx2() {
            // SAFETY: the CPU has AVX2 (checked at run time).
            return unsafe { add_avx2(sums, row) };
        }
        add_plain(sums, row)
    }

    pub(super) fn sub(sums: &mut [f32], row: &[f32]) {
        #[cfg(target_arch = "x86_64")]
        if avx2() {
            // SAFETY: the CPU has AVX2 (checked at run time).
            return unsafe { sub_avx2(sums, row) };
        }
        sub_plain(sums, row)
    }

    pub(super) fn add_sub(sums: &mut [f32], row: &[f32], old: &[f32]) {
        #[cfg(target_arch = "x86_64")]
        if avx2() {
            // SAFETY: the CPU has AVX2 (checked at run time).
            return unsafe { add_sub_avx2(sums, row, old) };
        }
        add_sub_plain(sums, row, old)
    }

    pub(super) fn div(out: &mut [f32], sums: &[f32], c: f32) {
        #[cfg(target_arch = "x86_64")]
        if (1.0..=crate::divide::MAX_DIVISOR as f32).contains(&c) && crate::divide::simd() {
            // SAFETY: the CPU has AVX2 and FMA (checked at run time).
            return unsafe { div_rcp_avx2(out, sums, c, 1.0 / c) };
        }
        #[cfg(target_arch = "x86_64")]
        if avx2() {
            // SAFETY: the CPU has AVX2 (checked at run time).
            return unsafe { div_avx2(out, sums, c) };
        }
        div_plain(out, sums, c)
    }
}

/// Reusable buffers, so hashing many images allocates only when a larger
/// image comes along.
#[derive(Default)]
pub(crate) struct Scratch {
    group_in: Vec<f32>,
    group2_in: Vec<f32>,
    ring: Vec<f32>,
    sums: Vec<f32>,
    mid: Vec<f32>,
    /// The first row pass of a whole turned picture (shared by twins).
    first: Vec<f32>,
    rows: RowScratch,
}

/// Blur (two rounds of box filters, the Jarosz tent) and decimate to 64x64,
/// bit-identical to the reference's `jaroszFilterFloat` + `decimateFloat`.
/// `src` must be at least 1x1.
pub(crate) fn downsample_64(src: &dyn LumaSource, sc: &mut Scratch) -> [[f32; 64]; 64] {
    downsample_64_from(src, First::Stream(None), sc)
}

/// [`downsample_64`] of a turned picture, whose first row pass gathers the
/// turned rows straight from the plane (same values, same operations: see
/// `simd_box::rows_turned`).
pub(crate) fn downsample_turned(turned: &Oriented, sc: &mut Scratch) -> [[f32; 64]; 64] {
    downsample_64_from(turned, First::Stream(Some(turned)), sc)
}

/// [`downsample_64`] of `turned` and of its upside-down twin (the same
/// rows in the opposite order: `Oriented::twin`), in that order. Both
/// pictures' first row pass gives the same rows (each row is the same
/// values walked in the same direction), so it runs once, over the whole
/// picture, and both column passes read it, one top down and one bottom
/// up. Every other pass walks in a direction of its own and runs twice.
pub(crate) fn downsample_twins(turned: &Oriented, sc: &mut Scratch) -> [[[f32; 64]; 64]; 2] {
    let w = turned.width();
    let h = turned.height();
    let wr = window_size(w, 64);
    let counts_w = window_counts(w, wr);
    let recips_w = crate::divide::reciprocals(&counts_w);
    let mut first = std::mem::take(&mut sc.first);
    // Every value is written below before it is read: no zeroing (a memory
    // pass over the picture).
    first.truncate(w * h);
    first.resize(w * h, 0.0);
    if sc.group_in.len() < GROUP * w {
        sc.group_in.resize(GROUP * w, 0.0);
    }
    let mut y = 0;
    while y < h {
        let n = GROUP.min(h - y);
        let offsets: [usize; GROUP] = std::array::from_fn(|r| (y + r.min(n - 1)) * w);
        let mut out = RowOut::Divided {
            counts: &counts_w,
            recips: recips_w.as_deref(),
            buf: &mut first,
            offsets,
        };
        let gathered =
            n == GROUP && simd_box::rows_turned(turned, y, wr, &mut out, &mut sc.rows.il);
        if !gathered {
            turned.luma_rows(y, n, &mut sc.group_in[..n * w]);
            row_pass(&sc.group_in, n, w, wr, &mut out, &mut sc.rows);
        }
        y += n;
    }
    sc.first = first;
    // The upside-down twin first: its column pass starts at the bottom
    // rows, the ones the row pass wrote last and still in cache, and ends
    // at the top, where the other column pass then starts.
    let twin = downsample_64_from(turned, First::Done { reversed: true }, sc);
    [
        downsample_64_from(turned, First::Done { reversed: false }, sc),
        twin,
    ]
}

/// Where the first row pass comes from.
enum First<'a> {
    /// Run now, a group of rows at a time, into the column pass's ring;
    /// with a turned picture, its rows are gathered from its plane.
    Stream(Option<&'a Oriented<'a>>),
    /// Already in `Scratch::first` (all rows), read top down or bottom up.
    Done { reversed: bool },
}

/// `src` gives the size (and, streamed, the rows) of what is hashed.
fn downsample_64_from(src: &dyn LumaSource, first: First, sc: &mut Scratch) -> [[f32; 64]; 64] {
    let w = src.width();
    let h = src.height();
    let wr = window_size(w, 64); // window along rows (horizontal)
    let wc = window_size(h, 64); // window along columns (vertical)
    let counts_w = window_counts(w, wr);
    let recips_w = crate::divide::reciprocals(&counts_w);
    let counts_h = window_counts(h, wc);
    let cols = sample_positions(w);
    let rows = sample_positions(h);

    let Scratch {
        group_in,
        group2_in,
        ring,
        sums,
        mid,
        first: first_plane,
        rows: rsc,
    } = sc;
    for v in [&mut *group_in, &mut *group2_in] {
        if v.len() < GROUP * w {
            v.resize(GROUP * w, 0.0);
        }
    }
    if mid.len() < h * 64 {
        mid.resize(h * 64, 0.0);
    }

    let mut vbox = match first {
        First::Stream(_) => ColumnBox::new(w, h, wc, std::mem::take(ring), std::mem::take(sums)),
        First::Done { reversed } => ColumnBox::over_plane(
            w,
            h,
            wc,
            std::mem::take(first_plane),
            std::mem::take(sums),
            reversed,
        ),
    };
    // The first column pass's output rows, a group at a time, go through the
    // second round's row pass, which keeps only the sampled columns (`mid`,
    // h x 64).
    let mut pending2 = 0usize; // rows buffered in group2_in
    let mut first2 = 0usize; // output row index of group2_in's first row
    let mut flush2 = |g_in: &[f32], n: usize, first: usize, rsc: &mut RowScratch| {
        let mut out = RowOut::Sampled {
            counts: &counts_w,
            cols: &cols,
            out: &mut mid[first * 64..(first + n) * 64],
        };
        row_pass(g_in, n, w, wr, &mut out, rsc);
    };
    // Output row `o` of the column pass is final: buffer it, and run the
    // second row pass when a group is full.
    let mut emit = |vbox: &ColumnBox, o: usize, rsc: &mut RowScratch| {
        if pending2 == 0 {
            first2 = o;
        }
        vbox.write_out(&mut group2_in[pending2 * w..(pending2 + 1) * w]);
        pending2 += 1;
        if pending2 == GROUP {
            flush2(group2_in, GROUP, first2, rsc);
            pending2 = 0;
        }
    };
    let mut y = 0;
    while y < h {
        let n = GROUP.min(h - y);
        if let First::Stream(turned) = first {
            let offsets: [usize; GROUP] = std::array::from_fn(|r| vbox.slot(y + r.min(n - 1)));
            let mut out = RowOut::Divided {
                counts: &counts_w,
                recips: recips_w.as_deref(),
                buf: &mut vbox.ring,
                offsets,
            };
            let gathered = n == GROUP
                && turned.is_some_and(|t| simd_box::rows_turned(t, y, wr, &mut out, &mut rsc.il));
            if !gathered {
                src.luma_rows(y, n, &mut group_in[..n * w]);
                row_pass(group_in, n, w, wr, &mut out, rsc);
            }
        }
        for _ in 0..n {
            if let Some(o) = vbox.advance() {
                emit(&vbox, o, rsc);
            }
        }
        y += n;
    }
    for i in 0..vbox.lag {
        let o = vbox.trail(i);
        emit(&vbox, o, rsc);
    }
    if pending2 > 0 {
        flush2(group2_in, pending2, first2, rsc);
    }
    match first {
        First::Stream(_) => *ring = std::mem::take(&mut vbox.ring),
        First::Done { .. } => *first_plane = std::mem::take(&mut vbox.ring),
    }
    *sums = std::mem::take(&mut vbox.sums);

    // Second-round column pass over the 64 sampled columns: running sums
    // down every row, divided only where a sample row is taken (rows come
    // out in order, and short images repeat a sample row).
    let mut out = [[0f32; 64]; 64];
    let mut s = [0f32; 64];
    let half = (wc + 2) / 2;
    let lag = half - 1;
    let mut next = 0usize;
    let mut take = |o_row: usize, s: &[f32; 64]| {
        while next < 64 && rows[next] == o_row {
            for (v, &x) in out[next].iter_mut().zip(s) {
                *v = x / counts_h[o_row];
            }
            next += 1;
        }
    };
    for t in 0..h {
        let add = &mid[t * 64..(t + 1) * 64];
        if t < wc {
            for o in 0..64 {
                s[o] += add[o];
            }
        } else {
            let sub = &mid[(t - wc) * 64..(t - wc + 1) * 64];
            for o in 0..64 {
                s[o] += add[o];
                s[o] -= sub[o];
            }
        }
        if t >= lag {
            take(t - lag, &s);
        }
    }
    for i in 0..lag {
        let li = h - wc + i;
        let sub = &mid[li * 64..(li + 1) * 64];
        for o in 0..64 {
            s[o] -= sub[o];
        }
        take(h - lag + i, &s);
    }
    out
}
#[cfg(test)]
pub(crate) mod reference {
    //! A direct port of the reference loop structure (full-size buffers,
    //! strided column pass), kept only to prove the streaming version equal.

    fn box1d(inp: &[f32], out: &mut [f32], len: usize, stride: usize, window: usize) {
        let half = (window + 2) / 2;
        let p1 = half - 1;
        let p2 = window - half + 1;
        let p3 = len - window;
        let p4 = half - 1;
        let (mut li, mut ri, mut oi) = (0, 0, 0);
        let mut sum = 0f32;
        let mut cur = 0i32;
        for _ in 0..p1 {
            sum += inp[ri];
            cur += 1;
            ri += stride;
        }
        for _ in 0..p2 {
            sum += inp[ri];
            cur += 1;
            out[oi] = sum / cur as f32;
            ri += stride;
            oi += stride;
        }
        for _ in 0..p3 {
            sum += inp[ri];
            sum -= inp[li];
            out[oi] = sum / cur as f32;
            li += stride;
            ri += stride;
            oi += stride;
        }
        for _ in 0..p4 {
            sum -= inp[li];
            cur -= 1;
            out[oi] = sum / cur as f32;
            li += stride;
            oi += stride;
        }
    }

    pub(crate) fn downsample_64(luma: &[f32], w: usize, h: usize) -> [[f32; 64]; 64] {
        let wr = super::window_size(w, 64);
        let wc = super::window_size(h, 64);
        let mut b1 = luma.to_vec();
        let mut b2 = vec![0f32; w * h];
        for _ in 0..2 {
            for i in 0..h {
                box1d(&b1[i * w..], &mut b2[i * w..], w, 1, wr);
            }
            for j in 0..w {
                // Column j: stride w, starting at offset j.
                let inp = b2[j..].to_vec();
                let mut out = vec![0f32; inp.len()];
                box1d(&inp, &mut out, h, w, wc);
                for i in 0..h {
                    b1[j + i * w] = out[i * w];
                }
            }
        }
        let mut out = [[0f32; 64]; 64];
        for (oi, row) in out.iter_mut().enumerate() {
            let ini = (((oi as f64 + 0.5) * h as f64) / 64.0) as usize;
            for (oj, v) in row.iter_mut().enumerate() {
                let inj = (((oj as f64 + 0.5) * w as f64) / 64.0) as usize;
                *v = b1[ini * w + inj];
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::luma::FloatLuma;

    /// A deterministic pseudo-random float image (xorshift), values 0..255.
    pub(crate) fn noise(w: usize, h: usize, seed: u64) -> Vec<f32> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..w * h)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % 25600) as f32 / 100.0 + 0.0137
            })
            .collect()
    }

    #[test]
    fn simd_and_scalar_row_passes_agree() {
        // The scalar path only runs on CPUs without AVX2; keep it honest here:
        // both output modes, rows scattered to non-contiguous offsets.
        for &(w, window) in &[(8usize, 1usize), (13, 2), (100, 7), (517, 5), (4000, 32)] {
            let inp = noise(w, GROUP, w as u64);
            let counts = window_counts(w, window);
            let recips = crate::divide::reciprocals(&counts);
            let cols = sample_positions(w);
            let mut sums = vec![0f32; GROUP * w];
            box_sums_rows::<GROUP>(&inp, &mut sums, w, window);
            let offsets: [usize; GROUP] = std::array::from_fn(|r| ((r * 5) % GROUP) * w + 3);
            let mut il = Vec::new();
            let run = |simd: bool, sampled: bool, il: &mut Vec<f32>| -> Option<Vec<u32>> {
                let mut buf = vec![0f32; GROUP * w + 3];
                let mut smp = vec![0f32; GROUP * 64];
                let mut out = if sampled {
                    RowOut::Sampled {
                        counts: &counts,
                        cols: &cols,
                        out: &mut smp,
                    }
                } else {
                    RowOut::Divided {
                        counts: &counts,
                        recips: recips.as_deref(),
                        buf: &mut buf,
                        offsets,
                    }
                };
                if simd {
                    if !simd_box::rows(&inp, w, window, &mut out, il) {
                        return None;
                    }
                } else {
                    out.write_sums(&sums, GROUP, w);
                }
                let v = if sampled { smp } else { buf };
                Some(v.iter().map(|x| x.to_bits()).collect())
            };
            for sampled in [false, true] {
                let scalar = run(false, sampled, &mut il).unwrap();
                if let Some(simd) = run(true, sampled, &mut il) {
                    assert_eq!(scalar, simd, "w={w} window={window} sampled={sampled}");
                }
            }
        }
    }

    #[test]
    fn padded_partial_groups_equal_scalar_rows() {
        // The last, partial group of a picture (1..GROUP rows) through the
        // padded SIMD path against one scalar running sum per row, both
        // output modes; each real row must get exactly its own bits, and no
        // slot but the real rows' may be written.
        for &(w, window) in &[(13usize, 2usize), (100, 7), (517, 5)] {
            let counts = window_counts(w, window);
            let recips = crate::divide::reciprocals(&counts);
            let cols = sample_positions(w);
            for n in 1..GROUP {
                let inp = noise(w, n, (w * 31 + n) as u64);
                let mut sums = vec![0f32; n * w];
                box_sums_rows_dyn(&inp, &mut sums, n, w, window);
                let offsets: [usize; GROUP] = std::array::from_fn(|r| (n - 1 - r.min(n - 1)) * w);
                for sampled in [false, true] {
                    let mut results = Vec::new();
                    for padded in [false, true] {
                        let mut buf = vec![-1f32; n * w];
                        let mut smp = vec![-1f32; n * 64];
                        let mut out = if sampled {
                            RowOut::Sampled {
                                counts: &counts,
                                cols: &cols,
                                out: &mut smp,
                            }
                        } else {
                            RowOut::Divided {
                                counts: &counts,
                                recips: recips.as_deref(),
                                buf: &mut buf,
                                offsets,
                            }
                        };
                        if padded {
                            let mut sc = RowScratch::default();
                            if !padded_simd(&inp, n, w, window, &mut out, &mut sc) {
                                return; // no SIMD on this CPU: nothing to compare
                            }
                        } else {
                            out.write_sums(&sums, n, w);
                        }
                        let v = if sampled { smp } else { buf };
                        results.push(v.iter().map(|x| x.to_bits()).collect::<Vec<u32>>());
                    }
                    assert_eq!(results[0], results[1], "w={w} n={n} sampled={sampled}");
                }
            }
        }
    }

    #[test]
    fn turned_equals_reference_of_turned_plane() {
        // The gathered first row pass (every turn, both layouts, mirrored
        // lanes and columns) against the reference port run on the turned
        // plane written out pixel by pixel; sizes with partial 8-column
        // blocks, partial row groups, odd and even windows.
        use crate::dct::DihedralKind;
        let mut sc = Scratch::default();
        for (i, &(w, h)) in [
            (37usize, 53usize),
            (130, 91),
            (333, 17),
            (16, 200),
            (1030, 517),
        ]
        .iter()
        .enumerate()
        {
            let img = noise(w, h, 40 + i as u64);
            for kind in DihedralKind::ALL {
                let o = Oriented::new(&img, w, h, kind).unwrap();
                let (ow, oh) = (o.width(), o.height());
                let mut turned = vec![0f32; w * h];
                o.luma_rows(0, oh, &mut turned);
                let want = reference::downsample_64(&turned, ow, oh);
                // The twin's picture: the same rows, bottom up.
                let flipped: Vec<f32> = turned.chunks_exact(ow).rev().flatten().copied().collect();
                let want_twin = reference::downsample_64(&flipped, ow, oh);
                let got = downsample_turned(&o, &mut sc);
                let [pair, pair_twin] = downsample_twins(&o, &mut sc);
                for (what, got, want) in [
                    ("streamed", got, want),
                    ("twins", pair, want),
                    ("twins, upside down", pair_twin, want_twin),
                ] {
                    for r in 0..64 {
                        for c in 0..64 {
                            assert_eq!(
                                got[r][c].to_bits(),
                                want[r][c].to_bits(),
                                "{what}: {kind:?} {w}x{h} at ({r},{c})"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn window_matches_reference_formula() {
        assert_eq!(window_size(1024, 64), 8);
        assert_eq!(window_size(1025, 64), 9);
        assert_eq!(window_size(5, 64), 1);
    }

    #[test]
    fn streaming_equals_reference() {
        let mut sc = Scratch::default();
        let sizes = [
            (5, 5),
            (7, 300),
            (64, 64),
            (65, 63),
            (127, 129),
            (128, 128),
            (250, 187),
            (333, 17),
            (1000, 9),
            (517, 771),
            (1601, 1003),
            (9, 2000),
        ];
        for (i, &(w, h)) in sizes.iter().enumerate() {
            let img = noise(w, h, i as u64 + 1);
            let want = reference::downsample_64(&img, w, h);
            let src = FloatLuma::new(&img, w, h).unwrap();
            let got = downsample_64(&src, &mut sc);
            for r in 0..64 {
                for c in 0..64 {
                    assert_eq!(
                        got[r][c].to_bits(),
                        want[r][c].to_bits(),
                        "{w}x{h} at ({r},{c}): {} vs {}",
                        got[r][c],
                        want[r][c]
                    );
                }
            }
        }
    }
}
