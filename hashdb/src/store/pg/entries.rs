//! Entries on PostgreSQL: the contract of `store/entries.rs` (import with
//! idempotent merge, status changes, reads, and the rows the index is built
//! from, streamed so that ten million rows are never all in memory twice).

use std::collections::BTreeSet;
use std::path::Path;

use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;
use postgres::{Client, Statement, Transaction};

use super::{PgStore, Touch};
use crate::error::{ImportError, ParseError, StoreError};
use crate::model::{Entry, EntryId, ListId, Record, StatusChange, Value};
use crate::store::entries::{
    corrupt, decode_value, feature_bytes, feature_from, frame_from, validate, FrameRow,
    ImportOptions, ImportSummary, IndexRow, TmkRow, KEEP_SKIPPED_ERRORS,
};
use crate::store::now;
use crate::types::Pdq;
use crate::vpdq::VpdqFrame;

type Params<'a> = [&'a (dyn ToSql + Sync)];

fn quality_of(q: Option<i64>) -> Option<u8> {
    q.map(|q| q.clamp(0, 100) as u8)
}

/// The statements of one import, prepared once.
pub(super) struct ImportStatements {
    insert: Statement,
    pub(super) find: Statement,
    label: Statement,
    fill: Statement,
}

impl ImportStatements {
    pub(super) fn prepare(tx: &mut Transaction<'_>) -> Result<Self, postgres::Error> {
        Ok(ImportStatements {
            insert: tx.prepare(
                "INSERT INTO entries (list_id, signal_type, value, quality, external_id, note,
                     added_at, status, status_by, status_reason, status_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                 ON CONFLICT (list_id, signal_type, value) DO NOTHING RETURNING id",
            )?,
            find: tx.prepare(
                "SELECT id FROM entries WHERE list_id = $1 AND signal_type = $2 AND value = $3",
            )?,
            label: tx.prepare(
                "INSERT INTO entry_labels (entry_id, label) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )?,
            fill: tx.prepare(
                "UPDATE entries SET quality = coalesce(quality, $2::BIGINT),
                     external_id = coalesce(external_id, $3::TEXT), note = coalesce(note, $4::TEXT)
                 WHERE id = $1 AND ((quality IS NULL AND $2::BIGINT IS NOT NULL)
                     OR (external_id IS NULL AND $3::TEXT IS NOT NULL)
                     OR (note IS NULL AND $4::TEXT IS NOT NULL))",
            )?,
        })
    }
}

/// Insert `rec`, or merge it into the entry already holding its value:
/// `(Some(new id), _)` or `(None, whether the old one changed)`.
pub(super) fn insert_or_merge(
    tx: &mut Transaction<'_>,
    st: &ImportStatements,
    list: ListId,
    rec: &Record,
) -> Result<(Option<EntryId>, bool), StoreError> {
    let signal = rec.value.signal_type().as_str();
    let key = rec.value.key();
    let status = rec.status.clone().unwrap_or_default();
    let quality = rec.quality.map(i64::from);
    let inserted = tx.query_opt(
        &st.insert,
        &[
            &list,
            &signal,
            &key,
            &quality,
            &rec.external_id,
            &rec.note,
            &rec.added_at.unwrap_or_else(now),
            &status.status.as_str(),
            &status.by,
            &status.reason,
            &status.at,
        ],
    )?;
    let Some(row) = inserted else {
        let id: EntryId = tx
            .query_one(&st.find, &[&list, &signal, &key])?
            .try_get(0)?;
        let mut changed = 0;
        for l in &rec.labels {
            changed += tx.execute(&st.label, &[&id, l])?;
        }
        changed += tx.execute(&st.fill, &[&id, &quality, &rec.external_id, &rec.note])?;
        return Ok((None, changed > 0));
    };
    let id: EntryId = row.try_get(0)?;
    for l in &rec.labels {
        tx.execute(&st.label, &[&id, l])?;
    }
    if let Value::Tmk(h) = &rec.value {
        tx.execute(
            "INSERT INTO tmk_features (entry_id, frame_count, pure_average) VALUES ($1, $2, $3)",
            &[
                &id,
                &i64::from(h.frame_count()),
                &feature_bytes(h.pure_average()),
            ],
        )?;
        tx.execute(
            "INSERT INTO tmk_files (entry_id, tmk) VALUES ($1, $2)",
            &[&id, &h.to_bytes()],
        )?;
    }
    if let Value::Vpdq(frames) = &rec.value {
        let ins = tx.prepare(
            "INSERT INTO vpdq_frames (entry_id, frame, quality, hash, timestamp)
             VALUES ($1, $2, $3, $4, $5)",
        )?;
        for f in frames {
            tx.execute(
                &ins,
                &[
                    &id,
                    &(f.frame as i64),
                    &i64::from(f.quality),
                    &&f.hash.0[..],
                    &f.timestamp,
                ],
            )?;
        }
    }
    Ok((Some(id), false))
}

/// Stream the rows of `sql` into `f`, one at a time.
fn each_row(
    c: &mut Client,
    sql: &str,
    params: &Params<'_>,
    mut f: impl FnMut(&postgres::Row) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let mut rows = c.query_raw(sql, params.iter().copied())?;
    while let Some(r) = rows.next()? {
        f(&r)?;
    }
    Ok(())
}

impl PgStore {
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
        let mut c = self.client()?;
        let mut tx = Self::write_tx(&mut c)?;
        let st = ImportStatements::prepare(&mut tx).map_err(StoreError::from)?;
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
            match insert_or_merge(&mut tx, &st, list_id, &rec)? {
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
                "UPDATE lists SET updated_at = $1 WHERE id = $2",
                &[&now(), &list_id],
            )
            .map_err(StoreError::from)?;
            Self::commit(tx, Touch::Index)?;
        } else {
            // Nothing changed: nothing to announce.
            tx.commit().map_err(StoreError::from)?;
        }
        Ok(sum)
    }

    pub fn entry(&self, id: EntryId) -> Result<Entry, StoreError> {
        self.entries_by_id(&[id])?
            .pop()
            .ok_or(StoreError::NoSuchEntry(id))
    }

    /// The entries with these ids that exist, in id order, in three
    /// queries whatever their number (plus one per vPDQ or TMK+PDQF
    /// entry, for its frames or file): the change log reads a second's
    /// worth of changes at once, where a query per entry and per label
    /// set made a server fall seconds behind a writer of 1,000 changes
    /// a second.
    pub(crate) fn entries_by_id(&self, ids: &[EntryId]) -> Result<Vec<Entry>, StoreError> {
        let mut c = self.client()?;
        let rows = c.query(
            "SELECT id, list_id, signal_type, value, quality, external_id, note, added_at,
                    status, status_by, status_reason, status_at FROM entries
             WHERE id = ANY($1) ORDER BY id",
            &[&ids],
        )?;
        let mut labels: std::collections::HashMap<EntryId, BTreeSet<String>> =
            std::collections::HashMap::new();
        for r in c.query(
            "SELECT entry_id, label FROM entry_labels WHERE entry_id = ANY($1)",
            &[&ids],
        )? {
            labels
                .entry(r.try_get(0)?)
                .or_default()
                .insert(r.try_get(1)?);
        }
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let id: EntryId = row.try_get(0)?;
            let st: String = row.try_get(2)?;
            let value = match st.as_str() {
                "vpdq" => Value::Vpdq(frames(&mut c, id)?),
                "tmk_pdqf" => Value::Tmk(std::sync::Arc::new(tmk_file(&mut c, id)?)),
                _ => decode_value(&st, row.try_get::<_, &[u8]>(3)?)?,
            };
            let status_text: String = row.try_get(8)?;
            let status = StatusChange {
                status: status_text
                    .parse()
                    .map_err(|e: crate::model::UnknownStatus| corrupt("entries", e.to_string()))?,
                by: row.try_get(9)?,
                reason: row.try_get(10)?,
                at: row.try_get(11)?,
            };
            let added_at: i64 = row.try_get(7)?;
            out.push(Entry {
                id,
                list_id: row.try_get(1)?,
                record: Record {
                    value,
                    quality: quality_of(row.try_get(4)?),
                    labels: labels.remove(&id).unwrap_or_default(),
                    external_id: row.try_get(5)?,
                    note: row.try_get(6)?,
                    status: Some(status.clone()),
                    added_at: Some(added_at),
                },
                added_at,
                status,
            });
        }
        Ok(out)
    }

    pub fn tmk_file(&self, id: EntryId) -> Result<crate::tmk::TmkHash, StoreError> {
        tmk_file(&mut *self.client()?, id)
    }

    pub fn for_each_tmk_row(
        &self,
        lists: &[ListId],
        mut f: impl FnMut(TmkRow),
    ) -> Result<(), StoreError> {
        let mut c = self.client()?;
        for &list in lists {
            each_row(
                &mut c,
                "SELECT e.id, t.frame_count, t.pure_average FROM entries e
                 JOIN tmk_features t ON t.entry_id = e.id
                 WHERE e.list_id = $1 AND e.signal_type = 'tmk_pdqf' AND e.status = 'active'
                 ORDER BY e.id",
                &[&list],
                |r| {
                    f(TmkRow {
                        entry: r.try_get(0)?,
                        list,
                        frame_count: r.try_get::<_, i64>(1)?.clamp(0, i64::from(u32::MAX)) as u32,
                        pure_average: feature_from(r.try_get(2)?)?,
                    });
                    Ok(())
                },
            )?;
        }
        Ok(())
    }

    pub fn entry_ids(&self, list: &str) -> Result<Vec<EntryId>, StoreError> {
        let id = self.list(list)?.id;
        Ok(self
            .client()?
            .query(
                "SELECT id FROM entries WHERE list_id = $1 ORDER BY id",
                &[&id],
            )?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?)
    }

    pub fn set_status(&mut self, id: EntryId, change: &StatusChange) -> Result<Entry, StoreError> {
        {
            let mut c = self.client()?;
            let mut tx = Self::write_tx(&mut c)?;
            let n = tx.execute(
                "UPDATE entries SET status = $2, status_by = $3, status_reason = $4, status_at = $5
                 WHERE id = $1",
                &[
                    &id,
                    &change.status.as_str(),
                    &change.by,
                    &change.reason,
                    &change.at.unwrap_or_else(now),
                ],
            )?;
            if n == 0 {
                return Err(StoreError::NoSuchEntry(id));
            }
            Self::commit(tx, Touch::Index)?;
        }
        self.entry(id)
    }

    pub fn for_each_index_row(&self, mut f: impl FnMut(IndexRow)) -> Result<(), StoreError> {
        each_row(
            &mut *self.client()?,
            "SELECT e.id, e.list_id, e.signal_type, e.value, e.quality FROM entries e
             JOIN lists l ON l.id = e.list_id
             WHERE l.enabled AND e.status = 'active'
               AND e.signal_type NOT IN ('vpdq', 'tmk_pdqf')
             ORDER BY e.id",
            &[],
            |r| {
                f(IndexRow {
                    entry: r.try_get(0)?,
                    list: r.try_get(1)?,
                    value: decode_value(r.try_get(2)?, r.try_get(3)?)?,
                    quality: quality_of(r.try_get(4)?),
                });
                Ok(())
            },
        )
    }

    pub fn for_each_pdq_row(
        &self,
        gates: &[(ListId, u8)],
        mut f: impl FnMut(EntryId, ListId, Pdq),
    ) -> Result<(), StoreError> {
        each_row(
            &mut *self.client()?,
            "SELECT id, list_id, value, quality FROM entries
             WHERE signal_type = 'pdq' AND status = 'active'
             ORDER BY id",
            &[],
            |r| {
                let list: ListId = r.try_get(1)?;
                let Some(&(_, gate)) = gates.iter().find(|g| g.0 == list) else {
                    return Ok(());
                };
                if quality_of(r.try_get(3)?).is_some_and(|q| q < gate) {
                    return Ok(());
                }
                let value: &[u8] = r.try_get(2)?;
                let hash: [u8; 32] = value.try_into().map_err(|_| {
                    corrupt(
                        "entries",
                        format!("pdq value has {} bytes, expected 32", value.len()),
                    )
                })?;
                f(r.try_get(0)?, list, Pdq(hash));
                Ok(())
            },
        )
    }

    pub fn for_each_digest_row(
        &self,
        lists: &[ListId],
        mut f: impl FnMut(IndexRow),
    ) -> Result<(), StoreError> {
        let mut c = self.client()?;
        for &list in lists {
            each_row(
                &mut c,
                "SELECT id, signal_type, value, quality FROM entries
                 WHERE list_id = $1 AND signal_type IN ('md5', 'sha256', 'blake3')
                   AND status = 'active'
                 ORDER BY id",
                &[&list],
                |r| {
                    f(IndexRow {
                        entry: r.try_get(0)?,
                        list,
                        value: decode_value(r.try_get(1)?, r.try_get(2)?)?,
                        quality: quality_of(r.try_get(3)?),
                    });
                    Ok(())
                },
            )?;
        }
        Ok(())
    }

    pub fn max_entry_id(&self) -> Result<EntryId, StoreError> {
        Ok(self
            .client()?
            .query_one("SELECT coalesce(max(id), 0)::BIGINT FROM entries", &[])?
            .try_get(0)?)
    }

    pub fn for_each_frame_row(&self, mut f: impl FnMut(FrameRow)) -> Result<(), StoreError> {
        each_row(
            &mut *self.client()?,
            "SELECT e.id, e.list_id, v.frame, v.quality, v.hash, v.timestamp FROM vpdq_frames v
             JOIN entries e ON e.id = v.entry_id JOIN lists l ON l.id = e.list_id
             WHERE l.enabled AND e.status = 'active'
             ORDER BY v.entry_id, v.frame",
            &[],
            |r| {
                f(FrameRow {
                    entry: r.try_get(0)?,
                    list: r.try_get(1)?,
                    frame: frame_from(r.try_get(2)?, r.try_get(3)?, r.try_get(4)?, r.try_get(5)?)?,
                });
                Ok(())
            },
        )
    }
}

fn frames(c: &mut Client, id: EntryId) -> Result<Vec<VpdqFrame>, StoreError> {
    c.query(
        "SELECT frame, quality, hash, timestamp FROM vpdq_frames WHERE entry_id = $1 ORDER BY frame",
        &[&id],
    )?
    .iter()
    .map(|r| frame_from(r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?))
    .collect()
}

fn tmk_file(c: &mut Client, id: EntryId) -> Result<crate::tmk::TmkHash, StoreError> {
    let row = c
        .query_opt("SELECT tmk FROM tmk_files WHERE entry_id = $1", &[&id])?
        .ok_or(StoreError::NoSuchEntry(id))?;
    crate::tmk::TmkHash::from_bytes(row.try_get(0)?)
        .map_err(|e| corrupt("tmk_files", format!("entry {id}: {e}")))
}
