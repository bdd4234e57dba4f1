//! "What changed since I last looked": how a long-running process (the HTTP
//! service) keeps its in-memory matcher in step with writes made by other
//! processes (`hashsieve db import`, another server) without a rebuild.
//!
//! What is read, and why each part is enough to apply in place:
//! * entries: ids only grow (writers are serialised, so a committed entry
//!   gets an id above every id committed before it), and a status change
//!   stamps `status_at`. New entries are the ids above the cursor; status
//!   changes are the rows whose `status_at` is at or after the cursor's
//!   time minus a margin. A row re-read in the margin with the status
//!   and stamp it had when last reported is not reported again: the
//!   cursor remembers the status of every entry reported inside the
//!   margin ([`ChangeCursor`]'s `recent`), so a server polled 20 times a
//!   second applies each status change once, not once per poll of the
//!   margin's 2-3 seconds. More than the caller's page (a big
//!   import, a mass disable) is read in pages: the cursor remembers the
//!   pass it is in (its bounds and how far it got) and [`Changes::more`]
//!   says to ask again at once;
//! * lists (a handful of rows): compared by a signature of every setting
//!   that changes what matches; when it differs, all of them are returned
//!   ([`Changes::lists`]) and the caller diffs them against its own
//!   (a list enabled, disabled, deleted, re-gated, given new thresholds);
//! * the allowlist: its change log (`allowlist_log`, schema 12), each
//!   addition and removal with its value, read on from the cursor's
//!   sequence number ([`Changes::allow`]).
//!
//! From the default cursor nothing is reported, only the cursor of now
//! (what [`SqliteStore::change_cursor`] gives): a process takes it before
//! it loads its matcher.

use std::collections::BTreeMap;

use rusqlite::{params, Transaction};

use super::{now, SqliteStore};
use crate::error::StoreError;
use crate::model::{Entry, EntryId, ListId, ListInfo, Value};

/// Ids at most this far apart are read by one range query (rows between
/// them that were not asked for are read and skipped)...
const RANGE_GAP: EntryId = 4;
/// ... when the run has at least this many ids (else one query each).
const RANGE_MIN: usize = 8;

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
    /// The last allowlist log row seen.
    pub(super) allow_seq: i64,
    /// The last list deletion seen (SQLite, whose list ids are reused).
    pub(super) deletion_seq: i64,
    /// A pass over changed entries read in pages, while one is under way.
    pub(super) page: Option<EntryPass>,
    /// The status (and its stamp) of each entry last reported with a
    /// `status_at` the next pass may read again (inside the margin): a
    /// row read again unchanged is not reported twice.
    pub(super) recent: BTreeMap<EntryId, (String, i64)>,
}

/// One row of a page of changed entries: its id, status and stamp.
pub(super) struct PageRow {
    pub(super) id: i64,
    pub(super) status: String,
    pub(super) status_at: Option<i64>,
}

impl ChangeCursor {
    /// Where a look that read `pass` leaves the cursor (`self`: the
    /// cursor of now, `before`: the one looked from): past it when the
    /// pass is `done`, else still at `before` with the pass to go on with.
    pub(super) fn finish_pass(&mut self, before: &ChangeCursor, pass: EntryPass, done: bool) {
        if done {
            self.max_entry = pass.upto;
            self.status_since = pass.began;
            self.prune_recent();
        } else {
            self.max_entry = before.max_entry;
            self.status_since = before.status_since;
            self.page = Some(pass);
        }
    }

    /// Whether entry `row` is to be reported: not if it was reported with
    /// this same status and stamp (a re-read in the margin); remembered
    /// otherwise.
    fn report(&mut self, row: PageRow) -> bool {
        let Some(at) = row.status_at else {
            return true;
        };
        if self
            .recent
            .get(&row.id)
            .is_some_and(|(st, t)| *t == at && *st == row.status)
        {
            return false;
        }
        self.recent.insert(row.id, (row.status, at));
        true
    }

    /// Forget what the next pass cannot read again (stamped before its
    /// start, `status_since` minus the margin).
    fn prune_recent(&mut self) {
        let since = self.status_since - STATUS_MARGIN_SECS;
        self.recent.retain(|_, (_, at)| *at >= since);
    }
}

impl ChangeCursor {
    /// Forget the lists' signature, so that the next look reports every
    /// list again (a caller that could not apply a list change retries it).
    pub fn forget_lists(&mut self) {
        self.lists_sig.clear();
    }

    /// Whether a pass over many changed entries is half way (more pages
    /// to read).
    pub fn in_pass(&self) -> bool {
        self.page.is_some()
    }
}

/// A pass over the entries changed since a cursor, read in pages: first
/// the status changes of entries that existed then (by id), then the new
/// entries (by id), both up to the newest entry when the pass began.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct EntryPass {
    /// The cursor's newest entry: above it, entries are new.
    pub(super) lo: i64,
    /// The newest entry when the pass began.
    pub(super) upto: i64,
    /// Status changes at or after this time (margin included).
    pub(super) since: i64,
    /// When the pass began: the next cursor's time.
    pub(super) began: i64,
    /// Reading new entries (else: status changes).
    pub(super) new_phase: bool,
    /// The last id read in the current phase.
    pub(super) after: i64,
}

impl EntryPass {
    pub(super) fn begin(cursor: &ChangeCursor, upto: i64, t: i64) -> EntryPass {
        EntryPass {
            lo: cursor.max_entry,
            upto,
            since: cursor.status_since - STATUS_MARGIN_SECS,
            began: t,
            new_phase: false,
            after: 0,
        }
    }

    /// Read up to `limit` rows with `page(pass, limit)` (the current
    /// phase's next rows, in order); returns the ids to report (those
    /// `next` has not reported unchanged already, see
    /// [`ChangeCursor::report`]) and whether the pass is over.
    pub(super) fn read(
        &mut self,
        limit: usize,
        next: &mut ChangeCursor,
        mut page: impl FnMut(&EntryPass, usize) -> Result<Vec<PageRow>, StoreError>,
    ) -> Result<(Vec<i64>, bool), StoreError> {
        let mut ids = Vec::new();
        let mut read = 0;
        loop {
            let want = limit - read;
            let got = page(self, want)?;
            let short = got.len() < want;
            read += got.len();
            if let Some(last) = got.last() {
                self.after = last.id;
            }
            for row in got {
                let id = row.id;
                if next.report(row) {
                    ids.push(id);
                }
            }
            if !short {
                return Ok((ids, false));
            }
            if self.new_phase {
                return Ok((ids, true));
            }
            self.new_phase = true;
            self.after = 0;
            if read == limit {
                return Ok((ids, false));
            }
        }
    }

    /// The first id (exclusive) of the new-entries phase's next page.
    pub(super) fn new_after(&self) -> i64 {
        self.lo.max(self.after)
    }
}

/// One allowlist change, in log order.
#[derive(Debug, Clone, PartialEq)]
pub struct AllowChange {
    /// The allowlist row's id.
    pub id: i64,
    pub value: Value,
    /// Added (else removed).
    pub added: bool,
}

/// The changes since a cursor.
#[derive(Debug, Default)]
pub struct Changes {
    /// Entries added or whose status changed, as they are now (apply each
    /// with remove-then-add: it is idempotent).
    pub entries: Vec<Entry>,
    /// Every list, when any list's settings changed (or one was created or
    /// deleted): diff them against the lists in memory.
    pub lists: Option<Vec<ListInfo>>,
    /// Lists deleted (SQLite: a list made since may have the same id;
    /// PostgreSQL never reuses one, and reports none): hide them before
    /// diffing [`Changes::lists`], which is then always given.
    pub deleted_lists: Vec<ListId>,
    /// Allowlist additions and removals, in order.
    pub allow: Vec<AllowChange>,
    /// More changed entries than one page: ask again (with `next`) at once.
    pub more: bool,
    /// Anything at all was written by anyone (e.g. labels merged into an
    /// existing entry): drop caches of entry details.
    pub touched: bool,
    /// Pass this to the next call.
    pub next: ChangeCursor,
}

/// The SQL of the lists' signature: every setting that changes what
/// matches, and the name (reports name lists).
const LISTS_SIG: &str = "SELECT coalesce(group_concat(id || ':' || enabled || ':' || pdq_threshold || ':' || pdq_quality
     || ':' || vpdq_target_percent || ':' || vpdq_query_percent || ':' || vpdq_min_clip_frames
     || ':' || tmk_level1 || ':' || tmk_level2 || ':' || hex(name), ','), '')
     FROM (SELECT * FROM lists ORDER BY id)";

/// The next rows of `pass`'s current phase (SQLite).
fn page_ids(
    tx: &Transaction<'_>,
    pass: &EntryPass,
    limit: usize,
) -> Result<Vec<PageRow>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let row = |r: &rusqlite::Row<'_>| {
        Ok(PageRow {
            id: r.get(0)?,
            status: r.get(1)?,
            status_at: r.get(2)?,
        })
    };
    let mut rows = Vec::new();
    if pass.new_phase {
        let mut st = tx.prepare_cached(
            "SELECT id, status, status_at FROM entries WHERE id > ?1 AND id <= ?2
             ORDER BY id LIMIT ?3",
        )?;
        for r in st.query_map(params![pass.new_after(), pass.upto, limit], row)? {
            rows.push(r?);
        }
    } else {
        // `+id`: the `status_at` index, never a walk of the ids from 0.
        let mut st = tx.prepare_cached(
            "SELECT id, status, status_at FROM entries WHERE status_at >= ?1 AND +id > ?2
             AND +id <= ?3 ORDER BY id LIMIT ?4",
        )?;
        for r in st.query_map(params![pass.since, pass.after, pass.lo, limit], row)? {
            rows.push(r?);
        }
    }
    Ok(rows)
}

impl SqliteStore {
    /// The cursor of the database as it is now (nothing before it will be
    /// reported by [`Store::changes_since`]).
    pub fn change_cursor(&mut self) -> Result<ChangeCursor, StoreError> {
        Ok(self.changes_since(&ChangeCursor::default(), 0)?.next)
    }

    /// Changes since `cursor`, at most `max_entries` changed entries at a
    /// time (see [`Changes::more`]). One read transaction: a consistent
    /// snapshot.
    pub fn changes_since(
        &mut self,
        cursor: &ChangeCursor,
        max_entries: usize,
    ) -> Result<Changes, StoreError> {
        let data_version: i64 = self
            .conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))?;
        let fresh = *cursor == ChangeCursor::default();
        if !fresh && cursor.page.is_none() && data_version == cursor.data_version {
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
        let lists_sig: String = tx.query_row(LISTS_SIG, [], |r| r.get(0))?;
        let allow_sig: (i64, i64) = tx.query_row(
            "SELECT count(*), coalesce(max(id), 0) FROM allowlist",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let allow_seq: i64 =
            tx.query_row("SELECT coalesce(max(seq), 0) FROM allowlist_log", [], |r| {
                r.get(0)
            })?;
        let deletion_seq: i64 = tx.query_row(
            "SELECT coalesce(max(seq), 0) FROM list_deletions",
            [],
            |r| r.get(0),
        )?;
        let mut next = ChangeCursor {
            max_entry,
            status_since: t,
            lists_sig,
            allow_sig,
            data_version,
            allow_seq,
            deletion_seq,
            page: None,
            recent: BTreeMap::new(),
        };
        if fresh {
            tx.commit()?;
            return Ok(Changes {
                next,
                ..Changes::default()
            });
        }
        let mut allow = Vec::new();
        {
            let mut st = tx.prepare_cached(
                "SELECT allow_id, signal_type, value, added FROM allowlist_log
                 WHERE seq > ?1 AND seq <= ?2 ORDER BY seq",
            )?;
            let mut rows = st.query(params![cursor.allow_seq, allow_seq])?;
            while let Some(r) = rows.next()? {
                let t: String = r.get(1)?;
                allow.push(AllowChange {
                    id: r.get(0)?,
                    value: super::entries::decode_value(&t, &r.get::<_, Vec<u8>>(2)?)?,
                    added: r.get::<_, i64>(3)? != 0,
                });
            }
        }
        let mut deleted_lists = Vec::new();
        {
            let mut st = tx.prepare_cached(
                "SELECT list_id FROM list_deletions WHERE seq > ?1 AND seq <= ?2 ORDER BY seq",
            )?;
            for r in st.query_map(params![cursor.deletion_seq, deletion_seq], |r| r.get(0))? {
                deleted_lists.push(r?);
            }
        }
        let mut pass = cursor
            .page
            .clone()
            .unwrap_or_else(|| EntryPass::begin(cursor, max_entry, t));
        next.recent = cursor.recent.clone();
        let (ids, done) = pass.read(max_entries.max(1), &mut next, |p, n| page_ids(&tx, p, n))?;
        tx.commit()?;
        next.finish_pass(cursor, pass, done);
        let lists = if next.lists_sig != cursor.lists_sig || !deleted_lists.is_empty() {
            Some(self.lists()?)
        } else {
            None
        };
        let entries = self.entries_by_id(&ids)?;
        Ok(Changes {
            entries,
            lists,
            deleted_lists,
            allow,
            more: !done,
            touched: next.data_version != cursor.data_version || next.max_entry != cursor.max_entry,
            next,
        })
    }

    /// The entries of `ids` that still exist (an entry deleted since was
    /// in a list deleted since: the lists' change says so).
    /// In id order; runs of close ids (an import's) are read by range,
    /// two queries a run, scattered ones one by one.
    pub fn entries_by_id(&self, ids: &[EntryId]) -> Result<Vec<Entry>, StoreError> {
        let mut sorted = ids.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let mut entries = Vec::with_capacity(sorted.len());
        for run in sorted.chunk_by(|a, b| b - a <= RANGE_GAP) {
            if run.len() >= RANGE_MIN {
                let (lo, hi) = (run[0], run[run.len() - 1]);
                let keep = |id: EntryId| run.binary_search(&id).is_ok();
                entries.extend(self.entries_in_range(lo, hi, keep)?);
                continue;
            }
            for &id in run {
                match self.entry(id) {
                    Ok(e) => entries.push(e),
                    Err(StoreError::NoSuchEntry(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(entries)
    }

    /// The ids of list `list`'s entries, in order (whatever their status):
    /// what a process reads when a list is enabled, or its quality gate
    /// changed (that list's entries only, never the others').
    pub fn list_entry_ids(&self, list: ListId) -> Result<Vec<EntryId>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached("SELECT id FROM entries WHERE list_id = ?1 ORDER BY id")?;
        let rows = st.query_map([list], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
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
    fn reports_entries_lists_and_the_allowlist_in_place(db) {
        let mut a = db.open();
        let mut b = db.open();
        a.create_list(&NewList::new("l")).unwrap();
        let c0 = b.change_cursor().unwrap();
        // From the default cursor: only a cursor, nothing reported.
        let fresh = b.changes_since(&Default::default(), 100).unwrap();
        assert!(fresh.entries.is_empty() && fresh.lists.is_none() && !fresh.more);
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
        assert!(ch.lists.is_none() && ch.allow.is_empty() && !ch.more && ch.touched);
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
        // A list setting: every list, as it is now.
        a.set_list_enabled("l", false).unwrap();
        let ch4 = b.changes_since(&ch3.next, 100).unwrap();
        let lists = ch4.lists.expect("lists reported");
        assert_eq!(lists.len(), 1);
        assert!(!lists[0].enabled);
        let ch4b = b.changes_since(&ch4.next, 100).unwrap();
        assert!(ch4b.lists.is_none());
        // The allowlist, value by value, in order: added, then removed.
        let v = Value::Pdq(Pdq([7; 32]));
        let id = a.allow(&v, None, None).unwrap();
        a.allow(&v, None, None).unwrap();
        a.disallow(id).unwrap();
        let ch5 = b.changes_since(&ch4b.next, 100).unwrap();
        let got: Vec<(i64, bool)> = ch5.allow.iter().map(|c| (c.id, c.added)).collect();
        assert_eq!(got, vec![(id, true), (id, false)]);
        assert_eq!(ch5.allow[0].value, v);
        assert!(b.changes_since(&ch5.next, 100).unwrap().allow.is_empty());
        // More changed entries than a page: read in pages, each entry
        // once, none lost, in a pass with a status change and new ids.
        a.set_list_enabled("l", true).unwrap();
        let c6 = b.changes_since(&ch5.next, 100).unwrap().next;
        let c6 = b.changes_since(&c6, 100).unwrap().next;
        let more = a
            .import(
                "l",
                (10..17).map(rec),
                Path::new("t"),
                ImportOptions::default(),
            )
            .unwrap();
        let mut seen = Vec::new();
        let mut cursor = c6;
        let mut pages = 0;
        loop {
            let ch = b.changes_since(&cursor, 2).unwrap();
            assert!(ch.entries.len() <= 2);
            seen.extend(ch.entries.iter().map(|e| e.id));
            cursor = ch.next;
            pages += 1;
            if !ch.more {
                break;
            }
            assert!(cursor.in_pass());
        }
        assert!(pages >= 4, "{pages}");
        for id in &more.added_ids {
            assert_eq!(seen.iter().filter(|s| *s == id).count(), 1, "{id}: {seen:?}");
        }
        // After the pass: the next look starts from its end.
        let after = b.changes_since(&cursor, 100).unwrap();
        assert!(after.entries.iter().all(|e| !more.added_ids.contains(&e.id)));
    }
    }
}
