//! Query-side views: extra PDQ hashes of one decoded image that catch the
//! reposts plain PDQ misses.
//!
//! Why on the query side: the shared lists were hashed with plain reference
//! PDQ and cannot be changed, so the only way to find a mirrored, rotated,
//! letterboxed or screenshotted repost is to undo the edit on *our* side and
//! hash what we get with the same conformant PDQ. A match of a view still
//! means "this view is within distance D of a listed hash".
//!
//! Views are pure functions of the decoded RGB pixels (plus the EXIF
//! orientation). The rotations and mirrors of an image are the reference's
//! hash of the turned pixels ([`PdqHasher::oriented`], one downsample a
//! turn, read from one luma plane), because a repost made by turning the
//! pixels has exactly that hash and the reference's DCT-trick dihedrals do
//! not reach it on fine textures; the untransformed turn *is* the hash of
//! record. Crops hash a rectangle of the same buffer without copying, and
//! their own turns, like those of video frames, come from one DCT
//! ([`PdqHasher::dihedral`], [`Turns::DctTrick`]), the cheap approximation.
//!
//! - [`orient`]: the EXIF orientation as a dihedral transform (`exif`).
//! - [`border`]: uniform bars and frames trimmed (`trim`; `pad` when
//!   only exact-colour borders, trimmed, give another picture); bands of one
//!   colour carrying text, such as a meme's caption, cut off (`band`).
//! - [`canvas`]: the dominant picture inside a larger canvas: a caption
//!   band, a screenshot of a post, a photo on a card (`canvas`).
//! - [`edges`]: the picture between symmetric straight edges, over bars
//!   that are not uniform (a blurred copy of the picture) (`edges`).
//! - [`letterbox`]: video only: letterbox/pillarbox bars agreed on over
//!   many sampled frames, trimmed from every frame (`letterbox`).

pub mod border;
pub mod canvas;
pub mod edges;
pub mod letterbox;
pub mod orient;
mod sides;
pub mod static_band;
mod view;

pub use view::{Crop, UnknownView, View};

use crate::pdq::{DihedralKind, LumaRule, PdqHash, PdqHasher, Rgb8};
use hashdb::Pdq;
use serde::Serialize;

/// Which views to compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ViewSet {
    /// The hash of record only.
    None,
    /// The seven rotations and flips (and the EXIF-upright view, which is
    /// one of them).
    Dihedral,
    /// Dihedral plus the crop views (trimmed borders, main picture).
    #[default]
    All,
}

impl ViewSet {
    pub fn dihedral(self) -> bool {
        self != ViewSet::None
    }
    pub fn crops(self) -> bool {
        self == ViewSet::All
    }
}

/// Unknown `--views` value.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown view set {0:?} (expected none, dihedral or all)")]
pub struct ParseViewSetError(pub String);

impl std::str::FromStr for ViewSet {
    type Err = ParseViewSetError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(ViewSet::None),
            "dihedral" => Ok(ViewSet::Dihedral),
            "all" => Ok(ViewSet::All),
            other => Err(ParseViewSetError(other.to_string())),
        }
    }
}

/// Whether crop views also get their dihedral transforms (`trim+flipy`
/// ...): they come from the same DCT, so they cost matching time only.
const CROP_DIHEDRAL: bool = true;

/// One view's PDQ hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ViewHash {
    /// Serialised as `rotate90`, `rotate180`, `rotate270`, `flipx`,
    /// `flipy`, `flipplus1`, `flipminus1`, `exif`, `trim`, `band`,
    /// `canvas`, `edges`, `pad` (borders of one exact colour, when they
    /// differ from `trim`), `letterbox` (video frames), and a crop's
    /// transforms such as `trim+flipy` (see [`View`]).
    pub view: View,
    pub hash: Pdq,
    pub quality: u8,
}

/// A rectangle of an image, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: usize,
    pub y: usize,
    pub w: usize,
    pub h: usize,
}

impl Rect {
    /// Whether two rectangles differ by at most `tol` (fraction of the
    /// image's sides) on every edge.
    pub fn close_to(&self, o: &Rect, img_w: usize, img_h: usize, tol: f64) -> bool {
        let tx = (img_w as f64 * tol).max(1.0) as usize;
        let ty = (img_h as f64 * tol).max(1.0) as usize;
        self.x.abs_diff(o.x) <= tx
            && (self.x + self.w).abs_diff(o.x + o.w) <= tx
            && self.y.abs_diff(o.y) <= ty
            && (self.y + self.h).abs_diff(o.y + o.h) <= ty
    }
}

/// A packed RGB image borrowed from the decoder (3 bytes per pixel, rows
/// `stride` bytes apart).
#[derive(Debug, Clone, Copy)]
pub struct RgbView<'a> {
    pub data: &'a [u8],
    pub width: usize,
    pub height: usize,
    pub stride: usize,
    /// How views compute luma: [`LumaRule::Pillow`] for images (the image
    /// lists' rule), [`LumaRule::Reference`] for video frames (vPDQ's).
    pub luma: LumaRule,
}

impl<'a> RgbView<'a> {
    /// Packed rows (`stride = 3 * width`).
    pub fn packed(data: &'a [u8], width: usize, height: usize) -> Self {
        RgbView {
            data,
            width,
            height,
            stride: width * 3,
            luma: LumaRule::Pillow,
        }
    }

    /// Rows `stride` bytes apart, luma computed by `luma` (a video frame
    /// from libswscale: [`LumaRule::Reference`]).
    pub fn with_stride(
        data: &'a [u8],
        width: usize,
        height: usize,
        stride: usize,
        luma: LumaRule,
    ) -> Self {
        RgbView {
            data,
            width,
            height,
            stride,
            luma,
        }
    }

    /// Whether the buffer holds `height` rows of `width` pixels.
    pub(crate) fn is_valid(&self) -> bool {
        self.width > 0
            && self.height > 0
            && self.stride >= self.width * 3
            && self
                .stride
                .checked_mul(self.height - 1)
                .and_then(|n| n.checked_add(self.width * 3))
                .is_some_and(|n| n <= self.data.len())
    }

    /// The pixel at `(x, y)`; callers stay in bounds.
    #[inline]
    pub(crate) fn px(&self, x: usize, y: usize) -> [u8; 3] {
        let o = y * self.stride + 3 * x;
        [self.data[o], self.data[o + 1], self.data[o + 2]]
    }

    /// The pixels of `r` as a PDQ luma source (no copy).
    fn crop(&self, r: &Rect) -> Option<Rgb8<'a>> {
        if r.x + r.w > self.width || r.y + r.h > self.height {
            return None;
        }
        let off = r.y * self.stride + 3 * r.x;
        Rgb8::with_stride(self.data.get(off..)?, r.w, r.h, self.stride, self.luma).ok()
    }
}

/// The hash of record plus the requested views.
#[derive(Debug, Clone, PartialEq)]
pub struct Hashed {
    pub record: PdqHash,
    pub views: Vec<ViewHash>,
}

/// How the rotation, mirror and EXIF views are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Turns {
    /// The reference's PDQ of each turned picture, bit for bit
    /// ([`PdqHasher::oriented`]: one downsample a turn). Images.
    #[default]
    Exact,
    /// The reference's dihedral hashes from one DCT
    /// ([`PdqHasher::dihedral`]: one downsample for all eight), which on
    /// fine textures are far from the hash of the turned pixels. Video
    /// frames, where the cost is paid once a second of video and a mirrored
    /// repost is re-encoded anyway.
    DctTrick,
}

/// Hash `img` (the hash of record, bit-exact with the reference) and its
/// views, the turns exact ([`Turns::Exact`]). The hash of record is the
/// untransformed turn's (the same downsample of the same luma). Returns
/// `None` when the buffer does not hold the stated image.
pub fn hash_with_views(
    img: RgbView<'_>,
    orientation: u8,
    set: ViewSet,
    hasher: &mut PdqHasher,
) -> Option<Hashed> {
    hash_with_turns(img, orientation, set, Turns::Exact, hasher)
}

/// [`hash_with_views`] with the turns computed as `turns` says. With
/// [`Turns::DctTrick`] the hash of record comes from the same downsample and
/// DCT as the dihedral hashes (identical bits: both blur the full image;
/// only a 64x64 input, which the reference hashes unblurred, is hashed
/// separately).
pub fn hash_with_turns(
    img: RgbView<'_>,
    orientation: u8,
    set: ViewSet,
    turns: Turns,
    hasher: &mut PdqHasher,
) -> Option<Hashed> {
    if !img.is_valid() {
        return None;
    }
    let full = Rect {
        x: 0,
        y: 0,
        w: img.width,
        h: img.height,
    };
    let src = img.crop(&full)?;
    let mut views = Vec::new();
    let record = if set.dihedral() && turns == Turns::DctTrick {
        let d = hasher.dihedral(&src);
        let record = if img.width == 64 && img.height == 64 {
            hasher.hash(&src)
        } else {
            PdqHash {
                hash: d.get(DihedralKind::Original),
                quality: d.quality,
            }
        };
        for (kind, hash) in DihedralKind::ALL.into_iter().zip(d.hashes).skip(1) {
            views.push(ViewHash {
                view: View::turn(kind),
                hash,
                quality: d.quality,
            });
        }
        if let Some(kind) = orient::upright(orientation).filter(|k| *k != DihedralKind::Original) {
            views.push(ViewHash {
                view: View::Exif,
                hash: d.get(kind),
                quality: d.quality,
            });
        }
        record
    } else if set.dihedral() {
        // The hash of each turned picture, the untransformed one first:
        // that one is the hash of record (the same downsample of the same
        // luma, so the same bits).
        let turned = hasher.oriented(&src, &DihedralKind::ALL);
        for (kind, h) in DihedralKind::ALL.iter().zip(&turned).skip(1) {
            views.push(ViewHash {
                view: View::turn(*kind),
                hash: h.hash,
                quality: h.quality,
            });
        }
        if let Some(kind) = orient::upright(orientation) {
            if let Some(h) = (kind != DihedralKind::Original)
                .then(|| DihedralKind::ALL.iter().position(|k| *k == kind))
                .flatten()
                .and_then(|i| turned.get(i))
            {
                views.push(ViewHash {
                    view: View::Exif,
                    hash: h.hash,
                    quality: h.quality,
                });
            }
        }
        turned.first().copied().unwrap_or_else(|| hasher.hash(&src))
    } else {
        hasher.hash(&src)
    };
    if set.crops() {
        let trim = border::trim(&img);
        if let Some(r) = trim {
            push_crop(&img, &r, Crop::Trim, CROP_DIHEDRAL, hasher, &mut views);
        }
        let mut done: Vec<Rect> = trim.into_iter().collect();
        let fresh = |r: &Rect, done: &[Rect]| {
            !done
                .iter()
                .any(|d| d.close_to(r, img.width, img.height, 0.01))
        };
        if let Some(r) = border::trim_exact(&img) {
            if fresh(&r, &done) {
                push_crop(&img, &r, Crop::Pad, CROP_DIHEDRAL, hasher, &mut views);
                done.push(r);
            }
        }
        if let Some(r) = border::bands(&img) {
            if fresh(&r, &done) {
                push_crop(&img, &r, Crop::Band, CROP_DIHEDRAL, hasher, &mut views);
                done.push(r);
            }
        }
        if let Some(r) = canvas::main_picture(&img) {
            if fresh(&r, &done) {
                push_crop(&img, &r, Crop::Canvas, CROP_DIHEDRAL, hasher, &mut views);
                done.push(r);
            }
        }
        if let Some(r) = edges::framed(&img) {
            if fresh(&r, &done) {
                push_crop(&img, &r, Crop::Edges, CROP_DIHEDRAL, hasher, &mut views);
            }
        }
    }
    Some(Hashed { record, views })
}

/// Hash the crop `r` (and, with `dihedral`, its seven transforms from the
/// same DCT) into `views`, as views of `crop`.
pub(crate) fn push_crop(
    img: &RgbView<'_>,
    r: &Rect,
    crop: Crop,
    dihedral: bool,
    hasher: &mut PdqHasher,
    views: &mut Vec<ViewHash>,
) {
    let Some(src) = img.crop(r) else { return };
    let names = crop.with_turns();
    if !dihedral || (r.w == 64 && r.h == 64) {
        let h = hasher.hash(&src);
        views.push(ViewHash {
            view: names[0],
            hash: h.hash,
            quality: h.quality,
        });
        if !dihedral {
            return;
        }
    }
    let d = hasher.dihedral(&src);
    let skip = usize::from(r.w == 64 && r.h == 64);
    for (view, hash) in names.into_iter().zip(d.hashes).skip(skip) {
        views.push(ViewHash {
            view,
            hash,
            quality: d.quality,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(w: usize, h: usize, seed: u64) -> Vec<u8> {
        let mut s = seed;
        let mut v = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            for x in 0..w {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let n = (s >> 59) as u8;
                v.push(((x * 255 / w) as u8).wrapping_add(n));
                v.push(((y * 255 / h) as u8).wrapping_add(n));
                v.push((((x / 16 + y / 16) % 2) * 200) as u8 + n);
            }
        }
        v
    }

    #[test]
    fn record_from_dihedral_equals_plain_hash() {
        for (w, h) in [(100, 70), (64, 64), (7, 300)] {
            let rgb = noise(w, h, 7);
            let mut hasher = PdqHasher::new();
            let plain = hasher.hash(&Rgb8::new(&rgb, w, h, LumaRule::Pillow).unwrap());
            let v =
                hash_with_views(RgbView::packed(&rgb, w, h), 1, ViewSet::All, &mut hasher).unwrap();
            assert_eq!(v.record, plain, "{w}x{h}");
            let t = hash_with_turns(
                RgbView::packed(&rgb, w, h),
                1,
                ViewSet::All,
                Turns::DctTrick,
                &mut hasher,
            )
            .unwrap();
            assert_eq!(t.record, plain, "{w}x{h}, DCT trick");
            assert_eq!(
                v.views
                    .iter()
                    .filter(|v| v.view == View::Turn(DihedralKind::FlipX))
                    .count(),
                1
            );
        }
    }

    #[test]
    fn none_set_has_no_views_and_bad_buffer_is_refused() {
        let rgb = noise(50, 40, 1);
        let mut hasher = PdqHasher::new();
        let v =
            hash_with_views(RgbView::packed(&rgb, 50, 40), 6, ViewSet::None, &mut hasher).unwrap();
        assert!(v.views.is_empty());
        assert!(
            hash_with_views(RgbView::packed(&rgb, 50, 41), 1, ViewSet::All, &mut hasher).is_none()
        );
    }

    #[test]
    fn view_set_parses() {
        assert_eq!("none".parse::<ViewSet>().unwrap(), ViewSet::None);
        assert_eq!("dihedral".parse::<ViewSet>().unwrap(), ViewSet::Dihedral);
        assert_eq!("all".parse::<ViewSet>().unwrap(), ViewSet::All);
        assert!("most".parse::<ViewSet>().is_err());
    }
}
