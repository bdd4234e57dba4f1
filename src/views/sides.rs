//! The four sides of a picture and the lines counted in from each: what
//! the views that look for bars ([`super::letterbox`]) and bands
//! ([`super::static_band`]) read.

use super::RgbView;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Side {
    Top,
    Bottom,
    Left,
    Right,
}

pub(super) const SIDES: [Side; 4] = [Side::Top, Side::Bottom, Side::Left, Side::Right];

impl Side {
    /// Pixels along a line parallel to this side.
    pub(super) fn line_len(self, img: &RgbView<'_>) -> usize {
        match self {
            Side::Top | Side::Bottom => img.width,
            Side::Left | Side::Right => img.height,
        }
    }

    /// Pixel `k` along line `i` counted in from this side.
    #[inline]
    pub(super) fn px(self, img: &RgbView<'_>, i: usize, k: usize) -> [u8; 3] {
        match self {
            Side::Top => img.px(k, i),
            Side::Bottom => img.px(k, img.height - 1 - i),
            Side::Left => img.px(i, k),
            Side::Right => img.px(img.width - 1 - i, k),
        }
    }
}

/// BT.601 luma, integer.
#[inline]
pub(super) fn luma(p: [u8; 3]) -> u8 {
    // At most 255 * 1000 / 1000: always fits.
    ((299 * u32::from(p[0]) + 587 * u32::from(p[1]) + 114 * u32::from(p[2])) / 1000) as u8
}
