//! `/m/raw_lookup` on disabled banks.
//!
//! HMA documents that raw lookup does not check enablement, so a bank
//! disabled through HMA's API (ratio 0, which disables the list) must
//! still answer it. The in-memory index holds enabled lists only (scans
//! and the native API must not match a disabled list), so the entries of
//! the disabled banks are read from the database per raw lookup instead:
//! PDQ by Hamming distance under each list's threshold (and quality gate,
//! as the index has it), MD5/SHA-256/BLAKE3 by equality. A vPDQ or
//! TMK+PDQF query gets no hits from disabled banks (the README says so).
//! The cost is one read of the disabled banks' rows per raw lookup: small
//! for the disabled banks HMA deployments keep, and only on this route.

use std::collections::{BTreeMap, BTreeSet};

use hashdb::error::StoreError;
use hashdb::model::{EntryId, ListId, Value};
use hashdb::store::Store;

/// One raw-lookup match in a disabled bank.
#[derive(Debug, Clone, PartialEq)]
pub struct RawMatch {
    pub bank: String,
    pub content_id: EntryId,
    /// PDQ's Hamming distance; `None` for an exact hash (`-` in HMA's text).
    pub distance: Option<u32>,
}

/// The content items of disabled banks (restricted to `banks` when given)
/// that `v` matches: one per item (every item holding a matched entry),
/// its best entry, ordered by bank and id.
pub fn disabled_bank_matches(
    s: &Store,
    v: &Value,
    banks: Option<&BTreeSet<String>>,
) -> Result<Vec<RawMatch>, StoreError> {
    let lists: BTreeMap<ListId, hashdb::model::ListInfo> = s
        .lists()?
        .into_iter()
        .filter(|l| !l.enabled)
        .filter(|l| banks.is_none_or(|b| b.contains(&l.name)))
        .map(|l| (l.id, l))
        .collect();
    if lists.is_empty() {
        return Ok(Vec::new());
    }
    let mut hits: Vec<(EntryId, ListId, Option<u32>)> = Vec::new();
    match v {
        Value::Pdq(q) => {
            let gates: Vec<(ListId, u8)> = lists.values().map(|l| (l.id, l.pdq_quality)).collect();
            s.for_each_pdq_row(&gates, |entry, list, p| {
                let d = q.distance(&p);
                if lists.get(&list).is_some_and(|l| d <= l.pdq_threshold) {
                    hits.push((entry, list, Some(d)));
                }
            })?;
        }
        Value::Md5(_) | Value::Sha256(_) | Value::Blake3(_) => {
            let ids: Vec<ListId> = lists.keys().copied().collect();
            s.for_each_digest_row(&ids, |row| {
                if &row.value == v {
                    hits.push((row.entry, row.list, None));
                }
            })?;
        }
        Value::Vpdq(_) | Value::Tmk(_) => {}
    }
    if hits.is_empty() {
        return Ok(Vec::new());
    }
    let entries: Vec<EntryId> = hits.iter().map(|h| h.0).collect();
    let contents = s.hma_contents_of(&entries)?;
    let mut best: BTreeMap<(String, EntryId), Option<u32>> = BTreeMap::new();
    for (entry, list, d) in hits {
        let (Some(items), Some(l)) = (contents.get(&entry), lists.get(&list)) else {
            continue; // gone since
        };
        for c in items {
            let key = (l.name.clone(), c.content_id);
            match best.get(&key) {
                Some(b) if b.unwrap_or(0) <= d.unwrap_or(0) => {}
                _ => {
                    best.insert(key, d);
                }
            }
        }
    }
    Ok(best
        .into_iter()
        .map(|((bank, content_id), distance)| RawMatch {
            bank,
            content_id,
            distance,
        })
        .collect())
}
