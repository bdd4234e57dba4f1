//! The allowlist, API tokens and HMA content items on PostgreSQL: the
//! contracts of `store/allowlist.rs`, `store/tokens.rs` and
//! `store/hma_content.rs`.

use std::collections::BTreeMap;

use super::entries::{insert_or_merge, ImportStatements};
use super::{PgStore, Touch};
use crate::error::StoreError;
use crate::model::{EntryId, ListId, Record, Value};
use crate::store::entries::decode_value;
use crate::store::entries::validate;
use crate::store::hma_content::{
    check_disable_until, check_note, no_signals, ContentOf, HmaContent, CONTENT_ENABLED,
};
use crate::store::now;
use crate::store::tokens::{parse_scopes, random_secret, scopes_text, token_hash, TABLE};
use crate::store::{AllowEntry, Scope, TokenInfo};

impl PgStore {
    // The allowlist.

    pub fn allow(
        &mut self,
        value: &Value,
        note: Option<&str>,
        by: Option<&str>,
    ) -> Result<i64, StoreError> {
        if matches!(value, Value::Tmk(_) | Value::Vpdq(_)) {
            return Err(StoreError::Invalid {
                field: "allowlist value",
                message: "vPDQ and TMK+PDQF hashes cannot be allowlisted as a whole; allowlist \
                          a digest or frame hashes as pdq"
                    .into(),
            });
        }
        let st = value.signal_type().as_str();
        let key = value.key();
        let mut c = self.client()?;
        let mut tx = Self::write_tx(&mut c)?;
        let existing = tx.query_opt(
            "SELECT id FROM allowlist WHERE signal_type = $1 AND value = $2",
            &[&st, &key],
        )?;
        if let Some(r) = existing {
            let id = r.try_get(0)?;
            tx.commit()?;
            return Ok(id);
        }
        let id: i64 = tx
            .query_one(
                "INSERT INTO allowlist (signal_type, value, note, added_by, added_at)
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
                &[&st, &key, &note, &by, &now()],
            )?
            .try_get(0)?;
        // Logged with its value: servers apply it in place (`changes.rs`).
        tx.execute(
            "INSERT INTO allowlist_log (allow_id, signal_type, value, added) VALUES ($1, $2, $3, TRUE)",
            &[&id, &st, &key],
        )?;
        Self::commit(tx, Touch::Index)?;
        Ok(id)
    }

    pub fn disallow(&mut self, id: i64) -> Result<(), StoreError> {
        let mut c = self.client()?;
        let mut tx = Self::write_tx(&mut c)?;
        let Some(row) = tx.query_opt(
            "DELETE FROM allowlist WHERE id = $1 RETURNING signal_type, value",
            &[&id],
        )?
        else {
            return Err(StoreError::Invalid {
                field: "allowlist id",
                message: format!("no allowlist entry {id}"),
            });
        };
        let (st, value): (String, Vec<u8>) = (row.try_get(0)?, row.try_get(1)?);
        tx.execute(
            "INSERT INTO allowlist_log (allow_id, signal_type, value, added) VALUES ($1, $2, $3, FALSE)",
            &[&id, &st, &value],
        )?;
        Self::commit(tx, Touch::Index)
    }

    pub fn allowlist(&self) -> Result<Vec<(AllowEntry, Value)>, StoreError> {
        let rows = self.client()?.query(
            "SELECT id, signal_type, value, note, added_by, added_at FROM allowlist ORDER BY id",
            &[],
        )?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let signal_type: String = r.try_get(1)?;
            let value = decode_value(&signal_type, r.try_get(2)?)?;
            out.push((
                AllowEntry {
                    id: r.try_get(0)?,
                    signal_type,
                    value: value.to_text(),
                    note: r.try_get(3)?,
                    added_by: r.try_get(4)?,
                    added_at: r.try_get(5)?,
                },
                value,
            ));
        }
        Ok(out)
    }

    // API tokens.

    pub fn create_token(
        &mut self,
        scopes: &[Scope],
        note: Option<&str>,
        expires_at: Option<i64>,
    ) -> Result<(i64, String), StoreError> {
        if scopes.is_empty() {
            return Err(StoreError::Invalid {
                field: "scope",
                message: "a token needs at least one scope".into(),
            });
        }
        let created = now();
        if let Some(e) = expires_at.filter(|e| *e <= created) {
            return Err(StoreError::Invalid {
                field: "expires_at",
                message: format!("{e} is not in the future (now: {created})"),
            });
        }
        let secret = random_secret()?;
        let mut c = self.client()?;
        let mut tx = Self::write_tx(&mut c)?;
        let id: i64 = tx
            .query_one(
                "INSERT INTO api_tokens (hash, scopes, note, created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
                &[
                    &&token_hash(&secret)[..],
                    &scopes_text(scopes),
                    &note,
                    &created,
                    &expires_at,
                ],
            )?
            .try_get(0)?;
        Self::commit(tx, Touch::Data)?;
        Ok((id, secret))
    }

    pub fn revoke_token(&mut self, id: i64) -> Result<(), StoreError> {
        let mut c = self.client()?;
        let mut tx = Self::write_tx(&mut c)?;
        let n = tx.execute(
            "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1",
            &[&id, &now()],
        )?;
        if n == 0 {
            return Err(StoreError::Invalid {
                field: "token",
                message: format!("no token with id {id}"),
            });
        }
        Self::commit(tx, Touch::Data)
    }

    pub fn record_token_use(&mut self, uses: &[(i64, i64)]) -> Result<(), StoreError> {
        if uses.is_empty() {
            return Ok(());
        }
        let mut c = self.client()?;
        // Not through the write lock nor announced: a time of last use
        // decides nothing, and every server writes them about once a minute.
        let mut tx = c.transaction()?;
        let st = tx.prepare(
            "UPDATE api_tokens SET last_used_at = greatest(coalesce(last_used_at, 0), $2)
             WHERE id = $1",
        )?;
        for (id, at) in uses {
            tx.execute(&st, &[id, at])?;
        }
        tx.commit()?;
        Ok(())
    }

    pub fn has_any_token(&self) -> Result<bool, StoreError> {
        Ok(self
            .client()?
            .query_one("SELECT EXISTS (SELECT 1 FROM api_tokens)", &[])?
            .try_get(0)?)
    }

    pub fn tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
        self.token_rows()
            .map(|v| v.into_iter().map(|(_, t)| t).collect())
    }

    pub fn token_rows(&self) -> Result<Vec<([u8; 32], TokenInfo)>, StoreError> {
        let rows = self.client()?.query(
            "SELECT id, hash, scopes, note, created_at, revoked_at, expires_at, last_used_at
             FROM api_tokens ORDER BY id",
            &[],
        )?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let hash: [u8; 32] =
                r.try_get::<_, &[u8]>(1)?
                    .try_into()
                    .map_err(|_| StoreError::Corrupt {
                        table: TABLE,
                        message: "token hash is not 32 bytes".into(),
                    })?;
            out.push((
                hash,
                TokenInfo {
                    id: r.try_get(0)?,
                    scopes: parse_scopes(r.try_get(2)?)?,
                    note: r.try_get(3)?,
                    created_at: r.try_get(4)?,
                    revoked_at: r.try_get(5)?,
                    expires_at: r.try_get(6)?,
                    last_used_at: r.try_get(7)?,
                },
            ));
        }
        Ok(out)
    }

    pub fn verify_token(&self, secret: &str) -> Result<Option<TokenInfo>, StoreError> {
        let h = token_hash(secret);
        let id: Option<i64> = self
            .client()?
            .query_opt(
                "SELECT id FROM api_tokens WHERE hash = $1 AND revoked_at IS NULL",
                &[&&h[..]],
            )?
            .map(|r| r.try_get(0))
            .transpose()?;
        let t = match id {
            Some(id) => self.tokens()?.into_iter().find(|t| t.id == id),
            None => None,
        };
        Ok(t.filter(|t| t.live_at(now())))
    }

    // HMA content items.

    pub fn entry_id_of(
        &self,
        list_id: ListId,
        value: &Value,
    ) -> Result<Option<EntryId>, StoreError> {
        Ok(self
            .client()?
            .query_opt(
                "SELECT id FROM entries WHERE list_id = $1 AND signal_type = $2 AND value = $3",
                &[&list_id, &value.signal_type().as_str(), &value.key()],
            )?
            .map(|r| r.try_get(0))
            .transpose()?)
    }

    pub fn hma_content_add(
        &mut self,
        list: &str,
        values: &[Value],
        note: Option<&str>,
        metadata: Option<&str>,
    ) -> Result<EntryId, StoreError> {
        check_note(note)?;
        if values.is_empty() {
            return Err(no_signals());
        }
        let list_id = self.list(list)?.id;
        let mut c = self.client()?;
        let mut tx = Self::write_tx(&mut c)?;
        let st = ImportStatements::prepare(&mut tx)?;
        let (id, added) = add_item(&mut tx, &st, list_id, values, note, metadata)?;
        if added {
            tx.execute(
                "UPDATE lists SET updated_at = $1 WHERE id = $2",
                &[&now(), &list_id],
            )?;
        }
        Self::commit(tx, if added { Touch::Index } else { Touch::Data })?;
        Ok(id)
    }

    pub fn hma_content(
        &self,
        list_id: ListId,
        id: EntryId,
    ) -> Result<Option<HmaContent>, StoreError> {
        let mut c = self.client()?;
        let row = c.query_opt(
            "SELECT list_id, note, metadata, disable_until_ts FROM hma_items WHERE id = $1",
            &[&id],
        )?;
        let Some(row) = row else {
            // An entry held by no item: an item by itself.
            let own = c.query_opt(
                "SELECT e.list_id FROM entries e
                 WHERE e.id = $1 AND e.list_id = $2
                   AND NOT EXISTS (SELECT 1 FROM hma_item_entries m WHERE m.entry_id = e.id)",
                &[&id, &list_id],
            )?;
            return Ok(own.map(|_| HmaContent {
                id,
                list_id,
                note: None,
                metadata: None,
                disable_until_ts: CONTENT_ENABLED,
                entries: vec![id],
            }));
        };
        if row.try_get::<_, ListId>(0)? != list_id {
            return Ok(None);
        }
        let mut entries = Vec::new();
        for r in c.query(
            "SELECT entry_id FROM hma_item_entries WHERE item_id = $1
             ORDER BY entry_id <> $1, entry_id",
            &[&id],
        )? {
            entries.push(r.try_get(0)?);
        }
        if entries.is_empty() {
            return Ok(None);
        }
        Ok(Some(HmaContent {
            id,
            list_id,
            note: row.try_get(1)?,
            metadata: row.try_get(2)?,
            disable_until_ts: row.try_get(3)?,
            entries,
        }))
    }

    pub fn hma_content_update(
        &mut self,
        id: EntryId,
        disable_until_ts: Option<i64>,
        note: Option<Option<&str>>,
    ) -> Result<(), StoreError> {
        check_disable_until(disable_until_ts)?;
        check_note(note.flatten())?;
        let mut c = self.client()?;
        let mut tx = Self::write_tx(&mut c)?;
        own_row(&mut tx, id)?;
        if let Some(t) = disable_until_ts {
            tx.execute(
                "UPDATE hma_items SET disable_until_ts = $2 WHERE id = $1",
                &[&id, &t],
            )?;
        }
        if let Some(n) = note {
            tx.execute("UPDATE hma_items SET note = $2 WHERE id = $1", &[&id, &n])?;
        }
        Self::commit(tx, Touch::Data)
    }

    pub fn hma_content_delete(&mut self, list_id: ListId, id: EntryId) -> Result<u64, StoreError> {
        let Some(item) = self.hma_content(list_id, id)? else {
            return Ok(0);
        };
        let mut c = self.client()?;
        let mut tx = Self::write_tx(&mut c)?;
        delete_item(&mut tx, id, &item.entries)?;
        tx.execute(
            "UPDATE lists SET updated_at = $2 WHERE id = $1",
            &[&list_id, &now()],
        )?;
        Self::commit(tx, Touch::Index)?;
        Ok(1)
    }

    pub fn hma_contents_of(
        &self,
        entries: &[EntryId],
    ) -> Result<BTreeMap<EntryId, Vec<ContentOf>>, StoreError> {
        let mut c = self.client()?;
        let st = c.prepare(
            "SELECT coalesce(i.id, e.id), coalesce(i.disable_until_ts, 1)
             FROM entries e
             LEFT JOIN hma_item_entries m ON m.entry_id = e.id
             LEFT JOIN hma_items i ON i.id = m.item_id
             WHERE e.id = $1
             ORDER BY 1",
        )?;
        let mut out = BTreeMap::new();
        for &e in entries {
            let mut items = Vec::new();
            for r in c.query(&st, &[&e])? {
                items.push(ContentOf {
                    content_id: r.try_get(0)?,
                    disable_until_ts: r.try_get(1)?,
                });
            }
            if !items.is_empty() {
                out.insert(e, items);
            }
        }
        Ok(out)
    }

    pub fn hma_extra_signals(&self) -> Result<BTreeMap<(ListId, String), u64>, StoreError> {
        let mut out = BTreeMap::new();
        for r in self.client()?.query(
            "SELECT e.list_id, e.signal_type, count(*) - count(DISTINCT e.id)
             FROM hma_item_entries m JOIN entries e ON e.id = m.entry_id
             WHERE e.status = 'active'
             GROUP BY e.list_id, e.signal_type",
            &[],
        )? {
            let n: i64 = r.try_get(2)?;
            if n > 0 {
                out.insert((r.try_get(0)?, r.try_get(1)?), n as u64);
            }
        }
        Ok(out)
    }

    pub fn hma_ratios(&self) -> Result<BTreeMap<String, f64>, StoreError> {
        let mut out = BTreeMap::new();
        for r in self
            .client()?
            .query("SELECT name, enabled, hma_enabled_ratio FROM lists", &[])?
        {
            let (name, enabled, ratio): (String, bool, f64) =
                (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
            // As on SQLite: a list disabled by other means answers 0, one
            // enabled by other means after HMA set 0 answers 1.
            let v = match (enabled, ratio > 0.0) {
                (false, _) => 0.0,
                (true, true) => ratio,
                (true, false) => 1.0,
            };
            out.insert(name, v);
        }
        Ok(out)
    }

    pub fn set_hma_ratio(&mut self, name: &str, ratio: f64) -> Result<(), StoreError> {
        if !(0.0..=1.0).contains(&ratio) {
            return Err(StoreError::Invalid {
                field: "enabled_ratio",
                message: format!("enabled_ratio must be between 0 and 1, got {ratio}"),
            });
        }
        let mut c = self.client()?;
        let mut tx = Self::write_tx(&mut c)?;
        let n = tx.execute(
            "UPDATE lists SET hma_enabled_ratio = $1, enabled = $2, updated_at = $3 WHERE name = $4",
            &[&ratio, &(ratio > 0.0), &now(), &name],
        )?;
        if n == 0 {
            return Err(StoreError::NoSuchList(name.to_string()));
        }
        Self::commit(tx, Touch::Index)
    }

    pub fn rename_list(&mut self, from: &str, to: &str) -> Result<(), StoreError> {
        if from == to {
            self.list(from)?;
            return Ok(());
        }
        let mut c = self.client()?;
        let mut tx = Self::write_tx(&mut c)?;
        if tx
            .query_opt("SELECT id FROM lists WHERE name = $1", &[&to])?
            .is_some()
        {
            return Err(StoreError::ListExists(to.to_string()));
        }
        let n = tx.execute(
            "UPDATE lists SET name = $1, updated_at = $2 WHERE name = $3",
            &[&to, &now(), &from],
        )?;
        if n == 0 {
            return Err(StoreError::NoSuchList(from.to_string()));
        }
        Self::commit(tx, Touch::Index)
    }
}

/// Bank `values` in list `list_id` as one new content item inside `tx`:
/// the contract of `add_item` in `store/hma_content.rs`.
pub(super) fn add_item(
    tx: &mut postgres::Transaction<'_>,
    st: &ImportStatements,
    list_id: ListId,
    values: &[Value],
    note: Option<&str>,
    metadata: Option<&str>,
) -> Result<(EntryId, bool), StoreError> {
    if values.is_empty() {
        return Err(no_signals());
    }
    let mut ids: Vec<(EntryId, bool)> = Vec::with_capacity(values.len());
    for v in values {
        let rec = Record::new(v.clone());
        validate(&rec).map_err(|message| StoreError::Invalid {
            field: "signals",
            message,
        })?;
        // Looked up first: an insert that meets the value would take a
        // value of the identity all the same, and the next item's id
        // would skip it (HMA's count on: 1, 2, 3).
        let found = tx.query_opt(&st.find, &[&list_id, &v.signal_type().as_str(), &v.key()])?;
        let id = match found {
            Some(r) => (r.try_get(0)?, false),
            None => match insert_or_merge(tx, st, list_id, &rec)? {
                (Some(id), _) => (id, true),
                // Cannot happen under the write lock; as found all the same.
                (None, _) => (
                    tx.query_one(&st.find, &[&list_id, &v.signal_type().as_str(), &v.key()])?
                        .try_get(0)?,
                    false,
                ),
            },
        };
        if !ids.iter().any(|(e, _)| *e == id.0) {
            ids.push(id);
        }
    }
    // No entry ever takes a value of the identity already given out,
    // so a fresh item id from it names nothing else.
    let (first, first_new) = ids[0];
    let id: EntryId = if first_new {
        first
    } else {
        tx.query_one(
            "SELECT nextval(pg_get_serial_sequence('entries', 'id'))",
            &[],
        )?
        .try_get(0)?
    };
    for &(e, new) in &ids {
        if !new {
            own_row(tx, e)?;
        }
    }
    tx.execute(
        "INSERT INTO hma_items (id, list_id, note, metadata) VALUES ($1, $2, $3, $4)",
        &[&id, &list_id, &note, &metadata],
    )?;
    for &(e, _) in &ids {
        tx.execute(
            "INSERT INTO hma_item_entries (item_id, entry_id) VALUES ($1, $2)
             ON CONFLICT DO NOTHING",
            &[&id, &e],
        )?;
    }
    Ok((id, ids.iter().any(|&(_, new)| new)))
}

/// Delete content item `id`, which holds `entries`, inside `tx`: the
/// contract of `delete_item` in `store/hma_content.rs`.
pub(super) fn delete_item(
    tx: &mut postgres::Transaction<'_>,
    id: EntryId,
    entries: &[EntryId],
) -> Result<(), StoreError> {
    tx.execute("DELETE FROM hma_items WHERE id = $1", &[&id])?;
    for e in entries.iter().rev() {
        tx.execute(
            "DELETE FROM entries WHERE id = $1
               AND NOT EXISTS (SELECT 1 FROM hma_item_entries WHERE entry_id = $1)",
            &[e],
        )?;
    }
    Ok(())
}

/// Entry `id`, an item by itself, gets a row of its own (id kept): the
/// contract of `own_row` in `store/hma_content.rs`.
fn own_row(tx: &mut postgres::Transaction<'_>, id: EntryId) -> Result<(), StoreError> {
    let n = tx.execute(
        "INSERT INTO hma_items (id, list_id)
         SELECT e.id, e.list_id FROM entries e
         WHERE e.id = $1 AND NOT EXISTS (SELECT 1 FROM hma_item_entries m WHERE m.entry_id = e.id)
           AND NOT EXISTS (SELECT 1 FROM hma_items i WHERE i.id = e.id)",
        &[&id],
    )?;
    if n == 1 {
        tx.execute(
            "INSERT INTO hma_item_entries (item_id, entry_id) VALUES ($1, $1)",
            &[&id],
        )?;
    }
    Ok(())
}
