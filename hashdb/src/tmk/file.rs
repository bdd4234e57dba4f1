//! The `.tmk` value and its byte layout (263,344 bytes, little-endian, no
//! padding, checksum or version field beyond the magics):
//!
//! | offset | size | content |
//! |---|---|---|
//! | 0 | 12 | magics `TMK1`, `FVEC`, `PDQF` |
//! | 12 | 20 | int32 fps (15), P (4), m (32), d (256), frame count |
//! | 32 | 16 | int32 periods |
//! | 48 | 128 | float32 Fourier coefficients |
//! | 176 | 1024 | float32 pure-average feature (not normalised) |
//! | 1200 | 131072 | float32 cosine features `[period][j][k]`, k fastest |
//! | 132272 | 131072 | float32 sine features, same order |
//!
//! The reference writes its structs raw, so in principle a big-endian
//! machine writes big-endian files; every known file is little-endian and
//! that is what is read and written here, on any host.

use std::io::{Read, Write};

use super::accumulate::MAX_FEATURE_ABS;
use super::error::{Magic, Section, TmkFileError};
use super::params::{
    Feature, FEATURE_DIM, FILE_SIZE, FOURIER_COEFFICIENTS, FRAMES_PER_SECOND, HEADER_SIZE,
    NUM_COEFFICIENTS, NUM_PERIODS, PERIODS,
};

const PROJECT_MAGIC: [u8; 4] = *b"TMK1";
const FILE_TYPE_MAGIC: [u8; 4] = *b"FVEC";
const ALGORITHM_MAGIC: [u8; 4] = *b"PDQF";

/// Offsets of the sections after the header.
const PERIODS_AT: usize = HEADER_SIZE;
const COEFFICIENTS_AT: usize = PERIODS_AT + 4 * NUM_PERIODS;
const AVERAGE_AT: usize = COEFFICIENTS_AT + 4 * NUM_COEFFICIENTS;
const COS_AT: usize = AVERAGE_AT + 4 * FEATURE_DIM;
const SIN_AT: usize = COS_AT + 4 * NUM_PERIODS * NUM_COEFFICIENTS * FEATURE_DIM;

/// Side of PDQ's DCT block a feature is (16 x 16, row-major).
const DCT_SIDE: usize = 16;
const _: () = assert!(DCT_SIDE * DCT_SIDE == FEATURE_DIM);

/// Cos/sin vectors per file: one per (period, coefficient).
pub(super) const VECTORS: usize = NUM_PERIODS * NUM_COEFFICIENTS;

/// One TMK+PDQF hash: a fixed-size summary of a whole video.
///
/// Always valid: the parameters are TMK+PDQF's (see [`super::params`]),
/// the frame count fits an int32 and every stored value is finite, so any
/// two values can be scored against each other.
#[derive(Clone, PartialEq)]
pub struct TmkHash {
    frame_count: i32,
    pure_average: Feature,
    /// `VECTORS` vectors, index `period * NUM_COEFFICIENTS + j`.
    cos: Vec<Feature>,
    sin: Vec<Feature>,
}

impl std::fmt::Debug for TmkHash {
    // 64 Ki floats are no use in a panic message; the frame count and the
    // first values identify a hash well enough.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TmkHash")
            .field("frame_count", &self.frame_count)
            .field("pure_average[..4]", &&self.pure_average[..4])
            .finish_non_exhaustive()
    }
}

impl TmkHash {
    /// Build from parts the accumulator computed (already finite).
    pub(super) fn from_parts(
        frame_count: i32,
        pure_average: Feature,
        cos: Vec<Feature>,
        sin: Vec<Feature>,
    ) -> Self {
        debug_assert!(frame_count >= 0 && cos.len() == VECTORS && sin.len() == VECTORS);
        TmkHash {
            frame_count,
            pure_average,
            cos,
            sin,
        }
    }

    /// The hash of the same video mirrored left to right, without its
    /// frames: PDQF is PDQ's 16x16 DCT block of the 64x64 luma, row-major,
    /// and mirroring a picture multiplies its horizontal frequency `k` by
    /// `(-1)^k` (`cos(pi k (2(63-x)+1)/128) = (-1)^k cos(pi k (2x+1)/128)`;
    /// PDQ's block skips the DC term, so column `c` is `k = c + 1`: the
    /// even columns change sign). Every stored vector is a sum of features
    /// (normalised ones keep their norm under a sign change), so the same
    /// sign changes of every vector give the mirrored video's hash, exactly
    /// as accumulating the mirrored features would (negation rounds
    /// nothing). A query-side view: a listed copy that was mirrored is
    /// found by this hash of the query.
    pub fn mirrored(&self) -> TmkHash {
        fn flip(f: &Feature) -> Feature {
            let mut out = *f;
            for (n, v) in out.iter_mut().enumerate() {
                if (n % DCT_SIDE).is_multiple_of(2) {
                    *v = -*v;
                }
            }
            out
        }
        self.map_features(flip)
    }

    /// The same hash with `f` applied to each of its feature vectors (the
    /// pure average and every cos / sin vector), as the mirror and the
    /// turns change them.
    fn map_features(&self, f: impl Fn(&Feature) -> Feature) -> TmkHash {
        TmkHash {
            frame_count: self.frame_count,
            pure_average: f(&self.pure_average),
            cos: self.cos.iter().map(&f).collect(),
            sin: self.sin.iter().map(&f).collect(),
        }
    }

    /// The hash of the same video turned by `kind` (rotated by 90, 180 or
    /// 270 degrees, mirrored, flipped upside down or transposed), without
    /// its frames, as [`TmkHash::mirrored`] does for the mirror: a turn of
    /// the 64x64 frame only transposes PDQ's DCT block and changes the
    /// signs of its odd or even frequencies (`cos(pi k (2(63-x)+1)/128) =
    /// (-1)^k cos(pi k (2x+1)/128)`, and the 2-D DCT of a transposed frame
    /// is the transposed DCT). The table is PDQ's own
    /// (`pdq::DihedralKind`'s transforms of its block), whose block is
    /// indexed [horizontal][vertical] where ours is row-major
    /// [vertical][horizontal]; `FlipX` is [`TmkHash::mirrored`]. Exact as
    /// accumulating the turned features would be (sign changes and
    /// permutations round nothing); the frames themselves are turned after
    /// the 64x64 scale here, not before, so a turned file's own hash is
    /// close to this, not equal (`tests/it/tmk_lists.rs` measures it on
    /// videos turned by the `ffmpeg` CLI).
    pub fn turned(&self, kind: pdq::DihedralKind) -> TmkHash {
        use pdq::DihedralKind as K;
        let turn = |f: &Feature| -> Feature {
            let mut out = [0f32; FEATURE_DIM];
            for r in 0..DCT_SIDE {
                for c in 0..DCT_SIDE {
                    // PDQ's block index: i horizontal, j vertical.
                    let (i, j, v) = (c, r, f[r * DCT_SIDE + c]);
                    let neg = |odd_keeps: bool| if odd_keeps { v } else { -v };
                    let (bi, bj, w) = match kind {
                        K::Original => (i, j, v),
                        K::Rotate90 => (j, i, neg(j & 1 == 1)),
                        K::Rotate180 => (i, j, neg((i + j) & 1 == 0)),
                        K::Rotate270 => (j, i, neg(i & 1 == 1)),
                        K::FlipX => (i, j, neg(i & 1 == 1)),
                        K::FlipY => (i, j, neg(j & 1 == 1)),
                        K::FlipPlus1 => (j, i, v),
                        K::FlipMinus1 => (j, i, neg((i + j) & 1 == 0)),
                    };
                    out[bj * DCT_SIDE + bi] = w;
                }
            }
            out
        };
        self.map_features(turn)
    }

    /// How many 15 fps frames were hashed (informational: scores ignore it).
    pub fn frame_count(&self) -> u32 {
        self.frame_count.unsigned_abs()
    }

    /// The average of the raw frame features (not normalised: values in
    /// the hundreds). Level-1 compares these.
    pub fn pure_average(&self) -> &Feature {
        &self.pure_average
    }

    /// The cosine feature of period index `p` (< 4) and coefficient `j`
    /// (< 32); its squared norm is `a_j`.
    pub fn cos(&self, p: usize, j: usize) -> &Feature {
        &self.cos[p * NUM_COEFFICIENTS + j]
    }

    /// The sine feature of period index `p` and coefficient `j` (zero for
    /// `j == 0`).
    pub fn sin(&self, p: usize, j: usize) -> &Feature {
        &self.sin[p * NUM_COEFFICIENTS + j]
    }

    /// Parse a whole `.tmk` file, checking every header field against
    /// TMK+PDQF's parameters, the exact length, and that every value is
    /// finite.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TmkFileError> {
        let len = bytes.len();
        if len < HEADER_SIZE {
            return Err(TmkFileError::Truncated { len });
        }
        check_magics(bytes)?;
        let fps = i32_at(bytes, 12);
        if fps != FRAMES_PER_SECOND {
            return Err(TmkFileError::FrameRate { found: fps });
        }
        let (periods, coefficients, dimension) =
            (i32_at(bytes, 16), i32_at(bytes, 20), i32_at(bytes, 24));
        if (periods, coefficients, dimension)
            != (
                NUM_PERIODS as i32,
                NUM_COEFFICIENTS as i32,
                FEATURE_DIM as i32,
            )
        {
            return Err(TmkFileError::Shape {
                periods,
                coefficients,
                dimension,
            });
        }
        let frame_count = i32_at(bytes, 28);
        if frame_count < 0 {
            return Err(TmkFileError::FrameCount { found: frame_count });
        }
        // The header fixes the length; only now is a short file "truncated"
        // rather than "of another kind".
        if len < FILE_SIZE {
            return Err(TmkFileError::Truncated { len });
        }
        if len > FILE_SIZE {
            return Err(TmkFileError::TrailingBytes { len });
        }
        let found: [i32; NUM_PERIODS] = std::array::from_fn(|i| i32_at(bytes, PERIODS_AT + 4 * i));
        if found != PERIODS {
            return Err(TmkFileError::Periods { found });
        }
        for (index, &expected) in FOURIER_COEFFICIENTS.iter().enumerate() {
            let found = f32_at(bytes, COEFFICIENTS_AT + 4 * index);
            // Bit for bit: every reference file carries these exact floats,
            // and the level-2 normaliser is computed from them.
            if found.to_bits() != expected.to_bits() {
                return Err(TmkFileError::Coefficient {
                    index,
                    found,
                    expected,
                });
            }
        }
        let pure_average = read_feature(bytes, AVERAGE_AT, Section::PureAverage, 0)?;
        if let Some((index, &value)) = pure_average
            .iter()
            .enumerate()
            .find(|(_, v)| v.abs() > MAX_FEATURE_ABS)
        {
            return Err(TmkFileError::OutOfRange {
                index,
                value,
                max: MAX_FEATURE_ABS,
            });
        }
        let cos = read_vectors(bytes, COS_AT, Section::Cos)?;
        let sin = read_vectors(bytes, SIN_AT, Section::Sin)?;
        check_norms(&cos, Section::Cos)?;
        check_norms(&sin, Section::Sin)?;
        Ok(TmkHash {
            frame_count,
            pure_average,
            cos,
            sin,
        })
    }

    /// Read one `.tmk` file from `r` (at most one byte past the layout is
    /// read, to tell a longer file from an exact one).
    pub fn read_from(r: impl Read) -> Result<Self, TmkFileError> {
        let mut bytes = Vec::with_capacity(FILE_SIZE + 1);
        r.take(FILE_SIZE as u64 + 1).read_to_end(&mut bytes)?;
        Self::from_bytes(&bytes)
    }

    /// The file bytes, exactly as the reference writes them.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(FILE_SIZE);
        out.extend_from_slice(&PROJECT_MAGIC);
        out.extend_from_slice(&FILE_TYPE_MAGIC);
        out.extend_from_slice(&ALGORITHM_MAGIC);
        for v in [
            FRAMES_PER_SECOND,
            NUM_PERIODS as i32,
            NUM_COEFFICIENTS as i32,
            FEATURE_DIM as i32,
            self.frame_count,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for p in PERIODS {
            out.extend_from_slice(&p.to_le_bytes());
        }
        let floats = FOURIER_COEFFICIENTS
            .iter()
            .chain(self.pure_average.iter())
            .chain(self.cos.iter().flatten())
            .chain(self.sin.iter().flatten());
        for v in floats {
            out.extend_from_slice(&v.to_le_bytes());
        }
        debug_assert_eq!(out.len(), FILE_SIZE);
        out
    }

    /// Write the file bytes to `w`.
    pub fn write_to(&self, mut w: impl Write) -> std::io::Result<()> {
        w.write_all(&self.to_bytes())
    }
}

/// The three magics, each with its own error: a future `TMK2`, a frame
/// dump (`VSTR`) and a hash of another algorithm are different mistakes.
fn check_magics(bytes: &[u8]) -> Result<(), TmkFileError> {
    let project = magic_at(bytes, 0);
    if project.0 != PROJECT_MAGIC {
        return Err(if project.0[..3] == PROJECT_MAGIC[..3] {
            TmkFileError::Version { found: project }
        } else {
            TmkFileError::NotTmk { found: project }
        });
    }
    let file_type = magic_at(bytes, 4);
    if file_type.0 != FILE_TYPE_MAGIC {
        return Err(TmkFileError::FileType { found: file_type });
    }
    let algorithm = magic_at(bytes, 8);
    if algorithm.0 != ALGORITHM_MAGIC {
        return Err(TmkFileError::Algorithm { found: algorithm });
    }
    Ok(())
}

// The accessors below are only called at offsets the caller has checked
// against the length (HEADER_SIZE or FILE_SIZE), so the slices are in range.

fn four(bytes: &[u8], at: usize) -> [u8; 4] {
    [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]
}

fn magic_at(bytes: &[u8], at: usize) -> Magic {
    Magic(four(bytes, at))
}

fn i32_at(bytes: &[u8], at: usize) -> i32 {
    i32::from_le_bytes(four(bytes, at))
}

fn f32_at(bytes: &[u8], at: usize) -> f32 {
    f32::from_le_bytes(four(bytes, at))
}

/// One feature vector at `at`; `first_index` numbers its values within
/// `section` for the error.
fn read_feature(
    bytes: &[u8],
    at: usize,
    section: Section,
    first_index: usize,
) -> Result<Feature, TmkFileError> {
    let mut v = [0f32; FEATURE_DIM];
    for (k, out) in v.iter_mut().enumerate() {
        let value = f32_at(bytes, at + 4 * k);
        if !value.is_finite() {
            return Err(TmkFileError::NonFinite {
                section,
                index: first_index + k,
                value,
            });
        }
        *out = value;
    }
    Ok(v)
}

/// Every cos/sin vector of a hash is a unit vector (or zero) scaled by
/// `sqrt(a_j)` (see the accumulator's `finish`). Larger vectors are refused:
/// level 2 is not divided by the vectors' norms, so a file with huge values
/// (a hostile list entry, or query) would score far above 1 against every
/// video, or overflow to infinity (found by the `tmk_file` fuzz target).
/// Smaller ones cannot raise a score and are let through.
fn check_norms(vectors: &[Feature], section: Section) -> Result<(), TmkFileError> {
    for (vector, v) in vectors.iter().enumerate() {
        // In double: a sum of float32 squares can overflow float32.
        let norm = v
            .iter()
            .map(|&e| f64::from(e) * f64::from(e))
            .sum::<f64>()
            .sqrt();
        let max = f64::from(FOURIER_COEFFICIENTS[vector % NUM_COEFFICIENTS]).sqrt() * NORM_SLACK;
        if norm > max {
            return Err(TmkFileError::VectorNorm {
                section,
                vector,
                norm,
                max,
            });
        }
    }
    Ok(())
}

/// Relative room over `sqrt(a_j)` for float32 rounding in normalising and
/// scaling (about 1e-6 in practice).
const NORM_SLACK: f64 = 1.0 + 1e-4;

fn read_vectors(bytes: &[u8], at: usize, section: Section) -> Result<Vec<Feature>, TmkFileError> {
    (0..VECTORS)
        .map(|i| read_feature(bytes, at + 4 * FEATURE_DIM * i, section, FEATURE_DIM * i))
        .collect()
}

#[cfg(test)]
mod turn_tests {
    use super::*;
    use pdq::DihedralKind as K;

    /// A hash with every value distinct (so a wrong permutation shows).
    fn numbered() -> TmkHash {
        let feature = |s: f32| -> Feature { std::array::from_fn(|n| s + n as f32 - 128.0) };
        TmkHash {
            frame_count: 9,
            pure_average: feature(0.5),
            cos: (0..VECTORS).map(|v| feature(v as f32 * 0.25)).collect(),
            sin: (0..VECTORS).map(|v| feature(-(v as f32) * 0.125)).collect(),
        }
    }

    #[test]
    fn turns_compose_as_the_dihedral_group_and_flipx_is_the_mirror() {
        let h = numbered();
        assert_eq!(h.turned(K::Original), h);
        assert_eq!(h.turned(K::FlipX), h.mirrored());
        let r90 = h.turned(K::Rotate90);
        assert_ne!(r90, h);
        assert_eq!(r90.turned(K::Rotate90), h.turned(K::Rotate180));
        assert_eq!(
            h.turned(K::Rotate180).turned(K::Rotate90),
            h.turned(K::Rotate270)
        );
        assert_eq!(h.turned(K::Rotate270).turned(K::Rotate90), h);
        for k in [
            K::FlipX,
            K::FlipY,
            K::FlipPlus1,
            K::FlipMinus1,
            K::Rotate180,
        ] {
            assert_eq!(h.turned(k).turned(k), h, "{k:?}");
        }
        // The eight are eight different hashes.
        let all: Vec<TmkHash> = K::ALL.iter().map(|&k| h.turned(k)).collect();
        for a in 0..8 {
            for b in a + 1..8 {
                assert_ne!(all[a], all[b], "{:?} {:?}", K::ALL[a], K::ALL[b]);
            }
        }
        // A vertical flip then a mirror is a half turn.
        assert_eq!(h.turned(K::FlipY).mirrored(), h.turned(K::Rotate180));
    }
}
