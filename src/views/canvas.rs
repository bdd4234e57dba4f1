//! The main picture inside a larger canvas: a meme's caption band, a
//! screenshot of a post (avatar, name and text around the picture), a
//! photo pasted on a card.
//!
//! Why not just [`super::border`]: the canvas is not uniform (it has text
//! on it), so peeling lines stops at the first line of text. Instead we
//! find the canvas colour (the dominant colour of the image's outline),
//! mark every pixel that differs from it, and look for the largest band
//! of rows, then of columns inside it, that is *densely* marked: a
//! photograph covers its rectangle almost completely, text covers a small
//! share of its lines and leaves blank lines between them.
//!
//! The analysis runs on a sampled grid of at most [`GRID`] points a side,
//! so it costs a few hundred thousand pixel reads whatever the image size.

use super::{Rect, RgbView};

/// Grid resolution of the analysis (points on the longer side).
const GRID: usize = 384;
/// A pixel differs from the canvas when a channel differs by more than this.
const COLOUR_TOL: i32 = 16;
/// The canvas colour must cover at least this share of the outline.
const MIN_OUTLINE_SHARE: f64 = 0.5;
/// A line belongs to the picture when this share of it is marked ...
const DENSE: f64 = 0.6;
/// ... lines between `SPARSE` and `DENSE` may bridge a gap inside the
/// picture (a flat patch of sky), for at most `MAX_GAP` of the side;
/// lines below `SPARSE` (blank canvas, the gap between text and picture)
/// always end the band.
const SPARSE: f64 = 0.1;
const MAX_GAP: f64 = 0.06;
/// The picture must cover between these shares of the image's area.
const MIN_AREA: f64 = 0.12;
const MAX_AREA: f64 = 0.95;

/// A boolean grid of "differs from the canvas colour".
struct Mask {
    w: usize,
    h: usize,
    sx: f64,
    sy: f64,
    bits: Vec<bool>,
}

impl Mask {
    fn get(&self, x: usize, y: usize) -> bool {
        self.bits[y * self.w + x]
    }
}

fn quantise(p: [u8; 3]) -> u16 {
    ((p[0] as u16 >> 4) << 8) | ((p[1] as u16 >> 4) << 4) | (p[2] as u16 >> 4)
}

/// The canvas colour: the most common (quantised) colour of the outline,
/// averaged over the pixels of that bin; `None` when no colour dominates.
fn canvas_colour(img: &RgbView<'_>) -> Option<[i32; 3]> {
    let mut counts = std::collections::HashMap::<u16, (usize, [u64; 3])>::new();
    let mut total = 0usize;
    let step_x = img.width.div_ceil(GRID).max(1);
    let step_y = img.height.div_ceil(GRID).max(1);
    let mut add = |p: [u8; 3]| {
        let e = counts.entry(quantise(p)).or_insert((0, [0; 3]));
        e.0 += 1;
        for (sum, v) in e.1.iter_mut().zip(p) {
            *sum += v as u64;
        }
        total += 1;
    };
    for x in (0..img.width).step_by(step_x) {
        add(img.px(x, 0));
        add(img.px(x, img.height - 1));
    }
    for y in (0..img.height).step_by(step_y) {
        add(img.px(0, y));
        add(img.px(img.width - 1, y));
    }
    let (n, sum) = counts.values().max_by_key(|(n, _)| *n)?;
    if (*n as f64) < total as f64 * MIN_OUTLINE_SHARE {
        return None;
    }
    Some(sum.map(|s| (s / *n as u64) as i32))
}

fn mask(img: &RgbView<'_>, bg: [i32; 3]) -> Mask {
    let long = img.width.max(img.height);
    let scale = (long as f64 / GRID as f64).max(1.0);
    let w = ((img.width as f64 / scale) as usize).max(1);
    let h = ((img.height as f64 / scale) as usize).max(1);
    let sx = img.width as f64 / w as f64;
    let sy = img.height as f64 / h as f64;
    let mut bits = Vec::with_capacity(w * h);
    for gy in 0..h {
        let y = (((gy as f64 + 0.5) * sy) as usize).min(img.height - 1);
        for gx in 0..w {
            let x = (((gx as f64 + 0.5) * sx) as usize).min(img.width - 1);
            let p = img.px(x, y);
            let d = (0..3).fold(0, |m, c| m.max((p[c] as i32 - bg[c]).abs()));
            bits.push(d > COLOUR_TOL);
        }
    }
    Mask { w, h, sx, sy, bits }
}

/// The longest band of dense lines (indices `[start, end)`), bridging
/// short gaps of medium density.
fn longest_band(density: &[f64]) -> Option<(usize, usize)> {
    let max_gap = ((density.len() as f64 * MAX_GAP) as usize).max(1);
    let mut best: Option<(usize, usize)> = None;
    let mut i = 0;
    while i < density.len() {
        if density[i] < DENSE {
            i += 1;
            continue;
        }
        let start = i;
        let mut end = i + 1; // one past the last dense line
        let mut j = i + 1;
        let mut gap = 0;
        while j < density.len() {
            let d = density[j];
            if d >= DENSE {
                end = j + 1;
                gap = 0;
            } else if d >= SPARSE && gap < max_gap {
                gap += 1;
            } else {
                break;
            }
            j += 1;
        }
        if best.is_none_or(|(s, e)| end - start > e - s) {
            best = Some((start, end));
        }
        i = end.max(i + 1);
    }
    best
}

fn row_density(m: &Mask, x0: usize, x1: usize, y: usize) -> f64 {
    (x0..x1).filter(|&x| m.get(x, y)).count() as f64 / (x1 - x0).max(1) as f64
}

fn col_density(m: &Mask, y0: usize, y1: usize, x: usize) -> f64 {
    (y0..y1).filter(|&y| m.get(x, y)).count() as f64 / (y1 - y0).max(1) as f64
}

/// The dominant picture region, or `None` when the image has no uniform
/// canvas around a picture (most photos), or the region found is too
/// small or nearly the whole image.
pub fn main_picture(img: &RgbView<'_>) -> Option<Rect> {
    if img.width < 32 || img.height < 32 || !img.is_valid() {
        return None;
    }
    let bg = canvas_colour(img)?;
    let m = mask(img, bg);
    let (mut x0, mut x1, mut y0, mut y1) = (0, m.w, 0, m.h);
    // Alternate rows and columns until the box settles.
    for _ in 0..3 {
        let rows: Vec<f64> = (0..m.h).map(|y| row_density(&m, x0, x1, y)).collect();
        let (ny0, ny1) = longest_band(&rows)?;
        let cols: Vec<f64> = (0..m.w).map(|x| col_density(&m, ny0, ny1, x)).collect();
        let (nx0, nx1) = longest_band(&cols)?;
        if (nx0, nx1, ny0, ny1) == (x0, x1, y0, y1) {
            break;
        }
        (x0, x1, y0, y1) = (nx0, nx1, ny0, ny1);
    }
    let r = Rect {
        x: (x0 as f64 * m.sx).round() as usize,
        y: (y0 as f64 * m.sy).round() as usize,
        w: 0,
        h: 0,
    };
    let xe = ((x1 as f64 * m.sx).round() as usize).min(img.width);
    let ye = ((y1 as f64 * m.sy).round() as usize).min(img.height);
    let r = Rect {
        w: xe.saturating_sub(r.x),
        h: ye.saturating_sub(r.y),
        ..r
    };
    let area = (r.w * r.h) as f64 / (img.width * img.height) as f64;
    (r.w >= 32 && r.h >= 32 && (MIN_AREA..=MAX_AREA).contains(&area)).then_some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A white 400x360 canvas with a textured 300x200 picture at (50, 90)
    /// and blocks of "text" above and below it.
    fn post() -> Vec<u8> {
        let (w, h) = (400, 360);
        let mut v = vec![255u8; w * h * 3];
        for y in 0..h {
            for x in 0..w {
                let o = 3 * (y * w + x);
                let pic = (50..350).contains(&x) && (90..290).contains(&y);
                let text =
                    ((20..30).contains(&y) || (40..50).contains(&y) || (310..320).contains(&y))
                        && (50..330).contains(&x)
                        && (x / 6) % 3 != 0;
                if pic {
                    let t = ((x * 13 + y * 7) % 200) as u8;
                    v[o..o + 3].copy_from_slice(&[t, 180 - t / 2, 40 + t / 3]);
                } else if text {
                    v[o..o + 3].copy_from_slice(&[0, 0, 0]);
                }
            }
        }
        v
    }

    #[test]
    fn finds_the_picture_between_text_blocks() {
        let v = post();
        let r = main_picture(&RgbView::packed(&v, 400, 360)).unwrap();
        let want = Rect {
            x: 50,
            y: 90,
            w: 300,
            h: 200,
        };
        assert!(r.close_to(&want, 400, 360, 0.01), "{r:?}");
    }

    #[test]
    fn no_canvas_in_a_full_bleed_picture() {
        let v: Vec<u8> = (0..200 * 150)
            .flat_map(|i| {
                let t = ((i % 200) * 3 + (i / 200) * 5) as u8;
                [t, t / 2, 255 - t]
            })
            .collect();
        assert_eq!(main_picture(&RgbView::packed(&v, 200, 150)), None);
    }

    #[test]
    fn longest_band_bridges_short_weak_gaps_only() {
        let mut d = vec![0.0; 100];
        d[10..40].fill(0.9);
        d[40..42].fill(0.3); // a flat patch inside the picture
        d[42..70].fill(0.9);
        d[80..95].fill(0.9); // text-free block after a blank gap
        assert_eq!(longest_band(&d), Some((10, 70)));
    }
}
