//! List-side enrollment: PDQ hashes of derived versions of an image a team
//! enrolls itself (`db add --derive`).
//!
//! Why on the list side: a repost cropped by 5-20 % or turned by a few
//! degrees has lost pixels (or gained corners) that no query-side view can
//! put back, and plain PDQ moves far beyond the threshold (a 5 % crop
//! already costs 40+ bits). But the team that enrolls its own confirmed
//! media has the original: it can hash the likely edits of it in advance,
//! so that a partner hashing the repost with plain PDQ lands near one of
//! them. Each such hash is *not* a hash of the media as published, so it is
//! stored with a label [`Derivation::label`] (`derived:crop=center-10`,
//! `derived:rotate=-5`) that match records carry and exports leave out
//! unless asked.
//!
//! PDQ tolerates little misalignment (about 1-2 % of a side and about one
//! degree), so the derived set is a grid of the edits reposts make: crops
//! that zoom into the centre or to a corner, strips cut off one side, and
//! small turns whose empty corners are cropped. Every derived version is a
//! pure, deterministic function of the decoded pixels (integer crop
//! rectangles; the turn is sampled with the `image` crate's bilinear
//! interpolation in `f32`), so the same file always gives the same entries.

use crate::pdq::{LumaRule, PdqHasher, Rgb8, MIN_HASHABLE_DIM};
use crate::views::RgbView;
use hashdb::Pdq;
use image::{ImageBuffer, Rgb};
use std::fmt;

/// A family of derived versions, as named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// Centre crops removing 5, 10, 15 and 20 % of the width and of the
    /// height (a zoom that keeps the aspect ratio): 4 hashes.
    Crops,
    /// One side cut off by 5, 10, 15 or 20 % (a banner or a watermark strip
    /// removed): 16 hashes.
    Sides,
    /// 10 and 20 % of the width and of the height removed at one corner
    /// (a zoom towards the opposite corner): 8 hashes.
    Corners,
    /// Turned by 3, 5 and 7 degrees each way, the empty corners cropped
    /// (the largest centred rectangle of the same aspect ratio): 6 hashes.
    Rotations,
}

impl Family {
    pub const ALL: [Family; 4] = [
        Family::Crops,
        Family::Sides,
        Family::Corners,
        Family::Rotations,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Family::Crops => "crops",
            Family::Sides => "sides",
            Family::Corners => "corners",
            Family::Rotations => "rotations",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }

    /// The derivations of this family, in a fixed order.
    pub fn derivations(self) -> Vec<Derivation> {
        match self {
            Family::Crops => CROP_PERCENTS
                .iter()
                .map(|&percent| Derivation::Crop {
                    anchor: Anchor::Center,
                    percent,
                })
                .collect(),
            Family::Sides => CROP_PERCENTS
                .iter()
                .flat_map(|&percent| {
                    [Anchor::Left, Anchor::Right, Anchor::Top, Anchor::Bottom]
                        .map(|anchor| Derivation::Crop { anchor, percent })
                })
                .collect(),
            Family::Corners => CORNER_PERCENTS
                .iter()
                .flat_map(|&percent| {
                    [
                        Anchor::TopLeft,
                        Anchor::TopRight,
                        Anchor::BottomLeft,
                        Anchor::BottomRight,
                    ]
                    .map(|anchor| Derivation::Crop { anchor, percent })
                })
                .collect(),
            Family::Rotations => ROTATION_DEGREES
                .iter()
                .flat_map(|&d| [d, -d].map(|degrees| Derivation::Rotate { degrees }))
                .collect(),
        }
    }
}

const CROP_PERCENTS: [u8; 4] = [5, 10, 15, 20];
const CORNER_PERCENTS: [u8; 2] = [10, 20];
const ROTATION_DEGREES: [i8; 3] = [3, 5, 7];

/// Which families to derive (`--derive crops,rotations`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeriveSet(u8);

impl DeriveSet {
    /// Nothing derived: the hash of record only.
    pub const NONE: DeriveSet = DeriveSet(0);
    /// `--derive` without a value (and `--derive default`): every family.
    /// The evaluation (README, "Issue 16, list-side enrollment") found each
    /// family finding its own edits at no false positive on the
    /// distractors, so none is left out; see there for what each costs.
    pub const DEFAULT: DeriveSet = DeriveSet(0b1111);
    /// Every family.
    pub const ALL: DeriveSet = DeriveSet(0b1111);

    pub fn contains(self, f: Family) -> bool {
        self.0 & f.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn with(self, f: Family) -> DeriveSet {
        DeriveSet(self.0 | f.bit())
    }

    /// The derivations of the set, family by family, in a fixed order.
    pub fn derivations(self) -> Vec<Derivation> {
        Family::ALL
            .into_iter()
            .filter(|f| self.contains(*f))
            .flat_map(Family::derivations)
            .collect()
    }
}

/// A `--derive` value that is not a family or a preset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown derived set {0:?} (expected default, all, none, or a comma-separated list of crops, sides, corners, rotations)"
)]
pub struct ParseDeriveSetError(pub String);

impl std::str::FromStr for DeriveSet {
    type Err = ParseDeriveSetError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut set = DeriveSet::NONE;
        for part in s.split(',').map(str::trim) {
            set = match part {
                "default" => DeriveSet(set.0 | DeriveSet::DEFAULT.0),
                "all" => DeriveSet(set.0 | DeriveSet::ALL.0),
                "none" => set,
                name => match Family::ALL.into_iter().find(|f| f.name() == name) {
                    Some(f) => set.with(f),
                    None => return Err(ParseDeriveSetError(s.to_string())),
                },
            };
        }
        Ok(set)
    }
}

/// Where a crop keeps the picture: the sides it cuts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Anchor {
    /// Half of the cut on each side, horizontally and vertically.
    Center,
    /// Only the left side is cut (the width shrinks).
    Left,
    Right,
    Top,
    Bottom,
    /// The left and the top are cut (the width and the height shrink).
    TopLeft,
    TopRight,
    BottomLeft,
    BottomRight,
}

impl Anchor {
    pub fn name(self) -> &'static str {
        match self {
            Anchor::Center => "center",
            Anchor::Left => "left",
            Anchor::Right => "right",
            Anchor::Top => "top",
            Anchor::Bottom => "bottom",
            Anchor::TopLeft => "top-left",
            Anchor::TopRight => "top-right",
            Anchor::BottomLeft => "bottom-left",
            Anchor::BottomRight => "bottom-right",
        }
    }

    /// Which sides are cut: (left, right, top, bottom), the centre as a
    /// half on each.
    fn cuts(self) -> (Cut, Cut, Cut, Cut) {
        use Cut::{Full, Half, No};
        match self {
            Anchor::Center => (Half, Half, Half, Half),
            Anchor::Left => (Full, No, No, No),
            Anchor::Right => (No, Full, No, No),
            Anchor::Top => (No, No, Full, No),
            Anchor::Bottom => (No, No, No, Full),
            Anchor::TopLeft => (Full, No, Full, No),
            Anchor::TopRight => (No, Full, Full, No),
            Anchor::BottomLeft => (Full, No, No, Full),
            Anchor::BottomRight => (No, Full, No, Full),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Cut {
    No,
    Half,
    Full,
}

/// One derived version of a picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Derivation {
    /// `percent` % of the width (and/or height, per `anchor`) cut off.
    Crop { anchor: Anchor, percent: u8 },
    /// Turned by `degrees` (positive: counter-clockwise, as Pillow's
    /// `Image.rotate`), then cropped to the largest centred rectangle of
    /// the original aspect ratio that holds no empty corner.
    Rotate { degrees: i8 },
}

/// Label prefix of every entry that is not a hash of the media as
/// published (`derived:view=...`, `derived:crop=...`, `derived:rotate=...`).
pub const DERIVED_PREFIX: &str = "derived:";

impl Derivation {
    /// The entry label: `derived:crop=center-10`, `derived:rotate=-5`.
    pub fn label(self) -> String {
        format!("{DERIVED_PREFIX}{self}")
    }

    /// The crop rectangle in a `w` x `h` picture (crops only).
    fn rect(self, w: usize, h: usize) -> Option<crate::views::Rect> {
        let Derivation::Crop { anchor, percent } = self else {
            return None;
        };
        // Integer arithmetic, rounded to the nearest pixel: the same
        // rectangle on every platform.
        let cut_w = (w * usize::from(percent) + 50) / 100;
        let cut_h = (h * usize::from(percent) + 50) / 100;
        let (l, r, t, b) = anchor.cuts();
        let part = |c: Cut, n: usize, first: bool| match c {
            Cut::No => 0,
            Cut::Full => n,
            // An odd cut leaves the extra pixel on the far side.
            Cut::Half if first => n / 2,
            Cut::Half => n - n / 2,
        };
        let x = part(l, cut_w, true);
        let y = part(t, cut_h, true);
        let cw = w.checked_sub(x + part(r, cut_w, false))?;
        let ch = h.checked_sub(y + part(b, cut_h, false))?;
        Some(crate::views::Rect { x, y, w: cw, h: ch })
    }
}

impl fmt::Display for Derivation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Derivation::Crop { anchor, percent } => {
                write!(f, "crop={}-{percent}", anchor.name())
            }
            Derivation::Rotate { degrees } => write!(f, "rotate={degrees:+}"),
        }
    }
}

/// The PDQ hash of one derived version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DerivedHash {
    pub derivation: Derivation,
    pub hash: Pdq,
    pub quality: u8,
}

/// The PDQ hashes of the derived versions `set` asks for of the decoded
/// image `img` (as the hash of record sees it: EXIF orientation not
/// applied), in the order of [`DeriveSet::derivations`]. Versions too small
/// to hash (a side under [`MIN_HASHABLE_DIM`] pixels) are left out; equal
/// hashes are kept (the caller decides what a duplicate is).
///
/// Threading: pure; one `hasher` per thread.
pub fn derived_hashes(
    img: &RgbView<'_>,
    set: DeriveSet,
    hasher: &mut PdqHasher,
) -> Vec<DerivedHash> {
    let (w, h) = (img.width, img.height);
    let mut out = Vec::new();
    let mut rotate_src: Option<Vec<u8>> = None;
    for d in set.derivations() {
        let hashed =
            match d {
                Derivation::Crop { .. } => {
                    let Some(r) = d.rect(w, h) else { continue };
                    if r.w < MIN_HASHABLE_DIM || r.h < MIN_HASHABLE_DIM {
                        continue;
                    }
                    let off = r.y * img.stride + 3 * r.x;
                    let Some(src) = img.data.get(off..).and_then(|data| {
                        Rgb8::with_stride(data, r.w, r.h, img.stride, img.luma).ok()
                    }) else {
                        continue;
                    };
                    hasher.hash(&src)
                }
                Derivation::Rotate { degrees } => {
                    // The image crate samples packed rows: pack once for all turns.
                    let packed = rotate_src.get_or_insert_with(|| pack(img));
                    let Some((rot, rw, rh)) = rotate_cropped(packed, w, h, degrees) else {
                        continue;
                    };
                    let Ok(src) = Rgb8::new(&rot, rw, rh, LumaRule::Pillow) else {
                        continue;
                    };
                    hasher.hash(&src)
                }
            };
        out.push(DerivedHash {
            derivation: d,
            hash: hashed.hash,
            quality: hashed.quality,
        });
    }
    out
}

/// The rows of `img` packed (`stride = 3 * width`).
fn pack(img: &RgbView<'_>) -> Vec<u8> {
    let row = 3 * img.width;
    let mut v = Vec::with_capacity(row * img.height);
    for y in 0..img.height {
        let o = y * img.stride;
        v.extend_from_slice(&img.data[o..o + row]);
    }
    v
}

/// `rgb` (packed, `w` x `h`) turned by `degrees` about its centre and
/// cropped to the largest centred rectangle of the same aspect ratio that
/// lies inside the turned picture. `None` when the result is too small.
fn rotate_cropped(rgb: &[u8], w: usize, h: usize, degrees: i8) -> Option<(Vec<u8>, usize, usize)> {
    let (wu, hu) = (u32::try_from(w).ok()?, u32::try_from(h).ok()?);
    let src: ImageBuffer<Rgb<u8>, &[u8]> = ImageBuffer::from_raw(wu, hu, rgb)?;
    let a = f64::from(degrees).to_radians();
    let (sin, cos) = (a.sin(), a.cos());
    let (wf, hf) = (w as f64, h as f64);
    // A w' x h' rectangle of the same aspect, turned by `a`, fits in w x h
    // when both of its turned extents do.
    let s = (wf / (wf * cos + hf * sin.abs())).min(hf / (wf * sin.abs() + hf * cos));
    let (ow, oh) = ((wf * s).floor() as usize, (hf * s).floor() as usize);
    if ow < MIN_HASHABLE_DIM || oh < MIN_HASHABLE_DIM {
        return None;
    }
    let (cx, cy) = (wf / 2.0, hf / 2.0);
    let (max_x, max_y) = ((w - 1) as f32, (h - 1) as f32);
    let mut out = Vec::with_capacity(ow * oh * 3);
    for y in 0..oh {
        let ry = y as f64 + 0.5 - oh as f64 / 2.0;
        for x in 0..ow {
            let rx = x as f64 + 0.5 - ow as f64 / 2.0;
            // Pillow's inverse map for a counter-clockwise turn; pixel
            // centres at +0.5, the sampler's grid at integers.
            let sx = (cx + rx * cos - ry * sin - 0.5) as f32;
            let sy = (cy + rx * sin + ry * cos - 0.5) as f32;
            let p = image::imageops::interpolate_bilinear(
                &src,
                sx.clamp(0.0, max_x),
                sy.clamp(0.0, max_y),
            )?;
            out.extend_from_slice(&p.0);
        }
    }
    Some((out, ow, oh))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picture(w: usize, h: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            for x in 0..w {
                let blob = if (x * 5 / w + y * 3 / h) % 2 == 0 {
                    200
                } else {
                    30
                };
                v.extend_from_slice(&[blob, (x * 255 / w) as u8, (y * 255 / h) as u8]);
            }
        }
        v
    }

    #[test]
    fn sets_parse_and_list_their_derivations() {
        let s: DeriveSet = "crops,rotations".parse().unwrap();
        assert!(s.contains(Family::Crops) && s.contains(Family::Rotations));
        assert!(!s.contains(Family::Sides));
        let labels: Vec<String> = s.derivations().iter().map(|d| d.label()).collect();
        assert_eq!(labels.len(), 4 + 6);
        assert_eq!(labels[0], "derived:crop=center-5");
        assert!(labels.contains(&"derived:rotate=-7".to_string()));
        assert!(labels.contains(&"derived:rotate=+3".to_string()));
        assert_eq!(
            "all".parse::<DeriveSet>().unwrap().derivations().len(),
            4 + 16 + 8 + 6
        );
        assert!("none".parse::<DeriveSet>().unwrap().is_empty());
        assert!("crops,zoom".parse::<DeriveSet>().is_err());
    }

    #[test]
    fn crop_rectangles_cut_the_named_sides() {
        let c = |anchor, percent| Derivation::Crop { anchor, percent }.rect(200, 100).unwrap();
        let r = c(Anchor::Center, 10);
        assert_eq!((r.x, r.y, r.w, r.h), (10, 5, 180, 90));
        let r = c(Anchor::Left, 20);
        assert_eq!((r.x, r.y, r.w, r.h), (40, 0, 160, 100));
        let r = c(Anchor::Bottom, 5);
        assert_eq!((r.x, r.y, r.w, r.h), (0, 0, 200, 95));
        let r = c(Anchor::TopRight, 10);
        assert_eq!((r.x, r.y, r.w, r.h), (0, 10, 180, 90));
    }

    #[test]
    fn derived_hashes_are_deterministic_and_differ_from_the_record() {
        let (w, h) = (160, 120);
        let rgb = picture(w, h);
        let view = RgbView::packed(&rgb, w, h);
        let mut hasher = PdqHasher::new();
        let a = derived_hashes(&view, DeriveSet::ALL, &mut hasher);
        let b = derived_hashes(&view, DeriveSet::ALL, &mut hasher);
        assert_eq!(a, b);
        assert_eq!(a.len(), DeriveSet::ALL.derivations().len());
        let record = hasher.hash(&Rgb8::new(&rgb, w, h, LumaRule::Pillow).unwrap());
        // A crop is the hash of the cropped pixels, as a partner's plain
        // PDQ of the cropped repost computes it.
        let left10 = a
            .iter()
            .find(|d| d.derivation.to_string() == "crop=left-10")
            .unwrap();
        let mut cropped = Vec::new();
        for y in 0..h {
            cropped.extend_from_slice(&rgb[(y * w + 16) * 3..(y * w + w) * 3]);
        }
        let direct = hasher.hash(&Rgb8::new(&cropped, w - 16, h, LumaRule::Pillow).unwrap());
        assert_eq!(left10.hash, direct.hash);
        assert!(a.iter().any(|d| d.hash.distance(&record.hash) > 0));
    }

    #[test]
    fn turn_of_zero_is_the_centre_and_a_turn_keeps_the_aspect() {
        let (w, h) = (90, 60);
        let rgb = picture(w, h);
        let (same, ow, oh) = rotate_cropped(&rgb, w, h, 0).unwrap();
        assert_eq!((ow, oh), (w, h));
        assert_eq!(same, rgb);
        let (_, ow, oh) = rotate_cropped(&rgb, w, h, 7).unwrap();
        assert!(ow < w && oh < h);
        let aspect = |a: usize, b: usize| a as f64 / b as f64;
        assert!((aspect(ow, oh) - aspect(w, h)).abs() < 0.05, "{ow}x{oh}");
    }
}
