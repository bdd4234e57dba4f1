//! HMA 2.0 settings on PostgreSQL (schema V3): the contract of the SQLite
//! methods of the same names (`store/hma_config.rs`).

use std::collections::BTreeMap;

use super::{PgStore, Touch};
use crate::error::StoreError;
use crate::store::hma_config::{check_ratio, HmaExchange};

impl PgStore {
    pub fn hma_signal_ratios(&self) -> Result<BTreeMap<String, f64>, StoreError> {
        let mut out = BTreeMap::new();
        for r in self
            .client()?
            .query("SELECT name, enabled_ratio FROM hma_signal_types", &[])?
        {
            out.insert(r.try_get(0)?, r.try_get(1)?);
        }
        Ok(out)
    }

    pub fn set_hma_signal_ratio(&mut self, name: &str, ratio: f64) -> Result<(), StoreError> {
        check_ratio(ratio)?;
        let mut c = self.client()?;
        let mut tx = Self::write_tx(&mut c)?;
        tx.execute(
            "INSERT INTO hma_signal_types (name, enabled_ratio) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET enabled_ratio = excluded.enabled_ratio",
            &[&name, &ratio],
        )?;
        // Not an index change: which signal types answer is decided by the
        // HMA routes, which read the ratios from here.
        Self::commit(tx, Touch::Data)
    }

    pub fn hma_exchanges(&self) -> Result<Vec<HmaExchange>, StoreError> {
        let mut out = Vec::new();
        for r in self.client()?.query(
            "SELECT name, api, enabled, config FROM hma_exchanges ORDER BY name",
            &[],
        )? {
            out.push(HmaExchange {
                name: r.try_get(0)?,
                api: r.try_get(1)?,
                enabled: r.try_get(2)?,
                config: r.try_get(3)?,
            });
        }
        Ok(out)
    }

    pub fn hma_exchange_create(&mut self, e: &HmaExchange) -> Result<bool, StoreError> {
        let mut c = self.client()?;
        let mut tx = Self::write_tx(&mut c)?;
        let n = tx.execute(
            "INSERT INTO hma_exchanges (name, api, enabled, config) VALUES ($1, $2, $3, $4)
             ON CONFLICT (name) DO NOTHING",
            &[&e.name, &e.api, &e.enabled, &e.config],
        )?;
        Self::commit(tx, Touch::Data)?;
        Ok(n == 1)
    }

    pub fn hma_exchange_set_enabled(
        &mut self,
        name: &str,
        enabled: bool,
    ) -> Result<bool, StoreError> {
        let mut c = self.client()?;
        let mut tx = Self::write_tx(&mut c)?;
        let n = tx.execute(
            "UPDATE hma_exchanges SET enabled = $1 WHERE name = $2",
            &[&enabled, &name],
        )?;
        Self::commit(tx, Touch::Data)?;
        Ok(n == 1)
    }

    pub fn hma_exchange_delete(&mut self, name: &str) -> Result<bool, StoreError> {
        let mut c = self.client()?;
        let mut tx = Self::write_tx(&mut c)?;
        let n = tx.execute("DELETE FROM hma_exchanges WHERE name = $1", &[&name])?;
        Self::commit(tx, Touch::Data)?;
        Ok(n == 1)
    }
}
