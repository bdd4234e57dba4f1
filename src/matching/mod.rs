//! Matching one item's hashes against the hash lists, producing the match
//! records of the report.
//!
//! Why a layer over [`hashdb::matcher::Matcher`]: hashdb answers "which
//! entries does this one value hit" (its index, its vPDQ comparison, its
//! allowlist). A scanned file has several values (three digests, an image
//! PDQ, or hundreds of video frames), and a report needs more than entry
//! ids: the list name, labels, external id, which hash of ours hit, which
//! frames and timestamps, the video rule that fired. The batch scan, the
//! `match` command and the HTTP service share these records, so they are
//! built here once, independent of the scan loop.
//!
//! Rules (thresholds and quality gates are each list's, as hashdb applies
//! them):
//! - md5/sha256/blake3: exact.
//! - image PDQ: within the list's distance, query quality at or above the
//!   list's gate. (An image that is a frame of a listed video is reported
//!   too, as a `vpdq` entry hit by `pdq`, with the listed frame.)
//! - video: every listed video hashdb compares with ours is a hit when at
//!   least `target_percent` of its unique frames match (the vPDQ rule) or
//!   at least `query_percent` of ours do and at least `min_clip_frames` of
//!   them (the clip rule: a reposted excerpt), with the values of the
//!   video's own list unless [`MatchConfig::video`] overrides them for the run
//!   (hashdb judges each candidate); our frames are also matched
//!   one by one against image entries (a known still or logo inside a
//!   video), reporting which frames hit.
//! - TMK+PDQF: a listed video whose level-1 and level-2 scores against
//!   ours both reach its list's thresholds (0.7 / 0.7 by default), found
//!   exactly (level-1 over every listed video's average feature, level-2
//!   for those that pass; see `hashdb::tmk::TmkIndex`); reported with
//!   `hit_by: "tmk_pdqf"` and both scores. A video none of whose sampled
//!   frames reaches half a list's PDQ quality gate (featureless throughout)
//!   is not matched against that list by TMK (see
//!   `hashdb::model::ListInfo::tmk_quality_gate`); a bare TMK value is.
//! - a hit hashdb marks as allowlisted is reported with `"suppressed":
//!   true`; disabled or disputed entries and disabled lists are not loaded,
//!   so they never hit.
//!
//! Threading: a [`RecordMatcher`] is `Sync`; match from many threads.
//! Entry details (labels, external id) are read from the store on the
//! first hit of an entry, behind a mutex, then cached.

mod video;
mod views;

pub use views::{tmk_view_floor, tmk_view_thresholds, tmk_views, TMK_TURN_FLOOR, TMK_VIEW_FLOOR};

use crate::record::{FileRecord, PdqItem};
use crate::views::View;
use hashdb::error::StoreError;
use hashdb::matcher::{Hit, MatchOptions, Matcher};
use hashdb::model::{EntryId, ListId, ListInfo, Value};
use hashdb::store::Store;
use hashdb::vpdq::{VpdqFrame, VpdqVerdict};
use hashdb::{Blake3, Md5, Sha256, SignalType};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Why the lists could not be loaded or queried.
#[derive(Debug, thiserror::Error)]
pub enum MatchError {
    #[error("reading the hash database: {0}")]
    Store(#[from] StoreError),
    #[error("no list named {0:?} in the hash database")]
    NoSuchList(String),
    #[error("list {0:?} is disabled (enable it with `hashsieve db enable`)")]
    ListDisabled(String),
}

/// Which lists to match, and the video rule.
#[derive(Debug, Clone, Default)]
pub struct MatchConfig {
    /// Only these lists (by name); `None` = every enabled list.
    pub lists: Option<Vec<String>>,
    /// Run-wide overrides of the lists' video rules (`scan --vpdq-*`): a
    /// set value replaces every list's own; `None` keeps each list's.
    pub video: hashdb::vpdq::VpdqRuleOverride,
    /// PDQ distance instead of each list's own threshold (`match
    /// --threshold`).
    pub threshold: Option<u32>,
    /// Video frames below this quality take no part in a vPDQ comparison
    /// (`None`: 50, the reference's gate).
    pub vpdq_quality: Option<u8>,
    /// TMK+PDQF thresholds instead of each list's own.
    pub tmk: Option<hashdb::tmk::TmkThresholds>,
}

/// Which hash of ours hit (the `hit_by` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HitBy {
    Md5,
    Sha256,
    Blake3,
    /// An image's PDQ (or one of its views).
    Pdq,
    /// Video frames, one by one, against an image entry.
    Frames,
    /// Our video's frames as a bag, against a listed video.
    Vpdq,
    /// Our video's TMK+PDQF.
    TmkPdqf,
}

impl HitBy {
    /// The name in the output (`md5`, ..., `tmk_pdqf`).
    pub fn as_str(self) -> &'static str {
        match self {
            HitBy::Md5 => "md5",
            HitBy::Sha256 => "sha256",
            HitBy::Blake3 => "blake3",
            HitBy::Pdq => "pdq",
            HitBy::Frames => "frames",
            HitBy::Vpdq => "vpdq",
            HitBy::TmkPdqf => "tmk_pdqf",
        }
    }
}

impl std::fmt::Display for HitBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The vPDQ side of a video hit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VpdqScore {
    /// `vpdq` (most of the listed video is here) or `clip` (most of ours
    /// is from the listed video).
    pub rule: VpdqVerdict,
    pub query_percent: f64,
    pub target_percent: f64,
    /// Unique good frames on each side (the denominators).
    pub query_frames: usize,
    pub target_frames: usize,
    /// Our unique good frames that matched.
    pub matched_query_frames: usize,
    /// Timestamps (s) of our frames that matched, in order.
    pub timestamps: Vec<f64>,
}

/// One frame of ours that matched an image entry.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FrameHit {
    pub frame: Option<u64>,
    pub timestamp: Option<f64>,
    pub distance: u32,
}

/// One hit of an item against a list entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatchRecord {
    pub list: String,
    pub entry: EntryId,
    pub external_id: Option<String>,
    /// The entry's signal type: pdq, vpdq, md5, sha256, blake3.
    pub signal_type: SignalType,
    pub labels: Vec<String>,
    /// Which hash of ours hit: md5, sha256, blake3, pdq (an image),
    /// frames (video frames vs an image entry), vpdq (our video),
    /// tmk_pdqf (our video's TMK+PDQF).
    pub hit_by: HitBy,
    /// Our hash that hit (hex), for single-hash hits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    /// Hamming distance (PDQ; the smallest over frames), 0 for exact hits,
    /// absent for vPDQ (see `vpdq`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vpdq: Option<VpdqScore>,
    /// Video frames vs an image entry: which frames hit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frames: Option<Vec<FrameHit>>,
    /// TMK+PDQF hits: the level-1 score (the average features' cosine)
    /// ...
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::float_json::serialize_opt"
    )]
    pub level1: Option<f32>,
    /// ... and the level-2 score (the time-aligned one).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::float_json::serialize_opt"
    )]
    pub level2: Option<f32>,
    /// Our hash is allowlisted: reported, not a hit.
    pub suppressed: bool,
    /// The allowlist entry that suppresses it (`db allow` prints its id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowlist_id: Option<i64>,
    /// Which view of our media hit: `original` for the hash of record,
    /// else a view's name (see [`View`]).
    pub view: View,
}

/// The hashes of one item, however they were obtained.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<'a> {
    pub md5: Option<&'a Md5>,
    pub sha256: Option<&'a Sha256>,
    pub blake3: Option<&'a Blake3>,
    /// Image PDQ hashes (normally one).
    pub image_pdq: &'a [PdqItem],
    /// Query-side views of the image (see [`crate::views`]), matched like
    /// the hash of record; a hit records the view's name.
    pub image_views: &'a [crate::views::ViewHash],
    /// Video frames (empty for a still).
    pub video_frames: &'a [VpdqFrame],
    /// The video's TMK+PDQF, when it has one.
    pub tmk: Option<&'a Arc<hashdb::tmk::TmkHash>>,
    /// Abandon the match when set (the service's request went away); the
    /// hits returned then are partial and must be discarded.
    pub cancel: Option<&'a hashdb::matcher::CancelFlag>,
}

/// The best PDQ quality among a video's sampled frames: what gates its
/// TMK+PDQF against a list (`None` without frames: not gated).
pub fn best_frame_quality(frames: &[VpdqFrame]) -> Option<u8> {
    frames.iter().map(|f| f.quality).max()
}

#[derive(Clone)]
struct EntryMeta {
    labels: Vec<String>,
    external_id: Option<String>,
}

/// hashdb's matcher plus what a report needs; see the module docs.
pub struct RecordMatcher {
    matcher: Matcher,
    lists: HashMap<ListId, ListInfo>,
    opts: MatchOptions,
    store: Mutex<Store>,
    meta: Mutex<HashMap<EntryId, Arc<EntryMeta>>>,
    /// Entry detail reads that failed (see [`RecordMatcher::meta_read_failures`]).
    meta_failures: std::sync::atomic::AtomicU64,
    entries: u64,
}

impl RecordMatcher {
    /// Load the active entries of the enabled lists (or of `cfg.lists`)
    /// from `store` into hashdb's matcher.
    ///
    /// # Errors
    /// A store read error; a list named in `cfg.lists` that does not exist
    /// or is disabled.
    pub fn load(store: Store, cfg: &MatchConfig) -> Result<RecordMatcher, MatchError> {
        let all = store.lists()?;
        if let Some(names) = &cfg.lists {
            for name in names {
                match all.iter().find(|l| &l.name == name) {
                    None => return Err(MatchError::NoSuchList(name.clone())),
                    Some(l) if !l.enabled => return Err(MatchError::ListDisabled(name.clone())),
                    Some(_) => {}
                }
            }
        }
        let matcher = Matcher::load(&store)?;
        // (Counting entries through `Store::stats` costs seconds on a
        // large list; the index size is free.)
        let entries = matcher.pdq_len() as u64;
        Ok(RecordMatcher {
            matcher,
            lists: all.into_iter().map(|l| (l.id, l)).collect(),
            opts: MatchOptions {
                lists: cfg.lists.clone(),
                vpdq_rule: cfg.video,
                threshold: cfg.threshold,
                vpdq_quality: cfg.vpdq_quality,
                tmk: cfg.tmk,
                ..MatchOptions::default()
            },
            store: Mutex::new(store),
            meta: Mutex::new(HashMap::new()),
            meta_failures: std::sync::atomic::AtomicU64::new(0),
            entries,
        })
    }

    /// PDQ hashes indexed (image entries plus the frames of videos).
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// hashdb's matcher (index size etc.).
    pub fn matcher(&self) -> &Matcher {
        &self.matcher
    }

    /// hashdb's matcher, to apply live changes in place (the service);
    /// cached entry details are dropped, as they may have changed too.
    pub fn matcher_mut(&mut self) -> &mut Matcher {
        if let Ok(m) = self.meta.get_mut() {
            m.clear();
        }
        &mut self.matcher
    }

    /// The lists of the database as they are now (a live change: names
    /// and settings for the reports; the matcher's own are changed
    /// through [`RecordMatcher::matcher_mut`]).
    pub fn set_lists(&mut self, all: Vec<ListInfo>) {
        self.lists = all.into_iter().map(|l| (l.id, l)).collect();
    }

    /// The lists of the database (enabled or not).
    pub fn lists(&self) -> impl Iterator<Item = &ListInfo> {
        self.lists.values()
    }

    /// hashdb's answer for one value; a query error (cannot happen once
    /// the list names were checked at load) means no hits.
    fn hits(&self, v: &Value, quality: Option<u8>, opts: &MatchOptions) -> Vec<Hit> {
        self.matcher
            .match_value(v, quality, opts)
            .unwrap_or_default()
    }

    /// Match an item's hashes; see the module docs for the rules.
    pub fn match_query(&self, q: &Query<'_>) -> Vec<MatchRecord> {
        let mut out = Vec::new();
        let digests = [
            q.md5.map(|h| (Value::Md5(*h), HitBy::Md5, h.to_string())),
            q.sha256
                .map(|h| (Value::Sha256(*h), HitBy::Sha256, h.to_string())),
            q.blake3
                .map(|h| (Value::Blake3(*h), HitBy::Blake3, h.to_string())),
        ];
        for (v, by, hex) in digests.into_iter().flatten() {
            for hit in self.hits(&v, None, &self.opts) {
                let mut r = self.record(&hit, by);
                r.hash = Some(hex.clone());
                out.push(r);
            }
        }
        for p in q.image_pdq {
            self.pdq_hits(p.hash, Some(p.quality), &self.opts, &mut out);
        }
        self.view_hits(q.image_views, &mut out);
        if let Some(h) = q.tmk {
            let opts = MatchOptions {
                cancel: q.cancel.cloned(),
                ..self.opts.clone()
            };
            let quality = best_frame_quality(q.video_frames);
            for hit in self.hits(&Value::Tmk(h.clone()), quality, &opts) {
                out.push(self.record(&hit, HitBy::TmkPdqf));
            }
        }
        if !q.video_frames.is_empty() {
            match q.cancel {
                None => self.video_hits(q.video_frames, &self.opts, &mut out),
                Some(c) => {
                    let opts = MatchOptions {
                        cancel: Some(c.clone()),
                        ..self.opts.clone()
                    };
                    self.video_hits(q.video_frames, &opts, &mut out);
                }
            }
        }
        out
    }

    /// Match one hash of any signal type (`match --pdq|--md5|...`,
    /// `--queries`, `/v1/match` by value): the same records as an item's,
    /// with `hit_by` the value's own type. `quality` gates a PDQ value as
    /// an image's would be; `None` (unknown) passes every list's gate.
    pub fn match_value(
        &self,
        v: &Value,
        quality: Option<u8>,
        cancel: Option<&hashdb::matcher::CancelFlag>,
    ) -> Vec<MatchRecord> {
        if let Value::Pdq(p) = v {
            let opts = MatchOptions {
                cancel: cancel.cloned(),
                ..self.opts.clone()
            };
            let mut out = Vec::new();
            self.pdq_hits(*p, quality, &opts, &mut out);
            return out;
        }
        let mut q = Query {
            cancel,
            ..Query::default()
        };
        match v {
            Value::Pdq(_) => {}
            Value::Md5(h) => q.md5 = Some(h),
            Value::Sha256(h) => q.sha256 = Some(h),
            Value::Blake3(h) => q.blake3 = Some(h),
            Value::Vpdq(f) => q.video_frames = f,
            Value::Tmk(h) => q.tmk = Some(h),
        }
        self.match_query(&q)
    }

    /// The hits of one image PDQ hash (the hash of record, not a view): a
    /// hit on a listed video's frame names that frame.
    fn pdq_hits(
        &self,
        hash: hashdb::Pdq,
        quality: Option<u8>,
        opts: &MatchOptions,
        out: &mut Vec<MatchRecord>,
    ) {
        for hit in self.hits(&Value::Pdq(hash), quality, opts) {
            let mut r = self.record(&hit, HitBy::Pdq);
            r.hash = Some(hash.to_string());
            if let Some(f) = hit.frame {
                r.frames = Some(vec![FrameHit {
                    frame: Some(f),
                    timestamp: None,
                    distance: hit.distance,
                }]);
            }
            out.push(r);
        }
    }

    /// Match a hashed file (a `hash`/`scan` record): its digests, its image
    /// PDQ or its video frames, then the views of either (see [`views`]).
    pub fn match_record(&self, rec: &FileRecord) -> Vec<MatchRecord> {
        let is_video = rec.media == crate::record::Media::Video;
        let frames = rec.vpdq_frames();
        let mut out = self.match_query(&Query {
            md5: rec.md5.as_ref(),
            sha256: rec.sha256.as_ref(),
            blake3: rec.blake3.as_ref(),
            image_pdq: if is_video { &[] } else { &rec.pdq },
            image_views: match (&rec.views, is_video) {
                (Some(v), false) => v,
                _ => &[],
            },
            video_frames: &frames,
            tmk: rec.tmk.as_ref(),
            cancel: None,
        });
        if is_video {
            self.video_view_hits(rec, &mut out);
        }
        out
    }

    /// Hits of the image's views on PDQ entries that the hash of record
    /// (or an earlier view) did not already hit: one record per entry, by
    /// the view at the smallest distance, named in `view`.
    fn view_hits(&self, views: &[crate::views::ViewHash], out: &mut Vec<MatchRecord>) {
        let already: std::collections::HashSet<EntryId> = out
            .iter()
            .filter(|r| r.hit_by == HitBy::Pdq)
            .map(|r| r.entry)
            .collect();
        let mut best: HashMap<EntryId, MatchRecord> = HashMap::new();
        for v in views {
            for hit in self.hits(&Value::Pdq(v.hash), Some(v.quality), &self.opts) {
                if already.contains(&hit.entry) {
                    continue;
                }
                if best
                    .get(&hit.entry)
                    .is_some_and(|b| b.distance <= Some(hit.distance))
                {
                    continue;
                }
                let mut r = self.record(&hit, HitBy::Pdq);
                r.hash = Some(v.hash.to_string());
                r.view = v.view;
                if let Some(f) = hit.frame {
                    r.frames = Some(vec![FrameHit {
                        frame: Some(f),
                        timestamp: None,
                        distance: hit.distance,
                    }]);
                }
                best.insert(hit.entry, r);
            }
        }
        let mut found: Vec<MatchRecord> = best.into_values().collect();
        found.sort_by_key(|r| (r.distance, r.entry));
        out.extend(found);
    }

    /// The report record of one hashdb hit.
    fn record(&self, hit: &Hit, hit_by: HitBy) -> MatchRecord {
        let meta = self.meta(hit.entry);
        MatchRecord {
            list: self
                .lists
                .get(&hit.list)
                .map(|l| l.name.clone())
                .unwrap_or_default(),
            entry: hit.entry,
            external_id: meta.external_id.clone(),
            signal_type: hit.signal_type,
            labels: meta.labels.clone(),
            hit_by,
            hash: None,
            distance: (hit.vpdq.is_none() && hit.tmk.is_none()).then_some(hit.distance),
            vpdq: None,
            frames: None,
            level1: hit.tmk.map(|s| s.level1),
            level2: hit.tmk.map(|s| s.level2),
            suppressed: hit.suppressed_by.is_some(),
            allowlist_id: hit.suppressed_by,
            view: View::Original,
        }
    }

    /// How many entry detail reads have failed so far (a PostgreSQL
    /// server gone away): a caller that must not keep a record with empty
    /// labels (the queue worker) compares it before and after a match and
    /// matches again once the database is back.
    pub fn meta_read_failures(&self) -> u64 {
        self.meta_failures
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Labels and external id of an entry (read once, then cached). A
    /// store error leaves them empty rather than losing the hit, and is
    /// not cached: the next hit reads again, through a new connection when
    /// the old one is gone (the database restarted).
    fn meta(&self, entry: EntryId) -> Arc<EntryMeta> {
        if let Some(m) = self.meta.lock().ok().and_then(|c| c.get(&entry).cloned()) {
            return m;
        }
        let read = self.store.lock().ok().and_then(|mut s| {
            if s.is_closed() {
                if let Ok(fresh) = Store::open_target(
                    &s.target(),
                    hashdb::store::OpenOptions {
                        create: hashdb::store::Create::Never,
                        ..Default::default()
                    },
                ) {
                    *s = fresh;
                }
            }
            s.entry(entry).ok()
        });
        let Some(e) = read else {
            self.meta_failures
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Arc::new(EntryMeta {
                labels: Vec::new(),
                external_id: None,
            });
        };
        let m = Arc::new(EntryMeta {
            labels: e.record.labels.into_iter().collect(),
            external_id: e.record.external_id,
        });
        if let Ok(mut c) = self.meta.lock() {
            c.insert(entry, m.clone());
        }
        m
    }
}
