//! A bit-exact stand-in for the one libswscale path TMK+PDQF uses on
//! almost every video: 8-bit 4:2:0 (`yuv420p` / `yuvj420p`), larger than
//! 64x64 both ways, scaled with `SWS_BICUBIC` (default parameters) to 64x64
//! RGB24, as FFmpeg 5.1's scale filter sets it up ([`super::tmk_frames`]).
//!
//! Why: on short SD clips libswscale's scale was ~90 % of what TMK adds to
//! hashing a video (callgrind), half of it its scalar C vertical filter and
//! RGB output (`yuv2rgb24_X_c`). The arithmetic is reproduced here from
//! reading FFmpeg 5.1.9's `libswscale` (`utils.c` `initFilter`,
//! `sws_init_context`'s sizes and chroma positions, `swscale.c`
//! `hScale8To15_c`, `output.c` `yuv2rgb_X_c_template`, `yuv2rgb.c`
//! `ff_yuv2rgb_c_init_tables`), all integer: the same filters, the same
//! 15-bit intermediate lines, the same 19-bit vertical sums and the same
//! lookup tables, so the same bytes. Anything outside that domain (another
//! format, a small or huge frame, a cascade) goes to libswscale itself;
//! [`Scaler::new`] says which.
//!
//! A source row equal to the row above it gives the same horizontal
//! output, so it is copied instead of computed ([`Plane::repeats`]): bars,
//! flat graphics and title cards repeat rows for long stretches, and on a
//! 1080x1080 test pattern (`test-padded-dimensions`) more than half of the
//! blocks of eight rows are repeats. The copy is exact by construction (the
//! same bytes in, the same integer arithmetic).
//!
//! Likewise an output row whose vertical taps read only lines that are
//! as the last frame left them is that frame's row again
//! ([`Scaler::marks`]): a copy, not a sum.
//!
//! The tests compare it with libswscale in-process on random frames of
//! many sizes, both ranges and every colour matrix the CLI can pick.

/// Side of the TMK frame (the CLI's `-s 64:64`).
const SIDE: usize = 64;
/// libswscale's `SWS_MAX_FILTER_SIZE`: a filter this long makes it
/// cascade two contexts instead (not reproduced).
const MAX_FILTER_SIZE: usize = 256;
/// libswscale's `SWS_MAX_REDUCE_CUTOFF`.
const REDUCE_CUTOFF: f64 = 0.002;
/// `YUVRGB_TABLE_HEADROOM` and `YUVRGB_TABLE_LUMA_HEADROOM`.
const HEADROOM: i64 = 512;

/// One direction's filter, as `initFilter` leaves it: for each output
/// sample, the first input sample and `size` coefficients.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Filter {
    size: usize,
    pos: Vec<usize>,
    /// Taps of each output that fall inside the input (`initFilter` may
    /// leave zero taps past the end, which libswscale reads in padding).
    len: Vec<usize>,
    coef: Vec<i16>,
}

impl Filter {
    /// Each output's taps zero-padded to `pad` (a multiple of 16), for
    /// the AVX2 horizontal pass: padded taps multiply whatever follows in
    /// the (padded) line by zero.
    fn padded(&self) -> (usize, Vec<i16>) {
        let pad = self.size.div_ceil(16) * 16;
        let mut out = vec![0i16; self.pos.len() * pad];
        for i in 0..self.pos.len() {
            let n = self.len[i];
            out[i * pad..i * pad + n].copy_from_slice(&self.coef[i * self.size..i * self.size + n]);
        }
        (pad, out)
    }
}

/// `get_local_pos`: a chroma sample's position in 1/256 of an input pixel
/// relative to the ideal left edge (-513 or -1: the default siting).
fn local_pos(subsample: u32, pos: i32) -> i32 {
    let pos = if pos == -1 || pos <= -513 {
        (128 << subsample) - 128
    } else {
        pos
    };
    (pos + 128) >> subsample
}

/// `ROUNDED_DIV`.
fn rounded_div(a: i64, b: i64) -> i64 {
    if a >= 0 {
        (a + (b >> 1)) / b
    } else {
        (a - (b >> 1)) / b
    }
}

/// `av_log2` of a non-negative value (0 for 0).
fn log2(v: i64) -> i64 {
    if v <= 0 {
        0
    } else {
        63 - i64::from(v.leading_zeros())
    }
}

/// `initFilter` for `SWS_BICUBIC` with the default parameters (B = 0,
/// C = 0.6), no source or destination filter vectors, on x86 (MMX present:
/// `align` 4 horizontally, 2 vertically). `None` where libswscale would
/// cascade or the sizes are degenerate.
fn init_filter(
    inc: i64,
    src_w: usize,
    dst_w: usize,
    align: usize,
    one: i64,
    src_pos: i32,
    dst_pos: i32,
) -> Option<Filter> {
    if src_w < 4 || dst_w == 0 || src_w > 1 << 20 {
        return None;
    }
    let (sw, dw) = (src_w as i64, dst_w as i64);
    let fone: i64 = 1 << (54 - log2(sw / dw).min(8));
    let mut pos = vec![0i64; dst_w];
    let size: usize;
    let mut filter: Vec<i64>;
    if (inc - 0x10000).abs() < 10 && src_pos == dst_pos {
        // Unscaled: one tap.
        size = 1;
        filter = vec![fone; dst_w];
        for (i, p) in pos.iter_mut().enumerate() {
            *p = i as i64;
        }
    } else {
        const SIZE_FACTOR: i64 = 4; // bicubic
        let s = if inc <= 1 << 16 {
            1 + SIZE_FACTOR
        } else {
            1 + (SIZE_FACTOR * sw + dw - 1) / dw
        };
        size = s.min(sw - 2).max(1) as usize;
        filter = vec![0i64; dst_w * size];
        // B = 0 * 2^24, C = (int64_t)(0.6 * 2^24).
        let b: i64 = 0;
        let c: i64 = (0.6f64 * f64::from(1 << 24)) as i64;
        let mut x_dst_in_src =
            ((i64::from(dst_pos) * inc) >> 7) - ((i64::from(src_pos) * 0x10000) >> 7);
        for i in 0..dst_w {
            let first = (x_dst_in_src - (size as i64 - 2) * (1 << 16)) / (1 << 17);
            pos[i] = first;
            for (j, xx) in (first..first + size as i64).enumerate() {
                let mut d = ((xx * (1 << 17)) - x_dst_in_src).abs() << 13;
                if inc > 1 << 16 {
                    d = d * dw / sw;
                }
                let mut coeff: i64 = if d >= 1 << 31 {
                    0
                } else {
                    let dd = (d * d) >> 30;
                    let ddd = (dd * d) >> 30;
                    if d < 1 << 30 {
                        (12 * (1 << 24) - 9 * b - 6 * c) * ddd
                            + (-18 * (1 << 24) + 12 * b + 6 * c) * dd
                            + (6 * (1 << 24) - 2 * b) * (1 << 30)
                    } else {
                        (-b - 6 * c) * ddd
                            + (6 * b + 30 * c) * dd
                            + (-12 * b - 48 * c) * d
                            + (8 * b + 24 * c) * (1 << 30)
                    }
                };
                coeff /= (1i64 << 54) / fone;
                filter[i * size + j] = coeff;
            }
            x_dst_in_src += 2 * inc;
        }
    }
    // No source filter: filter2 is the filter.
    let f2 = size;
    let cutoff = REDUCE_CUTOFF * fone as f64;
    let mut min_size = 0usize;
    for i in (0..dst_w).rev() {
        let row = &mut filter[i * f2..(i + 1) * f2];
        let mut min = f2;
        let mut cut: i64 = 0;
        for _ in 0..f2 {
            cut += row[0].abs();
            if cut as f64 > cutoff {
                break;
            }
            if i < dst_w - 1 && pos[i] >= pos[i + 1] {
                break;
            }
            row.copy_within(1.., 0);
            row[f2 - 1] = 0;
            pos[i] += 1;
        }
        cut = 0;
        for j in (1..f2).rev() {
            cut += row[j].abs();
            if cut as f64 > cutoff {
                break;
            }
            min -= 1;
        }
        min_size = min_size.max(min);
    }
    if min_size == 0 {
        return None;
    }
    let align = if min_size == 1 && align == 2 {
        1
    } else {
        align
    };
    let size = (min_size + align - 1) & !(align - 1);
    if size >= MAX_FILTER_SIZE {
        return None;
    }
    let mut out = vec![0i64; dst_w * size];
    for i in 0..dst_w {
        for j in 0..size.min(f2) {
            out[i * size + j] = filter[i * f2 + j];
        }
    }
    // Borders: fold taps outside the input onto its first or last sample.
    for i in 0..dst_w {
        let row = &mut out[i * size..(i + 1) * size];
        if pos[i] < 0 {
            for j in 1..size {
                let left = (j as i64 + pos[i]).max(0) as usize;
                row[left] += row[j];
                row[j] = 0;
            }
            pos[i] = 0;
        }
        if pos[i] + size as i64 > sw {
            let shift = pos[i] + (size as i64 - sw).min(0);
            let mut acc = 0i64;
            for j in (0..size).rev() {
                if pos[i] + j as i64 >= sw {
                    acc += row[j];
                    row[j] = 0;
                }
            }
            for j in (0..size).rev() {
                row[j] = if (j as i64) < shift {
                    0
                } else {
                    row[(j as i64 - shift) as usize]
                };
            }
            pos[i] -= shift;
            let at = usize::try_from(sw - 1 - pos[i]).ok()?;
            *row.get_mut(at)? += acc;
        }
        if pos[i] < 0 || pos[i] >= sw {
            return None;
        }
    }
    // Normalise to `one`, carrying each coefficient's rounding error on.
    let mut coef = vec![0i16; dst_w * size];
    for i in 0..dst_w {
        let row = &out[i * size..(i + 1) * size];
        let mut sum: i64 = row.iter().sum();
        sum = (sum + one / 2) / one;
        if sum == 0 {
            sum = 1;
        }
        let mut error = 0i64;
        for j in 0..size {
            let v = row[j] + error;
            let int_v = rounded_div(v, sum) as i32;
            coef[i * size + j] = int_v as i16;
            error = v - i64::from(int_v) * sum;
        }
    }
    // Taps past the input's end must be zero (libswscale asserts it).
    let mut len = Vec::with_capacity(dst_w);
    for (i, &p) in pos.iter().enumerate() {
        let inside = (sw - p).min(size as i64) as usize;
        if coef[i * size + inside..(i + 1) * size]
            .iter()
            .any(|&c| c != 0)
        {
            return None;
        }
        len.push(inside);
    }
    Some(Filter {
        size,
        pos: pos.iter().map(|&p| p as usize).collect(),
        len,
        coef,
    })
}

/// The colour details libswscale's tables are made from
/// (`sws_setColorspaceDetails`'s arguments).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Colours {
    /// `sws_getCoefficients` of the matrix: crv, cbu, cgu, cgv.
    pub inv: [i32; 4],
    pub full_range: bool,
    pub brightness: i32,
    pub contrast: i32,
    pub saturation: i32,
}

/// `ff_yuv2rgb_c_init_tables` for 24 bits a pixel, as offsets into one
/// luma table: a pixel's red is `y[r_v[V] + Y]`, green
/// `y[g_u[U] + g_v[V] + Y]`, blue `y[b_u[U] + Y]` (U, V indexed with their
/// headroom).
struct Tables {
    colours: Colours,
    y: Vec<u8>,
    r_v: Vec<i32>,
    g_u: Vec<i32>,
    g_v: Vec<i32>,
    b_u: Vec<i32>,
    /// The same tables as i32 arithmetic, for the AVX2 RGB row: present
    /// only when every entry was checked equal (so the SIMD row gives the
    /// tables' bytes by construction, whatever the colours).
    arith: Option<Arith>,
}

/// The tables as formulas (each an exact integer identity of how
/// [`Tables::new`] fills them): the luma table's entry `i` is
/// `clamp((y0 + i * cy + 0x8000) >> 16, 0, 255)`, and a chroma entry for
/// a sample `c` (0 to 255 after the clamp) is `base + ((c * step) >> 16)`.
#[derive(Clone, Copy)]
struct Arith {
    y0: i32,
    cy: i32,
    /// `(base, step)` of r_v, g_u, g_v and b_u.
    r_v: (i32, i32),
    g_u: (i32, i32),
    g_v: (i32, i32),
    b_u: (i32, i32),
}

impl Arith {
    /// Wrapping, as the SIMD row's i32 lanes are: equal to the exact value
    /// wherever that fits in i32, which [`Tables::agrees`] checks.
    fn luma(&self, at: i32) -> u8 {
        let i = at.clamp(0, LUMA_ENTRIES as i32 - 1);
        let v = self
            .y0
            .wrapping_add(i.wrapping_mul(self.cy))
            .wrapping_add(0x8000);
        (v >> 16).clamp(0, 255) as u8
    }
}

/// Entries of the luma table: 1024 plus the headroom both sides.
const LUMA_ENTRIES: usize = (1024 + 2 * HEADROOM) as usize;

impl Tables {
    fn new(colours: Colours) -> Tables {
        let full = colours.full_range;
        let yoffs: i64 = if full { 384 } else { 326 } + HEADROOM;
        let plane = LUMA_ENTRIES;
        let mut crv = i64::from(colours.inv[0]);
        let mut cbu = i64::from(colours.inv[1]);
        let mut cgu = -i64::from(colours.inv[2]);
        let mut cgv = -i64::from(colours.inv[3]);
        let mut cy: i64 = 1 << 16;
        let mut oy: i64 = 0;
        if !full {
            cy = (cy * 255) / 219;
            oy = 16 << 16;
        } else {
            crv = (crv * 224) / 255;
            cbu = (cbu * 224) / 255;
            cgu = (cgu * 224) / 255;
            cgv = (cgv * 224) / 255;
        }
        let contrast = i64::from(colours.contrast);
        let saturation = i64::from(colours.saturation);
        cy = (cy * contrast) >> 16;
        crv = (crv * contrast * saturation) >> 32;
        cbu = (cbu * contrast * saturation) >> 32;
        cgu = (cgu * contrast * saturation) >> 32;
        cgv = (cgv * contrast * saturation) >> 32;
        oy -= 256 * i64::from(colours.brightness);
        // The chroma steps are counted in luma table entries.
        let per_cy = |v: i64| ((v * (1 << 16)) + 0x8000) / cy.max(1);
        let (crv, cbu, cgu, cgv) = (per_cy(crv), per_cy(cbu), per_cy(cgu), per_cy(cgv));
        let y0 = -(384 << 16) - HEADROOM * cy - oy;
        let mut yb = y0;
        let mut y = vec![0u8; plane];
        for v in y.iter_mut() {
            *v = ((yb + 0x8000) >> 16).clamp(0, 255) as u8;
            yb += cy;
        }
        let n = (256 + 2 * HEADROOM) as usize;
        let entry = |inc: i64, base: i64| -> Vec<i32> {
            (0..n as i64)
                .map(|i| {
                    let cb = (i - HEADROOM).clamp(0, 255) * inc;
                    (base - (inc >> 9) + (cb >> 16)) as i32
                })
                .collect()
        };
        let mut t = Tables {
            colours,
            y,
            r_v: entry(crv, yoffs),
            g_u: entry(cgu, yoffs),
            g_v: entry(cgv, 0),
            b_u: entry(cbu, yoffs),
            arith: None,
        };
        // The formulas in i32 (None when a value leaves it), kept only if
        // they give every entry.
        let i32s =
            |v: &[i64]| -> Option<Vec<i32>> { v.iter().map(|&x| i32::try_from(x).ok()).collect() };
        let arith = i32s(&[
            y0,
            cy,
            yoffs - (crv >> 9),
            crv,
            yoffs - (cgu >> 9),
            cgu,
            -(cgv >> 9),
            cgv,
            yoffs - (cbu >> 9),
            cbu,
        ])
        .map(|v| Arith {
            y0: v[0],
            cy: v[1],
            r_v: (v[2], v[3]),
            g_u: (v[4], v[5]),
            g_v: (v[6], v[7]),
            b_u: (v[8], v[9]),
        });
        t.arith = arith.filter(|a| t.agrees(a));
        t
    }

    /// Whether `a` gives every entry of the tables, with no i32 overflow
    /// on the way (checked in i64).
    fn agrees(&self, a: &Arith) -> bool {
        let fits = |v: i64| i32::try_from(v).is_ok();
        let luma_ok = self.y.iter().enumerate().all(|(i, &want)| {
            let v = i64::from(a.y0) + i as i64 * i64::from(a.cy) + 0x8000;
            fits(v) && a.luma(i as i32) == want
        });
        let chroma_ok = |table: &[i32], (base, step): (i32, i32)| {
            table.iter().enumerate().all(|(i, &want)| {
                let c = (i as i64 - HEADROOM).clamp(0, 255);
                let v = i64::from(base) + ((c * i64::from(step)) >> 16);
                fits(c * i64::from(step)) && v == i64::from(want)
            })
        };
        luma_ok
            && chroma_ok(&self.r_v, a.r_v)
            && chroma_ok(&self.g_u, a.g_u)
            && chroma_ok(&self.g_v, a.g_v)
            && chroma_ok(&self.b_u, a.b_u)
            // The row adds two entries and a luma sum (under 2^13): far
            // from overflowing while the entries stay this small.
            && [&self.r_v, &self.g_u, &self.g_v, &self.b_u]
                .iter()
                .all(|t| t.iter().all(|v| v.abs() < 1 << 28))
    }

    fn lookup(&self, at: i32) -> u8 {
        // In range for every value the sums can take; clamped so that a
        // wild value reads the table's end instead of out of bounds.
        self.y[(at.max(0) as usize).min(self.y.len() - 1)]
    }
}

/// Which SIMD horizontal pass runs (the vertical pass is AVX2 in both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kernel {
    Avx2,
    /// AVX-512 VNNI (256-bit), eight rows at a time ([`vnni`]).
    Avx512Vnni,
}

/// The best SIMD passes this CPU runs, if any.
fn simd_kernel() -> Option<Kernel> {
    #[cfg(target_arch = "x86_64")]
    {
        if !std::is_x86_feature_detected!("avx2") {
            return None;
        }
        let vnni = std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512vl")
            && std::is_x86_feature_detected!("avx512vnni");
        Some(if vnni {
            Kernel::Avx512Vnni
        } else {
            Kernel::Avx2
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        None
    }
}

/// `hScale8To15_c`: one input line through a horizontal filter into
/// 15-bit samples.
fn hscale(src: &[u8], f: &Filter, dst: &mut [i16]) {
    for (i, d) in dst.iter_mut().enumerate() {
        let (p, n) = (f.pos[i], f.len[i]);
        let taps = &f.coef[i * f.size..i * f.size + n];
        let line = &src[p..p + n];
        let mut val: i32 = 0;
        for (&s, &c) in line.iter().zip(taps) {
            val += i32::from(s) * i32::from(c);
        }
        *d = (val >> 7).min((1 << 15) - 1) as i16;
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    /// One output's padded dot product: `16 * N` taps at `c` over the
    /// bytes at `src`, as 8 partial i32 sums.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn dot<const N: usize>(src: *const u8, c: *const i16) -> __m256i {
        let mut acc = _mm256_setzero_si256();
        for k in 0..N {
            let s = _mm256_cvtepu8_epi16(_mm_loadu_si128(src.add(16 * k) as *const __m128i));
            let t = _mm256_loadu_si256(c.add(16 * k) as *const __m256i);
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(s, t));
        }
        acc
    }

    /// [`super::hscale`] for outputs of `16 * N` padded taps (see
    /// [`hscale`]): eight outputs at a time, their partial sums folded
    /// into one vector.
    #[target_feature(enable = "avx2")]
    unsafe fn hscale_n<const N: usize>(line: &[u8], pos: &[usize], coef: &[i16], dst: &mut [i16]) {
        let (l, c) = (line.as_ptr(), coef.as_ptr());
        let mut sums = [0i32; 8];
        for g in (0..dst.len()).step_by(8) {
            let at = |i: usize| l.add(*pos.get_unchecked(g + i));
            let tc = |i: usize| c.add((g + i) * 16 * N);
            let s01 = _mm256_hadd_epi32(dot::<N>(at(0), tc(0)), dot::<N>(at(1), tc(1)));
            let s23 = _mm256_hadd_epi32(dot::<N>(at(2), tc(2)), dot::<N>(at(3), tc(3)));
            let s45 = _mm256_hadd_epi32(dot::<N>(at(4), tc(4)), dot::<N>(at(5), tc(5)));
            let s67 = _mm256_hadd_epi32(dot::<N>(at(6), tc(6)), dot::<N>(at(7), tc(7)));
            let a = _mm256_hadd_epi32(s01, s23);
            let b = _mm256_hadd_epi32(s45, s67);
            let total = _mm256_add_epi32(
                _mm256_permute2x128_si256(a, b, 0x20),
                _mm256_permute2x128_si256(a, b, 0x31),
            );
            let total = _mm256_min_epi32(_mm256_srai_epi32(total, 7), _mm256_set1_epi32(32767));
            _mm256_storeu_si256(sums.as_mut_ptr() as *mut __m256i, total);
            for (d, &v) in dst[g..g + 8].iter_mut().zip(&sums) {
                *d = v as i16;
            }
        }
    }

    /// [`super::hscale`] on a line copied into `line` with at least `pad`
    /// bytes readable after each output's first tap; `coef` holds `pad`
    /// taps an output ([`super::Filter::padded`]). Sums are exact in i32
    /// (`vpmaddwd` of u8 widened to i16 by i16 taps), so the same values.
    ///
    /// # Safety
    /// AVX2 must be present; `pos[i] + pad <= line.len()` for every `i`,
    /// `coef.len() >= pos.len() * pad`, `pad` a multiple of 16 and
    /// `dst.len() == pos.len()` a multiple of 8.
    #[target_feature(enable = "avx2")]
    pub unsafe fn hscale(line: &[u8], pos: &[usize], pad: usize, coef: &[i16], dst: &mut [i16]) {
        debug_assert!(
            dst.len().is_multiple_of(8) && dst.len() == pos.len() && pad.is_multiple_of(16)
        );
        debug_assert!(pos.iter().all(|&p| p + pad <= line.len()));
        debug_assert!(coef.len() >= pos.len() * pad);
        // The common sizes unrolled (a 64-wide output takes 16 to 64
        // taps from 240 to 1920 pixels).
        match pad / 16 {
            1 => hscale_n::<1>(line, pos, coef, dst),
            2 => hscale_n::<2>(line, pos, coef, dst),
            3 => hscale_n::<3>(line, pos, coef, dst),
            4 => hscale_n::<4>(line, pos, coef, dst),
            5 => hscale_n::<5>(line, pos, coef, dst),
            6 => hscale_n::<6>(line, pos, coef, dst),
            7 => hscale_n::<7>(line, pos, coef, dst),
            8 => hscale_n::<8>(line, pos, coef, dst),
            _ => hscale_any(line, pos, pad, coef, dst),
        }
    }

    /// [`hscale`] for any padded length (very wide sources).
    #[target_feature(enable = "avx2")]
    unsafe fn hscale_any(line: &[u8], pos: &[usize], pad: usize, coef: &[i16], dst: &mut [i16]) {
        for (i, d) in dst.iter_mut().enumerate() {
            let src = line.as_ptr().add(pos[i]);
            let c = coef.as_ptr().add(i * pad);
            let mut acc = _mm256_setzero_si256();
            for k in (0..pad).step_by(16) {
                let s = _mm256_cvtepu8_epi16(_mm_loadu_si128(src.add(k) as *const __m128i));
                let t = _mm256_loadu_si256(c.add(k) as *const __m256i);
                acc = _mm256_add_epi32(acc, _mm256_madd_epi16(s, t));
            }
            let mut v = [0i32; 8];
            _mm256_storeu_si256(v.as_mut_ptr() as *mut __m256i, acc);
            *d = (v.iter().sum::<i32>() >> 7).min(32767) as i16;
        }
    }

    /// One output row's RGB24 bytes from its vertical sums (`ys` 64 luma,
    /// `us`, `vs` 32 chroma), as [`super::Scaler::vertical`]'s table
    /// lookups give them, computed with the tables' formulas
    /// ([`super::Arith`], checked equal to every entry).
    ///
    /// # Safety
    /// AVX2 must be present.
    #[target_feature(enable = "avx2")]
    pub unsafe fn rgb_row(
        a: &super::Arith,
        ys: &[i32; 64],
        us: &[i32; 32],
        vs: &[i32; 32],
        out: &mut [u8; 192],
    ) {
        let zero = _mm256_setzero_si256();
        let top = _mm256_set1_epi32(255);
        let last = _mm256_set1_epi32(super::LUMA_ENTRIES as i32 - 1);
        let (y0, cy) = (_mm256_set1_epi32(a.y0), _mm256_set1_epi32(a.cy));
        let half = _mm256_set1_epi32(0x8000);
        let luma = |at: __m256i| {
            let i = _mm256_min_epi32(_mm256_max_epi32(at, zero), last);
            let v = _mm256_add_epi32(_mm256_add_epi32(y0, _mm256_mullo_epi32(i, cy)), half);
            _mm256_min_epi32(_mm256_max_epi32(_mm256_srai_epi32::<16>(v), zero), top)
        };
        let entry = |c: __m256i, (base, step): (i32, i32)| {
            let p = _mm256_mullo_epi32(c, _mm256_set1_epi32(step));
            _mm256_add_epi32(_mm256_set1_epi32(base), _mm256_srai_epi32::<16>(p))
        };
        let sample =
            |s: __m256i| _mm256_min_epi32(_mm256_max_epi32(_mm256_srai_epi32::<19>(s), zero), top);
        // Each chroma lane serves two pixels.
        let pairs = [
            _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3),
            _mm256_setr_epi32(4, 4, 5, 5, 6, 6, 7, 7),
        ];
        let (mut r, mut g, mut b) = ([0i32; 8], [0i32; 8], [0i32; 8]);
        for c in 0..4 {
            let cu = sample(_mm256_loadu_si256(us.as_ptr().add(8 * c) as *const __m256i));
            let cv = sample(_mm256_loadu_si256(vs.as_ptr().add(8 * c) as *const __m256i));
            let ro = entry(cv, a.r_v);
            let go = _mm256_add_epi32(entry(cu, a.g_u), entry(cv, a.g_v));
            let bo = entry(cu, a.b_u);
            for (h, idx) in pairs.iter().enumerate() {
                let px = 16 * c + 8 * h;
                let y = _mm256_srai_epi32::<19>(_mm256_loadu_si256(
                    ys.as_ptr().add(px) as *const __m256i
                ));
                let at = |o: __m256i| _mm256_add_epi32(_mm256_permutevar8x32_epi32(o, *idx), y);
                _mm256_storeu_si256(r.as_mut_ptr() as *mut __m256i, luma(at(ro)));
                _mm256_storeu_si256(g.as_mut_ptr() as *mut __m256i, luma(at(go)));
                _mm256_storeu_si256(b.as_mut_ptr() as *mut __m256i, luma(at(bo)));
                for k in 0..8 {
                    let o = &mut out[3 * (px + k)..3 * (px + k) + 3];
                    o[0] = r[k] as u8;
                    o[1] = g[k] as u8;
                    o[2] = b[k] as u8;
                }
            }
        }
    }

    /// The vertical sums of `yuv2rgb_X_c` for one output row, over four
    /// chunks of 16 columns: `out[k][x] = (1 << 18) + sum_j chunks[k][j *
    /// width + x] * tap_j`, the taps given in pairs (`pairs[i]` packs taps
    /// `2i` and `2i + 1`, low half first; a zero tap pads an odd count).
    /// Exact: `vpmaddwd` sums pairs in i32.
    ///
    /// Why four at once: one chunk's sum is a chain of dependent adds, 34
    /// pairs long on 1080-line frames; four chains (a luma row, or both
    /// chroma rows) keep the multiplier busy instead of waiting on each.
    ///
    /// # Safety
    /// AVX2 must be present; each chunk holds `2 * pairs.len() - 1` rows of
    /// `width` samples and 16 more.
    #[target_feature(enable = "avx2")]
    pub unsafe fn vsum4(
        chunks: [&[i16]; 4],
        width: usize,
        pairs: &[i32],
        out: &mut [[i32; 16]; 4],
    ) {
        debug_assert!(chunks
            .iter()
            .all(|c| c.len() >= (2 * pairs.len()).saturating_sub(1) * width + 16));
        let base: [*const i16; 4] = std::array::from_fn(|k| chunks[k].as_ptr());
        let mut lo = [_mm256_set1_epi32(1 << 18); 4];
        let mut hi = lo;
        for (j, &pair) in pairs.iter().enumerate() {
            let t = _mm256_set1_epi32(pair);
            for k in 0..4 {
                let a = _mm256_loadu_si256(base[k].add(2 * j * width) as *const __m256i);
                let b = _mm256_loadu_si256(base[k].add((2 * j + 1) * width) as *const __m256i);
                lo[k] = _mm256_add_epi32(lo[k], _mm256_madd_epi16(_mm256_unpacklo_epi16(a, b), t));
                hi[k] = _mm256_add_epi32(hi[k], _mm256_madd_epi16(_mm256_unpackhi_epi16(a, b), t));
            }
        }
        // unpacklo/hi work within 128-bit lanes: lo holds columns 0-3 and
        // 8-11, hi 4-7 and 12-15.
        for k in 0..4 {
            let (mut l, mut h) = ([0i32; 8], [0i32; 8]);
            _mm256_storeu_si256(l.as_mut_ptr() as *mut __m256i, lo[k]);
            _mm256_storeu_si256(h.as_mut_ptr() as *mut __m256i, hi[k]);
            let o = &mut out[k];
            o[0..4].copy_from_slice(&l[0..4]);
            o[4..8].copy_from_slice(&h[0..4]);
            o[8..12].copy_from_slice(&l[4..8]);
            o[12..16].copy_from_slice(&h[4..8]);
        }
    }
}

/// Random horizontal filters for the SIMD passes' own tests ([`vnni`],
/// [`amx`]), which compare them with the plain sum on filters libswscale
/// would not make.
#[cfg(test)]
mod random_taps {
    /// A small deterministic generator (xorshift).
    pub(super) struct Rng(pub u64);
    impl Rng {
        pub(super) fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    /// `pos`, `len` and `coef` of `ow` outputs with room for `size` taps
    /// each over a source `w` wide: random positions and lengths, and taps
    /// over the whole range the high/low split takes (`big`, -32,768 to
    /// 32,639) or small ones.
    pub(super) fn taps(
        rng: &mut Rng,
        ow: usize,
        size: usize,
        w: usize,
        big: bool,
    ) -> (Vec<usize>, Vec<usize>, Vec<i16>) {
        let pos = (0..ow)
            .map(|_| rng.below((w - size + 1) as u64) as usize)
            .collect();
        let len = (0..ow)
            .map(|_| 1 + rng.below(size as u64) as usize)
            .collect();
        let coef = (0..ow * size)
            .map(|_| {
                if big {
                    (rng.below(65_408) as i32 - 32_768) as i16
                } else {
                    (rng.below(2_000) as i32 - 400) as i16
                }
            })
            .collect();
        (pos, len, coef)
    }
}

#[cfg(target_arch = "x86_64")]
pub mod amx;
#[cfg(target_arch = "x86_64")]
mod vnni;

/// What one plane's horizontal pass did to its lines (see
/// [`Scaler::marks`]).
struct Marks {
    /// Lines this call changed (a computed line counts as changed).
    dirty: Vec<bool>,
    /// Lines that, when the last call ended, held a copy of the line
    /// above (as a repeated source row's line does).
    copied: Vec<bool>,
}

impl Marks {
    fn new(h: usize) -> Marks {
        Marks {
            dirty: vec![false; h],
            copied: vec![false; h],
        }
    }

    /// Lines `r0..r0 + n` (`ow` samples each, `r0 > 0`) repeat line
    /// `r0 - 1`. `whole`: the lines hold the last call's pass.
    ///
    /// Nothing is written where they already are its copies (they were
    /// when the last call ended, and it is unchanged since): on a padded
    /// or barred frame most lines are such repeats, frame after frame.
    fn repeat(&mut self, out: &mut [i16], r0: usize, n: usize, ow: usize, whole: bool) {
        let rows = r0..r0 + n;
        if whole && !self.dirty[r0 - 1] && self.copied[rows.clone()].iter().all(|&c| c) {
            return;
        }
        let (before, rest) = out.split_at_mut(r0 * ow);
        let src = &before[(r0 - 1) * ow..];
        for (r, dst) in rows.clone().zip(rest.chunks_exact_mut(ow)) {
            if dst != src {
                dst.copy_from_slice(src);
                self.dirty[r] = true;
            }
        }
        self.copied[rows].fill(true);
    }

    /// The lines of a block starting at `r0` are kept from the last call:
    /// each still copies the line above where it did, except the first,
    /// whose line above may have changed.
    fn kept(&mut self, r0: usize) {
        if let Some(above) = r0.checked_sub(1) {
            self.copied[r0] &= !self.dirty[above];
        }
    }

    /// Lines `r0..r0 + n` were computed.
    fn computed(&mut self, r0: usize, n: usize) {
        self.dirty[r0..r0 + n].fill(true);
        self.copied[r0..r0 + n].fill(false);
    }
}

/// A borrowed 8-bit plane: rows of at least the plane's width, `stride`
/// bytes apart.
#[derive(Clone, Copy)]
pub struct Plane<'a> {
    pub data: &'a [u8],
    pub stride: usize,
}

impl<'a> Plane<'a> {
    /// Whether rows `r0..r0 + n` all hold the same first `w` bytes as row
    /// `r0 - 1` (false for the first row): their horizontal pass would
    /// give that row's output again.
    ///
    /// Why it pays: bars, flat title cards, fades and graphics repeat rows
    /// for long stretches, and an equal row costs a compare of its bytes
    /// instead of every tap of every output. On natural video rows differ
    /// within their first bytes, so the check costs next to nothing.
    fn repeats(&self, w: usize, r0: usize, n: usize) -> bool {
        let Some(prev) = r0.checked_sub(1) else {
            return false;
        };
        let row = |r: usize| self.data.get(r * self.stride..r * self.stride + w);
        let Some(last) = row(prev) else {
            return false;
        };
        // Last row first: a block that is not a repeat mostly ends in a
        // row that differs, and then one compare settles it.
        (r0..r0 + n).rev().all(|r| row(r) == Some(last))
    }

    /// Whether rows `r0..r0 + n` hold the same first `w` bytes as those
    /// rows of `prev`, the plane of the frame this scaler took last: their
    /// horizontal pass is then still in the scaler's lines.
    ///
    /// Why it pays: a still picture, a title card or the static part of a
    /// frame (a test pattern, a logo, a slide) repeats from frame to frame
    /// where its rows do not repeat down the frame. On natural video rows
    /// differ from the last frame's within their first bytes, so the check
    /// costs one compare of a cache line a block.
    fn same_as(&self, prev: &Plane, w: usize, r0: usize, n: usize) -> bool {
        fn row<'p>(p: &Plane<'p>, r: usize, w: usize) -> Option<&'p [u8]> {
            p.data.get(r * p.stride..r * p.stride + w)
        }
        (r0..r0 + n).all(|r| match (row(self, r, w), row(prev, r, w)) {
            (Some(now), Some(then)) => now == then,
            _ => false,
        })
    }

    /// The bytes of rows `r0..r0 + n` (fewer, or none, past the plane's
    /// end): what the VNNI pass prefetches.
    #[cfg(target_arch = "x86_64")]
    fn rows(&self, r0: usize, n: usize) -> &'a [u8] {
        let at = |r: usize| r.saturating_mul(self.stride).min(self.data.len());
        &self.data[at(r0)..at(r0.saturating_add(n))]
    }
}

/// The scaler for one source size (see the module docs).
pub struct Scaler {
    w: usize,
    h: usize,
    chr_w: usize,
    chr_h: usize,
    h_lum: Filter,
    h_chr: Filter,
    v_lum: Filter,
    v_chr: Filter,
    /// 15-bit lines after the horizontal pass: luma `h` x 64, chroma
    /// `chr_h` x 32 each (and one spare zero line).
    lum: Vec<i16>,
    cu: Vec<i16>,
    cv: Vec<i16>,
    tables: Option<Tables>,
    /// The AVX2 passes (checked once), with the padded horizontal taps
    /// and even-length vertical taps they take.
    simd: Option<Simd>,
    /// Made with the best passes this CPU runs (false once a test has
    /// taken one away): only such a scaler is kept for the next video.
    full: bool,
    /// `lum`, `cu`, `cv` hold the horizontal pass of every row of the
    /// frame scaled last (false when new, recycled, or after a call that
    /// stopped before its pass).
    lines_whole: bool,
    /// For each of `lum`, `cu`, `cv`: which lines this call's horizontal
    /// pass changed (a computed line counts as changed), so that an output
    /// row whose taps read none of them is the last call's row again; and
    /// which lines are copies of the line above, so that a repeat need not
    /// be copied again.
    ///
    /// Why: where most of a frame stays (a still picture, a slide, a test
    /// pattern with a moving part) most output rows do, and their vertical
    /// sums and RGB lookups were a sixth of what TMK's own code took on
    /// `test-padded-dimensions`.
    marks: [Marks; 3],
    /// The last call's RGB rows: they stand for the lines as that call
    /// left them when `lines_whole` (and the colour tables are the same).
    last_rgb: Vec<u8>,
    /// Output rows taken from the last call (the tests check that they
    /// exercise it).
    #[cfg(test)]
    kept_out: usize,
    /// Rows whose horizontal pass was kept from the last frame (the tests
    /// check that they exercise it).
    #[cfg(test)]
    kept: usize,
}

/// Scalers the last videos left ([`Scaler::recycle`]), newest last: a
/// worker hashes video after video, mostly of a few sizes, and making one
/// (four filters, the taps laid out for each pass, the line buffers) costs
/// about 0.2 ms at 1080x1080, 0.2 % of hashing a five-second clip of that
/// size. Process-wide, not per thread: a video hashed on several threads
/// scales on a hashing thread of its own.
static SPARES: std::sync::Mutex<Vec<Scaler>> = std::sync::Mutex::new(Vec::new());
/// At most this many kept (about 0.3 MB each at 1080p, 1.2 MB at 4K).
const MAX_SPARES: usize = 8;

struct Simd {
    h_lum: (usize, Vec<i16>),
    h_chr: (usize, Vec<i16>),
    /// The same taps laid out for the AVX-512 VNNI pass, where that runs
    /// (and they fit, [`vnni::Quads::new`]), with its transposed block and
    /// room for eight output rows.
    #[cfg(target_arch = "x86_64")]
    vnni: Option<Vnni>,
    /// The taps laid out for the AMX pass, where that runs (the tile unit
    /// is there and granted, and both planes are at least a chunk wide and
    /// a call's rows high): it takes the place of the VNNI pass.
    #[cfg(target_arch = "x86_64")]
    amx: Option<Amx>,
    /// Each output row's vertical taps in pairs ([`avx2::vsum4`]).
    v_lum: Vec<Vec<i32>>,
    v_chr: Vec<Vec<i32>>,
    /// A source line copied with room for the padded taps.
    line: Vec<u8>,
}

/// What the AVX-512 VNNI pass needs besides the taps.
#[cfg(target_arch = "x86_64")]
struct Vnni {
    lum: vnni::Quads,
    chr: vnni::Quads,
    block: Vec<std::arch::x86_64::__m256i>,
    /// Copies of the last rows of a plane (or zeros past its end), with
    /// room for the reach of the taps.
    rows: Vec<Vec<u8>>,
    /// Eight output rows, for a plane's last partial block.
    out: Vec<i16>,
}

/// Both planes' taps for the AMX pass.
#[cfg(target_arch = "x86_64")]
struct Amx {
    lum: amx::Tiles,
    chr: amx::Tiles,
}

#[cfg(target_arch = "x86_64")]
impl Amx {
    fn new(s: &Scaler) -> Option<Amx> {
        if !amx::available() || s.h < amx::ROWS || s.chr_h < amx::ROWS {
            return None;
        }
        let tiles = |f: &Filter, w: usize| amx::Tiles::new(&f.pos, &f.len, &f.coef, f.size, w);
        Some(Amx {
            lum: tiles(&s.h_lum, s.w)?,
            chr: tiles(&s.h_chr, s.chr_w)?,
        })
    }
}

#[cfg(target_arch = "x86_64")]
impl Vnni {
    /// For a source `w` wide (its chroma planes are narrower).
    fn new(lum: &Filter, chr: &Filter, w: usize) -> Option<Vnni> {
        let quads = |f: &Filter| vnni::Quads::new(&f.pos, &f.len, &f.coef, f.size);
        let (lum, chr) = (quads(lum)?, quads(chr)?);
        // A copy takes a whole row, and the taps read up to the reach.
        let span = lum.reach().max(chr.reach()).max(w);
        Some(Vnni {
            block: if lum.reach() >= chr.reach() {
                lum.block()
            } else {
                chr.block()
            },
            rows: vec![vec![0u8; span]; vnni::ROWS],
            out: vec![0; vnni::ROWS * SIDE],
            lum,
            chr,
        })
    }
}

impl Simd {
    fn new(s: &Scaler, kernel: Kernel) -> Simd {
        let even = |f: &Filter| -> Vec<Vec<i32>> {
            (0..f.pos.len())
                .map(|i| {
                    f.coef[i * f.size..i * f.size + f.len[i]]
                        .chunks(2)
                        .map(|p| {
                            let second = p.get(1).copied().unwrap_or(0);
                            (i32::from(second) << 16) | (i32::from(p[0]) & 0xffff)
                        })
                        .collect()
                })
                .collect()
        };
        let (h_lum, h_chr) = (s.h_lum.padded(), s.h_chr.padded());
        #[cfg(target_arch = "x86_64")]
        let vnni = match kernel {
            Kernel::Avx512Vnni => Vnni::new(&s.h_lum, &s.h_chr, s.w),
            Kernel::Avx2 => None,
        };
        #[cfg(target_arch = "x86_64")]
        let amx = match kernel {
            Kernel::Avx512Vnni => Amx::new(s),
            Kernel::Avx2 => None,
        };
        let line = vec![0u8; s.w.max(s.chr_w) + h_lum.0.max(h_chr.0)];
        Simd {
            #[cfg(target_arch = "x86_64")]
            vnni,
            #[cfg(target_arch = "x86_64")]
            amx,
            v_lum: even(&s.v_lum),
            v_chr: even(&s.v_chr),
            h_lum,
            h_chr,
            line,
        }
    }
}

impl Scaler {
    /// The scaler for `w` x `h` 8-bit 4:2:0 frames, or `None` outside the
    /// domain it reproduces libswscale on (64 or less either way, or a
    /// frame so large libswscale would cascade).
    pub fn new(w: usize, h: usize) -> Option<Scaler> {
        if w <= SIDE || h <= SIDE || w > 16384 || h > 16384 {
            return None;
        }
        // A poisoned lock only means a panic elsewhere: the scalers in it
        // are whole (each is pushed or taken in one step).
        let mut spares = SPARES.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = spares.iter().rposition(|s| s.w == w && s.h == h) {
            return Some(spares.remove(i));
        }
        drop(spares);
        // sws_init_context for 4:2:0 to RGB24 with an even output width:
        // no full chroma interpolation, so chroma is scaled to 32 wide and
        // 64 high (RGB24 has no vertical subsampling).
        let (chr_w, chr_h) = (w.div_ceil(2), h.div_ceil(2));
        let (chr_dst_w, chr_dst_h) = (SIDE / 2, SIDE);
        let inc = |s: usize, d: usize| ((s as i64) << 16).wrapping_add((d as i64) >> 1) / d as i64;
        let lum_pos = local_pos(0, 0);
        // The scale filter's src_h_chr_pos is -513 (default siting), its
        // src_v_chr_pos 128 for yuv420p and -513 for yuvj420p: both give
        // 128 at 4:2:0; the destination's -513 gives 128 too.
        let chr_h_pos = local_pos(1, -513);
        let chr_v_src = local_pos(1, 128);
        debug_assert_eq!(chr_v_src, local_pos(1, -513));
        let chr_v_dst = local_pos(0, -513);
        let h_lum = init_filter(inc(w, SIDE), w, SIDE, 4, 1 << 14, lum_pos, lum_pos)?;
        let h_chr = init_filter(
            inc(chr_w, chr_dst_w),
            chr_w,
            chr_dst_w,
            4,
            1 << 14,
            chr_h_pos,
            chr_h_pos,
        )?;
        let v_lum = init_filter(inc(h, SIDE), h, SIDE, 2, 1 << 12, lum_pos, lum_pos)?;
        let v_chr = init_filter(
            inc(chr_h, chr_dst_h),
            chr_h,
            chr_dst_h,
            2,
            1 << 12,
            chr_v_src,
            chr_v_dst,
        )?;
        // Vertical filters of one or two taps take libswscale's other
        // output functions (yuv2rgb24_1/_2): not reproduced.
        if v_lum.size <= 2 {
            return None;
        }
        Some(Scaler {
            w,
            h,
            chr_w,
            chr_h,
            // One spare zero line each: an odd vertical tap count is
            // padded with a zero tap on the line after the last.
            lum: vec![0; (h + 1) * SIDE],
            cu: vec![0; (chr_h + 1) * chr_dst_w],
            cv: vec![0; (chr_h + 1) * chr_dst_w],
            h_lum,
            h_chr,
            v_lum,
            v_chr,
            tables: None,
            simd: None,
            full: true,
            lines_whole: false,
            marks: [Marks::new(h), Marks::new(chr_h), Marks::new(chr_h)],
            last_rgb: vec![0; SIDE * SIDE * 3],
            #[cfg(test)]
            kept_out: 0,
            #[cfg(test)]
            kept: 0,
        })
        .map(|mut s| {
            if let Some(kernel) = simd_kernel() {
                s.simd = Some(Simd::new(&s, kernel));
            }
            s
        })
    }

    /// Keep this scaler for the next one made of its size (the oldest
    /// kept goes past [`MAX_SPARES`]). Every buffer it holds is written
    /// before it is read on each frame (the line after the last, which
    /// stays zero, excepted), so it scales as a new one would.
    pub fn recycle(mut self) {
        self.lines_whole = false;
        if self.full {
            let mut spares = SPARES.lock().unwrap_or_else(|e| e.into_inner());
            if spares.len() == MAX_SPARES {
                spares.remove(0);
            }
            spares.push(self);
        }
    }

    /// This scaler without its AVX2 passes (the tests compare both).
    #[cfg(test)]
    pub(crate) fn scalar(mut self) -> Scaler {
        self.simd = None;
        self.full = false;
        self
    }

    /// This scaler with the AVX2 horizontal pass even where AVX-512 VNNI
    /// or AMX runs (the tests compare both).
    #[cfg(test)]
    pub(crate) fn avx2(mut self) -> Scaler {
        self.full = false;
        if let Some(simd) = self.simd.as_mut() {
            #[cfg(target_arch = "x86_64")]
            {
                simd.vnni = None;
                simd.amx = None;
            }
        }
        self
    }

    /// This scaler with the VNNI horizontal pass even where AMX runs (the
    /// tests and `cargo bench --bench tmk_scale` compare both).
    pub(crate) fn vnni(mut self) -> Scaler {
        self.full = false;
        if let Some(simd) = self.simd.as_mut() {
            #[cfg(target_arch = "x86_64")]
            {
                simd.amx = None;
            }
        }
        self
    }

    /// Source rows whose horizontal pass was kept from the frame before,
    /// and output rows kept from it.
    #[cfg(test)]
    pub(crate) fn kept_rows(&self) -> (usize, usize) {
        (self.kept, self.kept_out)
    }

    /// Which scaler this is (its line buffer's address), and whether it
    /// has the best passes: the tests follow a recycled one.
    #[cfg(test)]
    pub(crate) fn identity(&self) -> (*const i16, bool) {
        (self.lum.as_ptr(), self.full)
    }

    /// Whether the AMX pass runs (the tests count the sizes they compared
    /// it on).
    #[cfg(test)]
    pub(crate) fn uses_amx(&self) -> bool {
        self.simd.as_ref().is_some_and(|s| s.amx.is_some())
    }

    /// Whether the AVX-512 VNNI pass runs on luma (the tests count the
    /// sizes they compared it on).
    #[cfg(test)]
    pub(crate) fn uses_avx512(&self) -> bool {
        self.simd.as_ref().is_some_and(|s| s.vnni.is_some())
    }

    /// Scale one frame's planes to packed 64x64 RGB24 in `rgb`. Planes too
    /// short for the frame's size are an error (nothing is read out of
    /// bounds).
    ///
    /// `prev`: the planes of the frame this scaler took in its last call,
    /// unchanged since (the caller holds a reference to a decoded frame);
    /// rows equal to theirs keep the horizontal pass that call left
    /// ([`Plane::same_as`]). `None` computes every row.
    pub fn scale(
        &mut self,
        [y, u, v]: [Plane; 3],
        prev: Option<[Plane; 3]>,
        colours: Colours,
        rgb: &mut [u8],
    ) -> Result<(), String> {
        let fits = |p: &Plane, w: usize, h: usize| {
            p.stride >= w
                && (h - 1)
                    .checked_mul(p.stride)
                    .and_then(|n| n.checked_add(w))
                    .is_some_and(|n| p.data.len() >= n)
        };
        if !fits(&y, self.w, self.h)
            || !fits(&u, self.chr_w, self.chr_h)
            || !fits(&v, self.chr_w, self.chr_h)
            || rgb.len() < SIDE * SIDE * 3
        {
            self.lines_whole = false;
            return Err("frame planes smaller than the frame".into());
        }
        // The last call's lines stand for `prev` only when that call made
        // them whole, and its planes must fit the size as these do.
        let prev = prev.filter(|[py, pu, pv]| {
            self.lines_whole
                && fits(py, self.w, self.h)
                && fits(pu, self.chr_w, self.chr_h)
                && fits(pv, self.chr_w, self.chr_h)
        });
        // The last call's RGB rows are of its lines and its tables.
        let mut rgb_whole = self.lines_whole;
        if self.tables.as_ref().map(|t| t.colours) != Some(colours) {
            self.tables = Some(Tables::new(colours));
            rgb_whole = false;
        }
        self.horizontal(&y, &u, &v, prev.as_ref());
        self.lines_whole = true;
        self.vertical(rgb, rgb_whole);
        Ok(())
    }

    /// The horizontal pass of every input line into `lum`, `cu`, `cv`,
    /// except lines equal to those of `prev` (see [`Scaler::scale`]).
    fn horizontal(&mut self, y: &Plane, u: &Plane, v: &Plane, prev: Option<&[Plane; 3]>) {
        let cw = SIDE / 2;
        let before = |i: usize| prev.map(|p| p[i]);
        let whole = self.lines_whole;
        for m in &mut self.marks {
            m.dirty.fill(false);
        }
        let [m_lum, m_cu, m_cv] = &mut self.marks;
        #[cfg(target_arch = "x86_64")]
        if let Some(tiles) = self.simd.as_ref().and_then(|s| s.amx.as_ref()) {
            let planes = [
                (
                    y,
                    before(0),
                    self.w,
                    self.h,
                    &tiles.lum,
                    &mut self.lum,
                    &mut *m_lum,
                    SIDE,
                ),
                (
                    u,
                    before(1),
                    self.chr_w,
                    self.chr_h,
                    &tiles.chr,
                    &mut self.cu,
                    &mut *m_cu,
                    cw,
                ),
                (
                    v,
                    before(2),
                    self.chr_w,
                    self.chr_h,
                    &tiles.chr,
                    &mut self.cv,
                    &mut *m_cv,
                    cw,
                ),
            ];
            // SAFETY: `amx` exists only where `amx::available` said yes.
            let session = unsafe { amx::Session::start() };
            for (plane, prev, w, h, taps, out, marks, ow) in planes {
                for r in (0..h).step_by(amx::ROWS) {
                    // The last block moves up to end at the last row (its
                    // first rows are computed twice, to the same values).
                    let r0 = r.min(h - amx::ROWS);
                    if r0 == r && plane.repeats(w, r0, amx::ROWS) {
                        marks.repeat(out, r0, amx::ROWS, ow, whole);
                        continue;
                    }
                    if prev.is_some_and(|p| plane.same_as(&p, w, r0, amx::ROWS)) {
                        marks.kept(r0);
                        #[cfg(test)]
                        {
                            self.kept += amx::ROWS;
                        }
                        continue;
                    }
                    marks.computed(r0, amx::ROWS);
                    let dst = &mut out[r0 * ow..(r0 + amx::ROWS) * ow];
                    // SAFETY: the session is this thread's; `Amx` exists
                    // only with AVX-512 F and BW (checked by `available`)
                    // and planes at least `ROWS` high; `scale` checked that
                    // rows up to `h - 1` hold `w` bytes at `stride` apart
                    // (`w` is the width the taps were laid out for), and
                    // `r0 + ROWS <= h`; `dst` is ROWS rows of `ow`.
                    unsafe {
                        amx::hscale(
                            &session,
                            taps,
                            plane.data.as_ptr().add(r0 * plane.stride),
                            plane.stride,
                            dst,
                        )
                    };
                }
            }
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if let Some(vn) = self.simd.as_mut().and_then(|s| s.vnni.as_mut()) {
            let planes = [
                (
                    y,
                    before(0),
                    self.w,
                    self.h,
                    &vn.lum,
                    &mut self.lum,
                    &mut *m_lum,
                    SIDE,
                ),
                (
                    u,
                    before(1),
                    self.chr_w,
                    self.chr_h,
                    &vn.chr,
                    &mut self.cu,
                    &mut *m_cu,
                    cw,
                ),
                (
                    v,
                    before(2),
                    self.chr_w,
                    self.chr_h,
                    &vn.chr,
                    &mut self.cv,
                    &mut *m_cv,
                    cw,
                ),
            ];
            // Each plane's last block prefetches the next plane's first.
            let firsts = [u.rows(0, vnni::ROWS), v.rows(0, vnni::ROWS), &[]];
            for ((plane, prev, w, h, quads, out, marks, ow), next_first) in
                planes.into_iter().zip(firsts)
            {
                let reach = quads.reach();
                for r0 in (0..h).step_by(vnni::ROWS) {
                    let n = vnni::ROWS.min(h - r0);
                    if plane.repeats(w, r0, n) {
                        marks.repeat(out, r0, n, ow, whole);
                        continue;
                    }
                    if prev.is_some_and(|p| plane.same_as(&p, w, r0, n)) {
                        marks.kept(r0);
                        #[cfg(test)]
                        {
                            self.kept += n;
                        }
                        continue;
                    }
                    marks.computed(r0, n);
                    // The frame's own rows where the reach stays inside
                    // the plane (it may run into the next row, times zero
                    // taps); copies of the last ones, zeros past the end.
                    let mut direct = [true; vnni::ROWS];
                    for (l, copy) in vn.rows.iter_mut().enumerate() {
                        let start = (r0 + l) * plane.stride;
                        if l >= n {
                            direct[l] = false;
                            copy[..w].fill(0);
                        } else if plane.data.len() < start + reach {
                            direct[l] = false;
                            copy[..w].copy_from_slice(&plane.data[start..start + w]);
                        }
                    }
                    let rows: [&[u8]; vnni::ROWS] = std::array::from_fn(|l| {
                        if direct[l] {
                            &plane.data[(r0 + l) * plane.stride..]
                        } else {
                            &vn.rows[l][..]
                        }
                    });
                    // A whole block writes its rows in place; a partial one
                    // goes through `vn.out`, to leave the spare zero line.
                    let dst = if n == vnni::ROWS {
                        &mut out[r0 * ow..(r0 + vnni::ROWS) * ow]
                    } else {
                        &mut vn.out[..vnni::ROWS * ow]
                    };
                    // The next block's rows are prefetched meanwhile.
                    let ahead = if r0 + vnni::ROWS < h {
                        plane.rows(r0 + vnni::ROWS, vnni::ROWS)
                    } else {
                        next_first
                    };
                    // SAFETY: `vnni` exists only where AVX2, AVX-512 VL and
                    // VNNI were detected; every row holds `reach` bytes
                    // (the plane's rest was checked, the copies are that
                    // long); the block is the larger filter's; `ow` is the
                    // filter's output count (64 or 32) and `dst` 8 rows.
                    unsafe { vnni::hscale(rows, quads, &mut vn.block, dst, ahead) };
                    if n < vnni::ROWS {
                        out[r0 * ow..(r0 + n) * ow].copy_from_slice(&vn.out[..n * ow]);
                    }
                }
            }
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if let Some(simd) = self.simd.as_mut() {
            let planes = [
                (
                    y,
                    before(0),
                    self.w,
                    self.h,
                    &simd.h_lum,
                    &self.h_lum,
                    &mut self.lum,
                    &mut *m_lum,
                    SIDE,
                ),
                (
                    u,
                    before(1),
                    self.chr_w,
                    self.chr_h,
                    &simd.h_chr,
                    &self.h_chr,
                    &mut self.cu,
                    &mut *m_cu,
                    cw,
                ),
                (
                    v,
                    before(2),
                    self.chr_w,
                    self.chr_h,
                    &simd.h_chr,
                    &self.h_chr,
                    &mut self.cv,
                    &mut *m_cv,
                    cw,
                ),
            ];
            for (plane, prev, w, h, (pad, taps), f, out, marks, ow) in planes {
                // How far the last output's taps read past its first.
                let reach = f.pos.iter().max().map_or(0, |&p| p + pad);
                for r in 0..h {
                    if plane.repeats(w, r, 1) {
                        marks.repeat(out, r, 1, ow, whole);
                        continue;
                    }
                    if prev.is_some_and(|p| plane.same_as(&p, w, r, 1)) {
                        marks.kept(r);
                        #[cfg(test)]
                        {
                            self.kept += 1;
                        }
                        continue;
                    }
                    marks.computed(r, 1);
                    let start = r * plane.stride;
                    let line = match plane.data.get(start..) {
                        Some(rest) if rest.len() >= reach => rest,
                        _ => {
                            simd.line[..w].copy_from_slice(&plane.data[start..start + w]);
                            &simd.line[..]
                        }
                    };
                    let dst = &mut out[r * ow..(r + 1) * ow];
                    // SAFETY: `simd` exists only where AVX2 was detected;
                    // `line` holds `reach` bytes (the frame's row and what
                    // follows, or the copy, which is the widest plane's
                    // width plus the largest padded tap count, every
                    // position being below the width), the taps are `pad`
                    // an output, and `ow` (64 or 32) is a multiple of 8.
                    unsafe { avx2::hscale(line, &f.pos, *pad, taps, dst) };
                }
            }
            return;
        }
        let planes = [
            (
                y,
                before(0),
                self.w,
                self.h,
                &self.h_lum,
                &mut self.lum,
                &mut *m_lum,
                SIDE,
            ),
            (
                u,
                before(1),
                self.chr_w,
                self.chr_h,
                &self.h_chr,
                &mut self.cu,
                &mut *m_cu,
                cw,
            ),
            (
                v,
                before(2),
                self.chr_w,
                self.chr_h,
                &self.h_chr,
                &mut self.cv,
                &mut *m_cv,
                cw,
            ),
        ];
        for (plane, prev, w, h, f, out, marks, ow) in planes {
            for r in 0..h {
                if plane.repeats(w, r, 1) {
                    marks.repeat(out, r, 1, ow, whole);
                } else if prev.is_some_and(|p| plane.same_as(&p, w, r, 1)) {
                    // Still there from the last frame.
                    marks.kept(r);
                    #[cfg(test)]
                    {
                        self.kept += 1;
                    }
                } else {
                    marks.computed(r, 1);
                    let line = &plane.data[r * plane.stride..r * plane.stride + w];
                    hscale(line, f, &mut out[r * ow..(r + 1) * ow]);
                }
            }
        }
    }

    /// The vertical pass and the RGB lookup of every output row, except
    /// rows whose taps read no line the horizontal pass changed (see
    /// [`Scaler::marks`]): those are the last call's, when `reuse` (its
    /// RGB rows are of the lines it left, with these colour tables).
    fn vertical(&mut self, rgb: &mut [u8], reuse: bool) {
        let cw = SIDE / 2;
        let Some(t) = self.tables.as_ref() else {
            return;
        };
        let (mut ys, mut us, mut vs) = ([0i32; SIDE], [0i32; SIDE / 2], [0i32; SIDE / 2]);
        let changed = |d: &[bool], from: usize, n: usize| {
            d.get(from..from + n).is_none_or(|l| l.contains(&true))
        };
        let row_bytes = SIDE * 3;
        let [d_lum, d_cu, d_cv] = [0, 1, 2].map(|i| &self.marks[i].dirty[..]);
        for dy in 0..SIDE {
            let (lp, cp) = (self.v_lum.pos[dy], self.v_chr.pos[dy]);
            let (ln, cn) = (self.v_lum.len[dy], self.v_chr.len[dy]);
            let out = &mut rgb[dy * row_bytes..(dy + 1) * row_bytes];
            let last = &mut self.last_rgb[dy * row_bytes..(dy + 1) * row_bytes];
            // The taps past `len` are zero (or read the spare zero line).
            if reuse && !changed(d_lum, lp, ln) && !changed(d_cu, cp, cn) && !changed(d_cv, cp, cn)
            {
                out.copy_from_slice(last);
                #[cfg(test)]
                {
                    self.kept_out += 1;
                }
                continue;
            }
            #[cfg(target_arch = "x86_64")]
            let done = if let Some(simd) = self.simd.as_ref() {
                let (l, c) = (&self.lum[lp * SIDE..], cp * cw);
                let (u, v) = (&self.cu[c..], &self.cv[c..]);
                let mut sums = [[0i32; 16]; 4];
                // SAFETY: AVX2 detected; the taps of row `dy` cover lines
                // `lp..lp + len` (`Filter::len`), plus one zero tap on the
                // next line when the count is odd: the line buffers have
                // one spare zero line for that. Each chunk starts 16
                // columns further into those lines (64 luma columns; 32
                // of each chroma plane).
                unsafe {
                    avx2::vsum4(
                        [l, &l[16..], &l[32..], &l[48..]],
                        SIDE,
                        &simd.v_lum[dy],
                        &mut sums,
                    );
                    for (k, chunk) in sums.iter().enumerate() {
                        ys[16 * k..16 * k + 16].copy_from_slice(chunk);
                    }
                    avx2::vsum4([u, &u[16..], v, &v[16..]], cw, &simd.v_chr[dy], &mut sums);
                    us[..16].copy_from_slice(&sums[0]);
                    us[16..].copy_from_slice(&sums[1]);
                    vs[..16].copy_from_slice(&sums[2]);
                    vs[16..].copy_from_slice(&sums[3]);
                }
                true
            } else {
                false
            };
            #[cfg(not(target_arch = "x86_64"))]
            let done = false;
            if !done {
                let ls = self.v_lum.size;
                let lf = &self.v_lum.coef[dy * ls..dy * ls + self.v_lum.len[dy]];
                let cs = self.v_chr.size;
                let cf = &self.v_chr.coef[dy * cs..dy * cs + self.v_chr.len[dy]];
                for (x, out) in ys.iter_mut().enumerate() {
                    *out = 1 << 18;
                    for (j, &c) in lf.iter().enumerate() {
                        *out += i32::from(self.lum[(lp + j) * SIDE + x]) * i32::from(c);
                    }
                }
                for x in 0..cw {
                    let (mut su, mut sv) = (1i32 << 18, 1i32 << 18);
                    for (j, &c) in cf.iter().enumerate() {
                        su += i32::from(self.cu[(cp + j) * cw + x]) * i32::from(c);
                        sv += i32::from(self.cv[(cp + j) * cw + x]) * i32::from(c);
                    }
                    us[x] = su;
                    vs[x] = sv;
                }
            }
            #[cfg(target_arch = "x86_64")]
            if let (Some(a), true, Ok(row)) = (
                t.arith.as_ref(),
                self.simd.is_some(),
                <&mut [u8; 192]>::try_from(&mut *out),
            ) {
                // SAFETY: AVX2 detected (`simd` exists only then).
                unsafe { avx2::rgb_row(a, &ys, &us, &vs, row) };
                last.copy_from_slice(out);
                continue;
            }
            for i in 0..cw {
                let (y1, y2) = (ys[2 * i] >> 19, ys[2 * i + 1] >> 19);
                let chroma = |s: i32| ((s >> 19) + HEADROOM as i32).clamp(0, 1279) as usize;
                let (cu, cv) = (chroma(us[i]), chroma(vs[i]));
                let (r, g, b) = (t.r_v[cv], t.g_u[cu] + t.g_v[cv], t.b_u[cu]);
                let px = &mut out[i * 6..i * 6 + 6];
                px[0] = t.lookup(r + y1);
                px[1] = t.lookup(g + y1);
                px[2] = t.lookup(b + y1);
                px[3] = t.lookup(r + y2);
                px[4] = t.lookup(g + y2);
                px[5] = t.lookup(b + y2);
            }
            last.copy_from_slice(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use ffmpeg_next::ffi;
    use ffmpeg_next::format::Pixel;
    use ffmpeg_next::util::frame::video::Video;

    use super::super::tmk_frames::CliScaler;

    /// xorshift64*: reproducible noise without a dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// A `w` x `h` frame of `fmt` whose planes are noise, smooth
    /// gradients, flat extremes or runs of equal rows (`kind`), with the
    /// frame's colour tags.
    fn frame(
        fmt: Pixel,
        w: u32,
        h: u32,
        kind: u64,
        rng: &mut Rng,
        range: ffi::AVColorRange,
        space: ffi::AVColorSpace,
    ) -> Video {
        let mut f = Video::new(fmt, w, h);
        for p in 0..3 {
            let stride = f.stride(p);
            let (pw, ph) = if p == 0 {
                (w as usize, h as usize)
            } else {
                (w.div_ceil(2) as usize, h.div_ceil(2) as usize)
            };
            let (a, b) = (rng.below(256), rng.below(256));
            let d = f.data_mut(p);
            if kind % 5 == 4 {
                // Runs of equal rows (bars, stripes, flat areas) of 1 to 40
                // rows, a run now and then differing only in its last byte.
                let mut y = 0;
                while y < ph {
                    let run = (1 + rng.below(40) as usize).min(ph - y);
                    let row = &mut d[y * stride..y * stride + pw];
                    match rng.below(3) {
                        0 => row.fill(rng.below(256) as u8),
                        1 => row.iter_mut().enumerate().for_each(|(x, v)| {
                            *v = [16u8, 235][(x * 8 / pw + p) % 2];
                        }),
                        _ => row.iter_mut().for_each(|v| *v = rng.below(256) as u8),
                    }
                    if y > 0 && rng.below(4) == 0 {
                        d.copy_within((y - 1) * stride..(y - 1) * stride + pw, y * stride);
                        d[y * stride + pw - 1] ^= 1;
                    }
                    for r in y + 1..y + run {
                        d.copy_within(y * stride..y * stride + pw, r * stride);
                    }
                    y += run;
                }
                continue;
            }
            for y in 0..ph {
                for x in 0..pw {
                    d[y * stride + x] = match kind % 5 {
                        0 => rng.below(256) as u8,
                        1 => ((x as u64 * a / pw as u64 + y as u64 * b / ph as u64) % 256) as u8,
                        2 => [0u8, 255][(x / 3 + y / 5 + p) % 2],
                        _ => (rng.below(40) + if p == 0 { 200 } else { 10 }) as u8,
                    };
                }
            }
        }
        // SAFETY: plain field writes on an owned frame.
        unsafe {
            (*f.as_mut_ptr()).color_range = range;
            (*f.as_mut_ptr()).colorspace = space;
        }
        f
    }

    /// The first difference between ours and libswscale's bytes.
    fn first_diff(a: &[u8], b: &[u8]) -> Option<(usize, u8, u8)> {
        a.iter()
            .zip(b)
            .enumerate()
            .find(|(_, (x, y))| x != y)
            .map(|(i, (x, y))| (i, *x, *y))
    }

    fn check(f: &Video, range: ffi::AVColorRange) -> bool {
        let mut ours = CliScaler::new(f, range).unwrap();
        let mut scalar = CliScaler::new(f, range).unwrap().scalar_only();
        let mut theirs = CliScaler::new(f, range).unwrap().libswscale_only();
        if !ours.is_fast() {
            return false;
        }
        let (mut a, mut b) = (vec![0u8; 64 * 64 * 3], vec![0u8; 64 * 64 * 3]);
        let mut s = vec![0u8; 64 * 64 * 3];
        ours.scale(f, &mut a).unwrap();
        scalar.scale(f, &mut s).unwrap();
        theirs.scale(f, &mut b).unwrap();
        assert_eq!(first_diff(&s, &b), None, "scalar path");
        if let Some((i, x, y)) = first_diff(&a, &b) {
            panic!(
                "{}x{} {:?}: byte {i} (row {}, col {}, channel {}): ours {x}, libswscale {y}; {} bytes differ",
                f.width(),
                f.height(),
                f.format(),
                i / 192,
                i % 192 / 3,
                i % 3,
                a.iter().zip(&b).filter(|(x, y)| x != y).count()
            );
        }
        true
    }

    /// `f` cropped by `left` / `top` pixels on each side (even, so that
    /// chroma starts with luma): planes that start mid-row, with a stride
    /// much wider than the picture, as the letterbox view hands over.
    fn cropped(f: &Video, left: usize, top: usize) -> Video {
        // SAFETY: a new reference to `f`'s buffers, cropped within them
        // (the callers keep 2 * left < width and 2 * top < height).
        unsafe {
            let c = ffi::av_frame_clone(f.as_ptr());
            assert!(!c.is_null());
            (*c).crop_left = left;
            (*c).crop_right = left;
            (*c).crop_top = top;
            (*c).crop_bottom = top;
            let mut v = Video::wrap(c);
            let r = ffi::av_frame_apply_cropping(
                v.as_mut_ptr(),
                ffi::AV_FRAME_CROP_UNALIGNED as std::ffi::c_int,
            );
            assert!(r >= 0);
            v
        }
    }

    const RANGES: [ffi::AVColorRange; 3] = [
        ffi::AVColorRange::AVCOL_RANGE_UNSPECIFIED,
        ffi::AVColorRange::AVCOL_RANGE_MPEG,
        ffi::AVColorRange::AVCOL_RANGE_JPEG,
    ];

    /// Every matrix the scale filter can pick (`in_color_matrix=auto`),
    /// and values it maps to the default.
    const SPACES: [ffi::AVColorSpace; 11] = [
        ffi::AVColorSpace::AVCOL_SPC_RGB,
        ffi::AVColorSpace::AVCOL_SPC_BT709,
        ffi::AVColorSpace::AVCOL_SPC_UNSPECIFIED,
        ffi::AVColorSpace::AVCOL_SPC_FCC,
        ffi::AVColorSpace::AVCOL_SPC_BT470BG,
        ffi::AVColorSpace::AVCOL_SPC_SMPTE170M,
        ffi::AVColorSpace::AVCOL_SPC_SMPTE240M,
        ffi::AVColorSpace::AVCOL_SPC_YCGCO,
        ffi::AVColorSpace::AVCOL_SPC_BT2020_NCL,
        ffi::AVColorSpace::AVCOL_SPC_BT2020_CL,
        ffi::AVColorSpace::AVCOL_SPC_ICTCP,
    ];

    #[test]
    fn the_sample_videos_size_matches_libswscale() {
        let mut rng = Rng(7);
        for kind in 0..5 {
            let f = frame(
                Pixel::YUV420P,
                480,
                720,
                kind,
                &mut rng,
                ffi::AVColorRange::AVCOL_RANGE_UNSPECIFIED,
                ffi::AVColorSpace::AVCOL_SPC_UNSPECIFIED,
            );
            assert!(check(&f, ffi::AVColorRange::AVCOL_RANGE_UNSPECIFIED));
        }
    }

    /// Random frames of random sizes (odd, tiny, extreme aspect ratios, up
    /// to 1920x1080 and a few larger), both formats, every range tag and
    /// colour matrix, whole and cropped: the same bytes as libswscale on
    /// every one that takes the Rust path, and that path taken by every
    /// size it claims.
    /// The AVX2 RGB row runs only where the tables' formulas were checked
    /// equal to every entry: they must be, for every matrix the CLI can
    /// pick and both ranges, or that row would never run on real video
    /// (and `random_frames_match_libswscale` would compare the fallback).
    #[test]
    fn the_rgb_formulas_hold_for_every_matrix_and_range() {
        for cs in (1..=10).filter(|&cs| cs != 8) {
            // SAFETY: sws_getCoefficients returns a static table of four
            // ints for any colour space number.
            let inv = unsafe {
                let p = ffi::sws_getCoefficients(cs);
                std::array::from_fn(|i| *p.add(i))
            };
            for full_range in [false, true] {
                let t = super::Tables::new(super::Colours {
                    inv,
                    full_range,
                    brightness: 0,
                    contrast: 1 << 16,
                    saturation: 1 << 16,
                });
                assert!(t.arith.is_some(), "matrix {cs}, full range {full_range}");
            }
        }
    }

    /// Colour settings the CLI never makes (contrast up to 32 times
    /// libswscale's default, which puts the luma formula past i32,
    /// saturation up to 16 times, large brightness) keep the formulas
    /// only where they give the table's luma.
    #[test]
    fn wild_colour_settings_keep_the_formulas_only_where_they_hold() {
        let mut kept = 0;
        let mut dropped = 0;
        for contrast in [0, 1, 1 << 16, 1 << 20, 1 << 21] {
            for saturation in [0, 1 << 16, 1 << 20] {
                for brightness in [-1 << 20, 0, 1 << 20] {
                    let t = super::Tables::new(super::Colours {
                        inv: [117_489, 138_438, 13_975, 34_925],
                        full_range: contrast % 2 == 0,
                        brightness,
                        contrast,
                        saturation,
                    });
                    if let Some(a) = t.arith {
                        kept += 1;
                        for at in (-3000..5000).step_by(7) {
                            assert_eq!(a.luma(at), t.lookup(at), "entry {at}");
                        }
                    } else {
                        dropped += 1;
                    }
                }
            }
        }
        // Both outcomes met: the check is not vacuous either way.
        assert!(kept > 0 && dropped > 0, "kept {kept}, dropped {dropped}");
    }

    /// Frames made of runs of equal rows, where the horizontal pass copies
    /// a row's output instead of computing it (whole blocks of 32 on the
    /// AMX pass, of eight on the AVX-512 VNNI pass, single rows on the
    /// others): the same bytes as libswscale on every path, runs starting
    /// and ending anywhere in a block, on sizes whose planes end in partial
    /// blocks (the AMX pass moves its last block up over rows it did).
    #[test]
    fn runs_of_equal_rows_match_libswscale() {
        let mut rng = Rng(0x0dd5_eed5_0000_0004);
        for (n, (w, h)) in [
            (1080, 1080),
            (1920, 1080),
            (720, 480),
            (641, 363),
            (99, 1001),
        ]
        .into_iter()
        .enumerate()
        {
            for k in 0..4 {
                let range = RANGES[(n + k) % 3];
                let f = frame(
                    Pixel::YUV420P,
                    w,
                    h,
                    4,
                    &mut rng,
                    range,
                    ffi::AVColorSpace::AVCOL_SPC_BT709,
                );
                assert!(check(&f, range), "{w}x{h} takes the Rust path");
                let mut theirs = CliScaler::new(&f, range).unwrap().libswscale_only();
                let mut b = vec![0u8; 64 * 64 * 3];
                theirs.scale(&f, &mut b).unwrap();
                let paths = [
                    ("best", CliScaler::new(&f, range).unwrap()),
                    ("VNNI", CliScaler::new(&f, range).unwrap().vnni_only()),
                    ("AVX2", CliScaler::new(&f, range).unwrap().avx2_only()),
                ];
                for (name, mut ours) in paths {
                    let mut a = vec![0u8; 64 * 64 * 3];
                    ours.scale(&f, &mut a).unwrap();
                    assert_eq!(first_diff(&a, &b), None, "{w}x{h}: {name} pass");
                }
            }
        }
    }

    /// A copy of `f` in a buffer of its own (the scaler may hold `f`).
    fn copied(f: &Video) -> Video {
        let mut c = Video::new(f.format(), f.width(), f.height());
        let (w, h) = (f.width() as usize, f.height() as usize);
        for p in 0..3 {
            let (pw, ph) = if p == 0 {
                (w, h)
            } else {
                (w.div_ceil(2), h.div_ceil(2))
            };
            let (ss, ds) = (f.stride(p), c.stride(p));
            for r in 0..ph {
                let row = &f.data(p)[r * ss..r * ss + pw];
                c.data_mut(p)[r * ds..r * ds + pw].copy_from_slice(row);
            }
        }
        // SAFETY: copies the colour tags only.
        unsafe { ffi::av_frame_copy_props(c.as_mut_ptr(), f.as_ptr()) };
        c
    }

    /// Frames that repeat the one before in part (a still picture, a
    /// band that changes, single bytes that change, none or all of it) go
    /// through `scale_decoded`, which keeps the horizontal pass of the rows
    /// equal to the last frame's: every pass still gives libswscale's bytes
    /// of each frame, and rows were kept.
    #[test]
    fn rows_kept_from_the_last_frame_match_libswscale() {
        let mut rng = Rng(0x0dd5_eed5_0000_0007);
        let range = ffi::AVColorRange::AVCOL_RANGE_MPEG;
        let space = ffi::AVColorSpace::AVCOL_SPC_BT709;
        for (w, h) in [(1080, 1080), (1920, 1080), (641, 363), (99, 1001)] {
            let first = frame(Pixel::YUV420P, w, h, 4, &mut rng, range, space);
            let mut frames = vec![first];
            for step in 0..10u64 {
                let last = frames.last().expect("a first frame");
                let mut f = copied(last);
                match step % 5 {
                    // The same picture again.
                    0 => {}
                    // A band of rows of one plane changes.
                    1 | 2 => {
                        let p = rng.below(3) as usize;
                        let (pw, ph) = if p == 0 {
                            (w as usize, h as usize)
                        } else {
                            (w.div_ceil(2) as usize, h.div_ceil(2) as usize)
                        };
                        let top = rng.below(ph as u64) as usize;
                        let rows = (1 + rng.below(40) as usize).min(ph - top);
                        let stride = f.stride(p);
                        for r in top..top + rows {
                            for x in 0..pw {
                                f.data_mut(p)[r * stride + x] = rng.below(256) as u8;
                            }
                        }
                    }
                    // Single bytes change, anywhere in a row (its last
                    // byte too).
                    3 => {
                        for _ in 0..3 {
                            let p = rng.below(3) as usize;
                            let (pw, ph) = if p == 0 {
                                (w as usize, h as usize)
                            } else {
                                (w.div_ceil(2) as usize, h.div_ceil(2) as usize)
                            };
                            let r = rng.below(ph as u64) as usize;
                            let x = if rng.below(2) == 0 {
                                pw - 1
                            } else {
                                rng.below(pw as u64) as usize
                            };
                            let stride = f.stride(p);
                            f.data_mut(p)[r * stride + x] ^= 1 + rng.below(255) as u8;
                        }
                    }
                    // A new picture.
                    _ => f = frame(Pixel::YUV420P, w, h, rng.below(5), &mut rng, range, space),
                }
                frames.push(f);
            }
            let paths = [
                ("best", CliScaler::new(&frames[0], range).unwrap()),
                (
                    "VNNI",
                    CliScaler::new(&frames[0], range).unwrap().vnni_only(),
                ),
                (
                    "AVX2",
                    CliScaler::new(&frames[0], range).unwrap().avx2_only(),
                ),
                (
                    "scalar",
                    CliScaler::new(&frames[0], range).unwrap().scalar_only(),
                ),
            ];
            for (name, mut ours) in paths {
                for (i, f) in frames.iter().enumerate() {
                    let mut theirs = CliScaler::new(f, range).unwrap().libswscale_only();
                    let (mut a, mut b) = (vec![0u8; 64 * 64 * 3], vec![0u8; 64 * 64 * 3]);
                    ours.scale_decoded(f, &mut a).unwrap();
                    theirs.scale(f, &mut b).unwrap();
                    assert_eq!(first_diff(&a, &b), None, "{w}x{h} frame {i}: {name} pass");
                }
                let (kept, kept_out) = ours.kept_rows().expect("the Rust path");
                // Five of the ten frames after the first repeat most or
                // all of their rows (the first of them all, so all its
                // output rows too).
                assert!(kept > 2 * h as usize, "{w}x{h} {name}: {kept} rows kept");
                assert!(
                    kept_out >= 64,
                    "{w}x{h} {name}: {kept_out} output rows kept"
                );
            }
        }
    }

    /// A scaler dropped by its video is the one the next video of that
    /// size gets, and it scales as a new one would: the same bytes as
    /// libswscale on a frame of another range and matrix. A scaler a test
    /// took a pass from is not kept. (Heights over 1080, which no other
    /// test uses: the kept scalers are shared by the test threads.)
    #[test]
    fn a_recycled_scaler_scales_as_a_new_one() {
        let mut rng = Rng(0x0dd5_eed5_0000_0005);
        let mut rgb = vec![0u8; 64 * 64 * 3];
        let mut want = vec![0u8; 64 * 64 * 3];
        for (w, h) in [(722, 1094), (1082, 1098), (643, 1090)] {
            let a = frame(Pixel::YUV420P, w, h, 3, &mut rng, RANGES[0], SPACES[0]);
            let b = frame(Pixel::YUV420P, w, h, 0, &mut rng, RANGES[1], SPACES[1]);
            let kept = {
                let mut first = CliScaler::new(&a, RANGES[0]).unwrap();
                first.scale(&a, &mut rgb).unwrap();
                first.identity().expect("the Rust path")
            };
            let mut second = CliScaler::new(&b, RANGES[1]).unwrap();
            assert_eq!(second.identity(), Some(kept), "{w}x{h}: the kept scaler");
            second.scale(&b, &mut rgb).unwrap();
            let mut theirs = CliScaler::new(&b, RANGES[1]).unwrap().libswscale_only();
            theirs.scale(&b, &mut want).unwrap();
            assert_eq!(first_diff(&rgb, &want), None, "{w}x{h}: recycled");
            drop(second);
            // The kept one, made scalar: dropped, not kept.
            drop(CliScaler::new(&b, RANGES[1]).unwrap().scalar_only());
            let next = super::Scaler::new(w as usize, h as usize).unwrap();
            assert!(next.identity().1, "{w}x{h}: a scaler with every pass");
        }
    }

    #[test]
    fn random_frames_match_libswscale() {
        let mut rng = Rng(0x5eed_1234_abcd_0001);
        let mut fast = 0;
        // Sizes that ran the AVX-512 VNNI pass, and the AMX one (none on a
        // CPU without them).
        let mut wide = 0;
        let mut tiled = 0;
        let mut sizes = vec![
            (65, 65),
            (66, 67),
            (67, 1000),
            (1000, 67),
            (64, 480),
            (480, 64),
            (129, 129),
            (128, 128),
            (640, 360),
            (1280, 720),
            (1920, 1080),
            (1080, 1920),
            (3840, 2160),
            (4032, 100),
            (4100, 100),
            (100, 4100),
            (2, 2),
            (7, 300),
        ];
        for _ in 0..250 {
            let w = match rng.below(4) {
                0 => 65 + rng.below(60),
                1 => 65 + rng.below(700),
                _ => 2 + rng.below(1919),
            };
            let h = match rng.below(4) {
                0 => 65 + rng.below(60),
                1 => 65 + rng.below(700),
                _ => 2 + rng.below(1079),
            };
            sizes.push((w as u32, h as u32));
        }
        for (n, &(w, h)) in sizes.iter().enumerate() {
            let fmt = if n % 3 == 2 {
                Pixel::YUVJ420P
            } else {
                Pixel::YUV420P
            };
            let range = RANGES[n % 3];
            let space = SPACES[rng.below(SPACES.len() as u64) as usize];
            // The context's range is the first tagged one; later frames
            // may tag another matrix (a new table, same context).
            let first = frame(fmt, w, h, rng.below(5), &mut rng, range, space);
            let claims = super::Scaler::new(w as usize, h as usize).is_some();
            let mut ours = CliScaler::new(&first, range).unwrap();
            let mut scalar = CliScaler::new(&first, range).unwrap().scalar_only();
            let mut avx2 = CliScaler::new(&first, range).unwrap().avx2_only();
            let mut vnni = CliScaler::new(&first, range).unwrap().vnni_only();
            wide += usize::from(ours.uses_avx512());
            tiled += usize::from(ours.uses_amx());
            let mut theirs = CliScaler::new(&first, range).unwrap().libswscale_only();
            assert_eq!(ours.is_fast(), claims, "{w}x{h}");
            if !claims {
                continue;
            }
            fast += 1;
            let (mut a, mut b) = (vec![0u8; 64 * 64 * 3], vec![0u8; 64 * 64 * 3]);
            let mut sc = vec![0u8; 64 * 64 * 3];
            let mut a2 = vec![0u8; 64 * 64 * 3];
            let mut a3 = vec![0u8; 64 * 64 * 3];
            for k in 0..3 {
                let space = SPACES[rng.below(SPACES.len() as u64) as usize];
                let f = if k == 0 {
                    first.clone()
                } else {
                    frame(fmt, w, h, rng.below(5), &mut rng, range, space)
                };
                ours.scale(&f, &mut a).unwrap();
                scalar.scale(&f, &mut sc).unwrap();
                avx2.scale(&f, &mut a2).unwrap();
                vnni.scale(&f, &mut a3).unwrap();
                theirs.scale(&f, &mut b).unwrap();
                if let Some((i, x, y)) = first_diff(&a, &b) {
                    panic!(
                        "{w}x{h} {fmt:?} {range:?} {space:?}: byte {i}: ours {x}, libswscale {y}"
                    );
                }
                if let Some((i, x, y)) = first_diff(&a2, &b) {
                    panic!(
                        "{w}x{h} {fmt:?} {range:?} {space:?}: byte {i}: AVX2 {x}, libswscale {y}"
                    );
                }
                if let Some((i, x, y)) = first_diff(&a3, &b) {
                    panic!(
                        "{w}x{h} {fmt:?} {range:?} {space:?}: byte {i}: VNNI {x}, libswscale {y}"
                    );
                }
                if let Some((i, x, y)) = first_diff(&sc, &b) {
                    panic!(
                        "{w}x{h} {fmt:?} {range:?} {space:?}: byte {i}: scalar {x}, libswscale {y}"
                    );
                }
            }
            // The same picture cropped out of a wider frame.
            let (l, t) = (
                2 * (1 + rng.below(40)) as u32,
                2 * (1 + rng.below(40)) as u32,
            );
            let big = frame(
                fmt,
                w + 2 * l,
                h + 2 * t,
                rng.below(5),
                &mut rng,
                range,
                space,
            );
            let c = cropped(&big, l as usize, t as usize);
            assert_eq!((c.width(), c.height()), (w, h));
            let mut ours = CliScaler::new(&c, range).unwrap();
            let mut theirs = CliScaler::new(&c, range).unwrap().libswscale_only();
            ours.scale(&c, &mut a).unwrap();
            theirs.scale(&c, &mut b).unwrap();
            if let Some((i, x, y)) = first_diff(&a, &b) {
                panic!("{w}x{h} cropped by {l},{t}: byte {i}: ours {x}, libswscale {y}");
            }
        }
        // Most sizes drawn are in the Rust path's domain.
        assert!(fast > 200, "{fast} sizes took the Rust path");
        if super::simd_kernel() == Some(super::Kernel::Avx512Vnni) {
            eprintln!("{wide} of {fast} sizes ran the AVX-512 VNNI pass on luma");
            // Only filters near 1:1 could have taps too large to split.
            assert!(
                wide * 10 > fast * 8,
                "{wide} of {fast} sizes ran the AVX-512 pass"
            );
        } else {
            eprintln!("no AVX-512 VNNI here: compared the AVX2 and scalar passes only");
        }
        #[cfg(target_arch = "x86_64")]
        let amx_here = super::amx::available();
        #[cfg(not(target_arch = "x86_64"))]
        let amx_here = false;
        if amx_here {
            // Every size in the domain whose chroma planes are a chunk (64)
            // wide: the domain's frames are at least 65 high, so every
            // plane has a call's 32 rows.
            let eligible = sizes
                .iter()
                .filter(|&&(w, h)| super::Scaler::new(w as usize, h as usize).is_some() && w >= 127)
                .count();
            eprintln!("{tiled} of {fast} sizes ran the AMX pass ({eligible} eligible)");
            assert!(
                tiled == eligible && tiled > 100,
                "{tiled} of {eligible} eligible sizes ran the AMX pass"
            );
        } else {
            eprintln!("no AMX here: the AMX pass was not compared");
        }
    }
}
