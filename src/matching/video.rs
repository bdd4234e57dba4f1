//! Video hits: our frames against listed videos (vPDQ and clip rules,
//! each list's own, applied by hashdb) and against image entries (a known still or logo
//! inside a video).

use super::{FrameHit, HitBy, MatchRecord, RecordMatcher, VpdqScore};
use hashdb::matcher::MatchOptions;
use hashdb::model::Value;
use hashdb::vpdq::VpdqFrame;
use hashdb::SignalType;
use std::collections::{BTreeMap, HashMap};

impl RecordMatcher {
    pub(super) fn video_hits(
        &self,
        q: &[VpdqFrame],
        opts: &MatchOptions,
        out: &mut Vec<MatchRecord>,
    ) {
        // Frame by frame: which image entries each of our frames hits, and
        // which of our frames land in which listed video (timestamps).
        let mut images: BTreeMap<i64, (hashdb::matcher::Hit, Vec<FrameHit>)> = BTreeMap::new();
        let mut in_video: HashMap<i64, Vec<f64>> = HashMap::new();
        let mut done: HashMap<hashdb::Pdq, Vec<hashdb::matcher::Hit>> = HashMap::new();
        for (i, f) in q.iter().enumerate() {
            if i % 256 == 0 && opts.cancel.as_ref().is_some_and(|c| c.is_cancelled()) {
                return;
            }
            let hits = done
                .entry(f.hash)
                .or_insert_with(|| self.hits(&Value::Pdq(f.hash), Some(f.quality), opts));
            for hit in hits.iter() {
                if hit.signal_type == SignalType::Vpdq {
                    in_video.entry(hit.entry).or_default().push(f.timestamp);
                    continue;
                }
                let e = images
                    .entry(hit.entry)
                    .or_insert_with(|| (hit.clone(), Vec::new()));
                if hit.distance < e.0.distance {
                    e.0.distance = hit.distance;
                }
                e.0.suppressed_by = e.0.suppressed_by.and(hit.suppressed_by);
                e.1.push(FrameHit {
                    frame: Some(f.frame),
                    timestamp: Some(f.timestamp),
                    distance: hit.distance,
                });
            }
        }
        for (_, (hit, frames)) in images {
            let mut r = self.record(&hit, HitBy::Frames);
            r.frames = Some(frames);
            out.push(r);
        }
        // Bag comparisons: hashdb judges every candidate video by the rule
        // of its own list (with this run's overrides) and says which fired.
        for hit in self.hits(&Value::Vpdq(q.to_vec()), None, opts) {
            let (Some(c), Some(rule)) = (hit.vpdq, hit.vpdq_rule) else {
                continue;
            };
            let mut stamps = in_video.remove(&hit.entry).unwrap_or_default();
            stamps.sort_by(f64::total_cmp);
            stamps.dedup();
            let mut rec = self.record(&hit, HitBy::Vpdq);
            rec.vpdq = Some(VpdqScore {
                rule,
                query_percent: c.query_percent,
                target_percent: c.target_percent,
                query_frames: c.query_frames,
                target_frames: c.target_frames,
                matched_query_frames: c.matched_query_frames,
                timestamps: stamps,
            });
            out.push(rec);
        }
    }
}
