//! A fingerprint of everything a match result depends on, for results kept
//! outside the database (a scan's resume state) to tell whether they are
//! still what the lists would give.
//!
//! What it covers: the index generation (schema V4: replaced by trigger on
//! every change of an entry's list, type, value, quality or status, and of
//! any list: its thresholds, gates, rules, enablement) and the allowlist
//! (which turns hits into suppressed ones). What it leaves out: labels,
//! notes and external ids, which decorate a hit but do not decide it.

use super::SqliteStore;
use crate::error::StoreError;

impl SqliteStore {
    /// The fingerprint of the lists and the allowlist as they are now (32
    /// hex digits); equal fingerprints mean the same matches for the same
    /// hashes and options.
    pub fn match_fingerprint(&self) -> Result<String, StoreError> {
        // One read transaction: the generation and the allowlist agree.
        let (_tx, generation) = self.generation_read()?;
        let mut h = blake3::Hasher::new();
        h.update(b"hashsieve match fingerprint 1\0");
        h.update(&generation.to_le_bytes());
        let mut st = self.conn.prepare_cached(
            "SELECT signal_type, value FROM allowlist ORDER BY signal_type, value",
        )?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            let t: String = r.get(0)?;
            let v: Vec<u8> = r.get(1)?;
            // Lengths first: no two different row sequences hash alike.
            h.update(&(t.len() as u64).to_le_bytes());
            h.update(t.as_bytes());
            h.update(&(v.len() as u64).to_le_bytes());
            h.update(&v);
        }
        Ok(h.finalize().to_hex()[..32].to_string())
    }
}

#[cfg(test)]
mod tests {
    use crate::error::ParseError;
    use crate::model::{NewList, Record, Value};
    use crate::types::{Md5, Pdq};
    use std::path::Path;

    crate::store::backend_tests::both! {
    fn changes_with_what_decides_a_match_only(db) {
        let mut s = db.open();
        s.create_list(&NewList::new("l")).unwrap();
        let mut seen = vec![s.match_fingerprint().unwrap()];
        assert_eq!(seen[0].len(), 32);
        assert_eq!(s.match_fingerprint().unwrap(), seen[0], "stable");
        let rec = |b: u8| Ok::<_, ParseError>(Record::new(Value::Pdq(Pdq([b; 32]))));
        s.import("l", [rec(1)], Path::new("t"), Default::default())
            .unwrap();
        seen.push(s.match_fingerprint().unwrap());
        s.set_list_enabled("l", false).unwrap();
        seen.push(s.match_fingerprint().unwrap());
        s.allow(&Value::Md5(Md5([3; 16])), None, None).unwrap();
        seen.push(s.match_fingerprint().unwrap());
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), seen.len(), "{seen:?}");
    }
    }
}
