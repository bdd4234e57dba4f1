//! The EXIF orientation as a dihedral transform.
//!
//! Shared lists hash the stored pixels (EXIF not applied), but a repost
//! made by software that applied the orientation and dropped the tag has
//! the upright pixels; and a camera original whose upright form was
//! listed has them the other way round. Every EXIF orientation is one of
//! the eight dihedral transforms, so the upright view costs nothing more
//! than the rotation views: it is one of the hashes of
//! [`crate::pdq::PdqHasher::oriented`], the reference's hash of the turned
//! pixels (not the reference's DCT-trick dihedral, which on fine textures
//! lands far from it).

use crate::pdq::DihedralKind;

/// The transform that turns the stored pixels upright for EXIF
/// orientation `o` (1..=8); `None` for values outside the standard.
pub fn upright(o: u8) -> Option<DihedralKind> {
    Some(match o {
        1 => DihedralKind::Original,
        2 => DihedralKind::FlipY,
        3 => DihedralKind::Rotate180,
        4 => DihedralKind::FlipX,
        5 => DihedralKind::FlipPlus1,
        6 => DihedralKind::Rotate270,
        7 => DihedralKind::FlipMinus1,
        8 => DihedralKind::Rotate90,
        _ => return None,
    })
}

/// Apply EXIF orientation `o` to packed RGB pixels: the upright image
/// and its size. Used to check [`upright`] and by callers that need the
/// upright pixels themselves; `None` for an invalid orientation or buffer.
pub fn apply(rgb: &[u8], w: usize, h: usize, o: u8) -> Option<(Vec<u8>, usize, usize)> {
    if rgb.len() != w.checked_mul(h)?.checked_mul(3)? || !(1..=8).contains(&o) {
        return None;
    }
    // (x, y) of the upright image -> (sx, sy) in the stored image.
    let (uw, uh) = if o >= 5 { (h, w) } else { (w, h) };
    let mut out = vec![0u8; rgb.len()];
    for y in 0..uh {
        for x in 0..uw {
            let (sx, sy) = match o {
                1 => (x, y),
                2 => (w - 1 - x, y),
                3 => (w - 1 - x, h - 1 - y),
                4 => (x, h - 1 - y),
                5 => (y, x),
                6 => (y, h - 1 - x),
                7 => (w - 1 - y, h - 1 - x),
                _ => (w - 1 - y, x),
            };
            let s = 3 * (sy * w + sx);
            let d = 3 * (y * uw + x);
            out[d..d + 3].copy_from_slice(&rgb[s..s + 3]);
        }
    }
    Some((out, uw, uh))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pdq::{LumaRule, PdqHasher, Rgb8};

    /// A seeded, non-symmetric test picture.
    fn picture(w: usize, h: usize) -> Vec<u8> {
        let mut s = 0x9e3779b97f4a7c15u64;
        (0..w * h)
            .flat_map(|i| {
                let (x, y) = (i % w, i / w);
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
                let n = (s >> 60) as usize;
                let v = (x * 200 / w + (y * y) * 50 / (h * h) + n) as u8;
                let b = if x < w / 3 && y < h / 2 { 230 } else { 20 } as u8;
                [v, v / 2 + b / 2, b]
            })
            .collect()
    }

    #[test]
    fn upright_view_is_the_hash_of_upright_pixels() {
        let (w, h) = (96, 64);
        let rgb = picture(w, h);
        let mut hasher = PdqHasher::new();
        let src = Rgb8::new(&rgb, w, h, LumaRule::Pillow).unwrap();
        let turned = hasher.oriented(&src, &DihedralKind::ALL);
        for o in 1..=8u8 {
            let (up, uw, uh) = apply(&rgb, w, h, o).unwrap();
            let direct = hasher.hash(&Rgb8::new(&up, uw, uh, LumaRule::Pillow).unwrap());
            let kind = upright(o).unwrap();
            let i = DihedralKind::ALL.iter().position(|k| *k == kind).unwrap();
            assert_eq!(turned[i], direct, "orientation {o}: {kind:?}");
        }
        assert_eq!(upright(0), None);
        assert_eq!(upright(9), None);
        assert!(apply(&rgb, w, h, 9).is_none());
    }
}
