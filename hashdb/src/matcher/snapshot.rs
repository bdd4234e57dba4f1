//! The PDQ rows a running matcher holds, as a full read of the store
//! would give them: what a server saves so that the next one starts from
//! its state instead of from older files (see `store::pg::saved`).
//!
//! Why from memory: the matcher is the database as of its change cursor
//! (every change applied in place), so its rows are what a read would
//! return, without reading ten million rows from a shared database.

use super::{Matcher, NO_FRAME};
use crate::model::ListId;
use crate::store::PdqRows;

/// What [`Matcher::pdq_snapshot`] copies.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PdqSnapshot {
    /// The active PDQ entries of the enabled lists that pass their
    /// gates, in entry id order (video frames are not rows).
    pub rows: PdqRows,
    /// The enabled lists and their quality gates, sorted (the key the
    /// rows are saved under).
    pub gates: Vec<(ListId, u8)>,
}

impl Matcher {
    /// Copy the PDQ rows this matcher holds (see [`PdqSnapshot`]). Takes
    /// a shared reference: a server calls it under the read lock, lookups
    /// going on; the sort happens on the copy, after the lock.
    pub fn pdq_snapshot(&self) -> PdqSnapshot {
        let mut gates: Vec<(ListId, u8)> =
            self.lists.values().map(|l| (l.id, l.pdq_quality)).collect();
        gates.sort_unstable();
        let mut rows: Vec<(i64, ListId, [u64; 4])> = Vec::with_capacity(self.pdq.len());
        self.pdq.for_each_live(|hash, item| {
            if item.frame == NO_FRAME {
                rows.push((item.entry, item.list, *hash));
            }
        });
        PdqSnapshot {
            rows: sorted_rows(rows),
            gates,
        }
    }

    /// Changes applied from the change log when this matcher was loaded
    /// from saved rows (see `store::pg::saved`); `None` when it was read
    /// whole.
    pub fn caught_up(&self) -> Option<usize> {
        self.caught_up
    }
}

/// Rows in entry id order, as parallel arrays (an entry held twice, which
/// the index never does, is kept once).
fn sorted_rows(mut rows: Vec<(i64, ListId, [u64; 4])>) -> PdqRows {
    rows.sort_unstable_by_key(|r| r.0);
    rows.dedup_by_key(|r| r.0);
    let mut out = PdqRows {
        entries: Vec::with_capacity(rows.len()),
        lists: Vec::with_capacity(rows.len()),
        hashes: Vec::with_capacity(rows.len()),
    };
    for (e, l, h) in rows {
        out.entries.push(e);
        out.lists.push(l);
        out.hashes.push(h);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matcher::HashDb;
    use crate::model::{NewList, Record, Status, StatusChange, Value};
    use crate::store::{ImportOptions, OpenOptions};
    use crate::types::{Md5, Pdq};
    use std::path::Path;

    fn pdq(i: u64) -> Pdq {
        Pdq::from_words([i.wrapping_mul(0x9e37_79b9_7f4a_7c15), i, !i, i << 9])
    }

    /// The snapshot is what a full read of the store gives, before and
    /// after changes applied in place (adds, a dispute, a disable), with
    /// a list's quality gate and digests left out.
    #[test]
    fn snapshot_equals_a_full_read_as_changes_apply() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = HashDb::open(dir.path().join("a.db"), OpenOptions::default()).unwrap();
        db.store.create_list(&NewList::new("l")).unwrap();
        db.store
            .create_list(&NewList {
                pdq_quality: 50,
                ..NewList::new("gated")
            })
            .unwrap();
        db.matcher = Matcher::load(&db.store).unwrap();
        let import = |db: &mut HashDb, list: &str, from: u64, q: Option<u8>| {
            let recs = (from..from + 20).map(|i| {
                let mut r = Record::new(Value::Pdq(pdq(i)));
                r.quality = q;
                Ok(r)
            });
            db.import(list, recs, Path::new("t"), ImportOptions::default())
                .unwrap()
        };
        let full = |db: &HashDb| {
            let snap = db.matcher.pdq_snapshot();
            assert_eq!(snap.rows, db.store.pdq_rows(&snap.gates).unwrap());
            snap
        };
        let l = import(&mut db, "l", 0, None);
        import(&mut db, "gated", 100, Some(90));
        import(&mut db, "gated", 200, Some(10));
        db.import(
            "l",
            vec![Ok(Record::new(Value::Md5(Md5([7; 16]))))],
            Path::new("t"),
            ImportOptions::default(),
        )
        .unwrap();
        let before = full(&db);
        assert_eq!(before.rows.len(), 40, "20 of l, 20 passing the gate");
        assert_eq!(before.gates.len(), 2);
        assert!(before.rows.entries.windows(2).all(|w| w[0] < w[1]));
        for (id, status) in [
            (l.added_ids[3], Status::Disputed),
            (l.added_ids[4], Status::Disabled),
        ] {
            db.set_status(
                id,
                &StatusChange {
                    status,
                    ..Default::default()
                },
            )
            .unwrap();
        }
        import(&mut db, "l", 300, None);
        let after = full(&db);
        assert_eq!(after.rows.len(), 58);
        assert!(!after.rows.entries.contains(&l.added_ids[3]));
    }
}
