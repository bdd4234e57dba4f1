//! The PDQ rows the index is built from, saved next to the database.
//!
//! Why: every scan and every service start reads all active PDQ entries
//! (a million rows is about 0.2 s of SQLite stepping) before it can match
//! anything; for a short scan that fixed cost is more than the matching
//! itself. The rows change only when the lists do, so the first load saves
//! them as flat arrays in `<database>.pdq-rows`, and later loads read that
//! file (about 100 MB per million rows, read at memory speed) instead.
//!
//! Why it cannot give different results: the file records the database's
//! index generation (schema V4: a random 64-bit value that triggers replace
//! on every change of an entry's list, type, value, quality or status, and
//! of any list, so two databases, or two copies of one that went separate
//! ways, do not share it), and
//! the lists and quality gates it was read for. It is used only when both
//! equal what the database says now, read in the same transaction as the
//! generation; anything else (missing, older, damaged, truncated, another
//! format, or bytes that fail the file's checksum: see `store::sealed`)
//! means reading SQLite as before, then replacing the file. Saving is best
//! effort: a read-only folder only costs the speed.
//!
//! The index's static tables built over those rows are saved the same way
//! (`<database>.pdq-tables`, keyed by the same generation, gates and row
//! count), since building them is most of the rest of the load; the index
//! checks their shape before using them.

use std::path::{Path, PathBuf};

use super::sealed::{write_sealed, SealedReader};
use super::SqliteStore;
use crate::error::StoreError;
use crate::model::{EntryId, ListId};
use crate::types::Pdq;

/// First bytes of a rows file (format version 2: sealed by a checksum,
/// see `store::sealed`; files of version 1 are rebuilt).
const MAGIC: &[u8; 8] = b"HSPDQR02";

/// Active PDQ entries of the enabled lists that pass their gates, in id
/// order, as parallel arrays.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PdqRows {
    pub entries: Vec<EntryId>,
    pub lists: Vec<ListId>,
    pub hashes: Vec<[u64; 4]>,
}

impl PdqRows {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Where the rows of the database at `db` are saved.
pub fn rows_path(db: &Path) -> PathBuf {
    let mut s = db.as_os_str().to_os_string();
    s.push(".pdq-rows");
    PathBuf::from(s)
}

/// What saved rows and tables are valid for: the generation of the
/// database they were read at and the lists and gates they were read for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowsKey {
    pub(super) generation: i64,
    pub(super) gates: Vec<(ListId, u8)>,
    /// Rows saved by an earlier read of a PostgreSQL store: the change
    /// log position to catch up from (see `pg/saved.rs`). `None`: the rows
    /// are the database as it is (every SQLite read: its files are used
    /// only while the generation is unchanged).
    pub(super) catch_up: Option<super::ChangeCursor>,
}

impl RowsKey {
    /// Where the rows' database stood, when they are older than it (a
    /// PostgreSQL store's saved rows): apply the changes since (see
    /// [`crate::store::Store::pdq_changes_since`]).
    pub fn catch_up(&self) -> Option<&super::ChangeCursor> {
        self.catch_up.as_ref()
    }
}

/// Saved static tables of the index: key width and (offsets, slots) each.
pub type SavedTables = (u32, Vec<(Vec<u32>, Vec<u32>)>);

impl SqliteStore {
    /// The index generation, read inside a read transaction that the
    /// caller keeps while it reads what the generation describes (none is
    /// opened inside a caller's own transaction, which does the same).
    pub(super) fn generation_read(
        &self,
    ) -> Result<(Option<rusqlite::Transaction<'_>>, i64), StoreError> {
        let tx = if self.conn.is_autocommit() {
            Some(self.conn.unchecked_transaction()?)
        } else {
            None
        };
        let generation: i64 =
            self.conn
                .query_row("SELECT value FROM index_generation WHERE id = 1", [], |r| {
                    r.get(0)
                })?;
        Ok((tx, generation))
    }

    /// The rows of [`Store::for_each_pdq_row`] for the lists and gates in
    /// `gates`, from the saved file when it matches the database (see the
    /// module docs), else from SQLite (then saved for the next load).
    pub fn pdq_rows(&self, gates: &[(ListId, u8)]) -> Result<PdqRows, StoreError> {
        Ok(self.pdq_rows_keyed(gates)?.0)
    }

    /// The index tables saved for `key` over `n` rows, if any.
    pub fn pdq_tables(&self, key: &RowsKey, n: usize) -> Option<SavedTables> {
        read_tables(&tables_path(self.path()), key, n)
    }

    /// Save the index tables built over the `n` rows read for `key` (best
    /// effort, see the module docs).
    pub fn save_pdq_tables(&self, key: &RowsKey, n: usize, bits: u32, tables: &[(&[u32], &[u32])]) {
        let _ = write_tables(&tables_path(self.path()), key, n, bits, tables);
    }

    /// [`Store::pdq_rows`], with what they are valid for (to key the index
    /// tables built over them).
    pub fn pdq_rows_keyed(&self, gates: &[(ListId, u8)]) -> Result<(PdqRows, RowsKey), StoreError> {
        let mut gates = gates.to_vec();
        gates.sort_unstable();
        // One read transaction: the generation and the rows agree (inside
        // a caller's transaction, that one does the same).
        let (tx, generation) = self.generation_read()?;
        let path = rows_path(self.path());
        if let Some(rows) = read_rows(&path, generation, &gates) {
            return Ok((
                rows,
                RowsKey {
                    generation,
                    gates,
                    catch_up: None,
                },
            ));
        }
        let bound = usize::try_from(self.max_entry_id()?).unwrap_or(0);
        let mut rows = PdqRows {
            entries: Vec::with_capacity(bound),
            lists: Vec::with_capacity(bound),
            hashes: Vec::with_capacity(bound),
        };
        self.for_each_pdq_row(&gates, |entry, list, p: Pdq| {
            rows.entries.push(entry);
            rows.lists.push(list);
            rows.hashes.push(p.words());
        })?;
        drop(tx);
        // Best effort (see the module docs); an in-memory or unnamed
        // database has no folder to save into.
        let _ = write_rows(&path, generation, &gates, &rows);
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

/// Where the index tables of the database at `db` are saved.
pub fn tables_path(db: &Path) -> PathBuf {
    let mut s = db.as_os_str().to_os_string();
    s.push(".pdq-tables");
    PathBuf::from(s)
}

/// First bytes of a tables file (format version 2: sealed by a checksum,
/// see `store::sealed`; files of version 1 are rebuilt).
const TABLES_MAGIC: &[u8; 8] = b"HSPDQT02";

fn tables_header(key: &RowsKey, n: usize, bits: u32, count: usize) -> Vec<u8> {
    let mut h = header(key.generation, &key.gates, n);
    h[..8].copy_from_slice(TABLES_MAGIC);
    h.extend_from_slice(&u64::from(bits).to_le_bytes());
    h.extend_from_slice(&(count as u64).to_le_bytes());
    h
}

fn u32s(buf: &[u8]) -> Vec<u32> {
    buf.chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap_or([0; 4])))
        .collect()
}

/// The saved tables, if the file was saved for `key` and `n` rows, is
/// complete and matches its checksum; their shape is checked by the index.
pub(super) fn read_tables(path: &Path, key: &RowsKey, n: usize) -> Option<SavedTables> {
    // The key width and table count are read after the fixed part.
    let fixed = tables_header(key, n, 0, 0);
    let (mut r, head) = SealedReader::open(path, fixed.len())?;
    let at = fixed.len() - 16;
    if head[..at] != fixed[..at] {
        return None;
    }
    let bits = u32::try_from(u64::from_le_bytes(head[at..at + 8].try_into().ok()?)).ok()?;
    let count = usize::try_from(u64::from_le_bytes(head[at + 8..].try_into().ok()?)).ok()?;
    if !(1..=32).contains(&bits) || count > 256 {
        return None;
    }
    let buckets = 1usize << bits;
    let per_table = (buckets + 1).checked_add(n)?.checked_mul(4)?;
    // The size is checked before anything is allocated for the tables.
    if r.payload_len() != (per_table as u64).checked_mul(count as u64)? {
        return None;
    }
    let mut buf = vec![0u8; per_table];
    let mut tables = Vec::with_capacity(count);
    for _ in 0..count {
        r.read_exact(&mut buf)?;
        let (o, s) = buf.split_at((buckets + 1) * 4);
        tables.push((u32s(o), u32s(s)));
    }
    r.verify().then_some((bits, tables))
}

pub(super) fn write_tables(
    path: &Path,
    key: &RowsKey,
    n: usize,
    bits: u32,
    tables: &[(&[u32], &[u32])],
) -> std::io::Result<()> {
    write_sealed(path, &tables_header(key, n, bits, tables.len()), |w| {
        for (offsets, slots) in tables {
            for x in offsets.iter().chain(slots.iter()) {
                w.write_all(&x.to_le_bytes())?;
            }
        }
        Ok(())
    })
}

fn header(generation: i64, gates: &[(ListId, u8)], n: usize) -> Vec<u8> {
    let mut h = Vec::with_capacity(32 + gates.len() * 16);
    h.extend_from_slice(MAGIC);
    h.extend_from_slice(&generation.to_le_bytes());
    h.extend_from_slice(&(gates.len() as u64).to_le_bytes());
    for &(list, gate) in gates {
        h.extend_from_slice(&list.to_le_bytes());
        h.extend_from_slice(&u64::from(gate).to_le_bytes());
    }
    h.extend_from_slice(&(n as u64).to_le_bytes());
    h
}

/// The saved rows, if the file exists, is complete, matches its checksum
/// and was saved for `generation` and `gates`.
pub(super) fn read_rows(path: &Path, generation: i64, gates: &[(ListId, u8)]) -> Option<PdqRows> {
    let want = header(generation, gates, 0);
    let (mut r, head) = SealedReader::open(path, want.len())?;
    // Everything but the row count must be equal.
    let fixed = want.len() - 8;
    if head[..fixed] != want[..fixed] {
        return None;
    }
    let n = usize::try_from(u64::from_le_bytes(head[fixed..].try_into().ok()?)).ok()?;
    // 32 bytes of hash, 8 of entry id, 8 of list id per row; checked
    // before anything is allocated for them.
    if r.payload_len() != (n as u64).checked_mul(48)? {
        return None;
    }
    let mut buf = vec![0u8; n.checked_mul(32)?];
    r.read_exact(&mut buf)?;
    let hashes: Vec<[u64; 4]> = buf
        .chunks_exact(32)
        .map(|c| {
            let w = |i: usize| u64::from_le_bytes(c[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]));
            [w(0), w(1), w(2), w(3)]
        })
        .collect();
    let mut ids = |r: &mut SealedReader| -> Option<Vec<i64>> {
        buf.truncate(n * 8);
        r.read_exact(&mut buf)?;
        Some(
            buf.chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                .collect(),
        )
    };
    let entries = ids(&mut r)?;
    let lists = ids(&mut r)?;
    if !r.verify() {
        return None;
    }
    // The lists must be among those asked for (a file that passed its
    // checksum but was written wrongly is no reason to match a list that
    // is off).
    if lists
        .iter()
        .any(|l| gates.binary_search_by_key(l, |g| g.0).is_err())
    {
        return None;
    }
    Some(PdqRows {
        entries,
        lists,
        hashes,
    })
}

/// Save `rows` (see [`write_sealed`]).
pub(super) fn write_rows(
    path: &Path,
    generation: i64,
    gates: &[(ListId, u8)],
    rows: &PdqRows,
) -> std::io::Result<()> {
    write_sealed(path, &header(generation, gates, rows.len()), |w| {
        for h in &rows.hashes {
            for x in h {
                w.write_all(&x.to_le_bytes())?;
            }
        }
        for e in &rows.entries {
            w.write_all(&e.to_le_bytes())?;
        }
        for l in &rows.lists {
            w.write_all(&l.to_le_bytes())?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ParseError;
    use crate::model::{NewList, Record, Status, StatusChange, Value};
    use crate::store::Store;

    fn pdq(i: u64) -> Pdq {
        Pdq::from_words([i.wrapping_mul(0x9e37_79b9_7f4a_7c15), i, !i, i << 7])
    }

    fn import(s: &mut Store, list: &str, from: u64, to: u64, quality: Option<u8>) {
        let recs = (from..to).map(|i| {
            let mut r = Record::new(Value::Pdq(pdq(i)));
            r.quality = quality;
            Ok::<_, ParseError>(r)
        });
        s.import(list, recs, Path::new("t"), Default::default())
            .unwrap();
    }

    /// The rows straight from SQLite, for comparison.
    fn fresh(s: &Store, gates: &[(ListId, u8)]) -> PdqRows {
        let mut rows = PdqRows::default();
        let mut g = gates.to_vec();
        g.sort_unstable();
        s.for_each_pdq_row(&g, |e, l, p| {
            rows.entries.push(e);
            rows.lists.push(l);
            rows.hashes.push(p.words());
        })
        .unwrap();
        rows
    }

    #[test]
    fn saved_rows_are_used_only_while_the_database_is_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("a.db");
        let mut s = Store::open(&db).unwrap();
        let a = s.create_list(&NewList::new("a")).unwrap().id;
        let b = s.create_list(&NewList::new("b")).unwrap().id;
        import(&mut s, "a", 0, 100, Some(90));
        import(&mut s, "b", 100, 150, Some(20));
        let gates = [(a, 50), (b, 50)];
        let saved = rows_path(&db);
        assert!(!saved.exists());
        let first = s.pdq_rows(&gates).unwrap();
        assert_eq!(first, fresh(&s, &gates));
        // List b's entries are below its gate.
        assert_eq!(first.len(), 100);
        assert!(saved.exists());
        // A second load reads the file: prove it by planting a marker row
        // in a copy saved for the current generation.
        let gen: i64 = s
            .sqlite()
            .conn
            .query_row("SELECT value FROM index_generation", [], |r| r.get(0))
            .unwrap();
        let mut marked = first.clone();
        marked.hashes[0] = [7; 4];
        let mut g = gates.to_vec();
        g.sort_unstable();
        write_rows(&saved, gen, &g, &marked).unwrap();
        assert_eq!(s.pdq_rows(&gates).unwrap(), marked);
        // Other gates: not the saved rows.
        assert_eq!(s.pdq_rows(&[(a, 50)]).unwrap(), fresh(&s, &[(a, 50)]));
        write_rows(&saved, gen, &g, &marked).unwrap();
        // Every kind of change makes the saved rows stale.
        type Change = Box<dyn Fn(&mut Store)>;
        let changes: Vec<Change> = vec![
            Box::new(|s| import(s, "a", 200, 201, None)),
            Box::new(|s| {
                let id = s.entry_ids("a").unwrap()[3];
                s.set_status(
                    id,
                    &StatusChange {
                        status: Status::Disputed,
                        ..Default::default()
                    },
                )
                .map(|_| ())
                .unwrap()
            }),
            Box::new(|s| {
                s.update_list(
                    "b",
                    &crate::model::ListUpdate {
                        pdq_quality: Some(10),
                        ..Default::default()
                    },
                )
                .map(|_| ())
                .unwrap()
            }),
            Box::new(|s| s.delete_list("b").unwrap()),
        ];
        for change in changes {
            change(&mut s);
            let gen: i64 = s
                .sqlite()
                .conn
                .query_row("SELECT value FROM index_generation", [], |r| r.get(0))
                .unwrap();
            let rows = s.pdq_rows(&gates).unwrap();
            assert_eq!(rows, fresh(&s, &gates));
            // Plant the marker again for the next change to invalidate.
            let mut marked = rows.clone();
            if let Some(h) = marked.hashes.first_mut() {
                *h = [7; 4];
            }
            write_rows(&saved, gen, &g, &marked).unwrap();
        }
    }

    #[test]
    fn another_database_copied_over_does_not_reuse_the_rows() {
        let dir = tempfile::tempdir().unwrap();
        // Two databases made by the same steps, holding different hashes.
        let make = |name: &str, from: u64| {
            let p = dir.path().join(name);
            let mut s = Store::open(&p).unwrap();
            s.create_list(&NewList::new("a")).unwrap();
            import(&mut s, "a", from, from + 20, None);
            p
        };
        let a = make("a.db", 0);
        let b = make("b.db", 1000);
        let s = Store::open(&a).unwrap();
        let gates = [(s.list("a").unwrap().id, 50)];
        assert_eq!(s.pdq_rows(&gates).unwrap(), fresh(&s, &gates));
        drop(s);
        // b copied over a (as a restore or a sync would): a's saved rows
        // are not b's.
        std::fs::copy(&b, &a).unwrap();
        let s = Store::open(&a).unwrap();
        let rows = s.pdq_rows(&gates).unwrap();
        assert_eq!(rows, fresh(&s, &gates));
        assert_eq!(rows.hashes[0], pdq(1000).words());
    }

    #[test]
    fn damaged_or_foreign_files_are_ignored_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("a.db");
        let mut s = Store::open(&db).unwrap();
        let a = s.create_list(&NewList::new("a")).unwrap().id;
        import(&mut s, "a", 0, 10, None);
        let gates = [(a, 50)];
        let want = fresh(&s, &gates);
        let saved = rows_path(&db);
        assert_eq!(s.pdq_rows(&gates).unwrap(), want);
        let good = std::fs::read(&saved).unwrap();
        for bad in [
            good[..good.len() - 1].to_vec(),
            good[..20].to_vec(),
            Vec::new(),
            b"not a rows file at all, just some text".to_vec(),
            [good.clone(), vec![0]].concat(),
            // Same length and header, one bit of a hash changed: only the
            // checksum tells.
            flipped(&good, good.len() / 2),
            // A version-1 file (no checksum) for the same database.
            {
                let mut old = good.clone();
                old[..8].copy_from_slice(b"HSPDQR01");
                old
            },
        ] {
            std::fs::write(&saved, &bad).unwrap();
            assert_eq!(s.pdq_rows(&gates).unwrap(), want);
            assert_eq!(std::fs::read(&saved).unwrap(), good);
        }
    }

    fn flipped(bytes: &[u8], at: usize) -> Vec<u8> {
        let mut b = bytes.to_vec();
        b[at] ^= 0x01;
        b
    }

    #[test]
    fn damaged_tables_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("a.db");
        let mut s = Store::open(&db).unwrap();
        let a = s.create_list(&NewList::new("a")).unwrap().id;
        import(&mut s, "a", 0, 10, None);
        let (rows, key) = s.pdq_rows_keyed(&[(a, 50)]).unwrap();
        let n = rows.len();
        let offsets: Vec<u32> = (0..=4).collect();
        let slots: Vec<u32> = (0..n as u32).collect();
        s.save_pdq_tables(&key, n, 2, &[(&offsets, &slots)]);
        let want = (2, vec![(offsets.clone(), slots.clone())]);
        assert_eq!(s.pdq_tables(&key, n), Some(want));
        let saved = tables_path(&db);
        let good = std::fs::read(&saved).unwrap();
        for at in [good.len() / 2, good.len() - 1, 9] {
            std::fs::write(&saved, flipped(&good, at)).unwrap();
            assert_eq!(s.pdq_tables(&key, n), None, "byte {at} flipped");
        }
        let mut old = good.clone();
        old[..8].copy_from_slice(b"HSPDQT01");
        std::fs::write(&saved, old).unwrap();
        assert_eq!(s.pdq_tables(&key, n), None);
    }
}
