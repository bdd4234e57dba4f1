//! Pixels to the float luma PDQ hashes.
//!
//! Two conventions exist and both matter:
//!
//! * [`LumaRule::Pillow`]: the lists made by ThreatExchange's Python hasher
//!   (and `pdqhash` on PyPI) compute luma in numpy: `R*0.299 + G*0.587 +
//!   B*0.114` in `f64`, then cast to `f32`. This is the image hash of record.
//! * [`LumaRule::Reference`]: the C++ reference (`fillFloatLumaFromRGB`, used
//!   by vPDQ) multiplies by `f32` coefficients in `f32`.
//!
//! The two differ in the last bits of the float, which can flip a hash bit
//! whose coefficient sits on the median, so the rule is explicit everywhere.

/// Which float luma convention to reproduce (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LumaRule {
    /// numpy `f64` arithmetic cast to `f32` (pdqhash / ThreatExchange Python).
    #[default]
    Pillow,
    /// `f32` arithmetic with `f32` coefficients (the C++ reference, vPDQ).
    Reference,
}

/// A picture that can produce one row of float luma at a time.
///
/// PDQ is computed in a single streaming pass over rows, so a full-size
/// float copy of the image is never needed.
pub trait LumaSource {
    /// Width in pixels.
    fn width(&self) -> usize;
    /// Height in pixels.
    fn height(&self) -> usize;
    /// Fill `out` (exactly `width()` long) with the luma of row `y`.
    fn luma_row(&self, y: usize, out: &mut [f32]);

    /// Fill `out` (at least `n * width()` long) with rows `y..y + n`, one
    /// after another. The downsample asks for sixteen rows at a time, so a
    /// source that reads rows more cheaply together (a turned picture,
    /// whose rows are columns of its plane) overrides this.
    fn luma_rows(&self, y: usize, n: usize, out: &mut [f32]) {
        let w = self.width();
        for (r, row) in out.chunks_exact_mut(w).take(n).enumerate() {
            self.luma_row(y + r, row);
        }
    }
}

/// Packed 8-bit RGB (3 bytes per pixel), rows `stride` bytes apart.
pub struct Rgb8<'a> {
    data: &'a [u8],
    width: usize,
    height: usize,
    stride: usize,
    rule: LumaRule,
    lut: &'a LumaLut,
}

/// Products of each 8-bit value with each coefficient, precomputed: the same
/// values as multiplying on the fly, at a table look-up's cost.
pub struct LumaLut {
    r: [f64; 256],
    g: [f64; 256],
    b: [f64; 256],
    rf: [f32; 256],
    gf: [f32; 256],
    bf: [f32; 256],
}

impl LumaLut {
    fn new() -> Self {
        let mut lut = LumaLut {
            r: [0.0; 256],
            g: [0.0; 256],
            b: [0.0; 256],
            rf: [0.0; 256],
            gf: [0.0; 256],
            bf: [0.0; 256],
        };
        for v in 0..256 {
            lut.r[v] = v as f64 * 0.299;
            lut.g[v] = v as f64 * 0.587;
            lut.b[v] = v as f64 * 0.114;
            lut.rf[v] = 0.299f32 * v as f32;
            lut.gf[v] = 0.587f32 * v as f32;
            lut.bf[v] = 0.114f32 * v as f32;
        }
        lut
    }

    /// The process-wide table.
    pub fn get() -> &'static LumaLut {
        static LUT: std::sync::OnceLock<LumaLut> = std::sync::OnceLock::new();
        LUT.get_or_init(LumaLut::new)
    }
}

/// Why pixel data does not describe the picture it claims to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("pixel buffer of {len} bytes is too small for {width}x{height} with stride {stride}")]
pub struct BufferSizeError {
    pub len: usize,
    pub width: usize,
    pub height: usize,
    pub stride: usize,
}

fn check_len(
    len: usize,
    width: usize,
    height: usize,
    stride: usize,
    bpp: usize,
) -> Result<(), BufferSizeError> {
    let err = BufferSizeError {
        len,
        width,
        height,
        stride,
    };
    if height == 0 || width == 0 {
        return Ok(());
    }
    if stride < width.checked_mul(bpp).ok_or(err.clone())? {
        return Err(err);
    }
    let need = stride
        .checked_mul(height - 1)
        .and_then(|v| v.checked_add(width * bpp))
        .ok_or(err.clone())?;
    if len < need {
        return Err(err);
    }
    Ok(())
}

impl<'a> Rgb8<'a> {
    /// Tightly packed RGB rows.
    pub fn new(
        data: &'a [u8],
        width: usize,
        height: usize,
        rule: LumaRule,
    ) -> Result<Self, BufferSizeError> {
        Self::with_stride(data, width, height, width * 3, rule)
    }

    /// RGB rows `stride` bytes apart (FFmpeg frames pad their rows).
    pub fn with_stride(
        data: &'a [u8],
        width: usize,
        height: usize,
        stride: usize,
        rule: LumaRule,
    ) -> Result<Self, BufferSizeError> {
        check_len(data.len(), width, height, stride, 3)?;
        Ok(Rgb8 {
            data,
            width,
            height,
            stride,
            rule,
            lut: LumaLut::get(),
        })
    }
}

impl LumaSource for Rgb8<'_> {
    fn width(&self) -> usize {
        self.width
    }
    fn height(&self) -> usize {
        self.height
    }
    fn luma_row(&self, y: usize, out: &mut [f32]) {
        let row = &self.data[y * self.stride..y * self.stride + 3 * self.width];
        let lut = self.lut;
        match self.rule {
            LumaRule::Pillow => {
                let done = simd::pillow_row(row, out);
                for (o, px) in out[done..].iter_mut().zip(row[3 * done..].chunks_exact(3)) {
                    // numpy evaluates (R*0.299 + G*0.587) + B*0.114 in f64.
                    *o = ((lut.r[px[0] as usize] + lut.g[px[1] as usize]) + lut.b[px[2] as usize])
                        as f32;
                }
            }
            LumaRule::Reference => {
                for (o, px) in out.iter_mut().zip(row.chunks_exact(3)) {
                    *o = (lut.rf[px[0] as usize] + lut.gf[px[1] as usize]) + lut.bf[px[2] as usize];
                }
            }
        }
    }
}

/// 8-bit single-channel rows (a greyscale plane, or an FFmpeg Y plane where
/// that is the convention), rows `stride` bytes apart; luma is the value,
/// or `(value - offset) * scale` with [`Grey8::with_levels`].
pub struct Grey8<'a> {
    data: &'a [u8],
    width: usize,
    height: usize,
    stride: usize,
    offset: f32,
    scale: f32,
}

impl<'a> Grey8<'a> {
    pub fn new(
        data: &'a [u8],
        width: usize,
        height: usize,
        stride: usize,
    ) -> Result<Self, BufferSizeError> {
        check_len(data.len(), width, height, stride, 1)?;
        Ok(Grey8 {
            data,
            width,
            height,
            stride,
            offset: 0.0,
            scale: 1.0,
        })
    }

    /// Map each value `v` to `(v - offset) * scale` (e.g. a limited-range
    /// Y plane onto the 0-255 luma scale). The defaults (0, 1) leave every
    /// value exactly as it is.
    pub fn with_levels(self, offset: f32, scale: f32) -> Self {
        Grey8 {
            offset,
            scale,
            ..self
        }
    }
}

impl LumaSource for Grey8<'_> {
    fn width(&self) -> usize {
        self.width
    }
    fn height(&self) -> usize {
        self.height
    }
    fn luma_row(&self, y: usize, out: &mut [f32]) {
        let row = &self.data[y * self.stride..y * self.stride + self.width];
        for (o, &v) in out.iter_mut().zip(row) {
            *o = (v as f32 - self.offset) * self.scale;
        }
    }
}

/// A float luma buffer, row-major and tightly packed.
pub struct FloatLuma<'a> {
    data: &'a [f32],
    width: usize,
    height: usize,
}

impl<'a> FloatLuma<'a> {
    pub fn new(data: &'a [f32], width: usize, height: usize) -> Result<Self, BufferSizeError> {
        check_len(data.len(), width, height, width, 1)?;
        Ok(FloatLuma {
            data,
            width,
            height,
        })
    }
}

impl LumaSource for FloatLuma<'_> {
    fn width(&self) -> usize {
        self.width
    }
    fn height(&self) -> usize {
        self.height
    }
    fn luma_row(&self, y: usize, out: &mut [f32]) {
        out.copy_from_slice(&self.data[y * self.width..(y + 1) * self.width]);
    }
}

/// The Pillow rule with AVX2, when the CPU has it (checked at run time: the
/// binary runs on any x86-64). Same IEEE operations in the same order as the
/// scalar code, four pixels at a time, so the result is bit-identical.
mod simd {
    /// Fill a prefix of `out` from `row` (packed RGB); returns how many
    /// pixels were done (the caller finishes the rest).
    pub(super) fn pillow_row(row: &[u8], out: &mut [f32]) -> usize {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU supports AVX2 (checked just above).
                return unsafe { pillow_row_avx2(row, out) };
            }
        }
        let _ = (row, out);
        0
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn pillow_row_avx2(row: &[u8], out: &mut [f32]) -> usize {
        use std::arch::x86_64::*;
        let n = out.len().min(row.len() / 3);
        // numpy's f64 `(R*0.299 + G*0.587) + B*0.114`, cast to f32, equals
        // the correctly rounded f32 of the exact `(299R + 587G + 114B) /
        // 1000` for every 8-bit R, G, B (the f64 error is far below the
        // distance from any k/1000 to an f32 rounding midpoint; the test
        // `integer_rule_equals_f64_rule_for_every_colour` checks all 2^24).
        // So: the integer sum (exact), converted (exact below 2^24), and
        // one IEEE division, eight pixels at a time.
        //
        // Per 128-bit lane, four pixels (12 bytes): (R, G) as 16-bit pairs
        // for one multiply-add with (299, 587), and (B, 0) with (114, 0).
        let mrg = _mm256_setr_epi8(
            0, -1, 1, -1, 3, -1, 4, -1, 6, -1, 7, -1, 9, -1, 10, -1, //
            0, -1, 1, -1, 3, -1, 4, -1, 6, -1, 7, -1, 9, -1, 10, -1,
        );
        let mb = _mm256_setr_epi8(
            2, -1, -1, -1, 5, -1, -1, -1, 8, -1, -1, -1, 11, -1, -1, -1, //
            2, -1, -1, -1, 5, -1, -1, -1, 8, -1, -1, -1, 11, -1, -1, -1,
        );
        let crg = _mm256_set1_epi32((587 << 16) | 299);
        let cb = _mm256_set1_epi32(114);
        let thousand = _mm256_set1_ps(1000.0);
        let p = row.as_ptr();
        let mut i = 0;
        // Each step loads 16 bytes at 3i and at 3i + 12: stop while 3i + 28
        // bytes remain readable.
        while i + 8 <= n && 3 * i + 28 <= row.len() {
            // SAFETY: 3i + 28 <= row.len() (loop condition) bounds both
            // unaligned 16-byte loads; i + 8 <= n <= out.len() bounds the store.
            let lo = _mm_loadu_si128(p.add(3 * i) as *const __m128i);
            let hi = _mm_loadu_si128(p.add(3 * i + 12) as *const __m128i);
            let v = _mm256_inserti128_si256::<1>(_mm256_castsi128_si256(lo), hi);
            let rg = _mm256_madd_epi16(_mm256_shuffle_epi8(v, mrg), crg);
            let b = _mm256_madd_epi16(_mm256_shuffle_epi8(v, mb), cb);
            let k = _mm256_add_epi32(rg, b);
            let y = _mm256_div_ps(_mm256_cvtepi32_ps(k), thousand);
            _mm256_storeu_ps(out.as_mut_ptr().add(i), y);
            i += 8;
        }
        i
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simd_rows_equal_scalar_rows() {
        let w = 1001;
        let data: Vec<u8> = (0..w * 3).map(|i| ((i * 7919 + 13) % 256) as u8).collect();
        let src = Rgb8::new(&data, w, 1, LumaRule::Pillow).unwrap();
        let mut got = vec![0f32; w];
        src.luma_row(0, &mut got);
        for (x, px) in data.chunks_exact(3).enumerate() {
            let want = (px[0] as f64 * 0.299 + px[1] as f64 * 0.587 + px[2] as f64 * 0.114) as f32;
            assert_eq!(got[x].to_bits(), want.to_bits(), "pixel {x}");
        }
    }

    #[test]
    fn pillow_rule_matches_f64_arithmetic() {
        let px = [200u8, 17, 255, 0, 0, 0, 255, 255, 255];
        let src = Rgb8::new(&px, 3, 1, LumaRule::Pillow).unwrap();
        let mut out = [0f32; 3];
        src.luma_row(0, &mut out);
        let want = (200f64 * 0.299 + 17f64 * 0.587 + 255f64 * 0.114) as f32;
        assert_eq!(out[0], want);
        assert_eq!(out[1], 0.0);
        assert_eq!(
            out[2],
            (255.0 * 0.299 + 255.0 * 0.587 + 255.0 * 0.114) as f32
        );
    }

    /// The SIMD kernel's integer rule against numpy's f64 rule, for every
    /// colour there is.
    #[test]
    fn integer_rule_equals_f64_rule_for_every_colour() {
        let lut = LumaLut::get();
        for r in 0..256usize {
            for g in 0..256usize {
                for b in 0..256usize {
                    let f64_rule = ((lut.r[r] + lut.g[g]) + lut.b[b]) as f32;
                    let k = 299 * r as u32 + 587 * g as u32 + 114 * b as u32;
                    let int_rule = k as f32 / 1000.0;
                    assert_eq!(f64_rule.to_bits(), int_rule.to_bits(), "({r},{g},{b})");
                }
            }
        }
    }

    #[test]
    fn short_buffer_is_an_error() {
        assert!(Rgb8::new(&[0u8; 8], 3, 1, LumaRule::Pillow).is_err());
        assert!(Grey8::new(&[0u8; 10], 4, 3, 4).is_err());
        assert!(Grey8::new(&[0u8; 12], 4, 3, 4).is_ok());
    }
}
