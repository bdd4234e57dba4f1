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
//! that zoom into the centre or to a corner, strips cut off one side,
//! crops whose cut is split between opposite sides (the window shifted off
//! centre), and small turns whose empty corners are cropped or left black.
//! Crop grids step by 2.5 % of a side: about twice PDQ's tolerance, so an
//! edit between two grid points still lands near one. Every derived version is a
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
    /// Centre crops removing 5 to 20 % (in steps of 2.5) of the width and
    /// of the height (a zoom that keeps the aspect ratio): 7 hashes.
    Crops,
    /// One side cut off by 5 to 20 % in steps of 2.5 (a banner or a
    /// watermark strip removed): 28 hashes.
    Sides,
    /// 10, 15 and 20 % of the width and of the height removed at one
    /// corner (a zoom towards the opposite corner): 12 hashes.
    Corners,
    /// Turned by 3 to 7 degrees each way, the empty corners cropped (the
    /// largest centred rectangle of the same aspect ratio): 10 hashes.
    Rotations,
    /// Turned by 3 to 7 degrees each way within the same frame, the empty
    /// corners left black (Pillow's `rotate` without `expand`): 10 hashes.
    RotationsBlack,
    /// 5 and 10 % of the width and of the height removed, the cut split
    /// between opposite sides on a grid of 2.5 % of a side (3 x 3 and
    /// 5 x 5 windows; a crop box dragged off centre): 34 windows, 28
    /// hashes besides the centre and corner crops above (a window another
    /// family already gives is not stored twice).
    Shifts,
    /// As `shifts` for 15 and 20 % (7 x 7 and 9 x 9 windows): 130
    /// windows, 120 hashes besides the centre and corner crops. The grid
    /// cannot be sparser: PDQ moves about 25 bits for each 1 % a window
    /// shifts, so a crop between two windows 2.5 % apart is already near
    /// the threshold (README, "Issue 16, list-side enrollment").
    ShiftsWide,
}

impl Family {
    pub const ALL: [Family; 7] = [
        Family::Crops,
        Family::Sides,
        Family::Corners,
        Family::Rotations,
        Family::RotationsBlack,
        Family::Shifts,
        Family::ShiftsWide,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Family::Crops => "crops",
            Family::Sides => "sides",
            Family::Corners => "corners",
            Family::Rotations => "rotations",
            Family::RotationsBlack => "rotations-black",
            Family::Shifts => "shifts",
            Family::ShiftsWide => "shifts-wide",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }

    /// The derivations of this family, in a fixed order.
    pub fn derivations(self) -> Vec<Derivation> {
        match self {
            Family::Crops => CROP_TENTHS
                .iter()
                .map(|&tenths| Derivation::Crop {
                    anchor: Anchor::Center,
                    tenths,
                })
                .collect(),
            Family::Sides => CROP_TENTHS
                .iter()
                .flat_map(|&tenths| {
                    [Anchor::Left, Anchor::Right, Anchor::Top, Anchor::Bottom]
                        .map(|anchor| Derivation::Crop { anchor, tenths })
                })
                .collect(),
            Family::Corners => CORNER_TENTHS
                .iter()
                .flat_map(|&tenths| {
                    [
                        Anchor::TopLeft,
                        Anchor::TopRight,
                        Anchor::BottomLeft,
                        Anchor::BottomRight,
                    ]
                    .map(|anchor| Derivation::Crop { anchor, tenths })
                })
                .collect(),
            Family::Rotations => ROTATION_DEGREES
                .iter()
                .flat_map(|&d| [d, -d].map(|degrees| Derivation::Rotate { degrees }))
                .collect(),
            Family::RotationsBlack => ROTATION_DEGREES
                .iter()
                .flat_map(|&d| [d, -d].map(|degrees| Derivation::RotateBlack { degrees }))
                .collect(),
            Family::Shifts => shift_grid(&SHIFT_TENTHS),
            Family::ShiftsWide => shift_grid(&SHIFT_WIDE_TENTHS),
        }
    }
}

/// `db add --derive-min-distance`'s default: a derived hash within this
/// many bits of the hash of record or of one already kept for the image
/// is not stored (README, "Issue 16, list-side enrollment").
pub const DEFAULT_MIN_DISTANCE: u32 = 8;

/// Crop sizes in tenths of a percent of a side (50 = 5 %).
const CROP_TENTHS: [u16; 7] = [50, 75, 100, 125, 150, 175, 200];
const CORNER_TENTHS: [u16; 3] = [100, 150, 200];
const ROTATION_DEGREES: [i8; 5] = [3, 4, 5, 6, 7];
const SHIFT_TENTHS: [u16; 2] = [50, 100];
const SHIFT_WIDE_TENTHS: [u16; 2] = [150, 200];
/// The grid step of shifted windows, in tenths of a percent of a side.
const SHIFT_STEP_TENTHS: u16 = 25;

/// Every window of each cut size whose left and top shares of the cut lie
/// on a grid of [`SHIFT_STEP_TENTHS`] of a side, row by row.
fn shift_grid(sizes: &[u16]) -> Vec<Derivation> {
    let mut out = Vec::new();
    for &tenths in sizes {
        let n = tenths / SHIFT_STEP_TENTHS;
        for j in 0..=n {
            for i in 0..=n {
                // Shares in whole percent of the cut, rounded down (a
                // 15 % cut's 6 steps give 0, 16, 33, ...): within a pixel
                // or two of the grid at any size PDQ is given.
                let share = |k: u16| u8::try_from(k * 100 / n).unwrap_or(100);
                out.push(Derivation::Crop {
                    anchor: Anchor::Split {
                        left: share(i),
                        top: share(j),
                    },
                    tenths,
                });
            }
        }
    }
    out
}

/// Which families to derive (`--derive crops,rotations`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeriveSet(u8);

impl DeriveSet {
    /// Nothing derived: the hash of record only.
    pub const NONE: DeriveSet = DeriveSet(0);
    /// `--derive` without a value (and `--derive default`): every family,
    /// 215 derivations an image (fewer stored: `db add` leaves out those
    /// within [`DEFAULT_MIN_DISTANCE`] bits of one kept). The evaluation
    /// (README, "Issue 16, list-side enrollment") found each family
    /// finding its own edits at no false positive on the distractors, and
    /// crops of 15-20 % split between opposite sides found only with
    /// `shifts-wide`'s dense windows.
    pub const DEFAULT: DeriveSet = DeriveSet(0b111_1111);
    /// `--derive compact`: every family but `shifts-wide`, 95 hashes an
    /// image (the default before crops of 15-20 % split at random were
    /// covered): for lists that must stay small.
    pub const COMPACT: DeriveSet = DeriveSet(0b011_1111);
    /// Every family.
    pub const ALL: DeriveSet = DeriveSet(0b111_1111);

    pub fn contains(self, f: Family) -> bool {
        self.0 & f.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn with(self, f: Family) -> DeriveSet {
        DeriveSet(self.0 | f.bit())
    }

    /// The derivations of the set, family by family, in a fixed order. A
    /// crop window an earlier family already gives (a shifted window at
    /// the centre or a corner) is left out, so it keeps its first label.
    pub fn derivations(self) -> Vec<Derivation> {
        let mut out: Vec<Derivation> = Vec::new();
        for d in Family::ALL
            .into_iter()
            .filter(|f| self.contains(*f))
            .flat_map(Family::derivations)
        {
            let w = d.window();
            if w.is_none() || !out.iter().any(|e| e.window() == w) {
                out.push(d);
            }
        }
        out
    }
}

/// A `--derive` value that is not a family or a preset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown derived set {0:?} (expected default, all, compact, none, or a comma-separated list of crops, sides, corners, rotations, rotations-black, shifts, shifts-wide)"
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
                "compact" => DeriveSet(set.0 | DeriveSet::COMPACT.0),
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
    /// The width and the height cut, `left` % of the width's cut on the
    /// left (the rest on the right) and `top` % of the height's on the top.
    Split {
        left: u8,
        top: u8,
    },
}

impl Anchor {
    /// The name in labels (`center`, `top-left`, `split-25-75`).
    pub fn name(self) -> String {
        match self {
            Anchor::Split { left, top } => format!("split-{left}-{top}"),
            a => a.fixed_name().to_string(),
        }
    }

    fn fixed_name(self) -> &'static str {
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
            Anchor::Split { .. } => "split",
        }
    }

    /// How the cuts fall: (share of the width's cut on the left, share of
    /// the height's cut on the top), each in percent, `None` for an axis
    /// not cut.
    fn shares(self) -> (Option<u8>, Option<u8>) {
        match self {
            Anchor::Center => (Some(50), Some(50)),
            Anchor::Left => (Some(100), None),
            Anchor::Right => (Some(0), None),
            Anchor::Top => (None, Some(100)),
            Anchor::Bottom => (None, Some(0)),
            Anchor::TopLeft => (Some(100), Some(100)),
            Anchor::TopRight => (Some(0), Some(100)),
            Anchor::BottomLeft => (Some(100), Some(0)),
            Anchor::BottomRight => (Some(0), Some(0)),
            Anchor::Split { left, top } => (Some(left.min(100)), Some(top.min(100))),
        }
    }
}

/// One derived version of a picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Derivation {
    /// `tenths` / 10 % of the width (and/or height, per `anchor`) cut off.
    Crop { anchor: Anchor, tenths: u16 },
    /// Turned by `degrees` (positive: counter-clockwise, as Pillow's
    /// `Image.rotate`), then cropped to the largest centred rectangle of
    /// the original aspect ratio that holds no empty corner.
    Rotate { degrees: i8 },
    /// Turned by `degrees` within the original frame, the corners the
    /// turned picture leaves empty black (Pillow's `Image.rotate` without
    /// `expand`).
    RotateBlack { degrees: i8 },
}

/// Label prefix of every entry that is not a hash of the media as
/// published (`derived:view=...`, `derived:crop=...`, `derived:rotate=...`).
pub const DERIVED_PREFIX: &str = "derived:";

impl Derivation {
    /// The entry label: `derived:crop=center-10`, `derived:rotate=-5`.
    pub fn label(self) -> String {
        format!("{DERIVED_PREFIX}{self}")
    }

    /// A crop window cutting both axes as (left share, top share, size):
    /// two derivations with the same window are the same pixels.
    fn window(self) -> Option<(u8, u8, u16)> {
        match self {
            Derivation::Crop { anchor, tenths } => match anchor.shares() {
                (Some(l), Some(t)) => Some((l, t, tenths)),
                _ => None,
            },
            _ => None,
        }
    }

    /// The crop rectangle in a `w` x `h` picture (crops only).
    fn rect(self, w: usize, h: usize) -> Option<crate::views::Rect> {
        let Derivation::Crop { anchor, tenths } = self else {
            return None;
        };
        // Integer arithmetic, rounded to the nearest pixel: the same
        // rectangle on every platform.
        let cut_w = (w * usize::from(tenths) + 500) / 1000;
        let cut_h = (h * usize::from(tenths) + 500) / 1000;
        let (sl, st) = anchor.shares();
        // The first side's part of a cut, rounded down: an odd centre cut
        // leaves the extra pixel on the far side.
        let first = |share: Option<u8>, n: usize| share.map_or(0, |s| n * usize::from(s) / 100);
        let (cut_w, cut_h) = (
            if sl.is_some() { cut_w } else { 0 },
            if st.is_some() { cut_h } else { 0 },
        );
        let x = first(sl, cut_w);
        let y = first(st, cut_h);
        let cw = w.checked_sub(cut_w)?;
        let ch = h.checked_sub(cut_h)?;
        Some(crate::views::Rect { x, y, w: cw, h: ch })
    }
}

/// A size in tenths of a percent as labels print it: `5`, `7.5`, `10`.
struct Tenths(u16);

impl fmt::Display for Tenths {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 % 10 {
            0 => write!(f, "{}", self.0 / 10),
            r => write!(f, "{}.{r}", self.0 / 10),
        }
    }
}

impl fmt::Display for Derivation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Derivation::Crop { anchor, tenths } => {
                write!(f, "crop={}-{}", anchor.name(), Tenths(*tenths))
            }
            Derivation::Rotate { degrees } => write!(f, "rotate={degrees:+}"),
            Derivation::RotateBlack { degrees } => write!(f, "rotate-black={degrees:+}"),
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
                Derivation::Rotate { degrees } | Derivation::RotateBlack { degrees } => {
                    // The image crate samples packed rows: pack once for all turns.
                    let packed = rotate_src.get_or_insert_with(|| pack(img));
                    let turned = if matches!(d, Derivation::Rotate { .. }) {
                        rotate_cropped(packed, w, h, degrees)
                    } else {
                        rotate_black(packed, w, h, degrees)
                    };
                    let Some((rot, rw, rh)) = turned else {
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

/// `rgb` (packed, `w` x `h`) turned by `degrees` about its centre within
/// the same `w` x `h` frame, as Pillow's `Image.rotate(degrees)` without
/// `expand`: a pixel whose source falls outside the picture is black.
/// `None` when the picture is too small to hash.
fn rotate_black(rgb: &[u8], w: usize, h: usize, degrees: i8) -> Option<(Vec<u8>, usize, usize)> {
    if w < MIN_HASHABLE_DIM || h < MIN_HASHABLE_DIM {
        return None;
    }
    let (wu, hu) = (u32::try_from(w).ok()?, u32::try_from(h).ok()?);
    let src: ImageBuffer<Rgb<u8>, &[u8]> = ImageBuffer::from_raw(wu, hu, rgb)?;
    let a = f64::from(degrees).to_radians();
    let (sin, cos) = (a.sin(), a.cos());
    let (cx, cy) = (w as f64 / 2.0, h as f64 / 2.0);
    let (max_x, max_y) = ((w - 1) as f32, (h - 1) as f32);
    let mut out = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        let ry = y as f64 + 0.5 - cy;
        for x in 0..w {
            let rx = x as f64 + 0.5 - cx;
            // The same inverse map as `rotate_cropped`, in pixel-edge
            // coordinates: inside when 0 <= s < side, as Pillow tests it.
            let sx = cx + rx * cos - ry * sin;
            let sy = cy + rx * sin + ry * cos;
            if !(0.0..w as f64).contains(&sx) || !(0.0..h as f64).contains(&sy) {
                out.extend_from_slice(&[0, 0, 0]);
                continue;
            }
            let p = image::imageops::interpolate_bilinear(
                &src,
                ((sx - 0.5) as f32).clamp(0.0, max_x),
                ((sy - 0.5) as f32).clamp(0.0, max_y),
            )?;
            out.extend_from_slice(&p.0);
        }
    }
    Some((out, w, h))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picture(w: usize, h: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            for x in 0..w {
                let blob = if (x * 5 / w + y * 3 / h).is_multiple_of(2) {
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
        assert_eq!(labels.len(), CROP_TENTHS.len() + 2 * ROTATION_DEGREES.len());
        assert_eq!(labels[0], "derived:crop=center-5");
        assert_eq!(labels[1], "derived:crop=center-7.5");
        assert!(labels.contains(&"derived:rotate=-7".to_string()));
        assert!(labels.contains(&"derived:rotate=+3".to_string()));
        let black: DeriveSet = "rotations-black".parse().unwrap();
        let labels: Vec<String> = black.derivations().iter().map(|d| d.label()).collect();
        assert!(
            labels.contains(&"derived:rotate-black=-4".to_string()),
            "{labels:?}"
        );
        // The default is what the docs and the README say it costs: every
        // family, the dense 15 and 20 % windows included; `compact` is the
        // former default without them.
        assert_eq!(DeriveSet::DEFAULT.derivations().len(), 215);
        assert!(DeriveSet::DEFAULT.contains(Family::ShiftsWide));
        assert_eq!(DeriveSet::DEFAULT, DeriveSet::ALL);
        let compact: DeriveSet = "compact".parse().unwrap();
        assert_eq!(compact.derivations().len(), 95);
        assert!(!compact.contains(Family::ShiftsWide));
        assert!(compact.contains(Family::Shifts) && compact.contains(Family::RotationsBlack));
        assert!("all"
            .parse::<DeriveSet>()
            .unwrap()
            .contains(Family::ShiftsWide));
        assert!("none".parse::<DeriveSet>().unwrap().is_empty());
        assert!("crops,zoom".parse::<DeriveSet>().is_err());
    }

    #[test]
    fn crop_rectangles_cut_the_named_sides() {
        let c = |anchor, percent: u16| {
            Derivation::Crop {
                anchor,
                tenths: percent * 10,
            }
            .rect(200, 100)
            .unwrap()
        };
        let r = c(Anchor::Center, 10);
        assert_eq!((r.x, r.y, r.w, r.h), (10, 5, 180, 90));
        let r = c(Anchor::Left, 20);
        assert_eq!((r.x, r.y, r.w, r.h), (40, 0, 160, 100));
        let r = c(Anchor::Bottom, 5);
        assert_eq!((r.x, r.y, r.w, r.h), (0, 0, 200, 95));
        let r = c(Anchor::TopRight, 10);
        assert_eq!((r.x, r.y, r.w, r.h), (0, 10, 180, 90));
        // A split cut: a quarter of the width's 20 px on the left, three
        // quarters of the height's 10 px on the top.
        let r = c(Anchor::Split { left: 25, top: 75 }, 10);
        assert_eq!((r.x, r.y, r.w, r.h), (5, 7, 180, 90));
        // The half-percent sizes: 7.5 % of 200 is 15 px.
        let r = Derivation::Crop {
            anchor: Anchor::Left,
            tenths: 75,
        }
        .rect(200, 100)
        .unwrap();
        assert_eq!((r.x, r.w, r.h), (15, 185, 100));
    }

    #[test]
    fn shifted_windows_cover_the_grid_once_and_keep_earlier_labels() {
        let shifts: DeriveSet = "shifts".parse().unwrap();
        let alone = shifts.derivations();
        // 3 x 3 windows at 5 %, 5 x 5 at 10 %, every one distinct.
        assert_eq!(alone.len(), 9 + 25);
        assert!(alone
            .iter()
            .all(|d| d.label().starts_with("derived:crop=split-")));
        assert!(alone
            .iter()
            .any(|d| d.label() == "derived:crop=split-25-75-10"));
        // With the centre and corner crops, the windows they give keep
        // their names and are not stored twice.
        let with: DeriveSet = "crops,corners,shifts".parse().unwrap();
        let labels: Vec<String> = with.derivations().iter().map(|d| d.label()).collect();
        assert!(!labels.contains(&"derived:crop=split-50-50-10".to_string()));
        assert!(!labels.contains(&"derived:crop=split-100-100-10".to_string()));
        assert!(labels.contains(&"derived:crop=top-left-10".to_string()));
        // The 5 % corners are no corner crop: the shifts give them.
        assert!(labels.contains(&"derived:crop=split-0-0-5".to_string()));
        let windows: Vec<_> = with.derivations().iter().map(|d| d.window()).collect();
        for (i, w) in windows.iter().enumerate() {
            assert!(!windows[..i].contains(w), "window {w:?} twice");
        }
        let (w, h) = (160, 120);
        let rgb = picture(w, h);
        let view = RgbView::packed(&rgb, w, h);
        let mut hasher = PdqHasher::new();
        // A shifted window is the hash of those pixels cut out directly.
        let d = derived_hashes(&view, shifts, &mut hasher);
        let split = d
            .iter()
            .find(|d| d.derivation.to_string() == "crop=split-25-75-10")
            .unwrap();
        // 10 % of 160 = 16 px, 4 on the left; 10 % of 120 = 12 px, 9 on the top.
        let mut cropped = Vec::new();
        for y in 9..9 + 108 {
            cropped.extend_from_slice(&rgb[(y * w + 4) * 3..(y * w + 4 + 144) * 3]);
        }
        let direct = hasher.hash(&Rgb8::new(&cropped, 144, 108, LumaRule::Pillow).unwrap());
        assert_eq!(split.hash, direct.hash);
    }

    #[test]
    fn a_black_cornered_turn_keeps_the_frame_and_blackens_only_corners() {
        let (w, h) = (120, 80);
        let rgb = vec![200u8; w * h * 3];
        let (same, ow, oh) = rotate_black(&picture(w, h), w, h, 0).unwrap();
        assert_eq!((ow, oh), (w, h));
        assert_eq!(same, picture(w, h));
        let (out, ow, oh) = rotate_black(&rgb, w, h, 7).unwrap();
        assert_eq!((ow, oh), (w, h));
        let px = |x: usize, y: usize| &out[(y * w + x) * 3..(y * w + x) * 3 + 3];
        // Each corner lies outside the turned picture, the centre and the
        // middle of each side inside it.
        for (x, y) in [(0, 0), (w - 1, 0), (0, h - 1), (w - 1, h - 1)] {
            assert_eq!(px(x, y), [0, 0, 0], "corner {x},{y}");
        }
        for (x, y) in [(w / 2, h / 2), (w / 2, 2), (2, h / 2), (w - 3, h / 2)] {
            assert_eq!(px(x, y), [200, 200, 200], "inside {x},{y}");
        }
        // The derived entry is the hash of that turned frame, labelled so.
        let pic = picture(w, h);
        let view = RgbView::packed(&pic, w, h);
        let mut hasher = PdqHasher::new();
        let set: DeriveSet = "rotations-black".parse().unwrap();
        let d = derived_hashes(&view, set, &mut hasher);
        let plus7 = d
            .iter()
            .find(|d| d.derivation.label() == "derived:rotate-black=+7")
            .unwrap();
        let (turned, _, _) = rotate_black(&pic, w, h, 7).unwrap();
        let direct = hasher.hash(&Rgb8::new(&turned, w, h, LumaRule::Pillow).unwrap());
        assert_eq!(plus7.hash, direct.hash);
        let record = hasher.hash(&Rgb8::new(&pic, w, h, LumaRule::Pillow).unwrap());
        assert!(plus7.hash.distance(&record.hash) > 0);
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
