//! Contributing: the list entries a hashed file of our own yields.
//!
//! `hashsieve db add` and the service's "add media to a list" both hash a
//! file a team has confirmed and store its hashes; this is the one place
//! that decides which: the digests (unless asked not to), the PDQ of an
//! image with its quality, or the frames of a video as one vPDQ entry.
//!
//! Optionally ([`derived_view_records`], `db add --with-views`) it also
//! stores the hashes of the file's query-side views (mirrored, rotated,
//! trimmed ...), so partners who hash with plain PDQ still find such
//! reposts. Those entries are not hashes of the media as published: each
//! carries the label [`DERIVED_LABEL_PREFIX`]`<view>` so anyone reading
//! or exporting the list can tell them apart (and leave them out).
//!
//! Likewise ([`derived_edit_records`], `db add --derive`) the hashes of
//! derived versions of an image (crops, small turns: see
//! [`crate::enroll`]), labelled `derived:crop=center-10`,
//! `derived:rotate=-5`. Every such label starts with
//! [`crate::enroll::DERIVED_PREFIX`]; [`is_derived`] tells them apart.

use crate::record::{FileRecord, Media};
use hashdb::model::{normalize_frames, Record, Value};

/// What to attach to the entries, and which signals to store.
#[derive(Debug, Clone, Default)]
pub struct ContributeOptions {
    pub labels: Vec<String>,
    pub external_id: Option<String>,
    pub note: Option<String>,
    /// Leave out MD5/SHA-256/BLAKE3 (store only perceptual hashes).
    pub no_digests: bool,
}

/// Label prefix of an entry derived from a view: `derived:view=flipx`.
pub const DERIVED_LABEL_PREFIX: &str = "derived:view=";

/// Whether an entry with these labels is derived (a view's or an edit's
/// hash, not a hash of the media as published).
pub fn is_derived<'a>(labels: impl IntoIterator<Item = &'a String>) -> bool {
    labels
        .into_iter()
        .any(|l| l.starts_with(crate::enroll::DERIVED_PREFIX))
}

/// The entries to add for one hashed file. A video without any hashed
/// frame contributes no vPDQ entry.
pub fn records_for(rec: &FileRecord, opts: &ContributeOptions) -> Vec<Record> {
    let mut values: Vec<(Value, Option<u8>)> = Vec::new();
    if !opts.no_digests {
        values.extend(rec.md5.map(|h| (Value::Md5(h), None)));
        values.extend(rec.sha256.map(|h| (Value::Sha256(h), None)));
        values.extend(rec.blake3.map(|h| (Value::Blake3(h), None)));
    }
    if rec.media == Media::Video {
        if let Ok(frames) = normalize_frames(rec.vpdq_frames()) {
            if !frames.is_empty() {
                values.push((Value::Vpdq(frames), None));
            }
        }
        // TMK+PDQF, from the same decode (absent in --fast modes or when
        // the video has none: see `video.tmk_error`).
        if let Some(h) = &rec.tmk {
            values.push((Value::Tmk(h.clone()), None));
        }
    } else {
        values.extend(
            rec.pdq
                .iter()
                .map(|p| (Value::Pdq(p.hash), Some(p.quality))),
        );
    }
    values
        .into_iter()
        .map(|(v, q)| record(v, q, opts, None))
        .collect()
}

fn record(v: Value, q: Option<u8>, opts: &ContributeOptions, derived: Option<String>) -> Record {
    let mut r = Record::new(v);
    r.quality = q;
    r.labels = opts.labels.iter().cloned().collect();
    if let Some(label) = derived {
        r.labels.insert(label);
    }
    r.external_id = opts.external_id.clone();
    r.note = opts.note.clone();
    r
}

/// Entries for the views of a file hashed with views (an image's
/// `views`, a video's frame views as one vPDQ entry per view), each
/// labelled `derived:view=<name>` besides `opts`' labels. Values equal to
/// the hash of record or to an earlier view are left out (a symmetric
/// picture's mirror is itself). Empty when the file was hashed without
/// views.
pub fn derived_view_records(rec: &FileRecord, opts: &ContributeOptions) -> Vec<Record> {
    let mut seen: Vec<Value> = Vec::new();
    let mut out = Vec::new();
    if rec.media == Media::Video {
        if let Ok(f) = normalize_frames(rec.vpdq_frames()) {
            seen.push(Value::Vpdq(f));
        }
        for (view, frames) in rec.vpdq_view_frames() {
            let Ok(frames) = normalize_frames(frames) else {
                continue;
            };
            let v = Value::Vpdq(frames);
            if !seen.contains(&v) {
                seen.push(v.clone());
                out.push(record(v, None, opts, Some(view_label(view))));
            }
        }
    } else {
        seen.extend(rec.pdq.iter().map(|p| Value::Pdq(p.hash)));
        for vh in rec.views.iter().flatten() {
            let v = Value::Pdq(vh.hash);
            if !seen.contains(&v) {
                seen.push(v.clone());
                out.push(record(v, Some(vh.quality), opts, Some(view_label(vh.view))));
            }
        }
    }
    out
}

fn view_label(view: crate::views::View) -> String {
    format!("{DERIVED_LABEL_PREFIX}{view}")
}

/// Entries for the derived versions of an image (`db add --derive`),
/// each labelled [`crate::enroll::Derivation::label`] besides `opts`'
/// labels. A derived hash within `min_distance` bits of the hash of
/// record, of one of `skip` (the views stored with `--with-views`) or of
/// an earlier derived version kept is left out (0: only equal values):
/// a derived label must never be put on a hash the list already holds
/// for another reason, and two windows a pixel apart in a smooth picture
/// hash to nearly the same value, so the second one only makes the list
/// longer (a repost within PDQ's threshold of it is almost always within
/// it of the first; README, "Issue 16, list-side enrollment", measures
/// what the default distance costs in recall).
pub fn derived_edit_records(
    rec: &FileRecord,
    derived: &[crate::enroll::DerivedHash],
    skip: &[Record],
    opts: &ContributeOptions,
    min_distance: u32,
) -> Vec<Record> {
    let mut seen: Vec<hashdb::Pdq> = rec.pdq.iter().map(|p| p.hash).collect();
    seen.extend(skip.iter().filter_map(|r| match &r.value {
        Value::Pdq(h) => Some(*h),
        _ => None,
    }));
    let mut out = Vec::new();
    for d in derived {
        if seen.iter().all(|s| s.distance(&d.hash) > min_distance) {
            seen.push(d.hash);
            out.push(record(
                Value::Pdq(d.hash),
                Some(d.quality),
                opts,
                Some(d.derivation.label()),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::PdqItem;
    use crate::views::ViewHash;
    use hashdb::Pdq;

    #[test]
    fn views_become_labelled_derived_entries() {
        let opts = ContributeOptions {
            labels: vec!["entity:x".into()],
            ..Default::default()
        };
        let mut img = FileRecord::new(std::path::Path::new("x.jpg"));
        img.media = Media::Image;
        img.pdq.push(PdqItem {
            hash: Pdq([7; 32]),
            quality: 90,
            frame: None,
            timestamp: None,
            views: None,
        });
        assert!(derived_view_records(&img, &opts).is_empty());
        let vh = |name: &str, b| ViewHash {
            view: name.parse().unwrap(),
            hash: Pdq([b; 32]),
            quality: 80,
        };
        // flipy equals the record (a symmetric picture): left out.
        img.views = Some(vec![vh("flipx", 1), vh("flipy", 7), vh("trim", 2)]);
        let d = derived_view_records(&img, &opts);
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].value, Value::Pdq(Pdq([1; 32])));
        assert_eq!(d[0].quality, Some(80));
        assert!(d[0].labels.contains("derived:view=flipx"));
        assert!(d[0].labels.contains("entity:x"));
        assert!(d[1].labels.contains("derived:view=trim"));
        // The plain records carry no derived label.
        assert!(records_for(&img, &opts).iter().all(|r| r
            .labels
            .iter()
            .all(|l| !l.starts_with(DERIVED_LABEL_PREFIX))));

        let mut vid = FileRecord::new(std::path::Path::new("v.mp4"));
        vid.media = Media::Video;
        for n in 0..3u8 {
            vid.pdq.push(PdqItem {
                hash: Pdq([n; 32]),
                quality: 80,
                frame: Some(u64::from(n) * 30),
                timestamp: Some(f64::from(n)),
                views: Some(vec![vh("letterbox", 10 + n), vh("flipx", 20 + n)]),
            });
        }
        let d = derived_view_records(&vid, &opts);
        assert_eq!(d.len(), 2);
        match &d[0].value {
            Value::Vpdq(f) => {
                assert_eq!(f.len(), 3);
                assert_eq!(f[2].hash, Pdq([12; 32]));
                assert_eq!(f[2].frame, 60);
            }
            other => panic!("{other:?}"),
        }
        assert!(d[0].labels.contains("derived:view=letterbox"));
        assert!(d[1].labels.contains("derived:view=flipx"));
    }

    #[test]
    fn image_gives_digests_and_pdq_video_gives_one_vpdq() {
        let mut rec = FileRecord::new(std::path::Path::new("x.jpg"));
        rec.media = Media::Image;
        rec.md5 = Some(hashdb::Md5([1; 16]));
        rec.pdq.push(PdqItem {
            hash: Pdq([7; 32]),
            quality: 90,
            frame: None,
            timestamp: None,
            views: None,
        });
        let opts = ContributeOptions {
            labels: vec!["entity:x".into()],
            ..Default::default()
        };
        let r = records_for(&rec, &opts);
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].quality, Some(90));
        assert!(r.iter().all(|e| e.labels.contains("entity:x")));
        let no_dig = records_for(
            &rec,
            &ContributeOptions {
                no_digests: true,
                ..Default::default()
            },
        );
        assert_eq!(no_dig.len(), 1);

        let mut vid = FileRecord::new(std::path::Path::new("v.mp4"));
        vid.media = Media::Video;
        assert!(records_for(
            &vid,
            &ContributeOptions {
                no_digests: true,
                ..Default::default()
            }
        )
        .is_empty());
        vid.pdq.push(PdqItem {
            hash: Pdq([3; 32]),
            quality: 80,
            frame: Some(0),
            timestamp: Some(0.0),
            views: None,
        });
        let v = records_for(
            &vid,
            &ContributeOptions {
                no_digests: true,
                ..Default::default()
            },
        );
        assert_eq!(v.len(), 1);
        assert!(matches!(v[0].value, Value::Vpdq(_)));
    }

    #[test]
    fn derived_edits_within_the_distance_of_a_kept_hash_are_left_out() {
        use crate::enroll::{Anchor, Derivation, DerivedHash};
        // A hash `bits` bits away from `base` (the low bits of the first bytes flipped).
        let near = |base: [u8; 32], bits: usize| {
            let mut h = base;
            for b in 0..bits {
                h[b / 8] ^= 1 << (b % 8);
            }
            Pdq(h)
        };
        let record_hash = [0u8; 32];
        let far = [0xF0u8; 32];
        let mut img = FileRecord::new(std::path::Path::new("x.png"));
        img.media = Media::Image;
        img.pdq.push(PdqItem {
            hash: Pdq(record_hash),
            quality: 90,
            frame: None,
            timestamp: None,
            views: None,
        });
        let d = |tenths, hash| DerivedHash {
            derivation: Derivation::Crop {
                anchor: Anchor::Center,
                tenths,
            },
            hash,
            quality: 80,
        };
        let derived = [
            d(50, near(record_hash, 0)), // the record itself
            d(75, near(record_hash, 5)), // 5 bits from the record
            d(100, Pdq(far)),            // far from everything
            d(125, near(far, 8)),        // 8 bits from the one before
            d(150, near(far, 9)),        // 9 from `far`, 1 from the one before
            d(175, near(far, 20)),       // 20 from `far`, 11 from the one before
        ];
        let labels = |min: u32| -> Vec<String> {
            derived_edit_records(&img, &derived, &[], &ContributeOptions::default(), min)
                .iter()
                .flat_map(|r| r.labels.iter().cloned())
                .collect()
        };
        // 0: only the value equal to the record is dropped.
        assert_eq!(labels(0).len(), 5);
        // 8: the one 5 bits from the record and the one 8 bits from a
        // kept derived hash go; the next, 1 bit from that dropped one but
        // 9 from every kept one, stays (only kept hashes count), and so
        // does the last.
        assert_eq!(
            labels(8),
            [
                "derived:crop=center-10",
                "derived:crop=center-15",
                "derived:crop=center-17.5"
            ]
        );
        // A view stored with --with-views counts as kept.
        let view = Record::new(Value::Pdq(near(far, 2)));
        let with_view =
            derived_edit_records(&img, &derived, &[view], &ContributeOptions::default(), 4);
        assert!(with_view
            .iter()
            .all(|r| !r.labels.contains("derived:crop=center-10")));
    }
}
