//! A caption band on one side of a video: a band of one colour carrying
//! text (or a logo) added above, below or beside the picture, found over
//! the sampled frames. The letterbox-trimmed TMK+PDQF takes centred bars
//! only (`crate::video::tmk_frames::TrimmedTmk`); this is what lets a
//! second trimmed TMK (`band`) take a band on one side.
//!
//! Why so strict: TMK+PDQF is one hash of the whole video, so a wrong crop
//! of a smooth picture can lift an unrelated video over a listed one (a
//! one-sided crop of a wallpaper's flat left side did so in the
//! evaluation, `benches/eval/run_tmk_eval.py`). A flat side of the picture
//! (a sky, a wall) looks like a bar on any one frame, and on a pan over a
//! still picture it can even stay the same from frame to frame. What a
//! band added by an edit has that the picture does not, all required:
//!
//! * it does not change at all while the picture beside it does: each of
//!   its lines stays as on the first sampled frame (within compression
//!   noise), and the line after it changes (the static run from the edge
//!   is the band, [`STATIC_TOL`]);
//! * it is one colour: its outer line and its inner line (the margins on
//!   both sides of the text) are uniform lines of the same colour, and
//!   every line keeps at least [`BAND_SHARE`] of it;
//! * it carries something: some of its lines are not uniform (the text).
//!   A static uniform band is a flat part of the picture as often as a
//!   bar, and uniform bars are the letterbox view's, which wants them
//!   centred;
//! * it is of a plausible size ([`MIN_BAND_FRACTION`] to
//!   [`MAX_BAND_FRACTION`] of the side) and on one side only.
//!
//! Cost: the first sampled frame's outer lines are kept (at most
//! [`SAMPLES`] luma values a line, 40 % of each side); each later sampled
//! frame compares lines only while they are still static, so a video
//! without a band compares about one line a side a frame.

use super::sides::{luma, Side, SIDES};
use super::{Rect, RgbView};

/// Lines are sampled at most this many points along their length.
const SAMPLES: usize = 128;
/// Deepest band looked for, as a share of the side (a static run this
/// deep is the picture standing still, not a band).
const MAX_SIDE_FRACTION: f64 = 0.4;
/// Bands thinner than this share of the side are not taken (a thin
/// strip changes little of the hash) ...
const MIN_BAND_FRACTION: f64 = 0.05;
/// ... nor thicker than this (a caption is a strip, not half the frame).
const MAX_BAND_FRACTION: f64 = 0.35;
/// A line is static while the mean absolute difference of its luma from
/// the first sampled frame's stays at most this plus [`STATIC_TEXTURE`]
/// times the line's own deviation: a flat band line of a re-encode moves
/// by 0 to 1.1 (the most beside the text and the picture), text lines
/// carry coding noise around their edges (up to 3.5 on the evaluation
/// corpus, at a deviation of 116), while a pan's picture moves by 5 to
/// 90. Not enough for the edge line of a solid block of "text" (10 at a
/// deviation of 109 between an I-frame and the frames after it, on an
/// HD copy of a sample video): such a band is then too thin, no view. (A picture that moves by less, such as a still misty lake, is
/// taken for part of the band, which then reaches into the picture and
/// fails the rule: no view, not a wrong one.)
const STATIC_TOL: f64 = 2.0;
const STATIC_TEXTURE: f64 = 0.04;
/// A line is uniform when the mean absolute deviation of its luma is at
/// most this (as the letterbox detector has it) ...
const MAX_DEVIATION: f64 = 6.0;
/// ... and of the band's colour when its mean is within this of it.
const MAX_LUMA_DRIFT: f64 = 10.0;
/// Every band line keeps at least this share of the band's colour (text
/// covers less than two thirds of a line) ...
const BAND_SHARE: f64 = 0.35;
/// ... a sample has the band's colour within this luma.
const BAND_TOL: i32 = 40;
/// Sampled frames needed before a band is believed: the first is the
/// reference, the others show it does not change.
pub const MIN_FRAMES: u32 = 3;

/// Luma samples of line `i` from `side` into `out` (cleared first).
fn line(img: &RgbView<'_>, side: Side, i: usize, out: &mut Vec<u8>) {
    out.clear();
    let len = side.line_len(img);
    let step = len.div_ceil(SAMPLES).max(1);
    out.extend((0..len).step_by(step).map(|k| luma(side.px(img, i, k))));
}

fn mean(v: &[u8]) -> f64 {
    v.iter().map(|&x| f64::from(x)).sum::<f64>() / v.len().max(1) as f64
}

fn deviation(v: &[u8]) -> f64 {
    let m = mean(v);
    v.iter().map(|&x| (f64::from(x) - m).abs()).sum::<f64>() / v.len().max(1) as f64
}

/// One side: the first sampled frame's lines from the edge inwards, and
/// how many of them have stayed the same so far.
#[derive(Debug, Clone)]
struct SideRef {
    /// `depth` lines of `n` samples each, outermost first.
    lines: Vec<u8>,
    n: usize,
    /// Per line: mean absolute deviation on the first frame.
    dev: Vec<f64>,
    /// Lines from the edge unchanged on every sampled frame so far.
    still: usize,
}

impl SideRef {
    fn line(&self, i: usize) -> &[u8] {
        &self.lines[i * self.n..(i + 1) * self.n]
    }
}

/// Why a side's static run is not a caption band (for the tests, and for
/// whoever tunes the rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotABand {
    /// Thinner than [`MIN_BAND_FRACTION`] (or nothing static at all).
    TooThin,
    /// Thicker than [`MAX_BAND_FRACTION`]: the picture stands still.
    TooThick,
    /// Its outer or inner line is not uniform, or not of one colour.
    NoMargins,
    /// A line lost the band's colour.
    NotOneColour,
    /// Uniform throughout: a flat part of the picture as often as a bar.
    NothingOnIt,
}

/// Caption bands agreed on over a video's sampled frames (see the module
/// docs): feed every sampled frame in order with [`observe`], read the
/// band so far with [`rect`].
///
/// [`observe`]: StaticBands::observe
/// [`rect`]: StaticBands::rect
#[derive(Debug, Clone)]
pub struct StaticBands {
    width: usize,
    height: usize,
    sides: Vec<SideRef>,
    frames: u32,
    /// A frame of another size came: no band (the lines are not the same
    /// lines any more).
    broken: bool,
    scratch: Vec<u8>,
}

impl StaticBands {
    /// For sampled frames of `width` x `height`.
    pub fn new(width: usize, height: usize) -> Self {
        StaticBands {
            width,
            height,
            sides: Vec::new(),
            frames: 0,
            broken: width < 32 || height < 32,
            scratch: Vec::new(),
        }
    }

    /// Sampled frames seen so far.
    pub fn frames(&self) -> u32 {
        self.frames
    }

    fn side_len(&self, side: Side) -> usize {
        match side {
            Side::Top | Side::Bottom => self.height,
            Side::Left | Side::Right => self.width,
        }
    }

    /// Look at the next sampled frame.
    pub fn observe(&mut self, img: &RgbView<'_>) {
        if self.broken {
            return;
        }
        if img.width != self.width || img.height != self.height || !img.is_valid() {
            self.broken = true;
            self.sides.clear();
            return;
        }
        self.frames += 1;
        let mut buf = std::mem::take(&mut self.scratch);
        if self.sides.is_empty() {
            for side in SIDES {
                let depth = ((self.side_len(side) as f64 * MAX_SIDE_FRACTION) as usize).max(1);
                let mut s = SideRef {
                    lines: Vec::new(),
                    n: 0,
                    dev: Vec::with_capacity(depth),
                    still: depth,
                };
                for i in 0..depth {
                    line(img, side, i, &mut buf);
                    s.n = buf.len();
                    s.dev.push(deviation(&buf));
                    s.lines.extend_from_slice(&buf);
                }
                self.sides.push(s);
            }
        } else {
            for (s, side) in self.sides.iter_mut().zip(SIDES) {
                // Only the lines still static can shorten the run: a
                // video without a band compares about one line a side.
                for i in 0..s.still {
                    line(img, side, i, &mut buf);
                    let diff = buf
                        .iter()
                        .zip(s.line(i))
                        .map(|(&a, &b)| f64::from(a.abs_diff(b)))
                        .sum::<f64>()
                        / buf.len().max(1) as f64;
                    if diff > STATIC_TOL + STATIC_TEXTURE * s.dev[i] {
                        s.still = i;
                        break;
                    }
                }
            }
        }
        self.scratch = buf;
    }

    /// Whether side `k`'s static run is a caption band, by the rule of the
    /// module docs: its depth in lines, or why not.
    fn band(&self, k: usize, side: Side) -> Result<usize, NotABand> {
        let s = &self.sides[k];
        let len = self.side_len(side) as f64;
        let d = s.still;
        if (d as f64) < len * MIN_BAND_FRACTION {
            return Err(NotABand::TooThin);
        }
        if d as f64 > len * MAX_BAND_FRACTION {
            return Err(NotABand::TooThick);
        }
        let (outer, inner) = (s.line(0), s.line(d - 1));
        let colour = mean(outer);
        if s.dev[0] > MAX_DEVIATION
            || s.dev[d - 1] > MAX_DEVIATION
            || (mean(inner) - colour).abs() > MAX_LUMA_DRIFT
        {
            return Err(NotABand::NoMargins);
        }
        let c = colour.round() as i32;
        let one_colour = (0..d).all(|i| {
            let l = s.line(i);
            let near = l
                .iter()
                .filter(|&&v| (i32::from(v) - c).abs() <= BAND_TOL)
                .count();
            near as f64 >= l.len() as f64 * BAND_SHARE
        });
        if !one_colour {
            return Err(NotABand::NotOneColour);
        }
        // Text: a few lines (1 % of the side, at least 2) that are not
        // uniform.
        let need = ((len / 100.0) as usize).max(2);
        let textured = s.dev[..d].iter().filter(|&&v| v > MAX_DEVIATION).count();
        if textured < need {
            return Err(NotABand::NothingOnIt);
        }
        Ok(d)
    }

    /// The picture beside the caption band agreed on over the frames so
    /// far, when exactly one side has one; `None` before two frames (one
    /// frame cannot show what stays still). The band may still be
    /// undone by later frames: judge the final one with at least
    /// [`MIN_FRAMES`] frames ([`StaticBands::frames`]).
    pub fn rect(&self) -> Option<Rect> {
        if self.broken || self.frames < 2 || self.sides.len() != 4 {
            return None;
        }
        let mut found = None;
        for (k, side) in SIDES.into_iter().enumerate() {
            if let Ok(d) = self.band(k, side) {
                if found.is_some() {
                    // Bands on two sides: a frame or a layout, not a
                    // caption added on one side.
                    return None;
                }
                found = Some((side, d));
            }
        }
        let (side, d) = found?;
        let (w, h) = (self.width, self.height);
        Some(match side {
            Side::Top => Rect {
                x: 0,
                y: d,
                w,
                h: h - d,
            },
            Side::Bottom => Rect {
                x: 0,
                y: 0,
                w,
                h: h - d,
            },
            Side::Left => Rect {
                x: d,
                y: 0,
                w: w - d,
                h,
            },
            Side::Right => Rect {
                x: 0,
                y: 0,
                w: w - d,
                h,
            },
        })
    }

    /// [`rect`](StaticBands::rect) once at least [`MIN_FRAMES`] sampled
    /// frames were seen: the video's band.
    pub fn final_rect(&self) -> Option<Rect> {
        self.rect().filter(|_| self.frames >= MIN_FRAMES)
    }

    /// Why the top side is or is not a band (tests).
    #[cfg(test)]
    fn top(&self) -> Result<usize, NotABand> {
        self.band(0, Side::Top)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: usize = 160;
    const H: usize = 120;

    /// A moving texture (a pan) under a band of `band` rows at the top:
    /// `fill` its colour, and with `text`, dark "glyph" rows in its
    /// middle (margins above and below them).
    fn frame(t: usize, band: usize, fill: u8, text: bool) -> Vec<u8> {
        let mut v = vec![0u8; W * H * 3];
        for y in 0..H {
            for x in 0..W {
                let o = 3 * (y * W + x);
                let g = if y < band {
                    let glyph = text && y >= band / 4 && y < band * 3 / 4 && (x / 3) % 3 == 0;
                    if glyph {
                        20
                    } else {
                        fill
                    }
                } else {
                    (((x + 3 * t) * 7 + y * 13) % 97 + ((x + 3 * t) * y) % 61) as u8 + 40
                };
                v[o..o + 3].copy_from_slice(&[g, g, g]);
            }
        }
        v
    }

    fn run(frames: impl Iterator<Item = Vec<u8>>) -> StaticBands {
        let mut b = StaticBands::new(W, H);
        for f in frames {
            b.observe(&RgbView::packed(&f, W, H));
        }
        b
    }

    #[test]
    fn a_still_caption_band_over_a_moving_picture_is_cut_off() {
        let b = run((0..4).map(|t| frame(t, 24, 235, true)));
        assert_eq!(b.top(), Ok(24));
        assert_eq!(
            b.final_rect(),
            Some(Rect {
                x: 0,
                y: 24,
                w: W,
                h: H - 24
            })
        );
    }

    #[test]
    fn a_band_needs_frames_that_show_it_still() {
        let one = run((0..1).map(|t| frame(t, 24, 235, true)));
        assert_eq!(one.rect(), None);
        let two = run((0..2).map(|t| frame(t, 24, 235, true)));
        assert!(two.rect().is_some());
        assert_eq!(two.final_rect(), None, "two frames are not enough");
    }

    #[test]
    fn flat_still_moving_or_oversized_bands_are_not_caption_bands() {
        // Uniform: a sky that a pan keeps in place.
        let flat = run((0..4).map(|t| frame(t, 24, 235, false)));
        assert_eq!(flat.top(), Err(NotABand::NothingOnIt));
        assert_eq!(flat.final_rect(), None);
        // The "band" changes with the picture: part of it.
        let moving = run((0..4).map(|t| {
            let mut f = frame(t, 24, 235, true);
            f[3 * (5 * W + 10)..3 * (5 * W + 60)].fill((t * 50) as u8);
            f
        }));
        assert_eq!(moving.top(), Err(NotABand::TooThin));
        // A whole still frame: nothing moves, nothing to tell apart.
        let still = run((0..4).map(|_| frame(0, 24, 235, true)));
        assert_eq!(still.top(), Err(NotABand::TooThick));
        assert_eq!(still.final_rect(), None);
        // Deeper than a caption.
        let deep = run((0..4).map(|t| frame(t, 50, 235, true)));
        assert_eq!(deep.top(), Err(NotABand::TooThick));
        // Too thin to matter.
        let thin = run((0..4).map(|t| frame(t, 4, 235, true)));
        assert_eq!(thin.top(), Err(NotABand::TooThin));
    }

    #[test]
    fn a_still_textured_region_without_margins_is_not_a_band() {
        // A static camera's still part: texture up to the changing part,
        // no uniform inner line.
        let b = run((0..4).map(|t| {
            let mut f = frame(t, 24, 235, true);
            for y in 20..24 {
                for x in 0..W {
                    let o = 3 * (y * W + x);
                    let g = ((x * 11) % 200) as u8;
                    f[o..o + 3].copy_from_slice(&[g, g, g]);
                }
            }
            f
        }));
        assert_eq!(b.top(), Err(NotABand::NoMargins));
        assert_eq!(b.final_rect(), None);
    }

    #[test]
    fn a_frame_of_another_size_ends_the_band() {
        let mut b = run((0..3).map(|t| frame(t, 24, 235, true)));
        assert!(b.final_rect().is_some());
        let small = vec![0u8; 64 * 64 * 3];
        b.observe(&RgbView::packed(&small, 64, 64));
        assert_eq!(b.final_rect(), None);
    }
}
