//! The inner loops: distance, prefetch and the linear scan.
//!
//! Everything the index verifies is a 256-bit XOR + popcount. Without the
//! `popcnt` instruction Rust falls back to a bit-twiddling sequence several
//! times slower, and we may not build with `-C target-cpu=native` (the binary
//! must run on any x86-64), so the hot loops are compiled twice and the
//! `popcnt` copy is chosen at run time.

/// Hamming distance between two hashes held as words.
#[inline(always)]
pub fn distance(a: &[u64; 4], b: &[u64; 4]) -> u32 {
    (a[0] ^ b[0]).count_ones()
        + (a[1] ^ b[1]).count_ones()
        + (a[2] ^ b[2]).count_ones()
        + (a[3] ^ b[3]).count_ones()
}

/// Hint the CPU to start loading `p` into cache. Never faults.
#[inline(always)]
pub fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: prefetch is a hint; it never dereferences in a way that can
        // fault, and SSE is part of the x86-64 baseline.
        #[allow(unused_unsafe)]
        unsafe {
            core::arch::x86_64::_mm_prefetch(p as *const i8, core::arch::x86_64::_MM_HINT_T0)
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = p;
    }
}

/// Whether the CPU has `popcnt` (cached by std).
#[inline]
pub fn has_popcnt() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("popcnt")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Linear scan: push `(slot, distance)` for every slot in `range` whose hash is
/// within `radius` of `q` (dead slots included; the caller filters them).
pub fn scan(hashes: &[[u64; 4]], base: u32, q: &[u64; 4], radius: u32, out: &mut Vec<(u32, u32)>) {
    #[cfg(target_arch = "x86_64")]
    if has_popcnt() {
        // SAFETY: the CPU supports popcnt (checked just above).
        unsafe { scan_popcnt(hashes, base, q, radius, out) };
        return;
    }
    scan_generic(hashes, base, q, radius, out)
}

#[inline(always)]
fn scan_generic(
    hashes: &[[u64; 4]],
    base: u32,
    q: &[u64; 4],
    radius: u32,
    out: &mut Vec<(u32, u32)>,
) {
    for (i, h) in hashes.iter().enumerate() {
        let d = distance(h, q);
        if d <= radius {
            out.push((base + i as u32, d));
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
unsafe fn scan_popcnt(
    hashes: &[[u64; 4]],
    base: u32,
    q: &[u64; 4],
    radius: u32,
    out: &mut Vec<(u32, u32)>,
) {
    scan_generic(hashes, base, q, radius, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_finds_within_radius() {
        let hashes = vec![[0u64; 4], [1, 0, 0, 0], [u64::MAX, 0, 0, 0], [3, 3, 0, 0]];
        let mut out = Vec::new();
        scan(&hashes, 10, &[0; 4], 4, &mut out);
        assert_eq!(out, vec![(10, 0), (11, 1), (13, 4)]);
        assert_eq!(distance(&[u64::MAX; 4], &[0; 4]), 256);
    }
}
