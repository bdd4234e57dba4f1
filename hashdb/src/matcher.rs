//! Matching queries against the active entries of the enabled lists.
//!
//! [`Matcher`] is the in-memory side: a [`PdqIndex`] over every active PDQ
//! hash (image entries and every frame of vPDQ entries, each pointing back
//! to its entry and frame), exact sets for the digests, the frames of every
//! listed video for the bag comparison, and the allowlist. [`HashDb`] pairs
//! it with the [`Store`] and keeps both in step: adding, disabling or
//! disputing an entry updates the index in place, with no rebuild.
//!
//! Threading: matching takes `&self` (share a `Matcher` across threads
//! behind an `Arc`/`RwLock`); changes take `&mut self`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::error::{ImportError, OpenError, ParseError, StoreError};
use crate::index::{ExactIndex, IndexConfig, PdqIndex};
use crate::model::{Entry, EntryId, ListId, ListInfo, Record, Status, StatusChange, Value};
use crate::store::{ImportOptions, ImportSummary, OpenOptions, Store};
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
}

/// Opening a [`HashDb`] failed.
#[derive(Debug, thiserror::Error)]
pub enum HashDbError {
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error("loading the lists: {0}")]
    Load(#[from] StoreError),
}

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
        Ok(m)
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
            Value::Pdq(_) | Value::Vpdq(_) => {}
        }
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
            v => self.insert_exact(v, item),
        }
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

    /// Enable or disable a list (reloads the matcher).
    pub fn set_list_enabled(&mut self, name: &str, enabled: bool) -> Result<ListInfo, StoreError> {
        let l = self.store.set_list_enabled(name, enabled)?;
        self.matcher = Matcher::load(&self.store)?;
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
        // 4 frames: fewer than the clip rule's minimum of 5.
        let hits = db
            .match_value(
                &Value::Vpdq(frames[..4].to_vec()),
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
}
