//! The per-substring tables: a compact static one (CSR) and a growable delta.
//!
//! The static table is what almost every query touches, so it is two flat
//! arrays: `offsets[key]..offsets[key + 1]` indexes `slots`, which lists the
//! slots whose substring equals `key`, in slot order. One probe is one read
//! of two adjacent `u32`s; there are no pointers to chase and no per-bucket
//! allocation. Entries added after the build go to the delta table (a hash
//! map per substring) until the index is compacted into a new static table.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::layout::Layout;

/// Static bucket arrays for one substring.
#[derive(Debug, Default)]
pub struct CsrTable {
    offsets: Vec<u32>,
    slots: Vec<u32>,
}

impl CsrTable {
    /// Build table `t` over `hashes` (slot = position) by counting sort.
    ///
    /// The keys are computed once into a compact array (4 bytes a hash)
    /// that the scatter pass reads back, instead of re-reading all the
    /// hashes (32 bytes each) and re-extracting the key: this build is most
    /// of the time it takes to load a large list.
    pub fn build(layout: &Layout, t: usize, hashes: &[[u64; 4]]) -> CsrTable {
        let buckets = layout.buckets();
        let mut offsets = vec![0u32; buckets + 1];
        let keys: Vec<u32> = hashes.iter().map(|h| layout.key(h, t)).collect();
        for &k in &keys {
            offsets[k as usize + 1] += 1;
        }
        for i in 0..buckets {
            offsets[i + 1] += offsets[i];
        }
        // Each bucket's next free position: its start, advanced in place.
        let mut fill: Vec<u32> = offsets[..buckets].to_vec();
        let mut slots = vec![0u32; hashes.len()];
        for (slot, &k) in keys.iter().enumerate() {
            let f = &mut fill[k as usize];
            slots[*f as usize] = slot as u32;
            *f += 1;
        }
        CsrTable { offsets, slots }
    }

    /// A table from saved arrays, if they have the shape of a table over
    /// `n` slots with `buckets` buckets: offsets start at 0, never
    /// decrease and end at `n`; every slot is below `n`.
    pub fn from_parts(
        buckets: usize,
        n: usize,
        offsets: Vec<u32>,
        slots: Vec<u32>,
    ) -> Option<CsrTable> {
        let ok = offsets.len() == buckets + 1
            && offsets.first() == Some(&0)
            && offsets.last().map(|&l| l as usize) == Some(n)
            && offsets.windows(2).all(|w| w[0] <= w[1])
            && slots.len() == n
            && slots.iter().all(|&s| (s as usize) < n);
        ok.then_some(CsrTable { offsets, slots })
    }

    /// The bucket offsets (`buckets + 1` of them).
    pub fn offsets(&self) -> &[u32] {
        &self.offsets
    }

    /// The slots, bucket after bucket.
    pub fn slots(&self) -> &[u32] {
        &self.slots
    }

    /// Slots in bucket `key`.
    #[inline(always)]
    pub fn bucket(&self, key: u32) -> &[u32] {
        let k = key as usize;
        let s = self.offsets[k] as usize;
        let e = self.offsets[k + 1] as usize;
        &self.slots[s..e]
    }

    /// Start loading the offsets of `key` into cache.
    #[inline(always)]
    pub fn prefetch(&self, key: u32) {
        super::kernel::prefetch(self.offsets.as_ptr().wrapping_add(key as usize));
    }

    /// Start loading the slots of bucket `key` (its offsets should already
    /// be in cache: see [`CsrTable::prefetch`]).
    #[inline(always)]
    pub fn prefetch_slots(&self, key: u32) {
        let s = self.offsets[key as usize] as usize;
        super::kernel::prefetch(self.slots.as_ptr().wrapping_add(s));
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        (self.offsets.capacity() + self.slots.capacity()) * 4
    }
}

/// A multiplicative hasher for `u32` keys (the keys are already uniform-ish
/// hash bits; SipHash would cost more than the lookup itself).
#[derive(Default, Clone, Copy)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ *b as u64).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = (n as u64 ^ 0x9e37_79b9_7f4a_7c15).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    }
}

/// Growable buckets for slots added after the static build.
#[derive(Debug, Default)]
pub struct DeltaTable {
    buckets: HashMap<u32, Vec<u32>, BuildHasherDefault<KeyHasher>>,
}

impl DeltaTable {
    /// Add `slot` under `key`.
    pub fn insert(&mut self, key: u32, slot: u32) {
        self.buckets.entry(key).or_default().push(slot);
    }

    /// Slots in bucket `key`.
    #[inline]
    pub fn bucket(&self, key: u32) -> &[u32] {
        self.buckets.get(&key).map(Vec::as_slice).unwrap_or(&[])
    }

    /// A copy with room for `extra` more keys without a rehash, when this
    /// one would rehash during them (`None`: it would not).
    pub fn grown_for(&self, extra: usize) -> Option<DeltaTable> {
        let len = self.buckets.len();
        if self.buckets.capacity() >= len + extra {
            return None;
        }
        let mut buckets = HashMap::with_capacity_and_hasher(
            (len + extra).max(2 * len),
            BuildHasherDefault::<KeyHasher>::default(),
        );
        buckets.extend(self.buckets.iter().map(|(k, v)| (*k, v.clone())));
        Some(DeltaTable { buckets })
    }

    /// Approximate heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.buckets.capacity() * 40
            + self
                .buckets
                .values()
                .map(|v| v.capacity() * 4)
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csr_buckets_hold_their_slots() {
        let layout = Layout::with_bits(8);
        let hashes: Vec<[u64; 4]> = (0..1000u64)
            .map(|i| [i.wrapping_mul(0x9e37_79b9_7f4a_7c15), i, !i, i << 3])
            .collect();
        let table = CsrTable::build(&layout, 0, &hashes);
        let mut seen = 0;
        for key in 0..256u32 {
            for &s in table.bucket(key) {
                assert_eq!(layout.key(&hashes[s as usize], 0), key);
                seen += 1;
            }
        }
        assert_eq!(seen, hashes.len());
    }
}
