//! Video letterbox/pillarbox bars: found over many sampled frames (as
//! FFmpeg's `cropdetect` does, but in-process) and trimmed from every
//! sampled frame before hashing (`letterbox`).
//!
//! Why over many frames: a single frame cannot tell a bar from a dark or
//! flat part of the picture (a night scene, a sky); a real bar is the same
//! on most frames. Each frame votes a bar depth per side (the run of
//! near-uniform lines of one luma from that edge); the bar is the depth
//! most frames agree on, within 1% of the side, with a consistent luma.
//!
//! Why no frame is kept: bars are only known after several frames, but
//! memory must stay bounded whatever the length of the video. So each
//! frame is hashed right away at its own bars and at the bars agreed on so
//! far (one crop when they agree, as they do on a steady letterboxed
//! video); at the end, each frame keeps the crop that agrees with the final
//! bars and drops the other. A frame kept only a few small hashes, never
//! pixels. A frame where neither agrees (possible only before the
//! consensus settles) gets no `letterbox` view.

use super::sides::{luma, Side, SIDES};
use super::{push_crop, Crop, Rect, RgbView, ViewHash};
use crate::pdq::PdqHasher;

/// Deepest bar considered, as a share of the side.
const MAX_SIDE_FRACTION: f64 = 0.4;
/// A line is uniform when the mean absolute deviation of its luma is at
/// most this (compression noise on a black bar is far below) ...
const MAX_DEVIATION: f64 = 6.0;
/// ... and its mean luma is within this of the outermost line's.
const MAX_LUMA_DRIFT: f64 = 10.0;
/// Votes of frames whose bar luma differs from the bar's so far by more
/// than this do not count (a bar keeps its colour).
const MAX_BAR_LUMA_CHANGE: f64 = 24.0;
/// A bar must be found on at least this share of the informative frames.
const MIN_AGREEMENT: f64 = 0.5;
/// Bars thinner than this share of the side are not worth a view.
const MIN_TRIM_FRACTION: f64 = 0.01;
/// Lines are sampled at most this many points along their length.
const SAMPLES: usize = 256;

/// Mean luma and mean absolute deviation of line `i` from `side`.
fn line_stats(img: &RgbView<'_>, side: Side, i: usize) -> (f64, f64) {
    let len = side.line_len(img);
    let step = len.div_ceil(SAMPLES).max(1);
    let at = |k: usize| u32::from(luma(side.px(img, i, k)));
    let (mut sum, mut n) = (0u64, 0u64);
    let mut k = 0;
    while k < len {
        sum += u64::from(at(k));
        n += 1;
        k += step;
    }
    let mean = sum as f64 / n.max(1) as f64;
    let mut dev = 0f64;
    let mut k = 0;
    while k < len {
        dev += (f64::from(at(k)) - mean).abs();
        k += step;
    }
    (mean, dev / n.max(1) as f64)
}

/// Depth of the run of uniform lines of one luma on `side` (0 = none),
/// and the luma of its outermost line.
fn side_depth(img: &RgbView<'_>, side: Side, cap: usize) -> (usize, f64) {
    let (first, dev0) = line_stats(img, side, 0);
    if dev0 > MAX_DEVIATION {
        return (0, first);
    }
    let mut n = 1;
    while n < cap {
        let (mean, dev) = line_stats(img, side, n);
        if dev > MAX_DEVIATION || (mean - first).abs() > MAX_LUMA_DRIFT {
            break;
        }
        n += 1;
    }
    (n, first)
}

/// One frame's bars: depth per side (top, bottom, left, right) and the
/// outer luma, with whether each axis told anything (a frame flat from
/// edge to edge, such as a fade to black, does not).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameBars {
    pub depth: [usize; 4],
    pub luma: [f64; 4],
    /// `[vertical (top/bottom), horizontal (left/right)]`.
    pub informative: [bool; 2],
}

/// The bars of one frame.
pub fn frame_bars(img: &RgbView<'_>) -> FrameBars {
    let mut bars = FrameBars {
        depth: [0; 4],
        luma: [0.0; 4],
        informative: [false; 2],
    };
    if img.width < 16 || img.height < 16 || !img.is_valid() {
        return bars;
    }
    for (i, side) in SIDES.iter().enumerate() {
        let dim = if i < 2 { img.height } else { img.width };
        let cap = ((dim as f64 * MAX_SIDE_FRACTION) as usize).max(1);
        let (d, l) = side_depth(img, *side, cap);
        bars.depth[i] = d;
        bars.luma[i] = l;
    }
    // Both sides of an axis at the cap: flat across, nothing to learn.
    let v_cap = (img.height as f64 * MAX_SIDE_FRACTION) as usize;
    let h_cap = (img.width as f64 * MAX_SIDE_FRACTION) as usize;
    bars.informative = [
        !(bars.depth[0] >= v_cap && bars.depth[1] >= v_cap),
        !(bars.depth[2] >= h_cap && bars.depth[3] >= h_cap),
    ];
    bars
}

/// Votes of one side: how many frames saw each depth (index 0 = no bar),
/// and the bar's luma (mean of the counted votes).
#[derive(Debug, Clone)]
struct SideVotes {
    counts: Vec<u32>,
    luma_sum: f64,
    luma_n: u32,
}

impl SideVotes {
    fn new(cap: usize) -> Self {
        SideVotes {
            counts: vec![0; cap + 1],
            luma_sum: 0.0,
            luma_n: 0,
        }
    }

    fn vote(&mut self, depth: usize, luma: f64) {
        let mut d = depth.min(self.counts.len() - 1);
        if d > 0 {
            if self.luma_n > 0 {
                let bar = self.luma_sum / f64::from(self.luma_n);
                if (luma - bar).abs() > MAX_BAR_LUMA_CHANGE {
                    d = 0;
                }
            }
            if d > 0 {
                self.luma_sum += luma;
                self.luma_n += 1;
            }
        }
        self.counts[d] += 1;
    }

    /// The depth most frames agree on within `tol` lines, if at least
    /// `need` frames do; else 0.
    fn agreed(&self, tol: usize, need: f64) -> usize {
        let n = self.counts.len();
        // Prefix sums over depths >= 1.
        let mut prefix = vec![0u32; n + 1];
        for d in 0..n {
            prefix[d + 1] = prefix[d] + if d == 0 { 0 } else { self.counts[d] };
        }
        let window = |c: usize| {
            let lo = c.saturating_sub(tol).max(1);
            let hi = (c + tol).min(n - 1);
            prefix[hi + 1] - prefix[lo]
        };
        let mut best = (0u32, 0usize);
        for c in 1..n {
            let w = window(c);
            if w > best.0 {
                best = (w, c);
            }
        }
        if best.0 == 0 || f64::from(best.0) < need {
            return 0;
        }
        // The most frequent exact depth inside the winning window.
        let lo = best.1.saturating_sub(tol).max(1);
        let hi = (best.1 + tol).min(n - 1);
        (lo..=hi)
            .max_by_key(|&d| (self.counts[d], std::cmp::Reverse(d)))
            .unwrap_or(0)
    }
}

/// Bars agreed on over the frames seen so far.
#[derive(Debug, Clone)]
pub struct BarTracker {
    width: usize,
    height: usize,
    sides: [SideVotes; 4],
    informative: [u32; 2],
}

impl BarTracker {
    pub fn new(width: usize, height: usize) -> Self {
        let vcap = (height as f64 * MAX_SIDE_FRACTION) as usize;
        let hcap = (width as f64 * MAX_SIDE_FRACTION) as usize;
        BarTracker {
            width,
            height,
            sides: [
                SideVotes::new(vcap),
                SideVotes::new(vcap),
                SideVotes::new(hcap),
                SideVotes::new(hcap),
            ],
            informative: [0; 2],
        }
    }

    /// Count one frame's bars.
    pub fn observe(&mut self, b: &FrameBars) {
        for i in 0..4 {
            let axis = usize::from(i >= 2);
            if b.informative[axis] {
                self.sides[i].vote(b.depth[i], b.luma[i]);
            }
        }
        for axis in 0..2 {
            self.informative[axis] += u32::from(b.informative[axis]);
        }
    }

    /// Depths `[top, bottom, left, right]` agreed on by most frames.
    pub fn agreed(&self) -> [usize; 4] {
        let mut out = [0; 4];
        for (i, o) in out.iter_mut().enumerate() {
            let axis = usize::from(i >= 2);
            let dim = if axis == 0 { self.height } else { self.width };
            let tol = (dim / 100).max(1);
            let need = f64::from(self.informative[axis]) * MIN_AGREEMENT;
            *o = self.sides[i].agreed(tol, need.max(1.0));
        }
        out
    }

    /// The picture inside the agreed bars, when they are worth trimming.
    pub fn rect(&self) -> Option<Rect> {
        rect_inside(self.agreed(), self.width, self.height)
    }
}

/// The rectangle inside bars `[top, bottom, left, right]`, or `None` when
/// they trim too little (under 1% of both sides) or leave too little.
pub fn rect_inside(d: [usize; 4], width: usize, height: usize) -> Option<Rect> {
    let [t, b, l, r] = d;
    if t + b + 16 > height || l + r + 16 > width {
        return None;
    }
    let worth = (t + b) as f64 >= height as f64 * MIN_TRIM_FRACTION
        || (l + r) as f64 >= width as f64 * MIN_TRIM_FRACTION;
    worth.then_some(Rect {
        x: l,
        y: t,
        w: width - l - r,
        h: height - t - b,
    })
}

/// Crops of one frame, hashed, waiting for the final bars.
type Candidates = Vec<(Rect, Vec<ViewHash>)>;

/// Letterbox views of a video's sampled frames, in bounded memory (see the
/// module docs): feed every sampled frame in order, then [`finish`].
///
/// [`finish`]: LetterboxViews::finish
pub struct LetterboxViews {
    tracker: BarTracker,
    dihedral: bool,
    pending: Vec<Candidates>,
}

/// Crops closer than this (share of the sides) are the same crop.
pub(crate) const SAME_CROP: f64 = 0.005;
/// A frame's crop counts as the final bars' crop within this.
pub(crate) const FINAL_TOLERANCE: f64 = 0.01;

impl LetterboxViews {
    /// For frames of `width` x `height`; with `dihedral`, each crop also
    /// gets its seven rotations and flips (same DCT; `letterbox+flipx` ...).
    pub fn new(width: usize, height: usize, dihedral: bool) -> Self {
        LetterboxViews {
            tracker: BarTracker::new(width, height),
            dihedral,
            pending: Vec::new(),
        }
    }

    /// Look at the next sampled frame and hash its candidate crops. A
    /// frame of another size than announced gets no candidates.
    pub fn add_frame(&mut self, img: &RgbView<'_>, hasher: &mut PdqHasher) {
        let mut cands: Candidates = Vec::new();
        if img.width == self.tracker.width && img.height == self.tracker.height {
            let bars = frame_bars(img);
            self.tracker.observe(&bars);
            let own = rect_inside(bars.depth, img.width, img.height)
                .filter(|_| bars.informative[0] && bars.informative[1]);
            for r in [own, self.tracker.rect()].into_iter().flatten() {
                if cands
                    .iter()
                    .any(|(c, _)| c.close_to(&r, img.width, img.height, SAME_CROP))
                {
                    continue;
                }
                let mut views = Vec::new();
                push_crop(img, &r, Crop::Letterbox, self.dihedral, hasher, &mut views);
                cands.push((r, views));
            }
        }
        self.pending.push(cands);
    }

    /// The bars agreed on over the frames added so far: the crop that the
    /// letterbox TMK view (`crate::video::tmk_frames::TrimmedTmk`) applies
    /// to the frames that come now, since it cannot wait for the final
    /// bars either.
    pub fn bars_so_far(&self) -> Option<Rect> {
        self.tracker.rect()
    }

    /// The final bars (if any) and, per frame in the order added, its
    /// letterbox views (empty when there are no bars, or none of the
    /// frame's crops agrees with them).
    pub fn finish(self) -> (Option<Rect>, Vec<Vec<ViewHash>>) {
        let (w, h) = (self.tracker.width, self.tracker.height);
        let Some(fin) = self.tracker.rect() else {
            return (None, self.pending.iter().map(|_| Vec::new()).collect());
        };
        let off = |r: &Rect| {
            r.x.abs_diff(fin.x)
                + r.y.abs_diff(fin.y)
                + (r.x + r.w).abs_diff(fin.x + fin.w)
                + (r.y + r.h).abs_diff(fin.y + fin.h)
        };
        let views = self
            .pending
            .into_iter()
            .map(|cands| {
                cands
                    .into_iter()
                    .filter(|(r, _)| r.close_to(&fin, w, h, FINAL_TOLERANCE))
                    .min_by_key(|(r, _)| off(r))
                    .map(|(_, v)| v)
                    .unwrap_or_default()
            })
            .collect();
        (Some(fin), views)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pdq::LumaRule;

    /// A textured w x h frame (varying with `seed`) inside black bars
    /// `[top, bottom, left, right]`; `dark_top` rows of the picture black.
    fn frame(w: usize, h: usize, bars: [usize; 4], seed: usize, dark_top: usize) -> Vec<u8> {
        let [t, b, l, r] = bars;
        let mut v = vec![0u8; w * h * 3];
        for y in t..h - b {
            for x in l..w - r {
                if y < t + dark_top {
                    continue;
                }
                let o = 3 * (y * w + x);
                let g = ((x * 7 + y * 13 + seed * 31) % 97 + (x * y + seed) % 61) as u8 + 40;
                v[o] = g;
                v[o + 1] = g.wrapping_mul(3);
                v[o + 2] = 255 - g;
            }
        }
        v
    }

    fn view(v: &[u8], w: usize, h: usize) -> RgbView<'_> {
        RgbView::with_stride(v, w, h, w * 3, LumaRule::Reference)
    }

    #[test]
    fn one_frame_bars() {
        let f = frame(160, 120, [10, 12, 0, 0], 1, 0);
        let b = frame_bars(&view(&f, 160, 120));
        assert_eq!(b.depth, [10, 12, 0, 0]);
        assert_eq!(b.informative, [true, true]);
        let black = vec![0u8; 160 * 120 * 3];
        let b = frame_bars(&view(&black, 160, 120));
        assert_eq!(b.informative, [false, false]);
    }

    #[test]
    fn consensus_ignores_dark_scenes_and_black_frames() {
        let (w, h) = (200, 150);
        let mut t = BarTracker::new(w, h);
        for s in 0..10 {
            // Three frames of ten have a dark top to their picture.
            let dark = if s % 3 == 0 { 20 } else { 0 };
            let f = frame(w, h, [0, 0, 25, 25], s, dark);
            t.observe(&frame_bars(&view(&f, w, h)));
        }
        t.observe(&frame_bars(&view(&vec![0u8; w * h * 3], w, h)));
        assert_eq!(t.agreed(), [0, 0, 25, 25]);
        assert_eq!(
            t.rect(),
            Some(Rect {
                x: 25,
                y: 0,
                w: 150,
                h: 150
            })
        );
    }

    #[test]
    fn a_bar_on_a_minority_of_frames_is_no_bar() {
        let (w, h) = (200, 150);
        let mut t = BarTracker::new(w, h);
        for s in 0..10 {
            let bars = if s < 4 { [15, 15, 0, 0] } else { [0; 4] };
            let f = frame(w, h, bars, s, 0);
            t.observe(&frame_bars(&view(&f, w, h)));
        }
        assert_eq!(t.rect(), None);
    }

    #[test]
    fn every_frame_gets_the_final_crop() {
        let (w, h) = (180, 140);
        let mut lb = LetterboxViews::new(w, h, true);
        let mut hasher = PdqHasher::new();
        let mut expect = Vec::new();
        for s in 0..6 {
            // The first frame's picture starts dark: its own bars are
            // deeper than the video's.
            let dark = if s == 0 { 30 } else { 0 };
            let f = frame(w, h, [20, 20, 0, 0], s, dark);
            lb.add_frame(&view(&f, w, h), &mut hasher);
            let inner: Vec<u8> = f[3 * w * 20..3 * w * (h - 20)].to_vec();
            let src = crate::pdq::Rgb8::new(&inner, w, h - 40, LumaRule::Reference).unwrap();
            expect.push(hasher.dihedral(&src).hashes[0]);
        }
        let (fin, views) = lb.finish();
        assert_eq!(
            fin,
            Some(Rect {
                x: 0,
                y: 20,
                w,
                h: h - 40
            })
        );
        assert_eq!(views.len(), 6);
        for (i, v) in views.iter().enumerate().skip(1) {
            assert_eq!(v.len(), 8, "frame {i}");
            assert_eq!(v[0].view.to_string(), "letterbox");
            assert_eq!(v[0].hash, expect[i], "frame {i}");
            assert_eq!(v[4].view.to_string(), "letterbox+flipx");
        }
        // Frame 0 saw only its own (too deep) bars: no crop agrees.
        assert!(views[0].is_empty());
    }

    #[test]
    fn no_bars_no_views() {
        let (w, h) = (120, 90);
        let mut lb = LetterboxViews::new(w, h, false);
        let mut hasher = PdqHasher::new();
        for s in 0..4 {
            let f = frame(w, h, [0; 4], s, 0);
            lb.add_frame(&view(&f, w, h), &mut hasher);
        }
        let (fin, views) = lb.finish();
        assert_eq!(fin, None);
        assert_eq!(views.len(), 4);
        assert!(views.iter().all(Vec::is_empty));
    }
}
