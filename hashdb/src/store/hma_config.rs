//! HMA 2.0 settings kept beside the lists (SQLite schema V9, PostgreSQL
//! V3): each signal type's `enabled_ratio` (`PUT /c/signal_type/<name>`)
//! and the configured exchanges (`/c/exchanges`). HMA keeps both in its
//! database, so a restart, or a second server on the same store, sees
//! them; so does hashsieve.
//!
//! The PostgreSQL backend's methods of the same names are in
//! `pg/hma_config.rs`.

use std::collections::BTreeMap;

use rusqlite::params;

use super::SqliteStore;
use crate::error::StoreError;

/// One configured HMA exchange.
#[derive(Debug, Clone, PartialEq)]
pub struct HmaExchange {
    /// The exchange's name (HMA's `bank`: the bank it fills).
    pub name: String,
    /// Its exchange type (`sample`, `local_file`).
    pub api: String,
    pub enabled: bool,
    /// The type-specific settings (HMA's `api_json`), as JSON text.
    pub config: String,
}

pub(super) fn check_ratio(ratio: f64) -> Result<(), StoreError> {
    if ratio.is_finite() && (0.0..=1.0).contains(&ratio) {
        Ok(())
    } else {
        Err(StoreError::Invalid {
            field: "enabled_ratio",
            message: format!("enabled_ratio must be between 0 and 1, got {ratio}"),
        })
    }
}

impl SqliteStore {
    /// The signal type ratios set so far, by HMA signal type name (a type
    /// never set is at HMA's default, 1).
    pub fn hma_signal_ratios(&self) -> Result<BTreeMap<String, f64>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached("SELECT name, enabled_ratio FROM hma_signal_types")?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, f64>(1)?)))?;
        let mut out = BTreeMap::new();
        for row in rows {
            let (name, ratio) = row?;
            out.insert(name, ratio);
        }
        Ok(out)
    }

    /// Set signal type `name`'s ratio (the caller knows the names).
    ///
    /// # Errors
    /// [`StoreError::Invalid`] outside 0..=1.
    pub fn set_hma_signal_ratio(&mut self, name: &str, ratio: f64) -> Result<(), StoreError> {
        check_ratio(ratio)?;
        let tx = self.immediate()?;
        tx.execute(
            "INSERT INTO hma_signal_types (name, enabled_ratio) VALUES (?1, ?2)
             ON CONFLICT (name) DO UPDATE SET enabled_ratio = excluded.enabled_ratio",
            params![name, ratio],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Every configured exchange, by name.
    pub fn hma_exchanges(&self) -> Result<Vec<HmaExchange>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached("SELECT name, api, enabled, config FROM hma_exchanges ORDER BY name")?;
        let rows = st.query_map([], |r| {
            Ok(HmaExchange {
                name: r.get(0)?,
                api: r.get(1)?,
                enabled: r.get(2)?,
                config: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Add an exchange: `false` (and nothing written) if one of that name
    /// exists.
    pub fn hma_exchange_create(&mut self, e: &HmaExchange) -> Result<bool, StoreError> {
        let tx = self.immediate()?;
        let n = tx.execute(
            "INSERT INTO hma_exchanges (name, api, enabled, config) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (name) DO NOTHING",
            params![e.name, e.api, e.enabled, e.config],
        )?;
        tx.commit()?;
        Ok(n == 1)
    }

    /// Enable or disable exchange `name`: `false` if there is none.
    pub fn hma_exchange_set_enabled(
        &mut self,
        name: &str,
        enabled: bool,
    ) -> Result<bool, StoreError> {
        let tx = self.immediate()?;
        let n = tx.execute(
            "UPDATE hma_exchanges SET enabled = ?1 WHERE name = ?2",
            params![enabled, name],
        )?;
        tx.commit()?;
        Ok(n == 1)
    }

    /// Remove exchange `name`: `false` if there was none.
    pub fn hma_exchange_delete(&mut self, name: &str) -> Result<bool, StoreError> {
        let tx = self.immediate()?;
        let n = tx.execute("DELETE FROM hma_exchanges WHERE name = ?1", params![name])?;
        tx.commit()?;
        Ok(n == 1)
    }
}
