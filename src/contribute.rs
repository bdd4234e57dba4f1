//! Contributing: the list entries a hashed file of our own yields.
//!
//! `hashsieve db add` and the service's "add media to a list" both hash a
//! file a team has confirmed and store its hashes; this is the one place
//! that decides which: the digests (unless asked not to), the PDQ of an
//! image with its quality, or the frames of a video as one vPDQ entry.

use crate::record::FileRecord;
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

/// The entries to add for one hashed file. A video without any hashed
/// frame contributes no vPDQ entry.
pub fn records_for(rec: &FileRecord, opts: &ContributeOptions) -> Vec<Record> {
    let mut values: Vec<(Value, Option<u8>)> = Vec::new();
    if !opts.no_digests {
        values.extend(rec.md5.map(|h| (Value::Md5(h), None)));
        values.extend(rec.sha256.map(|h| (Value::Sha256(h), None)));
        values.extend(rec.blake3.map(|h| (Value::Blake3(h), None)));
    }
    if rec.media == "video" {
        if let Ok(frames) = normalize_frames(rec.vpdq_frames()) {
            if !frames.is_empty() {
                values.push((Value::Vpdq(frames), None));
            }
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
        .map(|(v, q)| {
            let mut r = Record::new(v);
            r.quality = q;
            r.labels = opts.labels.iter().cloned().collect();
            r.external_id = opts.external_id.clone();
            r.note = opts.note.clone();
            r
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::PdqItem;
    use hashdb::Pdq;

    #[test]
    fn image_gives_digests_and_pdq_video_gives_one_vpdq() {
        let mut rec = FileRecord::new(std::path::Path::new("x.jpg"));
        rec.media = "image";
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
        vid.media = "video";
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
}
