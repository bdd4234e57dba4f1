//! Torben's median, as the reference PDQ uses it.
//!
//! The hash bit is "coefficient > median", so the median must be the very
//! value the reference picks, including its tie rule; a sort-based median
//! would choose differently for even counts.

/// The median of `m` by Torben Mogensen's method (for 256 values: the 128th
/// smallest, as the reference returns it). `m` must not be empty.
pub(crate) fn torben(m: &[f32]) -> f32 {
    let n = m.len() as i64;
    let mut min = m[0];
    let mut max = m[0];
    for &v in &m[1..] {
        if v < min {
            min = v;
        }
        if v > max {
            max = v;
        }
    }
    let half = (n + 1) / 2;
    loop {
        let guess = (min + max) / 2.0;
        let (mut less, mut greater, mut equal) = (0i64, 0i64, 0i64);
        let mut max_lt_guess = min;
        let mut min_gt_guess = max;
        for &v in m {
            if v < guess {
                less += 1;
                if v > max_lt_guess {
                    max_lt_guess = v;
                }
            } else if v > guess {
                greater += 1;
                if v < min_gt_guess {
                    min_gt_guess = v;
                }
            } else {
                equal += 1;
            }
        }
        if less <= half && greater <= half {
            return if less >= half {
                max_lt_guess
            } else if less + equal >= half {
                guess
            } else {
                min_gt_guess
            };
        } else if less > greater {
            max = max_lt_guess;
        } else {
            min = min_gt_guess;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::torben;

    #[test]
    fn median_of_small_sets() {
        assert_eq!(torben(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(torben(&[5.0]), 5.0);
        // Even count: the lower middle value.
        assert_eq!(torben(&[4.0, 1.0, 3.0, 2.0]), 2.0);
        assert_eq!(torben(&[7.0, 7.0, 7.0, 7.0]), 7.0);
    }

    #[test]
    fn median_matches_sorting_for_256_distinct_values() {
        // A fixed permutation of 256 distinct values.
        let v: Vec<f32> = (0..256u32)
            .map(|i| ((i * 97) % 256) as f32 * 0.5 - 40.0)
            .collect();
        let mut s = v.clone();
        s.sort_by(f32::total_cmp);
        assert_eq!(torben(&v), s[127]);
    }
}
