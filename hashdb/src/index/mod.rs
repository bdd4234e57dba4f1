//! In-memory indexes over the hashes of a list.
//!
//! [`PdqIndex`] answers "every PDQ hash within distance `r` of this one",
//! exactly, for any `r` in `0..=256`. It is a multi-index hash (see
//! [`layout`]) with a cost model that falls back to a linear scan when the
//! radius is so large that probing would cost more than reading everything;
//! both paths are exact, so the choice only changes speed. [`ExactIndex`]
//! holds the cryptographic digests, for which only equality matters.
//!
//! Why this shape: a radius-31 query over 10M hashes with one 16-bit table per
//! 16 bits (faiss `IndexBinaryMultiHash(256,16,16)`) verifies ~40,000 random
//! candidates per query; a scan reads 320 MB. Keys of ~log2(n) bits keep about
//! one hash per bucket, so a query costs a few thousand cache-friendly probes
//! plus a few thousand verifications, each prefetched ahead of use.
//!
//! Threading: queries take `&self` and may run on many threads at once;
//! inserts and removals take `&mut self`.

mod exact;
mod kernel;
pub mod layout;
mod table;

use std::cell::RefCell;

pub use exact::ExactIndex;
use kernel::distance;
use layout::Layout;
use table::{CsrTable, DeltaTable};

use crate::types::Pdq;

/// The key width and each static table's (offsets, slots), borrowed from
/// an index (see [`PdqIndex::static_tables`]).
pub type StaticTables<'a> = (u32, Vec<(&'a [u32], &'a [u32])>);

/// One result of a [`PdqIndex`] search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexHit<T> {
    /// What was stored with the hash.
    pub item: T,
    /// Hamming distance to the query.
    pub distance: u32,
}

/// Knobs of the index (defaults suit lists from a hundred to 100M hashes).
#[derive(Debug, Clone, Copy, Default)]
pub struct IndexConfig {
    /// Key width in bits; `None` picks about `log2(n)` at each (re)build.
    pub key_bits: Option<u32>,
}

/// How a search was answered (for benchmarks and diagnostics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Probed the substring tables.
    MultiIndex,
    /// Read every hash.
    Scan,
}

/// The delta is merged into the static tables once it holds more than this
/// many hashes and more than a quarter of the static part.
const MIN_DELTA_BEFORE_MERGE: usize = 1 << 16;

/// Exact Hamming-radius index over PDQ hashes, each stored with an item `T`
/// (for the store: the entry and frame the hash came from).
pub struct PdqIndex<T> {
    config: IndexConfig,
    layout: Layout,
    /// All hashes by slot: `0..main_len` are in the static tables, the rest
    /// in the delta tables.
    hashes: Vec<[u64; 4]>,
    items: Vec<T>,
    main_len: usize,
    main: Vec<CsrTable>,
    delta: Vec<DeltaTable>,
    /// Tombstones, one bit per slot.
    dead: Vec<u64>,
    dead_count: usize,
}

#[derive(Default)]
struct Scratch {
    keys: Vec<u32>,
    cands: Vec<u32>,
    found: Vec<(u32, u32)>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

impl<T: Copy> Default for PdqIndex<T> {
    fn default() -> Self {
        Self::build(Vec::new(), Vec::new(), IndexConfig::default())
    }
}

impl<T: Copy> PdqIndex<T> {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Build from parallel vectors of hashes and items (same length; extra
    /// elements of the longer one are dropped). Tables are built on up to
    /// as many threads as there are cores.
    pub fn build(hashes: Vec<[u64; 4]>, mut items: Vec<T>, config: IndexConfig) -> Self {
        let mut hashes = hashes;
        let n = hashes.len().min(items.len());
        hashes.truncate(n);
        items.truncate(n);
        // Vectors grown by pushing may hold up to twice their length.
        hashes.shrink_to_fit();
        items.shrink_to_fit();
        let layout = Self::layout_for(&config, n);
        let main = build_tables(&layout, &hashes);
        Self::with_tables(config, layout, hashes, items, main)
    }

    /// The table layout an index of `n` hashes gets under `config`: what a
    /// build uses and what saved tables must have been made with.
    fn layout_for(config: &IndexConfig, n: usize) -> Layout {
        config
            .key_bits
            .map(Layout::with_bits)
            .unwrap_or_else(|| Layout::for_len(n))
    }

    /// An index whose static tables `main` hold every one of `hashes`,
    /// nothing removed, no delta yet: the one constructor of both a build
    /// and a load of saved tables.
    fn with_tables(
        config: IndexConfig,
        layout: Layout,
        hashes: Vec<[u64; 4]>,
        items: Vec<T>,
        main: Vec<CsrTable>,
    ) -> Self {
        let n = hashes.len();
        let delta = (0..layout.tables())
            .map(|_| DeltaTable::default())
            .collect();
        PdqIndex {
            config,
            layout,
            dead: vec![0; n.div_ceil(64)],
            hashes,
            items,
            main_len: n,
            main,
            delta,
            dead_count: 0,
        }
    }

    /// An index over `hashes` and `items` whose static tables were saved
    /// from [`PdqIndex::static_tables`] of an index built over the same
    /// hashes with the same config (see `store::snapshot`): no table is
    /// built. Gives the vectors back when the saved tables do not have the
    /// shape such an index would have (key width, table count, sizes).
    #[allow(clippy::type_complexity)]
    pub fn from_static_tables(
        hashes: Vec<[u64; 4]>,
        items: Vec<T>,
        config: IndexConfig,
        bits: u32,
        tables: Vec<(Vec<u32>, Vec<u32>)>,
    ) -> Result<Self, (Vec<[u64; 4]>, Vec<T>)> {
        let n = hashes.len();
        let layout = Self::layout_for(&config, n);
        if items.len() != n || layout.bits() != bits || tables.len() != layout.tables() {
            return Err((hashes, items));
        }
        let mut main = Vec::with_capacity(tables.len());
        for (offsets, slots) in tables {
            match CsrTable::from_parts(layout.buckets(), n, offsets, slots) {
                Some(t) => main.push(t),
                None => return Err((hashes, items)),
            }
        }
        Ok(Self::with_tables(config, layout, hashes, items, main))
    }

    /// The key width and each static table's offsets and slots, when every
    /// hash is in the static tables (as after a build: no insert, removal
    /// or compaction since), for saving.
    pub fn static_tables(&self) -> Option<StaticTables<'_>> {
        (self.main_len == self.hashes.len() && self.dead_count == 0).then(|| {
            (
                self.layout.bits(),
                self.main.iter().map(|t| (t.offsets(), t.slots())).collect(),
            )
        })
    }

    /// The hashes, by slot.
    pub fn hashes(&self) -> &[[u64; 4]] {
        &self.hashes
    }

    /// The items, by slot.
    pub fn items(&self) -> &[T] {
        &self.items
    }

    /// Build from `(hash, item)` pairs.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (Pdq, T)>, config: IndexConfig) -> Self {
        let (h, i): (Vec<_>, Vec<_>) = pairs.into_iter().map(|(p, t)| (p.words(), t)).unzip();
        Self::build(h, i, config)
    }

    /// Number of live hashes.
    pub fn len(&self) -> usize {
        self.hashes.len() - self.dead_count
    }

    /// Whether no live hash is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The current substring layout.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Heap bytes held by the index (hashes, items, tables, tombstones).
    pub fn heap_bytes(&self) -> usize {
        self.hashes.capacity() * 32
            + self.items.capacity() * std::mem::size_of::<T>()
            + self.main.iter().map(CsrTable::heap_bytes).sum::<usize>()
            + self.delta.iter().map(DeltaTable::heap_bytes).sum::<usize>()
            + self.dead.capacity() * 8
    }

    /// Add one hash. Goes to the delta tables; merged into the static
    /// tables (amortised) when the delta grows large.
    pub fn insert(&mut self, hash: &Pdq, item: T) {
        let w = hash.words();
        let slot = self.hashes.len() as u32;
        self.hashes.push(w);
        self.items.push(item);
        if self.dead.len() * 64 < self.hashes.len() {
            self.dead.push(0);
        }
        for (t, table) in self.delta.iter_mut().enumerate() {
            table.insert(self.layout.key(&w, t), slot);
        }
        let delta_len = self.hashes.len() - self.main_len;
        if delta_len > MIN_DELTA_BEFORE_MERGE && delta_len > self.main_len / 4 {
            self.compact();
        }
    }

    /// Tombstone every live copy of `hash` whose item satisfies `pred`;
    /// returns how many were removed. Compacts when a quarter is dead.
    pub fn remove(&mut self, hash: &Pdq, mut pred: impl FnMut(&T) -> bool) -> usize {
        let mut slots = Vec::new();
        self.search_slots(&hash.words(), 0, &mut slots);
        let mut removed = 0;
        for (slot, _) in slots {
            if pred(&self.items[slot as usize]) {
                self.dead[slot as usize / 64] |= 1 << (slot % 64);
                self.dead_count += 1;
                removed += 1;
            }
        }
        if self.dead_count > MIN_DELTA_BEFORE_MERGE && self.dead_count > self.hashes.len() / 4 {
            self.compact();
        }
        removed
    }

    /// Rebuild the static tables over all live hashes (drops tombstones,
    /// merges the delta, re-picks the key width for the new size).
    pub fn compact(&mut self) {
        let mut hashes = Vec::with_capacity(self.len());
        let mut items = Vec::with_capacity(self.len());
        for slot in 0..self.hashes.len() {
            if !self.is_dead(slot as u32) {
                hashes.push(self.hashes[slot]);
                items.push(self.items[slot]);
            }
        }
        *self = Self::build(hashes, items, self.config);
    }

    #[inline(always)]
    fn is_dead(&self, slot: u32) -> bool {
        (self.dead[slot as usize / 64] >> (slot % 64)) & 1 == 1
    }

    /// Which strategy a search with radius `r` would use.
    pub fn strategy(&self, r: u32) -> Strategy {
        if !self.layout.covers(r) {
            return Strategy::Scan;
        }
        // Rough costs in nanoseconds, measured on a 2.5 GHz server core
        // (benches/index.rs): a probe or a verified candidate ~15 ns (random
        // access, prefetched), a streamed hash ~2.8 ns (memory bandwidth).
        // Both paths are exact; this only picks the faster.
        let probes = self.layout.probes(r) as f64;
        let cands = probes * self.main_len as f64 / self.layout.buckets() as f64;
        let mih = (probes + cands) * 15.0;
        let scan = self.main_len as f64 * 2.8;
        if mih < scan {
            Strategy::MultiIndex
        } else {
            Strategy::Scan
        }
    }

    /// Every live hash within `radius` of `query`, closest first (ties in
    /// insertion order).
    pub fn search(&self, query: &Pdq, radius: u32) -> Vec<IndexHit<T>> {
        let mut out = Vec::new();
        self.search_into(query, radius, &mut out);
        out
    }

    /// [`PdqIndex::search`] appending to `out` (reuses its allocation).
    pub fn search_into(&self, query: &Pdq, radius: u32, out: &mut Vec<IndexHit<T>>) {
        SCRATCH.with(|s| {
            let mut s = s.borrow_mut();
            let mut found = std::mem::take(&mut s.found);
            found.clear();
            self.search_slots_with(&query.words(), radius, &mut s, &mut found);
            found.sort_unstable_by_key(|&(slot, d)| (d, slot));
            out.extend(found.iter().map(|&(slot, d)| IndexHit {
                item: self.items[slot as usize],
                distance: d,
            }));
            s.found = found;
        })
    }

    /// Every live hash within `radius` of `query`, with the stored hash
    /// itself (in no particular order): for callers that count distinct
    /// listed hashes, as a vPDQ bag comparison does.
    pub fn search_with_hashes_into(
        &self,
        query: &Pdq,
        radius: u32,
        out: &mut Vec<(IndexHit<T>, Pdq)>,
    ) {
        SCRATCH.with(|s| {
            let mut s = s.borrow_mut();
            let mut found = std::mem::take(&mut s.found);
            found.clear();
            self.search_slots_with(&query.words(), radius, &mut s, &mut found);
            out.extend(found.iter().map(|&(slot, d)| {
                (
                    IndexHit {
                        item: self.items[slot as usize],
                        distance: d,
                    },
                    Pdq::from_words(self.hashes[slot as usize]),
                )
            }));
            s.found = found;
        })
    }

    fn search_slots(&self, q: &[u64; 4], radius: u32, found: &mut Vec<(u32, u32)>) {
        SCRATCH.with(|s| self.search_slots_with(q, radius, &mut s.borrow_mut(), found))
    }

    fn search_slots_with(
        &self,
        q: &[u64; 4],
        radius: u32,
        s: &mut Scratch,
        found: &mut Vec<(u32, u32)>,
    ) {
        let start = found.len();
        match self.strategy(radius) {
            Strategy::Scan => kernel::scan(&self.hashes, 0, q, radius, found),
            Strategy::MultiIndex => {
                let plan = self.layout.plan(radius);
                self.probe_main(q, radius, &plan, s, found);
                let delta_len = self.hashes.len() - self.main_len;
                if delta_len > 0 {
                    if (delta_len as f64) * 2.8 < self.layout.probes(radius) as f64 * 20.0 {
                        kernel::scan(
                            &self.hashes[self.main_len..],
                            self.main_len as u32,
                            q,
                            radius,
                            found,
                        );
                    } else {
                        self.probe_delta(q, radius, &plan, s, found);
                    }
                }
            }
        }
        // Drop tombstoned slots.
        let mut keep = start;
        for i in start..found.len() {
            if !self.is_dead(found[i].0) {
                found[keep] = found[i];
                keep += 1;
            }
        }
        found.truncate(keep);
    }

    fn probe_main(
        &self,
        q: &[u64; 4],
        radius: u32,
        plan: &[Option<u32>],
        s: &mut Scratch,
        found: &mut Vec<(u32, u32)>,
    ) {
        #[cfg(target_arch = "x86_64")]
        if kernel::has_popcnt() {
            // SAFETY: the CPU supports popcnt (checked just above).
            unsafe { self.probe_main_popcnt(q, radius, plan, s, found) };
            return;
        }
        self.probe_main_generic(q, radius, plan, s, found)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "popcnt")]
    unsafe fn probe_main_popcnt(
        &self,
        q: &[u64; 4],
        radius: u32,
        plan: &[Option<u32>],
        s: &mut Scratch,
        found: &mut Vec<(u32, u32)>,
    ) {
        self.probe_main_generic(q, radius, plan, s, found)
    }

    #[inline(always)]
    fn probe_main_generic(
        &self,
        q: &[u64; 4],
        radius: u32,
        plan: &[Option<u32>],
        s: &mut Scratch,
        found: &mut Vec<(u32, u32)>,
    ) {
        const AHEAD: usize = 16;
        for (t, ri) in plan.iter().enumerate() {
            let Some(ri) = *ri else { continue };
            let table = &self.main[t];
            s.keys.clear();
            self.layout
                .neighbours(self.layout.key(q, t), ri, &mut s.keys);
            s.cands.clear();
            let keys = &s.keys;
            for j in 0..keys.len() {
                // Two-stage prefetch: the offsets of a key far ahead, the
                // slots of a nearer key whose offsets have arrived by now.
                if let Some(&k) = keys.get(j + AHEAD) {
                    table.prefetch(k);
                }
                if let Some(&k) = keys.get(j + AHEAD / 2) {
                    table.prefetch_slots(k);
                }
                s.cands.extend_from_slice(table.bucket(keys[j]));
            }
            let cands = &s.cands;
            let hashes = &self.hashes[..self.main_len];
            for j in 0..cands.len() {
                if let Some(&c) = cands.get(j + AHEAD) {
                    kernel::prefetch(hashes.as_ptr().wrapping_add(c as usize));
                }
                let slot = cands[j];
                let h = &hashes[slot as usize];
                let d = distance(h, q);
                if d <= radius && self.first_table(q, h, t, plan) {
                    found.push((slot, d));
                }
            }
        }
    }

    fn probe_delta(
        &self,
        q: &[u64; 4],
        radius: u32,
        plan: &[Option<u32>],
        s: &mut Scratch,
        found: &mut Vec<(u32, u32)>,
    ) {
        for (t, ri) in plan.iter().enumerate() {
            let Some(ri) = *ri else { continue };
            s.keys.clear();
            self.layout
                .neighbours(self.layout.key(q, t), ri, &mut s.keys);
            for &k in &s.keys {
                for &slot in self.delta[t].bucket(k) {
                    let h = &self.hashes[slot as usize];
                    let d = distance(h, q);
                    if d <= radius && self.first_table(q, h, t, plan) {
                        found.push((slot, d));
                    }
                }
            }
        }
    }

    /// A hash within the radius is reported only by the first table whose
    /// probe reaches it, so results need no de-duplication pass.
    #[inline(always)]
    fn first_table(&self, q: &[u64; 4], h: &[u64; 4], t: usize, plan: &[Option<u32>]) -> bool {
        plan[..t].iter().enumerate().all(|(j, rj)| match rj {
            Some(rj) => (self.layout.key(q, j) ^ self.layout.key(h, j)).count_ones() > *rj,
            None => true,
        })
    }
}

fn build_tables(layout: &Layout, hashes: &[[u64; 4]]) -> Vec<CsrTable> {
    let m = layout.tables();
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(m)
        .max(1);
    if threads == 1 || hashes.len() < 100_000 {
        return (0..m).map(|t| CsrTable::build(layout, t, hashes)).collect();
    }
    let mut tables: Vec<Option<CsrTable>> = (0..m).map(|_| None).collect();
    std::thread::scope(|scope| {
        let chunks: Vec<_> = tables
            .chunks_mut(m.div_ceil(threads))
            .enumerate()
            .map(|(c, chunk)| {
                let base = c * m.div_ceil(threads);
                scope.spawn(move || {
                    for (i, slot) in chunk.iter_mut().enumerate() {
                        *slot = Some(CsrTable::build(layout, base + i, hashes));
                    }
                })
            })
            .collect();
        for handle in chunks {
            // A panic in a builder thread is a bug; re-raise it here.
            if let Err(p) = handle.join() {
                std::panic::resume_unwind(p);
            }
        }
    });
    tables.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rng(seed: &mut u64) -> u64 {
        *seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = *seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// `n` uniform hashes from the seeded generator.
    fn random_hashes(n: usize, seed: &mut u64) -> Vec<[u64; 4]> {
        (0..n)
            .map(|_| [rng(seed), rng(seed), rng(seed), rng(seed)])
            .collect()
    }

    fn brute(hashes: &[[u64; 4]], alive: &[bool], q: &[u64; 4], r: u32) -> Vec<(u32, u32)> {
        let mut v: Vec<(u32, u32)> = hashes
            .iter()
            .enumerate()
            .filter(|(i, _)| alive[*i])
            .map(|(i, h)| (i as u32, distance(h, q)))
            .filter(|&(_, d)| d <= r)
            .map(|(i, d)| (d, i))
            .map(|(d, i)| (i, d))
            .collect();
        v.sort_by_key(|&(i, d)| (d, i));
        v
    }

    #[test]
    fn insert_remove_and_compact_stay_exact() {
        let mut seed = 7;
        let base = random_hashes(3000, &mut seed);
        let mut all = base.clone();
        let mut idx = PdqIndex::build(base.clone(), (0..3000u32).collect(), IndexConfig::default());
        // Near-duplicates of early hashes go to the delta.
        for i in 0..500u32 {
            let mut h = all[i as usize];
            h[(i % 4) as usize] ^= rng(&mut seed) & rng(&mut seed) & rng(&mut seed);
            all.push(h);
            idx.insert(&Pdq::from_words(h), 3000 + i);
        }
        let mut alive = vec![true; all.len()];
        for i in (0..all.len()).step_by(7) {
            let n = idx.remove(&Pdq::from_words(all[i]), |&item| item == i as u32);
            assert_eq!(n, 1);
            alive[i] = false;
        }
        for round in 0..2 {
            for qi in 0..200 {
                let q = all[(qi * 13) % all.len()];
                for r in [0, 8, 31, 45, 64, 100, 256] {
                    let got: Vec<(u32, u32)> = idx
                        .search(&Pdq::from_words(q), r)
                        .into_iter()
                        .map(|h| (h.item, h.distance))
                        .collect();
                    let mut got_sorted = got.clone();
                    got_sorted.sort_by_key(|&(i, d)| (d, i));
                    assert_eq!(
                        got_sorted,
                        brute(&all, &alive, &q, r),
                        "round {round} r {r}"
                    );
                }
            }
            idx.compact();
        }
        assert_eq!(idx.len(), alive.iter().filter(|a| **a).count());
    }

    #[test]
    fn saved_static_tables_give_the_same_index() {
        let mut seed = 11;
        let hashes = random_hashes(5000, &mut seed);
        let items: Vec<u32> = (0..5000).collect();
        let built = PdqIndex::build(hashes.clone(), items.clone(), IndexConfig::default());
        let (bits, tables) = built.static_tables().unwrap();
        let owned: Vec<(Vec<u32>, Vec<u32>)> = tables
            .iter()
            .map(|(o, s)| (o.to_vec(), s.to_vec()))
            .collect();
        let loaded = PdqIndex::from_static_tables(
            hashes.clone(),
            items.clone(),
            IndexConfig::default(),
            bits,
            owned.clone(),
        )
        .ok()
        .unwrap();
        for (i, h) in hashes.iter().enumerate().step_by(97) {
            let mut q = *h;
            q[i % 4] ^= 0x0f0f;
            let mut a = built.search(&Pdq::from_words(q), 31);
            let mut b = loaded.search(&Pdq::from_words(q), 31);
            a.sort_by_key(|h| (h.distance, h.item));
            b.sort_by_key(|h| (h.distance, h.item));
            assert_eq!(a, b);
            assert!(a.iter().any(|x| x.item == i as u32));
        }
        // Tables of another shape are refused.
        let refused = |bits: u32, tables: Vec<(Vec<u32>, Vec<u32>)>| {
            PdqIndex::from_static_tables(
                hashes.clone(),
                items.clone(),
                IndexConfig::default(),
                bits,
                tables,
            )
            .is_err()
        };
        assert!(refused(bits + 1, owned.clone()));
        assert!(refused(bits, owned[1..].to_vec()));
        let mut bad = owned.clone();
        bad[0].1[7] = 5000; // a slot past the end
        assert!(refused(bits, bad));
        let mut bad = owned.clone();
        bad[2].0.swap(10, 4000); // offsets out of order
        assert!(refused(bits, bad));
        // After an insert the tables no longer cover every hash.
        let mut changed = built;
        changed.insert(&Pdq::from_words([1, 2, 3, 4]), 5000);
        assert!(changed.static_tables().is_none());
    }
}
