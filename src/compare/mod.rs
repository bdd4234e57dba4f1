//! Are two media files the same content? What `hashsieve compare A B`
//! decides, as a library: loading each side (a media file hashed now, or
//! a vPDQ text file), and the verdict with A's query-side views.
//!
//! Why here and not in the command: the choice of the view that decides
//! a match and the judging of dense bags (`between`, `crops`) as the
//! sampled frames they stand for are matching rules, the same ones
//! `scan` applies (see [`crate::matching`]); the command only prints.

use crate::hashing::{hash_path, HashConfig, Worker};
use crate::record::Media;
use crate::views::View;
use hashdb::formats::{self, Format};
use hashdb::model::Value;
use hashdb::vpdq::{compare, unique_good_hashes, VpdqComparison, VpdqFrame, VpdqThresholds};
use hashdb::Pdq;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why a side could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} (vPDQ text): {source}", path.display())]
    Vpdq {
        path: PathBuf,
        #[source]
        source: hashdb::error::ParseError,
    },
    #[error("{}: {message}", path.display())]
    Unusable { path: PathBuf, message: String },
}

/// One side of the comparison.
#[derive(Debug, Clone)]
pub enum Side {
    Image { hash: Pdq, quality: u8 },
    Video(Vec<VpdqFrame>),
}

impl Side {
    /// The side as vPDQ frames (an image is one frame).
    pub fn frames(&self) -> Vec<VpdqFrame> {
        match self {
            Side::Image { hash, quality } => vec![VpdqFrame {
                frame: 0,
                hash: *hash,
                quality: *quality,
                timestamp: 0.0,
            }],
            Side::Video(f) => f.clone(),
        }
    }
}

/// A side's views as alternative queries (empty unless asked for and the
/// side is a media file).
pub type Views = Vec<(View, Vec<VpdqFrame>)>;

/// A loaded side: its hashes, its views, its TMK+PDQF when it is a video
/// that has one.
pub struct Loaded {
    pub side: Side,
    pub views: Views,
    pub tmk: Option<Arc<hashdb::tmk::TmkHash>>,
}

/// Whether the file starts like vPDQ text (checked on its first 4 KiB).
pub fn is_vpdq_text(path: &Path) -> Result<bool, CompareError> {
    let io = |source| CompareError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut head = Vec::with_capacity(4096);
    std::fs::File::open(path)
        .map_err(io)?
        .take(4096)
        .read_to_end(&mut head)
        .map_err(io)?;
    Ok(matches!(formats::detect(&head), Ok(Format::Vpdq)))
}

/// Load one side: a vPDQ text file as it is, a media file hashed with
/// `cfg` (its views too when `cfg` asks for them).
pub fn load(path: &Path, cfg: &HashConfig) -> Result<Loaded, CompareError> {
    let unusable = |message: String| CompareError::Unusable {
        path: path.to_path_buf(),
        message,
    };
    if is_vpdq_text(path)? {
        let file = std::fs::File::open(path).map_err(|source| CompareError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut records = formats::read(Format::Vpdq, BufReader::new(file)).map_err(|source| {
            CompareError::Vpdq {
                path: path.to_path_buf(),
                source,
            }
        })?;
        return match records.next() {
            Some(Ok(r)) => match r.value {
                Value::Vpdq(frames) => Ok(Loaded {
                    side: Side::Video(frames),
                    views: Vec::new(),
                    tmk: None,
                }),
                _ => Err(unusable("not a vPDQ file".into())),
            },
            Some(Err(source)) => Err(CompareError::Vpdq {
                path: path.to_path_buf(),
                source,
            }),
            None => Err(unusable("empty vPDQ file".into())),
        };
    }
    let rec = hash_path(path, cfg, &mut Worker::new());
    if let Some(e) = &rec.error {
        return Err(unusable(e.to_string()));
    }
    match rec.media {
        Media::Video => Ok(Loaded {
            side: Side::Video(rec.vpdq_frames()),
            views: rec.vpdq_query_bags(),
            tmk: rec.tmk.clone(),
        }),
        Media::Image => match rec.pdq.first() {
            Some(p) => Ok(Loaded {
                side: Side::Image {
                    hash: p.hash,
                    quality: p.quality,
                },
                views: rec
                    .views
                    .iter()
                    .flatten()
                    .map(|v| {
                        let f = VpdqFrame {
                            frame: 0,
                            hash: v.hash,
                            quality: v.quality,
                            timestamp: 0.0,
                        };
                        (v.view, vec![f])
                    })
                    .collect(),
                tmk: None,
            }),
            None => Err(unusable("image without a hash".into())),
        },
        other => Err(unusable(format!(
            "neither an image, a video nor a vPDQ text file (detected: {other})"
        ))),
    }
}

/// The closest view of an image to the other picture.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BestView {
    pub view: View,
    pub distance: u32,
    pub quality: u8,
}

/// Two images: the plain PDQ distance, and the view of A that decided.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImageVerdict {
    pub distance: u32,
    pub is_match: bool,
    /// `Original` when the hashes of record match, the closest view of A
    /// when only that one does, `None` for no match.
    pub view: Option<View>,
    /// A's closest view of good quality, if it has views.
    pub best: Option<BestView>,
}

/// Judge two images: within `distance` with both qualities at least
/// `quality`; failing that, A's closest view of good quality within
/// `distance` of B.
pub fn images(
    (ha, qa): (Pdq, u8),
    a_views: &Views,
    (hb, qb): (Pdq, u8),
    distance: u32,
    quality: u8,
) -> ImageVerdict {
    let d = ha.distance(&hb);
    let mut is_match = d <= distance && qa >= quality && qb >= quality;
    let best = a_views
        .iter()
        .flat_map(|(n, f)| f.iter().map(move |f| (*n, f)))
        .filter(|(_, f)| f.quality >= quality)
        .map(|(view, f)| BestView {
            view,
            distance: f.hash.distance(&hb),
            quality: f.quality,
        })
        .min_by_key(|b| b.distance);
    let mut view = is_match.then_some(View::Original);
    if let Some(b) = best {
        if !is_match && b.distance <= distance && qb >= quality {
            is_match = true;
            view = Some(b.view);
        }
    }
    ImageVerdict {
        distance: d,
        is_match,
        view,
        best,
    }
}

/// Two videos (or a video and an image): the plain vPDQ comparison, and
/// each view of A as a query of its own.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoVerdict {
    pub plain: VpdqComparison,
    pub is_match: bool,
    /// `Original` when the plain comparison matches, else the first view
    /// of A that does, `None` for no match.
    pub view: Option<View>,
    /// Each view of A against B, in A's order; the dense bags judged as
    /// the sampled frames they stand for.
    pub views: Vec<(View, VpdqComparison)>,
}

impl VideoVerdict {
    /// The view of A with the highest (target, query) percentages; ties
    /// go to the earlier view.
    pub fn best(&self) -> Option<&(View, VpdqComparison)> {
        self.views.iter().max_by(|x, y| {
            (x.1.target_percent, x.1.query_percent)
                .partial_cmp(&(y.1.target_percent, y.1.query_percent))
                .unwrap_or(std::cmp::Ordering::Equal)
                .then(std::cmp::Ordering::Greater)
        })
    }
}

/// Judge `a` against `b` by the vPDQ rule `t`; failing the plain
/// comparison, by the first view of A that passes.
pub fn videos(
    a_frames: &[VpdqFrame],
    a_views: &Views,
    b_frames: &[VpdqFrame],
    t: &VpdqThresholds,
) -> VideoVerdict {
    let plain = compare(a_frames, b_frames, t);
    let mut is_match = plain.is_match(t);
    let samples = unique_good_hashes(a_frames, t.quality).len();
    let views: Vec<(View, VpdqComparison)> = a_views
        .iter()
        .map(|(n, f)| {
            let vc = compare(f, b_frames, t);
            (
                *n,
                if n.is_dense_bag() {
                    vc.per_samples(samples)
                } else {
                    vc
                },
            )
        })
        .collect();
    let mut view = is_match.then_some(View::Original);
    if !is_match {
        if let Some((n, _)) = views.iter().find(|(_, vc)| vc.is_match(t)) {
            is_match = true;
            view = Some(*n);
        }
    }
    VideoVerdict {
        plain,
        is_match,
        view,
        views,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pdq::DihedralKind;

    fn pdq(fill: u8) -> Pdq {
        Pdq([fill; 32])
    }

    fn one(view: View, hash: Pdq, quality: u8) -> (View, Vec<VpdqFrame>) {
        (
            view,
            vec![VpdqFrame {
                frame: 0,
                hash,
                quality,
                timestamp: 0.0,
            }],
        )
    }

    #[test]
    fn image_view_decides_only_when_the_record_misses() {
        let flip = View::Turn(DihedralKind::FlipX);
        let views = vec![one(flip, pdq(0x0f), 90), one(View::Exif, pdq(0xff), 10)];
        // The records are far apart; the mirrored view equals B.
        let v = images((pdq(0), 90), &views, (pdq(0x0f), 90), 31, 50);
        assert!(v.is_match);
        assert_eq!(v.view, Some(flip));
        assert_eq!(v.distance, 128);
        // The low-quality view at distance 0 is not the best one.
        assert_eq!(v.best.map(|b| (b.view, b.distance)), Some((flip, 0)));
        // The records equal: the original decides.
        let v = images((pdq(0x0f), 90), &views, (pdq(0x0f), 90), 31, 50);
        assert_eq!(v.view, Some(View::Original));
        // No view near: no match.
        let v = images((pdq(0), 90), &views, (pdq(0x33), 90), 31, 50);
        assert!(!v.is_match && v.view.is_none());
    }

    #[test]
    fn dense_bags_count_as_the_samples_they_stand_for() {
        let t = VpdqThresholds::default();
        let frames = |hashes: &[u8]| -> Vec<VpdqFrame> {
            hashes
                .iter()
                .enumerate()
                .map(|(i, b)| VpdqFrame {
                    frame: i as u64,
                    hash: pdq(*b),
                    quality: 90,
                    timestamp: i as f64,
                })
                .collect()
        };
        let a = frames(&[1, 2]);
        let b = frames(&[3, 4]);
        // The same bag as a plain view and as the dense `between` bag:
        // only the dense one is scaled to A's two sampled frames.
        let bag = frames(&[3, 4, 5, 6]);
        let views = vec![
            (View::Turn(DihedralKind::FlipX), bag.clone()),
            (View::Between, bag),
        ];
        let v = videos(&a, &views, &b, &t);
        assert!(!v.plain.is_match(&t));
        assert_eq!(v.views[0].1, compare(&views[0].1, &b, &t));
        assert_eq!(v.views[1].1, compare(&views[1].1, &b, &t).per_samples(2));
        assert_ne!(v.views[1].1, v.views[0].1, "the dense bag was not rescaled");
        assert!(v.is_match);
        assert_eq!(v.view, Some(View::Turn(DihedralKind::FlipX)));
    }
}
