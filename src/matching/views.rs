//! Video views as alternative vPDQ queries.
//!
//! Why bags: a listed video was hashed with plain vPDQ, so a letterboxed
//! (or mirrored) repost matches it only when *most of its frames* match
//! after the bars are trimmed (or the mirror undone). The frames' views of
//! one name form a vPDQ query of their own (see
//! [`crate::record::FileRecord::vpdq_view_frames`]), compared with the same
//! rules as the original frames. The original is tried first; a view only
//! adds the entries that nothing before it hit, and its records say which
//! view hit (`"view": "letterbox"`). The dense bags (`between`: the frames
//! between the samples too; `crops`: each frame's image crops) are judged
//! as the sampled frames they stand for.
//!
//! TMK+PDQF has these views, tried in this order after the plain TMK: the
//! video mirrored (`flipx`), when the frames were hashed with their turns.
//! It needs no frame: mirroring a 64x64 frame changes the signs of half
//! its PDQF feature, and so of the whole hash
//! (`hashdb::tmk::TmkHash::mirrored`). With crop views, the video with its
//! letterbox bars trimmed (`letterbox`, a second TMK from the same decode:
//! `crate::video::tmk_frames::TrimmedTmk`), and that mirrored
//! (`letterbox+flipx`) with turns. Their hits, on entries nothing else
//! hit, say `"hit_by": "tmk_pdqf", "view": "flipx"` (or the view's name).

use super::{HitBy, MatchRecord, RecordMatcher};
use crate::record::FileRecord;
use crate::views::{Crop, View};
use hashdb::matcher::MatchOptions;
use hashdb::model::Value;
use hashdb::vpdq::{unique_good_hashes, VpdqThresholds};
use pdq::DihedralKind;
use std::sync::Arc;

impl RecordMatcher {
    /// Hits of `rec`'s frame views on entries not already in `out`.
    pub(super) fn video_view_hits(&self, rec: &FileRecord, out: &mut Vec<MatchRecord>) {
        // The dense bags (between frames, frame crops) are judged as the
        // sampled frames they stand for (`VpdqComparison::per_samples`).
        let quality = self
            .opts
            .vpdq_quality
            .unwrap_or(VpdqThresholds::default().quality);
        let dense = MatchOptions {
            dense_query_samples: Some(unique_good_hashes(&rec.vpdq_frames(), quality).len()),
            ..self.opts.clone()
        };
        for (name, frames) in rec.vpdq_query_bags() {
            let opts = if name.is_dense_bag() {
                &dense
            } else {
                &self.opts
            };
            let mut found = Vec::new();
            self.video_hits(&frames, opts, &mut found);
            for mut r in found {
                if out.iter().any(|o| o.entry == r.entry) {
                    continue;
                }
                r.view = name;
                out.push(r);
            }
        }
        self.tmk_view_hits(rec, out);
    }

    /// Hits of `rec`'s TMK+PDQF views (see the module docs) on entries
    /// not already in `out`: the mirrored TMK when its frames were hashed
    /// with the mirror view, the letterbox-trimmed TMK when the video has
    /// bars (and it mirrored, with the mirror view).
    fn tmk_view_hits(&self, rec: &FileRecord, out: &mut Vec<MatchRecord>) {
        let flipx = View::Turn(DihedralKind::FlipX);
        let Some(h) = rec.tmk.as_ref() else { return };
        let mirror = rec
            .pdq
            .iter()
            .any(|p| p.views.iter().flatten().any(|v| v.view == flipx));
        let mut views = Vec::new();
        if mirror {
            views.push((flipx, Arc::new(h.mirrored())));
        }
        if let Some(lb) = rec.tmk_letterbox.as_ref() {
            let crop = |k| View::Crop(Crop::Letterbox, k);
            views.push((crop(DihedralKind::Original), Arc::clone(lb)));
            if mirror {
                views.push((crop(DihedralKind::FlipX), Arc::new(lb.mirrored())));
            }
        }
        for (view, hash) in views {
            let value = Value::Tmk(hash);
            for hit in self.hits(&value, None, &self.opts) {
                if out.iter().any(|o| o.entry == hit.entry) {
                    continue;
                }
                let mut r = self.record(&hit, HitBy::TmkPdqf);
                r.view = view;
                out.push(r);
            }
        }
    }
}
