//! Unit tests on synthetic features; the reference files are checked in
//! `tests/tmk_conformance.rs`.

use super::*;

/// Deterministic pseudo-random features in the range of real PDQF values
/// (a xorshift stream; no dependency needed).
fn features(seed: u64, frames: usize) -> Vec<Feature> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..frames)
        .map(|_| std::array::from_fn(|_| ((next() - 0.5) * 2000.0) as f32))
        .collect()
}

fn hash_of(frames: &[Feature]) -> TmkHash {
    let mut acc = TmkAccumulator::new();
    for f in frames {
        acc.push(f).expect("finite feature");
    }
    acc.finish()
}

#[test]
fn bytes_round_trip() {
    let h = hash_of(&features(1, 40));
    let bytes = h.to_bytes();
    assert_eq!(bytes.len(), FILE_SIZE);
    let back = TmkHash::from_bytes(&bytes).expect("valid");
    assert_eq!(back, h);
    assert_eq!(back.to_bytes(), bytes);
    assert_eq!(back.frame_count(), 40);
    let mut written = Vec::new();
    h.write_to(&mut written).expect("write to a Vec");
    assert_eq!(written, bytes);
    assert_eq!(TmkHash::read_from(&bytes[..]).expect("read"), h);
}

#[test]
fn no_frames_gives_the_zero_hash() {
    let h = TmkAccumulator::new().finish();
    assert_eq!(h.frame_count(), 0);
    assert!(h.pure_average().iter().all(|&v| v == 0.0));
    assert!((0..NUM_PERIODS).all(|p| (0..NUM_COEFFICIENTS).all(|j| h
        .cos(p, j)
        .iter()
        .chain(h.sin(p, j))
        .all(|&v| v == 0.0))));
    // The zero hash matches nothing, itself included.
    assert_eq!(level1(&h, &h), 0.0);
    let other = hash_of(&features(2, 5));
    assert_eq!(level1(&h, &other), 0.0);
    assert!(!is_match(&h, &other, TmkThresholds::default()));
    assert_eq!(TmkHash::from_bytes(&h.to_bytes()).expect("valid"), h);
}

#[test]
fn stored_vectors_have_squared_norm_a_j() {
    let h = hash_of(&features(3, 30));
    for p in 0..NUM_PERIODS {
        for (j, &a) in FOURIER_COEFFICIENTS.iter().enumerate() {
            let n2: f64 = h.cos(p, j).iter().map(|&v| f64::from(v).powi(2)).sum();
            assert!((n2 / f64::from(a) - 1.0).abs() < 1e-5, "cos {p} {j}: {n2}");
            let s2: f64 = h.sin(p, j).iter().map(|&v| f64::from(v).powi(2)).sum();
            if j == 0 {
                assert_eq!(s2, 0.0);
            } else {
                assert!((s2 / f64::from(a) - 1.0).abs() < 1e-5, "sin {p} {j}: {s2}");
            }
        }
        // j = 0 is the plain sum of the normalised features: the same for
        // every period.
        assert_eq!(h.cos(p, 0), h.cos(0, 0));
    }
}

#[test]
fn a_hash_scores_about_one_against_itself() {
    let h = hash_of(&features(4, 60));
    let s = scores(&h, &h);
    assert!((s.level1 - 1.0).abs() < 1e-6, "{s:?}");
    assert!((s.level2 - 1.0).abs() < 1e-5, "{s:?}");
    assert!(TmkThresholds::default().is_match(s));
    assert!(is_match(&h, &h, TmkThresholds::default()));
}

#[test]
fn a_clip_of_a_video_still_scores_high_at_level_2() {
    // The last two thirds of a video (a cut): level-2 finds the offset.
    let all = features(5, 90);
    let (whole, clip) = (hash_of(&all), hash_of(&all[30..]));
    let s = scores(&whole, &clip);
    assert!(s.level2 > 0.75, "{s:?}");
    // Unrelated random videos do not match.
    let other = hash_of(&features(6, 90));
    let s = scores(&whole, &other);
    assert!(s.level2 < 0.3 && s.level1 < 0.3, "{s:?}");
    assert!(!TmkThresholds::default().is_match(s));
}

#[test]
fn bad_features_are_refused_and_not_added() {
    let mut acc = TmkAccumulator::new();
    let mut f = features(7, 1)[0];
    for (i, bad) in [(3, f32::NAN), (200, f32::INFINITY), (9, -2e9)] {
        let keep = f[i];
        f[i] = bad;
        let err = acc.push(&f).expect_err("refused");
        assert!(matches!(err, FeatureError::OutOfRange { index, .. } if index == i));
        f[i] = keep;
    }
    assert_eq!(acc.frames(), 0);
    acc.push(&f).expect("valid again");
    assert_eq!(acc.frames(), 1);
}

/// A valid file with `edit` applied.
fn corrupt(edit: impl FnOnce(&mut Vec<u8>)) -> TmkFileError {
    let mut bytes = hash_of(&features(8, 10)).to_bytes();
    edit(&mut bytes);
    TmkHash::from_bytes(&bytes).expect_err("corrupt file accepted")
}

fn put_i32(b: &mut [u8], at: usize, v: i32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn corrupt_files_give_their_own_errors() {
    use TmkFileError as E;
    assert!(matches!(corrupt(|b| b[0] = b'X'), E::NotTmk { .. }));
    assert!(matches!(corrupt(|b| b[3] = b'2'), E::Version { found } if found.0 == *b"TMK2"));
    assert!(matches!(
        corrupt(|b| b[4..8].copy_from_slice(b"VSTR")),
        E::FileType { .. }
    ));
    assert!(matches!(
        corrupt(|b| b[8..12].copy_from_slice(b"PDQX")),
        E::Algorithm { .. }
    ));
    assert!(matches!(
        corrupt(|b| put_i32(b, 12, 30)),
        E::FrameRate { found: 30 }
    ));
    assert!(matches!(
        corrupt(|b| put_i32(b, 20, 16)),
        E::Shape {
            coefficients: 16,
            ..
        }
    ));
    assert!(matches!(
        corrupt(|b| put_i32(b, 28, -1)),
        E::FrameCount { found: -1 }
    ));
    assert!(matches!(corrupt(|b| put_i32(b, 40, 9768)), E::Periods { found } if found[2] == 9768));
    assert!(matches!(
        corrupt(|b| b[48 + 4 * 5] ^= 1),
        E::Coefficient { index: 5, .. }
    ));
    let nan = f32::NAN.to_le_bytes();
    assert!(matches!(
        corrupt(|b| b[176 + 8..176 + 12].copy_from_slice(&nan)),
        E::NonFinite {
            section: Section::PureAverage,
            index: 2,
            ..
        }
    ));
    let inf = f32::NEG_INFINITY.to_le_bytes();
    let at = 132_272 + 4 * (256 * 33 + 7);
    assert!(matches!(
        corrupt(|b| b[at..at + 4].copy_from_slice(&inf)),
        E::NonFinite {
            section: Section::Sin,
            index,
            ..
        } if index == 256 * 33 + 7
    ));
    let huge = 2e9f32.to_le_bytes();
    assert!(matches!(
        corrupt(|b| b[176..180].copy_from_slice(&huge)),
        E::OutOfRange { index: 0, .. }
    ));
    // A cos value far beyond any unit vector: level 2 would overflow.
    let big = 1e30f32.to_le_bytes();
    let at = 1200 + 4 * (256 * 40 + 3);
    assert!(matches!(
        corrupt(|b| b[at..at + 4].copy_from_slice(&big)),
        E::VectorNorm {
            section: Section::Cos,
            vector: 40,
            ..
        }
    ));
    assert!(
        matches!(corrupt(|b| b.truncate(FILE_SIZE - 1)), E::Truncated { len } if len == FILE_SIZE - 1)
    );
    assert!(matches!(
        corrupt(|b| b.truncate(10)),
        E::Truncated { len: 10 }
    ));
    assert!(matches!(corrupt(|b| b.push(0)), E::TrailingBytes { .. }));
    assert!(matches!(
        TmkHash::read_from(&[0u8; 0][..]),
        Err(E::Truncated { len: 0 })
    ));
}

#[test]
fn magic_shows_text_or_hex() {
    assert_eq!(Magic(*b"TMK1").to_string(), "\"TMK1\"");
    assert_eq!(Magic([0, 1, 0xff, b'A']).to_string(), "0x0001ff41");
}
