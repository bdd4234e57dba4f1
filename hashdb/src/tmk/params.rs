//! The TMK+PDQF parameters. Every `.tmk` file stores them, and two hashes
//! are comparable only when they agree, so they are fixed here and checked
//! on read rather than carried around as variables.

/// Frames per second the video is resampled to before hashing.
pub const FRAMES_PER_SECOND: i32 = 15;

/// The periods of the temporal kernel, in 15 fps frames (Poullot's values).
pub const PERIODS: [i32; NUM_PERIODS] = [2731, 4391, 9767, 14653];

/// P: how many periods.
pub const NUM_PERIODS: usize = 4;

/// m: how many Fourier coefficients per period.
pub const NUM_COEFFICIENTS: usize = 32;

/// d: the dimension of a frame feature (PDQ's 16x16 float DCT block).
pub const FEATURE_DIM: usize = 256;

/// One frame feature, or one of the stored feature vectors.
pub type Feature = [f32; FEATURE_DIM];

/// The Fourier weights `a_j` for beta = 32 (Poullot: `a_0 = (I_0(b) -
/// e^-b) / (2 sinh b)`, `a_j = I_j(b) / sinh b`), as the float32 values
/// every reference file stores. Written as the shortest decimals that read
/// back to those exact floats. A file is accepted only when its weights are
/// these very bits, so `tests/tmk_conformance.rs` reading every reference
/// file checks them.
pub const FOURIER_COEFFICIENTS: [f32; NUM_COEFFICIENTS] = [
    0.070804186,
    0.13937789,
    0.13289726,
    0.122765735,
    0.10987868,
    0.09529606,
    0.080098666,
    0.06525906,
    0.051547825,
    0.039485153,
    0.029337425,
    0.021149263,
    0.014797308,
    0.010051282,
    0.006630641,
    0.0042494712,
    0.0026467615,
    0.0016027096,
    0.0009438826,
    0.00054084166,
    0.00030163318,
    0.00016380016,
    8.664547e-5,
    4.466263e-5,
    2.2442944e-5,
    1.0998214e-5,
    5.258235e-6,
    2.4535823e-6,
    1.1178148e-6,
    4.9740646e-7,
    2.1626549e-7,
    9.19087e-8,
];

/// The level-2 normaliser `a_0 + 2 * sum_{j>=1} a_j`: a hash scored
/// against itself then lands near 1.
///
/// Float order matters: the reference keeps the running sum in float32 but
/// adds each `2.0 * a_j` in double, rounding back to float32 at every step
/// (it gives 1.929196, not the double sum rounded once).
pub fn pair_score_normalizer() -> f32 {
    let mut sum = FOURIER_COEFFICIENTS[0];
    for &a in &FOURIER_COEFFICIENTS[1..] {
        sum = (f64::from(sum) + 2.0 * f64::from(a)) as f32;
    }
    sum
}

/// Size of a `.tmk` file with these parameters:
/// `32 + 4P + 4m + 4d + 8Pmd` bytes.
pub const FILE_SIZE: usize = HEADER_SIZE
    + 4 * NUM_PERIODS
    + 4 * NUM_COEFFICIENTS
    + 4 * FEATURE_DIM
    + 8 * NUM_PERIODS * NUM_COEFFICIENTS * FEATURE_DIM;

/// The fixed header: three magics and five int32 fields.
pub const HEADER_SIZE: usize = 32;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_size_is_the_reference_size() {
        assert_eq!(FILE_SIZE, 263_344);
    }

    #[test]
    fn normalizer_is_the_reference_float() {
        assert_eq!(pair_score_normalizer(), 1.929196);
    }

    #[test]
    fn coefficients_square_roots_are_finite_and_positive() {
        for a in FOURIER_COEFFICIENTS {
            assert!(a.sqrt().is_finite() && a > 0.0);
        }
    }
}
