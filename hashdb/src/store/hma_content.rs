//! HMA 2.0 content items over our entries (schema V5): the id that HMA's
//! curation and matching routes give a banked photo or video, its note,
//! metadata and `disable_until_ts`, and each list's fractional
//! `matching_enabled_ratio`.
//!
//! A content item's id is the id of its first entry (the photo's PDQ, the
//! video's MD5); the entries of its other signals point to it. An entry
//! with no row of its own is a content item by itself, so lists that came
//! in by `db import` or `/v1` answer HMA lookups with their entry ids.

use std::collections::BTreeMap;

use rusqlite::{params, OptionalExtension};

use super::SqliteStore;
use crate::error::StoreError;
use crate::model::{EntryId, ListId, Value};

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
    /// Every entry of the item, the first (`id`) first.
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

/// What an entry answers as in HMA's lookups.
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

    /// Make `entries` (all in one list, the first first) one content item
    /// with this note and metadata; returns its id, the first entry's. An
    /// entry that already belongs to another item stays there.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] for an empty `entries` or an over-long note,
    /// [`StoreError::NoSuchEntry`], [`StoreError::Locked`].
    pub fn hma_content_create(
        &mut self,
        entries: &[EntryId],
        note: Option<&str>,
        metadata: Option<&str>,
    ) -> Result<EntryId, StoreError> {
        check_note(note)?;
        let (&first, rest) = entries.split_first().ok_or(StoreError::Invalid {
            field: "signals",
            message: "no signals given".into(),
        })?;
        let tx = self.immediate()?;
        let exists: Option<i64> = tx
            .query_row("SELECT list_id FROM entries WHERE id = ?1", [first], |r| {
                r.get(0)
            })
            .optional()?;
        if exists.is_none() {
            return Err(StoreError::NoSuchEntry(first));
        }
        tx.execute(
            "INSERT INTO hma_contents (id, note, metadata) VALUES (?1, ?2, ?3)
             ON CONFLICT (id) DO UPDATE SET note = coalesce(?2, note),
                                            metadata = coalesce(?3, metadata)",
            params![first, note, metadata],
        )?;
        for &e in rest.iter().filter(|&&e| e != first) {
            tx.execute(
                "INSERT INTO hma_content_entries (entry_id, content_id) VALUES (?1, ?2)
                 ON CONFLICT (entry_id) DO NOTHING",
                params![e, first],
            )?;
        }
        tx.commit()?;
        Ok(first)
    }

    /// Content item `id` of list `list_id`: `None` when `id` is no entry of
    /// that list, or is a secondary signal of another item.
    pub fn hma_content(
        &self,
        list_id: ListId,
        id: EntryId,
    ) -> Result<Option<HmaContent>, StoreError> {
        let row: Option<ListId> = self
            .conn
            .prepare_cached(
                "SELECT e.list_id FROM entries e
                 WHERE e.id = ?1 AND e.list_id = ?2
                   AND NOT EXISTS (SELECT 1 FROM hma_content_entries m WHERE m.entry_id = e.id)",
            )?
            .query_row(params![id, list_id], |r| r.get(0))
            .optional()?;
        let Some(list_id) = row else {
            return Ok(None);
        };
        let (note, metadata, disable_until_ts) = self
            .conn
            .prepare_cached(
                "SELECT note, metadata, disable_until_ts FROM hma_contents WHERE id = ?1",
            )?
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?
            .unwrap_or((None, None, CONTENT_ENABLED));
        let mut entries = vec![id];
        let mut st = self.conn.prepare_cached(
            "SELECT entry_id FROM hma_content_entries WHERE content_id = ?1 ORDER BY entry_id",
        )?;
        for e in st.query_map([id], |r| r.get(0))? {
            entries.push(e?);
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
        if disable_until_ts.is_some_and(|t| t < 0) {
            return Err(StoreError::Invalid {
                field: "disable_until_ts",
                message: "disable_until_ts must be a non-negative integer".into(),
            });
        }
        check_note(note.flatten())?;
        let tx = self.immediate()?;
        tx.execute(
            "INSERT INTO hma_contents (id) VALUES (?1) ON CONFLICT (id) DO NOTHING",
            [id],
        )?;
        if let Some(t) = disable_until_ts {
            tx.execute(
                "UPDATE hma_contents SET disable_until_ts = ?2 WHERE id = ?1",
                params![id, t],
            )?;
        }
        if let Some(n) = note {
            tx.execute(
                "UPDATE hma_contents SET note = ?2 WHERE id = ?1",
                params![id, n],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Delete content item `id` of list `list_id` with all its entries;
    /// returns how many items were deleted (0 or 1), as HMA does.
    pub fn hma_content_delete(&mut self, list_id: ListId, id: EntryId) -> Result<u64, StoreError> {
        let Some(item) = self.hma_content(list_id, id)? else {
            return Ok(0);
        };
        let tx = self.immediate()?;
        for e in item.entries.iter().rev() {
            tx.execute("DELETE FROM entries WHERE id = ?1", [e])?;
        }
        tx.execute(
            "UPDATE lists SET updated_at = ?2 WHERE id = ?1",
            params![list_id, super::now()],
        )?;
        tx.commit()?;
        Ok(1)
    }

    /// The content item of each of `entries` (entries not found are left
    /// out).
    pub fn hma_contents_of(
        &self,
        entries: &[EntryId],
    ) -> Result<BTreeMap<EntryId, ContentOf>, StoreError> {
        let mut out = BTreeMap::new();
        let mut st = self.conn.prepare_cached(
            "SELECT coalesce(m.content_id, e.id), coalesce(c.disable_until_ts, 1)
             FROM entries e
             LEFT JOIN hma_content_entries m ON m.entry_id = e.id
             LEFT JOIN hma_contents c ON c.id = coalesce(m.content_id, e.id)
             WHERE e.id = ?1",
        )?;
        for &e in entries {
            if let Some((content_id, disable_until_ts)) = st
                .query_row([e], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?
            {
                out.insert(
                    e,
                    ContentOf {
                        content_id,
                        disable_until_ts,
                    },
                );
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

    crate::store::backend_tests::both! {
    fn one_id_per_item_and_delete_removes_every_signal(db) {
        let mut s = db.open();
        let l = s.create_list(&NewList::new("B")).unwrap();
        let ids = add(
            &mut s,
            "B",
            vec![Value::Md5(Md5([1; 16])), Value::Pdq(Pdq([2; 32]))],
        );
        let c = s.hma_content_create(&ids, Some("n"), None).unwrap();
        assert_eq!(c, ids[0]);
        let of = s.hma_contents_of(&ids).unwrap();
        assert!(of.values().all(|o| o.content_id == c));
        assert!(s.hma_content(l.id, ids[1]).unwrap().is_none());
        let item = s.hma_content(l.id, c).unwrap().unwrap();
        assert_eq!(item.entries, ids);
        assert_eq!(item.note.as_deref(), Some("n"));
        assert_eq!(s.hma_content_delete(l.id, c).unwrap(), 1);
        assert!(s.entry(ids[1]).is_err());
        assert_eq!(s.hma_content_delete(l.id, c).unwrap(), 0);
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
