//! Which view of a query a hash (or a match) comes from, as a value.
//!
//! Views compose: a crop can also be turned (`trim+flipy` is the trimmed
//! picture mirrored), so a view is a crop and a turn, not a name. The
//! output spells each view as before (`original`, `rotate90`, `exif`,
//! `trim`, `letterbox+flipx`, the video bags `crops` and `between`); the
//! spelling is only for people and the wire, never parsed to decide
//! anything.

use pdq::DihedralKind;
use std::fmt;

/// A rectangle of the picture that a view hashes instead of the whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Crop {
    /// Uniform bars and frames trimmed.
    Trim,
    /// Borders of one exact colour trimmed (when that differs from `trim`).
    Pad,
    /// A band of one colour carrying text (a caption) cut off.
    Band,
    /// The dominant picture inside a larger canvas.
    Canvas,
    /// The picture between symmetric straight edges.
    Edges,
    /// Video: the letterbox/pillarbox bars agreed on over many frames.
    Letterbox,
}

impl Crop {
    pub const ALL: [Crop; 6] = [
        Crop::Trim,
        Crop::Pad,
        Crop::Band,
        Crop::Canvas,
        Crop::Edges,
        Crop::Letterbox,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Crop::Trim => "trim",
            Crop::Pad => "pad",
            Crop::Band => "band",
            Crop::Canvas => "canvas",
            Crop::Edges => "edges",
            Crop::Letterbox => "letterbox",
        }
    }

    /// The crop and its seven transforms, in the order of
    /// [`DihedralKind::ALL`] (the order of [`pdq::Dihedral::hashes`]).
    pub fn with_turns(self) -> [View; 8] {
        DihedralKind::ALL.map(|k| View::Crop(self, k))
    }
}

/// One view of a query: what was hashed (or matched) instead of the
/// picture as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum View {
    /// The picture as it is: the hash of record.
    Original,
    /// The whole picture turned or mirrored (never
    /// [`DihedralKind::Original`]: that is [`View::Original`]).
    Turn(DihedralKind),
    /// The picture as its EXIF orientation says to show it.
    Exif,
    /// A crop, then a turn of it ([`DihedralKind::Original`]: the crop as
    /// it is).
    Crop(Crop, DihedralKind),
    /// Video: every crop of every sampled frame, matched as one bag.
    Crops,
    /// Video: the sampled frames and those between them, as one bag.
    Between,
}

impl View {
    /// The whole picture turned by `kind` (`Original` for no turn).
    pub fn turn(kind: DihedralKind) -> View {
        match kind {
            DihedralKind::Original => View::Original,
            k => View::Turn(k),
        }
    }

    /// One of the image crops (`trim`, `pad`, `band`, `canvas`, `edges`),
    /// turned or not: found in each picture (each frame) on its own. Not
    /// `letterbox`, which a video finds once over many frames: a video's
    /// letterbox views are one bag like a turn's, while its frames' image
    /// crops are matched together as [`View::Crops`], since which crop a
    /// frame's picture is found by can vary from frame to frame.
    pub fn is_image_crop(self) -> bool {
        matches!(self, View::Crop(c, _) if c != Crop::Letterbox)
    }

    /// An image crop that is also turned (`trim+flipy`): video frames
    /// drop these (their crops are matched plain, as one bag).
    pub fn is_turned_image_crop(self) -> bool {
        self.is_image_crop() && matches!(self, View::Crop(_, k) if k != DihedralKind::Original)
    }

    /// Whether a video query bag of this view holds more than one hash
    /// per sampled frame (`between`, `crops`): its comparisons are judged
    /// as the sampled frames it stands for (see
    /// `hashdb::vpdq::VpdqComparison::per_samples`).
    pub fn is_dense_bag(self) -> bool {
        matches!(self, View::Crops | View::Between)
    }
}

impl fmt::Display for View {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            View::Original => f.write_str("original"),
            View::Turn(k) => f.write_str(k.name()),
            View::Exif => f.write_str("exif"),
            View::Crop(c, DihedralKind::Original) => f.write_str(c.name()),
            View::Crop(c, k) => write!(f, "{}+{}", c.name(), k.name()),
            View::Crops => f.write_str("crops"),
            View::Between => f.write_str("between"),
        }
    }
}

/// A view name that is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown view {0:?}")]
pub struct UnknownView(pub String);

impl std::str::FromStr for View {
    type Err = UnknownView;
    /// Reads the spelling of [`View`]'s `Display` (the JSON output and the
    /// sandbox wire), nothing else.
    fn from_str(s: &str) -> Result<View, UnknownView> {
        let unknown = || UnknownView(s.to_string());
        let fixed = [
            ("original", View::Original),
            ("exif", View::Exif),
            ("crops", View::Crops),
            ("between", View::Between),
        ];
        if let Some((_, v)) = fixed.iter().find(|(n, _)| *n == s) {
            return Ok(*v);
        }
        let (base, turn) = match s.split_once('+') {
            Some((b, t)) => (b, Some(t)),
            None => (s, None),
        };
        let kind = match turn {
            None => DihedralKind::Original,
            Some(t) => DihedralKind::from_name(t)
                .filter(|k| *k != DihedralKind::Original)
                .ok_or_else(unknown)?,
        };
        if let Some(c) = Crop::ALL.into_iter().find(|c| c.name() == base) {
            return Ok(View::Crop(c, kind));
        }
        match (DihedralKind::from_name(base), turn) {
            (Some(k), None) if k != DihedralKind::Original => Ok(View::Turn(k)),
            _ => Err(unknown()),
        }
    }
}

impl serde::Serialize for View {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for View {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_view() -> Vec<View> {
        let mut all = vec![View::Original, View::Exif, View::Crops, View::Between];
        all.extend(DihedralKind::ALL.into_iter().skip(1).map(View::Turn));
        all.extend(Crop::ALL.into_iter().flat_map(Crop::with_turns));
        all
    }

    #[test]
    fn names_are_the_output_spelling_and_read_back() {
        assert_eq!(
            View::Crop(Crop::Trim, DihedralKind::FlipY).to_string(),
            "trim+flipy"
        );
        assert_eq!(
            View::Crop(Crop::Letterbox, DihedralKind::Original).to_string(),
            "letterbox"
        );
        assert_eq!(View::turn(DihedralKind::Rotate90).to_string(), "rotate90");
        assert_eq!(View::turn(DihedralKind::Original), View::Original);
        let all = every_view();
        assert_eq!(all.len(), 4 + 7 + 6 * 8);
        for v in &all {
            assert_eq!(v.to_string().parse::<View>(), Ok(*v), "{v}");
            let json = serde_json::to_string(v).unwrap();
            assert_eq!(json, format!("\"{v}\""));
            assert_eq!(serde_json::from_str::<View>(&json).unwrap(), *v);
        }
        let names: std::collections::HashSet<String> = all.iter().map(View::to_string).collect();
        assert_eq!(names.len(), all.len(), "two views spelled alike");
        for bad in [
            "",
            "trim+",
            "trim+original",
            "rotate90+flipx",
            "exif+flipx",
            "letter",
        ] {
            assert!(bad.parse::<View>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn classes() {
        let t = View::Crop(Crop::Band, DihedralKind::FlipX);
        assert!(t.is_image_crop() && t.is_turned_image_crop() && !t.is_dense_bag());
        let c = View::Crop(Crop::Canvas, DihedralKind::Original);
        assert!(c.is_image_crop() && !c.is_turned_image_crop());
        let l = View::Crop(Crop::Letterbox, DihedralKind::FlipX);
        assert!(!l.is_image_crop() && !l.is_turned_image_crop());
        assert!(View::Crops.is_dense_bag() && View::Between.is_dense_bag());
        assert!(!View::Turn(DihedralKind::FlipX).is_image_crop());
        assert!(!View::Turn(DihedralKind::FlipX).is_dense_bag());
        assert!(!View::Original.is_dense_bag() && !View::Exif.is_image_crop());
    }
}
