//! The change log, the match fingerprint and the index rows on PostgreSQL:
//! the contracts of `store/changes.rs`, `store/fingerprint.rs` and
//! `store/snapshot.rs`.
//!
//! The change log reads the same way as on SQLite (new entries are the ids
//! above the cursor, status changes the rows stamped since it, list
//! settings and the allowlist by signature), inside one repeatable-read
//! transaction so that every part is of one moment. What SQLite's
//! `PRAGMA data_version` gives (did anyone write?) is `store_state`'s
//! data version, bumped by every committed write (`PgStore::commit`).

use postgres::{Client, IsolationLevel, Transaction};

use super::PgStore;
use crate::error::StoreError;
use crate::model::ListId;
use crate::store::changes::STATUS_MARGIN_SECS;
use crate::store::snapshot::RowsKey;
use crate::store::{now, ChangeCursor, Changes, PdqRows, SavedTables};
use crate::types::Pdq;

/// A read-only transaction that sees one snapshot of the database.
fn snapshot(c: &mut Client) -> Result<Transaction<'_>, StoreError> {
    Ok(c.build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()?)
}

impl PgStore {
    pub fn change_cursor(&mut self) -> Result<ChangeCursor, StoreError> {
        Ok(self.changes_since(&ChangeCursor::default(), 0)?.next)
    }

    pub fn changes_since(
        &self,
        cursor: &ChangeCursor,
        max_entries: usize,
    ) -> Result<Changes, StoreError> {
        let t = now();
        let ids = {
            let mut c = self.client()?;
            let mut tx = snapshot(&mut c)?;
            let data_version: i64 = tx
                .query_one("SELECT data_version FROM store_state WHERE id = 1", &[])?
                .try_get(0)?;
            if data_version == cursor.data_version && *cursor != ChangeCursor::default() {
                // Nobody wrote since the last look: skip the queries.
                tx.commit()?;
                return Ok(Changes {
                    next: cursor.clone(),
                    ..Changes::default()
                });
            }
            let max_entry: i64 = tx
                .query_one("SELECT coalesce(max(id), 0)::BIGINT FROM entries", &[])?
                .try_get(0)?;
            let lists_sig: String = tx
                .query_one(
                    "SELECT coalesce(string_agg(id || ':' || enabled || ':' || pdq_threshold || ':'
                         || pdq_quality || ':' || vpdq_target_percent || ':' || vpdq_query_percent
                         || ':' || vpdq_min_clip_frames || ':' || tmk_level1 || ':' || tmk_level2,
                         ',' ORDER BY id), '')
                     FROM lists",
                    &[],
                )?
                .try_get(0)?;
            let row = tx.query_one(
                "SELECT count(*), coalesce(max(id), 0)::BIGINT FROM allowlist",
                &[],
            )?;
            let allow_sig: (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
            let since = cursor.status_since - STATUS_MARGIN_SECS;
            // A limit of 0 asks for a cursor only (`change_cursor`): the
            // count is not needed, and from the default cursor it reads
            // every row (seconds at 10M entries, at each server start).
            let too_many = max_entries == 0 || {
                let changed: i64 = tx
                    .query_one(
                        "SELECT count(*) FROM entries WHERE id > $1 OR status_at >= $2",
                        &[&cursor.max_entry, &since],
                    )?
                    .try_get(0)?;
                changed as u64 > max_entries as u64
            };
            let mut ids = Vec::new();
            if !too_many {
                for r in tx.query(
                    "SELECT id FROM entries WHERE id > $1 OR status_at >= $2 ORDER BY id",
                    &[&cursor.max_entry, &since],
                )? {
                    ids.push(r.try_get::<_, i64>(0)?);
                }
            }
            tx.commit()?;
            let next = ChangeCursor {
                max_entry,
                status_since: t,
                lists_sig,
                allow_sig,
                data_version,
            };
            (ids, too_many, next)
        };
        let (ids, too_many, next) = ids;
        // In batches (an entry deleted since is simply not there: its list
        // was deleted, the list signature changed too, so the caller
        // rebuilds).
        let mut entries = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(10_000) {
            entries.extend(self.entries_by_id(chunk)?);
        }
        Ok(Changes {
            entries,
            rebuild: too_many
                || next.lists_sig != cursor.lists_sig
                || next.allow_sig != cursor.allow_sig,
            touched: next.data_version != cursor.data_version || next.max_entry != cursor.max_entry,
            next,
        })
    }

    pub fn match_fingerprint(&self) -> Result<String, StoreError> {
        let mut c = self.client()?;
        let mut tx = snapshot(&mut c)?;
        let generation: i64 = tx
            .query_one("SELECT generation FROM store_state WHERE id = 1", &[])?
            .try_get(0)?;
        let mut h = blake3::Hasher::new();
        h.update(b"hashsieve match fingerprint 1\0");
        h.update(&generation.to_le_bytes());
        for r in tx.query(
            "SELECT signal_type, value FROM allowlist ORDER BY signal_type COLLATE \"C\", value",
            &[],
        )? {
            let t: &str = r.try_get(0)?;
            let v: &[u8] = r.try_get(1)?;
            // Lengths first: no two different row sequences hash alike.
            h.update(&(t.len() as u64).to_le_bytes());
            h.update(t.as_bytes());
            h.update(&(v.len() as u64).to_le_bytes());
            h.update(v);
        }
        tx.commit()?;
        Ok(h.finalize().to_hex()[..32].to_string())
    }

    pub fn pdq_rows(&self, gates: &[(ListId, u8)]) -> Result<PdqRows, StoreError> {
        Ok(self.pdq_rows_keyed(gates)?.0)
    }

    /// The index tables saved on this machine for `key` (see `saved.rs`).
    pub fn pdq_tables(&self, key: &RowsKey, n: usize) -> Option<SavedTables> {
        self.saved_tables(key, n)
    }

    pub fn save_pdq_tables(&self, key: &RowsKey, n: usize, bits: u32, tables: &[(&[u32], &[u32])]) {
        self.save_tables(key, n, bits, tables);
    }

    /// The rows saved on this machine by an earlier read, with the change
    /// cursor to catch up from (see `saved.rs`); else read from the
    /// database in one snapshot, with the generation they were read at,
    /// and saved.
    pub fn pdq_rows_keyed(&self, gates: &[(ListId, u8)]) -> Result<(PdqRows, RowsKey), StoreError> {
        let mut gates = gates.to_vec();
        gates.sort_unstable();
        if let Some(saved) = self.saved_rows(&gates) {
            return Ok(saved);
        }
        // Taken before the snapshot: whatever commits in between is in the
        // next catch-up from the saved files (applied twice at worst).
        let cursor = self.cursor_now()?;
        let (rows, key) = self.read_pdq_rows(gates)?;
        self.save_rows(key.generation, &cursor, &key.gates, &rows);
        Ok((rows, key))
    }

    /// The change cursor of the database as it is now.
    fn cursor_now(&self) -> Result<ChangeCursor, StoreError> {
        // From the default cursor with a limit of 0: no entry is read.
        Ok(self.changes_since(&ChangeCursor::default(), 0)?.next)
    }

    /// The rows, read from the database, with the generation they were
    /// read at, in one snapshot.
    pub(super) fn read_pdq_rows(
        &self,
        gates: Vec<(ListId, u8)>,
    ) -> Result<(PdqRows, RowsKey), StoreError> {
        let mut c = self.client()?;
        let mut tx = snapshot(&mut c)?;
        let generation: i64 = tx
            .query_one("SELECT generation FROM store_state WHERE id = 1", &[])?
            .try_get(0)?;
        let bound: i64 = tx
            .query_one(
                "SELECT count(*) FROM entries WHERE signal_type = 'pdq' AND status = 'active'",
                &[],
            )?
            .try_get(0)?;
        let bound = usize::try_from(bound).unwrap_or(0);
        let mut rows = PdqRows {
            entries: Vec::with_capacity(bound),
            lists: Vec::with_capacity(bound),
            hashes: Vec::with_capacity(bound),
        };
        {
            use postgres::fallible_iterator::FallibleIterator;
            let mut it = tx.query_raw(
                "SELECT id, list_id, value, quality FROM entries
                 WHERE signal_type = 'pdq' AND status = 'active' ORDER BY id",
                std::iter::empty::<&(dyn postgres::types::ToSql + Sync)>(),
            )?;
            while let Some(r) = it.next()? {
                let list: ListId = r.try_get(1)?;
                let Some(&(_, gate)) = gates.iter().find(|g| g.0 == list) else {
                    continue;
                };
                let q: Option<i64> = r.try_get(3)?;
                if q.is_some_and(|q| q < i64::from(gate)) {
                    continue;
                }
                let value: &[u8] = r.try_get(2)?;
                let hash: [u8; 32] = value.try_into().map_err(|_| StoreError::Corrupt {
                    table: "entries",
                    message: format!("pdq value has {} bytes, expected 32", value.len()),
                })?;
                rows.entries.push(r.try_get(0)?);
                rows.lists.push(list);
                rows.hashes.push(Pdq(hash).words());
            }
        }
        tx.commit()?;
        Ok((
            rows,
            RowsKey {
                generation,
                gates,
                catch_up: None,
            },
        ))
    }
}
