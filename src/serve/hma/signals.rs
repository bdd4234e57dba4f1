//! HMA's signal types over ours: names (`pdq`, `video_md5`, `vpdq`), the
//! signal text as python-threatexchange writes it (vPDQ as pytx's JSON list
//! of `"hash,quality,timestamp"` strings), which signals a photo or video
//! gives (`content_type` and `types=`), and HMA's distance strings.

use hashdb::formats::pytx;
use hashdb::model::Value;
use hashdb::SignalType;

use super::{bad, HmaResult};
use crate::matching::MatchRecord;
use crate::record::FileRecord;

/// HMA's content types and the signal types each gives, in HMA's order
/// (the first is the content item's id).
pub const CONTENT_TYPES: &[(&str, &[&str])] =
    &[("photo", &["pdq"]), ("video", &["video_md5", "vpdq"])];

/// Every HMA signal type hashsieve answers.
pub const SIGNAL_TYPES: &[&str] = &["pdq", "video_md5", "vpdq"];

/// pytx's PDQ quality gate: a photo hash below it is `""` (no signal).
pub const PDQ_QUALITY_THRESHOLD: u8 = 50;

/// HMA's name of one of our signal types.
pub fn hma_name(t: SignalType) -> Option<&'static str> {
    pytx::pytx_name(t)
}

/// Our signal type of an HMA signal type name.
pub fn signal_type(name: &str) -> Option<SignalType> {
    SIGNAL_TYPES
        .contains(&name)
        .then(|| pytx::from_pytx_name(name))
        .flatten()
}

/// The signal text of a value, as pytx writes it.
pub fn signal_text(v: &Value) -> String {
    match v {
        Value::Vpdq(frames) => pytx::vpdq_to_pytx(frames),
        other => other.to_text(),
    }
}

/// One signal of a content item: HMA's name, its text, and the value
/// (`None` for pytx's `""`, a photo below the PDQ quality gate).
#[derive(Debug, Clone)]
pub struct HmaSignal {
    pub name: &'static str,
    pub text: String,
    pub value: Option<Value>,
}

fn static_name(name: &str) -> Option<&'static str> {
    SIGNAL_TYPES.iter().copied().find(|n| *n == name)
}

/// Parse a signal as HMA validates it (`validate_signal_str`).
pub fn parse_hma_signal(name: &str, text: &str) -> HmaResult<HmaSignal> {
    let (Some(st), Some(n)) = (signal_type(name), static_name(name)) else {
        return Err(bad(format!("No such signal type {name}")));
    };
    let value = parse_value(st, text).map_err(|e| bad(format!("Invalid {name} signal: {e}")))?;
    Ok(HmaSignal {
        name: n,
        text: signal_text(&value),
        value: Some(value),
    })
}

/// A value of type `st`: vPDQ in pytx's form or ours.
pub fn parse_value(st: SignalType, text: &str) -> Result<Value, String> {
    match st {
        SignalType::Vpdq if pytx::is_pytx_vpdq(text) => pytx::vpdq_from_pytx(text).map(Value::Vpdq),
        SignalType::Pdq => Value::parse(st, text).map_err(|_| "invalid PDQ hash".to_string()),
        SignalType::Md5 => Value::parse(st, text).map_err(|_| "invalid MD5 hash".to_string()),
        _ => Value::parse(st, text).map_err(|e| e.to_string()),
    }
}

/// The signal types of `content_type`, restricted by HMA's `types=`.
pub fn selected_types(content_type: &str, types: Option<&str>) -> HmaResult<Vec<&'static str>> {
    let all = CONTENT_TYPES
        .iter()
        .find(|(c, _)| *c == content_type)
        .map(|(_, t)| *t)
        .ok_or_else(|| bad(format!("no such content_type: '{content_type}'")))?;
    let Some(types) = types else {
        return Ok(all.to_vec());
    };
    let mut out = Vec::new();
    for t in types.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let Some(n) = all.iter().copied().find(|n| *n == t) else {
            return Err(bad(format!(
                "signal type '{t}' doesn't exist or is disabled"
            )));
        };
        if !out.contains(&n) {
            out.push(n);
        }
    }
    if out.is_empty() {
        return Err(bad("empty signal type selection"));
    }
    Ok(out)
}

/// The HMA signals of a hashed file for the content type it was sent as
/// (HMA's multipart field or `content_type`: a file sent as a video gets
/// video signals whatever it holds) and `types=`.
pub fn hma_signals(
    rec: &FileRecord,
    content_type: &str,
    types: Option<&str>,
) -> HmaResult<Vec<HmaSignal>> {
    let is_video = rec.media == crate::record::Media::Video;
    let mut out = Vec::new();
    for name in selected_types(content_type, types)? {
        let value = match name {
            "pdq" => match rec.pdq.first() {
                Some(p) if !is_video && p.quality >= PDQ_QUALITY_THRESHOLD => {
                    Some(Value::Pdq(p.hash))
                }
                _ => None,
            },
            "video_md5" => rec.md5.map(Value::Md5),
            _ if is_video => hashdb::model::normalize_frames(rec.vpdq_frames())
                .ok()
                .map(Value::Vpdq),
            _ => None,
        };
        // A video with no frames has no vPDQ: left out, as a hasher
        // that gives nothing.
        if value.is_none() && name == "vpdq" {
            continue;
        }
        out.push(HmaSignal {
            name,
            text: value.as_ref().map(signal_text).unwrap_or_default(),
            value,
        });
    }
    Ok(out)
}

/// Which HMA signal type a hit answers for.
pub fn hit_signal(h: &MatchRecord) -> Option<&'static str> {
    match h.signal_type {
        SignalType::Pdq => Some("pdq"),
        SignalType::Md5 => Some("video_md5"),
        SignalType::Vpdq => Some("vpdq"),
        _ => None,
    }
}

/// HMA's distance text (`SignalSimilarityInfo.pretty_str()`): the Hamming
/// distance for PDQ, `-` for exact hashes, `query%[target%]` for vPDQ.
pub fn distance_text(h: &MatchRecord) -> String {
    match (&h.vpdq, h.signal_type) {
        (Some(v), _) => format!("{:.0}%[{:.0}%]", v.query_percent, v.target_percent),
        (None, SignalType::Pdq) => h.distance.unwrap_or(0).to_string(),
        _ => "-".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_select_within_the_content_type() {
        assert_eq!(selected_types("photo", None).ok(), Some(vec!["pdq"]));
        assert_eq!(
            selected_types("video", Some("vpdq")).ok(),
            Some(vec!["vpdq"])
        );
        assert!(selected_types("photo", Some("video_md5")).is_err());
        assert!(selected_types("photo", Some(",")).is_err());
        assert!(selected_types("audio", None).is_err());
    }

    #[test]
    fn signal_names_and_texts() {
        assert!(parse_hma_signal("pdq", "banana").is_err());
        assert!(parse_hma_signal("sha256", &"0".repeat(64)).is_err());
        let s = parse_hma_signal("video_md5", &"a".repeat(32)).ok();
        assert_eq!(s.map(|s| s.text), Some("a".repeat(32)));
        let h = "f".repeat(64);
        let v = format!("[\"{h},100,0.0\"]");
        assert_eq!(parse_hma_signal("vpdq", &v).ok().map(|s| s.text), Some(v));
    }
}
