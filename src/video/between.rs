//! The luma of a `between` frame: its Y plane, box-averaged down.
//!
//! Why: the frames between two sampled ones (up to 29 a second) are hashed
//! for the query side only, to catch a clip cut out of phase with the
//! listed video's once-a-second frames. They need not be the reference's
//! pixels, and at full resolution they were most of what views cost on a
//! video (2 to 2.3 times the time of no views on HD; issue 16). PDQ
//! blurs and decimates every picture to 64x64 anyway, so averaging
//! `k x k` blocks of the plane first (one read of the bytes, integer sums)
//! changes the hash by a few bits at most and leaves PDQ's own passes a
//! fraction of the pixels.

use crate::pdq::{Grey8, LumaSource};
use ffmpeg_next::format::Pixel;
use ffmpeg_next::util::frame::video::Video;

/// The short side the averaged plane keeps at least. Measured on 60
/// wallpapers scaled to HD (PDQ of the averaged plane against the full
/// plane's): 1920x1080 averaged by 3 is a median 2 bits off (at most 8),
/// by 4 6 bits, by 5 16; 1280x720 by 2 is 6 bits off, by 3 10. So 1080p
/// is averaged by 3, 720p by 2, SD not at all.
const MIN_SHORT_SIDE: usize = 320;

/// The luma of a decoded 8-bit YUV frame straight from its Y plane, on the
/// RGB luma scale (`(Y - 16) * 255 / 219` for limited range), averaged
/// down by [`factor`]. Not the reference's pixels (no chroma, no RGB
/// rounding or clamping), so only for the `between` frames: query-side
/// hashes a few bits from the conformant ones at a small part of their
/// cost. `None` unless `f` is 8-bit YUV of the size `dst` (the stream's
/// declared size, which the conformant path scales to).
pub(super) fn between_luma(f: &Video, dst: (u32, u32)) -> Option<BoxAveraged<'_>> {
    let (y, full) = y_plane(f, dst)?;
    let (offset, scale) = if full {
        (0.0, 1.0)
    } else {
        (16.0, 255.0 / 219.0)
    };
    BoxAveraged::new(
        y.data,
        y.width,
        y.height,
        y.stride,
        factor(y.width, y.height),
        offset,
        scale,
    )
}

/// An 8-bit plane of a frame.
#[derive(Clone, Copy)]
pub(super) struct Plane<'a> {
    pub data: &'a [u8],
    pub width: usize,
    pub height: usize,
    pub stride: usize,
}

/// The Y plane of a decoded 8-bit YUV frame of the size `dst`, and whether
/// it is full range (`None` for any other format or size).
pub(super) fn y_plane(f: &Video, dst: (u32, u32)) -> Option<(Plane<'_>, bool)> {
    let full = match f.format() {
        Pixel::YUV420P | Pixel::YUV422P | Pixel::YUV444P | Pixel::NV12 | Pixel::NV21 => {
            f.color_range() == ffmpeg_next::util::color::Range::JPEG
        }
        Pixel::YUVJ420P | Pixel::YUVJ422P | Pixel::YUVJ444P => true,
        _ => return None,
    };
    if (f.width(), f.height()) != dst || f.planes() == 0 {
        return None;
    }
    let plane = Plane {
        data: f.data(0),
        width: f.width() as usize,
        height: f.height() as usize,
        stride: f.stride(0),
    };
    Some((plane, full))
}

/// How many pixels a side one averaged pixel stands for: the largest that
/// keeps the short side at least [`MIN_SHORT_SIDE`] (1 for SD and below).
pub fn factor(width: usize, height: usize) -> usize {
    (width.min(height) / MIN_SHORT_SIDE).clamp(1, 256)
}

/// An 8-bit plane seen through `k x k` block means (the plane's last
/// `width % k` columns and `height % k` rows are left out: under one
/// averaged pixel of the picture's edge), each mapped to
/// `(mean - offset) * scale`.
pub struct BoxAveraged<'a> {
    data: &'a [u8],
    stride: usize,
    k: usize,
    width: usize,
    height: usize,
    offset: f32,
    scale: f32,
}

impl<'a> BoxAveraged<'a> {
    /// `None` when the buffer is too short for `width x height` at `stride`,
    /// or `k` is 0 or over 256 (sums are kept in u16).
    pub fn new(
        data: &'a [u8],
        width: usize,
        height: usize,
        stride: usize,
        k: usize,
        offset: f32,
        scale: f32,
    ) -> Option<Self> {
        // The same bounds check as a plain plane's.
        Grey8::new(data, width, height, stride).ok()?;
        if k == 0 || k > 256 {
            return None;
        }
        Some(BoxAveraged {
            data,
            stride,
            k,
            width: width / k,
            height: height / k,
            offset,
            scale,
        })
    }
}

impl LumaSource for BoxAveraged<'_> {
    fn width(&self) -> usize {
        self.width
    }
    fn height(&self) -> usize {
        self.height
    }
    fn luma_row(&self, y: usize, out: &mut [f32]) {
        let k = self.k;
        let mean = self.scale / (k * k) as f32;
        let bias = self.offset * self.scale;
        if k == 1 {
            // The plane itself (SD): no sums to gather, the same values.
            let (start, n) = (y * self.stride, out.len());
            for (o, &v) in out.iter_mut().zip(&self.data[start..start + n]) {
                *o = u32::from(v) as f32 * mean - bias;
            }
            return;
        }
        // Column sums of the k source rows, a chunk of the row at a time
        // (a stack buffer: `luma_row` takes `&self`). Adding whole rows of
        // bytes into u16 sums is what the compiler vectorises; k <= 257
        // keeps a column's sum of k bytes within u16.
        let mut cols = [0u16; 2048];
        let per_chunk = (cols.len() / k).max(1);
        for (c, out) in out.chunks_mut(per_chunk).enumerate() {
            let n = out.len() * k;
            let cols = &mut cols[..n];
            cols.fill(0);
            let x0 = c * per_chunk * k;
            for dy in 0..k {
                let start = (y * k + dy) * self.stride + x0;
                for (s, &v) in cols.iter_mut().zip(&self.data[start..start + n]) {
                    *s += u16::from(v);
                }
            }
            match k {
                1 => block_means::<1>(cols, out, mean, bias),
                2 => block_means::<2>(cols, out, mean, bias),
                3 => block_means::<3>(cols, out, mean, bias),
                4 => block_means::<4>(cols, out, mean, bias),
                5 => block_means::<5>(cols, out, mean, bias),
                6 => block_means::<6>(cols, out, mean, bias),
                _ => {
                    for (o, block) in out.iter_mut().zip(cols.chunks_exact(k)) {
                        let sum: u32 = block.iter().map(|&v| u32::from(v)).sum();
                        *o = sum as f32 * mean - bias;
                    }
                }
            }
        }
    }
}

/// `out[j]` from the sum of `cols[j*K .. j*K + K]`: with K known at
/// compile time the compiler unrolls each block's sum (the factors of
/// 1080p to 4K video are 1 to 6).
fn block_means<const K: usize>(cols: &[u16], out: &mut [f32], mean: f32, bias: f32) {
    for (o, block) in out.iter_mut().zip(cols.chunks_exact(K)) {
        let sum: u32 = block.iter().map(|&v| u32::from(v)).sum();
        *o = sum as f32 * mean - bias;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pdq::PdqHasher;

    /// A picture-like plane: smooth shapes and gradients at a few scales
    /// (a periodic fine texture would alias under any decimation; real
    /// frames are mostly not that).
    fn plane(w: usize, h: usize, stride: usize) -> Vec<u8> {
        let mut v = vec![0u8; stride * h];
        for y in 0..h {
            for x in 0..w {
                let (u, t) = (x as f32 / w as f32, y as f32 / h as f32);
                let f = 90.0 * (u * 5.0 + t * 3.0).sin()
                    + 60.0 * (u * 13.0 - t * 7.0).cos()
                    + if ((u - 0.3).powi(2) + (t - 0.6).powi(2)) < 0.04 {
                        50.0
                    } else {
                        0.0
                    };
                v[y * stride + x] = (128.0 + f * 0.7).clamp(0.0, 255.0) as u8;
            }
        }
        v
    }

    #[test]
    fn factor_keeps_the_short_side() {
        assert_eq!(factor(720, 480), 1);
        assert_eq!(factor(1280, 720), 2);
        assert_eq!(factor(1920, 1080), 3);
        assert_eq!(factor(1080, 1920), 3);
        assert_eq!(factor(3840, 2160), 6);
        assert_eq!(factor(10, 10), 1);
    }

    #[test]
    fn means_of_blocks_on_the_luma_scale() {
        // 4x2 plane, k = 2: two averaged pixels, stride with padding.
        let data = [10u8, 20, 30, 50, 9, 9, 30, 40, 70, 90, 9, 9];
        let b = BoxAveraged::new(&data, 4, 2, 6, 2, 16.0, 2.0).unwrap();
        assert_eq!((b.width(), b.height()), (2, 1));
        let mut out = [0f32; 2];
        b.luma_row(0, &mut out);
        assert_eq!(out, [(25.0 - 16.0) * 2.0, (60.0 - 16.0) * 2.0]);
        // k = 1 is the plane itself.
        let one = BoxAveraged::new(&data, 4, 2, 6, 1, 0.0, 1.0).unwrap();
        let mut row = [0f32; 4];
        one.luma_row(1, &mut row);
        assert_eq!(row, [30.0, 40.0, 70.0, 90.0]);
        // Too short a buffer, or k = 0: refused.
        assert!(BoxAveraged::new(&data, 4, 3, 6, 1, 0.0, 1.0).is_none());
        assert!(BoxAveraged::new(&data, 4, 2, 6, 0, 0.0, 1.0).is_none());
    }

    #[test]
    fn hash_stays_near_the_full_plane() {
        // HD sizes with a padded stride and a width that is not a multiple
        // of the factor or of the 64-pixel chunk.
        let mut pdq = PdqHasher::new();
        for (w, h, stride) in [(1918, 1080, 1984), (1280, 720, 1280)] {
            let data = plane(w, h, stride);
            let full = pdq.hash(&Grey8::new(&data, w, h, stride).unwrap());
            let k = factor(w, h);
            assert!(k > 1);
            let small = pdq.hash(&BoxAveraged::new(&data, w, h, stride, k, 0.0, 1.0).unwrap());
            let d = full.hash.distance(&small.hash);
            assert!(
                d <= 12,
                "{w}x{h} averaged by {k}: {d} bits from the full plane"
            );
        }
    }
}
