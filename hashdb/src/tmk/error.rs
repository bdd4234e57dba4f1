//! Why a `.tmk` file or a frame feature was refused. One variant per
//! check, so a caller (an import, a test, the service) can tell a file of
//! another algorithm from a damaged one without parsing messages.

use std::fmt;

use super::params::{FEATURE_DIM, FILE_SIZE, NUM_COEFFICIENTS, NUM_PERIODS, PERIODS};

/// Four magic bytes as found in a file, shown as text when printable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Magic(pub [u8; 4]);

impl fmt::Display for Magic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.iter().all(|b| b.is_ascii_graphic()) {
            // All graphic ASCII: valid UTF-8, shown quoted.
            write!(f, "{:?}", String::from_utf8_lossy(&self.0))
        } else {
            write!(
                f,
                "0x{:02x}{:02x}{:02x}{:02x}",
                self.0[0], self.0[1], self.0[2], self.0[3]
            )
        }
    }
}

/// Which stored vector a bad value sits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// The pure-average feature (`index` is its element).
    PureAverage,
    /// The cosine features (`index` is `(period * m + j) * d + k`).
    Cos,
    /// The sine features (same indexing as `Cos`).
    Sin,
}

impl fmt::Display for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Section::PureAverage => "pure-average feature",
            Section::Cos => "cosine features",
            Section::Sin => "sine features",
        })
    }
}

/// A `.tmk` file could not be read as a TMK+PDQF hash.
#[derive(Debug, thiserror::Error)]
pub enum TmkFileError {
    /// Shorter than its header says it must be.
    #[error("truncated TMK file: {len} bytes, a TMK+PDQF file is {FILE_SIZE}")]
    Truncated { len: usize },
    /// Longer than the layout (the reference ignores extra bytes; a file we
    /// accept is exactly one hash, so a concatenation or an append is seen).
    #[error("{len} bytes where a TMK+PDQF file is {FILE_SIZE}: data after the hash")]
    TrailingBytes { len: usize },
    /// The project magic is not `TMK?`: not a TMK file at all.
    #[error("not a TMK file (project magic {found}, expected \"TMK1\")")]
    NotTmk { found: Magic },
    /// `TMK` followed by another version than `1`.
    #[error("TMK file version {found} is not supported (only \"TMK1\")")]
    Version { found: Magic },
    /// A TMK file of another kind (`VSTR` raw frames, `FEAT` frame features).
    #[error("TMK file type {found} is not a feature-vector file (expected \"FVEC\")")]
    FileType { found: Magic },
    /// Another frame-feature algorithm than PDQF.
    #[error("TMK frame-feature algorithm {found} is not supported (only \"PDQF\")")]
    Algorithm { found: Magic },
    /// TMK+PDQF hashes are made at 15 fps; others are not comparable.
    #[error("TMK frame rate {found} fps; TMK+PDQF hashes are made at 15")]
    FrameRate { found: i32 },
    /// The period count, coefficient count or feature dimension differ
    /// from TMK+PDQF's (4, 32, 256).
    #[error(
        "TMK shape: {periods} periods, {coefficients} coefficients, dimension {dimension}; \
         TMK+PDQF has {NUM_PERIODS}, {NUM_COEFFICIENTS}, {FEATURE_DIM}"
    )]
    Shape {
        periods: i32,
        coefficients: i32,
        dimension: i32,
    },
    /// The informational frame count is negative.
    #[error("TMK frame count {found} is negative")]
    FrameCount { found: i32 },
    /// The periods are not Poullot's.
    #[error("TMK periods {found:?}; TMK+PDQF uses {PERIODS:?}")]
    Periods { found: [i32; NUM_PERIODS] },
    /// A Fourier weight is not the reference's float32 (bit for bit).
    #[error("TMK Fourier coefficient {index} is {found:e}; TMK+PDQF uses {expected:e}")]
    Coefficient {
        index: usize,
        found: f32,
        expected: f32,
    },
    /// A stored feature value is NaN or infinite.
    #[error("TMK {section} value {index} is not finite ({value})")]
    NonFinite {
        section: Section,
        index: usize,
        value: f32,
    },
    /// A pure-average value beyond what any video's frames can average to.
    #[error("TMK pure-average value {index} is {value:e}, beyond {max:e}")]
    OutOfRange { index: usize, value: f32, max: f32 },
    /// A cos/sin vector longer than `sqrt(a_j)`: no video makes it, and it
    /// would inflate level 2 against every video.
    #[error("TMK {section} vector {vector} has norm {norm:e}, above {max:e}")]
    VectorNorm {
        section: Section,
        vector: usize,
        norm: f64,
        max: f64,
    },
    /// Reading the bytes failed.
    #[error("reading a TMK file: {0}")]
    Io(#[from] std::io::Error),
}

/// A frame feature handed to the accumulator was refused.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum FeatureError {
    /// NaN, infinite, or so large that the sums could overflow; a PDQF of
    /// 8-bit pixels stays below about 3.3e4 in magnitude.
    #[error(
        "frame feature value {index} is {value}: not a PDQF value (NaN, infinite or above {max:e})"
    )]
    OutOfRange { index: usize, value: f32, max: f32 },
}
