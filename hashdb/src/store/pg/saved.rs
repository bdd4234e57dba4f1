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
//! Saving is best effort (a read-only cache folder only costs the speed),
//! and happens at every full read, so the files are as recent as the last
//! full read on this machine; the catch-up grows with the changes since,
//! and a catch-up of more than a quarter of the rows is a full read again
//! (which saves new files).

use std::path::PathBuf;

use super::PgStore;
use crate::error::StoreError;
use crate::model::{EntryId, ListId};
use crate::store::changes::STATUS_MARGIN_SECS;
use crate::store::sealed::{write_sealed, SealedReader};
use crate::store::snapshot::{read_rows, read_tables, write_rows, write_tables, RowsKey};
use crate::store::{ChangeCursor, PdqRows, SavedTables};
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
}
