//! One 64x64 RGB frame to its PDQF feature, and a video's frames to a
//! [`TmkHash`].

use hashdb::tmk::{Feature, FeatureError, TmkAccumulator, TmkHash, FEATURE_DIM};

use crate::pdq::{LumaRule, PdqHasher, Rgb8};

/// TMK+PDQF frames are this many pixels on each side.
pub const FRAME_SIDE: usize = 64;

/// Bytes of one packed rgb24 frame (12,288).
pub const FRAME_BYTES: usize = FRAME_SIDE * FRAME_SIDE * 3;

/// A frame that cannot be hashed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TmkFrameError {
    /// Not one packed 64x64 rgb24 frame.
    #[error("a TMK frame is {FRAME_BYTES} bytes (64x64 rgb24), got {len}")]
    Size { len: usize },
    /// The accumulator refused the feature (cannot happen for 8-bit
    /// pixels; kept typed rather than unwrapped).
    #[error(transparent)]
    Feature(#[from] FeatureError),
}

/// The PDQF feature of one packed 64x64 rgb24 frame: PDQ's 16x16 float DCT
/// block, row-major (index `16 * i + j`).
///
/// The luma is the C++ reference's float32 rule ([`LumaRule::Reference`]:
/// `0.299f * R + 0.587f * G + 0.114f * B`, added left to right), not the
/// Pillow rule of image hashes: TMK's hasher calls the reference's
/// `fillFloatLumaFromRGB`. The frame is already 64x64, so the DCT takes the
/// luma directly (no blur).
pub fn pdqf_feature(pdq: &mut PdqHasher, rgb: &[u8]) -> Result<Feature, TmkFrameError> {
    if rgb.len() != FRAME_BYTES {
        return Err(TmkFrameError::Size { len: rgb.len() });
    }
    let src = Rgb8::new(rgb, FRAME_SIDE, FRAME_SIDE, LumaRule::Reference)
        .map_err(|_| TmkFrameError::Size { len: rgb.len() })?;
    let block = pdq.float_feature(&src);
    let mut feature = [0f32; FEATURE_DIM];
    for (out, v) in feature.iter_mut().zip(block.iter().flatten()) {
        *out = *v;
    }
    Ok(feature)
}

/// A video being hashed: push its 15 fps frames in order, then finish.
#[derive(Default)]
pub struct TmkHasher {
    pdq: PdqHasher,
    acc: TmkAccumulator,
}

impl TmkHasher {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add the next frame (packed 64x64 rgb24). A refused frame adds
    /// nothing.
    pub fn push_rgb24(&mut self, rgb: &[u8]) -> Result<(), TmkFrameError> {
        let feature = pdqf_feature(&mut self.pdq, rgb)?;
        self.acc.push(&feature)?;
        Ok(())
    }

    /// Add the frame as the next `copies` frames (the ffmpeg CLI's
    /// duplicated frames): one feature, accumulated at each position.
    pub fn push_rgb24_copies(&mut self, rgb: &[u8], copies: u64) -> Result<(), TmkFrameError> {
        if copies == 0 {
            return Ok(());
        }
        let feature = pdqf_feature(&mut self.pdq, rgb)?;
        for _ in 0..copies {
            self.acc.push(&feature)?;
        }
        Ok(())
    }

    /// Count the next `n` frames as having no picture (a zero feature;
    /// see [`TmkAccumulator::skip`]).
    pub fn skip(&mut self, n: u64) {
        self.acc.skip(n);
    }

    /// Frames added so far.
    pub fn frames(&self) -> u64 {
        self.acc.frames()
    }

    /// The hash of the frames added (all zero for none, as the reference).
    pub fn finish(self) -> TmkHash {
        self.acc.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hashdb::tmk::{scores, Feature, TmkThresholds};

    /// A moving gradient, one frame per `t`.
    fn frame(t: usize) -> Vec<u8> {
        let mut f = vec![0u8; FRAME_BYTES];
        for y in 0..FRAME_SIDE {
            for x in 0..FRAME_SIDE {
                let i = 3 * (y * FRAME_SIDE + x);
                let v = ((x * 4 + y * 2 + t * 3) % 256) as u8;
                f[i..i + 3].copy_from_slice(&[v, 255 - v, ((x * y + t) % 256) as u8]);
            }
        }
        f
    }

    #[test]
    fn wrong_frame_size_is_refused() {
        let mut h = TmkHasher::new();
        assert_eq!(
            h.push_rgb24(&[0u8; 100]),
            Err(TmkFrameError::Size { len: 100 })
        );
        assert_eq!(h.frames(), 0);
    }

    #[test]
    fn a_video_matches_itself_and_its_frame_count_is_kept() {
        let mut h = TmkHasher::new();
        for t in 0..20 {
            h.push_rgb24(&frame(t)).unwrap();
        }
        let hash = h.finish();
        assert_eq!(hash.frame_count(), 20);
        assert!(TmkThresholds::default().is_match(scores(&hash, &hash)));
    }

    /// `f` mirrored left to right.
    fn mirror(f: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8; FRAME_BYTES];
        for y in 0..FRAME_SIDE {
            for x in 0..FRAME_SIDE {
                let (s, d) = (
                    3 * (y * FRAME_SIDE + x),
                    3 * (y * FRAME_SIDE + FRAME_SIDE - 1 - x),
                );
                out[d..d + 3].copy_from_slice(&f[s..s + 3]);
            }
        }
        out
    }

    #[test]
    fn the_mirrored_hash_is_the_hash_of_the_mirrored_frames() {
        // `TmkHash::mirrored` changes signs instead of hashing mirrored
        // frames: the two must agree (up to the DCT's float rounding,
        // which sums the columns in another order), in every vector.
        let (mut plain, mut mirrored) = (TmkHasher::new(), TmkHasher::new());
        for t in 0..40 {
            plain.push_rgb24(&frame(t)).unwrap();
            mirrored.push_rgb24(&mirror(&frame(t))).unwrap();
        }
        let (from_signs, from_frames) = (plain.finish().mirrored(), mirrored.finish());
        let close = |a: &Feature, b: &Feature| {
            let scale = b.iter().fold(1f32, |m, v| m.max(v.abs()));
            a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-4 * scale)
        };
        assert!(close(from_signs.pure_average(), from_frames.pure_average()));
        for p in 0..hashdb::tmk::NUM_PERIODS {
            for j in 0..hashdb::tmk::NUM_COEFFICIENTS {
                assert!(
                    close(from_signs.cos(p, j), from_frames.cos(p, j)),
                    "cos {p} {j}"
                );
                assert!(
                    close(from_signs.sin(p, j), from_frames.sin(p, j)),
                    "sin {p} {j}"
                );
            }
        }
        let s = scores(&from_signs, &from_frames);
        assert!(s.level1 > 0.9999 && s.level2 > 0.9999, "{s:?}");
        // And a mirrored video is not its original (the test would pass
        // on any hash otherwise).
        let mut again = TmkHasher::new();
        for t in 0..40 {
            again.push_rgb24(&frame(t)).unwrap();
        }
        let original = again.finish();
        assert!(
            scores(&original, &from_frames).level1 < 0.9,
            "{:?}",
            scores(&original, &from_frames)
        );
        assert_eq!(original.mirrored().mirrored(), original);
    }

    #[test]
    fn flat_frames_have_a_zero_feature() {
        // PDQ drops the DC term: a flat frame has (almost) no feature, so
        // the hash must not blow up on it.
        let flat = vec![90u8; FRAME_BYTES];
        let f = pdqf_feature(&mut PdqHasher::new(), &flat).unwrap();
        assert!(f.iter().all(|v| v.abs() < 1e-2), "{f:?}");
        let mut h = TmkHasher::new();
        h.push_rgb24(&flat).unwrap();
        assert!(h.finish().pure_average().iter().all(|v| v.is_finite()));
    }
}
