//! Saved index files for a PostgreSQL store: the counterpart of an SQLite
//! database's `<db>.pdq-rows` and `<db>.pdq-tables` (see
//! `store/snapshot.rs`), plus where the change log stood when they were
//! read, so that a new server starts from the files and catches up.
//!
//! Why: a server's start reads every active PDQ row and builds the index
//! over them; at ten million entries that is most of a minute, which a
//! fleet that scales out on load cannot wait. The rows and the index's
//! static tables are saved on the machine (one PostgreSQL database has
//! many servers, each with its own disk), and a later start reads them at
//! disk speed and applies what changed since from the change log
//! ([`PgStore::pdq_changes_since`], one query), instead of reading
//! everything again.
//!
//! Where: `$HASHSIEVE_INDEX_DIR`, when set (unset: no files, every load
//! is a full read). Opt-in, unlike SQLite's files next to the database:
//! they take about 1.5 GB per 10M entries, which no process should write
//! into a home folder unasked (every test against a throwaway server
//! would leave its own there). The file names carry a hash of the
//! database's URL (without its password) and identity, so two databases
//! never share files.
//!
//! Why it cannot give different results:
//! * the files are sealed by a checksum (`store::sealed`) and keyed by the
//!   index generation of the snapshot they were read from, and by the
//!   lists and quality gates (a list enabled, disabled, deleted or
//!   re-gated since makes them unusable: a full read);
//! * the cursor file records that generation with the change cursor
//!   taken just before the snapshot, so every change committed after the
//!   rows were read is in the catch-up (a change read twice is applied
//!   twice, which is harmless: remove, then add if active);
//! * the files are named by the URL and the database's identity (the
//!   cluster's system identifier and the database's OID), and a sample
//!   of the saved rows is compared with the database (every sampled entry
//!   still there must have the same value, and at least half must be
//!   there), else a full read: the URL can come to name another database
//!   (a restore, a new server).
//!
//! Saving is best effort (a read-only cache folder only costs the speed).
//! It happens at every full read, and a running server saves the files
//! again from its in-memory index when the catch-up from them has grown
//! past a bound ([`Store::save_index_snapshot`], driven by
//! `src/serve/index_save.rs`), so the catch-up of a start stays bounded;
//! a catch-up of more than a quarter of the rows is a full read again
//! (which saves new files). Each save also removes stale files of the
//! folder ([`prune_index_dir`]): temporary files of saves that died, and
//! other databases' files unused on this machine for 30 days.

use std::path::PathBuf;

/// An index's static tables as the files hold them: per table, its
/// offsets and its slots.
pub type TableParts<'a> = &'a [(&'a [u32], &'a [u32])];

use super::PgStore;
use crate::error::StoreError;
use crate::model::{EntryId, ListId};
use crate::store::changes::STATUS_MARGIN_SECS;
use crate::store::sealed::{write_sealed, SealedReader};
use crate::store::snapshot::{read_rows, read_tables, write_rows, write_tables, RowsKey};
use crate::store::{ChangeCursor, Inner, PdqRows, SavedTables, Store};
use crate::types::Pdq;

/// First bytes of a cursor file.
const CURSOR_MAGIC: &[u8; 8] = b"HSPGCU01";

/// Sampled rows compared with the database before saved rows are used.
const SAMPLE: usize = 64;

/// A PDQ entry changed since a cursor, as it is now.
#[derive(Debug, Clone)]
pub struct PdqChange {
    pub entry: EntryId,
    pub list: ListId,
    pub hash: Pdq,
    pub quality: Option<u8>,
    /// Active (not disabled or disputed).
    pub active: bool,
}

/// The folder of saved index files (`$HASHSIEVE_INDEX_DIR`), created if
/// needed; `None` when unset.
fn index_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("HASHSIEVE_INDEX_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)?;
    std::fs::create_dir_all(&dir).ok()?;
    Some(dir)
}

fn cursor_header() -> Vec<u8> {
    CURSOR_MAGIC.to_vec()
}

fn put_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn encode_cursor(generation: i64, c: &ChangeCursor) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + c.lists_sig.len());
    put_i64(&mut out, generation);
    put_i64(&mut out, c.max_entry);
    put_i64(&mut out, c.status_since);
    put_i64(&mut out, c.allow_sig.0);
    put_i64(&mut out, c.allow_sig.1);
    put_i64(&mut out, c.data_version);
    put_i64(&mut out, c.lists_sig.len() as i64);
    out.extend_from_slice(c.lists_sig.as_bytes());
    out
}

fn decode_cursor(b: &[u8]) -> Option<(i64, ChangeCursor)> {
    let i = |k: usize| -> Option<i64> {
        Some(i64::from_le_bytes(
            b.get(k * 8..k * 8 + 8)?.try_into().ok()?,
        ))
    };
    let len = usize::try_from(i(6)?).ok()?;
    let sig = b.get(56..56usize.checked_add(len)?)?;
    if b.len() != 56 + len {
        return None;
    }
    Some((
        i(0)?,
        ChangeCursor {
            max_entry: i(1)?,
            status_since: i(2)?,
            allow_sig: (i(3)?, i(4)?),
            data_version: i(5)?,
            lists_sig: String::from_utf8(sig.to_vec()).ok()?,
            // Not kept: only the entries' part is caught up from here.
            ..ChangeCursor::default()
        },
    ))
}

impl PgStore {
    /// `<index dir>/pg-<hash>.<suffix>`, the hash of the URL (without its
    /// password and TLS options) and of the database's identity: the
    /// cluster's system identifier (made by `initdb`) and the database's
    /// OID, so a database dropped and made again, or another server
    /// behind the same address, never finds this one's files. `None` when the identity cannot be
    /// read (no files then: every load is a full read).
    fn saved_path(&self, suffix: &str) -> Option<PathBuf> {
        let dir = index_dir()?;
        let identity: String = self
            .client()
            .ok()?
            .query_one(
                "SELECT (SELECT system_identifier FROM pg_control_system())::text || ':'
                     || (SELECT oid FROM pg_database WHERE datname = current_database())::text",
                &[],
            )
            .ok()?
            .try_get(0)
            .ok()?;
        let mut h = blake3::Hasher::new();
        // Without its TLS options: the same database asked for with
        // another `sslmode` or CA file keeps its saved index.
        let shown = self.shown.to_string_lossy();
        h.update(super::tls::strip(&shown).as_bytes());
        h.update(b"\0");
        h.update(identity.as_bytes());
        Some(dir.join(format!("pg-{}.{suffix}", &h.finalize().to_hex()[..24])))
    }

    /// The saved generation and cursor, if a cursor file is there and whole.
    fn saved_cursor(&self) -> Option<(i64, ChangeCursor)> {
        let path = self.saved_path("pdq-cursor")?;
        let head = cursor_header();
        let (mut r, got) = SealedReader::open(&path, head.len())?;
        if got != head {
            return None;
        }
        let mut body = vec![
            0u8;
            usize::try_from(r.payload_len())
                .ok()
                .filter(|&n| n < 1 << 20)?
        ];
        r.read_exact(&mut body)?;
        if !r.verify() {
            return None;
        }
        decode_cursor(&body)
    }

    /// Saved rows for `gates` with their key (carrying the cursor to catch
    /// up from), if the files are usable for this database (see the module
    /// docs).
    pub(super) fn saved_rows(&self, gates: &[(ListId, u8)]) -> Option<(PdqRows, RowsKey)> {
        let (generation, cursor) = self.saved_cursor()?;
        let rows = read_rows(&self.saved_path("pdq-rows")?, generation, gates)?;
        self.sample_agrees(&rows).ok().filter(|&ok| ok)?;
        Some((
            rows,
            RowsKey {
                generation,
                gates: gates.to_vec(),
                catch_up: Some(cursor),
            },
        ))
    }

    /// Whether a sample of `rows` is in the database with the same values
    /// (entries deleted since may be missing; at least half must be there).
    fn sample_agrees(&self, rows: &PdqRows) -> Result<bool, StoreError> {
        let n = rows.len();
        if n == 0 {
            return Ok(true);
        }
        let picks: Vec<usize> = (0..SAMPLE.min(n)).map(|k| k * n / SAMPLE.min(n)).collect();
        let ids: Vec<i64> = picks.iter().map(|&k| rows.entries[k]).collect();
        let mut c = self.client()?;
        let found = c.query(
            "SELECT id, value FROM entries WHERE id = ANY($1) AND signal_type = 'pdq'",
            &[&ids],
        )?;
        let mut seen = 0;
        for r in found {
            let id: i64 = r.try_get(0)?;
            let value: &[u8] = r.try_get(1)?;
            let Some(k) = picks.iter().find(|&&k| rows.entries[k] == id) else {
                continue;
            };
            if value != Pdq::from_words(rows.hashes[*k]).0.as_slice() {
                return Ok(false);
            }
            seen += 1;
        }
        Ok(seen * 2 >= picks.len())
    }

    /// Save rows read at `generation` after `cursor` was taken (best
    /// effort). The cursor file goes last and names the generation, so a
    /// reader never pairs it with rows of another read.
    pub(super) fn save_rows(
        &self,
        generation: i64,
        cursor: &ChangeCursor,
        gates: &[(ListId, u8)],
        rows: &PdqRows,
    ) {
        let (Some(rows_path), Some(cursor_path)) =
            (self.saved_path("pdq-rows"), self.saved_path("pdq-cursor"))
        else {
            return;
        };
        if write_rows(&rows_path, generation, gates, rows).is_ok() {
            let body = encode_cursor(generation, cursor);
            let _ = write_sealed(&cursor_path, &cursor_header(), |w| w.write_all(&body));
        }
        if let (Some(dir), Some(stem)) = (
            cursor_path.parent(),
            cursor_path.file_stem().and_then(|s| s.to_str()),
        ) {
            prune_index_dir(dir, stem, abandoned_after());
        }
    }

    pub(super) fn saved_tables(&self, key: &RowsKey, n: usize) -> Option<SavedTables> {
        read_tables(&self.saved_path("pdq-tables")?, key, n)
    }

    pub(super) fn save_tables(&self, key: &RowsKey, n: usize, bits: u32, t: &[(&[u32], &[u32])]) {
        if let Some(path) = self.saved_path("pdq-tables") {
            let _ = write_tables(&path, key, n, bits, t);
        }
    }

    /// Forget the saved files (a catch-up found them unusable): the next
    /// [`PgStore::pdq_rows_keyed`] reads the database and saves anew.
    pub fn forget_saved_index(&self) {
        if let Some(p) = self.saved_path("pdq-cursor") {
            let _ = std::fs::remove_file(p);
        }
    }

    /// The PDQ entries added or whose status changed since `cursor`, as
    /// they are now, in one query; `None` when there are more than
    /// `max` (a full read is cheaper then).
    pub fn pdq_changes_since(
        &self,
        cursor: &ChangeCursor,
        max: usize,
    ) -> Result<Option<Vec<PdqChange>>, StoreError> {
        let since = cursor.status_since - STATUS_MARGIN_SECS;
        let mut c = self.client()?;
        let mut tx = c
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()?;
        let count: i64 = tx
            .query_one(
                "SELECT count(*) FROM entries
                 WHERE signal_type = 'pdq' AND (id > $1 OR status_at >= $2)",
                &[&cursor.max_entry, &since],
            )?
            .try_get(0)?;
        if count as u64 > max as u64 {
            tx.commit()?;
            return Ok(None);
        }
        let mut out = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
        for r in tx.query(
            "SELECT id, list_id, value, quality, status FROM entries
             WHERE signal_type = 'pdq' AND (id > $1 OR status_at >= $2) ORDER BY id",
            &[&cursor.max_entry, &since],
        )? {
            let value: &[u8] = r.try_get(2)?;
            let hash: [u8; 32] = value.try_into().map_err(|_| StoreError::Corrupt {
                table: "entries",
                message: format!("pdq value has {} bytes, expected 32", value.len()),
            })?;
            let quality: Option<i64> = r.try_get(3)?;
            let status: &str = r.try_get(4)?;
            out.push(PdqChange {
                entry: r.try_get(0)?,
                list: r.try_get(1)?,
                hash: Pdq(hash),
                quality: quality.and_then(|q| u8::try_from(q).ok()),
                active: status == "active",
            });
        }
        tx.commit()?;
        Ok(Some(out))
    }
}

/// The suffixes of one database's saved files.
const SUFFIXES: [&str; 3] = ["pdq-rows", "pdq-tables", "pdq-cursor"];

/// Files of another database that nothing on this machine used (a start
/// that read them, a save, or a running server's hourly mark, see
/// [`Store::mark_saved_index_used`]) for this long are removed by the
/// next save (`$HASHSIEVE_INDEX_MAX_AGE_DAYS` to change it).
const ABANDONED_AFTER: std::time::Duration = std::time::Duration::from_secs(30 * 86_400);

/// A temporary file of a save that did not finish (its process died) is
/// removed after this long; a save under way takes seconds.
const TEMP_ABANDONED_AFTER: std::time::Duration = std::time::Duration::from_secs(3_600);

/// What [`Store::save_index_snapshot`] did.
#[derive(Debug, Clone)]
pub struct SnapshotSaved {
    /// Rows written.
    pub rows: usize,
    /// Bytes of the three files.
    pub bytes: u64,
    /// Stale files removed from the folder (see [`prune_index_dir`]).
    pub removed: Vec<PathBuf>,
}

/// A generation for rows saved from memory: unique to this save, so that
/// the cursor file is never paired with rows or tables another process
/// wrote at the same time (it pairs only with the files of this save).
fn fresh_generation(cursor: &ChangeCursor) -> i64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SAVES: AtomicU64 = AtomicU64::new(0);
    let mut h = blake3::Hasher::new();
    h.update(b"hashsieve saved index generation\0");
    h.update(&std::process::id().to_le_bytes());
    h.update(&SAVES.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    h.update(&t.as_nanos().to_le_bytes());
    h.update(&encode_cursor(0, cursor));
    let b = h.finalize();
    i64::from_le_bytes(b.as_bytes()[..8].try_into().unwrap_or([0; 8]))
}

/// `pg-<24 hex>` and what follows, for a file name of ours: the stem, the
/// suffix, and whether it is a temporary file (`.<suffix>.tmp<pid>`).
fn our_file(name: &str) -> Option<(&str, &str, bool)> {
    let (stem, rest) = name.split_at_checked(27)?;
    let hex = stem.strip_prefix("pg-")?;
    if !hex
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        return None;
    }
    let rest = rest.strip_prefix('.')?;
    let (suffix, temp) = match rest.split_once(".tmp") {
        Some((s, pid)) if !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) => (s, true),
        Some(_) => return None,
        None => (rest, false),
    };
    SUFFIXES.contains(&suffix).then_some((stem, suffix, temp))
}

/// Remove what is stale in the index folder `dir`, for a process whose
/// files are named `ours` (`pg-<hash>`), and return what went. Only
/// files named as this module names them are ever looked at:
/// * temporary files (a save whose process died) older than an hour,
///   of any database;
/// * every file of another database when the newest of them is older
///   than `abandoned_after`: servers of a database in use mark its files
///   at start, at every save and hourly, so only a database nothing on
///   this machine used for that long loses its files (and if it comes
///   back, its next start is a full read that saves them again).
///
/// This database's own files are replaced in place by each save (one name
/// per file), so no older generation of them stays behind.
pub fn prune_index_dir(
    dir: &std::path::Path,
    ours: &str,
    abandoned_after: std::time::Duration,
) -> Vec<PathBuf> {
    use std::collections::HashMap;
    let now = std::time::SystemTime::now();
    let age = |m: &std::fs::Metadata| {
        m.modified()
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .unwrap_or_default()
    };
    let Ok(listing) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    // Other databases' files: the youngest age of each, and the files.
    let mut others: HashMap<String, (std::time::Duration, Vec<PathBuf>)> = HashMap::new();
    for e in listing.flatten() {
        let name = e.file_name();
        let Some((stem, _, temp)) = name.to_str().and_then(our_file) else {
            continue;
        };
        let Ok(meta) = e.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        let path = e.path();
        if temp {
            if age(&meta) >= TEMP_ABANDONED_AFTER && std::fs::remove_file(&path).is_ok() {
                removed.push(path);
            }
            continue;
        }
        if stem == ours {
            continue;
        }
        let slot = others
            .entry(stem.to_string())
            .or_insert((std::time::Duration::MAX, Vec::new()));
        slot.0 = slot.0.min(age(&meta));
        slot.1.push(path);
    }
    for (youngest, files) in others.into_values() {
        if youngest >= abandoned_after {
            for f in files {
                if std::fs::remove_file(&f).is_ok() {
                    removed.push(f);
                }
            }
        }
    }
    removed.sort();
    removed
}

/// How long another database's files may go unused before a save here
/// removes them.
fn abandoned_after() -> std::time::Duration {
    std::env::var("HASHSIEVE_INDEX_MAX_AGE_DAYS")
        .ok()
        .and_then(|d| d.trim().parse::<f64>().ok())
        .filter(|d| d.is_finite() && *d > 0.0)
        .map(|d| std::time::Duration::from_secs_f64(d * 86_400.0))
        .unwrap_or(ABANDONED_AFTER)
}

impl PgStore {
    /// `pg-<hash>` for this database (see [`PgStore::saved_path`]).
    fn saved_stem(&self) -> Option<(PathBuf, String)> {
        let path = self.saved_path("x")?;
        let dir = path.parent()?.to_path_buf();
        let stem = path.file_stem()?.to_str()?.to_string();
        Some((dir, stem))
    }

    fn save_snapshot(
        &self,
        cursor: &ChangeCursor,
        gates: &[(ListId, u8)],
        rows: &PdqRows,
        tables: Option<(u32, TableParts<'_>)>,
    ) -> std::io::Result<Option<SnapshotSaved>> {
        let Some((dir, stem)) = self.saved_stem() else {
            return Ok(None);
        };
        let path = |suffix: &str| dir.join(format!("{stem}.{suffix}"));
        let mut gates = gates.to_vec();
        gates.sort_unstable();
        let generation = fresh_generation(cursor);
        write_rows(&path("pdq-rows"), generation, &gates, rows)?;
        match tables {
            Some((bits, t)) => {
                let key = RowsKey {
                    generation,
                    gates: gates.clone(),
                    catch_up: None,
                };
                write_tables(&path("pdq-tables"), &key, rows.len(), bits, t)?;
            }
            // Tables of an older save cannot match these rows.
            None => {
                let _ = std::fs::remove_file(path("pdq-tables"));
            }
        }
        // Last: until it is replaced, the old cursor names the old
        // generation, which the new rows do not have, so a start in
        // between reads the database whole rather than mix the two.
        let body = encode_cursor(generation, cursor);
        write_sealed(&path("pdq-cursor"), &cursor_header(), |w| {
            w.write_all(&body)
        })?;
        let bytes = SUFFIXES
            .iter()
            .filter_map(|s| std::fs::metadata(path(s)).ok())
            .map(|m| m.len())
            .sum();
        let removed = prune_index_dir(&dir, &stem, abandoned_after());
        Ok(Some(SnapshotSaved {
            rows: rows.len(),
            bytes,
            removed,
        }))
    }

    fn mark_saved_used(&self) {
        let Some((dir, stem)) = self.saved_stem() else {
            return;
        };
        for s in SUFFIXES {
            if let Ok(f) = std::fs::File::options()
                .write(true)
                .open(dir.join(format!("{stem}.{s}")))
            {
                let _ = f.set_modified(std::time::SystemTime::now());
            }
        }
    }
}

impl Store {
    /// Save PDQ rows taken from a running matcher (see
    /// `Matcher::pdq_snapshot`) as this machine's saved index, caught up
    /// to `cursor`: the matcher held at least every change before it (a
    /// change after it, held too, is applied again at the next start,
    /// which is harmless). `tables`: the static tables of an index built
    /// over exactly these rows, in this order. Each file is written to a
    /// temporary name and renamed, sealed by its checksum, the cursor
    /// last; then stale files are removed ([`prune_index_dir`]).
    /// `Ok(None)` on SQLite (its files follow the database by
    /// generation) or without `$HASHSIEVE_INDEX_DIR`.
    ///
    /// # Errors
    /// Writing a file failed (the files of the last save stay usable, or
    /// a start reads the database whole).
    pub fn save_index_snapshot(
        &self,
        cursor: &ChangeCursor,
        gates: &[(ListId, u8)],
        rows: &PdqRows,
        tables: Option<(u32, TableParts<'_>)>,
    ) -> std::io::Result<Option<SnapshotSaved>> {
        match &self.inner {
            Inner::Postgres(pg) => pg.save_snapshot(cursor, gates, rows, tables),
            Inner::Sqlite(_) => Ok(None),
        }
    }

    /// Mark this database's saved files as in use (their modification
    /// time), so that no save for another database on this machine takes
    /// them for abandoned ([`prune_index_dir`]). A no-op on SQLite.
    pub fn mark_saved_index_used(&self) {
        if let Inner::Postgres(pg) = &self.inner {
            pg.mark_saved_used();
        }
    }

    /// Whether this store keeps a saved index in `$HASHSIEVE_INDEX_DIR`
    /// (PostgreSQL with the variable set).
    pub fn keeps_saved_index(&self) -> bool {
        matches!(self.inner, Inner::Postgres(_)) && index_dir().is_some()
    }
}

impl PgStore {
    /// How many PDQ entries a catch-up from `cursor` would apply (see
    /// [`PgStore::pdq_changes_since`]), counted up to `cap`.
    fn catch_up_len(&self, cursor: &ChangeCursor, cap: u64) -> Result<u64, StoreError> {
        let since = cursor.status_since - STATUS_MARGIN_SECS;
        let cap = i64::try_from(cap).unwrap_or(i64::MAX);
        let n: i64 = self
            .client()?
            .query_one(
                "SELECT count(*) FROM (SELECT 1 FROM entries
                 WHERE signal_type = 'pdq' AND (id > $1 OR status_at >= $2) LIMIT $3) AS c",
                &[&cursor.max_entry, &since, &cap],
            )?
            .try_get(0)?;
        Ok(n.max(0) as u64)
    }

    /// The saved cursor and when its file was written.
    fn saved_cursor_at(&self) -> Option<(ChangeCursor, std::time::SystemTime)> {
        let at = std::fs::metadata(self.saved_path("pdq-cursor")?)
            .ok()?
            .modified()
            .ok()?;
        Some((self.saved_cursor()?.1, at))
    }
}

impl Store {
    /// Where this machine's saved index of this database stands: its
    /// cursor and when it was written; `None` without one (or on SQLite).
    pub fn saved_index_cursor(&self) -> Option<(ChangeCursor, std::time::SystemTime)> {
        match &self.inner {
            Inner::Postgres(pg) => pg.saved_cursor_at(),
            Inner::Sqlite(_) => None,
        }
    }

    /// Whether nothing at all was written between cursors `then` and
    /// `now` (no entry added, no write of any kind): a catch-up from
    /// `then` would find nothing new.
    pub fn nothing_written_between(then: &ChangeCursor, now: &ChangeCursor) -> bool {
        then.data_version == now.data_version && then.max_entry == now.max_entry
    }

    /// How many PDQ entries a start from saved files at `cursor` would
    /// catch up, counted up to `cap` (one count on the entries' indexes).
    /// 0 on SQLite, whose saved files are used only while unchanged.
    pub fn pdq_catch_up_len(&self, cursor: &ChangeCursor, cap: u64) -> Result<u64, StoreError> {
        match &self.inner {
            Inner::Postgres(pg) => pg.catch_up_len(cursor, cap),
            Inner::Sqlite(_) => Ok(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_short_or_long_bodies() {
        let c = ChangeCursor {
            max_entry: 42,
            status_since: 1_700_000_000,
            lists_sig: "1:true:31".into(),
            allow_sig: (3, 9),
            data_version: 77,
            ..ChangeCursor::default()
        };
        let b = encode_cursor(-5, &c);
        assert_eq!(decode_cursor(&b), Some((-5, c.clone())));
        assert_eq!(decode_cursor(&b[..b.len() - 1]), None);
        assert_eq!(decode_cursor(&[b.clone(), vec![0]].concat()), None);
        assert_eq!(decode_cursor(&b[..20]), None);
    }

    /// Saved rows are checked against the database they are loaded for: a
    /// URL that came to name another database (same ids, other hashes)
    /// gets a full read; rows whose entries were deleted since still pass
    /// while at least half of the sample is there.
    #[test]
    fn the_sample_check_refuses_rows_of_another_database() {
        use crate::model::{NewList, Record, Value};
        use crate::store::backend_tests::TestDb;
        use crate::store::Inner;
        let Some(db) = TestDb::postgres() else {
            return;
        };
        let mut s = db.open();
        let list = s.create_list(&NewList::new("a")).unwrap().id;
        let pdq = |i: u64| Pdq::from_words([i.wrapping_mul(0x9e37_79b9_7f4a_7c15), i, !i, i << 9]);
        let recs =
            (0..200u64).map(|i| Ok::<_, crate::error::ParseError>(Record::new(Value::Pdq(pdq(i)))));
        s.import("a", recs, std::path::Path::new("t"), Default::default())
            .unwrap();
        let Inner::Postgres(pg) = &s.inner else {
            panic!("a PostgreSQL store");
        };
        let (rows, key) = pg.read_pdq_rows(vec![(list, 0)]).unwrap();
        assert_eq!(rows.len(), 200);
        assert!(key.catch_up.is_none());
        assert!(pg.sample_agrees(&rows).unwrap());
        // The same ids holding other hashes: another database.
        let mut other = rows.clone();
        for h in other.hashes.iter_mut().skip(100) {
            h[0] ^= 1;
        }
        assert!(!pg.sample_agrees(&other).unwrap());
        // Ids the database never had (most of the sample): refused too.
        let mut gone = rows.clone();
        for e in gone.entries.iter_mut().skip(60) {
            *e += 1_000_000;
        }
        assert!(!pg.sample_agrees(&gone).unwrap());
        // A few missing (deleted since): still this database.
        let mut few = rows.clone();
        for e in few.entries.iter_mut().take(20) {
            *e += 1_000_000;
        }
        assert!(pg.sample_agrees(&few).unwrap());
    }

    /// Only files named as this module names them are looked at: another
    /// database's files go when the newest of them is past the age (one
    /// file in use keeps them all), this database's never, temporary
    /// files of a dead save after an hour.
    #[test]
    fn pruning_removes_only_abandoned_files_named_as_ours() {
        use std::time::{Duration, SystemTime};
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let stem = |c: &str| format!("pg-{}", c.repeat(24));
        let (ours, young, stale, mixed) = (stem("a"), stem("b"), stem("c"), stem("0"));
        let day = Duration::from_secs(86_400);
        let now = SystemTime::now();
        let files = [
            (format!("{ours}.pdq-rows"), now - 40 * day),
            (format!("{ours}.pdq-cursor"), now - 40 * day),
            (format!("{young}.pdq-rows"), now - day),
            (format!("{stale}.pdq-rows"), now - 31 * day),
            (format!("{stale}.pdq-tables"), now - 35 * day),
            (format!("{stale}.pdq-cursor"), now - 31 * day),
            (format!("{mixed}.pdq-rows"), now - 90 * day),
            (format!("{mixed}.pdq-cursor"), now),
            (
                format!("{young}.pdq-rows.tmp123"),
                now - Duration::from_secs(7_200),
            ),
            (format!("{young}.pdq-tables.tmp124"), now),
            ("notes.txt".to_string(), now - 90 * day),
            (format!("{stale}.pdq-rows.bak"), now - 90 * day),
            (format!("{stale}.pdq-rows.tmp"), now - 90 * day),
            ("pg-xyz.pdq-rows".to_string(), now - 90 * day),
            (format!("pg-{}.pdq-rows", "A".repeat(24)), now - 90 * day),
        ];
        for (name, at) in &files {
            let f = std::fs::File::create(d.join(name)).unwrap();
            f.set_modified(*at).unwrap();
        }
        let removed: Vec<String> = prune_index_dir(d, &ours, 30 * day)
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            removed,
            [
                format!("{young}.pdq-rows.tmp123"),
                format!("{stale}.pdq-cursor"),
                format!("{stale}.pdq-rows"),
                format!("{stale}.pdq-tables"),
            ]
        );
        let left = std::fs::read_dir(d).unwrap().count();
        assert_eq!(left, files.len() - 4);
    }
}
