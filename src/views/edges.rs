//! The picture between two straight edges: a pillarbox or letterbox whose
//! bars are not uniform (a blurred, enlarged copy of the picture behind it,
//! a gradient, a pattern), so [`super::border`] cannot peel them.
//!
//! Why it works: a picture pasted on any background leaves a sharp step
//! along a whole row or column, at both sides of a centred picture; bars
//! made by blurring have no such step inside them, and a photograph rarely
//! has two full-length straight edges mirrored about its centre. We score
//! every column (row) by the share of sampled rows (columns) where the
//! luma steps by more than [`STEP`], take the outermost line scoring at
//! least [`MIN_SCORE`] from each side, and accept them when they mirror
//! each other about the centre.

use super::{Rect, RgbView};

/// Luma step (0..255) that counts as an edge at one sample.
const STEP: f64 = 10.0;
/// Share of a line's samples that must step.
const MIN_SCORE: f64 = 0.6;
/// Samples along each line.
const SAMPLES: usize = 160;
/// The two lines must be this close to symmetric (share of the side).
const SYMMETRY: f64 = 0.015;
/// Bars from 3% to 40% of the side, each.
const MIN_BAR: f64 = 0.03;
const MAX_BAR: f64 = 0.40;

fn luma(p: [u8; 3]) -> f64 {
    0.299 * p[0] as f64 + 0.587 * p[1] as f64 + 0.114 * p[2] as f64
}

/// The lines sampled across an axis of length `m`.
fn sampled(m: usize) -> Vec<usize> {
    let step = m.div_ceil(SAMPLES).max(1);
    (0..m).step_by(step).collect()
}

/// Score of the boundary before each column: the share of sampled rows
/// whose luma steps there. Each sampled row's luma is computed once and
/// read along the row (the same values and comparisons as
/// `tests::scores_by_sample`, which took two luma values per sample and
/// walked down columns; it was a tenth of an image's time with all views).
fn column_scores(img: &RgbView<'_>) -> Vec<f64> {
    let (w, h) = (img.width, img.height);
    let ys = sampled(h);
    let mut hits = vec![0u32; w];
    let mut line = vec![0.0f64; w];
    for &y in &ys {
        for (x, l) in line.iter_mut().enumerate() {
            *l = luma(img.px(x, y));
        }
        for (x, hit) in hits.iter_mut().enumerate().skip(1) {
            *hit += u32::from((line[x] - line[x - 1]).abs() > STEP);
        }
    }
    share(&hits, ys.len())
}

/// Score of the boundary before each row: the share of sampled columns
/// whose luma steps there, reading the picture row after row.
fn row_scores(img: &RgbView<'_>) -> Vec<f64> {
    let (w, h) = (img.width, img.height);
    let xs = sampled(w);
    let mut hits = vec![0u32; h];
    let mut prev = vec![0.0f64; xs.len()];
    let mut cur = vec![0.0f64; xs.len()];
    for (y, hit) in hits.iter_mut().enumerate() {
        for (l, &x) in cur.iter_mut().zip(&xs) {
            *l = luma(img.px(x, y));
        }
        if y > 0 {
            *hit = cur
                .iter()
                .zip(&prev)
                .filter(|(c, p)| (*c - *p).abs() > STEP)
                .count() as u32;
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    share(&hits, xs.len())
}

/// Hit counts as shares of `samples` (the first line has no boundary: 0).
fn share(hits: &[u32], samples: usize) -> Vec<f64> {
    hits.iter()
        .enumerate()
        .map(|(i, &k)| {
            if i == 0 {
                0.0
            } else {
                k as f64 / samples.max(1) as f64
            }
        })
        .collect()
}

/// The outermost boundaries on each side `(a, b)` (the picture is
/// `a..b`), when they mirror each other: bars have no steps inside them,
/// so the first stepping line from each side is the picture's edge.
fn pair(s: &[f64]) -> Option<(usize, usize)> {
    let n = s.len();
    let lo = ((n as f64 * MIN_BAR) as usize).max(1);
    let hi = (n as f64 * MAX_BAR) as usize;
    let tol = ((n as f64 * SYMMETRY) as usize).max(1);
    let a = (lo..=hi).find(|&i| s[i] >= MIN_SCORE)?;
    let b = (n - hi..=n - lo).rev().find(|&i| s[i] >= MIN_SCORE)?;
    (a.abs_diff(n - b) <= tol).then_some((a, b))
}

/// The picture framed by symmetric straight edges, or `None`.
pub fn framed(img: &RgbView<'_>) -> Option<Rect> {
    if img.width < 64 || img.height < 64 || !img.is_valid() {
        return None;
    }
    let cols = column_scores(img);
    let rows = row_scores(img);
    let (x0, x1) = pair(&cols).unwrap_or((0, img.width));
    let (y0, y1) = pair(&rows).unwrap_or((0, img.height));
    if (x0, x1, y0, y1) == (0, img.width, 0, img.height) {
        return None;
    }
    Some(Rect {
        x: x0,
        y: y0,
        w: x1 - x0,
        h: y1 - y0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scores by their definition: for each boundary, two luma values
    /// per sample.
    fn scores_by_sample(n: usize, m: usize, px: impl Fn(usize, usize) -> [u8; 3]) -> Vec<f64> {
        let js = sampled(m);
        let mut out = vec![0.0; n];
        for (i, o) in out.iter_mut().enumerate().skip(1) {
            let hits = js
                .iter()
                .filter(|&&j| (luma(px(i, j)) - luma(px(i - 1, j))).abs() > STEP)
                .count();
            *o = hits as f64 / js.len().max(1) as f64;
        }
        out
    }

    #[test]
    fn line_scores_equal_the_definition() {
        // Noise with steps of every size, on sizes below and above the
        // sample count, square and not.
        for (w, h) in [
            (64usize, 64usize),
            (200, 97),
            (97, 333),
            (517, 160),
            (161, 1000),
        ] {
            let mut x = 0x9E37_79B9u32 ^ (w * 31 + h) as u32;
            let v: Vec<u8> = (0..w * h * 3)
                .map(|i| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    // Mostly small steps, some large ones.
                    ((i / 3 % w) as u32 / 7 * 9 + (x >> 27) * (1 + (x & 7) / 6 * 12)) as u8
                })
                .collect();
            let img = RgbView::packed(&v, w, h);
            let cols = scores_by_sample(w, h, |x, y| img.px(x, y));
            let rows = scores_by_sample(h, w, |y, x| img.px(x, y));
            assert_eq!(column_scores(&img), cols, "columns {w}x{h}");
            assert_eq!(row_scores(&img), rows, "rows {w}x{h}");
            assert!(cols.iter().any(|&s| s > 0.0) && cols.iter().any(|&s| s < 1.0));
        }
    }

    #[test]
    fn finds_a_picture_over_a_smooth_background() {
        // A textured 120x100 picture centred on a 200x100 smooth gradient.
        let (w, h) = (200, 100);
        let mut v = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            for x in 0..w {
                if (40..160).contains(&x) {
                    let t = ((x * 37 + y * 11) % 150) as u8;
                    v.extend_from_slice(&[t + 50, t, 200 - t]);
                } else {
                    let g = (x * 255 / w) as u8;
                    v.extend_from_slice(&[g / 2, g / 3, g / 4]);
                }
            }
        }
        let r = framed(&RgbView::packed(&v, w, h)).unwrap();
        assert_eq!(
            r,
            Rect {
                x: 40,
                y: 0,
                w: 120,
                h: 100
            }
        );
    }

    #[test]
    fn a_smooth_photo_has_no_frame() {
        let (w, h) = (160, 120);
        let v: Vec<u8> = (0..w * h)
            .flat_map(|i| {
                let (x, y) = (i % w, i / w);
                [(x + y) as u8, (x * 2 % 256) as u8, (y * 2) as u8]
            })
            .collect();
        assert_eq!(framed(&RgbView::packed(&v, w, h)), None);
    }
}
