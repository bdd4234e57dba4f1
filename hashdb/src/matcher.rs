//! Matching queries against the active entries of the enabled lists.
//!
//! [`Matcher`] is the in-memory side: a [`PdqIndex`] over every active PDQ
//! hash (image entries and every frame of vPDQ entries, each pointing back
//! to its entry and frame), exact sets for the digests, the frames of every
//! listed video for the bag comparison, and the allowlist. [`HashDb`] pairs
//! it with the [`Store`] and keeps both in step: adding, disabling or
//! disputing an entry updates the index in place, with no rebuild, and so
//! do list and allowlist changes (`matcher/lists.rs`).
//!
//! Threading: matching takes `&self` (share a `Matcher` across threads
//! behind an `Arc`/`RwLock`); changes take `&mut self`.

mod lists;

pub use lists::{ListChange, ListRemoval};

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::error::{ImportError, OpenError, ParseError, StoreError};
use crate::index::{ExactIndex, IndexConfig, PdqIndex};
use crate::model::{Entry, EntryId, ListId, ListInfo, Record, Status, StatusChange, Value};
use crate::store::{ImportOptions, ImportSummary, OpenOptions, Store};
use crate::tmk::{level2, TmkHash, TmkIndex, TmkScores, TmkThresholds};
use crate::types::{Pdq, SignalType};
use crate::vpdq::{
    comparison, unique_good_hashes, VpdqComparison, VpdqFrame, VpdqRuleOverride, VpdqThresholds,
    VpdqVerdict,
};

/// Where an indexed hash came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemRef {
    pub entry: EntryId,
    pub list: ListId,
    /// Frame number for a vPDQ frame; `NO_FRAME` for an image/crypto entry.
    pub frame: u64,
}

/// `ItemRef::frame` of a hash that is not a video frame.
pub const NO_FRAME: u64 = u64::MAX;

/// Set from another thread to abandon a long match (its request went
/// away): the match stops at its next check and returns the hits found so
/// far, which the caller discards.
#[derive(Debug, Clone, Default)]
pub struct CancelFlag(Arc<AtomicBool>);

impl CancelFlag {
    pub fn new() -> Self {
        Self::default()
    }

    /// Ask every match holding a clone of this flag to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Release);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// How many query frames a vPDQ match handles between two looks at its
/// [`CancelFlag`].
const CANCEL_CHECK_FRAMES: usize = 256;

/// Which lists and thresholds a query uses.
#[derive(Debug, Clone, Default)]
pub struct MatchOptions {
    /// Only these lists (by name); `None` = every enabled list.
    pub lists: Option<Vec<String>>,
    /// PDQ distance instead of each list's own threshold.
    pub threshold: Option<u32>,
    /// Video frames below this quality take no part in a vPDQ comparison
    /// (`None`: 50, the reference's gate).
    pub vpdq_quality: Option<u8>,
    /// Values replacing each list's own vPDQ rule (see
    /// [`crate::vpdq::VpdqRule`]); unset values keep the list's.
    pub vpdq_rule: VpdqRuleOverride,
    /// A vPDQ query is dense (every frame, not one a period) and stands for
    /// this many sampled frames: its comparisons are judged as
    /// [`crate::vpdq::VpdqComparison::per_samples`] says.
    pub dense_query_samples: Option<usize>,
    /// Abandon the match when set (see [`CancelFlag`]).
    pub cancel: Option<CancelFlag>,
    /// TMK+PDQF thresholds instead of each list's own.
    pub tmk: Option<TmkThresholds>,
}

impl MatchOptions {
    fn cancelled(&self) -> bool {
        self.cancel.as_ref().is_some_and(CancelFlag::is_cancelled)
    }
}

/// One match.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub list: ListId,
    pub entry: EntryId,
    pub signal_type: SignalType,
    /// PDQ distance (for vPDQ: of the closest frame pair; digests: 0).
    pub distance: u32,
    /// The listed video's frame that matched (a PDQ query hitting a video).
    pub frame: Option<u64>,
    /// The query video's frame that matched (vPDQ query hitting an image).
    pub query_frame: Option<u64>,
    /// The vPDQ bag comparison, for video-to-video hits.
    pub vpdq: Option<VpdqComparison>,
    /// Which of the list's video rules the comparison passed.
    pub vpdq_rule: Option<VpdqVerdict>,
    /// The allowlist entry that suppresses this hit, if any.
    pub suppressed_by: Option<i64>,
    /// TMK+PDQF hits: both scores.
    pub tmk: Option<TmkScores>,
}

/// What [`Matcher::plan_changes`] prepared for [`Matcher::apply_changes`].
pub struct ChangePlan {
    stamp: u64,
    /// Per entry: the PDQ slots to tombstone (`None`: not a PDQ or vPDQ
    /// entry, removed the ordinary way).
    removals: Vec<Option<Vec<u32>>>,
    room: Option<crate::index::Room<ItemRef>>,
}

/// Storage [`Matcher::apply_changes`] replaced, to be dropped by the
/// caller where freeing it holds nobody up.
pub struct Retired(#[allow(dead_code)] Option<crate::index::Room<ItemRef>>);

/// Opening a [`HashDb`] failed.
#[derive(Debug, thiserror::Error)]
pub enum HashDbError {
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error("loading the lists: {0}")]
    Load(#[from] StoreError),
}

/// Where a listed video's whole `.tmk` comes from when its level-1 passes:
/// the store by default (see [`StoreTmkFiles`]).
pub trait TmkFiles: Send + Sync {
    /// The TMK+PDQF hash of entry `entry`, or `None` when it cannot be read.
    fn tmk(&self, entry: EntryId) -> Option<Arc<TmkHash>>;
}

/// [`TmkFiles`] read from the database file, through a few read
/// connections of its own (one per thread matching at once).
pub struct StoreTmkFiles {
    target: crate::store::DbTarget,
    pool: std::sync::Mutex<Vec<Store>>,
}

impl StoreTmkFiles {
    pub fn new(path: &Path) -> StoreTmkFiles {
        Self::at(crate::store::DbTarget::parse(path))
    }

    /// Read from the database `store` is open on (its full target: a
    /// PostgreSQL URL with its password, which `Store::path` hides).
    pub fn of(store: &Store) -> StoreTmkFiles {
        Self::at(store.target())
    }

    fn at(target: crate::store::DbTarget) -> StoreTmkFiles {
        StoreTmkFiles {
            target,
            pool: std::sync::Mutex::new(Vec::new()),
        }
    }
}

impl TmkFiles for StoreTmkFiles {
    fn tmk(&self, entry: EntryId) -> Option<Arc<TmkHash>> {
        let pooled = self.pool.lock().ok().and_then(|mut p| p.pop());
        let store = match pooled {
            Some(s) => s,
            None => {
                let s = Store::open_target(&self.target, OpenOptions::default().existing()).ok()?;
                // Each file is read once per candidate: a small page cache
                // (SQLite's is per connection, 64 MiB by our default).
                s.set_cache_kib(2048).ok()?;
                s
            }
        };
        let hash = store.tmk_file(entry).ok().map(Arc::new);
        if let Ok(mut p) = self.pool.lock() {
            p.push(store);
        }
        hash
    }
}

mod snapshot;
pub use snapshot::PdqSnapshot;

/// The in-memory matcher.
#[derive(Default)]
pub struct Matcher {
    lists: HashMap<ListId, ListInfo>,
    pdq: PdqIndex<ItemRef>,
    md5: ExactIndex<[u8; 16], ItemRef>,
    sha256: ExactIndex<[u8; 32], ItemRef>,
    blake3: ExactIndex<[u8; 32], ItemRef>,
    videos: HashMap<EntryId, Vec<VpdqFrame>>,
    allow_pdq: PdqIndex<i64>,
    allow_exact: HashMap<(SignalType, Vec<u8>), i64>,
    /// The level-1 features of every listed TMK+PDQF video.
    tmk: TmkIndex<ItemRef>,
    /// The whole hashes of TMK entries added since the load (the others
    /// are read from `tmk_files` when they pass level-1).
    tmk_held: HashMap<EntryId, Arc<TmkHash>>,
    tmk_files: Option<Arc<dyn TmkFiles>>,
    /// Changes applied at load from the change log over saved rows (see
    /// [`Matcher::caught_up`]).
    caught_up: Option<usize>,
}

/// How many PDQ index slots `entries` take when added: one for a PDQ
/// hash, one per frame for a vPDQ video, none for digests and TMK.
fn pdq_slots(entries: &[Entry]) -> usize {
    entries
        .iter()
        .map(|e| match &e.record.value {
            Value::Pdq(_) => 1,
            Value::Vpdq(frames) => frames.len(),
            _ => 0,
        })
        .sum()
}

impl Matcher {
    /// Load every active entry of every enabled list from `store`.
    pub fn load(store: &Store) -> Result<Matcher, StoreError> {
        let lists: HashMap<ListId, ListInfo> = store
            .lists()?
            .into_iter()
            .filter(|l| l.enabled)
            .map(|l| (l.id, l))
            .collect();
        let mut m = Matcher {
            lists,
            ..Matcher::default()
        };
        // The arrays the index is built from (saved next to the database
        // and reused while it is unchanged: see `store::snapshot`).
        let gates: Vec<(ListId, u8)> = m.lists.values().map(|l| (l.id, l.pdq_quality)).collect();
        let (rows, key) = store.pdq_rows_keyed(&gates)?;
        let n_rows = rows.len();
        let mut hashes = rows.hashes;
        let mut items: Vec<ItemRef> = rows
            .entries
            .iter()
            .zip(&rows.lists)
            .map(|(&entry, &list)| ItemRef {
                entry,
                list,
                frame: NO_FRAME,
            })
            .collect();
        let mut enabled: Vec<ListId> = m.lists.keys().copied().collect();
        enabled.sort_unstable();
        store.for_each_digest_row(&enabled, |row| {
            let item = ItemRef {
                entry: row.entry,
                list: row.list,
                frame: NO_FRAME,
            };
            m.insert_exact(&row.value, item);
        })?;
        store.for_each_tmk_row(&enabled, |row| {
            let item = ItemRef {
                entry: row.entry,
                list: row.list,
                frame: NO_FRAME,
            };
            m.tmk.push(item, &row.pure_average);
        })?;
        m.tmk_files = Some(Arc::new(StoreTmkFiles::of(store)));
        store.for_each_frame_row(|row| {
            hashes.push(row.frame.hash.words());
            items.push(ItemRef {
                entry: row.entry,
                list: row.list,
                frame: row.frame.frame,
            });
            m.videos.entry(row.entry).or_default().push(row.frame);
        })?;
        // The static tables saved for these rows are used when the rows are
        // the whole index (no video frames appended); else, or when there
        // are none, they are built (and saved for the next load).
        let config = IndexConfig::default();
        let only_rows = hashes.len() == n_rows;
        let saved = if only_rows {
            store.pdq_tables(&key, n_rows)
        } else {
            None
        };
        m.pdq = match saved {
            Some((bits, tables)) => {
                match PdqIndex::from_static_tables(hashes, items, config, bits, tables) {
                    Ok(index) => index,
                    Err((hashes, items)) => Self::build_and_save(store, &key, hashes, items),
                }
            }
            None if only_rows => Self::build_and_save(store, &key, hashes, items),
            None => PdqIndex::build(hashes, items, config),
        };
        let mut allow = Vec::new();
        for (a, v) in store.allowlist()? {
            match v {
                Value::Pdq(p) => allow.push((p, a.id)),
                v => {
                    m.allow_exact.insert((v.signal_type(), v.key()), a.id);
                }
            }
        }
        m.allow_pdq = PdqIndex::from_pairs(allow, IndexConfig::default());
        if let Some(cursor) = key.catch_up() {
            // Rows saved by an earlier read (a PostgreSQL store's, see
            // `store::pg::saved`): apply what changed since, in place.
            // Past a quarter of the rows a full read is cheaper, and saves
            // newer files.
            match store.pdq_changes_since(cursor, (n_rows / 4).max(10_000))? {
                Some(changes) => {
                    m.apply_pdq_changes(&changes);
                    m.caught_up = Some(changes.len());
                }
                None => {
                    store.forget_saved_index();
                    return Self::load(store);
                }
            }
        }
        Ok(m)
    }

    /// Catch saved PDQ rows up: each changed entry out, then in again if
    /// it is active, of an enabled list, and passes the list's gate.
    fn apply_pdq_changes(&mut self, changes: &[crate::store::pg::PdqChange]) {
        for c in changes {
            self.pdq.remove(&c.hash, |it| it.entry == c.entry);
            if c.active && self.lists.contains_key(&c.list) && self.passes_gate(c.list, c.quality) {
                self.pdq.insert(
                    &c.hash,
                    ItemRef {
                        entry: c.entry,
                        list: c.list,
                        frame: NO_FRAME,
                    },
                );
            }
        }
    }

    /// Build the index over the saved rows of `key` and save its tables.
    fn build_and_save(
        store: &Store,
        key: &crate::store::RowsKey,
        hashes: Vec<[u64; 4]>,
        items: Vec<ItemRef>,
    ) -> PdqIndex<ItemRef> {
        let n = hashes.len();
        let index = PdqIndex::build(hashes, items, IndexConfig::default());
        if let Some((bits, tables)) = index.static_tables() {
            store.save_pdq_tables(key, n, bits, &tables);
        }
        index
    }

    fn passes_gate(&self, list: ListId, quality: Option<u8>) -> bool {
        match (self.lists.get(&list), quality) {
            (Some(l), Some(q)) => q >= l.pdq_quality,
            _ => true,
        }
    }

    fn insert_exact(&mut self, v: &Value, item: ItemRef) {
        match v {
            Value::Md5(h) => self.md5.insert(h.0, item),
            Value::Sha256(h) => self.sha256.insert(h.0, item),
            Value::Blake3(h) => self.blake3.insert(h.0, item),
            Value::Pdq(_) | Value::Vpdq(_) | Value::Tmk(_) => {}
        }
    }

    /// Number of TMK+PDQF videos indexed.
    pub fn tmk_len(&self) -> usize {
        self.tmk.len()
    }

    /// Heap bytes of the TMK+PDQF index (the level-1 features).
    pub fn tmk_heap_bytes(&self) -> usize {
        self.tmk.heap_bytes()
    }

    /// Read listed `.tmk` files from `files` instead of the store (tests,
    /// benchmarks).
    pub fn set_tmk_files(&mut self, files: Arc<dyn TmkFiles>) {
        self.tmk_files = Some(files);
    }

    /// Number of PDQ hashes (images and frames) indexed.
    pub fn pdq_len(&self) -> usize {
        self.pdq.len()
    }

    /// Heap bytes of the PDQ index.
    pub fn pdq_heap_bytes(&self) -> usize {
        self.pdq.heap_bytes()
    }

    /// The enabled lists.
    pub fn lists(&self) -> impl Iterator<Item = &ListInfo> {
        self.lists.values()
    }

    /// Add an active entry of an enabled list (no-op otherwise).
    pub fn add_entry(&mut self, e: &Entry) {
        if e.status.status != Status::Active || !self.lists.contains_key(&e.list_id) {
            return;
        }
        let item = ItemRef {
            entry: e.id,
            list: e.list_id,
            frame: NO_FRAME,
        };
        match &e.record.value {
            Value::Pdq(p) => {
                if self.passes_gate(e.list_id, e.record.quality) {
                    self.pdq.insert(p, item);
                }
            }
            Value::Vpdq(frames) => {
                for f in frames {
                    self.pdq.insert(
                        &f.hash,
                        ItemRef {
                            frame: f.frame,
                            ..item
                        },
                    );
                }
                self.videos.insert(e.id, frames.clone());
            }
            Value::Tmk(h) => {
                self.tmk.push(item, h.pure_average());
                // A matcher loaded from a store reads the file back when
                // needed (a service importing many videos must not hold
                // 263 KB for each); one without a store keeps it.
                if self.tmk_files.is_none() {
                    self.tmk_held.insert(e.id, h.clone());
                }
            }
            v => self.insert_exact(v, item),
        }
    }

    /// Work for [`Matcher::apply_changes`] done from a shared reference,
    /// so that a service holding the matcher behind a read-write lock does
    /// it under the read lock, while lookups go on: the PDQ slots each
    /// changed entry holds now (to tombstone) and storage grown ahead for
    /// the hashes it will add.
    pub fn plan_changes(&self, entries: &[Entry]) -> ChangePlan {
        let removals = entries
            .iter()
            .map(|e| {
                let id = e.id;
                match &e.record.value {
                    Value::Pdq(p) => Some(self.pdq.find(p, |it| it.entry == id)),
                    Value::Vpdq(frames) => Some(
                        frames
                            .iter()
                            .flat_map(|f| self.pdq.find(&f.hash, |it| it.entry == id))
                            .collect(),
                    ),
                    _ => None,
                }
            })
            .collect();
        let adds = pdq_slots(entries);
        ChangePlan {
            stamp: self.pdq.stamp(),
            removals,
            room: self.pdq.room_for(adds),
        }
    }

    /// Apply changed entries (each removed, then added back if active and
    /// its list enabled: [`Matcher::remove_entry`] then
    /// [`Matcher::add_entry`]), using `plan` from
    /// [`Matcher::plan_changes`] of the same entries where the matcher has
    /// not changed since (otherwise the slots are looked up again here).
    /// An entry given twice counts once, as its last copy. From the first
    /// call on, the PDQ index no longer compacts itself in the middle of a
    /// change: see [`Matcher::pdq_needs_compaction`].
    ///
    /// Returns the storage replaced by the plan's grown one: drop it after
    /// releasing the lock the matcher is held under.
    pub fn apply_changes(&mut self, entries: &[Entry], plan: ChangePlan) -> Retired {
        self.pdq.set_auto_compact(false);
        let mut last: HashMap<EntryId, usize> = HashMap::with_capacity(entries.len());
        for (i, e) in entries.iter().enumerate() {
            last.insert(e.id, i);
        }
        let fresh = plan.stamp == self.pdq.stamp() && plan.removals.len() == entries.len();
        let mut retired = Retired(None);
        if fresh {
            if let Some(room) = plan.room {
                // A stale room (cannot be: `fresh`) is simply not used.
                retired = Retired(Some(self.pdq.install_room(room).unwrap_or_else(|r| r)));
            }
        }
        // Removals first (planned on the state before any of them), then
        // the adds: an entry's removal matches only its own id, so no add
        // of another entry can change what it removes. Each tombstone
        // moves the stamp on; a removal that is not a tombstone leaves the
        // PDQ index as it is or, falling back, finds its slots itself.
        let mut stamp = plan.stamp;
        for (i, e) in entries.iter().enumerate() {
            if last.get(&e.id) != Some(&i) {
                continue;
            }
            let planned = if fresh {
                plan.removals[i].as_deref()
            } else {
                None
            };
            match planned {
                Some(slots) => match self.pdq.tombstone(stamp, slots) {
                    Some(_) => {
                        if matches!(e.record.value, Value::Vpdq(_)) {
                            self.videos.remove(&e.id);
                        }
                    }
                    None => self.remove_entry(e),
                },
                None => self.remove_entry(e),
            }
            stamp = self.pdq.stamp();
        }
        for (i, e) in entries.iter().enumerate() {
            if last.get(&e.id) == Some(&i) {
                self.add_entry(e);
            }
        }
        retired
    }

    /// Whether the PDQ index's delta or tombstones have grown enough for a
    /// compaction (only a matcher changed through
    /// [`Matcher::apply_changes`] waits to be asked).
    pub fn pdq_needs_compaction(&self) -> bool {
        self.pdq.needs_compaction()
    }

    /// The PDQ index compacted, built from a shared reference, with the
    /// stamp of the state it was built from (see
    /// [`Matcher::replace_pdq`]).
    pub fn pdq_compacted(&self) -> (u64, Box<PdqIndex<ItemRef>>) {
        (self.pdq.stamp(), Box::new(self.pdq.compacted()))
    }

    /// Put in a compacted PDQ index built by [`Matcher::pdq_compacted`]
    /// from the current state; gives back the old one (to be freed after
    /// the caller's lock is released), or the new one when the index
    /// changed since it was built.
    pub fn replace_pdq(
        &mut self,
        stamp: u64,
        index: Box<PdqIndex<ItemRef>>,
    ) -> Result<Box<PdqIndex<ItemRef>>, Box<PdqIndex<ItemRef>>> {
        if stamp != self.pdq.stamp() {
            return Err(index);
        }
        Ok(Box::new(std::mem::replace(&mut self.pdq, *index)))
    }

    /// Remove an entry (when it is disabled or disputed).
    pub fn remove_entry(&mut self, e: &Entry) {
        let id = e.id;
        match &e.record.value {
            Value::Pdq(p) => {
                self.pdq.remove(p, |it| it.entry == id);
            }
            Value::Vpdq(frames) => {
                for f in frames {
                    self.pdq.remove(&f.hash, |it| it.entry == id);
                }
                self.videos.remove(&id);
            }
            Value::Md5(h) => {
                self.md5.remove(&h.0, |it| it.entry == id);
            }
            Value::Sha256(h) => {
                self.sha256.remove(&h.0, |it| it.entry == id);
            }
            Value::Blake3(h) => {
                self.blake3.remove(&h.0, |it| it.entry == id);
            }
            Value::Tmk(_) => {
                self.tmk.remove(|it| it.entry == id);
                self.tmk_held.remove(&id);
            }
        }
    }

    fn selected(&self, opts: &MatchOptions) -> Result<Vec<&ListInfo>, StoreError> {
        match &opts.lists {
            None => Ok(self.lists.values().collect()),
            Some(names) => names
                .iter()
                .map(|n| {
                    self.lists
                        .values()
                        .find(|l| &l.name == n)
                        .ok_or_else(|| StoreError::NoSuchList(format!("{n} (or it is disabled)")))
                })
                .collect(),
        }
    }

    /// Match one value. `quality` is the query's PDQ quality where known
    /// (queries below a list's quality gate do not match that list).
    ///
    /// # Errors
    /// [`StoreError::NoSuchList`] for an unknown or disabled list in `opts`.
    pub fn match_value(
        &self,
        value: &Value,
        quality: Option<u8>,
        opts: &MatchOptions,
    ) -> Result<Vec<Hit>, StoreError> {
        let lists = self.selected(opts)?;
        let by_id: HashMap<ListId, &ListInfo> = lists.iter().map(|l| (l.id, *l)).collect();
        let mut hits = match value {
            Value::Pdq(p) => self.match_pdq(p, quality, opts, &by_id),
            Value::Vpdq(frames) => self.match_vpdq(frames, opts, &by_id),
            Value::Tmk(h) => self.match_tmk(h, quality, opts, &by_id),
            v => {
                let items: &[ItemRef] = match v {
                    Value::Md5(h) => self.md5.get(&h.0),
                    Value::Sha256(h) => self.sha256.get(&h.0),
                    Value::Blake3(h) => self.blake3.get(&h.0),
                    _ => &[],
                };
                let allowed = self.allow_exact.get(&(v.signal_type(), v.key())).copied();
                items
                    .iter()
                    .filter(|it| by_id.contains_key(&it.list))
                    .map(|it| Hit {
                        list: it.list,
                        entry: it.entry,
                        signal_type: v.signal_type(),
                        distance: 0,
                        frame: None,
                        query_frame: None,
                        vpdq: None,
                        vpdq_rule: None,
                        suppressed_by: allowed,
                        tmk: None,
                    })
                    .collect()
            }
        };
        hits.sort_by_key(|h| (h.distance, h.list, h.entry));
        Ok(hits)
    }

    fn radius(opts: &MatchOptions, lists: &HashMap<ListId, &ListInfo>) -> u32 {
        opts.threshold
            .unwrap_or_else(|| lists.values().map(|l| l.pdq_threshold).max().unwrap_or(0))
    }

    fn match_pdq(
        &self,
        p: &Pdq,
        quality: Option<u8>,
        opts: &MatchOptions,
        lists: &HashMap<ListId, &ListInfo>,
    ) -> Vec<Hit> {
        if lists.is_empty() {
            return Vec::new();
        }
        let radius = Self::radius(opts, lists);
        let allow = self.allow_pdq.search(p, radius);
        // Best (closest) frame per entry.
        let mut best: BTreeMap<EntryId, Hit> = BTreeMap::new();
        for h in self.pdq.search(p, radius) {
            let Some(list) = lists.get(&h.item.list) else {
                continue;
            };
            let limit = opts.threshold.unwrap_or(list.pdq_threshold);
            if h.distance > limit || quality.is_some_and(|q| q < list.pdq_quality) {
                continue;
            }
            let hit = Hit {
                list: list.id,
                entry: h.item.entry,
                signal_type: if h.item.frame == NO_FRAME {
                    SignalType::Pdq
                } else {
                    SignalType::Vpdq
                },
                distance: h.distance,
                frame: (h.item.frame != NO_FRAME).then_some(h.item.frame),
                query_frame: None,
                vpdq: None,
                vpdq_rule: None,
                suppressed_by: allow.iter().find(|a| a.distance <= limit).map(|a| a.item),
                tmk: None,
            };
            best.entry(hit.entry)
                .and_modify(|b| {
                    if hit.distance < b.distance {
                        *b = hit.clone();
                    }
                })
                .or_insert(hit);
        }
        best.into_values().collect()
    }

    /// A query video against the index: its frames hit image entries one
    /// by one, and every listed video one of its frames comes near is
    /// compared with it as a bag. The bag comparison is computed from the
    /// index hits themselves (each listed frame is in the index), so the
    /// cost grows with the query's frames and their hits, never with the
    /// product of two bags; it equals [`crate::vpdq::compare`] of the two
    /// bags (a test checks it against brute force).
    fn match_vpdq(
        &self,
        frames: &[VpdqFrame],
        opts: &MatchOptions,
        lists: &HashMap<ListId, &ListInfo>,
    ) -> Vec<Hit> {
        // Frames are compared at `--threshold` when given, else at each
        // list's own threshold; the index is searched at the widest.
        let mut t = VpdqThresholds::default();
        if let Some(q) = opts.vpdq_quality {
            t.quality = q;
        }
        if let Some(d) = opts.threshold {
            t.distance = d;
        }
        let radius = opts.threshold.unwrap_or_else(|| {
            lists
                .values()
                .map(|l| l.pdq_threshold)
                .max()
                .unwrap_or(t.distance)
        });
        // The first frame number of each hash (reported for image hits).
        let mut first_frame: HashMap<Pdq, u64> = HashMap::with_capacity(frames.len());
        for f in frames {
            first_frame.entry(f.hash).or_insert(f.frame);
        }
        // Allowlisted frames (a logo, a flag) take no part in the comparison.
        let mut uniq = unique_good_hashes(frames, t.quality);
        uniq.retain(|h| self.allow_pdq.search(h, radius).is_empty());
        let mut videos: BTreeMap<EntryId, Candidate> = BTreeMap::new();
        let mut images: BTreeMap<EntryId, Hit> = BTreeMap::new();
        let mut found = Vec::new();
        let mut hit_here: Vec<EntryId> = Vec::new();
        for (i, q) in uniq.iter().enumerate() {
            if i % CANCEL_CHECK_FRAMES == 0 && opts.cancelled() {
                return Vec::new();
            }
            found.clear();
            hit_here.clear();
            self.pdq.search_with_hashes_into(q, radius, &mut found);
            for (h, listed) in &found {
                let Some(list) = lists.get(&h.item.list) else {
                    continue;
                };
                let limit = opts.threshold.unwrap_or(list.pdq_threshold);
                if h.distance > limit {
                    continue;
                }
                if h.item.frame != NO_FRAME {
                    let Some(target) = self.videos.get(&h.item.entry) else {
                        continue;
                    };
                    let c = videos
                        .entry(h.item.entry)
                        .or_insert_with(|| Candidate::new(list.id, target, t.quality));
                    // Only the listed video's good frames take part.
                    if !c.good.contains(listed) {
                        continue;
                    }
                    c.distance = c.distance.min(h.distance);
                    c.matched_target.insert(*listed);
                    hit_here.push(h.item.entry);
                } else {
                    let hit = Hit {
                        list: list.id,
                        entry: h.item.entry,
                        signal_type: SignalType::Pdq,
                        distance: h.distance,
                        frame: None,
                        query_frame: first_frame.get(q).copied(),
                        vpdq: None,
                        vpdq_rule: None,
                        suppressed_by: None,
                        tmk: None,
                    };
                    images
                        .entry(hit.entry)
                        .and_modify(|b| {
                            if hit.distance < b.distance {
                                *b = hit.clone();
                            }
                        })
                        .or_insert(hit);
                }
            }
            // Each of our unique frames counts once per listed video.
            hit_here.sort_unstable();
            hit_here.dedup();
            for e in &hit_here {
                if let Some(c) = videos.get_mut(e) {
                    c.matched_query += 1;
                }
            }
        }
        let mut hits: Vec<Hit> = images.into_values().collect();
        for (entry, c) in videos {
            let Some(l) = lists.get(&c.list) else {
                continue;
            };
            // Each candidate is judged by its own list's rule.
            let rule = opts.vpdq_rule.apply(l.vpdq_rule());
            let mut cmp = comparison(
                uniq.len(),
                c.good.len(),
                c.matched_query,
                c.matched_target.len(),
            );
            if let Some(n) = opts.dense_query_samples {
                cmp = cmp.per_samples(n);
            }
            if let Some(verdict) = rule.verdict(&cmp) {
                hits.push(Hit {
                    list: c.list,
                    entry,
                    signal_type: SignalType::Vpdq,
                    distance: c.distance,
                    frame: None,
                    query_frame: None,
                    vpdq: Some(cmp),
                    vpdq_rule: Some(verdict),
                    suppressed_by: None,
                    tmk: None,
                });
            }
        }
        hits
    }
}

impl Matcher {
    /// A query's TMK+PDQF against every listed TMK+PDQF video: level-1 over
    /// the in-memory features (see [`TmkIndex`]), then level-2 with the
    /// whole `.tmk` of each video that passed, read only then. A hit passes
    /// both of its list's thresholds (or `opts.tmk`). Exact: the same hits
    /// as scoring every listed video (a test checks it).
    ///
    /// `quality`, when known, is the best PDQ quality among the query
    /// video's sampled frames: a list whose TMK quality gate
    /// ([`ListInfo::tmk_quality_gate`], half its PDQ gate) no frame reaches
    /// is not searched, as such a video is featureless throughout. Meta's
    /// reference has no such gate: a list whose PDQ gate is 0 gets its
    /// verdicts, and a bare TMK value (no frames) is never gated.
    fn match_tmk(
        &self,
        q: &TmkHash,
        quality: Option<u8>,
        opts: &MatchOptions,
        lists: &HashMap<ListId, &ListInfo>,
    ) -> Vec<Hit> {
        let gated;
        let lists = match quality {
            Some(best) if lists.values().any(|l| best < l.tmk_quality_gate()) => {
                gated = lists
                    .iter()
                    .filter(|(_, l)| best >= l.tmk_quality_gate())
                    .map(|(id, l)| (*id, *l))
                    .collect::<HashMap<_, _>>();
                &gated
            }
            _ => lists,
        };
        let thresholds = |l: &ListInfo| opts.tmk.unwrap_or_else(|| l.tmk_thresholds());
        let floor = lists
            .values()
            .map(|l| thresholds(l).level1)
            .fold(f32::INFINITY, f32::min);
        if lists.is_empty() || self.tmk.is_empty() {
            return Vec::new();
        }
        let mut passed = self.tmk.search(q.pure_average(), floor, |it| {
            lists.get(&it.list).map(|l| thresholds(l).level1)
        });
        passed.sort_by_key(|h| h.item.entry);
        let mut hits = Vec::new();
        for (i, c) in passed.into_iter().enumerate() {
            if i % 16 == 0 && opts.cancelled() {
                return Vec::new();
            }
            let Some(list) = lists.get(&c.item.list) else {
                continue;
            };
            let listed = match self.tmk_held.get(&c.item.entry) {
                Some(h) => Some(h.clone()),
                None => self.tmk_files.as_ref().and_then(|f| f.tmk(c.item.entry)),
            };
            // An entry whose file no longer reads (deleted since the load)
            // cannot be scored: not a hit.
            let Some(listed) = listed else {
                continue;
            };
            let scores = TmkScores {
                level1: c.level1,
                level2: level2(q, &listed),
            };
            if thresholds(list).is_match(scores) {
                hits.push(Hit {
                    list: c.item.list,
                    entry: c.item.entry,
                    signal_type: SignalType::TmkPdqf,
                    distance: 0,
                    frame: None,
                    query_frame: None,
                    vpdq: None,
                    vpdq_rule: None,
                    suppressed_by: None,
                    tmk: Some(scores),
                });
            }
        }
        hits
    }
}

/// A listed video that some query frame came near, and what matched so far.
struct Candidate {
    list: ListId,
    /// Closest frame pair.
    distance: u32,
    /// The listed video's unique good hashes (the denominator).
    good: HashSet<Pdq>,
    /// Those of them within the list's distance of some query frame.
    matched_target: HashSet<Pdq>,
    /// Query unique good frames within the distance of one of `good`.
    matched_query: usize,
}

impl Candidate {
    fn new(list: ListId, target: &[VpdqFrame], quality: u8) -> Candidate {
        Candidate {
            list,
            distance: u32::MAX,
            good: unique_good_hashes(target, quality).into_iter().collect(),
            matched_target: HashSet::new(),
            matched_query: 0,
        }
    }
}

/// The store and its matcher, kept in step.
pub struct HashDb {
    store: Store,
    matcher: Matcher,
}

impl HashDb {
    /// Open the store at `path` and load the matcher from it.
    pub fn open(path: impl AsRef<Path>, opts: OpenOptions) -> Result<HashDb, HashDbError> {
        let store = Store::open_with(path, opts)?;
        let matcher = Matcher::load(&store)?;
        Ok(HashDb { store, matcher })
    }

    /// Wrap an open store (loads the matcher).
    pub fn from_store(store: Store) -> Result<HashDb, StoreError> {
        let matcher = Matcher::load(&store)?;
        Ok(HashDb { store, matcher })
    }

    /// The store (reads).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The matcher.
    pub fn matcher(&self) -> &Matcher {
        &self.matcher
    }

    /// Import records into a list and index the new entries.
    pub fn import<I>(
        &mut self,
        list: &str,
        records: I,
        origin: &Path,
        opts: ImportOptions,
    ) -> Result<ImportSummary, ImportError>
    where
        I: IntoIterator<Item = Result<Record, ParseError>>,
    {
        let sum = self.store.import(list, records, origin, opts)?;
        for &id in &sum.added_ids {
            let e = self.store.entry(id)?;
            self.matcher.add_entry(&e);
        }
        Ok(sum)
    }

    /// Change an entry's status and update the index.
    pub fn set_status(&mut self, id: EntryId, change: &StatusChange) -> Result<Entry, StoreError> {
        let before = self.store.entry(id)?;
        let after = self.store.set_status(id, change)?;
        if before.status.status == Status::Active {
            self.matcher.remove_entry(&before);
        }
        self.matcher.add_entry(&after);
        Ok(after)
    }

    /// Enable or disable a list (in place: only that list's entries are
    /// read or removed).
    pub fn set_list_enabled(&mut self, name: &str, enabled: bool) -> Result<ListInfo, StoreError> {
        let l = self.store.set_list_enabled(name, enabled)?;
        let all = self.store.lists()?;
        self.matcher.apply_list_changes(&self.store, &all, &[])?;
        Ok(l)
    }

    /// Match one value (see [`Matcher::match_value`]).
    pub fn match_value(
        &self,
        value: &Value,
        quality: Option<u8>,
        opts: &MatchOptions,
    ) -> Result<Vec<Hit>, StoreError> {
        self.matcher.match_value(value, quality, opts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::NewList;

    fn pdq_with_bits(bits: &[usize]) -> Pdq {
        let mut p = Pdq::ZERO;
        for &b in bits {
            p.set_bit(b);
        }
        p
    }

    fn rec(v: Value, q: Option<u8>) -> Result<Record, ParseError> {
        let mut r = Record::new(v);
        r.quality = q;
        Ok(r)
    }

    #[test]
    fn add_disable_allow_update_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = HashDb::open(dir.path().join("a.db"), OpenOptions::default()).unwrap();
        db.store.create_list(&NewList::new("l")).unwrap();
        db.store
            .create_list(&NewList {
                pdq_threshold: 5,
                ..NewList::new("strict")
            })
            .unwrap();
        // Lists created after open: reload to see them.
        db.matcher = Matcher::load(&db.store).unwrap();
        let a: Vec<usize> = (0..64).collect();
        let near: Vec<usize> = (0..74).collect(); // distance 10 from `a`
        let s = db
            .import(
                "l",
                vec![rec(Value::Pdq(pdq_with_bits(&a)), Some(90))],
                Path::new("t"),
                ImportOptions::default(),
            )
            .unwrap();
        db.import(
            "strict",
            vec![rec(Value::Pdq(pdq_with_bits(&a)), Some(90))],
            Path::new("t"),
            ImportOptions::default(),
        )
        .unwrap();
        let o = MatchOptions::default();
        let q = Value::Pdq(pdq_with_bits(&near));
        let hits = db.match_value(&q, None, &o).unwrap();
        // Only the list with threshold 31 matches at distance 10.
        assert_eq!(hits.len(), 1);
        assert_eq!((hits[0].entry, hits[0].distance), (s.added_ids[0], 10));
        // Query quality below the gate: no match.
        assert!(db.match_value(&q, Some(10), &o).unwrap().is_empty());
        // Dispute: gone without a rebuild.
        let change = StatusChange {
            status: Status::Disputed,
            ..Default::default()
        };
        db.set_status(s.added_ids[0], &change).unwrap();
        assert!(db.match_value(&q, None, &o).unwrap().is_empty());
        db.set_status(s.added_ids[0], &StatusChange::default())
            .unwrap();
        assert_eq!(db.match_value(&q, None, &o).unwrap().len(), 1);
        // Allowlist the query: reported, suppressed.
        let id = db.store.allow(&q, Some("flag"), None).unwrap();
        db.matcher = Matcher::load(&db.store).unwrap();
        assert_eq!(
            db.match_value(&q, None, &o).unwrap()[0].suppressed_by,
            Some(id)
        );
        // Digests are exact.
        let md5 = Value::Md5("00".repeat(16).parse().unwrap());
        db.import(
            "l",
            vec![rec(md5.clone(), None)],
            Path::new("t"),
            ImportOptions::default(),
        )
        .unwrap();
        assert_eq!(db.match_value(&md5, None, &o).unwrap().len(), 1);
        let o2 = MatchOptions {
            lists: Some(vec!["nope".into()]),
            ..o
        };
        assert!(db.match_value(&md5, None, &o2).is_err());
    }

    /// Seeded frames near a few shared centres, with some low-quality
    /// and repeated ones: listed videos and queries overlap partly.
    fn clustered_video(n: usize, seed: &mut u64, centres: &[[u64; 4]]) -> Vec<VpdqFrame> {
        let mut next = || {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            *seed
        };
        (0..n as u64)
            .map(|i| {
                let mut w = centres[(next() % centres.len() as u64) as usize];
                for _ in 0..(next() % 45) {
                    let b = (next() % 256) as usize;
                    w[b / 64] ^= 1 << (b % 64);
                }
                VpdqFrame {
                    frame: i,
                    hash: Pdq::from_words(w),
                    quality: if next() % 7 == 0 { 20 } else { 90 },
                    timestamp: i as f64,
                }
            })
            .collect()
    }

    #[test]
    fn video_comparisons_from_the_index_equal_brute_force() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = HashDb::open(dir.path().join("a.db"), OpenOptions::default()).unwrap();
        db.store.create_list(&NewList::new("v")).unwrap();
        db.store
            .create_list(&NewList {
                pdq_threshold: 12,
                ..NewList::new("strict")
            })
            .unwrap();
        db.matcher = Matcher::load(&db.store).unwrap();
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let centres: Vec<[u64; 4]> = (0..24)
            .map(|i| {
                [
                    seed.rotate_left(i),
                    !seed.rotate_right(i),
                    seed ^ u64::from(i),
                    i.into(),
                ]
            })
            .collect();
        let mut listed = Vec::new();
        for k in 0..12 {
            let v = clustered_video(
                20 + k * 15,
                &mut seed,
                &centres[(k % 4) * 4..(k % 4) * 4 + 8],
            );
            let list = if k % 3 == 0 { "strict" } else { "v" };
            let s = db
                .import(
                    list,
                    vec![rec(Value::Vpdq(v.clone()), None)],
                    Path::new("t"),
                    ImportOptions::default(),
                )
                .unwrap();
            listed.push((s.added_ids[0], v, if list == "strict" { 12 } else { 31 }));
        }
        // Every comparison counts, whatever its percentages.
        let o = MatchOptions {
            vpdq_rule: VpdqRuleOverride {
                target_percent: Some(0.0),
                query_percent: Some(0.0),
                min_clip_frames: Some(0),
            },
            ..MatchOptions::default()
        };
        let mut compared = 0;
        for n in [1, 7, 60, 400] {
            let q = clustered_video(n, &mut seed, &centres[4..16]);
            let hits = db.match_value(&Value::Vpdq(q.clone()), None, &o).unwrap();
            for (entry, target, distance) in &listed {
                let t = VpdqThresholds {
                    distance: *distance,
                    ..VpdqThresholds::default()
                };
                let brute = crate::vpdq::compare(&q, target, &t);
                let got = hits
                    .iter()
                    .find(|h| h.entry == *entry && h.vpdq.is_some())
                    .and_then(|h| h.vpdq);
                if brute.matched_query_frames == 0 {
                    // Not a candidate: no frame came near it.
                    assert!(got.is_none_or(|g| g.matched_query_frames == 0));
                } else {
                    assert_eq!(got, Some(brute), "query of {n} vs entry {entry}");
                    compared += 1;
                }
            }
        }
        // The seeds make most pairs overlap: the check is not vacuous.
        assert!(compared >= 20, "only {compared} overlapping pairs");
    }

    #[test]
    fn vpdq_video_matches_video() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = HashDb::open(dir.path().join("a.db"), OpenOptions::default()).unwrap();
        db.store.create_list(&NewList::new("v")).unwrap();
        db.matcher = Matcher::load(&db.store).unwrap();
        let frames: Vec<VpdqFrame> = (0..10u64)
            .map(|i| VpdqFrame {
                frame: i * 30,
                // Far-apart frames: one hex digit pattern per frame.
                hash: Pdq::from_words(
                    [0x0123_4567_89ab_cdef_u64.rotate_left(i as u32 * 7)
                        ^ (i * 0x1111_1111_1111_1111); 4],
                ),
                quality: 100,
                timestamp: i as f64,
            })
            .collect();
        db.import(
            "v",
            vec![rec(Value::Vpdq(frames.clone()), None)],
            Path::new("t"),
            ImportOptions::default(),
        )
        .unwrap();
        // The query is the first 9 of 10 frames: 90% of the listed video.
        let hits = db
            .match_value(
                &Value::Vpdq(frames[..9].to_vec()),
                None,
                &MatchOptions::default(),
            )
            .unwrap();
        assert_eq!(hits.len(), 1);
        let c = hits[0].vpdq.unwrap();
        assert_eq!((c.target_percent, c.query_percent), (90.0, 100.0));
        assert_eq!(hits[0].vpdq_rule, Some(VpdqVerdict::Vpdq));
        // Half the video: below the 80% vPDQ rule, but all 5 query frames
        // are from it: the clip rule.
        let hits = db
            .match_value(
                &Value::Vpdq(frames[..5].to_vec()),
                None,
                &MatchOptions::default(),
            )
            .unwrap();
        assert_eq!(hits[0].vpdq_rule, Some(VpdqVerdict::Clip));
        // 2 frames: fewer than the clip rule's minimum of 3.
        let hits = db
            .match_value(
                &Value::Vpdq(frames[..2].to_vec()),
                None,
                &MatchOptions::default(),
            )
            .unwrap();
        assert!(hits.is_empty());
        // A single frame as a PDQ query hits the video, with its frame number.
        let hits = db
            .match_value(&Value::Pdq(frames[3].hash), None, &MatchOptions::default())
            .unwrap();
        assert_eq!(hits[0].frame, Some(90));
    }

    fn ten_frames(seed: u64) -> Vec<VpdqFrame> {
        (0..10u64)
            .map(|i| VpdqFrame {
                frame: i * 30,
                hash: Pdq::from_words(
                    [(0x0123_4567_89ab_cdef_u64 ^ seed).rotate_left(i as u32 * 7)
                        ^ (i * 0x1111_1111_1111_1111); 4],
                ),
                quality: 100,
                timestamp: i as f64,
            })
            .collect()
    }

    #[test]
    fn each_video_hit_is_judged_by_its_own_lists_rule() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = HashDb::open(dir.path().join("a.db"), OpenOptions::default()).unwrap();
        // Same video in both lists; "lenient" takes 60% of the listed video,
        // "strict" needs 95% and no clip shorter than 20 frames.
        db.store
            .create_list(&NewList {
                vpdq_target_percent: 60.0,
                ..NewList::new("lenient")
            })
            .unwrap();
        db.store
            .create_list(&NewList {
                vpdq_target_percent: 95.0,
                vpdq_min_clip_frames: 20,
                ..NewList::new("strict")
            })
            .unwrap();
        db.matcher = Matcher::load(&db.store).unwrap();
        let frames = ten_frames(0);
        for list in ["lenient", "strict"] {
            db.import(
                list,
                vec![rec(Value::Vpdq(frames.clone()), None)],
                Path::new("t"),
                ImportOptions::default(),
            )
            .unwrap();
        }
        let lenient = db.store.list("lenient").unwrap().id;
        let strict = db.store.list("strict").unwrap().id;
        // 7 of the 10 frames: 70% of the listed video.
        let q = Value::Vpdq(frames[..7].to_vec());
        let hits = db.match_value(&q, None, &MatchOptions::default()).unwrap();
        assert_eq!(hits.len(), 1, "{hits:?}");
        assert_eq!(hits[0].list, lenient);
        assert_eq!(hits[0].vpdq_rule, Some(VpdqVerdict::Vpdq));
        assert_eq!(hits[0].vpdq.unwrap().target_percent, 70.0);
        // An override replaces both lists' values for one query.
        let o = MatchOptions {
            vpdq_rule: VpdqRuleOverride {
                min_clip_frames: Some(7),
                ..VpdqRuleOverride::default()
            },
            ..MatchOptions::default()
        };
        let hits = db.match_value(&q, None, &o).unwrap();
        let mut got: Vec<_> = hits.iter().map(|h| (h.list, h.vpdq_rule)).collect();
        got.sort_by_key(|g| g.0);
        assert_eq!(
            got,
            vec![
                (lenient, Some(VpdqVerdict::Vpdq)),
                (strict, Some(VpdqVerdict::Clip))
            ]
        );
        // The settings live in the store: changed there, they apply after a reload.
        db.store
            .update_list(
                "strict",
                &crate::model::ListUpdate {
                    vpdq_target_percent: Some(70.0),
                    ..Default::default()
                },
            )
            .unwrap();
        db.matcher = Matcher::load(&db.store).unwrap();
        let hits = db.match_value(&q, None, &MatchOptions::default()).unwrap();
        assert_eq!(hits.len(), 2);
        // An unrelated video hits neither.
        let other = Value::Vpdq(ten_frames(0xdead_beef_0bad_f00d));
        assert!(db
            .match_value(&other, None, &MatchOptions::default())
            .unwrap()
            .is_empty());
    }

    #[test]
    fn a_second_load_uses_the_saved_rows_and_tables_with_the_same_results() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        let mut db = HashDb::open(&path, OpenOptions::default()).unwrap();
        db.store.create_list(&NewList::new("l")).unwrap();
        let hashes: Vec<Pdq> = (0..3000u64)
            .map(|i| {
                Pdq::from_words([
                    i.wrapping_mul(0x9e37_79b9_7f4a_7c15),
                    i.rotate_left(17) ^ 0x5555,
                    !i.wrapping_mul(31),
                    i << 9,
                ])
            })
            .collect();
        db.import(
            "l",
            hashes.iter().map(|h| rec(Value::Pdq(*h), Some(90))),
            Path::new("t"),
            ImportOptions::default(),
        )
        .unwrap();
        drop(db);
        let tables = crate::store::tables_path(&path);
        let _ = std::fs::remove_file(&tables);
        let first = HashDb::open(&path, OpenOptions::default()).unwrap();
        let inode = std::fs::metadata(&tables).unwrap().ino();
        let second = HashDb::open(&path, OpenOptions::default()).unwrap();
        // Not rebuilt and saved again: read.
        assert_eq!(std::fs::metadata(&tables).unwrap().ino(), inode);
        // Damaged tables: not used, rebuilt and saved again.
        std::fs::write(&tables, b"HSPDQT01 but nothing else").unwrap();
        let third = HashDb::open(&path, OpenOptions::default()).unwrap();
        assert!(std::fs::metadata(&tables).unwrap().len() > 1000);
        let o = MatchOptions::default();
        for (i, h) in hashes.iter().enumerate().step_by(37) {
            let mut w = h.words();
            w[i % 4] ^= 0x00ff_00ff;
            let q = Value::Pdq(Pdq::from_words(w));
            let a = first.match_value(&q, None, &o).unwrap();
            assert!(!a.is_empty());
            assert_eq!(second.match_value(&q, None, &o).unwrap(), a);
            assert_eq!(third.match_value(&q, None, &o).unwrap(), a);
        }
    }

    /// A video of `frames` frames around `base` scenes (one per frame),
    /// each value moved by up to `noise` (relative).
    fn tmk_video(base: &[crate::tmk::Feature], noise: f32, seed: &mut u64) -> TmkHash {
        let mut acc = crate::tmk::TmkAccumulator::new();
        for scene in base {
            let f: crate::tmk::Feature = std::array::from_fn(|i| {
                *seed ^= *seed << 13;
                *seed ^= *seed >> 7;
                *seed ^= *seed << 17;
                let r = (*seed % 20001) as f32 / 10000.0 - 1.0;
                scene[i] * (1.0 + noise * r) + noise * 40.0 * r
            });
            acc.push(&f).unwrap();
        }
        acc.finish()
    }

    /// `frames` random PDQF features (xorshift from `seed`, values in
    /// -100..=100): a scene that [`tmk_video`] makes noisy copies of.
    fn tmk_scene(frames: usize, seed: &mut u64) -> Vec<crate::tmk::Feature> {
        (0..frames)
            .map(|_| {
                std::array::from_fn(|_| {
                    *seed ^= *seed << 13;
                    *seed ^= *seed >> 7;
                    *seed ^= *seed << 17;
                    (*seed % 2001) as f32 / 10.0 - 100.0
                })
            })
            .collect()
    }

    #[test]
    fn tmk_matches_equal_brute_force_scoring_in_both_lists() {
        use crate::tmk::{level1, level2, TmkThresholds};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let mut db = HashDb::open(&path, OpenOptions::default()).unwrap();
        db.store
            .create_list(&crate::model::NewList::new("loose"))
            .unwrap();
        db.store
            .create_list(&crate::model::NewList {
                tmk_level1: 0.9,
                tmk_level2: 0.85,
                ..crate::model::NewList::new("strict")
            })
            .unwrap();
        let db_lists = db.store.lists().unwrap();
        db = HashDb::from_store(db.store).unwrap();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        // Six "scenes" of six frames each; videos are noisy copies, so
        // their scores spread across both lists' thresholds.
        let bases: Vec<Vec<crate::tmk::Feature>> =
            (0..6).map(|_| tmk_scene(6, &mut seed)).collect();
        let noises = [0.02f32, 0.2, 0.5, 0.8, 1.2, 2.0];
        let mut listed = Vec::new();
        for (i, list) in ["loose", "strict"].iter().enumerate() {
            let recs: Vec<Result<Record, ParseError>> = (0..36)
                .map(|k| {
                    let h = tmk_video(&bases[k % 6], noises[(k / 6 + i) % 6], &mut seed);
                    Ok(Record::new(Value::Tmk(Arc::new(h))))
                })
                .collect();
            let sum = db
                .import(list, recs, Path::new("t"), ImportOptions::default())
                .unwrap();
            for id in sum.added_ids {
                let e = db.store.entry(id).unwrap();
                let Value::Tmk(h) = e.record.value else {
                    unreachable!()
                };
                listed.push((e.list_id, id, h));
            }
        }
        let thresholds: HashMap<ListId, TmkThresholds> = db_lists
            .iter()
            .map(|l| (l.id, l.tmk_thresholds()))
            .collect();
        let queries: Vec<TmkHash> = (0..6)
            .map(|k| tmk_video(&bases[k], [0.1, 0.4, 0.9][k % 3], &mut seed))
            .collect();
        // Held in memory (added live) and read back from the store after a
        // reload: the same hits.
        let reloaded = HashDb::open(&path, OpenOptions::default()).unwrap();
        let mut total = 0;
        for q in &queries {
            let mut want: Vec<(ListId, EntryId, f32, f32)> = Vec::new();
            for (list, id, h) in &listed {
                let t = thresholds[list];
                let l1 = level1(q, h);
                if l1 >= t.level1 {
                    let l2 = level2(q, h);
                    if l2 >= t.level2 {
                        want.push((*list, *id, l1, l2));
                    }
                }
            }
            want.sort_by_key(|w| (w.0, w.1));
            let v = Value::Tmk(Arc::new(q.clone()));
            for m in [&db, &reloaded] {
                let mut got: Vec<(ListId, EntryId, f32, f32)> = m
                    .match_value(&v, None, &MatchOptions::default())
                    .unwrap()
                    .into_iter()
                    .map(|h| {
                        let s = h.tmk.unwrap();
                        assert_eq!(h.signal_type, SignalType::TmkPdqf);
                        (h.list, h.entry, s.level1, s.level2)
                    })
                    .collect();
                got.sort_by_key(|w| (w.0, w.1));
                assert_eq!(got, want);
            }
            total += want.len();
        }
        // The data is not trivial: some hits, and some near misses.
        assert!(total > 6 && total < 6 * 72, "{total}");
        // A matcher without a store keeps the files it is given.
        let mut bare = Matcher {
            lists: reloaded.matcher.lists.clone(),
            ..Matcher::default()
        };
        for (_, id, _) in &listed {
            bare.add_entry(&db.store.entry(*id).unwrap());
        }
        assert_eq!(bare.tmk_held.len(), listed.len());
        let v = Value::Tmk(Arc::new(queries[0].clone()));
        let o = MatchOptions::default();
        let mut a = bare.match_value(&v, None, &o).unwrap();
        let mut b = reloaded.match_value(&v, None, &o).unwrap();
        a.sort_by_key(|h| h.entry);
        b.sort_by_key(|h| h.entry);
        assert_eq!(a, b);
        // Disabling an entry removes it; thresholds from the options
        // replace the lists'.
        let (_, first, _) = &listed[0];
        db.set_status(
            *first,
            &StatusChange {
                status: Status::Disabled,
                ..StatusChange::default()
            },
        )
        .unwrap();
        let v = Value::Tmk(listed[0].2.clone());
        let hits = db.match_value(&v, None, &MatchOptions::default()).unwrap();
        assert!(hits.iter().all(|h| h.entry != *first));
        let all = MatchOptions {
            tmk: Some(TmkThresholds {
                level1: -1.0,
                level2: -10.0,
            }),
            ..MatchOptions::default()
        };
        assert_eq!(db.match_value(&v, None, &all).unwrap().len(), 71);
    }

    /// A video's best frame quality gates its TMK per list, at half the
    /// list's own PDQ quality gate; a value with no quality is never gated.
    #[test]
    fn tmk_queries_are_gated_by_each_lists_quality() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = HashDb::open(dir.path().join("t.db"), OpenOptions::default()).unwrap();
        for (name, gate) in [("default", None), ("low", Some(10u8)), ("any", Some(0))] {
            db.store
                .create_list(&crate::model::NewList {
                    pdq_quality: gate.unwrap_or(crate::model::DEFAULT_PDQ_QUALITY),
                    ..crate::model::NewList::new(name)
                })
                .unwrap();
        }
        db = HashDb::from_store(db.store).unwrap();
        let mut seed = 0x9e37_79b9_u64;
        let scene = tmk_scene(6, &mut seed);
        let listed = Arc::new(tmk_video(&scene, 0.05, &mut seed));
        for name in ["default", "low", "any"] {
            db.import(
                name,
                vec![Ok(Record::new(Value::Tmk(listed.clone())))],
                Path::new("t"),
                ImportOptions::default(),
            )
            .unwrap();
        }
        let names: HashMap<ListId, String> = db
            .store
            .lists()
            .unwrap()
            .into_iter()
            .map(|l| (l.id, l.name))
            .collect();
        let v = Value::Tmk(listed);
        let hit_lists = |quality: Option<u8>| -> Vec<String> {
            let mut l: Vec<String> = db
                .match_value(&v, quality, &MatchOptions::default())
                .unwrap()
                .iter()
                .map(|h| names[&h.list].clone())
                .collect();
            l.sort();
            l
        };
        assert_eq!(hit_lists(None), ["any", "default", "low"]);
        assert_eq!(hit_lists(Some(100)), ["any", "default", "low"]);
        assert_eq!(hit_lists(Some(25)), ["any", "default", "low"]);
        assert_eq!(hit_lists(Some(24)), ["any", "low"]);
        assert_eq!(hit_lists(Some(5)), ["any", "low"]);
        assert_eq!(hit_lists(Some(4)), ["any"]);
        assert_eq!(hit_lists(Some(0)), ["any"]);
    }

    /// The service's way of applying changes (planned from a shared
    /// reference, applied in slices, compacted on request) must leave the
    /// matcher answering exactly as the plain remove-then-add does.
    #[test]
    fn planned_changes_answer_as_plain_removes_and_adds() {
        let mut seed = 0x5eed_u64;
        let mut rnd = move || {
            seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = seed;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        let dir = tempfile::tempdir().unwrap();
        let mut db = HashDb::open(dir.path().join("a.db"), OpenOptions::default()).unwrap();
        db.store.create_list(&NewList::new("l")).unwrap();
        db.matcher = Matcher::load(&db.store).unwrap();
        let mut values: Vec<Value> = (0..400)
            .map(|_| Value::Pdq(Pdq::from_words([rnd(), rnd(), rnd(), rnd()])))
            .collect();
        for v in 0..6u64 {
            let frames = (0..4u64)
                .map(|i| VpdqFrame {
                    frame: i * 30,
                    hash: Pdq::from_words([rnd(), rnd(), rnd(), v]),
                    quality: 100,
                    timestamp: i as f64,
                })
                .collect();
            values.push(Value::Vpdq(frames));
        }
        let sum = db
            .import(
                "l",
                values.iter().map(|v| rec(v.clone(), Some(90))),
                Path::new("t"),
                ImportOptions::default(),
            )
            .unwrap();
        let stored: Vec<Entry> = sum
            .added_ids
            .iter()
            .map(|&id| db.store.entry(id).unwrap())
            .collect();
        let list = stored[0].list_id;
        // Every 5th entry disabled, every 11th disputed, 300 new ones (a
        // near copy of a listed hash among them), one new entry given
        // twice (added, then disabled: the last copy counts).
        let mut changes = Vec::new();
        for (i, e) in stored.iter().enumerate() {
            let status = match i {
                i if i % 5 == 0 => Status::Disabled,
                i if i % 11 == 0 => Status::Disputed,
                _ => continue,
            };
            let mut e = e.clone();
            e.status.status = status;
            changes.push(e);
        }
        let next = stored.iter().map(|e| e.id).max().unwrap() + 1;
        for k in 0..300 {
            let value = if k == 0 {
                let Value::Pdq(p) = &values[3] else {
                    unreachable!()
                };
                let mut w = p.words();
                w[0] ^= 0b111;
                Value::Pdq(Pdq::from_words(w))
            } else {
                Value::Pdq(Pdq::from_words([rnd(), rnd(), rnd(), rnd()]))
            };
            values.push(value.clone());
            changes.push(Entry {
                id: next + k,
                list_id: list,
                record: rec(value, Some(90)).unwrap(),
                added_at: 0,
                status: StatusChange::default(),
            });
        }
        let mut twice = changes.last().unwrap().clone();
        twice.status.status = Status::Disabled;
        changes.push(twice);

        let mut plain = Matcher::load(&db.store).unwrap();
        for e in &changes {
            plain.remove_entry(e);
            plain.add_entry(e);
        }
        let mut planned = Matcher::load(&db.store).unwrap();
        for slice in changes.chunks(32) {
            let plan = planned.plan_changes(slice);
            drop(planned.apply_changes(slice, plan));
        }
        // A plan made before another change is stale: its slots are
        // looked up again, with the same outcome.
        let stale = planned.plan_changes(&changes[..3]);
        let again = changes[3].clone();
        let plan = planned.plan_changes(std::slice::from_ref(&again));
        drop(planned.apply_changes(std::slice::from_ref(&again), plan));
        drop(planned.apply_changes(&changes[..3], stale));

        let answers = |m: &Matcher| -> Vec<Vec<(EntryId, u32)>> {
            values
                .iter()
                .map(|v| {
                    m.match_value(v, Some(100), &MatchOptions::default())
                        .unwrap()
                        .into_iter()
                        .map(|h| (h.entry, h.distance))
                        .collect()
                })
                .collect()
        };
        let want = answers(&plain);
        assert_eq!(answers(&planned), want);
        // Something is matched and something is not: the comparison
        // covers both sides.
        assert!(want.iter().any(|a| a.is_empty()) && want.iter().any(|a| !a.is_empty()));
        assert_eq!(planned.pdq_len(), plain.pdq_len());

        // A compaction built from a shared reference and swapped in.
        let (stamp, fresh) = planned.pdq_compacted();
        assert!(planned.replace_pdq(stamp, fresh).is_ok());
        assert_eq!(answers(&planned), want);
        // One built before a change is refused (an entry listed again:
        // its hash removed and added back).
        let (stamp, fresh) = planned.pdq_compacted();
        let e = changes[changes.len() - 3].clone();
        let plan = planned.plan_changes(std::slice::from_ref(&e));
        drop(planned.apply_changes(std::slice::from_ref(&e), plan));
        assert!(planned.replace_pdq(stamp, fresh).is_err());
        assert_eq!(answers(&planned), want);
    }
}
