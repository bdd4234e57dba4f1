//! Lists on PostgreSQL: the contract of `store/lists.rs`.

use postgres::Row;

use super::{PgStore, Touch};
use crate::error::StoreError;
use crate::model::{ListId, ListInfo, ListUpdate, NewList};
use crate::store::lists::{validate, validate_settings, ListStats, SignalCount, LIST_COLUMNS};
use crate::store::now;

fn u32_of(v: i64) -> u32 {
    v.clamp(0, i64::from(u32::MAX)) as u32
}

pub(super) fn list_from_row(r: &Row) -> Result<ListInfo, StoreError> {
    Ok(ListInfo {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        description: r.try_get(2)?,
        source: r.try_get(3)?,
        enabled: r.try_get(4)?,
        pdq_threshold: u32_of(r.try_get(5)?),
        pdq_quality: r.try_get::<_, i64>(6)?.clamp(0, 100) as u8,
        created_at: r.try_get(7)?,
        updated_at: r.try_get(8)?,
        vpdq_target_percent: r.try_get(9)?,
        vpdq_query_percent: r.try_get(10)?,
        vpdq_min_clip_frames: u32_of(r.try_get(11)?),
        tmk_level1: r.try_get::<_, f64>(12)? as f32,
        tmk_level2: r.try_get::<_, f64>(13)? as f32,
    })
}

impl PgStore {
    pub fn create_list(&mut self, new: &NewList) -> Result<ListInfo, StoreError> {
        validate(new)?;
        let mut c = self.client()?;
        let mut tx = Self::write_tx(&mut c)?;
        if tx
            .query_opt("SELECT id FROM lists WHERE name = $1", &[&new.name])?
            .is_some()
        {
            return Err(StoreError::ListExists(new.name.clone()));
        }
        let t = now();
        let row = tx.query_one(
            &format!(
                "INSERT INTO lists (name, description, source, pdq_threshold, pdq_quality,
                     vpdq_target_percent, vpdq_query_percent, vpdq_min_clip_frames, created_at,
                     updated_at, tmk_level1, tmk_level2)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10, $11)
                 RETURNING {LIST_COLUMNS}"
            ),
            &[
                &new.name,
                &new.description,
                &new.source,
                &i64::from(new.pdq_threshold),
                &i64::from(new.pdq_quality),
                &new.vpdq_target_percent,
                &new.vpdq_query_percent,
                &i64::from(new.vpdq_min_clip_frames),
                &t,
                &f64::from(new.tmk_level1),
                &f64::from(new.tmk_level2),
            ],
        )?;
        let info = list_from_row(&row)?;
        Self::commit(tx, Touch::Index)?;
        Ok(info)
    }

    pub fn lists(&self) -> Result<Vec<ListInfo>, StoreError> {
        self.client()?
            .query(
                &format!("SELECT {LIST_COLUMNS} FROM lists ORDER BY name COLLATE \"C\""),
                &[],
            )?
            .iter()
            .map(list_from_row)
            .collect()
    }

    pub fn has_enabled_list(&self) -> Result<bool, StoreError> {
        Ok(self
            .client()?
            .query_one("SELECT EXISTS (SELECT 1 FROM lists WHERE enabled)", &[])?
            .try_get(0)?)
    }

    pub fn list(&self, name: &str) -> Result<ListInfo, StoreError> {
        let row = self.client()?.query_opt(
            &format!("SELECT {LIST_COLUMNS} FROM lists WHERE name = $1"),
            &[&name],
        )?;
        match row {
            Some(r) => list_from_row(&r),
            None => Err(StoreError::NoSuchList(name.to_string())),
        }
    }

    pub fn list_by_id(&self, id: ListId) -> Result<ListInfo, StoreError> {
        let row = self.client()?.query_opt(
            &format!("SELECT {LIST_COLUMNS} FROM lists WHERE id = $1"),
            &[&id],
        )?;
        match row {
            Some(r) => list_from_row(&r),
            None => Err(StoreError::NoSuchList(format!("#{id}"))),
        }
    }

    pub fn set_list_enabled(&mut self, name: &str, enabled: bool) -> Result<ListInfo, StoreError> {
        {
            let mut c = self.client()?;
            let mut tx = Self::write_tx(&mut c)?;
            let n = tx.execute(
                "UPDATE lists SET enabled = $1, updated_at = $2 WHERE name = $3",
                &[&enabled, &now(), &name],
            )?;
            if n == 0 {
                return Err(StoreError::NoSuchList(name.to_string()));
            }
            Self::commit(tx, Touch::Index)?;
        }
        self.list(name)
    }

    pub fn update_list(&mut self, name: &str, u: &ListUpdate) -> Result<ListInfo, StoreError> {
        validate_settings(u)?;
        {
            let mut c = self.client()?;
            let mut tx = Self::write_tx(&mut c)?;
            let n = tx.execute(
                "UPDATE lists SET
                     description = coalesce($2, description),
                     source = coalesce($3, source),
                     enabled = coalesce($4, enabled),
                     pdq_threshold = coalesce($5, pdq_threshold),
                     pdq_quality = coalesce($6, pdq_quality),
                     vpdq_target_percent = coalesce($7, vpdq_target_percent),
                     vpdq_query_percent = coalesce($8, vpdq_query_percent),
                     vpdq_min_clip_frames = coalesce($9, vpdq_min_clip_frames),
                     updated_at = $10,
                     tmk_level1 = coalesce($11, tmk_level1),
                     tmk_level2 = coalesce($12, tmk_level2)
                 WHERE name = $1",
                &[
                    &name,
                    &u.description,
                    &u.source,
                    &u.enabled,
                    &u.pdq_threshold.map(i64::from),
                    &u.pdq_quality.map(i64::from),
                    &u.vpdq_target_percent,
                    &u.vpdq_query_percent,
                    &u.vpdq_min_clip_frames.map(i64::from),
                    &now(),
                    &u.tmk_level1.map(f64::from),
                    &u.tmk_level2.map(f64::from),
                ],
            )?;
            if n == 0 {
                return Err(StoreError::NoSuchList(name.to_string()));
            }
            Self::commit(tx, Touch::Index)?;
        }
        self.list(name)
    }

    pub fn delete_list(&mut self, name: &str) -> Result<(), StoreError> {
        let mut c = self.client()?;
        let mut tx = Self::write_tx(&mut c)?;
        if tx.execute("DELETE FROM lists WHERE name = $1", &[&name])? == 0 {
            return Err(StoreError::NoSuchList(name.to_string()));
        }
        Self::commit(tx, Touch::Index)
    }

    pub fn stats(&self) -> Result<Vec<ListStats>, StoreError> {
        let lists = self.lists()?;
        let mut c = self.client()?;
        let st = c.prepare(
            "SELECT signal_type, status, count(*) FROM entries WHERE list_id = $1
             GROUP BY signal_type, status ORDER BY signal_type COLLATE \"C\", status COLLATE \"C\"",
        )?;
        let mut out = Vec::with_capacity(lists.len());
        for list in lists {
            let mut counts = Vec::new();
            for r in c.query(&st, &[&list.id])? {
                counts.push(SignalCount {
                    signal_type: r.try_get(0)?,
                    status: r.try_get(1)?,
                    count: r.try_get::<_, i64>(2)?.max(0) as u64,
                });
            }
            out.push(ListStats {
                entries: counts.iter().map(|c| c.count).sum(),
                list,
                counts,
            });
        }
        Ok(out)
    }
}
