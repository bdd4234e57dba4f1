//! The 64x64 -> 16x16 DCT of PDQ, and the dihedral transforms of its output.
//!
//! The reference computes `B = D A D^T` with a 16x64 float matrix `D`,
//! accumulating each sum in `f32`, one product at a time, in index order.
//! Float addition is not associative, so the loops below keep exactly that
//! order; they only change which independent sums run side by side (the
//! compiler vectorises across `j`), never the order inside one sum.

use std::sync::OnceLock;

/// The 16x64 DCT matrix, row-major: `D[i][j] = sqrt(2/64) * cos(pi/128 * (i+1) * (2j+1))`,
/// evaluated in `f64` and stored as `f32`, as the reference does (its scale
/// factor is first rounded to `f32`).
fn dct_matrix() -> &'static [[f32; 64]; 16] {
    static MATRIX: OnceLock<[[f32; 64]; 16]> = OnceLock::new();
    MATRIX.get_or_init(|| {
        let scale = (2.0f64 / 64.0).sqrt() as f32;
        let mut d = [[0f32; 64]; 16];
        for (i, row) in d.iter_mut().enumerate() {
            for (j, v) in row.iter_mut().enumerate() {
                let angle =
                    (std::f64::consts::PI / 2.0 / 64.0) * (i + 1) as f64 * (2 * j + 1) as f64;
                *v = (scale as f64 * angle.cos()) as f32;
            }
        }
        d
    })
}

/// `D^T`, so that the second product reads its taps along a row.
fn dct_matrix_t() -> &'static [[f32; 16]; 64] {
    static MATRIX_T: OnceLock<[[f32; 16]; 64]> = OnceLock::new();
    MATRIX_T.get_or_init(|| {
        let d = dct_matrix();
        std::array::from_fn(|k| std::array::from_fn(|j| d[j][k]))
    })
}

/// `D A D^T`, keeping the reference's summation order.
///
/// Why two builds of one body: with AVX2 the compiler adds eight floats
/// at a time instead of four. Each lane still does one product and one
/// sum per step, in the same order (Rust never fuses a multiply and an
/// add unasked), so both give the same bits; a test checks that they do.
/// TMK+PDQF runs this on every 15 fps frame, PDQ on every image.
pub(crate) fn dct64_to_16(a: &[[f32; 64]; 64]) -> [[f32; 16]; 16] {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        return unsafe { dct64_to_16_avx2(a) };
    }
    dct64_to_16_body(a)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dct64_to_16_avx2(a: &[[f32; 64]; 64]) -> [[f32; 16]; 16] {
    dct64_to_16_body(a)
}

#[inline(always)]
fn dct64_to_16_body(a: &[[f32; 64]; 64]) -> [[f32; 16]; 16] {
    let d = dct_matrix();
    // T = D A: T[i][j] = sum_k D[i][k] * A[k][j], k ascending.
    let mut t = [[0f32; 64]; 16];
    for (ti, di) in t.iter_mut().zip(d.iter()) {
        for (k, &dik) in di.iter().enumerate() {
            let ak = &a[k];
            for j in 0..64 {
                ti[j] += dik * ak[j];
            }
        }
    }
    // B = T D^T: B[i][j] = sum_k T[i][k] * D[j][k], k ascending.
    let dt = dct_matrix_t();
    let mut b = [[0f32; 16]; 16];
    for (bi, ti) in b.iter_mut().zip(t.iter()) {
        for (&tik, dk) in ti.iter().zip(dt.iter()) {
            for j in 0..16 {
                bi[j] += tik * dk[j];
            }
        }
    }
    b
}

/// The eight dihedral transforms, in the reference's order and names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DihedralKind {
    Original,
    Rotate90,
    Rotate180,
    Rotate270,
    FlipX,
    FlipY,
    FlipPlus1,
    FlipMinus1,
}

impl DihedralKind {
    /// All eight, in the order of the reference (and of `reference-dihedral.csv`).
    pub const ALL: [DihedralKind; 8] = [
        DihedralKind::Original,
        DihedralKind::Rotate90,
        DihedralKind::Rotate180,
        DihedralKind::Rotate270,
        DihedralKind::FlipX,
        DihedralKind::FlipY,
        DihedralKind::FlipPlus1,
        DihedralKind::FlipMinus1,
    ];

    /// The reference's name (`original`, `rotate90`, ..., `flipminus1`).
    pub fn name(self) -> &'static str {
        match self {
            DihedralKind::Original => "original",
            DihedralKind::Rotate90 => "rotate90",
            DihedralKind::Rotate180 => "rotate180",
            DihedralKind::Rotate270 => "rotate270",
            DihedralKind::FlipX => "flipx",
            DihedralKind::FlipY => "flipy",
            DihedralKind::FlipPlus1 => "flipplus1",
            DihedralKind::FlipMinus1 => "flipminus1",
        }
    }

    /// The transform [`DihedralKind::name`] names.
    pub fn from_name(name: &str) -> Option<DihedralKind> {
        DihedralKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// The DCT coefficients of the transformed image, from those of the original:
/// a rotation or flip of the 64x64 input only transposes the 16x16 output
/// and flips the sign of odd-frequency coefficients.
pub(crate) fn dihedral(a: &[[f32; 16]; 16], kind: DihedralKind) -> [[f32; 16]; 16] {
    let mut b = [[0f32; 16]; 16];
    for i in 0..16 {
        for j in 0..16 {
            let v = a[i][j];
            match kind {
                DihedralKind::Original => b[i][j] = v,
                DihedralKind::Rotate90 => b[j][i] = if j & 1 == 1 { v } else { -v },
                DihedralKind::Rotate180 => b[i][j] = if (i + j) & 1 == 1 { -v } else { v },
                DihedralKind::Rotate270 => b[j][i] = if i & 1 == 1 { v } else { -v },
                DihedralKind::FlipX => b[i][j] = if i & 1 == 1 { v } else { -v },
                DihedralKind::FlipY => b[i][j] = if j & 1 == 1 { v } else { -v },
                DihedralKind::FlipPlus1 => b[j][i] = v,
                DihedralKind::FlipMinus1 => b[j][i] = if (i + j) & 1 == 1 { -v } else { v },
            }
        }
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dct_of_constant_image_is_zero_for_ac_coefficients() {
        // PDQ drops the DC term, so a flat image has only (near) zero coefficients.
        let a = [[100f32; 64]; 64];
        let b = dct64_to_16(&a);
        for row in b.iter() {
            for &v in row.iter() {
                assert!(v.abs() < 1e-2, "{v}");
            }
        }
    }

    /// The reference's loops written plainly (`D[j][k]` read down a
    /// column), against the build `dct64_to_16` takes here (AVX2 where the
    /// CPU has it): the same bits, on values whose sums round differently
    /// if any step were fused or reordered.
    #[test]
    fn every_build_keeps_the_reference_order() {
        let d = dct_matrix();
        let a: [[f32; 64]; 64] = std::array::from_fn(|y| {
            std::array::from_fn(|x| {
                ((x * 37 + y * 101) % 253) as f32 * 1.37 - 100.3 / (1 + y) as f32
            })
        });
        let mut t = [[0f32; 64]; 16];
        for i in 0..16 {
            for k in 0..64 {
                for j in 0..64 {
                    t[i][j] += d[i][k] * a[k][j];
                }
            }
        }
        let mut want = [[0f32; 16]; 16];
        for i in 0..16 {
            for k in 0..64 {
                for j in 0..16 {
                    want[i][j] += t[i][k] * d[j][k];
                }
            }
        }
        let bits =
            |b: &[[f32; 16]; 16]| -> Vec<u32> { b.iter().flatten().map(|v| v.to_bits()).collect() };
        assert_eq!(bits(&dct64_to_16(&a)), bits(&want));
        assert_eq!(bits(&dct64_to_16_body(&a)), bits(&want));
    }

    #[test]
    fn dihedral_transforms_are_involutions_or_rotations() {
        let mut a = [[0f32; 16]; 16];
        for (i, row) in a.iter_mut().enumerate() {
            for (j, v) in row.iter_mut().enumerate() {
                *v = (i * 16 + j) as f32 - 100.0;
            }
        }
        let r90 = dihedral(&a, DihedralKind::Rotate90);
        let r180 = dihedral(&a, DihedralKind::Rotate180);
        let r270 = dihedral(&a, DihedralKind::Rotate270);
        assert_eq!(dihedral(&r90, DihedralKind::Rotate90), r180);
        assert_eq!(dihedral(&r180, DihedralKind::Rotate90), r270);
        assert_eq!(dihedral(&r270, DihedralKind::Rotate90), a);
        for k in [
            DihedralKind::FlipX,
            DihedralKind::FlipY,
            DihedralKind::FlipPlus1,
            DihedralKind::FlipMinus1,
        ] {
            assert_eq!(dihedral(&dihedral(&a, k), k), a);
        }
    }
}
