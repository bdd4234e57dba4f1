//! The few vector operations TMK needs, in the reference's float32
//! order: every sum starts at 0 and adds one product at a time with the
//! index ascending (no pairwise or vectorised reduction), because the
//! scores are compared bit for bit with the reference's.

/// `sum u[i] * v[i]`, float32, sequential.
pub(super) fn dot(u: &[f32], v: &[f32]) -> f32 {
    let mut sum = 0f32;
    for (a, b) in u.iter().zip(v) {
        sum += a * b;
    }
    sum
}

/// The L2 norm: a float32 sequential sum of squares, then a float32
/// square root.
pub(super) fn norm(u: &[f32]) -> f32 {
    dot(u, u).sqrt()
}

/// Divide by the norm (a division per element, as the reference does, not
/// a multiplication by the reciprocal); a zero vector is left as it is.
pub(super) fn normalize(u: &mut [f32]) {
    let n = norm(u);
    if n > 0.0 {
        for e in u.iter_mut() {
            *e /= n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_vector_stays_zero() {
        let mut v = [0f32; 8];
        normalize(&mut v);
        assert_eq!(v, [0f32; 8]);
    }

    #[test]
    fn normalized_has_unit_norm() {
        let mut v = [3f32, 4.0];
        normalize(&mut v);
        assert_eq!(v, [0.6, 0.8]);
    }
}
