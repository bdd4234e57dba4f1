//! Which `between` frames are worth a PDQ: those that moved.
//!
//! Why: the frames between two vPDQ samples (up to 29 a second) are hashed
//! for the query side only, so that a clip cut out of phase with the
//! listed video's once-a-second frames still has a frame near each listed
//! one. A frame whose picture barely differs from the last frame hashed
//! would get (nearly) the same PDQ, and its between-bag is deduplicated by
//! hash anyway: it adds nothing but cost (most of what views cost on SD
//! video; issue 16). A static shot, a slow pan or a talking head then
//! costs a few PDQs a second instead of 29; fast motion is hashed frame by
//! frame as before.
//!
//! How "barely differs" is told cheaply: a [`Sketch`] is a small PDQ-like
//! hash of the Y plane (32x32 block means, their 16x16 lowest DCT
//! frequencies, one bit per coefficient above the median: PDQ's own
//! recipe at a fraction of its cost, no blur, no float luma). PDQ bits flip
//! when coefficients cross the median, so a sketch that moved by few bits
//! means a PDQ that moved by few bits, whatever the picture's contrast.

use super::between::Plane;

/// Side of the grid of block means.
const GRID: usize = 32;
/// DCT frequencies kept a side (PDQ's 16).
const FREQS: usize = 16;

/// At most this many bits between a frame's sketch and the last hashed
/// frame's, and the frame is not hashed. Chosen on the evaluation corpora
/// with every frame hashed (README, issue 16): at 4, 38% of SD between
/// frames are hashed (42% HD), the skipped ones' PDQ a median 4 bits from
/// the last hashed frame's, and no listed frame that a clip_offset copy
/// reached within 31 bits is lost; at 6 one is. Sketch distances come in
/// even numbers (a bit that crosses the median moves another back).
pub const DEFAULT_MAX_STILL_BITS: u32 = 4;

/// A 256-bit PDQ-like hash of an 8-bit plane (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sketch([u64; 4]);

impl Sketch {
    pub fn distance(&self, other: &Sketch) -> u32 {
        self.0
            .iter()
            .zip(&other.0)
            .map(|(a, b)| (a ^ b).count_ones())
            .sum()
    }
}

/// Computes sketches; keeps its column sums and DCT basis between frames.
pub struct Sketcher {
    /// `basis[f][i]`: cosine of frequency `f` at cell `i` (unscaled: the
    /// bits only compare coefficients with each other).
    basis: [[f32; GRID]; FREQS],
    cols: Vec<u16>,
}

impl Default for Sketcher {
    fn default() -> Self {
        let mut basis = [[0f32; GRID]; FREQS];
        for (f, row) in basis.iter_mut().enumerate() {
            for (i, v) in row.iter_mut().enumerate() {
                let a = std::f64::consts::PI * f as f64 * (2 * i + 1) as f64 / (2 * GRID) as f64;
                *v = a.cos() as f32;
            }
        }
        Sketcher {
            basis,
            cols: Vec::new(),
        }
    }
}

impl Sketcher {
    /// The sketch of `plane`; `None` when the plane is smaller than the
    /// grid or its buffer too short (such a frame is then always hashed).
    pub fn sketch(&mut self, plane: Plane) -> Option<Sketch> {
        let Plane {
            data,
            width,
            height,
            stride,
        } = plane;
        if width < GRID || height < GRID || stride < width {
            return None;
        }
        if data.len() < (height - 1) * stride + width {
            return None;
        }
        // Tall planes are read a row in `step`: 8 to 16 rows a cell still
        // average out noise, and a 1080p plane costs a quarter. A cell
        // then sums at most 17 rows (u16 column sums cannot overflow).
        let step = (height / (GRID * 8)).max(1);
        let xb: [usize; GRID + 1] = std::array::from_fn(|i| i * width / GRID);
        let mut grid = [[0f32; GRID]; GRID];
        for (cy, cell_row) in grid.iter_mut().enumerate() {
            let (y0, y1) = (cy * height / GRID, (cy + 1) * height / GRID);
            self.cols.clear();
            self.cols.resize(width, 0);
            let mut rows = 0usize;
            for y in (y0..y1).step_by(step) {
                let row = &data[y * stride..y * stride + width];
                // Whole rows into u16 column sums: what the compiler
                // vectorises, 16 bytes at a time.
                for (s, &v) in self.cols.iter_mut().zip(row) {
                    *s += u16::from(v);
                }
                rows += 1;
            }
            debug_assert!(rows <= 257);
            for (cx, cell) in cell_row.iter_mut().enumerate() {
                let cols = &self.cols[xb[cx]..xb[cx + 1]];
                let sum: u32 = cols.iter().map(|&v| u32::from(v)).sum();
                *cell = sum as f32 / (rows * cols.len()) as f32;
            }
        }
        // B = D G D^T over the 16 lowest frequencies a side.
        let mut t = [[0f32; FREQS]; GRID];
        for (ti, gi) in t.iter_mut().zip(&grid) {
            for (tf, bf) in ti.iter_mut().zip(&self.basis) {
                *tf = gi.iter().zip(bf).map(|(g, b)| g * b).sum();
            }
        }
        let mut coefs = [0f32; FREQS * FREQS];
        for (u, bu) in self.basis.iter().enumerate() {
            for v in 0..FREQS {
                coefs[u * FREQS + v] = t.iter().zip(bu).map(|(ti, b)| ti[v] * b).sum();
            }
        }
        let mut sorted = coefs;
        let mid = FREQS * FREQS / 2;
        let (_, median, _) = sorted.select_nth_unstable_by(mid, f32::total_cmp);
        let median = *median;
        let mut bits = [0u64; 4];
        for (k, &c) in coefs.iter().enumerate() {
            if c > median {
                bits[k / 64] |= 1 << (k % 64);
            }
        }
        Some(Sketch(bits))
    }
}

/// Decides, frame by frame in decode order, which `between` frames are
/// hashed: those whose sketch is more than `max_still_bits` from the last
/// hashed frame's (a sampled frame or a between frame; never the last
/// *skipped* one, so slow drift adds up until a frame is hashed again).
pub struct MotionGate {
    sketcher: Sketcher,
    last: Option<Sketch>,
    max_still_bits: u32,
}

impl MotionGate {
    /// `max_still_bits: None` hashes every between frame.
    pub fn new(max_still_bits: Option<u32>) -> Option<Self> {
        max_still_bits.map(|max_still_bits| MotionGate {
            sketcher: Sketcher::default(),
            last: None,
            max_still_bits,
        })
    }

    /// A sampled frame (always hashed) with this Y plane: the reference
    /// the next between frames are compared with. `None` (no 8-bit plane):
    /// the next between frame is hashed.
    pub fn sampled(&mut self, plane: Option<Plane>) {
        self.last = plane.and_then(|p| self.sketcher.sketch(p));
    }

    /// Whether a between frame with this Y plane is hashed (if so it
    /// becomes the reference). Without a plane or a reference: hashed.
    pub fn between_moved(&mut self, plane: Option<Plane>) -> bool {
        let now = plane.and_then(|p| self.sketcher.sketch(p));
        let still = match (now, self.last) {
            (Some(n), Some(l)) => n.distance(&l) <= self.max_still_bits,
            _ => false,
        };
        if !still {
            self.last = now;
        }
        !still
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pdq::{Grey8, PdqHasher};

    /// A `w x h` window at `dx` into a wide picture-like scene (smooth
    /// shapes at a few scales), with `noise` levels of pseudo-random grain
    /// from `seed` (as an encoder leaves on a still shot).
    pub(super) fn frame(w: usize, h: usize, dx: usize, noise: u32, seed: u32) -> Vec<u8> {
        let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        let mut v = vec![0u8; w * h];
        for y in 0..h {
            for x in 0..w {
                let (u, t) = ((x + dx) as f32 / 400.0, y as f32 / h as f32);
                // Blocks of flat tone with sharp edges (their DCT spreads
                // over all frequencies, as a photo's does) over gradients.
                let blocks = ((u * 7.0).floor() as i32 * 5 + (t * 4.0).floor() as i32 * 3) % 7;
                let f = 60.0 * (u * 5.0 + t * 3.0).sin()
                    + 40.0 * (u * 13.0 - t * 7.0).cos()
                    + 12.0 * blocks as f32
                    - 36.0;
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                let grain = if noise == 0 {
                    0.0
                } else {
                    (state % (2 * noise + 1)) as f32 - noise as f32
                };
                v[y * w + x] = (128.0 + f * 0.6 + grain).clamp(0.0, 255.0) as u8;
            }
        }
        v
    }

    pub(super) fn plane(v: &[u8], w: usize, h: usize) -> Plane<'_> {
        Plane {
            data: v,
            width: w,
            height: h,
            stride: w,
        }
    }

    /// Runs one sampled frame then `frames - 1` between frames through a
    /// gate; the numbers of the between frames it hashed.
    fn hashed(frames: &[Vec<u8>], w: usize, h: usize) -> Vec<usize> {
        let mut gate = MotionGate::new(Some(DEFAULT_MAX_STILL_BITS)).unwrap();
        gate.sampled(Some(plane(&frames[0], w, h)));
        (1..frames.len())
            .filter(|&i| gate.between_moved(Some(plane(&frames[i], w, h))))
            .collect()
    }

    #[test]
    fn a_still_shot_hashes_few_between_frames() {
        let (w, h) = (320, 180);
        // The same picture, flickering by up to 2 levels as a whole.
        let frames: Vec<Vec<u8>> = (0..30)
            .map(|i| {
                frame(w, h, 0, 0, 0)
                    .iter()
                    .map(|&v| v.saturating_add((i % 3) as u8))
                    .collect()
            })
            .collect();
        let n = hashed(&frames, w, h);
        assert!(n.len() <= 2, "a still shot hashed {} of 29: {n:?}", n.len());
    }

    #[test]
    fn a_changing_video_hashes_every_between_frame() {
        // A fast pan: 40 px a frame, a tenth of the scene's widest shape.
        let (w, h) = (320, 180);
        let frames: Vec<Vec<u8>> = (0..30).map(|i| frame(w, h, i * 40, 2, i as u32)).collect();
        assert_eq!(hashed(&frames, w, h), (1..30).collect::<Vec<_>>());
    }

    #[test]
    fn a_slow_pan_is_hashed_as_it_drifts_and_skips_only_near_hashes() {
        // 1 px a frame: the drift adds up against the last hashed frame,
        // so some frames are hashed, not all; every skipped frame's PDQ is
        // within a few bits of the last hashed frame's (what the gate is
        // for: the between bag loses nothing a match needs).
        let (w, h) = (320, 180);
        let frames: Vec<Vec<u8>> = (0..60).map(|i| frame(w, h, i, 0, 0)).collect();
        let kept = hashed(&frames, w, h);
        assert!(
            !kept.is_empty() && kept.len() < 59,
            "hashed {} of 59",
            kept.len()
        );
        let mut pdq = PdqHasher::new();
        let mut hash = |i: usize| pdq.hash(&Grey8::new(&frames[i], w, h, w).unwrap()).hash;
        let mut last = hash(0);
        let mut worst = 0;
        for i in 1..frames.len() {
            let now = hash(i);
            if kept.contains(&i) {
                last = now;
            } else {
                worst = worst.max(now.distance(&last));
            }
        }
        assert!(
            worst <= 16,
            "a skipped frame {worst} bits from the last hashed one"
        );
    }

    #[test]
    fn sketch_follows_the_picture_not_its_contrast() {
        let (w, h) = (320, 180);
        let a = frame(w, h, 0, 0, 0);
        let dim: Vec<u8> = a.iter().map(|&v| v / 2 + 40).collect();
        let other = frame(w, h, 200, 0, 0);
        let mut s = Sketcher::default();
        let sa = s.sketch(plane(&a, w, h)).unwrap();
        // A padded stride gives the same sketch.
        let mut padded = vec![7u8; (w + 13) * h];
        for y in 0..h {
            padded[y * (w + 13)..y * (w + 13) + w].copy_from_slice(&a[y * w..(y + 1) * w]);
        }
        let sp = s
            .sketch(Plane {
                data: &padded,
                width: w,
                height: h,
                stride: w + 13,
            })
            .unwrap();
        assert_eq!(sa, sp);
        let d_dim = sa.distance(&s.sketch(plane(&dim, w, h)).unwrap());
        let d_other = sa.distance(&s.sketch(plane(&other, w, h)).unwrap());
        assert!(d_dim <= DEFAULT_MAX_STILL_BITS, "dimmed: {d_dim} bits");
        assert!(d_other > 64, "another picture: {d_other} bits");
    }

    #[test]
    fn frames_without_a_usable_plane_are_hashed() {
        let mut s = Sketcher::default();
        let tiny = vec![0u8; 20 * 20];
        assert_eq!(s.sketch(plane(&tiny, 20, 20)), None);
        let short = vec![0u8; 100];
        assert_eq!(s.sketch(plane(&short, 64, 64)), None);
        let (w, h) = (320, 180);
        let a = frame(w, h, 0, 0, 0);
        let mut gate = MotionGate::new(Some(DEFAULT_MAX_STILL_BITS)).unwrap();
        // No reference yet (the sampled frame had no plane): hashed.
        gate.sampled(None);
        assert!(gate.between_moved(Some(plane(&a, w, h))));
        // The same picture again: skipped; without a plane: hashed.
        assert!(!gate.between_moved(Some(plane(&a, w, h))));
        assert!(gate.between_moved(None));
        assert!(MotionGate::new(None).is_none());
    }
}
