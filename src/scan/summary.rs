//! The totals of a scan: what a batch system logs and acts on.
//!
//! Counted from the records as they are reported (fresh or re-emitted from
//! the resume state alike), so the summary always agrees with the report.

use crate::escape::escape;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// Totals of one scan (the `--summary-json` object).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// The run name (for `--resume`), when the state is kept.
    pub run: Option<String>,
    /// Input files (an archive counts once).
    pub files: u64,
    /// Records reported (files plus archive members).
    pub records: u64,
    /// Bytes of the input files, as listed.
    pub bytes: u64,
    pub images: u64,
    pub videos: u64,
    pub archives: u64,
    /// Archive members (at any depth).
    pub members: u64,
    /// Video frames hashed.
    pub frames: u64,
    /// Records with at least one hit that is not suppressed.
    pub records_matched: u64,
    /// Hits (not suppressed).
    pub matches: u64,
    /// Hits suppressed by the allowlist.
    pub suppressed: u64,
    /// Hits by list name.
    pub matches_by_list: BTreeMap<String, u64>,
    /// Records with an error.
    pub errors: u64,
    /// Errors by kind (`io`, `decode`, `limit`, `unsupported`, `timeout`, `crash`).
    pub errors_by_kind: BTreeMap<String, u64>,
    /// Files not scanned again: their records came from the resume state.
    pub resumed_files: u64,
    /// Items whose hashes were reused from identical content.
    pub deduplicated: u64,
    /// Whether matching ran (a hash database was loaded).
    pub matching: bool,
    /// PDQ hashes indexed from the hash database (image entries and
    /// video frames).
    pub indexed_pdq_hashes: u64,
    /// Stopped early (Ctrl-C): files not yet reached are not reported.
    pub interrupted: bool,
    pub seconds: f64,
    /// The process exit code this summary implies.
    pub exit_code: u8,
}

/// Per-record facts used by the summary and the progress bar.
#[derive(Debug, Default, Clone, Copy)]
pub struct RecordFacts {
    pub matches: u64,
    pub error: bool,
}

impl Summary {
    /// Count one record.
    pub fn add_record(&mut self, rec: &Value) -> RecordFacts {
        self.records += 1;
        let path = rec.get("path").and_then(Value::as_str).unwrap_or("");
        if path.contains("!/") {
            self.members += 1;
        }
        match rec.get("media").and_then(Value::as_str) {
            Some("image") => self.images += 1,
            Some("video") => {
                self.videos += 1;
                self.frames += rec
                    .get("pdq")
                    .and_then(Value::as_array)
                    .map_or(0, |a| a.len() as u64);
            }
            Some("archive") => self.archives += 1,
            _ => {}
        }
        let mut facts = RecordFacts::default();
        if let Some(ms) = rec.get("matches").and_then(Value::as_array) {
            for m in ms {
                if m.get("suppressed").and_then(Value::as_bool) == Some(true) {
                    self.suppressed += 1;
                    continue;
                }
                facts.matches += 1;
                let list = m.get("list").and_then(Value::as_str).unwrap_or("");
                *self.matches_by_list.entry(list.to_string()).or_default() += 1;
            }
        }
        if facts.matches > 0 {
            self.records_matched += 1;
            self.matches += facts.matches;
        }
        if let Some(e) = rec.get("error").filter(|e| !e.is_null()) {
            facts.error = true;
            self.errors += 1;
            let kind = e.get("kind").and_then(Value::as_str).unwrap_or("io");
            *self.errors_by_kind.entry(kind.to_string()).or_default() += 1;
        }
        facts
    }

    /// 130 when interrupted, else [`crate::exit::code`]: 3 matches and
    /// errors, 2 errors only, 1 matches only, 0 neither.
    pub fn compute_exit_code(&self) -> u8 {
        if self.interrupted {
            crate::exit::INTERRUPTED
        } else {
            crate::exit::code(self.matches > 0, self.errors > 0)
        }
    }

    /// A few human lines (for stderr). List names and the run name are
    /// not ours: they are escaped (see [`crate::escape`]).
    pub fn human(&self) -> String {
        let mut s = format!(
            "scanned {} files ({} records, {:.1} MB) in {:.1} s: {} images, {} videos ({} frames), {} archives ({} members)",
            self.files,
            self.records,
            self.bytes as f64 / 1e6,
            self.seconds,
            self.images,
            self.videos,
            self.frames,
            self.archives,
            self.members
        );
        if self.resumed_files > 0 {
            s += &format!(
                "\n  {} files already done in run {}",
                self.resumed_files,
                escape(self.run.as_deref().unwrap_or("?"))
            );
        }
        if self.deduplicated > 0 {
            s += &format!(
                "\n  {} items were copies of content already hashed",
                self.deduplicated
            );
        }
        if !self.matching {
            s += "\n  no hash database: nothing was matched";
        } else {
            s += &format!(
                "\n  matches: {} in {} records",
                self.matches, self.records_matched
            );
            for (l, n) in &self.matches_by_list {
                s += &format!("\n    {}: {n}", escape(l));
            }
            if self.suppressed > 0 {
                s += &format!("\n  suppressed by the allowlist: {}", self.suppressed);
            }
        }
        if self.errors > 0 {
            s += &format!("\n  errors: {}", self.errors);
            for (k, n) in &self.errors_by_kind {
                s += &format!("\n    {}: {n}", escape(k));
            }
        }
        if self.interrupted {
            s += "\n  INTERRUPTED: not every file was scanned";
            if let Some(r) = &self.run {
                s += &format!(" (continue with --resume {})", escape(r));
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn counts_matches_errors_and_exit_code() {
        let mut s = Summary::default();
        s.add_record(&json!({"path": "a.zip", "media": "archive", "error": null}));
        s.add_record(
            &json!({"path": "a.zip!/x.jpg", "media": "image", "error": null,
            "matches": [{"list": "l1", "suppressed": false}, {"list": "l2", "suppressed": true}]}),
        );
        assert_eq!(s.compute_exit_code(), 1);
        s.add_record(&json!({"path": "b", "media": "video", "pdq": [1, 2, 3],
            "error": {"kind": "decode", "message": "x"}}));
        assert_eq!((s.records, s.members, s.archives, s.frames), (3, 1, 1, 3));
        assert_eq!((s.matches, s.suppressed, s.errors), (1, 1, 1));
        assert_eq!(s.matches_by_list.get("l1"), Some(&1));
        // Matches and errors: neither hides the other.
        assert_eq!(s.compute_exit_code(), 3);
        let errors_only = Summary {
            errors: 1,
            ..Summary::default()
        };
        assert_eq!(errors_only.compute_exit_code(), 2);
        s.interrupted = true;
        assert_eq!(s.compute_exit_code(), 130);
    }

    #[test]
    fn human_lines_escape_list_names() {
        let mut s = Summary {
            matching: true,
            ..Summary::default()
        };
        s.add_record(&json!({"path": "a", "media": "image", "error": null,
            "matches": [{"list": "evil\nMATCH\x1b[2J", "suppressed": false}]}));
        let h = s.human();
        assert!(h.contains("\n    evil\\nMATCH\\x1b[2J: 1"), "{h}");
        assert!(!h.contains('\x1b'), "{h}");
    }
}
