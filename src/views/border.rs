//! Borders removed: uniform bars (letterbox, pillarbox, padding) and
//! picture frames trimmed before hashing.
//!
//! Why: PDQ hashes the whole frame, so 20% of black padding moves most
//! bits. Bars are lines (rows or columns) of nearly one colour; we peel
//! them from each side while they stay close to the colour of the
//! outermost line, then repeat (a frame of two colours, a mat inside a
//! frame). Peeling stops at the first line with texture, so a photo whose
//! own edge is a flat sky loses at most that flat part.

use super::{Rect, RgbView};

/// Largest share of a side that may be trimmed from one edge.
const MAX_SIDE_FRACTION: f64 = 0.45;
/// A line is uniform when the mean absolute deviation of its pixels from
/// the line's mean (max over channels) is at most this ...
const MAX_DEVIATION: f64 = 6.0;
/// ... and its mean colour is within this of the outermost line's.
const MAX_COLOUR_DRIFT: f64 = 24.0;
/// Lines are sampled at most this many points along their length.
const SAMPLES: usize = 256;
/// Trims smaller than this share of the side are not worth a view.
const MIN_TRIM_FRACTION: f64 = 0.01;

#[derive(Clone, Copy)]
enum Side {
    Top,
    Bottom,
    Left,
    Right,
}

/// Mean colour and mean absolute deviation of line `i` from `side`,
/// within the current rectangle `r`.
fn line_stats(img: &RgbView<'_>, r: &Rect, side: Side, i: usize) -> ([f64; 3], f64) {
    let (len, horizontal) = match side {
        Side::Top | Side::Bottom => (r.w, true),
        Side::Left | Side::Right => (r.h, false),
    };
    let step = len.div_ceil(SAMPLES).max(1);
    let at = |k: usize| -> [u8; 3] {
        match side {
            Side::Top => img.px(r.x + k, r.y + i),
            Side::Bottom => img.px(r.x + k, r.y + r.h - 1 - i),
            Side::Left => img.px(r.x + i, r.y + k),
            Side::Right => img.px(r.x + r.w - 1 - i, r.y + k),
        }
    };
    let _ = horizontal;
    let mut sum = [0f64; 3];
    let mut n = 0f64;
    let mut k = 0;
    while k < len {
        let p = at(k);
        for c in 0..3 {
            sum[c] += p[c] as f64;
        }
        n += 1.0;
        k += step;
    }
    let mean = sum.map(|s| s / n);
    let mut dev = [0f64; 3];
    let mut k = 0;
    while k < len {
        let p = at(k);
        for c in 0..3 {
            dev[c] += (p[c] as f64 - mean[c]).abs();
        }
        k += step;
    }
    let dev = dev.iter().fold(0f64, |m, d| m.max(d / n));
    (mean, dev)
}

/// How many uniform lines of one colour `side` of `r` has.
fn peel(img: &RgbView<'_>, r: &Rect, side: Side) -> usize {
    let depth = match side {
        Side::Top | Side::Bottom => r.h,
        Side::Left | Side::Right => r.w,
    };
    let max = (depth as f64 * MAX_SIDE_FRACTION) as usize;
    let (first, dev0) = line_stats(img, r, side, 0);
    if dev0 > MAX_DEVIATION {
        return 0;
    }
    let mut n = 1;
    while n < max {
        let (mean, dev) = line_stats(img, r, side, n);
        let drift = (0..3).fold(0f64, |m, c| m.max((mean[c] - first[c]).abs()));
        if dev > MAX_DEVIATION || drift > MAX_COLOUR_DRIFT {
            break;
        }
        n += 1;
    }
    n
}

/// The picture inside uniform borders, or `None` when there is no border
/// worth trimming (under 1% of a side) or the image is too small.
pub fn trim(img: &RgbView<'_>) -> Option<Rect> {
    if img.width < 16 || img.height < 16 || !img.is_valid() {
        return None;
    }
    let mut r = Rect {
        x: 0,
        y: 0,
        w: img.width,
        h: img.height,
    };
    for _ in 0..3 {
        let t = peel(img, &r, Side::Top);
        let b = peel(img, &r, Side::Bottom);
        let l = peel(img, &r, Side::Left);
        let rt = peel(img, &r, Side::Right);
        if t + b + l + rt == 0 || t + b >= r.h || l + rt >= r.w {
            break;
        }
        r = Rect {
            x: r.x + l,
            y: r.y + t,
            w: r.w - l - rt,
            h: r.h - t - b,
        };
    }
    let dw = img.width - r.w;
    let dh = img.height - r.h;
    let worth = dw as f64 >= img.width as f64 * MIN_TRIM_FRACTION
        || dh as f64 >= img.height as f64 * MIN_TRIM_FRACTION;
    (worth && r.w >= 16 && r.h >= 16).then_some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn textured(w: usize, h: usize) -> Vec<u8> {
        (0..w * h)
            .flat_map(|i| {
                let (x, y) = (i % w, i / w);
                let v = ((x * 7 + y * 13) % 97 + (x * y) % 61) as u8;
                [v, v.wrapping_mul(3), 255 - v]
            })
            .collect()
    }

    fn pad(
        src: &[u8],
        w: usize,
        h: usize,
        t: usize,
        b: usize,
        l: usize,
        r: usize,
        c: [u8; 3],
    ) -> (Vec<u8>, usize, usize) {
        let (nw, nh) = (w + l + r, h + t + b);
        let mut out = Vec::with_capacity(nw * nh * 3);
        for y in 0..nh {
            for x in 0..nw {
                if y >= t && y < t + h && x >= l && x < l + w {
                    let o = 3 * ((y - t) * w + (x - l));
                    out.extend_from_slice(&src[o..o + 3]);
                } else {
                    out.extend_from_slice(&c);
                }
            }
        }
        (out, nw, nh)
    }

    #[test]
    fn finds_exact_letterbox_and_frame() {
        let src = textured(120, 80);
        let (p, w, h) = pad(&src, 120, 80, 20, 20, 0, 0, [0, 0, 0]);
        let r = trim(&RgbView::packed(&p, w, h)).unwrap();
        assert_eq!(
            r,
            Rect {
                x: 0,
                y: 20,
                w: 120,
                h: 80
            }
        );
        // A two-colour frame: white mat inside a brown frame.
        let (m, w1, h1) = pad(&src, 120, 80, 10, 10, 10, 10, [250, 250, 250]);
        let (f, w2, h2) = pad(&m, w1, h1, 6, 6, 6, 6, [90, 50, 20]);
        let r = trim(&RgbView::packed(&f, w2, h2)).unwrap();
        assert_eq!(
            r,
            Rect {
                x: 16,
                y: 16,
                w: 120,
                h: 80
            }
        );
    }

    #[test]
    fn no_border_no_view() {
        let src = textured(100, 100);
        assert_eq!(trim(&RgbView::packed(&src, 100, 100)), None);
        let flat = vec![128u8; 100 * 100 * 3];
        assert_eq!(trim(&RgbView::packed(&flat, 100, 100)), None);
    }
}
