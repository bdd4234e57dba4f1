//! The allowlist: hashes that must never be flagged (a national flag or a
//! news logo that also appears in propaganda). Matches against them are
//! reported as suppressed, not as hits.

use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::entries::decode_value;
use super::{now, SqliteStore};
use crate::error::StoreError;
use crate::model::Value;

/// One allowlisted hash.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AllowEntry {
    pub id: i64,
    pub signal_type: String,
    /// The hash as hex.
    pub value: String,
    pub note: Option<String>,
    pub added_by: Option<String>,
    pub added_at: i64,
}

impl SqliteStore {
    /// Allowlist `value` (idempotent: returns the existing id if present).
    ///
    /// # Errors
    /// [`StoreError::Invalid`] for a vPDQ value (allowlist its frames as PDQ).
    pub fn allow(
        &mut self,
        value: &Value,
        note: Option<&str>,
        by: Option<&str>,
    ) -> Result<i64, StoreError> {
        if matches!(value, Value::Tmk(_)) {
            return Err(StoreError::Invalid {
                field: "allowlist value",
                message: "TMK+PDQF hashes cannot be allowlisted; allowlist a digest or PDQ hash"
                    .into(),
            });
        }
        if matches!(value, Value::Vpdq(_)) {
            return Err(StoreError::Invalid {
                field: "allowlist value",
                message:
                    "vPDQ videos cannot be allowlisted as a whole; allowlist frame hashes as pdq"
                        .into(),
            });
        }
        let st = value.signal_type().as_str();
        let key = value.key();
        let tx = self.immediate()?;
        let existing: Option<i64> = tx
            .query_row(
                "SELECT id FROM allowlist WHERE signal_type = ?1 AND value = ?2",
                params![st, key],
                |r| r.get(0),
            )
            .optional()?;
        let id = match existing {
            Some(id) => id,
            None => {
                tx.execute(
                    "INSERT INTO allowlist (signal_type, value, note, added_by, added_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![st, key, note, by, now()],
                )?;
                let id = tx.last_insert_rowid();
                // Logged with its value, in the same transaction: servers
                // apply it in place (`store/changes.rs`).
                tx.execute(
                    "INSERT INTO allowlist_log (allow_id, signal_type, value, added) VALUES (?1, ?2, ?3, 1)",
                    params![id, st, key],
                )?;
                id
            }
        };
        tx.commit()?;
        Ok(id)
    }

    /// Remove allowlist row `id`.
    pub fn disallow(&mut self, id: i64) -> Result<(), StoreError> {
        let tx = self.immediate()?;
        let row: Option<(String, Vec<u8>)> = tx
            .query_row(
                "DELETE FROM allowlist WHERE id = ?1 RETURNING signal_type, value",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((st, value)) = row else {
            return Err(StoreError::Invalid {
                field: "allowlist id",
                message: format!("no allowlist entry {id}"),
            });
        };
        tx.execute(
            "INSERT INTO allowlist_log (allow_id, signal_type, value, added) VALUES (?1, ?2, ?3, 0)",
            params![id, st, value],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The allowlist, by id, with decoded values.
    pub fn allowlist(&self) -> Result<Vec<(AllowEntry, Value)>, StoreError> {
        let mut st = self.conn.prepare_cached(
            "SELECT id, signal_type, value, note, added_by, added_at FROM allowlist ORDER BY id",
        )?;
        let mut rows = st.query([])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let signal_type: String = r.get(1)?;
            let value = decode_value(&signal_type, &r.get::<_, Vec<u8>>(2)?)?;
            out.push((
                AllowEntry {
                    id: r.get(0)?,
                    signal_type,
                    value: value.to_text(),
                    note: r.get(3)?,
                    added_by: r.get(4)?,
                    added_at: r.get(5)?,
                },
                value,
            ));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::store::backend_tests::both! {
    fn allow_is_idempotent(db) {
        let mut s = db.open();
        let v = Value::Md5("0".repeat(32).parse().unwrap());
        let a = s.allow(&v, Some("flag"), None).unwrap();
        assert_eq!(s.allow(&v, None, None).unwrap(), a);
        assert_eq!(s.allowlist().unwrap().len(), 1);
        s.disallow(a).unwrap();
        assert!(s.allowlist().unwrap().is_empty());
        assert!(s.disallow(a).is_err());
    }
    }
}
