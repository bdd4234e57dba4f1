//! The record of one hashed item: the JSON line of `hashsieve hash`.
//!
//! Field names are a contract (other tools read them): `path`, `media`,
//! `bytes`, `md5`, `sha256`, `blake3`, `width`, `height`, `orientation`,
//! `pdq`, `error`, plus `duration`/`frame_rate` for videos and `dihedral`
//! when asked for. Unknown values are `null`, never guessed.

use crate::error::ItemError;
use crate::hashing::crypto::Digests;
use crate::views::View;
use hashdb::{Blake3, Md5, Pdq, Sha256};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// One PDQ hash of an image, or of one sampled video frame.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PdqItem {
    pub hash: Pdq,
    pub quality: u8,
    /// Video only: the frame number in the decoded stream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frame: Option<u64>,
    /// Video only: the frame's time in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<f64>,
    /// Video only: the frame's query-side views (see [`crate::views`]),
    /// when asked for; images carry theirs in [`FileRecord::views`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub views: Option<Vec<crate::views::ViewHash>>,
}

/// The eight dihedral hashes, in the reference's order and names.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DihedralHashes {
    pub original: Pdq,
    pub rotate90: Pdq,
    pub rotate180: Pdq,
    pub rotate270: Pdq,
    pub flipx: Pdq,
    pub flipy: Pdq,
    pub flipplus1: Pdq,
    pub flipminus1: Pdq,
}

impl From<&crate::pdq::Dihedral> for DihedralHashes {
    fn from(d: &crate::pdq::Dihedral) -> Self {
        let h = d.hashes;
        DihedralHashes {
            original: h[0],
            rotate90: h[1],
            rotate180: h[2],
            rotate270: h[3],
            flipx: h[4],
            flipy: h[5],
            flipplus1: h[6],
            flipminus1: h[7],
        }
    }
}

/// Extra facts about a decoded video.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct VideoFacts {
    /// Frames the decoder produced.
    pub frames_decoded: u64,
    /// Frames lost to damage (packets that failed to decode).
    pub frames_lost: u64,
    /// Codec name as FFmpeg reports it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub codec: Option<String>,
    /// TMK+PDQF: how many 15 fps frames the hash summarises, when it was
    /// computed (the hash itself is [`FileRecord::tmk`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmk_frames: Option<u64>,
    /// Why the video has no TMK+PDQF although it was asked for (its other
    /// hashes are unaffected).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmk_error: Option<String>,
}

/// What an item is, as the `media` field says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Media {
    Image,
    Video,
    /// A zip or tar file whose members were read (`scan`).
    Archive,
    /// Not media we decode (or not read yet).
    Other,
}

impl Media {
    /// The name in the output (`image`, `video`, `archive`, `other`).
    pub fn as_str(self) -> &'static str {
        match self {
            Media::Image => "image",
            Media::Video => "video",
            Media::Archive => "archive",
            Media::Other => "other",
        }
    }
}

impl std::fmt::Display for Media {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Media {
    type Err = String;
    /// Reads [`Media::as_str`]'s names (the sandbox wire).
    fn from_str(s: &str) -> Result<Media, String> {
        [Media::Image, Media::Video, Media::Archive, Media::Other]
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| format!("unknown media kind {s:?}"))
    }
}

/// One output record. `path_raw_hex` appears only for a path that is not
/// valid UTF-8: `path` then holds a lossy rendering and the hex holds the
/// exact bytes.
#[derive(Debug, Clone, Serialize)]
pub struct FileRecord {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_raw_hex: Option<String>,
    #[serde(skip)]
    pub path_os: PathBuf,
    pub media: Media,
    pub bytes: u64,
    pub md5: Option<Md5>,
    pub sha256: Option<Sha256>,
    pub blake3: Option<Blake3>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub orientation: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frame_rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub video: Option<VideoFacts>,
    pub pdq: Vec<PdqItem>,
    /// Videos hashed with all views: the frames between the sampled ones
    /// (every frame, at most 30 a period), plain PDQ. Query side only,
    /// never part of the hash of record: a clip cut at any point samples
    /// out of phase with the listed video, and these give every listed
    /// frame the query's frame at the same moment.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub between: Vec<PdqItem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dihedral: Option<DihedralHashes>,
    /// Videos: the TMK+PDQF hash (263 KB, so never in the JSON line; see
    /// [`VideoFacts::tmk_frames`]). Shared, so copies of a record are cheap.
    #[serde(skip)]
    pub tmk: Option<std::sync::Arc<hashdb::tmk::TmkHash>>,
    /// Videos hashed with crop views that have letterbox bars: the
    /// TMK+PDQF of the frames with the bars trimmed, a query-side view
    /// (see `crate::video::tmk_frames::TrimmedTmk`).
    #[serde(skip)]
    pub tmk_letterbox: Option<std::sync::Arc<hashdb::tmk::TmkHash>>,
    /// Videos hashed with crop views that have a caption band on one
    /// side: the TMK+PDQF of the frames beside it, a query-side view (see
    /// `crate::views::static_band`).
    #[serde(skip)]
    pub tmk_band: Option<std::sync::Arc<hashdb::tmk::TmkHash>>,
    /// Images: query-side views (see [`crate::views`]), when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub views: Option<Vec<crate::views::ViewHash>>,
    pub error: Option<ItemError>,
    /// `scan`: the hits of this item against the hash lists (absent from
    /// `hash` output).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matches: Option<Vec<crate::matching::MatchRecord>>,
}

/// Item `i` of a video's frames as a vPDQ frame (frame number `i` when the
/// item has none).
fn vpdq_frame((i, p): (usize, &PdqItem)) -> hashdb::vpdq::VpdqFrame {
    hashdb::vpdq::VpdqFrame {
        frame: p.frame.unwrap_or(i as u64),
        hash: p.hash,
        quality: p.quality,
        timestamp: p.timestamp.unwrap_or(0.0),
    }
}

/// `path` as a JSON string, plus the raw bytes in hex when it is not UTF-8.
pub fn display_path(path: &Path) -> (String, Option<String>) {
    match path.to_str() {
        Some(s) => (s.to_string(), None),
        None => {
            use std::os::unix::ffi::OsStrExt;
            let raw = path.as_os_str().as_bytes();
            let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
            (path.to_string_lossy().into_owned(), Some(hex))
        }
    }
}

impl FileRecord {
    /// An empty record for `path` (media `other`, nothing computed yet).
    pub fn new(path: &Path) -> Self {
        let (display, raw) = display_path(path);
        FileRecord {
            path: display,
            path_raw_hex: raw,
            path_os: path.to_path_buf(),
            media: Media::Other,
            bytes: 0,
            md5: None,
            sha256: None,
            blake3: None,
            width: None,
            height: None,
            orientation: None,
            duration: None,
            frame_rate: None,
            video: None,
            pdq: Vec::new(),
            between: Vec::new(),
            dihedral: None,
            tmk: None,
            tmk_letterbox: None,
            tmk_band: None,
            views: None,
            error: None,
            matches: None,
        }
    }

    /// A record that is only an error (e.g. a path that could not be opened).
    pub fn failed(path: &Path, error: ItemError) -> Self {
        let mut r = FileRecord::new(path);
        r.error = Some(error);
        r
    }

    /// The hashed frames of a video as vPDQ frames (for the bag comparison
    /// and for storing a vPDQ entry). Empty for anything but a video.
    pub fn vpdq_frames(&self) -> Vec<hashdb::vpdq::VpdqFrame> {
        if self.media != Media::Video {
            return Vec::new();
        }
        self.pdq.iter().enumerate().map(vpdq_frame).collect()
    }

    /// Everything a video query can be matched as: the bags of
    /// [`vpdq_view_frames`](Self::vpdq_view_frames), then the dense bags
    /// (see [`View::is_dense_bag`]): `crops` (every image crop of every sampled
    /// frame: a caption band, a frame around the picture) and, when the
    /// `between` frames were hashed, `between` (the sampled and the between
    /// frames together). For matching only; lists take the record's bags.
    pub fn vpdq_query_bags(&self) -> Vec<(View, Vec<hashdb::vpdq::VpdqFrame>)> {
        let mut bags = self.vpdq_view_frames();
        if self.media != Media::Video {
            return bags;
        }
        let crops: Vec<hashdb::vpdq::VpdqFrame> = self
            .pdq
            .iter()
            .enumerate()
            .flat_map(|(i, p)| {
                p.views
                    .iter()
                    .flatten()
                    .filter(|v| v.view.is_image_crop())
                    .map(move |v| hashdb::vpdq::VpdqFrame {
                        hash: v.hash,
                        quality: v.quality,
                        ..vpdq_frame((i, p))
                    })
            })
            .collect();
        if !crops.is_empty() {
            bags.push((View::Crops, crops));
        }
        if self.between.is_empty() {
            return bags;
        }
        let mut plain: Vec<hashdb::vpdq::VpdqFrame> = self
            .pdq
            .iter()
            .chain(&self.between)
            .enumerate()
            .map(vpdq_frame)
            .collect();
        plain.sort_by_key(|f| f.frame);
        bags.push((View::Between, plain));
        bags
    }

    /// A video's frame views as alternative vPDQ queries: one bag of
    /// frames per view name (`letterbox`, `flipx`, ...), in the order the
    /// names first appear on the frames (crop views come first). A frame
    /// without a view is absent from that view's bag. Empty for anything
    /// but a video hashed with views.
    pub fn vpdq_view_frames(&self) -> Vec<(View, Vec<hashdb::vpdq::VpdqFrame>)> {
        let mut bags: Vec<(View, Vec<hashdb::vpdq::VpdqFrame>)> = Vec::new();
        if self.media != Media::Video {
            return bags;
        }
        for (i, p) in self.pdq.iter().enumerate() {
            for v in p.views.iter().flatten() {
                if v.view.is_image_crop() {
                    continue;
                }
                let frame = hashdb::vpdq::VpdqFrame {
                    frame: p.frame.unwrap_or(i as u64),
                    hash: v.hash,
                    quality: v.quality,
                    timestamp: p.timestamp.unwrap_or(0.0),
                };
                match bags.iter_mut().find(|(n, _)| *n == v.view) {
                    Some((_, b)) => b.push(frame),
                    None => bags.push((v.view, vec![frame])),
                }
            }
        }
        bags
    }

    /// Drop what was hashed for matching only (views, between frames)
    /// once the record was matched: a hit names its view and hash, and the
    /// record keeps the shape of a `hash` line without `--views`.
    pub fn strip_query_side(&mut self) {
        self.views = None;
        self.pdq.iter_mut().for_each(|p| p.views = None);
        self.between = Vec::new();
    }

    pub fn set_digests(&mut self, d: &Digests, bytes: u64) {
        self.md5 = Some(d.md5);
        self.sha256 = Some(d.sha256);
        self.blake3 = Some(d.blake3);
        self.bytes = bytes;
    }

    /// The record as one JSON line (no trailing newline).
    pub fn to_json_line(&self) -> String {
        // Serialising plain data cannot fail; fall back to a minimal line
        // rather than panic if it ever did.
        serde_json::to_string(self).unwrap_or_else(|e| {
            format!(
                "{{\"path\":{:?},\"error\":{{\"kind\":\"io\",\"message\":\"serialise: {e}\"}}}}",
                self.path
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(frame: u64, hash_byte: u8) -> PdqItem {
        PdqItem {
            hash: format!("{:02x}", hash_byte).repeat(32).parse().unwrap(),
            quality: 90,
            frame: Some(frame),
            timestamp: Some(frame as f64 / 30.0),
            views: None,
        }
    }

    #[test]
    fn between_bag_holds_every_frame_in_order_and_stays_off_lists() {
        let mut rec = FileRecord::new(Path::new("v.mp4"));
        rec.media = Media::Video;
        rec.pdq = vec![item(0, 1), item(30, 2)];
        assert!(rec.vpdq_query_bags().is_empty(), "no views, no bags");
        rec.between = vec![item(15, 3), item(45, 4), item(1, 5)];
        let bags = rec.vpdq_query_bags();
        assert_eq!(bags.len(), 1);
        assert_eq!(bags[0].0, View::Between);
        let frames: Vec<u64> = bags[0].1.iter().map(|f| f.frame).collect();
        assert_eq!(frames, vec![0, 1, 15, 30, 45]);
        // The bags a list may store are the record's own.
        assert!(rec.vpdq_view_frames().is_empty());
        assert_eq!(rec.vpdq_frames().len(), 2);
        rec.strip_query_side();
        assert!(rec.between.is_empty());
    }

    #[test]
    fn frame_crops_pool_into_one_bag_and_stay_off_lists() {
        let view = |name: &str, b: u8| crate::views::ViewHash {
            view: name.parse().unwrap(),
            hash: format!("{b:02x}").repeat(32).parse().unwrap(),
            quality: 80,
        };
        let mut rec = FileRecord::new(Path::new("v.mp4"));
        rec.media = Media::Video;
        rec.pdq = vec![item(0, 1), item(30, 2)];
        rec.pdq[0].views = Some(vec![view("flipx", 3), view("band", 4), view("trim", 5)]);
        rec.pdq[1].views = Some(vec![view("flipx", 6), view("canvas", 7)]);
        let lists = rec.vpdq_view_frames();
        assert_eq!(lists.len(), 1, "{lists:?}");
        assert_eq!(
            (lists[0].0.to_string().as_str(), lists[0].1.len()),
            ("flipx", 2)
        );
        let bags = rec.vpdq_query_bags();
        let crops = &bags.iter().find(|(n, _)| *n == View::Crops).unwrap().1;
        let frames: Vec<u64> = crops.iter().map(|f| f.frame).collect();
        assert_eq!(frames, vec![0, 0, 30]);
        assert!(bags
            .iter()
            .all(|(v, _)| v.is_dense_bag() == (*v == View::Crops)));
    }
}
