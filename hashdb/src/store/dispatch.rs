//! [`Store`]'s public methods: each forwards to the backend's method of the
//! same name (see the module docs of `store` for why an enum). The methods'
//! own docs are on the SQLite backend's methods (`lists.rs`, `entries.rs`,
//! ...); the PostgreSQL backend keeps the same contract (`pg/`), and
//! `backend_tests.rs` holds both to it.

use std::collections::BTreeMap;
use std::path::Path;

use super::hma_config::{FetchCommit, FetchEnd, HmaExchange, HmaFetchStatus};
use super::hma_content::{ContentOf, HmaContent};
use super::pg::PgStore;
use super::{
    AllowEntry, ChangeCursor, Changes, DbTarget, FrameRow, ImportOptions, ImportSummary, IndexRow,
    Inner, ListStats, OpenOptions, PdqRows, RowsKey, SavedTables, Scope, SqliteStore, Store,
    TmkRow, TokenInfo,
};
use crate::error::{ImportError, OpenError, ParseError, StoreError};
use crate::model::{
    Entry, EntryId, ListId, ListInfo, ListUpdate, NewList, Record, Status, StatusChange, Value,
};
use crate::types::Pdq;

/// `$body` with `$s` bound to the backend, whichever it is (PostgreSQL's
/// through `pg::blocking`: callable from an async handler).
macro_rules! on {
    ($self:expr, $s:ident => $body:expr) => {
        match $self {
            Inner::Sqlite($s) => $body,
            Inner::Postgres($s) => super::pg::blocking(|| $body),
        }
    };
}

impl Store {
    /// Open the database named by `path` (a file, or a `postgresql://`
    /// URL: see [`DbTarget::parse`]), creating its schema if needed, with
    /// default options.
    ///
    /// # Errors
    /// [`OpenError::NotADatabase`] if the file is something else (it is left
    /// untouched), [`OpenError::TooNew`] if a newer hashsieve wrote it,
    /// [`OpenError::Locked`] if another process holds it past the timeout,
    /// [`OpenError::UnexpectedSchema`] if an SQLite file holds tables,
    /// views, indexes or triggers that are not ours for its version (see
    /// `store::schema_check`; nothing of it is read or run),
    /// [`OpenError::Postgres`] when the server cannot be reached.
    pub fn open(path: impl AsRef<Path>) -> Result<Store, OpenError> {
        Self::open_with(path, OpenOptions::default())
    }

    /// [`Store::open`] with options.
    ///
    /// # Errors
    /// As [`Store::open`], and [`OpenError::Missing`] with
    /// [`super::Create::Never`] when there is no database there (no file,
    /// an empty one, or a PostgreSQL database without our schema).
    pub fn open_with(path: impl AsRef<Path>, opts: OpenOptions) -> Result<Store, OpenError> {
        Self::open_target(&DbTarget::parse(path.as_ref()), opts)
    }

    /// [`Store::open_with`] for a parsed target.
    pub fn open_target(target: &DbTarget, opts: OpenOptions) -> Result<Store, OpenError> {
        let inner = match target {
            DbTarget::Sqlite(p) => Inner::Sqlite(SqliteStore::open_with(p, opts)?),
            DbTarget::Postgres(url) => Inner::Postgres(Box::new(PgStore::open(url, opts)?)),
        };
        Ok(Store { inner })
    }

    /// Which backend this is and where (the full target: it reopens the
    /// same database; print [`Store::path`] instead).
    pub fn target(&self) -> DbTarget {
        match &self.inner {
            Inner::Sqlite(s) => DbTarget::Sqlite(s.path().to_path_buf()),
            Inner::Postgres(s) => s.target().clone(),
        }
    }

    /// The SQLite backend, for tests that look under the hood.
    #[cfg(test)]
    pub(crate) fn sqlite(&self) -> &SqliteStore {
        match &self.inner {
            Inner::Sqlite(s) => s,
            Inner::Postgres(_) => panic!("an SQLite-only test opened PostgreSQL"),
        }
    }

    /// Whether the connection is known to be gone (a PostgreSQL server
    /// that restarted or went away): open a new store. An SQLite file
    /// never is.
    pub fn is_closed(&self) -> bool {
        match &self.inner {
            Inner::Sqlite(_) => false,
            Inner::Postgres(s) => s.is_closed(),
        }
    }

    /// Whether this is the PostgreSQL backend.
    pub fn is_postgres(&self) -> bool {
        matches!(self.inner, Inner::Postgres(_))
    }

    /// The file this store was opened from, or the PostgreSQL URL without
    /// its password: for messages.
    pub fn path(&self) -> &Path {
        on!(&self.inner, s => s.path())
    }

    pub fn set_cache_kib(&self, kib: u32) -> Result<(), StoreError> {
        on!(&self.inner, s => s.set_cache_kib(kib))
    }

    pub fn schema_version(&self) -> Result<i64, StoreError> {
        on!(&self.inner, s => s.schema_version())
    }

    // Lists.

    pub fn create_list(&mut self, new: &NewList) -> Result<ListInfo, StoreError> {
        on!(&mut self.inner, s => s.create_list(new))
    }

    pub fn lists(&self) -> Result<Vec<ListInfo>, StoreError> {
        on!(&self.inner, s => s.lists())
    }

    pub fn has_enabled_list(&self) -> Result<bool, StoreError> {
        on!(&self.inner, s => s.has_enabled_list())
    }

    pub fn list(&self, name: &str) -> Result<ListInfo, StoreError> {
        on!(&self.inner, s => s.list(name))
    }

    pub fn list_by_id(&self, id: ListId) -> Result<ListInfo, StoreError> {
        on!(&self.inner, s => s.list_by_id(id))
    }

    pub fn set_list_enabled(&mut self, name: &str, enabled: bool) -> Result<ListInfo, StoreError> {
        on!(&mut self.inner, s => s.set_list_enabled(name, enabled))
    }

    pub fn update_list(&mut self, name: &str, u: &ListUpdate) -> Result<ListInfo, StoreError> {
        on!(&mut self.inner, s => s.update_list(name, u))
    }

    pub fn delete_list(&mut self, name: &str) -> Result<(), StoreError> {
        on!(&mut self.inner, s => s.delete_list(name))
    }

    pub fn stats(&self) -> Result<Vec<ListStats>, StoreError> {
        on!(&self.inner, s => s.stats())
    }

    // Entries.

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
        on!(&mut self.inner, s => s.import(list, records, origin, opts))
    }

    pub fn entry(&self, id: EntryId) -> Result<Entry, StoreError> {
        on!(&self.inner, s => s.entry(id))
    }

    pub fn tmk_file(&self, id: EntryId) -> Result<crate::tmk::TmkHash, StoreError> {
        on!(&self.inner, s => s.tmk_file(id))
    }

    pub fn for_each_tmk_row(
        &self,
        lists: &[ListId],
        f: impl FnMut(TmkRow),
    ) -> Result<(), StoreError> {
        on!(&self.inner, s => s.for_each_tmk_row(lists, f))
    }

    pub fn entry_ids(&self, list: &str) -> Result<Vec<EntryId>, StoreError> {
        on!(&self.inner, s => s.entry_ids(list))
    }

    /// The ids of list `list`'s entries, whatever their status, in order.
    pub fn list_entry_ids(&self, list: ListId) -> Result<Vec<EntryId>, StoreError> {
        on!(&self.inner, s => s.list_entry_ids(list))
    }

    /// The entries of `ids` that still exist, in the order given.
    pub fn entries_by_id(&self, ids: &[EntryId]) -> Result<Vec<Entry>, StoreError> {
        match &self.inner {
            Inner::Sqlite(s) => s.entries_by_id(ids),
            Inner::Postgres(s) => super::pg::blocking(|| s.entries_by_ids(ids)),
        }
    }

    pub fn set_status(&mut self, id: EntryId, change: &StatusChange) -> Result<Entry, StoreError> {
        on!(&mut self.inner, s => s.set_status(id, change))
    }

    pub fn for_each_index_row(&self, f: impl FnMut(IndexRow)) -> Result<(), StoreError> {
        on!(&self.inner, s => s.for_each_index_row(f))
    }

    pub fn for_each_pdq_row(
        &self,
        gates: &[(ListId, u8)],
        f: impl FnMut(EntryId, ListId, Pdq),
    ) -> Result<(), StoreError> {
        on!(&self.inner, s => s.for_each_pdq_row(gates, f))
    }

    pub fn for_each_digest_row(
        &self,
        lists: &[ListId],
        f: impl FnMut(IndexRow),
    ) -> Result<(), StoreError> {
        on!(&self.inner, s => s.for_each_digest_row(lists, f))
    }

    pub fn max_entry_id(&self) -> Result<EntryId, StoreError> {
        on!(&self.inner, s => s.max_entry_id())
    }

    pub fn for_each_frame_row(&self, f: impl FnMut(FrameRow)) -> Result<(), StoreError> {
        on!(&self.inner, s => s.for_each_frame_row(f))
    }

    /// Whether `status` is one a match may report.
    pub fn is_matchable(status: Status) -> bool {
        SqliteStore::is_matchable(status)
    }

    // The allowlist.

    pub fn allow(
        &mut self,
        value: &Value,
        note: Option<&str>,
        by: Option<&str>,
    ) -> Result<i64, StoreError> {
        on!(&mut self.inner, s => s.allow(value, note, by))
    }

    pub fn disallow(&mut self, id: i64) -> Result<(), StoreError> {
        on!(&mut self.inner, s => s.disallow(id))
    }

    pub fn allowlist(&self) -> Result<Vec<(AllowEntry, Value)>, StoreError> {
        on!(&self.inner, s => s.allowlist())
    }

    // Changes, fingerprint, saved index rows.

    pub fn change_cursor(&mut self) -> Result<ChangeCursor, StoreError> {
        on!(&mut self.inner, s => s.change_cursor())
    }

    pub fn changes_since(
        &mut self,
        cursor: &ChangeCursor,
        max_entries: usize,
    ) -> Result<Changes, StoreError> {
        on!(&mut self.inner, s => s.changes_since(cursor, max_entries))
    }

    pub fn match_fingerprint(&self) -> Result<String, StoreError> {
        on!(&self.inner, s => s.match_fingerprint())
    }

    pub fn pdq_rows(&self, gates: &[(ListId, u8)]) -> Result<PdqRows, StoreError> {
        on!(&self.inner, s => s.pdq_rows(gates))
    }

    pub fn pdq_tables(&self, key: &RowsKey, n: usize) -> Option<SavedTables> {
        on!(&self.inner, s => s.pdq_tables(key, n))
    }

    pub fn save_pdq_tables(&self, key: &RowsKey, n: usize, bits: u32, tables: &[(&[u32], &[u32])]) {
        on!(&self.inner, s => s.save_pdq_tables(key, n, bits, tables))
    }

    pub fn pdq_rows_keyed(&self, gates: &[(ListId, u8)]) -> Result<(PdqRows, RowsKey), StoreError> {
        on!(&self.inner, s => s.pdq_rows_keyed(gates))
    }

    /// The PDQ entries added or whose status changed since `cursor` (the
    /// [`RowsKey::catch_up`] of saved rows), as they are now; `None` past
    /// `max`. An SQLite store's rows never need a catch-up (their key has
    /// none), so it answers with nothing to apply.
    pub fn pdq_changes_since(
        &self,
        cursor: &ChangeCursor,
        max: usize,
    ) -> Result<Option<Vec<super::pg::PdqChange>>, StoreError> {
        match &self.inner {
            Inner::Sqlite(_) => Ok(Some(Vec::new())),
            Inner::Postgres(s) => super::pg::blocking(|| s.pdq_changes_since(cursor, max)),
        }
    }

    /// Drop the saved index files that [`Store::pdq_rows_keyed`] would
    /// read (a catch-up found them too old): the next read is a full one.
    /// An SQLite store's files are checked by generation instead.
    pub fn forget_saved_index(&self) {
        if let Inner::Postgres(s) = &self.inner {
            s.forget_saved_index();
        }
    }

    // HMA content items.

    pub fn entry_id_of(
        &self,
        list_id: ListId,
        value: &Value,
    ) -> Result<Option<EntryId>, StoreError> {
        on!(&self.inner, s => s.entry_id_of(list_id, value))
    }

    pub fn hma_content_add(
        &mut self,
        list: &str,
        values: &[Value],
        note: Option<&str>,
        metadata: Option<&str>,
    ) -> Result<EntryId, StoreError> {
        on!(&mut self.inner, s => s.hma_content_add(list, values, note, metadata))
    }

    pub fn hma_content(
        &self,
        list_id: ListId,
        id: EntryId,
    ) -> Result<Option<HmaContent>, StoreError> {
        on!(&self.inner, s => s.hma_content(list_id, id))
    }

    pub fn hma_content_update(
        &mut self,
        id: EntryId,
        disable_until_ts: Option<i64>,
        note: Option<Option<&str>>,
    ) -> Result<(), StoreError> {
        on!(&mut self.inner, s => s.hma_content_update(id, disable_until_ts, note))
    }

    pub fn hma_content_delete(&mut self, list_id: ListId, id: EntryId) -> Result<u64, StoreError> {
        on!(&mut self.inner, s => s.hma_content_delete(list_id, id))
    }

    pub fn hma_contents_of(
        &self,
        entries: &[EntryId],
    ) -> Result<BTreeMap<EntryId, Vec<ContentOf>>, StoreError> {
        on!(&self.inner, s => s.hma_contents_of(entries))
    }

    pub fn hma_extra_signals(&self) -> Result<BTreeMap<(ListId, String), u64>, StoreError> {
        on!(&self.inner, s => s.hma_extra_signals())
    }

    pub fn hma_ratios(&self) -> Result<BTreeMap<String, f64>, StoreError> {
        on!(&self.inner, s => s.hma_ratios())
    }

    pub fn set_hma_ratio(&mut self, name: &str, ratio: f64) -> Result<(), StoreError> {
        on!(&mut self.inner, s => s.set_hma_ratio(name, ratio))
    }

    pub fn rename_list(&mut self, from: &str, to: &str) -> Result<(), StoreError> {
        on!(&mut self.inner, s => s.rename_list(from, to))
    }

    pub fn hma_signal_ratios(&self) -> Result<BTreeMap<String, f64>, StoreError> {
        on!(&self.inner, s => s.hma_signal_ratios())
    }

    pub fn set_hma_signal_ratio(&mut self, name: &str, ratio: f64) -> Result<(), StoreError> {
        on!(&mut self.inner, s => s.set_hma_signal_ratio(name, ratio))
    }

    pub fn hma_exchanges(&self) -> Result<Vec<HmaExchange>, StoreError> {
        on!(&self.inner, s => s.hma_exchanges())
    }

    pub fn hma_exchange_create(&mut self, e: &HmaExchange) -> Result<bool, StoreError> {
        on!(&mut self.inner, s => s.hma_exchange_create(e))
    }

    pub fn hma_exchange_set_enabled(
        &mut self,
        name: &str,
        enabled: bool,
    ) -> Result<bool, StoreError> {
        on!(&mut self.inner, s => s.hma_exchange_set_enabled(name, enabled))
    }

    pub fn hma_exchange_delete(&mut self, name: &str) -> Result<bool, StoreError> {
        on!(&mut self.inner, s => s.hma_exchange_delete(name))
    }

    pub fn hma_exchange_fetch_status(
        &self,
        name: &str,
    ) -> Result<Option<HmaFetchStatus>, StoreError> {
        on!(&self.inner, s => s.hma_exchange_fetch_status(name))
    }

    pub fn hma_exchange_start_fetch(&mut self, name: &str) -> Result<bool, StoreError> {
        on!(&mut self.inner, s => s.hma_exchange_start_fetch(name))
    }

    pub fn hma_exchange_complete_fetch(
        &mut self,
        name: &str,
        end: &FetchEnd,
    ) -> Result<bool, StoreError> {
        on!(&mut self.inner, s => s.hma_exchange_complete_fetch(name, end))
    }

    pub fn hma_exchange_commit_fetch(
        &mut self,
        name: &str,
        values: &[Value],
        checkpoint: &str,
        checkpoint_ts: Option<i64>,
    ) -> Result<Option<FetchCommit>, StoreError> {
        on!(&mut self.inner, s => s.hma_exchange_commit_fetch(name, values, checkpoint, checkpoint_ts))
    }

    // API tokens.

    pub fn create_token(
        &mut self,
        scopes: &[Scope],
        note: Option<&str>,
        expires_at: Option<i64>,
    ) -> Result<(i64, String), StoreError> {
        on!(&mut self.inner, s => s.create_token(scopes, note, expires_at))
    }

    pub fn revoke_token(&mut self, id: i64) -> Result<(), StoreError> {
        on!(&mut self.inner, s => s.revoke_token(id))
    }

    pub fn record_token_use(&mut self, uses: &[(i64, i64)]) -> Result<(), StoreError> {
        on!(&mut self.inner, s => s.record_token_use(uses))
    }

    pub fn has_any_token(&self) -> Result<bool, StoreError> {
        on!(&self.inner, s => s.has_any_token())
    }

    pub fn tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
        on!(&self.inner, s => s.tokens())
    }

    pub fn token_rows(&self) -> Result<Vec<([u8; 32], TokenInfo)>, StoreError> {
        on!(&self.inner, s => s.token_rows())
    }

    pub fn verify_token(&self, secret: &str) -> Result<Option<TokenInfo>, StoreError> {
        on!(&self.inner, s => s.verify_token(secret))
    }
}
