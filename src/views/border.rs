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
const MAX_COLOUR_DRIFT: f64 = 10.0;
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
    let len = match side {
        Side::Top | Side::Bottom => r.w,
        Side::Left | Side::Right => r.h,
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

/// How close to uniform a border line must be.
#[derive(Clone, Copy)]
struct Tolerance {
    /// Mean absolute deviation within the line (max over channels).
    deviation: f64,
    /// Drift of the line's mean colour from the outermost line's.
    drift: f64,
    /// Peeling rounds: more than one trims a frame of two colours (a mat
    /// inside a frame).
    rounds: usize,
}

/// Bars of real media: compression noise and soft colour allowed.
const LOOSE: Tolerance = Tolerance {
    deviation: MAX_DEVIATION,
    drift: MAX_COLOUR_DRIFT,
    rounds: 3,
};

/// Added padding of one exact colour: stops at the picture even when the
/// picture's own edge is a flat area of nearly the padding's colour (a
/// blue sky on blue padding, a night sky on black), where [`LOOSE`] peels
/// into the picture. One round: inside the padding, a smooth sky is as
/// uniform as padding along the picture's own width.
const EXACT: Tolerance = Tolerance {
    deviation: 1.0,
    drift: 2.0,
    rounds: 1,
};

/// How many uniform lines of one colour `side` of `r` has.
fn peel(img: &RgbView<'_>, r: &Rect, side: Side, tol: Tolerance) -> usize {
    let depth = match side {
        Side::Top | Side::Bottom => r.h,
        Side::Left | Side::Right => r.w,
    };
    let max = (depth as f64 * MAX_SIDE_FRACTION) as usize;
    let (first, dev0) = line_stats(img, r, side, 0);
    if dev0 > tol.deviation {
        return 0;
    }
    let mut n = 1;
    while n < max {
        let (mean, dev) = line_stats(img, r, side, n);
        let drift = (0..3).fold(0f64, |m, c| m.max((mean[c] - first[c]).abs()));
        if dev > tol.deviation || drift > tol.drift {
            break;
        }
        n += 1;
    }
    n
}

/// The picture inside uniform borders, or `None` when there is no border
/// worth trimming (under 1% of a side) or the image is too small.
pub fn trim(img: &RgbView<'_>) -> Option<Rect> {
    trim_with(img, LOOSE)
}

/// Like [`trim`], but only borders of one exact colour (added padding):
/// the view `pad`, for padding whose colour is close to the picture's
/// edge.
pub fn trim_exact(img: &RgbView<'_>) -> Option<Rect> {
    trim_with(img, EXACT)
}

fn trim_with(img: &RgbView<'_>, tol: Tolerance) -> Option<Rect> {
    if img.width < 16 || img.height < 16 || !img.is_valid() {
        return None;
    }
    let mut r = Rect {
        x: 0,
        y: 0,
        w: img.width,
        h: img.height,
    };
    for _ in 0..tol.rounds {
        let t = peel(img, &r, Side::Top, tol);
        let b = peel(img, &r, Side::Bottom, tol);
        let l = peel(img, &r, Side::Left, tol);
        let rt = peel(img, &r, Side::Right, tol);
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

/// A band line keeps at least this share of the band's colour (text on a
/// caption band covers less than half of any line) ...
const BAND_SHARE: f64 = 0.35;
/// ... a pixel has the band's colour within this (max over channels) ...
const BAND_TOL: f64 = 40.0;
/// ... and bands thinner than this share of the side are ignored.
const MIN_BAND_FRACTION: f64 = 0.03;

/// Share of line `i` from `side` of `r` within [`BAND_TOL`] of `c`.
fn colour_share(img: &RgbView<'_>, r: &Rect, side: Side, i: usize, c: [f64; 3]) -> f64 {
    let len = match side {
        Side::Top | Side::Bottom => r.w,
        Side::Left | Side::Right => r.h,
    };
    let step = len.div_ceil(SAMPLES).max(1);
    let (mut n, mut hit) = (0usize, 0usize);
    let mut k = 0;
    while k < len {
        let p = match side {
            Side::Top => img.px(r.x + k, r.y + i),
            Side::Bottom => img.px(r.x + k, r.y + r.h - 1 - i),
            Side::Left => img.px(r.x + i, r.y + k),
            Side::Right => img.px(r.x + r.w - 1 - i, r.y + k),
        };
        n += 1;
        if (0..3).all(|ch| (p[ch] as f64 - c[ch]).abs() <= BAND_TOL) {
            hit += 1;
        }
        k += step;
    }
    hit as f64 / n.max(1) as f64
}

/// Depth of a band of one colour carrying text (a meme caption, a title
/// strip) on `side`: it starts with a uniform line and goes on while
/// lines keep most of its colour; it ends where a run of lines (1% of
/// the side) has lost it: the picture.
fn band(img: &RgbView<'_>, r: &Rect, side: Side) -> usize {
    let depth = match side {
        Side::Top | Side::Bottom => r.h,
        Side::Left | Side::Right => r.w,
    };
    let (c, dev0) = line_stats(img, r, side, 0);
    if dev0 > MAX_DEVIATION {
        return 0;
    }
    let max = (depth as f64 * MAX_SIDE_FRACTION) as usize;
    let run = (depth / 100).max(2);
    let mut low = 0;
    for i in 1..max {
        if colour_share(img, r, side, i, c) < BAND_SHARE {
            low += 1;
            if low == run {
                let end = i + 1 - run;
                return if end as f64 >= depth as f64 * MIN_BAND_FRACTION {
                    end
                } else {
                    0
                };
            }
        } else {
            low = 0;
        }
    }
    0
}

/// The picture beside bands of one colour that carry text or logos (a
/// caption above or below a meme, a title strip), or `None`.
pub fn bands(img: &RgbView<'_>) -> Option<Rect> {
    if img.width < 32 || img.height < 32 || !img.is_valid() {
        return None;
    }
    let full = Rect {
        x: 0,
        y: 0,
        w: img.width,
        h: img.height,
    };
    let t = band(img, &full, Side::Top);
    let b = band(img, &full, Side::Bottom);
    let l = band(img, &full, Side::Left);
    let rt = band(img, &full, Side::Right);
    if t + b + l + rt == 0 || t + b + 16 > full.h || l + rt + 16 > full.w {
        return None;
    }
    Some(Rect {
        x: l,
        y: t,
        w: full.w - l - rt,
        h: full.h - t - b,
    })
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

    /// `src` (w x h) with margins `[top, bottom, left, right]` of colour `c`.
    fn pad(src: &[u8], w: usize, h: usize, m: [usize; 4], c: [u8; 3]) -> (Vec<u8>, usize, usize) {
        let [t, b, l, r] = m;
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
        let (p, w, h) = pad(&src, 120, 80, [20, 20, 0, 0], [0, 0, 0]);
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
        let (m, w1, h1) = pad(&src, 120, 80, [10, 10, 10, 10], [250, 250, 250]);
        let (f, w2, h2) = pad(&m, w1, h1, [6, 6, 6, 6], [90, 50, 20]);
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
    fn caption_band_with_text_is_cut_off() {
        let src = textured(160, 100);
        let (mut v, w, h) = pad(&src, 160, 100, [40, 0, 0, 0], [255, 255, 255]);
        // Two lines of "glyphs" on the band.
        for y in (8..18).chain(24..34) {
            for x in (10..150).filter(|x| (x / 5) % 3 != 2) {
                v[3 * (y * w + x)..3 * (y * w + x) + 3].copy_from_slice(&[0, 0, 0]);
            }
        }
        let t = trim(&RgbView::packed(&v, w, h)).unwrap();
        assert_eq!(t.y, 8, "the trim stops at the first line of text");
        let r = bands(&RgbView::packed(&v, w, h)).unwrap();
        assert_eq!(
            r,
            Rect {
                x: 0,
                y: 40,
                w: 160,
                h: 100
            }
        );
    }

    #[test]
    fn exact_trim_stops_where_padding_meets_a_sky_of_its_colour() {
        // A picture whose top half is a smooth sky close to the padding's
        // colour, textured below.
        let (w, h) = (120, 100);
        let mut src = textured(w, h);
        for y in 0..h / 2 {
            for x in 0..w {
                let o = 3 * (y * w + x);
                src[o..o + 3].copy_from_slice(&[4, 100 + (y / 10) as u8, 196]);
            }
        }
        let (p, pw, ph) = pad(&src, w, h, [25, 25, 30, 30], [13, 96, 191]);
        let img = RgbView::packed(&p, pw, ph);
        let exact = Rect { x: 30, y: 25, w, h };
        // The loose trim peels on into the sky ...
        let loose = trim(&img).unwrap();
        assert!(loose.y > exact.y + 10, "{loose:?}");
        // ... the exact one stops at the picture.
        assert_eq!(trim_exact(&img), Some(exact));
        // No padding, no exact trim (a perfectly flat synthetic sky would
        // be trimmed: real skies carry noise).
        let plain = textured(w, h);
        assert_eq!(trim_exact(&RgbView::packed(&plain, w, h)), None);
    }

    #[test]
    fn no_border_no_view() {
        let src = textured(100, 100);
        assert_eq!(trim(&RgbView::packed(&src, 100, 100)), None);
        let flat = vec![128u8; 100 * 100 * 3];
        assert_eq!(trim(&RgbView::packed(&flat, 100, 100)), None);
    }
}
