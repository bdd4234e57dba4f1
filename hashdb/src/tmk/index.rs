//! Level-1 of many listed TMK+PDQF hashes at once: every listed video's
//! pure-average feature in one array (1 KiB each, all a list keeps in
//! memory), scanned per query; level-2 then needs the whole `.tmk` of the
//! few that pass, which the caller reads (from the store) on demand.
//!
//! Exact, not approximate: a first pass computes each cosine with a
//! vectorisable sum (partial sums in another order than the reference's),
//! whose difference from the reference's float32 level-1 is below 1e-4
//! (both are within `256 * 2^-24` of the true cosine, by the Cauchy-Schwarz
//! bound on a float32 dot product); every entry within [`MARGIN`] of the
//! threshold then gets the reference's own level-1, bit for bit, and only
//! that decides. A test checks the result against scoring every entry.
//!
//! Threading: queries take `&self`; changes take `&mut self`.

use super::params::{Feature, FEATURE_DIM};
use super::vecmath::{dot, norm};

/// How far below a level-1 threshold the first pass still checks exactly.
pub const MARGIN: f32 = 1e-3;

/// One listed video that passed level-1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Level1Hit<T> {
    pub item: T,
    /// The reference's level-1 score (bit for bit).
    pub level1: f32,
}

/// The pure-average features of the listed videos.
#[derive(Debug, Clone)]
pub struct TmkIndex<T> {
    /// `FEATURE_DIM` floats per entry, in slot order.
    averages: Vec<f32>,
    /// Each slot's float32 norm, computed as the reference does.
    norms: Vec<f32>,
    /// `1 / norm` for the first pass (0 for a zero vector, never a match).
    inverse: Vec<f32>,
    items: Vec<T>,
}

impl<T> Default for TmkIndex<T> {
    fn default() -> Self {
        TmkIndex {
            averages: Vec::new(),
            norms: Vec::new(),
            inverse: Vec::new(),
            items: Vec::new(),
        }
    }
}

/// A dot product with 16 partial sums (the compiler vectorises it).
fn dot_fast(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    for (x, y) in a.chunks_exact(16).zip(b.chunks_exact(16)) {
        for i in 0..16 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum()
}

impl<T: Copy> TmkIndex<T> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Heap bytes held (the features, their norms and the items).
    pub fn heap_bytes(&self) -> usize {
        self.averages.capacity() * 4
            + (self.norms.capacity() + self.inverse.capacity()) * 4
            + self.items.capacity() * std::mem::size_of::<T>()
    }

    /// Add a listed video's pure-average feature.
    pub fn push(&mut self, item: T, average: &Feature) {
        let n = norm(average);
        self.averages.extend_from_slice(average);
        self.norms.push(n);
        self.inverse.push(if n > 0.0 && n.is_finite() {
            1.0 / n
        } else {
            0.0
        });
        self.items.push(item);
    }

    /// Whether some entry's item satisfies `pred`.
    pub fn any(&self, pred: impl FnMut(&T) -> bool) -> bool {
        self.items.iter().any(pred)
    }

    /// Remove every entry whose item `gone` says so (order not kept).
    pub fn remove(&mut self, mut gone: impl FnMut(&T) -> bool) {
        let mut i = 0;
        while i < self.items.len() {
            if gone(&self.items[i]) {
                let last = self.items.len() - 1;
                self.items.swap(i, last);
                self.norms.swap(i, last);
                self.inverse.swap(i, last);
                if i != last {
                    let (head, tail) = self.averages.split_at_mut(last * FEATURE_DIM);
                    head[i * FEATURE_DIM..(i + 1) * FEATURE_DIM].swap_with_slice(tail);
                }
                self.items.pop();
                self.norms.pop();
                self.inverse.pop();
                self.averages.truncate(last * FEATURE_DIM);
            } else {
                i += 1;
            }
        }
    }

    /// Every entry whose level-1 score against `query` (a pure-average
    /// feature) is at least `threshold(item)`; `floor` is the lowest
    /// threshold any item can have (the first pass's cut).
    pub fn search(
        &self,
        query: &Feature,
        floor: f32,
        mut threshold: impl FnMut(&T) -> Option<f32>,
    ) -> Vec<Level1Hit<T>> {
        let mut out = Vec::new();
        let nq = norm(query);
        if !(nq > 0.0 && nq.is_finite()) {
            return out;
        }
        let inv_q = 1.0 / nq;
        let cut = floor - MARGIN;
        for (slot, u) in self.averages.chunks_exact(FEATURE_DIM).enumerate() {
            let inv = self.inverse[slot];
            if inv == 0.0 {
                continue;
            }
            let approx = dot_fast(query, u) * inv_q * inv;
            // (A NaN never passes.)
            if approx.is_nan() || approx < cut {
                continue;
            }
            let Some(t) = threshold(&self.items[slot]) else {
                continue;
            };
            // The reference's level-1: dot / (|a| |b|), float32, in order.
            let level1 = dot(query, u) / (nq * self.norms[slot]);
            if level1.is_finite() && level1 >= t {
                out.push(Level1Hit {
                    item: self.items[slot],
                    level1,
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tmk::{level1, TmkAccumulator, TmkHash};

    fn xorshift(s: &mut u64) -> u64 {
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        *s
    }

    /// A hash whose pure average is `base` plus noise of size `noise`.
    fn hash(base: &Feature, noise: f32, seed: &mut u64) -> TmkHash {
        let f: Feature = std::array::from_fn(|i| {
            let r = (xorshift(seed) % 20001) as f32 / 10000.0 - 1.0;
            base[i] + noise * r * 100.0
        });
        let mut acc = TmkAccumulator::new();
        acc.push(&f).unwrap();
        acc.finish()
    }

    #[test]
    fn search_finds_exactly_what_scoring_every_entry_finds() {
        let mut seed = 0x9e37_79b9_7f4a_7c15;
        let bases: Vec<Feature> = (0..5)
            .map(|_| std::array::from_fn(|_| (xorshift(&mut seed) % 2001) as f32 / 10.0 - 100.0))
            .collect();
        let mut hashes = Vec::new();
        for i in 0..2000 {
            let noise = [0.05, 0.3, 0.6, 1.0, 2.0][i % 5];
            hashes.push(hash(&bases[i % 5], noise, &mut seed));
        }
        let mut index = TmkIndex::new();
        for (i, h) in hashes.iter().enumerate() {
            index.push(i, h.pure_average());
        }
        for t in [0.5f32, 0.7, 0.9, 0.99] {
            for q in hashes.iter().step_by(97) {
                let mut got: Vec<(usize, f32)> = index
                    .search(q.pure_average(), t, |_| Some(t))
                    .into_iter()
                    .map(|h| (h.item, h.level1))
                    .collect();
                got.sort_by_key(|x| x.0);
                let want: Vec<(usize, f32)> = hashes
                    .iter()
                    .enumerate()
                    .map(|(i, h)| (i, level1(q, h)))
                    .filter(|(_, s)| *s >= t)
                    .collect();
                assert_eq!(got, want, "threshold {t}");
            }
        }
        // Removal keeps the others findable.
        index.remove(|&i| i % 2 == 0);
        assert_eq!(index.len(), 1000);
        let q = &hashes[1];
        let got = index.search(q.pure_average(), -1.0, |_| Some(-1.0));
        assert!(got.iter().all(|h| h.item % 2 == 1));
        assert!(got.iter().any(|h| h.item == 1 && h.level1 >= 0.99999));
    }
}
