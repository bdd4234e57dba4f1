//! Video views as alternative vPDQ queries.
//!
//! Why bags: a listed video was hashed with plain vPDQ, so a letterboxed
//! (or mirrored) repost matches it only when *most of its frames* match
//! after the bars are trimmed (or the mirror undone). The frames' views of
//! one name form a vPDQ query of their own (see
//! [`crate::record::FileRecord::vpdq_view_frames`]), compared with the same
//! rules as the original frames. The original is tried first; a view only
//! adds the entries that nothing before it hit, and its records say which
//! view hit (`"view": "letterbox"`). The `between` bag (the frames
//! between the samples too) is judged by the vPDQ rule only.

use super::{MatchRecord, RecordMatcher};
use crate::record::FileRecord;

impl RecordMatcher {
    /// Hits of `rec`'s frame views on entries not already in `out`.
    pub(super) fn video_view_hits(&self, rec: &FileRecord, out: &mut Vec<MatchRecord>) {
        for (name, frames) in rec.vpdq_query_bags() {
            let mut found = Vec::new();
            self.video_hits(&frames, &mut found);
            for mut r in found {
                if out.iter().any(|o| o.entry == r.entry) {
                    continue;
                }
                // The between frames multiply the query's frame count, so
                // the clip rule (a share of the query's frames, a minimum
                // number of them) would not mean what the list says: only
                // the listed video's side (the vPDQ rule) counts for them.
                if name == "between" && r.vpdq.as_ref().is_some_and(|v| v.rule != "vpdq") {
                    continue;
                }
                r.view = name;
                out.push(r);
            }
        }
    }
}
