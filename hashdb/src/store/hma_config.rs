//! HMA 2.0 settings kept beside the lists (SQLite schema V9, PostgreSQL
//! V3): each signal type's `enabled_ratio` (`PUT /c/signal_type/<name>`)
//! and the configured exchanges (`/c/exchanges`). HMA keeps both in its
//! database, so a restart, or a second server on the same store, sees
//! them; so does hashsieve.
//!
//! Fetching from exchanges (SQLite V11, PostgreSQL V5), kept as HMA's
//! storage keeps it (`exchange_start_fetch`, `exchange_commit_fetch`,
//! `exchange_complete_fetch`, `exchange_get_fetch_status`): an exchange
//! is made with a bank of its name, which it fills and which goes with
//! it; each fetched signal becomes one content item of that bank (HMA's
//! `exchange_data` row and its `bank_content`), and the status holds
//! HMA's fields plus why the last fetch failed and what it skipped. A
//! commit makes the bank's fetched items exactly the signals given: new
//! ones are added, kept ones keep their ids, ones no longer given are
//! deleted (items added to the bank by other means are never touched).
//!
//! The PostgreSQL backend's methods of the same names are in
//! `pg/hma_config.rs`.

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::{params, OptionalExtension};

use super::hma_content::{add_item, delete_item};
use super::SqliteStore;
use crate::error::StoreError;
use crate::model::{EntryId, ListId, NewList, Value};

/// One configured HMA exchange.
#[derive(Debug, Clone, PartialEq)]
pub struct HmaExchange {
    /// The exchange's name (HMA's `bank`: the bank it fills).
    pub name: String,
    /// Its exchange type (`sample`, `local_file`).
    pub api: String,
    pub enabled: bool,
    /// The type-specific settings (HMA's `api_json`), as JSON text.
    pub config: String,
}

/// An exchange's fetch status: HMA's `FetchStatus` fields, and what
/// hashsieve keeps besides (HMA only logs them).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HmaFetchStatus {
    /// The checkpoint's time (none for `sample` and `local_file`, whose
    /// checkpoints carry no time, as in HMA).
    pub checkpoint_ts: Option<i64>,
    /// Whether a fetch committed a checkpoint (HMA's stored checkpoint).
    pub has_checkpoint: bool,
    /// When the fetch under way started (Unix seconds).
    pub running_fetch_start_ts: Option<i64>,
    pub last_fetch_complete_ts: Option<i64>,
    pub last_fetch_succeeded: Option<bool>,
    pub up_to_date: bool,
    /// Fetched signals held (HMA's count of `exchange_data` rows).
    pub fetched_items: u64,
    /// Why the last fetch failed.
    pub last_error: Option<String>,
    /// Records the last fetch skipped (a bad line, a type hashsieve does
    /// not match), and the first few reasons.
    pub skipped: u64,
    pub skipped_examples: Vec<String>,
}

/// How a fetch ended (HMA's `exchange_complete_fetch` arguments, and
/// what went wrong).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FetchEnd {
    pub up_to_date: bool,
    /// Why it failed; `None`: it succeeded.
    pub error: Option<String>,
    pub skipped: u64,
    pub skipped_examples: Vec<String>,
}

/// What a commit changed in the exchange's bank.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FetchCommit {
    /// The exchange's bank.
    pub list_id: ListId,
    /// Signals new to the exchange (or whose item had been deleted).
    pub added: u64,
    /// Signals the exchange held and no longer gives.
    pub removed: u64,
    /// Signals held before and still given (their items unchanged).
    pub kept: u64,
}

/// The key of a fetched signal: its type and value key (one record per
/// distinct value, whatever its text looked like).
pub(super) fn fetch_id(v: &Value) -> Vec<u8> {
    let mut k = v.signal_type().as_str().as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(&v.key());
    k
}

/// The bank an exchange made gets this source.
pub(super) fn exchange_list(e: &HmaExchange) -> NewList {
    NewList {
        source: format!("hma exchange ({})", e.api),
        ..NewList::new(e.name.clone())
    }
}

/// Skipped-record reasons as stored (one per line; reasons hold no
/// newline: the fetcher writes them).
pub(super) fn join_examples(v: &[String]) -> Option<String> {
    (!v.is_empty()).then(|| v.join("\n"))
}

pub(super) fn split_examples(s: Option<String>) -> Vec<String> {
    s.map(|s| s.lines().map(str::to_string).collect())
        .unwrap_or_default()
}

pub(super) fn check_ratio(ratio: f64) -> Result<(), StoreError> {
    if ratio.is_finite() && (0.0..=1.0).contains(&ratio) {
        Ok(())
    } else {
        Err(StoreError::Invalid {
            field: "enabled_ratio",
            message: format!("enabled_ratio must be between 0 and 1, got {ratio}"),
        })
    }
}

impl SqliteStore {
    /// The signal type ratios set so far, by HMA signal type name (a type
    /// never set is at HMA's default, 1).
    pub fn hma_signal_ratios(&self) -> Result<BTreeMap<String, f64>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached("SELECT name, enabled_ratio FROM hma_signal_types")?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, f64>(1)?)))?;
        let mut out = BTreeMap::new();
        for row in rows {
            let (name, ratio) = row?;
            out.insert(name, ratio);
        }
        Ok(out)
    }

    /// Set signal type `name`'s ratio (the caller knows the names).
    ///
    /// # Errors
    /// [`StoreError::Invalid`] outside 0..=1.
    pub fn set_hma_signal_ratio(&mut self, name: &str, ratio: f64) -> Result<(), StoreError> {
        check_ratio(ratio)?;
        let tx = self.immediate()?;
        tx.execute(
            "INSERT INTO hma_signal_types (name, enabled_ratio) VALUES (?1, ?2)
             ON CONFLICT (name) DO UPDATE SET enabled_ratio = excluded.enabled_ratio",
            params![name, ratio],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Every configured exchange, by name.
    pub fn hma_exchanges(&self) -> Result<Vec<HmaExchange>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached("SELECT name, api, enabled, config FROM hma_exchanges ORDER BY name")?;
        let rows = st.query_map([], |r| {
            Ok(HmaExchange {
                name: r.get(0)?,
                api: r.get(1)?,
                enabled: r.get(2)?,
                config: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Add an exchange and the bank it fills, a new list of its name (as
    /// HMA's `exchange_update(create=True)` makes its bank): `false` (and
    /// nothing written) if an exchange of that name exists.
    ///
    /// # Errors
    /// [`StoreError::ListExists`] when a list of that name exists (it is
    /// not the exchange's, and deleting the exchange would delete it).
    pub fn hma_exchange_create(&mut self, e: &HmaExchange) -> Result<bool, StoreError> {
        let taken: bool = self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM hma_exchanges WHERE name = ?1)",
            [&e.name],
            |r| r.get(0),
        )?;
        if taken {
            return Ok(false);
        }
        let list = self.create_list(&exchange_list(e))?;
        let tx = self.immediate()?;
        let n = tx.execute(
            "INSERT INTO hma_exchanges (name, api, enabled, config, list_id)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (name) DO NOTHING",
            params![e.name, e.api, e.enabled, e.config, list.id],
        )?;
        if n == 0 {
            // Made by another process meanwhile: the list is not its.
            tx.execute("DELETE FROM lists WHERE id = ?1", [list.id])?;
        }
        tx.commit()?;
        Ok(n == 1)
    }

    /// Enable or disable exchange `name`: `false` if there is none.
    pub fn hma_exchange_set_enabled(
        &mut self,
        name: &str,
        enabled: bool,
    ) -> Result<bool, StoreError> {
        let tx = self.immediate()?;
        let n = tx.execute(
            "UPDATE hma_exchanges SET enabled = ?1 WHERE name = ?2",
            params![enabled, name],
        )?;
        tx.commit()?;
        Ok(n == 1)
    }

    /// Remove exchange `name`, its fetch status and records, and the bank
    /// it made (HMA deletes the bank with the exchange): `false` if there
    /// was none. A bank it did not make (an exchange from before schema
    /// V11) stays.
    pub fn hma_exchange_delete(&mut self, name: &str) -> Result<bool, StoreError> {
        let tx = self.immediate()?;
        let list: Option<Option<ListId>> = tx
            .query_row(
                "SELECT list_id FROM hma_exchanges WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .optional()?;
        let Some(list) = list else {
            return Ok(false);
        };
        tx.execute("DELETE FROM hma_exchanges WHERE name = ?1", params![name])?;
        if let Some(id) = list {
            // As `delete_list`: the ids of its entries and items are not
            // given again.
            tx.execute(
                "UPDATE id_floor SET value = max(value, coalesce((SELECT max(id) FROM entries), 0),
                                                coalesce((SELECT max(id) FROM hma_items), 0))
                 WHERE id = 1",
                [],
            )?;
            tx.execute("DELETE FROM lists WHERE id = ?1", [id])?;
        }
        tx.commit()?;
        Ok(true)
    }

    /// Exchange `name`'s fetch status; `None` if there is no such
    /// exchange (never fetched: HMA's defaults).
    pub fn hma_exchange_fetch_status(
        &self,
        name: &str,
    ) -> Result<Option<HmaFetchStatus>, StoreError> {
        let exists: bool = self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM hma_exchanges WHERE name = ?1)",
            [name],
            |r| r.get(0),
        )?;
        if !exists {
            return Ok(None);
        }
        let fetched_items: i64 = self.conn.query_row(
            "SELECT count(*) FROM hma_exchange_items WHERE exchange = ?1",
            [name],
            |r| r.get(0),
        )?;
        let mut st = self.conn.prepare_cached(
            "SELECT checkpoint IS NOT NULL, checkpoint_ts, running_fetch_start_ts,
                    last_fetch_complete_ts, last_fetch_succeeded, up_to_date, last_error,
                    skipped, skipped_examples
             FROM hma_exchange_status WHERE name = ?1",
        )?;
        let status = st
            .query_row([name], |r| {
                Ok(HmaFetchStatus {
                    has_checkpoint: r.get(0)?,
                    checkpoint_ts: r.get(1)?,
                    running_fetch_start_ts: r.get(2)?,
                    last_fetch_complete_ts: r.get(3)?,
                    last_fetch_succeeded: r.get(4)?,
                    up_to_date: r.get(5)?,
                    last_error: r.get(6)?,
                    skipped: r.get::<_, i64>(7)?.max(0) as u64,
                    skipped_examples: split_examples(r.get(8)?),
                    fetched_items: 0,
                })
            })
            .optional()?
            .unwrap_or_default();
        Ok(Some(HmaFetchStatus {
            fetched_items: fetched_items.max(0) as u64,
            ..status
        }))
    }

    /// A fetch of exchange `name` starts now (HMA's `exchange_start_fetch`):
    /// `false` if there is no such exchange.
    pub fn hma_exchange_start_fetch(&mut self, name: &str) -> Result<bool, StoreError> {
        let tx = self.immediate()?;
        let n = tx.execute(
            "INSERT INTO hma_exchange_status (name, running_fetch_start_ts)
             SELECT name, ?2 FROM hma_exchanges WHERE name = ?1
             ON CONFLICT (name) DO UPDATE SET running_fetch_start_ts = excluded.running_fetch_start_ts",
            params![name, super::now()],
        )?;
        tx.commit()?;
        Ok(n == 1)
    }

    /// The fetch of exchange `name` ended now (HMA's
    /// `exchange_complete_fetch`): `false` if there is no such exchange.
    /// What it committed stays (a failed fetch removes nothing).
    pub fn hma_exchange_complete_fetch(
        &mut self,
        name: &str,
        end: &FetchEnd,
    ) -> Result<bool, StoreError> {
        let tx = self.immediate()?;
        let n = tx.execute(
            "INSERT INTO hma_exchange_status (name, running_fetch_start_ts, last_fetch_complete_ts,
                 last_fetch_succeeded, up_to_date, last_error, skipped, skipped_examples)
             SELECT name, NULL, ?2, ?3, ?4, ?5, ?6, ?7 FROM hma_exchanges WHERE name = ?1
             ON CONFLICT (name) DO UPDATE SET running_fetch_start_ts = NULL,
                 last_fetch_complete_ts = excluded.last_fetch_complete_ts,
                 last_fetch_succeeded = excluded.last_fetch_succeeded,
                 up_to_date = excluded.up_to_date, last_error = excluded.last_error,
                 skipped = excluded.skipped, skipped_examples = excluded.skipped_examples",
            params![
                name,
                super::now(),
                end.error.is_none(),
                end.up_to_date,
                end.error,
                i64::try_from(end.skipped).unwrap_or(i64::MAX),
                join_examples(&end.skipped_examples)
            ],
        )?;
        tx.commit()?;
        Ok(n == 1)
    }

    /// The bank exchange `name` fills: the one it made, else the list of
    /// its name (an exchange from before schema V11, or whose bank was
    /// deleted: a new one is made and becomes the exchange's). `None` if
    /// there is no such exchange.
    fn exchange_bank(&mut self, name: &str) -> Result<Option<ListId>, StoreError> {
        let Some(e) = self.hma_exchanges()?.into_iter().find(|e| e.name == name) else {
            return Ok(None);
        };
        let linked: Option<ListId> = self
            .conn
            .query_row(
                "SELECT l.id FROM hma_exchanges x JOIN lists l ON l.id = x.list_id WHERE x.name = ?1",
                [name],
                |r| r.get(0),
            )
            .optional()?;
        if linked.is_some() {
            return Ok(linked);
        }
        match self.list(name) {
            Ok(l) => return Ok(Some(l.id)),
            Err(StoreError::NoSuchList(_)) => {}
            Err(e) => return Err(e),
        }
        let list = self.create_list(&exchange_list(&e))?;
        let tx = self.immediate()?;
        tx.execute(
            "UPDATE hma_exchanges SET list_id = ?2 WHERE name = ?1",
            params![name, list.id],
        )?;
        tx.commit()?;
        Ok(Some(list.id))
    }

    /// Commit a whole fetch of exchange `name` (HMA's
    /// `exchange_commit_fetch` with the full set): afterwards its bank's
    /// fetched items are exactly `values`, one content item each (values
    /// given twice count once), and `checkpoint` is stored. One
    /// transaction. `None` if there is no such exchange.
    pub fn hma_exchange_commit_fetch(
        &mut self,
        name: &str,
        values: &[Value],
        checkpoint: &str,
        checkpoint_ts: Option<i64>,
    ) -> Result<Option<FetchCommit>, StoreError> {
        let Some(list_id) = self.exchange_bank(name)? else {
            return Ok(None);
        };
        let tx = self.immediate()?;
        let mut held: BTreeMap<Vec<u8>, Option<EntryId>> = BTreeMap::new();
        {
            let mut st = tx.prepare_cached(
                "SELECT fetch_id, item_id FROM hma_exchange_items WHERE exchange = ?1",
            )?;
            for row in st.query_map([name], |r| Ok((r.get(0)?, r.get(1)?)))? {
                let (k, v) = row?;
                held.insert(k, v);
            }
        }
        let mut out = FetchCommit {
            list_id,
            ..FetchCommit::default()
        };
        // In the order given (HMA adds a fetch's records in its order, so
        // the ids count up the same way); a value given twice counts once.
        let mut given: Vec<(Vec<u8>, &Value)> = Vec::with_capacity(values.len());
        let mut seen: BTreeSet<Vec<u8>> = BTreeSet::new();
        for v in values {
            let k = fetch_id(v);
            if seen.insert(k.clone()) {
                given.push((k, v));
            }
        }
        for (k, v) in &given {
            let live = match held.get(k).copied().flatten() {
                // Still in the bank, holding an entry.
                Some(item) => tx
                    .prepare_cached(
                        "SELECT EXISTS (SELECT 1 FROM hma_items i
                             JOIN hma_item_entries m ON m.item_id = i.id
                             WHERE i.id = ?1 AND i.list_id = ?2)",
                    )?
                    .query_row(params![item, list_id], |r| r.get(0))?,
                None => false,
            };
            if live {
                out.kept += 1;
                continue;
            }
            let (item, _) = add_item(&tx, list_id, std::slice::from_ref(*v), None, None)?;
            tx.execute(
                "INSERT INTO hma_exchange_items (exchange, fetch_id, item_id) VALUES (?1, ?2, ?3)
                 ON CONFLICT (exchange, fetch_id) DO UPDATE SET item_id = excluded.item_id",
                params![name, k, item],
            )?;
            out.added += 1;
        }
        for (k, item) in &held {
            if seen.contains(k) {
                continue;
            }
            if let Some(item) = item {
                let entries: Vec<EntryId> = tx
                    .prepare_cached(
                        "SELECT m.entry_id FROM hma_item_entries m JOIN hma_items i ON i.id = m.item_id
                         WHERE m.item_id = ?1 AND i.list_id = ?2 ORDER BY m.entry_id",
                    )?
                    .query_map(params![item, list_id], |r| r.get(0))?
                    .collect::<Result<_, _>>()?;
                if !entries.is_empty() {
                    delete_item(&tx, *item, &entries)?;
                }
            }
            tx.execute(
                "DELETE FROM hma_exchange_items WHERE exchange = ?1 AND fetch_id = ?2",
                params![name, k],
            )?;
            out.removed += 1;
        }
        tx.execute(
            "INSERT INTO hma_exchange_status (name, checkpoint, checkpoint_ts) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO UPDATE SET checkpoint = excluded.checkpoint,
                 checkpoint_ts = excluded.checkpoint_ts",
            params![name, checkpoint, checkpoint_ts],
        )?;
        if out.added > 0 || out.removed > 0 {
            tx.execute(
                "UPDATE lists SET updated_at = ?1 WHERE id = ?2",
                params![super::now(), list_id],
            )?;
        }
        tx.commit()?;
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use crate::types::{Md5, Pdq};

    fn pdq(b: u8) -> Value {
        Value::Pdq(Pdq([b; 32]))
    }

    fn local_file(name: &str) -> HmaExchange {
        HmaExchange {
            name: name.into(),
            api: "local_file".into(),
            enabled: true,
            config: "{\"filename\": \"/x/l.txt\"}".into(),
        }
    }

    /// The content item the entry of `v` in list `list` answers as, if
    /// the list holds `v` (the fetched item when one holds it).
    fn items_of(s: &Store, list: ListId, v: &Value) -> Vec<EntryId> {
        let Some(e) = s.entry_id_of(list, v).unwrap() else {
            return Vec::new();
        };
        s.hma_contents_of(&[e]).unwrap()[&e]
            .iter()
            .map(|c| c.content_id)
            .collect()
    }

    crate::store::backend_tests::both! {
    /// HMA's fetch bookkeeping: start, commit, complete, the status, and
    /// a commit replacing the fetched set (removed upstream, gone here;
    /// kept ones keep their ids; a deleted item is made again; items added
    /// to the bank otherwise are left alone).
    fn fetch_bookkeeping(db) {
        let mut s = db.open();
        assert!(s.hma_exchange_create(&local_file("EX")).unwrap());
        // The bank came with it.
        let bank = s.list("EX").unwrap();
        assert_eq!(bank.source, "hma exchange (local_file)");
        s.create_list(&NewList::new("TAKEN")).unwrap();
        assert!(matches!(
            s.hma_exchange_create(&local_file("TAKEN")),
            Err(StoreError::ListExists(_))
        ));
        assert!(s.hma_exchanges().unwrap().iter().all(|e| e.name != "TAKEN"));
        let fresh = s.hma_exchange_fetch_status("EX").unwrap().unwrap();
        assert_eq!(fresh, HmaFetchStatus::default());
        assert_eq!(s.hma_exchange_fetch_status("NOPE").unwrap(), None);

        assert!(s.hma_exchange_start_fetch("EX").unwrap());
        assert!(!s.hma_exchange_start_fetch("NOPE").unwrap());
        let running = s.hma_exchange_fetch_status("EX").unwrap().unwrap();
        assert!(running.running_fetch_start_ts.is_some());
        assert_eq!(running.last_fetch_succeeded, None);

        let md5 = Value::Md5(Md5([9; 16]));
        let c = s
            .hma_exchange_commit_fetch("EX", &[pdq(1), pdq(2), md5.clone(), pdq(1)], "{}", None)
            .unwrap()
            .unwrap();
        assert_eq!((c.list_id, c.added, c.removed, c.kept), (bank.id, 3, 0, 0));
        let end = FetchEnd {
            up_to_date: true,
            skipped: 2,
            skipped_examples: vec!["line 4: x".into(), "line 5: y".into()],
            ..FetchEnd::default()
        };
        assert!(s.hma_exchange_complete_fetch("EX", &end).unwrap());
        let done = s.hma_exchange_fetch_status("EX").unwrap().unwrap();
        assert_eq!(done.fetched_items, 3);
        assert_eq!(done.running_fetch_start_ts, None);
        assert!(done.last_fetch_complete_ts.is_some());
        assert_eq!(done.last_fetch_succeeded, Some(true));
        assert!(done.up_to_date && done.has_checkpoint);
        assert_eq!(done.checkpoint_ts, None);
        assert_eq!((done.skipped, done.skipped_examples.len()), (2, 2));
        let item1 = items_of(&s, bank.id, &pdq(1));
        assert_eq!(item1.len(), 1);
        // One item per signal.
        assert_ne!(item1, items_of(&s, bank.id, &pdq(2)));

        // A hand-added item holding one of the fetched values, and one
        // holding a value of its own.
        s.hma_content_add("EX", std::slice::from_ref(&md5), Some("by hand"), None).unwrap();
        let own = s.hma_content_add("EX", &[pdq(7)], None, None).unwrap();

        // pdq 2 and the MD5 gone upstream, pdq 3 new.
        let c = s
            .hma_exchange_commit_fetch("EX", &[pdq(3), pdq(1)], "{}", None)
            .unwrap()
            .unwrap();
        assert_eq!((c.added, c.removed, c.kept), (1, 2, 1));
        assert_eq!(items_of(&s, bank.id, &pdq(1)), item1, "kept: same id");
        assert!(items_of(&s, bank.id, &pdq(2)).is_empty(), "removed");
        // The MD5's entry stays for the hand-added item only.
        assert_eq!(items_of(&s, bank.id, &md5).len(), 1);
        assert_eq!(items_of(&s, bank.id, &pdq(7)), vec![own]);
        assert_eq!(s.hma_exchange_fetch_status("EX").unwrap().unwrap().fetched_items, 2);

        // A fetched item deleted in the bank is made again by the next
        // fetch (HMA's re-creates its bank content).
        assert_eq!(s.hma_content_delete(bank.id, item1[0]).unwrap(), 1);
        assert!(items_of(&s, bank.id, &pdq(1)).is_empty());
        let c = s
            .hma_exchange_commit_fetch("EX", &[pdq(3), pdq(1)], "{}", None)
            .unwrap()
            .unwrap();
        assert_eq!((c.added, c.removed, c.kept), (1, 0, 1));
        let again = items_of(&s, bank.id, &pdq(1));
        assert_eq!(again.len(), 1);
        assert_ne!(again, item1, "a deleted id is not given again");

        // A failed fetch keeps what was fetched and says why.
        s.hma_exchange_start_fetch("EX").unwrap();
        let failed = FetchEnd {
            error: Some("no such file".into()),
            ..FetchEnd::default()
        };
        s.hma_exchange_complete_fetch("EX", &failed).unwrap();
        drop(s);
        let mut s = db.open();
        let st = s.hma_exchange_fetch_status("EX").unwrap().unwrap();
        assert_eq!(st.last_fetch_succeeded, Some(false));
        assert_eq!(st.last_error.as_deref(), Some("no such file"));
        assert_eq!((st.fetched_items, st.skipped, st.up_to_date), (2, 0, false));
        assert_eq!(items_of(&s, bank.id, &pdq(3)).len(), 1);

        // An empty fetch empties what the exchange brought, nothing else.
        let c = s.hma_exchange_commit_fetch("EX", &[], "{}", None).unwrap().unwrap();
        assert_eq!((c.added, c.removed), (0, 2));
        assert_eq!(items_of(&s, bank.id, &pdq(7)), vec![own]);
        assert_eq!(s.hma_exchange_commit_fetch("NOPE", &[], "{}", None).unwrap(), None);

        // Deleting the exchange deletes its bank, status and records.
        assert!(s.hma_exchange_delete("EX").unwrap());
        assert!(matches!(s.list("EX"), Err(StoreError::NoSuchList(_))));
        assert_eq!(s.hma_exchange_fetch_status("EX").unwrap(), None);
        assert!(s.list("TAKEN").is_ok());
    }
    }

    crate::store::backend_tests::both! {
    /// An exchange of the previous schema (SQLite 10, PostgreSQL 4) is
    /// kept, never fetched; it fills the list of its name (made before,
    /// with an entry of its own) and deleting it leaves that list, which
    /// it did not make. A bank deleted later is made again by a fetch.
    fn exchanges_of_the_previous_schema_are_kept(db) {
        let plant = "
            INSERT INTO lists (id, name, created_at, updated_at) VALUES (1, 'OLD_EX', 1, 1);
            INSERT INTO entries (id, list_id, signal_type, value, added_at)
                VALUES (5, 1, 'md5', decode('00112233445566778899aabbccddeeff', 'hex'), 1);
            INSERT INTO hma_exchanges (name, api, enabled, config)
                VALUES ('OLD_EX', 'sample', TRUE, '{}'), ('NO_BANK', 'sample', FALSE, '{}');";
        if db.is_postgres() {
            let mut sql = crate::store::pg::schema::BOOTSTRAP.to_string();
            for m in &crate::store::pg::schema::MIGRATIONS[..4] {
                sql.push_str(m);
            }
            sql.push_str("UPDATE hashsieve_schema SET version = 4 WHERE id = 1;");
            sql.push_str(plant);
            db.execute(&sql);
            db.execute("SELECT setval(pg_get_serial_sequence('entries', 'id'), 5)");
            db.execute("SELECT setval(pg_get_serial_sequence('lists', 'id'), 1)");
        } else {
            let mut sql = String::new();
            for m in &crate::store::schema::MIGRATIONS[..10] {
                sql.push_str(m);
            }
            sql.push_str(
                &plant
                    .replace(
                        "decode('00112233445566778899aabbccddeeff', 'hex')",
                        "x'00112233445566778899aabbccddeeff'",
                    )
                    .replace("TRUE", "1")
                    .replace("FALSE", "0"),
            );
            sql.push_str("PRAGMA user_version = 10;");
            db.execute(&sql);
        }
        let mut s = db.open();
        let names: Vec<String> = s.hma_exchanges().unwrap().into_iter().map(|e| e.name).collect();
        assert_eq!(names, vec!["NO_BANK".to_string(), "OLD_EX".to_string()]);
        assert_eq!(
            s.hma_exchange_fetch_status("OLD_EX").unwrap(),
            Some(HmaFetchStatus::default())
        );
        let c = s
            .hma_exchange_commit_fetch("OLD_EX", &[pdq(1)], "{}", None)
            .unwrap()
            .unwrap();
        assert_eq!((c.list_id, c.added), (1, 1));
        assert_eq!(s.stats().unwrap().iter().find(|l| l.list.id == 1).map(|l| l.entries), Some(2));
        // No bank of its name: one is made, and goes with the exchange.
        let c = s
            .hma_exchange_commit_fetch("NO_BANK", &[pdq(2)], "{}", None)
            .unwrap()
            .unwrap();
        assert_eq!(s.list("NO_BANK").unwrap().id, c.list_id);
        assert!(s.hma_exchange_delete("OLD_EX").unwrap());
        assert!(s.list("OLD_EX").is_ok());
        assert!(s.hma_exchange_delete("NO_BANK").unwrap());
        assert!(s.list("NO_BANK").is_err());
        drop(s);
        db.open();
    }
    }
}
