//! HMA 2.0 content items (schema V10; V5 before): the id that HMA's
//! curation and matching routes give a banked photo or video, its note,
//! metadata and `disable_until_ts`, and each list's fractional
//! `matching_enabled_ratio`.
//!
//! Items are apart from entries, as HMA's `bank_content` is apart from
//! its `content_signal` rows: the list keeps one entry per value (what
//! `db import`, `/v1` and the index see), an item holds entries, and one
//! entry may be held by several items: adding a hash a bank already holds
//! makes a second item, as HMA's `bank_add_content` does, and a lookup
//! hitting the entry answers both. An entry held by no item is an item by
//! itself, id the entry's (lists that came in by `db import` or `/v1`
//! answer HMA lookups with their entry ids); it gets a row of its own
//! once it is changed or another item comes to hold its value.
//!
//! Ids: a new item takes its first entry's id when the add made that
//! entry (so a bank of one signal per item counts 1, 2, 3, ... as HMA
//! does), else an id above every entry and item id so far, which no entry
//! takes later (SQLite: `id_floor`, below which new entries never go;
//! PostgreSQL: the next value of the entries' identity). Ids of existing
//! items never change, and an id an HMA delete freed is not given again.

use std::collections::BTreeMap;

use rusqlite::{params, OptionalExtension, Transaction};

use super::SqliteStore;
use crate::error::StoreError;
use crate::model::{EntryId, ListId, Record, Value};

/// HMA's `disable_until_ts` magic values.
pub const CONTENT_DISABLED: i64 = 0;
pub const CONTENT_ENABLED: i64 = 1;
/// HMA's longest note.
pub const MAX_NOTE_CHARS: usize = 255;

/// One HMA content item.
#[derive(Debug, Clone, PartialEq)]
pub struct HmaContent {
    pub id: EntryId,
    pub list_id: ListId,
    pub note: Option<String>,
    /// The user metadata, as JSON text.
    pub metadata: Option<String>,
    pub disable_until_ts: i64,
    /// Every entry the item holds: the entry of the same id first (when
    /// it holds it), then by id.
    pub entries: Vec<EntryId>,
}

impl HmaContent {
    /// HMA's `BankContentConfig.enabled` at Unix time `now`.
    pub fn enabled_at(&self, now: i64) -> bool {
        enabled_at(self.disable_until_ts, now)
    }
}

fn enabled_at(disable_until_ts: i64, now: i64) -> bool {
    match disable_until_ts {
        CONTENT_DISABLED => false,
        CONTENT_ENABLED => true,
        ts => ts <= now,
    }
}

/// One item an entry answers as in HMA's lookups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentOf {
    pub content_id: EntryId,
    pub disable_until_ts: i64,
}

impl ContentOf {
    pub fn enabled_at(&self, now: i64) -> bool {
        enabled_at(self.disable_until_ts, now)
    }
}

pub(super) fn check_note(note: Option<&str>) -> Result<(), StoreError> {
    match note {
        Some(n) if n.chars().count() > MAX_NOTE_CHARS => Err(StoreError::Invalid {
            field: "note",
            message: format!("note must be at most {MAX_NOTE_CHARS} characters"),
        }),
        _ => Ok(()),
    }
}

pub(super) fn no_signals() -> StoreError {
    StoreError::Invalid {
        field: "signals",
        message: "no signals given".into(),
    }
}

pub(super) fn check_disable_until(t: Option<i64>) -> Result<(), StoreError> {
    if t.is_some_and(|t| t < 0) {
        return Err(StoreError::Invalid {
            field: "disable_until_ts",
            message: "disable_until_ts must be a non-negative integer".into(),
        });
    }
    Ok(())
}

/// Give entry `id`, an item by itself, a row of its own (id kept), so
/// that it stays an item once another item holds it too, or keeps what is
/// set on it. Nothing when it already is held by an item.
fn own_row(tx: &Transaction<'_>, id: EntryId) -> Result<(), StoreError> {
    let n = tx.execute(
        "INSERT INTO hma_items (id, list_id)
         SELECT e.id, e.list_id FROM entries e
         WHERE e.id = ?1 AND NOT EXISTS (SELECT 1 FROM hma_item_entries m WHERE m.entry_id = e.id)
           AND NOT EXISTS (SELECT 1 FROM hma_items i WHERE i.id = e.id)",
        [id],
    )?;
    if n == 1 {
        tx.execute(
            "INSERT INTO hma_item_entries (item_id, entry_id) VALUES (?1, ?1)",
            [id],
        )?;
    }
    Ok(())
}

/// Bank `values` in list `list_id` as one new content item inside `tx`
/// (the work of [`SqliteStore::hma_content_add`], which also stamps the
/// list): its id, and whether any value was new to the list.
pub(super) fn add_item(
    tx: &Transaction<'_>,
    list_id: ListId,
    values: &[Value],
    note: Option<&str>,
    metadata: Option<&str>,
) -> Result<(EntryId, bool), StoreError> {
    if values.is_empty() {
        return Err(no_signals());
    }
    let mut ids: Vec<(EntryId, bool)> = Vec::with_capacity(values.len());
    for v in values {
        let rec = Record::new(v.clone());
        super::entries::validate(&rec).map_err(|message| StoreError::Invalid {
            field: "signals",
            message,
        })?;
        let id = match super::entries::insert_or_merge(tx, list_id, &rec)? {
            (Some(id), _) => (id, true),
            (None, _) => (
                tx.prepare_cached(
                    "SELECT id FROM entries WHERE list_id = ?1 AND signal_type = ?2 AND value = ?3",
                )?
                .query_row(params![list_id, v.signal_type().as_str(), v.key()], |r| {
                    r.get(0)
                })?,
                false,
            ),
        };
        if !ids.iter().any(|(e, _)| *e == id.0) {
            ids.push(id);
        }
    }
    let (first, first_new) = ids[0];
    let id: EntryId = if first_new {
        first
    } else {
        // Above every entry and item id so far; no later entry takes
        // it (`id_floor`, schema V10).
        tx.query_row(
            "UPDATE id_floor SET value = max(value, coalesce((SELECT max(id) FROM entries), 0)) + 1
             WHERE id = 1 RETURNING value",
            [],
            |r| r.get(0),
        )?
    };
    for &(e, new) in &ids {
        if !new {
            own_row(tx, e)?;
        }
    }
    tx.execute(
        "INSERT INTO hma_items (id, list_id, note, metadata) VALUES (?1, ?2, ?3, ?4)",
        params![id, list_id, note, metadata],
    )?;
    for &(e, _) in &ids {
        tx.execute(
            "INSERT OR IGNORE INTO hma_item_entries (item_id, entry_id) VALUES (?1, ?2)",
            params![id, e],
        )?;
    }
    Ok((id, ids.iter().any(|&(_, new)| new)))
}

/// Delete content item `id`, which holds `entries`, inside `tx`, and each
/// of those entries that no other item holds (the work of
/// [`SqliteStore::hma_content_delete`], which also stamps the list).
pub(super) fn delete_item(
    tx: &Transaction<'_>,
    id: EntryId,
    entries: &[EntryId],
) -> Result<(), StoreError> {
    // No later entry or item takes an id up to here again (HMA never
    // gives a deleted item's id to another).
    tx.execute(
        "UPDATE id_floor SET value = max(value, ?1, coalesce((SELECT max(id) FROM entries), 0))
         WHERE id = 1",
        [id],
    )?;
    tx.execute("DELETE FROM hma_items WHERE id = ?1", [id])?;
    for e in entries.iter().rev() {
        tx.execute(
            "DELETE FROM entries WHERE id = ?1
               AND NOT EXISTS (SELECT 1 FROM hma_item_entries WHERE entry_id = ?1)",
            [e],
        )?;
    }
    Ok(())
}

impl SqliteStore {
    /// The entry holding `value` in list `list_id`, if any.
    pub fn entry_id_of(
        &self,
        list_id: ListId,
        value: &Value,
    ) -> Result<Option<EntryId>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT id FROM entries WHERE list_id = ?1 AND signal_type = ?2 AND value = ?3",
            )?
            .query_row(
                params![list_id, value.signal_type().as_str(), value.key()],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Bank `values` in list `list` as one new content item with this note
    /// and metadata (HMA's `bank_add_content`), in one transaction: each
    /// value is stored as an entry unless the list holds it already
    /// (merged as an import merges), and the item holds those entries.
    /// Returns the item's id: the first entry's when the add made it, else
    /// a fresh one (module docs). A value another item holds stays matched
    /// for that item too.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] for no values or an over-long note,
    /// [`StoreError::NoSuchList`], [`StoreError::Locked`].
    pub fn hma_content_add(
        &mut self,
        list: &str,
        values: &[Value],
        note: Option<&str>,
        metadata: Option<&str>,
    ) -> Result<EntryId, StoreError> {
        check_note(note)?;
        if values.is_empty() {
            return Err(no_signals());
        }
        let list_id = self.list(list)?.id;
        let tx = self.immediate()?;
        let (id, added) = add_item(&tx, list_id, values, note, metadata)?;
        if added {
            tx.execute(
                "UPDATE lists SET updated_at = ?1 WHERE id = ?2",
                params![super::now(), list_id],
            )?;
        }
        tx.commit()?;
        Ok(id)
    }

    /// Content item `id` of list `list_id`: `None` when there is no such
    /// item in that list (an entry held by other items is no item by
    /// itself; an item whose entries were all removed is gone).
    pub fn hma_content(
        &self,
        list_id: ListId,
        id: EntryId,
    ) -> Result<Option<HmaContent>, StoreError> {
        let row = self
            .conn
            .prepare_cached(
                "SELECT list_id, note, metadata, disable_until_ts FROM hma_items WHERE id = ?1",
            )?
            .query_row([id], |r| {
                Ok((r.get::<_, ListId>(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()?;
        let Some((list, note, metadata, disable_until_ts)) = row else {
            // An entry held by no item: an item by itself.
            let own: Option<ListId> = self
                .conn
                .prepare_cached(
                    "SELECT e.list_id FROM entries e
                     WHERE e.id = ?1 AND e.list_id = ?2
                       AND NOT EXISTS (SELECT 1 FROM hma_item_entries m WHERE m.entry_id = e.id)",
                )?
                .query_row(params![id, list_id], |r| r.get(0))
                .optional()?;
            return Ok(own.map(|list_id| HmaContent {
                id,
                list_id,
                note: None,
                metadata: None,
                disable_until_ts: CONTENT_ENABLED,
                entries: vec![id],
            }));
        };
        if list != list_id {
            return Ok(None);
        }
        let mut entries = Vec::new();
        let mut st = self.conn.prepare_cached(
            "SELECT entry_id FROM hma_item_entries WHERE item_id = ?1
             ORDER BY entry_id <> ?1, entry_id",
        )?;
        for e in st.query_map([id], |r| r.get(0))? {
            entries.push(e?);
        }
        if entries.is_empty() {
            return Ok(None);
        }
        Ok(Some(HmaContent {
            id,
            list_id,
            note,
            metadata,
            disable_until_ts,
            entries,
        }))
    }

    /// Change an item's `disable_until_ts` and/or note (`Some(None)`
    /// clears it). The caller has checked that the item exists.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] for a negative time or an over-long note.
    pub fn hma_content_update(
        &mut self,
        id: EntryId,
        disable_until_ts: Option<i64>,
        note: Option<Option<&str>>,
    ) -> Result<(), StoreError> {
        check_disable_until(disable_until_ts)?;
        check_note(note.flatten())?;
        let tx = self.immediate()?;
        own_row(&tx, id)?;
        if let Some(t) = disable_until_ts {
            tx.execute(
                "UPDATE hma_items SET disable_until_ts = ?2 WHERE id = ?1",
                params![id, t],
            )?;
        }
        if let Some(n) = note {
            tx.execute(
                "UPDATE hma_items SET note = ?2 WHERE id = ?1",
                params![id, n],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Delete content item `id` of list `list_id`, and every entry of it
    /// that no other item holds; returns how many items were deleted (0
    /// or 1), as HMA does.
    pub fn hma_content_delete(&mut self, list_id: ListId, id: EntryId) -> Result<u64, StoreError> {
        let Some(item) = self.hma_content(list_id, id)? else {
            return Ok(0);
        };
        let tx = self.immediate()?;
        delete_item(&tx, id, &item.entries)?;
        tx.execute(
            "UPDATE lists SET updated_at = ?2 WHERE id = ?1",
            params![list_id, super::now()],
        )?;
        tx.commit()?;
        Ok(1)
    }

    /// The content items each of `entries` answers as (entries not found
    /// are left out; an entry no item holds answers as itself).
    pub fn hma_contents_of(
        &self,
        entries: &[EntryId],
    ) -> Result<BTreeMap<EntryId, Vec<ContentOf>>, StoreError> {
        let mut out = BTreeMap::new();
        let mut st = self.conn.prepare_cached(
            "SELECT coalesce(i.id, e.id), coalesce(i.disable_until_ts, 1)
             FROM entries e
             LEFT JOIN hma_item_entries m ON m.entry_id = e.id
             LEFT JOIN hma_items i ON i.id = m.item_id
             WHERE e.id = ?1
             ORDER BY 1",
        )?;
        for &e in entries {
            let items = st
                .query_map([e], |r| {
                    Ok(ContentOf {
                        content_id: r.get(0)?,
                        disable_until_ts: r.get(1)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            if !items.is_empty() {
                out.insert(e, items);
            }
        }
        Ok(out)
    }

    /// Per list and signal type, how many more signals HMA would count
    /// than the list has active entries: an entry held by `n > 1` items
    /// is `n` of HMA's signal rows (its index sizes count them).
    pub fn hma_extra_signals(&self) -> Result<BTreeMap<(ListId, String), u64>, StoreError> {
        let mut st = self.conn.prepare_cached(
            "SELECT e.list_id, e.signal_type, count(*) - count(DISTINCT e.id)
             FROM hma_item_entries m JOIN entries e ON e.id = m.entry_id
             WHERE e.status = 'active'
             GROUP BY e.list_id, e.signal_type",
        )?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get::<_, ListId>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?;
        let mut out = BTreeMap::new();
        for row in rows {
            let (list, t, n) = row?;
            if n > 0 {
                out.insert((list, t), n as u64);
            }
        }
        Ok(out)
    }

    /// HMA's `matching_enabled_ratio` of every list, by name.
    pub fn hma_ratios(&self) -> Result<BTreeMap<String, f64>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached("SELECT name, enabled, hma_enabled_ratio FROM lists")?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, bool>(1)?,
                r.get::<_, f64>(2)?,
            ))
        })?;
        let mut out = BTreeMap::new();
        for row in rows {
            let (name, enabled, ratio) = row?;
            // A list disabled by other means (`db disable`) answers 0; one
            // enabled by other means after HMA set 0 answers 1.
            let r = match (enabled, ratio > 0.0) {
                (false, _) => 0.0,
                (true, true) => ratio,
                (true, false) => 1.0,
            };
            out.insert(name, r);
        }
        Ok(out)
    }

    /// Set a list's ratio; a list is enabled exactly when its ratio is
    /// above 0 (what HMA calls `BankConfig.enabled`).
    ///
    /// # Errors
    /// [`StoreError::Invalid`] outside 0..=1, [`StoreError::NoSuchList`].
    pub fn set_hma_ratio(&mut self, name: &str, ratio: f64) -> Result<(), StoreError> {
        if !(0.0..=1.0).contains(&ratio) {
            return Err(StoreError::Invalid {
                field: "enabled_ratio",
                message: format!("enabled_ratio must be between 0 and 1, got {ratio}"),
            });
        }
        let tx = self.immediate()?;
        let n = tx.execute(
            "UPDATE lists SET hma_enabled_ratio = ?1, enabled = ?2, updated_at = ?3 WHERE name = ?4",
            params![ratio, ratio > 0.0, super::now(), name],
        )?;
        if n == 0 {
            return Err(StoreError::NoSuchList(name.to_string()));
        }
        tx.commit()?;
        Ok(())
    }

    /// Rename a list (HMA's bank rename).
    ///
    /// # Errors
    /// [`StoreError::NoSuchList`], [`StoreError::ListExists`].
    pub fn rename_list(&mut self, from: &str, to: &str) -> Result<(), StoreError> {
        if from == to {
            self.list(from)?;
            return Ok(());
        }
        let tx = self.immediate()?;
        let taken: Option<i64> = tx
            .query_row("SELECT id FROM lists WHERE name = ?1", [to], |r| r.get(0))
            .optional()?;
        if taken.is_some() {
            return Err(StoreError::ListExists(to.to_string()));
        }
        let n = tx.execute(
            "UPDATE lists SET name = ?1, updated_at = ?2 WHERE name = ?3",
            params![to, super::now(), from],
        )?;
        if n == 0 {
            return Err(StoreError::NoSuchList(from.to_string()));
        }
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{NewList, Record};
    use crate::store::ImportOptions;
    use crate::store::Store;
    use crate::types::{Md5, Pdq};
    use std::path::Path;

    fn add(s: &mut Store, list: &str, vals: Vec<Value>) -> Vec<EntryId> {
        let recs: Vec<_> = vals.into_iter().map(|v| Ok(Record::new(v))).collect();
        s.import(list, recs, Path::new("t"), ImportOptions::default())
            .unwrap()
            .added_ids
    }

    fn ids_of(s: &Store, entry: EntryId) -> Vec<EntryId> {
        s.hma_contents_of(&[entry]).unwrap()[&entry]
            .iter()
            .map(|c| c.content_id)
            .collect()
    }

    crate::store::backend_tests::both! {
    fn one_id_per_item_and_delete_removes_every_signal(db) {
        let mut s = db.open();
        let l = s.create_list(&NewList::new("B")).unwrap();
        let vals = [Value::Md5(Md5([1; 16])), Value::Pdq(Pdq([2; 32]))];
        let c = s.hma_content_add("B", &vals, Some("n"), None).unwrap();
        let item = s.hma_content(l.id, c).unwrap().unwrap();
        assert_eq!(item.entries.len(), 2);
        // The item's id is its first entry's (a new one).
        assert_eq!(item.entries[0], c);
        assert_eq!(s.entry(c).unwrap().record.value, vals[0]);
        let of = s.hma_contents_of(&item.entries).unwrap();
        assert!(of.values().all(|o| o.len() == 1 && o[0].content_id == c));
        // The other signal is no item by itself.
        assert!(s.hma_content(l.id, item.entries[1]).unwrap().is_none());
        assert_eq!(item.note.as_deref(), Some("n"));
        assert!(s.hma_extra_signals().unwrap().is_empty());
        assert_eq!(s.hma_content_delete(l.id, c).unwrap(), 1);
        assert!(s.entry(item.entries[1]).is_err());
        assert_eq!(s.hma_content_delete(l.id, c).unwrap(), 0);
        assert!(matches!(
            s.hma_content_add("NOPE", &vals, None, None),
            Err(StoreError::NoSuchList(_))
        ));
        assert!(s.hma_content_add("B", &[], None, None).is_err());
    }
    }

    crate::store::backend_tests::both! {
    /// HMA's `bank_add_content` never looks for the value: the same hash
    /// added twice is two items, each answered by a lookup, each deleted
    /// and disabled on its own; the list keeps one entry.
    fn the_same_hash_added_twice_is_two_items(db) {
        let mut s = db.open();
        let l = s.create_list(&NewList::new("B")).unwrap();
        let v = [Value::Pdq(Pdq([4; 32]))];
        let a = s.hma_content_add("B", &v, Some("first"), None).unwrap();
        let b = s.hma_content_add("B", &v, None, Some("{\"content_id\":\"2\"}")).unwrap();
        assert!(b > a, "{a} {b}");
        let entry = s.entry_id_of(l.id, &v[0]).unwrap().unwrap();
        assert_eq!(entry, a);
        assert_eq!(ids_of(&s, entry), vec![a, b]);
        let ia = s.hma_content(l.id, a).unwrap().unwrap();
        let ib = s.hma_content(l.id, b).unwrap().unwrap();
        assert_eq!((ia.entries.clone(), ib.entries.clone()), (vec![entry], vec![entry]));
        assert_eq!(ia.note.as_deref(), Some("first"));
        assert_eq!((ib.note, ib.metadata.as_deref()), (None, Some("{\"content_id\":\"2\"}")));
        // HMA counts a signal row per item.
        assert_eq!(
            s.hma_extra_signals().unwrap(),
            BTreeMap::from([((l.id, "pdq".to_string()), 1)])
        );
        // A third add, another list's item: ids go on rising.
        let c = s.hma_content_add("B", &v, None, None).unwrap();
        assert!(c > b);
        assert_eq!(ids_of(&s, entry), vec![a, b, c]);
        assert_eq!(s.hma_content_delete(l.id, c).unwrap(), 1);
        // Disabling one leaves the other enabled.
        s.hma_content_update(a, Some(CONTENT_DISABLED), None).unwrap();
        let of = &s.hma_contents_of(&[entry]).unwrap()[&entry];
        assert_eq!(
            of.iter().map(|o| (o.content_id, o.enabled_at(100))).collect::<Vec<_>>(),
            vec![(a, false), (b, true)]
        );
        // Deleting one keeps the entry for the other.
        assert_eq!(s.hma_content_delete(l.id, a).unwrap(), 1);
        assert!(s.hma_content(l.id, a).unwrap().is_none());
        assert_eq!(ids_of(&s, entry), vec![b]);
        assert!(s.entry(entry).is_ok());
        assert!(s.hma_extra_signals().unwrap().is_empty());
        // Deleting the last removes it.
        assert_eq!(s.hma_content_delete(l.id, b).unwrap(), 1);
        assert!(s.entry(entry).is_err());
        // A deleted item's id is not given again.
        let d = s.hma_content_add("B", &v, None, None).unwrap();
        assert!(d > c, "{c} {d}");
        // Nor the ids of a deleted bank's items.
        s.delete_list("B").unwrap();
        s.create_list(&NewList::new("B")).unwrap();
        let e = s.hma_content_add("B", &v, None, None).unwrap();
        assert!(e > d, "{d} {e}");
    }
    }

    crate::store::backend_tests::both! {
    /// An entry imported by `db import` is an item by itself (its own id);
    /// an HMA add of its value makes a second item and keeps the first;
    /// entries made later never answer as the second item.
    fn an_imported_entry_stays_an_item_when_added_again(db) {
        let mut s = db.open();
        let l = s.create_list(&NewList::new("B")).unwrap();
        let v = Value::Pdq(Pdq([5; 32]));
        let e = add(&mut s, "B", vec![v.clone()])[0];
        let f = s.hma_content_add("B", std::slice::from_ref(&v), None, None).unwrap();
        assert_ne!(e, f);
        assert_eq!(ids_of(&s, e), vec![e, f]);
        assert_eq!(s.hma_content(l.id, e).unwrap().unwrap().entries, vec![e]);
        // Entries made after the second item (by an import, by an HMA add)
        // answer as items of their own, never as `f`.
        let g = add(&mut s, "B", vec![Value::Pdq(Pdq([6; 32]))])[0];
        let gi = ids_of(&s, g);
        assert_eq!(gi.len(), 1);
        assert_ne!(gi[0], f);
        assert!(s.hma_content(l.id, gi[0]).unwrap().is_some());
        let h = s
            .hma_content_add("B", &[Value::Pdq(Pdq([7; 32]))], None, None)
            .unwrap();
        let hv = s.entry_id_of(l.id, &Value::Pdq(Pdq([7; 32]))).unwrap().unwrap();
        assert_eq!(ids_of(&s, hv), vec![h]);
        assert_eq!(s.hma_content(l.id, f).unwrap().unwrap().entries, vec![e]);
        // Deleting the second item leaves the first as it was.
        assert_eq!(s.hma_content_delete(l.id, f).unwrap(), 1);
        assert_eq!(ids_of(&s, e), vec![e]);
        // Another list's item is not found through this list.
        let other = s.create_list(&NewList::new("C")).unwrap();
        assert!(s.hma_content(other.id, e).unwrap().is_none());
        assert_eq!(s.hma_content_delete(other.id, e).unwrap(), 0);
    }
    }

    crate::store::backend_tests::both! {
    /// A database of the previous schema (SQLite 9, PostgreSQL 3), with an
    /// item of two entries, a disabled item, and an imported entry, keeps
    /// every id and setting; an add of a held value then makes a new item.
    fn items_of_the_previous_schema_keep_their_ids(db) {
        let plant = "
            INSERT INTO lists (id, name, created_at, updated_at) VALUES (1, 'B', 1, 1);
            INSERT INTO entries (id, list_id, signal_type, value, added_at)
                VALUES (10, 1, 'md5', decode('00112233445566778899aabbccddeeff', 'hex'), 1),
                       (11, 1, 'pdq', decode(repeat('ab', 32), 'hex'), 1),
                       (12, 1, 'pdq', decode(repeat('cd', 32), 'hex'), 1),
                       (13, 1, 'pdq', decode(repeat('ef', 32), 'hex'), 1);
            INSERT INTO hma_contents (id, note, metadata, disable_until_ts)
                VALUES (10, 'video', '{\"content_id\":\"v\"}', 1), (12, NULL, NULL, 0);
            INSERT INTO hma_content_entries (entry_id, content_id) VALUES (11, 10);";
        if db.is_postgres() {
            let mut sql = crate::store::pg::schema::BOOTSTRAP.to_string();
            for m in &crate::store::pg::schema::MIGRATIONS[..3] {
                sql.push_str(m);
            }
            sql.push_str("UPDATE hashsieve_schema SET version = 3 WHERE id = 1;");
            sql.push_str(plant);
            db.execute(&sql);
            // PostgreSQL's identity goes on from where the old one was.
            db.execute("SELECT setval(pg_get_serial_sequence('entries', 'id'), 13)");
        } else {
            let mut sql = String::new();
            for m in &crate::store::schema::MIGRATIONS[..9] {
                sql.push_str(m);
            }
            // SQLite has no decode(): the same bytes as blobs.
            sql.push_str(
                &plant
                    .replace("decode('00112233445566778899aabbccddeeff', 'hex')", "x'00112233445566778899aabbccddeeff'")
                    .replace("decode(repeat('ab', 32), 'hex')", &format!("x'{}'", "ab".repeat(32)))
                    .replace("decode(repeat('cd', 32), 'hex')", &format!("x'{}'", "cd".repeat(32)))
                    .replace("decode(repeat('ef', 32), 'hex')", &format!("x'{}'", "ef".repeat(32))),
            );
            sql.push_str("PRAGMA user_version = 9;");
            db.execute(&sql);
        }
        let mut s = db.open();
        assert_eq!(
            s.schema_version().unwrap(),
            if db.is_postgres() {
                crate::store::pg::schema::CURRENT_VERSION
            } else {
                crate::store::schema::CURRENT_VERSION
            }
        );
        let video = s.hma_content(1, 10).unwrap().unwrap();
        assert_eq!(video.entries, vec![10, 11]);
        assert_eq!(video.note.as_deref(), Some("video"));
        assert_eq!(video.metadata.as_deref(), Some("{\"content_id\":\"v\"}"));
        assert!(s.hma_content(1, 11).unwrap().is_none());
        assert!(!s.hma_content(1, 12).unwrap().unwrap().enabled_at(1));
        assert_eq!(s.hma_content(1, 13).unwrap().unwrap().entries, vec![13]);
        let of = s.hma_contents_of(&[10, 11, 12, 13]).unwrap();
        let ids: Vec<(EntryId, Vec<EntryId>)> = of
            .iter()
            .map(|(e, c)| (*e, c.iter().map(|c| c.content_id).collect()))
            .collect();
        assert_eq!(
            ids,
            vec![(10, vec![10]), (11, vec![10]), (12, vec![12]), (13, vec![13])]
        );
        // The video's PDQ added again: a new item, above every old id.
        let pdq = s.entry(11).unwrap().record.value;
        let n = s.hma_content_add("B", &[pdq], None, None).unwrap();
        assert!(n > 13, "{n}");
        assert_eq!(ids_of(&s, 11), vec![10, n]);
        // Deleting the video leaves the new item's entry.
        assert_eq!(s.hma_content_delete(1, 10).unwrap(), 1);
        assert!(s.entry(10).is_err());
        assert_eq!(ids_of(&s, 11), vec![n]);
        drop(s);
        // Reopening (SQLite: the schema check) finds the migrated schema.
        db.open();
    }
    }

    crate::store::backend_tests::both! {
    fn disable_until_and_notes(db) {
        let mut s = db.open();
        let l = s.create_list(&NewList::new("B")).unwrap();
        let ids = add(&mut s, "B", vec![Value::Pdq(Pdq([3; 32]))]);
        // An imported entry is its own item, enabled.
        let item = s.hma_content(l.id, ids[0]).unwrap().unwrap();
        assert!(item.enabled_at(100));
        s.hma_content_update(ids[0], Some(200), Some(Some("x")))
            .unwrap();
        let item = s.hma_content(l.id, ids[0]).unwrap().unwrap();
        assert!(!item.enabled_at(100) && item.enabled_at(200));
        assert!(s
            .hma_content_update(ids[0], None, Some(Some(&"y".repeat(256))))
            .is_err());
        s.hma_content_update(ids[0], Some(0), Some(None)).unwrap();
        let item = s.hma_content(l.id, ids[0]).unwrap().unwrap();
        assert_eq!(item.note, None);
        assert!(!item.enabled_at(i64::MAX));
    }
    }

    crate::store::backend_tests::both! {
    fn ratio_and_rename(db) {
        let mut s = db.open();
        s.create_list(&NewList::new("A")).unwrap();
        s.set_hma_ratio("A", 0.5).unwrap();
        assert_eq!(s.hma_ratios().unwrap()["A"], 0.5);
        s.set_hma_ratio("A", 0.0).unwrap();
        assert!(!s.list("A").unwrap().enabled);
        s.set_list_enabled("A", true).unwrap();
        assert_eq!(s.hma_ratios().unwrap()["A"], 1.0);
        s.set_hma_ratio("A", 0.5).unwrap();
        s.set_list_enabled("A", false).unwrap();
        assert_eq!(s.hma_ratios().unwrap()["A"], 0.0);
        assert!(s.set_hma_ratio("A", 1.5).is_err());
        s.create_list(&NewList::new("B")).unwrap();
        assert!(matches!(
            s.rename_list("A", "B"),
            Err(StoreError::ListExists(_))
        ));
        s.rename_list("A", "C").unwrap();
        assert!(s.list("C").is_ok() && s.list("A").is_err());
    }
    }
}
