//! HMA 2.0 settings on PostgreSQL (schema V3): the contract of the SQLite
//! methods of the same names (`store/hma_config.rs`).

use std::collections::{BTreeMap, BTreeSet};

use super::entries::ImportStatements;
use super::misc::{add_item, delete_item};
use super::{PgStore, Touch};
use crate::error::StoreError;
use crate::model::{EntryId, ListId, Value};
use crate::store::hma_config::{
    check_ratio, exchange_list, fetch_id, join_examples, split_examples, FetchCommit, FetchEnd,
    HmaExchange, HmaFetchStatus,
};
use crate::store::now;

impl PgStore {
    pub fn hma_signal_ratios(&self) -> Result<BTreeMap<String, f64>, StoreError> {
        let mut out = BTreeMap::new();
        for r in self
            .client()?
            .query("SELECT name, enabled_ratio FROM hma_signal_types", &[])?
        {
            out.insert(r.try_get(0)?, r.try_get(1)?);
        }
        Ok(out)
    }

    pub fn set_hma_signal_ratio(&mut self, name: &str, ratio: f64) -> Result<(), StoreError> {
        check_ratio(ratio)?;
        let mut c = self.client()?;
        let mut tx = Self::write_tx(&mut c)?;
        tx.execute(
            "INSERT INTO hma_signal_types (name, enabled_ratio) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET enabled_ratio = excluded.enabled_ratio",
            &[&name, &ratio],
        )?;
        // Not an index change: which signal types answer is decided by the
        // HMA routes, which read the ratios from here.
        Self::commit(tx, Touch::Data)
    }

    pub fn hma_exchanges(&self) -> Result<Vec<HmaExchange>, StoreError> {
        let mut out = Vec::new();
        for r in self.client()?.query(
            "SELECT name, api, enabled, config FROM hma_exchanges ORDER BY name",
            &[],
        )? {
            out.push(HmaExchange {
                name: r.try_get(0)?,
                api: r.try_get(1)?,
                enabled: r.try_get(2)?,
                config: r.try_get(3)?,
            });
        }
        Ok(out)
    }

    pub fn hma_exchange_create(&mut self, e: &HmaExchange) -> Result<bool, StoreError> {
        let taken: bool = self
            .client()?
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM hma_exchanges WHERE name = $1)",
                &[&e.name],
            )?
            .try_get(0)?;
        if taken {
            return Ok(false);
        }
        let list = self.create_list(&exchange_list(e))?;
        let mut c = self.client()?;
        let mut tx = Self::write_tx(&mut c)?;
        let n = tx.execute(
            "INSERT INTO hma_exchanges (name, api, enabled, config, list_id)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (name) DO NOTHING",
            &[&e.name, &e.api, &e.enabled, &e.config, &list.id],
        )?;
        if n == 0 {
            // Made by another process meanwhile: the list is not its.
            tx.execute("DELETE FROM lists WHERE id = $1", &[&list.id])?;
        }
        Self::commit(tx, Touch::Index)?;
        Ok(n == 1)
    }

    pub fn hma_exchange_set_enabled(
        &mut self,
        name: &str,
        enabled: bool,
    ) -> Result<bool, StoreError> {
        let mut c = self.client()?;
        let mut tx = Self::write_tx(&mut c)?;
        let n = tx.execute(
            "UPDATE hma_exchanges SET enabled = $1 WHERE name = $2",
            &[&enabled, &name],
        )?;
        Self::commit(tx, Touch::Data)?;
        Ok(n == 1)
    }

    pub fn hma_exchange_delete(&mut self, name: &str) -> Result<bool, StoreError> {
        let mut c = self.client()?;
        let mut tx = Self::write_tx(&mut c)?;
        let Some(row) = tx.query_opt(
            "SELECT list_id FROM hma_exchanges WHERE name = $1",
            &[&name],
        )?
        else {
            return Ok(false);
        };
        let list: Option<ListId> = row.try_get(0)?;
        tx.execute("DELETE FROM hma_exchanges WHERE name = $1", &[&name])?;
        if let Some(id) = list {
            tx.execute("DELETE FROM lists WHERE id = $1", &[&id])?;
        }
        Self::commit(
            tx,
            if list.is_some() {
                Touch::Index
            } else {
                Touch::Data
            },
        )?;
        Ok(true)
    }

    pub fn hma_exchange_fetch_status(
        &self,
        name: &str,
    ) -> Result<Option<HmaFetchStatus>, StoreError> {
        let mut c = self.client()?;
        let exists: bool = c
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM hma_exchanges WHERE name = $1)",
                &[&name],
            )?
            .try_get(0)?;
        if !exists {
            return Ok(None);
        }
        let fetched_items: i64 = c
            .query_one(
                "SELECT count(*) FROM hma_exchange_items WHERE exchange = $1",
                &[&name],
            )?
            .try_get(0)?;
        let row = c.query_opt(
            "SELECT checkpoint IS NOT NULL, checkpoint_ts, running_fetch_start_ts,
                    last_fetch_complete_ts, last_fetch_succeeded, up_to_date, last_error,
                    skipped, skipped_examples
             FROM hma_exchange_status WHERE name = $1",
            &[&name],
        )?;
        let status = match row {
            None => HmaFetchStatus::default(),
            Some(r) => HmaFetchStatus {
                has_checkpoint: r.try_get(0)?,
                checkpoint_ts: r.try_get(1)?,
                running_fetch_start_ts: r.try_get(2)?,
                last_fetch_complete_ts: r.try_get(3)?,
                last_fetch_succeeded: r.try_get(4)?,
                up_to_date: r.try_get(5)?,
                last_error: r.try_get(6)?,
                skipped: r.try_get::<_, i64>(7)?.max(0) as u64,
                skipped_examples: split_examples(r.try_get(8)?),
                fetched_items: 0,
            },
        };
        Ok(Some(HmaFetchStatus {
            fetched_items: fetched_items.max(0) as u64,
            ..status
        }))
    }

    pub fn hma_exchange_start_fetch(&mut self, name: &str) -> Result<bool, StoreError> {
        let mut c = self.client()?;
        let mut tx = Self::write_tx(&mut c)?;
        let n = tx.execute(
            "INSERT INTO hma_exchange_status (name, running_fetch_start_ts)
             SELECT name, $2 FROM hma_exchanges WHERE name = $1
             ON CONFLICT (name) DO UPDATE SET running_fetch_start_ts = excluded.running_fetch_start_ts",
            &[&name, &now()],
        )?;
        Self::commit(tx, Touch::Data)?;
        Ok(n == 1)
    }

    pub fn hma_exchange_complete_fetch(
        &mut self,
        name: &str,
        end: &FetchEnd,
    ) -> Result<bool, StoreError> {
        let mut c = self.client()?;
        let mut tx = Self::write_tx(&mut c)?;
        let skipped = i64::try_from(end.skipped).unwrap_or(i64::MAX);
        let n = tx.execute(
            "INSERT INTO hma_exchange_status (name, running_fetch_start_ts, last_fetch_complete_ts,
                 last_fetch_succeeded, up_to_date, last_error, skipped, skipped_examples)
             SELECT name, NULL, $2, $3, $4, $5, $6, $7 FROM hma_exchanges WHERE name = $1
             ON CONFLICT (name) DO UPDATE SET running_fetch_start_ts = NULL,
                 last_fetch_complete_ts = excluded.last_fetch_complete_ts,
                 last_fetch_succeeded = excluded.last_fetch_succeeded,
                 up_to_date = excluded.up_to_date, last_error = excluded.last_error,
                 skipped = excluded.skipped, skipped_examples = excluded.skipped_examples",
            &[
                &name,
                &now(),
                &end.error.is_none(),
                &end.up_to_date,
                &end.error,
                &skipped,
                &join_examples(&end.skipped_examples),
            ],
        )?;
        Self::commit(tx, Touch::Data)?;
        Ok(n == 1)
    }

    /// The contract of `exchange_bank` in `store/hma_config.rs`.
    fn exchange_bank(&mut self, name: &str) -> Result<Option<ListId>, StoreError> {
        let Some(e) = self.hma_exchanges()?.into_iter().find(|e| e.name == name) else {
            return Ok(None);
        };
        let linked = self.client()?.query_opt(
            "SELECT l.id FROM hma_exchanges x JOIN lists l ON l.id = x.list_id WHERE x.name = $1",
            &[&name],
        )?;
        if let Some(r) = linked {
            return Ok(Some(r.try_get(0)?));
        }
        match self.list(name) {
            Ok(l) => return Ok(Some(l.id)),
            Err(StoreError::NoSuchList(_)) => {}
            Err(e) => return Err(e),
        }
        let list = self.create_list(&exchange_list(&e))?;
        let mut c = self.client()?;
        let mut tx = Self::write_tx(&mut c)?;
        tx.execute(
            "UPDATE hma_exchanges SET list_id = $2 WHERE name = $1",
            &[&name, &list.id],
        )?;
        Self::commit(tx, Touch::Data)?;
        Ok(Some(list.id))
    }

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
        let mut c = self.client()?;
        let mut tx = Self::write_tx(&mut c)?;
        let mut held: BTreeMap<Vec<u8>, Option<EntryId>> = BTreeMap::new();
        for r in tx.query(
            "SELECT fetch_id, item_id FROM hma_exchange_items WHERE exchange = $1",
            &[&name],
        )? {
            held.insert(r.try_get(0)?, r.try_get(1)?);
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
        let st = ImportStatements::prepare(&mut tx)?;
        let live = tx.prepare(
            "SELECT EXISTS (SELECT 1 FROM hma_items i
                 JOIN hma_item_entries m ON m.item_id = i.id
                 WHERE i.id = $1 AND i.list_id = $2)",
        )?;
        for (k, v) in &given {
            let is_live = match held.get(k).copied().flatten() {
                Some(item) => tx.query_one(&live, &[&item, &list_id])?.try_get(0)?,
                None => false,
            };
            if is_live {
                out.kept += 1;
                continue;
            }
            let (item, _) = add_item(&mut tx, &st, list_id, std::slice::from_ref(*v), None, None)?;
            tx.execute(
                "INSERT INTO hma_exchange_items (exchange, fetch_id, item_id) VALUES ($1, $2, $3)
                 ON CONFLICT (exchange, fetch_id) DO UPDATE SET item_id = excluded.item_id",
                &[&name, k, &item],
            )?;
            out.added += 1;
        }
        for (k, item) in &held {
            if seen.contains(k) {
                continue;
            }
            if let Some(item) = item {
                let mut entries: Vec<EntryId> = Vec::new();
                for r in tx.query(
                    "SELECT m.entry_id FROM hma_item_entries m JOIN hma_items i ON i.id = m.item_id
                     WHERE m.item_id = $1 AND i.list_id = $2 ORDER BY m.entry_id",
                    &[item, &list_id],
                )? {
                    entries.push(r.try_get(0)?);
                }
                if !entries.is_empty() {
                    delete_item(&mut tx, *item, &entries)?;
                }
            }
            tx.execute(
                "DELETE FROM hma_exchange_items WHERE exchange = $1 AND fetch_id = $2",
                &[&name, k],
            )?;
            out.removed += 1;
        }
        tx.execute(
            "INSERT INTO hma_exchange_status (name, checkpoint, checkpoint_ts) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET checkpoint = excluded.checkpoint,
                 checkpoint_ts = excluded.checkpoint_ts",
            &[&name, &checkpoint, &checkpoint_ts],
        )?;
        let changed = out.added > 0 || out.removed > 0;
        if changed {
            tx.execute(
                "UPDATE lists SET updated_at = $1 WHERE id = $2",
                &[&now(), &list_id],
            )?;
        }
        Self::commit(tx, if changed { Touch::Index } else { Touch::Data })?;
        Ok(Some(out))
    }
}
