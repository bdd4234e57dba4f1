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
//! (`letterbox+flipx`) with turns; then the video beside a caption band on
//! one side (`band`, `band+flipx`: a third TMK from the same decode, see
//! `crate::views::static_band`); last, the video's six other turns
//! (rotated by 90, 180, 270 degrees, upside down, transposed both ways:
//! `rotate90`, ..., `flipminus1`), free like the mirror
//! (`hashdb::tmk::TmkHash::turned`). Their hits, on entries nothing else
//! hit, say `"hit_by": "tmk_pdqf", "view": "flipx"` (or the view's name).
//! The TMK views are named by the turn of the hash's DCT block, whose axes
//! are the transpose of the frame views' (named as PIL's transposes, see
//! the `pdq` crate's `oriented` module): the TMK `flipx` is a left-right
//! mirror, the frame view that finds the same repost `flipy`, and likewise
//! rotate90 / rotate270 swap (a test turns videos with the ffmpeg CLI and
//! checks each name). A view hit needs level-1 and level-2 of at least
//! [`TMK_VIEW_FLOOR`] ([`TMK_TURN_FLOOR`] for the six other turns; or the
//! list's thresholds when higher): the plain TMK alone is judged as the
//! reference judges it.

use super::{HitBy, MatchRecord, RecordMatcher};
use crate::record::FileRecord;
use crate::views::{Crop, View};
use hashdb::matcher::MatchOptions;
use hashdb::model::Value;
use hashdb::tmk::TmkThresholds;
use hashdb::vpdq::{unique_good_hashes, VpdqThresholds};
use pdq::DihedralKind;
use std::sync::Arc;

/// The least level-1 and level-2 a TMK+PDQF *view* (`flipx`, `letterbox`,
/// `letterbox+flipx`) must reach to match, whatever lower thresholds its
/// list has (the plain TMK keeps the list's, 0.7 / 0.7 by default, the
/// reference's).
///
/// Why: the views are our own extra queries, not the reference's, and each
/// is another chance for an unrelated video to reach a listed one. Every
/// view's scores of every pair, measured with
/// `benches/eval/run_tmk_views.py` (609 distractor videos, the 400 of
/// issue 16's set and the corpus' 209, against the 16 listed originals of
/// `benches/out/eval-video`), as min(level-1, level-2):
/// - true copies through their view: hflip by `flipx` 0.927 at the least,
///   letterbox_20 / pillarbox_20 / pad_43 by `letterbox` 0.913 at the least;
/// - distractors: `flipx` up to 0.752 (5 videos at 0.7 or more, all
///   pans over still pictures, as the listed originals are; none at 0.8),
///   `letterbox` up to 0.661, `letterbox+flipx` up to 0.682.
///
/// So 0.8 removes every view false positive there and costs no recall
/// (about 0.05 above the highest distractor, 0.11 below the weakest true
/// copy). A floor rather than a margin over the list's thresholds: a list
/// at 0.9 (exact copies only) keeps its views at 0.9, not an unreachable
/// 1.0, and a list lowered below 0.7 does not take its views down with it.
pub const TMK_VIEW_FLOOR: f32 = 0.8;

/// The floor of the six turns other than the mirror (`rotate90`, ...,
/// `flipminus1`), above [`TMK_VIEW_FLOOR`].
///
/// Why higher: six more queries of every video, each another chance. With
/// them, `benches/eval/run_tmk_views.py` (704 distractor videos: the 400
/// of issue 16's set and the corpus' 304, against the 16 listed originals;
/// the corpus now has the six turns among its edits) found every turned
/// copy through its turn at 0.934 at the least (min(level-1, level-2), 96
/// of 96), while one distractor video reached 0.818 through `flipplus1` (a
/// 5 s clip of a pan over `PastelHills` against `gnome-wood`, best frame
/// 25; next, 0.792, `pan/0150` against `gnome-adwaita`; a 3 s clip of the
/// same pan, 0.794, and a featureless pan, 0.838 through `rotate180`, are
/// below the quality gate). 0.85 sits 0.03 above the highest and 0.08
/// below the weakest copy.
pub const TMK_TURN_FLOOR: f32 = 0.85;

/// The floor of `view`: [`TMK_TURN_FLOOR`] for the six turns other than
/// the mirror, [`TMK_VIEW_FLOOR`] for the others.
pub fn tmk_view_floor(view: View) -> f32 {
    match view {
        View::Turn(k) if TMK_TURNS.contains(&k) => TMK_TURN_FLOOR,
        _ => TMK_VIEW_FLOOR,
    }
}

/// The thresholds a TMK+PDQF view hit must pass: `list` (the list's own, or
/// the run's `--tmk-level1/2`), each raised to the view's floor
/// ([`tmk_view_floor`]).
pub fn tmk_view_thresholds(view: View, list: TmkThresholds) -> TmkThresholds {
    let floor = tmk_view_floor(view);
    TmkThresholds {
        level1: list.level1.max(floor),
        level2: list.level2.max(floor),
    }
}

/// `rec`'s TMK+PDQF views, in the order they are tried (see the module
/// docs): the mirrored TMK when its frames were hashed with the mirror
/// view, the letterbox-trimmed TMK when the video has centred bars, the
/// TMK beside a caption band on one side (`band`, see
/// [`crate::views::static_band`]) when it has one, each of those two also
/// mirrored with the mirror view. Empty without a TMK. `compare --views`
/// uses the same list.
pub fn tmk_views(rec: &FileRecord) -> Vec<(View, Arc<hashdb::tmk::TmkHash>)> {
    let flipx = View::Turn(DihedralKind::FlipX);
    let Some(h) = rec.tmk.as_ref() else {
        return Vec::new();
    };
    // Which turns the frames were hashed with (`--views dihedral|all`:
    // all eight; their TMK turns need no frame, see `TmkHash::turned`).
    let hashed_with = |kind| {
        let turn = View::Turn(kind);
        rec.pdq
            .iter()
            .any(|p| p.views.iter().flatten().any(|v| v.view == turn))
    };
    let mirror = hashed_with(DihedralKind::FlipX);
    let mut views = Vec::new();
    if mirror {
        views.push((flipx, Arc::new(h.mirrored())));
    }
    for (c, trimmed) in [
        (Crop::Letterbox, rec.tmk_letterbox.as_ref()),
        (Crop::Band, rec.tmk_band.as_ref()),
    ] {
        let Some(t) = trimmed else { continue };
        let crop = |k| View::Crop(c, k);
        views.push((crop(DihedralKind::Original), Arc::clone(t)));
        if mirror {
            views.push((crop(DihedralKind::FlipX), Arc::new(t.mirrored())));
        }
    }
    // The other six turns last: rotated and upside-down reposts are rarer
    // than mirrored or letterboxed ones, and each view is one more chance
    // of a false hit (the floor holds for them too).
    for kind in TMK_TURNS {
        if hashed_with(kind) {
            views.push((View::Turn(kind), Arc::new(h.turned(kind))));
        }
    }
    views
}

/// The turns of the whole video tried after the mirror and the crops, in
/// this order (`flipx` is tried first, with the crops' mirrors).
const TMK_TURNS: [DihedralKind; 6] = [
    DihedralKind::Rotate90,
    DihedralKind::Rotate180,
    DihedralKind::Rotate270,
    DihedralKind::FlipY,
    DihedralKind::FlipPlus1,
    DihedralKind::FlipMinus1,
];

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
    /// not already in `out`.
    fn tmk_view_hits(&self, rec: &FileRecord, out: &mut Vec<MatchRecord>) {
        let views = tmk_views(rec);
        let quality = super::best_frame_quality(&rec.vpdq_frames());
        for (view, hash) in views {
            let value = Value::Tmk(hash);
            for hit in self.hits(&value, quality, &self.opts) {
                if out.iter().any(|o| o.entry == hit.entry) {
                    continue;
                }
                // hashdb passed it at the list's (or the run's)
                // thresholds; a view must also reach the view gate.
                let list = self
                    .opts
                    .tmk
                    .or_else(|| self.lists.get(&hit.list).map(|l| l.tmk_thresholds()))
                    .unwrap_or_default();
                if !hit
                    .tmk
                    .is_some_and(|s| tmk_view_thresholds(view, list).is_match(s))
                {
                    continue;
                }
                let mut r = self.record(&hit, HitBy::TmkPdqf);
                r.view = view;
                out.push(r);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matching::MatchConfig;
    use crate::record::Media;
    use hashdb::model::{NewList, Record};
    use hashdb::store::{ImportOptions, OpenOptions, Store};
    use hashdb::tmk::{scores, Feature, TmkAccumulator, TmkHash};
    use std::path::Path;

    /// A video of one feature per frame: `base` moved by up to `noise`
    /// (relative, plus an absolute part), from a xorshift `seed`.
    fn video(base: &[Feature], noise: f32, seed: &mut u64) -> TmkHash {
        let mut acc = TmkAccumulator::new();
        for scene in base {
            let f: Feature = std::array::from_fn(|i| {
                *seed ^= *seed << 13;
                *seed ^= *seed >> 7;
                *seed ^= *seed << 17;
                let r = (*seed % 20001) as f32 / 10000.0 - 1.0;
                scene[i] * (1.0 + noise * r) + noise * 40.0 * r
            });
            acc.push(&f).expect("finite feature");
        }
        acc.finish()
    }

    fn scenes(n: usize, seed: &mut u64) -> Vec<Feature> {
        (0..n)
            .map(|_| {
                std::array::from_fn(|_| {
                    *seed ^= *seed << 13;
                    *seed ^= *seed >> 7;
                    *seed ^= *seed << 17;
                    (*seed % 2001) as f32 / 10.0 - 100.0
                })
            })
            .collect()
    }

    fn record(plain: TmkHash, letterbox: Option<TmkHash>) -> FileRecord {
        let mut rec = FileRecord::new(Path::new("q.mp4"));
        rec.media = Media::Video;
        rec.tmk = Some(Arc::new(plain));
        rec.tmk_letterbox = letterbox.map(Arc::new);
        rec
    }

    /// A score between the list's 0.7 and the view floor matches through
    /// the plain TMK but not through a view; a view above the floor still
    /// matches.
    #[test]
    fn a_view_needs_the_floor_where_the_plain_tmk_needs_the_list_threshold() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.db");
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let base = scenes(40, &mut seed);
        let listed = video(&base, 0.0, &mut seed);
        let mut store = Store::open_with(&path, OpenOptions::default()).expect("open");
        let list = store.create_list(&NewList::new("tmk")).expect("list");
        assert_eq!(list.tmk_thresholds(), TmkThresholds::default());
        store
            .import(
                "tmk",
                [Ok(Record::new(Value::Tmk(Arc::new(listed.clone()))))],
                Path::new("t"),
                ImportOptions::default(),
            )
            .expect("import");
        let m = RecordMatcher::load(store, &MatchConfig::default()).expect("load");
        let t = TmkThresholds::default();
        let gate = tmk_view_thresholds(View::Crop(Crop::Letterbox, DihedralKind::Original), t);
        assert!(gate.level1 > t.level1 && gate.level2 > t.level2);
        // Noisy copies of the listed video, from close to far: one scoring
        // between the list's thresholds and the gate, one above the gate.
        let copies: Vec<TmkHash> = (0..60)
            .map(|k| video(&base, 0.05 * k as f32, &mut seed))
            .collect();
        let between = copies
            .iter()
            .find(|c| {
                let s = scores(c, &listed);
                t.is_match(s) && !gate.is_match(s)
            })
            .expect("a copy scoring between the list's thresholds and the gate");
        let above = copies
            .iter()
            .find(|c| gate.is_match(scores(c, &listed)))
            .expect("a copy above the gate");
        // Something unrelated as the plain TMK, so only the view can hit.
        let other = video(&scenes(40, &mut seed), 0.0, &mut seed);
        assert!(!t.is_match(scores(&other, &listed)));

        let plain = m.match_record(&record(between.clone(), None));
        assert_eq!(plain.len(), 1, "{plain:?}");
        assert_eq!(plain[0].view, View::Original);

        let by_view = m.match_record(&record(other.clone(), Some(between.clone())));
        assert!(by_view.is_empty(), "{by_view:?}");

        let strong = m.match_record(&record(other, Some(above.clone())));
        assert_eq!(strong.len(), 1, "{strong:?}");
        assert_eq!(
            strong[0].view,
            View::Crop(Crop::Letterbox, DihedralKind::Original)
        );
    }

    #[test]
    fn a_list_stricter_than_the_floor_keeps_its_own_thresholds_for_views() {
        let strict = TmkThresholds {
            level1: 0.9,
            level2: 0.85,
        };
        let flipx = View::Turn(DihedralKind::FlipX);
        assert_eq!(tmk_view_thresholds(flipx, strict), strict);
        let loose = TmkThresholds {
            level1: 0.5,
            level2: 0.75,
        };
        let g = tmk_view_thresholds(flipx, loose);
        assert_eq!((g.level1, g.level2), (TMK_VIEW_FLOOR, TMK_VIEW_FLOOR));
        // The other turns have their own, higher floor; a list above it
        // keeps its own.
        let r90 = View::Turn(DihedralKind::Rotate90);
        let g = tmk_view_thresholds(r90, loose);
        assert_eq!((g.level1, g.level2), (TMK_TURN_FLOOR, TMK_TURN_FLOOR));
        assert_eq!(tmk_view_thresholds(r90, strict).level1, 0.9);
        assert_eq!(tmk_view_thresholds(r90, strict).level2, TMK_TURN_FLOOR);
        let lb = View::Crop(Crop::Letterbox, DihedralKind::Original);
        assert_eq!(tmk_view_floor(lb), TMK_VIEW_FLOOR);
    }
}
