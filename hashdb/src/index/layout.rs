//! How the 256 bits are cut into table keys, and which keys a query probes.
//!
//! Multi-index hashing (Norouzi, Punjani, Fleet, "Fast Exact Search in Hamming
//! Space with Multi-Index Hashing", 2014) rests on a pigeonhole argument: cut
//! the hash into `m` disjoint substrings; if each table `i` is probed with
//! radius `r_i` and `sum(r_i + 1) >= r + 1`, then every hash within `r` of the
//! query has at least one substring `i` within `r_i` of the query's, so it is
//! found. The substrings need not cover all 256 bits (distance on a subset of
//! bits never exceeds the full distance), which lets us pick a key width that
//! matches the list size without wasting a table on leftover bits.

/// Substring layout: `tables` keys of `bits` bits each, taken from the top of
/// the hash (bits `i * bits .. (i + 1) * bits`, bit 0 = most significant bit
/// of the first byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    bits: u32,
    tables: u32,
}

/// Smallest and largest key width the index uses.
pub const MIN_BITS: u32 = 8;
/// Largest key width: 2^24 buckets (64 MiB of offsets per table) is the most
/// memory we are willing to spend on empty buckets.
pub const MAX_BITS: u32 = 24;

impl Layout {
    /// A layout with `bits`-bit keys and as many tables as fit in 256 bits.
    /// `bits` is clamped to `MIN_BITS..=MAX_BITS`.
    pub fn with_bits(bits: u32) -> Layout {
        let bits = bits.clamp(MIN_BITS, MAX_BITS);
        Layout {
            bits,
            tables: 256 / bits,
        }
    }

    /// The layout for a list of `n` hashes: about one hash per bucket on
    /// uniform data (`2^bits ~ n`), which balances probes against candidates.
    pub fn for_len(n: usize) -> Layout {
        let log2 = usize::BITS - n.max(1).leading_zeros() - 1;
        Layout::with_bits(log2)
    }

    /// Key width in bits.
    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// Number of tables.
    pub fn tables(&self) -> usize {
        self.tables as usize
    }

    /// Number of buckets per table.
    pub fn buckets(&self) -> usize {
        1usize << self.bits
    }

    /// The key of `words` in table `t`.
    #[inline(always)]
    pub fn key(&self, words: &[u64; 4], t: usize) -> u32 {
        let start = t as u32 * self.bits;
        let w = (start / 64) as usize;
        let o = start % 64;
        let hi = words[w] as u128;
        let lo = if w + 1 < 4 { words[w + 1] as u128 } else { 0 };
        let x = (hi << 64) | lo;
        ((x >> (128 - o - self.bits)) as u32) & ((1u32 << self.bits) - 1)
    }

    /// Per-table probe radius for a query radius `r`: `None` means the table
    /// is not probed. Guarantees `sum(r_i + 1) >= r + 1` (when that is
    /// possible with the key width; see [`Layout::covers`]).
    pub fn plan(&self, r: u32) -> Vec<Option<u32>> {
        let m = self.tables;
        let total = r + 1;
        let q = total / m;
        let rem = total % m;
        (0..m)
            .map(|i| {
                let share = if i < rem { q + 1 } else { q };
                // share = r_i + 1; 0 means skip. A table cannot usefully be
                // probed beyond its own width.
                share.checked_sub(1).map(|ri| ri.min(self.bits))
            })
            .collect()
    }

    /// Whether the plan for radius `r` is exhaustive through the pigeonhole
    /// argument (false only when `r` is so large that even probing every
    /// key of every table is needed; the index then scans instead).
    pub fn covers(&self, r: u32) -> bool {
        let m = self.tables;
        let total = r + 1;
        total.div_ceil(m) <= self.bits + 1
    }

    /// Number of keys within radius `ri` of a key (sum of binomials).
    pub fn probes_per_table(&self, ri: u32) -> u64 {
        let b = self.bits as u64;
        let mut total = 0u64;
        let mut c = 1u64;
        for k in 0..=ri as u64 {
            total = total.saturating_add(c);
            c = c.saturating_mul(b - k.min(b)) / (k + 1);
        }
        total
    }

    /// Total probes for radius `r`.
    pub fn probes(&self, r: u32) -> u64 {
        self.plan(r)
            .into_iter()
            .flatten()
            .map(|ri| self.probes_per_table(ri))
            .sum()
    }

    /// Push every key within distance `ri` of `key` (the key itself first).
    pub fn neighbours(&self, key: u32, ri: u32, out: &mut Vec<u32>) {
        out.push(key);
        if ri == 0 {
            return;
        }
        fn rec(key: u32, from: u32, bits: u32, left: u32, out: &mut Vec<u32>) {
            for b in from..bits {
                let k = key ^ (1 << b);
                out.push(k);
                if left > 1 {
                    rec(k, b + 1, bits, left - 1, out);
                }
            }
        }
        rec(key, 0, self.bits, ri, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_satisfies_pigeonhole() {
        for bits in MIN_BITS..=MAX_BITS {
            let l = Layout::with_bits(bits);
            for r in 0..=64 {
                if !l.covers(r) {
                    continue;
                }
                let sum: u32 = l.plan(r).into_iter().flatten().map(|ri| ri + 1).sum();
                assert!(sum > r, "bits {bits} r {r} sum {sum}");
            }
        }
    }

    #[test]
    fn keys_tile_the_hash() {
        let l = Layout::with_bits(16);
        let w = [
            0x0123_4567_89ab_cdef,
            0xfedc_ba98_7654_3210,
            1,
            0x8000_0000_0000_0000,
        ];
        assert_eq!(l.key(&w, 0), 0x0123);
        assert_eq!(l.key(&w, 3), 0xcdef);
        assert_eq!(l.key(&w, 4), 0xfedc);
        assert_eq!(l.key(&w, 12), 0x8000);
        let l = Layout::with_bits(23);
        // Key 2 spans words 0 and 1 (bits 46..69).
        let expect = (((w[0] as u128) << 64 | w[1] as u128) >> (128 - 46 - 23)) as u32 & 0x7f_ffff;
        assert_eq!(l.key(&w, 2), expect);
    }

    #[test]
    fn neighbours_are_complete_and_distinct() {
        let l = Layout::with_bits(10);
        let mut out = Vec::new();
        l.neighbours(0b10_1100_0011, 3, &mut out);
        assert_eq!(out.len() as u64, l.probes_per_table(3));
        let mut sorted = out.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), out.len());
        assert!(out
            .iter()
            .all(|k| (k ^ 0b10_1100_0011).count_ones() <= 3 && *k < 1024));
    }
}
