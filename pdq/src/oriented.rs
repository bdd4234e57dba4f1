//! A picture turned or mirrored (the eight dihedral transforms), read from
//! its float luma plane without materialising the turned picture.
//!
//! Why not the reference's dihedral hashes: those come from one DCT whose
//! coefficients are transposed and sign-flipped, which is the hash of the
//! turned *64x64 downsample*, not of the turned picture. PDQ's downsample
//! does not commute with turning: its box windows are asymmetric, its
//! sample points sit at `floor((o + 0.5) * len / 64)`, which a mirror moves
//! by a pixel, and its running sums round in the direction they walk. On
//! fine textures the two differ by far more than the match threshold (a
//! brick wall turned 90 degrees: 86 bits). A repost made by turning the
//! pixels, or a photo stored sideways with an EXIF orientation, is the
//! hash of the turned pixels, so that is what [`Oriented`] feeds PDQ: the
//! rows of the turned picture, in the order and direction the reference
//! would walk them, bit-exact by construction (the luma of a pixel does
//! not depend on where it sits, and the downsample sees exactly the turned
//! plane).
//!
//! Cost: the luma is computed once into a plane (4 bytes a pixel), and no
//! turned copy of the picture is made. The downsample's first row pass
//! gathers its sixteen rows straight from the plane into the layout its
//! running sums use (`downsample::simd_box::rows_turned`): a turn that
//! keeps rows as rows transposes 8x8 blocks (storing mirrored columns in
//! reverse), a turn that makes columns into rows reads sixteen neighbouring
//! values of each plane row, which are already that layout. A turn and its
//! upside-down twin ([`twin`]) share that first pass. Every other pass runs
//! once per turn: each walks its own direction, and a float running sum
//! rounds differently walked the other way, so nothing else can be shared
//! bit for bit.

use super::dct::DihedralKind;
use super::luma::{BufferSizeError, LumaSource};

/// Where output pixel `(x', y')` of a transform is read in the source
/// (`w` x `h`): without `transpose`, `(x', y')` itself, and with it,
/// `(y', x')`; then `rev_x` reads column `w - 1 - sx` and `rev_y` row
/// `h - 1 - sy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Axes {
    pub(crate) transpose: bool,
    pub(crate) rev_x: bool,
    pub(crate) rev_y: bool,
}

/// The pixel transform each [`DihedralKind`] stands for, as PIL's
/// `Image.transpose` does it (and EXIF orientations 2..8 undo, see
/// `views::orient`): `rotate90` turns counter-clockwise
/// (`ROTATE_90`), `rotate270` clockwise, `flipx` turns the picture upside
/// down (`FLIP_TOP_BOTTOM`), `flipy` mirrors it left-right
/// (`FLIP_LEFT_RIGHT`), `flipplus1` is `TRANSPOSE` (about the main
/// diagonal), `flipminus1` `TRANSVERSE`.
fn axes(kind: DihedralKind) -> Axes {
    let (transpose, rev_x, rev_y) = match kind {
        DihedralKind::Original => (false, false, false),
        DihedralKind::FlipY => (false, true, false),
        DihedralKind::Rotate180 => (false, true, true),
        DihedralKind::FlipX => (false, false, true),
        DihedralKind::FlipPlus1 => (true, false, false),
        DihedralKind::Rotate270 => (true, false, true),
        DihedralKind::FlipMinus1 => (true, true, true),
        DihedralKind::Rotate90 => (true, true, false),
    };
    Axes {
        transpose,
        rev_x,
        rev_y,
    }
}

/// The transform whose turned picture has the same rows as `kind`'s, in
/// the opposite order (`kind` followed by turning upside down): the two
/// share their first row pass (`downsample::downsample_twins`).
pub(crate) fn twin(kind: DihedralKind) -> DihedralKind {
    match kind {
        DihedralKind::Original => DihedralKind::FlipX,
        DihedralKind::FlipX => DihedralKind::Original,
        DihedralKind::FlipY => DihedralKind::Rotate180,
        DihedralKind::Rotate180 => DihedralKind::FlipY,
        DihedralKind::FlipPlus1 => DihedralKind::Rotate90,
        DihedralKind::Rotate90 => DihedralKind::FlipPlus1,
        DihedralKind::Rotate270 => DihedralKind::FlipMinus1,
        DihedralKind::FlipMinus1 => DihedralKind::Rotate270,
    }
}

/// A `w` x `h` float luma plane (row-major, tightly packed) read as the
/// picture a dihedral transform turns it into.
pub struct Oriented<'a> {
    plane: &'a [f32],
    w: usize,
    h: usize,
    axes: Axes,
}

impl<'a> Oriented<'a> {
    /// `plane` holds `w * h` luma values, row after row.
    pub fn new(
        plane: &'a [f32],
        w: usize,
        h: usize,
        kind: DihedralKind,
    ) -> Result<Self, BufferSizeError> {
        if w.checked_mul(h).is_none_or(|n| plane.len() < n) {
            return Err(BufferSizeError {
                len: plane.len(),
                width: w,
                height: h,
                stride: w,
            });
        }
        Ok(Oriented {
            plane,
            w,
            h,
            axes: axes(kind),
        })
    }
}

impl<'a> Oriented<'a> {
    /// The plane, its width and height, and how it is read: what the
    /// downsample needs to gather turned rows straight from the plane.
    pub(crate) fn parts(&self) -> (&'a [f32], usize, usize, Axes) {
        (self.plane, self.w, self.h, self.axes)
    }
}

impl LumaSource for Oriented<'_> {
    fn width(&self) -> usize {
        if self.axes.transpose {
            self.h
        } else {
            self.w
        }
    }

    fn height(&self) -> usize {
        if self.axes.transpose {
            self.w
        } else {
            self.h
        }
    }

    fn luma_row(&self, y: usize, out: &mut [f32]) {
        self.luma_rows(y, 1, out);
    }

    fn luma_rows(&self, y: usize, n: usize, out: &mut [f32]) {
        let (w, h, a) = (self.w, self.h, self.axes);
        if !a.transpose {
            for (r, dst) in out.chunks_exact_mut(w).take(n).enumerate() {
                let sy = if a.rev_y { h - 1 - (y + r) } else { y + r };
                let row = &self.plane[sy * w..(sy + 1) * w];
                if a.rev_x {
                    for (d, &s) in dst.iter_mut().zip(row.iter().rev()) {
                        *d = s;
                    }
                } else {
                    dst.copy_from_slice(row);
                }
            }
            return;
        }
        // Output rows y..y+n are source columns: `c_lo..c_lo + n`, taken
        // in descending order when mirrored. One walk down the plane reads
        // the n columns side by side (contiguous in each source row).
        let c_lo = if a.rev_x { w - y - n } else { y };
        let out = &mut out[..n * h];
        for sy in 0..h {
            let x = if a.rev_y { h - 1 - sy } else { sy };
            let src = &self.plane[sy * w + c_lo..sy * w + c_lo + n];
            for (i, &v) in src.iter().enumerate() {
                let r = if a.rev_x { n - 1 - i } else { i };
                out[r * h + x] = v;
            }
        }
    }
}

/// Fill `plane` with the luma of `src` (`width * height` values).
pub(crate) fn fill_plane(src: &dyn LumaSource, plane: &mut Vec<f32>) {
    let (w, h) = (src.width(), src.height());
    // Every value is written below: only new length is zeroed.
    plane.truncate(w * h);
    plane.resize(w * h, 0.0);
    if w > 0 {
        src.luma_rows(0, h, plane);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `w` x `h` plane whose value names its pixel: `y * 1000 + x`.
    fn named(w: usize, h: usize) -> Vec<f32> {
        (0..w * h)
            .map(|i| ((i / w) * 1000 + i % w) as f32)
            .collect()
    }

    /// The transform written out pixel by pixel, as `views::orient::apply`
    /// and PIL define it: output (x, y) reads source (sx, sy).
    fn direct(kind: DihedralKind, w: usize, h: usize, x: usize, y: usize) -> (usize, usize) {
        match kind {
            DihedralKind::Original => (x, y),
            DihedralKind::FlipY => (w - 1 - x, y),
            DihedralKind::Rotate180 => (w - 1 - x, h - 1 - y),
            DihedralKind::FlipX => (x, h - 1 - y),
            DihedralKind::FlipPlus1 => (y, x),
            DihedralKind::Rotate270 => (y, h - 1 - x),
            DihedralKind::FlipMinus1 => (w - 1 - y, h - 1 - x),
            DihedralKind::Rotate90 => (w - 1 - y, x),
        }
    }

    #[test]
    fn rows_read_the_turned_picture() {
        for (w, h) in [(7usize, 5usize), (5, 9), (40, 17), (1, 3)] {
            let plane = named(w, h);
            for kind in DihedralKind::ALL {
                let o = Oriented::new(&plane, w, h, kind).unwrap();
                let (ow, oh) = (o.width(), o.height());
                assert_eq!(ow * oh, w * h);
                // One row at a time, and in groups of every size.
                for n in [1usize, 3, 16] {
                    let mut y = 0;
                    while y < oh {
                        let k = n.min(oh - y);
                        let mut out = vec![-1f32; k * ow];
                        o.luma_rows(y, k, &mut out);
                        for r in 0..k {
                            for x in 0..ow {
                                let (sx, sy) = direct(kind, w, h, x, y + r);
                                assert_eq!(
                                    out[r * ow + x],
                                    (sy * 1000 + sx) as f32,
                                    "{kind:?} {w}x{h} n={n} at ({x},{})",
                                    y + r
                                );
                            }
                        }
                        y += k;
                    }
                }
            }
        }
    }

    #[test]
    fn twin_reads_the_same_rows_in_reverse() {
        let (w, h) = (6usize, 4usize);
        let plane = named(w, h);
        for kind in DihedralKind::ALL {
            let a = Oriented::new(&plane, w, h, kind).unwrap();
            let b = Oriented::new(&plane, w, h, twin(kind)).unwrap();
            let (ow, oh) = (a.width(), a.height());
            assert_eq!((b.width(), b.height()), (ow, oh));
            let (mut ra, mut rb) = (vec![0f32; ow], vec![0f32; ow]);
            for y in 0..oh {
                a.luma_row(y, &mut ra);
                b.luma_row(oh - 1 - y, &mut rb);
                assert_eq!(ra, rb, "{kind:?} row {y}");
            }
            assert_eq!(twin(twin(kind)), kind);
        }
    }

    #[test]
    fn short_plane_is_refused() {
        assert!(Oriented::new(&[0.0; 11], 4, 3, DihedralKind::Rotate90).is_err());
        assert!(Oriented::new(&[0.0; 12], 4, 3, DihedralKind::Rotate90).is_ok());
    }
}
