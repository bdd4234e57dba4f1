//! PDQ, written from Meta's published algorithm and held bit-exact to the
//! reference C++ (`pdqhashing.cpp`, `downscaling.cpp`).
//!
//! Shared hash lists were made with the reference, so every float operation
//! that decides a bit happens in the reference's order: the luma rule
//! ([`LumaRule`]), the Jarosz tent filter and decimation ([`downsample`]),
//! the 16x64 DCT ([`dct`]), Torben's median, and the image-domain quality
//! metric. hashsieve's `tests/it/conformance_pdq.rs` checks the result
//! against the reference outputs in `../shared/conformance/pdq`.
//!
//! A crate of its own, below both the hash list (hashdb, which stores
//! [`Pdq`] values) and the app (which decodes media into a [`LumaSource`]):
//! it needs neither media decoders nor storage.
//!
//! A [`PdqHasher`] owns reusable scratch buffers: keep one per thread.

mod dct;
mod divide;
mod downsample;
mod hash;
pub mod hex;
mod luma;
mod median;
mod oriented;

pub use dct::DihedralKind;
pub use hash::Pdq;
pub use hex::HexError;
pub use luma::{BufferSizeError, FloatLuma, Grey8, LumaRule, LumaSource, Rgb8};
pub use oriented::Oriented;

/// Images smaller than this on either side get the zero hash and quality 0,
/// as in the reference.
pub const MIN_HASHABLE_DIM: usize = 5;

/// A PDQ hash with its quality (0..=100; lists ignore hashes below 50).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PdqHash {
    pub hash: Pdq,
    pub quality: u8,
}

/// The eight dihedral hashes of one image as the reference's
/// `pdqDihedralHash256esFromFloatLuma` computes them: from one DCT, by
/// transposing and sign-flipping coefficients. That is what Meta's tools
/// and `reference-dihedral.csv` hold (`hash --dihedral` exports it), but it
/// is not the hash of the turned pixels (see [`PdqHasher::oriented`],
/// which the query views use).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dihedral {
    /// Indexed in the order of [`DihedralKind::ALL`].
    pub hashes: [Pdq; 8],
    pub quality: u8,
}

impl Dihedral {
    /// The hash of one transform.
    pub fn get(&self, kind: DihedralKind) -> Pdq {
        let i = DihedralKind::ALL
            .iter()
            .position(|k| *k == kind)
            .unwrap_or(0);
        self.hashes[i]
    }

    /// `(name, hash)` pairs in the reference's order.
    pub fn named(&self) -> impl Iterator<Item = (&'static str, Pdq)> + '_ {
        DihedralKind::ALL
            .iter()
            .zip(self.hashes.iter())
            .map(|(k, h)| (k.name(), *h))
    }
}

/// PDQ hasher with reusable buffers. Not `Sync`: use one per thread.
#[derive(Default)]
pub struct PdqHasher {
    scratch: downsample::Scratch,
    /// The float luma of the picture being turned ([`PdqHasher::oriented`]).
    plane: Vec<f32>,
}

impl PdqHasher {
    pub fn new() -> Self {
        Self::default()
    }

    /// The hash of record: what the reference's `pdqHash256FromFloatLuma`
    /// returns for this luma (including its shortcut that a 64x64 input is
    /// used as is, without blurring).
    pub fn hash(&mut self, src: &dyn LumaSource) -> PdqHash {
        self.hash_from(src, None)
    }

    /// [`PdqHasher::hash`] of `src`; `turned`, when given, is `src` itself,
    /// whose downsample then reads the turned rows straight from the plane.
    fn hash_from(&mut self, src: &dyn LumaSource, turned: Option<&Oriented>) -> PdqHash {
        if src.width() < MIN_HASHABLE_DIM || src.height() < MIN_HASHABLE_DIM {
            return PdqHash {
                hash: Pdq::ZERO,
                quality: 0,
            };
        }
        let buf = if src.width() == 64 && src.height() == 64 {
            let mut b = [[0f32; 64]; 64];
            for (y, row) in b.iter_mut().enumerate() {
                src.luma_row(y, row);
            }
            b
        } else if let Some(t) = turned {
            downsample::downsample_turned(t, &mut self.scratch)
        } else {
            downsample::downsample_64(src, &mut self.scratch)
        };
        finish(&buf)
    }

    /// PDQ's float feature: the 16x16 DCT block before the median and the
    /// bits, as the reference's `pdqFloat256FromFloatLuma` returns it (a
    /// 64x64 input used as is, anything else blurred and decimated first).
    /// Row `i` is the vertical frequency, column `j` the horizontal one.
    /// It is the per-frame feature of TMK+PDQF (hashsieve's `tmk` module), whose
    /// frames are already 64x64. Pictures smaller than
    /// [`MIN_HASHABLE_DIM`] give the zero block, as [`PdqHasher::hash`]
    /// gives them the zero hash.
    pub fn float_feature(&mut self, src: &dyn LumaSource) -> [[f32; 16]; 16] {
        if src.width() < MIN_HASHABLE_DIM || src.height() < MIN_HASHABLE_DIM {
            return [[0f32; 16]; 16];
        }
        let buf = if src.width() == 64 && src.height() == 64 {
            let mut b = [[0f32; 64]; 64];
            for (y, row) in b.iter_mut().enumerate() {
                src.luma_row(y, row);
            }
            b
        } else {
            downsample::downsample_64(src, &mut self.scratch)
        };
        dct::dct64_to_16(&buf)
    }

    /// The reference hash of the picture each of `kinds` turns `src` into,
    /// in the order of `kinds`: bit-identical to [`PdqHasher::hash`] of the
    /// turned pixels (what `pdqhash` returns for a PIL-transposed image),
    /// each with its own quality. The luma is computed once into a plane;
    /// each turn costs one downsample, read from that plane in the turned
    /// order (see [`Oriented`]), except that a turn and its upside-down
    /// twin, when both are asked for, share the first row pass (which then
    /// keeps a second plane of the picture's size). These are the query-side rotation, mirror and EXIF
    /// views; [`PdqHasher::dihedral`] is the reference's cheaper
    /// approximation, kept for exports that must equal Meta's.
    pub fn oriented(&mut self, src: &dyn LumaSource, kinds: &[DihedralKind]) -> Vec<PdqHash> {
        let (w, h) = (src.width(), src.height());
        if kinds.iter().all(|&k| k == DihedralKind::Original) {
            let one = self.hash(src);
            return kinds.iter().map(|_| one).collect();
        }
        let mut plane = std::mem::take(&mut self.plane);
        oriented::fill_plane(src, &mut plane);
        let mut done: Vec<(DihedralKind, PdqHash)> = Vec::with_capacity(kinds.len());
        let mut hashes = Vec::with_capacity(kinds.len());
        for &kind in kinds {
            if let Some(&(_, h)) = done.iter().find(|(k, _)| *k == kind) {
                hashes.push(h);
                continue;
            }
            let twin = oriented::twin(kind);
            let turned = match Oriented::new(&plane, w, h, kind) {
                Ok(t) => t,
                // Unreachable: the plane was just filled with w * h values.
                Err(_) => {
                    hashes.push(PdqHash {
                        hash: Pdq::ZERO,
                        quality: 0,
                    });
                    continue;
                }
            };
            let (tw, th) = (turned.width(), turned.height());
            // A turn and its upside-down twin share their first row pass
            // when both are asked for and the picture is blurred at all
            // (not tiny, not the 64x64 shortcut).
            let blurred = tw >= MIN_HASHABLE_DIM && th >= MIN_HASHABLE_DIM && (tw, th) != (64, 64);
            let one = if blurred && kinds.contains(&twin) {
                let [a, b] = downsample::downsample_twins(&turned, &mut self.scratch);
                done.push((twin, finish(&b)));
                finish(&a)
            } else {
                self.hash_from(&turned, Some(&turned))
            };
            done.push((kind, one));
            hashes.push(one);
        }
        self.plane = plane;
        hashes
    }

    /// The eight dihedral hashes, as the reference's
    /// `pdqDihedralHash256esFromFloatLuma` computes them (from one DCT; note
    /// that, unlike [`PdqHasher::hash`], it always blurs, even at 64x64).
    /// See [`Dihedral`] for how they differ from the hashes of the turned
    /// pixels.
    pub fn dihedral(&mut self, src: &dyn LumaSource) -> Dihedral {
        if src.width() < MIN_HASHABLE_DIM || src.height() < MIN_HASHABLE_DIM {
            return Dihedral {
                hashes: [Pdq::ZERO; 8],
                quality: 0,
            };
        }
        let buf = downsample::downsample_64(src, &mut self.scratch);
        let quality = quality_metric(&buf);
        let coeffs = dct::dct64_to_16(&buf);
        let hashes = DihedralKind::ALL.map(|k| bits_from_coefficients(&dct::dihedral(&coeffs, k)));
        Dihedral { hashes, quality }
    }
}

/// Hash one RGB image with the Pillow luma rule (the convention of the
/// shared lists). Convenience for callers that hash a single image.
pub fn hash_rgb8(rgb: &[u8], width: usize, height: usize) -> Result<PdqHash, BufferSizeError> {
    let src = Rgb8::new(rgb, width, height, LumaRule::Pillow)?;
    Ok(PdqHasher::new().hash(&src))
}

/// The hash and quality of a 64x64 downsample.
fn finish(buf: &[[f32; 64]; 64]) -> PdqHash {
    let quality = quality_metric(buf);
    let coeffs = dct::dct64_to_16(buf);
    PdqHash {
        hash: bits_from_coefficients(&coeffs),
        quality,
    }
}

/// Bit `i*16+j` is set when coefficient `(i, j)` exceeds the median.
fn bits_from_coefficients(c: &[[f32; 16]; 16]) -> Pdq {
    let flat: Vec<f32> = c.iter().flatten().copied().collect();
    let median = median::torben(&flat);
    let mut hash = Pdq::ZERO;
    for (k, &v) in flat.iter().enumerate() {
        if v > median {
            hash.set_bit(k);
        }
    }
    hash
}

/// The reference's image-domain quality: the sum of quantised gradients of
/// the 64x64 downsample, each truncated to an integer as the reference's
/// `int d = ((u - v) * 100) / 255` does (float arithmetic, then truncation).
fn quality_metric(b: &[[f32; 64]; 64]) -> u8 {
    let mut sum: i64 = 0;
    for (row, next) in b.iter().zip(b.iter().skip(1)) {
        for (&u, &v) in row.iter().zip(next.iter()) {
            let d = (((u - v) * 100.0) / 255.0) as i32;
            sum += d.unsigned_abs() as i64;
        }
    }
    for row in b.iter() {
        for j in 0..63 {
            let d = (((row[j] - row[j + 1]) * 100.0) / 255.0) as i32;
            sum += d.unsigned_abs() as i64;
        }
    }
    (sum / 90).min(100) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiny_images_get_zero_hash_and_quality() {
        let rgb = vec![128u8; 4 * 4 * 3];
        let h = hash_rgb8(&rgb, 4, 4).unwrap();
        assert_eq!(
            h,
            PdqHash {
                hash: Pdq::ZERO,
                quality: 0
            }
        );
    }

    #[test]
    fn flat_image_has_quality_zero() {
        let rgb = vec![77u8; 100 * 80 * 3];
        assert_eq!(hash_rgb8(&rgb, 100, 80).unwrap().quality, 0);
    }

    #[test]
    fn float_feature_is_what_the_hash_thresholds() {
        // The hash is the float feature against its median: computing both
        // from the same 64x64 luma must agree bit for bit.
        let rgb: Vec<u8> = (0..64 * 64 * 3).map(|i| ((i * 7919) % 251) as u8).collect();
        let src = Rgb8::new(&rgb, 64, 64, LumaRule::Reference).unwrap();
        let mut hasher = PdqHasher::new();
        let feature = hasher.float_feature(&src);
        assert_eq!(bits_from_coefficients(&feature), hasher.hash(&src).hash);
        let tiny = Rgb8::new(&rgb[..4 * 4 * 3], 4, 4, LumaRule::Reference).unwrap();
        assert_eq!(hasher.float_feature(&tiny), [[0f32; 16]; 16]);
    }

    #[test]
    fn dihedral_original_equals_hash_off_64x64() {
        let w = 120;
        let h = 90;
        let rgb: Vec<u8> = (0..w * h * 3).map(|i| ((i * 7919) % 251) as u8).collect();
        let src = Rgb8::new(&rgb, w, h, LumaRule::Pillow).unwrap();
        let mut hasher = PdqHasher::new();
        let one = hasher.hash(&src);
        let all = hasher.dihedral(&src);
        assert_eq!(all.get(DihedralKind::Original), one.hash);
        assert_eq!(all.quality, one.quality);
    }

    /// `rgb` (w x h) turned by `kind`, pixel by pixel (PIL's definition,
    /// see `oriented::axes`), and its size.
    fn turn_rgb(rgb: &[u8], w: usize, h: usize, kind: DihedralKind) -> (Vec<u8>, usize, usize) {
        let t = matches!(
            kind,
            DihedralKind::Rotate90
                | DihedralKind::Rotate270
                | DihedralKind::FlipPlus1
                | DihedralKind::FlipMinus1
        );
        let (ow, oh) = if t { (h, w) } else { (w, h) };
        let mut out = vec![0u8; rgb.len()];
        for y in 0..oh {
            for x in 0..ow {
                let (sx, sy) = match kind {
                    DihedralKind::Original => (x, y),
                    DihedralKind::FlipY => (w - 1 - x, y),
                    DihedralKind::Rotate180 => (w - 1 - x, h - 1 - y),
                    DihedralKind::FlipX => (x, h - 1 - y),
                    DihedralKind::FlipPlus1 => (y, x),
                    DihedralKind::Rotate270 => (y, h - 1 - x),
                    DihedralKind::FlipMinus1 => (w - 1 - y, h - 1 - x),
                    DihedralKind::Rotate90 => (w - 1 - y, x),
                };
                let s = 3 * (sy * w + sx);
                let d = 3 * (y * ow + x);
                out[d..d + 3].copy_from_slice(&rgb[s..s + 3]);
            }
        }
        (out, ow, oh)
    }

    #[test]
    fn oriented_equals_hash_of_turned_pixels() {
        // Fine texture (every pixel differs) on sizes that exercise odd and
        // even windows, the 64x64 shortcut, thin and tiny pictures.
        let mut hasher = PdqHasher::new();
        for (w, h) in [
            (120usize, 90usize),
            (64, 64),
            (7, 300),
            (333, 17),
            (4, 9),
            (1030, 517),
        ] {
            let rgb: Vec<u8> = (0..w * h * 3)
                .map(|i| ((i * 7919 + i / 97) % 251) as u8)
                .collect();
            let src = Rgb8::new(&rgb, w, h, LumaRule::Pillow).unwrap();
            let got = hasher.oriented(&src, &DihedralKind::ALL);
            for (kind, g) in DihedralKind::ALL.iter().zip(&got) {
                let (t, tw, th) = turn_rgb(&rgb, w, h, *kind);
                let want = hasher.hash(&Rgb8::new(&t, tw, th, LumaRule::Pillow).unwrap());
                assert_eq!(*g, want, "{kind:?} on {w}x{h}");
            }
            assert_eq!(got[0], hasher.hash(&src), "original on {w}x{h}");
            // Alone (no twin to share with), repeated, and in another order.
            for (kind, g) in DihedralKind::ALL.iter().zip(&got) {
                assert_eq!(hasher.oriented(&src, &[*kind]), vec![*g], "{kind:?} alone");
            }
            let some = [
                DihedralKind::FlipMinus1,
                DihedralKind::FlipY,
                DihedralKind::FlipMinus1,
                DihedralKind::Rotate270,
            ];
            let want: Vec<PdqHash> = some
                .iter()
                .map(|k| got[DihedralKind::ALL.iter().position(|a| a == k).unwrap()])
                .collect();
            assert_eq!(hasher.oriented(&src, &some), want, "{w}x{h} subset");
        }
    }

    #[test]
    fn reference_dihedral_is_not_the_turned_hash_on_fine_texture() {
        // Why the views use `oriented`: on a texture near PDQ's sampling
        // rate the DCT trick lands far from the hash of the turned pixels.
        let (w, h) = (512usize, 512usize);
        let rgb: Vec<u8> = (0..w * h)
            .flat_map(|i| {
                let (x, y) = (i % w, i / w);
                let v = if (x / 3 + (y / 5) * 2) % 4 < 2 {
                    40u8
                } else {
                    210
                };
                [v, v, v]
            })
            .collect();
        let mut hasher = PdqHasher::new();
        let src = Rgb8::new(&rgb, w, h, LumaRule::Pillow).unwrap();
        let trick = hasher.dihedral(&src);
        let exact = hasher.oriented(&src, &DihedralKind::ALL);
        let far = DihedralKind::ALL
            .iter()
            .zip(&exact)
            .skip(1)
            .filter(|(k, e)| trick.get(**k).distance(&e.hash) > 31)
            .count();
        assert!(far > 0, "every DCT-trick hash within 31 of the turned hash");
    }

    #[test]
    fn mirrored_image_has_flip_hash() {
        // A smooth gradient picture and its left-right mirror: the flipy
        // dihedral hash of one must be the hash of the other, nearly.
        let (w, h) = (256usize, 192usize);
        let mut a = vec![0u8; w * h * 3];
        let mut b = vec![0u8; w * h * 3];
        for y in 0..h {
            for x in 0..w {
                let v = ((x * x / 300 + y * 2 + (x * y) / 97) % 256) as u8;
                let i = (y * w + x) * 3;
                let m = (y * w + (w - 1 - x)) * 3;
                a[i..i + 3].copy_from_slice(&[v, v / 2, 255 - v]);
                b[m..m + 3].copy_from_slice(&[v, v / 2, 255 - v]);
            }
        }
        let mut hasher = PdqHasher::new();
        let da = hasher.dihedral(&Rgb8::new(&a, w, h, LumaRule::Pillow).unwrap());
        let hb = hasher.hash(&Rgb8::new(&b, w, h, LumaRule::Pillow).unwrap());
        // The box filter is not perfectly symmetric, so a mirror is close,
        // not identical; every other transform is far away.
        for (name, other) in da.named() {
            let d = other.distance(&hb.hash);
            if name == "flipy" {
                assert!(d <= 40, "flipy at {d}");
            } else {
                assert!(d >= 90, "{name} at {d}");
            }
        }
    }
}
