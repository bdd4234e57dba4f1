//! TMK+PDQF, Meta's whole-video hash (the `.tmk` files of GIFCT, TCAP,
//! NCMEC and StopNCII lists), as pure math: the value and its file layout,
//! the accumulation of per-frame features into a hash, and the two scores.
//!
//! A `.tmk` summarises a whole video in a fixed 263,344 bytes: the average
//! of its per-frame PDQ float features (compared by cosine, "level 1") and,
//! for four periods and 32 Fourier coefficients, cosine and sine weighted
//! sums of the normalised features, whose comparison finds the best time
//! alignment of two videos modulo each period ("level 2"). Two videos
//! match when both scores are at least 0.7.
//!
//! Written from the description in `../shared/conformance/tmk/README.md`;
//! the float32 operation order of Meta's reference is kept wherever it
//! decides a bit (see each function), so the files and scores agree with
//! the reference's exactly, not just closely (`tests/tmk_conformance.rs`).
//! Computing the per-frame feature from pixels is hashsieve's job
//! (`hashsieve::tmk`): this crate decodes no media.

mod accumulate;
mod error;
mod file;
mod index;
mod params;
mod score;
mod text;
mod vecmath;

pub use accumulate::{TmkAccumulator, MAX_FEATURE_ABS};
pub use error::{FeatureError, Magic, Section, TmkFileError};
pub use file::TmkHash;
pub use index::{Level1Hit, TmkIndex, MARGIN};
pub use params::{
    pair_score_normalizer, Feature, FEATURE_DIM, FILE_SIZE, FOURIER_COEFFICIENTS,
    FRAMES_PER_SECOND, NUM_COEFFICIENTS, NUM_PERIODS, PERIODS,
};
pub use score::{is_match, level1, level2, scores, TmkScores, TmkThresholds};
pub use text::{
    encode as encode_base64, TmkTextError, TmkTextForm, TEXT_LEN, THREATEXCHANGE_TEXT_LEN,
};

#[cfg(test)]
mod tests;
