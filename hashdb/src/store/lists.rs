//! Lists ("banks"): create, read, change settings, enable/disable, count.

use rusqlite::{params, OptionalExtension, Row};
use serde::Serialize;

use super::{now, SqliteStore};
use crate::error::StoreError;
use crate::model::{ListId, ListInfo, ListUpdate, NewList};

pub(super) const LIST_COLUMNS: &str =
    "id, name, description, source, enabled, pdq_threshold, pdq_quality, \
     created_at, updated_at, vpdq_target_percent, vpdq_query_percent, vpdq_min_clip_frames, \
     tmk_level1, tmk_level2";

fn list_from_row(r: &Row<'_>) -> rusqlite::Result<ListInfo> {
    Ok(ListInfo {
        id: r.get(0)?,
        name: r.get(1)?,
        description: r.get(2)?,
        source: r.get(3)?,
        enabled: r.get(4)?,
        pdq_threshold: r.get(5)?,
        pdq_quality: r.get(6)?,
        created_at: r.get(7)?,
        updated_at: r.get(8)?,
        vpdq_target_percent: r.get(9)?,
        vpdq_query_percent: r.get(10)?,
        vpdq_min_clip_frames: r.get(11)?,
        tmk_level1: r.get::<_, f64>(12)? as f32,
        tmk_level2: r.get::<_, f64>(13)? as f32,
    })
}

/// Entries of one signal type and status in a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignalCount {
    pub signal_type: String,
    pub status: String,
    pub count: u64,
}

/// A list and what it holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ListStats {
    #[serde(flatten)]
    pub list: ListInfo,
    pub entries: u64,
    pub counts: Vec<SignalCount>,
}

pub(super) fn validate(new: &NewList) -> Result<(), StoreError> {
    let name = new.name.trim();
    if name.is_empty() || name != new.name || name.chars().any(char::is_control) {
        return Err(StoreError::Invalid {
            field: "list name",
            message: format!(
                "{:?}: must be non-empty, without surrounding spaces or control characters",
                new.name
            ),
        });
    }
    validate_settings(&ListUpdate {
        pdq_threshold: Some(new.pdq_threshold),
        pdq_quality: Some(new.pdq_quality),
        vpdq_target_percent: Some(new.vpdq_target_percent),
        vpdq_query_percent: Some(new.vpdq_query_percent),
        vpdq_min_clip_frames: Some(new.vpdq_min_clip_frames),
        tmk_level1: Some(new.tmk_level1),
        tmk_level2: Some(new.tmk_level2),
        ..ListUpdate::default()
    })
}

/// The ranges of a list's thresholds (the schema checks them too; this
/// gives the error a field name).
pub(super) fn validate_settings(u: &ListUpdate) -> Result<(), StoreError> {
    if let Some(t) = u.pdq_threshold.filter(|t| *t > 256) {
        return Err(StoreError::Invalid {
            field: "threshold",
            message: format!("{t} is above 256"),
        });
    }
    if let Some(q) = u.pdq_quality.filter(|q| *q > 100) {
        return Err(StoreError::Invalid {
            field: "quality",
            message: format!("{q} is above 100"),
        });
    }
    for (field, v) in [
        ("vpdq target percent", u.vpdq_target_percent),
        ("vpdq query percent", u.vpdq_query_percent),
    ] {
        if let Some(p) = v.filter(|p| !(0.0..=100.0).contains(p)) {
            return Err(StoreError::Invalid {
                field,
                message: format!("{p} is not within 0..=100"),
            });
        }
    }
    // Scores lie in [-1, 1] (level-2 a hair above 1 by rounding): a
    // threshold outside [-1, 2] is a mistake, not a policy.
    for (field, v) in [
        ("tmk level-1 threshold", u.tmk_level1),
        ("tmk level-2 threshold", u.tmk_level2),
    ] {
        if let Some(t) = v.filter(|t| !(-1.0..=2.0).contains(t)) {
            return Err(StoreError::Invalid {
                field,
                message: format!("{t} is not within -1..=2"),
            });
        }
    }
    Ok(())
}

impl SqliteStore {
    /// Create a list.
    ///
    /// # Errors
    /// [`StoreError::ListExists`], [`StoreError::Invalid`] for a bad name or
    /// threshold, [`StoreError::Locked`].
    pub fn create_list(&mut self, new: &NewList) -> Result<ListInfo, StoreError> {
        validate(new)?;
        let tx = self.immediate()?;
        let exists: Option<i64> = tx
            .query_row("SELECT id FROM lists WHERE name = ?1", [&new.name], |r| {
                r.get(0)
            })
            .optional()?;
        if exists.is_some() {
            return Err(StoreError::ListExists(new.name.clone()));
        }
        let t = now();
        tx.execute(
            "INSERT INTO lists (name, description, source, pdq_threshold, pdq_quality,
                 vpdq_target_percent, vpdq_query_percent, vpdq_min_clip_frames, created_at, updated_at,
                 tmk_level1, tmk_level2)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10, ?11)",
            params![
                new.name,
                new.description,
                new.source,
                new.pdq_threshold,
                new.pdq_quality,
                new.vpdq_target_percent,
                new.vpdq_query_percent,
                new.vpdq_min_clip_frames,
                t,
                f64::from(new.tmk_level1),
                f64::from(new.tmk_level2)
            ],
        )?;
        let id = tx.last_insert_rowid();
        let info = tx.query_row(
            &format!("SELECT {LIST_COLUMNS} FROM lists WHERE id = ?1"),
            [id],
            list_from_row,
        )?;
        tx.commit()?;
        Ok(info)
    }

    /// All lists, by name.
    pub fn lists(&self) -> Result<Vec<ListInfo>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached(&format!("SELECT {LIST_COLUMNS} FROM lists ORDER BY name"))?;
        let rows = st.query_map([], list_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Whether any list is enabled: with none, every lookup answers "no
    /// match", which a command that reads lists should not pass off as a
    /// result.
    pub fn has_enabled_list(&self) -> Result<bool, StoreError> {
        Ok(self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM lists WHERE enabled = 1)",
            [],
            |r| r.get(0),
        )?)
    }

    /// The list called `name`.
    pub fn list(&self, name: &str) -> Result<ListInfo, StoreError> {
        self.conn
            .query_row(
                &format!("SELECT {LIST_COLUMNS} FROM lists WHERE name = ?1"),
                [name],
                list_from_row,
            )
            .optional()?
            .ok_or_else(|| StoreError::NoSuchList(name.to_string()))
    }

    /// The list with row id `id`.
    pub fn list_by_id(&self, id: ListId) -> Result<ListInfo, StoreError> {
        self.conn
            .query_row(
                &format!("SELECT {LIST_COLUMNS} FROM lists WHERE id = ?1"),
                [id],
                list_from_row,
            )
            .optional()?
            .ok_or_else(|| StoreError::NoSuchList(format!("#{id}")))
    }

    /// Enable or disable a list (a disabled list is kept but never matched).
    pub fn set_list_enabled(&mut self, name: &str, enabled: bool) -> Result<ListInfo, StoreError> {
        let tx = self.immediate()?;
        let n = tx.execute(
            "UPDATE lists SET enabled = ?1, updated_at = ?2 WHERE name = ?3",
            params![enabled, now(), name],
        )?;
        if n == 0 {
            return Err(StoreError::NoSuchList(name.to_string()));
        }
        tx.commit()?;
        self.list(name)
    }

    /// Change a list's settings (the fields of `u` that are set); returns
    /// the list as it is now. A matcher loaded before sees the change only
    /// when reloaded (thresholds and gates are applied at load and match).
    ///
    /// # Errors
    /// [`StoreError::NoSuchList`], [`StoreError::Invalid`] for a value out
    /// of range, [`StoreError::Locked`].
    pub fn update_list(&mut self, name: &str, u: &ListUpdate) -> Result<ListInfo, StoreError> {
        validate_settings(u)?;
        let tx = self.immediate()?;
        let n = tx.execute(
            "UPDATE lists SET
                 description = coalesce(?2, description),
                 source = coalesce(?3, source),
                 enabled = coalesce(?4, enabled),
                 pdq_threshold = coalesce(?5, pdq_threshold),
                 pdq_quality = coalesce(?6, pdq_quality),
                 vpdq_target_percent = coalesce(?7, vpdq_target_percent),
                 vpdq_query_percent = coalesce(?8, vpdq_query_percent),
                 vpdq_min_clip_frames = coalesce(?9, vpdq_min_clip_frames),
                 updated_at = ?10,
                 tmk_level1 = coalesce(?11, tmk_level1),
                 tmk_level2 = coalesce(?12, tmk_level2)
             WHERE name = ?1",
            params![
                name,
                u.description,
                u.source,
                u.enabled,
                u.pdq_threshold,
                u.pdq_quality,
                u.vpdq_target_percent,
                u.vpdq_query_percent,
                u.vpdq_min_clip_frames,
                now(),
                u.tmk_level1.map(f64::from),
                u.tmk_level2.map(f64::from)
            ],
        )?;
        if n == 0 {
            return Err(StoreError::NoSuchList(name.to_string()));
        }
        tx.commit()?;
        self.list(name)
    }

    /// Delete a list and all its entries.
    pub fn delete_list(&mut self, name: &str) -> Result<(), StoreError> {
        let tx = self.immediate()?;
        // The ids of the deleted entries and HMA items are not given
        // again (SQLite would give the largest again): an HMA client may
        // have stored them (`id_floor`, schema V10).
        tx.execute(
            "UPDATE id_floor SET value = max(value, coalesce((SELECT max(id) FROM entries), 0),
                                            coalesce((SELECT max(id) FROM hma_items), 0))
             WHERE id = 1",
            [],
        )?;
        let n = tx.execute("DELETE FROM lists WHERE name = ?1", [name])?;
        if n == 0 {
            return Err(StoreError::NoSuchList(name.to_string()));
        }
        tx.commit()?;
        Ok(())
    }

    /// Every list with its entry counts by signal type and status.
    pub fn stats(&self) -> Result<Vec<ListStats>, StoreError> {
        let lists = self.lists()?;
        let mut st = self.conn.prepare_cached(
            "SELECT signal_type, status, count(*) FROM entries WHERE list_id = ?1
             GROUP BY signal_type, status ORDER BY signal_type, status",
        )?;
        let mut out = Vec::with_capacity(lists.len());
        for list in lists {
            let counts: Vec<SignalCount> = st
                .query_map([list.id], |r| {
                    Ok(SignalCount {
                        signal_type: r.get(0)?,
                        status: r.get(1)?,
                        count: r.get::<_, i64>(2)? as u64,
                    })
                })?
                .collect::<Result<_, _>>()?;
            out.push(ListStats {
                entries: counts.iter().map(|c| c.count).sum(),
                list,
                counts,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::store::backend_tests::both! {
    fn create_enable_disable(db) {
        let mut s = db.open();
        let l = s.create_list(&NewList::new("gifct")).unwrap();
        assert_eq!((l.pdq_threshold, l.pdq_quality, l.enabled), (31, 50, true));
        assert!(matches!(
            s.create_list(&NewList::new("gifct")),
            Err(StoreError::ListExists(_))
        ));
        assert!(matches!(
            s.create_list(&NewList::new(" ")),
            Err(StoreError::Invalid { .. })
        ));
        assert!(!s.set_list_enabled("gifct", false).unwrap().enabled);
        assert!(matches!(
            s.set_list_enabled("nope", true),
            Err(StoreError::NoSuchList(_))
        ));
        assert_eq!(s.lists().unwrap().len(), 1);
    }
    }

    crate::store::backend_tests::both! {
    fn vpdq_rules_are_stored_per_list_and_updated(db) {
        let mut s = db.open();
        let d = s.create_list(&NewList::new("default")).unwrap();
        assert_eq!(
            (
                d.vpdq_target_percent,
                d.vpdq_query_percent,
                d.vpdq_min_clip_frames
            ),
            (80.0, 80.0, 3)
        );
        let strict = s
            .create_list(&NewList {
                vpdq_target_percent: 95.5,
                vpdq_min_clip_frames: 12,
                ..NewList::new("strict")
            })
            .unwrap();
        assert_eq!(s.list("strict").unwrap(), strict);
        assert_eq!(strict.vpdq_target_percent, 95.5);
        let u = s
            .update_list(
                "default",
                &ListUpdate {
                    vpdq_query_percent: Some(60.0),
                    pdq_threshold: Some(20),
                    ..ListUpdate::default()
                },
            )
            .unwrap();
        assert_eq!(
            (u.vpdq_target_percent, u.vpdq_query_percent, u.pdq_threshold),
            (80.0, 60.0, 20)
        );
        for bad in [
            ListUpdate {
                vpdq_target_percent: Some(101.0),
                ..ListUpdate::default()
            },
            ListUpdate {
                vpdq_query_percent: Some(f64::NAN),
                ..ListUpdate::default()
            },
            ListUpdate {
                pdq_quality: Some(101),
                ..ListUpdate::default()
            },
        ] {
            assert!(matches!(
                s.update_list("default", &bad),
                Err(StoreError::Invalid { .. })
            ));
        }
        assert_eq!(s.list("default").unwrap(), u);
        assert!(matches!(
            s.update_list("nope", &ListUpdate::default()),
            Err(StoreError::NoSuchList(_))
        ));
    }
    }
}
