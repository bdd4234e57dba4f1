//! "What changed since I last looked": how a long-running process (the HTTP
//! service) keeps its in-memory matcher in step with writes made by other
//! processes (`hashsieve db import`, another server) without a rebuild.
//!
//! Why no change log table: entries already carry what is needed. Ids only
//! grow (writers are serialised, so a committed entry gets an id above every
//! id committed before it), and a status change stamps `status_at`. New
//! entries are the ids above the cursor; status changes are the rows whose
//! `status_at` is at or after the cursor's time minus a margin (re-reading a
//! row twice is harmless: applying an entry is idempotent). List settings
//! and the allowlist are compared by a signature; when they change, the
//! caller rebuilds (rare, and needed anyway: a list's threshold or
//! enablement changes what every entry means).

use rusqlite::params;

use super::{now, SqliteStore};
use crate::error::StoreError;
use crate::model::Entry;

/// Seconds of overlap when re-reading status changes (clock granularity
/// of `status_at` plus commits that landed while we read).
pub(super) const STATUS_MARGIN_SECS: i64 = 2;

/// Where the last look ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeCursor {
    pub(super) max_entry: i64,
    pub(super) status_since: i64,
    pub(super) lists_sig: String,
    pub(super) allow_sig: (i64, i64),
    pub(super) data_version: i64,
}

/// The changes since a cursor.
#[derive(Debug, Default)]
pub struct Changes {
    /// Entries added or whose status changed, as they are now (apply each
    /// with remove-then-add: it is idempotent).
    pub entries: Vec<Entry>,
    /// List settings or the allowlist changed: rebuild the matcher.
    pub rebuild: bool,
    /// Anything at all was written by anyone (e.g. labels merged into an
    /// existing entry): drop caches of entry details.
    pub touched: bool,
    /// Pass this to the next call.
    pub next: ChangeCursor,
}

impl SqliteStore {
    /// The cursor of the database as it is now (nothing before it will be
    /// reported by [`Store::changes_since`]).
    pub fn change_cursor(&mut self) -> Result<ChangeCursor, StoreError> {
        Ok(self.changes_since(&ChangeCursor::default(), 0)?.next)
    }

    /// Changes since `cursor`, reading at most `max_entries` changed
    /// entries: when more changed (a big import), none are read and
    /// `rebuild` is set instead (loading everything at once is cheaper than
    /// applying a million single changes). One read transaction: a
    /// consistent snapshot.
    pub fn changes_since(
        &mut self,
        cursor: &ChangeCursor,
        max_entries: usize,
    ) -> Result<Changes, StoreError> {
        let data_version: i64 = self
            .conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))?;
        if data_version == cursor.data_version && *cursor != ChangeCursor::default() {
            // Nobody wrote since the last look (SQLite counts commits from
            // every connection): skip the queries.
            return Ok(Changes {
                next: cursor.clone(),
                ..Changes::default()
            });
        }
        let t = now();
        let tx = self.conn.transaction()?;
        let max_entry: i64 =
            tx.query_row("SELECT coalesce(max(id), 0) FROM entries", [], |r| r.get(0))?;
        let lists_sig: String = tx.query_row(
            "SELECT coalesce(group_concat(id || ':' || enabled || ':' || pdq_threshold || ':' || pdq_quality
                 || ':' || vpdq_target_percent || ':' || vpdq_query_percent || ':' || vpdq_min_clip_frames, ','), '')
             FROM (SELECT * FROM lists ORDER BY id)",
            [],
            |r| r.get(0),
        )?;
        let allow_sig: (i64, i64) = tx.query_row(
            "SELECT count(*), coalesce(max(id), 0) FROM allowlist",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let changed: i64 = tx.query_row(
            "SELECT count(*) FROM entries WHERE id > ?1 OR status_at >= ?2",
            params![cursor.max_entry, cursor.status_since - STATUS_MARGIN_SECS],
            |r| r.get(0),
        )?;
        let too_many = changed as u64 > max_entries as u64;
        let mut ids = Vec::new();
        if !too_many {
            let mut st = tx.prepare_cached(
                "SELECT id FROM entries WHERE id > ?1 OR status_at >= ?2 ORDER BY id",
            )?;
            let rows = st.query_map(
                params![cursor.max_entry, cursor.status_since - STATUS_MARGIN_SECS],
                |r| r.get::<_, i64>(0),
            )?;
            for r in rows {
                ids.push(r?);
            }
        }
        tx.commit()?;
        let mut entries = Vec::with_capacity(ids.len());
        for id in ids {
            match self.entry(id) {
                Ok(e) => entries.push(e),
                // Deleted since (its list was deleted): the list signature
                // changed too, so the caller rebuilds.
                Err(StoreError::NoSuchEntry(_)) => {}
                Err(e) => return Err(e),
            }
        }
        let next = ChangeCursor {
            max_entry,
            status_since: t,
            lists_sig,
            allow_sig,
            data_version,
        };
        Ok(Changes {
            entries,
            rebuild: too_many
                || next.lists_sig != cursor.lists_sig
                || next.allow_sig != cursor.allow_sig,
            touched: next.data_version != cursor.data_version || next.max_entry != cursor.max_entry,
            next,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::model::{NewList, Record, Status, StatusChange, Value};
    use crate::store::ImportOptions;
    use crate::types::Pdq;
    use std::path::Path;

    fn rec(byte: u8) -> Result<Record, crate::error::ParseError> {
        Ok(Record::new(Value::Pdq(Pdq([byte; 32]))))
    }

    crate::store::backend_tests::both! {
    fn reports_new_entries_status_changes_and_list_changes(db) {
        let mut a = db.open();
        let mut b = db.open();
        a.create_list(&NewList::new("l")).unwrap();
        let c0 = b.change_cursor().unwrap();
        let sum = a
            .import(
                "l",
                [rec(1), rec(2)],
                Path::new("t"),
                ImportOptions::default(),
            )
            .unwrap();
        let ch = b.changes_since(&c0, 100).unwrap();
        assert_eq!(ch.entries.len(), 2);
        assert!(!ch.rebuild && ch.touched);
        // Nothing new: only rows inside the status margin come back.
        let ch2 = b.changes_since(&ch.next, 100).unwrap();
        assert!(ch2.entries.iter().all(|e| e.status.at.is_some()));
        a.set_status(
            sum.added_ids[0],
            &StatusChange {
                status: Status::Disabled,
                by: None,
                reason: None,
                at: None,
            },
        )
        .unwrap();
        let ch3 = b.changes_since(&ch2.next, 100).unwrap();
        assert!(ch3
            .entries
            .iter()
            .any(|e| e.id == sum.added_ids[0] && e.status.status == Status::Disabled));
        a.set_list_enabled("l", false).unwrap();
        assert!(b.changes_since(&ch3.next, 100).unwrap().rebuild);
        // Too many changes to apply one by one: a rebuild instead.
        a.set_list_enabled("l", true).unwrap();
        let c4 = b.change_cursor().unwrap();
        a.import(
            "l",
            [rec(3), rec(4), rec(5)],
            Path::new("t"),
            ImportOptions::default(),
        )
        .unwrap();
        let ch5 = b.changes_since(&c4, 2).unwrap();
        assert!(ch5.rebuild && ch5.entries.is_empty());
    }
    }
}
