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
    /// Whether an insert or removal that leaves the index lopsided
    /// compacts it there and then (see [`PdqIndex::set_auto_compact`]).
    auto_compact: bool,
    /// Changes at every mutation, unique across indexes: work prepared
    /// against one state ([`Room`], planned removals) is applied only to
    /// that same state.
    stamp: u64,
}

/// Where [`PdqIndex::stamp`]s come from.
static STAMPS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn next_stamp() -> u64 {
    STAMPS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Storage for more inserts, grown ahead of them from a shared reference
/// (see [`PdqIndex::room_for`]): the copy into bigger vectors and the
/// rehash of the delta tables, which a plain insert would do while its
/// caller holds the index exclusively, are done beforehand, while
/// lookups go on; installing it is a swap of vectors.
pub struct Room<T> {
    stamp: u64,
    hashes: Option<Vec<[u64; 4]>>,
    items: Option<Vec<T>>,
    dead: Option<Vec<u64>>,
    delta: Vec<Option<DeltaTable>>,
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
            auto_compact: true,
            stamp: next_stamp(),
        }
    }

    /// Whether inserts and removals compact the index themselves when it
    /// gets lopsided (the default). Off, the owner asks
    /// [`PdqIndex::needs_compaction`] and builds [`PdqIndex::compacted`]
    /// where it suits it: a service builds it under a shared lock and swaps
    /// it in, instead of rebuilding every table while lookups wait.
    pub fn set_auto_compact(&mut self, on: bool) {
        self.auto_compact = on;
    }

    /// Identifies the index's current state: changed by every mutation.
    pub fn stamp(&self) -> u64 {
        self.stamp
    }

    /// Whether the delta or the tombstones have grown past the point
    /// where the static tables should be rebuilt.
    pub fn needs_compaction(&self) -> bool {
        let delta_len = self.hashes.len() - self.main_len;
        (delta_len > MIN_DELTA_BEFORE_MERGE && delta_len > self.main_len / 4)
            || (self.dead_count > MIN_DELTA_BEFORE_MERGE && self.dead_count > self.hashes.len() / 4)
    }

    /// Storage for `extra` more inserts, when some vector or delta table
    /// would otherwise grow during them (`None`: there is room already).
    pub fn room_for(&self, extra: usize) -> Option<Room<T>> {
        let len = self.hashes.len();
        let want = len + extra;
        // Grow as a Vec would (doubling), so rooms stay rare.
        let cap = want.max(2 * len);
        let grow = |have: usize| have < want;
        let hashes = grow(self.hashes.capacity()).then(|| {
            let mut v = Vec::with_capacity(cap);
            v.extend_from_slice(&self.hashes);
            v
        });
        let items = grow(self.items.capacity()).then(|| {
            let mut v = Vec::with_capacity(cap);
            v.extend_from_slice(&self.items);
            v
        });
        let dead = (self.dead.capacity() < want.div_ceil(64)).then(|| {
            let mut v = Vec::with_capacity(cap.div_ceil(64) + 1);
            v.extend_from_slice(&self.dead);
            v
        });
        let delta: Vec<Option<DeltaTable>> =
            self.delta.iter().map(|t| t.grown_for(extra)).collect();
        if hashes.is_none()
            && items.is_none()
            && dead.is_none()
            && delta.iter().all(Option::is_none)
        {
            return None;
        }
        Some(Room {
            stamp: self.stamp,
            hashes,
            items,
            dead,
            delta,
        })
    }

    /// Put in storage made by [`PdqIndex::room_for`] on this same state
    /// (the stamp tells). Only vectors are swapped: slots and contents
    /// stay as they are. Gives back the storage it replaced (`Ok`: free it
    /// once the index is no longer held exclusively, freeing a large
    /// vector takes a while) or, for a stale room, the room itself.
    pub fn install_room(&mut self, mut room: Room<T>) -> Result<Room<T>, Room<T>> {
        if room.stamp != self.stamp || room.delta.len() != self.delta.len() {
            return Err(room);
        }
        if let Some(v) = room.hashes.as_mut() {
            std::mem::swap(&mut self.hashes, v);
        }
        if let Some(v) = room.items.as_mut() {
            std::mem::swap(&mut self.items, v);
        }
        if let Some(v) = room.dead.as_mut() {
            std::mem::swap(&mut self.dead, v);
        }
        for (mine, grown) in self.delta.iter_mut().zip(room.delta.iter_mut()) {
            if let Some(t) = grown {
                std::mem::swap(mine, t);
            }
        }
        Ok(room)
    }

    /// The live slots holding `hash` whose item satisfies `pred`: what
    /// [`PdqIndex::remove`] would tombstone, found from a shared reference
    /// (see [`PdqIndex::tombstone`]).
    pub fn find(&self, hash: &Pdq, mut pred: impl FnMut(&T) -> bool) -> Vec<u32> {
        let mut slots = Vec::new();
        self.search_slots(&hash.words(), 0, &mut slots);
        slots
            .into_iter()
            .map(|(slot, _)| slot)
            .filter(|&slot| pred(&self.items[slot as usize]))
            .collect()
    }

    /// Tombstone `slots` found by [`PdqIndex::find`] on the state `stamp`;
    /// `None`, and nothing changed, when the index has changed since.
    /// Returns how many were removed.
    pub fn tombstone(&mut self, stamp: u64, slots: &[u32]) -> Option<usize> {
        if stamp != self.stamp {
            return None;
        }
        let mut removed = 0;
        for &slot in slots {
            if (slot as usize) < self.hashes.len() && !self.is_dead(slot) {
                self.dead[slot as usize / 64] |= 1 << (slot % 64);
                self.dead_count += 1;
                removed += 1;
            }
        }
        if removed > 0 {
            self.stamp = next_stamp();
        }
        if self.auto_compact && self.needs_compaction() {
            self.compact();
        }
        Some(removed)
    }

    /// The live slots whose item satisfies `pred`, from `from` on (a scan
    /// of every item, from a shared reference: what a list leaving the
    /// matcher holds). Slots stay where they are until a compaction.
    pub fn live_slots_where(&self, from: u32, mut pred: impl FnMut(&T) -> bool) -> Vec<u32> {
        (from as usize..self.items.len())
            .filter(|&s| !self.is_dead(s as u32) && pred(&self.items[s]))
            .map(|s| s as u32)
            .collect()
    }

    /// Tombstone those of `slots` still live whose item satisfies `pred`
    /// (checked again here, so a slot found before a compaction never
    /// removes another item); returns how many were removed.
    pub fn tombstone_where(&mut self, slots: &[u32], mut pred: impl FnMut(&T) -> bool) -> usize {
        let mut removed = 0;
        for &slot in slots {
            if (slot as usize) < self.hashes.len()
                && !self.is_dead(slot)
                && pred(&self.items[slot as usize])
            {
                self.dead[slot as usize / 64] |= 1 << (slot % 64);
                self.dead_count += 1;
                removed += 1;
            }
        }
        if removed > 0 {
            self.stamp = next_stamp();
        }
        removed
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

    /// Every live hash with its item (tombstoned slots skipped), in slot
    /// order.
    pub fn for_each_live(&self, mut f: impl FnMut(&[u64; 4], &T)) {
        for (slot, (h, t)) in self.hashes.iter().zip(&self.items).enumerate() {
            if !self.is_dead(slot as u32) {
                f(h, t);
            }
        }
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
        self.stamp = next_stamp();
        let delta_len = self.hashes.len() - self.main_len;
        if self.auto_compact && delta_len > MIN_DELTA_BEFORE_MERGE && delta_len > self.main_len / 4
        {
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
        if removed > 0 {
            self.stamp = next_stamp();
        }
        if self.auto_compact
            && self.dead_count > MIN_DELTA_BEFORE_MERGE
            && self.dead_count > self.hashes.len() / 4
        {
            self.compact();
        }
        removed
    }

    /// Rebuild the static tables over all live hashes (drops tombstones,
    /// merges the delta, re-picks the key width for the new size).
    pub fn compact(&mut self) {
        *self = self.compacted();
    }

    /// What [`PdqIndex::compact`] makes, built from a shared reference
    /// (the index itself is left as it is).
    pub fn compacted(&self) -> Self {
        let mut hashes = Vec::with_capacity(self.len());
        let mut items = Vec::with_capacity(self.len());
        for slot in 0..self.hashes.len() {
            if !self.is_dead(slot as u32) {
                hashes.push(self.hashes[slot]);
                items.push(self.items[slot]);
            }
        }
        let mut fresh = Self::build(hashes, items, self.config);
        fresh.auto_compact = self.auto_compact;
        fresh
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

    #[test]
    fn room_ahead_and_planned_tombstones_keep_the_index_exact() {
        let mut seed = 23;
        let base = random_hashes(4000, &mut seed);
        let mut all = base.clone();
        let mut idx = PdqIndex::build(base, (0..4000u32).collect(), IndexConfig::default());
        idx.set_auto_compact(false);
        // Built vectors are exactly full: the first insert needs room.
        let room = idx.room_for(600).expect("a built index has no spare room");
        let stamp = idx.stamp();
        let old = idx.install_room(room).ok().expect("fresh room");
        assert_eq!(idx.stamp(), stamp, "a room changes no slot");
        assert!(old.hashes.is_some_and(|v| v.len() == 4000));
        assert!(idx.room_for(600).is_none());
        let cap = (
            idx.hashes.capacity(),
            idx.items.capacity(),
            idx.dead.capacity(),
        );
        for i in 0..600u32 {
            let h = random_hashes(1, &mut seed)[0];
            all.push(h);
            idx.insert(&Pdq::from_words(h), 4000 + i);
        }
        // No vector grew during the inserts.
        assert_eq!(
            (
                idx.hashes.capacity(),
                idx.items.capacity(),
                idx.dead.capacity()
            ),
            cap
        );
        // A room made before a change is refused.
        let stale = idx.room_for(1_000_000).unwrap();
        idx.insert(&Pdq::from_words(all[0]), 9999);
        all.push(all[0]);
        assert!(idx.install_room(stale).is_err());
        let mut alive = vec![true; all.len()];
        for i in (0..all.len()).step_by(9) {
            let slots = idx.find(&Pdq::from_words(all[i]), |&item| {
                item == i as u32 || (i == 0 && item == 9999)
            });
            let stamp = idx.stamp();
            // Stale slots are refused, fresh ones removed.
            assert_eq!(idx.tombstone(stamp.wrapping_sub(1), &slots), None);
            assert_eq!(idx.tombstone(stamp, &slots), Some(slots.len()));
            assert_eq!(idx.tombstone(idx.stamp(), &slots), Some(0), "already dead");
            alive[i] = false;
            if i == 0 {
                alive[all.len() - 1] = false;
            }
        }
        let compacted = idx.compacted();
        for qi in 0..150 {
            let q = all[(qi * 31) % all.len()];
            for r in [0, 31, 64] {
                let got: Vec<(u32, u32)> = idx
                    .search(&Pdq::from_words(q), r)
                    .into_iter()
                    .map(|h| (h.item, h.distance))
                    .collect();
                let want: Vec<(u32, u32)> = brute(&all, &alive, &q, r)
                    .into_iter()
                    .map(|(slot, d)| {
                        (
                            if slot as usize == all.len() - 1 {
                                9999
                            } else {
                                slot
                            },
                            d,
                        )
                    })
                    .collect();
                let mut a = got.clone();
                a.sort_unstable();
                let mut b = want.clone();
                b.sort_unstable();
                assert_eq!(a, b, "r {r}");
                let mut c: Vec<(u32, u32)> = compacted
                    .search(&Pdq::from_words(q), r)
                    .into_iter()
                    .map(|h| (h.item, h.distance))
                    .collect();
                c.sort_unstable();
                assert_eq!(c, b, "compacted, r {r}");
            }
        }
        assert!(
            !compacted.auto_compact,
            "a compacted index keeps the setting"
        );
    }
}
