//! The change log, the match fingerprint and the index rows on PostgreSQL:
//! the contracts of `store/changes.rs`, `store/fingerprint.rs` and
//! `store/snapshot.rs`.
//!
//! The change log reads the same way as on SQLite (new entries are the ids
//! above the cursor, status changes the rows stamped since it, in pages
//! when there are many; list settings by signature; the allowlist's log
//! from the cursor's sequence number), inside one repeatable-read
//! transaction so that every part is of one moment. What SQLite's
//! `PRAGMA data_version` gives (did anyone write?) is `store_state`'s
//! data version, bumped by every committed write (`PgStore::commit`).

use postgres::{Client, IsolationLevel, Transaction};

use super::PgStore;
use crate::error::StoreError;
use crate::model::{EntryId, ListId};
use crate::store::changes::{AllowChange, EntryPass, PageRow};
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

/// The next rows of `pass`'s current phase.
fn page_ids(
    tx: &mut Transaction<'_>,
    pass: &EntryPass,
    limit: usize,
) -> Result<Vec<PageRow>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = if pass.new_phase {
        tx.query(
            "SELECT id, status, status_at FROM entries WHERE id > $1 AND id <= $2
             ORDER BY id LIMIT $3",
            &[&pass.new_after(), &pass.upto, &limit],
        )?
    } else {
        tx.query(
            "SELECT id, status, status_at FROM entries WHERE status_at >= $1 AND id > $2
             AND id <= $3 ORDER BY id LIMIT $4",
            &[&pass.since, &pass.after, &pass.lo, &limit],
        )?
    };
    rows.iter()
        .map(|r| {
            Ok(PageRow {
                id: r.try_get(0)?,
                status: r.try_get(1)?,
                status_at: r.try_get(2)?,
            })
        })
        .collect()
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
        let fresh = *cursor == ChangeCursor::default();
        let (ids, allow, done, next) = {
            let mut c = self.client()?;
            let mut tx = snapshot(&mut c)?;
            let data_version: i64 = tx
                .query_one("SELECT data_version FROM store_state WHERE id = 1", &[])?
                .try_get(0)?;
            if !fresh && cursor.page.is_none() && data_version == cursor.data_version {
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
                         || ':' || vpdq_min_clip_frames || ':' || tmk_level1 || ':' || tmk_level2
                         || ':' || md5(name), ',' ORDER BY id), '')
                     FROM lists",
                    &[],
                )?
                .try_get(0)?;
            let row = tx.query_one(
                "SELECT count(*), coalesce(max(id), 0)::BIGINT FROM allowlist",
                &[],
            )?;
            let allow_sig: (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
            let allow_seq: i64 = tx
                .query_one(
                    "SELECT coalesce(max(seq), 0)::BIGINT FROM allowlist_log",
                    &[],
                )?
                .try_get(0)?;
            let mut next = ChangeCursor {
                max_entry,
                status_since: t,
                lists_sig,
                allow_sig,
                data_version,
                allow_seq,
                deletion_seq: 0,
                page: None,
                recent: Default::default(),
            };
            if fresh {
                // A cursor only (`change_cursor`): nothing before it is
                // reported, so nothing is read.
                tx.commit()?;
                return Ok(Changes {
                    next,
                    ..Changes::default()
                });
            }
            let mut allow = Vec::new();
            for r in tx.query(
                "SELECT allow_id, signal_type, value, added FROM allowlist_log
                 WHERE seq > $1 AND seq <= $2 ORDER BY seq",
                &[&cursor.allow_seq, &allow_seq],
            )? {
                let st: &str = r.try_get(1)?;
                let v: &[u8] = r.try_get(2)?;
                allow.push(AllowChange {
                    id: r.try_get(0)?,
                    value: crate::store::entries::decode_value(st, v)?,
                    added: r.try_get(3)?,
                });
            }
            let mut pass = cursor
                .page
                .clone()
                .unwrap_or_else(|| EntryPass::begin(cursor, max_entry, t));
            next.recent = cursor.recent.clone();
            let (ids, done) = pass.read(max_entries.max(1), &mut next, |p, n| {
                page_ids(&mut tx, p, n)
            })?;
            tx.commit()?;
            next.finish_pass(cursor, pass, done);
            (ids, allow, done, next)
        };
        let lists = if next.lists_sig != cursor.lists_sig {
            Some(self.lists()?)
        } else {
            None
        };
        Ok(Changes {
            entries: self.entries_by_ids(&ids)?,
            lists,
            // Identity ids are never reused: a list made since is a new id.
            deleted_lists: Vec::new(),
            allow,
            more: !done,
            touched: next.data_version != cursor.data_version || next.max_entry != cursor.max_entry,
            next,
        })
    }

    /// The entries of `ids` that still exist, in batches (an entry deleted
    /// since was in a list deleted since: the lists' change says so).
    pub fn entries_by_ids(&self, ids: &[EntryId]) -> Result<Vec<crate::model::Entry>, StoreError> {
        let mut entries = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(10_000) {
            entries.extend(self.entries_by_id(chunk)?);
        }
        Ok(entries)
    }

    /// The ids of list `list`'s entries, in order (whatever their status).
    pub fn list_entry_ids(&self, list: ListId) -> Result<Vec<EntryId>, StoreError> {
        let rows = self.client()?.query(
            "SELECT id FROM entries WHERE list_id = $1 ORDER BY id",
            &[&list],
        )?;
        rows.iter()
            .map(|r| r.try_get::<_, i64>(0).map_err(StoreError::from))
            .collect()
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
