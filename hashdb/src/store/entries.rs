//! Entries: transactional import with idempotent merge, status changes,
//! reads for export, and the rows the in-memory index is built from.

use std::collections::BTreeSet;
use std::path::Path;

use rusqlite::{params, OptionalExtension, Transaction};

use super::{now, SqliteStore};
use crate::error::{ImportError, ParseError, StoreError};
use crate::model::{Entry, EntryId, ListId, Record, Status, StatusChange, Value};
use crate::types::{Blake3, Md5, Pdq, Sha256, SignalType};
use crate::vpdq::VpdqFrame;

/// How an import treats bad records.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImportOptions {
    /// Skip invalid records (counting them) instead of failing the import.
    pub skip_invalid: bool,
}

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportSummary {
    /// New entries.
    pub added: u64,
    /// Entries already in the list that gained labels or missing fields.
    pub merged: u64,
    /// Entries already in the list, unchanged.
    pub unchanged: u64,
    /// Invalid records skipped (only with `skip_invalid`).
    pub skipped: u64,
    /// The first few skipped records' errors.
    pub skipped_errors: Vec<ParseError>,
    /// Ids of the new entries, in input order.
    pub added_ids: Vec<EntryId>,
}

/// How many skipped-record errors an import keeps for its report.
pub(super) const KEEP_SKIPPED_ERRORS: usize = 20;

/// One active, matchable hash: an image/crypto entry of an enabled list.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexRow {
    pub entry: EntryId,
    pub list: ListId,
    pub value: Value,
    pub quality: Option<u8>,
}

/// One frame of an active vPDQ entry of an enabled list.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameRow {
    pub entry: EntryId,
    pub list: ListId,
    pub frame: VpdqFrame,
}

pub(super) fn corrupt(table: &'static str, message: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        table,
        message: message.into(),
    }
}

/// Decode a stored value of a non-vPDQ signal type.
pub(crate) fn decode_value(t: &str, bytes: &[u8]) -> Result<Value, StoreError> {
    fn arr<const N: usize>(b: &[u8]) -> Result<[u8; N], StoreError> {
        b.try_into().map_err(|_| {
            corrupt(
                "entries",
                format!("value has {} bytes, expected {N}", b.len()),
            )
        })
    }
    let st: SignalType = t
        .parse()
        .map_err(|e: crate::types::UnknownSignalType| corrupt("entries", e.to_string()))?;
    Ok(match st {
        SignalType::Pdq => Value::Pdq(Pdq(arr(bytes)?)),
        SignalType::Md5 => Value::Md5(Md5(arr(bytes)?)),
        SignalType::Sha256 => Value::Sha256(Sha256(arr(bytes)?)),
        SignalType::Blake3 => Value::Blake3(Blake3(arr(bytes)?)),
        SignalType::Vpdq => return Err(corrupt("entries", "vPDQ value outside a frame read")),
        SignalType::TmkPdqf => return Err(corrupt("entries", "TMK value outside a TMK read")),
    })
}

/// One active TMK+PDQF entry of an enabled list: what level-1 needs.
#[derive(Debug, Clone, PartialEq)]
pub struct TmkRow {
    pub entry: EntryId,
    pub list: ListId,
    pub frame_count: u32,
    pub pure_average: crate::tmk::Feature,
}

/// The pure-average feature as stored (256 little-endian float32s).
pub(super) fn feature_bytes(f: &crate::tmk::Feature) -> Vec<u8> {
    f.iter().flat_map(|v| v.to_le_bytes()).collect()
}

pub(super) fn feature_from(bytes: &[u8]) -> Result<crate::tmk::Feature, StoreError> {
    if bytes.len() != 4 * crate::tmk::FEATURE_DIM {
        return Err(corrupt("tmk_features", "pure average is not 1024 bytes"));
    }
    let mut f = [0f32; crate::tmk::FEATURE_DIM];
    for (v, b) in f.iter_mut().zip(bytes.chunks_exact(4)) {
        *v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        if !v.is_finite() {
            return Err(corrupt(
                "tmk_features",
                "pure average holds a non-finite value",
            ));
        }
    }
    Ok(f)
}

pub(super) fn frame_from(
    frame: i64,
    quality: i64,
    hash: Vec<u8>,
    ts: f64,
) -> Result<VpdqFrame, StoreError> {
    let hash: [u8; 32] = hash
        .try_into()
        .map_err(|_| corrupt("vpdq_frames", "frame hash is not 32 bytes"))?;
    Ok(VpdqFrame {
        frame: frame as u64,
        hash: Pdq(hash),
        quality: quality.clamp(0, 100) as u8,
        timestamp: ts,
    })
}

pub(super) fn insert_or_merge(
    tx: &Transaction<'_>,
    list: ListId,
    rec: &Record,
) -> Result<(Option<EntryId>, bool), StoreError> {
    let st = rec.value.signal_type().as_str();
    let key = rec.value.key();
    let status = rec.status.clone().unwrap_or_default();
    // Try the insert first: new values (the common case in a bulk import)
    // cost one index probe instead of two. The id is SQLite's own choice
    // (the largest plus one) unless an HMA item took ids above it
    // (`id_floor`, schema V10): entries and HMA items share the ids.
    let inserted = tx
        .prepare_cached(
            "INSERT INTO entries (id, list_id, signal_type, value, quality, external_id, note,
                                  added_at, status, status_by, status_reason, status_at)
             VALUES (max(coalesce((SELECT max(id) FROM entries), 0),
                         (SELECT value FROM id_floor WHERE id = 1)) + 1,
                     ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT (list_id, signal_type, value) DO NOTHING",
        )?
        .execute(params![
            list,
            st,
            key,
            rec.quality,
            rec.external_id,
            rec.note,
            rec.added_at.unwrap_or_else(now),
            status.status.as_str(),
            status.by,
            status.reason,
            status.at
        ])?;
    let existing: Option<EntryId> = if inserted == 1 {
        None
    } else {
        Some(
            tx.prepare_cached(
                "SELECT id FROM entries WHERE list_id = ?1 AND signal_type = ?2 AND value = ?3",
            )?
            .query_row(params![list, st, key], |r| r.get(0))?,
        )
    };
    let add_labels = |id: EntryId| -> Result<usize, StoreError> {
        let mut ins = tx.prepare_cached(
            "INSERT OR IGNORE INTO entry_labels (entry_id, label) VALUES (?1, ?2)",
        )?;
        let mut n = 0;
        for l in &rec.labels {
            n += ins.execute(params![id, l])?;
        }
        Ok(n)
    };
    if let Some(id) = existing {
        let mut changed = add_labels(id)?;
        changed += tx
            .prepare_cached(
                "UPDATE entries SET quality = coalesce(quality, ?2), external_id = coalesce(external_id, ?3),
                 note = coalesce(note, ?4)
                 WHERE id = ?1 AND ((quality IS NULL AND ?2 IS NOT NULL) OR (external_id IS NULL AND ?3 IS NOT NULL)
                   OR (note IS NULL AND ?4 IS NOT NULL))",
            )?
            .execute(params![id, rec.quality, rec.external_id, rec.note])?;
        return Ok((None, changed > 0));
    }
    let id = tx.last_insert_rowid();
    add_labels(id)?;
    if let Value::Tmk(h) = &rec.value {
        tx.prepare_cached(
            "INSERT INTO tmk_features (entry_id, frame_count, pure_average) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![
            id,
            h.frame_count(),
            feature_bytes(h.pure_average())
        ])?;
        tx.prepare_cached("INSERT INTO tmk_files (entry_id, tmk) VALUES (?1, ?2)")?
            .execute(params![id, h.to_bytes()])?;
    }
    if let Value::Vpdq(frames) = &rec.value {
        let mut ins = tx.prepare_cached(
            "INSERT INTO vpdq_frames (entry_id, frame, quality, hash, timestamp) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for f in frames {
            ins.execute(params![
                id,
                f.frame as i64,
                f.quality,
                &f.hash.0[..],
                f.timestamp
            ])?;
        }
    }
    Ok((Some(id), false))
}

pub(super) fn validate(rec: &Record) -> Result<(), String> {
    if let Some(q) = rec.quality {
        if q > 100 {
            return Err(format!("quality {q} is above 100"));
        }
    }
    if let Some(l) = rec
        .labels
        .iter()
        .find(|l| l.trim().is_empty() || l.chars().any(char::is_control))
    {
        return Err(format!("invalid label {l:?}"));
    }
    Ok(())
}

impl SqliteStore {
    /// Import records into list `list` in one transaction.
    ///
    /// A value already in the list is not duplicated: its labels are merged
    /// and missing fields filled; its status is kept (re-importing a list
    /// does not re-activate a disputed entry). `origin` names the source in
    /// errors.
    ///
    /// # Errors
    /// The first invalid record (unless `skip_invalid`), or a store error;
    /// either way nothing is written.
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
        let list_id = self.list(list)?.id;
        let tx = self.immediate()?;
        let mut sum = ImportSummary::default();
        for (i, rec) in records.into_iter().enumerate() {
            let rec = match rec.and_then(|r| {
                validate(&r)
                    .map(|()| r)
                    .map_err(|message| ParseError::Line {
                        line: i as u64 + 1,
                        message,
                    })
            }) {
                Ok(r) => r,
                Err(e @ ParseError::Io(_)) | Err(e @ ParseError::File(_)) => {
                    return Err(ImportError::Parse {
                        path: origin.to_path_buf(),
                        source: e,
                    })
                }
                Err(e) if opts.skip_invalid => {
                    sum.skipped += 1;
                    if sum.skipped_errors.len() < KEEP_SKIPPED_ERRORS {
                        sum.skipped_errors.push(e);
                    }
                    continue;
                }
                Err(e) => {
                    return Err(ImportError::Parse {
                        path: origin.to_path_buf(),
                        source: e,
                    })
                }
            };
            match insert_or_merge(&tx, list_id, &rec)? {
                (Some(id), _) => {
                    sum.added += 1;
                    sum.added_ids.push(id);
                }
                (None, true) => sum.merged += 1,
                (None, false) => sum.unchanged += 1,
            }
        }
        if sum.added + sum.merged > 0 {
            tx.execute(
                "UPDATE lists SET updated_at = ?1 WHERE id = ?2",
                params![now(), list_id],
            )
            .map_err(StoreError::from)?;
        }
        tx.commit().map_err(StoreError::from)?;
        Ok(sum)
    }

    /// Read one entry with its labels (and frames, for vPDQ).
    pub fn entry(&self, id: EntryId) -> Result<Entry, StoreError> {
        let row = self
            .conn
            .prepare_cached(
                "SELECT id, list_id, signal_type, value, quality, external_id, note, added_at,
                        status, status_by, status_reason, status_at FROM entries WHERE id = ?1",
            )?
            .query_row([id], EntryRow::read)
            .optional()?
            .ok_or(StoreError::NoSuchEntry(id))?;
        let labels = self.labels(id)?;
        self.assemble(row, labels)
    }

    /// The entries with ids in `lo..=hi` that `keep` accepts, with their
    /// labels, in two queries (a run of close ids, as an import's are:
    /// one query per entry made a server apply a big import on SQLite at
    /// a few thousand entries a second).
    pub(super) fn entries_in_range(
        &self,
        lo: EntryId,
        hi: EntryId,
        keep: impl Fn(EntryId) -> bool,
    ) -> Result<Vec<Entry>, StoreError> {
        let mut labels: std::collections::HashMap<EntryId, BTreeSet<String>> =
            std::collections::HashMap::new();
        {
            let mut st = self.conn.prepare_cached(
                "SELECT entry_id, label FROM entry_labels WHERE entry_id BETWEEN ?1 AND ?2",
            )?;
            let mut rows = st.query(params![lo, hi])?;
            while let Some(r) = rows.next()? {
                let id: EntryId = r.get(0)?;
                if keep(id) {
                    labels.entry(id).or_default().insert(r.get(1)?);
                }
            }
        }
        let mut st = self.conn.prepare_cached(
            "SELECT id, list_id, signal_type, value, quality, external_id, note, added_at,
                    status, status_by, status_reason, status_at FROM entries
             WHERE id BETWEEN ?1 AND ?2 ORDER BY id",
        )?;
        let mut rows = st.query(params![lo, hi])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let row = EntryRow::read(r)?;
            if keep(row.id) {
                let l = labels.remove(&row.id).unwrap_or_default();
                out.push(self.assemble(row, l)?);
            }
        }
        Ok(out)
    }

    /// An entry from its row and labels (its frames or TMK file read here).
    fn assemble(&self, row: EntryRow, labels: BTreeSet<String>) -> Result<Entry, StoreError> {
        let EntryRow {
            id,
            list_id,
            st,
            value,
            quality,
            external_id,
            note,
            added_at,
            status,
            by,
            reason,
            at,
        } = row;
        let value = match st.as_str() {
            "vpdq" => Value::Vpdq(self.frames(id)?),
            "tmk_pdqf" => Value::Tmk(std::sync::Arc::new(self.tmk_file(id)?)),
            _ => decode_value(&st, &value)?,
        };
        let status = StatusChange {
            status: status
                .parse()
                .map_err(|e: crate::model::UnknownStatus| corrupt("entries", e.to_string()))?,
            by,
            reason,
            at,
        };
        let record = Record {
            value,
            quality,
            labels,
            external_id,
            note,
            status: Some(status.clone()),
            added_at: Some(added_at),
        };
        Ok(Entry {
            id,
            list_id,
            record,
            added_at,
            status,
        })
    }

    fn labels(&self, id: EntryId) -> Result<BTreeSet<String>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached("SELECT label FROM entry_labels WHERE entry_id = ?1 ORDER BY label")?;
        let rows = st.query_map([id], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The TMK+PDQF hash of entry `id` (its `.tmk` file, fully checked).
    ///
    /// # Errors
    /// [`StoreError::NoSuchEntry`] when the entry has no TMK file,
    /// [`StoreError::Corrupt`] when the stored file does not read.
    pub fn tmk_file(&self, id: EntryId) -> Result<crate::tmk::TmkHash, StoreError> {
        let bytes: Vec<u8> = self
            .conn
            .prepare_cached("SELECT tmk FROM tmk_files WHERE entry_id = ?1")?
            .query_row([id], |r| r.get(0))
            .optional()?
            .ok_or(StoreError::NoSuchEntry(id))?;
        crate::tmk::TmkHash::from_bytes(&bytes)
            .map_err(|e| corrupt("tmk_files", format!("entry {id}: {e}")))
    }

    /// Call `f` for every active TMK+PDQF entry of the lists `lists`, by
    /// list then id: the level-1 features only (1 KiB each; the files are
    /// read by [`Store::tmk_file`] when a candidate passes level-1).
    pub fn for_each_tmk_row(
        &self,
        lists: &[ListId],
        mut f: impl FnMut(TmkRow),
    ) -> Result<(), StoreError> {
        let mut st = self.conn.prepare(
            "SELECT e.id, t.frame_count, t.pure_average FROM entries e
             JOIN tmk_features t ON t.entry_id = e.id
             WHERE e.list_id = ?1 AND e.signal_type = 'tmk_pdqf' AND e.status = 'active'
             ORDER BY e.id",
        )?;
        for &list in lists {
            let mut rows = st.query([list])?;
            while let Some(r) = rows.next()? {
                let blob = r.get_ref(2)?.as_blob().map_err(rusqlite::Error::from)?;
                f(TmkRow {
                    entry: r.get(0)?,
                    list,
                    frame_count: r.get::<_, i64>(1)?.clamp(0, i64::from(u32::MAX)) as u32,
                    pure_average: feature_from(blob)?,
                });
            }
        }
        Ok(())
    }

    fn frames(&self, id: EntryId) -> Result<Vec<VpdqFrame>, StoreError> {
        let mut st = self.conn.prepare_cached(
            "SELECT frame, quality, hash, timestamp FROM vpdq_frames WHERE entry_id = ?1 ORDER BY frame",
        )?;
        let rows = st.query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        rows.map(|r| {
            let (f, q, h, t) = r?;
            frame_from(f, q, h, t)
        })
        .collect()
    }

    /// Ids of the entries of `list`, in insertion order.
    pub fn entry_ids(&self, list: &str) -> Result<Vec<EntryId>, StoreError> {
        let id = self.list(list)?.id;
        let mut st = self
            .conn
            .prepare_cached("SELECT id FROM entries WHERE list_id = ?1 ORDER BY id")?;
        let rows = st.query_map([id], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Change an entry's status; returns the entry as it is now.
    pub fn set_status(&mut self, id: EntryId, change: &StatusChange) -> Result<Entry, StoreError> {
        let tx = self.immediate()?;
        let n = tx.execute(
            "UPDATE entries SET status = ?2, status_by = ?3, status_reason = ?4, status_at = ?5 WHERE id = ?1",
            params![id, change.status.as_str(), change.by, change.reason, change.at.unwrap_or_else(now)],
        )?;
        if n == 0 {
            return Err(StoreError::NoSuchEntry(id));
        }
        tx.commit()?;
        self.entry(id)
    }

    /// Call `f` for every active image/crypto entry of every enabled list
    /// (what the index holds), in id order.
    pub fn for_each_index_row(&self, mut f: impl FnMut(IndexRow)) -> Result<(), StoreError> {
        let mut st = self.conn.prepare(
            "SELECT e.id, e.list_id, e.signal_type, e.value, e.quality FROM entries e
             JOIN lists l ON l.id = e.list_id
             WHERE l.enabled = 1 AND e.status = 'active'
               AND e.signal_type NOT IN ('vpdq', 'tmk_pdqf')
             ORDER BY e.id",
        )?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            let st: String = r.get(2)?;
            let value = decode_value(&st, r.get_ref(3)?.as_blob().map_err(rusqlite::Error::from)?)?;
            f(IndexRow {
                entry: r.get(0)?,
                list: r.get(1)?,
                value,
                quality: r.get(4)?,
            });
        }
        Ok(())
    }

    /// Call `f` with `(entry, list, hash)` for every active PDQ entry of
    /// the lists in `gates` (list id and quality gate) whose quality, where
    /// known, passes its list's gate, in id order: what the index is built
    /// from. This is the start-up cost of every scan and of the service, so
    /// it is one table scan with no join (the list is looked up in `gates`,
    /// a handful of values, not in SQLite's b-tree once per row) and the
    /// 32-byte values are read in place, with no per-row allocation.
    pub fn for_each_pdq_row(
        &self,
        gates: &[(ListId, u8)],
        mut f: impl FnMut(EntryId, ListId, Pdq),
    ) -> Result<(), StoreError> {
        let mut st = self.conn.prepare(
            "SELECT id, list_id, value, quality FROM entries
             WHERE signal_type = 'pdq' AND status = 'active'
             ORDER BY id",
        )?;
        let mut rows = st.raw_query();
        while let Some(r) = rows.next()? {
            let list: ListId = r.get(1)?;
            let Some(&(_, gate)) = gates.iter().find(|g| g.0 == list) else {
                continue;
            };
            let quality: Option<u8> = r.get(3)?;
            if quality.is_some_and(|q| q < gate) {
                continue;
            }
            let value = r.get_ref(2)?.as_blob().map_err(rusqlite::Error::from)?;
            let hash: [u8; 32] = value.try_into().map_err(|_| {
                corrupt(
                    "entries",
                    format!("pdq value has {} bytes, expected 32", value.len()),
                )
            })?;
            f(r.get(0)?, list, Pdq(hash));
        }
        Ok(())
    }

    /// Call `f` for every active MD5/SHA-256/BLAKE3 entry of the lists
    /// `lists`, by list then id. Each list is read through the
    /// `(list_id, signal_type, value)` index, so a list of a million PDQ
    /// hashes and no digests costs nothing here (a table scan would cost as
    /// much as reading the PDQ hashes again).
    pub fn for_each_digest_row(
        &self,
        lists: &[ListId],
        mut f: impl FnMut(IndexRow),
    ) -> Result<(), StoreError> {
        let mut st = self.conn.prepare(
            "SELECT id, signal_type, value, quality FROM entries
             WHERE list_id = ?1 AND signal_type IN ('md5', 'sha256', 'blake3')
               AND status = 'active'
             ORDER BY id",
        )?;
        for &list in lists {
            let mut rows = st.query([list])?;
            while let Some(r) = rows.next()? {
                let t = r.get_ref(1)?.as_str().map_err(rusqlite::Error::from)?;
                let value =
                    decode_value(t, r.get_ref(2)?.as_blob().map_err(rusqlite::Error::from)?)?;
                f(IndexRow {
                    entry: r.get(0)?,
                    list,
                    value,
                    quality: r.get(3)?,
                });
            }
        }
        Ok(())
    }

    /// Largest entry id (0 for none): an upper bound on the entry count
    /// that costs one b-tree descent, to size the index's arrays.
    pub fn max_entry_id(&self) -> Result<EntryId, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT coalesce(max(id), 0) FROM entries", [], |r| r.get(0))?)
    }

    /// Call `f` for every frame of every active vPDQ entry of every enabled
    /// list, by entry then frame.
    pub fn for_each_frame_row(&self, mut f: impl FnMut(FrameRow)) -> Result<(), StoreError> {
        let mut st = self.conn.prepare(
            "SELECT e.id, e.list_id, v.frame, v.quality, v.hash, v.timestamp FROM vpdq_frames v
             JOIN entries e ON e.id = v.entry_id JOIN lists l ON l.id = e.list_id
             WHERE l.enabled = 1 AND e.status = 'active'
             ORDER BY v.entry_id, v.frame",
        )?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            f(FrameRow {
                entry: r.get(0)?,
                list: r.get(1)?,
                frame: frame_from(r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)?,
            });
        }
        Ok(())
    }

    /// Whether `status` is one a match may report.
    pub fn is_matchable(status: Status) -> bool {
        status == Status::Active
    }
}

/// An `entries` row as `SELECT id, list_id, signal_type, value, quality,
/// external_id, note, added_at, status, status_by, status_reason,
/// status_at` reads it.
struct EntryRow {
    id: EntryId,
    list_id: ListId,
    st: String,
    value: Vec<u8>,
    quality: Option<u8>,
    external_id: Option<String>,
    note: Option<String>,
    added_at: i64,
    status: String,
    by: Option<String>,
    reason: Option<String>,
    at: Option<i64>,
}

impl EntryRow {
    fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<EntryRow> {
        Ok(EntryRow {
            id: r.get(0)?,
            list_id: r.get(1)?,
            st: r.get(2)?,
            value: r.get(3)?,
            quality: r.get(4)?,
            external_id: r.get(5)?,
            note: r.get(6)?,
            added_at: r.get(7)?,
            status: r.get(8)?,
            by: r.get(9)?,
            reason: r.get(10)?,
            at: r.get(11)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::NewList;

    fn rec(hex: &str, labels: &[&str]) -> Result<Record, ParseError> {
        let mut r = Record::new(Value::Pdq(hex.parse().unwrap()));
        r.labels = labels.iter().map(|s| s.to_string()).collect();
        Ok(r)
    }

    crate::store::backend_tests::both! {
    fn import_is_idempotent_and_merges_labels(db) {
        let mut s = db.open();
        s.create_list(&NewList::new("l")).unwrap();
        let h = "f".repeat(64);
        let o = Path::new("x");
        let a = s
            .import(
                "l",
                vec![rec(&h, &["entity:a"])],
                o,
                ImportOptions::default(),
            )
            .unwrap();
        assert_eq!(a.added, 1);
        let b = s
            .import(
                "l",
                vec![rec(&h, &["entity:a"]), rec(&h, &["ideology:b"])],
                o,
                ImportOptions::default(),
            )
            .unwrap();
        assert_eq!((b.added, b.unchanged, b.merged), (0, 1, 1));
        let e = s.entry(a.added_ids[0]).unwrap();
        assert_eq!(e.record.labels.len(), 2);
        assert_eq!(s.entry_ids("l").unwrap().len(), 1);
    }
    }

    crate::store::backend_tests::both! {
    fn failed_import_changes_nothing(db) {
        let mut s = db.open();
        s.create_list(&NewList::new("l")).unwrap();
        let bad = Err(ParseError::Line {
            line: 2,
            message: "bad".into(),
        });
        let r = s.import(
            "l",
            vec![rec(&"a".repeat(64), &[]), bad],
            Path::new("f"),
            ImportOptions::default(),
        );
        assert!(matches!(r, Err(ImportError::Parse { .. })));
        assert!(s.entry_ids("l").unwrap().is_empty());
        let bad = Err(ParseError::Line {
            line: 2,
            message: "bad".into(),
        });
        let r = s
            .import(
                "l",
                vec![rec(&"a".repeat(64), &[]), bad],
                Path::new("f"),
                ImportOptions { skip_invalid: true },
            )
            .unwrap();
        assert_eq!((r.added, r.skipped), (1, 1));
    }
    }

    crate::store::backend_tests::both! {
    fn status_changes_are_kept_and_filter_index_rows(db) {
        let mut s = db.open();
        s.create_list(&NewList::new("l")).unwrap();
        let sum = s
            .import(
                "l",
                vec![rec(&"a".repeat(64), &[]), rec(&"b".repeat(64), &[])],
                Path::new("f"),
                ImportOptions::default(),
            )
            .unwrap();
        let change = StatusChange {
            status: Status::Disputed,
            by: Some("alice".into()),
            reason: Some("news logo".into()),
            at: None,
        };
        let e = s.set_status(sum.added_ids[0], &change).unwrap();
        assert_eq!(e.status.status, Status::Disputed);
        assert_eq!(e.status.by.as_deref(), Some("alice"));
        let mut rows = Vec::new();
        s.for_each_index_row(|r| rows.push(r)).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].entry, sum.added_ids[1]);
        assert!(matches!(
            s.set_status(999, &change),
            Err(StoreError::NoSuchEntry(999))
        ));
    }
    }
}
