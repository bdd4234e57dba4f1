//! List and allowlist changes applied to a [`Matcher`] in place, never by
//! loading it again: a list disabled or deleted leaves at once for lookups
//! (its settings are taken out, and every lookup filters hits by the lists
//! it has) and its entries leave in slices after; a list enabled or
//! created is shown and only its own entries are read and added; a new
//! threshold, vPDQ rule or TMK threshold is a new [`ListInfo`] (the PDQ
//! index is searched at the widest threshold of the lists, worked out per
//! query, so it does not depend on them); a quality gate moved adds or
//! removes the list's PDQ entries between the old and the new gate.
//!
//! Each step is split in a part done from a shared reference (finding what
//! to remove, which scans the index) and a part that changes the matcher
//! in small slices, so that a service holding the matcher behind a
//! read-write lock keeps its lookups going (see `serve/live.rs` in the
//! app). [`Matcher::apply_list_changes`] does it all at once, for callers
//! without a lock.

use super::{pdq_slots, ChangePlan, Matcher, NO_FRAME};
use crate::error::StoreError;
use crate::model::{Entry, EntryId, ListId, ListInfo, Value};
use crate::store::{AllowChange, Store};

/// What a list change asks of the matcher (see [`Matcher::diff_lists`]).
#[derive(Debug, Clone, PartialEq)]
pub enum ListChange {
    /// Disabled or deleted: hidden now ([`Matcher::hide_list`]), its
    /// entries removed after ([`Matcher::plan_list_removal`]).
    Hide(ListId),
    /// Enabled or created: shown ([`Matcher::show_list`]), then its
    /// entries read from the store and added.
    Show(ListInfo),
    /// New settings that change no entry's place in the index.
    Settings(ListInfo),
    /// The quality gate moved from `old`: the list's PDQ entries with a
    /// quality between the two gates are read and applied again
    /// ([`ListChange::regated`]) once the new settings are in.
    Regate { info: ListInfo, old: u8 },
}

impl ListChange {
    /// For a [`ListChange::Regate`]: whether `e` is one of the entries it
    /// moves (a PDQ entry whose quality lies between the gates).
    pub fn regated(info: &ListInfo, old: u8, e: &Entry) -> bool {
        let (lo, hi) = (old.min(info.pdq_quality), old.max(info.pdq_quality));
        matches!(e.record.value, Value::Pdq(_))
            && e.record.quality.is_some_and(|q| q >= lo && q < hi)
    }
}

/// The entries a hidden list still has in the matcher, found from a
/// shared reference ([`Matcher::plan_list_removal`]) and removed a slice
/// at a time ([`Matcher::apply_list_removal`]).
#[derive(Debug, Default)]
pub struct ListRemoval {
    list: ListId,
    slots: Vec<u32>,
    md5: Vec<[u8; 16]>,
    sha256: Vec<[u8; 32]>,
    blake3: Vec<[u8; 32]>,
    videos: Vec<EntryId>,
    tmk: bool,
}

impl ListRemoval {
    /// Nothing (left) to remove.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
            && self.md5.is_empty()
            && self.sha256.is_empty()
            && self.blake3.is_empty()
            && self.videos.is_empty()
            && !self.tmk
    }

    /// Items left to remove.
    pub fn len(&self) -> usize {
        self.slots.len()
            + self.md5.len()
            + self.sha256.len()
            + self.blake3.len()
            + self.videos.len()
            + usize::from(self.tmk)
    }
}

impl Matcher {
    /// The changes that turn this matcher's lists into `all` (every list
    /// of the store, enabled or not). A list is known by its id and its
    /// creation time: a list deleted and another made with its id is a
    /// hide and a show.
    ///
    /// `deleted`: lists deleted since (see [`crate::store::Changes`]), hidden
    /// whatever `all` says (a list made since may have the same id).
    pub fn diff_lists(&self, all: &[ListInfo], deleted: &[ListId]) -> Vec<ListChange> {
        let mut out = Vec::new();
        let mut ids: Vec<ListId> = self.lists.keys().copied().collect();
        ids.sort_unstable();
        let gone = |id: ListId| deleted.contains(&id);
        for id in ids {
            let same = all
                .iter()
                .find(|l| l.id == id && l.enabled && l.created_at == self.lists[&id].created_at);
            if same.is_none() || gone(id) {
                out.push(ListChange::Hide(id));
            }
        }
        for l in all.iter().filter(|l| l.enabled) {
            match self.lists.get(&l.id) {
                Some(now) if now.created_at == l.created_at && !gone(l.id) => {
                    if now.pdq_quality != l.pdq_quality {
                        out.push(ListChange::Regate {
                            info: l.clone(),
                            old: now.pdq_quality,
                        });
                    } else if now != l {
                        out.push(ListChange::Settings(l.clone()));
                    }
                }
                _ => out.push(ListChange::Show(l.clone())),
            }
        }
        out
    }

    /// Take a list out of the lookups (its entries stay until removed).
    pub fn hide_list(&mut self, list: ListId) {
        self.lists.remove(&list);
    }

    /// Put a list (new settings, or enabled) into the lookups; its entries
    /// are added after ([`Matcher::add_entry`] adds only those of shown
    /// lists).
    pub fn show_list(&mut self, info: ListInfo) {
        self.lists.insert(info.id, info);
    }

    /// Whether `list` is among the lists lookups use.
    pub fn shows_list(&self, list: ListId) -> bool {
        self.lists.contains_key(&list)
    }

    /// What hidden list `list` still holds, found by a scan of the index
    /// and the digest sets from a shared reference. Empty for a shown list
    /// (its entries are not to be removed).
    pub fn plan_list_removal(&self, list: ListId) -> ListRemoval {
        if self.lists.contains_key(&list) {
            return ListRemoval::default();
        }
        let of = |it: &super::ItemRef| it.list == list;
        let slots = self.pdq.live_slots_where(0, of);
        let mut videos: Vec<EntryId> = slots
            .iter()
            .map(|&s| self.pdq.items()[s as usize])
            .filter(|it| it.frame != NO_FRAME)
            .map(|it| it.entry)
            .collect();
        videos.sort_unstable();
        videos.dedup();
        ListRemoval {
            list,
            slots,
            md5: self.md5.keys_where(of),
            sha256: self.sha256.keys_where(of),
            blake3: self.blake3.keys_where(of),
            videos,
            tmk: self.tmk.any(of),
        }
    }

    /// Remove up to `budget` items of `r` (one write-lock hold's worth);
    /// true once nothing is left. Does nothing to a list shown again
    /// meanwhile. The PDQ index does not compact itself here: see
    /// [`Matcher::pdq_needs_compaction`].
    pub fn apply_list_removal(&mut self, r: &mut ListRemoval, budget: usize) -> bool {
        let list = r.list;
        if self.lists.contains_key(&list) {
            *r = ListRemoval::default();
            return true;
        }
        self.pdq.set_auto_compact(false);
        let of = |it: &super::ItemRef| it.list == list;
        let mut left = budget.max(1);
        let slots: Vec<u32> = take(&mut r.slots, &mut left);
        self.pdq.tombstone_where(&slots, of);
        for k in take(&mut r.md5, &mut left) {
            self.md5.remove(&k, of);
        }
        for k in take(&mut r.sha256, &mut left) {
            self.sha256.remove(&k, of);
        }
        for k in take(&mut r.blake3, &mut left) {
            self.blake3.remove(&k, of);
        }
        for e in take(&mut r.videos, &mut left) {
            self.videos.remove(&e);
        }
        if left > 0 && r.tmk {
            // TMK+PDQF lists are small (one feature per video): one pass.
            let mut gone = Vec::new();
            self.tmk.remove(|it| {
                let g = it.list == list;
                if g {
                    gone.push(it.entry);
                }
                g
            });
            for e in gone {
                self.tmk_held.remove(&e);
            }
            r.tmk = false;
        }
        r.is_empty()
    }

    /// [`Matcher::plan_changes`] for entries known not to be in the
    /// matcher (those of a list just shown): storage grown ahead, nothing
    /// to look up for removal.
    pub fn plan_adds(&self, entries: &[Entry]) -> ChangePlan {
        let adds = pdq_slots(entries);
        ChangePlan {
            stamp: self.pdq.stamp(),
            // No slot to tombstone for any of them.
            removals: vec![Some(Vec::new()); entries.len()],
            room: self.pdq.room_for(adds),
        }
    }

    /// Apply allowlist additions and removals in order (an addition
    /// already there, or a removal of what is not, changes nothing).
    pub fn apply_allow_changes(&mut self, changes: &[AllowChange]) {
        for c in changes {
            match (&c.value, c.added) {
                (Value::Pdq(p), true) => {
                    if self.allow_pdq.find(p, |&id| id == c.id).is_empty() {
                        self.allow_pdq.insert(p, c.id);
                    }
                }
                (Value::Pdq(p), false) => {
                    self.allow_pdq.remove(p, |&id| id == c.id);
                }
                (v, true) => {
                    self.allow_exact.insert((v.signal_type(), v.key()), c.id);
                }
                (v, false) => {
                    let k = (v.signal_type(), v.key());
                    if self.allow_exact.get(&k) == Some(&c.id) {
                        self.allow_exact.remove(&k);
                    }
                }
            }
        }
    }

    /// Allowlisted values in memory (PDQ and digests).
    pub fn allow_len(&self) -> usize {
        self.allow_pdq.len() + self.allow_exact.len()
    }

    /// Apply every list change that turns this matcher's lists into `all`,
    /// reading from `store` only the entries of lists shown or re-gated,
    /// all at once (no lock to share: see the module docs). Returns the
    /// changes applied.
    ///
    /// # Errors
    /// A store read error; the matcher then has some of the changes (a
    /// later call with the same lists finishes them).
    pub fn apply_list_changes(
        &mut self,
        store: &Store,
        all: &[ListInfo],
        deleted: &[ListId],
    ) -> Result<Vec<ListChange>, StoreError> {
        let changes = self.diff_lists(all, deleted);
        for c in &changes {
            match c {
                ListChange::Hide(id) => {
                    self.hide_list(*id);
                    let mut r = self.plan_list_removal(*id);
                    while !self.apply_list_removal(&mut r, usize::MAX) {}
                }
                ListChange::Settings(info) => self.show_list(info.clone()),
                ListChange::Show(info) => {
                    let ids = store.list_entry_ids(info.id)?;
                    self.show_list(info.clone());
                    for chunk in ids.chunks(4096) {
                        let entries = store.entries_by_id(chunk)?;
                        let plan = self.plan_adds(&entries);
                        drop(self.apply_changes(&entries, plan));
                    }
                }
                ListChange::Regate { info, old } => {
                    let ids = store.list_entry_ids(info.id)?;
                    self.show_list(info.clone());
                    for chunk in ids.chunks(4096) {
                        let mut entries = store.entries_by_id(chunk)?;
                        entries.retain(|e| ListChange::regated(info, *old, e));
                        let plan = self.plan_changes(&entries);
                        drop(self.apply_changes(&entries, plan));
                    }
                }
            }
        }
        if self.pdq.needs_compaction() {
            self.pdq.compact();
        }
        Ok(changes)
    }
}

/// Up to `left` items from the end of `v` (and `left` less by as many).
fn take<K>(v: &mut Vec<K>, left: &mut usize) -> Vec<K> {
    let n = v.len().min(*left);
    *left -= n;
    v.split_off(v.len() - n)
}

#[cfg(test)]
mod tests {
    use super::super::MatchOptions;
    use super::*;
    use crate::model::{ListUpdate, NewList, Record, Status, StatusChange};
    use crate::store::{ImportOptions, OpenOptions};
    use crate::types::{Md5, Pdq};
    use std::path::Path;

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// Every answer of `m` to `queries`: (query, list, entry, distance,
    /// suppressed by), sorted.
    fn answers(m: &Matcher, queries: &[Value]) -> Vec<(usize, ListId, EntryId, u32, Option<i64>)> {
        let mut out = Vec::new();
        for (i, q) in queries.iter().enumerate() {
            for h in m.match_value(q, None, &MatchOptions::default()).unwrap() {
                out.push((i, h.list, h.entry, h.distance, h.suppressed_by));
            }
        }
        out.sort_unstable();
        out
    }

    /// Random mixed changes (imports, entry statuses, lists enabled,
    /// disabled, created, deleted, new thresholds and quality gates,
    /// allowlist additions and removals), read from the change log in
    /// small pages and applied in place, answer every query exactly as a
    /// matcher freshly loaded from the store does, after every round.
    #[test]
    fn changes_applied_in_place_answer_as_a_fresh_load() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open_with(dir.path().join("r.db"), OpenOptions::default()).unwrap();
        // The server reads changes on a connection of its own: SQLite's
        // `data_version`, which lets a look with no news skip its queries,
        // only counts commits made by other connections.
        let mut reader = Store::open_with(dir.path().join("r.db"), OpenOptions::default()).unwrap();
        let mut rng = Rng(0x1234_5678_9abc_def1);
        let base: Vec<Pdq> = (0..40)
            .map(|_| Pdq::from_words([rng.next(), rng.next(), rng.next(), rng.next()]))
            .collect();
        // A value near one of the bases (so lists and thresholds matter).
        let near = |rng: &mut Rng| {
            let mut w = base[rng.below(base.len() as u64) as usize].words();
            for _ in 0..rng.below(40) {
                let b = rng.below(256);
                w[(b / 64) as usize] ^= 1 << (b % 64);
            }
            Pdq::from_words(w)
        };
        let mut names: Vec<String> = Vec::new();
        let mut made = 0;
        let mut new_list = |store: &mut Store, rng: &mut Rng, names: &mut Vec<String>| {
            made += 1;
            let name = format!("l{made}");
            store
                .create_list(&NewList {
                    pdq_threshold: 10 + rng.below(40) as u32,
                    pdq_quality: rng.below(90) as u8,
                    ..NewList::new(name.clone())
                })
                .unwrap();
            names.push(name);
        };
        for _ in 0..3 {
            new_list(&mut store, &mut rng, &mut names);
        }
        let cursor0 = reader.change_cursor().unwrap();
        let mut live = Matcher::load(&store).unwrap();
        let mut cursor = cursor0;
        let mut allowed: Vec<i64> = Vec::new();
        let mut md5s: Vec<Md5> = Vec::new();
        let mut applied = 0usize;
        for round in 0..40 {
            for _ in 0..3 {
                match rng.below(10) {
                    0..=2 if !names.is_empty() => {
                        let list = names[rng.below(names.len() as u64) as usize].clone();
                        let recs: Vec<_> = (0..1 + rng.below(12))
                            .map(|_| {
                                let v = if rng.below(5) == 0 {
                                    let m = Md5([rng.below(4) as u8; 16]);
                                    md5s.push(m);
                                    Value::Md5(m)
                                } else {
                                    Value::Pdq(near(&mut rng))
                                };
                                let mut r = Record::new(v);
                                r.quality = Some(rng.below(101) as u8);
                                Ok(r)
                            })
                            .collect();
                        store
                            .import(&list, recs, Path::new("t"), ImportOptions::default())
                            .unwrap();
                    }
                    3 => {
                        let max = store.max_entry_id().unwrap();
                        if max > 0 {
                            let id = 1 + rng.below(max as u64) as i64;
                            let status = [Status::Active, Status::Disabled, Status::Disputed]
                                [rng.below(3) as usize];
                            let _ = store.set_status(
                                id,
                                &StatusChange {
                                    status,
                                    ..StatusChange::default()
                                },
                            );
                        }
                    }
                    4 if !names.is_empty() => {
                        let list = &names[rng.below(names.len() as u64) as usize];
                        let on = rng.below(2) == 0;
                        store.set_list_enabled(list, on).unwrap();
                    }
                    5 if !names.is_empty() => {
                        let list = &names[rng.below(names.len() as u64) as usize];
                        let u = if rng.below(2) == 0 {
                            ListUpdate {
                                pdq_threshold: Some(rng.below(60) as u32),
                                ..ListUpdate::default()
                            }
                        } else {
                            ListUpdate {
                                pdq_quality: Some(rng.below(101) as u8),
                                ..ListUpdate::default()
                            }
                        };
                        store.update_list(list, &u).unwrap();
                    }
                    6 if names.len() > 1 && rng.below(3) == 0 => {
                        let i = rng.below(names.len() as u64) as usize;
                        store.delete_list(&names.remove(i)).unwrap();
                    }
                    6 => new_list(&mut store, &mut rng, &mut names),
                    7 | 8 => {
                        let v = if rng.below(3) == 0 && !md5s.is_empty() {
                            Value::Md5(md5s[rng.below(md5s.len() as u64) as usize])
                        } else {
                            Value::Pdq(near(&mut rng))
                        };
                        allowed.push(store.allow(&v, None, None).unwrap());
                    }
                    _ if !allowed.is_empty() => {
                        let i = rng.below(allowed.len() as u64) as usize;
                        store.disallow(allowed.remove(i)).unwrap();
                    }
                    _ => {}
                }
            }
            // Applied as the service applies it: lists, allowlist, then
            // the entries, a small page at a time.
            loop {
                let ch = reader.changes_since(&cursor, 5).unwrap();
                if let Some(all) = &ch.lists {
                    applied += live
                        .apply_list_changes(&reader, all, &ch.deleted_lists)
                        .unwrap()
                        .len();
                }
                live.apply_allow_changes(&ch.allow);
                let plan = live.plan_changes(&ch.entries);
                drop(live.apply_changes(&ch.entries, plan));
                cursor = ch.next;
                if !ch.more {
                    break;
                }
            }
            let fresh = Matcher::load(&store).unwrap();
            let mut queries: Vec<Value> = (0..30).map(|_| Value::Pdq(near(&mut rng))).collect();
            queries.extend(base.iter().map(|p| Value::Pdq(*p)));
            queries.extend(md5s.iter().map(|m| Value::Md5(*m)));
            let want = answers(&fresh, &queries);
            assert_eq!(answers(&live, &queries), want, "round {round}");
            assert_eq!(live.pdq_len(), fresh.pdq_len(), "round {round}");
            assert_eq!(live.allow_len(), fresh.allow_len(), "round {round}");
        }
        // The test is not vacuous: list changes happened and were applied.
        assert!(applied > 10, "{applied}");
    }
}
